//! `mdmlink_bytes`: an owned byte buffer handed to C.

use zeroize::Zeroize;

use super::macros::ffi;

/// A byte buffer owned by the caller once a function returns it: certificate
/// PEM or DER, private key PEM, a sealed token. Release it with
/// `mdmlink_bytes_free`, which zeroes the bytes first (they may be key
/// material). A NUL byte always follows the `len` bytes (not counted in
/// `len`), so a text output (PEM, JSON, a header value) is also a C string.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug)]
pub struct mdmlink_bytes {
    /// The first byte; never NULL in a filled-in buffer (an empty one points
    /// to its NUL), NULL once freed.
    pub ptr: *mut u8,
    /// The number of bytes, not counting the trailing NUL.
    pub len: usize,
}

impl mdmlink_bytes {
    /// `value` as JSON for C: every JSON output of the C API.
    #[cfg_attr(not(any(feature = "http", feature = "sqlite")), allow(dead_code))]
    pub(crate) fn json(value: &impl serde::Serialize) -> Result<Self, super::error::FfiError> {
        serde_json::to_vec(value).map(Self::from_vec).map_err(|e| {
            super::error::FfiError::new(super::status::mdmlink_status::EncodeFailed, e.to_string())
        })
    }

    /// Moves `data` into a buffer for C, followed by a NUL.
    pub(crate) fn from_vec(data: Vec<u8>) -> Self {
        let len = data.len();
        // One exact allocation of `len + 1` bytes; the old one is zeroed here
        // so no copy of a secret is left behind.
        let mut data = data;
        let mut exact = Vec::with_capacity(len + 1);
        exact.extend_from_slice(&data);
        exact.push(0);
        data.zeroize();
        let ptr = Box::into_raw(exact.into_boxed_slice()).cast::<u8>();
        Self { ptr, len }
    }
}

/// Zeroes and frees the buffer's bytes, then sets `ptr` to NULL and `len` to
/// 0. NULL, or a buffer whose `ptr` is NULL, is a no-op, so freeing twice is
/// harmless.
///
/// # Safety
/// `bytes` is NULL or points to a `mdmlink_bytes` that this library filled
/// in (or one whose `ptr` is NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_bytes_free(bytes: *mut mdmlink_bytes) {
    ffi!(free bytes; {
        // SAFETY: the caller guarantees `bytes` is ours; `ptr`/`len + 1` came
        // from a `Box<[u8]>` made by `from_vec`.
        unsafe {
            let b = &mut *bytes;
            if !b.ptr.is_null() {
                let slice = core::ptr::slice_from_raw_parts_mut(b.ptr, b.len + 1);
                let mut owned = Box::from_raw(slice);
                owned.zeroize();
                drop(owned);
            }
            b.ptr = core::ptr::null_mut();
            b.len = 0;
        }
    })
}
