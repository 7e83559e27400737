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

/// How `mdmlink_organization_install_token` bound a token.
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

/// Adds a server named `name` with a copy of `keypair` (whose certificate the
/// admin uploads), created at `now_unix`. Takes no ownership of `keypair`
/// (free it as usual).
///
/// # Safety
/// `org` and `keypair` are NULL or live handles; `name` is NULL or
/// NUL-terminated; `err` is NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_organization_add_server(
    org: *mut mdmlink_organization,
    name: *const c_char,
    keypair: *const mdmlink_keypair,
    now_unix: i64,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [org, name, keypair]; {
        // SAFETY: per the contract.
        let (org, name, keypair) = unsafe { (handle(org), str_arg(name, "name")?, handle(keypair)) };
        let now = time_arg(now_unix, "now_unix")?;
        org.lock()?
            .add_server(name, keypair.inner.clone(), ServerOptions::default(), now)?;
        Ok(())
    })
}

/// Adds a server named `name` with a newly generated keypair of `bits` (2048,
/// 3072 or 4096) whose certificate's common name is derived from the name,
/// valid from `now_unix`. Uses the operating system's random number
/// generator. The name is checked before the (slow) key generation.
///
/// On success, when `keypair_out` is not NULL, `*keypair_out` receives a copy
/// of the new keypair (to write its certificate for upload): free it with
/// `mdmlink_keypair_free`. Takes no ownership of `name`.
///
/// # Safety
/// `org` is NULL or a live organization; `name` is NULL or NUL-terminated;
/// `keypair_out` is NULL or writable; `err` is NULL or a valid
/// `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_organization_add_server_generated(
    org: *mut mdmlink_organization,
    name: *const c_char,
    bits: u32,
    now_unix: i64,
    keypair_out: *mut *mut mdmlink_keypair,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [org, name]; {
        // SAFETY: per the contract.
        let (org, name) = unsafe { (handle(org), str_arg(name, "name")?) };
        let now = time_arg(now_unix, "now_unix")?;
        let size = KeySize::from_bits(bits)?;
        let keypair = Organization::add_server_generated(
            || org.lock(),
            name,
            size,
            ServerOptions::default(),
            &mut SystemRng::default(),
            now,
        )?;
        // SAFETY: `keypair_out` is NULL or writable.
        unsafe { write_copy(keypair_out, Some(keypair)) };
        Ok(())
    })
}

/// Hands `copy` to C through `out` when both are present.
///
/// # Safety
/// `out` is NULL or writable.
unsafe fn write_copy(out: *mut *mut mdmlink_keypair, copy: Option<ServerKeypair>) {
    if let Some(inner) = copy.filter(|_| !out.is_null()) {
        // SAFETY: `out` is non-NULL and writable per the contract.
        unsafe { write_handle(out, mdmlink_keypair { inner }) };
    }
}

/// Removes the server named `name`. Takes no ownership of its arguments.
///
/// # Safety
/// `org` is NULL or a live organization; `name` is NULL or NUL-terminated;
/// `err` is NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_organization_remove_server(
    org: *mut mdmlink_organization,
    name: *const c_char,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [org, name]; {
        // SAFETY: per the contract.
        let (org, name) = unsafe { (handle(org), str_arg(name, "name")?) };
        org.lock()?.remove_server(name)?;
        Ok(())
    })
}

/// Stages a copy of `keypair` as the server's next keypair (a rotation): the
/// current keypair and token keep working until a token that opens with the
/// staged key is installed. A server that already has a staged keypair gives
/// `MDMLINK_STATUS_ALREADY_STAGED` (discard it first to replace it). Takes no
/// ownership of its arguments.
///
/// # Safety
/// `org` and `keypair` are NULL or live handles; `name` is NULL or
/// NUL-terminated; `err` is NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_organization_stage_keypair(
    org: *mut mdmlink_organization,
    name: *const c_char,
    keypair: *const mdmlink_keypair,
    now_unix: i64,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [org, name, keypair]; {
        // SAFETY: per the contract.
        let (org, name, keypair) = unsafe { (handle(org), str_arg(name, "name")?, handle(keypair)) };
        let now = time_arg(now_unix, "now_unix")?;
        org.lock()?.stage_keypair(name, keypair.inner.clone(), now)?;
        Ok(())
    })
}

