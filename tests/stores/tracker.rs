//! The [`TrackerStore`] contract: `etl_executions` and `etl_execution_details` written and read
//! back the same on both backends.

use std::sync::Arc;

use chrono::{Duration, NaiveDate, Utc};
use fluxion_etl::model::{DataKind, SourceSystem};
use fluxion_etl::tracker::{
    ErrorCategory, ErrorSource, ExecutionStatus, HistoryFilter, Phase, RunMode, StoreStatus,
    TrackerStore, TriggeredBy,
};

use super::{at, execution_finish, new_execution, on_both_backends, store_detail};
use crate::common::db::TestDb;

fn store(db: &TestDb) -> Arc<dyn TrackerStore> {
    db.destination.tracker_store()
}

/// Every `TriggeredBy` (the match fails to compile when one is added).
fn all_triggers() -> [TriggeredBy; 5] {
    let all = [
        TriggeredBy::Eventbridge,
        TriggeredBy::FluxionAdmin,
        TriggeredBy::Cli,
        TriggeredBy::Recovery,
        TriggeredBy::Scheduler,
    ];
    for t in all {
        match t {
            TriggeredBy::Eventbridge
            | TriggeredBy::FluxionAdmin
            | TriggeredBy::Cli
            | TriggeredBy::Recovery
            | TriggeredBy::Scheduler => {}
        }
    }
    all
}

