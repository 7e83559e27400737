//! Installing a server's token, reading it back, and the events that make
//! it need replacing.

use super::*;

/// Like `mdmlink_organization_server_install_token`, and also reads `file_name`
/// (the downloaded file's name or path). A file name of the portal's form
/// that names another server is a warning, not an error: on success, when
/// `warning_out` is not NULL, `*warning_out` receives the warnings as UTF-8
/// text, one per line (empty, `ptr` NULL, when there are none): free it with
/// `mdmlink_bytes_free`. Takes no ownership of its arguments.
///
/// # Safety
/// As for `mdmlink_organization_server_install_token`; `file_name` is NULL or
/// NUL-terminated; `warning_out` is NULL or writable.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn mdmlink_organization_server_install_token_file(
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
pub unsafe extern "C" fn mdmlink_organization_server_install_token(
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
pub unsafe extern "C" fn mdmlink_organization_server_record_event(
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
