//! `fluxion migrate`: bring the destination's schema up to this version.

use fluxion_etl_core::loaders::{Destination, SchemaStatus};

use super::{destination_error, CliError, CliResult, Context, Exit};
use crate::output;

/// `fluxion migrate`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the command.
pub async fn execute(_args: Args, ctx: &Context) -> CliResult {
    let config = ctx.config_or_empty()?;
    let url = config.destination_url();
    let destination = Destination::connect_within(&url, config.destination.connect_timeout())
        .await
        .map_err(|e| destination_error(e, &url))?;
    let result = migrate(&destination).await;
    destination.close().await;
    result.map_err(|e| e.context("cannot migrate the destination"))
}

async fn migrate(destination: &Destination) -> CliResult {
    match destination.schema_status().await? {
        SchemaStatus::Current => {
            output::print("The destination's schema is already current.")?;
        }
        SchemaStatus::Ahead { unknown } => {
            return Err(CliError::new(
                Exit::Unavailable,
                anyhow::anyhow!(
                    "the destination was migrated by a newer Fluxion (unknown migration(s) {}); upgrade fluxion",
                    versions(&unknown)
                ),
            ));
        }
        SchemaStatus::Behind { pending } => {
            destination.migrate().await?;
            output::print(format!(
                "Applied {} migration(s): {}.",
                pending.len(),
                versions(&pending)
            ))?;
        }
    }
    Ok(Exit::Success)
}

fn versions(list: &[i64]) -> String {
    list.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
