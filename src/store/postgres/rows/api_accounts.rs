//! An organization's School and Business Manager API account in
//! PostgreSQL (schema version 3): one row per organization, keyed by its id,
//! removed with it (ON DELETE CASCADE). The private key is written only
//! sealed: a plaintext one is refused here, and by the table's CHECK.

use std::sync::LazyLock;

use postgres::error::SqlState;

use super::{PLAINTEXT_PREFIX, PgTx, bind, not_found};
use crate::store::rows::{self, API_ACCOUNT_COLUMNS};
use crate::store::{ApiAccountRow, OrganizationId, SecretField, StoreError};

static SELECT_ONE: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {API_ACCOUNT_COLUMNS} FROM mdmlink_api_accounts WHERE organization_id = $1")
});
static SELECT_ALL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {API_ACCOUNT_COLUMNS} FROM mdmlink_api_accounts ORDER BY organization_id")
});
static INSERT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO mdmlink_api_accounts ({API_ACCOUNT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
    )
});
const UPDATE: &str = "UPDATE mdmlink_api_accounts
     SET client_id = $2, key_id = $3, scope = $4, created_at = $5, private_key = $6
     WHERE organization_id = $1";

impl PgTx<'_, '_> {
    pub(super) fn select_api_accounts(
        &mut self,
        organization: Option<OrganizationId>,
    ) -> Result<Vec<ApiAccountRow>, StoreError> {
        let found = match &organization {
            Some(o) => self.query(&SELECT_ONE, &[o])?,
            None => self.query(&SELECT_ALL, &[])?,
        };
        found
            .iter()
            .map(|r| rows::decode_api_account(self.store, &self.columns(r)))
            .collect()
    }

    fn check_api_key_sealed(&self, row: &ApiAccountRow) -> Result<(), StoreError> {
        if row.private_key.as_bytes().starts_with(PLAINTEXT_PREFIX) {
            return Err(StoreError::PlaintextSecret {
                store: self.store.to_owned(),
                field: SecretField::ApiPrivateKey,
            });
        }
        Ok(())
    }

    pub(super) fn insert_api_account_row(&mut self, row: &ApiAccountRow) -> Result<(), StoreError> {
        self.check_writable()?;
        self.check_api_key_sealed(row)?;
        // Held until the commit: the organization cannot go meanwhile.
        self.lock_organization(row.organization_id)?;
        let values = rows::encode_api_account(row);
        let params: Vec<_> = values.iter().map(bind).collect();
        let s = self.statement(&INSERT)?;
        match self.tx.execute(&s, &params) {
            Ok(_) => Ok(()),
            // The organization's id is the key: one account per organization.
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                Err(StoreError::ApiAccountExists {
                    organization: row.organization_id,
                })
            }
            Err(e) if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) => Err(not_found(
                crate::not_found::Missing::Organization,
                row.organization_id,
            )),
            Err(e) => Err(self.err(e)),
        }
    }

    pub(super) fn update_api_account_row(&mut self, row: &ApiAccountRow) -> Result<(), StoreError> {
        self.check_api_key_sealed(row)?;
        let values = rows::encode_api_account(row);
        let params: Vec<_> = values.iter().map(bind).collect();
        if self.execute(UPDATE, &params)? == 0 {
            return Err(rows::api_account_not_found(row.organization_id));
        }
        Ok(())
    }

    pub(super) fn delete_api_account_row(
        &mut self,
        organization: OrganizationId,
    ) -> Result<(), StoreError> {
        if self.execute(
            "DELETE FROM mdmlink_api_accounts WHERE organization_id = $1",
            &[&organization],
        )? == 0
        {
            return Err(rows::api_account_not_found(organization));
        }
        Ok(())
    }
}
