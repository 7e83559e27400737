//! The device assignment service's state by server name, on any [`Store`]:
//! what `mdmlink devices sync|list` and a vendor's own sync loop call.
//!
//! - Each page is one write transaction: the page's devices, the cursor that
//!   follows it, and (when the page starts or ends a full fetch) the pending
//!   marks of [`StoreTx::begin_dep_snapshot`], so a crash keeps the old
//!   state or the new one.
//! - A page reads only the stored records of its own serials
//!   ([`StoreTx::dep_devices_by_serial`]): it costs the same at any store size.
//! - A full fetch is a snapshot: when it completes, every stored device it
//!   did not return is marked deleted, in the commit of the fetch's last page.
//! - A page is stored only when the stored cursor is still the one it was
//!   fetched after, checked under the server's row lock: two runs syncing
//!   one server never interleave pages; the one that loses the race stops
//!   with [`RegistryError::DeviceSyncRace`] and stores nothing.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::{Registry, RegistryError, convert, find_org};
use crate::dep::{
    Device,
    syncer::{DeviceSource, Restart, Step, SyncCursor, SyncError, SyncPhase, Syncer},
};
use crate::store::{DepCursor, DeviceRow, ServerId, Store, StoreError, StoreExt, StoreTx};

/// A stored device (see [`Registry::devices`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoredDevice {
    /// The record as last received.
    pub device: Device,
    /// `true` for a tombstone: the service said it was deleted, or a full
    /// fetch no longer returned it.
    pub deleted: bool,
}

/// What storing one page changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DevicePageOutcome {
    /// Serials stored for the first time (or back after a deletion).
    pub added: Vec<String>,
    /// Serials whose stored record changed.
    pub modified: Vec<String>,
    /// Serials marked deleted: by the service, or because the full fetch
    /// that this page completed did not return them.
    pub deleted: Vec<String>,
    /// Records equal to the stored ones (apart from `op_type` and
    /// `op_date`): a full fetch of devices that did not change.
    pub unchanged: usize,
    /// Records older than the stored one (by `op_date`), ignored.
    pub stale: usize,
    /// Records the page listed (after collapsing repeated serials).
    pub received: usize,
    /// Set when this page started a full fetch, and why.
    pub restart: Option<Restart>,
}

/// What [`Registry::sync_devices`] did, in counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceSyncReport {
    /// Pages stored.
    pub pages: u64,
    /// Devices listed by fetch pages.
    pub fetched: u64,
    /// Devices added (see [`DevicePageOutcome::added`]).
    pub added: u64,
    /// Devices whose record changed.
    pub modified: u64,
    /// Devices marked deleted.
    pub deleted: u64,
    /// Records equal to the stored ones.
    pub unchanged: u64,
    /// Records older than the stored ones, ignored.
    pub stale: u64,
    /// The first full fetch this run started, and why.
    pub restart: Option<Restart>,
}

impl DeviceSyncReport {
    fn add(&mut self, phase: SyncPhase, page: &DevicePageOutcome) {
        self.pages += 1;
        if phase == SyncPhase::Fetch {
            self.fetched += page.received as u64;
        }
        self.added += page.added.len() as u64;
        self.modified += page.modified.len() as u64;
        self.deleted += page.deleted.len() as u64;
        self.unchanged += page.unchanged as u64;
        self.stale += page.stale as u64;
        if self.restart.is_none() {
            self.restart = page.restart;
        }
    }
}

/// How [`Registry::sync_devices`] runs.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DeviceSyncOptions {
    /// Ignore the saved cursor and fetch every device again (a snapshot:
    /// devices it does not return are marked deleted).
    pub full: bool,
    /// Page size and cursor age rules.
    pub syncer: Syncer,
}

impl DeviceSyncOptions {
    /// A full fetch (`true`) or a sync from the saved cursor.
    pub fn full(mut self, full: bool) -> Self {
        self.full = full;
        self
    }
}

