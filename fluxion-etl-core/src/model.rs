//! The records Fluxion moves and the small types that name them.
//!
//! Sources convert store-local times (America/Caracas) to UTC at the edge: every timestamp in a
//! [`SaleLine`] or [`InventoryItem`] is UTC, and [`Window`] converts between the two.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::stored::stored_text;

/// The chain's time zone: every store reports local times in America/Caracas (UTC-4, no DST).
pub const STORE_TZ: Tz = chrono_tz::America::Caracas;

/// Converts a store-local wall-clock time to UTC.
///
/// Caracas has had no DST since 2016, so every local time maps to exactly one instant; the
/// `earliest` fallback only matters for historical dates before that.
pub fn local_to_utc(local: NaiveDateTime) -> DateTime<Utc> {
    STORE_TZ
        .from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&local))
}

/// Converts a UTC instant to store-local wall-clock time.
pub fn utc_to_local(at: DateTime<Utc>) -> NaiveDateTime {
    at.with_timezone(&STORE_TZ).naive_local()
}

/// Today's date on the stores' wall clock.
pub fn store_today() -> NaiveDate {
    utc_to_local(Utc::now()).date()
}

/// Yesterday on the stores' wall clock: the day the daily run loads.
pub fn store_yesterday() -> NaiveDate {
    let today = store_today();
    today.pred_opt().unwrap_or(today)
}

/// A store's identifier in the chain's configuration, e.g. `tienda_01` or `cedi_seco`.
///
/// Shared text: every record of a store carries its id, so a clone is a reference-count
/// increment, not a copy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StoreId(Arc<str>);

impl StoreId {
    /// Creates a store id.
    pub fn new(id: impl AsRef<str>) -> Self {
        Self(id.as_ref().into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for StoreId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for StoreId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StoreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for StoreId {
    fn from(s: &str) -> Self {
        Self(s.into())
    }
}

impl From<String> for StoreId {
    fn from(s: String) -> Self {
        Self(s.into())
    }
}

/// What a run moves. The string forms are the tracker's `etl_name` values of record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DataKind {
    /// Sales lines (`etl_name = 'ventas'`).
    #[serde(rename = "ventas", alias = "sales")]
    Sales,
    /// Inventory snapshots (`etl_name = 'inventario'`).
    #[serde(rename = "inventario", alias = "inventory")]
    Inventory,
}

impl DataKind {
    /// The tracker's `etl_name` for this kind.
    pub fn etl_name(self) -> &'static str {
        match self {
            DataKind::Sales => "ventas",
            DataKind::Inventory => "inventario",
        }
    }

    /// The stored text: the same as [`DataKind::etl_name`].
    pub fn as_str(self) -> &'static str {
        self.etl_name()
    }

    /// Parses `ventas`/`sales` or `inventario`/`inventory`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ventas" | "sales" => Some(DataKind::Sales),
            "inventario" | "inventory" => Some(DataKind::Inventory),
            _ => None,
        }
    }
}

stored_text!(DataKind, "kind of data");

/// The point-of-sale system a store runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceSystem {
    /// KLK, REST/JSON.
    Klk,
    /// Stellar, SQL Server over TDS.
    Stellar,
}

impl SourceSystem {
    /// The tracker's `source_system` value.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceSystem::Klk => "klk",
            SourceSystem::Stellar => "stellar",
        }
    }
}

stored_text!(SourceSystem, "source system", [Klk, Stellar]);

/// A half-open interval `[from, to)` of store-local wall-clock time.
///
/// Windows are exact: a line stamped exactly at `to` belongs to the next window. Sources whose
/// servers treat bounds differently filter on the client side so that this stays true.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Window {
    /// Inclusive start, store-local.
    pub from: NaiveDateTime,
    /// Exclusive end, store-local.
    pub to: NaiveDateTime,
}

impl Window {
    /// Creates a window; `None` when `to` is not after `from`.
    pub fn new(from: NaiveDateTime, to: NaiveDateTime) -> Option<Self> {
        (to > from).then_some(Self { from, to })
    }

