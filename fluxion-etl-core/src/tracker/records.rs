//! The rows of `etl_executions` and `etl_execution_details`, and the JSON shapes served from them.
//!
//! Field names of the serialized types are those of seed 003's JSON examples (`tiendas_count`,
//! `tiendas_detail`, `tiendas_con_mas_fallos`, …): the chain's admin panel reads them.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{ErrorCategory, ErrorSource, Phase};
use crate::model::{DataKind, SourceSystem, StoreId};
use crate::stored::stored_text;

/// Status of an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    /// Still running.
    Running,
    /// Every store succeeded.
    Success,
    /// Some stores committed, some failed.
    Partial,
    /// No store committed.
    Failed,
}

impl ExecutionStatus {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "running",
            ExecutionStatus::Success => "success",
            ExecutionStatus::Partial => "partial",
            ExecutionStatus::Failed => "failed",
        }
    }

    /// The status of a finished execution from its store counts.
    pub fn from_counts(succeeded: usize, failed: usize) -> Self {
        match (succeeded, failed) {
            (_, 0) => ExecutionStatus::Success,
            (0, _) => ExecutionStatus::Failed,
            _ => ExecutionStatus::Partial,
        }
    }
}

stored_text!(
    ExecutionStatus,
    "execution status",
    [Running, Success, Partial, Failed]
);

/// Status of one store within an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreStatus {
    /// The store's unit was committed.
    Success,
    /// The store's unit failed; nothing of it was committed.
    Failed,
    /// The store was not processed (inactive, or its lease was held by another run).
    Skipped,
}

impl StoreStatus {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreStatus::Success => "success",
            StoreStatus::Failed => "failed",
            StoreStatus::Skipped => "skipped",
        }
    }
}

stored_text!(StoreStatus, "store status", [Success, Failed, Skipped]);

/// Who started an execution (`triggered_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggeredBy {
    /// AWS EventBridge (detected by `AWS_EXECUTION_ENV`).
    Eventbridge,
    /// The admin panel (`FLUXION_ADMIN=true`, or the server's manual-run endpoints).
    FluxionAdmin,
    /// A person or script running `fluxion`.
    Cli,
    /// Automatic or manual gap recovery.
    Recovery,
    /// Fluxion's own scheduler.
    Scheduler,
}

impl TriggeredBy {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggeredBy::Eventbridge => "eventbridge",
            TriggeredBy::FluxionAdmin => "fluxion_admin",
            TriggeredBy::Cli => "cli",
            TriggeredBy::Recovery => "recovery",
            TriggeredBy::Scheduler => "scheduler",
        }
    }

    /// Detects the origin from the process environment (seed 003 §2.2).
    pub fn detect() -> Self {
        Self::detect_from(|k| std::env::var(k).ok())
    }

    /// Detects the origin from an environment lookup; `AWS_EXECUTION_ENV` wins over
    /// `FLUXION_ADMIN=true`.
    pub fn detect_from(env: impl Fn(&str) -> Option<String>) -> Self {
        if env("AWS_EXECUTION_ENV").is_some_and(|v| !v.is_empty()) {
            TriggeredBy::Eventbridge
        } else if env("FLUXION_ADMIN").as_deref() == Some("true") {
            TriggeredBy::FluxionAdmin
        } else {
            TriggeredBy::Cli
        }
    }
}

stored_text!(
    TriggeredBy,
    "trigger",
    [Eventbridge, FluxionAdmin, Cli, Recovery, Scheduler]
);

/// How a run treats its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    /// Whole days (the daily run, manual runs).
    Full,
    /// The last minutes, with overlap (every 30 minutes in opening hours).
    Incremental,
    /// Re-processing a gap.
    Recovery,
}

impl RunMode {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::Full => "full",
            RunMode::Incremental => "incremental",
            RunMode::Recovery => "recovery",
        }
    }
}

stored_text!(RunMode, "run mode", [Full, Incremental, Recovery]);

