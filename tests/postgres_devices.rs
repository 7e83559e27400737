//! The device assignment service's state on PostgreSQL: `devices sync` and
//! `devices list` through the real binary, a full refetch that forgets what
//! the service no longer lists, and two runs syncing one server at once
//! (they never interleave pages). Needs `MDMLINK_TEST_POSTGRES_URL`
//! (scripts/with-postgres.sh); each test works in a schema of its own.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Barrier};

use mdmlink::dep::syncer::Syncer;
use mdmlink::session::simulator::{SimulatedAccount, Simulator};
use mdmlink::store::registry::{Registry, RegistryError};
use mdmlink::store::{PostgresStore, StoreExt};

const BIN: &str = env!("CARGO_BIN_EXE_mdmlink");
const MASTER_KEY: &str = "5f0c2a9b7e4d81f36a2b9c0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b";

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
            use std::io::Write as _;
            let _ = std::io::stderr().write_all(
                b"PostgreSQL tests not run: run `bash scripts/with-postgres.sh` or set MDMLINK_TEST_POSTGRES_URL=postgres://...\n",
            );
            return None;
        }
    };
    let mut random = [0u8; 6];
    getrandom::fill(&mut random).unwrap();
    let schema: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let sep = if server.contains('?') { '&' } else { '?' };
    Some(format!("{server}{sep}schema=dev_{schema}"))
}

struct Env {
    dir: tempfile::TempDir,
    url: String,
}

impl Env {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .env("MDMLINK_STORE", &self.url)
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
}

