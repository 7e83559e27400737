//! The embedded [`Store`]: one SQLite database file (feature `sqlite`).
//!
//! - The file is created with mode 0600 before SQLite opens it (SQLite gives
//!   its `-wal` and `-shm` files the database file's mode).
//! - WAL journal: readers never block the writer; a crash mid-write leaves the
//!   last committed state.
//! - `PRAGMA user_version` holds the schema version; [`MIGRATIONS`] brings an
//!   older (or empty) file up to date, and a newer one is refused.
//! - [`Store::load_for_update`] is `BEGIN IMMEDIATE`: it takes the write lock
//!   at once, and a busy timeout makes other processes wait for it, so
//!   load-change-save sequences serialize and never lose an update.
//! - Opening runs `PRAGMA quick_check`, so a damaged (for example truncated)
//!   file is reported as such, naming the file, before anything is changed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};
use time::OffsetDateTime;

use super::{Store, StoreError, StoredOrganization, TokenFile};
use crate::{organization::OrganizationRecord, portal::Portal};

/// The schema, one step per entry; entry `n` takes `user_version` from `n` to `n + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: the organization and its servers, each server's record as JSON.
    "CREATE TABLE organization (
         id INTEGER PRIMARY KEY CHECK (id = 1),
         name TEXT NOT NULL,
         portal TEXT NOT NULL
     );
     CREATE TABLE servers (
         position INTEGER PRIMARY KEY,
         name TEXT NOT NULL UNIQUE,
         record TEXT NOT NULL
     );",
    // 2: the token file as the portal served it, beside its server.
    "ALTER TABLE servers ADD COLUMN token_file BLOB;
     ALTER TABLE servers ADD COLUMN token_installed_at TEXT;
     ALTER TABLE servers ADD COLUMN token_downloaded_by TEXT;
     ALTER TABLE servers ADD COLUMN token_certificate_serial TEXT;",
];

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long a command waits for another process's transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// A store in one SQLite database file.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    in_transaction: bool,
}

