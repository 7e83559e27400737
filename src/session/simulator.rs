//! A local stand-in for Apple's device assignment service (feature
//! `simulator`): `GET /session` and `GET /account` on `127.0.0.1`, for tokens
//! made with [`crate::token::seal`].
//!
//! It checks each `/session` request the way the service does: the OAuth
//! `Authorization` header's form (HTTP 400 for a missing, duplicated or
//! unsupported parameter), the consumer key and access token (401), the
//! `HMAC-SHA1` signature recomputed with its own copy of the secrets (401
//! `signature_invalid`), the timestamp window and nonce reuse (401), the token's
//! expiry (401 `token_expired`) and whether the organization has accepted the
//! terms and conditions (403 `T_C_NOT_SIGNED`). `/account` wants a valid
//! `X-ADM-Auth-Session` (401 otherwise) and answers with a refreshed session
//! token in the `X-ADM-Auth-Session` response header.
//!
//! The HTTP side is deliberately small: one thread, one request per
//! connection (`Connection: close`), request heads up to 16 KiB, bodies up to
//! 64 KiB, 5 s socket timeouts. [`Simulator::shutdown`] (or dropping the
//! value) stops it.
//!
//! ```
//! # #[cfg(feature = "http")] {
//! use mdmlink::{ServerToken, session::{self, simulator::*}};
//! let now = time::OffsetDateTime::now_utc();
//! let token = ServerToken::new("CK_1", "CS_2", "AT_3", "AS_4", now + time::Duration::days(30))?;
//! let sim = Simulator::start(vec![SimulatedAccount::new(token.clone(), "Example School")])?;
//! let mut session = session::client::obtain_session(&token, &sim.base_url(), now, "n0nce")?;
//! let account = session::client::fetch_account(&mut session)?;
//! assert_eq!(account.org_name.as_deref(), Some("Example School"));
//! sim.shutdown();
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::{
    collections::{HashMap, VecDeque},
    io::{self, Read, Write},
    net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration as StdDuration,
};

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use time::OffsetDateTime;

use super::{
    ACCOUNT_PATH, AUTH_SESSION_HEADER, SESSION_PATH, oauth,
    oauth::{hmac_sha1_raw, parse_authorization},
};
use crate::{SystemRng, secret::SecretString, token::ServerToken};

/// Largest request head (request line and headers) the simulator reads.
pub const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// Largest request body the simulator accepts.
pub const MAX_REQUEST_BODY: usize = 64 * 1024;
/// How many used nonces it remembers (oldest forgotten first).
const NONCE_MEMORY: usize = 4096;
/// How many sessions it keeps (oldest dropped first).
const SESSION_MEMORY: usize = 1024;

/// One organization's MDM server as the simulated service knows it.
#[derive(Debug, Clone)]
pub struct SimulatedAccount {
    /// The token the portal issued (the simulator's copy of the secrets).
    pub token: ServerToken,
    /// The organization's name (`org_name` in `/account`).
    pub org_name: String,
    /// The MDM server's name (`server_name` in `/account`).
    pub server_name: String,
    /// Whether the organization has accepted the latest terms and conditions;
    /// `false` makes `/session` and `/account` answer 403 `T_C_NOT_SIGNED`.
    pub terms_accepted: bool,
}

impl SimulatedAccount {
    /// An account for `token`, terms accepted, server name `MDM Server`.
    pub fn new(token: ServerToken, org_name: &str) -> Self {
        Self {
            token,
            org_name: org_name.to_owned(),
            server_name: "MDM Server".to_owned(),
            terms_accepted: true,
        }
    }
}

/// How the simulator behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SimulatorOptions {
    /// Accepted distance between `oauth_timestamp` and the simulator's clock.
    pub timestamp_window: time::Duration,
    /// How long a session token stays valid.
    pub session_lifetime: time::Duration,
    /// The simulator's clock; `None` uses the system clock. A fixed time
    /// makes expiry checks reproducible.
    pub now: Option<OffsetDateTime>,
}

