//! A store chosen at run time from where it is: a SQLite file or a
//! PostgreSQL database, as the `mdmlink` command's `--store` and the C API's
//! store-open take it.

#[cfg(feature = "postgres")]
use super::PostgresStore;
#[cfg(feature = "sqlite")]
use super::SqliteStore;
use super::open::{OpenMode, StoreLocation, open_store};
use super::{Store, StoreError, StoreTx, TxMode};

/// A SQLite or PostgreSQL store behind one type, so that one
/// [`Registry`](super::registry::Registry) type serves both.
// One per process or handle, never in a collection: the size difference
// between the variants costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyStore {
    /// A SQLite file (feature `sqlite`).
    #[cfg(feature = "sqlite")]
    Sqlite(SqliteStore),
    /// A PostgreSQL database (feature `postgres`).
    #[cfg(feature = "postgres")]
    Postgres(PostgresStore),
}

impl AnyStore {
    /// Opens the store at `location` for writing (a SQLite file is created
    /// when missing, the schema migrated): [`open_store`] with
    /// [`OpenMode::ReadWrite`].
    pub fn open(location: &StoreLocation) -> Result<Self, StoreError> {
        match open_store(location, OpenMode::ReadWrite)? {
            Some(opened) => Ok(opened.store),
            // Opening for writing always finds or makes a store.
            None => Err(StoreError::NotFound(crate::not_found::NotFound::new(
                crate::not_found::Missing::Store,
                "the given location",
            ))),
        }
    }

    /// [`AnyStore::open`] of a path or URL.
    pub fn open_str(location: &str) -> Result<Self, StoreError> {
        Self::open(&StoreLocation::parse_str(location)?)
    }
}

impl Store for AnyStore {
    fn transaction(
        &mut self,
        mode: TxMode,
        body: &mut dyn FnMut(&mut dyn StoreTx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        match self {
            #[cfg(feature = "sqlite")]
            AnyStore::Sqlite(s) => s.transaction(mode, body),
            #[cfg(feature = "postgres")]
            AnyStore::Postgres(s) => s.transaction(mode, body),
        }
    }

    fn describe(&self) -> String {
        match self {
            #[cfg(feature = "sqlite")]
            AnyStore::Sqlite(s) => s.describe(),
            #[cfg(feature = "postgres")]
            AnyStore::Postgres(s) => s.describe(),
        }
    }
}
