//! Fluxion ETL: sales and inventory from a retail chain's point-of-sale systems (KLK over
//! REST/JSON, Stellar over SQL Server) into PostgreSQL or an embedded SQLite file, with every
//! execution tracked to the phase and cause of its failure.
//!
//! This crate is the facade: it re-exports [`fluxion_etl_core`], the library where everything
//! lives, the way `sqlx` re-exports `sqlx-core`. Depend on `fluxion-etl`.
//!
//! ```no_run
//! use fluxion_etl::{config::Config, model::DataKind, Fluxion, RunRequest};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let fluxion = Fluxion::from_config(Config::load("fluxion.toml".as_ref())?).await?;
//! let day = chrono::NaiveDate::from_ymd_opt(2025, 11, 17).unwrap();
//! let report = fluxion.run(RunRequest::days(DataKind::Sales, day, day)).await?;
//! println!("execution {}: {}", report.execution_id, report.status);
//! # Ok(()) }
//! ```

pub use fluxion_etl_core::*;
