//! `fluxion sim`: serve a simulated point-of-sale system on loopback until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::{CliError, CliResult, Context, Exit};

/// `fluxion sim`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    system: System,
}

#[derive(Debug, clap::Subcommand)]
enum System {
    /// The KLK REST API (the endpoints and JSON of KLK_API.md), with fault injection.
    Klk {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7002")]
        bind: SocketAddr,
        /// Simulator configuration (seed, volume, closed days, faults), TOML.
        #[arg(long = "sim-config", value_name = "FILE")]
        sim_config: Option<PathBuf>,
    },
    /// Stellar's SQL Server over TDS 7.4 (plain TCP), queryable by any SQL Server client.
    Stellar {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:14330")]
        bind: SocketAddr,
        /// SQL login the simulator accepts.
        #[arg(long, default_value = "fluxion")]
        user: String,
        /// Password of that login.
        #[arg(long, default_value = "fluxion")]
        password: String,
        /// Simulator configuration (seed, depots, volume, faults), TOML.
        #[arg(long = "sim-config", value_name = "FILE")]
        sim_config: Option<PathBuf>,
    },
}

/// Runs the command.
pub async fn execute(args: Args, _ctx: &Context) -> CliResult {
    match args.system {
        System::Klk { bind, sim_config } => {
            eprintln!("KLK simulator on http://{bind} (Ctrl-C stops it)");
            fluxion_etl_sim::klk::run_from_cli(bind, sim_config.as_deref())
                .await
                .map_err(|e| CliError::new(Exit::Unavailable, e))?;
        }
        System::Stellar {
            bind,
            user,
            password,
            sim_config,
        } => {
            eprintln!("Stellar simulator (TDS) on {bind}, login {user} (Ctrl-C stops it)");
            fluxion_etl_sim::stellar::run_from_cli(bind, user, password, sim_config.as_deref())
                .await
                .map_err(|e| CliError::new(Exit::Unavailable, e))?;
        }
    }
    Ok(Exit::Success)
}
