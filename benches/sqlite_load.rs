//! Run with: cargo bench --bench sqlite_load
//!
//! The SQLite load leg, rows/s: one store-day (20,000 lines) merged into a fresh window, the same
//! day re-delivered unchanged, and — as the baseline measured in the same run — the same rows
//! written with plain multi-row INSERTs into an unkeyed table (no staging, no merge, no tracker).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use criterion::{criterion_group, Criterion, Throughput};
use fluxion_etl::loaders::Destination;
use fluxion_etl::model::{local_to_utc, Batch, SaleLine, StoreId, Window};
use fluxion_etl::pipeline::{LoadScope, LoadUnit};
use fluxion_etl::tracker::{ExecutionTracker, NewExecution, RunMode, StoreRef, TriggeredBy};
use rust_decimal::Decimal;

const LINES: usize = 20_000;
const BATCH: usize = 5_000;

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 11, 17).unwrap()
}

fn store_day(store: &str) -> Vec<SaleLine> {
    let d = |s: &str| Some(Decimal::from_str(s).unwrap());
    (0..LINES)
        .map(|i| {
            let secs = 6 * 3600 + (i as u32 * 57_600 / LINES as u32);
            let at = day()
                .and_hms_opt(secs / 3600, (secs / 60) % 60, secs % 60)
                .unwrap();
            SaleLine {
                store_id: StoreId::new(store),
                invoice_number: format!("C10-01-{:08}", i / 4).into(),
                line_number: (i % 4) as i32 + 1,
                sold_at: local_to_utc(at),
                business_date: day(),
                product_code: format!("{:06}", i % 4000).into(),
                description: Some("NECTAR DE PERA NATULAC 1L".into()),
                brand: Some("NATULAC".into()),
                category: Some("NECTARES Y JUGOS".into()),
                group_name: Some("BEBIDAS".into()),
                barcode: Some("7592396004005".into()),
                warehouse_code: Some("APP-TPF".into()),
                quantity: d("1.235"),
                unit_price_bs: d("230.35"),
                unit_price_usd: d("0.974138"),
                tax_pct: d("16"),
                total_bs: d("230.35"),
                total_usd: d("0.974138"),
                usd_rate: d("236.46"),
                non_fiscal: Some(false),
                ..SaleLine::default()
            }
        })
        .collect()
}

async fn load(destination: &Destination, store: &str, lines: &[SaleLine]) {
    let tracker = ExecutionTracker::start_execution(
        destination.tracker_store(),
        NewExecution {
            etl_name: fluxion_etl::model::DataKind::Sales,
            etl_type: "manual".into(),
            mode: RunMode::Full,
            triggered_by: TriggeredBy::Cli,
            started_at: chrono::Utc::now(),
            fecha_desde: None,
            fecha_hasta: None,
            tiendas: vec![StoreId::new(store)],
            source_system: None,
            is_recovery: false,
            recovered_gap_id: None,
            host: None,
            version: "bench".into(),
        },
    )
    .await
    .unwrap();
    let st = tracker.start_store(
        StoreRef {
            id: store.into(),
            name: None,
            system: None,
        },
        None,
    );
    let unit = LoadUnit {
        store: StoreId::new(store),
        scope: LoadScope::SalesWindow(Window::day(day()).unwrap()),
    };
    let mut session = destination.loader().begin(&unit).await.unwrap();
    for chunk in lines.chunks(BATCH) {
        session.write(Batch::Sales(chunk.to_vec())).await.unwrap();
    }
    let detail = st.detail(tracker.id(), unit.kind(), Default::default(), None, None);
    let stats = session.finish(&detail).await.unwrap();
    assert_eq!(stats.received as usize, lines.len());
    tracker
        .finish_store_success(st, stats, Some(detail), Default::default())
        .await
        .unwrap();
    tracker.finish_execution().await.unwrap();
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let destination = rt.block_on(async {
        let d = Destination::connect(&format!(
            "sqlite://{}",
            dir.path().join("bench.db").display()
        ))
        .await
        .unwrap();
        d.migrate().await.unwrap();
        d
    });
    let Destination::Sqlite(sqlite) = &destination else {
        unreachable!()
    };
    let pool = sqlite.pool().clone();
    rt.block_on(async {
        sqlx::query("CREATE TABLE baseline (invoice TEXT, line INTEGER, sold_at TEXT, product TEXT, qty TEXT, price TEXT, total TEXT, description TEXT)")
            .execute(&pool)
            .await
            .unwrap();
    });

    let mut group = c.benchmark_group("sqlite_load");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(LINES as u64));

    let lines = Arc::new(store_day("bench_base"));
    group.bench_function("baseline_plain_insert", |b| {
        b.to_async(&rt).iter(|| {
            let pool = pool.clone();
            let lines = lines.clone();
            async move {
                let mut tx = pool.begin().await.unwrap();
                for chunk in lines.chunks(500) {
                    let mut qb = sqlx::QueryBuilder::new(
                        "INSERT INTO baseline (invoice, line, sold_at, product, qty, price, total, description) ",
                    );
                    qb.push_values(chunk, |mut b, l| {
                        b.push_bind(&*l.invoice_number)
                            .push_bind(l.line_number)
                            .push_bind(l.sold_at.to_rfc3339())
                            .push_bind(&*l.product_code)
                            .push_bind(l.quantity.map(|d| d.to_string()))
                            .push_bind(l.unit_price_usd.map(|d| d.to_string()))
                            .push_bind(l.total_usd.map(|d| d.to_string()))
                            .push_bind(l.description.as_deref());
                    });
                    qb.build().execute(&mut *tx).await.unwrap();
                }
                tx.commit().await.unwrap();
            }
        })
    });

    let next = AtomicU32::new(0);
    let template = store_day("x");
    group.bench_function("first_load_store_day", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let destination = destination.clone();
            let batches: Vec<(String, Vec<SaleLine>)> = (0..iters)
                .map(|_| {
                    let store = format!("bench_{}", next.fetch_add(1, Ordering::SeqCst));
                    let mut lines = template.clone();
                    for l in &mut lines {
                        l.store_id = StoreId::new(&store);
                    }
                    (store, lines)
                })
                .collect();
            async move {
                let start = Instant::now();
                for (store, lines) in &batches {
                    load(&destination, store, lines).await;
                }
                start.elapsed()
            }
        })
    });

    let resend = Arc::new(store_day("bench_resend"));
    rt.block_on(load(&destination, "bench_resend", &resend));
    group.bench_function("redelivery_unchanged_store_day", |b| {
        b.to_async(&rt).iter(|| {
            let destination = destination.clone();
            let resend = resend.clone();
            async move { load(&destination, "bench_resend", &resend).await }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);

#[path = "report/mod.rs"]
mod report;

fn main() {
    report::main(benches, &["sqlite_load"]);
}
