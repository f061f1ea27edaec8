//! Recovery: planning which gaps to run again, and the plan's items as recovery executions
//! (`mode = recovery`, `is_recovery`, `triggered_by = recovery`, `recovered_gap_id`).
//!
//! Two kinds of gap can be planned ([`RecoveryBehavior`]):
//! - **failed** windows not yet recovered ([`crate::gaps::FailedWindow`]): each is run again with
//!   its window, and the execution records the failed one as `recovered_gap_id`; once it
//!   succeeds the gap is covered and no longer reported;
//! - **missing** days (coverage): each missing range, cut into runs of at most
//!   `[gaps] recovery_chunk_days` days, closed days trimmed off.
//!
//! Plans are newest first (the most recent data matters most to the chain) and limited to
//! `max` items. A full sales run recovers up to `[schedule] max_gaps_per_run` failed windows
//! before its own work (seed 001); an incremental run never does.
//!
//! ```no_run
//! use fluxion_etl_core::{Fluxion, config::Config};
//! use fluxion_etl_core::recovery::{RecoveryBehavior, RecoveryRequest};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let fluxion = Fluxion::from_config(Config::load("fluxion.toml".as_ref())?).await?;
//! let request = RecoveryRequest::new(chrono::Utc::now())
//!     .behavior(RecoveryBehavior::All)
//!     .max(10);
//! let plan = fluxion.recovery_plan(&request).await?;
//! for item in &plan.items {
//!     println!("{item}");
//! }
//! let report = fluxion.recover(&request).await?;
//! println!("{} recovered, {} failed", report.succeeded(), report.failed());
//! # Ok(()) }
//! ```

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::gaps::{FailedWindow, GapReport, StoreCalendar};
use crate::model::{DataKind, StoreId, Window};
use crate::taxonomy::ErrorCategory;
use crate::tracker::ExecutionStatus;

/// Which gaps a recovery takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryBehavior {
    /// Missing days (coverage).
    Missing,
    /// Failed windows not yet recovered.
    #[default]
    Failed,
    /// Both; a failed window inside a planned missing range rides along with it.
    All,
}

impl RecoveryBehavior {
    /// The serialized value.
    pub fn as_str(self) -> &'static str {
        match self {
            RecoveryBehavior::Missing => "missing",
            RecoveryBehavior::Failed => "failed",
            RecoveryBehavior::All => "all",
        }
    }

    fn includes_failed(self) -> bool {
        matches!(self, RecoveryBehavior::Failed | RecoveryBehavior::All)
    }

    fn includes_missing(self) -> bool {
        matches!(self, RecoveryBehavior::Missing | RecoveryBehavior::All)
    }
}

impl fmt::Display for RecoveryBehavior {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to recover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryRequest {
    /// The present (gaps are computed as of now).
    pub now: DateTime<Utc>,
    /// Sales or inventory (inventory has failed snapshots only: a past snapshot cannot be
    /// taken again, so it has no missing days to recover).
    pub kind: DataKind,
    /// Which gaps.
    pub behavior: RecoveryBehavior,
    /// These stores; `None`: every active store.
    pub stores: Option<Vec<StoreId>>,
    /// Only gaps from this store-local day on (missing ranges are clipped to it).
    pub from: Option<NaiveDate>,
    /// Only gaps through this store-local day.
    pub to: Option<NaiveDate>,
    /// At most this many items (newest first); `None`: all.
    pub max: Option<usize>,
}

impl RecoveryRequest {
    /// Failed sales windows of every active store, as of `now`, no limit.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now,
            kind: DataKind::Sales,
            behavior: RecoveryBehavior::Failed,
            stores: None,
            from: None,
            to: None,
            max: None,
        }
    }

    /// Sets the behavior.
    pub fn behavior(mut self, behavior: RecoveryBehavior) -> Self {
        self.behavior = behavior;
        self
    }

    /// Limits the plan.
    pub fn max(mut self, max: usize) -> Self {
        self.max = Some(max);
        self
    }

    /// Restricts the plan to some stores.
    pub fn stores(mut self, stores: Vec<StoreId>) -> Self {
        self.stores = Some(stores);
        self
    }

    /// Restricts the plan to the days `from..=to` (either end optional).
    pub fn between(mut self, from: Option<NaiveDate>, to: Option<NaiveDate>) -> Self {
        self.from = from;
        self.to = to;
        self
    }
}

