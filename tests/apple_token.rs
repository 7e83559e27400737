//! The real token Apple issued (tests/fixtures/apple-token-1), opened with
//! its key in every form a vendor might hold it.

mod common;

use common::*;
use mdmlink::{
    expiry::{ExpiryPolicy, Health},
    hazmat::{envelope, smime},
    keypair::{KeyError, ServerCertificate, ServerKeypair},
    token::{self, TokenError},
};
use time::macros::datetime;

const TOKEN: &str = "apple-mdm-client-tests-1-server-token.p7m";

fn expected() -> serde_json::Value {
    serde_json::from_str(&apple_expected_json()).unwrap()
}

fn check(token: &mdmlink::ServerToken) {
    let json: serde_json::Value = serde_json::from_str(&token.to_json()).unwrap();
    assert_eq!(json, expected());
    // Byte for byte, too: field order and formatting are Apple's.
    assert_eq!(token.to_json().as_str(), apple_expected_json());
    assert_eq!(
        token.access_token_expiry(),
        datetime!(2026-01-17 11:02:21 UTC)
    );
}

#[test]
fn opens_with_pkcs1_pem_key() {
    let key =
        ServerKeypair::from_pem(&apple_fixture("apple-mdm-client-tests-1.pem"), None).unwrap();
    assert!(key.certificate().is_none());
    check(&token::open(&apple_fixture(TOKEN), &key).unwrap());
}

#[test]
fn opens_with_pkcs1_der_key() {
    let key =
        ServerKeypair::from_der(&apple_fixture("apple-mdm-client-tests-1.der"), None).unwrap();
    check(&token::open(&apple_fixture(TOKEN), &key).unwrap());
}

#[test]
fn opens_with_key_and_certificate() {
    let cert = ServerCertificate::from_pem(&apple_fixture("apple-mdm-client-tests-1.crt")).unwrap();
    assert_eq!(cert.serial_hex(), "70FEDDC7D5AFA393");
    let key = ServerKeypair::from_pem(&apple_fixture("apple-mdm-client-tests-1.pem"), None)
        .unwrap()
        .with_certificate(cert)
        .unwrap();
    check(&token::open(&apple_fixture(TOKEN), &key).unwrap());
    // Key and certificate concatenated in one PEM, as many MDMs store them.
    let mut both = apple_fixture("apple-mdm-client-tests-1.pem");
    both.extend(apple_fixture("apple-mdm-client-tests-1.crt"));
    let key = ServerKeypair::from_pem(&both, None).unwrap();
    assert!(key.certificate().is_some());
    check(&token::open(&apple_fixture(TOKEN), &key).unwrap());
}

#[test]
fn is_ber_with_indefinite_lengths() {
    let cms = smime::unarmor(&apple_fixture(TOKEN)).unwrap();
    // ContentInfo SEQUENCE with indefinite length (0x30 0x80): real Apple tokens are BER.
    assert_eq!(&cms[..2], &[0x30, 0x80]);
    let recipients = envelope::recipients(&cms).unwrap();
    assert_eq!(recipients.len(), 1);
    assert!(
        recipients[0].to_string().contains("70FEDDC7D5AFA393"),
        "{}",
        recipients[0]
    );
    // The same bytes work in every outer form.
    let key =
        ServerKeypair::from_pem(&apple_fixture("apple-mdm-client-tests-1.pem"), None).unwrap();
    for form in [
        cms.clone(),
        smime::armor_pem(&cms).into_bytes(),
        smime::armor_smime(&cms).replace('\n', "\r\n").into_bytes(),
    ] {
        check(&token::open(&form, &key).unwrap());
    }
}

#[test]
fn health_on_2026_11_25_is_expired() {
    let key =
        ServerKeypair::from_pem(&apple_fixture("apple-mdm-client-tests-1.pem"), None).unwrap();
    let t = token::open(&apple_fixture(TOKEN), &key).unwrap();
    let h =
        ExpiryPolicy::default().evaluate(t.access_token_expiry(), datetime!(2026-11-25 00:00 UTC));
    assert_eq!(
        h,
        Health::Expired {
            since: datetime!(2026-01-17 11:02:21 UTC)
        }
    );
    let h =
        ExpiryPolicy::default().evaluate(t.access_token_expiry(), datetime!(2025-12-25 00:00 UTC));
    assert!(
        matches!(h, Health::RenewSoon { days_left: 23, .. }),
        "{h:?}"
    );
}

#[test]
fn another_certificate_is_named_before_decrypting() {
    let mut rng = mdmlink::SystemRng::default();
    let now = datetime!(2026-11-25 00:00 UTC);
    let other = ServerKeypair::generate(
        &mut rng,
        mdmlink::KeySize::Rsa2048,
        &mdmlink::keypair::CertificateParams::new("Other", now),
    )
    .unwrap();
    let err = token::open(&apple_fixture(TOKEN), &other).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, TokenError::WrongRecipient { .. }), "{err:?}");
    assert!(msg.contains("70FEDDC7D5AFA393"), "{msg}");
    assert!(
        msg.contains(&other.certificate().unwrap().serial_hex()),
        "{msg}"
    );
    // Without a certificate we cannot tell: one generic error.
    let bare = ServerKeypair::from_pem(other.private_key_pem().unwrap().as_bytes(), None).unwrap();
    assert_eq!(
        token::open(&apple_fixture(TOKEN), &bare).unwrap_err(),
        TokenError::Decrypt
    );
}

#[test]
fn wrong_certificate_for_key_refused() {
    let mut rng = mdmlink::SystemRng::default();
    let other = ServerKeypair::generate(
        &mut rng,
        mdmlink::KeySize::Rsa2048,
        &mdmlink::keypair::CertificateParams::new("Other", datetime!(2026-11-25 00:00 UTC)),
    )
    .unwrap();
    let key =
        ServerKeypair::from_pem(&apple_fixture("apple-mdm-client-tests-1.pem"), None).unwrap();
    let err = key
        .with_certificate(other.certificate().unwrap().clone())
        .unwrap_err();
    assert!(matches!(err, KeyError::CertificateMismatch { .. }));
}
