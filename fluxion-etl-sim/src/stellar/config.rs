//! Configuration of the Stellar simulator: credentials, depots, data volume and faults.

use std::path::Path;
use std::time::Duration;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// What the simulator serves and how it misbehaves. Every field has a default, so an empty TOML
/// document is a valid configuration:
///
/// ```
/// use fluxion_etl_sim::stellar::{StellarFault, StellarSimConfig};
///
/// let config = StellarSimConfig::from_toml_str(r#"
///     seed = 7
///     user = "etl"
///     password = "secret"
///     articles = 500
///     sales_lines_per_day = [100, 200]
///
///     [[depots]]
///     code = "1413"
///     name = "CEDI SECO"
///     assortment = "seco"
///
///     [[faults]]
///     kind = "deadlock"
///     depot = "1413"
///     after_rows = 50
///     times = 1
/// "#).unwrap();
/// assert_eq!(config.depots[0].locality, "1413");
/// assert!(matches!(config.faults[0], StellarFault::Deadlock { after_rows: 50, .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StellarSimConfig {
    /// Seed of every generated value: the same seed always serves the same data.
    pub seed: u64,
    /// SQL login the simulator accepts (default `fluxion`).
    pub user: String,
    /// Password of that login (default `fluxion`).
    pub password: String,
    /// Depots (`MA_DEPOSITO`) with stock and sales. Default: the three CEDIs (1413 seco, 1710 frío,
    /// 1801 verde) and the `NN02` depots of the stores that moved to KLK.
    pub depots: Vec<SimDepot>,
    /// Number of articles in `MA_PRODUCTOS` (default 4,000).
    pub articles: u32,
    /// Range of sales lines per depot and day, before the weekday factor (Sunday 0.7, Friday 1.1,
    /// Saturday 1.15). Default `[12000, 28000]`.
    pub sales_lines_per_day: (u32, u32),
    /// First date with sales (default 2020-01-01). Sales exist from here to today (Caracas time).
    pub first_sales_date: NaiveDate,
    /// The date `h_Hora`/`f_Hora` carry with the time of day. SQL Server's `CAST(time AS DATETIME)`
    /// gives 1900-01-01 (the default); VB6 applications store times on 1899-12-30, which makes
    /// `f_Fecha + h_Hora` land two days early.
    pub hora_base_date: NaiveDate,
    /// Whether today's sales stop at the current time (a live point of sale). When false, today is
    /// generated in full like any past day.
    pub live_today: bool,
    /// Faults active from the start (see [`StellarFault`]; change them at runtime with
    /// [`StellarSim::set_faults`](super::StellarSim::set_faults)).
    pub faults: Vec<StellarFault>,
    /// TDS packet size. 0 (the default) does what SQL Server does: use the size the client asks for in
    /// LOGIN7 (4096 for tiberius, FreeTDS and python-tds). Any other value (512–32767) is imposed on
    /// every client through the packet-size ENVCHANGE.
    pub packet_size: u16,
    /// The server name sent in LOGINACK-era messages and errors (default `STELLAR-SIM`).
    pub server_name: String,
}

/// A depot served by the simulator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimDepot {
    /// `c_coddeposito`, e.g. `"1413"`.
    pub code: String,
    /// `c_descripcion`.
    pub name: String,
    /// `c_codlocalidad`, which sales lines carry in `c_Localidad` and receipts in `c_Sucursal`.
    /// Defaults to the depot code.
    #[serde(default)]
    pub locality: String,
    /// Which departments the depot stocks and sells (default: all).
    #[serde(default)]
    pub assortment: Assortment,
}

/// Which departments a depot carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Assortment {
    /// Everything (a store).
    #[default]
    All,
    /// Dry goods, drinks, cleaning, household (CEDI Seco).
    Seco,
    /// Cold chain: deli, meat, dairy, frozen, fish (CEDI Frío).
    Frio,
    /// Fruit, vegetables, flowers (CEDI Verde).
    Verde,
}

