//! The simulated service itself: OAuth at `/session`, sessions, `/account`,
//! and the dispatch of the device endpoints to each account's
//! [`Inventory`]. Pure apart from the state: no sockets here.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use subtle::ConstantTimeEq as _;
use time::OffsetDateTime;

use super::inventory::Inventory;
use super::portal_api::{self, PortalState};
use super::{SimulatedAccount, SimulatorOptions};
use crate::dep::request as paths;
use crate::session::{
    ACCOUNT_PATH, AUTH_SESSION_HEADER, PROTOCOL_VERSION_HEADER, SESSION_PATH, oauth,
    oauth::{hmac_sha1_raw, parse_authorization},
};
use crate::{SystemRng, secret::SecretString};

/// How many used nonces it remembers (oldest forgotten first).
const NONCE_MEMORY: usize = 4096;
/// How many sessions it keeps (oldest dropped first).
const SESSION_MEMORY: usize = 1024;

struct SessionEntry {
    consumer_key: String,
    expires: OffsetDateTime,
}

/// One account and its devices.
pub(crate) struct AccountState {
    pub(crate) account: SimulatedAccount,
    pub(crate) inventory: Inventory,
}

/// What the simulated service remembers.
pub(crate) struct State {
    pub(crate) base_url: String,
    pub(crate) options: SimulatorOptions,
    pub(crate) accounts: Vec<AccountState>,
    nonces: VecDeque<(String, String)>,
    nonce_set: HashSet<(String, String)>,
    sessions: HashMap<String, SessionEntry>,
    session_order: VecDeque<String>,
    /// After a simulated restart, unknown sessions get 403 `FORBIDDEN`
    /// (what Apple's service answers then) instead of 401.
    pub(crate) restarted: bool,
    /// The next this many requests to device endpoints fail with 503.
    pub(crate) server_errors: u32,
    /// Requests served, per path.
    pub(crate) requests: HashMap<String, u64>,
    /// Added to the clock (simulated time passing).
    pub(crate) clock_offset: time::Duration,
    /// The School and Business Manager API's side.
    pub(crate) portal: PortalState,
}

impl State {
    pub(crate) fn new(
        base_url: String,
        options: SimulatorOptions,
        accounts: Vec<SimulatedAccount>,
    ) -> Self {
        Self {
            base_url,
            accounts: accounts.into_iter().map(AccountState::new).collect(),
            nonces: VecDeque::new(),
            nonce_set: HashSet::new(),
            sessions: HashMap::new(),
            session_order: VecDeque::new(),
            restarted: false,
            server_errors: 0,
            requests: HashMap::new(),
            portal: PortalState::new(options.activity_reads),
            options,
            clock_offset: time::Duration::ZERO,
        }
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        self.options.now.unwrap_or_else(OffsetDateTime::now_utc) + self.clock_offset
    }

    pub(crate) fn account_mut(&mut self, consumer_key: &str) -> Option<&mut AccountState> {
        self.accounts
            .iter_mut()
            .find(|a| a.account.token.consumer_key() == consumer_key)
    }

    fn account(&self, consumer_key: &str) -> Option<&AccountState> {
        self.accounts
            .iter()
            .find(|a| a.account.token.consumer_key() == consumer_key)
    }

    /// Forgets every session.
    pub(crate) fn clear_sessions(&mut self) {
        self.sessions.clear();
        self.session_order.clear();
    }

    fn new_session(&mut self, consumer_key: &str) -> Option<SecretString> {
        let mut bytes = [0u8; 24];
        rand_core::TryRng::try_fill_bytes(&mut SystemRng::default(), &mut bytes).ok()?;
        let token = format!("SIM{}", crate::encoding::hex_upper(&bytes));
        if self.session_order.len() >= SESSION_MEMORY
            && let Some(old) = self.session_order.pop_front()
        {
            self.sessions.remove(&old);
        }
        let expires = self.now() + self.options.session_lifetime;
        self.sessions.insert(
            token.clone(),
            SessionEntry {
                consumer_key: consumer_key.to_owned(),
                expires,
            },
        );
        self.session_order.push_back(token.clone());
        Some(SecretString::new(token))
    }
}

