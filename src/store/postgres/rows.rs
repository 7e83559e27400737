//! The row operations ([`StoreTx`]) in SQL.
//!
//! Write transactions run at READ COMMITTED with explicit row locks:
//! - a one-server change locks that server's row (`server_for_update`);
//! - anything that could add a name or a certificate to an organization
//!   (insert, rename, staging a key, counting before an insert) first locks
//!   the organization's row, so such changes in one organization happen one at
//!   a time, and the count and the name check they make cannot go stale before
//!   the commit. The unique index on `(organization_id, name_key)` backs the
//!   name check in the database itself.
//!
//! Read transactions are REPEATABLE READ, READ ONLY: one snapshot.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Row, Statement, Transaction};
use time::OffsetDateTime;

use super::txn;
use crate::store::rows::{self, ColumnReader, Value, duplicate_server, not_found};

mod api_accounts;
mod devices;
use crate::store::{
    ApiAccountRow, DepCursor, DeviceRow, OrganizationId, OrganizationRow, SecretField, ServerId,
    ServerRow, ServerSummary, StoreError, StoreTx, columns,
};

/// `$1`, `$2`, ...
fn placeholder(i: usize) -> String {
    format!("${i}")
}

static SELECT_SERVER: LazyLock<String> = LazyLock::new(|| {
    rows::select_servers(
        "mdmlink_servers",
        true,
        "WHERE organization_id = $1 AND name_key = $2",
    )
});
static SELECT_SERVER_FOR_UPDATE: LazyLock<String> = LazyLock::new(|| {
    rows::select_servers(
        "mdmlink_servers",
        true,
        "WHERE organization_id = $1 AND name_key = $2 FOR UPDATE",
    )
});
static LIST_ORGANIZATION_SERVERS: LazyLock<String> = LazyLock::new(|| {
    rows::select_servers(
        "mdmlink_servers",
        false,
        "WHERE organization_id = $1 ORDER BY id",
    )
});
static LIST_SERVERS: LazyLock<String> = LazyLock::new(|| {
    rows::select_servers("mdmlink_servers", false, "ORDER BY organization_id, id")
});
static INSERT_SERVER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{} RETURNING id",
        rows::insert_server("mdmlink_servers", placeholder)
    )
});
static UPDATE_SERVER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{} RETURNING id",
        rows::update_server("mdmlink_servers", placeholder)
    )
});
static SELECT_ORGANIZATIONS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM mdmlink_organizations ORDER BY name_key",
        rows::ORGANIZATION_COLUMNS
    )
});
static FIND_ORGANIZATION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM mdmlink_organizations WHERE name_key = $1",
        rows::ORGANIZATION_COLUMNS
    )
});

/// Rows a streamed list fetches per round trip.
const LIST_BATCH: i32 = 1_000;

/// A value as the driver binds it.
fn bind<'v>(v: &'v Value<'_>) -> &'v (dyn ToSql + Sync) {
    match v {
        Value::Int(i) => i,
        Value::Text(t) => t,
        Value::Blob(b) => b,
    }
}

/// A row of the driver, read by the shared codec.
struct Columns<'r> {
    row: &'r Row,
    store: &'r str,
}

impl Columns<'_> {
    fn get<'a, T: postgres::types::FromSql<'a>>(&'a self, i: usize) -> Result<T, StoreError> {
        self.row.try_get(i).map_err(|e| StoreError::Corrupt {
            store: self.store.to_owned(),
            reason: format!(
                "column {}: {e}",
                rows::SERVER_COLUMNS.get(i).unwrap_or(&"?")
            ),
        })
    }
}

impl ColumnReader for Columns<'_> {
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.get(i)
    }
    fn text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.get(i)
    }
    fn blob(&self, i: usize) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(i)
    }
}

/// How [`crate::store::master_key::Sealer`] marks a secret it kept in
/// plaintext (a store without a master key). This store refuses it.
const PLAINTEXT_PREFIX: &[u8] = b"PT1";

/// One transaction's row operations.
pub(crate) struct PgTx<'a, 'c> {
    pub(crate) tx: &'a mut Transaction<'c>,
    pub(crate) statements: &'a mut HashMap<&'static str, Statement>,
    pub(crate) store: &'a str,
    pub(crate) writable: bool,
    /// Set when one of this transaction's statements failed with a
    /// serialization failure or a deadlock: the whole body may be run again.
    pub(crate) retry: bool,
    /// Organizations whose row this transaction holds locked.
    pub(crate) locked: HashSet<OrganizationId>,
    /// Servers this transaction holds locked, with what `update_server`
    /// checks (organization, name key, certificates), so the usual
    /// lock-change-update needs no second read of the row.
    pub(crate) locked_servers: HashMap<ServerId, (OrganizationId, String, usize)>,
}

