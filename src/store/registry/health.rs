//! Health and advice from a server's non-secret columns alone (no key, no
//! token opened), with the same rules and words as
//! [`crate::organization::Organization::needs_action`].

use serde::Serialize;
use time::OffsetDateTime;

use crate::{
    expiry::{ExpiryPolicy, Health},
    organization::{ActionItem, STAGING_REMINDER_AFTER, ServerStatus},
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

/// What the server needs, if anything (see
/// [`crate::organization::Organization::needs_action`]).
pub fn action(
    summary: &ServerSummary,
    portal: Portal,
    policy: &ExpiryPolicy,
    now: OffsetDateTime,
) -> Option<ActionItem> {
    let status = status(summary, policy, now);
    let worst = status.worst();
    let staging_note = status.staging_message();
    let stale_staging = status
        .staging_pending_since
        .is_some_and(|since| now - since >= STAGING_REMINDER_AFTER);
    if !worst.needs_action() {
        return match (stale_staging, staging_note) {
            (true, Some(note)) => Some(ActionItem {
                server: summary.name.clone(),
                health: worst,
                advice: format!("finish the key rotation: {note}"),
                staging_pending_since: status.staging_pending_since,
            }),
            _ => None,
        };
    }
    let advice = match (&worst, status.token) {
        _ if status.certificate_needs_rotation().is_some() => {
            let when = match status.certificate {
                Some(Health::Expired { since }) => format!("expired on {}", since.date()),
                Some(h) => format!("expires on {}", h.deadline().date()),
                None => String::new(),
            };
            format!(
                "the uploaded certificate {when}: rotate the key (stage a new keypair), upload the new certificate in {} ({}) and download a new {} for it",
                portal.product_name(),
                portal.settings_path(),
                portal.token_noun()
            )
        }
        (_, None) => format!(
            "upload the certificate in {} ({}) and download the {}",
            portal.product_name(),
            portal.settings_path(),
            portal.token_noun()
        ),
        (Health::MustReplace { .. } | Health::Expired { .. }, _) => format!(
            "download a new {} for this {} in {} and install it",
            portal.token_noun(),
            portal.server_noun(),
            portal.product_name()
        ),
        _ => format!(
            "renew: download a new {} in {} before it expires",
            portal.token_noun(),
            portal.product_name()
        ),
    };
    let advice = match staging_note {
        Some(note) => format!("{advice}; {note}"),
        None => advice,
    };
    Some(ActionItem {
        server: summary.name.clone(),
        health: worst,
        advice,
        staging_pending_since: status.staging_pending_since,
    })
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
    // Most urgent first; among those that cannot work, a server that never
    // had a token comes first (it has never worked at all).
    items.sort_by_key(|i| {
        (
            2 - i.item.health.exit_code(),
            !matches!(i.item.health, Health::NoToken { .. }),
            i.item.health.deadline(),
        )
    });
    items
}
