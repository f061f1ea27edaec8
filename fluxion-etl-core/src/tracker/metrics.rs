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
pub async fn seed_last_success(store: &dyn TrackerStore) -> crate::error::Result<usize> {
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

/// Runs `work` under a debugging recorder of this thread only and returns its output with the
/// one snapshot of what it emitted. The test's runtime must be current-thread, so that its tasks
/// emit here too; other tests in this process cannot add to these values.
#[cfg(test)]
pub(crate) async fn recorded<T>(
    work: impl std::future::Future<Output = T>,
) -> (T, metrics_util::debugging::Snapshot) {
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = ::metrics::set_default_local_recorder(&recorder);
    let out = work.await;
    (out, snapshotter.snapshot())
}

#[cfg(test)]
mod seed_tests {
    use metrics_util::debugging::DebugValue;
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
        let (seeded, snapshot) = recorded(seed_last_success(&store)).await;
        assert_eq!(seeded.unwrap(), 2);
        let mut seeded: Vec<(String, f64)> = snapshot
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
