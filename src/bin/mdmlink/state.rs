//! The store as the commands see it: a [`Registry`] over the SQLite file or
//! a PostgreSQL database (`--store postgres://...`), with the master key
//! from the environment. Every command makes one
//! registry call (one transaction); this file only opens it and words its
//! errors.
//!
//! The master key comes from `MDMLINK_MASTER_KEY` (32 bytes, hex or
//! base64), `--master-key-file PATH`, or a passphrase (`MDMLINK_PASSPHRASE`,
//! or `--password-env VAR`). Without one, secrets are stored unencrypted in
//! the owner-only file.

use std::path::{Path, PathBuf};

use mdmlink::store::{
    AnyStore, Store, StoreLocation,
    master_key::{MasterKey, MasterKeySource},
    registry::{Registry, RegistryError},
};

use crate::{Failure, Globals, files};

/// Opens the store at `location` (a SQLite file is created when missing),
/// with how messages name it (a PostgreSQL URL without its password).
pub fn open_store(location: &StoreLocation) -> Result<(AnyStore, PathBuf), Failure> {
    let store = AnyStore::open(location).map_err(|e| Failure::new(e.to_string()))?;
    let shown = match location {
        StoreLocation::Sqlite(path) => path.clone(),
        _ => PathBuf::from(store.describe()),
    };
    Ok((store, shown))
}

/// The registry over the store, and where the store is (for messages; a
/// PostgreSQL URL without its password).
pub struct Opened {
    /// The registry.
    pub registry: Registry<AnyStore>,
    /// The store file, or the database URL without password.
    pub path: PathBuf,
}

impl Opened {
    /// `path: error`.
    pub fn fail(&self, e: RegistryError) -> Failure {
        fail(&self.path, e)
    }

    /// Checks the master key when one is given (one derivation), so a wrong
    /// one is reported even by commands that read no secret.
    pub fn verify_key(&mut self, g: &Globals) -> Result<(), Failure> {
        if g.master_key_source()?.is_some() {
            match self.registry.unlock() {
                Ok(()) | Err(RegistryError::NotEncrypted) => {}
                Err(e) => return Err(self.fail(e)),
            }
        }
        Ok(())
    }
}

/// `path: error`.
pub fn fail(path: &Path, e: RegistryError) -> Failure {
    Failure::file(path, e)
}

/// Opens the store (creating it), converting a 0.1.0 store on first use.
pub fn open(g: &Globals) -> Result<Opened, Failure> {
    let (store, path) = open_store(&g.store_location()?)?;
    let source = g.master_key_source()?;
    // Only a SQLite file can be a store of mdmlink 0.1.0.
    let store = match store {
        AnyStore::Sqlite(sqlite)
            if sqlite
                .has_legacy()
                .map_err(|e| Failure::new(e.to_string()))? =>
        {
            let legacy_pass = g.store_passphrase()?;
            let mut registry = Registry::new(sqlite, source.clone());
            let name = registry
                .migrate_legacy(legacy_pass.as_ref(), time::OffsetDateTime::now_utc())
                .map_err(|e| fail(&path, e))?;
            if let Some(name) = name {
                eprintln!(
                    "mdmlink: {}: converted the store of mdmlink 0.1.0 (organization \"{name}\")",
                    path.display()
                );
            }
            AnyStore::Sqlite(registry.into_store())
        }
        other => other,
    };
    let registry = Registry::new(store, source);
    Ok(Opened { registry, path })
}

/// Reads a master key file (at most 4 KiB, a regular file).
pub fn read_key_file(path: &Path) -> Result<MasterKeySource, Failure> {
    let bytes = zeroize::Zeroizing::new(files::read(path)?);
    MasterKey::parse(&bytes, &path.display().to_string())
        .map(MasterKeySource::Key)
        .map_err(|e| Failure::new(e.to_string()))
}
