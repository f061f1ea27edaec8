//! What the KLK simulator serves: the chain's branches, the data volume, closed days and faults.
//!
//! Every field has a default, so an empty TOML file is a valid configuration that serves the chain of
//! `KLK_API.md`. Unknown keys are errors, so a typo in a fault file is caught instead of silently ignored.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::faults::FaultRule;

/// Configuration of a [`KlkSim`](super::KlkSim).
///
/// ```
/// use fluxion_etl_sim::klk::KlkSimConfig;
/// let config = KlkSimConfig::from_toml_str(r#"
///     seed = 7
///     lines_per_day = [1000, 2000]
///     [[closed]]
///     branch = "SUC001"
///     date = "2025-11-17"
///     [[faults]]
///     branch = "SUC007"
///     endpoint = "ventas"
///     times = 2
///     fault = { kind = "status", code = 503 }
/// "#).unwrap();
/// assert_eq!(config.stores.len(), 21);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KlkSimConfig {
    /// Seed of every generated value. The same seed serves the same bytes for the same request.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The branches and warehouses the server knows. Defaults to the chain's table in `KLK_API.md`
    /// (19 stores, the `CONS`/`CONSOLIDADO` pseudo-branch and the Caracas distribution centre).
    #[serde(default = "default_stores")]
    pub stores: Vec<SimBranch>,
    /// Inclusive range of sales lines a store sells on an open day, `[min, max]`.
    #[serde(default = "default_lines_per_day")]
    pub lines_per_day: (u32, u32),
    /// Number of articles in the catalogue (each warehouse carries about 97 % of them).
    #[serde(default = "default_articles")]
    pub articles: u32,
    /// Days on which a branch sold nothing: `/ventas` answers an empty `ventas` array.
    #[serde(default)]
    pub closed: Vec<ClosedDay>,
    /// Faults injected from the start. The admin endpoint and [`KlkSim::set_faults`](super::KlkSim::set_faults)
    /// replace them at run time.
    #[serde(default)]
    pub faults: Vec<FaultRule>,
    /// Answer the inventory endpoints like older KLK servers: a bare array of articles instead of
    /// `{meta, articulos}`.
    #[serde(default)]
    pub legacy_inventory_shape: bool,
    /// Share of sales lines that carry one `null` numeric field (production shows an occasional one).
    #[serde(default = "default_null_ratio")]
    pub null_ratio: f64,
    /// Pins the simulator's clock: `fecha_generacion`, and the date whose stock the inventory endpoints
    /// serve (the clock's date in Caracas, UTC−4). `None` uses the wall clock; tests that compare bytes
    /// pin it. Sales do not depend on the clock: a day is generated whole whatever the time.
    #[serde(default)]
    pub fixed_clock: Option<DateTime<Utc>>,
    /// How many generated store-days are kept in memory between requests (a small LRU). Each costs
    /// about 1–2 MB; the JSON itself is encoded on the fly and never kept.
    #[serde(default = "default_cache_days")]
    pub cache_days: usize,
    /// Size of the body chunks the server writes, in bytes.
    #[serde(default = "default_chunk_bytes")]
    pub chunk_bytes: usize,
    /// Memory budget, in MiB, for the encoded JSON of store-days requested more than once (benchmarks
    /// repeat requests): a repeated day is encoded once and then served as slices of that buffer, with
    /// no per-request encoding. A day requested once is never kept. `0` disables it.
    #[serde(default = "default_encoded_cache_mb")]
    pub encoded_cache_mb: usize,
}

/// One branch (`sucursal`) of the chain and its warehouses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimBranch {
    /// The chain's own store id (`tienda_01`). KLK never shows it; it is here to map tests to the chain.
    #[serde(default)]
    pub store_id: String,
    /// `NombreSucursal`, e.g. `PERIFERICO`.
    pub name: String,
    /// `CodigoSucursal`, e.g. `SUC001`.
    pub branch: String,
    /// The sales-floor warehouse (`CodigoAlmacen`), e.g. `APP-TPF`: every sale of a store leaves from it.
    pub warehouse: String,
    /// `NombreAlmacen` of the sales-floor warehouse.
    #[serde(default = "default_warehouse_name")]
    pub warehouse_name: String,
    /// Other warehouses of the branch (returns, shrinkage, back store). A small share of the branch's
    /// lines (returns, with negative quantities) is booked on the first of them, which is why a
    /// `/ventas` request without `almacen` folds several warehouses into one store.
    #[serde(default)]
    pub other_warehouses: Vec<SimWarehouse>,
    /// What kind of branch this is.
    #[serde(default)]
    pub kind: BranchKind,
}

