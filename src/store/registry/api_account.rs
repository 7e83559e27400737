//! An organization's School and Business Manager API account: at most one
//! per organization, its P-256 key sealed under the store's master key and
//! bound to the organization ([`Sealer::seal_api_key`]).
//!
//! ```
//! use mdmlink::{portal::Portal, portal_api::{ApiAccount, ApiKey}, store::{MemoryStore, registry::Registry}};
//! let now = time::macros::datetime!(2026-01-17 11:02:21 UTC);
//! let mut registry = Registry::new(MemoryStore::new(), None);
//! registry.add_organization("Contoso", Portal::BusinessManager, None, now)?;
//! let key = ApiKey::generate(&mut mdmlink::SystemRng::default())?;
//! let account = ApiAccount::new("BUSINESSAPI.4b5c6d7e", "KEY1", key)?;
//! registry.set_api_account(None, &account, false, now)?;
//! assert_eq!(registry.api_account(Some("Contoso"))?.client_id(), "BUSINESSAPI.4b5c6d7e");
//! assert_eq!(registry.api_accounts()?[0].key_id, "KEY1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;

use time::OffsetDateTime;

use super::{Registry, RegistryError, find_org};
use crate::not_found::{Missing, NotFound};
use crate::portal_api::{ApiAccount, ApiKey, ApiScope};
use crate::store::{
    ApiAccountRow, OrganizationRow, Store, StoreError, StoreExt, master_key::Sealer,
};

