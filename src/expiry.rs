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

/// The widest warning window [`ExpiryPolicy::new`] accepts: ten years, far
/// beyond a token's year, and small enough that no date arithmetic with it
/// can overflow.
pub const MAX_WARNING_WINDOW: Duration = Duration::days(3650);

/// Why an [`ExpiryPolicy`] could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExpiryError {
    /// The warning window is negative or longer than [`MAX_WARNING_WINDOW`].
    #[error("a warning window of {days} days is out of range; give 0 to {max_days} days")]
    WindowOutOfRange {
        /// The window asked for, in whole days.
        days: i64,
        /// The limit, in days ([`MAX_WARNING_WINDOW`]).
        max_days: i64,
    },
}

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
    /// No token is installed yet: upload the certificate and download one.
    NoToken {
        /// Since when the server has waited for its first token (when it was added).
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
    },
}

impl Health {
    /// Monitoring-plug-in status: 0 valid, 1 renew soon, 2 expired, must
    /// replace or no token (the server cannot work until it has one).
    pub fn exit_code(&self) -> i32 {
        match self {
            Health::Valid { .. } => 0,
            Health::RenewSoon { .. } => 1,
            Health::Expired { .. } | Health::MustReplace { .. } | Health::NoToken { .. } => 2,
        }
    }

    /// `true` unless the health is [`Health::Valid`].
    pub fn needs_action(&self) -> bool {
        !matches!(self, Health::Valid { .. })
    }

    /// A short label: `valid`, `renew-soon`, `expired`, `must-replace`, `no-token`.
    pub fn label(&self) -> &'static str {
        match self {
            Health::Valid { .. } => "valid",
            Health::RenewSoon { .. } => "renew-soon",
            Health::Expired { .. } => "expired",
            Health::MustReplace { .. } => "must-replace",
            Health::NoToken { .. } => "no-token",
        }
    }

    /// Whole days left for [`Health::Valid`] and [`Health::RenewSoon`] (0 on
    /// the last day); `None` otherwise (expired, must replace, no token).
    pub fn days_left(&self) -> Option<i64> {
        match self {
            Health::Valid { days_left, .. } | Health::RenewSoon { days_left, .. } => {
                Some(*days_left)
            }
            _ => None,
        }
    }

    /// The moment action is due: the event for `MustReplace`, when the
    /// server was added for `NoToken`, the expiry otherwise.
    pub fn deadline(&self) -> OffsetDateTime {
        match self {
            Health::Valid { expires, .. } | Health::RenewSoon { expires, .. } => *expires,
            Health::Expired { since }
            | Health::MustReplace { since, .. }
            | Health::NoToken { since } => *since,
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
            Health::NoToken { .. } => f.write_str("no token installed"),
        }
    }
}

/// When to start warning: a warning window from 0 to
/// [`MAX_WARNING_WINDOW`], checked when the policy is made (and when it is
/// deserialized).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PolicyRepr", into = "PolicyRepr")]
pub struct ExpiryPolicy {
    warning_window: Duration,
}

#[derive(Serialize, Deserialize)]
struct PolicyRepr {
    warning_window: Duration,
}

impl TryFrom<PolicyRepr> for ExpiryPolicy {
    type Error = ExpiryError;
    fn try_from(r: PolicyRepr) -> Result<Self, ExpiryError> {
        ExpiryPolicy::new(r.warning_window)
    }
}

impl From<ExpiryPolicy> for PolicyRepr {
    fn from(p: ExpiryPolicy) -> Self {
        PolicyRepr {
            warning_window: p.warning_window,
        }
    }
}

impl Default for ExpiryPolicy {
    fn default() -> Self {
        Self {
            warning_window: DEFAULT_WARNING_WINDOW,
        }
    }
}

impl ExpiryPolicy {
    /// A policy that warns `warning_window` ahead; refused when negative or
    /// longer than [`MAX_WARNING_WINDOW`].
    pub fn new(warning_window: Duration) -> Result<Self, ExpiryError> {
        if warning_window.is_negative() || warning_window > MAX_WARNING_WINDOW {
            return Err(ExpiryError::WindowOutOfRange {
                days: warning_window.whole_days(),
                max_days: MAX_WARNING_WINDOW.whole_days(),
            });
        }
        Ok(Self { warning_window })
    }

    /// A policy that warns `days` days ahead (0 to 3650).
    ///
    /// ```
    /// use mdmlink::expiry::ExpiryPolicy;
    /// assert_eq!(ExpiryPolicy::warn_days(60)?.warning_window().whole_days(), 60);
    /// assert!(ExpiryPolicy::warn_days(u32::MAX).is_err());
    /// # Ok::<(), mdmlink::expiry::ExpiryError>(())
    /// ```
    pub fn warn_days(days: u32) -> Result<Self, ExpiryError> {
        Self::new(Duration::days(i64::from(days)))
    }

    /// How long before expiry the policy warns.
    pub fn warning_window(&self) -> Duration {
        self.warning_window
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
        // Near the earliest representable date the window start does not
        // exist: every earlier moment is inside the window.
        let window_start = expires.checked_sub(self.warning_window);
        if window_start.is_none_or(|start| now >= start) {
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

/// The expiry a freshly downloaded token should carry: one year after
/// download (saturating at the last representable moment).
pub fn expected_expiry(downloaded_at: OffsetDateTime) -> OffsetDateTime {
    downloaded_at.saturating_add(TOKEN_LIFETIME)
}

/// When a token was issued, as far as can be told from its expiry: one year
/// before it (saturating at the first representable moment).
pub fn issued_from_expiry(expires: OffsetDateTime) -> OffsetDateTime {
    expires.saturating_sub(TOKEN_LIFETIME)
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
        let p = ExpiryPolicy::warn_days(60).unwrap();
        assert!(matches!(
            p.evaluate(EXP, EXP - Duration::days(45)),
            Health::RenewSoon { .. }
        ));
        assert!(matches!(
            ExpiryPolicy::warn_days(0)
                .unwrap()
                .evaluate(EXP, EXP - second()),
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
    fn windows_out_of_range_are_refused_and_extreme_dates_do_not_panic() {
        assert!(matches!(
            ExpiryPolicy::warn_days(u32::MAX),
            Err(ExpiryError::WindowOutOfRange { max_days: 3650, .. })
        ));
        assert!(ExpiryPolicy::new(Duration::days(-1)).is_err());
        assert!(ExpiryPolicy::warn_days(3650).is_ok());
        let p = ExpiryPolicy::warn_days(3650).unwrap();
        let min = time::PrimitiveDateTime::MIN.assume_utc();
        let max = time::PrimitiveDateTime::MAX.assume_utc();
        assert!(matches!(
            p.evaluate(min + second(), min),
            Health::RenewSoon { .. }
        ));
        assert!(matches!(p.evaluate(max, min), Health::Valid { .. }));
        assert_eq!(p.evaluate(min, max), Health::Expired { since: min });
        assert_eq!(expected_expiry(max), max);
        assert_eq!(issued_from_expiry(min), min);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<ExpiryPolicy>(&json).unwrap(), p);
        let wide = json.replace("315360000", "999999999999");
        assert!(
            serde_json::from_str::<ExpiryPolicy>(&wide).is_err(),
            "{json}"
        );
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
