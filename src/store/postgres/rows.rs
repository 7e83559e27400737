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

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Row, Statement, Transaction};
use time::OffsetDateTime;

use super::txn;

mod devices;
use crate::store::{
    DepCursor, DeviceRow, MAX_CERTIFICATES, OrganizationId, OrganizationRow, SealedSecret,
    SecretField, ServerId, ServerRow, ServerSummary, StoreError, StoreTx, columns,
};

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
            return Err(not_found("organization", id));
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
            return Err(StoreError::DuplicateName {
                what: "server",
                existing,
            });
        }
        let new_count = s.certificate_count();
        if new_count > old_count {
            let count = self.certificates(s.organization_id)?;
            if count - old_count.min(count) + new_count > MAX_CERTIFICATES {
                return Err(StoreError::LimitReached {
                    count,
                    max: MAX_CERTIFICATES,
                });
            }
        }
        Ok(())
    }

    fn summary(&self, r: &Row) -> Result<ServerSummary, StoreError> {
        let options: String = r.get(4);
        let reason: Option<String> = r.get(17);
        let reason_at = self.time(r, 18)?;
        let replacement = match (reason, reason_at) {
            (Some(reason), Some(at)) => Some((columns::reason_from_text(self.store, &reason)?, at)),
            (None, None) => None,
            _ => return Err(self.corrupt("a replacement reason without its time".into())),
        };
        Ok(ServerSummary {
            id: r.get(0),
            organization_id: r.get(1),
            name: r.get(2),
            name_key: r.get(3),
            options: columns::options_from_json(self.store, &options)?,
            created_at: self.time(r, 5)?,
            certificate_serial: r.get(6),
            certificate_not_after: self.time(r, 7)?,
            staged_certificate_serial: r.get(8),
            staged_certificate_not_after: self.time(r, 9)?,
            staged_at: self.time(r, 10)?,
            token_expires_at: self.time(r, 11)?,
            token_installed_at: self.time(r, 12)?,
            token_downloaded_by: r.get(13),
            token_issued_at: self.time(r, 14)?,
            token_certificate_serial: r.get(15),
            token_consumer_key_hint: r.get(16),
            replacement,
            server_uuid: r.get(19),
        })
    }

    fn server_row(&self, r: &Row) -> Result<ServerRow, StoreError> {
        let secret = |i: usize| r.get::<_, Option<Vec<u8>>>(i).map(SealedSecret::from_bytes);
        Ok(ServerRow {
            summary: self.summary(r)?,
            certificate_pem: r.get(20),
            staged_certificate_pem: r.get(21),
            private_key: secret(22),
            staged_private_key: secret(23),
            token: secret(24),
        })
    }

    fn find_server(
        &mut self,
        sql: &'static str,
        organization: OrganizationId,
        name_key: &str,
    ) -> Result<Option<ServerRow>, StoreError> {
        match self.query_opt(sql, &[&organization, &name_key])? {
            Some(r) => Ok(Some(self.server_row(&r)?)),
            None => Ok(None),
        }
    }
}

/// A time as stored: RFC 3339 text.
fn text(t: Option<OffsetDateTime>) -> Option<String> {
    t.map(columns::time_to_text)
}

fn not_found(what: &'static str, key: impl core::fmt::Display) -> StoreError {
    StoreError::NotFound {
        what,
        key: key.to_string(),
    }
}

/// A unique index refused a name another transaction committed first.
fn is_unique_violation(e: &StoreError) -> bool {
    matches!(e, StoreError::Database { reason, .. } if reason.contains(SqlState::UNIQUE_VIOLATION.code()))
}

/// A server row's values as the SQL statements take them, `$1..$24` of
/// [`INSERT_SERVER`] and [`UPDATE_SERVER`].
struct ServerValues<'r> {
    row: &'r ServerRow,
    options: String,
    reason: Option<String>,
    reason_at: Option<String>,
    times: [Option<String>; 7],
    private_key: Option<&'r [u8]>,
    staged_private_key: Option<&'r [u8]>,
    token: Option<&'r [u8]>,
}

