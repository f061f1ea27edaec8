//! The HTTP server: KLK's five endpoints, the admin endpoints, and the streaming, fault-aware body.
//!
//! Bodies are produced lazily in chunks of `chunk_bytes`: a response is a head (`{"meta":…,"ventas":[`),
//! elements encoded on demand from the compact store-day, and a tail (`]}`). Faults that work on the
//! JSON (malformed element, truncation mid-array) act on elements; faults that work on the transport
//! (reset, stall, slow drip) act on bytes.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::config::{BranchKind, KlkSimConfig, KlkSimError, SimBranch};
use super::data::{
    generate_day, inventory_stock, to_article, to_sale, Catalog, DayData, SimArticle, SimSale,
    StockRec, TICKS_PER_DAY, TICKS_PER_SECOND,
};
use super::faults::{Endpoint, Fault, FaultRule, FaultSet, Plan};
use super::json;

/// Longest `/ventas` date range served in one request; longer ranges answer 400. (The generated days
/// of a request are held while it streams, about 1 MB per store-day.)
pub const MAX_RANGE_DAYS: i64 = 92;

/// Caracas is UTC−4 all year (no daylight saving time).
const CARACAS_OFFSET_HOURS: i64 = 4;

/// A running KLK simulator. Dropping it stops the server too; [`shutdown`](Self::shutdown) also waits.
#[derive(Debug)]
pub struct KlkSim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: Option<JoinHandle<io::Result<()>>>,
}

/// Recently served store-days, most recent first.
type DayCache = VecDeque<((String, NaiveDate), Arc<DayData>)>;

/// A store-day's lines encoded once: `,line0,line1,…` (every line preceded by a comma, so a run of
/// lines can be sent with or without its leading separator), and where each line ends.
#[derive(Debug)]
struct EncodedDay {
    bytes: Bytes,
    ends: Vec<u32>,
}

