//! The execution tracker: every run recorded with its phases, per-store results and, on failure,
//! the exact phase and category of the error (seed 003).
//!
//! [`ExecutionTracker`] is the live side (open an execution, time each store's phases, close it
//! as success / partial / failed); [`TrackerStore`] is where the rows go — the destination's own
//! database, so that a store's data and its success record commit together.

mod builder;
pub mod metrics;
mod records;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use builder::NewExecutionBuilder;
pub use records::{
    ExecutionFinish, ExecutionStatus, ExecutionView, HistoryEntry, HistoryFilter, NewExecution,
    RunMode, Stats, StatsDetailRow, StoreDetail, StoreDetailView, StoreFailures, StoreStatus,
    TriggeredBy,
};
// The taxonomy is the vocabulary below the tracker; it is re-exported here, where the records
// that carry it are, so `tracker::{Phase, ErrorCategory, …}` keeps naming it.
pub use crate::taxonomy::{
    classify_http_status, classify_network, classify_sqlstate, classify_tds_error,
    http_status_is_retryable, is_private, sanitize, ErrorCategory, ErrorSource, NetFailure, Phase,
    SourceProtocol,
};

use crate::error::{EtlError, Result};
use crate::model::{SourceSystem, StoreId, Window};
use crate::outcome::{ExtractStats, LoadStats, NetworkDiagnostics};

/// Told about an execution's progress as the tracker records it: what a progress bar or a live
/// view needs, without polling the history. Every method has an empty default; calls come from
/// the stores' tasks, so they must be quick and must not block.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use fluxion_etl_core::tracker::{ExecutionObserver, StoreDetail};
///
/// #[derive(Default)]
/// struct Done(AtomicUsize);
///
/// impl ExecutionObserver for Done {
///     fn store_finished(&self, detail: &StoreDetail) {
///         let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
///         eprintln!("{n} done; last {} ({})", detail.tienda_id, detail.status.as_str());
///     }
/// }
/// ```
pub trait ExecutionObserver: Send + Sync {
    /// An execution was opened (before any of its stores start).
    fn execution_started(&self, _execution_id: i64, _spec: &NewExecution) {}
    /// A store's work started.
    fn store_started(&self, _execution_id: i64, _store: &StoreRef) {}
    /// A store's result was recorded: success, skipped or failed.
    fn store_finished(&self, _detail: &StoreDetail) {}
}

/// Where executions are recorded and read back.
///
/// Implemented by the SQLite and PostgreSQL destinations; the history and stats queries of the
/// CLI and the server go through it.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait TrackerStore: Send + Sync {
    /// Inserts a `running` execution and returns its id.
    async fn insert_execution(&self, execution: &NewExecution) -> Result<i64>;
    /// Inserts one store's detail row.
    async fn insert_detail(&self, detail: &StoreDetail) -> Result<()>;
    /// Closes an execution.
    async fn finish_execution(&self, finish: &ExecutionFinish) -> Result<()>;
    /// Records how many failed windows the execution's run recovered before its own stores
    /// (`gaps_recovered`).
    async fn set_gaps_recovered(&self, id: i64, gaps: i64) -> Result<()>;
    /// Closes `running` executions started before `started_before` (all when `None`) as
    /// `failed` with category `interrupted`; returns how many were closed.
    async fn close_running(
        &self,
        started_before: Option<DateTime<Utc>>,
        message: &str,
    ) -> Result<u64>;
    /// Lists executions, newest first.
    async fn history(&self, filter: &HistoryFilter) -> Result<Vec<HistoryEntry>>;
    /// One execution with its per-store details.
    async fn execution(&self, id: i64) -> Result<Option<ExecutionView>>;
    /// Aggregates over the last `days` days, optionally for one kind.
    async fn stats(&self, days: u32, etl_name: Option<crate::model::DataKind>) -> Result<Stats>;
    /// Deletes executions started before `before` (90-day retention); returns how many.
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64>;
}

/// A store as the tracker names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreRef {
    /// Id.
    pub id: StoreId,
    /// Name.
    pub name: Option<String>,
    /// System.
    pub system: Option<SourceSystem>,
}

