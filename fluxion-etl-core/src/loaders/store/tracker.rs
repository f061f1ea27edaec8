//! `etl_executions` and `etl_execution_details`: the [`TrackerStore`] of both destinations.

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use sqlx::{Database, Pool};

use super::{Backend, Cells, Stmt};
use crate::error::{Error, Result};
use crate::model::DataKind;
use crate::tracker::{
    ExecutionFinish, ExecutionView, HistoryEntry, HistoryFilter, NewExecution, Stats,
    StatsDetailRow, StatsExecutionRow, StoreDetail, StoreDetailView, TrackerStore,
};

/// The [`TrackerStore`] over a destination's pool.
#[derive(Debug)]
pub struct SqlTracker<DB: Database> {
    pool: Pool<DB>,
}

impl<DB: Database> SqlTracker<DB> {
    /// A tracker over a migrated pool.
    pub fn new(pool: Pool<DB>) -> Self {
        Self { pool }
    }
}

impl<DB: Database> Clone for SqlTracker<DB> {
    fn clone(&self) -> Self {
        Self::new(self.pool.clone())
    }
}

/// Inserts a detail row on a connection: the loaders call it inside the transaction that
/// commits the store's data, so that the data and its success record commit together.
pub(crate) async fn insert_detail<C>(conn: &mut C, d: &StoreDetail) -> Result<(), sqlx::Error>
where
    C: sqlx::Connection,
    C::Database: Backend<Connection = C>,
{
    Stmt::new(
        "INSERT INTO etl_execution_details (execution_id, tienda_id, tienda_nombre, source_system, status, \
         started_at, finished_at, duration_seconds, records_extracted, records_loaded, duplicates_skipped, \
         error_phase, error_category, error_message, server_ip, server_port, connection_latency_ms, \
         etl_name, window_from, window_to, records_inserted, records_updated, records_deleted, records_rejected, \
         extract_seconds, transform_seconds, load_seconds, api_requests, api_errors, error_retryable) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
         $21, $22, $23, $24, $25, $26, $27, $28, $29, $30)",
    )
    .bind(d.execution_id)
    .bind(d.tienda_id.as_str())
    .bind(d.tienda_nombre.as_deref())
    .bind(d.source_system.map(|s| s.as_str()))
    .bind(d.status.as_str())
    .bind(d.started_at)
    .bind(d.finished_at)
    .bind(d.duration_seconds)
    .bind(d.records_extracted)
    .bind(d.records_loaded)
    .bind(d.duplicates_skipped)
    .bind(d.error_phase.map(|p| p.as_str()))
    .bind(d.error_category.map(|c| c.as_str()))
    .bind(d.error_message.as_deref())
    .bind(d.server_ip.as_deref())
    .bind(d.server_port)
    .bind(d.connection_latency_ms)
    .bind(d.etl_name.etl_name())
    .bind(d.window_from)
    .bind(d.window_to)
    .bind(d.records_inserted)
    .bind(d.records_updated)
    .bind(d.records_deleted)
    .bind(d.records_rejected)
    .bind(d.extract_seconds)
    .bind(d.transform_seconds)
    .bind(d.load_seconds)
    .bind(d.api_requests)
    .bind(d.api_errors)
    .bind(d.error_retryable)
    .execute_on::<C::Database>(conn)
    .await?;
    Ok(())
}

const HISTORY_COLUMNS: &str = "id, etl_name, etl_type, started_at, finished_at, duration_seconds, \
    status, records_extracted, records_loaded, duplicates_skipped, tiendas_count, tiendas_exitosas, \
    tiendas_fallidas, error_phase, error_category, triggered_by, is_recovery";