impl SimDepot {
    /// A depot whose locality is its code.
    pub fn new(code: &str, name: &str, assortment: Assortment) -> SimDepot {
        SimDepot {
            code: code.to_owned(),
            name: name.to_owned(),
            locality: code.to_owned(),
            assortment,
        }
    }
}

/// A fault the simulator injects. Connection-level faults apply to the whole simulator (the depot is
/// not known before a query arrives: run one simulator per depot to refuse only some). Query-level
/// faults apply to SELECTs that read the named depot's rows, or to every SELECT when `depot` is
/// `None`. A SELECT reads a depot's rows when it scans `MA_DEPOPROD` (by `c_coddeposito`),
/// `MA_TRANSACCION` (by `c_Localidad`) or `MA_PAGOS` (by `c_Sucursal`) for that depot — or one of
/// those tables without a depot filter.
///
/// `times` limits how often a query-level fault fires before it disarms itself (None: always), so a
/// test can make the first attempt fail and the retry succeed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StellarFault {
    /// The listening socket is closed: connects fail with "connection refused" until the fault is
    /// cleared (the simulator then listens again on the same address).
    RefuseConnections,
    /// Every login fails with error 18456 (class 14), whatever the credentials.
    LoginFailure,
    /// After `after_rows` rows of a result, the connection is reset (TCP RST).
    ResetMidResult {
        /// Depot whose queries fail (None: any).
        #[serde(default)]
        depot: Option<String>,
        /// Rows sent before the reset.
        #[serde(default)]
        after_rows: u64,
        /// How many times the fault fires (None: always).
        #[serde(default)]
        times: Option<u32>,
    },
    /// Every response packet of a result is delayed by `delay_ms` (a slow VPN link or a busy server).
    SlowRows {
        /// Depot whose queries are slow (None: any).
        #[serde(default)]
        depot: Option<String>,
        /// Delay before each packet, in milliseconds.
        delay_ms: u64,
        /// How many times the fault fires (None: always).
        #[serde(default)]
        times: Option<u32>,
    },
    /// After `after_rows` rows, the query is chosen as deadlock victim: ERROR 1205 (class 13).
    Deadlock {
        /// Depot whose queries fail (None: any).
        #[serde(default)]
        depot: Option<String>,
        /// Rows sent before the error.
        #[serde(default)]
        after_rows: u64,
        /// How many times the fault fires (None: always).
        #[serde(default)]
        times: Option<u32>,
    },
    /// After `after_rows` rows, the query fails with an arbitrary SQL Server error.
    SqlError {
        /// Depot whose queries fail (None: any).
        #[serde(default)]
        depot: Option<String>,
        /// Error number.
        number: i32,
        /// Severity class (default 16).
        #[serde(default = "default_class")]
        class: u8,
        /// Message text.
        message: String,
        /// Rows sent before the error.
        #[serde(default)]
        after_rows: u64,
        /// How many times the fault fires (None: always).
        #[serde(default)]
        times: Option<u32>,
    },
    /// The query is accepted and never answered, until the client sends ATTENTION (answered with
    /// DONE + attention bit) or disconnects.
    NeverAnswer {
        /// Depot whose queries hang (None: any).
        #[serde(default)]
        depot: Option<String>,
        /// How many times the fault fires (None: always).
        #[serde(default)]
        times: Option<u32>,
    },
}

fn default_class() -> u8 {
    16
}

impl StellarFault {
    /// The depot a query-level fault is limited to.
    pub fn depot(&self) -> Option<&str> {
        match self {
            StellarFault::RefuseConnections | StellarFault::LoginFailure => None,
            StellarFault::ResetMidResult { depot, .. }
            | StellarFault::SlowRows { depot, .. }
            | StellarFault::Deadlock { depot, .. }
            | StellarFault::SqlError { depot, .. }
            | StellarFault::NeverAnswer { depot, .. } => depot.as_deref(),
        }
    }

