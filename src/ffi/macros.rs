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
        $crate::ffi::macros::run_status($err, || -> ::core::result::Result<(), $crate::ffi::error::FfiError> {
            $(
                if $ptr.is_null() {
                    return Err($crate::ffi::error::FfiError::null(stringify!($ptr)));
                }
            )*
            $body
        })
    }};
    (value $default:expr; [$($ptr:ident),* $(,)?]; $body:block) => {{
        $crate::ffi::macros::run_value($default, || {
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
            $crate::ffi::macros::run_value((), || $body)
        }
    }};
}
pub(crate) use ffi;

/// Runs `body`, catching panics, and reports its outcome as a status.
pub(crate) fn run_status<F>(err: *mut *mut mdmlink_error, body: F) -> mdmlink_status
where
    F: FnOnce() -> Result<(), FfiError>,
{
    let outcome = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return mdmlink_status::Ok,
        Ok(Err(e)) => e,
        Err(_) => FfiError::panic(),
    };
    let status = outcome.status();
    // SAFETY: every exported function documents that `err` is NULL or points to
    // a `mdmlink_error *` that is NULL or was returned by this library.
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
