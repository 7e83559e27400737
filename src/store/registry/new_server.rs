//! Where a new server goes: the library's policy for the first server of an
//! empty store, shared by every face (the command line, the C API, a
//! vendor's own code), so they cannot choose differently.

use time::OffsetDateTime;

use super::{Registry, RegistryError};
use crate::store::{Store, StoreError};
use crate::{name::ServerName, portal::Portal, store::OrganizationRow};

/// The organization made for the first server of a store without one when
/// no organization name is given.
pub const DEFAULT_ORGANIZATION_NAME: &str = "My organization";

impl<S: Store> Registry<S> {
    /// The organization a new server `name` goes into, its name checked
    /// free there (as [`Self::check_new_server`]).
    ///
    /// When the store has no organization (or none named `organization`)
    /// and `portal` is given, the organization is created first: named
    /// `organization`, or [`DEFAULT_ORGANIZATION_NAME`], with `customer`
    /// (another process creating it meanwhile is fine: theirs is used).
    /// When `portal` is given it must be the organization's portal.
    pub fn organization_for_new_server(
        &mut self,
        organization: Option<&str>,
        name: &str,
        portal: Option<Portal>,
        customer: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(OrganizationRow, ServerName), RegistryError> {
        let found = match (self.check_new_server(organization, name), portal) {
            (Err(RegistryError::NoOrganization | RegistryError::NotFound(_)), Some(portal)) => {
                let org_name = organization.unwrap_or(DEFAULT_ORGANIZATION_NAME);
                match self.add_organization(org_name, portal, customer, now) {
                    Ok(_) | Err(RegistryError::Store(StoreError::DuplicateName { .. })) => {}
                    Err(e) => return Err(e),
                }
                self.check_new_server(Some(org_name), name)?
            }
            (other, _) => other?,
        };
        if let Some(portal) = portal
            && portal != found.0.portal
        {
            return Err(RegistryError::PortalMismatch {
                organization: found.0.name,
                portal: found.0.portal,
                asked: portal,
            });
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::store::MemoryStore;

    const NOW: OffsetDateTime = datetime!(2026-01-17 11:02:21 UTC);

    #[test]
    fn an_empty_store_gets_my_organization_only_when_a_portal_is_given() {
        let mut r = Registry::new(MemoryStore::new(), None);
        assert!(matches!(
            r.organization_for_new_server(None, "Main MDM", None, None, NOW),
            Err(RegistryError::NoOrganization)
        ));
        let (org, name) = r
            .organization_for_new_server(
                None,
                "Main MDM",
                Some(Portal::BusinessManager),
                Some("Acme"),
                NOW,
            )
            .unwrap();
        assert_eq!(
            (org.name.as_str(), name.as_str()),
            (DEFAULT_ORGANIZATION_NAME, "Main MDM")
        );
        assert_eq!(org.customer.as_deref(), Some("Acme"));
        // Named: that organization is made; a second call finds it.
        let (named, _) = r
            .organization_for_new_server(
                Some("Contoso"),
                "A",
                Some(Portal::SchoolManager),
                None,
                NOW,
            )
            .unwrap();
        assert_eq!(named.name, "Contoso");
        let (again, _) = r
            .organization_for_new_server(Some("contoso"), "B", None, None, NOW)
            .unwrap();
        assert_eq!(again.id, named.id);
        // Another portal than the organization's is refused.
        let err = r
            .organization_for_new_server(
                Some("Contoso"),
                "C",
                Some(Portal::BusinessManager),
                None,
                NOW,
            )
            .unwrap_err();
        assert!(matches!(err, RegistryError::PortalMismatch { .. }), "{err}");
        assert_eq!(r.organizations().unwrap().len(), 2);
    }
}
