//! The simulated VAD10/VAD20 contents: deterministic for a seed, realistic in shape.
//!
//! Back-office tables (articles, codes, departments, groups, subgroups, depots, stock) are built once
//! when the simulator starts (a few milliseconds for ~4,000 articles). Sales lines and receipts are
//! generated lazily per (depot, date) from a PRNG seeded with (seed, depot, date), and the most recent
//! days are kept in a small cache: years of history cost nothing until someone asks for them.
//!
//! Shapes worth knowing when testing an extractor against it:
//! - article codes (`c_Codigo`) are six digits with leading zeros (`"001234"`);
//! - every unit-sold article has an internal code row; most have one EAN-13 barcode with
//!   `c_Descripcion = 'BARRA'` and `nu_Intercambio = 1`, some only an `ALTERNO` interchange code, a few
//!   none; some have a second barcode (`nu_Intercambio = 0`) and a case code (`BULTO`);
//! - by-weight articles (`n_TipoPeso <> 0`) have a scale code (`PESO`) as their interchange code;
//! - group codes are unique across departments; subgroup codes repeat across groups, so a subgroup is
//!   identified by (`c_CODIGO`, `c_GRUPO`); about 1% of articles point at a subgroup that does not exist;
//! - department `000012` is described `CB` (shown as CANASTA BASICA) and `000017` is PROCURA;
//! - `MA_DEPOPROD.n_cantidad` is a float, negative for about 3% of rows, fractional for by-weight articles;
//! - sales lines carry the date in `f_Fecha` (midnight) and the time of day in `h_Hora` on
//!   [`StellarSimConfig::hora_base_date`](super::StellarSimConfig::hora_base_date) (1900-01-01 by default);
//!   `c_Numero` grows with time (ten digits, unique per depot), `ID` grows with (date, depot, time);
//! - January 1st is a closed day (no sales); `c_Concepto` is `VEN` or, for about 1% of receipts, `DEV`
//!   (a return, amounts positive).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc, Weekday};
use rust_decimal::{Decimal, RoundingStrategy};

use super::config::{Assortment, SimDepot, StellarSimConfig};
use super::sql::catalog::TableId;
use super::sql::exec::HashIndex;

/// A department (`MA_DEPARTAMENTOS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    /// `C_CODIGO`, six digits.
    pub code: String,
    /// `C_DESCRIPCIO`.
    pub description: String,
}

/// A group (`MA_GRUPOS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// `c_CODIGO`, unique across departments.
    pub code: String,
    /// `C_DESCRIPCIO`.
    pub description: String,
    /// `c_departamento`.
    pub department: String,
}

/// A subgroup (`MA_SUBGRUPOS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subgroup {
    /// `c_CODIGO`, unique within its group only.
    pub code: String,
    /// `c_DESCRIPCIO`.
    pub description: String,
    /// `c_GRUPO`.
    pub group: String,
}

/// An article (`MA_PRODUCTOS`).
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    /// `ID`.
    pub id: i32,
    /// `c_Codigo`: the SKU, six digits with leading zeros.
    pub code: String,
    /// `c_Descri`; a few carry trailing spaces, as old Stellar rows do.
    pub description: String,
    /// `c_Departamento`.
    pub department: String,
    /// `c_Grupo`.
    pub group: String,
    /// `c_Subgrupo`.
    pub subgroup: String,
    /// `c_Marca`.
    pub brand: String,
    /// `c_Modelo` (mostly empty).
    pub model: String,
    /// `c_Presenta`.
    pub presentation: String,
    /// `Text2`: the shelf quadrant ("CUADRANTE IX"); NULL for a few articles.
    pub quadrant: Option<String>,
    /// `n_CostoAct`, DECIMAL(18,4).
    pub cost: Decimal,
    /// `n_Precio1`, DECIMAL(18,2).
    pub price: Decimal,
    /// `n_Impuesto1` (VAT %), DECIMAL(5,2).
    pub tax_rate: Decimal,
    /// `n_Peso` (kg), FLOAT.
    pub weight: f64,
    /// `n_Volumen` (litres), FLOAT.
    pub volume: f64,
    /// `n_CantiBul` (units per case), FLOAT.
    pub units_per_case: f64,
    /// `n_TipoPeso`: 0 sold by unit, 1 or 2 sold by weight.
    pub weight_type: i32,
    /// `n_Activo` (BIT).
    pub active: bool,
    /// `Add_Date`.
    pub added: NaiveDateTime,
    /// `Update_Date`.
    pub updated: NaiveDateTime,
}

/// A code of an article (`MA_CODIGOS`).
#[derive(Debug, Clone, PartialEq)]
pub struct Code {
    /// `c_CodNasa`: the article's `c_Codigo`.
    pub article: String,
    /// `c_Codigo`: the barcode or alternate code; unique across the table.
    pub code: String,
    /// `c_Descripcion`: `BARRA`, `CODIGO INTERNO`, `ALTERNO`, `BULTO` or `PESO`.
    pub kind: String,
    /// `nu_Intercambio`: 1 for the article's interchange code.
    pub interchange: i32,
    /// `n_Cantidad`: units the code stands for (units per case for `BULTO`).
    pub quantity: f64,
}

/// Stock of an article in a depot (`MA_DEPOPROD`).
#[derive(Debug, Clone, PartialEq)]
pub struct StockRow {
    /// `ID`.
    pub id: i32,
    /// `c_coddeposito`.
    pub depot: String,
    /// `c_codarticulo`.
    pub article: String,
    /// `n_cantidad` (may be negative).
    pub quantity: f64,
    /// `n_cant_comprometida`.
    pub committed: f64,
    /// `n_cant_ordenada`.
    pub ordered: f64,
}

/// A receipt (`MA_PAGOS`).
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    /// `c_Numero`: ten digits, unique per depot, growing with time.
    pub number: String,
    /// `c_Caja`.
    pub till: &'static str,
    /// Time of day (`f_Hora` is this on the configured base date).
    pub time: NaiveTime,
    /// `c_Concepto`: `VEN` or `DEV`.
    pub concept: &'static str,
    /// `n_Subtotal` (after discounts, before VAT).
    pub subtotal: Decimal,
    /// `n_Impuesto`.
    pub tax: Decimal,
    /// `n_Total`.
    pub total: Decimal,
    /// `n_Productos`: number of lines.
    pub lines: i32,
}

/// One sales line (`MA_TRANSACCION`), stored compactly; amounts are read through the accessors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SalesLine {
    id: i64,
    receipt: u32,
    line: u16,
    code: u32,
    article: u32,
    qty_milli: i64,
    price_cents: i64,
    subtotal_cents: i64,
    discount_cents: i64,
    tax_cents: i64,
    total_cents: i64,
    cost_e4: i64,
}

