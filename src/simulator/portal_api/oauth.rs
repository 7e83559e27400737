//! The token endpoint (`POST /auth/oauth2/token`) and bearer tokens.
//!
//! A token request is a client-credentials grant authenticated by a client
//! assertion (RFC 7523): a compact JWS, ES256 under the API account's P-256
//! key. The simulator checks it as Apple documents: header `alg` ES256 and
//! `kid` the account's key ID, `sub` (and `iss` when present) the client
//! ID, `aud` Apple's token audience, `exp` in the future and at most 180
//! days after `iat`, a `jti` not seen before, and the `scope` of the
//! account's platform. Failures are OAuth 2 errors (RFC 6749 §5.2).

use std::collections::{HashMap, HashSet, VecDeque};

use base64::Engine as _;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use p256::ecdsa::{Signature, signature::Verifier as _};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::documents::ApiError;
use super::{ApiPlatform, PortalState};
use crate::session::oauth::percent_decode;

/// The `aud` Apple wants in a client assertion.
pub const ASSERTION_AUDIENCE: &str = "https://account.apple.com/auth/oauth2/v2/token";
/// The `client_assertion_type` of a JWT client assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How long an access token lives (Apple: one hour).
pub const ACCESS_TOKEN_LIFETIME: time::Duration = time::Duration::seconds(3600);
/// The longest an assertion may live (`exp - iat`).
pub const MAX_ASSERTION_LIFETIME: time::Duration = time::Duration::days(180);
/// How far in the future `iat` may be (clock skew).
const IAT_SKEW: time::Duration = time::Duration::seconds(60);
/// Longest assertion read.
const MAX_ASSERTION_LEN: usize = 8 * 1024;
/// Access tokens remembered (oldest dropped first).
const TOKEN_MEMORY: usize = 4096;
/// Assertion IDs remembered against replay (oldest forgotten first).
const JTI_MEMORY: usize = 65_536;

struct IssuedToken {
    client_id: String,
    expires: OffsetDateTime,
}

/// Issued access tokens and used assertion IDs.
#[derive(Default)]
pub(crate) struct Tokens {
    issued: HashMap<String, IssuedToken>,
    order: VecDeque<String>,
    jtis: HashSet<String>,
    jti_order: VecDeque<String>,
}

impl Tokens {
    /// Forgets every access token (each next request gets 401).
    pub(crate) fn expire_all(&mut self) {
        self.issued.clear();
        self.order.clear();
    }

    fn remember_jti(&mut self, key: String) -> bool {
        if self.jtis.contains(&key) {
            return false;
        }
        if self.jti_order.len() >= JTI_MEMORY
            && let Some(old) = self.jti_order.pop_front()
        {
            self.jtis.remove(&old);
        }
        self.jtis.insert(key.clone());
        self.jti_order.push_back(key);
        true
    }

    fn issue(&mut self, client_id: &str, expires: OffsetDateTime) -> Option<String> {
        let mut bytes = [0u8; 32];
        rand_core::TryRng::try_fill_bytes(&mut crate::SystemRng::default(), &mut bytes).ok()?;
        let token = crate::encoding::hex_lower(&bytes);
        if self.order.len() >= TOKEN_MEMORY
            && let Some(old) = self.order.pop_front()
        {
            self.issued.remove(&old);
        }
        self.issued.insert(
            token.clone(),
            IssuedToken {
                client_id: client_id.to_owned(),
                expires,
            },
        );
        self.order.push_back(token.clone());
        Some(token)
    }
}

