//! The C API's session functions against the simulator, which checks OAuth
//! signatures as Apple's service does: the header from
//! `mdmlink_session_authorization_header` opens a session, the reply parsed by
//! `mdmlink_session_parse_response` gives a token that `/account` accepts, and
//! a header signed for another time or URL is refused. The HTTP is carried by
//! the test, as a C, Go or Swift program would carry it with its own stack.
#![cfg(feature = "http")]

use std::ffi::{CStr, CString};
use std::ptr;

use http::{Request, Response, header};
use mdmlink::session::{
    self, AUTH_SESSION_HEADER, PROTOCOL_VERSION_HEADER,
    client::Client,
    simulator::{SimulatedAccount, Simulator},
};
use mdmlink::token::ServerToken;
use mdmlink_capi::{
    bytes::{mdmlink_bytes, mdmlink_bytes_free},
    error::{mdmlink_error, mdmlink_error_free},
    session::{
        mdmlink_session, mdmlink_session_auth_token, mdmlink_session_authorization_header,
        mdmlink_session_check_response, mdmlink_session_free, mdmlink_session_parse_response,
        mdmlink_session_protocol_version,
    },
    status::mdmlink_status,
    token::{mdmlink_token, mdmlink_token_free, mdmlink_token_new},
};
use time::{Duration, OffsetDateTime};

/// A C token handle with the same credentials as `token`.
fn c_token(token: &ServerToken) -> *mut mdmlink_token {
    let c = |s: &str| CString::new(s).unwrap();
    let (ck, cs, at, asec) = (
        c(token.consumer_key()),
        c(token.consumer_secret()),
        c(token.access_token()),
        c(token.access_secret()),
    );
    let mut out = ptr::null_mut();
    // SAFETY: NUL-terminated strings, a writable out pointer, no error object.
    let status = unsafe {
        mdmlink_token_new(
            ck.as_ptr(),
            cs.as_ptr(),
            at.as_ptr(),
            asec.as_ptr(),
            token.access_token_expiry().unix_timestamp(),
            &mut out,
            ptr::null_mut(),
        )
    };
    assert_eq!(status, mdmlink_status::Ok);
    out
}

/// The `Authorization` value the C API makes for `GET url` at `now`.
fn c_header(token: *const mdmlink_token, url: &str, now: OffsetDateTime) -> String {
    let url = CString::new(url).unwrap();
    let mut out = mdmlink_bytes {
        ptr: ptr::null_mut(),
        len: 0,
    };
    // SAFETY: live token, NUL-terminated URL, NULL nonce (random), writable out.
    let status = unsafe {
        mdmlink_session_authorization_header(
            token,
            url.as_ptr(),
            now.unix_timestamp(),
            ptr::null(),
            &mut out,
            ptr::null_mut(),
        )
    };
    assert_eq!(status, mdmlink_status::Ok);
    // SAFETY: the library filled `out` with `len` bytes.
    let text = String::from_utf8(unsafe { std::slice::from_raw_parts(out.ptr, out.len) }.to_vec())
        .unwrap();
    // SAFETY: `out` came from the library.
    unsafe { mdmlink_bytes_free(&mut out) };
    text
}

fn get(url: &str, headers: &[(&str, &str)]) -> Request<()> {
    let mut request = Request::get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(()).unwrap()
}

/// Parses a `/session` reply through the C API: the session or the status.
fn c_parse(reply: &Response<Vec<u8>>, base: &str) -> Result<*mut mdmlink_session, mdmlink_status> {
    let base = CString::new(base).unwrap();
    let mut out = ptr::null_mut();
    let mut err: *mut mdmlink_error = ptr::null_mut();
    // SAFETY: body readable for its length, NUL-terminated base, writable outs.
    let status = unsafe {
        mdmlink_session_parse_response(
            reply.status().as_u16(),
            reply.body().as_ptr(),
            reply.body().len(),
            base.as_ptr(),
            &mut out,
            &mut err,
        )
    };
    // SAFETY: NULL or an error from the library.
    unsafe { mdmlink_error_free(err) };
    if status == mdmlink_status::Ok {
        Ok(out)
    } else {
        assert!(out.is_null(), "output written on failure");
        Err(status)
    }
}

fn c_check(reply: &Response<Vec<u8>>) -> mdmlink_status {
    // SAFETY: body readable for its length; no error object.
    unsafe {
        mdmlink_session_check_response(
            reply.status().as_u16(),
            reply.body().as_ptr(),
            reply.body().len(),
            ptr::null_mut(),
        )
    }
}

#[test]
fn c_api_session_against_the_simulator() {
    let now = OffsetDateTime::now_utc();
    let token = ServerToken::new(
        "CK_ffi",
        "CS_ffi+/=",
        "AT_ffi",
        "AS_ffi&%",
        now + Duration::days(365),
    )
    .unwrap();
    let sim =
        Simulator::start(vec![SimulatedAccount::new(token.clone(), "C Vendor Inc.")]).unwrap();
    let base = sim.base_url();
    let session_url = format!("{base}{}", session::SESSION_PATH);
    let http = Client::new();
    let handle = c_token(&token);

    // The header the C API signs opens a session.
    let auth = c_header(handle, &session_url, now);
    let reply = http
        .send(get(
            &session_url,
            &[(header::AUTHORIZATION.as_str(), &auth)],
        ))
        .unwrap();
    assert_eq!(
        reply.status(),
        200,
        "{:?}",
        String::from_utf8_lossy(reply.body())
    );
    let s = c_parse(&reply, &base).unwrap();
    // SAFETY: a live session; the string lives as long as it.
    let session_token = unsafe { CStr::from_ptr(mdmlink_session_auth_token(s)) }
        .to_str()
        .unwrap()
        .to_owned();
    // SAFETY: a static string.
    let version = unsafe { CStr::from_ptr(mdmlink_session_protocol_version()) }
        .to_str()
        .unwrap();

    // The session token opens /account; check_response says OK.
    let account_url = format!("{base}{}", session::ACCOUNT_PATH);
    let reply = http
        .send(get(
            &account_url,
            &[
                (AUTH_SESSION_HEADER, session_token.as_str()),
                (PROTOCOL_VERSION_HEADER, version),
            ],
        ))
        .unwrap();
    assert_eq!(c_check(&reply), mdmlink_status::Ok);
    assert!(String::from_utf8_lossy(reply.body()).contains("C Vendor Inc."));

    // Without a session: the service's 401 means "obtain a new session".
    let reply = http
        .send(get(&account_url, &[(PROTOCOL_VERSION_HEADER, version)]))
        .unwrap();
    assert_eq!(c_check(&reply), mdmlink_status::SessionExpired);

    // A header signed for another URL is refused, and the C parser says so.
    let wrong = c_header(handle, &format!("{base}/other"), now);
    let reply = http
        .send(get(
            &session_url,
            &[(header::AUTHORIZATION.as_str(), &wrong)],
        ))
        .unwrap();
    assert_eq!(
        c_parse(&reply, &base).err(),
        Some(mdmlink_status::SessionUnauthorized)
    );

    // SAFETY: handles from the library, freed once.
    unsafe {
        mdmlink_session_free(s);
        mdmlink_token_free(handle);
    }
    sim.shutdown();
}
