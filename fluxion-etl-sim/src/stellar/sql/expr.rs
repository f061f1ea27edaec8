//! Compiled expressions and their evaluation over a row of joined tables.
//!
//! The binder ([`super::plan`]) resolves names and types once; evaluation is then a walk over this
//! small tree, reading columns straight from the generated tables (strings are borrowed, never copied).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::sync::Arc;

use chrono::{Datelike, Duration, Months, NaiveDateTime, Timelike};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use super::catalog::RowSet;
use super::error::SqlError;
use super::value::{self, arith, cast, compare, like, ArithOp, SqlType, Value};

/// A reference to one row of a slot: partition and row; `NULL_ROW` for the NULL side of a LEFT JOIN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub(crate) struct RowRef {
    pub part: u32,
    pub row: u32,
}

impl RowRef {
    pub const NULL: RowRef = RowRef {
        part: u32::MAX,
        row: u32::MAX,
    };
    pub fn is_null(&self) -> bool {
        self.part == u32::MAX
    }
}

/// The partitions a slot currently reads.
#[derive(Default, Clone)]
pub(crate) struct SlotRows {
    pub parts: Vec<Arc<dyn RowSet>>,
}

/// What an expression is evaluated against.
pub(crate) struct Env<'a, 't> {
    pub slots: &'a [SlotRows],
    /// Values never borrow from the tuple (only from the slots, parameters and groups), so it can
    /// change while values read through it are alive.
    pub tuple: &'t [RowRef],
    pub params: &'a [Value<'static>],
    /// Group keys then aggregate results, in an aggregate query's output phase.
    pub group: &'a [Value<'static>],
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn holds(self, o: Ordering) -> bool {
        match self {
            CmpOp::Eq => o == Ordering::Equal,
            CmpOp::Ne => o != Ordering::Equal,
            CmpOp::Lt => o == Ordering::Less,
            CmpOp::Le => o != Ordering::Greater,
            CmpOp::Gt => o == Ordering::Greater,
            CmpOp::Ge => o != Ordering::Less,
        }
    }
    /// The operator with its operands swapped (`a < b` ⇔ `b > a`).
    pub fn flipped(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            other => other,
        }
    }
}

/// Date parts of DATEPART, DATEADD and DATEDIFF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DatePart {
    Year,
    Quarter,
    Month,
    DayOfYear,
    Day,
    Week,
    Weekday,
    Hour,
    Minute,
    Second,
    Millisecond,
}

impl DatePart {
    pub fn parse(name: &str) -> Option<DatePart> {
        Some(match name.to_ascii_lowercase().as_str() {
            "year" | "yy" | "yyyy" => DatePart::Year,
            "quarter" | "qq" | "q" => DatePart::Quarter,
            "month" | "mm" | "m" => DatePart::Month,
            "dayofyear" | "dy" | "y" => DatePart::DayOfYear,
            "day" | "dd" | "d" => DatePart::Day,
            "week" | "wk" | "ww" => DatePart::Week,
            "weekday" | "dw" | "w" => DatePart::Weekday,
            "hour" | "hh" => DatePart::Hour,
            "minute" | "mi" | "n" => DatePart::Minute,
            "second" | "ss" | "s" => DatePart::Second,
            "millisecond" | "ms" => DatePart::Millisecond,
            _ => return None,
        })
    }
}

/// Built-in scalar functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Func {
    IsNull,
    Coalesce,
    NullIf,
    Upper,
    Lower,
    LTrim,
    RTrim,
    Trim,
    Len,
    Substring,
    Left,
    Right,
    Concat,
    Replace,
    Abs,
    Round,
    Floor,
    Ceiling,
    DatePart(DatePart),
    DateAdd(DatePart),
    DateDiff(DatePart),
}