/// Generates a keypair of `bits` (2048, 3072 or 4096) for the server named
/// `name` and stages it (the first step of a key rotation), as
/// `mdmlink_organization_add_server_generated` does for a new server: the
/// certificate's common name comes from the server name, valid from
/// `now_unix`; the server is looked up (and one already staging is refused
/// with `MDMLINK_STATUS_ALREADY_STAGED`) before the (slow) key generation,
/// which runs without holding the organization's lock.
///
/// On success, when `keypair_out` is not NULL, `*keypair_out` receives a copy
/// of the staged keypair (to write its certificate for upload): free it with
/// `mdmlink_keypair_free`. Takes no ownership of `name`.
///
/// # Safety
/// `org` is NULL or a live organization; `name` is NULL or NUL-terminated;
/// `keypair_out` is NULL or writable; `err` is NULL or a valid
/// `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_organization_stage_generated(
    org: *mut mdmlink_organization,
    name: *const c_char,
    bits: u32,
    now_unix: i64,
    keypair_out: *mut *mut mdmlink_keypair,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [org, name]; {
        // SAFETY: per the contract.
        let (org, name) = unsafe { (handle(org), str_arg(name, "name")?) };
        let now = time_arg(now_unix, "now_unix")?;
        let size = KeySize::from_bits(bits)?;
        let keypair =
            Organization::stage_generated(|| org.lock(), name, size, &mut SystemRng::default(), now)?;
        // SAFETY: `keypair_out` is NULL or writable.
        unsafe { write_copy(keypair_out, Some(keypair)) };
        Ok(())
    })
}

/// Discards the staged keypair of the server named `name` (the rotation is
/// abandoned; the current keypair and token stay).
/// `MDMLINK_STATUS_NO_STAGED_KEYPAIR` when there is none. Takes no ownership
/// of its arguments.
///
/// # Safety
/// `org` is NULL or a live organization; `name` is NULL or NUL-terminated;
/// `err` is NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_organization_discard_staging(
    org: *mut mdmlink_organization,
    name: *const c_char,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [org, name]; {
        // SAFETY: per the contract.
        let (org, name) = unsafe { (handle(org), str_arg(name, "name")?) };
        org.lock()?.discard_staged(name)?;
        Ok(())
    })
}

/// Records Apple's identifier for the server named `name`: the
/// `server_uuid` that the device assignment service's Account Detail
/// (`GET /account`) returns. It is the issuer of the server's Access
/// Management JWTs. `MDMLINK_STATUS_INVALID_ARGUMENT` for an empty or
/// malformed value. Takes no ownership of its arguments.
///
/// # Safety
/// `org` is NULL or a live organization; `name` and `uuid` are NULL or
/// NUL-terminated; `err` is NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_organization_set_server_uuid(
    org: *mut mdmlink_organization,
    name: *const c_char,
    uuid: *const c_char,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [org, name, uuid]; {
        // SAFETY: per the contract.
        let (org, name, uuid) = unsafe { (handle(org), str_arg(name, "name")?, str_arg(uuid, "uuid")?) };
        org.lock()?.set_server_uuid(name, uuid)?;
        Ok(())
    })
}

/// Signs an Access Management JWT (the `com.apple.maid` token a `GetToken`
/// check-in request asks for) for the server named `name` with its current
/// private key, RS256: claims `iss` (the server UUID, see
/// `mdmlink_organization_set_server_uuid`; `MDMLINK_STATUS_NO_SERVER_UUID`
/// when unset), `iat` = `now_unix`, `jti` (NULL: a new random UUID) and
/// `service_type` = `com.apple.maid`. Uses the operating system's random
/// number generator (for `jti` and RSA blinding).
///
/// On success `*out` receives the compact JWT as ASCII (NUL-terminated, like
/// every `mdmlink_bytes`): free it with `mdmlink_bytes_free`. Takes no ownership of its
/// arguments.
///
/// # Safety
/// `org` is NULL or a live organization; `name` is NULL or NUL-terminated;
/// `jti` is NULL or NUL-terminated; `out` is NULL or writable; `err` is NULL
/// or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_organization_access_management_jwt(
    org: *const mdmlink_organization,
    name: *const c_char,
    now_unix: i64,
    jti: *const c_char,
    out: *mut mdmlink_bytes,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [org, name, out]; {
        // SAFETY: per the contract.
        let (org, name, jti) = unsafe { (handle(org), str_arg(name, "name")?, opt_str_arg(jti, "jti")?) };
        let now = time_arg(now_unix, "now_unix")?;
        let mut rng = SystemRng::default();
        let jti = match jti {
            Some(j) => j.to_owned(),
            None => mdmlink::jwt::random_jti(&mut rng)?,
        };
        let token = org.lock()?.access_management_jwt(name, now, &jti, &mut rng)?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write(out, mdmlink_bytes::from_vec(token.into_bytes())) };
        Ok(())
    })
}

