//! Apple's School and Business Manager API, simulated on the same loopback
//! address as the device assignment service.
//!
//! - `POST /auth/oauth2/token` (`oauth`): a client-credentials grant with
//!   an ES256 client assertion, checked as Apple documents; access tokens
//!   last one hour of the simulator's clock.
//! - `/v1/orgDevices`, `/v1/orgDevices/{id}` and its `assignedServer`,
//!   `relationships/assignedServer` and `appleCareCoverage`
//!   (`devices`); `/v1/mdmServers` and `/v1/mdmServers/{id}`, with
//!   `relationships/devices` (`servers`); `POST`, `PATCH` and `DELETE` of
//!   servers on Apple Business accounts only (403 on School);
//!   `/v1/orgDeviceActivities` (`activities`). JSON:API documents with
//!   `links.self`, `meta.paging` and cursors; every failure is a JSON:API
//!   error document.
//! - Faults on request (`faults`): 429 with `Retry-After`, 5xx, expired
//!   tokens.

pub(crate) mod activities;
mod control;
pub(crate) mod devices;
pub(crate) mod documents;
pub(crate) mod faults;
pub(crate) mod oauth;
pub(crate) mod servers;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use p256::ecdsa::VerifyingKey;
use time::OffsetDateTime;

pub use self::control::PortalServer;
use self::documents::{ApiError, document, json_body};
pub use self::faults::RetryAfter;
pub use self::oauth::{
    ACCESS_TOKEN_LIFETIME, ASSERTION_AUDIENCE, ASSERTION_TYPE, MAX_ASSERTION_LIFETIME,
};

/// The path of the token endpoint.
pub const TOKEN_PATH: &str = "/auth/oauth2/token";
/// Where activity logs are served (`downloadUrl`).
const ACTIVITY_LOG_PREFIX: &str = "/activityLogs/";

/// Which portal an API account belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiPlatform {
    /// Apple Business (and Business Essentials): `BUSINESSAPI.` client IDs,
    /// scope `business.api`; servers can be created, updated and deleted.
    Business,
    /// Apple School Manager: `SCHOOLAPI.` client IDs, scope `school.api`;
    /// servers are read only.
    School,
}

/// An organization's API account as the simulated portal knows it, with
/// the organization's seeded servers and devices.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SimulatedApiAccount {
    /// `BUSINESSAPI.<uuid>` or `SCHOOLAPI.<uuid>`; the prefix sets the
    /// platform (anything but `SCHOOLAPI.` is Business).
    pub client_id: String,
    /// The key ID the assertion's `kid` must carry.
    pub key_id: String,
    /// The public half of the account's P-256 key.
    pub verifying_key: VerifyingKey,
    /// Names of the servers the organization starts with (default: one,
    /// `MDM Server`).
    pub servers: Vec<String>,
    /// Devices that start assigned to the first server; their serials are
    /// the device assignment side's for the same seed.
    pub assigned_devices: u32,
    /// Devices that start unassigned (serials `U...`).
    pub unassigned_devices: u32,
    /// The seed serials and details derive from.
    pub seed: u64,
}

impl SimulatedApiAccount {
    /// An account with one server (`MDM Server`) and no devices.
    pub fn new(client_id: &str, key_id: &str, verifying_key: VerifyingKey) -> Self {
        Self {
            client_id: client_id.to_owned(),
            key_id: key_id.to_owned(),
            verifying_key,
            servers: vec!["MDM Server".to_owned()],
            assigned_devices: 0,
            unassigned_devices: 0,
            seed: 0,
        }
    }

    /// With `assigned` devices on the first server and `unassigned` others,
    /// derived from `seed`.
    pub fn with_devices(mut self, assigned: u32, unassigned: u32, seed: u64) -> Self {
        self.assigned_devices = assigned;
        self.unassigned_devices = unassigned;
        self.seed = seed;
        self
    }

    /// With these servers instead of the default one (in this order).
    pub fn with_servers(mut self, names: &[&str]) -> Self {
        self.servers = names.iter().map(|n| (*n).to_owned()).collect();
        self
    }

