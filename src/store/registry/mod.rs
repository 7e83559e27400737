//! The store-backed API: organizations and their servers in a [`Store`],
//! one transaction per call, secrets sealed under the store's master key.
//!
//! What the `mdmlink` command does, a Rust vendor does by calling
//! [`Registry`] directly. Listing and health checks read only non-secret
//! columns: no RSA operation, no key derivation. A one-server operation
//! reads and writes that server's row (and, for the certificate limit, the
//! organization's count). The master key is derived at most once per
//! [`Registry`], the first time a secret is needed.
//!
//! ```
//! use mdmlink::{portal::Portal, store::{MemoryStore, registry::Registry}};
//! let now = time::macros::datetime!(2026-01-17 11:02:21 UTC);
//! let mut registry = Registry::new(MemoryStore::new(), None);
//! registry.add_organization("Contoso", Portal::BusinessManager, Some("Contoso Ltd"), now)?;
//! registry.add_organization("Fabrikam", Portal::BusinessManager, None, now)?;
//! assert_eq!(registry.organizations()?.len(), 2);
//! # Ok::<(), mdmlink::store::registry::RegistryError>(())
//! ```

use rand_core::TryCryptoRng;
use time::OffsetDateTime;

use super::{
    OrganizationRow, ServerRow, Store, StoreError, StoreExt, StoreTx,
    master_key::{self, KdfParams, MasterKeyError, MasterKeyRecord, MasterKeySource, Sealer},
};
use crate::{
    ServerKeypair,
    expiry::{ExpiryPolicy, ReplacementReason},
    keypair::{KeyError, ServerCertificate},
    name::ServerName,
    organization::{InstallOptions, InstallReport, Organization, OrganizationError, ServerOptions},
    portal::Portal,
    token::{ServerToken, TokenError},
};

mod convert;
pub mod health;
#[cfg(feature = "sqlite")]
pub mod migrate;

pub use health::{OrganizationActionItem, ServerListing};

/// Why a registry operation failed. Messages say what to do and never
/// carry a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The master key is missing, wrong, or a secret did not open.
    #[error(transparent)]
    MasterKey(#[from] MasterKeyError),
    /// The organization model refused the change.
    #[error(transparent)]
    Organization(#[from] OrganizationError),
    /// No organization has this name.
    #[error("no organization named \"{0}\"; list them with `mdmlink org list`")]
    UnknownOrganization(String),
    /// The store holds no organization.
    #[error(
        "the store has no organization yet; add one with `mdmlink org add NAME --portal business-manager|school-manager|business-essentials`"
    )]
    NoOrganization,
    /// Several organizations, and none was named.
    #[error("the store holds {} organizations ({}); say which with --org", .0.len(), .0.join(", "))]
    OrganizationRequired(Vec<String>),
    /// No server has this name in the organization.
    #[error("no server named \"{name}\" in organization \"{organization}\"")]
    UnknownServer {
        /// The organization.
        organization: String,
        /// The name asked for.
        name: String,
    },
    /// The organization still has servers.
    #[error(
        "organization \"{name}\" still has {servers} server(s); remove them first, or remove the organization with its servers (--force)"
    )]
    OrganizationNotEmpty {
        /// The organization.
        name: String,
        /// How many servers it has.
        servers: usize,
    },
    /// A key could not be read, encoded or generated.
    #[error("server \"{server}\": {source}")]
    Key {
        /// The server.
        server: String,
        /// Why.
        source: KeyError,
    },
    /// A token given for import could not be opened with the key.
    #[error("server \"{server}\": the token does not open with the imported key: {source}")]
    ImportToken {
        /// The server.
        server: String,
        /// Why.
        source: TokenError,
    },
    /// A server was imported without its certificate.
    #[error(
        "server \"{server}\": give its certificate (the one uploaded to the portal) along with the key; every server has one, it names the server in the tokens the portal issues and counts toward the portal's limit"
    )]
    CertificateRequired {
        /// The server.
        server: String,
    },
    /// The token is already installed for another server of the
    /// organization (the same consumer key).
    #[error(
        "server \"{server}\": this token is already installed for server \"{other}\"; two servers cannot share one token (download the token of this server's own MDM server in the portal, or force it)"
    )]
    TokenShared {
        /// The server the token was given for.
        server: String,
        /// The server that holds it.
        other: String,
    },
    /// A certificate given for import does not match the key.
    #[error("server \"{server}\": the certificate does not belong to the key: {source}")]
    ImportCertificate {
        /// The server.
        server: String,
        /// Why.
        source: KeyError,
    },
    /// The store holds servers whose secrets are not encrypted, and a master
    /// key was given: encrypting them is an explicit step.
    #[error(
        "this store's secrets are not encrypted yet; run `mdmlink store rekey` with the new master key to encrypt them"
    )]
    NotEncrypted,
    /// A 0.1.0 store's private keys are encrypted and the passphrase is
    /// missing or wrong.
    #[error(
        "the 0.1.0 store's private key of server \"{server}\" is encrypted; {}",
        if *.wrong { "the passphrase given does not decrypt it" } else { "set MDMLINK_PASSPHRASE to the passphrase it was saved with" }
    )]
    LegacyPassphrase {
        /// The server.
        server: String,
        /// A passphrase was given, and it is wrong.
        wrong: bool,
    },
    /// A stored row does not restore.
    #[error("stored server \"{server}\" is invalid: {reason}")]
    CorruptRow {
        /// The server.
        server: String,
        /// Why.
        reason: String,
    },
}

