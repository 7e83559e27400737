//! Several `mdmlink` instances on one PostgreSQL database, as an MDM product
//! behind a load balancer runs them: separate OS processes of the real
//! binary, at once. Needs `MDMLINK_TEST_POSTGRES_URL` (scripts/with-postgres.sh
//! starts a throwaway server and sets it); each test works in a schema of its own.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use mdmlink::store::{PostgresStore, StoreExt, conformance::server_row};

const BIN: &str = env!("CARGO_BIN_EXE_mdmlink");
const MASTER_KEY: &str = "5f0c2a9b7e4d81f36a2b9c0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b";
const EXPIRY: &str = "2030-06-01T00:00:00Z";

/// The test server's URL in a schema of its own, or `None` after saying how
/// to run these tests (a failure under CI=true).
fn database() -> Option<String> {
    let server = match std::env::var("MDMLINK_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but MDMLINK_TEST_POSTGRES_URL is not set: run the tests through scripts/with-postgres.sh"
            );
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                // Straight to stderr: the test harness captures eprintln!.
                use std::io::Write as _;
                let _ = std::io::stderr().write_all(
                    b"PostgreSQL tests not run: run `bash scripts/with-postgres.sh` (starts a throwaway server) or set MDMLINK_TEST_POSTGRES_URL=postgres://...\n",
                );
            });
            return None;
        }
    };
    let mut random = [0u8; 6];
    getrandom::fill(&mut random).unwrap();
    let schema: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let sep = if server.contains('?') { '&' } else { '?' };
    Some(format!("{server}{sep}schema=cli_{schema}"))
}

/// The password in a `postgres://user:password@...` URL.
fn password_of(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    let userinfo = rest.split_once('@').map_or("", |(u, _)| u);
    userinfo
        .split_once(':')
        .map_or_else(|| "\u{0}(no password)".to_owned(), |(_, p)| p.to_owned())
}

struct Env {
    dir: tempfile::TempDir,
    url: String,
}

impl Env {
    fn new(url: String) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            url,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `mdmlink ARGS` on the database, with the master key.
    fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env("MDMLINK_STORE", &self.url)
            .env("MDMLINK_MASTER_KEY", MASTER_KEY)
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

