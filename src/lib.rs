//! x
pub use fluxion_etl_core::*;
