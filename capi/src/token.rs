//! Server tokens: open, seal, fields (`mdmlink::token`).

use core::ffi::c_char;

use zeroize::Zeroizing;

use super::bytes::mdmlink_bytes;
use super::error::mdmlink_error;
use super::expiry::{mdmlink_expiry_policy, mdmlink_health};
use super::keypair::mdmlink_keypair;
use super::macros::ffi;
use super::status::mdmlink_status;
use super::{bytes_arg, free_handle, handle, str_arg, time_arg, write, write_handle};
use mdmlink::SystemRng;
use mdmlink::keypair::ServerCertificate;
use mdmlink::token::{self, SealOptions, ServerToken};

/// An opened server token: the four OAuth credentials and their expiry.
/// Immutable: safe to use from several threads at once. The strings returned
/// by the field getters live inside the handle and are zeroed by
/// `mdmlink_token_free`.
#[allow(non_camel_case_types)]
pub struct mdmlink_token {
    pub(crate) inner: ServerToken,
    // NUL-terminated copies of the fields, zeroed on drop.
    consumer_key: Zeroizing<Vec<u8>>,
    consumer_secret: Zeroizing<Vec<u8>>,
    access_token: Zeroizing<Vec<u8>>,
    access_secret: Zeroizing<Vec<u8>>,
}

impl mdmlink_token {
    pub(crate) fn new(inner: ServerToken) -> Self {
        // Token fields are printable ASCII (checked by the core): no NUL inside.
        let c = |s: &str| {
            let mut v = Zeroizing::new(Vec::with_capacity(s.len() + 1));
            v.extend_from_slice(s.as_bytes());
            v.push(0);
            v
        };
        Self {
            consumer_key: c(inner.consumer_key()),
            consumer_secret: c(inner.consumer_secret()),
            access_token: c(inner.access_token()),
            access_secret: c(inner.access_secret()),
            inner,
        }
    }
}

/// Opens a server token file (`*_smime.p7m` as downloaded, PEM or DER) with
/// `keypair`. When the keypair has its certificate, a token issued to another
/// certificate gives `MDMLINK_STATUS_TOKEN_WRONG_RECIPIENT` with both serials
/// in the message; otherwise a wrong key gives `MDMLINK_STATUS_TOKEN_DECRYPT`.
/// Uses the operating system's random number generator (RSA blinding).
///
/// On success `*out` receives a new token: free it with `mdmlink_token_free`.
/// Takes no ownership of `keypair` or `data`.
///
/// # Safety
/// `keypair` is NULL or a live keypair; `data` is NULL or readable for
/// `data_len` bytes; `out` is NULL or writable; `err` is NULL or a valid
/// `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_token_open(
    keypair: *const mdmlink_keypair,
    data: *const u8,
    data_len: usize,
    out: *mut *mut mdmlink_token,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [keypair, out]; {
        // SAFETY: per the contract.
        let (keypair, data) = unsafe { (handle(keypair), bytes_arg(data, data_len, "data")?) };
        let inner = token::open(data, &keypair.inner)?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write_handle(out, mdmlink_token::new(inner)) };
        Ok(())
    })
}

/// Builds a token from its parts (each non-empty printable ASCII) and its
/// expiry (Unix seconds, UTC), e.g. to seal a test token. On success `*out`
/// receives a new token: free it with `mdmlink_token_free`. Takes no
/// ownership of the strings.
///
/// # Safety
/// The strings are NULL or NUL-terminated; `out` is NULL or writable; `err`
/// is NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_token_new(
    consumer_key: *const c_char,
    consumer_secret: *const c_char,
    access_token: *const c_char,
    access_secret: *const c_char,
    expiry_unix: i64,
    out: *mut *mut mdmlink_token,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [consumer_key, consumer_secret, access_token, access_secret, out]; {
        // SAFETY: non-NULL, NUL-terminated per the contract.
        let (ck, cs, at, asec) = unsafe {
            (
                str_arg(consumer_key, "consumer_key")?,
                str_arg(consumer_secret, "consumer_secret")?,
                str_arg(access_token, "access_token")?,
                str_arg(access_secret, "access_secret")?,
            )
        };
        let expiry = time_arg(expiry_unix, "expiry_unix")?;
        let inner = ServerToken::new(ck, cs, at, asec, expiry)?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write_handle(out, mdmlink_token::new(inner)) };
        Ok(())
    })
}