/// Like `mdmlink_organization_install_token`, and also reads `file_name`
/// (the downloaded file's name or path). A file name of the portal's form
/// that names another server is a warning, not an error: on success, when
/// `warning_out` is not NULL, `*warning_out` receives the warnings as UTF-8
/// text, one per line (empty, `ptr` NULL, when there are none): free it with
/// `mdmlink_bytes_free`. Takes no ownership of its arguments.
///
/// # Safety
/// As for `mdmlink_organization_install_token`; `file_name` is NULL or
/// NUL-terminated; `warning_out` is NULL or writable.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn mdmlink_organization_install_token_file(
    org: *mut mdmlink_organization,
    name: *const c_char,
    file_name: *const c_char,
    data: *const u8,
    data_len: usize,
    downloaded_by: *const c_char,
    force: bool,
    now_unix: i64,
    outcome: *mut mdmlink_install_outcome,
    warning_out: *mut mdmlink_bytes,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [org, name, file_name]; {
        // SAFETY: per the contract.
        let (org, name, file_name, data, downloaded_by) = unsafe {
            (
                handle(org),
                str_arg(name, "name")?,
                str_arg(file_name, "file_name")?,
                bytes_arg(data, data_len, "data")?,
                opt_str_arg(downloaded_by, "downloaded_by")?,
            )
        };
        let now = time_arg(now_unix, "now_unix")?;
        let mut options = InstallOptions::default().with_force(force);
        options.downloaded_by = downloaded_by.map(str::to_owned);
        let report = org.lock()?.install_token_file(name, file_name, data, options, now)?;
        if !outcome.is_null() {
            // SAFETY: non-NULL and writable.
            unsafe { write(outcome, outcome_of(report.outcome)) };
        }
        if !warning_out.is_null() {
            let text = report.warnings_text();
            // SAFETY: non-NULL and writable.
            unsafe { write(warning_out, mdmlink_bytes::from_vec(text.into_bytes())) };
        }
        Ok(())
    })
}

fn outcome_of(outcome: InstallOutcome) -> mdmlink_install_outcome {
    match outcome {
        InstallOutcome::First => mdmlink_install_outcome::First,
        InstallOutcome::Renewed => mdmlink_install_outcome::Renewed,
        InstallOutcome::KeyPromoted => mdmlink_install_outcome::KeyPromoted,
        // `#[non_exhaustive]` in the library: an outcome it adds must get a
        // number here first; the panic boundary reports the bug.
        other => unreachable!("mdmlink-capi has no number for the install outcome {other:?}"),
    }
}

/// Opens the token file `data` with the server's staged or current key and
/// installs it, recording `downloaded_by` (the portal user, may be NULL).
/// A renewal whose consumer key changed is refused
/// (`MDMLINK_STATUS_CONSUMER_KEY_CHANGED`) unless `force`. On success, when
/// `outcome` is not NULL, `*outcome` receives a `mdmlink_install_outcome`.
/// Takes no ownership of its arguments.
///
/// # Safety
/// `org` is NULL or a live organization; `name` and `downloaded_by` are NULL
/// or NUL-terminated; `data` is NULL or readable for `data_len` bytes;
/// `outcome` is NULL or writable; `err` is NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn mdmlink_organization_install_token(
    org: *mut mdmlink_organization,
    name: *const c_char,
    data: *const u8,
    data_len: usize,
    downloaded_by: *const c_char,
    force: bool,
    now_unix: i64,
    outcome: *mut mdmlink_install_outcome,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [org, name]; {
        // SAFETY: per the contract.
        let (org, name, data, downloaded_by) = unsafe {
            (
                handle(org),
                str_arg(name, "name")?,
                bytes_arg(data, data_len, "data")?,
                opt_str_arg(downloaded_by, "downloaded_by")?,
            )
        };
        let now = time_arg(now_unix, "now_unix")?;
        let mut options = InstallOptions::default().with_force(force);
        options.downloaded_by = downloaded_by.map(str::to_owned);
        let result = org.lock()?.install_token(name, data, options, now)?;
        if !outcome.is_null() {
            // SAFETY: non-NULL and writable.
            unsafe { write(outcome, outcome_of(result)) };
        }
        Ok(())
    })
}

