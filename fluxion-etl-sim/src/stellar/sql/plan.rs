//! Binding a parsed SELECT to the simulated tables: name resolution with SQL Server's errors
//! (208, 207, 209, 4104, 137, …), static types, join strategy, and partition pruning.
//!
//! Pruning matters because sales are generated lazily per (depot, day): the planner derives, from the
//! WHERE clause (and a slot's own ON conditions), which depots a scan needs (`c_Localidad = @P1`,
//! `c_coddeposito IN (…)`) and which days (`f_Fecha >= @P2`, and also the combined
//! `CAST(f_Fecha AS DATETIME) + CAST(h_Hora AS DATETIME) < @P3`: any expression monotone in the date
//! and time columns is bounded by probing it at the ends of each day).

use std::sync::Arc;

use chrono::{NaiveDate, NaiveTime};
use sqlparser::ast::{
    self, BinaryOperator, CastKind, DuplicateTreatment, FunctionArg, FunctionArgExpr,
    FunctionArguments, GroupByExpr, Ident, JoinConstraint, JoinOperator, ObjectName,
    ObjectNamePart, OrderByKind, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, TableFactor,
    TopQuantity, UnaryOperator,
};

use super::catalog::{self, PartKey, Partitioning, RowSet, TableDef};
use super::error::SqlError;
use super::expr::{const_int, const_value, CmpOp, DatePart, Env, Expr, Func, RowRef, SlotRows};
use super::value::{self, arith_type, ArithOp, SqlType, Value};
use super::{is_reserved, Session};
use crate::stellar::data::{caracas_now, depot_number, SimTables};

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

fn line_of(ident: &Ident) -> u64 {
    ident.span.start.line
}

fn ident_text(parts: &[Ident]) -> String {
    parts
        .iter()
        .map(|i| i.value.as_str())
        .collect::<Vec<_>>()
        .join(".")
}

fn check_reserved(ident: &Ident) -> Result<(), SqlError> {
    if ident.quote_style.is_none() && is_reserved(&ident.value) {
        return Err(
            SqlError::syntax_keyword(&ident.value.to_ascii_uppercase()).at_line(line_of(ident))
        );
    }
    Ok(())
}

fn object_parts(name: &ObjectName) -> Result<Vec<Ident>, SqlError> {
    name.0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => Ok(i.clone()),
            ObjectNamePart::Function(_) => Err(SqlError::syntax(&name.to_string())),
        })
        .collect()
}

impl<'a, 'c> Binder<'a, 'c> {
    fn query(&mut self, q: &ast::Query) -> Result<SelectPlan, SqlError> {
        if q.with.is_some() {
            return Err(SqlError::not_modelled("WITH (common table expressions)"));
        }
        if !q.locks.is_empty() || q.for_clause.is_some() {
            return Err(SqlError::not_modelled("FOR clauses"));
        }
        let select = match q.body.as_ref() {
            SetExpr::Select(s) => s,
            SetExpr::Query(inner)
                if q.order_by.is_none() && q.limit_clause.is_none() && q.fetch.is_none() =>
            {
                return self.query(inner);
            }
            SetExpr::SetOperation { .. } => {
                return Err(SqlError::not_modelled("UNION, EXCEPT and INTERSECT"))
            }
            SetExpr::Values(_) => return Err(SqlError::not_modelled("VALUES")),
            _ => return Err(SqlError::not_modelled("this statement")),
        };
        if select.into.is_some() {
            return Err(SqlError::not_modelled("SELECT … INTO"));
        }
        if let Some(ast::Distinct::On(_)) = select.distinct {
            return Err(SqlError::syntax("ON"));
        }

        // FROM (with ON clauses, each seeing the tables joined so far).
        let mut pending_on: Vec<(usize, Option<ast::Expr>)> = Vec::new();
        for (ti, twj) in select.from.iter().enumerate() {
            let kind = if ti == 0 {
                JoinKind::Base
            } else {
                JoinKind::Inner
            };
            self.add_table(&twj.relation, kind)?;
            pending_on.push((self.slots.len() - 1, None));
            for j in &twj.joins {
                let (kind, constraint) = match &j.join_operator {
                    JoinOperator::Join(c) | JoinOperator::Inner(c) => (JoinKind::Inner, Some(c)),
                    JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => (JoinKind::Left, Some(c)),
                    JoinOperator::CrossJoin(c) => (JoinKind::Inner, Some(c)),
                    JoinOperator::Right(_)
                    | JoinOperator::RightOuter(_)
                    | JoinOperator::FullOuter(_) => {
                        return Err(SqlError::not_modelled("RIGHT and FULL OUTER JOIN"))
                    }
                    JoinOperator::CrossApply | JoinOperator::OuterApply => {
                        return Err(SqlError::not_modelled("CROSS/OUTER APPLY"))
                    }
                    _ => return Err(SqlError::syntax("JOIN")),
                };
                self.add_table(&j.relation, kind)?;
                let on = match constraint {
                    Some(JoinConstraint::On(e)) => Some(e.clone()),
                    Some(JoinConstraint::None) | None => {
                        if kind == JoinKind::Left {
                            return Err(SqlError::syntax("JOIN"));
                        }
                        None
                    }
                    Some(JoinConstraint::Using(_)) => return Err(SqlError::syntax("USING")),
                    Some(JoinConstraint::Natural) => return Err(SqlError::syntax("NATURAL")),
                };
                pending_on.push((self.slots.len() - 1, on));
            }
        }
        for (slot, on) in pending_on {
            if let Some(on) = on {
                self.visible = slot + 1;
                let e = self.predicate(&on)?;
                self.slots[slot].on = conjuncts(e);
            }
        }
        self.visible = self.slots.len();

        // WHERE.
        let mut where_conjuncts = Vec::new();
        if let Some(w) = &select.selection {
            let e = self.predicate(w)?;
            where_conjuncts = conjuncts(e);
        }

        // GROUP BY / aggregates.
        let group_exprs: &[ast::Expr] = match &select.group_by {
            GroupByExpr::Expressions(list, mods) => {
                if !mods.is_empty() {
                    return Err(SqlError::not_modelled("GROUP BY modifiers"));
                }
                list
            }
            GroupByExpr::All(_) => return Err(SqlError::not_modelled("GROUP BY ALL")),
        };
        let has_aggs = select.projection.iter().any(item_has_aggregate)
            || select.having.as_ref().is_some_and(has_aggregate)
            || matches!(&q.order_by, Some(ob) if matches!(&ob.kind, OrderByKind::Expressions(list) if list.iter().any(|o| has_aggregate(&o.expr))));
        let aggregate = !group_exprs.is_empty() || has_aggs || select.having.is_some();
        if aggregate {
            for g in group_exprs {
                let (e, ty) = self.scalar(g)?;
                self.group_keys.push((normalized(g), e, ty));
            }
            self.mode = Mode::Agg;
        }

        // SELECT list.
        let mut columns = Vec::new();
        for item in &select.projection {
            self.select_item(item, &mut columns)?;
        }
        let having = match &select.having {
            Some(h) => Some(self.predicate(h)?),
            None => None,
        };

        // ORDER BY.
        let mut order_by = Vec::new();
        if let Some(ob) = &q.order_by {
            let list = match &ob.kind {
                OrderByKind::Expressions(list) => list,
                OrderByKind::All(_) => return Err(SqlError::syntax("ALL")),
            };
            for o in list {
                let desc = matches!(o.options.sort, Some(ast::OrderBySort::Desc));
                let e = self.order_item(
                    &o.expr,
                    &select.projection,
                    &columns,
                    select.distinct.is_some(),
                )?;
                order_by.push((e, desc));
            }
        }

        // TOP / OFFSET … FETCH.
        let mut take = None;
        let mut skip = 0u64;
        if let Some(top) = &select.top {
            if top.percent {
                return Err(SqlError::not_modelled("TOP … PERCENT"));
            }
            if top.with_ties {
                return Err(SqlError::not_modelled("TOP … WITH TIES"));
            }
            let n = match &top.quantity {
                Some(TopQuantity::Constant(n)) => {
                    i64::try_from(*n).map_err(|_| SqlError::top_invalid())?
                }
                Some(TopQuantity::Expr(e)) => {
                    let (e, ty) = self.with_mode(Mode::Row, |b| b.scalar(e))?;
                    if !e.is_constant() {
                        return Err(SqlError::custom(
                            1060,
                            15,
                            1,
                            "The number of rows provided for a TOP or FETCH clauses row count parameter must be an integer."
                                .to_owned(),
                        ));
                    }
                    const_int(&e, ty, self.cx.values)?.unwrap_or(0)
                }
                None => return Err(SqlError::syntax("TOP")),
            };
            if n < 0 {
                return Err(SqlError::custom(
                    1060,
                    15,
                    1,
                    "A TOP N or FETCH rows count value may not be negative.".to_owned(),
                ));
            }
            take = Some(n as u64);
        }
        if let Some(limit) = &q.limit_clause {
            match limit {
                ast::LimitClause::LimitOffset {
                    limit: None,
                    offset: Some(off),
                    limit_by,
                } if limit_by.is_empty() => {
                    if q.order_by.is_none() {
                        return Err(SqlError::syntax("OFFSET"));
                    }
                    if select.top.is_some() {
                        return Err(SqlError::top_with_offset());
                    }
                    let (e, ty) = self.with_mode(Mode::Row, |b| b.scalar(&off.value))?;
                    let n = const_int(&e, ty, self.cx.values)?.unwrap_or(0);
                    if n < 0 {
                        return Err(SqlError::negative_offset());
                    }
                    skip = n as u64;
                }
                _ => return Err(SqlError::syntax("LIMIT")),
            }
        }
        if let Some(fetch) = &q.fetch {
            if q.limit_clause.is_none() {
                return Err(SqlError::syntax("FETCH"));
            }
            if fetch.percent || fetch.with_ties {
                return Err(SqlError::not_modelled("FETCH … PERCENT / WITH TIES"));
            }
            let n = match &fetch.quantity {
                Some(e) => {
                    let (e, ty) = self.with_mode(Mode::Row, |b| b.scalar(e))?;
                    const_int(&e, ty, self.cx.values)?.unwrap_or(0)
                }
                None => 1,
            };
            if n <= 0 {
                return Err(SqlError::fetch_not_positive());
            }
            take = Some(n as u64);
        }

        // Place WHERE conjuncts at the level where their slots are bound.
        let levels = self.slots.len().max(1);
        let mut filters: Vec<Vec<Expr>> = (0..levels).map(|_| Vec::new()).collect();
        for c in &where_conjuncts {
            let level = c.max_slot().unwrap_or(0);
            filters[level].push(c.clone());
        }

        // Join lookups and partition pruning.
        for k in 1..self.slots.len() {
            self.slots[k].lookup = choose_lookup(k, &self.slots[k].on, &self.slots, self.cx.params);
        }
        let depots = self.prune(&where_conjuncts)?;

        // Constant subexpressions (CAST(@P2 AS DATE), DATEADD(DAY, 1, …)) are computed once here,
        // not once per row.
        let values = self.cx.values;
        for f in filters.iter_mut().flatten() {
            fold_constants(f, values);
        }
        for slot in &mut self.slots {
            slot.on.iter_mut().for_each(|e| fold_constants(e, values));
            if let Some(l) = &mut slot.lookup {
                l.keys.iter_mut().for_each(|e| fold_constants(e, values));
                l.residual
                    .iter_mut()
                    .for_each(|e| fold_constants(e, values));
            }
        }
        for c in &mut columns {
            fold_constants(&mut c.expr, values);
        }
        for (e, _) in &mut order_by {
            fold_constants(e, values);
        }
        for a in &mut self.aggs {
            if let Some(e) = &mut a.arg {
                fold_constants(e, values);
            }
        }
        for (_, e, _) in &mut self.group_keys {
            fold_constants(e, values);
        }

        let aggregate = if aggregate {
            Some(AggPlan {
                keys: self.group_keys.iter().map(|(_, e, _)| e.clone()).collect(),
                aggs: std::mem::take(&mut self.aggs),
                having,
            })
        } else {
            None
        };

        Ok(SelectPlan {
            slots: std::mem::take(&mut self.slots),
            filters,
            columns,
            order_by,
            distinct: select.distinct.is_some(),
            skip,
            take,
            aggregate,
            depots,
        })
    }

