//! `fluxion demo`: the KLK simulator in-process, the chain's KLK stores, the last days of sales
//! and current inventory into an embedded SQLite file — no setup.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use chrono::Utc;
use fluxion_etl_core::gaps::{GapQuery, GapReport, StoreGaps};
use fluxion_etl_core::model::{store_yesterday, DataKind};
use fluxion_etl_core::tracker::{ExecutionView, StoreDetailView, StoreStatus, TriggeredBy};
use fluxion_etl_core::{cancel_on_signals, CancellationToken, Fluxion, RunRequest};
use fluxion_etl_sim::demo::{Demo, DemoOptions};

use super::{destination_error, CliError, CliResult, Context, Exit};
use crate::output::{self, Align, Table};
use crate::progress::StoreProgress;

/// `fluxion demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Days of sales to load, ending yesterday (store time).
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=90))]
    days: u32,

    /// Only these stores, comma-separated (default: the chain's 19 KLK stores).
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    stores: Vec<String>,

    /// The SQLite file to load into (created if missing; run again to see a re-run change nothing).
    #[arg(long, value_name = "FILE", default_value = "fluxion-demo.db")]
    db: PathBuf,

    /// Print both executions as JSON instead of tables.
    #[arg(long)]
    json: bool,
}

/// Runs the command.
pub async fn execute(args: Args, ctx: &Context) -> CliResult {
    let started = Instant::now();
    let mut options = DemoOptions::new(&args.db);
    if !args.stores.is_empty() {
        options.stores = Some(args.stores.clone());
    }
    let demo = Demo::start(options)
        .await
        .map_err(|e| CliError::new(Exit::Usage, e))?;
    let config = demo.config().clone();
    let url = config.destination_url();
    let fluxion = Fluxion::from_config(config)
        .await
        .map_err(|e| destination_error(e, &url))?;
    let stores = fluxion.config().stores.len();
    if !args.json {
        eprintln!(
            "KLK simulator at {}; loading {} day(s) of sales and inventory for {stores} store(s) into {}",
            demo.klk().base_url(),
            args.days,
            args.db.display()
        );
    }

    let progress = StoreProgress::new(
        !args.json && ctx.verbose == 0 && std::io::stderr().is_terminal(),
        "Loading".to_owned(),
    );
    let fluxion = fluxion.with_observer(progress.clone());
    let cancel = CancellationToken::new();
    cancel_on_signals(cancel.clone());
    let last = store_yesterday();
    let first = last
        .checked_sub_days(chrono::Days::new(u64::from(args.days - 1)))
        .unwrap_or(last);
    let sales = fluxion
        .run_with_cancel(
            RunRequest::days(DataKind::Sales, first, last).triggered_by(TriggeredBy::Cli),
            &cancel,
        )
        .await?;
    let inventory = if cancel.is_cancelled() {
        None
    } else {
        Some(
            fluxion
                .run_with_cancel(
                    RunRequest::inventory().triggered_by(TriggeredBy::Cli),
                    &cancel,
                )
                .await?,
        )
    };
    progress.bar().finish_and_clear();
    demo.shutdown().await;

    let store = fluxion.tracker_store();
    let sales_view = store
        .execution(sales.execution_id)
        .await?
        .ok_or_else(|| CliError::new(Exit::Internal, anyhow::anyhow!("execution vanished")))?;
    let inventory_view = match &inventory {
        Some(r) => store.execution(r.execution_id).await?,
        None => None,
    };
    // What is missing now that the days are loaded (the `fluxion gaps` report).
    let gaps = fluxion.gaps(&GapQuery::sales(Utc::now())).await?;
    if args.json {
        output::print_json(&serde_json::json!({
            "sales": sales_view,
            "inventory": inventory_view,
            "gaps": gaps,
        }))?;
    } else {
        print_summary(
            &sales_view,
            inventory_view.as_ref(),
            &gaps,
            started.elapsed().as_secs_f64(),
        )?;
    }
    // The worse of the two runs decides the exit code.
    let exit = [Some(sales.status), inventory.map(|r| r.status)]
        .into_iter()
        .flatten()
        .map(Exit::of_status)
        .max_by_key(|e| match e {
            Exit::Success => 0,
            Exit::Partial => 1,
            _ => 2,
        })
        .unwrap_or(Exit::Failed);
    Ok(exit)
}