    /// A token sealed to `cert` the way the portal does (its access token
    /// named after `file`, so each file is a new token); returns its file.
    fn token_for(&self, cert: &Path, consumer_key: &str, file: &str) -> PathBuf {
        let json = self.path(&format!("{file}.json"));
        std::fs::write(
            &json,
            format!(
                r#"{{"consumer_key":"{consumer_key}","consumer_secret":"CS_secret","access_token":"AT_{file}","access_secret":"AS_secret","access_token_expiry":"{EXPIRY}"}}"#
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

    fn add(&self, org: &str, name: &str) -> PathBuf {
        let cert = self.path(&format!("{org}-{}.crt", name.replace(' ', "_")));
        self.ok(&[
            "server",
            "add",
            name,
            "--org",
            org,
            "--cert-out",
            cert.to_str().unwrap(),
        ]);
        cert
    }

    fn list(&self) -> Vec<serde_json::Value> {
        serde_json::from_str::<serde_json::Value>(&self.ok(&["server", "list", "--json"]))
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }
}

fn text(v: &serde_json::Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_owned()
}

/// (organization, name) of every listed server, and the certificates each
/// organization holds (current plus staged).
fn inventory(list: &[serde_json::Value]) -> (Vec<(String, String)>, BTreeMap<String, usize>) {
    let mut names = Vec::new();
    let mut certificates = BTreeMap::new();
    for s in list {
        let org = text(s, "organization");
        names.push((org.clone(), text(s, "name").to_lowercase()));
        *certificates.entry(org).or_default() += usize::from(!s["certificate_serial"].is_null())
            + usize::from(!s["staging_pending_since"].is_null());
    }
    (names, certificates)
}

#[derive(Debug, Clone)]
struct Op {
    args: Vec<String>,
    ok: bool,
    output: String,
}

#[test]
fn four_instances_run_400_mixed_operations_and_lose_nothing() {
    let Some(url) = database() else { return };
    let env = Arc::new(Env::new(url.clone()));
    for org in ["Contoso", "Fabrikam", "Northwind"] {
        env.ok(&["org", "add", org, "--portal", "business-manager"]);
    }
    // Two servers per organization with a token file each, for the
    // one-server operations.
    let mut tokens = BTreeMap::new();
    for org in ["Contoso", "Fabrikam", "Northwind"] {
        for base in ["Base 0", "Base 1"] {
            let cert = env.add(org, base);
            let file = format!("{org}-{}.p7m", base.replace(' ', "_"));
            tokens.insert(
                (org, base),
                env.token_for(&cert, &format!("CK_{org}"), &file),
            );
        }
    }
    // Northwind is 5 certificates short of the portal's limit: the workers'
    // adds race for the last places. (Filled through the library: 245
    // key generations would make this test slow, not better.)
    {
        let mut store = PostgresStore::open(&url).unwrap();
        store
            .write(|tx| -> Result<(), mdmlink::store::StoreError> {
                let org = tx.find_organization("northwind")?.unwrap().id;
                for i in 0..121 {
                    tx.insert_server(&server_row(org, &format!("Filler {i}"), 2))?;
                }
                // The two bases hold 2; 242 + 1 + 2 = 245.
                tx.insert_server(&server_row(org, "Filler last", 1))?;
                Ok(())
            })
            .unwrap();
    }
    const WORKERS: usize = 4;
    const EACH: usize = 100;
    let orgs = ["Contoso", "Fabrikam", "Northwind"];
    let barrier = Arc::new(Barrier::new(WORKERS));
    let tokens = Arc::new(tokens);
    let threads: Vec<_> = (0..WORKERS)
        .map(|w| {
            let env = Arc::clone(&env);
            let barrier = Arc::clone(&barrier);
            let tokens = Arc::clone(&tokens);
            std::thread::spawn(move || {
                barrier.wait();
                let mut ops = Vec::new();
                for j in 0..EACH {
                    let org = orgs[(w + j) % 3];
                    let base = if j % 2 == 0 { "Base 0" } else { "Base 1" };
                    let cert = env.path(&format!("w{w}-{j}.crt"));
                    let args: Vec<String> = match j % 10 {
                        // Every worker adds the same name at the same step.
                        0 => vec![
                            "server".into(),
                            "add".into(),
                            format!("Race {}", j / 10),
                            "--org".into(),
                            "Contoso".into(),
                        ],
                        1 | 2 => vec![
                            "server".into(),
                            "add".into(),
                            format!("W{w} S{j}"),
                            "--org".into(),
                            org.into(),
                            "--cert-out".into(),
                            cert.to_str().unwrap().into(),
                        ],
                        3 => vec![
                            "server".into(),
                            "install-token".into(),
                            base.into(),
                            tokens[&(org, base)].to_str().unwrap().into(),
                            "--org".into(),
                            org.into(),
                        ],
                        4 => vec![
                            "server".into(),
                            "events".into(),
                            base.into(),
                            "password-changed".into(),
                            "--org".into(),
                            org.into(),
                        ],
                        5 => vec![
                            "server".into(),
                            "rotate-key".into(),
                            base.into(),
                            "--org".into(),
                            org.into(),
                            "--cert-out".into(),
                            cert.to_str().unwrap().into(),
                        ],
                        6 => vec![
                            "server".into(),
                            "discard-staging".into(),
                            base.into(),
                            "--org".into(),
                            org.into(),
                        ],
                        // Remove what this worker added at step j - 6 (j % 10 == 1).
                        7 => vec![
                            "server".into(),
                            "remove".into(),
                            format!("W{w} S{}", j - 6),
                            "--org".into(),
                            orgs[(w + j - 6) % 3].into(),
                        ],
                        _ => vec!["server".into(), "list".into(), "--json".into()],
                    };
                    let out = env.cmd().args(&args).output().unwrap();
                    let output = format!(
                        "{}{}",
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    );
                    assert!(
                        !output.contains("panicked") && out.status.code().is_some(),
                        "{args:?}: {output}"
                    );
                    if args[1] == "list" {
                        assert!(out.status.success(), "{args:?}: {output}");
                        let list: Vec<serde_json::Value> =
                            serde_json::from_slice(&out.stdout).unwrap();
                        let (names, _) = inventory(&list);
                        let unique: BTreeSet<_> = names.iter().collect();
                        assert_eq!(unique.len(), names.len(), "a listing showed a duplicate");
                    }
                    ops.push(Op {
                        args,
                        ok: out.status.success(),
                        output,
                    });
                }
                ops
            })
        })
        .collect();
    let ops: Vec<Op> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(ops.len(), WORKERS * EACH);

    let list = env.list();
    let (names, certificates) = inventory(&list);
    let present: BTreeSet<(String, String)> = names.iter().cloned().collect();
    assert_eq!(present.len(), names.len(), "no duplicate names");
    for (org, count) in &certificates {
        assert!(*count <= 250, "{org} holds {count} certificates");
    }
    let mut limit_refusals = 0;
    for op in &ops {
        let org_of = |args: &[String]| {
            let i = args.iter().position(|a| a == "--org").unwrap();
            args[i + 1].clone()
        };
        match op.args[1].as_str() {
            "add" if op.ok => {
                let added = (org_of(&op.args), op.args[2].to_lowercase());
                let removed = ops
                    .iter()
                    .any(|r| r.ok && r.args[1] == "remove" && r.args[2].to_lowercase() == added.1);
                assert!(
                    present.contains(&added) || removed,
                    "reported added, then lost: {added:?}"
                );
            }
            "add" if op.output.contains("250") => limit_refusals += 1,
            "remove" if op.ok => {
                let gone = (org_of(&op.args), op.args[2].to_lowercase());
                assert!(
                    !present.contains(&gone),
                    "reported removed, still there: {gone:?}"
                );
            }
            _ => {}
        }
    }
    // Racing adds of one name: exactly one winner each, the others told why.
    for r in 0..EACH / 10 {
        let name = format!("Race {r}");
        let attempts: Vec<&Op> = ops.iter().filter(|o| o.args[2] == name).collect();
        assert_eq!(attempts.len(), WORKERS);
        let won = attempts.iter().filter(|o| o.ok).count();
        assert_eq!(won, 1, "{name}: {attempts:?}");
        for lost in attempts.iter().filter(|o| !o.ok) {
            assert!(lost.output.contains("already"), "{name}: {}", lost.output);
        }
        assert!(present.contains(&("Contoso".to_owned(), name.to_lowercase())));
    }
    assert!(limit_refusals > 0, "the limit was reached and enforced");
}

#[test]
fn an_instance_killed_mid_write_leaves_no_half_write() {
    let Some(url) = database() else { return };
    let env = Env::new(url);
    env.ok(&["org", "add", "Contoso", "--portal", "business-manager"]);
    let mut done = Vec::new();
    for i in 0..12u64 {
        let name = format!("K{i}");
        let cert = env.path(&format!("k{i}.crt"));
        let mut child = env
            .cmd()
            .args(["server", "add", &name, "--cert-out", cert.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill at varied moments: during key generation, the transaction, or after.
        std::thread::sleep(Duration::from_millis(20 + 40 * i));
        let _ = std::process::Command::new("kill")
            .args(["-9", &child.id().to_string()])
            .status();
        let status = child.wait().unwrap();
        if status.success() {
            done.push(name);
        }
    }
    let list = env.list();
    let names: Vec<String> = list.iter().map(|s| text(s, "name")).collect();
    for name in &done {
        assert!(names.contains(name), "{name} was reported added, then lost");
    }
    // Every server that is there is whole: its certificate exports and its
    // private key opens a token sealed to that certificate.
    for name in &names {
        let cert = env.path(&format!("{name}.exported.crt"));
        env.ok(&[
            "server",
            "export-cert",
            name,
            "--out",
            cert.to_str().unwrap(),
        ]);
        let token = env.token_for(&cert, &format!("CK_{name}"), &format!("{name}.p7m"));
        env.ok(&["server", "install-token", name, token.to_str().unwrap()]);
    }
    // The database kept running and took the next write.
    env.add("Contoso", "After the kills");
}

#[test]
fn a_sqlite_store_copies_into_postgres_with_nothing_lost() {
    let Some(url) = database() else { return };
    let env = Env::new(url.clone());
    let sqlite = env.path("store.sqlite");
    let local = |args: &[&str]| {
        let out = env
            .cmd()
            .env("MDMLINK_STORE", &sqlite)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    local(&[
        "org",
        "add",
        "Contoso",
        "--portal",
        "business-manager",
        "--customer",
        "Contoso Ltd",
    ]);
    local(&["org", "add", "Fabrikam", "--portal", "school-manager"]);
    let mut certs = Vec::new();
    for org in ["Contoso", "Fabrikam"] {
        let cert = env.path(&format!("{org}.crt"));
        local(&[
            "server",
            "add",
            "Main MDM",
            "--org",
            org,
            "--cert-out",
            cert.to_str().unwrap(),
        ]);
        certs.push(cert);
    }
    let token = env.token_for(&certs[0], "CK_contoso", "contoso.p7m");
    local(&[
        "server",
        "install-token",
        "Main MDM",
        "--org",
        "Contoso",
        token.to_str().unwrap(),
    ]);
    local(&[
        "server",
        "events",
        "Main MDM",
        "--org",
        "Fabrikam",
        "password-changed",
    ]);
    local(&["server", "rotate-key", "Main MDM", "--org", "Fabrikam"]);
    let api_key =
        mdmlink::portal_api::ApiKey::generate(&mut mdmlink::SystemRng::default()).unwrap();
    let api_key_file = env.path("api_key.pem");
    std::fs::write(&api_key_file, api_key.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
    local(&[
        "api",
        "add",
        "--org",
        "Fabrikam",
        "--client-id",
        "SCHOOLAPI.0c1d",
        "--key-id",
        "K1",
        "--key",
        api_key_file.to_str().unwrap(),
    ]);
    let api_before = local(&["api", "list", "--json"]);
    let before = local(&["server", "list", "--json"]);

    // Without a master key a shared database refuses the secrets.
    let out = env
        .cmd()
        .env_remove("MDMLINK_MASTER_KEY")
        .env("MDMLINK_STORE", &sqlite)
        .args([
            "store",
            "copy",
            "--from",
            &format!("sqlite:{}", sqlite.display()),
            "--to",
            &url,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let copy = env.ok(&[
        "store",
        "copy",
        "--from",
        &format!("sqlite:{}", sqlite.display()),
        "--to",
        &url,
    ]);
    assert!(
        copy.contains("2 organization(s), 2 server(s), 1 API account(s)"),
        "{copy}"
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&api_before).unwrap(),
        serde_json::from_str::<serde_json::Value>(&env.ok(&["api", "list", "--json"])).unwrap(),
        "api list --json is the same before and after"
    );
    // The API key was re-sealed for the database's ids: it opens there.
    let master_key =
        mdmlink::store::master_key::MasterKey::parse(MASTER_KEY.as_bytes(), "test").unwrap();
    let mut registry = mdmlink::store::registry::Registry::new(
        PostgresStore::open(&url).unwrap(),
        Some(mdmlink::store::master_key::MasterKeySource::Key(master_key)),
    );
    let account = registry.api_account(Some("Fabrikam")).unwrap();
    assert_eq!(account.key().verifying_key(), api_key.verifying_key());
    assert!(
        !copy.contains(&password_of(&url)),
        "the URL's password is not printed: {copy}"
    );
    let after = env.ok(&["server", "list", "--json"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&before).unwrap(),
        serde_json::from_str::<serde_json::Value>(&after).unwrap(),
        "server list --json is the same before and after"
    );
    // The keys moved too: the copied server opens another token sealed to
    // it (--force: it expires no later than the installed one).
    let again = env.token_for(&certs[0], "CK_contoso", "contoso-2.p7m");
    env.ok(&[
        "server",
        "install-token",
        "Main MDM",
        "--org",
        "Contoso",
        "--force",
        again.to_str().unwrap(),
    ]);
    // A second copy into the now non-empty database is refused.
    let out = env.run(&[
        "store",
        "copy",
        "--from",
        &format!("sqlite:{}", sqlite.display()),
        "--to",
        &url,
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
}

#[test]
fn without_a_master_key_no_secret_reaches_the_database() {
    let Some(url) = database() else { return };
    let env = Env::new(url);
    let out = env
        .cmd()
        .env_remove("MDMLINK_MASTER_KEY")
        .args(["org", "add", "Contoso", "--portal", "business-manager"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = env
        .cmd()
        .env_remove("MDMLINK_MASTER_KEY")
        .args(["server", "add", "Main MDM"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("master key"), "{err}");
    assert!(
        !err.contains(&password_of(&env.url)),
        "no password in messages: {err}"
    );
    // Nor an API account's key.
    let key = mdmlink::portal_api::ApiKey::generate(&mut mdmlink::SystemRng::default()).unwrap();
    let key_file = env.path("api_key.pem");
    std::fs::write(&key_file, key.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
    let add = |master_key: bool| {
        let mut c = env.cmd();
        if !master_key {
            c.env_remove("MDMLINK_MASTER_KEY");
        }
        c.args([
            "api",
            "add",
            "--client-id",
            "BUSINESSAPI.5e1f",
            "--key-id",
            "K1",
            "--key",
        ])
        .arg(&key_file)
        .output()
        .unwrap()
    };
    let out = add(false);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("master key") && err.contains("api_private_key"),
        "{err}"
    );
    assert!(env.list().is_empty(), "nothing half written");
    let list = |env: &Env| {
        let out = env.cmd().args(["api", "list", "--json"]).output().unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    assert_eq!(list(&env), serde_json::json!([]), "nothing half written");
    // With one, only ciphertext reaches the table.
    let out = add(true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(list(&env)[0]["client_id"], "BUSINESSAPI.5e1f");
    let mut store = PostgresStore::open(&env.url).unwrap();
    let rows = store.read(|tx| tx.list_api_accounts()).unwrap();
    let stored = rows[0].private_key.as_bytes();
    let der = key.to_pkcs8_der().unwrap();
    assert!(stored.starts_with(b"MK1"));
    assert!(!stored.windows(der.len()).any(|w| w == der.as_slice()));
}

#[test]
fn read_only_commands_create_no_schema_or_tables() {
    let Some(url) = database() else { return };
    let env = Env::new(url.clone());
    let out = env.ok(&["org", "list", "--json"]);
    assert_eq!(out.trim(), "[]");
    assert_eq!(env.ok(&["server", "list", "--json"]).trim(), "[]");
    let out = env.run(&["check"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Nothing was made in the (mistyped, new) schema.
    let location = mdmlink::store::StoreLocation::parse_str(&url).unwrap();
    assert!(
        mdmlink::store::open_store(&location, mdmlink::store::OpenMode::ReadOnly)
            .unwrap()
            .is_none(),
        "a read-only command created mdmlink's tables"
    );
    // A command that writes creates them; then reads see them.
    env.ok(&["org", "add", "Contoso", "--portal", "school-manager"]);
    assert!(env.ok(&["org", "list"]).contains("Contoso"));
    assert!(
        mdmlink::store::open_store(&location, mdmlink::store::OpenMode::ReadOnly)
            .unwrap()
            .is_some()
    );
}