impl<'r> ServerValues<'r> {
    fn new(row: &'r ServerRow) -> Self {
        let s = &row.summary;
        Self {
            row,
            options: columns::options_to_json(&s.options),
            reason: s.replacement.map(|(r, _)| columns::reason_to_text(r)),
            reason_at: text(s.replacement.map(|(_, at)| at)),
            times: [
                text(s.created_at),
                text(s.certificate_not_after),
                text(s.staged_certificate_not_after),
                text(s.staged_at),
                text(s.token_expires_at),
                text(s.token_installed_at),
                text(s.token_issued_at),
            ],
            private_key: row.private_key.as_ref().map(SealedSecret::as_bytes),
            staged_private_key: row.staged_private_key.as_ref().map(SealedSecret::as_bytes),
            token: row.token.as_ref().map(SealedSecret::as_bytes),
        }
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let s = &self.row.summary;
        vec![
            &s.organization_id,
            &s.name,
            &s.name_key,
            &self.options,
            &self.times[0],
            &s.certificate_serial,
            &self.times[1],
            &s.staged_certificate_serial,
            &self.times[2],
            &self.times[3],
            &self.times[4],
            &self.times[5],
            &s.token_downloaded_by,
            &self.times[6],
            &s.token_certificate_serial,
            &s.token_consumer_key_hint,
            &self.reason,
            &self.reason_at,
            &s.server_uuid,
            &self.row.certificate_pem,
            &self.row.staged_certificate_pem,
            &self.private_key,
            &self.staged_private_key,
            &self.token,
        ]
    }
}

const SELECT_SERVER: &str = "SELECT id, organization_id, name, name_key, options, created_at, \
     certificate_serial, certificate_not_after, staged_certificate_serial, \
     staged_certificate_not_after, staged_at, token_expires_at, token_installed_at, \
     token_downloaded_by, token_issued_at, token_certificate_serial, token_consumer_key_hint, \
     replacement_reason, replacement_at, server_uuid, certificate_pem, staged_certificate_pem, \
     private_key, staged_private_key, token \
     FROM mdmlink_servers WHERE organization_id = $1 AND name_key = $2";

const SELECT_SERVER_FOR_UPDATE: &str = "SELECT id, organization_id, name, name_key, options, created_at, \
     certificate_serial, certificate_not_after, staged_certificate_serial, \
     staged_certificate_not_after, staged_at, token_expires_at, token_installed_at, \
     token_downloaded_by, token_issued_at, token_certificate_serial, token_consumer_key_hint, \
     replacement_reason, replacement_at, server_uuid, certificate_pem, staged_certificate_pem, \
     private_key, staged_private_key, token \
     FROM mdmlink_servers WHERE organization_id = $1 AND name_key = $2 FOR UPDATE";

const INSERT_SERVER: &str = "INSERT INTO mdmlink_servers (organization_id, name, name_key, \
     options, created_at, certificate_serial, certificate_not_after, staged_certificate_serial, \
     staged_certificate_not_after, staged_at, token_expires_at, token_installed_at, \
     token_downloaded_by, token_issued_at, token_certificate_serial, token_consumer_key_hint, \
     replacement_reason, replacement_at, server_uuid, certificate_pem, staged_certificate_pem, \
     private_key, staged_private_key, token) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
     $19, $20, $21, $22, $23, $24) RETURNING id";

