//! `[destination]`: where data and execution history go.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[destination]`. Every key is optional: a missing one takes its
/// [`Default`] value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DestinationConfig {
    /// Database URL: `sqlite://path/to/file.db` (created if missing) or
    /// `postgres://user@host/db`. `DATABASE_URL` overrides it. Put no password here: use
    /// `PGPASSWORD` or a `.pgpass` file, or `DATABASE_URL` from a secret store.
    pub url: String,
    /// Append every inventory snapshot to `inventory_history` as well.
    pub keep_inventory_history: bool,
    /// Days of execution history to keep (older executions are purged).
    pub retention_days: u32,
    /// Days of `inventory_history` snapshots to keep; the daily maintenance deletes older ones
    /// (about 2.4M rows a day for the chain's fleet at 33 snapshots a day).
    pub inventory_history_days: u32,
    /// Minutes after which an execution still marked `running` that has no recorded owner
    /// (opened before execution owners existed) is taken for one whose process died and is
    /// closed as failed (`interrupted`). Executions with an owner are closed as soon as their
    /// owner is gone, and never while it lives (`loaders::liveness`).
    pub stale_running_minutes: u32,
    /// Seconds to wait for the destination's server to answer a connection (PostgreSQL). A
    /// refused connection fails at once; a host that does not answer fails after this long.
    pub connect_timeout_secs: u64,
}

impl Default for DestinationConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://fluxion.db".to_owned(),
            keep_inventory_history: true,
            retention_days: 90,
            inventory_history_days: 90,
            // Seed 001 reconciles executions left `en_proceso` for more than an hour.
            stale_running_minutes: 60,
            connect_timeout_secs: 5,
        }
    }
}

impl DestinationConfig {
    /// The age after which a `running` execution is reconciled at start-up.
    pub fn stale_running(&self) -> Duration {
        Duration::from_secs(u64::from(self.stale_running_minutes) * 60)
    }

    /// How long connecting to the destination may take.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }
}
