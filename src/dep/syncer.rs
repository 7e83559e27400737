//! Fetch, then sync: the device list of a server, kept current with cursors.
//!
//! The rules (Apple: *Fetch Devices*, *Sync Devices*; and the failures
//! clients have hit):
//! - fetch pages until `more_to_follow` is false, then sync from the last
//!   cursor;
//! - `EXHAUSTED_CURSOR` on fetch switches to sync; `EXPIRED_CURSOR` or
//!   `INVALID_CURSOR` drop the cursor and fetch everything again, and so does
//!   a cursor older than 7 days, before the call;
//! - a reply that hands back the cursor it was given with `more_to_follow:
//!   true` stops the run ([`SyncError::RepeatedCursor`]) instead of looping;
//! - within a page, the record with the latest `op_date` wins;
//! - the cursor advances only when the caller accepted the page: each page
//!   goes to the caller with the cursor to commit, and the caller stores both
//!   (ideally in one transaction). A failed write leaves the old cursor, so
//!   the same page comes again: nothing is skipped.
//!
//! The syncer holds one page at a time and knows no store.

use core::fmt;

use time::{Duration, OffsetDateTime};

use super::{DepError, DevicePage, MAX_PAGE_LIMIT, OpType, ServiceCode};

/// Where a run is: fetching the full list, or syncing changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncPhase {
    /// *Fetch Devices* (the cursor is mid-fetch).
    Fetch,
    /// *Sync Devices* (the fetch completed).
    Sync,
}

impl SyncPhase {
    /// `fetch` or `sync`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fetch => "fetch",
            Self::Sync => "sync",
        }
    }
}

/// A cursor to save: the service's cursor, which call it is for, and when it
/// was issued (for the 7-day rule). Save it with [`SyncCursor::to_saved`].
#[derive(Clone, PartialEq, Eq)]
pub struct SyncCursor {
    /// The service's cursor.
    pub cursor: String,
    /// The next call: fetch (more pages to fetch) or sync.
    pub phase: SyncPhase,
    /// When the service issued it.
    pub issued_at: OffsetDateTime,
}

impl fmt::Debug for SyncCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_saved())
    }
}

impl SyncCursor {
    /// The saved form: `v1:PHASE:UNIX_SECONDS:CURSOR`.
    pub fn to_saved(&self) -> String {
        format!(
            "v1:{}:{}:{}",
            self.phase.as_str(),
            self.issued_at.unix_timestamp(),
            self.cursor
        )
    }

    /// Reads the saved form back. `None` for anything else (the caller then
    /// starts with a full fetch).
    pub fn parse(saved: &str) -> Option<Self> {
        let mut parts = saved.splitn(4, ':');
        if parts.next()? != "v1" {
            return None;
        }
        let phase = match parts.next()? {
            "fetch" => SyncPhase::Fetch,
            "sync" => SyncPhase::Sync,
            _ => return None,
        };
        let issued_at = OffsetDateTime::from_unix_timestamp(parts.next()?.parse().ok()?).ok()?;
        let cursor = parts.next()?;
        if cursor.is_empty() || cursor.len() > 4096 || cursor.chars().any(char::is_control) {
            return None;
        }
        Some(Self {
            cursor: cursor.to_owned(),
            phase,
            issued_at,
        })
    }
}

/// The two calls the syncer needs; `dep::client::DepClient` implements it,
/// tests implement it without HTTP.
pub trait DeviceSource {
    /// *Fetch Devices* from `cursor` (None: from the start).
    fn fetch_devices(&self, cursor: Option<&str>, limit: u32) -> Result<DevicePage, DepError>;
    /// *Sync Devices* from `cursor`.
    fn sync_devices(&self, cursor: &str, limit: u32) -> Result<DevicePage, DepError>;
}

/// Why a run started a full fetch again. In JSON (the C API's sync page,
/// through [`Step`]'s `Serialize`) it is [`Restart::as_str`]: `no_cursor`,
/// `cursor_too_old`, `expired_cursor` or `invalid_cursor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Restart {
    /// No cursor was saved.
    NoCursor,
    /// The saved cursor was older than the limit (7 days).
    CursorTooOld,
    /// The service said `EXPIRED_CURSOR`.
    ExpiredCursor,
    /// The service said `INVALID_CURSOR` (or `CURSOR_REQUIRED`).
    InvalidCursor,
}

impl Restart {
    /// The reason's name in JSON (`no_cursor`, `cursor_too_old`,
    /// `expired_cursor`, `invalid_cursor`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NoCursor => "no_cursor",
            Self::CursorTooOld => "cursor_too_old",
            Self::ExpiredCursor => "expired_cursor",
            Self::InvalidCursor => "invalid_cursor",
        }
    }

    /// The reason in words, for people.
    pub const fn describe(self) -> &'static str {
        match self {
            Self::NoCursor => "no saved cursor",
            Self::CursorTooOld => "the saved cursor is older than 7 days",
            Self::ExpiredCursor => "the service says the cursor expired",
            Self::InvalidCursor => "the service does not know the cursor",
        }
    }
}

