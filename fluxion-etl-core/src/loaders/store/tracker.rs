//! `etl_executions` and `etl_execution_details`: the [`TrackerStore`] of both destinations.

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::{from_columns, stmt, Backend, Cells, SqlStore, Stmt};
use crate::error::{Error, Result};
use crate::model::DataKind;
use crate::tracker::{
    ExecutionFinish, ExecutionView, HistoryEntry, HistoryFilter, NewExecution, Stats,
    StatsDetailRow, StoreDetail, StoreDetailView, TrackerStore,
};

/// Inserts a detail row on a connection: the loaders call it inside the transaction that
/// commits the store's data, so that the data and its success record commit together.
pub(crate) async fn insert_detail<C>(conn: &mut C, d: &StoreDetail) -> Result<(), sqlx::Error>
where
    C: sqlx::Connection,
    C::Database: Backend<Connection = C>,
{
    stmt!(
        "INSERT INTO etl_execution_details (execution_id, tienda_id, tienda_nombre, source_system, status, \
         started_at, finished_at, duration_seconds, records_extracted, records_loaded, duplicates_skipped, \
         error_phase, error_category, error_message, server_ip, server_port, connection_latency_ms, \
         etl_name, window_from, window_to, records_inserted, records_updated, records_deleted, records_rejected, \
         extract_seconds, transform_seconds, load_seconds, api_requests, api_errors, error_retryable) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
         $21, $22, $23, $24, $25, $26, $27, $28, $29, $30)";
        d.execution_id, &d.tienda_id, d.tienda_nombre.as_deref(), d.source_system, d.status,
        d.started_at, d.finished_at, d.duration_seconds, d.records_extracted, d.records_loaded,
        d.duplicates_skipped, d.error_phase, d.error_category, d.error_message.as_deref(),
        d.server_ip.as_deref(), d.server_port, d.connection_latency_ms, d.etl_name, d.window_from,
        d.window_to, d.records_inserted, d.records_updated, d.records_deleted, d.records_rejected,
        d.extract_seconds, d.transform_seconds, d.load_seconds, d.api_requests, d.api_errors,
        d.error_retryable
    )
    .execute_on::<C::Database>(conn)
    .await?;
    Ok(())
}

const HISTORY_COLUMNS: &str = "id, etl_name, etl_type, started_at, finished_at, duration_seconds, \
    status, records_extracted, records_loaded, duplicates_skipped, tiendas_count, tiendas_exitosas, \
    tiendas_fallidas, error_phase, error_category, triggered_by, is_recovery";

fn history_entry<R: Cells>(row: &R) -> Result<HistoryEntry> {
    Ok(from_columns!(row => HistoryEntry {
        id, etl_name, etl_type, started_at, finished_at, duration_seconds, status,
        records_extracted, records_loaded, duplicates_skipped,
        tiendas_count, tiendas_exitosas, tiendas_fallidas, error_phase, error_category,
        triggered_by, is_recovery: is_recovery(row)?,
    }))
}

/// `is_recovery`, nullable in PostgreSQL (seed 003's `DEFAULT FALSE`).
fn is_recovery<R: Cells>(row: &R) -> Result<bool, sqlx::Error> {
    Ok(row.get::<Option<bool>>("is_recovery")?.unwrap_or(false))
}

/// A count of a detail row: seed 003's counters are nullable (`DEFAULT 0`).
fn count<R: Cells>(row: &R, col: &str) -> Result<i64, sqlx::Error> {
    Ok(row.get::<Option<i64>>(col)?.unwrap_or(0))
}

fn store_detail_view<R: Cells>(row: &R) -> Result<StoreDetailView> {
    Ok(from_columns!(row => StoreDetailView {
        tienda_id, tienda_nombre, source_system, status, started_at, finished_at, duration_seconds,
        records_extracted: count(row, "records_extracted")?,
        records_loaded: count(row, "records_loaded")?,
        duplicates_skipped: count(row, "duplicates_skipped")?,
        records_inserted: count(row, "records_inserted")?,
        records_updated: count(row, "records_updated")?,
        records_deleted: count(row, "records_deleted")?,
        error_phase, error_category, error_message, server_ip, server_port, connection_latency_ms,
    }))
}

