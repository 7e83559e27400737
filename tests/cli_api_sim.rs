//! The commands that talk to Apple's School and Business Manager API
//! (`api servers|devices|assign|unassign|reconcile`, `server add|rotate-key
//! --via-api`) against the simulator over loopback HTTP: the real
//! `mdmlink-simulator` binary with the API account it writes, and the
//! in-process simulator where a test injects faults. The real `mdmlink`
//! binary, a real SQLite store, real exit codes.

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;

use mdmlink::portal_api::{ApiAccount, client::PortalApiClient, transport::UreqTransport};
use mdmlink::simulator::Simulator;
use mdmlink::simulator::portal_api::{RetryAfter, SimulatedApiAccount};
use p256::pkcs8::{EncodePrivateKey as _, LineEnding};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_mdmlink");
const SIMULATOR_BIN: &str = env!("CARGO_BIN_EXE_mdmlink-simulator");
const MASTER_KEY: &str = "8a1f0c2e6b4d3f5a7c9e1b3d5f7a9c0e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f1a";
const KEY_ID: &str = "5f2e8a1c-9b7d-4e3f-a6c0-1d2e3f4a5b6c";

struct Env {
    dir: tempfile::TempDir,
    /// `--base-url URL --token-url URL` of the simulator.
    connection: Vec<String>,
    /// Every stdout and stderr seen, to check that no secret was printed.
    seen: std::cell::RefCell<String>,
}

impl Env {
    fn new(base_url: &str) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            connection: vec![
                "--base-url".into(),
                base_url.into(),
                "--token-url".into(),
                format!("{base_url}/auth/oauth2/token"),
            ],
            seen: Default::default(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = Command::new(BIN)
            .env("MDMLINK_STORE", self.path("store.sqlite"))
            .env("MDMLINK_MASTER_KEY", MASTER_KEY)
            .env_remove("MDMLINK_PASSPHRASE")
            .current_dir(self.dir.path())
            .args(args)
            .output()
            .unwrap();
        let mut seen = self.seen.borrow_mut();
        seen.push_str(&String::from_utf8_lossy(&out.stdout));
        seen.push_str(&String::from_utf8_lossy(&out.stderr));
        out
    }

    /// `args` followed by `--base-url` and `--token-url`.
    fn api(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(self.connection.iter().map(String::as_str));
        self.run(&all)
    }

    fn ok(&self, args: &[&str]) -> String {
        common::expect_success(args, self.run(args))
    }

    fn api_ok(&self, args: &[&str]) -> String {
        common::expect_success(args, self.api(args))
    }

