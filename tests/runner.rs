//! The runner: phase isolation, backpressure and interruption, against a real SQLite destination.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fluxion_etl::model::{Batch, StoreId};
use fluxion_etl::pipeline::{
    FnTransformer, Identity, LoadScope, LoadSession, LoadStats, LoadUnit, Loader, Runner,
    RunnerOptions, StoreTask,
};
use fluxion_etl::tracker::{
    ErrorCategory, ErrorSource, ExecutionStatus, ExecutionTracker, Phase, StoreDetail, StoreRef,
};
use fluxion_etl::{CancellationToken, EtlError};
use tokio::sync::Semaphore;

use crate::common::db::TestDb;
use crate::common::*;

fn task(store: &str, extractor: impl fluxion_etl::pipeline::Extractor + 'static) -> StoreTask {
    StoreTask {
        store: StoreRef {
            id: store.into(),
            name: None,
            system: None,
        },
        unit: LoadUnit {
            store: StoreId::new(store),
            scope: LoadScope::SalesWindow(window(8, 12)),
        },
        extractor: Box::new(extractor),
    }
}

/// Wraps a loader; sessions of one store fail on their first write.
struct FailingFor {
    inner: Arc<dyn Loader>,
    store: &'static str,
}

struct FailingSession;

#[async_trait]
impl LoadSession for FailingSession {
    async fn write(&mut self, _: Batch) -> Result<(), EtlError> {
        Err(EtlError::new(
            Phase::Load,
            ErrorCategory::DiskFull,
            ErrorSource::Sqlite,
            "database or disk is full",
        ))
    }
    async fn finish(&mut self, _: &StoreDetail) -> Result<LoadStats, EtlError> {
        unreachable!("finish never runs after an error")
    }
    async fn abort(&mut self) {}
}