    /// The platform its client ID names.
    pub fn platform(&self) -> ApiPlatform {
        if self.client_id.starts_with("SCHOOLAPI.") {
            ApiPlatform::School
        } else {
            ApiPlatform::Business
        }
    }
}

/// One organization: its account, servers, devices and activities.
pub(crate) struct Org {
    pub(crate) account: SimulatedApiAccount,
    pub(crate) servers: servers::Servers,
    pub(crate) devices: devices::Devices,
    pub(crate) activities: activities::Activities,
}

impl Org {
    fn new(account: SimulatedApiAccount, now: OffsetDateTime) -> Self {
        let mut servers = servers::Servers::default();
        let created = now - time::Duration::days(30);
        let ids: Vec<String> = account
            .servers
            .iter()
            .map(|name| servers.add(&account.client_id, name, created))
            .collect();
        let devices = devices::Devices::new(
            account.seed,
            account.assigned_devices,
            account.unassigned_devices,
            ids.first().cloned(),
        );
        Self {
            account,
            servers,
            devices,
            activities: activities::Activities::default(),
        }
    }
}

/// The simulated portal's state.
pub(crate) struct PortalState {
    pub(crate) orgs: Vec<Org>,
    pub(crate) tokens: oauth::Tokens,
    pub(crate) faults: faults::Faults,
    /// Reads after which an activity has completed.
    pub(crate) activity_reads: u32,
    errors: u64,
}

impl PortalState {
    pub(crate) fn new(activity_reads: u32) -> Self {
        Self {
            orgs: Vec::new(),
            tokens: oauth::Tokens::default(),
            faults: faults::Faults::default(),
            activity_reads,
            errors: 0,
        }
    }

    pub(crate) fn add(&mut self, account: SimulatedApiAccount, now: OffsetDateTime) {
        self.orgs
            .retain(|o| o.account.client_id != account.client_id);
        self.orgs.push(Org::new(account, now));
    }

    pub(crate) fn org_index(&self, client_id: &str) -> Option<usize> {
        self.orgs
            .iter()
            .position(|o| o.account.client_id == client_id)
    }

    pub(crate) fn org_mut(&mut self, client_id: &str) -> Option<&mut Org> {
        self.orgs
            .iter_mut()
            .find(|o| o.account.client_id == client_id)
    }

    fn error_id(&mut self) -> String {
        self.errors += 1;
        format!("simulator-error-{:08}", self.errors)
    }

    fn fail(&mut self, error: ApiError) -> Response<Vec<u8>> {
        let id = self.error_id();
        error.into_response(id)
    }
}

/// Whether `path` belongs to this API.
pub(crate) fn serves(path: &str) -> bool {
    path == TOKEN_PATH
        || path == "/v1"
        || path.starts_with("/v1/")
        || path.starts_with(ACTIVITY_LOG_PREFIX)
}

fn method_not_allowed(allowed: &'static str) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "The method is not allowed for the requested resource",
        format!("This resource allows {allowed}."),
        documents::Source::Path("method"),
    )
}

/// Handles one request to the API (origin-form target).
pub(crate) fn handle(
    portal: &mut PortalState,
    base: &str,
    request: &Request<Vec<u8>>,
    now: OffsetDateTime,
) -> Response<Vec<u8>> {
    let path = request.uri().path();
    if path == TOKEN_PATH {
        return oauth::token_endpoint(portal, request, now);
    }
    if let Some(file) = path.strip_prefix(ACTIVITY_LOG_PREFIX) {
        // A presigned download in Apple's service: no bearer token.
        let log = file
            .strip_suffix(".csv")
            .and_then(|id| portal.orgs.iter().find_map(|o| o.activities.log(id)));
        return match log {
            Some(csv) if request.method() == Method::GET => {
                let mut r = Response::new(csv.into_bytes());
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"));
                r
            }
            _ => portal.fail(ApiError::not_found(
                "path",
                "There is no such activity log.",
            )),
        };
    }
    let org = match oauth::authenticate(portal, request, now) {
        Ok(o) => o,
        Err(e) => return portal.fail(e),
    };
    let mut errors = portal.errors;
    let injected = portal.faults.next(now, || {
        errors += 1;
        format!("simulator-error-{errors:08}")
    });
    portal.errors = errors;
    if let Some(r) = injected {
        return r;
    }
    let activity_reads = portal.activity_reads;
    let result = route(&mut portal.orgs[org], base, request, activity_reads, now);
    match result {
        Ok(r) => r,
        Err(e) => portal.fail(e),
    }
}

