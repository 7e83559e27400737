//! The organization model: servers, tokens, events, what needs action
//! (`mdmlink::organization`).

use core::ffi::c_char;
use std::ffi::CString;
use std::sync::{Mutex, MutexGuard};

use super::bytes::mdmlink_bytes;
use super::error::{FfiError, mdmlink_error};
use super::expiry::{mdmlink_expiry_policy, mdmlink_health, reason_arg};
use super::keypair::mdmlink_keypair;
use super::macros::ffi;
use super::status::mdmlink_status;
use super::token::mdmlink_token;
use super::{bytes_arg, free_handle, handle, opt_str_arg, str_arg, time_arg, write, write_handle};
use mdmlink::SystemRng;
use mdmlink::keypair::{KeySize, ServerKeypair};
use mdmlink::organization::{
    ActionItem, InstallOptions, InstallOutcome, Organization, ServerOptions,
};
use mdmlink::portal::Portal;

/// One portal account's MDM servers. Unlike the other handles it changes:
/// every call locks a mutex inside the handle, so it may be shared across
/// threads without external locking (calls on one organization run one at a
/// time). Free it with `mdmlink_organization_free`.
#[allow(non_camel_case_types)]
pub struct mdmlink_organization {
    inner: Mutex<Organization>,
}

impl mdmlink_organization {
    /// Locks the organization. A call that panicked while holding the lock
    /// returned `MDMLINK_STATUS_PANIC` and poisoned it; the next call takes
    /// the lock back, so the handle stays usable. (The panicking call's own
    /// change may be incomplete; its status said so.)
    fn lock(&self) -> Result<MutexGuard<'_, Organization>, FfiError> {
        Ok(self.inner.lock().unwrap_or_else(|poisoned| {
            self.inner.clear_poison();
            poisoned.into_inner()
        }))
    }
}

/// Panics while holding `org`'s lock, to prove the call returns
/// `MDMLINK_STATUS_PANIC` and the organization stays usable. Test-only, like
/// `mdmlink_test_panic`.
///
/// # Safety
/// `org` is NULL or a live organization; `err` is NULL or a valid
/// `mdmlink_error **`.
#[cfg(mdmlink_test_hooks)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_test_panic_holding_organization(
    org: *mut mdmlink_organization,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [org]; {
        // SAFETY: per the contract.
        let _guard = unsafe { handle(org) }.lock()?;
        panic!("mdmlink_test_panic_holding_organization: forced panic")
    })
}

/// The Apple portal an organization uses. Functions take it as a `uint32_t`;
/// an unknown number gives `MDMLINK_STATUS_INVALID_ARGUMENT`.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mdmlink_portal {
    /// Apple Business Manager.
    BusinessManager = 0,
    /// Apple School Manager.
    SchoolManager = 1,
    /// Apple Business Essentials.
    BusinessEssentials = 2,
}

/// How `mdmlink_organization_server_install_token` bound a token.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mdmlink_install_outcome {
    /// The server's first token.
    First = 0,
    /// A renewal opened with the current keypair.
    Renewed = 1,
    /// The token opened with the staged keypair, which is now current.
    KeyPromoted = 2,
}

/// A server's status at one moment. Plain data: owns nothing, needs no free.
/// `reserved` keeps room for fields added later without changing the
/// struct's size (the library writes zeros there).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mdmlink_server_status {
    /// Whether a token is installed (`token` is meaningful only then).
    pub has_token: bool,
    /// The token's health (`NO_TOKEN` when none is installed).
    pub token: mdmlink_health,
    /// Whether the server has a certificate (`certificate` is meaningful only then).
    pub has_certificate: bool,
    /// The certificate's health (its notAfter against the same policy);
    /// `NO_CERTIFICATE` when the server has none.
    pub certificate: mdmlink_health,
    /// The most urgent of the two; a server without a token is `NO_TOKEN`.
    pub worst: mdmlink_health,
    /// Whether a staged keypair is waiting for its token.
    pub staging_pending: bool,
    /// When the staged keypair was made (Unix seconds), 0 when none.
    pub staging_since_unix: i64,
    /// Room to grow: zero today; later versions may give these words a meaning.
    pub reserved: [u64; 8],
}

/// The servers that need action, most urgent first. Immutable: safe to read
/// from several threads. Free it with `mdmlink_action_list_free`.
#[allow(non_camel_case_types)]
pub struct mdmlink_action_list {
    items: Vec<(ActionItem, CString, CString)>,
}

pub(crate) fn portal_arg(portal: u32) -> Result<Portal, FfiError> {
    use mdmlink_portal as P;
    Ok(match portal {
        p if p == P::BusinessManager as u32 => Portal::BusinessManager,
        p if p == P::SchoolManager as u32 => Portal::SchoolManager,
        p if p == P::BusinessEssentials as u32 => Portal::BusinessEssentials,
        other => {
            return Err(FfiError::invalid(format!(
                "{other} is not a portal (0 to 2)"
            )));
        }
    })
}

fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default()
}

/// A new organization named `name` in `portal` (a `mdmlink_portal`), with no
/// servers. On success `*out` receives it: free it with
/// `mdmlink_organization_free`. Takes no ownership of `name`.
///
/// # Safety
/// `name` is NULL or NUL-terminated; `out` is NULL or writable; `err` is NULL
/// or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_organization_new(
    name: *const c_char,
    portal: u32,
    out: *mut *mut mdmlink_organization,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [name, out]; {
        // SAFETY: non-NULL, NUL-terminated.
        let name = unsafe { str_arg(name, "name") }?;
        let inner = Organization::new(name, portal_arg(portal)?);
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write_handle(out, mdmlink_organization { inner: Mutex::new(inner) }) };
        Ok(())
    })
}

/// The number of servers; 0 when `org` is NULL. Takes no ownership of `org`.
///
/// # Safety
/// `org` is NULL or a live organization.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_organization_server_count(
    org: *const mdmlink_organization,
) -> usize {
    ffi!(value 0; [org]; {
        // SAFETY: non-NULL live handle.
        unsafe { handle(org) }.lock().map_or(0, |o| o.servers().len())
    })
}

/// Checks that `name` is a valid server name that no server of `org` uses
/// (compared ignoring case), as the portal would: `MDMLINK_STATUS_OK`,
/// `MDMLINK_STATUS_INVALID_NAME` or `MDMLINK_STATUS_DUPLICATE_NAME`. Takes no
/// ownership of its arguments.
///
/// # Safety
/// `org` is NULL or a live organization; `name` is NULL or NUL-terminated;
/// `err` is NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_organization_check_name(
    org: *const mdmlink_organization,
    name: *const c_char,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [org, name]; {
        // SAFETY: per the contract.
        let (org, name) = unsafe { (handle(org), str_arg(name, "name")?) };
        org.lock()?.check_name(name)?;
        Ok(())
    })
}

/// Frees an organization (zeroing its private keys and token secrets). NULL
/// is a no-op.
///
/// # Safety
/// `org` is NULL or an organization from this library, not yet freed and not
/// in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_organization_free(org: *mut mdmlink_organization) {
    ffi!(free org; {
        // SAFETY: per the contract.
        unsafe { free_handle(org) }
    })
}

mod actions;
mod servers;
mod tokens;
pub use actions::*;
pub use servers::*;
pub use tokens::*;
