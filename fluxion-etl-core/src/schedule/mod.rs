//! When to run what: the scheduler's policy, its clock and the store of its state.
//!
//! [`due`] is the scheduler's policy as a pure function: "given the time, the configuration and
//! what has happened, which jobs are due now?". The runtime that executes it is
//! `crate::scheduler::Scheduler`, at the top of the library: on a [`Clock`] it evaluates [`due`],
//! claims each job's slot in the destination, runs the job through `Fluxion`
//! (`triggered_by = scheduler`) and records the outcome. Times are
//! America/Caracas on the wall clock (no DST) and UTC in storage; the conversion happens here, at
//! the edge.
//!
//! The jobs (seeds 000 and 002):
//! - **daily** at `execution_hour:execution_minute`: yesterday's sales, every active store;
//! - **daily retries** every `retry_interval_minutes`, at most `max_retries` times, for the stores
//!   that failed with a retryable error (a store that failed with a terminal category such as
//!   `api_auth` is not retried); a [`DailySummary`] (total, ok, failed, pending retries) is
//!   recorded after the run and after each retry;
//! - **incremental** sales every `incremental_interval_minutes` from `opening_hour` to
//!   `closing_hour` (inclusive), covering the last interval plus `incremental_overlap_minutes`,
//!   and an **inventory** snapshot at the same ticks;
//! - **nightly recovery** at `recovery_hour`: the previous day again, in recovery mode.
//!
//! Ticks missed while nothing was running are caught up **once** (the latest missed slot of each
//! job), never replayed one by one; a recovery caught up with the daily run of the same day is
//! left to the daily run. The collision rule: an incremental sales tick leaves out the stores
//! whose daily run or retry is running or starts in the same evaluation (the 06:00 tick and the
//! third 05:00 retry); inventory, another data kind, runs for every store.
//!
//! What the runtime persists (migration 3, both destinations, through [`SchedulerStore`]): the
//! enabled flag and the settings changed at runtime ([`ScheduleSettings`], validated), how far the
//! schedule has been evaluated (for catch-up), the daily run's progress, the daily summaries, the
//! last run, and per-`(job, slot)` [`Claim`]s. Several replicas on one PostgreSQL share all of
//! it: each slot is claimed atomically, so exactly one replica runs it; a replica renews the
//! claims of the jobs it is running, and one that dies leaves claims that expire (the daily run's
//! stores stay pending and are retried by a live replica).
//!
//! The policy alone:
//!
//! ```
//! use chrono::NaiveDate;
//! use fluxion_etl_core::config::ScheduleConfig;
//! use fluxion_etl_core::model::{local_to_utc, StoreId};
//! use fluxion_etl_core::schedule::{due, preview, JobKind, SchedulerState};
//!
//! let config = ScheduleConfig::default();
//! let local = |h, m| {
//!     let day = NaiveDate::from_ymd_opt(2025, 11, 18).unwrap();
//!     local_to_utc(day.and_hms_opt(h, m, 0).unwrap())
//! };
//! let state = SchedulerState {
//!     evaluated_until: Some(local(4, 59)),
//!     ..SchedulerState::default()
//! };
//! let jobs = due(local(5, 0), &config, &state, &[StoreId::new("tienda_01")]);
//! assert_eq!(jobs[0].kind, JobKind::Daily);
//! assert_eq!(jobs[0].slot.to_rfc3339(), "2025-11-18T09:00:00+00:00"); // 05:00 in Caracas
//!
//! // The next two days, with the 06:00 collision flagged.
//! let slots = preview(local(0, 0), 2, &config);
//! assert!(slots.iter().any(|e| e.collides_with.is_some()));
//! ```

mod clock;
mod store;
pub(crate) use store::{store_list_json, store_list_of};

pub use clock::{Clock, ManualClock, SystemClock};
pub use store::{
    Claim, ClaimRecord, DailySummary, FailedStore, InvalidSetting, LastRun, PersistedState,
    ScheduleSettings, SchedulerStore,
};

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::ScheduleConfig;
use crate::model::{local_to_utc, utc_to_local, DataKind, StoreId, Window};
use crate::tracker::RunMode;

/// Which job a slot belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "job")]
pub enum JobKind {
    /// Yesterday's sales, every active store.
    Daily,
    /// A retry of the daily run for the stores that failed retryably.
    DailyRetry {
        /// 1 for the first retry.
        attempt: u32,
    },
    /// The last minutes of sales, with overlap.
    Incremental,
    /// An inventory snapshot.
    Inventory,
    /// The previous day again, in recovery mode.
    NightlyRecovery,
}

