//! Run with: cargo bench --bench klk_extract
//!
//! KLK extraction, rows/s (criterion's `Throughput::Elements`): the sales of one store-day
//! (~20,000 lines, tens of MB of JSON) streamed over loopback HTTP and parsed into `SaleLine`
//! batches by `KlkSalesExtractor`.
//!
//! - `sim/one_store_day`: from the KLK simulator, which generates and encodes the JSON as it
//!   serves it (on the same two cores);
//! - `sim/20_store_days_parallel`: 20 store-days extracted at once from the simulator;
//! - `memory/one_store_day`: the same bytes served from memory by a minimal HTTP server, which
//!   isolates our client and parser from the simulator's cost.
//!
//! Baselines measured in the same run:
//! - `sim/transfer_only`: the same request with the body read and discarded — the floor set by
//!   the simulator and loopback HTTP;
//! - `memory/serde_json_value`: the whole body parsed at once into a `serde_json::Value`, which is
//!   roughly what the old client did (and which needs the body whole in memory).
//!
//! MB/s = rows/s × the bytes per row printed at start-up.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use criterion::{criterion_group, Criterion, Throughput};
use fluxion_etl::config::{BatchConfig, KlkConfig};
use fluxion_etl::model::{StoreId, Window};
use fluxion_etl::pipeline::Extractor;
use fluxion_etl::sources::klk::{KlkSalesExtractor, KlkStoreRef};
use fluxion_etl_sim::klk::{sales_for_day, KlkSim, KlkSimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn the_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 11, 17).unwrap()
}

fn batch() -> BatchConfig {
    BatchConfig {
        batch_size: 5_000,
        ..BatchConfig::default()
    }
}

fn klk(base_url: String) -> KlkConfig {
    KlkConfig {
        base_url,
        auth_header: None,
        auth_env: None,
    }
}

/// The chain's 19 KLK stores, from the simulator's defaults.
fn stores(config: &KlkSimConfig) -> Vec<KlkStoreRef> {
    config
        .stores
        .iter()
        .filter(|b| b.store_id.starts_with("tienda_"))
        .map(|b| KlkStoreRef {
            id: StoreId::new(b.store_id.clone()),
            branch: b.branch.clone(),
            warehouse: b.warehouse.clone(),
        })
        .collect()
}

fn rows_of(config: &KlkSimConfig, store: &KlkStoreRef, day: NaiveDate) -> u64 {
    sales_for_day(config, &store.branch, day)
        .iter()
        .filter(|s| s.codigo_almacen == store.warehouse)
        .count() as u64
}

/// Extracts one store-day; returns the rows.
async fn extract(base_url: &str, store: &KlkStoreRef, day: NaiveDate) -> u64 {
    let window = Window::day(day).unwrap();
    let mut e = KlkSalesExtractor::new(&klk(base_url.to_owned()), store, window, &batch()).unwrap();
    let mut rows = 0;
    while let Some(b) = e.next_batch().await.unwrap() {
        rows += b.len() as u64;
    }
    rows
}

fn request_body(store: &KlkStoreRef, day: NaiveDate) -> serde_json::Value {
    let d = day.format("%Y-%m-%d").to_string();
    serde_json::json!({"sucursal": store.branch, "almacen": store.warehouse,
                       "fecha_desde": d, "fecha_hasta": d})
}