impl SalesLine {
    /// `ID`.
    pub fn id(&self) -> i64 {
        self.id
    }
    /// Index of the line's receipt in [`SalesDay::receipts`].
    pub fn receipt_index(&self) -> usize {
        self.receipt as usize
    }
    /// `n_Linea` (1-based within the receipt).
    pub fn line_number(&self) -> i32 {
        i32::from(self.line)
    }
    /// Index of the scanned code in [`SimTables::codes`].
    pub fn code_index(&self) -> usize {
        self.code as usize
    }
    /// Index of the article in [`SimTables::products`].
    pub fn article_index(&self) -> usize {
        self.article as usize
    }
    /// `Cantidad`, DECIMAL(18,3).
    pub fn quantity(&self) -> Decimal {
        Decimal::new(self.qty_milli, 3)
    }
    /// `Precio`, DECIMAL(18,2).
    pub fn price(&self) -> Decimal {
        Decimal::new(self.price_cents, 2)
    }
    /// `Subtotal` (quantity × price), DECIMAL(18,2).
    pub fn subtotal(&self) -> Decimal {
        Decimal::new(self.subtotal_cents, 2)
    }
    /// `Descuento`, DECIMAL(18,2).
    pub fn discount(&self) -> Decimal {
        Decimal::new(self.discount_cents, 2)
    }
    /// `Impuesto` (VAT on subtotal − discount), DECIMAL(18,2).
    pub fn tax(&self) -> Decimal {
        Decimal::new(self.tax_cents, 2)
    }
    /// `Total` (subtotal − discount + VAT), DECIMAL(18,2).
    pub fn total(&self) -> Decimal {
        Decimal::new(self.total_cents, 2)
    }
    /// `n_Costo` (unit cost), DECIMAL(18,4).
    pub fn cost(&self) -> Decimal {
        Decimal::new(self.cost_e4, 4)
    }
}

/// The sales of one depot on one date: `MA_TRANSACCION` lines and `MA_PAGOS` receipts.
#[derive(Debug)]
pub struct SalesDay {
    /// Index of the depot in [`SimTables::depots`].
    pub depot_index: usize,
    /// The date.
    pub date: NaiveDate,
    /// `f_Fecha` (the date at midnight).
    pub fecha: NaiveDateTime,
    /// Receipts in time order.
    pub receipts: Vec<Receipt>,
    /// Lines in receipt order (so in time and ID order).
    pub lines: Vec<SalesLine>,
    /// `h_Hora`/`f_Hora` of each receipt: its time on the configured base date.
    pub(crate) hora: Vec<NaiveDateTime>,
}

/// One row of the production inventory extract, computed directly from the tables (not through SQL):
/// what an inventory extractor should return for a depot.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedInventoryRow {
    /// Depot code.
    pub depot: String,
    /// Article code (`c_Codigo`).
    pub article: String,
    /// The interchange barcode.
    pub barcode: String,
    /// `c_Descri`, as stored (not trimmed).
    pub description: String,
    /// Department description, with 'CB' shown as 'CANASTA BASICA'.
    pub category: String,
    /// Group description (None when the group does not exist).
    pub group: Option<String>,
    /// Subgroup description (None when the subgroup does not exist).
    pub subgroup: Option<String>,
    /// Brand.
    pub brand: String,
    /// Shelf quadrant.
    pub quadrant: Option<String>,
    /// Current cost.
    pub cost: Decimal,
    /// Price.
    pub price: Decimal,
    /// VAT %.
    pub tax_rate: Decimal,
    /// Presentation.
    pub presentation: String,
    /// Weight.
    pub weight: f64,
    /// Volume.
    pub volume: f64,
    /// Units per case.
    pub units_per_case: f64,
    /// Stock (`n_cantidad`).
    pub stock: f64,
}

/// One sales line joined to its article, computed directly from the tables: what a sales extractor
/// should return.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedSalesRow {
    /// Depot code.
    pub depot: String,
    /// `c_Localidad`.
    pub locality: String,
    /// `c_Numero`.
    pub receipt: String,
    /// `n_Linea`.
    pub line: i32,
    /// `c_Caja`.
    pub till: String,
    /// Date and time of the sale (store-local).
    pub datetime: NaiveDateTime,
    /// The scanned code (`Codigo`).
    pub scanned_code: String,
    /// The article's `c_Codigo`.
    pub article: String,
    /// The article's description.
    pub description: String,
    /// Department description, with 'CB' shown as 'CANASTA BASICA'.
    pub category: String,
    /// Group description.
    pub group: Option<String>,
    /// Subgroup description.
    pub subgroup: Option<String>,
    /// Brand.
    pub brand: String,
    /// `Cantidad`.
    pub quantity: Decimal,
    /// `Precio`.
    pub price: Decimal,
    /// `Subtotal`.
    pub subtotal: Decimal,
    /// `Descuento`.
    pub discount: Decimal,
    /// `Impuesto`.
    pub tax: Decimal,
    /// `Total`.
    pub total: Decimal,
    /// `n_Costo`.
    pub cost: Decimal,
    /// `c_Concepto`.
    pub concept: String,
    /// `ID`.
    pub id: i64,
}

/// Which codes a sale of an article may scan.
#[derive(Debug, Clone, Default)]
struct ArticleCodes {
    internal: u32,
    interchange: Option<u32>,
    extra: Option<u32>,
}

/// Everything the simulator serves. Build with [`SimTables::new`] (or get the running simulator's with
/// [`StellarSim::tables`](super::StellarSim::tables)); the same configuration always gives the same data.
pub struct SimTables {
    pub(crate) seed: u64,
    pub(crate) depots: Vec<SimDepot>,
    pub(crate) departments: Vec<Department>,
    pub(crate) groups: Vec<Group>,
    pub(crate) subgroups: Vec<Subgroup>,
    pub(crate) products: Vec<Product>,
    pub(crate) codes: Vec<Code>,
    pub(crate) stock: Vec<Vec<StockRow>>,
    sales_lines_per_day: (u32, u32),
    first_sales_date: NaiveDate,
    hora_base_date: NaiveDate,
    live_today: bool,
    article_codes: Vec<ArticleCodes>,
    /// Per depot: the articles it sells, most popular first.
    sellable: Vec<Vec<u32>>,
    product_by_code: HashMap<String, u32>,
    sales_cache: Mutex<SalesCache>,
    /// Hash indexes of whole tables, built on first use by a join.
    index_cache: Mutex<IndexCache>,
}

impl std::fmt::Debug for SimTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimTables")
            .field("seed", &self.seed)
            .field("depots", &self.depots.len())
            .field("products", &self.products.len())
            .field("codes", &self.codes.len())
            .finish_non_exhaustive()
    }
}

const SALES_CACHE_DAYS: usize = 48;

/// Join indexes of whole tables, by (table, key columns).
type IndexCache = HashMap<(TableId, Vec<usize>), Arc<HashIndex>>;

#[derive(Default)]
struct SalesCache {
    map: HashMap<(usize, NaiveDate), Arc<SalesDay>>,
    order: VecDeque<(usize, NaiveDate)>,
}

/// Tills (`c_Caja`).
const TILLS: [&str; 16] = [
    "001", "002", "003", "004", "005", "006", "007", "008", "009", "010", "011", "012", "013",
    "014", "015", "016",
];

impl SimTables {
    /// Builds the tables of a configuration.
    pub fn new(config: &StellarSimConfig) -> SimTables {
        build(config)
    }

    /// The depots (`MA_DEPOSITO`).
    pub fn depots(&self) -> &[SimDepot] {
        &self.depots
    }
    /// `MA_DEPARTAMENTOS`.
    pub fn departments(&self) -> &[Department] {
        &self.departments
    }
    /// `MA_GRUPOS`.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }
    /// `MA_SUBGRUPOS`.
    pub fn subgroups(&self) -> &[Subgroup] {
        &self.subgroups
    }
    /// `MA_PRODUCTOS`.
    pub fn products(&self) -> &[Product] {
        &self.products
    }
    /// `MA_CODIGOS`.
    pub fn codes(&self) -> &[Code] {
        &self.codes
    }
    /// The article with this `c_Codigo`.
    pub fn product(&self, code: &str) -> Option<&Product> {
        self.product_by_code
            .get(code)
            .map(|&i| &self.products[i as usize])
    }
    /// Index of a depot by code.
    pub fn depot_index(&self, code: &str) -> Option<usize> {
        self.depots.iter().position(|d| d.code == code)
    }
    /// `MA_DEPOPROD` rows of a depot (empty for an unknown depot).
    pub fn stock(&self, depot: &str) -> &[StockRow] {
        match self.depot_index(depot) {
            Some(i) => &self.stock[i],
            None => &[],
        }
    }
    /// All `MA_DEPOPROD` rows, depot by depot.
    pub fn all_stock(&self) -> impl Iterator<Item = &StockRow> {
        self.stock.iter().flatten()
    }

