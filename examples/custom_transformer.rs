//! Run with: cargo run --example custom_transformer
//!
//! A transformer written as a closure: it drops non-fiscal lines (counting them) and derives
//! each line's margin (total minus cost, in dollars) into `gross_profit_usd`. Two stores on the
//! KLK simulator (in-process, loopback), yesterday's sales, into SQLite.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use fluxion_etl::prelude::*;
use fluxion_etl_sim::klk::{KlkSim, KlkSimConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sim = KlkSimConfig {
        lines_per_day: (300, 500),
        ..KlkSimConfig::default()
    };
    let klk = KlkSim::start(sim, "127.0.0.1:0".parse()?).await?;
    let dir = tempfile::tempdir()?;
    let config = Config::from_toml_str(
        &format!(
            r#"
            destination.url = "sqlite://{}"
            klk.base_url = "{}"
            [[stores]]
            id = "tienda_01"
            name = "PERIFERICO"
            source = {{ system = "klk", branch = "SUC001", warehouse = "APP-TPF" }}
            [[stores]]
            id = "tienda_08"
            name = "BOSQUE"
            source = {{ system = "klk", branch = "SUC002", warehouse = "APP-TBQ" }}
            "#,
            dir.path().join("fluxion.db").display(),
            klk.base_url()
        ),
        "inline",
    )?;

    // One transformer serves every store of a run, concurrently: its counters are atomic.
    let rejected = Arc::new(AtomicU64::new(0));
    let counter = rejected.clone();
    let fiscal_with_margin = FnTransformer::new(move |batch| {
        let Batch::Sales(lines) = batch else {
            return Ok(batch); // inventory passes through
        };
        let before = lines.len();
        let kept: Vec<SaleLine> = lines
            .into_iter()
            .filter(|line| line.non_fiscal != Some(true))
            .map(|mut line| {
                if let (Some(total), Some(cost)) = (line.total_usd, line.total_cost_usd) {
                    line.gross_profit_usd = Some(total - cost);
                }
                line
            })
            .collect();
        counter.fetch_add((before - kept.len()) as u64, Ordering::Relaxed);
        Ok(Batch::Sales(kept))
    });

    let fluxion = Fluxion::from_config(config)
        .await?
        .with_transformer(Arc::new(fiscal_with_margin));
    let report = fluxion.run(RunRequest::yesterday()).await?;
    println!(
        "execution {} {}: {} lines extracted, {} loaded, {} non-fiscal lines rejected",
        report.execution_id,
        report.status,
        report.summary.records_extracted,
        report.summary.records_loaded,
        rejected.load(Ordering::Relaxed),
    );

    klk.shutdown().await;
    Ok(())
}
