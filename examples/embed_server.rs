//! Run with: cargo run --example embed_server
//!
//! Fluxion inside your own axum application: the scheduler's loop and Fluxion's router (the
//! admin API, probes, metrics and control-centre page) served beside your own routes, on one
//! listener, with one graceful shutdown that also lets running loads finish and stops the
//! scheduler. To stay a short demo it calls its own routes and then `POST /shop/stop`.

use std::sync::Arc;
use std::time::Duration;

use axum::{extract::State, routing::get, routing::post, Router};
use fluxion_etl::prelude::*;
use fluxion_etl::scheduler::Scheduler;
use fluxion_etl_server::{auth::Auth, logs::LogHub, AppState, ServerOptions};
use fluxion_etl_sim::klk::{KlkSim, KlkSimConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let klk = KlkSim::start(KlkSimConfig::default(), "127.0.0.1:0".parse()?).await?;
    let dir = tempfile::tempdir()?;
    let config = format!(
        r#"
        destination.url = "sqlite://{}"
        klk.base_url = "{}"
        [[stores]]
        id = "tienda_01"
        name = "PERIFERICO"
        source = {{ system = "klk", branch = "SUC001", warehouse = "APP-TPF" }}
        "#,
        dir.path().join("fluxion.db").display(),
        klk.base_url()
    );
    let config = Config::from_toml_str(&config, "inline")?;
    let fluxion = Fluxion::from_config(config).await?;

    // Fluxion's side: its state with the scheduler's loop running, and its router.
    let options = ServerOptions {
        shutdown_grace: Duration::from_secs(5),
        ..ServerOptions::default()
    };
    let state = AppState::new(
        Arc::new(fluxion.clone()),
        Auth::from_lists("admin-token", ""),
        LogHub::new(),
        options,
    )
    .with_scheduler(Scheduler::new(fluxion), true);

    // Your side: your routes, and a stop switch shared with the graceful shutdown.
    let stop = CancellationToken::new();
    let app = Router::new()
        .route("/shop/hello", get(|| async { "hello from the shop" }))
        .route(
            "/shop/stop",
            post(|State(stop): State<CancellationToken>| async move {
                stop.cancel();
                "stopping"
            }),
        )
        .with_state(stop.clone())
        .merge(fluxion_etl_server::app(state.clone()));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    println!("serving on {base}");
    let visitor = tokio::spawn(visit(base));

    state.prepare().await;
    let signal = async move { stop.cancelled().await };
    axum::serve(listener, app)
        .with_graceful_shutdown(state.shutdown_signal(signal))
        .await?;
    let outcome = state.drain().await;
    visitor.await??;
    let (finished, interrupted) = (outcome.finished, outcome.interrupted);
    println!("shut down: {finished} runs finished, {interrupted} interrupted");
    klk.shutdown().await;
    Ok(())
}

/// What a browser or a monitor would do: your route, Fluxion's routes, then your stop switch.
async fn visit(base: String) -> Result<(), reqwest::Error> {
    let http = reqwest::Client::new();
    let hello = http.get(format!("{base}/shop/hello")).send().await?;
    println!("GET /shop/hello: {}", hello.text().await?);
    let ready = http.get(format!("{base}/readyz")).send().await?;
    println!("GET /readyz: {}", ready.status());
    let status = http.get(format!("{base}/api/etl/scheduler/status"));
    let status: serde_json::Value = status
        .bearer_auth("admin-token")
        .send()
        .await?
        .json()
        .await?;
    let (enabled, running) = (&status["enabled"], &status["is_running"]);
    println!("GET /api/etl/scheduler/status: enabled {enabled}, running {running}");
    let stopping = http.post(format!("{base}/shop/stop")).send().await?;
    println!("POST /shop/stop: {}", stopping.text().await?);
    Ok(())
}