    fn with_mode<T>(&mut self, mode: Mode, f: impl FnOnce(&mut Self) -> T) -> T {
        let old = self.mode;
        self.mode = mode;
        let r = f(self);
        self.mode = old;
        r
    }

    fn add_table(&mut self, factor: &TableFactor, join: JoinKind) -> Result<(), SqlError> {
        let TableFactor::Table {
            name, alias, args, ..
        } = factor
        else {
            return match factor {
                TableFactor::Derived { .. } => Err(SqlError::not_modelled(
                    "derived tables (subqueries in FROM)",
                )),
                _ => Err(SqlError::not_modelled("this kind of table reference")),
            };
        };
        if args.is_some() {
            return Err(SqlError::not_modelled("table-valued functions"));
        }
        let parts = object_parts(name)?;
        for p in &parts {
            check_reserved(p)?;
        }
        let written = ident_text(&parts);
        let line = parts.first().map_or(1, line_of);
        let (db, schema, table) = match parts.as_slice() {
            [t] => (
                self.cx.session.database.clone(),
                "dbo".to_owned(),
                t.value.clone(),
            ),
            [s, t] => (
                self.cx.session.database.clone(),
                s.value.clone(),
                t.value.clone(),
            ),
            [d, s, t] => (d.value.clone(), s.value.clone(), t.value.clone()),
            _ => return Err(SqlError::invalid_object(&written).at_line(line)),
        };
        if !(schema.is_empty() || schema.eq_ignore_ascii_case("dbo")) {
            return Err(SqlError::invalid_object(&written).at_line(line));
        }
        let def = catalog::find_table(&db, &table)
            .ok_or_else(|| SqlError::invalid_object(&written).at_line(line))?;
        let (exposed, has_alias) = match alias {
            Some(a) => {
                check_reserved(&a.name)?;
                if !a.columns.is_empty() {
                    return Err(SqlError::not_modelled("column aliases on a table"));
                }
                (a.name.value.clone(), true)
            }
            None => (table.clone(), false),
        };
        if self
            .slots
            .iter()
            .any(|s| s.exposed.eq_ignore_ascii_case(&exposed))
        {
            return Err(SqlError::duplicate_exposed_name(&exposed).at_line(line));
        }
        self.slots.push(SlotPlan {
            table: def,
            exposed,
            has_alias,
            join,
            on: Vec::new(),
            lookup: None,
            parts: Vec::new(),
        });
        Ok(())
    }

    fn select_item(
        &mut self,
        item: &SelectItem,
        out: &mut Vec<OutputColumn>,
    ) -> Result<(), SqlError> {
        match item {
            SelectItem::UnnamedExpr(e) => {
                // T-SQL's `alias = expression`.
                if let ast::Expr::BinaryOp {
                    left,
                    op: BinaryOperator::Eq,
                    right,
                } = e
                {
                    if let ast::Expr::Identifier(alias) = left.as_ref() {
                        if !alias.value.starts_with('@') {
                            let (expr, ty) = self.scalar(right)?;
                            out.push(OutputColumn {
                                name: alias.value.clone(),
                                ty,
                                expr,
                            });
                            return Ok(());
                        }
                    }
                }
                let (expr, ty) = self.scalar(e)?;
                let name = match (&expr, e) {
                    (Expr::Column { slot, col }, _) => {
                        self.slots[*slot].table.columns[*col].name.to_owned()
                    }
                    (Expr::Group(i), _) if *i < self.group_keys.len() => {
                        match &self.group_keys[*i].1 {
                            Expr::Column { slot, col } => {
                                self.slots[*slot].table.columns[*col].name.to_owned()
                            }
                            _ => String::new(),
                        }
                    }
                    _ => String::new(),
                };
                out.push(OutputColumn { name, ty, expr });
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                let (e, ty) = self.scalar(expr)?;
                out.push(OutputColumn {
                    name: alias.value.clone(),
                    ty,
                    expr: e,
                });
            }
            SelectItem::ExprWithAliases { .. } => return Err(SqlError::syntax("(")),
            SelectItem::Wildcard(_) => {
                if self.slots.is_empty() {
                    return Err(SqlError::custom(
                        263,
                        16,
                        1,
                        "Must specify table to select from.".to_owned(),
                    ));
                }
                for slot in 0..self.slots.len() {
                    self.push_all_columns(slot, out)?;
                }
            }
            SelectItem::QualifiedWildcard(kind, _) => {
                let SelectItemQualifiedWildcardKind::ObjectName(name) = kind else {
                    return Err(SqlError::syntax("*"));
                };
                let parts = object_parts(name)?;
                let slot = self.find_slot(&parts).ok_or_else(|| {
                    SqlError::custom(
                        107,
                        15,
                        1,
                        format!(
                            "The column prefix '{}' does not match with a table name or alias name used in the query.",
                            ident_text(&parts)
                        ),
                    )
                })?;
                self.push_all_columns(slot, out)?;
            }
        }
        Ok(())
    }

    fn push_all_columns(
        &mut self,
        slot: usize,
        out: &mut Vec<OutputColumn>,
    ) -> Result<(), SqlError> {
        let def = self.slots[slot].table;
        for (col, c) in def.columns.iter().enumerate() {
            let mut expr = Expr::Column { slot, col };
            if self.mode == Mode::Agg {
                let key = self.group_keys.iter().position(|(_, e, _)| matches!(e, Expr::Column { slot: s, col: k } if *s == slot && *k == col));
                match key {
                    Some(i) => expr = Expr::Group(i),
                    None => {
                        return Err(SqlError::not_in_group_by(&format!(
                            "{}.{}",
                            self.slots[slot].exposed, c.name
                        )))
                    }
                }
            }
            out.push(OutputColumn {
                name: c.name.to_owned(),
                ty: c.ty,
                expr,
            });
        }
        Ok(())
    }

