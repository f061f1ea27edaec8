//! The handlers of seeds 000 and 003. Each one validates its input, calls the library and
//! shapes the answer; none does ETL work itself.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use fluxion_etl_core::connectivity::ConnectivityReport;
use fluxion_etl_core::gaps::{GapQuery, GapReport};
use fluxion_etl_core::local_time::{self, Bound, BoundError, ManualWindow, WindowError};
use fluxion_etl_core::model::{store_today, DataKind, StoreId};
use fluxion_etl_core::schedule::ScheduleSettings;
use fluxion_etl_core::scheduler::{EffectiveSettings, Scheduler, SchedulerStatus};
use fluxion_etl_core::tracker::{
    ExecutionStatus, ExecutionView, HistoryEntry, HistoryFilter, RunMode, Stats, StoreStatus,
    TriggeredBy,
};
use fluxion_etl_core::{RunRequest, StoreSelection};
use futures::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;

use crate::error::ApiError;
use crate::logs::{LogLine, LogPage};
use crate::AppState;

type ApiResult<T> = Result<Json<T>, ApiError>;

/// Query parameters are read as text and validated here, so that every mistake gets a message
/// that names the parameter.
fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v).map_err(ApiError::from)
}

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(v)| v).map_err(ApiError::from)
}

fn parse_kind(name: &str, value: &str) -> Result<DataKind, ApiError> {
    DataKind::parse(value).ok_or_else(|| {
        ApiError::unprocessable(format!(
            "{name} must be `ventas` or `inventario`, not `{value}`"
        ))
    })
}

fn parse_int<T: TryFrom<i64>>(name: &str, value: &str, min: i64, max: i64) -> Result<T, ApiError> {
    let n: i64 = value.trim().parse().map_err(|_| {
        ApiError::bad_request(format!("{name} must be a whole number, not `{value}`"))
    })?;
    if !(min..=max).contains(&n) {
        return Err(ApiError::unprocessable(format!(
            "{name} must be between {min} and {max}, not {n}"
        )));
    }
    T::try_from(n).map_err(|_| ApiError::unprocessable(format!("{name} is out of range")))
}

/// A day: `2026-01-25`, or the date of `2026-01-25 10:00:00` / `2026-01-25T10:00:00Z`.
fn parse_day(name: &str, value: &str) -> Result<NaiveDate, ApiError> {
    local_time::parse_day(value).ok_or_else(|| {
        ApiError::bad_request(format!(
            "{name} must be a date such as 2026-01-25, not `{value}`"
        ))
    })
}

/// A bound of a run's window, store-local, by the library's rules (a bare date is a whole day;
/// seed 003's `23:59:59` end is the next second).
fn parse_bound(name: &str, value: &str, bound: Bound) -> Result<NaiveDateTime, ApiError> {
    local_time::parse_bound(value, bound).map_err(|e| match e {
        BoundError::OutOfRange(_) => ApiError::unprocessable(format!("{name} is out of range")),
        _ => ApiError::bad_request(format!(
            "{name} must be `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS`, not `{value}`"
        )),
    })
}

// ---------------------------------------------------------------------------------------------
// History, detail, stats (seed 003 §3.1)

