//! The three roles of a pipeline — [`Extractor`], [`Transformer`], [`Loader`] — and the
//! [`Runner`] that streams batches between them.
//!
//! # The contract
//!
//! A **unit** is what one store contributes to one run: for sales, the lines of one store in one
//! [`Window`]; for inventory, the snapshot of one store's warehouse. A unit is loaded
//! atomically: either every batch of it is committed, or none is.
//!
//! For each unit the runner calls, in this order:
//! 1. [`Loader::try_begin`] once, before anything is extracted (so a unit whose source now
//!    returns no rows still replaces what the destination had: voided tickets disappear). It
//!    takes the unit's per-(store, kind) lease; when another run holds it, the store is recorded
//!    as skipped and nothing else is called;
//! 2. [`Extractor::next_batch`] until it returns `Ok(None)`; each batch is passed through
//!    [`Transformer::transform`] and then [`LoadSession::write`]. Extraction of batch *n+1*
//!    overlaps the transform and load of batch *n*, through a bounded channel;
//! 3. [`LoadSession::finish`] once, only if every call before it succeeded, which commits the
//!    unit; or [`LoadSession::abort`] (at most once, instead of `finish`) after any error or
//!    cancellation. After an error no method of the failed role is called again.
//!
//! **Errors** are [`EtlError`]s: a phase, a taxonomy category and a retry hint. Who retries:
//! an extractor retries its own transient request failures (timeouts, 5xx) inside
//! `next_batch`, with backoff; a loader retries transient conflicts (deadlock) inside `finish`;
//! the runner never retries a unit — a failed unit is recorded, and the scheduler or a recovery
//! run retries it later.

mod builder;
#[cfg(test)]
mod metrics_tests;
mod runner;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use crate::outcome::{ExtractStats, LoadStats, NetworkDiagnostics};
pub use builder::RunnerBuilder;
pub use runner::{Runner, RunnerOptions, StoreOutcome, StoreTask};

use crate::error::EtlError;
use crate::model::{Batch, DataKind, StoreId, Window};
use crate::tracker::StoreDetail;

/// Produces the batches of one unit.
///
/// * `next_batch` returns `Ok(Some(batch))` with a non-empty batch of at most the configured
///   batch size, `Ok(None)` once the unit is exhausted, or `Err` — after which it is not called
///   again.
/// * Connections are opened lazily, on the first `next_batch`, so building an extractor is cheap
///   and connecting counts as extract time.
/// * Records must lie inside the unit (a sales extractor filters to the exact window on the
///   client side whatever the server's boundary semantics): the loader rejects strays.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait Extractor: Send {
    /// The next batch of the unit, or `None` when it is exhausted.
    async fn next_batch(&mut self) -> Result<Option<Batch>, EtlError>;

    /// Network diagnostics of the last connection, if the source is remote.
    fn diagnostics(&self) -> Option<NetworkDiagnostics> {
        None
    }

    /// Counters of requests and rejected rows so far.
    fn stats(&self) -> ExtractStats {
        ExtractStats::default()
    }
}

#[async_trait]
impl<E: Extractor + ?Sized> Extractor for Box<E> {
    async fn next_batch(&mut self) -> Result<Option<Batch>, EtlError> {
        (**self).next_batch().await
    }
    fn diagnostics(&self) -> Option<NetworkDiagnostics> {
        (**self).diagnostics()
    }
    fn stats(&self) -> ExtractStats {
        (**self).stats()
    }
}

/// Converts a batch. Shared by every store of a run, so it takes `&self`.
///
/// A transformer may drop, change or add records but must keep them inside the unit. An error
/// fails the unit; its phase should be [`Phase::Transform`](crate::taxonomy::Phase::Transform).
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait Transformer: Send + Sync {
    /// Transforms one batch.
    async fn transform(&self, batch: Batch) -> Result<Batch, EtlError>;
}

#[async_trait]
impl<T: Transformer + ?Sized> Transformer for Box<T> {
    async fn transform(&self, batch: Batch) -> Result<Batch, EtlError> {
        (**self).transform(batch).await
    }
}

#[async_trait]
impl<T: Transformer + ?Sized> Transformer for std::sync::Arc<T> {
    async fn transform(&self, batch: Batch) -> Result<Batch, EtlError> {
        (**self).transform(batch).await
    }
}

/// The transformer that passes batches through unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity;

#[async_trait]
impl Transformer for Identity {
    async fn transform(&self, batch: Batch) -> Result<Batch, EtlError> {
        Ok(batch)
    }
}