    fn order_item(
        &mut self,
        e: &ast::Expr,
        projection: &[SelectItem],
        columns: &[OutputColumn],
        distinct: bool,
    ) -> Result<Expr, SqlError> {
        // ORDER BY 2: a position in the select list.
        if let ast::Expr::Value(v) = e {
            if let ast::Value::Number(n, _) = &v.value {
                let pos: i64 = n.parse().map_err(|_| SqlError::syntax(n))?;
                if pos < 1 || pos as usize > columns.len() {
                    return Err(SqlError::order_by_position(pos));
                }
                return Ok(columns[pos as usize - 1].expr.clone());
            }
        }
        // ORDER BY alias: a select-list name wins over a source column.
        if let ast::Expr::Identifier(id) = e {
            let hits: Vec<&OutputColumn> = columns
                .iter()
                .filter(|c| !c.name.is_empty() && c.name.eq_ignore_ascii_case(&id.value))
                .collect();
            if let Some(c) = hits.first() {
                let aliased = projection.iter().any(|p| match p {
                    SelectItem::ExprWithAlias { alias, .. } => {
                        alias.value.eq_ignore_ascii_case(&id.value)
                    }
                    _ => false,
                });
                if aliased || hits.len() == 1 {
                    return Ok(c.expr.clone());
                }
            }
        }
        if distinct {
            let text = normalized(e);
            let in_list = projection.iter().any(|p| match p {
                SelectItem::UnnamedExpr(x) => normalized(x) == text,
                SelectItem::ExprWithAlias { expr, .. } => normalized(expr) == text,
                _ => false,
            });
            if !in_list {
                return Err(SqlError::order_by_not_in_distinct());
            }
        }
        let (expr, _) = self.scalar(e)?;
        Ok(expr)
    }

    fn find_slot(&self, qualifier: &[Ident]) -> Option<usize> {
        let visible = &self.slots[..self.visible.min(self.slots.len())];
        match qualifier {
            [q] => visible
                .iter()
                .position(|s| s.exposed.eq_ignore_ascii_case(&q.value)),
            [s, t] => visible.iter().position(|slot| {
                !slot.has_alias
                    && (s.value.is_empty() || s.value.eq_ignore_ascii_case("dbo"))
                    && slot.table.name.eq_ignore_ascii_case(&t.value)
            }),
            [d, s, t] => visible.iter().position(|slot| {
                !slot.has_alias
                    && slot.table.database.eq_ignore_ascii_case(&d.value)
                    && (s.value.is_empty() || s.value.eq_ignore_ascii_case("dbo"))
                    && slot.table.name.eq_ignore_ascii_case(&t.value)
            }),
            _ => None,
        }
    }

    /// Resolves a column reference; name errors are collected (SQL Server reports them all).
    fn column(&mut self, parts: &[Ident]) -> Result<(Expr, SqlType), SqlError> {
        let Some((name, qualifier)) = parts.split_last() else {
            return Err(SqlError::syntax("."));
        };
        check_reserved(name)?;
        let line = line_of(name);
        let visible = self.visible.min(self.slots.len());
        let found = if qualifier.is_empty() {
            let hits: Vec<(usize, usize)> = (0..visible)
                .filter_map(|s| self.slots[s].table.column(&name.value).map(|c| (s, c)))
                .collect();
            match hits.as_slice() {
                [] => {
                    self.errors
                        .push(SqlError::invalid_column(&name.value).at_line(line));
                    None
                }
                [one] => Some(*one),
                _ => {
                    self.errors
                        .push(SqlError::ambiguous_column(&name.value).at_line(line));
                    None
                }
            }
        } else {
            match self.find_slot(qualifier) {
                None => {
                    self.errors
                        .push(SqlError::unbound_identifier(&ident_text(parts)).at_line(line));
                    None
                }
                Some(s) => match self.slots[s].table.column(&name.value) {
                    Some(c) => Some((s, c)),
                    None => {
                        self.errors
                            .push(SqlError::invalid_column(&name.value).at_line(line));
                        None
                    }
                },
            }
        };
        let Some((slot, col)) = found else {
            return Ok((Expr::Const(Value::Null), SqlType::Int));
        };
        let ty = self.slots[slot].table.columns[col].ty;
        if self.mode == Mode::Agg && !self.in_aggregate {
            let key = self
                .group_keys
                .iter()
                .position(|(_, e, _)| matches!(e, Expr::Column { slot: s, col: c } if *s == slot && *c == col));
            return match key {
                Some(i) => Ok((Expr::Group(i), ty)),
                None => {
                    let col_name = self.slots[slot].table.columns[col].name;
                    self.errors.push(
                        SqlError::not_in_group_by(&format!(
                            "{}.{}",
                            self.slots[slot].exposed, col_name
                        ))
                        .at_line(line),
                    );
                    Ok((Expr::Const(Value::Null), ty))
                }
            };
        }
        Ok((Expr::Column { slot, col }, ty))
    }

    fn variable(&mut self, ident: &Ident) -> Result<(Expr, SqlType), SqlError> {
        let name = &ident.value;
        if let Some(sys) = name.strip_prefix("@@") {
            let s = self.cx.session;
            let v = match sys.to_ascii_uppercase().as_str() {
                "VERSION" => Value::Str(super::SERVER_VERSION_TEXT.into()),
                "SPID" => Value::Int(i64::from(s.spid)),
                "SERVERNAME" | "SERVICENAME" => Value::Str(s.server_name.clone().into()),
                "LANGUAGE" => Value::Str("us_english".into()),
                "ROWCOUNT" | "TRANCOUNT" | "ERROR" => Value::Int(0),
                "DATEFIRST" => Value::Int(7),
                "MAX_PRECISION" => Value::Int(38),
                "TEXTSIZE" => Value::Int(2_147_483_647),
                "MICROSOFTVERSION" => Value::Int(0x0F00_07D0),
                _ => return Err(SqlError::syntax(name).at_line(line_of(ident))),
            };
            let ty = v.natural_type();
            return Ok((Expr::Const(v), ty));
        }
        match self
            .cx
            .params
            .iter()
            .position(|p| p.name.eq_ignore_ascii_case(name))
        {
            Some(i) => Ok((Expr::Param(i), self.cx.params[i].ty)),
            None => {
                self.errors
                    .push(SqlError::undeclared_variable(name).at_line(line_of(ident)));
                Ok((Expr::Const(Value::Null), SqlType::Int))
            }
        }
    }

    /// Binds a value expression.
    fn scalar(&mut self, e: &ast::Expr) -> Result<(Expr, SqlType), SqlError> {
        let (expr, ty) = self.expr(e)?;
        if expr.is_predicate() {
            return Err(SqlError::syntax(&predicate_symbol(e)));
        }
        Ok((expr, ty))
    }

    /// Binds a search condition.
    fn predicate(&mut self, e: &ast::Expr) -> Result<Expr, SqlError> {
        let (expr, _) = self.expr(e)?;
        if !expr.is_predicate() {
            return Err(SqlError::custom(
                4145,
                15,
                1,
                format!(
                    "An expression of non-boolean type specified in a context where a condition is expected, near '{}'.",
                    last_word(e)
                ),
            ));
        }
        Ok(expr)
    }

