//! The shared store: one PostgreSQL database that several MDM instances use
//! at once (feature `postgres`).
//!
//! - [`PostgresUrl`]: where it is; the password never appears in a message.
//! - Schema in versioned SQL steps ([`MIGRATIONS`]), applied on open in one
//!   transaction under an advisory lock, so instances starting together do
//!   not race; a database from a newer mdmlink is refused.
//! - Every operation is one transaction, retried a bounded number of times
//!   on a serialization failure or a deadlock, then reported.

mod config;
mod migrate;
mod txn;

pub use config::{PostgresUrl, UrlError};

use std::path::PathBuf;

use super::StoreError;
use config::ConnectError;
use migrate::Migrated;
use txn::Failed;

/// The schema, one step per entry; entry `n` takes the version from `n` to `n + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: placeholder until the row-level schema lands.
    "CREATE TABLE mdmlink_store (
         id SMALLINT PRIMARY KEY CHECK (id = 1),
         created_at TIMESTAMPTZ NOT NULL DEFAULT now()
     );",
];

/// The schema version this build writes.
pub const POSTGRES_SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// A store in a PostgreSQL database.
pub struct PostgresStore {
    client: postgres::Client,
    url: PostgresUrl,
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
            path: PathBuf::from("postgres://"),
            reason: e.to_string(),
        })?;
        Self::open_url(url)
    }

    /// [`PostgresStore::open`] with a parsed URL.
    pub fn open_url(url: PostgresUrl) -> Result<Self, StoreError> {
        let mut client = url.connect().map_err(|e| connect_error(&url, e))?;
        match migrate::migrate(&mut client, MIGRATIONS).map_err(|e| db_error(&url, e))? {
            Migrated::To { .. } => {}
            Migrated::Newer { found } => {
                return Err(StoreError::NewerSchema {
                    path: shown(&url),
                    found,
                    supported: POSTGRES_SCHEMA_VERSION,
                });
            }
        }
        Ok(Self { client, url })
    }

    /// Where the store is (without its password).
    pub fn url(&self) -> &PostgresUrl {
        &self.url
    }

    /// The schema version in the database.
    pub fn schema_version(&mut self) -> Result<i64, StoreError> {
        migrate::version(&mut self.client).map_err(|e| db_error(&self.url, e))
    }

    /// Runs `body` as one transaction with the bounded retry.
    fn transaction<T>(
        &mut self,
        body: impl FnMut(&mut postgres::Transaction<'_>) -> Result<T, txn::TxError<StoreError>>,
    ) -> Result<T, StoreError> {
        txn::run(&mut self.client, body).map_err(|f| failed(&self.url, f))
    }
}

fn shown(url: &PostgresUrl) -> PathBuf {
    PathBuf::from(url.to_string())
}

fn connect_error(url: &PostgresUrl, e: ConnectError) -> StoreError {
    match e {
        ConnectError::RootCert { path, reason } => StoreError::Io {
            path: shown(url),
            reason: format!("sslrootcert {}: {reason}", path.display()),
        },
        ConnectError::Tls(reason) => StoreError::Io {
            path: shown(url),
            reason: format!("TLS: {reason}"),
        },
        ConnectError::Driver(e) => StoreError::Io {
            path: shown(url),
            reason: format!("could not connect: {}", describe(&e)),
        },
    }
}

/// The driver's error as one line; a server error with its SQLSTATE.
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => {
            // The top-level message says "error connecting to server" and the
            // like; its source says why (refused, TLS, timeout).
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

fn db_error(url: &PostgresUrl, e: postgres::Error) -> StoreError {
    if e.is_closed() {
        return StoreError::Io {
            path: shown(url),
            reason: format!("the connection was lost: {}", describe(&e)),
        };
    }
    StoreError::Database {
        path: shown(url),
        reason: describe(&e),
    }
}

fn failed(url: &PostgresUrl, f: Failed<StoreError>) -> StoreError {
    match f {
        Failed::Op(e) => e,
        Failed::Db(e) => db_error(url, e),
        Failed::GaveUp { attempts, last } => StoreError::Database {
            path: shown(url),
            reason: format!(
                "gave up after {attempts} attempts, each aborted by concurrent transactions ({}); try again",
                describe(&last)
            ),
        },
    }
}

#[cfg(test)]
mod tests;
