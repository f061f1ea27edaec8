//! Staged, scoped merges into SQLite.
//!
//! Batches are staged in a per-connection temporary table (outside any transaction on the main
//! database, so staging never holds SQLite's write lock). `finish` then takes the write lock
//! once (`BEGIN IMMEDIATE`) and, in one transaction: counts unchanged rows, updates changed
//! ones, inserts new ones, deletes rows of the scope the source no longer returns, appends the
//! inventory history, and writes the store's tracker detail.

use async_trait::async_trait;
use chrono::Utc;
use sqlx::pool::PoolConnection;
use sqlx::{Connection, QueryBuilder, Sqlite, SqlitePool};

use super::tracker::insert_detail;
use crate::error::EtlError;
use crate::loaders::classify_load_error;
use crate::loaders::lease::{Leased, LocalLease};
use crate::loaders::rows::{
    format_ts, inventory_values, row_hash, sale_values, ColumnType, Value, INVENTORY_COLUMNS,
    SALES_COLUMNS,
};
use crate::model::Batch;
use crate::pipeline::{LoadScope, LoadSession, LoadStats, LoadUnit, Loader};
use crate::tracker::{apply_load_stats, ErrorCategory, ErrorSource, Phase, StoreDetail};

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
}

const SALES: Table = Table {
    stage: "temp.fluxion_stage_sales",
    target: "sales_lines",
    columns: SALES_COLUMNS,
    stage_key: &["invoice_number", "line_number"],
};

