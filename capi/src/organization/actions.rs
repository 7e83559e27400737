//! What a server's status is and which servers need action.

use super::*;

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
            FfiError::from(mdmlink::organization::OrganizationError::NotFound(
                mdmlink::NotFound::server(name),
            ))
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
