//! The [`SchedulerStore`] contract: the scheduler's settings, progress and summaries persist,
//! and a slot's claim goes to exactly one caller, on both backends.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use fluxion_etl::model::StoreId;
use fluxion_etl::schedule::{
    Claim, DailyProgress, DailySummary, FailedStore, LastRun, PersistedState, ScheduleSettings,
    SchedulerStore,
};
use fluxion_etl::tracker::ErrorCategory;

use super::{at, on_both_backends};
use crate::common::db::TestDb;

fn store(db: &TestDb) -> Arc<dyn SchedulerStore> {
    db.destination.scheduler_store()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn ids(stores: &[&str]) -> Vec<StoreId> {
    stores.iter().map(|s| StoreId::new(*s)).collect()
}

/// `owner`'s claim of `job` at `slot`, made at `claimed_at` for ten minutes.
fn claim(job: &str, slot: DateTime<Utc>, owner: &str, claimed_at: DateTime<Utc>) -> Claim {
    Claim {
        job: job.into(),
        slot,
        owner: owner.into(),
        claimed_at,
        expires_at: claimed_at + Duration::minutes(10),
        holds_stores: job == "daily",
        stores: ids(&["tienda_01", "tienda_02"]),
    }
}

async fn a_new_database_holds_an_empty_state(db: &TestDb) {
    let store = store(db);
    assert_eq!(store.load().await.unwrap(), PersistedState::default());
    assert_eq!(store.latest_summary().await.unwrap(), None);
    assert!(store
        .open_claims(at("2025-11-17 05:00"))
        .await
        .unwrap()
        .is_empty());
}

async fn enabled_and_settings_persist(db: &TestDb) {
    let store = store(db);
    store.set_enabled(false).await.unwrap();
    let all = ScheduleSettings {
        execution_hour: Some(23),
        execution_minute: Some(59),
        max_retries: Some(20),
        retry_interval_minutes: Some(720),
    };
    store.set_settings(&all).await.unwrap();
    // Another store object on the same database (what a restart or a replica sees).
    let again = db.destination.scheduler_store().load().await.unwrap();
    assert_eq!(again.enabled, Some(false));
    assert_eq!(again.settings, all);

    store.set_enabled(true).await.unwrap();
    let some = ScheduleSettings {
        execution_hour: Some(0),
        retry_interval_minutes: Some(1),
        ..ScheduleSettings::default()
    };
    store.set_settings(&some).await.unwrap();
    let state = store.load().await.unwrap();
    assert_eq!(state.enabled, Some(true));
    assert_eq!(
        state.settings, some,
        "the settings are replaced, not merged"
    );
    assert_eq!(state.evaluated_until, None);
}

async fn evaluated_until_only_moves_forward(db: &TestDb) {
    let store = store(db);
    store.advance(at("2025-11-17 05:00")).await.unwrap();
    store.advance(at("2025-11-17 05:30:15")).await.unwrap();
    store.advance(at("2025-11-17 05:10")).await.unwrap();
    assert_eq!(
        store.load().await.unwrap().evaluated_until,
        Some(at("2025-11-17 05:30:15"))
    );
}

async fn daily_progress_never_goes_back_a_day(db: &TestDb) {
    let store = store(db);
    let first = DailyProgress {
        day: day("2025-11-17"),
        last_attempt_at: at("2025-11-18 05:00"),
        retries_done: 0,
        pending_retry: ids(&["tienda_02", "tienda_07"]),
    };
    store.set_daily(&first).await.unwrap();
    assert_eq!(store.load().await.unwrap().daily, Some(first.clone()));

    let retried = DailyProgress {
        last_attempt_at: at("2025-11-18 05:20"),
        retries_done: 1,
        pending_retry: ids(&["tienda_07"]),
        ..first.clone()
    };
    store.set_daily(&retried).await.unwrap();
    let next_day = DailyProgress {
        day: day("2025-11-18"),
        last_attempt_at: at("2025-11-19 05:00"),
        retries_done: 0,
        pending_retry: Vec::new(),
    };
    store.set_daily(&next_day).await.unwrap();
    // A late write of the earlier day (a slow replica) loses.
    store.set_daily(&retried).await.unwrap();
    assert_eq!(store.load().await.unwrap().daily, Some(next_day));
}

async fn the_last_run_round_trips(db: &TestDb) {
    let store = store(db);
    let mut run = LastRun {
        job: "daily".into(),
        slot: at("2025-11-18 05:00"),
        started_at: at("2025-11-18 05:00:02"),
        finished_at: at("2025-11-18 05:07:40"),
        status: "partial".into(),
        execution_id: Some(41),
    };
    store.record_run(&run).await.unwrap();
    assert_eq!(store.load().await.unwrap().last_run, Some(run.clone()));
    run.job = "daily_trigger".into();
    run.status = "error".into();
    run.execution_id = None;
    store.record_run(&run).await.unwrap();
    assert_eq!(store.load().await.unwrap().last_run, Some(run));
}

async fn daily_summaries_are_replaced_per_day_and_the_latest_is_read(db: &TestDb) {
    let store = store(db);
    let summary = |d: &str, ok: u32, failed_stores: Vec<FailedStore>| DailySummary {
        day: day(d),
        started_at: at("2025-11-18 05:00"),
        updated_at: at("2025-11-18 05:40:30"),
        total: 20,
        ok,
        failed: 20 - ok,
        pending_retries: 1,
        retries_done: 2,
        failed_stores,
    };
    let failures = vec![
        FailedStore {
            store: StoreId::new("tienda_02"),
            category: Some(ErrorCategory::ApiAuth),
            retryable: false,
        },
        FailedStore {
            store: StoreId::new("tienda_07"),
            category: None,
            retryable: true,
        },
    ];
    store
        .save_summary(&summary("2025-11-17", 18, failures.clone()))
        .await
        .unwrap();
    assert_eq!(
        store.latest_summary().await.unwrap(),
        Some(summary("2025-11-17", 18, failures.clone()))
    );
    let later = summary("2025-11-18", 20, Vec::new());
    store.save_summary(&later).await.unwrap();
    // Rewriting an earlier day replaces that day's row and leaves the latest as it is.
    store
        .save_summary(&summary("2025-11-17", 19, failures[..1].to_vec()))
        .await
        .unwrap();
    assert_eq!(store.latest_summary().await.unwrap(), Some(later.clone()));
    let updated = summary("2025-11-18", 19, failures[1..].to_vec());
    store.save_summary(&updated).await.unwrap();
    assert_eq!(store.latest_summary().await.unwrap(), Some(updated));
}

async fn a_slot_is_claimed_exactly_once(db: &TestDb) {
    let store = store(db);
    let slot = at("2025-11-18 05:00");
    let now = at("2025-11-18 05:00:01");
    let attempts = (0..8).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .try_claim(&claim("daily", slot, &format!("replica-{i}"), now))
                .await
                .unwrap()
        })
    });
    let won: Vec<bool> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    let winner = format!("replica-{}", won.iter().position(|w| *w).unwrap());
    let open = store.open_claims(now).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].claim, claim("daily", slot, &winner, now));
    assert_eq!((open[0].finished_at, open[0].execution_id), (None, None));

    // Another job, or another slot of the same job, is another claim.
    assert!(store
        .try_claim(&claim("incremental", slot, "replica-0", now))
        .await
        .unwrap());
    assert!(store
        .try_claim(&claim("daily", slot + Duration::days(1), "replica-1", now))
        .await
        .unwrap());
}