/// A compiled expression.
#[derive(Clone, Debug)]
pub(crate) enum Expr {
    Column {
        slot: usize,
        col: usize,
    },
    Const(Value<'static>),
    Param(usize),
    /// Group key or aggregate result `i` of an aggregate query.
    Group(usize),
    Cast {
        expr: Box<Expr>,
        from: SqlType,
        to: SqlType,
    },
    Arith {
        op: ArithOp,
        left: Box<Expr>,
        lt: SqlType,
        right: Box<Expr>,
        rt: SqlType,
        ty: SqlType,
    },
    Neg {
        expr: Box<Expr>,
        ty: SqlType,
    },
    Cmp {
        op: CmpOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    Between {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    Like {
        expr: Box<Expr>,
        pattern: Box<Expr>,
        escape: Option<char>,
        negated: bool,
    },
    Case {
        operand: Option<Box<Expr>>,
        /// (condition or value to compare with the operand, result, result's type)
        whens: Vec<(Expr, Expr, SqlType)>,
        else_: Option<(Box<Expr>, SqlType)>,
        ty: SqlType,
    },
    Func {
        func: Func,
        args: Vec<Expr>,
        arg_types: Vec<SqlType>,
        ty: SqlType,
    },
}

impl Expr {
    /// Whether the expression is a predicate (a search condition) rather than a value.
    pub fn is_predicate(&self) -> bool {
        matches!(
            self,
            Expr::Cmp { .. }
                | Expr::And(_)
                | Expr::Or(_)
                | Expr::Not(_)
                | Expr::IsNull { .. }
                | Expr::InList { .. }
                | Expr::Between { .. }
                | Expr::Like { .. }
        )
    }

    /// Calls `f` with every slot the expression reads.
    pub fn visit_slots(&self, f: &mut dyn FnMut(usize)) {
        match self {
            Expr::Column { slot, .. } => f(*slot),
            Expr::Const(_) | Expr::Param(_) | Expr::Group(_) => {}
            Expr::Cast { expr, .. }
            | Expr::Neg { expr, .. }
            | Expr::Not(expr)
            | Expr::IsNull { expr, .. } => expr.visit_slots(f),
            Expr::Arith { left, right, .. } | Expr::Cmp { left, right, .. } => {
                left.visit_slots(f);
                right.visit_slots(f);
            }
            Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| e.visit_slots(f)),
            Expr::InList { expr, list, .. } => {
                expr.visit_slots(f);
                list.iter().for_each(|e| e.visit_slots(f));
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                expr.visit_slots(f);
                low.visit_slots(f);
                high.visit_slots(f);
            }
            Expr::Like { expr, pattern, .. } => {
                expr.visit_slots(f);
                pattern.visit_slots(f);
            }
            Expr::Case {
                operand,
                whens,
                else_,
                ..
            } => {
                if let Some(o) = operand {
                    o.visit_slots(f);
                }
                for (w, t, _) in whens {
                    w.visit_slots(f);
                    t.visit_slots(f);
                }
                if let Some((e, _)) = else_ {
                    e.visit_slots(f);
                }
            }
            Expr::Func { args, .. } => args.iter().for_each(|e| e.visit_slots(f)),
        }
    }

    /// The highest slot read, or None for an expression of constants and parameters.
    pub fn max_slot(&self) -> Option<usize> {
        let mut m = None;
        self.visit_slots(&mut |s| m = Some(m.map_or(s, |x: usize| x.max(s))));
        m
    }

    /// Whether the expression reads no row (constants and parameters only).
    pub fn is_constant(&self) -> bool {
        let mut constant = true;
        self.visit_slots(&mut |_| constant = false);
        constant && !self.reads_group()
    }

    pub(crate) fn reads_group(&self) -> bool {
        match self {
            Expr::Group(_) => true,
            Expr::Column { .. } | Expr::Const(_) | Expr::Param(_) => false,
            Expr::Cast { expr, .. }
            | Expr::Neg { expr, .. }
            | Expr::Not(expr)
            | Expr::IsNull { expr, .. } => expr.reads_group(),
            Expr::Arith { left, right, .. } | Expr::Cmp { left, right, .. } => {
                left.reads_group() || right.reads_group()
            }
            Expr::And(v) | Expr::Or(v) => v.iter().any(Expr::reads_group),
            Expr::InList { expr, list, .. } => {
                expr.reads_group() || list.iter().any(Expr::reads_group)
            }
            Expr::Between {
                expr, low, high, ..
            } => expr.reads_group() || low.reads_group() || high.reads_group(),
            Expr::Like { expr, pattern, .. } => expr.reads_group() || pattern.reads_group(),
            Expr::Case {
                operand,
                whens,
                else_,
                ..
            } => {
                operand.as_ref().is_some_and(|o| o.reads_group())
                    || whens
                        .iter()
                        .any(|(w, t, _)| w.reads_group() || t.reads_group())
                    || else_.as_ref().is_some_and(|(e, _)| e.reads_group())
            }
            Expr::Func { args, .. } => args.iter().any(Expr::reads_group),
        }
    }

    /// Evaluates a value expression.
    pub fn eval<'a>(&'a self, env: &Env<'a, '_>) -> Result<Value<'a>, SqlError> {
        match self {
            Expr::Column { slot, col } => {
                let r = env.tuple[*slot];
                if r.is_null() {
                    return Ok(Value::Null);
                }
                Ok(env.slots[*slot].parts[r.part as usize].value(r.row as usize, *col))
            }
            Expr::Const(v) => Ok(v.reborrow()),
            Expr::Param(i) => Ok(env.params.get(*i).map_or(Value::Null, Value::reborrow)),
            Expr::Group(i) => Ok(env.group.get(*i).map_or(Value::Null, Value::reborrow)),
            Expr::Cast { expr, from, to } => cast(expr.eval(env)?, *from, *to),
            Expr::Arith {
                op,
                left,
                lt,
                right,
                rt,
                ty,
            } => arith(*op, left.eval(env)?, *lt, right.eval(env)?, *rt, *ty),
            Expr::Neg { expr, ty } => {
                let v = expr.eval(env)?;
                Ok(match v {
                    Value::Int(i) => {
                        let n = i
                            .checked_neg()
                            .ok_or_else(|| SqlError::overflow(ty.name()))?;
                        if *ty != SqlType::BigInt && i32::try_from(n).is_err() {
                            return Err(SqlError::overflow(ty.name()));
                        }
                        Value::Int(n)
                    }
                    Value::Float(f) => Value::Float(-f),
                    Value::Decimal(d) => Value::Decimal(-d),
                    Value::Null => Value::Null,
                    _ => return Err(SqlError::invalid_operand(ty.name(), "minus")),
                })
            }
            Expr::Case {
                operand,
                whens,
                else_,
                ty,
            } => {
                let op_val = match operand {
                    Some(o) => Some(o.eval(env)?),
                    None => None,
                };
                for (cond, result, rty) in whens {
                    let hit = match &op_val {
                        Some(v) => compare(v, &cond.eval(env)?)? == Some(Ordering::Equal),
                        None => cond.test(env)? == Some(true),
                    };
                    if hit {
                        return cast(result.eval(env)?, *rty, *ty);
                    }
                }
                match else_ {
                    Some((e, ety)) => cast(e.eval(env)?, *ety, *ty),
                    None => Ok(Value::Null),
                }
            }
            Expr::Func {
                func,
                args,
                arg_types,
                ty,
            } => eval_func(*func, args, arg_types, *ty, env),
            // A predicate used as a value (only reachable through CASE operands): BIT or NULL.
            pred => Ok(match pred.test(env)? {
                Some(b) => Value::Bit(b),
                None => Value::Null,
            }),
        }
    }

