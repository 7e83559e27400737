//! The library's bench fixtures (`benches/common` at the workspace root) and
//! a token handle for the C API.
// Each bench and example uses a part of this module.
#![allow(dead_code, unused_imports)]

#[path = "../../../benches/common/mod.rs"]
mod fixtures;

pub use fixtures::*;

use mdmlink_capi::{
    status::mdmlink_status,
    token::{mdmlink_token, mdmlink_token_new},
};

/// A C API token handle and the same token in Rust, expiring in a year, for
/// the FFI overhead measurements. Free the handle with `mdmlink_token_free`.
pub fn ffi_token() -> (mdmlink::ServerToken, *mut mdmlink_token) {
    let expiry = time::OffsetDateTime::now_utc() + time::Duration::days(365);
    let token = mdmlink::ServerToken::new("CK_bench", "CS_bench", "AT_bench", "AS_bench", expiry)
        .expect("token");
    let mut handle = core::ptr::null_mut();
    // SAFETY: NUL-terminated strings, a writable out pointer, no error object.
    let status = unsafe {
        mdmlink_token_new(
            c"CK_bench".as_ptr(),
            c"CS_bench".as_ptr(),
            c"AT_bench".as_ptr(),
            c"AS_bench".as_ptr(),
            expiry.unix_timestamp(),
            &mut handle,
            core::ptr::null_mut(),
        )
    };
    assert_eq!(status, mdmlink_status::Ok, "mdmlink_token_new");
    (token, handle)
}
