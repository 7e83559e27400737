//! A store chosen at run time from where it is: a SQLite file or a
//! PostgreSQL database, as the `mdmlink` command's `--store` and the C API's
//! store-open take it.

use std::path::{Path, PathBuf};

#[cfg(feature = "postgres")]
use super::PostgresStore;
#[cfg(feature = "sqlite")]
use super::SqliteStore;
use super::{Store, StoreError, StoreTx, TxMode};

/// Where a store is, parsed from one string.
///
/// `postgres://...` or `postgresql://...` is a PostgreSQL URL (which may hold
/// a password: [`StoreLocation`]'s `Debug` never shows it); `sqlite:PATH`
/// or any other text is the path of a SQLite file.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreLocation {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL, as given.
    Postgres(zeroize::Zeroizing<String>),
}

impl core::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StoreLocation::Sqlite(p) => f.debug_tuple("Sqlite").field(p).finish(),
            StoreLocation::Postgres(_) => f.write_str("Postgres(..)"),
        }
    }
}

impl StoreLocation {
    /// Reads a location: a PostgreSQL URL, `sqlite:PATH`, or a path.
    pub fn parse(location: &std::ffi::OsStr) -> Self {
        match location.to_str() {
            Some(v) if v.starts_with("postgres://") || v.starts_with("postgresql://") => {
                StoreLocation::Postgres(zeroize::Zeroizing::new(v.to_owned()))
            }
            Some(v) if v.starts_with("sqlite:") => {
                StoreLocation::Sqlite(PathBuf::from(&v["sqlite:".len()..]))
            }
            _ => StoreLocation::Sqlite(PathBuf::from(location)),
        }
    }
}

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
    /// Opens the store at `location` (a SQLite file is created when missing).
    /// A kind this build lacks is a clear error.
    pub fn open(location: &StoreLocation) -> Result<Self, StoreError> {
        match location {
            #[cfg(feature = "sqlite")]
            StoreLocation::Sqlite(path) => SqliteStore::open(path).map(AnyStore::Sqlite),
            #[cfg(not(feature = "sqlite"))]
            StoreLocation::Sqlite(path) => Err(missing(&path.display().to_string(), "sqlite")),
            #[cfg(feature = "postgres")]
            StoreLocation::Postgres(url) => PostgresStore::open(url).map(AnyStore::Postgres),
            #[cfg(not(feature = "postgres"))]
            StoreLocation::Postgres(_) => Err(missing("postgres://", "postgres")),
        }
    }

    /// [`AnyStore::open`] of a path or URL.
    pub fn open_str(location: &str) -> Result<Self, StoreError> {
        Self::open(&StoreLocation::parse(Path::new(location).as_os_str()))
    }
}

#[allow(dead_code)]
fn missing(store: &str, feature: &str) -> StoreError {
    StoreError::Io {
        store: store.to_owned(),
        reason: format!("this build of mdmlink has no {feature} store (feature `{feature}`)"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let parse = |s: &str| StoreLocation::parse(std::ffi::OsStr::new(s));
        assert_eq!(
            parse("sqlite:/tmp/a.sqlite"),
            StoreLocation::Sqlite("/tmp/a.sqlite".into())
        );
        assert_eq!(
            parse("store.sqlite"),
            StoreLocation::Sqlite("store.sqlite".into())
        );
        let pg = parse("postgres://u:s3cret@h/db");
        assert!(matches!(pg, StoreLocation::Postgres(_)));
        assert!(!format!("{pg:?}").contains("s3cret"));
        assert!(matches!(
            parse("postgresql://h/db"),
            StoreLocation::Postgres(_)
        ));
    }
}