/// `GET /api/etl/history` query.
#[derive(Debug, Default, Deserialize)]
pub struct HistoryQuery {
    etl_name: Option<String>,
    status: Option<String>,
    fecha_desde: Option<String>,
    fecha_hasta: Option<String>,
    triggered_by: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

impl HistoryQuery {
    fn filter(&self) -> Result<HistoryFilter, ApiError> {
        let nonempty = |o: &Option<String>| o.clone().filter(|s| !s.trim().is_empty());
        let mut f = HistoryFilter::default();
        if let Some(v) = nonempty(&self.etl_name) {
            f.etl_name = Some(parse_kind("etl_name", &v)?);
        }
        if let Some(v) = nonempty(&self.status) {
            f.status = Some(ExecutionStatus::parse(&v).ok_or_else(|| {
                ApiError::unprocessable(format!(
                    "status must be one of success, partial, failed, running; not `{v}`"
                ))
            })?);
        }
        if let Some(v) = nonempty(&self.triggered_by) {
            f.triggered_by = Some(TriggeredBy::parse(&v).ok_or_else(|| {
                ApiError::unprocessable(format!(
                    "triggered_by must be one of eventbridge, fluxion_admin, cli, recovery, scheduler; not `{v}`"
                ))
            })?);
        }
        if let Some(v) = nonempty(&self.fecha_desde) {
            f.fecha_desde = Some(parse_day("fecha_desde", &v)?);
        }
        if let Some(v) = nonempty(&self.fecha_hasta) {
            f.fecha_hasta = Some(parse_day("fecha_hasta", &v)?);
        }
        if let (Some(a), Some(b)) = (f.fecha_desde, f.fecha_hasta) {
            if a > b {
                return Err(ApiError::unprocessable(format!(
                    "fecha_desde ({a}) is after fecha_hasta ({b})"
                )));
            }
        }
        if let Some(v) = nonempty(&self.limit) {
            f.limit = Some(parse_int(
                "limit",
                &v,
                1,
                i64::from(HistoryFilter::MAX_LIMIT),
            )?);
        }
        if let Some(v) = nonempty(&self.offset) {
            f.offset = Some(parse_int("offset", &v, 0, i64::from(u32::MAX))?);
        }
        Ok(f)
    }
}

/// `GET /api/etl/history`: executions, newest first.
#[utoipa::path(get, path = "/api/etl/history",
    summary = "Executions, newest first, with filters and pagination.",
    params(
        ("etl_name" = Option<String>, Query, description = "`ventas` or `inventario`"),
        ("status" = Option<String>, Query, description = "`success`, `partial`, `failed`, `running`"),
        ("fecha_desde" = Option<String>, Query, description = "Started on or after this day (YYYY-MM-DD)"),
        ("fecha_hasta" = Option<String>, Query, description = "Started on or before this day (YYYY-MM-DD)"),
        ("triggered_by" = Option<String>, Query, description = "`eventbridge`, `fluxion_admin`, `cli`, `recovery`, `scheduler`"),
        ("limit" = Option<u32>, Query, description = "1–200, default 50"),
        ("offset" = Option<u32>, Query, description = "Skip this many"),
    ),
    responses((status = 200, description = "OK", body = Vec<crate::openapi::HistoryEntry>), crate::openapi::BadInput))]
pub async fn history(
    State(state): State<AppState>,
    q: Result<Query<HistoryQuery>, QueryRejection>,
) -> ApiResult<Vec<HistoryEntry>> {
    let filter = query(q)?.filter()?;
    Ok(Json(state.fluxion.tracker_store().history(&filter).await?))
}

/// `GET /api/etl/history/{id}`: one execution with `tiendas_detail`.
#[utoipa::path(get, path = "/api/etl/history/{id}",
    summary = "One execution with its per-store detail and phase durations.",
    params(("id" = i64, Path, description = "The execution")),
    responses(
        (status = 200, description = "OK", body = crate::openapi::Execution),
        (status = 404, description = "No such execution.", body = crate::openapi::Error),
        crate::openapi::BadInput,
    ))]
pub async fn execution(
    State(state): State<AppState>,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> ApiResult<ExecutionView> {
    let Path(id) = id.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let id: i64 = id.parse().map_err(|_| {
        ApiError::bad_request(format!("the execution id must be a number, not `{id}`"))
    })?;
    state
        .fluxion
        .tracker_store()
        .execution(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no execution {id}")))
}

/// `GET /api/etl/stats` query.
#[derive(Debug, Default, Deserialize)]
pub struct StatsQuery {
    etl_name: Option<String>,
    dias: Option<String>,
}

/// `GET /api/etl/stats?dias=N`.
#[utoipa::path(get, path = "/api/etl/stats",
    summary = "Success rate, errors by phase and category, stores with most failures.",
    params(
        ("etl_name" = Option<String>, Query, description = "`ventas` or `inventario`"),
        ("dias" = Option<u32>, Query, description = "Days back, 1–90, default 7"),
    ),
    responses((status = 200, description = "OK", body = crate::openapi::Stats), crate::openapi::BadInput))]
