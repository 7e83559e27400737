//! The blocking client for the device assignment service (feature `http`):
//! sessions from a [`SessionCache`], one retry after a refused session, and
//! every endpoint of [`super::request`].
//!
//! ```no_run
//! use mdmlink::dep::{client::DepClient, syncer::Syncer};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let token: mdmlink::ServerToken = unimplemented!();
//! let client = DepClient::new(token, mdmlink::session::DEFAULT_BASE_URL)?;
//! let report = Syncer::new().run(&client, None, time::OffsetDateTime::now_utc, |step| {
//!     // Store step.page.devices and step.cursor.to_saved() in one transaction.
//!     Ok::<_, std::io::Error>(())
//! })?;
//! println!("{} devices", report.fetched);
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use http::{Request, Response, StatusCode};
use time::OffsetDateTime;

use super::cache::{Lease, SessionCache};
use super::profile::{
    ActivationLockRequest, ActivationLockResult, AssignmentResult, ProfileDefined,
    ProfileDefinition,
};
use super::request::{self, ApiCall};
use super::syncer::DeviceSource;
use super::{DepError, Device, DevicePage, MAX_REPLY_BODY, USER_AGENT};
use crate::session::{
    self, Account, Session, SessionError, body_code, endpoint_url, parse_session_response,
    session_request,
};
use crate::token::ServerToken;

/// A client for one server (one token) at one service URL. `Send + Sync`;
/// clones share the session cache.
#[derive(Clone)]
pub struct DepClient {
    agent: ureq::Agent,
    token: ServerToken,
    base_url: String,
    protocol_version: String,
    user_agent: String,
    cache: Arc<SessionCache>,
    clock: fn() -> OffsetDateTime,
}

impl core::fmt::Debug for DepClient {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DepClient")
            .field("base_url", &self.base_url)
            .field("protocol_version", &self.protocol_version)
            .finish_non_exhaustive()
    }
}

impl DepClient {
    /// A client for `token` at `base_url` (`session::DEFAULT_BASE_URL` for
    /// Apple's service), with its own session cache, protocol version 10,
    /// the system clock and a 60 s timeout per request.
    pub fn new(token: ServerToken, base_url: &str) -> Result<Self, DepError> {
        endpoint_url(base_url, "")?;
        Ok(Self {
            agent: crate::apple_http::agent(crate::apple_http::REQUEST_TIMEOUT),
            token,
            base_url: base_url.trim_end_matches('/').to_owned(),
            protocol_version: session::DEFAULT_PROTOCOL_VERSION.to_owned(),
            user_agent: USER_AGENT.to_owned(),
            cache: Arc::new(SessionCache::new()),
            clock: OffsetDateTime::now_utc,
        })
    }

    /// Shares `cache` (sessions per server) with other clients.
    pub fn with_cache(mut self, cache: Arc<SessionCache>) -> Self {
        self.cache = cache;
        self
    }

