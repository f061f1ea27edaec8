//! Run with: cargo bench --bench pg_load
//!
//! The PostgreSQL load leg, rows/s, through the `Loader` API (lease, COPY, merge, tracker
//! detail, commit), into a `sales_lines` that already holds other stores' rows:
//! - `copy_baseline`: the same rows COPYed (binary) straight into the keyed table and rolled
//!   back — no hashing, staging, merge or tracker: the baseline measured in the same run;
//! - `first_load/{binary,text}`: a window that holds nothing yet, in each COPY format;
//! - `redelivery_unchanged`: the same window delivered again, unchanged;
//! - `redelivery_1pct_changed`: the window delivered again with 1% of its lines changed
//!   (stage, merge);
//! - `pg_end_to_end/klk_19_stores_x_N_days`: the whole path — `Fluxion::run` over the KLK
//!   simulator's 19 stores (HTTP, streaming JSON parse, transform, load, tracker) into the same
//!   database, each store's days as one unit, four stores at a time; rows/s and, per sample,
//!   the wall time of the run. (The simulator generates the JSON on the same two cores and
//!   caches what it encoded, so later samples pay less for it.)
//!
//! Default scale: 1,000,000 rows already in the table, windows of 200,000 lines, one day of the
//! 19 stores end to end. `FLUXION_PG_BENCH_FULL=1` runs the scale: 5,000,000 rows,
//! windows of 1,000,000 lines, 7 days of the 19 stores (expect a long run). `FLUXION_PG_BENCH_EXISTING` / `FLUXION_PG_BENCH_ROWS` set either number.
//! The server is the test harness's (from the system's binaries, or `DATABASE_URL`), with
//! durability off; figures are relative to the baseline beside them.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use criterion::{criterion_group, Criterion, SamplingMode, Throughput};
use fluxion_etl::config::Config;
use fluxion_etl::loaders::postgres::{CopyFormat, PostgresLoader};
use fluxion_etl::loaders::Destination;
use fluxion_etl::model::{local_to_utc, Batch, DataKind, SaleLine, StoreId, Window};
use fluxion_etl::pipeline::{LoadScope, LoadUnit, Loader};
use fluxion_etl::tracker::{ExecutionTracker, NewExecution, RunMode, StoreRef, TriggeredBy};
use fluxion_etl::{Fluxion, RunRequest};
use fluxion_etl_sim::klk::{sales_for_day, KlkSim, KlkSimConfig};
use fluxion_etl_sim::postgres::TestPostgres;
use rust_decimal::Decimal;
use sqlx::{Executor, PgPool};

const BATCH: usize = 5_000;
const STORE: &str = "bench_new";

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
}

fn scale() -> (usize, usize) {
    let full = std::env::var("FLUXION_PG_BENCH_FULL").is_ok_and(|v| v == "1");
    let (existing, rows) = if full {
        (5_000_000, 1_000_000)
    } else {
        (1_000_000, 200_000)
    };
    (
        env_number("FLUXION_PG_BENCH_EXISTING").unwrap_or(existing),
        env_number("FLUXION_PG_BENCH_ROWS").unwrap_or(rows),
    )
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 11, 17).unwrap()
}

/// A store-day of `n` realistic KLK lines (most fields filled, as KLK sends them).
fn lines(n: usize) -> Vec<SaleLine> {
    let d = |s: &str| Some(Decimal::from_str(s).unwrap());
    (0..n)
        .map(|i| {
            let secs = (i as u64 * 86_399 / n as u64) as u32;
            let at = day()
                .and_hms_opt(secs / 3600, (secs / 60) % 60, secs % 60)
                .unwrap();
            SaleLine {
                store_id: StoreId::new(STORE),
                invoice_number: format!("C10-01-{:09}", i / 4).into(),
                line_number: (i % 4) as i32 + 1,
                sold_at: local_to_utc(at),
                business_date: day(),
                product_code: format!("{:06}", i % 4000).into(),
                description: Some("NECTAR DE PERA NATULAC 1L".into()),
                brand: Some("NATULAC".into()),
                category: Some("NECTARES Y JUGOS".into()),
                group_name: Some("BEBIDAS".into()),
                subgroup: Some("JUGOS".into()),
                category_name: Some("VIVERES".into()),
                barcode: Some("7592396004005".into()),
                warehouse_code: Some("APP-TPF".into()),
                warehouse_name: Some("PISO DE VENTA".into()),
                quantity: d("1.235"),
                sale_unit: Some("UNIDAD".into()),
                unit_factor: d("1"),
                total_unit_quantity: d("1.235"),
                unit_cost_bs: d("180.12"),
                unit_cost_usd: d("0.761732"),
                unit_price_bs: d("230.35"),
                unit_price_usd: d("0.974138"),
                tax_pct: d("16"),
                tax_amount: d("36.86"),
                subtotal: d("230.35"),
                total_bs: d("267.21"),
                total_usd: d("1.130040"),
                total_cost_bs: d("222.45"),
                gross_profit_bs: d("44.76"),
                invoice_total: d("1068.84"),
                usd_rate: d("236.46"),
                non_fiscal: Some(false),
                till: Some("CAJA-03".into()),
                ..SaleLine::default()
            }
        })
        .collect()
}

