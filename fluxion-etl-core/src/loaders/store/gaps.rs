//! The [`GapStore`] queries of both destinations.
//!
//! The same logic as PostgreSQL's `v_gaps_to_recover` view (migration 0001), but with `now` a
//! parameter rather than the server's clock, so that reports (and tests) are reproducible: the
//! store reads the rows, [`crate::gaps`] does the arithmetic.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{from_columns, stmt, Backend, Cells, SqlStore, Stmt};
use crate::error::Result;
use crate::gaps::{Attempt, DayCount, GapStore, HourCount};
use crate::model::DataKind;
use crate::tracker::StoreStatus;

fn attempt<R: Cells>(row: &R) -> Result<Attempt> {
    Ok(from_columns!(row => Attempt {
        execution_id, detail_id, store_id, store_name,
        succeeded: row.get::<StoreStatus>("status")? == StoreStatus::Success,
        window_from, window_to, started_at, finished_at, error_phase, error_category, error_message,
    }))
}

fn day_count<R: Cells>(row: &R) -> Result<DayCount> {
    Ok(from_columns!(row => DayCount { store_id, day, records }))
}

fn hour_count<R: Cells>(row: &R) -> Result<HourCount> {
    Ok(from_columns!(row => HourCount { store_id, hour, records }))
}

#[async_trait]
impl<DB: Backend> GapStore for SqlStore<DB> {
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
        stmt!(sql; kind, since, until)
            .decode_all(&self.pool, attempt)
            .await
    }

    async fn daily_counts(&self, kind: DataKind) -> Result<Vec<DayCount>> {
        // Kept by migration 0004's triggers in the writers' transactions: one row per store
        // and day, whatever the size of the data tables.
        let sql = match kind {
            DataKind::Sales => "SELECT store_id, day, records FROM sales_daily_counts",
            DataKind::Inventory => "SELECT store_id, day, records FROM inventory_daily_counts",
        };
        Stmt::new(sql).decode_all(&self.pool, day_count).await
    }

    async fn hourly_sales(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<HourCount>> {
        let sql = format!(
            "SELECT store_id, {} AS hour, COUNT(*) AS records FROM sales_lines \
             WHERE sold_at >= $1 AND sold_at < $2 GROUP BY 1, 2",
            DB::HOUR_SOLD
        );
        stmt!(sql; from, to)
            .decode_all(&self.pool, hour_count)
            .await
    }
}
