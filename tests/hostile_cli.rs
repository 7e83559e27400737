//! Hostile and careless use of the `mdmlink` command, round 3 (issue 23):
//! secrets in messages, a database that never answers, unbounded reads,
//! the certificate limit, wrong results and misleading messages. The real
//! binary, real files, real exit codes.
#![cfg(unix)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mdmlink");

/// A password no message may show, in any part.
const SECRET: &str = "ZqXjLEAKvw";

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

    fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env("MDMLINK_STORE", self.store())
            .env_remove("MDMLINK_PASSPHRASE")
            .env_remove("MDMLINK_MASTER_KEY")
            .current_dir(self.dir.path());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        common::expect_success(args, self.run(args))
    }

    /// Files in the working directory.
    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn keygen(&self, name: &str) -> (PathBuf, PathBuf) {
        let key = self.path(&format!("{name}.key"));
        let cert = self.path(&format!("{name}.pem"));
        self.ok(&[
            "keygen",
            "--name",
            name,
            "--key-out",
            key.to_str().unwrap(),
            "--cert-out",
            cert.to_str().unwrap(),
        ]);
        (key, cert)
    }

    fn token_for(&self, cert: &Path, consumer_key: &str, file: &str) -> PathBuf {
        let json = self.path(&format!("{file}.json"));
        std::fs::write(
            &json,
            format!(
                r#"{{"consumer_key":"{consumer_key}","consumer_secret":"CS_s","access_token":"AT_t","access_secret":"AS_s","access_token_expiry":"2030-06-01T00:00:00Z"}}"#
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
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn all_output(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A failure is one line on stderr, exit 1, no panic, naming `needles`.
fn assert_failure(out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(code(out), 1, "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}: {err}");
    }
}

/// No run of three or more characters of [`SECRET`] appears in `text`.
fn assert_no_secret(text: &str, context: &str) {
    for len in 3..=SECRET.len() {
        for start in 0..=SECRET.len() - len {
            let piece = &SECRET[start..start + len];
            assert!(
                !text.contains(piece),
                "{context}: {piece:?} of the password shows in: {text}"
            );
        }
    }
}

#[test]
fn store_urls_never_show_the_password_however_malformed() {
    let env = Env::new();
    // Port 1 on loopback: nothing listens, a refusal comes at once.
    let urls = [
        format!("postgres://mdm:P@{SECRET}@127.0.0.1:1/db"),
        format!("postgres://mdm:{SECRET}@@127.0.0.1:1/db"),
        format!("postgres://mdm:{SECRET}/x@127.0.0.1:1/db"),
        format!("postgres://mdm:{SECRET}?x@127.0.0.1:1/db"),
        format!("postgres://mdm:{SECRET}#x@127.0.0.1:1/db"),
        format!("postgres://mdm:{SECRET}%zz@127.0.0.1:1/db"),
        format!("postgres://mdm:{SECRET} @127.0.0.1:1/db"),
        format!("postgres://mdm:{SECRET}@127.0.0.1:notaport/db"),
        format!("postgres://mdm:{SECRET}@127.0.0.1:1/db?{SECRET}=1"),
        format!("postgres://mdm@127.0.0.1:1/db?password={SECRET}@x"),
        format!("postgres://mdm@127.0.0.1:1/db?password={SECRET}&sslmode=bogus"),
        format!("postgres://mdm:{SECRET}"),
        format!("Postgres://mdm:{SECRET}@127.0.0.1:1/db?sslmode=disable"),
        format!("POSTGRESQL://mdm:{SECRET}@127.0.0.1:1/db?sslmode=disable"),
        format!("postgress://mdm:{SECRET}@127.0.0.1:1/db"),
        format!("pgsql://mdm:{SECRET}@127.0.0.1:1/db"),
        format!("mysql://mdm:{SECRET}@127.0.0.1:1/db"),
        format!(" postgres://mdm:{SECRET}@127.0.0.1:1/db"),
        format!("host=127.0.0.1 port=1 password={SECRET} dbname=db"),
        format!("password={SECRET}"),
    ];
    for url in &urls {
        for args in [&["server", "list"][..], &["org", "list"][..]] {
            let out = env
                .cmd()
                .env("MDMLINK_STORE", url)
                .args(args)
                .output()
                .unwrap();
            assert_ne!(code(&out), 0, "{url:?} {args:?}: {}", all_output(&out));
            assert_no_secret(&all_output(&out), url);
        }
        let out = env
            .cmd()
            .args(["store", "copy", "--from", url, "--to", "x.sqlite"])
            .output()
            .unwrap();
        assert_ne!(code(&out), 0, "{url:?}");
        assert_no_secret(&all_output(&out), url);
    }
    // Nothing was created under a name made of the URL (nor x.sqlite).
    assert_eq!(env.files(), Vec::<String>::new());
    // A scheme in another case is PostgreSQL's: the error is about the
    // connection, not a file.
    let out = env
        .cmd()
        .env(
            "MDMLINK_STORE",
            format!("POSTGRES://mdm:{SECRET}@127.0.0.1:1/db?sslmode=disable"),
        )
        .args(["server", "list"])
        .output()
        .unwrap();
    assert_failure(
        &out,
        &["postgres://mdm:***@127.0.0.1:1/db", "could not connect"],
    );
}

#[test]
fn sslmode_verify_full_and_verify_ca_are_accepted() {
    let env = Env::new();
    for mode in ["verify-full", "verify-ca"] {
        let out = env
            .cmd()
            .env(
                "MDMLINK_STORE",
                format!("postgres://mdm@127.0.0.1:1/db?sslmode={mode}"),
            )
            .args(["server", "list"])
            .output()
            .unwrap();
        // Refused by the (absent) server, not by the parser.
        assert_failure(&out, &["could not connect", "sslmode=require"]);
    }
}

#[test]
fn a_server_that_never_answers_times_out_with_a_clear_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept every connection and keep it open, saying nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let env = Env::new();
    for query in ["connect_timeout=1", "connect_timeout=1&sslmode=disable"] {
        let started = Instant::now();
        let mut child = env
            .cmd()
            .env(
                "MDMLINK_STORE",
                format!("postgres://mdm:{SECRET}@127.0.0.1:{port}/db?{query}"),
            )
            .arg("check")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut finished = false;
        while started.elapsed() < Duration::from_secs(20) {
            if child.try_wait().unwrap().is_some() {
                finished = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if !finished {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mdmlink check hung on a server that never answers ({query})");
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{:?}",
            started.elapsed()
        );
        // `check` cannot tell: 3.
        assert_eq!(code(&out), 3, "{}", stderr(&out));
        assert!(
            stderr(&out).contains("did not answer within 1 s"),
            "{}",
            stderr(&out)
        );
        assert_no_secret(&all_output(&out), query);
    }
}

#[test]
fn store_paths_are_paths_never_sqlite_uris() {
    let env = Env::new();
    std::fs::write(env.path("notes.txt"), "notes").unwrap();
    std::os::unix::fs::symlink(env.path("notes.txt"), env.path("file:link.sqlite")).unwrap();
    let out = env
        .cmd()
        .env("MDMLINK_STORE", "file:link.sqlite")
        .args(["server", "add", "A", "--portal", "school-manager"])
        .output()
        .unwrap();
    assert_failure(&out, &["symbolic link", "not an mdmlink store"]);
    assert_eq!(
        std::fs::read_to_string(env.path("notes.txt")).unwrap(),
        "notes"
    );
    // A name SQLite would take as a URI or as memory is a file of that name.
    for name in ["file:s.sqlite?mode=ro", ":memory:"] {
        let run = |args: &[&str]| {
            env.cmd()
                .env("MDMLINK_STORE", name)
                .args(args)
                .output()
                .unwrap()
        };
        let out = run(&["org", "add", "Contoso", "--portal", "school-manager"]);
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
        let meta = std::fs::symlink_metadata(env.path(name)).unwrap();
        assert!(meta.is_file() && meta.len() > 0, "{name}");
        let out = run(&["org", "list"]);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Contoso"),
            "{name}"
        );
    }
}

#[test]
fn read_only_commands_create_nothing_and_a_missing_copy_source_is_an_error() {
    let env = Env::new();
    for args in [
        &["org", "list"][..],
        &["server", "list"][..],
        &["check"][..],
        &[
            "store",
            "copy",
            "--from",
            "nope.sqlite",
            "--to",
            "target.sqlite",
        ][..],
    ] {
        let out = env.run(args);
        if args[0] == "store" {
            assert_failure(&out, &["--from", "nope.sqlite", "nothing was copied"]);
        }
    }
    assert_eq!(env.files(), Vec::<String>::new(), "nothing created");
    // Commands that need something already there fail without leaving an
    // empty store behind.
    let (key, cert) = env.keygen("K");
    for args in [
        vec!["server", "add", "X"],
        vec![
            "server",
            "import",
            "X",
            "--key",
            key.to_str().unwrap(),
            "--cert",
            cert.to_str().unwrap(),
        ],
        vec!["server", "install-token", "X", cert.to_str().unwrap()],
        vec!["server", "export-cert", "X", "--out", "x.pem"],
        vec!["server", "remove", "X"],
        vec![
            "server",
            "set-uuid",
            "X",
            "2A873497-36CF-4614-A94F-624E705841BE",
        ],
        vec!["jwt", "X"],
        vec!["org", "remove", "X"],
        vec!["store", "rekey", "--decrypt"],
    ] {
        let out = env.run(&args);
        assert_failure(&out, &["no store here"]);
        assert!(!env.store().exists(), "{args:?} left a store behind");
    }
}

#[test]
fn a_closed_output_keeps_the_exit_code() {
    let env = Env::new();
    env.ok(&["server", "add", "Main", "--portal", "school-manager"]);
    // Without a token the server must be attended to: check says 2.
    assert_eq!(code(&env.run(&["check"])), 2);
    for args in [
        &["check"][..],
        &["server", "list"][..],
        &["org", "list"][..],
    ] {
        let mut child = env
            .cmd()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before a byte is written (`| head -0`).
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let expected = if args[0] == "check" { 2 } else { 0 };
        assert_eq!(code(&out), expected, "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?} is quiet");
    }
}

#[test]
fn a_master_key_file_must_be_owner_only_and_is_called_what_it_is() {
    use std::os::unix::fs::PermissionsExt as _;
    let env = Env::new();
    let key = env.path("master.key");
    env.ok(&["store", "keygen", "--out", key.to_str().unwrap()]);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let k = key.to_str().unwrap();
    let out = env.run(&["--master-key-file", k, "server", "list"]);
    assert_failure(&out, &["master.key", "0644", "chmod 600"]);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    env.ok(&[
        "--master-key-file",
        k,
        "server",
        "add",
        "Main",
        "--portal",
        "school-manager",
    ]);
    // A directory or FIFO given as the key file: "master key file", not
    // "private key file".
    let dir = env.dir.path().to_str().unwrap();
    let out = env.run(&["--master-key-file", dir, "server", "list"]);
    assert_failure(&out, &["master key file"]);
    assert!(!stderr(&out).contains("private key"), "{}", stderr(&out));
    // A passphrase on a store keyed with a key file: said so, not "invalid".
    let out = env
        .cmd()
        .env("MDMLINK_PASSPHRASE", "a long enough passphrase")
        .args(["server", "list"])
        .output()
        .unwrap();
    assert_failure(&out, &["master key", "passphrase"]);
    assert!(!stderr(&out).contains("invalid"), "{}", stderr(&out));
}

#[test]
fn passphrases_lose_their_line_ending_and_new_ones_have_a_minimum() {
    let env = Env::new();
    let out = env
        .cmd()
        .env("MDMLINK_PASSPHRASE", "x")
        .args(["server", "add", "Main", "--portal", "school-manager"])
        .output()
        .unwrap();
    assert_failure(&out, &["at least 12 characters"]);
    let with = |pass: &str, args: &[&str]| {
        env.cmd()
            .env("MDMLINK_PASSPHRASE", pass)
            .args(args)
            .output()
            .unwrap()
    };
    let out = with(
        "store secret 1",
        &["server", "add", "Main", "--portal", "school-manager"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for pass in ["store secret 1\n", "store secret 1\r\n"] {
        let out = with(pass, &["jwt", "Main"]);
        // The key opens (the JWT then needs a UUID, which is another matter).
        assert!(
            !stderr(&out).contains("does not match"),
            "{pass:?}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("server UUID"),
            "{pass:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn serial_and_profile_files_are_bounded_and_named_with_their_lines() {
    let env = Env::new();
    let fifo = env.path("fifo");
    common::run_ok("mkfifo", &[fifo.to_str().unwrap()]);
    let fifo = fifo.to_str().unwrap();
    for args in [
        vec![
            "profile",
            "assign",
            "Main",
            "U",
            "--serials-file",
            "/dev/zero",
        ],
        vec!["profile", "assign", "Main", "U", "--serials-file", fifo],
        vec!["profile", "define", "Main", "--file", "/dev/zero"],
        vec!["profile", "define", "Main", "--file", fifo],
    ] {
        let started = Instant::now();
        let out = env.run(&args);
        assert!(started.elapsed() < Duration::from_secs(10), "{args:?}");
        assert_failure(&out, &["not a regular file"]);
    }
    let big = env.path("big.txt");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(64 * 1024 * 1024)
        .unwrap();
    let out = env.run(&[
        "profile",
        "assign",
        "Main",
        "U",
        "--serials-file",
        big.to_str().unwrap(),
    ]);
    assert_failure(&out, &["big.txt", "at most"]);
    // A byte order mark is not part of the first serial; a fullwidth serial
    // is shown escaped, with its file and line.
    let serials = env.path("serials.txt");
    std::fs::write(&serials, "\u{FEFF}C02XYZ\n\nＡＢＣ１\n").unwrap();
    let out = env.run(&[
        "profile",
        "assign",
        "Main",
        "U",
        "--serials-file",
        serials.to_str().unwrap(),
    ]);
    assert_failure(&out, &["serials.txt", "line 3", "\\u{ff21}"]);
    assert!(!stderr(&out).contains("https://"), "{}", stderr(&out));
    std::fs::write(&serials, "\u{FEFF}C02XYZ\nC02ABC\n").unwrap();
    let out = env.run(&[
        "profile",
        "assign",
        "Main",
        "U",
        "--serials-file",
        serials.to_str().unwrap(),
    ]);
    // The serials pass; what fails is the missing store's server.
    assert_eq!(code(&out), 1);
    assert!(
        !stderr(&out).contains("serial number ("),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_import_without_its_certificate_is_refused() {
    let env = Env::new();
    let (key, cert) = env.keygen("Old");
    let token = env.token_for(&cert, "CK_old", "old.p7m");
    env.ok(&["org", "add", "Contoso", "--portal", "business-manager"]);
    for extra in [&[][..], &["--token", token.to_str().unwrap()][..]] {
        let mut args = vec!["server", "import", "Old", "--key", key.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = env.run(&args);
        assert_failure(&out, &["Old", "give its certificate"]);
    }
    assert_eq!(env.ok(&["server", "list", "--json"]).trim(), "[]");
    env.ok(&[
        "server",
        "import",
        "Old",
        "--key",
        key.to_str().unwrap(),
        "--cert",
        cert.to_str().unwrap(),
    ]);
    let list: serde_json::Value =
        serde_json::from_str(&env.ok(&["server", "list", "--json"])).unwrap();
    assert!(list[0]["certificate_serial"].is_string(), "{list}");
}

#[test]
fn one_token_for_two_servers_is_refused() {
    let env = Env::new();
    let (key, cert) = env.keygen("One");
    let token = env.token_for(&cert, "CK_shared", "one.p7m");
    env.ok(&["org", "add", "Contoso", "--portal", "business-manager"]);
    let import = |name: &str| {
        env.run(&[
            "server",
            "import",
            name,
            "--key",
            key.to_str().unwrap(),
            "--cert",
            cert.to_str().unwrap(),
            "--token",
            token.to_str().unwrap(),
        ])
    };
    assert_eq!(code(&import("One")), 0);
    assert_failure(&import("Copy"), &["already installed for server \"One\""]);
    // Installing it on another server is refused too, unless forced.
    env.ok(&[
        "server",
        "import",
        "Three",
        "--key",
        key.to_str().unwrap(),
        "--cert",
        cert.to_str().unwrap(),
    ]);
    let out = env.run(&["server", "install-token", "Three", token.to_str().unwrap()]);
    assert_failure(&out, &["already installed for server \"One\""]);
}

#[test]
fn server_uuids_are_uuids_in_one_form() {
    let env = Env::new();
    env.ok(&["server", "add", "Main", "--portal", "school-manager"]);
    let out = env.run(&["server", "set-uuid", "Main", "x"]);
    assert_failure(&out, &["is not a server UUID", "32 hexadecimal digits"]);
    let out = env.ok(&[
        "server",
        "set-uuid",
        "Main",
        "2a87349736cf4614a94f624e705841be",
    ]);
    assert!(
        out.contains("2A873497-36CF-4614-A94F-624E705841BE"),
        "{out}"
    );
    let list: serde_json::Value =
        serde_json::from_str(&env.ok(&["server", "list", "--json"])).unwrap();
    assert_eq!(
        list[0]["server_uuid"],
        "2A873497-36CF-4614-A94F-624E705841BE"
    );
}

#[test]
fn organizations_are_called_organizations_and_shown_as_stored() {
    let env = Env::new();
    let out = env.run(&["org", "add", "", "--portal", "school-manager"]);
    assert_failure(&out, &["organization name is empty"]);
    assert!(!stderr(&out).contains("server"), "{}", stderr(&out));
    env.ok(&["org", "add", "Contoso", "--portal", "school-manager"]);
    let out = env.run(&["org", "add", "CONTOSO", "--portal", "school-manager"]);
    assert_failure(&out, &["organization \"Contoso\" already exists"]);
    let out = env.ok(&["org", "remove", "contoso", "--force"]);
    assert!(out.contains("\"Contoso\""), "{out}");
}

#[test]
fn a_key_of_another_kind_is_named() {
    let env = Env::new();
    env.ok(&["org", "add", "Contoso", "--portal", "school-manager"]);
    let ec = env.path("ec.pem");
    std::fs::write(
        &ec,
        "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5dT4mGcBRKz/koAoGCCqGSM49\n-----END EC PRIVATE KEY-----\n",
    )
    .unwrap();
    let (_, cert) = env.keygen("Other");
    for (file, needle) in [
        (ec.as_path(), "elliptic-curve"),
        (cert.as_path(), "certificate, not a private key"),
    ] {
        let out = env.run(&["server", "import", "X", "--key", file.to_str().unwrap()]);
        assert_failure(&out, &[needle]);
        assert!(!stderr(&out).contains("block found"), "{}", stderr(&out));
    }
}