    /// Evaluates a predicate with SQL's three-valued logic (None is UNKNOWN).
    pub fn test(&self, env: &Env<'_, '_>) -> Result<Option<bool>, SqlError> {
        match self {
            Expr::Cmp { op, left, right } => {
                let (a, b) = (left.eval(env)?, right.eval(env)?);
                Ok(compare(&a, &b)?.map(|o| op.holds(o)))
            }
            Expr::And(list) => {
                let mut unknown = false;
                for e in list {
                    match e.test(env)? {
                        Some(false) => return Ok(Some(false)),
                        None => unknown = true,
                        Some(true) => {}
                    }
                }
                Ok(if unknown { None } else { Some(true) })
            }
            Expr::Or(list) => {
                let mut unknown = false;
                for e in list {
                    match e.test(env)? {
                        Some(true) => return Ok(Some(true)),
                        None => unknown = true,
                        Some(false) => {}
                    }
                }
                Ok(if unknown { None } else { Some(false) })
            }
            Expr::Not(e) => Ok(e.test(env)?.map(|b| !b)),
            Expr::IsNull { expr, negated } => Ok(Some(expr.eval(env)?.is_null() != *negated)),
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let v = expr.eval(env)?;
                if v.is_null() {
                    return Ok(None);
                }
                let mut unknown = false;
                for item in list {
                    match compare(&v, &item.eval(env)?)? {
                        Some(Ordering::Equal) => return Ok(Some(!*negated)),
                        None => unknown = true,
                        _ => {}
                    }
                }
                Ok(if unknown { None } else { Some(*negated) })
            }
            Expr::Between {
                expr,
                low,
                high,
                negated,
            } => {
                let v = expr.eval(env)?;
                let lo = compare(&v, &low.eval(env)?)?.map(|o| o != Ordering::Less);
                let hi = compare(&v, &high.eval(env)?)?.map(|o| o != Ordering::Greater);
                let r = match (lo, hi) {
                    (Some(false), _) | (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                };
                Ok(r.map(|b| b != *negated))
            }
            Expr::Like {
                expr,
                pattern,
                escape,
                negated,
            } => {
                let v = expr.eval(env)?;
                let p = pattern.eval(env)?;
                match (v, p) {
                    (Value::Null, _) | (_, Value::Null) => Ok(None),
                    (v, p) => {
                        let text = text_of(&v);
                        let pat = text_of(&p);
                        Ok(Some(like(&text, &pat, *escape) != *negated))
                    }
                }
            }
            other => match other.eval(env)? {
                Value::Null => Ok(None),
                Value::Bit(b) => Ok(Some(b)),
                Value::Int(i) => Ok(Some(i != 0)),
                _ => Err(SqlError::syntax("=")),
            },
        }
    }
}

