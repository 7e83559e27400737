//! Sessions with Apple's device assignment service (`mdmlink::session`): the
//! signed OAuth header for `GET /session`, and the parsers for the replies.
//!
//! The C side carries the HTTP itself (libcurl, NSURLSession, net/http):
//! mdmlink signs and interprets, so the signature and the error mapping are
//! the same in every language.

use core::ffi::c_char;

use http::{Method, Response, StatusCode, Uri};
use zeroize::{Zeroize, Zeroizing};

use super::bytes::mdmlink_bytes;
use super::error::{FfiError, mdmlink_error};
use super::macros::ffi;
use super::status::mdmlink_status;
use super::token::mdmlink_token;
use super::{bytes_arg, free_handle, handle, opt_str_arg, str_arg, time_arg, write, write_handle};
use mdmlink::SystemRng;
use mdmlink::session::{self, Session};

/// A session with the device assignment service: the `X-ADM-Auth-Session`
/// token and the service's base URL. Immutable: safe to use from several
/// threads at once. When a reply carries a new `X-ADM-Auth-Session`, make a
/// new session with `mdmlink_session_new` and free the old one.
#[allow(non_camel_case_types)]
pub struct mdmlink_session {
    // NUL-terminated, checked by `Session::new`; the token is zeroed on drop.
    auth_session_token: Zeroizing<Vec<u8>>,
    base_url: Vec<u8>,
}

impl mdmlink_session {
    fn new(inner: &Session) -> Self {
        let c = |s: &str| {
            let mut v = Vec::with_capacity(s.len() + 1);
            v.extend_from_slice(s.as_bytes());
            v.push(0);
            v
        };
        Self {
            auth_session_token: Zeroizing::new(c(inner.auth_session_token())),
            base_url: c(inner.base_url()),
        }
    }
}

/// A reply as the `http` crate types it: status and body (headers are not
/// needed by the parsers the C API exposes).
fn response(http_status: u16, body: &[u8]) -> Result<Response<Vec<u8>>, FfiError> {
    let status = StatusCode::from_u16(http_status).map_err(|_| {
        FfiError::invalid(format!("`http_status` {http_status} is not an HTTP status"))
    })?;
    let mut response = Response::new(body.to_vec());
    *response.status_mut() = status;
    Ok(response)
}

/// Signs a `GET` of `url` (usually the base URL + `/session`, e.g.
/// `"https://mdmenrollment.apple.com/session"`) with `token`, per RFC 5849
/// (`HMAC-SHA1`, key `consumer_secret&access_secret`), at `now_unix` (Unix
/// seconds) with `nonce` (1 to 256 bytes; NULL: 32 random hex digits from the
/// operating system). Query parameters of `url` are signed too.
///
/// On success `*out` holds the `Authorization` header value,
/// NUL-terminated: `OAuth realm="ADM", oauth_consumer_key="...", ...`. It
/// carries the access token: free it with `mdmlink_bytes_free`, which zeroes
/// it. Takes no ownership of the inputs.
///
/// # Safety
/// `token` is NULL or a live token; `url` is NULL or NUL-terminated; `nonce`
/// is NULL or NUL-terminated; `out` is NULL or writable; `err` is NULL or a
/// valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_session_authorization_header(
    token: *const mdmlink_token,
    url: *const c_char,
    now_unix: i64,
    nonce: *const c_char,
    out: *mut mdmlink_bytes,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [token, url, out]; {
        // SAFETY: per the contract.
        let (token, url, nonce) = unsafe {
            (handle(token), str_arg(url, "url")?, opt_str_arg(nonce, "nonce")?)
        };
        let uri: Uri = url
            .parse()
            .map_err(|_| FfiError::from(session::SessionError::InvalidUrl {
                reason: "not a URL".into(),
            }))?;
        let now = time_arg(now_unix, "now_unix")?;
        let nonce = match nonce {
            Some(n) => n.to_owned(),
            None => session::new_nonce(&mut SystemRng::default())?,
        };
        let auth = session::authorization(&token.inner, &Method::GET, &uri, now, &nonce)?;
        let value = auth.header_value();
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write(out, mdmlink_bytes::from_vec(value.expose().as_bytes().to_vec())) };
        Ok(())
    })
}

