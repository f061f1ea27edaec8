//! The tables the simulator serves: their names, databases, columns and types, and row access over
//! the generated data. A row is read column by column straight from the generated structs: no copy,
//! no allocation.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{NaiveDate, NaiveTime};

use super::value::{SqlType, Value};
use crate::stellar::data::{SalesDay, SimTables};

/// Rows of a table (or of one partition of it).
pub(crate) trait RowSet: Send + Sync {
    /// Number of rows.
    fn len(&self) -> usize;
    /// The value of a column of a row. `row < len()`, `col` a valid column of the table.
    fn value(&self, row: usize, col: usize) -> Value<'_>;
}

/// The simulated tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum TableId {
    Productos,
    Codigos,
    Departamentos,
    Grupos,
    Subgrupos,
    Deposito,
    Depoprod,
    Transaccion,
    Pagos,
}

/// A column of a table.
#[derive(Debug)]
pub(crate) struct ColumnDef {
    pub name: &'static str,
    pub ty: SqlType,
}

/// How a table's rows are split, which is also how the planner prunes what it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Partitioning {
    /// One partition.
    Whole,
    /// One partition per depot; `depot_col` holds the depot code.
    ByDepot { depot_col: usize },
    /// One partition per (depot, date); `locality_col` holds the depot's locality, `date_col` the date
    /// at midnight and `time_col` the time of day on the base date.
    ByDepotDay {
        locality_col: usize,
        date_col: usize,
        time_col: usize,
    },
}

/// A table definition.
#[derive(Debug)]
pub(crate) struct TableDef {
    pub id: TableId,
    pub database: &'static str,
    pub name: &'static str,
    pub columns: &'static [ColumnDef],
    pub partitioning: Partitioning,
}

impl TableDef {
    /// Position of a column, case-insensitively.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }
}

const fn nv(n: u16) -> SqlType {
    SqlType::NVarChar(Some(n))
}
const fn dec(precision: u8, scale: u8) -> SqlType {
    SqlType::Decimal { precision, scale }
}
const fn col(name: &'static str, ty: SqlType) -> ColumnDef {
    ColumnDef { name, ty }
}

