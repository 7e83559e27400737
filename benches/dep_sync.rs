//! Syncing a server's devices from the simulator over loopback, 1,000 per
//! page: time at 10,000 and 100,000 devices (criterion), and peak memory
//! (VmHWM of a fresh process per size, so one size cannot hide another).
//!
//! Targets (issue 17): 100,000 devices in at most 5 s on 2 cores, and peak
//! memory independent of the device count. Printed as PASS/MISS; a MISS never
//! fails the run. The simulator computes seeded devices on demand, so the
//! process's memory is the client's plus a few cursors.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group};
use mdmlink::dep::{client::DepClient, syncer::Syncer};
use mdmlink::session::simulator::{SimulatedAccount, Simulator};
use mdmlink::token::ServerToken;
use time::OffsetDateTime;

const SIZES: [u32; 2] = [10_000, 100_000];
const CHILD: &str = "MDMLINK_BENCH_DEP_MEMORY_CHILD";

fn setup(devices: u32) -> (Simulator, DepClient) {
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
    (sim, client)
}

/// A full sync from no cursor: fetch every page, then one sync. Returns the
/// number of devices seen (the caller "stores" each page by counting it).
fn full_sync(client: &DepClient) -> u64 {
    let mut seen = 0u64;
    Syncer::new()
        .run(client, None, OffsetDateTime::now_utc, |step| {
            seen += step.page.devices.len() as u64;
            black_box(&step.cursor);
            Ok::<_, std::convert::Infallible>(())
        })
        .expect("sync");
    seen
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

/// In a child process: one full sync of `devices`, then print the peak RSS.
fn child(devices: u32) {
    let (sim, client) = setup(devices);
    let start = Instant::now();
    let seen = full_sync(&client);
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
    println!("dep sync (1,000 per page, loopback, one process per size):");
    for (n, ms, kib) in &rows {
        println!(
            "  {n:>7} devices: {ms:>5} ms, peak RSS {:.1} MiB",
            *kib as f64 / 1024.0
        );
    }
    let (small, large) = (rows[0].2 as f64, rows[1].2 as f64);
    // Independent of the count: 10x the devices, at most 25% more memory.
    let flat = large <= small * 1.25;
    println!(
        "  target: peak memory independent of the device count (100k <= 1.25 x 10k): {}",
        if flat { "PASS" } else { "MISS" }
    );
    let fast = rows[1].1 <= 5_000;
    println!(
        "  target: 100,000 devices in at most 5 s: {}",
        if fast { "PASS" } else { "MISS" }
    );
}

fn bench_sync(c: &mut Criterion) {
    let mut group = c.benchmark_group("dep_sync");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for n in SIZES {
        let (_sim, client) = setup(n);
        group.throughput(criterion::Throughput::Elements(u64::from(n)));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| black_box(full_sync(&client)));
        });
    }
    group.finish();
}

criterion_group!(benches, bench_sync);

fn main() {
    if let Some(n) = std::env::var(CHILD).ok().and_then(|v| v.parse().ok()) {
        child(n);
        return;
    }
    memory_report();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
