//! An in-memory [`Store`], for tests and for embedding without persistence.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::rows::{self, not_found};
use super::{
    ApiAccountRow, DepCursor, DeviceRow, OrganizationId, OrganizationRow, ServerId, ServerRow,
    ServerSummary, Store, StoreError, StoreTx, TxMode,
};

#[derive(Debug, Clone, Default)]
struct Data {
    store_id: [u8; 16],
    meta: BTreeMap<String, Vec<u8>>,
    next_id: i64,
    organizations: BTreeMap<OrganizationId, OrganizationRow>,
    servers: BTreeMap<ServerId, ServerRow>,
    api_accounts: BTreeMap<OrganizationId, ApiAccountRow>,
    cursors: BTreeMap<ServerId, DepCursor>,
    devices: BTreeMap<(ServerId, String), DeviceRow>,
    /// Devices a full fetch in progress has not returned yet.
    pending: std::collections::BTreeSet<(ServerId, String)>,
}

/// A store in memory. Clones are handles to the same content (like two
/// connections to one database), so threads can share it. One transaction
/// runs at a time; a write works on a copy that replaces the content only
/// when its body succeeds.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    shared: Arc<Mutex<Data>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store with a fresh random id.
    pub fn new() -> Self {
        // Without a random id the store still works: the id only has to
        // differ between stores whose secrets could be mixed up, and a
        // memory store's secrets never leave the process.
        let store_id = super::new_store_id().unwrap_or_default();
        Self {
            shared: Arc::new(Mutex::new(Data {
                store_id,
                next_id: 1,
                ..Data::default()
            })),
        }
    }

    /// `true` when `needle` occurs in any secret or meta value the store
    /// holds (the conformance suite's check that deleted secrets are gone).
    pub fn holds_bytes(&self, needle: &[u8]) -> bool {
        let data = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        let found =
            |hay: &[u8]| !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle);
        data.servers.values().any(|row| {
            super::SecretField::ALL
                .iter()
                .filter_map(|f| row.secret(*f))
                .any(|s| found(s.as_bytes()))
        }) || data
            .api_accounts
            .values()
            .any(|a| found(a.private_key.as_bytes()))
            || data.meta.values().any(|v| found(v))
    }
}

struct MemoryTx<'a> {
    data: &'a mut Data,
    writable: bool,
}

impl MemoryTx<'_> {
    fn check_writable(&self) -> Result<(), StoreError> {
        if self.writable {
            Ok(())
        } else {
            Err(StoreError::ReadOnly {
                store: "memory".into(),
            })
        }
    }

    fn next_id(&mut self) -> i64 {
        let id = self.data.next_id;
        self.data.next_id += 1;
        id
    }

    fn summaries(&self, organization: OrganizationId) -> impl Iterator<Item = &ServerSummary> {
        self.data
            .servers
            .values()
            .map(|r| &r.summary)
            .filter(move |s| s.organization_id == organization)
    }

    /// The checks `insert_server` and `update_server` share.
    fn check_server(&self, row: &ServerRow, old_count: usize) -> Result<(), StoreError> {
        let s = &row.summary;
        if !self.data.organizations.contains_key(&s.organization_id) {
            return Err(not_found(
                crate::not_found::Missing::Organization,
                s.organization_id,
            ));
        }
        if let Some(other) = self
            .summaries(s.organization_id)
            .find(|o| o.name_key == s.name_key && o.id != s.id)
        {
            return Err(rows::duplicate_server(other.name.clone()));
        }
        let new_count = s.certificate_count();
        if new_count > old_count {
            let count: usize = self
                .summaries(s.organization_id)
                .map(ServerSummary::certificate_count)
                .sum();
            rows::check_certificate_limit(count, old_count, new_count)?;
        }
        Ok(())
    }
}

