//! The blocking client: one API account at one API base URL, over any
//! [`Transport`] (the ureq one with feature `http`, or a test's), with time,
//! sleeping and randomness from an [`Environment`].
//!
//! What it does around every request:
//! - an access token from the [`TokenCache`] (one fetch at a time per
//!   account); a 401 fetches one new token and replays the request once;
//! - 429: waits `Retry-After` (seconds or an HTTP date) and retries, as long
//!   as the waits stay within [`RetryPolicy::rate_limit_budget`], then
//!   [`PortalApiError::RateLimited`] (a 429 is safe to retry: the request
//!   was refused, not applied);
//! - 5xx or no reply on a GET: a few retries after jittered exponential
//!   waits, then [`PortalApiError::Unavailable`]; on a POST, PATCH or DELETE
//!   the service may have applied the change, so it is never retried:
//!   [`PortalApiError::Uncertain`];
//! - any other error status: the JSON:API `errors[]` as one
//!   [`PortalApiError::Api`] with advice.
//!
//! Lists come page by page ([`Pages`]); Business-only endpoints fail with
//! [`PortalApiError::BusinessOnly`] on a School account before any request.

use core::fmt;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use http::{HeaderValue, Method, Request, Response, header};
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use super::assertion::{AssertionOptions, client_assertion};
use super::document::{origin, parse};
use super::error::classify;
use super::token::{self, AccessToken, TokenCache};
use super::{ApiAccount, ApiScope, MAX_REPLY_BODY, PortalApiError, TOKEN_URL, USER_AGENT};

/// Sends one HTTP request and returns the reply, whatever its status
/// (`Err` only when no reply came). Implementations bound the reply body
/// ([`MAX_REPLY_BODY`]) and the time spent.
pub trait Transport: Send + Sync {
    /// Sends `request`.
    fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, PortalApiError>;
}

/// Time, sleeping and randomness, passed in (tests use a fake clock that
/// advances when the client sleeps).
pub trait Environment: Send + Sync {
    /// The current time.
    fn now(&self) -> OffsetDateTime;
    /// Waits `duration`.
    fn sleep(&self, duration: StdDuration);
    /// Fills `buf` with cryptographically secure random bytes.
    fn fill_random(&self, buf: &mut [u8]) -> Result<(), PortalApiError>;
}

/// The system clock, `std::thread::sleep` and the operating system's RNG.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemEnvironment;

impl Environment for SystemEnvironment {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn sleep(&self, duration: StdDuration) {
        std::thread::sleep(duration);
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<(), PortalApiError> {
        use rand_core::TryRng as _;
        crate::SystemRng::default()
            .try_fill_bytes(buf)
            .map_err(|_| PortalApiError::Random)
    }
}

/// An [`Environment`]'s randomness as a `rand_core` RNG.
struct EnvironmentRng<'a>(&'a dyn Environment);

/// The environment's RNG failed.
#[derive(Debug)]
struct RandomFailure;

impl fmt::Display for RandomFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the random number generator failed")
    }
}

impl core::error::Error for RandomFailure {}

impl rand_core::TryRng for EnvironmentRng<'_> {
    type Error = RandomFailure;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0.fill_random(dst).map_err(|_| RandomFailure)
    }
}

impl rand_core::TryCryptoRng for EnvironmentRng<'_> {}

/// How failed requests are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// The most time spent waiting for 429s in one call (5 minutes).
    pub rate_limit_budget: StdDuration,
    /// The wait after a 429 without a usable `Retry-After` (10 s).
    pub default_retry_after: StdDuration,
    /// Retries of a GET after a 5xx or no reply (3).
    pub server_error_retries: u32,
    /// The first wait before such a retry, doubled each time, jittered
    /// between half and all of it, at most 30 s (1 s).
    pub server_error_backoff: StdDuration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            rate_limit_budget: StdDuration::from_secs(300),
            default_retry_after: StdDuration::from_secs(10),
            server_error_retries: 3,
            server_error_backoff: StdDuration::from_secs(1),
        }
    }
}

/// `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP date, as a
/// wait from `now` (a date in the past is no wait).
pub fn parse_retry_after(value: &str, now: OffsetDateTime) -> Option<StdDuration> {
    let value = value.trim();
    if !value.is_empty() && value.len() <= 10 && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(StdDuration::from_secs);
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(value, format)
        .ok()?
        .assume_utc();
    let wait = at - now;
    Some(if wait.is_positive() {
        StdDuration::from_secs(wait.whole_seconds().unsigned_abs())
    } else {
        StdDuration::ZERO
    })
}

