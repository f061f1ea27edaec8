//! The scheduler's state in SQLite (`etl_scheduler_*`, migration 3).
//!
//! One process owns an SQLite file, so claims only have to be correct within it: the
//! `INSERT … ON CONFLICT … DO UPDATE … WHERE` below is one statement, atomic under SQLite's
//! single writer, and takes over a claim only when it is unfinished and expired.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Row, SqlitePool};

use crate::error::{Error, Result};
use crate::loaders::rows::{format_ts, parse_ts};
use crate::schedule::{
    store_list_json, store_list_of, Claim, ClaimRecord, DailyProgress, DailySummary, LastRun,
    PersistedState, ScheduleSettings, SchedulerStore,
};

/// [`SchedulerStore`] over an SQLite pool.
#[derive(Debug, Clone)]
pub struct SqliteSchedulerStore {
    pool: SqlitePool,
}

impl SqliteSchedulerStore {
    /// Wraps a migrated pool.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

fn ts(s: Option<String>) -> Option<DateTime<Utc>> {
    s.as_deref().and_then(parse_ts)
}

fn day(s: Option<String>) -> Option<NaiveDate> {
    s.as_deref()
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
}

fn u32_of(v: Option<i64>) -> Option<u32> {
    v.and_then(|v| u32::try_from(v).ok())
}

fn claim_of(row: &sqlx::sqlite::SqliteRow) -> Result<ClaimRecord> {
    let stores: String = row.try_get("stores")?;
    let slot: String = row.try_get("slot")?;
    let bad = |what: &str| Error::Schema(format!("etl_scheduler_claims.{what} is not a timestamp"));
    Ok(ClaimRecord {
        claim: Claim {
            job: row.try_get("job")?,
            slot: parse_ts(&slot).ok_or_else(|| bad("slot"))?,
            owner: row.try_get("owner")?,
            claimed_at: ts(row.try_get("claimed_at")?).ok_or_else(|| bad("claimed_at"))?,
            expires_at: ts(row.try_get("expires_at")?).ok_or_else(|| bad("expires_at"))?,
            holds_stores: row.try_get::<i64, _>("holds_stores")? != 0,
            stores: store_list_of(&stores)?,
        },
        finished_at: ts(row.try_get("finished_at")?),
        execution_id: row.try_get("execution_id")?,
    })
}

const CLAIM_COLUMNS: &str =
    "job, slot, owner, claimed_at, expires_at, finished_at, holds_stores, stores, execution_id";

#[async_trait]
impl SchedulerStore for SqliteSchedulerStore {
    async fn load(&self) -> Result<PersistedState> {
        let row = sqlx::query("SELECT * FROM etl_scheduler_state WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        let daily = match (
            day(row.try_get("daily_day")?),
            ts(row.try_get("daily_last_attempt_at")?),
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
            ts(row.try_get("last_run_slot")?),
            ts(row.try_get("last_run_started_at")?),
            ts(row.try_get("last_run_finished_at")?),
        ) {
            (Some(job), Some(slot), Some(started_at), Some(finished_at)) => Some(LastRun {
                job,
                slot,
                started_at,
                finished_at,
                status: row
                    .try_get::<Option<String>, _>("last_run_status")?
                    .unwrap_or_default(),
                execution_id: row.try_get("last_run_execution_id")?,
            }),
            _ => None,
        };
        Ok(PersistedState {
            enabled: row.try_get::<Option<i64>, _>("enabled")?.map(|v| v != 0),
            settings: ScheduleSettings {
                execution_hour: u32_of(row.try_get("execution_hour")?),
                execution_minute: u32_of(row.try_get("execution_minute")?),
                max_retries: u32_of(row.try_get("max_retries")?),
                retry_interval_minutes: u32_of(row.try_get("retry_interval_minutes")?),
            },
            evaluated_until: ts(row.try_get("evaluated_until")?),
            daily,
            last_run,
        })
    }