    /// First date with sales.
    pub fn first_sales_date(&self) -> NaiveDate {
        self.first_sales_date
    }

    /// The date `h_Hora` and `f_Hora` carry.
    pub fn hora_base_date(&self) -> NaiveDate {
        self.hora_base_date
    }

    /// The last date with sales: today in Caracas (UTC−4, no DST).
    pub fn last_sales_date(&self) -> NaiveDate {
        caracas_now().date()
    }

    /// The sales of a depot on a date (empty before the first sales date, after today, on January 1st
    /// and for an unknown depot). Today's sales stop at the current time when `live_today` is set.
    pub fn sales_day(&self, depot: &str, date: NaiveDate) -> Arc<SalesDay> {
        match self.depot_index(depot) {
            Some(i) => self.sales_day_at(i, date),
            None => Arc::new(SalesDay {
                depot_index: usize::MAX,
                date,
                fecha: date.and_time(NaiveTime::MIN),
                receipts: Vec::new(),
                lines: Vec::new(),
                hora: Vec::new(),
            }),
        }
    }

    pub(crate) fn sales_day_at(&self, depot: usize, date: NaiveDate) -> Arc<SalesDay> {
        let now = caracas_now();
        let cacheable = date < now.date() || !self.live_today;
        if cacheable {
            if let Ok(cache) = self.sales_cache.lock() {
                if let Some(day) = cache.map.get(&(depot, date)) {
                    return Arc::clone(day);
                }
            }
        }
        let mut day = generate_sales(self, depot, date);
        if !cacheable && date == now.date() {
            // Live today: only what has been sold so far.
            let cut = day
                .receipts
                .iter()
                .position(|r| r.time > now.time())
                .unwrap_or(day.receipts.len());
            day.receipts.truncate(cut);
            day.hora.truncate(cut);
            day.lines.retain(|l| (l.receipt as usize) < cut);
        }
        let day = Arc::new(day);
        if cacheable {
            if let Ok(mut cache) = self.sales_cache.lock() {
                if cache.map.insert((depot, date), Arc::clone(&day)).is_none() {
                    cache.order.push_back((depot, date));
                }
                while cache.order.len() > SALES_CACHE_DAYS {
                    if let Some(old) = cache.order.pop_front() {
                        cache.map.remove(&old);
                    }
                }
            }
        }
        day
    }

    /// A cached hash index of a whole table's column (tables other than sales never change).
    pub(crate) fn cached_index(
        &self,
        table: TableId,
        cols: &[usize],
        build: impl FnOnce() -> HashIndex,
    ) -> Arc<HashIndex> {
        let mut cache = self.index_cache.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(
            cache
                .entry((table, cols.to_vec()))
                .or_insert_with(|| Arc::new(build())),
        )
    }

    /// The dates with possible sales, as an inclusive range.
    pub(crate) fn sales_date_domain(&self) -> (NaiveDate, NaiveDate) {
        (self.first_sales_date, self.last_sales_date())
    }

    /// What the production inventory extract returns for a depot, computed directly from the tables:
    /// active, sold-by-unit articles whose interchange code is a barcode, outside PROCURA, ordered by
    /// article code.
    pub fn expected_inventory(&self, depot: &str) -> Vec<ExpectedInventoryRow> {
        let mut out = Vec::new();
        for s in self.stock(depot) {
            let Some(p) = self.product(&s.article) else {
                continue;
            };
            if !p.active || p.weight_type != 0 || p.department == "000017" {
                continue;
            }
            let Some(barcode) = self
                .codes
                .iter()
                .find(|c| c.article == p.code && c.kind == "BARRA" && c.interchange == 1)
            else {
                continue;
            };
            out.push(ExpectedInventoryRow {
                depot: s.depot.clone(),
                article: p.code.clone(),
                barcode: barcode.code.clone(),
                description: p.description.clone(),
                category: self.category_of(p),
                group: self.group_of(p).map(|g| g.description.clone()),
                subgroup: self.subgroup_of(p).map(|g| g.description.clone()),
                brand: p.brand.clone(),
                quadrant: p.quadrant.clone(),
                cost: p.cost,
                price: p.price,
                tax_rate: p.tax_rate,
                presentation: p.presentation.clone(),
                weight: p.weight,
                volume: p.volume,
                units_per_case: p.units_per_case,
                stock: s.quantity,
            });
        }
        out.sort_by(|a, b| a.article.cmp(&b.article));
        out
    }

    /// What the production sales extract returns for a depot and a half-open window `[from, to)` of
    /// store-local date-times, computed directly from the tables, in (receipt, line) order.
    pub fn expected_sales(
        &self,
        depot: &str,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Vec<ExpectedSalesRow> {
        let mut out = Vec::new();
        let Some(di) = self.depot_index(depot) else {
            return out;
        };
        let mut date = from.date();
        while date <= to.date() {
            let day = self.sales_day_at(di, date);
            for l in &day.lines {
                let r = &day.receipts[l.receipt as usize];
                let datetime = date.and_time(r.time);
                if datetime < from || datetime >= to {
                    continue;
                }
                let p = &self.products[l.article as usize];
                out.push(ExpectedSalesRow {
                    depot: self.depots[di].code.clone(),
                    locality: self.depots[di].locality.clone(),
                    receipt: r.number.clone(),
                    line: l.line_number(),
                    till: r.till.to_owned(),
                    datetime,
                    scanned_code: self.codes[l.code as usize].code.clone(),
                    article: p.code.clone(),
                    description: p.description.clone(),
                    category: self.category_of(p),
                    group: self.group_of(p).map(|g| g.description.clone()),
                    subgroup: self.subgroup_of(p).map(|g| g.description.clone()),
                    brand: p.brand.clone(),
                    quantity: l.quantity(),
                    price: l.price(),
                    subtotal: l.subtotal(),
                    discount: l.discount(),
                    tax: l.tax(),
                    total: l.total(),
                    cost: l.cost(),
                    concept: r.concept.to_owned(),
                    id: l.id,
                });
            }
            match date.succ_opt() {
                Some(d) => date = d,
                None => break,
            }
        }
        out
    }

    fn category_of(&self, p: &Product) -> String {
        let d = self.departments.iter().find(|d| d.code == p.department);
        match d {
            Some(d) if d.description == "CB" => "CANASTA BASICA".to_owned(),
            Some(d) => d.description.clone(),
            None => String::new(),
        }
    }

    fn group_of(&self, p: &Product) -> Option<&Group> {
        self.groups.iter().find(|g| g.code == p.group)
    }

    fn subgroup_of(&self, p: &Product) -> Option<&Subgroup> {
        self.subgroups
            .iter()
            .find(|s| s.code == p.subgroup && s.group == p.group)
    }
}

/// Now in Caracas (UTC−4 all year).
pub(crate) fn caracas_now() -> NaiveDateTime {
    Utc::now().naive_utc() - Duration::hours(4)
}

// --------------------------------------------------------------------------------------------------
// PRNG

/// SplitMix64: tiny, fast, and stable across versions of any crate (the data must never change
/// because a dependency did).
#[derive(Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Mixes values into one seed.
pub(crate) fn mix(parts: &[u64]) -> u64 {
    let mut r = Rng::new(0x51_7c_c1_b7_27_22_0a_95);
    let mut acc = 0u64;
    for p in parts {
        r.0 ^= p.wrapping_mul(0xD6E8_FEB8_6659_FD93);
        acc ^= r.next_u64();
    }
    acc
}

/// FNV-1a, for stable hashes of depot codes.
pub(crate) fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

// --------------------------------------------------------------------------------------------------
// The catalogue

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Seco,
    Frio,
    Verde,
    Procura,
}

