//! Binding a parsed SELECT to the simulated tables: name resolution with SQL Server's errors
//! (208, 207, 209, 4104, 137, …), static types, join strategy, and partition pruning.
//!
//! Pruning matters because sales are generated lazily per (depot, day): the planner derives, from the
//! WHERE clause (and a slot's own ON conditions), which depots a scan needs (`c_Localidad = @P1`,
//! `c_coddeposito IN (…)`) and which days (`f_Fecha >= @P2`, and also the combined
//! `CAST(f_Fecha AS DATETIME) + CAST(h_Hora AS DATETIME) < @P3`: any expression monotone in the date
//! and time columns is bounded by probing it at the ends of each day).
//!
//! The binder's parts: `query` (the SELECT's clauses), `names` (tables, columns, variables),
//! `expressions` (operators, literals, types), `functions` (built-in calls), `optimize` (join
//! lookups, constant folding) and `prune` (partitions).

mod expressions;
mod functions;
mod names;
mod optimize;
mod prune;
mod query;

use std::sync::Arc;

use sqlparser::ast;

use super::catalog::{PartKey, TableDef};
use super::error::SqlError;
use super::expr::Expr;
use super::value::{SqlType, Value};
use super::Session;
use crate::stellar::data::SimTables;

pub(crate) use prune::monotone;

/// A declared sp_executesql parameter.
#[derive(Debug, Clone)]
pub(crate) struct DeclaredParam {
    /// Name with its `@`, as declared.
    pub name: String,
    pub ty: SqlType,
}

/// How a slot joins the slots before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinKind {
    Base,
    Inner,
    Left,
}

/// A hash lookup into a slot: rows whose `col` equals `key` (evaluated over earlier slots).
#[derive(Debug, Clone)]
pub(crate) struct Lookup {
    /// Columns of the slot (all equalities of its ON clause usable as keys).
    pub cols: Vec<usize>,
    /// The values they must equal, over earlier slots (same order).
    pub keys: Vec<Expr>,
    /// The ON conjuncts the lookup does not check.
    pub residual: Vec<Expr>,
}

/// One table reference of the FROM clause.
pub(crate) struct SlotPlan {
    pub table: &'static TableDef,
    pub exposed: String,
    pub has_alias: bool,
    pub join: JoinKind,
    pub on: Vec<Expr>,
    pub lookup: Option<Lookup>,
    pub parts: Vec<PartKey>,
}

/// A result column.
pub(crate) struct OutputColumn {
    pub name: String,
    pub ty: SqlType,
    pub expr: Expr,
}

/// Aggregate functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AggFunc {
    CountStar,
    Count,
    Sum,
    Min,
    Max,
    Avg,
}

/// One aggregate of an aggregate query.
pub(crate) struct AggSpec {
    pub func: AggFunc,
    pub arg: Option<Expr>,
    pub arg_ty: SqlType,
    pub distinct: bool,
    pub ty: SqlType,
}

/// GROUP BY and aggregates.
pub(crate) struct AggPlan {
    pub keys: Vec<Expr>,
    pub aggs: Vec<AggSpec>,
    pub having: Option<Expr>,
}

/// Which depots' rows a query reads (for per-depot faults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DepotTouch {
    /// No depot-keyed table.
    None,
    /// A depot-keyed table without a depot filter.
    All,
    /// These depots (indexes into the configured depots).
    Some(Vec<usize>),
}

/// A bound SELECT.
pub(crate) struct SelectPlan {
    pub slots: Vec<SlotPlan>,
    /// WHERE conjuncts by the slot level at which they can be evaluated.
    pub filters: Vec<Vec<Expr>>,
    pub columns: Vec<OutputColumn>,
    pub order_by: Vec<(Expr, bool)>,
    pub distinct: bool,
    pub skip: u64,
    pub take: Option<u64>,
    pub aggregate: Option<AggPlan>,
    pub depots: DepotTouch,
}

/// What a binder needs to know about the session and the request.
pub(crate) struct BindContext<'a> {
    pub session: &'a Session,
    pub params: &'a [DeclaredParam],
    pub values: &'a [Value<'static>],
    pub tables: &'a Arc<SimTables>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Row,
    Agg,
}

struct Binder<'a, 'c> {
    cx: &'a BindContext<'c>,
    slots: Vec<SlotPlan>,
    /// Slots visible to the expression being bound (ON clauses see only the tables joined so far).
    visible: usize,
    errors: Vec<SqlError>,
    mode: Mode,
    group_keys: Vec<(String, Expr, SqlType)>,
    aggs: Vec<AggSpec>,
    in_aggregate: bool,
}

/// Binds a query.
pub(crate) fn bind_query(
    query: &ast::Query,
    cx: &BindContext<'_>,
) -> Result<SelectPlan, Vec<SqlError>> {
    let mut b = Binder {
        cx,
        slots: Vec::new(),
        visible: 0,
        errors: Vec::new(),
        mode: Mode::Row,
        group_keys: Vec::new(),
        aggs: Vec::new(),
        in_aggregate: false,
    };
    b.query(query).map_err(|e| vec![e]).and_then(|plan| {
        if b.errors.is_empty() {
            Ok(plan)
        } else {
            Err(std::mem::take(&mut b.errors))
        }
    })
}