/// One store's progress within an execution: its phases and their busy time.
///
/// Extraction overlaps loading, so a store's phase durations are the time spent inside each
/// phase's calls, not wall-clock spans; they add up to more than the store's duration when the
/// overlap works. The spans themselves are kept, for the execution's wall-clock phase times
/// (see [`ExecutionTracker::finish_execution`]).
#[derive(Debug)]
pub struct StoreTracker {
    store: StoreRef,
    window: Option<Window>,
    started_at: DateTime<Utc>,
    started: Instant,
    phase_time: [Duration; 3],
    open_phase: Option<(Phase, Instant)>,
    records: [u64; 3],
    spans: Vec<PhaseSpan>,
}

/// A stretch of time one store spent in one phase.
#[derive(Debug, Clone, Copy)]
struct PhaseSpan {
    phase: Phase,
    from: Instant,
    to: Instant,
}

impl StoreTracker {
    /// A store starting now, with no phase yet.
    fn new(store: StoreRef, window: Option<Window>) -> Self {
        Self {
            store,
            window,
            started_at: Utc::now(),
            started: Instant::now(),
            phase_time: [Duration::ZERO; 3],
            open_phase: None,
            records: [0; 3],
            spans: Vec::new(),
        }
    }

    /// Marks the start of a phase (closing the open one, if any).
    pub fn start_phase(&mut self, phase: Phase) {
        if let Some((open, _)) = self.open_phase {
            self.finish_phase(open, 0);
        }
        self.open_phase = Some((phase, Instant::now()));
    }

    /// Marks the end of a phase that processed `records`.
    pub fn finish_phase(&mut self, phase: Phase, records: u64) {
        if let Some((open, since)) = self.open_phase {
            if open == phase {
                let now = Instant::now();
                self.phase_time[phase as usize] += now - since;
                self.spans.push(PhaseSpan {
                    phase,
                    from: since,
                    to: now,
                });
                self.open_phase = None;
            }
        }
        self.records[phase as usize] += records;
    }

    /// Adds busy time measured elsewhere, taken as ending now.
    pub fn add_phase_time(&mut self, phase: Phase, elapsed: Duration, records: u64) {
        let now = Instant::now();
        self.add_phase_span(
            phase,
            now.checked_sub(elapsed).unwrap_or(now),
            elapsed,
            records,
        );
    }

    /// Adds busy time measured elsewhere (by the runner's extract task), from `started`.
    pub fn add_phase_span(
        &mut self,
        phase: Phase,
        started: Instant,
        elapsed: Duration,
        records: u64,
    ) {
        self.phase_time[phase as usize] += elapsed;
        self.records[phase as usize] += records;
        self.spans.push(PhaseSpan {
            phase,
            from: started,
            to: started + elapsed,
        });
    }

    /// Time spent in a phase so far.
    pub fn phase_time(&self, phase: Phase) -> Duration {
        self.phase_time[phase as usize]
    }

    /// Records counted in a phase so far.
    pub fn records(&self, phase: Phase) -> u64 {
        self.records[phase as usize]
    }

    /// The store.
    pub fn store(&self) -> &StoreRef {
        &self.store
    }

    /// Builds the detail row for this store's outcome (success when `error` is `None`).
    pub fn detail(
        &self,
        execution_id: i64,
        etl_name: crate::model::DataKind,
        extract: ExtractStats,
        diagnostics: Option<&NetworkDiagnostics>,
        error: Option<&EtlError>,
    ) -> StoreDetail {
        let secs = |p: Phase| self.phase_time(p).as_secs_f64();
        StoreDetail {
            execution_id,
            etl_name,
            tienda_id: self.store.id.clone(),
            tienda_nombre: self.store.name.clone(),
            source_system: self.store.system,
            status: if error.is_some() {
                StoreStatus::Failed
            } else {
                StoreStatus::Success
            },
            window_from: self.window.map(|w| w.from_utc()),
            window_to: self.window.map(|w| w.to_utc()),
            started_at: self.started_at,
            finished_at: Utc::now(),
            duration_seconds: self.started.elapsed().as_secs_f64(),
            records_extracted: self.records(Phase::Extract) as i64,
            records_loaded: 0,
            duplicates_skipped: 0,
            records_inserted: 0,
            records_updated: 0,
            records_deleted: 0,
            records_rejected: extract.rows_rejected as i64,
            extract_seconds: secs(Phase::Extract),
            transform_seconds: secs(Phase::Transform),
            load_seconds: secs(Phase::Load),
            api_requests: extract.requests as i64,
            api_errors: extract.errors as i64,
            error_phase: error.map(EtlError::phase),
            error_category: error.map(EtlError::category),
            error_message: error.map(|e| e.message().to_owned()),
            error_retryable: error.map(EtlError::is_retryable),
            server_ip: diagnostics.and_then(|d| d.ip).map(|ip| ip.to_string()),
            server_port: diagnostics.and_then(|d| d.port).map(i32::from),
            connection_latency_ms: diagnostics.and_then(|d| d.latency_ms),
        }
    }
}