/// A transformer made from a closure, for the one-line case.
///
/// ```
/// use fluxion_etl_core::pipeline::{FnTransformer, Transformer};
/// use fluxion_etl_core::model::Batch;
///
/// // Keep only sales lines with a positive quantity.
/// let positive_only = FnTransformer::new(|batch| {
///     Ok(match batch {
///         Batch::Sales(lines) => Batch::Sales(
///             lines.into_iter().filter(|l| l.quantity.is_some_and(|q| q.is_sign_positive())).collect(),
///         ),
///         other => other,
///     })
/// });
/// # let _ = &positive_only as &dyn Transformer;
/// ```
pub struct FnTransformer<F>(F);

impl<F> FnTransformer<F>
where
    F: Fn(Batch) -> Result<Batch, EtlError> + Send + Sync,
{
    /// Wraps a closure.
    pub fn new(f: F) -> Self {
        Self(f)
    }
}

#[async_trait]
impl<F> Transformer for FnTransformer<F>
where
    F: Fn(Batch) -> Result<Batch, EtlError> + Send + Sync,
{
    async fn transform(&self, batch: Batch) -> Result<Batch, EtlError> {
        (self.0)(batch)
    }
}

/// What a load replaces.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadScope {
    /// Every sales line of the store whose time falls in the window.
    SalesWindow(Window),
    /// The store's snapshot of one warehouse.
    InventorySnapshot {
        /// The warehouse (KLK warehouse code or Stellar depot).
        warehouse: String,
        /// When the snapshot was taken.
        taken_at: DateTime<Utc>,
        /// Whether to append the snapshot to `inventory_history` as well.
        keep_history: bool,
    },
}

/// One store's unit of work, as the loader sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadUnit {
    /// The store.
    pub store: StoreId,
    /// What is replaced.
    pub scope: LoadScope,
}

impl LoadUnit {
    /// The kind of records the unit holds.
    pub fn kind(&self) -> DataKind {
        match self.scope {
            LoadScope::SalesWindow(_) => DataKind::Sales,
            LoadScope::InventorySnapshot { .. } => DataKind::Inventory,
        }
    }
}

/// Opens loads. Shared by every store of a run.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait Loader: Send + Sync {
    /// Starts loading one unit. Nothing is visible to readers until
    /// [`LoadSession::finish`] succeeds.
    async fn begin(&self, unit: &LoadUnit) -> Result<Box<dyn LoadSession>, EtlError>;

    /// Starts loading one unit on behalf of execution `execution_id`, holding the unit's
    /// per-(store, kind) **lease**, so that two runs — in this process or in another — never
    /// load the same store at once. The runner calls this instead of [`begin`](Loader::begin).
    ///
    /// * `Ok(None)`: another run holds the lease; nothing was started, and the runner records
    ///   the store as skipped (not failed).
    /// * `Ok(Some(session))`: the lease is held until the session is finished, aborted or
    ///   dropped.
    ///
    /// The default takes no lease and calls `begin`: enough for a destination whose merges are
    /// idempotent and serialized anyway.
    async fn try_begin(
        &self,
        unit: &LoadUnit,
        execution_id: i64,
    ) -> Result<Option<Box<dyn LoadSession>>, EtlError> {
        let _ = execution_id;
        self.begin(unit).await.map(Some)
    }
}

#[async_trait]
impl<L: Loader + ?Sized> Loader for std::sync::Arc<L> {
    async fn begin(&self, unit: &LoadUnit) -> Result<Box<dyn LoadSession>, EtlError> {
        (**self).begin(unit).await
    }

    async fn try_begin(
        &self,
        unit: &LoadUnit,
        execution_id: i64,
    ) -> Result<Option<Box<dyn LoadSession>>, EtlError> {
        (**self).try_begin(unit, execution_id).await
    }
}

/// One unit's load in progress.
///
/// Dropping a session without calling `finish` must leave the destination as it was, exactly
/// as `abort` does.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait LoadSession: Send {
    /// Stages one batch.
    async fn write(&mut self, batch: Batch) -> Result<(), EtlError>;

    /// Merges the staged records into the destination and commits.
    ///
    /// When the destination also holds the execution history, the loader writes `detail`
    /// (completed with the load's counts) in the same transaction and reports
    /// `detail_recorded = true`, so "loaded" and "recorded as loaded" cannot disagree.
    async fn finish(&mut self, detail: &StoreDetail) -> Result<LoadStats, EtlError>;

    /// Discards everything staged. Never fails: a failed rollback is a lost connection, which
    /// discards the transaction anyway.
    async fn abort(&mut self);
}