async fn an_execution_and_its_details_read_back_as_written(db: &TestDb) {
    let store = store(db);
    let t0 = at("2025-11-17 04:00");
    let failed = store
        .insert_execution(&new_execution(t0, &["tienda_01"]))
        .await
        .unwrap();
    let mut spec = new_execution(t0 + Duration::hours(1), &["tienda_01", "tienda_02"]);
    spec.etl_name = DataKind::Inventory;
    spec.etl_type = "recovery".into();
    spec.mode = RunMode::Recovery;
    spec.triggered_by = TriggeredBy::Recovery;
    spec.fecha_desde = Some(at("2025-11-16 04:00"));
    spec.fecha_hasta = Some(at("2025-11-17 04:00"));
    spec.source_system = Some("mixed".into());
    spec.is_recovery = true;
    spec.recovered_gap_id = Some(failed);
    spec.host = Some("etl-01".into());
    let id = store.insert_execution(&spec).await.unwrap();
    assert!(id > failed, "ids grow");

    let running = store.execution(id).await.unwrap().unwrap();
    assert_eq!(running.status, ExecutionStatus::Running);
    assert_eq!(running.finished_at, None);
    assert!(running.tiendas_detail.is_empty());

    let started = spec.started_at;
    let mut ok = store_detail(id, "tienda_01", StoreStatus::Success, started);
    ok.etl_name = DataKind::Inventory;
    ok.server_ip = Some("10.20.0.12".into());
    ok.server_port = Some(8443);
    ok.connection_latency_ms = Some(3.456);
    ok.duration_seconds = 12.34;
    let mut ko = store_detail(id, "tienda_02", StoreStatus::Failed, started);
    ko.etl_name = DataKind::Inventory;
    ko.source_system = Some(SourceSystem::Stellar);
    ko.error_phase = Some(Phase::Extract);
    ko.error_category = Some(ErrorCategory::VpnTimeout);
    ko.error_message = Some("no answer from 10.20.0.13".into());
    ko.error_retryable = Some(true);
    // Inserted out of order: the view lists stores by id.
    store.insert_detail(&ko).await.unwrap();
    store.insert_detail(&ok).await.unwrap();

    let mut finish = execution_finish(id, ExecutionStatus::Partial, started);
    finish.duration_seconds = 601.5;
    finish.tiendas_fallidas = 1;
    finish.extract_duration_seconds = 10.25;
    finish.transform_duration_seconds = 0.5;
    finish.load_duration_seconds = 2.75;
    finish.api_errors_count = 1;
    finish.error_phase = Some(Phase::Extract);
    finish.error_category = Some(ErrorCategory::VpnTimeout);
    finish.error_source = Some(ErrorSource::StellarDb);
    finish.error_message = Some("1 of 2 stores failed".into());
    finish.error_detail = Some("tienda_02 [extract/vpn_timeout]: no answer".into());
    finish.network_diagnostics = Some(serde_json::json!({
        "tienda_01": {"ip": "10.20.0.12", "port": 8443, "latency_ms": 3.46}
    }));
    store.set_gaps_recovered(id, 3).await.unwrap();
    store.finish_execution(&finish).await.unwrap();

    let v = store.execution(id).await.unwrap().unwrap();
    assert_eq!(v.id, id);
    assert_eq!(v.etl_name, DataKind::Inventory);
    assert_eq!(v.etl_type.as_deref(), Some("recovery"));
    assert_eq!(v.mode, Some(RunMode::Recovery));
    assert_eq!(v.started_at, started);
    assert_eq!(v.finished_at, Some(finish.finished_at));
    assert_eq!(v.duration_seconds, Some(601.5));
    assert_eq!(v.fecha_desde, spec.fecha_desde);
    assert_eq!(v.fecha_hasta, spec.fecha_hasta);
    assert_eq!(v.status, ExecutionStatus::Partial);
    assert_eq!(
        (v.records_extracted, v.records_loaded, v.duplicates_skipped),
        (10, 8, 2)
    );
    assert_eq!(v.gaps_recovered, 3);
    assert_eq!(v.extract_duration_seconds, Some(10.25));
    assert_eq!(v.transform_duration_seconds, Some(0.5));
    assert_eq!(v.load_duration_seconds, Some(2.75));
    assert_eq!(v.error_phase, Some(Phase::Extract));
    assert_eq!(v.error_category, Some(ErrorCategory::VpnTimeout));
    assert_eq!(v.error_source, Some(ErrorSource::StellarDb));
    assert_eq!(v.error_message, finish.error_message);
    assert_eq!(v.error_detail, finish.error_detail);
    assert_eq!(v.triggered_by, TriggeredBy::Recovery);
    assert_eq!(v.source_system.as_deref(), Some("mixed"));
    assert!(v.is_recovery);
    assert_eq!(v.recovered_gap_id, Some(failed));
    assert_eq!(
        (v.api_requests_count, v.api_errors_count),
        (Some(3), Some(1))
    );
    assert_eq!(v.network_diagnostics, finish.network_diagnostics);

    let stores: Vec<&str> = v
        .tiendas_detail
        .iter()
        .map(|d| d.tienda_id.as_str())
        .collect();
    assert_eq!(stores, ["tienda_01", "tienda_02"]);
    let d = &v.tiendas_detail[0];
    assert_eq!(d.tienda_nombre.as_deref(), Some("TIENDA_01"));
    assert_eq!(d.source_system, Some(SourceSystem::Klk));
    assert_eq!(d.status, StoreStatus::Success);
    assert_eq!(d.started_at, Some(ok.started_at));
    assert_eq!(d.finished_at, Some(ok.finished_at));
    assert_eq!(d.duration_seconds, Some(12.34));
    assert_eq!(
        (
            d.records_extracted,
            d.records_loaded,
            d.duplicates_skipped,
            d.records_inserted,
            d.records_updated,
            d.records_deleted
        ),
        (10, 8, 2, 6, 2, 1)
    );
    assert_eq!((d.error_phase, d.error_category), (None, None));
    assert_eq!(d.server_ip.as_deref(), Some("10.20.0.12"));
    assert_eq!(d.server_port, Some(8443));
    assert_eq!(
        d.connection_latency_ms,
        Some(3.46),
        "DECIMAL(10,2) on both backends"
    );
    let d = &v.tiendas_detail[1];
    assert_eq!(d.source_system, Some(SourceSystem::Stellar));
    assert_eq!(d.status, StoreStatus::Failed);
    assert_eq!(d.error_phase, Some(Phase::Extract));
    assert_eq!(d.error_category, Some(ErrorCategory::VpnTimeout));
    assert_eq!(d.error_message, ko.error_message);
    assert_eq!(d.server_port, None);

    let h = store.history(&HistoryFilter::default()).await.unwrap();
    assert_eq!(h.len(), 2);
    let e = &h[0];
    assert_eq!(e.id, id);
    assert_eq!(e.etl_name, DataKind::Inventory);
    assert_eq!(e.etl_type.as_deref(), Some("recovery"));
    assert_eq!(e.started_at, started);
    assert_eq!(e.finished_at, Some(finish.finished_at));
    assert_eq!(e.duration_seconds, Some(601.5));
    assert_eq!(e.status, ExecutionStatus::Partial);
    assert_eq!(
        (e.tiendas_count, e.tiendas_exitosas, e.tiendas_fallidas),
        (2, 1, 1)
    );
    assert_eq!(e.error_phase, Some(Phase::Extract));
    assert_eq!(e.error_category, Some(ErrorCategory::VpnTimeout));
    assert_eq!(e.triggered_by, TriggeredBy::Recovery);
    assert!(e.is_recovery);
    assert_eq!(h[1].status, ExecutionStatus::Running);
    assert!(!h[1].is_recovery);

    assert!(store.execution(id + 1000).await.unwrap().is_none());
}