/// Fills a detail row with a committed load's counts.
pub fn apply_load_stats(detail: &mut StoreDetail, stats: &LoadStats) {
    detail.records_loaded = stats.loaded() as i64;
    detail.duplicates_skipped = stats.unchanged as i64;
    detail.records_inserted = stats.inserted as i64;
    detail.records_updated = stats.updated as i64;
    detail.records_deleted = stats.deleted as i64;
}

#[derive(Debug, Default)]
struct Aggregate {
    details: Vec<StoreDetail>,
    error_sources: Vec<crate::tracker::ErrorSource>,
    spans: Vec<PhaseSpan>,
}

/// The live record of one execution.
///
/// ```no_run
/// # async fn demo(store: std::sync::Arc<dyn fluxion_etl_core::tracker::TrackerStore>,
/// #               spec: fluxion_etl_core::tracker::NewExecution) -> fluxion_etl_core::Result<()> {
/// use fluxion_etl_core::tracker::{ExecutionTracker, Phase, StoreRef};
///
/// let tracker = ExecutionTracker::start_execution(store, spec).await?;
/// let mut store = tracker.start_store(StoreRef { id: "tienda_01".into(), name: None, system: None }, None);
/// store.start_phase(Phase::Extract);
/// // … extract …
/// store.finish_phase(Phase::Extract, 1250);
/// tracker.finish_store_success(store, Default::default(), None, Default::default()).await?;
/// let summary = tracker.finish_execution().await?;
/// println!("execution {} ended {}", summary.id, summary.status);
/// # Ok(()) }
/// ```
pub struct ExecutionTracker {
    store: Arc<dyn TrackerStore>,
    id: i64,
    spec: NewExecution,
    started: Instant,
    agg: Mutex<Aggregate>,
    observer: Option<Arc<dyn ExecutionObserver>>,
    /// Counts this execution in `fluxion_runs_active` until the tracker is dropped.
    _active: metrics::ActiveRun,
}

impl std::fmt::Debug for ExecutionTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutionTracker")
            .field("id", &self.id)
            .field("etl_name", &self.spec.etl_name)
            .finish_non_exhaustive()
    }
}

impl ExecutionTracker {
    /// Opens an execution (status `running`).
    pub async fn start_execution(store: Arc<dyn TrackerStore>, spec: NewExecution) -> Result<Self> {
        let id = store.insert_execution(&spec).await?;
        // The window as the stores' clock reads it (what an operator asked for), if any.
        let local = |at: Option<DateTime<Utc>>| {
            at.map(|t| {
                crate::model::utc_to_local(t)
                    .format("%Y-%m-%d %H:%M")
                    .to_string()
            })
            .unwrap_or_default()
        };
        tracing::info!(execution_id = id, etl_name = %spec.etl_name, mode = spec.mode.as_str(), triggered_by = %spec.triggered_by, stores = spec.tiendas.len(), from = %local(spec.fecha_desde), to = %local(spec.fecha_hasta), "Execution started.");
        Ok(Self {
            store,
            id,
            spec,
            started: Instant::now(),
            agg: Mutex::new(Aggregate::default()),
            observer: None,
            _active: metrics::ActiveRun::start(),
        })
    }

    /// Reports this execution's progress to `observer` from now on (its
    /// [`ExecutionObserver::execution_started`] is called at once).
    pub fn with_observer(mut self, observer: Arc<dyn ExecutionObserver>) -> Self {
        observer.execution_started(self.id, &self.spec);
        self.observer = Some(observer);
        self
    }

    /// Keeps a recorded store's detail (and, for a failure, the system it came from) for the
    /// summary, and tells the metrics and the observer.
    fn keep(&self, store: StoreTracker, detail: &StoreDetail, failed_in: Option<ErrorSource>) {
        {
            let mut agg = self.lock();
            agg.details.push(detail.clone());
            agg.error_sources.extend(failed_in);
            agg.spans.extend(store.spans);
        }
        self.observe_finished(detail);
    }

