//! From a server token to a working session with Apple's device assignment
//! service (the Automated Device Enrollment web service behind Apple Business
//! Manager, Apple School Manager and Apple Business Essentials).
//!
//! Apple's article *Authenticating with the Automated Device Enrollment
//! program* (formerly *Authenticating with a Device Enrollment Program (DEP)
//! Server*, developer.apple.com/documentation/devicemanagement) describes the
//! protocol this module implements:
//!
//! > Each service request to the enrollment service must include an
//! > `X-ADM-Auth-Session` header. If the request doesn't have a valid
//! > `X-ADM-Auth-Session` header, or the auth token has expired, the server
//! > returns an HTTP 401 Unauthorized error. A new `X-ADM-Auth-Session` can be
//! > requested by using the `https://mdmenrollment.apple.com/session` endpoint.
//! > This endpoint supports the OAuth 1.0a protocol for accessing protected
//! > resources.
//!
//! 1. [`session_request`] builds the signed `GET /session` (RFC 5849 `HMAC-SHA1`,
//!    see `oauth`) from a [`ServerToken`]; the caller passes time and nonce.
//! 2. Send it with any HTTP client; [`parse_session_response`] turns the reply
//!    (`{"auth_session_token": "..."}`) into a [`Session`], or the documented
//!    errors into a [`SessionError`].
//! 3. [`Session::authorize`] adds `X-ADM-Auth-Session` and
//!    `X-Server-Protocol-Version` to each service request;
//!    [`Session::observe`] picks up a refreshed session token from a response
//!    and says when to authenticate again.
//!
//! The core builds and parses `http` crate values and never touches the
//! network. The `http` feature adds [`client`] (a blocking HTTPS client) and the
//! `simulator` feature adds [`simulator`] (a local stand-in for Apple's service).

pub(crate) mod oauth;

#[cfg(feature = "http")]
pub mod client;
#[cfg(feature = "simulator")]
pub use crate::simulator;

use core::fmt;

