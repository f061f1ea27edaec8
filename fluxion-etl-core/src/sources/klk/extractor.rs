//! The KLK [`Extractor`](crate::pipeline::Extractor)s: sales over a window, and a warehouse's inventory.
//!
//! Both stream: each request's body is parsed as it arrives and its records go out in batches of
//! `batch_size`, so memory stays flat whatever the window. A sales window is split at local
//! midnights (one request per day, [`Window::split_days`]); each request names the day and, for a
//! partial day, the hours — rounded outwards — and the lines are then filtered to the exact
//! half-open window on the client side, whatever KLK's boundary semantics. Lines outside the
//! window are dropped silently: they belong to another unit.
//!
//! # Failures and what is (not) loaded
//! Any failure ends the unit with an `Err`, and the runner then aborts the load: nothing of that
//! store-window is committed, even the batches already handed over. In particular a broken row
//! (a required field missing, a value of the wrong type) fails the whole store-window: we go on
//! parsing that answer only to count the broken rows ([`ExtractStats::rows_rejected`]), then
//! report the first one. Loading the rest would leave a silent hole.
//!
//! A request that fails *after* some of its records were emitted (a reset or a cut-off mid-body)
//! is retried like any transient failure, and the retry *resumes*: KLK answers the same request
//! with the same records in the same order, so the first `n` records of the new answer — the
//! `n` already emitted — are skipped, after checking that their keys (`numero_factura`/`linea`,
//! or `Codigo`) hash, in order, to what was emitted. If they do not (the data changed in
//! between), the unit fails with the original cause rather than risk a duplicate or a hole.
//! This costs a few nanoseconds per record and no memory, where remembering every emitted key
//! would cost an allocation and a hash-set insert per record.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, NaiveTime, Timelike, Utc};
use serde_json::json;
use tracing::{debug, warn};

use super::client::{Failure, KlkClient};
use super::parse::{article_element, sale_element, DocParser, PErr, Reader, RowError, Step};
use crate::config::{BatchConfig, KlkConfig};
use crate::error::EtlError;
use crate::model::{Batch, InventoryItem, SaleLine, StoreId, Window};
use crate::pipeline::{ExtractStats, NetworkDiagnostics};
use crate::sources::scope::SnapshotScope;
use crate::sources::TextPool;
use crate::taxonomy::{ErrorCategory, ErrorSource};

/// The sales endpoint.
pub const SALES_PATH: &str = "/ventas";
/// The inventory-by-warehouse endpoint.
pub const INVENTORY_PATH: &str = "/maestra/articulos/almacen";

/// Who a store is to KLK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KlkStoreRef {
    /// The store's id in Fluxion.
    pub id: StoreId,
    /// KLK branch (`sucursal`), e.g. `SUC001`.
    pub branch: String,
    /// Sales-floor warehouse (`almacen`), e.g. `APP-TPF`.
    pub warehouse: String,
}

/// One request of a unit: a day of sales, or the inventory of the warehouse.
#[derive(Debug, Clone)]
struct Piece {
    body: serde_json::Value,
    /// For sales: the exact part of the window this request covers.
    window: Option<Window>,
    /// What is fetched, for messages.
    label: String,
}

/// What differs between sales and inventory.
trait Feed: Send + Sync + 'static {
    type Record: Send;
    const PATH: &'static str;
    const ARRAY_KEY: &'static str;
    const BARE_ARRAY: bool;
    fn parse(
        &mut self,
        r: &mut Reader<'_>,
        element: u64,
        piece: &Piece,
    ) -> Result<Result<Option<Self::Record>, RowError>, PErr>;
    /// Folds the record's key into an order-sensitive hash.
    fn fold_key(record: &Self::Record, hash: u64) -> u64;
    fn batch(records: Vec<Self::Record>) -> Batch;
}

struct SalesFeed {
    store: StoreId,
    texts: TextPool,
}