fn text_of<'a>(v: &'a Value<'_>) -> Cow<'a, str> {
    match v {
        Value::Str(s) => Cow::Borrowed(s.as_ref()),
        other => Cow::Owned(value::to_text(other, other.natural_type())),
    }
}

fn eval_func<'a>(
    func: Func,
    args: &'a [Expr],
    types: &[SqlType],
    ty: SqlType,
    env: &Env<'a, '_>,
) -> Result<Value<'a>, SqlError> {
    let arg = |i: usize| -> Result<Value<'a>, SqlError> {
        match args.get(i) {
            Some(e) => e.eval(env),
            None => Ok(Value::Null),
        }
    };
    let arg_type = |i: usize| types.get(i).copied().unwrap_or(SqlType::Int);
    let string = |v: Value<'a>, t: SqlType| -> Result<Option<Cow<'a, str>>, SqlError> {
        Ok(match cast(v, t, SqlType::NVarChar(None))? {
            Value::Str(s) => Some(s),
            _ => None,
        })
    };
    let int = |v: Value<'a>, t: SqlType| -> Result<Option<i64>, SqlError> {
        Ok(match cast(v, t, SqlType::BigInt)? {
            Value::Int(i) => Some(i),
            _ => None,
        })
    };
    match func {
        Func::IsNull | Func::Coalesce => {
            for (i, e) in args.iter().enumerate() {
                let v = e.eval(env)?;
                if !v.is_null() {
                    return cast(v, arg_type(i), ty);
                }
            }
            Ok(Value::Null)
        }
        Func::NullIf => {
            let a = arg(0)?;
            let b = arg(1)?;
            if compare(&a, &b)? == Some(Ordering::Equal) {
                Ok(Value::Null)
            } else {
                Ok(a)
            }
        }
        Func::Upper | Func::Lower | Func::LTrim | Func::RTrim | Func::Trim => {
            let Some(s) = string(arg(0)?, arg_type(0))? else {
                return Ok(Value::Null);
            };
            Ok(Value::Str(match func {
                Func::Upper => Cow::Owned(s.to_uppercase()),
                Func::Lower => Cow::Owned(s.to_lowercase()),
                Func::LTrim => trim_cow(s, |t| t.trim_start_matches(' ')),
                Func::RTrim => trim_cow(s, |t| t.trim_end_matches(' ')),
                _ => trim_cow(s, |t| t.trim_matches(' ')),
            }))
        }
        Func::Len => {
            let Some(s) = string(arg(0)?, arg_type(0))? else {
                return Ok(Value::Null);
            };
            Ok(Value::Int(s.trim_end_matches(' ').chars().count() as i64))
        }
        Func::Substring | Func::Left | Func::Right => {
            let Some(s) = string(arg(0)?, arg_type(0))? else {
                return Ok(Value::Null);
            };
            let chars: Vec<char> = s.chars().collect();
            let n = chars.len() as i64;
            let (start, len) = match func {
                Func::Substring => {
                    let (Some(st), Some(ln)) =
                        (int(arg(1)?, arg_type(1))?, int(arg(2)?, arg_type(2))?)
                    else {
                        return Ok(Value::Null);
                    };
                    if ln < 0 {
                        return Err(SqlError::custom(
                            537,
                            16,
                            3,
                            "Invalid length parameter passed to the LEFT or SUBSTRING function."
                                .to_owned(),
                        ));
                    }
                    (st - 1, ln)
                }
                Func::Left => {
                    let Some(ln) = int(arg(1)?, arg_type(1))? else {
                        return Ok(Value::Null);
                    };
                    (0, ln.max(0))
                }
                _ => {
                    let Some(ln) = int(arg(1)?, arg_type(1))? else {
                        return Ok(Value::Null);
                    };
                    (n - ln.max(0), ln.max(0))
                }
            };
            let from = start.clamp(0, n);
            let to = (start + len).clamp(0, n);
            Ok(Value::Str(Cow::Owned(
                chars[from as usize..to.max(from) as usize].iter().collect(),
            )))
        }
        Func::Concat => {
            let mut out = String::new();
            for (i, e) in args.iter().enumerate() {
                if let Some(s) = string(e.eval(env)?, arg_type(i))? {
                    out.push_str(&s);
                }
            }
            Ok(Value::Str(Cow::Owned(out)))
        }
        Func::Replace => {
            let (Some(s), Some(from), Some(to)) = (
                string(arg(0)?, arg_type(0))?,
                string(arg(1)?, arg_type(1))?,
                string(arg(2)?, arg_type(2))?,
            ) else {
                return Ok(Value::Null);
            };
            if from.is_empty() {
                return Ok(Value::Str(s));
            }
            Ok(Value::Str(Cow::Owned(replace_ci(&s, &from, &to))))
        }
        Func::Abs => Ok(match arg(0)? {
            Value::Int(i) => Value::Int(
                i.checked_abs()
                    .ok_or_else(|| SqlError::overflow(ty.name()))?,
            ),
            Value::Float(f) => Value::Float(f.abs()),
            Value::Decimal(d) => Value::Decimal(d.abs()),
            other => other,
        }),
        Func::Round | Func::Floor | Func::Ceiling => {
            let v = arg(0)?;
            let digits = if func == Func::Round {
                int(arg(1)?, arg_type(1))?.unwrap_or(0)
            } else {
                0
            };
            Ok(match v {
                Value::Decimal(d) => Value::Decimal(match func {
                    Func::Round => round_decimal(d, digits),
                    Func::Floor => d.floor(),
                    _ => d.ceil(),
                }),
                Value::Float(f) => Value::Float(match func {
                    Func::Round => {
                        let m = 10f64.powi(digits as i32);
                        (f * m).round() / m
                    }
                    Func::Floor => f.floor(),
                    _ => f.ceil(),
                }),
                Value::Int(i) if func == Func::Round && digits < 0 => {
                    let m = 10i64.pow(digits.unsigned_abs().min(18) as u32);
                    Value::Int((i as f64 / m as f64).round() as i64 * m)
                }
                other => other,
            })
        }
        Func::DatePart(part) => {
            let v = cast(arg(0)?, arg_type(0), SqlType::DateTime2(7))?;
            let Value::DateTime(dt) = v else {
                return Ok(Value::Null);
            };
            Ok(Value::Int(date_part(part, &dt)))
        }
        Func::DateAdd(part) => {
            let Some(n) = int(arg(0)?, arg_type(0))? else {
                return Ok(Value::Null);
            };
            let v = arg(1)?;
            let target = ty;
            let v = cast(
                v,
                arg_type(1),
                if target == SqlType::Date {
                    SqlType::Date
                } else {
                    SqlType::DateTime2(7)
                },
            )?;
            let dt = match v {
                Value::DateTime(dt) => dt,
                Value::Date(d) => d.and_hms_opt(0, 0, 0).unwrap_or_default(),
                _ => return Ok(Value::Null),
            };
            let r = date_add(part, n, dt).ok_or_else(|| {
                SqlError::custom(
                    517,
                    16,
                    1,
                    format!(
                        "Adding a value to a '{}' column caused an overflow.",
                        target.name()
                    ),
                )
            })?;
            cast(Value::DateTime(r), SqlType::DateTime2(7), target)
        }
        Func::DateDiff(part) => {
            let a = cast(arg(0)?, arg_type(0), SqlType::DateTime2(7))?;
            let b = cast(arg(1)?, arg_type(1), SqlType::DateTime2(7))?;
            let (Value::DateTime(a), Value::DateTime(b)) = (a, b) else {
                return Ok(Value::Null);
            };
            Ok(Value::Int(date_diff(part, &a, &b)))
        }
    }
}