/// An OAuth 2 error reply.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response<Vec<u8>> {
    let mut response = super::documents::document(
        status,
        &json!({ "error": error, "error_description": description }),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn invalid_request(description: &str) -> Response<Vec<u8>> {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_request", description)
}

fn invalid_client(description: &str) -> Response<Vec<u8>> {
    oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", description)
}

/// The token request's parameters: the query string, plus a form body.
/// A refusal is the `error_description` of an `invalid_request`.
fn parameters(request: &Request<Vec<u8>>) -> Result<Vec<(String, String)>, String> {
    let mut sources = vec![request.uri().query().unwrap_or("").to_owned()];
    if !request.body().is_empty() {
        let form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';').next().is_some_and(|t| {
                    t.trim()
                        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
                })
            });
        if !form {
            return Err("The body must be application/x-www-form-urlencoded.".into());
        }
        let Ok(body) = core::str::from_utf8(request.body()) else {
            return Err("The body is not UTF-8.".into());
        };
        sources.push(body.to_owned());
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for source in &sources {
        for part in source.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            let (Some(name), Some(value)) =
                (percent_decode(name, true), percent_decode(value, true))
            else {
                return Err("A parameter is not valid percent-encoding.".into());
            };
            if out.iter().any(|(n, _)| *n == name) {
                return Err(format!(
                    "The parameter '{}' appears more than once.",
                    crate::session::oauth::printable(&name)
                ));
            }
            if out.len() >= 32 {
                return Err("Too many parameters.".into());
            }
            out.push((name, value));
        }
    }
    Ok(out)
}

/// `POST /auth/oauth2/token`.
pub(crate) fn token_endpoint(
    portal: &mut PortalState,
    request: &Request<Vec<u8>>,
    now: OffsetDateTime,
) -> Response<Vec<u8>> {
    if request.method() != Method::POST {
        let mut r = oauth_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "The token endpoint takes POST.",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    let params = match parameters(request) {
        Ok(p) => p,
        Err(problem) => return invalid_request(&problem),
    };
    let get = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(grant_type) = get("grant_type") else {
        return invalid_request("grant_type is missing.");
    };
    if grant_type != "client_credentials" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be client_credentials.",
        );
    }
    let (Some(client_id), Some(assertion_type), Some(assertion)) = (
        get("client_id"),
        get("client_assertion_type"),
        get("client_assertion"),
    ) else {
        return invalid_request(
            "client_id, client_assertion_type and client_assertion are required.",
        );
    };
    if assertion_type != ASSERTION_TYPE {
        return invalid_request(&format!("client_assertion_type must be {ASSERTION_TYPE}."));
    }
    let Some(scope) = get("scope") else {
        return invalid_request("scope is missing.");
    };
    let Some(org) = portal.org_index(client_id) else {
        return invalid_client("Unknown client_id.");
    };
    let account = &portal.orgs[org].account;
    let (key_id, key, platform) = (
        account.key_id.clone(),
        account.verifying_key,
        account.platform(),
    );
    let jti = match verify_assertion(assertion, client_id, &key_id, &key, now) {
        Ok(jti) => jti,
        Err(problem) => return invalid_client(&problem),
    };
    if scope != platform.scope() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            &format!("This account's scope is {}.", platform.scope()),
        );
    }
    if !portal.tokens.remember_jti(format!("{client_id}\u{0}{jti}")) {
        return invalid_client("The assertion's jti was already used: sign a new assertion.");
    }
    let Some(token) = portal.tokens.issue(client_id, now + ACCESS_TOKEN_LIFETIME) else {
        return oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "No randomness for a token.",
        );
    };
    let mut response = super::documents::document(
        StatusCode::OK,
        &json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_LIFETIME.whole_seconds(),
            "scope": platform.scope(),
        }),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn b64_json(part: &str, what: &str) -> Result<serde_json::Map<String, Value>, String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| format!("The assertion's {what} is not base64url without padding."))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(format!("The assertion's {what} is not a JSON object.")),
    }
}

fn int_claim(claims: &serde_json::Map<String, Value>, name: &str) -> Result<i64, String> {
    claims.get(name).and_then(Value::as_i64).ok_or_else(|| {
        format!("The assertion needs a numeric '{name}' claim (seconds since 1970).")
    })
}

