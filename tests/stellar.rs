//! The Stellar source over real loopback TDS, against the Stellar simulator.
//!
//! - A depot's inventory and a window of sales come out equal to the simulator's own data,
//!   field by field, across several keyset chunks, with fresh connections per chunk or one for
//!   the whole unit; windows are exact at their boundaries.
//! - Through `Fluxion::from_config`, the runner and a SQLite destination: every injected fault
//!   ends in its phase and category, nothing of the failed store-window is committed, the other
//!   stores load; a deadlock is retried and the window loads once.
//! - The adapter's queries run on the simulator's T-SQL binder, while the same query with a
//!   misspelt column fails with SQL Server's error 207.
//! - KLK and Stellar stores load in one run into one destination.
//!
//! Everything binds and dials 127.0.0.1 only.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::{Arc, Once};
use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime, Utc};
use fluxion_etl::config::{
    BatchConfig, Config, EncryptByEnvironment, Environment, HostByEnvironment, StellarEncryption,
    StellarStore,
};
use fluxion_etl::loaders::Destination;
use fluxion_etl::model::{local_to_utc, Batch, DataKind, InventoryItem, SaleLine, StoreId, Window};
use fluxion_etl::pipeline::Extractor;
use fluxion_etl::sources::stellar::{
    depot_sql, inventory_sql, sales_articles_sql, sales_sql, StellarCredentials,
    StellarInventoryExtractor, StellarSalesExtractor,
};
use fluxion_etl::tracker::{ErrorCategory, ExecutionView, Phase, StoreDetailView};
use fluxion_etl::{EtlError, Fluxion, RunRequest};
use fluxion_etl_sim::klk::{KlkSim, KlkSimConfig};
use fluxion_etl_sim::stellar::{
    ExpectedInventoryRow, ExpectedSalesRow, StellarFault, StellarSim, StellarSimConfig,
};
use rust_decimal::Decimal;
use tokio_util::compat::TokioAsyncWriteCompatExt;

/// The variables the configured stores read their login from. Every test sets the same values,
/// once, before any store reads them.
const USER_ENV: &str = "FLUXION_TEST_STELLAR_USER";
const PASSWORD_ENV: &str = "FLUXION_TEST_STELLAR_PASSWORD";
const USER: &str = "fluxion";
const PASSWORD: &str = "Sim-pa55";

fn login_in_env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::env::set_var(USER_ENV, USER);
        std::env::set_var(PASSWORD_ENV, PASSWORD);
    });
}