async fn every_stored_value_round_trips(db: &TestDb) {
    let store = store(db);
    let t0 = at("2025-11-17 04:00");
    let mut ids = Vec::new();
    for (i, trigger) in all_triggers().into_iter().enumerate() {
        let mut spec = new_execution(t0 + Duration::minutes(i as i64), &["tienda_01"]);
        spec.triggered_by = trigger;
        spec.mode = [RunMode::Full, RunMode::Incremental, RunMode::Recovery][i % 3];
        spec.etl_name = [DataKind::Sales, DataKind::Inventory][i % 2];
        let id = store.insert_execution(&spec).await.unwrap();
        let v = store.execution(id).await.unwrap().unwrap();
        assert_eq!(
            (v.triggered_by, v.mode, v.etl_name),
            (trigger, Some(spec.mode), spec.etl_name)
        );
        ids.push(id);
    }

    let statuses = [
        ExecutionStatus::Running,
        ExecutionStatus::Success,
        ExecutionStatus::Partial,
        ExecutionStatus::Failed,
    ];
    let sources = [
        ErrorSource::KlkApi,
        ErrorSource::StellarDb,
        ErrorSource::Postgresql,
        ErrorSource::Sqlite,
        ErrorSource::Pipeline,
    ];
    for (i, &id) in ids.iter().enumerate() {
        let status = statuses[i % statuses.len()];
        let mut finish = execution_finish(id, status, t0);
        finish.error_phase = Some(Phase::ALL[i % 3]);
        finish.error_source = Some(sources[i]);
        store.finish_execution(&finish).await.unwrap();
        let v = store.execution(id).await.unwrap().unwrap();
        assert_eq!(
            (v.status, v.error_phase, v.error_source),
            (status, finish.error_phase, finish.error_source)
        );
    }

    // Every category (with its phase) and every store status, as details of one execution.
    let id = ids[0];
    for (i, &category) in ErrorCategory::ALL.iter().enumerate() {
        let mut d = store_detail(id, &format!("c{i:02}"), StoreStatus::Failed, t0);
        d.error_phase = Some(category.phase());
        d.error_category = Some(category);
        d.source_system = Some([SourceSystem::Klk, SourceSystem::Stellar][i % 2]);
        store.insert_detail(&d).await.unwrap();
    }
    for (i, status) in [
        StoreStatus::Success,
        StoreStatus::Failed,
        StoreStatus::Skipped,
    ]
    .into_iter()
    .enumerate()
    {
        let d = store_detail(id, &format!("s{i}"), status, t0);
        store.insert_detail(&d).await.unwrap();
    }
    let v = store.execution(id).await.unwrap().unwrap();
    let categories: Vec<_> = v
        .tiendas_detail
        .iter()
        .filter_map(|d| d.error_category.map(|c| (c, d.error_phase)))
        .collect();
    let expected: Vec<_> = ErrorCategory::ALL
        .iter()
        .map(|&c| (c, Some(c.phase())))
        .collect();
    assert_eq!(categories, expected);
    let systems: Vec<_> = v
        .tiendas_detail
        .iter()
        .take(2)
        .map(|d| d.source_system)
        .collect();
    assert_eq!(
        systems,
        [Some(SourceSystem::Klk), Some(SourceSystem::Stellar)]
    );
    let statuses: Vec<_> = v
        .tiendas_detail
        .iter()
        .filter(|d| d.tienda_id.starts_with('s'))
        .map(|d| d.status)
        .collect();
    assert_eq!(
        statuses,
        [
            StoreStatus::Success,
            StoreStatus::Failed,
            StoreStatus::Skipped
        ]
    );
}

