//! What a unit's records are attributed to, whichever source reads them.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::model::StoreId;

/// What an inventory snapshot is attributed to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SnapshotScope {
    /// The store.
    pub store: StoreId,
    /// The warehouse asked for (KLK's warehouse, Stellar's depot).
    pub warehouse: Arc<str>,
    /// When the snapshot was taken.
    pub snapshot_at: DateTime<Utc>,
}
