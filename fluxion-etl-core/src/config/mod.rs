//! `fluxion.toml`: the destination, the stores, the sources, batching and the schedule.
//!
//! Every struct denies unknown keys, so a typo is an error that names the key and its line,
//! never a silently ignored field. Secrets are never in the file: fields ending in `_env` name
//! the environment variable that holds them.
//!
//! ```
//! use fluxion_etl_core::config::Config;
//!
//! let config = Config::from_toml_str(r#"
//!     [destination]
//!     url = "sqlite://fluxion.db"
//!
//!     [klk]
//!     base_url = "http://127.0.0.1:7002"
//!
//!     [[stores]]
//!     id = "tienda_01"
//!     name = "PERIFERICO"
//!     [stores.source]
//!     system = "klk"
//!     branch = "SUC001"
//!     warehouse = "APP-TPF"
//! "#, "inline").unwrap();
//! assert_eq!(config.stores[0].id.as_str(), "tienda_01");
//! assert_eq!(config.batch.batch_size, 5_000);
//! ```
//!
//! One module per section of the file — `destination`, `batch`, `klk`, `schedule`, `stores`
//! (with `stellar`, a Stellar location's settings), `gaps`, `calendar` — each with its defaults;
//! `validate` holds the checks beyond types, `error` the [`ConfigError`] and how it finds the key
//! and line it names. Every type is re-exported here.

mod batch;
mod calendar;
mod destination;
mod error;
mod gaps;
mod klk;
#[cfg(test)]
mod props;
mod schedule;
mod stellar;
mod stores;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;
mod toml_date;
mod validate;

use std::path::Path;

use serde::{Deserialize, Serialize};

use error::parse_error;

pub use batch::BatchConfig;
pub use calendar::{CalendarConfig, Closure, DayHours, Weekday};
pub use destination::DestinationConfig;
pub use error::{ConfigError, UnknownStore};
pub use gaps::GapsConfig;
pub use klk::KlkConfig;
pub use schedule::ScheduleConfig;
pub use stellar::{
    EncryptByEnvironment, Environment, HostByEnvironment, StellarEncryption, StellarStore,
};
pub use stores::{KlkStore, StoreConfig, StoreKind, StoreSource};

/// Environment variable that overrides `[destination] url`.
pub const DATABASE_URL_ENV: &str = "DATABASE_URL";
/// Environment variable that names the config file when `--config` is not given.
pub const CONFIG_ENV: &str = "FLUXION_CONFIG";
/// Environment variable that selects the Stellar host of each store (`local` or `production`).
pub const ENVIRONMENT_ENV: &str = "ETL_ENVIRONMENT";

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where data and execution history go.
    #[serde(default)]
    pub destination: DestinationConfig,
    /// Batching, concurrency, timeouts and retries.
    #[serde(default)]
    pub batch: BatchConfig,
    /// The chain's KLK server (one per chain).
    #[serde(default)]
    pub klk: Option<KlkConfig>,
    /// When the scheduler runs what.
    #[serde(default)]
    pub schedule: ScheduleConfig,
    /// What counts as a gap and how late is late (`fluxion gaps`, recovery).
    #[serde(default)]
    pub gaps: GapsConfig,
    /// The chain's store calendar: opening days and hours, holidays, closures. A store's own
    /// `[stores.calendar]` refines it.
    #[serde(default)]
    pub calendar: CalendarConfig,
    /// The chain's stores and distribution centres.
    #[serde(default)]
    pub stores: Vec<StoreConfig>,
}

impl Config {
    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// Parses and validates a document; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| parse_error(text, origin, &e))?;
        config.validate_in(text, origin)?;
        Ok(config)
    }

    /// A configuration with no stores and the default destination; for read-only commands that
    /// only need `DATABASE_URL`.
    pub fn empty() -> Self {
        toml::from_str("").unwrap_or_else(|_| Config {
            destination: DestinationConfig::default(),
            batch: BatchConfig::default(),
            klk: None,
            schedule: ScheduleConfig::default(),
            gaps: GapsConfig::default(),
            calendar: CalendarConfig::default(),
            stores: Vec::new(),
        })
    }

    /// The destination URL after the `DATABASE_URL` override.
    pub fn destination_url(&self) -> String {
        std::env::var(DATABASE_URL_ENV)
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| self.destination.url.clone())
    }

    /// A store by id.
    pub fn store(&self, id: &str) -> Option<&StoreConfig> {
        self.stores.iter().find(|s| s.id.as_str() == id)
    }

    /// The stores `ids` name, in that order; an unknown id is an [`UnknownStore`] that lists the
    /// configured ones (the library's `Error::InvalidRequest` when it crosses the boundary).
    pub fn stores_named<S: AsRef<str>>(
        &self,
        ids: &[S],
    ) -> Result<Vec<&StoreConfig>, UnknownStore> {
        ids.iter()
            .map(|id| {
                let id = id.as_ref();
                self.store(id).ok_or_else(|| UnknownStore {
                    id: id.to_owned(),
                    configured: self
                        .stores
                        .iter()
                        .map(|s| s.id.as_str().to_owned())
                        .collect(),
                })
            })
            .collect()
    }

    /// Active stores.
    pub fn active_stores(&self) -> impl Iterator<Item = &StoreConfig> {
        self.stores.iter().filter(|s| s.active)
    }
}

/// The serde default of the flags that are on unless the file turns them off.
fn default_true() -> bool {
    true
}
