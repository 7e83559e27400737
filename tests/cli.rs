//! The `mdmlink` command, driven as a user drives it: the real binary, real
//! files, real exit codes.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::apple_fixture_path;

const BIN: &str = env!("CARGO_BIN_EXE_mdmlink");

/// A token expiry far enough from today that the servers' certificates
/// (valid five years from now) stay valid around it.
const EXPIRY: &str = "2030-06-01T00:00:00Z";

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

    fn store(&self) -> PathBuf {
        self.path("store.sqlite")
    }

    /// `mdmlink ARGS` with this environment's store and no passphrase.
    fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env("MDMLINK_STORE", self.store())
            .env_remove("MDMLINK_PASSPHRASE")
            .current_dir(self.dir.path());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        common::expect_success(args, self.run(args))
    }

    /// Writes a token JSON and seals it to `cert`; returns the token file.
    fn token_for(&self, cert: &Path, consumer_key: &str, expiry: &str, file: &str) -> PathBuf {
        let json = self.path(&format!("{file}.json"));
        std::fs::write(
            &json,
            format!(
                r#"{{"consumer_key":"{consumer_key}","consumer_secret":"CS_marker_secret_1","access_token":"AT_marker_token","access_secret":"AS_marker_secret_2","access_token_expiry":"{expiry}"}}"#
            ),
        )
        .unwrap();
        let out = self.path(file);
        self.ok(&[
            "seal",
            "--cert",
            cert.to_str().unwrap(),
            "--in",
            json.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        out
    }

    /// Adds a server with its certificate at `NAME.crt` in the temp dir.
    fn add(&self, name: &str) -> PathBuf {
        let cert = self.path(&format!("{}.crt", name.replace(' ', "_")));
        self.ok(&[
            "server",
            "add",
            name,
            "--portal",
            "school-manager",
            "--cert-out",
            cert.to_str().unwrap(),
        ]);
        cert
    }

    fn list_json(&self) -> Vec<serde_json::Value> {
        let out = self.ok(&["server", "list", "--json"]);
        serde_json::from_str::<serde_json::Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A failure is one line on stderr, exit 1, no panic.
fn assert_failure(out: &Output, must_contain: &[&str]) {
    let err = stderr(out);
    assert_eq!(code(out), 1, "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for s in must_contain {
        assert!(err.contains(s), "stderr lacks {s:?}: {err}");
    }
}

fn at(offset_from_expiry: time::Duration) -> String {
    let e = time::OffsetDateTime::parse(EXPIRY, &time::format_description::well_known::Rfc3339)
        .unwrap();
    (e + offset_from_expiry)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn keygen_writes_owner_only_key_and_public_certificate_under_umask_000() {
    let env = Env::new();
    let key = env.path("server.key");
    let cert = env.path("server.crt");
    let out = Command::new("sh")
        .args([
            "-c",
            "umask 000; exec \"$0\" \"$@\"",
            BIN,
            "keygen",
            "--name",
            "Main MDM",
            "--key-out",
            key.to_str().unwrap(),
            "--cert-out",
            cert.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&cert), 0o644);
    let pem = std::fs::read_to_string(&key).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8 PEM");
    // OpenSSL agrees it is a 2048-bit RSA key and that the certificate is its own.
    let modulus = |args: &[&str]| common::run_ok("openssl", args);
    assert_eq!(
        modulus(&["rsa", "-noout", "-modulus", "-in", key.to_str().unwrap()]),
        modulus(&["x509", "-noout", "-modulus", "-in", cert.to_str().unwrap()])
    );

    // Never overwritten without --force.
    let again = env.run(&[
        "keygen",
        "--name",
        "Main MDM",
        "--key-out",
        key.to_str().unwrap(),
        "--cert-out",
        env.path("other.crt").to_str().unwrap(),
    ]);
    assert_failure(&again, &["server.key", "already exists"]);
    assert_eq!(std::fs::read_to_string(&key).unwrap(), pem);
    assert!(!env.path("other.crt").exists());
    env.ok(&[
        "keygen",
        "--name",
        "Main MDM",
        "--bits",
        "3072",
        "--der",
        "--force",
        "--key-out",
        key.to_str().unwrap(),
        "--cert-out",
        cert.to_str().unwrap(),
    ]);
    assert_ne!(std::fs::read_to_string(&key).unwrap(), pem);
    assert_eq!(std::fs::read(&cert).unwrap()[0], 0x30, "DER certificate");

    // The store is 0600 under umask 000 too.
    let out = Command::new("sh")
        .args([
            "-c",
            "umask 000; exec \"$0\" \"$@\"",
            BIN,
            "--store",
            env.store().to_str().unwrap(),
            "server",
            "add",
            "Lab",
            "--portal",
            "business-manager",
            "--cert-out",
            env.path("lab.crt").to_str().unwrap(),
        ])
        .env_remove("MDMLINK_PASSPHRASE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode(&env.store()), 0o600);
    assert_eq!(mode(&env.path("lab.crt")), 0o644);
}

#[test]
fn keygen_with_password_writes_encrypted_pkcs8_that_open_reads() {
    let env = Env::new();
    let key = env.path("k.pem");
    let cert = env.path("c.pem");
    let mut c = env.cmd();
    c.env("KEYPASS", "correct horse").args([
        "--password-env",
        "KEYPASS",
        "keygen",
        "--name",
        "Lab",
        "--key-out",
        key.to_str().unwrap(),
        "--cert-out",
        cert.to_str().unwrap(),
    ]);
    assert!(c.output().unwrap().status.success());
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    );
    // OpenSSL opens it with the password.
    common::run_ok(
        "openssl",
        &[
            "pkey",
            "-in",
            key.to_str().unwrap(),
            "-passin",
            "pass:correct horse",
            "-noout",
        ],
    );
    let token = env.token_for(&cert, "CK_lab", EXPIRY, "lab.p7m");
    // Without the password: a clear error naming the key file.
    let out = env.run(&[
        "open",
        "--key",
        key.to_str().unwrap(),
        token.to_str().unwrap(),
    ]);
    assert_failure(&out, &["k.pem", "encrypted"]);
    let out = env
        .cmd()
        .env("KEYPASS", "correct horse")
        .args([
            "--password-env",
            "KEYPASS",
            "open",
            "--json",
            "--key",
            key.to_str().unwrap(),
            token.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["consumer_key"], "CK_lab");
    // A wrong password is named as such, without echoing it.
    let out = env
        .cmd()
        .env("KEYPASS", "wrong horse")
        .args([
            "--password-env",
            "KEYPASS",
            "open",
            "--key",
            key.to_str().unwrap(),
            token.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_failure(&out, &["k.pem", "password"]);
    assert!(!stderr(&out).contains("wrong horse"));
}

#[test]
fn open_json_of_the_real_apple_token_is_the_expected_json() {
    let env = Env::new();
    let key = apple_fixture_path("apple-mdm-client-tests-1.pem");
    let token = apple_fixture_path("apple-mdm-client-tests-1-server-token.p7m");
    let out = env.ok(&[
        "open",
        "--json",
        "--key",
        key.to_str().unwrap(),
        token.to_str().unwrap(),
    ]);
    assert_eq!(out.trim_end().lines().count(), 1, "exactly one JSON object");
    let got: serde_json::Value = serde_json::from_str(&out).unwrap();
    let expected: serde_json::Value = serde_json::from_str(&common::apple_expected_json()).unwrap();
    assert_eq!(got, expected);

    // The human summary hides the secrets.
    let human = env.ok(&[
        "open",
        "--now",
        "2025-12-18T11:02:21Z",
        "--cert",
        apple_fixture_path("apple-mdm-client-tests-1.crt")
            .to_str()
            .unwrap(),
        "--key",
        key.to_str().unwrap(),
        token.to_str().unwrap(),
    ]);
    assert!(human.contains(expected["consumer_key"].as_str().unwrap()));
    assert!(human.contains("2026-01-17 11:02:21 UTC"), "{human}");
    assert!(human.contains("days left:     30"), "{human}");
    assert!(human.contains("renew soon"), "{human}");
    for secret in ["consumer_secret", "access_token", "access_secret"] {
        assert!(
            !human.contains(expected[secret].as_str().unwrap()),
            "{secret} leaked: {human}"
        );
    }
}

#[test]
fn open_refuses_a_token_for_another_key_naming_the_file() {
    let env = Env::new();
    let cert = env.add("Main MDM");
    let token = env.token_for(&cert, "CK_1", EXPIRY, "main.p7m");
    let out = env.run(&[
        "open",
        "--key",
        apple_fixture_path("apple-mdm-client-tests-1.pem")
            .to_str()
            .unwrap(),
        token.to_str().unwrap(),
    ]);
    assert_failure(&out, &["main.p7m", "could not be decrypted"]);
    // With the key's certificate, the error names both certificates.
    let out = env.run(&[
        "open",
        "--key",
        apple_fixture_path("apple-mdm-client-tests-1.pem")
            .to_str()
            .unwrap(),
        "--cert",
        apple_fixture_path("apple-mdm-client-tests-1.crt")
            .to_str()
            .unwrap(),
        token.to_str().unwrap(),
    ]);
    assert_failure(&out, &["main.p7m", "certificate serial"]);
    let out = env.run(&[
        "open",
        "--key",
        env.path("missing.pem").to_str().unwrap(),
        token.to_str().unwrap(),
    ]);
    assert_failure(&out, &["missing.pem"]);
}

#[test]
fn status_exit_codes_at_the_boundaries() {
    let env = Env::new();
    let key = env.path("k.pem");
    let cert = env.path("c.pem");
    env.ok(&[
        "keygen",
        "--name",
        "Lab",
        "--key-out",
        key.to_str().unwrap(),
        "--cert-out",
        cert.to_str().unwrap(),
    ]);
    let token = env.token_for(&cert, "CK_1", EXPIRY, "t.p7m");
    let json = env.path("t.p7m.json");
    let day = time::Duration::days(1);
    let sec = time::Duration::seconds(1);
    let cases = [
        (at(-day * 30 - sec), 0),
        (at(-day * 30), 1),
        (at(-sec), 1),
        (at(time::Duration::ZERO), 2),
        (at(day * 400), 2),
    ];
    for (now, expected) in &cases {
        let by_key = env.run(&[
            "status",
            "--now",
            now,
            "--key",
            key.to_str().unwrap(),
            token.to_str().unwrap(),
        ]);
        assert_eq!(
            code(&by_key),
            *expected,
            "--key at {now}: {}",
            stderr(&by_key)
        );
        let by_json = env.run(&[
            "status",
            "--now",
            now,
            "--json-token",
            json.to_str().unwrap(),
        ]);
        assert_eq!(code(&by_json), *expected, "--json-token at {now}");
    }
    // --warn-days moves the window.
    let out = env.run(&[
        "status",
        "--warn-days",
        "60",
        "--now",
        &at(-day * 45),
        "--json-token",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 1);
    // Could not tell: 3.
    std::fs::write(env.path("bad.json"), "{}").unwrap();
    let out = env.run(&[
        "status",
        "--json-token",
        env.path("bad.json").to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 3);
    assert!(stderr(&out).contains("bad.json"));
    let out = env.run(&[
        "status",
        "--key",
        key.to_str().unwrap(),
        env.path("none.p7m").to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 3);
}

#[test]
fn server_lifecycle_list_events_check_and_remove() {
    let env = Env::new();
    let main = env.add("Main MDM");
    let out = env.ok(&[
        "server",
        "add",
        "Lab",
        "--customer",
        "Contoso",
        "--site",
        "Lyon",
        "--release-devices",
        "--der",
        "--cert-out",
        env.path("lab.cer").to_str().unwrap(),
    ]);
    assert!(out.contains("MDM Server Assignment"), "{out}");
    assert_eq!(std::fs::read(env.path("lab.cer")).unwrap()[0], 0x30);
    let lab = env.path("lab.pem");
    std::fs::write(
        &lab,
        common::run_ok(
            "openssl",
            &[
                "x509",
                "-inform",
                "DER",
                "-in",
                env.path("lab.cer").to_str().unwrap(),
            ],
        ),
    )
    .unwrap();

    // Before tokens: check says they need one (2).
    let out = env.run(&["check"]);
    assert_eq!(code(&out), 2);

    let t1 = env.token_for(&main, "CK_main", EXPIRY, "main.p7m");
    let t2 = env.token_for(&lab, "CK_lab", "2030-09-01T00:00:00Z", "lab.p7m");
    let out = env.ok(&["server", "install-token", "main mdm", t1.to_str().unwrap()]);
    assert!(out.contains("first token"), "{out}");
    env.ok(&[
        "server",
        "install-token",
        "Lab",
        t2.to_str().unwrap(),
        "--downloaded-by",
        "admin@example.com",
    ]);

    let rows = env.list_json();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["name"], "Main MDM");
    assert_eq!(rows[0]["portal"], "school-manager");
    assert_eq!(rows[0]["expires"], EXPIRY);
    assert_eq!(rows[1]["customer"], "Contoso");
    assert_eq!(rows[1]["site"], "Lyon");
    assert_eq!(rows[1]["release_devices"], true);
    let table = env.ok(&["server", "list", "--now", &at(-time::Duration::days(10))]);
    assert!(table.contains("NAME"), "{table}");
    assert!(table.contains("Contoso/Lyon"), "{table}");
    assert!(table.contains("renew-soon"), "{table}");
    assert!(table.contains("2030-06-01"), "{table}");
    // No secret in list output.
    assert!(!env.ok(&["server", "list", "--json"]).contains("marker"));

    // check at the boundaries of the earliest token.
    let day = time::Duration::days(1);
    for (now, expected) in [
        (at(-day * 30 - time::Duration::seconds(1)), 0),
        (at(-day * 30), 1),
        (at(time::Duration::ZERO), 2),
    ] {
        let out = env.run(&["check", "--now", &now]);
        assert_eq!(
            code(&out),
            expected,
            "check at {now}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let out = env.run(&["check", "--now", &at(-day * 100)]);
    assert_eq!(code(&out), 0);

    // An event makes the token must-replace: 2 even long before expiry.
    env.ok(&["server", "events", "Lab", "password-changed"]);
    let out = env.run(&["check", "--now", &at(-day * 100)]);
    assert_eq!(code(&out), 2);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Lab") && text.contains("password"), "{text}");
    assert_eq!(
        env.list_json()[1]["replacement"],
        "downloader-password-changed"
    );

    env.ok(&["server", "remove", "Lab"]);
    assert_eq!(env.list_json().len(), 1);
    let out = env.run(&["server", "remove", "Lab"]);
    assert_failure(&out, &["store.sqlite", "Lab"]);
    let out = env.run(&["check", "--now", &at(-day * 100)]);
    assert_eq!(code(&out), 0);
}

#[test]
fn check_cannot_tell_without_a_store_or_servers() {
    let env = Env::new();
    let out = env.run(&["check"]);
    assert_eq!(code(&out), 3);
    assert!(stderr(&out).contains("store.sqlite"));
}

#[test]
fn duplicate_and_reserved_names_are_refused() {
    let env = Env::new();
    env.add("Café MDM");
    for name in ["café mdm", "CAFE\u{301} MDM", "  Café MDM "] {
        let out = env.run(&[
            "server",
            "add",
            name,
            "--cert-out",
            env.path("dup.crt").to_str().unwrap(),
        ]);
        assert_failure(&out, &["already exists"]);
    }
    for name in ["Unassigned", "reassigned"] {
        let out = env.run(&["server", "add", name, "--portal", "school-manager"]);
        assert_failure(&out, &["reserved"]);
    }
    assert!(!env.path("dup.crt").exists());
    assert_eq!(env.list_json().len(), 1);
    // Another portal than the store's organization is refused too.
    let out = env.run(&["server", "add", "Other", "--portal", "business-manager"]);
    assert_failure(&out, &["Apple School Manager"]);
}

#[test]
fn consumer_key_change_is_refused_without_force() {
    let env = Env::new();
    let cert = env.add("Main MDM");
    let t1 = env.token_for(&cert, "CK_first", EXPIRY, "t1.p7m");
    let t2 = env.token_for(&cert, "CK_second", "2031-01-01T00:00:00Z", "t2.p7m");
    env.ok(&["server", "install-token", "Main MDM", t1.to_str().unwrap()]);
    let out = env.run(&["server", "install-token", "Main MDM", t2.to_str().unwrap()]);
    assert_failure(&out, &["t2.p7m", "consumer key"]);
    assert_eq!(env.list_json()[0]["consumer_key"], "CK_first");
    env.ok(&[
        "server",
        "install-token",
        "Main MDM",
        t2.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(env.list_json()[0]["consumer_key"], "CK_second");
    // A renewal with the same consumer key needs no force.
    let t3 = env.token_for(&cert, "CK_second", "2031-06-01T00:00:00Z", "t3.p7m");
    let out = env.ok(&["server", "install-token", "Main MDM", t3.to_str().unwrap()]);
    assert!(out.contains("renewed"), "{out}");
}

#[test]
fn eight_concurrent_server_adds_all_land() {
    let env = Env::new();
    env.add("First");
    let children: Vec<_> = (0..8)
        .map(|i| {
            env.cmd()
                .args([
                    "server",
                    "add",
                    &format!("Server {i}"),
                    "--cert-out",
                    env.path(&format!("s{i}.crt")).to_str().unwrap(),
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let rows = env.list_json();
    assert_eq!(rows.len(), 9);
    for i in 0..8 {
        assert!(
            rows.iter().any(|r| r["name"] == format!("Server {i}")),
            "Server {i} missing"
        );
    }
}

#[test]
fn truncated_store_gives_a_clear_error() {
    let env = Env::new();
    for name in ["A", "B", "C", "D"] {
        env.add(name);
    }
    let len = std::fs::metadata(env.store()).unwrap().len();
    assert!(len > 4096, "store is {len} bytes");
    for cut in [len / 2, 1000, 50] {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(env.store())
            .unwrap();
        file.set_len(cut).unwrap();
        drop(file);
        for args in [&["server", "list"][..], &["server", "add", "E"][..]] {
            let out = env.run(args);
            assert_failure(&out, &["store.sqlite", "damaged"]);
        }
        let out = env.run(&["check"]);
        assert_eq!(code(&out), 3, "{}", stderr(&out));
    }
}

#[test]
fn rotate_key_then_a_token_for_the_staged_certificate_promotes_it() {
    let env = Env::new();
    let old_cert = env.add("Main MDM");
    let t1 = env.token_for(&old_cert, "CK_1", EXPIRY, "t1.p7m");
    env.ok(&["server", "install-token", "Main MDM", t1.to_str().unwrap()]);
    let old_serial = env.list_json()[0]["certificate_serial"].clone();

    let new_cert = env.path("new.crt");
    let out = env.ok(&[
        "server",
        "rotate-key",
        "Main MDM",
        "--cert-out",
        new_cert.to_str().unwrap(),
    ]);
    assert!(out.contains("keep working"), "{out}");
    // The current token still works and the rotation is visible.
    let row = &env.list_json()[0];
    assert_eq!(row["health"], "valid");
    assert_eq!(row["certificate_serial"], old_serial);
    assert!(row["staging_pending_since"].is_string());
    // A token sealed to the old certificate is a plain renewal, still allowed.
    let renewal = env.token_for(&old_cert, "CK_1", "2030-07-01T00:00:00Z", "renew.p7m");
    let out = env.ok(&[
        "server",
        "install-token",
        "Main MDM",
        renewal.to_str().unwrap(),
    ]);
    assert!(out.contains("renewed"), "{out}");

    let t2 = env.token_for(&new_cert, "CK_1", "2031-01-01T00:00:00Z", "t2.p7m");
    let out = env.ok(&["server", "install-token", "Main MDM", t2.to_str().unwrap()]);
    assert!(out.contains("now current"), "{out}");
    let row = &env.list_json()[0];
    assert_ne!(row["certificate_serial"], old_serial);
    assert!(row["staging_pending_since"].is_null());
    assert_eq!(row["expires"], "2031-01-01T00:00:00Z");
    // The old key is retired: a token for the old certificate no longer opens.
    let late = env.token_for(&old_cert, "CK_1", "2031-02-01T00:00:00Z", "late.p7m");
    let out = env.run(&[
        "server",
        "install-token",
        "Main MDM",
        late.to_str().unwrap(),
    ]);
    assert_failure(&out, &["late.p7m"]);

    // replace-key is the same command.
    env.ok(&[
        "server",
        "replace-key",
        "Main MDM",
        "--cert-out",
        env.path("n2.crt").to_str().unwrap(),
    ]);
    assert!(env.list_json()[0]["staging_pending_since"].is_string());
}

#[test]
fn discard_staging_abandons_a_rotation() {
    let env = Env::new();
    let cert = env.add("Main MDM");
    let t1 = env.token_for(&cert, "CK_1", EXPIRY, "t1.p7m");
    env.ok(&["server", "install-token", "Main MDM", t1.to_str().unwrap()]);
    let staged = env.path("staged.crt");
    env.ok(&[
        "server",
        "rotate-key",
        "Main MDM",
        "--cert-out",
        staged.to_str().unwrap(),
    ]);
    env.ok(&["server", "discard-staging", "Main MDM"]);
    assert!(env.list_json()[0]["staging_pending_since"].is_null());
    // A token for the discarded certificate no longer opens.
    let t2 = env.token_for(&staged, "CK_1", "2031-01-01T00:00:00Z", "t2.p7m");
    let out = env.run(&["server", "install-token", "Main MDM", t2.to_str().unwrap()]);
    assert_failure(&out, &["t2.p7m"]);
    let out = env.run(&["server", "discard-staging", "Main MDM"]);
    assert_failure(&out, &["no staged keypair"]);
}

#[test]
fn passphrase_encrypts_the_keys_in_the_store() {
    let env = Env::new();
    let cert = env.path("main.crt");
    let out = env
        .cmd()
        .env("MDMLINK_PASSPHRASE", "store secret")
        .args([
            "server",
            "add",
            "Main MDM",
            "--portal",
            "business-manager",
            "--cert-out",
            cert.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // Keys are sealed under the master key: no PEM in the file.
    let bytes = std::fs::read(env.store()).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains("PRIVATE KEY"));
    // Listing reads no secret, so it needs no passphrase; a wrong one is
    // still reported.
    env.ok(&["server", "list"]);
    let out = env
        .cmd()
        .env("MDMLINK_PASSPHRASE", "not it")
        .args(["server", "list"])
        .output()
        .unwrap();
    assert_failure(&out, &["store.sqlite", "passphrase"]);
    // A command that needs a key says which variable to set.
    let out = env.run(&["jwt", "Main MDM"]);
    assert_failure(&out, &["store.sqlite", "MDMLINK_PASSPHRASE"]);
    let token = env.token_for(&cert, "CK_1", EXPIRY, "t.p7m");
    let out = env
        .cmd()
        .env("PW", "store secret")
        .args([
            "--password-env",
            "PW",
            "server",
            "install-token",
            "Main MDM",
            token.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // The token's credentials are sealed too.
    let mut at_rest = std::fs::read(env.store()).unwrap();
    at_rest.extend(std::fs::read(env.path("store.sqlite-wal")).unwrap_or_default());
    let text = String::from_utf8_lossy(&at_rest);
    assert!(!text.contains("CS_marker_secret_1") && !text.contains("AS_marker_secret_2"));
    assert_eq!(env.list_json()[0]["health"], "valid");
}

#[test]
fn usage_errors_exit_2() {
    let env = Env::new();
    for args in [
        &["frobnicate"][..],
        &["keygen", "--name", "X"][..],
        &[
            "keygen",
            "--name",
            "X",
            "--bits",
            "1024",
            "--key-out",
            "k",
            "--cert-out",
            "c",
        ][..],
        &["server", "events", "X", "sunburn"][..],
        &["server", "add", "X", "--portal", "itunes"][..],
    ] {
        assert_eq!(code(&env.run(args)), 2, "{args:?}");
    }
}

#[test]
fn demo_runs_the_whole_link() {
    let env = Env::new();
    let out = env.ok(&["demo"]);
    for needle in [
        "Main MDM",
        "already exists",
        "reserved",
        "installed the first token",
        "HEALTH",
        "MUST-REPLACE",
        "/session",
        "/account: server \"Main MDM\" of organization \"Northwind Traders\"",
    ] {
        assert!(out.contains(needle), "demo output lacks {needle:?}:\n{out}");
    }
    assert!(
        !env.store().exists(),
        "the demo uses its own temporary store"
    );
}

/// Verifies `token` with Python's PyJWT against the certificate at `cert`
/// (RS256, issuer `iss`); the verified claims, or PyJWT's error name.
fn pyjwt(token: &str, cert: &Path, iss: &str) -> Result<serde_json::Value, String> {
    use std::io::Write as _;
    use std::process::Stdio;
    common::require_python_pyjwt();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/jwt_peer.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(cert)
        .arg(iss)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(token.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["claims"].clone())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

#[test]
fn jwt_is_signed_by_the_current_key_and_verifies_with_pyjwt() {
    const UUID: &str = "2A873497-36CF-4614-A94F-624E705841BE";
    let env = Env::new();
    let cert = env.add("Main MDM");
    let t1 = env.token_for(&cert, "CK_1", EXPIRY, "t1.p7m");
    env.ok(&["server", "install-token", "Main MDM", t1.to_str().unwrap()]);

    // Without the server's UUID there is no issuer: a clear error, exit 1.
    let out = env.run(&["jwt", "Main MDM"]);
    assert_failure(&out, &["set-uuid", "fetch-account"]);

    env.ok(&["server", "set-uuid", "Main MDM", UUID]);
    let token = env.ok(&["jwt", "Main MDM", "--jti", "jti-cli-1"]);
    let claims = pyjwt(token.trim(), &cert, UUID).unwrap();
    assert_eq!(claims["iss"], UUID);
    assert_eq!(claims["jti"], "jti-cli-1");
    assert_eq!(claims["service_type"], "com.apple.maid");
    // A random jti each time by default.
    let a = env.ok(&["jwt", "Main MDM"]);
    let b = env.ok(&["jwt", "Main MDM"]);
    let jti = |t: &str| pyjwt(t.trim(), &cert, UUID).unwrap()["jti"].clone();
    assert_ne!(jti(&a), jti(&b));

    // During a rotation the current key keeps signing; once the new key's
    // token is installed, the new key signs and the old certificate no longer verifies.
    let new_cert = env.path("new.crt");
    env.ok(&[
        "server",
        "rotate-key",
        "Main MDM",
        "--cert-out",
        new_cert.to_str().unwrap(),
    ]);
    let during = env.ok(&["jwt", "Main MDM"]);
    assert!(pyjwt(during.trim(), &cert, UUID).is_ok());
    assert!(pyjwt(during.trim(), &new_cert, UUID).is_err());
    let t2 = env.token_for(&new_cert, "CK_1", "2031-01-01T00:00:00Z", "t2.p7m");
    env.ok(&["server", "install-token", "Main MDM", t2.to_str().unwrap()]);
    let after = env.ok(&["jwt", "Main MDM"]);
    assert!(pyjwt(after.trim(), &new_cert, UUID).is_ok());
    assert_eq!(
        pyjwt(after.trim(), &cert, UUID).unwrap_err(),
        "InvalidSignatureError"
    );

    let out = env.run(&["server", "set-uuid", "Main MDM", "has space"]);
    assert_failure(&out, &["store.sqlite"]);
    let out = env.run(&["jwt", "No Such Server"]);
    assert_failure(&out, &["No Such Server"]);
}

#[test]
fn fetch_account_records_the_uuid_the_service_reports() {
    use mdmlink::session::simulator::{SimulatedAccount, Simulator};
    let env = Env::new();
    let cert = env.add("Main MDM");
    let file = env.token_for(&cert, "CK_fetch", EXPIRY, "t.p7m");
    env.ok(&[
        "server",
        "install-token",
        "Main MDM",
        file.to_str().unwrap(),
    ]);
    // The simulator knows the same credentials the portal sealed.
    let issued =
        mdmlink::ServerToken::from_json(&std::fs::read_to_string(env.path("t.p7m.json")).unwrap())
            .unwrap();
    let mut account = SimulatedAccount::new(issued, "Northwind Traders");
    account.server_name = "Main MDM".into();
    let sim = Simulator::start(vec![account]).unwrap();
    let base = sim.base_url();

    let out = env.ok(&["server", "fetch-account", "Main MDM", "--base-url", &base]);
    assert!(out.contains("Northwind Traders"), "{out}");
    let uuid = out
        .split("server UUID ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .to_owned();
    let token = env.ok(&["jwt", "Main MDM"]);
    assert_eq!(
        pyjwt(token.trim(), &cert, &uuid).unwrap()["iss"],
        uuid.as_str()
    );

    // A token the service does not know: the typed error, exit 1, no secret.
    let other = env.add("Other MDM");
    let t = env.token_for(&other, "CK_unknown", EXPIRY, "o.p7m");
    env.ok(&["server", "install-token", "Other MDM", t.to_str().unwrap()]);
    let out = env.run(&["server", "fetch-account", "Other MDM", "--base-url", &base]);
    assert_failure(&out, &["HTTP 401"]);
    assert!(!stderr(&out).contains("marker"), "{}", stderr(&out));
    sim.shutdown();
}

#[test]
fn a_token_file_named_for_another_server_installs_with_a_warning() {
    let env = Env::new();
    let cert = env.add("Main MDM");
    let file = env.token_for(
        &cert,
        "CK_1",
        EXPIRY,
        "Lab Server_Token_2026-11-20T09-15-00Z_smime.p7m",
    );
    let out = env.run(&[
        "server",
        "install-token",
        "Main MDM",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with("warning: ") && err.contains("Lab Server"),
        "{err}"
    );
    // A file named for the right server: no warning.
    let file = env.token_for(
        &cert,
        "CK_1",
        "2030-07-01T00:00:00Z",
        "Main MDM_Token_2026-11-21T09-15-00Z_smime.p7m",
    );
    let out = env.run(&[
        "server",
        "install-token",
        "Main MDM",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0);
    assert_eq!(stderr(&out), "");
}

// ---------------------------------------------------------------------------
// Issue 13: hostile use of the command.

/// A keypair made with `keygen` in the environment's directory.
fn keygen(env: &Env) -> (PathBuf, PathBuf) {
    let key = env.path("k.pem");
    let cert = env.path("c.pem");
    env.ok(&[
        "keygen",
        "--name",
        "Lab",
        "--key-out",
        key.to_str().unwrap(),
        "--cert-out",
        cert.to_str().unwrap(),
    ]);
    (key, cert)
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    common::run_ok("mkfifo", &[path.to_str().unwrap()]);
}

#[cfg(unix)]
#[test]
fn unbounded_or_blocking_inputs_are_refused_at_once() {
    let env = Env::new();
    let (key, cert) = keygen(&env);
    let token = env.token_for(&cert, "CK_1", EXPIRY, "t.p7m");
    let fifo = env.path("fifo");
    mkfifo(&fifo);
    let big = env.path("big.p7m");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(200 * 1024 * 1024)
        .unwrap();
    let key_s = key.to_str().unwrap();
    let token_s = token.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["open", "--key", "/dev/zero", token_s],
            "not a regular file",
        ),
        (
            vec!["open", "--key", fifo.to_str().unwrap(), token_s],
            "FIFO",
        ),
        (
            vec!["open", "--key", key_s, "/dev/zero"],
            "not a regular file",
        ),
        (vec!["open", "--key", key_s, fifo.to_str().unwrap()], "FIFO"),
        (
            vec!["open", "--key", key_s, big.to_str().unwrap()],
            "209715200 bytes",
        ),
        (
            vec!["open", "--key", big.to_str().unwrap(), token_s],
            "at most 64 KiB",
        ),
        (
            vec!["open", "--key", key_s, "--cert", "/dev/zero", token_s],
            "not a regular file",
        ),
        (
            vec!["open", "--key", key_s, env.dir.path().to_str().unwrap()],
            "a directory",
        ),
        (
            vec![
                "seal",
                "--cert",
                cert.to_str().unwrap(),
                "--in",
                "/dev/zero",
                "--out",
                "x",
            ],
            "not a regular file",
        ),
        (
            vec!["server", "install-token", "Lab", fifo.to_str().unwrap()],
            "FIFO",
        ),
    ];
    for (args, needle) in cases {
        let started = std::time::Instant::now();
        let mut child = env
            .cmd()
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // A blocked read would hang: give it a generous bound, then kill it.
        let mut status = None;
        while started.elapsed() < std::time::Duration::from_secs(20) {
            if let Some(s) = child.try_wait().unwrap() {
                status = Some(s);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mdmlink {args:?} did not finish (blocked or unbounded)");
        }
        let out = child.wait_with_output().unwrap();
        assert_failure(&out, &[needle]);
    }
    // `status` cannot tell: 3, for the same reason.
    let out = env.run(&["status", "--key", key_s, fifo.to_str().unwrap()]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("FIFO"), "{}", stderr(&out));
}

#[cfg(unix)]
#[test]
fn store_option_never_changes_a_file_that_is_not_a_store() {
    use std::os::unix::fs::PermissionsExt as _;
    let env = Env::new();
    let notes = env.path("notes.txt");
    std::fs::write(&notes, "my notes\n").unwrap();
    std::fs::set_permissions(&notes, std::fs::Permissions::from_mode(0o644)).unwrap();
    let link = env.path("link.sqlite");
    std::os::unix::fs::symlink(&notes, &link).unwrap();
    let empty = env.path("empty");
    std::fs::write(&empty, "").unwrap();
    std::fs::set_permissions(&empty, std::fs::Permissions::from_mode(0o644)).unwrap();
    for (store, needle) in [
        (notes.as_path(), "not an SQLite database"),
        (link.as_path(), "symbolic link"),
        (empty.as_path(), "empty file"),
        (Path::new("/dev/null"), "a device"),
        (env.dir.path(), "a directory"),
    ] {
        for args in [
            &["server", "list"][..],
            &["server", "add", "X", "--portal", "school-manager"][..],
        ] {
            let out = env
                .cmd()
                .env("MDMLINK_STORE", store)
                .args(args)
                .output()
                .unwrap();
            assert_failure(&out, &[needle, "not an mdmlink store"]);
        }
        let out = env
            .cmd()
            .env("MDMLINK_STORE", store)
            .arg("check")
            .output()
            .unwrap();
        assert_eq!(code(&out), 3, "{}", stderr(&out));
    }
    assert_eq!(mode(&notes), 0o644);
    assert_eq!(mode(&empty), 0o644);
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "my notes\n");
    let dev_null = std::fs::metadata("/dev/null").unwrap().permissions().mode() & 0o777;
    assert_eq!(dev_null, 0o666);
    assert!(!env.path("X.pem").exists());

    // A store with a wider mode: one warning line, then narrowed.
    env.add("Main MDM");
    std::fs::set_permissions(env.store(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = env.run(&["server", "list"]);
    assert_eq!(code(&out), 0);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("warning: ") && err.contains("0644") && err.contains("0600"),
        "{err}"
    );
    assert_eq!(mode(&env.store()), 0o600);
    // A read-only store stays read-only, and can be listed and checked.
    std::fs::set_permissions(env.store(), std::fs::Permissions::from_mode(0o400)).unwrap();
    let out = env.run(&["server", "list"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Main MDM"));
    assert_eq!(code(&env.run(&["check"])), 2);
    assert_eq!(mode(&env.store()), 0o400);
    // As root the mode does not stop a write: list again as an ordinary user
    // who owns the read-only store (what a user without root sees).
    let uid = String::from_utf8(common::run_ok("id", &["-u"])).unwrap();
    if uid.trim() == "0" {
        for p in [env.dir.path(), &env.store()] {
            common::run_ok("chown", &["65534:65534", p.to_str().unwrap()]);
        }
        for args in [&["server", "list"][..], &["check"][..]] {
            let out = Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(BIN)
                .args(args)
                .env("MDMLINK_STORE", env.store())
                .env("HOME", env.dir.path())
                .current_dir(env.dir.path())
                .output()
                .expect("setpriv (util-linux) runs the command as another user");
            let expected = if args[0] == "check" { 2 } else { 0 };
            assert_eq!(code(&out), expected, "{args:?}: {}", stderr(&out));
        }
        assert_eq!(mode(&env.store()), 0o400);
    }
}

#[test]
fn extreme_times_and_windows_never_panic() {
    let env = Env::new();
    // A certificate cannot be valid past 9999: a clear error, exit 1.
    let out = env.run(&[
        "server",
        "add",
        "Far",
        "--portal",
        "school-manager",
        "--now",
        "9997-01-01T00:00:00Z",
    ]);
    assert_failure(&out, &["validity out of range"]);
    let (key, cert) = keygen(&env);
    let token = env.token_for(&cert, "CK_1", EXPIRY, "t.p7m");
    env.add("Main MDM");
    for args in [
        &["check", "--warn-days", "4294967295"][..],
        &[
            "status",
            "--warn-days",
            "4294967295",
            "--key",
            key.to_str().unwrap(),
            token.to_str().unwrap(),
        ][..],
    ] {
        let out = env.run(args);
        assert_eq!(code(&out), 3, "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("--warn-days") && err.contains("3650"), "{err}");
        assert!(!err.contains("internal error"), "{err}");
    }
    let out = env.run(&["server", "list", "--warn-days", "4294967295"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("--warn-days"));
    // The widest window works, at the ends of the calendar too.
    let out = env.run(&[
        "status",
        "--warn-days",
        "3650",
        "--now",
        "0001-01-01T00:00:00Z",
        "--key",
        key.to_str().unwrap(),
        token.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = env.run(&[
        "check",
        "--warn-days",
        "3650",
        "--now",
        "9999-12-31T23:59:59Z",
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

#[test]
fn status_and_check_never_exit_1_or_2_when_they_cannot_tell() {
    let env = Env::new();
    env.add("Main MDM");
    for args in [
        &["check", "--bogus"][..],
        &["check", "--warn-days", "many"][..],
        &["status"][..],
        &["status", "--key", "k.pem"][..],
        &["status", "--bogus"][..],
        &["--store", "s", "status", "--warn-days", "-1"][..],
    ] {
        let out = env.run(args);
        assert_eq!(code(&out), 3, "{args:?}: {}", stderr(&out));
    }
    // `status` with no arguments names both forms.
    let err = stderr(&env.run(&["status"]));
    assert!(
        err.contains("--key") && err.contains("--json-token"),
        "{err}"
    );
    // Other commands keep exit 2 for usage errors.
    assert_eq!(code(&env.run(&["server", "list", "--bogus"])), 2);
    // A closed pipe on stdout is not an error: the health code (2: a server
    // without a token), quietly.
    let out = Command::new("bash")
        .env("MDMLINK_STORE", env.store())
        .current_dir(env.dir.path())
        .args([
            "-c",
            "(sleep 0.3; exec \"$0\" check) | true; echo \"${PIPESTATUS[0]}\"",
            BIN,
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "2",
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out), "");
}

#[test]
fn invisible_characters_in_names_and_forged_labels() {
    let env = Env::new();
    env.add("Base");
    let out = env.run(&[
        "server",
        "add",
        "Unassigned\u{200B}",
        "--portal",
        "school-manager",
    ]);
    assert_failure(&out, &["reserved"]);
    for name in [
        "B\u{200D}ase",
        "Ba\u{00AD}se",
        "\u{2060}Base",
        "B\u{034F}ase",
    ] {
        let out = env.run(&["server", "add", name]);
        assert_failure(&out, &["already exists"]);
    }
    // Labels with controls and bidi overrides cannot forge the table.
    env.ok(&[
        "server",
        "add",
        "Lab",
        "--customer",
        "Evil\nBase  school-manager  -  2031-01-01  400  valid",
        "--site",
        "\u{202E}etis",
        "--cert-out",
        env.path("lab.pem").to_str().unwrap(),
    ]);
    let table = env.ok(&["server", "list"]);
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(
        table.contains("\\u{000A}") && table.contains("\\u{202E}"),
        "{table}"
    );
    assert!(!table.contains('\u{202E}'));
    // File names in errors too.
    let out = env.run(&["server", "install-token", "Lab", "no\u{202E}such\nfile"]);
    assert_failure(&out, &["\\u{202E}"]);
    assert!(!stderr(&out).contains('\u{202E}'));
}

#[test]
fn a_replacement_event_is_cleared_only_by_a_newer_token() {
    let env = Env::new();
    let cert = env.add("Main MDM");
    let now = "2029-06-01T00:00:00Z";
    let first = env.token_for(
        &cert,
        "CK_1",
        EXPIRY,
        "Main MDM_Token_2029-06-01T00-00-00Z_smime.p7m",
    );
    let install = |file: &Path, extra: &[&str]| {
        let mut args = vec![
            "server",
            "install-token",
            "Main MDM",
            file.to_str().unwrap(),
            "--now",
            now,
        ];
        args.extend_from_slice(extra);
        env.run(&args)
    };
    assert_eq!(code(&install(&first, &[])), 0);
    env.ok(&[
        "server",
        "events",
        "Main MDM",
        "user-left",
        "--at",
        "2029-07-01T00:00:00Z",
    ]);
    // The same file again: refused, the event stays.
    let out = install(&first, &[]);
    assert_failure(&out, &["already installed", "2030-06-01"]);
    let out = env.run(&["check", "--now", "2029-08-01T00:00:00Z"]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stdout).contains("MUST-REPLACE"));
    // An older token: refused, naming both expiry dates.
    let older = env.token_for(&cert, "CK_1", "2030-05-01T00:00:00Z", "older.p7m");
    assert_failure(
        &install(&older, &[]),
        &["2030-05-01", "2030-06-01", "not later"],
    );
    // An expired one: refused.
    let expired = env.token_for(&cert, "CK_1", "2029-05-01T00:00:00Z", "expired.p7m");
    assert_failure(&install(&expired, &[]), &["expired", "2029-05-01"]);
    // Forced, the same token installs but does not clear the event.
    let out = install(&first, &["--force"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("still needs a token downloaded after"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        env.list_json()[0]["replacement"],
        "downloader-left-organization"
    );
    // A newer token downloaded before the event (by its file name): installed, event stays.
    let before = env.token_for(
        &cert,
        "CK_1",
        "2030-06-15T00:00:00Z",
        "Main MDM_Token_2029-06-20T00-00-00Z_smime.p7m",
    );
    let out = install(&before, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("still needs"), "{}", stderr(&out));
    assert_eq!(
        code(&env.run(&["check", "--now", "2029-08-01T00:00:00Z"])),
        2
    );
    // A token issued after the event (no Apple file name: expiry - 1 year) clears it.
    let after = env.token_for(&cert, "CK_1", "2030-07-15T00:00:00Z", "after.p7m");
    let out = install(&after, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert_eq!(
        code(&env.run(&["check", "--now", "2029-08-01T00:00:00Z"])),
        0
    );
    assert!(env.list_json()[0]["replacement"].is_null());
}

#[test]
fn no_token_and_expired_certificates_say_what_to_do_and_list_agrees() {
    let env = Env::new();
    // Certificate valid 2020-01-01 .. 2025-01-01 (five years and a day).
    let cert = env.path("old.pem");
    env.ok(&[
        "server",
        "add",
        "Old",
        "--portal",
        "school-manager",
        "--now",
        "2020-01-01T00:00:00Z",
        "--cert-out",
        cert.to_str().unwrap(),
    ]);
    env.add("Fresh");
    let out = env.run(&["check", "--now", "2024-06-01T00:00:00Z"]);
    assert_eq!(code(&out), 2);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!text.contains("1970"), "{text}");
    assert!(
        text.contains("NO-TOKEN: \"Fresh\": no token installed; upload the certificate"),
        "{text}"
    );
    assert!(text.contains("download the server token"), "{text}");
    assert_eq!(env.list_json()[1]["health"], "no-token");

    let token = env.token_for(&cert, "CK_1", "2025-09-01T00:00:00Z", "old.p7m");
    env.ok(&[
        "server",
        "install-token",
        "Old",
        token.to_str().unwrap(),
        "--now",
        "2024-09-05T00:00:00Z",
    ]);
    let now = "2025-03-01T00:00:00Z";
    let out = env.run(&["check", "--now", now]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("EXPIRED: \"Old\""), "{text}");
    assert!(text.contains("rotate the key"), "{text}");
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&env.ok(&["server", "list", "--json", "--now", now])).unwrap();
    assert_eq!(rows[0]["health"], "expired");
    assert_eq!(rows[0]["token_health"], "valid");
    assert_eq!(rows[0]["certificate_health"], "expired");
    let table = env.ok(&["server", "list", "--now", now]);
    assert!(
        table
            .lines()
            .any(|l| l.contains(" Old ") && l.contains("expired")),
        "{table}"
    );
}

#[test]
fn a_second_rotate_key_keeps_the_staged_key_unless_forced() {
    let env = Env::new();
    env.add("Main MDM");
    let first = env.path("first.pem");
    env.ok(&[
        "server",
        "rotate-key",
        "Main MDM",
        "--cert-out",
        first.to_str().unwrap(),
    ]);
    let serial = common::run_ok(
        "openssl",
        &["x509", "-in", first.to_str().unwrap(), "-noout", "-serial"],
    );
    let serial = String::from_utf8(serial).unwrap();
    let serial = serial.trim().trim_start_matches("serial=").to_uppercase();
    let second = env.path("second.pem");
    let out = env.run(&[
        "server",
        "rotate-key",
        "Main MDM",
        "--cert-out",
        second.to_str().unwrap(),
    ]);
    assert_failure(&out, &["already has a staged keypair", &serial, "--force"]);
    assert!(!second.exists());
    // The first staged certificate still gets its token installed.
    let token = env.token_for(&first, "CK_2", EXPIRY, "new.p7m");
    let out = env.ok(&[
        "server",
        "install-token",
        "Main MDM",
        token.to_str().unwrap(),
    ]);
    assert!(out.contains("new key"), "{out}");
    env.ok(&[
        "server",
        "rotate-key",
        "Main MDM",
        "--cert-out",
        second.to_str().unwrap(),
    ]);
    let out = env.ok(&[
        "server",
        "rotate-key",
        "Main MDM",
        "--cert-out",
        second.to_str().unwrap(),
        "--force",
    ]);
    assert!(out.contains("staged a new keypair"), "{out}");
}

/// Base64 lines of every private key in the store file.
fn key_lines(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = Vec::new();
    for block in text.split("-----BEGIN PRIVATE KEY-----").skip(1) {
        let body = block.split("-----END").next().unwrap_or("");
        // Stored as JSON (0.1.0) or as the PEM itself (sealed in plaintext form).
        lines.extend(
            body.split('\n')
                .flat_map(|l| l.split("\\n"))
                .map(str::trim)
                .filter(|l| l.len() >= 40)
                .map(str::to_owned),
        );
    }
    lines
}

#[test]
fn removed_and_discarded_keys_leave_no_bytes_in_the_store() {
    let env = Env::new();
    env.add("Main MDM");
    env.add("Lab");
    env.ok(&[
        "server",
        "rotate-key",
        "Main MDM",
        "--cert-out",
        env.path("new.pem").to_str().unwrap(),
    ]);
    let before = key_lines(&std::fs::read(env.store()).unwrap());
    assert!(before.len() >= 3 * 20, "found {} key lines", before.len());
    let current = |env: &Env| {
        let mut bytes = std::fs::read(env.store()).unwrap();
        if let Ok(wal) = std::fs::read(env.path("store.sqlite-wal")) {
            bytes.extend(wal);
        }
        bytes
    };
    env.ok(&["server", "remove", "Lab"]);
    env.ok(&["server", "discard-staging", "Main MDM"]);
    let kept = key_lines(&current(&env));
    let bytes = current(&env);
    let gone: Vec<&String> = before.iter().filter(|l| !kept.contains(l)).collect();
    assert!(gone.len() >= 2 * 20, "only {} lines changed", gone.len());
    for line in gone {
        assert!(
            find(&bytes, line.as_bytes()).is_none(),
            "a line of a removed key is still in the store: {line}"
        );
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn smaller_things_of_issue_13() {
    let env = Env::new();
    // list on a store that does not exist creates nothing.
    let out = env.run(&["server", "list"]);
    assert_eq!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("no servers yet"));
    assert!(!env.store().exists());
    // `server add` without a passphrase says once that keys are unencrypted.
    let out = env.run(&[
        "server",
        "add",
        "Main MDM",
        "--portal",
        "school-manager",
        "--der",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stderr(&out).matches("unencrypted").count(),
        1,
        "{}",
        stderr(&out)
    );
    // --der writes NAME.der, the portals' extension.
    assert_eq!(std::fs::read(env.path("Main_MDM.der")).unwrap()[0], 0x30);
    // An existing --cert-out: --force is offered and exists.
    let taken = env.path("taken.pem");
    std::fs::write(&taken, "x").unwrap();
    let out = env.run(&[
        "server",
        "add",
        "Lab",
        "--cert-out",
        taken.to_str().unwrap(),
    ]);
    assert_failure(&out, &["--force"]);
    env.ok(&[
        "server",
        "add",
        "Lab",
        "--cert-out",
        taken.to_str().unwrap(),
        "--force",
    ]);
    assert!(
        std::fs::read_to_string(&taken)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    let out = env.run(&[
        "server",
        "rotate-key",
        "Lab",
        "--cert-out",
        taken.to_str().unwrap(),
    ]);
    assert_failure(&out, &["--force"]);
    env.ok(&[
        "server",
        "rotate-key",
        "Lab",
        "--cert-out",
        taken.to_str().unwrap(),
        "--force",
    ]);
    // export-cert writes the current and the staged certificate again.
    let cur = env.path("cur.der");
    env.ok(&[
        "server",
        "export-cert",
        "Main MDM",
        "--der",
        "--out",
        cur.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(&cur).unwrap(),
        std::fs::read(env.path("Main_MDM.der")).unwrap()
    );
    let staged = env.path("staged.pem");
    env.ok(&[
        "server",
        "export-cert",
        "lab",
        "--staged",
        "--out",
        staged.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(&staged).unwrap(),
        std::fs::read(&taken).unwrap()
    );
    assert_failure(
        &env.run(&[
            "server",
            "export-cert",
            "Main MDM",
            "--staged",
            "--out",
            env.path("n.pem").to_str().unwrap(),
        ]),
        &["no staged keypair"],
    );
    // events --at garbage blames --at.
    assert!(
        stderr(&env.run(&["server", "events", "Lab", "user-left", "--at", "garbage"]))
            .contains("--at \"garbage\"")
    );
    // jwt names the CLI commands, not a library function.
    let err = stderr(&env.run(&["jwt", "Lab"]));
    assert!(
        err.contains("mdmlink server set-uuid") && !err.contains("set_server_uuid"),
        "{err}"
    );
    // A certificate given as --key.
    let (key, cert) = keygen(&env);
    let token = env.token_for(&cert, "CK_1", EXPIRY, "t.p7m");
    assert_failure(
        &env.run(&[
            "open",
            "--key",
            cert.to_str().unwrap(),
            token.to_str().unwrap(),
        ]),
        &["this is a certificate, not a private key"],
    );
    // status does not say "valid: valid".
    let out = env.ok(&[
        "status",
        "--now",
        "2030-01-01T00:00:00Z",
        "--key",
        key.to_str().unwrap(),
        token.to_str().unwrap(),
    ]);
    assert!(out.starts_with("valid, 151 days left"), "{out}");
}

#[cfg(unix)]
#[test]
fn default_store_directories_are_owner_only_under_umask_000() {
    let env = Env::new();
    let home = env.path("home");
    std::fs::create_dir(&home).unwrap();
    let out = Command::new("sh")
        .args([
            "-c",
            "umask 000; exec \"$0\" server add Main --portal school-manager",
            BIN,
        ])
        .env_remove("MDMLINK_STORE")
        .env_remove("XDG_DATA_HOME")
        .env_remove("MDMLINK_PASSPHRASE")
        .env("HOME", &home)
        .current_dir(env.dir.path())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for dir in [".local", ".local/share", ".local/share/mdmlink"] {
        assert_eq!(mode(&home.join(dir)), 0o700, "{dir}");
    }
    assert_eq!(mode(&home.join(".local/share/mdmlink/store.sqlite")), 0o600);
}

#[test]
fn msp_organizations_each_with_a_main_mdm() {
    let env = Env::new();
    env.ok(&[
        "org",
        "add",
        "Contoso",
        "--portal",
        "business-manager",
        "--customer",
        "Contoso Ltd",
    ]);
    env.ok(&["org", "add", "Fabrikam", "--portal", "school-manager"]);
    let out = env.run(&["org", "add", "CONTOSO", "--portal", "business-manager"]);
    assert_failure(&out, &["already exists"]);
    for org in ["Contoso", "Fabrikam"] {
        let cert = env.path(&format!("{org}.crt"));
        env.ok(&[
            "server",
            "add",
            "Main MDM",
            "--org",
            org,
            "--cert-out",
            cert.to_str().unwrap(),
        ]);
    }
    // Two organizations: a server command must say which.
    let out = env.run(&["server", "remove", "Main MDM"]);
    assert_failure(&out, &["--org", "Contoso", "Fabrikam"]);
    let rows = env.list_json();
    let pairs: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["organization"].as_str().unwrap().to_owned(),
                r["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("Contoso".into(), "Main MDM".into()),
            ("Fabrikam".into(), "Main MDM".into())
        ]
    );
    let table = env.ok(&["server", "list", "--org", "fabrikam"]);
    assert!(table.starts_with("ORG"), "{table}");
    assert!(
        table.contains("Fabrikam") && !table.contains("Contoso"),
        "{table}"
    );
    let t = env.token_for(&env.path("Fabrikam.crt"), "CK_f", EXPIRY, "f.p7m");
    env.ok(&[
        "server",
        "install-token",
        "Main MDM",
        t.to_str().unwrap(),
        "--org",
        "Fabrikam",
    ]);
    // check spans organizations; --json lists what needs action with its organization.
    let out = env.run(&["check", "--json", "--now", &at(-time::Duration::days(100))]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let items: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["organization"], "Contoso");
    let orgs: Vec<serde_json::Value> =
        serde_json::from_str(&env.ok(&["org", "list", "--json"])).unwrap();
    assert_eq!(orgs[0]["servers"], 1);
    assert_eq!(orgs[0]["customer"], "Contoso Ltd");
    let out = env.run(&["org", "remove", "Contoso"]);
    assert_failure(&out, &["still has 1 server"]);
    env.ok(&["org", "remove", "Contoso", "--force"]);
    // One organization left: --org may be omitted again.
    env.ok(&[
        "server",
        "export-cert",
        "Main MDM",
        "--out",
        env.path("back.pem").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(env.path("back.pem")).unwrap(),
        std::fs::read(env.path("Fabrikam.crt")).unwrap()
    );
}

#[test]
fn import_a_server_linked_elsewhere_with_its_token() {
    let env = Env::new();
    let key = env.path("old.key");
    let cert = env.path("old.pem");
    env.ok(&[
        "keygen",
        "--name",
        "Old MDM",
        "--key-out",
        key.to_str().unwrap(),
        "--cert-out",
        cert.to_str().unwrap(),
    ]);
    let token = env.token_for(&cert, "CK_old", EXPIRY, "old.p7m");
    env.ok(&["org", "add", "Contoso", "--portal", "business-manager"]);
    env.ok(&[
        "server",
        "import",
        "Old MDM",
        "--key",
        key.to_str().unwrap(),
        "--cert",
        cert.to_str().unwrap(),
        "--token",
        token.to_str().unwrap(),
    ]);
    let row = &env.list_json()[0];
    assert_eq!(row["consumer_key"], "CK_old");
    assert_eq!(row["expires"], EXPIRY);
    // A token that the key does not open is refused, and nothing is added.
    let other = env.path("other.pem");
    env.ok(&[
        "keygen",
        "--name",
        "Other",
        "--key-out",
        env.path("other.key").to_str().unwrap(),
        "--cert-out",
        other.to_str().unwrap(),
    ]);
    let wrong = env.token_for(&other, "CK_x", EXPIRY, "wrong.p7m");
    let out = env.run(&[
        "server",
        "import",
        "Second",
        "--key",
        key.to_str().unwrap(),
        "--token",
        wrong.to_str().unwrap(),
    ]);
    assert_failure(&out, &["Second"]);
    assert_eq!(env.list_json().len(), 1);
}

#[test]
fn a_store_of_mdmlink_0_1_0_opens_with_its_servers() {
    let env = Env::new();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/store-v2/store.sqlite");
    std::fs::copy(&src, env.store()).unwrap();
    // A command that only reads changes nothing: it says how to upgrade.
    let out = env
        .cmd()
        .env("MDMLINK_PASSPHRASE", "fixture passphrase")
        .args(["server", "list", "--json"])
        .output()
        .unwrap();
    assert_failure(&out, &["schema version 2", "mdmlink store upgrade"]);
    assert_eq!(
        std::fs::read(env.store()).unwrap(),
        std::fs::read(&src).unwrap()
    );
    let out = env
        .cmd()
        .env("MDMLINK_PASSPHRASE", "fixture passphrase")
        .args(["store", "upgrade"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("converted the store of mdmlink 0.1.0"),
        "{}",
        stderr(&out)
    );
    let out = env
        .cmd()
        .env("MDMLINK_PASSPHRASE", "fixture passphrase")
        .args(["server", "list", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["organization"], "Northwind");
    assert_eq!(
        rows[0]["server_uuid"],
        "6f1b8f4e-1d1e-4c8a-9a0e-3f5c2b7d8e90"
    );
    assert_eq!(rows[1]["replacement"], "downloader-password-changed");
    // The key is sealed under the passphrase now: jwt needs it, and works with it.
    let out = env
        .cmd()
        .env("MDMLINK_PASSPHRASE", "fixture passphrase")
        .args(["jwt", "Main MDM"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn rekey_moves_the_store_to_a_key_file() {
    let env = Env::new();
    let keyfile = env.path("master.key");
    env.ok(&["store", "keygen", "--out", keyfile.to_str().unwrap()]);
    assert_eq!(mode(&keyfile), 0o600);
    env.add("Main MDM");
    // The store was made without a key; rekey encrypts it.
    env.ok(&[
        "store",
        "rekey",
        "--new-key-file",
        keyfile.to_str().unwrap(),
    ]);
    let k = keyfile.to_str().unwrap();
    env.ok(&[
        "--master-key-file",
        k,
        "server",
        "set-uuid",
        "Main MDM",
        "2a87349736cf4614a94f624e705841be",
    ]);
    env.ok(&["--master-key-file", k, "jwt", "Main MDM"]);
    let out = env.run(&["jwt", "Main MDM"]);
    assert_failure(&out, &["encrypted"]);
    let other = env.path("other.key");
    env.ok(&["store", "keygen", "--out", other.to_str().unwrap()]);
    let out = env.run(&[
        "--master-key-file",
        other.to_str().unwrap(),
        "jwt",
        "Main MDM",
    ]);
    assert_failure(&out, &["does not match"]);
}
