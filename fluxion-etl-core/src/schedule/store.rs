//! What the scheduler persists, and the [`SchedulerStore`] contract both destinations implement.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::DailyProgress;
use crate::config::ScheduleConfig;
use crate::error::{Error, Result};
use crate::model::StoreId;
use crate::tracker::ErrorCategory;

/// Settings changed at runtime (`PUT /api/etl/scheduler/config`, seed 000), persisted over the
/// `[schedule]` section of `fluxion.toml`. `None` keeps the file's value; in an update, `None`
/// leaves the field as it was.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSettings {
    /// Hour of the daily run, 0..=23 (store-local).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_hour: Option<u32>,
    /// Minute of the daily run, 0..=59.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_minute: Option<u32>,
    /// Retries of stores that failed retryably, 0..=20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// Minutes between retries, 1..=720.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval_minutes: Option<u32>,
}

/// A setting out of its range: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidSetting {
    /// The field (`execution_hour`, `execution_minute`, `max_retries`, `retry_interval_minutes`).
    pub field: &'static str,
    /// What is wrong with its value.
    pub message: String,
}

impl ScheduleSettings {
    /// Each setting's name and inclusive range: what [`ScheduleSettings::validate`] and
    /// `fluxion.toml` accept, and what the control centre's form allows.
    pub const RANGES: [(&'static str, u32, u32); 4] = [
        ("execution_hour", 0, 23),
        ("execution_minute", 0, 59),
        ("max_retries", 0, 20),
        ("retry_interval_minutes", 1, 720),
    ];

    /// Checks every present field against its range (the same ranges `fluxion.toml` accepts).
    pub fn validate(&self) -> std::result::Result<(), InvalidSetting> {
        let values = [
            self.execution_hour,
            self.execution_minute,
            self.max_retries,
            self.retry_interval_minutes,
        ];
        for ((field, low, high), value) in Self::RANGES.into_iter().zip(values) {
            if let Some(v) = value {
                if v < low || v > high {
                    return Err(InvalidSetting {
                        field,
                        message: format!("{v} is not in {low}..={high}"),
                    });
                }
            }
        }
        Ok(())
    }

    /// `self` with the fields `update` sets replaced.
    pub fn merged(&self, update: &ScheduleSettings) -> ScheduleSettings {
        ScheduleSettings {
            execution_hour: update.execution_hour.or(self.execution_hour),
            execution_minute: update.execution_minute.or(self.execution_minute),
            max_retries: update.max_retries.or(self.max_retries),
            retry_interval_minutes: update
                .retry_interval_minutes
                .or(self.retry_interval_minutes),
        }
    }

    /// The configuration with these overrides applied.
    pub fn apply(&self, base: &ScheduleConfig) -> ScheduleConfig {
        ScheduleConfig {
            execution_hour: self.execution_hour.unwrap_or(base.execution_hour),
            execution_minute: self.execution_minute.unwrap_or(base.execution_minute),
            max_retries: self.max_retries.unwrap_or(base.max_retries),
            retry_interval_minutes: self
                .retry_interval_minutes
                .unwrap_or(base.retry_interval_minutes),
            ..base.clone()
        }
    }
}

/// The last job the scheduler (any replica) finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastRun {
    /// The job's key ([`JobKind::key`](super::JobKind::key)), or `daily_trigger` for
    /// "run now".
    pub job: String,
    /// The slot it ran for.
    pub slot: DateTime<Utc>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// The execution's final status (`success`, `partial`, `failed`), or `error` when the
    /// execution could not be opened.
    pub status: String,
    /// The execution, when one was opened.
    pub execution_id: Option<i64>,
}

/// A store the daily run has not loaded (yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedStore {
    /// The store.
    pub store: StoreId,
    /// The category of its last failure (`None` when it was skipped or never reached).
    pub category: Option<ErrorCategory>,
    /// Whether it is (or was) waiting for a retry.
    pub retryable: bool,
}

/// Seed 000's daily summary: one per sales day the daily run loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailySummary {
    /// The sales day (store-local).
    pub day: NaiveDate,
    /// When the daily run started.
    pub started_at: DateTime<Utc>,
    /// When the summary last changed (after the run or a retry).
    pub updated_at: DateTime<Utc>,
    /// Stores the daily run covered.
    pub total: u32,
    /// Stores loaded (by the run or a retry).
    pub ok: u32,
    /// Stores not loaded (`total - ok`), waiting for a retry or given up.
    pub failed: u32,
    /// Stores still waiting for a retry.
    pub pending_retries: u32,
    /// Retries done so far.
    pub retries_done: u32,
    /// The stores not loaded, with the category of their last failure.
    pub failed_stores: Vec<FailedStore>,
}

/// Everything [`SchedulerStore::load`] returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersistedState {
    /// Enabled or disabled at runtime (`None`: `[schedule] enabled`).
    pub enabled: Option<bool>,
    /// Runtime overrides of the settings.
    pub settings: ScheduleSettings,
    /// Slots at or before this instant have been handled.
    pub evaluated_until: Option<DateTime<Utc>>,
    /// The latest daily run's progress.
    pub daily: Option<DailyProgress>,
    /// The last job finished.
    pub last_run: Option<LastRun>,
}

/// A claim on one slot of one job.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// The job's key.
    pub job: String,
    /// The slot.
    pub slot: DateTime<Utc>,
    /// Who claims it (host, process and a random suffix).
    pub owner: String,
    /// When.
    pub claimed_at: DateTime<Utc>,
    /// When it lapses unless renewed.
    pub expires_at: DateTime<Utc>,
    /// Whether the job's stores are busy while it runs (daily run and retries).
    pub holds_stores: bool,
    /// The job's stores.
    pub stores: Vec<StoreId>,
}