/// One organization's API account in a listing: never its key. Its JSON
/// (`Serialize`) is what `mdmlink api list --json` prints:
///
/// | key | type |
/// |---|---|
/// | `organization` | string: the organization's name |
/// | `client_id` | string: `BUSINESSAPI.…` or `SCHOOLAPI.…` |
/// | `key_id` | string |
/// | `scope` | `business.api` or `school.api` |
/// | `created_at` | string: RFC 3339, when it was added or last replaced |
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ApiAccountListing {
    /// The organization's name.
    pub organization: String,
    /// The client ID.
    pub client_id: String,
    /// The key ID.
    pub key_id: String,
    /// The scope (`business.api` or `school.api`).
    #[serde(serialize_with = "scope_value")]
    pub scope: ApiScope,
    /// When it was added or last replaced.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

fn scope_value<S: serde::Serializer>(scope: &ApiScope, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(scope.as_str())
}

fn listing(organization: &str, row: &ApiAccountRow) -> ApiAccountListing {
    ApiAccountListing {
        organization: organization.to_owned(),
        client_id: row.client_id.clone(),
        key_id: row.key_id.clone(),
        scope: row.scope,
        created_at: row.created_at,
    }
}

fn no_account(org: &OrganizationRow) -> RegistryError {
    NotFound::new(Missing::ApiAccount, org.name.clone()).into()
}

/// The store's "not found" for the organization's account (another writer
/// removed it), in the organization's name.
fn named(e: StoreError, org: &OrganizationRow) -> RegistryError {
    match e {
        StoreError::NotFound(n) if n.missing() == Missing::ApiAccount => no_account(org),
        e => e.into(),
    }
}

impl<S: Store> Registry<S> {
    /// Keeps `account` as the API account of the organization named
    /// `organization` (or the only one). Refused when its scope does not
    /// match the organization's portal (School Manager uses `school.api`;
    /// Business Manager and Business Essentials `business.api`:
    /// [`crate::portal_api::ApiAccountError::WrongPortal`]), and when the
    /// organization has an account already unless `replace`
    /// ([`RegistryError::ApiAccountExists`]). The key is sealed under the
    /// master key for this organization; a replaced key is overwritten.
    pub fn set_api_account(
        &mut self,
        organization: Option<&str>,
        account: &ApiAccount,
        replace: bool,
        now: OffsetDateTime,
    ) -> Result<ApiAccountListing, RegistryError> {
        let sealer = self.sealer()?;
        let key = account.key().to_pkcs8_der()?;
        self.store.write(|tx| {
            let org = find_org(tx, organization)?;
            account.check_portal(org.portal)?;
            let row = ApiAccountRow {
                organization_id: org.id,
                client_id: account.client_id().to_owned(),
                key_id: account.key_id().to_owned(),
                scope: account.scope(),
                created_at: now,
                private_key: sealer.seal_api_key(org.id, &key)?,
            };
            match tx.api_account(org.id)? {
                Some(existing) if !replace => {
                    return Err(RegistryError::ApiAccountExists {
                        organization: org.name.clone(),
                        client_id: existing.client_id,
                    });
                }
                Some(_) => tx.update_api_account(&row).map_err(|e| named(e, &org))?,
                // Should another writer add one meanwhile, the store says so
                // (StoreError::ApiAccountExists).
                None => tx.insert_api_account(&row)?,
            }
            Ok(listing(&org.name, &row))
        })
    }

    /// The API account of the organization named `organization` (or the
    /// only one), its key opened; [`NotFound`] ([`Missing::ApiAccount`])
    /// when it has none.
    pub fn api_account(&mut self, organization: Option<&str>) -> Result<ApiAccount, RegistryError> {
        let (org, row) = self.store.read(|tx| {
            let org = find_org(tx, organization)?;
            match tx.api_account(org.id)? {
                Some(row) => Ok((org, row)),
                None => Err(no_account(&org)),
            }
        })?;
        let sealer = self.sealer()?;
        open_account(&sealer, &org, &row)
    }

    /// Removes the API account of the organization named `organization`
    /// (or the only one), its key overwritten where the store allows;
    /// returns what was removed. [`NotFound`] when it has none.
    pub fn remove_api_account(
        &mut self,
        organization: Option<&str>,
    ) -> Result<ApiAccountListing, RegistryError> {
        self.store.write(|tx| {
            let org = find_org(tx, organization)?;
            let row = tx.api_account(org.id)?.ok_or_else(|| no_account(&org))?;
            tx.delete_api_account(org.id).map_err(|e| named(e, &org))?;
            Ok(listing(&org.name, &row))
        })
    }

    /// Every organization's API account, by organization name, read in one
    /// transaction without opening a key.
    pub fn api_accounts(&mut self) -> Result<Vec<ApiAccountListing>, RegistryError> {
        Ok(self.store.read(|tx| {
            let rows: HashMap<_, _> = tx
                .list_api_accounts()?
                .into_iter()
                .map(|r| (r.organization_id, r))
                .collect();
            Ok::<_, StoreError>(
                tx.list_organizations()?
                    .iter()
                    .filter_map(|o| rows.get(&o.id).map(|r| listing(&o.name, r)))
                    .collect(),
            )
        })?)
    }

    /// The id the School and Business Manager API gave the server `name`
    /// (kept by [`Registry::add_server_linked`] or
    /// [`Registry::set_portal_server_id`]); `None` for a server linked by
    /// hand. No secret is read.
    pub fn portal_server_id(
        &mut self,
        organization: Option<&str>,
        name: &str,
    ) -> Result<Option<String>, RegistryError> {
        Ok(self.row(organization, name)?.summary.portal_server_id)
    }

    /// Records the id the School and Business Manager API gives the server
    /// `name` (or forgets it with `None`): what linking through the API
    /// keeps with the server.
    pub fn set_portal_server_id(
        &mut self,
        organization: Option<&str>,
        name: &str,
        portal_server_id: Option<&str>,
    ) -> Result<(), RegistryError> {
        if let Some(id) = portal_server_id {
            check_portal_server_id(name, id)?;
        }
        self.with_row(organization, name, |row| {
            row.summary.portal_server_id = portal_server_id.map(str::to_owned);
            Ok(())
        })?;
        Ok(())
    }
}

/// A portal server id is 1 to 256 printable ASCII characters (Apple's are
/// 32 hex digits).
pub(super) fn check_portal_server_id(server: &str, id: &str) -> Result<(), RegistryError> {
    if id.is_empty() || id.len() > 256 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(RegistryError::InvalidPortalServerId {
            server: server.to_owned(),
        });
    }
    Ok(())
}

/// The account of `row`, its key opened with `sealer`.
fn open_account(
    sealer: &Sealer,
    org: &OrganizationRow,
    row: &ApiAccountRow,
) -> Result<ApiAccount, RegistryError> {
    let corrupt = |reason: String| RegistryError::CorruptApiAccount {
        organization: org.name.clone(),
        reason,
    };
    let der = sealer.open_api_key(org.id, &row.private_key)?;
    let key = ApiKey::from_pkcs8_der(&der).map_err(|e| corrupt(e.to_string()))?;
    let account =
        ApiAccount::new(&row.client_id, &row.key_id, key).map_err(|e| corrupt(e.to_string()))?;
    if account.scope() != row.scope {
        return Err(corrupt(format!(
            "scope {} does not follow the client ID",
            row.scope
        )));
    }
    Ok(account)
}

#[cfg(test)]
mod tests;
