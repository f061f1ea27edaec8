//! The scheduler runtime: evaluates the policy [`due`] on a
//! [`Clock`], claims each job's slot in the destination, runs it through
//! [`Fluxion`], and records what happened.
//!
//! It stands at the top of the library, above the [`Fluxion`] service it drives; the policy, its
//! clock and the store of its state are in [`schedule`](crate::schedule), below the destinations
//! that implement that store. See there for the jobs and what is persisted.
//!
//! ```no_run
//! # async fn demo(fluxion: fluxion_etl_core::Fluxion) -> fluxion_etl_core::Result<()> {
//! use std::sync::Arc;
//! use fluxion_etl_core::schedule::ManualClock;
//! use fluxion_etl_core::scheduler::{Scheduler, SchedulerOptions};
//!
//! let clock = ManualClock::new(chrono::Utc::now());
//! let scheduler = Scheduler::with_clock(fluxion, Arc::new(clock.clone()), SchedulerOptions::default());
//! scheduler.tick().await?; // records how far the schedule is evaluated
//! clock.advance(chrono::Duration::hours(24));
//! let report = scheduler.tick().await?; // the day's jobs, each caught up once
//! scheduler.wait_idle().await;
//! println!("started {:?}", report.started);
//! println!("{:?}", scheduler.status().await?.daily_summary);
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::ScheduleConfig;
use crate::error::{Error, Result};
use crate::model::{utc_to_local, DataKind, StoreId, Window};
use crate::schedule::{
    due, next_daily, next_slot, Claim, Clock, DailyProgress, DailySummary, FailedStore, Job,
    JobKind, LastRun, ScheduleSettings, SchedulerState, SchedulerStore, SystemClock,
};
use crate::service::{Fluxion, RunReport, RunRequest, StoreSelection};
use crate::taxonomy::ErrorCategory;
use crate::tracker::{RunMode, StoreStatus, TriggeredBy};

/// Finished claims are kept this long (they answer "did this slot run, and where?").
const CLAIM_RETENTION_DAYS: i64 = 31;

/// The claim key of "run the daily job now".
const TRIGGER_KEY: &str = "daily_trigger";

/// How the runtime polls and claims.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Longest sleep between two evaluations (the loop also wakes at the next slot).
    pub poll_interval: chrono::Duration,
    /// How long a claim lasts without renewal. Claims are renewed at every evaluation, so this
    /// must exceed `poll_interval`; a replica that dies leaves claims that lapse after it.
    pub claim_ttl: chrono::Duration,
    /// This replica's name in claims (default: host, process id and a random suffix).
    pub owner: Option<String>,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            poll_interval: chrono::Duration::seconds(30),
            claim_ttl: chrono::Duration::minutes(5),
            owner: None,
        }
    }
}

/// A job this replica started.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StartedJob {
    /// The job's key (`daily`, `daily_retry_1`, `incremental`, …, `daily_trigger`).
    pub job: String,
    /// The slot (UTC).
    pub slot: DateTime<Utc>,
    /// The stores it runs.
    pub stores: Vec<StoreId>,
    /// Stores the collision rule left out.
    pub skipped: Vec<StoreId>,
    /// The execution it opened.
    pub execution_id: Option<i64>,
}

/// What one evaluation did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TickReport {
    /// When it evaluated (UTC).
    pub at: Option<DateTime<Utc>>,
    /// Jobs this replica claimed and started.
    pub started: Vec<StartedJob>,
    /// Jobs due whose slot another replica had already claimed: `(job, slot)`.
    pub claimed_elsewhere: Vec<(String, DateTime<Utc>)>,
    /// Jobs due with no store left to run: the collision rule left every store out (an
    /// incremental tick caught up together with the daily run): `(job, slot)`.
    pub left_out: Vec<(String, DateTime<Utc>)>,
}

/// A job running now, on any replica.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunningJob {
    /// The job's key.
    pub job: String,
    /// The slot.
    pub slot: DateTime<Utc>,
    /// The stores.
    pub stores: Vec<StoreId>,
    /// The replica running it.
    pub owner: String,
    /// Its execution, once opened.
    pub execution_id: Option<i64>,
}