fn trim_cow<'a>(s: Cow<'a, str>, f: impl Fn(&str) -> &str) -> Cow<'a, str> {
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(f(b)),
        Cow::Owned(o) => Cow::Owned(f(&o).to_owned()),
    }
}

fn replace_ci(s: &str, from: &str, to: &str) -> String {
    let lower = s.to_lowercase();
    let needle = from.to_lowercase();
    if lower.len() != s.len() {
        return s.replace(from, to);
    }
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while let Some(pos) = lower[i..].find(&needle) {
        out.push_str(&s[i..i + pos]);
        out.push_str(to);
        i += pos + needle.len();
    }
    out.push_str(&s[i..]);
    out
}

fn round_decimal(d: Decimal, digits: i64) -> Decimal {
    if digits >= 0 {
        let mut r = d.round_dp_with_strategy(
            digits.min(28) as u32,
            RoundingStrategy::MidpointAwayFromZero,
        );
        // ROUND keeps the input's scale.
        r.rescale(d.scale());
        r
    } else {
        let m = Decimal::from(10i64.pow(digits.unsigned_abs().min(18) as u32));
        let mut r = (d / m).round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero) * m;
        r.rescale(d.scale());
        r
    }
}

fn date_part(part: DatePart, dt: &NaiveDateTime) -> i64 {
    i64::from(match part {
        DatePart::Year => dt.year() as u32,
        DatePart::Quarter => (dt.month() - 1) / 3 + 1,
        DatePart::Month => dt.month(),
        DatePart::DayOfYear => dt.ordinal(),
        DatePart::Day => dt.day(),
        // SQL Server's default: weeks start on Sunday, week 1 contains January 1st.
        DatePart::Week => {
            let jan1 = dt.date().with_ordinal(1).unwrap_or(dt.date());
            let offset = jan1.weekday().num_days_from_sunday();
            (dt.ordinal0() + offset) / 7 + 1
        }
        DatePart::Weekday => dt.weekday().num_days_from_sunday() + 1,
        DatePart::Hour => dt.hour(),
        DatePart::Minute => dt.minute(),
        DatePart::Second => dt.second(),
        DatePart::Millisecond => dt.nanosecond() / 1_000_000,
    })
}

