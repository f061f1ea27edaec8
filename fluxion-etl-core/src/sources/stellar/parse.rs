//! Stellar rows → [`SaleLine`]s and [`InventoryItem`]s.
//!
//! The column lists of the queries live here, beside the code that reads them, so that the order
//! a row is read in cannot drift from the order it was asked for: [`LINE_COLUMNS`],
//! [`ARTICLE_COLUMNS`] and [`INVENTORY_COLUMNS`] are turned into `SELECT` lists by
//! [`select_list`], and a row's values are taken in that order, by value ([`tiberius::Row`]
//! yields owned cells, so the strings tiberius decoded are moved into the records, not copied).
//!
//! # Sales: lines and articles apart
//! A sales line is read as its own values plus the code that was scanned ([`LINE_COLUMNS`], 14
//! columns); what the code resolves to — the article and its department, group, subgroup,
//! brand, model and quadrant ([`ARTICLE_COLUMNS`]) — is read once per window, one row per
//! distinct scanned code, and copied into each line ([`Article::fill`]). The join is the same
//! as production's, done by the server for each distinct code instead of for every line: the
//! article's texts, most of a joined row's bytes, cross the VPN once per code rather than once
//! per line, and decoding a row costs tiberius roughly per column, so lines decode about twice
//! as fast (see `benches/stellar_extract.rs`).
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
//!   (no profit, no VAT rate: the article's current rate is not the rate of a past sale). The
//!   scanned code is the line's `barcode`.
//! * `invoice_number` is `c_Numero` alone: `STELLAR.md` identifies a line by (store, receipt
//!   number, line number). The extractor fails the unit if two lines share a receipt and line
//!   number (receipt numbers repeating across tills, say) rather than let the destination keep
//!   one of them silently.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{NaiveDateTime, Timelike};
use rust_decimal::Decimal;
use tiberius::{ColumnData, FromSql, Row};

use crate::model::{local_to_utc, InventoryItem, SaleLine, StoreId};
use crate::sources::scope::SnapshotScope;
use crate::sources::TextPool;
use crate::taxonomy::ErrorCategory;

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