fn unit() -> LoadUnit {
    LoadUnit {
        store: StoreId::new(STORE),
        scope: LoadScope::SalesWindow(Window::day(day()).unwrap()),
    }
}

fn batches(lines: &[SaleLine]) -> Vec<Batch> {
    lines
        .chunks(BATCH)
        .map(|c| Batch::Sales(c.to_vec()))
        .collect()
}

/// One unit through the loader, as the runner drives it; returns the rows it inserted.
async fn load(
    loader: &PostgresLoader,
    tracker: &ExecutionTracker,
    batches: Vec<Batch>,
    expect_unchanged: Option<u64>,
) -> u64 {
    let unit = unit();
    let st = tracker.start_store(
        StoreRef {
            id: STORE.into(),
            name: None,
            system: None,
        },
        None,
    );
    let mut session = loader
        .try_begin(&unit, tracker.id())
        .await
        .unwrap()
        .expect("the bench's lease is free");
    for batch in batches {
        session.write(batch).await.unwrap();
    }
    let detail = st.detail(
        tracker.id(),
        DataKind::Sales,
        Default::default(),
        None,
        None,
    );
    let stats = session.finish(&detail).await.unwrap();
    if let Some(n) = expect_unchanged {
        assert_eq!(stats.unchanged, n);
    }
    stats.inserted
}

