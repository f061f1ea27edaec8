//! The KLK source (REST/JSON over HTTP). The API as the stores run it (endpoints, shapes,
//! quirks, the chain's branches and warehouses) is described in the repository's
//! `docs/sources/klk.md`.
//!
//! - `client`: the HTTP client — timeouts, optional auth header, retries with backoff, the
//!   connect probe behind the network diagnostics, and the classification of failures;
//! - `extractor`: [`KlkSalesExtractor`] (`POST /ventas`, one request per local day, exact
//!   half-open windows) and [`KlkInventoryExtractor`] (`POST /maestra/articulos/almacen`);
//! - `parse`: the streaming parse of the answers into records.

mod client;
mod extractor;
mod parse;

pub use client::USER_AGENT;
pub use extractor::{
    KlkInventoryExtractor, KlkSalesExtractor, KlkStoreRef, INVENTORY_PATH, SALES_PATH,
};

use crate::config::{Config, KlkStore, StoreConfig};
use crate::error::EtlError;
use crate::model::DataKind;
use crate::pipeline::Extractor;
use crate::taxonomy::{ErrorCategory, ErrorSource, Phase};

use super::ExtractRequest;

/// Builds the KLK extractor of one store. Never connects; fails only when the configuration
/// cannot work (no `[klk]` section, an auth variable that is not set, a sales request without a
/// window).
pub fn extractor(
    config: &Config,
    store: &StoreConfig,
    klk: &KlkStore,
    request: &ExtractRequest,
) -> Result<Box<dyn Extractor>, EtlError> {
    let Some(server) = &config.klk else {
        return Err(EtlError::new(
            Phase::Extract,
            ErrorCategory::ApiError,
            ErrorSource::KlkApi,
            format!(
                "store {} runs KLK but the configuration has no [klk] section",
                store.id
            ),
        )
        .retryable(false));
    };
    let who = KlkStoreRef {
        id: store.id.clone(),
        branch: klk.branch.clone(),
        warehouse: klk.warehouse.clone(),
    };
    match request.kind {
        DataKind::Sales => {
            let window = request.sales_window(&store.id)?;
            Ok(Box::new(KlkSalesExtractor::new(
                server,
                &who,
                window,
                &request.batch,
            )?))
        }
        DataKind::Inventory => Ok(Box::new(KlkInventoryExtractor::new(
            server,
            &who,
            request.snapshot_at,
            &request.batch,
        )?)),
    }
}
