//! Stellar rows → [`SaleLine`]s and [`InventoryItem`]s.
//!
//! The column lists of the two queries live here, beside the code that reads them, so that the
//! order a row is read in cannot drift from the order it was asked for: [`SALES_COLUMNS`] and
//! [`INVENTORY_COLUMNS`] are turned into the `SELECT` lists by [`select_list`], and a row's
//! values are taken in that order, by value ([`tiberius::Row`] yields owned cells, so the
//! strings tiberius decoded are moved into the records, not copied).
//!
//! # Mapping
//! * Text is kept as stored except for trailing blanks (old Stellar rows pad `c_Descri`
//!   and friends with spaces); an empty optional text is `None`. Codes keep their leading zeros.
//! * `DECIMAL` values convert exactly through `rust_decimal` from tiberius' `Numeric` (value and
//!   scale), never through text. `FLOAT` columns (weights, stock) convert through their
//!   shortest round-trip decimal text, so a stock of `0.1` is `0.1`, not
//!   `0.1000000000000000055511151231257827`.
//! * A line's time is `f_Fecha` + `h_Hora` combined by the server as store-local wall-clock time
//!   (the query casts each part before adding them, which keeps VB6's 1899-12-30 times right);
//!   it becomes `sold_at` in UTC via [`local_to_utc`], and its date is the `business_date`.
//!   DATETIME's 1/300 s ticks are truncated to the microsecond the destinations store.
//! * Amounts are the store's currency as Stellar keeps it (bolívars): `Precio` →
//!   `unit_price_bs`, `n_Costo` → `unit_cost_bs`, `Total` → `total_bs`, `Impuesto` →
//!   `tax_amount`, `Descuento` → `discount_amount`, `Subtotal` → `subtotal`. Nothing is derived
//!   (no profit, no VAT rate: the article's current rate is not the rate of a past sale).
//! * `invoice_number` is `c_Numero` alone: `STELLAR.md` identifies a line by (store, receipt
//!   number, line number). The query pages on (`c_Numero`, `n_Linea`, `c_Caja`) all the same, and
//!   the extractor fails the unit if two lines share a receipt and line number (receipt numbers
//!   repeating across tills), rather than let the destination keep one of them silently.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use rust_decimal::Decimal;
use tiberius::{ColumnData, FromSql, Row};

use crate::model::{local_to_utc, InventoryItem, SaleLine, StoreId};
use crate::tracker::ErrorCategory;

/// One column of a query: the expression and the alias it is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Column {
    /// T-SQL expression.
    pub expr: &'static str,
    /// `AS` alias (what error messages name).
    pub alias: &'static str,
}

const fn col(expr: &'static str, alias: &'static str) -> Column {
    Column { expr, alias }
}

/// The department's description, with 'CB' shown as 'CANASTA BASICA' (production's rule).
pub(crate) const CATEGORY_EXPR: &str =
    "CASE WHEN D.C_DESCRIPCIO = 'CB' THEN 'CANASTA BASICA' ELSE D.C_DESCRIPCIO END";

/// A line's store-local date and time. Each part is cast first: adding the raw DATETIME values
/// would shift the result by two days when `h_Hora` carries VB6's 1899-12-30.
pub(crate) const LINE_TIME_EXPR: &str =
    "CAST(CAST(T.f_Fecha AS DATE) AS DATETIME) + CAST(CAST(T.h_Hora AS TIME) AS DATETIME)";

/// The sales query's columns, in the order [`sale_from_row`] reads them.
pub(crate) const SALES_COLUMNS: [Column; 22] = [
    col("T.c_Numero", "numero"),
    col("T.n_Linea", "linea"),
    col("T.c_Caja", "caja"),
    col(LINE_TIME_EXPR, "fecha_hora"),
    col("T.Codigo", "codigo_escaneado"),
    col("P.c_Codigo", "codigo"),
    col("P.c_Descri", "descripcion"),
    col(CATEGORY_EXPR, "categoria"),
    col("G.C_DESCRIPCIO", "grupo"),
    col("SG.c_DESCRIPCIO", "subgrupo"),
    col("P.c_Marca", "marca"),
    col("P.c_Modelo", "modelo"),
    col("P.Text2", "cuadrante"),
    col("T.Cantidad", "cantidad"),
    col("T.Precio", "precio"),
    col("T.Subtotal", "subtotal"),
    col("T.Descuento", "descuento"),
    col("T.Impuesto", "impuesto"),
    col("T.Total", "total"),
    col("T.n_Costo", "costo"),
    col("T.c_Concepto", "concepto"),
    col("T.Estatus", "estatus"),
];

