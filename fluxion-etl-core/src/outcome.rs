//! What a store's extraction and load report back: the counters and the network diagnostics that
//! the pipeline's roles hand to the tracker, which records them (seed 003's columns).
//!
//! They sit below both the pipeline's contracts that produce them and the tracker that stores
//! them, so neither has to know the other to name them; `pipeline` re-exports them.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Where the network went when an extractor reached its source (seed 003's diagnostics).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkDiagnostics {
    /// The resolved address of the source.
    pub ip: Option<IpAddr>,
    /// The port.
    pub port: Option<u16>,
    /// TCP connect latency in milliseconds.
    pub latency_ms: Option<f64>,
}

/// Counters an extractor keeps about its conversation with the source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtractStats {
    /// Requests (HTTP requests, SQL queries) sent, retries included.
    pub requests: u64,
    /// Requests that failed, retried or not.
    pub errors: u64,
    /// Source rows that could not be converted and were not passed on.
    pub rows_rejected: u64,
}

/// What a committed load did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadStats {
    /// Records received by the loader.
    pub received: u64,
    /// New records inserted.
    pub inserted: u64,
    /// Existing records whose values changed.
    pub updated: u64,
    /// Records of the unit the source no longer returns, deleted.
    pub deleted: u64,
    /// Records identical to what the destination had (and repeated keys), left alone.
    pub unchanged: u64,
    /// Whether the loader wrote the store's tracker detail in its own transaction.
    pub detail_recorded: bool,
}

impl LoadStats {
    /// Records inserted or updated (the tracker's `records_loaded`).
    pub fn loaded(&self) -> u64 {
        self.inserted + self.updated
    }
}