/// An execution as it is opened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewExecution {
    /// What is moved.
    pub etl_name: DataKind,
    /// `scheduled`, `manual` or `recovery`.
    pub etl_type: String,
    /// Full, incremental or recovery.
    pub mode: RunMode,
    /// Who started it.
    pub triggered_by: TriggeredBy,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Start of the window (UTC), if the run has one.
    pub fecha_desde: Option<DateTime<Utc>>,
    /// End of the window (UTC, exclusive).
    pub fecha_hasta: Option<DateTime<Utc>>,
    /// The stores the run covers.
    pub tiendas: Vec<StoreId>,
    /// `klk`, `stellar` or `mixed`.
    pub source_system: Option<String>,
    /// Whether the execution recovers a gap.
    pub is_recovery: bool,
    /// The failed execution whose gap this run recovers.
    pub recovered_gap_id: Option<i64>,
    /// The host that ran it.
    pub host: Option<String>,
    /// The Fluxion version that ran it.
    pub version: String,
}

/// Declares a record of an execution or of a store within one. Its field list may name groups
/// of fields that several records share (`..counts,`, see `record_group!`).
macro_rules! record {
    ($(#[$meta:meta])* pub struct $name:ident { $($body:tt)* }) => {
        record!(@fields [$(#[$meta])* pub struct $name] [] $($body)*);
    };
    (@fields $head:tt $done:tt ..$group:ident, $($rest:tt)*) => {
        record_group!($group => $head $done $($rest)*);
    };
    (@fields $head:tt [$($done:tt)*] $(#[$attr:meta])* pub $field:ident: $ty:ty, $($rest:tt)*) => {
        record!(@fields $head [$($done)* $(#[$attr])* pub $field: $ty,] $($rest)*);
    };
    (@fields [$($head:tt)*] [$($done:tt)*]) => {
        $($head)* { $($done)* }
    };
}

/// The groups of fields that records share: each is written once, here, with its
/// documentation, so that the records cannot drift apart in the fields they have in common.
macro_rules! record_group {
    (execution => $($then:tt)*) => {
        record_group!(@splice [
            /// Execution id.
            pub id: i64,
            /// What the execution moved: `ventas` or `inventario`.
            pub etl_name: DataKind,
            /// How it was started: `scheduled`, `manual` or `recovery`.
            pub etl_type: Option<String>,
        ] $($then)*);
    };
    (store => $($then:tt)*) => {
        record_group!(@splice [
            /// The store's id.
            pub tienda_id: String,
            /// The store's name.
            pub tienda_nombre: Option<String>,
        ] $($then)*);
    };
    (end => $($then:tt)*) => {
        record_group!(@splice [
            /// When it closed (`None` while running, or for a store, when not recorded).
            pub finished_at: Option<DateTime<Utc>>,
            /// Its wall-clock seconds, once closed.
            pub duration_seconds: Option<f64>,
        ] $($then)*);
    };
    (counts => $($then:tt)*) => {
        record_group!(@splice [
            /// Rows read from the sources (for an execution, summed over its stores).
            pub records_extracted: i64,
            /// Of those, rows inserted or updated.
            pub records_loaded: i64,
            /// Of those, rows found identical to the stored ones.
            pub duplicates_skipped: i64,
        ] $($then)*);
    };
    (row_changes => $($then:tt)*) => {
        record_group!(@splice [
            /// Rows inserted.
            pub records_inserted: i64,
            /// Rows whose values changed.
            pub records_updated: i64,
            /// Rows of the store's window the source no longer returns (voided), deleted.
            pub records_deleted: i64,
        ] $($then)*);
    };
    (failure => $($then:tt)*) => {
        record_group!(@splice [
            /// Phase of the failure (for an execution, its most frequent one).
            pub error_phase: Option<Phase>,
            /// Category of the failure (for an execution, its most frequent one).
            pub error_category: Option<ErrorCategory>,
        ] $($then)*);
    };
    (endpoint => $($then:tt)*) => {
        record_group!(@splice [
            /// Resolved address of the store's source.
            pub server_ip: Option<String>,
            /// Port of the store's source.
            pub server_port: Option<i32>,
            /// TCP connect latency to the store's source.
            pub connection_latency_ms: Option<f64>,
        ] $($then)*);
    };
    (@splice [$($fields:tt)*] $head:tt [$($done:tt)*] $($rest:tt)*) => {
        record!(@fields $head [$($done)* $($fields)*] $($rest)*);
    };
}

record! {
    /// One store's result within an execution: a row of `etl_execution_details`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct StoreDetail {
        /// The execution.
        pub execution_id: i64,
        /// What was moved.
        pub etl_name: DataKind,
        /// The store.
        pub tienda_id: StoreId,
        /// The store's name.
        pub tienda_nombre: Option<String>,
        /// The store's system.
        pub source_system: Option<SourceSystem>,
        /// Result.
        pub status: StoreStatus,
        /// Start of the store's window (UTC), for sales.
        pub window_from: Option<DateTime<Utc>>,
        /// End of the store's window (UTC, exclusive), for sales.
        pub window_to: Option<DateTime<Utc>>,
        /// When the store started.
        pub started_at: DateTime<Utc>,
        /// When the store finished.
        pub finished_at: DateTime<Utc>,
        /// Wall-clock duration.
        pub duration_seconds: f64,
        ..counts,
        ..row_changes,
        /// Source rows rejected by the extractor.
        pub records_rejected: i64,
        /// Time spent extracting.
        pub extract_seconds: f64,
        /// Time spent transforming.
        pub transform_seconds: f64,
        /// Time spent loading.
        pub load_seconds: f64,
        /// Requests sent to the source.
        pub api_requests: i64,
        /// Requests that failed.
        pub api_errors: i64,
        ..failure,
        /// Sanitized message of the failure.
        pub error_message: Option<String>,
        /// Whether retrying can help.
        pub error_retryable: Option<bool>,
        ..endpoint,
    }
}

record! {
    /// The close of an execution.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct ExecutionFinish {
        /// The execution.
        pub id: i64,
        /// Final status.
        pub status: ExecutionStatus,
        /// When it finished.
        pub finished_at: DateTime<Utc>,
        /// Wall-clock duration.
        pub duration_seconds: f64,
        ..counts,
        /// Rows inserted or updated (`records_upserted`).
        pub records_upserted: i64,
        /// Rows rejected or belonging to failed stores (`records_failed`).
        pub records_failed: i64,
        /// Stores that succeeded.
        pub tiendas_exitosas: i64,
        /// Stores that failed.
        pub tiendas_fallidas: i64,
        /// Extract time summed over stores.
        pub extract_duration_seconds: f64,
        /// Transform time summed over stores.
        pub transform_duration_seconds: f64,
        /// Load time summed over stores.
        pub load_duration_seconds: f64,
        /// Requests to sources.
        pub api_requests_count: i64,
        /// Failed requests.
        pub api_errors_count: i64,
        ..failure,
        /// Source of the dominant failure.
        pub error_source: Option<ErrorSource>,
        /// Summary of the failures.
        pub error_message: Option<String>,
        /// Every failed store's message.
        pub error_detail: Option<String>,
        /// Per-store network diagnostics (`{"tienda_01": {"ip": …, "port": …, "latency_ms": …}}`).
        pub network_diagnostics: Option<serde_json::Value>,
    }
}

record! {
    /// One line of `GET /api/etl/history` (seed 003 §3.1): an execution without its stores.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct HistoryEntry {
        ..execution,
        /// When the execution started.
        pub started_at: DateTime<Utc>,
        ..end,
        /// Running, or how it ended.
        pub status: ExecutionStatus,
        ..counts,
        /// Stores the execution covers.
        pub tiendas_count: i64,
        /// Of those, the stores whose unit committed.
        pub tiendas_exitosas: i64,
        /// Of those, the stores that failed (or never finished).
        pub tiendas_fallidas: i64,
        ..failure,
        /// Who started it.
        pub triggered_by: TriggeredBy,
        /// Whether it re-ran a failed window.
        pub is_recovery: bool,
    }
}

record! {
    /// `GET /api/etl/history/{id}` (seed 003 §3.1): an execution with every store's result.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct ExecutionView {
        ..execution,
        /// `full`, `incremental` or `recovery`.
        pub mode: Option<RunMode>,
        /// Opened at.
        pub started_at: DateTime<Utc>,
        ..end,
        /// Start of the window it loads (UTC), if it has one.
        pub fecha_desde: Option<DateTime<Utc>>,
        /// End of that window (UTC, excluded).
        pub fecha_hasta: Option<DateTime<Utc>>,
        /// `running`, `success`, `partial` or `failed`.
        pub status: ExecutionStatus,
        ..counts,
        /// Gaps this execution recovered.
        pub gaps_recovered: i64,
        /// Time inside extraction, summed over its stores.
        pub extract_duration_seconds: Option<f64>,
        /// Time inside transformation, summed over its stores.
        pub transform_duration_seconds: Option<f64>,
        /// Time inside loading, summed over its stores.
        pub load_duration_seconds: Option<f64>,
        ..failure,
        /// The system the dominant failure came from.
        pub error_source: Option<ErrorSource>,
        /// Summary of the failures.
        pub error_message: Option<String>,
        /// Every failed store's message.
        pub error_detail: Option<String>,
        /// Its origin.
        pub triggered_by: TriggeredBy,
        /// `klk`, `stellar` or `mixed`.
        pub source_system: Option<String>,
        /// Whether it is a recovery.
        pub is_recovery: bool,
        /// The failed execution whose gap it recovered.
        pub recovered_gap_id: Option<i64>,
        /// Requests sent to the sources.
        pub api_requests_count: Option<i64>,
        /// Requests that failed.
        pub api_errors_count: Option<i64>,
        /// Per-store network diagnostics.
        pub network_diagnostics: Option<serde_json::Value>,
        /// Per-store results, by store id.
        pub tiendas_detail: Vec<StoreDetailView>,
    }
}

record! {
    /// One element of `tiendas_detail`: one store's result within an execution.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct StoreDetailView {
        ..store,
        /// Its point-of-sale system: `klk` or `stellar`.
        pub source_system: Option<SourceSystem>,
        /// `success`, `failed` or `skipped`.
        pub status: StoreStatus,
        /// When the store's work started.
        pub started_at: Option<DateTime<Utc>>,
        ..end,
        ..counts,
        ..row_changes,
        ..failure,
        /// Sanitized message of the store's failure (or why it was skipped).
        pub error_message: Option<String>,
        ..endpoint,
    }
}

/// Filters of `GET /api/etl/history` and `fluxion history`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryFilter {
    /// `ventas` or `inventario`.
    pub etl_name: Option<DataKind>,
    /// Status.
    pub status: Option<ExecutionStatus>,
    /// Started on or after this day (UTC).
    pub fecha_desde: Option<NaiveDate>,
    /// Started on or before this day (UTC).
    pub fecha_hasta: Option<NaiveDate>,
    /// Origin.
    pub triggered_by: Option<TriggeredBy>,
    /// At most this many (default 50, at most 200).
    pub limit: Option<u32>,
    /// Skip this many.
    pub offset: Option<u32>,
}

impl HistoryFilter {
    /// Default page size.
    pub const DEFAULT_LIMIT: u32 = 50;
    /// Largest page size.
    pub const MAX_LIMIT: u32 = 200;

    /// The effective limit.
    pub fn effective_limit(&self) -> u32 {
        self.limit
            .unwrap_or(Self::DEFAULT_LIMIT)
            .clamp(1, Self::MAX_LIMIT)
    }
}

/// `GET /api/etl/stats` (seed 003 §3.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Executions in the period.
    pub total_executions: i64,
    /// Successful ones.
    pub successful: i64,
    /// Partial ones.
    pub partial: i64,
    /// Failed ones.
    pub failed: i64,
    /// `successful / finished × 100`, two decimals.
    pub success_rate: f64,
    /// Average duration of finished executions.
    pub avg_duration_seconds: f64,
    /// Rows loaded.
    pub total_records_loaded: i64,
    /// Duplicates.
    pub total_duplicates: i64,
    /// Executions with an error, by phase.
    pub errors_by_phase: BTreeMap<String, i64>,
    /// Executions with an error, by category.
    pub errors_by_category: BTreeMap<String, i64>,
    /// The stores with most failed details.
    pub tiendas_con_mas_fallos: Vec<StoreFailures>,
}

record! {
    /// One element of `tiendas_con_mas_fallos`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct StoreFailures {
        ..store,
        /// Executions that covered the store.
        pub total_ejecuciones: i64,
        /// Executions in which it failed.
        pub fallos: i64,
        /// Its most frequent error category.
        pub error_mas_comun: Option<ErrorCategory>,
    }
}