    /// Tells the metrics and the observer about a recorded store.
    fn observe_finished(&self, detail: &StoreDetail) {
        metrics::store_finished(detail);
        if let Some(observer) = &self.observer {
            observer.store_finished(detail);
        }
    }

    /// The execution's id.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Records how many failed windows the run recovered before its own stores
    /// (`etl_executions.gaps_recovered`).
    pub async fn record_gaps_recovered(&self, gaps: usize) -> Result<()> {
        self.store
            .set_gaps_recovered(self.id, i64::try_from(gaps).unwrap_or(i64::MAX))
            .await
    }

    /// What the execution was opened with.
    pub fn spec(&self) -> &NewExecution {
        &self.spec
    }

    /// Starts tracking one store.
    pub fn start_store(&self, store: StoreRef, window: Option<Window>) -> StoreTracker {
        if let Some(observer) = &self.observer {
            observer.store_started(self.id, &store);
        }
        StoreTracker::new(store, window)
    }

    /// Records a store's success. `detail` is the row the loader received; when the loader
    /// wrote it in its own transaction (`stats.detail_recorded`) it is not written again.
    pub async fn finish_store_success(
        &self,
        store: StoreTracker,
        stats: LoadStats,
        detail: Option<StoreDetail>,
        extract: ExtractStats,
    ) -> Result<StoreDetail> {
        let mut detail = detail
            .unwrap_or_else(|| store.detail(self.id, self.spec.etl_name, extract, None, None));
        apply_load_stats(&mut detail, &stats);
        if !stats.detail_recorded {
            self.store.insert_detail(&detail).await?;
        }
        tracing::info!(execution_id = self.id, store = %detail.tienda_id, extracted = detail.records_extracted, loaded = detail.records_loaded, duplicates = detail.duplicates_skipped, deleted = detail.records_deleted, seconds = %format_args!("{:.1}", detail.duration_seconds), "Store finished.");
        self.keep(store, &detail, None);
        Ok(detail)
    }

    /// Records that a store was not processed because another run holds its lease: status
    /// `skipped` with the reason as its message, no error phase or category (it is not a
    /// failure, and it opens no gap: the other run loads the store).
    pub async fn finish_store_skipped(
        &self,
        store: StoreTracker,
        reason: &str,
    ) -> Result<StoreDetail> {
        let mut detail = store.detail(
            self.id,
            self.spec.etl_name,
            ExtractStats::default(),
            None,
            None,
        );
        detail.status = StoreStatus::Skipped;
        detail.error_message = Some(sanitize(reason));
        self.store.insert_detail(&detail).await?;
        tracing::info!(execution_id = self.id, store = %detail.tienda_id, "Store skipped: {}", sanitize(reason));
        self.keep(store, &detail, None);
        Ok(detail)
    }

    /// Records a store's failure.
    pub async fn finish_store_error(
        &self,
        store: StoreTracker,
        error: &EtlError,
        extract: ExtractStats,
        diagnostics: Option<&NetworkDiagnostics>,
    ) -> Result<StoreDetail> {
        let detail = store.detail(
            self.id,
            self.spec.etl_name,
            extract,
            diagnostics,
            Some(error),
        );
        self.store.insert_detail(&detail).await?;
        tracing::warn!(execution_id = self.id, store = %detail.tienda_id, phase = %error.phase(), category = %error.category(), retryable = error.is_retryable(), "Store failed: {}", error.message());
        self.keep(store, &detail, Some(error.source_system()));
        Ok(detail)
    }

    /// Details recorded so far.
    pub fn details(&self) -> Vec<StoreDetail> {
        self.lock().details.clone()
    }

    /// Closes the execution: `success` when every store succeeded, `partial` when some did,
    /// `failed` when none did.
    pub async fn finish_execution(self) -> Result<ExecutionFinish> {
        let finish = self.summarize(None);
        self.store.finish_execution(&finish).await?;
        metrics::run_finished(self.spec.etl_name, finish.status);
        tracing::info!(execution_id = self.id, status = %finish.status, extracted = finish.records_extracted, loaded = finish.records_loaded, duplicates = finish.duplicates_skipped, ok = finish.tiendas_exitosas, failed = finish.tiendas_fallidas, seconds = %format_args!("{:.1}", finish.duration_seconds), "Execution finished.");
        Ok(finish)
    }

