//! The device assignment service's state through [`SqliteStore`] by server
//! name (what `mdmlink devices` uses): each page is stored with its cursor in
//! one transaction of the row-level store ([`StoreTx::put_dep_page`]), so a
//! crash keeps either the old cursor and devices or the new ones.

use time::OffsetDateTime;

use super::{DepCursor, DeviceRow, ServerId, SqliteStore, Store, StoreError, StoreExt, StoreTx};
use crate::name::ServerName;

/// What [`SqliteStore::dep_apply_page`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DepPageOutcome {
    /// Serials stored for the first time (or back after a deletion).
    pub added: Vec<String>,
    /// Serials whose stored record was replaced.
    pub modified: Vec<String>,
    /// Serials now marked deleted.
    pub deleted: Vec<String>,
    /// Records older than the stored one (by `op_date`), ignored.
    pub stale: usize,
}

/// A stored device (see [`SqliteStore::dep_devices`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoredDevice {
    /// The record as last received.
    pub device: crate::dep::Device,
    /// `true` for a tombstone: the service said it was deleted.
    pub deleted: bool,
}

/// The id of the one server named `server` (in any organization).
fn server_id(tx: &mut dyn StoreTx, server: &str) -> Result<ServerId, StoreError> {
    let not_found = || StoreError::NotFound {
        what: "server",
        key: format!("\"{server}\""),
    };
    let key = ServerName::parse(server).map_err(|_| not_found())?;
    let mut ids = tx
        .list_servers(None)?
        .into_iter()
        .filter(|s| s.name_key == key.comparison_key())
        .map(|s| s.id);
    match (ids.next(), ids.next()) {
        (Some(id), None) => Ok(id),
        (None, _) => Err(not_found()),
        (Some(_), Some(_)) => Err(StoreError::InvalidName(format!(
            "several organizations have a server named \"{server}\"; sync it through the library's StoreTx with its server id"
        ))),
    }
}

impl SqliteStore {
    /// The saved cursor of `server` (the `dep::SyncCursor::to_saved` text).
    pub fn dep_cursor(&mut self, server: &str) -> Result<Option<String>, StoreError> {
        self.read(|tx| {
            let id = server_id(tx, server)?;
            Ok(tx.dep_cursor(id)?.map(|c| c.cursor))
        })
    }

    /// Forgets the saved cursor and devices (the next sync fetches everything).
    pub fn dep_forget_cursor(&mut self, server: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            let id = server_id(tx, server)?;
            tx.clear_dep_state(id)
        })
    }

    /// Stores one page and its cursor in one transaction. A record replaces
    /// the stored one unless its `op_date` is older (the latest wins); a
    /// `deleted` record leaves a tombstone.
    pub fn dep_apply_page(
        &mut self,
        server: &str,
        devices: &[crate::dep::Device],
        cursor: &str,
    ) -> Result<DepPageOutcome, StoreError> {
        let name = self.describe();
        self.write(|tx| {
            let id = server_id(tx, server)?;
            let stored: std::collections::HashMap<String, DeviceRow> = tx
                .dep_devices(id)?
                .into_iter()
                .map(|d| (d.serial.clone(), d))
                .collect();
            let mut outcome = DepPageOutcome::default();
            let mut rows = Vec::with_capacity(devices.len());
            for d in devices {
                let old = stored.get(&d.serial_number);
                if !d.supersedes(old.and_then(|o| o.op_date)) {
                    outcome.stale += 1;
                    continue;
                }
                let json = serde_json::to_string(d).map_err(|e| StoreError::Database {
                    store: name.clone(),
                    reason: format!("cannot encode device {}: {e}", d.serial_number),
                })?;
                rows.push(DeviceRow {
                    serial: d.serial_number.clone(),
                    op_type: d
                        .op_type
                        .as_ref()
                        .and_then(|o| serde_json::to_value(o).ok())
                        .and_then(|v| v.as_str().map(str::to_owned)),
                    op_date: d.op_date,
                    deleted: d.is_deleted(),
                    json,
                });
                let serial = d.serial_number.clone();
                match (old.map(|o| o.deleted), d.is_deleted()) {
                    (_, true) => outcome.deleted.push(serial),
                    (None | Some(true), false) => outcome.added.push(serial),
                    (Some(false), false) => outcome.modified.push(serial),
                }
            }
            let cursor = DepCursor {
                cursor: cursor.to_owned(),
                issued_at: OffsetDateTime::now_utc(),
            };
            tx.put_dep_page(id, &rows, &cursor)?;
            Ok(outcome)
        })
    }

    /// The stored devices of `server`, by serial number, tombstones included.
    pub fn dep_devices(&mut self, server: &str) -> Result<Vec<StoredDevice>, StoreError> {
        let name = self.describe();
        let rows = self.read(|tx| {
            let id = server_id(tx, server)?;
            tx.dep_devices(id)
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
