use std::path::PathBuf;

use rusqlite::Connection;
use time::OffsetDateTime;

use super::*;
use crate::portal::Portal;
use crate::store::conformance::StoreFactory;
use crate::store::{OrganizationRow, StoreExt};

pub struct SqliteFactory {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl SqliteFactory {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        Self { _dir: dir, path }
    }
}

impl StoreFactory for SqliteFactory {
    fn connect(&self) -> Box<dyn Store + Send> {
        Box::new(SqliteStore::open(&self.path).unwrap())
    }
    fn holds_bytes(&self, needle: &[u8]) -> bool {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        [self.path.clone(), PathBuf::from(wal)].iter().any(|p| {
            std::fs::read(p)
                .map(|hay| hay.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
        })
    }
}

mod conformance {
    use super::SqliteFactory;
    crate::store_conformance_tests!(SqliteFactory::new());
}

#[test]
fn refuses_another_programs_database_without_changing_it() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.sqlite");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x');")
            .unwrap();
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("another program"), "{err}");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "the mode of a foreign file is left alone");
    assert_eq!(std::fs::read(&path).unwrap(), before, "its bytes too");
}

#[test]
fn migrates_an_empty_file_and_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    std::fs::write(&path, b"").unwrap();
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert!(!store.has_legacy().unwrap());
    drop(store);
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::NewerSchema { .. }), "{err}");
    assert!(err.to_string().contains("store.sqlite"), "{err}");
}

#[test]
fn refuses_a_file_that_is_not_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "a".repeat(4096)).unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("notes.txt"), "{err}");
}

#[cfg(unix)]
#[test]
fn creates_the_file_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    drop(SqliteStore::open(&path).unwrap());
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn two_stores_have_different_ids() {
    let a = SqliteFactory::new()
        .connect()
        .read(|tx| tx.store_id())
        .unwrap();
    let b = SqliteFactory::new()
        .connect()
        .read(|tx| tx.store_id())
        .unwrap();
    assert_ne!(a, b);
}

#[test]
fn the_database_enforces_unique_names() {
    // Even a writer that skips the check meets the unique index.
    let f = SqliteFactory::new();
    let mut s = f.connect();
    let org = s
        .write(|tx| {
            tx.insert_organization(
                &OrganizationRow::new(
                    "Contoso",
                    Portal::BusinessManager,
                    OffsetDateTime::UNIX_EPOCH,
                )
                .unwrap(),
            )
        })
        .unwrap();
    let conn = Connection::open(&f.path).unwrap();
    let insert = "INSERT INTO servers (organization_id, name, name_key, options) VALUES (?1, 'A', 'a', '{}')";
    conn.execute(insert, [org]).unwrap();
    assert!(conn.execute(insert, [org]).is_err());
}

#[test]
fn the_database_checks_api_accounts() {
    // Even a writer that skips the store's checks meets the table's.
    let f = SqliteFactory::new();
    let mut s = f.connect();
    let org = s
        .write(|tx| {
            tx.insert_organization(
                &OrganizationRow::new(
                    "Contoso",
                    Portal::BusinessManager,
                    OffsetDateTime::UNIX_EPOCH,
                )
                .unwrap(),
            )
        })
        .unwrap();
    let conn = Connection::open(&f.path).unwrap();
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    let insert = "INSERT INTO api_accounts
         (organization_id, client_id, key_id, scope, created_at, private_key)
         VALUES (?1, ?2, ?3, ?4, '2026-01-17T11:02:21Z', ?5)";
    let long = "k".repeat(257);
    for (organization, client_id, key_id, scope, key) in [
        (org, "SCHOOLAPI.x", "K", "business.api", &b"MK1"[..]),
        (org, "BUSINESSAPI.x", "K", "other.api", &b"MK1"[..]),
        (org, "BUSINESSAPI.", "K", "business.api", &b"MK1"[..]),
        (org, "BUSINESSAPI.x", "", "business.api", &b"MK1"[..]),
        (
            org,
            "BUSINESSAPI.x",
            long.as_str(),
            "business.api",
            &b"MK1"[..],
        ),
        (org, "BUSINESSAPI.x", "K", "business.api", &b""[..]),
        (org + 1, "BUSINESSAPI.x", "K", "business.api", &b"MK1"[..]),
    ] {
        assert!(
            conn.execute(
                insert,
                rusqlite::params![organization, client_id, key_id, scope, key]
            )
            .is_err(),
            "{client_id} {key_id:.8} {scope} {key:?}"
        );
    }
    let good = rusqlite::params![org, "BUSINESSAPI.x", "K", "business.api", &b"MK1"[..]];
    conn.execute(insert, good).unwrap();
    // One per organization.
    assert!(conn.execute(insert, good).is_err());
    // A portal server id is 1 to 256 characters.
    conn.execute(
        "INSERT INTO servers (organization_id, name, name_key, options, portal_server_id)
         VALUES (?1, 'A', 'a', '{}', 'P1')",
        [org],
    )
    .unwrap();
    assert!(
        conn.execute("UPDATE servers SET portal_server_id = ''", [])
            .is_err()
    );
}