/// A client for one API account.
#[derive(Clone)]
pub struct PortalApiClient {
    account: Arc<ApiAccount>,
    base_url: String,
    token_url: String,
    transport: Arc<dyn Transport>,
    environment: Arc<dyn Environment>,
    cache: Arc<TokenCache>,
    retry: RetryPolicy,
    assertion: AssertionOptions,
}

impl fmt::Debug for PortalApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortalApiClient")
            .field("client_id", &self.account.client_id())
            .field("base_url", &self.base_url)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

impl PortalApiClient {
    /// A client for `account` over `transport`, at Apple's URLs for the
    /// account's scope, with the system environment, its own token cache
    /// and the default retry policy.
    pub fn new(account: ApiAccount, transport: Arc<dyn Transport>) -> Self {
        let base_url = account.scope().default_base_url().to_owned();
        Self {
            account: Arc::new(account),
            base_url,
            token_url: TOKEN_URL.to_owned(),
            transport,
            environment: Arc::new(SystemEnvironment),
            cache: Arc::new(TokenCache::new()),
            retry: RetryPolicy::default(),
            assertion: AssertionOptions::default(),
        }
    }

    /// Over HTTPS with ureq ([`super::transport::UreqTransport`]).
    #[cfg(feature = "http")]
    pub fn https(account: ApiAccount) -> Self {
        Self::new(account, Arc::new(super::transport::UreqTransport::new()))
    }

    /// The API at `base_url` (a simulator's, say) instead of Apple's.
    pub fn with_base_url(mut self, base_url: &str) -> Result<Self, PortalApiError> {
        origin(base_url)?;
        self.base_url = base_url.trim_end_matches('/').to_owned();
        Ok(self)
    }

    /// The token endpoint at `token_url` instead of Apple's.
    pub fn with_token_url(mut self, token_url: &str) -> Result<Self, PortalApiError> {
        origin(token_url)?;
        token_url.clone_into(&mut self.token_url);
        Ok(self)
    }

    /// Time, sleeping and randomness from `environment`.
    pub fn with_environment(mut self, environment: Arc<dyn Environment>) -> Self {
        self.environment = environment;
        self
    }

    /// Shares `cache` with other clients.
    pub fn with_cache(mut self, cache: Arc<TokenCache>) -> Self {
        self.cache = cache;
        self
    }

    /// Retries as `policy` says.
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Makes assertions as `options` say (their lifetime, say).
    pub fn with_assertion_options(mut self, options: AssertionOptions) -> Self {
        self.assertion = options;
        self
    }

    /// The account.
    pub fn account(&self) -> &ApiAccount {
        &self.account
    }

    /// The account's scope.
    pub fn scope(&self) -> ApiScope {
        self.account.scope()
    }

    /// The API base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The token cache.
    pub fn cache(&self) -> &Arc<TokenCache> {
        &self.cache
    }

    fn cache_key(&self) -> String {
        TokenCache::key(&self.token_url, self.account.client_id())
    }

    /// The access token: cached, or fetched now.
    pub fn access_token(&self) -> Result<AccessToken, PortalApiError> {
        self.cache.current(
            &self.cache_key(),
            || self.environment.now(),
            || self.fetch_token(),
        )
    }

    /// Requests a new access token (not cached; see [`Self::access_token`]).
    pub fn fetch_token(&self) -> Result<AccessToken, PortalApiError> {
        let response = self.send_retrying(
            "requesting an access token",
            true,
            &mut |_| {
                let assertion = client_assertion(
                    &self.account,
                    self.environment.now(),
                    &self.assertion,
                    &mut EnvironmentRng(&*self.environment),
                )?;
                let body = token::request_body(&self.account, &assertion);
                let mut request = self.request(Method::POST, &self.token_url, None)?;
                request.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
                *request.body_mut() = body.expose().as_bytes().to_vec();
                Ok(request)
            },
            false,
        );
        let response = response?;
        token::parse_reply(
            response.status().as_u16(),
            response.body(),
            self.environment.now(),
        )
    }

