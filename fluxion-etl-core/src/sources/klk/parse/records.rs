//! Row-level conversion shared by sales and inventory: why a row is rejected ([`RowError`]), the
//! key lists of KLK's objects ([`klk_object!`]), typed access to an object's values ([`Obj`]),
//! and KLK's dates and times.

use std::fmt;
use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use rust_decimal::Decimal;

use super::reader::{num_text, Val};
use crate::sources::texts::TextPool;

/// Why one element could not become a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowError {
    /// 1-based position of the element in the array.
    pub element: u64,
    /// The KLK identity of the line, when it could be read (`numero_factura/linea` or `Codigo`).
    pub ident: Option<String>,
    /// What is wrong.
    pub problem: RowProblem,
}

/// What is wrong with a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RowProblem {
    /// A required field is absent, null or empty (`missing_fields`).
    Missing(&'static str),
    /// A field has the wrong type or an unparseable value (`data_format`).
    Invalid {
        /// The KLK field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record {}", self.element)?;
        if let Some(id) = &self.ident {
            write!(f, " ({id})")?;
        }
        match &self.problem {
            RowProblem::Missing(field) => {
                write!(f, ": required field `{field}` is missing or null")
            }
            RowProblem::Invalid { field, reason } => write!(f, ": field `{field}` {reason}"),
        }
    }
}

/// A conversion's result: the value, or what is wrong with the row.
pub(super) type Conv<T> = Result<T, RowProblem>;

/// A field with the wrong type or an unparseable value.
pub(super) fn invalid(field: &'static str, reason: impl Into<String>) -> RowProblem {
    RowProblem::Invalid {
        field,
        reason: reason.into(),
    }
}

/// Declares the keys of one KLK object, in the order KLK sends them: `NAMES` for the reader and
/// one index constant per key (named like the key) for the conversion.
macro_rules! klk_object {
    ($(#[$doc:meta])* mod $m:ident { $($key:ident),* $(,)? }) => {
        $(#[$doc])*
        #[allow(non_upper_case_globals, dead_code)]
        mod $m {
            /// The keys, in KLK's order.
            pub(super) const NAMES: &[&str] = &[$(stringify!($key)),*];
            /// The keys as compact JSON spells them, quoted and followed by the colon.
            const QUOTED: &[&str] = &[$(concat!("\"", stringify!($key), "\":")),*];
            /// Both, for the reader.
            pub(super) const KEYS: $crate::sources::klk::parse::reader::Keys =
                $crate::sources::klk::parse::reader::Keys { names: NAMES, quoted: QUOTED };
            /// How many.
            pub(super) const N: usize = NAMES.len();
            $crate::sources::klk::parse::records::klk_object!(@index 0usize; $($key),*);
        }
    };
    (@index $i:expr; $first:ident $(, $rest:ident)*) => {
        pub(super) const $first: usize = $i;
        $crate::sources::klk::parse::records::klk_object!(@index $i + 1usize; $($rest),*);
    };
    (@index $i:expr;) => {};
}
pub(super) use klk_object;

/// The values of one object as read, with the strings its reader unescaped.
pub(super) struct Obj<'a, 'e, const N: usize> {
    /// The values, in the order of `names`.
    pub(super) vals: &'e [Val<'a>; N],
    /// The object's keys (for messages).
    pub(super) names: &'static [&'static str],
    /// The strings the reader unescaped ([`Val::Esc`] indexes here).
    pub(super) escaped: &'e [String],
    /// The [`TextPool`] slot of the object's first field (fields of the objects of one record
    /// get distinct slots).
    pub(super) slots: usize,
}