record! {
    /// A store's detail row, as [`Stats::compute`] needs it (the period's details are many: the
    /// stores read only these columns of them).
    #[derive(Debug, Clone, PartialEq)]
    pub struct StatsDetailRow {
        ..store,
        /// Status.
        pub status: StoreStatus,
        /// Category of the failure.
        pub error_category: Option<ErrorCategory>,
    }
}

impl Stats {
    /// Aggregates the executions (their history lines) and store details of a period. Both
    /// backends call this, so the numbers cannot differ between SQLite and PostgreSQL.
    pub fn compute(executions: &[HistoryEntry], details: &[StatsDetailRow]) -> Stats {
        let mut s = Stats {
            total_executions: executions.len() as i64,
            ..Stats::default()
        };
        let mut durations = Vec::new();
        for e in executions {
            match e.status {
                ExecutionStatus::Success => s.successful += 1,
                ExecutionStatus::Partial => s.partial += 1,
                ExecutionStatus::Failed => s.failed += 1,
                ExecutionStatus::Running => {}
            }
            if e.status != ExecutionStatus::Running {
                durations.extend(e.duration_seconds);
            }
            s.total_records_loaded += e.records_loaded;
            s.total_duplicates += e.duplicates_skipped;
            if let Some(p) = e.error_phase {
                *s.errors_by_phase.entry(p.as_str().to_owned()).or_default() += 1;
            }
            if let Some(c) = e.error_category {
                *s.errors_by_category
                    .entry(c.as_str().to_owned())
                    .or_default() += 1;
            }
        }
        let finished = s.successful + s.partial + s.failed;
        if finished > 0 {
            s.success_rate = round2(s.successful as f64 * 100.0 / finished as f64);
        }
        if !durations.is_empty() {
            s.avg_duration_seconds = round2(durations.iter().sum::<f64>() / durations.len() as f64);
        }

        struct Acc {
            name: Option<String>,
            total: i64,
            failed: i64,
            categories: BTreeMap<&'static str, (ErrorCategory, i64)>,
        }
        let mut per_store: BTreeMap<&str, Acc> = BTreeMap::new();
        for d in details {
            let acc = per_store.entry(&d.tienda_id).or_insert_with(|| Acc {
                name: d.tienda_nombre.clone(),
                total: 0,
                failed: 0,
                categories: BTreeMap::new(),
            });
            acc.total += 1;
            if d.status == StoreStatus::Failed {
                acc.failed += 1;
                if let Some(c) = d.error_category {
                    acc.categories.entry(c.as_str()).or_insert((c, 0)).1 += 1;
                }
            }
        }
        let mut worst: Vec<StoreFailures> = per_store
            .into_iter()
            .filter(|(_, a)| a.failed > 0)
            .map(|(id, a)| StoreFailures {
                tienda_id: id.to_owned(),
                tienda_nombre: a.name,
                total_ejecuciones: a.total,
                fallos: a.failed,
                // Most frequent; ties go to the alphabetically first category, as SQL's mode()
                // would (hence the map keyed by the stored text).
                error_mas_comun: a
                    .categories
                    .iter()
                    .max_by(|x, y| x.1 .1.cmp(&y.1 .1).then(y.0.cmp(x.0)))
                    .map(|(_, (c, _))| *c),
            })
            .collect();
        worst.sort_by(|a, b| b.fallos.cmp(&a.fallos).then(a.tienda_id.cmp(&b.tienda_id)));
        worst.truncate(10);
        s.tiendas_con_mas_fallos = worst;
        s
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggered_by_detection() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(TriggeredBy::detect_from(env(&[])), TriggeredBy::Cli);
        assert_eq!(
            TriggeredBy::detect_from(env(&[("FLUXION_ADMIN", "true")])),
            TriggeredBy::FluxionAdmin
        );
        assert_eq!(
            TriggeredBy::detect_from(env(&[("FLUXION_ADMIN", "1")])),
            TriggeredBy::Cli
        );
        assert_eq!(
            TriggeredBy::detect_from(env(&[
                ("AWS_EXECUTION_ENV", "AWS_ECS_FARGATE"),
                ("FLUXION_ADMIN", "true")
            ])),
            TriggeredBy::Eventbridge
        );
    }