struct DeptSpec {
    code: &'static str,
    name: &'static str,
    kind: Kind,
    /// Share of its articles sold by weight.
    by_weight: f64,
    /// Relative number of articles.
    weight: u32,
    /// Price range in bolívares (per unit or per kg).
    price: (i64, i64),
    /// VAT %.
    vat: i64,
    groups: &'static [(&'static str, &'static [&'static str])],
}

const DEPARTMENTS: &[DeptSpec] = &[
    DeptSpec {
        code: "000001",
        name: "VIVERES",
        kind: Kind::Seco,
        by_weight: 0.0,
        weight: 22,
        price: (30, 450),
        vat: 16,
        groups: &[
            (
                "ARROZ",
                &["ARROZ BLANCO TIPO I", "ARROZ PARBOILIZADO", "ARROZ PREMIUM"],
            ),
            (
                "PASTAS",
                &[
                    "PASTA SPAGHETTI",
                    "PASTA VERMICELLI",
                    "PASTA CODITO",
                    "PASTA PLUMITA",
                    "PASTA TORNILLO",
                ],
            ),
            (
                "HARINAS",
                &[
                    "HARINA PRECOCIDA DE MAIZ",
                    "HARINA DE TRIGO TODO USO",
                    "HARINA LEUDANTE",
                ],
            ),
            (
                "ACEITES",
                &[
                    "ACEITE DE SOYA",
                    "ACEITE DE GIRASOL",
                    "ACEITE MIXTO",
                    "ACEITE DE OLIVA EXTRA VIRGEN",
                ],
            ),
            (
                "GRANOS",
                &[
                    "CARAOTAS NEGRAS",
                    "CARAOTAS ROJAS",
                    "LENTEJAS",
                    "ARVEJAS",
                    "FRIJOLES",
                ],
            ),
            (
                "CAFE",
                &[
                    "CAFE MOLIDO TRADICIONAL",
                    "CAFE MOLIDO GOURMET",
                    "CAFE EN GRANO",
                ],
            ),
            (
                "ENLATADOS",
                &[
                    "ATUN EN ACEITE",
                    "ATUN EN AGUA",
                    "SARDINAS EN TOMATE",
                    "MAIZ DULCE",
                    "PETIT POIS",
                ],
            ),
            (
                "SALSAS",
                &["SALSA DE TOMATE", "MAYONESA", "MOSTAZA", "SALSA INGLESA"],
            ),
        ],
    },
    DeptSpec {
        code: "000002",
        name: "CHARCUTERIA",
        kind: Kind::Frio,
        by_weight: 0.5,
        weight: 7,
        price: (180, 1400),
        vat: 16,
        groups: &[
            (
                "JAMONES",
                &["JAMON DE PIERNA", "JAMON DE ESPALDA", "JAMON AHUMADO"],
            ),
            (
                "QUESOS",
                &[
                    "QUESO BLANCO DURO",
                    "QUESO GOUDA",
                    "QUESO MOZZARELLA",
                    "QUESO AMARILLO",
                ],
            ),
            (
                "EMBUTIDOS",
                &["SALCHICHON", "MORTADELA", "CHORIZO", "SALCHICHAS"],
            ),
        ],
    },
    DeptSpec {
        code: "000003",
        name: "CARNICERIA",
        kind: Kind::Frio,
        by_weight: 1.0,
        weight: 4,
        price: (250, 1100),
        vat: 0,
        groups: &[
            (
                "RES",
                &[
                    "CARNE MOLIDA",
                    "BISTEC DE RES",
                    "LAGARTO",
                    "COSTILLA DE RES",
                ],
            ),
            ("CERDO", &["CHULETA DE CERDO", "PERNIL", "TOCINETA"]),
        ],
    },
    DeptSpec {
        code: "000004",
        name: "FRUVER",
        kind: Kind::Verde,
        by_weight: 0.85,
        weight: 6,
        price: (25, 260),
        vat: 0,
        groups: &[
            (
                "FRUTAS",
                &[
                    "CAMBUR", "MANZANA", "NARANJA", "LECHOSA", "PATILLA", "PIÑA", "MANGO",
                ],
            ),
            (
                "VERDURAS",
                &[
                    "TOMATE",
                    "CEBOLLA",
                    "PAPA",
                    "ZANAHORIA",
                    "PIMENTON",
                    "AJI DULCE",
                ],
            ),
            (
                "HORTALIZAS",
                &["LECHUGA", "CILANTRO", "CELERY", "AJO PORRO"],
            ),
        ],
    },
    DeptSpec {
        code: "000005",
        name: "LACTEOS",
        kind: Kind::Frio,
        by_weight: 0.0,
        weight: 6,
        price: (40, 520),
        vat: 16,
        groups: &[
            (
                "LECHES",
                &["LECHE COMPLETA", "LECHE DESCREMADA", "LECHE EN POLVO"],
            ),
            (
                "YOGURES",
                &["YOGURT FRESA", "YOGURT NATURAL", "YOGURT DURAZNO"],
            ),
            ("MANTEQUILLAS", &["MANTEQUILLA", "MARGARINA", "NATA"]),
        ],
    },
    DeptSpec {
        code: "000006",
        name: "CONGELADOS",
        kind: Kind::Frio,
        by_weight: 0.0,
        weight: 5,
        price: (90, 780),
        vat: 16,
        groups: &[
            (
                "POLLO CONGELADO",
                &["MUSLOS DE POLLO", "PECHUGA DE POLLO", "ALAS DE POLLO"],
            ),
            (
                "HELADOS",
                &[
                    "HELADO DE CHOCOLATE",
                    "HELADO DE MANTECADO",
                    "HELADO DE FRESA",
                ],
            ),
            (
                "VEGETALES CONGELADOS",
                &["VEGETALES MIXTOS", "PAPAS PREFRITAS"],
            ),
        ],
    },
    DeptSpec {
        code: "000007",
        name: "LICORES",
        kind: Kind::Seco,
        by_weight: 0.0,
        weight: 5,
        price: (35, 2400),
        vat: 16,
        groups: &[
            (
                "CERVEZAS",
                &["CERVEZA PILSEN", "CERVEZA LIGHT", "CERVEZA NEGRA"],
            ),
            ("RONES", &["RON AÑEJO", "RON BLANCO", "RON RESERVA"]),
            ("VINOS", &["VINO TINTO", "VINO BLANCO", "VINO ROSADO"]),
        ],
    },
    DeptSpec {
        code: "000008",
        name: "LIMPIEZA",
        kind: Kind::Seco,
        by_weight: 0.0,
        weight: 8,
        price: (25, 600),
        vat: 16,
        groups: &[
            (
                "DETERGENTES",
                &["DETERGENTE EN POLVO", "DETERGENTE LIQUIDO", "LAVAPLATOS"],
            ),
            (
                "DESINFECTANTES",
                &["CLORO", "DESINFECTANTE LAVANDA", "DESINFECTANTE PINO"],
            ),
            (
                "PAPEL",
                &["PAPEL HIGIENICO", "SERVILLETAS", "PAPEL ABSORBENTE"],
            ),
        ],
    },
    DeptSpec {
        code: "000009",
        name: "CUIDADO PERSONAL",
        kind: Kind::Seco,
        by_weight: 0.0,
        weight: 8,
        price: (30, 700),
        vat: 16,
        groups: &[
            ("JABONES", &["JABON DE BAÑO", "JABON ANTIBACTERIAL"]),
            ("CHAMPU", &["CHAMPU", "ACONDICIONADOR", "CREMA PARA PEINAR"]),
            (
                "HIGIENE DENTAL",
                &["CREMA DENTAL", "CEPILLO DENTAL", "ENJUAGUE BUCAL"],
            ),
        ],
    },
    DeptSpec {
        code: "000010",
        name: "PANADERIA",
        kind: Kind::Seco,
        by_weight: 0.0,
        weight: 4,
        price: (15, 240),
        vat: 16,
        groups: &[
            ("PANES", &["PAN CANILLA", "PAN DE SANDWICH", "PAN DULCE"]),
            (
                "GALLETAS",
                &["GALLETAS MARIA", "GALLETAS DE SODA", "GALLETAS RELLENAS"],
            ),
        ],
    },
    DeptSpec {
        code: "000011",
        name: "BEBIDAS",
        kind: Kind::Seco,
        by_weight: 0.0,
        weight: 7,
        price: (20, 220),
        vat: 16,
        groups: &[
            (
                "REFRESCOS",
                &["REFRESCO COLA", "REFRESCO NARANJA", "REFRESCO LIMON"],
            ),
            ("AGUAS", &["AGUA MINERAL", "AGUA SABORIZADA"]),
            (
                "JUGOS",
                &["JUGO DE NARANJA", "NECTAR DE DURAZNO", "NECTAR DE PERA"],
            ),
        ],
    },
    DeptSpec {
        code: "000012",
        name: "CB",
        kind: Kind::Seco,
        by_weight: 0.0,
        weight: 3,
        price: (18, 160),
        vat: 0,
        groups: &[
            (
                "PRODUCTOS REGULADOS",
                &[
                    "ARROZ REGULADO",
                    "HARINA DE MAIZ REGULADA",
                    "ACEITE REGULADO",
                    "LECHE EN POLVO REGULADA",
                ],
            ),
            (
                "AZUCAR Y SAL",
                &["AZUCAR REFINADA", "AZUCAR MORENA", "SAL REFINADA"],
            ),
        ],
    },
    DeptSpec {
        code: "000013",
        name: "CHUCHERIAS",
        kind: Kind::Seco,
        by_weight: 0.0,
        weight: 5,
        price: (10, 180),
        vat: 16,
        groups: &[
            (
                "CHOCOLATES",
                &["CHOCOLATE CON LECHE", "CHOCOLATE OSCURO", "BOMBONES"],
            ),
            (
                "SNACKS",
                &["PAPITAS", "TOSTONES", "PEPITO", "PALITOS DE QUESO"],
            ),
            ("CARAMELOS", &["CARAMELOS SURTIDOS", "CHUPETAS", "CHICLES"]),
        ],
    },
    DeptSpec {
        code: "000014",
        name: "HOGAR",
        kind: Kind::Seco,
        by_weight: 0.0,
        weight: 4,
        price: (40, 2200),
        vat: 16,
        groups: &[
            ("COCINA", &["OLLA", "SARTEN", "JUEGO DE VASOS"]),
            ("ILUMINACION", &["BOMBILLO LED", "LINTERNA"]),
            ("PILAS", &["PILAS AA", "PILAS AAA"]),
        ],
    },
    DeptSpec {
        code: "000015",
        name: "MASCOTAS",
        kind: Kind::Seco,
        by_weight: 0.0,
        weight: 2,
        price: (60, 1500),
        vat: 16,
        groups: &[
            (
                "PERROS",
                &["ALIMENTO PARA PERROS ADULTOS", "ALIMENTO PARA CACHORROS"],
            ),
            ("GATOS", &["ALIMENTO PARA GATOS", "ARENA PARA GATOS"]),
        ],
    },
    DeptSpec {
        code: "000016",
        name: "PESCADERIA",
        kind: Kind::Frio,
        by_weight: 1.0,
        weight: 2,
        price: (300, 1800),
        vat: 0,
        groups: &[
            (
                "PESCADOS",
                &["FILETE DE MERLUZA", "PARGO", "CURVINA", "SALMON"],
            ),
            ("MARISCOS", &["CAMARONES", "CALAMARES"]),
        ],
    },
    DeptSpec {
        code: "000017",
        name: "PROCURA",
        kind: Kind::Procura,
        by_weight: 0.0,
        weight: 2,
        price: (5, 300),
        vat: 16,
        groups: &[(
            "SUMINISTROS",
            &[
                "BOLSAS PLASTICAS",
                "ETIQUETAS TERMICAS",
                "ROLLOS DE PAPEL PARA CAJA",
                "GUANTES DESECHABLES",
            ],
        )],
    },
    DeptSpec {
        code: "000018",
        name: "AVES Y HUEVOS",
        kind: Kind::Frio,
        by_weight: 0.6,
        weight: 3,
        price: (120, 700),
        vat: 0,
        groups: &[
            (
                "POLLO FRESCO",
                &[
                    "POLLO ENTERO",
                    "PECHUGA DE POLLO FRESCA",
                    "MUSLO DE POLLO FRESCO",
                ],
            ),
            ("HUEVOS", &["HUEVOS BLANCOS", "HUEVOS ROJOS"]),
        ],
    },
    DeptSpec {
        code: "000019",
        name: "FLORES Y PLANTAS",
        kind: Kind::Verde,
        by_weight: 0.0,
        weight: 1,
        price: (40, 500),
        vat: 16,
        groups: &[
            ("FLORES", &["RAMO DE ROSAS", "GIRASOLES"]),
            ("PLANTAS", &["MATA DE SABILA", "HELECHO"]),
        ],
    },
    DeptSpec {
        code: "000020",
        name: "GRANEL",
        kind: Kind::Seco,
        by_weight: 1.0,
        weight: 2,
        price: (60, 900),
        vat: 16,
        groups: &[
            (
                "FRUTOS SECOS",
                &["MANI SALADO", "MEREY", "ALMENDRAS", "PASAS"],
            ),
            ("GRANOS A GRANEL", &["AVENA EN HOJUELAS", "MAIZ PILADO"]),
        ],
    },
];

