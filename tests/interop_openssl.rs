//! Interoperability with the OpenSSL command line: tokens OpenSSL encrypts open
//! here, tokens `seal` makes open in OpenSSL, and OpenSSL accepts our
//! certificates and encrypted keys.

mod common;

use common::*;
use mdmlink::{
    hazmat::payload,
    keypair::{CertificateParams, KeySize, ServerKeypair},
    token::{self, ContentCipher, SealFormat, SealOptions, ServerToken},
};
use std::path::Path;
use time::{OffsetDateTime, macros::datetime};

const NOW: OffsetDateTime = datetime!(2026-11-25 12:00 UTC);

fn keypair() -> ServerKeypair {
    let mut rng = mdmlink::SystemRng::default();
    ServerKeypair::generate(
        &mut rng,
        KeySize::Rsa2048,
        &CertificateParams::new("OpenSSL interop", NOW),
    )
    .unwrap()
}

fn sample_token() -> ServerToken {
    ServerToken::new(
        "CK_0123456789abcdef",
        "CS_fedcba9876543210",
        "AT_O123O456",
        "AS_abcdef",
        datetime!(2027-11-25 12:00:00 UTC),
    )
    .unwrap()
}

/// Writes the key (with certificate) and certificate PEMs into `dir`.
fn write_keys(dir: &Path, kp: &ServerKeypair) -> (String, String) {
    let key = dir.join("key.pem");
    let cert = dir.join("cert.pem");
    std::fs::write(&key, kp.private_key_pem().unwrap().as_bytes()).unwrap();
    std::fs::write(&cert, kp.certificate_pem().unwrap()).unwrap();
    (key.display().to_string(), cert.display().to_string())
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn opens_what_openssl_smime_encrypts() {
    let dir = tempfile::tempdir().unwrap();
    let kp = keypair();
    let (_, cert) = write_keys(dir.path(), &kp);
    let plain = dir.path().join("plain.txt");
    std::fs::write(&plain, payload::render(&sample_token()).as_slice()).unwrap();
    for (flag, cipher) in [
        ("-aes128", "AES-128"),
        ("-aes192", "AES-192"),
        ("-aes256", "AES-256"),
        ("-des3", "DES-EDE3"),
    ] {
        for outform in ["SMIME", "DER", "PEM"] {
            let out = dir.path().join(format!("token{flag}.{outform}"));
            run_ok(
                "openssl",
                &[
                    "smime",
                    "-encrypt",
                    "-binary",
                    flag,
                    "-in",
                    &path(&plain),
                    "-out",
                    &path(&out),
                    "-outform",
                    outform,
                    &cert,
                ],
            );
            let data = std::fs::read(&out).unwrap();
            let opened =
                token::open(&data, &kp).unwrap_or_else(|e| panic!("{cipher} {outform}: {e}"));
            assert_eq!(opened, sample_token(), "{cipher} {outform}");
        }
    }
}

#[test]
fn opens_ber_from_openssl_cms_stream_and_text_mode() {
    let dir = tempfile::tempdir().unwrap();
    let kp = keypair();
    let (_, cert) = write_keys(dir.path(), &kp);
    let plain = dir.path().join("plain.txt");
    std::fs::write(&plain, payload::render(&sample_token()).as_slice()).unwrap();
    // -stream: BER with indefinite lengths, like Apple's.
    let ber = dir.path().join("token.ber");
    run_ok(
        "openssl",
        &[
            "cms",
            "-encrypt",
            "-stream",
            "-binary",
            "-aes128",
            "-in",
            &path(&plain),
            "-outform",
            "DER",
            "-out",
            &path(&ber),
            &cert,
        ],
    );
    let data = std::fs::read(&ber).unwrap();
    assert_eq!(
        &data[..2],
        &[0x30, 0x80],
        "OpenSSL -stream should write indefinite lengths"
    );
    assert_eq!(token::open(&data, &kp).unwrap(), sample_token());

    // Without -binary OpenSSL turns LF into CRLF inside the content; still a valid token.
    let smime = dir.path().join("token.smime");
    run_ok(
        "openssl",
        &[
            "smime",
            "-encrypt",
            "-aes128",
            "-in",
            &path(&plain),
            "-out",
            &path(&smime),
            &cert,
        ],
    );
    assert_eq!(
        token::open(&std::fs::read(&smime).unwrap(), &kp).unwrap(),
        sample_token()
    );
}

#[test]
fn openssl_opens_what_seal_makes() {
    let dir = tempfile::tempdir().unwrap();
    let kp = keypair();
    let (key, _) = write_keys(dir.path(), &kp);
    let mut rng = mdmlink::SystemRng::default();
    for cipher in ContentCipher::ALL {
        for format in [SealFormat::Smime, SealFormat::Der, SealFormat::Pem] {
            let sealed = token::seal(
                &sample_token(),
                kp.certificate().unwrap(),
                SealOptions::default()
                    .with_cipher(cipher)
                    .with_format(format),
                &mut rng,
            )
            .unwrap();
            let file = dir.path().join("sealed");
            std::fs::write(&file, &sealed).unwrap();
            let inform = match format {
                SealFormat::Smime => "SMIME",
                SealFormat::Der => "DER",
                _ => "PEM",
            };
            let out = run_ok(
                "openssl",
                &[
                    "smime",
                    "-decrypt",
                    "-binary",
                    "-in",
                    &path(&file),
                    "-inform",
                    inform,
                    "-inkey",
                    &key,
                ],
            );
            assert_eq!(
                out,
                payload::render(&sample_token()).to_vec(),
                "{cipher:?} {format:?}"
            );
            assert_eq!(token::open(&sealed, &kp).unwrap(), sample_token());
        }
    }
    // The default seal is Apple's shape: S/MIME headers and AES-128-CBC.
    let sealed = token::seal(
        &sample_token(),
        kp.certificate().unwrap(),
        SealOptions::default(),
        &mut rng,
    )
    .unwrap();
    let text = String::from_utf8(sealed).unwrap();
    assert!(text.starts_with(
        "Content-Type: application/pkcs7-mime; name=\"smime.p7m\"; smime-type=enveloped-data\n"
    ));
    let file = dir.path().join("apple-shaped.p7m");
    std::fs::write(&file, &text).unwrap();
    let info = run_ok(
        "openssl",
        &[
            "cms",
            "-cmsout",
            "-print",
            "-in",
            &path(&file),
            "-inform",
            "SMIME",
        ],
    );
    let info = String::from_utf8_lossy(&info);
    assert!(info.contains("aes-128-cbc"), "{info}");
    assert!(info.contains("rsaEncryption"), "{info}");
}

#[test]
fn openssl_accepts_our_certificate() {
    let dir = tempfile::tempdir().unwrap();
    // `openssl verify` checks validity against the clock, so issue it now.
    let mut rng = mdmlink::SystemRng::default();
    let kp = ServerKeypair::generate(
        &mut rng,
        KeySize::Rsa2048,
        &CertificateParams::new("OpenSSL interop", OffsetDateTime::now_utc()),
    )
    .unwrap();
    let (_, cert) = write_keys(dir.path(), &kp);
    let text = String::from_utf8(run_ok(
        "openssl",
        &["x509", "-in", &cert, "-noout", "-text"],
    ))
    .unwrap();
    assert!(text.contains("Version: 3 (0x2)"), "{text}");
    assert!(text.contains("sha256WithRSAEncryption"), "{text}");
    assert!(text.contains("CN = OpenSSL interop"), "{text}");
    assert!(text.contains("Key Encipherment"), "{text}");
    assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
    let verify = run("openssl", &["verify", "-CAfile", &cert, &cert]);
    assert!(
        verify.status.success(),
        "openssl verify: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    // The serial OpenSSL reads is the one we report.
    let serial = String::from_utf8(run_ok(
        "openssl",
        &["x509", "-in", &cert, "-noout", "-serial"],
    ))
    .unwrap();
    assert_eq!(
        serial.trim(),
        format!("serial={}", kp.certificate().unwrap().serial_hex())
    );
    // DER too.
    let der = dir.path().join("cert.der");
    std::fs::write(&der, kp.certificate_der().unwrap()).unwrap();
    run_ok(
        "openssl",
        &["x509", "-in", &path(&der), "-inform", "DER", "-noout"],
    );
}

#[test]
fn openssl_reads_our_encrypted_pkcs8_and_we_read_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    let kp = keypair();
    let mut rng = mdmlink::SystemRng::default();
    let enc = dir.path().join("enc.pem");
    std::fs::write(
        &enc,
        kp.private_key_encrypted_pem(&mut rng, b"s3cret pass")
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    let out = run_ok(
        "openssl",
        &[
            "pkey",
            "-in",
            &path(&enc),
            "-passin",
            "pass:s3cret pass",
            "-pubout",
        ],
    );
    let ours = String::from_utf8(out).unwrap();
    assert!(ours.starts_with("-----BEGIN PUBLIC KEY-----"));
    let wrong = run(
        "openssl",
        &["pkey", "-in", &path(&enc), "-passin", "pass:nope", "-noout"],
    );
    assert!(!wrong.status.success());

    // Keys OpenSSL writes, in every format a vendor might migrate from.
    let pkcs8 = dir.path().join("k8.pem");
    run_ok(
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            &path(&pkcs8),
        ],
    );
    let a = ServerKeypair::from_pem(&std::fs::read(&pkcs8).unwrap(), None).unwrap();
    let pkcs1 = dir.path().join("k1.pem");
    run_ok(
        "openssl",
        &[
            "rsa",
            "-in",
            &path(&pkcs8),
            "-traditional",
            "-out",
            &path(&pkcs1),
        ],
    );
    let b = ServerKeypair::from_pem(&std::fs::read(&pkcs1).unwrap(), None).unwrap();
    assert_eq!(a.public_key(), b.public_key());
    let der8 = dir.path().join("k8.der");
    run_ok(
        "openssl",
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            &path(&pkcs8),
            "-outform",
            "DER",
            "-out",
            &path(&der8),
        ],
    );
    assert_eq!(
        ServerKeypair::from_der(&std::fs::read(&der8).unwrap(), None)
            .unwrap()
            .public_key(),
        a.public_key()
    );
    let enc8 = dir.path().join("k8enc.der");
    run_ok(
        "openssl",
        &[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-in",
            &path(&pkcs8),
            "-outform",
            "DER",
            "-out",
            &path(&enc8),
            "-passout",
            "pass:pw",
        ],
    );
    let c = ServerKeypair::from_der(&std::fs::read(&enc8).unwrap(), Some(b"pw")).unwrap();
    assert_eq!(c.public_key(), a.public_key());
    let enc8pem = dir.path().join("k8enc.pem");
    run_ok(
        "openssl",
        &[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-128-cbc",
            "-in",
            &path(&pkcs8),
            "-out",
            &path(&enc8pem),
            "-passout",
            "pass:pw",
        ],
    );
    assert_eq!(
        ServerKeypair::from_pem(&std::fs::read(&enc8pem).unwrap(), Some(b"pw"))
            .unwrap()
            .public_key(),
        a.public_key()
    );
}

#[test]
fn openssl_decrypts_the_real_apple_token_like_we_do() {
    // The independent peer and mdmlink agree on the real token's plaintext JSON.
    let token_path = apple_fixture_path("apple-mdm-client-tests-1-server-token.p7m");
    let key_path = apple_fixture_path("apple-mdm-client-tests-1.pem");
    let out = run_ok(
        "openssl",
        &[
            "smime",
            "-decrypt",
            "-in",
            &path(&token_path),
            "-inkey",
            &path(&key_path),
        ],
    );
    let theirs = payload::parse(&out).unwrap();
    let kp = ServerKeypair::from_pem(&apple_fixture("apple-mdm-client-tests-1.pem"), None).unwrap();
    let ours = token::open(
        &apple_fixture("apple-mdm-client-tests-1-server-token.p7m"),
        &kp,
    )
    .unwrap();
    assert_eq!(theirs, ours);
}