use http::{HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use rand_core::TryCryptoRng;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::{secret::SecretString, token::ServerToken};

/// Apple's device assignment service (`https://mdmenrollment.apple.com`), the
/// default base URL.
pub const DEFAULT_BASE_URL: &str = "https://mdmenrollment.apple.com";

/// The session endpoint's path, relative to the base URL.
pub const SESSION_PATH: &str = "/session";

/// The account details endpoint's path (*Fetch Account Details*,
/// `GET https://mdmenrollment.apple.com/account`).
pub const ACCOUNT_PATH: &str = "/account";

/// Request and response header that carries the session token
/// (`X-ADM-Auth-Session`).
pub const AUTH_SESSION_HEADER: &str = "x-adm-auth-session";

/// Request header that selects the protocol version of the device assignment
/// API (`X-Server-Protocol-Version`).
pub const PROTOCOL_VERSION_HEADER: &str = "x-server-protocol-version";

/// The protocol version mdmlink sends by default: `10`, the version whose
/// device records carry `os` and `device_family` (configurable per session
/// with [`Session::with_protocol_version`]).
pub const DEFAULT_PROTOCOL_VERSION: &str = "10";

/// The OAuth realm Apple's service expects (`realm="ADM"`).
pub const REALM: &str = "ADM";

/// Largest response body the parsers accept (1 MiB); a session or account
/// reply is a few hundred bytes.
pub const MAX_RESPONSE_BODY: usize = 1 << 20;

/// Why a session could not be obtained or used.
///
/// The 400/401/403 variants follow Apple's *Interpreting Automated Device
/// Enrollment error codes*: "Authentication errors are either a 400, 401, or
/// 403 error code." 400 means unsupported OAuth parameters or signature method,
/// a missing or duplicated parameter; 401 an invalid consumer key, an invalid
/// or expired token, an invalid signature or an invalid or already used
/// nonce; 403 a request the token may not make (body `ACCESS_DENIED`) or
/// terms and conditions that the organization has not accepted (body
/// `T_C_NOT_SIGNED`).
///
/// Problem texts from the server are reduced to at most 64 printable
/// characters; no message ever holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The base URL cannot be used.
    #[error("invalid device assignment service URL: {reason}")]
    InvalidUrl {
        /// What is wrong with it.
        reason: String,
    },
    /// The time is before 1970 (OAuth timestamps are seconds since the epoch).
    #[error("the request time is before 1970-01-01; check the clock")]
    InvalidTime,
    /// The nonce is empty or longer than 256 bytes.
    #[error("the OAuth nonce must be 1 to 256 bytes")]
    InvalidNonce,
    /// The random number generator failed (while making a nonce).
    #[error("the random number generator failed")]
    Random,
    /// HTTP 400: the service rejected the request's form (unsupported OAuth
    /// parameter or signature method, missing or duplicated parameter).
    #[error("the device assignment service rejected the request as malformed (HTTP 400){}", problem_suffix(.problem))]
    BadRequest {
        /// The service's problem text, if any.
        problem: Option<String>,
    },
    /// HTTP 401 at `/session`: invalid consumer key, token, signature or nonce.
    #[error("the device assignment service did not accept the server token (HTTP 401){}; check the clock, or download a new token from the portal", problem_suffix(.problem))]
    Unauthorized {
        /// The service's problem text (`signature_invalid`, `token_rejected`...), if any.
        problem: Option<String>,
    },
    /// HTTP 401 at `/session` saying the server token has expired.
    #[error("the server token has expired; download a new token from the portal and install it")]
    ExpiredToken,
    /// HTTP 401 from a service endpoint: the session is missing, invalid or
    /// expired. Obtain a new session (see [`Session::observe`]).
    #[error("the session is no longer valid (HTTP 401); obtain a new session")]
    SessionExpired,
    /// HTTP 403 `T_C_NOT_SIGNED`: the organization has not accepted the latest
    /// terms and conditions.
    #[error(
        "the organization has not accepted the latest terms and conditions (T_C_NOT_SIGNED); an administrator must sign in to the portal and accept them"
    )]
    TermsNotAccepted,
    /// HTTP 403 `ACCESS_DENIED`: this token may not make this request.
    #[error("access denied (HTTP 403 ACCESS_DENIED): this server token may not make this request")]
    AccessDenied,
    /// HTTP 403 with another code (`FORBIDDEN`...).
    #[error("forbidden (HTTP 403){}", problem_suffix(.code))]
    Forbidden {
        /// The response's code, if any.
        code: Option<String>,
    },
    /// HTTP 429: the service is rate limiting this server, whichever call
    /// it answered (a session or a device call: [`crate::dep::DepError`]
    /// reports it as this variant too).
    #[error("the device assignment service is rate limiting (HTTP 429); wait and retry{}", match .retry_after { Some(s) => format!(" (retry after {s} s)"), None => String::new() })]
    RateLimited {
        /// `retry_after_seconds` or `Retry-After` in seconds, if the service
        /// sent one.
        retry_after: Option<u64>,
    },
    /// Any other unsuccessful status.
    #[error("the device assignment service answered HTTP {status}{}", problem_suffix(.code))]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The response's code or text, if any.
        code: Option<String>,
    },
    /// A successful response whose body is not what the documentation says.
    #[error("unexpected response from the device assignment service: {reason}")]
    Malformed {
        /// What was wrong.
        reason: String,
    },
    /// A request header could not be built from the given values (a token
    /// or protocol version holding characters a header cannot carry).
    #[error("cannot build the request: {reason}")]
    InvalidHeader {
        /// Which header, without its value (it may be a secret).
        reason: String,
    },
    /// The HTTP exchange itself failed (`http` feature).
    #[error("could not reach the device assignment service: {reason}")]
    Transport {
        /// What failed.
        reason: String,
    },
}

fn problem_suffix(problem: &Option<String>) -> String {
    match problem {
        Some(p) => format!(": {p}"),
        None => String::new(),
    }
}

/// The OAuth protocol parameters of one signed request (RFC 5849 §3.1), with
/// the signature. Built by [`authorization`]; `Debug` hides the token.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthAuthorization {
    consumer_key: String,
    token: SecretString,
    timestamp: u64,
    nonce: String,
    signature: String,
    base_string: Zeroizing<String>,
}