impl EncodedDay {
    fn new(day: &DayData, branch: &SimBranch, catalog: &Catalog) -> Self {
        let encoder = json::LineEncoder::new(day, branch);
        let mut bytes = Vec::with_capacity(day.lines.len() * 1_450);
        let mut ends = Vec::with_capacity(day.lines.len());
        for rec in &day.lines {
            bytes.push(b',');
            encoder.encode(&mut bytes, rec, day, catalog);
            ends.push(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
        }
        Self {
            bytes: Bytes::from(bytes),
            ends,
        }
    }

    /// Byte range of line `i`, without its leading comma.
    fn line(&self, i: usize) -> std::ops::Range<usize> {
        let start = if i == 0 {
            1
        } else {
            self.ends[i - 1] as usize + 1
        };
        start..self.ends[i] as usize
    }
}

/// Encoded store-days, most recent first, within a byte budget.
#[derive(Debug, Default)]
struct EncodedCache {
    /// Most recently used first, with the time of that use.
    entries: VecDeque<((String, NaiveDate), Arc<EncodedDay>, Instant)>,
    bytes: usize,
}

/// An encoded day used this recently is never evicted to make room: with more hot days than the budget
/// holds (20 stores fetched round-robin), evicting would re-encode on every request, which costs more
/// than not caching. The days that do not fit are encoded on the fly instead.
const ENCODED_MIN_AGE: Duration = Duration::from_secs(60);

impl EncodedCache {
    /// Evicts cold entries until `size` more bytes fit in `budget`; `false` if they cannot.
    fn make_room(&mut self, size: usize, budget: usize, now: Instant) -> bool {
        while self.bytes + size > budget {
            match self.entries.back() {
                Some((_, _, used)) if now.duration_since(*used) >= ENCODED_MIN_AGE => {
                    if let Some((_, old, _)) = self.entries.pop_back() {
                        self.bytes -= old.bytes.len();
                    }
                }
                _ => return false,
            }
        }
        true
    }
}

#[derive(Debug)]
struct Shared {
    config: KlkSimConfig,
    catalog: Arc<Catalog>,
    faults: FaultSet,
    requests: AtomicU64,
    cache: Mutex<DayCache>,
    encoded: Mutex<EncodedCache>,
    cancel: CancellationToken,
}

impl KlkSim {
    /// Validates `config`, binds `bind` (use `127.0.0.1:0` for a free port) and serves in the background
    /// on the current Tokio runtime.
    pub async fn start(config: KlkSimConfig, bind: SocketAddr) -> io::Result<KlkSim> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        if !bind.ip().is_loopback() {
            tracing::warn!(%bind, "The KLK simulator is listening beyond loopback.");
        }
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let catalog = {
            let (seed, count) = (config.seed, config.articles);
            tokio::task::spawn_blocking(move || Catalog::new(seed, count))
                .await
                .map_err(io::Error::other)?
        };
        let shared = Arc::new(Shared {
            faults: FaultSet::new(config.faults.clone()),
            config,
            catalog: Arc::new(catalog),
            requests: AtomicU64::new(0),
            cache: Mutex::new(VecDeque::new()),
            encoded: Mutex::new(EncodedCache::default()),
            cancel: CancellationToken::new(),
        });
        let app = router(shared.clone());
        let cancel = shared.cancel.clone();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(cancel.cancelled_owned())
                .await
        });
        tracing::info!(%addr, "KLK simulator listening.");
        Ok(KlkSim {
            addr,
            shared,
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The configuration being served (with the faults it started with).
    pub fn config(&self) -> &KlkSimConfig {
        &self.shared.config
    }

    /// Replaces the fault rules (and restarts their `times` counters).
    pub fn set_faults(&self, rules: Vec<FaultRule>) {
        self.shared.faults.replace(rules);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.shared.faults.replace(Vec::new());
    }

    /// The current fault rules.
    pub fn faults(&self) -> Vec<FaultRule> {
        self.shared.faults.list()
    }

    /// Requests received on KLK's endpoints since start (admin requests excluded), whatever their
    /// outcome: a request answered 503, or hung, counts.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// Stops accepting, ends hung and stalled responses, and waits (up to 5 s) for open responses.
    pub async fn shutdown(mut self) {
        self.shared.cancel.cancel();
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for KlkSim {
    fn drop(&mut self) {
        self.shared.cancel.cancel();
    }
}

/// Serves `fluxion sim klk`: loads `config_path` (or the defaults), listens on `bind` until Ctrl-C.
pub async fn run_from_cli(bind: SocketAddr, config_path: Option<&Path>) -> Result<(), KlkSimError> {
    let config = match config_path {
        Some(path) => KlkSimConfig::from_file(path)?,
        None => KlkSimConfig::default(),
    };
    let sim = KlkSim::start(config, bind)
        .await
        .map_err(|source| KlkSimError::Serve { addr: bind, source })?;
    tracing::info!(url = %sim.base_url(), "KLK simulator ready; Ctrl-C stops it.");
    let stopped = tokio::signal::ctrl_c().await;
    sim.shutdown().await;
    stopped.map_err(|source| KlkSimError::Serve { addr: bind, source })
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/maestra/almacenes/Reposicion", get(almacenes_reposicion))
        .route("/maestra/almacenes/pisoventa", get(almacenes_pisoventa))
        .route("/maestra/articulos/almacen", post(articulos_almacen))
        .route("/maestra/articulos/reposicion", post(articulos_reposicion))
        .route("/ventas", post(ventas))
        .route(
            "/__admin/faults",
            put(admin_put_faults)
                .get(admin_get_faults)
                .delete(admin_delete_faults),
        )
        .route("/__admin/stats", get(admin_stats))
        .with_state(shared)
}

// ---------------------------------------------------------------------------------------------------
// Sales query semantics (shared by the server and `sales_for_request`)

/// A `/ventas` request, with the server's interpretation.
///
/// - Dates: every day from `fecha_desde` to `fecha_hasta`, both included; `fecha_hasta` before
///   `fecha_desde` selects nothing. At most [`MAX_RANGE_DAYS`] days.
/// - Hours bound the *span*, not each day: `hora_desde` applies to the first day only and `hora_hasta` to
///   the last day only; days in between are whole. Missing hours mean 00:00 and the end of the day.
/// - `hora_hasta` is **inclusive of its whole last unit**, like a lax vendor comparing truncated times:
///   `12:20` keeps lines up to 12:20:59.9999999, `12:20:30` up to 12:20:30.9999999. Clients must filter
///   to their exact half-open window themselves.
/// - `almacen` keeps only lines of that warehouse; without it the lines of every warehouse of the
///   branch come back (returns booked on another warehouse included).
/// - `CodArticulo` keeps only that article.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesQuery {
    /// `sucursal`, e.g. `SUC001`.
    pub sucursal: String,
    /// `fecha_desde`.
    pub fecha_desde: NaiveDate,
    /// `fecha_hasta`.
    pub fecha_hasta: NaiveDate,
    /// `hora_desde` as sent: `HH:MM`, `HH:MM:SS` or `HH:MM:SS.fffffff`.
    pub hora_desde: Option<String>,
    /// `hora_hasta` as sent.
    pub hora_hasta: Option<String>,
    /// `almacen`.
    pub almacen: Option<String>,
    /// `CodArticulo`.
    pub cod_articulo: Option<String>,
}

impl SalesQuery {
    /// The whole of one day for one branch, every warehouse.
    pub fn day(sucursal: impl Into<String>, date: NaiveDate) -> Self {
        Self {
            sucursal: sucursal.into(),
            fecha_desde: date,
            fecha_hasta: date,
            hora_desde: None,
            hora_hasta: None,
            almacen: None,
            cod_articulo: None,
        }
    }

    fn plan(&self, config: &KlkSimConfig, catalog: &Catalog) -> Result<Vec<DayFilter>, String> {
        let start = match self.hora_desde.as_deref() {
            Some(h) => parse_hora(h)?.0,
            None => 0,
        };
        let end = match self.hora_hasta.as_deref() {
            Some(h) => {
                let (t, unit) = parse_hora(h)?;
                (t + unit).min(TICKS_PER_DAY)
            }
            None => TICKS_PER_DAY,
        };
        if self.fecha_hasta < self.fecha_desde {
            return Ok(Vec::new());
        }
        let days = (self.fecha_hasta - self.fecha_desde).num_days() + 1;
        if days > MAX_RANGE_DAYS {
            return Err(format!(
                "el rango de fechas no puede superar {MAX_RANGE_DAYS} dias"
            ));
        }
        let branch = config.branch(&self.sucursal);
        let warehouse = match (&self.almacen, branch) {
            (None, _) => WarehouseFilter::Any,
            (Some(code), Some(b)) if *code == b.warehouse => WarehouseFilter::Index(0),
            (Some(code), Some(b)) => b
                .other_warehouses
                .iter()
                .position(|w| w.code == *code)
                .map_or(WarehouseFilter::Nothing, |i| {
                    WarehouseFilter::Index(i as u8 + 1)
                }),
            (Some(_), None) => WarehouseFilter::Nothing,
        };
        let article = match &self.cod_articulo {
            None => ArticleFilter::Any,
            Some(code) => catalog
                .articles
                .iter()
                .position(|a| a.code == *code)
                .map_or(ArticleFilter::Nothing, |i| ArticleFilter::Index(i as u32)),
        };
        Ok(self
            .fecha_desde
            .iter_days()
            .take(days as usize)
            .map(|date| DayFilter {
                date,
                from: if date == self.fecha_desde { start } else { 0 },
                to: if date == self.fecha_hasta {
                    end
                } else {
                    TICKS_PER_DAY
                },
                warehouse,
                article,
            })
            .collect())
    }
}

/// Parses `HH:MM`, `HH:MM:SS` or `HH:MM:SS.f…` into (ticks, length of its last unit in ticks).
fn parse_hora(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("hora invalida: {text:?} (se espera HH:MM o HH:MM:SS)");
    let (hms, frac) = match text.split_once('.') {
        Some((hms, frac)) => (hms, Some(frac)),
        None => (text, None),
    };
    let parts: Vec<&str> = hms.split(':').collect();
    let field = |s: &str, max: u64| -> Result<u64, String> {
        if s.is_empty() || s.len() > 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let v: u64 = s.parse().map_err(|_| bad())?;
        if v > max {
            return Err(bad());
        }
        Ok(v)
    };
    let (h, m, s, unit) = match parts.as_slice() {
        [h, m] if frac.is_none() => (field(h, 24)?, field(m, 59)?, 0, 60 * TICKS_PER_SECOND),
        [h, m, s] => (
            field(h, 24)?,
            field(m, 59)?,
            field(s, 59)?,
            TICKS_PER_SECOND,
        ),
        _ => return Err(bad()),
    };
    let mut ticks = (h * 3600 + m * 60 + s) * TICKS_PER_SECOND;
    let mut unit = unit;
    if let Some(frac) = frac {
        if frac.is_empty() || frac.len() > 7 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        unit = 10u64.pow(7 - frac.len() as u32);
        let digits: u64 = frac.parse().map_err(|_| bad())?;
        ticks += digits * unit;
    }
    if ticks > TICKS_PER_DAY {
        return Err(bad());
    }
    Ok((ticks, unit))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WarehouseFilter {
    Any,
    Index(u8),
    Nothing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArticleFilter {
    Any,
    Index(u32),
    Nothing,
}

#[derive(Debug, Clone, Copy)]
struct DayFilter {
    date: NaiveDate,
    from: u64,
    to: u64,
    warehouse: WarehouseFilter,
    article: ArticleFilter,
}

impl DayFilter {
    fn keeps(&self, rec: &super::data::LineRec) -> bool {
        rec.ticks >= self.from
            && rec.ticks < self.to
            && match self.warehouse {
                WarehouseFilter::Any => true,
                WarehouseFilter::Index(i) => rec.warehouse == i,
                WarehouseFilter::Nothing => false,
            }
            && match self.article {
                ArticleFilter::Any => true,
                ArticleFilter::Index(i) => rec.article == i,
                ArticleFilter::Nothing => false,
            }
    }
}

/// The exact sales lines the simulator serves for `branch` on `date` (every warehouse of the branch,
/// the whole day, in the order served). Empty for closed days and unknown branches.
///
/// A `/ventas` request that names the sales-floor `almacen` gets the lines whose `codigo_almacen` is
/// that warehouse; for the default chain only `SUC001` has lines on another warehouse (returns).
pub fn sales_for_day(config: &KlkSimConfig, branch: &str, date: NaiveDate) -> Vec<SimSale> {
    let catalog = Catalog::new(config.seed, config.articles);
    let Some(b) = config.branch(branch) else {
        return Vec::new();
    };
    let day = generate_day(config, &catalog, branch, date);
    day.lines
        .iter()
        .map(|rec| to_sale(rec, &day, b, &catalog))
        .collect()
}

/// The exact sales lines the server answers to `query` (see [`SalesQuery`] for the semantics).
pub fn sales_for_request(
    config: &KlkSimConfig,
    query: &SalesQuery,
) -> Result<Vec<SimSale>, KlkSimError> {
    let catalog = Catalog::new(config.seed, config.articles);
    let filters = query.plan(config, &catalog).map_err(KlkSimError::Invalid)?;
    let Some(b) = config.branch(&query.sucursal) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for filter in filters {
        let day = generate_day(config, &catalog, &query.sucursal, filter.date);
        out.extend(
            day.lines
                .iter()
                .filter(|rec| filter.keeps(rec))
                .map(|rec| to_sale(rec, &day, b, &catalog)),
        );
    }
    Ok(out)
}

/// The inventory the simulator serves for `warehouse` when its clock reads `date` (one entry per
/// article the warehouse carries; `CONS` sums every store). Empty for unknown warehouses.
pub fn inventory_for(config: &KlkSimConfig, warehouse: &str, date: NaiveDate) -> Vec<SimArticle> {
    let catalog = Catalog::new(config.seed, config.articles);
    inventory_stock(config, &catalog, &[warehouse.to_owned()], date)
        .iter()
        .map(|rec| to_article(rec, &catalog))
        .collect()
}

// ---------------------------------------------------------------------------------------------------
// Handlers

impl Shared {
    fn now(&self) -> DateTime<Utc> {
        self.config.fixed_clock.unwrap_or_else(Utc::now)
    }

    fn today(&self) -> NaiveDate {
        (self.now() - chrono::Duration::hours(CARACAS_OFFSET_HOURS)).date_naive()
    }

    fn count(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Branch and warehouse codes a request concerns, for fault matching.
    fn keys_for_branches<'a>(&'a self, branches: &'a [String]) -> Vec<&'a str> {
        let mut keys: Vec<&str> = Vec::new();
        for code in branches {
            keys.push(code);
            if let Some(b) = self.config.branch(code) {
                keys.push(&b.warehouse);
                keys.extend(b.other_warehouses.iter().map(|w| w.code.as_str()));
            }
        }
        keys
    }

    fn keys_for_warehouses<'a>(&'a self, warehouses: &'a [String]) -> Vec<&'a str> {
        let mut keys: Vec<&str> = Vec::new();
        for code in warehouses {
            keys.push(code);
            if let Some(b) = self.config.branch_of_warehouse(code) {
                keys.push(&b.branch);
            }
        }
        keys
    }

    /// The generated store-day, and whether it was already cached (a repeated request).
    async fn day(self: &Arc<Self>, branch: &str, date: NaiveDate) -> (Arc<DayData>, bool) {
        let key = (branch.to_owned(), date);
        {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(pos) = cache.iter().position(|(k, _)| *k == key) {
                if let Some(entry) = cache.remove(pos) {
                    let day = entry.1.clone();
                    cache.push_front(entry);
                    return (day, true);
                }
            }
        }
        let shared = self.clone();
        let branch_owned = branch.to_owned();
        let generated = tokio::task::spawn_blocking(move || {
            Arc::new(generate_day(
                &shared.config,
                &shared.catalog,
                &branch_owned,
                date,
            ))
        })
        .await;
        let day = match generated {
            Ok(day) => day,
            // Only a panic in the generator gets here; generate inline so the error surfaces again.
            Err(_) => Arc::new(generate_day(&self.config, &self.catalog, branch, date)),
        };
        if self.config.cache_days > 0 {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if !cache.iter().any(|(k, _)| *k == key) {
                cache.push_front((key, day.clone()));
                cache.truncate(self.config.cache_days);
            }
        }
        (day, false)
    }

    /// The encoded form of a store-day requested again: from the cache, or encoded now (off the
    /// async threads) and kept within the budget. `None` for days seen once, or with the cache off.
    async fn encoded_day(
        self: &Arc<Self>,
        branch: &SimBranch,
        day: &Arc<DayData>,
        repeated: bool,
    ) -> Option<Arc<EncodedDay>> {
        let budget = self.config.encoded_cache_mb.saturating_mul(1 << 20);
        if budget == 0 || day.lines.is_empty() {
            return None;
        }
        let key = (branch.branch.clone(), day.date);
        let now = Instant::now();
        {
            let mut cache = self.encoded.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(pos) = cache.entries.iter().position(|(k, _, _)| *k == key) {
                let (key, encoded, _) = cache.entries.remove(pos)?;
                cache.entries.push_front((key, encoded.clone(), now));
                return Some(encoded);
            }
            // About 1.4 kB per line: do not spend the encoding on a day the cache cannot keep.
            let estimate = day.lines.len() * 1_400;
            if !repeated || !cache.make_room(estimate, budget, now) {
                return None;
            }
        }
        let (shared, branch, day) = (self.clone(), branch.clone(), day.clone());
        let encoded = tokio::task::spawn_blocking(move || {
            Arc::new(EncodedDay::new(&day, &branch, &shared.catalog))
        })
        .await
        .ok()?;
        let mut cache = self.encoded.lock().unwrap_or_else(|e| e.into_inner());
        let size = encoded.bytes.len();
        if !cache.entries.iter().any(|(k, _, _)| *k == key) && cache.make_room(size, budget, now) {
            cache.bytes += size;
            cache.entries.push_front((key, encoded.clone(), now));
        }
        Some(encoded)
    }

    /// Applies the plan's latency; `false` if the simulator shut down meanwhile.
    async fn delay(&self, plan: &Plan) -> bool {
        if plan.latency_ms == 0 {
            return true;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(plan.latency_ms)) => true,
            () = self.cancel.cancelled() => false,
        }
    }

    /// Answers a response-deciding fault that replaces the whole response, if the plan has one.
    async fn short_circuit(&self, plan: &Plan) -> Option<Response> {
        if !self.delay(plan).await {
            return Some(shutting_down());
        }
        match plan.response.as_ref()? {
            Fault::Status { code } => {
                let status =
                    StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                Some(
                    (
                        status,
                        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                        status.canonical_reason().unwrap_or("Error").to_owned(),
                    )
                        .into_response(),
                )
            }
            Fault::ErrorBody { message } => {
                let mut body = b"{\"error\":".to_vec();
                json::put_str(&mut body, message);
                body.push(b'}');
                Some(json_response(StatusCode::OK, body))
            }
            Fault::Hang => {
                self.cancel.cancelled().await;
                Some(shutting_down())
            }
            _ => None,
        }
    }
}

fn shutting_down() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "simulator shutting down").into_response()
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

fn bad_request(message: &str) -> Response {
    let mut body = b"{\"error\":".to_vec();
    json::put_str(&mut body, message);
    body.push(b'}');
    json_response(StatusCode::BAD_REQUEST, body)
}

async fn almacenes_reposicion(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    shared.count();
    let filter: Vec<String> = params
        .get("sucursal")
        .filter(|s| !s.is_empty())
        .cloned()
        .into_iter()
        .collect();
    let plan = shared.faults.plan(
        Endpoint::AlmacenesReposicion,
        &shared.keys_for_branches(&filter),
    );
    if let Some(response) = shared.short_circuit(&plan).await {
        return response;
    }
    let mut list = EncodedList::default();
    for b in shared.config.stores.iter().filter(|b| {
        b.kind != BranchKind::Consolidated && filter.first().is_none_or(|f| *f == b.branch)
    }) {
        list.push(|out| json::put_warehouse(out, b, &b.warehouse, &b.warehouse_name));
        for w in &b.other_warehouses {
            list.push(|out| json::put_warehouse(out, b, &w.code, &w.name));
        }
    }
    stream_response(&shared, &plan, b"[".to_vec(), Elements::Encoded(list), b"]")
}

async fn almacenes_pisoventa(State(shared): State<Arc<Shared>>) -> Response {
    shared.count();
    let plan = shared.faults.plan(Endpoint::AlmacenesPisoventa, &[]);
    if let Some(response) = shared.short_circuit(&plan).await {
        return response;
    }
    let mut list = EncodedList::default();
    for b in shared
        .config
        .stores
        .iter()
        .filter(|b| b.kind != BranchKind::DistributionCentre)
    {
        list.push(|out| json::put_warehouse(out, b, &b.warehouse, &b.warehouse_name));
    }
    stream_response(&shared, &plan, b"[".to_vec(), Elements::Encoded(list), b"]")
}

/// A string or a list of strings, as KLK's inventory endpoints accept.
fn one_or_many(body: &[u8], key: &str) -> Result<Vec<String>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("cuerpo JSON invalido: {e}"))?;
    match value.get(key) {
        Some(serde_json::Value::String(s)) => Ok(vec![s.clone()]),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{key} debe ser texto o lista de textos"))
            })
            .collect(),
        _ => Err(format!("{key} requerido")),
    }
}

