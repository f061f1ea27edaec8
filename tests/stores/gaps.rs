//! The [`GapStore`] contract: the attempts gap detection reads, and the per-day and per-hour
//! counts, the same on both backends.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use fluxion_etl::gaps::{Attempt, DayCount, GapStore, HourCount};
use fluxion_etl::model::{local_to_utc, DataKind, StoreId, Window};
use fluxion_etl::tracker::{
    ErrorCategory, ExecutionStatus, NewExecution, Phase, StoreStatus, TrackerStore,
};

use super::{at, execution_finish, load_sales, new_execution, on_both_backends, store_detail};
use crate::common::db::TestDb;
use crate::common::{day, line, lines_in, local, window};

fn gaps(db: &TestDb) -> Arc<dyn GapStore> {
    db.destination.gap_store()
}

/// Opens `spec`, records `details` (store, status, failure) ending at `ended`, and closes the
/// execution with `status` at `ended` unless it is still running. Returns its id.
async fn execution(
    tracker: &dyn TrackerStore,
    spec: NewExecution,
    details: &[(&str, StoreStatus, Option<ErrorCategory>)],
    status: ExecutionStatus,
    ended: DateTime<Utc>,
) -> i64 {
    let id = tracker.insert_execution(&spec).await.unwrap();
    for (store, store_status, failure) in details {
        let mut d = store_detail(id, store, *store_status, ended - Duration::minutes(5));
        d.etl_name = spec.etl_name;
        d.window_from = spec.fecha_desde;
        d.window_to = spec.fecha_hasta;
        d.error_phase = failure.map(ErrorCategory::phase);
        d.error_category = *failure;
        d.error_message = failure.map(|c| format!("{c} on {store}"));
        tracker.insert_detail(&d).await.unwrap();
    }
    if status != ExecutionStatus::Running {
        let mut finish = execution_finish(id, status, ended);
        finish.finished_at = ended;
        if status != ExecutionStatus::Success {
            finish.error_phase = Some(Phase::Extract);
            finish.error_category = Some(ErrorCategory::Interrupted);
            finish.error_message = Some("the run was interrupted".into());
        }
        tracker.finish_execution(&finish).await.unwrap();
    }
    id
}

/// A sales execution over `stores` with the window `[from, to)`.
fn sales(stores: &[&str], from: &str, to: &str, started: DateTime<Utc>) -> NewExecution {
    NewExecution {
        fecha_desde: Some(at(from)),
        fecha_hasta: Some(at(to)),
        ..new_execution(started, stores)
    }
}

async fn attempts_are_the_store_results_and_the_unrecorded_stores_of_failed_runs(db: &TestDb) {
    let tracker = db.destination.tracker_store();
    let (since, until) = (at("2025-11-17 00:00"), at("2025-11-18 00:00"));
    let ended = at("2025-11-17 12:00");
    let window = ("2025-11-17 04:00", "2025-11-18 04:00");
    let partial = execution(
        tracker.as_ref(),
        sales(
            &["tienda_01", "tienda_02", "tienda_03"],
            window.0,
            window.1,
            ended - Duration::minutes(10),
        ),
        &[
            ("tienda_01", StoreStatus::Success, None),
            (
                "tienda_02",
                StoreStatus::Failed,
                Some(ErrorCategory::Deadlock),
            ),
            ("tienda_03", StoreStatus::Skipped, None),
        ],
        ExecutionStatus::Partial,
        ended,
    )
    .await;
    // Killed after tienda_01: tienda_04 has no detail, and counts as failed.
    let killed = execution(
        tracker.as_ref(),
        sales(&["tienda_01", "tienda_04"], window.0, window.1, ended),
        &[(
            "tienda_01",
            StoreStatus::Failed,
            Some(ErrorCategory::ApiTimeout),
        )],
        ExecutionStatus::Failed,
        ended + Duration::hours(1),
    )
    .await;
    let mut inventory = new_execution(ended, &["tienda_01", "tienda_05"]);
    inventory.etl_name = DataKind::Inventory;
    let inventory = execution(
        tracker.as_ref(),
        inventory,
        &[("tienda_01", StoreStatus::Success, None)],
        ExecutionStatus::Partial,
        ended,
    )
    .await;
    // Not attempts of the period: still running, a success without details, ended outside.
    execution(
        tracker.as_ref(),
        new_execution(ended, &["tienda_06"]),
        &[],
        ExecutionStatus::Running,
        ended,
    )
    .await;
    execution(
        tracker.as_ref(),
        new_execution(ended, &["tienda_07"]),
        &[],
        ExecutionStatus::Success,
        ended,
    )
    .await;
    execution(
        tracker.as_ref(),
        new_execution(ended, &["tienda_01", "tienda_08"]),
        &[(
            "tienda_01",
            StoreStatus::Failed,
            Some(ErrorCategory::VpnTimeout),
        )],
        ExecutionStatus::Failed,
        until + Duration::seconds(1),
    )
    .await;

    let mut got = gaps(db)
        .attempts(DataKind::Sales, since, until)
        .await
        .unwrap();
    got.sort_by(|a, b| (a.execution_id, &a.store_id).cmp(&(b.execution_id, &b.store_id)));
    let detail_ids: Vec<bool> = got.iter().map(|a| a.detail_id.is_some()).collect();
    assert_eq!(detail_ids, [true, true, true, false]);
    let detail = |execution_id: i64,
                  store: &str,
                  ok: bool,
                  failure: Option<ErrorCategory>,
                  ended: DateTime<Utc>,
                  detail_id: Option<i64>| Attempt {
        execution_id,
        detail_id,
        store_id: StoreId::new(store),
        store_name: detail_id.map(|_| store.to_uppercase()),
        succeeded: ok,
        window_from: Some(at(window.0)),
        window_to: Some(at(window.1)),
        started_at: ended - Duration::minutes(5),
        finished_at: Some(ended),
        error_phase: failure.map(ErrorCategory::phase),
        error_category: failure,
        error_message: failure.map(|c| format!("{c} on {store}")),
    };
    let killed_at = ended + Duration::hours(1);
    let expected = vec![
        detail(partial, "tienda_01", true, None, ended, got[0].detail_id),
        detail(
            partial,
            "tienda_02",
            false,
            Some(ErrorCategory::Deadlock),
            ended,
            got[1].detail_id,
        ),
        detail(
            killed,
            "tienda_01",
            false,
            Some(ErrorCategory::ApiTimeout),
            killed_at,
            got[2].detail_id,
        ),
        Attempt {
            execution_id: killed,
            detail_id: None,
            store_id: StoreId::new("tienda_04"),
            store_name: None,
            succeeded: false,
            window_from: Some(at(window.0)),
            window_to: Some(at(window.1)),
            started_at: ended,
            finished_at: Some(killed_at),
            error_phase: Some(Phase::Extract),
            error_category: Some(ErrorCategory::Interrupted),
            error_message: Some("the run was interrupted".into()),
        },
    ];
    assert_eq!(got, expected);

    let mut inv = gaps(db)
        .attempts(DataKind::Inventory, since, until)
        .await
        .unwrap();
    inv.sort_by(|a, b| a.store_id.cmp(&b.store_id));
    let stores: Vec<_> = inv
        .iter()
        .map(|a| (a.execution_id, a.store_id.as_str(), a.succeeded))
        .collect();
    assert_eq!(
        stores,
        [
            (inventory, "tienda_01", true),
            (inventory, "tienda_05", false)
        ]
    );
    assert_eq!((inv[0].window_from, inv[1].window_from), (None, None));

    assert!(gaps(db)
        .attempts(
            DataKind::Sales,
            until + Duration::days(1),
            until + Duration::days(2)
        )
        .await
        .unwrap()
        .is_empty());
}

