//! The syncer and the client against the simulator over real HTTP on
//! 127.0.0.1: one test per rule of fetch/sync, cursors and sessions.
#![cfg(all(feature = "simulator", feature = "http"))]

use std::collections::BTreeMap;
use std::sync::Arc;

use mdmlink::dep::{
    DepError, OpType, ServiceCode,
    client::DepClient,
    syncer::{Restart, SyncCursor, SyncError, SyncPhase, Syncer},
};
use mdmlink::session::simulator::{SimulatedAccount, Simulator};
use mdmlink::token::ServerToken;
use time::{Duration, OffsetDateTime};

const CK: &str = "CK_dep";

fn token() -> ServerToken {
    ServerToken::new(
        CK,
        "CS_dep+/=",
        "AT_dep",
        "AS_dep&%",
        OffsetDateTime::now_utc() + Duration::days(300),
    )
    .unwrap()
}

fn start(devices: u32) -> (Simulator, DepClient) {
    let sim = Simulator::start(vec![
        SimulatedAccount::new(token(), "Example School").with_devices(devices, 42),
    ])
    .unwrap();
    let client = DepClient::new(token(), &sim.base_url()).unwrap();
    (sim, client)
}

/// A store as a caller keeps it: devices by serial (with tombstones) and the
/// cursor, updated together.
#[derive(Default)]
struct Store {
    devices: BTreeMap<String, (bool, Option<OffsetDateTime>)>,
    cursor: Option<SyncCursor>,
}

impl Store {
    fn accept(&mut self, step: &mdmlink::dep::syncer::Step) {
        for d in &step.page.devices {
            let stored = self.devices.get(&d.serial_number).and_then(|(_, at)| *at);
            if d.supersedes(stored) {
                self.devices
                    .insert(d.serial_number.clone(), (d.is_deleted(), d.op_date));
            }
        }
        self.cursor = Some(step.cursor.clone());
    }

    fn present(&self) -> usize {
        self.devices
            .values()
            .filter(|(deleted, _)| !deleted)
            .count()
    }

    fn sync(
        &mut self,
        client: &DepClient,
    ) -> Result<mdmlink::dep::syncer::SyncReport, SyncError<std::io::Error>> {
        let saved = self.cursor.clone();
        Syncer::new().run(client, saved, OffsetDateTime::now_utc, |step| {
            self.accept(step);
            Ok(())
        })
    }
}

#[test]
fn fetches_every_page_then_syncs() {
    let (sim, client) = start(2_500);
    let mut store = Store::default();
    let report = store.sync(&client).unwrap();
    assert_eq!(report.fetched, 2_500);
    assert_eq!(store.present(), 2_500);
    assert_eq!(report.restart, Some(Restart::NoCursor));
    // 1,000 per page: 3 fetch pages, then one sync with nothing new.
    assert_eq!(sim.requests("/server/devices"), 3);
    assert_eq!(sim.requests("/devices/sync"), 1);
    assert_eq!(store.cursor.as_ref().unwrap().phase, SyncPhase::Sync);
    // One session for the whole run.
    assert_eq!(sim.requests("/session"), 1);
}

#[test]
fn sync_applies_added_modified_deleted_latest_op_date_wins() {
    let (sim, client) = start(50);
    let mut store = Store::default();
    store.sync(&client).unwrap();
    let seeded = sim.seeded_serials(CK, 3);
    let added = sim.add_devices(CK, 4);
    assert_eq!(sim.modify_devices(CK, &seeded[..1]), 1);
    assert_eq!(sim.modify_devices(CK, &seeded[..1]), 1);
    assert_eq!(sim.delete_devices(CK, &seeded[1..3]), 2);
    let report = store.sync(&client).unwrap();
    assert_eq!((report.added, report.modified, report.deleted), (4, 1, 2));
    assert_eq!(report.fetched, 0);
    assert_eq!(store.present(), 50 + 4 - 2);
    assert!(
        store.devices[&seeded[1]].0,
        "deleted devices keep a tombstone"
    );
    assert!(store.devices.contains_key(&added[3]));
    // Nothing new: an empty sync.
    let again = store.sync(&client).unwrap();
    assert_eq!(again.pages, 1);
    assert_eq!(again.added + again.modified + again.deleted, 0);
}

