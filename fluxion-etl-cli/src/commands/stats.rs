//! `fluxion stats`: how the last days went.

use std::collections::BTreeMap;

use fluxion_etl_core::tracker::Stats;

use super::{CliResult, Context, Exit, KindArg};
use crate::output::{self, Align, Table};

/// `fluxion stats`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Days to look back.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=90))]
    days: u32,

    /// Only this kind.
    #[arg(long, value_enum)]
    kind: Option<KindArg>,

    /// Print JSON (the `/api/etl/stats` shape) instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs the command.
pub async fn execute(args: Args, ctx: &Context) -> CliResult {
    let fluxion = ctx.open_readonly(ctx.config_or_empty()?).await?;
    let kind = args.kind.map(Into::into);
    let stats = fluxion.tracker_store().stats(args.days, kind).await?;
    if args.json {
        output::print_json(&stats)?;
    } else {
        let scope = match kind {
            Some(k) => k.etl_name(),
            None => "all kinds",
        };
        output::print(human(&stats, args.days, scope))?;
    }
    Ok(Exit::Success)
}

fn human(s: &Stats, days: u32, scope: &str) -> String {
    let mut text = format!(
        "Last {days} day(s), {scope}: {} executions: {} success, {} partial, {} failed ({}% success)\n",
        output::count(s.total_executions),
        output::count(s.successful),
        output::count(s.partial),
        output::count(s.failed),
        s.success_rate
    );
    text.push_str(&format!(
        "  average duration  {}\n  records loaded    {}\n  duplicates        {}\n",
        output::duration(s.avg_duration_seconds),
        output::count(s.total_records_loaded),
        output::count(s.total_duplicates)
    ));
    let counts = |m: &BTreeMap<String, i64>| {
        if m.is_empty() {
            "-".to_owned()
        } else {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    text.push_str(&format!(
        "  errors by phase   {}\n  errors by cause   {}\n",
        counts(&s.errors_by_phase),
        counts(&s.errors_by_category)
    ));
    if !s.tiendas_con_mas_fallos.is_empty() {
        let mut table = Table::new(&[
            ("store", Align::Left),
            ("name", Align::Left),
            ("executions", Align::Right),
            ("failures", Align::Right),
            ("most common error", Align::Left),
        ]);
        for f in &s.tiendas_con_mas_fallos {
            table.push(vec![
                f.tienda_id.clone(),
                f.tienda_nombre.clone().unwrap_or_default(),
                output::count(f.total_ejecuciones),
                output::count(f.fallos),
                f.error_mas_comun.map(|c| c.to_string()).unwrap_or_default(),
            ]);
        }
        text.push_str("\nStores with most failures:\n");
        text.push_str(&table.to_string());
    }
    text.trim_end().to_owned()
}