/// The body the simulator serves for a store-day, whole.
async fn fetch_body(base_url: &str, store: &KlkStoreRef, day: NaiveDate) -> Vec<u8> {
    reqwest::Client::new()
        .post(format!("{base_url}/ventas"))
        .json(&request_body(store, day))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

/// Reads and discards the body; returns its size.
async fn transfer(client: &reqwest::Client, base_url: &str, store: &KlkStoreRef) -> u64 {
    let mut resp = client
        .post(format!("{base_url}/ventas"))
        .json(&request_body(store, the_day()))
        .send()
        .await
        .unwrap();
    let mut n = 0;
    while let Some(c) = resp.chunk().await.unwrap() {
        n += c.len() as u64;
    }
    n
}

/// Serves `body` to every POST, from memory.
async fn memory_server(body: Arc<Vec<u8>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 8192];
                // Headers, then the small JSON request body (sent with the headers or right after).
                let head_end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i;
                    }
                    match sock.read(&mut tmp).await {
                        Ok(0) | Err(_) => return, // the connect probe
                        Ok(n) => buf.extend_from_slice(&tmp[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                while buf.len() < head_end + 4 + len {
                    match sock.read(&mut tmp).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&tmp[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                sock.write_all(head.as_bytes()).await.unwrap();
                for part in body.chunks(64 << 10) {
                    if sock.write_all(part).await.is_err() {
                        return;
                    }
                }
                let _ = sock.shutdown().await;
            });
        }
    });
    addr
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = KlkSimConfig {
        cache_days: 64,
        ..KlkSimConfig::default()
    };
    let sim = rt.block_on(KlkSim::start(
        config.clone(),
        "127.0.0.1:0".parse().unwrap(),
    ));
    let sim = sim.unwrap();
    let base = sim.base_url();
    let all = stores(&config);
    let store = all[0].clone();
    let day = the_day();

    let rows = rows_of(&config, &store, day);
    let body = Arc::new(rt.block_on(fetch_body(&base, &store, day)));
    println!(
        "one store-day ({} {}): {rows} rows, {:.1} MB of JSON, {} bytes/row",
        store.id,
        day,
        body.len() as f64 / 1e6,
        body.len() as u64 / rows.max(1)
    );
    // 20 store-days: the 19 stores on the day, and the first one the day before.
    let units: Vec<(KlkStoreRef, NaiveDate)> = all
        .iter()
        .map(|s| (s.clone(), day))
        .chain(std::iter::once((store.clone(), day.pred_opt().unwrap())))
        .collect();
    let parallel_rows: u64 = units.iter().map(|(s, d)| rows_of(&config, s, *d)).sum();
    println!("20 store-days: {parallel_rows} rows");
    // Warm the simulator's cache of generated days, so every iteration serves the same way.
    rt.block_on(async {
        for (s, d) in &units {
            extract(&base, s, *d).await;
        }
    });
    let memory = rt.block_on(memory_server(body.clone()));
    let memory_base = format!("http://{memory}");

    let mut g = c.benchmark_group("klk_extract");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(15));
    g.throughput(Throughput::Elements(rows));

    g.bench_function("sim/one_store_day", |b| {
        b.to_async(&rt).iter(|| async {
            assert_eq!(extract(&base, &store, day).await, rows);
        })
    });
    let client = reqwest::Client::new();
    g.bench_function("sim/transfer_only (baseline)", |b| {
        b.to_async(&rt).iter(|| async {
            assert_eq!(transfer(&client, &base, &store).await, body.len() as u64);
        })
    });
    g.bench_function("memory/one_store_day", |b| {
        b.to_async(&rt).iter(|| async {
            assert_eq!(extract(&memory_base, &store, day).await, rows);
        })
    });
    g.bench_function("memory/serde_json_value (baseline)", |b| {
        b.iter(|| {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["ventas"].as_array().unwrap().len() as u64, rows);
        })
    });

    g.throughput(Throughput::Elements(parallel_rows));
    g.bench_function("sim/20_store_days_parallel", |b| {
        b.to_async(&rt).iter(|| async {
            let tasks: Vec<_> = units
                .iter()
                .map(|(s, d)| {
                    let (base, s, d) = (base.clone(), s.clone(), *d);
                    tokio::spawn(async move { extract(&base, &s, d).await })
                })
                .collect();
            let mut total = 0;
            for t in tasks {
                total += t.await.unwrap();
            }
            assert_eq!(total, parallel_rows);
        })
    });
    g.finish();
    rt.block_on(sim.shutdown());
}

criterion_group!(benches, bench);

#[path = "report/mod.rs"]
mod report;

fn main() {
    report::main(benches, &["klk_extract"]);
}