    /// Closes the execution as failed because it was interrupted (Ctrl-C, SIGTERM); stores that
    /// had not finished count as failed with category `interrupted`.
    pub async fn abort_execution(self, reason: &str) -> Result<ExecutionFinish> {
        let finish = self.summarize(Some(reason));
        self.store.finish_execution(&finish).await?;
        metrics::run_finished(self.spec.etl_name, finish.status);
        tracing::warn!(
            execution_id = self.id,
            "Execution interrupted: {}",
            sanitize(reason)
        );
        Ok(finish)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Aggregate> {
        // A panic while holding the lock leaves plain counters behind; they stay usable.
        self.agg.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn summarize(&self, interrupted: Option<&str>) -> ExecutionFinish {
        let agg = self.lock();
        let details = &agg.details;
        let ok = details
            .iter()
            .filter(|d| d.status == StoreStatus::Success)
            .count();
        let mut failed = details
            .iter()
            .filter(|d| d.status == StoreStatus::Failed)
            .count();
        let unfinished = if interrupted.is_some() {
            self.spec.tiendas.len().saturating_sub(details.len())
        } else {
            0
        };
        failed += unfinished;

        let mut status = ExecutionStatus::from_counts(ok, failed);
        if interrupted.is_some() && status == ExecutionStatus::Success {
            status = ExecutionStatus::Failed;
        }

        // The dominant failure: the most frequent category, ties to the first seen.
        let mut counts: BTreeMap<ErrorCategory, (usize, usize)> = BTreeMap::new();
        for (i, d) in details.iter().enumerate() {
            if let Some(c) = d.error_category {
                let e = counts.entry(c).or_insert((0, i));
                e.0 += 1;
            }
        }
        let dominant = counts
            .iter()
            .max_by(|a, b| a.1 .0.cmp(&b.1 .0).then(b.1 .1.cmp(&a.1 .1)))
            .map(|(c, (_, first))| (*c, *first));
        let (mut error_phase, mut error_category, mut error_source) = (None, None, None);
        if let Some((cat, first)) = dominant {
            error_category = Some(cat);
            error_phase = details[first].error_phase;
            let failed_index = details[..first]
                .iter()
                .filter(|d| d.status == StoreStatus::Failed)
                .count();
            error_source = agg.error_sources.get(failed_index).copied();
        }
        let mut error_message = None;
        let mut error_detail = None;
        let failures: Vec<&StoreDetail> = details
            .iter()
            .filter(|d| d.status == StoreStatus::Failed)
            .collect();
        if let Some(reason) = interrupted {
            error_category = Some(ErrorCategory::Interrupted);
            error_phase = error_phase.or(Some(Phase::Extract));
            error_source = error_source.or(Some(ErrorSource::Pipeline));
            error_message = Some(sanitize(reason));
        } else if let Some(first) = failures.first() {
            error_message = Some(format!(
                "{} of {} stores failed; first: {}: {}",
                failures.len(),
                details.len(),
                first.tienda_id,
                first.error_message.as_deref().unwrap_or("")
            ));
        }
        if !failures.is_empty() {
            error_detail = Some(
                failures
                    .iter()
                    .map(|d| {
                        format!(
                            "{} [{}/{}]: {}",
                            d.tienda_id,
                            d.error_phase.map_or("-", Phase::as_str),
                            d.error_category.map_or("-", ErrorCategory::as_str),
                            d.error_message.as_deref().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
        }
        let diagnostics = network_summary(details);
        let sum = |f: fn(&StoreDetail) -> i64| details.iter().map(f).sum::<i64>();
        let wall = wall_phase_seconds(&agg.spans);
        let records_failed = details
            .iter()
            .map(|d| {
                d.records_rejected
                    + if d.status == StoreStatus::Failed {
                        d.records_extracted
                    } else {
                        0
                    }
            })
            .sum();
        ExecutionFinish {
            id: self.id,
            status,
            finished_at: Utc::now(),
            duration_seconds: self.started.elapsed().as_secs_f64(),
            records_extracted: sum(|d| d.records_extracted),
            records_loaded: sum(|d| d.records_loaded),
            duplicates_skipped: sum(|d| d.duplicates_skipped),
            records_upserted: sum(|d| d.records_loaded),
            records_failed,
            tiendas_exitosas: ok as i64,
            tiendas_fallidas: failed as i64,
            extract_duration_seconds: wall[Phase::Extract as usize],
            transform_duration_seconds: wall[Phase::Transform as usize],
            load_duration_seconds: wall[Phase::Load as usize],
            api_requests_count: sum(|d| d.api_requests),
            api_errors_count: sum(|d| d.api_errors),
            error_phase,
            error_category,
            error_source,
            error_message,
            error_detail,
            network_diagnostics: diagnostics,
        }
    }
}

/// The execution's wall-clock time in each phase, `[extract, transform, load]` in seconds.
///
/// Stores run in parallel and each streams (extracting its next batch while loading the last),
/// so their phase times overlap; summed, they exceed the execution's duration. Here each moment
/// when some store is busy counts once, for the latest phase any store is in then (load over
/// transform over extract): the three add up to the busy part of the execution, as seed 003's
/// example does. The per-store sums stay in the store details.
fn wall_phase_seconds(spans: &[PhaseSpan]) -> [f64; 3] {
    // Every span's edges, in time order; between two edges the set of active spans is fixed.
    let mut edges: Vec<(Instant, Phase, i32)> = spans
        .iter()
        .filter(|s| s.to > s.from)
        .flat_map(|s| [(s.from, s.phase, 1), (s.to, s.phase, -1)])
        .collect();
    edges.sort_by_key(|e| e.0);
    let mut active = [0i32; 3];
    let mut wall = [Duration::ZERO; 3];
    let mut last: Option<Instant> = None;
    for (at, phase, delta) in edges {
        if let Some(previous) = last {
            let latest = [Phase::Load, Phase::Transform, Phase::Extract]
                .into_iter()
                .find(|p| active[*p as usize] > 0);
            if let Some(p) = latest {
                wall[p as usize] += at - previous;
            }
        }
        active[phase as usize] += delta;
        last = Some(at);
    }
    wall.map(|d| d.as_secs_f64())
}

/// Endpoints [`network_summary`] lists by name; the rest are counted.
const LISTED_ENDPOINTS: usize = 4;

/// The execution's `network_diagnostics`: seed 003's `{"ip", "port"}` of the endpoint most
/// stores talked to, with its connect latency, and a bounded list of the endpoints (stores and
/// slowest connect each), so the summary stays well under 1 KB whatever the store count; each
/// store's own endpoint and latency are in its detail row. `None` when no store reached a
/// source.
fn network_summary(details: &[StoreDetail]) -> Option<serde_json::Value> {
    // (ip, port) → (stores, latencies)
    let mut endpoints: std::collections::BTreeMap<(String, Option<i32>), (u32, Vec<f64>)> =
        std::collections::BTreeMap::new();
    for d in details {
        if let Some(ip) = &d.server_ip {
            let entry = endpoints.entry((ip.clone(), d.server_port)).or_default();
            entry.0 += 1;
            entry.1.extend(d.connection_latency_ms);
        }
    }
    let mut endpoints: Vec<_> = endpoints.into_iter().collect();
    endpoints.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then_with(|| a.0.cmp(&b.0)));
    let ((ip, port), (_, latencies)) = endpoints.first()?;
    let round = |ms: f64| (ms * 10.0).round() / 10.0;
    let average =
        |l: &[f64]| (!l.is_empty()).then(|| round(l.iter().sum::<f64>() / l.len() as f64));
    let slowest = |l: &[f64]| l.iter().copied().reduce(f64::max).map(round);
    let listed: Vec<serde_json::Value> = endpoints
        .iter()
        .take(LISTED_ENDPOINTS)
        .map(|((ip, port), (stores, l))| {
            serde_json::json!({ "ip": ip, "port": port, "stores": stores, "max_latency_ms": slowest(l) })
        })
        .collect();
    Some(serde_json::json!({
        "ip": ip,
        "port": port,
        "latency_ms": average(latencies),
        "stores_reached": endpoints.iter().map(|e| e.1 .0).sum::<u32>(),
        "endpoints": listed,
        "endpoints_total": endpoints.len(),
    }))
}

/// A manual full sales run of these KLK stores, as the unit tests open it.
#[cfg(test)]
pub(crate) fn test_execution(stores: &[&str]) -> NewExecution {
    NewExecution::builder(crate::model::DataKind::Sales)
        .triggered_by(TriggeredBy::Cli)
        .stores(stores.iter().copied())
        .source_system("klk")
        .version("test")
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(id: &str) -> StoreRef {
        StoreRef {
            id: id.into(),
            name: None,
            system: Some(SourceSystem::Klk),
        }
    }

    fn recording_store() -> (MockTrackerStore, Arc<Mutex<Vec<ExecutionFinish>>>) {
        let finishes = Arc::new(Mutex::new(Vec::new()));
        let mut mock = MockTrackerStore::new();
        mock.expect_insert_execution().returning(|_| Ok(7));
        mock.expect_insert_detail().returning(|_| Ok(()));
        let f = finishes.clone();
        mock.expect_finish_execution().returning(move |fin| {
            f.lock().unwrap().push(fin.clone());
            Ok(())
        });
        (mock, finishes)
    }

    fn err(cat: ErrorCategory) -> EtlError {
        EtlError::new(cat.phase(), cat, ErrorSource::KlkApi, "boom")
    }

    /// A tracker over a recording store, its execution opened for these stores.
    async fn started(stores: &[&str]) -> (ExecutionTracker, Arc<Mutex<Vec<ExecutionFinish>>>) {
        let (mock, finishes) = recording_store();
        let t = ExecutionTracker::start_execution(Arc::new(mock), test_execution(stores))
            .await
            .unwrap();
        (t, finishes)
    }

    async fn succeed(t: &ExecutionTracker, id: &str) {
        let s = t.start_store(store(id), None);
        t.finish_store_success(s, LoadStats::default(), None, ExtractStats::default())
            .await
            .unwrap();
    }

    async fn fail(t: &ExecutionTracker, id: &str, cat: ErrorCategory) {
        let s = t.start_store(store(id), None);
        t.finish_store_error(s, &err(cat), ExtractStats::default(), None)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn partial_when_some_stores_fail() {
        let (t, finishes) = started(&["a", "b", "c"]).await;
        succeed(&t, "a").await;
        for id in ["b", "c"] {
            fail(&t, id, ErrorCategory::VpnTimeout).await;
        }
        let fin = t.finish_execution().await.unwrap();
        assert_eq!(fin.status, ExecutionStatus::Partial);
        assert_eq!(fin.tiendas_exitosas, 1);
        assert_eq!(fin.tiendas_fallidas, 2);
        assert_eq!(fin.error_category, Some(ErrorCategory::VpnTimeout));
        assert_eq!(fin.error_phase, Some(Phase::Extract));
        assert_eq!(fin.error_source.as_deref(), Some("klk_api"));
        assert_eq!(finishes.lock().unwrap().len(), 1);
    }

    /// Records what an observer is told, in order.
    #[derive(Default)]
    struct Seen(Mutex<Vec<String>>);

    impl ExecutionObserver for Seen {
        fn execution_started(&self, id: i64, spec: &NewExecution) {
            self.push(format!("execution {id} {} stores", spec.tiendas.len()));
        }
        fn store_started(&self, id: i64, store: &StoreRef) {
            self.push(format!("{id} start {}", store.id));
        }
        fn store_finished(&self, detail: &StoreDetail) {
            self.push(format!(
                "{} done {} {}",
                detail.execution_id,
                detail.tienda_id,
                detail.status.as_str()
            ));
        }
    }

    impl Seen {
        fn push(&self, s: String) {
            self.0.lock().unwrap().push(s);
        }
    }

    #[tokio::test]
    async fn an_observer_sees_each_store_start_and_finish() {
        let seen = Arc::new(Seen::default());
        let t = started(&["a", "b", "c"])
            .await
            .0
            .with_observer(seen.clone());
        let id = t.id();
        succeed(&t, "a").await;
        fail(&t, "b", ErrorCategory::ApiTimeout).await;
        let s = t.start_store(store("c"), None);
        t.finish_store_skipped(s, "another run holds it")
            .await
            .unwrap();
        t.finish_execution().await.unwrap();
        assert_eq!(
            *seen.0.lock().unwrap(),
            vec![
                format!("execution {id} 3 stores"),
                format!("{id} start a"),
                format!("{id} done a success"),
                format!("{id} start b"),
                format!("{id} done b failed"),
                format!("{id} start c"),
                format!("{id} done c skipped"),
            ]
        );
    }

    #[tokio::test]
    async fn failed_when_no_store_succeeds() {
        let (t, _) = started(&["a"]).await;
        fail(&t, "a", ErrorCategory::Deadlock).await;
        let fin = t.finish_execution().await.unwrap();
        assert_eq!(fin.status, ExecutionStatus::Failed);
        assert_eq!(fin.error_phase, Some(Phase::Load));
    }

    #[tokio::test]
    async fn interrupted_counts_unfinished_stores() {
        let (t, _) = started(&["a", "b"]).await;
        succeed(&t, "a").await;
        let fin = t.abort_execution("interrupted by SIGTERM").await.unwrap();
        assert_eq!(fin.status, ExecutionStatus::Partial);
        assert_eq!(fin.tiendas_fallidas, 1);
        assert_eq!(fin.error_category, Some(ErrorCategory::Interrupted));
    }

    #[test]
    fn phase_time_accumulates() {
        let (mock, _) = recording_store();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let t = rt
            .block_on(ExecutionTracker::start_execution(
                Arc::new(mock),
                test_execution(&["a"]),
            ))
            .unwrap();
        let mut s = t.start_store(store("a"), None);
        s.start_phase(Phase::Load);
        s.finish_phase(Phase::Load, 10);
        s.add_phase_time(Phase::Extract, Duration::from_millis(5), 10);
        assert_eq!(s.records(Phase::Load), 10);
        assert_eq!(s.phase_time(Phase::Extract), Duration::from_millis(5));
    }

    /// Seed 003's `{"ip", "port"}` of the common endpoint, with a bounded endpoint list: the
    /// execution's summary stays under 1 KB for any number of stores.
    #[test]
    fn network_diagnostics_stay_small_whatever_the_store_count() {
        let diagnostics = |i: u16| NetworkDiagnostics {
            ip: Some(if i.is_multiple_of(10) {
                format!("127.0.1.{}", i / 10).parse().unwrap()
            } else {
                "127.0.0.1".parse().unwrap()
            }),
            port: Some(if i.is_multiple_of(10) { 14348 } else { 7002 }),
            latency_ms: Some(f64::from(i) / 7.0),
        };
        let details: Vec<StoreDetail> = (0..300u16)
            .map(|i| {
                let store = StoreRef::new(format!("tienda_{i:03}"));
                let tracker = StoreTracker::new(store, None);
                tracker.detail(
                    1,
                    crate::model::DataKind::Sales,
                    ExtractStats::default(),
                    Some(&diagnostics(i)),
                    None,
                )
            })
            .collect();
        let summary = network_summary(&details).unwrap();
        assert!(summary.to_string().len() < 1024, "{summary}");
        assert_eq!(summary["ip"], "127.0.0.1");
        assert_eq!(summary["port"], 7002);
        assert_eq!(summary["stores_reached"], 300);
        assert_eq!(summary["endpoints_total"], 31);
        assert_eq!(
            summary["endpoints"].as_array().unwrap().len(),
            LISTED_ENDPOINTS
        );
        assert_eq!(summary["endpoints"][0]["stores"], 270);
        assert_eq!(network_summary(&details[..0]), None);
    }

    /// Overlapping spans of parallel stores count once, for the latest phase: the execution's
    /// three phase times add up to its busy time, never more.
    #[test]
    fn wall_clock_phases_add_up_to_the_busy_time() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let span = |phase, from, to| PhaseSpan {
            phase,
            from: at(from),
            to: at(to),
        };
        let spans = [
            // Store A: extracts 0–100 while loading 60–120.
            span(Phase::Extract, 0, 100),
            span(Phase::Load, 60, 120),
            // Store B, in parallel: extracts 20–80, transforms 80–90, loads 90–150.
            span(Phase::Extract, 20, 80),
            span(Phase::Transform, 80, 90),
            span(Phase::Load, 90, 150),
            // Idle 150–200, then store C extracts 200–230.
            span(Phase::Extract, 200, 230),
        ];
        let [extract, transform, load] = wall_phase_seconds(&spans);
        let ms = |s: f64| (s * 1000.0).round() as u64;
        // Load 60–150 (90 ms); transform never alone over a load; extract 0–60 and 200–230.
        assert_eq!((ms(extract), ms(transform), ms(load)), (90, 0, 90));
        assert_eq!(wall_phase_seconds(&[]), [0.0; 3]);
        // The per-store sums would have said 220 ms of extract for the same run.
    }
}
