//! `[batch]`: batching, concurrency, timeouts and retries.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[batch]`. Every key is optional: a missing one takes its
/// [`Default`] value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchConfig {
    /// Records per batch between extractor and loader.
    pub batch_size: usize,
    /// Stores processed at once.
    pub max_workers: usize,
    /// Batches an extractor may run ahead of its loader.
    pub channel_capacity: usize,
    /// Seconds to establish a connection to a source.
    pub connect_timeout_secs: u64,
    /// Seconds for one sales request or query (a store-day of KLK sales can take minutes).
    pub request_timeout_secs: u64,
    /// Seconds for one inventory request or query.
    pub inventory_timeout_secs: u64,
    /// Retries of a transient request failure (timeouts, 5xx, resets) before the store fails.
    pub retries: u32,
    /// Base delay between retries in milliseconds; it doubles each time, with jitter.
    pub retry_delay_ms: u64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            batch_size: 5_000,
            max_workers: 4,
            channel_capacity: 2,
            connect_timeout_secs: 10,
            request_timeout_secs: 600,
            inventory_timeout_secs: 60,
            retries: 3,
            retry_delay_ms: 5_000,
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
