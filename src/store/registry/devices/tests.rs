use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use time::macros::datetime;

use super::*;
use crate::dep::{DepError, DevicePage, OpType};
use crate::portal::Portal;
use crate::store::{MemoryStore, conformance::server_row};

const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

#[derive(Clone, Copy)]
enum Cursor {
    Fetch { position: usize, log_at: usize },
    Sync { log_at: usize },
}

/// A device service in memory: fetch pages over the current devices by
/// serial, sync pages over a change log, cursors that can all expire.
#[derive(Default)]
struct Service {
    devices: RefCell<BTreeMap<String, Device>>,
    log: RefCell<Vec<Device>>,
    cursors: RefCell<HashMap<String, Cursor>>,
    issued: std::cell::Cell<u64>,
}

fn device(serial: &str, tag: &str) -> Device {
    let mut d = Device::new(serial);
    d.asset_tag = Some(tag.into());
    d
}

impl Service {
    fn with(serials: &[&str]) -> Self {
        let s = Self::default();
        for serial in serials {
            s.devices
                .borrow_mut()
                .insert((*serial).into(), device(serial, "t0"));
        }
        s
    }
    /// Removes devices without a `deleted` event (as Apple does at times).
    fn drop_silently(&self, serials: &[&str]) {
        for s in serials {
            self.devices.borrow_mut().remove(*s);
        }
    }
    fn change(&self, serial: &str, op: OpType, tag: &str, at: OffsetDateTime) {
        let mut d = device(serial, tag);
        if op == OpType::Deleted {
            self.devices.borrow_mut().remove(serial);
        } else {
            self.devices.borrow_mut().insert(serial.into(), d.clone());
        }
        d.op_type = Some(op);
        d.op_date = Some(at);
        self.log.borrow_mut().push(d);
    }
    fn expire(&self) {
        self.cursors.borrow_mut().clear();
    }
    fn issue(&self, c: Cursor) -> String {
        self.issued.set(self.issued.get() + 1);
        let id = format!("C{}", self.issued.get());
        self.cursors.borrow_mut().insert(id.clone(), c);
        id
    }
    fn lookup(&self, cursor: &str) -> Result<Cursor, DepError> {
        self.cursors
            .borrow()
            .get(cursor)
            .copied()
            .ok_or_else(|| crate::dep::error::classify(400, None, b"EXPIRED_CURSOR"))
    }
    fn names(&self) -> Vec<String> {
        self.devices.borrow().keys().cloned().collect()
    }
}

impl DeviceSource for Service {
    fn fetch_devices(&self, cursor: Option<&str>, limit: u32) -> Result<DevicePage, DepError> {
        let (position, log_at) = match cursor {
            None => (0, self.log.borrow().len()),
            Some(c) => match self.lookup(c)? {
                Cursor::Fetch { position, log_at } => (position, log_at),
                Cursor::Sync { .. } => {
                    return Err(crate::dep::error::classify(400, None, b"EXHAUSTED_CURSOR"));
                }
            },
        };
        let all: Vec<Device> = self.devices.borrow().values().cloned().collect();
        let end = (position + limit as usize).min(all.len());
        let more = end < all.len();
        let next = if more {
            Cursor::Fetch {
                position: end,
                log_at,
            }
        } else {
            Cursor::Sync { log_at }
        };
        Ok(DevicePage {
            devices: all[position..end].to_vec(),
            cursor: Some(self.issue(next)),
            more_to_follow: more,
            ..DevicePage::default()
        })
    }
    fn sync_devices(&self, cursor: &str, limit: u32) -> Result<DevicePage, DepError> {
        let from = match self.lookup(cursor)? {
            Cursor::Fetch { log_at, .. } | Cursor::Sync { log_at } => log_at,
        };
        let log = self.log.borrow().clone();
        let end = (from + limit as usize).min(log.len());
        Ok(DevicePage {
            devices: log[from..end].to_vec(),
            cursor: Some(self.issue(Cursor::Sync { log_at: end })),
            more_to_follow: end < log.len(),
            ..DevicePage::default()
        })
    }
}

fn registry() -> Registry<MemoryStore> {
    let mut r = Registry::new(MemoryStore::new(), None);
    let org = r
        .add_organization("Contoso", Portal::BusinessManager, None, NOW)
        .unwrap();
    r.store_mut()
        .write(|tx| tx.insert_server(&server_row(org.id, "Main MDM", 1)))
        .unwrap();
    r
}

fn options(full: bool) -> DeviceSyncOptions {
    DeviceSyncOptions {
        full,
        syncer: Syncer::new().with_limit(2).unwrap(),
    }
}

fn sync(r: &mut Registry<MemoryStore>, s: &Service, full: bool) -> DeviceSyncReport {
    r.sync_devices(None, "Main MDM", s, &options(full), || NOW, |_| {})
        .unwrap()
}

fn listed(r: &mut Registry<MemoryStore>) -> Vec<String> {
    r.devices(None, "main mdm")
        .unwrap()
        .into_iter()
        .filter(|d| !d.deleted)
        .map(|d| d.device.serial_number)
        .collect()
}

