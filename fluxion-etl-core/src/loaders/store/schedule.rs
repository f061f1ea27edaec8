//! The scheduler's state (`etl_scheduler_*`, migration 3): the [`SchedulerStore`] of both
//! destinations.
//!
//! Claims are rows keyed by `(job, slot)`, taken with one `INSERT … ON CONFLICT … DO UPDATE …
//! WHERE` statement, which is atomic in both backends. In PostgreSQL, of several replicas
//! claiming one slot at once the first insert wins and the others wait on its row lock, then see
//! a claim that is neither finished nor expired, so their statements affect no row; an SQLite
//! file has one writer, which serializes the statements the same way. A claim is taken over only
//! when it is unfinished and expired (its owner died without finishing or renewing it).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{decode_error, from_columns, stmt, Backend, Cells, SqlStore, Stmt};
use crate::error::{Error, Result};
use crate::schedule::{
    store_list_json, store_list_of, Claim, ClaimRecord, DailyProgress, DailySummary, LastRun,
    PersistedState, ScheduleSettings, SchedulerStore,
};

/// A stored count or setting, which the schema keeps in range.
fn small<R: Cells>(row: &R, col: &str) -> Result<Option<u32>, sqlx::Error> {
    row.get::<Option<i64>>(col)?
        .map(|v| u32::try_from(v).map_err(|e| decode_error(col, e)))
        .transpose()
}

/// A count the schema declares `NOT NULL`.
fn count<R: Cells>(row: &R, col: &str) -> Result<u32, sqlx::Error> {
    small(row, col)?.ok_or_else(|| decode_error(col, "is NULL"))
}

fn claim_of<R: Cells>(row: &R) -> Result<ClaimRecord> {
    let claim = from_columns!(row => Claim {
        job, slot, owner, claimed_at, expires_at, holds_stores,
        stores: store_list_of(&row.get::<String>("stores")?)?,
    });
    Ok(from_columns!(row => ClaimRecord { claim: claim, finished_at, execution_id }))
}

/// An instant: every one the scheduler keeps is UTC.
type At = DateTime<Utc>;

const CLAIM_COLUMNS: &str =
    "job, slot, owner, claimed_at, expires_at, finished_at, holds_stores, stores, execution_id";

#[async_trait]
impl<DB: Backend> SchedulerStore for SqlStore<DB> {
    async fn load(&self) -> Result<PersistedState> {
        let row = Stmt::new("SELECT * FROM etl_scheduler_state WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        let daily = match (row.get("daily_day")?, row.get("daily_last_attempt_at")?) {
            (Some(day), Some(last_attempt_at)) => Some(DailyProgress {
                day,
                last_attempt_at,
                retries_done: count(&row, "daily_retries_done")?,
                pending_retry: store_list_of(&row.get::<String>("daily_pending")?)?,
            }),
            _ => None,
        };
        let last_run = match (
            row.get("last_run_job")?,
            row.get("last_run_slot")?,
            row.get("last_run_started_at")?,
            row.get("last_run_finished_at")?,
        ) {
            (Some(job), Some(slot), Some(started_at), Some(finished_at)) => Some(LastRun {
                job,
                slot,
                started_at,
                finished_at,
                status: row
                    .get::<Option<String>>("last_run_status")?
                    .unwrap_or_default(),
                execution_id: row.get("last_run_execution_id")?,
            }),
            _ => None,
        };
        Ok(PersistedState {
            enabled: row.get("enabled")?,
            settings: ScheduleSettings {
                execution_hour: small(&row, "execution_hour")?,
                execution_minute: small(&row, "execution_minute")?,
                max_retries: small(&row, "max_retries")?,
                retry_interval_minutes: small(&row, "retry_interval_minutes")?,
            },
            evaluated_until: row.get("evaluated_until")?,
            daily,
            last_run,
        })
    }

    async fn set_enabled(&self, enabled: bool) -> Result<()> {
        stmt!("UPDATE etl_scheduler_state SET enabled = $1, updated_at = $2 WHERE id = 1"; enabled, Utc::now())
            .run(&self.pool)
            .await
    }

    async fn set_settings(&self, s: &ScheduleSettings) -> Result<()> {
        stmt!(
            "UPDATE etl_scheduler_state SET execution_hour = $1, execution_minute = $2, max_retries = $3, \
             retry_interval_minutes = $4, updated_at = $5 WHERE id = 1";
            s.execution_hour, s.execution_minute, s.max_retries, s.retry_interval_minutes,
            Utc::now()
        )
        .run(&self.pool)
        .await
    }

    async fn advance(&self, until: DateTime<Utc>) -> Result<()> {
        stmt!(
            "UPDATE etl_scheduler_state SET evaluated_until = $1 \
             WHERE id = 1 AND (evaluated_until IS NULL OR evaluated_until < $1)";
            until
        )
        .run(&self.pool)
        .await
    }

    async fn set_daily(&self, d: &DailyProgress) -> Result<()> {
        let pending = store_list_json(&d.pending_retry)?;
        stmt!(
            "UPDATE etl_scheduler_state SET daily_day = $1, daily_last_attempt_at = $2, \
             daily_retries_done = $3, daily_pending = $4 \
             WHERE id = 1 AND (daily_day IS NULL OR daily_day <= $1)";
            d.day, d.last_attempt_at, d.retries_done, pending
        )
        .run(&self.pool)
        .await
    }

