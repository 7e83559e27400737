//! The API account's key files and client assertions against independent
//! implementations: OpenSSL writes the key files (every form the portal or
//! an admin may hand over, and the wrong ones), PyJWT with `cryptography`
//! verifies the ES256 assertions mdmlink signs.

mod common;

use mdmlink::portal_api::assertion::{AssertionOptions, client_assertion};
use mdmlink::portal_api::{ApiAccount, ApiAccountError, ApiKey};
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("cannot run `openssl`; install it (Debian: apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn file(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()
}

#[test]
fn openssl_key_files_are_read_or_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // What `openssl ecparam -genkey` writes: EC PARAMETERS, then SEC1.
    let sec1 = openssl(d, &["ecparam", "-name", "prime256v1", "-genkey"]);
    let from_sec1 = ApiKey::from_pem(&sec1, None).unwrap();
    std::fs::write(d.join("sec1.pem"), &sec1).unwrap();
    openssl(
        d,
        &[
            "pkcs8", "-topk8", "-nocrypt", "-in", "sec1.pem", "-out", "p8.pem",
        ],
    );
    let from_p8 = ApiKey::from_pem(&file(d, "p8.pem"), None).unwrap();
    assert_eq!(from_sec1.verifying_key(), from_p8.verifying_key());
    openssl(
        d,
        &[
            "pkcs8", "-topk8", "-nocrypt", "-in", "sec1.pem", "-outform", "DER", "-out", "p8.der",
        ],
    );
    assert_eq!(
        ApiKey::from_pem(&file(d, "p8.der"), None)
            .unwrap()
            .verifying_key(),
        from_p8.verifying_key()
    );
    // Encrypted PKCS#8: needs its password.
    openssl(
        d,
        &[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-in",
            "sec1.pem",
            "-passout",
            "pass:s3cret",
            "-out",
            "enc.pem",
        ],
    );
    let enc = file(d, "enc.pem");
    assert_eq!(
        ApiKey::from_pem(&enc, None).unwrap_err(),
        ApiAccountError::PasswordRequired
    );
    assert_eq!(
        ApiKey::from_pem(&enc, Some(b"wrong")).unwrap_err(),
        ApiAccountError::Decrypt
    );
    assert_eq!(
        ApiKey::from_pem(&enc, Some(b"s3cret"))
            .unwrap()
            .verifying_key(),
        from_p8.verifying_key()
    );
    // Wrong keys, each named.
    let named = |pem: &[u8], what: &str| {
        let e = ApiKey::from_pem(pem, None).unwrap_err();
        assert!(e.to_string().contains(what), "{what}: {e}");
    };
    named(
        &openssl(
            d,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-384",
            ],
        ),
        "secp384r1",
    );
    named(
        &openssl(d, &["ecparam", "-name", "secp384r1", "-genkey", "-noout"]),
        "secp384r1",
    );
    named(
        &openssl(d, &["ecparam", "-name", "secp256k1", "-genkey", "-noout"]),
        "secp256k1",
    );
    named(
        &openssl(
            d,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:1024",
            ],
        ),
        "an RSA private key",
    );
    named(
        &openssl(d, &["genpkey", "-algorithm", "ED25519"]),
        "Edwards-curve",
    );
    openssl(
        d,
        &[
            "req", "-x509", "-new", "-key", "p8.pem", "-subj", "/CN=x", "-days", "1", "-out",
            "cert.pem",
        ],
    );
    named(&file(d, "cert.pem"), "a certificate");
    named(
        &openssl(d, &["pkey", "-in", "p8.pem", "-pubout"]),
        "a public key",
    );
}

const VERIFY: &str = r#"
import json, sys, jwt
c = json.load(sys.stdin)
out = []
for token in c["tokens"]:
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, c["public_key"], algorithms=["ES256"],
            audience="https://account.apple.com/auth/oauth2/v2/token", issuer=c["client_id"],
            options={"require": ["exp", "iat", "jti", "sub", "iss", "aud"]})
        out.append({"ok": True, "kid": header["kid"], "alg": header["alg"], "sub": claims["sub"],
                    "lifetime": claims["exp"] - claims["iat"], "jti": claims["jti"]})
    except Exception as e:
        out.append({"ok": False, "error": type(e).__name__})
print(json.dumps(out))
"#;

#[test]
fn pyjwt_verifies_the_assertion() {
    let out = common::run("python3", &["-c", "import jwt, cryptography"]);
    assert!(
        out.status.success(),
        "Python's `PyJWT` and `cryptography` packages are missing: `pip install -r tests/requirements.txt`"
    );
    let dir = tempfile::tempdir().unwrap();
    // A key OpenSSL made, as the portal's download would be.
    let pem = openssl(
        dir.path(),
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ],
    );
    let account = ApiAccount::from_pem(
        "BUSINESSAPI.9703f56c-10ce-4876-8f59-e78e5e23a152",
        "d136aa66-0c3b-4bd4-9892-c20e8db024ab",
        &pem,
        None,
    )
    .unwrap();
    // The public key as OpenSSL derives it from the file (not mdmlink's).
    std::fs::write(dir.path().join("key.pem"), &pem).unwrap();
    let public_key =
        String::from_utf8(openssl(dir.path(), &["pkey", "-in", "key.pem", "-pubout"])).unwrap();
    let mut rng = mdmlink::SystemRng::default();
    let now = time::OffsetDateTime::now_utc();
    let short = client_assertion(&account, now, &AssertionOptions::default(), &mut rng).unwrap();
    let long = client_assertion(
        &account,
        now,
        &AssertionOptions::default().with_lifetime(time::Duration::days(180)),
        &mut rng,
    )
    .unwrap();
    // Tampered: claims of another account, same signature.
    let mut parts: Vec<String> = short.expose().split('.').map(str::to_owned).collect();
    parts[1] = parts[1].chars().rev().collect();
    let tampered = parts.join(".");
    let input = serde_json::json!({
        "tokens": [short.expose(), long.expose(), tampered],
        "public_key": public_key,
        "client_id": account.client_id(),
    });
    let mut child = Command::new("python3")
        .args(["-c", VERIFY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for (i, lifetime) in [(0, 600), (1, 180 * 86_400)] {
        let r = &results[i];
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["alg"], "ES256");
        assert_eq!(r["kid"], "d136aa66-0c3b-4bd4-9892-c20e8db024ab");
        assert_eq!(r["sub"], account.client_id());
        assert_eq!(r["lifetime"], lifetime);
    }
    assert_ne!(results[0]["jti"], results[1]["jti"]);
    assert_eq!(
        results[2]["ok"], false,
        "a tampered assertion must not verify: {}",
        results[2]
    );
}