const UPDATE_SERVER: &str = "UPDATE mdmlink_servers SET name = $2, name_key = $3, options = $4, \
     created_at = $5, certificate_serial = $6, certificate_not_after = $7, \
     staged_certificate_serial = $8, staged_certificate_not_after = $9, staged_at = $10, \
     token_expires_at = $11, token_installed_at = $12, token_downloaded_by = $13, \
     token_issued_at = $14, token_certificate_serial = $15, token_consumer_key_hint = $16, \
     replacement_reason = $17, replacement_at = $18, server_uuid = $19, certificate_pem = $20, \
     staged_certificate_pem = $21, private_key = $22, staged_private_key = $23, token = $24 \
     WHERE id = $25 AND organization_id = $1";

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
        let rows = self.query(
            "SELECT id, name, name_key, portal, customer, created_at
             FROM mdmlink_organizations ORDER BY name_key",
            &[],
        )?;
        rows.iter().map(|r| self.organization(r)).collect()
    }

    fn find_organization(&mut self, name_key: &str) -> Result<Option<OrganizationRow>, StoreError> {
        match self.query_opt(
            "SELECT id, name, name_key, portal, customer, created_at
             FROM mdmlink_organizations WHERE name_key = $1",
            &[&name_key],
        )? {
            Some(r) => Ok(Some(self.organization(&r)?)),
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
            return Err(not_found("organization", id));
        }
        self.locked.remove(&id);
        Ok(())
    }

    fn list_servers(
        &mut self,
        organization: Option<OrganizationId>,
    ) -> Result<Vec<ServerSummary>, StoreError> {
        let rows = match organization {
            Some(o) => self.query(LIST_ORGANIZATION_SERVERS, &[&o])?,
            None => self.query(LIST_SERVERS, &[])?,
        };
        rows.iter().map(|r| self.summary(r)).collect()
    }

    fn server(
        &mut self,
        organization: OrganizationId,
        name_key: &str,
    ) -> Result<Option<ServerRow>, StoreError> {
        self.find_server(SELECT_SERVER, organization, name_key)
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
        let row = self.find_server(SELECT_SERVER_FOR_UPDATE, organization, name_key)?;
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
        let values = ServerValues::new(&row);
        let params = values.params();
        let rows = self.query(INSERT_SERVER, &params).map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::DuplicateName {
                    what: "server",
                    existing: row.summary.name.clone(),
                }
            } else {
                e
            }
        })?;
        rows.first()
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
                    return Err(not_found("server", row.summary.id));
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
        let values = ServerValues::new(&row);
        let mut params = values.params();
        params.push(&row.summary.id);
        let n = self.execute(UPDATE_SERVER, &params).map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::DuplicateName {
                    what: "server",
                    existing: row.summary.name.clone(),
                }
            } else {
                e
            }
        })?;
        if n == 0 {
            return Err(not_found("server", row.summary.id));
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
            return Err(not_found("server", id));
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

    fn organization(&self, r: &Row) -> Result<OrganizationRow, StoreError> {
        let portal: String = r.get(3);
        Ok(OrganizationRow {
            id: r.get(0),
            name: r.get(1),
            name_key: r.get(2),
            portal: portal
                .parse()
                .map_err(|_| self.corrupt(format!("unknown portal {portal:?}")))?,
            customer: r.get(4),
            created_at: self
                .time(r, 5)?
                .ok_or_else(|| self.corrupt("an organization without its creation time".into()))?,
        })
    }
}

/// `list_servers` of one organization.
const LIST_ORGANIZATION_SERVERS: &str = "SELECT id, organization_id, name, name_key, options, \
     created_at, certificate_serial, certificate_not_after, staged_certificate_serial, \
     staged_certificate_not_after, staged_at, token_expires_at, token_installed_at, \
     token_downloaded_by, token_issued_at, token_certificate_serial, token_consumer_key_hint, \
     replacement_reason, replacement_at, server_uuid \
     FROM mdmlink_servers WHERE organization_id = $1 ORDER BY id";

/// `list_servers` over every organization.
const LIST_SERVERS: &str = "SELECT id, organization_id, name, name_key, options, \
     created_at, certificate_serial, certificate_not_after, staged_certificate_serial, \
     staged_certificate_not_after, staged_at, token_expires_at, token_installed_at, \
     token_downloaded_by, token_issued_at, token_certificate_serial, token_consumer_key_hint, \
     replacement_reason, replacement_at, server_uuid \
     FROM mdmlink_servers ORDER BY organization_id, id";