impl<'a, const N: usize> Obj<'a, '_, N> {
    pub(super) fn name(&self, i: usize) -> &'static str {
        self.names.get(i).copied().unwrap_or("?")
    }

    pub(super) fn wrong_type(&self, i: usize, want: &str) -> RowProblem {
        invalid(
            self.name(i),
            format!("should be {want}, found {}", self.vals[i].type_name()),
        )
    }

    /// The string at `i`, if it is one; `""` counts as absent.
    pub(super) fn str(&self, i: usize) -> Conv<Option<&str>> {
        let s = match self.vals[i] {
            Val::Absent | Val::Null => return Ok(None),
            Val::Str(s) => s,
            Val::Esc(k) => self.escaped.get(k).map_or("", String::as_str),
            _ => return Err(self.wrong_type(i, "a string")),
        };
        Ok((!s.is_empty()).then_some(s))
    }

    /// Optional text of the inventory endpoint, where `"N/A"` stands for null as well.
    pub(super) fn str_na(&self, i: usize) -> Conv<Option<&str>> {
        Ok(self.str(i)?.filter(|s| *s != "N/A"))
    }

    /// An id some servers send as a number (`Categoria`): kept as its text.
    pub(super) fn id_str(&self, i: usize) -> Conv<Option<&str>> {
        match self.vals[i] {
            Val::Num(n, _) => Ok(Some(num_text(n))),
            _ => self.str_na(i),
        }
    }

    pub(super) fn required_str(&self, i: usize) -> Conv<&str> {
        self.str(i)?.ok_or(RowProblem::Missing(self.name(i)))
    }

    /// Optional text shared through `pool` (texts that repeat across records).
    pub(super) fn text(&self, i: usize, pool: &mut TextPool) -> Conv<Option<Arc<str>>> {
        Ok(self.str(i)?.map(|s| pool.get_at(self.slots + i, s)))
    }

    /// Optional text of its own (texts that rarely repeat: serial numbers, IMEIs).
    pub(super) fn own_text(&self, i: usize) -> Conv<Option<Arc<str>>> {
        Ok(self.str(i)?.map(Arc::from))
    }

    pub(super) fn decimal(&self, i: usize) -> Conv<Option<Decimal>> {
        match self.vals[i] {
            Val::Absent | Val::Null => Ok(None),
            Val::Num(n, fast) => fast.decimal(n).map(Some).ok_or_else(|| {
                invalid(
                    self.name(i),
                    format!("`{}` does not fit an exact decimal", num_text(n)),
                )
            }),
            _ => Err(self.wrong_type(i, "a number")),
        }
    }

    pub(super) fn boolean(&self, i: usize) -> Conv<Option<bool>> {
        match self.vals[i] {
            Val::Absent | Val::Null => Ok(None),
            Val::Bool(b) => Ok(Some(b)),
            _ => Err(self.wrong_type(i, "a boolean")),
        }
    }

    pub(super) fn integer(&self, i: usize) -> Conv<i32> {
        match self.vals[i] {
            Val::Absent | Val::Null => Err(RowProblem::Missing(self.name(i))),
            Val::Num(n, fast) => fast
                .decimal(n)
                .filter(|d| d.fract().is_zero())
                .and_then(|d| i32::try_from(d.trunc().mantissa()).ok())
                .ok_or_else(|| {
                    invalid(
                        self.name(i),
                        format!("`{}` is not a line number", num_text(n)),
                    )
                }),
            _ => Err(self.wrong_type(i, "a number")),
        }
    }
}

fn two(b: &[u8], at: usize) -> Option<u32> {
    let hi = b.get(at)?.checked_sub(b'0').filter(|d| *d <= 9)?;
    let lo = b.get(at + 1)?.checked_sub(b'0').filter(|d| *d <= 9)?;
    Some(u32::from(hi) * 10 + u32::from(lo))
}

/// `YYYY-MM-DD`.
#[inline]
pub(super) fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = two(b, 0)? * 100 + two(b, 2)?;
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, two(b, 5)?, two(b, 8)?)
}

/// `HH:MM`, `HH:MM:SS` or `HH:MM:SS.fffffff`: microseconds are kept, finer digits truncated
/// (KLK sends 7 fractional digits; the destinations store microseconds).
#[inline]
pub(super) fn parse_time(s: &str) -> Option<NaiveTime> {
    let b = s.as_bytes();
    if b.len() < 5 || b[2] != b':' {
        return None;
    }
    let h = two(b, 0)?;
    let m = two(b, 3)?;
    if b.len() == 5 {
        return NaiveTime::from_hms_opt(h, m, 0);
    }
    if b.len() < 8 || b[5] != b':' {
        return None;
    }
    let sec = two(b, 6)?;
    let mut micros = 0;
    if b.len() > 8 {
        let frac = &b[8..];
        if frac[0] != b'.' || frac.len() == 1 || !frac[1..].iter().all(u8::is_ascii_digit) {
            return None;
        }
        let digits = &frac[1..];
        for k in 0..6 {
            micros = micros * 10 + digits.get(k).map_or(0, |d| u32::from(d - b'0'));
        }
    }
    NaiveTime::from_hms_micro_opt(h, m, sec, micros)
}

/// `YYYY-MM-DDTHH:MM:SS` (KLK's `fecha_hora_completa`).
pub(super) fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    let (d, t) = s.split_once(['T', ' '])?;
    Some(parse_date(d)?.and_time(parse_time(t)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let t = parse_time("12:19:56.8966141").unwrap();
        assert_eq!(t.to_string(), "12:19:56.896614");
        assert_eq!(parse_time("06:05").unwrap().to_string(), "06:05:00");
        assert_eq!(parse_time("06:05:07").unwrap().to_string(), "06:05:07");
        assert_eq!(
            parse_time("06:05:07.5").unwrap().to_string(),
            "06:05:07.500"
        );
        for bad in ["6:05", "24:00:00", "12:00:00.", "12:00:00.1x", "12-00"] {
            assert!(parse_time(bad).is_none(), "{bad}");
        }
        assert!(parse_date("2025-02-30").is_none());
        assert!(parse_date("2025-2-3").is_none());
    }
}
