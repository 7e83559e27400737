//! The access token: requested from Apple's token endpoint with the client
//! assertion (OAuth 2 client credentials, RFC 6749 §4.4, authenticated by
//! a JWT per RFC 7523 §2.2), valid `expires_in` seconds (3600), kept per
//! account in a [`TokenCache`] until shortly before it expires.
//!
//! The cache lets one caller at a time fetch a token for an account: the
//! others wait for it and use it, so N threads starting together make one
//! request. After a 401 the client asks the cache to [`TokenCache::renew`]
//! the token it used; if another thread renewed it meanwhile, that token is
//! returned without a second fetch.

use core::fmt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Deserialize;
use time::{Duration, OffsetDateTime};

use super::{ApiAccount, PortalApiError};
use crate::SecretString;

/// `client_assertion_type` for a JWT client assertion (RFC 7523 §2.2).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long before its expiry a cached token is replaced.
pub const REFRESH_MARGIN: Duration = Duration::seconds(60);

/// Largest token endpoint reply read.
pub const MAX_TOKEN_REPLY: usize = 64 * 1024;

/// An access token. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    token: SecretString,
    expires_at: OffsetDateTime,
    scope: Option<String>,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .finish()
    }
}

impl AccessToken {
    /// A token valid until `expires_at`.
    pub fn new(token: SecretString, expires_at: OffsetDateTime, scope: Option<String>) -> Self {
        Self {
            token,
            expires_at,
            scope,
        }
    }

    /// The bearer token.
    pub fn secret(&self) -> &SecretString {
        &self.token
    }

    /// When it expires.
    pub fn expires_at(&self) -> OffsetDateTime {
        self.expires_at
    }

    /// The scope the endpoint granted, if it said.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// Still usable at `now` (more than [`REFRESH_MARGIN`] left).
    pub fn is_fresh(&self, now: OffsetDateTime) -> bool {
        self.expires_at - REFRESH_MARGIN > now
    }
}