    fn expr(&mut self, e: &ast::Expr) -> Result<(Expr, SqlType), SqlError> {
        use ast::Expr as A;
        if self.mode == Mode::Agg && !self.in_aggregate {
            let text = normalized(e);
            if let Some(i) = self.group_keys.iter().position(|(t, _, _)| *t == text) {
                let ty = self.group_keys[i].2;
                return Ok((Expr::Group(i), ty));
            }
        }
        match e {
            A::Identifier(id) if id.value.starts_with('@') => self.variable(id),
            A::Identifier(id) => {
                // Niladic functions written without parentheses.
                if id.quote_style.is_none() && id.value.eq_ignore_ascii_case("CURRENT_TIMESTAMP") {
                    return Ok((
                        Expr::Const(Value::DateTime(value::round_datetime(caracas_now()))),
                        SqlType::DateTime,
                    ));
                }
                self.column(std::slice::from_ref(id))
            }
            A::CompoundIdentifier(parts) => self.column(parts),
            A::Nested(inner) => self.expr(inner),
            A::Value(v) => literal(&v.value, self),
            A::UnaryOp { op, expr } => match op {
                UnaryOperator::Not => {
                    let inner = self.predicate(expr)?;
                    Ok((Expr::Not(Box::new(inner)), SqlType::Bit))
                }
                UnaryOperator::Minus => {
                    // Fold negative literals so -2147483648 is an int, as in SQL Server.
                    if let A::Value(v) = expr.as_ref() {
                        if let ast::Value::Number(n, _) = &v.value {
                            return literal(&ast::Value::Number(format!("-{n}"), false), self);
                        }
                    }
                    let (inner, ty) = self.scalar(expr)?;
                    if !ty.is_numeric() && !ty.is_string() {
                        return Err(SqlError::invalid_operand(ty.name(), "minus"));
                    }
                    Ok((
                        Expr::Neg {
                            expr: Box::new(inner),
                            ty,
                        },
                        ty,
                    ))
                }
                UnaryOperator::Plus => self.scalar(expr),
                _ => Err(SqlError::syntax(&op.to_string())),
            },
            A::BinaryOp { left, op, right } => self.binary(left, op, right),
            A::Cast {
                kind,
                expr,
                data_type,
                format,
            } => {
                if format.is_some() {
                    return Err(SqlError::syntax("FORMAT"));
                }
                let to = value::parse_type_name(&data_type.to_string())?;
                let (inner, from) = self.scalar(expr)?;
                let cast = Expr::Cast {
                    expr: Box::new(inner),
                    from,
                    to,
                };
                match kind {
                    CastKind::Cast | CastKind::DoubleColon => Ok((cast, to)),
                    CastKind::TryCast | CastKind::SafeCast => {
                        Err(SqlError::not_modelled("TRY_CAST"))
                    }
                }
            }
            A::Convert {
                is_try,
                expr,
                data_type,
                styles,
                ..
            } => {
                if *is_try {
                    return Err(SqlError::not_modelled("TRY_CONVERT"));
                }
                let Some(dt) = data_type else {
                    return Err(SqlError::syntax("CONVERT"));
                };
                let to = value::parse_type_name(&dt.to_string())?;
                let (inner, from) = self.scalar(expr)?;
                if let Some(style) = styles.first() {
                    let (s, sty) = self.with_mode(Mode::Row, |b| b.scalar(style))?;
                    let style = const_int(&s, sty, self.cx.values)?.unwrap_or(0);
                    if to.is_string() && from.is_temporal() {
                        let f = match style {
                            0 | 100 => None,
                            23 | 120 | 121 | 126 | 112 | 108 | 103 | 101 | 111 | 102 | 104
                            | 105 | 110 => Some(style),
                            _ => {
                                return Err(SqlError::not_modelled(&format!(
                                    "CONVERT style {style}"
                                )))
                            }
                        };
                        if let Some(style) = f {
                            return Ok((styled_conversion(inner, from, to, style), to));
                        }
                    }
                }
                Ok((
                    Expr::Cast {
                        expr: Box::new(inner),
                        from,
                        to,
                    },
                    to,
                ))
            }
            A::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                let op = match operand {
                    Some(o) => Some(Box::new(self.scalar(o)?.0)),
                    None => None,
                };
                let mut whens = Vec::new();
                let mut types = Vec::new();
                for cw in conditions {
                    let cond = if op.is_some() {
                        self.scalar(&cw.condition)?.0
                    } else {
                        self.predicate(&cw.condition)?
                    };
                    let (r, rt) = self.scalar(&cw.result)?;
                    types.push(rt);
                    whens.push((cond, r, rt));
                }
                let else_ = match else_result {
                    Some(e) => {
                        let (x, t) = self.scalar(e)?;
                        types.push(t);
                        Some((Box::new(x), t))
                    }
                    None => None,
                };
                let ty = common_type(&types)?;
                Ok((
                    Expr::Case {
                        operand: op,
                        whens,
                        else_,
                        ty,
                    },
                    ty,
                ))
            }
            A::IsNull(inner) => {
                let (x, _) = self.scalar(inner)?;
                Ok((
                    Expr::IsNull {
                        expr: Box::new(x),
                        negated: false,
                    },
                    SqlType::Bit,
                ))
            }
            A::IsNotNull(inner) => {
                let (x, _) = self.scalar(inner)?;
                Ok((
                    Expr::IsNull {
                        expr: Box::new(x),
                        negated: true,
                    },
                    SqlType::Bit,
                ))
            }
            A::InList {
                expr,
                list,
                negated,
            } => {
                let (x, xt) = self.scalar(expr)?;
                let mut items = Vec::new();
                for i in list {
                    let (v, vt) = self.scalar(i)?;
                    check_comparable(xt, vt, "equal to")?;
                    items.push(v);
                }
                Ok((
                    Expr::InList {
                        expr: Box::new(x),
                        list: items,
                        negated: *negated,
                    },
                    SqlType::Bit,
                ))
            }
            A::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let (x, xt) = self.scalar(expr)?;
                let (l, lt) = self.scalar(low)?;
                let (h, ht) = self.scalar(high)?;
                check_comparable(xt, lt, "greater than or equal to")?;
                check_comparable(xt, ht, "less than or equal to")?;
                Ok((
                    Expr::Between {
                        expr: Box::new(x),
                        low: Box::new(l),
                        high: Box::new(h),
                        negated: *negated,
                    },
                    SqlType::Bit,
                ))
            }
            A::Like {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            } => {
                if *any {
                    return Err(SqlError::syntax("ANY"));
                }
                let (x, _) = self.scalar(expr)?;
                let (p, _) = self.scalar(pattern)?;
                let escape = match escape_char {
                    Some(e) => {
                        let (v, _) = self.scalar(e)?;
                        match const_value(&v, self.cx.values)? {
                            Some(Value::Str(s)) if s.chars().count() == 1 => s.chars().next(),
                            _ => return Err(SqlError::custom(
                                506,
                                16,
                                1,
                                "The invalid escape character was specified in a LIKE predicate."
                                    .to_owned(),
                            )),
                        }
                    }
                    None => None,
                };
                Ok((
                    Expr::Like {
                        expr: Box::new(x),
                        pattern: Box::new(p),
                        escape,
                        negated: *negated,
                    },
                    SqlType::Bit,
                ))
            }
            A::Function(f) => self.function(f),
            A::Subquery(_) | A::Exists { .. } | A::InSubquery { .. } => {
                Err(SqlError::not_modelled("subqueries"))
            }
            other => Err(SqlError::syntax(&first_word(other))),
        }
    }

    fn binary(
        &mut self,
        left: &ast::Expr,
        op: &BinaryOperator,
        right: &ast::Expr,
    ) -> Result<(Expr, SqlType), SqlError> {
        let arith = match op {
            BinaryOperator::Plus => Some(ArithOp::Add),
            BinaryOperator::Minus => Some(ArithOp::Sub),
            BinaryOperator::Multiply => Some(ArithOp::Mul),
            BinaryOperator::Divide => Some(ArithOp::Div),
            BinaryOperator::Modulo => Some(ArithOp::Mod),
            _ => None,
        };
        if let Some(aop) = arith {
            let (l, lt) = self.scalar(left)?;
            let (r, rt) = self.scalar(right)?;
            let ty = arith_type(aop, lt, rt)?;
            return Ok((
                Expr::Arith {
                    op: aop,
                    left: Box::new(l),
                    lt,
                    right: Box::new(r),
                    rt,
                    ty,
                },
                ty,
            ));
        }
        let cmp = match op {
            BinaryOperator::Eq => Some((CmpOp::Eq, "equal to")),
            BinaryOperator::NotEq => Some((CmpOp::Ne, "not equal to")),
            BinaryOperator::Lt => Some((CmpOp::Lt, "less than")),
            BinaryOperator::LtEq => Some((CmpOp::Le, "less than or equal to")),
            BinaryOperator::Gt => Some((CmpOp::Gt, "greater than")),
            BinaryOperator::GtEq => Some((CmpOp::Ge, "greater than or equal to")),
            _ => None,
        };
        if let Some((cop, name)) = cmp {
            let (l, lt) = self.scalar(left)?;
            let (r, rt) = self.scalar(right)?;
            check_comparable(lt, rt, name)?;
            return Ok((
                Expr::Cmp {
                    op: cop,
                    left: Box::new(l),
                    right: Box::new(r),
                },
                SqlType::Bit,
            ));
        }
        match op {
            BinaryOperator::And | BinaryOperator::Or => {
                let l = self.predicate(left)?;
                let r = self.predicate(right)?;
                let is_and = *op == BinaryOperator::And;
                let mut list = Vec::new();
                for x in [l, r] {
                    match (x, is_and) {
                        (Expr::And(v), true) | (Expr::Or(v), false) => list.extend(v),
                        (x, _) => list.push(x),
                    }
                }
                Ok((
                    if is_and {
                        Expr::And(list)
                    } else {
                        Expr::Or(list)
                    },
                    SqlType::Bit,
                ))
            }
            other => Err(SqlError::syntax(&other.to_string())),
        }
    }

    fn function(&mut self, f: &ast::Function) -> Result<(Expr, SqlType), SqlError> {
        let parts = object_parts(&f.name)?;
        let Some(last) = parts.last() else {
            return Err(SqlError::syntax("("));
        };
        let name = last.value.to_ascii_uppercase();
        if f.over.is_some() {
            return Err(SqlError::not_modelled("window functions (OVER)"));
        }
        if f.filter.is_some() || !f.within_group.is_empty() {
            return Err(SqlError::syntax(&name));
        }
        let (args, distinct) = match &f.args {
            FunctionArguments::None => (Vec::new(), false),
            FunctionArguments::Subquery(_) => return Err(SqlError::not_modelled("subqueries")),
            FunctionArguments::List(list) => {
                if !list.clauses.is_empty() {
                    return Err(SqlError::syntax(&name));
                }
                (
                    list.args.clone(),
                    matches!(list.duplicate_treatment, Some(DuplicateTreatment::Distinct)),
                )
            }
        };
        let arg_exprs: Vec<Option<&ast::Expr>> = args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                _ => None,
            })
            .collect();
        let star = args
            .iter()
            .any(|a| matches!(a, FunctionArg::Unnamed(FunctionArgExpr::Wildcard)));

        // Aggregates.
        if let Some(func) = match name.as_str() {
            "COUNT" | "COUNT_BIG" => Some(if star {
                AggFunc::CountStar
            } else {
                AggFunc::Count
            }),
            "SUM" => Some(AggFunc::Sum),
            "MIN" => Some(AggFunc::Min),
            "MAX" => Some(AggFunc::Max),
            "AVG" => Some(AggFunc::Avg),
            _ => None,
        } {
            if self.mode != Mode::Agg {
                return Err(SqlError::aggregate_in_where().at_line(line_of(last)));
            }
            if self.in_aggregate {
                return Err(SqlError::nested_aggregate());
            }
            let (arg, arg_ty) = if func == AggFunc::CountStar {
                (None, SqlType::Int)
            } else {
                let Some(Some(a)) = arg_exprs.first() else {
                    return Err(SqlError::function_arity(&name, 1));
                };
                self.in_aggregate = true;
                let r = self.scalar(a);
                self.in_aggregate = false;
                let (e, t) = r?;
                (Some(e), t)
            };
            let ty = match func {
                AggFunc::CountStar | AggFunc::Count => {
                    if name == "COUNT_BIG" {
                        SqlType::BigInt
                    } else {
                        SqlType::Int
                    }
                }
                AggFunc::Min | AggFunc::Max => arg_ty,
                AggFunc::Sum | AggFunc::Avg => match arg_ty {
                    SqlType::Bit | SqlType::TinyInt | SqlType::SmallInt | SqlType::Int => {
                        SqlType::Int
                    }
                    SqlType::BigInt => SqlType::BigInt,
                    SqlType::Real | SqlType::Float => SqlType::Float,
                    SqlType::Decimal { scale, .. } => {
                        if func == AggFunc::Sum {
                            SqlType::decimal(38, scale)
                        } else {
                            SqlType::decimal(38, scale.max(6))
                        }
                    }
                    other => {
                        return Err(SqlError::invalid_operand(
                            other.name(),
                            &name.to_ascii_lowercase(),
                        ))
                    }
                },
            };
            self.aggs.push(AggSpec {
                func,
                arg,
                arg_ty,
                distinct,
                ty,
            });
            let idx = self.group_keys.len() + self.aggs.len() - 1;
            return Ok((Expr::Group(idx), ty));
        }
        if star {
            return Err(SqlError::syntax("*"));
        }
        if arg_exprs.iter().any(Option::is_none) {
            return Err(SqlError::syntax(&name));
        }
        let raw: Vec<&ast::Expr> = arg_exprs.into_iter().flatten().collect();

        // Niladic functions and session information: folded into constants.
        let s = self.cx.session;
        let constant = match name.as_str() {
            "GETDATE" | "CURRENT_TIMESTAMP" => Some((
                Value::DateTime(value::round_datetime(caracas_now())),
                SqlType::DateTime,
            )),
            "SYSDATETIME" => Some((Value::DateTime(caracas_now()), SqlType::DateTime2(7))),
            "GETUTCDATE" => Some((
                Value::DateTime(value::round_datetime(chrono::Utc::now().naive_utc())),
                SqlType::DateTime,
            )),
            "SYSUTCDATETIME" => Some((
                Value::DateTime(chrono::Utc::now().naive_utc()),
                SqlType::DateTime2(7),
            )),
            "DB_NAME" if raw.is_empty() => Some((
                Value::Str(s.database.clone().into()),
                SqlType::NVarChar(Some(128)),
            )),
            "USER_NAME" | "CURRENT_USER" => {
                Some((Value::Str("dbo".into()), SqlType::NVarChar(Some(128))))
            }
            "SUSER_SNAME" | "SUSER_NAME" | "SYSTEM_USER" | "ORIGINAL_LOGIN" => Some((
                Value::Str(s.user.clone().into()),
                SqlType::NVarChar(Some(128)),
            )),
            "HOST_NAME" => Some((
                Value::Str(s.host.clone().into()),
                SqlType::NVarChar(Some(128)),
            )),
            "APP_NAME" => Some((
                Value::Str(s.app.clone().into()),
                SqlType::NVarChar(Some(128)),
            )),
            "SERVERPROPERTY" => {
                let (arg, _) = match raw.first() {
                    Some(a) => self.scalar(a)?,
                    None => return Err(SqlError::function_arity("serverproperty", 1)),
                };
                let prop = match const_value(&arg, self.cx.values)? {
                    Some(Value::Str(p)) => p.to_ascii_lowercase(),
                    _ => String::new(),
                };
                let v = match prop.as_str() {
                    "productversion" => Value::Str(super::SERVER_VERSION.into()),
                    "productlevel" => Value::Str("RTM".into()),
                    "edition" => Value::Str("Developer Edition (64-bit)".into()),
                    "engineedition" => Value::Int(3),
                    "servername" | "machinename" => Value::Str(s.server_name.clone().into()),
                    "collation" => Value::Str("SQL_Latin1_General_CP1_CI_AS".into()),
                    _ => Value::Null,
                };
                let ty = if matches!(v, Value::Int(_)) {
                    SqlType::Int
                } else {
                    SqlType::NVarChar(Some(128))
                };
                Some((v, ty))
            }
            _ => None,
        };
        if let Some((v, ty)) = constant {
            return Ok((Expr::Const(v), ty));
        }

        // Date-part functions take the part as a bare word.
        if matches!(
            name.as_str(),
            "DATEPART" | "DATEADD" | "DATEDIFF" | "DATENAME"
        ) {
            let expected = if name == "DATEPART" || name == "DATENAME" {
                2
            } else {
                3
            };
            if raw.len() != expected {
                return Err(SqlError::function_arity(
                    &name.to_ascii_lowercase(),
                    expected,
                ));
            }
            let part_name = match raw[0] {
                ast::Expr::Identifier(i) => i.value.clone(),
                other => other.to_string(),
            };
            let part = DatePart::parse(&part_name).ok_or_else(|| {
                SqlError::custom(
                    155,
                    15,
                    1,
                    format!(
                        "'{part_name}' is not a recognized {} option.",
                        name.to_ascii_lowercase()
                    ),
                )
            })?;
            let mut bound = Vec::new();
            let mut types = Vec::new();
            for a in &raw[1..] {
                let (e, t) = self.scalar(a)?;
                bound.push(e);
                types.push(t);
            }
            return Ok(match name.as_str() {
                "DATEPART" => (
                    Expr::Func {
                        func: Func::DatePart(part),
                        args: bound,
                        arg_types: types,
                        ty: SqlType::Int,
                    },
                    SqlType::Int,
                ),
                "DATENAME" => return Err(SqlError::not_modelled("DATENAME")),
                "DATEADD" => {
                    let ty = match types.get(1) {
                        Some(t) if t.is_temporal() && *t != SqlType::Time(7) => *t,
                        Some(t) if t.is_string() => SqlType::DateTime,
                        Some(SqlType::DateTime) | None => SqlType::DateTime,
                        Some(other) => return Err(SqlError::custom(
                            8116,
                            16,
                            1,
                            format!("Argument data type {} is invalid for argument 2 of dateadd function.", other.name()),
                        )),
                    };
                    (
                        Expr::Func {
                            func: Func::DateAdd(part),
                            args: bound,
                            arg_types: types,
                            ty,
                        },
                        ty,
                    )
                }
                _ => (
                    Expr::Func {
                        func: Func::DateDiff(part),
                        args: bound,
                        arg_types: types,
                        ty: SqlType::Int,
                    },
                    SqlType::Int,
                ),
            });
        }

        let mut bound = Vec::new();
        let mut types = Vec::new();
        for a in &raw {
            let (e, t) = self.scalar(a)?;
            bound.push(e);
            types.push(t);
        }
        let arity = |n: usize| -> Result<(), SqlError> {
            if raw.len() == n {
                Ok(())
            } else {
                Err(SqlError::function_arity(&name.to_ascii_lowercase(), n))
            }
        };
        let string_type = |t: SqlType| match t {
            SqlType::NVarChar(n) => SqlType::NVarChar(n),
            _ => SqlType::NVarChar(Some(30)),
        };
        let (func, ty) = match name.as_str() {
            "ISNULL" => {
                arity(2)?;
                (Func::IsNull, types[0])
            }
            "COALESCE" => {
                if raw.len() < 2 {
                    return Err(SqlError::custom(
                        174,
                        15,
                        1,
                        "The coalesce function requires 2 argument(s).".to_owned(),
                    ));
                }
                (Func::Coalesce, common_type(&types)?)
            }
            "NULLIF" => {
                arity(2)?;
                (Func::NullIf, types[0])
            }
            "UPPER" => {
                arity(1)?;
                (Func::Upper, string_type(types[0]))
            }
            "LOWER" => {
                arity(1)?;
                (Func::Lower, string_type(types[0]))
            }
            "LTRIM" => {
                arity(1)?;
                (Func::LTrim, string_type(types[0]))
            }
            "RTRIM" => {
                arity(1)?;
                (Func::RTrim, string_type(types[0]))
            }
            "TRIM" => {
                arity(1)?;
                (Func::Trim, string_type(types[0]))
            }
            "LEN" => {
                arity(1)?;
                (Func::Len, SqlType::Int)
            }
            "SUBSTRING" => {
                arity(3)?;
                (Func::Substring, string_type(types[0]))
            }
            "LEFT" => {
                arity(2)?;
                (Func::Left, string_type(types[0]))
            }
            "RIGHT" => {
                arity(2)?;
                (Func::Right, string_type(types[0]))
            }
            "CONCAT" => {
                if raw.len() < 2 {
                    return Err(SqlError::custom(
                        189,
                        15,
                        1,
                        "The concat function requires 2 to 254 arguments.".to_owned(),
                    ));
                }
                let total: usize = types
                    .iter()
                    .map(|t| match t {
                        SqlType::NVarChar(Some(n)) => usize::from(*n),
                        SqlType::NVarChar(None) => 8000,
                        _ => 30,
                    })
                    .sum();
                (Func::Concat, SqlType::nvarchar_for(total))
            }
            "REPLACE" => {
                arity(3)?;
                (Func::Replace, SqlType::NVarChar(Some(4000)))
            }
            "ABS" => {
                arity(1)?;
                (Func::Abs, types[0])
            }
            "ROUND" => {
                if !(2..=3).contains(&raw.len()) {
                    return Err(SqlError::function_arity("round", 2));
                }
                (Func::Round, types[0])
            }
            "FLOOR" => {
                arity(1)?;
                (Func::Floor, types[0])
            }
            "CEILING" => {
                arity(1)?;
                (Func::Ceiling, types[0])
            }
            "YEAR" => {
                arity(1)?;
                (Func::DatePart(DatePart::Year), SqlType::Int)
            }
            "MONTH" => {
                arity(1)?;
                (Func::DatePart(DatePart::Month), SqlType::Int)
            }
            "DAY" => {
                arity(1)?;
                (Func::DatePart(DatePart::Day), SqlType::Int)
            }
            _ => return Err(SqlError::unknown_function(&last.value).at_line(line_of(last))),
        };
        Ok((
            Expr::Func {
                func,
                args: bound,
                arg_types: types,
                ty,
            },
            ty,
        ))
    }

    /// Chooses partitions for every partitioned slot; returns which depots the query reads.
    fn prune(&mut self, where_conjuncts: &[Expr]) -> Result<DepotTouch, SqlError> {
        let tables = self.cx.tables;
        let mut touch = DepotTouch::None;
        for k in 0..self.slots.len() {
            let def = self.slots[k].table;
            let mut own: Vec<&Expr> = Vec::new();
            for c in where_conjuncts.iter().chain(self.slots[k].on.iter()) {
                let mut only_k = true;
                let mut any = false;
                c.visit_slots(&mut |s| {
                    any = true;
                    if s != k {
                        only_k = false;
                    }
                });
                if any && only_k {
                    own.push(c);
                }
            }
            let parts = match def.partitioning {
                Partitioning::Whole => vec![PartKey::Whole],
                Partitioning::ByDepot { depot_col } => {
                    let set = self.depot_set(&own, k, depot_col, |d| &d.code)?;
                    merge_touch(&mut touch, &set);
                    let list: Vec<usize> =
                        set.unwrap_or_else(|| (0..tables.depots.len()).collect());
                    list.into_iter().map(PartKey::Depot).collect()
                }
                Partitioning::ByDepotDay {
                    locality_col,
                    date_col,
                    time_col,
                } => {
                    let set = self.depot_set(&own, k, locality_col, |d| &d.locality)?;
                    merge_touch(&mut touch, &set);
                    let mut list: Vec<usize> =
                        set.unwrap_or_else(|| (0..tables.depots.len()).collect());
                    list.sort_by_key(|&d| (depot_number(&tables.depots[d].code), d));
                    let (mut lo, mut hi) = tables.sales_date_domain();
                    for c in &own {
                        if let Some((a, b)) = self.day_range(c, k, date_col, time_col)? {
                            lo = lo.max(a);
                            hi = hi.min(b);
                        }
                    }
                    let mut parts = Vec::new();
                    let mut day = lo;
                    while day <= hi && !list.is_empty() {
                        parts.extend(list.iter().map(|&d| PartKey::Day(d, day)));
                        match day.succ_opt() {
                            Some(n) => day = n,
                            None => break,
                        }
                    }
                    parts
                }
            };
            self.slots[k].parts = parts;
        }
        Ok(touch)
    }

    /// Depots a slot is limited to by its conjuncts (None: all). `key` picks the depot attribute
    /// the column holds (code or locality).
    fn depot_set(
        &self,
        conjuncts: &[&Expr],
        slot: usize,
        col: usize,
        key: impl Fn(&crate::stellar::config::SimDepot) -> &String + Copy,
    ) -> Result<Option<Vec<usize>>, SqlError> {
        let mut acc: Option<Vec<usize>> = None;
        for c in conjuncts {
            if let Some(set) = self.depots_of(c, slot, col, key)? {
                acc = Some(match acc {
                    None => set,
                    Some(prev) => prev.into_iter().filter(|d| set.contains(d)).collect(),
                });
            }
        }
        Ok(acc)
    }

    fn depots_of(
        &self,
        e: &Expr,
        slot: usize,
        col: usize,
        key: impl Fn(&crate::stellar::config::SimDepot) -> &String + Copy,
    ) -> Result<Option<Vec<usize>>, SqlError> {
        let depots = &self.cx.tables.depots;
        let matching = |v: &Value<'_>| -> Vec<usize> {
            depots
                .iter()
                .enumerate()
                .filter(|(_, d)| {
                    matches!(
                        value::compare(&Value::Str(key(d).as_str().into()), v),
                        Ok(Some(std::cmp::Ordering::Equal))
                    )
                })
                .map(|(i, _)| i)
                .collect()
        };
        let is_col =
            |x: &Expr| matches!(x, Expr::Column { slot: s, col: c } if *s == slot && *c == col);
        Ok(match e {
            Expr::Cmp {
                op: CmpOp::Eq,
                left,
                right,
            } => {
                let other = if is_col(left) {
                    right
                } else if is_col(right) {
                    left
                } else {
                    return Ok(None);
                };
                match const_value(other, self.cx.values) {
                    Ok(Some(v)) => Some(matching(&v)),
                    _ => None,
                }
            }
            Expr::InList {
                expr,
                list,
                negated: false,
            } if is_col(expr) => {
                let mut set = Vec::new();
                for item in list {
                    match const_value(item, self.cx.values) {
                        Ok(Some(v)) => set.extend(matching(&v)),
                        _ => return Ok(None),
                    }
                }
                set.sort_unstable();
                set.dedup();
                Some(set)
            }
            Expr::And(list) => {
                let mut acc: Option<Vec<usize>> = None;
                for x in list {
                    if let Some(set) = self.depots_of(x, slot, col, key)? {
                        acc = Some(match acc {
                            None => set,
                            Some(prev) => prev.into_iter().filter(|d| set.contains(d)).collect(),
                        });
                    }
                }
                acc
            }
            Expr::Or(list) => {
                let mut all = Vec::new();
                for x in list {
                    match self.depots_of(x, slot, col, key)? {
                        Some(set) => all.extend(set),
                        None => return Ok(None),
                    }
                }
                all.sort_unstable();
                all.dedup();
                Some(all)
            }
            _ => None,
        })
    }

    /// The days a conjunct allows for a (depot, day)-partitioned slot, or None when it does not bound
    /// them. Returns an empty range as (hi + 1, hi).
    fn day_range(
        &self,
        e: &Expr,
        slot: usize,
        date_col: usize,
        time_col: usize,
    ) -> Result<Option<(NaiveDate, NaiveDate)>, SqlError> {
        let (dlo, dhi) = self.cx.tables.sales_date_domain();
        let empty = || Some((dhi.succ_opt().unwrap_or(dhi), dhi));
        match e {
            Expr::And(list) => {
                let mut acc: Option<(NaiveDate, NaiveDate)> = None;
                for x in list {
                    if let Some((a, b)) = self.day_range(x, slot, date_col, time_col)? {
                        acc = Some(match acc {
                            None => (a, b),
                            Some((p, q)) => (p.max(a), q.min(b)),
                        });
                    }
                }
                Ok(acc)
            }
            Expr::Or(list) => {
                let mut acc: Option<(NaiveDate, NaiveDate)> = None;
                for x in list {
                    match self.day_range(x, slot, date_col, time_col)? {
                        None => return Ok(None),
                        Some((a, b)) if a > b => {}
                        Some((a, b)) => {
                            acc = Some(match acc {
                                None => (a, b),
                                Some((p, q)) => (p.min(a), q.max(b)),
                            });
                        }
                    }
                }
                Ok(Some(acc.unwrap_or_else(|| empty().unwrap_or((dhi, dlo)))))
            }
            Expr::Between {
                expr,
                low,
                high,
                negated: false,
            } => {
                let a = self.bound(expr, CmpOp::Ge, low, slot, date_col, time_col);
                let b = self.bound(expr, CmpOp::Le, high, slot, date_col, time_col);
                Ok(match (a, b) {
                    (Some((a1, a2)), Some((b1, b2))) => Some((a1.max(b1), a2.min(b2))),
                    (x, None) | (None, x) => x,
                })
            }
            Expr::Cmp { op, left, right } if *op != CmpOp::Ne => {
                if left.is_constant() {
                    Ok(self.bound(right, op.flipped(), left, slot, date_col, time_col))
                } else if right.is_constant() {
                    Ok(self.bound(left, *op, right, slot, date_col, time_col))
                } else {
                    Ok(None)
                }
            }
            _ => Ok(None),
        }
    }

    /// Days d for which `expr(d, t) op c` can hold, by binary search over the sales date domain;
    /// `expr` must be monotone (non-decreasing) in the date and time columns of `slot`.
    fn bound(
        &self,
        expr: &Expr,
        op: CmpOp,
        c: &Expr,
        slot: usize,
        date_col: usize,
        time_col: usize,
    ) -> Option<(NaiveDate, NaiveDate)> {
        if !monotone(expr, slot, date_col, time_col) {
            return None;
        }
        let c = const_value(c, self.cx.values).ok()??;
        if c.is_null() {
            let (_, hi) = self.cx.tables.sales_date_domain();
            return Some((hi.succ_opt().unwrap_or(hi), hi));
        }
        let def = self.slots[slot].table;
        let base = self.cx.tables.hora_base_date();
        let tmax = NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN);
        let eval_at = |d: NaiveDate, t: NaiveTime| -> Option<std::cmp::Ordering> {
            let probe: Arc<dyn RowSet> = Arc::new(catalog::probe_day(def, d, base, t));
            let mut slots = vec![SlotRows::default(); slot + 1];
            slots[slot].parts.push(probe);
            let tuple = vec![RowRef { part: 0, row: 0 }; slot + 1];
            let env = Env {
                slots: &slots,
                tuple: &tuple,
                params: self.cx.values,
                group: &[],
            };
            let v = expr.eval(&env).ok()?;
            value::compare(&v, &c).ok()?
        };
        let (lo_dom, hi_dom) = self.cx.tables.sales_date_domain();
        let days = (hi_dom - lo_dom).num_days();
        if days < 0 {
            return None;
        }
        let day = |i: i64| lo_dom + chrono::Duration::days(i);
        // First index where pred holds (pred monotone false→true), or days+1.
        let first_true = |pred: &dyn Fn(NaiveDate) -> Option<bool>| -> Option<i64> {
            let (mut a, mut b) = (0i64, days + 1);
            while a < b {
                let m = (a + b) / 2;
                if pred(day(m))? {
                    b = m;
                } else {
                    a = m + 1;
                }
            }
            Some(a)
        };
        let lower = |strict: bool| -> Option<i64> {
            first_true(&|d| {
                eval_at(d, tmax).map(|o| {
                    if strict {
                        o == std::cmp::Ordering::Greater
                    } else {
                        o != std::cmp::Ordering::Less
                    }
                })
            })
        };
        let upper = |strict: bool| -> Option<i64> {
            // Last index where E(d, tmin) op c holds = first index where it fails − 1.
            first_true(&|d| {
                eval_at(d, NaiveTime::MIN).map(|o| {
                    if strict {
                        o != std::cmp::Ordering::Less
                    } else {
                        o == std::cmp::Ordering::Greater
                    }
                })
            })
            .map(|i| i - 1)
        };
        let (lo_i, hi_i) = match op {
            CmpOp::Ge => (lower(false)?, days),
            CmpOp::Gt => (lower(true)?, days),
            CmpOp::Le => (0, upper(false)?),
            CmpOp::Lt => (0, upper(true)?),
            CmpOp::Eq => (lower(false)?, upper(false)?),
            CmpOp::Ne => return None,
        };
        if lo_i > hi_i {
            return Some((day(days + 1), day(days)));
        }
        Some((day(lo_i), day(hi_i)))
    }
}

