//! The KLK source (REST/JSON). See `shared/KLK_API.md`.

use crate::config::{Config, KlkStore, StoreConfig};
use crate::error::EtlError;
use crate::pipeline::Extractor;
use crate::tracker::{ErrorCategory, ErrorSource, Phase};

use super::ExtractRequest;

/// Builds the KLK extractor of one store.
pub fn extractor(
    _config: &Config,
    store: &StoreConfig,
    _klk: &KlkStore,
    _request: &ExtractRequest,
) -> Result<Box<dyn Extractor>, EtlError> {
    Err(EtlError::new(
        Phase::Extract,
        ErrorCategory::ApiError,
        ErrorSource::KlkApi,
        format!("store {}: the KLK extractor is not part of this build yet", store.id),
    )
    .retryable(false))
}
