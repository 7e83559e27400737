//! The shared store: one PostgreSQL database that several MDM instances use
//! at once (feature `postgres`).
//!
//! - [`PostgresUrl`]: where it is; the password never appears in a message
//!   (nor in [`Store::describe`]).
//! - Schema in versioned SQL steps ([`MIGRATIONS`]; `schema_v1.sql`),
//!   applied on open in one transaction under an advisory lock, so instances
//!   starting together do not race; a database from a newer mdmlink is
//!   refused unchanged.
//! - Constraints in the database: a unique index on `(organization_id,
//!   name_key)`; the per-organization certificate limit counted under a lock
//!   on the organization's row; foreign keys that take a deleted server's
//!   device state with it.
//! - Every operation is one transaction; on a serialization failure (40001)
//!   or a deadlock (40P01) it is run again, at most [`MAX_ATTEMPTS`] times,
//!   then reported as [`StoreError::Conflict`].
//!
//! A deleted row stays in PostgreSQL's files until VACUUM reuses its space
//! (and in the write-ahead log and backups): nothing written here can be
//! erased in place. That is why secrets reach this store only sealed under
//! the master key; deleting a server then leaves only ciphertext behind.

mod config;
mod migrate;
mod rows;
mod txn;

pub use config::{PostgresUrl, UrlError};
pub use txn::MAX_ATTEMPTS;

use std::collections::{HashMap, HashSet};

use super::schema::Migrated;
use super::{Store, StoreError, StoreTx, TxMode};
use config::ConnectError;

/// The schema, one step per entry; entry `n` takes the version from `n` to `n + 1`.
pub const MIGRATIONS: &[&str] = &[
    include_str!("schema_v1.sql"),
    // Pending marks for full device fetches.
    include_str!("schema_v2.sql"),
    // API accounts; the portal's id of a server created through the API.
    include_str!("schema_v3.sql"),
];

/// The schema version this build writes.
pub const POSTGRES_SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// A store in a PostgreSQL database: one connection. Open one per thread or
/// process; they all see the same organizations.
pub struct PostgresStore {
    client: postgres::Client,
    url: PostgresUrl,
    shown: String,
    statements: HashMap<&'static str, postgres::Statement>,
}

impl core::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://...`) and migrates its
    /// schema to [`POSTGRES_SCHEMA_VERSION`].
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let url = PostgresUrl::parse(url).map_err(|e| StoreError::Io {
            store: "postgres://".into(),
            reason: e.to_string(),
        })?;
        Self::open_url(url)
    }

    /// [`PostgresStore::open`] with a parsed URL.
    pub fn open_url(url: PostgresUrl) -> Result<Self, StoreError> {
        let shown = url.to_string();
        let mut client = url.connect().map_err(|e| connect_error(&shown, e))?;
        match migrate::migrate(&mut client, url.schema(), MIGRATIONS)
            .map_err(|e| db_error_text(&shown, &e))?
        {
            Migrated::To { .. } => {}
            Migrated::Newer { found } => {
                return Err(StoreError::NewerSchema {
                    store: shown,
                    found,
                    supported: POSTGRES_SCHEMA_VERSION,
                });
            }
        }
        Ok(Self {
            client,
            url,
            shown,
            statements: HashMap::new(),
        })
    }

    /// Connects to an existing store at `url` without creating or
    /// migrating anything: `Ok(None)` when the database (or the URL's
    /// `schema`) holds no mdmlink tables; [`StoreError::OlderSchema`] or
    /// [`StoreError::NewerSchema`] when its version is not this build's.
    pub fn open_url_existing(url: PostgresUrl) -> Result<Option<Self>, StoreError> {
        let shown = url.to_string();
        let mut client = url.connect().map_err(|e| connect_error(&shown, e))?;
        let found = migrate::version(&mut client).map_err(|e| db_error_text(&shown, &e))?;
        if found == 0 {
            return Ok(None);
        }
        if found > POSTGRES_SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                store: shown,
                found,
                supported: POSTGRES_SCHEMA_VERSION,
            });
        }
        if found < POSTGRES_SCHEMA_VERSION {
            return Err(StoreError::OlderSchema {
                store: shown,
                found,
                current: POSTGRES_SCHEMA_VERSION,
            });
        }
        Ok(Some(Self {
            client,
            url,
            shown,
            statements: HashMap::new(),
        }))
    }

    /// Where the store is (without its password).
    pub fn url(&self) -> &PostgresUrl {
        &self.url
    }

    /// The schema version in the database.
    pub fn schema_version(&mut self) -> Result<i64, StoreError> {
        migrate::version(&mut self.client).map_err(|e| db_error_text(&self.shown, &e))
    }

    /// Runs one attempt of a transaction: begin, body, commit. Returns the
    /// body's or the database's error, and whether it is worth retrying.
    fn attempt(
        &mut self,
        mode: TxMode,
        body: &mut dyn FnMut(&mut dyn StoreTx) -> Result<(), StoreError>,
    ) -> Result<(), (StoreError, bool)> {
        let shown = self.shown.as_str();
        let fail = |e: postgres::Error| {
            let retry = txn::is_retryable(&e);
            (db_error_text(shown, &e), retry)
        };
        let mut tx = match mode {
            TxMode::Read => self
                .client
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start(),
            TxMode::Write => self
                .client
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::ReadCommitted)
                .start(),
        }
        .map_err(fail)?;
        let mut rows = rows::PgTx {
            tx: &mut tx,
            statements: &mut self.statements,
            store: shown,
            writable: mode == TxMode::Write,
            retry: false,
            locked: HashSet::new(),
            locked_servers: HashMap::new(),
        };
        let result = body(&mut rows);
        let retry = rows.retry;
        match result {
            // Dropping the transaction rolls it back.
            Err(e) => Err((e, retry)),
            Ok(()) => tx.commit().map_err(fail),
        }
    }
}