fn execution_view<R: Cells>(
    row: &R,
    tiendas_detail: Vec<StoreDetailView>,
) -> Result<ExecutionView> {
    Ok(from_columns!(row => ExecutionView {
        id, etl_name, etl_type, mode, started_at, finished_at, duration_seconds,
        fecha_desde, fecha_hasta, status, records_extracted, records_loaded, duplicates_skipped,
        gaps_recovered, extract_duration_seconds, transform_duration_seconds, load_duration_seconds,
        error_phase, error_category, error_source, error_message, error_detail, triggered_by,
        source_system, is_recovery: is_recovery(row)?, recovered_gap_id, api_requests_count,
        api_errors_count, network_diagnostics, tiendas_detail: tiendas_detail,
    }))
}

fn stats_detail<R: Cells>(row: &R) -> Result<StatsDetailRow> {
    Ok(from_columns!(row => StatsDetailRow { tienda_id, tienda_nombre, status, error_category }))
}

/// Midnight (UTC) starting `day`: the bounds of the history's day filters.
fn midnight_utc(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// The owners of `running` executions (for
/// [`Destination::reconcile`](crate::loaders::Destination::reconcile)).
pub(crate) async fn running_owners<DB: Backend>(store: &SqlStore<DB>) -> Result<Vec<i64>> {
    Stmt::new(
        "SELECT DISTINCT owner_key FROM etl_executions \
             WHERE status = 'running' AND owner_key IS NOT NULL"
            .to_owned(),
    )
    .decode_all(&store.pool, |row| Ok(row.get::<i64>("owner_key")?))
    .await
}

/// Deletes the `inventory_history` snapshots taken before `before`; returns how many rows.
/// The per-day counts follow through their triggers.
pub(crate) async fn prune_inventory_history<DB: Backend>(
    store: &SqlStore<DB>,
    before: DateTime<Utc>,
) -> Result<u64> {
    Ok(
        stmt!("DELETE FROM inventory_history WHERE snapshot_at < $1"; before)
            .execute(&store.pool)
            .await?,
    )
}

/// Whose `running` executions a close applies to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Owners {
    /// Every owner's, and those without one.
    Any,
    /// Those recorded without an owner.
    Unowned,
    /// One owner's.
    Of(i64),
}

/// Closes the `running` executions of `owners`, started before `started_before` when given, as
/// failed with category `interrupted`; returns how many.
pub(crate) async fn close_running_of<DB: Backend>(
    store: &SqlStore<DB>,
    owners: Owners,
    started_before: Option<DateTime<Utc>>,
    message: &str,
) -> Result<u64> {
    let now = Utc::now();
    let cutoff = started_before.unwrap_or(now + Duration::days(36_500));
    let (owner_clause, owner) = match owners {
        Owners::Any => ("", None),
        Owners::Unowned => (" AND owner_key IS NULL", None),
        Owners::Of(key) => (" AND owner_key = $4", Some(key)),
    };
    let mut close = stmt!(
        format!(
            "UPDATE etl_executions SET status = 'failed', finished_at = $1, \
             error_phase = COALESCE(error_phase, 'extract'), error_category = 'interrupted', \
             error_source = COALESCE(error_source, 'pipeline'), error_message = $2, \
             tiendas_fallidas = CASE WHEN tiendas_count > tiendas_exitosas \
                                     THEN tiendas_count - tiendas_exitosas ELSE 0 END \
             WHERE status = 'running' AND started_at < $3{owner_clause}"
        );
        now, crate::taxonomy::sanitize(message), cutoff
    );
    if let Some(key) = owner {
        close = close.bind(key);
    }
    Ok(close.execute(&store.pool).await?)
}

#[async_trait]
impl<DB: Backend> TrackerStore for SqlStore<DB> {
    async fn insert_execution(&self, e: &NewExecution) -> Result<i64> {
        let tiendas = serde_json::to_value(&e.tiendas)
            .map_err(|err| Error::InvalidRequest(format!("cannot encode the stores: {err}")))?;
        // The owner's lock is held before the row exists, so no reconciler ever sees this
        // execution without a live owner. A store over a bare pool records no owner (and needs
        // no `owner_key` column).
        let owner = match &self.owner {
            Some(owner) => Some(owner.hold().await?),
            None => None,
        };
        let (owner_column, owner_value) = match owner {
            Some(_) => (", owner_key", ", $15"),
            None => ("", ""),
        };
        let mut insert = stmt!(
            format!(
                "INSERT INTO etl_executions (etl_name, etl_type, mode, started_at, fecha_desde, fecha_hasta, \
                 status, tiendas, tiendas_count, triggered_by, source_system, is_recovery, recovered_gap_id, \
                 host, version{owner_column}) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, $8, $9, $10, $11, $12, $13, $14{owner_value}) \
                 RETURNING id"
            );
            e.etl_name, e.etl_type.as_str(), e.mode, e.started_at, e.fecha_desde, e.fecha_hasta,
            tiendas, e.tiendas.len() as i64, e.triggered_by, e.source_system.as_deref(),
            e.is_recovery, e.recovered_gap_id, e.host.as_deref(), e.version.as_str()
        );
        if let Some(key) = owner {
            insert = insert.bind(key);
        }
        let row = insert.fetch_one(&self.pool).await?;
        Ok(row.get("id")?)
    }

