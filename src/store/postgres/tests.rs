//! Against a real server: `MDMLINK_TEST_POSTGRES_URL` (set by
//! `scripts/ci/30-postgres.sh`). Each test works in a schema of its own.

use std::sync::{Arc, Barrier};

use super::*;

/// A schema of its own on the test server, dropped at the end.
pub(crate) struct TestDb {
    /// The URL of the schema (the server's URL with `search_path` set).
    pub(crate) url: String,
    server: String,
    schema: String,
}

impl TestDb {
    /// A new, empty schema, or `None` (after saying once how to run these
    /// tests) when no server is configured. Under `CI=true` a missing server
    /// fails the test.
    pub(crate) fn new() -> Option<Self> {
        let server = match std::env::var("MDMLINK_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "CI=true but MDMLINK_TEST_POSTGRES_URL is not set: run the tests through scripts/ci/30-postgres.sh"
                );
                static SAID: std::sync::Once = std::sync::Once::new();
                SAID.call_once(|| {
                    eprintln!(
                        "PostgreSQL tests not run: run `bash scripts/ci/30-postgres.sh` (starts a throwaway server) or set MDMLINK_TEST_POSTGRES_URL=postgres://..."
                    )
                });
                return None;
            }
        };
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).unwrap();
        let schema = format!(
            "t_{}",
            random.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let mut admin = PostgresUrl::parse(&server).unwrap().connect().unwrap_or_else(|e| {
            panic!("the test server at MDMLINK_TEST_POSTGRES_URL is not reachable: {e:?}")
        });
        admin
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .unwrap();
        let sep = if server.contains('?') { '&' } else { '?' };
        let url = format!("{server}{sep}options=-csearch_path%3D{schema}");
        Some(Self {
            url,
            server,
            schema,
        })
    }

    /// A plain connection to the schema.
    pub(crate) fn connect(&self) -> postgres::Client {
        PostgresUrl::parse(&self.url).unwrap().connect().unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = PostgresUrl::parse(&self.server).unwrap().connect() {
            let _ = admin.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema));
        }
    }
}

#[test]
fn instances_starting_together_migrate_once() {
    let Some(db) = TestDb::new() else { return };
    let barrier = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let mut store = PostgresStore::open(&url).unwrap();
                store.schema_version().unwrap()
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), POSTGRES_SCHEMA_VERSION);
    }
    let mut client = db.connect();
    let versions: Vec<i64> = client
        .query(
            "SELECT version FROM mdmlink_schema_version ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        versions,
        (1..=POSTGRES_SCHEMA_VERSION).collect::<Vec<_>>(),
        "each step applied exactly once"
    );
}

#[test]
fn a_newer_schema_is_refused_unchanged() {
    let Some(db) = TestDb::new() else { return };
    drop(PostgresStore::open(&db.url).unwrap());
    let mut client = db.connect();
    client
        .execute(
            "INSERT INTO mdmlink_schema_version (version) VALUES ($1)",
            &[&(POSTGRES_SCHEMA_VERSION + 1)],
        )
        .unwrap();
    let err = PostgresStore::open(&db.url).unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found, .. } if found == POSTGRES_SCHEMA_VERSION + 1),
        "{err}"
    );
    let count: i64 = client
        .query_one("SELECT count(*) FROM mdmlink_schema_version", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, POSTGRES_SCHEMA_VERSION + 1);
}

#[test]
fn a_wrong_password_is_a_clear_error_without_the_password() {
    let Some(db) = TestDb::new() else { return };
    let parsed = PostgresUrl::parse(&db.server).unwrap();
    let config = parsed.config();
    let host = match &config.get_hosts()[0] {
        postgres::config::Host::Tcp(h) => h.clone(),
        #[cfg(unix)]
        postgres::config::Host::Unix(_) => return,
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres");
    let dbname = config.get_dbname().unwrap_or(user);
    let wrong = "Wr0ng-Passw0rd-4-test";
    let url = format!("postgres://{user}:{wrong}@{host}:{port}/{dbname}?sslmode=disable");
    let err = PostgresStore::open(&url).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains(wrong), "{text}");
    assert!(text.contains("could not connect"), "{text}");
    assert!(text.contains(":***@"), "{text}");
}

