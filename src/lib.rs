//! Fluxion ETL: sales and inventory from a retail chain's point-of-sale systems (KLK over
//! REST/JSON, Stellar over SQL Server) into PostgreSQL or an embedded SQLite file, with every
//! execution tracked to the phase and cause of its failure.
//!
//! This crate is the facade: it re-exports [`fluxion_etl_core`], the library where everything
//! lives, the way `sqlx` re-exports `sqlx-core`. Depend on `fluxion-etl`.
//!
//! ```no_run
//! use fluxion_etl::{config::Config, Fluxion, RunRequest};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let fluxion = Fluxion::from_config(Config::load("fluxion.toml".as_ref())?).await?;
//! let report = fluxion.run(RunRequest::yesterday()).await?;
//! println!("execution {}: {}", report.execution_id, report.status);
//! # Ok(()) }
//! ```
//!
//! The repository's examples (`cargo run --example NAME`) run against the simulators
//! in-process: `quickstart`, `custom_transformer`, `custom_loader`, `custom_extractor`,
//! `embed_server`, `observe` and `stellar_inventory`; the core's documentation says what each
//! shows. A pipeline author's names are in [`prelude`].

pub use fluxion_etl_core::*;
