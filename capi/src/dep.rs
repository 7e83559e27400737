//! The device assignment service from C (`mdmlink::dep`): a client that holds
//! the token, the service URL and its sessions, one sync step at a time (the
//! caller keeps the cursor), profile definition and assignment. Results come
//! back as JSON.
//!
//! These calls do their own HTTP (the `http` feature); in a build without it
//! `mdmlink_dep_client_new` fails with `MDMLINK_STATUS_FEATURE_NOT_ENABLED`.

use core::ffi::c_char;

use super::bytes::mdmlink_bytes;
use super::error::{FfiError, mdmlink_error};
use super::free_handle;
use super::macros::ffi;
use super::status::mdmlink_status;
use super::token::mdmlink_token;
#[cfg(feature = "http")]
use super::{bytes_arg, handle, opt_str_arg, str_arg, time_arg, write, write_handle};

/// A client for one server at one service URL: the token, the protocol
/// version and the session cache (renewed by itself, one re-authentication
/// at a time). Safe to use from several threads at once. Free it with
/// `mdmlink_dep_client_free`.
#[allow(non_camel_case_types)]
pub struct mdmlink_dep_client {
    #[cfg(feature = "http")]
    inner: mdmlink::dep::client::DepClient,
}

/// A client for `token` at `base_url` (`"https://mdmenrollment.apple.com"`,
/// or a simulator's URL), sending `protocol_version` as
/// `X-Server-Protocol-Version` (NULL: `"10"`). On success `*out` receives a
/// new client: free it with `mdmlink_dep_client_free`. The client keeps its
/// own copy of the token; takes no ownership of the inputs.
///
/// # Safety
/// `token` is NULL or a live token; the strings are NULL or NUL-terminated;
/// `out` is NULL or writable; `err` is NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_dep_client_new(
    token: *const mdmlink_token,
    base_url: *const c_char,
    protocol_version: *const c_char,
    out: *mut *mut mdmlink_dep_client,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [token, base_url, out]; {
        #[cfg(feature = "http")]
        {
            // SAFETY: per the contract.
            let (token, base_url, version) = unsafe {
                (handle(token), str_arg(base_url, "base_url")?, opt_str_arg(protocol_version, "protocol_version")?)
            };
            let mut inner = mdmlink::dep::client::DepClient::new(token.inner.clone(), base_url)?;
            if let Some(v) = version {
                inner = inner.with_protocol_version(v)?;
            }
            // SAFETY: `out` is non-NULL and writable.
            unsafe { write_handle(out, mdmlink_dep_client { inner }) };
            Ok(())
        }
        #[cfg(not(feature = "http"))]
        {
            let _ = protocol_version;
            Err(FfiError::feature_not_enabled("http"))
        }
    })
}

/// One step of fetch/sync: the next page after `cursor` (the saved cursor
/// text from an earlier step, `cursor_len` bytes; NULL with 0 starts a full
/// fetch), at `now_unix` (for the 7-day cursor rule). Pages and cursors are
/// handled inside: an exhausted fetch cursor switches to sync, an expired or
/// invalid one starts a full fetch again (the page then says `"restart"`).
///
/// On success `*out_page` holds JSON: `{"phase": "fetch"|"sync", "done":
/// bool, "restart": null|"no_cursor"|"cursor_too_old"|"expired_cursor"|
/// "invalid_cursor", "more_to_follow": bool, "devices": [...]}` (device
/// records as Apple sends them; the same serial appears once, the latest
/// `op_date`), and `*out_cursor` the cursor text to save, not
/// NUL-terminated. Store the page, then save the cursor: pass it to the next
/// step only once the page is stored, so nothing is skipped. Call again
/// until `"done"` is true. Free both with `mdmlink_bytes_free`.
/// `MDMLINK_STATUS_DEP_REPEATED_CURSOR` means the service looped: keep the
/// old cursor and retry later.
///
/// # Safety
/// `client` is NULL or a live client; `cursor` is NULL (only with
/// `cursor_len` 0) or readable for `cursor_len` bytes; the outputs are NULL
/// or writable; `err` is NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_dep_sync_step(
    client: *const mdmlink_dep_client,
    cursor: *const u8,
    cursor_len: usize,
    now_unix: i64,
    out_page: *mut mdmlink_bytes,
    out_cursor: *mut mdmlink_bytes,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [client, out_page, out_cursor]; {
        #[cfg(feature = "http")]
        {
            use mdmlink::dep::syncer::{SyncCursor, SyncError, Syncer};
            // SAFETY: per the contract.
            let (client, saved) = unsafe { (handle(client), bytes_arg(cursor, cursor_len, "cursor")?) };
            let saved = match saved {
                [] => None,
                text => Some(
                    core::str::from_utf8(text)
                        .ok()
                        .and_then(SyncCursor::parse)
                        .ok_or_else(|| FfiError::new(
                            mdmlink_status::DepCursor,
                            "the saved cursor is not one mdmlink wrote (v1:PHASE:TIME:CURSOR); pass NULL to fetch everything again",
                        ))?,
                ),
            };
            let now = time_arg(now_unix, "now_unix")?;
            let step = Syncer::new().step(&client.inner, saved.as_ref(), now).map_err(|e| match e {
                SyncError::Service(e) => FfiError::from(e),
                SyncError::RepeatedCursor { .. } => FfiError::new(mdmlink_status::DepRepeatedCursor, e.to_string()),
                other => FfiError::new(mdmlink_status::DepRejected, other.to_string()),
            })?;
            // The library's typed shape (`Step`'s documented JSON).
            let page = mdmlink_bytes::json(&step)?;
            let saved = mdmlink_bytes::from_vec(step.cursor.to_saved().into_bytes());
            // SAFETY: both are non-NULL and writable.
            unsafe {
                write(out_page, page);
                write(out_cursor, saved);
            }
            Ok(())
        }
        #[cfg(not(feature = "http"))]
        {
            let _ = (cursor, cursor_len, now_unix);
            Err(FfiError::feature_not_enabled("http"))
        }
    })
}