#[async_trait]
impl Loader for FailingFor {
    async fn begin(&self, unit: &LoadUnit) -> Result<Box<dyn LoadSession>, EtlError> {
        if unit.store.as_str() == self.store {
            Ok(Box::new(FailingSession))
        } else {
            self.inner.begin(unit).await
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_in_each_phase_is_recorded_while_other_stores_succeed() {
    let db = TestDb::sqlite().await;
    let w = window(8, 12);
    let stores = ["tienda_01", "tienda_02", "tienda_03", "tienda_04"];
    let tracker = ExecutionTracker::start_execution(db.destination.tracker_store(), spec(&stores))
        .await
        .unwrap();
    let transformer = FnTransformer::new(|batch| match &batch {
        Batch::Sales(lines) if lines.iter().any(|l| l.store_id.as_str() == "tienda_03") => {
            Err(EtlError::new(
                Phase::Transform,
                ErrorCategory::DataFormat,
                ErrorSource::Pipeline,
                "unexpected shape",
            ))
        }
        _ => Ok(batch),
    });
    let runner = Runner::new(
        RunnerOptions::default(),
        Arc::new(transformer),
        Arc::new(FailingFor {
            inner: db.destination.loader(),
            store: "tienda_04",
        }),
    );
    let tasks = vec![
        task(
            "tienda_01",
            VecExtractor::sales(lines_in("tienda_01", w, 30), 8),
        ),
        task(
            "tienda_02",
            VecExtractor::sales(lines_in("tienda_02", w, 30), 8)
                .failing_after(extract_error(ErrorCategory::VpnTimeout)),
        ),
        task(
            "tienda_03",
            VecExtractor::sales(lines_in("tienda_03", w, 30), 8),
        ),
        task(
            "tienda_04",
            VecExtractor::sales(lines_in("tienda_04", w, 30), 8),
        ),
    ];
    runner.run(&tracker, tasks, &CancellationToken::new()).await;
    let id = tracker.id();
    let finish = tracker.finish_execution().await.unwrap();
    assert_eq!(finish.status, ExecutionStatus::Partial);
    assert_eq!((finish.tiendas_exitosas, finish.tiendas_fallidas), (1, 3));

    let view = db
        .destination
        .tracker_store()
        .execution(id)
        .await
        .unwrap()
        .unwrap();
    let by_store = |s: &str| {
        view.tiendas_detail
            .iter()
            .find(|d| d.tienda_id == s)
            .unwrap()
            .clone()
    };
    assert_eq!(by_store("tienda_01").status, "success");
    let cases = [
        ("tienda_02", "extract", "vpn_timeout"),
        ("tienda_03", "transform", "data_format"),
        ("tienda_04", "load", "disk_full"),
    ];
    for (store, phase, category) in cases {
        let d = by_store(store);
        assert_eq!(d.status, "failed", "{store}");
        assert_eq!(d.error_phase.as_deref(), Some(phase), "{store}");
        assert_eq!(d.error_category.as_deref(), Some(category), "{store}");
    }
    assert_eq!(db.sales_of("tienda_01").await.len(), 30);
    for store in ["tienda_02", "tienda_03", "tienda_04"] {
        assert!(
            db.sales_of(store).await.is_empty(),
            "{store} committed rows"
        );
    }
}

/// A loader whose writes wait for permits the test hands out one at a time.
struct Gated {
    permits: Arc<Semaphore>,
    written: Arc<AtomicUsize>,
}

struct GatedSession {
    permits: Arc<Semaphore>,
    written: Arc<AtomicUsize>,
}

#[async_trait]
impl Loader for Gated {
    async fn begin(&self, _: &LoadUnit) -> Result<Box<dyn LoadSession>, EtlError> {
        Ok(Box::new(GatedSession {
            permits: self.permits.clone(),
            written: self.written.clone(),
        }))
    }
}

#[async_trait]
impl LoadSession for GatedSession {
    async fn write(&mut self, _: Batch) -> Result<(), EtlError> {
        self.permits.acquire().await.unwrap().forget();
        self.written.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    async fn finish(&mut self, _: &StoreDetail) -> Result<LoadStats, EtlError> {
        Ok(LoadStats::default())
    }
    async fn abort(&mut self) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_loader_holds_the_extractor_back() {
    let db = TestDb::sqlite().await;
    let capacity = 2;
    let batches: Vec<Batch> = (0..200)
        .map(|i| Batch::Sales(vec![line("tienda_01", i, 1, local(9, 0), "1")]))
        .collect();
    let extractor = VecExtractor::new(batches);
    let produced = extractor.produced.clone();
    let permits = Arc::new(Semaphore::new(0));
    let written = Arc::new(AtomicUsize::new(0));
    let runner = Runner::new(
        RunnerOptions {
            max_workers: 1,
            channel_capacity: capacity,
        },
        Arc::new(Identity),
        Arc::new(Gated {
            permits: permits.clone(),
            written: written.clone(),
        }),
    );
    let tracker =
        ExecutionTracker::start_execution(db.destination.tracker_store(), spec(&["tienda_01"]))
            .await
            .unwrap();
    let run = tokio::spawn(async move {
        runner
            .run(
                &tracker,
                vec![task("tienda_01", extractor)],
                &CancellationToken::new(),
            )
            .await;
        tracker.finish_execution().await.unwrap()
    });

    let mut max_ahead = 0;
    for _ in 0..20 {
        permits.add_permits(1);
        // Give the extractor every chance to run ahead; the bound must hold regardless.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let ahead = produced.load(Ordering::SeqCst) - written.load(Ordering::SeqCst);
        max_ahead = max_ahead.max(ahead);
    }
    // One batch in the loader, `capacity` in the channel, one blocked on send.
    assert!(
        max_ahead <= capacity + 2,
        "extractor ran {max_ahead} batches ahead"
    );
    assert!(
        produced.load(Ordering::SeqCst) < 200,
        "no backpressure at all"
    );

    permits.add_permits(1_000);
    let finish = run.await.unwrap();
    assert_eq!(finish.status, ExecutionStatus::Success);
    assert_eq!(written.load(Ordering::SeqCst), 200);
}

/// Yields one batch, then never answers.
struct Hanging {
    store: &'static str,
    sent: bool,
    produced: Arc<AtomicUsize>,
}

#[async_trait]
impl fluxion_etl::pipeline::Extractor for Hanging {
    async fn next_batch(&mut self) -> Result<Option<Batch>, EtlError> {
        if !self.sent {
            self.sent = true;
            self.produced.fetch_add(1, Ordering::SeqCst);
            return Ok(Some(Batch::Sales(vec![line(
                self.store,
                1,
                1,
                local(9, 0),
                "1",
            )])));
        }
        std::future::pending().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_is_closed_as_failed_not_left_running() {
    let db = TestDb::sqlite().await;
    let produced = Arc::new(AtomicUsize::new(0));
    let runner = Runner::new(
        RunnerOptions::default(),
        Arc::new(Identity),
        db.destination.loader(),
    );
    let tracker = ExecutionTracker::start_execution(
        db.destination.tracker_store(),
        spec(&["tienda_01", "tienda_02"]),
    )
    .await
    .unwrap();
    let id = tracker.id();
    let cancel = CancellationToken::new();
    let tasks = vec![
        task(
            "tienda_01",
            Hanging {
                store: "tienda_01",
                sent: false,
                produced: produced.clone(),
            },
        ),
        task(
            "tienda_02",
            Hanging {
                store: "tienda_02",
                sent: false,
                produced: produced.clone(),
            },
        ),
    ];
    let c = cancel.clone();
    let run = tokio::spawn(async move {
        runner.run(&tracker, tasks, &c).await;
        tracker
            .abort_execution("interrupted by SIGTERM")
            .await
            .unwrap()
    });
    while produced.load(Ordering::SeqCst) < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cancel.cancel();
    let finish = run.await.unwrap();
    assert_eq!(finish.status, ExecutionStatus::Failed);
    assert_eq!(finish.error_category, Some(ErrorCategory::Interrupted));

    let view = db
        .destination
        .tracker_store()
        .execution(id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.status, "failed");
    assert_eq!(view.error_category.as_deref(), Some("interrupted"));
    assert_eq!(view.tiendas_detail.len(), 2);
    assert!(
        view.tiendas_detail
            .iter()
            .all(|d| d.error_category.as_deref() == Some("interrupted")),
        "{:?}",
        view.tiendas_detail
    );
    assert!(
        db.sales().await.is_empty(),
        "an interrupted store commits nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_running_executions_are_reconciled() {
    let db = TestDb::sqlite().await;
    let store = db.destination.tracker_store();
    // A process that died: its execution was opened and never closed.
    let tracker = ExecutionTracker::start_execution(store.clone(), spec(&["tienda_01"]))
        .await
        .unwrap();
    let id = tracker.id();
    drop(tracker);
    let closed = store
        .close_running(
            Some(chrono::Utc::now() + chrono::Duration::seconds(1)),
            "process died",
        )
        .await
        .unwrap();
    assert_eq!(closed, 1);
    let view = store.execution(id).await.unwrap().unwrap();
    assert_eq!(view.status, "failed");
    assert_eq!(view.error_category.as_deref(), Some("interrupted"));
}

/// The read-only commands (`fluxion history`, `gaps`, `schedule preview`…) open the destination
/// with `Fluxion::open_readonly`: where the SQLite file does not exist yet they read an empty
/// destination and leave no file behind; an existing file is read as it is.
#[tokio::test]
async fn reading_a_missing_sqlite_file_creates_nothing() {
    use fluxion_etl::config::Config;
    use fluxion_etl::tracker::HistoryFilter;
    use fluxion_etl::Fluxion;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nowhere.db");
    let config = || {
        Config::from_toml_str(
            &format!(
                "[destination]\nurl = \"sqlite://{}\"\n[klk]\nbase_url = \"http://127.0.0.1:9\"\n",
                file.display()
            ),
            "fluxion.toml",
        )
        .unwrap()
    };
    let fluxion = Fluxion::open_readonly(config()).await.unwrap();
    let history = fluxion
        .tracker_store()
        .history(&HistoryFilter::default())
        .await
        .unwrap();
    assert!(history.is_empty());
    assert!(
        !file.exists(),
        "a read-only open created {}",
        file.display()
    );

    // Once a run has created it, the same open reads the file.
    let writer = Fluxion::from_config(config()).await.unwrap();
    let tracker = ExecutionTracker::start_execution(writer.tracker_store(), spec(&["tienda_01"]))
        .await
        .unwrap();
    tracker.finish_execution().await.unwrap();
    assert!(file.exists());
    let reader = Fluxion::open_readonly(config()).await.unwrap();
    let history = reader
        .tracker_store()
        .history(&HistoryFilter::default())
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
}

/// A window that starts after today has nothing to load: the library refuses it before any
/// source is dialled or any execution recorded — the same rule for the CLI, the server and an
/// embedding program.
#[tokio::test]
async fn a_window_in_the_future_is_refused_before_anything_runs() {
    use fluxion_etl::config::Config;
    use fluxion_etl::model::DataKind;
    use fluxion_etl::tracker::HistoryFilter;
    use fluxion_etl::{Error, Fluxion, RunRequest};

    let dir = tempfile::tempdir().unwrap();
    let config = Config::from_toml_str(
        &format!(
            "[destination]\nurl = \"sqlite://{}\"\n[batch]\nretries = 0\n\
             [klk]\nbase_url = \"http://127.0.0.1:9\"\n[[stores]]\nid = \"tienda_01\"\nname = \"PERIFERICO\"\n\
             [stores.source]\nsystem = \"klk\"\nbranch = \"SUC001\"\nwarehouse = \"APP-TPF\"\n",
            dir.path().join("f.db").display()
        ),
        "fluxion.toml",
    )
    .unwrap();
    let fluxion = Fluxion::from_config(config).await.unwrap();
    let day = |d| chrono::NaiveDate::from_ymd_opt(2999, 1, d).unwrap();
    let refused = fluxion
        .run(RunRequest::days(DataKind::Sales, day(1), day(2)))
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, Error::InvalidRequest(m) if m.contains("in the future")),
        "{refused:?}"
    );
    let history = fluxion
        .tracker_store()
        .history(&HistoryFilter::default())
        .await
        .unwrap();
    assert!(history.is_empty(), "{history:?}");

    // Yesterday is still a window like any other (it fails here: nothing listens on port 9).
    let yesterday = fluxion_etl::model::store_yesterday();
    let report = fluxion
        .run(RunRequest::days(DataKind::Sales, yesterday, yesterday))
        .await
        .unwrap();
    assert_eq!(report.status.as_str(), "failed");
}
