//! The HTTP side of Fluxion ETL: the router of `fluxion-server`.
//!
//! The admin panel's API of seeds 000 and 003 — the scheduler's status, switch, trigger and
//! settings, the gaps report, manual runs with their status and live logs, the execution
//! history, statistics — plus `/healthz`, `/readyz`, `/metrics` (Prometheus) and
//! `/api/openapi.json`, and the control-centre page at `/`. Handlers are thin: each one
//! validates its input and calls the library ([`Fluxion`], [`Scheduler`]); runs continue on
//! background tasks ([`runs::Runs`]) whose log lines a `tracing` layer keeps per execution
//! ([`logs::LogHub`]).
//!
//! Every `/api/` route and `/metrics` needs a bearer token ([`auth`]). Each route is declared
//! once, in its role's group of the router, by its handler; the handler's `#[utoipa::path]`
//! documents it, and the OpenAPI document ([`openapi`]) and [`ROUTES`] are generated from the
//! same groups.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use std::sync::Arc;
//! use fluxion_etl_core::{config::Config, Fluxion};
//! use fluxion_etl_server::{app, auth::Auth, logs::LogHub, AppState, ServerOptions};
//!
//! let fluxion = Fluxion::from_config(Config::load("fluxion.toml".as_ref())?).await?;
//! let scheduler = fluxion_etl_core::scheduler::Scheduler::new(fluxion.clone());
//! let state = AppState::new(
//!     Arc::new(fluxion),
//!     Auth::from_env(),
//!     LogHub::new(),
//!     ServerOptions::default(),
//! )
//! .with_scheduler(scheduler, true);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8001").await?;
//! let outcome = fluxion_etl_server::serve(listener, state, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! println!("{} run(s) interrupted at shutdown", outcome.interrupted);
//! # Ok(()) }
//! ```

pub mod api;
pub mod auth;
pub mod error;
pub mod logs;
pub mod metrics;
pub mod openapi;
mod page;
pub mod runs;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::IntoResponse;
use axum::{Json, Router};
use fluxion_etl_core::loaders::SchemaStatus;
use fluxion_etl_core::scheduler::Scheduler;
use fluxion_etl_core::{CancellationToken, Fluxion};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, Guard, Role};
use crate::logs::LogHub;
use crate::runs::{Runs, ShutdownOutcome};

/// Settings of the HTTP side.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Origins allowed by CORS (`*` for any); none by default (same-origin only).
    pub cors_origins: Vec<String>,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How long a shutdown waits for running loads before interrupting them.
    pub shutdown_grace: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            cors_origins: Vec::new(),
            body_limit: 64 * 1024,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The library, wired from the configuration.
    pub fluxion: Arc<Fluxion>,
    /// Accepted tokens.
    pub auth: Arc<Auth>,
    /// Log lines of executions.
    pub logs: LogHub,
    /// Runs started by the API.
    pub runs: Runs,
    /// What `/metrics` renders.
    pub metrics: PrometheusHandle,
    /// Cancelled when the server shuts down (ends live streams).
    pub shutdown: CancellationToken,
    /// HTTP settings.
    pub options: ServerOptions,
    /// The scheduler (`None`: the server was started without one).
    pub scheduler: Option<Scheduler>,
    /// Whether the scheduler's loop is running (`None`: no loop was started).
    pub scheduler_alive: Option<Arc<AtomicBool>>,
}

impl AppState {
    /// Wires the state; `/metrics` renders the process's recorder ([`metrics::install`]s it on
    /// first use). Must be called inside a Tokio runtime.
    pub fn new(fluxion: Arc<Fluxion>, auth: Auth, logs: LogHub, options: ServerOptions) -> Self {
        let runs = Runs::new(fluxion.clone());
        Self {
            fluxion,
            auth: Arc::new(auth),
            logs,
            runs,
            metrics: metrics::install(),
            shutdown: CancellationToken::new(),
            options,
            scheduler: None,
            scheduler_alive: None,
        }
    }

    /// Serves `handle` at `/metrics` instead of the process's recorder (a test's local one).
    pub fn with_metrics(mut self, handle: PrometheusHandle) -> Self {
        self.metrics = handle;
        self
    }

