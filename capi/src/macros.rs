//! The panic and NULL boundary every exported function goes through.
//!
//! [`ffi!`] is the only way an exported function runs code: it checks the
//! named pointers for NULL, runs the body inside `catch_unwind`, and turns the
//! outcome into the function's C return value. A body never unwinds into C.

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::error::{FfiError, mdmlink_error, set_error};
use super::status::mdmlink_status;

/// Wraps the body of an exported function.
///
/// * `ffi!(status err; [a, b]; { ... })`: the body returns
///   `Result<(), FfiError>`; the function returns a [`mdmlink_status`] and, on
///   failure, stores a detailed error through `err` (which may be NULL).
/// * `ffi!(value DEFAULT; [a, b]; { ... })`: the body returns a plain value;
///   a NULL pointer or a panic returns `DEFAULT` instead.
/// * `ffi!(free p; { ... })`: a `_free` function: NULL is a no-op, a panic is
///   swallowed.
macro_rules! ffi {
    (status $err:ident; [$($ptr:ident),* $(,)?]; $body:block) => {{
        $crate::macros::run_status($err, || -> ::core::result::Result<(), $crate::error::FfiError> {
            $(
                if $ptr.is_null() {
                    return Err($crate::error::FfiError::null(stringify!($ptr)));
                }
            )*
            $body
        })
    }};
    (value $default:expr; [$($ptr:ident),* $(,)?]; $body:block) => {{
        $crate::macros::run_value($default, || {
            $(
                if $ptr.is_null() {
                    return $default;
                }
            )*
            $body
        })
    }};
    (free $ptr:ident; $body:block) => {{
        if !$ptr.is_null() {
            $crate::macros::run_value((), || $body)
        }
    }};
}
pub(crate) use ffi;

/// Runs `body`, catching panics, and reports its outcome as a status.
///
/// `*err` must be NULL on entry: a call whose `*err` already holds something
/// (an error the caller did not free, or an uninitialised variable) is
/// refused with `MDMLINK_STATUS_ERROR_NOT_NULL` before anything runs, and
/// `*err` is left alone (never freed: it may not be ours).
pub(crate) fn run_status<F>(err: *mut *mut mdmlink_error, body: F) -> mdmlink_status
where
    F: FnOnce() -> Result<(), FfiError>,
{
    // SAFETY: every exported function documents that `err` is NULL or a
    // readable and writable `mdmlink_error **`.
    if !err.is_null() && !unsafe { err.read() }.is_null() {
        return mdmlink_status::ErrorNotNull;
    }
    let outcome = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return mdmlink_status::Ok,
        Ok(Err(e)) => e,
        Err(_) => FfiError::panic(),
    };
    let status = outcome.status();
    // SAFETY: `err` is NULL or writable, and `*err` was NULL (checked above).
    unsafe { set_error(err, outcome) };
    status
}

/// Runs `body`, catching panics; a panic gives `default`.
pub(crate) fn run_value<T, F>(default: T, body: F) -> T
where
    F: FnOnce() -> T,
{
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(default)
}