pub async fn stats(
    State(state): State<AppState>,
    q: Result<Query<StatsQuery>, QueryRejection>,
) -> ApiResult<Stats> {
    let q = query(q)?;
    let days: u32 = match q.dias.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(v) => parse_int("dias", v, 1, 90)?,
        None => 7,
    };
    let kind = match q.etl_name.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(v) => Some(parse_kind("etl_name", v)?),
        None => None,
    };
    Ok(Json(state.fluxion.tracker_store().stats(days, kind).await?))
}

// ---------------------------------------------------------------------------------------------
// Manual runs

/// `POST /api/etl/run` and `POST /api/etl/sync/ventas` body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = RunRequest)]
pub struct RunBody {
    /// `ventas` (default) or `inventario`.
    #[schema(value_type = Option<String>, default = "ventas", pattern = "^(ventas|inventario)$")]
    etl_name: Option<String>,
    /// The stores; every active one when absent or empty.
    tienda_ids: Option<Vec<String>>,
    /// One store (the manual form of seed 000 picks one; alias `ubicacion_id`).
    #[serde(alias = "ubicacion_id")]
    tienda_id: Option<String>,
    /// Window start, store-local: `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS`.
    #[schema(example = "2026-01-25 00:00:00")]
    fecha_inicio: Option<String>,
    /// Window end, store-local: a date or `…23:59:59` includes that day.
    #[schema(example = "2026-01-25 23:59:59")]
    fecha_fin: Option<String>,
}

/// What a started run answers (seed 003).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunStarted {
    /// `ETL execution started`.
    pub message: String,
    /// The execution, already recorded as `running`.
    pub execution_id: i64,
    /// `ventas` or `inventario`.
    pub etl_name: String,
    /// The stores it covers.
    pub tienda_ids: Vec<String>,
    /// Always `fluxion_admin`.
    pub triggered_by: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
}

impl RunBody {
    /// The library's request; `default_yesterday` fills a missing sales window with yesterday.
    fn request(&self, default_yesterday: bool) -> Result<RunRequest, ApiError> {
        let kind = match self.etl_name.as_deref() {
            Some(v) => parse_kind("etl_name", v)?,
            None => DataKind::Sales,
        };
        let mut ids: Vec<String> = self.tienda_ids.clone().unwrap_or_default();
        ids.extend(self.tienda_id.clone());
        let mut seen = std::collections::BTreeSet::new();
        ids.retain(|id| !id.trim().is_empty() && seen.insert(id.clone()));
        let window = match kind {
            DataKind::Inventory => None,
            DataKind::Sales => {
                let asked = ManualWindow {
                    start: self
                        .fecha_inicio
                        .as_deref()
                        .map(|v| parse_bound("fecha_inicio", v, Bound::Start))
                        .transpose()?,
                    end: self
                        .fecha_fin
                        .as_deref()
                        .map(|v| parse_bound("fecha_fin", v, Bound::End))
                        .transpose()?,
                };
                let window = asked
                    .resolve(store_today(), default_yesterday)
                    .map_err(|e| {
                        ApiError::unprocessable(match e {
                            WindowError::EndWithoutStart => {
                                "fecha_fin without fecha_inicio; send both".to_owned()
                            }
                            WindowError::Missing => {
                                "a sales run needs fecha_inicio and fecha_fin".to_owned()
                            }
                            WindowError::NotAfterStart { from, to } => {
                                format!("fecha_inicio ({from}) must be before fecha_fin ({to})")
                            }
                            WindowError::InFuture { from } => {
                                format!("fecha_inicio ({from}) is in the future")
                            }
                            _ => "fecha_inicio is out of range".to_owned(),
                        })
                    })?;
                Some(window)
            }
        };
        Ok(RunRequest {
            kind,
            window,
            stores: if ids.is_empty() {
                StoreSelection::AllActive
            } else {
                StoreSelection::Ids(ids)
            },
            mode: RunMode::Full,
            triggered_by: Some(TriggeredBy::FluxionAdmin),
            recovered_gap_id: None,
        })
    }
}

