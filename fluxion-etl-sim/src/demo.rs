//! The demo: the KLK simulator in-process on a free loopback port, and a Fluxion configuration
//! that points the chain's KLK stores at it and loads into an embedded SQLite file.
//!
//! `fluxion demo` and `fluxion-server --demo` both start from here, so what a new user sees on
//! the command line and in the server is the same fleet and the same data.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use fluxion_etl_sim::demo::{Demo, DemoOptions};
//!
//! let demo = Demo::start(DemoOptions::new("fluxion-demo.db")).await?;
//! let fluxion = fluxion_etl_core::Fluxion::from_config(demo.config().clone()).await?;
//! # drop(fluxion); demo.shutdown().await; Ok(()) }
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use fluxion_etl_core::config::{
    BatchConfig, Config, DestinationConfig, KlkConfig, KlkStore, ScheduleConfig, StoreConfig,
    StoreKind, StoreSource,
};
use fluxion_etl_core::model::StoreId;

use crate::klk::{BranchKind, KlkSim, KlkSimConfig};

/// How to set the demo up.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The SQLite file data and history go to (created if missing).
    pub db: PathBuf,
    /// Only these stores (ids such as `tienda_01`); `None` for the chain's whole KLK fleet.
    pub stores: Option<Vec<String>>,
    /// The simulator's configuration (data volume, faults).
    pub klk: KlkSimConfig,
    /// Where the simulator listens (a free loopback port by default).
    pub bind: SocketAddr,
}

impl DemoOptions {
    /// The whole fleet, default data, into `db`.
    pub fn new(db: impl Into<PathBuf>) -> Self {
        Self {
            db: db.into(),
            stores: None,
            klk: KlkSimConfig::default(),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The simulator could not listen.
    #[error("cannot start the KLK simulator on {addr}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A requested store is not in the chain.
    #[error("unknown demo store `{store}`; the chain's KLK stores are: {known}")]
    UnknownStore {
        /// What was asked for.
        store: String,
        /// What exists.
        known: String,
    },
}

/// The running demo: the simulator and the configuration that uses it.
#[derive(Debug)]
pub struct Demo {
    klk: KlkSim,
    config: Config,
}

impl Demo {
    /// Starts the simulator and builds the configuration.
    pub async fn start(options: DemoOptions) -> Result<Demo, DemoError> {
        let stores = fleet(&options.klk, options.stores.as_deref())?;
        let klk = KlkSim::start(options.klk, options.bind)
            .await
            .map_err(|source| DemoError::Listen {
                addr: options.bind,
                source,
            })?;
        let config = Config {
            destination: DestinationConfig {
                url: format!("sqlite://{}", options.db.display()),
                ..DestinationConfig::default()
            },
            batch: BatchConfig {
                // The simulator is local: fail fast instead of waiting out production's timeouts.
                request_timeout_secs: 120,
                retry_delay_ms: 200,
                ..BatchConfig::default()
            },
            klk: Some(KlkConfig {
                base_url: klk.base_url(),
                auth_header: None,
                auth_env: None,
            }),
            schedule: ScheduleConfig::default(),
            gaps: Default::default(),
            calendar: Default::default(),
            stores,
        };
        Ok(Demo { klk, config })
    }

    /// The configuration: the demo stores on the simulator, the SQLite destination.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The simulator (to inject faults, count requests).
    pub fn klk(&self) -> &KlkSim {
        &self.klk
    }

    /// Stops the simulator.
    pub async fn shutdown(self) {
        self.klk.shutdown().await;
    }
}

/// The KLK stores of the simulated chain as Fluxion store configurations.
fn fleet(sim: &KlkSimConfig, only: Option<&[String]>) -> Result<Vec<StoreConfig>, DemoError> {
    let all: Vec<StoreConfig> = sim
        .stores
        .iter()
        .filter(|b| b.kind == BranchKind::Store)
        .map(|b| StoreConfig {
            id: StoreId::new(&b.store_id),
            name: b.name.clone(),
            kind: StoreKind::Store,
            active: true,
            source: StoreSource::Klk(KlkStore {
                branch: b.branch.clone(),
                warehouse: b.warehouse.clone(),
            }),
            calendar: None,
        })
        .collect();
    let Some(only) = only else {
        return Ok(all);
    };
    only.iter()
        .map(|id| {
            all.iter()
                .find(|s| s.id.as_str() == id)
                .cloned()
                .ok_or_else(|| DemoError::UnknownStore {
                    store: id.clone(),
                    known: all
                        .iter()
                        .map(|s| s.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fleet_is_the_chains_nineteen_klk_stores() {
        let stores = fleet(&KlkSimConfig::default(), None).unwrap();
        assert_eq!(stores.len(), 19);
        assert!(stores.iter().all(|s| s.id.as_str().starts_with("tienda_")));
        assert!(!stores.iter().any(|s| s.id.as_str() == "tienda_14"));
        let one = fleet(&KlkSimConfig::default(), Some(&["tienda_08".into()])).unwrap();
        assert_eq!(one[0].warehouse(), "APP-TBQ");
        let err = fleet(&KlkSimConfig::default(), Some(&["tienda_99".into()])).unwrap_err();
        assert!(err.to_string().contains("tienda_99"));
    }
}
