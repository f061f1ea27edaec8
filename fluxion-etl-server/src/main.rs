//! `fluxion-server`: the Fluxion ETL library behind HTTP.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use fluxion_etl_core::config::{Config, CONFIG_ENV};
use fluxion_etl_core::loaders::Destination;
use fluxion_etl_core::scheduler::Scheduler;
use fluxion_etl_core::taxonomy::SanitizingWriter;
use fluxion_etl_core::Fluxion;
use fluxion_etl_server::auth::{
    generate_token, Auth, JwtAuth, JwtOptions, Role, ADMIN_TOKENS_ENV, VIEWER_TOKENS_ENV,
};
use fluxion_etl_server::logs::LogHub;
use fluxion_etl_server::{serve, AppState, ServerOptions};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Serves Fluxion ETL over HTTP (loopback by default).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Configuration file.
    #[arg(long, env = CONFIG_ENV)]
    config: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8001")]
    bind: SocketAddr,
    /// Start the KLK simulator in-process and serve the chain's stores from it into a SQLite
    /// file (the same setup as `fluxion demo`); prints the URL and the accepted tokens.
    #[cfg(feature = "demo")]
    #[arg(long, conflicts_with = "config")]
    demo: bool,
    /// The demo's SQLite file.
    #[cfg(feature = "demo")]
    #[arg(
        long,
        value_name = "FILE",
        default_value = "fluxion-demo.db",
        requires = "demo"
    )]
    demo_db: PathBuf,
    /// Origins allowed by CORS, comma-separated (`*` for any). None by default: same origin only.
    #[arg(long, env = "FLUXION_CORS_ORIGINS", value_delimiter = ',')]
    cors_origin: Vec<String>,
    /// Seconds a shutdown (SIGTERM, Ctrl-C) waits for running loads before interrupting them.
    #[arg(long, default_value_t = 30)]
    shutdown_grace_secs: u64,
    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = 64 * 1024)]
    body_limit: usize,
    /// Do not run the scheduler's loop in this process (its status and settings are still
    /// served; another replica runs the jobs).
    #[arg(long)]
    no_scheduler: bool,
    /// Also accept the chain's HS256 JWTs, signed with the secret held by this environment
    /// variable (its name, not the secret).
    #[arg(long, env = "FLUXION_JWT_SECRET_ENV", value_name = "VAR")]
    jwt_secret_env: Option<String>,
    /// The JWT claim holding the user's role.
    #[arg(long, default_value = "role", requires = "jwt_secret_env")]
    jwt_role_claim: String,
    /// The chain's roles that are admins, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "super_admin",
        requires = "jwt_secret_env"
    )]
    jwt_admin_roles: Vec<String>,
    /// The chain's roles that are viewers, comma-separated (default: every other role).
    #[arg(long, value_delimiter = ',', requires = "jwt_secret_env")]
    jwt_viewer_roles: Option<Vec<String>>,
    /// SQL returning the role of the user `$1` (`?1` on SQLite), for tokens without the role
    /// claim, e.g. `SELECT r.nombre FROM usuarios u JOIN roles r ON r.id = u.rol_id WHERE
    /// u.username = $1`.
    #[arg(long, env = "FLUXION_JWT_ROLE_QUERY", requires = "jwt_secret_env")]
    jwt_role_query: Option<String>,
    /// The environment variable with the URL of the database the role query runs in (default:
    /// the destination).
    #[arg(long, value_name = "VAR", requires = "jwt_role_query")]
    jwt_database_url_env: Option<String>,
}