fn date_add(part: DatePart, n: i64, dt: NaiveDateTime) -> Option<NaiveDateTime> {
    let months = |m: i64| -> Option<NaiveDateTime> {
        if m >= 0 {
            dt.checked_add_months(Months::new(u32::try_from(m).ok()?))
        } else {
            dt.checked_sub_months(Months::new(u32::try_from(-m).ok()?))
        }
    };
    match part {
        DatePart::Year => months(n.checked_mul(12)?),
        DatePart::Quarter => months(n.checked_mul(3)?),
        DatePart::Month => months(n),
        DatePart::DayOfYear | DatePart::Day | DatePart::Weekday => {
            dt.checked_add_signed(Duration::try_days(n)?)
        }
        DatePart::Week => dt.checked_add_signed(Duration::try_weeks(n)?),
        DatePart::Hour => dt.checked_add_signed(Duration::try_hours(n)?),
        DatePart::Minute => dt.checked_add_signed(Duration::try_minutes(n)?),
        DatePart::Second => dt.checked_add_signed(Duration::try_seconds(n)?),
        DatePart::Millisecond => dt.checked_add_signed(Duration::try_milliseconds(n)?),
    }
}

/// DATEDIFF counts boundaries crossed, not elapsed units.
fn date_diff(part: DatePart, a: &NaiveDateTime, b: &NaiveDateTime) -> i64 {
    let days = |d: &NaiveDateTime| i64::from(d.date().num_days_from_ce());
    match part {
        DatePart::Year => i64::from(b.year() - a.year()),
        DatePart::Quarter => {
            i64::from(b.year() - a.year()) * 4
                + (i64::from(b.month0() / 3) - i64::from(a.month0() / 3))
        }
        DatePart::Month => {
            i64::from(b.year() - a.year()) * 12 + (i64::from(b.month()) - i64::from(a.month()))
        }
        DatePart::DayOfYear | DatePart::Day | DatePart::Weekday => days(b) - days(a),
        DatePart::Week => {
            let week = |d: &NaiveDateTime| (days(d) + 1).div_euclid(7);
            week(b) - week(a)
        }
        DatePart::Hour => {
            (days(b) * 24 + i64::from(b.hour())) - (days(a) * 24 + i64::from(a.hour()))
        }
        DatePart::Minute => {
            let m = |d: &NaiveDateTime| days(d) * 1440 + i64::from(d.hour() * 60 + d.minute());
            m(b) - m(a)
        }
        DatePart::Second => {
            let s = |d: &NaiveDateTime| days(d) * 86_400 + i64::from(d.num_seconds_from_midnight());
            s(b) - s(a)
        }
        DatePart::Millisecond => (*b - *a).num_milliseconds(),
    }
}

