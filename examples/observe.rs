//! Run with: cargo run --example observe
//!
//! An `ExecutionObserver` streaming a run's progress to your own log or UI. The observer is
//! called from the stores' tasks and must not block, so it only sends events down a channel; a
//! task of yours (here: one that prints) consumes them. Four stores on the KLK simulator, one of
//! which refuses our credentials.

use std::sync::Arc;

use fluxion_etl::prelude::*;
use fluxion_etl_sim::klk::{Fault, FaultRule, KlkSim, KlkSimConfig};
use tokio::sync::mpsc;

/// Forwards what the tracker records to a channel.
struct Progress(mpsc::UnboundedSender<String>);

impl ExecutionObserver for Progress {
    fn execution_started(&self, id: i64, spec: &NewExecution) {
        let _ = self.0.send(format!(
            "execution {id} started: {} stores",
            spec.tiendas.len()
        ));
    }
    fn store_started(&self, _id: i64, store: &StoreRef) {
        let _ = self.0.send(format!("  {} started", store.id));
    }
    fn store_finished(&self, d: &StoreDetail) {
        let _ = self.0.send(match (d.error_phase, d.error_category) {
            (Some(phase), Some(category)) => {
                format!("  {} failed in {phase}: {category}", d.tienda_id)
            }
            _ => format!(
                "  {} {}: {} lines",
                d.tienda_id,
                d.status.as_str(),
                d.records_loaded
            ),
        });
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sim = KlkSimConfig {
        lines_per_day: (200, 300),
        // tienda_03's branch answers 401 Unauthorized: a terminal failure, never retried.
        faults: vec![FaultRule::new(Fault::Status { code: 401 }).for_branch("SUC008")],
        ..KlkSimConfig::default()
    };
    let klk = KlkSim::start(sim, "127.0.0.1:0".parse()?).await?;
    let dir = tempfile::tempdir()?;
    let mut toml = format!(
        "destination.url = \"sqlite://{}\"\nklk.base_url = \"{}\"\nbatch.max_workers = 2\n",
        dir.path().join("fluxion.db").display(),
        klk.base_url()
    );
    for (id, branch, warehouse) in [
        ("tienda_01", "SUC001", "APP-TPF"),
        ("tienda_02", "SUC007", "TAVBOL"),
        ("tienda_03", "SUC008", "TTMAN"),
        ("tienda_04", "SUC014", "TSDGO"),
    ] {
        let source =
            format!("{{ system = \"klk\", branch = \"{branch}\", warehouse = \"{warehouse}\" }}");
        toml += &format!("[[stores]]\nid = \"{id}\"\nname = \"{id}\"\nsource = {source}\n");
    }

    let (events, mut received) = mpsc::unbounded_channel();
    // Your log or UI: here, a task that prints each event as it arrives.
    let ui = tokio::spawn(async move {
        while let Some(event) = received.recv().await {
            println!("{event}");
        }
    });

    let fluxion = Fluxion::from_config(Config::from_toml_str(&toml, "inline")?)
        .await?
        .with_observer(Arc::new(Progress(events)));
    let report = fluxion.run(RunRequest::yesterday()).await?;
    drop(fluxion); // the last sender: the UI task ends once it has printed everything
    ui.await?;
    println!("execution {} ended {}", report.execution_id, report.status);
    klk.shutdown().await;
    Ok(())
}