/// The inventory query's columns, in the order [`item_from_row`] reads them.
pub(crate) const INVENTORY_COLUMNS: [Column; 21] = [
    col("S.c_coddeposito", "deposito"),
    col("DP.c_descripcion", "nombre_deposito"),
    col("P.c_Codigo", "codigo"),
    col("C.c_Codigo", "codigo_barra"),
    col("P.c_Descri", "descripcion"),
    col("P.c_Departamento", "departamento"),
    col(CATEGORY_EXPR, "categoria"),
    col("G.C_DESCRIPCIO", "grupo"),
    col("SG.c_DESCRIPCIO", "subgrupo"),
    col("P.c_Marca", "marca"),
    col("P.Text2", "cuadrante"),
    col("P.c_Presenta", "presentacion"),
    col("P.n_CostoAct", "costo"),
    col("P.n_Precio1", "precio"),
    col("P.n_Impuesto1", "impuesto"),
    col("P.n_Peso", "peso"),
    col("P.n_Volumen", "volumen"),
    col("P.n_CantiBul", "unidades_por_bulto"),
    col("S.n_cantidad", "existencia"),
    col("S.n_cant_comprometida", "comprometida"),
    col("S.n_cant_ordenada", "ordenada"),
];

/// `    expr AS alias,` lines for a `SELECT`.
pub(crate) fn select_list(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|c| format!("    {} AS {}", c.expr, c.alias))
        .collect::<Vec<_>>()
        .join(",\n")
}

// ---------------------------------------------------------------------------------------------
// Row errors.
// ---------------------------------------------------------------------------------------------

/// What is wrong with one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RowProblem {
    /// A required value is NULL (or the row is shorter than the query).
    Missing(&'static str),
    /// A value of the wrong type or out of range.
    Invalid {
        /// The column's alias.
        column: &'static str,
        /// Why.
        reason: String,
    },
}

/// A row that could not become a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowError {
    /// 1-based position of the row in the unit (retries and chunks included).
    pub row: u64,
    /// Its key, when it could be read.
    pub ident: Option<String>,
    /// What is wrong.
    pub problem: RowProblem,
}

impl RowError {
    /// The taxonomy category of a broken row.
    pub(crate) fn category(&self) -> ErrorCategory {
        match self.problem {
            RowProblem::Missing(_) => ErrorCategory::MissingFields,
            RowProblem::Invalid { .. } => ErrorCategory::DataFormat,
        }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {}", self.row)?;
        if let Some(ident) = &self.ident {
            write!(f, " ({ident})")?;
        }
        match &self.problem {
            RowProblem::Missing(c) => write!(f, ": `{c}` is NULL"),
            RowProblem::Invalid { column, reason } => write!(f, ": `{column}` {reason}"),
        }
    }
}

type Conv<T> = Result<T, RowProblem>;

/// A row's cells, read one after the other in query order.
struct Cells {
    values: std::vec::IntoIter<ColumnData<'static>>,
    columns: &'static [Column],
    next: usize,
}

impl Cells {
    fn new(row: Row, columns: &'static [Column]) -> Self {
        Cells {
            values: row.into_iter(),
            columns,
            next: 0,
        }
    }

    /// The next cell and its column's alias.
    fn take(&mut self) -> (ColumnData<'static>, &'static str) {
        let name = self.columns.get(self.next).map_or("?", |c| c.alias);
        self.next += 1;
        // A short row reads as NULLs, which the required columns then report.
        (self.values.next().unwrap_or(ColumnData::I32(None)), name)
    }

    fn text(&mut self) -> Conv<Option<String>> {
        match self.take() {
            (ColumnData::String(s), _) => Ok(s.and_then(|s| {
                let mut s = Cow::into_owned(s);
                s.truncate(s.trim_end().len());
                (!s.is_empty()).then_some(s)
            })),
            (ColumnData::I32(None), _) => Ok(None),
            (other, name) => Err(wrong_type(name, &other, "text")),
        }
    }

    fn required_text(&mut self) -> Conv<String> {
        let name = self.columns.get(self.next).map_or("?", |c| c.alias);
        self.text()?.ok_or(RowProblem::Missing(name))
    }