    /// Runs an API command that must exit 1: (stdout, stderr).
    fn api_exit_1(&self, args: &[&str]) -> (String, String) {
        let out = self.api(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "mdmlink {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    fn json(&self, args: &[&str]) -> Value {
        let text = self.api_ok(args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {text}"))
    }
}

/// The `mdmlink-simulator` binary, serving until dropped (stdin closed).
struct SimulatorProcess {
    child: Child,
    base_url: String,
    files: tempfile::TempDir,
}

impl SimulatorProcess {
    fn start(extra: &[&str]) -> Self {
        let files = tempfile::tempdir().unwrap();
        let mut child = Command::new(SIMULATOR_BIN)
            .arg(files.path())
            .args(["--devices", "6", "--seed", "3"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base_url = line.trim().to_owned();
        assert!(base_url.starts_with("http://127.0.0.1:"), "{line:?}");
        Self {
            child,
            base_url,
            files,
        }
    }

    fn file(&self, name: &str) -> String {
        self.files.path().join(name).to_str().unwrap().to_owned()
    }

    fn text(&self, name: &str) -> String {
        std::fs::read_to_string(self.file(name))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// A client of the simulated API with the account it wrote: the
    /// portal's side of the test (the admin's clicks).
    fn portal_client(&self) -> PortalApiClient {
        let pem = std::fs::read(self.file("api_key.pem")).unwrap();
        let account = ApiAccount::from_pem(
            &self.text("api_client_id"),
            &self.text("api_key_id"),
            &pem,
            None,
        )
        .unwrap();
        PortalApiClient::new(account, Arc::new(UreqTransport::new()))
            .with_base_url(&self.base_url)
            .unwrap()
            .with_token_url(&format!("{}/auth/oauth2/token", self.base_url))
            .unwrap()
    }
}

impl Drop for SimulatorProcess {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn names(servers: &Value) -> Vec<&str> {
    servers
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["serverName"].as_str().unwrap())
        .collect()
}

fn serials(devices: &Value) -> Vec<&str> {
    devices
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["serialNumber"].as_str().unwrap())
        .collect()
}

#[test]
fn the_portal_through_the_api_with_the_simulator_binary() {
    let sim = SimulatorProcess::start(&[]);
    let env = Env::new(&sim.base_url);
    env.ok(&["org", "add", "Acme", "--portal", "business-manager"]);
    env.ok(&[
        "api",
        "add",
        "--client-id",
        &sim.text("api_client_id"),
        "--key-id",
        &sim.text("api_key_id"),
        "--key",
        &sim.file("api_key.pem"),
    ]);

    // The seeded servers, as a table and as Apple's attributes.
    let table = env.api_ok(&["api", "servers"]);
    assert!(
        table.contains("MDM Server") && table.contains("Lab MDM"),
        "{table}"
    );
    assert!(table.contains("2 servers"), "{table}");
    let servers = env.json(&["api", "servers", "--json"]);
    assert_eq!(names(&servers), ["MDM Server", "Lab MDM"]);
    for s in servers.as_array().unwrap() {
        assert_eq!(s["serverType"], "MDM");
        assert_eq!(s["id"].as_str().unwrap().len(), 32, "{s}");
        assert!(s["createdDateTime"].is_string(), "{s}");
    }

    // The store knows the seeded servers (linked by hand before); one more
    // is created through the API and keeps the portal's id.
    env.ok(&["server", "add", "MDM Server"]);
    env.ok(&["server", "add", "Lab MDM"]);
    let added = env.api_ok(&["server", "add", "Branch MDM", "--via-api"]);
    assert!(added.contains("created it in the portal"), "{added}");
    assert!(added.contains("Download Token"), "{added}");
    let servers = env.json(&["api", "servers", "--json"]);
    let branch = servers
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["serverName"] == "Branch MDM")
        .expect("created in the portal")
        .clone();
    let branch_id = branch["id"].as_str().unwrap().to_owned();
    let listed: Value = serde_json::from_str(&env.ok(&["server", "list", "--json"])).unwrap();
    let stored = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Branch MDM")
        .unwrap();
    assert_eq!(stored["portal_server_id"], branch_id.as_str());
    let agree = env.api_ok(&["api", "reconcile"]);
    assert!(agree.contains("agree (3 servers)"), "{agree}");
    let report = env.json(&["api", "reconcile", "--json"]);
    assert_eq!(report["agrees"], true);

    // Assign an unassigned device: the activity completes (exit 0) and the
    // server's devices list it.
    let devices = env.json(&["api", "devices", "--json"]);
    assert_eq!(devices.as_array().unwrap().len(), 6 + 6 / 4);
    let unassigned = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["status"] == "UNASSIGNED")
        .expect("the simulator seeds unassigned devices")["serialNumber"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        env.json(&["api", "devices", "--server", "Branch MDM", "--json"]),
        serde_json::json!([])
    );
    let out = env.api_ok(&["api", "assign", "--server", "Branch MDM", &unassigned]);
    assert!(out.contains("COMPLETED (COMPLETED_WITH_SUCCESS)"), "{out}");
    assert!(out.contains("log: http://127.0.0.1:"), "{out}");
    let on_branch = env.json(&["api", "devices", "--server", "branch mdm", "--json"]);
    assert_eq!(serials(&on_branch), [unassigned.as_str()]);
    let full = env.json(&[
        "api",
        "devices",
        "--server",
        "Branch MDM",
        "--full",
        "--json",
    ]);
    assert_eq!(full[0]["status"], "ASSIGNED");
    assert!(full[0]["productFamily"].is_string(), "{full}");

    // An unknown serial: the activity fails, exit 1 with the outcome.
    let (out, err) = env.api_exit_1(&["api", "assign", "--server", "Branch MDM", "NOPE00000000"]);
    assert!(out.contains("FAILED (COMPLETED_WITH_FAILURE)"), "{out}");
    assert!(out.contains("log: "), "{out}");
    assert!(err.contains("not every device was assigned"), "{err}");

    // Serial numbers from a file, through the CLI's checked reader.
    std::fs::write(env.path("serials.txt"), format!("\u{FEFF}{unassigned}\n\n")).unwrap();
    let serials_file = env.path("serials.txt");
    let out = env.api_ok(&[
        "api",
        "unassign",
        "--server",
        "Branch MDM",
        "--serials-file",
        serials_file.to_str().unwrap(),
    ]);
    assert!(out.contains("UNASSIGN_DEVICES 1 device(s)"), "{out}");
    assert_eq!(
        env.json(&["api", "devices", "--server", "Branch MDM", "--json"]),
        serde_json::json!([])
    );

    // Rotating through the API replaces the portal's certificate.
    let cert = env.path("branch-new.pem");
    let out = env.api_ok(&[
        "server",
        "rotate-key",
        "Branch MDM",
        "--via-api",
        "--cert-out",
        cert.to_str().unwrap(),
    ]);
    assert!(out.contains(&branch_id), "{out}");
    env.ok(&[
        "server",
        "export-cert",
        "Branch MDM",
        "--staged",
        "--out",
        "staged.pem",
    ]);
    assert_eq!(
        std::fs::read(&cert).unwrap(),
        std::fs::read(env.path("staged.pem")).unwrap()
    );

    // The server is deleted in the portal: reconcile names it, exit 1.
    sim.portal_client().delete_server(&branch_id).unwrap();
    let (out, _) = env.api_exit_1(&["api", "reconcile"]);
    assert!(
        out.contains("\"Branch MDM\" is in the store but not in the portal"),
        "{out}"
    );
    let (out, _) = env.api_exit_1(&["api", "reconcile", "--json"]);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["agrees"], false);
    assert_eq!(report["missingInPortal"], serde_json::json!(["Branch MDM"]));

    // No secret in anything printed: not the API key, not a JWS (the
    // client assertion), not a bearer token.
    let seen = env.seen.borrow();
    let key_pem = std::fs::read_to_string(sim.file("api_key.pem")).unwrap();
    for line in key_pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!seen.contains(line), "the API key was printed");
    }
    assert!(!seen.contains("eyJ"), "a JWS was printed: {seen}");
    assert!(!seen.to_lowercase().contains("bearer"), "{seen}");
}

