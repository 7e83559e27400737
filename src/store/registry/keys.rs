//! The master key: unlocking it once per registry, enrolling it in a new
//! store, and re-sealing every secret under another ([`Registry::rekey`]).

use super::{Registry, RegistryError};
use crate::store::{
    SecretField, Store, StoreError, StoreExt,
    master_key::MasterKeySource,
    master_key::{self, MasterKeyError, MasterKeyRecord, Sealer},
};

impl<S: Store> Registry<S> {
    /// `true` when the store has a master key (its secrets are encrypted).
    pub fn is_encrypted(&mut self) -> Result<bool, RegistryError> {
        Ok(self
            .store
            .read(|tx| tx.meta(MasterKeyRecord::META_KEY))?
            .is_some())
    }

    /// Derives and checks the master key now (at most once per registry),
    /// so a wrong key is reported before anything else; enrolls the given
    /// key in a new store.
    pub fn unlock(&mut self) -> Result<(), RegistryError> {
        self.sealer().map(|_| ())
    }

    /// The sealer for this store: derives and checks the master key once
    /// (or enrolls the given one in a store that has none and no secrets:
    /// no server, no API account).
    pub(super) fn sealer(&mut self) -> Result<Sealer, RegistryError> {
        if let Some(s) = &self.sealer {
            return Ok(s.clone());
        }
        // Counting servers matters only when a key meets a store without
        // one; other calls read two meta values, whatever the store's size.
        let enrolling = self.source.is_some();
        let (store_id, record, servers) = self.store.read(|tx| {
            let record = tx.meta(MasterKeyRecord::META_KEY)?;
            let servers = if record.is_none() && enrolling {
                tx.count_servers(None)? + tx.list_api_accounts()?.len()
            } else {
                0
            };
            Ok::<_, StoreError>((tx.store_id()?, record, servers))
        })?;
        let sealer = match (record, &self.source) {
            (Some(record), Some(source)) => {
                let record = MasterKeyRecord::from_meta(&record)?;
                Sealer::new(
                    store_id,
                    Some(master_key::unlock(source, &record, &store_id)?),
                )
            }
            (Some(_), None) => return Err(MasterKeyError::Required.into()),
            (None, None) => Sealer::new(store_id, None),
            (None, Some(source)) => {
                if servers > 0 {
                    return Err(RegistryError::NotEncrypted);
                }
                let (key, record) = master_key::enroll(source, self.kdf_params, &store_id)?;
                let meta = record.to_meta();
                // Another process may have enrolled first: then unlock theirs.
                let theirs = self.store.write(|tx| {
                    if let Some(existing) = tx.meta(MasterKeyRecord::META_KEY)? {
                        return Ok::<_, StoreError>(Some(existing));
                    }
                    tx.set_meta(MasterKeyRecord::META_KEY, Some(&meta))?;
                    Ok(None)
                })?;
                match theirs {
                    None => Sealer::new(store_id, Some(key)),
                    Some(existing) => {
                        let record = MasterKeyRecord::from_meta(&existing)?;
                        Sealer::new(
                            store_id,
                            Some(master_key::unlock(source, &record, &store_id)?),
                        )
                    }
                }
            }
        };
        self.sealer = Some(sealer.clone());
        Ok(sealer)
    }

    /// Re-seals every secret under `new` (or, with `None`, stores them
    /// unencrypted), in one transaction: the old key must open them all.
    /// Servers' secrets and organizations' API account keys alike; returns
    /// how many servers were re-sealed.
    pub fn rekey(&mut self, new: Option<MasterKeySource>) -> Result<usize, RegistryError> {
        let old = self
            .sealer
            .clone()
            .map_or_else(|| self.current_sealer(), Ok)?;
        let store_id = self.store.read(|tx| tx.store_id())?;
        let (new_sealer, record) = match &new {
            Some(source) => {
                let (key, record) = master_key::enroll(source, self.kdf_params, &store_id)?;
                (Sealer::new(store_id, Some(key)), Some(record.to_meta()))
            }
            None => (Sealer::new(store_id, None), None),
        };
        let count = self.store.write(|tx| {
            let servers = tx.list_servers(None)?;
            for s in &servers {
                let mut row = tx
                    .server_for_update(s.organization_id, &s.name_key)?
                    .ok_or_else(|| {
                        StoreError::NotFound(crate::not_found::NotFound::server(s.name.clone()))
                    })?;
                for field in SecretField::ALL {
                    if let Some(sealed) = row.secret(field) {
                        let plain = old.open(s.organization_id, s.id, field, sealed)?;
                        if let Some(slot) = row.secret_mut(field) {
                            *slot =
                                Some(new_sealer.seal(s.organization_id, s.id, field, &plain)?);
                        }
                    }
                }
                tx.update_server(&row)?;
            }
            for mut account in tx.list_api_accounts()? {
                let plain = old.open_api_key(account.organization_id, &account.private_key)?;
                account.private_key = new_sealer.seal_api_key(account.organization_id, &plain)?;
                tx.update_api_account(&account)?;
            }
            tx.set_meta(MasterKeyRecord::META_KEY, record.as_deref())?;
            Ok::<_, RegistryError>(servers.len())
        })?;
        self.sealer = Some(new_sealer);
        self.source = new;
        Ok(count)
    }

    /// The sealer for the store as it is (a store without a key but with
    /// servers is read in plaintext form even when a key is given).
    fn current_sealer(&mut self) -> Result<Sealer, RegistryError> {
        match self.sealer() {
            Err(RegistryError::NotEncrypted) => {
                let store_id = self.store.read(|tx| tx.store_id())?;
                Ok(Sealer::new(store_id, None))
            }
            other => other,
        }
    }
}
