//! The subcommands, what they share (opening the configuration and the destination), and how
//! errors become exit codes.
//!
//! Adding a command: a file here with an `Args` struct and an `execute` function, a variant in
//! [`Command`], and an arm in [`Command::execute`].

#[cfg(feature = "demo")]
mod demo;
mod gaps;
mod history;
mod migrate;
mod recover;
mod run;
mod schedule;
mod show;
#[cfg(feature = "demo")]
mod sim;
mod stats;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use fluxion_etl_core::config::{Config, ConfigError};
use fluxion_etl_core::model::DataKind;
use fluxion_etl_core::tracker::{sanitize, ExecutionStatus, TriggeredBy};
use fluxion_etl_core::{Error, Fluxion};

/// The stores a `--stores a,b` / `--store a` list names, trimmed; `None` when it names none.
fn store_ids(args: &[String]) -> Option<Vec<fluxion_etl_core::model::StoreId>> {
    let ids: Vec<_> = args
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(fluxion_etl_core::model::StoreId::new)
        .collect();
    (!ids.is_empty()).then_some(ids)
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a sync of sales (a window of whole days, yesterday by default) or inventory.
    ///
    /// Prints each store's result and exits 0 when every store succeeded, 2 when some failed,
    /// 1 when none succeeded. Ctrl-C or SIGTERM stops the run and closes its execution as
    /// failed (category `interrupted`).
    Run(run::Args),
    /// List executions, newest first.
    History(history::Args),
    /// Show one execution: its phases, each store's result and the error.
    Show(show::Args),
    /// Aggregate the executions of the last days.
    Stats(stats::Args),
    /// Show each store's gaps: failed windows not yet recovered, coverage (last day, days
    /// behind, completeness, missing days, status) with recommendations, and opening hours
    /// with no sales.
    Gaps(gaps::Args),
    /// Run gaps again as recovery executions (failed windows, missing days or both), newest
    /// first.
    ///
    /// `--dry-run` prints the plan. Exits like `run`: 0 when every recovery succeeded (or there
    /// was nothing to do), 2 when some failed, 1 when none succeeded.
    Recover(recover::Args),
    /// The scheduler: preview its slots, show its status, or run it in the foreground.
    Schedule(schedule::Args),
    /// Apply the destination's pending migrations.
    Migrate(migrate::Args),
    /// The demo: simulated KLK stores into an embedded SQLite file, no setup.
    ///
    /// Starts the KLK simulator in-process on a free loopback port, loads the last days of sales
    /// and current inventory for the chain's 19 KLK stores, and prints what each store did. Run it
    /// again: it loads nothing new and says so.
    #[cfg(feature = "demo")]
    Demo(demo::Args),
    /// Serve a simulated point-of-sale system (KLK over HTTP, Stellar over TDS) on loopback.
    #[cfg(feature = "demo")]
    Sim(sim::Args),
    /// Check a configuration file and summarize it.
    ///
    /// Exits 65 and names the key and line when the file is wrong.
    Validate(validate::Args),
}

impl Command {
    /// Runs the command; `Ok` carries the exit status of work that completed (a run whose
    /// stores failed is `Ok(Exit::Failed)`), `Err` a command that could not do its work.
    pub async fn execute(self, ctx: &Context) -> CliResult {
        match self {
            Command::Run(args) => run::execute(args, ctx).await,
            Command::History(args) => history::execute(args, ctx).await,
            Command::Show(args) => show::execute(args, ctx).await,
            Command::Stats(args) => stats::execute(args, ctx).await,
            Command::Gaps(args) => gaps::execute(args, ctx).await,
            Command::Recover(args) => recover::execute(args, ctx).await,
            Command::Schedule(args) => schedule::execute(args, ctx).await,
            Command::Migrate(args) => migrate::execute(args, ctx).await,
            Command::Validate(args) => validate::execute(args, ctx),
            #[cfg(feature = "demo")]
            Command::Demo(args) => demo::execute(args, ctx).await,
            #[cfg(feature = "demo")]
            Command::Sim(args) => sim::execute(args, ctx).await,
        }
    }
}

