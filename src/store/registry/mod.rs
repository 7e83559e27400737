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

use time::OffsetDateTime;

use super::{
    OrganizationRow, ServerRow, Store, StoreError, StoreTx,
    master_key::{KdfParams, MasterKeySource, Sealer},
};
use crate::{
    name::ServerName,
    organization::{InstallReport, OrganizationError},
};

mod api_account;
mod convert;
pub mod devices;
mod error;
pub mod health;
mod keys;
mod listing;
#[cfg(feature = "sqlite")]
pub mod migrate;
mod new_server;
mod organizations;
mod servers;

pub use api_account::ApiAccountListing;
pub use devices::{DevicePageOutcome, DeviceSyncOptions, DeviceSyncReport, StoredDevice};
pub use error::RegistryError;
pub use health::{OrganizationActionItem, ServerListing};
pub use listing::HealthSummary;
pub use new_server::DEFAULT_ORGANIZATION_NAME;
pub use organizations::OrganizationListing;

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
}

/// The organization named `name`, or the only one.
fn find_org(tx: &mut dyn StoreTx, name: Option<&str>) -> Result<OrganizationRow, RegistryError> {
    use crate::not_found::NotFound;
    match name {
        Some(name) => {
            let key = ServerName::parse(name).map_err(|_| NotFound::organization(name))?;
            tx.find_organization(key.comparison_key())?
                .ok_or_else(|| NotFound::organization(name).into())
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
    portal_server_id: Option<&str>,
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
    let mut row = convert::to_row(sealer, server, id, org.id, None)?;
    row.summary.portal_server_id = portal_server_id.map(str::to_owned);
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
