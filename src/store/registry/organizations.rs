//! Organizations: one portal account each.

use time::OffsetDateTime;

use super::{Registry, RegistryError, find_org};
use crate::portal::Portal;
use crate::store::{OrganizationId, OrganizationRow, Store, StoreExt};

/// One organization in a listing. Its JSON (`Serialize`) is the one schema
/// of the command line's `org list --json` and the C API's
/// `mdmlink_store_organizations_json`:
///
/// | key | type |
/// |---|---|
/// | `name` | string: the organization's name as given |
/// | `portal` | `business-manager`, `school-manager` or `business-essentials` |
/// | `customer` | string or null: the MSP's label for the customer |
/// | `servers` | integer: how many servers the store keeps for it |
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct OrganizationListing {
    /// The organization's name.
    pub name: String,
    /// Its portal.
    pub portal: crate::portal::Portal,
    /// The MSP's label for the customer, if any.
    pub customer: Option<String>,
    /// How many servers it has.
    pub servers: usize,
}

impl<S: Store> Registry<S> {
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
            let servers = tx.count_servers(Some(org.id))?;
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

    /// Every organization with its server count, by name, read in one
    /// transaction: what `mdmlink org list --json` prints and
    /// `mdmlink_store_organizations_json` returns ([`OrganizationListing`]).
    pub fn organization_listings(&mut self) -> Result<Vec<OrganizationListing>, RegistryError> {
        Ok(self.store.read(|tx| {
            let orgs = tx.list_organizations()?;
            let mut counts = std::collections::HashMap::new();
            tx.for_each_server(None, &mut |s| {
                *counts.entry(s.organization_id).or_insert(0usize) += 1;
                Ok(())
            })?;
            Ok::<_, crate::store::StoreError>(
                orgs.into_iter()
                    .map(|o| OrganizationListing {
                        servers: counts.get(&o.id).copied().unwrap_or(0),
                        name: o.name,
                        portal: o.portal,
                        customer: o.customer,
                    })
                    .collect(),
            )
        })?)
    }

    /// How many servers each organization has, by organization id.
    pub fn server_counts(
        &mut self,
    ) -> Result<std::collections::HashMap<OrganizationId, usize>, RegistryError> {
        let mut counts = std::collections::HashMap::new();
        self.store.read(|tx| {
            counts.clear();
            tx.for_each_server(None, &mut |s| {
                *counts.entry(s.organization_id).or_insert(0) += 1;
                Ok(())
            })
        })?;
        Ok(counts)
    }

    /// The organization named `name`, or the only one when `name` is `None`.
    pub fn organization(&mut self, name: Option<&str>) -> Result<OrganizationRow, RegistryError> {
        self.store.read(|tx| find_org(tx, name))
    }
}
