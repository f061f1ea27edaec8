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

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::{SourceSystem, StoreId};

/// Environment variable that overrides `[destination] url`.
pub const DATABASE_URL_ENV: &str = "DATABASE_URL";
/// Environment variable that names the config file when `--config` is not given.
pub const CONFIG_ENV: &str = "FLUXION_CONFIG";
/// Environment variable that selects the Stellar host of each store (`local` or `production`).
pub const ENVIRONMENT_ENV: &str = "ETL_ENVIRONMENT";

/// A store id the configuration does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown store `{id}`; configured stores: {}", configured.join(", "))]
pub struct UnknownStore {
    /// The id asked for.
    pub id: String,
    /// The configured stores' ids, in the configuration's order.
    pub configured: Vec<String>,
}

/// An invalid configuration. Every variant names the key; parse and validation errors also
/// carry the line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key, or a value of the wrong type.
    #[error("{origin}:{line}:{column}: {key_hint}{message}")]
    Parse {
        /// The file (or `inline`).
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// `key `x`: ` when the key is known.
        key_hint: String,
        /// What is wrong.
        message: String,
    },
    /// A value is well-typed but not acceptable.
    #[error("{origin}:{line}: invalid value for `{key}`: {message}")]
    Invalid {
        /// The file (or `inline`).
        origin: String,
        /// 1-based line of the key (0 when it is not in the file, e.g. a missing table).
        line: usize,
        /// Dotted path of the key, e.g. `stores[2].source.port`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// No config file was given and none is needed by the command… except this one.
    #[error("no configuration: pass --config FILE or set {CONFIG_ENV}")]
    Missing,
}

impl ConfigError {
    /// The dotted key the error is about, when known.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            ConfigError::Parse { key_hint, .. } => key_hint
                .strip_prefix("key `")
                .and_then(|s| s.split('`').next()),
            _ => None,
        }
    }
}

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

/// `[destination]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationConfig {
    /// Database URL: `sqlite://path/to/file.db` (created if missing) or
    /// `postgres://user@host/db`. `DATABASE_URL` overrides it. Put no password here: use
    /// `PGPASSWORD` or a `.pgpass` file, or `DATABASE_URL` from a secret store.
    #[serde(default = "default_destination_url")]
    pub url: String,
    /// Append every inventory snapshot to `inventory_history` as well.
    #[serde(default = "default_true")]
    pub keep_inventory_history: bool,
    /// Days of execution history to keep (older executions are purged).
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
    /// Minutes after which an execution still marked `running` is taken for one whose process
    /// died (killed, host lost) and is closed as failed (`interrupted`) when Fluxion starts.
    /// Keep it longer than your longest run.
    #[serde(default = "default_stale_running_minutes")]
    pub stale_running_minutes: u32,
}

impl Default for DestinationConfig {
    fn default() -> Self {
        Self {
            url: default_destination_url(),
            keep_inventory_history: true,
            retention_days: default_retention_days(),
            stale_running_minutes: default_stale_running_minutes(),
        }
    }
}

fn default_destination_url() -> String {
    "sqlite://fluxion.db".to_owned()
}
fn default_true() -> bool {
    true
}
fn default_retention_days() -> u32 {
    90
}
fn default_stale_running_minutes() -> u32 {
    // Seed 001 reconciles executions left `en_proceso` for more than an hour.
    60
}

impl DestinationConfig {
    /// The age after which a `running` execution is reconciled at start-up.
    pub fn stale_running(&self) -> Duration {
        Duration::from_secs(u64::from(self.stale_running_minutes) * 60)
    }
}

/// `[batch]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Records per batch between extractor and loader.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Stores processed at once.
    #[serde(default = "default_max_workers")]
    pub max_workers: usize,
    /// Batches an extractor may run ahead of its loader.
    #[serde(default = "default_channel_capacity")]
    pub channel_capacity: usize,
    /// Seconds to establish a connection to a source.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// Seconds for one sales request or query (a store-day of KLK sales can take minutes).
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: u64,
    /// Seconds for one inventory request or query.
    #[serde(default = "default_inventory_timeout")]
    pub inventory_timeout_secs: u64,
    /// Retries of a transient request failure (timeouts, 5xx, resets) before the store fails.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Base delay between retries in milliseconds; it doubles each time, with jitter.
    #[serde(default = "default_retry_delay_ms")]
    pub retry_delay_ms: u64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            batch_size: default_batch_size(),
            max_workers: default_max_workers(),
            channel_capacity: default_channel_capacity(),
            connect_timeout_secs: default_connect_timeout(),
            request_timeout_secs: default_request_timeout(),
            inventory_timeout_secs: default_inventory_timeout(),
            retries: default_retries(),
            retry_delay_ms: default_retry_delay_ms(),
        }
    }
}