/// The sales lines query's columns, in the order [`line_from_row`] reads them: the line's own
/// values and the scanned code, which [`ARTICLE_COLUMNS`] resolves to the article.
pub(crate) const LINE_COLUMNS: [Column; 14] = [
    col("T.c_Numero", "numero"),
    col("T.n_Linea", "linea"),
    col("T.c_Caja", "caja"),
    col(LINE_TIME_EXPR, "fecha_hora"),
    col("T.Codigo", "codigo_escaneado"),
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

/// The columns of the articles sold in a window, one row per scanned code, in the order
/// [`article_from_row`] reads them.
pub(crate) const ARTICLE_COLUMNS: [Column; 9] = [
    col("T.Codigo", "codigo_escaneado"),
    col("P.c_Codigo", "codigo"),
    col("P.c_Descri", "descripcion"),
    col(CATEGORY_EXPR, "categoria"),
    col("G.C_DESCRIPCIO", "grupo"),
    col("SG.c_DESCRIPCIO", "subgrupo"),
    col("P.c_Marca", "marca"),
    col("P.c_Modelo", "modelo"),
    col("P.Text2", "cuadrante"),
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

/// The texts of one unit's rows, shared: rows come in key order, so a column often repeats the
/// previous row's value (the receipt number, till, concept and status of a receipt's lines),
/// which is reused after one comparison; other texts come from the unit's [`TextPool`] (a
/// day repeats a few thousand scanned codes and article texts). Either way a text costs no
/// allocation of its own once seen (tiberius' decoded `String` is dropped).
#[derive(Debug, Default)]
pub(crate) struct RowTexts {
    pool: TextPool,
    /// The previous row's text, per column position.
    last: Vec<Option<Arc<str>>>,
}

impl RowTexts {
    /// The shared copy of the text `s` of column `col`; `pool`ed unless it only repeats the
    /// previous row's (a receipt number: pooling them would only fill the pool).
    fn share(&mut self, col: usize, s: &str, pool: bool) -> Arc<str> {
        if self.last.len() <= col {
            self.last.resize(col + 1, None);
        }
        if let Some(last) = &self.last[col] {
            if **last == *s {
                return Arc::clone(last);
            }
        }
        let shared = if pool { self.pool.get(s) } else { Arc::from(s) };
        self.last[col] = Some(Arc::clone(&shared));
        shared
    }
}

/// A row's cells, read one after the other in query order; texts are shared through `texts`.
struct Cells<'p> {
    values: std::vec::IntoIter<ColumnData<'static>>,
    columns: &'static [Column],
    next: usize,
    texts: &'p mut RowTexts,
}

impl<'p> Cells<'p> {
    fn new(row: Row, columns: &'static [Column], texts: &'p mut RowTexts) -> Self {
        Cells {
            values: row.into_iter(),
            columns,
            next: 0,
            texts,
        }
    }

    /// The next cell and its column's alias.
    fn take(&mut self) -> (ColumnData<'static>, &'static str) {
        let name = self.columns.get(self.next).map_or("?", |c| c.alias);
        self.next += 1;
        // A short row reads as NULLs, which the required columns then report.
        (self.values.next().unwrap_or(ColumnData::I32(None)), name)
    }

    fn text(&mut self) -> Conv<Option<Arc<str>>> {
        self.text_with(true)
    }

    /// A text that repeats on consecutive rows and rarely after (a receipt number across its
    /// lines): shared while it repeats, never pooled.
    fn repeated_text(&mut self) -> Conv<Option<Arc<str>>> {
        self.text_with(false)
    }

    fn text_with(&mut self, pool: bool) -> Conv<Option<Arc<str>>> {
        let col = self.next;
        match self.take() {
            (ColumnData::String(s), _) => Ok(s.and_then(|s| {
                let s = s.trim_end();
                (!s.is_empty()).then(|| self.texts.share(col, s, pool))
            })),
            (ColumnData::I32(None), _) => Ok(None),
            (other, name) => Err(wrong_type(name, &other, "text")),
        }
    }

    fn required_text(&mut self) -> Conv<Arc<str>> {
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
    pub depot: Arc<str>,
    /// The depot's name, once known.
    pub depot_name: Option<Arc<str>>,
}

/// An article as a sales line shows it (what a scanned code resolves to).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Article {
    /// `c_Codigo`.
    pub code: Arc<str>,
    /// `c_Descri`.
    pub description: Option<Arc<str>>,
    /// The department's description ('CB' shown as 'CANASTA BASICA').
    pub category: Option<Arc<str>>,
    /// The group's description.
    pub group_name: Option<Arc<str>>,
    /// The subgroup's description.
    pub subgroup: Option<Arc<str>>,
    /// `c_Marca`.
    pub brand: Option<Arc<str>>,
    /// `c_Modelo`.
    pub model: Option<Arc<str>>,
    /// `Text2`.
    pub quadrant: Option<Arc<str>>,
}

impl Article {
    /// Copies the article's values into a line.
    pub(crate) fn fill(&self, line: &mut SaleLine) {
        line.product_code.clone_from(&self.code);
        line.description.clone_from(&self.description);
        line.category.clone_from(&self.category);
        line.group_name.clone_from(&self.group_name);
        line.subgroup.clone_from(&self.subgroup);
        line.brand.clone_from(&self.brand);
        line.model.clone_from(&self.model);
        line.quadrant.clone_from(&self.quadrant);
    }
}

/// Converts one row of the articles query: the scanned code and its article.
pub(crate) fn article_from_row(
    row: Row,
    row_no: u64,
    texts: &mut RowTexts,
) -> Result<(Arc<str>, Article), RowError> {
    let mut c = Cells::new(row, &ARTICLE_COLUMNS, texts);
    let fail = |ident: Option<String>, problem| RowError {
        row: row_no,
        ident,
        problem,
    };
    let scanned = c.required_text().map_err(|p| fail(None, p))?;
    // The row's key is only spelled out when something is wrong with it.
    let article =
        convert_article(&mut c).map_err(|p| fail(Some(format!("Codigo {scanned}")), p))?;
    Ok((scanned, article))
}

fn convert_article(c: &mut Cells<'_>) -> Conv<Article> {
    Ok(Article {
        code: c.required_text()?,
        description: c.text()?,
        category: c.text()?,
        group_name: c.text()?,
        subgroup: c.text()?,
        brand: c.text()?,
        model: c.text()?,
        quadrant: c.text()?,
    })
}

/// One converted sales row: its store-local time (exact, for the window check), the code that
/// was scanned, and the line without its article (see [`Article::fill`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LineRow {
    /// `f_Fecha` + `h_Hora`, store-local, as the server computed it.
    pub local: NaiveDateTime,
    /// The line; `barcode` holds the scanned code.
    pub line: SaleLine,
}