impl SqliteStore {
    /// Opens the store at `path`, creating it (mode 0600) if it does not
    /// exist, and migrating it to [`SCHEMA_VERSION`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        create_private(&path)?;
        check_header(&path)?;
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| map_err(&path, e))?;
        let mut store = Self {
            conn,
            path,
            in_transaction: false,
        };
        store
            .conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| map_err(&store.path, e))?;
        store.check_integrity()?;
        let mode: String = store
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| map_err(&store.path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Database {
                path: store.path.clone(),
                reason: format!("could not switch to WAL journaling (journal mode is {mode})"),
            });
        }
        store.migrate()?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version in the file.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        map_err(&self.path, e)
    }

    fn check_integrity(&self) -> Result<(), StoreError> {
        let result: String = self
            .conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if result != "ok" {
            return Err(StoreError::Corrupt {
                path: self.path.clone(),
                reason: result,
            });
        }
        Ok(())
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err(e))?;
        let result = self.migrate_locked();
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let ended = self.conn.execute_batch(end).map_err(|e| self.err(e));
        result.and(ended)
    }

    fn migrate_locked(&self) -> Result<(), StoreError> {
        let version = self.schema_version()?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: self.path.clone(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version < 0 {
            return Err(StoreError::Corrupt {
                path: self.path.clone(),
                reason: format!("schema version {version}"),
            });
        }
        for (i, step) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            self.conn.execute_batch(step).map_err(|e| self.err(e))?;
            self.conn
                .pragma_update(None, "user_version", i as i64 + 1)
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    fn read(&self) -> Result<Option<StoredOrganization>, StoreError> {
        read_tables(&self.conn, &self.path, "organization", "servers")
    }

    fn write(&self, organization: Option<&StoredOrganization>) -> Result<(), StoreError> {
        let c = &self.conn;
        c.execute("DELETE FROM servers", [])
            .map_err(|e| self.err(e))?;
        c.execute("DELETE FROM organization", [])
            .map_err(|e| self.err(e))?;
        let Some(org) = organization else {
            return Ok(());
        };
        c.execute(
            "INSERT INTO organization (id, name, portal) VALUES (1, ?1, ?2)",
            params![org.record.name, org.record.portal.slug()],
        )
        .map_err(|e| self.err(e))?;
        let mut stmt = c
            .prepare(
                "INSERT INTO servers (position, name, record, token_file, token_installed_at,
                                      token_downloaded_by, token_certificate_serial)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(|e| self.err(e))?;
        for (i, server) in org.record.servers.iter().enumerate() {
            let record = zeroize::Zeroizing::new(
                serde_json::to_string(server).map_err(|e| StoreError::Serialize(e.to_string()))?,
            );
            let file = org.token_files.get(&server.name);
            let installed_at = file
                .map(|f| {
                    f.installed_at
                        .format(&time::format_description::well_known::Rfc3339)
                })
                .transpose()
                .map_err(|e| StoreError::Serialize(e.to_string()))?;
            stmt.execute(params![
                i as i64,
                server.name,
                record.as_str(),
                file.map(|f| &f.data),
                installed_at,
                file.and_then(|f| f.downloaded_by.as_deref()),
                file.and_then(|f| f.certificate_serial.as_deref()),
            ])
            .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    fn end(&mut self, sql: &str) -> Result<(), StoreError> {
        self.in_transaction = false;
        self.conn.execute_batch(sql).map_err(|e| self.err(e))
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        if self.in_transaction {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

impl Store for SqliteStore {
    fn load(&mut self) -> Result<Option<StoredOrganization>, StoreError> {
        if self.in_transaction {
            return self.read();
        }
        // One read transaction: a consistent snapshot of both tables.
        self.conn
            .execute_batch("BEGIN DEFERRED")
            .map_err(|e| self.err(e))?;
        let result = self.read();
        let ended = self.conn.execute_batch("COMMIT").map_err(|e| self.err(e));
        let value = result?;
        ended?;
        Ok(value)
    }

    fn load_for_update(&mut self) -> Result<Option<StoredOrganization>, StoreError> {
        if !self.in_transaction {
            self.conn
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(|e| self.err(e))?;
            self.in_transaction = true;
        }
        let result = self.read();
        if result.is_err() {
            let _ = self.end("ROLLBACK");
        }
        result
    }

    fn save(&mut self, organization: Option<&StoredOrganization>) -> Result<(), StoreError> {
        if !self.in_transaction {
            return Err(StoreError::NoTransaction {
                path: self.path.clone(),
            });
        }
        match self.write(organization) {
            Ok(()) => self.end("COMMIT"),
            Err(e) => {
                let _ = self.end("ROLLBACK");
                Err(e)
            }
        }
    }

    fn abort(&mut self) -> Result<(), StoreError> {
        if !self.in_transaction {
            return Err(StoreError::NoTransaction {
                path: self.path.clone(),
            });
        }
        self.end("ROLLBACK")
    }
}

/// Reads the 0.1.0 tables (named `org_table` and `servers_table`).
pub(crate) fn read_tables(
    conn: &Connection,
    path: &Path,
    org_table: &str,
    servers_table: &str,
) -> Result<Option<StoredOrganization>, StoreError> {
    let err = |e: rusqlite::Error| map_err(path, e);
    let corrupt = |reason: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let org: Option<(String, String)> = conn
        .query_row(
            &format!("SELECT name, portal FROM {org_table} WHERE id = 1"),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(err)?;
    let Some((name, portal)) = org else {
        return Ok(None);
    };
    let portal: Portal = portal
        .parse()
        .map_err(|_| corrupt(format!("unknown portal {portal:?}")))?;
    let mut stmt = conn
        .prepare(&format!(
            "SELECT name, record, token_file, token_installed_at, token_downloaded_by,
                    token_certificate_serial
             FROM {servers_table} ORDER BY position"
        ))
        .map_err(err)?;
    type Row = (
        String,
        String,
        Option<Vec<u8>>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows = stmt
        .query_map([], |r| -> rusqlite::Result<Row> {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .map_err(err)?;
    let mut stored = StoredOrganization::new(OrganizationRecord {
        name,
        portal,
        servers: Vec::new(),
    });
    for row in rows {
        let (name, record, file, installed_at, downloaded_by, serial) = row.map_err(err)?;
        // The JSON may hold a private key: zeroize it once parsed.
        let record = zeroize::Zeroizing::new(record);
        let record =
            serde_json::from_str(&record).map_err(|e| corrupt(format!("server {name:?}: {e}")))?;
        stored.record.servers.push(record);
        if let Some(data) = file {
            let installed_at = installed_at
                .as_deref()
                .and_then(|t| {
                    OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
                })
                .ok_or_else(|| corrupt(format!("server {name:?}: bad token install time")))?;
            stored.token_files.insert(
                name,
                TokenFile {
                    data,
                    installed_at,
                    downloaded_by,
                    certificate_serial: serial,
                },
            );
        }
    }
    Ok(Some(stored))
}

/// Creates `path` with mode 0600 if it does not exist (so the database never
/// exists with a wider mode), and narrows an existing file's mode to 0600.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let io = |e: std::io::Error| StoreError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let meta = file.metadata().map_err(io)?;
        if meta.permissions().mode() & 0o777 != 0o600 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(io)?;
        }
    }
    drop(file);
    Ok(())
}

/// Refuses, before SQLite sees it, a non-empty file that is not an SQLite
/// database or is shorter than its header claims.
fn check_header(path: &Path) -> Result<(), StoreError> {
    use std::io::Read as _;
    let corrupt = |reason: &str| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    };
    let mut header = [0u8; 100];
    let mut file = std::fs::File::open(path).map_err(|e| StoreError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let len = file
        .metadata()
        .map_err(|e| StoreError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?
        .len();
    if len == 0 {
        return Ok(());
    }
    if len < 100 || file.read_exact(&mut header).is_err() {
        return Err(corrupt("the file is shorter than an SQLite header"));
    }
    if &header[..16] != b"SQLite format 3\0" {
        return Err(corrupt("not an SQLite database"));
    }
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65536u64,
        n => u64::from(n),
    };
    let pages = u64::from(u32::from_be_bytes([
        header[28], header[29], header[30], header[31],
    ]));
    let valid_for = &header[92..96];
    let change_counter = &header[24..28];
    if page_size >= 512
        && pages > 0
        && valid_for == change_counter
        && len < pages.saturating_mul(page_size)
    {
        return Err(corrupt(&format!(
            "the file is truncated: {len} bytes, but its header counts {pages} pages of {page_size} bytes"
        )));
    }
    Ok(())
}

fn map_err(path: &Path, e: rusqlite::Error) -> StoreError {
    let path = path.to_path_buf();
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Corrupt {
            path,
            reason: e.to_string(),
        },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy { path },
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => {
            StoreError::Io {
                path,
                reason: e.to_string(),
            }
        }
        _ => StoreError::Database {
            path,
            reason: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::legacy::{tests::exercise, update};

    #[test]
    fn round_trip_abort_and_update() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        exercise(&mut SqliteStore::open(&path).unwrap());
        // What was saved is there for a new connection.
        let stored = crate::store::legacy::tests::sample("Lab");
        let mut a = SqliteStore::open(&path).unwrap();
        update(&mut a, |c| -> Result<(), StoreError> {
            *c = Some(stored.clone());
            Ok(())
        })
        .unwrap();
        drop(a);
        let mut b = SqliteStore::open(&path).unwrap();
        assert_eq!(b.load().unwrap(), Some(stored));
    }

    #[test]
    fn migrates_an_empty_file_and_an_old_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        // An empty file (as `open` creates it) is migrated to the latest version.
        std::fs::write(&path, b"").unwrap();
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        drop(store);

        // A version-1 store with a server gets the token columns, data kept.
        let old = dir.path().join("old.sqlite");
        let conn = Connection::open(&old).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        let sample = crate::store::legacy::tests::sample("Old");
        conn.execute(
            "INSERT INTO organization (id, name, portal) VALUES (1, 'Example School', 'school-manager')",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO servers (position, name, record) VALUES (0, 'Old', ?1)",
            [serde_json::to_string(&sample.record.servers[0]).unwrap()],
        )
        .unwrap();
        drop(conn);
        let mut store = SqliteStore::open(&old).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let loaded = store.load().unwrap().unwrap();
        assert_eq!(loaded.record, sample.record);
        assert!(loaded.token_files.is_empty());
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        drop(SqliteStore::open(&path).unwrap());
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
    fn concurrent_writers_lose_no_update() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        let base = crate::store::legacy::tests::sample("Base");
        update(
            &mut SqliteStore::open(&path).unwrap(),
            |c| -> Result<(), StoreError> {
                *c = Some(base.clone());
                Ok(())
            },
        )
        .unwrap();
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    // Each thread its own connection, as separate processes would have.
                    let mut store = SqliteStore::open(&path).unwrap();
                    update(&mut store, |c| -> Result<(), StoreError> {
                        let org = c.as_mut().unwrap();
                        let mut s = org.record.servers[0].clone();
                        std::thread::yield_now();
                        s.name = format!("Server {i}");
                        org.record.servers.push(s);
                        Ok(())
                    })
                    .unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let loaded = SqliteStore::open(&path).unwrap().load().unwrap().unwrap();
        let names: Vec<&str> = loaded
            .record
            .servers
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names.len(), 9, "{names:?}");
        for i in 0..8 {
            assert!(names.contains(&format!("Server {i}").as_str()), "{names:?}");
        }
    }
}