    fn int(&mut self) -> Conv<Option<i32>> {
        match self.take() {
            (ColumnData::I32(v), _) => Ok(v),
            (ColumnData::I16(v), _) => Ok(v.map(i32::from)),
            (ColumnData::U8(v), _) => Ok(v.map(i32::from)),
            (ColumnData::I64(Some(v)), name) => {
                i32::try_from(v).map(Some).map_err(|_| RowProblem::Invalid {
                    column: name,
                    reason: format!("{v} does not fit a line number"),
                })
            }
            (ColumnData::I64(None), _) => Ok(None),
            (other, name) => Err(wrong_type(name, &other, "an integer")),
        }
    }

    fn decimal(&mut self) -> Conv<Option<Decimal>> {
        match self.take() {
            (ColumnData::Numeric(None), _) => Ok(None),
            (ColumnData::Numeric(Some(n)), name) => {
                Decimal::try_from_i128_with_scale(n.value(), u32::from(n.scale()))
                    .map(Some)
                    .map_err(|_| RowProblem::Invalid {
                        column: name,
                        reason: "is out of the range of an exact decimal".to_owned(),
                    })
            }
            (ColumnData::I32(v), _) => Ok(v.map(Decimal::from)),
            (ColumnData::I64(v), _) => Ok(v.map(Decimal::from)),
            (ColumnData::F64(v), name) => v.map(|f| float(f, name)).transpose(),
            (ColumnData::F32(v), name) => v.map(|f| float(f64::from(f), name)).transpose(),
            (other, name) => Err(wrong_type(name, &other, "a number")),
        }
    }

    fn datetime(&mut self) -> Conv<Option<NaiveDateTime>> {
        let (cell, name) = self.take();
        NaiveDateTime::from_sql(&cell).map_err(|_| wrong_type(name, &cell, "a date and time"))
    }
}

fn wrong_type(column: &'static str, cell: &ColumnData<'static>, want: &str) -> RowProblem {
    let got = match cell {
        ColumnData::U8(_) | ColumnData::I16(_) | ColumnData::I32(_) | ColumnData::I64(_) => {
            "an integer"
        }
        ColumnData::F32(_) | ColumnData::F64(_) => "a float",
        ColumnData::Bit(_) => "a bit",
        ColumnData::String(_) => "text",
        ColumnData::Guid(_) => "a GUID",
        ColumnData::Binary(_) => "binary data",
        ColumnData::Numeric(_) => "a decimal",
        ColumnData::Xml(_) => "XML",
        _ => "a date or time",
    };
    RowProblem::Invalid {
        column,
        reason: format!("is {got}, expected {want}"),
    }
}

/// A FLOAT as the decimal it prints as (shortest round-trip text).
pub(crate) fn float(f: f64, column: &'static str) -> Conv<Decimal> {
    let invalid = || RowProblem::Invalid {
        column,
        reason: format!("{f} is not a finite decimal"),
    };
    if !f.is_finite() {
        return Err(invalid());
    }
    Decimal::from_str(&f.to_string()).map_err(|_| invalid())
}

fn truncate_to_micros(t: NaiveDateTime) -> NaiveDateTime {
    let micros = t.nanosecond() / 1_000;
    t.with_nanosecond(micros * 1_000).unwrap_or(t)
}

// ---------------------------------------------------------------------------------------------
// Sales.
// ---------------------------------------------------------------------------------------------

/// What a sales line is attributed to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SalesScope {
    /// The store.
    pub store: StoreId,
    /// The depot (warehouse) of the store.
    pub depot: String,
    /// The depot's name, once known.
    pub depot_name: Option<String>,
}

/// One converted sales row: its store-local time (exact, for the window check) and the line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SaleRow {
    /// `f_Fecha` + `h_Hora`, store-local, as the server computed it.
    pub local: NaiveDateTime,
    /// The line.
    pub line: SaleLine,
}

/// Converts one row of the sales query. `row_no` is the row's 1-based position in the unit.
pub(crate) fn sale_from_row(
    row: Row,
    scope: &SalesScope,
    row_no: u64,
) -> Result<SaleRow, RowError> {
    let mut c = Cells::new(row, &SALES_COLUMNS);
    let mut ident = None;
    convert_sale(&mut c, scope, &mut ident).map_err(|problem| RowError {
        row: row_no,
        ident,
        problem,
    })
}

