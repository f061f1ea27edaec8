//! `[schedule]`: when the scheduler runs what.

use serde::{Deserialize, Serialize};

/// `[schedule]` (times are America/Caracas). Every key is optional: a missing one takes its
/// [`Default`] value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Whether the scheduler runs jobs.
    pub enabled: bool,
    /// Hour of the daily run (yesterday's sales).
    pub execution_hour: u32,
    /// Minute of the daily run.
    pub execution_minute: u32,
    /// Retries of stores that failed the daily run with a retryable error.
    pub max_retries: u32,
    /// Minutes between those retries.
    pub retry_interval_minutes: u32,
    /// Minutes between incremental runs during opening hours.
    pub incremental_interval_minutes: u32,
    /// Minutes of overlap added before each incremental window.
    pub incremental_overlap_minutes: u32,
    /// First hour of incremental runs.
    pub opening_hour: u32,
    /// Hour after which incremental runs stop.
    pub closing_hour: u32,
    /// Hour of the nightly recovery of the previous day.
    pub recovery_hour: u32,
    /// Gaps a full run recovers before its own work.
    pub max_gaps_per_run: u32,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            execution_hour: 5,
            execution_minute: 0,
            max_retries: 3,
            retry_interval_minutes: 20,
            incremental_interval_minutes: 30,
            incremental_overlap_minutes: 60,
            opening_hour: 6,
            closing_hour: 22,
            recovery_hour: 3,
            max_gaps_per_run: 5,
        }
    }
}
