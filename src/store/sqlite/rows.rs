//! The row operations ([`StoreTx`]) in SQLite's SQL, through the shared
//! row codec ([`crate::store::rows`]).

use std::sync::LazyLock;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::map_err;

mod api_accounts;
mod devices;
use crate::store::columns::{time_from_text, time_to_text};
use crate::store::rows::{self, ColumnReader, Value};
use crate::store::{
    ApiAccountRow, DepCursor, DeviceRow, OrganizationId, OrganizationRow, ServerId, ServerRow,
    ServerSummary, StoreError, StoreTx,
};

/// `?1`, `?2`, ...
fn placeholder(i: usize) -> String {
    format!("?{i}")
}

static SELECT_SERVER: LazyLock<String> = LazyLock::new(|| {
    rows::select_servers(
        "servers",
        true,
        "WHERE organization_id = ?1 AND name_key = ?2",
    )
});
static SELECT_SUMMARY_BY_ID: LazyLock<String> =
    LazyLock::new(|| rows::select_servers("servers", false, "WHERE id = ?1"));
static LIST_SERVERS: LazyLock<String> = LazyLock::new(|| {
    rows::select_servers(
        "servers",
        false,
        "WHERE ?1 IS NULL OR organization_id = ?1 ORDER BY organization_id, id",
    )
});
static INSERT_SERVER: LazyLock<String> =
    LazyLock::new(|| rows::insert_server("servers", placeholder));
static UPDATE_SERVER: LazyLock<String> =
    LazyLock::new(|| rows::update_server("servers", placeholder));
static SELECT_ORGANIZATIONS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM organizations ORDER BY name_key",
        rows::ORGANIZATION_COLUMNS
    )
});
static FIND_ORGANIZATION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM organizations WHERE name_key = ?1",
        rows::ORGANIZATION_COLUMNS
    )
});

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Text(Some(t)) => ValueRef::Text(t.as_bytes()),
            Value::Blob(Some(b)) => ValueRef::Blob(b),
            Value::Text(None) | Value::Blob(None) => ValueRef::Null,
        }))
    }
}

/// A row of the driver, read by the shared codec.
struct Columns<'r, 's> {
    row: &'r Row<'s>,
    store: &'r str,
}

impl ColumnReader for Columns<'_, '_> {
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.row.get(i).map_err(|e| map_err(self.store, e))
    }
    fn text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.row.get(i).map_err(|e| map_err(self.store, e))
    }
    fn blob(&self, i: usize) -> Result<Option<Vec<u8>>, StoreError> {
        self.row.get(i).map_err(|e| map_err(self.store, e))
    }
}

/// One transaction's row operations.
pub(super) struct SqliteTx<'a> {
    pub(super) conn: &'a Connection,
    pub(super) name: &'a str,
    pub(super) writable: bool,
    /// A secret was deleted or replaced: truncate the WAL after the commit.
    pub(super) shredded: bool,
}

fn opt_time(name: &str, v: Option<String>) -> Result<Option<time::OffsetDateTime>, StoreError> {
    v.map(|t| time_from_text(name, &t)).transpose()
}

