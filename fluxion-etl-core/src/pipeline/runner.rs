//! Streams each store's batches from its extractor, through the transformer, into the loader.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{
    ExtractStats, Extractor, LoadScope, LoadUnit, Loader, NetworkDiagnostics, Transformer,
};
use crate::error::EtlError;
use crate::model::{Batch, StoreId};
use crate::taxonomy::{ErrorCategory, ErrorSource, Phase};
use crate::tracker::{ExecutionTracker, StoreDetail, StoreRef, StoreTracker};

/// How the runner schedules work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunnerOptions {
    /// Stores processed at once.
    pub max_workers: usize,
    /// Batches an extractor may run ahead of its loader. Memory per store is bounded by
    /// `(channel_capacity + 2) × batch_size` records whatever the window's size.
    pub channel_capacity: usize,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        Self {
            max_workers: 4,
            channel_capacity: 2,
        }
    }
}

/// One store's work in a run.
pub struct StoreTask {
    /// The store.
    pub store: StoreRef,
    /// What the load replaces.
    pub unit: LoadUnit,
    /// Where the records come from (connects lazily).
    pub extractor: Box<dyn Extractor>,
}

impl std::fmt::Debug for StoreTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreTask")
            .field("store", &self.store)
            .field("unit", &self.unit)
            .finish_non_exhaustive()
    }
}

/// What happened to one store.
#[derive(Debug)]
pub struct StoreOutcome {
    /// The store.
    pub store: StoreId,
    /// The recorded detail row (success or failure).
    pub detail: Option<StoreDetail>,
    /// The failure, if the store failed.
    pub error: Option<EtlError>,
}

/// Runs stores with bounded concurrency; a store's failure never stops the others.
pub struct Runner {
    options: RunnerOptions,
    transformer: Arc<dyn Transformer>,
    loader: Arc<dyn Loader>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

struct Extracted {
    result: Result<Option<Batch>, EtlError>,
    started: Instant,
    elapsed: Duration,
    stats: ExtractStats,
    diagnostics: Option<NetworkDiagnostics>,
}

struct Failure {
    error: EtlError,
    stats: ExtractStats,
    diagnostics: Option<NetworkDiagnostics>,
}

impl Runner {
    /// A runner over a transformer and a loader.
    pub fn new(
        options: RunnerOptions,
        transformer: Arc<dyn Transformer>,
        loader: Arc<dyn Loader>,
    ) -> Self {
        Self {
            options: RunnerOptions {
                max_workers: options.max_workers.max(1),
                channel_capacity: options.channel_capacity.max(1),
            },
            transformer,
            loader,
        }
    }

    /// How the runner schedules work (the options it was built with, each at least 1).
    pub fn options(&self) -> RunnerOptions {
        self.options
    }

    /// Runs every task and records each store's outcome in `tracker`. When `cancel` fires,
    /// stores in flight are aborted (nothing of theirs is committed) and recorded as failed
    /// with category `interrupted`; stores not yet started are recorded the same way.
    pub async fn run(
        &self,
        tracker: &ExecutionTracker,
        tasks: Vec<StoreTask>,
        cancel: &CancellationToken,
    ) -> Vec<StoreOutcome> {
        futures::stream::iter(tasks)
            .map(|task| {
                // Every event of the store's work (the extractor's retries, the loader's
                // warnings) carries the execution and the store, so that a server can show them
                // among the execution's log lines.
                let span = tracing::info_span!(
                    "store",
                    execution_id = tracker.id(),
                    store = %task.store.id
                );
                self.run_store(tracker, task, cancel).instrument(span)
            })
            .buffer_unordered(self.options.max_workers)
            .collect()
            .await
    }