/// Converts one row of the sales lines query. `row_no` is the row's 1-based position in the
/// unit.
pub(crate) fn line_from_row(
    row: Row,
    scope: &SalesScope,
    row_no: u64,
    texts: &mut RowTexts,
) -> Result<LineRow, RowError> {
    let mut c = Cells::new(row, &LINE_COLUMNS, texts);
    let fail = |ident: Option<String>, problem| RowError {
        row: row_no,
        ident,
        problem,
    };
    let numero = c.repeated_text().map_err(|p| fail(None, p))?;
    let linea = c.int().map_err(|p| fail(None, p))?;
    // The row's key is only spelled out when something is wrong with it: formatting it for
    // every line would be one allocation per line for nothing.
    let Some(invoice_number) = numero else {
        return Err(fail(None, RowProblem::Missing("numero")));
    };
    let Some(line_number) = linea else {
        return Err(fail(
            Some(format!("c_Numero {invoice_number}")),
            RowProblem::Missing("linea"),
        ));
    };
    let v = LineValues::read(&mut c).map_err(|p| {
        fail(
            Some(format!("c_Numero {invoice_number}, n_Linea {line_number}")),
            p,
        )
    })?;
    let sold = truncate_to_micros(v.local);
    Ok(LineRow {
        local: v.local,
        line: SaleLine {
            store_id: scope.store.clone(),
            invoice_number,
            line_number,
            sold_at: local_to_utc(sold),
            business_date: sold.date(),
            barcode: Some(v.barcode),
            warehouse_code: Some(scope.depot.clone()),
            warehouse_name: scope.depot_name.clone(),
            quantity: v.quantity,
            unit_cost_bs: v.unit_cost_bs,
            unit_price_bs: v.unit_price_bs,
            tax_amount: v.tax_amount,
            discount_amount: v.discount_amount,
            subtotal: v.subtotal,
            total_bs: v.total_bs,
            till: v.till,
            concept: v.concept,
            line_status: v.line_status,
            ..SaleLine::default()
        },
    })
}

/// A sales row's values after its key, in [`LINE_COLUMNS`] order.
struct LineValues {
    till: Option<Arc<str>>,
    local: NaiveDateTime,
    barcode: Arc<str>,
    quantity: Option<Decimal>,
    unit_price_bs: Option<Decimal>,
    subtotal: Option<Decimal>,
    discount_amount: Option<Decimal>,
    tax_amount: Option<Decimal>,
    total_bs: Option<Decimal>,
    unit_cost_bs: Option<Decimal>,
    concept: Option<Arc<str>>,
    line_status: Option<Arc<str>>,
}