fn history_entry<R: Cells>(row: &R) -> Result<HistoryEntry> {
    Ok(HistoryEntry {
        id: row.get("id")?,
        etl_name: row.get("etl_name")?,
        etl_type: row.get("etl_type")?,
        started_at: row.get("started_at")?,
        finished_at: row.get("finished_at")?,
        duration_seconds: row.get("duration_seconds")?,
        status: row.get("status")?,
        records_extracted: row.get("records_extracted")?,
        records_loaded: row.get("records_loaded")?,
        duplicates_skipped: row.get("duplicates_skipped")?,
        tiendas_count: row.get("tiendas_count")?,
        tiendas_exitosas: row.get("tiendas_exitosas")?,
        tiendas_fallidas: row.get("tiendas_fallidas")?,
        error_phase: row.get("error_phase")?,
        error_category: row.get("error_category")?,
        triggered_by: row.get("triggered_by")?,
        // Seed 003's column is nullable in PostgreSQL (DEFAULT FALSE).
        is_recovery: row.get::<Option<bool>>("is_recovery")?.unwrap_or(false),
    })
}

/// A count of a detail row: seed 003's counters are nullable (DEFAULT 0).
fn count<R: Cells>(row: &R, col: &str) -> Result<i64, sqlx::Error> {
    Ok(row.get::<Option<i64>>(col)?.unwrap_or(0))
}

fn store_detail_view<R: Cells>(d: &R) -> Result<StoreDetailView> {
    Ok(StoreDetailView {
        tienda_id: d.get("tienda_id")?,
        tienda_nombre: d.get("tienda_nombre")?,
        source_system: d.get("source_system")?,
        status: d.get("status")?,
        started_at: d.get("started_at")?,
        finished_at: d.get("finished_at")?,
        duration_seconds: d.get("duration_seconds")?,
        records_extracted: count(d, "records_extracted")?,
        records_loaded: count(d, "records_loaded")?,
        duplicates_skipped: count(d, "duplicates_skipped")?,
        records_inserted: count(d, "records_inserted")?,
        records_updated: count(d, "records_updated")?,
        records_deleted: count(d, "records_deleted")?,
        error_phase: d.get("error_phase")?,
        error_category: d.get("error_category")?,
        error_message: d.get("error_message")?,
        server_ip: d.get("server_ip")?,
        server_port: d.get("server_port")?,
        connection_latency_ms: d.get("connection_latency_ms")?,
    })
}

fn execution_view<R: Cells>(
    row: &R,
    tiendas_detail: Vec<StoreDetailView>,
) -> Result<ExecutionView> {
    Ok(ExecutionView {
        id: row.get("id")?,
        etl_name: row.get("etl_name")?,
        etl_type: row.get("etl_type")?,
        mode: row.get("mode")?,
        started_at: row.get("started_at")?,
        finished_at: row.get("finished_at")?,
        duration_seconds: row.get("duration_seconds")?,
        fecha_desde: row.get("fecha_desde")?,
        fecha_hasta: row.get("fecha_hasta")?,
        status: row.get("status")?,
        records_extracted: row.get("records_extracted")?,
        records_loaded: row.get("records_loaded")?,
        duplicates_skipped: row.get("duplicates_skipped")?,
        gaps_recovered: row.get("gaps_recovered")?,
        extract_duration_seconds: row.get("extract_duration_seconds")?,
        transform_duration_seconds: row.get("transform_duration_seconds")?,
        load_duration_seconds: row.get("load_duration_seconds")?,
        error_phase: row.get("error_phase")?,
        error_category: row.get("error_category")?,
        error_source: row.get("error_source")?,
        error_message: row.get("error_message")?,
        error_detail: row.get("error_detail")?,
        triggered_by: row.get("triggered_by")?,
        source_system: row.get("source_system")?,
        is_recovery: row.get::<Option<bool>>("is_recovery")?.unwrap_or(false),
        recovered_gap_id: row.get("recovered_gap_id")?,
        api_requests_count: row.get("api_requests_count")?,
        api_errors_count: row.get("api_errors_count")?,
        network_diagnostics: row.get("network_diagnostics")?,
        tiendas_detail,
    })
}