/// The server's id, its row locked against other writers when `lock`.
fn server_id(
    tx: &mut dyn StoreTx,
    organization: Option<&str>,
    name: &str,
    lock: bool,
) -> Result<ServerId, RegistryError> {
    let org = find_org(tx, organization)?;
    let key = convert::name_key(&org.name, name)?;
    let row = if lock {
        tx.server_for_update(org.id, &key)?
    } else {
        tx.server(org.id, &key)?
    };
    row.map(|r| r.summary.id)
        .ok_or_else(|| RegistryError::unknown_server(&org, name))
}

fn encode(store: &str, d: &Device) -> Result<DeviceRow, StoreError> {
    let json = serde_json::to_string(d).map_err(|e| StoreError::Database {
        store: store.to_owned(),
        reason: format!("cannot encode device {}: {e}", d.serial_number),
    })?;
    Ok(DeviceRow {
        serial: d.serial_number.clone(),
        op_type: d.op_type.as_ref().map(|o| o.as_str().to_owned()),
        op_date: d.op_date,
        deleted: d.is_deleted(),
        json,
    })
}

/// `true` when `new` says nothing `stored` did not (the operation fields
/// aside: a full fetch repeats a device with its own).
fn same_record(stored: &DeviceRow, new: &Device) -> bool {
    let Ok(mut old) = serde_json::from_str::<Device>(&stored.json) else {
        return false;
    };
    let mut new = new.clone();
    (old.op_type, old.op_date, new.op_type, new.op_date) = (None, None, None, None);
    old == new
}

/// Stores one page in `tx` (see [`Registry::store_device_page`]).
fn store_page(
    tx: &mut dyn StoreTx,
    store: &str,
    id: ServerId,
    step: &Step,
) -> Result<DevicePageOutcome, StoreError> {
    let mut outcome = DevicePageOutcome {
        restart: step.restart,
        received: step.page.devices.len(),
        ..DevicePageOutcome::default()
    };
    if step.restart.is_some() {
        tx.begin_dep_snapshot(id)?;
    }
    if step.phase == SyncPhase::Sync {
        // A fetch that ended by EXHAUSTED_CURSOR completed at its last page.
        outcome.deleted = tx.finish_dep_snapshot(id)?;
    }
    let serials: Vec<String> = step
        .page
        .devices
        .iter()
        .map(|d| d.serial_number.clone())
        .collect();
    let stored: HashMap<String, DeviceRow> = tx
        .dep_devices_by_serial(id, &serials)?
        .into_iter()
        .map(|d| (d.serial.clone(), d))
        .collect();
    let mut rows = Vec::with_capacity(step.page.devices.len());
    for d in &step.page.devices {
        let old = stored.get(&d.serial_number);
        if !d.supersedes(old.and_then(|o| o.op_date)) {
            outcome.stale += 1;
            // Written back unchanged: the service still lists it, so a
            // full fetch in progress must not count it as gone.
            if let Some(old) = old {
                rows.push(old.clone());
            }
            continue;
        }
        rows.push(encode(store, d)?);
        let serial = d.serial_number.clone();
        match (old, d.is_deleted()) {
            (Some(o), true) if o.deleted => outcome.unchanged += 1,
            (_, true) => outcome.deleted.push(serial),
            (None, false) => outcome.added.push(serial),
            (Some(o), false) if o.deleted => outcome.added.push(serial),
            (Some(o), false) if same_record(o, d) => outcome.unchanged += 1,
            (Some(_), false) => outcome.modified.push(serial),
        }
    }
    let cursor = DepCursor {
        cursor: step.cursor.to_saved(),
        issued_at: step.cursor.issued_at,
    };
    tx.put_dep_page(id, &rows, &cursor)?;
    if step.phase == SyncPhase::Fetch && step.cursor.phase == SyncPhase::Sync {
        outcome.deleted.extend(tx.finish_dep_snapshot(id)?);
    }
    Ok(outcome)
}