const SUBGROUPS: &[&str] = &["NACIONAL", "IMPORTADO", "MARCA PROPIA"];

const BRANDS: &[&str] = &[
    "LA GRANJA",
    "DOÑA ROSA",
    "CAMPO VERDE",
    "SOL ANDINO",
    "LA CASERA",
    "AVILA",
    "TACARIGUA",
    "LOS ANDES",
    "ORINOCO",
    "CARIBE",
    "TEPUY",
    "MORROCOY",
    "GUAYANA",
    "LLANERA",
    "ARAGUANEY",
    "MI TIERRA",
    "DON PANCHO",
    "PUNTO ROJO",
    "LA MONTAÑA",
    "CUMBRE",
    "BRISA",
    "EL TUNAL",
    "SAN DIEGO",
    "VALLE ALTO",
    "MARGARITA",
    "CANAIMA",
    "PARAGUANA",
    "COROMOTO",
    "LAS NIEVES",
    "EL SAMAN",
];

/// (presentation, weight kg, volume l, units per case), by kind of article.
type Presentation = (&'static str, f64, f64, f64);

const LIQUID_PRESENTATIONS: &[Presentation] = &[
    ("1 LT", 1.0, 1.0, 12.0),
    ("2 LT", 2.0, 2.0, 6.0),
    ("355 ML", 0.355, 0.355, 24.0),
    ("500 ML", 0.5, 0.5, 24.0),
    ("750 ML", 0.75, 0.75, 12.0),
];

const SOLID_PRESENTATIONS: &[Presentation] = &[
    ("1 KG", 1.0, 0.0, 20.0),
    ("500 GR", 0.5, 0.0, 24.0),
    ("250 GR", 0.25, 0.0, 24.0),
    ("2 KG", 2.0, 0.0, 10.0),
    ("900 GR", 0.9, 0.0, 20.0),
];

const ITEM_PRESENTATIONS: &[Presentation] = &[
    ("UND", 0.2, 0.0, 12.0),
    ("PAQ 4", 0.6, 0.0, 12.0),
    ("PAQ 12", 1.5, 0.0, 6.0),
];

const LIQUIDS: &[&str] = &[
    "ACEITE",
    "LECHE COMPLETA",
    "LECHE DESCREMADA",
    "YOGURT",
    "JUGO",
    "NECTAR",
    "REFRESCO",
    "AGUA",
    "CERVEZA",
    "RON ",
    "VINO",
    "CLORO",
    "LIQUIDO",
    "DESINFECTANTE",
    "CHAMPU",
    "ACONDICIONADOR",
    "ENJUAGUE",
    "LAVAPLATOS",
    "SALSA INGLESA",
    "CREMA PARA PEINAR",
];

const ITEMS: &[&str] = &[
    "OLLA",
    "SARTEN",
    "VASOS",
    "BOMBILLO",
    "LINTERNA",
    "PILAS",
    "CEPILLO",
    "RAMO",
    "GIRASOLES",
    "MATA ",
    "HELECHO",
    "PAN ",
    "HUEVOS",
    "JABON",
    "PAPEL",
    "SERVILLETAS",
    "BOLSAS",
    "ETIQUETAS",
    "ROLLOS",
    "GUANTES",
    "CHUPETAS",
    "CHICLES",
    "CREMA DENTAL",
    "BOMBONES",
    "HELADO",
];

fn presentations_for(noun: &str) -> &'static [Presentation] {
    let padded = format!("{noun} ");
    if LIQUIDS.iter().any(|k| padded.contains(k)) {
        LIQUID_PRESENTATIONS
    } else if ITEMS.iter().any(|k| padded.contains(k)) {
        ITEM_PRESENTATIONS
    } else {
        SOLID_PRESENTATIONS
    }
}