/// Parses the reply to `GET /session`: HTTP status `http_status` and `body`
/// (`body_len` bytes; NULL when empty). 200 with
/// `{"auth_session_token": "..."}` gives a session for `base_url` (e.g.
/// `"https://mdmenrollment.apple.com"`); the errors Apple documents give their
/// own statuses: `MDMLINK_STATUS_SESSION_UNAUTHORIZED` (401),
/// `MDMLINK_STATUS_SESSION_TOKEN_EXPIRED` (401, token expired),
/// `MDMLINK_STATUS_SESSION_TERMS_NOT_ACCEPTED` (403 `T_C_NOT_SIGNED`),
/// `MDMLINK_STATUS_SESSION_ACCESS_DENIED` (403 `ACCESS_DENIED`),
/// `MDMLINK_STATUS_SESSION_BAD_REQUEST` (400), and so on.
///
/// On success `*out` receives a new session: free it with
/// `mdmlink_session_free`. Takes no ownership of the inputs.
///
/// # Safety
/// `body` is NULL (only with `body_len` 0) or readable for `body_len` bytes;
/// `base_url` is NULL or NUL-terminated; `out` is NULL or writable; `err` is
/// NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_session_parse_response(
    http_status: u16,
    body: *const u8,
    body_len: usize,
    base_url: *const c_char,
    out: *mut *mut mdmlink_session,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [base_url, out]; {
        // SAFETY: per the contract.
        let (body, base_url) = unsafe { (bytes_arg(body, body_len, "body")?, str_arg(base_url, "base_url")?) };
        let reply = response(http_status, body)?;
        let parsed = session::parse_session_response(&reply, base_url);
        // The copy of the body holds the session token.
        reply.into_body().zeroize();
        let inner = parsed?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write_handle(out, mdmlink_session::new(&inner)) };
        Ok(())
    })
}

/// Checks the reply of a service endpoint (`/account`, `/devices`, ...):
/// `MDMLINK_STATUS_OK` for a 2xx status, otherwise the typed status the reply
/// means; `MDMLINK_STATUS_SESSION_EXPIRED` (401) says to obtain a new session
/// and retry once. `body` may be NULL when `body_len` is 0.
///
/// # Safety
/// `body` is NULL (only with `body_len` 0) or readable for `body_len` bytes;
/// `err` is NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_session_check_response(
    http_status: u16,
    body: *const u8,
    body_len: usize,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; []; {
        // SAFETY: per the contract.
        let body = unsafe { bytes_arg(body, body_len, "body")? };
        session::check_response(&response(http_status, body)?)?;
        Ok(())
    })
}

/// A session from an `X-ADM-Auth-Session` token the service sent (a reply to
/// `/session`, or a refreshed token on any reply) for `base_url`. On success
/// `*out` receives a new session: free it with `mdmlink_session_free`. Takes
/// no ownership of the strings.
///
/// # Safety
/// The strings are NULL or NUL-terminated; `out` is NULL or writable; `err` is
/// NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_session_new(
    auth_session_token: *const c_char,
    base_url: *const c_char,
    out: *mut *mut mdmlink_session,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [auth_session_token, base_url, out]; {
        // SAFETY: per the contract.
        let (token, base_url) = unsafe {
            (str_arg(auth_session_token, "auth_session_token")?, str_arg(base_url, "base_url")?)
        };
        let inner = Session::new(token, base_url)?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write_handle(out, mdmlink_session::new(&inner)) };
        Ok(())
    })
}

/// The session's `X-ADM-Auth-Session` value, NUL-terminated: send it with
/// every service request, beside `X-Server-Protocol-Version` (see
/// `mdmlink_session_protocol_version`). Secret; valid while the session lives
/// (zeroed by `mdmlink_session_free`). NULL when `session` is NULL.
///
/// # Safety
/// `session` is NULL or a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_session_auth_token(
    session: *const mdmlink_session,
) -> *const c_char {
    ffi!(value core::ptr::null(); [session]; {
        // SAFETY: per the contract.
        unsafe { handle(session) }.auth_session_token.as_ptr().cast()
    })
}

/// The service's base URL the session belongs to (no trailing `/`),
/// NUL-terminated; valid while the session lives. NULL when `session` is NULL.
///
/// # Safety
/// `session` is NULL or a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_session_base_url(
    session: *const mdmlink_session,
) -> *const c_char {
    ffi!(value core::ptr::null(); [session]; {
        // SAFETY: per the contract.
        unsafe { handle(session) }.base_url.as_ptr().cast()
    })
}

/// The default `X-Server-Protocol-Version` value to send (`"10"`, the core's
/// `DEFAULT_PROTOCOL_VERSION`); a caller may send another version it
/// supports, and `mdmlink_dep_client_new` takes one. Static: never free it.
#[unsafe(no_mangle)]
pub extern "C" fn mdmlink_session_protocol_version() -> *const c_char {
    const VERSION: &core::ffi::CStr = c"10";
    ffi!(value VERSION.as_ptr(); []; { VERSION.as_ptr() })
}

/// Frees a session and zeroes its token. NULL is a no-op.
///
/// # Safety
/// `session` is NULL or a session from this library, not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_session_free(session: *mut mdmlink_session) {
    ffi!(free session; {
        // SAFETY: per the contract.
        unsafe { free_handle(session) }
    })
}

#[cfg(test)]
mod tests {
    use core::ffi::CStr;

    use super::*;

    #[test]
    fn protocol_version_matches_the_core() {
        // SAFETY: a static NUL-terminated string.
        let c = unsafe { CStr::from_ptr(mdmlink_session_protocol_version()) };
        assert_eq!(c.to_str(), Ok(session::DEFAULT_PROTOCOL_VERSION));
    }
}