async fn articulos_almacen(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    shared.count();
    let codes = match one_or_many(&body, "Codigoalmacen") {
        Ok(codes) => codes,
        Err(message) => return bad_request(&message),
    };
    let plan = shared.faults.plan(
        Endpoint::ArticulosAlmacen,
        &shared.keys_for_warehouses(&codes),
    );
    if let Some(response) = shared.short_circuit(&plan).await {
        return response;
    }
    let stock = inventory_stock(&shared.config, &shared.catalog, &codes, shared.today());
    // The vendor stringifies the list into the misspelled key: a JSON string holding JSON.
    let filtered = serde_json::to_string(&codes).unwrap_or_else(|_| "[]".into());
    let mut head = b"{\"meta\":{\"almacences_filtrados\":".to_vec();
    json::put_str(&mut head, &filtered);
    inventory_response(&shared, &plan, head, stock)
}

async fn articulos_reposicion(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    shared.count();
    let branches = match one_or_many(&body, "CodigoSucursal") {
        Ok(codes) => codes,
        Err(message) => return bad_request(&message),
    };
    let plan = shared.faults.plan(
        Endpoint::ArticulosReposicion,
        &shared.keys_for_branches(&branches),
    );
    if let Some(response) = shared.short_circuit(&plan).await {
        return response;
    }
    let warehouses: Vec<String> = branches
        .iter()
        .filter_map(|code| shared.config.branch(code))
        .map(|b| b.warehouse.clone())
        .collect();
    let stock = inventory_stock(&shared.config, &shared.catalog, &warehouses, shared.today());
    let mut head = b"{\"meta\":{\"tiendas_filtradas\":[".to_vec();
    for (i, code) in branches.iter().enumerate() {
        if i > 0 {
            head.push(b',');
        }
        json::put_str(&mut head, code);
    }
    head.push(b']');
    inventory_response(&shared, &plan, head, stock)
}