impl OAuthAuthorization {
    /// The `Authorization` header value, in the order Apple's documentation
    /// shows: `OAuth realm="ADM", oauth_consumer_key="...", oauth_token="...",
    /// oauth_signature_method="HMAC-SHA1", oauth_timestamp="...",
    /// oauth_nonce="...", oauth_version="1.0", oauth_signature="..."`, every
    /// value percent-encoded (RFC 5849 §3.5.1). It carries the access token,
    /// so it is returned as a [`SecretString`].
    pub fn header_value(&self) -> SecretString {
        SecretString::new(format!(
            "OAuth realm=\"{REALM}\", oauth_consumer_key=\"{}\", oauth_token=\"{}\", \
             oauth_signature_method=\"HMAC-SHA1\", oauth_timestamp=\"{}\", oauth_nonce=\"{}\", \
             oauth_version=\"1.0\", oauth_signature=\"{}\"",
            oauth::percent_encode(&self.consumer_key),
            oauth::percent_encode(self.token.expose()),
            self.timestamp,
            oauth::percent_encode(&self.nonce),
            oauth::percent_encode(&self.signature),
        ))
    }

    /// The signature, base64 (before the header's percent-encoding).
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// The signature base string that was signed (RFC 5849 §3.4.1.1). It
    /// contains the access token.
    pub fn base_string(&self) -> &str {
        &self.base_string
    }

    /// `oauth_timestamp`.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// `oauth_nonce`.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }
}

impl fmt::Debug for OAuthAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthAuthorization")
            .field("consumer_key", &self.consumer_key)
            .field("token", &self.token)
            .field("timestamp", &self.timestamp)
            .field("nonce", &self.nonce)
            .field("signature", &self.signature)
            .finish_non_exhaustive()
    }
}

/// The protocol parameters that are signed (everything but `realm` and
/// `oauth_signature`, RFC 5849 §3.4.1.3.1).
fn protocol_parameters(token: &ServerToken, timestamp: u64, nonce: &str) -> Vec<(String, String)> {
    vec![
        ("oauth_consumer_key".into(), token.consumer_key().to_owned()),
        ("oauth_token".into(), token.access_token().to_owned()),
        ("oauth_signature_method".into(), "HMAC-SHA1".into()),
        ("oauth_timestamp".into(), timestamp.to_string()),
        ("oauth_nonce".into(), nonce.to_owned()),
        ("oauth_version".into(), "1.0".into()),
    ]
}

/// Signs `method url` with `token` (RFC 5849 §3.4, `HMAC-SHA1`, key
/// `enc(consumer_secret)&enc(access_secret)`), at time `now` with `nonce`.
/// Query parameters of `url` are signed too.
pub fn authorization(
    token: &ServerToken,
    method: &Method,
    url: &Uri,
    now: OffsetDateTime,
    nonce: &str,
) -> Result<OAuthAuthorization, SessionError> {
    if nonce.is_empty() || nonce.len() > 256 {
        return Err(SessionError::InvalidNonce);
    }
    let timestamp = u64::try_from(now.unix_timestamp()).map_err(|_| SessionError::InvalidTime)?;
    let mut params = oauth::query_parameters(url)?;
    params.extend(protocol_parameters(token, timestamp, nonce));
    let base_string = Zeroizing::new(oauth::signature_base_string(
        method.as_str(),
        &oauth::base_string_uri(url)?,
        &params,
    ));
    params
        .iter_mut()
        .for_each(|(_, v)| zeroize::Zeroize::zeroize(v));
    let signature = oauth::hmac_sha1(&base_string, token.consumer_secret(), token.access_secret());
    Ok(OAuthAuthorization {
        consumer_key: token.consumer_key().to_owned(),
        token: SecretString::from(token.access_token()),
        timestamp,
        nonce: nonce.to_owned(),
        signature,
        base_string,
    })
}

/// `base_url` + `path`, checked: `http` or `https`, a host, no query.
pub fn endpoint_url(base_url: &str, path: &str) -> Result<Uri, SessionError> {
    let base = base_url.trim_end_matches('/');
    let uri: Uri = format!("{base}{path}")
        .parse()
        .map_err(|e: http::uri::InvalidUri| SessionError::InvalidUrl {
            reason: format!("{e} ({})", oauth::printable(base_url)),
        })?;
    oauth::base_string_uri(&uri)?;
    if uri.query().is_some() {
        return Err(SessionError::InvalidUrl {
            reason: "the base URL must not have a query string".into(),
        });
    }
    Ok(uri)
}