fn print_summary(
    sales: &ExecutionView,
    inventory: Option<&ExecutionView>,
    gaps: &GapReport,
    elapsed: f64,
) -> std::io::Result<()> {
    let mut table = Table::new(&[
        ("store", Align::Left),
        ("name", Align::Left),
        ("sales", Align::Left),
        ("rows", Align::Right),
        ("new/changed", Align::Right),
        ("unchanged", Align::Right),
        ("time", Align::Right),
        ("inventory", Align::Left),
        ("articles", Align::Right),
        ("gaps", Align::Left),
    ]);
    for d in &sales.tiendas_detail {
        let inv =
            inventory.and_then(|i| i.tiendas_detail.iter().find(|x| x.tienda_id == d.tienda_id));
        let status = |d: &StoreDetailView| match d.status {
            StoreStatus::Failed => {
                let failure =
                    output::failure(d.error_phase.as_deref(), d.error_category.as_deref());
                format!("failed {failure}")
            }
            other => other.to_string(),
        };
        table.push(vec![
            d.tienda_id.clone(),
            d.tienda_nombre.clone().unwrap_or_default(),
            status(d),
            output::count(d.records_extracted),
            output::count(d.records_loaded),
            output::count(d.duplicates_skipped),
            output::opt_duration(d.duration_seconds),
            inv.map(status).unwrap_or_else(|| "-".into()),
            inv.map(|i| output::count(i.records_extracted))
                .unwrap_or_else(|| "-".into()),
            gaps.store(&d.tienda_id)
                .map(store_gaps)
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    output::print(&table)?;
    let window = match (sales.fecha_desde, sales.fecha_hasta) {
        (Some(f), Some(t)) => output::window(f, t),
        _ => String::new(),
    };
    output::print(format!(
        "sales {window}: execution #{} {} — {} rows, {} new or changed, {} unchanged",
        sales.id,
        sales.status,
        output::count(sales.records_extracted),
        output::count(sales.records_loaded),
        output::count(sales.duplicates_skipped)
    ))?;
    if let Some(inv) = inventory {
        output::print(format!(
            "inventory: execution #{} {} — {} articles",
            inv.id,
            inv.status,
            output::count(inv.records_extracted)
        ))?;
    }
    let r = &gaps.resumen;
    output::print(format!(
        "gaps: {} of {} stores up to date, {} behind ({} critical), {} with missing days, {} failed window(s) to recover — `fluxion gaps` for the detail",
        r.al_dia,
        r.total_tiendas,
        r.desactualizadas,
        r.criticas,
        r.con_gaps_historicos,
        r.fallos_por_recuperar
    ))?;
    if sales.records_loaded == 0 && sales.duplicates_skipped > 0 {
        output::print(format!(
            "Nothing new: all {} sales rows were already loaded (duplicates skipped).",
            output::count(sales.duplicates_skipped)
        ))?;
    } else {
        output::print("Run `fluxion demo` again: it loads nothing new and says so.")?;
    }
    output::print(format!(
        "Done in {}. Explore with: DATABASE_URL=sqlite://… fluxion history | show {} | stats",
        output::duration(elapsed),
        sales.id
    ))?;
    Ok(())
}

/// A store's gaps in a few words: its badge, days behind, missing days, failed windows.
fn store_gaps(s: &StoreGaps) -> String {
    let mut words = vec![super::gaps::badge(s).to_owned()];
    if let Some(days) = s.dias_atraso.filter(|d| *d > 0) {
        words.push(format!("{days} d behind"));
    }
    let missing: u32 = s.dias_faltantes.iter().map(|r| r.dias).sum();
    if missing > 0 {
        words.push(format!("{missing} d missing"));
    }
    if !s.fallos_por_recuperar.is_empty() {
        words.push(format!("{} failed", s.fallos_por_recuperar.len()));
    }
    words.join(", ")
}