#[test]
fn exhausted_cursor_switches_to_sync() {
    let (sim, client) = start(10);
    let first = Syncer::new()
        .step(&client, None, OffsetDateTime::now_utc())
        .unwrap();
    assert!(!first.page.more_to_follow);
    // A caller that saved the completed fetch cursor as still fetching.
    let stale = SyncCursor {
        phase: SyncPhase::Fetch,
        ..first.cursor.clone()
    };
    let step = Syncer::new()
        .step(&client, Some(&stale), OffsetDateTime::now_utc())
        .unwrap();
    assert_eq!(step.phase, SyncPhase::Sync);
    assert!(step.restart.is_none());
    assert_eq!(sim.requests("/server/devices"), 2);
    assert_eq!(sim.requests("/devices/sync"), 1);
}

#[test]
fn expired_and_invalid_cursors_fetch_everything_again() {
    let (sim, client) = start(30);
    let mut store = Store::default();
    store.sync(&client).unwrap();
    sim.expire_cursors(CK);
    let report = store.sync(&client).unwrap();
    assert_eq!(report.restart, Some(Restart::ExpiredCursor));
    assert_eq!(report.fetched, 30);
    sim.forget_cursors(CK);
    let report = store.sync(&client).unwrap();
    assert_eq!(report.restart, Some(Restart::InvalidCursor));
    assert_eq!(report.fetched, 30);
    // The client call itself reports the code with what to do.
    sim.expire_cursors(CK);
    let err = client
        .sync_devices(&store.cursor.as_ref().unwrap().cursor, 10)
        .unwrap_err();
    assert_eq!(err.code(), Some(&ServiceCode::ExpiredCursor));
    assert!(
        err.to_string().contains("fetch every device again"),
        "{err}"
    );
}

#[test]
fn a_sync_cursor_older_than_seven_days_is_expired_before_the_call() {
    let (sim, client) = start(5);
    let mut store = Store::default();
    store.sync(&client).unwrap();
    let syncs = sim.requests("/devices/sync");
    let mut old = store.cursor.clone().unwrap();
    old.issued_at -= Duration::days(7) + Duration::seconds(1);
    let step = Syncer::new()
        .step(&client, Some(&old), OffsetDateTime::now_utc())
        .unwrap();
    assert_eq!(step.restart, Some(Restart::CursorTooOld));
    assert_eq!(step.phase, SyncPhase::Fetch);
    assert_eq!(
        sim.requests("/devices/sync"),
        syncs,
        "no sync call was made"
    );
}

