//! Listing and health: only non-secret columns are read (no key is
//! derived, no secret opened), streamed from one read transaction so that
//! memory does not grow with the number of servers.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::health::{OrganizationActionItem, ServerListing};
use super::{Registry, RegistryError, find_org, health};
use crate::expiry::{ExpiryPolicy, Health};
use crate::store::{OrganizationId, OrganizationRow, Store, StoreError, StoreExt};

/// What `check` reports, gathered server by server ([`Registry::health_summary`]):
/// counts and the worst health, and only the servers that need action.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct HealthSummary {
    /// Servers looked at.
    pub servers: usize,
    /// The servers belong to more than one organization.
    pub several_organizations: bool,
    /// The most urgent health of any server (`None` without servers).
    pub worst: Option<Health>,
    /// What needs action, most urgent first.
    pub items: Vec<OrganizationActionItem>,
}

impl HealthSummary {
    /// The exit code of the worst health (0 without servers), as
    /// [`Health::exit_code`] gives it.
    pub fn exit_code(&self) -> i32 {
        self.worst.map_or(0, |h| h.exit_code())
    }
}

impl<S: Store> Registry<S> {
    /// Hands `visit` every server (of one organization, or all) with its
    /// health at `now`, one at a time, ordered by organization id then
    /// server id, from one read transaction (a consistent snapshot). The
    /// servers are streamed from the store: memory holds the organizations
    /// and one server, however many servers there are. The first error of
    /// `visit` ends the walk and is returned.
    pub fn for_each_server<E: From<RegistryError>>(
        &mut self,
        organization: Option<&str>,
        policy: &ExpiryPolicy,
        now: OffsetDateTime,
        mut visit: impl FnMut(ServerListing) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut failed: Option<E> = None;
        let walked = self.store.read(|tx| {
            failed = None;
            let organizations: HashMap<OrganizationId, OrganizationRow> = tx
                .list_organizations()?
                .into_iter()
                .map(|o| (o.id, o))
                .collect();
            let filter = match organization {
                Some(name) => Some(find_org(tx, Some(name))?.id),
                None => None,
            };
            tx.for_each_server(filter, &mut |summary| {
                let Some(org) = organizations.get(&summary.organization_id) else {
                    return Ok(());
                };
                let listing = ServerListing {
                    organization: org.name.clone(),
                    portal: org.portal,
                    customer: org.customer.clone(),
                    status: health::status(&summary, policy, now),
                    summary,
                };
                visit(listing).map_err(|e| {
                    failed = Some(e);
                    StoreError::Cancelled
                })
            })?;
            Ok::<_, RegistryError>(())
        });
        match (walked, failed) {
            (Err(RegistryError::Store(StoreError::Cancelled)), Some(e)) => Err(e),
            (Err(e), _) => Err(e.into()),
            (Ok(()), _) => Ok(()),
        }
    }

    /// Every server (of one organization, or all), with its health at `now`,
    /// collected ([`Self::for_each_server`] streams them instead).
    pub fn servers(
        &mut self,
        organization: Option<&str>,
        policy: &ExpiryPolicy,
        now: OffsetDateTime,
    ) -> Result<Vec<ServerListing>, RegistryError> {
        let mut out = Vec::new();
        self.for_each_server(organization, policy, now, |l| {
            out.push(l);
            Ok::<_, RegistryError>(())
        })?;
        Ok(out)
    }

    /// What needs action across organizations (or in one), most urgent
    /// first. Streams the servers, keeping only those that need action.
    pub fn needs_action(
        &mut self,
        organization: Option<&str>,
        policy: &ExpiryPolicy,
        now: OffsetDateTime,
    ) -> Result<Vec<OrganizationActionItem>, RegistryError> {
        Ok(self.health_summary(organization, policy, now)?.items)
    }

    /// What `mdmlink check` needs, from one streamed read: how many
    /// servers, their worst health, and the actions (most urgent first).
    /// Memory holds the organizations and the servers that need action.
    pub fn health_summary(
        &mut self,
        organization: Option<&str>,
        policy: &ExpiryPolicy,
        now: OffsetDateTime,
    ) -> Result<HealthSummary, RegistryError> {
        let mut summary = HealthSummary::default();
        let mut first_organization: Option<String> = None;
        self.for_each_server(organization, policy, now, |l| {
            summary.servers += 1;
            match &first_organization {
                None => first_organization = Some(l.organization.clone()),
                Some(first) if *first != l.organization => summary.several_organizations = true,
                Some(_) => {}
            }
            let worst = l.status.worst();
            if summary
                .worst
                .is_none_or(|w| worst.exit_code() > w.exit_code())
            {
                summary.worst = Some(worst);
            }
            if let Some(item) = l.status.action(l.portal, now) {
                summary.items.push(OrganizationActionItem {
                    organization: l.organization,
                    item,
                });
            }
            Ok::<_, RegistryError>(())
        })?;
        summary.items.sort_by_key(|i| i.item.urgency());
        Ok(summary)
    }

    /// [`Self::servers`] and [`Self::needs_action`] from one read. Holds
    /// every server in memory: [`Self::health_summary`] does not.
    pub fn health_report(
        &mut self,
        organization: Option<&str>,
        policy: &ExpiryPolicy,
        now: OffsetDateTime,
    ) -> Result<(Vec<ServerListing>, Vec<OrganizationActionItem>), RegistryError> {
        let listings = self.servers(organization, policy, now)?;
        let mut items: Vec<OrganizationActionItem> = listings
            .iter()
            .filter_map(|l| {
                l.status
                    .action(l.portal, now)
                    .map(|item| OrganizationActionItem {
                        organization: l.organization.clone(),
                        item,
                    })
            })
            .collect();
        items.sort_by_key(|i| i.item.urgency());
        Ok((listings, items))
    }
}