async fn start_run(state: &AppState, request: RunRequest) -> Result<RunStarted, ApiError> {
    let run = state.runs.start(request).await?;
    Ok(RunStarted {
        message: "ETL execution started".into(),
        execution_id: run.execution_id,
        etl_name: run.etl_name,
        tienda_ids: run.tienda_ids,
        triggered_by: TriggeredBy::FluxionAdmin.as_str().into(),
        started_at: run.started_at,
    })
}

/// `POST /api/etl/run` (seed 003): starts a run, answers at once with its `execution_id`.
#[utoipa::path(post, path = "/api/etl/run",
    summary = "Starts a run; answers at once with its execution_id.",
    request_body = RunBody,
    responses(
        (status = 202, description = "OK", body = RunStarted),
        crate::openapi::BadInput,
        (status = 503, description = "The server is shutting down and takes no new runs.", body = crate::openapi::Error),
    ))]
pub async fn run(
    State(state): State<AppState>,
    b: Result<Json<RunBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let request = body(b)?.request(false)?;
    let started = start_run(&state, request).await?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(started)))
}

/// `POST /api/etl/sync/ventas` (seed 000): a manual sales run; without dates, yesterday.
#[utoipa::path(post, path = "/api/etl/sync/ventas",
    summary = "Starts a manual sales run (yesterday when no dates are given).",
    request_body(content = Option<RunBody>, description = "Optional: no body at all is yesterday, every active store."),
    responses(
        (status = 202, description = "OK", body = RunStarted),
        crate::openapi::BadInput,
        (status = 503, description = "The server is shutting down and takes no new runs.", body = crate::openapi::Error),
    ))]
pub async fn sync_ventas(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    raw: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let raw = raw.map_err(|r| {
        if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large()
        } else {
            ApiError::bad_request(r.body_text())
        }
    })?;
    // No body at all is allowed: yesterday, every active store (the panel's "Actualizar").
    let mut body = if raw.iter().all(u8::is_ascii_whitespace) {
        RunBody::default()
    } else {
        let is_json = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::bad_request(
                "send the body as JSON (Content-Type: application/json)",
            ));
        }
        serde_json::from_slice::<RunBody>(&raw).map_err(|e| {
            if e.is_data() {
                ApiError::unprocessable(format!("invalid body: {e}"))
            } else {
                ApiError::bad_request(format!("the body is not valid JSON: {e}"))
            }
        })?
    };
    if let Some(name) = &body.etl_name {
        if parse_kind("etl_name", name)? != DataKind::Sales {
            return Err(ApiError::unprocessable(
                "this endpoint runs sales; use POST /api/etl/run for inventory",
            ));
        }
    }
    body.etl_name = Some("ventas".into());
    let request = body.request(true)?;
    let started = start_run(&state, request).await?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(started)))
}

// ---------------------------------------------------------------------------------------------
// Status and logs of the current / last run (seed 000)

/// `GET /api/etl/ventas/status` answer.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunStatus {
    /// `idle` (no run known), `running`, or the last run's final status.
    pub status: String,
    /// Whether a sales run is in progress.
    pub running: bool,
    /// The current or last sales execution.
    pub execution_id: Option<i64>,
    /// Who started it.
    pub triggered_by: Option<String>,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Its duration so far or in total.
    pub duration_seconds: Option<f64>,
    /// Its window.
    pub fecha_desde: Option<DateTime<Utc>>,
    /// Its window's end.
    pub fecha_hasta: Option<DateTime<Utc>>,
    /// Stores it covers (when known).
    pub tiendas_count: Option<i64>,
    /// Stores finished so far.
    pub tiendas_procesadas: i64,
    /// Stores that succeeded.
    pub tiendas_exitosas: i64,
    /// Stores that failed.
    pub tiendas_fallidas: i64,
    /// Rows loaded so far.
    pub records_loaded: i64,
    /// Log lines kept for it.
    pub logs_count: usize,
    /// Every run this server has in progress (any kind).
    pub active_executions: Vec<i64>,
}

