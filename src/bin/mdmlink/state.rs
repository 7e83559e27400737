//! The organization as the commands see it, loaded from and saved to the
//! SQLite store in one transaction per command.
//!
//! At rest, private keys are encrypted PKCS#8 when a passphrase is given
//! (`MDMLINK_PASSPHRASE` or `--password-env VAR`) and plain PKCS#8 otherwise
//! (protected by the store file's mode, 0600); tokens are kept only as the
//! encrypted file the portal served, and reopened with the server's key on load.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use mdmlink::{
    SecretString, ServerKeypair,
    keypair::KeyError,
    organization::{InstallOptions, Organization},
    store::{self, SqliteStore, Store, StoredOrganization, TokenFile},
    token,
};

use crate::{Failure, Globals, files};

/// The organization and its servers' token files.
pub struct State {
    /// The model.
    pub org: Organization,
    /// Token files by server name.
    pub files: BTreeMap<String, TokenFile>,
    /// Encrypted key PEMs as loaded, by public key fingerprint, so an
    /// unchanged key is not re-encrypted (PBKDF2 is slow on purpose).
    encrypted: HashMap<[u8; 32], String>,
}

impl State {
    /// A new organization.
    pub fn new(org: Organization) -> Self {
        Self {
            org,
            files: BTreeMap::new(),
            encrypted: HashMap::new(),
        }
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

fn open_store(g: &Globals) -> Result<(SqliteStore, PathBuf), Failure> {
    let path = g.store_path()?;
    if let StorePath::Store { mode } = check_store_path(&path)?
        && mode & 0o177 != 0
    {
        eprintln!(
            "warning: {}: mode {mode:04o} lets others read the store's keys; narrowing it to {:04o}",
            files::escape_label(&path.display().to_string()),
            mode & 0o600
        );
    }
    let store = SqliteStore::open(&path)?;
    Ok((store, path))
}

/// Reads the store (a snapshot, no write lock). A path with nothing at it
/// gives no organization and creates nothing.
pub fn read(g: &Globals) -> Result<(Option<State>, PathBuf), Failure> {
    let path = g.store_path()?;
    if check_store_path(&path)? == StorePath::Missing {
        return Ok((None, path));
    }
    let (mut store, path) = open_store(g)?;
    let pass = g.store_passphrase()?;
    let state = store
        .load()?
        .map(|s| decode(s, pass.as_ref(), &path))
        .transpose()?;
    Ok((state, path))
}

/// Runs `change` in one write transaction: load, change, save.
pub fn update<T>(
    g: &Globals,
    change: impl FnOnce(&mut Option<State>, &Path) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let (mut store, path) = open_store(g)?;
    let pass = g.store_passphrase()?;
    store::update(&mut store, |content| {
        let mut state = content
            .take()
            .map(|s| decode(s, pass.as_ref(), &path))
            .transpose()?;
        let value = change(&mut state, &path)?;
        *content = state
            .as_ref()
            .map(|s| encode(s, pass.as_ref(), &path))
            .transpose()?;
        Ok(value)
    })
}

/// The store's organization, or an error saying how to create one.
pub fn require<'a>(state: &'a mut Option<State>, path: &Path) -> Result<&'a mut State, Failure> {
    state.as_mut().ok_or_else(|| {
        Failure::file(
            path,
            "the store has no organization yet; add a server first (mdmlink server add NAME --portal ...)",
        )
    })
}

fn decode(
    stored: StoredOrganization,
    pass: Option<&SecretString>,
    path: &Path,
) -> Result<State, Failure> {
    let mut record = stored.record;
    let mut encrypted = HashMap::new();
    for server in &mut record.servers {
        for pem in [
            &mut server.private_key_pem,
            &mut server.staged_private_key_pem,
        ] {
            let Some(text) = pem.as_deref() else { continue };
            if !text.contains("ENCRYPTED PRIVATE KEY") {
                continue;
            }
            let pass = pass.ok_or_else(|| {
                Failure::file(
                    path,
                    "the private keys in this store are encrypted; set MDMLINK_PASSPHRASE (or pass --password-env VAR)",
                )
            })?;
            let keypair = ServerKeypair::from_pem(text.as_bytes(), Some(pass.expose().as_bytes()))
                .map_err(|e| match e {
                    KeyError::WrongPassword => Failure::file(
                        path,
                        format!(
                            "the passphrase does not decrypt the private key of server \"{}\"",
                            server.name
                        ),
                    ),
                    e => Failure::file(path, format!("server \"{}\": {e}", server.name)),
                })?;
            let plain = keypair
                .private_key_pem()
                .map_err(|e| Failure::file(path, e))?;
            encrypted.insert(keypair.public_key_fingerprint(), text.to_owned());
            *pem = Some(plain.to_string());
        }
    }
    let mut org = Organization::from_record(record).map_err(|e| Failure::file(path, e))?;
    for (name, file) in &stored.token_files {
        let server = org.server(name).ok_or_else(|| {
            Failure::file(
                path,
                format!("a token is stored for unknown server \"{name}\""),
            )
        })?;
        let keypair = server
            .keypair()
            .ok_or_else(|| Failure::file(path, format!("server \"{name}\" has no private key")))?;
        let opened = token::open(&file.data, keypair)
            .map_err(|e| Failure::file(path, format!("stored token of server \"{name}\": {e}")))?;
        let replacement = server.replacement();
        org.install_opened_token(
            name,
            opened,
            InstallOptions {
                downloaded_by: file.downloaded_by.clone(),
                force: true,
            },
            file.installed_at,
        )
        .map_err(|e| Failure::file(path, e))?;
        if let Some((reason, at)) = replacement {
            org.record_event(name, reason, at)
                .map_err(|e| Failure::file(path, e))?;
        }
    }
    Ok(State {
        org,
        files: stored.token_files,
        encrypted,
    })
}

fn encode(
    state: &State,
    pass: Option<&SecretString>,
    path: &Path,
) -> Result<StoredOrganization, Failure> {
    let mut record = state
        .org
        .to_record(true)
        .map_err(|e| Failure::file(path, e))?;
    let mut rng = mdmlink::SystemRng::default();
    for (server, model) in record.servers.iter_mut().zip(state.org.servers()) {
        // Tokens are kept only as the encrypted file the portal served.
        server.token = None;
        let Some(pass) = pass else { continue };
        let keys = [
            (&mut server.private_key_pem, model.keypair()),
            (
                &mut server.staged_private_key_pem,
                model.staged().map(|s| &s.keypair),
            ),
        ];
        for (pem, keypair) in keys {
            let (Some(text), Some(keypair)) = (pem.as_mut(), keypair) else {
                continue;
            };
            let sealed = match state.encrypted.get(&keypair.public_key_fingerprint()) {
                Some(cached) => cached.clone(),
                None => keypair
                    .private_key_encrypted_pem(&mut rng, pass.expose().as_bytes())
                    .map_err(|e| Failure::file(path, e))?
                    .to_string(),
            };
            zeroize::Zeroize::zeroize(text);
            *pem = Some(sealed);
        }
    }
    let files = state
        .files
        .iter()
        .filter(|(name, _)| state.org.server(name).is_some())
        .map(|(n, f)| (n.clone(), f.clone()))
        .collect();
    Ok(StoredOrganization {
        record,
        token_files: files,
    })
}