impl Feed for SalesFeed {
    type Record = SaleLine;
    const PATH: &'static str = SALES_PATH;
    const ARRAY_KEY: &'static str = "ventas";
    const BARE_ARRAY: bool = false;
    fn parse(
        &mut self,
        r: &mut Reader<'_>,
        element: u64,
        piece: &Piece,
    ) -> Result<Result<Option<SaleLine>, RowError>, PErr> {
        sale_element(
            r,
            element,
            &self.store,
            piece.window.as_ref(),
            &mut self.texts,
        )
    }
    fn fold_key(l: &SaleLine, hash: u64) -> u64 {
        fnv(
            fnv(hash, l.invoice_number.as_bytes()),
            &l.line_number.to_le_bytes(),
        )
    }
    fn batch(records: Vec<SaleLine>) -> Batch {
        Batch::Sales(records)
    }
}

struct InventoryFeed {
    scope: SnapshotScope,
    texts: TextPool,
}

impl Feed for InventoryFeed {
    type Record = InventoryItem;
    const PATH: &'static str = INVENTORY_PATH;
    const ARRAY_KEY: &'static str = "articulos";
    const BARE_ARRAY: bool = true;
    fn parse(
        &mut self,
        r: &mut Reader<'_>,
        element: u64,
        _piece: &Piece,
    ) -> Result<Result<Option<InventoryItem>, RowError>, PErr> {
        article_element(r, element, &self.scope, &mut self.texts).map(|res| res.map(Some))
    }
    fn fold_key(i: &InventoryItem, hash: u64) -> u64 {
        fnv(hash, i.product_code.as_bytes())
    }
    fn batch(records: Vec<InventoryItem>) -> Batch {
        Batch::Inventory(records)
    }
}

/// FNV-1a over `bytes`, continuing from `hash`, then a separator so that keys cannot run into
/// each other.
fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (hash ^ 0xff).wrapping_mul(0x0100_0000_01b3)
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// A retry that resumes an answer: its first `skip` records were already emitted.
struct Replay {
    skip: u64,
    /// The hash the skipped records must reproduce.
    hash: u64,
    seen: u64,
    running: u64,
    /// What made the first attempt fail (reported if resuming is not possible).
    cause: ErrorCategory,
    cause_text: String,
}

/// The request in flight and what has been learnt from it.
struct Current {
    piece: Piece,
    /// Requests sent for this piece so far.
    attempts: u32,
    response: Option<reqwest::Response>,
    parser: DocParser,
    /// Records emitted from this piece, and the hash of their keys in order.
    emitted: u64,
    emitted_hash: u64,
    /// Set while a retry skips what an earlier attempt emitted.
    replay: Option<Replay>,
    first_row_error: Option<RowError>,
    rejected: u64,
    kept: u64,
    dropped: u64,
}

/// The engine both extractors share.
struct Stream<F: Feed> {
    feed: F,
    client: KlkClient,
    what: &'static str,
    store: StoreId,
    batch_size: usize,
    timeout: Duration,
    pieces: VecDeque<Piece>,
    current: Option<Current>,
    finished: bool,
}

impl<F: Feed> Stream<F> {
    fn diagnostics(&self) -> Option<NetworkDiagnostics> {
        self.client.diagnostics()
    }

    fn stats(&self) -> ExtractStats {
        self.client.stats()
    }

