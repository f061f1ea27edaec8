//! The library's metrics, emitted through the [`metrics`](https://docs.rs/metrics) facade where
//! the work happens: the runner counts each extracted batch, the execution tracker each store's
//! outcome and each execution's end. Nothing is recorded until the embedding program installs a
//! recorder (`fluxion-server` installs a Prometheus one and serves it at `/metrics`); without
//! one every call is a no-op.
//!
//! | name | kind | labels | emitted |
//! | --- | --- | --- | --- |
//! | `fluxion_runs_total` | counter | `etl_name`, `status` | once per finished (or interrupted) execution |
//! | `fluxion_rows_total` | counter | `etl_name`, `kind` (`extracted`, `loaded`, `duplicates`) | `extracted` per batch; `loaded`, `duplicates` per committed store |
//! | `fluxion_phase_duration_seconds` | histogram | `etl_name`, `phase` | per finished store: its busy time in each phase |
//! | `fluxion_store_errors_total` | counter | `phase`, `category` | per failed store |
//! | `fluxion_last_success_timestamp_seconds` | gauge | `etl_name`, `store` | per successful store (Unix time); [`seed_last_success`] fills it from the history |
//! | `fluxion_runs_active` | gauge | — | up when an execution opens, down when it closes or is dropped |
//!
//! Label values come from small fixed sets (the kinds, statuses, phases, categories of the
//! taxonomy, the configured stores): never a message, never a per-row value.
//!
//! ```
//! use fluxion_etl_core::tracker::metrics;
//!
//! // An embedding program installs its recorder, then lets the library describe its metrics.
//! metrics::describe();
//! assert_eq!(metrics::RUNS_TOTAL, "fluxion_runs_total");
//! ```

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};

use super::{
    ErrorCategory, ExecutionStatus, HistoryFilter, Phase, StoreDetail, StoreStatus, TrackerStore,
};
use crate::model::DataKind;

/// Executions finished, by `etl_name` and final `status`.
pub const RUNS_TOTAL: &str = "fluxion_runs_total";
/// Rows by `etl_name` and `kind`: `extracted`, `loaded` (inserted or updated), `duplicates`.
pub const ROWS_TOTAL: &str = "fluxion_rows_total";
/// Busy time of each finished store per `phase`, by `etl_name`.
pub const PHASE_DURATION_SECONDS: &str = "fluxion_phase_duration_seconds";
/// Failed stores by error `phase` and `category`.
pub const STORE_ERRORS_TOTAL: &str = "fluxion_store_errors_total";
/// When each `store` last finished a load of `etl_name` successfully (Unix time).
pub const LAST_SUCCESS_TIMESTAMP_SECONDS: &str = "fluxion_last_success_timestamp_seconds";
/// Executions open in this process.
pub const RUNS_ACTIVE: &str = "fluxion_runs_active";

/// Registers the help text of every metric with the installed recorder (call it after installing
/// one; calling it again is harmless).
pub fn describe() {
    describe_counter!(RUNS_TOTAL, "Executions finished, by final status.");
    describe_counter!(
        ROWS_TOTAL,
        "Rows: extracted (per batch), loaded (inserted or updated) and duplicates (unchanged), per committed store."
    );
    describe_histogram!(
        PHASE_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Busy time of each finished store in each phase."
    );
    describe_counter!(
        STORE_ERRORS_TOTAL,
        "Failed stores, by error phase and category."
    );
    describe_gauge!(
        LAST_SUCCESS_TIMESTAMP_SECONDS,
        "When each store last finished a load successfully (Unix time)."
    );
    describe_gauge!(
        RUNS_ACTIVE,
        "Executions in progress in this process (API, scheduler, anything else)."
    );
}

/// Rows of one extracted batch.
pub(crate) fn rows_extracted(kind: DataKind, n: u64) {
    rows(kind, "extracted", n);
}

fn rows(kind: DataKind, which: &'static str, n: u64) {
    counter!(ROWS_TOTAL, "etl_name" => kind.etl_name(), "kind" => which).increment(n);
}