/// Fills `sales_lines` with `n` rows of other stores, server-side (not measured).
async fn preload(pool: &PgPool, n: usize) {
    let started = Instant::now();
    sqlx::query(
        "INSERT INTO sales_lines (store_id, invoice_number, line_number, sold_at, business_date, product_code, \
         description, brand, category, group_name, barcode, warehouse_code, quantity, unit_price_bs, \
         unit_price_usd, tax_pct, total_bs, total_usd, usd_rate, non_fiscal, row_hash, execution_id) \
         SELECT 'bench_old_' || lpad((g % 20)::text, 2, '0'), 'C10-01-' || lpad((g / 80)::text, 9, '0'), g / 20 % 4 + 1, \
         timestamptz '2025-01-01' + make_interval(secs => g / 20 * 6), date '2025-01-01' + (g / 20 * 6 / 86400)::int, \
         lpad((g % 4000)::text, 6, '0'), 'NECTAR DE PERA NATULAC 1L', 'NATULAC', 'NECTARES Y JUGOS', 'BEBIDAS', \
         '7592396004005', 'APP-TPF', 1.235, 230.35, 0.974138, 16, 230.35, 0.974138, 236.46, false, \
         hashtextextended(g::text, 0), 1 \
         FROM generate_series(0, $1 - 1) AS g",
    )
    .bind(n as i64)
    .execute(pool)
    .await
    .unwrap();
    pool.execute("VACUUM ANALYZE sales_lines").await.unwrap();
    eprintln!(
        "pg_load: preloaded {n} rows of other stores in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

/// Removes the bench store's window and reclaims the space, so each first load meets the same
/// table (not measured).
async fn forget(pool: &PgPool) {
    sqlx::query("DELETE FROM sales_lines WHERE store_id = $1")
        .bind(STORE)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM etl_load_fingerprints WHERE store_id = $1")
        .bind(STORE)
        .execute(pool)
        .await
        .unwrap();
    pool.execute("VACUUM sales_lines").await.unwrap();
}

fn bench(c: &mut Criterion) {
    let (existing, rows) = scale();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (server, destination) = rt.block_on(async {
        let server = TestPostgres::start()
            .await
            .expect("a PostgreSQL for the bench");
        let url = server.create_database().await.unwrap();
        let destination = Destination::connect(&url).await.unwrap();
        destination.migrate().await.unwrap();
        (server, destination)
    });
    let Destination::Postgres(pg) = &destination else {
        unreachable!()
    };
    let pool = pg.pool().clone();
    rt.block_on(preload(&pool, existing));
    let tracker = rt.block_on(async {
        ExecutionTracker::start_execution(
            destination.tracker_store(),
            NewExecution {
                etl_name: DataKind::Sales,
                etl_type: "manual".into(),
                mode: RunMode::Full,
                triggered_by: TriggeredBy::Cli,
                started_at: chrono::Utc::now(),
                fecha_desde: None,
                fecha_hasta: None,
                tiendas: vec![StoreId::new(STORE)],
                source_system: None,
                is_recovery: false,
                recovered_gap_id: None,
                host: None,
                version: "bench".into(),
            },
        )
        .await
        .unwrap()
    });
    let data = lines(rows);
    let mut changed = data.clone();
    for l in changed.iter_mut().step_by(100) {
        l.quantity = Some(Decimal::from(7));
    }

    let mut group = c.benchmark_group(format!("pg_load_{existing}_existing"));
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(rows as u64));

    group.bench_function("copy_baseline", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let input = batches(&data);
                    let mut conn = pool.acquire().await.unwrap();
                    conn.execute("BEGIN").await.unwrap();
                    let started = Instant::now();
                    baseline_copy(&mut conn, input).await;
                    total += started.elapsed();
                    conn.execute("ROLLBACK").await.unwrap();
                    drop(conn);
                    forget(&pool).await;
                }
                total
            })
        })
    });

    for format in [CopyFormat::Binary, CopyFormat::Text] {
        let loader = pg.loader().with_copy_format(format);
        let name = match format {
            CopyFormat::Binary => "first_load/binary",
            CopyFormat::Text => "first_load/text",
        };
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let input = batches(&data);
                        let started = Instant::now();
                        let inserted = load(&loader, &tracker, input, None).await;
                        total += started.elapsed();
                        assert_eq!(inserted as usize, rows);
                        forget(&pool).await;
                    }
                    total
                })
            })
        });
    }

    let loader = pg.loader();
    rt.block_on(load(&loader, &tracker, batches(&data), None));
    group.bench_function("redelivery_unchanged", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let input = batches(&data);
                    let started = Instant::now();
                    load(&loader, &tracker, input, Some(rows as u64)).await;
                    total += started.elapsed();
                }
                total
            })
        })
    });

    let mut flip = false;
    group.bench_function("redelivery_1pct_changed", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    flip = !flip;
                    let input = batches(if flip { &changed } else { &data });
                    let started = Instant::now();
                    load(&loader, &tracker, input, None).await;
                    total += started.elapsed();
                }
                total
            })
        })
    });
    group.finish();

    end_to_end(c, &rt, &destination, &url_of(&server, &pool, &rt));
    drop(tracker);
    rt.block_on(destination.close());
    drop(server);
}

/// The baseline: the rows COPYed as text, in one statement, into the keyed table — what a
/// plain bulk insert costs, with none of the loader's work.
async fn baseline_copy(conn: &mut sqlx::PgConnection, input: Vec<Batch>) {
    use fluxion_etl::loaders::rows::{sale_values, Value, SALES_COLUMNS};
    use std::io::Write;
    let names: Vec<&str> = SALES_COLUMNS.iter().map(|(n, _)| *n).collect();
    let statement = format!(
        "COPY sales_lines ({}, row_hash) FROM STDIN",
        names.join(", ")
    );
    let mut copy = conn.copy_in_raw(&statement).await.unwrap();
    let mut buf = Vec::with_capacity(4 << 20);
    for batch in input {
        let Batch::Sales(lines) = batch else {
            unreachable!()
        };
        for line in &lines {
            for v in sale_values(line) {
                // The bench's data needs no escaping.
                match v {
                    Value::Text(Some(s)) => buf.extend_from_slice(s.as_bytes()),
                    Value::Decimal(Some(d)) => write!(buf, "{d}").unwrap(),
                    Value::Int(Some(i)) => write!(buf, "{i}").unwrap(),
                    Value::Bool(Some(b)) => buf.push(if b { b't' } else { b'f' }),
                    Value::Timestamp(t) => {
                        write!(buf, "{}", t.format("%Y-%m-%d %H:%M:%S%.6f+00")).unwrap()
                    }
                    Value::Date(d) => write!(buf, "{d}").unwrap(),
                    _ => buf.extend_from_slice(b"\\N"),
                }
                buf.push(b'\t');
            }
            buf.extend_from_slice(b"0\n");
        }
        copy.send(std::mem::take(&mut buf)).await.unwrap();
    }
    copy.finish().await.unwrap();
}