fn stats_execution<R: Cells>(r: &R) -> Result<StatsExecutionRow> {
    Ok(StatsExecutionRow {
        status: r.get("status")?,
        duration_seconds: r.get("duration_seconds")?,
        records_loaded: r.get("records_loaded")?,
        duplicates_skipped: r.get("duplicates_skipped")?,
        error_phase: r.get("error_phase")?,
        error_category: r.get("error_category")?,
    })
}

fn stats_detail<R: Cells>(r: &R) -> Result<StatsDetailRow> {
    Ok(StatsDetailRow {
        tienda_id: r.get("tienda_id")?,
        tienda_nombre: r.get("tienda_nombre")?,
        status: r.get("status")?,
        error_category: r.get("error_category")?,
    })
}

/// Midnight (UTC) starting `day`: the bounds of the history's day filters.
fn midnight_utc(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

#[async_trait]
impl<DB: Backend> TrackerStore for SqlTracker<DB> {
    async fn insert_execution(&self, e: &NewExecution) -> Result<i64> {
        let tiendas = serde_json::to_value(&e.tiendas)
            .map_err(|err| Error::InvalidRequest(format!("cannot encode the stores: {err}")))?;
        let row = Stmt::new(
            "INSERT INTO etl_executions (etl_name, etl_type, mode, started_at, fecha_desde, fecha_hasta, status, \
             tiendas, tiendas_count, triggered_by, source_system, is_recovery, recovered_gap_id, host, version) \
             VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
        )
        .bind(e.etl_name.etl_name())
        .bind(e.etl_type.as_str())
        .bind(e.mode.as_str())
        .bind(e.started_at)
        .bind(e.fecha_desde)
        .bind(e.fecha_hasta)
        .bind(tiendas)
        .bind(e.tiendas.len() as i64)
        .bind(e.triggered_by.as_str())
        .bind(e.source_system.as_deref())
        .bind(e.is_recovery)
        .bind(e.recovered_gap_id)
        .bind(e.host.as_deref())
        .bind(e.version.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(row.get("id")?)
    }

    async fn insert_detail(&self, detail: &StoreDetail) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        insert_detail(&mut *conn, detail).await?;
        Ok(())
    }

    async fn finish_execution(&self, f: &ExecutionFinish) -> Result<()> {
        Stmt::new(
            "UPDATE etl_executions SET status = $2, finished_at = $3, duration_seconds = $4, \
             records_extracted = $5, records_loaded = $6, duplicates_skipped = $7, records_upserted = $8, \
             records_failed = $9, tiendas_exitosas = $10, tiendas_fallidas = $11, \
             extract_duration_seconds = $12, transform_duration_seconds = $13, load_duration_seconds = $14, \
             api_requests_count = $15, api_errors_count = $16, error_phase = $17, error_category = $18, \
             error_source = $19, error_message = $20, error_detail = $21, network_diagnostics = $22 \
             WHERE id = $1",
        )
        .bind(f.id)
        .bind(f.status.as_str())
        .bind(f.finished_at)
        .bind(f.duration_seconds)
        .bind(f.records_extracted)
        .bind(f.records_loaded)
        .bind(f.duplicates_skipped)
        .bind(f.records_upserted)
        .bind(f.records_failed)
        .bind(f.tiendas_exitosas)
        .bind(f.tiendas_fallidas)
        .bind(f.extract_duration_seconds)
        .bind(f.transform_duration_seconds)
        .bind(f.load_duration_seconds)
        .bind(f.api_requests_count)
        .bind(f.api_errors_count)
        .bind(f.error_phase.map(|p| p.as_str()))
        .bind(f.error_category.map(|c| c.as_str()))
        .bind(f.error_source.map(|s| s.as_str()))
        .bind(f.error_message.as_deref())
        .bind(f.error_detail.as_deref())
        .bind(f.network_diagnostics.clone())
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
        Ok(Stmt::new(
            "UPDATE etl_executions SET status = 'failed', finished_at = $1, \
             error_phase = COALESCE(error_phase, 'extract'), error_category = 'interrupted', \
             error_source = COALESCE(error_source, 'pipeline'), error_message = $2, \
             tiendas_fallidas = CASE WHEN tiendas_count > tiendas_exitosas \
                                     THEN tiendas_count - tiendas_exitosas ELSE 0 END \
             WHERE status = 'running' AND started_at < $3",
        )
        .bind(now)
        .bind(crate::tracker::sanitize(message))
        .bind(cutoff)
        .execute(&self.pool)
        .await?)
    }

    async fn history(&self, filter: &HistoryFilter) -> Result<Vec<HistoryEntry>> {
        let mut stmt = Stmt::new(format!(
            "SELECT {HISTORY_COLUMNS} FROM etl_executions WHERE 1 = 1"
        ));
        if let Some(k) = filter.etl_name {
            stmt = stmt.push_bind(" AND etl_name =", k.etl_name());
        }
        if let Some(s) = filter.status {
            stmt = stmt.push_bind(" AND status =", s.as_str());
        }
        if let Some(t) = filter.triggered_by {
            stmt = stmt.push_bind(" AND triggered_by =", t.as_str());
        }
        if let Some(d) = filter.fecha_desde {
            stmt = stmt.push_bind(" AND started_at >=", midnight_utc(d));
        }
        if let Some(d) = filter.fecha_hasta.and_then(|d| d.succ_opt()) {
            stmt = stmt.push_bind(" AND started_at <", midnight_utc(d));
        }
        let stmt = stmt
            .push_bind(
                " ORDER BY started_at DESC, id DESC LIMIT",
                i64::from(filter.effective_limit()),
            )
            .push_bind(" OFFSET", i64::from(filter.offset.unwrap_or(0)));
        stmt.decode_all(&self.pool, history_entry).await
    }

    async fn execution(&self, id: i64) -> Result<Option<ExecutionView>> {
        let Some(row) = Stmt::new("SELECT * FROM etl_executions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let details = Stmt::new(
            "SELECT * FROM etl_execution_details WHERE execution_id = $1 ORDER BY tienda_id, id",
        )
        .bind(id)
        .decode_all(&self.pool, store_detail_view)
        .await?;
        Ok(Some(execution_view(&row, details)?))
    }

    async fn stats(&self, days: u32, etl_name: Option<DataKind>) -> Result<Stats> {
        let since = Utc::now() - Duration::days(i64::from(days));
        let period = |sql: &'static str| {
            let stmt = Stmt::new(sql).bind(since);
            match etl_name {
                Some(k) => stmt.push_bind(" AND e.etl_name =", k.etl_name()),
                None => stmt,
            }
        };
        let executions = period(
            "SELECT status, duration_seconds, records_loaded, duplicates_skipped, error_phase, \
             error_category FROM etl_executions e WHERE started_at >= $1",
        )
        .decode_all(&self.pool, stats_execution)
        .await?;
        let details = period(
            "SELECT d.tienda_id, d.tienda_nombre, d.status, d.error_category \
             FROM etl_execution_details d JOIN etl_executions e ON e.id = d.execution_id \
             WHERE e.started_at >= $1",
        )
        .decode_all(&self.pool, stats_detail)
        .await?;
        Ok(Stats::compute(&executions, &details))
    }

    async fn purge(&self, before: DateTime<Utc>) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let deleted =
            Stmt::new("DELETE FROM etl_executions WHERE started_at < $1 AND status <> 'running'")
                .bind(before)
                .execute_on::<DB>(&mut tx)
                .await?;
        for sql in DB::PURGE_ALSO {
            Stmt::new(*sql)
                .bind(before)
                .execute_on::<DB>(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }
}