/// An in-process simulator (real clock) with one API account of `client_id`
/// whose key is written to the returned env's `api_key.pem`, added to the
/// store's organization on `portal`.
fn in_process(
    client_id: &str,
    portal: &str,
    configure: impl FnOnce(SimulatedApiAccount) -> SimulatedApiAccount,
) -> (Simulator, Env) {
    let key = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
    let sim = Simulator::start(Vec::new()).unwrap();
    sim.add_api_account(configure(SimulatedApiAccount::new(
        client_id,
        KEY_ID,
        *key.verifying_key(),
    )));
    let env = Env::new(&sim.base_url());
    let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
    std::fs::write(env.path("api_key.pem"), pem.as_bytes()).unwrap();
    env.ok(&["org", "add", "Example", "--portal", portal]);
    env.ok(&[
        "api",
        "add",
        "--client-id",
        client_id,
        "--key-id",
        KEY_ID,
        "--key",
        env.path("api_key.pem").to_str().unwrap(),
    ]);
    (sim, env)
}

#[test]
fn a_school_account_refuses_server_add_via_api_before_any_request() {
    let (sim, env) = in_process(
        "SCHOOLAPI.7e0b1f2c-3d4e-4f50-8a61-b2c3d4e5f607",
        "school-manager",
        |a| a,
    );
    let (_, err) = env.api_exit_1(&["server", "add", "Main MDM", "--via-api"]);
    assert!(err.contains("only in Apple Business's API"), "{err}");
    assert!(err.contains("nothing was sent"), "{err}");
    assert!(err.contains("without --via-api"), "{err}");
    assert_eq!(sim.requests("/auth/oauth2/token"), 0);
    assert_eq!(sim.requests("/v1/mdmServers"), 0);
    let listed: Value = serde_json::from_str(&env.ok(&["server", "list", "--json"])).unwrap();
    assert_eq!(listed, serde_json::json!([]));
    // Reading works on a School account (and the counts above can move).
    let servers = env.json(&["api", "servers", "--json"]);
    assert_eq!(names(&servers), ["MDM Server"]);
    assert_eq!(sim.requests("/auth/oauth2/token"), 1);
    assert_eq!(sim.requests("/v1/mdmServers"), 1);
}

