//! `fluxion validate`: check a configuration file and say what it describes.

use std::collections::BTreeMap;

use fluxion_etl_core::config::{Config, StoreKind, DATABASE_URL_ENV};
use fluxion_etl_core::tracker::sanitize;

use super::{CliResult, Context, Exit};
use crate::output;

/// `fluxion validate`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the command (the file comes from the global `--config` or `FLUXION_CONFIG`).
pub fn execute(_args: Args, ctx: &Context) -> CliResult {
    let config = ctx.config()?;
    let origin = ctx
        .config_path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    output::print(summary(&config, &origin))?;
    Ok(Exit::Success)
}

fn summary(config: &Config, origin: &str) -> String {
    let mut by_system: BTreeMap<&str, usize> = BTreeMap::new();
    for store in &config.stores {
        *by_system.entry(store.system().as_str()).or_default() += 1;
    }
    let systems = if by_system.is_empty() {
        String::new()
    } else {
        format!(
            " ({})",
            by_system
                .iter()
                .map(|(system, n)| format!("{system} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let active = config.active_stores().count();
    let cedis = config
        .stores
        .iter()
        .filter(|s| s.kind == StoreKind::Cedi)
        .count();
    let overridden = std::env::var(DATABASE_URL_ENV).is_ok_and(|v| !v.is_empty());
    let mut lines = vec![
        format!("{origin} is valid."),
        format!(
            "  stores       {}{systems}, {active} active, {cedis} distribution centre(s)",
            config.stores.len()
        ),
        format!(
            "  destination  {}{}",
            sanitize(&config.destination_url()),
            if overridden {
                " (from DATABASE_URL)"
            } else {
                ""
            }
        ),
    ];
    if let Some(klk) = &config.klk {
        lines.push(format!("  klk          {}", sanitize(&klk.base_url)));
    }
    let b = &config.batch;
    lines.push(format!(
        "  batch        {} rows, {} workers, {} retries",
        output::count(b.batch_size as i64),
        b.max_workers,
        b.retries
    ));
    let s = &config.schedule;
    lines.push(format!(
        "  schedule     {}, daily at {:02}:{:02} (America/Caracas)",
        if s.enabled { "enabled" } else { "disabled" },
        s.execution_hour,
        s.execution_minute
    ));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_stores_by_system() {
        let config = Config::from_toml_str(
            r#"
[klk]
base_url = "http://127.0.0.1:7002"

[[stores]]
id = "tienda_01"
name = "PERIFERICO"
[stores.source]
system = "klk"
branch = "SUC001"
warehouse = "APP-TPF"

[[stores]]
id = "tienda_02"
name = "BOSQUE"
active = false
[stores.source]
system = "klk"
branch = "SUC002"
warehouse = "APP-TPF"

[[stores]]
id = "cedi_seco"
name = "CEDI Seco"
kind = "cedi"
[stores.source]
system = "stellar"
host = { local = "127.0.0.1" }
depot = "1413"
"#,
            "inline",
        )
        .unwrap();
        let text = summary(&config, "fluxion.toml");
        assert!(text.starts_with("fluxion.toml is valid."), "{text}");
        assert!(
            text.contains("3 (klk 2, stellar 1), 2 active, 1 distribution centre(s)"),
            "{text}"
        );
    }
}
