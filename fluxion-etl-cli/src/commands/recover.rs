//! `fluxion recover`: plans the gaps to run again (failed windows, missing days or both), newest
//! first, and runs each as a recovery execution; `--dry-run` prints the plan only.

use chrono::{DateTime, NaiveDate, Utc};
use clap::ValueEnum;
use fluxion_etl_core::model::DataKind;
use fluxion_etl_core::recovery::{
    RecoveryBehavior, RecoveryPlan, RecoveryReason, RecoveryReport, RecoveryRequest,
};
use fluxion_etl_core::tracker::{sanitize, ExecutionStatus};
use fluxion_etl_core::{cancel_on_signals, CancellationToken};

use super::{CliError, CliResult, Context, Exit, KindArg};
use crate::output::{self, Align, Table};

/// `--behavior`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BehaviorArg {
    /// Missing days (coverage), in runs of at most `[gaps] recovery_chunk_days` days.
    Missing,
    /// Failed windows not yet recovered.
    Failed,
    /// Both.
    All,
}

impl From<BehaviorArg> for RecoveryBehavior {
    fn from(b: BehaviorArg) -> Self {
        match b {
            BehaviorArg::Missing => RecoveryBehavior::Missing,
            BehaviorArg::Failed => RecoveryBehavior::Failed,
            BehaviorArg::All => RecoveryBehavior::All,
        }
    }
}

/// `fluxion recover`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which gaps.
    #[arg(long, value_enum, default_value = "failed")]
    behavior: BehaviorArg,

    /// Only these stores, comma-separated; default: every active store.
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    stores: Vec<String>,

    /// Only gaps from this store-local day on.
    #[arg(long, value_name = "YYYY-MM-DD")]
    from: Option<NaiveDate>,

    /// Only gaps through this store-local day.
    #[arg(long, value_name = "YYYY-MM-DD")]
    to: Option<NaiveDate>,

    /// At most this many recovery executions (newest first).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max: Option<u32>,

    /// Sales (default) or inventory.
    #[arg(long, value_enum, default_value = "sales")]
    kind: KindArg,

    /// Print the plan and run nothing.
    #[arg(long)]
    dry_run: bool,

    /// Plan as of this instant (RFC 3339) instead of now.
    #[arg(long, value_name = "INSTANT")]
    at: Option<DateTime<Utc>>,

    /// Print JSON (the plan, or the plan with each execution's outcome) instead of tables.
    #[arg(long)]
    json: bool,
}

/// Runs the command.
pub async fn execute(args: Args, ctx: &Context) -> CliResult {
    if let (Some(from), Some(to)) = (args.from, args.to) {
        if to < from {
            return Err(CliError::usage(format!(
                "--to ({to}) is before --from ({from})"
            )));
        }
    }
    let request = RecoveryRequest {
        now: args.at.unwrap_or_else(Utc::now),
        kind: DataKind::from(args.kind),
        behavior: args.behavior.into(),
        stores: super::store_ids(&args.stores),
        from: args.from,
        to: args.to,
        max: args.max.map(|m| m as usize),
    };
    let config = ctx.config()?;
    if args.dry_run {
        let fluxion = ctx.open_readonly(config).await?;
        let plan = fluxion.recovery_plan(&request).await?;
        if args.json {
            output::print_json(&plan)?;
        } else {
            output::print(plan_text(&plan, true))?;
        }
        return Ok(Exit::Success);
    }
    let fluxion = ctx.open(config).await?;
    let cancel = CancellationToken::new();
    cancel_on_signals(cancel.clone());
    let report = fluxion.recover_with_cancel(&request, &cancel).await?;
    if args.json {
        output::print_json(&report)?;
    } else {
        output::print(report_text(&report))?;
    }
    Ok(Exit::of_status(report.status()))
}

fn window(item: &fluxion_etl_core::recovery::PlannedRecovery) -> String {
    match item.window {
        Some(w) => output::window(w.from_utc(), w.to_utc()),
        None => "snapshot".to_owned(),
    }
}

fn plan_text(plan: &RecoveryPlan, dry_run: bool) -> String {
    if plan.items.is_empty() {
        return format!("Nothing to recover ({}).", plan.behavior);
    }
    let mut t = Table::new(&[
        ("#", Align::Right),
        ("store", Align::Left),
        ("reason", Align::Left),
        ("window", Align::Left),
        ("gap", Align::Right),
        ("error", Align::Left),
    ]);
    for (i, item) in plan.items.iter().enumerate() {
        t.push(vec![
            (i + 1).to_string(),
            item.store_id.to_string(),
            match item.reason {
                RecoveryReason::Failed => "failed".to_owned(),
                RecoveryReason::Missing => "missing".to_owned(),
            },
            window(item),
            item.recovered_gap_id
                .map_or_else(String::new, |id| id.to_string()),
            item.error_category
                .map_or_else(String::new, |c| c.as_str().to_owned()),
        ]);
    }
    let mut text = t.to_string();
    text.push_str(&format!(
        "\n{} recovery execution(s) planned ({}, newest first",
        plan.items.len(),
        plan.behavior
    ));
    if plan.candidates > plan.items.len() {
        text.push_str(&format!(
            "; {} more beyond --max",
            plan.candidates - plan.items.len()
        ));
    }
    text.push(')');
    text.push_str(if dry_run {
        ". Dry run: nothing was run."
    } else {
        "."
    });
    text
}

fn report_text(report: &RecoveryReport) -> String {
    if report.plan.items.is_empty() {
        return plan_text(&report.plan, false);
    }
    let mut t = Table::new(&[
        ("store", Align::Left),
        ("window", Align::Left),
        ("gap", Align::Right),
        ("execution", Align::Right),
        ("status", Align::Left),
        ("error", Align::Left),
    ]);
    for o in &report.outcomes {
        t.push(vec![
            o.item.store_id.to_string(),
            window(&o.item),
            o.item
                .recovered_gap_id
                .map_or_else(String::new, |id| id.to_string()),
            o.execution_id
                .map_or_else(|| "-".to_owned(), |id| id.to_string()),
            o.status.to_string(),
            sanitize(o.error.as_deref().unwrap_or("")),
        ]);
    }
    let mut text = t.to_string();
    let skipped = report.plan.items.len() - report.outcomes.len();
    text.push_str(&format!(
        "\nRecovery {}: {} of {} execution(s) succeeded",
        report.status(),
        report.succeeded(),
        report.plan.items.len()
    ));
    if skipped > 0 {
        text.push_str(&format!(", {skipped} not started (interrupted)"));
    }
    text.push('.');
    if report.status() != ExecutionStatus::Success {
        text.push_str(" Details: fluxion show <execution>");
    }
    text
}
