//! Organizations: one portal account each.

use time::OffsetDateTime;

use super::{Registry, RegistryError, find_org};
use crate::portal::Portal;
use crate::store::{OrganizationId, OrganizationRow, Store, StoreExt};

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
    /// Returns how many servers went with it.
    pub fn remove_organization(
        &mut self,
        name: &str,
        with_servers: bool,
    ) -> Result<usize, RegistryError> {
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
            Ok(servers)
        })
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