async fn an_unknown_stored_value_is_an_error_that_names_it(db: &TestDb) {
    let store = store(db);
    let t0 = at("2025-11-17 04:00");
    let id = store
        .insert_execution(&new_execution(t0, &["tienda_01"]))
        .await
        .unwrap();
    let d = store_detail(id, "tienda_01", StoreStatus::Failed, t0);
    store.insert_detail(&d).await.unwrap();

    // Neither column has a CHECK constraint: a hand edit (or a newer Fluxion) can put anything.
    db.execute("UPDATE etl_execution_details SET error_category = 'cosmic_rays'")
        .await;
    let err = store.execution(id).await.unwrap_err().to_string();
    assert!(
        err.contains("error_category")
            && err.contains("`cosmic_rays` is not a known error category"),
        "{err}"
    );

    db.execute("UPDATE etl_executions SET triggered_by = 'cron'")
        .await;
    let err = store
        .history(&HistoryFilter::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("triggered_by") && err.contains("`cron` is not a known trigger"),
        "{err}"
    );
}

/// Six executions over three days: (kind, status, trigger, start).
async fn seed_history(store: &dyn TrackerStore) -> Vec<i64> {
    let rows = [
        (
            DataKind::Sales,
            ExecutionStatus::Success,
            TriggeredBy::Scheduler,
            "2025-11-15 05:00",
        ),
        (
            DataKind::Inventory,
            ExecutionStatus::Failed,
            TriggeredBy::Cli,
            "2025-11-15 23:59",
        ),
        (
            DataKind::Sales,
            ExecutionStatus::Partial,
            TriggeredBy::Scheduler,
            "2025-11-16 05:00",
        ),
        (
            DataKind::Sales,
            ExecutionStatus::Failed,
            TriggeredBy::FluxionAdmin,
            "2025-11-16 05:00",
        ),
        (
            DataKind::Inventory,
            ExecutionStatus::Success,
            TriggeredBy::Scheduler,
            "2025-11-17 00:00",
        ),
        (
            DataKind::Sales,
            ExecutionStatus::Running,
            TriggeredBy::Cli,
            "2025-11-17 06:00",
        ),
    ];
    let mut ids = Vec::new();
    for (kind, status, trigger, start) in rows {
        let mut spec = new_execution(at(start), &["tienda_01"]);
        spec.etl_name = kind;
        spec.triggered_by = trigger;
        let id = store.insert_execution(&spec).await.unwrap();
        if status != ExecutionStatus::Running {
            store
                .finish_execution(&execution_finish(id, status, spec.started_at))
                .await
                .unwrap();
        }
        ids.push(id);
    }
    ids
}