/// Defines a profile from its JSON (`profile_json_len` bytes: an object with
/// at least `"profile_name"`; Apple's other fields pass through). On success
/// `*out_json` holds `{"profile_uuid": "...", "devices": {"SERIAL":
/// "SUCCESS", ...}}` (`devices` lists the serials the definition named).
/// Free it with `mdmlink_bytes_free`. Takes no ownership of the inputs.
///
/// # Safety
/// `client` is NULL or a live client; `profile_json` is NULL or readable for
/// `profile_json_len` bytes; `out_json` is NULL or writable; `err` is NULL or
/// a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_dep_profile_define(
    client: *const mdmlink_dep_client,
    profile_json: *const u8,
    profile_json_len: usize,
    out_json: *mut mdmlink_bytes,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [client, out_json]; {
        #[cfg(feature = "http")]
        {
            // SAFETY: per the contract.
            let (client, json) = unsafe { (handle(client), bytes_arg(profile_json, profile_json_len, "profile_json")?) };
            let profile = mdmlink::dep::ProfileDefinition::from_json(json)?;
            let defined = client.inner.define_profile(&profile)?;
            let out = mdmlink_bytes::json(&defined)?;
            // SAFETY: non-NULL and writable.
            unsafe { write(out_json, out) };
            Ok(())
        }
        #[cfg(not(feature = "http"))]
        {
            let _ = (profile_json, profile_json_len);
            Err(FfiError::feature_not_enabled("http"))
        }
    })
}

/// Assigns the profile `profile_uuid` to `serial_count` serial numbers
/// (`serials[i]`, NUL-terminated; any number: the list is sent 1,000 at a
/// time). On success `*out_json` holds `{"profile_uuid": "...", "devices":
/// {"SERIAL": "SUCCESS"|"NOT_ACCESSIBLE"|"FAILED"|"THROTTLED", ...},
/// "requests": N}`; retry the `THROTTLED` ones later. Free it with
/// `mdmlink_bytes_free`. Takes no ownership of the inputs.
///
/// # Safety
/// `client` is NULL or a live client; `profile_uuid` is NULL or
/// NUL-terminated; `serials` is NULL or an array of `serial_count` non-NULL
/// NUL-terminated strings; `out_json` is NULL or writable; `err` is NULL or
/// a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_dep_profile_assign(
    client: *const mdmlink_dep_client,
    profile_uuid: *const c_char,
    serials: *const *const c_char,
    serial_count: usize,
    out_json: *mut mdmlink_bytes,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [client, profile_uuid, serials, out_json]; {
        #[cfg(feature = "http")]
        {
            // SAFETY: per the contract.
            let (client, uuid, pointers) = unsafe {
                (handle(client), str_arg(profile_uuid, "profile_uuid")?, core::slice::from_raw_parts(serials, serial_count))
            };
            let mut list = Vec::with_capacity(serial_count);
            for p in pointers {
                if p.is_null() {
                    return Err(FfiError::null("serials[i]"));
                }
                // SAFETY: non-NULL and NUL-terminated per the contract.
                list.push(unsafe { str_arg(*p, "serials[i]")? });
            }
            let result = client.inner.assign_profile(uuid, &list)?;
            let out = mdmlink_bytes::json(&result)?;
            // SAFETY: non-NULL and writable.
            unsafe { write(out_json, out) };
            Ok(())
        }
        #[cfg(not(feature = "http"))]
        {
            let _ = serial_count;
            Err(FfiError::feature_not_enabled("http"))
        }
    })
}

/// Frees a client (and its sessions). NULL is a no-op.
///
/// # Safety
/// `client` is NULL or a client from this library, not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_dep_client_free(client: *mut mdmlink_dep_client) {
    ffi!(free client; {
        // SAFETY: per the contract.
        unsafe { free_handle(client) }
    })
}
