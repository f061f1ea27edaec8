//! Fluxion ETL moves a retail chain's sales and inventory from its point-of-sale systems (KLK
//! over REST/JSON, Stellar over SQL Server) into PostgreSQL — or an embedded SQLite file — and
//! records every execution to the phase and cause of its failure.
//!
//! # The layers
//!
//! The modules form a plain stack, declared below in this order: each uses only those above it
//! in the list (below it in the stack), never one after it.
//!
//! 0. [`stored`]: what an enum kept as text in the destination is (its text, its parse);
//! 1. [`taxonomy`]: the vocabulary — [`Phase`](taxonomy::Phase),
//!    [`ErrorCategory`](taxonomy::ErrorCategory), classification from typed causes, sanitizing;
//! 2. [`net`]: the connect probe behind every network diagnostic, host/port of a base URL;
//! 3. [`model`]: [`SaleLine`](model::SaleLine), [`InventoryItem`](model::InventoryItem),
//!    [`Window`](model::Window) (half-open, store-local) and friends;
//!    [`local_time`]: store-local time as people type it, the rules of a window asked for by hand;
//! 4. [`config`](crate::config): `fluxion.toml`; then the library's [`Error`] and [`EtlError`];
//! 5. [`outcome`]: what an extraction and a load report back (the counters and diagnostics the
//!    pipeline hands to the tracker);
//! 6. [`tracker`]: the [`ExecutionTracker`](tracker::ExecutionTracker), its store contract and
//!    its typed records;
//! 7. [`pipeline`]: the [`Extractor`](pipeline::Extractor), [`Transformer`](pipeline::Transformer)
//!    and [`Loader`](pipeline::Loader) contracts and the streaming [`Runner`](pipeline::Runner);
//! 8. [`sources`]: KLK and Stellar extractors;
//! 9. the policies — [`gaps`] (what is missing per store, under its calendar), [`recovery`]
//!    (plans of gaps to run again), [`schedule`] (when to run what: the pure `due`, its clock,
//!    the store of its state) — each declaring the store it reads;
//! 10. [`loaders`]: the SQLite and PostgreSQL destinations, implementing the loader and every
//!     store above (tracker, gaps, scheduler);
//! 11. [`connectivity`]: whether each store's source can be reached right now;
//! 12. [`Fluxion`]: everything wired from a configuration;
//! 13. [`scheduler`]: the runtime loop that executes the schedule through [`Fluxion`].
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

pub mod stored;

pub mod taxonomy;

pub mod net;

pub mod model;

pub mod local_time;

pub mod config;
mod error;

pub mod outcome;

pub mod tracker;

pub mod pipeline;

pub mod sources;

pub mod gaps;
pub mod recovery;
pub mod schedule;

pub mod loaders;

pub mod connectivity;

mod service;

pub mod scheduler;

pub use error::{Error, EtlError, Result};
pub use service::{cancel_on_signals, Fluxion, RunReport, RunRequest, StartedRun, StoreSelection};
pub use tokio_util::sync::CancellationToken;