fn url_of(server: &TestPostgres, pool: &PgPool, rt: &tokio::runtime::Runtime) -> String {
    let name: String = rt.block_on(async {
        sqlx::query_scalar("SELECT current_database()::text")
            .fetch_one(pool)
            .await
            .unwrap()
    });
    server.database_url(&name)
}

/// KLK simulator → `Fluxion::run` → PostgreSQL, for the 19 KLK stores over `days` days.
fn end_to_end(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    destination: &Destination,
    url: &str,
) {
    let full = std::env::var("FLUXION_PG_BENCH_FULL").is_ok_and(|v| v == "1");
    let days = env_number("FLUXION_PG_BENCH_E2E_DAYS").unwrap_or(if full { 7 } else { 1 }) as u64;
    let sim_config = KlkSimConfig::default();
    let stores: Vec<_> = sim_config
        .stores
        .iter()
        .filter(|b| b.store_id.starts_with("tienda_"))
        .cloned()
        .collect();
    let first = day();
    let last = first + chrono::Duration::days(days as i64 - 1);
    let rows: u64 = stores
        .iter()
        .map(|b| {
            first
                .iter_days()
                .take(days as usize)
                .map(|d| {
                    sales_for_day(&sim_config, &b.branch, d)
                        .iter()
                        .filter(|s| s.codigo_almacen == b.warehouse)
                        .count() as u64
                })
                .sum::<u64>()
        })
        .sum();
    let sim = rt.block_on(async {
        KlkSim::start(sim_config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap()
    });
    let mut toml = format!(
        "[destination]\nurl = \"{url}\"\n[batch]\nmax_workers = 4\nbatch_size = 5000\n\
         [klk]\nbase_url = \"{}\"\n",
        sim.base_url()
    );
    for b in &stores {
        toml.push_str(&format!(
            "[[stores]]\nid = \"{}\"\nname = \"{}\"\n[stores.source]\nsystem = \"klk\"\n\
             branch = \"{}\"\nwarehouse = \"{}\"\n",
            b.store_id, b.name, b.branch, b.warehouse
        ));
    }
    let config = Config::from_toml_str(&toml, "pg_load bench").unwrap();
    let Destination::Postgres(pg) = destination else {
        unreachable!()
    };
    let pool = pg.pool().clone();
    // `Fluxion::from_config` prefers DATABASE_URL to the configured URL; the bench's database
    // is the configured one.
    let fluxion = rt.block_on(async {
        std::env::remove_var("DATABASE_URL");
        Fluxion::from_config(config).await.unwrap()
    });
    eprintln!(
        "pg_end_to_end: {} stores x {days} day(s) = {rows} sales lines per run",
        stores.len()
    );

    let mut group = c.benchmark_group("pg_end_to_end");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(rows));
    group.bench_function(format!("klk_{}_stores_x_{days}_days", stores.len()), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let started = Instant::now();
                    let report = fluxion
                        .run(RunRequest::days(DataKind::Sales, first, last))
                        .await
                        .unwrap();
                    let wall = started.elapsed();
                    total += wall;
                    assert_eq!(report.summary.tiendas_fallidas, 0, "{:?}", report.summary);
                    assert_eq!(report.summary.records_loaded as u64, rows);
                    eprintln!(
                        "pg_end_to_end: run of {rows} lines in {:.1}s wall ({:.0} rows/s)",
                        wall.as_secs_f64(),
                        rows as f64 / wall.as_secs_f64()
                    );
                    sqlx::query("DELETE FROM sales_lines WHERE store_id LIKE 'tienda_%'")
                        .execute(&pool)
                        .await
                        .unwrap();
                    sqlx::query("DELETE FROM etl_load_fingerprints WHERE store_id LIKE 'tienda_%'")
                        .execute(&pool)
                        .await
                        .unwrap();
                    pool.execute("VACUUM sales_lines").await.unwrap();
                }
                total
            })
        })
    });
    group.finish();
    rt.block_on(sim.shutdown());
}

criterion_group!(benches, bench);

#[path = "report/mod.rs"]
mod report;

fn main() {
    report::main(benches, &["pg_load_*", "pg_end_to_end"]);
}