impl JobKind {
    /// A stable name: the claim key of the job's slots and the `job` of the last run
    /// (`daily`, `daily_retry_2`, `incremental`, `inventory`, `nightly_recovery`).
    pub fn key(self) -> String {
        match self {
            JobKind::Daily => "daily".into(),
            JobKind::DailyRetry { attempt } => format!("daily_retry_{attempt}"),
            JobKind::Incremental => "incremental".into(),
            JobKind::Inventory => "inventory".into(),
            JobKind::NightlyRecovery => "nightly_recovery".into(),
        }
    }

    /// Whether the job is the daily run or one of its retries (the jobs whose stores an
    /// incremental tick leaves alone).
    pub fn is_daily(self) -> bool {
        matches!(self, JobKind::Daily | JobKind::DailyRetry { .. })
    }
}

impl std::fmt::Display for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobKind::Daily => f.write_str("daily"),
            JobKind::DailyRetry { attempt } => write!(f, "daily retry {attempt}"),
            JobKind::Incremental => f.write_str("incremental"),
            JobKind::Inventory => f.write_str("inventory"),
            JobKind::NightlyRecovery => f.write_str("nightly recovery"),
        }
    }
}

/// A job to run now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Which job.
    pub kind: JobKind,
    /// The slot it was scheduled for (UTC); caught-up jobs carry their latest missed slot.
    pub slot: DateTime<Utc>,
    /// Sales or inventory.
    pub data: DataKind,
    /// The sales window (store-local, half-open).
    pub window: Option<Window>,
    /// Full, incremental or recovery.
    pub mode: RunMode,
    /// The stores to run.
    pub stores: Vec<StoreId>,
    /// Stores left out because their daily run or retry is in progress.
    pub skipped: Vec<StoreId>,
}

/// Progress of one day's daily run and its retries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailyProgress {
    /// The sales day the daily run loads (yesterday, seen from the run).
    pub day: NaiveDate,
    /// When the daily run or its last retry started.
    pub last_attempt_at: DateTime<Utc>,
    /// Retries done so far.
    pub retries_done: u32,
    /// Stores that failed with a retryable error and still wait for a retry.
    pub pending_retry: Vec<StoreId>,
}

/// What the scheduler has recorded, the input besides the time and the configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SchedulerState {
    /// Whether the scheduler is enabled (persisted; overrides the configuration's default).
    pub enabled: Option<bool>,
    /// Slots at or before this instant have been handled.
    pub evaluated_until: Option<DateTime<Utc>>,
    /// The latest daily run's progress.
    pub daily: Option<DailyProgress>,
    /// Stores whose daily run or retry is running right now.
    pub busy: Vec<StoreId>,
}