/// The effective settings (file values with runtime overrides), as `status` reports them: the
/// schedule's times and retries, in the stores' time zone (`enabled` is reported beside them,
/// `max_gaps_per_run` belongs to recovery).
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveSettings {
    /// The schedule in effect.
    pub schedule: ScheduleConfig,
    /// The stores' time zone (wall-clock hours of the schedule are in it).
    pub time_zone: &'static str,
}

impl From<&ScheduleConfig> for EffectiveSettings {
    fn from(c: &ScheduleConfig) -> Self {
        Self {
            schedule: c.clone(),
            time_zone: "America/Caracas",
        }
    }
}

/// The settings read as the schedule they report (`settings.execution_hour`).
impl std::ops::Deref for EffectiveSettings {
    type Target = ScheduleConfig;

    fn deref(&self) -> &ScheduleConfig {
        &self.schedule
    }
}

impl Serialize for EffectiveSettings {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let c = &self.schedule;
        let reported = [
            ("execution_hour", c.execution_hour),
            ("execution_minute", c.execution_minute),
            ("max_retries", c.max_retries),
            ("retry_interval_minutes", c.retry_interval_minutes),
            (
                "incremental_interval_minutes",
                c.incremental_interval_minutes,
            ),
            ("incremental_overlap_minutes", c.incremental_overlap_minutes),
            ("opening_hour", c.opening_hour),
            ("closing_hour", c.closing_hour),
            ("recovery_hour", c.recovery_hour),
        ];
        let mut out = serializer.serialize_struct("EffectiveSettings", reported.len() + 1)?;
        for (name, value) in reported {
            out.serialize_field(name, &value)?;
        }
        out.serialize_field("time_zone", self.time_zone)?;
        out.end()
    }
}

/// `GET /api/etl/scheduler/status` (seed 000: enabled, is_running, next and last run, pending
/// retries, the last daily summary, the configuration).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchedulerStatus {
    /// Whether the scheduler runs jobs.
    pub enabled: bool,
    /// Whether a scheduled job is running (on any replica).
    pub is_running: bool,
    /// The jobs running.
    pub running_jobs: Vec<RunningJob>,
    /// The next daily run (UTC), if enabled.
    pub next_run: Option<DateTime<Utc>>,
    /// The same, on the stores' wall clock.
    pub next_run_local: Option<NaiveDateTime>,
    /// The next slot of any job (UTC), if enabled.
    pub next_tick: Option<DateTime<Utc>>,
    /// Which job that slot belongs to.
    pub next_tick_job: Option<String>,
    /// The last job finished (`None`: never).
    pub last_run: Option<LastRun>,
    /// How many stores wait for a retry of the daily run.
    pub pending_retries: u32,
    /// Those stores.
    pub pending_stores: Vec<StoreId>,
    /// When the next retry is due, if any store waits for one.
    pub next_retry_at: Option<DateTime<Utc>>,
    /// The latest daily summary.
    pub daily_summary: Option<DailySummary>,
    /// The effective settings.
    pub config: EffectiveSettings,
}

/// The scheduler: a cloneable handle over one replica's runtime.
///
/// [`Scheduler::run`] evaluates the schedule until [`Scheduler::shutdown`]; the other methods
/// are what `/api/etl/scheduler/*` and `fluxion schedule` call. Every replica pointed at the
/// same destination shares the persisted state; each job's slot is claimed in the destination,
/// so exactly one replica runs it.
///
/// ```no_run
/// # async fn demo(fluxion: fluxion_etl_core::Fluxion) -> fluxion_etl_core::Result<()> {
/// use fluxion_etl_core::schedule::ScheduleSettings;
/// use fluxion_etl_core::scheduler::Scheduler;
///
/// let scheduler = Scheduler::new(fluxion);
/// let looping = tokio::spawn({
///     let scheduler = scheduler.clone();
///     async move { scheduler.run().await }
/// });
/// scheduler
///     .update_config(ScheduleSettings { execution_hour: Some(6), ..Default::default() })
///     .await?;
/// println!("{}", serde_json::to_string(&scheduler.status().await?).unwrap_or_default());
/// scheduler.shutdown().await;
/// looping.await.expect("the scheduler loop panicked")?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

