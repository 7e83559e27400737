//! A blocking HTTPS client for the device assignment service (feature `http`,
//! built on `ureq` with rustls): it sends the requests the core builds and
//! hands the responses to the core's parsers.
//!
//! ```no_run
//! use mdmlink::session::{self, client};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let token: mdmlink::ServerToken = unimplemented!();
//! let mut rng = mdmlink::SystemRng::default();
//! let nonce = session::new_nonce(&mut rng)?;
//! let mut session = client::obtain_session(&token, session::DEFAULT_BASE_URL, time::OffsetDateTime::now_utc(), &nonce)?;
//! let account = client::fetch_account(&mut session)?;
//! println!("linked to {:?}", account.org_name);
//! # Ok(()) }
//! ```

use http::{Request, Response};
use time::OffsetDateTime;

use super::{
    Account, MAX_RESPONSE_BODY, Observation, Session, SessionError, check_response,
    parse_account_response, parse_session_response, session_request,
};
use crate::token::ServerToken;

/// A blocking client with mdmlink's one HTTP configuration for Apple's
/// services: a 60 s overall timeout per request, no redirects, and HTTP error
/// statuses returned as responses (so the core classifies them).
#[derive(Debug, Clone)]
pub struct Client {
    agent: ureq::Agent,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    /// A client with the defaults above.
    pub fn new() -> Self {
        Self {
            agent: crate::apple_http::agent(crate::apple_http::REQUEST_TIMEOUT),
        }
    }

    /// Sends `request` and reads the whole response body (at most
    /// [`MAX_RESPONSE_BODY`] bytes).
    pub fn send(&self, request: Request<()>) -> Result<Response<Vec<u8>>, SessionError> {
        let response = self
            .agent
            .run(request)
            .map_err(|e| SessionError::Transport {
                reason: e.to_string(),
            })?;
        let (parts, mut body) = response.into_parts();
        let bytes = body
            .with_config()
            .limit(MAX_RESPONSE_BODY as u64)
            .read_to_vec()
            .map_err(|e| SessionError::Transport {
                reason: format!("reading the response: {e}"),
            })?;
        Ok(Response::from_parts(parts, bytes))
    }

    /// Obtains a session: signs `GET {base_url}/session` with `token` at
    /// `now` with `nonce`, sends it and parses the reply.
    pub fn obtain_session(
        &self,
        token: &ServerToken,
        base_url: &str,
        now: OffsetDateTime,
        nonce: &str,
    ) -> Result<Session, SessionError> {
        let request = session_request(token, base_url, now, nonce)?;
        parse_session_response(&self.send(request)?, base_url)
    }

    /// Sends a request made by [`Session::get`] (or authorized with
    /// [`Session::authorize`]), keeps a refreshed session token, and returns
    /// the response if it succeeded. A 401 gives
    /// [`SessionError::SessionExpired`]: obtain a new session and retry.
    pub fn call(
        &self,
        session: &mut Session,
        request: Request<()>,
    ) -> Result<Response<Vec<u8>>, SessionError> {
        let response = self.send(request)?;
        if session.observe_with_body(&response) == Observation::Reauthenticate {
            return Err(SessionError::SessionExpired);
        }
        check_response(&response)?;
        Ok(response)
    }

    /// *Fetch Account Details* (`GET /account`).
    pub fn fetch_account(&self, session: &mut Session) -> Result<Account, SessionError> {
        let request = session.account_request()?;
        parse_account_response(&self.call(session, request)?)
    }
}

/// One call: a session for `token` from the service at `base_url`
/// ([`super::DEFAULT_BASE_URL`] for Apple's), signed at `now` with `nonce`.
pub fn obtain_session(
    token: &ServerToken,
    base_url: &str,
    now: OffsetDateTime,
    nonce: &str,
) -> Result<Session, SessionError> {
    Client::new().obtain_session(token, base_url, now, nonce)
}

/// One call: the account details for `session`.
pub fn fetch_account(session: &mut Session) -> Result<Account, SessionError> {
    Client::new().fetch_account(session)
}
