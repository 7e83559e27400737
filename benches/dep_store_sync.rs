//! Storing a device sync in a SQLite store (issue 23): 300,000 devices from
//! the simulator over loopback, 1,000 per page, through
//! `Registry::sync_devices`, then a `--full` resync of the same (unchanged)
//! devices. Prints the time of each 30,000 devices, so a page that grows
//! with the store shows as a rising column, and the same run with the
//! earlier way of storing a page (reloading every stored device per page)
//! at 100,000 devices for comparison.
//!
//! Target: a page costs the same at any store size; 300,000 devices in a
//! few seconds. Printed, never failed (a benchmark, not a timed test).
//! `cargo bench --features cli,store-conformance --bench dep_store_sync`

use std::time::Instant;

use mdmlink::dep::client::DepClient;
use mdmlink::dep::syncer::Syncer;
use mdmlink::session::simulator::{SimulatedAccount, Simulator};
use mdmlink::store::registry::{DeviceSyncOptions, Registry};
use mdmlink::store::{DepCursor, DeviceRow, SqliteStore, StoreExt, conformance::server_row};
use mdmlink::token::ServerToken;
use time::OffsetDateTime;

const CHUNK: u64 = 30_000;

fn setup(
    devices: u32,
) -> (
    tempfile::TempDir,
    Registry<SqliteStore>,
    Simulator,
    DepClient,
) {
    let token = ServerToken::new(
        "CK_bench",
        "CS_bench",
        "AT_bench",
        "AS_bench",
        OffsetDateTime::now_utc() + time::Duration::days(30),
    )
    .expect("token");
    let sim = Simulator::start(vec![
        SimulatedAccount::new(token.clone(), "Bench").with_devices(devices, 11),
    ])
    .expect("simulator");
    let client = DepClient::new(token, &sim.base_url()).expect("client");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut registry = Registry::new(
        SqliteStore::open(dir.path().join("s.sqlite")).expect("store"),
        None,
    );
    let org = registry
        .add_organization(
            "Bench",
            mdmlink::portal::Portal::BusinessManager,
            None,
            OffsetDateTime::now_utc(),
        )
        .expect("org");
    registry
        .store_mut()
        .write(|tx| tx.insert_server(&server_row(org.id, "Main MDM", 1)))
        .expect("server");
    (dir, registry, sim, client)
}

/// One sync through the Registry; prints each chunk's time.
fn run(label: &str, registry: &mut Registry<SqliteStore>, client: &DepClient, full: bool) {
    let start = Instant::now();
    let mut chunk_start = Instant::now();
    let (mut seen, mut chunks) = (0u64, Vec::new());
    let report = registry
        .sync_devices(
            None,
            "Main MDM",
            client,
            &DeviceSyncOptions::default().full(full),
            OffsetDateTime::now_utc,
            |page| {
                seen += page.received as u64;
                if seen % CHUNK == 0 {
                    chunks.push(chunk_start.elapsed().as_secs_f64());
                    chunk_start = Instant::now();
                }
            },
        )
        .expect("sync");
    let total = start.elapsed().as_secs_f64();
    let chunks: Vec<String> = chunks.iter().map(|s| format!("{s:.2}")).collect();
    println!(
        "  {label}: {total:.2} s ({} fetched; {} added, {} modified, {} unchanged); per {CHUNK}: {}",
        report.fetched,
        report.added,
        report.modified,
        report.unchanged,
        chunks.join(" ")
    );
}

/// The earlier page write (mdmlink before issue 23): every stored device of
/// the server read back for each page, to compare op_dates.
fn run_reloading(devices: u32) {
    let (_dir, mut registry, sim, client) = setup(devices);
    let id = registry
        .store_mut()
        .read(|tx| Ok::<_, mdmlink::store::StoreError>(tx.list_servers(None)?[0].id))
        .expect("id");
    let store = registry.store_mut();
    let start = Instant::now();
    let mut chunk_start = Instant::now();
    let (mut seen, mut chunks) = (0u64, Vec::new());
    Syncer::new()
        .run(&client, None, OffsetDateTime::now_utc, |step| {
            store.write(|tx| {
                let stored = tx.dep_devices(id)?;
                std::hint::black_box(&stored);
                let rows: Vec<DeviceRow> = step
                    .page
                    .devices
                    .iter()
                    .map(|d| DeviceRow {
                        serial: d.serial_number.clone(),
                        op_type: None,
                        op_date: d.op_date,
                        deleted: false,
                        json: serde_json::to_string(d).unwrap_or_default(),
                    })
                    .collect();
                let cursor = DepCursor {
                    cursor: step.cursor.to_saved(),
                    issued_at: step.cursor.issued_at,
                };
                tx.put_dep_page(id, &rows, &cursor)
            })?;
            seen += step.page.devices.len() as u64;
            if seen % 10_000 == 0 {
                chunks.push(chunk_start.elapsed().as_secs_f64());
                chunk_start = Instant::now();
            }
            Ok::<_, mdmlink::store::StoreError>(())
        })
        .expect("sync");
    let chunks: Vec<String> = chunks.iter().map(|s| format!("{s:.2}")).collect();
    println!(
        "  reloading every stored device per page, {devices} devices: {:.2} s; per 10000: {}",
        start.elapsed().as_secs_f64(),
        chunks.join(" ")
    );
    sim.shutdown();
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!("device sync into a SQLite store (1,000 per page, loopback simulator):");
    let (_dir, mut registry, sim, client) = setup(300_000);
    run("300000 devices, first sync", &mut registry, &client, false);
    run(
        "300000 devices, --full resync",
        &mut registry,
        &client,
        true,
    );
    sim.shutdown();
    run_reloading(100_000);
}
