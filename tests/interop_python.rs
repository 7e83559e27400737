//! Interoperability with Python's `cryptography` (an independent CMS and
//! PKCS #8 implementation): envelopes it builds open here, ours open there.

mod common;

use common::*;
use mdmlink::{
    hazmat::payload,
    keypair::{CertificateParams, KeySize, ServerKeypair},
    token::{self, ContentCipher, SealFormat, SealOptions, ServerToken},
};
use std::path::{Path, PathBuf};
use time::macros::datetime;

fn peer() -> String {
    require_python_cryptography();
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py/pkcs7_peer.py")
        .display()
        .to_string()
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

fn setup() -> (tempfile::TempDir, ServerKeypair, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = mdmlink::SystemRng::default();
    let kp = ServerKeypair::generate(
        &mut rng,
        KeySize::Rsa2048,
        &CertificateParams::new("Python interop", datetime!(2026-11-25 00:00 UTC)),
    )
    .unwrap();
    let key = dir.path().join("key.pem");
    let cert = dir.path().join("cert.pem");
    std::fs::write(&key, kp.private_key_pem().unwrap().as_bytes()).unwrap();
    std::fs::write(&cert, kp.certificate_pem().unwrap()).unwrap();
    (dir, kp, p(&key), p(&cert))
}

fn sample() -> ServerToken {
    ServerToken::new(
        "CK_py",
        "CS_py_secret",
        "AT_py",
        "AS_py_secret",
        datetime!(2027-01-01 00:00:00 UTC),
    )
    .unwrap()
}

#[test]
fn opens_envelopes_python_builds() {
    let peer = peer();
    let (dir, kp, _, cert) = setup();
    let plain = dir.path().join("plain");
    std::fs::write(&plain, payload::render(&sample()).as_slice()).unwrap();
    for alg in ["aes128", "aes256"] {
        for enc in ["der", "pem", "smime"] {
            let out = dir.path().join(format!("t.{alg}.{enc}"));
            run_ok(
                "python3",
                &[&peer, "encrypt", &cert, &p(&plain), &p(&out), alg, enc],
            );
            let opened = token::open(&std::fs::read(&out).unwrap(), &kp)
                .unwrap_or_else(|e| panic!("{alg} {enc}: {e}"));
            assert_eq!(opened, sample(), "{alg} {enc}");
        }
    }
}

#[test]
fn python_opens_what_seal_makes() {
    let peer = peer();
    let (dir, kp, key, cert) = setup();
    let mut rng = mdmlink::SystemRng::default();
    // Python's decryptor supports AES-128 and AES-256 content.
    for cipher in [ContentCipher::Aes128Cbc, ContentCipher::Aes256Cbc] {
        for (format, name) in [
            (SealFormat::Der, "der"),
            (SealFormat::Pem, "pem"),
            (SealFormat::Smime, "smime"),
        ] {
            let sealed = token::seal(
                &sample(),
                kp.certificate().unwrap(),
                SealOptions::default()
                    .with_cipher(cipher)
                    .with_format(format),
                &mut rng,
            )
            .unwrap();
            let file = dir.path().join("sealed");
            std::fs::write(&file, &sealed).unwrap();
            let out = run_ok("python3", &[&peer, "decrypt", &key, &cert, &p(&file), name]);
            assert_eq!(payload::parse(&out).unwrap(), sample(), "{cipher:?} {name}");
        }
    }
}

#[test]
fn python_reads_our_keys_and_certificates() {
    let peer = peer();
    let (dir, kp, _, cert) = setup();
    let mut rng = mdmlink::SystemRng::default();
    let enc = dir.path().join("enc.pem");
    std::fs::write(
        &enc,
        kp.private_key_encrypted_pem(&mut rng, b"pw 123")
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    let public = run_ok("python3", &[&peer, "readkey", &p(&enc), "pw 123"]);
    let ours =
        rsa::pkcs8::EncodePublicKey::to_public_key_pem(kp.public_key(), rsa::pkcs8::LineEnding::LF)
            .unwrap();
    assert_eq!(String::from_utf8(public).unwrap(), ours);
    let info = String::from_utf8(run_ok("python3", &[&peer, "readcert", &cert])).unwrap();
    assert_eq!(
        info.trim(),
        format!(
            "{} Python interop",
            kp.certificate()
                .unwrap()
                .serial_hex()
                .trim_start_matches('0')
        )
    );
}
