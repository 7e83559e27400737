//! mdmlink's C API: a thin `extern "C"` face over the `mdmlink` crate,
//! built as `libmdmlink.a` and `libmdmlink.so` (`scripts/install.sh`), with
//! the header `capi/include/mdmlink.h`.
//!
//! One file per library module ([`name`], [`keypair`], [`token`], [`expiry`],
//! [`organization`], [`session`], [`dep`], `store` and `portal_api`
//! (feature `sqlite`)) plus
//! the shared pieces: `macros` (the panic and NULL boundary every function
//! goes through), [`status`], [`error`] and [`bytes`]. Each function converts
//! its arguments, calls the library's public API and converts the result; no
//! logic lives here. `include/mdmlink.h` is generated from these files by
//! cbindgen (see `scripts/gen-header.sh`).
//!
//! Conventions (rustls-ffi style): opaque handles `mdmlink_<noun>`, functions
//! `mdmlink_<noun>_<verb>`; outputs are written only on success; every
//! `_free` accepts NULL; no function takes ownership of its inputs; handles
//! are immutable and `Send + Sync` except `mdmlink_organization` and
//! `mdmlink_store`, which lock an internal mutex on every call, are passed
//! non-const to the calls that change them, and share one poisoned-lock
//! policy (the next call takes the lock back).
#![allow(clippy::missing_safety_doc)]
#![warn(missing_docs)]

pub(crate) mod macros;

pub mod bytes;
pub mod dep;
pub mod error;
pub mod expiry;
pub mod keypair;
pub mod name;
pub mod organization;
#[cfg(feature = "sqlite")]
pub mod portal_api;
pub mod session;
pub mod status;
#[cfg(feature = "sqlite")]
pub mod store;
pub mod token;

#[cfg(test)]
mod tests;

use core::ffi::{CStr, c_char};

use time::OffsetDateTime;

use self::error::FfiError;
use self::macros::ffi;

/// mdmlink's version (`Cargo.toml`), as `"MAJOR.MINOR.PATCH"`. The string is
/// static: never free it. Equals the header's `MDMLINK_VERSION`.
#[unsafe(no_mangle)]
pub extern "C" fn mdmlink_version() -> *const c_char {
    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => panic!("the crate version contains a NUL byte"),
        };
    ffi!(value VERSION.as_ptr(); []; { VERSION.as_ptr() })
}

/// The ABI version: the number in the shared library's SONAME. For 0.x it is
/// the minor version (`libmdmlink.so.0.<minor>`: any 0.x minor release may
/// break the ABI); from 1.0 on it is `1000 * major`. Equals the header's
/// `MDMLINK_ABI_VERSION`; a program can compare the two at start-up to
/// detect a library swapped under it.
#[unsafe(no_mangle)]
pub extern "C" fn mdmlink_abi_version() -> u32 {
    ffi!(value ABI_VERSION; []; { ABI_VERSION })
}

/// See [`mdmlink_abi_version`].
const ABI_VERSION: u32 = {
    let major = parse_u32(env!("CARGO_PKG_VERSION_MAJOR"));
    let minor = parse_u32(env!("CARGO_PKG_VERSION_MINOR"));
    if major == 0 { minor } else { 1000 * major }
};

const fn parse_u32(s: &str) -> u32 {
    let bytes = s.as_bytes();
    let mut value = 0u32;
    let mut i = 0;
    while i < bytes.len() {
        assert!(
            bytes[i].is_ascii_digit(),
            "version component is not a number"
        );
        value = value * 10 + (bytes[i] - b'0') as u32;
        i += 1;
    }
    value
}

/// Forces a panic inside the FFI boundary, to prove it becomes
/// `MDMLINK_STATUS_PANIC`. Test-only: exported by debug builds and by builds
/// with the `ffi-test-hooks` feature, never by a release build without it.
/// Declared in the header only when `MDMLINK_FFI_TEST_HOOKS` is defined.
///
/// # Safety
/// `err` as for every function: NULL or a valid `mdmlink_error **`.
#[cfg(mdmlink_test_hooks)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_test_panic(
    err: *mut *mut error::mdmlink_error,
) -> status::mdmlink_status {
    ffi!(status err; []; {
        panic!("mdmlink_test_panic: forced panic")
    })
}

/// Borrows a C string as UTF-8.
///
/// # Safety
/// `p` is non-NULL and points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str, FfiError> {
    // SAFETY: guaranteed by the caller.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str()
        .map_err(|_| FfiError::invalid(format!("the argument `{what}` is not UTF-8")))
}

/// Borrows an optional C string (NULL gives `None`).
///
/// # Safety
/// `p` is NULL or as for [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(
    p: *const c_char,
    what: &str,
) -> Result<Option<&'a str>, FfiError> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: guaranteed by the caller.
    unsafe { str_arg(p, what) }.map(Some)
}

/// Borrows the byte input `(p, len)`. The one rule for every byte input:
/// NULL with length 0 is the empty input; NULL with a non-zero length is
/// `MDMLINK_STATUS_NULL_ARGUMENT`.
///
/// # Safety
/// `p` is NULL or valid for reading `len` bytes for `'a`.
pub(crate) unsafe fn bytes_arg<'a>(
    p: *const u8,
    len: usize,
    what: &str,
) -> Result<&'a [u8], FfiError> {
    match (p.is_null(), len) {
        (true, 0) => Ok(&[]),
        (true, _) => Err(FfiError::null(what)),
        // SAFETY: guaranteed by the caller.
        (false, _) => Ok(unsafe { core::slice::from_raw_parts(p, len) }),
    }
}

/// Borrows a handle.
///
/// # Safety
/// `p` is non-NULL and a live handle of type `T` from this library.
pub(crate) unsafe fn handle<'a, T>(p: *const T) -> &'a T {
    // SAFETY: guaranteed by the caller.
    unsafe { &*p }
}

/// Writes `value` through `out`.
///
/// # Safety
/// `out` is non-NULL and writable.
pub(crate) unsafe fn write<T>(out: *mut T, value: T) {
    // SAFETY: guaranteed by the caller; `write` does not drop the old value,
    // which may be uninitialized.
    unsafe { out.write(value) }
}

/// Boxes `value` and writes the new handle through `out`.
///
/// # Safety
/// `out` is non-NULL and writable.
pub(crate) unsafe fn write_handle<T>(out: *mut *mut T, value: T) {
    // SAFETY: guaranteed by the caller.
    unsafe { write(out, Box::into_raw(Box::new(value))) }
}

/// Frees a handle made by [`write_handle`].
///
/// # Safety
/// `p` is non-NULL, from [`write_handle`], and not yet freed.
pub(crate) unsafe fn free_handle<T>(p: *mut T) {
    // SAFETY: guaranteed by the caller.
    drop(unsafe { Box::from_raw(p) })
}

/// A Unix time (seconds) as a date.
pub(crate) fn time_arg(unix: i64, what: &str) -> Result<OffsetDateTime, FfiError> {
    OffsetDateTime::from_unix_timestamp(unix)
        .map_err(|_| FfiError::invalid(format!("the time `{what}` ({unix}) is out of range")))
}

/// Every handle may be shared across threads.
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<error::mdmlink_error>();
    shareable::<keypair::mdmlink_keypair>();
    shareable::<token::mdmlink_token>();
    shareable::<expiry::mdmlink_expiry_policy>();
    shareable::<organization::mdmlink_organization>();
    shareable::<organization::mdmlink_action_list>();
    shareable::<session::mdmlink_session>();
    #[cfg(feature = "sqlite")]
    shareable::<store::mdmlink_store>();
    shareable::<dep::mdmlink_dep_client>();
};
