//! `mdmlink devices sync|list` and `mdmlink profile define|assign` against
//! the simulator: the real binary, a real store, real exit codes.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use mdmlink::session::simulator::{SimulatedAccount, Simulator};

const BIN: &str = env!("CARGO_BIN_EXE_mdmlink");

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .env("MDMLINK_STORE", self.path("store.sqlite"))
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

/// A server "Main MDM" with a token installed, and a simulator that knows
/// the token, with `devices` devices.
fn linked(devices: u32) -> (Env, Simulator, mdmlink::ServerToken) {
    let env = Env {
        dir: tempfile::tempdir().unwrap(),
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
        r#"{"consumer_key":"CK_cli","consumer_secret":"CS_cli","access_token":"AT_cli","access_secret":"AS_cli","access_token_expiry":"2030-06-01T00:00:00Z"}"#,
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
        SimulatedAccount::new(token.clone(), "Org").with_devices(devices, 9),
    ])
    .unwrap();
    (env, sim, token)
}

#[test]
fn devices_sync_then_list_then_changes() {
    let (env, sim, token) = linked(1_200);
    let base = sim.base_url();
    let out = env.ok(&["devices", "sync", "Main MDM", "--base-url", &base]);
    assert!(
        out.contains("fetching every device (no saved cursor)"),
        "{out}"
    );
    assert!(
        out.contains("1200 fetched; 1200 added, 0 modified, 0 deleted, 0 unchanged"),
        "{out}"
    );
    // Counts by default: no line per device.
    assert_eq!(out.lines().count(), 2, "{out}");
    let list = env.ok(&["devices", "list", "Main MDM", "--json"]);
    let devices: Vec<serde_json::Value> = serde_json::from_str(&list).unwrap();
    assert_eq!(devices.len(), 1_200);
    assert!(devices[0]["device_family"].is_string());

    let ck = token.consumer_key();
    let serials = sim.seeded_serials(ck, 2);
    sim.delete_devices(ck, &serials[..1]);
    sim.modify_devices(ck, &serials[1..2]);
    let added = sim.add_devices(ck, 1);
    let out = env.ok(&[
        "devices",
        "sync",
        "Main MDM",
        "--verbose",
        "--base-url",
        &base,
    ]);
    assert!(out.contains(&format!("deleted {}", serials[0])), "{out}");
    assert!(out.contains(&format!("modified {}", serials[1])), "{out}");
    assert!(out.contains(&format!("added {}", added[0])), "{out}");
    assert!(
        out.contains("0 fetched; 1 added, 1 modified, 1 deleted"),
        "{out}"
    );
    let table = env.ok(&["devices", "list", "Main MDM"]);
    assert!(table.contains("1200 devices"), "{table}");
    assert!(
        !table.contains(&serials[0]),
        "deleted devices are not listed"
    );

    // --full fetches everything again: unchanged devices are reported
    // unchanged, not added or modified.
    let out = env.ok(&["devices", "sync", "Main MDM", "--full", "--base-url", &base]);
    assert!(out.contains("fetching every device (--full)"), "{out}");
    assert!(
        out.contains("1200 fetched; 0 added, 0 modified, 0 deleted, 1200 unchanged"),
        "{out}"
    );
}

#[test]
fn a_refetch_after_an_expired_cursor_lists_what_the_service_lists() {
    let (env, sim, token) = linked(2_500);
    let base = sim.base_url();
    env.ok(&["devices", "sync", "Main MDM", "--base-url", &base]);
    let ck = token.consumer_key();
    let serials = sim.seeded_serials(ck, 2_500);
    // Devices leave while the saved cursor expires: the refetch never sees
    // their `deleted` events.
    let gone: Vec<String> = serials.iter().step_by(7).cloned().collect();
    assert_eq!(sim.delete_devices(ck, &gone), gone.len());
    sim.expire_cursors(ck);
    let out = env.ok(&[
        "devices",
        "sync",
        "Main MDM",
        "--verbose",
        "--base-url",
        &base,
    ]);
    assert!(out.contains("the service says the cursor expired"), "{out}");
    let want = format!(
        "{} fetched; 0 added, 0 modified, {} deleted, {} unchanged",
        2_500 - gone.len(),
        gone.len(),
        2_500 - gone.len()
    );
    assert!(out.contains(&want), "{want}\n{out}");
    assert!(out.contains(&format!("deleted {}", gone[1])), "{out}");
    let list = env.ok(&["devices", "list", "Main MDM", "--json"]);
    let listed: Vec<serde_json::Value> = serde_json::from_str(&list).unwrap();
    let mut listed: Vec<&str> = listed
        .iter()
        .map(|d| d["serial_number"].as_str().unwrap())
        .collect();
    listed.sort_unstable();
    let mut want: Vec<&str> = serials
        .iter()
        .filter(|s| !gone.contains(s))
        .map(String::as_str)
        .collect();
    want.sort_unstable();
    assert_eq!(listed.len(), sim.device_count(ck) as usize);
    assert_eq!(listed, want, "the list equals the service's");
    // --full after more silent deletions does the same.
    sim.delete_devices(
        ck,
        &want[..3].iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    );
    let out = env.ok(&["devices", "sync", "Main MDM", "--full", "--base-url", &base]);
    assert!(out.contains(", 3 deleted,"), "{out}");
    let table = env.ok(&["devices", "list", "Main MDM"]);
    assert!(
        table.contains(&format!("{} devices", sim.device_count(ck))),
        "{table}"
    );
}

#[test]
fn profile_define_and_assign() {
    let (env, sim, token) = linked(10);
    let base = sim.base_url();
    let profile = env.path("profile.json");
    std::fs::write(
        &profile,
        r#"{"profile_name":"Lab","url":"https://mdm.example.com/enroll"}"#,
    )
    .unwrap();
    let uuid = env.ok(&[
        "profile",
        "define",
        "Main MDM",
        "--file",
        profile.to_str().unwrap(),
        "--base-url",
        &base,
    ]);
    let uuid = uuid.trim();
    assert!(!uuid.is_empty());
    let serials = sim.seeded_serials(token.consumer_key(), 3);
    let list = env.path("serials.txt");
    std::fs::write(&list, format!("{}\n\n{}\n", serials[1], serials[2])).unwrap();
    let out = env.ok(&[
        "profile",
        "assign",
        "Main MDM",
        uuid,
        &serials[0],
        "--serials-file",
        list.to_str().unwrap(),
        "--base-url",
        &base,
    ]);
    for s in &serials {
        assert!(out.contains(&format!("{s} SUCCESS")), "{out}");
    }
    // A serial the server does not have: its status, exit 1, a clear line.
    sim.throttle_serials(token.consumer_key(), &serials[..1]);
    let out = env.run(&[
        "profile",
        "assign",
        "Main MDM",
        uuid,
        &serials[0],
        "NOTMINE00001",
        "--base-url",
        &base,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("NOTMINE00001 NOT_ACCESSIBLE"), "{stdout}");
    assert!(
        stdout.contains(&format!("{} THROTTLED", serials[0])),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("retry them later"));
    // A bad profile file names the file.
    std::fs::write(&profile, "{}").unwrap();
    let out = env.run(&[
        "profile",
        "define",
        "Main MDM",
        "--file",
        profile.to_str().unwrap(),
        "--base-url",
        &base,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("profile_name"));
}
