//! Run with: cargo run --example custom_pipeline
//!
//! Embeds Fluxion with a source of your own: an `Extractor` that yields sales lines, a one-line
//! transformer, and the embedded SQLite destination with its execution history.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use fluxion_etl::loaders::Destination;
use fluxion_etl::model::{local_to_utc, Batch, SaleLine, StoreId, Window};
use fluxion_etl::pipeline::{
    Extractor, FnTransformer, LoadScope, LoadUnit, Runner, RunnerOptions, StoreTask,
};
use fluxion_etl::tracker::{ExecutionTracker, NewExecution, RunMode, StoreRef, TriggeredBy};
use fluxion_etl::{CancellationToken, EtlError};

/// A source that sells one article a minute from 08:00.
struct EveryMinute {
    day: NaiveDate,
    next: u32,
    until: u32,
}

#[async_trait]
impl Extractor for EveryMinute {
    async fn next_batch(&mut self) -> Result<Option<Batch>, EtlError> {
        if self.next >= self.until {
            return Ok(None);
        }
        let lines = (self.next..self.until.min(self.next + 100))
            .filter_map(|i| {
                let at = self.day.and_hms_opt(8 + i / 60, i % 60, 0)?;
                Some(SaleLine {
                    store_id: StoreId::new("tienda_01"),
                    invoice_number: format!("EX-{i:06}").into(),
                    line_number: 1,
                    sold_at: local_to_utc(at),
                    business_date: self.day,
                    product_code: "001853".into(),
                    quantity: Some(1.into()),
                    ..SaleLine::default()
                })
            })
            .collect::<Vec<_>>();
        self.next += lines.len() as u32;
        Ok(Some(Batch::Sales(lines)))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join("fluxion-example");
    std::fs::create_dir_all(&dir)?;
    let destination =
        Destination::connect(&format!("sqlite://{}", dir.join("example.db").display())).await?;
    destination.migrate().await?;

    let day = NaiveDate::from_ymd_opt(2025, 11, 17).ok_or("bad date")?;
    let window = Window::day(day).ok_or("bad window")?;
    let tracker = ExecutionTracker::start_execution(
        destination.tracker_store(),
        NewExecution {
            etl_name: fluxion_etl::model::DataKind::Sales,
            etl_type: "manual".into(),
            mode: RunMode::Full,
            triggered_by: TriggeredBy::Cli,
            started_at: chrono::Utc::now(),
            fecha_desde: Some(window.from_utc()),
            fecha_hasta: Some(window.to_utc()),
            tiendas: vec![StoreId::new("tienda_01")],
            source_system: None,
            is_recovery: false,
            recovered_gap_id: None,
            host: None,
            version: env!("CARGO_PKG_VERSION").into(),
        },
    )
    .await?;

    // Upper-case every description: the one-line transform.
    let upper = FnTransformer::new(|batch| {
        Ok(match batch {
            Batch::Sales(mut lines) => {
                for l in &mut lines {
                    l.description = l.description.take().map(|d| d.to_uppercase().into());
                }
                Batch::Sales(lines)
            }
            other => other,
        })
    });
    let runner = Runner::new(
        RunnerOptions::default(),
        Arc::new(upper),
        destination.loader(),
    );
    let task = StoreTask {
        store: StoreRef {
            id: "tienda_01".into(),
            name: Some("PERIFERICO".into()),
            system: None,
        },
        unit: LoadUnit {
            store: StoreId::new("tienda_01"),
            scope: LoadScope::SalesWindow(window),
        },
        extractor: Box::new(EveryMinute {
            day,
            next: 0,
            until: 600,
        }),
    };
    runner
        .run(&tracker, vec![task], &CancellationToken::new())
        .await;
    let summary = tracker.finish_execution().await?;
    println!(
        "execution {} {}: {} rows loaded, {} unchanged (run it again: all unchanged)",
        summary.id, summary.status, summary.records_loaded, summary.duplicates_skipped
    );
    Ok(())
}
