//! Sources: the point-of-sale systems records come from.
//!
//! Each source lives in its own folder with the same files: `mod.rs` (declarations and the
//! entry point [`extractor_for`] dispatches to), `client.rs` (talking to the system),
//! `extractor.rs` (the [`Extractor`]) and `parse` (turning the system's rows into records).

/// Declares one of a source's public extractors: a named wrapper of the source's generic engine
/// (`$engine`, which has a `store` field and `next_batch`, `diagnostics` and `stats` methods),
/// its `Debug` (the store and the engine's fields listed after it) and its [`Extractor`]
/// implementation, which hands every call to the engine.
#[cfg(any(feature = "klk", feature = "stellar"))]
macro_rules! public_extractor {
    ($(#[$doc:meta])* $name:ident($engine:ty) $(, debug: $($field:ident),+)?) => {
        $(#[$doc])*
        pub struct $name {
            inner: $engine,
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("store", &self.inner.store)
                    $($(.field(stringify!($field), &self.inner.$field))+)?
                    .finish_non_exhaustive()
            }
        }

        #[async_trait::async_trait]
        impl $crate::pipeline::Extractor for $name {
            async fn next_batch(
                &mut self,
            ) -> Result<Option<$crate::model::Batch>, $crate::error::EtlError> {
                self.inner.next_batch().await
            }
            fn diagnostics(&self) -> Option<$crate::pipeline::NetworkDiagnostics> {
                self.inner.diagnostics()
            }
            fn stats(&self) -> $crate::pipeline::ExtractStats {
                self.inner.stats()
            }
        }
    };
}

#[cfg(feature = "klk")]
pub mod klk;
#[cfg(any(feature = "klk", feature = "stellar"))]
pub(crate) mod scope;
#[cfg(feature = "stellar")]
pub mod stellar;
#[cfg(any(feature = "klk", feature = "stellar"))]
pub(crate) mod texts;

#[cfg(any(feature = "klk", feature = "stellar"))]
pub(crate) use texts::TextPool;

use chrono::{DateTime, Utc};

use crate::config::{BatchConfig, Config, Environment, StoreConfig};
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

impl ExtractRequest {
    /// The window of a sales extraction of `store`; a sales request without one cannot run.
    #[cfg(any(feature = "klk", feature = "stellar"))]
    pub(crate) fn sales_window(&self, store: &crate::model::StoreId) -> Result<Window, EtlError> {
        self.window.ok_or_else(|| {
            EtlError::new(
                crate::taxonomy::Phase::Extract,
                crate::taxonomy::ErrorCategory::DataValidation,
                crate::taxonomy::ErrorSource::Pipeline,
                format!("a sales extraction of {store} needs a window"),
            )
        })
    }
}

/// Builds the extractor of one store from its configuration. Building is cheap and never
/// connects; a store that cannot be configured (a missing credential) gets an extractor that
/// fails on its first batch, so the failure is recorded against the store like any other.
#[cfg_attr(
    not(all(feature = "klk", feature = "stellar")),
    allow(unused_variables)
)]
pub fn extractor_for(
    config: &Config,
    store: &StoreConfig,
    request: &ExtractRequest,
    environment: Environment,
) -> Box<dyn Extractor> {
    let built = match &store.source {
        #[cfg(feature = "klk")]
        crate::config::StoreSource::Klk(klk) => klk::extractor(config, store, klk, request),
        #[cfg(feature = "stellar")]
        crate::config::StoreSource::Stellar(stellar) => {
            stellar::extractor(store, stellar, request, environment)
        }
        #[allow(unreachable_patterns)]
        _ => Err(not_built(store)),
    };
    match built {
        Ok(e) => e,
        Err(e) => Box::new(Failing(Some(e))),
    }
}

/// The failure of a store whose source this build left out (a Cargo feature of the crate).
#[allow(dead_code)]
fn not_built(store: &StoreConfig) -> EtlError {
    let system = store.system();
    EtlError::new(
        crate::taxonomy::Phase::Extract,
        crate::taxonomy::ErrorCategory::ApiError,
        crate::taxonomy::ErrorSource::Pipeline,
        format!(
            "store {} runs {} but this build of Fluxion leaves that source out (enable the `{}` feature of fluxion-etl-core)",
            store.id,
            system.as_str(),
            system.as_str()
        ),
    )
    .retryable(false)
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
