//! [`Fluxion`]: a configuration wired into sources, a destination, a tracker and a runner.

use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Environment, StoreConfig};
use crate::error::{Error, Result};
use crate::gaps::{self, GapQuery, GapReport};
use crate::loaders::Destination;
use crate::local_time;
use crate::model::{store_today, DataKind, StoreId, Window};
use crate::pipeline::{
    Identity, LoadScope, LoadUnit, Runner, RunnerOptions, StoreTask, Transformer,
};
use crate::recovery::{
    self, PlannedRecovery, RecoveryBehavior, RecoveryOutcome, RecoveryPlan, RecoveryReport,
    RecoveryRequest,
};
use crate::sources::{extractor_for, ExtractRequest};
use crate::taxonomy::sanitize;
use crate::tracker::{
    ExecutionFinish, ExecutionObserver, ExecutionStatus, ExecutionTracker, HistoryEntry,
    HistoryFilter, NewExecution, RunMode, StoreRef, TrackerStore, TriggeredBy,
};

/// Which stores a run covers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StoreSelection {
    /// Every active store.
    #[default]
    AllActive,
    /// These stores (active or not).
    Ids(Vec<String>),
}

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRequest {
    /// Sales or inventory.
    pub kind: DataKind,
    /// The sales window (store-local, half-open); ignored for inventory.
    pub window: Option<Window>,
    /// The stores.
    pub stores: StoreSelection,
    /// Full, incremental or recovery.
    pub mode: RunMode,
    /// Who triggered it; `None` detects it from the environment.
    pub triggered_by: Option<TriggeredBy>,
    /// The failed execution this run recovers, if any.
    pub recovered_gap_id: Option<i64>,
}

impl RunRequest {
    /// Whole store-local days `first..=last` of every active store.
    pub fn days(kind: DataKind, first: NaiveDate, last: NaiveDate) -> Self {
        Self {
            kind,
            window: Window::days(first, last),
            stores: StoreSelection::AllActive,
            mode: RunMode::Full,
            triggered_by: None,
            recovered_gap_id: None,
        }
    }

    /// An inventory snapshot of every active store.
    pub fn inventory() -> Self {
        Self {
            kind: DataKind::Inventory,
            window: None,
            stores: StoreSelection::AllActive,
            mode: RunMode::Full,
            triggered_by: None,
            recovered_gap_id: None,
        }
    }

    /// Restricts the run to some stores.
    pub fn with_stores(mut self, ids: Vec<String>) -> Self {
        self.stores = StoreSelection::Ids(ids);
        self
    }

    /// Sets who triggered the run.
    pub fn triggered_by(mut self, by: TriggeredBy) -> Self {
        self.triggered_by = Some(by);
        self
    }

    /// The sales of every active store in `window` (store-local, half-open): a full run, its
    /// trigger detected from the environment. The other fields have the defaults the methods
    /// below change.
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use fluxion_etl_core::model::{DataKind, Window};
    /// use fluxion_etl_core::tracker::{RunMode, TriggeredBy};
    /// use fluxion_etl_core::{RunRequest, StoreSelection};
    ///
    /// let day = NaiveDate::from_ymd_opt(2025, 11, 17).unwrap();
    /// let request = RunRequest::sales(Window::day(day).unwrap())
    ///     .stores(["tienda_01", "tienda_02"])
    ///     .triggered_by(TriggeredBy::Scheduler);
    /// assert_eq!(request.kind, DataKind::Sales);
    /// assert_eq!(request.mode, RunMode::Full);
    /// assert_eq!(
    ///     request.stores,
    ///     StoreSelection::Ids(vec!["tienda_01".into(), "tienda_02".into()])
    /// );
    ///
    /// // The same window as `RunRequest::days(DataKind::Sales, day, day)`.
    /// let whole_day = RunRequest::days(DataKind::Sales, day, day);
    /// assert_eq!(RunRequest::sales(Window::day(day).unwrap()).window, whole_day.window);
    ///
    /// // Yesterday, store time, of every active store: one whole day.
    /// let yesterday = RunRequest::yesterday().window.unwrap();
    /// assert_eq!(yesterday.to - yesterday.from, chrono::Duration::days(1));
    /// ```
    pub fn sales(window: Window) -> Self {
        Self {
            kind: DataKind::Sales,
            window: Some(window),
            stores: StoreSelection::AllActive,
            mode: RunMode::Full,
            triggered_by: None,
            recovered_gap_id: None,
        }
    }

