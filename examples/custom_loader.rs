//! Run with: cargo run --example custom_loader
//!
//! A destination of your own: JSON Lines files, one per store and day, behind the `Loader`
//! contract (stage the unit's batches, publish them at once in `finish`, leave nothing behind
//! on `abort`). The tracker still records every phase of every store, in a SQLite history.

use std::{collections::BTreeMap, path::PathBuf, sync::Arc};

use chrono::NaiveDate;
use fluxion_etl::sources::klk::{KlkSalesExtractor, KlkStoreRef};
use fluxion_etl::{config::KlkConfig, loaders::Destination, prelude::*};
use fluxion_etl_sim::klk::{KlkSim, KlkSimConfig};

/// Writes `<dir>/<store>_<day>.jsonl`.
struct JsonLines(PathBuf);

/// One store's load in progress: its lines staged as JSON text, by day.
struct Staged {
    prefix: PathBuf,
    days: BTreeMap<NaiveDate, String>,
    lines: u64,
}

#[async_trait]
impl Loader for JsonLines {
    async fn begin(&self, unit: &LoadUnit) -> Result<Box<dyn LoadSession>, EtlError> {
        let prefix = self.0.join(unit.store.as_str());
        Ok(Box::new(Staged {
            prefix,
            days: BTreeMap::new(),
            lines: 0,
        }))
    }
}

#[async_trait]
impl LoadSession for Staged {
    async fn write(&mut self, batch: Batch) -> Result<(), EtlError> {
        let Batch::Sales(lines) = batch else {
            return Ok(()); // this destination keeps sales only
        };
        for line in lines {
            let json = serde_json::to_string(&line).map_err(|e| failed(e.into()))?;
            self.days
                .entry(line.business_date)
                .or_default()
                .push_str(&(json + "\n"));
            self.lines += 1;
        }
        Ok(())
    }

    async fn finish(&mut self, _detail: &StoreDetail) -> Result<LoadStats, EtlError> {
        for (day, text) in &self.days {
            // Written aside, then renamed into place: a reader never sees half a file.
            let tmp = self.prefix.with_extension("tmp");
            let path = format!("{}_{day}.jsonl", self.prefix.display());
            std::fs::write(&tmp, text).map_err(failed)?;
            std::fs::rename(&tmp, path).map_err(failed)?;
        }
        Ok(LoadStats {
            received: self.lines,
            inserted: self.lines,
            ..LoadStats::default()
        })
    }

    async fn abort(&mut self) {
        self.days.clear(); // nothing was published: the files are as they were
    }
}

/// A file that cannot be written fails the store's load phase (`disk_full`: not retried).
fn failed(e: std::io::Error) -> EtlError {
    let category = ErrorCategory::DiskFull;
    EtlError::new(Phase::Load, category, ErrorSource::Pipeline, "cannot write").with_cause(e)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sim = KlkSimConfig {
        lines_per_day: (300, 500),
        ..Default::default()
    };
    let klk = KlkSim::start(sim, "127.0.0.1:0".parse()?).await?;
    let server = KlkConfig {
        base_url: klk.base_url(),
        auth_header: None,
        auth_env: None,
    };
    let dir = tempfile::tempdir()?;
    // The execution history: an embedded SQLite file (any destination's tracker store will do).
    let db = dir.path().join("history.db");
    let history = Destination::connect(&format!("sqlite://{}", db.display())).await?;
    history.migrate().await?;

    let first = NaiveDate::from_ymd_opt(2025, 11, 16).ok_or("date")?;
    let days = Window::days(first, first + chrono::Days::new(1)).ok_or("window")?;
    let mut tasks = Vec::new();
    for (id, branch, warehouse) in [
        ("tienda_01", "SUC001", "APP-TPF"),
        ("tienda_02", "SUC007", "TAVBOL"),
    ] {
        let store = KlkStoreRef {
            id: id.into(),
            branch: branch.into(),
            warehouse: warehouse.into(),
        };
        let extractor = KlkSalesExtractor::new(&server, &store, days, &Default::default())?;
        let unit = LoadUnit::sales(id, days);
        tasks.push(StoreTask::new(StoreRef::new(id), unit, extractor));
    }

    let spec = NewExecution::builder(DataKind::Sales)
        .window(days)
        .stores(["tienda_01", "tienda_02"]);
    let tracker = ExecutionTracker::start_execution(history.tracker_store(), spec.build()).await?;
    let runner = Runner::builder(Arc::new(JsonLines(dir.path().to_owned()))).build();
    runner.run(&tracker, tasks, &CancellationToken::new()).await;
    for d in tracker.details() {
        let (id, status, n) = (&d.tienda_id, d.status, d.records_loaded);
        let (e, t, l) = (d.extract_seconds, d.transform_seconds, d.load_seconds);
        println!("{id} {status}: {n} lines; extract {e:.3} s, transform {t:.3} s, load {l:.3} s");
    }
    let summary = tracker.finish_execution().await?;
    let mut files: Vec<String> = std::fs::read_dir(dir.path())?
        .filter_map(|f| Some(f.ok()?.file_name().to_string_lossy().into_owned()))
        .filter(|name| name.ends_with(".jsonl"))
        .collect();
    files.sort();
    let (id, status, n) = (summary.id, summary.status, summary.records_loaded);
    println!("execution {id} {status}: {n} lines in {}", files.join(", "));
    klk.shutdown().await;
    Ok(())
}