fn inventory_response(
    shared: &Arc<Shared>,
    plan: &Plan,
    meta_start: Vec<u8>,
    stock: Vec<StockRec>,
) -> Response {
    let elements = Elements::Stock {
        stock,
        catalog: shared.catalog.clone(),
        pos: 0,
    };
    if shared.config.legacy_inventory_shape {
        return stream_response(shared, plan, b"[".to_vec(), elements, b"]");
    }
    let mut head = meta_start;
    head.extend_from_slice(b",\"total_articulos\":");
    head.extend_from_slice(itoa::Buffer::new().format(elements.len()).as_bytes());
    head.extend_from_slice(b",\"fecha_generacion\":");
    json::put_str(&mut head, &json::generated_at(shared.now()));
    head.extend_from_slice(b"},\"articulos\":[");
    stream_response(shared, plan, head, elements, b"]}")
}

/// `/ventas` request body. Every field is optional here so that a missing one gets KLK-style 400
/// rather than axum's rejection.
#[derive(Debug, Deserialize)]
struct VentasBody {
    sucursal: Option<String>,
    fecha_desde: Option<String>,
    fecha_hasta: Option<String>,
    hora_desde: Option<String>,
    hora_hasta: Option<String>,
    almacen: Option<String>,
    #[serde(rename = "CodArticulo")]
    cod_articulo: Option<String>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

fn parse_ventas(body: &[u8]) -> Result<SalesQuery, String> {
    let body: VentasBody =
        serde_json::from_slice(body).map_err(|e| format!("cuerpo JSON invalido: {e}"))?;
    let date = |name: &str, v: Option<String>| -> Result<NaiveDate, String> {
        let v = non_empty(v).ok_or_else(|| format!("{name} requerido"))?;
        NaiveDate::parse_from_str(&v, "%Y-%m-%d")
            .map_err(|_| format!("{name} invalida: {v:?} (se espera AAAA-MM-DD)"))
    };
    Ok(SalesQuery {
        sucursal: non_empty(body.sucursal).ok_or("sucursal requerido")?,
        fecha_desde: date("fecha_desde", body.fecha_desde)?,
        fecha_hasta: date("fecha_hasta", body.fecha_hasta)?,
        hora_desde: non_empty(body.hora_desde),
        hora_hasta: non_empty(body.hora_hasta),
        almacen: non_empty(body.almacen),
        cod_articulo: non_empty(body.cod_articulo),
    })
}

async fn ventas(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    shared.count();
    let query = match parse_ventas(&body) {
        Ok(query) => query,
        Err(message) => return bad_request(&message),
    };
    let filters = match query.plan(&shared.config, &shared.catalog) {
        Ok(filters) => filters,
        Err(message) => return bad_request(&message),
    };
    let mut keys = vec![query.sucursal.as_str()];
    if let Some(almacen) = &query.almacen {
        keys.push(almacen);
    }
    let plan = shared.faults.plan(Endpoint::Ventas, &keys);
    if let Some(response) = shared.short_circuit(&plan).await {
        return response;
    }
    let branch = shared.config.branch(&query.sucursal).cloned();
    let mut parts = Vec::with_capacity(filters.len());
    let mut total = 0usize;
    if let Some(branch) = &branch {
        for filter in filters {
            let (day, repeated) = shared.day(&query.sucursal, filter.date).await;
            let count = day.lines.iter().filter(|rec| filter.keeps(rec)).count();
            if count > 0 {
                total += count;
                parts.push(SalesPart {
                    encoded: shared.encoded_day(branch, &day, repeated).await,
                    encoder: json::LineEncoder::new(&day, branch),
                    day,
                    filter,
                    pos: 0,
                });
            }
        }
    }
    let mut head = b"{\"meta\":{\"sucursal_codigo\":".to_vec();
    json::put_str(&mut head, &query.sucursal);
    head.extend_from_slice(b",\"fecha_desde\":\"");
    head.extend_from_slice(&json::date_text(query.fecha_desde));
    head.extend_from_slice(b"\",\"fecha_hasta\":\"");
    head.extend_from_slice(&json::date_text(query.fecha_hasta));
    head.extend_from_slice(b"\",\"hora_desde\":");
    json::put_str(&mut head, query.hora_desde.as_deref().unwrap_or(""));
    head.extend_from_slice(b",\"hora_hasta\":");
    json::put_str(&mut head, query.hora_hasta.as_deref().unwrap_or(""));
    head.extend_from_slice(b",\"CodArticulo\":");
    json::put_str(&mut head, query.cod_articulo.as_deref().unwrap_or(""));
    head.extend_from_slice(b",\"almacen\":");
    json::put_str(&mut head, query.almacen.as_deref().unwrap_or(""));
    head.extend_from_slice(b",\"total_registros\":");
    head.extend_from_slice(itoa::Buffer::new().format(total).as_bytes());
    head.extend_from_slice(b",\"fecha_generacion\":");
    json::put_str(&mut head, &json::generated_at(shared.now()));
    head.extend_from_slice(b"},\"ventas\":[");
    let elements = Elements::Sales {
        parts,
        current: 0,
        total,
        catalog: shared.catalog.clone(),
    };
    stream_response(&shared, &plan, head, elements, b"]}")
}

async fn admin_put_faults(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let rules: Vec<FaultRule> = match serde_json::from_slice(&body) {
        Ok(rules) => rules,
        Err(e) => return bad_request(&format!("invalid fault list: {e}")),
    };
    if let Some(message) = rules.iter().find_map(|r| r.validate().err()) {
        return bad_request(&message);
    }
    shared.faults.replace(rules);
    admin_get_faults(State(shared)).await
}

async fn admin_get_faults(State(shared): State<Arc<Shared>>) -> Response {
    let body = serde_json::to_vec(&shared.faults.list()).unwrap_or_else(|_| b"[]".to_vec());
    json_response(StatusCode::OK, body)
}

async fn admin_delete_faults(State(shared): State<Arc<Shared>>) -> Response {
    shared.faults.replace(Vec::new());
    StatusCode::NO_CONTENT.into_response()
}

async fn admin_stats(State(shared): State<Arc<Shared>>) -> Response {
    let body = format!(
        "{{\"requests\":{}}}",
        shared.requests.load(Ordering::Relaxed)
    );
    json_response(StatusCode::OK, body.into_bytes())
}

// ---------------------------------------------------------------------------------------------------
// Bodies

/// Small lists encoded up front into one buffer, with element boundaries.
#[derive(Debug, Default)]
struct EncodedList {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    pos: usize,
}

impl EncodedList {
    fn push(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        write(&mut self.bytes);
        self.ends.push(self.bytes.len());
    }
}

struct SalesPart {
    day: Arc<DayData>,
    /// The day already encoded, when it is a repeated request; lines are then sliced, not encoded.
    encoded: Option<Arc<EncodedDay>>,
    encoder: json::LineEncoder,
    filter: DayFilter,
    pos: usize,
}

/// The array elements of a response, produced one at a time.
enum Elements {
    Encoded(EncodedList),
    Stock {
        stock: Vec<StockRec>,
        catalog: Arc<Catalog>,
        pos: usize,
    },
    Sales {
        parts: Vec<SalesPart>,
        current: usize,
        total: usize,
        catalog: Arc<Catalog>,
    },
}

impl Elements {
    fn len(&self) -> usize {
        match self {
            Elements::Encoded(list) => list.ends.len(),
            Elements::Stock { stock, .. } => stock.len(),
            Elements::Sales { total, .. } => *total,
        }
    }

