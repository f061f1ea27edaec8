//! A Stellar location's settings (`system = "stellar"`): its host and encryption per
//! [`Environment`], databases, depot, credentials' variables and paging.

use serde::{Deserialize, Serialize};

use super::{default_true, ConfigError, ENVIRONMENT_ENV};

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