impl SqliteTx<'_> {
    fn err(&self, e: rusqlite::Error) -> StoreError {
        map_err(self.name, e)
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        if self.writable {
            Ok(())
        } else {
            Err(StoreError::ReadOnly {
                store: self.name.to_owned(),
            })
        }
    }

    fn columns<'r, 's>(&'r self, row: &'r Row<'s>) -> Columns<'r, 's> {
        Columns {
            row,
            store: self.name,
        }
    }

    fn organization_exists(&self, id: OrganizationId) -> Result<bool, StoreError> {
        self.conn
            .prepare_cached("SELECT 1 FROM organizations WHERE id = ?1")
            .and_then(|mut s| s.exists([id]))
            .map_err(|e| self.err(e))
    }

    fn server_by_id(&self, id: ServerId) -> Result<Option<ServerSummary>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&SELECT_SUMMARY_BY_ID)
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([id]).map_err(|e| self.err(e))?;
        match rows.next().map_err(|e| self.err(e))? {
            Some(r) => Ok(Some(rows::decode_summary(self.name, &self.columns(r))?)),
            None => Ok(None),
        }
    }

    fn find_name(
        &self,
        organization: OrganizationId,
        name_key: &str,
        except: ServerId,
    ) -> Result<Option<String>, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT name FROM servers WHERE organization_id = ?1 AND name_key = ?2 AND id <> ?3",
            )
            .and_then(|mut s| {
                s.query_row(params![organization, name_key, except], |r| r.get(0))
                    .optional()
            })
            .map_err(|e| self.err(e))
    }

    /// What `insert_server` and `update_server` check before writing (the
    /// unique index backs the name check; the write lock makes the count exact).
    fn check_server(&self, row: &ServerRow, old_count: usize) -> Result<(), StoreError> {
        let s = &row.summary;
        if !self.organization_exists(s.organization_id)? {
            return Err(rows::not_found(
                crate::not_found::Missing::Organization,
                s.organization_id,
            ));
        }
        if let Some(existing) = self.find_name(s.organization_id, &s.name_key, s.id)? {
            return Err(rows::duplicate_server(existing));
        }
        let new_count = s.certificate_count();
        if new_count > old_count {
            rows::check_certificate_limit(self.count(s.organization_id)?, old_count, new_count)?;
        }
        Ok(())
    }

    fn count(&self, organization: OrganizationId) -> Result<usize, StoreError> {
        let n: i64 = self
            .conn
            .prepare_cached(
                "SELECT coalesce(sum((certificate_serial IS NOT NULL) + (staged_at IS NOT NULL)), 0)
                 FROM servers WHERE organization_id = ?1",
            )
            .and_then(|mut s| s.query_row([organization], |r| r.get(0)))
            .map_err(|e| self.err(e))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Runs `sql` (an insert or update) with `params`; the unique index on
    /// names, should it refuse the row, is a duplicate name.
    fn write_server(
        &self,
        sql: &str,
        params: &[&dyn rusqlite::ToSql],
        name: &str,
    ) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        stmt.execute(params).map_err(|e| {
            // The servers table has one UNIQUE constraint: the name index
            // (its primary key would be SQLITE_CONSTRAINT_PRIMARYKEY).
            if extended_code(&e) == Some(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE) {
                rows::duplicate_server(name)
            } else {
                self.err(e)
            }
        })?;
        Ok(())
    }
}

/// SQLite's extended result code of a failed statement.
fn extended_code(e: &rusqlite::Error) -> Option<i32> {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.extended_code),
        _ => None,
    }
}

