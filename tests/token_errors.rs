//! Each way a token can be wrong gets its own error (and none panics), except
//! the decryption failures, which share one so the library is no padding oracle.

mod common;

use common::*;
use mdmlink::{
    hazmat::{envelope, smime},
    keypair::{CertificateParams, KeySize, ServerKeypair},
    token::{self, PayloadError, TokenError},
};
use time::macros::datetime;

fn keypair() -> ServerKeypair {
    let mut rng = mdmlink::SystemRng::default();
    ServerKeypair::generate(
        &mut rng,
        KeySize::Rsa2048,
        &CertificateParams::new("Errors", datetime!(2026-11-25 00:00 UTC)),
    )
    .unwrap()
}

/// Seals an arbitrary plaintext, to test what the payload layer refuses.
fn seal_plaintext(kp: &ServerKeypair, plaintext: &[u8]) -> Vec<u8> {
    let mut rng = mdmlink::SystemRng::default();
    let der = envelope::seal(
        plaintext,
        kp.certificate().unwrap(),
        token::ContentCipher::Aes128Cbc,
        &mut rng,
    )
    .unwrap();
    smime::armor_smime(&der).into_bytes()
}

const HEAD: &str =
    "Content-Type: text/plain;charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n";

fn wrap(json: &str) -> String {
    format!("{HEAD}-----BEGIN MESSAGE-----\n{json}\n-----END MESSAGE-----\n")
}

const GOOD: &str = r#"{"consumer_key":"CK_1","consumer_secret":"CS_2","access_token":"AT_3","access_secret":"AS_4","access_token_expiry":"2027-01-17T11:02:21Z"}"#;

/// The specific payload error, found the way a caller diagnosing a token it
/// trusts would: decrypt with [`envelope::open`], then [`mdmlink::hazmat::payload::parse`].
/// [`token::open`] itself reports every such failure as the one `Decrypt`
/// error (checked here too), so it is no CBC padding oracle.
fn payload_error_bytes(kp: &ServerKeypair, plaintext: &[u8]) -> PayloadError {
    let file = seal_plaintext(kp, plaintext);
    assert!(
        matches!(token::open(&file, kp), Err(TokenError::Decrypt)),
        "open must hide payload errors behind Decrypt"
    );
    let cms = smime::unarmor(&file).unwrap();
    let mut rng = mdmlink::SystemRng::default();
    let decrypted = envelope::open(&cms, kp, &mut rng).unwrap();
    match mdmlink::hazmat::payload::parse(&decrypted) {
        Err(e) => e,
        Ok(_) => panic!("expected a payload error for {plaintext:?}"),
    }
}

fn payload_error(kp: &ServerKeypair, plaintext: &str) -> PayloadError {
    payload_error_bytes(kp, plaintext.as_bytes())
}

#[test]
fn a_good_payload_opens() {
    let kp = keypair();
    let t = token::open(&seal_plaintext(&kp, wrap(GOOD).as_bytes()), &kp).unwrap();
    assert_eq!(t.consumer_key(), "CK_1");
    assert_eq!(t.access_token_expiry(), datetime!(2027-01-17 11:02:21 UTC));
}

