//! COPY and scoped merges into PostgreSQL, under per-(store, kind) leases, with retries.
//!
//! # How a unit is loaded
//! Every batch is hashed (the same [`row_hash`] as SQLite), encoded for COPY once, and appended
//! to the unit's [`Spill`] (memory, then an unlinked temporary file): the spill is what makes a
//! merge retryable on a new connection. Then one of three things happens, all inside one
//! transaction that also writes the store's tracker detail:
//!
//! 1. **Direct COPY** — when the runner opens the unit ([`Loader::try_begin`]) and the scope
//!    (store, window) holds no rows, a transaction is opened right away and each batch is
//!    COPYed straight into `sales_lines` while the extractor fetches the next one. `finish`
//!    checks that the scope holds exactly the rows copied and commits. Nothing to compare,
//!    nothing to delete: a first load costs one COPY.
//! 2. **Unchanged re-delivery** — the delivery's fingerprint (row count and the exact sum of
//!    its row hashes: order-independent, and a changed, added or missing row moves it) is
//!    compared with the *live* rows of the scope (`count(*)`, `sum(row_hash)` summed as
//!    `bigint` into an exact 128-bit accumulator — about 0.3 µs a row in `EXPLAIN ANALYZE`,
//!    an index scan of the window, index-only once the table is vacuumed). Equal means a merge
//!    would change nothing, so none runs and no row is sent. The
//!    fingerprint each window last received is also kept in `etl_load_fingerprints`, but only
//!    as a hint: when it differs from the delivery the live comparison is skipped (the content
//!    changed; merge), when it matches the live rows still decide — a stored fingerprint alone
//!    would mask a manual delete or edit in the window since.
//! 3. **Stage and merge** — otherwise the spill is COPYed into a temporary table, repeated keys
//!    keep their last occurrence, and the scope is merged: changed rows updated (only where the
//!    row hash differs), new ones inserted, rows of the scope the source no longer returns
//!    deleted, the rest counted as `duplicates_skipped`; inventory appends the snapshot to
//!    `inventory_history`.
//!
//! # Retries
//! Deadlock (40P01), serialization failure (40001), lock timeout (55P03) and a lost connection
//! are retried inside `finish`, up to [`MAX_ATTEMPTS`] times with backoff: the transaction is
//! rolled back (or the connection replaced and the lease re-taken) and the unit is merged again
//! from the spill. Constraint violations, data errors and disk full (53100) are not retried.
//! A direct COPY that loses its connection in the middle of the stream is not an error either:
//! the rows are in the spill, and `finish` loads them on a new connection.
//!
//! Keeping the spill costs one local write of the encoded rows (page cache for a store-day;
//! disk beyond 32 MiB) and buys retries that do not need the source again — re-extracting a
//! KLK store-day takes minutes and may fail for its own reasons.
//!
//! # Leases
//! `try_begin` takes `pg_try_advisory_lock` on the unit's (store, kind) key with the session's
//! own connection, held until the session commits, aborts or is dropped (a dead process's
//! connection closes, and the server releases its locks). A second run finds the lock taken
//! and records the store as skipped.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tokio::sync::mpsc;

use super::copy::{encode_row, CopyFormat, Spill};
use super::tracker::insert_detail;
use crate::error::EtlError;
use crate::loaders::classify_load_error;
use crate::loaders::rows::{
    inventory_values, row_hash, sale_values, ColumnType, RowHasher, Value, INVENTORY_COLUMNS,
    SALES_COLUMNS,
};
use crate::model::Batch;
use crate::pipeline::{LoadScope, LoadSession, LoadStats, LoadUnit, Loader};
use crate::taxonomy::{ErrorCategory, ErrorSource, Phase};
use crate::tracker::{apply_load_stats, StoreDetail};

/// Attempts of a unit's merge before its failure is reported.
pub const MAX_ATTEMPTS: u32 = 5;

/// Deliveries at least this large get an `ANALYZE` of the staging table before the merge, so
/// the planner joins a million staged rows with a hash join rather than a million probes.
const ANALYZE_AT: u64 = 50_000;

/// The PostgreSQL [`Loader`].
#[derive(Debug, Clone)]
pub struct PostgresLoader {
    options: PgConnectOptions,
    format: CopyFormat,
}

impl PostgresLoader {
    /// A loader that opens its own connections (one per unit, holding the unit's lease) to the
    /// database `options` names.
    pub fn new(options: PgConnectOptions) -> Self {
        let options = options.options([
            // A merge blocked by someone else's lock gives up (55P03, retried) instead of
            // waiting forever.
            ("lock_timeout", "60s"),
            // Large staging tables stay in the session's memory instead of the OS's.
            ("temp_buffers", "128MB"),
            // The merge statements are simple; JIT compilation only adds latency to them.
            ("jit", "off"),
            // A loader whose host vanishes (no FIN, no RST) is noticed by the server within
            // about a minute and a half, and its lease released, instead of after the OS's
            // two-hour keepalive default.
            ("tcp_keepalives_idle", "60"),
            ("tcp_keepalives_interval", "10"),
            ("tcp_keepalives_count", "3"),
        ]);
        Self {
            options,
            format: CopyFormat::default(),
        }
    }

