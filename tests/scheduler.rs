//! The scheduler runtime over simulated days: a [`ManualClock`], a real KLK simulator (faults
//! per branch make a store fail retryably or with 401) and a real destination (SQLite and
//! PostgreSQL). No test sleeps for scheduled time: the clock is moved and `tick` evaluates.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use fluxion_etl::config::Config;
use fluxion_etl::model::{local_to_utc, StoreId};
use fluxion_etl::schedule::{
    Claim, ClaimRecord, Clock, DailyProgress, DailySummary, LastRun, ManualClock, PersistedState,
    ScheduleSettings, SchedulerStore,
};
use fluxion_etl::scheduler::{Scheduler, SchedulerOptions, StartedJob, TickReport};
use fluxion_etl::tracker::{ExecutionView, HistoryFilter, TriggeredBy};
use fluxion_etl::{Error, Fluxion};
use fluxion_etl_sim::klk::{Endpoint, Fault, FaultRule, KlkSim, KlkSimConfig};

const STORES: [(&str, &str, &str); 3] = [
    ("tienda_01", "SUC001", "APP-TPF"),
    ("tienda_02", "SUC007", "TAVBOL"),
    ("tienda_03", "SUC008", "TTMAN"),
];

/// Store-local wall clock → UTC, as the scheduler converts it.
fn at(s: &str) -> DateTime<Utc> {
    local_to_utc(NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap())
}

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A KLK simulator, a destination and the TOML that wires Fluxion to both.
struct World {
    sim: KlkSim,
    toml: String,
    _dir: tempfile::TempDir,
}

impl World {
    async fn start(backend: Backend) -> World {
        Self::with_stores(backend, STORES.len()).await
    }

    /// The first `n` of [`STORES`].
    async fn with_stores(backend: Backend, n: usize) -> World {
        let sim = KlkSim::start(
            KlkSimConfig {
                lines_per_day: (20, 40),
                articles: 60,
                fixed_clock: Some(at("2025-11-18 08:00")),
                ..KlkSimConfig::default()
            },
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("sched.db").display()),
            Backend::Postgres => crate::common::db::migrated_postgres_url().await,
        };
        let mut toml = format!(
            "[destination]\nurl = \"{url}\"\n\n[batch]\nbatch_size = 100\nmax_workers = 3\n\
             connect_timeout_secs = 2\nrequest_timeout_secs = 3\ninventory_timeout_secs = 3\n\
             retries = 1\nretry_delay_ms = 5\n\n[klk]\nbase_url = \"{}\"\n",
            sim.base_url()
        );
        for (id, branch, warehouse) in STORES.iter().take(n) {
            toml.push_str(&format!(
                "\n[[stores]]\nid = \"{id}\"\nname = \"{id}\"\n[stores.source]\nsystem = \"klk\"\n\
                 branch = \"{branch}\"\nwarehouse = \"{warehouse}\"\n"
            ));
        }
        World {
            sim,
            toml,
            _dir: dir,
        }
    }

    async fn fluxion(&self) -> Fluxion {
        Fluxion::from_config(Config::from_toml_str(&self.toml, "scheduler-test").unwrap())
            .await
            .unwrap()
    }

    /// A scheduler (one replica, or one process after a restart) on `clock`.
    async fn scheduler(&self, clock: &ManualClock, owner: &str) -> Scheduler {
        Scheduler::with_clock(
            self.fluxion().await,
            Arc::new(clock.clone()),
            SchedulerOptions {
                owner: Some(owner.into()),
                ..SchedulerOptions::default()
            },
        )
    }

    fn fail(&self, rules: &[(&str, u16)]) {
        self.sim.set_faults(
            rules
                .iter()
                .map(|(branch, code)| {
                    FaultRule::new(Fault::Status { code: *code })
                        .for_branch(*branch)
                        .on(Endpoint::Ventas)
                })
                .collect(),
        );
    }
}

/// Moves the clock to `when`, evaluates, and waits for the jobs to be recorded.
async fn tick_at(s: &Scheduler, clock: &ManualClock, when: &str) -> TickReport {
    clock.set(at(when));
    let report = s.tick().await.unwrap();
    s.wait_idle().await;
    assert_eq!(s.last_error(), None);
    report
}

fn jobs(report: &TickReport) -> Vec<String> {
    report.started.iter().map(|j| j.job.clone()).collect()
}

fn ids(stores: &[StoreId]) -> Vec<&str> {
    stores.iter().map(StoreId::as_str).collect()
}

