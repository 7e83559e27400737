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
//! - Opening checks the header, so a truncated or foreign file is reported
//!   as such, naming the file, before anything is changed; a damaged page is
//!   reported when a transaction reads it (which then changes nothing).
//!   [`SqliteStore::check_integrity`] runs `PRAGMA quick_check` on demand.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, Row, params};
use time::OffsetDateTime;

use super::columns::{
    options_from_json, options_to_json, reason_from_text, reason_to_text, time_from_text,
    time_to_text,
};
use super::{
    DepCursor, DeviceRow, MAX_CERTIFICATES, OrganizationId, OrganizationRow, SealedSecret,
    ServerId, ServerRow, ServerSummary, Store, StoreError, StoreTx, TxMode,
};
use crate::portal::Portal;

/// The schema, one step per entry; entry `n` takes `user_version` from `n` to `n + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1 (mdmlink 0.1.0): the organization and its servers, each server's record as JSON.
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
    // 2 (mdmlink 0.1.0): the token file as the portal served it, beside its server.
    "ALTER TABLE servers ADD COLUMN token_file BLOB;
     ALTER TABLE servers ADD COLUMN token_installed_at TEXT;
     ALTER TABLE servers ADD COLUMN token_downloaded_by TEXT;
     ALTER TABLE servers ADD COLUMN token_certificate_serial TEXT;",
    // 3 (development builds only): device assignment service state keyed
    // by server name; version 4 replaces it.
    "CREATE TABLE dep_cursors (
         server TEXT PRIMARY KEY,
         cursor TEXT NOT NULL CHECK (length(cursor) > 0)
     );
     CREATE TABLE dep_devices (
         server TEXT NOT NULL,
         serial TEXT NOT NULL CHECK (length(serial) > 0),
         deleted INTEGER NOT NULL CHECK (deleted IN (0, 1)),
         op_date TEXT,
         record TEXT NOT NULL,
         PRIMARY KEY (server, serial)
     );",
    // 4: many organizations, row by row; secrets as sealed blobs; the
    // device assignment service's state per server id (version 3's, keyed by
    // name, is a cache: dropped, the next sync fetches it again); the 0.1.0
    // tables wait as legacy_*.
    "DROP TABLE dep_cursors;
     DROP TABLE dep_devices;
     ALTER TABLE organization RENAME TO legacy_organization;
     ALTER TABLE servers RENAME TO legacy_servers;
     CREATE TABLE meta (
         key TEXT PRIMARY KEY,
         value BLOB NOT NULL
     );
     INSERT INTO meta (key, value) VALUES ('store_id', randomblob(16));
     CREATE TABLE organizations (
         id INTEGER PRIMARY KEY,
         name TEXT NOT NULL,
         name_key TEXT NOT NULL UNIQUE,
         portal TEXT NOT NULL,
         customer TEXT,
         created_at TEXT NOT NULL
     );
     CREATE TABLE servers (
         id INTEGER PRIMARY KEY,
         organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
         name TEXT NOT NULL,
         name_key TEXT NOT NULL,
         options TEXT NOT NULL,
         created_at TEXT,
         certificate_pem TEXT,
         certificate_serial TEXT,
         certificate_not_after TEXT,
         staged_certificate_pem TEXT,
         staged_certificate_serial TEXT,
         staged_certificate_not_after TEXT,
         staged_at TEXT,
         token_expires_at TEXT,
         token_installed_at TEXT,
         token_downloaded_by TEXT,
         token_issued_at TEXT,
         token_certificate_serial TEXT,
         token_consumer_key_hint TEXT,
         replacement_reason TEXT,
         replacement_at TEXT,
         server_uuid TEXT,
         private_key BLOB,
         staged_private_key BLOB,
         token BLOB,
         CHECK ((replacement_reason IS NULL) = (replacement_at IS NULL))
     );
     CREATE UNIQUE INDEX servers_name ON servers (organization_id, name_key);
     CREATE TABLE dep_cursors (
         server_id INTEGER PRIMARY KEY REFERENCES servers (id) ON DELETE CASCADE,
         cursor TEXT NOT NULL,
         issued_at TEXT NOT NULL
     );
     CREATE TABLE dep_devices (
         server_id INTEGER NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
         serial TEXT NOT NULL,
         op_type TEXT,
         op_date TEXT,
         deleted INTEGER NOT NULL,
         json TEXT NOT NULL,
         PRIMARY KEY (server_id, serial)
     ) WITHOUT ROWID;",
];

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long a command waits for another process's transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