async fn history_filters_orders_and_pages(db: &TestDb) {
    let store = store(db);
    let ids = seed_history(store.as_ref()).await;
    let listed = |filter: HistoryFilter| {
        let store = store.clone();
        async move {
            store
                .history(&filter)
                .await
                .unwrap()
                .iter()
                .map(|e| e.id)
                .collect::<Vec<i64>>()
        }
    };
    // Newest first; equal starts newest id first.
    assert_eq!(
        listed(HistoryFilter::default()).await,
        [ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]]
    );
    assert_eq!(
        listed(HistoryFilter {
            etl_name: Some(DataKind::Inventory),
            ..HistoryFilter::default()
        })
        .await,
        [ids[4], ids[1]]
    );
    assert_eq!(
        listed(HistoryFilter {
            status: Some(ExecutionStatus::Failed),
            ..HistoryFilter::default()
        })
        .await,
        [ids[3], ids[1]]
    );
    assert_eq!(
        listed(HistoryFilter {
            triggered_by: Some(TriggeredBy::Scheduler),
            ..HistoryFilter::default()
        })
        .await,
        [ids[4], ids[2], ids[0]]
    );
    let day = |s: &str| s.parse::<NaiveDate>().unwrap();
    // Both bounds are whole UTC days, inclusive.
    assert_eq!(
        listed(HistoryFilter {
            fecha_desde: Some(day("2025-11-16")),
            ..HistoryFilter::default()
        })
        .await,
        [ids[5], ids[4], ids[3], ids[2]]
    );
    assert_eq!(
        listed(HistoryFilter {
            fecha_hasta: Some(day("2025-11-16")),
            ..HistoryFilter::default()
        })
        .await,
        [ids[3], ids[2], ids[1], ids[0]]
    );
    assert_eq!(
        listed(HistoryFilter {
            etl_name: Some(DataKind::Sales),
            status: Some(ExecutionStatus::Failed),
            fecha_desde: Some(day("2025-11-16")),
            fecha_hasta: Some(day("2025-11-16")),
            triggered_by: Some(TriggeredBy::FluxionAdmin),
            ..HistoryFilter::default()
        })
        .await,
        [ids[3]]
    );
    assert_eq!(
        listed(HistoryFilter {
            limit: Some(2),
            offset: Some(1),
            ..HistoryFilter::default()
        })
        .await,
        [ids[4], ids[3]]
    );
    assert_eq!(
        listed(HistoryFilter {
            limit: Some(0),
            ..HistoryFilter::default()
        })
        .await,
        [ids[5]],
        "the limit is at least one"
    );
}

async fn close_running_closes_the_old_running_ones_as_interrupted(db: &TestDb) {
    let store = store(db);
    let now = Utc::now();
    let old = store
        .insert_execution(&new_execution(now - Duration::hours(3), &["a", "b", "c"]))
        .await
        .unwrap();
    store
        .insert_detail(&store_detail(
            old,
            "a",
            StoreStatus::Success,
            now - Duration::hours(3),
        ))
        .await
        .unwrap();
    let young = store
        .insert_execution(&new_execution(now - Duration::minutes(5), &["a"]))
        .await
        .unwrap();
    let done = store
        .insert_execution(&new_execution(now - Duration::hours(4), &["a"]))
        .await
        .unwrap();
    store
        .finish_execution(&execution_finish(
            done,
            ExecutionStatus::Success,
            now - Duration::hours(4),
        ))
        .await
        .unwrap();

    let closed = store
        .close_running(
            Some(now - Duration::hours(1)),
            "killed; password=hunter2 at postgres://u:hunter2@db/x",
        )
        .await
        .unwrap();
    assert_eq!(closed, 1);
    let v = store.execution(old).await.unwrap().unwrap();
    assert_eq!(v.status, ExecutionStatus::Failed);
    assert_eq!(v.error_category, Some(ErrorCategory::Interrupted));
    assert_eq!(v.error_phase, Some(Phase::Extract));
    assert_eq!(v.error_source, Some(ErrorSource::Pipeline));
    assert!(v.finished_at.is_some());
    let message = v.error_message.unwrap();
    assert!(
        message.starts_with("killed") && !message.contains("hunter2"),
        "{message}"
    );
    let h = store.history(&HistoryFilter::default()).await.unwrap();
    let line = h.iter().find(|e| e.id == old).unwrap();
    assert_eq!(
        (line.tiendas_exitosas, line.tiendas_fallidas),
        (0, 3),
        "every store not counted as a success failed"
    );
    assert_eq!(
        store.execution(young).await.unwrap().unwrap().status,
        ExecutionStatus::Running
    );
    assert_eq!(
        store.execution(done).await.unwrap().unwrap().status,
        ExecutionStatus::Success
    );

    assert_eq!(store.close_running(None, "shutdown").await.unwrap(), 1);
    assert_eq!(
        store.execution(young).await.unwrap().unwrap().status,
        ExecutionStatus::Failed
    );
    assert_eq!(store.close_running(None, "again").await.unwrap(), 0);
}