fn job<'a>(report: &'a TickReport, name: &str) -> &'a StartedJob {
    report
        .started
        .iter()
        .find(|j| j.job == name)
        .unwrap_or_else(|| panic!("no {name} in {report:?}"))
}

async fn execution(s: &Scheduler, j: &StartedJob) -> ExecutionView {
    let id = j.execution_id.expect("an execution was opened");
    s.fluxion()
        .tracker_store()
        .execution(id)
        .await
        .unwrap()
        .unwrap()
}

/// The daily run at 05:00, retries every 20 minutes of the store that failed retryably only
/// (never of the one that failed with 401), the collision at 06:00, and the daily summary.
async fn daily_run_and_retries(backend: Backend) {
    let w = World::start(backend).await;
    // tienda_02 answers 500 (api_error, retryable); tienda_03 answers 401 (api_auth, terminal).
    w.fail(&[("SUC007", 500), ("SUC008", 401)]);
    let clock = ManualClock::new(at("2025-11-18 04:59"));
    let s = w.scheduler(&clock, "replica-a").await;
    assert!(jobs(&tick_at(&s, &clock, "2025-11-18 04:59").await).is_empty());

    let daily = tick_at(&s, &clock, "2025-11-18 05:00").await;
    assert_eq!(jobs(&daily), vec!["daily"]);
    let d = job(&daily, "daily");
    assert_eq!(d.slot, at("2025-11-18 05:00"));
    let view = execution(&s, d).await;
    assert_eq!(view.triggered_by, TriggeredBy::Scheduler.as_str());
    assert_eq!(view.etl_type.as_deref(), Some("scheduled"));
    assert_eq!(view.fecha_desde, Some(at("2025-11-17 00:00")), "yesterday");
    let status = s.status().await.unwrap();
    assert_eq!(ids(&status.pending_stores), vec!["tienda_02"]);
    assert_eq!(status.next_retry_at, Some(at("2025-11-18 05:20")));
    let summary = status.daily_summary.unwrap();
    assert_eq!(
        (
            summary.total,
            summary.ok,
            summary.failed,
            summary.pending_retries
        ),
        (3, 1, 2, 1)
    );
    let auth = summary
        .failed_stores
        .iter()
        .find(|f| f.store.as_str() == "tienda_03")
        .unwrap();
    assert_eq!(auth.category.as_deref(), Some("api_auth"));
    assert!(!auth.retryable);

    assert!(jobs(&tick_at(&s, &clock, "2025-11-18 05:10").await).is_empty());
    assert!(jobs(&tick_at(&s, &clock, "2025-11-18 05:19").await).is_empty());
    for (when, name) in [
        ("2025-11-18 05:20", "daily_retry_1"),
        ("2025-11-18 05:40", "daily_retry_2"),
    ] {
        let r = tick_at(&s, &clock, when).await;
        assert_eq!(jobs(&r), vec![name], "{when}");
        assert_eq!(ids(&job(&r, name).stores), vec!["tienda_02"], "{when}");
        let view = execution(&s, job(&r, name)).await;
        assert_eq!(view.tiendas_detail.len(), 1);
        assert_eq!(view.triggered_by, "scheduler");
    }

    // 06:00: the third retry and the first incremental tick start together; the tick leaves
    // out tienda_02, whose retry is starting.
    let six = tick_at(&s, &clock, "2025-11-18 06:00").await;
    let mut names = jobs(&six);
    names.sort();
    assert_eq!(names, vec!["daily_retry_3", "incremental", "inventory"]);
    assert_eq!(ids(&job(&six, "daily_retry_3").stores), vec!["tienda_02"]);
    let inc = job(&six, "incremental");
    assert_eq!(ids(&inc.stores), vec!["tienda_01", "tienda_03"]);
    assert_eq!(ids(&inc.skipped), vec!["tienda_02"]);
    assert_eq!(job(&six, "inventory").stores.len(), 3);
    let inc_view = execution(&s, inc).await;
    assert_eq!(inc_view.mode.as_deref(), Some("incremental"));
    assert_eq!(inc_view.fecha_desde, Some(at("2025-11-18 04:30")));
    assert_eq!(inc_view.fecha_hasta, Some(at("2025-11-18 06:00")));

    // Three retries at most.
    assert!(jobs(&tick_at(&s, &clock, "2025-11-18 06:20").await).is_empty());
    let status = s.status().await.unwrap();
    assert_eq!(status.pending_retries, 0);
    let summary = status.daily_summary.unwrap();
    assert_eq!(
        (
            summary.total,
            summary.ok,
            summary.failed,
            summary.pending_retries,
            summary.retries_done
        ),
        (3, 1, 2, 0, 3)
    );
    assert!(status.last_run.is_some());

    // tienda_03 (401) ran in the daily run only.
    let history = s
        .fluxion()
        .tracker_store()
        .history(&HistoryFilter {
            limit: Some(200),
            ..HistoryFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(history.len(), 6, "daily, 3 retries, incremental, inventory");
}

#[tokio::test]
async fn sqlite_daily_run_retries_only_retryable_failures_and_skips_the_retrying_store_at_six() {
    daily_run_and_retries(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_daily_run_retries_only_retryable_failures_and_skips_the_retrying_store_at_six() {
    daily_run_and_retries(Backend::Postgres).await;
}

#[tokio::test]
async fn a_store_that_recovers_on_retry_is_counted_ok_and_retries_stop() {
    let w = World::start(Backend::Sqlite).await;
    w.fail(&[("SUC001", 503)]);
    let clock = ManualClock::new(at("2025-11-18 04:59"));
    let s = w.scheduler(&clock, "a").await;
    tick_at(&s, &clock, "2025-11-18 04:59").await;
    tick_at(&s, &clock, "2025-11-18 05:00").await;
    assert_eq!(s.status().await.unwrap().pending_retries, 1);
    w.sim.clear_faults();
    let r = tick_at(&s, &clock, "2025-11-18 05:20").await;
    assert_eq!(jobs(&r), vec!["daily_retry_1"]);
    let status = s.status().await.unwrap();
    assert_eq!(status.pending_retries, 0);
    let summary = status.daily_summary.unwrap();
    assert_eq!(
        (
            summary.total,
            summary.ok,
            summary.failed,
            summary.pending_retries
        ),
        (3, 3, 0, 0)
    );
    assert!(summary.failed_stores.is_empty());
    assert!(jobs(&tick_at(&s, &clock, "2025-11-18 05:40").await).is_empty());
}

/// Down from 02:00 to 10:07 (a restart): the daily run and the latest incremental tick are
/// due once each, not once per missed slot; the 03:00 recovery of the same day is left to the
/// daily run. Down from 02:00 to 04:30, the recovery alone is caught up.
#[tokio::test]
async fn missed_slots_are_caught_up_once_after_a_restart() {
    let w = World::start(Backend::Sqlite).await;
    let clock = ManualClock::new(at("2025-11-18 02:00"));
    let before = w.scheduler(&clock, "before").await;
    tick_at(&before, &clock, "2025-11-18 02:00").await;
    drop(before);

    let after = w.scheduler(&clock, "after").await;
    let r = tick_at(&after, &clock, "2025-11-18 10:07").await;
    let mut names = jobs(&r);
    names.sort();
    assert_eq!(names, vec!["daily", "inventory"]);
    // The 10:00 incremental tick is due once, but the caught-up daily run holds every store
    // (the collision rule); the 10:30 tick covers its window again.
    assert_eq!(
        r.left_out,
        vec![("incremental".to_owned(), at("2025-11-18 10:00"))]
    );
    assert_eq!(job(&r, "daily").slot, at("2025-11-18 05:00"));
    assert!(jobs(&tick_at(&after, &clock, "2025-11-18 10:08").await).is_empty());
    assert_eq!(execution(&after, job(&r, "daily")).await.status, "success");
    assert_eq!(after.status().await.unwrap().pending_retries, 0);
    let half_past = tick_at(&after, &clock, "2025-11-18 10:30").await;
    assert_eq!(jobs(&half_past), vec!["incremental", "inventory"]);
    assert_eq!(job(&half_past, "incremental").stores.len(), 3);
    drop(after);

    let again = w.scheduler(&clock, "again").await;
    // Down from 22:00 to 04:30 the next morning: the recovery alone is due.
    tick_at(&again, &clock, "2025-11-18 22:00").await;
    let r = tick_at(&again, &clock, "2025-11-19 04:30").await;
    assert_eq!(jobs(&r), vec!["nightly_recovery"]);
    let recovery = execution(&again, job(&r, "nightly_recovery")).await;
    assert_eq!(recovery.mode.as_deref(), Some("recovery"));
    assert!(recovery.is_recovery);
    assert_eq!(recovery.fecha_desde, Some(at("2025-11-18 00:00")));
}

/// Disabled: nothing runs and the slots that pass are not caught up on enabling; the flag
/// survives a restart.
#[tokio::test]
async fn disable_and_enable_persist_and_take_effect_at_the_next_tick() {
    let w = World::start(Backend::Sqlite).await;
    let clock = ManualClock::new(at("2025-11-18 04:59"));
    let s = w.scheduler(&clock, "a").await;
    tick_at(&s, &clock, "2025-11-18 04:59").await;
    let status = s.disable().await.unwrap();
    assert!(!status.enabled);
    assert_eq!(status.next_run, None);
    assert!(jobs(&tick_at(&s, &clock, "2025-11-18 05:00").await).is_empty());
    drop(s);

    let s = w.scheduler(&clock, "b").await;
    assert!(!s.status().await.unwrap().enabled, "persisted");
    assert!(jobs(&tick_at(&s, &clock, "2025-11-18 05:30").await).is_empty());
    let status = s.enable().await.unwrap();
    assert!(status.enabled);
    assert_eq!(status.next_run, Some(at("2025-11-19 05:00")));
    let r = tick_at(&s, &clock, "2025-11-18 06:00").await;
    let mut names = jobs(&r);
    names.sort();
    assert_eq!(
        names,
        vec!["incremental", "inventory"],
        "the 05:00 run passed while disabled"
    );
}

/// A settings change is validated, persisted, survives a restart and moves the next tick.
async fn config_change_survives_a_restart(backend: Backend) {
    let w = World::start(backend).await;
    let clock = ManualClock::new(at("2025-11-18 04:00"));
    let s = w.scheduler(&clock, "a").await;
    tick_at(&s, &clock, "2025-11-18 04:00").await;
    let err = s
        .update_config(ScheduleSettings {
            execution_hour: Some(6),
            execution_minute: Some(75),
            ..ScheduleSettings::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    assert!(err.to_string().contains("execution_minute"), "{err}");
    assert_eq!(
        s.status().await.unwrap().config.execution_hour,
        5,
        "nothing stored"
    );
    let settings = s
        .update_config(ScheduleSettings {
            execution_hour: Some(6),
            execution_minute: Some(30),
            max_retries: Some(5),
            retry_interval_minutes: Some(15),
        })
        .await
        .unwrap();
    assert_eq!(
        (settings.execution_hour, settings.execution_minute),
        (6, 30)
    );
    drop(s);

    let s = w.scheduler(&clock, "b").await;
    let status = s.status().await.unwrap();
    assert_eq!(
        (
            status.config.execution_hour,
            status.config.execution_minute,
            status.config.max_retries,
            status.config.retry_interval_minutes
        ),
        (6, 30, 5, 15)
    );
    assert_eq!(status.next_run, Some(at("2025-11-18 06:30")));
    assert!(!jobs(&tick_at(&s, &clock, "2025-11-18 05:00").await)
        .iter()
        .any(|j| j == "daily"));
    let r = tick_at(&s, &clock, "2025-11-18 06:30").await;
    assert!(jobs(&r).iter().any(|j| j == "daily"), "{r:?}");
}

#[tokio::test]
async fn sqlite_config_change_survives_a_restart() {
    config_change_survives_a_restart(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_config_change_survives_a_restart() {
    config_change_survives_a_restart(Backend::Postgres).await;
}

/// "Run now": the daily job for yesterday, off-schedule; refused while a daily run holds its
/// stores (on any replica).
#[tokio::test]
async fn trigger_runs_the_daily_job_now_and_is_refused_while_one_runs() {
    let w = World::start(Backend::Sqlite).await;
    let clock = ManualClock::new(at("2025-11-18 14:12"));
    let s = w.scheduler(&clock, "a").await;
    let started = s.trigger().await.unwrap();
    assert_eq!(started.job, "daily_trigger");
    assert_eq!(started.stores.len(), 3);
    s.wait_idle().await;
    let view = execution(&s, &started).await;
    assert_eq!(view.fecha_desde, Some(at("2025-11-17 00:00")));
    assert_eq!(view.triggered_by, "scheduler");
    let status = s.status().await.unwrap();
    // The JSON of `GET /api/etl/scheduler/status` (the server and the page rely on it).
    let json = serde_json::to_value(&status).unwrap();
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&json),
        [
            "config",
            "daily_summary",
            "enabled",
            "is_running",
            "last_run",
            "next_retry_at",
            "next_run",
            "next_run_local",
            "next_tick",
            "next_tick_job",
            "pending_retries",
            "pending_stores",
            "running_jobs"
        ]
    );
    assert_eq!(
        keys(&json["daily_summary"]),
        [
            "day",
            "failed",
            "failed_stores",
            "ok",
            "pending_retries",
            "retries_done",
            "started_at",
            "total",
            "updated_at"
        ]
    );
    assert_eq!(json["daily_summary"]["day"], "2025-11-17");
    assert_eq!(json["next_run"], "2025-11-19T09:00:00Z");
    assert_eq!(json["next_run_local"], "2025-11-19T05:00:00");
    assert_eq!(
        json["last_run"]["execution_id"],
        started.execution_id.unwrap()
    );
    assert_eq!(json["config"]["time_zone"], "America/Caracas");
    assert_eq!(status.last_run.unwrap().job, "daily_trigger");
    assert_eq!(status.daily_summary.unwrap().ok, 3);

    // Another replica's daily run is in progress.
    let now = clock.now();
    assert!(s
        .store()
        .try_claim(&Claim {
            job: "daily".into(),
            slot: at("2025-11-19 05:00"),
            owner: "replica-b".into(),
            claimed_at: now,
            expires_at: now + Duration::minutes(5),
            holds_stores: true,
            stores: vec![StoreId::new("tienda_01")],
        })
        .await
        .unwrap());
    let err = s.trigger().await.unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    assert!(err.to_string().contains("already in progress"), "{err}");
    assert!(s.status().await.unwrap().is_running);
}

/// Claims: one owner per slot, taken over only once expired and unfinished.
async fn claims_expire_but_finished_ones_stay(backend: Backend) {
    let w = World::start(backend).await;
    let clock = ManualClock::new(at("2025-11-18 05:00"));
    let s = w.scheduler(&clock, "a").await;
    let store = s.store();
    let t0 = at("2025-11-18 05:00");
    let claim = |owner: &str, now: DateTime<Utc>| Claim {
        job: "daily".into(),
        slot: t0,
        owner: owner.into(),
        claimed_at: now,
        expires_at: now + Duration::minutes(5),
        holds_stores: true,
        stores: vec![StoreId::new("tienda_01")],
    };
    assert!(store.try_claim(&claim("a", t0)).await.unwrap());
    assert!(!store
        .try_claim(&claim("b", t0 + Duration::minutes(1)))
        .await
        .unwrap());
    // "a" renews while its job runs: the claim outlives its first expiry.
    let held = vec![("daily".to_owned(), t0)];
    assert_eq!(
        store
            .renew("a", &held, t0 + Duration::minutes(10))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.renew("b", &held, t0).await.unwrap(), 0, "not b's");
    assert_eq!(
        store
            .open_claims(t0 + Duration::minutes(6))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(!store
        .try_claim(&claim("b", t0 + Duration::minutes(6)))
        .await
        .unwrap());
    // Then "a" dies: its claim lapses and "b" takes it over.
    assert!(store
        .open_claims(t0 + Duration::minutes(11))
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .try_claim(&claim("b", t0 + Duration::minutes(11)))
        .await
        .unwrap());
    store
        .finish_claim("daily", t0, "b", t0 + Duration::minutes(12))
        .await
        .unwrap();
    assert!(
        !store
            .try_claim(&claim("c", t0 + Duration::minutes(30)))
            .await
            .unwrap(),
        "a finished slot is never run again"
    );
    let all = store
        .claims_between(t0, t0 + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].claim.owner, "b");
    // An open claim is never pruned; a finished one once its slot is old enough.
    assert!(store
        .try_claim(&Claim {
            job: "inventory".into(),
            ..claim("a", t0)
        })
        .await
        .unwrap());
    assert_eq!(store.prune_claims(t0).await.unwrap(), 0, "slot not before");
    assert_eq!(
        store.prune_claims(t0 + Duration::days(40)).await.unwrap(),
        1
    );
    let left = store
        .claims_between(t0, t0 + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].claim.job, "inventory");
}

#[tokio::test]
async fn sqlite_claims_expire_but_finished_ones_stay() {
    claims_expire_but_finished_ones_stay(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_claims_expire_but_finished_ones_stay() {
    claims_expire_but_finished_ones_stay(Backend::Postgres).await;
}

/// A replica claimed the 05:00 daily run and died: its stores stay pending, its claim lapses,
/// and a live replica retries every store at the retry slot.
#[tokio::test]
async fn a_replica_that_dies_mid_run_leaves_its_stores_to_the_retries() {
    let w = World::start(Backend::Postgres).await;
    let clock = ManualClock::new(at("2025-11-18 04:59"));
    let live = w.scheduler(&clock, "live").await;
    tick_at(&live, &clock, "2025-11-18 04:59").await;
    let store = live.store();
    let t0 = at("2025-11-18 05:00");
    let all: Vec<StoreId> = STORES.iter().map(|(id, _, _)| StoreId::new(*id)).collect();
    assert!(store
        .try_claim(&Claim {
            job: "daily".into(),
            slot: t0,
            owner: "dead".into(),
            claimed_at: t0,
            expires_at: t0 + Duration::minutes(5),
            holds_stores: true,
            stores: all.clone(),
        })
        .await
        .unwrap());
    store
        .set_daily(&DailyProgress {
            day: at("2025-11-17 00:00").date_naive(),
            last_attempt_at: t0,
            retries_done: 0,
            pending_retry: all.clone(),
        })
        .await
        .unwrap();
    let r = tick_at(&live, &clock, "2025-11-18 05:00").await;
    assert!(r.started.is_empty());
    assert_eq!(r.claimed_elsewhere, vec![("daily".to_owned(), t0)]);
    assert!(live.status().await.unwrap().is_running);
    let r = tick_at(&live, &clock, "2025-11-18 05:20").await;
    assert_eq!(jobs(&r), vec!["daily_retry_1"]);
    assert_eq!(job(&r, "daily_retry_1").stores, all);
    let status = live.status().await.unwrap();
    assert!(!status.is_running);
    assert_eq!(status.pending_retries, 0);
}

/// Three replicas over one PostgreSQL for a whole simulated day, ticking concurrently with
/// skewed clocks: every slot runs exactly once.
#[tokio::test]
async fn three_replicas_run_each_slot_exactly_once_over_a_day() {
    // Two stores keep the day's 71 executions quick.
    let w = World::with_stores(Backend::Postgres, 2).await;
    // tienda_02 fails all day, so the day has retries too.
    w.fail(&[("SUC007", 500)]);
    let start = at("2025-11-18 00:00");
    let skews = [0, 7, 13];
    let clocks: Vec<ManualClock> = skews
        .iter()
        .map(|s| ManualClock::new(start + Duration::seconds(*s)))
        .collect();
    let mut replicas = Vec::new();
    for (i, c) in clocks.iter().enumerate() {
        replicas.push(w.scheduler(c, &format!("replica-{i}")).await);
    }
    let mut started: Vec<(String, DateTime<Utc>, usize)> = Vec::new();
    let mut step = start;
    while step <= at("2025-11-19 00:00") {
        for (c, s) in clocks.iter().zip(skews) {
            c.set(step + Duration::seconds(s));
        }
        let reports = futures::future::join_all(replicas.iter().map(|r| r.tick())).await;
        for (i, report) in reports.into_iter().enumerate() {
            for j in report.unwrap().started {
                started.push((j.job, j.slot, i));
            }
        }
        for r in &replicas {
            r.wait_idle().await;
            assert_eq!(r.last_error(), None);
        }
        step += Duration::minutes(10);
    }

    let mut per_slot: BTreeMap<(String, DateTime<Utc>), usize> = BTreeMap::new();
    for (job, slot, _) in &started {
        *per_slot.entry((job.clone(), *slot)).or_default() += 1;
    }
    assert!(
        per_slot.values().all(|n| *n == 1),
        "a slot ran twice: {per_slot:?}"
    );
    let count = |name: &str| started.iter().filter(|(j, _, _)| j == name).count();
    assert_eq!(count("nightly_recovery"), 1);
    assert_eq!(count("daily"), 1);
    assert_eq!(
        count("daily_retry_1") + count("daily_retry_2") + count("daily_retry_3"),
        3
    );
    assert_eq!(count("incremental"), 33);
    assert_eq!(count("inventory"), 33);
    assert_eq!(started.len(), 71);

    // The destination agrees: 71 scheduler executions, each claimed slot with its own one.
    let claims = replicas[0]
        .store()
        .claims_between(start, at("2025-11-19 00:01"))
        .await
        .unwrap();
    assert_eq!(claims.len(), 71);
    let executions: BTreeSet<i64> = claims.iter().filter_map(|c| c.execution_id).collect();
    assert_eq!(executions.len(), 71);
    assert!(claims.iter().all(|c| c.finished_at.is_some()));
    let history = replicas[0]
        .fluxion()
        .tracker_store()
        .history(&HistoryFilter {
            triggered_by: Some(TriggeredBy::Scheduler),
            limit: Some(200),
            ..HistoryFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(history.len(), 71);
}

/// The loop itself on a fake clock: it sleeps until the next slot, runs it when the clock gets
/// there, and `shutdown` stops it.
#[tokio::test]
async fn the_loop_wakes_at_the_slot_and_stops_on_shutdown() {
    let w = World::with_stores(Backend::Sqlite, 1).await;
    let clock = ManualClock::new(at("2025-11-18 04:50"));
    let s = w.scheduler(&clock, "loop").await;
    let looping = tokio::spawn({
        let s = s.clone();
        async move { s.run().await }
    });
    // The first evaluation records where the schedule starts.
    wait_for(|| async { s.store().load().await.unwrap().evaluated_until.is_some() }).await;
    assert_eq!(s.status().await.unwrap().last_run, None);
    clock.set(at("2025-11-18 05:00"));
    wait_for(|| async { s.status().await.unwrap().last_run.is_some() }).await;
    s.wait_idle().await;
    let last = s.status().await.unwrap().last_run.unwrap();
    assert_eq!(last.job, "daily");
    assert_eq!(last.slot, at("2025-11-18 05:00"));
    s.shutdown().await;
    tokio::time::timeout(std::time::Duration::from_secs(10), looping)
        .await
        .expect("the loop stops on shutdown")
        .unwrap()
        .unwrap();
}

/// Shutdown interrupts a daily run in flight: its execution is closed (not left running), its
/// claim is released, and the store it had not loaded stays pending for the retries.
#[tokio::test]
async fn shutdown_interrupts_a_running_daily_run_and_keeps_its_stores_pending() {
    let w = World::with_stores(Backend::Sqlite, 2).await;
    // tienda_01's sales request never gets an answer (the request timeout is 3 s).
    w.sim.set_faults(vec![FaultRule::new(Fault::Hang)
        .for_branch("SUC001")
        .on(Endpoint::Ventas)]);
    let clock = ManualClock::new(at("2025-11-18 04:59"));
    let s = w.scheduler(&clock, "a").await;
    tick_at(&s, &clock, "2025-11-18 04:59").await;
    clock.set(at("2025-11-18 05:00"));
    let r = s.tick().await.unwrap();
    assert_eq!(jobs(&r), vec!["daily"]);
    assert!(s.status().await.unwrap().is_running);
    s.shutdown().await;
    assert_eq!(s.last_error(), None);
    let status = s.status().await.unwrap();
    assert!(!status.is_running, "the claim is released: {status:?}");
    assert!(status.pending_stores.contains(&StoreId::new("tienda_01")));
    let view = execution(&s, job(&r, "daily")).await;
    assert_ne!(view.status, "running");
    assert_ne!(view.finished_at, None);
    assert_eq!(
        view.error_category.as_deref(),
        Some("interrupted"),
        "{view:?}"
    );
    assert!(
        s.tick().await.unwrap().started.is_empty(),
        "nothing starts after shutdown"
    );
}

/// Polls `check` until it holds (real time, bounded): the loop runs on its own task.
async fn wait_for<F, Fut>(check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "condition not reached in 20 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Forwards to a real store, failing `set_daily` the first time (the destination blinked right
/// after the slot was claimed).
#[derive(Debug)]
struct BlinkingStore {
    inner: Arc<dyn SchedulerStore>,
    failed: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl SchedulerStore for BlinkingStore {
    async fn load(&self) -> fluxion_etl::Result<PersistedState> {
        self.inner.load().await
    }
    async fn set_enabled(&self, enabled: bool) -> fluxion_etl::Result<()> {
        self.inner.set_enabled(enabled).await
    }
    async fn set_settings(&self, s: &ScheduleSettings) -> fluxion_etl::Result<()> {
        self.inner.set_settings(s).await
    }
    async fn advance(&self, until: DateTime<Utc>) -> fluxion_etl::Result<()> {
        self.inner.advance(until).await
    }
    async fn set_daily(&self, d: &DailyProgress) -> fluxion_etl::Result<()> {
        if !self.failed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::InvalidRequest("the destination blinked".into()));
        }
        self.inner.set_daily(d).await
    }
    async fn record_run(&self, r: &LastRun) -> fluxion_etl::Result<()> {
        self.inner.record_run(r).await
    }
    async fn save_summary(&self, s: &DailySummary) -> fluxion_etl::Result<()> {
        self.inner.save_summary(s).await
    }
    async fn latest_summary(&self) -> fluxion_etl::Result<Option<DailySummary>> {
        self.inner.latest_summary().await
    }
    async fn try_claim(&self, c: &Claim) -> fluxion_etl::Result<bool> {
        self.inner.try_claim(c).await
    }
    async fn renew(
        &self,
        owner: &str,
        claims: &[(String, DateTime<Utc>)],
        until: DateTime<Utc>,
    ) -> fluxion_etl::Result<u64> {
        self.inner.renew(owner, claims, until).await
    }
    async fn set_claim_execution(
        &self,
        job: &str,
        slot: DateTime<Utc>,
        id: i64,
    ) -> fluxion_etl::Result<()> {
        self.inner.set_claim_execution(job, slot, id).await
    }
    async fn finish_claim(
        &self,
        job: &str,
        slot: DateTime<Utc>,
        owner: &str,
        at: DateTime<Utc>,
    ) -> fluxion_etl::Result<()> {
        self.inner.finish_claim(job, slot, owner, at).await
    }
    async fn open_claims(&self, now: DateTime<Utc>) -> fluxion_etl::Result<Vec<ClaimRecord>> {
        self.inner.open_claims(now).await
    }
    async fn prune_claims(&self, before: DateTime<Utc>) -> fluxion_etl::Result<u64> {
        self.inner.prune_claims(before).await
    }
    async fn claims_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> fluxion_etl::Result<Vec<ClaimRecord>> {
        self.inner.claims_between(from, to).await
    }
}

/// A failure between claiming the daily slot and starting the run gives the slot back: the
/// next evaluation runs it, instead of finding it claimed (by itself) and moving on.
#[tokio::test]
async fn a_failure_right_after_claiming_gives_the_slot_back() {
    let w = World::with_stores(Backend::Sqlite, 1).await;
    let clock = ManualClock::new(at("2025-11-18 04:59"));
    let fluxion = w.fluxion().await;
    let store = Arc::new(BlinkingStore {
        inner: fluxion.destination().scheduler_store(),
        failed: std::sync::atomic::AtomicBool::new(false),
    });
    let s = Scheduler::with_store(
        fluxion,
        store,
        Arc::new(clock.clone()),
        SchedulerOptions::default(),
    );
    tick_at(&s, &clock, "2025-11-18 04:59").await;
    clock.set(at("2025-11-18 05:00"));
    let err = s.tick().await.unwrap_err();
    assert!(err.to_string().contains("blinked"), "{err}");
    assert!(!s.status().await.unwrap().is_running);
    let r = tick_at(&s, &clock, "2025-11-18 05:01").await;
    assert_eq!(jobs(&r), vec!["daily"]);
    assert_eq!(job(&r, "daily").slot, at("2025-11-18 05:00"));
    assert_eq!(s.status().await.unwrap().daily_summary.unwrap().ok, 1);
}

/// The daily run's maintenance applies the history's retention (`retention_days`, 90 by
/// default) as of the scheduler's clock: older executions go, recent ones stay.
#[tokio::test]
async fn the_daily_run_prunes_history_older_than_the_retention() {
    use fluxion_etl::model::DataKind;
    use fluxion_etl::tracker::{ExecutionTracker, NewExecution, RunMode};

    let w = World::with_stores(Backend::Sqlite, 1).await;
    let clock = ManualClock::new(at("2025-11-18 04:59"));
    let s = w.scheduler(&clock, "maintenance").await;
    let mut kept = Vec::new();
    for started in ["2025-06-01 10:00", "2025-10-01 10:00"] {
        let tracker = ExecutionTracker::start_execution(
            s.fluxion().tracker_store(),
            NewExecution {
                etl_name: DataKind::Sales,
                etl_type: "manual".into(),
                mode: RunMode::Full,
                triggered_by: TriggeredBy::Cli,
                started_at: at(started),
                fecha_desde: None,
                fecha_hasta: None,
                tiendas: Vec::new(),
                source_system: None,
                is_recovery: false,
                recovered_gap_id: None,
                host: None,
                version: "test".into(),
            },
        )
        .await
        .unwrap();
        kept.push(tracker.id());
        tracker.finish_execution().await.unwrap();
    }
    let old = kept.remove(0);

    tick_at(&s, &clock, "2025-11-18 04:59").await;
    let r = tick_at(&s, &clock, "2025-11-18 05:00").await;
    assert_eq!(jobs(&r), vec!["daily"]);
    let history = s
        .fluxion()
        .tracker_store()
        .history(&HistoryFilter::default())
        .await
        .unwrap();
    let ids: BTreeSet<i64> = history.iter().map(|e| e.id).collect();
    assert!(!ids.contains(&old), "{ids:?}");
    assert!(ids.contains(&kept[0]), "{ids:?}");
    assert!(
        ids.contains(&job(&r, "daily").execution_id.unwrap()),
        "{ids:?}"
    );
}
