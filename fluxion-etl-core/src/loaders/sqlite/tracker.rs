//! `etl_executions` and `etl_execution_details` in SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use crate::error::Result;
use crate::loaders::rows::{format_ts, parse_ts};
use crate::model::DataKind;
use crate::tracker::{
    ExecutionFinish, ExecutionView, HistoryEntry, HistoryFilter, NewExecution, Stats,
    StatsDetailRow, StatsExecutionRow, StoreDetail, StoreDetailView, TrackerStore,
};

/// The SQLite [`TrackerStore`].
#[derive(Debug, Clone)]
pub struct SqliteTracker {
    pool: SqlitePool,
}

impl SqliteTracker {
    /// A tracker over a migrated pool.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

/// Inserts a detail row on any connection (the loader calls it inside its transaction).
pub(super) async fn insert_detail(
    conn: &mut SqliteConnection,
    d: &StoreDetail,
) -> std::result::Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO etl_execution_details (execution_id, tienda_id, tienda_nombre, source_system, status, \
         started_at, finished_at, duration_seconds, records_extracted, records_loaded, duplicates_skipped, \
         error_phase, error_category, error_message, server_ip, server_port, connection_latency_ms, \
         etl_name, window_from, window_to, records_inserted, records_updated, records_deleted, records_rejected, \
         extract_seconds, transform_seconds, load_seconds, api_requests, api_errors, error_retryable) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, \
         ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30)",
    )
    .bind(d.execution_id)
    .bind(d.tienda_id.as_str())
    .bind(d.tienda_nombre.as_deref())
    .bind(d.source_system.map(|s| s.as_str()))
    .bind(d.status.as_str())
    .bind(format_ts(d.started_at))
    .bind(format_ts(d.finished_at))
    .bind(round2(d.duration_seconds))
    .bind(d.records_extracted)
    .bind(d.records_loaded)
    .bind(d.duplicates_skipped)
    .bind(d.error_phase.map(|p| p.as_str()))
    .bind(d.error_category.map(|c| c.as_str()))
    .bind(d.error_message.as_deref())
    .bind(d.server_ip.as_deref())
    .bind(d.server_port)
    .bind(d.connection_latency_ms.map(round2))
    .bind(d.etl_name.etl_name())
    .bind(d.window_from.map(format_ts))
    .bind(d.window_to.map(format_ts))
    .bind(d.records_inserted)
    .bind(d.records_updated)
    .bind(d.records_deleted)
    .bind(d.records_rejected)
    .bind(round2(d.extract_seconds))
    .bind(round2(d.transform_seconds))
    .bind(round2(d.load_seconds))
    .bind(d.api_requests)
    .bind(d.api_errors)
    .bind(d.error_retryable)
    .execute(conn)
    .await?;
    Ok(())
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn ts(row: &SqliteRow, col: &str) -> Option<DateTime<Utc>> {
    row.try_get::<Option<String>, _>(col)
        .ok()
        .flatten()
        .and_then(|s| parse_ts(&s))
}

const HISTORY_COLUMNS: &str = "id, etl_name, etl_type, started_at, finished_at, duration_seconds, status, \
    records_extracted, records_loaded, duplicates_skipped, tiendas_count, tiendas_exitosas, tiendas_fallidas, \
    error_phase, error_category, triggered_by, is_recovery";

fn history_entry(row: &SqliteRow) -> std::result::Result<HistoryEntry, sqlx::Error> {
    Ok(HistoryEntry {
        id: row.try_get("id")?,
        etl_name: row.try_get("etl_name")?,
        etl_type: row.try_get("etl_type")?,
        started_at: ts(row, "started_at").unwrap_or_default(),
        finished_at: ts(row, "finished_at"),
        duration_seconds: row.try_get("duration_seconds")?,
        status: row.try_get("status")?,
        records_extracted: row.try_get("records_extracted")?,
        records_loaded: row.try_get("records_loaded")?,
        duplicates_skipped: row.try_get("duplicates_skipped")?,
        tiendas_count: row.try_get("tiendas_count")?,
        tiendas_exitosas: row.try_get("tiendas_exitosas")?,
        tiendas_fallidas: row.try_get("tiendas_fallidas")?,
        error_phase: row.try_get("error_phase")?,
        error_category: row.try_get("error_category")?,
        triggered_by: row.try_get("triggered_by")?,
        is_recovery: row.try_get("is_recovery")?,
    })
}