impl BatchConfig {
    /// Connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }
    /// Sales request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
    /// Inventory request timeout.
    pub fn inventory_timeout(&self) -> Duration {
        Duration::from_secs(self.inventory_timeout_secs)
    }
    /// Base retry delay.
    pub fn retry_delay(&self) -> Duration {
        Duration::from_millis(self.retry_delay_ms)
    }
}

fn default_batch_size() -> usize {
    5_000
}
fn default_max_workers() -> usize {
    4
}
fn default_channel_capacity() -> usize {
    2
}
fn default_connect_timeout() -> u64 {
    10
}
fn default_request_timeout() -> u64 {
    600
}
fn default_inventory_timeout() -> u64 {
    60
}
fn default_retries() -> u32 {
    3
}
fn default_retry_delay_ms() -> u64 {
    5_000
}

/// `[klk]`: the chain's KLK server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KlkConfig {
    /// Base URL, e.g. `http://192.168.20.5:7002`.
    pub base_url: String,
    /// Name of an auth header to send (for deployments behind a gateway); KLK itself needs none.
    #[serde(default)]
    pub auth_header: Option<String>,
    /// Environment variable holding the auth header's value.
    #[serde(default)]
    pub auth_env: Option<String>,
}

/// `[schedule]` (times are America/Caracas).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Whether the scheduler runs jobs.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Hour of the daily run (yesterday's sales).
    #[serde(default = "default_daily_hour")]
    pub execution_hour: u32,
    /// Minute of the daily run.
    #[serde(default)]
    pub execution_minute: u32,
    /// Retries of stores that failed the daily run with a retryable error.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Minutes between those retries.
    #[serde(default = "default_retry_interval")]
    pub retry_interval_minutes: u32,
    /// Minutes between incremental runs during opening hours.
    #[serde(default = "default_incremental_interval")]
    pub incremental_interval_minutes: u32,
    /// Minutes of overlap added before each incremental window.
    #[serde(default = "default_incremental_overlap")]
    pub incremental_overlap_minutes: u32,
    /// First hour of incremental runs.
    #[serde(default = "default_opening_hour")]
    pub opening_hour: u32,
    /// Hour after which incremental runs stop.
    #[serde(default = "default_closing_hour")]
    pub closing_hour: u32,
    /// Hour of the nightly recovery of the previous day.
    #[serde(default = "default_recovery_hour")]
    pub recovery_hour: u32,
    /// Gaps a full run recovers before its own work.
    #[serde(default = "default_max_gaps")]
    pub max_gaps_per_run: u32,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            execution_hour: default_daily_hour(),
            execution_minute: 0,
            max_retries: default_max_retries(),
            retry_interval_minutes: default_retry_interval(),
            incremental_interval_minutes: default_incremental_interval(),
            incremental_overlap_minutes: default_incremental_overlap(),
            opening_hour: default_opening_hour(),
            closing_hour: default_closing_hour(),
            recovery_hour: default_recovery_hour(),
            max_gaps_per_run: default_max_gaps(),
        }
    }
}

fn default_daily_hour() -> u32 {
    5
}
fn default_max_retries() -> u32 {
    3
}
fn default_retry_interval() -> u32 {
    20
}
fn default_incremental_interval() -> u32 {
    30
}
fn default_incremental_overlap() -> u32 {
    60
}
fn default_opening_hour() -> u32 {
    6
}
fn default_closing_hour() -> u32 {
    22
}
fn default_recovery_hour() -> u32 {
    3
}
fn default_max_gaps() -> u32 {
    5
}

/// Whether a location is a store or a distribution centre.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// A retail store.
    Store,
    /// A distribution centre (CEDI).
    Cedi,
}

/// `[[stores]]`: one location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Identifier, e.g. `tienda_01`.
    pub id: StoreId,
    /// Readable name.
    pub name: String,
    /// `store` or `cedi`.
    #[serde(default = "default_store_kind")]
    pub kind: StoreKind,
    /// Whether runs include it.
    #[serde(default = "default_true")]
    pub active: bool,
    /// Which system the location runs, and how to reach it.
    pub source: StoreSource,
    /// This store's calendar, over the chain's `[calendar]`: its own opening days and hours
    /// replace the chain's, its holidays and closures add to them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<CalendarConfig>,
}

fn default_store_kind() -> StoreKind {
    StoreKind::Store
}

impl StoreConfig {
    /// The location's system.
    pub fn system(&self) -> SourceSystem {
        match self.source {
            StoreSource::Klk(_) => SourceSystem::Klk,
            StoreSource::Stellar(_) => SourceSystem::Stellar,
        }
    }

    /// The warehouse or depot whose inventory and sales the store reports.
    pub fn warehouse(&self) -> &str {
        match &self.source {
            StoreSource::Klk(k) => &k.warehouse,
            StoreSource::Stellar(s) => &s.depot,
        }
    }
}

