//! What a pipeline author needs, in one `use`:
//!
//! ```
//! use fluxion_etl_core::prelude::*;
//!
//! /// Drops every sales line with no quantity.
//! struct QuantityOnly;
//!
//! #[async_trait]
//! impl Transformer for QuantityOnly {
//!     async fn transform(&self, batch: Batch) -> Result<Batch, EtlError> {
//!         let Batch::Sales(lines) = batch else {
//!             return Ok(batch);
//!         };
//!         Ok(Batch::Sales(lines.into_iter().filter(|l| l.quantity.is_some()).collect()))
//!     }
//! }
//! ```
//!
//! It holds the service ([`Fluxion`], [`RunRequest`], [`Config`]), the records ([`Batch`],
//! [`SaleLine`], [`InventoryItem`], [`StoreId`], [`Window`], [`DataKind`]), the pipeline's
//! contracts and runner, the tracker's entry points, the taxonomy ([`Phase`], [`ErrorCategory`],
//! [`ErrorSource`]), the errors, [`CancellationToken`] and the
//! [`async_trait`](macro@async_trait) attribute the contracts are implemented with. It does not
//! export a `Result` alias, so it never shadows yours.

pub use async_trait::async_trait;

pub use crate::config::Config;
pub use crate::model::{Batch, DataKind, InventoryItem, SaleLine, StoreId, Window};
pub use crate::outcome::{ExtractStats, LoadStats, NetworkDiagnostics};
pub use crate::pipeline::{
    Extractor, FnTransformer, Identity, LoadScope, LoadSession, LoadUnit, Loader, Runner,
    StoreTask, Transformer,
};
pub use crate::taxonomy::{ErrorCategory, ErrorSource, Phase};
pub use crate::tracker::{
    ExecutionObserver, ExecutionTracker, NewExecution, RunMode, StoreDetail, StoreRef,
    TrackerStore, TriggeredBy,
};
pub use crate::{CancellationToken, Error, EtlError, Fluxion, RunReport, RunRequest};
