//! `fluxion history`: executions, newest first; `fluxion history prune`: the retention.

use chrono::NaiveDate;
use fluxion_etl_core::tracker::{HistoryEntry, HistoryFilter};

use super::{CliResult, Context, Exit, KindArg, StatusArg, TriggeredByArg};
use crate::output::{self, Align, Table};

/// `fluxion history`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,

    #[command(flatten)]
    list: ListArgs,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Delete executions (and their store details) started more than the retention period ago.
    ///
    /// The period is `[destination] retention_days` (90 by default) unless `--keep-days` says
    /// otherwise. Running executions are kept; loaded data is never deleted (its rows only lose
    /// the pointer to the purged execution).
    Prune(PruneArgs),
}

#[derive(Debug, clap::Args)]
struct PruneArgs {
    /// Keep this many days of history instead of the configured `retention_days`.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=36_500))]
    keep_days: Option<u32>,

    /// Print JSON (`{"deleted": N, "keep_days": D}`) instead of a sentence.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// Only this kind.
    #[arg(long, value_enum)]
    kind: Option<KindArg>,

    /// Only executions with this status.
    #[arg(long, value_enum)]
    status: Option<StatusArg>,

    /// Started on or after this day (UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    from: Option<NaiveDate>,

    /// Started on or before this day (UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    to: Option<NaiveDate>,

    /// Only executions started this way.
    #[arg(long, value_enum)]
    triggered_by: Option<TriggeredByArg>,

    /// At most this many.
    #[arg(long, default_value_t = HistoryFilter::DEFAULT_LIMIT,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(HistoryFilter::MAX_LIMIT)))]
    limit: u32,

    /// Skip this many (for paging).
    #[arg(long, default_value_t = 0)]
    offset: u32,

    /// Print JSON (the `/api/etl/history` shape) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs the command.
pub async fn execute(args: Args, ctx: &Context) -> CliResult {
    match args.action {
        Some(Action::Prune(prune_args)) => prune(prune_args, ctx).await,
        None => list(args.list, ctx).await,
    }
}

async fn prune(args: PruneArgs, ctx: &Context) -> CliResult {
    let config = ctx.config_or_empty()?;
    let keep_days = args.keep_days.unwrap_or(config.destination.retention_days);
    let fluxion = ctx.open(config).await?;
    let deleted = fluxion.destination().prune_history(keep_days).await?;
    if args.json {
        output::print_json(&serde_json::json!({ "deleted": deleted, "keep_days": keep_days }))?;
    } else {
        output::print(format!(
            "Deleted {deleted} execution{} started more than {keep_days} days ago.",
            if deleted == 1 { "" } else { "s" }
        ))?;
    }
    Ok(Exit::Success)
}

async fn list(args: ListArgs, ctx: &Context) -> CliResult {
    let filter = HistoryFilter {
        etl_name: args.kind.map(Into::into),
        status: args.status.map(Into::into),
        fecha_desde: args.from,
        fecha_hasta: args.to,
        triggered_by: args.triggered_by.map(Into::into),
        limit: Some(args.limit),
        offset: Some(args.offset),
    };
    let fluxion = ctx.open_readonly(ctx.config_or_empty()?).await?;
    let entries = fluxion.tracker_store().history(&filter).await?;
    if args.json {
        output::print_json(&entries)?;
    } else if entries.is_empty() {
        output::print("No executions match.")?;
    } else {
        output::print(table(&entries))?;
    }
    Ok(Exit::Success)
}

fn table(entries: &[HistoryEntry]) -> Table {
    let mut table = Table::new(&[
        ("id", Align::Right),
        ("kind", Align::Left),
        ("status", Align::Left),
        ("started (Caracas)", Align::Left),
        ("duration", Align::Right),
        ("stores ok", Align::Right),
        ("extracted", Align::Right),
        ("loaded", Align::Right),
        ("duplicates", Align::Right),
        ("error", Align::Left),
        ("by", Align::Left),
    ]);
    for e in entries {
        let kind = if e.is_recovery {
            format!("{} (recovery)", e.etl_name)
        } else {
            e.etl_name.to_string()
        };
        table.push(vec![
            e.id.to_string(),
            kind,
            e.status.to_string(),
            output::local_time(e.started_at),
            output::opt_duration(e.duration_seconds),
            format!("{}/{}", e.tiendas_exitosas, e.tiendas_count),
            output::count(e.records_extracted),
            output::count(e.records_loaded),
            output::count(e.duplicates_skipped),
            output::failure(e.error_phase.as_deref(), e.error_category.as_deref()),
            e.triggered_by.to_string(),
        ]);
    }
    table
}
