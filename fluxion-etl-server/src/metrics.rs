//! `GET /metrics`: Prometheus text exposition of the executions this process saw finish.
//!
//! Every finished execution (started by the API, by the scheduler, or by anything else in the
//! process that logs through the tracker) is read back once from the tracker and counted:
//!
//! - `fluxion_runs_total{etl_name,status}` — executions by final status;
//! - `fluxion_rows_total{etl_name,kind}` — rows `extracted`, `loaded`, `duplicates`;
//! - `fluxion_phase_duration_seconds_sum/_count{etl_name,phase}` — busy time per phase;
//! - `fluxion_store_errors_total{phase,category}` — failed stores by the taxonomy;
//! - `fluxion_last_success_timestamp_seconds{etl_name,store}` — when each store last loaded
//!   successfully (seeded from the history at start-up);
//! - `fluxion_runs_active` — runs in progress in this process.
//!
//! ```
//! use fluxion_etl_server::metrics::Metrics;
//!
//! let text = Metrics::default().render(0);
//! assert!(text.contains("# TYPE fluxion_runs_total counter"));
//! ```

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::sync::Mutex;

use fluxion_etl_core::tracker::{
    ErrorCategory, ExecutionStatus, ExecutionView, HistoryFilter, Phase, StoreStatus, TrackerStore,
};

#[derive(Debug, Default)]
struct Counters {
    runs: BTreeMap<(String, String), u64>,
    rows: BTreeMap<(String, &'static str), i64>,
    phase: BTreeMap<(String, &'static str), (f64, u64)>,
    errors: BTreeMap<(String, String), u64>,
    last_success: BTreeMap<(String, String), i64>,
    seen: HashSet<i64>,
    seen_order: VecDeque<i64>,
}

/// The counters behind `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    c: Mutex<Counters>,
}

const SEEN_MAX: usize = 10_000;

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.c.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a finished execution (once; a second call with the same id does nothing).
    pub fn observe(&self, view: &ExecutionView) {
        if view.status == ExecutionStatus::Running {
            return;
        }
        let mut c = self.lock();
        if !c.seen.insert(view.id) {
            return;
        }
        c.seen_order.push_back(view.id);
        if c.seen_order.len() > SEEN_MAX {
            if let Some(old) = c.seen_order.pop_front() {
                c.seen.remove(&old);
            }
        }
        // Keyed by the stored texts: the exposition lists series in their alphabetical order.
        let name = view.etl_name.to_string();
        *c.runs
            .entry((name.clone(), view.status.to_string()))
            .or_default() += 1;
        for (kind, n) in [
            ("extracted", view.records_extracted),
            ("loaded", view.records_loaded),
            ("duplicates", view.duplicates_skipped),
        ] {
            *c.rows.entry((name.clone(), kind)).or_default() += n;
        }
        for (phase, secs) in [
            ("extract", view.extract_duration_seconds),
            ("transform", view.transform_duration_seconds),
            ("load", view.load_duration_seconds),
        ] {
            if let Some(s) = secs {
                let e = c.phase.entry((name.clone(), phase)).or_default();
                e.0 += s;
                e.1 += 1;
            }
        }
        for d in &view.tiendas_detail {
            if d.status == StoreStatus::Failed {
                let key = (
                    d.error_phase.map_or("unknown", Phase::as_str).to_owned(),
                    d.error_category
                        .map_or("unknown", ErrorCategory::as_str)
                        .to_owned(),
                );
                *c.errors.entry(key).or_default() += 1;
            }
        }
        drop(c);
        self.observe_successes(view);
    }

    /// Updates the last-success gauge from an execution's stores (without counting the run).
    pub fn observe_successes(&self, view: &ExecutionView) {
        let mut c = self.lock();
        for d in &view.tiendas_detail {
            if d.status != StoreStatus::Success {
                continue;
            }
            let Some(at) = d.finished_at.or(view.finished_at) else {
                continue;
            };
            let e = c
                .last_success
                .entry((view.etl_name.to_string(), d.tienda_id.clone()))
                .or_insert(i64::MIN);
            *e = (*e).max(at.timestamp());
        }
    }

    /// Reads a finished execution back from the tracker and counts it.
    pub async fn record(&self, store: &dyn TrackerStore, execution_id: i64) {
        match store.execution(execution_id).await {
            Ok(Some(view)) => self.observe(&view),
            Ok(None) => {}
            Err(e) => tracing::warn!(
                execution_id,
                "Cannot read the execution for the metrics: {}",
                fluxion_etl_core::tracker::sanitize(&e.to_string())
            ),
        }
    }

    /// Seeds the last-success gauge from the latest executions in the history.
    pub async fn seed_last_success(&self, store: &dyn TrackerStore) {
        let filter = HistoryFilter {
            limit: Some(HistoryFilter::MAX_LIMIT),
            ..HistoryFilter::default()
        };
        let Ok(entries) = store.history(&filter).await else {
            return;
        };
        for e in entries.iter().filter(|e| e.tiendas_exitosas > 0) {
            if let Ok(Some(view)) = store.execution(e.id).await {
                self.observe_successes(&view);
            }
        }
    }