impl StoreTx for SqliteTx<'_> {
    fn store_id(&mut self) -> Result<[u8; 16], StoreError> {
        let id = self.meta("store_id")?.ok_or_else(|| StoreError::Corrupt {
            store: self.name.to_owned(),
            reason: "no store id".into(),
        })?;
        id.try_into().map_err(|_| StoreError::Corrupt {
            store: self.name.to_owned(),
            reason: "the store id is not 16 bytes".into(),
        })
    }

    fn meta(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")
            .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
            .map_err(|e| self.err(e))
    }

    fn set_meta(&mut self, key: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
        self.check_writable()?;
        self.shredded = true;
        let r = match value {
            Some(v) => self
                .conn
                .prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")
                .and_then(|mut s| s.execute(params![key, v])),
            None => self
                .conn
                .prepare_cached("DELETE FROM meta WHERE key = ?1")
                .and_then(|mut s| s.execute([key])),
        };
        r.map(|_| ()).map_err(|e| self.err(e))
    }

    fn list_organizations(&mut self) -> Result<Vec<OrganizationRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&SELECT_ORGANIZATIONS)
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            out.push(rows::decode_organization(self.name, &self.columns(r))?);
        }
        Ok(out)
    }

    fn find_organization(&mut self, name_key: &str) -> Result<Option<OrganizationRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&FIND_ORGANIZATION)
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([name_key]).map_err(|e| self.err(e))?;
        match rows.next().map_err(|e| self.err(e))? {
            Some(r) => Ok(Some(rows::decode_organization(
                self.name,
                &self.columns(r),
            )?)),
            None => Ok(None),
        }
    }

    fn insert_organization(&mut self, row: &OrganizationRow) -> Result<OrganizationId, StoreError> {
        self.check_writable()?;
        if let Some(o) = self.find_organization(&row.name_key)? {
            return Err(StoreError::DuplicateName {
                what: "organization",
                existing: o.name,
            });
        }
        self.conn
            .prepare_cached(
                "INSERT INTO organizations (name, name_key, portal, customer, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    row.name,
                    row.name_key,
                    row.portal.slug(),
                    row.customer,
                    time_to_text(row.created_at)
                ])
            })
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    fn delete_organization(&mut self, id: OrganizationId) -> Result<(), StoreError> {
        self.check_writable()?;
        self.shredded = true;
        // The cascade removes servers, cursors and devices.
        let n = self
            .conn
            .prepare_cached("DELETE FROM organizations WHERE id = ?1")
            .and_then(|mut s| s.execute([id]))
            .map_err(|e| self.err(e))?;
        if n == 0 {
            return Err(rows::not_found(crate::not_found::Missing::Organization, id));
        }
        Ok(())
    }

    fn for_each_server(
        &mut self,
        organization: Option<OrganizationId>,
        visit: &mut dyn FnMut(ServerSummary) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // One row at a time: SQLite steps the statement as it is read.
        let mut stmt = self
            .conn
            .prepare_cached(&LIST_SERVERS)
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([organization]).map_err(|e| self.err(e))?;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            visit(rows::decode_summary(self.name, &self.columns(r))?)?;
        }
        Ok(())
    }

    fn count_servers(&mut self, organization: Option<OrganizationId>) -> Result<usize, StoreError> {
        let n: i64 = self
            .conn
            .prepare_cached("SELECT count(*) FROM servers WHERE ?1 IS NULL OR organization_id = ?1")
            .and_then(|mut s| s.query_row([organization], |r| r.get(0)))
            .map_err(|e| self.err(e))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    fn server(
        &mut self,
        organization: OrganizationId,
        name_key: &str,
    ) -> Result<Option<ServerRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&SELECT_SERVER)
            .map_err(|e| self.err(e))?;
        let mut rows = stmt
            .query(params![organization, name_key])
            .map_err(|e| self.err(e))?;
        match rows.next().map_err(|e| self.err(e))? {
            Some(r) => Ok(Some(rows::decode_server(self.name, &self.columns(r))?)),
            None => Ok(None),
        }
    }

    fn server_for_update(
        &mut self,
        organization: OrganizationId,
        name_key: &str,
    ) -> Result<Option<ServerRow>, StoreError> {
        // BEGIN IMMEDIATE already holds the database's write lock.
        self.check_writable()?;
        self.server(organization, name_key)
    }

    fn insert_server(&mut self, row: &ServerRow) -> Result<ServerId, StoreError> {
        self.check_writable()?;
        let mut row = row.clone();
        row.summary.id = 0;
        self.check_server(&row, 0)?;
        let values = rows::encode_server(&row);
        let params: Vec<&dyn rusqlite::ToSql> = values[1..]
            .iter()
            .map(|v| v as &dyn rusqlite::ToSql)
            .collect();
        self.write_server(&INSERT_SERVER, &params, &row.summary.name)?;
        Ok(self.conn.last_insert_rowid())
    }

    fn update_server(&mut self, row: &ServerRow) -> Result<(), StoreError> {
        self.check_writable()?;
        let old = self
            .server_by_id(row.summary.id)?
            .ok_or_else(|| rows::not_found(crate::not_found::Missing::Server, row.summary.id))?;
        let mut row = row.clone();
        row.summary.organization_id = old.organization_id;
        self.check_server(&row, old.certificate_count())?;
        self.shredded = true;
        let values = rows::encode_server(&row);
        let params: Vec<&dyn rusqlite::ToSql> = values[1..]
            .iter()
            .chain(&values[..1])
            .map(|v| v as &dyn rusqlite::ToSql)
            .collect();
        self.write_server(&UPDATE_SERVER, &params, &row.summary.name)
    }

    fn delete_server(&mut self, id: ServerId) -> Result<(), StoreError> {
        self.check_writable()?;
        self.shredded = true;
        let n = self
            .conn
            .prepare_cached("DELETE FROM servers WHERE id = ?1")
            .and_then(|mut s| s.execute([id]))
            .map_err(|e| self.err(e))?;
        if n == 0 {
            return Err(rows::not_found(crate::not_found::Missing::Server, id));
        }
        Ok(())
    }

    fn count_certificates(&mut self, organization: OrganizationId) -> Result<usize, StoreError> {
        self.count(organization)
    }

    fn dep_cursor(&mut self, server: ServerId) -> Result<Option<DepCursor>, StoreError> {
        let row: Option<(String, String)> = self
            .conn
            .prepare_cached("SELECT cursor, issued_at FROM dep_cursors WHERE server_id = ?1")
            .and_then(|mut s| {
                s.query_row([server], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(|e| self.err(e))?;
        row.map(|(cursor, at)| {
            Ok(DepCursor {
                cursor,
                issued_at: time_from_text(self.name, &at)?,
            })
        })
        .transpose()
    }

    fn put_dep_page(
        &mut self,
        server: ServerId,
        devices: &[DeviceRow],
        cursor: &DepCursor,
    ) -> Result<(), StoreError> {
        self.check_writable()?;
        if self.server_by_id(server)?.is_none() {
            return Err(rows::not_found(crate::not_found::Missing::Server, server));
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "INSERT OR REPLACE INTO dep_devices (server_id, serial, op_type, op_date, deleted, json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(|e| self.err(e))?;
        for d in devices {
            stmt.execute(params![
                server,
                d.serial,
                d.op_type,
                d.op_date.map(time_to_text),
                d.deleted,
                d.json
            ])
            .map_err(|e| self.err(e))?;
        }
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO dep_cursors (server_id, cursor, issued_at) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut s| s.execute(params![server, cursor.cursor, time_to_text(cursor.issued_at)]))
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn dep_devices(&mut self, server: ServerId) -> Result<Vec<DeviceRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT serial, op_type, op_date, deleted, json FROM dep_devices
                 WHERE server_id = ?1 ORDER BY serial",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([server]).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let g = |e: rusqlite::Error| map_err(self.name, e);
            out.push(DeviceRow {
                serial: r.get(0).map_err(g)?,
                op_type: r.get(1).map_err(g)?,
                op_date: opt_time(self.name, r.get(2).map_err(g)?)?,
                deleted: r.get(3).map_err(g)?,
                json: r.get(4).map_err(g)?,
            });
        }
        Ok(out)
    }

    fn api_account(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Option<ApiAccountRow>, StoreError> {
        Ok(self.select_api_accounts(Some(organization))?.pop())
    }

    fn list_api_accounts(&mut self) -> Result<Vec<ApiAccountRow>, StoreError> {
        self.select_api_accounts(None)
    }

    fn insert_api_account(&mut self, row: &ApiAccountRow) -> Result<(), StoreError> {
        self.insert_api_account_row(row)
    }

    fn update_api_account(&mut self, row: &ApiAccountRow) -> Result<(), StoreError> {
        self.update_api_account_row(row)
    }

    fn delete_api_account(&mut self, organization: OrganizationId) -> Result<(), StoreError> {
        self.delete_api_account_row(organization)
    }

    fn clear_dep_state(&mut self, server: ServerId) -> Result<(), StoreError> {
        self.check_writable()?;
        self.conn
            .prepare_cached("DELETE FROM dep_devices WHERE server_id = ?1")
            .and_then(|mut s| s.execute([server]))
            .and_then(|_| {
                self.conn
                    .prepare_cached("DELETE FROM dep_cursors WHERE server_id = ?1")
                    .and_then(|mut s| s.execute([server]))
            })
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn dep_devices_by_serial(
        &mut self,
        server: ServerId,
        serials: &[String],
    ) -> Result<Vec<DeviceRow>, StoreError> {
        self.devices_by_serial(server, serials)
    }

    fn begin_dep_snapshot(&mut self, server: ServerId) -> Result<(), StoreError> {
        self.begin_snapshot(server)
    }

    fn finish_dep_snapshot(&mut self, server: ServerId) -> Result<Vec<String>, StoreError> {
        self.finish_snapshot(server)
    }
}