impl RegistryError {
    fn unknown_server(organization: &OrganizationRow, name: &str) -> Self {
        RegistryError::UnknownServer {
            organization: organization.name.clone(),
            name: name.to_owned(),
        }
    }
}

/// What [`Registry::install_token`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The organization.
    pub organization: String,
    /// The server (its name as stored).
    pub server: String,
    /// How the token was bound, and warnings.
    pub report: InstallReport,
    /// When the installed token expires.
    pub expires_at: OffsetDateTime,
}

/// Organizations and servers in a [`Store`], secrets under its master key.
pub struct Registry<S: Store> {
    store: S,
    source: Option<MasterKeySource>,
    sealer: Option<Sealer>,
    kdf_params: KdfParams,
}

impl<S: Store + core::fmt::Debug> core::fmt::Debug for Registry<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Registry")
            .field("store", &self.store)
            .field("master_key_given", &self.source.is_some())
            .finish()
    }
}

impl<S: Store> Registry<S> {
    /// A registry over `store`. `master_key` is needed only by operations
    /// that touch a secret; a store without a master key keeps secrets
    /// unencrypted (fine for a file only its owner can read, never for a
    /// networked database).
    pub fn new(store: S, master_key: Option<MasterKeySource>) -> Self {
        Self {
            store,
            source: master_key,
            sealer: None,
            kdf_params: KdfParams::DEFAULT,
        }
    }

    /// Uses `params` when a passphrase is enrolled (tests use cheaper ones).
    pub fn with_kdf_params(mut self, params: KdfParams) -> Self {
        self.kdf_params = params;
        self
    }

    /// The store.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Gives the store back.
    pub fn into_store(self) -> S {
        self.store
    }

    /// `true` when the store has a master key (its secrets are encrypted).
    pub fn is_encrypted(&mut self) -> Result<bool, RegistryError> {
        Ok(self
            .store
            .read(|tx| tx.meta(MasterKeyRecord::META_KEY))?
            .is_some())
    }

    /// Derives and checks the master key now (at most once per registry),
    /// so a wrong key is reported before anything else; enrolls the given
    /// key in a new store.
    pub fn unlock(&mut self) -> Result<(), RegistryError> {
        self.sealer().map(|_| ())
    }

