//! Partition pruning: which depots and days each partitioned slot must read, derived from the
//! WHERE clause and the slot's own ON conditions (see the module docs of [`plan`](super)).

use std::sync::Arc;

use chrono::{NaiveDate, NaiveTime};

use super::{Binder, DepotTouch};
use crate::stellar::data::depot_number;
use crate::stellar::sql::catalog::{self, PartKey, Partitioning, RowSet};
use crate::stellar::sql::error::SqlError;
use crate::stellar::sql::expr::{const_value, CmpOp, Env, Expr, Func, RowRef, SlotRows};
use crate::stellar::sql::value::{self, ArithOp, Value};

impl Binder<'_, '_> {
    /// Chooses partitions for every partitioned slot; returns which depots the query reads.
    pub(super) fn prune(&mut self, where_conjuncts: &[Expr]) -> Result<DepotTouch, SqlError> {
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
    pub(super) fn depot_set(
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

    pub(super) fn depots_of(
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
    pub(super) fn day_range(
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
    pub(super) fn bound(
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

pub(super) fn merge_touch(touch: &mut DepotTouch, set: &Option<Vec<usize>>) {
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
