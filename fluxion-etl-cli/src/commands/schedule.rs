//! `fluxion schedule`: preview the schedule, show the scheduler's status, or run the scheduler
//! in the foreground (for operators who run it from a container instead of the server).

use chrono::{DateTime, NaiveDateTime, Utc};
use fluxion_etl_core::model::{local_to_utc, utc_to_local};
use fluxion_etl_core::schedule::{preview, JobKind, PreviewEntry, ScheduleSettings};
use fluxion_etl_core::scheduler::{EffectiveSettings, Scheduler, SchedulerStatus};
use fluxion_etl_core::{cancel_on_signals, CancellationToken};
use serde::Serialize;

use super::{CliError, CliResult, Context, Exit};
use crate::output::{self, Align, Table};

/// `fluxion schedule`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: ScheduleCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ScheduleCommand {
    /// List the next slots: daily run, its possible retry slots, incremental and inventory
    /// ticks, nightly recovery, and the incremental ticks that collide with a daily attempt.
    ///
    /// Uses `[schedule]` with the settings changed at runtime (`PUT /api/etl/scheduler/config`)
    /// stored in the destination.
    Preview(PreviewArgs),
    /// The scheduler's status: enabled, running jobs, next and last run, pending retries and
    /// the last daily summary.
    Status(StatusArgs),
    /// Run the scheduler in the foreground until Ctrl-C or SIGTERM, which interrupt the jobs in
    /// flight (their executions are closed as interrupted) and exit 0.
    ///
    /// Several `fluxion schedule run` (or servers) may share one PostgreSQL destination: each
    /// slot runs once.
    Run,
    /// Change the daily run's settings, stored in the destination and effective at the next
    /// evaluation of every running scheduler (fields not given keep their value).
    Set(SetArgs),
    /// Run the daily job now (yesterday's sales, every active store) and wait for it, as the
    /// control centre's "Run now": its outcome feeds the daily summary, and a running scheduler
    /// retries the stores that failed retryably. Exits like `run`.
    Trigger(StatusArgs),
    /// Enable the scheduler (stored in the destination).
    Enable,
    /// Disable the scheduler (stored in the destination); jobs already running finish.
    Disable,
}

#[derive(Debug, clap::Args)]
struct SetArgs {
    /// Hour of the daily run, store-local (0-23).
    #[arg(long)]
    execution_hour: Option<u32>,
    /// Minute of the daily run (0-59).
    #[arg(long)]
    execution_minute: Option<u32>,
    /// Retries of stores that failed retryably (0-20).
    #[arg(long)]
    max_retries: Option<u32>,
    /// Minutes between retries (1-720).
    #[arg(long)]
    retry_interval_minutes: Option<u32>,
}

#[derive(Debug, clap::Args)]
struct PreviewArgs {
    /// How many days ahead.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=14))]
    days: u32,