#[test]
fn repeated_cursor_stops_and_keeps_the_last_good_cursor() {
    let (sim, client) = start(2_500);
    let mut store = Store::default();
    // The first page arrives; then the service hands the same cursor back.
    let first = Syncer::new()
        .step(&client, None, OffsetDateTime::now_utc())
        .unwrap();
    store.accept(&first);
    sim.repeat_cursor(CK, 1);
    let err = store.sync(&client).unwrap_err();
    assert!(
        matches!(
            err,
            SyncError::RepeatedCursor {
                phase: SyncPhase::Fetch
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("kept the last good cursor"));
    assert_eq!(store.cursor.as_ref(), Some(&first.cursor));
    // The next run continues from it and loses nothing.
    let report = store.sync(&client).unwrap();
    assert_eq!(report.fetched, 1_500);
    assert_eq!(store.present(), 2_500);
}

#[test]
fn a_crash_before_accepting_a_page_loses_and_skips_nothing() {
    let (_sim, client) = start(2_500);
    let mut store = Store::default();
    let mut pages = 0;
    // The write of the second page fails (a crash, a full disk).
    let err = Syncer::new()
        .run(&client, None, OffsetDateTime::now_utc, |step| {
            pages += 1;
            if pages == 2 {
                return Err("disk full");
            }
            store.accept(step);
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(err, SyncError::Rejected("disk full")));
    assert_eq!(store.present(), 1_000);
    assert_eq!(store.cursor.as_ref().unwrap().phase, SyncPhase::Fetch);
    // Restart from what was committed: the second page comes again.
    let report = store.sync(&client).unwrap();
    assert_eq!(report.fetched, 1_500);
    assert_eq!(store.present(), 2_500);
}

#[test]
fn reauthenticates_after_403_forbidden_and_replays_the_body() {
    let (sim, client) = start(20);
    let page = client.fetch_devices(None, 5).unwrap();
    assert_eq!(sim.requests("/session"), 1);
    sim.restart();
    // The same body (with its cursor) is sent again after the new session.
    let next = client.fetch_devices(page.cursor.as_deref(), 5).unwrap();
    assert_eq!(sim.requests("/session"), 2);
    assert_eq!(sim.requests("/server/devices"), 3);
    assert_ne!(next.devices[0].serial_number, page.devices[0].serial_number);
    // 401 (an expired session) is handled the same way.
    sim.expire_sessions();
    client.fetch_devices(None, 1).unwrap();
    assert_eq!(sim.requests("/session"), 3);
}

#[test]
fn one_reauthentication_for_concurrent_callers() {
    let (sim, client) = start(10);
    client.fetch_devices(None, 1).unwrap();
    sim.expire_sessions();
    let client = Arc::new(client);
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let c = Arc::clone(&client);
            std::thread::spawn(move || c.fetch_devices(None, 2).map(|p| p.devices.len()))
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap().unwrap(), 2);
    }
    assert_eq!(
        sim.requests("/session"),
        2,
        "one new session for all six callers"
    );
    assert_eq!(client.cache().authentications(&client.cache_key()), 2);
}

#[test]
fn service_errors_are_typed_with_advice() {
    let (sim, client) = start(3);
    sim.fail_requests(1);
    let err = client.fetch_devices(None, 10).unwrap_err();
    assert!(
        matches!(
            err,
            DepError::Service {
                status: 503,
                code: ServiceCode::ServiceUnavailable,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(client.fetch_devices(None, 10).unwrap().devices.len(), 3);
    sim.set_terms_accepted(CK, false);
    let err = client.fetch_devices(None, 10).unwrap_err();
    assert_eq!(err.code(), Some(&ServiceCode::TermsNotSigned));
    assert!(err.to_string().contains("accept the new terms"), "{err}");
    // A new session is refused the same way (from /session).
    sim.expire_sessions();
    let err = client.fetch_devices(None, 10).unwrap_err();
    assert!(err.to_string().contains("accept"), "{err}");
    sim.set_terms_accepted(CK, true);
    let err = client.sync_devices("not-a-cursor", 10).unwrap_err();
    assert_eq!(err.code(), Some(&ServiceCode::InvalidCursor));
    // A token the service does not know.
    let stranger = ServerToken::new(
        "CK_x",
        "a",
        "b",
        "c",
        OffsetDateTime::now_utc() + Duration::days(1),
    )
    .unwrap();
    let err = DepClient::new(stranger, &sim.base_url())
        .unwrap()
        .fetch_devices(None, 1)
        .unwrap_err();
    assert!(err.to_string().contains("download a new token"), "{err}");
    // An op type this version does not know would be kept, not dropped.
    assert_eq!(OpType::Other("moved".into()).as_str(), "moved");
}

#[test]
fn account_and_protocol_version() {
    let (_sim, client) = start(0);
    let account = client.account().unwrap();
    assert_eq!(account.org_name.as_deref(), Some("Example School"));
    // The session rotated by /account is picked up from the reply header.
    client.fetch_devices(None, 1).unwrap();
    assert!(client.clone().with_protocol_version("x").is_err());
}
