//! `fluxion show <id>`: one execution in full.

use fluxion_etl_core::tracker::{sanitize, ExecutionView};

use super::{CliError, CliResult, Context, Exit};
use crate::output;

/// `fluxion show`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The execution's id (see `fluxion history`).
    id: i64,

    /// Print JSON (the `/api/etl/history/{id}` shape) instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs the command.
pub async fn execute(args: Args, ctx: &Context) -> CliResult {
    let fluxion = ctx.open_readonly(ctx.config_or_empty()?).await?;
    let view = fluxion
        .tracker_store()
        .execution(args.id)
        .await?
        .ok_or_else(|| {
            CliError::new(
                Exit::Failed,
                anyhow::anyhow!("there is no execution {}", args.id),
            )
        })?;
    if args.json {
        output::print_json(&view)?;
    } else {
        output::print(human(&view))?;
    }
    Ok(Exit::Success)
}

fn human(v: &ExecutionView) -> String {
    let mut lines: Vec<(&str, String)> = vec![
        ("kind", v.etl_name.to_string()),
        (
            "type",
            format!(
                "{} / {}",
                v.etl_type.as_deref().unwrap_or("-"),
                v.mode.as_deref().unwrap_or("-")
            ),
        ),
        ("status", v.status.to_string()),
        ("triggered by", v.triggered_by.to_string()),
        (
            "source",
            v.source_system.clone().unwrap_or_else(|| "-".into()),
        ),
    ];
    if let (Some(from), Some(to)) = (v.fecha_desde, v.fecha_hasta) {
        lines.push(("window", output::window(from, to)));
    }
    lines.extend([
        (
            "started",
            format!("{} (Caracas)", output::local_time(v.started_at)),
        ),
        ("finished", output::opt_local_time(v.finished_at)),
        ("duration", output::opt_duration(v.duration_seconds)),
        (
            "phases",
            format!(
                "extract {}, transform {}, load {}",
                output::opt_duration(v.extract_duration_seconds),
                output::opt_duration(v.transform_duration_seconds),
                output::opt_duration(v.load_duration_seconds)
            ),
        ),
        (
            "records",
            format!(
                "{} extracted, {} loaded, {} duplicates",
                output::count(v.records_extracted),
                output::count(v.records_loaded),
                output::count(v.duplicates_skipped)
            ),
        ),
    ]);
    if let Some(requests) = v.api_requests_count {
        lines.push((
            "requests",
            format!(
                "{} ({} failed)",
                output::count(requests),
                output::count(v.api_errors_count.unwrap_or(0))
            ),
        ));
    }
    if v.is_recovery {
        lines.push((
            "recovery",
            match v.recovered_gap_id {
                Some(gap) => format!("recovers execution {gap}"),
                None => "yes".to_owned(),
            },
        ));
    }
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut text = format!("Execution {}\n", v.id);
    for (key, value) in &lines {
        text.push_str(&format!("  {key:<width$}  {value}\n"));
    }

    text.push('\n');
    if v.tiendas_detail.is_empty() {
        text.push_str("No stores.\n");
    } else {
        text.push_str(&output::store_table(&v.tiendas_detail).to_string());
    }

    if v.error_category.is_some() || v.error_message.is_some() {
        text.push_str(&format!(
            "\nError: {} (source {})\n",
            output::failure(v.error_phase.as_deref(), v.error_category.as_deref()),
            v.error_source.as_deref().unwrap_or("-")
        ));
        if let Some(message) = &v.error_message {
            text.push_str(&format!("  {}\n", sanitize(message)));
        }
        match &v.error_detail {
            Some(detail) => {
                for line in detail.lines() {
                    text.push_str(&format!("    {}\n", sanitize(line)));
                }
            }
            None => {
                let errors = output::store_errors(&v.tiendas_detail);
                if !errors.is_empty() {
                    text.push_str(&errors);
                    text.push('\n');
                }
            }
        }
    }
    text.trim_end().to_owned()
}
