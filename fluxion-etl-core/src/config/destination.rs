//! `[destination]`: where data and execution history go.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::default_true;

/// `[destination]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationConfig {
    /// Database URL: `sqlite://path/to/file.db` (created if missing) or
    /// `postgres://user@host/db`. `DATABASE_URL` overrides it. Put no password here: use
    /// `PGPASSWORD` or a `.pgpass` file, or `DATABASE_URL` from a secret store.
    #[serde(default = "default_destination_url")]
    pub url: String,
    /// Append every inventory snapshot to `inventory_history` as well.
    #[serde(default = "default_true")]
    pub keep_inventory_history: bool,
    /// Days of execution history to keep (older executions are purged).
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
    /// Minutes after which an execution still marked `running` is taken for one whose process
    /// died (killed, host lost) and is closed as failed (`interrupted`) when Fluxion starts.
    /// Keep it longer than your longest run.
    #[serde(default = "default_stale_running_minutes")]
    pub stale_running_minutes: u32,
}

impl Default for DestinationConfig {
    fn default() -> Self {
        Self {
            url: default_destination_url(),
            keep_inventory_history: true,
            retention_days: default_retention_days(),
            stale_running_minutes: default_stale_running_minutes(),
        }
    }
}

fn default_destination_url() -> String {
    "sqlite://fluxion.db".to_owned()
}
fn default_retention_days() -> u32 {
    90
}
fn default_stale_running_minutes() -> u32 {
    // Seed 001 reconciles executions left `en_proceso` for more than an hour.
    60
}

impl DestinationConfig {
    /// The age after which a `running` execution is reconciled at start-up.
    pub fn stale_running(&self) -> Duration {
        Duration::from_secs(u64::from(self.stale_running_minutes) * 60)
    }
}
