//! The KLK source over real loopback HTTP.
//!
//! - The vendor's sample answers of `KLK_API.md` (in `tests/fixtures/klk/`, byte for byte), served
//!   by a minimal HTTP server written here, map field by field to `SaleLine` / `InventoryItem`.
//! - Against the KLK simulator: a store-day is extracted exactly, windows are exact at their
//!   boundaries, every injected fault ends in the right phase and category with nothing committed
//!   for the failed store-window and the other stores loaded, and retries happen only where they
//!   should.
//!
//! Everything binds and dials 127.0.0.1 only.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use fluxion_etl::config::{BatchConfig, Config, KlkConfig};
use fluxion_etl::loaders::Destination;
use fluxion_etl::model::{local_to_utc, Batch, InventoryItem, SaleLine, StoreId, Window};
use fluxion_etl::pipeline::Extractor;
use fluxion_etl::sources::klk::{
    KlkInventoryExtractor, KlkSalesExtractor, KlkStoreRef, USER_AGENT,
};
use fluxion_etl::tracker::{ErrorCategory, ExecutionView, Phase};
use fluxion_etl::{EtlError, Fluxion, RunRequest};
use fluxion_etl_sim::klk::{
    sales_for_day, ClosedDay, Endpoint, Fault, FaultRule, KlkSim, KlkSimConfig, SimArticle, SimSale,
};
use rust_decimal::Decimal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::common::dec;

const VENTAS_SAMPLE: &str = include_str!("fixtures/klk/ventas_sample.json");
const ARTICULOS_SAMPLE: &str = include_str!("fixtures/klk/articulos_sample.json");

// -------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 server: records each request, answers a canned status and body in chunks.
// -------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Captured {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: serde_json::Value,
}

impl Captured {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Canned {
    status: u16,
    body: Vec<u8>,
    /// Bytes per write; each write is flushed separately.
    chunk: usize,
}

struct RawServer {
    addr: SocketAddr,
    captured: Arc<Mutex<Vec<Captured>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RawServer {
    async fn start(canned: impl Fn(&Captured) -> Canned + Send + Sync + 'static) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let captured = Arc::new(Mutex::new(Vec::new()));
        let log = captured.clone();
        let canned = Arc::new(canned);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let log = log.clone();
                let canned = canned.clone();
                tokio::spawn(async move {
                    let Some(req) = read_request(&mut sock).await else {
                        // The extractor's connect probe: a connection with no request.
                        return;
                    };
                    log.lock().unwrap().push(req.clone());
                    let answer = canned(&req);
                    let head = format!(
                        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        answer.status,
                        answer.body.len()
                    );
                    sock.write_all(head.as_bytes()).await.unwrap();
                    for part in answer.body.chunks(answer.chunk.max(1)) {
                        if sock.write_all(part).await.is_err() {
                            return;
                        }
                        let _ = sock.flush().await;
                        tokio::task::yield_now().await;
                    }
                    let _ = sock.shutdown().await;
                });
            }
        });
        RawServer {
            addr,
            captured,
            task,
        }
    }

    fn klk(&self) -> KlkConfig {
        KlkConfig {
            base_url: format!("http://{}", self.addr),
            auth_header: None,
            auth_env: None,
        }
    }

    fn requests(&self) -> Vec<Captured> {
        self.captured.lock().unwrap().clone()
    }
}

async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Captured> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap().split(' ');
    let method = first.next().unwrap().to_owned();
    let path = first.next().unwrap().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    Some(Captured {
        method,
        path,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    })
}

fn ok(body: &str, chunk: usize) -> Canned {
    Canned {
        status: 200,
        body: body.as_bytes().to_vec(),
        chunk,
    }
}

fn tienda_01() -> KlkStoreRef {
    KlkStoreRef {
        id: StoreId::new("tienda_01"),
        branch: "SUC001".into(),
        warehouse: "APP-TPF".into(),
    }
}

