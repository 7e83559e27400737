//! The store as the commands see it: a [`Registry`] over the SQLite file,
//! with the master key from the environment. Every command makes one
//! registry call (one transaction); this file only opens it and words its
//! errors.
//!
//! The master key comes from `MDMLINK_MASTER_KEY` (32 bytes, hex or
//! base64), `--master-key-file PATH`, or a passphrase (`MDMLINK_PASSPHRASE`,
//! or `--password-env VAR`). Without one, secrets are stored unencrypted in
//! the owner-only file.

use std::path::{Path, PathBuf};

use mdmlink::store::{
    SqliteStore,
    master_key::{MasterKey, MasterKeySource},
    registry::{Registry, RegistryError},
};

use crate::{Failure, Globals, files};

/// The registry over the store file, and the file's path (for messages).
pub struct Opened {
    /// The registry.
    pub registry: Registry<SqliteStore>,
    /// The store file.
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
    let path = g.store_path()?;
    let store = SqliteStore::open(&path).map_err(|e| Failure::new(e.to_string()))?;
    let source = g.master_key_source()?;
    let legacy_pass = g.store_passphrase()?;
    let mut registry = Registry::new(store, source);
    let needs_migration = registry
        .store_mut()
        .has_legacy()
        .map_err(|e| Failure::new(e.to_string()))?;
    if needs_migration {
        let name = registry
            .migrate_legacy(legacy_pass.as_ref(), time::OffsetDateTime::now_utc())
            .map_err(|e| fail(&path, e))?;
        if let Some(name) = name {
            eprintln!(
                "mdmlink: {}: converted the store of mdmlink 0.1.0 (organization \"{name}\")",
                path.display()
            );
        }
    }
    Ok(Opened { registry, path })
}

/// Reads a master key file (at most 4 KiB, a regular file).
pub fn read_key_file(path: &Path) -> Result<MasterKeySource, Failure> {
    let bytes = zeroize::Zeroizing::new(files::read(path)?);
    MasterKey::parse(&bytes, &path.display().to_string())
        .map(MasterKeySource::Key)
        .map_err(|e| Failure::new(e.to_string()))
}