    /// Sends rows in `format` (the `pg_load` bench compares both).
    pub fn with_copy_format(mut self, format: CopyFormat) -> Self {
        self.format = format;
        self
    }

    /// The COPY format in use.
    pub fn copy_format(&self) -> CopyFormat {
        self.format
    }

    async fn connect(&self) -> Result<PgConnection, EtlError> {
        PgConnection::connect_with(&self.options)
            .await
            .map_err(load_err("cannot connect to PostgreSQL"))
    }

    fn session(&self, unit: &LoadUnit, execution_id: Option<i64>) -> PgSession {
        PgSession {
            loader: self.clone(),
            unit: unit.clone(),
            table: table_for(unit),
            execution_id,
            lease: None,
            conn: None,
            direct: None,
            stream: None,
            spill: Spill::default(),
            buf: Vec::new(),
            received: 0,
            hash_sum: 0,
            keys: KeySet::default(),
            hasher: RowHasher::default(),
            repeated: false,
        }
    }
}

struct Table {
    target: &'static str,
    etl_name: &'static str,
    columns: &'static [(&'static str, ColumnType)],
    /// What identifies a row within one unit (store, and for inventory the warehouse, fixed).
    key: &'static [&'static str],
}

const SALES: Table = Table {
    target: "sales_lines",
    etl_name: "ventas",
    columns: SALES_COLUMNS,
    key: &["invoice_number", "line_number"],
};

const INVENTORY: Table = Table {
    target: "inventory_current",
    etl_name: "inventario",
    columns: INVENTORY_COLUMNS,
    key: &["product_code"],
};

fn table_for(unit: &LoadUnit) -> &'static Table {
    match unit.scope {
        LoadScope::SalesWindow(_) => &SALES,
        LoadScope::InventorySnapshot { .. } => &INVENTORY,
    }
}

impl Table {
    fn names(&self) -> Vec<&'static str> {
        self.columns.iter().map(|(n, _)| *n).collect()
    }

    /// The column list every COPY stream carries: the record's columns, `row_hash`,
    /// `execution_id`.
    fn copy_columns(&self) -> String {
        format!("{}, row_hash, execution_id", self.names().join(", "))
    }

    /// Values that enter the row hash: inventory leaves out `snapshot_at` (the last column),
    /// which changes with every snapshot.
    fn hashed<'a, 'v>(&self, values: &'a [Value<'v>]) -> &'a [Value<'v>] {
        if self.target == "inventory_current" {
            &values[..values.len() - 1]
        } else {
            values
        }
    }

    fn key_of(&self, values: &[Value<'_>]) -> u64 {
        // invoice_number, line_number (sales) or product_code (inventory).
        let key = if self.target == "sales_lines" {
            &values[1..3]
        } else {
            &values[2..3]
        };
        row_hash(key) as u64
    }
}

const STAGE: &str = "fluxion_stage";

/// The keys seen in a unit, as 64-bit hashes: they are hashes already, so the set only needs
/// their bits spread (SipHash, the default, cost more than the FNV that made them).
type KeySet = HashSet<u64, BuildHasherDefault<KeyHasher>>;

#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        // FNV's low bits see only the inputs' low bits; a multiply and a fold mix the high ones
        // into the bucket index (low bits) and keep them in the control byte (top bits).
        let x = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = x ^ (x >> 32);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

fn load_err(context: &str) -> impl FnOnce(sqlx::Error) -> EtlError + '_ {
    move |e| classify_load_error(e, ErrorSource::Postgresql, context)
}

fn no_connection() -> EtlError {
    EtlError::new(
        Phase::Load,
        ErrorCategory::PgConnection,
        ErrorSource::Postgresql,
        "the load session has no connection",
    )
}

fn spill_err(e: std::io::Error) -> EtlError {
    let category = if e.kind() == std::io::ErrorKind::StorageFull {
        ErrorCategory::DiskFull
    } else {
        ErrorCategory::PgConnection
    };
    EtlError::new(
        Phase::Load,
        category,
        ErrorSource::Postgresql,
        "cannot keep the unit's rows in the local spill file",
    )
    .with_cause(e)
    .retryable(false)
}

/// The advisory-lock key of a (store, kind) lease.
fn lease_key(unit: &LoadUnit) -> i64 {
    row_hash(&[
        Value::Text(Some("fluxion.lease")),
        Value::Text(Some(unit.kind().etl_name())),
        Value::Text(Some(unit.store.as_str())),
    ])
}