/// The system a location runs; `system = "klk" | "stellar"` selects the variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "system", rename_all = "snake_case", deny_unknown_fields)]
pub enum StoreSource {
    /// KLK: the chain's KLK server, this store's branch and sales-floor warehouse.
    Klk(KlkStore),
    /// Stellar: a SQL Server reached over the VPN.
    Stellar(StellarStore),
}

/// A KLK store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KlkStore {
    /// Branch code, e.g. `SUC001`.
    pub branch: String,
    /// Sales-floor warehouse, e.g. `APP-TPF`.
    pub warehouse: String,
}

/// A Stellar location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StellarStore {
    /// Host per environment; `ETL_ENVIRONMENT` (`local` by default) picks one.
    pub host: HostByEnvironment,
    /// TCP port (1433 or 14348 in the chain).
    #[serde(default = "default_stellar_port")]
    pub port: u16,
    /// Back-office database (stock, articles).
    #[serde(default = "default_stellar_database")]
    pub database: String,
    /// Point-of-sale database (sales lines).
    #[serde(default = "default_stellar_sales_database")]
    pub sales_database: String,
    /// Depot code, e.g. `1413`.
    pub depot: String,
    /// Environment variable holding the SQL login.
    #[serde(default = "default_stellar_user_env")]
    pub user_env: String,
    /// Environment variable holding the password.
    #[serde(default = "default_stellar_password_env")]
    pub password_env: String,
    /// Encryption of the connection: `"off"` (plaintext: only for the simulator or a trusted
    /// LAN), `"trust_server_certificate"` (TLS accepting the server's self-signed certificate,
    /// as production does; the default) or `"verify_certificate"` (TLS, the certificate checked
    /// against the system's trust store and the host name). Either one value for every
    /// environment, or one per environment like `host`:
    /// `encrypt = { local = "off", production = "trust_server_certificate" }`.
    #[serde(default)]
    pub encrypt: EncryptByEnvironment,
    /// Sales lines read per query: the window is read in chunks of this many lines, each
    /// starting after the last line of the previous one (keyset paging). Default 20,000.
    #[serde(default = "default_stellar_chunk_rows")]
    pub chunk_rows: u32,
    /// Open a fresh connection for every chunk rather than one for the whole window:
    /// production's habit over the VPN, which drops long-lived connections. Default true.
    #[serde(default = "default_true")]
    pub connection_per_chunk: bool,
}

fn default_stellar_chunk_rows() -> u32 {
    20_000
}

/// How a Stellar connection is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StellarEncryption {
    /// No TLS at all, not even for the login (TDS `ENCRYPT_NOT_SUP`): the simulator, or a
    /// server on a trusted network. Credentials travel in the clear.
    Off,
    /// TLS for the whole connection, accepting whatever certificate the server presents
    /// (the chain's servers use self-signed ones). Protects against eavesdropping, not against
    /// an active man in the middle.
    #[default]
    TrustServerCertificate,
    /// TLS for the whole connection, with the certificate validated against the system's trust
    /// store and the host name.
    VerifyCertificate,
}

/// A [`StellarEncryption`] for every environment, or one per environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct EncryptByEnvironment {
    /// Direct network (`ETL_ENVIRONMENT=local`).
    pub local: StellarEncryption,
    /// Through the VPN (`ETL_ENVIRONMENT=production`).
    pub production: StellarEncryption,
}

impl EncryptByEnvironment {
    /// The same setting in every environment.
    pub fn all(setting: StellarEncryption) -> Self {
        Self {
            local: setting,
            production: setting,
        }
    }

    /// The setting for an environment.
    pub fn for_env(&self, env: Environment) -> StellarEncryption {
        match env {
            Environment::Local => self.local,
            Environment::Production => self.production,
        }
    }
}

impl<'de> Deserialize<'de> for EncryptByEnvironment {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// The table form; a missing environment keeps the default.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct PerEnvironment {
            #[serde(default)]
            local: StellarEncryption,
            #[serde(default)]
            production: StellarEncryption,
        }
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = EncryptByEnvironment;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "\"off\", \"trust_server_certificate\", \"verify_certificate\" or a table \
                     { local = …, production = … }",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                StellarEncryption::deserialize(serde::de::value::StrDeserializer::new(v))
                    .map(EncryptByEnvironment::all)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                let p =
                    PerEnvironment::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(EncryptByEnvironment {
                    local: p.local,
                    production: p.production,
                })
            }
        }
        d.deserialize_any(Visitor)
    }
}

fn default_stellar_port() -> u16 {
    1433
}
fn default_stellar_database() -> String {
    "VAD10".to_owned()
}
fn default_stellar_sales_database() -> String {
    "VAD20".to_owned()
}
fn default_stellar_user_env() -> String {
    "STELLAR_USER".to_owned()
}
fn default_stellar_password_env() -> String {
    "STELLAR_PASSWORD".to_owned()
}

