//! Live log lines of executions: a `tracing` layer that keeps every event of an execution in a
//! per-execution ring buffer, served by `GET /api/etl/ventas/logs` (incremental with `since`) and
//! streamed by `GET /api/etl/ventas/logs/stream` (Server-Sent Events).
//!
//! An event of Fluxion's crates belongs to an execution when it carries an `execution_id` field,
//! or when it happens inside a span that does (the runner's per-store span); dependencies'
//! events (sqlx's slow-statement warnings, …) stay in the server's log only. Every line is sanitized before it is
//! kept: credentials that a source's error quotes never reach a client.
//!
//! ```
//! use fluxion_etl_server::logs::LogHub;
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let hub = LogHub::new();
//! let subscriber = tracing_subscriber::registry().with(hub.layer());
//! tracing::subscriber::with_default(subscriber, || {
//!     // What the tracker logs (only events of Fluxion's crates are kept).
//!     tracing::info!(target: "fluxion_etl_core::tracker", execution_id = 7_i64,
//!                    store = "tienda_01", "Store finished.");
//! });
//! let page = hub.lines(Some(7), 0).unwrap();
//! assert_eq!(page.logs[0].store.as_deref(), Some("tienda_01"));
//! ```

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use fluxion_etl_core::tracker::{sanitize, ExecutionStatus};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Lines kept per execution (older ones are dropped first).
pub const MAX_LINES_PER_EXECUTION: usize = 5_000;
/// Executions whose lines are kept.
pub const MAX_EXECUTIONS: usize = 50;

/// One log line of an execution.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LogLine {
    /// Increasing over all executions; `since` takes the last one a client has seen.
    pub id: u64,
    /// The execution.
    pub execution_id: i64,
    /// When it was logged.
    pub timestamp: DateTime<Utc>,
    /// `info`, `warning`, `error`, or `success` (a store or an execution that succeeded).
    pub level: String,
    /// The message with its fields (`Store finished. store=tienda_01 loaded=1248 …`).
    pub message: String,
    /// The store it concerns, if any.
    pub store: Option<String>,
}

/// A page of an execution's log lines.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LogPage {
    /// The execution.
    pub execution_id: i64,
    /// `ventas` or `inventario`, when known.
    pub etl_name: Option<String>,
    /// `running`, or its final status (`success`, `partial`, `failed`, `interrupted`).
    pub status: String,
    /// Whether the execution is still running.
    pub running: bool,
    /// Lines after `since`.
    pub logs: Vec<LogLine>,
    /// Lines of the execution kept in memory.
    pub total: usize,
    /// Pass this as `since` to get only newer lines.
    pub next_since: u64,
}

#[derive(Debug)]
struct ExecLog {
    execution_id: i64,
    etl_name: Option<String>,
    status: Option<String>,
    lines: VecDeque<LogLine>,
}

#[derive(Debug, Default)]
struct Inner {
    executions: VecDeque<ExecLog>,
    next_id: u64,
    finished: Option<mpsc::UnboundedSender<i64>>,
}

/// The executions' log lines, shared by the tracing layer and the handlers.
#[derive(Debug, Clone)]
pub struct LogHub {
    inner: Arc<Mutex<Inner>>,
    tx: broadcast::Sender<LogLine>,
}

impl Default for LogHub {
    fn default() -> Self {
        Self::new()
    }
}

