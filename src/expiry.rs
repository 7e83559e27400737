//! When a token (or certificate) must be replaced, and how urgently.
//!
//! Server tokens last one year from download. They must also be replaced
//! early when a new keypair is made or a new token is generated for the
//! server, and when the portal user who downloaded the token changes their
//! Managed Apple Account password or leaves the organization. The portal may
//! give no warning, so [`ExpiryPolicy`] warns ahead of time.

use core::fmt;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// How long a server token lasts after download.
pub const TOKEN_LIFETIME: Duration = Duration::days(365);

/// How early [`ExpiryPolicy::default`] warns: 30 days.
pub const DEFAULT_WARNING_WINDOW: Duration = Duration::days(30);

/// Why a token must be replaced before it expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ReplacementReason {
    /// A new keypair (public key certificate) was made for the server.
    NewKeypair,
    /// A new token was generated for the server in the portal.
    NewTokenGenerated,
    /// The user who downloaded the token changed their Managed Apple Account password.
    DownloaderPasswordChanged,
    /// The user who downloaded the token left the organization.
    DownloaderLeftOrganization,
}

impl fmt::Display for ReplacementReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReplacementReason::NewKeypair => "a new public key was made for the server",
            ReplacementReason::NewTokenGenerated => "a new token was generated for the server",
            ReplacementReason::DownloaderPasswordChanged => {
                "the user who downloaded the token changed their Managed Apple Account password"
            }
            ReplacementReason::DownloaderLeftOrganization => {
                "the user who downloaded the token left the organization"
            }
        })
    }
}

/// How a token (or certificate) stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Health {
    /// Good for more than the warning window.
    Valid {
        /// When it expires.
        #[serde(with = "time::serde::rfc3339")]
        expires: OffsetDateTime,
        /// Whole days left.
        days_left: i64,
    },
    /// Inside the warning window: renew now.
    RenewSoon {
        /// When it expires.
        #[serde(with = "time::serde::rfc3339")]
        expires: OffsetDateTime,
        /// Whole days left (0 on the last day).
        days_left: i64,
    },
    /// No longer works.
    Expired {
        /// When it expired.
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
    },
    /// Still within its year, but an event means it must be replaced.
    MustReplace {
        /// Why.
        reason: ReplacementReason,
        /// When the event happened.
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
    },
}

impl Health {
    /// Monitoring-plug-in status: 0 valid, 1 renew soon, 2 expired or must replace.
    pub fn exit_code(&self) -> i32 {
        match self {
            Health::Valid { .. } => 0,
            Health::RenewSoon { .. } => 1,
            Health::Expired { .. } | Health::MustReplace { .. } => 2,
        }
    }

    /// `true` unless the health is [`Health::Valid`].
    pub fn needs_action(&self) -> bool {
        !matches!(self, Health::Valid { .. })
    }

    /// A short label: `valid`, `renew-soon`, `expired`, `must-replace`.
    pub fn label(&self) -> &'static str {
        match self {
            Health::Valid { .. } => "valid",
            Health::RenewSoon { .. } => "renew-soon",
            Health::Expired { .. } => "expired",
            Health::MustReplace { .. } => "must-replace",
        }
    }

    /// Days left, negative once expired; `None` for [`Health::MustReplace`].
    pub fn days_left(&self) -> Option<i64> {
        match self {
            Health::Valid { days_left, .. } | Health::RenewSoon { days_left, .. } => {
                Some(*days_left)
            }
            _ => None,
        }
    }

    /// The moment action is due: the event for `MustReplace`, the expiry otherwise.
    pub fn deadline(&self) -> OffsetDateTime {
        match self {
            Health::Valid { expires, .. } | Health::RenewSoon { expires, .. } => *expires,
            Health::Expired { since } | Health::MustReplace { since, .. } => *since,
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Health::Valid { days_left, .. } => write!(f, "valid, {days_left} days left"),
            Health::RenewSoon { days_left, .. } => write!(f, "renew soon, {days_left} days left"),
            Health::Expired { since } => write!(f, "expired since {}", since.date()),
            Health::MustReplace { reason, .. } => write!(f, "must replace: {reason}"),
        }
    }
}

/// When to start warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiryPolicy {
    /// Warn this long before expiry.
    pub warning_window: Duration,
}