    /// Yesterday's sales (store-local: the chain's clock) of every active store, as the daily
    /// run loads them.
    pub fn yesterday() -> Self {
        let today = store_today();
        let yesterday = today.pred_opt().unwrap_or(today);
        Self::days(DataKind::Sales, yesterday, yesterday)
    }

    /// Restricts the run to some stores (the same as [`with_stores`](Self::with_stores), from
    /// any list of names).
    pub fn stores<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.stores = StoreSelection::Ids(ids.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the mode: full (the default), incremental or recovery.
    ///
    /// ```
    /// use fluxion_etl_core::{tracker::RunMode, RunRequest};
    ///
    /// let request = RunRequest::yesterday().mode(RunMode::Incremental);
    /// assert_eq!(request.mode, RunMode::Incremental);
    /// ```
    pub fn mode(mut self, mode: RunMode) -> Self {
        self.mode = mode;
        self
    }

    /// Runs the request as the recovery of the gap left by failed execution `gap_id` (mode
    /// recovery, triggered by `recovery`).
    ///
    /// ```
    /// use fluxion_etl_core::{tracker::{RunMode, TriggeredBy}, RunRequest};
    ///
    /// let request = RunRequest::yesterday().stores(["tienda_03"]).recovering(41);
    /// assert_eq!(request.mode, RunMode::Recovery);
    /// assert_eq!(request.triggered_by, Some(TriggeredBy::Recovery));
    /// assert_eq!(request.recovered_gap_id, Some(41));
    /// ```
    pub fn recovering(mut self, gap_id: i64) -> Self {
        self.mode = RunMode::Recovery;
        self.triggered_by = Some(TriggeredBy::Recovery);
        self.recovered_gap_id = Some(gap_id);
        self
    }
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The execution's id.
    pub execution_id: i64,
    /// Final status.
    pub status: ExecutionStatus,
    /// The execution's closing record.
    pub summary: ExecutionFinish,
    /// Whether the run was interrupted.
    pub interrupted: bool,
    /// The gaps recovered before the run (a full sales run recovers up to
    /// `[schedule] max_gaps_per_run` failed windows first), each its own execution.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recovered: Vec<RecoveryOutcome>,
}

/// Fluxion, wired from a configuration.
#[derive(Clone)]
pub struct Fluxion {
    config: Arc<Config>,
    destination: Destination,
    transformer: Arc<dyn Transformer>,
    environment: Environment,
    observer: Option<Arc<dyn ExecutionObserver>>,
}

impl std::fmt::Debug for Fluxion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fluxion")
            .field("destination", &self.destination)
            .finish_non_exhaustive()
    }
}

impl Fluxion {
    /// Connects to the configured destination (`DATABASE_URL` overrides it). An embedded
    /// SQLite destination is migrated on open; PostgreSQL must be migrated with
    /// `fluxion migrate` first, and Fluxion refuses to run against any schema it does not know.
    /// Executions left `running` by a process that is gone are closed as interrupted at once
    /// ([`Destination::reconcile`]; those recorded before execution owners existed, after
    /// `[destination] stale_running_minutes`).
    pub async fn from_config(config: Config) -> Result<Self> {
        let destination = Destination::connect_within(
            &config.destination_url(),
            config.destination.connect_timeout(),
        )
        .await?;
        if destination.is_embedded() {
            destination.migrate().await?;
        }
        destination.ensure_current().await?;
        let fluxion = Self::wired(config, destination)?;
        fluxion.reconcile().await?;
        Ok(fluxion)
    }

    /// Closes the running executions whose process is gone ([`Destination::reconcile`], with
    /// `[destination] stale_running_minutes` for executions recorded without an owner).
    /// [`Fluxion::from_config`] calls it once; a long-lived program (the server does) calls it
    /// on a timer so a killed run's execution is closed within seconds.
    pub async fn reconcile(&self) -> Result<u64> {
        self.destination
            .reconcile(self.config.destination.stale_running())
            .await
    }

    /// Connects to a destination for the read-only commands, without checking its schema
    /// beyond what the queries need. An embedded SQLite file is migrated; where the file does
    /// not exist yet, the commands read an empty destination in memory and nothing is created
    /// (so `fluxion history` in the wrong directory does not leave a `fluxion.db` behind).
    pub async fn open_readonly(config: Config) -> Result<Self> {
        let destination = Destination::connect_read_only(
            &config.destination_url(),
            config.destination.connect_timeout(),
        )
        .await?;
        if destination.is_embedded() {
            destination.migrate().await?;
        }
        Self::wired(config, destination)
    }