async fn purge_deletes_old_closed_executions_with_their_details(db: &TestDb) {
    let store = store(db);
    let now = Utc::now();
    let start = |days: i64| now - Duration::days(days);
    let old = store
        .insert_execution(&new_execution(start(100), &["a"]))
        .await
        .unwrap();
    store
        .insert_detail(&store_detail(old, "a", StoreStatus::Success, start(100)))
        .await
        .unwrap();
    store
        .finish_execution(&execution_finish(old, ExecutionStatus::Success, start(100)))
        .await
        .unwrap();
    let old_running = store
        .insert_execution(&new_execution(start(100), &["a"]))
        .await
        .unwrap();
    let recent = store
        .insert_execution(&new_execution(start(10), &["a"]))
        .await
        .unwrap();
    store
        .finish_execution(&execution_finish(
            recent,
            ExecutionStatus::Failed,
            start(10),
        ))
        .await
        .unwrap();

    assert_eq!(store.purge(start(90)).await.unwrap(), 1);
    assert!(store.execution(old).await.unwrap().is_none());
    assert!(store.execution(old_running).await.unwrap().is_some());
    assert!(store.execution(recent).await.unwrap().is_some());
    let ids: Vec<i64> = store
        .history(&HistoryFilter::default())
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, [recent, old_running]);
    assert_eq!(store.purge(start(90)).await.unwrap(), 0);
}

