//! `[gaps]`: what counts as a gap and how late is late.

use serde::{Deserialize, Serialize};

use super::toml_date;

/// `[gaps]`: what counts as a gap and how late is late. Every key is optional: a missing one takes its
/// [`Default`] value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GapsConfig {
    /// Hours back within which a failed store window counts as a gap to recover (seed 001:
    /// 168, a week). Older failures are left to `fluxion recover --behavior missing`.
    pub failed_within_hours: u32,
    /// First day whose data is expected: completeness and missing days count from here (a
    /// store's later `opened_on` wins). Unset: from each store's first day with data.
    #[serde(default, with = "toml_date::option")]
    pub coverage_start: Option<chrono::NaiveDate>,
    /// Open days behind (missing from the day after the last one with data through yesterday)
    /// from which a store is `behind`.
    pub behind_days: u32,
    /// Open days behind from which a store is `critical`.
    pub critical_days: u32,
    /// Hours back within which opening hours with no sales are reported.
    pub empty_hours_lookback: u32,
    /// At most this many days per recovery execution when missing days are recovered (a long
    /// missing range becomes several executions, newest first).
    pub recovery_chunk_days: u32,
}

impl Default for GapsConfig {
    fn default() -> Self {
        Self {
            failed_within_hours: 168,
            coverage_start: None,
            behind_days: 1,
            critical_days: 7,
            empty_hours_lookback: 24,
            recovery_chunk_days: 7,
        }
    }
}
