//! Staged, scoped merges into SQLite.
//!
//! Batches are staged in a per-connection temporary table (outside any transaction on the main
//! database, so staging never holds SQLite's write lock while the source is still being read).
//! `finish` then takes the write lock once (`BEGIN IMMEDIATE`) and, in one transaction that also
//! writes the store's tracker detail, does one of three things — the same three as the
//! PostgreSQL loader:
//!
//! 1. **Unchanged re-delivery** — the delivery's fingerprint (row count and the exact sums of
//!    the high and low 32 bits of its row hashes, computed as the batches arrive) equals that of
//!    the rows the sales window holds. Nothing is compared row by row and nothing is written.
//! 2. **Direct insert** — the window holds no rows: the staged rows are inserted as they are,
//!    nothing to compare or delete. Should a key already exist outside the window (a line whose
//!    time moved across the window's edge), the insert is rolled back to a savepoint and the unit
//!    is merged instead.
//! 3. **Merge** — counts unchanged rows, updates changed ones, inserts new ones, deletes rows of
//!    the scope the source no longer returns, and appends the inventory history.
//!
//! The sales staging table has no key while rows are appended (a B-tree insert per row was most
//! of the staging cost); it gets its index, and repeated keys keep their last occurrence, only
//! when a merge needs them.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use async_trait::async_trait;
use chrono::Utc;
use sqlx::pool::PoolConnection;
use sqlx::{Connection, QueryBuilder, Sqlite, SqlitePool, Transaction};

use crate::error::EtlError;
use crate::loaders::lease::{Leased, LocalLease};
use crate::loaders::rows::{
    format_ts, inventory_values, row_hash, sale_values, set_from_stage, staged_columns, ColumnType,
    Value, INVENTORY_COLUMNS, INVENTORY_WIDTH, SALES_COLUMNS,
};
use crate::loaders::store::insert_detail;
use crate::loaders::{classify_load_error, recorded_detail, wrong_batch};
use crate::model::{Batch, Window};
use crate::pipeline::{LoadScope, LoadSession, LoadStats, LoadUnit, Loader};
use crate::taxonomy::{ErrorCategory, ErrorSource, Phase};
use crate::tracker::StoreDetail;

/// The SQLite [`Loader`].
#[derive(Debug, Clone)]
pub struct SqliteLoader {
    pool: SqlitePool,
}

/// SQLite binds at most 32,766 parameters per statement.
const MAX_PARAMS: usize = 32_000;

impl SqliteLoader {
    /// A loader over a migrated pool.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

struct Table {
    stage: &'static str,
    target: &'static str,
    columns: &'static [(&'static str, ColumnType)],
    /// Staging key within one unit (the store, and for inventory the warehouse, are fixed).
    stage_key: &'static [&'static str],
    /// Whether the staging table is keyed while rows are appended (repeated keys replaced as
    /// they arrive). Sales stage unkeyed and build [`SALES_STAGE_INDEX`] only for a merge.
    keyed_stage: bool,
}

const SALES: Table = Table {
    stage: "temp.fluxion_stage_sales",
    target: "sales_lines",
    columns: SALES_COLUMNS,
    stage_key: &["invoice_number", "line_number"],
    keyed_stage: false,
};

/// The index a sales merge builds on the staged rows' key (and `begin` drops again).
const SALES_STAGE_INDEX: &str = "fluxion_stage_sales_key";

const INVENTORY: Table = Table {
    stage: "temp.fluxion_stage_inventory",
    target: "inventory_current",
    columns: INVENTORY_COLUMNS,
    stage_key: &["product_code"],
    keyed_stage: true,
};

fn table_for(unit: &LoadUnit) -> &'static Table {
    match unit.scope {
        LoadScope::SalesWindow(_) => &SALES,
        LoadScope::InventorySnapshot { .. } => &INVENTORY,
    }
}

fn sqlite_type(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Int | ColumnType::Bool => "INTEGER",
        _ => "TEXT",
    }
}

