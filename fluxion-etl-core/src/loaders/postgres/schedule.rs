//! The scheduler's state in PostgreSQL (`etl_scheduler_*`, migration 3), shared by every
//! replica pointed at the database.
//!
//! Claims are rows keyed by `(job, slot)`. `INSERT … ON CONFLICT … DO UPDATE … WHERE` is atomic
//! in PostgreSQL: of several replicas claiming one slot at once, the first insert wins, and the
//! others wait on its row lock and then see a claim that is neither finished nor expired, so
//! their statements affect no row. A claim is taken over only when it is unfinished and expired
//! (its replica died without finishing or renewing it).

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use crate::error::{Error, Result};
use crate::schedule::{
    store_list_json, store_list_of, Claim, ClaimRecord, DailyProgress, DailySummary, LastRun,
    PersistedState, ScheduleSettings, SchedulerStore,
};

/// [`SchedulerStore`] over a PostgreSQL pool.
#[derive(Debug, Clone)]
pub struct PostgresSchedulerStore {
    pool: PgPool,
}

impl PostgresSchedulerStore {
    /// Wraps a pool on a migrated database.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn u32_of(v: Option<i32>) -> Option<u32> {
    v.and_then(|v| u32::try_from(v).ok())
}

fn i32_of(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn claim_of(row: &PgRow) -> Result<ClaimRecord> {
    let stores: String = row.try_get("stores")?;
    Ok(ClaimRecord {
        claim: Claim {
            job: row.try_get("job")?,
            slot: row.try_get("slot")?,
            owner: row.try_get("owner")?,
            claimed_at: row.try_get("claimed_at")?,
            expires_at: row.try_get("expires_at")?,
            holds_stores: row.try_get("holds_stores")?,
            stores: store_list_of(&stores)?,
        },
        finished_at: row.try_get("finished_at")?,
        execution_id: row
            .try_get::<Option<i32>, _>("execution_id")?
            .map(i64::from),
    })
}

const CLAIM_COLUMNS: &str =
    "job, slot, owner, claimed_at, expires_at, finished_at, holds_stores, stores, execution_id";

#[async_trait]
impl SchedulerStore for PostgresSchedulerStore {
    async fn load(&self) -> Result<PersistedState> {
        let row = sqlx::query("SELECT * FROM etl_scheduler_state WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        let daily = match (
            row.try_get::<Option<NaiveDate>, _>("daily_day")?,
            row.try_get::<Option<DateTime<Utc>>, _>("daily_last_attempt_at")?,
        ) {
            (Some(day), Some(last_attempt_at)) => Some(DailyProgress {
                day,
                last_attempt_at,
                retries_done: u32_of(row.try_get("daily_retries_done")?).unwrap_or(0),
                pending_retry: store_list_of(&row.try_get::<String, _>("daily_pending")?)?,
            }),
            _ => None,
        };
        let last_run = match (
            row.try_get::<Option<String>, _>("last_run_job")?,
            row.try_get::<Option<DateTime<Utc>>, _>("last_run_slot")?,
            row.try_get::<Option<DateTime<Utc>>, _>("last_run_started_at")?,
            row.try_get::<Option<DateTime<Utc>>, _>("last_run_finished_at")?,
        ) {
            (Some(job), Some(slot), Some(started_at), Some(finished_at)) => Some(LastRun {
                job,
                slot,
                started_at,
                finished_at,
                status: row
                    .try_get::<Option<String>, _>("last_run_status")?
                    .unwrap_or_default(),
                execution_id: row
                    .try_get::<Option<i32>, _>("last_run_execution_id")?
                    .map(i64::from),
            }),
            _ => None,
        };
        Ok(PersistedState {
            enabled: row.try_get("enabled")?,
            settings: ScheduleSettings {
                execution_hour: u32_of(row.try_get("execution_hour")?),
                execution_minute: u32_of(row.try_get("execution_minute")?),
                max_retries: u32_of(row.try_get("max_retries")?),
                retry_interval_minutes: u32_of(row.try_get("retry_interval_minutes")?),
            },
            evaluated_until: row.try_get("evaluated_until")?,
            daily,
            last_run,
        })
    }

    async fn set_enabled(&self, enabled: bool) -> Result<()> {
        sqlx::query(
            "UPDATE etl_scheduler_state SET enabled = $1, updated_at = CURRENT_TIMESTAMP WHERE id = 1",
        )
        .bind(enabled)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_settings(&self, s: &ScheduleSettings) -> Result<()> {
        sqlx::query(
            "UPDATE etl_scheduler_state SET execution_hour = $1, execution_minute = $2, max_retries = $3, \
             retry_interval_minutes = $4, updated_at = CURRENT_TIMESTAMP WHERE id = 1",
        )
        .bind(s.execution_hour.map(i32_of))
        .bind(s.execution_minute.map(i32_of))
        .bind(s.max_retries.map(i32_of))
        .bind(s.retry_interval_minutes.map(i32_of))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn advance(&self, until: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "UPDATE etl_scheduler_state SET evaluated_until = $1 \
             WHERE id = 1 AND (evaluated_until IS NULL OR evaluated_until < $1)",
        )
        .bind(until)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_daily(&self, d: &DailyProgress) -> Result<()> {
        sqlx::query(
            "UPDATE etl_scheduler_state SET daily_day = $1, daily_last_attempt_at = $2, \
             daily_retries_done = $3, daily_pending = $4 \
             WHERE id = 1 AND (daily_day IS NULL OR daily_day <= $1)",
        )
        .bind(d.day)
        .bind(d.last_attempt_at)
        .bind(i32_of(d.retries_done))
        .bind(store_list_json(&d.pending_retry)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn record_run(&self, r: &LastRun) -> Result<()> {
        sqlx::query(
            "UPDATE etl_scheduler_state SET last_run_job = $1, last_run_slot = $2, last_run_started_at = $3, \
             last_run_finished_at = $4, last_run_status = $5, last_run_execution_id = $6 WHERE id = 1",
        )
        .bind(&r.job)
        .bind(r.slot)
        .bind(r.started_at)
        .bind(r.finished_at)
        .bind(&r.status)
        .bind(r.execution_id.and_then(|id| i32::try_from(id).ok()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn save_summary(&self, s: &DailySummary) -> Result<()> {
        let failed = serde_json::to_string(&s.failed_stores)
            .map_err(|e| Error::InvalidRequest(format!("cannot encode the failed stores: {e}")))?;
        sqlx::query(
            "INSERT INTO etl_scheduler_daily_summary \
             (day, started_at, updated_at, total, ok, failed, pending_retries, retries_done, failed_stores) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (day) DO UPDATE SET started_at = EXCLUDED.started_at, updated_at = EXCLUDED.updated_at, \
             total = EXCLUDED.total, ok = EXCLUDED.ok, failed = EXCLUDED.failed, \
             pending_retries = EXCLUDED.pending_retries, retries_done = EXCLUDED.retries_done, \
             failed_stores = EXCLUDED.failed_stores",
        )
        .bind(s.day)
        .bind(s.started_at)
        .bind(s.updated_at)
        .bind(i32_of(s.total))
        .bind(i32_of(s.ok))
        .bind(i32_of(s.failed))
        .bind(i32_of(s.pending_retries))
        .bind(i32_of(s.retries_done))
        .bind(failed)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn latest_summary(&self) -> Result<Option<DailySummary>> {
        let Some(row) =
            sqlx::query("SELECT * FROM etl_scheduler_daily_summary ORDER BY day DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?
        else {
            return Ok(None);
        };
        let bad =
            |what: &str| Error::Schema(format!("etl_scheduler_daily_summary.{what} is invalid"));
        let count = |name: &str| -> Result<u32> {
            u32_of(Some(row.try_get::<i32, _>(name)?)).ok_or_else(|| bad(name))
        };
        Ok(Some(DailySummary {
            day: row.try_get("day")?,
            started_at: row.try_get("started_at")?,
            updated_at: row.try_get("updated_at")?,
            total: count("total")?,
            ok: count("ok")?,
            failed: count("failed")?,
            pending_retries: count("pending_retries")?,
            retries_done: count("retries_done")?,
            failed_stores: serde_json::from_str(&row.try_get::<String, _>("failed_stores")?)
                .map_err(|_| bad("failed_stores"))?,
        }))
    }

    async fn try_claim(&self, c: &Claim) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO etl_scheduler_claims (job, slot, owner, claimed_at, expires_at, holds_stores, stores) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (job, slot) DO UPDATE SET owner = EXCLUDED.owner, claimed_at = EXCLUDED.claimed_at, \
             expires_at = EXCLUDED.expires_at, holds_stores = EXCLUDED.holds_stores, stores = EXCLUDED.stores, \
             execution_id = NULL \
             WHERE etl_scheduler_claims.finished_at IS NULL AND etl_scheduler_claims.expires_at < EXCLUDED.claimed_at",
        )
        .bind(&c.job)
        .bind(c.slot)
        .bind(&c.owner)
        .bind(c.claimed_at)
        .bind(c.expires_at)
        .bind(c.holds_stores)
        .bind(store_list_json(&c.stores)?)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn renew(
        &self,
        owner: &str,
        claims: &[(String, DateTime<Utc>)],
        until: DateTime<Utc>,
    ) -> Result<u64> {
        let mut renewed = 0;
        for (job, slot) in claims {
            renewed += sqlx::query(
                "UPDATE etl_scheduler_claims SET expires_at = $1 \
                 WHERE job = $2 AND slot = $3 AND owner = $4 AND finished_at IS NULL",
            )
            .bind(until)
            .bind(job)
            .bind(*slot)
            .bind(owner)
            .execute(&self.pool)
            .await?
            .rows_affected();
        }
        Ok(renewed)
    }

    async fn set_claim_execution(
        &self,
        job: &str,
        slot: DateTime<Utc>,
        execution_id: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE etl_scheduler_claims SET execution_id = $1 WHERE job = $2 AND slot = $3",
        )
        .bind(i32::try_from(execution_id).ok())
        .bind(job)
        .bind(slot)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn finish_claim(
        &self,
        job: &str,
        slot: DateTime<Utc>,
        owner: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE etl_scheduler_claims SET finished_at = $1 WHERE job = $2 AND slot = $3 AND owner = $4",
        )
        .bind(at)
        .bind(job)
        .bind(slot)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn open_claims(&self, now: DateTime<Utc>) -> Result<Vec<ClaimRecord>> {
        sqlx::query(&format!(
            "SELECT {CLAIM_COLUMNS} FROM etl_scheduler_claims \
             WHERE finished_at IS NULL AND expires_at > $1 ORDER BY slot, job"
        ))
        .bind(now)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(claim_of)
        .collect()
    }

    async fn prune_claims(&self, before: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM etl_scheduler_claims WHERE finished_at IS NOT NULL AND slot < $1",
        )
        .bind(before)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn claims_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ClaimRecord>> {
        sqlx::query(&format!(
            "SELECT {CLAIM_COLUMNS} FROM etl_scheduler_claims WHERE slot >= $1 AND slot < $2 ORDER BY slot, job"
        ))
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(claim_of)
        .collect()
    }
}