async fn stats_aggregate_a_period_of_one_or_every_kind(db: &TestDb) {
    let store = store(db);
    let now = Utc::now();
    let ago = |hours: i64| now - Duration::hours(hours);
    // (kind, status, duration, failures (store, category) with the execution's dominant one first)
    type Failures = &'static [(&'static str, ErrorCategory)];
    let runs: [(DataKind, ExecutionStatus, f64, Failures); 5] = [
        (DataKind::Sales, ExecutionStatus::Success, 10.0, &[]),
        (
            DataKind::Sales,
            ExecutionStatus::Partial,
            20.0,
            &[("tienda_08", ErrorCategory::VpnTimeout)],
        ),
        (
            DataKind::Sales,
            ExecutionStatus::Failed,
            30.0,
            &[
                ("tienda_08", ErrorCategory::Deadlock),
                ("tienda_02", ErrorCategory::ApiError),
            ],
        ),
        (
            DataKind::Inventory,
            ExecutionStatus::Failed,
            41.0,
            &[("tienda_08", ErrorCategory::VpnTimeout)],
        ),
        (DataKind::Sales, ExecutionStatus::Running, 0.0, &[]),
    ];
    for (i, (kind, status, duration, failures)) in runs.iter().enumerate() {
        let started = ago(10 - i as i64);
        let mut spec = new_execution(started, &["tienda_01", "tienda_02", "tienda_08"]);
        spec.etl_name = *kind;
        let id = store.insert_execution(&spec).await.unwrap();
        let mut ok = store_detail(id, "tienda_01", StoreStatus::Success, started);
        ok.tienda_nombre = Some("PERIFERICO".into());
        store.insert_detail(&ok).await.unwrap();
        for (store_id, category) in failures.iter() {
            let mut d = store_detail(id, store_id, StoreStatus::Failed, started);
            d.error_phase = Some(category.phase());
            d.error_category = Some(*category);
            store.insert_detail(&d).await.unwrap();
        }
        if *status != ExecutionStatus::Running {
            let mut finish = execution_finish(id, *status, started);
            finish.duration_seconds = *duration;
            finish.records_loaded = 100;
            finish.duplicates_skipped = 1;
            if let Some((_, category)) = failures.first() {
                finish.error_phase = Some(category.phase());
                finish.error_category = Some(*category);
            }
            store.finish_execution(&finish).await.unwrap();
        }
    }
    // Outside every period below.
    let mut old = new_execution(now - Duration::days(40), &["tienda_09"]);
    old.etl_name = DataKind::Sales;
    let old = store.insert_execution(&old).await.unwrap();
    let mut d = store_detail(
        old,
        "tienda_09",
        StoreStatus::Failed,
        now - Duration::days(40),
    );
    d.error_category = Some(ErrorCategory::DiskFull);
    store.insert_detail(&d).await.unwrap();
    store
        .finish_execution(&execution_finish(
            old,
            ExecutionStatus::Failed,
            now - Duration::days(40),
        ))
        .await
        .unwrap();

    let s = store.stats(30, None).await.unwrap();
    assert_eq!(s.total_executions, 5);
    assert_eq!((s.successful, s.partial, s.failed), (1, 1, 2));
    assert_eq!(s.success_rate, 25.0);
    assert_eq!(
        s.avg_duration_seconds, 25.25,
        "running executions have none"
    );
    assert_eq!(s.total_records_loaded, 400);
    assert_eq!(s.total_duplicates, 4);
    assert_eq!(
        s.errors_by_phase.into_iter().collect::<Vec<_>>(),
        [("extract".to_owned(), 2), ("load".to_owned(), 1)]
    );
    assert_eq!(
        s.errors_by_category.into_iter().collect::<Vec<_>>(),
        [("deadlock".to_owned(), 1), ("vpn_timeout".to_owned(), 2)]
    );
    let worst: Vec<_> = s
        .tiendas_con_mas_fallos
        .iter()
        .map(|f| {
            (
                f.tienda_id.as_str(),
                f.total_ejecuciones,
                f.fallos,
                f.error_mas_comun,
            )
        })
        .collect();
    assert_eq!(
        worst,
        [
            ("tienda_08", 3, 3, Some(ErrorCategory::VpnTimeout)),
            ("tienda_02", 1, 1, Some(ErrorCategory::ApiError)),
        ]
    );

    let sales = store.stats(30, Some(DataKind::Sales)).await.unwrap();
    assert_eq!(sales.total_executions, 4);
    assert_eq!((sales.successful, sales.partial, sales.failed), (1, 1, 1));
    assert_eq!(
        sales.tiendas_con_mas_fallos[0].error_mas_comun,
        Some(ErrorCategory::Deadlock),
        "a tie goes to the alphabetically first category"
    );
    let inventory = store.stats(30, Some(DataKind::Inventory)).await.unwrap();
    assert_eq!((inventory.total_executions, inventory.failed), (1, 1));
    assert_eq!(inventory.tiendas_con_mas_fallos.len(), 1);

    let since_yesterday = store.stats(1, None).await.unwrap();
    assert_eq!(since_yesterday.total_executions, 5);
    let recent = store.stats(0, None).await.unwrap();
    assert_eq!(recent.total_executions, 0);
    assert_eq!(recent.success_rate, 0.0);
}

on_both_backends!(
    an_execution_and_its_details_read_back_as_written,
    every_stored_value_round_trips,
    an_unknown_stored_value_is_an_error_that_names_it,
    history_filters_orders_and_pages,
    close_running_closes_the_old_running_ones_as_interrupted,
    purge_deletes_old_closed_executions_with_their_details,
    stats_aggregate_a_period_of_one_or_every_kind,
);
