//! `fluxion gaps`: per store, failed windows not yet recovered, coverage (last day, days behind,
//! completeness, missing ranges, badge, recommendations) and empty opening hours.

use chrono::{DateTime, Utc};
use fluxion_etl_core::gaps::{GapQuery, GapReport, Recommendation, StoreGaps};
use fluxion_etl_core::model::DataKind;
use fluxion_etl_core::tracker::sanitize;

use super::{CliResult, Context, Exit, KindArg};
use crate::output::{self, Align, Table};

/// `fluxion gaps`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only these stores, comma-separated (inactive ones too); default: every active store.
    #[arg(
        long = "store",
        alias = "stores",
        value_name = "ID,...",
        value_delimiter = ','
    )]
    stores: Vec<String>,

    /// Sales (default) or inventory.
    #[arg(long, value_enum, default_value = "sales")]
    kind: KindArg,

    /// Failed windows of the last this many hours (default: `[gaps] failed_within_hours`, 168).
    #[arg(long, value_name = "HOURS", value_parser = clap::value_parser!(u32).range(1..))]
    hours: Option<u32>,

    /// Compute the gaps as of this instant (RFC 3339, e.g. 2025-11-20T14:30:00Z) instead of now.
    #[arg(long, value_name = "INSTANT")]
    at: Option<DateTime<Utc>>,

    /// Print JSON (the `GET /api/ventas/gaps` shape) instead of tables.
    #[arg(long)]
    json: bool,
}

/// Runs the command.
pub async fn execute(args: Args, ctx: &Context) -> CliResult {
    let fluxion = ctx.open_readonly(ctx.config()?).await?;
    let query = GapQuery {
        now: args.at.unwrap_or_else(Utc::now),
        kind: DataKind::from(args.kind),
        stores: super::store_ids(&args.stores),
        failed_within_hours: args.hours,
    };
    let report = fluxion.gaps(&query).await?;
    if args.json {
        output::print_json(&report)?;
    } else {
        output::print(human(&report))?;
    }
    Ok(Exit::Success)
}

pub(super) fn badge(s: &StoreGaps) -> &'static str {
    match s.estado {
        fluxion_etl_core::gaps::CoverageStatus::UpToDate => "up to date",
        fluxion_etl_core::gaps::CoverageStatus::Behind => "behind",
        fluxion_etl_core::gaps::CoverageStatus::Critical => "CRITICAL",
    }
}

fn days(r: &Recommendation) -> String {
    if r.fecha_inicio == r.fecha_fin {
        format!("{} ({} day(s))", r.fecha_inicio, r.dias)
    } else {
        format!("{} .. {} ({} day(s))", r.fecha_inicio, r.fecha_fin, r.dias)
    }
}