/// Seals `token` to a certificate (`certificate_len` bytes of PEM or DER) the
/// way the portal does: S/MIME, CMS EnvelopedData, RSA PKCS#1 v1.5 key
/// transport, AES-128-CBC. For tests, demos and simulators. Uses the
/// operating system's random number generator.
///
/// On success `*out` holds the token file: free it with `mdmlink_bytes_free`.
/// Takes no ownership of `token` or `certificate`.
///
/// # Safety
/// `token` is NULL or a live token; `certificate` is NULL or readable for
/// `certificate_len` bytes; `out` is NULL or writable; `err` is NULL or a
/// valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_token_seal(
    token: *const mdmlink_token,
    certificate: *const u8,
    certificate_len: usize,
    out: *mut mdmlink_bytes,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [token, out]; {
        // SAFETY: per the contract.
        let (token, certificate) = unsafe { (handle(token), bytes_arg(certificate, certificate_len, "certificate")?) };
        let certificate = ServerCertificate::from_pem_or_der(certificate)?;
        let file = token::seal(&token.inner, &certificate, SealOptions::default(), &mut SystemRng::default())?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write(out, mdmlink_bytes::from_vec(file)) };
        Ok(())
    })
}

/// The consumer key (`CK_...`): identifies the server's link; it changes
/// when the token is renewed by another portal account.
///
/// The string is NUL-terminated, lives inside the token and stays valid
/// until `mdmlink_token_free(token)`: do not free it, and copy it only into
/// memory you zero after use. NULL when `token` is NULL. Takes no ownership
/// of `token`.
///
/// # Safety
/// `token` is NULL or a live token.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_token_consumer_key(token: *const mdmlink_token) -> *const c_char {
    ffi!(value core::ptr::null(); [token]; {
        // SAFETY: non-NULL live handle.
        unsafe { handle(token) }.consumer_key.as_ptr().cast::<c_char>()
    })
}

/// The consumer secret (`CS_...`). Secret.
///
/// The string is NUL-terminated, lives inside the token and stays valid
/// until `mdmlink_token_free(token)`: do not free it, and copy it only into
/// memory you zero after use. NULL when `token` is NULL. Takes no ownership
/// of `token`.
///
/// # Safety
/// `token` is NULL or a live token.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_token_consumer_secret(
    token: *const mdmlink_token,
) -> *const c_char {
    ffi!(value core::ptr::null(); [token]; {
        // SAFETY: non-NULL live handle.
        unsafe { handle(token) }.consumer_secret.as_ptr().cast::<c_char>()
    })
}

/// The access token (`AT_...`). Secret.
///
/// The string is NUL-terminated, lives inside the token and stays valid
/// until `mdmlink_token_free(token)`: do not free it, and copy it only into
/// memory you zero after use. NULL when `token` is NULL. Takes no ownership
/// of `token`.
///
/// # Safety
/// `token` is NULL or a live token.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_token_access_token(token: *const mdmlink_token) -> *const c_char {
    ffi!(value core::ptr::null(); [token]; {
        // SAFETY: non-NULL live handle.
        unsafe { handle(token) }.access_token.as_ptr().cast::<c_char>()
    })
}

/// The access secret (`AS_...`). Secret.
///
/// The string is NUL-terminated, lives inside the token and stays valid
/// until `mdmlink_token_free(token)`: do not free it, and copy it only into
/// memory you zero after use. NULL when `token` is NULL. Takes no ownership
/// of `token`.
///
/// # Safety
/// `token` is NULL or a live token.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_token_access_secret(token: *const mdmlink_token) -> *const c_char {
    ffi!(value core::ptr::null(); [token]; {
        // SAFETY: non-NULL live handle.
        unsafe { handle(token) }.access_secret.as_ptr().cast::<c_char>()
    })
}

