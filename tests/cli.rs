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
        let out = self.run(args);
        assert!(
            out.status.success(),
            "mdmlink {args:?} failed ({:?}): {}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
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
    std::fs::copy(src, env.store()).unwrap();
    let out = env
        .cmd()
        .env("MDMLINK_PASSPHRASE", "fixture passphrase")
        .args(["server", "list", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("converted the store of mdmlink 0.1.0"),
        "{}",
        stderr(&out)
    );
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
        "U-1",
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