/// A host that differs between the direct network and the production VPN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostByEnvironment {
    /// Direct address (development, on the chain's LAN).
    pub local: String,
    /// Address through the WireGuard VPN (production).
    pub production: Option<String>,
}

/// Which network the process runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    /// Direct addresses.
    Local,
    /// VPN addresses.
    Production,
}

impl Environment {
    /// Reads `ETL_ENVIRONMENT`; unset means `local`.
    pub fn from_env() -> Result<Self, ConfigError> {
        match std::env::var(ENVIRONMENT_ENV).ok().as_deref() {
            None | Some("") | Some("local") => Ok(Environment::Local),
            Some("production") => Ok(Environment::Production),
            Some(other) => Err(ConfigError::Invalid {
                origin: "environment".into(),
                line: 0,
                key: ENVIRONMENT_ENV.into(),
                message: format!("expected `local` or `production`, found `{other}`"),
            }),
        }
    }
}

impl HostByEnvironment {
    /// The host for an environment (production falls back to local when not set).
    pub fn for_env(&self, env: Environment) -> &str {
        match env {
            Environment::Local => &self.local,
            Environment::Production => self.production.as_deref().unwrap_or(&self.local),
        }
    }
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

    fn validate_in(&self, text: &str, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key: String, message: String| ConfigError::Invalid {
            origin: origin.to_owned(),
            line: line_of_key(text, &key),
            key,
            message,
        };
        let url = &self.destination.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "destination.url".into(),
                format!("expected a `sqlite:` or `postgres://` URL, found `{url}`"),
            ));
        }
        if self.destination.retention_days == 0 {
            return Err(invalid(
                "destination.retention_days".into(),
                "must be greater than 0 (0 would delete the whole history)".into(),
            ));
        }
        let b = &self.batch;
        let positive = [
            ("batch.batch_size", b.batch_size as u64),
            ("batch.max_workers", b.max_workers as u64),
            ("batch.channel_capacity", b.channel_capacity as u64),
            ("batch.connect_timeout_secs", b.connect_timeout_secs),
            ("batch.request_timeout_secs", b.request_timeout_secs),
            ("batch.inventory_timeout_secs", b.inventory_timeout_secs),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(invalid(key.into(), "must be greater than 0".into()));
            }
        }
        if b.batch_size > 1_000_000 {
            return Err(invalid(
                "batch.batch_size".into(),
                "must be at most 1000000".into(),
            ));
        }
        if let Some(klk) = &self.klk {
            if !(klk.base_url.starts_with("http://") || klk.base_url.starts_with("https://")) {
                return Err(invalid(
                    "klk.base_url".into(),
                    format!(
                        "expected an http:// or https:// URL, found `{}`",
                        klk.base_url
                    ),
                ));
            }
            if klk.auth_header.is_some() != klk.auth_env.is_some() {
                return Err(invalid(
                    "klk.auth_env".into(),
                    "`auth_header` and `auth_env` go together".into(),
                ));
            }
        }
        let s = &self.schedule;
        let hours = [
            ("schedule.execution_hour", s.execution_hour),
            ("schedule.opening_hour", s.opening_hour),
            ("schedule.recovery_hour", s.recovery_hour),
        ];
        for (key, h) in hours {
            if h > 23 {
                return Err(invalid(key.into(), format!("hour {h} is not in 0..=23")));
            }
        }
        if s.closing_hour > 24 || s.closing_hour <= s.opening_hour {
            return Err(invalid(
                "schedule.closing_hour".into(),
                format!(
                    "must be after opening_hour ({}) and at most 24",
                    s.opening_hour
                ),
            ));
        }
        if s.execution_minute > 59 {
            return Err(invalid(
                "schedule.execution_minute".into(),
                format!("minute {} is not in 0..=59", s.execution_minute),
            ));
        }
        if s.retry_interval_minutes == 0 || s.incremental_interval_minutes == 0 {
            let key = if s.retry_interval_minutes == 0 {
                "schedule.retry_interval_minutes"
            } else {
                "schedule.incremental_interval_minutes"
            };
            return Err(invalid(key.into(), "must be greater than 0".into()));
        }
        if s.max_retries > 20 {
            return Err(invalid(
                "schedule.max_retries".into(),
                "must be at most 20".into(),
            ));
        }

        let mut seen = std::collections::HashSet::new();
        for (i, store) in self.stores.iter().enumerate() {
            let key = |field: &str| format!("stores[{i}].{field}");
            let id = store.id.as_str();
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(invalid(
                    key("id"),
                    format!("`{id}` must be non-empty letters, digits, `_` or `-`"),
                ));
            }
            if !seen.insert(id) {
                return Err(invalid(key("id"), format!("duplicate store id `{id}`")));
            }
            match &store.source {
                StoreSource::Klk(k) => {
                    if self.klk.is_none() {
                        return Err(invalid(
                            "klk".into(),
                            format!("store `{id}` runs KLK but there is no [klk] section with its base_url"),
                        ));
                    }
                    if k.branch.trim().is_empty() {
                        return Err(invalid(key("source.branch"), "must not be empty".into()));
                    }
                    if k.warehouse.trim().is_empty() {
                        return Err(invalid(key("source.warehouse"), "must not be empty".into()));
                    }
                }
                StoreSource::Stellar(st) => {
                    if st.port == 0 {
                        return Err(invalid(key("source.port"), "must not be 0".into()));
                    }
                    if st.depot.trim().is_empty() {
                        return Err(invalid(key("source.depot"), "must not be empty".into()));
                    }
                    if st.chunk_rows == 0 {
                        return Err(invalid(
                            key("source.chunk_rows"),
                            "must be greater than 0".into(),
                        ));
                    }
                    if st.host.local.trim().is_empty() {
                        return Err(invalid(
                            key("source.host.local"),
                            "must not be empty".into(),
                        ));
                    }
                    for (field, env) in [
                        ("user_env", &st.user_env),
                        ("password_env", &st.password_env),
                    ] {
                        if !is_env_name(env) {
                            return Err(invalid(
                                key(&format!("source.{field}")),
                                format!("`{env}` is not an environment variable name (secrets go in the environment, not in this file)"),
                            ));
                        }
                    }
                }
            }
        }
        self.validate_gaps_and_calendars(&invalid)?;
        Ok(())
    }
}

fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

fn parse_error(text: &str, origin: &str, e: &toml::de::Error) -> ConfigError {
    let (line, column) = e
        .span()
        .map(|span| line_col(text, span.start))
        .unwrap_or((0, 0));
    let message = e.message().trim().to_owned();
    // The key is either quoted in the message (unknown or missing field) or the one written
    // on the offending line.
    let key = quoted_after(&message, "field `")
        .or_else(|| {
            text.lines()
                .nth(line.saturating_sub(1))
                .and_then(|l| l.split_once('='))
                .map(|(k, _)| k.trim().to_owned())
        })
        .filter(|k| !k.is_empty());
    ConfigError::Parse {
        origin: origin.to_owned(),
        line,
        column,
        key_hint: key.map(|k| format!("key `{k}`: ")).unwrap_or_default(),
        message,
    }
}

fn quoted_after(message: &str, marker: &str) -> Option<String> {
    let start = message.find(marker)? + marker.len();
    let end = message[start..].find('`')?;
    Some(message[start..start + end].to_owned())
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// Finds the line of a dotted key such as `stores[2].source.port` by walking the document's
/// spans; 0 when the key is not written in the file.
fn line_of_key(text: &str, key: &str) -> usize {
    let Ok(doc) = text.parse::<toml_edit::ImDocument<String>>() else {
        return 0;
    };
    let mut item: &toml_edit::Item = doc.as_item();
    let mut best = 0;
    for part in key.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let Some(next) = item.get(name) else {
            break;
        };
        item = next;
        if let Some(i) = index {
            match item.get(i) {
                Some(elem) => item = elem,
                None => break,
            }
        }
        let span = match item {
            toml_edit::Item::Value(v) => v.span(),
            toml_edit::Item::Table(t) => t.span(),
            toml_edit::Item::ArrayOfTables(a) => a.span(),
            toml_edit::Item::None => None,
        };
        if let Some(span) = span {
            best = line_col(text, span.start).0;
        }
        // A key's own line: look the key up in its parent table for a tighter span.
    }
    best
}

/// `[gaps]`: what counts as a gap and how late is late.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GapsConfig {
    /// Hours back within which a failed store window counts as a gap to recover (seed 001:
    /// 168, a week). Older failures are left to `fluxion recover --behavior missing`.
    #[serde(default = "default_failed_within_hours")]
    pub failed_within_hours: u32,
    /// First day whose data is expected: completeness and missing days count from here (a
    /// store's later `opened_on` wins). Unset: from each store's first day with data.
    #[serde(default, with = "toml_date::option")]
    pub coverage_start: Option<chrono::NaiveDate>,
    /// Open days behind (missing from the day after the last one with data through yesterday)
    /// from which a store is `behind`.
    #[serde(default = "default_behind_days")]
    pub behind_days: u32,
    /// Open days behind from which a store is `critical`.
    #[serde(default = "default_critical_days")]
    pub critical_days: u32,
    /// Hours back within which opening hours with no sales are reported.
    #[serde(default = "default_empty_hours_lookback")]
    pub empty_hours_lookback: u32,
    /// At most this many days per recovery execution when missing days are recovered (a long
    /// missing range becomes several executions, newest first).
    #[serde(default = "default_recovery_chunk_days")]
    pub recovery_chunk_days: u32,
}

