//! Health and advice from a server's non-secret columns alone (no key, no
//! token opened): the columns give a [`ServerStatus`], and
//! [`ServerStatus::action`] gives the advice, as it does for
//! [`crate::organization::Organization::needs_action`].

use serde::Serialize;
use time::OffsetDateTime;

use crate::{
    expiry::ExpiryPolicy,
    organization::{ActionItem, ServerStatus},
    portal::Portal,
    store::{OrganizationRow, ServerSummary},
};

/// One server as `server list` shows it: its organization and its health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerListing {
    /// The organization's name.
    pub organization: String,
    /// The organization's portal.
    pub portal: Portal,
    /// The organization's customer label.
    pub customer: Option<String>,
    /// The server's non-secret columns.
    pub summary: ServerSummary,
    /// Its health at the time asked.
    pub status: ServerStatus,
}

impl ServerListing {
    /// The listing as JSON (what `mdmlink server list --json` prints and
    /// `mdmlink_store_servers_json` returns), one object per server:
    ///
    /// | key | type |
    /// |---|---|
    /// | `organization`, `name`, `portal` | string (`portal` is `business-manager`, `school-manager` or `business-essentials`) |
    /// | `customer`, `site` | string or null |
    /// | `release_devices` | bool |
    /// | `consumer_key` | string or null: the first 12 characters of the token's consumer key |
    /// | `expires`, `certificate_expires`, `staging_pending_since`, `token_installed_at` | RFC 3339 string or null |
    /// | `days_left` | integer or null |
    /// | `health` | the worst of `token_health` and `certificate_health`: `valid`, `renew-soon`, `expired`, `must-replace` or `no-token` |
    /// | `token_health`, `certificate_health` | the same labels (`certificate_health` null without a certificate) |
    /// | `certificate_serial`, `staged_certificate_serial`, `server_uuid`, `downloaded_by` | string or null |
    /// | `portal_server_id` | string or null: the id the School and Business Manager API gave the server |
    /// | `replacement` | null or `new-keypair`, `new-token-generated`, `downloader-password-changed`, `downloader-left-organization` |
    pub fn to_json(&self) -> serde_json::Value {
        let s = &self.summary;
        let t = |v: Option<OffsetDateTime>| v.map(crate::store::columns::time_to_text);
        serde_json::json!({
            "organization": self.organization,
            "name": s.name,
            "portal": self.portal.slug(),
            "customer": s.options.customer.clone().or_else(|| self.customer.clone()),
            "site": s.options.site,
            "release_devices": s.options.release_devices,
            "consumer_key": s.token_consumer_key_hint,
            "expires": t(s.token_expires_at),
            "days_left": self.status.token.and_then(|h| h.days_left()),
            "health": self.status.worst().label(),
            "token_health": self.status.token_health().label(),
            "certificate_health": self.status.certificate.map(|h| h.label()),
            "certificate_serial": s.certificate_serial,
            "certificate_expires": t(s.certificate_not_after),
            "staged_certificate_serial": s.staged_certificate_serial,
            "staging_pending_since": t(self.status.staging_pending_since),
            "token_installed_at": t(s.token_installed_at),
            "downloaded_by": s.token_downloaded_by,
            "replacement": s.replacement.map(|(r, _)| r),
            "server_uuid": s.server_uuid,
            "portal_server_id": s.portal_server_id,
        })
    }
}

/// A server that needs action, with its organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrganizationActionItem {
    /// The organization's name.
    pub organization: String,
    /// The server and what to do.
    #[serde(flatten)]
    pub item: ActionItem,
}

/// The server's status at `now` from its columns.
pub fn status(summary: &ServerSummary, policy: &ExpiryPolicy, now: OffsetDateTime) -> ServerStatus {
    ServerStatus {
        name: summary.name.clone(),
        token: summary
            .token_expires_at
            .map(|expiry| policy.evaluate_with_event(expiry, summary.replacement, now)),
        certificate: summary
            .certificate_not_after
            .map(|not_after| policy.evaluate(not_after, now)),
        staging_pending_since: summary.staged_at,
        added_at: summary.created_at.unwrap_or(OffsetDateTime::UNIX_EPOCH),
    }
}

/// What the server needs, if anything: [`ServerStatus::action`] on its
/// columns' status.
pub fn action(
    summary: &ServerSummary,
    portal: Portal,
    policy: &ExpiryPolicy,
    now: OffsetDateTime,
) -> Option<ActionItem> {
    status(summary, policy, now).action(portal, now)
}

/// Every listed server's action, across organizations, most urgent first.
pub fn needs_action(
    organizations: &[OrganizationRow],
    servers: &[ServerSummary],
    policy: &ExpiryPolicy,
    now: OffsetDateTime,
) -> Vec<OrganizationActionItem> {
    let by_id: std::collections::HashMap<_, _> = organizations.iter().map(|o| (o.id, o)).collect();
    let mut items: Vec<OrganizationActionItem> = servers
        .iter()
        .filter_map(|s| {
            let org = by_id.get(&s.organization_id)?;
            action(s, org.portal, policy, now).map(|item| OrganizationActionItem {
                organization: org.name.clone(),
                item,
            })
        })
        .collect();
    items.sort_by_key(|i| i.item.urgency());
    items
}
