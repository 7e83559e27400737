//! Expiry policy, health and replacement events (`mdmlink::expiry`).

use core::ffi::{CStr, c_char};

use super::error::{FfiError, mdmlink_error};
use super::macros::ffi;
use super::status::mdmlink_status;
use super::{free_handle, handle, time_arg, write, write_handle};
use mdmlink::expiry::{ExpiryPolicy, Health, ReplacementReason};

/// How early to warn before a token or certificate expires. Immutable: safe
/// to use from several threads at once. Free it with
/// `mdmlink_expiry_policy_free`.
#[allow(non_camel_case_types)]
pub struct mdmlink_expiry_policy {
    pub(crate) inner: ExpiryPolicy,
}

/// A health state (`mdmlink_health.state`).
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mdmlink_health_state {
    /// Good for longer than the warning window.
    Valid = 0,
    /// Inside the warning window: renew now.
    RenewSoon = 1,
    /// No longer works.
    Expired = 2,
    /// Not expired, but an event means it must be replaced.
    MustReplace = 3,
    /// No token is installed yet; `deadline_unix` is when the server was added.
    NoToken = 4,
    /// There is nothing to evaluate: the server has no certificate
    /// (`mdmlink_server_status.certificate` only). `deadline_unix` is 0.
    NoCertificate = 5,
}

/// Why a token must be replaced before it expires. Functions take it as a
/// `uint32_t`; an unknown number gives `MDMLINK_STATUS_INVALID_ARGUMENT`.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mdmlink_replacement_reason {
    /// No event (only in `mdmlink_health.reason`).
    None = 0,
    /// A new keypair (public key certificate) was made for the server.
    NewKeypair = 1,
    /// A new token was generated for the server in the portal.
    NewTokenGenerated = 2,
    /// The user who downloaded the token changed their Managed Apple Account password.
    DownloaderPasswordChanged = 3,
    /// The user who downloaded the token left the organization.
    DownloaderLeftOrganization = 4,
}

impl mdmlink_replacement_reason {
    pub(crate) fn from_core(r: ReplacementReason) -> Self {
        match r {
            ReplacementReason::NewKeypair => Self::NewKeypair,
            ReplacementReason::NewTokenGenerated => Self::NewTokenGenerated,
            ReplacementReason::DownloaderPasswordChanged => Self::DownloaderPasswordChanged,
            ReplacementReason::DownloaderLeftOrganization => Self::DownloaderLeftOrganization,
            // `#[non_exhaustive]` in the library: a reason it adds before
            // this enum has a number for it is a bug here, which the panic
            // boundary reports as MDMLINK_STATUS_PANIC.
            other => {
                unreachable!("mdmlink-capi has no number for the replacement reason {other:?}")
            }
        }
    }
}

/// A replacement reason number from C as the core type.
pub(crate) fn reason_arg(reason: u32) -> Result<ReplacementReason, FfiError> {
    use mdmlink_replacement_reason as R;
    Ok(match reason {
        r if r == R::NewKeypair as u32 => ReplacementReason::NewKeypair,
        r if r == R::NewTokenGenerated as u32 => ReplacementReason::NewTokenGenerated,
        r if r == R::DownloaderPasswordChanged as u32 => {
            ReplacementReason::DownloaderPasswordChanged
        }
        r if r == R::DownloaderLeftOrganization as u32 => {
            ReplacementReason::DownloaderLeftOrganization
        }
        other => {
            return Err(FfiError::invalid(format!(
                "{other} is not a replacement reason (1 to 4)"
            )));
        }
    })
}

/// How a token or certificate stands at one moment. Plain data: owns
/// nothing, needs no free. `reserved` keeps room for fields added later
/// without changing the struct's size (the library writes zeros there).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mdmlink_health {
    /// The state.
    pub state: mdmlink_health_state,
    /// Whole days left for `VALID` and `RENEW_SOON` (0 on the last day);
    /// 0 for every other state.
    pub days_left: i64,
    /// Unix seconds: the expiry for `VALID`, `RENEW_SOON` and `EXPIRED`; the
    /// event's time for `MUST_REPLACE`.
    pub deadline_unix: i64,
    /// The event for `MUST_REPLACE`; `MDMLINK_REPLACEMENT_REASON_NONE` otherwise.
    pub reason: mdmlink_replacement_reason,
    /// A static label: `"valid"`, `"renew-soon"`, `"expired"`,
    /// `"must-replace"`, `"no-token"` or `"no-certificate"`. Never free it.
    pub label: *const c_char,
    /// Room to grow: zero today; later versions may give these words a meaning.
    pub reserved: [u64; 4],
}

impl mdmlink_health {
    /// The certificate health of a server without a certificate.
    pub(crate) const NO_CERTIFICATE: Self = Self {
        state: mdmlink_health_state::NoCertificate,
        days_left: 0,
        deadline_unix: 0,
        reason: mdmlink_replacement_reason::None,
        label: c"no-certificate".as_ptr(),
        reserved: [0; 4],
    };
}