/// `GET /api/etl/ventas/status`.
#[utoipa::path(get, path = "/api/etl/ventas/status",
    summary = "State of the current or last sales run.",
    responses((status = 200, description = "OK", body = RunStatus)))]
pub async fn ventas_status(State(state): State<AppState>) -> ApiResult<RunStatus> {
    let store = state.fluxion.tracker_store();
    let active = state.runs.active_of(DataKind::Sales);
    let mut id = active
        .as_ref()
        .map(|r| r.execution_id)
        .or_else(|| state.logs.latest(Some("ventas")));
    if id.is_none() {
        id = state
            .fluxion
            .latest_execution(DataKind::Sales)
            .await?
            .map(|e| e.id);
    }
    let view = match id {
        Some(id) => store.execution(id).await?,
        None => None,
    };
    let active_executions = state.runs.active().iter().map(|r| r.execution_id).collect();
    let Some(v) = view else {
        return Ok(Json(RunStatus {
            status: "idle".into(),
            running: false,
            execution_id: None,
            triggered_by: None,
            started_at: None,
            finished_at: None,
            duration_seconds: None,
            fecha_desde: None,
            fecha_hasta: None,
            tiendas_count: None,
            tiendas_procesadas: 0,
            tiendas_exitosas: 0,
            tiendas_fallidas: 0,
            records_loaded: 0,
            logs_count: 0,
            active_executions,
        }));
    };
    let count = |s: StoreStatus| v.tiendas_detail.iter().filter(|d| d.status == s).count() as i64;
    let running = v.status == ExecutionStatus::Running;
    let tiendas_count = match &active {
        Some(a) if a.execution_id == v.id => Some(a.tienda_ids.len() as i64),
        _ if !running => Some(v.tiendas_detail.len() as i64),
        // A run this server did not start (the scheduler's): its history line knows.
        _ => state
            .fluxion
            .running_execution(DataKind::Sales, v.id)
            .await?
            .map(|e| e.tiendas_count),
    };
    let duration_seconds = v.duration_seconds.or_else(|| {
        running.then(|| (Utc::now() - v.started_at).num_milliseconds() as f64 / 1000.0)
    });
    Ok(Json(RunStatus {
        status: v.status.to_string(),
        running,
        execution_id: Some(v.id),
        triggered_by: Some(v.triggered_by.to_string()),
        started_at: Some(v.started_at),
        finished_at: v.finished_at,
        duration_seconds,
        fecha_desde: v.fecha_desde,
        fecha_hasta: v.fecha_hasta,
        tiendas_count,
        tiendas_procesadas: v.tiendas_detail.len() as i64,
        tiendas_exitosas: count(StoreStatus::Success),
        tiendas_fallidas: count(StoreStatus::Failed),
        records_loaded: v.tiendas_detail.iter().map(|d| d.records_loaded).sum(),
        logs_count: state
            .logs
            .lines(Some(v.id), 0)
            .map(|p| p.total)
            .unwrap_or(0),
        active_executions,
    }))
}

/// `GET /api/etl/ventas/logs` query.
#[derive(Debug, Default, Deserialize)]
pub struct LogsQuery {
    since: Option<String>,
    execution_id: Option<String>,
    #[allow(dead_code)]
    access_token: Option<String>,
}

impl LogsQuery {
    fn parse(&self) -> Result<(Option<i64>, u64), ApiError> {
        let since = match self.since.as_deref().filter(|s| !s.is_empty()) {
            Some(v) => parse_int("since", v, 0, i64::MAX)?,
            None => 0,
        };
        let id = match self.execution_id.as_deref().filter(|s| !s.is_empty()) {
            Some(v) => Some(parse_int("execution_id", v, 1, i64::MAX)?),
            None => None,
        };
        Ok((id, since))
    }
}