    async fn record_run(&self, r: &LastRun) -> Result<()> {
        stmt!(
            "UPDATE etl_scheduler_state SET last_run_job = $1, last_run_slot = $2, last_run_started_at = $3, \
             last_run_finished_at = $4, last_run_status = $5, last_run_execution_id = $6 WHERE id = 1";
            r.job.as_str(), r.slot, r.started_at, r.finished_at, r.status.as_str(), r.execution_id
        )
        .run(&self.pool)
        .await
    }

    async fn save_summary(&self, s: &DailySummary) -> Result<()> {
        let failed = serde_json::to_string(&s.failed_stores)
            .map_err(|e| Error::InvalidRequest(format!("cannot encode the failed stores: {e}")))?;
        stmt!(
            "INSERT INTO etl_scheduler_daily_summary \
             (day, started_at, updated_at, total, ok, failed, pending_retries, retries_done, failed_stores) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (day) DO UPDATE SET started_at = EXCLUDED.started_at, updated_at = EXCLUDED.updated_at, \
             total = EXCLUDED.total, ok = EXCLUDED.ok, failed = EXCLUDED.failed, \
             pending_retries = EXCLUDED.pending_retries, retries_done = EXCLUDED.retries_done, \
             failed_stores = EXCLUDED.failed_stores";
            s.day, s.started_at, s.updated_at, s.total, s.ok, s.failed, s.pending_retries,
            s.retries_done, failed
        )
        .run(&self.pool)
        .await
    }

    async fn latest_summary(&self) -> Result<Option<DailySummary>> {
        let Some(row) =
            Stmt::new("SELECT * FROM etl_scheduler_daily_summary ORDER BY day DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?
        else {
            return Ok(None);
        };
        let failed_stores = row.get::<String>("failed_stores")?;
        Ok(Some(DailySummary {
            day: row.get("day")?,
            started_at: row.get("started_at")?,
            updated_at: row.get("updated_at")?,
            total: count(&row, "total")?,
            ok: count(&row, "ok")?,
            failed: count(&row, "failed")?,
            pending_retries: count(&row, "pending_retries")?,
            retries_done: count(&row, "retries_done")?,
            failed_stores: serde_json::from_str(&failed_stores)
                .map_err(|e| decode_error("failed_stores", e))?,
        }))
    }

    async fn try_claim(&self, c: &Claim) -> Result<bool> {
        let taken = stmt!(
            "INSERT INTO etl_scheduler_claims (job, slot, owner, claimed_at, expires_at, holds_stores, stores) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (job, slot) DO UPDATE SET owner = EXCLUDED.owner, claimed_at = EXCLUDED.claimed_at, \
             expires_at = EXCLUDED.expires_at, holds_stores = EXCLUDED.holds_stores, stores = EXCLUDED.stores, \
             execution_id = NULL \
             WHERE etl_scheduler_claims.finished_at IS NULL AND etl_scheduler_claims.expires_at < EXCLUDED.claimed_at";
            c.job.as_str(), c.slot, c.owner.as_str(), c.claimed_at, c.expires_at, c.holds_stores,
            store_list_json(&c.stores)?
        )
        .execute(&self.pool)
        .await?;
        Ok(taken == 1)
    }

    async fn renew(&self, owner: &str, claims: &[(String, At)], until: At) -> Result<u64> {
        let mut renewed = 0;
        for (job, slot) in claims {
            renewed += stmt!(
                "UPDATE etl_scheduler_claims SET expires_at = $1 \
                 WHERE job = $2 AND slot = $3 AND owner = $4 AND finished_at IS NULL";
                until, job.as_str(), *slot, owner
            )
            .execute(&self.pool)
            .await?;
        }
        Ok(renewed)
    }

    async fn set_claim_execution(&self, job: &str, slot: At, execution_id: i64) -> Result<()> {
        stmt!(
            "UPDATE etl_scheduler_claims SET execution_id = $1 WHERE job = $2 AND slot = $3";
            execution_id, job, slot
        )
        .run(&self.pool)
        .await
    }

    async fn finish_claim(&self, job: &str, slot: At, owner: &str, at: At) -> Result<()> {
        stmt!(
            "UPDATE etl_scheduler_claims SET finished_at = $1 WHERE job = $2 AND slot = $3 AND owner = $4";
            at, job, slot, owner
        )
        .run(&self.pool)
        .await
    }

    async fn open_claims(&self, now: DateTime<Utc>) -> Result<Vec<ClaimRecord>> {
        Stmt::new(format!(
            "SELECT {CLAIM_COLUMNS} FROM etl_scheduler_claims \
             WHERE finished_at IS NULL AND expires_at > $1 ORDER BY slot, job"
        ))
        .bind(now)
        .decode_all(&self.pool, claim_of)
        .await
    }

    async fn prune_claims(&self, before: DateTime<Utc>) -> Result<u64> {
        Ok(stmt!(
            "DELETE FROM etl_scheduler_claims WHERE finished_at IS NOT NULL AND slot < $1";
            before
        )
        .execute(&self.pool)
        .await?)
    }

    async fn claims_between(&self, from: At, to: At) -> Result<Vec<ClaimRecord>> {
        Stmt::new(format!(
            "SELECT {CLAIM_COLUMNS} FROM etl_scheduler_claims \
             WHERE slot >= $1 AND slot < $2 ORDER BY slot, job"
        ))
        .bind(from)
        .bind(to)
        .decode_all(&self.pool, claim_of)
        .await
    }
}
