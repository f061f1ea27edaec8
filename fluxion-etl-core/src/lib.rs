//! Fluxion ETL moves a retail chain's sales and inventory from its point-of-sale systems (KLK
//! over REST/JSON, Stellar over SQL Server) into PostgreSQL — or an embedded SQLite file — and
//! records every execution to the phase and cause of its failure.
//!
//! The pieces:
//! - [`model`]: [`SaleLine`](model::SaleLine), [`InventoryItem`](model::InventoryItem),
//!   [`Window`](model::Window) (half-open, store-local) and friends;
//! - [`pipeline`]: the [`Extractor`](pipeline::Extractor), [`Transformer`](pipeline::Transformer)
//!   and [`Loader`](pipeline::Loader) contracts and the streaming [`Runner`](pipeline::Runner);
//! - [`tracker`]: the [`ExecutionTracker`](tracker::ExecutionTracker), phases and the error
//!   taxonomy;
//! - [`loaders`]: the SQLite destination (and PostgreSQL);
//! - [`config`](crate::config): `fluxion.toml`;
//! - [`gaps`]: what is missing per store (failed windows not yet recovered, coverage with its
//!   recommendations, empty opening hours) under each store's calendar;
//! - [`recovery`]: plans of gaps to run again, run as recovery executions;
//! - [`schedule`]: the scheduler's pure policy and its runtime;
//! - [`connectivity`]: whether each store's source can be reached right now;
//! - [`Fluxion`]: everything wired from a configuration.
//!
//! ```no_run
//! use fluxion_etl_core::{Fluxion, RunRequest, config::Config, model::DataKind};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::load("fluxion.toml".as_ref())?;
//! let fluxion = Fluxion::from_config(config).await?;
//! let yesterday = chrono::Local::now().date_naive().pred_opt().unwrap();
//! let report = fluxion.run(RunRequest::days(DataKind::Sales, yesterday, yesterday)).await?;
//! println!("execution {} ended {}", report.execution_id, report.status);
//! # Ok(()) }
//! ```

pub mod config;
pub mod connectivity;
mod error;
pub mod gaps;
pub mod loaders;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod recovery;
pub mod schedule;
mod service;
pub mod sources;
pub mod tracker;

pub use error::{Error, EtlError, Result};
pub use service::{cancel_on_signals, Fluxion, RunReport, RunRequest, StartedRun, StoreSelection};
pub use tokio_util::sync::CancellationToken;