const SERVER_COLUMNS: &str = "id, organization_id, name, name_key, options, created_at,
    certificate_serial, certificate_not_after, staged_certificate_serial,
    staged_certificate_not_after, staged_at, token_expires_at, token_installed_at,
    token_downloaded_by, token_issued_at, token_certificate_serial, token_consumer_key_hint,
    replacement_reason, replacement_at, server_uuid";

const SECRET_COLUMNS: &str =
    "certificate_pem, staged_certificate_pem, private_key, staged_private_key, token";

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
        let mut store = Self { conn, path, name };
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
            store.migrate()?;
        } else {
            store.check_version()?;
        }
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

    fn migrate(&mut self) -> Result<(), StoreError> {
        // Up to date: nothing to write (so a read-only store opens, and most
        // opens take no write lock).
        if self.schema_version()? == SCHEMA_VERSION {
            return Ok(());
        }
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
                store: self.name.clone(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version < 0 {
            return Err(StoreError::Corrupt {
                store: self.name.clone(),
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
            let content = super::legacy::read_v2(&self.conn, &self.path)
                .map_err(|e| StoreError::Corrupt {
                    store: self.name.clone(),
                    reason: e.to_string(),
                })?
                .ok_or_else(|| StoreError::Corrupt {
                    store: self.name.clone(),
                    reason: "the 0.1.0 organization vanished".into(),
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

struct SqliteTx<'a> {
    conn: &'a Connection,
    name: &'a str,
    writable: bool,
    /// A secret was deleted or replaced: truncate the WAL after the commit.
    shredded: bool,
}

fn opt_time(name: &str, v: Option<String>) -> Result<Option<OffsetDateTime>, StoreError> {
    v.map(|t| time_from_text(name, &t)).transpose()
}

impl SqliteTx<'_> {
    fn err(&self, e: rusqlite::Error) -> StoreError {
        map_err(self.name, e)
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        if self.writable {
            Ok(())
        } else {
            Err(StoreError::ReadOnly {
                store: self.name.to_owned(),
            })
        }
    }

    fn summary(&self, r: &Row<'_>) -> Result<ServerSummary, StoreError> {
        let n = self.name;
        let g = |e: rusqlite::Error| map_err(n, e);
        let reason: Option<String> = r.get(17).map_err(g)?;
        let reason_at: Option<String> = r.get(18).map_err(g)?;
        let replacement = match (reason, reason_at) {
            (Some(reason), Some(at)) => {
                Some((reason_from_text(n, &reason)?, time_from_text(n, &at)?))
            }
            _ => None,
        };
        Ok(ServerSummary {
            id: r.get(0).map_err(g)?,
            organization_id: r.get(1).map_err(g)?,
            name: r.get(2).map_err(g)?,
            name_key: r.get(3).map_err(g)?,
            options: options_from_json(n, &r.get::<_, String>(4).map_err(g)?)?,
            created_at: opt_time(n, r.get(5).map_err(g)?)?,
            certificate_serial: r.get(6).map_err(g)?,
            certificate_not_after: opt_time(n, r.get(7).map_err(g)?)?,
            staged_certificate_serial: r.get(8).map_err(g)?,
            staged_certificate_not_after: opt_time(n, r.get(9).map_err(g)?)?,
            staged_at: opt_time(n, r.get(10).map_err(g)?)?,
            token_expires_at: opt_time(n, r.get(11).map_err(g)?)?,
            token_installed_at: opt_time(n, r.get(12).map_err(g)?)?,
            token_downloaded_by: r.get(13).map_err(g)?,
            token_issued_at: opt_time(n, r.get(14).map_err(g)?)?,
            token_certificate_serial: r.get(15).map_err(g)?,
            token_consumer_key_hint: r.get(16).map_err(g)?,
            replacement,
            server_uuid: r.get(19).map_err(g)?,
        })
    }

    fn full_row(&self, r: &Row<'_>) -> Result<ServerRow, StoreError> {
        let g = |e: rusqlite::Error| map_err(self.name, e);
        let secret = |i: usize| -> Result<Option<SealedSecret>, StoreError> {
            Ok(r.get::<_, Option<Vec<u8>>>(i)
                .map_err(g)?
                .map(SealedSecret::from_bytes))
        };
        Ok(ServerRow {
            summary: self.summary(r)?,
            certificate_pem: r.get(20).map_err(g)?,
            staged_certificate_pem: r.get(21).map_err(g)?,
            private_key: secret(22)?,
            staged_private_key: secret(23)?,
            token: secret(24)?,
        })
    }

    fn organization_exists(&self, id: OrganizationId) -> Result<bool, StoreError> {
        self.conn
            .prepare_cached("SELECT 1 FROM organizations WHERE id = ?1")
            .and_then(|mut s| s.exists([id]))
            .map_err(|e| self.err(e))
    }

    fn server_by_id(&self, id: ServerId) -> Result<Option<ServerSummary>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {SERVER_COLUMNS} FROM servers WHERE id = ?1"
            ))
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([id]).map_err(|e| self.err(e))?;
        match rows.next().map_err(|e| self.err(e))? {
            Some(r) => Ok(Some(self.summary(r)?)),
            None => Ok(None),
        }
    }

    fn find_name(
        &self,
        organization: OrganizationId,
        name_key: &str,
        except: ServerId,
    ) -> Result<Option<String>, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT name FROM servers WHERE organization_id = ?1 AND name_key = ?2 AND id <> ?3",
            )
            .and_then(|mut s| {
                s.query_row(params![organization, name_key, except], |r| r.get(0))
                    .optional()
            })
            .map_err(|e| self.err(e))
    }

    /// What `insert_server` and `update_server` check before writing (the
    /// unique index backs the name check; the write lock makes the count exact).
    fn check_server(&self, row: &ServerRow, old_count: usize) -> Result<(), StoreError> {
        let s = &row.summary;
        if !self.organization_exists(s.organization_id)? {
            return Err(StoreError::NotFound {
                what: "organization",
                key: s.organization_id.to_string(),
            });
        }
        if let Some(existing) = self.find_name(s.organization_id, &s.name_key, s.id)? {
            return Err(StoreError::DuplicateName {
                what: "server",
                existing,
            });
        }
        let new_count = s.certificate_count();
        if new_count > old_count {
            let count = self.count(s.organization_id)?;
            if count - old_count.min(count) + new_count > MAX_CERTIFICATES {
                return Err(StoreError::LimitReached {
                    count,
                    max: MAX_CERTIFICATES,
                });
            }
        }
        Ok(())
    }

    fn count(&self, organization: OrganizationId) -> Result<usize, StoreError> {
        let n: i64 = self
            .conn
            .prepare_cached(
                "SELECT coalesce(sum((certificate_serial IS NOT NULL) + (staged_at IS NOT NULL)), 0)
                 FROM servers WHERE organization_id = ?1",
            )
            .and_then(|mut s| s.query_row([organization], |r| r.get(0)))
            .map_err(|e| self.err(e))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    fn write_server(
        &self,
        sql: &str,
        row: &ServerRow,
        id: Option<ServerId>,
    ) -> Result<(), StoreError> {
        let s = &row.summary;
        let t = |v: Option<OffsetDateTime>| v.map(time_to_text);
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        stmt.execute(params![
            id,
            s.organization_id,
            s.name,
            s.name_key,
            options_to_json(&s.options),
            t(s.created_at),
            s.certificate_serial,
            t(s.certificate_not_after),
            s.staged_certificate_serial,
            t(s.staged_certificate_not_after),
            t(s.staged_at),
            t(s.token_expires_at),
            t(s.token_installed_at),
            s.token_downloaded_by,
            t(s.token_issued_at),
            s.token_certificate_serial,
            s.token_consumer_key_hint,
            s.replacement.map(|(r, _)| reason_to_text(r)),
            s.replacement.map(|(_, at)| time_to_text(at)),
            s.server_uuid,
            row.certificate_pem,
            row.staged_certificate_pem,
            row.private_key.as_ref().map(SealedSecret::as_bytes),
            row.staged_private_key.as_ref().map(SealedSecret::as_bytes),
            row.token.as_ref().map(SealedSecret::as_bytes),
        ])
        .map_err(|e| self.constraint(e, s))?;
        Ok(())
    }

    /// A unique-index violation that slipped past the check (it cannot
    /// under the write lock, but the database is the last word).
    fn constraint(&self, e: rusqlite::Error, s: &ServerSummary) -> StoreError {
        if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
            && e.to_string().contains("name_key")
        {
            return StoreError::DuplicateName {
                what: "server",
                existing: s.name.clone(),
            };
        }
        self.err(e)
    }
}

impl StoreTx for SqliteTx<'_> {
    fn store_id(&mut self) -> Result<[u8; 16], StoreError> {
        let id = self.meta("store_id")?.ok_or_else(|| StoreError::Corrupt {
            store: self.name.to_owned(),
            reason: "no store id".into(),
        })?;
        id.try_into().map_err(|_| StoreError::Corrupt {
            store: self.name.to_owned(),
            reason: "the store id is not 16 bytes".into(),
        })
    }

    fn meta(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")
            .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
            .map_err(|e| self.err(e))
    }

    fn set_meta(&mut self, key: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
        self.check_writable()?;
        self.shredded = true;
        let r = match value {
            Some(v) => self
                .conn
                .prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")
                .and_then(|mut s| s.execute(params![key, v])),
            None => self
                .conn
                .prepare_cached("DELETE FROM meta WHERE key = ?1")
                .and_then(|mut s| s.execute([key])),
        };
        r.map(|_| ()).map_err(|e| self.err(e))
    }

    fn list_organizations(&mut self) -> Result<Vec<OrganizationRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, name, name_key, portal, customer, created_at FROM organizations ORDER BY name_key",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            out.push(organization(self.name, r)?);
        }
        Ok(out)
    }

    fn find_organization(&mut self, name_key: &str) -> Result<Option<OrganizationRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, name, name_key, portal, customer, created_at FROM organizations WHERE name_key = ?1",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([name_key]).map_err(|e| self.err(e))?;
        match rows.next().map_err(|e| self.err(e))? {
            Some(r) => Ok(Some(organization(self.name, r)?)),
            None => Ok(None),
        }
    }

    fn insert_organization(&mut self, row: &OrganizationRow) -> Result<OrganizationId, StoreError> {
        self.check_writable()?;
        if let Some(o) = self.find_organization(&row.name_key)? {
            return Err(StoreError::DuplicateName {
                what: "organization",
                existing: o.name,
            });
        }
        self.conn
            .prepare_cached(
                "INSERT INTO organizations (name, name_key, portal, customer, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    row.name,
                    row.name_key,
                    row.portal.slug(),
                    row.customer,
                    time_to_text(row.created_at)
                ])
            })
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    fn delete_organization(&mut self, id: OrganizationId) -> Result<(), StoreError> {
        self.check_writable()?;
        self.shredded = true;
        // The cascade removes servers, cursors and devices.
        let n = self
            .conn
            .prepare_cached("DELETE FROM organizations WHERE id = ?1")
            .and_then(|mut s| s.execute([id]))
            .map_err(|e| self.err(e))?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "organization",
                key: id.to_string(),
            });
        }
        Ok(())
    }

    fn list_servers(
        &mut self,
        organization: Option<OrganizationId>,
    ) -> Result<Vec<ServerSummary>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {SERVER_COLUMNS} FROM servers
                 WHERE ?1 IS NULL OR organization_id = ?1 ORDER BY organization_id, id"
            ))
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([organization]).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            out.push(self.summary(r)?);
        }
        Ok(out)
    }

    fn server(
        &mut self,
        organization: OrganizationId,
        name_key: &str,
    ) -> Result<Option<ServerRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {SERVER_COLUMNS}, {SECRET_COLUMNS} FROM servers
                 WHERE organization_id = ?1 AND name_key = ?2"
            ))
            .map_err(|e| self.err(e))?;
        let mut rows = stmt
            .query(params![organization, name_key])
            .map_err(|e| self.err(e))?;
        match rows.next().map_err(|e| self.err(e))? {
            Some(r) => Ok(Some(self.full_row(r)?)),
            None => Ok(None),
        }
    }

    fn server_for_update(
        &mut self,
        organization: OrganizationId,
        name_key: &str,
    ) -> Result<Option<ServerRow>, StoreError> {
        // BEGIN IMMEDIATE already holds the database's write lock.
        self.check_writable()?;
        self.server(organization, name_key)
    }

    fn insert_server(&mut self, row: &ServerRow) -> Result<ServerId, StoreError> {
        self.check_writable()?;
        let mut row = row.clone();
        row.summary.id = 0;
        self.check_server(&row, 0)?;
        self.write_server(
            &format!(
                "INSERT INTO servers ({SERVER_COLUMNS}, {SECRET_COLUMNS}) VALUES
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                  ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)"
            ),
            &row,
            None,
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn update_server(&mut self, row: &ServerRow) -> Result<(), StoreError> {
        self.check_writable()?;
        let old = self
            .server_by_id(row.summary.id)?
            .ok_or_else(|| StoreError::NotFound {
                what: "server",
                key: row.summary.id.to_string(),
            })?;
        let mut row = row.clone();
        row.summary.organization_id = old.organization_id;
        self.check_server(&row, old.certificate_count())?;
        self.shredded = true;
        self.write_server(
            "UPDATE servers SET organization_id = ?2, name = ?3, name_key = ?4, options = ?5,
                 created_at = ?6, certificate_serial = ?7, certificate_not_after = ?8,
                 staged_certificate_serial = ?9, staged_certificate_not_after = ?10,
                 staged_at = ?11, token_expires_at = ?12, token_installed_at = ?13,
                 token_downloaded_by = ?14, token_issued_at = ?15, token_certificate_serial = ?16,
                 token_consumer_key_hint = ?17, replacement_reason = ?18, replacement_at = ?19,
                 server_uuid = ?20, certificate_pem = ?21, staged_certificate_pem = ?22,
                 private_key = ?23, staged_private_key = ?24, token = ?25
             WHERE id = ?1",
            &row,
            Some(row.summary.id),
        )
    }

    fn delete_server(&mut self, id: ServerId) -> Result<(), StoreError> {
        self.check_writable()?;
        self.shredded = true;
        let n = self
            .conn
            .prepare_cached("DELETE FROM servers WHERE id = ?1")
            .and_then(|mut s| s.execute([id]))
            .map_err(|e| self.err(e))?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "server",
                key: id.to_string(),
            });
        }
        Ok(())
    }

    fn count_certificates(&mut self, organization: OrganizationId) -> Result<usize, StoreError> {
        self.count(organization)
    }

    fn dep_cursor(&mut self, server: ServerId) -> Result<Option<DepCursor>, StoreError> {
        let row: Option<(String, String)> = self
            .conn
            .prepare_cached("SELECT cursor, issued_at FROM dep_cursors WHERE server_id = ?1")
            .and_then(|mut s| {
                s.query_row([server], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(|e| self.err(e))?;
        row.map(|(cursor, at)| {
            Ok(DepCursor {
                cursor,
                issued_at: time_from_text(self.name, &at)?,
            })
        })
        .transpose()
    }

    fn put_dep_page(
        &mut self,
        server: ServerId,
        devices: &[DeviceRow],
        cursor: &DepCursor,
    ) -> Result<(), StoreError> {
        self.check_writable()?;
        if self.server_by_id(server)?.is_none() {
            return Err(StoreError::NotFound {
                what: "server",
                key: server.to_string(),
            });
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "INSERT OR REPLACE INTO dep_devices (server_id, serial, op_type, op_date, deleted, json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(|e| self.err(e))?;
        for d in devices {
            stmt.execute(params![
                server,
                d.serial,
                d.op_type,
                d.op_date.map(time_to_text),
                d.deleted,
                d.json
            ])
            .map_err(|e| self.err(e))?;
        }
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO dep_cursors (server_id, cursor, issued_at) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut s| s.execute(params![server, cursor.cursor, time_to_text(cursor.issued_at)]))
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn dep_devices(&mut self, server: ServerId) -> Result<Vec<DeviceRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT serial, op_type, op_date, deleted, json FROM dep_devices
                 WHERE server_id = ?1 ORDER BY serial",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([server]).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let g = |e: rusqlite::Error| map_err(self.name, e);
            out.push(DeviceRow {
                serial: r.get(0).map_err(g)?,
                op_type: r.get(1).map_err(g)?,
                op_date: opt_time(self.name, r.get(2).map_err(g)?)?,
                deleted: r.get(3).map_err(g)?,
                json: r.get(4).map_err(g)?,
            });
        }
        Ok(out)
    }

    fn clear_dep_state(&mut self, server: ServerId) -> Result<(), StoreError> {
        self.check_writable()?;
        self.conn
            .prepare_cached("DELETE FROM dep_devices WHERE server_id = ?1")
            .and_then(|mut s| s.execute([server]))
            .and_then(|_| {
                self.conn
                    .prepare_cached("DELETE FROM dep_cursors WHERE server_id = ?1")
                    .and_then(|mut s| s.execute([server]))
            })
            .map(|_| ())
            .map_err(|e| self.err(e))
    }
}

fn organization(name: &str, r: &Row<'_>) -> Result<OrganizationRow, StoreError> {
    let g = |e: rusqlite::Error| map_err(name, e);
    let portal: String = r.get(3).map_err(g)?;
    Ok(OrganizationRow {
        id: r.get(0).map_err(g)?,
        name: r.get(1).map_err(g)?,
        name_key: r.get(2).map_err(g)?,
        portal: portal.parse::<Portal>().map_err(|_| StoreError::Corrupt {
            store: name.to_owned(),
            reason: format!("unknown portal {portal:?}"),
        })?,
        customer: r.get(4).map_err(g)?,
        created_at: time_from_text(name, &r.get::<_, String>(5).map_err(g)?)?,
    })
}

fn map_err(name: &str, e: rusqlite::Error) -> StoreError {
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
mod tests {
    use super::*;
    use crate::store::StoreExt;
    use crate::store::conformance::StoreFactory;

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
}
