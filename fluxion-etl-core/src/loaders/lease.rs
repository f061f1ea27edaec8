//! Per-(store, kind) leases held inside one process, for a destination with no server to hold
//! them (SQLite).
//!
//! The embedded SQLite file is written by the one process that embeds it; what can overlap
//! there is two runs of the same process (the server's scheduler and a manual run, or two
//! triggers of the API). A registry in memory keyed by (database file, store, kind) keeps those
//! apart. Across processes SQLite's single writer still serializes the merges, and the scoped,
//! idempotent merge keeps a duplicated load correct; PostgreSQL, where several processes and
//! replicas do meet, uses advisory locks instead.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, OnceLock};

use async_trait::async_trait;

use crate::error::EtlError;
use crate::model::Batch;
use crate::pipeline::{LoadSession, LoadStats, LoadUnit};
use crate::tracker::StoreDetail;

fn held() -> MutexGuard<'static, HashSet<String>> {
    static HELD: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    HELD.get_or_init(Default::default)
        .lock()
        // The set is only inserted into and removed from; a panic elsewhere leaves it usable.
        .unwrap_or_else(|p| p.into_inner())
}

/// A lease on one (database, store, kind), released on drop.
#[derive(Debug)]
pub(crate) struct LocalLease(String);

impl LocalLease {
    /// Takes the lease of `unit` in `database`, unless this process already holds it.
    pub(crate) fn try_acquire(database: &str, unit: &LoadUnit) -> Option<Self> {
        let key = format!(
            "{database}\u{0}{}\u{0}{}",
            unit.store,
            unit.kind().etl_name()
        );
        // Build the lease only once inserted: dropping one removes its key from the set.
        let inserted = held().insert(key.clone());
        if inserted {
            Some(LocalLease(key))
        } else {
            None
        }
    }
}

impl Drop for LocalLease {
    fn drop(&mut self) {
        held().remove(&self.0);
    }
}

/// A session that holds a lease until it is finished, aborted or dropped.
pub(crate) struct Leased {
    inner: Box<dyn LoadSession>,
    lease: Option<LocalLease>,
}

impl Leased {
    pub(crate) fn new(inner: Box<dyn LoadSession>, lease: LocalLease) -> Self {
        Self {
            inner,
            lease: Some(lease),
        }
    }
}

#[async_trait]
impl LoadSession for Leased {
    async fn write(&mut self, batch: Batch) -> Result<(), EtlError> {
        self.inner.write(batch).await
    }

    async fn finish(&mut self, detail: &StoreDetail) -> Result<LoadStats, EtlError> {
        let result = self.inner.finish(detail).await;
        self.lease = None;
        result
    }

    async fn abort(&mut self) {
        self.inner.abort().await;
        self.lease = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{StoreId, Window};
    use crate::pipeline::LoadScope;

    #[test]
    fn one_holder_per_database_store_and_kind() {
        let day = chrono::NaiveDate::from_ymd_opt(2025, 11, 17).unwrap();
        let unit = |store: &str| LoadUnit {
            store: StoreId::new(store),
            scope: LoadScope::SalesWindow(Window::day(day).unwrap()),
        };
        let first = LocalLease::try_acquire("/tmp/lease-test.db", &unit("tienda_01")).unwrap();
        assert!(LocalLease::try_acquire("/tmp/lease-test.db", &unit("tienda_01")).is_none());
        let other_store = LocalLease::try_acquire("/tmp/lease-test.db", &unit("tienda_02"));
        assert!(other_store.is_some());
        let other_db = LocalLease::try_acquire("/tmp/other-lease-test.db", &unit("tienda_01"));
        assert!(other_db.is_some());
        drop(first);
        assert!(LocalLease::try_acquire("/tmp/lease-test.db", &unit("tienda_01")).is_some());
    }
}
