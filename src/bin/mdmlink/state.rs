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
    AnyStore, OpenMode, OpenedRegistry, StoreLocation,
    master_key::{MasterKey, MasterKeySource},
    registry::{Registry, RegistryError},
};

use crate::{Failure, Globals, files};

/// Opens the store at `location` for `mode` (`None`: reading found no
/// store), with how messages name it (a PostgreSQL URL without its
/// password), warning when its mode was narrowed.
pub fn open_store(
    location: &StoreLocation,
    mode: OpenMode,
) -> Result<Option<(AnyStore, PathBuf)>, Failure> {
    let Some(opened) = mdmlink::store::open_store(location, mode)? else {
        return Ok(None);
    };
    warn_narrowed(&opened.shown, opened.narrowed_mode);
    Ok(Some((opened.store, PathBuf::from(opened.shown))))
}

fn warn_narrowed(shown: &str, narrowed: Option<(u32, u32)>) {
    if let Some((old, new)) = narrowed {
        eprintln!(
            "warning: {}: mode {old:04o} lets others read the store's keys; narrowed it to {new:04o}",
            files::escape_label(shown),
        );
    }
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
    use mdmlink::not_found::Missing;
    use mdmlink::store::{StoreError, master_key::MasterKeyError};
    Some(match e {
        RegistryError::NotFound(n) => match n.missing() {
            Missing::Organization => "list them with `mdmlink org list`",
            Missing::Server => "list them with `mdmlink server list`",
            Missing::ApiAccount => "add one with `mdmlink api add`",
            _ => return None,
        },
        RegistryError::NoOrganization => {
            "`mdmlink org add NAME --portal business-manager|school-manager|business-essentials`, or `server add` with --portal"
        }
        RegistryError::OrganizationRequired(_) => "say which with --org",
        RegistryError::OrganizationNotEmpty { .. } => "--force removes it with its servers",
        RegistryError::ApiAccountExists { .. } => {
            "--replace replaces it; `mdmlink api remove` removes it"
        }
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

/// Opens the store for a command that only reads: nothing is created,
/// converted or migrated; `None` when there is no store.
pub fn open_existing(g: &Globals) -> Result<Option<Opened>, Failure> {
    open_for(g, OpenMode::ReadOnly)
}

/// Opens the store for a command that writes (creating it), converting a
/// 0.1.0 store on first use.
pub fn open(g: &Globals) -> Result<Opened, Failure> {
    open_for(g, OpenMode::ReadWrite)?
        .ok_or_else(|| Failure::new("the store could not be opened for writing"))
}

/// Opens the store for a command that works on what is already there (a
/// server, an organization): a SQLite path with nothing at it is an error,
/// and nothing is created.
pub fn open_present(g: &Globals) -> Result<Opened, Failure> {
    if let StoreLocation::Sqlite(path) = g.store_location()?
        && std::fs::symlink_metadata(&path).is_err()
    {
        return Err(Failure::file(
            &path,
            "no store here (nothing was created); add an organization or a server first",
        ));
    }
    open(g)
}

fn open_for(g: &Globals, mode: OpenMode) -> Result<Option<Opened>, Failure> {
    let location = g.store_location()?;
    let source = g.master_key_source()?;
    let legacy_pass = g.store_passphrase()?;
    let opened = mdmlink::store::open_registry(
        &location,
        mode,
        source,
        legacy_pass.as_ref(),
        time::OffsetDateTime::now_utc(),
    )
    .map_err(|e| match e {
        RegistryError::Store(e @ mdmlink::store::StoreError::OlderSchema { .. }) => {
            Failure::new(format!("{e} (`mdmlink store upgrade` does it)"))
        }
        RegistryError::Store(e) => Failure::from(e),
        e => match hint(&e) {
            Some(hint) => Failure::new(format!("{e} ({hint})")),
            None => Failure::new(e.to_string()),
        },
    })?;
    let Some(OpenedRegistry {
        registry,
        shown,
        narrowed_mode,
        converted,
        ..
    }) = opened
    else {
        return Ok(None);
    };
    warn_narrowed(&shown, narrowed_mode);
    if let Some(name) = converted {
        eprintln!(
            "mdmlink: {}: converted the store of mdmlink 0.1.0 (organization \"{name}\")",
            files::escape_label(&shown)
        );
    }
    Ok(Some(Opened {
        registry,
        path: PathBuf::from(shown),
    }))
}

/// Reads a master key file (at most 4 KiB, a regular file that only its
/// owner may read: one that others can read is refused, since the key
/// opens every secret in the store).
pub fn read_key_file(path: &Path) -> Result<MasterKeySource, Failure> {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777;
        if meta.is_file() && mode & 0o077 != 0 {
            return Err(Failure::file(
                path,
                format!(
                    "mode {mode:04o} lets others read the master key; make it owner-only (chmod 600) and try again"
                ),
            ));
        }
    }
    let bytes = zeroize::Zeroizing::new(files::read(path, files::Kind::MasterKey)?);
    MasterKey::parse(&bytes, &path.display().to_string())
        .map(MasterKeySource::Key)
        .map_err(|e| Failure::new(format!("{e} (generate one with `mdmlink store keygen`)")))
}