impl Default for ExpiryPolicy {
    fn default() -> Self {
        Self {
            warning_window: DEFAULT_WARNING_WINDOW,
        }
    }
}

impl ExpiryPolicy {
    /// A policy that warns `days` days ahead.
    pub fn warn_days(days: u32) -> Self {
        Self {
            warning_window: Duration::days(i64::from(days)),
        }
    }

    /// The health at `now` of something that stops working at `expires`.
    ///
    /// It is expired from the instant `expires` on; inside the window from
    /// `expires - warning_window` on (inclusive).
    ///
    /// ```
    /// use mdmlink::expiry::{ExpiryPolicy, Health};
    /// use time::macros::datetime;
    /// let h = ExpiryPolicy::default().evaluate(datetime!(2026-01-17 11:02:21 UTC), datetime!(2026-11-25 0:00 UTC));
    /// assert!(matches!(h, Health::Expired { .. }));
    /// ```
    pub fn evaluate(&self, expires: OffsetDateTime, now: OffsetDateTime) -> Health {
        if now >= expires {
            return Health::Expired { since: expires };
        }
        let days_left = (expires - now).whole_days();
        if now >= expires - self.warning_window {
            Health::RenewSoon { expires, days_left }
        } else {
            Health::Valid { expires, days_left }
        }
    }

    /// Like [`Self::evaluate`], but a replacement event outranks a token that
    /// has not expired yet.
    pub fn evaluate_with_event(
        &self,
        expires: OffsetDateTime,
        event: Option<(ReplacementReason, OffsetDateTime)>,
        now: OffsetDateTime,
    ) -> Health {
        match (self.evaluate(expires, now), event) {
            (expired @ Health::Expired { .. }, _) => expired,
            (_, Some((reason, since))) => Health::MustReplace { reason, since },
            (h, None) => h,
        }
    }
}

/// The expiry a freshly downloaded token should carry: one year after download.
pub fn expected_expiry(downloaded_at: OffsetDateTime) -> OffsetDateTime {
    downloaded_at + TOKEN_LIFETIME
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const EXP: OffsetDateTime = datetime!(2026-01-17 11:02:21 UTC);

    #[test]
    fn boundaries() {
        let p = ExpiryPolicy::default();
        let second = Duration::seconds(1);
        assert!(matches!(
            p.evaluate(EXP, EXP - Duration::days(30) - second),
            Health::Valid { days_left: 30, .. }
        ));
        assert!(matches!(
            p.evaluate(EXP, EXP - Duration::days(30)),
            Health::RenewSoon { days_left: 30, .. }
        ));
        assert!(matches!(
            p.evaluate(EXP, EXP - second),
            Health::RenewSoon { days_left: 0, .. }
        ));
        assert_eq!(p.evaluate(EXP, EXP), Health::Expired { since: EXP });
        assert_eq!(
            p.evaluate(EXP, EXP + second),
            Health::Expired { since: EXP }
        );
    }

    #[test]
    fn custom_window() {
        let p = ExpiryPolicy::warn_days(60);
        assert!(matches!(
            p.evaluate(EXP, EXP - Duration::days(45)),
            Health::RenewSoon { .. }
        ));
        assert!(matches!(
            ExpiryPolicy::warn_days(0).evaluate(EXP, EXP - second()),
            Health::Valid { .. }
        ));
    }

    fn second() -> Duration {
        Duration::seconds(1)
    }

    #[test]
    fn events_outrank_but_not_expiry() {
        let p = ExpiryPolicy::default();
        let ev = Some((
            ReplacementReason::DownloaderLeftOrganization,
            EXP - Duration::days(100),
        ));
        let h = p.evaluate_with_event(EXP, ev, EXP - Duration::days(90));
        assert_eq!(h.label(), "must-replace");
        assert_eq!(h.exit_code(), 2);
        assert_eq!(p.evaluate_with_event(EXP, ev, EXP).label(), "expired");
    }

    #[test]
    fn real_token_is_expired_today() {
        let h = ExpiryPolicy::default().evaluate(EXP, datetime!(2026-11-25 12:00 UTC));
        assert_eq!(h, Health::Expired { since: EXP });
        assert_eq!(h.exit_code(), 2);
        assert_eq!(
            expected_expiry(datetime!(2025-01-17 11:02:21 UTC)),
            datetime!(2026-01-17 11:02:21 UTC)
        );
    }
}