const QUADRANTS: &[&str] = &[
    "CUADRANTE I",
    "CUADRANTE II",
    "CUADRANTE III",
    "CUADRANTE IV",
    "CUADRANTE V",
    "CUADRANTE VI",
    "CUADRANTE VII",
    "CUADRANTE VIII",
    "CUADRANTE IX",
    "CUADRANTE X",
    "CUADRANTE XI",
    "CUADRANTE XII",
];

fn kind_of(dept: &str) -> Kind {
    DEPARTMENTS
        .iter()
        .find(|d| d.code == dept)
        .map(|d| d.kind)
        .unwrap_or(Kind::Seco)
}

fn carries(assortment: Assortment, kind: Kind) -> bool {
    match assortment {
        Assortment::All => true,
        Assortment::Seco => matches!(kind, Kind::Seco | Kind::Procura),
        Assortment::Frio => matches!(kind, Kind::Frio | Kind::Procura),
        Assortment::Verde => matches!(kind, Kind::Verde | Kind::Procura),
    }
}

fn ean13(body12: &str) -> String {
    let sum: u32 = body12
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    format!("{body12}{}", (10 - sum % 10) % 10)
}

fn gtin14(ean: &str) -> String {
    let body: String = std::iter::once('1').chain(ean.chars().take(12)).collect();
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

fn build(config: &StellarSimConfig) -> SimTables {
    let seed = config.seed;
    let mut rng = Rng::new(mix(&[seed, 1]));

    // Departments, groups, subgroups.
    let mut departments = Vec::new();
    let mut groups = Vec::new();
    let mut subgroups = Vec::new();
    // (department index, group code, its subgroup codes)
    let mut group_slots: Vec<(usize, String, Vec<String>, &'static [&'static str])> = Vec::new();
    let mut group_seq = 0;
    for (di, d) in DEPARTMENTS.iter().enumerate() {
        departments.push(Department {
            code: d.code.to_owned(),
            description: d.name.to_owned(),
        });
        for (gname, nouns) in d.groups {
            group_seq += 1;
            let gcode = format!("{group_seq:06}");
            groups.push(Group {
                code: gcode.clone(),
                description: (*gname).to_owned(),
                department: d.code.to_owned(),
            });
            let n_sub = 2 + rng.below(2) as usize;
            let mut subs = Vec::new();
            for (si, sname) in SUBGROUPS.iter().take(n_sub).enumerate() {
                let scode = format!("{:06}", si + 1);
                subgroups.push(Subgroup {
                    code: scode.clone(),
                    description: format!("{gname} {sname}"),
                    group: gcode.clone(),
                });
                subs.push(scode);
            }
            group_slots.push((di, gcode, subs, nouns));
        }
    }

    // Articles.
    let n_articles = config.articles.max(1) as usize;
    let total_weight: u32 = DEPARTMENTS.iter().map(|d| d.weight).sum();
    let mut products = Vec::with_capacity(n_articles);
    let mut codes = Vec::with_capacity(n_articles * 3);
    let mut article_codes = Vec::with_capacity(n_articles);
    let mut sku = 1000u64;
    let epoch = NaiveDate::from_ymd_opt(2012, 1, 1)
        .unwrap_or(NaiveDate::MIN)
        .and_time(NaiveTime::MIN);
    for i in 0..n_articles {
        // Pick a department by weight, then a group of it.
        let mut pick = rng.below(u64::from(total_weight)) as u32;
        let mut di = 0;
        for (k, d) in DEPARTMENTS.iter().enumerate() {
            if pick < d.weight {
                di = k;
                break;
            }
            pick -= d.weight;
        }
        let dspec = &DEPARTMENTS[di];
        let candidates: Vec<usize> = group_slots
            .iter()
            .enumerate()
            .filter(|(_, g)| g.0 == di)
            .map(|(k, _)| k)
            .collect();
        let (_, gcode, subs, nouns) = &group_slots[*rng.pick(&candidates)];
        let mut subgroup = rng.pick(subs).clone();
        if rng.chance(0.01) {
            // An orphan: points at a subgroup that is not in MA_SUBGRUPOS.
            subgroup = "000099".to_owned();
        }
        let by_weight = rng.chance(dspec.by_weight);
        let noun = *rng.pick(nouns);
        let brand = (*rng.pick(BRANDS)).to_owned();
        let (presentation, weight, volume, per_case) = if by_weight {
            ("KG".to_owned(), 1.0, 0.0, 1.0)
        } else {
            let p = rng.pick(presentations_for(noun));
            (p.0.to_owned(), p.1, p.2, p.3)
        };
        let mut description = format!("{noun} {brand} {presentation}");
        if rng.chance(0.03) {
            description.push_str("  ");
        }
        sku += 1 + rng.below(13);
        let code = format!("{sku:06}");
        let price_cents = rng.range(dspec.price.0 * 100, dspec.price.1 * 100);
        let price = Decimal::new(price_cents, 2);
        let margin = 1.12 + rng.unit() * 0.35;
        let cost = (price / Decimal::from_f64_retain(margin).unwrap_or(Decimal::ONE))
            .round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero);
        let vat = if dspec.vat == 16 && rng.chance(0.05) {
            8
        } else {
            dspec.vat
        };
        let added = epoch
            + Duration::days(rng.range(0, 4000))
            + Duration::seconds(rng.range(28_800, 64_800));
        let updated =
            added + Duration::days(rng.range(0, 900)) + Duration::seconds(rng.range(0, 7200));
        let weight_type = if by_weight {
            if rng.chance(0.8) {
                1
            } else {
                2
            }
        } else {
            0
        };
        let product = Product {
            id: i as i32 + 1,
            code: code.clone(),
            description,
            department: dspec.code.to_owned(),
            group: gcode.clone(),
            subgroup,
            brand,
            model: if rng.chance(0.15) {
                format!("M-{}", rng.range(100, 9999))
            } else {
                String::new()
            },
            presentation,
            quadrant: if rng.chance(0.03) {
                None
            } else {
                Some((*rng.pick(QUADRANTS)).to_owned())
            },
            cost,
            price,
            tax_rate: Decimal::new(vat * 100, 2),
            weight,
            volume,
            units_per_case: per_case,
            weight_type,
            active: !rng.chance(0.07),
            added,
            updated,
        };

        // Codes.
        let mut ac = ArticleCodes::default();
        let push = |codes: &mut Vec<Code>,
                    c: String,
                    kind: &str,
                    interchange: i32,
                    quantity: f64|
         -> u32 {
            codes.push(Code {
                article: code.clone(),
                code: c,
                kind: kind.to_owned(),
                interchange,
                quantity,
            });
            (codes.len() - 1) as u32
        };
        ac.internal = push(&mut codes, code.clone(), "CODIGO INTERNO", 0, 1.0);
        let body = |k: u64| -> String {
            // A bijection on 0..10^9 keeps barcodes unique while looking random.
            let x = ((i as u64) * 10 + k)
                .wrapping_mul(7)
                .wrapping_add(123_456_789)
                % 1_000_000_000;
            ean13(&format!("759{x:09}"))
        };
        if by_weight {
            ac.interchange = Some(push(
                &mut codes,
                format!("2{:05}0", i % 100_000),
                "PESO",
                1,
                1.0,
            ));
            if rng.chance(0.3) {
                ac.extra = Some(push(&mut codes, body(1), "BARRA", 0, 1.0));
            }
        } else {
            let r = rng.unit();
            let primary = body(0);
            if r < 0.92 {
                ac.interchange = Some(push(&mut codes, primary.clone(), "BARRA", 1, 1.0));
            } else if r < 0.95 {
                ac.interchange = Some(push(&mut codes, format!("A{code}"), "ALTERNO", 1, 1.0));
            }
            if rng.chance(0.2) {
                ac.extra = Some(push(&mut codes, body(1), "BARRA", 0, 1.0));
            }
            if rng.chance(0.15) {
                push(&mut codes, gtin14(&primary), "BULTO", 0, per_case);
            }
        }
        article_codes.push(ac);
        products.push(product);
    }
    let product_by_code: HashMap<String, u32> = products
        .iter()
        .enumerate()
        .map(|(i, p)| (p.code.clone(), i as u32))
        .collect();

    // Stock per depot, and what each depot sells.
    let mut stock = Vec::with_capacity(config.depots.len());
    let mut sellable = Vec::with_capacity(config.depots.len());
    let mut id = 0i32;
    for depot in &config.depots {
        let mut r = Rng::new(mix(&[seed, 2, fnv(&depot.code)]));
        let cedi = depot.assortment != Assortment::All;
        let mut rows = Vec::new();
        let mut sells = Vec::new();
        for (pi, p) in products.iter().enumerate() {
            let kind = kind_of(&p.department);
            if !carries(depot.assortment, kind) || !r.chance(if cedi { 0.97 } else { 0.9 }) {
                continue;
            }
            id += 1;
            let scale = if cedi { 2000.0 } else { 180.0 };
            let roll = r.unit();
            let mut quantity = if roll < 0.05 {
                0.0
            } else if roll < 0.08 {
                -(1.0 + r.below(40) as f64)
            } else {
                (r.unit() * scale).floor() + 1.0
            };
            if p.weight_type != 0 && quantity != 0.0 {
                quantity = (quantity * 0.37 + r.unit()).abs().copysign(quantity);
                quantity = (quantity * 1000.0).round() / 1000.0;
            }
            let committed = if r.chance(0.1) && quantity > 0.0 {
                (quantity * 0.1).floor()
            } else {
                0.0
            };
            let ordered = if r.chance(0.15) {
                (r.unit() * scale * 0.5).floor()
            } else {
                0.0
            };
            rows.push(StockRow {
                id,
                depot: depot.code.clone(),
                article: p.code.clone(),
                quantity,
                committed,
                ordered,
            });
            if p.active && kind != Kind::Procura {
                sells.push(pi as u32);
            }
        }
        // Popularity: a per-depot shuffle; sales draw low indexes more often.
        for k in (1..sells.len()).rev() {
            let j = r.below(k as u64 + 1) as usize;
            sells.swap(k, j);
        }
        stock.push(rows);
        sellable.push(sells);
    }

    SimTables {
        seed,
        depots: config.depots.clone(),
        departments,
        groups,
        subgroups,
        products,
        codes,
        stock,
        sales_lines_per_day: config.sales_lines_per_day,
        first_sales_date: config.first_sales_date,
        hora_base_date: config.hora_base_date,
        live_today: config.live_today,
        article_codes,
        sellable,
        product_by_code,
        sales_cache: Mutex::new(SalesCache::default()),
        index_cache: Mutex::new(HashMap::new()),
    }
}

