//! Sources: the point-of-sale systems records come from.
//!
//! Each source lives in its own folder with the same files: `mod.rs` (declarations and the
//! entry point [`extractor_for`] dispatches to), `client.rs` (talking to the system),
//! `extractor.rs` (the [`Extractor`]) and `parse.rs` (turning the system's rows into records).

pub mod klk;
pub mod stellar;
pub(crate) mod texts;

pub(crate) use texts::TextPool;

use chrono::{DateTime, Utc};

use crate::config::{BatchConfig, Config, Environment, StoreConfig, StoreSource};
use crate::error::EtlError;
use crate::model::Batch;
use crate::model::{DataKind, Window};
use crate::pipeline::{ExtractStats, Extractor, NetworkDiagnostics};

/// What one store's extractor is asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtractRequest {
    /// Sales or inventory.
    pub kind: DataKind,
    /// The sales window (ignored for inventory).
    pub window: Option<Window>,
    /// When an inventory snapshot is taken.
    pub snapshot_at: DateTime<Utc>,
    /// Batching, timeouts and retries.
    pub batch: BatchConfig,
}

/// Builds the extractor of one store from its configuration. Building is cheap and never
/// connects; a store that cannot be configured (a missing credential) gets an extractor that
/// fails on its first batch, so the failure is recorded against the store like any other.
pub fn extractor_for(
    config: &Config,
    store: &StoreConfig,
    request: &ExtractRequest,
    environment: Environment,
) -> Box<dyn Extractor> {
    let built = match &store.source {
        StoreSource::Klk(klk) => klk::extractor(config, store, klk, request),
        StoreSource::Stellar(stellar) => stellar::extractor(store, stellar, request, environment),
    };
    match built {
        Ok(e) => e,
        Err(e) => Box::new(Failing(Some(e))),
    }
}

/// An extractor whose first batch is an error.
#[derive(Debug)]
pub struct Failing(pub Option<EtlError>);

#[async_trait::async_trait]
impl Extractor for Failing {
    async fn next_batch(&mut self) -> Result<Option<Batch>, EtlError> {
        match self.0.take() {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }
    fn diagnostics(&self) -> Option<NetworkDiagnostics> {
        None
    }
    fn stats(&self) -> ExtractStats {
        ExtractStats::default()
    }
}
