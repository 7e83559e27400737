//! A local stand-in for Apple's device assignment service (feature
//! `simulator`), on `127.0.0.1` only, for tokens made with
//! [`crate::token::seal`].
//!
//! - `/session` checks each request the way the service does: the OAuth
//!   `Authorization` header's form (HTTP 400 for a missing, duplicated or
//!   unsupported parameter), the consumer key and access token (401), the
//!   `HMAC-SHA1` signature recomputed with its own copy of the secrets (401
//!   `signature_invalid`), the timestamp window and nonce reuse (401), the
//!   token's expiry (401 `token_expired`) and the terms and conditions (403
//!   `T_C_NOT_SIGNED`).
//! - `/account` and every device endpoint want a valid `X-ADM-Auth-Session`
//!   (401 otherwise; 403 `FORBIDDEN` for an unknown session after
//!   [`Simulator::restart`]), a `User-Agent`, `X-Server-Protocol-Version` and
//!   a JSON body.
//! - Each account has N devices from a seed ([`SimulatedAccount::with_devices`]):
//!   serials, models, `device_family`, `os`, `profile_status`. Fetch pages
//!   them with cursors (`EXHAUSTED_CURSOR` after a completed fetch,
//!   `EXPIRED_CURSOR` after [`SimulatorOptions::cursor_lifetime`],
//!   `INVALID_CURSOR` for unknown ones); changes made with
//!   [`Simulator::add_devices`], [`Simulator::modify_devices`] and
//!   [`Simulator::delete_devices`] come out of sync with `op_type` and
//!   `op_date`. Profiles can be defined, read, assigned and removed.
//! - Faults on request: `THROTTLED` serials, expired or forgotten cursors, a
//!   repeated cursor, 403 `FORBIDDEN` after a restart, terms not accepted,
//!   503s.
//!
//! The HTTP side (`transport`) is separate from the service logic
//! (`service`, `inventory`) and deliberately small: one thread, one request
//! per connection, bounded reads, 5 s socket timeouts.
//! [`Simulator::shutdown`] (or dropping the value) stops it.
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

mod inventory;
pub mod portal_api;
mod service;
mod transport;

use std::{
    io,
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration as StdDuration,
};

use time::OffsetDateTime;

use self::service::{State, lock};
pub use self::transport::{MAX_REQUEST_BODY, MAX_REQUEST_HEAD};
use crate::token::ServerToken;

/// One organization's MDM server as the simulated service knows it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SimulatedAccount {
    /// The token the portal issued (the simulator's copy of the secrets).
    pub token: ServerToken,
    /// The organization's name (`org_name` in `/account`).
    pub org_name: String,
    /// The MDM server's name (`server_name` in `/account`).
    pub server_name: String,
    /// Whether the organization has accepted the latest terms and conditions;
    /// `false` makes `/session` and every endpoint answer 403 `T_C_NOT_SIGNED`.
    pub terms_accepted: bool,
    /// How many devices are assigned to the server at start.
    pub device_count: u32,
    /// The seed their serials and details are derived from.
    pub seed: u64,
}

impl SimulatedAccount {
    /// An account for `token`, terms accepted, server name `MDM Server`, no
    /// devices.
    pub fn new(token: ServerToken, org_name: &str) -> Self {
        Self {
            token,
            org_name: org_name.to_owned(),
            server_name: "MDM Server".to_owned(),
            terms_accepted: true,
            device_count: 0,
            seed: 0,
        }
    }

    /// With `count` devices derived from `seed` (the same seed gives the same
    /// devices; serials are `S` + 3 hex digits of the seed + 8 digits).
    pub fn with_devices(mut self, count: u32, seed: u64) -> Self {
        self.device_count = count;
        self.seed = seed;
        self
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
    /// How long a cursor stays valid (Apple: 7 days).
    pub cursor_lifetime: time::Duration,
    /// The simulator's clock; `None` uses the system clock. A fixed time
    /// makes expiry checks reproducible.
    pub now: Option<OffsetDateTime>,
    /// School and Business Manager API: how many reads of an activity
    /// answer `IN_PROGRESS` before it has completed (default 2).
    pub activity_reads: u32,
}

impl Default for SimulatorOptions {
    fn default() -> Self {
        Self {
            timestamp_window: time::Duration::minutes(5),
            session_lifetime: time::Duration::minutes(3),
            cursor_lifetime: time::Duration::days(7),
            now: None,
            activity_reads: 2,
        }
    }
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
        let state = Arc::new(Mutex::new(State::new(base_url.clone(), options, accounts)));
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
                            transport::serve_one(stream, &state);
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
        let mut state = lock(&self.state);
        let (base, options) = (state.base_url.clone(), state.options.clone());
        let mut fresh = State::new(base, options, vec![account]);
        state.accounts.append(&mut fresh.accounts);
    }

    /// Runs `f` on the account with `consumer_key`; `None` if there is none.
    fn with_account<T>(
        &self,
        consumer_key: &str,
        f: impl FnOnce(&mut service::AccountState, OffsetDateTime) -> T,
    ) -> Option<T> {
        let mut state = lock(&self.state);
        let now = state.now();
        state.account_mut(consumer_key).map(|a| f(a, now))
    }