/// A copy of the token installed on the server named `name`
/// (`MDMLINK_STATUS_NO_TOKEN` when there is none). On success `*out`
/// receives it: free it with `mdmlink_token_free`. Takes no ownership of its
/// arguments.
///
/// # Safety
/// `org` is NULL or a live organization; `name` is NULL or NUL-terminated;
/// `out` is NULL or writable; `err` is NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_organization_server_token(
    org: *const mdmlink_organization,
    name: *const c_char,
    out: *mut *mut mdmlink_token,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [org, name, out]; {
        // SAFETY: per the contract.
        let (org, name) = unsafe { (handle(org), str_arg(name, "name")?) };
        let org = org.lock()?;
        let token = org.token_of(name)?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write_handle(out, mdmlink_token::new(token.token.clone())) };
        Ok(())
    })
}

/// Records an event that invalidates the token of the server named `name`:
/// `reason` is a `mdmlink_replacement_reason` from 1 to 4, `at_unix` when it
/// happened. The server then reports `MUST_REPLACE` until a new token is
/// installed. Takes no ownership of its arguments.
///
/// # Safety
/// `org` is NULL or a live organization; `name` is NULL or NUL-terminated;
/// `err` is NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_organization_record_event(
    org: *mut mdmlink_organization,
    name: *const c_char,
    reason: u32,
    at_unix: i64,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [org, name]; {
        // SAFETY: per the contract.
        let (org, name) = unsafe { (handle(org), str_arg(name, "name")?) };
        let reason = reason_arg(reason)?;
        let at = time_arg(at_unix, "at_unix")?;
        org.lock()?.record_event(name, reason, at)?;
        Ok(())
    })
}

/// A portal user changed their Managed Apple Account password or left
/// (`reason` 3 or 4, or any reason from 1 to 4): every token `user`
/// downloaded must be replaced. On success, when `affected` is not NULL,
/// `*affected` receives the number of servers marked. Takes no ownership of
/// its arguments.
///
/// # Safety
/// `org` is NULL or a live organization; `user` is NULL or NUL-terminated;
/// `affected` is NULL or writable; `err` is NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_organization_record_user_event(
    org: *mut mdmlink_organization,
    user: *const c_char,
    reason: u32,
    at_unix: i64,
    affected: *mut usize,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [org, user]; {
        // SAFETY: per the contract.
        let (org, user) = unsafe { (handle(org), str_arg(user, "user")?) };
        let reason = reason_arg(reason)?;
        let at = time_arg(at_unix, "at_unix")?;
        let servers = org.lock()?.record_user_event(user, reason, at);
        if !affected.is_null() {
            // SAFETY: non-NULL and writable.
            unsafe { write(affected, servers.len()) };
        }
        Ok(())
    })
}

/// The status at `now_unix` under `policy` of the server named `name`. On
/// success `*out` is filled in (it owns nothing). Takes no ownership of its
/// arguments.
///
/// # Safety
/// `org` and `policy` are NULL or live handles; `name` is NULL or
/// NUL-terminated; `out` is NULL or writable; `err` is NULL or a valid
/// `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_organization_server_status(
    org: *const mdmlink_organization,
    name: *const c_char,
    policy: *const mdmlink_expiry_policy,
    now_unix: i64,
    out: *mut mdmlink_server_status,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [org, name, policy, out]; {
        // SAFETY: per the contract.
        let (org, name, policy) = unsafe { (handle(org), str_arg(name, "name")?, handle(policy)) };
        let now = time_arg(now_unix, "now_unix")?;
        let org = org.lock()?;
        let server = org.server(name).ok_or_else(|| {
            FfiError::from(mdmlink::organization::OrganizationError::NotFound {
                name: name.to_owned(),
            })
        })?;
        let status = server.status(&policy.inner, now);
        let value = mdmlink_server_status {
            has_token: status.token.is_some(),
            token: mdmlink_health::from(status.token_health()),
            has_certificate: status.certificate.is_some(),
            certificate: status
                .certificate
                .map_or(mdmlink_health::NO_CERTIFICATE, mdmlink_health::from),
            worst: mdmlink_health::from(status.worst()),
            staging_pending: status.staging_pending_since.is_some(),
            staging_since_unix: status.staging_pending_since.map_or(0, |t| t.unix_timestamp()),
            reserved: [0; 8],
        };
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write(out, value) };
        Ok(())
    })
}

