//! Sessions cached per server and shared by several callers.
//!
//! The cache never talks to the network: the caller passes the function that
//! opens a session. What the cache guarantees:
//! - one session per server key, handed to every caller ([`SessionCache::current`]);
//! - one re-authentication at a time per server: when several callers find
//!   the session refused at once, the first opens a new one and the others
//!   wait and use it ([`SessionCache::renew`] compares the generation they
//!   saw with the current one);
//! - a new `X-ADM-Auth-Session` in any reply replaces the cached token
//!   ([`SessionCache::observe`]).

use std::collections::HashMap;
use std::sync::{
    Arc, Mutex, MutexGuard,
    atomic::{AtomicU64, Ordering},
};

use http::Response;

use crate::session::{Observation, Session};

/// A session handed out by the cache, with the generation it belongs to.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The session to send requests with.
    pub session: Session,
    generation: u64,
}

#[derive(Default)]
struct SlotState {
    session: Option<Session>,
    generation: u64,
}

#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
    reauth: Mutex<()>,
    authentications: AtomicU64,
}

/// Sessions per server (key: base URL and consumer key, see
/// [`SessionCache::key`]). `Send + Sync`: share it with an `Arc`.
#[derive(Default)]
pub struct SessionCache {
    servers: Mutex<HashMap<String, Arc<Slot>>>,
}

impl core::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionCache").finish_non_exhaustive()
    }
}

/// A poisoned lock only means another caller panicked; the state it guards
/// is always whole (each update is one assignment), so keep using it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SessionCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The cache key of a server: its service URL and consumer key.
    pub fn key(base_url: &str, consumer_key: &str) -> String {
        format!("{}\n{consumer_key}", base_url.trim_end_matches('/'))
    }

    fn slot(&self, key: &str) -> Arc<Slot> {
        let mut servers = lock(&self.servers);
        Arc::clone(servers.entry(key.to_owned()).or_default())
    }

    /// The server's session, opening one with `open` if there is none (one
    /// caller opens; the others wait for it).
    pub fn current<E>(
        &self,
        key: &str,
        open: impl FnOnce() -> Result<Session, E>,
    ) -> Result<Lease, E> {
        Self::get_or_open(&self.slot(key), None, open)
    }

    /// A session other than `stale` (which the service refused): if another
    /// caller already renewed it, that session; otherwise `open` makes one.
    pub fn renew<E>(
        &self,
        key: &str,
        stale: &Lease,
        open: impl FnOnce() -> Result<Session, E>,
    ) -> Result<Lease, E> {
        Self::get_or_open(&self.slot(key), Some(stale.generation), open)
    }

    fn get_or_open<E>(
        slot: &Slot,
        stale: Option<u64>,
        open: impl FnOnce() -> Result<Session, E>,
    ) -> Result<Lease, E> {
        let usable = |st: &SlotState| match &st.session {
            Some(s) if Some(st.generation) != stale => Some(Lease {
                session: s.clone(),
                generation: st.generation,
            }),
            _ => None,
        };
        if let Some(lease) = usable(&lock(&slot.state)) {
            return Ok(lease);
        }
        let _one_at_a_time = lock(&slot.reauth);
        if let Some(lease) = usable(&lock(&slot.state)) {
            return Ok(lease);
        }
        // Opened outside the state lock: callers with a working lease keep
        // going while this one waits on the network.
        let session = open()?;
        slot.authentications.fetch_add(1, Ordering::Relaxed);
        let mut st = lock(&slot.state);
        st.generation += 1;
        st.session = Some(session.clone());
        Ok(Lease {
            session,
            generation: st.generation,
        })
    }

    /// Looks at a reply made with `lease`: a new `X-ADM-Auth-Session`
    /// replaces the cached token (when the cache still holds the lease's
    /// generation; a newer session wins).
    pub fn observe<B>(&self, key: &str, lease: &Lease, response: &Response<B>) {
        let slot = self.slot(key);
        let mut st = lock(&slot.state);
        if st.generation != lease.generation {
            return;
        }
        if let Some(session) = st.session.as_mut()
            && session.observe(response) == Observation::Refreshed
        {
            st.generation += 1;
        }
    }

    /// How many sessions were opened for `key` (for tests and metrics).
    pub fn authentications(&self, key: &str) -> u64 {
        self.slot(key).authentications.load(Ordering::Relaxed)
    }

    /// Drops the server's session (the next call opens a new one).
    pub fn forget(&self, key: &str) {
        let slot = self.slot(key);
        let mut st = lock(&slot.state);
        st.session = None;
        st.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    fn open(n: &AtomicU64) -> Result<Session, ()> {
        let i = n.fetch_add(1, Ordering::SeqCst);
        // Slow enough that racing callers pile up behind the first.
        std::thread::sleep(std::time::Duration::from_millis(20));
        Ok(Session::new(&format!("S{i}"), "http://127.0.0.1:1").unwrap())
    }

    #[test]
    fn one_reauthentication_for_many_callers() {
        let cache = Arc::new(SessionCache::new());
        let opened = Arc::new(AtomicU64::new(0));
        let first = cache.current("k", || open(&opened)).unwrap();
        assert_eq!(first.session.auth_session_token(), "S0");
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (cache, opened, barrier, stale) = (
                    Arc::clone(&cache),
                    Arc::clone(&opened),
                    Arc::clone(&barrier),
                    first.clone(),
                );
                std::thread::spawn(move || {
                    barrier.wait();
                    cache
                        .renew("k", &stale, || open(&opened))
                        .unwrap()
                        .session
                        .auth_session_token()
                        .to_owned()
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), "S1");
        }
        assert_eq!(opened.load(Ordering::SeqCst), 2);
        assert_eq!(cache.authentications("k"), 2);
        // Another server has its own session.
        assert_eq!(
            cache
                .current("other", || open(&opened))
                .unwrap()
                .session
                .auth_session_token(),
            "S2"
        );
    }

    #[test]
    fn reply_header_replaces_the_token() {
        let cache = SessionCache::new();
        let opened = AtomicU64::new(0);
        let lease = cache.current("k", || open(&opened)).unwrap();
        let mut reply = Response::new(());
        reply
            .headers_mut()
            .insert("x-adm-auth-session", "FRESH".parse().unwrap());
        cache.observe("k", &lease, &reply);
        let now = cache.current("k", || open(&opened)).unwrap();
        assert_eq!(now.session.auth_session_token(), "FRESH");
        // The stale lease's renewal gets the replaced token, no new session.
        let renewed = cache.renew("k", &lease, || open(&opened)).unwrap();
        assert_eq!(renewed.session.auth_session_token(), "FRESH");
        assert_eq!(opened.load(Ordering::SeqCst), 1);
        // An old lease does not overwrite a newer session.
        cache.observe("k", &lease, &reply);
        cache.forget("k");
        assert_eq!(
            cache
                .current("k", || open(&opened))
                .unwrap()
                .session
                .auth_session_token(),
            "S1"
        );
    }
}