impl Default for SimulatorOptions {
    fn default() -> Self {
        Self {
            timestamp_window: time::Duration::minutes(5),
            session_lifetime: time::Duration::minutes(3),
            now: None,
        }
    }
}

struct SessionEntry {
    consumer_key: String,
    expires: OffsetDateTime,
}

/// What the simulated service remembers.
struct State {
    base_url: String,
    options: SimulatorOptions,
    accounts: Vec<SimulatedAccount>,
    nonces: VecDeque<(String, String)>,
    sessions: HashMap<String, SessionEntry>,
    session_order: VecDeque<String>,
}

impl State {
    fn now(&self) -> OffsetDateTime {
        self.options.now.unwrap_or_else(OffsetDateTime::now_utc)
    }

    fn account(&self, consumer_key: &str) -> Option<&SimulatedAccount> {
        self.accounts
            .iter()
            .find(|a| a.token.consumer_key() == consumer_key)
    }

    fn new_session(&mut self, consumer_key: &str) -> Option<SecretString> {
        let mut bytes = [0u8; 24];
        rand_core::TryRng::try_fill_bytes(&mut SystemRng::default(), &mut bytes).ok()?;
        let token = format!(
            "SIM{}",
            bytes.iter().map(|b| format!("{b:02X}")).collect::<String>()
        );
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

fn reply(status: StatusCode, content_type: &str, body: impl Into<Vec<u8>>) -> Response<Vec<u8>> {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

fn text(status: StatusCode, body: &str) -> Response<Vec<u8>> {
    reply(status, "text/plain;charset=UTF-8", body)
}

/// An OAuth problem report (`oauth_problem=...`), as OAuth services send it.
fn problem(status: StatusCode, name: &str) -> Response<Vec<u8>> {
    text(status, &format!("oauth_problem={name}"))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Handles one parsed request. Pure apart from the state: the socket code
/// only parses and writes.
fn handle(state: &mut State, request: &Request<Vec<u8>>) -> Response<Vec<u8>> {
    let path = request.uri().path();
    if path != SESSION_PATH && path != ACCOUNT_PATH {
        return text(StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    if request.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
    }
    if path == SESSION_PATH {
        handle_session(state, request)
    } else {
        handle_account(state, request)
    }
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
    let Some(account) = state.account(consumer_key).cloned() else {
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
    if state.nonces.contains(&key) {
        return problem(StatusCode::UNAUTHORIZED, "nonce_used");
    }
    if state.nonces.len() >= NONCE_MEMORY {
        state.nonces.pop_front();
    }
    state.nonces.push_back(key);

    if account.token.access_token_expiry() <= now {
        return problem(StatusCode::UNAUTHORIZED, "token_expired");
    }
    if !account.terms_accepted {
        return text(StatusCode::FORBIDDEN, "T_C_NOT_SIGNED");
    }
    match state.new_session(consumer_key) {
        Some(session) => {
            let body = serde_json::json!({ "auth_session_token": session.expose() }).to_string();
            reply(StatusCode::OK, "application/json;charset=UTF-8", body)
        }
        None => text(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE"),
    }
}

fn handle_account(state: &mut State, request: &Request<Vec<u8>>) -> Response<Vec<u8>> {
    let now = state.now();
    let Some(session) = request
        .headers()
        .get(AUTH_SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return text(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    };
    let consumer_key = match state.sessions.get(&session) {
        Some(entry) if entry.expires > now => entry.consumer_key.clone(),
        _ => return text(StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
    };
    let Some(account) = state.account(&consumer_key).cloned() else {
        return text(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    };
    if !account.terms_accepted {
        return text(StatusCode::FORBIDDEN, "T_C_NOT_SIGNED");
    }
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
    })
    .to_string();
    let mut response = reply(StatusCode::OK, "application/json;charset=UTF-8", body);
    if let Ok(mut v) = HeaderValue::from_str(fresh.expose()) {
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

/// Why a request could not be read.
enum ReadError {
    TooLarge,
    Bad,
    Io,
}

/// Reads one HTTP/1.1 request: head up to [`MAX_REQUEST_HEAD`], body up to
/// [`MAX_REQUEST_BODY`] (by `Content-Length`; chunked bodies are refused).
fn read_request(stream: &mut TcpStream) -> Result<Request<Vec<u8>>, ReadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        if buf.len() > MAX_REQUEST_HEAD {
            return Err(ReadError::TooLarge);
        }
        let n = stream.read(&mut chunk).map_err(|_| ReadError::Io)?;
        if n == 0 {
            return Err(ReadError::Io);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    if head_end > MAX_REQUEST_HEAD {
        return Err(ReadError::TooLarge);
    }
    let head = core::str::from_utf8(&buf[..head_end]).map_err(|_| ReadError::Bad)?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().ok_or(ReadError::Bad)?.split(' ');
    let (Some(method), Some(target), Some(version), None) = (
        request_line.next(),
        request_line.next(),
        request_line.next(),
        request_line.next(),
    ) else {
        return Err(ReadError::Bad);
    };
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(ReadError::Bad);
    }
    let mut builder = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).map_err(|_| ReadError::Bad)?)
        .uri(target);
    let mut content_length = 0usize;
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(ReadError::Bad)?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse().map_err(|_| ReadError::Bad)?;
        }
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(ReadError::Bad);
        }
        builder = builder.header(name, value);
    }
    if content_length > MAX_REQUEST_BODY {
        return Err(ReadError::TooLarge);
    }
    let mut body = buf[head_end + 4..].to_vec();
    if body.len() > content_length {
        return Err(ReadError::Bad);
    }
    let mut rest = vec![0u8; content_length - body.len()];
    stream.read_exact(&mut rest).map_err(|_| ReadError::Io)?;
    body.extend_from_slice(&rest);
    builder.body(body).map_err(|_| ReadError::Bad)
}

fn write_response(stream: &mut TcpStream, response: &Response<Vec<u8>>) -> io::Result<()> {
    let status = response.status();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: close\r\nServer: mdmlink-simulator\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        response.body().len()
    )
    .into_bytes();
    for (name, value) in response.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(response.body());
    stream.write_all(&out)?;
    stream.flush()
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock cannot leave the state half-updated in
    // a way that matters for a simulator; keep serving.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn serve_one(mut stream: TcpStream, state: &Mutex<State>) {
    let timeout = Some(StdDuration::from_secs(5));
    if stream.set_read_timeout(timeout).is_err() || stream.set_write_timeout(timeout).is_err() {
        return;
    }
    let response = match read_request(&mut stream) {
        Ok(request) => handle(&mut lock(state), &request),
        Err(ReadError::TooLarge) => text(StatusCode::PAYLOAD_TOO_LARGE, "REQUEST_TOO_LARGE"),
        Err(ReadError::Bad) => text(StatusCode::BAD_REQUEST, "MALFORMED_REQUEST"),
        Err(ReadError::Io) => return,
    };
    let _ = write_response(&mut stream, &response);
    let _ = stream.shutdown(Shutdown::Both);
}

/// A running simulator. Stops on [`Simulator::shutdown`] or drop.
pub struct Simulator {
    addr: SocketAddr,
    base_url: String,
    stop: Arc<AtomicBool>,
    state: Arc<Mutex<State>>,
    thread: Option<JoinHandle<()>>,
}

impl core::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Simulator")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Starts a simulator on `127.0.0.1` (a free port) that knows `accounts`,
    /// with default options.
    pub fn start(accounts: Vec<SimulatedAccount>) -> io::Result<Self> {
        Self::start_with(accounts, SimulatorOptions::default())
    }

    /// Starts a simulator with `options`.
    pub fn start_with(
        accounts: Vec<SimulatedAccount>,
        options: SimulatorOptions,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let state = Arc::new(Mutex::new(State {
            base_url: base_url.clone(),
            options,
            accounts,
            nonces: VecDeque::new(),
            sessions: HashMap::new(),
            session_order: VecDeque::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            let state = Arc::clone(&state);
            std::thread::Builder::new()
                .name("mdmlink-simulator".into())
                .spawn(move || {
                    // One connection at a time until asked to stop; the stop
                    // request wakes `accept` with a connection of its own.
                    for stream in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        if let Ok(stream) = stream {
                            serve_one(stream, &state);
                        }
                    }
                })?
        };
        Ok(Self {
            addr,
            base_url,
            stop,
            state,
            thread: Some(thread),
        })
    }

    /// The base URL to use instead of Apple's (`http://127.0.0.1:PORT`).
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The socket address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Adds an account (a newly issued token).
    pub fn add_account(&self, account: SimulatedAccount) {
        lock(&self.state).accounts.push(account);
    }

    /// Marks the terms and conditions of the account with `consumer_key` as
    /// accepted or not. Returns `false` if there is no such account.
    pub fn set_terms_accepted(&self, consumer_key: &str, accepted: bool) -> bool {
        let mut state = lock(&self.state);
        match state
            .accounts
            .iter_mut()
            .find(|a| a.token.consumer_key() == consumer_key)
        {
            Some(a) => {
                a.terms_accepted = accepted;
                true
            }
            None => false,
        }
    }

    /// Ends every open session (as when the service forgets them), so the
    /// next service request gets 401.
    pub fn expire_sessions(&self) {
        let mut state = lock(&self.state);
        state.sessions.clear();
        state.session_order.clear();
    }

    /// Stops the server and waits for its thread.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            // Wake the accept loop; if the connect fails the listener is
            // already gone and the thread is ending anyway.
            let _ = TcpStream::connect_timeout(&self.addr, StdDuration::from_secs(1));
            let _ = thread.join();
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{self, SessionError};
    use time::macros::datetime;

    fn state(accounts: Vec<SimulatedAccount>, now: OffsetDateTime) -> State {
        State {
            base_url: "http://127.0.0.1:9".into(),
            options: SimulatorOptions {
                now: Some(now),
                ..SimulatorOptions::default()
            },
            accounts,
            nonces: VecDeque::new(),
            sessions: HashMap::new(),
            session_order: VecDeque::new(),
        }
    }

    fn token(expiry: OffsetDateTime) -> ServerToken {
        ServerToken::new("CK_s", "CS_s", "AT_s", "AS_s", expiry).unwrap()
    }

    fn send(state: &mut State, req: Request<()>) -> Response<Vec<u8>> {
        // The simulator sees origin-form targets, as on the wire.
        let (mut parts, ()) = req.into_parts();
        parts.uri = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .parse()
            .unwrap();
        handle(state, &Request::from_parts(parts, Vec::new()))
    }

    #[test]
    fn session_checks() {
        let now = datetime!(2026-05-01 12:00 UTC);
        let t = token(now + time::Duration::days(1));
        let mut st = state(vec![SimulatedAccount::new(t.clone(), "Org")], now);
        let base = st.base_url.clone();

        let ok = send(
            &mut st,
            session::session_request(&t, &base, now, "n1").unwrap(),
        );
        let s = session::parse_session_response(&ok, &base).unwrap();
        // Replay of the same nonce and timestamp.
        let replay = send(
            &mut st,
            session::session_request(&t, &base, now, "n1").unwrap(),
        );
        assert_eq!(
            session::parse_session_response(&replay, &base).unwrap_err(),
            SessionError::Unauthorized {
                problem: Some("nonce_used".into())
            }
        );
        // Clock too far off.
        let late = send(
            &mut st,
            session::session_request(&t, &base, now + time::Duration::hours(1), "n2").unwrap(),
        );
        assert_eq!(
            session::parse_session_response(&late, &base).unwrap_err(),
            SessionError::Unauthorized {
                problem: Some("timestamp_refused".into())
            }
        );
        // Wrong secrets: same keys, other consumer secret.
        let forged =
            ServerToken::new("CK_s", "CS_x", "AT_s", "AS_s", t.access_token_expiry()).unwrap();
        let bad = send(
            &mut st,
            session::session_request(&forged, &base, now, "n3").unwrap(),
        );
        assert_eq!(
            session::parse_session_response(&bad, &base).unwrap_err(),
            SessionError::Unauthorized {
                problem: Some("signature_invalid".into())
            }
        );
        // Signed for another host than the one it reached.
        let elsewhere = send(
            &mut st,
            session::session_request(&t, "http://127.0.0.1:10", now, "n4").unwrap(),
        );
        assert_eq!(elsewhere.status(), StatusCode::UNAUTHORIZED);
        // Missing header, unknown key.
        let mut bare = Request::new(());
        *bare.uri_mut() = "/session".parse().unwrap();
        assert_eq!(send(&mut st, bare).status(), StatusCode::BAD_REQUEST);
        let stranger =
            ServerToken::new("CK_z", "CS_s", "AT_s", "AS_s", t.access_token_expiry()).unwrap();
        let unknown = send(
            &mut st,
            session::session_request(&stranger, &base, now, "n5").unwrap(),
        );
        assert_eq!(
            session::parse_session_response(&unknown, &base).unwrap_err(),
            SessionError::Unauthorized {
                problem: Some("consumer_key_unknown".into())
            }
        );

        // /account with the session, then with the rotated one.
        let mut s = s;
        let resp = send(&mut st, s.account_request().unwrap());
        let old = s.auth_session_token().to_owned();
        assert_eq!(s.observe(&resp), session::Observation::Refreshed);
        assert_eq!(
            session::parse_account_response(&resp)
                .unwrap()
                .org_name
                .as_deref(),
            Some("Org")
        );
        let mut stale = session::Session::new(&old, &base).unwrap();
        let resp = send(&mut st, stale.account_request().unwrap());
        assert_eq!(stale.observe(&resp), session::Observation::Reauthenticate);
        assert_eq!(
            send(&mut st, s.account_request().unwrap()).status(),
            StatusCode::OK
        );
    }

    #[test]
    fn not_found_and_method() {
        let now = datetime!(2026-05-01 12:00 UTC);
        let mut st = state(Vec::new(), now);
        let mut r = Request::new(());
        *r.uri_mut() = "/devices".parse().unwrap();
        assert_eq!(send(&mut st, r).status(), StatusCode::NOT_FOUND);
        let mut r = Request::new(());
        *r.method_mut() = Method::POST;
        *r.uri_mut() = "/session".parse().unwrap();
        assert_eq!(send(&mut st, r).status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    /// Raw sockets: oversized and malformed requests get 413/400, and the
    /// server keeps serving afterwards; shutdown joins the thread.
    #[test]
    fn bounded_requests_over_tcp() {
        let sim = Simulator::start(Vec::new()).unwrap();
        assert!(sim.local_addr().ip().is_loopback());
        let exchange = |bytes: &[u8]| {
            let mut s = TcpStream::connect(sim.local_addr()).unwrap();
            s.set_read_timeout(Some(StdDuration::from_secs(10)))
                .unwrap();
            let _ = s.write_all(bytes);
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out);
            String::from_utf8_lossy(&out).into_owned()
        };
        let mut huge = b"GET /session HTTP/1.1\r\nX-Pad: ".to_vec();
        huge.extend(std::iter::repeat_n(b'a', MAX_REQUEST_HEAD + 10));
        huge.extend_from_slice(b"\r\n\r\n");
        assert!(exchange(&huge).starts_with("HTTP/1.1 413"));
        assert!(
            exchange(b"GET /session HTTP/1.1\r\nContent-Length: 999999\r\n\r\n")
                .starts_with("HTTP/1.1 413")
        );
        assert!(exchange(b"NONSENSE\r\n\r\n").starts_with("HTTP/1.1 400"));
        assert!(exchange(b"GET /session HTTP/1.1\r\nHost: x\r\n\r\n").starts_with("HTTP/1.1 400"));
        assert!(exchange(b"GET /nowhere HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        sim.shutdown();
    }
}