/// Builds the signed `GET {base_url}/session` request that obtains a session
/// (Apple: *Authenticating with the Automated Device Enrollment program*,
/// "Use the OAuth credentials"). `base_url` is usually [`DEFAULT_BASE_URL`];
/// `now` and `nonce` are the caller's (see [`new_nonce`]).
///
/// The request carries `Authorization: OAuth realm="ADM", ...` (marked
/// sensitive) and `X-Server-Protocol-Version: 10` ([`DEFAULT_PROTOCOL_VERSION`]).
///
/// ```
/// use mdmlink::{ServerToken, session};
/// let expiry = time::macros::datetime!(2030-01-01 0:00 UTC);
/// let token = ServerToken::new("CK_1", "CS_2", "AT_3", "AS_4", expiry)?;
/// let now = time::macros::datetime!(2026-05-01 12:00 UTC);
/// let request = session::session_request(&token, session::DEFAULT_BASE_URL, now, "3f1c9a")?;
/// assert_eq!(request.uri(), "https://mdmenrollment.apple.com/session");
/// let auth = request.headers()["authorization"].to_str()?;
/// assert!(auth.starts_with(r#"OAuth realm="ADM", oauth_consumer_key="CK_1", oauth_token="AT_3""#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn session_request(
    token: &ServerToken,
    base_url: &str,
    now: OffsetDateTime,
    nonce: &str,
) -> Result<Request<()>, SessionError> {
    let url = endpoint_url(base_url, SESSION_PATH)?;
    let auth = authorization(token, &Method::GET, &url, now, nonce)?;
    let mut value = HeaderValue::from_str(auth.header_value().expose()).map_err(|_| {
        SessionError::InvalidHeader {
            reason: "the Authorization header is not a valid header value".into(),
        }
    })?;
    value.set_sensitive(true);
    let mut request = Request::new(());
    *request.method_mut() = Method::GET;
    *request.uri_mut() = url;
    let headers = request.headers_mut();
    headers.insert(header::AUTHORIZATION, value);
    headers.insert(
        PROTOCOL_VERSION_HEADER,
        HeaderValue::from_static(DEFAULT_PROTOCOL_VERSION),
    );
    headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    Ok(request)
}

/// A fresh 32-character hex nonce from `rng` (RFC 5849 §3.3: unique per
/// timestamp).
pub fn new_nonce<R: TryCryptoRng + ?Sized>(rng: &mut R) -> Result<String, SessionError> {
    let mut bytes = [0u8; 16];
    rng.try_fill_bytes(&mut bytes)
        .map_err(|_| SessionError::Random)?;
    Ok(crate::encoding::hex_lower(&bytes))
}

/// What a response body says: a JSON `code` (`{"code": "T_C_NOT_SIGNED"}`),
/// an OAuth problem report (`oauth_problem=token_expired&...`, the OAuth
/// Problem Reporting extension), or a bare word (`T_C_NOT_SIGNED`).
pub(crate) fn body_code(body: &[u8]) -> Option<String> {
    let text = core::str::from_utf8(body).ok()?.trim();
    if text.is_empty() {
        return None;
    }
    if text.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        for key in ["code", "error", "oauth_problem"] {
            if let Some(s) = value.get(key).and_then(|v| v.as_str()) {
                return Some(oauth::printable(s));
            }
        }
        return None;
    }
    for pair in text.split('&') {
        if let Some((name, value)) = pair.split_once('=')
            && (name == "oauth_problem" || name == "oauth_problem_adv")
        {
            return oauth::percent_decode(value, true).map(|v| oauth::printable(&v));
        }
    }
    let word = oauth::printable(text);
    (!word.is_empty()).then_some(word)
}

/// Where an error response came from: the OAuth endpoint or a service
/// endpoint (a 401 means different things).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Session,
    Service,
}

fn classify(
    status: StatusCode,
    headers: &http::HeaderMap,
    body: &[u8],
    at: Endpoint,
) -> SessionError {
    let code = body_code(body);
    let upper = code.as_deref().map(str::to_ascii_uppercase);
    match status.as_u16() {
        400 => SessionError::BadRequest { problem: code },
        401 if at == Endpoint::Service => SessionError::SessionExpired,
        401 if matches!(
            upper.as_deref(),
            Some("TOKEN_EXPIRED" | "EXPIRED_TOKEN" | "EXPIRED")
        ) =>
        {
            SessionError::ExpiredToken
        }
        401 => SessionError::Unauthorized { problem: code },
        403 => match upper.as_deref() {
            Some("T_C_NOT_SIGNED") => SessionError::TermsNotAccepted,
            Some("ACCESS_DENIED") => SessionError::AccessDenied,
            _ => SessionError::Forbidden { code },
        },
        429 => SessionError::RateLimited {
            retry_after: headers
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok()),
        },
        other => SessionError::Status {
            status: other,
            code,
        },
    }
}