impl PgTx<'_, '_> {
    fn err(&mut self, e: postgres::Error) -> StoreError {
        if txn::is_retryable(&e) {
            self.retry = true;
        }
        super::db_error_text(self.store, &e)
    }

    fn columns<'r>(&'r self, row: &'r Row) -> Columns<'r> {
        Columns {
            row,
            store: self.store,
        }
    }

    /// Runs a statement that writes a server row: the unique index on
    /// names (SQLSTATE 23505), should it refuse the row, is a duplicate name.
    fn write_server(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
        name: &str,
    ) -> Result<Vec<Row>, StoreError> {
        self.check_writable()?;
        let s = self.statement(sql)?;
        match self.tx.query(&s, params) {
            Ok(rows) => Ok(rows),
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Err(duplicate_server(name)),
            Err(e) => Err(self.err(e)),
        }
    }

    fn statement(&mut self, sql: &'static str) -> Result<Statement, StoreError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.tx.prepare(sql).map_err(|e| self.err(e))?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let s = self.statement(sql)?;
        self.tx.query(&s, params).map_err(|e| self.err(e))
    }

    fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        let s = self.statement(sql)?;
        self.tx.query_opt(&s, params).map_err(|e| self.err(e))
    }

    fn execute(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        self.check_writable()?;
        let s = self.statement(sql)?;
        self.tx.execute(&s, params).map_err(|e| self.err(e))
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        if self.writable {
            Ok(())
        } else {
            Err(StoreError::ReadOnly {
                store: self.store.to_owned(),
            })
        }
    }

    fn corrupt(&self, reason: String) -> StoreError {
        StoreError::Corrupt {
            store: self.store.to_owned(),
            reason,
        }
    }

    /// Locks the organization's row until the end of the transaction.
    fn lock_organization(&mut self, id: OrganizationId) -> Result<(), StoreError> {
        if self.locked.contains(&id) {
            return Ok(());
        }
        let row = self.query_opt(
            "SELECT id FROM mdmlink_organizations WHERE id = $1 FOR UPDATE",
            &[&id],
        )?;
        if row.is_none() {
            return Err(not_found(crate::not_found::Missing::Organization, id));
        }
        self.locked.insert(id);
        Ok(())
    }

    /// A server of `organization` other than `except` already named `name_key`.
    fn name_taken(
        &mut self,
        organization: OrganizationId,
        name_key: &str,
        except: ServerId,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .query_opt(
                "SELECT name FROM mdmlink_servers
                 WHERE organization_id = $1 AND name_key = $2 AND id <> $3",
                &[&organization, &name_key, &except],
            )?
            .map(|r| r.get(0)))
    }

    fn certificates(&mut self, organization: OrganizationId) -> Result<usize, StoreError> {
        let n: i64 = self
            .query(
                "SELECT COALESCE(SUM(certificates), 0)::BIGINT FROM mdmlink_servers
                 WHERE organization_id = $1",
                &[&organization],
            )?
            .first()
            .map_or(0, |r| r.get(0));
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// Refuses a row carrying a secret in plaintext form.
    fn check_sealed(&self, row: &ServerRow) -> Result<(), StoreError> {
        for field in SecretField::ALL {
            if row
                .secret(field)
                .is_some_and(|s| s.as_bytes().starts_with(PLAINTEXT_PREFIX))
            {
                return Err(StoreError::PlaintextSecret {
                    store: self.store.to_owned(),
                    field,
                });
            }
        }
        Ok(())
    }

    /// Under the organization's lock: the name is free and the certificates
    /// fit (`old_count` is what the row held before this change).
    fn check_server(&mut self, row: &ServerRow, old_count: usize) -> Result<(), StoreError> {
        let s = &row.summary;
        self.lock_organization(s.organization_id)?;
        if let Some(existing) = self.name_taken(s.organization_id, &s.name_key, s.id)? {
            return Err(duplicate_server(existing));
        }
        let new_count = s.certificate_count();
        if new_count > old_count {
            let count = self.certificates(s.organization_id)?;
            rows::check_certificate_limit(count, old_count, new_count)?;
        }
        Ok(())
    }

    fn find_server(
        &mut self,
        sql: &'static str,
        organization: OrganizationId,
        name_key: &str,
    ) -> Result<Option<ServerRow>, StoreError> {
        match self.query_opt(sql, &[&organization, &name_key])? {
            Some(r) => Ok(Some(rows::decode_server(self.store, &self.columns(&r))?)),
            None => Ok(None),
        }
    }
}

/// A time as stored: RFC 3339 text.
fn text(t: Option<OffsetDateTime>) -> Option<String> {
    t.map(columns::time_to_text)
}

