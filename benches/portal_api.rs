//! Listing an organization's devices from the simulated School and Business
//! Manager API over loopback, 1,000 per page: time at 100,000 devices
//! (criterion), and peak memory at 100,000 and 1,000,000 devices (VmHWM of a
//! fresh process per size, so one size cannot hide another).
//!
//! Targets (issue 20 §7): 100,000 devices in at most 3 s on this machine;
//! ten times the devices costs at most 2 MiB more peak memory. Printed as
//! PASS/MISS; a MISS never fails the run. The simulator computes devices on
//! demand, so the process's memory is one page on each side.
//!
//! The client is the library's (`PortalApiClient` over `UreqTransport`):
//! an assertion, a token, then `devices()` page by page, each device parsed
//! into `OrgDevice` and dropped before the next page.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group};
use mdmlink::portal_api::client::PortalApiClient;
use mdmlink::portal_api::document::ListQuery;
use mdmlink::portal_api::transport::UreqTransport;
use mdmlink::portal_api::{ApiAccount, ApiKey, PortalApiError};
use mdmlink::simulator::Simulator;
use mdmlink::simulator::portal_api::SimulatedApiAccount;

const SIZES: [u32; 2] = [100_000, 1_000_000];
const CHILD: &str = "MDMLINK_BENCH_PORTAL_API_MEMORY_CHILD";
const CLIENT_ID: &str = "BUSINESSAPI.00000000-0000-4000-8000-000000000001";
const KEY_ID: &str = "bench-key";

fn setup(devices: u32) -> (Simulator, PortalApiClient) {
    let key = ApiKey::generate(&mut mdmlink::SystemRng::default()).expect("key");
    let sim = Simulator::start(Vec::new()).expect("simulator");
    sim.add_api_account(
        SimulatedApiAccount::new(CLIENT_ID, KEY_ID, key.verifying_key()).with_devices(
            devices / 2,
            devices - devices / 2,
            3,
        ),
    );
    let account = ApiAccount::new(CLIENT_ID, KEY_ID, key).expect("account");
    let client = PortalApiClient::new(account, Arc::new(UreqTransport::new()))
        .with_base_url(&sim.base_url())
        .expect("base URL")
        .with_token_url(&sim.token_url())
        .expect("token URL");
    (sim, client)
}

/// Every device, page by page (1,000 each); returns how many were seen.
fn list_all(client: &PortalApiClient) -> u64 {
    client
        .devices(&ListQuery::default().with_limit(1000))
        .expect("first page")
        .for_each(|device| {
            black_box(&device);
            Ok::<_, PortalApiError>(())
        })
        .expect("every page")
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// In a child process: one full listing of `devices`, then the peak RSS.
fn child(devices: u32) {
    let (sim, client) = setup(devices);
    let start = Instant::now();
    let seen = list_all(&client);
    let elapsed = start.elapsed();
    assert_eq!(seen, u64::from(devices));
    println!("{} {} {}", devices, elapsed.as_millis(), peak_rss_kib());
    sim.shutdown();
}

fn memory_report() {
    let exe = std::env::current_exe().expect("current_exe");
    let mut rows = Vec::new();
    for n in SIZES {
        let out = std::process::Command::new(&exe)
            .env(CHILD, n.to_string())
            .output()
            .expect("run the memory child");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().last().unwrap_or_default().to_owned();
        let fields: Vec<u64> = line.split(' ').filter_map(|f| f.parse().ok()).collect();
        assert_eq!(fields.len(), 3, "child printed {line:?}");
        rows.push((fields[0], fields[1], fields[2]));
    }
    println!("portal API org devices (1,000 per page, loopback, one process per size):");
    for (n, ms, kib) in &rows {
        println!(
            "  {n:>8} devices: {ms:>6} ms, peak RSS {:.1} MiB",
            *kib as f64 / 1024.0
        );
    }
    let growth = rows[1].2.saturating_sub(rows[0].2);
    println!(
        "  target: 10x the devices, at most +2 MiB peak (+{:.2} MiB): {}",
        growth as f64 / 1024.0,
        if growth <= 2048 { "PASS" } else { "MISS" }
    );
    println!(
        "  target: 100,000 devices in at most 3 s: {}",
        if rows[0].1 <= 3_000 { "PASS" } else { "MISS" }
    );
}

fn bench_list(c: &mut Criterion) {
    let mut group = c.benchmark_group("portal_api_org_devices");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    let n = SIZES[0];
    let (_sim, client) = setup(n);
    group.throughput(criterion::Throughput::Elements(u64::from(n)));
    group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
        b.iter(|| black_box(list_all(&client)));
    });
    group.finish();
}

criterion_group!(benches, bench_list);

fn main() {
    if let Some(n) = std::env::var(CHILD).ok().and_then(|v| v.parse().ok()) {
        child(n);
        return;
    }
    memory_report();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