    /// Marks the terms and conditions of the account with `consumer_key` as
    /// accepted or not. Returns `false` if there is no such account.
    pub fn set_terms_accepted(&self, consumer_key: &str, accepted: bool) -> bool {
        self.with_account(consumer_key, |a, _| a.account.terms_accepted = accepted)
            .is_some()
    }

    /// Ends every open session (as when the service forgets them), so the
    /// next service request gets 401.
    pub fn expire_sessions(&self) {
        lock(&self.state).clear_sessions();
    }

    /// Simulates a restart of the service: every session is forgotten and,
    /// from now on, an unknown session gets 403 `FORBIDDEN` (as Apple's
    /// service answers then) instead of 401.
    pub fn restart(&self) {
        let mut state = lock(&self.state);
        state.clear_sessions();
        state.restarted = true;
    }

    /// The next `count` device-endpoint requests fail with 503.
    pub fn fail_requests(&self, count: u32) {
        lock(&self.state).server_errors = count;
    }

    /// Moves the simulator's clock forward by `by` (cursor and session expiry).
    pub fn advance_clock(&self, by: time::Duration) {
        lock(&self.state).clock_offset += by;
    }

    /// How many requests reached `path` (`/session`, `/server/devices`...).
    pub fn requests(&self, path: &str) -> u64 {
        lock(&self.state).requests.get(path).copied().unwrap_or(0)
    }

    /// Adds `count` devices to the account (sync reports them `added`);
    /// returns their serials (empty if there is no such account).
    pub fn add_devices(&self, consumer_key: &str, count: u32) -> Vec<String> {
        self.with_account(consumer_key, |a, now| a.inventory.add(count, now))
            .unwrap_or_default()
    }

    /// Changes each device's asset tag (sync reports them `modified`);
    /// returns how many exist.
    pub fn modify_devices(&self, consumer_key: &str, serials: &[String]) -> usize {
        self.with_account(consumer_key, |a, now| a.inventory.modify(serials, now))
            .unwrap_or(0)
    }

    /// Removes devices from the server (sync reports them `deleted`);
    /// returns how many existed.
    pub fn delete_devices(&self, consumer_key: &str, serials: &[String]) -> usize {
        self.with_account(consumer_key, |a, now| a.inventory.delete(serials, now))
            .unwrap_or(0)
    }

    /// How many devices the account has now.
    pub fn device_count(&self, consumer_key: &str) -> u64 {
        self.with_account(consumer_key, |a, _| a.inventory.count())
            .unwrap_or(0)
    }

    /// The first `count` seeded serials of the account.
    pub fn seeded_serials(&self, consumer_key: &str, count: usize) -> Vec<String> {
        self.with_account(consumer_key, |a, _| a.inventory.seeded_serials(count))
            .unwrap_or_default()
    }

    /// Assignments of these serials answer `THROTTLED` from now on.
    pub fn throttle_serials(&self, consumer_key: &str, serials: &[String]) {
        self.with_account(consumer_key, |a, _| {
            a.inventory.faults.throttled.extend(serials.iter().cloned());
        });
    }

    /// The next `times` fetch or sync calls that carry a cursor get that same
    /// cursor back with `more_to_follow: true` (a loop in naive clients).
    pub fn repeat_cursor(&self, consumer_key: &str, times: u32) {
        self.with_account(consumer_key, |a, _| {
            a.inventory.faults.repeat_cursor = times
        });
    }

    /// Every cursor issued so far answers `EXPIRED_CURSOR`.
    pub fn expire_cursors(&self, consumer_key: &str) {
        self.with_account(consumer_key, |a, _| a.inventory.expire_cursors());
    }

    /// Every cursor issued so far answers `INVALID_CURSOR`.
    pub fn forget_cursors(&self, consumer_key: &str) {
        self.with_account(consumer_key, |a, _| a.inventory.forget_cursors());
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
    use self::service::handle;
    use super::*;
    use crate::session::{self, SessionError};
    use http::{Method, Request, Response, StatusCode};
    use std::io::{Read as _, Write as _};
    use time::macros::datetime;

    fn state(accounts: Vec<SimulatedAccount>, now: OffsetDateTime) -> State {
        State::new(
            "http://127.0.0.1:9".into(),
            SimulatorOptions {
                now: Some(now),
                ..SimulatorOptions::default()
            },
            accounts,
        )
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
        *r.uri_mut() = "/nowhere".parse().unwrap();
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
            exchange(b"GET /session HTTP/1.1\r\nContent-Length: 9999999\r\n\r\n")
                .starts_with("HTTP/1.1 413")
        );
        assert!(exchange(b"NONSENSE\r\n\r\n").starts_with("HTTP/1.1 400"));
        assert!(exchange(b"GET /session HTTP/1.1\r\nHost: x\r\n\r\n").starts_with("HTTP/1.1 400"));
        assert!(exchange(b"GET /nowhere HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        sim.shutdown();
    }
}