    /// Serves `scheduler`'s status and settings; with `run_loop`, also runs its loop on a
    /// background task (readiness then requires the loop to be alive). Must be called inside a
    /// Tokio runtime.
    pub fn with_scheduler(mut self, scheduler: Scheduler, run_loop: bool) -> Self {
        if run_loop {
            let alive = Arc::new(AtomicBool::new(true));
            let flag = alive.clone();
            let looping = scheduler.clone();
            tokio::spawn(async move {
                if let Err(e) = looping.run().await {
                    tracing::error!(
                        "The scheduler stopped: {}",
                        fluxion_etl_core::tracker::sanitize(&e.to_string())
                    );
                }
                flag.store(false, Ordering::SeqCst);
            });
            self.scheduler_alive = Some(alive);
        }
        self.scheduler = Some(scheduler);
        self
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (probes, the OpenAPI document).
    Public,
    /// A viewer or admin token.
    Viewer,
    /// An admin token.
    Admin,
}

/// One route of the API, as the OpenAPI document describes it.
#[derive(Debug, Clone, Copy)]
pub struct RouteDoc {
    /// `GET`, `POST`, `PUT`.
    pub method: &'static str,
    /// The path (`{id}` for a parameter).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// What it does.
    pub summary: &'static str,
}

/// Every route the server serves (besides the page), with the role it needs: read from the
/// OpenAPI document, which is generated from the router's own groups ([`app`]), so the three
/// cannot disagree.
///
/// ```
/// use fluxion_etl_server::{Access, ROUTES};
///
/// let history = ROUTES.iter().find(|r| r.path == "/api/etl/history").unwrap();
/// assert_eq!((history.method, history.access), ("GET", Access::Admin));
/// ```
pub const ROUTES: Routes = Routes(());

/// The type of [`ROUTES`]: iterate it (`for route in ROUTES`, `ROUTES.iter()`).
#[derive(Debug, Clone, Copy)]
pub struct Routes(());

impl Routes {
    /// The routes, in the document's order (by path, then method).
    pub fn iter(self) -> std::slice::Iter<'static, RouteDoc> {
        openapi::routes().iter()
    }
}

impl IntoIterator for Routes {
    type Item = &'static RouteDoc;
    type IntoIter = std::slice::Iter<'static, RouteDoc>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// A group of routes that need the same role; the only place a route is declared (its path,
/// method, parameters and answers are on its handler's `#[utoipa::path]`).
pub(crate) struct RouteGroup {
    /// Who may call its routes.
    pub(crate) access: Access,
    /// Whether the token may come as `?access_token=` (for `EventSource`, which cannot send
    /// headers).
    pub(crate) query_token: bool,
    /// The routes with their documentation.
    pub(crate) routes: OpenApiRouter<AppState>,
}

/// Every route of the API, by role.
pub(crate) fn route_groups() -> [RouteGroup; 4] {
    [
        RouteGroup {
            access: Access::Public,
            query_token: false,
            routes: OpenApiRouter::new()
                .routes(routes!(healthz))
                .routes(routes!(readyz))
                .routes(routes!(api::openapi)),
        },
        RouteGroup {
            access: Access::Viewer,
            query_token: false,
            routes: OpenApiRouter::new()
                .routes(routes!(api::metrics))
                .routes(routes!(api::ventas_status))
                .routes(routes!(api::ventas_logs))
                .routes(routes!(api::ventas_gaps))
                .routes(routes!(api::connectivity))
                .routes(routes!(api::scheduler_status)),
        },
        RouteGroup {
            access: Access::Viewer,
            query_token: true,
            routes: OpenApiRouter::new().routes(routes!(api::ventas_logs_stream)),
        },
        RouteGroup {
            access: Access::Admin,
            query_token: false,
            routes: OpenApiRouter::new()
                .routes(routes!(api::history))
                .routes(routes!(api::execution))
                .routes(routes!(api::stats))
                .routes(routes!(api::run))
                .routes(routes!(api::sync_ventas))
                .routes(routes!(api::scheduler_enable))
                .routes(routes!(api::scheduler_disable))
                .routes(routes!(api::scheduler_trigger))
                .routes(routes!(api::scheduler_config)),
        },
    ]
}

/// Builds the router (tests call it with `oneshot`, no socket needed).
pub fn app(state: AppState) -> Router {
    let mut router = Router::new();
    for group in route_groups() {
        let (routes, _) = group.routes.split_for_parts();
        let routes = match group.access {
            Access::Public => routes,
            Access::Viewer | Access::Admin => {
                let needs = if group.access == Access::Admin {
                    Role::Admin
                } else {
                    Role::Viewer
                };
                routes.route_layer(axum::middleware::from_fn_with_state(
                    Guard {
                        auth: state.auth.clone(),
                        needs,
                        allow_query_token: group.query_token,
                    },
                    auth::require,
                ))
            }
        };
        router = router.merge(routes);
    }
    let router = router
        .merge(page::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(state.options.body_limit));
    let router = match cors(&state.options.cors_origins) {
        Some(layer) => router.layer(layer),
        None => router,
    };
    router.with_state(state)
}

fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok()),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::PUT])
            .allow_headers([
                axum::http::header::AUTHORIZATION,
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderName::from_static("last-event-id"),
            ])
            .max_age(Duration::from_secs(600)),
    )
}