impl Default for GapsConfig {
    fn default() -> Self {
        Self {
            failed_within_hours: default_failed_within_hours(),
            coverage_start: None,
            behind_days: default_behind_days(),
            critical_days: default_critical_days(),
            empty_hours_lookback: default_empty_hours_lookback(),
            recovery_chunk_days: default_recovery_chunk_days(),
        }
    }
}

fn default_failed_within_hours() -> u32 {
    168
}
fn default_behind_days() -> u32 {
    1
}
fn default_critical_days() -> u32 {
    7
}
fn default_empty_hours_lookback() -> u32 {
    24
}
fn default_recovery_chunk_days() -> u32 {
    7
}

/// A day of the week in a store calendar: `mon` … `sun` (or the full English name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Weekday {
    #[serde(alias = "monday")]
    Mon,
    #[serde(alias = "tuesday")]
    Tue,
    #[serde(alias = "wednesday")]
    Wed,
    #[serde(alias = "thursday")]
    Thu,
    #[serde(alias = "friday")]
    Fri,
    #[serde(alias = "saturday")]
    Sat,
    #[serde(alias = "sunday")]
    Sun,
}

impl Weekday {
    /// Every day, Monday first.
    pub const ALL: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    /// The day of a date.
    pub fn of(date: chrono::NaiveDate) -> Self {
        use chrono::Datelike;
        Self::ALL[date.weekday().num_days_from_monday() as usize]
    }
}

/// `[calendar]` (the chain) and `[stores.calendar]` (one store): when a store is open, so that
/// closed days and hours are expected to be empty rather than reported as gaps.
///
/// ```toml
/// [calendar]
/// open_days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
/// opening_hour = 6
/// closing_hour = 22
/// hours = [{ days = ["sun"], opening_hour = 8, closing_hour = 14 }]
/// holidays = ["2025-12-25", "2026-01-01"]
/// closures = [{ from = "2025-08-04", to = "2025-08-10", reason = "inventario anual" }]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    /// Days of the week the store opens. Unset: every day (or the chain's, for a store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_days: Option<Vec<Weekday>>,
    /// Store-local hour it opens (0–23). Unset: `[schedule] opening_hour` (or the chain's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opening_hour: Option<u32>,
    /// Store-local hour it closes (1–24, after `opening_hour`). Unset: `[schedule]
    /// closing_hour` (or the chain's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closing_hour: Option<u32>,
    /// Other hours on some days of the week.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hours: Vec<DayHours>,
    /// Whole days closed (holidays), `"YYYY-MM-DD"`.
    #[serde(
        default,
        with = "toml_date::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub holidays: Vec<chrono::NaiveDate>,
    /// Closed periods (works, inventory counts), both ends included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub closures: Vec<Closure>,
    /// The store's opening date: nothing is expected before it (store calendars only).
    #[serde(
        default,
        with = "toml_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub opened_on: Option<chrono::NaiveDate>,
}

/// Opening hours on some days of the week.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DayHours {
    /// The days these hours apply to.
    pub days: Vec<Weekday>,
    /// Store-local hour it opens (0–23).
    pub opening_hour: u32,
    /// Store-local hour it closes (1–24).
    pub closing_hour: u32,
}

/// A closed period, `from` through `to` (both included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Closure {
    /// First closed day.
    #[serde(with = "toml_date")]
    pub from: chrono::NaiveDate,
    /// Last closed day.
    #[serde(with = "toml_date")]
    pub to: chrono::NaiveDate,
    /// Why (shown to operators).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Dates written either as TOML dates (`2025-12-25`) or as strings (`"2025-12-25"`).
mod toml_date {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, Serializer};

    fn parse<E: serde::de::Error>(value: toml::Value) -> Result<NaiveDate, E> {
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Datetime(dt) if dt.time.is_none() && dt.offset.is_none() => dt.to_string(),
            other => {
                return Err(E::custom(format!(
                    "expected a date such as \"2025-12-25\", found `{other}`"
                )))
            }
        };
        NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|e| {
            E::custom(format!(
                "expected a date such as \"2025-12-25\", found `{text}`: {e}"
            ))
        })
    }

    pub fn serialize<S: Serializer>(d: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&d.format("%Y-%m-%d"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        parse(toml::Value::deserialize(d)?)
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(d: &Option<NaiveDate>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
            super::parse(toml::Value::deserialize(d)?).map(Some)
        }
    }

    pub mod vec {
        use super::*;
        use serde::ser::SerializeSeq;

        pub fn serialize<S: Serializer>(v: &[NaiveDate], s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(v.len()))?;
            for d in v {
                seq.serialize_element(&d.format("%Y-%m-%d").to_string())?;
            }
            seq.end()
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<NaiveDate>, D::Error> {
            Vec::<toml::Value>::deserialize(d)?
                .into_iter()
                .map(super::parse)
                .collect()
        }
    }
}