async fn only_an_expired_unfinished_claim_is_taken_over(db: &TestDb) {
    let store = store(db);
    let slot = at("2025-11-18 05:00");
    let t0 = at("2025-11-18 05:00:01");
    assert!(store
        .try_claim(&claim("daily", slot, "a", t0))
        .await
        .unwrap());
    store.set_claim_execution("daily", slot, 41).await.unwrap();
    assert!(
        !store
            .try_claim(&claim("daily", slot, "b", t0 + Duration::minutes(9)))
            .await
            .unwrap(),
        "not expired yet"
    );
    // `a` died: its claim lapsed at t0 + 10 min.
    let later = t0 + Duration::minutes(11);
    assert!(store
        .try_claim(&claim("daily", slot, "b", later))
        .await
        .unwrap());
    let open = store.open_claims(later).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].claim.owner, "b");
    assert_eq!(open[0].claim.claimed_at, later);
    assert_eq!(
        open[0].execution_id, None,
        "the takeover forgets a's execution"
    );

    store
        .finish_claim("daily", slot, "b", later + Duration::minutes(1))
        .await
        .unwrap();
    assert!(
        !store
            .try_claim(&claim("daily", slot, "c", later + Duration::hours(5)))
            .await
            .unwrap(),
        "a finished claim is never taken again"
    );
}