    /// A configuration and its opened destination, with the defaults for the rest.
    fn wired(config: Config, destination: Destination) -> Result<Self> {
        Ok(Self {
            environment: Environment::from_env()?,
            config: Arc::new(config),
            destination,
            transformer: Arc::new(Identity),
            observer: None,
        })
    }

    /// Replaces the transformer applied to every batch.
    pub fn with_transformer(mut self, transformer: Arc<dyn Transformer>) -> Self {
        self.transformer = transformer;
        self
    }

    /// Reports the progress of every execution this `Fluxion` opens (its runs, recoveries and
    /// the scheduler's jobs) to `observer`: a progress bar, a live view.
    pub fn with_observer(mut self, observer: Arc<dyn ExecutionObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Whether each selected store's source can be reached right now: a timed TCP connect
    /// (`[batch] connect_timeout_secs`) to the KLK API or the store's Stellar database, failures
    /// classified like an extraction's. See [`crate::connectivity`].
    pub async fn connectivity(
        &self,
        stores: &StoreSelection,
    ) -> Result<crate::connectivity::ConnectivityReport> {
        let stores = self.select_stores(stores)?;
        Ok(crate::connectivity::check(
            &self.config,
            &stores,
            self.environment,
            std::time::Duration::from_secs(self.config.batch.connect_timeout_secs),
        )
        .await)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The destination.
    pub fn destination(&self) -> &Destination {
        &self.destination
    }

    /// The execution history.
    pub fn tracker_store(&self) -> Arc<dyn TrackerStore> {
        self.destination.tracker_store()
    }

    /// The newest execution of `kind`, running or finished, as its history line; `None` when
    /// there has been none. Where a status view ("what is the sales run doing?") starts.
    pub async fn latest_execution(&self, kind: DataKind) -> Result<Option<HistoryEntry>> {
        let filter = HistoryFilter {
            etl_name: Some(kind),
            limit: Some(1),
            ..HistoryFilter::default()
        };
        Ok(self
            .tracker_store()
            .history(&filter)
            .await?
            .into_iter()
            .next())
    }

    /// The history line of execution `id` of `kind` while it is running (its store count, which
    /// its details do not tell until every store has finished); `None` once it has ended.
    pub async fn running_execution(&self, kind: DataKind, id: i64) -> Result<Option<HistoryEntry>> {
        let filter = HistoryFilter {
            etl_name: Some(kind),
            status: Some(ExecutionStatus::Running),
            limit: Some(HistoryFilter::MAX_LIMIT),
            ..HistoryFilter::default()
        };
        let running = self.tracker_store().history(&filter).await?;
        Ok(running.into_iter().find(|e| e.id == id))
    }

    /// The gaps as of `query.now` ([`crate::gaps`]): failed windows not yet recovered,
    /// coverage with its recommendations, and empty opening hours, per store.
    ///
    /// ```no_run
    /// # async fn demo(fluxion: fluxion_etl_core::Fluxion) -> fluxion_etl_core::Result<()> {
    /// use fluxion_etl_core::gaps::GapQuery;
    ///
    /// let report = fluxion.gaps(&GapQuery::sales(chrono::Utc::now())).await?;
    /// println!("{} stores behind", report.resumen.desactualizadas);
    /// # Ok(()) }
    /// ```
    pub async fn gaps(&self, query: &GapQuery) -> Result<GapReport> {
        gaps::analyze(self.destination.gap_store().as_ref(), &self.config, query).await
    }

    /// What [`Fluxion::recover`] would run for `request`, newest first ([`crate::recovery`]).
    pub async fn recovery_plan(&self, request: &RecoveryRequest) -> Result<RecoveryPlan> {
        if let (Some(from), Some(to)) = (request.from, request.to) {
            if to < from {
                return Err(Error::InvalidRequest(format!(
                    "the recovery range ends ({to}) before it starts ({from})"
                )));
            }
        }
        let query = GapQuery {
            now: request.now,
            kind: request.kind,
            stores: request.stores.clone(),
            failed_within_hours: None,
        };
        // Failed windows alone do not need the coverage (a scan of every store's days).
        let coverage = request.behavior != RecoveryBehavior::Failed;
        let report = gaps::analyze_parts(
            self.destination.gap_store().as_ref(),
            &self.config,
            &query,
            coverage,
        )
        .await?;
        Ok(recovery::plan(&report, &self.config, request))
    }

    /// Plans a recovery and runs its items one after the other, each as a recovery execution
    /// (`mode = recovery`, `is_recovery`, `triggered_by = recovery`, and `recovered_gap_id`
    /// for a failed window). A failing item does not stop the others.
    pub async fn recover(&self, request: &RecoveryRequest) -> Result<RecoveryReport> {
        self.recover_with_cancel(request, &CancellationToken::new())
            .await
    }

    /// [`Fluxion::recover`]; when `cancel` fires, the item in flight is closed as interrupted
    /// and the remaining ones are not started.
    pub async fn recover_with_cancel(
        &self,
        request: &RecoveryRequest,
        cancel: &CancellationToken,
    ) -> Result<RecoveryReport> {
        let plan = self.recovery_plan(request).await?;
        tracing::info!(behavior = %plan.behavior, items = plan.items.len(), candidates = plan.candidates, "Recovery planned.");
        let outcomes = self.run_plan(&plan.items, cancel).await;
        Ok(RecoveryReport {
            interrupted: cancel.is_cancelled(),
            plan,
            outcomes,
        })
    }

    async fn run_plan(
        &self,
        items: &[PlannedRecovery],
        cancel: &CancellationToken,
    ) -> Vec<RecoveryOutcome> {
        let mut outcomes = Vec::with_capacity(items.len());
        for item in items {
            if cancel.is_cancelled() {
                break;
            }
            let request = RunRequest {
                kind: item.kind,
                window: item.window,
                stores: StoreSelection::Ids(vec![item.store_id.as_str().to_owned()]),
                mode: RunMode::Recovery,
                triggered_by: Some(TriggeredBy::Recovery),
                recovered_gap_id: item.recovered_gap_id,
            };
            let failed = |execution_id, error: &Error| RecoveryOutcome {
                item: item.clone(),
                execution_id,
                status: ExecutionStatus::Failed,
                error: Some(sanitize(&error.to_string())),
            };
            let outcome = match self.prepare(request).await {
                Ok(prepared) => {
                    let id = prepared.tracker.id();
                    match prepared.execute(Vec::new(), cancel).await {
                        // A store skipped because another run holds it is not recovered.
                        Ok(report)
                            if report.status == ExecutionStatus::Success
                                && report.summary.tiendas_exitosas == 0 =>
                        {
                            RecoveryOutcome {
                                item: item.clone(),
                                execution_id: Some(report.execution_id),
                                status: ExecutionStatus::Failed,
                                error: Some(
                                    "the store was skipped: another run is loading it".to_owned(),
                                ),
                            }
                        }
                        Ok(report) => RecoveryOutcome {
                            item: item.clone(),
                            execution_id: Some(report.execution_id),
                            status: report.status,
                            error: report.summary.error_message.clone(),
                        },
                        Err(e) => failed(Some(id), &e),
                    }
                }
                Err(e) => failed(None, &e),
            };
            tracing::info!(store = %item.store_id, execution_id = ?outcome.execution_id, gap = ?item.recovered_gap_id, status = %outcome.status, "Gap recovery finished.");
            outcomes.push(outcome);
        }
        outcomes
    }

    /// The automatic recovery of a full sales run: up to `[schedule] max_gaps_per_run` failed
    /// windows of the run's stores, newest first, except those the run itself covers. Never
    /// for incremental or recovery runs. A failure to plan is logged, not fatal: the run's own
    /// work matters more.
    async fn auto_recover(
        &self,
        request: &RunRequest,
        cancel: &CancellationToken,
    ) -> Vec<RecoveryOutcome> {
        let max = self.config.schedule.max_gaps_per_run as usize;
        if request.kind != DataKind::Sales
            || request.mode != RunMode::Full
            || request.recovered_gap_id.is_some()
            || max == 0
        {
            return Vec::new();
        }
        let stores = match &request.stores {
            StoreSelection::AllActive => None,
            StoreSelection::Ids(ids) => Some(ids.iter().map(StoreId::new).collect()),
        };
        let plan_request = RecoveryRequest {
            stores,
            ..RecoveryRequest::new(Utc::now()).behavior(RecoveryBehavior::Failed)
        };
        let plan = match self.recovery_plan(&plan_request).await {
            Ok(plan) => plan,
            Err(e) => {
                tracing::warn!(
                    "Cannot plan the automatic gap recovery: {}",
                    sanitize(&e.to_string())
                );
                return Vec::new();
            }
        };
        let items: Vec<PlannedRecovery> = plan
            .items
            .into_iter()
            .filter(|item| match (request.window, item.window) {
                (Some(run), Some(gap)) => !(run.from <= gap.from && run.to >= gap.to),
                _ => true,
            })
            .take(max)
            .collect();
        if items.is_empty() {
            return Vec::new();
        }
        tracing::info!(gaps = items.len(), "Recovering gaps before the run.");
        self.run_plan(&items, cancel).await
    }

    /// Runs a request to completion.
    pub async fn run(&self, request: RunRequest) -> Result<RunReport> {
        self.run_with_cancel(request, &CancellationToken::new())
            .await
    }

    /// Runs a request; when `cancel` fires, stores in flight are rolled back and the execution
    /// is closed as interrupted rather than left `running`.
    ///
    /// A full sales run first recovers up to `[schedule] max_gaps_per_run` failed windows of
    /// its stores (each its own recovery execution, listed in [`RunReport::recovered`]); an
    /// incremental or recovery run never does.
    pub async fn run_with_cancel(
        &self,
        request: RunRequest,
        cancel: &CancellationToken,
    ) -> Result<RunReport> {
        let recovered = self.auto_recover(&request, cancel).await;
        self.prepare(request)
            .await?
            .execute(recovered, cancel)
            .await
    }

    /// Validates a request and opens its execution (status `running`), then runs it on a
    /// background task: the execution's id is known before any store is extracted, which is
    /// what an API that "returns at once with `execution_id`" needs. Cancelling `cancel`
    /// interrupts the run the same way as [`Fluxion::run_with_cancel`]. A full sales run's
    /// automatic gap recovery happens on the background task, before the run's stores (the
    /// execution is already open, and `running`, meanwhile).
    ///
    /// ```no_run
    /// # async fn demo(fluxion: fluxion_etl_core::Fluxion) -> fluxion_etl_core::Result<()> {
    /// use fluxion_etl_core::{CancellationToken, RunRequest};
    ///
    /// let started = fluxion.start(RunRequest::inventory(), CancellationToken::new()).await?;
    /// println!("execution {} is running", started.execution_id);
    /// let report = started.handle.await.expect("the run task panicked")?;
    /// println!("it ended {}", report.status);
    /// # Ok(()) }
    /// ```
    pub async fn start(
        &self,
        request: RunRequest,
        cancel: CancellationToken,
    ) -> Result<StartedRun> {
        let auto = request.clone();
        let prepared = self.prepare(request).await?;
        let execution_id = prepared.tracker.id();
        let this = self.clone();
        let handle = tokio::spawn(async move {
            let recovered = this.auto_recover(&auto, &cancel).await;
            prepared.execute(recovered, &cancel).await
        });
        Ok(StartedRun {
            execution_id,
            handle,
        })
    }

    async fn prepare(&self, request: RunRequest) -> Result<PreparedRun> {
        let stores = self.select_stores(&request.stores)?;
        let window = match request.kind {
            DataKind::Sales => {
                let window = request.window.ok_or_else(|| {
                    Error::InvalidRequest("a sales run needs a window (from, to)".into())
                })?;
                // One rule for every caller: a window in the future is refused before any
                // source is dialled or any execution recorded.
                local_time::not_in_future(&window, store_today())
                    .map_err(|e| Error::InvalidRequest(e.to_string()))?;
                Some(window)
            }
            DataKind::Inventory => None,
        };
        let triggered_by = request.triggered_by.unwrap_or_else(TriggeredBy::detect);
        let systems: std::collections::BTreeSet<&str> =
            stores.iter().map(|s| s.system().as_str()).collect();
        let source_system = match systems.len() {
            0 => None,
            1 => systems.iter().next().map(|s| (*s).to_owned()),
            _ => Some("mixed".to_owned()),
        };
        let etl_type = match (request.mode, triggered_by) {
            (RunMode::Recovery, _) | (_, TriggeredBy::Recovery) => "recovery",
            (_, TriggeredBy::Scheduler | TriggeredBy::Eventbridge) => "scheduled",
            _ => "manual",
        };
        let mut spec = NewExecution::builder(request.kind)
            .etl_type(etl_type)
            .mode(request.mode)
            .triggered_by(triggered_by)
            .stores(stores.iter().map(|s| s.id.clone()));
        if let Some(window) = window {
            spec = spec.window(window);
        }
        if let Some(system) = source_system {
            spec = spec.source_system(system);
        }
        if let Some(gap) = request.recovered_gap_id {
            spec = spec.recovering(gap);
        }
        let spec = spec.build();
        let mut tracker = ExecutionTracker::start_execution(self.tracker_store(), spec).await?;
        if let Some(observer) = &self.observer {
            tracker = tracker.with_observer(observer.clone());
        }

        let snapshot_at = Utc::now();
        let extract = ExtractRequest {
            kind: request.kind,
            window,
            snapshot_at,
            batch: self.config.batch.clone(),
        };
        let tasks = stores
            .iter()
            .map(|store| StoreTask {
                store: StoreRef {
                    id: store.id.clone(),
                    name: Some(store.name.clone()),
                    system: Some(store.system()),
                },
                unit: LoadUnit {
                    store: store.id.clone(),
                    scope: match window {
                        Some(w) => LoadScope::SalesWindow(w),
                        None => LoadScope::InventorySnapshot {
                            warehouse: store.warehouse().to_owned(),
                            taken_at: snapshot_at,
                            keep_history: self.config.destination.keep_inventory_history,
                        },
                    },
                },
                extractor: extractor_for(&self.config, store, &extract, self.environment),
            })
            .collect();
        let runner = Runner::new(
            RunnerOptions {
                max_workers: self.config.batch.max_workers,
                channel_capacity: self.config.batch.channel_capacity,
            },
            self.transformer.clone(),
            self.destination.loader(),
        );
        Ok(PreparedRun {
            tracker,
            runner,
            tasks,
        })
    }

    fn select_stores(&self, selection: &StoreSelection) -> Result<Vec<&StoreConfig>> {
        match selection {
            StoreSelection::AllActive => Ok(self.config.active_stores().collect()),
            StoreSelection::Ids(ids) => Ok(self.config.stores_named(ids)?),
        }
    }
}

/// A run whose execution is open and whose stores are running on a background task
/// ([`Fluxion::start`]).
#[derive(Debug)]
pub struct StartedRun {
    /// The execution's id (already recorded as `running`).
    pub execution_id: i64,
    /// The run; resolves to its report once the execution is closed.
    pub handle: tokio::task::JoinHandle<Result<RunReport>>,
}

/// An opened execution with its store tasks, not yet run.
struct PreparedRun {
    tracker: ExecutionTracker,
    runner: Runner,
    tasks: Vec<StoreTask>,
}

impl PreparedRun {
    /// Runs the stores after the automatic recovery's `recovered` outcomes, whose successes
    /// the execution counts as `gaps_recovered`.
    async fn execute(
        self,
        recovered: Vec<RecoveryOutcome>,
        cancel: &CancellationToken,
    ) -> Result<RunReport> {
        let Self {
            tracker,
            runner,
            tasks,
        } = self;
        let gaps = recovered
            .iter()
            .filter(|o| o.status == ExecutionStatus::Success)
            .count();
        if gaps > 0 {
            if let Err(e) = tracker.record_gaps_recovered(gaps).await {
                tracing::warn!(error = %e, gaps, "Cannot record the gaps recovered.");
            }
        }
        runner.run(&tracker, tasks, cancel).await;
        let execution_id = tracker.id();
        let interrupted = cancel.is_cancelled();
        let summary = if interrupted {
            tracker
                .abort_execution("the run was interrupted (Ctrl-C or SIGTERM)")
                .await?
        } else {
            tracker.finish_execution().await?
        };
        Ok(RunReport {
            execution_id,
            status: summary.status,
            summary,
            interrupted,
            recovered,
        })
    }
}

/// Cancels `token` on Ctrl-C or SIGTERM, so that a run closes its execution as interrupted
/// instead of leaving it `running`.
///
/// The handlers are registered before this function returns (not when a spawned task first
/// runs), so a signal that arrives right after the call is never lost. Must be called inside a
/// Tokio runtime.
pub fn cancel_on_signals(token: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        tokio::spawn(async move {
            match (interrupt, terminate) {
                (Ok(mut int), Ok(mut term)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
            tracing::warn!("Signal received; stopping the run and closing its execution.");
            token.cancel();
        });
    }
    #[cfg(not(unix))]
    {
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            tracing::warn!("Signal received; stopping the run and closing its execution.");
            token.cancel();
        });
    }
}