fn fast_batch() -> BatchConfig {
    BatchConfig {
        batch_size: 500,
        connect_timeout_secs: 2,
        request_timeout_secs: 2,
        inventory_timeout_secs: 2,
        retries: 2,
        retry_delay_ms: 10,
        ..BatchConfig::default()
    }
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

async fn drain(mut e: impl Extractor) -> (Result<Vec<Batch>, EtlError>, impl Extractor) {
    let mut batches = Vec::new();
    loop {
        match e.next_batch().await {
            Ok(Some(b)) => batches.push(b),
            Ok(None) => return (Ok(batches), e),
            Err(err) => return (Err(err), e),
        }
    }
}

fn sales_of(batches: Vec<Batch>) -> Vec<SaleLine> {
    batches
        .into_iter()
        .flat_map(|b| match b {
            Batch::Sales(v) => v,
            other => panic!("not sales: {other:?}"),
        })
        .collect()
}

fn items_of(batches: Vec<Batch>) -> Vec<InventoryItem> {
    batches
        .into_iter()
        .flat_map(|b| match b {
            Batch::Inventory(v) => v,
            other => panic!("not inventory: {other:?}"),
        })
        .collect()
}

/// The vendor's sample line as a `SaleLine`, field by field.
fn sample_line() -> SaleLine {
    let local = day(2025, 11, 17)
        .and_hms_micro_opt(12, 19, 56, 896_614)
        .unwrap();
    SaleLine {
        store_id: StoreId::new("tienda_01"),
        invoice_number: "C10-01-00008064".into(),
        line_number: 1,
        sold_at: local_to_utc(local),
        business_date: day(2025, 11, 17),
        product_code: "001853".into(),
        description: Some("NECTAR DE PERA ...".into()),
        brand: Some("NATULAC".into()),
        model: None,
        category: Some("NECTARES Y JUGOS".into()),
        group_name: Some("BEBIDAS".into()),
        subgroup: Some("NECTAR DE FRUTA".into()),
        category_name: Some("ACCESORIOS".into()),
        barcode: Some("7592396004005".into()),
        serial: None,
        imei: None,
        quadrant: None,
        warehouse_code: Some("APP-TPF".into()),
        warehouse_name: Some("PISO DE VENTA".into()),
        quantity: Some(dec("1")),
        unit_weight: Some(dec("0")),
        gross_weight: Some(dec("0")),
        unit_volume: Some(dec("0")),
        sale_unit: Some("UNIDAD".into()),
        unit_factor: Some(dec("1")),
        total_unit_quantity: Some(dec("1")),
        computed_weight: Some(dec("0")),
        unit_cost_bs: Some(dec("223.96")),
        unit_cost_usd: Some(dec("1")),
        unit_price_bs: Some(dec("230.35")),
        unit_price_usd: Some(dec("0.974138")),
        tax_pct: Some(dec("16")),
        tax_amount: Some(dec("36.856")),
        discount_pct: Some(dec("0")),
        discount_amount: Some(dec("0")),
        loyalty_discount_pct: Some(dec("0")),
        loyalty_discount_amount: Some(dec("0")),
        payment_discount_pct: Some(dec("0")),
        payment_discount_amount: Some(dec("0")),
        subtotal: None,
        total_bs: Some(dec("230.35")),
        total_usd: Some(dec("0.974138")),
        total_cost_bs: Some(dec("223.96")),
        total_cost_usd: Some(dec("1")),
        gross_profit_bs: Some(dec("6.39")),
        gross_profit_usd: Some(dec("-0.03")),
        invoice_total: Some(dec("1158.67")),
        usd_rate: Some(dec("236.46")),
        non_fiscal: Some(false),
        promotion: None,
        promotion_code: None,
        till: None,
        concept: None,
        line_status: None,
    }
}

// -------------------------------------------------------------------------------------------
// The vendor's samples.
// -------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_vendor_sales_sample_maps_field_by_field() {
    let server = RawServer::start(|_| ok(VENTAS_SAMPLE, 64 << 10)).await;
    let window = Window::day(day(2025, 11, 17)).unwrap();
    let e = KlkSalesExtractor::new(&server.klk(), &tienda_01(), window, &fast_batch()).unwrap();
    let (result, e) = drain(e).await;
    let lines = sales_of(result.unwrap());
    assert_eq!(lines, vec![sample_line()]);
    // The 7-digit fraction is kept to the microsecond.
    assert_eq!(lines[0].sold_at.nanosecond(), 896_614_000);

    // What was asked, and how.
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/ventas"));
    assert_eq!(
        r.body,
        serde_json::json!({"sucursal": "SUC001", "almacen": "APP-TPF",
                           "fecha_desde": "2025-11-17", "fecha_hasta": "2025-11-17"})
    );
    assert_eq!(r.header("user-agent"), Some(USER_AGENT));
    assert!(USER_AGENT.starts_with("fluxion-etl/"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("accept"), Some("application/json"));

    let stats = e.stats();
    assert_eq!(
        (stats.requests, stats.errors, stats.rows_rejected),
        (1, 0, 0)
    );
    let diag = e.diagnostics().unwrap();
    assert_eq!(diag.ip, Some(server.addr.ip()));
    assert_eq!(diag.port, Some(server.addr.port()));
    assert!(diag.latency_ms.is_some());
}

#[tokio::test]
async fn quadrant_and_fractional_quantity_map_too() {
    // The sample carries neither; the same line with the two fields KLK sends for some articles.
    let body = VENTAS_SAMPLE
        .replace(
            r#""imei": "" } ]"#,
            r#""imei": "", "cuadrante_producto": "P3-A" } ]"#,
        )
        .replace(r#""cantidad_vendida": 1,"#, r#""cantidad_vendida": 0.735,"#)
        .replace(
            r#""unidad_medida_venta": "UNIDAD""#,
            r#""unidad_medida_venta": "KILO""#,
        );
    assert_ne!(body, VENTAS_SAMPLE);
    // Served a few bytes at a time, so element and token boundaries fall between reads.
    let server = RawServer::start(move |_| ok(&body, 7)).await;
    let window = Window::day(day(2025, 11, 17)).unwrap();
    let e = KlkSalesExtractor::new(&server.klk(), &tienda_01(), window, &fast_batch()).unwrap();
    let (result, _) = drain(e).await;
    let lines = sales_of(result.unwrap());
    let want = SaleLine {
        quadrant: Some("P3-A".into()),
        quantity: Some(dec("0.735")),
        sale_unit: Some("KILO".into()),
        ..sample_line()
    };
    assert_eq!(lines, vec![want]);
}

#[tokio::test]
async fn the_vendor_inventory_sample_maps_in_both_shapes() {
    // Older servers answer the bare array.
    let bare = {
        let v: serde_json::Value = serde_json::from_str(ARTICULOS_SAMPLE).unwrap();
        serde_json::to_string(&v["articulos"]).unwrap()
    };
    for body in [ARTICULOS_SAMPLE.to_owned(), bare] {
        let server = RawServer::start(move |_| ok(&body, 5)).await;
        let at = DateTime::from_timestamp(1_763_468_838, 0).unwrap();
        let e = KlkInventoryExtractor::new(&server.klk(), &tienda_01(), at, &fast_batch()).unwrap();
        let (result, _) = drain(e).await;
        let items = items_of(result.unwrap());
        let want = InventoryItem {
            store_id: StoreId::new("tienda_01"),
            warehouse_code: "APP-TPF".into(),
            product_code: "000002".into(),
            barcode: Some("00010".into()),
            description: Some("QUESO AMARILLO KEMMENTAL KG".into()),
            category_id: Some("99".into()),
            category: None,
            group_name: Some("DE TRIGO".into()),
            subcategory_id: Some("99".into()),
            brand: None,
            price: Some(dec("12.08")),
            tax_pct: Some(dec("16")),
            stock: dec("23"),
            snapshot_at: at,
            ..InventoryItem::default()
        };
        assert_eq!(items, vec![want]);
        let reqs = server.requests();
        assert_eq!(reqs[0].path, "/maestra/articulos/almacen");
        assert_eq!(
            reqs[0].body,
            serde_json::json!({"Codigoalmacen": "APP-TPF"})
        );
    }
}

#[tokio::test]
async fn the_auth_header_comes_from_the_environment() {
    const VAR: &str = "FLUXION_TEST_KLK_GATEWAY_KEY";
    std::env::set_var(VAR, "s3cr3t-value");
    let server = RawServer::start(|_| ok(VENTAS_SAMPLE, 1 << 16)).await;
    let klk = KlkConfig {
        auth_header: Some("X-Api-Key".into()),
        auth_env: Some(VAR.into()),
        ..server.klk()
    };
    let window = Window::day(day(2025, 11, 17)).unwrap();
    let e = KlkSalesExtractor::new(&klk, &tienda_01(), window, &fast_batch()).unwrap();
    let (result, _) = drain(e).await;
    assert_eq!(sales_of(result.unwrap()).len(), 1);
    assert_eq!(
        server.requests()[0].header("x-api-key"),
        Some("s3cr3t-value")
    );

    // A variable that is not set fails the store up front, without sending anything.
    let klk = KlkConfig {
        auth_env: Some("FLUXION_TEST_KLK_UNSET_VARIABLE".into()),
        ..klk
    };
    let err = KlkSalesExtractor::new(&klk, &tienda_01(), window, &fast_batch()).unwrap_err();
    assert_eq!(err.category(), ErrorCategory::ApiAuth);
    assert!(err.message().contains("FLUXION_TEST_KLK_UNSET_VARIABLE"));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_refused_connection_is_a_network_error_after_retries() {
    // A port that was just free: nothing listens there.
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let klk = KlkConfig {
        base_url: format!("http://{addr}"),
        auth_header: None,
        auth_env: None,
    };
    let window = Window::day(day(2025, 11, 17)).unwrap();
    let e = KlkSalesExtractor::new(&klk, &tienda_01(), window, &fast_batch()).unwrap();
    let (result, e) = drain(e).await;
    let err = result.unwrap_err();
    assert_eq!(err.phase(), Phase::Extract);
    // Loopback stands for a public host: not the VPN's `vpn_unreachable`.
    assert_eq!(err.category(), ErrorCategory::NetworkError);
    assert!(err.is_retryable());
    let stats = e.stats();
    assert_eq!((stats.requests, stats.errors), (3, 3));
    let diag = e.diagnostics().unwrap();
    assert_eq!(diag.ip, Some(addr.ip()));
    assert_eq!(diag.latency_ms, None);
}

#[tokio::test]
async fn a_broken_row_fails_the_window_and_names_the_first() {
    let good = VENTAS_SAMPLE
        .find(
            r#"{
    "numero_factura""#,
        )
        .unwrap();
    let end = VENTAS_SAMPLE.rfind("] }").unwrap();
    let element: &str = VENTAS_SAMPLE[good..end].trim_end();
    let broken = element.replace(r#""codigo_producto": "001853", "#, "");
    assert_ne!(broken, element);
    let lines = [element, &broken, element, &broken].join(",");
    let body = format!(r#"{{"ventas": [{lines}]}}"#)
        .replacen("C10-01-00008064", "C10-01-1", 1)
        .replacen("C10-01-00008064", "C10-01-2", 1)
        .replacen("C10-01-00008064", "C10-01-3", 1);
    let server = RawServer::start(move |_| ok(&body, 1 << 16)).await;
    let window = Window::day(day(2025, 11, 17)).unwrap();
    let batch = BatchConfig {
        batch_size: 1,
        ..fast_batch()
    };
    let e = KlkSalesExtractor::new(&server.klk(), &tienda_01(), window, &batch).unwrap();
    let (result, e) = drain(e).await;
    let err = result.unwrap_err();
    assert_eq!(err.phase(), Phase::Transform);
    assert_eq!(err.category(), ErrorCategory::MissingFields);
    assert!(!err.is_retryable());
    assert!(err.message().contains("record 2"), "{}", err.message());
    assert!(
        err.message().contains("codigo_producto"),
        "{}",
        err.message()
    );
    assert!(err.message().contains("2 of 4"), "{}", err.message());
    assert_eq!(e.stats().rows_rejected, 2);
    // Not retried: the same bytes would come back.
    assert_eq!(server.requests().len(), 1);
}

// -------------------------------------------------------------------------------------------
// Against the simulator.
// -------------------------------------------------------------------------------------------

fn sim_config() -> KlkSimConfig {
    KlkSimConfig {
        lines_per_day: (300, 450),
        fixed_clock: Some(DateTime::from_timestamp(1_763_468_838, 0).unwrap()),
        ..KlkSimConfig::default()
    }
}

async fn start_sim(config: KlkSimConfig) -> KlkSim {
    KlkSim::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn opt_text(s: &str) -> Option<Arc<str>> {
    (!s.is_empty()).then(|| s.into())
}

/// What the extractor must make of one simulated line (the mapping of `KLK_API.md`).
fn expected_line(store: &str, s: &SimSale) -> SaleLine {
    let micros = s.hora.nanosecond() / 1_000;
    let hora =
        NaiveTime::from_hms_micro_opt(s.hora.hour(), s.hora.minute(), s.hora.second(), micros)
            .unwrap();
    let local = s.fecha.and_time(hora);
    SaleLine {
        store_id: StoreId::new(store),
        invoice_number: s.numero_factura.as_str().into(),
        line_number: s.linea as i32,
        sold_at: local_to_utc(local),
        business_date: s.fecha,
        product_code: s.codigo_producto.as_str().into(),
        description: opt_text(&s.descripcion_producto),
        brand: s.marca_producto.as_deref().and_then(opt_text),
        model: opt_text(&s.modelo_producto),
        category: opt_text(&s.categoria_producto),
        group_name: opt_text(&s.grupo_articulo),
        subgroup: opt_text(&s.subgrupo_producto),
        category_name: opt_text(&s.categoria_nombre),
        barcode: opt_text(&s.codigo_barras),
        serial: opt_text(&s.serial),
        imei: opt_text(&s.imei),
        quadrant: s.cuadrante_producto.as_deref().and_then(opt_text),
        warehouse_code: opt_text(&s.codigo_almacen),
        warehouse_name: opt_text(&s.nombre_almacen),
        quantity: s.cantidad_vendida,
        unit_weight: s.peso_unitario,
        gross_weight: s.peso_bruto,
        unit_volume: s.volumen_unitario,
        sale_unit: opt_text(&s.unidad_medida_venta),
        unit_factor: s.factor_unidad_medida,
        total_unit_quantity: s.total_cantidad_por_unidad_medida,
        computed_weight: s.peso_calculado,
        unit_cost_bs: s.costo_unitario_bs,
        unit_cost_usd: s.costo_unitario_usd,
        unit_price_bs: s.precio_unitario_bs,
        unit_price_usd: s.precio_unitario_usd,
        tax_pct: s.impuesto_porcentaje,
        tax_amount: s.impuesto_monto,
        discount_pct: s.porcentaje_descuento,
        discount_amount: s.monto_descuento,
        loyalty_discount_pct: s.porcentaje_descuento_fidelizacion,
        loyalty_discount_amount: s.monto_descuento_fidelizacion,
        payment_discount_pct: s.porcentaje_descuento_forma_pago,
        payment_discount_amount: s.monto_descuento_forma_pago,
        subtotal: None,
        total_bs: s.venta_total_bs,
        total_usd: s.venta_total_usd,
        total_cost_bs: s.costo_total_bs,
        total_cost_usd: s.costo_total_usd,
        gross_profit_bs: s.utilidad_bruta_bs,
        gross_profit_usd: s.utilidad_bruta_usd,
        invoice_total: s.total_factura,
        usd_rate: s.tasa_usd,
        non_fiscal: Some(s.es_no_fiscal),
        promotion: opt_text(&s.tiene_promocion),
        promotion_code: opt_text(&s.codigo_promocion),
        till: None,
        concept: None,
        line_status: None,
    }
}

/// The store's lines of `days` that fall in `window`, as the extractor must produce them.
fn expected(
    config: &KlkSimConfig,
    store: &KlkStoreRef,
    days: &[NaiveDate],
    window: &Window,
) -> Vec<SaleLine> {
    let mut out: Vec<SaleLine> = days
        .iter()
        .flat_map(|d| sales_for_day(config, &store.branch, *d))
        .filter(|s| s.codigo_almacen == store.warehouse)
        .map(|s| expected_line(store.id.as_str(), &s))
        .filter(|l| window.contains_utc(l.sold_at))
        .collect();
    sort(&mut out);
    out
}

fn sort(lines: &mut [SaleLine]) {
    lines.sort_by(|a, b| {
        (&a.invoice_number, a.line_number).cmp(&(&b.invoice_number, b.line_number))
    });
}

fn sim_klk(sim: &KlkSim) -> KlkConfig {
    KlkConfig {
        base_url: sim.base_url(),
        auth_header: None,
        auth_env: None,
    }
}

async fn extract_sales(
    sim: &KlkSim,
    store: &KlkStoreRef,
    window: Window,
    batch: &BatchConfig,
) -> Vec<SaleLine> {
    let e = KlkSalesExtractor::new(&sim_klk(sim), store, window, batch).unwrap();
    let (result, _) = drain(e).await;
    let batches = result.unwrap();
    assert!(batches
        .iter()
        .all(|b| !b.is_empty() && b.len() <= batch.batch_size));
    let mut lines = sales_of(batches);
    sort(&mut lines);
    lines
}

#[tokio::test]
async fn a_store_day_is_extracted_exactly() {
    let config = sim_config();
    let sim = start_sim(config.clone()).await;
    let d = day(2025, 11, 17);
    let window = Window::day(d).unwrap();
    let store = tienda_01();
    let batch = BatchConfig {
        batch_size: 97,
        ..fast_batch()
    };
    let got = extract_sales(&sim, &store, window, &batch).await;
    let want = expected(&config, &store, &[d], &window);
    assert!(want.len() >= 250, "{}", want.len());
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }
    // The simulator's realism shows through: weights, nulls, returns and quadrants.
    assert!(got
        .iter()
        .any(|l| l.quantity.is_some_and(|q| !q.fract().is_zero())));
    assert!(got.iter().any(|l| l.quadrant.is_some()));
    assert!(got.iter().any(|l| l.usd_rate.is_some()));
    sim.shutdown().await;
}

#[tokio::test]
async fn windows_are_exact_at_their_boundaries() {
    let config = sim_config();
    let sim = start_sim(config.clone()).await;
    let store = KlkStoreRef {
        id: StoreId::new("tienda_02"),
        branch: "SUC007".into(),
        warehouse: "TAVBOL".into(),
    };
    let (d1, d2) = (day(2025, 11, 17), day(2025, 11, 18));
    let all = expected(&config, &store, &[d1, d2], &Window::days(d1, d2).unwrap());
    // Boundaries exactly at the (microsecond) times of real lines: the line at `from` is in,
    // the line at `to` is out — whatever the server does with `hora_hasta`.
    let mut times: Vec<NaiveDateTime> = all
        .iter()
        .map(|l| fluxion_etl::model::utc_to_local(l.sold_at))
        .collect();
    times.sort();
    let a = times[times.len() / 5];
    let b = times[times.len() / 2];
    let c = times[times.len() * 4 / 5];
    assert!(a.date() == d1 && c.date() == d2, "{a} {c}");
    let batch = fast_batch();
    let mut union = Vec::new();
    for (from, to) in [(a, b), (b, c)] {
        let w = Window::new(from, to).unwrap();
        let got = extract_sales(&sim, &store, w, &batch).await;
        assert_eq!(got, expected(&config, &store, &[d1, d2], &w), "{w}");
        assert!(got.iter().any(|l| l.sold_at == local_to_utc(from)), "{w}");
        assert!(got.iter().all(|l| l.sold_at != local_to_utc(to)), "{w}");
        union.extend(got);
    }
    // Adjacent windows partition their union: nothing twice, nothing lost.
    sort(&mut union);
    let whole = Window::new(a, c).unwrap();
    assert_eq!(union, expected(&config, &store, &[d1, d2], &whole));
    sim.shutdown().await;
}

#[tokio::test]
async fn inventory_matches_the_simulator_in_both_shapes() {
    for legacy in [false, true] {
        let config = KlkSimConfig {
            legacy_inventory_shape: legacy,
            ..sim_config()
        };
        let sim = start_sim(config.clone()).await;
        let today = config.fixed_clock.unwrap().date_naive();
        let want: Vec<SimArticle> = fluxion_etl_sim::klk::inventory_for(&config, "APP-TPF", today);
        let at = Utc::now();
        let e =
            KlkInventoryExtractor::new(&sim_klk(&sim), &tienda_01(), at, &fast_batch()).unwrap();
        let (result, _) = drain(e).await;
        let got = items_of(result.unwrap());
        assert_eq!(got.len(), want.len(), "legacy {legacy}");
        let na = |s: &str| (!s.is_empty() && s != "N/A").then(|| Arc::<str>::from(s));
        let by_code: BTreeMap<&str, &InventoryItem> =
            got.iter().map(|i| (&*i.product_code, i)).collect();
        for a in &want {
            let i = by_code[a.codigo.as_str()];
            assert_eq!(i.stock, a.stock.unwrap());
            assert_eq!(i.price, a.precio);
            assert_eq!(i.tax_pct, a.iva);
            assert_eq!(i.barcode, na(&a.barra));
            assert_eq!(i.brand, na(&a.marca));
            assert_eq!(i.category, na(&a.descripcion));
            assert_eq!(i.description, na(&a.nombre_producto));
            assert_eq!(i.group_name, na(&a.descripcion_categoria));
            assert_eq!(i.category_id, na(&a.categoria));
            assert_eq!(i.subcategory_id, na(&a.subcategoria));
            assert_eq!((&*i.warehouse_code, i.snapshot_at), ("APP-TPF", at));
        }
        assert!(got.iter().any(|i| i.stock < Decimal::ZERO));
        assert!(got.iter().any(|i| i.product_code.starts_with('0')));
        sim.shutdown().await;
    }
}

// --- Through `Fluxion::from_config`, the runner and a SQLite destination. ---

const STORES: [(&str, &str, &str); 3] = [
    ("tienda_01", "SUC001", "APP-TPF"),
    ("tienda_02", "SUC007", "TAVBOL"),
    ("tienda_03", "SUC008", "TTMAN"),
];

fn the_day() -> NaiveDate {
    day(2025, 11, 17)
}

struct Harness {
    sim: KlkSim,
    config: KlkSimConfig,
    fluxion: Fluxion,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn start(sim_config: KlkSimConfig, batch_toml: &str) -> Harness {
        let sim = start_sim(sim_config.clone()).await;
        let dir = tempfile::tempdir().unwrap();
        let mut toml = format!(
            "[destination]\nurl = \"sqlite://{}\"\n\n[batch]\n{batch_toml}\n\n[klk]\nbase_url = \"{}\"\n",
            dir.path().join("klk.db").display(),
            sim.base_url()
        );
        for (id, branch, warehouse) in STORES {
            toml.push_str(&format!(
                "\n[[stores]]\nid = \"{id}\"\nname = \"{id}\"\n[stores.source]\nsystem = \"klk\"\nbranch = \"{branch}\"\nwarehouse = \"{warehouse}\"\n"
            ));
        }
        let config = Config::from_toml_str(&toml, "klk-test").unwrap();
        let fluxion = Fluxion::from_config(config).await.unwrap();
        Harness {
            sim,
            config: sim_config,
            fluxion,
            _dir: dir,
        }
    }

    async fn default() -> Harness {
        Self::start(
            sim_config(),
            "batch_size = 100\nmax_workers = 3\nconnect_timeout_secs = 2\nrequest_timeout_secs = 3\ninventory_timeout_secs = 3\nretries = 2\nretry_delay_ms = 10",
        )
        .await
    }

    /// Runs the day's sales for the three stores; returns the execution as recorded.
    async fn run_sales(&self) -> ExecutionView {
        let report = self
            .fluxion
            .run(RunRequest::days(
                fluxion_etl::model::DataKind::Sales,
                the_day(),
                the_day(),
            ))
            .await
            .unwrap();
        self.fluxion
            .tracker_store()
            .execution(report.execution_id)
            .await
            .unwrap()
            .unwrap()
    }

    /// `invoice|line` of every stored line of a store, sorted.
    async fn stored(&self, store: &str) -> Vec<String> {
        let Destination::Sqlite(db) = self.fluxion.destination() else {
            panic!("sqlite expected");
        };
        let mut keys: Vec<String> = sqlx::query_scalar(
            "SELECT invoice_number || '|' || CAST(line_number AS TEXT) FROM sales_lines WHERE store_id = ?",
        )
        .bind(store)
        .fetch_all(db.pool())
        .await
        .unwrap();
        keys.sort();
        keys
    }

    fn expected_keys(&self, store: usize) -> Vec<String> {
        let (id, branch, warehouse) = STORES[store];
        let who = KlkStoreRef {
            id: StoreId::new(id),
            branch: branch.into(),
            warehouse: warehouse.into(),
        };
        let mut keys: Vec<String> = expected(
            &self.config,
            &who,
            &[the_day()],
            &Window::day(the_day()).unwrap(),
        )
        .iter()
        .map(|l| format!("{}|{}", l.invoice_number, l.line_number))
        .collect();
        keys.sort();
        keys
    }

    /// The other two stores are fully loaded.
    async fn others_loaded(&self, view: &ExecutionView) {
        for (i, (id, _, _)) in STORES.iter().enumerate().skip(1) {
            let d = detail(view, id);
            assert_eq!(d.status, "success", "{id}: {:?}", d.error_message);
            assert_eq!(self.stored(id).await, self.expected_keys(i), "{id}");
        }
    }
}

fn detail<'a>(view: &'a ExecutionView, store: &str) -> &'a fluxion_etl::tracker::StoreDetailView {
    view.tiendas_detail
        .iter()
        .find(|d| d.tienda_id == store)
        .unwrap_or_else(|| panic!("no detail for {store}"))
}

/// Injects `fault` on tienda_01's sales and checks the failure is recorded as `phase`/`category`,
/// nothing of tienda_01 is loaded, the other stores are, and tienda_01 saw `requests` requests.
async fn fault_case(fault: FaultRule, phase: &str, category: &str, requests: u64) {
    let h = Harness::default().await;
    h.sim.set_faults(vec![fault]);
    let view = h.run_sales().await;
    let d = detail(&view, "tienda_01");
    assert_eq!(d.status, "failed", "{:?}", d.error_message);
    assert_eq!(
        d.error_phase.as_deref(),
        Some(phase),
        "{:?}",
        d.error_message
    );
    assert_eq!(
        d.error_category.as_deref(),
        Some(category),
        "{:?}",
        d.error_message
    );
    assert_eq!(d.server_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(d.server_port, Some(i32::from(h.sim.addr().port())));
    assert!(
        h.stored("tienda_01").await.is_empty(),
        "nothing of a failed window is committed"
    );
    assert_eq!(view.status, "partial");
    h.others_loaded(&view).await;
    // One request per healthy store, `requests` for the faulty one.
    assert_eq!(h.sim.requests(), 2 + requests, "{category}");
}

fn on_tienda_01(fault: Fault) -> FaultRule {
    FaultRule::new(fault)
        .for_branch("SUC001")
        .on(Endpoint::Ventas)
}

#[tokio::test]
async fn a_clean_run_loads_every_store_with_diagnostics() {
    let h = Harness::default().await;
    let view = h.run_sales().await;
    assert_eq!(view.status, "success");
    for (i, (id, _, _)) in STORES.iter().enumerate() {
        let d = detail(&view, id);
        assert_eq!(d.status, "success");
        assert_eq!(h.stored(id).await, h.expected_keys(i));
        assert_eq!(d.records_loaded as usize, h.expected_keys(i).len());
        assert_eq!(d.server_ip.as_deref(), Some("127.0.0.1"));
        assert!(d.connection_latency_ms.is_some());
    }
    assert_eq!(h.sim.requests(), 3);
    // Again: nothing new.
    let again = h.run_sales().await;
    assert_eq!(again.records_loaded, 0);
}

#[tokio::test]
async fn http_500_is_an_api_error_after_the_retries() {
    fault_case(
        on_tienda_01(Fault::Status { code: 500 }),
        "extract",
        "api_error",
        3,
    )
    .await;
}

#[tokio::test]
async fn http_401_is_api_auth_and_is_not_retried() {
    fault_case(
        on_tienda_01(Fault::Status { code: 401 }),
        "extract",
        "api_auth",
        1,
    )
    .await;
}

#[tokio::test]
async fn an_error_body_is_an_api_error() {
    fault_case(
        on_tienda_01(Fault::ErrorBody {
            message: "Error al consultar la base de datos".into(),
        }),
        "extract",
        "api_error",
        1,
    )
    .await;
}

#[tokio::test]
async fn malformed_json_is_data_format_and_is_not_retried() {
    fault_case(
        on_tienda_01(Fault::MalformedJson),
        "transform",
        "data_format",
        1,
    )
    .await;
}

#[tokio::test]
async fn a_truncated_body_is_data_format_after_the_retries() {
    fault_case(
        on_tienda_01(Fault::Truncated),
        "transform",
        "data_format",
        3,
    )
    .await;
}

#[tokio::test]
async fn a_reset_mid_body_is_a_network_error() {
    fault_case(
        on_tienda_01(Fault::ResetMidBody {
            after_bytes: 100_000,
        }),
        "extract",
        "network_error",
        3,
    )
    .await;
}

#[tokio::test]
async fn a_request_that_never_answers_is_an_api_timeout() {
    fault_case(on_tienda_01(Fault::Hang), "extract", "api_timeout", 3).await;
}

#[tokio::test]
async fn a_body_that_stalls_is_an_api_timeout() {
    fault_case(
        on_tienda_01(Fault::StallMidBody {
            after_bytes: 50_000,
        }),
        "extract",
        "api_timeout",
        3,
    )
    .await;
}

#[tokio::test]
async fn a_transient_503_is_retried_and_the_window_loads_once() {
    let h = Harness::default().await;
    h.sim
        .set_faults(vec![on_tienda_01(Fault::Status { code: 503 }).times(1)]);
    let view = h.run_sales().await;
    assert_eq!(view.status, "success");
    let d = detail(&view, "tienda_01");
    assert_eq!(d.status, "success");
    assert_eq!(h.stored("tienda_01").await, h.expected_keys(0));
    assert_eq!(d.records_loaded as usize, h.expected_keys(0).len());
    assert_eq!(h.sim.requests(), 4);
    assert_eq!(view.api_errors_count, Some(1));
}

/// A body that fails after some of its records went downstream is asked for again, and the
/// retry skips what was already emitted: the window loads exactly once.
async fn resumes_after(fault: Fault) {
    // Small batches, so that records of the failed attempt have certainly gone downstream.
    let h = Harness::start(
        sim_config(),
        "batch_size = 10\nchannel_capacity = 1\nretries = 2\nretry_delay_ms = 10",
    )
    .await;
    h.sim.set_faults(vec![on_tienda_01(fault).times(1)]);
    let view = h.run_sales().await;
    let d = detail(&view, "tienda_01");
    assert_eq!(d.status, "success", "{:?}", d.error_message);
    assert_eq!(h.stored("tienda_01").await, h.expected_keys(0));
    assert_eq!(d.records_extracted as usize, h.expected_keys(0).len());
    assert_eq!(d.duplicates_skipped, 0);
    assert_eq!(h.sim.requests(), 4);
    h.others_loaded(&view).await;
}

#[tokio::test]
async fn a_reset_after_some_batches_resumes_without_duplicates() {
    resumes_after(Fault::ResetMidBody {
        after_bytes: 200_000,
    })
    .await;
}

#[tokio::test]
async fn a_truncated_body_once_resumes_without_duplicates() {
    resumes_after(Fault::Truncated).await;
}

#[tokio::test]
async fn latency_and_a_slow_drip_within_the_timeout_succeed() {
    let h = Harness::default().await;
    h.sim.set_faults(vec![
        on_tienda_01(Fault::Latency { ms: 200 }),
        on_tienda_01(Fault::SlowDrip {
            bytes_per_tick: 64 * 1024,
            tick_ms: 5,
        }),
    ]);
    let view = h.run_sales().await;
    assert_eq!(view.status, "success");
    assert_eq!(h.stored("tienda_01").await, h.expected_keys(0));
}

#[tokio::test]
async fn a_drip_slower_than_the_timeout_is_an_api_timeout() {
    fault_case(
        on_tienda_01(Fault::SlowDrip {
            bytes_per_tick: 1024,
            tick_ms: 50,
        }),
        "extract",
        "api_timeout",
        3,
    )
    .await;
}

#[tokio::test]
async fn a_closed_day_loads_nothing_and_succeeds() {
    let config = KlkSimConfig {
        closed: vec![ClosedDay {
            branch: "SUC001".into(),
            date: the_day(),
        }],
        ..sim_config()
    };
    let h = Harness::start(config, "batch_size = 100").await;
    let view = h.run_sales().await;
    assert_eq!(view.status, "success");
    assert!(h.stored("tienda_01").await.is_empty());
    assert_eq!(detail(&view, "tienda_01").records_extracted, 0);
    h.others_loaded(&view).await;
}

#[tokio::test]
async fn an_inventory_401_is_api_auth() {
    let h = Harness::default().await;
    h.sim
        .set_faults(vec![FaultRule::new(Fault::Status { code: 401 })
            .for_branch("APP-TPF")
            .on(Endpoint::ArticulosAlmacen)]);
    let report = h.fluxion.run(RunRequest::inventory()).await.unwrap();
    let view = h
        .fluxion
        .tracker_store()
        .execution(report.execution_id)
        .await
        .unwrap()
        .unwrap();
    let d = detail(&view, "tienda_01");
    assert_eq!(d.error_category.as_deref(), Some("api_auth"));
    assert_eq!(view.status, "partial");
    for id in ["tienda_02", "tienda_03"] {
        assert_eq!(detail(&view, id).status, "success");
        assert!(detail(&view, id).records_loaded > 3_000);
    }
    assert_eq!(h.sim.requests(), 3);
}