    /// Appends the next element; `false` when there is none left.
    fn next_into(&mut self, out: &mut Vec<u8>) -> bool {
        match self {
            Elements::Encoded(list) => {
                let Some(&end) = list.ends.get(list.pos) else {
                    return false;
                };
                let start = if list.pos == 0 {
                    0
                } else {
                    list.ends[list.pos - 1]
                };
                out.extend_from_slice(&list.bytes[start..end]);
                list.pos += 1;
                true
            }
            Elements::Stock {
                stock,
                catalog,
                pos,
            } => {
                let Some(rec) = stock.get(*pos) else {
                    return false;
                };
                json::put_inventory_article(out, rec, catalog);
                *pos += 1;
                true
            }
            Elements::Sales {
                parts,
                current,
                catalog,
                ..
            } => {
                while let Some(part) = parts.get_mut(*current) {
                    while let Some(rec) = part.day.lines.get(part.pos) {
                        part.pos += 1;
                        if part.filter.keeps(rec) {
                            match &part.encoded {
                                Some(encoded) => out
                                    .extend_from_slice(&encoded.bytes[encoded.line(part.pos - 1)]),
                                None => part.encoder.encode(out, rec, &part.day, catalog),
                            }
                            return true;
                        }
                    }
                    *current += 1;
                }
                false
            }
        }
    }