impl<S: Store> Registry<S> {
    /// The saved device cursor of a server (`None`: the next sync fetches
    /// every device). A saved value this build cannot read counts as none.
    pub fn device_cursor(
        &mut self,
        organization: Option<&str>,
        server: &str,
    ) -> Result<Option<SyncCursor>, RegistryError> {
        Ok(self
            .saved_device_cursor(organization, server)?
            .and_then(|c| SyncCursor::parse(&c)))
    }

    fn saved_device_cursor(
        &mut self,
        organization: Option<&str>,
        server: &str,
    ) -> Result<Option<String>, RegistryError> {
        self.store.read(|tx| {
            let id = server_id(tx, organization, server, false)?;
            Ok(tx.dep_cursor(id)?.map(|c| c.cursor))
        })
    }

    /// Forgets a server's device cursor and devices.
    pub fn forget_devices(
        &mut self,
        organization: Option<&str>,
        server: &str,
    ) -> Result<(), RegistryError> {
        self.store.write(|tx| {
            let id = server_id(tx, organization, server, true)?;
            Ok(tx.clear_dep_state(id)?)
        })
    }

    /// Stores one page of a sync run in one transaction, if the stored
    /// cursor is still `after` (the saved form the page was fetched after;
    /// `None` when none was stored): otherwise another run stored a page
    /// meanwhile and this one is refused ([`RegistryError::DeviceSyncRace`]),
    /// nothing written. A record replaces the stored one unless its
    /// `op_date` is older; a `deleted` record leaves a tombstone.
    pub fn store_device_page(
        &mut self,
        organization: Option<&str>,
        server: &str,
        step: &Step,
        after: Option<&str>,
    ) -> Result<DevicePageOutcome, RegistryError> {
        let name = self.store.describe();
        self.store.write(|tx| {
            let id = server_id(tx, organization, server, true)?;
            let current = tx.dep_cursor(id)?.map(|c| c.cursor);
            if current.as_deref() != after {
                return Err(RegistryError::DeviceSyncRace {
                    server: server.to_owned(),
                });
            }
            Ok(store_page(tx, &name, id, step)?)
        })
    }

    /// Fetches (first time, after a stale cursor, or when `options.full`)
    /// or syncs a server's devices from `source` until the service has
    /// nothing more, storing each page with [`Self::store_device_page`];
    /// `on_page` sees what each stored page changed. `clock` gives the time
    /// of each call (for the 7-day cursor rule). A failure leaves the last
    /// stored page and its cursor: the next run goes on from there.
    pub fn sync_devices<D: DeviceSource + ?Sized>(
        &mut self,
        organization: Option<&str>,
        server: &str,
        source: &D,
        options: &DeviceSyncOptions,
        clock: impl Fn() -> OffsetDateTime,
        mut on_page: impl FnMut(&DevicePageOutcome),
    ) -> Result<DeviceSyncReport, SyncError<RegistryError>> {
        let mut after = self
            .saved_device_cursor(organization, server)
            .map_err(SyncError::Rejected)?;
        let saved = match options.full {
            true => None,
            false => after.as_deref().and_then(SyncCursor::parse),
        };
        let mut report = DeviceSyncReport::default();
        options.syncer.run(source, saved, clock, |step| {
            let outcome = self.store_device_page(organization, server, step, after.as_deref())?;
            after = Some(step.cursor.to_saved());
            report.add(step.phase, &outcome);
            on_page(&outcome);
            Ok(())
        })?;
        Ok(report)
    }

    /// A server's stored devices by serial number, tombstones included.
    pub fn devices(
        &mut self,
        organization: Option<&str>,
        server: &str,
    ) -> Result<Vec<StoredDevice>, RegistryError> {
        let name = self.store.describe();
        let rows = self.store.read(|tx| {
            let id = server_id(tx, organization, server, false)?;
            Ok::<_, RegistryError>(tx.dep_devices(id)?)
        })?;
        rows.into_iter()
            .map(|r| {
                Ok(StoredDevice {
                    device: serde_json::from_str(&r.json).map_err(|e| StoreError::Corrupt {
                        store: name.clone(),
                        reason: format!("a stored device record is not JSON ({e})"),
                    })?,
                    deleted: r.deleted,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
