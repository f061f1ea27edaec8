//! What the binder settles once names and types are bound: each joined slot's hash lookup (the
//! join strategy) and constant subexpressions computed once instead of once per row.

use super::expressions::type_of;
use super::{DeclaredParam, Lookup, SlotPlan};
use crate::stellar::sql::expr::{const_value, CmpOp, Expr};
use crate::stellar::sql::value::Value;

/// A hash lookup for slot k: an equality between one of its columns and an expression over earlier
/// slots, with comparable types.
pub(super) fn choose_lookup(
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
                    || lookup.cols.len() >= crate::stellar::sql::exec::MAX_KEYS
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

/// Replaces constant subexpressions by their value. An expression whose evaluation fails is left
/// as it is, so the error surfaces when (and only if) a row evaluates it, as in SQL Server.
pub(super) fn fold_constants(e: &mut Expr, params: &[Value<'static>]) {
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
