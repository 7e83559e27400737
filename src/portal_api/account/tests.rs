use super::*;

fn key() -> ApiKey {
    ApiKey::generate(&mut crate::SystemRng::default()).unwrap()
}

#[test]
fn scope_follows_the_client_id_and_the_portal() {
    let a = ApiAccount::new("BUSINESSAPI.9703f56c", "kid-1", key()).unwrap();
    assert_eq!(a.scope(), ApiScope::Business);
    assert_eq!(a.scope().as_str(), "business.api");
    assert!(a.check_portal(Portal::BusinessManager).is_ok());
    assert!(a.check_portal(Portal::BusinessEssentials).is_ok());
    let e = a.check_portal(Portal::SchoolManager).unwrap_err();
    assert!(e.to_string().contains("Apple School Manager"), "{e}");
    let s = ApiAccount::new(" SCHOOLAPI.27f3c2d0 ", "kid-2", key()).unwrap();
    assert_eq!(s.client_id(), "SCHOOLAPI.27f3c2d0");
    assert_eq!(s.scope().as_str(), "school.api");
    assert_eq!(s.scope().default_base_url(), "https://api-school.apple.com");
    assert!(matches!(
        s.check_portal(Portal::BusinessManager),
        Err(ApiAccountError::WrongPortal { .. })
    ));
    for bad in [
        "",
        "APIACCOUNT.1",
        "BUSINESSAPI.",
        "SCHOOLAPI.a b",
        "businessapi.x",
    ] {
        assert!(
            matches!(
                ApiAccount::new(bad, "k", key()),
                Err(ApiAccountError::ClientId { .. })
            ),
            "{bad:?}"
        );
    }
    for bad in ["", "a b", "k\u{7f}", &"k".repeat(257)] {
        assert_eq!(
            ApiAccount::new("SCHOOLAPI.1", bad, key()).unwrap_err(),
            ApiAccountError::KeyId
        );
    }
}

#[test]
fn key_is_redacted_and_round_trips_through_pkcs8_and_sec1() {
    let k = key();
    let account = ApiAccount::new("SCHOOLAPI.1", "k", k.clone()).unwrap();
    let pem = k.to_pkcs8_pem().unwrap();
    let debug = format!("{account:?} {k:?}");
    assert!(debug.contains("[redacted]"), "{debug}");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!debug.contains(&body[..20]), "{debug}");
    let back = ApiKey::from_pem(pem.as_bytes(), None).unwrap();
    assert_eq!(back.verifying_key(), k.verifying_key());
    // SEC1, after the EC PARAMETERS block `openssl ecparam -genkey` writes.
    let sec1 = p256::SecretKey::from(&k.signing)
        .to_sec1_pem(pkcs8::LineEnding::LF)
        .unwrap();
    let file = format!(
        "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{}",
        sec1.as_str()
    );
    let back = ApiKey::from_pem(file.as_bytes(), None).unwrap();
    assert_eq!(back.verifying_key(), k.verifying_key());
    // DER too.
    let der = p256::SecretKey::from(&k.signing).to_pkcs8_der().unwrap();
    let back = ApiKey::from_pem(der.as_bytes(), None).unwrap();
    assert_eq!(back.verifying_key(), k.verifying_key());
}

#[test]
fn other_files_are_named() {
    let mut rng = crate::SystemRng::default();
    let now = time::OffsetDateTime::now_utc();
    let kp = crate::ServerKeypair::generate(
        &mut rng,
        crate::KeySize::Rsa2048,
        &crate::keypair::CertificateParams::new("x", now),
    )
    .unwrap();
    let rsa_pkcs8 = kp.private_key_pem().unwrap();
    let e = ApiKey::from_pem(rsa_pkcs8.as_bytes(), None).unwrap_err();
    assert!(e.to_string().contains("an RSA private key"), "{e}");
    let cert = kp.certificate().unwrap().to_pem();
    let e = ApiKey::from_pem(cert.as_bytes(), None).unwrap_err();
    assert!(e.to_string().contains("a certificate"), "{e}");
    let e = ApiKey::from_pem(key().public_key_pem().unwrap().as_bytes(), None).unwrap_err();
    assert!(e.to_string().contains("a public key"), "{e}");
    let e = ApiKey::from_pem(b"hello", None).unwrap_err();
    assert!(matches!(e, ApiAccountError::Unreadable { .. }), "{e}");
    let e = ApiKey::from_pem(&vec![b'-'; MAX_KEY_FILE + 1], None).unwrap_err();
    assert!(matches!(e, ApiAccountError::Unreadable { .. }), "{e}");
    let e = ApiKey::from_pem(
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n",
        None,
    )
    .unwrap_err();
    assert_eq!(e, ApiAccountError::PasswordRequired);
    let e = ApiKey::from_pem(
        b"-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END EC PRIVATE KEY-----\n",
        None,
    )
    .unwrap_err();
    assert!(e.to_string().contains("legacy OpenSSL"), "{e}");
    let e = ApiKey::from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA", None).unwrap_err();
    assert!(matches!(e, ApiAccountError::Unreadable { .. }), "{e}");
}

#[test]
fn pkcs8_der_round_trips_and_refuses_other_keys() {
    let k = key();
    let der = k.to_pkcs8_der().unwrap();
    let back = ApiKey::from_pkcs8_der(&der).unwrap();
    assert_eq!(back.verifying_key(), k.verifying_key());
    // The same message signs the same (RFC 6979): the private scalar came back.
    assert_eq!(back.sign_es256(b"m"), k.sign_es256(b"m"));
    let kp = crate::ServerKeypair::generate(
        &mut crate::SystemRng::default(),
        crate::KeySize::Rsa2048,
        &crate::keypair::CertificateParams::new(
            "x",
            time::macros::datetime!(2026-01-17 11:02:21 UTC),
        ),
    )
    .unwrap();
    let rsa = kp.private_key_der().unwrap();
    let e = ApiKey::from_pkcs8_der(&rsa).unwrap_err();
    assert!(e.to_string().contains("an RSA private key"), "{e}");
    assert!(ApiKey::from_pkcs8_der(&der[..der.len() - 1]).is_err());
    assert_eq!(ApiScope::from_oauth("school.api"), Some(ApiScope::School));
    assert_eq!(
        ApiScope::from_oauth("business.api"),
        Some(ApiScope::Business)
    );
    assert_eq!(ApiScope::from_oauth("Business.api"), None);
}