/// The `/session` reply body (`{"auth_session_token": "..."}`).
#[derive(Deserialize)]
struct SessionBody {
    auth_session_token: String,
}

impl Drop for SessionBody {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.auth_session_token);
    }
}

/// Parses the reply to [`session_request`]: HTTP 200 with
/// `{"auth_session_token": "..."}` gives a [`Session`] for `base_url`; 400,
/// 401 and 403 give the typed errors Apple documents (see [`SessionError`]).
pub fn parse_session_response(
    response: &Response<Vec<u8>>,
    base_url: &str,
) -> Result<Session, SessionError> {
    let body = response.body();
    if !response.status().is_success() {
        return Err(classify(
            response.status(),
            response.headers(),
            body,
            Endpoint::Session,
        ));
    }
    if body.len() > MAX_RESPONSE_BODY {
        return Err(SessionError::Malformed {
            reason: format!("the session reply is {} bytes", body.len()),
        });
    }
    let parsed: SessionBody =
        serde_json::from_slice(body).map_err(|_| SessionError::Malformed {
            reason: "the session reply is not {\"auth_session_token\": \"...\"}".into(),
        })?;
    Session::new(parsed.auth_session_token.as_str(), base_url)
}

/// What [`Session::observe`] learned from a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Observation {
    /// The response is fine as far as the session goes.
    Ok,
    /// The service sent a new session token; the session now uses it.
    Refreshed,
    /// The session is no longer valid (HTTP 401, or 403 `FORBIDDEN` as
    /// Apple's simulator and some servers send for an unknown session):
    /// obtain a new one and retry the request once.
    Reauthenticate,
}

/// An open session with the device assignment service: the
/// `X-ADM-Auth-Session` token, the base URL and the protocol version.
///
/// The token is zeroized on drop and `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    token: SecretString,
    base_url: String,
    protocol_version: String,
}

impl Session {
    /// A session from a token the service issued, for `base_url`.
    pub fn new(auth_session_token: &str, base_url: &str) -> Result<Self, SessionError> {
        if auth_session_token.is_empty()
            || auth_session_token.len() > 4096
            || HeaderValue::from_str(auth_session_token).is_err()
        {
            return Err(SessionError::Malformed {
                reason: "the auth session token is empty, too long or not a header value".into(),
            });
        }
        endpoint_url(base_url, "")?;
        Ok(Self {
            token: SecretString::from(auth_session_token),
            base_url: base_url.trim_end_matches('/').to_owned(),
            protocol_version: DEFAULT_PROTOCOL_VERSION.to_owned(),
        })
    }

    /// Uses `version` for `X-Server-Protocol-Version` instead of
    /// [`DEFAULT_PROTOCOL_VERSION`].
    pub fn with_protocol_version(mut self, version: &str) -> Self {
        version.clone_into(&mut self.protocol_version);
        self
    }

    /// The session token (secret: it grants access until it expires).
    pub fn auth_session_token(&self) -> &str {
        self.token.expose()
    }

    /// The service's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The protocol version sent with each request.
    pub fn protocol_version(&self) -> &str {
        &self.protocol_version
    }

    /// The full URL of `path` (which starts with `/`) on this service.
    pub fn url(&self, path: &str) -> Result<Uri, SessionError> {
        endpoint_url(&self.base_url, path)
    }

    /// Adds `X-ADM-Auth-Session` (marked sensitive) and
    /// `X-Server-Protocol-Version` to `request`, replacing earlier values.
    pub fn authorize<B>(&self, request: &mut Request<B>) -> Result<(), SessionError> {
        let mut token = HeaderValue::from_str(self.token.expose()).map_err(|_| {
            SessionError::InvalidHeader {
                reason: "the session token is not a header value".into(),
            }
        })?;
        token.set_sensitive(true);
        let version = HeaderValue::from_str(&self.protocol_version).map_err(|_| {
            SessionError::InvalidHeader {
                reason: "the protocol version is not a header value".into(),
            }
        })?;
        let headers = request.headers_mut();
        headers.insert(AUTH_SESSION_HEADER, token);
        headers.insert(PROTOCOL_VERSION_HEADER, version);
        Ok(())
    }

