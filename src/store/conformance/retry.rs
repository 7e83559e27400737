//! [`FirstAttemptFails`]: a [`Store`] wrapper that makes every write
//! transaction fail once with a serialization failure, as PostgreSQL may, so
//! that code running on any store can be tested for bodies that are not
//! safe to run again.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::store::{Store, StoreError, StoreTx, TxMode};

/// Wraps a store so that the first attempt of every write transaction runs
/// its body to the end and then fails to commit (as a serialization failure
/// at `COMMIT` does): the attempt is rolled back and the body runs again,
/// which [`Store::transaction`] allows. A body that kept state from the
/// first attempt (a value moved out, a counter) shows it on the second.
///
/// A body that fails on its first attempt fails as it would without the
/// wrapper. Clones share the inner store's clones and the retry count.
#[derive(Debug, Clone)]
pub struct FirstAttemptFails<S> {
    inner: S,
    enabled: bool,
    retried: Arc<AtomicUsize>,
}

impl<S: Store> FirstAttemptFails<S> {
    /// Wraps `inner`; with `enabled` false the wrapper only passes calls on
    /// (so one test can run both ways).
    pub fn new(inner: S, enabled: bool) -> Self {
        Self {
            inner,
            enabled,
            retried: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// How many write transactions were run a second time.
    pub fn retried(&self) -> usize {
        self.retried.load(Ordering::Relaxed)
    }
}

impl<S: Store> Store for FirstAttemptFails<S> {
    fn transaction(
        &mut self,
        mode: TxMode,
        body: &mut dyn FnMut(&mut dyn StoreTx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if !self.enabled || mode == TxMode::Read {
            return self.inner.transaction(mode, body);
        }
        let mut completed = false;
        let first = self.inner.transaction(mode, &mut |tx| {
            body(tx)?;
            completed = true;
            // Roll the attempt back, as a failed COMMIT would.
            Err(StoreError::Conflict {
                store: "first attempt".into(),
                attempts: 1,
            })
        });
        match first {
            Err(StoreError::Conflict { .. }) if completed => {
                self.retried.fetch_add(1, Ordering::Relaxed);
                self.inner.transaction(mode, body)
            }
            other => other,
        }
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MemoryStore, StoreExt};

    #[test]
    fn every_write_body_runs_twice_and_commits_once() {
        let mut store = FirstAttemptFails::new(MemoryStore::new(), true);
        let mut runs = 0;
        store
            .write(|tx| {
                runs += 1;
                let n = tx.meta("n")?.map_or(0, |v| v[0]);
                tx.set_meta("n", Some(&[n + 1]))
            })
            .unwrap();
        assert_eq!(runs, 2);
        assert_eq!(store.retried(), 1);
        // The first attempt was rolled back: one increment.
        assert_eq!(store.read(|tx| tx.meta("n")).unwrap(), Some(vec![1]));
        // Reads run once; a failing body is not retried.
        let mut reads = 0;
        store
            .read(|tx| {
                reads += 1;
                tx.meta("n")
            })
            .unwrap();
        assert_eq!(reads, 1);
        let err = store
            .write(|tx| {
                tx.set_meta("n", Some(&[9]))?;
                Err::<(), _>(StoreError::InvalidName("no".into()))
            })
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidName(_)), "{err}");
        assert_eq!(store.retried(), 1);
        assert_eq!(store.read(|tx| tx.meta("n")).unwrap(), Some(vec![1]));
    }
}
