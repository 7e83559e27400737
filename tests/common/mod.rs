//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// `tests/fixtures/apple-token-1/<name>`: the real Apple token and its key.
pub fn apple_fixture(name: &str) -> Vec<u8> {
    let path = apple_fixture_path(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}. The real Apple token lives in the repository in tests/fixtures/apple-token-1/",
            path.display()
        )
    })
}

/// Path of a file in the Apple fixture folder.
pub fn apple_fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/apple-token-1")
        .join(name)
}

/// The expected JSON of the Apple token.
pub fn apple_expected_json() -> String {
    String::from_utf8(apple_fixture("expected.json"))
        .expect("expected.json is UTF-8")
        .trim()
        .to_owned()
}

/// Runs `program args...`, panicking with an install hint if it is missing.
pub fn run(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run `{program}` ({e}); install it (Debian: apt-get install openssl python3; pip install cryptography)")
    })
}

/// Like [`run`] but asserts success and returns stdout.
pub fn run_ok(program: &str, args: &[&str]) -> Vec<u8> {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "`{program} {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Fails with a clear message unless Python's `cryptography` is importable.
pub fn require_python_cryptography() {
    let out = run("python3", &["-c", "import cryptography"]);
    assert!(
        out.status.success(),
        "Python's `cryptography` package is missing: install it with `pip install cryptography`"
    );
}

/// Fails with a clear message unless Python's `PyJWT` (module `jwt`) is importable.
pub fn require_python_pyjwt() {
    let out = run("python3", &["-c", "import jwt, cryptography"]);
    assert!(
        out.status.success(),
        "Python's `PyJWT` (with `cryptography`) is missing: install it with `pip install PyJWT cryptography`"
    );
}

/// A fresh RSA-2048 keypair whose certificate is named `name` and starts at `now`.
pub fn test_keypair(name: &str, now: time::OffsetDateTime) -> mdmlink::ServerKeypair {
    mdmlink::ServerKeypair::generate(
        &mut mdmlink::SystemRng::default(),
        mdmlink::keypair::KeySize::Rsa2048,
        &mdmlink::keypair::CertificateParams::new(name, now),
    )
    .unwrap()
}

/// A token file the way the portal makes one: `consumer_key` and fixed
/// secrets, expiring at `expiry`, sealed to `kp`'s certificate.
pub fn sealed_token(
    kp: &mdmlink::ServerKeypair,
    consumer_key: &str,
    expiry: time::OffsetDateTime,
) -> Vec<u8> {
    let t = mdmlink::ServerToken::new(consumer_key, "CS_x", "AT_x", "AS_x", expiry).unwrap();
    mdmlink::token::seal(
        &t,
        kp.certificate().unwrap(),
        mdmlink::token::SealOptions::default(),
        &mut mdmlink::SystemRng::default(),
    )
    .unwrap()
}

/// The standard output of a `mdmlink` run that must have succeeded; on
/// failure, the panic shows the arguments, the exit code and both streams.
pub fn expect_success(args: &[&str], out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "mdmlink {args:?} failed ({:?}): {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("mdmlink prints UTF-8")
}