    /// A `GET` request for `path` with the session headers.
    pub fn get(&self, path: &str) -> Result<Request<()>, SessionError> {
        let mut request = Request::new(());
        *request.uri_mut() = self.url(path)?;
        request
            .headers_mut()
            .insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        self.authorize(&mut request)?;
        Ok(request)
    }

    /// The *Fetch Account Details* request (`GET /account`).
    pub fn account_request(&self) -> Result<Request<()>, SessionError> {
        self.get(ACCOUNT_PATH)
    }

    /// Looks at a service response: takes a refreshed `X-ADM-Auth-Session`
    /// (Apple's service may return a new session token with any response),
    /// and says whether the session has to be renewed.
    pub fn observe<B>(&mut self, response: &Response<B>) -> Observation {
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED {
            return Observation::Reauthenticate;
        }
        if let Some(new) = response
            .headers()
            .get(AUTH_SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 4096)
            && new != self.token.expose()
        {
            self.token = SecretString::from(new);
            return Observation::Refreshed;
        }
        Observation::Ok
    }

    /// Like [`Session::observe`], and also reads the body of a 403 to spot
    /// `FORBIDDEN` (an unknown session on some servers), which needs a new
    /// session too.
    pub fn observe_with_body(&mut self, response: &Response<Vec<u8>>) -> Observation {
        if response.status() == StatusCode::FORBIDDEN
            && body_code(response.body()).is_some_and(|c| c.eq_ignore_ascii_case("FORBIDDEN"))
        {
            return Observation::Reauthenticate;
        }
        self.observe(response)
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("auth_session_token", &self.token)
            .field("base_url", &self.base_url)
            .field("protocol_version", &self.protocol_version)
            .finish()
    }
}

/// Checks a service response: success, or the typed error its status and
/// body say (401 is [`SessionError::SessionExpired`] here).
pub fn check_response(response: &Response<Vec<u8>>) -> Result<(), SessionError> {
    if response.status().is_success() {
        Ok(())
    } else {
        Err(classify(
            response.status(),
            response.headers(),
            response.body(),
            Endpoint::Service,
        ))
    }
}

/// The reply of *Fetch Account Details* (`GET /account`). Fields the
/// documentation lists are typed; anything else lands in `other`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Account {
    /// The MDM server's name in the portal.
    #[serde(default)]
    pub server_name: Option<String>,
    /// The server's UUID.
    #[serde(default)]
    pub server_uuid: Option<String>,
    /// The Apple Account of the administrator who made the token.
    #[serde(default)]
    pub admin_id: Option<String>,
    /// The organization's name.
    #[serde(default)]
    pub org_name: Option<String>,
    /// The organization's contact email.
    #[serde(default)]
    pub org_email: Option<String>,
    /// The organization's phone number.
    #[serde(default)]
    pub org_phone: Option<String>,
    /// The organization's address.
    #[serde(default)]
    pub org_address: Option<String>,
    /// `edu` or `org`.
    #[serde(default)]
    pub org_type: Option<String>,
    /// `v1` (Apple Deployment Programs) or `v2` (Apple School/Business Manager).
    #[serde(default)]
    pub org_version: Option<String>,
    /// The organization's identifier.
    #[serde(default)]
    pub org_id: Option<String>,
    /// A hash of the organization's identifier.
    #[serde(default)]
    pub org_id_hash: Option<String>,
    /// Every other field, as sent.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// Parses a *Fetch Account Details* reply (after [`check_response`] errors).
pub fn parse_account_response(response: &Response<Vec<u8>>) -> Result<Account, SessionError> {
    check_response(response)?;
    if response.body().len() > MAX_RESPONSE_BODY {
        return Err(SessionError::Malformed {
            reason: "the account reply is too large".into(),
        });
    }
    serde_json::from_slice(response.body()).map_err(|e| SessionError::Malformed {
        reason: format!("the account reply is not the documented JSON object ({e})"),
    })
}

#[cfg(test)]
mod tests;