/// Why an item is planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryReason {
    /// A failed window not yet recovered.
    Failed,
    /// Missing days.
    Missing,
}

/// One recovery execution to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedRecovery {
    /// The store.
    pub store_id: StoreId,
    /// Sales or inventory.
    pub kind: DataKind,
    /// Store-local window; `None` for an inventory snapshot.
    pub window: Option<Window>,
    /// Why.
    pub reason: RecoveryReason,
    /// The failed execution this recovers (recorded as `recovered_gap_id`).
    pub recovered_gap_id: Option<i64>,
    /// Category of the failure being recovered.
    pub error_category: Option<ErrorCategory>,
    /// When it failed.
    pub failed_at: Option<DateTime<Utc>>,
}

impl fmt::Display for PlannedRecovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = match self.reason {
            RecoveryReason::Failed => "failed",
            RecoveryReason::Missing => "missing",
        };
        write!(f, "{} {} {reason}", self.store_id, self.kind)?;
        match self.window {
            Some(w) => write!(f, " {w}")?,
            None => f.write_str(" snapshot")?,
        }
        if let Some(id) = self.recovered_gap_id {
            write!(f, " (gap {id}")?;
            if let Some(c) = self.error_category {
                write!(f, ", {c}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// The recovery executions to run, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryPlan {
    /// The `now` of the request.
    pub generated_at: DateTime<Utc>,
    /// The behavior of the request.
    pub behavior: RecoveryBehavior,
    /// Items before `max` was applied.
    pub candidates: usize,
    /// The items, newest first.
    pub items: Vec<PlannedRecovery>,
}

/// What one recovery execution did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryOutcome {
    /// The planned item.
    pub item: PlannedRecovery,
    /// The recovery execution (`None` when it could not be opened).
    pub execution_id: Option<i64>,
    /// Its status (`failed` when it could not be opened).
    pub status: ExecutionStatus,
    /// Why it could not be opened.
    pub error: Option<String>,
}

/// What a recovery did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryReport {
    /// The plan.
    pub plan: RecoveryPlan,
    /// One outcome per item run, in plan order.
    pub outcomes: Vec<RecoveryOutcome>,
    /// Whether it was interrupted before running every item.
    pub interrupted: bool,
}

impl RecoveryReport {
    /// Items whose execution succeeded.
    pub fn succeeded(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.status == ExecutionStatus::Success)
            .count()
    }

    /// Items whose execution did not succeed.
    pub fn failed(&self) -> usize {
        self.outcomes.len() - self.succeeded()
    }

    /// The overall status, as a run's: success when every item succeeded (or there was
    /// nothing to do), failed when none did, partial otherwise.
    pub fn status(&self) -> ExecutionStatus {
        if self.interrupted && self.succeeded() == 0 && !self.plan.items.is_empty() {
            return ExecutionStatus::Failed;
        }
        let missing_runs = self.plan.items.len() - self.outcomes.len();
        ExecutionStatus::from_counts(self.succeeded(), self.failed() + missing_runs)
    }
}

fn overlaps(w: Option<Window>, from: Option<NaiveDate>, to: Option<NaiveDate>) -> bool {
    let Some(w) = w else {
        return true;
    };
    let first = w.from.date();
    let last = if w.to.time() == chrono::NaiveTime::MIN {
        w.to.date().pred_opt().unwrap_or(first)
    } else {
        w.to.date()
    };
    from.is_none_or(|f| last >= f) && to.is_none_or(|t| first <= t)
}

fn failed_item(f: &FailedWindow) -> PlannedRecovery {
    PlannedRecovery {
        store_id: f.ubicacion_id.clone(),
        kind: f.etl_tipo,
        window: f.window(),
        reason: RecoveryReason::Failed,
        recovered_gap_id: Some(f.gap_id),
        error_category: f.error_tipo,
        failed_at: Some(f.fecha_fallo),
    }
}