    /// The whole store-local days `first..=last`.
    pub fn days(first: NaiveDate, last: NaiveDate) -> Option<Self> {
        let to = last.succ_opt()?.and_hms_opt(0, 0, 0)?;
        Self::new(first.and_hms_opt(0, 0, 0)?, to)
    }

    /// One whole store-local day.
    pub fn day(day: NaiveDate) -> Option<Self> {
        Self::days(day, day)
    }

    /// Whether a store-local time falls inside the window.
    pub fn contains_local(&self, at: NaiveDateTime) -> bool {
        self.from <= at && at < self.to
    }

    /// Whether a UTC instant falls inside the window.
    pub fn contains_utc(&self, at: DateTime<Utc>) -> bool {
        self.contains_local(utc_to_local(at))
    }

    /// The start as a UTC instant.
    pub fn from_utc(&self) -> DateTime<Utc> {
        local_to_utc(self.from)
    }

    /// The end as a UTC instant.
    pub fn to_utc(&self) -> DateTime<Utc> {
        local_to_utc(self.to)
    }

    /// Splits the window at local midnights, so each piece lies inside one day.
    pub fn split_days(&self) -> Vec<Window> {
        let mut out = Vec::new();
        let mut start = self.from;
        while start < self.to {
            let next_midnight = start
                .date()
                .succ_opt()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .unwrap_or(self.to);
            let end = next_midnight.min(self.to);
            out.push(Window {
                from: start,
                to: end,
            });
            start = end;
        }
        out
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}, {})",
            self.from.format("%Y-%m-%d %H:%M:%S"),
            self.to.format("%Y-%m-%d %H:%M:%S")
        )
    }
}