/// The chain's JWTs, when `--jwt-secret-env` names a variable.
async fn jwt_auth(args: &Args, fluxion: &Fluxion) -> anyhow::Result<Option<JwtAuth>> {
    let Some(var) = &args.jwt_secret_env else {
        return Ok(None);
    };
    let database = match (&args.jwt_role_query, &args.jwt_database_url_env) {
        (None, _) => None,
        (Some(_), None) => Some(fluxion.destination().clone()),
        (Some(_), Some(url_var)) => {
            let url = std::env::var(url_var).with_context(|| {
                format!("--jwt-database-url-env names {url_var}, which is not set")
            })?;
            Some(
                Destination::connect(&url)
                    .await
                    .with_context(|| format!("cannot connect to the role database ({url_var})"))?,
            )
        }
    };
    let options = JwtOptions {
        role_claim: args.jwt_role_claim.clone(),
        admin_roles: args.jwt_admin_roles.clone(),
        viewer_roles: args.jwt_viewer_roles.clone(),
        role_query: args.jwt_role_query.clone(),
    };
    Ok(Some(
        JwtAuth::from_env(var, options, database).map_err(anyhow::Error::msg)?,
    ))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let hub = LogHub::new();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                // Dependencies' lines too (sqlx echoes connection strings): sanitized.
                .with_writer(|| SanitizingWriter::new(std::io::stderr()))
                .with_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info".into()),
                ),
        )
        .with(hub.layer())
        .init();
    let args = Args::parse();

    let mut auth = Auth::from_env();
    let mut generated = None;
    let demo = start_demo(&args).await?;
    let (config, demo) = match demo {
        Some(demo) => {
            if auth.count(Role::Admin) == 0 {
                let admin = generate_token();
                let viewer = generate_token();
                auth.add(&admin, Role::Admin);
                auth.add(&viewer, Role::Viewer);
                generated = Some((admin, viewer));
            }
            (demo.config().clone(), Some(demo))
        }
        None => {
            let config = match &args.config {
                Some(path) => Config::load(path)?,
                None => Config::empty(),
            };
            (config, None)
        }
    };
    if !args.bind.ip().is_loopback() {
        tracing::warn!(addr = %args.bind, "Listening beyond loopback: put TLS in front of this server.");
    }
    let fluxion = Fluxion::from_config(config)
        .await
        .context("cannot open the destination")?;
    if let Some(jwt) = jwt_auth(&args, &fluxion).await? {
        auth = auth.with_jwt(jwt);
    }
    if auth.is_empty() {
        tracing::warn!("No token configured ({ADMIN_TOKENS_ENV}, {VIEWER_TOKENS_ENV}): every API request will get 401.");
    }
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    let addr = listener.local_addr()?;
    let scheduler = Scheduler::new(fluxion.clone());
    let state = AppState::new(
        Arc::new(fluxion),
        auth,
        hub,
        ServerOptions {
            cors_origins: args.cors_origin.clone(),
            body_limit: args.body_limit,
            shutdown_grace: Duration::from_secs(args.shutdown_grace_secs),
        },
    )
    .with_scheduler(scheduler, !args.no_scheduler);

    let mut out = std::io::stdout().lock();
    writeln!(out, "Fluxion server listening on http://{addr}")?;
    if let Some(demo) = &demo {
        writeln!(out, "  demo: {}", demo.describe())?;
        match &generated {
            Some((admin, viewer)) => {
                writeln!(out, "  admin token:  {admin}")?;
                writeln!(out, "  viewer token: {viewer}")?;
                writeln!(out, "  open: http://{addr}/#token={admin}")?;
            }
            None => {
                let var = std::env::var(ADMIN_TOKENS_ENV).unwrap_or_default();
                for t in var.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    writeln!(out, "  admin token ({ADMIN_TOKENS_ENV}): {t}")?;
                }
                let var = std::env::var(VIEWER_TOKENS_ENV).unwrap_or_default();
                for t in var.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    writeln!(out, "  viewer token ({VIEWER_TOKENS_ENV}): {t}")?;
                }
                if let Some(t) = var_first(ADMIN_TOKENS_ENV) {
                    writeln!(out, "  open: http://{addr}/#token={t}")?;
                }
            }
        }
    }
    out.flush()?;
    drop(out);

    let outcome = serve(listener, state, shutdown_signal()).await?;
    if let Some(demo) = demo {
        demo.shutdown().await;
    }
    if outcome.interrupted > 0 {
        eprintln!(
            "{} run(s) were interrupted by the shutdown and recorded as such.",
            outcome.interrupted
        );
    }
    Ok(())
}

fn var_first(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()?
        .split(',')
        .map(str::trim)
        .find(|t| !t.is_empty())
        .map(str::to_owned)
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `--demo`'s simulators and SQLite file (the `demo` feature, on by default).
#[cfg(feature = "demo")]
async fn start_demo(args: &Args) -> anyhow::Result<Option<Demo>> {
    if !args.demo {
        return Ok(None);
    }
    let demo =
        fluxion_etl_sim::demo::Demo::start(fluxion_etl_sim::demo::DemoOptions::new(&args.demo_db))
            .await?;
    Ok(Some(Demo {
        db: args.demo_db.clone(),
        demo,
    }))
}

/// A build without the `demo` feature has no simulators, so never a demo.
#[cfg(not(feature = "demo"))]
async fn start_demo(_args: &Args) -> anyhow::Result<Option<Demo>> {
    Ok(None)
}

/// The running demo.
#[cfg(feature = "demo")]
struct Demo {
    db: PathBuf,
    demo: fluxion_etl_sim::demo::Demo,
}

/// No demo in this build: a type with no values, so the code that serves one compiles away.
#[cfg(not(feature = "demo"))]
enum Demo {}

#[cfg(feature = "demo")]
impl Demo {
    fn config(&self) -> &Config {
        self.demo.config()
    }

    fn describe(&self) -> String {
        format!(
            "KLK simulator at {}, SQLite file {}",
            self.demo.klk().base_url(),
            self.db.display()
        )
    }

    async fn shutdown(self) {
        self.demo.shutdown().await;
    }
}

#[cfg(not(feature = "demo"))]
impl Demo {
    fn config(&self) -> &Config {
        match *self {}
    }

    fn describe(&self) -> String {
        match *self {}
    }

    async fn shutdown(self) {
        match self {}
    }
}