    /// Whether the next element comes from an encoded store-day (so [`next_run`](Self::next_run) applies).
    fn at_encoded(&mut self) -> bool {
        let Elements::Sales { parts, current, .. } = self else {
            return false;
        };
        // Skip exhausted parts first, so that the answer is about the next element.
        while let Some(part) = parts.get(*current) {
            if part.day.lines[part.pos..]
                .iter()
                .any(|rec| part.filter.keeps(rec))
            {
                return part.encoded.is_some();
            }
            *current += 1;
        }
        false
    }

    /// The next run of consecutive kept lines of an encoded store-day, as one slice of its buffer (no
    /// copy), preceded by its comma when `comma`; about `max` bytes at most (at least one line).
    /// Returns the slice and the number of lines in it.
    fn next_run(&mut self, comma: bool, max: usize) -> Option<(Bytes, usize)> {
        let Elements::Sales { parts, current, .. } = self else {
            return None;
        };
        let part = parts.get_mut(*current)?;
        let encoded = part.encoded.clone()?;
        let lines = &part.day.lines;
        while part.pos < lines.len() && !part.filter.keeps(&lines[part.pos]) {
            part.pos += 1;
        }
        if part.pos == lines.len() {
            return None;
        }
        let first = part.pos;
        let start = encoded.line(first).start - usize::from(comma);
        part.pos += 1;
        while part.pos < lines.len()
            && part.filter.keeps(&lines[part.pos])
            && encoded.ends[part.pos] as usize - start <= max
        {
            part.pos += 1;
        }
        let end = encoded.ends[part.pos - 1] as usize;
        Some((encoded.bytes.slice(start..end), part.pos - first))
    }
}

/// What the JSON-level faults do to the elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonFault {
    None,
    /// A broken element after the first one.
    Malformed,
    /// Stop half-way through element `n`, without the tail.
    TruncateAt(usize),
}