#[async_trait]
impl Loader for PostgresLoader {
    async fn begin(&self, unit: &LoadUnit) -> Result<Box<dyn LoadSession>, EtlError> {
        let mut session = self.session(unit, None);
        // Connecting now makes an unreachable destination fail before anything is extracted.
        session.conn = Some(self.connect().await?);
        Ok(Box::new(session))
    }

    async fn try_begin(
        &self,
        unit: &LoadUnit,
        execution_id: i64,
    ) -> Result<Option<Box<dyn LoadSession>>, EtlError> {
        let mut session = self.session(unit, Some(execution_id));
        let mut conn = self.connect().await?;
        let key = lease_key(unit);
        let granted: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut conn)
            .await
            .map_err(load_err("cannot take the store's lease"))?;
        if !granted {
            let _ = conn.close().await;
            tracing::info!(store = %unit.store, kind = %unit.kind(), "Lease held by another run.");
            return Ok(None);
        }
        session.lease = Some(key);
        session.conn = Some(conn);
        if let LoadScope::SalesWindow(w) = &unit.scope {
            session.open_direct(w.from_utc(), w.to_utc()).await?;
        }
        Ok(Some(Box::new(session)))
    }
}

struct PgSession {
    loader: PostgresLoader,
    unit: LoadUnit,
    table: &'static Table,
    execution_id: Option<i64>,
    /// The advisory-lock key held on `conn`, when the unit was leased.
    lease: Option<i64>,
    conn: Option<PgConnection>,
    /// Rows COPYed so far while a direct transaction is open on `conn`.
    direct: Option<u64>,
    /// The COPY of a direct load in flight; it holds the connection meanwhile.
    stream: Option<DirectStream>,
    spill: Spill,
    buf: Vec<u8>,
    received: u64,
    /// The delivery's fingerprint: `received` and the exact sum of its row hashes.
    hash_sum: i128,
    keys: KeySet,
    hasher: RowHasher,
    /// Whether some key was delivered twice (or two keys' hashes collided).
    repeated: bool,
}

/// A direct load's COPY, streamed by its own task so the server parses one batch while the
/// loader hashes and encodes the next (with one COPY per batch, awaited, the two would take
/// turns on a two-core machine).
struct DirectStream {
    chunks: mpsc::Sender<Vec<u8>>,
    task: tokio::task::JoinHandle<(PgConnection, Result<u64, sqlx::Error>)>,
}

impl DirectStream {
    fn start(mut conn: PgConnection, statement: String, format: CopyFormat) -> Self {
        let (chunks, mut rx) = mpsc::channel::<Vec<u8>>(2);
        let task = tokio::spawn(async move {
            let result = stream_copy(&mut conn, &statement, format, &mut rx).await;
            (conn, result)
        });
        Self { chunks, task }
    }

    /// Ends the COPY: the rows it loaded, and the connection back (none if the task died).
    async fn close(self) -> (Option<PgConnection>, Result<u64, sqlx::Error>) {
        drop(self.chunks);
        match self.task.await {
            Ok((conn, result)) => (Some(conn), result),
            Err(e) => (
                None,
                Err(sqlx::Error::Protocol(format!(
                    "the COPY task ended abnormally: {e}"
                ))),
            ),
        }
    }
}

async fn stream_copy(
    conn: &mut PgConnection,
    statement: &str,
    format: CopyFormat,
    chunks: &mut mpsc::Receiver<Vec<u8>>,
) -> Result<u64, sqlx::Error> {
    let mut copy = conn.copy_in_raw(statement).await?;
    copy.send(format.header()).await?;
    while let Some(chunk) = chunks.recv().await {
        copy.send(chunk).await?;
    }
    copy.send(format.trailer()).await?;
    copy.finish().await
}

async fn exec(conn: &mut PgConnection, sql: &str, context: &str) -> Result<u64, EtlError> {
    sqlx::query(sql)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
        .map_err(load_err(context))
}

impl PgSession {
    fn conn(&mut self) -> Result<&mut PgConnection, EtlError> {
        self.conn.as_mut().ok_or_else(no_connection)
    }

    /// Returns the session's connection, opening a new one (and taking the lease again) after
    /// the old one was lost.
    async fn connection(&mut self) -> Result<&mut PgConnection, EtlError> {
        if self.conn.is_none() {
            let mut conn = self.loader.connect().await?;
            if let Some(key) = self.lease {
                let granted: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(key)
                    .fetch_one(&mut conn)
                    .await
                    .map_err(load_err("cannot take the store's lease again"))?;
                if !granted {
                    let _ = conn.close().await;
                    return Err(EtlError::new(
                        Phase::Load,
                        ErrorCategory::PgConnection,
                        ErrorSource::Postgresql,
                        format!(
                            "lost the lease of {} {} with the connection, and another run took it",
                            self.unit.store,
                            self.unit.kind()
                        ),
                    ));
                }
            }
            self.conn = Some(conn);
        }
        self.conn()
    }