    fn request(
        &self,
        method: Method,
        url: &str,
        token: Option<&AccessToken>,
    ) -> Result<Request<Vec<u8>>, PortalApiError> {
        let uri: http::Uri = url.parse().map_err(|_| PortalApiError::InvalidArgument {
            reason: format!("{} is not a URL", super::error::printable(url)),
        })?;
        let mut request = Request::new(Vec::new());
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(token) = token {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.secret().expose()))
                .map_err(|_| PortalApiError::Malformed {
                reason: "the access token is not a header value".into(),
            })?;
            value.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, value);
        }
        Ok(request)
    }

    fn backoff(&self, failure: u32) -> StdDuration {
        let base = self.retry.server_error_backoff.as_secs_f64()
            * 2f64.powi(failure.saturating_sub(1).min(16) as i32);
        let mut b = [0u8; 2];
        let unit = match self.environment.fill_random(&mut b) {
            Ok(()) => f64::from(u16::from_le_bytes(b)) / 65_536.0,
            Err(_) => 0.5,
        };
        StdDuration::from_secs_f64((base * (0.5 + unit / 2.0)).min(30.0))
    }

    /// Sends what `make` builds (`make(true)` after a 401: with a renewed
    /// token), retrying as the module documents. `idempotent`: a 5xx or a
    /// lost reply may be retried. `api`: a reply of Apple's API (a 401
    /// renews the token, other errors are JSON:API); otherwise the token
    /// endpoint's, whose errors are returned as replies for OAuth parsing.
    fn send_retrying(
        &self,
        operation: &str,
        idempotent: bool,
        make: &mut dyn FnMut(bool) -> Result<Request<Vec<u8>>, PortalApiError>,
        api: bool,
    ) -> Result<Response<Vec<u8>>, PortalApiError> {
        let mut rate_waited = StdDuration::ZERO;
        let mut failures = 0u32;
        let mut attempts = 0u32;
        let mut renewed = false;
        let mut request = make(false)?;
        loop {
            attempts += 1;
            let response = match self.transport.send(request.clone()) {
                Ok(r) => r,
                Err(e @ PortalApiError::Transport { .. }) => {
                    if !idempotent {
                        return Err(PortalApiError::Uncertain {
                            operation: operation.to_owned(),
                            status: None,
                        });
                    }
                    if failures >= self.retry.server_error_retries {
                        return Err(e);
                    }
                    failures += 1;
                    self.environment.sleep(self.backoff(failures));
                    continue;
                }
                Err(e) => return Err(e),
            };
            if response.body().len() > MAX_REPLY_BODY {
                return Err(PortalApiError::Malformed {
                    reason: format!("a reply of more than {MAX_REPLY_BODY} bytes"),
                });
            }
            let status = response.status().as_u16();
            match status {
                200..=299 => return Ok(response),
                401 if api && !renewed => {
                    renewed = true;
                    request = make(true)?;
                }
                429 => {
                    let wait = response
                        .headers()
                        .get(header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, self.environment.now()))
                        .unwrap_or(self.retry.default_retry_after);
                    if rate_waited + wait > self.retry.rate_limit_budget {
                        return Err(PortalApiError::RateLimited {
                            retry_after_seconds: Some(wait.as_secs()),
                        });
                    }
                    self.environment.sleep(wait);
                    rate_waited += wait;
                }
                500..=599 if !idempotent => {
                    return Err(PortalApiError::Uncertain {
                        operation: operation.to_owned(),
                        status: Some(status),
                    });
                }
                500..=599 => {
                    if failures >= self.retry.server_error_retries {
                        return Err(PortalApiError::Unavailable { status, attempts });
                    }
                    failures += 1;
                    self.environment.sleep(self.backoff(failures));
                }
                _ if api => return Err(classify(status, response.body())),
                _ => return Ok(response),
            }
        }
    }

    /// Sends `method target` (a path and query under the base URL) with
    /// `body` (JSON), with the account's token and the retries the module
    /// documents; returns a 2xx reply.
    pub fn execute(
        &self,
        method: Method,
        target: &str,
        body: Option<Vec<u8>>,
        operation: &str,
    ) -> Result<Response<Vec<u8>>, PortalApiError> {
        if !target.starts_with('/') {
            return Err(PortalApiError::InvalidArgument {
                reason: "a request target starts with /".into(),
            });
        }
        let url = format!("{}{target}", self.base_url);
        let idempotent = method == Method::GET;
        let key = self.cache_key();
        let mut token = self.access_token()?;
        self.send_retrying(
            operation,
            idempotent,
            &mut |renew| {
                if renew {
                    token = self.cache.renew(&key, &token, || self.fetch_token())?;
                }
                let mut request = self.request(method.clone(), &url, Some(&token))?;
                if let Some(body) = &body {
                    request.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    request.body_mut().clone_from(body);
                }
                Ok(request)
            },
            true,
        )
    }

    fn get<T: DeserializeOwned>(&self, target: &str, what: &str) -> Result<T, PortalApiError> {
        let response = self.execute(Method::GET, target, None, what)?;
        parse(response.body(), what)
    }
}

mod endpoints;

pub use endpoints::Pages;

#[cfg(test)]
mod tests;