    async fn set_enabled(&self, enabled: bool) -> Result<()> {
        sqlx::query("UPDATE etl_scheduler_state SET enabled = ?, updated_at = ? WHERE id = 1")
            .bind(i64::from(enabled))
            .bind(format_ts(Utc::now()))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_settings(&self, s: &ScheduleSettings) -> Result<()> {
        sqlx::query(
            "UPDATE etl_scheduler_state SET execution_hour = ?, execution_minute = ?, max_retries = ?, \
             retry_interval_minutes = ?, updated_at = ? WHERE id = 1",
        )
        .bind(s.execution_hour.map(i64::from))
        .bind(s.execution_minute.map(i64::from))
        .bind(s.max_retries.map(i64::from))
        .bind(s.retry_interval_minutes.map(i64::from))
        .bind(format_ts(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn advance(&self, until: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "UPDATE etl_scheduler_state SET evaluated_until = ?1 \
             WHERE id = 1 AND (evaluated_until IS NULL OR evaluated_until < ?1)",
        )
        .bind(format_ts(until))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_daily(&self, d: &DailyProgress) -> Result<()> {
        sqlx::query(
            "UPDATE etl_scheduler_state SET daily_day = ?1, daily_last_attempt_at = ?2, \
             daily_retries_done = ?3, daily_pending = ?4 \
             WHERE id = 1 AND (daily_day IS NULL OR daily_day <= ?1)",
        )
        .bind(d.day.format("%Y-%m-%d").to_string())
        .bind(format_ts(d.last_attempt_at))
        .bind(i64::from(d.retries_done))
        .bind(store_list_json(&d.pending_retry)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn record_run(&self, r: &LastRun) -> Result<()> {
        sqlx::query(
            "UPDATE etl_scheduler_state SET last_run_job = ?, last_run_slot = ?, last_run_started_at = ?, \
             last_run_finished_at = ?, last_run_status = ?, last_run_execution_id = ? WHERE id = 1",
        )
        .bind(&r.job)
        .bind(format_ts(r.slot))
        .bind(format_ts(r.started_at))
        .bind(format_ts(r.finished_at))
        .bind(&r.status)
        .bind(r.execution_id)
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
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (day) DO UPDATE SET started_at = excluded.started_at, updated_at = excluded.updated_at, \
             total = excluded.total, ok = excluded.ok, failed = excluded.failed, \
             pending_retries = excluded.pending_retries, retries_done = excluded.retries_done, \
             failed_stores = excluded.failed_stores",
        )
        .bind(s.day.format("%Y-%m-%d").to_string())
        .bind(format_ts(s.started_at))
        .bind(format_ts(s.updated_at))
        .bind(i64::from(s.total))
        .bind(i64::from(s.ok))
        .bind(i64::from(s.failed))
        .bind(i64::from(s.pending_retries))
        .bind(i64::from(s.retries_done))
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
            u32_of(Some(row.try_get::<i64, _>(name)?)).ok_or_else(|| bad(name))
        };
        Ok(Some(DailySummary {
            day: day(row.try_get("day")?).ok_or_else(|| bad("day"))?,
            started_at: ts(row.try_get("started_at")?).ok_or_else(|| bad("started_at"))?,
            updated_at: ts(row.try_get("updated_at")?).ok_or_else(|| bad("updated_at"))?,
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
             VALUES (?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (job, slot) DO UPDATE SET owner = excluded.owner, claimed_at = excluded.claimed_at, \
             expires_at = excluded.expires_at, holds_stores = excluded.holds_stores, stores = excluded.stores, \
             execution_id = NULL \
             WHERE etl_scheduler_claims.finished_at IS NULL AND etl_scheduler_claims.expires_at < excluded.claimed_at",
        )
        .bind(&c.job)
        .bind(format_ts(c.slot))
        .bind(&c.owner)
        .bind(format_ts(c.claimed_at))
        .bind(format_ts(c.expires_at))
        .bind(i64::from(c.holds_stores))
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
                "UPDATE etl_scheduler_claims SET expires_at = ? \
                 WHERE job = ? AND slot = ? AND owner = ? AND finished_at IS NULL",
            )
            .bind(format_ts(until))
            .bind(job)
            .bind(format_ts(*slot))
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
        sqlx::query("UPDATE etl_scheduler_claims SET execution_id = ? WHERE job = ? AND slot = ?")
            .bind(execution_id)
            .bind(job)
            .bind(format_ts(slot))
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
            "UPDATE etl_scheduler_claims SET finished_at = ? WHERE job = ? AND slot = ? AND owner = ?",
        )
        .bind(format_ts(at))
        .bind(job)
        .bind(format_ts(slot))
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn open_claims(&self, now: DateTime<Utc>) -> Result<Vec<ClaimRecord>> {
        sqlx::query(&format!(
            "SELECT {CLAIM_COLUMNS} FROM etl_scheduler_claims \
             WHERE finished_at IS NULL AND expires_at > ? ORDER BY slot, job"
        ))
        .bind(format_ts(now))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(claim_of)
        .collect()
    }

    async fn prune_claims(&self, before: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM etl_scheduler_claims WHERE finished_at IS NOT NULL AND slot < ?",
        )
        .bind(format_ts(before))
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
            "SELECT {CLAIM_COLUMNS} FROM etl_scheduler_claims WHERE slot >= ? AND slot < ? ORDER BY slot, job"
        ))
        .bind(format_ts(from))
        .bind(format_ts(to))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(claim_of)
        .collect()
    }
}
