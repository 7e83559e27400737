//! Server names (`mdmlink::name`).

use core::ffi::c_char;

use super::error::mdmlink_error;
use super::macros::ffi;
use super::status::mdmlink_status;
use super::str_arg;
use mdmlink::name::ServerName;

/// Checks a server name against the portal's rules (trimmed, NFC, not empty,
/// at most 200 bytes, no control characters, not "Unassigned"/"Reassigned").
/// Returns `MDMLINK_STATUS_OK` or `MDMLINK_STATUS_INVALID_NAME` with a message
/// in `*err`. Uniqueness within an organization is checked by
/// `mdmlink_organization_check_name`. Takes no ownership of `name`. Thread-safe.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `err` is NULL or a valid
/// `mdmlink_error **` (see `mdmlink_error`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_server_name_check(
    name: *const c_char,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [name]; {
        // SAFETY: non-NULL and NUL-terminated per the contract.
        let name = unsafe { str_arg(name, "name") }?;
        ServerName::parse(name)?;
        Ok(())
    })
}