fn ok<T: serde::Serialize>(value: T) -> Result<Response<Vec<u8>>, ApiError> {
    Ok(document(StatusCode::OK, &value))
}

fn route(
    org: &mut Org,
    base: &str,
    request: &Request<Vec<u8>>,
    activity_reads: u32,
    now: OffsetDateTime,
) -> Result<Response<Vec<u8>>, ApiError> {
    let uri = request.uri();
    let path = uri.path();
    let path_and_query = uri.path_and_query().map_or(path, |p| p.as_str());
    let query = uri.query();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = request.method();
    let get = method == Method::GET;
    match segments.as_slice() {
        ["v1", "orgDevices"] if get => ok(devices::list(org, base, path_and_query, query)?),
        ["v1", "orgDevices", id] if get => ok(devices::one(org, base, id, query)?),
        ["v1", "orgDevices", id, "relationships", "assignedServer"] if get => {
            ok(devices::assigned_server_linkage(org, base, id, query)?)
        }
        ["v1", "orgDevices", id, "assignedServer"] if get => {
            ok(devices::assigned_server(org, base, id, query)?)
        }
        ["v1", "orgDevices", id, "appleCareCoverage"] if get => {
            ok(devices::apple_care(org, base, id, query)?)
        }
        ["v1", "orgDevices", ..] if !get => Err(method_not_allowed("GET")),
        ["v1", "mdmServers"] if get => ok(servers::list(org, base, path_and_query, query)?),
        ["v1", "mdmServers"] if method == Method::POST => {
            servers::business_only(org, path)?;
            let body = json_body(request.body())?;
            let (id, doc) = servers::create(org, base, &body, now)?;
            let mut r = document(StatusCode::CREATED, &doc);
            if let Ok(v) = HeaderValue::from_str(&format!("{base}/v1/mdmServers/{id}")) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            Ok(r)
        }
        ["v1", "mdmServers"] => Err(method_not_allowed("GET, POST")),
        ["v1", "mdmServers", id] if get => ok(servers::one(org, base, id, query)?),
        ["v1", "mdmServers", id] if method == Method::PATCH => {
            servers::business_only(org, path)?;
            let body = json_body(request.body())?;
            ok(servers::update(org, base, id, &body, now)?)
        }
        ["v1", "mdmServers", id] if method == Method::DELETE => {
            servers::delete(org, id)?;
            let mut r = Response::new(Vec::new());
            *r.status_mut() = StatusCode::NO_CONTENT;
            Ok(r)
        }
        ["v1", "mdmServers", _] => Err(method_not_allowed("GET, PATCH, DELETE")),
        ["v1", "mdmServers", id, "relationships", "devices"] if get => {
            if org.servers.get(id).is_none() {
                return Err(ApiError::not_found(
                    "id",
                    "There is no device management service with this id.",
                ));
            }
            ok(devices::of_server(org, base, id, path_and_query, query)?)
        }
        ["v1", "orgDeviceActivities"] if method == Method::POST => {
            let body = json_body(request.body())?;
            let doc = activities::create(org, base, &body, now)?;
            Ok(document(StatusCode::CREATED, &doc))
        }
        ["v1", "orgDeviceActivities"] => Err(method_not_allowed("POST")),
        ["v1", "orgDeviceActivities", id] if get => {
            ok(activities::get(org, base, id, query, activity_reads, now)?)
        }
        ["v1", "orgDeviceActivities", _] => Err(method_not_allowed("GET")),
        ["v1", "mdmServers", _, "relationships", "devices"] => Err(method_not_allowed("GET")),
        _ => Err(ApiError::not_found(
            "path",
            "There is no such resource; check the path.",
        )),
    }
}
