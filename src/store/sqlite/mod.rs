//! The embedded [`Store`]: one SQLite database file (feature `sqlite`).
//!
//! - The file is created with mode 0600 before SQLite opens it (SQLite gives
//!   its `-wal` and `-shm` files the database file's mode).
//! - WAL journal: readers never block the writer; a crash mid-write leaves the
//!   last committed state.
//! - `PRAGMA user_version` holds the schema version; [`MIGRATIONS`] brings an
//!   older (or empty) file up to date, and a newer one is refused. Version 4
//!   keeps the tables of mdmlink 0.1.0 (versions 1 and 2) as `legacy_*`
//!   until the store-backed API has converted them
//!   ([`SqliteStore::take_legacy`]), since converting needs keys this layer
//!   does not hold.
//! - A write transaction is `BEGIN IMMEDIATE`: it takes the write lock at
//!   once, and a busy timeout makes other processes wait for it, so
//!   read-change-write sequences serialize and never lose an update.
//! - `PRAGMA secure_delete` overwrites deleted content, and a transaction
//!   that deleted or replaced a secret ends with a WAL checkpoint that
//!   truncates the journal, so no copy of the old bytes stays in either file.
//! - Opening checks the header ([`super::open`] holds the file checks), so a
//!   truncated or foreign file is reported as such, naming the file, before
//!   anything is changed; a damaged page is
//!   reported when a transaction reads it (which then changes nothing).
//!   [`SqliteStore::check_integrity`] runs `PRAGMA quick_check` on demand.

mod migrate;
mod rows;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::{Store, StoreError, StoreTx, TxMode};
pub use migrate::{MIGRATIONS, SCHEMA_VERSION};
use rows::SqliteTx;

/// How long a command waits for another process's transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// A store in one SQLite database file.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    name: String,
}

impl SqliteStore {
    /// Opens the store at `path`, creating it (mode 0600) if it does not
    /// exist, and migrating it to [`SCHEMA_VERSION`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        // Look before touching: a file that is not a store keeps its mode.
        super::open::prepare_sqlite_file(path, &path.display().to_string())?;
        Self::connect(path, true)
    }

    /// Opens the existing, checked file at `path`; `migrate` false refuses
    /// a schema that is not this build's instead of migrating it
    /// ([`super::open::open_store`] checks the file first).
    pub(crate) fn connect(path: &Path, migrate: bool) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        let name = path.display().to_string();
        let conn = Connection::open_with_flags(
            super::open::literal_path(&path),
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| map_err(&name, e))?;
        let store = Self { conn, path, name };
        store
            .conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| store.err(e))?;
        // `PRAGMA quick_check` reads the whole file: at 10,000 servers it
        // would cost more than the command. The header check above catches
        // truncation; a damaged page is reported by SQLite when a
        // transaction reads it, and that transaction changes nothing.
        let mode: String = store
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| store.err(e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Database {
                store: store.name.clone(),
                reason: format!("could not switch to WAL journaling (journal mode is {mode})"),
            });
        }
        store
            .conn
            .execute_batch("PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;")
            .map_err(|e| store.err(e))?;
        if migrate {
            migrate::migrate(&store.conn, &store.name)?;
        } else {
            store.check_version()?;
        }
        Ok(store)
    }

    /// Refuses a schema that is not this build's (reading never migrates).
    fn check_version(&self) -> Result<(), StoreError> {
        match self.schema_version()? {
            SCHEMA_VERSION => Ok(()),
            found if found > SCHEMA_VERSION => Err(StoreError::NewerSchema {
                store: self.name.clone(),
                found,
                supported: SCHEMA_VERSION,
            }),
            found => Err(StoreError::OlderSchema {
                store: self.name.clone(),
                found,
                current: SCHEMA_VERSION,
            }),
        }
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
        map_err(&self.name, e)
    }

    /// `PRAGMA quick_check` over the whole file (O(file size)): for a
    /// caller that wants to verify a store, e.g. after restoring a backup.
    pub fn check_integrity(&self) -> Result<(), StoreError> {
        let result: String = self
            .conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if result != "ok" {
            return Err(StoreError::Corrupt {
                store: self.name.clone(),
                reason: result,
            });
        }
        Ok(())
    }

    /// `true` while the tables of mdmlink 0.1.0 hold an organization that
    /// [`Self::take_legacy`] has not converted yet.
    pub fn has_legacy(&self) -> Result<bool, StoreError> {
        let tables: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'legacy_organization'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        if tables == 0 {
            return Ok(false);
        }
        let rows: i64 = self
            .conn
            .query_row("SELECT count(*) FROM legacy_organization", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        Ok(rows > 0)
    }

    /// Converts what mdmlink 0.1.0 stored, in one write transaction: reads
    /// the legacy tables, hands their content to `convert` with the
    /// transaction (which inserts the new rows), then drops the legacy tables
    /// and commits. Nothing changes when `convert` fails.
    pub fn take_legacy<E: From<StoreError>>(
        &mut self,
        convert: impl FnOnce(super::legacy::StoredOrganization, &mut dyn StoreTx) -> Result<(), E>,
    ) -> Result<bool, E> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err(e))?;
        let result = (|| -> Result<bool, E> {
            if !self.has_legacy()? {
                return Ok(false);
            }
            let content = super::legacy::read_v2(&self.conn, &self.name)?.ok_or_else(|| {
                StoreError::Corrupt {
                    store: self.name.clone(),
                    reason: "the 0.1.0 organization vanished".into(),
                }
            })?;
            let mut tx = SqliteTx {
                conn: &self.conn,
                name: &self.name,
                writable: true,
                shredded: true,
            };
            convert(content, &mut tx)?;
            self.conn
                .execute_batch(
                    "DELETE FROM legacy_servers; DELETE FROM legacy_organization;
                     DROP TABLE legacy_servers; DROP TABLE legacy_organization;",
                )
                .map_err(|e| self.err(e))?;
            Ok(true)
        })();
        match result {
            Ok(done) => {
                self.conn.execute_batch("COMMIT").map_err(|e| self.err(e))?;
                self.truncate_wal();
                Ok(done)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Copies the journal into the database and empties it, so bytes that
    /// `secure_delete` overwrote in the database do not survive in the WAL.
    /// Best effort: a reader in another process may keep frames alive until
    /// the next checkpoint.
    fn truncate_wal(&self) {
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }
}

impl Store for SqliteStore {
    fn transaction(
        &mut self,
        mode: TxMode,
        body: &mut dyn FnMut(&mut dyn StoreTx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let begin = match mode {
            TxMode::Read => "BEGIN DEFERRED",
            TxMode::Write => "BEGIN IMMEDIATE",
        };
        self.conn.execute_batch(begin).map_err(|e| self.err(e))?;
        let mut tx = SqliteTx {
            conn: &self.conn,
            name: &self.name,
            writable: mode == TxMode::Write,
            shredded: false,
        };
        match body(&mut tx) {
            Ok(()) => {
                let shredded = tx.shredded;
                if let Err(e) = self.conn.execute_batch("COMMIT") {
                    let _ = self.conn.execute_batch("ROLLBACK");
                    return Err(self.err(e));
                }
                if shredded {
                    self.truncate_wal();
                }
                Ok(())
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

/// SQLite's error as a [`StoreError`], by its extended result code.
pub(crate) fn map_err(name: &str, e: rusqlite::Error) -> StoreError {
    let store = name.to_owned();
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Corrupt {
            store,
            reason: e.to_string(),
        },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy { store },
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => {
            StoreError::Io {
                store,
                reason: e.to_string(),
            }
        }
        _ => StoreError::Database {
            store,
            reason: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests;