/// An element that no JSON parser accepts (a missing comma between members).
const BROKEN_ELEMENT: &[u8] = b"{\"numero_factura\":\"C01-01-00000000\" \"linea\":1}";

struct BodyGen {
    head: Option<Vec<u8>>,
    elements: Elements,
    tail: &'static [u8],
    written: usize,
    fault: JsonFault,
    chunk_bytes: usize,
    done: bool,
}

impl BodyGen {
    /// The next chunk of about `chunk_bytes`, or `None` at the end.
    fn next_chunk(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        // Fast path: lines of an encoded store-day go out as slices of its buffer.
        if self.fault == JsonFault::None && self.elements.at_encoded() {
            if let Some(head) = self.head.take() {
                return Some(Bytes::from(head));
            }
            if let Some((run, lines)) = self.elements.next_run(self.written > 0, self.chunk_bytes) {
                self.written += lines;
                return Some(run);
            }
        }
        let mut out = Vec::with_capacity(self.chunk_bytes + 4096);
        if let Some(head) = self.head.take() {
            out.extend_from_slice(&head);
        }
        while out.len() < self.chunk_bytes {
            if self.fault == JsonFault::None && !out.is_empty() && self.elements.at_encoded() {
                // Leave the rest to the fast path.
                break;
            }
            if self.fault == JsonFault::Malformed && self.written == 1.min(self.elements.len()) {
                if self.written > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(BROKEN_ELEMENT);
                self.written += 1;
                self.fault = JsonFault::None;
                // Elements after the broken one follow with their commas, as if nothing happened.
                continue;
            }
            let mark = out.len();
            if self.written > 0 {
                out.push(b',');
            }
            if !self.elements.next_into(&mut out) {
                out.truncate(mark);
                if let JsonFault::TruncateAt(_) = self.fault {
                    // Fewer elements than expected: cut the last bytes written instead.
                    let keep = out.len().saturating_sub(out.len().min(3));
                    out.truncate(keep.max(1));
                } else {
                    out.extend_from_slice(self.tail);
                }
                self.done = true;
                break;
            }
            self.written += 1;
            if self.fault == JsonFault::TruncateAt(self.written) {
                // Keep the comma and half of the element just written.
                let element_len = out.len() - mark;
                out.truncate(mark + element_len / 2);
                self.done = true;
                break;
            }
        }
        Some(Bytes::from(out))
    }
}

/// Transport-level state of a streaming body.
struct BodyState {
    gen: BodyGen,
    pending: Bytes,
    sent: u64,
    reset_after: Option<u64>,
    stall_after: Option<u64>,
    drip: Option<(usize, u64)>,
    cancel: CancellationToken,
    finished: bool,
}

fn reset_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "simulated connection reset mid-body",
    )
}

/// Lets hyper flush what it has buffered, then fails the body. Hyper keeps polling a body that is
/// always ready and only flushes its write buffer when the body is pending; failing straight away
/// would drop the buffered bytes (and the status line) instead of sending them before the abort.
async fn flushed_reset() -> Option<Result<Bytes, io::Error>> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    Some(Err(reset_error()))
}

impl BodyState {
    async fn next(&mut self) -> Option<Result<Bytes, io::Error>> {
        if self.finished {
            return None;
        }
        if self.pending.is_empty() {
            match self.gen.next_chunk() {
                Some(chunk) => self.pending = chunk,
                None => {
                    self.finished = true;
                    if self.reset_after.is_some() {
                        return flushed_reset().await;
                    }
                    if self.stall_after.is_some() {
                        self.cancel.cancelled().await;
                        return Some(Err(reset_error()));
                    }
                    return None;
                }
            }
        }
        let mut take = self.pending.len();
        if let Some((per_tick, _)) = self.drip {
            take = take.min(per_tick);
        }
        if let Some(limit) = self.reset_after.or(self.stall_after) {
            let left = limit.saturating_sub(self.sent);
            if left == 0 {
                self.finished = true;
                if self.stall_after.is_some() {
                    self.cancel.cancelled().await;
                    return Some(Err(reset_error()));
                }
                return flushed_reset().await;
            }
            take = take.min(usize::try_from(left).unwrap_or(usize::MAX));
        }
        if let Some((_, tick_ms)) = self.drip {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(tick_ms)) => {}
                () = self.cancel.cancelled() => {
                    self.finished = true;
                    return Some(Err(reset_error()));
                }
            }
        }
        let chunk = self.pending.split_to(take);
        self.sent += chunk.len() as u64;
        Some(Ok(chunk))
    }
}

