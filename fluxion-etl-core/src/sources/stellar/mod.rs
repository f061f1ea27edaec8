//! The Stellar source (SQL Server over TDS). See `shared/STELLAR.md`.

use crate::config::{Environment, StellarStore, StoreConfig};
use crate::error::EtlError;
use crate::pipeline::Extractor;
use crate::tracker::{ErrorCategory, ErrorSource, Phase};

use super::ExtractRequest;

/// Builds the Stellar extractor of one store.
pub fn extractor(
    store: &StoreConfig,
    _stellar: &StellarStore,
    _request: &ExtractRequest,
    _environment: Environment,
) -> Result<Box<dyn Extractor>, EtlError> {
    Err(EtlError::new(
        Phase::Extract,
        ErrorCategory::DbError,
        ErrorSource::StellarDb,
        format!("store {}: the Stellar extractor is not part of this build yet", store.id),
    )
    .retryable(false))
}