fn credentials() -> StellarCredentials {
    StellarCredentials::new(USER, PASSWORD)
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// A past Monday: complete in the simulator whatever today is.
fn the_day() -> NaiveDate {
    day(2025, 11, 17)
}

fn sim_config() -> StellarSimConfig {
    StellarSimConfig {
        user: USER.into(),
        password: PASSWORD.into(),
        articles: 1_500,
        sales_lines_per_day: (1_500, 2_500),
        ..StellarSimConfig::default()
    }
}

async fn start_sim(config: StellarSimConfig) -> StellarSim {
    StellarSim::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn stellar_store(sim: &StellarSim, depot: &str, chunk_rows: u32, per_chunk: bool) -> StellarStore {
    StellarStore {
        host: HostByEnvironment {
            local: sim.addr().ip().to_string(),
            production: None,
        },
        port: sim.addr().port(),
        database: "VAD10".into(),
        sales_database: "VAD20".into(),
        depot: depot.into(),
        user_env: USER_ENV.into(),
        password_env: PASSWORD_ENV.into(),
        encrypt: EncryptByEnvironment::all(StellarEncryption::Off),
        chunk_rows,
        connection_per_chunk: per_chunk,
    }
}

fn fast_batch() -> BatchConfig {
    BatchConfig {
        batch_size: 300,
        connect_timeout_secs: 2,
        request_timeout_secs: 5,
        inventory_timeout_secs: 5,
        retries: 2,
        retry_delay_ms: 10,
        ..BatchConfig::default()
    }
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

/// Text as the extractor keeps it: trailing blanks dropped, empty is None.
fn text(s: &str) -> Option<Arc<str>> {
    let t = s.trim_end();
    (!t.is_empty()).then(|| t.into())
}

fn float(f: f64) -> Decimal {
    Decimal::from_str(&f.to_string()).unwrap()
}

fn depot_name(sim: &StellarSim, depot: &str) -> String {
    let tables = sim.tables();
    tables.depots()[tables.depot_index(depot).unwrap()]
        .name
        .clone()
}

/// What the extractor must make of one simulated sales line.
fn expected_line(sim: &StellarSim, store: &str, r: &ExpectedSalesRow) -> SaleLine {
    let p = sim.tables().product(&r.article).unwrap();
    SaleLine {
        store_id: StoreId::new(store),
        invoice_number: r.receipt.as_str().into(),
        line_number: r.line,
        sold_at: local_to_utc(r.datetime),
        business_date: r.datetime.date(),
        product_code: r.article.as_str().into(),
        description: text(&r.description),
        brand: text(&r.brand),
        model: text(&p.model),
        category: text(&r.category),
        group_name: r.group.as_deref().and_then(text),
        subgroup: r.subgroup.as_deref().and_then(text),
        barcode: text(&r.scanned_code),
        quadrant: p.quadrant.as_deref().and_then(text),
        warehouse_code: Some(r.depot.as_str().into()),
        warehouse_name: text(&depot_name(sim, &r.depot)),
        quantity: Some(r.quantity),
        unit_price_bs: Some(r.price),
        subtotal: Some(r.subtotal),
        discount_amount: Some(r.discount),
        tax_amount: Some(r.tax),
        total_bs: Some(r.total),
        unit_cost_bs: Some(r.cost),
        till: text(&r.till),
        concept: text(&r.concept),
        line_status: Some("DCO".into()),
        ..SaleLine::default()
    }
}

fn expected_sales(sim: &StellarSim, store: &str, depot: &str, w: &Window) -> Vec<SaleLine> {
    let mut out: Vec<SaleLine> = sim
        .tables()
        .expected_sales(depot, w.from, w.to)
        .iter()
        .map(|r| expected_line(sim, store, r))
        .collect();
    sort(&mut out);
    out
}

fn sort(lines: &mut [SaleLine]) {
    lines.sort_by(|a, b| {
        (&a.invoice_number, a.line_number).cmp(&(&b.invoice_number, b.line_number))
    });
}

/// What the extractor must make of one simulated inventory row.
fn expected_item(
    sim: &StellarSim,
    store: &str,
    r: &ExpectedInventoryRow,
    at: chrono::DateTime<Utc>,
) -> InventoryItem {
    let tables = sim.tables();
    let p = tables.product(&r.article).unwrap();
    let s = tables
        .stock(&r.depot)
        .iter()
        .find(|s| s.article == r.article)
        .unwrap();
    InventoryItem {
        store_id: StoreId::new(store),
        warehouse_code: r.depot.as_str().into(),
        warehouse_name: text(&depot_name(sim, &r.depot)),
        product_code: r.article.as_str().into(),
        barcode: text(&r.barcode),
        description: text(&r.description),
        category_id: text(&p.department),
        category: text(&r.category),
        group_name: r.group.as_deref().and_then(text),
        subcategory_id: None,
        subgroup: r.subgroup.as_deref().and_then(text),
        brand: text(&r.brand),
        quadrant: r.quadrant.as_deref().and_then(text),
        presentation: text(&r.presentation),
        cost: Some(r.cost),
        price: Some(r.price),
        tax_pct: Some(r.tax_rate),
        weight: Some(float(r.weight)),
        volume: Some(float(r.volume)),
        units_per_case: Some(float(r.units_per_case)),
        stock: float(r.stock),
        committed: Some(float(s.committed)),
        ordered: Some(float(s.ordered)),
        snapshot_at: at,
    }
}

async fn extract_sales(
    store: &StellarStore,
    window: Window,
    batch: &BatchConfig,
) -> (Vec<SaleLine>, fluxion_etl::pipeline::ExtractStats) {
    let e = StellarSalesExtractor::new(
        StoreId::new("cedi_seco"),
        store,
        Environment::Local,
        credentials(),
        window,
        batch,
    )
    .unwrap();
    let (result, e) = drain(e).await;
    let batches = result.unwrap();
    assert!(batches
        .iter()
        .all(|b| !b.is_empty() && b.len() <= batch.batch_size));
    let mut lines = sales_of(batches);
    sort(&mut lines);
    (lines, e.stats())
}

// -------------------------------------------------------------------------------------------
// Extraction, directly.
// -------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_depots_inventory_equals_the_simulators() {
    let sim = start_sim(sim_config()).await;
    let at = Utc::now();
    for per_chunk in [true, false] {
        let store = stellar_store(&sim, "1710", 40, per_chunk);
        let before = sim.queries();
        let e = StellarInventoryExtractor::new(
            StoreId::new("cedi_frio"),
            &store,
            Environment::Local,
            credentials(),
            at,
            &fast_batch(),
        )
        .unwrap();
        let (result, e) = drain(e).await;
        let got = items_of(result.unwrap());
        let want: Vec<InventoryItem> = sim
            .tables()
            .expected_inventory("1710")
            .iter()
            .map(|r| expected_item(&sim, "cedi_frio", r, at))
            .collect();
        assert!(want.len() > 150, "{}", want.len());
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w);
        }
        // Chunks of 40 rows, each re-reading the last row of the one before.
        let chunks = (want.len() as u64 - 1) / 39 + 1;
        let queries = sim.queries() - before;
        assert!(
            queries == chunks || queries == chunks + 1,
            "{queries} {chunks}"
        );
        let stats = e.stats();
        assert_eq!(
            (stats.requests, stats.errors, stats.rows_rejected),
            (queries, 0, 0)
        );
        let diag = e.diagnostics().unwrap();
        assert_eq!(diag.ip, Some(sim.addr().ip()));
        assert_eq!(diag.port, Some(sim.addr().port()));
        assert!(diag.latency_ms.is_some());
    }
    // The simulator's realism shows through: negative stock, codes with leading zeros.
    let all = sim.tables().expected_inventory("1413");
    assert!(all.iter().any(|r| r.stock < 0.0));
    assert!(all.iter().all(|r| r.article.starts_with('0')));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_day_of_sales_equals_the_simulators_across_chunks() {
    let sim = start_sim(sim_config()).await;
    let window = Window::day(the_day()).unwrap();
    let want = expected_sales(&sim, "cedi_seco", "1413", &window);
    assert!(want.len() > 1_000, "{}", want.len());
    for per_chunk in [true, false] {
        let store = stellar_store(&sim, "1413", 400, per_chunk);
        let before = sim.queries();
        let (got, stats) = extract_sales(&store, window, &fast_batch()).await;
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w);
        }
        // The depot's locality, the articles, then chunks of 400 (399 new rows after the first).
        let chunks = (want.len() as u64 - 1) / 399 + 1;
        let queries = sim.queries() - before;
        assert!(
            queries == 2 + chunks || queries == 3 + chunks,
            "{queries} {chunks}"
        );
        assert_eq!((stats.requests, stats.errors), (queries, 0));
    }
    // Returns, fractional quantities and the till come through.
    assert!(want.iter().any(|l| l.concept.as_deref() == Some("DEV")));
    assert!(want
        .iter()
        .any(|l| l.quantity.is_some_and(|q| !q.fract().is_zero())));
    sim.shutdown().await;
}