    async fn insert_detail(&self, detail: &StoreDetail) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        insert_detail(&mut *conn, detail).await?;
        Ok(())
    }

    async fn finish_execution(&self, f: &ExecutionFinish) -> Result<()> {
        stmt!(
            "UPDATE etl_executions SET status = $2, finished_at = $3, duration_seconds = $4, \
             records_extracted = $5, records_loaded = $6, duplicates_skipped = $7, records_upserted = $8, \
             records_failed = $9, tiendas_exitosas = $10, tiendas_fallidas = $11, \
             extract_duration_seconds = $12, transform_duration_seconds = $13, load_duration_seconds = $14, \
             api_requests_count = $15, api_errors_count = $16, error_phase = $17, error_category = $18, \
             error_source = $19, error_message = $20, error_detail = $21, network_diagnostics = $22 \
             WHERE id = $1";
            f.id, f.status, f.finished_at, f.duration_seconds, f.records_extracted,
            f.records_loaded, f.duplicates_skipped, f.records_upserted, f.records_failed,
            f.tiendas_exitosas, f.tiendas_fallidas, f.extract_duration_seconds,
            f.transform_duration_seconds, f.load_duration_seconds, f.api_requests_count,
            f.api_errors_count, f.error_phase, f.error_category, f.error_source,
            f.error_message.as_deref(), f.error_detail.as_deref(), f.network_diagnostics.clone()
        )
        .run(&self.pool)
        .await
    }

    async fn set_gaps_recovered(&self, id: i64, gaps: i64) -> Result<()> {
        stmt!("UPDATE etl_executions SET gaps_recovered = $2 WHERE id = $1"; id, gaps)
            .run(&self.pool)
            .await
    }

    async fn close_running(
        &self,
        started_before: Option<DateTime<Utc>>,
        message: &str,
    ) -> Result<u64> {
        close_running_of(self, Owners::Any, started_before, message).await
    }

    async fn history(&self, filter: &HistoryFilter) -> Result<Vec<HistoryEntry>> {
        let mut stmt = Stmt::new(format!(
            "SELECT {HISTORY_COLUMNS} FROM etl_executions WHERE 1 = 1"
        ));
        if let Some(k) = filter.etl_name {
            stmt = stmt.push_bind(" AND etl_name =", k);
        }
        if let Some(s) = filter.status {
            stmt = stmt.push_bind(" AND status =", s);
        }
        if let Some(t) = filter.triggered_by {
            stmt = stmt.push_bind(" AND triggered_by =", t);
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
        let details = stmt!(
            "SELECT * FROM etl_execution_details WHERE execution_id = $1 ORDER BY tienda_id, id";
            id
        )
        .decode_all(&self.pool, store_detail_view)
        .await?;
        Ok(Some(execution_view(&row, details)?))
    }

    async fn stats(&self, days: u32, etl_name: Option<DataKind>) -> Result<Stats> {
        let since = Utc::now() - Duration::days(i64::from(days));
        let period = |sql: String| {
            let stmt = stmt!(sql; since);
            match etl_name {
                Some(k) => stmt.push_bind(" AND e.etl_name =", k),
                None => stmt,
            }
        };
        let executions = period(format!(
            "SELECT {HISTORY_COLUMNS} FROM etl_executions e WHERE started_at >= $1"
        ))
        .decode_all(&self.pool, history_entry)
        .await?;
        let details = period(
            "SELECT d.tienda_id, d.tienda_nombre, d.status, d.error_category \
             FROM etl_execution_details d JOIN etl_executions e ON e.id = d.execution_id \
             WHERE e.started_at >= $1"
                .to_owned(),
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
