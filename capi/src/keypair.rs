//! Keypairs and certificates (`mdmlink::keypair`).

use core::ffi::c_char;

use super::bytes::mdmlink_bytes;
use super::error::mdmlink_error;
use super::macros::ffi;
use super::status::mdmlink_status;
use super::{bytes_arg, free_handle, handle, opt_str_arg, str_arg, time_arg, write, write_handle};
use mdmlink::SystemRng;
use mdmlink::keypair::{CertificateParams, KeySize, ServerKeypair};

/// An MDM server's RSA private key and, when known, its certificate.
/// Immutable: safe to use from several threads at once. Free it with
/// `mdmlink_keypair_free`.
#[allow(non_camel_case_types)]
pub struct mdmlink_keypair {
    pub(crate) inner: ServerKeypair,
}

/// Generates an RSA key of `bits` (2048, 3072 or 4096) and a self-signed
/// certificate for it with the common name `common_name`, valid for five
/// years from one hour before `now_unix` (for clock skew). Uses the operating system's random number
/// generator. Slow (RSA key generation: up to seconds).
///
/// On success `*out` receives a new keypair: free it with
/// `mdmlink_keypair_free`. Takes no ownership of `common_name`.
///
/// # Safety
/// `common_name` is NULL or NUL-terminated; `out` is NULL or writable; `err`
/// is NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_keypair_generate(
    bits: u32,
    common_name: *const c_char,
    now_unix: i64,
    out: *mut *mut mdmlink_keypair,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [common_name, out]; {
        // SAFETY: non-NULL and NUL-terminated per the contract.
        let common_name = unsafe { str_arg(common_name, "common_name") }?;
        let now = time_arg(now_unix, "now_unix")?;
        let size = KeySize::from_bits(bits)?;
        let params = CertificateParams::new(common_name, now);
        let inner = ServerKeypair::generate(&mut SystemRng::default(), size, &params)?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write_handle(out, mdmlink_keypair { inner }) };
        Ok(())
    })
}

/// Reads a private key from `pem_len` bytes of PEM text: `PRIVATE KEY`,
/// `RSA PRIVATE KEY`, or `ENCRYPTED PRIVATE KEY` (then `password` is
/// required; pass NULL for an unencrypted key). A `CERTIFICATE` block in the
/// same text is kept with the key (after checking it belongs to it), so that
/// `mdmlink_token_open` can tell a token for another certificate.
///
/// On success `*out` receives a new keypair: free it with
/// `mdmlink_keypair_free`. Takes no ownership of `pem` or `password`.
///
/// # Safety
/// `pem` is NULL or readable for `pem_len` bytes; `password` is NULL or
/// NUL-terminated; `out` is NULL or writable; `err` is NULL or a valid
/// `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_keypair_from_pem(
    pem: *const u8,
    pem_len: usize,
    password: *const c_char,
    out: *mut *mut mdmlink_keypair,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [out]; {
        // SAFETY: per the contract.
        let (pem, password) = unsafe { (bytes_arg(pem, pem_len, "pem")?, opt_str_arg(password, "password")?) };
        let inner = ServerKeypair::from_pem(pem, password.map(str::as_bytes))?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write_handle(out, mdmlink_keypair { inner }) };
        Ok(())
    })
}

/// Reads a DER private key: PKCS#8, encrypted PKCS#8 (`password` required)
/// or PKCS#1. Pass NULL `password` for an unencrypted key.
///
/// On success `*out` receives a new keypair (without certificate): free it
/// with `mdmlink_keypair_free`. Takes no ownership of `der` or `password`.
///
/// # Safety
/// As for `mdmlink_keypair_from_pem`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_keypair_from_der(
    der: *const u8,
    der_len: usize,
    password: *const c_char,
    out: *mut *mut mdmlink_keypair,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [out]; {
        // SAFETY: per the contract.
        let (der, password) = unsafe { (bytes_arg(der, der_len, "der")?, opt_str_arg(password, "password")?) };
        let inner = ServerKeypair::from_der(der, password.map(str::as_bytes))?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write_handle(out, mdmlink_keypair { inner }) };
        Ok(())
    })
}

/// The certificate as PEM (`-----BEGIN CERTIFICATE-----`), the file the admin
/// uploads to the portal. `MDMLINK_STATUS_NO_CERTIFICATE` when the keypair
/// was loaded without one.
///
/// On success `*out` is filled in: free it with `mdmlink_bytes_free`. Takes
/// no ownership of `keypair`.
///
/// # Safety
/// `keypair` is NULL or a live keypair; `out` is NULL or writable; `err` is
/// NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_keypair_certificate_pem(
    keypair: *const mdmlink_keypair,
    out: *mut mdmlink_bytes,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [keypair, out]; {
        // SAFETY: non-NULL live handle.
        let pem = unsafe { handle(keypair) }.inner.certificate_pem()?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write(out, mdmlink_bytes::from_vec(pem.into_bytes())) };
        Ok(())
    })
}