    /// Opens a direct-COPY transaction when the window holds no rows yet.
    async fn open_direct(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(), EtlError> {
        let store = self.unit.store.as_str().to_owned();
        let conn = self.conn()?;
        exec(conn, "BEGIN", "cannot start a transaction").await?;
        let occupied: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sales_lines WHERE store_id = $1 AND sold_at >= $2 AND sold_at < $3)",
        )
        .bind(&store)
        .bind(from)
        .bind(to)
        .fetch_one(&mut *conn)
        .await
        .map_err(load_err("cannot look at the window's rows"))?;
        if occupied {
            exec(conn, "ROLLBACK", "cannot end a transaction").await?;
        } else {
            self.direct = Some(0);
        }
        Ok(())
    }

    /// Ends the direct COPY in flight, if any, and takes its connection back; returns the
    /// rows it loaded.
    async fn close_stream(&mut self) -> Result<u64, sqlx::Error> {
        let Some(stream) = self.stream.take() else {
            return Ok(0);
        };
        let (conn, result) = stream.close().await;
        self.conn = conn;
        let rows = result?;
        if let Some(copied) = self.direct.as_mut() {
            *copied += rows;
        }
        Ok(rows)
    }

    /// Sends encoded rows to the direct COPY, starting it with the first batch.
    async fn send_direct(&mut self, bytes: Vec<u8>) -> Result<(), sqlx::Error> {
        if self.stream.is_none() {
            let Some(conn) = self.conn.take() else {
                return Err(sqlx::Error::Protocol(
                    "the direct COPY lost its connection".into(),
                ));
            };
            let statement = format!(
                "COPY {} ({}) FROM STDIN WITH {}",
                self.table.target,
                self.table.copy_columns(),
                self.loader.format.clause()
            );
            self.stream = Some(DirectStream::start(conn, statement, self.loader.format));
        }
        let sent = match self.stream.as_ref() {
            Some(stream) => stream.chunks.send(bytes).await.is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The COPY task stopped: its result says why.
        self.close_stream().await.and_then(|_| {
            Err(sqlx::Error::Protocol(
                "the direct COPY stopped early".into(),
            ))
        })
    }

    /// Leaves direct mode: the rows stay in the spill and `finish` merges them the general way.
    async fn abandon_direct(&mut self, lost_connection: bool) {
        let closed = self.close_stream().await;
        let lost_connection = lost_connection
            || closed.is_err_and(|e| {
                classify_load_error(e, ErrorSource::Postgresql, "").category()
                    == ErrorCategory::PgConnection
            });
        if self.direct.take().is_some() {
            if lost_connection {
                self.conn = None;
            } else if let Some(conn) = self.conn.as_mut() {
                if exec(conn, "ROLLBACK", "cannot roll back").await.is_err() {
                    self.conn = None;
                }
            }
        }
    }

    /// Hashes and encodes a batch into `self.buf`.
    fn encode<'a, const N: usize>(&mut self, rows: impl Iterator<Item = [Value<'a>; N]>) {
        self.buf.clear();
        let table = self.table;
        let mut rows = rows.peekable();
        let mut four: Vec<[Value<'a>; N]> = Vec::with_capacity(4);
        while rows.peek().is_some() {
            four.clear();
            four.extend(rows.by_ref().take(4));
            if let [a, b, c, d] = four.as_slice() {
                let hashes = self.hasher.hash4([
                    table.hashed(a),
                    table.hashed(b),
                    table.hashed(c),
                    table.hashed(d),
                ]);
                for (values, hash) in four.iter().zip(hashes) {
                    self.encode_row(values, hash);
                }
            } else {
                for values in &four {
                    self.encode_row(values, row_hash(table.hashed(values)));
                }
            }
        }
    }

    fn encode_row(&mut self, values: &[Value<'_>], hash: i64) {
        self.hash_sum += i128::from(hash);
        if !self.keys.insert(self.table.key_of(values)) {
            self.repeated = true;
        }
        encode_row(
            self.loader.format,
            &mut self.buf,
            values,
            hash,
            self.execution_id,
        );
    }

    /// COPYs the whole spill into `into` (the target, or the staging table).
    async fn copy_spill(&mut self, into: &str) -> Result<u64, EtlError> {
        let format = self.loader.format;
        let statement = format!(
            "COPY {into} ({}) FROM STDIN WITH {}",
            self.table.copy_columns(),
            format.clause()
        );
        let context = "cannot send rows with COPY";
        let Some(conn) = self.conn.as_mut() else {
            return Err(no_connection());
        };
        let mut copy = conn
            .copy_in_raw(&statement)
            .await
            .map_err(load_err("cannot start COPY"))?;
        copy.send(format.header())
            .await
            .map_err(load_err(context))?;
        if let Some(bytes) = self.spill.in_memory() {
            copy.send(bytes).await.map_err(load_err(context))?;
        } else {
            self.spill.rewind().await.map_err(spill_err)?;
            while let Some(chunk) = self.spill.next_chunk().await.map_err(spill_err)? {
                copy.send(chunk).await.map_err(load_err(context))?;
            }
        }
        copy.send(format.trailer())
            .await
            .map_err(load_err(context))?;
        copy.finish()
            .await
            .map_err(load_err("cannot load rows with COPY"))
    }

    async fn finish_once(&mut self, detail: &StoreDetail) -> Result<LoadStats, EtlError> {
        let execution_id = self.execution_id.unwrap_or(detail.execution_id);
        if self.direct.is_some() {
            self.close_stream()
                .await
                .map_err(load_err("cannot COPY rows into sales_lines"))?;
        }
        if let Some(copied) = self.direct {
            match self.finish_direct(copied, detail).await? {
                Some(stats) => return Ok(stats),
                // Someone else wrote into the window meanwhile: merge the general way.
                None => self.abandon_direct(false).await,
            }
        }
        let conn = self.connection().await?;
        exec(conn, "BEGIN", "cannot start a transaction").await?;
        let stats = match self.unit.scope.clone() {
            LoadScope::SalesWindow(w) => {
                self.merge_sales(w.from_utc(), w.to_utc(), execution_id)
                    .await?
            }
            LoadScope::InventorySnapshot {
                warehouse,
                keep_history,
                ..
            } => {
                self.merge_inventory(&warehouse, keep_history, execution_id)
                    .await?
            }
        };
        self.commit(detail, stats).await
    }

    /// Completes a direct COPY: `None` when the window holds rows the COPY did not write.
    async fn finish_direct(
        &mut self,
        copied: u64,
        detail: &StoreDetail,
    ) -> Result<Option<LoadStats>, EtlError> {
        let LoadScope::SalesWindow(w) = self.unit.scope.clone() else {
            return Ok(None);
        };
        let store = self.unit.store.as_str().to_owned();
        let conn = self.conn()?;
        let present: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sales_lines WHERE store_id = $1 AND sold_at >= $2 AND sold_at < $3",
        )
        .bind(&store)
        .bind(w.from_utc())
        .bind(w.to_utc())
        .fetch_one(&mut *conn)
        .await
        .map_err(load_err("cannot count the window's rows"))?;
        if present as u64 != copied {
            return Ok(None);
        }
        let stats = LoadStats {
            received: self.received,
            inserted: copied,
            ..LoadStats::default()
        };
        self.commit(detail, stats).await.map(Some)
    }

    /// Records the fingerprint and the detail, and commits.
    async fn commit(
        &mut self,
        detail: &StoreDetail,
        stats: LoadStats,
    ) -> Result<LoadStats, EtlError> {
        let stats = LoadStats {
            detail_recorded: true,
            ..stats
        };
        let mut detail = detail.clone();
        apply_load_stats(&mut detail, &stats);
        detail.finished_at = Utc::now();
        let (received, hash_sum, execution_id) = (
            self.received as i64,
            self.hash_sum.to_string(),
            self.execution_id.unwrap_or(detail.execution_id),
        );
        let (store, table, scope) = (
            self.unit.store.as_str().to_owned(),
            self.table,
            self.unit.scope.clone(),
        );
        let conn = self.conn()?;
        // A retry after a COMMIT whose answer was lost finds the store already recorded: the
        // data is merged again (a no-op) but the detail is not written twice.
        let recorded: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM etl_execution_details \
             WHERE execution_id = $1 AND tienda_id = $2 AND status = 'success')",
        )
        .bind(detail.execution_id)
        .bind(&store)
        .fetch_one(&mut *conn)
        .await
        .map_err(load_err("cannot look up the store's result"))?;
        if !recorded {
            insert_detail(conn, &detail)
                .await
                .map_err(load_err("cannot record the store's result"))?;
        }
        // Last on purpose: everything above is already written when this row is locked.
        if let LoadScope::SalesWindow(w) = scope {
            sqlx::query(
                "INSERT INTO etl_load_fingerprints (store_id, etl_name, window_from, window_to, row_count, \
                 hash_sum, execution_id) VALUES ($1, $2, $3, $4, $5, $6::numeric, $7) \
                 ON CONFLICT (store_id, etl_name, window_from, window_to) DO UPDATE SET \
                 row_count = EXCLUDED.row_count, hash_sum = EXCLUDED.hash_sum, \
                 execution_id = EXCLUDED.execution_id, loaded_at = now()",
            )
            .bind(&store)
            .bind(table.etl_name)
            .bind(w.from_utc())
            .bind(w.to_utc())
            .bind(received)
            .bind(&hash_sum)
            .bind(execution_id)
            .execute(&mut *conn)
            .await
            .map_err(load_err("cannot record the window's fingerprint"))?;
        }
        exec(conn, "COMMIT", "cannot commit the load").await?;
        self.direct = None;
        Ok(stats)
    }

    async fn merge_sales(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        execution_id: i64,
    ) -> Result<LoadStats, EtlError> {
        let store = self.unit.store.as_str().to_owned();
        let ours = (self.received as i64, self.hash_sum.to_string());
        if !self.repeated {
            let conn = self.conn()?;
            let stored: Option<(i64, String)> = sqlx::query_as(
                "SELECT row_count, hash_sum::text FROM etl_load_fingerprints \
                 WHERE store_id = $1 AND etl_name = 'ventas' AND window_from = $2 AND window_to = $3",
            )
            .bind(&store)
            .bind(from)
            .bind(to)
            .fetch_optional(&mut *conn)
            .await
            .map_err(load_err("cannot read the window's fingerprint"))?;
            if stored.as_ref().is_none_or(|s| *s == ours) {
                let live: (i64, String) = sqlx::query_as(
                    // sum(bigint) is exact (a numeric result) and accumulates in 128-bit integers;
                    // casting each hash to numeric first made the scan's cost numeric additions.
                    "SELECT count(*), COALESCE(sum(row_hash), 0)::text FROM sales_lines \
                     WHERE store_id = $1 AND sold_at >= $2 AND sold_at < $3",
                )
                .bind(&store)
                .bind(from)
                .bind(to)
                .fetch_one(&mut *conn)
                .await
                .map_err(load_err("cannot fingerprint the window's rows"))?;
                if live == ours {
                    tracing::debug!(store = %store, rows = self.received, "Window unchanged; no merge.");
                    return Ok(LoadStats {
                        received: self.received,
                        unchanged: self.received,
                        ..LoadStats::default()
                    });
                }
                // Nothing to compare or delete: COPY straight into the table (when the rows
                // carry their execution id; a plain `begin` learns it only now).
                if live.0 == 0 && self.execution_id.is_some() {
                    let inserted = self.copy_spill(SALES.target).await?;
                    return Ok(LoadStats {
                        received: self.received,
                        inserted,
                        ..LoadStats::default()
                    });
                }
            }
        }
        self.stage().await?;
        let names = SALES.names();
        let set_list = assignments(&names);
        let s_names = prefixed(&names);
        let conn = self.conn()?;
        let updated = sqlx::query(&format!(
            "UPDATE sales_lines AS t SET {set_list}, row_hash = s.row_hash, execution_id = $2, loaded_at = now() \
             FROM {STAGE} AS s \
             WHERE t.store_id = $1 AND t.invoice_number = s.invoice_number AND t.line_number = s.line_number \
             AND t.row_hash <> s.row_hash"
        ))
        .bind(&store)
        .bind(execution_id)
        .execute(&mut *conn)
        .await
        .map_err(load_err("cannot update changed rows"))?
        .rows_affected();
        let inserted = sqlx::query(&format!(
            "INSERT INTO sales_lines ({cols}, row_hash, execution_id) \
             SELECT {s_names}, s.row_hash, $2 FROM {STAGE} AS s \
             WHERE NOT EXISTS (SELECT 1 FROM sales_lines AS t WHERE t.store_id = $1 \
             AND t.invoice_number = s.invoice_number AND t.line_number = s.line_number)",
            cols = names.join(", "),
        ))
        .bind(&store)
        .bind(execution_id)
        .execute(&mut *conn)
        .await
        .map_err(load_err("cannot insert new rows"))?
        .rows_affected();
        let deleted = sqlx::query(&format!(
            "DELETE FROM sales_lines AS t WHERE t.store_id = $1 AND t.sold_at >= $2 AND t.sold_at < $3 \
             AND NOT EXISTS (SELECT 1 FROM {STAGE} AS s \
             WHERE s.invoice_number = t.invoice_number AND s.line_number = t.line_number)"
        ))
        .bind(&store)
        .bind(from)
        .bind(to)
        .execute(&mut *conn)
        .await
        .map_err(load_err("cannot delete rows the source no longer returns"))?
        .rows_affected();
        Ok(LoadStats {
            received: self.received,
            inserted,
            updated,
            deleted,
            // Every staged row was inserted, updated or left alone; repeated keys count as
            // left alone, as in SQLite.
            unchanged: self.received.saturating_sub(inserted + updated),
            detail_recorded: false,
        })
    }

    async fn merge_inventory(
        &mut self,
        warehouse: &str,
        keep_history: bool,
        execution_id: i64,
    ) -> Result<LoadStats, EtlError> {
        let store = self.unit.store.as_str().to_owned();
        let staged = self.stage().await?;
        let names = INVENTORY.names();
        let set_list = assignments(&names);
        let s_names = prefixed(&names);
        let key_match =
            "t.store_id = $1 AND t.warehouse_code = $2 AND t.product_code = s.product_code";
        let conn = self.conn()?;
        let unchanged: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {STAGE} AS s JOIN inventory_current AS t ON {key_match} AND t.row_hash = s.row_hash"
        ))
        .bind(&store)
        .bind(warehouse)
        .fetch_one(&mut *conn)
        .await
        .map_err(load_err("cannot compare staged rows"))?;
        // Every row seen gets the new snapshot time, changed or not.
        let touched = sqlx::query(&format!(
            "UPDATE inventory_current AS t SET {set_list}, row_hash = s.row_hash, execution_id = $3 \
             FROM {STAGE} AS s WHERE {key_match}"
        ))
        .bind(&store)
        .bind(warehouse)
        .bind(execution_id)
        .execute(&mut *conn)
        .await
        .map_err(load_err("cannot update the snapshot"))?
        .rows_affected();
        let inserted = sqlx::query(&format!(
            "INSERT INTO inventory_current ({cols}, row_hash, execution_id) \
             SELECT {s_names}, s.row_hash, $3 FROM {STAGE} AS s \
             WHERE NOT EXISTS (SELECT 1 FROM inventory_current AS t WHERE {key_match})",
            cols = names.join(", "),
        ))
        .bind(&store)
        .bind(warehouse)
        .bind(execution_id)
        .execute(&mut *conn)
        .await
        .map_err(load_err("cannot insert new rows"))?
        .rows_affected();
        let deleted = sqlx::query(&format!(
            "DELETE FROM inventory_current AS t WHERE t.store_id = $1 AND t.warehouse_code = $2 \
             AND NOT EXISTS (SELECT 1 FROM {STAGE} AS s WHERE s.product_code = t.product_code)"
        ))
        .bind(&store)
        .bind(warehouse)
        .execute(&mut *conn)
        .await
        .map_err(load_err(
            "cannot delete articles the source no longer returns",
        ))?
        .rows_affected();
        if keep_history {
            sqlx::query(&format!(
                "INSERT INTO inventory_history ({cols}, execution_id) SELECT {s_names}, $1 FROM {STAGE} AS s",
                cols = names.join(", "),
            ))
            .bind(execution_id)
            .execute(&mut *conn)
            .await
            .map_err(load_err("cannot append the inventory history"))?;
        }
        let unchanged = unchanged.max(0) as u64;
        let updated = touched.saturating_sub(unchanged);
        let repeated = self.received - staged;
        Ok(LoadStats {
            received: self.received,
            inserted,
            updated,
            deleted,
            unchanged: unchanged + repeated,
            detail_recorded: false,
        })
    }

    /// COPYs the spill into a fresh staging table (dropped at commit) and removes repeated
    /// keys, keeping each key's last occurrence. Returns the rows left.
    async fn stage(&mut self) -> Result<u64, EtlError> {
        let table = self.table;
        let columns: Vec<String> = table
            .columns
            .iter()
            .map(|(n, t)| format!("{n} {}", t.postgres()))
            .collect();
        let conn = self.conn()?;
        exec(
            conn,
            &format!(
                "CREATE TEMP TABLE {STAGE} ({}, row_hash bigint NOT NULL, execution_id bigint, \
                 seq bigint GENERATED ALWAYS AS IDENTITY) ON COMMIT DROP",
                columns.join(", ")
            ),
            "cannot create the staging table",
        )
        .await?;
        let mut staged = self.copy_spill(STAGE).await?;
        let repeated = self.repeated;
        let conn = self.conn()?;
        let key = table.key.join(", ");
        if repeated {
            let matches = table
                .key
                .iter()
                .map(|k| format!("s.{k} = d.{k}"))
                .collect::<Vec<_>>()
                .join(" AND ");
            staged -= exec(
                conn,
                &format!(
                    "DELETE FROM {STAGE} AS s USING (SELECT {key}, max(seq) AS keep FROM {STAGE} \
                     GROUP BY {key} HAVING count(*) > 1) AS d WHERE {matches} AND s.seq < d.keep"
                ),
                "cannot drop repeated keys",
            )
            .await?;
        }
        // "Rows of the scope the staging table lacks" must not depend on the planner's
        // estimates: the target's statistics rarely know the window just loaded, and a nested
        // loop over an unindexed staging table is quadratic. With the index it is a probe per
        // row at worst.
        exec(
            conn,
            &format!("CREATE INDEX ON {STAGE} ({key})"),
            "cannot index the staging table",
        )
        .await?;
        if staged >= ANALYZE_AT {
            exec(
                conn,
                &format!("ANALYZE {STAGE}"),
                "cannot analyze the staging table",
            )
            .await?;
        }
        Ok(staged)
    }

    /// What a failed attempt leaves behind is cleaned up before the next one.
    async fn reset(&mut self, error: &EtlError) {
        let closed = self.close_stream().await;
        let lost = error.category() == ErrorCategory::PgConnection
            || (closed.is_err() && self.conn.is_none());
        self.direct = None;
        if lost {
            self.conn = None;
        } else if let Some(conn) = self.conn.as_mut() {
            if exec(conn, "ROLLBACK", "cannot roll back").await.is_err() {
                self.conn = None;
            }
        }
    }

    /// Ends the session: rolls back whatever is open, releases the lease and closes the
    /// connection. The lease is released explicitly: a closing connection drops its locks only
    /// when its server process exits, a moment after `close` returns, and the next run of the
    /// store must find the lease free.
    async fn release(&mut self) {
        let _ = self.close_stream().await;
        let in_transaction = self.direct.take().is_some();
        if let Some(mut conn) = self.conn.take() {
            if in_transaction {
                let _ = exec(&mut conn, "ROLLBACK", "cannot roll back").await;
            }
            if let Some(key) = self.lease {
                let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(key)
                    .execute(&mut conn)
                    .await;
            }
            let _ = conn.close().await;
        }
        self.spill = Spill::default();
        self.keys = KeySet::default();
    }
}

