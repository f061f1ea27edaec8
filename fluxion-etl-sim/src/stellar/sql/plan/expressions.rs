//! Value expressions and search conditions, with their static types: literals, operators,
//! comparisons SQL Server refuses at compile time, CASE/COALESCE's common type, and the texts
//! SQL Server's syntax errors quote.

use sqlparser::ast::{self, BinaryOperator, CastKind, Ident, UnaryOperator};

use super::functions::styled_conversion;
use super::{Binder, DeclaredParam, Mode, SlotPlan};
use crate::stellar::data::caracas_now;
use crate::stellar::sql::error::SqlError;
use crate::stellar::sql::expr::{const_int, const_value, CmpOp, Expr};
use crate::stellar::sql::value::{self, arith_type, ArithOp, SqlType, Value};

impl Binder<'_, '_> {
    /// Binds a value expression.
    pub(super) fn scalar(&mut self, e: &ast::Expr) -> Result<(Expr, SqlType), SqlError> {
        let (expr, ty) = self.expr(e)?;
        if expr.is_predicate() {
            return Err(SqlError::syntax(&predicate_symbol(e)));
        }
        Ok((expr, ty))
    }

    /// Binds a search condition.
    pub(super) fn predicate(&mut self, e: &ast::Expr) -> Result<Expr, SqlError> {
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

    pub(super) fn expr(&mut self, e: &ast::Expr) -> Result<(Expr, SqlType), SqlError> {
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

    pub(super) fn binary(
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
}

pub(super) fn literal(v: &ast::Value, b: &mut Binder<'_, '_>) -> Result<(Expr, SqlType), SqlError> {
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

/// The static type of a value expression.
pub(super) fn type_of(e: &Expr, slots: &[SlotPlan], params: &[DeclaredParam]) -> Option<SqlType> {
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

/// Comparisons SQL Server refuses at compile time (numbers against dates, dates against times).
pub(super) fn check_comparable(a: SqlType, b: SqlType, op: &str) -> Result<(), SqlError> {
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
pub(super) fn common_type(types: &[SqlType]) -> Result<SqlType, SqlError> {
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

/// A canonical text of an expression, to match GROUP BY keys and DISTINCT's ORDER BY items.
pub(super) fn normalized(e: &ast::Expr) -> String {
    e.to_string().to_ascii_lowercase().replace(['[', ']'], "")
}

pub(super) fn first_word(e: &ast::Expr) -> String {
    e.to_string()
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_owned()
}

pub(super) fn last_word(e: &ast::Expr) -> String {
    e.to_string()
        .split_whitespace()
        .last()
        .unwrap_or("")
        .to_owned()
}

pub(super) fn predicate_symbol(e: &ast::Expr) -> String {
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