/// Every job due at `now`: the latest slot of each job in `(evaluated_until, now]`, plus a due
/// retry. With no `evaluated_until` (first start), only slots in the last minute count, so a
/// fresh scheduler does not replay the day.
pub fn due(
    now: DateTime<Utc>,
    config: &ScheduleConfig,
    state: &SchedulerState,
    active: &[StoreId],
) -> Vec<Job> {
    if !state.enabled.unwrap_or(config.enabled) {
        return Vec::new();
    }
    let since = state.evaluated_until.unwrap_or(now - Duration::minutes(1));
    if since >= now {
        return Vec::new();
    }
    let mut jobs = Vec::new();
    let daily_time = hm(config.execution_hour, config.execution_minute);

    if let Some(slot) = latest_daily_slot(since, now, daily_time) {
        let day = utc_to_local(slot).date().pred_opt();
        if let Some(day) = day {
            jobs.push(Job {
                kind: JobKind::Daily,
                slot,
                data: DataKind::Sales,
                window: Window::day(day),
                mode: RunMode::Full,
                stores: active.to_vec(),
                skipped: Vec::new(),
            });
        }
    }

    // A retry of an older day is dropped when a new daily run is due: the new run replaces the
    // daily progress, and the old day's failures are the gap report's business from then on.
    if jobs.is_empty() {
        if let Some(retry) = due_retry(now, config, state) {
            jobs.push(retry);
        }
    }

    if let Some(slot) = latest_incremental_slot(since, now, config) {
        // The collision rule: stores whose daily run or retry is running, or starts in this
        // same evaluation (the 06:00 tick and the third 05:00 retry), are left out of the
        // incremental sales tick. Inventory is another data kind with its own lease and runs
        // for every store.
        let holding: Vec<&StoreId> = state
            .busy
            .iter()
            .chain(jobs.iter().flat_map(|j| j.stores.iter()))
            .collect();
        let (stores, skipped): (Vec<StoreId>, Vec<StoreId>) =
            active.iter().cloned().partition(|s| !holding.contains(&s));
        let local = utc_to_local(slot);
        let span = Duration::minutes(i64::from(
            config.incremental_interval_minutes + config.incremental_overlap_minutes,
        ));
        jobs.push(Job {
            kind: JobKind::Incremental,
            slot,
            data: DataKind::Sales,
            window: Window::new(local - span, local),
            mode: RunMode::Incremental,
            stores,
            skipped,
        });
        jobs.push(Job {
            kind: JobKind::Inventory,
            slot,
            data: DataKind::Inventory,
            window: None,
            mode: RunMode::Full,
            stores: active.to_vec(),
            skipped: Vec::new(),
        });
    }

    if let Some(slot) = latest_daily_slot(since, now, hm(config.recovery_hour, 0)) {
        let window = utc_to_local(slot).date().pred_opt().and_then(Window::day);
        // Caught up together with the daily run of the same day, the recovery would load the
        // same window at the same time (and lose its stores' leases to it): the daily run
        // covers it.
        let covered = jobs
            .iter()
            .any(|j| j.kind == JobKind::Daily && j.window == window);
        if let (Some(window), false) = (window, covered) {
            jobs.push(Job {
                kind: JobKind::NightlyRecovery,
                slot,
                data: DataKind::Sales,
                window: Some(window),
                mode: RunMode::Recovery,
                stores: active.to_vec(),
                skipped: Vec::new(),
            });
        }
    }
    jobs
}

/// The retry due now, if the daily run left stores to retry and the interval has passed.
/// After downtime one retry runs, not one per missed slot.
fn due_retry(now: DateTime<Utc>, config: &ScheduleConfig, state: &SchedulerState) -> Option<Job> {
    let daily = state.daily.as_ref()?;
    if daily.pending_retry.is_empty() || daily.retries_done >= config.max_retries {
        return None;
    }
    if daily.pending_retry.iter().any(|s| state.busy.contains(s)) {
        return None;
    }
    let slot = daily.last_attempt_at + Duration::minutes(i64::from(config.retry_interval_minutes));
    (slot <= now).then(|| Job {
        kind: JobKind::DailyRetry {
            attempt: daily.retries_done + 1,
        },
        slot,
        data: DataKind::Sales,
        window: Window::day(daily.day),
        mode: RunMode::Full,
        stores: daily.pending_retry.clone(),
        skipped: Vec::new(),
    })
}

fn hm(hour: u32, minute: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(hour.min(23), minute.min(59), 0).unwrap_or(NaiveTime::MIN)
}

/// The latest instant in `(since, now]` whose local time of day is `at`.
fn latest_daily_slot(
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    at: NaiveTime,
) -> Option<DateTime<Utc>> {
    let today = utc_to_local(now).date();
    [today, today.pred_opt()?]
        .into_iter()
        .chain(std::iter::once(utc_to_local(since).date()))
        .map(|d| local_to_utc(NaiveDateTime::new(d, at)))
        .filter(|slot| *slot > since && *slot <= now)
        .max()
}

/// Local slots of the incremental job on one day.
fn incremental_slots(
    day: NaiveDate,
    config: &ScheduleConfig,
) -> impl Iterator<Item = NaiveDateTime> {
    let start = day.and_time(hm(config.opening_hour, 0));
    let end = if config.closing_hour >= 24 {
        day.succ_opt().map(|d| d.and_time(NaiveTime::MIN))
    } else {
        Some(day.and_time(hm(config.closing_hour, 0)))
    }
    .unwrap_or(start);
    let step = Duration::minutes(i64::from(config.incremental_interval_minutes.max(1)));
    std::iter::successors(Some(start), move |t| Some(*t + step)).take_while(move |t| *t <= end)
}