/// Replaces constant subexpressions by their value. An expression whose evaluation fails is left
/// as it is, so the error surfaces when (and only if) a row evaluates it, as in SQL Server.
fn fold_constants(e: &mut Expr, params: &[Value<'static>]) {
    match e {
        Expr::Const(_) | Expr::Param(_) | Expr::Column { .. } | Expr::Group(_) => return,
        _ => {}
    }
    if e.is_constant() && !e.is_predicate() {
        if let Ok(Some(v)) = const_value(e, params) {
            *e = Expr::Const(v);
            return;
        }
    }
    match e {
        Expr::Cast { expr, .. }
        | Expr::Neg { expr, .. }
        | Expr::Not(expr)
        | Expr::IsNull { expr, .. } => fold_constants(expr, params),
        Expr::Arith { left, right, .. } | Expr::Cmp { left, right, .. } => {
            fold_constants(left, params);
            fold_constants(right, params);
        }
        Expr::And(v) | Expr::Or(v) => v.iter_mut().for_each(|x| fold_constants(x, params)),
        Expr::InList { expr, list, .. } => {
            fold_constants(expr, params);
            list.iter_mut().for_each(|x| fold_constants(x, params));
        }
        Expr::Between {
            expr, low, high, ..
        } => {
            fold_constants(expr, params);
            fold_constants(low, params);
            fold_constants(high, params);
        }
        Expr::Like { expr, pattern, .. } => {
            fold_constants(expr, params);
            fold_constants(pattern, params);
        }
        Expr::Case {
            operand,
            whens,
            else_,
            ..
        } => {
            if let Some(o) = operand {
                fold_constants(o, params);
            }
            for (w, t, _) in whens.iter_mut() {
                fold_constants(w, params);
                fold_constants(t, params);
            }
            if let Some((x, _)) = else_ {
                fold_constants(x, params);
            }
        }
        Expr::Func { args, .. } => args.iter_mut().for_each(|x| fold_constants(x, params)),
        Expr::Const(_) | Expr::Param(_) | Expr::Column { .. } | Expr::Group(_) => {}
    }
}

/// Whether an expression is non-decreasing in a (date, time) pair of columns of one slot.
pub(crate) fn monotone(e: &Expr, slot: usize, date_col: usize, time_col: usize) -> bool {
    match e {
        Expr::Column { slot: s, col } => *s == slot && (*col == date_col || *col == time_col),
        Expr::Cast { expr, to, .. } => to.is_temporal() && monotone(expr, slot, date_col, time_col),
        Expr::Arith {
            op: ArithOp::Add,
            left,
            right,
            ..
        } => {
            let (ml, mr) = (
                monotone(left, slot, date_col, time_col),
                monotone(right, slot, date_col, time_col),
            );
            (ml && (mr || right.is_constant())) || (left.is_constant() && mr)
        }
        Expr::Arith {
            op: ArithOp::Sub,
            left,
            right,
            ..
        } => monotone(left, slot, date_col, time_col) && right.is_constant(),
        Expr::Func {
            func: Func::DateAdd(_),
            args,
            ..
        } => {
            args.len() == 2 && args[0].is_constant() && monotone(&args[1], slot, date_col, time_col)
        }
        _ => false,
    }
}

fn merge_touch(touch: &mut DepotTouch, set: &Option<Vec<usize>>) {
    *touch = match (std::mem::replace(touch, DepotTouch::None), set) {
        (DepotTouch::All, _) | (_, None) => DepotTouch::All,
        (DepotTouch::None, Some(s)) => DepotTouch::Some(s.clone()),
        (DepotTouch::Some(mut a), Some(s)) => {
            a.extend(s.iter().copied());
            a.sort_unstable();
            a.dedup();
            DepotTouch::Some(a)
        }
    };
}

/// A hash lookup for slot k: an equality between one of its columns and an expression over earlier
/// slots, with comparable types.
fn choose_lookup(
    k: usize,
    on: &[Expr],
    slots: &[SlotPlan],
    params: &[DeclaredParam],
) -> Option<Lookup> {
    let mut lookup = Lookup {
        cols: Vec::new(),
        keys: Vec::new(),
        residual: Vec::new(),
    };
    for c in on {
        let mut used = false;
        if let Expr::Cmp {
            op: CmpOp::Eq,
            left,
            right,
        } = c
        {
            for (mine, other) in [(left, right), (right, left)] {
                let Expr::Column { slot, col } = mine.as_ref() else {
                    continue;
                };
                if *slot != k
                    || lookup.cols.contains(col)
                    || lookup.cols.len() >= super::exec::MAX_KEYS
                {
                    continue;
                }
                let Some(m) = other.max_slot() else { continue };
                if m >= k {
                    continue;
                }
                // Hashing must agree with comparison: only same-kind keys (string/string, number/number).
                let col_ty = slots[k].table.columns[*col].ty;
                let same_kind = match type_of(other, slots, params) {
                    Some(t) => {
                        (t.is_string() && col_ty.is_string())
                            || (t.is_numeric() && col_ty.is_numeric())
                    }
                    None => false,
                };
                if same_kind {
                    lookup.cols.push(*col);
                    lookup.keys.push((**other).clone());
                    used = true;
                    break;
                }
            }
        }
        if !used {
            lookup.residual.push(c.clone());
        }
    }
    if lookup.cols.is_empty() {
        None
    } else {
        Some(lookup)
    }
}

/// The static type of a value expression.
fn type_of(e: &Expr, slots: &[SlotPlan], params: &[DeclaredParam]) -> Option<SqlType> {
    match e {
        Expr::Column { slot, col } => slots.get(*slot).map(|s| s.table.columns[*col].ty),
        Expr::Const(v) => Some(v.natural_type()),
        Expr::Param(i) => params.get(*i).map(|p| p.ty),
        Expr::Cast { to, .. } => Some(*to),
        Expr::Arith { ty, .. }
        | Expr::Neg { ty, .. }
        | Expr::Case { ty, .. }
        | Expr::Func { ty, .. } => Some(*ty),
        _ => None,
    }
}

fn conjuncts(e: Expr) -> Vec<Expr> {
    match e {
        Expr::And(list) => list,
        other => vec![other],
    }
}

/// Comparisons SQL Server refuses at compile time (numbers against dates, dates against times).
fn check_comparable(a: SqlType, b: SqlType, op: &str) -> Result<(), SqlError> {
    let clash = |x: SqlType, y: SqlType| -> bool {
        (x.is_numeric() && y.is_temporal() && y != SqlType::DateTime)
            || (x == SqlType::Date && matches!(y, SqlType::Time(_)))
            || (matches!(x, SqlType::Time(_))
                && matches!(
                    y,
                    SqlType::Date | SqlType::DateTime2(_) | SqlType::DateTimeOffset(_)
                ))
    };
    if clash(a, b) || clash(b, a) {
        return Err(SqlError::type_clash(a.name(), b.name()));
    }
    let _ = op;
    Ok(())
}

/// The result type of CASE/COALESCE branches: the highest precedence, widened.
fn common_type(types: &[SqlType]) -> Result<SqlType, SqlError> {
    let Some(mut top) = types.first().copied() else {
        return Ok(SqlType::Int);
    };
    for t in &types[1..] {
        if t.precedence() > top.precedence() {
            top = *t;
        }
    }
    Ok(match top {
        SqlType::NVarChar(_) => {
            let mut n: Option<usize> = Some(1);
            for t in types {
                n = match (n, t) {
                    (Some(a), SqlType::NVarChar(Some(b))) => Some(a.max(usize::from(*b))),
                    (_, SqlType::NVarChar(None)) | (None, _) => None,
                    (Some(a), _) => Some(a.max(30)),
                };
            }
            match n {
                Some(n) => SqlType::nvarchar_for(n),
                None => SqlType::NVarChar(None),
            }
        }
        SqlType::Decimal { .. } => {
            let (mut int_digits, mut scale) = (0u8, 0u8);
            for t in types
                .iter()
                .filter(|t| t.is_numeric() && !matches!(t, SqlType::Float | SqlType::Real))
            {
                let (p, s) = t.decimal_shape();
                int_digits = int_digits.max(p - s);
                scale = scale.max(s);
            }
            SqlType::decimal((int_digits + scale).min(38), scale)
        }
        other => other,
    })
}

fn literal(v: &ast::Value, b: &mut Binder<'_, '_>) -> Result<(Expr, SqlType), SqlError> {
    match v {
        ast::Value::Number(n, _) => {
            let text = n.as_str();
            if text.contains(['e', 'E']) {
                let f: f64 = text.parse().map_err(|_| SqlError::syntax(text))?;
                return Ok((Expr::Const(Value::Float(f)), SqlType::Float));
            }
            if !text.contains('.') {
                if let Ok(i) = text.parse::<i64>() {
                    if i32::try_from(i).is_ok() {
                        return Ok((Expr::Const(Value::Int(i)), SqlType::Int));
                    }
                }
            }
            let d: rust_decimal::Decimal = text.parse().map_err(|_| SqlError::syntax(text))?;
            let scale = d.scale() as u8;
            let digits = text.chars().filter(char::is_ascii_digit).count() as u8;
            let ty = SqlType::decimal(digits.max(scale).max(1), scale);
            Ok((Expr::Const(Value::Decimal(d)), ty))
        }
        ast::Value::SingleQuotedString(s) | ast::Value::NationalStringLiteral(s) => {
            let ty = SqlType::nvarchar_for(s.chars().count());
            Ok((Expr::Const(Value::Str(s.clone().into())), ty))
        }
        ast::Value::Null => Ok((Expr::Const(Value::Null), SqlType::Int)),
        ast::Value::Placeholder(p) => b.variable(&Ident::new(p.clone())),
        ast::Value::Boolean(x) => Err(SqlError::invalid_column(if *x { "true" } else { "false" })),
        ast::Value::HexStringLiteral(_) => Err(SqlError::not_modelled("binary literals")),
        other => Err(SqlError::syntax(&other.to_string())),
    }
}

fn styled_conversion(inner: Expr, from: SqlType, to: SqlType, style: i64) -> Expr {
    // CONVERT(nvarchar, date, style): the styles people use for dates, as string functions over the
    // ISO text (`yyyy-mm-dd hh:mi:ss.mmm`).
    let iso = Expr::Cast {
        expr: Box::new(Expr::Cast {
            expr: Box::new(inner),
            from,
            to: SqlType::DateTime2(3),
        }),
        from: SqlType::DateTime2(3),
        to: SqlType::NVarChar(Some(27)),
    };
    let sub = |start: i64, len: i64| Expr::Func {
        func: Func::Substring,
        args: vec![
            iso.clone(),
            Expr::Const(Value::Int(start)),
            Expr::Const(Value::Int(len)),
        ],
        arg_types: vec![SqlType::NVarChar(Some(27)), SqlType::Int, SqlType::Int],
        ty: SqlType::NVarChar(Some(27)),
    };
    let concat = |parts: Vec<Expr>| {
        let n = parts.len();
        Expr::Func {
            func: Func::Concat,
            args: parts,
            arg_types: vec![SqlType::NVarChar(Some(27)); n],
            ty: SqlType::NVarChar(Some(27)),
        }
    };
    let lit = |s: &str| Expr::Const(Value::Str(s.to_owned().into()));
    let (y, m, d) = (sub(1, 4), sub(6, 2), sub(9, 2));
    let text = match style {
        23 => sub(1, 10),
        120 => sub(1, 19),
        121 => sub(1, 23),
        126 => concat(vec![sub(1, 10), lit("T"), sub(12, 12)]),
        112 => concat(vec![y, m, d]),
        108 => sub(12, 8),
        103 => concat(vec![d, lit("/"), m, lit("/"), y]),
        101 => concat(vec![m, lit("/"), d, lit("/"), y]),
        111 => concat(vec![y, lit("/"), m, lit("/"), d]),
        102 => concat(vec![y, lit("."), m, lit("."), d]),
        104 => concat(vec![d, lit("."), m, lit("."), y]),
        105 => concat(vec![d, lit("-"), m, lit("-"), y]),
        _ => concat(vec![m, lit("-"), d, lit("-"), y]),
    };
    Expr::Cast {
        expr: Box::new(text),
        from: SqlType::NVarChar(Some(27)),
        to,
    }
}

fn has_aggregate(e: &ast::Expr) -> bool {
    let text = e.to_string().to_ascii_uppercase();
    ["COUNT(", "COUNT_BIG(", "SUM(", "MIN(", "MAX(", "AVG("]
        .iter()
        .any(|f| {
            text.match_indices(f).any(|(i, _)| {
                i == 0
                    || !text.as_bytes()[i - 1].is_ascii_alphanumeric()
                        && text.as_bytes()[i - 1] != b'_'
            })
        })
}

fn item_has_aggregate(item: &SelectItem) -> bool {
    match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => has_aggregate(e),
        _ => false,
    }
}

/// A canonical text of an expression, to match GROUP BY keys and DISTINCT's ORDER BY items.
fn normalized(e: &ast::Expr) -> String {
    e.to_string().to_ascii_lowercase().replace(['[', ']'], "")
}

fn first_word(e: &ast::Expr) -> String {
    e.to_string()
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_owned()
}

fn last_word(e: &ast::Expr) -> String {
    e.to_string()
        .split_whitespace()
        .last()
        .unwrap_or("")
        .to_owned()
}

fn predicate_symbol(e: &ast::Expr) -> String {
    match e {
        ast::Expr::BinaryOp { op, .. } => op.to_string(),
        ast::Expr::IsNull(_) | ast::Expr::IsNotNull(_) => "IS".to_owned(),
        ast::Expr::InList { .. } => "IN".to_owned(),
        ast::Expr::Between { .. } => "BETWEEN".to_owned(),
        ast::Expr::Like { .. } => "LIKE".to_owned(),
        ast::Expr::UnaryOp { .. } => "NOT".to_owned(),
        other => first_word(other),
    }
}