struct Inner {
    fluxion: Fluxion,
    store: Arc<dyn SchedulerStore>,
    clock: Arc<dyn Clock>,
    options: SchedulerOptions,
    owner: String,
    /// Stops the loop.
    stop: CancellationToken,
    /// Interrupts the runs in flight (on shutdown).
    runs: CancellationToken,
    /// Jobs in flight on this replica.
    in_flight: watch::Sender<usize>,
    /// Serializes evaluations of this replica (the loop and `trigger`).
    evaluating: tokio::sync::Mutex<()>,
    /// Errors of the jobs' bookkeeping, kept for `status` and tests.
    last_error: Mutex<Option<String>>,
    /// Claims `(job, slot)` of the jobs in flight on this replica.
    held: Mutex<Vec<(String, DateTime<Utc>)>>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("owner", &self.inner.owner)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// How one store of a job ended.
#[derive(Debug, Clone, PartialEq)]
struct StoreOutcome {
    ok: bool,
    category: Option<ErrorCategory>,
    retryable: bool,
}

impl Scheduler {
    /// A scheduler on the system clock, keeping its state in `fluxion`'s destination.
    pub fn new(fluxion: Fluxion) -> Self {
        Self::with_clock(fluxion, Arc::new(SystemClock), SchedulerOptions::default())
    }

    /// A scheduler on `clock` (tests pass a [`ManualClock`](crate::schedule::ManualClock)).
    pub fn with_clock(fluxion: Fluxion, clock: Arc<dyn Clock>, options: SchedulerOptions) -> Self {
        let store = fluxion.destination().scheduler_store();
        Self::with_store(fluxion, store, clock, options)
    }

    /// A scheduler keeping its state in `store` instead of `fluxion`'s destination (a store
    /// shared differently, or a test double).
    pub fn with_store(
        fluxion: Fluxion,
        store: Arc<dyn SchedulerStore>,
        clock: Arc<dyn Clock>,
        options: SchedulerOptions,
    ) -> Self {
        let owner = options.owner.clone().unwrap_or_else(default_owner);
        Self {
            inner: Arc::new(Inner {
                fluxion,
                store,
                clock,
                options,
                owner,
                stop: CancellationToken::new(),
                runs: CancellationToken::new(),
                in_flight: watch::Sender::new(0),
                evaluating: tokio::sync::Mutex::new(()),
                last_error: Mutex::new(None),
                held: Mutex::new(Vec::new()),
            }),
        }
    }

    /// This replica's name in claims.
    pub fn owner(&self) -> &str {
        &self.inner.owner
    }

    /// The Fluxion the jobs run through.
    pub fn fluxion(&self) -> &Fluxion {
        &self.inner.fluxion
    }

    /// Deletes executions started more than `[destination] retention_days` before `now`
    /// (running ones are kept) and inventory snapshots older than `inventory_history_days`; a
    /// failure is logged, never fatal to the daily run.
    async fn prune_history(&self, now: DateTime<Utc>) {
        let fluxion = self.fluxion();
        let days = fluxion.config().destination.retention_days;
        let before = now - chrono::Duration::days(i64::from(days));
        match fluxion.tracker_store().purge(before).await {
            Ok(0) => {}
            Ok(deleted) => {
                tracing::info!(deleted, retention_days = days, "Execution history pruned.")
            }
            Err(e) => tracing::warn!(error = %e, "Cannot prune the execution history."),
        }
        let keep = fluxion.config().destination.inventory_history_days;
        if let Err(e) = fluxion.destination().prune_inventory_history(keep).await {
            tracing::warn!(error = %e, "Cannot prune the inventory history.");
        }
    }

