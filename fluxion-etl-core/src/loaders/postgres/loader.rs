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
//! are retried inside `finish`, up to [`MAX_ATTEMPTS`](retry::MAX_ATTEMPTS) times with backoff: the transaction is
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
//!
//! # The parts
//! This module holds the loader, the session and its lifecycle (open, write, finish, commit,
//! release); its children hold one concern each: `encode` (tables, row hashes and COPY bytes),
//! `direct` (the direct COPY), `fingerprint` (the unchanged re-delivery and empty-window paths),
//! `merge` (staging and the scoped merges) and `retry` (the retry loop and reconnection).

mod direct;
mod encode;
mod fingerprint;
mod merge;
mod retry;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgArguments, PgConnectOptions, PgRow};
use sqlx::query::Query;
use sqlx::{Connection, PgConnection, Postgres};

use self::direct::DirectStream;
use self::encode::{table_for, KeySet, Table};
use self::fingerprint::record_fingerprint;
use super::copy::{CopyFormat, Spill};
use crate::error::EtlError;
use crate::loaders::rows::{inventory_values, row_hash, sale_values, RowHasher, Value};
use crate::loaders::store::insert_detail;
use crate::loaders::{classify_load_error, recorded_detail, wrong_batch};
use crate::model::Batch;
use crate::pipeline::{LoadScope, LoadSession, LoadStats, LoadUnit, Loader};
use crate::taxonomy::{ErrorCategory, ErrorSource, Phase};
use crate::tracker::StoreDetail;

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

/// Takes the lease `key` on `conn` unless another session holds it: whether it was granted.
async fn try_lease(conn: &mut PgConnection, key: i64, context: &str) -> Result<bool, EtlError> {
    sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(conn)
        .await
        .map_err(load_err(context))
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
        if !try_lease(&mut conn, key, "cannot take the store's lease").await? {
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

/// Runs a statement with its arguments: the rows it affected, or its failure classified.
async fn execute(
    conn: &mut PgConnection,
    query: Query<'_, Postgres, PgArguments>,
    context: &str,
) -> Result<u64, EtlError> {
    query
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
        .map_err(load_err(context))
}

/// Runs a statement without arguments (see [`execute`]).
async fn exec(conn: &mut PgConnection, sql: &str, context: &str) -> Result<u64, EtlError> {
    execute(conn, sqlx::query(sql), context).await
}

/// The row, if any, of a query over a store's window of sales: the store is `$1`, the window's
/// bounds `$2` (included) and `$3` (excluded).
async fn window_row<T>(
    conn: &mut PgConnection,
    sql: &str,
    store: &str,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    context: &str,
) -> Result<Option<T>, EtlError>
where
    T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    sqlx::query_as(sql)
        .bind(store)
        .bind(from)
        .bind(to)
        .fetch_optional(conn)
        .await
        .map_err(load_err(context))
}

/// The one row of an aggregate over a store's window of sales (see [`window_row`]).
async fn window_aggregate<T>(
    conn: &mut PgConnection,
    sql: &str,
    store: &str,
    window: (DateTime<Utc>, DateTime<Utc>),
    context: &str,
) -> Result<T, EtlError>
where
    T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    window_row(conn, sql, store, window, context)
        .await?
        .ok_or_else(|| load_err(context)(sqlx::Error::RowNotFound))
}

impl PgSession {
    fn conn(&mut self) -> Result<&mut PgConnection, EtlError> {
        self.conn.as_mut().ok_or_else(no_connection)
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

    /// Records the fingerprint and the detail, and commits.
    async fn commit(
        &mut self,
        detail: &StoreDetail,
        stats: LoadStats,
    ) -> Result<LoadStats, EtlError> {
        let (detail, stats) = recorded_detail(detail, stats);
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
            record_fingerprint(
                conn,
                &store,
                table.etl_name,
                &w,
                received,
                &hash_sum,
                execution_id,
            )
            .await?;
        }
        exec(conn, "COMMIT", "cannot commit the load").await?;
        self.direct = None;
        Ok(stats)
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

#[async_trait]
impl LoadSession for PgSession {
    async fn write(&mut self, batch: Batch) -> Result<(), EtlError> {
        let n = batch.len();
        match (&batch, self.table.target) {
            (Batch::Sales(lines), "sales_lines") => self.encode(lines.iter().map(sale_values)),
            (Batch::Inventory(items), "inventory_current") => {
                self.encode(items.iter().map(inventory_values))
            }
            _ => return Err(wrong_batch(&batch, &self.unit, ErrorSource::Postgresql)),
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
        self.finish_retrying(detail).await
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
                taken_at: chrono::Utc::now(),
                keep_history: true,
            },
        };
        assert_ne!(lease_key(&sales("tienda_01", d1)), lease_key(&inventory));
    }
}