impl AccountState {
    fn new(account: SimulatedAccount) -> Self {
        let inventory = Inventory::new(account.seed, account.device_count);
        Self { account, inventory }
    }
}

pub(crate) fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock cannot leave the state half-updated in
    // a way that matters for a simulator; keep serving.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn reply(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Vec<u8>>,
) -> Response<Vec<u8>> {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

pub(crate) fn text(status: StatusCode, body: &str) -> Response<Vec<u8>> {
    reply(status, "text/plain;charset=UTF-8", body)
}

pub(crate) fn json(status: StatusCode, body: &serde_json::Value) -> Response<Vec<u8>> {
    reply(status, "application/json;charset=UTF-8", body.to_string())
}

/// An OAuth problem report (`oauth_problem=...`), as OAuth services send it.
fn problem(status: StatusCode, name: &str) -> Response<Vec<u8>> {
    text(status, &format!("oauth_problem={name}"))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

const DEVICE_PATHS: [&str; 7] = [
    paths::FETCH_PATH,
    paths::SYNC_PATH,
    paths::DETAILS_PATH,
    paths::DISOWN_PATH,
    paths::PROFILE_PATH,
    paths::PROFILE_DEVICES_PATH,
    paths::ACTIVATION_LOCK_PATH,
];

/// Handles one parsed request (origin-form target).
pub(crate) fn handle(state: &mut State, request: &Request<Vec<u8>>) -> Response<Vec<u8>> {
    let path = request.uri().path().to_owned();
    if portal_api::serves(&path) {
        *state.requests.entry(path.clone()).or_default() += 1;
        let now = state.now();
        return portal_api::handle(&mut state.portal, &state.base_url, request, now);
    }
    if path != SESSION_PATH && path != ACCOUNT_PATH && !DEVICE_PATHS.contains(&path.as_str()) {
        return text(StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    *state.requests.entry(path.clone()).or_default() += 1;
    if path == SESSION_PATH {
        if request.method() != Method::GET {
            return text(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
        }
        return handle_session(state, request);
    }
    if path == ACCOUNT_PATH {
        if request.method() != Method::GET {
            return text(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
        }
        return handle_account(state, request);
    }
    handle_device_call(state, &path, request)
}

fn handle_session(state: &mut State, request: &Request<Vec<u8>>) -> Response<Vec<u8>> {
    let Some(header) = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return problem(StatusCode::BAD_REQUEST, "parameter_absent");
    };
    let params = match parse_authorization(header) {
        Ok(p) => p,
        Err(_) => return problem(StatusCode::BAD_REQUEST, "parameter_rejected"),
    };
    let get = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let known = [
        "realm",
        "oauth_consumer_key",
        "oauth_token",
        "oauth_signature_method",
        "oauth_timestamp",
        "oauth_nonce",
        "oauth_version",
        "oauth_signature",
    ];
    if params.iter().any(|(n, _)| !known.contains(&n.as_str())) {
        return problem(StatusCode::BAD_REQUEST, "parameter_rejected");
    }
    let (Some(consumer_key), Some(token), Some(method), Some(timestamp), Some(nonce), Some(sig)) = (
        get("oauth_consumer_key"),
        get("oauth_token"),
        get("oauth_signature_method"),
        get("oauth_timestamp"),
        get("oauth_nonce"),
        get("oauth_signature"),
    ) else {
        return problem(StatusCode::BAD_REQUEST, "parameter_absent");
    };
    if method != "HMAC-SHA1" {
        return problem(StatusCode::BAD_REQUEST, "signature_method_rejected");
    }
    if get("oauth_version").is_some_and(|v| v != "1.0") {
        return problem(StatusCode::BAD_REQUEST, "version_rejected");
    }
    let Some(account) = state.account(consumer_key).map(|a| a.account.clone()) else {
        return problem(StatusCode::UNAUTHORIZED, "consumer_key_unknown");
    };
    if !constant_time_eq(token.as_bytes(), account.token.access_token().as_bytes()) {
        return problem(StatusCode::UNAUTHORIZED, "token_rejected");
    }

    // Recompute the signature over the request as received: the base URL
    // the simulator serves on, the path and query, the protocol parameters.
    let Ok(uri) = format!("{}{}", state.base_url, request.uri()).parse::<http::Uri>() else {
        return problem(StatusCode::BAD_REQUEST, "parameter_rejected");
    };
    let (Ok(base_uri), Ok(mut signed)) =
        (oauth::base_string_uri(&uri), oauth::query_parameters(&uri))
    else {
        return problem(StatusCode::BAD_REQUEST, "parameter_rejected");
    };
    signed.extend(
        params
            .iter()
            .filter(|(n, _)| n != "realm" && n != "oauth_signature")
            .cloned(),
    );
    let base = oauth::signature_base_string(request.method().as_str(), &base_uri, &signed);
    let expected = hmac_sha1_raw(
        &base,
        account.token.consumer_secret(),
        account.token.access_secret(),
    );
    let given = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, sig);
    if !given.is_ok_and(|g| constant_time_eq(&g, &expected)) {
        return problem(StatusCode::UNAUTHORIZED, "signature_invalid");
    }

    let now = state.now();
    let Ok(ts) = timestamp.parse::<i64>() else {
        return problem(StatusCode::BAD_REQUEST, "parameter_rejected");
    };
    let window = state.options.timestamp_window.whole_seconds();
    if (ts.saturating_sub(now.unix_timestamp())).abs() > window {
        return problem(StatusCode::UNAUTHORIZED, "timestamp_refused");
    }
    let key = (consumer_key.to_owned(), format!("{ts}:{nonce}"));
    if state.nonce_set.contains(&key) {
        return problem(StatusCode::UNAUTHORIZED, "nonce_used");
    }
    if state.nonces.len() >= NONCE_MEMORY
        && let Some(old) = state.nonces.pop_front()
    {
        state.nonce_set.remove(&old);
    }
    state.nonce_set.insert(key.clone());
    state.nonces.push_back(key);

    if account.token.access_token_expiry() <= now {
        return problem(StatusCode::UNAUTHORIZED, "token_expired");
    }
    if !account.terms_accepted {
        return text(StatusCode::FORBIDDEN, "T_C_NOT_SIGNED");
    }
    match state.new_session(consumer_key) {
        Some(session) => {
            let body = serde_json::json!({ "auth_session_token": session.expose() });
            json(StatusCode::OK, &body)
        }
        None => text(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE"),
    }
}

/// The consumer key of the request's valid session, or the reply that
/// refuses it: 401 for a missing or expired session, 403 `FORBIDDEN` for an
/// unknown one after a restart, 403 `T_C_NOT_SIGNED` when the terms changed.
fn authenticate(
    state: &State,
    request: &Request<Vec<u8>>,
) -> Result<(String, String), (StatusCode, &'static str)> {
    let now = state.now();
    let Some(session) = request
        .headers()
        .get(AUTH_SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return Err((StatusCode::UNAUTHORIZED, "UNAUTHORIZED"));
    };
    let consumer_key = match state.sessions.get(&session) {
        Some(entry) if entry.expires > now => entry.consumer_key.clone(),
        Some(_) => return Err((StatusCode::UNAUTHORIZED, "UNAUTHORIZED")),
        None if state.restarted => return Err((StatusCode::FORBIDDEN, "FORBIDDEN")),
        None => return Err((StatusCode::UNAUTHORIZED, "UNAUTHORIZED")),
    };
    let Some(account) = state.account(&consumer_key) else {
        return Err((StatusCode::UNAUTHORIZED, "UNAUTHORIZED"));
    };
    if !account.account.terms_accepted {
        return Err((StatusCode::FORBIDDEN, "T_C_NOT_SIGNED"));
    }
    Ok((consumer_key, session))
}

fn handle_account(state: &mut State, request: &Request<Vec<u8>>) -> Response<Vec<u8>> {
    let (consumer_key, session) = match authenticate(state, request) {
        Ok(v) => v,
        Err((status, code)) => return text(status, code),
    };
    let Some(account) = state.account(&consumer_key).map(|a| a.account.clone()) else {
        return text(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    };
    // Rotate the session, as the service may: the old token stops working
    // and the new one comes back in the X-ADM-Auth-Session header.
    state.sessions.remove(&session);
    let Some(fresh) = state.new_session(&consumer_key) else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE");
    };
    let body = serde_json::json!({
        "server_name": account.server_name,
        "server_uuid": server_uuid(&consumer_key),
        "admin_id": "admin@example.com",
        "org_name": account.org_name,
        "org_email": "it@example.com",
        "org_phone": "+1 555 0100",
        "org_address": "1 Infinite Loop, Cupertino",
        "org_type": "org",
        "org_version": "v2",
        "org_id": "SIM-ORG",
        "org_id_hash": "0000",
        "urls": [],
    });
    let mut response = json(StatusCode::OK, &body);
    if let Ok(mut v) = HeaderValue::from_str(fresh.expose()) {
        v.set_sensitive(true);
        response.headers_mut().insert(AUTH_SESSION_HEADER, v);
    }
    response
}

/// The device endpoints: the checks every call gets (session, terms,
/// `User-Agent`, protocol version, JSON body, injected 5xx), then the
/// account's inventory. The session comes back in `X-ADM-Auth-Session`.
fn handle_device_call(
    state: &mut State,
    path: &str,
    request: &Request<Vec<u8>>,
) -> Response<Vec<u8>> {
    let (consumer_key, session) = match authenticate(state, request) {
        Ok(v) => v,
        Err((status, code)) => return text(status, code),
    };
    let agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if agent.trim().is_empty() {
        return text(StatusCode::BAD_REQUEST, "USER_AGENT_INVALID");
    }
    if !request.headers().contains_key(PROTOCOL_VERSION_HEADER) {
        return text(StatusCode::BAD_REQUEST, "MALFORMED_REQUEST_BODY");
    }
    if state.server_errors > 0 {
        state.server_errors -= 1;
        return text(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE");
    }
    let now = state.now();
    let cursor_lifetime = state.options.cursor_lifetime;
    let Some(account) = state.account_mut(&consumer_key) else {
        return text(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    };
    let method = request.method();
    let body: Option<serde_json::Value> = if method == Method::GET {
        None
    } else {
        let json_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
        match serde_json::from_slice(request.body()) {
            Ok(v) if json_type => Some(v),
            _ => return text(StatusCode::BAD_REQUEST, "MALFORMED_REQUEST_BODY"),
        }
    };
    let inv = &mut account.inventory;
    let mut response = match (method, path, body) {
        (&Method::POST, paths::FETCH_PATH, Some(b)) => inv.fetch(&b, now, cursor_lifetime),
        (&Method::POST, paths::SYNC_PATH, Some(b)) => inv.sync(&b, now, cursor_lifetime),
        (&Method::POST, paths::DETAILS_PATH, Some(b)) => inv.details(&b),
        (&Method::POST, paths::DISOWN_PATH, Some(b)) => inv.disown(&b, now),
        (&Method::POST, paths::PROFILE_PATH, Some(b)) => inv.define_profile(b, now),
        (&Method::GET, paths::PROFILE_PATH, None) => inv.get_profile(request.uri().query()),
        (&Method::POST, paths::PROFILE_DEVICES_PATH, Some(b)) => inv.assign(&b, now),
        (&Method::DELETE, paths::PROFILE_DEVICES_PATH, Some(b)) => inv.remove(&b, now),
        (&Method::POST, paths::ACTIVATION_LOCK_PATH, Some(b)) => inv.activation_lock(&b),
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED"),
    };
    if let Ok(mut v) = HeaderValue::from_str(&session) {
        v.set_sensitive(true);
        response.headers_mut().insert(AUTH_SESSION_HEADER, v);
    }
    response
}

/// A stable UUID-shaped identifier for the account (from its consumer key).
fn server_uuid(consumer_key: &str) -> String {
    use sha2::Digest as _;
    let h = sha2::Sha256::digest(consumer_key.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    crate::jwt::hyphenated(&b).to_ascii_uppercase()
}
