//! The metrics a run emits, checked end to end: a runner over mocked roles and the tracker,
//! under `metrics-util`'s debugging recorder. It lives beside the runner, the higher of the two
//! modules it drives (`tracker::metrics` names the metrics; the runner and the tracker emit
//! them).

use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use metrics_util::debugging::DebugValue;
use metrics_util::{CompositeKey, MetricKind};

use crate::error::EtlError;
use crate::model::{local_to_utc, Batch, SaleLine, StoreId, Window};
use crate::pipeline::{
    Identity, LoadScope, LoadStats, LoadUnit, MockExtractor, MockLoadSession, MockLoader, Runner,
    RunnerOptions, StoreTask,
};
use crate::taxonomy::{ErrorCategory, Phase};
use crate::tracker::metrics::*;
use crate::tracker::{
    test_execution, ErrorSource, ExecutionStatus, ExecutionTracker, MockTrackerStore, StoreRef,
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
    let mut store = MockTrackerStore::new();
    store.expect_insert_execution().returning(|_| Ok(41));
    store.expect_insert_detail().returning(|_| Ok(()));
    store.expect_finish_execution().returning(|_| Ok(()));
    let spec = test_execution(&["tienda_01", "tienda_08"]);
    let run = async {
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
        tracker.finish_execution().await.unwrap()
    };
    // Under a recorder of this thread only (the runtime is current-thread, so the run's tasks
    // emit there too).
    let (finish, snapshot) = recorded(run).await;
    assert_eq!(finish.status, ExecutionStatus::Partial);

    let s = &snapshot.into_vec();
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