/// Folds an expression of constants into its value, when it has no parameters to wait for.
pub(crate) fn const_value(
    e: &Expr,
    params: &[Value<'static>],
) -> Result<Option<Value<'static>>, SqlError> {
    if !e.is_constant() {
        return Ok(None);
    }
    let env = Env {
        slots: &[],
        tuple: &[],
        params,
        group: &[],
    };
    let v = if e.is_predicate() {
        match e.test(&env)? {
            Some(b) => Value::Bit(b),
            None => Value::Null,
        }
    } else {
        e.eval(&env)?.into_static()
    };
    Ok(Some(v))
}

/// An integer of a constant expression (TOP, OFFSET, FETCH).
pub(crate) fn const_int(
    e: &Expr,
    ty: SqlType,
    params: &[Value<'static>],
) -> Result<Option<i64>, SqlError> {
    let Some(v) = const_value(e, params)? else {
        return Ok(None);
    };
    if v.is_null() {
        return Ok(None);
    }
    if !ty.is_integer() && !matches!(ty, SqlType::Decimal { scale: 0, .. }) && !ty.is_string() {
        return Err(SqlError::top_not_integer());
    }
    match cast(v, ty, SqlType::BigInt)? {
        Value::Int(i) => Ok(Some(i)),
        _ => Ok(None),
    }
}

/// Converts a decimal to f64 (for float aggregates).
pub(crate) fn decimal_to_f64(d: &Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}