#[test]
fn a_name_taken_in_the_portal_adds_nothing() {
    let (sim, env) = in_process(
        "BUSINESSAPI.3bb1c3b4-0d4e-4a2b-9c1f-5a6e7d8c9b0a",
        "business-manager",
        |a| a.with_servers(&["Taken"]),
    );
    let (_, err) = env.api_exit_1(&["server", "add", "taken", "--via-api"]);
    assert!(err.contains("taken or reserved in the portal"), "{err}");
    assert!(err.contains("choose another name"), "{err}");
    let listed: Value = serde_json::from_str(&env.ok(&["server", "list", "--json"])).unwrap();
    assert_eq!(listed, serde_json::json!([]));
    assert_eq!(
        sim.api_servers("BUSINESSAPI.3bb1c3b4-0d4e-4a2b-9c1f-5a6e7d8c9b0a")
            .len(),
        1
    );
}

#[test]
fn rate_limits_are_waited_out_or_reported_with_what_to_do() {
    let client_id = "BUSINESSAPI.3bb1c3b4-0d4e-4a2b-9c1f-5a6e7d8c9b0a";
    let (sim, env) = in_process(client_id, "business-manager", |a| a);
    // A short Retry-After is waited out.
    sim.api_throttle(1, RetryAfter::Seconds(1));
    let started = std::time::Instant::now();
    let servers = env.json(&["api", "servers", "--json"]);
    assert_eq!(names(&servers), ["MDM Server"]);
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    // One beyond the client's budget is reported at once.
    sim.api_throttle(1, RetryAfter::Seconds(3600));
    let (_, err) = env.api_exit_1(&["api", "servers"]);
    assert!(err.contains("rate limiting"), "{err}");
    assert!(err.contains("Retry-After 3600 s"), "{err}");
    assert!(err.contains("wait and try again later"), "{err}");
}

#[test]
fn an_organization_without_an_api_account_is_told_how_to_add_one() {
    let sim = Simulator::start(Vec::new()).unwrap();
    let env = Env::new(&sim.base_url());
    env.ok(&["org", "add", "Example", "--portal", "business-manager"]);
    let (_, err) = env.api_exit_1(&["api", "servers"]);
    assert!(err.contains("mdmlink api add"), "{err}");
    assert_eq!(sim.requests("/auth/oauth2/token"), 0);
}

