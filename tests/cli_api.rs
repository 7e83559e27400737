//! `mdmlink api add|list|remove`: an organization's School and Business
//! Manager API account kept in the store, its key sealed under the master
//! key. The real binary, a real SQLite store, real exit codes; keys made by
//! the library and by OpenSSL.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use p256::pkcs8::DecodePrivateKey as _;

const BIN: &str = env!("CARGO_BIN_EXE_mdmlink");
const MASTER_KEY: &str = "8a1f0c2e6b4d3f5a7c9e1b3d5f7a9c0e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f1a";
const CLIENT_ID: &str = "BUSINESSAPI.2f4e8a0c-3b1d-4c6e-9a7f-5d8b0e1c2a3f";
const KEY_ID: &str = "d4c3b2a1-0f9e-8d7c-6b5a-493827161504";

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .env("MDMLINK_STORE", self.path("store.sqlite"))
            .env("MDMLINK_MASTER_KEY", MASTER_KEY)
            .env_remove("MDMLINK_PASSPHRASE")
            .current_dir(self.dir.path())
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        common::expect_success(args, self.run(args))
    }

    /// Runs a command that must fail with exit 1; its stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "mdmlink {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    /// The store's bytes at rest: the database and its journal.
    fn store_bytes(&self) -> Vec<u8> {
        ["store.sqlite", "store.sqlite-wal"]
            .iter()
            .filter_map(|f| std::fs::read(self.path(f)).ok())
            .flatten()
            .collect()
    }

    fn write(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    }

    fn list_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["api", "list", "--json"])).unwrap()
    }
}

