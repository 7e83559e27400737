//! `mdmlink_bytes`: an owned byte buffer handed to C.

use zeroize::Zeroize;

use super::macros::ffi;

/// A byte buffer owned by the caller once a function returns it: certificate
/// PEM or DER, private key PEM, a sealed token. Release it with
/// `mdmlink_bytes_free`, which zeroes the bytes first (they may be key
/// material). Text outputs (PEM) are not NUL-terminated: use `len`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug)]
pub struct mdmlink_bytes {
    /// The first byte; NULL for an empty or freed buffer.
    pub ptr: *mut u8,
    /// The number of bytes.
    pub len: usize,
}

impl mdmlink_bytes {
    /// Moves `data` into a buffer for C.
    pub(crate) fn from_vec(data: Vec<u8>) -> Self {
        if data.is_empty() {
            return Self {
                ptr: core::ptr::null_mut(),
                len: 0,
            };
        }
        // `into_boxed_slice` may reallocate when capacity > len; shrink first
        // and zero the old allocation ourselves so no copy of a secret is left.
        let mut data = data;
        if data.capacity() != data.len() {
            let exact = data.as_slice().to_vec().into_boxed_slice();
            data.zeroize();
            return Self::from_box(exact);
        }
        Self::from_box(data.into_boxed_slice())
    }

    fn from_box(data: Box<[u8]>) -> Self {
        let len = data.len();
        let ptr = Box::into_raw(data).cast::<u8>();
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
        // SAFETY: the caller guarantees `bytes` is ours; `ptr`/`len` came from
        // a `Box<[u8]>` made by `from_box`.
        unsafe {
            let b = &mut *bytes;
            if !b.ptr.is_null() {
                let slice = core::ptr::slice_from_raw_parts_mut(b.ptr, b.len);
                let mut owned = Box::from_raw(slice);
                owned.zeroize();
                drop(owned);
            }
            b.ptr = core::ptr::null_mut();
            b.len = 0;
        }
    })
}