impl Config {
    fn validate_gaps_and_calendars(
        &self,
        invalid: &impl Fn(String, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        let g = &self.gaps;
        for (key, value) in [
            ("gaps.failed_within_hours", g.failed_within_hours),
            ("gaps.behind_days", g.behind_days),
            ("gaps.empty_hours_lookback", g.empty_hours_lookback),
            ("gaps.recovery_chunk_days", g.recovery_chunk_days),
        ] {
            if value == 0 {
                return Err(invalid(key.into(), "must be greater than 0".into()));
            }
        }
        if g.critical_days < g.behind_days {
            return Err(invalid(
                "gaps.critical_days".into(),
                format!("must be at least behind_days ({})", g.behind_days),
            ));
        }
        validate_calendar(&self.calendar, "calendar", invalid)?;
        if self.calendar.opened_on.is_some() {
            return Err(invalid(
                "calendar.opened_on".into(),
                "an opening date belongs to one store: put it in [stores.calendar]".into(),
            ));
        }
        for (i, store) in self.stores.iter().enumerate() {
            if let Some(c) = &store.calendar {
                validate_calendar(c, &format!("stores[{i}].calendar"), invalid)?;
            }
            // The hours a store ends up with: its own, else the chain's, else the schedule's.
            let own = store.calendar.as_ref();
            let pick = |f: fn(&CalendarConfig) -> Option<u32>| {
                own.and_then(f).or_else(|| f(&self.calendar))
            };
            let opening = pick(|c| c.opening_hour).unwrap_or(self.schedule.opening_hour);
            let closing = pick(|c| c.closing_hour).unwrap_or(self.schedule.closing_hour);
            if closing <= opening {
                let key = if own.is_some_and(|c| c.closing_hour.is_some()) {
                    format!("stores[{i}].calendar.closing_hour")
                } else {
                    format!("stores[{i}].calendar.opening_hour")
                };
                return Err(invalid(
                    key,
                    format!(
                        "store `{}` would close (at {closing}) before it opens (at {opening})",
                        store.id
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn validate_calendar(
    c: &CalendarConfig,
    prefix: &str,
    invalid: &impl Fn(String, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let key = |field: &str| format!("{prefix}.{field}");
    if c.open_days.as_ref().is_some_and(Vec::is_empty) {
        return Err(invalid(
            key("open_days"),
            "must name at least one day (make the store inactive instead)".into(),
        ));
    }
    let check = |opening: Option<u32>, closing: Option<u32>, k: &str| {
        if let Some(h) = opening.filter(|h| *h > 23) {
            return Err(invalid(
                key(&format!("{k}opening_hour")),
                format!("hour {h} is not in 0..=23"),
            ));
        }
        if let Some(h) = closing {
            if h == 0 || h > 24 || opening.is_some_and(|o| h <= o) {
                return Err(invalid(
                    key(&format!("{k}closing_hour")),
                    format!("hour {h} must be in 1..=24 and after opening_hour"),
                ));
            }
        }
        Ok(())
    };
    check(c.opening_hour, c.closing_hour, "")?;
    for (i, h) in c.hours.iter().enumerate() {
        if h.days.is_empty() {
            return Err(invalid(
                key(&format!("hours[{i}].days")),
                "must name at least one day".into(),
            ));
        }
        check(
            Some(h.opening_hour),
            Some(h.closing_hour),
            &format!("hours[{i}]."),
        )?;
    }
    for (i, closure) in c.closures.iter().enumerate() {
        if closure.to < closure.from {
            return Err(invalid(
                key(&format!("closures[{i}].to")),
                format!("{} is before from ({})", closure.to, closure.from),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[destination]
url = "sqlite://fluxion.db"

[batch]
batch_size = 1000
max_workers = 2

[klk]
base_url = "http://127.0.0.1:7002"

[schedule]
execution_hour = 5

[[stores]]
id = "tienda_01"
name = "PERIFERICO"
[stores.source]
system = "klk"
branch = "SUC001"
warehouse = "APP-TPF"

[[stores]]
id = "cedi_seco"
name = "CEDI Seco"
kind = "cedi"
[stores.source]
system = "stellar"
host = { local = "127.0.0.1", production = "192.168.20.12" }
port = 14330
depot = "1413"
"#;

    #[test]
    fn parses_inline_document() {
        let c = Config::from_toml_str(GOOD, "inline").unwrap();
        assert_eq!(c.stores.len(), 2);
        assert_eq!(c.batch.batch_size, 1000);
        assert_eq!(c.stores[1].kind, StoreKind::Cedi);
        assert_eq!(c.stores[1].system(), SourceSystem::Stellar);
        let StoreSource::Stellar(s) = &c.stores[1].source else {
            panic!("stellar")
        };
        assert_eq!(s.host.for_env(Environment::Production), "192.168.20.12");
        assert_eq!(s.host.for_env(Environment::Local), "127.0.0.1");
        assert_eq!(s.database, "VAD10");
        assert_eq!(s.password_env, "STELLAR_PASSWORD");
        assert_eq!(c.stores[0].warehouse(), "APP-TPF");
    }

    #[test]
    fn empty_document_is_valid() {
        let c = Config::from_toml_str("", "inline").unwrap();
        assert!(c.stores.is_empty());
        assert_eq!(c.schedule.max_gaps_per_run, 5);
        assert_eq!(Config::empty(), c);
    }

    fn err(doc: &str) -> ConfigError {
        Config::from_toml_str(doc, "fluxion.toml").unwrap_err()
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let doc = GOOD.replace("max_workers = 2", "max_workers = 2\nmax_wrokers = 3");
        let e = err(&doc);
        let msg = e.to_string();
        assert!(msg.contains("max_wrokers"), "{msg}");
        assert!(msg.starts_with("fluxion.toml:8:"), "{msg}");
        assert_eq!(e.key(), Some("max_wrokers"));
    }

    #[test]
    fn wrong_type_names_the_key() {
        let doc = GOOD.replace("batch_size = 1000", "batch_size = \"lots\"");
        let e = err(&doc);
        assert_eq!(e.key(), Some("batch_size"), "{e}");
        assert!(e.to_string().starts_with("fluxion.toml:6:"), "{e}");
    }

    #[test]
    fn zero_retention_is_refused() {
        let e = err("[destination]\nurl = \"sqlite://x.db\"\nretention_days = 0\n");
        assert_eq!(e.key(), Some("destination.retention_days"), "{e}");
        assert!(e.to_string().starts_with("fluxion.toml:3:"), "{e}");
    }

    #[test]
    fn unknown_store_field_is_named() {
        let doc = GOOD.replace(
            "branch = \"SUC001\"",
            "branch = \"SUC001\"\nbranchh = \"x\"",
        );
        let e = err(&doc);
        assert!(e.to_string().contains("branchh"), "{e}");
    }

    #[test]
    fn unknown_system_is_named() {
        let doc = GOOD.replace("system = \"klk\"", "system = \"sap\"");
        let e = err(&doc);
        assert!(e.to_string().contains("sap"), "{e}");
    }

    #[test]
    fn missing_required_key_is_named() {
        let doc = GOOD.replace("warehouse = \"APP-TPF\"\n", "");
        let e = err(&doc);
        assert_eq!(e.key(), Some("warehouse"), "{e}");
    }

    #[test]
    fn invalid_values_name_key_and_line() {
        let cases = [
            ("batch_size = 1000", "batch_size = 0", "batch.batch_size", 6),
            (
                "execution_hour = 5",
                "execution_hour = 25",
                "schedule.execution_hour",
                13,
            ),
            ("port = 14330", "port = 0", "stores[1].source.port", 30),
            (
                "url = \"sqlite://fluxion.db\"",
                "url = \"mysql://x\"",
                "destination.url",
                3,
            ),
            (
                "base_url = \"http://127.0.0.1:7002\"",
                "base_url = \"127.0.0.1:7002\"",
                "klk.base_url",
                10,
            ),
        ];
        for (from, to, key, line) in cases {
            let e = err(&GOOD.replace(from, to));
            assert_eq!(e.key(), Some(key), "{e}");
            match &e {
                ConfigError::Invalid { line: l, .. } => assert_eq!(*l, line, "{e}"),
                other => panic!("{other}"),
            }
        }
    }

    #[test]
    fn duplicate_store_is_rejected() {
        let doc = GOOD.replace("id = \"cedi_seco\"", "id = \"tienda_01\"");
        let e = err(&doc);
        assert_eq!(e.key(), Some("stores[1].id"), "{e}");
        assert!(e.to_string().contains("duplicate"));
    }

    #[test]
    fn secrets_must_be_env_names() {
        let doc = GOOD.replace(
            "depot = \"1413\"",
            "depot = \"1413\"\npassword_env = \"hunter2\"",
        );
        let e = err(&doc);
        assert_eq!(e.key(), Some("stores[1].source.password_env"), "{e}");
    }

    #[test]
    fn klk_store_needs_klk_section() {
        let doc = GOOD.replace("[klk]\nbase_url = \"http://127.0.0.1:7002\"", "");
        let e = err(&doc);
        assert_eq!(e.key(), Some("klk"), "{e}");
    }
}