/// A fresh P-256 key as PKCS#8 PEM (the library's encoder), with its
/// 32-byte private scalar.
fn pkcs8_key() -> (String, Vec<u8>) {
    let key = mdmlink::portal_api::ApiKey::generate(&mut mdmlink::SystemRng::default()).unwrap();
    let pem = key.to_pkcs8_pem().unwrap().to_string();
    let scalar = p256::SecretKey::from_pkcs8_pem(&pem)
        .unwrap()
        .to_bytes()
        .to_vec();
    (pem, scalar)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn api_add_list_remove_and_the_key_never_in_clear() {
    let env = Env::new();
    env.ok(&["org", "add", "Contoso", "--portal", "business-manager"]);
    let (pem, scalar) = pkcs8_key();
    let key = env.write("api_key.pem", pem.as_bytes());
    let out = env.ok(&[
        "api",
        "add",
        "--client-id",
        CLIENT_ID,
        "--key-id",
        KEY_ID,
        "--key",
        &key,
    ]);
    assert!(out.contains("organization \"Contoso\""), "{out}");
    assert!(out.contains("business.api"), "{out}");

    let table = env.ok(&["api", "list"]);
    assert!(
        table.contains(CLIENT_ID) && table.contains(KEY_ID) && table.contains("Contoso"),
        "{table}"
    );
    let json = env.list_json();
    assert_eq!(json.as_array().unwrap().len(), 1);
    let entry = &json[0];
    assert_eq!(entry["organization"], "Contoso");
    assert_eq!(entry["client_id"], CLIENT_ID);
    assert_eq!(entry["key_id"], KEY_ID);
    assert_eq!(entry["scope"], "business.api");
    assert!(entry["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(entry.as_object().unwrap().len(), 5, "{entry}");
    // The key appears in no output and not in clear in the store.
    let pem_body = pem.lines().nth(1).unwrap();
    for output in [&out, &table, &json.to_string()] {
        assert!(
            !output.contains(pem_body) && !output.contains("PRIVATE KEY"),
            "{output}"
        );
    }
    let der = p256::SecretKey::from_pkcs8_pem(&pem).unwrap();
    let der = p256::pkcs8::EncodePrivateKey::to_pkcs8_der(&der).unwrap();
    let stored = env.store_bytes();
    assert!(
        contains(&stored, CLIENT_ID.as_bytes()),
        "the account is in the store"
    );
    assert!(
        !contains(&stored, &scalar),
        "the key's scalar is in the store in clear"
    );
    assert!(!contains(&stored, der.as_bytes()));
    assert!(!contains(&stored, pem_body.as_bytes()));

    // A second account needs --replace; then a SEC1 key from OpenSSL.
    let err = env.fails(&[
        "api",
        "add",
        "--client-id",
        CLIENT_ID,
        "--key-id",
        "KEY2",
        "--key",
        &key,
    ]);
    assert!(
        err.contains("already has an API account") && err.contains("--replace"),
        "{err}"
    );
    let sec1 = env.path("sec1.pem");
    common::run_ok(
        "openssl",
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-out",
            sec1.to_str().unwrap(),
        ],
    );
    env.ok(&[
        "api",
        "add",
        "--client-id",
        CLIENT_ID,
        "--key-id",
        "KEY2",
        "--key",
        sec1.to_str().unwrap(),
        "--replace",
    ]);
    assert_eq!(env.list_json()[0]["key_id"], "KEY2");
    // The replaced key is gone from the file (secure_delete).
    assert!(!contains(&env.store_bytes(), &scalar));

    // Without the master key the listing still works (it opens no key).
    let plain = Command::new(BIN)
        .env("MDMLINK_STORE", env.path("store.sqlite"))
        .env_remove("MDMLINK_MASTER_KEY")
        .env_remove("MDMLINK_PASSPHRASE")
        .args(["api", "list", "--json"])
        .output()
        .unwrap();
    assert!(
        plain.status.success(),
        "{}",
        String::from_utf8_lossy(&plain.stderr)
    );

    let out = env.ok(&["api", "remove", "--org", "contoso"]);
    assert!(
        out.contains("removed the API account of organization \"Contoso\""),
        "{out}"
    );
    let err = env.fails(&["api", "remove"]);
    assert!(
        err.contains("organization \"Contoso\" has no API account")
            && err.contains("mdmlink api add"),
        "{err}"
    );
    assert_eq!(env.list_json(), serde_json::json!([]));
}

#[test]
fn api_add_refuses_what_is_not_the_portals_p256_key() {
    let env = Env::new();
    env.ok(&["org", "add", "Contoso", "--portal", "business-manager"]);
    let add = |key: &str| {
        env.fails(&[
            "api",
            "add",
            "--client-id",
            CLIENT_ID,
            "--key-id",
            KEY_ID,
            "--key",
            key,
        ])
    };
    let rsa = env.path("rsa.pem");
    common::run_ok(
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            rsa.to_str().unwrap(),
        ],
    );
    let err = add(rsa.to_str().unwrap());
    assert!(
        err.contains("rsa.pem") && err.contains("an RSA private key"),
        "{err}"
    );
    let p384 = env.path("p384.pem");
    common::run_ok(
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-out",
            p384.to_str().unwrap(),
        ],
    );
    let err = add(p384.to_str().unwrap());
    assert!(err.contains("secp384r1"), "{err}");
    // Not a regular file, too large: refused before reading.
    let err = add(env.dir.path().to_str().unwrap());
    assert!(err.contains("not a regular file"), "{err}");
    let big = env.write("big.pem", &vec![b'A'; 65 * 1024]);
    let err = add(&big);
    assert!(err.contains("at most 64 KiB"), "{err}");
    // A client ID that is not Apple's form.
    let (pem, _) = pkcs8_key();
    let key = env.write("k.pem", pem.as_bytes());
    let err = env.fails(&[
        "api",
        "add",
        "--client-id",
        "MYAPP.1",
        "--key-id",
        KEY_ID,
        "--key",
        &key,
    ]);
    assert!(
        err.contains("client ID") && err.contains("BUSINESSAPI."),
        "{err}"
    );
    assert_eq!(env.list_json(), serde_json::json!([]));
}

