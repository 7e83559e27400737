//! The device assignment service's state in PostgreSQL: one statement per
//! page whatever its length (arrays unnested server-side), lookups by
//! serial, and the pending marks of a full fetch (schema version 2).

use std::collections::HashMap;

use super::{PgTx, columns, not_found, text};
use crate::store::{DepCursor, DeviceRow, ServerId, StoreError};

impl PgTx<'_, '_> {
    /// Locks the server's row until the commit; `NotFound` when it is gone.
    fn lock_server_row(&mut self, server: ServerId) -> Result<(), StoreError> {
        if self
            .query_opt(
                "SELECT id FROM mdmlink_servers WHERE id = $1 FOR UPDATE",
                &[&server],
            )?
            .is_none()
        {
            return Err(not_found(crate::not_found::Missing::Server, server));
        }
        Ok(())
    }

    pub(super) fn put_devices_page(
        &mut self,
        server: ServerId,
        devices: &[DeviceRow],
        cursor: &DepCursor,
    ) -> Result<(), StoreError> {
        self.check_writable()?;
        self.lock_server_row(server)?;
        // One row per serial (the last one given wins), as one statement
        // may not change a row twice.
        let mut last: HashMap<&str, usize> = HashMap::with_capacity(devices.len());
        for (i, d) in devices.iter().enumerate() {
            last.insert(d.serial.as_str(), i);
        }
        let mut serials = Vec::with_capacity(last.len());
        let mut op_types = Vec::with_capacity(last.len());
        let mut op_dates = Vec::with_capacity(last.len());
        let mut deleted = Vec::with_capacity(last.len());
        let mut json = Vec::with_capacity(last.len());
        for (i, d) in devices.iter().enumerate() {
            if last.get(d.serial.as_str()) != Some(&i) {
                continue;
            }
            serials.push(d.serial.as_str());
            op_types.push(d.op_type.as_deref());
            op_dates.push(text(d.op_date));
            deleted.push(d.deleted);
            json.push(d.json.as_str());
        }
        if !serials.is_empty() {
            self.execute(
                "INSERT INTO mdmlink_dep_devices
                     (server_id, serial, op_type, op_date, deleted, json, snapshot_pending)
                 SELECT $1, d.serial, d.op_type, d.op_date, d.deleted, d.json, false
                 FROM UNNEST($2::text[], $3::text[], $4::text[], $5::bool[], $6::text[])
                     AS d (serial, op_type, op_date, deleted, json)
                 ON CONFLICT (server_id, serial) DO UPDATE SET op_type = EXCLUDED.op_type,
                     op_date = EXCLUDED.op_date, deleted = EXCLUDED.deleted,
                     json = EXCLUDED.json, snapshot_pending = false",
                &[&server, &serials, &op_types, &op_dates, &deleted, &json],
            )?;
        }
        self.execute(
            "INSERT INTO mdmlink_dep_cursors (server_id, cursor, issued_at) VALUES ($1, $2, $3)
             ON CONFLICT (server_id) DO UPDATE SET cursor = EXCLUDED.cursor,
                 issued_at = EXCLUDED.issued_at",
            &[
                &server,
                &cursor.cursor,
                &columns::time_to_text(cursor.issued_at),
            ],
        )?;
        Ok(())
    }

    pub(super) fn devices_by_serial(
        &mut self,
        server: ServerId,
        serials: &[String],
    ) -> Result<Vec<DeviceRow>, StoreError> {
        let rows = self.query(
            "SELECT serial, op_type, op_date, deleted, json FROM mdmlink_dep_devices
             WHERE server_id = $1 AND serial = ANY($2)",
            &[&server, &serials],
        )?;
        rows.iter()
            .map(|r| {
                Ok(DeviceRow {
                    serial: r.get(0),
                    op_type: r.get(1),
                    op_date: self.time(r, 2)?,
                    deleted: r.get(3),
                    json: r.get(4),
                })
            })
            .collect()
    }

    pub(super) fn begin_snapshot(&mut self, server: ServerId) -> Result<(), StoreError> {
        self.check_writable()?;
        self.lock_server_row(server)?;
        self.execute(
            "UPDATE mdmlink_dep_devices SET snapshot_pending = true
             WHERE server_id = $1 AND NOT deleted AND NOT snapshot_pending",
            &[&server],
        )?;
        Ok(())
    }

    pub(super) fn finish_snapshot(&mut self, server: ServerId) -> Result<Vec<String>, StoreError> {
        self.check_writable()?;
        let rows = self.query(
            "UPDATE mdmlink_dep_devices
             SET snapshot_pending = false, deleted = true, op_type = 'deleted'
             WHERE server_id = $1 AND snapshot_pending RETURNING serial",
            &[&server],
        )?;
        let mut serials: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        serials.sort_unstable();
        Ok(serials)
    }
}
