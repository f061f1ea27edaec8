//! `fluxion-server`: the Fluxion ETL library behind HTTP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use fluxion_etl_core::config::{Config, CONFIG_ENV};
use fluxion_etl_core::Fluxion;
use fluxion_etl_server::{app, AppState};

/// Serves Fluxion ETL over HTTP (loopback by default).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Configuration file.
    #[arg(long, env = CONFIG_ENV)]
    config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8001")]
    bind: SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::empty(),
    };
    let fluxion = Fluxion::from_config(config)
        .await
        .context("cannot open the destination")?;
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    tracing::info!(addr = %args.bind, "Listening.");
    axum::serve(
        listener,
        app(AppState {
            fluxion: Arc::new(fluxion),
        }),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