/// Every table, VAD10 then VAD20.
pub(crate) static TABLES: &[TableDef] = &[
    TableDef {
        id: TableId::Productos,
        database: "VAD10",
        name: "MA_PRODUCTOS",
        columns: &[
            col("c_Codigo", nv(15)),
            col("c_Descri", nv(100)),
            col("c_Departamento", nv(10)),
            col("c_Grupo", nv(10)),
            col("c_Subgrupo", nv(10)),
            col("c_Marca", nv(50)),
            col("c_Modelo", nv(50)),
            col("c_Presenta", nv(30)),
            col("Text2", nv(50)),
            col("n_CostoAct", dec(18, 4)),
            col("n_Precio1", dec(18, 2)),
            col("n_Impuesto1", dec(5, 2)),
            col("n_Peso", SqlType::Float),
            col("n_Volumen", SqlType::Float),
            col("n_CantiBul", SqlType::Float),
            col("n_TipoPeso", SqlType::Int),
            col("n_Activo", SqlType::Bit),
            col("Add_Date", SqlType::DateTime),
            col("Update_Date", SqlType::DateTime),
            col("ID", SqlType::Int),
        ],
        partitioning: Partitioning::Whole,
    },
    TableDef {
        id: TableId::Codigos,
        database: "VAD10",
        name: "MA_CODIGOS",
        columns: &[
            col("c_CodNasa", nv(15)),
            col("c_Codigo", nv(20)),
            col("c_Descripcion", nv(30)),
            col("nu_Intercambio", SqlType::Int),
            col("n_Cantidad", SqlType::Float),
        ],
        partitioning: Partitioning::Whole,
    },
    TableDef {
        id: TableId::Departamentos,
        database: "VAD10",
        name: "MA_DEPARTAMENTOS",
        columns: &[col("C_CODIGO", nv(10)), col("C_DESCRIPCIO", nv(50))],
        partitioning: Partitioning::Whole,
    },
    TableDef {
        id: TableId::Grupos,
        database: "VAD10",
        name: "MA_GRUPOS",
        columns: &[
            col("c_CODIGO", nv(10)),
            col("C_DESCRIPCIO", nv(50)),
            col("c_departamento", nv(10)),
        ],
        partitioning: Partitioning::Whole,
    },
    TableDef {
        id: TableId::Subgrupos,
        database: "VAD10",
        name: "MA_SUBGRUPOS",
        columns: &[
            col("c_CODIGO", nv(10)),
            col("c_DESCRIPCIO", nv(50)),
            col("c_GRUPO", nv(10)),
        ],
        partitioning: Partitioning::Whole,
    },
    TableDef {
        id: TableId::Deposito,
        database: "VAD10",
        name: "MA_DEPOSITO",
        columns: &[
            col("c_coddeposito", nv(10)),
            col("c_descripcion", nv(50)),
            col("c_codlocalidad", nv(10)),
        ],
        partitioning: Partitioning::Whole,
    },
    TableDef {
        id: TableId::Depoprod,
        database: "VAD10",
        name: "MA_DEPOPROD",
        columns: &[
            col("c_coddeposito", nv(10)),
            col("c_codarticulo", nv(15)),
            col("n_cantidad", SqlType::Float),
            col("n_cant_comprometida", SqlType::Float),
            col("n_cant_ordenada", SqlType::Float),
            col("ID", SqlType::Int),
        ],
        partitioning: Partitioning::ByDepot { depot_col: 0 },
    },
    TableDef {
        id: TableId::Transaccion,
        database: "VAD20",
        name: "MA_TRANSACCION",
        columns: &[
            col("c_Numero", nv(20)),
            col("c_Caja", nv(10)),
            col("f_Fecha", SqlType::DateTime),
            col("h_Hora", SqlType::DateTime),
            col("n_Linea", SqlType::Int),
            col("Codigo", nv(20)),
            col("Cantidad", dec(18, 3)),
            col("Precio", dec(18, 2)),
            col("Subtotal", dec(18, 2)),
            col("Impuesto", dec(18, 2)),
            col("Total", dec(18, 2)),
            col("Descuento", dec(18, 2)),
            col("n_Costo", dec(18, 4)),
            col("c_Concepto", nv(3)),
            col("Estatus", nv(3)),
            col("c_Localidad", nv(10)),
            col("ID", SqlType::BigInt),
        ],
        partitioning: Partitioning::ByDepotDay {
            locality_col: 15,
            date_col: 2,
            time_col: 3,
        },
    },
    TableDef {
        id: TableId::Pagos,
        database: "VAD20",
        name: "MA_PAGOS",
        columns: &[
            col("c_Caja", nv(10)),
            col("c_Numero", nv(20)),
            col("f_Fecha", SqlType::DateTime),
            col("f_Hora", SqlType::DateTime),
            col("n_Subtotal", dec(18, 2)),
            col("n_Impuesto", dec(18, 2)),
            col("n_Total", dec(18, 2)),
            col("c_Sucursal", nv(10)),
            col("n_Productos", SqlType::Int),
            col("c_Concepto", nv(3)),
        ],
        partitioning: Partitioning::ByDepotDay {
            locality_col: 7,
            date_col: 2,
            time_col: 3,
        },
    },
];

/// Databases the simulator knows; `master` exists and holds none of the tables.
pub(crate) const DATABASES: &[&str] = &["VAD10", "VAD20", "master"];

/// The canonical spelling of a known database.
pub(crate) fn find_database(name: &str) -> Option<&'static str> {
    DATABASES
        .iter()
        .copied()
        .find(|d| d.eq_ignore_ascii_case(name))
}

/// A table of a database, case-insensitively.
pub(crate) fn find_table(database: &str, name: &str) -> Option<&'static TableDef> {
    TABLES
        .iter()
        .find(|t| t.database.eq_ignore_ascii_case(database) && t.name.eq_ignore_ascii_case(name))
}

/// One partition to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PartKey {
    Whole,
    Depot(usize),
    Day(usize, NaiveDate),
}