impl From<Health> for mdmlink_health {
    fn from(h: Health) -> Self {
        let (state, reason) = match h {
            Health::Valid { .. } => (mdmlink_health_state::Valid, None),
            Health::RenewSoon { .. } => (mdmlink_health_state::RenewSoon, None),
            Health::Expired { .. } => (mdmlink_health_state::Expired, None),
            Health::MustReplace { reason, .. } => (mdmlink_health_state::MustReplace, Some(reason)),
            Health::NoToken { .. } => (mdmlink_health_state::NoToken, None),
            // As for the reasons above: a state the library adds must get a number.
            other => unreachable!("mdmlink-capi has no number for the health state {other:?}"),
        };
        let label: &'static CStr = match state {
            mdmlink_health_state::Valid => c"valid",
            mdmlink_health_state::RenewSoon => c"renew-soon",
            mdmlink_health_state::Expired => c"expired",
            mdmlink_health_state::MustReplace => c"must-replace",
            mdmlink_health_state::NoToken => c"no-token",
            mdmlink_health_state::NoCertificate => c"no-certificate",
        };
        debug_assert_eq!(label.to_bytes(), h.label().as_bytes());
        Self {
            state,
            days_left: h.days_left().unwrap_or(0),
            deadline_unix: h.deadline().unix_timestamp(),
            reason: reason.map_or(
                mdmlink_replacement_reason::None,
                mdmlink_replacement_reason::from_core,
            ),
            label: label.as_ptr(),
            reserved: [0; 4],
        }
    }
}

/// A policy that warns `warn_days` days before expiry (the default policy
/// warns 30 days ahead; at most 3650, else `MDMLINK_STATUS_INVALID_ARGUMENT`).
/// On success `*out` receives a new policy: free it with
/// `mdmlink_expiry_policy_free`.
///
/// # Safety
/// `out` is NULL or writable; `err` is NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_expiry_policy_new(
    warn_days: u32,
    out: *mut *mut mdmlink_expiry_policy,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [out]; {
        let inner = ExpiryPolicy::warn_days(warn_days)
            .map_err(|e| FfiError::invalid(e.to_string()))?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write_handle(out, mdmlink_expiry_policy { inner }) };
        Ok(())
    })
}

/// The health at `now_unix` of something that stops working at
/// `expires_unix` (both Unix seconds): `EXPIRED` from `expires_unix` on,
/// `RENEW_SOON` inside the warning window, `VALID` before. On success `*out`
/// is filled in. Takes no ownership of `policy`.
///
/// # Safety
/// `policy` is NULL or a live policy; `out` is NULL or writable; `err` is
/// NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_expiry_policy_evaluate(
    policy: *const mdmlink_expiry_policy,
    expires_unix: i64,
    now_unix: i64,
    out: *mut mdmlink_health,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [policy, out]; {
        let expires = time_arg(expires_unix, "expires_unix")?;
        let now = time_arg(now_unix, "now_unix")?;
        // SAFETY: non-NULL live handle.
        let health = unsafe { handle(policy) }.inner.evaluate(expires, now);
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write(out, mdmlink_health::from(health)) };
        Ok(())
    })
}

/// Like `mdmlink_expiry_policy_evaluate`, but a replacement event (`reason`,
/// a `mdmlink_replacement_reason` from 1 to 4, at `event_unix`) outranks a
/// token that has not expired: the state is then `MUST_REPLACE`. Pass
/// `MDMLINK_REPLACEMENT_REASON_NONE` for no event. Takes no ownership of
/// `policy`.
///
/// # Safety
/// As for `mdmlink_expiry_policy_evaluate`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_expiry_policy_evaluate_with_event(
    policy: *const mdmlink_expiry_policy,
    expires_unix: i64,
    reason: u32,
    event_unix: i64,
    now_unix: i64,
    out: *mut mdmlink_health,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [policy, out]; {
        let expires = time_arg(expires_unix, "expires_unix")?;
        let now = time_arg(now_unix, "now_unix")?;
        let event = if reason == mdmlink_replacement_reason::None as u32 {
            None
        } else {
            Some((reason_arg(reason)?, time_arg(event_unix, "event_unix")?))
        };
        // SAFETY: non-NULL live handle.
        let health = unsafe { handle(policy) }.inner.evaluate_with_event(expires, event, now);
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write(out, mdmlink_health::from(health)) };
        Ok(())
    })
}

/// Frees a policy. NULL is a no-op.
///
/// # Safety
/// `policy` is NULL or a policy from this library, not yet freed and not in
/// use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_expiry_policy_free(policy: *mut mdmlink_expiry_policy) {
    ffi!(free policy; {
        // SAFETY: per the contract.
        unsafe { free_handle(policy) }
    })
}