impl core::fmt::Display for Restart {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.describe())
    }
}

/// One page with the cursor to commit once the page is stored.
///
/// Its JSON (`Serialize`; the C API's `mdmlink_dep_sync_step` page) leaves
/// the cursor out, which the caller saves on its own once the page is
/// stored: `{"phase": "fetch"|"sync", "done": bool, "restart": null or a
/// [`Restart`] name, "more_to_follow": bool, "devices": [...]}`, the devices
/// as Apple sends them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Step {
    /// The devices (same serial collapsed: latest `op_date` wins).
    pub page: DevicePage,
    /// The call that produced it.
    pub phase: SyncPhase,
    /// The cursor to save after storing the page.
    pub cursor: SyncCursor,
    /// `true` when the service has nothing more for now (a sync page
    /// without `more_to_follow`).
    pub done: bool,
    /// Set when this page starts a full fetch again: devices not seen again
    /// by the end of the fetch are gone.
    pub restart: Option<Restart>,
}

impl serde::Serialize for Step {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Step", 5)?;
        s.serialize_field("phase", self.phase.as_str())?;
        s.serialize_field("done", &self.done)?;
        s.serialize_field("restart", &self.restart)?;
        s.serialize_field("more_to_follow", &self.page.more_to_follow)?;
        s.serialize_field("devices", &self.page.devices)?;
        s.end()
    }
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError<E = core::convert::Infallible> {
    /// The service failed; the last committed cursor is still good.
    #[error(transparent)]
    Service(#[from] DepError),
    /// The service returned the cursor it was given with `more_to_follow:
    /// true`; following it would loop forever. The last committed cursor is
    /// kept.
    #[error(
        "the device assignment service returned the same cursor with more_to_follow (it would loop forever); stopped and kept the last good cursor, try again later"
    )]
    RepeatedCursor {
        /// The phase of the call.
        phase: SyncPhase,
    },
    /// The caller did not accept a page; its cursor was not committed.
    #[error("the page was not stored: {0}")]
    Rejected(E),
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncReport {
    /// Pages accepted.
    pub pages: u64,
    /// Devices listed by fetch pages.
    pub fetched: u64,
    /// Sync records `added`.
    pub added: u64,
    /// Sync records `modified`.
    pub modified: u64,
    /// Sync records `deleted`.
    pub deleted: u64,
    /// A full fetch was started, and why.
    pub restart: Option<Restart>,
    /// The cursor committed last.
    pub cursor: Option<SyncCursor>,
}

/// Runs fetch and sync with the rules above.
#[derive(Debug, Clone)]
pub struct Syncer {
    limit: u32,
    max_cursor_age: Duration,
}

impl Default for Syncer {
    fn default() -> Self {
        Self {
            limit: MAX_PAGE_LIMIT,
            max_cursor_age: Duration::days(7),
        }
    }
}

fn restart_for(e: &DepError) -> Option<Restart> {
    match e.code()? {
        ServiceCode::ExpiredCursor => Some(Restart::ExpiredCursor),
        ServiceCode::InvalidCursor | ServiceCode::CursorRequired => Some(Restart::InvalidCursor),
        _ => None,
    }
}

impl Syncer {
    /// 1,000 devices per page; cursors older than 7 days count as expired.
    pub fn new() -> Self {
        Self::default()
    }

    /// Devices per page, 1 to 1000.
    pub fn with_limit(mut self, limit: u32) -> Result<Self, DepError> {
        if limit == 0 || limit > MAX_PAGE_LIMIT {
            return Err(DepError::InvalidArgument {
                reason: format!("the page limit must be 1 to {MAX_PAGE_LIMIT}, not {limit}"),
            });
        }
        self.limit = limit;
        Ok(self)
    }