    async fn next_batch(&mut self) -> Result<Option<Batch>, EtlError> {
        if self.finished {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(self.batch_size.min(16_384));
        match self.fill(&mut out).await {
            Ok(()) if out.is_empty() => {
                self.finished = true;
                Ok(None)
            }
            Ok(()) => Ok(Some(F::batch(out))),
            Err(e) => {
                self.finished = true;
                Err(e)
            }
        }
    }

    /// Fills `out` up to the batch size, or with what is left of the unit.
    async fn fill(&mut self, out: &mut Vec<F::Record>) -> Result<(), EtlError> {
        while out.len() < self.batch_size {
            let Some(cur) = self.current.as_mut() else {
                match self.pieces.pop_front() {
                    None => return Ok(()),
                    Some(piece) => {
                        self.current = Some(Current {
                            piece,
                            attempts: 0,
                            response: None,
                            parser: DocParser::new(F::ARRAY_KEY, F::BARE_ARRAY),
                            emitted: 0,
                            emitted_hash: FNV_START,
                            replay: None,
                            first_row_error: None,
                            rejected: 0,
                            kept: 0,
                            dropped: 0,
                        });
                        continue;
                    }
                }
            };
            let Some(response) = cur.response.as_mut() else {
                let response = Self::open(&mut self.client, cur, self.timeout, self.what).await;
                match response {
                    Ok(r) => cur.response = Some(r),
                    Err(f) => {
                        let context = context(self.what, &cur.piece.label, &self.store);
                        return Err(f.into_error(self.client.peer(), &context, cur.attempts));
                    }
                }
                continue;
            };
            let feed = &mut self.feed;
            let piece = &cur.piece;
            let step = cur.parser.next(|r, i| feed.parse(r, i, piece));
            let failure = match step {
                Ok(Step::Item(Ok(Some(record)))) => {
                    if cur.first_row_error.is_some() {
                        // The window fails anyway; keep parsing only to count broken rows.
                        continue;
                    }
                    if let Some(replay) = &mut cur.replay {
                        replay.seen += 1;
                        replay.running = F::fold_key(&record, replay.running);
                        if replay.seen < replay.skip {
                            continue;
                        }
                        if replay.running != replay.hash {
                            let context = context(self.what, &cur.piece.label, &self.store);
                            return Err(not_resumable(replay, &context));
                        }
                        cur.replay = None;
                        continue;
                    }
                    cur.emitted += 1;
                    cur.emitted_hash = F::fold_key(&record, cur.emitted_hash);
                    cur.kept += 1;
                    out.push(record);
                    continue;
                }
                Ok(Step::Item(Ok(None))) => {
                    cur.dropped += 1;
                    continue;
                }
                Ok(Step::Item(Err(row))) => {
                    cur.rejected += 1;
                    self.client.count_rejected();
                    cur.first_row_error.get_or_insert(row);
                    continue;
                }
                Ok(Step::NeedMore) => match response.chunk().await {
                    Ok(Some(bytes)) => {
                        cur.parser.feed(&bytes);
                        continue;
                    }
                    Ok(None) => {
                        cur.parser.finish();
                        continue;
                    }
                    Err(cause) => Failure::Net {
                        failure: super::client::net_failure(&cause),
                        cause,
                    },
                },
                Ok(Step::End(summary)) => {
                    if let Some(replay) = &cur.replay {
                        // The answer sent again is shorter than what was already emitted.
                        let context = context(self.what, &cur.piece.label, &self.store);
                        return Err(not_resumable(replay, &context));
                    }
                    if let Some(text) = summary.error {
                        Failure::ErrorBody(text)
                    } else if let Some(first) = cur.first_row_error.take() {
                        Failure::Rows {
                            first,
                            rejected: cur.rejected,
                            total: summary.elements,
                        }
                    } else if !summary.saw_array {
                        Failure::NoArray(F::ARRAY_KEY)
                    } else {
                        if summary.meta_total.is_some_and(|t| t != summary.elements) {
                            warn!(
                                store = %self.store,
                                request = %cur.piece.label,
                                meta_total = summary.meta_total,
                                elements = summary.elements,
                                "KLK's meta count differs from the records it sent."
                            );
                        }
                        debug!(
                            store = %self.store,
                            request = %cur.piece.label,
                            kept = cur.kept,
                            outside_window = cur.dropped,
                            bytes = cur.parser.received(),
                            attempts = cur.attempts,
                            "KLK answer parsed."
                        );
                        self.current = None;
                        continue;
                    }
                }
                Err(doc) => Failure::Doc(doc),
            };
            // The answer failed after its status line.
            self.client.count_error();
            let context = context(self.what, &cur.piece.label, &self.store);
            if let Some(first) = cur.first_row_error.take() {
                // Broken rows are certain; what happened afterwards does not change that.
                return Err(Failure::Rows {
                    first,
                    rejected: cur.rejected,
                    total: cur.parser.elements(),
                }
                .into_error(self.client.peer(), &context, cur.attempts));
            }
            if failure.is_transient() && cur.attempts <= self.client.retries() {
                let delay = self.client.backoff(cur.attempts);
                let category = failure.category(self.client.peer());
                warn!(
                    store = %self.store,
                    request = %cur.piece.label,
                    attempt = cur.attempts,
                    %category,
                    delay_ms = delay.as_millis() as u64,
                    emitted = cur.emitted,
                    "KLK answer failed mid-body; retrying."
                );
                cur.replay = (cur.emitted > 0).then(|| Replay {
                    skip: cur.emitted,
                    hash: cur.emitted_hash,
                    seen: 0,
                    running: FNV_START,
                    cause: category,
                    cause_text: failure.to_string(),
                });
                tokio::time::sleep(delay).await;
                cur.response = None;
                cur.parser = DocParser::new(F::ARRAY_KEY, F::BARE_ARRAY);
                cur.kept = 0;
                cur.dropped = 0;
                continue;
            }
            return Err(failure.into_error(self.client.peer(), &context, cur.attempts));
        }
        Ok(())
    }

    /// Sends the piece's request, retrying transient failures up to the budget.
    async fn open(
        client: &mut KlkClient,
        cur: &mut Current,
        timeout: Duration,
        what: &str,
    ) -> Result<reqwest::Response, Failure> {
        loop {
            cur.attempts += 1;
            match client.post(F::PATH, &cur.piece.body, timeout).await {
                Ok(r) => return Ok(r),
                Err(f) if f.is_transient() && cur.attempts <= client.retries() => {
                    let delay = client.backoff(cur.attempts);
                    warn!(
                        request = %cur.piece.label,
                        what,
                        attempt = cur.attempts,
                        category = %f.category(client.peer()),
                        delay_ms = delay.as_millis() as u64,
                        "KLK request failed; retrying."
                    );
                    tokio::time::sleep(delay).await;
                }
                Err(f) => return Err(f),
            }
        }
    }
}

/// What a request fetched, for messages: "KLK sales of SUC001/APP-TPF [..) for tienda_01".
fn context(what: &str, label: &str, store: &StoreId) -> String {
    format!("KLK {what} of {label} for {store}")
}

/// The error when a retry cannot resume: the original cause, and why resuming failed.
fn not_resumable(replay: &Replay, context: &str) -> EtlError {
    EtlError::new(
        replay.cause.phase(),
        replay.cause,
        ErrorSource::KlkApi,
        format!(
            "{context}: {}; the answer sent again does not start with the {} records already \
             received, so it cannot be resumed",
            replay.cause_text, replay.skip
        ),
    )
}

/// `HH:MM:SS`, rounded down (`up = false`) or up to the second.
fn hhmmss(t: NaiveTime, up: bool) -> String {
    let mut secs = t.num_seconds_from_midnight();
    if up && t.nanosecond() > 0 {
        secs += 1;
    }
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// The request pieces of a sales window: one per local day. Hours are sent only for partial
/// days and rounded outwards, so that whether KLK treats `hora_hasta` as inclusive or not, every
/// line of the window is in some answer; the exact cut is made on our side.
fn sales_pieces(store: &KlkStoreRef, window: &Window) -> VecDeque<Piece> {
    window
        .split_days()
        .into_iter()
        .map(|w| {
            let day = w.from.date();
            let mut body = json!({
                "sucursal": store.branch,
                "almacen": store.warehouse,
                "fecha_desde": day.format("%Y-%m-%d").to_string(),
                "fecha_hasta": day.format("%Y-%m-%d").to_string(),
            });
            let starts_at_midnight = w.from.time() == NaiveTime::MIN;
            let ends_at_midnight = w.to.date() > day;
            if !(starts_at_midnight && ends_at_midnight) {
                body["hora_desde"] = json!(hhmmss(w.from.time(), false));
                body["hora_hasta"] = json!(if ends_at_midnight {
                    "23:59:59".to_owned()
                } else {
                    hhmmss(w.to.time(), true)
                });
            }
            if ends_at_midnight && !starts_at_midnight {
                // "23:59:59" would miss lines in the day's last second if KLK compared with
                // their fractions: ask for the rest of the day without an upper bound.
                if let Some(map) = body.as_object_mut() {
                    map.remove("hora_hasta");
                }
            }
            Piece {
                body,
                window: Some(w),
                label: format!("{}/{} {}", store.branch, store.warehouse, w),
            }
        })
        .collect()
}

public_extractor! {
    /// Extracts a store's sales lines over a window from KLK's `POST /ventas`.
    KlkSalesExtractor(Stream<SalesFeed>), debug: client
}

impl KlkSalesExtractor {
    /// Prepares the extraction of `store`'s lines in `window` (store-local, half-open). Reads
    /// the auth header's environment variable; does not connect.
    pub fn new(
        klk: &KlkConfig,
        store: &KlkStoreRef,
        window: Window,
        batch: &BatchConfig,
    ) -> Result<Self, EtlError> {
        Ok(Self {
            inner: Stream {
                feed: SalesFeed {
                    store: store.id.clone(),
                    texts: TextPool::default(),
                },
                client: KlkClient::new(klk, batch)?,
                what: "sales",
                store: store.id.clone(),
                batch_size: batch.batch_size.max(1),
                timeout: batch.request_timeout(),
                pieces: sales_pieces(store, &window),
                current: None,
                finished: false,
            },
        })
    }
}

public_extractor! {
    /// Extracts the inventory of a store's warehouse from KLK's
    /// `POST /maestra/articulos/almacen`.
    KlkInventoryExtractor(Stream<InventoryFeed>), debug: client
}

impl KlkInventoryExtractor {
    /// Prepares the snapshot of `store`'s warehouse taken at `snapshot_at`. Reads the auth
    /// header's environment variable; does not connect.
    pub fn new(
        klk: &KlkConfig,
        store: &KlkStoreRef,
        snapshot_at: DateTime<Utc>,
        batch: &BatchConfig,
    ) -> Result<Self, EtlError> {
        let piece = Piece {
            body: json!({ "Codigoalmacen": store.warehouse }),
            window: None,
            label: format!("warehouse {}", store.warehouse),
        };
        Ok(Self {
            inner: Stream {
                feed: InventoryFeed {
                    scope: SnapshotScope {
                        store: store.id.clone(),
                        warehouse: store.warehouse.as_str().into(),
                        snapshot_at,
                    },
                    texts: TextPool::default(),
                },
                client: KlkClient::new(klk, batch)?,
                what: "inventory",
                store: store.id.clone(),
                batch_size: batch.batch_size.max(1),
                timeout: batch.inventory_timeout(),
                pieces: VecDeque::from([piece]),
                current: None,
                finished: false,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(s: &str) -> chrono::NaiveDateTime {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap()
    }

    fn store() -> KlkStoreRef {
        KlkStoreRef {
            id: StoreId::from("tienda_01"),
            branch: "SUC001".into(),
            warehouse: "APP-TPF".into(),
        }
    }

    #[test]
    fn whole_days_send_no_hours() {
        let w = Window::days(
            chrono::NaiveDate::from_ymd_opt(2025, 11, 17).unwrap(),
            chrono::NaiveDate::from_ymd_opt(2025, 11, 18).unwrap(),
        )
        .unwrap();
        let pieces = sales_pieces(&store(), &w);
        assert_eq!(pieces.len(), 2);
        assert_eq!(
            pieces[0].body,
            json!({"sucursal": "SUC001", "almacen": "APP-TPF",
                   "fecha_desde": "2025-11-17", "fecha_hasta": "2025-11-17"})
        );
        assert_eq!(pieces[1].body["fecha_desde"], "2025-11-18");
    }

    #[test]
    fn partial_days_round_hours_outwards() {
        let w = Window::new(dt("2025-11-17 12:00:00.5"), dt("2025-11-17 12:20:00.25")).unwrap();
        let p = sales_pieces(&store(), &w);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].body["hora_desde"], "12:00:00");
        assert_eq!(p[0].body["hora_hasta"], "12:20:01");
        assert_eq!(p[0].window, Some(w));

        let w = Window::new(dt("2025-11-17 22:30:00"), dt("2025-11-18 06:00:00")).unwrap();
        let p = sales_pieces(&store(), &w);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].body["hora_desde"], "22:30:00");
        assert!(p[0].body.get("hora_hasta").is_none(), "{}", p[0].body);
        assert_eq!(p[1].body["fecha_desde"], "2025-11-18");
        assert_eq!(p[1].body["hora_desde"], "00:00:00");
        assert_eq!(p[1].body["hora_hasta"], "06:00:00");
    }
}