    /// Start from this store-local time instead of now: "YYYY-MM-DD HH:MM".
    #[arg(long, value_name = "DATETIME", value_parser = super::run::parse_local)]
    from: Option<NaiveDateTime>,

    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    /// Print the `GET /api/etl/scheduler/status` JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs the command.
pub async fn execute(args: Args, ctx: &Context) -> CliResult {
    match args.command {
        ScheduleCommand::Preview(a) => preview_cmd(a, ctx).await,
        ScheduleCommand::Status(a) => status_cmd(a, ctx).await,
        ScheduleCommand::Run => run_cmd(ctx).await,
        ScheduleCommand::Set(a) => set_cmd(a, ctx).await,
        ScheduleCommand::Trigger(a) => trigger_cmd(a, ctx).await,
        ScheduleCommand::Enable => toggle_cmd(true, ctx).await,
        ScheduleCommand::Disable => toggle_cmd(false, ctx).await,
    }
}

/// One line of the preview, as `--json` prints it.
#[derive(Debug, Serialize)]
struct Line {
    /// When (UTC).
    at: DateTime<Utc>,
    /// When, store-local.
    local: NaiveDateTime,
    /// The job's key (`daily`, `daily_retry_1`, …).
    job: String,
    /// The sales window, store-local.
    window: Option<fluxion_etl_core::model::Window>,
    /// Whether the slot only runs if stores failed.
    conditional: bool,
    /// The daily attempt this tick collides with, if any.
    collides_with: Option<String>,
}

#[derive(Debug, Serialize)]
struct PreviewJson {
    from: DateTime<Utc>,
    days: u32,
    enabled: bool,
    settings: EffectiveSettings,
    collisions: usize,
    slots: Vec<Line>,
}

async fn preview_cmd(args: PreviewArgs, ctx: &Context) -> CliResult {
    let fluxion = ctx.open_readonly(ctx.config_or_empty()?).await?;
    let persisted = fluxion.destination().scheduler_store().load().await?;
    let config = persisted.settings.apply(&fluxion.config().schedule);
    let enabled = persisted.enabled.unwrap_or(config.enabled);
    let from = args.from.map_or_else(Utc::now, local_to_utc);
    let entries = preview(from, args.days, &config);
    let slots: Vec<Line> = entries.iter().map(line).collect();
    let collisions = slots.iter().filter(|l| l.collides_with.is_some()).count();
    if args.json {
        output::print_json(&PreviewJson {
            from,
            days: args.days,
            enabled,
            settings: EffectiveSettings::from(&config),
            collisions,
            slots,
        })?;
        return Ok(Exit::Success);
    }
    let mut text = format!(
        "Schedule from {} for {} day(s), America/Caracas{}\n\
         daily {:02}:{:02} (yesterday's sales), retries every {} min up to {}; \
         incremental every {} min {:02}:00-{:02}:00 (+{} min overlap); recovery {:02}:00\n\n",
        utc_to_local(from).format("%Y-%m-%d %H:%M"),
        args.days,
        if enabled {
            ""
        } else {
            " (the scheduler is DISABLED: nothing runs)"
        },
        config.execution_hour,
        config.execution_minute,
        config.retry_interval_minutes,
        config.max_retries,
        config.incremental_interval_minutes,
        config.opening_hour,
        config.closing_hour,
        config.incremental_overlap_minutes,
        config.recovery_hour,
    );
    let mut table = Table::new(&[
        ("local time", Align::Left),
        ("UTC", Align::Left),
        ("job", Align::Left),
        ("window", Align::Left),
        ("note", Align::Left),
    ]);
    for l in &slots {
        let note = match (&l.collides_with, l.conditional) {
            (Some(c), _) => format!("collision with {c}: its stores skip this tick"),
            (None, true) => "only if stores failed".to_owned(),
            (None, false) => String::new(),
        };
        table.push(vec![
            l.local.format("%Y-%m-%d %H:%M").to_string(),
            l.at.format("%H:%M").to_string(),
            l.job.clone(),
            l.window
                .map(|w| output::window(w.from_utc(), w.to_utc()))
                .unwrap_or_default(),
            note,
        ]);
    }
    text.push_str(&table.to_string());
    text.push_str(&format!(
        "\n{} slot(s), {} collision(s)",
        slots.len(),
        collisions
    ));
    output::print(text.trim_end())?;
    Ok(Exit::Success)
}

fn line(e: &PreviewEntry) -> Line {
    Line {
        at: e.at,
        local: e.local,
        job: e.kind.key(),
        window: e.window,
        conditional: matches!(e.kind, JobKind::DailyRetry { .. }),
        collides_with: e.collides_with.clone(),
    }
}

async fn status_cmd(args: StatusArgs, ctx: &Context) -> CliResult {
    let fluxion = ctx.open_readonly(ctx.config_or_empty()?).await?;
    let status = Scheduler::new(fluxion).status().await?;
    if args.json {
        output::print_json(&status)?;
    } else {
        output::print(human_status(&status))?;
    }
    Ok(Exit::Success)
}

fn human_status(s: &SchedulerStatus) -> String {
    let mut text = format!(
        "Scheduler {}{}\n  next run        {}\n  last run        {}\n  pending retries {}{}\n",
        if s.enabled { "enabled" } else { "disabled" },
        if s.is_running { ", running" } else { "" },
        output::opt_local_time(s.next_run),
        s.last_run.as_ref().map_or_else(
            || "never".to_owned(),
            |r| format!(
                "{} {} ({}{})",
                r.job,
                output::local_time(r.started_at),
                r.status,
                r.execution_id
                    .map(|id| format!(", execution {id}"))
                    .unwrap_or_default()
            )
        ),
        s.pending_retries,
        if s.pending_stores.is_empty() {
            String::new()
        } else {
            format!(
                " ({}; next {})",
                s.pending_stores
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                output::opt_local_time(s.next_retry_at)
            )
        },
    );
    for j in &s.running_jobs {
        text.push_str(&format!(
            "  running         {} for {} on {} ({} store(s))\n",
            j.job,
            output::local_time(j.slot),
            j.owner,
            j.stores.len()
        ));
    }
    if let Some(d) = &s.daily_summary {
        text.push_str(&format!(
            "Last summary {}: {} total, {} ok, {} failed, {} pending retries\n",
            d.day, d.total, d.ok, d.failed, d.pending_retries
        ));
        for f in &d.failed_stores {
            text.push_str(&format!(
                "  {} {}{}\n",
                f.store,
                f.category.as_deref().unwrap_or("not reached"),
                if f.retryable { "" } else { " (not retried)" }
            ));
        }
    }
    text.trim_end().to_owned()
}

async fn set_cmd(args: SetArgs, ctx: &Context) -> CliResult {
    let update = ScheduleSettings {
        execution_hour: args.execution_hour,
        execution_minute: args.execution_minute,
        max_retries: args.max_retries,
        retry_interval_minutes: args.retry_interval_minutes,
    };
    if update == ScheduleSettings::default() {
        return Err(CliError::usage(
            "nothing to change: give --execution-hour, --execution-minute, --max-retries or --retry-interval-minutes",
        ));
    }
    let fluxion = ctx.open(ctx.config_or_empty()?).await?;
    let s = Scheduler::new(fluxion).update_config(update).await?;
    output::print(format!(
        "Daily run at {:02}:{:02} (America/Caracas), retries every {} min up to {}.",
        s.execution_hour, s.execution_minute, s.retry_interval_minutes, s.max_retries
    ))?;
    Ok(Exit::Success)
}

async fn trigger_cmd(args: StatusArgs, ctx: &Context) -> CliResult {
    let fluxion = ctx.open(ctx.config()?).await?;
    let stop = CancellationToken::new();
    cancel_on_signals(stop.clone());
    let scheduler = Scheduler::new(fluxion);
    let started = scheduler.trigger().await?;
    tokio::select! {
        _ = scheduler.wait_idle() => {}
        _ = stop.cancelled() => scheduler.shutdown().await,
    }
    let status = scheduler.status().await?;
    let view = match started.execution_id {
        Some(id) => scheduler.fluxion().tracker_store().execution(id).await?,
        None => None,
    };
    if args.json {
        output::print_json(&serde_json::json!({
            "execution_id": started.execution_id,
            "execution": view,
            "scheduler": status,
        }))?;
    } else {
        let mut text = match &view {
            Some(v) => format!(
                "Daily run now: execution {} {} ({} store(s))\n",
                v.id,
                v.status,
                v.tiendas_detail.len()
            ),
            None => "Daily run now: no execution could be opened\n".to_owned(),
        };
        text.push_str(&human_status(&status));
        output::print(text)?;
    }
    Ok(view.map_or(Exit::Failed, |v| Exit::of_status(v.status)))
}

async fn toggle_cmd(enable: bool, ctx: &Context) -> CliResult {
    let fluxion = ctx.open(ctx.config_or_empty()?).await?;
    let scheduler = Scheduler::new(fluxion);
    let status = if enable {
        scheduler.enable().await?
    } else {
        scheduler.disable().await?
    };
    output::print(format!(
        "Scheduler {}; next run {}.",
        if status.enabled {
            "enabled"
        } else {
            "disabled"
        },
        output::opt_local_time(status.next_run)
    ))?;
    Ok(Exit::Success)
}

async fn run_cmd(ctx: &Context) -> CliResult {
    let fluxion = ctx.open(ctx.config()?).await?;
    let stop = CancellationToken::new();
    cancel_on_signals(stop.clone());
    let scheduler = Scheduler::new(fluxion);
    eprintln!(
        "Scheduler running as {} (Ctrl-C or SIGTERM stops it).",
        scheduler.owner()
    );
    let mut looping = tokio::spawn({
        let scheduler = scheduler.clone();
        async move { scheduler.run().await }
    });
    tokio::select! {
        _ = stop.cancelled() => {}
        ended = &mut looping => {
            return match ended {
                Ok(Ok(())) => Ok(Exit::Success),
                Ok(Err(e)) => Err(e.into()),
                Err(e) => Err(CliError::new(Exit::Internal, e)),
            };
        }
    }
    scheduler.shutdown().await;
    match looping.await {
        Ok(result) => result?,
        Err(e) => return Err(CliError::new(Exit::Internal, e)),
    }
    eprintln!("Scheduler stopped.");
    Ok(Exit::Success)
}