#[test]
fn an_access_token_expired_while_following_an_activity_is_renewed_once() {
    let client_id = "BUSINESSAPI.3bb1c3b4-0d4e-4a2b-9c1f-5a6e7d8c9b0a";
    let (sim, env) = in_process(client_id, "business-manager", |a| a.with_devices(1, 1, 4));
    let serial = sim
        .api_serials(client_id, 2)
        .into_iter()
        .find(|s| sim.api_device_server(client_id, s).is_none())
        .expect("an unassigned device");
    let mut args: Vec<String> = ["api", "assign", "--server", "MDM Server", &serial]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(env.connection.iter().cloned());
    let child = Command::new(BIN)
        .env("MDMLINK_STORE", env.path("store.sqlite"))
        .env("MDMLINK_MASTER_KEY", MASTER_KEY)
        .env_remove("MDMLINK_PASSPHRASE")
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the activity is created (the first poll is a second later), the
    // token the command holds stops working.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while sim.requests("/v1/orgDeviceActivities") == 0 {
        assert!(std::time::Instant::now() < deadline, "no activity created");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    sim.api_expire_access_tokens();
    let out = common::expect_success(&["api", "assign"], child.wait_with_output().unwrap());
    assert!(out.contains("COMPLETED (COMPLETED_WITH_SUCCESS)"), "{out}");
    assert_eq!(sim.requests("/auth/oauth2/token"), 2);
    assert!(sim.api_device_server(client_id, &serial).is_some());
}

#[test]
fn a_reader_that_goes_away_stops_the_device_listing() {
    let client_id = "BUSINESSAPI.3bb1c3b4-0d4e-4a2b-9c1f-5a6e7d8c9b0a";
    let (sim, env) = in_process(client_id, "business-manager", |a| {
        a.with_devices(6_000, 0, 2)
    });
    for json in [false, true] {
        let before = sim.requests("/v1/orgDevices");
        let mut args: Vec<String> = vec!["api".into(), "devices".into()];
        if json {
            args.push("--json".into());
        }
        args.extend(env.connection.iter().cloned());
        let mut child = Command::new(BIN)
            .env("MDMLINK_STORE", env.path("store.sqlite"))
            .env("MDMLINK_MASTER_KEY", MASTER_KEY)
            .env_remove("MDMLINK_PASSPHRASE")
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        // The reader is gone (`| head -1`): the command ends, exit 0, and
        // fetches no more pages than it had started.
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pages = sim.requests("/v1/orgDevices") - before;
        assert!((1..6).contains(&pages), "{pages} pages fetched");
    }
}

#[test]
fn bad_urls_and_misplaced_options_are_refused_before_any_request() {
    let client_id = "BUSINESSAPI.3bb1c3b4-0d4e-4a2b-9c1f-5a6e7d8c9b0a";
    let (sim, env) = in_process(client_id, "business-manager", |a| a);
    let token_url = format!("{}/auth/oauth2/token", sim.base_url());
    for (flag, bad) in [
        ("--base-url", "not a url"),
        ("--token-url", "ftp://127.0.0.1/"),
    ] {
        let mut args = vec!["api", "servers"];
        if flag == "--base-url" {
            args.extend(["--base-url", bad, "--token-url", &token_url]);
        } else {
            args.extend(["--token-url", bad]);
        }
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.starts_with(&format!("mdmlink: {flag}: ")), "{err}");
    }
    // --base-url and --token-url belong to --via-api on `server add`, which
    // does not take --portal: usage errors (exit 2).
    let base = sim.base_url();
    for args in [
        vec!["server", "add", "X", "--base-url", base.as_str()],
        vec![
            "server",
            "add",
            "X",
            "--via-api",
            "--portal",
            "business-manager",
        ],
        vec![
            "server",
            "rotate-key",
            "X",
            "--token-url",
            token_url.as_str(),
        ],
        vec!["api", "devices", "--full"],
    ] {
        assert_eq!(env.run(&args).status.code(), Some(2), "{args:?}");
    }
    assert_eq!(sim.requests("/auth/oauth2/token"), 0);
}