    /// How many times the fault fires before disarming (None: always).
    pub fn times(&self) -> Option<u32> {
        match self {
            StellarFault::RefuseConnections | StellarFault::LoginFailure => None,
            StellarFault::ResetMidResult { times, .. }
            | StellarFault::SlowRows { times, .. }
            | StellarFault::Deadlock { times, .. }
            | StellarFault::SqlError { times, .. }
            | StellarFault::NeverAnswer { times, .. } => *times,
        }
    }

    /// Delay of a slow-rows fault.
    pub(crate) fn delay(&self) -> Option<Duration> {
        match self {
            StellarFault::SlowRows { delay_ms, .. } => Some(Duration::from_millis(*delay_ms)),
            _ => None,
        }
    }
}

/// Errors reading a configuration file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read Stellar simulator config {path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TOML is invalid or has an unknown key (the message names the key and the line).
    #[error("invalid Stellar simulator config: {0}")]
    Parse(#[from] toml::de::Error),
    /// A value is out of range.
    #[error("invalid Stellar simulator config: {0}")]
    Invalid(String),
}

impl Default for StellarSimConfig {
    fn default() -> Self {
        StellarSimConfig {
            seed: 20_240_601,
            user: "fluxion".to_owned(),
            password: "fluxion".to_owned(),
            depots: default_depots(),
            articles: 4_000,
            sales_lines_per_day: (12_000, 28_000),
            first_sales_date: NaiveDate::from_ymd_opt(2020, 1, 1).unwrap_or(NaiveDate::MIN),
            hora_base_date: NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN),
            live_today: true,
            faults: Vec::new(),
            packet_size: 0,
            server_name: "STELLAR-SIM".to_owned(),
        }
    }
}

/// The chain's stores that moved to KLK, with the `NN02` depot codes they kept in Stellar
/// (tienda_NN → NN02; there is no tienda_14).
const STORES: &[(&str, &str)] = &[
    ("01", "PERIFERICO"),
    ("02", "AV. BOLIVAR"),
    ("03", "MAÑONGO"),
    ("04", "SAN DIEGO"),
    ("05", "VIVIENDA"),
    ("06", "NAGUANAGUA"),
    ("07", "CENTRO"),
    ("08", "BOSQUE"),
    ("09", "GUACARA"),
    ("10", "FERIAS"),
    ("11", "FLOR AMARILLO"),
    ("12", "PARAPARAL"),
    ("13", "PARAMACAY"),
    ("15", "ISABELICA"),
    ("16", "TOCUYITO"),
    ("17", "ARTIGAS"),
    ("18", "PARAISO"),
    ("19", "GUIGUE"),
    ("20", "TAZAJAL"),
];

/// The default depots: the three CEDIs and the stores' `NN02` depots.
pub fn default_depots() -> Vec<SimDepot> {
    let mut depots = vec![
        SimDepot::new("1413", "CEDI SECO", Assortment::Seco),
        SimDepot::new("1710", "CEDI FRIO", Assortment::Frio),
        SimDepot::new("1801", "CEDI VERDE", Assortment::Verde),
    ];
    for (nn, name) in STORES {
        depots.push(SimDepot::new(
            &format!("{nn}02"),
            &format!("TIENDA {name}"),
            Assortment::All,
        ));
    }
    depots
}

impl StellarSimConfig {
    /// Parses a TOML document (unknown keys are errors), fills defaults and validates it.
    pub fn from_toml_str(text: &str) -> Result<StellarSimConfig, ConfigError> {
        let mut config: StellarSimConfig = toml::from_str(text)?;
        config.normalize()?;
        Ok(config)
    }