    async fn run_store(
        &self,
        tracker: &ExecutionTracker,
        task: StoreTask,
        cancel: &CancellationToken,
    ) -> StoreOutcome {
        let window = match &task.unit.scope {
            LoadScope::SalesWindow(w) => Some(*w),
            LoadScope::InventorySnapshot { .. } => None,
        };
        tracing::info!(
            execution_id = tracker.id(),
            store = %task.store.id,
            name = task.store.name.as_deref().unwrap_or(""),
            "Store started."
        );
        let mut st = tracker.start_store(task.store.clone(), window);
        let store_id = task.store.id.clone();
        let unit_kind = task.unit.kind();
        let result = if cancel.is_cancelled() {
            Err(Failure {
                error: interrupted(Phase::Extract),
                stats: ExtractStats::default(),
                diagnostics: None,
            })
        } else {
            self.stream_store(tracker, &mut st, task, cancel).await
        };
        let recorded = match result {
            Ok(Some((stats, detail, extract))) => {
                tracker
                    .finish_store_success(st, stats, Some(detail), extract)
                    .await
            }
            Ok(None) => {
                let reason = format!(
                    "skipped: another run is loading {} {} (its lease is held)",
                    store_id,
                    unit_kind.etl_name()
                );
                tracker.finish_store_skipped(st, &reason).await
            }
            Err(f) => {
                let recorded = tracker
                    .finish_store_error(st, &f.error, f.stats, f.diagnostics.as_ref())
                    .await;
                return StoreOutcome {
                    store: store_id,
                    detail: recorded.ok(),
                    error: Some(f.error),
                };
            }
        };
        match recorded {
            Ok(detail) => StoreOutcome {
                store: store_id,
                detail: Some(detail),
                error: None,
            },
            Err(e) => StoreOutcome {
                store: store_id,
                detail: None,
                error: Some(
                    EtlError::new(
                        Phase::Load,
                        ErrorCategory::PgConnection,
                        ErrorSource::Pipeline,
                        "cannot record the store's result in the tracker",
                    )
                    .with_cause(e),
                ),
            },
        }
    }