/// A warehouse that is not a branch's sales floor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimWarehouse {
    /// `CodigoAlmacen`, e.g. `APP-DPF`.
    pub code: String,
    /// `NombreAlmacen`, e.g. `DEVOLUCIONES`.
    pub name: String,
}

/// What a branch is, which decides where it is listed and whether it sells.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BranchKind {
    /// A store: listed by both warehouse endpoints, sells every open day, has inventory.
    #[default]
    Store,
    /// KLK's `CONS`/`CONSOLIDADO` pseudo-branch: listed by `/maestra/almacenes/pisoventa` only, sells nothing.
    Consolidated,
    /// A distribution centre: listed by `/maestra/almacenes/Reposicion`, has inventory, sells nothing.
    DistributionCentre,
}

/// A day on which a branch sold nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosedDay {
    /// Branch code (`SUC001`), its sales-floor warehouse (`APP-TPF`), or `*` for every branch.
    pub branch: String,
    /// The closed day (store-local date).
    pub date: NaiveDate,
}

/// Why a simulator configuration could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KlkSimError {
    /// The configuration file could not be read.
    #[error("cannot read KLK simulator config {path}")]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The configuration is not valid TOML for [`KlkSimConfig`] (the cause names the key and line).
    #[error("invalid KLK simulator config {path}")]
    ParseConfig {
        /// The file, or `<inline>`.
        path: PathBuf,
        /// The cause.
        #[source]
        source: toml::de::Error,
    },
    /// The configuration parses but cannot be served.
    #[error("invalid KLK simulator config: {0}")]
    Invalid(String),
    /// The server could not bind or serve.
    #[error("KLK simulator on {addr} failed")]
    Serve {
        /// The address it was asked to bind.
        addr: std::net::SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl Default for KlkSimConfig {
    fn default() -> Self {
        Self {
            seed: default_seed(),
            stores: default_stores(),
            lines_per_day: default_lines_per_day(),
            articles: default_articles(),
            closed: Vec::new(),
            faults: Vec::new(),
            legacy_inventory_shape: false,
            null_ratio: default_null_ratio(),
            fixed_clock: None,
            cache_days: default_cache_days(),
            chunk_bytes: default_chunk_bytes(),
            encoded_cache_mb: default_encoded_cache_mb(),
        }
    }
}

impl KlkSimConfig {
    /// Parses a TOML document; missing keys take their defaults.
    pub fn from_toml_str(text: &str) -> Result<Self, KlkSimError> {
        let config: Self = toml::from_str(text).map_err(|source| KlkSimError::ParseConfig {
            path: PathBuf::from("<inline>"),
            source,
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and parses a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, KlkSimError> {
        let text = std::fs::read_to_string(path).map_err(|source| KlkSimError::ReadConfig {
            path: path.to_path_buf(),
            source,
        })?;
        let config: Self = toml::from_str(&text).map_err(|source| KlkSimError::ParseConfig {
            path: path.to_path_buf(),
            source,
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: ranges and references between fields.
    pub fn validate(&self) -> Result<(), KlkSimError> {
        let (lo, hi) = self.lines_per_day;
        if lo > hi {
            return Err(KlkSimError::Invalid(format!(
                "lines_per_day [{lo}, {hi}]: the minimum is above the maximum"
            )));
        }
        // Ten times the busiest real store-day; also keeps invoice numbers unique (99 tills × 9,999
        // invoices a day).
        if hi > 300_000 {
            return Err(KlkSimError::Invalid(format!(
                "lines_per_day maximum {hi} is above 300000"
            )));
        }
        if self.articles == 0 || self.articles > 900_000 {
            return Err(KlkSimError::Invalid(format!(
                "articles = {} must be between 1 and 900000 (codes have six digits)",
                self.articles
            )));
        }
        if !(0.0..=1.0).contains(&self.null_ratio) {
            return Err(KlkSimError::Invalid(format!(
                "null_ratio = {} must be between 0 and 1",
                self.null_ratio
            )));
        }
        if self.chunk_bytes == 0 {
            return Err(KlkSimError::Invalid("chunk_bytes must be positive".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for store in &self.stores {
            if !seen.insert(store.branch.as_str()) {
                return Err(KlkSimError::Invalid(format!(
                    "branch {} is listed twice",
                    store.branch
                )));
            }
            if store.other_warehouses.len() > 200 {
                return Err(KlkSimError::Invalid(format!(
                    "branch {} has more than 200 warehouses",
                    store.branch
                )));
            }
        }
        for rule in &self.faults {
            rule.validate().map_err(KlkSimError::Invalid)?;
        }
        Ok(())
    }

    /// The branch with this code (`SUC001`).
    pub fn branch(&self, code: &str) -> Option<&SimBranch> {
        self.stores.iter().find(|b| b.branch == code)
    }

    /// The branch owning this warehouse code (sales floor or other).
    pub fn branch_of_warehouse(&self, code: &str) -> Option<&SimBranch> {
        self.stores
            .iter()
            .find(|b| b.warehouse == code || b.other_warehouses.iter().any(|w| w.code == code))
    }

    /// Whether `branch` sold nothing on `date` (closed day, or a branch that never sells).
    pub fn is_closed(&self, branch: &str, date: NaiveDate) -> bool {
        let Some(b) = self.branch(branch) else {
            return true;
        };
        b.kind != BranchKind::Store
            || self.closed.iter().any(|c| {
                c.date == date
                    && (c.branch == "*" || c.branch == b.branch || c.branch == b.warehouse)
            })
    }
}

fn default_seed() -> u64 {
    0x4b4c_4b5f_5349_4d31 // "KLK_SIM1"
}

fn default_lines_per_day() -> (u32, u32) {
    (10_000, 30_000)
}

fn default_articles() -> u32 {
    4_000
}

fn default_null_ratio() -> f64 {
    0.001
}

fn default_cache_days() -> usize {
    8
}

fn default_chunk_bytes() -> usize {
    64 * 1024
}

fn default_encoded_cache_mb() -> usize {
    512
}

fn default_warehouse_name() -> String {
    "PISO DE VENTA".to_owned()
}

/// The chain's branches as `KLK_API.md` lists them, plus the `CONS` pseudo-branch and the CEDI.
///
/// Two codes are this simulator's guesses, not observed facts: the `CONS` pseudo-branch's warehouse code
/// (`CONS`) and the CEDI's branch code (`CEDI`, the chain's table shows none). The returns/shrinkage
/// warehouses observed in production (`APP-DPF`, `APP-MPF`, `PALT`, `APP-PPF`) are given to `SUC001`,
/// whose `APP-` prefix they share.
pub fn default_stores() -> Vec<SimBranch> {
    const TABLE: [(&str, &str, &str, &str); 19] = [
        ("tienda_01", "PERIFERICO", "SUC001", "APP-TPF"),
        ("tienda_02", "AV. BOLIVAR", "SUC007", "TAVBOL"),
        ("tienda_03", "MAÑONGO", "SUC008", "TTMAN"),
        ("tienda_04", "SAN DIEGO", "SUC014", "TSDGO"),
        ("tienda_05", "VIVIENDA", "SUC018", "TVDAS"),
        ("tienda_06", "NAGUANAGUA", "SUC017", "TNGN01"),
        ("tienda_07", "CENTRO", "SUC013", "TCTO"),
        ("tienda_08", "BOSQUE", "SUC002", "APP-TBQ"),
        ("tienda_09", "GUACARA", "SUC015", "TGUAC"),
        ("tienda_10", "FERIAS", "SUC009", "TFER"),
        ("tienda_11", "FLOR AMARILLO", "SUC012", "TFAMA"),
        ("tienda_12", "PARAPARAL", "SUC016", "TPPRAL"),
        ("tienda_13", "PARAMACAY", "SUC019", "TPMCY"),
        ("tienda_15", "ISABELICA", "SUC006", "TTISBC"),
        ("tienda_16", "TOCUYITO", "SUC010", "TTCYTO"),
        ("tienda_17", "ARTIGAS", "SUC003", "TANT"),
        ("tienda_18", "PARAISO", "SUC004", "TPAR"),
        ("tienda_19", "GUIGUE", "SUC011", "TGGE"),
        ("tienda_20", "TAZAJAL", "SUC005", "TTZ"),
    ];
    let mut stores: Vec<SimBranch> = TABLE
        .iter()
        .map(|&(store_id, name, branch, warehouse)| SimBranch {
            store_id: store_id.to_owned(),
            name: name.to_owned(),
            branch: branch.to_owned(),
            warehouse: warehouse.to_owned(),
            warehouse_name: default_warehouse_name(),
            other_warehouses: Vec::new(),
            kind: BranchKind::Store,
        })
        .collect();
    stores[0].other_warehouses = vec![
        SimWarehouse {
            code: "APP-DPF".into(),
            name: "DEVOLUCIONES".into(),
        },
        SimWarehouse {
            code: "APP-MPF".into(),
            name: "MERMA".into(),
        },
        SimWarehouse {
            code: "PALT".into(),
            name: "ALMACEN PRINCIPAL".into(),
        },
        SimWarehouse {
            code: "APP-PPF".into(),
            name: "PRODUCCION".into(),
        },
    ];
    stores.push(SimBranch {
        store_id: String::new(),
        name: "CONSOLIDADO".into(),
        branch: "CONS".into(),
        warehouse: "CONS".into(),
        warehouse_name: "CONSOLIDADO".into(),
        other_warehouses: Vec::new(),
        kind: BranchKind::Consolidated,
    });
    stores.push(SimBranch {
        store_id: "cedi_caracas".into(),
        name: "CEDI CARACAS".into(),
        branch: "CEDI".into(),
        warehouse: "PCDICS".into(),
        warehouse_name: "CEDI CARACAS".into(),
        other_warehouses: Vec::new(),
        kind: BranchKind::DistributionCentre,
    });
    stores
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_toml_is_the_default_chain() {
        let config = KlkSimConfig::from_toml_str("").unwrap();
        assert_eq!(config, KlkSimConfig::default());
        let stores: Vec<_> = config
            .stores
            .iter()
            .filter(|b| b.kind == BranchKind::Store)
            .collect();
        assert_eq!(stores.len(), 19);
        assert!(!stores.iter().any(|b| b.store_id == "tienda_14"));
        assert_eq!(config.branch("SUC008").unwrap().name, "MAÑONGO");
        assert_eq!(
            config.branch_of_warehouse("APP-DPF").unwrap().branch,
            "SUC001"
        );
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let err = KlkSimConfig::from_toml_str("seed = 1\nlines_per_dya = [1, 2]\n").unwrap_err();
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(source.contains("lines_per_dya"), "{source}");
        let err = KlkSimConfig::from_toml_str(
            "[[faults]]\nbranch = \"*\"\nfault = { kind = \"status\", code = 503, tiems = 2 }\n",
        )
        .unwrap_err();
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(source.contains("tiems"), "{source}");
    }

    #[test]
    fn inconsistent_values_are_rejected() {
        assert!(KlkSimConfig::from_toml_str("lines_per_day = [10, 5]").is_err());
        assert!(KlkSimConfig::from_toml_str("articles = 0").is_err());
        assert!(KlkSimConfig::from_toml_str("null_ratio = 1.5").is_err());
    }

    #[test]
    fn closed_days_match_branch_warehouse_or_star() {
        let mut config = KlkSimConfig::default();
        let d = NaiveDate::from_ymd_opt(2025, 11, 17).unwrap();
        config.closed = vec![
            ClosedDay {
                branch: "TAVBOL".into(),
                date: d,
            },
            ClosedDay {
                branch: "*".into(),
                date: d.succ_opt().unwrap(),
            },
        ];
        assert!(config.is_closed("SUC007", d));
        assert!(!config.is_closed("SUC001", d));
        assert!(config.is_closed("SUC001", d.succ_opt().unwrap()));
        assert!(config.is_closed("CONS", d.pred_opt().unwrap()));
        assert!(config.is_closed("NOPE", d.pred_opt().unwrap()));
    }
}