/// Days since 2000-01-01: the base of receipt numbers and line IDs.
fn day_index(date: NaiveDate) -> i64 {
    (date - NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or(NaiveDate::MIN))
        .num_days()
        .max(0)
}

/// A depot's number inside line IDs: its code when numeric, a stable hash otherwise.
pub(crate) fn depot_number(code: &str) -> i64 {
    match code.parse::<i64>() {
        Ok(n) if (0..10_000).contains(&n) => n,
        _ => (fnv(code) % 10_000) as i64,
    }
}

fn generate_sales(tables: &SimTables, depot: usize, date: NaiveDate) -> SalesDay {
    let fecha = date.and_time(NaiveTime::MIN);
    let mut day = SalesDay {
        depot_index: depot,
        date,
        fecha,
        receipts: Vec::new(),
        lines: Vec::new(),
        hora: Vec::new(),
    };
    let (first, last) = tables.sales_date_domain();
    let sells = &tables.sellable[depot];
    if date < first || date > last || (date.month() == 1 && date.day() == 1) || sells.is_empty() {
        return day;
    }
    let code = &tables.depots[depot].code;
    let mut rng = Rng::new(mix(&[
        tables.seed,
        3,
        fnv(code),
        date.num_days_from_ce() as u64,
    ]));
    let (lo, hi) = tables.sales_lines_per_day;
    let factor = match date.weekday() {
        Weekday::Sun => 0.7,
        Weekday::Sat => 1.15,
        Weekday::Fri => 1.1,
        _ => 1.0,
    };
    let target = (rng.range(i64::from(lo), i64::from(hi.max(lo))) as f64 * factor) as usize;
    if target == 0 {
        return day;
    }
    let tills = 3 + (fnv(code) % 6) as usize;
    let n_receipts = (target / 8).max(1);

    // Receipt times: two rush hours over a steady background, 07:00–21:30.
    let mut times: Vec<u32> = (0..n_receipts)
        .map(|_| {
            let u = rng.unit();
            let secs = if u < 0.3 {
                45_000.0 + gaussian(&mut rng) * 3_600.0
            } else if u < 0.6 {
                66_600.0 + gaussian(&mut rng) * 3_600.0
            } else {
                25_200.0 + rng.unit() * 52_200.0
            };
            secs.clamp(25_200.0, 77_399.0) as u32
        })
        .collect();
    times.sort_unstable();

    let base_number = day_index(date) * 100_000;
    let base_id = (day_index(date) * 10_000 + depot_number(code)) * 1_000_000;
    let hora_base = tables.hora_base_date.and_time(NaiveTime::MIN);
    let mut line_seq = 0i64;
    day.receipts.reserve(n_receipts);
    day.hora.reserve(n_receipts);
    day.lines.reserve(target + 64);
    for (ri, secs) in times.iter().enumerate() {
        let time =
            NaiveTime::from_num_seconds_from_midnight_opt(*secs, 0).unwrap_or(NaiveTime::MIN);
        let dev = rng.chance(0.01);
        let n_lines = if dev {
            1 + rng.below(2) as usize
        } else {
            1 + geometric(&mut rng, 7.0).min(39)
        };
        let (mut sub, mut tax, mut total) = (0i64, 0i64, 0i64);
        for ln in 0..n_lines {
            let u = rng.unit();
            let ai = sells[((u * u) * sells.len() as f64) as usize % sells.len()];
            let p = &tables.products[ai as usize];
            let ac = &tables.article_codes[ai as usize];
            let roll = rng.unit();
            let code_idx = if p.weight_type != 0 {
                if roll < 0.9 {
                    ac.interchange.unwrap_or(ac.internal)
                } else {
                    ac.internal
                }
            } else if roll < 0.85 {
                ac.interchange.unwrap_or(ac.internal)
            } else if roll < 0.9 {
                ac.extra.or(ac.interchange).unwrap_or(ac.internal)
            } else {
                ac.internal
            };
            let qty_milli = if p.weight_type != 0 {
                rng.range(150, 3500)
            } else if rng.chance(0.7) {
                1000
            } else {
                rng.range(2, 6) * 1000
            };
            let price_cents = cents(p.price);
            let subtotal = round_div(i128::from(qty_milli) * i128::from(price_cents), 1000);
            let discount = if rng.chance(0.04) {
                round_div(i128::from(subtotal) * 10, 100)
            } else {
                0
            };
            let rate_bp = cents(p.tax_rate); // VAT % × 100
            let line_tax = round_div(
                i128::from(subtotal - discount) * i128::from(rate_bp),
                10_000,
            );
            let line_total = subtotal - discount + line_tax;
            sub += subtotal - discount;
            tax += line_tax;
            total += line_total;
            line_seq += 1;
            day.lines.push(SalesLine {
                id: base_id + line_seq,
                receipt: ri as u32,
                line: (ln + 1) as u16,
                code: code_idx,
                article: ai,
                qty_milli,
                price_cents,
                subtotal_cents: subtotal,
                discount_cents: discount,
                tax_cents: line_tax,
                total_cents: line_total,
                cost_e4: (p.cost * Decimal::new(10_000, 0)).trunc().mantissa() as i64,
            });
        }
        day.receipts.push(Receipt {
            number: format!("{:010}", base_number + ri as i64 + 1),
            till: TILLS[rng.below(tills as u64) as usize],
            time,
            concept: if dev { "DEV" } else { "VEN" },
            subtotal: Decimal::new(sub, 2),
            tax: Decimal::new(tax, 2),
            total: Decimal::new(total, 2),
            lines: n_lines as i32,
        });
        day.hora
            .push(hora_base + Duration::seconds(i64::from(time.num_seconds_from_midnight())));
    }
    day
}