/// What every command gets from the global options.
#[derive(Debug, Clone)]
pub struct Context {
    /// `--config` or `FLUXION_CONFIG`.
    pub config_path: Option<PathBuf>,
    /// `-v` count.
    pub verbose: u8,
}

impl Context {
    /// The configuration, which this command cannot do without.
    pub fn config(&self) -> Result<Config, CliError> {
        match &self.config_path {
            Some(path) => Ok(Config::load(path)?),
            None => Err(ConfigError::Missing.into()),
        }
    }

    /// The configuration when one is given, else an empty one (the destination then comes from
    /// `DATABASE_URL`, or is the default embedded file).
    pub fn config_or_empty(&self) -> Result<Config, CliError> {
        match &self.config_path {
            Some(path) => Ok(Config::load(path)?),
            None => Ok(Config::empty()),
        }
    }

    /// Opens the destination for a run (the schema must be current).
    pub async fn open(&self, config: Config) -> Result<Fluxion, CliError> {
        let url = config.destination_url();
        Fluxion::from_config(config)
            .await
            .map_err(|e| destination_error(e, &url))
    }

    /// Opens the destination for the read-only commands.
    pub async fn open_readonly(&self, config: Config) -> Result<Fluxion, CliError> {
        let url = config.destination_url();
        Fluxion::open_readonly(config)
            .await
            .map_err(|e| destination_error(e, &url))
    }
}

/// An error while opening a destination: a bad configuration stays a configuration error,
/// anything else means the destination cannot be used.
pub fn destination_error(error: Error, url: &str) -> CliError {
    match &error {
        // `ETL_ENVIRONMENT` or the file, not the destination.
        Error::Config(_) => CliError::from(error),
        _ => CliError::new(Exit::Unavailable, error)
            .context(format!("cannot use the destination {}", sanitize(url))),
    }
}

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything worked.
    Success = 0,
    /// The run failed (no store committed), or what was asked for does not exist.
    Failed = 1,
    /// Some stores committed, some failed.
    Partial = 2,
    /// The command line is wrong.
    Usage = 64,
    /// The configuration is wrong.
    Config = 65,
    /// The destination cannot be reached or used.
    Unavailable = 69,
    /// A bug, or the machine failed us.
    Internal = 70,
}

