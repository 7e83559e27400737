//! The device assignment service's state in SQLite beyond one page write:
//! lookups by serial (what one sync page reads) and the pending marks of a
//! full fetch ([`StoreTx::begin_dep_snapshot`](crate::store::StoreTx::begin_dep_snapshot)).
//!
//! Schema version 5 (`super::super::migrate`) adds `dep_devices.snapshot_pending`
//! with a partial index on the pending rows, so finishing a fetch reads only
//! what it tombstones.

use rusqlite::params;

use super::{SqliteTx, map_err, opt_time};
use crate::store::{DeviceRow, ServerId, StoreError};

impl SqliteTx<'_> {
    pub(super) fn devices_by_serial(
        &self,
        server: ServerId,
        serials: &[String],
    ) -> Result<Vec<DeviceRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT serial, op_type, op_date, deleted, json FROM dep_devices
                 WHERE server_id = ?1 AND serial = ?2",
            )
            .map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(serials.len());
        for serial in serials {
            let mut rows = stmt
                .query(params![server, serial])
                .map_err(|e| self.err(e))?;
            if let Some(r) = rows.next().map_err(|e| self.err(e))? {
                let g = |e: rusqlite::Error| map_err(self.name, e);
                out.push(DeviceRow {
                    serial: r.get(0).map_err(g)?,
                    op_type: r.get(1).map_err(g)?,
                    op_date: opt_time(self.name, r.get(2).map_err(g)?)?,
                    deleted: r.get(3).map_err(g)?,
                    json: r.get(4).map_err(g)?,
                });
            }
        }
        Ok(out)
    }

    pub(super) fn begin_snapshot(&self, server: ServerId) -> Result<(), StoreError> {
        self.check_writable()?;
        if self.server_by_id(server)?.is_none() {
            return Err(crate::store::rows::not_found(
                crate::not_found::Missing::Server,
                server,
            ));
        }
        self.conn
            .prepare_cached(
                "UPDATE dep_devices SET snapshot_pending = 1
                 WHERE server_id = ?1 AND deleted = 0 AND snapshot_pending = 0",
            )
            .and_then(|mut s| s.execute([server]))
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    pub(super) fn finish_snapshot(&self, server: ServerId) -> Result<Vec<String>, StoreError> {
        self.check_writable()?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "UPDATE dep_devices SET snapshot_pending = 0, deleted = 1, op_type = 'deleted'
                 WHERE server_id = ?1 AND snapshot_pending = 1 RETURNING serial",
            )
            .map_err(|e| self.err(e))?;
        let mut serials = stmt
            .query_map([server], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.err(e))?;
        serials.sort_unstable();
        Ok(serials)
    }
}