impl StoreTx for MemoryTx<'_> {
    fn store_id(&mut self) -> Result<[u8; 16], StoreError> {
        Ok(self.data.store_id)
    }

    fn meta(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.data.meta.get(key).cloned())
    }

    fn set_meta(&mut self, key: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
        self.check_writable()?;
        match value {
            Some(v) => self.data.meta.insert(key.to_owned(), v.to_vec()),
            None => self.data.meta.remove(key),
        };
        Ok(())
    }

    fn list_organizations(&mut self) -> Result<Vec<OrganizationRow>, StoreError> {
        let mut orgs: Vec<_> = self.data.organizations.values().cloned().collect();
        orgs.sort_by(|a, b| a.name_key.cmp(&b.name_key));
        Ok(orgs)
    }

    fn find_organization(&mut self, name_key: &str) -> Result<Option<OrganizationRow>, StoreError> {
        Ok(self
            .data
            .organizations
            .values()
            .find(|o| o.name_key == name_key)
            .cloned())
    }

    fn insert_organization(&mut self, row: &OrganizationRow) -> Result<OrganizationId, StoreError> {
        self.check_writable()?;
        if let Some(o) = self.find_organization(&row.name_key)? {
            return Err(StoreError::DuplicateName {
                what: "organization",
                existing: o.name,
            });
        }
        let id = self.next_id();
        let mut row = row.clone();
        row.id = id;
        self.data.organizations.insert(id, row);
        Ok(id)
    }

    fn delete_organization(&mut self, id: OrganizationId) -> Result<(), StoreError> {
        self.check_writable()?;
        if self.data.organizations.remove(&id).is_none() {
            return Err(not_found(crate::not_found::Missing::Organization, id));
        }
        let servers: Vec<ServerId> = self.summaries(id).map(|s| s.id).collect();
        for s in servers {
            self.delete_server(s)?;
        }
        self.data.api_accounts.remove(&id);
        Ok(())
    }

    fn for_each_server(
        &mut self,
        organization: Option<OrganizationId>,
        visit: &mut dyn FnMut(ServerSummary) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // Ids grow with each insert, so id order is (organization, id) order
        // within an organization; across organizations, sort the ids.
        let mut ids: Vec<(OrganizationId, ServerId)> = self
            .data
            .servers
            .values()
            .filter(|r| organization.is_none_or(|o| r.summary.organization_id == o))
            .map(|r| (r.summary.organization_id, r.summary.id))
            .collect();
        ids.sort_unstable();
        for (_, id) in ids {
            if let Some(row) = self.data.servers.get(&id) {
                visit(row.summary.clone())?;
            }
        }
        Ok(())
    }

    fn count_servers(&mut self, organization: Option<OrganizationId>) -> Result<usize, StoreError> {
        Ok(self
            .data
            .servers
            .values()
            .filter(|r| organization.is_none_or(|o| r.summary.organization_id == o))
            .count())
    }

    fn server(
        &mut self,
        organization: OrganizationId,
        name_key: &str,
    ) -> Result<Option<ServerRow>, StoreError> {
        Ok(self
            .data
            .servers
            .values()
            .find(|r| r.summary.organization_id == organization && r.summary.name_key == name_key)
            .cloned())
    }

    fn server_for_update(
        &mut self,
        organization: OrganizationId,
        name_key: &str,
    ) -> Result<Option<ServerRow>, StoreError> {
        // One transaction at a time: every row is locked already.
        self.server(organization, name_key)
    }

    fn insert_server(&mut self, row: &ServerRow) -> Result<ServerId, StoreError> {
        self.check_writable()?;
        let mut row = row.clone();
        row.summary.id = 0;
        self.check_server(&row, 0)?;
        let id = self.next_id();
        row.summary.id = id;
        self.data.servers.insert(id, row);
        Ok(id)
    }

    fn update_server(&mut self, row: &ServerRow) -> Result<(), StoreError> {
        self.check_writable()?;
        let old = self
            .data
            .servers
            .get(&row.summary.id)
            .ok_or_else(|| not_found(crate::not_found::Missing::Server, row.summary.id))?;
        let mut row = row.clone();
        row.summary.organization_id = old.summary.organization_id;
        let old_count = old.summary.certificate_count();
        self.check_server(&row, old_count)?;
        self.data.servers.insert(row.summary.id, row);
        Ok(())
    }

    fn delete_server(&mut self, id: ServerId) -> Result<(), StoreError> {
        self.check_writable()?;
        if self.data.servers.remove(&id).is_none() {
            return Err(not_found(crate::not_found::Missing::Server, id));
        }
        self.clear_dep_state(id)
    }

    fn count_certificates(&mut self, organization: OrganizationId) -> Result<usize, StoreError> {
        Ok(self
            .summaries(organization)
            .map(ServerSummary::certificate_count)
            .sum())
    }

    fn dep_cursor(&mut self, server: ServerId) -> Result<Option<DepCursor>, StoreError> {
        Ok(self.data.cursors.get(&server).cloned())
    }

    fn put_dep_page(
        &mut self,
        server: ServerId,
        devices: &[DeviceRow],
        cursor: &DepCursor,
    ) -> Result<(), StoreError> {
        self.check_writable()?;
        if !self.data.servers.contains_key(&server) {
            return Err(not_found(crate::not_found::Missing::Server, server));
        }
        for d in devices {
            let key = (server, d.serial.clone());
            self.data.pending.remove(&key);
            self.data.devices.insert(key, d.clone());
        }
        self.data.cursors.insert(server, cursor.clone());
        Ok(())
    }

    fn dep_devices(&mut self, server: ServerId) -> Result<Vec<DeviceRow>, StoreError> {
        Ok(self
            .data
            .devices
            .range((server, String::new())..)
            .take_while(|((s, _), _)| *s == server)
            .map(|(_, d)| d.clone())
            .collect())
    }

    fn api_account(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Option<ApiAccountRow>, StoreError> {
        Ok(self.data.api_accounts.get(&organization).cloned())
    }

    fn list_api_accounts(&mut self) -> Result<Vec<ApiAccountRow>, StoreError> {
        Ok(self.data.api_accounts.values().cloned().collect())
    }

    fn insert_api_account(&mut self, row: &ApiAccountRow) -> Result<(), StoreError> {
        self.check_writable()?;
        if !self.data.organizations.contains_key(&row.organization_id) {
            return Err(not_found(
                crate::not_found::Missing::Organization,
                row.organization_id,
            ));
        }
        if self.data.api_accounts.contains_key(&row.organization_id) {
            return Err(StoreError::ApiAccountExists {
                organization: row.organization_id,
            });
        }
        self.data
            .api_accounts
            .insert(row.organization_id, row.clone());
        Ok(())
    }

    fn update_api_account(&mut self, row: &ApiAccountRow) -> Result<(), StoreError> {
        self.check_writable()?;
        match self.data.api_accounts.get_mut(&row.organization_id) {
            Some(slot) => {
                *slot = row.clone();
                Ok(())
            }
            None => Err(rows::api_account_not_found(row.organization_id)),
        }
    }

    fn delete_api_account(&mut self, organization: OrganizationId) -> Result<(), StoreError> {
        self.check_writable()?;
        match self.data.api_accounts.remove(&organization) {
            Some(_) => Ok(()),
            None => Err(rows::api_account_not_found(organization)),
        }
    }

    fn clear_dep_state(&mut self, server: ServerId) -> Result<(), StoreError> {
        self.check_writable()?;
        self.data.cursors.remove(&server);
        self.data.devices.retain(|(s, _), _| *s != server);
        self.data.pending.retain(|(s, _)| *s != server);
        Ok(())
    }

    fn dep_devices_by_serial(
        &mut self,
        server: ServerId,
        serials: &[String],
    ) -> Result<Vec<DeviceRow>, StoreError> {
        Ok(serials
            .iter()
            .filter_map(|s| self.data.devices.get(&(server, s.clone())).cloned())
            .collect())
    }

    fn begin_dep_snapshot(&mut self, server: ServerId) -> Result<(), StoreError> {
        self.check_writable()?;
        if !self.data.servers.contains_key(&server) {
            return Err(not_found(crate::not_found::Missing::Server, server));
        }
        let live: Vec<_> = self
            .data
            .devices
            .range((server, String::new())..)
            .take_while(|((s, _), _)| *s == server)
            .filter(|(_, d)| !d.deleted)
            .map(|(k, _)| k.clone())
            .collect();
        self.data.pending.extend(live);
        Ok(())
    }

    fn finish_dep_snapshot(&mut self, server: ServerId) -> Result<Vec<String>, StoreError> {
        self.check_writable()?;
        let gone: Vec<_> = self
            .data
            .pending
            .range((server, String::new())..)
            .take_while(|(s, _)| *s == server)
            .cloned()
            .collect();
        let mut serials = Vec::with_capacity(gone.len());
        for key in gone {
            self.data.pending.remove(&key);
            if let Some(d) = self.data.devices.get_mut(&key) {
                d.deleted = true;
                d.op_type = Some("deleted".into());
            }
            serials.push(key.1);
        }
        Ok(serials)
    }
}

impl Store for MemoryStore {
    fn transaction(
        &mut self,
        mode: TxMode,
        body: &mut dyn FnMut(&mut dyn StoreTx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // A panic in another handle's body happened before its commit, so
        // the content behind a poisoned lock is a committed state.
        let mut guard = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        match mode {
            TxMode::Read => body(&mut MemoryTx {
                data: &mut guard,
                writable: false,
            }),
            TxMode::Write => {
                let mut copy = guard.clone();
                body(&mut MemoryTx {
                    data: &mut copy,
                    writable: true,
                })?;
                *guard = copy;
                Ok(())
            }
        }
    }

    fn describe(&self) -> String {
        "memory".into()
    }
}