impl LogHub {
    /// An empty hub.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner::default())),
            tx: broadcast::channel(1024).0,
        }
    }

    /// The `tracing` layer that feeds this hub (INFO and above).
    pub fn layer<S>(&self) -> impl Layer<S> + Send + Sync + 'static
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        LogLayer { hub: self.clone() }.with_filter(LevelFilter::INFO)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ids of finished executions are sent on the returned channel as they finish (for a
    /// program that reacts to them; the metrics need none of it, the library emits them).
    pub fn watch_finished(&self) -> mpsc::UnboundedReceiver<i64> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().finished = Some(tx);
        rx
    }

    /// New lines as they are logged.
    pub fn subscribe(&self) -> broadcast::Receiver<LogLine> {
        self.tx.subscribe()
    }

    /// Appends a line to an execution's log.
    pub fn push(&self, execution_id: i64, level: &str, message: &str, store: Option<String>) {
        self.record(Record {
            execution_id,
            level: level.to_owned(),
            message: sanitize(message),
            store,
            etl_name: None,
            closes_with: None,
        });
    }

    fn record(&self, r: Record) {
        let mut inner = self.lock();
        inner.next_id += 1;
        let line = LogLine {
            id: inner.next_id,
            execution_id: r.execution_id,
            timestamp: Utc::now(),
            level: r.level,
            message: r.message,
            store: r.store,
        };
        let pos = inner
            .executions
            .iter()
            .position(|e| e.execution_id == r.execution_id);
        let exec = match pos {
            Some(p) => &mut inner.executions[p],
            None => {
                if inner.executions.len() >= MAX_EXECUTIONS {
                    inner.executions.pop_front();
                }
                inner.executions.push_back(ExecLog {
                    execution_id: r.execution_id,
                    etl_name: None,
                    status: None,
                    lines: VecDeque::new(),
                });
                let last = inner.executions.len() - 1;
                &mut inner.executions[last]
            }
        };
        if r.etl_name.is_some() {
            exec.etl_name = r.etl_name;
        }
        if exec.lines.len() >= MAX_LINES_PER_EXECUTION {
            exec.lines.pop_front();
        }
        exec.lines.push_back(line.clone());
        let finished = r.closes_with.is_some();
        if let Some(status) = r.closes_with {
            exec.status = Some(status);
        }
        if finished {
            if let Some(tx) = &inner.finished {
                let _ = tx.send(r.execution_id);
            }
        }
        drop(inner);
        // No subscriber is fine: nobody is streaming.
        let _ = self.tx.send(line);
    }

    /// The most recent execution with lines, optionally of one kind (`ventas`).
    pub fn latest(&self, etl_name: Option<&str>) -> Option<i64> {
        self.lock()
            .executions
            .iter()
            .rev()
            .find(|e| etl_name.is_none() || e.etl_name.as_deref() == etl_name)
            .map(|e| e.execution_id)
    }

    /// Executions still running, as their lines show.
    pub fn running(&self) -> Vec<i64> {
        self.lock()
            .executions
            .iter()
            .filter(|e| e.status.is_none())
            .map(|e| e.execution_id)
            .collect()
    }

    /// Lines of an execution (the latest when `None`) with an id above `since`.
    pub fn lines(&self, execution_id: Option<i64>, since: u64) -> Option<LogPage> {
        let inner = self.lock();
        let exec = match execution_id {
            Some(id) => inner.executions.iter().find(|e| e.execution_id == id)?,
            None => inner.executions.back()?,
        };
        let logs: Vec<LogLine> = exec
            .lines
            .iter()
            .filter(|l| l.id > since)
            .cloned()
            .collect();
        Some(LogPage {
            execution_id: exec.execution_id,
            etl_name: exec.etl_name.clone(),
            status: exec
                .status
                .clone()
                .unwrap_or_else(|| ExecutionStatus::Running.to_string()),
            running: exec.status.is_none(),
            next_since: logs.last().map(|l| l.id).unwrap_or(since),
            total: exec.lines.len(),
            logs,
        })
    }

    /// The highest line id so far (a stream started now sends only lines above it).
    pub fn last_id(&self) -> u64 {
        self.lock().next_id
    }
}

struct Record {
    execution_id: i64,
    level: String,
    message: String,
    store: Option<String>,
    etl_name: Option<String>,
    closes_with: Option<String>,
}

/// The fields of a span that tie its events to an execution.
#[derive(Debug, Clone, Default)]
struct SpanTag {
    execution_id: Option<i64>,
    store: Option<String>,
}

struct LogLayer {
    hub: LogHub,
}

