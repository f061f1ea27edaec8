//! Run with: cargo run --example custom_extractor
//!
//! A third point-of-sale system plugged into the runner: "Caja", a small REST API served here
//! with axum on loopback. Its extractor turns each answer into sales lines and each failure into
//! the taxonomy (phase, category, retryable), so the history tells a refused token from an
//! outage from a malformed answer, as it does for KLK and Stellar.

use axum::{extract::Path, http::StatusCode, routing::get, Router};
use chrono::{NaiveDate, NaiveDateTime};
use fluxion_etl::taxonomy::{classify_http_status, http_status_is_retryable};
use fluxion_etl::{loaders::Destination, model::local_to_utc, prelude::*};
use serde_json::json;

/// Caja: kiosko_01 answers, kiosko_02 is down, kiosko_03 refuses our token, kiosko_04 is garbled.
async fn caja(Path((store, day)): Path<(String, NaiveDate)>) -> Result<String, StatusCode> {
    let at = |i: u32| day.and_hms_opt(9 + i / 6, i % 6 * 10, 0);
    match store.as_str() {
        "kiosko_02" => Err(StatusCode::SERVICE_UNAVAILABLE),
        "kiosko_03" => Err(StatusCode::UNAUTHORIZED),
        "kiosko_04" => Ok("[{\"ticket\": ".into()),
        _ => Ok(json!((0..40)
            .map(
                |i| json!({ "ticket": format!("C-{i}"), "at": at(i), "sku": "001853", "qty": "1" })
            )
            .collect::<Vec<_>>())
        .to_string()),
    }
}

/// One line as Caja serves it.
#[derive(serde::Deserialize)]
struct CajaLine {
    ticket: String,
    at: NaiveDateTime,
    sku: String,
    qty: rust_decimal::Decimal,
}

/// One store's day from Caja: the store and the one request still to send.
struct CajaExtractor(StoreId, Option<String>);

#[async_trait]
impl Extractor for CajaExtractor {
    async fn next_batch(&mut self) -> Result<Option<Batch>, EtlError> {
        let Some(url) = self.1.take() else {
            return Ok(None); // the day came in one answer
        };
        // The category decides the phase (malformed data is a transform failure) and the hint.
        let fail = |category: ErrorCategory, what: String| {
            EtlError::new(category.phase(), category, ErrorSource::Pipeline, what)
        };
        let answer = reqwest::get(&url).await;
        let answer = answer.map_err(|e| fail(ErrorCategory::NetworkError, e.to_string()))?;
        let status = answer.status().as_u16();
        if status != 200 {
            let e = fail(
                classify_http_status(status),
                format!("Caja answered {status}"),
            );
            return Err(e.retryable(http_status_is_retryable(status)));
        }
        let lines: Vec<CajaLine> = answer.json().await.map_err(|e| match e.is_decode() {
            true => fail(ErrorCategory::DataFormat, format!("Caja sent {e}")),
            false => fail(ErrorCategory::NetworkError, e.to_string()),
        })?;
        let to_line = |l: CajaLine| SaleLine {
            store_id: self.0.clone(),
            invoice_number: l.ticket.into(),
            line_number: 1,
            sold_at: local_to_utc(l.at),
            business_date: l.at.date(),
            product_code: l.sku.into(),
            quantity: Some(l.qty),
            ..SaleLine::default()
        };
        Ok(Some(Batch::Sales(lines.into_iter().map(to_line).collect())))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let api = Router::new().route("/stores/{store}/sales/{day}", get(caja));
    tokio::spawn(async { axum::serve(listener, api).await });

    let dir = tempfile::tempdir()?;
    let db = dir.path().join("caja.db");
    let destination = Destination::connect(&format!("sqlite://{}", db.display())).await?;
    destination.migrate().await?;
    let day = NaiveDate::from_ymd_opt(2025, 11, 17).ok_or("date")?;
    let window = Window::day(day).ok_or("window")?;
    let stores = ["kiosko_01", "kiosko_02", "kiosko_03", "kiosko_04"];
    let tasks = stores.map(|id| {
        let caja = CajaExtractor(id.into(), Some(format!("{url}/stores/{id}/sales/{day}")));
        StoreTask::new(StoreRef::new(id), LoadUnit::sales(id, window), caja)
    });

    let spec = NewExecution::builder(DataKind::Sales)
        .window(window)
        .stores(stores);
    let tracker = ExecutionTracker::start_execution(destination.tracker_store(), spec.build());
    let tracker = tracker.await?;
    let runner = Runner::builder(destination.loader()).build();
    for outcome in runner
        .run(&tracker, tasks.into(), &CancellationToken::new())
        .await
    {
        let store = outcome.store;
        match (outcome.error, outcome.detail) {
            (Some(e), _) => {
                let (phase, category, retry) = (e.phase(), e.category(), e.is_retryable());
                println!("{store}: failed in {phase}, {category}, retryable: {retry}");
            }
            (None, detail) => {
                let n = detail.map_or(0, |d| d.records_loaded);
                println!("{store}: loaded {n} lines");
            }
        }
    }
    let summary = tracker.finish_execution().await?;
    let message = summary.error_message.unwrap_or_default();
    println!("execution {} {}: {message}", summary.id, summary.status);
    Ok(())
}