/// Loads (or generates) the rows of a partition.
pub(crate) fn load(tables: &Arc<SimTables>, table: TableId, key: PartKey) -> Arc<dyn RowSet> {
    let t = Arc::clone(tables);
    match (table, key) {
        (TableId::Depoprod, PartKey::Depot(d)) => Arc::new(StockRows(t, d)),
        (TableId::Transaccion, PartKey::Day(d, date)) => {
            let day = tables.sales_day_at(d, date);
            Arc::new(LineRows(t, day))
        }
        (TableId::Pagos, PartKey::Day(d, date)) => {
            let day = tables.sales_day_at(d, date);
            Arc::new(ReceiptRows(t, day))
        }
        (TableId::Productos, _) => Arc::new(ProductRows(t)),
        (TableId::Codigos, _) => Arc::new(CodeRows(t)),
        (TableId::Departamentos, _) => Arc::new(DepartmentRows(t)),
        (TableId::Grupos, _) => Arc::new(GroupRows(t)),
        (TableId::Subgrupos, _) => Arc::new(SubgroupRows(t)),
        (TableId::Deposito, _) => Arc::new(DepotRows(t)),
        // A partitioned table asked for as a whole (never done by the planner): empty.
        _ => Arc::new(Empty),
    }
}

fn s(v: &str) -> Value<'_> {
    Value::Str(Cow::Borrowed(v))
}

struct Empty;
impl RowSet for Empty {
    fn len(&self) -> usize {
        0
    }
    fn value(&self, _row: usize, _col: usize) -> Value<'_> {
        Value::Null
    }
}

struct ProductRows(Arc<SimTables>);
impl RowSet for ProductRows {
    fn len(&self) -> usize {
        self.0.products.len()
    }
    fn value(&self, row: usize, col: usize) -> Value<'_> {
        let p = &self.0.products[row];
        match col {
            0 => s(&p.code),
            1 => s(&p.description),
            2 => s(&p.department),
            3 => s(&p.group),
            4 => s(&p.subgroup),
            5 => s(&p.brand),
            6 => s(&p.model),
            7 => s(&p.presentation),
            8 => p.quadrant.as_deref().map_or(Value::Null, s),
            9 => Value::Decimal(p.cost),
            10 => Value::Decimal(p.price),
            11 => Value::Decimal(p.tax_rate),
            12 => Value::Float(p.weight),
            13 => Value::Float(p.volume),
            14 => Value::Float(p.units_per_case),
            15 => Value::Int(i64::from(p.weight_type)),
            16 => Value::Bit(p.active),
            17 => Value::DateTime(p.added),
            18 => Value::DateTime(p.updated),
            19 => Value::Int(i64::from(p.id)),
            _ => Value::Null,
        }
    }
}

struct CodeRows(Arc<SimTables>);
impl RowSet for CodeRows {
    fn len(&self) -> usize {
        self.0.codes.len()
    }
    fn value(&self, row: usize, col: usize) -> Value<'_> {
        let c = &self.0.codes[row];
        match col {
            0 => s(&c.article),
            1 => s(&c.code),
            2 => s(&c.kind),
            3 => Value::Int(i64::from(c.interchange)),
            4 => Value::Float(c.quantity),
            _ => Value::Null,
        }
    }
}

struct DepartmentRows(Arc<SimTables>);
impl RowSet for DepartmentRows {
    fn len(&self) -> usize {
        self.0.departments.len()
    }
    fn value(&self, row: usize, col: usize) -> Value<'_> {
        let d = &self.0.departments[row];
        match col {
            0 => s(&d.code),
            1 => s(&d.description),
            _ => Value::Null,
        }
    }
}

struct GroupRows(Arc<SimTables>);
impl RowSet for GroupRows {
    fn len(&self) -> usize {
        self.0.groups.len()
    }
    fn value(&self, row: usize, col: usize) -> Value<'_> {
        let g = &self.0.groups[row];
        match col {
            0 => s(&g.code),
            1 => s(&g.description),
            2 => s(&g.department),
            _ => Value::Null,
        }
    }
}

struct SubgroupRows(Arc<SimTables>);
impl RowSet for SubgroupRows {
    fn len(&self) -> usize {
        self.0.subgroups.len()
    }
    fn value(&self, row: usize, col: usize) -> Value<'_> {
        let g = &self.0.subgroups[row];
        match col {
            0 => s(&g.code),
            1 => s(&g.description),
            2 => s(&g.group),
            _ => Value::Null,
        }
    }
}