/// One sales line, as both KLK and Stellar describe it.
///
/// Identity is (`store_id`, `invoice_number`, `line_number`): KLK invoice numbers are unique per
/// store only. Money is exact ([`Decimal`]); any numeric the source may send as `null` is an
/// `Option`. Fields a source does not provide stay `None`.
///
/// Texts are shared (`Arc<str>`): a day's lines repeat each article's description, brand,
/// category and the like thousands of times, and the sources give the lines of one article one
/// allocation of each (a clone is a reference-count increment). Build one from a `&str` or a
/// `String` with `.into()`:
///
/// ```
/// use fluxion_etl_core::model::{SaleLine, StoreId};
///
/// let line = SaleLine {
///     store_id: StoreId::new("tienda_01"),
///     invoice_number: "F-000123".into(),
///     line_number: 1,
///     product_code: "000417".into(),
///     description: Some("HARINA DE MAIZ 1KG".into()),
///     ..SaleLine::default()
/// };
/// assert_eq!(&*line.product_code, "000417");
/// assert_eq!(line.description.as_deref(), Some("HARINA DE MAIZ 1KG"));
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SaleLine {
    /// The store the line was sold in.
    pub store_id: StoreId,
    /// Invoice (KLK `numero_factura`) or receipt (Stellar `c_Numero`) number.
    pub invoice_number: Arc<str>,
    /// Line number within the invoice.
    pub line_number: i32,
    /// When the line was sold, UTC.
    pub sold_at: DateTime<Utc>,
    /// The store-local business day of the sale.
    pub business_date: NaiveDate,
    /// Article code (SKU), leading zeros kept.
    pub product_code: Arc<str>,
    /// Article description.
    pub description: Option<Arc<str>>,
    /// Brand.
    pub brand: Option<Arc<str>>,
    /// Model.
    pub model: Option<Arc<str>>,
    /// Category (KLK `categoria_producto`, Stellar department).
    pub category: Option<Arc<str>>,
    /// Article group.
    pub group_name: Option<Arc<str>>,
    /// Article subgroup.
    pub subgroup: Option<Arc<str>>,
    /// KLK `categoria_nombre`.
    pub category_name: Option<Arc<str>>,
    /// Barcode (KLK `codigo_barras`, Stellar scanned code).
    pub barcode: Option<Arc<str>>,
    /// Serial number, when the article has one.
    pub serial: Option<Arc<str>>,
    /// IMEI, when the article has one.
    pub imei: Option<Arc<str>>,
    /// Shelf quadrant (KLK `cuadrante_producto`, Stellar `Text2`).
    pub quadrant: Option<Arc<str>>,
    /// Warehouse the goods left from.
    pub warehouse_code: Option<Arc<str>>,
    /// Warehouse name.
    pub warehouse_name: Option<Arc<str>>,
    /// Quantity sold; fractional for goods sold by weight, negative for returns.
    pub quantity: Option<Decimal>,
    /// Unit weight.
    pub unit_weight: Option<Decimal>,
    /// Gross weight.
    pub gross_weight: Option<Decimal>,
    /// Unit volume.
    pub unit_volume: Option<Decimal>,
    /// Sales unit of measure (e.g. `UNIDAD`, `KILO`).
    pub sale_unit: Option<Arc<str>>,
    /// Factor of the unit of measure.
    pub unit_factor: Option<Decimal>,
    /// Total quantity in the unit of measure.
    pub total_unit_quantity: Option<Decimal>,
    /// Computed weight.
    pub computed_weight: Option<Decimal>,
    /// Unit cost in bolívars.
    pub unit_cost_bs: Option<Decimal>,
    /// Unit cost in dollars.
    pub unit_cost_usd: Option<Decimal>,
    /// Unit price in bolívars.
    pub unit_price_bs: Option<Decimal>,
    /// Unit price in dollars.
    pub unit_price_usd: Option<Decimal>,
    /// VAT percentage.
    pub tax_pct: Option<Decimal>,
    /// VAT amount.
    pub tax_amount: Option<Decimal>,
    /// Discount percentage.
    pub discount_pct: Option<Decimal>,
    /// Discount amount.
    pub discount_amount: Option<Decimal>,
    /// Loyalty discount percentage.
    pub loyalty_discount_pct: Option<Decimal>,
    /// Loyalty discount amount.
    pub loyalty_discount_amount: Option<Decimal>,
    /// Payment-method discount percentage.
    pub payment_discount_pct: Option<Decimal>,
    /// Payment-method discount amount.
    pub payment_discount_amount: Option<Decimal>,
    /// Line subtotal before tax (Stellar `Subtotal`).
    pub subtotal: Option<Decimal>,
    /// Line total in bolívars.
    pub total_bs: Option<Decimal>,
    /// Line total in dollars.
    pub total_usd: Option<Decimal>,
    /// Line cost in bolívars.
    pub total_cost_bs: Option<Decimal>,
    /// Line cost in dollars.
    pub total_cost_usd: Option<Decimal>,
    /// Gross profit in bolívars (may be negative).
    pub gross_profit_bs: Option<Decimal>,
    /// Gross profit in dollars (may be negative).
    pub gross_profit_usd: Option<Decimal>,
    /// Invoice total.
    pub invoice_total: Option<Decimal>,
    /// The day's bolívars-per-dollar rate.
    pub usd_rate: Option<Decimal>,
    /// Whether the invoice is non-fiscal.
    pub non_fiscal: Option<bool>,
    /// Promotion flag as the source sends it (KLK sends a string).
    pub promotion: Option<Arc<str>>,
    /// Promotion code.
    pub promotion_code: Option<Arc<str>>,
    /// Till (Stellar `c_Caja`).
    pub till: Option<Arc<str>>,
    /// Concept (Stellar `c_Concepto`: `VEN` sale, `DEV` return).
    pub concept: Option<Arc<str>>,
    /// Line status (Stellar `Estatus`).
    pub line_status: Option<Arc<str>>,
}

