//! `fluxion`: run a sync, inspect the execution history, migrate the destination, validate a
//! configuration.
//!
//! The binary is thin on purpose: it parses arguments, calls `fluxion-etl-core`, and presents
//! what comes back. Exit codes: 0 success, 1 failed, 2 partial, 64 usage error, 65 bad
//! configuration, 69 destination unavailable, 70 internal error.

mod commands;
mod output;
mod progress;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Parser};
use fluxion_etl_core::config::CONFIG_ENV;
use fluxion_etl_core::taxonomy::{sanitize, SanitizingWriter};

use commands::{CliError, Command, Context, Exit};

/// Moves a retail chain's sales and inventory from its point-of-sale systems into PostgreSQL
/// or SQLite, and records every execution.
///
/// `DATABASE_URL` overrides the configured destination for every command; `history`, `show`,
/// `stats` and `migrate` need nothing else.
///
/// Exit codes: 0 success, 1 failed, 2 partial, 64 usage error, 65 bad configuration,
/// 69 destination unavailable, 70 internal error.
#[derive(Debug, Parser)]
#[command(name = "fluxion", version, propagate_version = true)]
struct Cli {
    /// Configuration file (fluxion.toml).
    #[arg(long, global = true, env = CONFIG_ENV, value_name = "FILE", help_heading = "Global options")]
    config: Option<PathBuf>,

    /// Log more to stderr: -v info, -vv debug, -vvv trace (RUST_LOG, when set, wins).
    #[arg(short, long, global = true, action = ArgAction::Count, help_heading = "Global options")]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return Exit::Success.into();
        }
        Err(e) => {
            // clap exits 2 on a usage error, which here means "partial"; usage errors are 64.
            // The message echoes what was typed, which may be a connection string.
            eprint!("{}", sanitize(&e.render().to_string()));
            return Exit::Usage.into();
        }
    };
    init_logging(cli.verbose);
    let ctx = Context {
        config_path: cli.config,
        verbose: cli.verbose,
    };
    match cli.command.execute(&ctx).await {
        Ok(exit) => exit.into(),
        Err(e) => report(e),
    }
}

/// Prints an error's full chain, sanitized, and picks the exit code.
fn report(error: CliError) -> ExitCode {
    if error.is_broken_pipe() {
        // `fluxion history | head`: the reader left; that is not a failure.
        return Exit::Success.into();
    }
    eprintln!("error: {}", sanitize(&format!("{:#}", error.error())));
    error.exit().into()
}

/// Logs go to stderr, through [`sanitize()`], so that no credential reaches a terminal even if a
/// dependency logs a connection string.
fn init_logging(verbose: u8) {
    use tracing_subscriber::filter::{EnvFilter, LevelFilter};
    let level = match verbose {
        0 => LevelFilter::ERROR,
        1 => LevelFilter::INFO,
        2 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let filter = EnvFilter::builder()
        .with_default_directive(level.into())
        .from_env_lossy();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| SanitizingWriter::new(std::io::stderr()))
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