#[async_trait]
impl TrackerStore for SqliteTracker {
    async fn insert_execution(&self, e: &NewExecution) -> Result<i64> {
        let tiendas = serde_json::to_string(&e.tiendas).unwrap_or_else(|_| "[]".into());
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO etl_executions (etl_name, etl_type, mode, started_at, fecha_desde, fecha_hasta, status, \
             tiendas, tiendas_count, triggered_by, source_system, is_recovery, recovered_gap_id, host, version) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) RETURNING id",
        )
        .bind(e.etl_name.etl_name())
        .bind(&e.etl_type)
        .bind(e.mode.as_str())
        .bind(format_ts(e.started_at))
        .bind(e.fecha_desde.map(format_ts))
        .bind(e.fecha_hasta.map(format_ts))
        .bind(tiendas)
        .bind(e.tiendas.len() as i64)
        .bind(e.triggered_by.as_str())
        .bind(e.source_system.as_deref())
        .bind(e.is_recovery)
        .bind(e.recovered_gap_id)
        .bind(e.host.as_deref())
        .bind(&e.version)
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    async fn insert_detail(&self, detail: &StoreDetail) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        insert_detail(&mut conn, detail).await?;
        Ok(())
    }

    async fn finish_execution(&self, f: &ExecutionFinish) -> Result<()> {
        sqlx::query(
            "UPDATE etl_executions SET status = ?2, finished_at = ?3, duration_seconds = ?4, \
             records_extracted = ?5, records_loaded = ?6, duplicates_skipped = ?7, records_upserted = ?8, \
             records_failed = ?9, tiendas_exitosas = ?10, tiendas_fallidas = ?11, \
             extract_duration_seconds = ?12, transform_duration_seconds = ?13, load_duration_seconds = ?14, \
             api_requests_count = ?15, api_errors_count = ?16, error_phase = ?17, error_category = ?18, \
             error_source = ?19, error_message = ?20, error_detail = ?21, network_diagnostics = ?22 \
             WHERE id = ?1",
        )
        .bind(f.id)
        .bind(f.status.as_str())
        .bind(format_ts(f.finished_at))
        .bind(round2(f.duration_seconds))
        .bind(f.records_extracted)
        .bind(f.records_loaded)
        .bind(f.duplicates_skipped)
        .bind(f.records_upserted)
        .bind(f.records_failed)
        .bind(f.tiendas_exitosas)
        .bind(f.tiendas_fallidas)
        .bind(round2(f.extract_duration_seconds))
        .bind(round2(f.transform_duration_seconds))
        .bind(round2(f.load_duration_seconds))
        .bind(f.api_requests_count)
        .bind(f.api_errors_count)
        .bind(f.error_phase.map(|p| p.as_str()))
        .bind(f.error_category.map(|c| c.as_str()))
        .bind(f.error_source.as_deref())
        .bind(f.error_message.as_deref())
        .bind(f.error_detail.as_deref())
        .bind(f.network_diagnostics.as_ref().map(|v| v.to_string()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn close_running(
        &self,
        started_before: Option<DateTime<Utc>>,
        message: &str,
    ) -> Result<u64> {
        let now = Utc::now();
        let cutoff = started_before.unwrap_or(now + Duration::days(36_500));
        let done = sqlx::query(
            "UPDATE etl_executions SET status = 'failed', finished_at = ?1, error_phase = COALESCE(error_phase, 'extract'), \
             error_category = 'interrupted', error_source = COALESCE(error_source, 'pipeline'), error_message = ?2, \
             tiendas_fallidas = MAX(tiendas_count - tiendas_exitosas, 0) \
             WHERE status = 'running' AND started_at < ?3",
        )
        .bind(format_ts(now))
        .bind(crate::taxonomy::sanitize(message))
        .bind(format_ts(cutoff))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn history(&self, filter: &HistoryFilter) -> Result<Vec<HistoryEntry>> {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT {HISTORY_COLUMNS} FROM etl_executions WHERE 1 = 1"
        ));
        if let Some(k) = filter.etl_name {
            qb.push(" AND etl_name = ").push_bind(k.etl_name());
        }
        if let Some(s) = filter.status {
            qb.push(" AND status = ").push_bind(s.as_str());
        }
        if let Some(t) = filter.triggered_by {
            qb.push(" AND triggered_by = ").push_bind(t.as_str());
        }
        if let Some(d) = filter.fecha_desde {
            qb.push(" AND started_at >= ")
                .push_bind(format!("{d}T00:00:00"));
        }
        if let Some(d) = filter.fecha_hasta.and_then(|d| d.succ_opt()) {
            qb.push(" AND started_at < ")
                .push_bind(format!("{d}T00:00:00"));
        }
        qb.push(" ORDER BY started_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(filter.effective_limit()))
            .push(" OFFSET ")
            .push_bind(i64::from(filter.offset.unwrap_or(0)));
        let rows = qb.build().fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(history_entry)
            .collect::<std::result::Result<_, _>>()?)
    }

    async fn execution(&self, id: i64) -> Result<Option<ExecutionView>> {
        let Some(row) = sqlx::query("SELECT * FROM etl_executions WHERE id = ?1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let details = sqlx::query(
            "SELECT * FROM etl_execution_details WHERE execution_id = ?1 ORDER BY tienda_id, id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        let tiendas_detail = details
            .iter()
            .map(|d| {
                Ok(StoreDetailView {
                    tienda_id: d.try_get("tienda_id")?,
                    tienda_nombre: d.try_get("tienda_nombre")?,
                    source_system: d.try_get("source_system")?,
                    status: d.try_get("status")?,
                    started_at: ts(d, "started_at"),
                    finished_at: ts(d, "finished_at"),
                    duration_seconds: d.try_get("duration_seconds")?,
                    records_extracted: d
                        .try_get::<Option<i64>, _>("records_extracted")?
                        .unwrap_or(0),
                    records_loaded: d.try_get::<Option<i64>, _>("records_loaded")?.unwrap_or(0),
                    duplicates_skipped: d
                        .try_get::<Option<i64>, _>("duplicates_skipped")?
                        .unwrap_or(0),
                    records_inserted: d
                        .try_get::<Option<i64>, _>("records_inserted")?
                        .unwrap_or(0),
                    records_updated: d.try_get::<Option<i64>, _>("records_updated")?.unwrap_or(0),
                    records_deleted: d.try_get::<Option<i64>, _>("records_deleted")?.unwrap_or(0),
                    error_phase: d.try_get("error_phase")?,
                    error_category: d.try_get("error_category")?,
                    error_message: d.try_get("error_message")?,
                    server_ip: d.try_get("server_ip")?,
                    server_port: d.try_get("server_port")?,
                    connection_latency_ms: d.try_get("connection_latency_ms")?,
                })
            })
            .collect::<std::result::Result<Vec<_>, sqlx::Error>>()?;
        let diagnostics: Option<String> = row.try_get("network_diagnostics")?;
        Ok(Some(ExecutionView {
            id: row.try_get("id")?,
            etl_name: row.try_get("etl_name")?,
            etl_type: row.try_get("etl_type")?,
            mode: row.try_get("mode")?,
            started_at: ts(&row, "started_at").unwrap_or_default(),
            finished_at: ts(&row, "finished_at"),
            duration_seconds: row.try_get("duration_seconds")?,
            fecha_desde: ts(&row, "fecha_desde"),
            fecha_hasta: ts(&row, "fecha_hasta"),
            status: row.try_get("status")?,
            records_extracted: row.try_get("records_extracted")?,
            records_loaded: row.try_get("records_loaded")?,
            duplicates_skipped: row.try_get("duplicates_skipped")?,
            gaps_recovered: row.try_get("gaps_recovered")?,
            extract_duration_seconds: row.try_get("extract_duration_seconds")?,
            transform_duration_seconds: row.try_get("transform_duration_seconds")?,
            load_duration_seconds: row.try_get("load_duration_seconds")?,
            error_phase: row.try_get("error_phase")?,
            error_category: row.try_get("error_category")?,
            error_source: row.try_get("error_source")?,
            error_message: row.try_get("error_message")?,
            error_detail: row.try_get("error_detail")?,
            triggered_by: row.try_get("triggered_by")?,
            source_system: row.try_get("source_system")?,
            is_recovery: row.try_get("is_recovery")?,
            recovered_gap_id: row.try_get("recovered_gap_id")?,
            api_requests_count: row.try_get("api_requests_count")?,
            api_errors_count: row.try_get("api_errors_count")?,
            network_diagnostics: diagnostics.and_then(|s| serde_json::from_str(&s).ok()),
            tiendas_detail,
        }))
    }

    async fn stats(&self, days: u32, etl_name: Option<DataKind>) -> Result<Stats> {
        let since = format_ts(Utc::now() - Duration::days(i64::from(days)));
        let kind = etl_name.map(|k| k.etl_name());
        let executions = sqlx::query(
            "SELECT status, duration_seconds, records_loaded, duplicates_skipped, error_phase, error_category \
             FROM etl_executions WHERE started_at >= ?1 AND (?2 IS NULL OR etl_name = ?2)",
        )
        .bind(&since)
        .bind(kind)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(StatsExecutionRow {
                status: r.try_get("status")?,
                duration_seconds: r.try_get("duration_seconds")?,
                records_loaded: r.try_get("records_loaded")?,
                duplicates_skipped: r.try_get("duplicates_skipped")?,
                error_phase: r.try_get("error_phase")?,
                error_category: r.try_get("error_category")?,
            })
        })
        .collect::<std::result::Result<Vec<_>, sqlx::Error>>()?;
        let details = sqlx::query(
            "SELECT d.tienda_id, d.tienda_nombre, d.status, d.error_category FROM etl_execution_details d \
             JOIN etl_executions e ON e.id = d.execution_id \
             WHERE e.started_at >= ?1 AND (?2 IS NULL OR e.etl_name = ?2)",
        )
        .bind(&since)
        .bind(kind)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(StatsDetailRow {
                tienda_id: r.try_get("tienda_id")?,
                tienda_nombre: r.try_get("tienda_nombre")?,
                status: r.try_get("status")?,
                error_category: r.try_get("error_category")?,
            })
        })
        .collect::<std::result::Result<Vec<_>, sqlx::Error>>()?;
        Ok(Stats::compute(&executions, &details))
    }

    async fn purge(&self, before: DateTime<Utc>) -> Result<u64> {
        let done =
            sqlx::query("DELETE FROM etl_executions WHERE started_at < ?1 AND status <> 'running'")
                .bind(format_ts(before))
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected())
    }
}