fn convert_sale(c: &mut Cells, scope: &SalesScope, ident: &mut Option<String>) -> Conv<SaleRow> {
    let numero = c.text()?;
    let linea = c.int()?;
    *ident = match (&numero, linea) {
        (Some(n), Some(l)) => Some(format!("c_Numero {n}, n_Linea {l}")),
        (Some(n), None) => Some(format!("c_Numero {n}")),
        _ => None,
    };
    let invoice_number = numero.ok_or(RowProblem::Missing("numero"))?;
    let line_number = linea.ok_or(RowProblem::Missing("linea"))?;
    let till = c.text()?;
    let local = c.datetime()?.ok_or(RowProblem::Missing("fecha_hora"))?;
    let barcode = c.text()?;
    let product_code = c.required_text()?;
    let description = c.text()?;
    let category = c.text()?;
    let group_name = c.text()?;
    let subgroup = c.text()?;
    let brand = c.text()?;
    let model = c.text()?;
    let quadrant = c.text()?;
    let quantity = c.decimal()?;
    let unit_price_bs = c.decimal()?;
    let subtotal = c.decimal()?;
    let discount_amount = c.decimal()?;
    let tax_amount = c.decimal()?;
    let total_bs = c.decimal()?;
    let unit_cost_bs = c.decimal()?;
    let concept = c.text()?;
    let line_status = c.text()?;
    let sold = truncate_to_micros(local);
    Ok(SaleRow {
        local,
        line: SaleLine {
            store_id: scope.store.clone(),
            invoice_number,
            line_number,
            sold_at: local_to_utc(sold),
            business_date: sold.date(),
            product_code,
            description,
            brand,
            model,
            category,
            group_name,
            subgroup,
            barcode,
            quadrant,
            warehouse_code: Some(scope.depot.clone()),
            warehouse_name: scope.depot_name.clone(),
            quantity,
            unit_cost_bs,
            unit_price_bs,
            tax_amount,
            discount_amount,
            subtotal,
            total_bs,
            till,
            concept,
            line_status,
            ..SaleLine::default()
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Inventory.
// ---------------------------------------------------------------------------------------------

/// What an inventory snapshot is attributed to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SnapshotScope {
    /// The store.
    pub store: StoreId,
    /// The depot asked for (the unit's warehouse).
    pub depot: String,
    /// When the snapshot was taken.
    pub snapshot_at: DateTime<Utc>,
}

/// Converts one row of the inventory query. `row_no` is the row's 1-based position in the unit.
pub(crate) fn item_from_row(
    row: Row,
    scope: &SnapshotScope,
    row_no: u64,
) -> Result<InventoryItem, RowError> {
    let mut c = Cells::new(row, &INVENTORY_COLUMNS);
    let mut ident = None;
    convert_item(&mut c, scope, &mut ident).map_err(|problem| RowError {
        row: row_no,
        ident,
        problem,
    })
}

fn convert_item(
    c: &mut Cells,
    scope: &SnapshotScope,
    ident: &mut Option<String>,
) -> Conv<InventoryItem> {
    // The depot column is the one filtered on; the unit's own spelling is what the loader
    // expects, so the row's is only read past.
    let _depot = c.text()?;
    let warehouse_name = c.text()?;
    let product_code = c.required_text()?;
    *ident = Some(format!("c_Codigo {product_code}"));
    let barcode = c.text()?;
    let description = c.text()?;
    let category_id = c.text()?;
    let category = c.text()?;
    let group_name = c.text()?;
    let subgroup = c.text()?;
    let brand = c.text()?;
    let quadrant = c.text()?;
    let presentation = c.text()?;
    let cost = c.decimal()?;
    let price = c.decimal()?;
    let tax_pct = c.decimal()?;
    let weight = c.decimal()?;
    let volume = c.decimal()?;
    let units_per_case = c.decimal()?;
    let stock = c.decimal()?.ok_or(RowProblem::Missing("existencia"))?;
    let committed = c.decimal()?;
    let ordered = c.decimal()?;
    Ok(InventoryItem {
        store_id: scope.store.clone(),
        warehouse_code: scope.depot.clone(),
        warehouse_name,
        product_code,
        barcode,
        description,
        category_id,
        category,
        group_name,
        subcategory_id: None,
        subgroup,
        brand,
        quadrant,
        presentation,
        cost,
        price,
        tax_pct,
        weight,
        volume,
        units_per_case,
        stock,
        committed,
        ordered,
        snapshot_at: scope.snapshot_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tiberius::numeric::Numeric;
    use tiberius::time::{Date, DateTime2, Time};

    fn row(columns: &[Column], cells: Vec<ColumnData<'static>>) -> Row {
        assert_eq!(columns.len(), cells.len());
        let mut b = Row::builder();
        for (c, v) in columns.iter().zip(cells) {
            b = b.column(c.alias, tiberius::ColumnType::Null, v);
        }
        b.build()
    }

    fn s(v: &str) -> ColumnData<'static> {
        ColumnData::String(Some(Cow::Owned(v.to_owned())))
    }
    fn null_s() -> ColumnData<'static> {
        ColumnData::String(None)
    }
    fn n(value: i128, scale: u8) -> ColumnData<'static> {
        ColumnData::Numeric(Some(Numeric::new_with_scale(value, scale)))
    }
    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn scope() -> SalesScope {
        SalesScope {
            store: StoreId::new("cedi_seco"),
            depot: "1413".into(),
            depot_name: Some("CEDI SECO".into()),
        }
    }

    /// 2025-11-17 12:19:56 as DATETIME2 (days since 0001-01-01, 100 ns increments).
    fn at_12_19_56() -> ColumnData<'static> {
        let days = chrono::NaiveDate::from_ymd_opt(2025, 11, 17)
            .unwrap()
            .signed_duration_since(chrono::NaiveDate::from_ymd_opt(1, 1, 1).unwrap())
            .num_days();
        let secs = 12 * 3600 + 19 * 60 + 56;
        ColumnData::DateTime2(Some(DateTime2::new(
            Date::new(days as u32),
            Time::new(secs * 10_000_000 + 1_234_567, 7),
        )))
    }

    fn sales_cells() -> Vec<ColumnData<'static>> {
        vec![
            s("0000012345"),
            ColumnData::I32(Some(3)),
            s("004"),
            at_12_19_56(),
            s("7591234567890"),
            s("001853"),
            s("NECTAR DE PERA   "),
            s("CANASTA BASICA"),
            s("BEBIDAS"),
            null_s(),
            s("NATULAC"),
            s(""),
            s("CUADRANTE IX"),
            n(-1_500, 3),
            n(23_035, 2),
            n(-34_553, 2),
            n(0, 2),
            n(-5_528, 2),
            n(-40_081, 2),
            n(2_239_600, 4),
            s("DEV"),
            s("DCO"),
        ]
    }

    #[test]
    fn select_lists_name_every_column_in_order() {
        let list = select_list(&SALES_COLUMNS);
        assert!(list.starts_with("    T.c_Numero AS numero,\n    T.n_Linea AS linea,"));
        assert!(list.ends_with("T.Estatus AS estatus"));
        assert_eq!(list.lines().count(), SALES_COLUMNS.len());
        let inv = select_list(&INVENTORY_COLUMNS);
        assert_eq!(inv.lines().count(), INVENTORY_COLUMNS.len());
    }

    #[test]
    fn a_sales_row_maps_field_by_field() {
        let r = sale_from_row(row(&SALES_COLUMNS, sales_cells()), &scope(), 1).unwrap();
        let local = chrono::NaiveDate::from_ymd_opt(2025, 11, 17)
            .unwrap()
            .and_hms_nano_opt(12, 19, 56, 123_456_700)
            .unwrap();
        assert_eq!(r.local, local);
        let want = SaleLine {
            store_id: StoreId::new("cedi_seco"),
            invoice_number: "0000012345".into(),
            line_number: 3,
            // Caracas is UTC-4; the fraction is truncated to the microsecond.
            sold_at: DateTime::parse_from_rfc3339("2025-11-17T16:19:56.123456Z")
                .unwrap()
                .with_timezone(&Utc),
            business_date: local.date(),
            product_code: "001853".into(),
            description: Some("NECTAR DE PERA".into()),
            brand: Some("NATULAC".into()),
            model: None,
            category: Some("CANASTA BASICA".into()),
            group_name: Some("BEBIDAS".into()),
            subgroup: None,
            barcode: Some("7591234567890".into()),
            quadrant: Some("CUADRANTE IX".into()),
            warehouse_code: Some("1413".into()),
            warehouse_name: Some("CEDI SECO".into()),
            quantity: Some(dec("-1.500")),
            unit_price_bs: Some(dec("230.35")),
            subtotal: Some(dec("-345.53")),
            discount_amount: Some(dec("0.00")),
            tax_amount: Some(dec("-55.28")),
            total_bs: Some(dec("-400.81")),
            unit_cost_bs: Some(dec("223.9600")),
            till: Some("004".into()),
            concept: Some("DEV".into()),
            line_status: Some("DCO".into()),
            ..SaleLine::default()
        };
        assert_eq!(r.line, want);
        // Exact decimals: the scale the server sent is kept, and values in (-1, 0) are right
        // (the bug of `Numeric::to_string` in older tiberius).
        let mut cells = sales_cells();
        cells[13] = n(-5, 3);
        let r = sale_from_row(row(&SALES_COLUMNS, cells), &scope(), 1).unwrap();
        assert_eq!(r.line.quantity, Some(dec("-0.005")));
        assert_eq!(r.line.quantity.unwrap().to_string(), "-0.005");
    }

    #[test]
    fn broken_sales_rows_name_the_row_and_the_column() {
        let mut cells = sales_cells();
        cells[5] = null_s();
        let e = sale_from_row(row(&SALES_COLUMNS, cells), &scope(), 41).unwrap_err();
        assert_eq!(e.problem, RowProblem::Missing("codigo"));
        assert_eq!(e.category(), ErrorCategory::MissingFields);
        assert_eq!(
            e.to_string(),
            "row 41 (c_Numero 0000012345, n_Linea 3): `codigo` is NULL"
        );
        let mut cells = sales_cells();
        cells[14] = s("230,35");
        let e = sale_from_row(row(&SALES_COLUMNS, cells), &scope(), 2).unwrap_err();
        assert_eq!(e.category(), ErrorCategory::DataFormat);
        assert!(
            e.to_string()
                .contains("`precio` is text, expected a number"),
            "{e}"
        );
        let mut cells = sales_cells();
        cells[3] = ColumnData::DateTime2(None);
        let e = sale_from_row(row(&SALES_COLUMNS, cells), &scope(), 2).unwrap_err();
        assert_eq!(e.problem, RowProblem::Missing("fecha_hora"));
    }

    #[test]
    fn an_inventory_row_maps_field_by_field() {
        let at = Utc::now();
        let scope = SnapshotScope {
            store: StoreId::new("cedi_frio"),
            depot: "1710".into(),
            snapshot_at: at,
        };
        let cells = vec![
            s("1710"),
            s("CEDI FRIO"),
            s("000042"),
            s("7590000000421"),
            s("QUESO BLANCO  "),
            s("000003"),
            s("LACTEOS"),
            s("QUESOS"),
            null_s(),
            s("LA GRANJA"),
            null_s(),
            s("KG"),
            n(1_234_567, 4),
            n(19_999, 2),
            n(1_600, 2),
            ColumnData::F64(Some(0.1)),
            ColumnData::F64(Some(1.25)),
            ColumnData::F64(Some(12.0)),
            ColumnData::F64(Some(-3.5)),
            ColumnData::F64(Some(0.0)),
            ColumnData::F64(None),
        ];
        let item = item_from_row(row(&INVENTORY_COLUMNS, cells), &scope, 1).unwrap();
        let want = InventoryItem {
            store_id: StoreId::new("cedi_frio"),
            warehouse_code: "1710".into(),
            warehouse_name: Some("CEDI FRIO".into()),
            product_code: "000042".into(),
            barcode: Some("7590000000421".into()),
            description: Some("QUESO BLANCO".into()),
            category_id: Some("000003".into()),
            category: Some("LACTEOS".into()),
            group_name: Some("QUESOS".into()),
            subcategory_id: None,
            subgroup: None,
            brand: Some("LA GRANJA".into()),
            quadrant: None,
            presentation: Some("KG".into()),
            cost: Some(dec("123.4567")),
            price: Some(dec("199.99")),
            tax_pct: Some(dec("16.00")),
            weight: Some(dec("0.1")),
            volume: Some(dec("1.25")),
            units_per_case: Some(dec("12")),
            stock: dec("-3.5"),
            committed: Some(dec("0")),
            ordered: None,
            snapshot_at: at,
        };
        assert_eq!(item, want);
    }

    #[test]
    fn floats_convert_through_their_shortest_text() {
        assert_eq!(float(0.1, "x").unwrap().to_string(), "0.1");
        assert_eq!(float(-2.75, "x").unwrap().to_string(), "-2.75");
        assert_eq!(float(1e-7, "x").unwrap().to_string(), "0.0000001");
        assert!(float(f64::NAN, "x").is_err());
        assert!(float(1e40, "x").is_err());
    }
}