/// Checks an assertion; returns its `jti`, or what is wrong with it.
fn verify_assertion(
    assertion: &str,
    client_id: &str,
    key_id: &str,
    key: &p256::ecdsa::VerifyingKey,
    now: OffsetDateTime,
) -> Result<String, String> {
    if assertion.len() > MAX_ASSERTION_LEN {
        return Err("The assertion is too long.".into());
    }
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header_b64, claims_b64, signature_b64] = parts.as_slice() else {
        return Err("The assertion is not a compact JWS (three dot-separated parts).".into());
    };
    let header = b64_json(header_b64, "header")?;
    if header.get("alg").and_then(Value::as_str) != Some("ES256") {
        return Err("The assertion's alg must be ES256.".into());
    }
    if header.get("kid").and_then(Value::as_str) != Some(key_id) {
        return Err("The assertion's kid is not this account's key ID.".into());
    }
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| "The assertion's signature is not base64url without padding.".to_owned())?;
    let signature = Signature::from_slice(&signature)
        .map_err(|_| "The assertion's signature is not a 64-byte ES256 r||s value.".to_owned())?;
    let signed = &assertion[..header_b64.len() + 1 + claims_b64.len()];
    key.verify(signed.as_bytes(), &signature).map_err(|_| {
        "The assertion's signature does not verify with this account's key.".to_owned()
    })?;

    let claims = b64_json(claims_b64, "payload")?;
    if claims.get("sub").and_then(Value::as_str) != Some(client_id) {
        return Err("The assertion's sub must be the client ID.".into());
    }
    if let Some(iss) = claims.get("iss")
        && iss.as_str() != Some(client_id)
    {
        return Err("The assertion's iss must be the client ID.".into());
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == ASSERTION_AUDIENCE,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(ASSERTION_AUDIENCE)),
        _ => false,
    };
    if !audience_ok {
        return Err(format!("The assertion's aud must be {ASSERTION_AUDIENCE}."));
    }
    let iat = int_claim(&claims, "iat")?;
    let exp = int_claim(&claims, "exp")?;
    let now_s = now.unix_timestamp();
    if exp <= now_s {
        return Err("The assertion has expired (exp is not in the future).".into());
    }
    if iat > now_s.saturating_add(IAT_SKEW.whole_seconds()) {
        return Err("The assertion's iat is in the future.".into());
    }
    if exp <= iat {
        return Err("The assertion's exp is not after its iat.".into());
    }
    if exp.saturating_sub(iat) > MAX_ASSERTION_LIFETIME.whole_seconds() {
        return Err("The assertion's exp is more than 180 days after its iat.".into());
    }
    match claims.get("jti").and_then(Value::as_str) {
        Some(jti) if !jti.is_empty() && jti.len() <= 256 => Ok(jti.to_owned()),
        _ => Err("The assertion needs a jti (a unique ID, at most 256 characters).".into()),
    }
}

/// The organization whose valid bearer token the request carries.
pub(crate) fn authenticate(
    portal: &PortalState,
    request: &Request<Vec<u8>>,
    now: OffsetDateTime,
) -> Result<usize, ApiError> {
    let Some(value) = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(ApiError::unauthorized(
            "The request has no Authorization header: send 'Authorization: Bearer ACCESS_TOKEN'.",
        ));
    };
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => {
            return Err(ApiError::unauthorized(
                "The Authorization header must be 'Bearer ACCESS_TOKEN'.",
            ));
        }
    };
    match portal.tokens.issued.get(token) {
        Some(t) if t.expires > now => portal
            .org_index(&t.client_id)
            .ok_or_else(|| ApiError::unauthorized("The access token's account no longer exists.")),
        Some(_) => Err(ApiError::unauthorized(
            "The access token has expired: request a new one.",
        )),
        None => Err(ApiError::unauthorized(
            "The access token is not valid: request a new one.",
        )),
    }
}

impl ApiPlatform {
    /// The OAuth scope of the platform.
    pub fn scope(self) -> &'static str {
        match self {
            ApiPlatform::Business => "business.api",
            ApiPlatform::School => "school.api",
        }
    }
}
