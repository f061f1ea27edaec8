//! The KLK simulator (the API it serves is described in
//! the repository's `docs/sources/klk.md`): KLK's REST/JSON point-of-sale API over HTTP, with
//! deterministic data at production volume and fault injection.
//!
//! - Endpoints: `GET /maestra/almacenes/Reposicion[?sucursal=]`, `GET /maestra/almacenes/pisoventa`,
//!   `POST /maestra/articulos/almacen`, `POST /maestra/articulos/reposicion`, `POST /ventas`, with the
//!   vendor's shapes and quirks (one-element arrays, 7-digit `hora`, nulls, `"N/A"`, the misspelled
//!   `almacences_filtrados` holding a JSON string, the legacy bare-array inventory).
//! - Data: a pure function of the configuration (seed first) and (branch, date) — see [`sales_for_day`] and [`inventory_for`],
//!   which tests compare extracted rows against.
//! - `/ventas` window semantics (documented on [`SalesQuery`]): the dates are inclusive, the hours bound
//!   the span (first and last day), and `hora_hasta` is inclusive of its whole last minute or second,
//!   so a client asking for `12:00`–`12:20` also gets the lines of 12:20:xx and must filter exactly.
//! - Faults ([`FaultRule`]): from the config file, [`KlkSim::set_faults`], or the admin endpoint
//!   (`PUT`/`GET`/`DELETE /__admin/faults` with a JSON list of rules; `GET /__admin/stats` gives the
//!   request count).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use fluxion_etl_sim::klk::{Endpoint, Fault, FaultRule, KlkSim, KlkSimConfig};
//! let sim = KlkSim::start(KlkSimConfig::default(), "127.0.0.1:0".parse().unwrap()).await?;
//! sim.set_faults(vec![FaultRule::new(Fault::Status { code: 503 })
//!     .for_branch("SUC001")
//!     .on(Endpoint::Ventas)
//!     .times(1)]);
//! println!("POST {}/ventas", sim.base_url());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod config;
mod data;
mod faults;
mod json;
mod server;

pub use config::{
    default_stores, BranchKind, ClosedDay, KlkSimConfig, KlkSimError, SimBranch, SimWarehouse,
};
pub use data::{SimArticle, SimSale};
pub use faults::{Endpoint, Fault, FaultRule};
pub use server::{
    inventory_for, run_from_cli, sales_for_day, sales_for_request, KlkSim, SalesQuery,
    MAX_RANGE_DAYS,
};