fn latest_incremental_slot(
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    config: &ScheduleConfig,
) -> Option<DateTime<Utc>> {
    let today = utc_to_local(now).date();
    let mut days = vec![today];
    // Downtime spanning midnight: yesterday's last tick may be the latest missed one.
    if let Some(y) = today.pred_opt() {
        days.push(y);
    }
    days.into_iter()
        .flat_map(|d| incremental_slots(d, config).collect::<Vec<_>>())
        .map(local_to_utc)
        .filter(|slot| *slot > since && *slot <= now)
        .max()
}

/// The next daily run strictly after `after` (UTC), with the configuration's hour and minute.
pub fn next_daily(after: DateTime<Utc>, config: &ScheduleConfig) -> Option<DateTime<Utc>> {
    let at = hm(config.execution_hour, config.execution_minute);
    let today = utc_to_local(after).date();
    [Some(today), today.succ_opt()]
        .into_iter()
        .flatten()
        .map(|d| local_to_utc(d.and_time(at)))
        .find(|slot| *slot > after)
}

/// The next slot of any job strictly after `after`, retries excepted (they depend on failures).
pub fn next_slot(
    after: DateTime<Utc>,
    config: &ScheduleConfig,
) -> Option<(DateTime<Utc>, JobKind)> {
    preview(after, 2, config)
        .into_iter()
        .find(|e| e.at > after && !matches!(e.kind, JobKind::DailyRetry { .. }))
        .map(|e| (e.at, e.kind))
}

/// One line of `fluxion schedule preview`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviewEntry {
    /// When (UTC).
    pub at: DateTime<Utc>,
    /// When, store-local.
    pub local: NaiveDateTime,
    /// Which job.
    pub kind: JobKind,
    /// The sales window, if any.
    pub window: Option<Window>,
    /// The daily attempt (run or retry) this incremental tick may collide with: the tick then
    /// leaves out the stores that attempt is loading.
    pub collides_with: Option<String>,
}

