//! The [`GapStore`] queries of both destinations.
//!
//! The same logic as PostgreSQL's `v_gaps_to_recover` view (migration 0001), but with `now` a
//! parameter rather than the server's clock, so that reports (and tests) are reproducible: the
//! store reads the rows, [`crate::gaps`] does the arithmetic.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Database, Pool};

use super::{Backend, Cells, Stmt};
use crate::error::Result;
use crate::gaps::{Attempt, DayCount, GapStore, HourCount};
use crate::model::DataKind;
use crate::tracker::StoreStatus;

/// The [`GapStore`] over a destination's pool.
#[derive(Debug)]
pub struct SqlGaps<DB: Database> {
    pool: Pool<DB>,
}

impl<DB: Database> SqlGaps<DB> {
    /// Gap queries over a migrated pool.
    pub fn new(pool: Pool<DB>) -> Self {
        Self { pool }
    }
}

impl<DB: Database> Clone for SqlGaps<DB> {
    fn clone(&self) -> Self {
        Self::new(self.pool.clone())
    }
}

fn attempt<R: Cells>(row: &R) -> Result<Attempt> {
    Ok(Attempt {
        execution_id: row.get("execution_id")?,
        detail_id: row.get("detail_id")?,
        store_id: row.get("store_id")?,
        store_name: row.get("store_name")?,
        succeeded: row.get::<StoreStatus>("status")? == StoreStatus::Success,
        window_from: row.get("window_from")?,
        window_to: row.get("window_to")?,
        started_at: row.get("started_at")?,
        finished_at: row.get("finished_at")?,
        error_phase: row.get("error_phase")?,
        error_category: row.get("error_category")?,
        error_message: row.get("error_message")?,
    })
}

fn day_count<R: Cells>(row: &R) -> Result<DayCount> {
    Ok(DayCount {
        store_id: row.get("store_id")?,
        day: row.get("day")?,
        records: row.get("n")?,
    })
}

fn hour_count<R: Cells>(row: &R) -> Result<HourCount> {
    Ok(HourCount {
        store_id: row.get("store_id")?,
        hour: row.get("hour")?,
        records: row.get("n")?,
    })
}

#[async_trait]
impl<DB: Backend> GapStore for SqlGaps<DB> {
    async fn attempts(
        &self,
        kind: DataKind,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<Attempt>> {
        let sql = format!(
            "SELECT d.execution_id, d.id AS detail_id, d.tienda_id AS store_id, \
                    d.tienda_nombre AS store_name, d.status, d.window_from, d.window_to, \
                    COALESCE(d.started_at, e.started_at) AS started_at, d.finished_at, \
                    d.error_phase, d.error_category, d.error_message \
             FROM etl_execution_details d JOIN etl_executions e ON e.id = d.execution_id \
             WHERE d.status IN ('success', 'failed') \
               AND COALESCE(d.etl_name, e.etl_name) = $1 \
               AND d.finished_at BETWEEN $2 AND $3 \
             UNION ALL \
             SELECT e.id, NULL, j.value, NULL, 'failed', e.fecha_desde, e.fecha_hasta, \
                    e.started_at, e.finished_at, e.error_phase, e.error_category, e.error_message \
             FROM etl_executions e, {} \
             WHERE e.etl_name = $1 AND e.status IN ('failed', 'partial') \
               AND e.finished_at IS NOT NULL AND e.finished_at BETWEEN $2 AND $3 \
               AND NOT EXISTS (SELECT 1 FROM etl_execution_details x \
                               WHERE x.execution_id = e.id AND x.tienda_id = j.value)",
            DB::EXECUTION_STORES
        );
        let stmt = Stmt::new(sql).bind(kind.etl_name()).bind(since).bind(until);
        stmt.decode_all(&self.pool, attempt).await
    }

    async fn daily_counts(&self, kind: DataKind) -> Result<Vec<DayCount>> {
        // Kept by migration 0004's triggers in the writers' transactions: one row per store
        // and day, whatever the size of the data tables.
        let sql = match kind {
            DataKind::Sales => "SELECT store_id, day, records AS n FROM sales_daily_counts",
            DataKind::Inventory => "SELECT store_id, day, records AS n FROM inventory_daily_counts",
        };
        Stmt::new(sql).decode_all(&self.pool, day_count).await
    }

    async fn hourly_sales(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<HourCount>> {
        let sql = format!(
            "SELECT store_id, {} AS hour, COUNT(*) AS n FROM sales_lines \
             WHERE sold_at >= $1 AND sold_at < $2 GROUP BY 1, 2",
            DB::HOUR_SOLD
        );
        Stmt::new(sql)
            .bind(from)
            .bind(to)
            .decode_all(&self.pool, hour_count)
            .await
    }
}