    /// The sealer for this store: derives and checks the master key once
    /// (or enrolls the given one in a store that has none and no servers).
    fn sealer(&mut self) -> Result<Sealer, RegistryError> {
        if let Some(s) = &self.sealer {
            return Ok(s.clone());
        }
        // Counting servers matters only when a key meets a store without
        // one; other calls read two meta values, whatever the store's size.
        let enrolling = self.source.is_some();
        let (store_id, record, servers) = self.store.read(|tx| {
            let record = tx.meta(MasterKeyRecord::META_KEY)?;
            let servers = if record.is_none() && enrolling {
                tx.list_servers(None)?.len()
            } else {
                0
            };
            Ok::<_, StoreError>((tx.store_id()?, record, servers))
        })?;
        let sealer = match (record, &self.source) {
            (Some(record), Some(source)) => {
                let record = MasterKeyRecord::from_meta(&record)?;
                Sealer::new(
                    store_id,
                    Some(master_key::unlock(source, &record, &store_id)?),
                )
            }
            (Some(_), None) => return Err(MasterKeyError::Required.into()),
            (None, None) => Sealer::new(store_id, None),
            (None, Some(source)) => {
                if servers > 0 {
                    return Err(RegistryError::NotEncrypted);
                }
                let (key, record) = master_key::enroll(source, self.kdf_params, &store_id)?;
                let meta = record.to_meta();
                // Another process may have enrolled first: then unlock theirs.
                let theirs = self.store.write(|tx| {
                    if let Some(existing) = tx.meta(MasterKeyRecord::META_KEY)? {
                        return Ok::<_, StoreError>(Some(existing));
                    }
                    tx.set_meta(MasterKeyRecord::META_KEY, Some(&meta))?;
                    Ok(None)
                })?;
                match theirs {
                    None => Sealer::new(store_id, Some(key)),
                    Some(existing) => {
                        let record = MasterKeyRecord::from_meta(&existing)?;
                        Sealer::new(
                            store_id,
                            Some(master_key::unlock(source, &record, &store_id)?),
                        )
                    }
                }
            }
        };
        self.sealer = Some(sealer.clone());
        Ok(sealer)
    }

    // ---- organizations ----

    /// Every organization, by name.
    pub fn organizations(&mut self) -> Result<Vec<OrganizationRow>, RegistryError> {
        Ok(self.store.read(|tx| tx.list_organizations())?)
    }

