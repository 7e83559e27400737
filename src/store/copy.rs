//! Copying one store into another (`mdmlink store copy`), for example a
//! SQLite file into the PostgreSQL database that several instances share.
//!
//! Everything moves: organizations, servers with every column, their
//! secrets, the device assignment state, and the organizations' API
//! accounts (their keys re-sealed like the servers' secrets). Secrets are bound to their
//! store, organization and server (the authenticated data of their
//! encryption), and those ids differ in the target, so each secret is opened
//! with the source's master key and sealed again under the target's. The
//! target must be empty; it is written in one transaction, so a failure
//! leaves it empty.

use std::collections::HashMap;

use super::{
    OrganizationId, SecretField, ServerRow, Store, StoreError, StoreExt,
    master_key::{self, KdfParams, MasterKeyRecord, MasterKeySource, Sealer},
    registry::RegistryError,
};

/// What [`copy`] copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CopyReport {
    /// Organizations copied.
    pub organizations: usize,
    /// Servers copied.
    pub servers: usize,
    /// Secrets opened and sealed again (API account keys included).
    pub secrets: usize,
    /// API accounts copied.
    pub api_accounts: usize,
}

/// The sealer of a store: its master key unlocked with `source` (or, for a
/// target without one yet, enrolled). Returns the record to write when enrolled.
fn sealer(
    store: &mut dyn Store,
    source: Option<&MasterKeySource>,
    enroll: bool,
) -> Result<(Sealer, Option<MasterKeyRecord>), RegistryError> {
    let (id, record) = store.read(|tx| -> Result<_, StoreError> {
        Ok((tx.store_id()?, tx.meta(MasterKeyRecord::META_KEY)?))
    })?;
    match (record, source) {
        (Some(record), Some(source)) => {
            let record = MasterKeyRecord::from_meta(&record)?;
            let key = master_key::unlock(source, &record, &id)?;
            Ok((Sealer::new(id, Some(key)), None))
        }
        (Some(_), None) => Err(master_key::MasterKeyError::Required.into()),
        (None, Some(source)) if enroll => {
            let (key, record) = master_key::enroll(source, KdfParams::DEFAULT, &id)?;
            Ok((Sealer::new(id, Some(key)), Some(record)))
        }
        // A source without a master key keeps plaintext: open it as such.
        (None, _) => Ok((Sealer::new(id, None), None)),
    }
}

/// Copies every organization, server, secret and device assignment state
/// of `from` into the empty store `to`. `master_key` opens the source's
/// secrets and seals the target's (the target gets the same master key;
/// a target that has one already must accept it).
pub fn copy(
    from: &mut dyn Store,
    to: &mut dyn Store,
    master_key: Option<&MasterKeySource>,
) -> Result<CopyReport, RegistryError> {
    let (opener, _) = sealer(from, master_key, false)?;
    let (target, record) = sealer(to, master_key, true)?;
    // One snapshot of the source.
    type Dep = (i64, Option<super::DepCursor>, Vec<super::DeviceRow>);
    let (organizations, servers, dep, api_accounts) = from.read(|tx| -> Result<_, StoreError> {
        let organizations = tx.list_organizations()?;
        let mut servers: Vec<ServerRow> = Vec::new();
        let mut dep: Vec<Dep> = Vec::new();
        for s in tx.list_servers(None)? {
            let row = tx.server(s.organization_id, &s.name_key)?.ok_or_else(|| {
                StoreError::NotFound(crate::not_found::NotFound::server(s.name.clone()))
            })?;
            let cursor = tx.dep_cursor(s.id)?;
            let devices = tx.dep_devices(s.id)?;
            if cursor.is_some() || !devices.is_empty() {
                dep.push((s.id, cursor, devices));
            }
            servers.push(row);
        }
        Ok((organizations, servers, dep, tx.list_api_accounts()?))
    })?;
    // Open every secret before writing anything.
    let mut plain = Vec::with_capacity(servers.len());
    for row in &servers {
        let mut opened = Vec::new();
        for field in SecretField::ALL {
            if let Some(sealed) = row.secret(field) {
                let secret =
                    opener.open(row.summary.organization_id, row.summary.id, field, sealed)?;
                opened.push((field, secret));
            }
        }
        plain.push(opened);
    }
    let api_keys = api_accounts
        .iter()
        .map(|a| opener.open_api_key(a.organization_id, &a.private_key))
        .collect::<Result<Vec<_>, _>>()?;
    let target_name = to.describe();
    let mut report = CopyReport {
        organizations: organizations.len(),
        servers: servers.len(),
        secrets: 0,
        api_accounts: api_accounts.len(),
    };
    to.write(|tx| -> Result<(), RegistryError> {
        if !tx.list_organizations()?.is_empty() {
            return Err(StoreError::Io {
                store: target_name.clone(),
                reason: "the target store is not empty: copy only into a new store".into(),
            }
            .into());
        }
        if let Some(record) = &record {
            tx.set_meta(MasterKeyRecord::META_KEY, Some(&record.to_meta()))?;
        }
        let mut org_ids: HashMap<OrganizationId, OrganizationId> = HashMap::new();
        for org in &organizations {
            org_ids.insert(org.id, tx.insert_organization(org)?);
        }
        let mut server_ids = HashMap::new();
        report.secrets = 0;
        for (row, opened) in servers.iter().zip(&plain) {
            let organization = org_ids
                .get(&row.summary.organization_id)
                .copied()
                .ok_or_else(|| {
                    super::rows::not_found(
                        crate::not_found::Missing::Organization,
                        row.summary.organization_id,
                    )
                })?;
            let mut copy = row.clone();
            copy.summary.organization_id = organization;
            for field in SecretField::ALL {
                if let Some(slot) = copy.secret_mut(field) {
                    *slot = None;
                }
            }
            let id = tx.insert_server(&copy)?;
            server_ids.insert(row.summary.id, id);
            if opened.is_empty() {
                continue;
            }
            copy.summary.id = id;
            for (field, secret) in opened {
                if let Some(slot) = copy.secret_mut(*field) {
                    *slot = Some(target.seal(organization, id, *field, secret)?);
                    report.secrets += 1;
                }
            }
            tx.update_server(&copy)?;
        }
        for (old, cursor, devices) in &dep {
            let Some(&id) = server_ids.get(old) else {
                continue;
            };
            // put_dep_page writes devices and cursor together; a state with
            // devices but no cursor keeps an empty cursor issued at the epoch.
            let cursor = cursor.clone().unwrap_or(super::DepCursor {
                cursor: String::new(),
                issued_at: time::OffsetDateTime::UNIX_EPOCH,
            });
            tx.put_dep_page(id, devices, &cursor)?;
        }
        for (account, key) in api_accounts.iter().zip(&api_keys) {
            let organization = org_ids
                .get(&account.organization_id)
                .copied()
                .ok_or_else(|| {
                    super::rows::not_found(
                        crate::not_found::Missing::Organization,
                        account.organization_id,
                    )
                })?;
            let mut copy = account.clone();
            copy.organization_id = organization;
            copy.private_key = target.seal_api_key(organization, key)?;
            tx.insert_api_account(&copy)?;
            report.secrets += 1;
        }
        Ok(())
    })?;
    Ok(report)
}
