//! Stand-ins for the chain's infrastructure, for the demo, the tests and the benches:
//! - [`klk`]: the KLK point-of-sale API over HTTP, with deterministic data and fault injection;
//! - [`stellar`]: Stellar's SQL Server over TDS, queryable by real SQL Server clients;
//! - [`demo`]: the simulators wired to a configuration, for `fluxion demo`;
//! - [`postgres`]: a throwaway PostgreSQL server started from the system's binaries.
//!
//! Everything binds to loopback by default.

pub mod demo;
pub mod klk;
pub mod postgres;
pub mod stellar;
