//! What a test does to the simulated portal: add API accounts, inject
//! faults, and look at the state its requests left behind.

use http::StatusCode;

use super::{RetryAfter, SimulatedApiAccount, TOKEN_PATH};
use crate::simulator::{Simulator, service::lock};

/// A device management service as the simulated portal holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PortalServer {
    /// Its id (32 upper-case hex digits).
    pub id: String,
    /// Its name.
    pub name: String,
    /// The DER certificate it was created or last updated with (`None` for
    /// seeded servers).
    pub certificate: Option<Vec<u8>>,
    /// `enableMdmDisownFlag`.
    pub enable_mdm_disown: bool,
    /// How many devices are assigned to it.
    pub device_count: u64,
}

impl Simulator {
    /// The token endpoint's URL (`http://127.0.0.1:PORT/auth/oauth2/token`);
    /// the API's base URL is [`Simulator::base_url`].
    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.base_url)
    }

    /// Adds (or replaces, by client ID) an API account and its organization.
    pub fn add_api_account(&self, account: SimulatedApiAccount) {
        let mut state = lock(&self.state);
        let now = state.now();
        state.portal.add(account, now);
    }

    /// The next `count` API requests (after authentication) get 429 with
    /// `retry_after`.
    pub fn api_throttle(&self, count: u32, retry_after: RetryAfter) {
        lock(&self.state).portal.faults.throttle(count, retry_after);
    }

    /// The next `count` API requests (after authentication) get 503.
    pub fn api_fail_requests(&self, count: u32) {
        self.api_fail_requests_with(count, 503);
    }

    /// The next `count` API requests (after authentication) get `status`
    /// (a 5xx; anything else is taken as 500).
    pub fn api_fail_requests_with(&self, count: u32, status: u16) {
        let status = StatusCode::from_u16(status)
            .ok()
            .filter(StatusCode::is_server_error)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        lock(&self.state).portal.faults.fail(count, status);
    }

    /// Every access token issued so far stops working: the next API
    /// request with one gets 401. (Moving the clock an hour on with
    /// [`Simulator::advance_clock`] expires them the natural way.)
    pub fn api_expire_access_tokens(&self) {
        lock(&self.state).portal.tokens.expire_all();
    }

    /// The servers of the organization of `client_id`, in creation order.
    pub fn api_servers(&self, client_id: &str) -> Vec<PortalServer> {
        let mut state = lock(&self.state);
        let Some(org) = state.portal.org_mut(client_id) else {
            return Vec::new();
        };
        org.servers
            .list
            .iter()
            .map(|s| PortalServer {
                id: s.id.clone(),
                name: s.name.clone(),
                certificate: s.certificate.clone(),
                enable_mdm_disown: s.disown,
                device_count: org.devices.count_for(&s.id),
            })
            .collect()
    }

    /// The id of the server `serial` is assigned to in the organization of
    /// `client_id` (`None`: unassigned, released or unknown).
    pub fn api_device_server(&self, client_id: &str, serial: &str) -> Option<String> {
        let mut state = lock(&self.state);
        let org = state.portal.org_mut(client_id)?;
        org.devices.server_of(org, serial).map(str::to_owned)
    }

    /// The first `count` serials of the organization of `client_id`, in
    /// listing order (released devices included).
    pub fn api_serials(&self, client_id: &str, count: u64) -> Vec<String> {
        let mut state = lock(&self.state);
        let Some(org) = state.portal.org_mut(client_id) else {
            return Vec::new();
        };
        (0..count.min(org.devices.count()))
            .map(|p| org.devices.serial_at(p))
            .collect()
    }
}