/// Plans a recovery from a gap report (computed for the request's kind, stores and `now`).
pub fn plan(report: &GapReport, config: &Config, request: &RecoveryRequest) -> RecoveryPlan {
    let chunk = i64::from(config.gaps.recovery_chunk_days.max(1));
    let mut items: Vec<PlannedRecovery> = Vec::new();
    for store in &report.tiendas {
        let mut missing: Vec<PlannedRecovery> = Vec::new();
        if request.behavior.includes_missing() && request.kind == DataKind::Sales {
            let calendar = config
                .store(store.ubicacion_id.as_str())
                .map(|s| StoreCalendar::for_store(config, s));
            let is_open = |d: NaiveDate| calendar.as_ref().is_none_or(|c| c.is_open(d));
            for range in &store.dias_faltantes {
                let first = request.from.map_or(range.desde, |f| f.max(range.desde));
                let last = request.to.map_or(range.hasta, |t| t.min(range.hasta));
                // Newest first: chunks are cut from the end of the range.
                let mut end = last;
                while end >= first {
                    let start = (end - chrono::Duration::days(chunk - 1)).max(first);
                    let open: Vec<NaiveDate> = start
                        .iter_days()
                        .take_while(|d| *d <= end)
                        .filter(|d| is_open(*d))
                        .collect();
                    if let (Some(a), Some(b)) = (open.first(), open.last()) {
                        missing.push(PlannedRecovery {
                            store_id: store.ubicacion_id.clone(),
                            kind: request.kind,
                            window: Window::days(*a, *b),
                            reason: RecoveryReason::Missing,
                            recovered_gap_id: None,
                            error_category: None,
                            failed_at: None,
                        });
                    }
                    match start.pred_opt() {
                        Some(p) => end = p,
                        None => break,
                    }
                }
            }
        }
        if request.behavior.includes_failed() {
            for f in &store.fallos_por_recuperar {
                if !overlaps(f.window(), request.from, request.to) {
                    continue;
                }
                let item = failed_item(f);
                // A failed window inside a planned missing chunk is recovered by that chunk.
                if let Some(m) = missing.iter_mut().find(|m| match (m.window, item.window) {
                    (Some(mw), Some(fw)) => mw.from <= fw.from && mw.to >= fw.to,
                    _ => false,
                }) {
                    if m.recovered_gap_id.is_none() {
                        m.recovered_gap_id = item.recovered_gap_id;
                        m.error_category = item.error_category;
                        m.failed_at = item.failed_at;
                    }
                    continue;
                }
                items.push(item);
            }
        }
        items.extend(missing);
    }
    // A window inside another planned window of the same store is redundant (the first of
    // two equal ones stays).
    let contains = |outer: &PlannedRecovery, inner: &PlannedRecovery| {
        outer.store_id == inner.store_id
            && match (outer.window, inner.window) {
                (Some(o), Some(i)) => o.from <= i.from && o.to >= i.to,
                (None, None) => true,
                _ => false,
            }
    };
    let mut kept: Vec<PlannedRecovery> = items
        .iter()
        .enumerate()
        .filter(|(i, item)| {
            !items.iter().enumerate().any(|(j, other)| {
                j != *i && contains(other, item) && (!contains(item, other) || j < *i)
            })
        })
        .map(|(_, item)| item.clone())
        .collect();
    // Newest data first; inventory snapshots (no window) by failure time.
    kept.sort_by(|a, b| {
        let key = |p: &PlannedRecovery| (p.window.map(|w| w.from), p.failed_at);
        key(b).cmp(&key(a)).then(a.store_id.cmp(&b.store_id))
    });
    let candidates = kept.len();
    if let Some(max) = request.max {
        kept.truncate(max);
    }
    RecoveryPlan {
        generated_at: request.now,
        behavior: request.behavior,
        candidates,
        items: kept,
    }
}
