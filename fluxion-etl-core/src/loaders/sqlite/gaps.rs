//! The [`GapStore`] queries on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use crate::error::Result;
use crate::gaps::{Attempt, DayCount, GapStore, HourCount};
use crate::loaders::rows::{format_ts, parse_ts};
use crate::model::{DataKind, StoreId};

/// The SQLite [`GapStore`].
#[derive(Debug, Clone)]
pub struct SqliteGaps {
    pool: SqlitePool,
}

impl SqliteGaps {
    /// Gap queries over a migrated pool.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

fn ts(row: &SqliteRow, col: &str) -> std::result::Result<Option<DateTime<Utc>>, sqlx::Error> {
    Ok(row
        .try_get::<Option<String>, _>(col)?
        .and_then(|s| parse_ts(&s)))
}

fn attempt(row: &SqliteRow) -> std::result::Result<Option<Attempt>, sqlx::Error> {
    let Some(started_at) = ts(row, "started_at")? else {
        return Ok(None);
    };
    Ok(Some(Attempt {
        execution_id: row.try_get("execution_id")?,
        detail_id: row.try_get("detail_id")?,
        store_id: StoreId::new(row.try_get::<String, _>("store_id")?),
        store_name: row.try_get("store_name")?,
        succeeded: row.try_get::<String, _>("status")? == "success",
        window_from: ts(row, "window_from")?,
        window_to: ts(row, "window_to")?,
        started_at,
        finished_at: ts(row, "finished_at")?,
        error_phase: row.try_get("error_phase")?,
        error_category: row.try_get("error_category")?,
        error_message: row.try_get("error_message")?,
    }))
}

#[async_trait]
impl GapStore for SqliteGaps {
    async fn attempts(
        &self,
        kind: DataKind,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<Attempt>> {
        // Timestamps are fixed-width UTC text, so text comparison is time comparison.
        let rows = sqlx::query(
            "SELECT d.execution_id, d.id AS detail_id, d.tienda_id AS store_id, \
                    d.tienda_nombre AS store_name, d.status, d.window_from, d.window_to, \
                    COALESCE(d.started_at, e.started_at) AS started_at, d.finished_at, \
                    d.error_phase, d.error_category, d.error_message \
             FROM etl_execution_details d JOIN etl_executions e ON e.id = d.execution_id \
             WHERE d.status IN ('success', 'failed') \
               AND COALESCE(d.etl_name, e.etl_name) = ?1 \
               AND d.finished_at BETWEEN ?2 AND ?3 \
             UNION ALL \
             SELECT e.id, NULL, j.value, NULL, 'failed', e.fecha_desde, e.fecha_hasta, \
                    e.started_at, e.finished_at, e.error_phase, e.error_category, e.error_message \
             FROM etl_executions e, json_each(e.tiendas) j \
             WHERE e.etl_name = ?1 AND e.status IN ('failed', 'partial') \
               AND e.finished_at IS NOT NULL AND e.finished_at BETWEEN ?2 AND ?3 \
               AND NOT EXISTS (SELECT 1 FROM etl_execution_details x \
                               WHERE x.execution_id = e.id AND x.tienda_id = j.value)",
        )
        .bind(kind.etl_name())
        .bind(format_ts(since))
        .bind(format_ts(until))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.extend(attempt(row)?);
        }
        Ok(out)
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
            let day: String = row.try_get("day")?;
            let Ok(day) = NaiveDate::parse_from_str(&day, "%Y-%m-%d") else {
                continue;
            };
            out.push(DayCount {
                store_id: StoreId::new(row.try_get::<String, _>("store_id")?),
                day,
                records: row.try_get("n")?,
            });
        }
        Ok(out)
    }

    async fn hourly_sales(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<HourCount>> {
        let rows = sqlx::query(
            "SELECT store_id, substr(sold_at, 1, 13) AS hour, COUNT(*) AS n FROM sales_lines \
             WHERE sold_at >= ?1 AND sold_at < ?2 GROUP BY 1, 2",
        )
        .bind(format_ts(from))
        .bind(format_ts(to))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let hour: String = row.try_get("hour")?;
            let Some(hour) = parse_ts(&format!("{hour}:00:00Z")) else {
                continue;
            };
            out.push(HourCount {
                store_id: StoreId::new(row.try_get::<String, _>("store_id")?),
                hour,
                records: row.try_get("n")?,
            });
        }
        Ok(out)
    }
}
