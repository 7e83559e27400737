//! The store at MSP scale: 100, 1,000 and 10,000 servers across
//! organizations of ten servers each, in one SQLite file. Each iteration
//! opens the store as a command's process does (open, schema check, one
//! transaction), then:
//!
//! - `list`: every server with its health (`mdmlink server list`);
//! - `check`: what needs action across organizations (`mdmlink check`);
//! - `set_uuid`: a one-server write with no secret (`server set-uuid`);
//! - `jwt`: a one-server read that opens the sealed key and signs (one RSA
//!   operation, `mdmlink jwt`);
//! - `list_passphrase`: `list` with a passphrase given, which the command
//!   verifies (one scrypt derivation per process).
//!
//! Rows are filled in one transaction by copying a server made through the
//! Registry (one RSA key for all, renamed), so the setup does not generate
//! 10,000 keys; only the first server's secrets open (they are bound to
//! its row), and the one-server benches use it.
//!
//! `MDMLINK_BENCH_MAX_STORE` caps the largest size (default 10,000).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mdmlink::{
    SecretString, ServerKeypair,
    expiry::ExpiryPolicy,
    keypair::{CertificateParams, KeySize},
    name::ServerName,
    organization::ServerOptions,
    portal::Portal,
    store::{
        OrganizationRow, SqliteStore, StoreError, StoreExt,
        master_key::{KdfParams, MasterKeySource},
        registry::Registry,
    },
};
use time::OffsetDateTime;

const PER_ORG: usize = 10;

fn sizes() -> Vec<usize> {
    let max = std::env::var("MDMLINK_BENCH_MAX_STORE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    [100, 1_000, 10_000]
        .into_iter()
        .filter(|&n| n <= max)
        .collect()
}

fn passphrase() -> MasterKeySource {
    MasterKeySource::Passphrase(SecretString::new("bench passphrase".into()))
}

/// A store of `n` servers; the first ("Org 0000" / "Server 000000") is whole.
fn fill(path: &std::path::Path, n: usize, keypair: &ServerKeypair, now: OffsetDateTime) {
    let mut r = Registry::new(SqliteStore::open(path).unwrap(), Some(passphrase()))
        .with_kdf_params(KdfParams::DEFAULT);
    r.add_organization("Org 0000", Portal::BusinessManager, None, now)
        .unwrap();
    r.add_server(
        Some("Org 0000"),
        "Server 000000",
        keypair.clone(),
        ServerOptions::default(),
        now,
    )
    .unwrap();
    let mut store = r.into_store();
    store
        .write(|tx| -> Result<(), StoreError> {
            let template = tx.server(1, "server 000000")?.unwrap();
            let mut org_id = 1;
            for i in 1..n {
                if i % PER_ORG == 0 {
                    let row = OrganizationRow::new(
                        &format!("Org {:04}", i / PER_ORG),
                        Portal::BusinessManager,
                        now,
                    )
                    .unwrap();
                    org_id = tx.insert_organization(&row)?;
                }
                let mut row = template.clone();
                let name = ServerName::parse(&format!("Server {i:06}")).unwrap();
                row.summary.name = name.as_str().to_owned();
                row.summary.name_key = name.comparison_key().to_owned();
                row.summary.organization_id = org_id;
                tx.insert_server(&row)?;
            }
            Ok(())
        })
        .unwrap();
}

fn bench(c: &mut Criterion) {
    let now = OffsetDateTime::now_utc();
    let keypair = ServerKeypair::generate(
        &mut mdmlink::SystemRng::default(),
        KeySize::Rsa2048,
        &CertificateParams::new("Server", now),
    )
    .unwrap();
    let policy = ExpiryPolicy::default();
    let mut group = c.benchmark_group("store");
    group.sample_size(10);
    for n in sizes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        fill(&path, n, &keypair, now);
        group.bench_with_input(BenchmarkId::new("list", n), &n, |b, &n| {
            b.iter(|| {
                let mut r = Registry::new(SqliteStore::open(&path).unwrap(), None);
                let listed = r.servers(None, &policy, now).unwrap();
                assert_eq!(listed.len(), n);
                black_box(listed)
            })
        });
        group.bench_with_input(BenchmarkId::new("check", n), &n, |b, _| {
            b.iter(|| {
                let mut r = Registry::new(SqliteStore::open(&path).unwrap(), None);
                black_box(r.needs_action(None, &policy, now).unwrap())
            })
        });
        group.bench_with_input(BenchmarkId::new("set_uuid", n), &n, |b, _| {
            b.iter(|| {
                let mut r = Registry::new(SqliteStore::open(&path).unwrap(), None);
                black_box(
                    r.set_server_uuid(
                        Some("Org 0000"),
                        "Server 000000",
                        "2A873497-36CF-4614-A94F-624E705841BE",
                    )
                    .unwrap(),
                )
            })
        });
        // One registry, its key derived once before: this measures the row
        // read, the key's decryption and the RSA signature.
        let mut key = Registry::new(SqliteStore::open(&path).unwrap(), Some(passphrase()));
        key.unlock().unwrap();
        group.bench_with_input(BenchmarkId::new("jwt", n), &n, |b, _| {
            b.iter(|| {
                black_box(
                    key.access_management_jwt(
                        Some("Org 0000"),
                        "Server 000000",
                        now,
                        "jti",
                        &mut mdmlink::SystemRng::default(),
                    )
                    .unwrap(),
                )
            })
        });
        if n == 100 {
            group.bench_with_input(BenchmarkId::new("list_passphrase", n), &n, |b, _| {
                b.iter(|| {
                    let mut r =
                        Registry::new(SqliteStore::open(&path).unwrap(), Some(passphrase()));
                    r.unlock().unwrap();
                    black_box(r.servers(None, &policy, now).unwrap())
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