/// `GET /api/etl/ventas/logs?since=N[&execution_id=ID]`: log lines of the current or last run.
#[utoipa::path(get, path = "/api/etl/ventas/logs",
    summary = "Log lines of the current or last run; `since` returns only newer lines.",
    params(
        ("since" = Option<u64>, Query, description = "Only lines with a greater id (the last `next_since`)"),
        ("execution_id" = Option<i64>, Query, description = "This execution instead of the current or last one"),
    ),
    responses((status = 200, description = "OK", body = LogPage), crate::openapi::BadInput))]
pub async fn ventas_logs(
    State(state): State<AppState>,
    q: Result<Query<LogsQuery>, QueryRejection>,
) -> ApiResult<LogPage> {
    let (id, since) = query(q)?.parse()?;
    let id = id.or_else(|| {
        state
            .runs
            .active_of(DataKind::Sales)
            .map(|r| r.execution_id)
            .or_else(|| state.logs.latest(Some("ventas")))
            .or_else(|| state.logs.latest(None))
    });
    if let Some(page) = id.and_then(|id| state.logs.lines(Some(id), since)) {
        return Ok(Json(page));
    }
    // Nothing in memory (no run since the server started, or an old execution): an empty page.
    Ok(Json(LogPage {
        execution_id: id.unwrap_or(0),
        etl_name: None,
        status: if id.is_some() { "unknown" } else { "idle" }.into(),
        running: false,
        logs: Vec::new(),
        total: 0,
        next_since: since,
    }))
}

/// `GET /api/etl/ventas/logs/stream?since=N[&execution_id=ID]`: the same lines as Server-Sent
/// Events (`event: log`, `id:` the line id, `data:` the line as JSON), live.
#[utoipa::path(get, path = "/api/etl/ventas/logs/stream",
    summary = "The same log lines, live, as Server-Sent Events.",
    params(
        ("since" = Option<u64>, Query, description = "Replay lines with a greater id first"),
        ("execution_id" = Option<i64>, Query, description = "Only this execution's lines"),
        ("access_token" = Option<String>, Query, description = "The bearer token, for clients that cannot send headers"),
    ),
    responses(
        (status = 200, description = "`event: log` with a LogLine as data, `id:` the line id", content_type = "text/event-stream", body = String),
        crate::openapi::BadInput,
    ))]
pub async fn ventas_logs_stream(
    State(state): State<AppState>,
    q: Result<Query<LogsQuery>, QueryRejection>,
    headers: axum::http::HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let (only, mut since) = query(q)?.parse()?;
    if let Some(last) = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        since = since.max(last);
    }
    // Subscribe before reading the backlog, so no line falls between the two.
    let mut rx = state.logs.subscribe();
    let backlog: Vec<LogLine> = match only.or_else(|| state.logs.latest(None)) {
        Some(id) => state
            .logs
            .lines(Some(id), since)
            .map(|p| p.logs)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let shutdown = state.shutdown.clone();
    let stream = async_stream(move |tx| async move {
        let mut last = since;
        for line in backlog {
            last = last.max(line.id);
            if tx.send(event(&line)).await.is_err() {
                return;
            }
        }
        loop {
            let line = tokio::select! {
                r = rx.recv() => r,
                _ = shutdown.cancelled() => return,
                // The client went away: stop at once, not at the next line.
                _ = tx.closed() => return,
            };
            match line {
                Ok(line) => {
                    if line.id <= last || only.is_some_and(|id| id != line.execution_id) {
                        continue;
                    }
                    last = line.id;
                    if tx.send(event(&line)).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    let note = Event::default()
                        .event("lagged")
                        .data(format!("{{\"skipped\":{n}}}"));
                    if tx.send(note).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn event(line: &LogLine) -> Event {
    Event::default()
        .event("log")
        .id(line.id.to_string())
        .data(serde_json::to_string(line).unwrap_or_default())
}

/// A stream fed by a task through a small channel.
fn async_stream<F, Fut>(f: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Event>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(f(tx));
    futures::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) },
    )
}

// ---------------------------------------------------------------------------------------------
// Metrics, OpenAPI

/// `GET /metrics`: Prometheus text.
#[utoipa::path(get, path = "/metrics",
    summary = "Prometheus metrics: runs by status, rows by kind, phase durations, errors by category, last success per store.",
    responses((status = 200, description = "OK", content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
}

/// `GET /api/openapi.json`.
#[utoipa::path(get, path = "/api/openapi.json", summary = "This document.",
    responses((status = 200, description = "OK", body = Object)))]
pub async fn openapi() -> impl IntoResponse {
    Json(crate::openapi::document())
}

// ---------------------------------------------------------------------------------------------
// Gaps (seed 000)

/// `GET /api/ventas/gaps` query.
#[derive(Debug, Default, Deserialize)]
pub struct GapsQuery {
    /// Only these stores, comma-separated.
    tienda_ids: Option<String>,
    /// One store (seed 000's panel names it `ubicacion_id`).
    #[serde(alias = "ubicacion_id")]
    tienda_id: Option<String>,
}

/// `GET /api/ventas/gaps`: per store, records, last date, days behind, completeness, badge,
/// recommendations, failed windows not yet recovered.
#[utoipa::path(get, path = "/api/ventas/gaps",
    summary = "Per store: records, last date, days behind, completeness, badge, recommendations, failed windows not yet recovered.",
    params(
        ("tienda_ids" = Option<String>, Query, description = "Only these stores, comma-separated"),
        ("ubicacion_id" = Option<String>, Query, description = "Only this store"),
    ),
    responses((status = 200, description = "OK", body = crate::openapi::GapReport), crate::openapi::BadInput))]
