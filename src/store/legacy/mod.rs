//! The whole-organization store of mdmlink 0.1.0 (schema version 2), kept
//! while the command moves to the row-level [`crate::store::Store`]; it goes
//! away once nothing uses it.
//!
//! A store saves what the organization model hands it
//! ([`OrganizationRecord`]) plus, per server, the token file exactly as the
//! portal served it ([`TokenFile`]); it knows no cryptography. Whoever fills
//! the record decides whether private keys in it are encrypted (the `mdmlink`
//! command encrypts them as PKCS#8 when given a passphrase) and whether a
//! record's `token` carries opened credentials (the `mdmlink` command leaves it
//! empty and keeps only the encrypted file).
//!
//! Every change is one transaction: [`Store::load_for_update`] locks the store
//! against other writers and returns what it holds, and [`Store::save`]
//! commits (or [`Store::abort`] gives up). [`update`] wraps the three so two
//! processes never lose each other's changes.
//!

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{keypair::KeyError, organization::OrganizationRecord};

mod memory;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::MemoryStore as WholeMemoryStore;
#[cfg(feature = "sqlite")]
pub use sqlite::{SCHEMA_VERSION, SqliteStore};

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

/// Why a store could not load or save.
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
    /// [`Store::save`] or [`Store::abort`] without [`Store::load_for_update`].
    #[error("store {}: no transaction is open", path.display())]
    NoTransaction {
        /// The store's file (or `memory`).
        path: PathBuf,
    },
    /// A record could not be serialized (for example a key could not be encoded).
    #[error("store: could not serialize the organization: {0}")]
    Serialize(String),
}

impl From<KeyError> for StoreError {
    fn from(e: KeyError) -> Self {
        StoreError::Serialize(e.to_string())
    }
}

/// A place that keeps one organization between runs.
///
/// Implementations must make [`Store::load_for_update`] exclusive against
/// other writers (a database transaction that takes the write lock at once,
/// `BEGIN IMMEDIATE` in SQLite, or `SELECT ... FOR UPDATE`) until
/// [`Store::save`] or [`Store::abort`], so that load-change-save sequences
/// from several processes serialize and never lose an update.
pub trait Store {
    /// A consistent snapshot of what the store holds (`None` when empty),
    /// without locking it for writing.
    fn load(&mut self) -> Result<Option<StoredOrganization>, StoreError>;

    /// Begins a write transaction and returns what the store holds.
    fn load_for_update(&mut self) -> Result<Option<StoredOrganization>, StoreError>;

    /// Replaces the store's content with `organization` (`None` empties it)
    /// and commits the transaction begun by [`Store::load_for_update`].
    fn save(&mut self, organization: Option<&StoredOrganization>) -> Result<(), StoreError>;

    /// Ends the transaction begun by [`Store::load_for_update`] without changes.
    fn abort(&mut self) -> Result<(), StoreError>;
}

/// Runs one load-change-save transaction: loads for update, lets `change`
/// edit the content, and saves it, or aborts when `change` fails.
pub fn update<S, T, E>(
    store: &mut S,
    change: impl FnOnce(&mut Option<StoredOrganization>) -> Result<T, E>,
) -> Result<T, E>
where
    S: Store + ?Sized,
    E: From<StoreError>,
{
    let mut content = store.load_for_update()?;
    match change(&mut content) {
        Ok(value) => {
            store.save(content.as_ref())?;
            Ok(value)
        }
        Err(e) => {
            // The change's error is the one worth reporting.
            let _ = store.abort();
            Err(e)
        }
    }
}

#[cfg(test)]
#[allow(missing_docs)]
pub(crate) mod tests {
    use super::*;
    use crate::{
        keypair::{CertificateParams, KeySize, ServerKeypair},
        organization::{Organization, ServerOptions},
        portal::Portal,
    };

    /// A record with one server (with a private key) and a token file.
    pub(crate) fn sample(server: &str) -> StoredOrganization {
        let now = time::macros::datetime!(2026-01-17 11:02:21 UTC);
        let keypair = ServerKeypair::generate(
            &mut crate::SystemRng::default(),
            KeySize::Rsa2048,
            &CertificateParams::new(server, now),
        )
        .unwrap();
        let mut org = Organization::new("Example School", Portal::SchoolManager);
        org.add_server(server, keypair, ServerOptions::default(), now)
            .unwrap();
        let mut stored = StoredOrganization::new(org.to_record(true).unwrap());
        stored.token_files.insert(
            server.to_owned(),
            TokenFile {
                data: b"MIME-Version: 1.0\r\n\r\nnot really a token".to_vec(),
                installed_at: now,
                downloaded_by: Some("admin@example.com".into()),
                certificate_serial: Some("01AB".into()),
            },
        );
        stored
    }

    /// Round trip, abort and update semantics every store must have.
    pub(crate) fn exercise(store: &mut dyn Store) {
        assert_eq!(store.load().unwrap(), None, "a new store is empty");
        let stored = sample("Main MDM");
        update(store, |c| -> Result<(), StoreError> {
            assert!(c.is_none());
            *c = Some(stored.clone());
            Ok(())
        })
        .unwrap();
        assert_eq!(store.load().unwrap().as_ref(), Some(&stored));
        // Restoring the model from what was loaded works.
        let back = store.load().unwrap().unwrap();
        let org = Organization::from_record(back.record).unwrap();
        assert!(org.server("main mdm").unwrap().keypair().is_some());

        // A failed change leaves the store as it was.
        let r: Result<(), StoreError> = update(store, |c| {
            c.as_mut().unwrap().record.name = "Changed".into();
            Err(StoreError::Serialize("refused".into()))
        });
        assert!(r.is_err());
        assert_eq!(store.load().unwrap().as_ref(), Some(&stored));

        // save without a transaction is refused.
        assert!(matches!(
            store.save(None),
            Err(StoreError::NoTransaction { .. })
        ));

        // Emptying.
        update(store, |c| -> Result<(), StoreError> {
            *c = None;
            Ok(())
        })
        .unwrap();
        assert_eq!(store.load().unwrap(), None);
    }
}