#[test]
fn a_deadlock_is_retried_and_both_transactions_commit() {
    let Some(db) = TestDb::new() else { return };
    let mut setup = db.connect();
    setup
        .batch_execute(
            "CREATE TABLE pair (id INT PRIMARY KEY, n INT NOT NULL);
             INSERT INTO pair VALUES (1, 0), (2, 0);",
        )
        .unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let threads: Vec<_> = [(1, 2), (2, 1)]
        .into_iter()
        .map(|(first, second)| {
            let barrier = barrier.clone();
            let mut client = db.connect();
            std::thread::spawn(move || {
                let mut attempts = 0;
                txn::run::<_, ()>(&mut client, |tx| {
                    attempts += 1;
                    tx.execute("UPDATE pair SET n = n + 1 WHERE id = $1", &[&first])?;
                    if attempts == 1 {
                        // Both hold their first row before either asks for its second.
                        barrier.wait();
                    }
                    tx.execute("UPDATE pair SET n = n + 1 WHERE id = $1", &[&second])?;
                    Ok(())
                })
                .unwrap();
                attempts
            })
        })
        .collect();
    let attempts: Vec<u32> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(
        attempts.iter().any(|&a| a > 1),
        "one of the two was chosen as the deadlock victim and retried: {attempts:?}"
    );
    let sums: Vec<i32> = setup
        .query("SELECT n FROM pair ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(sums, vec![2, 2], "no update lost");
}

#[test]
fn endless_serialization_failures_give_a_clear_error() {
    let Some(db) = TestDb::new() else { return };
    let mut store = PostgresStore::open(&db.url).unwrap();
    let mut attempts = 0;
    let err = store
        .transaction(|tx| {
            attempts += 1;
            tx.batch_execute(
                "DO $$ BEGIN RAISE EXCEPTION 'simulated conflict' USING ERRCODE = '40001'; END $$",
            )?;
            Ok(())
        })
        .unwrap_err();
    assert_eq!(attempts, txn::MAX_ATTEMPTS);
    let text = err.to_string();
    assert!(
        text.contains(&format!("gave up after {} attempts", txn::MAX_ATTEMPTS)),
        "{text}"
    );
    assert!(text.contains("40001") && text.contains("try again"), "{text}");
    // Another error is not retried.
    let mut attempts = 0;
    let err = store
        .transaction(|tx| {
            attempts += 1;
            tx.batch_execute("SELECT no_such_column FROM mdmlink_schema_version")?;
            Ok(())
        })
        .unwrap_err();
    assert_eq!(attempts, 1);
    assert!(err.to_string().contains("42703"), "{err}");
}

#[test]
fn tls_with_a_verified_server_certificate() {
    let Some(db) = TestDb::new() else { return };
    let Ok(ca) = std::env::var("MDMLINK_TEST_POSTGRES_CA") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but MDMLINK_TEST_POSTGRES_CA is not set: run the tests through scripts/ci/30-postgres.sh"
        );
        eprintln!("TLS test not run: MDMLINK_TEST_POSTGRES_CA (the test server's CA) is not set");
        return;
    };
    let ca_param = ca.replace('/', "%2F");
    let url = format!("{}&sslmode=require&sslrootcert={ca_param}", db.url);
    let mut store = PostgresStore::open(&url).unwrap();
    let ssl: bool = store
        .client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(ssl, "the connection is encrypted");
    // The same server without its CA: the certificate is not trusted, and the
    // store says so instead of connecting unverified.
    let url = format!("{}&sslmode=require", db.url);
    let err = PostgresStore::open(&url).unwrap_err();
    let text = err.to_string().to_lowercase();
    assert!(text.contains("certificate"), "{text}");
}