/// When the access token expires, in Unix seconds (UTC); 0 when `token` is
/// NULL. Takes no ownership of `token`.
///
/// # Safety
/// `token` is NULL or a live token.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_token_expiry_unix(token: *const mdmlink_token) -> i64 {
    ffi!(value 0; [token]; {
        // SAFETY: non-NULL live handle.
        unsafe { handle(token) }.inner.access_token_expiry().unix_timestamp()
    })
}

/// The token's health at `now_unix` under `policy` (see
/// `mdmlink_expiry_policy_evaluate`). On success `*out` is filled in (it owns
/// nothing). Takes no ownership of `token` or `policy`.
///
/// # Safety
/// `token` and `policy` are NULL or live handles; `out` is NULL or writable;
/// `err` is NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_token_health(
    token: *const mdmlink_token,
    policy: *const mdmlink_expiry_policy,
    now_unix: i64,
    out: *mut mdmlink_health,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [token, policy, out]; {
        // SAFETY: non-NULL live handles.
        let (token, policy) = unsafe { (handle(token), handle(policy)) };
        let now = time_arg(now_unix, "now_unix")?;
        let health = policy.inner.evaluate(token.inner.access_token_expiry(), now);
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write(out, mdmlink_health::from(health)) };
        Ok(())
    })
}

/// The token as Apple's JSON (`consumer_key`, `consumer_secret`,
/// `access_token`, `access_secret`, `access_token_expiry`), e.g. for a
/// keychain. Holds secrets: free `*out` with `mdmlink_bytes_free`, which
/// zeroes it. Takes no ownership of `token`.
///
/// # Safety
/// `token` is NULL or a live token; `out` is NULL or writable; `err` is NULL
/// or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_token_json(
    token: *const mdmlink_token,
    out: *mut mdmlink_bytes,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [token, out]; {
        // SAFETY: non-NULL live handle.
        let json = unsafe { handle(token) }.inner.to_json();
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write(out, mdmlink_bytes::from_vec(json.as_bytes().to_vec())) };
        Ok(())
    })
}

/// Frees a token, zeroing its secrets. NULL is a no-op.
///
/// # Safety
/// `token` is NULL or a token from this library, not yet freed and not in
/// use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_token_free(token: *mut mdmlink_token) {
    ffi!(free token; {
        // SAFETY: per the contract.
        unsafe { free_handle(token) }
    })
}

/// Parses a token file name as the portal writes it,
/// `<server name>_Token_<YYYY-MM-DDTHH-MM-SSZ>_smime.p7m` (a bare name or a
/// path; a browser's ` (1)` before `.p7m` is accepted), to suggest the server
/// and when the token was downloaded. `MDMLINK_STATUS_TOKEN_FILE_NAME` when
/// the name has another form.
///
/// On success `*server_name_out` receives the server name as UTF-8
/// (NUL-terminated; free it with `mdmlink_bytes_free`) and, when
/// `downloaded_at_unix_out` is not NULL, `*downloaded_at_unix_out` the
/// download time (Unix seconds, UTC). Takes no ownership of `file_name`.
///
/// # Safety
/// `file_name` is NULL or NUL-terminated; `server_name_out` is NULL or
/// writable; `downloaded_at_unix_out` is NULL or writable; `err` is NULL or a
/// valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_token_file_name_parse(
    file_name: *const c_char,
    server_name_out: *mut mdmlink_bytes,
    downloaded_at_unix_out: *mut i64,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [file_name, server_name_out]; {
        // SAFETY: non-NULL, NUL-terminated.
        let file_name = unsafe { str_arg(file_name, "file_name") }?;
        let parsed = token::filename::parse(file_name)
            .map_err(|e| super::error::FfiError::new(mdmlink_status::TokenFileName, e.to_string()))?;
        if !downloaded_at_unix_out.is_null() {
            // SAFETY: non-NULL and writable.
            unsafe { write(downloaded_at_unix_out, parsed.downloaded_at.unix_timestamp()) };
        }
        // SAFETY: `server_name_out` is non-NULL and writable.
        unsafe { write(server_name_out, mdmlink_bytes::from_vec(parsed.server_name.into_bytes())) };
        Ok(())
    })
}
