//! `[[stores]]`: the chain's locations, and the system each runs.

use serde::{Deserialize, Serialize};

use super::{default_true, CalendarConfig, StellarStore};
use crate::model::{SourceSystem, StoreId};

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