const INVENTORY: Table = Table {
    stage: "temp.fluxion_stage_inventory",
    target: "inventory_current",
    columns: INVENTORY_COLUMNS,
    stage_key: &["product_code"],
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
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {} ({}, row_hash INTEGER NOT NULL, PRIMARY KEY ({}))",
            table.stage,
            columns.join(", "),
            table.stage_key.join(", ")
        );
        sqlx::query(&create)
            .execute(&mut *conn)
            .await
            .map_err(load_err("cannot create the staging table"))?;
        sqlx::query(&format!("DELETE FROM {}", table.stage))
            .execute(&mut *conn)
            .await
            .map_err(load_err("cannot clear the staging table"))?;
        Ok(Box::new(SqliteSession {
            conn: Some(conn),
            unit: unit.clone(),
            table,
            received: 0,
        }))
    }

    async fn try_begin(
        &self,
        unit: &LoadUnit,
        _execution_id: i64,
    ) -> Result<Option<Box<dyn LoadSession>>, EtlError> {
        // The file's process keeps its own concurrent runs apart in memory (see
        // `loaders::lease`); an in-memory database is private to its pool and needs no lease.
        let file = self.pool.connect_options().get_filename().to_path_buf();
        if file.as_os_str().is_empty() || file.as_os_str() == ":memory:" {
            return self.begin(unit).await.map(Some);
        }
        let database = std::fs::canonicalize(&file).unwrap_or(file);
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
        rows: impl Iterator<Item = [Value<'a>; N]> + Clone,
        count: usize,
    ) -> Result<(), EtlError> {
        let table = self.table;
        let width = table.columns.len() + 1;
        let per_statement = (MAX_PARAMS / width).max(1);
        let names: Vec<&str> = table.columns.iter().map(|(n, _)| *n).collect();
        let head = format!(
            "INSERT OR REPLACE INTO {} ({}, row_hash) ",
            table.stage,
            names.join(", ")
        );
        let conn = self.conn()?;
        let mut rows = rows.peekable();
        let mut done = 0;
        while done < count {
            let take = per_statement.min(count - done);
            let mut qb: QueryBuilder<'a, Sqlite> = QueryBuilder::new(head.clone());
            qb.push_values(rows.by_ref().take(take), |mut b, values| {
                // Inventory hashes leave out `snapshot_at`, the last column.
                let hashed = if table.target == "inventory_current" {
                    &values[..N - 1]
                } else {
                    &values[..]
                };
                let hash = row_hash(hashed);
                for v in values {
                    push_value(&mut b, v);
                }
                b.push_bind(hash);
            });
            qb.build()
                .execute(&mut **conn)
                .await
                .map_err(load_err("cannot stage a batch in SQLite"))?;
            done += take;
        }
        Ok(())
    }

    async fn merge(&mut self, detail: &StoreDetail) -> Result<LoadStats, EtlError> {
        let table = self.table;
        let unit = self.unit.clone();
        let received = self.received;
        let store = unit.store.as_str().to_owned();
        let execution_id = detail.execution_id;
        let conn = self.conn()?;
        let mut tx = conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(load_err("cannot start a SQLite write transaction"))?;

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

        let unchanged: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM {stage} s JOIN {target} t ON {key_match} AND t.row_hash = s.row_hash",
            stage = table.stage,
            target = table.target,
        ))
        .bind(&store)
        .bind(&p2)
        .bind(&p3)
        .fetch_one(&mut *tx)
        .await
        .map_err(load_err("cannot compare staged rows"))?;

        // A re-delivery of what is already there (the common case for overlapping incremental
        // windows and re-runs) changes nothing: detect it with one count and skip the writes.
        let in_scope: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM {target} AS t WHERE {scope_sql}",
            target = table.target,
        ))
        .bind(&store)
        .bind(&p2)
        .bind(&p3)
        .fetch_one(&mut *tx)
        .await
        .map_err(load_err("cannot count the rows of the unit"))?;
        let nothing_changed =
            unchanged == staged && in_scope == staged && table.target == "sales_lines";

        let names: Vec<&str> = table.columns.iter().map(|(n, _)| *n).collect();
        let set_list = names
            .iter()
            .map(|n| format!("{n} = s.{n}"))
            .collect::<Vec<_>>()
            .join(", ");
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
        let touched = if nothing_changed {
            0
        } else {
            sqlx::query(&update)
                .bind(&store)
                .bind(&p2)
                .bind(&p3)
                .bind(execution_id)
                .bind(&now)
                .execute(&mut *tx)
                .await
                .map_err(load_err("cannot update changed rows"))?
                .rows_affected() as i64
        };
        let updated = if table.target == "sales_lines" {
            touched
        } else {
            touched - unchanged
        };

        let (extra_cols, extra_vals) = match table.target {
            "sales_lines" => (", execution_id, loaded_at", ", ?4, ?5"),
            _ => (", execution_id", ", ?4"),
        };
        let s_names = names
            .iter()
            .map(|n| format!("s.{n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let insert = format!(
            "INSERT INTO {target} ({cols}, row_hash{extra_cols}) \
             SELECT {s_names}, s.row_hash{extra_vals} FROM {stage} AS s \
             WHERE NOT EXISTS (SELECT 1 FROM {target} AS t WHERE {key_match})",
            target = table.target,
            stage = table.stage,
            cols = names.join(", "),
        );
        let inserted = if nothing_changed {
            0
        } else {
            sqlx::query(&insert)
                .bind(&store)
                .bind(&p2)
                .bind(&p3)
                .bind(execution_id)
                .bind(&now)
                .execute(&mut *tx)
                .await
                .map_err(load_err("cannot insert new rows"))?
                .rows_affected() as i64
        };

        let delete = format!(
            "DELETE FROM {target} AS t WHERE {scope_sql} \
             AND NOT EXISTS (SELECT 1 FROM {stage} AS s WHERE {key_match})",
            target = table.target,
            stage = table.stage,
        );
        let deleted = if nothing_changed {
            0
        } else {
            sqlx::query(&delete)
                .bind(&store)
                .bind(&p2)
                .bind(&p3)
                .execute(&mut *tx)
                .await
                .map_err(load_err("cannot delete rows the source no longer returns"))?
                .rows_affected() as i64
        };

        if let LoadScope::InventorySnapshot {
            keep_history: true, ..
        } = unit.scope
        {
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
        let mut detail = detail.clone();
        apply_load_stats(&mut detail, &stats);
        detail.finished_at = Utc::now();
        insert_detail(&mut tx, &detail)
            .await
            .map_err(load_err("cannot record the store's result"))?;
        tx.commit()
            .await
            .map_err(load_err("cannot commit the load"))?;
        Ok(stats)
    }
}

#[async_trait]
impl LoadSession for SqliteSession {
    async fn write(&mut self, batch: Batch) -> Result<(), EtlError> {
        let n = batch.len();
        match (&batch, self.table.target) {
            (Batch::Sales(lines), "sales_lines") => {
                self.stage(lines.iter().map(sale_values), n).await?;
            }
            (Batch::Inventory(items), "inventory_current") => {
                self.stage(items.iter().map(inventory_values), n).await?;
            }
            _ => {
                return Err(EtlError::new(
                    Phase::Load,
                    ErrorCategory::DataValidation,
                    ErrorSource::Sqlite,
                    format!(
                        "a {} batch was written to a {} load",
                        batch.kind(),
                        self.unit.kind()
                    ),
                ))
            }
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