/// A store's recorded outcome: its load counts and last-success time when it succeeded, its
/// error when it failed, and its busy time per phase unless it was skipped (it did no work).
pub(crate) fn store_finished(detail: &StoreDetail) {
    let kind = detail.etl_name;
    match detail.status {
        StoreStatus::Success => {
            rows(kind, "loaded", non_negative(detail.records_loaded));
            rows(kind, "duplicates", non_negative(detail.duplicates_skipped));
            last_success(kind, detail.tienda_id.as_str(), detail.finished_at);
        }
        StoreStatus::Failed => {
            let phase = detail.error_phase.map_or("unknown", Phase::as_str);
            let category = detail
                .error_category
                .map_or("unknown", ErrorCategory::as_str);
            counter!(STORE_ERRORS_TOTAL, "phase" => phase, "category" => category).increment(1);
        }
        StoreStatus::Skipped => return,
    }
    for (phase, seconds) in [
        (Phase::Extract, detail.extract_seconds),
        (Phase::Transform, detail.transform_seconds),
        (Phase::Load, detail.load_seconds),
    ] {
        histogram!(PHASE_DURATION_SECONDS, "etl_name" => kind.etl_name(), "phase" => phase.as_str())
            .record(seconds);
    }
}

fn last_success(kind: DataKind, store: &str, at: DateTime<Utc>) {
    gauge!(LAST_SUCCESS_TIMESTAMP_SECONDS, "etl_name" => kind.etl_name(), "store" => store.to_owned())
        .set(at.timestamp() as f64);
}

/// An execution closed with `status`.
pub(crate) fn run_finished(kind: DataKind, status: ExecutionStatus) {
    counter!(RUNS_TOTAL, "etl_name" => kind.etl_name(), "status" => status.as_str()).increment(1);
}

