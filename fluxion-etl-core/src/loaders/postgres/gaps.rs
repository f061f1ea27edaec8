//! The [`GapStore`] queries on PostgreSQL.
//!
//! The same logic as the `v_gaps_to_recover` view of migration 0001, but with `now` a parameter
//! rather than the server's clock, so that reports (and tests) are reproducible: the view reads
//! the rows, [`crate::gaps`] does the arithmetic for both backends.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use crate::error::Result;
use crate::gaps::{Attempt, DayCount, GapStore, HourCount};
use crate::model::{DataKind, StoreId};

/// The PostgreSQL [`GapStore`].
#[derive(Debug, Clone)]
pub struct PostgresGaps {
    pool: PgPool,
}

impl PostgresGaps {
    /// Gap queries over a migrated pool.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn attempt(row: &PgRow) -> std::result::Result<Attempt, sqlx::Error> {
    Ok(Attempt {
        execution_id: row.try_get("execution_id")?,
        detail_id: row.try_get("detail_id")?,
        store_id: StoreId::new(row.try_get::<String, _>("store_id")?),
        store_name: row.try_get("store_name")?,
        succeeded: row.try_get::<String, _>("status")? == "success",
        window_from: row.try_get("window_from")?,
        window_to: row.try_get("window_to")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        error_phase: row.try_get("error_phase")?,
        error_category: row.try_get("error_category")?,
        error_message: row.try_get("error_message")?,
    })
}

#[async_trait]
impl GapStore for PostgresGaps {
    async fn attempts(
        &self,
        kind: DataKind,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<Attempt>> {
        let rows = sqlx::query(
            "SELECT d.execution_id::bigint AS execution_id, d.id::bigint AS detail_id, \
                    d.tienda_id::text AS store_id, d.tienda_nombre::text AS store_name, \
                    d.status::text AS status, d.window_from, d.window_to, \
                    COALESCE(d.started_at, e.started_at) AS started_at, d.finished_at, \
                    d.error_phase::text AS error_phase, d.error_category::text AS error_category, \
                    d.error_message \
             FROM etl_execution_details d JOIN etl_executions e ON e.id = d.execution_id \
             WHERE d.status IN ('success', 'failed') \
               AND COALESCE(d.etl_name, e.etl_name) = $1 \
               AND d.finished_at BETWEEN $2 AND $3 \
             UNION ALL \
             SELECT e.id::bigint, NULL::bigint, j.store_id, NULL::text, 'failed', e.fecha_desde, \
                    e.fecha_hasta, e.started_at, e.finished_at, e.error_phase::text, \
                    e.error_category::text, e.error_message \
             FROM etl_executions e \
             CROSS JOIN LATERAL jsonb_array_elements_text(COALESCE(e.tiendas, '[]'::jsonb)) AS j(store_id) \
             WHERE e.etl_name = $1 AND e.status IN ('failed', 'partial') \
               AND e.finished_at IS NOT NULL AND e.finished_at BETWEEN $2 AND $3 \
               AND jsonb_typeof(COALESCE(e.tiendas, '[]'::jsonb)) = 'array' \
               AND NOT EXISTS (SELECT 1 FROM etl_execution_details x \
                               WHERE x.execution_id = e.id AND x.tienda_id = j.store_id)",
        )
        .bind(kind.etl_name())
        .bind(since)
        .bind(until)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(attempt)
            .collect::<std::result::Result<_, _>>()?)
    }

    async fn daily_counts(&self, kind: DataKind) -> Result<Vec<DayCount>> {
        // Kept by migration 0004's triggers in the writers' transactions: one row per store
        // and day, whatever the size of the data tables.
        let sql = match kind {
            DataKind::Sales => "SELECT store_id, day, records AS n FROM sales_daily_counts",
            DataKind::Inventory => "SELECT store_id, day, records AS n FROM inventory_daily_counts",
        };
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(DayCount {
                store_id: StoreId::new(row.try_get::<String, _>("store_id")?),
                day: row.try_get::<NaiveDate, _>("day")?,
                records: row.try_get("n")?,
            });
        }
        Ok(out)
    }

    async fn hourly_sales(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<HourCount>> {
        // Truncated in UTC whatever the session's TimeZone; Caracas hours are whole UTC hours.
        let rows = sqlx::query(
            "SELECT store_id, date_trunc('hour', sold_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour, \
                    COUNT(*)::bigint AS n \
             FROM sales_lines WHERE sold_at >= $1 AND sold_at < $2 GROUP BY 1, 2",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(HourCount {
                store_id: StoreId::new(row.try_get::<String, _>("store_id")?),
                hour: row.try_get("hour")?,
                records: row.try_get("n")?,
            });
        }
        Ok(out)
    }
}