struct DepotRows(Arc<SimTables>);
impl RowSet for DepotRows {
    fn len(&self) -> usize {
        self.0.depots.len()
    }
    fn value(&self, row: usize, col: usize) -> Value<'_> {
        let d = &self.0.depots[row];
        match col {
            0 => s(&d.code),
            1 => s(&d.name),
            2 => s(&d.locality),
            _ => Value::Null,
        }
    }
}

struct StockRows(Arc<SimTables>, usize);
impl RowSet for StockRows {
    fn len(&self) -> usize {
        self.0.stock[self.1].len()
    }
    fn value(&self, row: usize, col: usize) -> Value<'_> {
        let r = &self.0.stock[self.1][row];
        match col {
            0 => s(&r.depot),
            1 => s(&r.article),
            2 => Value::Float(r.quantity),
            3 => Value::Float(r.committed),
            4 => Value::Float(r.ordered),
            5 => Value::Int(i64::from(r.id)),
            _ => Value::Null,
        }
    }
}

struct LineRows(Arc<SimTables>, Arc<SalesDay>);
impl RowSet for LineRows {
    fn len(&self) -> usize {
        self.1.lines.len()
    }
    fn value(&self, row: usize, col: usize) -> Value<'_> {
        let day = &self.1;
        let l = &day.lines[row];
        let receipt = || &day.receipts[l.receipt_index()];
        match col {
            0 => s(&receipt().number),
            1 => s(receipt().till),
            2 => Value::DateTime(day.fecha),
            3 => Value::DateTime(day.hora[l.receipt_index()]),
            4 => Value::Int(i64::from(l.line_number())),
            5 => s(&self.0.codes[l.code_index()].code),
            6 => Value::Decimal(l.quantity()),
            7 => Value::Decimal(l.price()),
            8 => Value::Decimal(l.subtotal()),
            9 => Value::Decimal(l.tax()),
            10 => Value::Decimal(l.total()),
            11 => Value::Decimal(l.discount()),
            12 => Value::Decimal(l.cost()),
            13 => s(receipt().concept),
            14 => s("DCO"),
            15 => s(&self.0.depots[day.depot_index].locality),
            16 => Value::Int(l.id()),
            _ => Value::Null,
        }
    }
}

struct ReceiptRows(Arc<SimTables>, Arc<SalesDay>);
impl RowSet for ReceiptRows {
    fn len(&self) -> usize {
        self.1.receipts.len()
    }
    fn value(&self, row: usize, col: usize) -> Value<'_> {
        let day = &self.1;
        let r = &day.receipts[row];
        match col {
            0 => s(r.till),
            1 => s(&r.number),
            2 => Value::DateTime(day.fecha),
            3 => Value::DateTime(day.hora[row]),
            4 => Value::Decimal(r.subtotal),
            5 => Value::Decimal(r.tax),
            6 => Value::Decimal(r.total),
            7 => s(&self.0.depots[day.depot_index].locality),
            8 => Value::Int(i64::from(r.lines)),
            9 => s(r.concept),
            _ => Value::Null,
        }
    }
}

/// A one-row row set with chosen values, used to probe expressions (partition pruning) and for
/// SELECT without FROM.
pub(crate) struct ProbeRow {
    pub values: Vec<Value<'static>>,
}

impl RowSet for ProbeRow {
    fn len(&self) -> usize {
        1
    }
    fn value(&self, _row: usize, col: usize) -> Value<'_> {
        self.values.get(col).map_or(Value::Null, Value::reborrow)
    }
}

/// A probe row for a partitioned table: every column NULL except the date and time columns.
pub(crate) fn probe_day(
    def: &TableDef,
    date: NaiveDate,
    time_base: NaiveDate,
    time: NaiveTime,
) -> ProbeRow {
    let mut values = vec![Value::Null; def.columns.len()];
    if let Partitioning::ByDepotDay {
        date_col, time_col, ..
    } = def.partitioning
    {
        values[date_col] = Value::DateTime(date.and_time(NaiveTime::MIN));
        values[time_col] = Value::DateTime(time_base.and_time(time));
    }
    ProbeRow { values }
}
