//! Against a real server: `MDMLINK_TEST_POSTGRES_URL` (set by
//! `scripts/with-postgres.sh`). Each test works in a schema of its own.

use std::sync::{Arc, Barrier};

use super::*;
use crate::portal::Portal;
use crate::store::conformance::{StoreFactory, server_row};
use crate::store::{OrganizationId, OrganizationRow, SecretField, StoreExt};

/// A schema of its own on the test server, dropped at the end.
pub(crate) struct TestDb {
    /// The URL of the schema (the server's URL with `schema=`).
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
                    "CI=true but MDMLINK_TEST_POSTGRES_URL is not set: run the tests through scripts/with-postgres.sh"
                );
                static SAID: std::sync::Once = std::sync::Once::new();
                SAID.call_once(|| {
                    // Straight to stderr: the test harness captures eprintln!.
                    use std::io::Write as _;
                    let _ = std::io::stderr().write_all(
                        b"PostgreSQL tests not run: run `bash scripts/with-postgres.sh` (starts a throwaway server) or set MDMLINK_TEST_POSTGRES_URL=postgres://...\n",
                    );
                });
                return None;
            }
        };
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).unwrap();
        let schema = format!(
            "t_{}",
            random
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        // The store creates the schema when it opens.
        let sep = if server.contains('?') { '&' } else { '?' };
        let url = format!("{server}{sep}schema={schema}");
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

fn org_and_servers(store: &mut PostgresStore, names: &[&str]) -> OrganizationId {
    let now = time::macros::datetime!(2026-01-17 11:02:21 UTC);
    store
        .write(|tx| -> Result<_, StoreError> {
            let org = tx.insert_organization(
                &OrganizationRow::new("Contoso", Portal::BusinessManager, now).unwrap(),
            )?;
            for name in names {
                let mut row = server_row(org, name, 1);
                row.summary.server_uuid = Some("0".into());
                tx.insert_server(&row)?;
            }
            Ok(org)
        })
        .unwrap()
}

#[test]
fn a_deadlock_is_retried_and_both_transactions_commit() {
    let Some(db) = TestDb::new() else { return };
    let mut setup = PostgresStore::open(&db.url).unwrap();
    let org = org_and_servers(&mut setup, &["A", "B"]);
    let barrier = Arc::new(Barrier::new(2));
    let threads: Vec<_> = [("a", "b"), ("b", "a")]
        .into_iter()
        .map(|(first, second)| {
            let barrier = barrier.clone();
            let mut store = PostgresStore::open(&db.url).unwrap();
            std::thread::spawn(move || {
                let mut attempts = 0;
                store
                    .write(|tx| -> Result<(), StoreError> {
                        attempts += 1;
                        let mut one = tx.server_for_update(org, first)?.unwrap();
                        if attempts == 1 {
                            // Both hold their first row before either asks for its second.
                            barrier.wait();
                        }
                        let mut two = tx.server_for_update(org, second)?.unwrap();
                        for row in [&mut one, &mut two] {
                            let n: u32 =
                                row.summary.server_uuid.as_deref().unwrap().parse().unwrap();
                            row.summary.server_uuid = Some((n + 1).to_string());
                            tx.update_server(row)?;
                        }
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
    for name in ["a", "b"] {
        let row = setup.read(|tx| tx.server(org, name)).unwrap().unwrap();
        assert_eq!(
            row.summary.server_uuid.as_deref(),
            Some("2"),
            "no update lost"
        );
    }
}

#[test]
fn endless_serialization_failures_give_a_clear_error() {
    let Some(db) = TestDb::new() else { return };
    let mut store = PostgresStore::open(&db.url).unwrap();
    // A trigger stands in for a database that keeps aborting the transaction.
    db.connect()
        .batch_execute(
            "CREATE FUNCTION conflict() RETURNS trigger LANGUAGE plpgsql AS
                 $$ BEGIN RAISE EXCEPTION 'simulated conflict' USING ERRCODE = '40001'; END $$;
             CREATE TRIGGER conflict BEFORE INSERT ON mdmlink_meta
                 FOR EACH ROW EXECUTE FUNCTION conflict();
             CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
                 $$ BEGIN RAISE EXCEPTION 'refused by policy'; END $$;
             CREATE TRIGGER refuse BEFORE INSERT ON mdmlink_organizations
                 FOR EACH ROW EXECUTE FUNCTION refuse();",
        )
        .unwrap();
    let mut attempts = 0;
    let err = store
        .write(|tx| {
            attempts += 1;
            tx.set_meta("k", Some(b"v"))
        })
        .unwrap_err();
    assert_eq!(attempts, MAX_ATTEMPTS);
    assert!(
        matches!(err, StoreError::Conflict { attempts, .. } if attempts == MAX_ATTEMPTS),
        "{err}"
    );
    assert!(err.to_string().contains("try again"), "{err}");
    // Another database error is not retried.
    let mut attempts = 0;
    let now = time::macros::datetime!(2026-01-17 11:02:21 UTC);
    let err = store
        .write(|tx| {
            attempts += 1;
            tx.insert_organization(&OrganizationRow::new(
                "Contoso",
                Portal::BusinessManager,
                now,
            )?)
        })
        .unwrap_err();
    assert_eq!(attempts, 1);
    assert!(err.to_string().contains("refused by policy"), "{err}");
    // Nor is the caller's own error.
    let mut attempts = 0;
    let err: Result<(), StoreError> = store.write(|_| {
        attempts += 1;
        Err(StoreError::InvalidName("mine".into()))
    });
    assert!(matches!(err, Err(StoreError::InvalidName(_))));
    assert_eq!(attempts, 1);
}

#[test]
fn secrets_are_kept_only_sealed_under_a_master_key() {
    use crate::store::master_key::{MasterKey, Sealer};
    let Some(db) = TestDb::new() else { return };
    let mut store = PostgresStore::open(&db.url).unwrap();
    let org = org_and_servers(&mut store, &[]);
    let store_id = store.read(|tx| tx.store_id()).unwrap();
    let secret = b"-----BEGIN PRIVATE KEY----- not really";
    let mut row = server_row(org, "Main MDM", 1);
    // Without a master key the sealer keeps plaintext: refused, nothing written.
    let plain = Sealer::new(store_id, None);
    row.private_key = Some(plain.seal(org, 1, SecretField::PrivateKey, secret).unwrap());
    let err = store.write(|tx| tx.insert_server(&row)).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::PlaintextSecret {
                field: SecretField::PrivateKey,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("master key"), "{err}");
    assert!(store.read(|tx| tx.list_servers(None)).unwrap().is_empty());
    // Sealed under a master key: stored, and only ciphertext is in the table.
    let sealer = Sealer::new(store_id, Some(MasterKey::generate().unwrap()));
    row.private_key = Some(
        sealer
            .seal(org, 1, SecretField::PrivateKey, secret)
            .unwrap(),
    );
    let id = store.write(|tx| tx.insert_server(&row)).unwrap();
    let stored: Vec<u8> = db
        .connect()
        .query_one(
            "SELECT private_key FROM mdmlink_servers WHERE id = $1",
            &[&id],
        )
        .unwrap()
        .get(0);
    assert!(!stored.windows(secret.len()).any(|w| w == secret));
    // Nor can an update put a plaintext token in.
    let mut back = store
        .read(|tx| tx.server(org, "main mdm"))
        .unwrap()
        .unwrap();
    back.token = Some(
        plain
            .seal(org, id, SecretField::TokenCredentials, b"{}")
            .unwrap(),
    );
    let err = store.write(|tx| tx.update_server(&back)).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::PlaintextSecret {
                field: SecretField::TokenCredentials,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn an_api_key_is_kept_only_sealed_by_the_store_and_by_the_table() {
    use crate::store::master_key::Sealer;
    let Some(db) = TestDb::new() else { return };
    let mut store = PostgresStore::open(&db.url).unwrap();
    let org = org_and_servers(&mut store, &[]);
    let store_id = store.read(|tx| tx.store_id()).unwrap();
    let plain = Sealer::new(store_id, None);
    let mut row = crate::store::conformance::api_account_row(org, b"");
    row.private_key = plain.seal_api_key(org, b"pkcs8 key in clear").unwrap();
    let err = store.write(|tx| tx.insert_api_account(&row)).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::PlaintextSecret {
                field: SecretField::ApiPrivateKey,
                ..
            }
        ),
        "{err}"
    );
    assert!(store.read(|tx| tx.api_account(org)).unwrap().is_none());
    // The table refuses it too, whoever writes (and a scope that does not
    // follow the client ID, and an unknown scope).
    let mut client = db.connect();
    let insert = "INSERT INTO mdmlink_api_accounts
         (organization_id, client_id, key_id, scope, created_at, private_key)
         VALUES ($1, $2, 'KID', $3, '2026-01-17T11:02:21Z', $4)";
    for (client_id, scope, key) in [
        ("BUSINESSAPI.x", "business.api", &b"PT1pkcs8"[..]),
        ("SCHOOLAPI.x", "business.api", &b"MK1sealed"[..]),
        ("BUSINESSAPI.x", "other.api", &b"MK1sealed"[..]),
        ("BUSINESSAPI.", "business.api", &b"MK1sealed"[..]),
    ] {
        let err = client
            .execute(insert, &[&org, &client_id, &scope, &key])
            .unwrap_err();
        assert_eq!(
            err.code(),
            Some(&postgres::error::SqlState::CHECK_VIOLATION),
            "{client_id} {scope}: {err}"
        );
    }
    client
        .execute(
            insert,
            &[&org, &"BUSINESSAPI.x", &"business.api", &&b"MK1sealed"[..]],
        )
        .unwrap();
}

/// The server's URL without its `sslmode` and `sslrootcert` parameters.
fn without_tls_params(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.starts_with("sslmode=") && !p.starts_with("sslrootcert="))
        .collect();
    if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

#[test]
fn tls_with_a_verified_server_certificate() {
    let Some(db) = TestDb::new() else { return };
    if !db.url.contains("sslrootcert=") {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but MDMLINK_TEST_POSTGRES_URL has no sslrootcert: run the tests through scripts/with-postgres.sh"
        );
        eprintln!(
            "TLS test not run: MDMLINK_TEST_POSTGRES_URL has no sslmode=require&sslrootcert=CA"
        );
        return;
    }
    let encrypted = |store: &mut PostgresStore| -> bool {
        store
            .client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .unwrap()
            .get(0)
    };
    let mut store = PostgresStore::open(&db.url).unwrap();
    assert!(
        encrypted(&mut store),
        "sslmode=require with the CA: encrypted and verified"
    );
    // The same server without its CA: the certificate is not trusted, and the
    // store says so (and what to do) instead of connecting unverified.
    let bare = without_tls_params(&db.url);
    for url in [format!("{bare}&sslmode=require"), bare.clone()] {
        let err = PostgresStore::open(&url).unwrap_err().to_string();
        assert!(err.contains("sslrootcert=PATH"), "{url}: {err}");
    }
    let mut plain = PostgresStore::open(&format!("{bare}&sslmode=disable")).unwrap();
    assert!(!encrypted(&mut plain), "sslmode=disable never encrypts");
}

/// The conformance suite, unchanged, against PostgreSQL: each test in a
/// schema of its own.
mod conformance {
    use super::*;

    pub(crate) struct PostgresFactory(TestDb);

    impl PostgresFactory {
        pub(crate) fn new() -> Option<Self> {
            TestDb::new().map(Self)
        }
    }

    impl StoreFactory for PostgresFactory {
        fn connect(&self) -> Box<dyn Store + Send> {
            Box::new(PostgresStore::open(&self.0.url).unwrap())
        }

        /// Whether any row holds `needle` (a deleted row's old version stays
        /// in the files until VACUUM; see the module docs).
        fn holds_bytes(&self, needle: &[u8]) -> bool {
            let mut client = self.0.connect();
            client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM mdmlink_servers
                         WHERE position($1 IN COALESCE(private_key, '')) > 0
                            OR position($1 IN COALESCE(staged_private_key, '')) > 0
                            OR position($1 IN COALESCE(token, '')) > 0)
                     OR EXISTS (SELECT 1 FROM mdmlink_api_accounts
                         WHERE position($1 IN private_key) > 0)
                     OR EXISTS (SELECT 1 FROM mdmlink_meta WHERE position($1 IN value) > 0)",
                    &[&needle],
                )
                .unwrap()
                .get(0)
        }
    }

    crate::store_conformance_tests!(match PostgresFactory::new() {
        Some(f) => f,
        None => return,
    });
}