    /// Sends `version` as `X-Server-Protocol-Version` (1 to 8 digits).
    pub fn with_protocol_version(mut self, version: &str) -> Result<Self, DepError> {
        if version.is_empty() || version.len() > 8 || !version.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DepError::InvalidArgument {
                reason: format!("the protocol version must be a number, not {version:?}"),
            });
        }
        version.clone_into(&mut self.protocol_version);
        Ok(self)
    }

    /// Uses `clock` for the OAuth timestamps (tests, simulated time).
    pub fn with_clock(mut self, clock: fn() -> OffsetDateTime) -> Self {
        self.clock = clock;
        self
    }

    /// The session cache.
    pub fn cache(&self) -> &Arc<SessionCache> {
        &self.cache
    }

    /// This server's key in the cache.
    pub fn cache_key(&self) -> String {
        SessionCache::key(&self.base_url, self.token.consumer_key())
    }

    fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, DepError> {
        let response = self
            .agent
            .run(request)
            .map_err(|e| SessionError::Transport {
                reason: e.to_string(),
            })?;
        let (parts, mut body) = response.into_parts();
        let bytes = body
            .with_config()
            .limit(MAX_REPLY_BODY as u64)
            .read_to_vec()
            .map_err(|e| SessionError::Transport {
                reason: format!("reading the reply: {e}"),
            })?;
        Ok(Response::from_parts(parts, bytes))
    }

    fn open_session(&self) -> Result<Session, DepError> {
        let nonce = session::new_nonce(&mut crate::SystemRng::default())?;
        let request = session_request(&self.token, &self.base_url, (self.clock)(), &nonce)?;
        let (parts, ()) = request.into_parts();
        let response = self.send(Request::from_parts(parts, Vec::new()))?;
        Ok(parse_session_response(&response, &self.base_url)?
            .with_protocol_version(&self.protocol_version))
    }

    fn send_with(&self, lease: &Lease, call: &ApiCall) -> Result<Response<Vec<u8>>, DepError> {
        self.send(call.to_request(&lease.session, &self.user_agent)?)
    }

    /// Sends `call` with the server's session; on 401, or 403 `FORBIDDEN`,
    /// renews the session (one caller at a time) and sends it once more with
    /// the same body. Keeps a refreshed `X-ADM-Auth-Session`. Returns the
    /// reply if it succeeded, otherwise its typed error.
    pub fn execute(&self, call: &ApiCall) -> Result<Response<Vec<u8>>, DepError> {
        let key = self.cache_key();
        let mut lease = self.cache.current(&key, || self.open_session())?;
        let mut response = self.send_with(&lease, call)?;
        if session_refused(&response) {
            lease = self.cache.renew(&key, &lease, || self.open_session())?;
            response = self.send_with(&lease, call)?;
        }
        self.cache.observe(&key, &lease, &response);
        request::check(&response)?;
        Ok(response)
    }

    /// *Fetch Account Details*.
    pub fn account(&self) -> Result<Account, DepError> {
        Ok(session::parse_account_response(
            &self.execute(&request::account())?,
        )?)
    }

    /// *Fetch Devices*: one page.
    pub fn fetch_devices(&self, cursor: Option<&str>, limit: u32) -> Result<DevicePage, DepError> {
        request::parse_page(&self.execute(&request::fetch_devices(cursor, limit)?)?)
    }

    /// *Sync Devices*: one page.
    pub fn sync_devices(&self, cursor: &str, limit: u32) -> Result<DevicePage, DepError> {
        request::parse_page(&self.execute(&request::sync_devices(cursor, limit)?)?)
    }

    /// *Get Device Details* for any number of serials (1,000 per request).
    pub fn device_details<S: AsRef<str>>(
        &self,
        serials: &[S],
    ) -> Result<BTreeMap<String, Device>, DepError> {
        request::check_serials(serials.get(..1).unwrap_or_default())?;
        let mut out = BTreeMap::new();
        for part in request::chunks(serials) {
            out.extend(request::parse_details(
                &self.execute(&request::device_details(part)?)?,
            )?);
        }
        Ok(out)
    }

    fn per_serial<S: AsRef<str>>(
        &self,
        serials: &[S],
        call: impl Fn(&[S]) -> Result<ApiCall, DepError>,
    ) -> Result<AssignmentResult, DepError> {
        request::check_serials(serials.get(..1).unwrap_or_default())?;
        let mut total = AssignmentResult::default();
        for part in request::chunks(serials) {
            let one = request::parse_assignment(&self.execute(&call(part)?)?)?;
            if total.profile_uuid.is_empty() {
                total.profile_uuid = one.profile_uuid;
            }
            total.devices.extend(one.devices);
            total.requests += 1;
        }
        Ok(total)
    }

    /// *Disown Devices* (1,000 serials per request). Irreversible: the
    /// devices leave the organization.
    pub fn disown_devices<S: AsRef<str>>(
        &self,
        serials: &[S],
    ) -> Result<AssignmentResult, DepError> {
        self.per_serial(serials, |part| request::disown_devices(part))
    }

    /// *Define Profile*.
    pub fn define_profile(&self, profile: &ProfileDefinition) -> Result<ProfileDefined, DepError> {
        request::parse_profile_defined(&self.execute(&request::define_profile(profile)?)?)
    }

    /// *Get Profile*.
    pub fn get_profile(&self, profile_uuid: &str) -> Result<ProfileDefinition, DepError> {
        request::parse_profile(&self.execute(&request::get_profile(profile_uuid)?)?)
    }

    /// *Assign Profile* to any number of serials: split into requests of
    /// 1,000, each serial's status merged.
    pub fn assign_profile<S: AsRef<str>>(
        &self,
        profile_uuid: &str,
        serials: &[S],
    ) -> Result<AssignmentResult, DepError> {
        self.per_serial(serials, |part| request::assign_profile(profile_uuid, part))
    }

    /// *Remove Profile* from any number of serials.
    pub fn remove_profile<S: AsRef<str>>(
        &self,
        serials: &[S],
    ) -> Result<AssignmentResult, DepError> {
        self.per_serial(serials, |part| request::remove_profile(part))
    }

    /// *Disable Activation Lock*.
    pub fn disable_activation_lock(
        &self,
        lock: &ActivationLockRequest,
    ) -> Result<ActivationLockResult, DepError> {
        request::parse_activation_lock(&self.execute(&request::activation_lock(lock)?)?)
    }
}

/// 401, or 403 whose body is `FORBIDDEN`: the session is not (or no longer)
/// known.
fn session_refused(response: &Response<Vec<u8>>) -> bool {
    match response.status() {
        StatusCode::UNAUTHORIZED => true,
        StatusCode::FORBIDDEN => {
            body_code(response.body()).is_some_and(|c| c.eq_ignore_ascii_case("FORBIDDEN"))
        }
        _ => false,
    }
}

impl DeviceSource for DepClient {
    fn fetch_devices(&self, cursor: Option<&str>, limit: u32) -> Result<DevicePage, DepError> {
        DepClient::fetch_devices(self, cursor, limit)
    }

    fn sync_devices(&self, cursor: &str, limit: u32) -> Result<DevicePage, DepError> {
        DepClient::sync_devices(self, cursor, limit)
    }
}