/// One article's stock in one warehouse at a moment.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct InventoryItem {
    /// The store the warehouse belongs to.
    pub store_id: StoreId,
    /// Warehouse or depot code (KLK `CodigoAlmacen`, Stellar `c_coddeposito`).
    pub warehouse_code: Arc<str>,
    /// Warehouse or depot name.
    pub warehouse_name: Option<Arc<str>>,
    /// Article code (SKU), leading zeros kept.
    pub product_code: Arc<str>,
    /// Barcode.
    pub barcode: Option<Arc<str>>,
    /// Article description.
    pub description: Option<Arc<str>>,
    /// Category id (KLK `Categoria`, Stellar department code).
    pub category_id: Option<Arc<str>>,
    /// Category name.
    pub category: Option<Arc<str>>,
    /// Group name.
    pub group_name: Option<Arc<str>>,
    /// Subcategory id (KLK `Subcategoria`).
    pub subcategory_id: Option<Arc<str>>,
    /// Subgroup name.
    pub subgroup: Option<Arc<str>>,
    /// Brand.
    pub brand: Option<Arc<str>>,
    /// Shelf quadrant.
    pub quadrant: Option<Arc<str>>,
    /// Presentation.
    pub presentation: Option<Arc<str>>,
    /// Current cost.
    pub cost: Option<Decimal>,
    /// Price.
    pub price: Option<Decimal>,
    /// VAT percentage.
    pub tax_pct: Option<Decimal>,
    /// Weight.
    pub weight: Option<Decimal>,
    /// Volume.
    pub volume: Option<Decimal>,
    /// Units per case.
    pub units_per_case: Option<Decimal>,
    /// Stock; may be negative (it is real) and fractional for goods sold by weight.
    pub stock: Decimal,
    /// Quantity committed (Stellar).
    pub committed: Option<Decimal>,
    /// Quantity on order (Stellar).
    pub ordered: Option<Decimal>,
    /// When the snapshot was taken, UTC.
    pub snapshot_at: DateTime<Utc>,
}

/// A batch of records, as extractors produce and loaders consume them.
///
/// A batch holds records of one store and one kind; its size is bounded by the configured
/// `batch_size` (the last batch of a unit may be smaller, and an empty unit yields no batch).
#[derive(Debug, Clone, PartialEq)]
pub enum Batch {
    /// Sales lines.
    Sales(Vec<SaleLine>),
    /// Inventory items.
    Inventory(Vec<InventoryItem>),
}

impl Batch {
    /// Number of records.
    pub fn len(&self) -> usize {
        match self {
            Batch::Sales(v) => v.len(),
            Batch::Inventory(v) => v.len(),
        }
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The kind of records held.
    pub fn kind(&self) -> DataKind {
        match self {
            Batch::Sales(_) => DataKind::Sales,
            Batch::Inventory(_) => DataKind::Inventory,
        }
    }
}

/// The unit tests' values, read from their text.
#[cfg(test)]
pub(crate) mod test_support {
    use chrono::{NaiveDate, NaiveDateTime};
    use rust_decimal::Decimal;

    /// A day: `2025-10-01`.
    pub(crate) fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// A property test's configuration: `cases` cases, unless `PROPTEST_CASES` asks for
    /// another number (a long run).
    pub(crate) fn proptest_config(cases: u32) -> proptest::test_runner::Config {
        let mut config = proptest::test_runner::Config::default();
        if std::env::var_os("PROPTEST_CASES").is_none() {
            config.cases = cases;
        }
        config
    }

    /// A wall-clock time: `2025-10-01 08:00:00`.
    pub(crate) fn wall(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    /// An exact decimal: `12.50`.
    pub(crate) fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::wall as dt;
    use super::*;

    #[test]
    fn caracas_is_four_hours_behind_utc() {
        let utc = local_to_utc(dt("2025-11-17 12:19:56"));
        assert_eq!(utc.to_rfc3339(), "2025-11-17T16:19:56+00:00");
        assert_eq!(utc_to_local(utc), dt("2025-11-17 12:19:56"));
    }

    #[test]
    fn window_is_half_open() {
        let w = Window::new(dt("2025-11-17 12:00:00"), dt("2025-11-17 12:20:00")).unwrap();
        assert!(w.contains_local(dt("2025-11-17 12:00:00")));
        assert!(!w.contains_local(dt("2025-11-17 12:20:00")));
        assert!(Window::new(w.to, w.from).is_none());
    }

    #[test]
    fn split_days_cuts_at_local_midnight() {
        let w = Window::new(dt("2025-11-17 22:00:00"), dt("2025-11-19 01:00:00")).unwrap();
        let parts = w.split_days();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].to, dt("2025-11-18 00:00:00"));
        assert_eq!(parts[2].from, dt("2025-11-19 00:00:00"));
        assert_eq!(parts[2].to, w.to);
    }
}
