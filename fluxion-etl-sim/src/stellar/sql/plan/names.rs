//! Name resolution with SQL Server's errors: table references and their exposed names, column
//! references (every unknown or ambiguous name of a statement is reported, as SQL Server does),
//! variables and `@@` functions.

use sqlparser::ast::{Ident, ObjectName, ObjectNamePart};

use super::{Binder, Mode};
use crate::stellar::sql::error::SqlError;
use crate::stellar::sql::expr::Expr;
use crate::stellar::sql::is_reserved;
use crate::stellar::sql::value::{SqlType, Value};

impl Binder<'_, '_> {
    pub(super) fn find_slot(&self, qualifier: &[Ident]) -> Option<usize> {
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
    pub(super) fn column(&mut self, parts: &[Ident]) -> Result<(Expr, SqlType), SqlError> {
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

    pub(super) fn variable(&mut self, ident: &Ident) -> Result<(Expr, SqlType), SqlError> {
        let name = &ident.value;
        if let Some(sys) = name.strip_prefix("@@") {
            let s = self.cx.session;
            let v = match sys.to_ascii_uppercase().as_str() {
                "VERSION" => Value::Str(crate::stellar::sql::SERVER_VERSION_TEXT.into()),
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
}

pub(super) fn line_of(ident: &Ident) -> u64 {
    ident.span.start.line
}

pub(super) fn ident_text(parts: &[Ident]) -> String {
    parts
        .iter()
        .map(|i| i.value.as_str())
        .collect::<Vec<_>>()
        .join(".")
}

pub(super) fn check_reserved(ident: &Ident) -> Result<(), SqlError> {
    if ident.quote_style.is_none() && is_reserved(&ident.value) {
        return Err(
            SqlError::syntax_keyword(&ident.value.to_ascii_uppercase()).at_line(line_of(ident))
        );
    }
    Ok(())
}

pub(super) fn object_parts(name: &ObjectName) -> Result<Vec<Ident>, SqlError> {
    name.0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => Ok(i.clone()),
            ObjectNamePart::Function(_) => Err(SqlError::syntax(&name.to_string())),
        })
        .collect()
}
