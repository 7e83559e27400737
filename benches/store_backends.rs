//! The stores side by side, row by row: SQLite (a file) and PostgreSQL
//! (loopback, verified TLS when the URL asks for it) at 100, 1,000 and 10,000
//! servers, 10 per organization.
//!
//! - `list`: every server's non-secret columns (what `server list` and
//!   `check` read);
//! - `write_one`: an `install-token`-like write of one server: lock its row,
//!   replace its sealed token and token columns, commit (one transaction).
//!   Criterion prints it as elements per second: one-server writes per second
//!   of a single instance.
//!
//! PostgreSQL runs when `MDMLINK_TEST_POSTGRES_URL` is set (scripts/with-postgres.sh
//! sets it); each size gets a schema of its own (`schema=` in the URL).
//! `MDMLINK_BENCH_MAX_SERVERS` caps the largest size.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mdmlink::{
    organization::ServerOptions,
    portal::Portal,
    store::{
        OrganizationId, OrganizationRow, SecretField, ServerRow, ServerSummary, SqliteStore, Store,
        StoreError, StoreExt,
        master_key::{MasterKey, Sealer},
    },
};
use time::{OffsetDateTime, macros::datetime};

const NOW: OffsetDateTime = datetime!(2026-01-17 11:02:21 UTC);
const PER_ORGANIZATION: usize = 10;

fn sizes() -> Vec<usize> {
    let max = std::env::var("MDMLINK_BENCH_MAX_SERVERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    [100, 1_000, 10_000]
        .into_iter()
        .filter(|&n| n <= max)
        .collect()
}

fn server(sealer: &Sealer, organization: OrganizationId, i: usize) -> ServerRow {
    let name = format!("MDM Server {i:05}");
    let secret = |field, len| {
        Some(
            sealer
                .seal(organization, 0, field, &vec![7u8; len])
                .unwrap(),
        )
    };
    ServerRow {
        summary: ServerSummary {
            organization_id: organization,
            name_key: name.to_lowercase(),
            name,
            options: ServerOptions::default(),
            created_at: Some(NOW),
            certificate_serial: Some(format!("{i:016X}")),
            certificate_not_after: Some(datetime!(2027-01-17 0:00 UTC)),
            token_expires_at: Some(datetime!(2027-01-10 12:00 UTC)),
            token_installed_at: Some(NOW),
            token_certificate_serial: Some(format!("{i:016X}")),
            ..ServerSummary::default()
        },
        certificate_pem: Some("-----BEGIN CERTIFICATE-----\n".repeat(20)),
        private_key: secret(SecretField::PrivateKey, 1_218),
        token: secret(SecretField::TokenCredentials, 420),
        ..ServerRow::default()
    }
}

/// Fills `store` with `n` servers in `n / 10` organizations; returns the
/// first organization's id.
fn fill(store: &mut dyn Store, sealer: &Sealer, n: usize) -> OrganizationId {
    let mut first = None;
    for chunk in 0..n.div_ceil(1_000) {
        store
            .write(|tx| -> Result<(), StoreError> {
                for i in chunk * 1_000..((chunk + 1) * 1_000).min(n) {
                    if i % PER_ORGANIZATION == 0 {
                        let row = OrganizationRow::new(
                            &format!("Customer {:05}", i / PER_ORGANIZATION),
                            Portal::BusinessManager,
                            NOW,
                        )?;
                        let id = tx.insert_organization(&row)?;
                        first.get_or_insert(id);
                    }
                    let org = tx
                        .find_organization(&format!("customer {:05}", i / PER_ORGANIZATION))?
                        .map(|o| o.id)
                        .unwrap_or_default();
                    tx.insert_server(&server(sealer, org, i))?;
                }
                Ok(())
            })
            .unwrap();
    }
    first.unwrap_or_default()
}

fn bench_store(c: &mut Criterion, backend: &str, n: usize, store: &mut dyn Store) {
    let sealer = Sealer::new(
        store.read(|tx| tx.store_id()).unwrap(),
        Some(MasterKey::from_bytes([42; 32])),
    );
    let org = fill(store, &sealer, n);
    let mut group = c.benchmark_group("store");
    group.bench_with_input(
        BenchmarkId::new(format!("list/{backend}"), n),
        &n,
        |b, _| {
            b.iter(|| {
                let servers = store.read(|tx| tx.list_servers(None)).unwrap();
                assert_eq!(servers.len(), n);
                black_box(servers)
            })
        },
    );
    group.throughput(Throughput::Elements(1));
    let token = sealer
        .seal(org, 0, SecretField::TokenCredentials, &[9u8; 420])
        .unwrap();
    let mut i = 0usize;
    group.bench_with_input(
        BenchmarkId::new(format!("write_one/{backend}"), n),
        &n,
        |b, _| {
            b.iter(|| {
                i += 1;
                let key = format!("mdm server {:05}", i % PER_ORGANIZATION);
                store
                    .write(|tx| -> Result<(), StoreError> {
                        let mut row = tx.server_for_update(org, &key)?.unwrap();
                        row.token = Some(token.clone());
                        row.summary.token_installed_at =
                            Some(NOW + time::Duration::seconds(i as i64));
                        tx.update_server(&row)
                    })
                    .unwrap();
            })
        },
    );
    group.finish();
}

fn sqlite(c: &mut Criterion) {
    for n in sizes() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path().join("store.sqlite")).unwrap();
        bench_store(c, "sqlite", n, &mut store);
    }
}

fn postgres(c: &mut Criterion) {
    let Ok(server) = std::env::var("MDMLINK_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but MDMLINK_TEST_POSTGRES_URL is not set: run the benches through scripts/with-postgres.sh"
        );
        eprintln!(
            "PostgreSQL benches not run: run `bash scripts/with-postgres.sh cargo bench --features postgres,sqlite --bench store_backends`"
        );
        return;
    };
    for n in sizes() {
        // A schema of its own per size (the server is a throwaway one).
        let schema = format!("bench_{n}_{}", std::process::id());
        let sep = if server.contains('?') { '&' } else { '?' };
        let url = format!("{server}{sep}schema={schema}");
        let mut store = mdmlink::store::PostgresStore::open(&url).unwrap();
        bench_store(c, "postgres", n, &mut store);
    }
}

criterion_group!(benches, sqlite, postgres);
criterion_main!(benches);
