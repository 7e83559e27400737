//! Organization scale: adding servers and checking name uniqueness at 1k,
//! 100k and 1M servers, and expiry health over 1M tokens.
//!
//! Servers are added with `add_linked_server` (the key lives elsewhere): a
//! million RSA keys cannot be generated for a bench, and the model's cost per
//! server does not depend on the key. Memory per server is measured by
//! `examples/bench_peer.rs` (a counting allocator), not here.
//!
//! `MDMLINK_BENCH_MAX_SERVERS` caps the largest size (CI's quick run may
//! lower it on a small machine); the default is 1,000,000.

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mdmlink::{
    ServerToken,
    expiry::ExpiryPolicy,
    organization::{InstallOptions, Organization, ServerOptions},
    portal::Portal,
};
use time::OffsetDateTime;

fn server_name(i: usize) -> String {
    format!("MDM Server {i:07}")
}

fn sizes() -> Vec<usize> {
    let max = std::env::var("MDMLINK_BENCH_MAX_SERVERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    [1_000, 100_000, 1_000_000]
        .into_iter()
        .filter(|&n| n <= max)
        .collect()
}

fn label(n: usize) -> String {
    match n {
        n if n >= 1_000_000 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

fn organization(n: usize, now: OffsetDateTime) -> Organization {
    let mut org = Organization::new("Bench MSP", Portal::BusinessManager);
    for i in 0..n {
        org.add_linked_server(&server_name(i), None, ServerOptions::default(), now)
            .expect("unique name");
    }
    org
}

fn scale(c: &mut Criterion) {
    let now = OffsetDateTime::now_utc();
    let mut group = c.benchmark_group("organization");
    for n in sizes() {
        let mut org = organization(n, now);
        // A name that is free, and one that is taken in another case.
        let free = "Brand New Server";
        let taken = server_name(n / 2).to_uppercase();
        group.bench_function(BenchmarkId::new("check_name_free", label(n)), |b| {
            b.iter(|| black_box(org.check_name(black_box(free)).is_ok()))
        });
        group.bench_function(BenchmarkId::new("check_name_taken", label(n)), |b| {
            b.iter(|| black_box(org.check_name(black_box(&taken)).is_err()))
        });
        // Adding one server to an organization of about n servers: the
        // organization grows, and is reset (untimed) to its n servers when it
        // has grown by a tenth, so the time is the amortized cost at size n.
        let base = org.clone();
        let mut next = n;
        group.bench_function(BenchmarkId::new("add_linked_server", label(n)), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters as usize;
                while left > 0 {
                    if next >= n + n / 10 {
                        org = base.clone();
                        next = n;
                    }
                    let chunk = left.min(n + n / 10 - next);
                    let names: Vec<String> = (next..next + chunk).map(server_name).collect();
                    let start = Instant::now();
                    for name in &names {
                        org.add_linked_server(name, None, ServerOptions::default(), now)
                            .expect("free name");
                    }
                    total += start.elapsed();
                    next += chunk;
                    left -= chunk;
                }
                total
            })
        });
    }
    group.finish();
}

fn expiry(c: &mut Criterion) {
    let now = OffsetDateTime::now_utc();
    let policy = ExpiryPolicy::default();
    let n = sizes().into_iter().max().unwrap_or(1_000);
    // Expiries spread over two years around now: a mix of expired, soon and valid.
    let expiries: Vec<OffsetDateTime> = (0..n)
        .map(|i| now + time::Duration::minutes(((i * 7919) % 1_051_200) as i64 - 525_600))
        .collect();
    let mut org = organization(n, now);
    for (i, &expires) in expiries.iter().enumerate() {
        let token = ServerToken::new("CK_x", "CS_x", "AT_x", "AS_x", expires).expect("token");
        // Some are expired on purpose, which the install policy refuses unless forced.
        let forced = InstallOptions::default().with_force(true);
        org.install_opened_token(&server_name(i), token, forced, now)
            .expect("install");
    }

    let mut group = c.benchmark_group("expiry");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function(BenchmarkId::new("evaluate", label(n)), |b| {
        b.iter(|| {
            black_box(
                expiries
                    .iter()
                    .filter(|&&e| policy.evaluate(e, now).needs_action())
                    .count(),
            )
        })
    });
    group.bench_function(BenchmarkId::new("statuses", label(n)), |b| {
        b.iter(|| black_box(org.statuses(&policy, now)))
    });
    group.bench_function(BenchmarkId::new("needs_action", label(n)), |b| {
        b.iter(|| black_box(org.needs_action(&policy, now)))
    });
    group.finish();
}

criterion_group!(benches, scale, expiry);
criterion_main!(benches);