#[test]
fn a_refetch_after_an_expired_cursor_forgets_devices_it_does_not_return() {
    let mut r = registry();
    let s = Service::with(&["A1", "A2", "A3", "A4", "A5"]);
    let first = sync(&mut r, &s, false);
    assert_eq!((first.fetched, first.added), (5, 5));
    assert_eq!(first.restart, Some(Restart::NoCursor));
    assert_eq!(listed(&mut r), s.names());
    // Devices leave without events, the cursor expires, one is added.
    s.drop_silently(&["A2", "A4"]);
    s.devices
        .borrow_mut()
        .insert("B1".into(), device("B1", "t0"));
    s.expire();
    let again = sync(&mut r, &s, false);
    assert_eq!(again.restart, Some(Restart::ExpiredCursor));
    assert_eq!((again.added, again.deleted, again.modified), (1, 2, 0));
    assert_eq!(again.unchanged, 3);
    assert_eq!(listed(&mut r), s.names(), "the list equals the service's");
    // Tombstones stay, so a late older event cannot bring one back.
    let all = r.devices(None, "Main MDM").unwrap();
    assert!(
        all.iter()
            .any(|d| d.device.serial_number == "A2" && d.deleted)
    );
}

#[test]
fn a_full_resync_of_unchanged_devices_reports_them_unchanged() {
    let mut r = registry();
    let s = Service::with(&["A1", "A2", "A3"]);
    sync(&mut r, &s, false);
    let mut seen = Vec::new();
    let full = r
        .sync_devices(
            None,
            "Main MDM",
            &s,
            &options(true),
            || NOW,
            |p| seen.push(p.clone()),
        )
        .unwrap();
    assert_eq!(full.restart, Some(Restart::NoCursor));
    assert_eq!(
        (
            full.fetched,
            full.added,
            full.modified,
            full.deleted,
            full.unchanged
        ),
        (3, 0, 0, 0, 3)
    );
    assert!(seen.iter().all(|p| p.modified.is_empty()));
    // A real change is still one.
    s.change("A1", OpType::Modified, "t1", NOW);
    let next = sync(&mut r, &s, false);
    assert_eq!((next.modified, next.unchanged), (1, 0));
    let full = sync(&mut r, &s, true);
    assert_eq!((full.modified, full.unchanged), (0, 3));
}

#[test]
fn sync_events_and_the_exhausted_end_of_a_fetch() {
    let mut r = registry();
    let s = Service::with(&["A1", "A2"]);
    // Two devices, page size 2: the fetch's only page says more_to_follow
    // false, so the fetch ends there; then events.
    sync(&mut r, &s, false);
    s.change("A1", OpType::Deleted, "t0", NOW);
    s.change("C1", OpType::Added, "t0", NOW);
    let report = sync(&mut r, &s, false);
    assert_eq!((report.added, report.deleted, report.fetched), (1, 1, 0));
    assert_eq!(listed(&mut r), s.names());
    // An older event than the stored one is ignored (and is no deletion).
    s.change("C1", OpType::Deleted, "t0", NOW - time::Duration::hours(1));
    let report = sync(&mut r, &s, false);
    assert_eq!((report.stale, report.deleted), (1, 0));
}

#[test]
fn a_stale_record_in_a_full_fetch_is_not_taken_for_a_deletion() {
    let mut r = registry();
    let s = Service::default();
    s.change("A1", OpType::Added, "t0", NOW);
    sync(&mut r, &s, false);
    // A sync event stores A1 with its op_date.
    s.change("A1", OpType::Modified, "t1", NOW);
    assert_eq!(sync(&mut r, &s, false).modified, 1);
    // The fetch lists A1 with an op_date older than the stored one.
    let mut old = device("A1", "t0");
    old.op_date = Some(NOW - time::Duration::days(1));
    s.devices.borrow_mut().insert("A1".into(), old);
    let full = sync(&mut r, &s, true);
    assert_eq!((full.stale, full.deleted), (1, 0));
    assert_eq!(listed(&mut r), ["A1"]);
}

#[test]
fn two_runs_on_one_server_never_interleave_pages() {
    let mut a = registry();
    let mut b = Registry::new(a.store_mut().clone(), None);
    let s = Service::with(&["A1", "A2", "A3"]);
    let syncer = Syncer::new().with_limit(2).unwrap();
    // Both start from no cursor; b stores its first page first.
    let step_a = syncer.step(&s, None, NOW).unwrap();
    let step_b = syncer.step(&s, None, NOW).unwrap();
    b.store_device_page(None, "Main MDM", &step_b, None)
        .unwrap();
    let err = a
        .store_device_page(None, "Main MDM", &step_a, None)
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::DeviceSyncRace { ref server } if server == "Main MDM"),
        "{err}"
    );
    assert!(err.to_string().contains("another device sync"), "{err}");
    // a stored nothing: the saved cursor is b's.
    assert_eq!(
        a.device_cursor(None, "Main MDM")
            .unwrap()
            .map(|c| c.to_saved()),
        Some(step_b.cursor.to_saved())
    );
    // b goes on from its own cursor.
    let step = syncer.step(&s, Some(&step_b.cursor), NOW).unwrap();
    b.store_device_page(None, "Main MDM", &step, Some(&step_b.cursor.to_saved()))
        .unwrap();
    assert_eq!(listed(&mut b), ["A1", "A2", "A3"]);
}

#[test]
fn unknown_servers_and_forgetting() {
    let mut r = registry();
    let s = Service::with(&["A1"]);
    let err = r
        .sync_devices(None, "Nope", &s, &options(false), || NOW, |_| {})
        .unwrap_err();
    assert!(
        matches!(err, SyncError::Rejected(RegistryError::NotFound(_))),
        "{err}"
    );
    sync(&mut r, &s, false);
    assert!(r.device_cursor(None, "Main MDM").unwrap().is_some());
    r.forget_devices(None, "Main MDM").unwrap();
    assert_eq!(r.device_cursor(None, "Main MDM").unwrap(), None);
    assert!(r.devices(None, "Main MDM").unwrap().is_empty());
}