fn cents(d: Decimal) -> i64 {
    let mut d = d;
    d.rescale(2);
    d.mantissa() as i64
}

/// `n / d` rounded half away from zero.
fn round_div(n: i128, d: i128) -> i64 {
    let q = (n.abs() * 2 + d) / (2 * d);
    (if n < 0 { -q } else { q }) as i64
}

fn gaussian(rng: &mut Rng) -> f64 {
    // Irwin–Hall approximation: cheap and good enough for rush hours.
    (0..6).map(|_| rng.unit()).sum::<f64>() - 3.0
}

fn geometric(rng: &mut Rng, mean: f64) -> usize {
    let u = rng.unit().max(1e-12);
    (u.ln() / (1.0 - 1.0 / mean).ln()).floor() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables() -> SimTables {
        SimTables::new(&StellarSimConfig::default())
    }

    #[test]
    fn same_seed_same_data_other_seed_other_data() {
        let a = tables();
        let b = tables();
        assert_eq!(a.products, b.products);
        assert_eq!(a.codes, b.codes);
        let c = SimTables::new(&StellarSimConfig {
            seed: 99,
            ..StellarSimConfig::default()
        });
        assert_ne!(a.products, c.products);
    }

    #[test]
    fn catalogue_has_the_shapes_the_extractor_must_handle() {
        let t = tables();
        assert_eq!(t.products.len(), 4000);
        assert!(t
            .products
            .iter()
            .all(|p| p.code.len() == 6 && p.code.starts_with('0')));
        assert!(t
            .departments
            .iter()
            .any(|d| d.code == "000017" && d.description == "PROCURA"));
        assert!(t.departments.iter().any(|d| d.description == "CB"));
        assert!(t.products.iter().any(|p| p.department == "000017"));
        assert!(t.products.iter().any(|p| p.weight_type != 0));
        assert!(t.products.iter().any(|p| !p.active));
        assert!(t.products.iter().any(|p| p.quadrant.is_none()));
        let mut seen = std::collections::HashSet::new();
        assert!(
            t.codes.iter().all(|c| seen.insert(c.code.clone())),
            "codes are unique"
        );
        // At most one BARRA interchange code per article.
        let mut per_article: HashMap<&str, usize> = HashMap::new();
        for c in t
            .codes
            .iter()
            .filter(|c| c.kind == "BARRA" && c.interchange == 1)
        {
            *per_article.entry(&c.article).or_default() += 1;
        }
        assert!(per_article.values().all(|&n| n == 1));
        assert!(t
            .codes
            .iter()
            .any(|c| c.kind == "BARRA" && c.interchange == 0));
        assert!(t.codes.iter().any(|c| c.kind == "ALTERNO"));
        let stock = t.stock("1413");
        assert!(stock.iter().any(|s| s.quantity < 0.0));
        assert!(
            t.stock("1710").iter().any(|s| s.quantity.fract() != 0.0),
            "by-weight stock in CEDI Frío"
        );
        assert!(!t.expected_inventory("1413").is_empty());
    }

    #[test]
    fn sales_are_deterministic_per_depot_and_date() {
        let t = tables();
        let d = NaiveDate::from_ymd_opt(2024, 3, 15).unwrap();
        let a = t.sales_day("1413", d);
        let t2 = tables();
        let b = t2.sales_day("1413", d);
        assert_eq!(a.lines, b.lines);
        assert!(a.lines.len() >= 10_000, "{}", a.lines.len());
        let other = t.sales_day("1710", d);
        assert_ne!(a.lines.len(), other.lines.len());
        // Receipt numbers and IDs grow with time.
        assert!(a
            .receipts
            .windows(2)
            .all(|w| w[0].number < w[1].number && w[0].time <= w[1].time));
        assert!(a.lines.windows(2).all(|w| w[0].id < w[1].id));
        // Amounts add up.
        for l in a.lines.iter().take(500) {
            assert_eq!(l.total(), l.subtotal() - l.discount() + l.tax());
        }
        assert!(t
            .sales_day("1413", NaiveDate::from_ymd_opt(2024, 1, 1).unwrap())
            .lines
            .is_empty());
        assert!(t.sales_day("9999", d).lines.is_empty());
    }

    #[test]
    fn ean13_check_digits_are_valid() {
        assert_eq!(ean13("759123456789"), "7591234567894");
        assert_eq!(gtin14("7591234567892").len(), 14);
    }
}
