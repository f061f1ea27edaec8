//! Run with: cargo run --example quickstart
//!
//! Fluxion from an inline configuration: two stores on the KLK point-of-sale simulator (served
//! in-process on loopback), yesterday's sales into an embedded SQLite file, the report printed.
//! The second run of the same day finds nothing new: loading is idempotent.

use fluxion_etl::config::Config;
use fluxion_etl::{Fluxion, RunRequest};
use fluxion_etl_sim::klk::{KlkSim, KlkSimConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The stores' point of sale: the KLK simulator on a free loopback port, a small day's data.
    let sim = KlkSimConfig {
        lines_per_day: (300, 500),
        ..KlkSimConfig::default()
    };
    let klk = KlkSim::start(sim, "127.0.0.1:0".parse()?).await?;
    let dir = tempfile::tempdir()?;

    let config = Config::from_toml_str(
        &format!(
            r#"
            [destination]
            url = "sqlite://{db}"

            [klk]
            base_url = "{klk}"

            [[stores]]
            id = "tienda_01"
            name = "PERIFERICO"
            source = {{ system = "klk", branch = "SUC001", warehouse = "APP-TPF" }}

            [[stores]]
            id = "tienda_02"
            name = "AV. BOLIVAR"
            source = {{ system = "klk", branch = "SUC007", warehouse = "TAVBOL" }}
            "#,
            db = dir.path().join("fluxion.db").display(),
            klk = klk.base_url(),
        ),
        "quickstart.toml",
    )?;

    let fluxion = Fluxion::from_config(config).await?;
    for attempt in ["first run", "second run"] {
        let report = fluxion.run(RunRequest::yesterday()).await?;
        let s = &report.summary;
        let (id, status) = (report.execution_id, report.status);
        let (ok, failed) = (s.tiendas_exitosas, s.tiendas_fallidas);
        let (extracted, loaded, same) =
            (s.records_extracted, s.records_loaded, s.duplicates_skipped);
        print!("{attempt}: execution {id} {status}: {ok} stores ok, {failed} failed; ");
        println!("{extracted} lines extracted, {loaded} loaded, {same} unchanged");
    }

    klk.shutdown().await;
    Ok(())
}