    /// The exposition text.
    pub fn render(&self, active_runs: usize) -> String {
        let c = self.lock();
        let mut out = String::new();
        header(
            &mut out,
            "fluxion_runs_total",
            "counter",
            "Executions finished, by final status.",
        );
        for ((name, status), n) in &c.runs {
            let _ = writeln!(
                out,
                "fluxion_runs_total{{etl_name=\"{}\",status=\"{}\"}} {n}",
                esc(name),
                esc(status)
            );
        }
        header(
            &mut out,
            "fluxion_rows_total",
            "counter",
            "Rows of finished executions: extracted, loaded (inserted or updated), duplicates (unchanged).",
        );
        for ((name, kind), n) in &c.rows {
            let _ = writeln!(
                out,
                "fluxion_rows_total{{etl_name=\"{}\",kind=\"{kind}\"}} {n}",
                esc(name)
            );
        }
        header(
            &mut out,
            "fluxion_phase_duration_seconds",
            "summary",
            "Busy time per phase of finished executions (summed over stores).",
        );
        for ((name, phase), (sum, count)) in &c.phase {
            let _ = writeln!(
                out,
                "fluxion_phase_duration_seconds_sum{{etl_name=\"{}\",phase=\"{phase}\"}} {sum}",
                esc(name)
            );
            let _ = writeln!(
                out,
                "fluxion_phase_duration_seconds_count{{etl_name=\"{}\",phase=\"{phase}\"}} {count}",
                esc(name)
            );
        }
        header(
            &mut out,
            "fluxion_store_errors_total",
            "counter",
            "Failed stores, by error phase and category.",
        );
        for ((phase, category), n) in &c.errors {
            let _ = writeln!(
                out,
                "fluxion_store_errors_total{{phase=\"{}\",category=\"{}\"}} {n}",
                esc(phase),
                esc(category)
            );
        }
        header(
            &mut out,
            "fluxion_last_success_timestamp_seconds",
            "gauge",
            "When each store last finished a load successfully (Unix time).",
        );
        for ((name, store), at) in &c.last_success {
            let _ = writeln!(
                out,
                "fluxion_last_success_timestamp_seconds{{etl_name=\"{}\",store=\"{}\"}} {at}",
                esc(name),
                esc(store)
            );
        }
        header(
            &mut out,
            "fluxion_runs_active",
            "gauge",
            "Runs in progress in this process (API and scheduler).",
        );
        let _ = writeln!(out, "fluxion_runs_active {active_runs}");
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use fluxion_etl_core::model::SourceSystem;
    use fluxion_etl_core::tracker::StoreDetailView;

    fn detail(id: &str, status: &str, category: Option<&str>) -> StoreDetailView {
        StoreDetailView {
            tienda_id: id.into(),
            tienda_nombre: None,
            source_system: Some(SourceSystem::Klk),
            status: status.parse().unwrap(),
            started_at: None,
            finished_at: Some("2026-01-26T10:00:45Z".parse().unwrap()),
            duration_seconds: Some(1.0),
            records_extracted: 10,
            records_loaded: 10,
            duplicates_skipped: 0,
            records_inserted: 10,
            records_updated: 0,
            records_deleted: 0,
            error_phase: category.map(|_| Phase::Extract),
            error_category: category.map(|c| c.parse().unwrap()),
            error_message: None,
            server_ip: None,
            server_port: None,
            connection_latency_ms: None,
        }
    }

    #[test]
    fn counts_each_execution_once() {
        let view: ExecutionView = serde_json::from_value(serde_json::json!({
            "id": 5, "etl_name": "ventas", "etl_type": "manual", "mode": "full",
            "started_at": "2026-01-26T10:00:00Z", "finished_at": "2026-01-26T10:00:45Z",
            "duration_seconds": 45.0, "fecha_desde": null, "fecha_hasta": null,
            "status": "partial", "records_extracted": 20, "records_loaded": 10,
            "duplicates_skipped": 0, "gaps_recovered": 0, "extract_duration_seconds": 1.5,
            "transform_duration_seconds": 0.0, "load_duration_seconds": 2.0,
            "error_phase": "extract", "error_category": "vpn_timeout", "error_source": "klk_api",
            "error_message": null, "error_detail": null, "triggered_by": "fluxion_admin",
            "source_system": "klk", "is_recovery": false, "recovered_gap_id": null,
            "api_requests_count": 2, "api_errors_count": 1, "network_diagnostics": null,
            "tiendas_detail": []
        }))
        .unwrap();
        let mut view = view;
        view.tiendas_detail = vec![
            detail("tienda_01", "success", None),
            detail("tienda_08", "failed", Some("vpn_timeout")),
        ];
        let m = Metrics::default();
        m.observe(&view);
        m.observe(&view);
        let text = m.render(1);
        assert!(text.contains("fluxion_runs_total{etl_name=\"ventas\",status=\"partial\"} 1\n"));
        assert!(text.contains("fluxion_rows_total{etl_name=\"ventas\",kind=\"loaded\"} 10\n"));
        assert!(text.contains(
            "fluxion_store_errors_total{phase=\"extract\",category=\"vpn_timeout\"} 1\n"
        ));
        assert!(text.contains(
            "fluxion_last_success_timestamp_seconds{etl_name=\"ventas\",store=\"tienda_01\"} 1769421645\n"
        ));
        assert!(!text.contains("store=\"tienda_08\""));
        assert!(text.contains("fluxion_runs_active 1\n"));
        // Every sample line is `name{labels} value` with a declared metric name.
        let declared: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split(' ').next().unwrap())
            .collect();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
            let name = series.split('{').next().unwrap();
            assert!(
                declared.iter().any(|d| name == *d
                    || name
                        .strip_prefix(d)
                        .is_some_and(|s| s == "_sum" || s == "_count")),
                "{line}"
            );
            if let Some(labels) = series.split_once('{').map(|(_, l)| l) {
                assert!(labels.ends_with('}'), "{line}");
            }
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
