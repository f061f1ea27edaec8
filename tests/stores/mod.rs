//! The store contracts: what the tracker store, the scheduler store and the gap store must do,
//! each test run against SQLite and against PostgreSQL (as `tests/contract.rs` does for the
//! loader). The stores are written once over both backends; these suites are what holds the two
//! to the same answers — every trait method, every enum value through a write and a read back,
//! filters, ordering and the claims' exactly-once rule.

mod gaps;
mod schedule;
mod tracker;

use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};
use fluxion_etl::model::{DataKind, SaleLine, SourceSystem, StoreId, Window};
use fluxion_etl::pipeline::{Identity, LoadScope, LoadUnit, Runner, RunnerOptions, StoreTask};
use fluxion_etl::tracker::{
    ExecutionFinish, ExecutionStatus, ExecutionTracker, NewExecution, StoreDetail, StoreRef,
    StoreStatus,
};

use crate::common::db::TestDb;
use crate::common::VecExtractor;

/// Declares each listed `async fn(&TestDb)` as a test on a fresh SQLite database and one on a
/// fresh PostgreSQL database.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(&crate::common::db::TestDb::sqlite().await).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(&crate::common::db::TestDb::postgres().await).await;
                }
            )*
        }
    };
}

use on_both_backends;

/// An instant given as `YYYY-MM-DD HH:MM[:SS]` UTC.
pub fn at(s: &str) -> DateTime<Utc> {
    let format = if s.len() > 16 {
        "%Y-%m-%d %H:%M:%S"
    } else {
        "%Y-%m-%d %H:%M"
    };
    NaiveDateTime::parse_from_str(s, format)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .and_utc()
}

/// A sales execution of `stores` started at `started_at` by the CLI, with no window: the
/// common `spec` with its start moved.
pub fn new_execution(started_at: DateTime<Utc>, stores: &[&str]) -> NewExecution {
    NewExecution {
        started_at,
        ..crate::common::spec(stores)
    }
}

/// A store's result: `status`, five minutes from `started_at`, with a few counts.
pub fn store_detail(
    execution_id: i64,
    store: &str,
    status: StoreStatus,
    started_at: DateTime<Utc>,
) -> StoreDetail {
    StoreDetail {
        execution_id,
        etl_name: DataKind::Sales,
        tienda_id: StoreId::new(store),
        tienda_nombre: Some(store.to_uppercase()),
        source_system: Some(SourceSystem::Klk),
        status,
        window_from: None,
        window_to: None,
        started_at,
        finished_at: started_at + chrono::Duration::minutes(5),
        duration_seconds: 300.0,
        records_extracted: 10,
        records_loaded: 8,
        duplicates_skipped: 2,
        records_inserted: 6,
        records_updated: 2,
        records_deleted: 1,
        records_rejected: 0,
        extract_seconds: 100.0,
        transform_seconds: 1.0,
        load_seconds: 50.0,
        api_requests: 3,
        api_errors: 0,
        error_phase: None,
        error_category: None,
        error_message: None,
        error_retryable: None,
        server_ip: None,
        server_port: None,
        connection_latency_ms: None,
    }
}

/// The close of execution `id` with `status`, ten minutes after `started_at`, no failure.
pub fn execution_finish(
    id: i64,
    status: ExecutionStatus,
    started_at: DateTime<Utc>,
) -> ExecutionFinish {
    ExecutionFinish {
        id,
        status,
        finished_at: started_at + chrono::Duration::minutes(10),
        duration_seconds: 600.0,
        records_extracted: 10,
        records_loaded: 8,
        duplicates_skipped: 2,
        records_upserted: 8,
        records_failed: 0,
        tiendas_exitosas: 1,
        tiendas_fallidas: 0,
        extract_duration_seconds: 100.0,
        transform_duration_seconds: 1.0,
        load_duration_seconds: 50.0,
        api_requests_count: 3,
        api_errors_count: 0,
        error_phase: None,
        error_category: None,
        error_source: None,
        error_message: None,
        error_detail: None,
        network_diagnostics: None,
    }
}

/// Loads `lines` as one store's sales window through the destination's loader (so that the
/// data and the per-day counts its triggers keep are what a real load writes).
pub async fn load_sales(db: &TestDb, store: &str, w: Window, lines: Vec<SaleLine>) {
    let tracker = ExecutionTracker::start_execution(
        db.destination.tracker_store(),
        new_execution(Utc::now(), &[store]),
    )
    .await
    .unwrap();
    let runner = Runner::new(
        RunnerOptions {
            max_workers: 1,
            channel_capacity: 2,
        },
        Arc::new(Identity),
        db.destination.loader(),
    );
    let task = StoreTask {
        store: StoreRef {
            id: store.into(),
            name: None,
            system: Some(SourceSystem::Klk),
        },
        unit: LoadUnit {
            store: StoreId::new(store),
            scope: LoadScope::SalesWindow(w),
        },
        extractor: Box::new(VecExtractor::sales(lines, 50)),
    };
    let outcomes = runner
        .run(&tracker, vec![task], &fluxion_etl::CancellationToken::new())
        .await;
    assert!(outcomes[0].error.is_none(), "{:?}", outcomes[0].error);
    tracker.finish_execution().await.unwrap();
}
