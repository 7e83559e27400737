//! A server's status and what needs action, soonest first, with advice in
//! the portal's words.

use serde::Serialize;
use time::OffsetDateTime;

use super::{MdmServer, Organization, STAGING_REMINDER_AFTER};
use crate::{
    expiry::{ExpiryPolicy, Health},
    portal::Portal,
};

/// A server's full status at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerStatus {
    /// The server.
    pub name: String,
    /// The token's health; `None` before the first token is installed.
    pub token: Option<Health>,
    /// The certificate's health (its notAfter against the same policy).
    pub certificate: Option<Health>,
    /// When a staged keypair was made and is still waiting for its token.
    #[serde(with = "time::serde::rfc3339::option")]
    pub staging_pending_since: Option<OffsetDateTime>,
    /// When the server was added (the start of [`Health::NoToken`]).
    #[serde(with = "time::serde::rfc3339")]
    pub added_at: OffsetDateTime,
}

impl ServerStatus {
    /// "staging pending since DATE" with what to do, while a staged
    /// keypair waits for its token; `None` otherwise.
    pub fn staging_message(&self) -> Option<String> {
        self.staging_pending_since.map(|since| {
            format!(
                "staging pending since {}: upload the staged certificate and install the token the portal issues for it, or discard the staged keypair",
                since.date()
            )
        })
    }

    /// The token's health, or [`Health::NoToken`] when none is installed.
    pub fn token_health(&self) -> Health {
        self.token.unwrap_or(Health::NoToken {
            since: self.added_at,
        })
    }

    /// The certificate's health when it needs action at least as urgently as
    /// the token: then the key must be rotated (a new token for the same
    /// certificate does not help).
    pub fn certificate_needs_rotation(&self) -> Option<Health> {
        self.certificate
            .filter(|c| c.needs_action() && c.exit_code() >= self.token_health().exit_code())
    }

    /// The most urgent of the token's and certificate's health; a server
    /// without a token is [`Health::NoToken`].
    pub fn worst(&self) -> Health {
        let mut worst = self.token_health();
        if let Some(c) = self.certificate
            && c.exit_code() > worst.exit_code()
        {
            worst = c;
        }
        worst
    }
}

/// A server that needs action, from [`Organization::needs_action`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionItem {
    /// The server.
    pub server: String,
    /// What is wrong.
    pub health: Health,
    /// What to do, in the portal's words.
    pub advice: String,
    /// When a staged keypair was made that still waits for its token.
    #[serde(with = "time::serde::rfc3339::option")]
    pub staging_pending_since: Option<OffsetDateTime>,
}

impl ServerStatus {
    /// What the server needs at `now`, with advice in `portal`'s words, or
    /// `None` when it needs nothing. The one source of the advice text, for
    /// [`Organization::needs_action`] and the store's health checks alike.
    ///
    /// A server that needs action gets "; staging pending since DATE"
    /// after its advice while a staged keypair waits for its token; a
    /// healthy server is listed for that alone (with its `Valid` health)
    /// once the staging is [`STAGING_REMINDER_AFTER`] old.
    pub fn action(&self, portal: Portal, now: OffsetDateTime) -> Option<ActionItem> {
        let worst = self.worst();
        let staging_note = self.staging_message();
        let stale_staging = self
            .staging_pending_since
            .is_some_and(|since| now - since >= STAGING_REMINDER_AFTER);
        if !worst.needs_action() {
            // A healthy server is listed only for a half-done rotation
            // that has waited a while; it sorts after every other item.
            return match (stale_staging, staging_note) {
                (true, Some(note)) => Some(ActionItem {
                    server: self.name.clone(),
                    health: worst,
                    advice: format!("finish the key rotation: {note}"),
                    staging_pending_since: self.staging_pending_since,
                }),
                _ => None,
            };
        }
        let advice = match (&worst, self.token) {
            _ if self.certificate_needs_rotation().is_some() => {
                let when = match self.certificate {
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
            server: self.name.clone(),
            health: worst,
            advice,
            staging_pending_since: self.staging_pending_since,
        })
    }
}

impl ActionItem {
    /// The order of [`Organization::needs_action`]: most urgent first;
    /// among those that cannot work, a server that never had a token comes
    /// first (it has never worked at all).
    pub(crate) fn urgency(&self) -> (i32, bool, OffsetDateTime) {
        (
            2 - self.health.exit_code(),
            !matches!(self.health, Health::NoToken { .. }),
            self.health.deadline(),
        )
    }
}

impl MdmServer {
    /// The server's status at `now`.
    pub fn status(&self, policy: &ExpiryPolicy, now: OffsetDateTime) -> ServerStatus {
        let token = self.token.as_ref().map(|t| {
            policy.evaluate_with_event(t.token.access_token_expiry(), self.replacement, now)
        });
        ServerStatus {
            name: self.name.to_string(),
            token,
            certificate: self
                .certificate()
                .map(|c| policy.evaluate(c.not_after(), now)),
            staging_pending_since: self.staged.as_ref().map(|s| s.since),
            added_at: self.created_at,
        }
    }
}

impl Organization {
    /// Every server's status at `now`.
    pub fn statuses(&self, policy: &ExpiryPolicy, now: OffsetDateTime) -> Vec<ServerStatus> {
        self.servers.iter().map(|s| s.status(policy, now)).collect()
    }

    /// The servers that need action at `now`, most urgent first: replacement
    /// events and expired tokens (oldest first), then tokens and certificates
    /// inside the warning window (soonest first), then half-done rotations.
    ///
    /// A staged keypair still waiting for its token is never forgotten: the
    /// advice of a server listed anyway ends with "staging pending since
    /// DATE", and a server with a valid token is listed for it alone once
    /// the staging is [`STAGING_REMINDER_AFTER`] old (with its `Valid`
    /// health, after every other item).
    pub fn needs_action(&self, policy: &ExpiryPolicy, now: OffsetDateTime) -> Vec<ActionItem> {
        let mut items: Vec<ActionItem> = self
            .servers
            .iter()
            .filter_map(|s| s.status(policy, now).action(self.portal, now))
            .collect();
        items.sort_by_key(ActionItem::urgency);
        items
    }
}