    async fn stream_store(
        &self,
        tracker: &ExecutionTracker,
        st: &mut StoreTracker,
        task: StoreTask,
        cancel: &CancellationToken,
    ) -> Result<Option<(super::LoadStats, StoreDetail, ExtractStats)>, Failure> {
        let StoreTask {
            unit,
            mut extractor,
            ..
        } = task;
        let fail = |error, stats, diagnostics| Failure {
            error,
            stats,
            diagnostics,
        };

        st.start_phase(Phase::Load);
        let session = tokio::select! {
            s = self.loader.try_begin(&unit, tracker.id()) => s,
            _ = cancel.cancelled() => Err(interrupted(Phase::Load)),
        };
        st.finish_phase(Phase::Load, 0);
        // No session: another run holds the store's lease.
        let Some(mut session) = session.map_err(|e| fail(e, ExtractStats::default(), None))? else {
            return Ok(None);
        };

        let (tx, mut rx) = mpsc::channel::<Extracted>(self.options.channel_capacity);
        let producer = tokio::spawn(
            async move {
                loop {
                    let started = Instant::now();
                    let result = extractor.next_batch().await;
                    let done = !matches!(result, Ok(Some(_)));
                    let msg = Extracted {
                        result,
                        started,
                        elapsed: started.elapsed(),
                        stats: extractor.stats(),
                        diagnostics: extractor.diagnostics(),
                    };
                    if tx.send(msg).await.is_err() || done {
                        break;
                    }
                }
            }
            .instrument(tracing::Span::current()),
        );
        // Aborting on drop keeps a stuck request from outliving its store.
        let _producer = AbortOnDrop(producer);

        let mut stats = ExtractStats::default();
        let mut diagnostics = None;
        let outcome: Result<(), EtlError> = loop {
            let msg = tokio::select! {
                m = rx.recv() => m,
                _ = cancel.cancelled() => break Err(interrupted(Phase::Extract)),
            };
            let Some(msg) = msg else {
                break Err(EtlError::new(
                    Phase::Extract,
                    ErrorCategory::NetworkError,
                    ErrorSource::Pipeline,
                    "the extractor stopped without finishing (it panicked)",
                ));
            };
            stats = msg.stats;
            diagnostics = msg.diagnostics.or(diagnostics);
            let batch = match msg.result {
                Ok(Some(batch)) => batch,
                Ok(None) => {
                    st.add_phase_span(Phase::Extract, msg.started, msg.elapsed, 0);
                    break Ok(());
                }
                Err(e) => {
                    st.add_phase_span(Phase::Extract, msg.started, msg.elapsed, 0);
                    break Err(e);
                }
            };
            st.add_phase_span(Phase::Extract, msg.started, msg.elapsed, batch.len() as u64);
            crate::tracker::metrics::rows_extracted(unit.kind(), batch.len() as u64);

            st.start_phase(Phase::Transform);
            let transformed = tokio::select! {
                t = self.transformer.transform(batch) => t,
                _ = cancel.cancelled() => Err(interrupted(Phase::Transform)),
            };
            let batch = match transformed.and_then(|b| check_batch(&unit, b)) {
                Ok(b) => b,
                Err(e) => break Err(e),
            };
            st.finish_phase(Phase::Transform, batch.len() as u64);

            st.start_phase(Phase::Load);
            let n = batch.len() as u64;
            let written = tokio::select! {
                w = session.write(batch) => w,
                _ = cancel.cancelled() => Err(interrupted(Phase::Load)),
            };
            if let Err(e) = written {
                break Err(e);
            }
            st.finish_phase(Phase::Load, n);
        };

        if let Err(error) = outcome {
            session.abort().await;
            return Err(fail(error, stats, diagnostics));
        }

        st.start_phase(Phase::Load);
        let detail = st.detail(tracker.id(), unit.kind(), stats, diagnostics.as_ref(), None);
        let finished = tokio::select! {
            f = session.finish(&detail) => f,
            _ = cancel.cancelled() => Err(interrupted(Phase::Load)),
        };
        st.finish_phase(Phase::Load, 0);
        match finished {
            Ok(load_stats) => {
                // The detail handed to the loader was built before `finish`; refresh its
                // timings so the recorded row includes the commit.
                let mut detail = detail;
                let fresh = st.detail(tracker.id(), unit.kind(), stats, diagnostics.as_ref(), None);
                if !load_stats.detail_recorded {
                    detail = fresh;
                }
                Ok(Some((load_stats, detail, stats)))
            }
            Err(e) => {
                session.abort().await;
                Err(fail(e, stats, diagnostics))
            }
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn interrupted(phase: Phase) -> EtlError {
    EtlError::interrupted(phase, "the run was interrupted before this store finished")
}

/// Rejects records that do not belong to the unit: the loader's delete-what-is-missing merge is
/// only safe when every record lies inside the scope it replaces.
fn check_batch(unit: &LoadUnit, batch: Batch) -> Result<Batch, EtlError> {
    let invalid = |what: String| {
        EtlError::new(
            Phase::Transform,
            ErrorCategory::DataValidation,
            ErrorSource::Pipeline,
            what,
        )
    };
    match (&unit.scope, &batch) {
        (LoadScope::SalesWindow(w), Batch::Sales(lines)) => {
            if let Some(l) = lines
                .iter()
                .find(|l| l.store_id != unit.store || !w.contains_utc(l.sold_at))
            {
                return Err(invalid(format!(
                    "sales line {}/{} of {} at {} lies outside the unit {} {}",
                    l.invoice_number, l.line_number, l.store_id, l.sold_at, unit.store, w
                )));
            }
        }
        (LoadScope::InventorySnapshot { warehouse, .. }, Batch::Inventory(items)) => {
            if let Some(i) = items
                .iter()
                .find(|i| i.store_id != unit.store || *i.warehouse_code != **warehouse)
            {
                return Err(invalid(format!(
                    "inventory item {} of {}/{} does not belong to the unit {}/{}",
                    i.product_code, i.store_id, i.warehouse_code, unit.store, warehouse
                )));
            }
        }
        _ => {
            return Err(invalid(format!(
                "a {} batch was produced for a {} unit",
                batch.kind(),
                unit.kind()
            )))
        }
    }
    Ok(batch)
}