    /// The persisted state.
    pub fn store(&self) -> Arc<dyn SchedulerStore> {
        self.inner.store.clone()
    }

    /// The effective schedule: `[schedule]` with the runtime overrides.
    pub async fn effective_config(&self) -> Result<ScheduleConfig> {
        let persisted = self.inner.store.load().await?;
        Ok(persisted
            .settings
            .apply(&self.inner.fluxion.config().schedule))
    }

    /// Evaluates the schedule until [`shutdown`](Self::shutdown): at most `poll_interval`
    /// apart, and at each slot. A failed evaluation (the destination is unreachable) is logged
    /// and retried at the next one; missed slots are then caught up once.
    pub async fn run(&self) -> Result<()> {
        let inner = &self.inner;
        tracing::info!(owner = %inner.owner, "Scheduler started.");
        while !inner.stop.is_cancelled() {
            match self.tick().await {
                Ok(report) => {
                    for job in &report.started {
                        tracing::info!(job = %job.job, slot = %job.slot, stores = job.stores.len(),
                            skipped = job.skipped.len(), execution_id = ?job.execution_id, "Scheduled job started.");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Scheduler evaluation failed; retrying at the next one.")
                }
            }
            let now = inner.clock.now();
            let mut wake = now + inner.options.poll_interval;
            if let Ok(config) = self.effective_config().await {
                if let Some((slot, _)) = next_slot(now, &config) {
                    wake = wake.min(slot);
                }
            }
            tokio::select! {
                _ = inner.stop.cancelled() => break,
                _ = inner.clock.sleep_until(wake) => {}
            }
        }
        tracing::info!(owner = %inner.owner, "Scheduler stopped.");
        Ok(())
    }

    /// One evaluation at the clock's now: renews this replica's claims, claims and starts every
    /// job due, and records that the schedule has been evaluated up to now. Jobs run in the
    /// background; [`wait_idle`](Self::wait_idle) waits for them.
    pub async fn tick(&self) -> Result<TickReport> {
        let inner = &self.inner;
        let _guard = inner.evaluating.lock().await;
        let now = inner.clock.now();
        let mut report = TickReport {
            at: Some(now),
            ..TickReport::default()
        };
        if inner.stop.is_cancelled() {
            return Ok(report);
        }
        // Only the claims of jobs actually in flight here are kept alive: a claim whose job
        // never started (the destination failed right after claiming) must lapse.
        let held = self.held();
        if !held.is_empty() {
            inner
                .store
                .renew(&inner.owner, &held, now + inner.options.claim_ttl)
                .await?;
        }
        let persisted = inner.store.load().await?;
        let config = persisted.settings.apply(&inner.fluxion.config().schedule);
        let busy = self.busy_stores(now).await?;
        let state = SchedulerState {
            enabled: persisted.enabled,
            evaluated_until: persisted.evaluated_until,
            daily: persisted.daily.clone(),
            busy,
        };
        let active = self.active_stores();
        for job in due(now, &config, &state, &active) {
            if job.stores.is_empty() {
                tracing::info!(job = %job.kind, skipped = job.skipped.len(), "Nothing to run for this slot.");
                report.left_out.push((job.kind.key(), job.slot));
                continue;
            }
            let key = job.kind.key();
            if !self.claim(&key, &job, now).await? {
                report.claimed_elsewhere.push((key, job.slot));
                continue;
            }
            let prepared = match job.kind {
                JobKind::Daily => {
                    // Once a day: finished claims older than a month only fill the table, and
                    // the execution history keeps `retention_days` (seed 001: 90).
                    if let Err(e) = inner
                        .store
                        .prune_claims(now - chrono::Duration::days(CLAIM_RETENTION_DAYS))
                        .await
                    {
                        tracing::warn!(error = %e, "Cannot prune old scheduler claims.");
                    }
                    self.prune_history(now).await;
                    self.begin_daily(&job, now).await
                }
                JobKind::DailyRetry { attempt } => match &persisted.daily {
                    Some(daily) => {
                        inner
                            .store
                            .set_daily(&DailyProgress {
                                last_attempt_at: now,
                                retries_done: attempt,
                                ..daily.clone()
                            })
                            .await
                    }
                    None => Ok(()),
                },
                _ => Ok(()),
            };
            if let Err(e) = prepared {
                // Give the slot back (an expired claim can be taken again) so the next
                // evaluation, which sees the same slot due, runs it.
                let released = [(key.clone(), job.slot)];
                let past = now - chrono::Duration::milliseconds(1);
                if let Err(release) = inner.store.renew(&inner.owner, &released, past).await {
                    tracing::warn!(error = %release, job = %key, "Cannot release a claim; it lapses on its own.");
                }
                return Err(e);
            }
            report.started.push(self.launch(key, job, now).await);
        }
        inner.store.advance(now).await?;
        Ok(report)
    }

    /// Waits until every job this replica started has finished and been recorded.
    pub async fn wait_idle(&self) {
        let mut rx = self.inner.in_flight.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    /// The scheduler's status (any replica's jobs and the shared state).
    pub async fn status(&self) -> Result<SchedulerStatus> {
        let inner = &self.inner;
        let now = inner.clock.now();
        let persisted = inner.store.load().await?;
        let config = persisted.settings.apply(&inner.fluxion.config().schedule);
        let enabled = persisted.enabled.unwrap_or(config.enabled);
        let running_jobs: Vec<RunningJob> = inner
            .store
            .open_claims(now)
            .await?
            .into_iter()
            .map(|c| RunningJob {
                job: c.claim.job,
                slot: c.claim.slot,
                stores: c.claim.stores,
                owner: c.claim.owner,
                execution_id: c.execution_id,
            })
            .collect();
        let (pending_stores, next_retry_at) = match &persisted.daily {
            Some(d) if d.retries_done < config.max_retries && !d.pending_retry.is_empty() => (
                d.pending_retry.clone(),
                Some(
                    d.last_attempt_at
                        + chrono::Duration::minutes(i64::from(config.retry_interval_minutes)),
                ),
            ),
            _ => (Vec::new(), None),
        };
        let next_run = enabled.then(|| next_daily(now, &config)).flatten();
        let next_tick = enabled.then(|| next_slot(now, &config)).flatten();
        Ok(SchedulerStatus {
            enabled,
            is_running: !running_jobs.is_empty(),
            running_jobs,
            next_run,
            next_run_local: next_run.map(utc_to_local),
            next_tick: next_tick.map(|(at, _)| at),
            next_tick_job: next_tick.map(|(_, kind)| kind.key()),
            last_run: persisted.last_run,
            pending_retries: u32::try_from(pending_stores.len()).unwrap_or(u32::MAX),
            pending_stores,
            next_retry_at,
            daily_summary: inner.store.latest_summary().await?,
            config: EffectiveSettings::from(&config),
        })
    }

    /// Enables the scheduler (persisted; from the next evaluation on).
    pub async fn enable(&self) -> Result<SchedulerStatus> {
        self.inner.store.set_enabled(true).await?;
        tracing::info!("Scheduler enabled.");
        self.status().await
    }

    /// Disables the scheduler (persisted). Slots that pass while disabled are not caught up
    /// when it is enabled again; jobs already running finish.
    pub async fn disable(&self) -> Result<SchedulerStatus> {
        self.inner.store.set_enabled(false).await?;
        tracing::info!("Scheduler disabled.");
        self.status().await
    }

    /// Changes the settings (validated; the fields `update` leaves `None` keep their value).
    /// Persisted, effective at the next evaluation, on every replica.
    ///
    /// An out-of-range field is an [`Error::InvalidRequest`] naming it, and nothing is stored.
    pub async fn update_config(&self, update: ScheduleSettings) -> Result<EffectiveSettings> {
        update
            .validate()
            .map_err(|e| Error::InvalidRequest(format!("invalid scheduler setting {e}")))?;
        let current = self.inner.store.load().await?.settings;
        let merged = current.merged(&update);
        self.inner.store.set_settings(&merged).await?;
        tracing::info!(?merged, "Scheduler settings changed.");
        Ok(EffectiveSettings::from(
            &merged.apply(&self.inner.fluxion.config().schedule),
        ))
    }

    /// Runs the daily job now ("Ejecutar Ahora"): yesterday's sales for every active store,
    /// with retries and a daily summary as if it had been scheduled. Refused with
    /// [`Error::Conflict`] while a daily run or retry is running.
    pub async fn trigger(&self) -> Result<StartedJob> {
        let inner = &self.inner;
        let _guard = inner.evaluating.lock().await;
        let now = inner.clock.now();
        let active = self.active_stores();
        if active.is_empty() {
            return Err(Error::InvalidRequest(
                "no active store to run: the configuration lists none".into(),
            ));
        }
        if let Some(running) = inner
            .store
            .open_claims(now)
            .await?
            .into_iter()
            .find(|c| c.claim.holds_stores)
        {
            return Err(Error::Conflict(format!(
                "the daily run is already in progress ({} for slot {}, on {})",
                running.claim.job, running.claim.slot, running.claim.owner
            )));
        }
        let day = utc_to_local(now)
            .date()
            .pred_opt()
            .ok_or_else(|| Error::InvalidRequest("no day before the clock's date".into()))?;
        let job = daily_job(now, day, active);
        if !self.claim(TRIGGER_KEY, &job, now).await? {
            return Err(Error::Conflict(
                "the daily run was just triggered by another replica".into(),
            ));
        }
        self.begin_daily(&job, now).await?;
        Ok(self.launch(TRIGGER_KEY.into(), job, now).await)
    }

    /// Stops the loop, interrupts the runs in flight (their executions are closed as
    /// interrupted; the daily run's unfinished stores stay pending and are retried after a
    /// restart) and waits until they are recorded.
    pub async fn shutdown(&self) {
        self.inner.stop.cancel();
        self.inner.runs.cancel();
        self.wait_idle().await;
    }

    /// The last bookkeeping error of a job (the run itself is recorded by the tracker).
    pub fn last_error(&self) -> Option<String> {
        self.inner
            .last_error
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    fn held(&self) -> Vec<(String, DateTime<Utc>)> {
        self.inner
            .held
            .lock()
            .map(|h| h.clone())
            .unwrap_or_default()
    }

    fn hold(&self, key: &str, slot: DateTime<Utc>, held: bool) {
        if let Ok(mut h) = self.inner.held.lock() {
            h.retain(|(k, s)| !(k == key && *s == slot));
            if held {
                h.push((key.to_owned(), slot));
            }
        }
    }

    fn active_stores(&self) -> Vec<StoreId> {
        self.inner
            .fluxion
            .config()
            .active_stores()
            .map(|s| s.id.clone())
            .collect()
    }

    async fn busy_stores(&self, now: DateTime<Utc>) -> Result<Vec<StoreId>> {
        let mut busy: Vec<StoreId> = self
            .inner
            .store
            .open_claims(now)
            .await?
            .into_iter()
            .filter(|c| c.claim.holds_stores)
            .flat_map(|c| c.claim.stores)
            .collect();
        busy.sort();
        busy.dedup();
        Ok(busy)
    }

    async fn claim(&self, key: &str, job: &Job, now: DateTime<Utc>) -> Result<bool> {
        let inner = &self.inner;
        inner
            .store
            .try_claim(&Claim {
                job: key.to_owned(),
                slot: job.slot,
                owner: inner.owner.clone(),
                claimed_at: now,
                expires_at: now + inner.options.claim_ttl,
                holds_stores: job.kind.is_daily(),
                stores: job.stores.clone(),
            })
            .await
    }

    /// Before a daily run starts: every store is pending until the run says otherwise, so a
    /// replica that dies mid-run leaves its stores to the retries once its claim lapses.
    async fn begin_daily(&self, job: &Job, now: DateTime<Utc>) -> Result<()> {
        let day = job_day(job)?;
        self.inner
            .store
            .set_daily(&DailyProgress {
                day,
                last_attempt_at: now,
                retries_done: 0,
                pending_retry: job.stores.clone(),
            })
            .await
    }

    /// Opens the job's execution and runs it in the background; the outcome is recorded when
    /// it ends.
    async fn launch(&self, key: String, job: Job, now: DateTime<Utc>) -> StartedJob {
        let inner = &self.inner;
        inner.in_flight.send_modify(|n| *n += 1);
        self.hold(&key, job.slot, true);
        let request = RunRequest {
            kind: job.data,
            window: job.window,
            stores: StoreSelection::Ids(job.stores.iter().map(|s| s.to_string()).collect()),
            mode: job.mode,
            triggered_by: Some(TriggeredBy::Scheduler),
            recovered_gap_id: None,
        };
        let started = inner.fluxion.start(request, inner.runs.child_token()).await;
        let execution_id = started.as_ref().ok().map(|s| s.execution_id);
        if let Some(id) = execution_id {
            if let Err(e) = inner.store.set_claim_execution(&key, job.slot, id).await {
                tracing::warn!(error = %e, job = %key, "Cannot record the claim's execution.");
            }
        }
        let summary = StartedJob {
            job: key.clone(),
            slot: job.slot,
            stores: job.stores.clone(),
            skipped: job.skipped.clone(),
            execution_id,
        };
        let this = self.clone();
        tokio::spawn(async move {
            let result = match started {
                Ok(run) => match run.handle.await {
                    Ok(result) => result,
                    Err(e) => Err(Error::InvalidRequest(format!("the run task failed: {e}"))),
                },
                Err(e) => Err(e),
            };
            if let Err(e) = this.complete(&key, &job, now, result).await {
                tracing::error!(error = %e, job = %key, "Cannot record a scheduled job's outcome.");
                if let Ok(mut last) = this.inner.last_error.lock() {
                    *last = Some(e.to_string());
                }
            }
            this.hold(&key, job.slot, false);
            this.inner
                .in_flight
                .send_modify(|n| *n = n.saturating_sub(1));
        });
        summary
    }

    /// Records a job's outcome: the daily progress and summary for daily runs and retries,
    /// the last run, and the claim as finished.
    async fn complete(
        &self,
        key: &str,
        job: &Job,
        started_at: DateTime<Utc>,
        result: Result<RunReport>,
    ) -> Result<()> {
        let inner = &self.inner;
        let finished_at = inner.clock.now();
        let (status, execution_id, outcomes) = match &result {
            Ok(report) => (
                report.status.to_string(),
                Some(report.execution_id),
                self.outcomes(job, report.execution_id).await?,
            ),
            Err(e) => {
                tracing::warn!(job = %key, error = %e, "A scheduled job could not run.");
                let all = job
                    .stores
                    .iter()
                    .map(|s| {
                        (
                            s.clone(),
                            StoreOutcome {
                                ok: false,
                                category: None,
                                retryable: true,
                            },
                        )
                    })
                    .collect();
                ("error".to_owned(), None, all)
            }
        };
        if job.kind.is_daily() {
            self.record_daily(job, started_at, finished_at, &outcomes)
                .await?;
        }
        inner
            .store
            .record_run(&LastRun {
                job: key.to_owned(),
                slot: job.slot,
                started_at,
                finished_at,
                status,
                execution_id,
            })
            .await?;
        inner
            .store
            .finish_claim(key, job.slot, &inner.owner, finished_at)
            .await
    }

    /// Each store's outcome, from the execution's per-store details. A store the execution
    /// has no detail for (skipped by a lease, interrupted before it started) counts as a
    /// retryable failure.
    async fn outcomes(
        &self,
        job: &Job,
        execution_id: i64,
    ) -> Result<BTreeMap<StoreId, StoreOutcome>> {
        let view = self
            .inner
            .fluxion
            .tracker_store()
            .execution(execution_id)
            .await?;
        let details = view.map(|v| v.tiendas_detail).unwrap_or_default();
        Ok(job
            .stores
            .iter()
            .map(|store| {
                let detail = details.iter().find(|d| d.tienda_id == store.as_str());
                let outcome = match detail {
                    Some(d) if d.status == StoreStatus::Success => StoreOutcome {
                        ok: true,
                        category: None,
                        retryable: false,
                    },
                    Some(d) => {
                        let category = d.error_category;
                        StoreOutcome {
                            ok: false,
                            category,
                            retryable: category.is_none_or(ErrorCategory::is_retryable),
                        }
                    }
                    None => StoreOutcome {
                        ok: false,
                        category: None,
                        retryable: true,
                    },
                };
                (store.clone(), outcome)
            })
            .collect())
    }

    async fn record_daily(
        &self,
        job: &Job,
        started_at: DateTime<Utc>,
        finished_at: DateTime<Utc>,
        outcomes: &BTreeMap<StoreId, StoreOutcome>,
    ) -> Result<()> {
        let inner = &self.inner;
        let day = job_day(job)?;
        let persisted = inner.store.load().await?;
        let config = persisted.settings.apply(&inner.fluxion.config().schedule);
        let Some(daily) = persisted.daily.filter(|d| d.day == day) else {
            // A later daily run replaced this day's progress while this one ran.
            return Ok(());
        };
        let retryable_failures: Vec<StoreId> = outcomes
            .iter()
            .filter(|(_, o)| !o.ok && o.retryable)
            .map(|(s, _)| s.clone())
            .collect();
        let retries_done = match job.kind {
            JobKind::DailyRetry { attempt } => attempt,
            _ => 0,
        };
        inner
            .store
            .set_daily(&DailyProgress {
                day,
                last_attempt_at: daily.last_attempt_at,
                retries_done,
                pending_retry: retryable_failures.clone(),
            })
            .await?;

        let previous = inner
            .store
            .latest_summary()
            .await?
            .filter(|s| s.day == day && job.kind != JobKind::Daily);
        let mut summary = previous.unwrap_or(DailySummary {
            day,
            started_at,
            updated_at: finished_at,
            total: u32::try_from(job.stores.len()).unwrap_or(u32::MAX),
            ok: 0,
            failed: 0,
            pending_retries: 0,
            retries_done: 0,
            failed_stores: Vec::new(),
        });
        let mut failed: BTreeMap<StoreId, FailedStore> = summary
            .failed_stores
            .drain(..)
            .map(|f| (f.store.clone(), f))
            .collect();
        for (store, outcome) in outcomes {
            if outcome.ok {
                failed.remove(store);
            } else {
                failed.insert(
                    store.clone(),
                    FailedStore {
                        store: store.clone(),
                        category: outcome.category,
                        retryable: outcome.retryable,
                    },
                );
            }
        }
        summary.failed_stores = failed.into_values().collect();
        summary.failed = u32::try_from(summary.failed_stores.len()).unwrap_or(u32::MAX);
        summary.ok = summary.total.saturating_sub(summary.failed);
        summary.retries_done = retries_done;
        summary.pending_retries = if retries_done < config.max_retries {
            u32::try_from(retryable_failures.len()).unwrap_or(u32::MAX)
        } else {
            0
        };
        summary.updated_at = finished_at;
        tracing::info!(day = %day, total = summary.total, ok = summary.ok, failed = summary.failed,
            pending_retries = summary.pending_retries, "Daily summary recorded.");
        inner.store.save_summary(&summary).await
    }
}

fn daily_job(slot: DateTime<Utc>, day: NaiveDate, stores: Vec<StoreId>) -> Job {
    Job {
        kind: JobKind::Daily,
        slot,
        data: DataKind::Sales,
        window: Window::day(day),
        mode: RunMode::Full,
        stores,
        skipped: Vec::new(),
    }
}

fn job_day(job: &Job) -> Result<NaiveDate> {
    job.window
        .map(|w| w.from.date())
        .ok_or_else(|| Error::InvalidRequest(format!("the {} job has no day", job.kind)))
}

fn default_owner() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!(
        "{host}:{}:{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}
