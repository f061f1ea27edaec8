//! The shape of a SELECT: FROM and its joins, WHERE, GROUP BY and aggregates, the select list,
//! ORDER BY and TOP / OFFSET … FETCH, assembled into a [`SelectPlan`].

use sqlparser::ast::{
    self, BinaryOperator, GroupByExpr, JoinConstraint, JoinOperator, OrderByKind, SelectItem,
    SelectItemQualifiedWildcardKind, SetExpr, TableFactor, TopQuantity,
};

use super::expressions::normalized;
use super::names::{check_reserved, ident_text, line_of, object_parts};
use super::optimize::{choose_lookup, fold_constants};
use super::{AggPlan, Binder, JoinKind, Mode, OutputColumn, SelectPlan, SlotPlan};
use crate::stellar::sql::catalog;
use crate::stellar::sql::error::SqlError;
use crate::stellar::sql::expr::{const_int, Expr};

impl Binder<'_, '_> {
    pub(super) fn query(&mut self, q: &ast::Query) -> Result<SelectPlan, SqlError> {
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

    pub(super) fn with_mode<T>(&mut self, mode: Mode, f: impl FnOnce(&mut Self) -> T) -> T {
        let old = self.mode;
        self.mode = mode;
        let r = f(self);
        self.mode = old;
        r
    }

    pub(super) fn add_table(
        &mut self,
        factor: &TableFactor,
        join: JoinKind,
    ) -> Result<(), SqlError> {
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

    pub(super) fn select_item(
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

    pub(super) fn push_all_columns(
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

    pub(super) fn order_item(
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
}

pub(super) fn conjuncts(e: Expr) -> Vec<Expr> {
    match e {
        Expr::And(list) => list,
        other => vec![other],
    }
}

pub(super) fn has_aggregate(e: &ast::Expr) -> bool {
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

pub(super) fn item_has_aggregate(item: &SelectItem) -> bool {
    match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => has_aggregate(e),
        _ => false,
    }
}
