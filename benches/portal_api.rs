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
//! The client here is a minimal one (a raw HTTP/1.1 exchange per page and
//! serde): it measures the simulator and the page-by-page shape of a
//! listing, independent of the library's client.

use std::hint::black_box;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use base64::Engine as _;
use criterion::{BenchmarkId, Criterion, criterion_group};
use mdmlink::simulator::portal_api::{ASSERTION_AUDIENCE, ASSERTION_TYPE, SimulatedApiAccount};
use mdmlink::simulator::{Simulator, SimulatorOptions};
use p256::ecdsa::{Signature, SigningKey, signature::Signer as _};
use serde::Deserialize;

const SIZES: [u32; 2] = [100_000, 1_000_000];
const CHILD: &str = "MDMLINK_BENCH_PORTAL_API_MEMORY_CHILD";
const CLIENT_ID: &str = "BUSINESSAPI.00000000-0000-4000-8000-000000000001";
const KEY_ID: &str = "bench-key";

#[derive(Deserialize)]
struct Page {
    data: Vec<Device>,
    meta: Meta,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Attributes {
    serial_number: String,
    status: String,
    product_family: String,
}

#[derive(Deserialize)]
struct Device {
    id: String,
    attributes: Attributes,
}

#[derive(Deserialize)]
struct Meta {
    paging: Paging,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Paging {
    next_cursor: Option<String>,
}

fn exchange(addr: SocketAddr, request: &str) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(request.as_bytes()).expect("write");
    let mut out = Vec::with_capacity(1 << 20);
    s.read_to_end(&mut out).expect("read");
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    assert!(
        out.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&out[..split])
    );
    out.drain(..split + 4);
    out
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn setup(devices: u32) -> (Simulator, String) {
    let key = SigningKey::from_slice(&[5; 32]).expect("key");
    let now = time::OffsetDateTime::now_utc();
    let mut options = SimulatorOptions::default();
    // A fixed clock: the access token outlives any run.
    options.now = Some(now);
    let sim = Simulator::start_with(Vec::new(), options).expect("simulator");
    sim.add_api_account(
        SimulatedApiAccount::new(CLIENT_ID, KEY_ID, *key.verifying_key()).with_devices(
            devices / 2,
            devices - devices / 2,
            3,
        ),
    );
    let header = serde_json::json!({"alg": "ES256", "kid": KEY_ID});
    let claims = serde_json::json!({"sub": CLIENT_ID, "iss": CLIENT_ID, "aud": ASSERTION_AUDIENCE,
        "iat": now.unix_timestamp(), "exp": now.unix_timestamp() + 600, "jti": "bench"});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature: Signature = key.sign(input.as_bytes());
    let body = format!(
        "grant_type=client_credentials&client_id={CLIENT_ID}&client_assertion_type={}&client_assertion={input}.{}&scope=business.api",
        ASSERTION_TYPE.replace(':', "%3A"),
        b64(&signature.to_bytes())
    );
    let reply = exchange(
        sim.local_addr(),
        &format!(
            "POST /auth/oauth2/token HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    let doc: serde_json::Value = serde_json::from_slice(&reply).expect("token JSON");
    let token = doc["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    (sim, token)
}

/// Every device, page by page (1,000 each); returns how many were seen.
fn list_all(sim: &Simulator, token: &str) -> u64 {
    let mut seen = 0u64;
    let mut cursor: Option<String> = None;
    loop {
        let target = match &cursor {
            None => "/v1/orgDevices?limit=1000".to_owned(),
            Some(c) => format!("/v1/orgDevices?limit=1000&cursor={c}"),
        };
        let body = exchange(
            sim.local_addr(),
            &format!("GET {target} HTTP/1.1\r\nAuthorization: Bearer {token}\r\n\r\n"),
        );
        let page: Page = serde_json::from_slice(&body).expect("a page");
        for d in &page.data {
            black_box((
                &d.id,
                &d.attributes.serial_number,
                &d.attributes.status,
                &d.attributes.product_family,
            ));
        }
        seen += page.data.len() as u64;
        match page.meta.paging.next_cursor {
            Some(c) => cursor = Some(c),
            None => return seen,
        }
    }
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
    let (sim, token) = setup(devices);
    let start = Instant::now();
    let seen = list_all(&sim, &token);
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
    let (_sim, token) = setup(n);
    group.throughput(criterion::Throughput::Elements(u64::from(n)));
    group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
        b.iter(|| black_box(list_all(&_sim, &token)));
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