fn stream_response(
    shared: &Shared,
    plan: &Plan,
    head: Vec<u8>,
    elements: Elements,
    tail: &'static [u8],
) -> Response {
    let count = elements.len();
    let fault = match plan.response {
        Some(Fault::MalformedJson) => JsonFault::Malformed,
        Some(Fault::Truncated) => JsonFault::TruncateAt(count / 2 + 1),
        _ => JsonFault::None,
    };
    let (reset_after, stall_after) = match plan.response {
        Some(Fault::ResetMidBody { after_bytes }) => (Some(after_bytes), None),
        Some(Fault::StallMidBody { after_bytes }) => (None, Some(after_bytes)),
        _ => (None, None),
    };
    let state = BodyState {
        gen: BodyGen {
            head: Some(head),
            elements,
            tail,
            written: 0,
            fault,
            chunk_bytes: shared.config.chunk_bytes,
            done: false,
        },
        pending: Bytes::new(),
        sent: 0,
        reset_after,
        stall_after,
        drip: plan.drip,
        cancel: shared.cancel.clone(),
        finished: false,
    };
    let stream = futures::stream::unfold(state, |mut state| async move {
        let item = state.next().await?;
        Some((item, state))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_parse_with_their_unit() {
        assert_eq!(
            parse_hora("12:20").unwrap(),
            (
                (12 * 3600 + 20 * 60) * TICKS_PER_SECOND,
                60 * TICKS_PER_SECOND
            )
        );
        assert_eq!(
            parse_hora("12:20:30").unwrap(),
            (
                (12 * 3600 + 20 * 60 + 30) * TICKS_PER_SECOND,
                TICKS_PER_SECOND
            )
        );
        assert_eq!(
            parse_hora("00:00:01.5").unwrap(),
            (TICKS_PER_SECOND + 5_000_000, 1_000_000)
        );
        assert_eq!(parse_hora("24:00").unwrap().0, TICKS_PER_DAY);
        for bad in [
            "",
            "12",
            "12:60",
            "25:00",
            "1:2:3:4",
            "12:00.5",
            "ab:cd",
            "24:00:01",
            "12:00:00.12345678",
        ] {
            assert!(parse_hora(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn request_bodies_are_validated() {
        let q = parse_ventas(
            br#"{"sucursal":"SUC001","fecha_desde":"2025-11-17","fecha_hasta":"2025-11-18","hora_desde":"12:00","hora_hasta":"","almacen":"APP-TPF","CodArticulo":null}"#,
        )
        .unwrap();
        assert_eq!(q.hora_desde.as_deref(), Some("12:00"));
        assert_eq!(q.hora_hasta, None);
        assert_eq!(q.cod_articulo, None);
        assert!(
            parse_ventas(br#"{"fecha_desde":"2025-11-17","fecha_hasta":"2025-11-17"}"#).is_err()
        );
        assert!(parse_ventas(
            br#"{"sucursal":"SUC001","fecha_desde":"17/11/2025","fecha_hasta":"2025-11-17"}"#
        )
        .is_err());
        assert!(parse_ventas(b"not json").is_err());
        assert_eq!(
            one_or_many(br#"{"Codigoalmacen":"A"}"#, "Codigoalmacen").unwrap(),
            vec!["A"]
        );
        assert_eq!(
            one_or_many(br#"{"Codigoalmacen":["A","B"]}"#, "Codigoalmacen").unwrap(),
            vec!["A", "B"]
        );
        assert!(one_or_many(br#"{"CodigoAlmacen":"A"}"#, "Codigoalmacen").is_err());
        assert!(one_or_many(br#"{"Codigoalmacen":[1]}"#, "Codigoalmacen").is_err());
    }

    #[test]
    fn range_limits() {
        let config = KlkSimConfig::default();
        let catalog = Catalog::new(1, 10);
        let d = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        let mut q = SalesQuery::day("SUC001", d);
        q.fecha_hasta = d + chrono::Duration::days(MAX_RANGE_DAYS - 1);
        assert_eq!(
            q.plan(&config, &catalog).unwrap().len(),
            MAX_RANGE_DAYS as usize
        );
        q.fecha_hasta = d + chrono::Duration::days(MAX_RANGE_DAYS);
        assert!(q.plan(&config, &catalog).is_err());
        q.fecha_hasta = d.pred_opt().unwrap();
        assert!(q.plan(&config, &catalog).unwrap().is_empty());
    }

    #[test]
    fn the_encoded_cache_evicts_only_cold_days() {
        let day = |n: usize| {
            Arc::new(EncodedDay {
                bytes: Bytes::from(vec![b','; n]),
                ends: Vec::new(),
            })
        };
        let key = |d: u32| {
            (
                "SUC001".to_owned(),
                NaiveDate::from_ymd_opt(2025, 1, d).unwrap(),
            )
        };
        let now = Instant::now();
        let old = now - ENCODED_MIN_AGE - Duration::from_secs(1);
        let mut cache = EncodedCache::default();
        // Most recent first: day 1 (used now) in front of day 2 (used long ago).
        for (d, used) in [(2, old), (1, now)] {
            assert!(cache.make_room(40, 100, now));
            cache.entries.push_front((key(d), day(40), used));
            cache.bytes += 40;
        }
        // Room for 20 more without eviction; 40 more evicts the cold day 2 (the back) only.
        assert!(cache.make_room(20, 100, now));
        assert_eq!(cache.entries.len(), 2);
        assert!(cache.make_room(40, 100, now));
        assert_eq!(cache.entries.len(), 1);
        assert_eq!(cache.entries[0].0, key(1));
        // Day 1 is hot: no room for more than what is left.
        assert!(!cache.make_room(80, 100, now));
        assert_eq!(cache.entries.len(), 1);
        assert!(cache.make_room(80, 100, now + ENCODED_MIN_AGE));
        assert!(cache.entries.is_empty());
        assert_eq!(cache.bytes, 0);
    }

    fn gen_all(mut gen: BodyGen) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(chunk) = gen.next_chunk() {
            out.extend_from_slice(&chunk);
        }
        out
    }

    fn list(n: usize) -> Elements {
        let mut list = EncodedList::default();
        for i in 0..n {
            list.push(|out| out.extend_from_slice(format!("{{\"i\":{i}}}").as_bytes()));
        }
        Elements::Encoded(list)
    }

    fn gen(n: usize, fault: JsonFault, chunk_bytes: usize) -> BodyGen {
        BodyGen {
            head: Some(b"{\"a\":[".to_vec()),
            elements: list(n),
            tail: b"]}",
            written: 0,
            fault,
            chunk_bytes,
            done: false,
        }
    }

    #[test]
    fn body_generator_faults_act_on_elements() {
        for chunk_bytes in [1, 7, 1 << 16] {
            for n in [0, 1, 2, 5] {
                let body = gen_all(gen(n, JsonFault::None, chunk_bytes));
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(v["a"].as_array().unwrap().len(), n);
                let body = gen_all(gen(n, JsonFault::Malformed, chunk_bytes));
                assert!(serde_json::from_slice::<serde_json::Value>(&body).is_err());
                assert!(body.ends_with(b"]}"));
                let body = gen_all(gen(n, JsonFault::TruncateAt(n / 2 + 1), chunk_bytes));
                assert!(serde_json::from_slice::<serde_json::Value>(&body).is_err());
                assert!(!body.ends_with(b"]}"));
            }
        }
    }
}
