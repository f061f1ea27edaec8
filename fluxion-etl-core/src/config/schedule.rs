//! `[schedule]`: when the scheduler runs what.

use serde::{Deserialize, Serialize};

use super::default_true;

/// `[schedule]` (times are America/Caracas).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Whether the scheduler runs jobs.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Hour of the daily run (yesterday's sales).
    #[serde(default = "default_daily_hour")]
    pub execution_hour: u32,
    /// Minute of the daily run.
    #[serde(default)]
    pub execution_minute: u32,
    /// Retries of stores that failed the daily run with a retryable error.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Minutes between those retries.
    #[serde(default = "default_retry_interval")]
    pub retry_interval_minutes: u32,
    /// Minutes between incremental runs during opening hours.
    #[serde(default = "default_incremental_interval")]
    pub incremental_interval_minutes: u32,
    /// Minutes of overlap added before each incremental window.
    #[serde(default = "default_incremental_overlap")]
    pub incremental_overlap_minutes: u32,
    /// First hour of incremental runs.
    #[serde(default = "default_opening_hour")]
    pub opening_hour: u32,
    /// Hour after which incremental runs stop.
    #[serde(default = "default_closing_hour")]
    pub closing_hour: u32,
    /// Hour of the nightly recovery of the previous day.
    #[serde(default = "default_recovery_hour")]
    pub recovery_hour: u32,
    /// Gaps a full run recovers before its own work.
    #[serde(default = "default_max_gaps")]
    pub max_gaps_per_run: u32,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            execution_hour: default_daily_hour(),
            execution_minute: 0,
            max_retries: default_max_retries(),
            retry_interval_minutes: default_retry_interval(),
            incremental_interval_minutes: default_incremental_interval(),
            incremental_overlap_minutes: default_incremental_overlap(),
            opening_hour: default_opening_hour(),
            closing_hour: default_closing_hour(),
            recovery_hour: default_recovery_hour(),
            max_gaps_per_run: default_max_gaps(),
        }
    }
}

fn default_daily_hour() -> u32 {
    5
}
fn default_max_retries() -> u32 {
    3
}
fn default_retry_interval() -> u32 {
    20
}
fn default_incremental_interval() -> u32 {
    30
}
fn default_incremental_overlap() -> u32 {
    60
}
fn default_opening_hour() -> u32 {
    6
}
fn default_closing_hour() -> u32 {
    22
}
fn default_recovery_hour() -> u32 {
    3
}
fn default_max_gaps() -> u32 {
    5
}