pub async fn ventas_gaps(
    State(state): State<AppState>,
    q: Result<Query<GapsQuery>, QueryRejection>,
) -> ApiResult<GapReport> {
    let ids = selected_stores(query(q)?);
    let mut gap_query = GapQuery::sales(Utc::now());
    if !ids.is_empty() {
        gap_query = gap_query.with_stores(ids.into_iter().map(StoreId::new).collect());
    }
    Ok(Json(state.fluxion.gaps(&gap_query).await?))
}

/// The stores a `tienda_ids` / `tienda_id` query names (none: every store); the library checks
/// them against the configuration (an unknown one is a 422 naming it).
fn selected_stores(q: GapsQuery) -> Vec<String> {
    let mut ids: Vec<String> = q
        .tienda_ids
        .iter()
        .flat_map(|s| s.split(','))
        .chain(q.tienda_id.as_deref())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    ids.dedup();
    ids
}

// ---------------------------------------------------------------------------------------------
// Connectivity (seed 000's connectivity panel)

/// `GET /api/etl/connectivity`: each store's source right now (a timed TCP connect to the KLK
/// API or the Stellar database; failures classified, `vpn_*` on private addresses). Takes the
/// same `tienda_ids` / `ubicacion_id` filter as the gaps; every active store by default.
#[utoipa::path(get, path = "/api/etl/connectivity",
    summary = "Per store: whether its source (KLK API / Stellar database, on the VPN or not) answers a TCP connect right now, and in how many milliseconds.",
    params(
        ("tienda_ids" = Option<String>, Query, description = "Only these stores, comma-separated"),
        ("ubicacion_id" = Option<String>, Query, description = "Only this store"),
    ),
    responses((status = 200, description = "OK", body = crate::openapi::ConnectivityReport), crate::openapi::BadInput))]
pub async fn connectivity(
    State(state): State<AppState>,
    q: Result<Query<GapsQuery>, QueryRejection>,
) -> ApiResult<ConnectivityReport> {
    let ids = selected_stores(query(q)?);
    let selection = if ids.is_empty() {
        StoreSelection::AllActive
    } else {
        StoreSelection::Ids(ids)
    };
    Ok(Json(state.fluxion.connectivity(&selection).await?))
}

// ---------------------------------------------------------------------------------------------
// Scheduler (seed 000)

fn scheduler(state: &AppState) -> Result<&Scheduler, ApiError> {
    state.scheduler.as_ref().ok_or_else(|| {
        ApiError::unavailable("this server runs without a scheduler (started with --no-scheduler)")
    })
}

