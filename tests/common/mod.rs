//! Test data and test doubles shared by the integration tests.

pub mod db;

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{NaiveDate, NaiveDateTime, Utc};
use fluxion_etl::model::{local_to_utc, Batch, InventoryItem, SaleLine, StoreId, Window};
use fluxion_etl::pipeline::Extractor;
use fluxion_etl::tracker::{ErrorCategory, ErrorSource, NewExecution, Phase, TriggeredBy};
use fluxion_etl::EtlError;
use rust_decimal::Decimal;

pub fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 11, 17).unwrap()
}

pub fn local(h: u32, m: u32) -> NaiveDateTime {
    day().and_hms_opt(h, m, 0).unwrap()
}

pub fn window(from_h: u32, to_h: u32) -> Window {
    Window::new(local(from_h, 0), local(to_h, 0)).unwrap()
}

pub fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// A sales line sold at `at` (store-local), with a quantity that tests can change.
pub fn line(store: &str, invoice: u32, line_no: i32, at: NaiveDateTime, qty: &str) -> SaleLine {
    SaleLine {
        store_id: StoreId::new(store),
        invoice_number: format!("C10-01-{invoice:08}").into(),
        line_number: line_no,
        sold_at: local_to_utc(at),
        business_date: at.date(),
        product_code: format!("{:06}", invoice % 4000).into(),
        description: Some("NECTAR DE PERA".into()),
        warehouse_code: Some("APP-TPF".into()),
        quantity: Some(dec(qty)),
        unit_price_usd: Some(dec("0.974138")),
        total_usd: Some(dec("0.974138")),
        usd_rate: Some(dec("236.46")),
        non_fiscal: Some(false),
        ..SaleLine::default()
    }
}

/// `n` lines spread over the window, one per minute, two lines per invoice.
pub fn lines_in(store: &str, w: Window, n: usize) -> Vec<SaleLine> {
    (0..n)
        .map(|i| {
            let at = w.from + chrono::Duration::minutes(i as i64);
            assert!(w.contains_local(at), "test data must fit the window");
            line(store, (i / 2) as u32, (i % 2) as i32 + 1, at, "1")
        })
        .collect()
}

pub fn item(store: &str, warehouse: &str, code: u32, stock: &str) -> InventoryItem {
    InventoryItem {
        store_id: StoreId::new(store),
        warehouse_code: warehouse.into(),
        product_code: format!("{code:06}").into(),
        description: Some(format!("ARTICLE {code}").into()),
        price: Some(dec("12.08")),
        stock: dec(stock),
        snapshot_at: Utc::now(),
        ..InventoryItem::default()
    }
}

pub fn spec(stores: &[&str]) -> NewExecution {
    NewExecution::builder(fluxion_etl::model::DataKind::Sales)
        .triggered_by(TriggeredBy::Cli)
        .stores(stores.iter().copied())
        .source_system("klk")
        .version("test")
        .build()
}

/// Yields prepared batches, then optionally an error.
pub struct VecExtractor {
    batches: std::vec::IntoIter<Batch>,
    then: Option<EtlError>,
    pub produced: Arc<AtomicUsize>,
}

impl VecExtractor {
    pub fn new(batches: Vec<Batch>) -> Self {
        Self {
            batches: batches.into_iter(),
            then: None,
            produced: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn sales(lines: Vec<SaleLine>, batch_size: usize) -> Self {
        Self::new(
            lines
                .chunks(batch_size.max(1))
                .map(|c| Batch::Sales(c.to_vec()))
                .collect(),
        )
    }

    pub fn failing_after(mut self, error: EtlError) -> Self {
        self.then = Some(error);
        self
    }
}

#[async_trait]
impl Extractor for VecExtractor {
    async fn next_batch(&mut self) -> Result<Option<Batch>, EtlError> {
        match self.batches.next() {
            Some(b) => {
                self.produced.fetch_add(1, Ordering::SeqCst);
                Ok(Some(b))
            }
            None => match self.then.take() {
                Some(e) => Err(e),
                None => Ok(None),
            },
        }
    }
}

pub fn extract_error(category: ErrorCategory) -> EtlError {
    EtlError::new(
        Phase::Extract,
        category,
        ErrorSource::KlkApi,
        "injected failure",
    )
}