impl Store for PostgresStore {
    fn transaction(
        &mut self,
        mode: TxMode,
        body: &mut dyn FnMut(&mut dyn StoreTx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.attempt(mode, body) {
                Ok(()) => return Ok(()),
                Err((_, true)) if attempt < MAX_ATTEMPTS => {
                    std::thread::sleep(txn::backoff(attempt));
                }
                Err((_, true)) => {
                    return Err(StoreError::Conflict {
                        store: self.shown.clone(),
                        attempts: attempt,
                    });
                }
                Err((e, false)) => return Err(e),
            }
        }
    }

    fn describe(&self) -> String {
        self.shown.clone()
    }
}

fn connect_error(shown: &str, e: ConnectError) -> StoreError {
    let reason = match e {
        ConnectError::RootCert { path, reason } => {
            format!("sslrootcert {}: {reason}", path.display())
        }
        ConnectError::Tls(reason) => format!("TLS: {reason}"),
        ConnectError::Timeout(after) => {
            return StoreError::Timeout {
                store: shown.to_owned(),
                waited: after,
            };
        }
        ConnectError::Driver(e) => {
            let why = describe(&e);
            let hint = if why.contains("certificate") {
                "; the server's certificate was not verified: add sslrootcert=PATH (its CA, PEM) to the URL, or sslmode=disable on a trusted network"
            } else {
                ""
            };
            format!("could not connect: {why}{hint}")
        }
    };
    StoreError::Io {
        store: shown.to_owned(),
        reason,
    }
}

/// The driver's error as one line; a server error with its SQLSTATE.
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => {
            // The top-level message says "error connecting to server" and the
            // like; its sources say why (refused, TLS, timeout).
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        }
    }
}

/// A driver error as a [`StoreError`] naming the store.
pub(crate) fn db_error_text(shown: &str, e: &postgres::Error) -> StoreError {
    if e.is_closed() {
        return StoreError::Io {
            store: shown.to_owned(),
            reason: format!("the connection was lost: {}", describe(e)),
        };
    }
    if e.code() == Some(&postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION) {
        return StoreError::ReadOnly {
            store: shown.to_owned(),
        };
    }
    StoreError::Database {
        store: shown.to_owned(),
        reason: describe(e),
    }
}

#[cfg(test)]
mod tests;