fn assignments(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("{n} = s.{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn prefixed(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("s.{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64 << attempt.min(3))
}

#[async_trait]
impl LoadSession for PgSession {
    async fn write(&mut self, batch: Batch) -> Result<(), EtlError> {
        let n = batch.len();
        match (&batch, self.table.target) {
            (Batch::Sales(lines), "sales_lines") => self.encode(lines.iter().map(sale_values)),
            (Batch::Inventory(items), "inventory_current") => {
                self.encode(items.iter().map(inventory_values))
            }
            _ => {
                return Err(EtlError::new(
                    Phase::Load,
                    ErrorCategory::DataValidation,
                    ErrorSource::Postgresql,
                    format!(
                        "a {} batch was written to a {} load",
                        batch.kind(),
                        self.unit.kind()
                    ),
                ))
            }
        }
        self.received += n as u64;
        self.spill.append(&self.buf).await.map_err(spill_err)?;
        if self.direct.is_some() {
            if self.repeated {
                // A repeated key would violate the primary key; stage and merge instead.
                self.abandon_direct(false).await;
            } else {
                let bytes = std::mem::take(&mut self.buf);
                match self.send_direct(bytes).await {
                    Ok(()) => {}
                    Err(e) => {
                        let error = classify_load_error(
                            e,
                            ErrorSource::Postgresql,
                            "cannot COPY rows into sales_lines",
                        );
                        if !error.is_retryable() {
                            return Err(error);
                        }
                        tracing::warn!(store = %self.unit.store, category = %error.category(), "Direct COPY failed; the rows are kept and merged at the end: {}", error.message());
                        self.abandon_direct(error.category() == ErrorCategory::PgConnection)
                            .await;
                    }
                }
            }
        }
        Ok(())
    }

    async fn finish(&mut self, detail: &StoreDetail) -> Result<LoadStats, EtlError> {
        let mut attempt = 1;
        loop {
            match self.finish_once(detail).await {
                Ok(stats) => {
                    self.release().await;
                    return Ok(stats);
                }
                Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => {
                    tracing::warn!(store = %self.unit.store, attempt, category = %e.category(), "Load failed; retrying: {}", e.message());
                    self.reset(&e).await;
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(e) => {
                    self.reset(&e).await;
                    return Err(e);
                }
            }
        }
    }

    async fn abort(&mut self) {
        // Closing the connection rolls back whatever is open and releases the lease.
        self.release().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{StoreId, Window};

    #[test]
    fn leases_are_per_store_and_kind() {
        let day = chrono::NaiveDate::from_ymd_opt(2025, 11, 17).unwrap();
        let sales = |store: &str, w: Window| LoadUnit {
            store: StoreId::new(store),
            scope: LoadScope::SalesWindow(w),
        };
        let (d1, d2) = (
            Window::day(day).unwrap(),
            Window::day(day.succ_opt().unwrap()).unwrap(),
        );
        assert_eq!(
            lease_key(&sales("tienda_01", d1)),
            lease_key(&sales("tienda_01", d2)),
            "one lease per store and kind, whatever the window"
        );
        assert_ne!(
            lease_key(&sales("tienda_01", d1)),
            lease_key(&sales("tienda_02", d1))
        );
        let inventory = LoadUnit {
            store: StoreId::new("tienda_01"),
            scope: LoadScope::InventorySnapshot {
                warehouse: "APP-TPF".into(),
                taken_at: Utc::now(),
                keep_history: true,
            },
        };
        assert_ne!(lease_key(&sales("tienda_01", d1)), lease_key(&inventory));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) < backoff(2));
        assert_eq!(backoff(3), backoff(10));
    }
}