fn load_err(context: &str) -> impl FnOnce(sqlx::Error) -> EtlError + '_ {
    move |e| classify_load_error(e, ErrorSource::Sqlite, context)
}

#[async_trait]
impl Loader for SqliteLoader {
    async fn begin(&self, unit: &LoadUnit) -> Result<Box<dyn LoadSession>, EtlError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(load_err("cannot open a SQLite connection"))?;
        let table = table_for(unit);
        let columns: Vec<String> = table
            .columns
            .iter()
            .map(|(n, t)| format!("{n} {}", sqlite_type(*t)))
            .collect();
        let create = if table.keyed_stage {
            format!(
                "CREATE TABLE IF NOT EXISTS {} ({}, row_hash INTEGER NOT NULL, PRIMARY KEY ({}))",
                table.stage,
                columns.join(", "),
                table.stage_key.join(", ")
            )
        } else {
            format!(
                "CREATE TABLE IF NOT EXISTS {} ({}, row_hash INTEGER NOT NULL)",
                table.stage,
                columns.join(", "),
            )
        };
        sqlx::query(&create)
            .execute(&mut *conn)
            .await
            .map_err(load_err("cannot create the staging table"))?;
        if !table.keyed_stage {
            // Appends stay cheap: the key index is built only when a merge needs it.
            sqlx::query(&format!("DROP INDEX IF EXISTS temp.{SALES_STAGE_INDEX}"))
                .execute(&mut *conn)
                .await
                .map_err(load_err("cannot reset the staging table"))?;
        }
        sqlx::query(&format!("DELETE FROM {}", table.stage))
            .execute(&mut *conn)
            .await
            .map_err(load_err("cannot clear the staging table"))?;
        Ok(Box::new(SqliteSession {
            conn: Some(conn),
            unit: unit.clone(),
            table,
            received: 0,
            fingerprint: Fingerprint::default(),
            keys: HashSet::new(),
            repeated: false,
        }))
    }

    async fn try_begin(
        &self,
        unit: &LoadUnit,
        _execution_id: i64,
    ) -> Result<Option<Box<dyn LoadSession>>, EtlError> {
        // The file's process keeps its own concurrent runs apart in memory (see
        // `loaders::lease`); an in-memory database is private to its pool and needs no lease.
        let options = self.pool.connect_options();
        let Some(file) = super::database_file(&options) else {
            return self.begin(unit).await.map(Some);
        };
        let database = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
        let Some(lease) = LocalLease::try_acquire(&database.to_string_lossy(), unit) else {
            return Ok(None);
        };
        let session = self.begin(unit).await?;
        Ok(Some(Box::new(Leased::new(session, lease))))
    }
}

struct SqliteSession {
    conn: Option<PoolConnection<Sqlite>>,
    unit: LoadUnit,
    table: &'static Table,
    received: u64,
    /// The sales delivery's fingerprint, over every row received.
    fingerprint: Fingerprint,
    /// Hashes of the sales keys received, to notice a key delivered twice.
    keys: HashSet<u64>,
    /// Whether some sales key was delivered twice (or two keys' hashes collided): the
    /// fingerprint and the direct insert assume distinct keys, so such a unit is merged.
    repeated: bool,
}

/// Row count and the sums of the high (arithmetic shift) and low 32 bits of the row hashes:
/// order-independent, exact in SQLite's 64-bit `SUM` for any realistic row count, and moved by
/// a changed, added or missing row.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    rows: i64,
    high: i64,
    low: i64,
}

impl Fingerprint {
    fn add(&mut self, hash: i64) {
        self.rows += 1;
        self.high += hash >> 32;
        self.low += hash & 0xffff_ffff;
    }
}

/// A hash of a sales line's key within its store, for noticing repeated keys.
fn key_hash(invoice: &str, line: i32) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    invoice.hash(&mut h);
    line.hash(&mut h);
    h.finish()
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