    #[test]
    fn status_from_counts() {
        assert_eq!(ExecutionStatus::from_counts(3, 0), ExecutionStatus::Success);
        assert_eq!(ExecutionStatus::from_counts(2, 1), ExecutionStatus::Partial);
        assert_eq!(ExecutionStatus::from_counts(0, 2), ExecutionStatus::Failed);
    }

    #[test]
    fn stats_aggregate() {
        let ex = |status: &str, phase: Option<&str>, cat: Option<&str>| HistoryEntry {
            id: 1,
            etl_name: DataKind::Sales,
            etl_type: None,
            started_at: DateTime::default(),
            finished_at: None,
            duration_seconds: Some(10.0),
            status: status.parse().unwrap(),
            records_extracted: 100,
            records_loaded: 100,
            duplicates_skipped: 1,
            tiendas_count: 1,
            tiendas_exitosas: 0,
            tiendas_fallidas: 0,
            error_phase: phase.map(|p| p.parse().unwrap()),
            error_category: cat.map(|c| c.parse().unwrap()),
            triggered_by: TriggeredBy::Cli,
            is_recovery: false,
        };
        let executions = vec![
            ex("success", None, None),
            ex("success", None, None),
            ex("partial", Some("extract"), Some("vpn_timeout")),
            ex("failed", Some("load"), Some("deadlock")),
        ];
        let det = |id: &str, status: &str, cat: Option<&str>| StatsDetailRow {
            tienda_id: id.into(),
            tienda_nombre: Some(id.to_uppercase()),
            status: status.parse().unwrap(),
            error_category: cat.map(|c| c.parse().unwrap()),
        };
        let details = vec![
            det("tienda_01", "success", None),
            det("tienda_08", "failed", Some("vpn_timeout")),
            det("tienda_08", "failed", Some("vpn_timeout")),
            det("tienda_08", "failed", Some("deadlock")),
            det("tienda_02", "failed", Some("api_error")),
        ];
        let s = Stats::compute(&executions, &details);
        assert_eq!(s.total_executions, 4);
        assert_eq!(s.success_rate, 50.0);
        assert_eq!(s.errors_by_phase["extract"], 1);
        assert_eq!(s.errors_by_category["deadlock"], 1);
        assert_eq!(s.tiendas_con_mas_fallos[0].tienda_id, "tienda_08");
        assert_eq!(s.tiendas_con_mas_fallos[0].fallos, 3);
        assert_eq!(
            s.tiendas_con_mas_fallos[0].error_mas_comun.as_deref(),
            Some("vpn_timeout")
        );
        assert_eq!(s.tiendas_con_mas_fallos.len(), 2);
    }
}

#[cfg(test)]
mod stored_text_tests {
    use crate::model::DataKind;
    use crate::tracker::{ErrorCategory, ExecutionStatus};

    #[test]
    fn a_stored_value_reads_as_its_text_and_an_unknown_one_is_named() {
        assert_eq!(ExecutionStatus::Partial, "partial");
        assert_eq!(
            Some(ErrorCategory::VpnTimeout).as_deref(),
            Some("vpn_timeout")
        );
        assert_eq!(DataKind::Sales.to_string(), "ventas");
        assert_eq!("failed".parse(), Ok(ExecutionStatus::Failed));
        let err = "paused".parse::<ExecutionStatus>().unwrap_err();
        assert_eq!(err.to_string(), "`paused` is not a known execution status");
    }
}