/// A server "Main MDM" in the database with a token installed, and a
/// simulator that knows the token, with `devices` devices.
fn linked(url: String, devices: u32) -> (Env, Simulator, mdmlink::ServerToken) {
    let env = Env {
        dir: tempfile::tempdir().unwrap(),
        url,
    };
    let cert = env.path("main.crt");
    env.ok(&[
        "server",
        "add",
        "Main MDM",
        "--portal",
        "business-manager",
        "--cert-out",
        cert.to_str().unwrap(),
    ]);
    let json = env.path("t.json");
    std::fs::write(
        &json,
        r#"{"consumer_key":"CK_pg","consumer_secret":"CS_pg","access_token":"AT_pg","access_secret":"AS_pg","access_token_expiry":"2030-06-01T00:00:00Z"}"#,
    )
    .unwrap();
    let file = env.path("t.p7m");
    env.ok(&[
        "seal",
        "--cert",
        cert.to_str().unwrap(),
        "--in",
        json.to_str().unwrap(),
        "--out",
        file.to_str().unwrap(),
    ]);
    env.ok(&[
        "server",
        "install-token",
        "Main MDM",
        file.to_str().unwrap(),
    ]);
    let token = mdmlink::ServerToken::from_json(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let sim = Simulator::start(vec![
        SimulatedAccount::new(token.clone(), "Org").with_devices(devices, 5),
    ])
    .unwrap();
    (env, sim, token)
}

fn listed(env: &Env) -> Vec<String> {
    let list = env.ok(&["devices", "list", "Main MDM", "--json"]);
    let devices: Vec<serde_json::Value> = serde_json::from_str(&list).unwrap();
    let mut serials: Vec<String> = devices
        .iter()
        .map(|d| d["serial_number"].as_str().unwrap().to_owned())
        .collect();
    serials.sort_unstable();
    serials
}

#[test]
fn devices_sync_and_list_work_on_postgres() {
    let Some(url) = database() else { return };
    let (env, sim, token) = linked(url, 2_100);
    let base = sim.base_url();
    let out = env.ok(&["devices", "sync", "Main MDM", "--base-url", &base]);
    assert!(
        out.contains("2100 fetched; 2100 added, 0 modified, 0 deleted, 0 unchanged"),
        "{out}"
    );
    assert_eq!(listed(&env).len(), 2_100);
    // Events, then a refetch after the cursor expired with silent deletions.
    let ck = token.consumer_key();
    let serials = sim.seeded_serials(ck, 2_100);
    sim.modify_devices(ck, &serials[..2]);
    let out = env.ok(&[
        "devices",
        "sync",
        "Main MDM",
        "--verbose",
        "--base-url",
        &base,
    ]);
    assert!(out.contains(&format!("modified {}", serials[0])), "{out}");
    let gone: Vec<String> = serials.iter().step_by(10).cloned().collect();
    sim.delete_devices(ck, &gone);
    sim.expire_cursors(ck);
    let out = env.ok(&["devices", "sync", "Main MDM", "--base-url", &base]);
    assert!(out.contains(&format!(", {} deleted,", gone.len())), "{out}");
    let mut want: Vec<String> = serials
        .iter()
        .filter(|s| !gone.contains(s))
        .cloned()
        .collect();
    want.sort_unstable();
    assert_eq!(listed(&env), want, "the list equals the service's");
    // A full resync of unchanged devices reports them unchanged.
    let out = env.ok(&["devices", "sync", "Main MDM", "--full", "--base-url", &base]);
    assert!(
        out.contains(&format!(
            "0 added, 0 modified, 0 deleted, {} unchanged",
            want.len()
        )),
        "{out}"
    );
}

#[test]
fn two_runs_on_one_server_do_not_interleave_pages() {
    let Some(url) = database() else { return };
    let (env, sim, token) = linked(url.clone(), 3_000);
    let client = mdmlink::dep::client::DepClient::new(token.clone(), &sim.base_url()).unwrap();
    // Two instances, two connections: each takes a first page from no
    // cursor; the one that stores second is refused and stores nothing.
    // (No secret is read: no master key needed.)
    let mut a = Registry::new(PostgresStore::open(&url).unwrap(), None);
    let mut b = Registry::new(PostgresStore::open(&url).unwrap(), None);
    let syncer = Syncer::new();
    let now = time::OffsetDateTime::now_utc();
    let step_a = syncer.step(&client, None, now).unwrap();
    let step_b = syncer.step(&client, None, now).unwrap();
    b.store_device_page(None, "Main MDM", &step_b, None)
        .unwrap();
    let err = a
        .store_device_page(None, "Main MDM", &step_a, None)
        .unwrap_err();
    assert!(matches!(err, RegistryError::DeviceSyncRace { .. }), "{err}");
    assert_eq!(
        a.device_cursor(None, "Main MDM")
            .unwrap()
            .map(|c| c.to_saved()),
        Some(step_b.cursor.to_saved()),
        "the loser stored nothing"
    );
    // Four processes at once: each finishes or is refused clearly, and the
    // stored list is the service's.
    let ck = token.consumer_key();
    sim.expire_cursors(ck);
    let barrier = Arc::new(Barrier::new(4));
    let env = Arc::new(env);
    let base = sim.base_url();
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let (env, barrier, base) = (env.clone(), barrier.clone(), base.clone());
            std::thread::spawn(move || {
                barrier.wait();
                env.run(&["devices", "sync", "Main MDM", "--base-url", &base])
            })
        })
        .collect();
    let mut finished = 0;
    for run in runs {
        let out = run.join().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        match out.status.code() {
            Some(0) => finished += 1,
            _ => assert!(
                stderr.contains("another device sync of this server stored a page meanwhile"),
                "{stderr}"
            ),
        }
    }
    assert!(finished >= 1);
    // One more run completes whatever a refused run left to do.
    env.ok(&["devices", "sync", "Main MDM", "--base-url", &base]);
    let mut want = sim.seeded_serials(ck, 3_000);
    want.sort_unstable();
    assert_eq!(listed(&env), want);
    // The state is one chain: a last sync from it finds nothing new.
    let out = env.ok(&["devices", "sync", "Main MDM", "--base-url", &base]);
    assert!(
        out.contains("0 fetched; 0 added, 0 modified, 0 deleted"),
        "{out}"
    );
    // Direct rows: no device is left pending.
    let mut store = PostgresStore::open(&url).unwrap();
    let pending = store
        .write(|tx| {
            let org = tx.list_organizations()?[0].id;
            let id = tx.list_servers(Some(org))?[0].id;
            tx.finish_dep_snapshot(id)
        })
        .unwrap();
    assert!(pending.is_empty(), "{pending:?}");
}