fn push_value<'a>(
    b: &mut sqlx::query_builder::Separated<'_, 'a, Sqlite, &'static str>,
    v: Value<'a>,
) {
    match v {
        Value::Text(s) => {
            b.push_bind(s);
        }
        Value::Decimal(d) => {
            b.push_bind(d.map(|d| d.normalize().to_string()));
        }
        Value::Int(i) => {
            b.push_bind(i);
        }
        Value::Bool(x) => {
            b.push_bind(x);
        }
        Value::Timestamp(t) => {
            b.push_bind(format_ts(t));
        }
        Value::Date(d) => {
            b.push_bind(d.to_string());
        }
    }
}

impl SqliteSession {
    fn conn(&mut self) -> Result<&mut PoolConnection<Sqlite>, EtlError> {
        self.conn.as_mut().ok_or_else(|| {
            EtlError::new(
                Phase::Load,
                ErrorCategory::PgConnection,
                ErrorSource::Sqlite,
                "the load session was already finished or aborted",
            )
            .retryable(false)
        })
    }

    async fn stage<'a, const N: usize>(
        &mut self,
        rows: Vec<([Value<'a>; N], i64)>,
    ) -> Result<(), EtlError> {
        let table = self.table;
        let width = table.columns.len() + 1;
        let per_statement = (MAX_PARAMS / width).max(1);
        let names: Vec<&str> = table.columns.iter().map(|(n, _)| *n).collect();
        let head = format!(
            "INSERT {}INTO {} ({}, row_hash) ",
            if table.keyed_stage { "OR REPLACE " } else { "" },
            table.stage,
            names.join(", ")
        );
        let conn = self.conn()?;
        let mut rows = rows.into_iter();
        while rows.len() > 0 {
            let mut qb: QueryBuilder<'a, Sqlite> = QueryBuilder::new(head.clone());
            qb.push_values(
                rows.by_ref().take(per_statement),
                |mut b, (values, hash)| {
                    for v in values {
                        push_value(&mut b, v);
                    }
                    b.push_bind(hash);
                },
            );
            qb.build()
                .execute(&mut **conn)
                .await
                .map_err(load_err("cannot stage a batch in SQLite"))?;
        }
        Ok(())
    }

    async fn merge(&mut self, detail: &StoreDetail) -> Result<LoadStats, EtlError> {
        let table = self.table;
        let unit = self.unit.clone();
        let received = self.received;
        let store = unit.store.as_str().to_owned();
        let execution_id = detail.execution_id;
        let (repeated, fingerprint) = (self.repeated, self.fingerprint);
        let conn = self.conn()?;
        let mut tx = conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(load_err("cannot start a SQLite write transaction"))?;

        if let (LoadScope::SalesWindow(w), false) = (&unit.scope, repeated) {
            let shortcut = fast_sales(&mut tx, &store, w, fingerprint, execution_id).await?;
            if let Some(stats) = shortcut {
                return record(tx, detail, stats).await;
            }
        }
        if !table.keyed_stage {
            // Repeated keys keep their last occurrence, as the keyed staging of inventory does.
            if repeated {
                sqlx::query(&format!(
                    "DELETE FROM {stage} WHERE rowid NOT IN \
                     (SELECT max(rowid) FROM {stage} GROUP BY {key})",
                    stage = table.stage,
                    key = table.stage_key.join(", "),
                ))
                .execute(&mut *tx)
                .await
                .map_err(load_err("cannot drop repeated staged rows"))?;
            }
            sqlx::query(&format!(
                "CREATE UNIQUE INDEX IF NOT EXISTS temp.{SALES_STAGE_INDEX} ON {} ({})",
                table.stage.trim_start_matches("temp."),
                table.stage_key.join(", "),
            ))
            .execute(&mut *tx)
            .await
            .map_err(load_err("cannot index the staged rows"))?;
        }

        let staged: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", table.stage))
            .fetch_one(&mut *tx)
            .await
            .map_err(load_err("cannot count staged rows"))?;

        // The target rows of this unit, matched to staged rows by key.
        let (scope_sql, key_match) = match &unit.scope {
            LoadScope::SalesWindow(_) => (
                "t.store_id = ?1 AND t.sold_at >= ?2 AND t.sold_at < ?3",
                "t.store_id = ?1 AND t.invoice_number = s.invoice_number AND t.line_number = s.line_number",
            ),
            LoadScope::InventorySnapshot { .. } => (
                "t.store_id = ?1 AND t.warehouse_code = ?2",
                "t.store_id = ?1 AND t.warehouse_code = ?2 AND t.product_code = s.product_code",
            ),
        };
        let (p2, p3) = match &unit.scope {
            LoadScope::SalesWindow(w) => (format_ts(w.from_utc()), format_ts(w.to_utc())),
            LoadScope::InventorySnapshot { warehouse, .. } => (warehouse.clone(), String::new()),
        };

        let scope = [store.as_str(), &p2, &p3];
        let unchanged = count_in_scope(
            &mut tx,
            &format!(
                "SELECT COUNT(*) FROM {stage} s JOIN {target} t ON {key_match} AND t.row_hash = s.row_hash",
                stage = table.stage,
                target = table.target,
            ),
            scope,
            "cannot compare staged rows",
        )
        .await?;

        // A re-delivery of what is already there (the common case for overlapping incremental
        // windows and re-runs) changes nothing: detect it with one count and skip the writes.
        let in_scope = count_in_scope(
            &mut tx,
            &format!(
                "SELECT COUNT(*) FROM {target} AS t WHERE {scope_sql}",
                target = table.target,
            ),
            scope,
            "cannot count the rows of the unit",
        )
        .await?;
        let nothing_changed =
            unchanged == staged && in_scope == staged && table.target == "sales_lines";

        let names: Vec<&str> = table.columns.iter().map(|(n, _)| *n).collect();
        let set_list = set_from_stage(&names);
        let now = format_ts(Utc::now());
        let (extra_set, change_filter) = match table.target {
            "sales_lines" => (
                ", execution_id = ?4, loaded_at = ?5".to_owned(),
                " AND t.row_hash <> s.row_hash",
            ),
            // Inventory refreshes `snapshot_at` of every row it saw, changed or not.
            _ => (", execution_id = ?4".to_owned(), ""),
        };
        let update = format!(
            "UPDATE {target} AS t SET {set_list}, row_hash = s.row_hash{extra_set} \
             FROM {stage} AS s WHERE {key_match}{change_filter}",
            target = table.target,
            stage = table.stage,
        );
        let (extra_cols, extra_vals) = match table.target {
            "sales_lines" => (", execution_id, loaded_at", ", ?4, ?5"),
            _ => (", execution_id", ", ?4"),
        };
        let s_names = staged_columns(&names);
        let insert = format!(
            "INSERT INTO {target} ({cols}, row_hash{extra_cols}) \
             SELECT {s_names}, s.row_hash{extra_vals} FROM {stage} AS s \
             WHERE NOT EXISTS (SELECT 1 FROM {target} AS t WHERE {key_match})",
            target = table.target,
            stage = table.stage,
            cols = names.join(", "),
        );
        let delete = format!(
            "DELETE FROM {target} AS t WHERE {scope_sql} \
             AND NOT EXISTS (SELECT 1 FROM {stage} AS s WHERE {key_match})",
            target = table.target,
            stage = table.stage,
        );
        // The writes, in this order. Each takes the parameters it names from one list — the
        // store, the scope's bounds, the execution, the load time — and SQLite leaves the
        // others unbound.
        let writes = [
            (&update, "cannot update changed rows"),
            (&insert, "cannot insert new rows"),
            (&delete, "cannot delete rows the source no longer returns"),
        ];
        let mut written = [0i64; 3];
        if !nothing_changed {
            for ((sql, context), rows) in writes.into_iter().zip(&mut written) {
                *rows = sqlx::query(sql)
                    .bind(&store)
                    .bind(&p2)
                    .bind(&p3)
                    .bind(execution_id)
                    .bind(&now)
                    .execute(&mut *tx)
                    .await
                    .map_err(load_err(context))?
                    .rows_affected() as i64;
            }
        }
        let [touched, inserted, deleted] = written;
        let updated = if table.target == "sales_lines" {
            touched
        } else {
            touched - unchanged
        };

        if let LoadScope::InventorySnapshot { keep_history, .. } = unit.scope {
            if keep_history {
                let history = format!(
                    "INSERT INTO inventory_history ({cols}, execution_id) SELECT {s_names}, ?1 FROM {stage} AS s",
                    cols = names.join(", "),
                    stage = table.stage,
                );
                sqlx::query(&history)
                    .bind(execution_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(load_err("cannot append the inventory history"))?;
            } else {
                // No history rows for the triggers to count: the snapshot's day is counted
                // here, as the history would have counted it, so coverage still sees it.
                sqlx::query(&format!(
                    "INSERT INTO inventory_daily_counts (store_id, day, records) \
                     SELECT store_id, date(snapshot_at, '-4 hours'), COUNT(*) FROM {stage} \
                     WHERE date(snapshot_at, '-4 hours') IS NOT NULL GROUP BY 1, 2 \
                     ON CONFLICT (store_id, day) DO UPDATE SET records = records + excluded.records",
                    stage = table.stage,
                ))
                .execute(&mut *tx)
                .await
                .map_err(load_err("cannot count the inventory snapshot's day"))?;
            }
        }

        let repeated = received as i64 - staged;
        let stats = LoadStats {
            received,
            inserted: inserted as u64,
            updated: updated.max(0) as u64,
            deleted: deleted as u64,
            unchanged: (unchanged + repeated).max(0) as u64,
            detail_recorded: true,
        };
        record(tx, detail, stats).await
    }
}

/// A count over the unit's scope: `?1` the store, `?2` and `?3` the scope's bounds.
async fn count_in_scope(
    tx: &mut Transaction<'_, Sqlite>,
    sql: &str,
    [store, p2, p3]: [&str; 3],
    context: &str,
) -> Result<i64, EtlError> {
    sqlx::query_scalar(sql)
        .bind(store)
        .bind(p2)
        .bind(p3)
        .fetch_one(&mut **tx)
        .await
        .map_err(load_err(context))
}

/// Writes the store's tracker detail and commits the unit's transaction.
async fn record(
    mut tx: Transaction<'_, Sqlite>,
    detail: &StoreDetail,
    stats: LoadStats,
) -> Result<LoadStats, EtlError> {
    let (detail, stats) = recorded_detail(detail, stats);
    insert_detail(&mut *tx, &detail)
        .await
        .map_err(load_err("cannot record the store's result"))?;
    tx.commit()
        .await
        .map_err(load_err("cannot commit the load"))?;
    Ok(stats)
}

/// The two ways a sales delivery with distinct keys skips the merge: it is exactly what the
/// window holds (nothing written), or the window is empty (the staged rows inserted as they
/// are). `None` when the unit must be merged.
async fn fast_sales(
    tx: &mut Transaction<'_, Sqlite>,
    store: &str,
    window: &Window,
    delivery: Fingerprint,
    execution_id: i64,
) -> Result<Option<LoadStats>, EtlError> {
    let (from, to) = (format_ts(window.from_utc()), format_ts(window.to_utc()));
    let (rows, high, low): (i64, Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), SUM(row_hash >> 32), SUM(row_hash & 4294967295) FROM sales_lines \
         WHERE store_id = ?1 AND sold_at >= ?2 AND sold_at < ?3",
    )
    .bind(store)
    .bind(&from)
    .bind(&to)
    .fetch_one(&mut **tx)
    .await
    .map_err(load_err("cannot fingerprint the window's rows"))?;
    let live = Fingerprint {
        rows,
        high: high.unwrap_or(0),
        low: low.unwrap_or(0),
    };
    let received = delivery.rows as u64;
    if live == delivery {
        tracing::debug!(store = %store, rows = received, "Window unchanged; no merge.");
        return Ok(Some(LoadStats {
            received,
            unchanged: received,
            ..LoadStats::default()
        }));
    }
    if live.rows != 0 {
        return Ok(None);
    }
    let names: Vec<&str> = SALES.columns.iter().map(|(n, _)| *n).collect();
    let insert = format!(
        "INSERT INTO {target} ({cols}, row_hash, execution_id, loaded_at) \
         SELECT {cols}, row_hash, ?1, ?2 FROM {stage}",
        target = SALES.target,
        stage = SALES.stage,
        cols = names.join(", "),
    );
    let mut savepoint = tx
        .begin()
        .await
        .map_err(load_err("cannot open a savepoint"))?;
    let inserted = sqlx::query(&insert)
        .bind(execution_id)
        .bind(format_ts(Utc::now()))
        .execute(&mut *savepoint)
        .await;
    match inserted {
        Ok(done) => {
            savepoint
                .commit()
                .await
                .map_err(load_err("cannot release a savepoint"))?;
            Ok(Some(LoadStats {
                received,
                inserted: done.rows_affected(),
                ..LoadStats::default()
            }))
        }
        // A key of the delivery exists outside the window: merge.
        Err(e) if is_unique_violation(&e) => {
            savepoint
                .rollback()
                .await
                .map_err(load_err("cannot roll back to a savepoint"))?;
            Ok(None)
        }
        Err(e) => Err(load_err("cannot insert new rows")(e)),
    }
}

#[async_trait]
impl LoadSession for SqliteSession {
    async fn write(&mut self, batch: Batch) -> Result<(), EtlError> {
        let n = batch.len();
        match (&batch, self.table.target) {
            (Batch::Sales(lines), "sales_lines") => {
                let mut hashes = Vec::with_capacity(n);
                for line in lines {
                    let hash = row_hash(&sale_values(line));
                    self.fingerprint.add(hash);
                    if !self
                        .keys
                        .insert(key_hash(&line.invoice_number, line.line_number))
                    {
                        self.repeated = true;
                    }
                    hashes.push(hash);
                }
                let rows = lines.iter().map(sale_values).zip(hashes).collect();
                self.stage(rows).await?;
            }
            (Batch::Inventory(items), "inventory_current") => {
                // Inventory hashes leave out `snapshot_at`, the last column.
                let rows = items.iter().map(|i| {
                    let values = inventory_values(i);
                    let hash = row_hash(&values[..INVENTORY_WIDTH - 1]);
                    (values, hash)
                });
                self.stage(rows.collect()).await?;
            }
            _ => return Err(wrong_batch(&batch, &self.unit, ErrorSource::Sqlite)),
        }
        self.received += n as u64;
        Ok(())
    }