async fn not_found(uri: axum::http::Uri) -> impl IntoResponse {
    error::ApiError::not_found(format!("no route {}", uri.path()))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", summary = "The process is up.",
    responses((status = 200, description = "OK", body = openapi::Health)))]
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// The destination answers and its schema is the one this build knows.
#[utoipa::path(get, path = "/readyz", summary = "The database answers and its migrations are current.",
    responses(
        (status = 200, description = "Ready.", body = openapi::Health),
        (status = 503, description = "Not ready, or shutting down; `status` says which.", body = openapi::Health),
    ))]
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let accepting = state.runs.accepting();
    let scheduler = match &state.scheduler_alive {
        None if state.scheduler.is_some() => "not_looping",
        None => "none",
        Some(alive) if alive.load(Ordering::SeqCst) => "alive",
        Some(_) => "stopped",
    };
    if scheduler == "stopped" && accepting {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not_ready", "scheduler": scheduler })),
        );
    }
    match state.fluxion.destination().schema_status().await {
        Ok(SchemaStatus::Current) if accepting => (
            StatusCode::OK,
            Json(
                json!({ "status": "ready", "database": "ok", "migrations": "current", "scheduler": scheduler }),
            ),
        ),
        Ok(SchemaStatus::Current) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "shutting_down", "database": "ok", "migrations": "current" })),
        ),
        Ok(other) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({ "status": "not_ready", "database": "ok", "migrations": format!("{other:?}").to_lowercase() }),
            ),
        ),
        Err(e) => {
            tracing::warn!(
                "Readiness check failed: {}",
                fluxion_etl_core::tracker::sanitize(&e.to_string())
            );
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "not_ready", "database": "unreachable" })),
            )
        }
    }
}

/// Serves `state` on `listener` until `signal` resolves, then shuts down gracefully: stops
/// accepting requests and runs, ends live streams, lets running loads finish within
/// [`ServerOptions::shutdown_grace`], and interrupts the rest (their executions are closed as
/// interrupted).
///
/// A program that serves [`app`] inside its own router does the same in three steps:
/// [`AppState::prepare`] before serving, [`AppState::shutdown_signal`] as axum's graceful
/// shutdown, [`AppState::drain`] after it (the `embed_server` example).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<ShutdownOutcome> {
    state.prepare().await;
    // The peer's address reaches the auth middleware, which rate-limits failed attempts.
    let service = app(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(state.shutdown_signal(signal))
        .await?;
    Ok(state.drain().await)
}

impl AppState {
    /// What the server does before its first request: seeds the last-success metric from the
    /// history and keeps the metrics recorder drained until shutdown. [`serve`] calls it; a
    /// program that serves [`app`] inside its own router calls it before serving.
    pub async fn prepare(&self) {
        // Before the first request: a run this server starts sets its stores' last success
        // itself, and must not be set back by a seed that read the history before it finished.
        if let Err(e) = fluxion_etl_core::tracker::metrics::seed_last_success(
            self.fluxion.tracker_store().as_ref(),
        )
        .await
        {
            tracing::warn!(
                "Cannot seed the last-success metric from the history: {}",
                fluxion_etl_core::tracker::sanitize(&e.to_string())
            );
        }
        // Histogram samples wait in the recorder until a scrape or an upkeep drains them;
        // without a scraper, this keeps them from piling up.
        let upkeep = self.metrics.clone();
        let upkeep_stop = self.shutdown.clone();
        let fluxion = self.fluxion.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(10));
            loop {
                tokio::select! {
                    _ = every.tick() => {
                        upkeep.run_upkeep();
                        // Executions whose process is gone (killed, host lost) are closed
                        // within seconds, not when the next process happens to start.
                        if let Err(e) = fluxion.reconcile().await {
                            tracing::warn!(
                                "Cannot reconcile the running executions: {}",
                                fluxion_etl_core::tracker::sanitize(&e.to_string())
                            );
                        }
                    }
                    _ = upkeep_stop.cancelled() => return,
                }
            }
        });
    }

    /// `signal`, followed by the first step of a graceful shutdown: no new runs are accepted
    /// and live log streams end (so that the HTTP server's graceful shutdown is not held open
    /// by them). Hand it to axum's `with_graceful_shutdown`; then call [`AppState::drain`].
    pub fn shutdown_signal(
        &self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let runs = self.runs.clone();
        let shutdown = self.shutdown.clone();
        async move {
            signal.await;
            tracing::info!("Shutting down: no new requests or runs.");
            runs.stop_accepting();
            shutdown.cancel();
        }
    }

    /// The rest of a graceful shutdown, once the HTTP server has stopped: running loads (the
    /// API's and the scheduler's) get [`ServerOptions::shutdown_grace`] to finish, the rest are
    /// interrupted (their executions closed as interrupted), and the scheduler stops.
    pub async fn drain(&self) -> ShutdownOutcome {
        // Idempotent: a program that never awaited `shutdown_signal` still stops cleanly.
        self.runs.stop_accepting();
        self.shutdown.cancel();
        let grace = self.options.shutdown_grace;
        let scheduler = self.scheduler.clone();
        let scheduler_done = async move {
            if let Some(s) = scheduler {
                // The scheduler's jobs get the same grace; then its shutdown interrupts the
                // rest (recorded as interrupted; unfinished daily stores stay pending for a
                // retry).
                let _ = tokio::time::timeout(grace, s.wait_idle()).await;
                s.shutdown().await;
            }
        };
        let (outcome, ()) = tokio::join!(
            self.runs.shutdown(grace, Duration::from_secs(30)),
            scheduler_done
        );
        tracing::info!(
            finished = outcome.finished,
            interrupted = outcome.interrupted,
            "Shut down."
        );
        outcome
    }
}
