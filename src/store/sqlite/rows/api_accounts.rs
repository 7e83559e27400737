//! An organization's School and Business Manager API account in SQLite
//! (schema version 6, `super::super::migrate`): one row per organization,
//! keyed by its id, removed with it by the foreign key's cascade.

use std::sync::LazyLock;

use super::{SqliteTx, extended_code};
use crate::store::rows::{self, API_ACCOUNT_COLUMNS, Value};
use crate::store::{ApiAccountRow, OrganizationId, StoreError};

static SELECT_ONE: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {API_ACCOUNT_COLUMNS} FROM api_accounts WHERE organization_id = ?1")
});
static SELECT_ALL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {API_ACCOUNT_COLUMNS} FROM api_accounts ORDER BY organization_id")
});
static INSERT: LazyLock<String> = LazyLock::new(|| {
    format!("INSERT INTO api_accounts ({API_ACCOUNT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
});
const UPDATE: &str = "UPDATE api_accounts
     SET client_id = ?2, key_id = ?3, scope = ?4, created_at = ?5, private_key = ?6
     WHERE organization_id = ?1";

fn bind<'a>(values: &'a [Value<'_>]) -> Vec<&'a dyn rusqlite::ToSql> {
    values.iter().map(|v| v as &dyn rusqlite::ToSql).collect()
}

impl SqliteTx<'_> {
    pub(super) fn select_api_accounts(
        &self,
        organization: Option<OrganizationId>,
    ) -> Result<Vec<ApiAccountRow>, StoreError> {
        let sql: &str = match organization {
            Some(_) => &SELECT_ONE,
            None => &SELECT_ALL,
        };
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        let mut found = match organization {
            Some(o) => stmt.query([o]),
            None => stmt.query([]),
        }
        .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(r) = found.next().map_err(|e| self.err(e))? {
            out.push(rows::decode_api_account(self.name, &self.columns(r))?);
        }
        Ok(out)
    }

    pub(super) fn insert_api_account_row(&mut self, row: &ApiAccountRow) -> Result<(), StoreError> {
        self.check_writable()?;
        if !self.organization_exists(row.organization_id)? {
            return Err(rows::not_found(
                crate::not_found::Missing::Organization,
                row.organization_id,
            ));
        }
        let values = rows::encode_api_account(row);
        let mut stmt = self.conn.prepare_cached(&INSERT).map_err(|e| self.err(e))?;
        stmt.execute(&*bind(&values)).map_err(|e| {
            // The organization's id is the key: one account per organization.
            if extended_code(&e) == Some(rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY) {
                StoreError::ApiAccountExists {
                    organization: row.organization_id,
                }
            } else {
                self.err(e)
            }
        })?;
        Ok(())
    }

    pub(super) fn update_api_account_row(&mut self, row: &ApiAccountRow) -> Result<(), StoreError> {
        self.check_writable()?;
        self.shredded = true;
        let values = rows::encode_api_account(row);
        let n = self
            .conn
            .prepare_cached(UPDATE)
            .and_then(|mut s| s.execute(&*bind(&values)))
            .map_err(|e| self.err(e))?;
        if n == 0 {
            return Err(rows::api_account_not_found(row.organization_id));
        }
        Ok(())
    }

    pub(super) fn delete_api_account_row(
        &mut self,
        organization: OrganizationId,
    ) -> Result<(), StoreError> {
        self.check_writable()?;
        self.shredded = true;
        let n = self
            .conn
            .prepare_cached("DELETE FROM api_accounts WHERE organization_id = ?1")
            .and_then(|mut s| s.execute([organization]))
            .map_err(|e| self.err(e))?;
        if n == 0 {
            return Err(rows::api_account_not_found(organization));
        }
        Ok(())
    }
}