    async fn finish(&mut self, detail: &StoreDetail) -> Result<LoadStats, EtlError> {
        let result = self.merge(detail).await;
        if result.is_ok() {
            // Leave the connection clean for the next unit; a failure here is harmless (the
            // next `begin` clears the table again).
            if let Some(conn) = self.conn.as_mut() {
                let _ = sqlx::query(&format!("DELETE FROM {}", self.table.stage))
                    .execute(&mut **conn)
                    .await;
            }
            self.conn = None;
        }
        result
    }

    async fn abort(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            // The staged rows never touched the main database; clearing them is housekeeping.
            if sqlx::query(&format!("DELETE FROM {}", self.table.stage))
                .execute(&mut *conn)
                .await
                .is_err()
            {
                conn.close_on_drop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fingerprint_matches_sqlite_arithmetic() {
        let pool = SqlitePool::connect("sqlite::memory:").await.unwrap();
        let hashes = [
            i64::MIN,
            -1,
            0,
            1,
            i64::MAX,
            -4_294_967_296,
            0x1234_5678_9abc_def0,
        ];
        let mut ours = Fingerprint::default();
        for h in hashes {
            ours.add(h);
        }
        let list = hashes.map(|h| format!("({h})")).join(",");
        let (rows, high, low): (i64, i64, i64) = sqlx::query_as(&format!(
            "WITH t(row_hash) AS (VALUES {list}) \
             SELECT COUNT(*), SUM(row_hash >> 32), SUM(row_hash & 4294967295) FROM t"
        ))
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(ours, Fingerprint { rows, high, low });
    }
}