    /// One call: the next page after `saved` (None: start a full fetch), at
    /// `now`. Commit `step.cursor` only after storing `step.page`.
    pub fn step<S: DeviceSource + ?Sized>(
        &self,
        source: &S,
        saved: Option<&SyncCursor>,
        now: OffsetDateTime,
    ) -> Result<Step, SyncError> {
        let mut restart = None;
        let mut cursor = saved.cloned();
        match &cursor {
            None => restart = Some(Restart::NoCursor),
            Some(c) if now - c.issued_at > self.max_cursor_age => {
                cursor = None;
                restart = Some(Restart::CursorTooOld);
            }
            Some(_) => {}
        }
        // At most: exhausted -> sync -> expired -> fresh fetch.
        for _ in 0..4 {
            let (phase, sent, result) = match &cursor {
                None => (
                    SyncPhase::Fetch,
                    None,
                    source.fetch_devices(None, self.limit),
                ),
                Some(c) if c.phase == SyncPhase::Fetch => (
                    SyncPhase::Fetch,
                    Some(c.cursor.as_str()),
                    source.fetch_devices(Some(&c.cursor), self.limit),
                ),
                Some(c) => (
                    SyncPhase::Sync,
                    Some(c.cursor.as_str()),
                    source.sync_devices(&c.cursor, self.limit),
                ),
            };
            let mut page = match result {
                Ok(page) => page,
                Err(e)
                    if phase == SyncPhase::Fetch
                        && e.code() == Some(&ServiceCode::ExhaustedCursor) =>
                {
                    if let Some(c) = cursor.as_mut() {
                        c.phase = SyncPhase::Sync;
                        continue;
                    }
                    return Err(e.into());
                }
                Err(e) if sent.is_some() && restart_for(&e).is_some() => {
                    restart = restart_for(&e);
                    cursor = None;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let Some(next) = page.cursor.clone() else {
                return Err(DepError::Malformed {
                    reason: "the devices reply has no cursor".into(),
                }
                .into());
            };
            if page.more_to_follow && sent == Some(next.as_str()) {
                return Err(SyncError::RepeatedCursor { phase });
            }
            page.dedup_latest();
            let next_phase = if phase == SyncPhase::Fetch && page.more_to_follow {
                SyncPhase::Fetch
            } else {
                SyncPhase::Sync
            };
            let done = phase == SyncPhase::Sync && !page.more_to_follow;
            return Ok(Step {
                page,
                phase,
                cursor: SyncCursor {
                    cursor: next,
                    phase: next_phase,
                    issued_at: now,
                },
                done,
                restart: restart.filter(|_| phase == SyncPhase::Fetch),
            });
        }
        Err(DepError::Malformed {
            reason: "the service keeps refusing fresh cursors".into(),
        }
        .into())
    }

    /// Runs until the service has nothing more: each page goes to `accept`
    /// with the cursor to commit; the next call starts from that cursor only
    /// if `accept` returned `Ok`. `clock` gives the time of each call.
    pub fn run<S, F, E>(
        &self,
        source: &S,
        saved: Option<SyncCursor>,
        clock: impl Fn() -> OffsetDateTime,
        mut accept: F,
    ) -> Result<SyncReport, SyncError<E>>
    where
        S: DeviceSource + ?Sized,
        F: FnMut(&Step) -> Result<(), E>,
    {
        let mut report = SyncReport {
            cursor: saved,
            ..SyncReport::default()
        };
        loop {
            let step = self
                .step(source, report.cursor.as_ref(), clock())
                .map_err(|e| match e {
                    SyncError::Service(e) => SyncError::Service(e),
                    SyncError::RepeatedCursor { phase } => SyncError::RepeatedCursor { phase },
                    SyncError::Rejected(never) => match never {},
                })?;
            accept(&step).map_err(SyncError::Rejected)?;
            report.pages += 1;
            if step.restart.is_some() && report.restart.is_none() {
                report.restart = step.restart;
            }
            for d in &step.page.devices {
                match (&d.op_type, step.phase) {
                    (_, SyncPhase::Fetch) | (None, _) => report.fetched += 1,
                    (Some(OpType::Added), _) => report.added += 1,
                    (Some(OpType::Deleted), _) => report.deleted += 1,
                    (Some(_), _) => report.modified += 1,
                }
            }
            report.cursor = Some(step.cursor);
            if step.done {
                return Ok(report);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dep::Device;
    use std::cell::RefCell;
    use time::macros::datetime;

    /// A scripted service: each call pops the next answer and records what
    /// was asked.
    struct Script {
        answers: RefCell<Vec<Result<DevicePage, DepError>>>,
        calls: RefCell<Vec<String>>,
    }

    impl Script {
        fn new(mut answers: Vec<Result<DevicePage, DepError>>) -> Self {
            answers.reverse();
            Self {
                answers: RefCell::new(answers),
                calls: RefCell::default(),
            }
        }
        fn next(&self, call: String) -> Result<DevicePage, DepError> {
            self.calls.borrow_mut().push(call);
            self.answers
                .borrow_mut()
                .pop()
                .expect("no scripted answer left")
        }
    }

    impl DeviceSource for Script {
        fn fetch_devices(&self, cursor: Option<&str>, _: u32) -> Result<DevicePage, DepError> {
            self.next(format!("fetch {}", cursor.unwrap_or("-")))
        }
        fn sync_devices(&self, cursor: &str, _: u32) -> Result<DevicePage, DepError> {
            self.next(format!("sync {cursor}"))
        }
    }

    fn page(cursor: &str, more: bool, serials: &[&str]) -> Result<DevicePage, DepError> {
        Ok(DevicePage {
            devices: serials.iter().map(|s| Device::new(*s)).collect(),
            cursor: Some(cursor.into()),
            more_to_follow: more,
            fetched_until: None,
        })
    }

    fn code(c: &str) -> Result<DevicePage, DepError> {
        Err(crate::dep::error::classify(400, None, c.as_bytes()))
    }

    const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

    #[test]
    fn fetch_until_done_then_sync() {
        let s = Script::new(vec![
            page("C1", true, &["A", "B"]),
            page("C2", false, &["C"]),
            page("C3", false, &[]),
        ]);
        let report = Syncer::new()
            .run(&s, None, || NOW, |_| Ok::<_, ()>(()))
            .unwrap();
        assert_eq!(*s.calls.borrow(), ["fetch -", "fetch C1", "sync C2"]);
        assert_eq!(report.fetched, 3);
        assert_eq!(report.restart, Some(Restart::NoCursor));
        let c = report.cursor.unwrap();
        assert_eq!((c.cursor.as_str(), c.phase), ("C3", SyncPhase::Sync));
        assert_eq!(SyncCursor::parse(&c.to_saved()), Some(c));
    }

    #[test]
    fn exhausted_switches_to_sync_and_expired_refetches() {
        let saved = SyncCursor {
            cursor: "F".into(),
            phase: SyncPhase::Fetch,
            issued_at: NOW,
        };
        let s = Script::new(vec![
            code("EXHAUSTED_CURSOR"),
            code("EXPIRED_CURSOR"),
            page("N", false, &["A"]),
            page("S", false, &[]),
        ]);
        let report = Syncer::new()
            .run(&s, Some(saved), || NOW, |_| Ok::<_, ()>(()))
            .unwrap();
        assert_eq!(
            *s.calls.borrow(),
            ["fetch F", "sync F", "fetch -", "sync N"]
        );
        assert_eq!(report.restart, Some(Restart::ExpiredCursor));
    }

    #[test]
    fn old_cursor_counts_as_expired_before_the_call() {
        let saved = SyncCursor {
            cursor: "OLD".into(),
            phase: SyncPhase::Sync,
            issued_at: NOW - Duration::days(8),
        };
        let s = Script::new(vec![page("N", false, &[])]);
        let step = Syncer::new().step(&s, Some(&saved), NOW).unwrap();
        assert_eq!(*s.calls.borrow(), ["fetch -"]);
        assert_eq!(step.restart, Some(Restart::CursorTooOld));
        let fresh = SyncCursor {
            issued_at: NOW - Duration::days(6),
            ..saved
        };
        let s = Script::new(vec![code("INVALID_CURSOR"), page("N", false, &[])]);
        let step = Syncer::new().step(&s, Some(&fresh), NOW).unwrap();
        assert_eq!(*s.calls.borrow(), ["sync OLD", "fetch -"]);
        assert_eq!(step.restart, Some(Restart::InvalidCursor));
    }

    #[test]
    fn repeated_cursor_stops_and_keeps_the_last_good_one() {
        let s = Script::new(vec![page("C1", true, &["A"]), page("C1", true, &["A"])]);
        let mut committed = None;
        let err = Syncer::new()
            .run(
                &s,
                None,
                || NOW,
                |step| {
                    committed = Some(step.cursor.cursor.clone());
                    Ok::<_, ()>(())
                },
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                SyncError::RepeatedCursor {
                    phase: SyncPhase::Fetch
                }
            ),
            "{err:?}"
        );
        assert_eq!(committed.as_deref(), Some("C1"));
    }

    #[test]
    fn rejected_page_is_not_committed() {
        let s = Script::new(vec![page("C1", true, &["A"])]);
        let err = Syncer::new()
            .run(&s, None, || NOW, |_| Err("disk full"))
            .unwrap_err();
        assert!(matches!(err, SyncError::Rejected("disk full")));
        // Any other error passes through untouched, with no cursor advanced.
        let s = Script::new(vec![code("T_C_NOT_SIGNED")]);
        assert!(matches!(
            Syncer::new().step(&s, None, NOW),
            Err(SyncError::Service(_))
        ));
        assert!(Syncer::new().with_limit(1001).is_err());
        assert_eq!(SyncCursor::parse("v2:sync:1:C"), None);
        assert_eq!(SyncCursor::parse("v1:sync:x:C"), None);
        assert_eq!(SyncCursor::parse("v1:sync:1:"), None);
    }
}