impl Exit {
    /// The exit status of a finished execution.
    pub fn of_status(status: ExecutionStatus) -> Self {
        match status {
            ExecutionStatus::Success => Exit::Success,
            ExecutionStatus::Partial => Exit::Partial,
            // A closed execution is never `running`; if one is, it did not succeed.
            ExecutionStatus::Failed | ExecutionStatus::Running => Exit::Failed,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// What commands return.
pub type CliResult<T = Exit> = Result<T, CliError>;

/// An error and the exit code it ends the process with.
#[derive(Debug)]
pub struct CliError {
    exit: Exit,
    error: anyhow::Error,
}

impl CliError {
    /// An error with an explicit exit code.
    pub fn new(exit: Exit, error: impl Into<anyhow::Error>) -> Self {
        Self {
            exit,
            error: error.into(),
        }
    }

    /// A usage error described by a message.
    pub fn usage(message: impl std::fmt::Display) -> Self {
        Self::new(Exit::Usage, anyhow::anyhow!("{message}"))
    }

    /// Adds what was being done to the chain.
    pub fn context(self, context: impl std::fmt::Display + Send + Sync + 'static) -> Self {
        Self {
            exit: self.exit,
            error: self.error.context(context),
        }
    }

    /// The exit code.
    pub fn exit(&self) -> Exit {
        self.exit
    }

    /// The error and its causes.
    pub fn error(&self) -> &anyhow::Error {
        &self.error
    }

    /// Whether stdout was closed under us (`fluxion history | head`).
    pub fn is_broken_pipe(&self) -> bool {
        self.error.chain().any(|e| {
            e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        })
    }
}

impl From<Error> for CliError {
    fn from(error: Error) -> Self {
        let exit = match &error {
            Error::Config(ConfigError::Missing) => Exit::Usage,
            Error::Config(_) => Exit::Config,
            Error::InvalidRequest(_) => Exit::Usage,
            Error::NotFound(_) => Exit::Failed,
            // Work in progress holds what was asked for; the same command can succeed later.
            Error::Conflict(_) => Exit::Unavailable,
            Error::Database(_) | Error::Migrate(_) | Error::Schema(_) => Exit::Unavailable,
            Error::Etl(_) => Exit::Failed,
            _ => Exit::Internal,
        };
        Self::new(exit, error)
    }
}

impl From<ConfigError> for CliError {
    fn from(error: ConfigError) -> Self {
        let exit = match error {
            ConfigError::Missing => Exit::Usage,
            _ => Exit::Config,
        };
        Self::new(exit, error)
    }
}

impl From<std::io::Error> for CliError {
    fn from(error: std::io::Error) -> Self {
        Self::new(Exit::Internal, error)
    }
}

impl From<serde_json::Error> for CliError {
    fn from(error: serde_json::Error) -> Self {
        Self::new(Exit::Internal, error)
    }
}

/// `--kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// Sales lines (`ventas`).
    #[value(alias = "ventas")]
    Sales,
    /// Inventory snapshots (`inventario`).
    #[value(alias = "inventario")]
    Inventory,
}

impl From<KindArg> for DataKind {
    fn from(kind: KindArg) -> Self {
        match kind {
            KindArg::Sales => DataKind::Sales,
            KindArg::Inventory => DataKind::Inventory,
        }
    }
}

/// `--status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    /// Still running (or left running by a crash).
    Running,
    /// Every store succeeded.
    Success,
    /// Some stores failed.
    Partial,
    /// No store succeeded.
    Failed,
}

impl From<StatusArg> for ExecutionStatus {
    fn from(status: StatusArg) -> Self {
        match status {
            StatusArg::Running => ExecutionStatus::Running,
            StatusArg::Success => ExecutionStatus::Success,
            StatusArg::Partial => ExecutionStatus::Partial,
            StatusArg::Failed => ExecutionStatus::Failed,
        }
    }
}

/// `--triggered-by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TriggeredByArg {
    /// AWS EventBridge.
    Eventbridge,
    /// The admin panel.
    #[value(name = "fluxion_admin", alias = "fluxion-admin")]
    FluxionAdmin,
    /// The command line.
    Cli,
    /// Gap recovery.
    Recovery,
    /// Fluxion's scheduler.
    Scheduler,
}

impl From<TriggeredByArg> for TriggeredBy {
    fn from(by: TriggeredByArg) -> Self {
        match by {
            TriggeredByArg::Eventbridge => TriggeredBy::Eventbridge,
            TriggeredByArg::FluxionAdmin => TriggeredBy::FluxionAdmin,
            TriggeredByArg::Cli => TriggeredBy::Cli,
            TriggeredByArg::Recovery => TriggeredBy::Recovery,
            TriggeredByArg::Scheduler => TriggeredBy::Scheduler,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_errors_map_to_exit_codes() {
        let code = |e: Error| CliError::from(e).exit();
        assert_eq!(code(Error::InvalidRequest("x".into())), Exit::Usage);
        assert_eq!(code(Error::Schema("x".into())), Exit::Unavailable);
        assert_eq!(code(Error::NotFound("x".into())), Exit::Failed);
        assert_eq!(code(Error::Conflict("x".into())), Exit::Unavailable);
        assert_eq!(code(Error::Config(ConfigError::Missing)), Exit::Usage);
        let invalid = ConfigError::Invalid {
            origin: "f".into(),
            line: 1,
            key: "k".into(),
            message: "m".into(),
        };
        assert_eq!(code(Error::Config(invalid)), Exit::Config);
    }

    #[test]
    fn opening_a_destination_fails_as_unavailable_and_hides_secrets() {
        let e = destination_error(
            Error::InvalidRequest("no such driver".into()),
            "postgres://u:s3cret@db/x",
        );
        assert_eq!(e.exit(), Exit::Unavailable);
        let text = sanitize(&format!("{:#}", e.error()));
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("no such driver"), "{text}");
    }

    #[test]
    fn statuses_map_to_exit_codes() {
        assert_eq!(Exit::of_status(ExecutionStatus::Success) as u8, 0);
        assert_eq!(Exit::of_status(ExecutionStatus::Failed) as u8, 1);
        assert_eq!(Exit::of_status(ExecutionStatus::Partial) as u8, 2);
    }
}
