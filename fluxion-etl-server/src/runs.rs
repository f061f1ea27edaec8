//! Runs started by the API: each is opened with [`Fluxion::start`] (its execution id is known at
//! once) and continues on a background task the server tracks, so that a shutdown can stop
//! taking work, let running loads finish within a grace period, and have the rest closed as
//! interrupted.
//!
//! ```no_run
//! # async fn demo(fluxion: std::sync::Arc<fluxion_etl_core::Fluxion>) -> Result<(), fluxion_etl_server::error::ApiError> {
//! use std::time::Duration;
//! use fluxion_etl_core::{model::DataKind, tracker::TriggeredBy, RunRequest};
//! use fluxion_etl_server::runs::Runs;
//!
//! let runs = Runs::new(fluxion);
//! let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 25).unwrap();
//! let run = runs
//!     .start(RunRequest::days(DataKind::Sales, day, day).triggered_by(TriggeredBy::FluxionAdmin))
//!     .await?;
//! println!("execution {} is running", run.execution_id);
//! let outcome = runs.shutdown(Duration::from_secs(30), Duration::from_secs(30)).await;
//! assert_eq!(outcome.finished + outcome.interrupted, 1);
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use fluxion_etl_core::model::DataKind;
use fluxion_etl_core::{CancellationToken, Fluxion, RunRequest, StoreSelection};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use crate::error::ApiError;

/// A run the server started and that has not finished.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActiveRun {
    /// The execution.
    pub execution_id: i64,
    /// `ventas` or `inventario`.
    pub etl_name: String,
    /// The stores it covers.
    pub tienda_ids: Vec<String>,
    /// When it was started.
    pub started_at: DateTime<Utc>,
}

/// How a shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownOutcome {
    /// Runs that finished within the grace period.
    pub finished: usize,
    /// Runs cancelled when the grace period ran out (recorded as interrupted).
    pub interrupted: usize,
}

/// The server's background runs.
#[derive(Debug, Clone)]
pub struct Runs {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    fluxion: Arc<Fluxion>,
    tasks: TaskTracker,
    cancel: CancellationToken,
    accepting: AtomicBool,
    active: Mutex<BTreeMap<i64, ActiveRun>>,
    finished: Mutex<Option<mpsc::UnboundedSender<i64>>>,
}

impl Runs {
    /// No runs yet.
    pub fn new(fluxion: Arc<Fluxion>) -> Self {
        Self {
            inner: Arc::new(Inner {
                fluxion,
                tasks: TaskTracker::new(),
                cancel: CancellationToken::new(),
                accepting: AtomicBool::new(true),
                active: Mutex::new(BTreeMap::new()),
                finished: Mutex::new(None),
            }),
        }
    }

    /// Ids of runs are sent on the returned channel when they finish.
    pub fn watch_finished(&self) -> mpsc::UnboundedReceiver<i64> {
        let (tx, rx) = mpsc::unbounded_channel();
        *lock(&self.inner.finished) = Some(tx);
        rx
    }

    /// Whether new runs are taken (false once a shutdown began).
    pub fn accepting(&self) -> bool {
        self.inner.accepting.load(Ordering::SeqCst)
    }

    /// Refuses new runs from now on (the first step of a shutdown).
    pub fn stop_accepting(&self) {
        self.inner.accepting.store(false, Ordering::SeqCst);
    }

    /// The token every run is cancelled with when a shutdown's grace period runs out (the
    /// scheduler's runs use it too).
    pub fn cancel_token(&self) -> CancellationToken {
        self.inner.cancel.clone()
    }

    /// Opens the execution and runs it in the background; returns at once.
    pub async fn start(&self, request: RunRequest) -> Result<ActiveRun, ApiError> {
        if !self.accepting() {
            return Err(ApiError::unavailable(
                "the server is shutting down and takes no new runs",
            ));
        }
        let fluxion = &self.inner.fluxion;
        let tienda_ids: Vec<String> = match &request.stores {
            StoreSelection::AllActive => fluxion
                .config()
                .active_stores()
                .map(|s| s.id.as_str().to_owned())
                .collect(),
            StoreSelection::Ids(ids) => ids.clone(),
        };
        let etl_name = request.kind.etl_name().to_owned();
        let started = fluxion
            .start(request, self.inner.cancel.child_token())
            .await?;
        let run = ActiveRun {
            execution_id: started.execution_id,
            etl_name,
            tienda_ids,
            started_at: Utc::now(),
        };
        lock(&self.inner.active).insert(run.execution_id, run.clone());
        let inner = self.inner.clone();
        let id = started.execution_id;
        let handle = started.handle;
        self.inner.tasks.spawn(async move {
            match handle.await {
                Ok(Ok(report)) => {
                    tracing::debug!(execution_id = id, status = %report.status, "Background run ended.");
                }
                Ok(Err(e)) => {
                    tracing::error!(
                        execution_id = id,
                        "The run could not close its execution: {}",
                        fluxion_etl_core::tracker::sanitize(&e.to_string())
                    );
                }
                Err(e) => {
                    tracing::error!(execution_id = id, "The run's task failed: {e}");
                }
            }
            lock(&inner.active).remove(&id);
            if let Some(tx) = lock(&inner.finished).as_ref() {
                let _ = tx.send(id);
            }
        });
        Ok(run)
    }

    /// Runs in progress, oldest first.
    pub fn active(&self) -> Vec<ActiveRun> {
        lock(&self.inner.active).values().cloned().collect()
    }

    /// The newest run in progress of a kind.
    pub fn active_of(&self, kind: DataKind) -> Option<ActiveRun> {
        lock(&self.inner.active)
            .values()
            .rev()
            .find(|r| r.etl_name == kind.etl_name())
            .cloned()
    }

    /// Stops taking runs, waits up to `grace` for the running ones, then cancels the rest (their
    /// executions are closed as interrupted) and waits up to `close_timeout` for that.
    pub async fn shutdown(&self, grace: Duration, close_timeout: Duration) -> ShutdownOutcome {
        self.inner.accepting.store(false, Ordering::SeqCst);
        self.inner.tasks.close();
        let running = lock(&self.inner.active).len();
        if running > 0 {
            tracing::info!(
                runs = running,
                grace_seconds = grace.as_secs(),
                "Waiting for running loads to finish."
            );
        }
        if tokio::time::timeout(grace, self.inner.tasks.wait())
            .await
            .is_ok()
        {
            return ShutdownOutcome {
                finished: running,
                interrupted: 0,
            };
        }
        let left = lock(&self.inner.active).len();
        tracing::warn!(
            runs = left,
            "Grace period over; interrupting the runs still in progress."
        );
        self.inner.cancel.cancel();
        if tokio::time::timeout(close_timeout, self.inner.tasks.wait())
            .await
            .is_err()
        {
            tracing::error!("Some runs did not close their executions in time; the next start-up closes them as interrupted.");
        }
        ShutdownOutcome {
            finished: running - left,
            interrupted: left,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