    /// Reads [`from_toml_str`](Self::from_toml_str) from a file.
    pub fn from_toml_file(path: &Path) -> Result<StellarSimConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        StellarSimConfig::from_toml_str(&text)
    }

    /// Fills depot localities and checks ranges.
    pub fn normalize(&mut self) -> Result<(), ConfigError> {
        for d in &mut self.depots {
            if d.code.trim().is_empty() {
                return Err(ConfigError::Invalid("a depot has an empty code".to_owned()));
            }
            if d.locality.is_empty() {
                d.locality = d.code.clone();
            }
        }
        let mut codes: Vec<&str> = self.depots.iter().map(|d| d.code.as_str()).collect();
        codes.sort_unstable();
        if codes.windows(2).any(|w| w[0] == w[1]) {
            return Err(ConfigError::Invalid(
                "depot codes must be unique".to_owned(),
            ));
        }
        let (lo, hi) = self.sales_lines_per_day;
        if lo > hi || hi > 900_000 {
            return Err(ConfigError::Invalid(format!(
                "sales_lines_per_day must be [low, high] with low <= high <= 900000, got [{lo}, {hi}]"
            )));
        }
        if self.articles == 0 || self.articles > 90_000 {
            return Err(ConfigError::Invalid(format!(
                "articles must be 1..=90000, got {}",
                self.articles
            )));
        }
        if self.packet_size != 0 && !(512..=32_767).contains(&self.packet_size) {
            return Err(ConfigError::Invalid(format!(
                "packet_size must be 0 (client's choice) or 512..=32767, got {}",
                self.packet_size
            )));
        }
        if self.first_sales_date < NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or(NaiveDate::MIN) {
            return Err(ConfigError::Invalid(
                "first_sales_date must be 2000-01-01 or later".to_owned(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_toml_is_the_default() {
        let c = StellarSimConfig::from_toml_str("").unwrap();
        assert_eq!(c, StellarSimConfig::default());
        assert_eq!(c.depots.len(), 22);
        assert!(c
            .depots
            .iter()
            .any(|d| d.code == "0802" && d.name == "TIENDA BOSQUE"));
        assert!(!c.depots.iter().any(|d| d.code == "1402"));
    }

    #[test]
    fn unknown_keys_are_errors_that_name_the_key() {
        let e = StellarSimConfig::from_toml_str("sede = 3").unwrap_err();
        assert!(e.to_string().contains("sede"), "{e}");
        let e = StellarSimConfig::from_toml_str("[[faults]]\nkind = \"deadlock\"\nafter_row = 3")
            .unwrap_err();
        assert!(e.to_string().contains("after_row"), "{e}");
    }

    #[test]
    fn faults_and_dates_parse() {
        let c = StellarSimConfig::from_toml_str(
            r#"
            first_sales_date = "2023-06-01"
            hora_base_date = "1899-12-30"
            faults = [
              { kind = "refuse_connections" },
              { kind = "slow_rows", delay_ms = 20 },
              { kind = "never_answer", depot = "1710" },
              { kind = "sql_error", number = 4060, message = "x" },
            ]
            "#,
        )
        .unwrap();
        assert_eq!(
            c.first_sales_date,
            NaiveDate::from_ymd_opt(2023, 6, 1).unwrap()
        );
        assert_eq!(c.faults[0], StellarFault::RefuseConnections);
        assert_eq!(c.faults[1].delay(), Some(Duration::from_millis(20)));
        assert_eq!(c.faults[2].depot(), Some("1710"));
        assert!(matches!(
            c.faults[3],
            StellarFault::SqlError { class: 16, .. }
        ));
    }

    #[test]
    fn invalid_values_are_rejected() {
        assert!(StellarSimConfig::from_toml_str("sales_lines_per_day = [10, 5]").is_err());
        assert!(StellarSimConfig::from_toml_str("packet_size = 100").is_err());
        assert!(StellarSimConfig::from_toml_str(
            "[[depots]]\ncode = \"1\"\nname = \"a\"\n[[depots]]\ncode = \"1\"\nname = \"b\""
        )
        .is_err());
    }
}