/// The certificate as DER. Otherwise as `mdmlink_keypair_certificate_pem`;
/// free `*out` with `mdmlink_bytes_free`.
///
/// # Safety
/// As for `mdmlink_keypair_certificate_pem`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_keypair_certificate_der(
    keypair: *const mdmlink_keypair,
    out: *mut mdmlink_bytes,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [keypair, out]; {
        // SAFETY: non-NULL live handle.
        let der = unsafe { handle(keypair) }.inner.certificate_der()?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write(out, mdmlink_bytes::from_vec(der)) };
        Ok(())
    })
}

/// The private key as PKCS#8 PEM: unencrypted (`BEGIN PRIVATE KEY`) when
/// `password` is NULL, otherwise encrypted (`BEGIN ENCRYPTED PRIVATE KEY`,
/// PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, salt and IV from the
/// operating system's random number generator). Store it mode 0600.
///
/// On success `*out` is filled in: free it with `mdmlink_bytes_free` (which
/// zeroes it). Takes no ownership of `keypair` or `password`.
///
/// # Safety
/// `keypair` is NULL or a live keypair; `password` is NULL or NUL-terminated;
/// `out` is NULL or writable; `err` is NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_keypair_private_key_pem(
    keypair: *const mdmlink_keypair,
    password: *const c_char,
    out: *mut mdmlink_bytes,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [keypair, out]; {
        // SAFETY: per the contract.
        let (keypair, password) = unsafe { (handle(keypair), opt_str_arg(password, "password")?) };
        let pem = match password {
            None => keypair.inner.private_key_pem()?,
            Some(p) => keypair
                .inner
                .private_key_encrypted_pem(&mut SystemRng::default(), p.as_bytes())?,
        };
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write(out, mdmlink_bytes::from_vec(pem.as_bytes().to_vec())) };
        Ok(())
    })
}

/// The RSA modulus size in bits; 0 when `keypair` is NULL. Takes no
/// ownership of `keypair`.
///
/// # Safety
/// `keypair` is NULL or a live keypair.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_keypair_bits(keypair: *const mdmlink_keypair) -> u32 {
    ffi!(value 0; [keypair]; {
        // SAFETY: non-NULL live handle.
        u32::try_from(unsafe { handle(keypair) }.inner.bits()).unwrap_or(0)
    })
}

/// Frees a keypair (its private key is zeroed). NULL is a no-op.
///
/// # Safety
/// `keypair` is NULL or a keypair from this library, not yet freed and not
/// in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_keypair_free(keypair: *mut mdmlink_keypair) {
    ffi!(free keypair; {
        // SAFETY: per the contract.
        unsafe { free_handle(keypair) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(
        miri,
        ignore = "RSA key generation takes hours under Miri; cargo test runs it"
    )]
    fn generate_dates_the_certificate_from_now_unix() {
        let now = 1_800_000_000;
        let mut out: *mut mdmlink_keypair = core::ptr::null_mut();
        let mut err: *mut mdmlink_error = core::ptr::null_mut();
        // SAFETY: valid arguments.
        let status = unsafe {
            mdmlink_keypair_generate(2048, c"Main MDM".as_ptr(), now, &mut out, &mut err)
        };
        assert_eq!(status, mdmlink_status::Ok);
        assert!(err.is_null());
        // SAFETY: `out` is a live keypair from this library.
        let certificate = unsafe { handle(out) }
            .inner
            .certificate()
            .expect("a generated keypair has its certificate");
        // Backdated one hour for clock skew (CertificateParams).
        assert_eq!(certificate.not_before().unix_timestamp(), now - 3600);
        // SAFETY: freed once.
        unsafe { mdmlink_keypair_free(out) };
    }

    #[test]
    fn generate_refuses_a_time_out_of_range() {
        let mut out: *mut mdmlink_keypair = core::ptr::null_mut();
        let mut err: *mut mdmlink_error = core::ptr::null_mut();
        // SAFETY: valid arguments.
        let status = unsafe {
            mdmlink_keypair_generate(2048, c"Main MDM".as_ptr(), i64::MAX, &mut out, &mut err)
        };
        assert_eq!(status, mdmlink_status::InvalidArgument);
        assert!(out.is_null(), "no output on failure");
        // SAFETY: `err` is ours, freed once.
        unsafe { super::super::error::mdmlink_error_free(err) };
    }
}
