//! `[batch]`: batching, concurrency, timeouts and retries.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[batch]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Records per batch between extractor and loader.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Stores processed at once.
    #[serde(default = "default_max_workers")]
    pub max_workers: usize,
    /// Batches an extractor may run ahead of its loader.
    #[serde(default = "default_channel_capacity")]
    pub channel_capacity: usize,
    /// Seconds to establish a connection to a source.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// Seconds for one sales request or query (a store-day of KLK sales can take minutes).
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: u64,
    /// Seconds for one inventory request or query.
    #[serde(default = "default_inventory_timeout")]
    pub inventory_timeout_secs: u64,
    /// Retries of a transient request failure (timeouts, 5xx, resets) before the store fails.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Base delay between retries in milliseconds; it doubles each time, with jitter.
    #[serde(default = "default_retry_delay_ms")]
    pub retry_delay_ms: u64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            batch_size: default_batch_size(),
            max_workers: default_max_workers(),
            channel_capacity: default_channel_capacity(),
            connect_timeout_secs: default_connect_timeout(),
            request_timeout_secs: default_request_timeout(),
            inventory_timeout_secs: default_inventory_timeout(),
            retries: default_retries(),
            retry_delay_ms: default_retry_delay_ms(),
        }
    }
}

impl BatchConfig {
    /// Connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }
    /// Sales request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
    /// Inventory request timeout.
    pub fn inventory_timeout(&self) -> Duration {
        Duration::from_secs(self.inventory_timeout_secs)
    }
    /// Base retry delay.
    pub fn retry_delay(&self) -> Duration {
        Duration::from_millis(self.retry_delay_ms)
    }
}

fn default_batch_size() -> usize {
    5_000
}
fn default_max_workers() -> usize {
    4
}
fn default_channel_capacity() -> usize {
    2
}
fn default_connect_timeout() -> u64 {
    10
}
fn default_request_timeout() -> u64 {
    600
}
fn default_inventory_timeout() -> u64 {
    60
}
fn default_retries() -> u32 {
    3
}
fn default_retry_delay_ms() -> u64 {
    5_000
}