#[test]
fn api_add_refuses_the_other_portals_account() {
    let env = Env::new();
    env.ok(&["org", "add", "Lycee", "--portal", "school-manager"]);
    env.ok(&["org", "add", "Contoso", "--portal", "business-essentials"]);
    let (pem, _) = pkcs8_key();
    let key = env.write("k.pem", pem.as_bytes());
    let err = env.fails(&[
        "--org",
        "Lycee",
        "api",
        "add",
        "--client-id",
        CLIENT_ID,
        "--key-id",
        KEY_ID,
        "--key",
        &key,
    ]);
    assert!(
        err.contains("business.api") && err.contains("School Manager"),
        "{err}"
    );
    let err = env.fails(&[
        "--org",
        "Contoso",
        "api",
        "add",
        "--client-id",
        "SCHOOLAPI.7e1d",
        "--key-id",
        KEY_ID,
        "--key",
        &key,
    ]);
    assert!(
        err.contains("school.api") && err.contains("Business Essentials"),
        "{err}"
    );
    // Two organizations and none named: the usual question.
    let err = env.fails(&[
        "api",
        "add",
        "--client-id",
        CLIENT_ID,
        "--key-id",
        KEY_ID,
        "--key",
        &key,
    ]);
    assert!(err.contains("--org"), "{err}");
    env.ok(&[
        "--org",
        "Lycee",
        "api",
        "add",
        "--client-id",
        "SCHOOLAPI.7e1d",
        "--key-id",
        KEY_ID,
        "--key",
        &key,
    ]);
    env.ok(&[
        "--org",
        "Contoso",
        "api",
        "add",
        "--client-id",
        CLIENT_ID,
        "--key-id",
        KEY_ID,
        "--key",
        &key,
    ]);
    let json = env.list_json();
    let scopes: Vec<(&str, &str)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["organization"].as_str().unwrap(),
                e["scope"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        scopes,
        [("Contoso", "business.api"), ("Lycee", "school.api")]
    );
    let only: serde_json::Value =
        serde_json::from_str(&env.ok(&["--org", "lycee", "api", "list", "--json"])).unwrap();
    assert_eq!(only.as_array().unwrap().len(), 1);
    assert_eq!(only[0]["organization"], "Lycee");
}

#[test]
fn store_rekey_reseals_the_api_key() {
    let env = Env::new();
    env.ok(&["org", "add", "Contoso", "--portal", "business-manager"]);
    let (pem, scalar) = pkcs8_key();
    let key = env.write("api_key.pem", pem.as_bytes());
    env.ok(&[
        "api",
        "add",
        "--client-id",
        CLIENT_ID,
        "--key-id",
        KEY_ID,
        "--key",
        &key,
    ]);
    assert!(!contains(&env.store_bytes(), &scalar));
    // Decrypted: the key is then in the file (the store said it would be).
    let out = env.ok(&["store", "rekey", "--decrypt"]);
    assert!(out.contains("API accounts"), "{out}");
    assert!(
        contains(&env.store_bytes(), &scalar),
        "rekey --decrypt left the API key sealed, or the check cannot see it"
    );
    // Under a new key: sealed again, and the old plaintext overwritten.
    let new_key = env.path("new.key");
    std::fs::write(&new_key, format!("{}\n", "3c".repeat(32))).unwrap();
    std::fs::set_permissions(
        &new_key,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let rekey = Command::new(BIN)
        .env("MDMLINK_STORE", env.path("store.sqlite"))
        .env_remove("MDMLINK_MASTER_KEY")
        .env_remove("MDMLINK_PASSPHRASE")
        .args([
            "store",
            "rekey",
            "--new-key-file",
            new_key.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        rekey.status.success(),
        "{}",
        String::from_utf8_lossy(&rekey.stderr)
    );
    assert!(
        !contains(&env.store_bytes(), &scalar),
        "the key is in clear after rekey"
    );
    // The old master key no longer opens the store.
    let err = env.fails(&[
        "api",
        "add",
        "--client-id",
        CLIENT_ID,
        "--key-id",
        KEY_ID,
        "--key",
        &key,
        "--replace",
    ]);
    assert!(err.contains("master key"), "{err}");
}