#[tokio::test]
async fn windows_are_exact_at_their_boundaries() {
    let sim = start_sim(sim_config()).await;
    let (d1, d2) = (the_day(), the_day().succ_opt().unwrap());
    let all = expected_sales(&sim, "cedi_seco", "1413", &Window::days(d1, d2).unwrap());
    let mut times: Vec<NaiveDateTime> = all
        .iter()
        .map(|l| fluxion_etl::model::utc_to_local(l.sold_at))
        .collect();
    times.sort();
    // Boundaries exactly at the times of real lines, one window across midnight.
    let a = times[times.len() / 5];
    let b = times[times.len() * 3 / 5];
    let c = times[times.len() * 4 / 5];
    assert!(a.date() == d1 && c.date() == d2, "{a} {c}");
    let store = stellar_store(&sim, "1413", 300, true);
    let mut union = Vec::new();
    for (from, to) in [(a, b), (b, c)] {
        let w = Window::new(from, to).unwrap();
        let (got, _) = extract_sales(&store, w, &fast_batch()).await;
        assert_eq!(got, expected_sales(&sim, "cedi_seco", "1413", &w), "{w}");
        assert!(got.iter().any(|l| l.sold_at == local_to_utc(from)), "{w}");
        assert!(got.iter().all(|l| l.sold_at != local_to_utc(to)), "{w}");
        union.extend(got);
    }
    sort(&mut union);
    assert_eq!(
        union,
        expected_sales(&sim, "cedi_seco", "1413", &Window::new(a, c).unwrap())
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn vb6_times_on_1899_12_30_land_on_the_right_day() {
    let config = StellarSimConfig {
        hora_base_date: day(1899, 12, 30),
        ..sim_config()
    };
    let sim = start_sim(config).await;
    let window = Window::day(the_day()).unwrap();
    let store = stellar_store(&sim, "1801", 20_000, true);
    let (got, _) = extract_sales(&store, window, &fast_batch()).await;
    let want = expected_sales(&sim, "cedi_seco", "1801", &window);
    assert!(!want.is_empty());
    assert_eq!(got, want);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_misspelt_column_fails_with_207_while_the_real_queries_run() {
    let sim = start_sim(sim_config()).await;
    let mut config = tiberius::Config::new();
    config.host("127.0.0.1");
    config.port(sim.addr().port());
    config.database("VAD10");
    config.authentication(tiberius::AuthMethod::sql_server(USER, PASSWORD));
    config.encryption(tiberius::EncryptionLevel::NotSupported);
    let tcp = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
    let mut client = tiberius::Client::connect(config, tcp.compat_write())
        .await
        .unwrap();
    let from = the_day().and_hms_opt(0, 0, 0).unwrap();
    let to = from + chrono::Duration::days(1);

    let real = sales_sql("VAD20", true);
    let misspelt = real.replace("T.n_Linea AS linea", "T.n_Lineas AS linea");
    assert_ne!(real, misspelt);
    for (sql, want) in [(&real, None), (&misspelt, Some(207))] {
        let mut q = tiberius::Query::new(sql.as_str());
        q.bind("1413");
        q.bind(from);
        q.bind(to);
        q.bind(10i32);
        q.bind("");
        q.bind(0i32);
        let result = match q.query(&mut client).await {
            Ok(stream) => stream.into_first_result().await.map(|rows| rows.len()),
            Err(e) => Err(e),
        };
        match want {
            None => assert_eq!(result.unwrap(), 10),
            Some(code) => assert_eq!(result.unwrap_err().code(), Some(code)),
        }
    }
    // The articles of the window: one row per distinct scanned code; a misspelt column is 207.
    let real = sales_articles_sql("VAD10", "VAD20");
    let misspelt = real.replace("P.c_Descri AS", "P.c_Descripcion AS");
    assert_ne!(real, misspelt);
    let expected_codes: std::collections::BTreeSet<String> = sim
        .tables()
        .expected_sales("1413", from, to)
        .into_iter()
        .map(|r| r.scanned_code)
        .collect();
    for (sql, want) in [(&real, None), (&misspelt, Some(207))] {
        let mut q = tiberius::Query::new(sql.as_str());
        q.bind("1413");
        q.bind(from);
        q.bind(to);
        let result = match q.query(&mut client).await {
            Ok(stream) => stream.into_first_result().await.map(|rows| rows.len()),
            Err(e) => Err(e),
        };
        match want {
            None => assert_eq!(result.unwrap(), expected_codes.len()),
            Some(code) => assert_eq!(result.unwrap_err().code(), Some(code)),
        }
    }
    // The inventory and depot queries too, and an unknown table is 208.
    let mut q = tiberius::Query::new(inventory_sql("VAD10", true));
    q.bind("1413");
    q.bind(5i32);
    q.bind("000100");
    assert_eq!(
        q.query(&mut client)
            .await
            .unwrap()
            .into_first_result()
            .await
            .unwrap()
            .len(),
        5
    );
    let mut q = tiberius::Query::new(depot_sql("VAD10"));
    q.bind("1413");
    assert_eq!(
        q.query(&mut client)
            .await
            .unwrap()
            .into_first_result()
            .await
            .unwrap()
            .len(),
        1
    );
    let mut q =
        tiberius::Query::new(inventory_sql("VAD10", false).replace("MA_DEPOPROD", "MA_DEPOPRODS"));
    q.bind("1413");
    q.bind(5i32);
    let e = match q.query(&mut client).await {
        Ok(s) => s.into_first_result().await.unwrap_err(),
        Err(e) => e,
    };
    assert_eq!(e.code(), Some(208));
    sim.shutdown().await;
}

#[tokio::test]
async fn tls_against_a_plaintext_server_is_a_db_connection_error_not_retried() {
    let sim = start_sim(sim_config()).await;
    let store = StellarStore {
        encrypt: EncryptByEnvironment::all(StellarEncryption::TrustServerCertificate),
        ..stellar_store(&sim, "1413", 1_000, true)
    };
    let e = StellarInventoryExtractor::new(
        StoreId::new("cedi_seco"),
        &store,
        Environment::Local,
        credentials(),
        Utc::now(),
        &fast_batch(),
    )
    .unwrap();
    let (result, e) = drain(e).await;
    let err = result.unwrap_err();
    assert_eq!(
        err.category(),
        ErrorCategory::DbConnection,
        "{}",
        err.message()
    );
    assert!(!err.is_retryable());
    assert_eq!(e.stats().errors, 1);
    assert_eq!(sim.queries(), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_reset_mid_chunk_resumes_after_the_last_line_received() {
    let sim = start_sim(sim_config()).await;
    let window = Window::day(the_day()).unwrap();
    let want = expected_sales(&sim, "cedi_seco", "1413", &window);
    let store = stellar_store(&sim, "1413", 300, true);
    let batch = BatchConfig {
        batch_size: 40,
        ..fast_batch()
    };
    let mut e = StellarSalesExtractor::new(
        StoreId::new("cedi_seco"),
        &store,
        Environment::Local,
        credentials(),
        window,
        &batch,
    )
    .unwrap();
    // The first chunk is being read (and its first batch handed over) before the fault is armed:
    // it hits the second chunk, after 100 of its lines, once.
    let mut got = sales_of(vec![e.next_batch().await.unwrap().unwrap()]);
    sim.set_faults(vec![StellarFault::ResetMidResult {
        depot: Some("1413".into()),
        after_rows: 100,
        times: Some(1),
    }]);
    let (rest, e) = drain(e).await;
    got.extend(sales_of(rest.unwrap()));
    sort(&mut got);
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);
    let stats = e.stats();
    assert_eq!(stats.errors, 1);
    // Depot, articles, the chunks, and the one retried.
    let chunks = (want.len() as u64 - 1) / 299 + 1;
    assert!(
        stats.requests == 3 + chunks || stats.requests == 4 + chunks,
        "{} {chunks}",
        stats.requests
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn dropping_an_extractor_mid_stream_does_not_hang_and_the_server_moves_on() {
    let sim = start_sim(sim_config()).await;
    let window = Window::day(the_day()).unwrap();
    let store = stellar_store(&sim, "1413", 20_000, false);
    let batch = BatchConfig {
        batch_size: 50,
        ..fast_batch()
    };
    let mut e = StellarSalesExtractor::new(
        StoreId::new("cedi_seco"),
        &store,
        Environment::Local,
        credentials(),
        window,
        &batch,
    )
    .unwrap();
    assert_eq!(e.next_batch().await.unwrap().unwrap().len(), 50);
    drop(e);
    // A query that never answers, abandoned while waiting.
    sim.set_faults(vec![StellarFault::NeverAnswer {
        depot: Some("1413".into()),
        times: Some(1),
    }]);
    let mut e = StellarSalesExtractor::new(
        StoreId::new("cedi_seco"),
        &store,
        Environment::Local,
        credentials(),
        window,
        &batch,
    )
    .unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(300), e.next_batch()).await;
    assert!(waited.is_err(), "the query was to hang");
    drop(e);
    // The simulator serves the next extraction in full.
    let (got, _) = extract_sales(&store, window, &fast_batch()).await;
    assert_eq!(got, expected_sales(&sim, "cedi_seco", "1413", &window));
    sim.shutdown().await;
}

// -------------------------------------------------------------------------------------------
// Through `Fluxion::from_config`, the runner and a SQLite destination.
// -------------------------------------------------------------------------------------------

const STORES: [(&str, &str); 3] = [
    ("cedi_seco", "1413"),
    ("cedi_frio", "1710"),
    ("cedi_verde", "1801"),
];

struct Harness {
    sim: StellarSim,
    /// The server cedi_seco is configured on, when it is not `sim`.
    other: Option<StellarSim>,
    fluxion: Fluxion,
    _dir: tempfile::TempDir,
}

fn stellar_store_toml(id: &str, depot: &str, port: u16, chunk_rows: u32) -> String {
    format!(
        "\n[[stores]]\nid = \"{id}\"\nname = \"{id}\"\nkind = \"cedi\"\n[stores.source]\nsystem = \"stellar\"\n\
         host = {{ local = \"127.0.0.1\" }}\nport = {port}\ndepot = \"{depot}\"\n\
         user_env = \"{USER_ENV}\"\npassword_env = \"{PASSWORD_ENV}\"\n\
         encrypt = {{ local = \"off\", production = \"trust_server_certificate\" }}\nchunk_rows = {chunk_rows}\n"
    )
}

const BATCH: &str = "batch_size = 250\nmax_workers = 3\nconnect_timeout_secs = 2\nrequest_timeout_secs = 2\ninventory_timeout_secs = 2\nretries = 2\nretry_delay_ms = 10";

impl Harness {
    /// Three CEDIs on `sim`; with `other`, cedi_seco is on that server instead.
    async fn start(
        config: StellarSimConfig,
        other: Option<StellarSimConfig>,
        extra: &str,
    ) -> Harness {
        login_in_env();
        let sim = start_sim(config).await;
        let other = match other {
            Some(c) => Some(start_sim(c).await),
            None => None,
        };
        let dir = tempfile::tempdir().unwrap();
        let mut toml = format!(
            "[destination]\nurl = \"sqlite://{}\"\n\n[batch]\n{BATCH}\n{extra}",
            dir.path().join("stellar.db").display(),
        );
        for (id, depot) in STORES {
            let port = match (&other, id) {
                (Some(o), "cedi_seco") => o.addr().port(),
                _ => sim.addr().port(),
            };
            toml.push_str(&stellar_store_toml(id, depot, port, 300));
        }
        let config = Config::from_toml_str(&toml, "stellar-test").unwrap();
        let fluxion = Fluxion::from_config(config).await.unwrap();
        Harness {
            sim,
            other,
            fluxion,
            _dir: dir,
        }
    }

    async fn default() -> Harness {
        Self::start(sim_config(), None, "").await
    }

    async fn view(&self, request: RunRequest) -> ExecutionView {
        let report = self.fluxion.run(request).await.unwrap();
        self.fluxion
            .tracker_store()
            .execution(report.execution_id)
            .await
            .unwrap()
            .unwrap()
    }

    async fn run_sales(&self) -> ExecutionView {
        self.view(RunRequest::days(DataKind::Sales, the_day(), the_day()))
            .await
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

    async fn stored_items(&self, store: &str) -> i64 {
        let Destination::Sqlite(db) = self.fluxion.destination() else {
            panic!("sqlite expected");
        };
        sqlx::query_scalar("SELECT COUNT(*) FROM inventory_current WHERE store_id = ?")
            .bind(store)
            .fetch_one(db.pool())
            .await
            .unwrap()
    }

    fn expected_keys(&self, depot: &str) -> Vec<String> {
        let w = Window::day(the_day()).unwrap();
        let mut keys: Vec<String> = self
            .sim
            .tables()
            .expected_sales(depot, w.from, w.to)
            .iter()
            .map(|r| format!("{}|{}", r.receipt, r.line))
            .collect();
        keys.sort();
        keys
    }

    /// cedi_frio and cedi_verde are loaded in full.
    async fn others_loaded(&self, view: &ExecutionView) {
        for (id, depot) in STORES.iter().skip(1) {
            let d = detail(view, id);
            assert_eq!(d.status, "success", "{id}: {:?}", d.error_message);
            assert_eq!(self.stored(id).await, self.expected_keys(depot), "{id}");
        }
    }
}

fn detail<'a>(view: &'a ExecutionView, store: &str) -> &'a StoreDetailView {
    view.tiendas_detail
        .iter()
        .find(|d| d.tienda_id == store)
        .unwrap_or_else(|| panic!("no detail for {store}"))
}

/// cedi_seco failed in `phase`/`category`, nothing of it is loaded, the others are.
async fn assert_seco_failed(
    h: &Harness,
    view: &ExecutionView,
    phase: Phase,
    category: ErrorCategory,
) {
    let d = detail(view, "cedi_seco");
    assert_eq!(d.status, "failed", "{:?}", d.error_message);
    assert_eq!(
        d.error_phase.as_deref(),
        Some(phase.as_str()),
        "{:?}",
        d.error_message
    );
    assert_eq!(
        d.error_category.as_deref(),
        Some(category.as_str()),
        "{:?}",
        d.error_message
    );
    assert_eq!(d.source_system.as_deref(), Some("stellar"));
    assert_eq!(d.server_ip.as_deref(), Some("127.0.0.1"));
    assert!(
        h.stored("cedi_seco").await.is_empty(),
        "nothing of a failed window is committed"
    );
    assert_eq!(view.status, "partial");
    h.others_loaded(view).await;
    let message = d.error_message.clone().unwrap_or_default();
    assert!(!message.contains(PASSWORD), "{message}");
}

#[tokio::test]
async fn a_clean_run_loads_every_cedi_with_diagnostics_and_again_is_a_no_op() {
    let h = Harness::default().await;
    let view = h.run_sales().await;
    assert_eq!(view.status, "success");
    assert_eq!(view.source_system.as_deref(), Some("stellar"));
    for (id, depot) in STORES {
        let d = detail(&view, id);
        assert_eq!(d.status, "success", "{:?}", d.error_message);
        assert_eq!(h.stored(id).await, h.expected_keys(depot));
        assert_eq!(d.records_loaded as usize, h.expected_keys(depot).len());
        assert_eq!(d.server_port, Some(i32::from(h.sim.addr().port())));
        assert!(d.connection_latency_ms.is_some());
    }
    let again = h.run_sales().await;
    assert_eq!(again.status, "success");
    assert_eq!(again.records_loaded, 0);

    let view = h.view(RunRequest::inventory()).await;
    assert_eq!(view.status, "success");
    for (id, depot) in STORES {
        assert_eq!(
            h.stored_items(id).await as usize,
            h.sim.tables().expected_inventory(depot).len(),
            "{id}"
        );
    }
}

#[tokio::test]
async fn a_refused_connection_is_db_connection_and_other_servers_are_unaffected() {
    let bad = StellarSimConfig {
        faults: vec![StellarFault::RefuseConnections],
        ..sim_config()
    };
    let h = Harness::start(sim_config(), Some(bad), "").await;
    let other = h.other.as_ref().unwrap();
    other.wait_listening(false).await;
    let view = h.run_sales().await;
    assert_seco_failed(&h, &view, Phase::Extract, ErrorCategory::DbConnection).await;
    // Retried: three connects, no query.
    assert_eq!(other.queries(), 0);
    assert_eq!(view.api_errors_count, Some(3));
    let d = detail(&view, "cedi_seco");
    assert_eq!(d.server_port, Some(i32::from(other.addr().port())));
    assert_eq!(d.connection_latency_ms, None);
}

#[tokio::test]
async fn a_refused_login_is_db_connection_and_is_not_retried() {
    let bad = StellarSimConfig {
        faults: vec![StellarFault::LoginFailure],
        ..sim_config()
    };
    let h = Harness::start(sim_config(), Some(bad), "").await;
    let view = h.run_sales().await;
    assert_seco_failed(&h, &view, Phase::Extract, ErrorCategory::DbConnection).await;
    let d = detail(&view, "cedi_seco");
    assert!(
        d.error_message.as_deref().unwrap_or("").contains("18456"),
        "{:?}",
        d.error_message
    );
    assert_eq!(h.other.as_ref().unwrap().queries(), 0);
    // One login attempt: the execution counts one failed request for the store.
    assert_eq!(view.api_errors_count, Some(1));
}

#[tokio::test]
async fn a_reset_mid_result_is_a_network_error_with_nothing_committed() {
    let h = Harness::default().await;
    h.sim.set_faults(vec![StellarFault::ResetMidResult {
        depot: Some("1413".into()),
        after_rows: 120,
        times: None,
    }]);
    let view = h.run_sales().await;
    assert_seco_failed(&h, &view, Phase::Extract, ErrorCategory::NetworkError).await;
    assert_eq!(view.api_errors_count, Some(3));
}

#[tokio::test]
async fn a_reset_once_resumes_where_it_stopped_and_loads_the_window_once() {
    let h = Harness::default().await;
    h.sim.set_faults(vec![StellarFault::ResetMidResult {
        depot: Some("1413".into()),
        after_rows: 120,
        times: Some(1),
    }]);
    let view = h.run_sales().await;
    assert_eq!(view.status, "success");
    let d = detail(&view, "cedi_seco");
    assert_eq!(h.stored("cedi_seco").await, h.expected_keys("1413"));
    assert_eq!(d.records_extracted as usize, h.expected_keys("1413").len());
    assert_eq!(d.duplicates_skipped, 0);
    assert_eq!(view.api_errors_count, Some(1));
}

#[tokio::test]
async fn a_deadlock_victim_is_retried_once_and_the_window_loads_once() {
    let h = Harness::default().await;
    // The queries a clean run sends, measured on the same data with the same chunk size.
    let before = h.sim.queries();
    for (_, depot) in STORES {
        let store = stellar_store(&h.sim, depot, 300, true);
        extract_sales(&store, Window::day(the_day()).unwrap(), &fast_batch()).await;
    }
    let clean = h.sim.queries() - before;
    h.sim.set_faults(vec![StellarFault::Deadlock {
        depot: Some("1413".into()),
        after_rows: 150,
        times: Some(1),
    }]);
    let before = h.sim.queries();
    let view = h.run_sales().await;
    assert_eq!(view.status, "success");
    let d = detail(&view, "cedi_seco");
    assert_eq!(d.status, "success");
    assert_eq!(h.stored("cedi_seco").await, h.expected_keys("1413"));
    assert_eq!(d.records_extracted as usize, h.expected_keys("1413").len());
    assert_eq!(d.duplicates_skipped, 0);
    assert_eq!(view.api_errors_count, Some(1));
    // Retried once: the failed query again — and, when the deadlock hit the articles (read
    // beside the first lines), the lines query it interrupted.
    let during = h.sim.queries() - before;
    assert!(
        during == clean + 1 || during == clean + 2,
        "{during} {clean}"
    );
    h.others_loaded(&view).await;
}

#[tokio::test]
async fn a_server_error_is_db_error_and_a_name_error_is_not_retried() {
    let h = Harness::default().await;
    h.sim.set_faults(vec![StellarFault::SqlError {
        depot: Some("1413".into()),
        number: 208,
        class: 16,
        message: "Invalid object name 'VAD20.dbo.MA_TRANSACCION'.".into(),
        after_rows: 0,
        times: None,
    }]);
    let view = h.run_sales().await;
    assert_seco_failed(&h, &view, Phase::Extract, ErrorCategory::DbError).await;
    assert_eq!(view.api_errors_count, Some(1));
}

#[tokio::test]
async fn a_query_that_never_answers_is_db_timeout() {
    let h = Harness::default().await;
    h.sim.set_faults(vec![StellarFault::NeverAnswer {
        depot: Some("1413".into()),
        times: None,
    }]);
    let view = h.run_sales().await;
    assert_seco_failed(&h, &view, Phase::Extract, ErrorCategory::DbTimeout).await;
    assert_eq!(view.api_errors_count, Some(3));
}

#[tokio::test]
async fn slow_rows_within_the_command_timeout_load() {
    let h = Harness::default().await;
    h.sim.set_faults(vec![StellarFault::SlowRows {
        depot: Some("1413".into()),
        delay_ms: 5,
        times: None,
    }]);
    let view = h.run_sales().await;
    assert_eq!(view.status, "success");
    assert_eq!(h.stored("cedi_seco").await, h.expected_keys("1413"));
}

#[tokio::test]
async fn rows_slower_than_the_command_timeout_are_db_timeout() {
    let h = Harness::default().await;
    h.sim.set_faults(vec![StellarFault::SlowRows {
        depot: Some("1413".into()),
        delay_ms: 2_500,
        times: None,
    }]);
    let view = h.run_sales().await;
    assert_seco_failed(&h, &view, Phase::Extract, ErrorCategory::DbTimeout).await;
}

#[tokio::test]
async fn an_inventory_reset_fails_only_that_depot() {
    let h = Harness::default().await;
    h.sim.set_faults(vec![StellarFault::ResetMidResult {
        depot: Some("1413".into()),
        after_rows: 100,
        times: None,
    }]);
    let view = h.view(RunRequest::inventory()).await;
    let d = detail(&view, "cedi_seco");
    assert_eq!(d.error_category.as_deref(), Some("network_error"));
    assert_eq!(h.stored_items("cedi_seco").await, 0);
    assert_eq!(view.status, "partial");
    for (id, depot) in STORES.iter().skip(1) {
        assert_eq!(detail(&view, id).status, "success");
        assert_eq!(
            h.stored_items(id).await as usize,
            h.sim.tables().expected_inventory(depot).len()
        );
    }
}

#[tokio::test]
async fn klk_and_stellar_stores_load_in_one_run_into_one_destination() {
    login_in_env();
    let stellar = start_sim(sim_config()).await;
    let klk = KlkSim::start(
        KlkSimConfig {
            lines_per_day: (300, 450),
            ..KlkSimConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut toml = format!(
        "[destination]\nurl = \"sqlite://{}\"\n\n[batch]\n{BATCH}\n\n[klk]\nbase_url = \"{}\"\n\
         \n[[stores]]\nid = \"tienda_01\"\nname = \"PERIFERICO\"\n[stores.source]\nsystem = \"klk\"\n\
         branch = \"SUC001\"\nwarehouse = \"APP-TPF\"\n",
        dir.path().join("mixed.db").display(),
        klk.base_url()
    );
    toml.push_str(&stellar_store_toml(
        "cedi_seco",
        "1413",
        stellar.addr().port(),
        20_000,
    ));
    let fluxion = Fluxion::from_config(Config::from_toml_str(&toml, "mixed").unwrap())
        .await
        .unwrap();
    let report = fluxion
        .run(RunRequest::days(DataKind::Sales, the_day(), the_day()))
        .await
        .unwrap();
    let view = fluxion
        .tracker_store()
        .execution(report.execution_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.status, "success", "{:?}", view.error_message);
    assert_eq!(view.source_system.as_deref(), Some("mixed"));
    let systems: BTreeMap<&str, Option<&str>> = view
        .tiendas_detail
        .iter()
        .map(|d| (d.tienda_id.as_str(), d.source_system.as_deref()))
        .collect();
    assert_eq!(systems["tienda_01"], Some("klk"));
    assert_eq!(systems["cedi_seco"], Some("stellar"));
    let Destination::Sqlite(db) = fluxion.destination() else {
        panic!("sqlite expected");
    };
    let per_store: Vec<(String, i64)> = sqlx::query_as(
        "SELECT store_id, COUNT(*) FROM sales_lines GROUP BY store_id ORDER BY store_id",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    let w = Window::day(the_day()).unwrap();
    let stellar_lines = stellar.tables().expected_sales("1413", w.from, w.to).len() as i64;
    assert_eq!(per_store.len(), 2, "{per_store:?}");
    assert_eq!(per_store[0], ("cedi_seco".to_owned(), stellar_lines));
    assert_eq!(per_store[1].0, "tienda_01");
    assert!(per_store[1].1 > 200);
    // Both details name the system they came from in the tracker's table too.
    let sources: Vec<(String, String)> = sqlx::query_as(
        "SELECT tienda_id, source_system FROM etl_execution_details WHERE execution_id = ? ORDER BY tienda_id",
    )
    .bind(report.execution_id)
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert_eq!(
        sources,
        vec![
            ("cedi_seco".to_owned(), "stellar".to_owned()),
            ("tienda_01".to_owned(), "klk".to_owned())
        ]
    );
}
