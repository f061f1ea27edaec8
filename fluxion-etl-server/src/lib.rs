//! The HTTP side of Fluxion ETL: the router of `fluxion-server`.
//!
//! Handlers are thin: each one calls the library. This first cut serves the process and
//! readiness probes; the admin panel's API (seeds 000 and 003) builds on the same [`app`].

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use fluxion_etl_core::loaders::SchemaStatus;
use fluxion_etl_core::Fluxion;
use serde_json::json;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The library, wired from the configuration.
    pub fluxion: Arc<Fluxion>,
}

/// Builds the router (tests call it with `oneshot`, no socket needed).
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// The process is up.
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// The destination answers and its schema is the one this build knows.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.fluxion.destination().schema_status().await {
        Ok(SchemaStatus::Current) => (
            StatusCode::OK,
            Json(json!({ "status": "ready", "database": "ok", "migrations": "current" })),
        ),
        Ok(other) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({ "status": "not_ready", "database": "ok", "migrations": format!("{other:?}") }),
            ),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "Readiness check failed.");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "not_ready", "database": "unreachable" })),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use fluxion_etl_core::config::Config;
    use tower::ServiceExt;

    async fn state(dir: &tempfile::TempDir) -> AppState {
        let mut config = Config::empty();
        config.destination.url = format!("sqlite://{}", dir.path().join("s.db").display());
        AppState {
            fluxion: Arc::new(Fluxion::from_config(config).await.unwrap()),
        }
    }

    #[tokio::test]
    async fn health_and_readiness() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(state(&dir).await);
        let res = app
            .clone()
            .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let res = app
            .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
}