async fn renewal_extends_only_the_owners_unfinished_claims(db: &TestDb) {
    let store = store(db);
    let t0 = at("2025-11-18 05:00");
    let (s1, s2, s3) = (t0, t0 + Duration::minutes(30), t0 + Duration::hours(1));
    for slot in [s1, s2, s3] {
        assert!(store
            .try_claim(&claim("incremental", slot, "a", t0))
            .await
            .unwrap());
    }
    store
        .finish_claim("incremental", s3, "a", t0 + Duration::minutes(1))
        .await
        .unwrap();
    let until = t0 + Duration::hours(2);
    let mine = [
        ("incremental".to_owned(), s1),
        ("incremental".to_owned(), s2),
        ("incremental".to_owned(), s3),
        ("daily".to_owned(), s1),
    ];
    assert_eq!(store.renew("b", &mine, until).await.unwrap(), 0, "not b's");
    assert_eq!(store.renew("a", &mine, until).await.unwrap(), 2);
    let open = store.open_claims(t0 + Duration::minutes(90)).await.unwrap();
    let expiries: Vec<_> = open
        .iter()
        .map(|c| (c.claim.slot, c.claim.expires_at))
        .collect();
    assert_eq!(expiries, [(s1, until), (s2, until)]);
    assert!(
        !store
            .try_claim(&claim("incremental", s1, "b", t0 + Duration::minutes(90)))
            .await
            .unwrap(),
        "a renewed claim is not expired"
    );
}

async fn claims_are_listed_recorded_and_pruned(db: &TestDb) {
    let store = store(db);
    let t0 = at("2025-11-18 05:00");
    let slots: Vec<_> = (0..4).map(|i| t0 + Duration::minutes(30 * i)).collect();
    for &slot in &slots {
        assert!(store
            .try_claim(&claim("incremental", slot, "a", slot))
            .await
            .unwrap());
    }
    assert!(store
        .try_claim(&claim("daily", slots[1], "a", slots[1]))
        .await
        .unwrap());
    store
        .set_claim_execution("incremental", slots[0], 7)
        .await
        .unwrap();
    store
        .finish_claim(
            "incremental",
            slots[0],
            "a",
            slots[0] + Duration::minutes(2),
        )
        .await
        .unwrap();
    // Only the owner finishes its claim.
    store
        .finish_claim(
            "incremental",
            slots[1],
            "b",
            slots[1] + Duration::minutes(2),
        )
        .await
        .unwrap();

    let between = store.claims_between(slots[0], slots[2]).await.unwrap();
    let listed: Vec<_> = between
        .iter()
        .map(|c| (c.claim.job.as_str(), c.claim.slot))
        .collect();
    assert_eq!(
        listed,
        [
            ("incremental", slots[0]),
            ("daily", slots[1]),
            ("incremental", slots[1])
        ],
        "[from, to), by slot then job"
    );
    assert_eq!(between[0].execution_id, Some(7));
    assert_eq!(
        between[0].finished_at,
        Some(slots[0] + Duration::minutes(2))
    );
    assert!(between[0].claim.stores == ids(&["tienda_01", "tienda_02"]));
    assert!(between[1].claim.holds_stores && !between[2].claim.holds_stores);
    assert_eq!(between[2].finished_at, None);

    // At slots[1] + 5 min: slots[0] is finished, slots[1]'s claims still run, later ones too.
    let open = store
        .open_claims(slots[1] + Duration::minutes(5))
        .await
        .unwrap();
    let open: Vec<_> = open
        .iter()
        .map(|c| (c.claim.job.as_str(), c.claim.slot))
        .collect();
    assert_eq!(
        open,
        [
            ("daily", slots[1]),
            ("incremental", slots[1]),
            ("incremental", slots[2]),
            ("incremental", slots[3])
        ]
    );
    // Much later every claim has expired.
    assert!(store
        .open_claims(t0 + Duration::days(1))
        .await
        .unwrap()
        .is_empty());

    for (job, slot) in [("incremental", slots[2]), ("incremental", slots[3])] {
        store
            .finish_claim(job, slot, "a", slot + Duration::minutes(1))
            .await
            .unwrap();
    }
    // Finished claims of slots before slots[3]: slots[0] and slots[2].
    assert_eq!(store.prune_claims(slots[3]).await.unwrap(), 2);
    let left: Vec<_> = store
        .claims_between(t0, t0 + Duration::days(1))
        .await
        .unwrap()
        .iter()
        .map(|c| (c.claim.job.clone(), c.claim.slot))
        .collect();
    assert_eq!(
        left,
        [
            ("daily".to_owned(), slots[1]),
            ("incremental".to_owned(), slots[1]),
            ("incremental".to_owned(), slots[3])
        ]
    );
}

on_both_backends!(
    a_new_database_holds_an_empty_state,
    enabled_and_settings_persist,
    evaluated_until_only_moves_forward,
    daily_progress_never_goes_back_a_day,
    the_last_run_round_trips,
    daily_summaries_are_replaced_per_day_and_the_latest_is_read,
    a_slot_is_claimed_exactly_once,
    only_an_expired_unfinished_claim_is_taken_over,
    renewal_extends_only_the_owners_unfinished_claims,
    claims_are_listed_recorded_and_pruned,
);