/// A claim as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRecord {
    /// The claim.
    pub claim: Claim,
    /// When its job finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// The execution the job opened.
    pub execution_id: Option<i64>,
}

/// A store list as the scheduler's tables keep it: a JSON array of ids (both destinations).
pub(crate) fn store_list_json(stores: &[StoreId]) -> Result<String> {
    serde_json::to_string(stores)
        .map_err(|e| Error::InvalidRequest(format!("cannot encode store ids: {e}")))
}

/// Reads a store list written by [`store_list_json`].
pub(crate) fn store_list_of(json: &str) -> Result<Vec<StoreId>> {
    serde_json::from_str(json).map_err(|e| {
        Error::Schema(format!(
            "etl_scheduler_* holds a store list that is not a JSON array of ids: {e}"
        ))
    })
}

/// Where the scheduler keeps its state: a destination's `etl_scheduler_*` tables (migration 3).
///
/// Contract:
/// - `load` returns what the setters wrote, across processes and restarts.
/// - `advance` only moves `evaluated_until` forward (replicas may race; the latest wins).
/// - `set_daily` never replaces the progress of a later day with an earlier one.
/// - `try_claim` is atomic: of several concurrent callers for one `(job, slot)`, exactly one
///   gets `true`. An existing claim is taken over only if it is unfinished and expired (its
///   owner died); a finished claim is never taken again.
/// - `open_claims` lists the unfinished, unexpired claims at `now`.
#[async_trait]
pub trait SchedulerStore: Send + Sync + std::fmt::Debug {
    /// The persisted state.
    async fn load(&self) -> Result<PersistedState>;
    /// Enables or disables the scheduler.
    async fn set_enabled(&self, enabled: bool) -> Result<()>;
    /// Replaces the runtime settings (already validated).
    async fn set_settings(&self, settings: &ScheduleSettings) -> Result<()>;
    /// Moves `evaluated_until` forward to `until` (never back).
    async fn advance(&self, until: DateTime<Utc>) -> Result<()>;
    /// Records the daily run's progress.
    async fn set_daily(&self, daily: &DailyProgress) -> Result<()>;
    /// Records the last finished job.
    async fn record_run(&self, run: &LastRun) -> Result<()>;
    /// Inserts or replaces the summary of `summary.day`.
    async fn save_summary(&self, summary: &DailySummary) -> Result<()>;
    /// The summary of the latest day.
    async fn latest_summary(&self) -> Result<Option<DailySummary>>;
    /// Claims a slot; `true` if this caller now owns it.
    async fn try_claim(&self, claim: &Claim) -> Result<bool>;
    /// Extends the unfinished claims `(job, slot)` of `owner` to `until`; returns how many.
    async fn renew(
        &self,
        owner: &str,
        claims: &[(String, DateTime<Utc>)],
        until: DateTime<Utc>,
    ) -> Result<u64>;
    /// Records the execution a claimed job opened.
    async fn set_claim_execution(
        &self,
        job: &str,
        slot: DateTime<Utc>,
        execution_id: i64,
    ) -> Result<()>;
    /// Marks a claimed job finished.
    async fn finish_claim(
        &self,
        job: &str,
        slot: DateTime<Utc>,
        owner: &str,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Unfinished, unexpired claims at `now`.
    async fn open_claims(&self, now: DateTime<Utc>) -> Result<Vec<ClaimRecord>>;
    /// Deletes the finished claims of slots before `before`; returns how many.
    async fn prune_claims(&self, before: DateTime<Utc>) -> Result<u64>;
    /// Claims whose slot is in `[from, to)`, oldest first.
    async fn claims_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ClaimRecord>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_validated_field_by_field() {
        let ok = ScheduleSettings {
            execution_hour: Some(6),
            execution_minute: Some(30),
            max_retries: Some(5),
            retry_interval_minutes: Some(15),
        };
        assert_eq!(ok.validate(), Ok(()));
        let bad = ScheduleSettings {
            execution_hour: Some(24),
            ..ScheduleSettings::default()
        };
        let err = bad.validate().unwrap_err();
        assert_eq!(err.field, "execution_hour");
        assert_eq!(err.to_string(), "execution_hour: 24 is not in 0..=23");
        let bad = ScheduleSettings {
            retry_interval_minutes: Some(0),
            ..ScheduleSettings::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "retry_interval_minutes");
        let bad = ScheduleSettings {
            max_retries: Some(21),
            ..ScheduleSettings::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "max_retries");
    }

    #[test]
    fn an_update_merges_over_the_stored_settings_and_applies_over_the_file() {
        let stored = ScheduleSettings {
            execution_hour: Some(6),
            ..ScheduleSettings::default()
        };
        let update: ScheduleSettings =
            serde_json::from_str(r#"{"execution_minute": 30, "max_retries": 5}"#).unwrap();
        let merged = stored.merged(&update);
        let c = merged.apply(&ScheduleConfig::default());
        assert_eq!(
            (c.execution_hour, c.execution_minute, c.max_retries),
            (6, 30, 5)
        );
        assert_eq!(c.retry_interval_minutes, 20, "the file's value is kept");
        assert!(serde_json::from_str::<ScheduleSettings>(r#"{"execution_hr": 6}"#).is_err());
    }
}