/// `GET /api/etl/scheduler/status`: enabled, running jobs, next run, last run, pending
/// retries, last daily summary, effective settings.
#[utoipa::path(get, path = "/api/etl/scheduler/status",
    summary = "Scheduler: enabled, running jobs, next run, last run, pending retries, last daily summary, settings.",
    responses((status = 200, description = "OK", body = crate::openapi::SchedulerStatus)))]
pub async fn scheduler_status(State(state): State<AppState>) -> ApiResult<SchedulerStatus> {
    Ok(Json(scheduler(&state)?.status().await?))
}

/// `POST /api/etl/scheduler/enable` (persisted).
#[utoipa::path(post, path = "/api/etl/scheduler/enable",
    summary = "Enables the scheduler (persisted).",
    responses((status = 200, description = "OK", body = crate::openapi::SchedulerStatus)))]
pub async fn scheduler_enable(State(state): State<AppState>) -> ApiResult<SchedulerStatus> {
    Ok(Json(scheduler(&state)?.enable().await?))
}

/// `POST /api/etl/scheduler/disable` (persisted; running jobs finish).
#[utoipa::path(post, path = "/api/etl/scheduler/disable",
    summary = "Disables the scheduler (persisted; running jobs finish).",
    responses((status = 200, description = "OK", body = crate::openapi::SchedulerStatus)))]
pub async fn scheduler_disable(State(state): State<AppState>) -> ApiResult<SchedulerStatus> {
    Ok(Json(scheduler(&state)?.disable().await?))
}

/// `POST /api/etl/scheduler/trigger`: the daily run now ("Ejecutar Ahora").
#[utoipa::path(post, path = "/api/etl/scheduler/trigger",
    summary = "Runs the daily job now (yesterday, every active store, with retries).",
    responses(
        (status = 202, description = "OK", body = crate::openapi::StartedJob),
        (status = 409, description = "The daily run is already in progress.", body = crate::openapi::Error),
        (status = 503, description = "The server is shutting down and takes no new runs.", body = crate::openapi::Error),
    ))]
pub async fn scheduler_trigger(
    State(state): State<AppState>,
) -> Result<impl IntoResponse, ApiError> {
    if !state.runs.accepting() {
        return Err(ApiError::unavailable(
            "the server is shutting down and takes no new runs",
        ));
    }
    // A second daily run while one holds the stores is `Error::Conflict` → 409.
    let job = scheduler(&state)?.trigger().await?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(job)))
}

/// `PUT /api/etl/scheduler/config` answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConfigUpdated {
    /// `Scheduler configuration updated`.
    pub message: String,
    /// The settings now in effect.
    #[schema(value_type = crate::openapi::EffectiveSettings)]
    pub config: EffectiveSettings,
}

/// `PUT /api/etl/scheduler/config`: `execution_hour` (0–23), `execution_minute` (0–59),
/// `max_retries` (0–20), `retry_interval_minutes` (1–720); absent fields keep their value.
/// Persisted in the destination, so it survives a restart.
#[utoipa::path(put, path = "/api/etl/scheduler/config",
    summary = "Changes execution_hour, execution_minute, max_retries, retry_interval_minutes (validated, persisted).",
    request_body = crate::openapi::ScheduleSettings,
    responses((status = 200, description = "OK", body = ConfigUpdated), crate::openapi::BadInput))]
pub async fn scheduler_config(
    State(state): State<AppState>,
    b: Result<Json<ScheduleSettings>, JsonRejection>,
) -> ApiResult<ConfigUpdated> {
    let settings = body(b)?;
    if settings == ScheduleSettings::default() {
        return Err(ApiError::unprocessable(
            "send at least one of execution_hour, execution_minute, max_retries, retry_interval_minutes",
        ));
    }
    let config = scheduler(&state)?.update_config(settings).await?;
    Ok(Json(ConfigUpdated {
        message: "Scheduler configuration updated".into(),
        config,
    }))
}