    /// Adds an organization (one portal account).
    pub fn add_organization(
        &mut self,
        name: &str,
        portal: Portal,
        customer: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<OrganizationRow, RegistryError> {
        let mut row = OrganizationRow::new(name, portal, now)?;
        row.customer = customer.map(str::to_owned);
        row.id = self.store.write(|tx| tx.insert_organization(&row))?;
        Ok(row)
    }

    /// Removes an organization; with servers only when `with_servers`.
    /// Returns its name as stored and how many servers went with it.
    pub fn remove_organization(
        &mut self,
        name: &str,
        with_servers: bool,
    ) -> Result<(String, usize), RegistryError> {
        self.store.write(|tx| {
            let org = find_org(tx, Some(name))?;
            let servers = tx.list_servers(Some(org.id))?.len();
            if servers > 0 && !with_servers {
                return Err(RegistryError::OrganizationNotEmpty {
                    name: org.name,
                    servers,
                });
            }
            tx.delete_organization(org.id)?;
            Ok((org.name, servers))
        })
    }

    /// How many servers each organization has, by organization id.
    pub fn server_counts(
        &mut self,
    ) -> Result<std::collections::HashMap<super::OrganizationId, usize>, RegistryError> {
        let servers = self.store.read(|tx| tx.list_servers(None))?;
        let mut counts = std::collections::HashMap::new();
        for s in servers {
            *counts.entry(s.organization_id).or_insert(0) += 1;
        }
        Ok(counts)
    }

    /// The organization named `name`, or the only one when `name` is `None`.
    pub fn organization(&mut self, name: Option<&str>) -> Result<OrganizationRow, RegistryError> {
        self.store.read(|tx| find_org(tx, name))
    }

    // ---- listing and health (no secret is read) ----

    /// Every server (of one organization, or all), with its health at `now`.
    pub fn servers(
        &mut self,
        organization: Option<&str>,
        policy: &ExpiryPolicy,
        now: OffsetDateTime,
    ) -> Result<Vec<ServerListing>, RegistryError> {
        let (orgs, servers) = self.snapshot(organization)?;
        Ok(listings(&orgs, servers, policy, now))
    }

    /// What needs action across organizations (or in one), most urgent first.
    pub fn needs_action(
        &mut self,
        organization: Option<&str>,
        policy: &ExpiryPolicy,
        now: OffsetDateTime,
    ) -> Result<Vec<OrganizationActionItem>, RegistryError> {
        let (orgs, servers) = self.snapshot(organization)?;
        Ok(health::needs_action(&orgs, &servers, policy, now))
    }

    /// [`Self::servers`] and [`Self::needs_action`] from one read (what
    /// `mdmlink check` needs: every server's health and the actions).
    pub fn health_report(
        &mut self,
        organization: Option<&str>,
        policy: &ExpiryPolicy,
        now: OffsetDateTime,
    ) -> Result<(Vec<ServerListing>, Vec<OrganizationActionItem>), RegistryError> {
        let (orgs, servers) = self.snapshot(organization)?;
        let items = health::needs_action(&orgs, &servers, policy, now);
        let listings = listings(&orgs, servers, policy, now);
        Ok((listings, items))
    }

    fn snapshot(
        &mut self,
        organization: Option<&str>,
    ) -> Result<(Vec<OrganizationRow>, Vec<super::ServerSummary>), RegistryError> {
        self.store.read(|tx| {
            let orgs = tx.list_organizations()?;
            let filter = match organization {
                Some(name) => Some(find_org(tx, Some(name))?.id),
                None => None,
            };
            let servers = tx.list_servers(filter)?;
            Ok((orgs, servers))
        })
    }

    // ---- one server ----

    /// Refuses, before a slow key generation, to stage a keypair for a
    /// server that has one staged already (unless it is to be replaced).
    pub fn check_stage(
        &mut self,
        organization: Option<&str>,
        name: &str,
    ) -> Result<String, RegistryError> {
        let row = self.row(organization, name)?;
        if row.summary.staged_at.is_some() {
            return Err(OrganizationError::AlreadyStaged {
                server: row.summary.name,
                serial: row
                    .summary
                    .staged_certificate_serial
                    .unwrap_or_else(|| "-".into()),
                since: row
                    .summary
                    .staged_at
                    .map(super::columns::time_to_text)
                    .unwrap_or_default(),
            }
            .into());
        }
        Ok(row.summary.name)
    }

    /// Checks that `name` is free in the organization (before spending time
    /// on key generation); returns the name as it will be stored.
    pub fn check_new_server(
        &mut self,
        organization: Option<&str>,
        name: &str,
    ) -> Result<(OrganizationRow, ServerName), RegistryError> {
        let parsed = ServerName::parse(name).map_err(OrganizationError::from)?;
        self.store.read(|tx| {
            let org = find_org(tx, organization)?;
            if let Some(existing) = tx.server(org.id, parsed.comparison_key())? {
                return Err(OrganizationError::DuplicateName {
                    existing: existing.summary.name,
                }
                .into());
            }
            Ok((org, parsed.clone()))
        })
    }

    /// Adds a server with its keypair (generated by the caller, or imported).
    pub fn add_server(
        &mut self,
        organization: Option<&str>,
        name: &str,
        keypair: ServerKeypair,
        options: ServerOptions,
        now: OffsetDateTime,
    ) -> Result<OrganizationRow, RegistryError> {
        let sealer = self.sealer()?;
        let mut model = Organization::new("", Portal::BusinessManager);
        model.add_server(name, keypair, options, now)?;
        let server = model
            .servers()
            .next()
            .ok_or_else(|| RegistryError::CorruptRow {
                server: name.to_owned(),
                reason: "not added".into(),
            })?;
        self.store.write(|tx| {
            let org = find_org(tx, organization)?;
            if let Some(t) = server.token() {
                check_token_unshared(tx, &sealer, &org, name, t.token.consumer_key())?;
            }
            insert(tx, &sealer, &org, server).map_err(|e| duplicate(e, name))?;
            Ok(org)
        })
    }

    /// Imports a server already linked by another product: its private key
    /// (PKCS#1 or PKCS#8, PEM or DER, encrypted with `key_password` or not),
    /// optionally its certificate and its current token file, which must
    /// open with the key. No new upload to the portal is needed.
    #[allow(clippy::too_many_arguments)]
    pub fn import_server(
        &mut self,
        organization: Option<&str>,
        name: &str,
        key: &[u8],
        key_password: Option<&[u8]>,
        certificate: Option<&[u8]>,
        token: Option<(&str, &[u8])>,
        options: ServerOptions,
        downloaded_by: Option<String>,
        now: OffsetDateTime,
    ) -> Result<(OrganizationRow, Option<Installed>), RegistryError> {
        let key_err = |source| RegistryError::Key {
            server: name.to_owned(),
            source,
        };
        let mut keypair = ServerKeypair::from_pem_or_der(key, key_password).map_err(key_err)?;
        // A server always has a certificate: it is what the portal holds,
        // what a token names as its recipient, and what counts toward the
        // portal's limit. One made here would match no token the portal
        // issues for the original, so the original is required.
        let cert = match certificate {
            Some(cert) => ServerCertificate::from_pem_or_der(cert).map_err(key_err)?,
            None => {
                return Err(RegistryError::CertificateRequired {
                    server: name.to_owned(),
                });
            }
        };
        keypair
            .attach_certificate(cert)
            .map_err(|source| RegistryError::ImportCertificate {
                server: name.to_owned(),
                source,
            })?;
        let sealer = self.sealer()?;
        let mut model = Organization::new("", Portal::BusinessManager);
        model.add_server(name, keypair, options, now)?;
        let report = match token {
            Some((file_name, data)) => Some(
                model
                    .install_token_file(
                        name,
                        file_name,
                        data,
                        InstallOptions {
                            downloaded_by,
                            force: false,
                        },
                        now,
                    )
                    .map_err(|e| match e {
                        OrganizationError::Token { source, .. } => RegistryError::ImportToken {
                            server: name.to_owned(),
                            source,
                        },
                        e => e.into(),
                    })?,
            ),
            None => None,
        };
        let server = model
            .servers()
            .next()
            .ok_or_else(|| RegistryError::CorruptRow {
                server: name.to_owned(),
                reason: "not added".into(),
            })?;
        let org = self.store.write(|tx| {
            let org = find_org(tx, organization)?;
            if let Some(t) = server.token() {
                check_token_unshared(tx, &sealer, &org, name, t.token.consumer_key())?;
            }
            insert(tx, &sealer, &org, server).map_err(|e| duplicate(e, name))?;
            Ok::<_, RegistryError>(org)
        })?;
        let installed = report.map(|report| Installed {
            organization: org.name.clone(),
            server: server.name().to_string(),
            report,
            expires_at: server
                .token()
                .map(|t| t.token.access_token_expiry())
                .unwrap_or(now),
        });
        Ok((org, installed))
    }

    /// Runs `change` on the server's model (secrets opened) in one write
    /// transaction, and writes the row back.
    /// A token whose consumer key another server of the organization holds
    /// is refused unless `shared_token_ok`.
    fn with_server<T>(
        &mut self,
        organization: Option<&str>,
        name: &str,
        shared_token_ok: bool,
        mut change: impl FnMut(&mut Organization, &str) -> Result<T, RegistryError>,
    ) -> Result<(OrganizationRow, T), RegistryError> {
        let sealer = self.sealer()?;
        self.store.write(|tx| {
            let org = find_org(tx, organization)?;
            let key = convert::name_key(&org.name, name)?;
            let row = tx
                .server_for_update(org.id, &key)?
                .ok_or_else(|| RegistryError::unknown_server(&org, name))?;
            let server = convert::to_model(&sealer, &row)?;
            let stored_name = server.name().to_string();
            let record = server
                .to_record(true)
                .map_err(|source| RegistryError::Key {
                    server: stored_name.clone(),
                    source,
                })?;
            let mut model = Organization::from_record(crate::organization::OrganizationRecord {
                name: org.name.clone(),
                portal: org.portal,
                servers: vec![record],
            })?;
            let value = change(&mut model, &stored_name)?;
            let changed = model
                .server(&stored_name)
                .ok_or_else(|| RegistryError::unknown_server(&org, name))?;
            let issued =
                if changed.token().map(|t| t.installed_at) == row.summary.token_installed_at {
                    row.summary.token_issued_at
                } else {
                    None
                };
            let new_row = convert::to_row(&sealer, changed, row.summary.id, org.id, issued)?;
            if let Some(t) = changed.token()
                && !shared_token_ok
                && new_row.summary.token_installed_at != row.summary.token_installed_at
            {
                check_token_unshared(tx, &sealer, &org, &stored_name, t.token.consumer_key())?;
            }
            tx.update_server(&new_row)
                .map_err(|e| duplicate(e.into(), name))?;
            Ok((org, value))
        })
    }

    /// Runs `change` on the server's row without opening its secrets.
    fn with_row<T>(
        &mut self,
        organization: Option<&str>,
        name: &str,
        mut change: impl FnMut(&mut ServerRow) -> Result<T, RegistryError>,
    ) -> Result<(OrganizationRow, T), RegistryError> {
        self.store.write(|tx| {
            let org = find_org(tx, organization)?;
            let key = convert::name_key(&org.name, name)?;
            let mut row = tx
                .server_for_update(org.id, &key)?
                .ok_or_else(|| RegistryError::unknown_server(&org, name))?;
            let value = change(&mut row)?;
            tx.update_server(&row)?;
            Ok((org, value))
        })
    }

    /// Opens a token file with the server's staged or current key and
    /// installs it, with the model's policy checks (see
    /// [`Organization::install_token_file`]). One RSA operation per key tried.
    pub fn install_token(
        &mut self,
        organization: Option<&str>,
        name: &str,
        file_name: &str,
        data: &[u8],
        options: InstallOptions,
        now: OffsetDateTime,
    ) -> Result<Installed, RegistryError> {
        let (org, (server, report, expires_at)) =
            self.with_server(organization, name, options.force, |model, stored| {
                let report =
                    model.install_token_file(stored, file_name, data, options.clone(), now)?;
                let expires_at = model
                    .server(stored)
                    .and_then(|s| s.token())
                    .map(|t| t.token.access_token_expiry())
                    .unwrap_or(now);
                Ok((stored.to_owned(), report, expires_at))
            })?;
        Ok(Installed {
            organization: org.name,
            server,
            report,
            expires_at,
        })
    }

    /// Stages `keypair` for the server (a key rotation's first step).
    /// A keypair already staged is refused
    /// ([`OrganizationError::AlreadyStaged`]) unless `replace`. Returns the
    /// organization.
    pub fn stage_keypair(
        &mut self,
        organization: Option<&str>,
        name: &str,
        keypair: ServerKeypair,
        replace: bool,
        now: OffsetDateTime,
    ) -> Result<OrganizationRow, RegistryError> {
        let mut keypair = Some(keypair);
        let (org, ()) = self.with_server(organization, name, true, |model, stored| {
            let k = keypair.take().ok_or_else(|| RegistryError::CorruptRow {
                server: stored.to_owned(),
                reason: "retried after staging".into(),
            })?;
            if replace && model.server(stored).is_some_and(|s| s.staged().is_some()) {
                model.discard_staged(stored)?;
            }
            model.stage_keypair(stored, k, now)?;
            Ok(())
        })?;
        Ok(org)
    }

    /// Discards the staged keypair; returns its certificate's serial.
    pub fn discard_staged(
        &mut self,
        organization: Option<&str>,
        name: &str,
    ) -> Result<Option<String>, RegistryError> {
        let (_, serial) = self.with_row(organization, name, |row| {
            if row.summary.staged_at.is_none() {
                return Err(OrganizationError::NoStagedKeypair {
                    server: row.summary.name.clone(),
                }
                .into());
            }
            let serial = row.summary.staged_certificate_serial.take();
            row.summary.staged_at = None;
            row.summary.staged_certificate_not_after = None;
            row.staged_certificate_pem = None;
            row.staged_private_key = None;
            Ok(serial)
        })?;
        Ok(serial)
    }

    /// Records an event that invalidates the server's token.
    pub fn record_event(
        &mut self,
        organization: Option<&str>,
        name: &str,
        reason: ReplacementReason,
        at: OffsetDateTime,
    ) -> Result<String, RegistryError> {
        let (_, name) = self.with_row(organization, name, |row| {
            row.summary.replacement = Some((reason, at));
            Ok(row.summary.name.clone())
        })?;
        Ok(name)
    }

    /// Records Apple's `server_uuid` for the server (the JWT issuer).
    pub fn set_server_uuid(
        &mut self,
        organization: Option<&str>,
        name: &str,
        uuid: &str,
    ) -> Result<String, RegistryError> {
        let uuid = uuid.trim();
        let (_, name) = self.with_row(organization, name, |row| {
            // The model's rule, applied to the column.
            let mut probe = Organization::new("", Portal::BusinessManager);
            probe.add_linked_server(
                &row.summary.name,
                None,
                ServerOptions::default(),
                OffsetDateTime::UNIX_EPOCH,
            )?;
            probe.set_server_uuid(&row.summary.name, uuid)?;
            row.summary.server_uuid = probe
                .server(&row.summary.name)
                .and_then(|s| s.server_uuid().map(str::to_owned));
            Ok(row.summary.name.clone())
        })?;
        Ok(name)
    }

    /// Removes the server with its keys and token; returns its name.
    pub fn remove_server(
        &mut self,
        organization: Option<&str>,
        name: &str,
    ) -> Result<String, RegistryError> {
        self.store.write(|tx| {
            let org = find_org(tx, organization)?;
            let key = convert::name_key(&org.name, name)?;
            let row = tx
                .server(org.id, &key)?
                .ok_or_else(|| RegistryError::unknown_server(&org, name))?;
            tx.delete_server(row.summary.id)?;
            Ok(row.summary.name.clone())
        })
    }

    /// The server's row, read in one transaction (secrets still sealed).
    fn row(&mut self, organization: Option<&str>, name: &str) -> Result<ServerRow, RegistryError> {
        self.store.read(|tx| {
            let org = find_org(tx, organization)?;
            let key = convert::name_key(&org.name, name)?;
            tx.server(org.id, &key)?
                .ok_or_else(|| RegistryError::unknown_server(&org, name))
        })
    }

    /// The server's current certificate (or the staged one), PEM. No secret is read.
    pub fn certificate_pem(
        &mut self,
        organization: Option<&str>,
        name: &str,
        staged: bool,
    ) -> Result<Option<String>, RegistryError> {
        let row = self.row(organization, name)?;
        Ok(if staged {
            row.staged_certificate_pem.clone()
        } else {
            row.certificate_pem.clone()
        })
    }

    /// The server's installed token (for a session with Apple's service).
    pub fn token(
        &mut self,
        organization: Option<&str>,
        name: &str,
    ) -> Result<Option<ServerToken>, RegistryError> {
        let sealer = self.sealer()?;
        let row = self.row(organization, name)?;
        Ok(convert::to_model(&sealer, &row)?
            .token()
            .map(|t| t.token.clone()))
    }

    /// Signs an Access Management JWT with the server's current key (see
    /// [`Organization::access_management_jwt`]).
    pub fn access_management_jwt<R: TryCryptoRng + ?Sized>(
        &mut self,
        organization: Option<&str>,
        name: &str,
        now: OffsetDateTime,
        jti: &str,
        rng: &mut R,
    ) -> Result<String, RegistryError> {
        let sealer = self.sealer()?;
        let row = self.row(organization, name)?;
        let server = convert::to_model(&sealer, &row)?;
        let model = Organization::from_record(crate::organization::OrganizationRecord {
            name: String::new(),
            portal: Portal::BusinessManager,
            servers: vec![
                server
                    .to_record(true)
                    .map_err(|source| RegistryError::Key {
                        server: row.summary.name.clone(),
                        source,
                    })?,
            ],
        })?;
        Ok(model.access_management_jwt(&row.summary.name, now, jti, rng)?)
    }

    /// Re-seals every secret under `new` (or, with `None`, stores them
    /// unencrypted), in one transaction: the old key must open them all.
    pub fn rekey(&mut self, new: Option<MasterKeySource>) -> Result<usize, RegistryError> {
        let old = self
            .sealer
            .clone()
            .map_or_else(|| self.current_sealer(), Ok)?;
        let store_id = self.store.read(|tx| tx.store_id())?;
        let (new_sealer, record) = match &new {
            Some(source) => {
                let (key, record) = master_key::enroll(source, self.kdf_params, &store_id)?;
                (Sealer::new(store_id, Some(key)), Some(record.to_meta()))
            }
            None => (Sealer::new(store_id, None), None),
        };
        let count = self.store.write(|tx| {
            let servers = tx.list_servers(None)?;
            for s in &servers {
                let mut row = tx
                    .server_for_update(s.organization_id, &s.name_key)?
                    .ok_or_else(|| StoreError::NotFound {
                        what: "server",
                        key: s.name.clone(),
                    })?;
                for field in super::SecretField::ALL {
                    if let Some(sealed) = row.secret(field) {
                        let plain = old.open(s.organization_id, s.id, field, sealed)?;
                        *row.secret_mut(field) =
                            Some(new_sealer.seal(s.organization_id, s.id, field, &plain)?);
                    }
                }
                tx.update_server(&row)?;
            }
            tx.set_meta(MasterKeyRecord::META_KEY, record.as_deref())?;
            Ok::<_, RegistryError>(servers.len())
        })?;
        self.sealer = Some(new_sealer);
        self.source = new;
        Ok(count)
    }

    /// The sealer for the store as it is (a store without a key but with
    /// servers is read in plaintext form even when a key is given).
    fn current_sealer(&mut self) -> Result<Sealer, RegistryError> {
        match self.sealer() {
            Err(RegistryError::NotEncrypted) => {
                let store_id = self.store.read(|tx| tx.store_id())?;
                Ok(Sealer::new(store_id, None))
            }
            other => other,
        }
    }
}

fn listings(
    orgs: &[OrganizationRow],
    servers: Vec<super::ServerSummary>,
    policy: &ExpiryPolicy,
    now: OffsetDateTime,
) -> Vec<ServerListing> {
    let by_id: std::collections::HashMap<_, _> = orgs.iter().map(|o| (o.id, o)).collect();
    servers
        .into_iter()
        .filter_map(|summary| {
            let org = by_id.get(&summary.organization_id)?;
            Some(ServerListing {
                organization: org.name.clone(),
                portal: org.portal,
                customer: org.customer.clone(),
                status: health::status(&summary, policy, now),
                summary,
            })
        })
        .collect()
}

/// The organization named `name`, or the only one.
/// Refuses a token for `server` whose consumer key another server of the
/// organization already holds: two servers on one token would share one
/// link, and renewing either would break the other. The consumer key hint
/// narrows the servers whose token is opened to compare.
fn check_token_unshared(
    tx: &mut dyn StoreTx,
    sealer: &Sealer,
    org: &OrganizationRow,
    server: &str,
    consumer_key: &str,
) -> Result<(), RegistryError> {
    let own_key = convert::name_key(&org.name, server)?;
    let hint = convert::consumer_key_hint(consumer_key);
    for other in tx.list_servers(Some(org.id))? {
        if other.name_key == own_key || other.token_consumer_key_hint.as_deref() != Some(&hint) {
            continue;
        }
        let Some(row) = tx.server(org.id, &other.name_key)? else {
            continue;
        };
        if convert::token_of(sealer, &row)?.is_some_and(|t| t.consumer_key() == consumer_key) {
            return Err(RegistryError::TokenShared {
                server: server.trim().to_owned(),
                other: other.name,
            });
        }
    }
    Ok(())
}

fn find_org(tx: &mut dyn StoreTx, name: Option<&str>) -> Result<OrganizationRow, RegistryError> {
    match name {
        Some(name) => {
            let key = ServerName::parse(name)
                .map_err(|_| RegistryError::UnknownOrganization(name.to_owned()))?;
            tx.find_organization(key.comparison_key())?
                .ok_or_else(|| RegistryError::UnknownOrganization(name.to_owned()))
        }
        None => {
            let mut orgs = tx.list_organizations()?;
            match orgs.len() {
                0 => Err(RegistryError::NoOrganization),
                1 => Ok(orgs.remove(0)),
                _ => Err(RegistryError::OrganizationRequired(
                    orgs.into_iter().map(|o| o.name).collect(),
                )),
            }
        }
    }
}

/// Inserts `server` into `org`: the row first (for its id), then its
/// secrets sealed for that id, in the caller's transaction.
fn insert(
    tx: &mut dyn StoreTx,
    sealer: &Sealer,
    org: &OrganizationRow,
    server: &crate::organization::MdmServer,
) -> Result<i64, RegistryError> {
    let bare = ServerRow {
        summary: convert::summary_of(server, 0, org.id, None),
        certificate_pem: server.certificate().map(|c| c.to_pem()),
        staged_certificate_pem: None,
        private_key: None,
        staged_private_key: None,
        token: None,
    };
    let id = tx.insert_server(&bare)?;
    let row = convert::to_row(sealer, server, id, org.id, None)?;
    tx.update_server(&row)?;
    Ok(id)
}

/// The store's duplicate-name error in the model's words.
fn duplicate(e: RegistryError, _name: &str) -> RegistryError {
    match e {
        RegistryError::Store(StoreError::DuplicateName {
            what: "server",
            existing,
        }) => OrganizationError::DuplicateName { existing }.into(),
        RegistryError::Store(StoreError::LimitReached { count, max }) => {
            OrganizationError::CertificateLimit { count, max }.into()
        }
        e => e,
    }
}

#[cfg(test)]
mod tests;