#[derive(Default)]
struct Fields {
    message: String,
    execution_id: Option<i64>,
    store: Option<String>,
    etl_name: Option<String>,
    status: Option<String>,
    rest: Vec<(&'static str, String)>,
}

impl Visit for Fields {
    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "execution_id" {
            self.execution_id = Some(value);
        } else {
            self.rest.push((field.name(), value.to_string()));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "execution_id" {
            self.execution_id = i64::try_from(value).ok();
        } else {
            self.rest.push((field.name(), value.to_string()));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_text(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_text(field, format!("{value:?}"));
    }
}

impl Fields {
    fn record_text(&mut self, field: &Field, value: String) {
        match field.name() {
            "message" => self.message = value,
            "execution_id" => self.execution_id = value.parse().ok(),
            "store" => self.store = Some(value),
            "etl_name" => {
                self.rest.push(("etl_name", value.clone()));
                self.etl_name = Some(value);
            }
            "status" => {
                self.rest.push(("status", value.clone()));
                self.status = Some(value);
            }
            name => self.rest.push((name, value)),
        }
    }

    fn render(&self) -> String {
        let mut out = self.message.clone();
        if let Some(store) = &self.store {
            let _ = write!(out, " store={store}");
        }
        for (k, v) in &self.rest {
            let _ = write!(out, " {k}={v}");
        }
        out
    }
}

impl<S> Layer<S> for LogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut f = Fields::default();
        attrs.record(&mut f);
        if f.execution_id.is_none() && f.store.is_none() {
            return;
        }
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanTag {
                execution_id: f.execution_id,
                store: f.store,
            });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // Fluxion's own events only: a dependency's (sqlx's slow-statement warning with the
        // whole SQL, hyper's) inside a store's span is not an operator's line.
        if !event.metadata().target().starts_with("fluxion") {
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        if f.execution_id.is_none() || f.store.is_none() {
            if let Some(scope) = ctx.event_scope(event) {
                for span in scope {
                    if let Some(tag) = span.extensions().get::<SpanTag>() {
                        f.execution_id = f.execution_id.or(tag.execution_id);
                        if f.store.is_none() {
                            f.store.clone_from(&tag.store);
                        }
                    }
                }
            }
        }
        let Some(execution_id) = f.execution_id else {
            return;
        };
        let level = *event.metadata().level();
        let closes_with = if f.message.starts_with("Execution finished") {
            Some(f.status.clone().unwrap_or_else(|| "finished".into()))
        } else if f.message.starts_with("Execution interrupted") {
            Some("interrupted".to_owned())
        } else {
            None
        };
        let level = match level {
            Level::ERROR => "error",
            Level::WARN => "warning",
            _ if f.message.starts_with("Store finished")
                || closes_with.as_deref().and_then(ExecutionStatus::parse)
                    == Some(ExecutionStatus::Success) =>
            {
                "success"
            }
            _ => "info",
        };
        self.hub.record(Record {
            execution_id,
            level: level.to_owned(),
            message: sanitize(&f.render()),
            store: f.store.clone(),
            etl_name: f
                .message
                .starts_with("Execution started")
                .then(|| f.etl_name.clone())
                .flatten(),
            closes_with,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn events_of_executions_and_their_spans_are_kept_sanitized() {
        let hub = LogHub::new();
        let mut finished = hub.watch_finished();
        let subscriber = tracing_subscriber::registry().with(hub.layer());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(
                execution_id = 3_i64,
                etl_name = "ventas",
                "Execution started."
            );
            tracing::info!("Not an execution's line.");
            tracing::debug!(execution_id = 3_i64, "Too chatty.");
            let span = tracing::info_span!("store", execution_id = 3_i64, store = "tienda_08");
            span.in_scope(|| {
                tracing::warn!(target: "sqlx::query", "slow statement: INSERT INTO …");
                tracing::warn!(
                    attempt = 2,
                    "Request failed; retrying: GET http://user:hunter2@10.0.0.1/ventas"
                );
            });
            tracing::info!(
                execution_id = 3_i64,
                status = "success",
                "Execution finished."
            );
        });
        let page = hub.lines(None, 0).unwrap();
        assert_eq!(page.execution_id, 3);
        assert_eq!(page.etl_name.as_deref(), Some("ventas"));
        assert_eq!(page.logs.len(), 3, "{:?}", page.logs);
        assert_eq!(page.logs[1].level, "warning");
        assert_eq!(page.logs[1].store.as_deref(), Some("tienda_08"));
        assert!(page.logs[1].message.contains("attempt=2"));
        assert!(
            !page.logs[1].message.contains("hunter2"),
            "{}",
            page.logs[1].message
        );
        assert_eq!(page.logs[2].level, "success");
        assert_eq!(page.status, "success");
        assert!(!page.running);
        assert_eq!(finished.try_recv().unwrap(), 3);
        let newer = hub.lines(Some(3), page.logs[1].id).unwrap();
        assert_eq!(newer.logs.len(), 1);
        assert_eq!(hub.latest(Some("ventas")), Some(3));
        assert_eq!(hub.latest(Some("inventario")), None);
    }

    #[test]
    fn buffers_are_bounded() {
        let hub = LogHub::new();
        for e in 0..(MAX_EXECUTIONS as i64 + 5) {
            hub.push(e, "info", "x", None);
        }
        assert!(hub.lines(Some(0), 0).is_none());
        assert!(hub.lines(Some(MAX_EXECUTIONS as i64 + 4), 0).is_some());
        for _ in 0..(MAX_LINES_PER_EXECUTION + 10) {
            hub.push(1000, "info", "y", None);
        }
        assert_eq!(
            hub.lines(Some(1000), 0).unwrap().total,
            MAX_LINES_PER_EXECUTION
        );
    }
}
