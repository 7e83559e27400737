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
    store::legacy::{self as store, SqliteStore, Store, StoredOrganization, TokenFile},
    token,
};

use crate::{Failure, Globals};

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

fn open_store(g: &Globals) -> Result<(SqliteStore, PathBuf), Failure> {
    let path = g.store_path()?;
    let store = SqliteStore::open(&path)?;
    Ok((store, path))
}

/// Reads the store (a snapshot, no write lock).
pub fn read(g: &Globals) -> Result<(Option<State>, PathBuf), Failure> {
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