impl LineValues {
    fn read(c: &mut Cells<'_>) -> Conv<Self> {
        Ok(LineValues {
            till: c.text()?,
            local: c.datetime()?.ok_or(RowProblem::Missing("fecha_hora"))?,
            barcode: c.required_text()?,
            quantity: c.decimal()?,
            unit_price_bs: c.decimal()?,
            subtotal: c.decimal()?,
            discount_amount: c.decimal()?,
            tax_amount: c.decimal()?,
            total_bs: c.decimal()?,
            unit_cost_bs: c.decimal()?,
            concept: c.text()?,
            line_status: c.text()?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Inventory.
// ---------------------------------------------------------------------------------------------

/// Converts one row of the inventory query. `row_no` is the row's 1-based position in the unit.
pub(crate) fn item_from_row(
    row: Row,
    scope: &SnapshotScope,
    row_no: u64,
    texts: &mut RowTexts,
) -> Result<InventoryItem, RowError> {
    let mut c = Cells::new(row, &INVENTORY_COLUMNS, texts);
    let fail = |ident: Option<String>, problem| RowError {
        row: row_no,
        ident,
        problem,
    };
    // The depot column is the one filtered on; the unit's own spelling is what the loader
    // expects, so the row's is only read past.
    let _depot = c.text().map_err(|p| fail(None, p))?;
    let warehouse_name = c.text().map_err(|p| fail(None, p))?;
    // One row per article (two for an article with two interchange barcodes, side by side).
    let product_code = c
        .repeated_text()
        .and_then(|t| t.ok_or(RowProblem::Missing("codigo")))
        .map_err(|p| fail(None, p))?;
    // The row's key is only spelled out when something is wrong with it.
    convert_item(&mut c, scope, warehouse_name)
        .map_err(|p| fail(Some(format!("c_Codigo {product_code}")), p))
        .map(|mut item| {
            item.product_code = product_code;
            item
        })
}

/// The rest of an inventory row, after its key; `product_code` is left empty (the caller
/// moves its own in).
fn convert_item(
    c: &mut Cells<'_>,
    scope: &SnapshotScope,
    warehouse_name: Option<Arc<str>>,
) -> Conv<InventoryItem> {
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
        warehouse_code: scope.warehouse.clone(),
        warehouse_name,
        product_code: Arc::default(),
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
    use chrono::{DateTime, Utc};
    use tiberius::numeric::Numeric;
    use tiberius::time::{Date, DateTime2, Time};

    use crate::model::test_support::dec;

    fn row(columns: &[Column], cells: Vec<ColumnData<'static>>) -> Row {
        assert_eq!(columns.len(), cells.len());
        let mut b = Row::builder();
        for (c, v) in columns.iter().zip(cells) {
            b = b.column(c.alias, tiberius::ColumnType::Null, v);
        }
        b.build()
    }

    fn s(v: &str) -> ColumnData<'static> {
        ColumnData::String(Some(std::borrow::Cow::Owned(v.to_owned())))
    }
    fn null_s() -> ColumnData<'static> {
        ColumnData::String(None)
    }
    fn n(value: i128, scale: u8) -> ColumnData<'static> {
        ColumnData::Numeric(Some(Numeric::new_with_scale(value, scale)))
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

    fn line_cells() -> Vec<ColumnData<'static>> {
        vec![
            s("0000012345"),
            ColumnData::I32(Some(3)),
            s("004"),
            at_12_19_56(),
            s("7591234567890"),
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
        let list = select_list(&LINE_COLUMNS);
        assert!(list.starts_with("    T.c_Numero AS numero,\n    T.n_Linea AS linea,"));
        assert!(list.ends_with("T.Estatus AS estatus"));
        assert_eq!(list.lines().count(), LINE_COLUMNS.len());
        let list = select_list(&ARTICLE_COLUMNS);
        assert!(list.starts_with("    T.Codigo AS codigo_escaneado,\n    P.c_Codigo AS codigo,"));
        let inv = select_list(&INVENTORY_COLUMNS);
        assert_eq!(inv.lines().count(), INVENTORY_COLUMNS.len());
    }

    #[test]
    fn a_sales_row_maps_field_by_field() {
        let (scanned, article) = article_from_row(
            row(
                &ARTICLE_COLUMNS,
                vec![
                    s("7591234567890"),
                    s("001853"),
                    s("NECTAR DE PERA   "),
                    s("CANASTA BASICA"),
                    s("BEBIDAS"),
                    null_s(),
                    s("NATULAC"),
                    s(""),
                    s("CUADRANTE IX"),
                ],
            ),
            1,
            &mut RowTexts::default(),
        )
        .unwrap();
        assert_eq!(&*scanned, "7591234567890");
        let mut pool = RowTexts::default();
        let mut r =
            line_from_row(row(&LINE_COLUMNS, line_cells()), &scope(), 1, &mut pool).unwrap();
        // The next line of the receipt shares its texts with this one: no allocation per text.
        let mut next = line_cells();
        next[1] = ColumnData::I32(Some(4));
        let r2 = line_from_row(row(&LINE_COLUMNS, next), &scope(), 2, &mut pool).unwrap();
        assert!(Arc::ptr_eq(&r.line.invoice_number, &r2.line.invoice_number));
        for (a, b) in [
            (&r.line.barcode, &r2.line.barcode),
            (&r.line.till, &r2.line.till),
            (&r.line.concept, &r2.line.concept),
            (&r.line.line_status, &r2.line.line_status),
        ] {
            assert!(Arc::ptr_eq(a.as_ref().unwrap(), b.as_ref().unwrap()));
        }
        // A code scanned again after another one comes from the pool, still shared.
        let mut other = line_cells();
        other[4] = s("7590000000001");
        let r3 = line_from_row(row(&LINE_COLUMNS, other), &scope(), 3, &mut pool).unwrap();
        assert_eq!(r3.line.barcode.as_deref(), Some("7590000000001"));
        let r4 = line_from_row(row(&LINE_COLUMNS, line_cells()), &scope(), 4, &mut pool).unwrap();
        assert!(Arc::ptr_eq(
            r.line.barcode.as_ref().unwrap(),
            r4.line.barcode.as_ref().unwrap()
        ));
        assert_eq!(r.line.barcode.as_deref(), Some("7591234567890"));
        assert_eq!(&*r.line.product_code, "");
        article.fill(&mut r.line);
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
        let mut cells = line_cells();
        cells[5] = n(-5, 3);
        let r = line_from_row(
            row(&LINE_COLUMNS, cells),
            &scope(),
            1,
            &mut RowTexts::default(),
        )
        .unwrap();
        assert_eq!(r.line.quantity, Some(dec("-0.005")));
        assert_eq!(r.line.quantity.unwrap().to_string(), "-0.005");
    }

    #[test]
    fn broken_sales_rows_name_the_row_and_the_column() {
        let mut cells = line_cells();
        cells[4] = null_s();
        let e = line_from_row(
            row(&LINE_COLUMNS, cells),
            &scope(),
            41,
            &mut RowTexts::default(),
        )
        .unwrap_err();
        assert_eq!(e.problem, RowProblem::Missing("codigo_escaneado"));
        assert_eq!(e.category(), ErrorCategory::MissingFields);
        assert_eq!(
            e.to_string(),
            "row 41 (c_Numero 0000012345, n_Linea 3): `codigo_escaneado` is NULL"
        );
        let mut cells = line_cells();
        cells[6] = s("230,35");
        let e = line_from_row(
            row(&LINE_COLUMNS, cells),
            &scope(),
            2,
            &mut RowTexts::default(),
        )
        .unwrap_err();
        assert_eq!(e.category(), ErrorCategory::DataFormat);
        assert!(
            e.to_string()
                .contains("`precio` is text, expected a number"),
            "{e}"
        );
        let mut cells = line_cells();
        cells[3] = ColumnData::DateTime2(None);
        let e = line_from_row(
            row(&LINE_COLUMNS, cells),
            &scope(),
            2,
            &mut RowTexts::default(),
        )
        .unwrap_err();
        assert_eq!(e.problem, RowProblem::Missing("fecha_hora"));
    }

    #[test]
    fn an_inventory_row_maps_field_by_field() {
        let at = Utc::now();
        let scope = SnapshotScope {
            store: StoreId::new("cedi_frio"),
            warehouse: "1710".into(),
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
        let item = item_from_row(
            row(&INVENTORY_COLUMNS, cells),
            &scope,
            1,
            &mut RowTexts::default(),
        )
        .unwrap();
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
