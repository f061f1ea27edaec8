//! `[gaps]`: what counts as a gap and how late is late.

use serde::{Deserialize, Serialize};

use super::toml_date;

/// `[gaps]`: what counts as a gap and how late is late.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GapsConfig {
    /// Hours back within which a failed store window counts as a gap to recover (seed 001:
    /// 168, a week). Older failures are left to `fluxion recover --behavior missing`.
    #[serde(default = "default_failed_within_hours")]
    pub failed_within_hours: u32,
    /// First day whose data is expected: completeness and missing days count from here (a
    /// store's later `opened_on` wins). Unset: from each store's first day with data.
    #[serde(default, with = "toml_date::option")]
    pub coverage_start: Option<chrono::NaiveDate>,
    /// Open days behind (missing from the day after the last one with data through yesterday)
    /// from which a store is `behind`.
    #[serde(default = "default_behind_days")]
    pub behind_days: u32,
    /// Open days behind from which a store is `critical`.
    #[serde(default = "default_critical_days")]
    pub critical_days: u32,
    /// Hours back within which opening hours with no sales are reported.
    #[serde(default = "default_empty_hours_lookback")]
    pub empty_hours_lookback: u32,
    /// At most this many days per recovery execution when missing days are recovered (a long
    /// missing range becomes several executions, newest first).
    #[serde(default = "default_recovery_chunk_days")]
    pub recovery_chunk_days: u32,
}

impl Default for GapsConfig {
    fn default() -> Self {
        Self {
            failed_within_hours: default_failed_within_hours(),
            coverage_start: None,
            behind_days: default_behind_days(),
            critical_days: default_critical_days(),
            empty_hours_lookback: default_empty_hours_lookback(),
            recovery_chunk_days: default_recovery_chunk_days(),
        }
    }
}

fn default_failed_within_hours() -> u32 {
    168
}
fn default_behind_days() -> u32 {
    1
}
fn default_critical_days() -> u32 {
    7
}
fn default_empty_hours_lookback() -> u32 {
    24
}
fn default_recovery_chunk_days() -> u32 {
    7
}
