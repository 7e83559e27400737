//! An in-memory [`Store`], for tests and for embedding without persistence.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::{Store, StoreError, StoredOrganization};

#[derive(Debug, Default)]
struct Shared {
    content: Option<StoredOrganization>,
    /// A handle holds the write transaction.
    locked: bool,
}

/// A store in memory. Clones are handles to the same content (like two
/// connections to one database), so threads can share it; a handle's write
/// transaction excludes the others' until it saves or aborts (or is dropped).
#[derive(Debug, Default)]
pub struct MemoryStore {
    shared: Arc<(Mutex<Shared>, Condvar)>,
    in_transaction: bool,
}

impl Clone for MemoryStore {
    /// Another handle to the same content, outside any transaction.
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            in_transaction: false,
        }
    }
}

fn no_transaction() -> StoreError {
    StoreError::NoTransaction {
        path: PathBuf::from("memory"),
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic in another handle's caller cannot leave `Shared` half
        // written (every write is one assignment), so poisoning is ignored.
        self.shared
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn release(&mut self) {
        if self.in_transaction {
            self.lock().locked = false;
            self.in_transaction = false;
            self.shared.1.notify_one();
        }
    }
}

impl Drop for MemoryStore {
    fn drop(&mut self) {
        self.release();
    }
}

impl Store for MemoryStore {
    fn load(&mut self) -> Result<Option<StoredOrganization>, StoreError> {
        Ok(self.lock().content.clone())
    }

    fn load_for_update(&mut self) -> Result<Option<StoredOrganization>, StoreError> {
        if self.in_transaction {
            return Ok(self.lock().content.clone());
        }
        let mut guard = self.lock();
        while guard.locked {
            guard = self
                .shared
                .1
                .wait(guard)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        guard.locked = true;
        let content = guard.content.clone();
        drop(guard);
        self.in_transaction = true;
        Ok(content)
    }

    fn save(&mut self, organization: Option<&StoredOrganization>) -> Result<(), StoreError> {
        if !self.in_transaction {
            return Err(no_transaction());
        }
        self.lock().content = organization.cloned();
        self.release();
        Ok(())
    }

    fn abort(&mut self) -> Result<(), StoreError> {
        if !self.in_transaction {
            return Err(no_transaction());
        }
        self.release();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::legacy::{tests::exercise, update};

    #[test]
    fn round_trip_abort_and_update() {
        exercise(&mut MemoryStore::new());
    }

    #[test]
    fn concurrent_writers_lose_no_update() {
        let store = MemoryStore::new();
        let base = crate::store::legacy::tests::sample("Base");
        update(&mut store.clone(), |c| -> Result<(), StoreError> {
            *c = Some(base.clone());
            Ok(())
        })
        .unwrap();
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let mut handle = store.clone();
                std::thread::spawn(move || {
                    update(&mut handle, |c| -> Result<(), StoreError> {
                        let org = c.as_mut().unwrap();
                        // Read, yield (inviting a race), then write.
                        let mut servers = org.record.servers.clone();
                        std::thread::yield_now();
                        let mut s = servers[0].clone();
                        s.name = format!("Server {i}");
                        servers.push(s);
                        org.record.servers = servers;
                        Ok(())
                    })
                    .unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let names: Vec<String> = store
            .clone()
            .load()
            .unwrap()
            .unwrap()
            .record
            .servers
            .into_iter()
            .map(|s| s.name.clone())
            .collect();
        assert_eq!(names.len(), 9, "{names:?}");
        for i in 0..8 {
            assert!(names.contains(&format!("Server {i}")), "{names:?}");
        }
    }

    #[test]
    fn dropping_a_handle_releases_its_transaction() {
        let store = MemoryStore::new();
        let mut a = store.clone();
        a.load_for_update().unwrap();
        drop(a);
        let mut b = store.clone();
        b.load_for_update().unwrap();
        b.abort().unwrap();
    }
}