fn human(report: &GapReport) -> String {
    let mut text = String::new();
    if report.tiendas.is_empty() {
        return "No stores to check (the configuration has no active stores).".to_owned();
    }
    let mut table = Table::new(&[
        ("store", Align::Left),
        ("name", Align::Left),
        ("records", Align::Right),
        ("last day", Align::Left),
        ("behind", Align::Right),
        ("complete", Align::Right),
        ("status", Align::Left),
        ("missing", Align::Right),
        ("failed", Align::Right),
        ("empty hours", Align::Right),
    ]);
    for s in &report.tiendas {
        table.push(vec![
            s.ubicacion_id.to_string(),
            s.ubicacion_nombre.clone(),
            output::count(s.total_registros),
            s.ultima_fecha
                .map_or_else(|| "-".to_owned(), |d| d.to_string()),
            s.dias_atraso
                .map_or_else(|| "-".to_owned(), |d| format!("{d}d")),
            format!("{:.2}%", s.completitud_pct),
            badge(s).to_owned(),
            s.dias_faltantes
                .iter()
                .map(|r| r.dias)
                .sum::<u32>()
                .to_string(),
            s.fallos_por_recuperar.len().to_string(),
            s.horas_sin_ventas.len().to_string(),
        ]);
    }
    text.push_str(&table.to_string());

    let mut recs = String::new();
    for s in &report.tiendas {
        if let Some(u) = &s.recomendaciones.actualizar {
            recs.push_str(&format!(
                "  {}: update {}  -> fluxion run --kind {} --stores {} --from {} --to {}\n",
                s.ubicacion_id,
                days(u),
                match report.etl_tipo {
                    DataKind::Sales => "sales",
                    DataKind::Inventory => "inventory",
                },
                s.ubicacion_id,
                u.fecha_inicio,
                u.fecha_fin
            ));
        }
        for r in &s.recomendaciones.recuperar {
            recs.push_str(&format!("  {}: recover {}\n", s.ubicacion_id, days(r)));
        }
    }
    if !recs.is_empty() {
        text.push_str("\nRecommendations:\n");
        text.push_str(&recs);
    }

    let failed: Vec<_> = report.failed_windows().collect();
    if !failed.is_empty() {
        let mut t = Table::new(&[
            ("gap", Align::Right),
            ("store", Align::Left),
            ("window", Align::Left),
            ("failed at", Align::Left),
            ("hours ago", Align::Right),
            ("attempts", Align::Right),
            ("error", Align::Left),
        ]);
        for f in &failed {
            let window = match (f.ventana_desde, f.ventana_hasta) {
                (Some(a), Some(b)) => output::window(a, b),
                _ => "snapshot".to_owned(),
            };
            t.push(vec![
                f.gap_id.to_string(),
                f.ubicacion_id.to_string(),
                window,
                output::local_time(f.fecha_fallo),
                format!("{:.1}", f.horas_desde_fallo),
                f.intentos.to_string(),
                format!(
                    "{} {}",
                    output::failure(
                        f.error_fase.map(|p| p.as_str()),
                        f.error_tipo.map(|c| c.as_str())
                    ),
                    sanitize(f.error_mensaje.as_deref().unwrap_or(""))
                )
                .trim()
                .to_owned(),
            ]);
        }
        text.push_str(&format!(
            "\nFailed windows not yet recovered (last {} hours):\n",
            report.horas_ventana_fallos
        ));
        text.push_str(&t.to_string());
    }

    let mut hours = String::new();
    for s in &report.tiendas {
        if s.horas_sin_ventas.is_empty() {
            continue;
        }
        // Consecutive empty hours read as one span: `2025-11-19 10:00-22:00`.
        let mut spans: Vec<(chrono::NaiveDate, u32, u32, DateTime<Utc>)> = Vec::new();
        for h in &s.horas_sin_ventas {
            match spans.last_mut() {
                Some(last) if last.3 == h.desde && last.0 == h.fecha => {
                    last.2 = h.hora + 1;
                    last.3 = h.hasta;
                }
                _ => spans.push((h.fecha, h.hora, h.hora + 1, h.hasta)),
            }
        }
        let list: Vec<String> = spans
            .iter()
            .map(|(day, from, to, _)| format!("{day} {from:02}:00-{to:02}:00"))
            .collect();
        hours.push_str(&format!("  {}: {}\n", s.ubicacion_id, list.join(", ")));
    }
    if !hours.is_empty() {
        text.push_str("\nOpening hours with no sales:\n");
        text.push_str(&hours);
    }

    let r = &report.resumen;
    text.push_str(&format!(
        "\n{} store(s) as of {}: {} up to date, {} behind ({} critical), {} with historic gaps, {} failed window(s) to recover.",
        r.total_tiendas,
        output::local_time(report.generado_en),
        r.al_dia,
        r.desactualizadas,
        r.criticas,
        r.con_gaps_historicos,
        r.fallos_por_recuperar
    ));
    if r.fallos_por_recuperar > 0 || r.con_gaps_historicos > 0 {
        text.push_str(" Plan a recovery: fluxion recover --behavior all --dry-run");
    }
    text
}
