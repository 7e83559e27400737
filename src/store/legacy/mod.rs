//! What mdmlink 0.1.0 stored (schema version 2: one organization, each
//! server's record as JSON, token files as the portal served them), read
//! once to convert it to rows ([`crate::store::SqliteStore::take_legacy`],
//! [`crate::store::registry::Registry::migrate_legacy`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::organization::OrganizationRecord;

#[cfg(feature = "sqlite")]
mod sqlite;

/// The organization a version-3 store keeps in its `legacy_*` tables.
#[cfg(feature = "sqlite")]
pub(crate) fn read_v2(
    conn: &rusqlite::Connection,
    path: &std::path::Path,
) -> Result<Option<StoredOrganization>, StoreError> {
    sqlite::read_tables(conn, path, "legacy_organization", "legacy_servers")
}

/// A token file as the portal served it (`*_smime.p7m`), still encrypted to
/// the server's certificate, with what was recorded when it was installed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenFile {
    /// The file's bytes, unchanged.
    pub data: Vec<u8>,
    /// When it was installed.
    #[serde(with = "time::serde::rfc3339")]
    pub installed_at: OffsetDateTime,
    /// The portal user who downloaded it, if known.
    pub downloaded_by: Option<String>,
    /// The serial of the certificate it was issued to (hex), if known.
    pub certificate_serial: Option<String>,
}

impl core::fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TokenFile")
            .field("data", &format_args!("[{} bytes]", self.data.len()))
            .field("installed_at", &self.installed_at)
            .field("downloaded_by", &self.downloaded_by)
            .field("certificate_serial", &self.certificate_serial)
            .finish()
    }
}

/// Everything a store holds: one organization and its servers' token files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredOrganization {
    /// The organization as the model serialized it.
    pub record: OrganizationRecord,
    /// Token files by server name (as written in the record).
    pub token_files: BTreeMap<String, TokenFile>,
}

impl StoredOrganization {
    /// A stored organization without token files.
    pub fn new(record: OrganizationRecord) -> Self {
        Self {
            record,
            token_files: BTreeMap::new(),
        }
    }
}

/// Why the 0.1.0 tables could not be read.
///
/// Every message names the store (its file, for file-backed stores).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store's file could not be created, opened or read.
    #[error("store {}: {reason}", path.display())]
    Io {
        /// The store's file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The file is not a store, or is damaged (for example truncated).
    #[error("store {} is damaged or not an mdmlink store ({reason}); restore it from a backup", path.display())]
    Corrupt {
        /// The store's file.
        path: PathBuf,
        /// What was found.
        reason: String,
    },
    /// The store was written by a newer mdmlink.
    #[error("store {} has schema version {found}; this mdmlink reads up to {supported}; upgrade mdmlink", path.display())]
    NewerSchema {
        /// The store's file.
        path: PathBuf,
        /// The version in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// Another process held the store for longer than the busy timeout.
    #[error("store {} is locked by another process; try again", path.display())]
    Busy {
        /// The store's file.
        path: PathBuf,
    },
    /// The database refused an operation.
    #[error("store {}: database error: {reason}", path.display())]
    Database {
        /// The store's file.
        path: PathBuf,
        /// The database's message.
        reason: String,
    },
    /// A record could not be serialized (for example a key could not be encoded).
    #[error("store: could not serialize the organization: {0}")]
    Serialize(String),
}