fn non_negative(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Counts an execution as active for as long as it lives: dropping it (an execution closed, or
/// abandoned by an error or a cancelled task) counts it down, so the gauge cannot drift.
#[derive(Debug)]
pub(crate) struct ActiveRun(());

impl ActiveRun {
    pub(crate) fn start() -> Self {
        gauge!(RUNS_ACTIVE).increment(1.0);
        Self(())
    }
}

impl Drop for ActiveRun {
    fn drop(&mut self) {
        gauge!(RUNS_ACTIVE).decrement(1.0);
    }
}

/// Fills `fluxion_last_success_timestamp_seconds` from the history, so a freshly started
/// process reports when each store last loaded (and not only the loads it ran itself). Reads the
/// newest [`HistoryFilter::MAX_LIMIT`] executions that had a successful store; returns how many
/// store series it set.
///
/// Call it before this process starts runs of its own: a store that finished while the history
/// was being read could otherwise be set back to its previous success.
pub async fn seed_last_success(store: &dyn TrackerStore) -> crate::Result<usize> {
    let filter = HistoryFilter {
        limit: Some(HistoryFilter::MAX_LIMIT),
        ..HistoryFilter::default()
    };
    let mut newest: HashMap<(DataKind, String), DateTime<Utc>> = HashMap::new();
    for entry in store.history(&filter).await? {
        if entry.tiendas_exitosas == 0 {
            continue;
        }
        let Some(view) = store.execution(entry.id).await? else {
            continue;
        };
        let kind = view.etl_name;
        for d in view
            .tiendas_detail
            .iter()
            .filter(|d| d.status == StoreStatus::Success)
        {
            let Some(at) = d.finished_at.or(view.finished_at) else {
                continue;
            };
            let e = newest.entry((kind, d.tienda_id.clone())).or_insert(at);
            *e = (*e).max(at);
        }
    }
    for ((kind, id), at) in &newest {
        last_success(*kind, id, *at);
    }
    Ok(newest.len())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::NaiveDate;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use metrics_util::{CompositeKey, MetricKind};

    use super::*;
    use crate::error::EtlError;
    use crate::model::{local_to_utc, Batch, SaleLine, StoreId, Window};
    use crate::pipeline::{
        Identity, LoadScope, LoadStats, LoadUnit, MockExtractor, MockLoadSession, MockLoader,
        Runner, RunnerOptions, StoreTask,
    };
    use crate::tracker::{
        ErrorSource, ExecutionTracker, MockTrackerStore, NewExecution, RunMode, StoreRef,
        TriggeredBy,
    };

    fn window() -> Window {
        let day = NaiveDate::from_ymd_opt(2026, 1, 25).unwrap();
        Window::new(
            day.and_hms_opt(8, 0, 0).unwrap(),
            day.and_hms_opt(12, 0, 0).unwrap(),
        )
        .unwrap()
    }

    fn lines(store: &str, n: usize) -> Vec<SaleLine> {
        (0..n)
            .map(|i| {
                let at = window().from + chrono::Duration::minutes(i as i64);
                SaleLine {
                    store_id: StoreId::new(store),
                    invoice_number: format!("C10-{i:06}").into(),
                    line_number: 1,
                    sold_at: local_to_utc(at),
                    business_date: at.date(),
                    product_code: "000001".into(),
                    ..SaleLine::default()
                }
            })
            .collect()
    }

    /// An extractor that hands out `batches` of `size` lines, then ends (or fails, for `fail`).
    fn extractor(store: &'static str, batches: usize, size: usize, fail: bool) -> MockExtractor {
        let mut e = MockExtractor::new();
        let mut left = batches;
        e.expect_next_batch().returning(move || {
            if left > 0 {
                left -= 1;
                return Ok(Some(Batch::Sales(lines(store, size))));
            }
            if fail {
                return Err(EtlError::new(
                    Phase::Extract,
                    ErrorCategory::ApiAuth,
                    ErrorSource::KlkApi,
                    "401 from the KLK API",
                ));
            }
            Ok(None)
        });
        e.expect_stats().returning(Default::default);
        e.expect_diagnostics().returning(|| None);
        e
    }

    fn task(store: &'static str, e: MockExtractor) -> StoreTask {
        StoreTask {
            store: StoreRef {
                id: store.into(),
                name: None,
                system: None,
            },
            unit: LoadUnit {
                store: StoreId::new(store),
                scope: LoadScope::SalesWindow(window()),
            },
            extractor: Box::new(e),
        }
    }

    /// Sessions that take every batch and commit them as inserted (7) and unchanged (the rest).
    fn loader() -> MockLoader {
        let mut l = MockLoader::new();
        l.expect_try_begin().returning(|_, _| {
            let mut s = MockLoadSession::new();
            let written = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let w = written.clone();
            s.expect_write().returning(move |b| {
                w.fetch_add(b.len() as u64, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            });
            s.expect_finish().returning(move |_| {
                let n = written.load(std::sync::atomic::Ordering::Relaxed);
                Ok(LoadStats {
                    received: n,
                    inserted: 7,
                    unchanged: n - 7,
                    ..LoadStats::default()
                })
            });
            s.expect_abort().returning(|| ());
            Ok(Some(Box::new(s)))
        });
        l
    }

    type Values = Vec<(
        CompositeKey,
        Option<::metrics::Unit>,
        Option<::metrics::SharedString>,
        DebugValue,
    )>;

    fn value<'a>(
        snapshot: &'a Values,
        kind: MetricKind,
        name: &str,
        labels: &[(&str, &str)],
    ) -> Option<&'a DebugValue> {
        snapshot.iter().find_map(|(key, _, _, value)| {
            let (k, key) = key.clone().into_parts();
            let same = k == kind
                && key.name() == name
                && key.labels().count() == labels.len()
                && labels
                    .iter()
                    .all(|(n, v)| key.labels().any(|l| l.key() == *n && l.value() == *v));
            same.then_some(value)
        })
    }

    fn counter(s: &Values, name: &str, labels: &[(&str, &str)]) -> u64 {
        match value(s, MetricKind::Counter, name, labels) {
            Some(DebugValue::Counter(n)) => *n,
            other => panic!("{name} {labels:?}: {other:?}"),
        }
    }

    /// A run of two stores, one of which fails after its first batch, emits each metric with
    /// the values of that run: per batch, per store, per execution.
    #[tokio::test(flavor = "current_thread")]
    async fn a_run_emits_its_batches_stores_and_end() {
        // A recorder of this thread only (the runtime is current-thread, so the run's tasks
        // emit here too): other tests in this process cannot add to these values.
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let _local = ::metrics::set_default_local_recorder(&recorder);

        let mut store = MockTrackerStore::new();
        store.expect_insert_execution().returning(|_| Ok(41));
        store.expect_insert_detail().returning(|_| Ok(()));
        store.expect_finish_execution().returning(|_| Ok(()));
        let spec = NewExecution {
            etl_name: DataKind::Sales,
            etl_type: "manual".into(),
            mode: RunMode::Full,
            triggered_by: TriggeredBy::Cli,
            started_at: Utc::now(),
            fecha_desde: None,
            fecha_hasta: None,
            tiendas: vec![StoreId::new("tienda_01"), StoreId::new("tienda_08")],
            source_system: Some("klk".into()),
            is_recovery: false,
            recovered_gap_id: None,
            host: None,
            version: "test".into(),
        };
        let tracker = ExecutionTracker::start_execution(Arc::new(store), spec)
            .await
            .unwrap();
        let runner = Runner::new(
            RunnerOptions::default(),
            Arc::new(Identity),
            Arc::new(loader()),
        );
        let cancel = crate::CancellationToken::new();
        runner
            .run(
                &tracker,
                vec![
                    task("tienda_01", extractor("tienda_01", 3, 10, false)),
                    task("tienda_08", extractor("tienda_08", 1, 4, true)),
                ],
                &cancel,
            )
            .await;
        let finish = tracker.finish_execution().await.unwrap();
        assert_eq!(finish.status, ExecutionStatus::Partial);

        // One snapshot: taking one resets the debugging recorder's values.
        let s = &snapshotter.snapshot().into_vec();
        let ventas = |kind| [("etl_name", "ventas"), ("kind", kind)];
        // Extracted: every batch of both stores, the failed one's included (as the history's
        // records_extracted counts them).
        assert_eq!(counter(s, ROWS_TOTAL, &ventas("extracted")), 34);
        assert_eq!(counter(s, ROWS_TOTAL, &ventas("loaded")), 7);
        assert_eq!(counter(s, ROWS_TOTAL, &ventas("duplicates")), 23);
        assert_eq!(
            counter(
                s,
                RUNS_TOTAL,
                &[("etl_name", "ventas"), ("status", "partial")]
            ),
            1
        );
        assert_eq!(
            counter(
                s,
                STORE_ERRORS_TOTAL,
                &[("phase", "extract"), ("category", "api_auth")]
            ),
            1
        );
        match value(
            s,
            MetricKind::Histogram,
            PHASE_DURATION_SECONDS,
            &[("etl_name", "ventas"), ("phase", "load")],
        ) {
            // One observation per finished store.
            Some(DebugValue::Histogram(v)) => assert_eq!(v.len(), 2),
            other => panic!("{other:?}"),
        }
        match value(
            s,
            MetricKind::Gauge,
            LAST_SUCCESS_TIMESTAMP_SECONDS,
            &[("etl_name", "ventas"), ("store", "tienda_01")],
        ) {
            Some(DebugValue::Gauge(at)) => {
                assert!((Utc::now().timestamp() as f64 - at.into_inner()).abs() < 60.0)
            }
            other => panic!("{other:?}"),
        }
        assert!(value(
            s,
            MetricKind::Gauge,
            LAST_SUCCESS_TIMESTAMP_SECONDS,
            &[("etl_name", "ventas"), ("store", "tienda_08")]
        )
        .is_none());
        // The execution was counted up when it opened and down when it closed.
        assert!(matches!(
            value(s, MetricKind::Gauge, RUNS_ACTIVE, &[]),
            Some(DebugValue::Gauge(g)) if g.into_inner() == 0.0
        ));
    }
}

#[cfg(test)]
mod seed_tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use serde_json::json;

    use super::*;
    use crate::tracker::{ExecutionView, HistoryEntry, MockTrackerStore};

    fn entry(id: i64, ok: i64) -> HistoryEntry {
        serde_json::from_value(json!({
            "id": id, "etl_name": "ventas", "etl_type": "manual",
            "started_at": "2026-01-26T10:00:00Z", "finished_at": "2026-01-26T10:01:00Z",
            "duration_seconds": 60.0, "status": "partial", "records_extracted": 1,
            "records_loaded": 1, "duplicates_skipped": 0, "tiendas_count": 2,
            "tiendas_exitosas": ok, "tiendas_fallidas": 2 - ok, "error_phase": null,
            "error_category": null, "triggered_by": "scheduler", "is_recovery": false
        }))
        .unwrap()
    }

    fn detail(store: &str, status: &str, finished_at: &str) -> serde_json::Value {
        json!({
            "tienda_id": store, "tienda_nombre": null, "source_system": "klk", "status": status,
            "started_at": null, "finished_at": finished_at, "duration_seconds": 1.0,
            "records_extracted": 1, "records_loaded": 1, "duplicates_skipped": 0,
            "records_inserted": 1, "records_updated": 0, "records_deleted": 0,
            "error_phase": null, "error_category": null, "error_message": null,
            "server_ip": null, "server_port": null, "connection_latency_ms": null
        })
    }

    fn view(id: i64, details: Vec<serde_json::Value>) -> ExecutionView {
        serde_json::from_value(json!({
            "id": id, "etl_name": "ventas", "etl_type": "manual", "mode": "full",
            "started_at": "2026-01-26T10:00:00Z", "finished_at": "2026-01-26T10:01:00Z",
            "duration_seconds": 60.0, "fecha_desde": null, "fecha_hasta": null,
            "status": "partial", "records_extracted": 2, "records_loaded": 2,
            "duplicates_skipped": 0, "gaps_recovered": 0, "extract_duration_seconds": 1.0,
            "transform_duration_seconds": 0.0, "load_duration_seconds": 1.0,
            "error_phase": null, "error_category": null, "error_source": null,
            "error_message": null, "error_detail": null, "triggered_by": "scheduler",
            "source_system": "klk", "is_recovery": false, "recovered_gap_id": null,
            "api_requests_count": 1, "api_errors_count": 0, "network_diagnostics": null,
            "tiendas_detail": details
        }))
        .unwrap()
    }

    /// Each store's newest success wins, whatever order the executions are read in; failed
    /// stores and executions without a success set nothing.
    #[tokio::test(flavor = "current_thread")]
    async fn the_history_seeds_each_store_s_newest_success() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let _local = ::metrics::set_default_local_recorder(&recorder);
        let mut store = MockTrackerStore::new();
        store
            .expect_history()
            .returning(|_| Ok(vec![entry(3, 1), entry(2, 0), entry(1, 2)]));
        store.expect_execution().returning(|id| {
            Ok(Some(match id {
                3 => view(
                    3,
                    vec![
                        detail("tienda_01", "success", "2026-01-26T10:00:30Z"),
                        detail("tienda_08", "failed", "2026-01-26T10:00:40Z"),
                    ],
                ),
                1 => view(
                    1,
                    vec![
                        detail("tienda_01", "success", "2026-01-25T10:00:30Z"),
                        detail("tienda_02", "success", "2026-01-25T10:00:50Z"),
                    ],
                ),
                other => panic!("execution {other} has no success and is not read"),
            }))
        });
        assert_eq!(seed_last_success(&store).await.unwrap(), 2);
        let mut seeded: Vec<(String, f64)> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let (_, key) = key.into_parts();
                let store = key
                    .labels()
                    .find(|l| l.key() == "store")
                    .map(|l| l.value().to_owned())
                    .unwrap_or_default();
                let DebugValue::Gauge(at) = value else {
                    panic!("{key:?} is not a gauge");
                };
                (store, at.into_inner())
            })
            .collect();
        seeded.sort_by(|a, b| a.0.cmp(&b.0));
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().timestamp() as f64;
        assert_eq!(
            seeded,
            vec![
                ("tienda_01".to_owned(), at("2026-01-26T10:00:30Z")),
                ("tienda_02".to_owned(), at("2026-01-25T10:00:50Z")),
            ]
        );
    }
}