/// The servers that need action at `now_unix` under `policy`, most urgent
/// first (replacement events and expired tokens, then tokens and
/// certificates inside the warning window, then key rotations whose staged
/// keypair has waited three days or more; an item's advice mentions a pending
/// staging, see `mdmlink_action_list_staging_since`). On success `*out` receives the
/// list (possibly empty): free it with `mdmlink_action_list_free`. Takes no
/// ownership of its arguments.
///
/// # Safety
/// `org` and `policy` are NULL or live handles; `out` is NULL or writable;
/// `err` is NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_organization_needs_action(
    org: *const mdmlink_organization,
    policy: *const mdmlink_expiry_policy,
    now_unix: i64,
    out: *mut *mut mdmlink_action_list,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [org, policy, out]; {
        // SAFETY: per the contract.
        let (org, policy) = unsafe { (handle(org), handle(policy)) };
        let now = time_arg(now_unix, "now_unix")?;
        let items = org
            .lock()?
            .needs_action(&policy.inner, now)
            .into_iter()
            .map(|item| {
                let server = c_string(&item.server);
                let advice = c_string(&item.advice);
                (item, server, advice)
            })
            .collect();
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write_handle(out, mdmlink_action_list { items }) };
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

/// The number of items; 0 when `list` is NULL. Takes no ownership of `list`.
///
/// # Safety
/// `list` is NULL or a live action list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_action_list_len(list: *const mdmlink_action_list) -> usize {
    ffi!(value 0; [list]; {
        // SAFETY: non-NULL live handle.
        unsafe { handle(list) }.items.len()
    })
}

/// The server name of item `index`, valid until `mdmlink_action_list_free`;
/// NULL when `list` is NULL or `index` is out of range. Do not free it.
///
/// # Safety
/// `list` is NULL or a live action list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_action_list_server(
    list: *const mdmlink_action_list,
    index: usize,
) -> *const c_char {
    ffi!(value core::ptr::null(); [list]; {
        // SAFETY: non-NULL live handle.
        unsafe { handle(list) }.items.get(index).map_or(core::ptr::null(), |i| i.1.as_ptr())
    })
}

/// What to do for item `index` (e.g. "download a new server token ..."),
/// valid until `mdmlink_action_list_free`; NULL when `list` is NULL or
/// `index` is out of range. Do not free it.
///
/// # Safety
/// `list` is NULL or a live action list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_action_list_advice(
    list: *const mdmlink_action_list,
    index: usize,
) -> *const c_char {
    ffi!(value core::ptr::null(); [list]; {
        // SAFETY: non-NULL live handle.
        unsafe { handle(list) }.items.get(index).map_or(core::ptr::null(), |i| i.2.as_ptr())
    })
}

/// The health of item `index`; `MDMLINK_STATUS_INVALID_ARGUMENT` when
/// `index` is out of range. On success `*out` is filled in. Takes no
/// ownership of `list`.
///
/// # Safety
/// `list` is NULL or a live action list; `out` is NULL or writable; `err` is
/// NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_action_list_health(
    list: *const mdmlink_action_list,
    index: usize,
    out: *mut mdmlink_health,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [list, out]; {
        // SAFETY: non-NULL live handle.
        let items = &unsafe { handle(list) }.items;
        let item = items.get(index).ok_or_else(|| {
            FfiError::invalid(format!("index {index} is past the end ({} items)", items.len()))
        })?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write(out, mdmlink_health::from(item.0.health)) };
        Ok(())
    })
}

/// When the staged keypair of item `index`'s server was made (Unix seconds),
/// or 0 when it has none (or `list` is NULL, or `index` is out of range): a
/// half-done key rotation. Takes no ownership of `list`.
///
/// # Safety
/// `list` is NULL or a live action list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_action_list_staging_since(
    list: *const mdmlink_action_list,
    index: usize,
) -> i64 {
    ffi!(value 0; [list]; {
        // SAFETY: non-NULL live handle.
        unsafe { handle(list) }
            .items
            .get(index)
            .and_then(|i| i.0.staging_pending_since)
            .map_or(0, |t| t.unix_timestamp())
    })
}

/// Frees an action list. NULL is a no-op.
///
/// # Safety
/// `list` is NULL or an action list from this library, not yet freed and not
/// in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_action_list_free(list: *mut mdmlink_action_list) {
    ffi!(free list; {
        // SAFETY: per the contract.
        unsafe { free_handle(list) }
    })
}
