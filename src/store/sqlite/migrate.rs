//! The SQLite schema: [`MIGRATIONS`], applied by the shared runner
//! ([`crate::store::schema`]) with `PRAGMA user_version` as the version.

use rusqlite::Connection;

use crate::store::StoreError;
use crate::store::schema::{self, Migrated, SchemaTarget};

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
    // 5: devices a full fetch in progress has not returned yet (tombstoned
    // when the fetch completes: StoreTx::finish_dep_snapshot).
    "ALTER TABLE dep_devices ADD COLUMN snapshot_pending INTEGER NOT NULL DEFAULT 0
         CHECK (snapshot_pending IN (0, 1));
     CREATE INDEX dep_devices_pending ON dep_devices (server_id) WHERE snapshot_pending = 1;",
    // 6: an organization's School and Business Manager API account (at most
    // one: the organization's id is the key; removed with the organization),
    // its P-256 key sealed like a server's; the id the API gave a server.
    "CREATE TABLE api_accounts (
         organization_id INTEGER PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
         client_id TEXT NOT NULL CHECK (length(client_id) <= 256),
         key_id TEXT NOT NULL CHECK (length(key_id) BETWEEN 1 AND 256),
         scope TEXT NOT NULL CHECK (scope IN ('business.api', 'school.api')),
         created_at TEXT NOT NULL CHECK (length(created_at) > 0),
         private_key BLOB NOT NULL CHECK (length(private_key) > 0),
         CHECK ((scope = 'business.api' AND substr(client_id, 1, 12) = 'BUSINESSAPI.'
                     AND length(client_id) > 12)
             OR (scope = 'school.api' AND substr(client_id, 1, 10) = 'SCHOOLAPI.'
                     AND length(client_id) > 10))
     );
     ALTER TABLE servers ADD COLUMN portal_server_id TEXT
         CHECK (portal_server_id IS NULL OR length(portal_server_id) BETWEEN 1 AND 256);",
];

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// `PRAGMA user_version` of one connection, for the shared runner.
pub(super) struct SqliteSchema<'a> {
    pub(super) conn: &'a Connection,
    pub(super) name: &'a str,
}

impl SqliteSchema<'_> {
    fn err(&self, e: rusqlite::Error) -> StoreError {
        super::map_err(self.name, e)
    }
}

impl SchemaTarget for SqliteSchema<'_> {
    type Error = StoreError;

    fn version(&mut self) -> Result<usize, StoreError> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        usize::try_from(version).map_err(|_| StoreError::Corrupt {
            store: self.name.to_owned(),
            reason: format!("schema version {version}"),
        })
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        // The write lock at once: a second process waits (busy timeout).
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err(e))
    }

    fn apply(&mut self, step: &str, version: i64) -> Result<(), StoreError> {
        self.conn.execute_batch(step).map_err(|e| self.err(e))?;
        self.conn
            .pragma_update(None, "user_version", version)
            .map_err(|e| self.err(e))
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch("COMMIT").map_err(|e| self.err(e))
    }

    fn rollback(&mut self) {
        let _ = self.conn.execute_batch("ROLLBACK");
    }
}

/// Brings the file up to [`SCHEMA_VERSION`]; a newer one is refused unchanged.
pub(super) fn migrate(conn: &Connection, name: &str) -> Result<(), StoreError> {
    match schema::migrate(&mut SqliteSchema { conn, name }, MIGRATIONS)? {
        Migrated::To { .. } => Ok(()),
        Migrated::Newer { found } => Err(StoreError::NewerSchema {
            store: name.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        }),
    }
}