async fn day_counts_are_read_per_store_and_day(db: &TestDb) {
    let next = day().succ_opt().unwrap();
    let w = window(8, 12);
    load_sales(db, "tienda_01", w, lines_in("tienda_01", w, 12)).await;
    load_sales(db, "tienda_02", w, lines_in("tienda_02", w, 3)).await;
    let evening = Window::new(
        next.and_hms_opt(18, 0, 0).unwrap(),
        next.and_hms_opt(20, 0, 0).unwrap(),
    )
    .unwrap();
    // Other invoices than the morning's: a key names one line wherever it was sold.
    let evening_lines = (0..5)
        .map(|i| {
            line(
                "tienda_01",
                1000 + i,
                1,
                next.and_hms_opt(18, i, 0).unwrap(),
                "1",
            )
        })
        .collect();
    load_sales(db, "tienda_01", evening, evening_lines).await;
    db.execute(
        "INSERT INTO inventory_daily_counts (store_id, day, records) \
         VALUES ('tienda_01', '2025-11-17', 120), ('tienda_03', '2025-11-16', 7)",
    )
    .await;

    let counts = |mut v: Vec<DayCount>| {
        v.sort_by(|a, b| (&a.store_id, a.day).cmp(&(&b.store_id, b.day)));
        v.into_iter()
            .map(|c| (c.store_id.to_string(), c.day, c.records))
            .collect::<Vec<(String, NaiveDate, i64)>>()
    };
    let store = gaps(db);
    assert_eq!(
        counts(store.daily_counts(DataKind::Sales).await.unwrap()),
        [
            ("tienda_01".to_owned(), day(), 12),
            ("tienda_01".to_owned(), next, 5),
            ("tienda_02".to_owned(), day(), 3),
        ]
    );
    assert_eq!(
        counts(store.daily_counts(DataKind::Inventory).await.unwrap()),
        [
            ("tienda_01".to_owned(), day(), 120),
            ("tienda_03".to_owned(), "2025-11-16".parse().unwrap(), 7),
        ]
    );
}

async fn hour_counts_are_per_store_and_utc_hour_in_the_period(db: &TestDb) {
    // 08:00–08:59 and 09:00–09:29 store-local (UTC−4): 12:00 and 13:00 UTC.
    let w = window(8, 10);
    let lines: Vec<_> = (0..90)
        .map(|i| {
            line(
                "tienda_01",
                i,
                1,
                local(8, 0) + Duration::minutes(i64::from(i)),
                "1",
            )
        })
        .collect();
    load_sales(db, "tienda_01", w, lines).await;
    load_sales(db, "tienda_02", w, lines_in("tienda_02", w, 4)).await;

    let mut got = gaps(db)
        .hourly_sales(local_to_utc(local(8, 30)), local_to_utc(local(9, 15)))
        .await
        .unwrap();
    got.sort_by(|a, b| (&a.store_id, a.hour).cmp(&(&b.store_id, b.hour)));
    let hour = |h: u32| local_to_utc(local(h, 0));
    assert_eq!(
        got,
        [
            HourCount {
                store_id: StoreId::new("tienda_01"),
                hour: hour(8),
                records: 30,
            },
            HourCount {
                store_id: StoreId::new("tienda_01"),
                hour: hour(9),
                records: 15,
            },
        ],
        "from is included, to is not; tienda_02 sold at 08:00–08:03 only"
    );
    assert_eq!(
        hour(8),
        at("2025-11-17 12:00"),
        "the hours are UTC instants"
    );
}

on_both_backends!(
    attempts_are_the_store_results_and_the_unrecorded_stores_of_failed_runs,
    day_counts_are_read_per_store_and_day,
    hour_counts_are_per_store_and_utc_hour_in_the_period,
);
