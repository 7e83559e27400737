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

/// What is at the store's path, checked before anything opens or changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorePath {
    /// Nothing: a command that writes creates the store there.
    Missing,
    /// An mdmlink store (an SQLite database, or an empty file only we
    /// could have made: owner-only).
    Store {
        /// Its permission bits.
        mode: u32,
    },
}

/// Checks `path` before the store is opened: a symbolic link, a directory,
/// a device, a FIFO or a regular file that is not an SQLite database is
/// refused, and nothing about it (mode, content) is changed.
pub fn check_store_path(path: &Path) -> Result<StorePath, Failure> {
    use std::io::Read as _;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(StorePath::Missing),
        Err(e) => return Err(Failure::file(path, format!("cannot read: {e}"))),
    };
    let not_a_store = |what: &str| {
        Failure::file(
            path,
            format!(
                "{what}, not an mdmlink store; nothing was changed (give the path of a store, or a new file)"
            ),
        )
    };
    if !meta.is_file() {
        return Err(not_a_store(&format!("is {}", files::file_type_name(&meta))));
    }
    #[cfg(unix)]
    let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777;
    #[cfg(not(unix))]
    let mode = 0o600;
    if meta.len() == 0 {
        if mode & 0o077 != 0 {
            return Err(not_a_store("is an empty file readable by others"));
        }
        return Ok(StorePath::Store { mode });
    }
    let mut header = [0u8; 16];
    let mut file =
        std::fs::File::open(path).map_err(|e| Failure::file(path, format!("cannot read: {e}")))?;
    let read = file.read_exact(&mut header).is_ok();
    if !read || &header != b"SQLite format 3\0" {
        return Err(not_a_store("is not an SQLite database"));
    }
    Ok(StorePath::Store { mode })
}

/// `path: error`, with what to type when the library's message leaves it
/// to the caller (library messages never name commands, options or
/// variables: a C program sees them too).
pub fn fail(path: &Path, e: RegistryError) -> Failure {
    match hint(&e) {
        Some(hint) => Failure::file(path, format!("{e} ({hint})")),
        None => Failure::file(path, e),
    }
}

/// The command line's words for an error the library words in its own.
pub fn hint(e: &RegistryError) -> Option<&'static str> {
    use mdmlink::store::{StoreError, master_key::MasterKeyError};
    Some(match e {
        RegistryError::UnknownOrganization(_) => "list them with `mdmlink org list`",
        RegistryError::NoOrganization => {
            "`mdmlink org add NAME --portal business-manager|school-manager|business-essentials`, or `server add` with --portal"
        }
        RegistryError::OrganizationRequired(_) => "say which with --org",
        RegistryError::OrganizationNotEmpty { .. } => "--force removes it with its servers",
        RegistryError::NotEncrypted => "run `mdmlink store rekey` with the new master key",
        RegistryError::LegacyPassphrase { wrong: false, .. } => "set MDMLINK_PASSPHRASE",
        RegistryError::MasterKey(MasterKeyError::Required)
        | RegistryError::Store(StoreError::PlaintextSecret { .. }) => {
            "MDMLINK_MASTER_KEY, --master-key-file, or MDMLINK_PASSPHRASE"
        }
        RegistryError::MasterKey(MasterKeyError::Format { .. }) => {
            "generate one with `mdmlink store keygen`"
        }
        _ => return None,
    })
}

/// Opens the store for a command that only reads: a path with nothing at it
/// gives `None` and creates nothing.
pub fn open_existing(g: &Globals) -> Result<Option<Opened>, Failure> {
    // A database is always there to read; only a file can be missing.
    if let StoreLocation::Sqlite(path) = g.store_location()?
        && check_store_path(&path)? == StorePath::Missing
    {
        return Ok(None);
    }
    open(g).map(Some)
}

/// Opens the store (creating it), converting a 0.1.0 store on first use.
pub fn open(g: &Globals) -> Result<Opened, Failure> {
    let location = g.store_location()?;
    if let StoreLocation::Sqlite(path) = &location
        && let StorePath::Store { mode } = check_store_path(path)?
        && mode & 0o177 != 0
    {
        eprintln!(
            "warning: {}: mode {mode:04o} lets others read the store's keys; narrowing it to {:04o}",
            files::escape_label(&path.display().to_string()),
            mode & 0o600
        );
    }
    let (store, path) = open_store(&location)?;
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
    let bytes = zeroize::Zeroizing::new(files::read(path, files::Kind::Key)?);
    MasterKey::parse(&bytes, &path.display().to_string())
        .map(MasterKeySource::Key)
        .map_err(|e| Failure::new(format!("{e} (generate one with `mdmlink store keygen`)")))
}
