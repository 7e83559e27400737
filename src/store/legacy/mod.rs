//! What mdmlink 0.1.0 stored (schema version 2: one organization, each
//! server's record as JSON, token files as the portal served them), read
//! once to convert it to rows ([`crate::store::SqliteStore::take_legacy`],
//! [`crate::store::registry::Registry::migrate_legacy`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::organization::OrganizationRecord;
#[cfg(feature = "sqlite")]
use crate::store::StoreError;

#[cfg(feature = "sqlite")]
mod sqlite;

/// The organization a version-3 store keeps in its `legacy_*` tables.
#[cfg(feature = "sqlite")]
pub(crate) fn read_v2(
    conn: &rusqlite::Connection,
    store: &str,
) -> Result<Option<StoredOrganization>, StoreError> {
    sqlite::read_tables(conn, store, "legacy_organization", "legacy_servers")
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