/// Every slot from `from` for `days` days: daily runs, the retry slots they may need,
/// incremental and inventory ticks, nightly recoveries — with the collisions the collision
/// rule resolves (incremental ticks that fall while a retry may run).
pub fn preview(from: DateTime<Utc>, days: u32, config: &ScheduleConfig) -> Vec<PreviewEntry> {
    let mut out = Vec::new();
    let first = utc_to_local(from).date();
    let daily_time = hm(config.execution_hour, config.execution_minute);
    let retry_step = Duration::minutes(i64::from(config.retry_interval_minutes));
    for offset in 0..=days {
        let Some(day) = first.checked_add_days(chrono::Days::new(u64::from(offset))) else {
            continue;
        };
        let daily = day.and_time(daily_time);
        let retries: Vec<NaiveDateTime> = (1..=config.max_retries)
            .map(|k| daily + retry_step * k as i32)
            .collect();
        let mut push = |local: NaiveDateTime,
                        kind: JobKind,
                        window: Option<Window>,
                        collides: Option<String>| {
            let at = local_to_utc(local);
            if at >= from && at <= from + Duration::days(i64::from(days)) {
                out.push(PreviewEntry {
                    at,
                    local,
                    kind,
                    window,
                    collides_with: collides,
                });
            }
        };
        push(
            daily,
            JobKind::Daily,
            day.pred_opt().and_then(Window::day),
            None,
        );
        for (i, r) in retries.iter().enumerate() {
            push(
                *r,
                JobKind::DailyRetry {
                    attempt: i as u32 + 1,
                },
                day.pred_opt().and_then(Window::day),
                None,
            );
        }
        let span = Duration::minutes(i64::from(
            config.incremental_interval_minutes + config.incremental_overlap_minutes,
        ));
        // Attempt 0 is the daily run, k the k-th retry; each may run until the next one starts.
        let attempts: Vec<(usize, NaiveDateTime)> = std::iter::once(daily)
            .chain(retries.iter().copied())
            .enumerate()
            .collect();
        for tick in incremental_slots(day, config) {
            let collides = attempts
                .iter()
                .rev()
                .find(|(_, start)| *start <= tick && tick < *start + retry_step)
                .map(|(k, start)| {
                    let what = match k {
                        0 => "the daily run".to_owned(),
                        k => format!("daily retry {k}"),
                    };
                    let when = if *start == tick {
                        "starts at the same time".to_owned()
                    } else {
                        format!("started at {}", start.format("%H:%M"))
                    };
                    format!("{what} ({when})")
                });
            push(
                tick,
                JobKind::Incremental,
                Window::new(tick - span, tick),
                collides.clone(),
            );
            push(tick, JobKind::Inventory, None, None);
        }
        push(
            day.and_time(hm(config.recovery_hour, 0)),
            JobKind::NightlyRecovery,
            day.pred_opt().and_then(Window::day),
            None,
        );
    }
    out.sort_by_key(|a| a.at);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        // Store-local wall clock, converted the way the scheduler does.
        local_to_utc(NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap())
    }

    fn stores() -> Vec<StoreId> {
        vec!["tienda_01".into(), "tienda_02".into(), "tienda_08".into()]
    }

    fn kinds(jobs: &[Job]) -> Vec<JobKind> {
        jobs.iter().map(|j| j.kind).collect()
    }

    fn state(since: &str) -> SchedulerState {
        SchedulerState {
            evaluated_until: Some(at(since)),
            ..SchedulerState::default()
        }
    }

    /// The jobs due at `now` under the default settings, for the stores of [`stores`], when the
    /// scheduler last evaluated at `since` (both store-local).
    fn due_by_default(since: &str, now: &str) -> Vec<Job> {
        due(
            at(now),
            &ScheduleConfig::default(),
            &state(since),
            &stores(),
        )
    }

    #[test]
    fn daily_at_five_loads_yesterday() {
        let jobs = due_by_default("2025-11-18 04:59", "2025-11-18 05:00");
        assert_eq!(kinds(&jobs), vec![JobKind::Daily]);
        let w = jobs[0].window.unwrap();
        assert_eq!(
            w,
            Window::day(NaiveDate::from_ymd_opt(2025, 11, 17).unwrap()).unwrap()
        );
        assert_eq!(jobs[0].stores.len(), 3);
        assert_eq!(
            jobs[0].slot,
            at("2025-11-18 05:00"),
            "stored as the UTC instant 09:00"
        );
        assert_eq!(jobs[0].slot.to_rfc3339(), "2025-11-18T09:00:00+00:00");
    }

    #[test]
    fn nothing_is_due_between_slots_or_when_disabled() {
        let c = ScheduleConfig::default();
        assert!(due_by_default("2025-11-18 05:01", "2025-11-18 05:10").is_empty());
        let mut s = state("2025-11-18 04:59");
        s.enabled = Some(false);
        assert!(due(at("2025-11-18 05:00"), &c, &s, &stores()).is_empty());
    }

    #[test]
    fn incremental_ticks_cover_the_interval_plus_overlap() {
        let jobs = due_by_default("2025-11-18 12:29", "2025-11-18 12:30");
        assert_eq!(kinds(&jobs), vec![JobKind::Incremental, JobKind::Inventory]);
        let w = jobs[0].window.unwrap();
        assert_eq!(w.from.format("%H:%M").to_string(), "11:00");
        assert_eq!(w.to.format("%H:%M").to_string(), "12:30");
        assert_eq!(jobs[0].mode, RunMode::Incremental);
    }

    #[test]
    fn no_incremental_outside_opening_hours() {
        assert!(due_by_default("2025-11-18 22:01", "2025-11-18 22:30").is_empty());
        let jobs = due_by_default("2025-11-18 21:59", "2025-11-18 22:00");
        assert_eq!(
            kinds(&jobs),
            vec![JobKind::Incremental, JobKind::Inventory],
            "22:00 is the last tick"
        );
        let jobs = due_by_default("2025-11-18 05:59", "2025-11-18 06:00");
        assert_eq!(kinds(&jobs), vec![JobKind::Incremental, JobKind::Inventory]);
    }

    #[test]
    fn nightly_recovery_reprocesses_the_previous_day() {
        let jobs = due_by_default("2025-11-18 02:59", "2025-11-18 03:00");
        assert_eq!(kinds(&jobs), vec![JobKind::NightlyRecovery]);
        assert_eq!(jobs[0].mode, RunMode::Recovery);
        assert_eq!(
            jobs[0].window.unwrap().from.date(),
            NaiveDate::from_ymd_opt(2025, 11, 17).unwrap()
        );
    }

    #[test]
    fn missed_ticks_are_caught_up_once() {
        // Down from 02:00 to 10:07: the 03:00 recovery, the 05:00 daily and eight incremental
        // ticks were missed. Each job runs once, for its latest missed slot; the recovery of
        // 17 November is left to the daily run of the same day.
        let jobs = due_by_default("2025-11-18 02:00", "2025-11-18 10:07");
        assert_eq!(
            kinds(&jobs),
            vec![JobKind::Daily, JobKind::Incremental, JobKind::Inventory]
        );
        assert_eq!(jobs[1].slot, at("2025-11-18 10:00"));
        // Down from 02:00 to 04:30: the recovery alone is caught up.
        let jobs = due_by_default("2025-11-18 02:00", "2025-11-18 04:30");
        assert_eq!(kinds(&jobs), vec![JobKind::NightlyRecovery]);
        assert_eq!(jobs[0].slot, at("2025-11-18 03:00"));
        // Nothing more is due once the state records the evaluation.
        assert!(due_by_default("2025-11-18 10:07", "2025-11-18 10:08").is_empty());
    }

    #[test]
    fn downtime_across_midnight_runs_yesterdays_missed_ticks_once() {
        let jobs = due_by_default("2025-11-17 21:10", "2025-11-18 01:00");
        assert_eq!(kinds(&jobs), vec![JobKind::Incremental, JobKind::Inventory]);
        assert_eq!(jobs[0].slot, at("2025-11-17 22:00"));
    }

    fn after_daily(failed: &[&str], retries_done: u32, last: &str) -> SchedulerState {
        SchedulerState {
            evaluated_until: Some(at(last)),
            daily: Some(DailyProgress {
                day: NaiveDate::from_ymd_opt(2025, 11, 17).unwrap(),
                last_attempt_at: at(last),
                retries_done,
                pending_retry: failed.iter().map(|s| StoreId::new(*s)).collect(),
            }),
            ..SchedulerState::default()
        }
    }

    #[test]
    fn failed_stores_are_retried_every_interval_up_to_the_limit() {
        let c = ScheduleConfig::default();
        let s = after_daily(&["tienda_08"], 0, "2025-11-18 05:00");
        assert!(due(at("2025-11-18 05:19"), &c, &s, &stores()).is_empty());
        let jobs = due(at("2025-11-18 05:20"), &c, &s, &stores());
        assert_eq!(kinds(&jobs), vec![JobKind::DailyRetry { attempt: 1 }]);
        assert_eq!(jobs[0].stores, vec![StoreId::new("tienda_08")]);
        assert_eq!(
            jobs[0].window.unwrap().from.date(),
            NaiveDate::from_ymd_opt(2025, 11, 17).unwrap()
        );

        let s = after_daily(&["tienda_08"], 3, "2025-11-18 06:00");
        assert!(
            due(at("2025-11-18 06:20"), &c, &s, &stores())
                .iter()
                .all(|j| !matches!(j.kind, JobKind::DailyRetry { .. })),
            "three retries at most"
        );
        let s = after_daily(&[], 1, "2025-11-18 05:20");
        assert!(
            due(at("2025-11-18 05:40"), &c, &s, &stores()).is_empty(),
            "nothing left to retry"
        );
    }

    #[test]
    fn a_missed_retry_runs_once_after_downtime() {
        let c = ScheduleConfig::default();
        let mut s = after_daily(&["tienda_08"], 0, "2025-11-18 05:00");
        s.evaluated_until = Some(at("2025-11-18 05:01"));
        let jobs = due(at("2025-11-18 05:55"), &c, &s, &stores());
        let retries: Vec<_> = jobs
            .iter()
            .filter(|j| matches!(j.kind, JobKind::DailyRetry { .. }))
            .collect();
        assert_eq!(retries.len(), 1);
    }

    #[test]
    fn incremental_tick_skips_stores_whose_retry_is_running() {
        let c = ScheduleConfig::default();
        // The third retry of the 05:00 run starts at 06:00, like the first incremental tick.
        let mut s = after_daily(&["tienda_08"], 3, "2025-11-18 06:00");
        s.evaluated_until = Some(at("2025-11-18 05:59"));
        s.busy = vec![StoreId::new("tienda_08")];
        let jobs = due(at("2025-11-18 06:00"), &c, &s, &stores());
        let inc = jobs
            .iter()
            .find(|j| j.kind == JobKind::Incremental)
            .unwrap();
        assert!(!inc.stores.contains(&StoreId::new("tienda_08")));
        assert_eq!(inc.skipped, vec![StoreId::new("tienda_08")]);
        assert_eq!(inc.stores.len(), 2);
    }

    #[test]
    fn config_changes_take_effect_at_the_next_tick() {
        let c = ScheduleConfig {
            execution_hour: 7,
            execution_minute: 15,
            ..ScheduleConfig::default()
        };
        assert!(due(
            at("2025-11-18 05:00"),
            &c,
            &state("2025-11-18 04:59"),
            &stores()
        )
        .iter()
        .all(|j| j.kind != JobKind::Daily));
        let jobs = due(
            at("2025-11-18 07:15"),
            &c,
            &state("2025-11-18 07:14"),
            &stores(),
        );
        assert_eq!(kinds(&jobs), vec![JobKind::Daily]);
    }

    #[test]
    fn preview_lists_ticks_retries_and_the_six_oclock_collision() {
        let c = ScheduleConfig::default();
        let p = preview(at("2025-11-18 00:00"), 2, &c);
        let day1: Vec<&PreviewEntry> = p
            .iter()
            .filter(|e| e.local.date() == NaiveDate::from_ymd_opt(2025, 11, 18).unwrap())
            .collect();
        assert_eq!(day1.iter().filter(|e| e.kind == JobKind::Daily).count(), 1);
        assert_eq!(
            day1.iter()
                .filter(|e| matches!(e.kind, JobKind::DailyRetry { .. }))
                .count(),
            3
        );
        // 06:00 … 22:00 every 30 minutes: 33 ticks.
        assert_eq!(
            day1.iter()
                .filter(|e| e.kind == JobKind::Incremental)
                .count(),
            33
        );
        let six = day1
            .iter()
            .find(|e| {
                e.kind == JobKind::Incremental && e.local.format("%H:%M").to_string() == "06:00"
            })
            .unwrap();
        assert!(
            six.collides_with.as_deref().unwrap().contains("retry 3"),
            "{six:?}"
        );
        let seven = day1
            .iter()
            .find(|e| {
                e.kind == JobKind::Incremental && e.local.format("%H:%M").to_string() == "07:00"
            })
            .unwrap();
        assert!(seven.collides_with.is_none());
        assert!(p.windows(2).all(|w| w[0].at <= w[1].at));
    }

    #[test]
    fn the_six_oclock_tick_leaves_out_the_stores_of_the_third_retry_starting_with_it() {
        let c = ScheduleConfig::default();
        // Second retry at 05:40 left tienda_08 pending; nothing is running at 05:59:59.
        let mut s = after_daily(&["tienda_08"], 2, "2025-11-18 05:40");
        s.evaluated_until = Some(at("2025-11-18 05:59"));
        let jobs = due(at("2025-11-18 06:00"), &c, &s, &stores());
        assert_eq!(
            kinds(&jobs),
            vec![
                JobKind::DailyRetry { attempt: 3 },
                JobKind::Incremental,
                JobKind::Inventory
            ]
        );
        assert_eq!(jobs[0].stores, vec![StoreId::new("tienda_08")]);
        assert_eq!(jobs[1].skipped, vec![StoreId::new("tienda_08")]);
        assert_eq!(jobs[1].stores.len(), 2);
        assert_eq!(jobs[2].stores.len(), 3, "inventory is not a sales load");
    }

    #[test]
    fn a_new_daily_run_supersedes_the_retries_of_an_older_day() {
        let c = ScheduleConfig::default();
        // Down from 05:25 yesterday until today 05:00: yesterday's retries never finished.
        let mut s = after_daily(&["tienda_08"], 1, "2025-11-17 05:20");
        s.evaluated_until = Some(at("2025-11-18 04:59"));
        let jobs = due(at("2025-11-18 05:00"), &c, &s, &stores());
        assert_eq!(kinds(&jobs), vec![JobKind::Daily]);
        assert_eq!(jobs[0].stores.len(), 3);
    }

    /// Drives the policy minute by minute over a day, applying each job's outcome the way the
    /// runtime does: `failing` stores fail every attempt retryably.
    fn simulate_day(c: &ScheduleConfig, failing: &[&str]) -> Vec<(String, Job)> {
        let mut state = state("2025-11-17 23:59");
        let mut now = at("2025-11-18 00:00");
        let mut out = Vec::new();
        while now < at("2025-11-19 00:00") {
            for job in due(now, c, &state, &stores()) {
                let failed: Vec<StoreId> = job
                    .stores
                    .iter()
                    .filter(|s| failing.contains(&s.as_str()))
                    .cloned()
                    .collect();
                match job.kind {
                    JobKind::Daily => {
                        state.daily = Some(DailyProgress {
                            day: job.window.unwrap().from.date(),
                            last_attempt_at: now,
                            retries_done: 0,
                            pending_retry: failed,
                        })
                    }
                    JobKind::DailyRetry { attempt } => {
                        let d = state.daily.as_mut().unwrap();
                        d.last_attempt_at = now;
                        d.retries_done = attempt;
                        d.pending_retry = failed;
                    }
                    _ => {}
                }
                out.push((utc_to_local(now).format("%H:%M").to_string(), job));
            }
            state.evaluated_until = Some(now);
            now += Duration::minutes(1);
        }
        out
    }

    #[test]
    fn a_simulated_day_runs_every_job_at_its_exact_time() {
        let run = simulate_day(&ScheduleConfig::default(), &[]);
        let at_of = |k: JobKind| -> Vec<String> {
            run.iter()
                .filter(|(_, j)| j.kind == k)
                .map(|(t, _)| t.clone())
                .collect()
        };
        assert_eq!(at_of(JobKind::NightlyRecovery), vec!["03:00"]);
        assert_eq!(at_of(JobKind::Daily), vec!["05:00"]);
        let ticks: Vec<String> = (0..33)
            .map(|i| {
                (NaiveTime::from_hms_opt(6, 0, 0).unwrap() + Duration::minutes(30 * i))
                    .format("%H:%M")
                    .to_string()
            })
            .collect();
        assert_eq!(at_of(JobKind::Incremental), ticks);
        assert_eq!(at_of(JobKind::Inventory), ticks);
        assert_eq!(run.len(), 1 + 1 + 33 + 33, "no retry when nothing failed");
    }

    #[test]
    fn a_simulated_day_retries_only_the_failed_store_three_times() {
        let run = simulate_day(&ScheduleConfig::default(), &["tienda_08"]);
        let retries: Vec<(String, u32, Vec<StoreId>)> = run
            .iter()
            .filter_map(|(t, j)| match j.kind {
                JobKind::DailyRetry { attempt } => Some((t.clone(), attempt, j.stores.clone())),
                _ => None,
            })
            .collect();
        let only_08 = vec![StoreId::new("tienda_08")];
        assert_eq!(
            retries,
            vec![
                ("05:20".to_owned(), 1, only_08.clone()),
                ("05:40".to_owned(), 2, only_08.clone()),
                ("06:00".to_owned(), 3, only_08.clone()),
            ]
        );
        let six = run
            .iter()
            .find(|(t, j)| t == "06:00" && j.kind == JobKind::Incremental)
            .unwrap();
        assert_eq!(six.1.skipped, only_08, "the collision rule at 06:00");
        let half_past = run
            .iter()
            .find(|(t, j)| t == "06:30" && j.kind == JobKind::Incremental)
            .unwrap();
        assert!(half_past.1.skipped.is_empty());
    }

    #[test]
    fn changed_retry_settings_move_the_retry_slots() {
        let c = ScheduleConfig {
            execution_hour: 6,
            execution_minute: 30,
            max_retries: 5,
            retry_interval_minutes: 15,
            ..ScheduleConfig::default()
        };
        let run = simulate_day(&c, &["tienda_01"]);
        let times: Vec<&str> = run
            .iter()
            .filter(|(_, j)| j.kind.is_daily())
            .map(|(t, _)| t.as_str())
            .collect();
        assert_eq!(
            times,
            vec!["06:30", "06:45", "07:00", "07:15", "07:30", "07:45"]
        );
    }

    #[test]
    fn preview_names_the_daily_run_when_a_tick_starts_with_it() {
        let c = ScheduleConfig {
            execution_hour: 6,
            ..ScheduleConfig::default()
        };
        let p = preview(at("2025-11-18 00:00"), 1, &c);
        let six = p
            .iter()
            .find(|e| {
                e.kind == JobKind::Incremental && e.local.format("%H:%M").to_string() == "06:00"
            })
            .unwrap();
        assert!(
            six.collides_with
                .as_deref()
                .unwrap()
                .starts_with("the daily run"),
            "{six:?}"
        );
        assert_eq!(
            next_daily(at("2025-11-18 06:00"), &c),
            Some(at("2025-11-19 06:00")),
            "strictly after"
        );
        assert_eq!(
            next_slot(at("2025-11-18 04:10"), &ScheduleConfig::default()),
            Some((at("2025-11-18 05:00"), JobKind::Daily))
        );
    }
}
