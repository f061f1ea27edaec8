//! Function calls: the built-in functions the simulator models (string, date, conversion,
//! aggregate, metadata), their argument checks and result types, and CONVERT's date styles.

use sqlparser::ast::{self, DuplicateTreatment, FunctionArg, FunctionArgExpr, FunctionArguments};

use super::expressions::common_type;
use super::names::{line_of, object_parts};
use super::{AggFunc, AggSpec, Binder, Mode};
use crate::stellar::data::caracas_now;
use crate::stellar::sql::error::SqlError;
use crate::stellar::sql::expr::{const_value, DatePart, Expr, Func};
use crate::stellar::sql::value::{self, SqlType, Value};

impl Binder<'_, '_> {
    pub(super) fn function(&mut self, f: &ast::Function) -> Result<(Expr, SqlType), SqlError> {
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
                    "productversion" => Value::Str(crate::stellar::sql::SERVER_VERSION.into()),
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
}

pub(super) fn styled_conversion(inner: Expr, from: SqlType, to: SqlType, style: i64) -> Expr {
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