impl StoreTx for PgTx<'_, '_> {
    fn store_id(&mut self) -> Result<[u8; 16], StoreError> {
        let row = self.query_opt("SELECT store_id FROM mdmlink_store WHERE id = 1", &[])?;
        let bytes: Vec<u8> = row
            .map(|r| r.get(0))
            .ok_or_else(|| self.corrupt("the store has no id".into()))?;
        bytes
            .try_into()
            .map_err(|_| self.corrupt("the store id is not 16 bytes".into()))
    }

    fn meta(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .query_opt("SELECT value FROM mdmlink_meta WHERE key = $1", &[&key])?
            .map(|r| r.get(0)))
    }

    fn set_meta(&mut self, key: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
        match value {
            Some(v) => self.execute(
                "INSERT INTO mdmlink_meta (key, value) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                &[&key, &v],
            )?,
            None => self.execute("DELETE FROM mdmlink_meta WHERE key = $1", &[&key])?,
        };
        Ok(())
    }

    fn list_organizations(&mut self) -> Result<Vec<OrganizationRow>, StoreError> {
        let found = self.query(&SELECT_ORGANIZATIONS, &[])?;
        found
            .iter()
            .map(|r| rows::decode_organization(self.store, &self.columns(r)))
            .collect()
    }

    fn find_organization(&mut self, name_key: &str) -> Result<Option<OrganizationRow>, StoreError> {
        match self.query_opt(&FIND_ORGANIZATION, &[&name_key])? {
            Some(r) => Ok(Some(rows::decode_organization(
                self.store,
                &self.columns(&r),
            )?)),
            None => Ok(None),
        }
    }

    fn insert_organization(&mut self, row: &OrganizationRow) -> Result<OrganizationId, StoreError> {
        // ON CONFLICT waits for a concurrent insert of the same key to end,
        // then does nothing: the name is then read back for the message.
        self.check_writable()?;
        let inserted = self.query(
            "INSERT INTO mdmlink_organizations (name, name_key, portal, customer, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name_key) DO NOTHING RETURNING id",
            &[
                &row.name,
                &row.name_key,
                &row.portal.slug(),
                &row.customer,
                &columns::time_to_text(row.created_at),
            ],
        )?;
        if let Some(r) = inserted.first() {
            return Ok(r.get(0));
        }
        let existing = self
            .find_organization(&row.name_key)?
            .map_or_else(|| row.name.clone(), |o| o.name);
        Err(StoreError::DuplicateName {
            what: "organization",
            existing,
        })
    }

    fn delete_organization(&mut self, id: OrganizationId) -> Result<(), StoreError> {
        // Servers, cursors and devices go with it (ON DELETE CASCADE).
        if self.execute("DELETE FROM mdmlink_organizations WHERE id = $1", &[&id])? == 0 {
            return Err(not_found(crate::not_found::Missing::Organization, id));
        }
        self.locked.remove(&id);
        Ok(())
    }

    fn for_each_server(
        &mut self,
        organization: Option<OrganizationId>,
        visit: &mut dyn FnMut(ServerSummary) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // A portal fetched in batches: memory holds one batch, whatever
        // the number of servers.
        let (sql, params): (&'static str, Vec<&(dyn ToSql + Sync)>) = match &organization {
            Some(o) => (&LIST_ORGANIZATION_SERVERS, vec![o]),
            None => (&LIST_SERVERS, vec![]),
        };
        let statement = self.statement(sql)?;
        let portal = match self.tx.bind(&statement, &params) {
            Ok(p) => p,
            Err(e) => return Err(self.err(e)),
        };
        loop {
            let batch = match self.tx.query_portal(&portal, LIST_BATCH) {
                Ok(b) => b,
                Err(e) => return Err(self.err(e)),
            };
            for r in &batch {
                visit(rows::decode_summary(self.store, &self.columns(r))?)?;
            }
            if batch.len() < LIST_BATCH as usize {
                return Ok(());
            }
        }
    }

    fn count_servers(&mut self, organization: Option<OrganizationId>) -> Result<usize, StoreError> {
        let n: i64 = self
            .query(
                "SELECT count(*) FROM mdmlink_servers WHERE $1::BIGINT IS NULL OR organization_id = $1",
                &[&organization],
            )?
            .first()
            .map_or(0, |r| r.get(0));
        Ok(usize::try_from(n).unwrap_or(0))
    }

    fn server(
        &mut self,
        organization: OrganizationId,
        name_key: &str,
    ) -> Result<Option<ServerRow>, StoreError> {
        self.find_server(&SELECT_SERVER, organization, name_key)
    }

    fn server_for_update(
        &mut self,
        organization: OrganizationId,
        name_key: &str,
    ) -> Result<Option<ServerRow>, StoreError> {
        if !self.writable {
            // A read transaction cannot lock; its snapshot is what it reads.
            return self.server(organization, name_key);
        }
        let row = self.find_server(&SELECT_SERVER_FOR_UPDATE, organization, name_key)?;
        if let Some(r) = &row {
            let s = &r.summary;
            self.locked_servers.insert(
                s.id,
                (s.organization_id, s.name_key.clone(), s.certificate_count()),
            );
        }
        Ok(row)
    }

    fn insert_server(&mut self, row: &ServerRow) -> Result<ServerId, StoreError> {
        self.check_writable()?;
        self.check_sealed(row)?;
        let mut row = row.clone();
        row.summary.id = 0;
        self.check_server(&row, 0)?;
        let values = rows::encode_server(&row);
        let params: Vec<_> = values[1..].iter().map(bind).collect();
        let inserted = self.write_server(&INSERT_SERVER, &params, &row.summary.name)?;
        inserted
            .first()
            .map(|r| r.get(0))
            .ok_or_else(|| self.corrupt("INSERT returned no id".into()))
    }

    fn update_server(&mut self, row: &ServerRow) -> Result<(), StoreError> {
        self.check_writable()?;
        self.check_sealed(row)?;
        let (organization, old_key, old_count) = match self.locked_servers.get(&row.summary.id) {
            Some(old) => old.clone(),
            None => {
                let old = self.query_opt(
                    "SELECT organization_id, name_key, certificates FROM mdmlink_servers
                     WHERE id = $1 FOR UPDATE",
                    &[&row.summary.id],
                )?;
                let Some(old) = old else {
                    return Err(not_found(crate::not_found::Missing::Server, row.summary.id));
                };
                let count = usize::try_from(old.get::<_, i16>(2)).unwrap_or(0);
                (old.get(0), old.get(1), count)
            }
        };
        let mut row = row.clone();
        row.summary.organization_id = organization;
        // Only a rename or a new certificate needs the organization's lock.
        if old_key != row.summary.name_key || row.summary.certificate_count() > old_count {
            self.check_server(&row, old_count)?;
        }
        let values = rows::encode_server(&row);
        let params: Vec<_> = values[1..].iter().chain(&values[..1]).map(bind).collect();
        if self
            .write_server(&UPDATE_SERVER, &params, &row.summary.name)?
            .is_empty()
        {
            return Err(not_found(crate::not_found::Missing::Server, row.summary.id));
        }
        self.locked_servers.insert(
            row.summary.id,
            (
                organization,
                row.summary.name_key.clone(),
                row.summary.certificate_count(),
            ),
        );
        Ok(())
    }

    fn delete_server(&mut self, id: ServerId) -> Result<(), StoreError> {
        self.locked_servers.remove(&id);
        if self.execute("DELETE FROM mdmlink_servers WHERE id = $1", &[&id])? == 0 {
            return Err(not_found(crate::not_found::Missing::Server, id));
        }
        Ok(())
    }

    fn count_certificates(&mut self, organization: OrganizationId) -> Result<usize, StoreError> {
        if self.writable {
            // Counting in a write transaction is counting before a change:
            // hold the organization so the count stays true until the commit.
            self.lock_organization(organization)?;
        }
        self.certificates(organization)
    }

    fn dep_cursor(&mut self, server: ServerId) -> Result<Option<DepCursor>, StoreError> {
        self.query_opt(
            "SELECT cursor, issued_at FROM mdmlink_dep_cursors WHERE server_id = $1",
            &[&server],
        )?
        .map(|r| -> Result<DepCursor, StoreError> {
            Ok(DepCursor {
                cursor: r.get(0),
                issued_at: self
                    .time(&r, 1)?
                    .ok_or_else(|| self.corrupt("a cursor without its time".into()))?,
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
        self.put_devices_page(server, devices, cursor)
    }

    fn dep_devices(&mut self, server: ServerId) -> Result<Vec<DeviceRow>, StoreError> {
        let rows = self.query(
            "SELECT serial, op_type, op_date, deleted, json FROM mdmlink_dep_devices
             WHERE server_id = $1 ORDER BY serial COLLATE \"C\"",
            &[&server],
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
        self.execute(
            "DELETE FROM mdmlink_dep_devices WHERE server_id = $1",
            &[&server],
        )?;
        self.execute(
            "DELETE FROM mdmlink_dep_cursors WHERE server_id = $1",
            &[&server],
        )?;
        Ok(())
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

impl PgTx<'_, '_> {
    /// A time column (RFC 3339 text: exact to the nanosecond, as given).
    fn time(&self, r: &Row, i: usize) -> Result<Option<OffsetDateTime>, StoreError> {
        r.get::<_, Option<String>>(i)
            .map(|t| columns::time_from_text(self.store, &t))
            .transpose()
    }
}