fn form_encode(out: &mut String, key: &str, value: &str) {
    if !out.is_empty() {
        out.push('&');
    }
    out.push_str(key);
    out.push('=');
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// The token request's body (`application/x-www-form-urlencoded`):
/// `grant_type=client_credentials`, `client_id`, `client_assertion_type`,
/// `client_assertion`, `scope`.
pub fn request_body(account: &ApiAccount, assertion: &SecretString) -> SecretString {
    let mut out = String::with_capacity(assertion.len() + 256);
    form_encode(&mut out, "grant_type", "client_credentials");
    form_encode(&mut out, "client_id", account.client_id());
    form_encode(&mut out, "client_assertion_type", ASSERTION_TYPE);
    form_encode(&mut out, "client_assertion", assertion.expose());
    form_encode(&mut out, "scope", account.scope().as_str());
    SecretString::new(out)
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<i64>,
    scope: Option<String>,
}

#[derive(Deserialize)]
struct OAuthError {
    error: Option<String>,
    error_description: Option<String>,
}

/// Reads the token endpoint's reply received at `now`.
pub fn parse_reply(
    status: u16,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<AccessToken, PortalApiError> {
    if !(200..300).contains(&status) {
        let parsed: Option<OAuthError> = serde_json::from_slice(body).ok();
        let printable = |s: Option<String>| s.as_deref().map(super::error::printable);
        return Err(match status {
            429 => PortalApiError::RateLimited {
                retry_after_seconds: None,
            },
            500..=599 => PortalApiError::Unavailable {
                status,
                attempts: 1,
            },
            _ => PortalApiError::TokenRefused {
                status,
                error: printable(parsed.as_ref().and_then(|p| p.error.clone())),
                description: printable(parsed.and_then(|p| p.error_description)),
            },
        });
    }
    let reply: TokenReply =
        serde_json::from_slice(body).map_err(|e| PortalApiError::Malformed {
            reason: format!("the token endpoint's reply is not the JSON OAuth documents ({e})"),
        })?;
    let token = reply
        .access_token
        .filter(|t| !t.is_empty() && t.len() <= 8192 && t.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| PortalApiError::Malformed {
            reason: "the token endpoint's reply has no usable access_token".into(),
        })?;
    if let Some(kind) = &reply.token_type
        && !kind.eq_ignore_ascii_case("bearer")
    {
        return Err(PortalApiError::Malformed {
            reason: format!(
                "token_type is {}, not Bearer",
                super::error::printable(kind)
            ),
        });
    }
    // Apple documents 3600; an absent or odd value is read as Apple's.
    let lifetime = reply
        .expires_in
        .filter(|s| (1..=86_400).contains(s))
        .unwrap_or(3600);
    Ok(AccessToken::new(
        SecretString::new(token),
        now + Duration::seconds(lifetime),
        reply.scope.as_deref().map(super::error::printable),
    ))
}

type Slot = Arc<Mutex<Option<AccessToken>>>;

/// Access tokens per account, shared by clients and threads. One fetch at
/// a time per account; other accounts are not blocked.
#[derive(Default)]
pub struct TokenCache {
    slots: Mutex<HashMap<String, Slot>>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache").finish_non_exhaustive()
    }
}

impl TokenCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The key of an account at a token endpoint.
    pub fn key(token_url: &str, client_id: &str) -> String {
        format!("{token_url}\n{client_id}")
    }

    fn slot(&self, key: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.entry(key.to_owned()).or_default().clone()
    }

    /// The account's token: the cached one while fresh at `now`, otherwise
    /// one from `fetch` (called by one thread at a time per account).
    pub fn current(
        &self,
        key: &str,
        now: impl Fn() -> OffsetDateTime,
        fetch: impl FnOnce() -> Result<AccessToken, PortalApiError>,
    ) -> Result<AccessToken, PortalApiError> {
        let slot = self.slot(key);
        let mut cached = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(token) = cached.as_ref()
            && token.is_fresh(now())
        {
            return Ok(token.clone());
        }
        let token = fetch()?;
        *cached = Some(token.clone());
        Ok(token)
    }

    /// After `refused` was answered 401: a new token, unless another
    /// caller already replaced it (then that one).
    pub fn renew(
        &self,
        key: &str,
        refused: &AccessToken,
        fetch: impl FnOnce() -> Result<AccessToken, PortalApiError>,
    ) -> Result<AccessToken, PortalApiError> {
        let slot = self.slot(key);
        let mut cached = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(token) = cached.as_ref()
            && token.secret() != refused.secret()
        {
            return Ok(token.clone());
        }
        *cached = None;
        let token = fetch()?;
        *cached = Some(token.clone());
        Ok(token)
    }

    /// Forgets the account's token.
    pub fn forget(&self, key: &str) {
        *self
            .slot(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap()
    }

    #[test]
    fn request_body_is_the_form_apple_documents() {
        let key = crate::portal_api::ApiKey::generate(&mut crate::SystemRng::default()).unwrap();
        let account = ApiAccount::new("SCHOOLAPI.abc-1", "k", key).unwrap();
        let body = request_body(&account, &SecretString::from("h.c.s+/="));
        assert_eq!(
            body.expose(),
            "grant_type=client_credentials&client_id=SCHOOLAPI.abc-1&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=h.c.s%2B%2F%3D&scope=school.api"
        );
    }

    #[test]
    fn replies_parse_and_refusals_are_typed() {
        let t = parse_reply(200, br#"{"access_token":"abc.def","token_type":"Bearer","expires_in":3600,"scope":"business.api"}"#, now()).unwrap();
        assert_eq!(t.secret().expose(), "abc.def");
        assert_eq!(t.expires_at(), now() + Duration::hours(1));
        assert!(t.is_fresh(now() + Duration::minutes(58)));
        assert!(!t.is_fresh(now() + Duration::minutes(59)));
        assert!(!format!("{t:?}").contains("abc.def"));
        let e = parse_reply(
            400,
            br#"{"error":"invalid_client","error_description":"bad sig"}"#,
            now(),
        )
        .unwrap_err();
        assert!(
            matches!(&e, PortalApiError::TokenRefused { error: Some(c), .. } if c == "invalid_client"),
            "{e}"
        );
        assert!(e.to_string().contains("bad sig"));
        assert!(parse_reply(200, br#"{"token_type":"Bearer"}"#, now()).is_err());
        assert!(parse_reply(200, br#"{"access_token":"a","token_type":"MAC"}"#, now()).is_err());
        assert!(matches!(
            parse_reply(503, b"", now()),
            Err(PortalApiError::Unavailable { .. })
        ));
    }

    #[test]
    fn n_threads_make_one_fetch_and_renew_once() {
        let cache = Arc::new(TokenCache::new());
        let fetches = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let cache = cache.clone();
                let fetches = fetches.clone();
                std::thread::spawn(move || {
                    cache
                        .current("k", now, || {
                            let n = fetches.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(50));
                            Ok(AccessToken::new(
                                format!("t{n}").into(),
                                now() + Duration::hours(1),
                                None,
                            ))
                        })
                        .unwrap()
                })
            })
            .collect();
        let tokens: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        assert!(tokens.iter().all(|t| t.secret().expose() == "t0"));
        // Two callers refused with t0: one fetch.
        let t1 = cache
            .renew("k", &tokens[0], || {
                Ok(AccessToken::new(
                    "t1".into(),
                    now() + Duration::hours(1),
                    None,
                ))
            })
            .unwrap();
        let again = cache
            .renew("k", &tokens[1], || panic!("fetched twice"))
            .unwrap();
        assert_eq!(
            (t1.secret().expose(), again.secret().expose()),
            ("t1", "t1")
        );
        // Another account is independent; an expired token is replaced.
        let other = cache
            .current("k2", now, || {
                Ok(AccessToken::new(
                    "x".into(),
                    now() + Duration::seconds(30),
                    None,
                ))
            })
            .unwrap();
        assert_eq!(other.secret().expose(), "x");
        let next = cache
            .current("k2", now, || {
                Ok(AccessToken::new(
                    "y".into(),
                    now() + Duration::hours(1),
                    None,
                ))
            })
            .unwrap();
        assert_eq!(next.secret().expose(), "y");
    }
}
