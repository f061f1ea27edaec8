//! When to run what: the scheduler's policy as a pure function.
//!
//! [`due`] answers "given the time, the configuration and what has happened, which jobs are due
//! now?"; a server loop (or a cron-driven `fluxion`) only executes its answer and records the
//! outcome back into [`SchedulerState`]. Times are America/Caracas on the wall clock (no DST) and
//! UTC in storage; the conversion happens here, at the edge.
//!
//! The jobs (seeds 000 and 002):
//! - **daily** at `execution_hour:execution_minute`: yesterday's sales, every active store;
//! - **daily retries** every `retry_interval_minutes`, at most `max_retries` times, for the stores
//!   that failed with a retryable error (a store that failed with `api_auth` is not retried);
//! - **incremental** sales every `incremental_interval_minutes` from `opening_hour` to
//!   `closing_hour` (inclusive), covering the last interval plus `incremental_overlap_minutes`,
//!   and an **inventory** snapshot at the same ticks;
//! - **nightly recovery** at `recovery_hour`: the previous day again, in recovery mode.
//!
//! Ticks missed while nothing was running are caught up **once** (the latest missed slot of each
//! job), never replayed one by one. An incremental tick skips the stores whose daily run or retry
//! is in progress.

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

    if let Some(retry) = due_retry(now, config, state) {
        jobs.push(retry);
    }

    if let Some(slot) = latest_incremental_slot(since, now, config) {
        let (stores, skipped): (Vec<StoreId>, Vec<StoreId>) = active
            .iter()
            .cloned()
            .partition(|s| !state.busy.contains(s));
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
            stores: stores.clone(),
            skipped: skipped.clone(),
        });
        jobs.push(Job {
            kind: JobKind::Inventory,
            slot,
            data: DataKind::Inventory,
            window: None,
            mode: RunMode::Full,
            stores,
            skipped,
        });
    }

    if let Some(slot) = latest_daily_slot(since, now, hm(config.recovery_hour, 0)) {
        if let Some(day) = utc_to_local(slot).date().pred_opt() {
            jobs.push(Job {
                kind: JobKind::NightlyRecovery,
                slot,
                data: DataKind::Sales,
                window: Window::day(day),
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
    /// Other slots this one collides with (an incremental tick during a possible daily retry).
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
        let retry_end = retries.last().copied().unwrap_or(daily);
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
        for tick in incremental_slots(day, config) {
            let collides = retries
                .iter()
                .position(|r| {
                    tick >= daily && tick <= retry_end && tick >= *r - retry_step && tick <= *r
                })
                .map(|i| {
                    format!(
                        "daily retry {} at {} (stores still retrying are skipped)",
                        i + 1,
                        retries[i].format("%H:%M")
                    )
                });
            push(
                tick,
                JobKind::Incremental,
                Window::new(tick - span, tick),
                collides.clone(),
            );
            push(tick, JobKind::Inventory, None, collides);
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

    #[test]
    fn daily_at_five_loads_yesterday() {
        let c = ScheduleConfig::default();
        let jobs = due(
            at("2025-11-18 05:00"),
            &c,
            &state("2025-11-18 04:59"),
            &stores(),
        );
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
        assert!(due(
            at("2025-11-18 05:10"),
            &c,
            &state("2025-11-18 05:01"),
            &stores()
        )
        .is_empty());
        let mut s = state("2025-11-18 04:59");
        s.enabled = Some(false);
        assert!(due(at("2025-11-18 05:00"), &c, &s, &stores()).is_empty());
    }

    #[test]
    fn incremental_ticks_cover_the_interval_plus_overlap() {
        let c = ScheduleConfig::default();
        let jobs = due(
            at("2025-11-18 12:30"),
            &c,
            &state("2025-11-18 12:29"),
            &stores(),
        );
        assert_eq!(kinds(&jobs), vec![JobKind::Incremental, JobKind::Inventory]);
        let w = jobs[0].window.unwrap();
        assert_eq!(w.from.format("%H:%M").to_string(), "11:00");
        assert_eq!(w.to.format("%H:%M").to_string(), "12:30");
        assert_eq!(jobs[0].mode, RunMode::Incremental);
    }

    #[test]
    fn no_incremental_outside_opening_hours() {
        let c = ScheduleConfig::default();
        assert!(due(
            at("2025-11-18 22:30"),
            &c,
            &state("2025-11-18 22:01"),
            &stores()
        )
        .is_empty());
        let jobs = due(
            at("2025-11-18 22:00"),
            &c,
            &state("2025-11-18 21:59"),
            &stores(),
        );
        assert_eq!(
            kinds(&jobs),
            vec![JobKind::Incremental, JobKind::Inventory],
            "22:00 is the last tick"
        );
        let jobs = due(
            at("2025-11-18 06:00"),
            &c,
            &state("2025-11-18 05:59"),
            &stores(),
        );
        assert_eq!(kinds(&jobs), vec![JobKind::Incremental, JobKind::Inventory]);
    }

    #[test]
    fn nightly_recovery_reprocesses_the_previous_day() {
        let c = ScheduleConfig::default();
        let jobs = due(
            at("2025-11-18 03:00"),
            &c,
            &state("2025-11-18 02:59"),
            &stores(),
        );
        assert_eq!(kinds(&jobs), vec![JobKind::NightlyRecovery]);
        assert_eq!(jobs[0].mode, RunMode::Recovery);
        assert_eq!(
            jobs[0].window.unwrap().from.date(),
            NaiveDate::from_ymd_opt(2025, 11, 17).unwrap()
        );
    }

    #[test]
    fn missed_ticks_are_caught_up_once() {
        let c = ScheduleConfig::default();
        // Down from 02:00 to 10:07: the 03:00 recovery, the 05:00 daily and eight incremental
        // ticks were missed. Each job runs once, for its latest missed slot.
        let jobs = due(
            at("2025-11-18 10:07"),
            &c,
            &state("2025-11-18 02:00"),
            &stores(),
        );
        assert_eq!(
            kinds(&jobs),
            vec![
                JobKind::Daily,
                JobKind::Incremental,
                JobKind::Inventory,
                JobKind::NightlyRecovery
            ]
        );
        assert_eq!(jobs[1].slot, at("2025-11-18 10:00"));
        // Nothing more is due once the state records the evaluation.
        assert!(due(
            at("2025-11-18 10:08"),
            &c,
            &state("2025-11-18 10:07"),
            &stores()
        )
        .is_empty());
    }

    #[test]
    fn downtime_across_midnight_runs_yesterdays_missed_ticks_once() {
        let c = ScheduleConfig::default();
        let jobs = due(
            at("2025-11-18 01:00"),
            &c,
            &state("2025-11-17 21:10"),
            &stores(),
        );
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
}