#[test]
fn payload_errors_are_specific() {
    let kp = keypair();
    let cases: Vec<(String, PayloadError)> = vec![
        (format!("{HEAD}{GOOD}\n"), PayloadError::MissingArmor),
        (
            format!("{HEAD}-----BEGIN MESSAGE-----\n{GOOD}\n"),
            PayloadError::MissingArmor,
        ),
        (
            wrap(r#"{"consumer_key":"CK_1","#),
            PayloadError::Json {
                line: 1,
                column: 23,
            },
        ),
        (wrap("[1,2]"), PayloadError::NotAnObject),
        (
            wrap(&GOOD.replace(r#""CS_2""#, r#""""#)),
            PayloadError::EmptyField {
                field: "consumer_secret",
            },
        ),
        (
            wrap(&GOOD.replace(r#""AT_3""#, "42")),
            PayloadError::NotAString {
                field: "access_token",
            },
        ),
        (
            wrap(&GOOD.replace(r#","access_secret":"AS_4""#, "")),
            PayloadError::MissingField {
                field: "access_secret",
            },
        ),
        (
            wrap(&GOOD.replace(r#"{"#, r#"{"consumer_key":"CK_0","#)),
            PayloadError::DuplicateField {
                field: "consumer_key",
            },
        ),
        (
            wrap(&GOOD.replace("2027-01-17T11:02:21Z", "2027-01-17 11:02")),
            PayloadError::BadExpiry,
        ),
        (
            wrap(&GOOD.replace("2027-01-17T11:02:21Z", "2027-01-17T11:02:21+02:00")),
            PayloadError::BadExpiry,
        ),
        (
            wrap(&GOOD.replace("AS_4", "AS 4")),
            PayloadError::InvalidCharacters {
                field: "access_secret",
            },
        ),
        (
            format!("{}trailing", wrap(GOOD)),
            PayloadError::TrailingData,
        ),
        (
            format!(
                "Content-Type: image/png\r\n\r\n-----BEGIN MESSAGE-----\n{GOOD}\n-----END MESSAGE-----\n"
            ),
            PayloadError::Headers {
                reason: "Content-Type is not text/plain".into(),
            },
        ),
    ];
    for (plaintext, expected) in cases {
        assert_eq!(payload_error(&kp, &plaintext), expected, "{plaintext:?}");
    }
    // Not UTF-8.
    assert_eq!(
        payload_error_bytes(&kp, b"\xff\xfe\x00"),
        PayloadError::NotText
    );
}

#[test]
fn json_errors_never_echo_values() {
    let kp = keypair();
    let secret = "CS_do_not_print_me";
    let bad = wrap(&GOOD.replace(r#""CS_2""#, &format!(r#"["{secret}"]"#)));
    let e = payload_error(&kp, &bad);
    assert!(!format!("{e} {e:?}").contains(secret));
}

#[test]
fn outer_format_errors_are_specific() {
    let kp = keypair();
    let apple = apple_fixture("apple-mdm-client-tests-1-server-token.p7m");
    let text = String::from_utf8(apple.clone()).unwrap();
    let format_err = |data: &[u8]| match token::open(data, &kp) {
        Err(TokenError::Format { reason }) => reason,
        other => panic!("expected a format error, got {other:?}"),
    };
    assert!(format_err(text.replace("MIAG", "MI*G").as_bytes()).contains("base64"));
    let headers_only = &text[..text.find("\n\n").unwrap() + 2];
    assert!(format_err(headers_only.as_bytes()).contains("no body"));
    assert!(format_err(b"").contains("empty"));
    assert!(matches!(
        token::open(&vec![b'A'; 2 << 20], &kp),
        Err(TokenError::TooLarge { .. })
    ));
}

#[test]
fn truncated_and_damaged_files_error_cleanly() {
    let key =
        ServerKeypair::from_pem(&apple_fixture("apple-mdm-client-tests-1.pem"), None).unwrap();
    let cms = smime::unarmor(&apple_fixture("apple-mdm-client-tests-1-server-token.p7m")).unwrap();
    for len in [0, 1, 2, 10, 100, cms.len() / 2, cms.len() - 3] {
        let err = token::open(&cms[..len], &key).unwrap_err();
        assert!(
            matches!(
                err,
                TokenError::Malformed { .. } | TokenError::Format { .. }
            ),
            "prefix {len}: {err:?}"
        );
    }
    // Last ciphertext byte flipped: CBC padding (or payload) check fails.
    let mut flipped = cms.clone();
    let at = flipped.len() - 5;
    flipped[at] ^= 0x01;
    assert!(token::open(&flipped, &key).is_err());
}

#[test]
fn unsupported_algorithms_are_named() {
    let kp = keypair();
    let mut rng = mdmlink::SystemRng::default();
    let der = envelope::seal(
        b"x",
        kp.certificate().unwrap(),
        token::ContentCipher::Aes128Cbc,
        &mut rng,
    )
    .unwrap();
    // Patch the AES-128-CBC OID (…1.2) into an unknown one (…1.6, AES-128-GCM).
    let oid = [
        0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02,
    ];
    let at = der.windows(oid.len()).position(|w| w == oid).unwrap();
    let mut patched = der.clone();
    patched[at + oid.len() - 1] = 0x06;
    match token::open(&patched, &kp) {
        Err(TokenError::UnsupportedCipher { oid }) => assert_eq!(oid, "2.16.840.1.101.3.4.1.6"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn decryption_failures_share_one_error() {
    let kp = keypair();
    let other = keypair();
    let bare_other =
        ServerKeypair::from_pem(other.private_key_pem().unwrap().as_bytes(), None).unwrap();
    let sealed = seal_plaintext(&kp, wrap(GOOD).as_bytes());
    // Wrong key, certificate unknown.
    let wrong_key = token::open(&sealed, &bare_other).unwrap_err();
    assert_eq!(wrong_key, TokenError::Decrypt);
    // Damaged RSA-wrapped key (the 256 bytes after the rsaEncryption NULL), certificate known.
    let der = smime::unarmor(&sealed).unwrap();
    let alg = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let at = der.windows(alg.len()).position(|w| w == alg).unwrap() + alg.len() + 4;
    let mut damaged = der.clone();
    damaged[at + 100] ^= 0x40;
    let bad_padding = token::open(&damaged, &kp).unwrap_err();
    assert_eq!(bad_padding, TokenError::Decrypt);
    assert_eq!(wrong_key.to_string(), bad_padding.to_string());
    // For another certificate, with ours known: its own, earlier, clearer error.
    assert!(matches!(
        token::open(&sealed, &other),
        Err(TokenError::WrongRecipient { .. })
    ));
}

#[test]
fn lenient_payloads_open_through_the_whole_pipeline() {
    let kp = keypair();
    for plaintext in [
        GOOD.to_owned(),
        format!("\u{FEFF}{GOOD}\r\n"),
        format!("-----BEGIN MESSAGE-----\r\n{GOOD}\r\n-----END MESSAGE-----\r\n"),
        format!(
            "X-Extra: 1\nContent-Transfer-Encoding: 7bit\ncontent-type: text/plain\n\r\n-----BEGIN MESSAGE-----\r\n{GOOD}\n-----END MESSAGE-----"
        ),
    ] {
        let t = token::open(&seal_plaintext(&kp, plaintext.as_bytes()), &kp)
            .unwrap_or_else(|e| panic!("{plaintext:?}: {e}"));
        assert_eq!(t.consumer_key(), "CK_1");
    }
    // Still strict: headers followed by JSON without the armor.
    assert_eq!(
        payload_error(&kp, &format!("{HEAD}{GOOD}")),
        PayloadError::MissingArmor
    );
}
