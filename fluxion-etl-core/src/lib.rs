//! Fluxion ETL moves a retail chain's sales and inventory from its point-of-sale systems (KLK
//! over REST/JSON, Stellar over SQL Server) into PostgreSQL — or an embedded SQLite file — and
//! records every execution to the phase and cause of its failure.
//!
//! # Quick start
//!
//! ```no_run
//! use fluxion_etl_core::{config::Config, Fluxion, RunRequest};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let fluxion = Fluxion::from_config(Config::load("fluxion.toml".as_ref())?).await?;
//! let report = fluxion.run(RunRequest::yesterday()).await?;
//! println!("execution {} ended {}", report.execution_id, report.status);
//! # Ok(()) }
//! ```
//!
//! The repository's `examples/` run as they are (`cargo run --example NAME`), against the
//! simulators in-process, and the test suite runs each of them:
//!
//! - `quickstart`: [`Fluxion::from_config`] on an inline configuration, yesterday's sales of two
//!   simulated stores into SQLite;
//! - `custom_transformer`: a closure ([`FnTransformer`](pipeline::FnTransformer)) that drops
//!   lines and derives a column;
//! - `custom_loader`: a destination of your own behind the [`Loader`](pipeline::Loader)
//!   contract, the tracker recording every phase;
//! - `custom_extractor`: a third point-of-sale system behind the
//!   [`Extractor`](pipeline::Extractor) contract, its failures classified;
//! - `embed_server`: the scheduler and the server's router inside your own axum application;
//! - `observe`: an [`ExecutionObserver`](tracker::ExecutionObserver) streaming progress;
//! - `stellar_inventory`: a distribution centre's inventory streamed from Stellar.
//!
//! A pipeline author's names are in the [`prelude`]. Builders with defaults open what has many
//! fields: [`NewExecution::builder`](tracker::NewExecution::builder),
//! [`Runner::builder`](pipeline::Runner::builder), [`RunRequest::sales`]; every error answers
//! [`phase`](Error::phase), [`category`](Error::category) and
//! [`is_retryable`](Error::is_retryable).
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
//! 4. [`config`]: `fluxion.toml`; then the library's [`Error`] and [`EtlError`];
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
//! 13. [`scheduler`]: the runtime loop that executes the schedule through [`Fluxion`];
//! 14. [`prelude`]: the names a pipeline author needs, from all of the above.

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

pub mod prelude;

pub use error::{Error, EtlError, Result};
pub use service::{cancel_on_signals, Fluxion, RunReport, RunRequest, StartedRun, StoreSelection};
pub use tokio_util::sync::CancellationToken;
