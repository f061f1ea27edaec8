//! SQL Server's types and values as the simulator models them: static types (what COLMETADATA
//! announces), runtime values (borrowed from the tables where possible, so a row is read without
//! allocating), implicit and explicit conversions, comparisons under a case-insensitive collation, and
//! arithmetic — including DATETIME + DATETIME, which SQL Server defines as adding the second operand's
//! offset from 1900-01-01 to the first.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::{Decimal, RoundingStrategy};

use super::error::SqlError;

/// Longest NVARCHAR(n) before a value must be NVARCHAR(MAX).
pub(crate) const NVARCHAR_MAX_N: u16 = 4000;
/// rust_decimal holds at most 28 fractional digits; larger declared scales are clamped to it.
const MAX_DECIMAL_SCALE: u8 = 28;

/// A column's or expression's SQL Server type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SqlType {
    Bit,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Real,
    Float,
    Decimal {
        precision: u8,
        scale: u8,
    },
    /// NVARCHAR(n) with n in characters; `None` is NVARCHAR(MAX).
    NVarChar(Option<u16>),
    Date,
    Time(u8),
    DateTime,
    DateTime2(u8),
    DateTimeOffset(u8),
}

impl SqlType {
    /// The name SQL Server uses in its messages.
    pub fn name(&self) -> &'static str {
        match self {
            SqlType::Bit => "bit",
            SqlType::TinyInt => "tinyint",
            SqlType::SmallInt => "smallint",
            SqlType::Int => "int",
            SqlType::BigInt => "bigint",
            SqlType::Real => "real",
            SqlType::Float => "float",
            SqlType::Decimal { .. } => "numeric",
            SqlType::NVarChar(_) => "nvarchar",
            SqlType::Date => "date",
            SqlType::Time(_) => "time",
            SqlType::DateTime => "datetime",
            SqlType::DateTime2(_) => "datetime2",
            SqlType::DateTimeOffset(_) => "datetimeoffset",
        }
    }

    /// SQL Server's data type precedence (higher wins an implicit conversion).
    pub fn precedence(&self) -> u8 {
        match self {
            SqlType::DateTimeOffset(_) => 30,
            SqlType::DateTime2(_) => 29,
            SqlType::DateTime => 28,
            SqlType::Date => 26,
            SqlType::Time(_) => 25,
            SqlType::Float => 24,
            SqlType::Real => 23,
            SqlType::Decimal { .. } => 22,
            SqlType::BigInt => 20,
            SqlType::Int => 19,
            SqlType::SmallInt => 18,
            SqlType::TinyInt => 17,
            SqlType::Bit => 16,
            SqlType::NVarChar(_) => 10,
        }
    }

    pub fn is_string(&self) -> bool {
        matches!(self, SqlType::NVarChar(_))
    }

    pub fn is_integer(&self) -> bool {
        matches!(
            self,
            SqlType::Bit | SqlType::TinyInt | SqlType::SmallInt | SqlType::Int | SqlType::BigInt
        )
    }

    pub fn is_numeric(&self) -> bool {
        self.is_integer()
            || matches!(
                self,
                SqlType::Real | SqlType::Float | SqlType::Decimal { .. }
            )
    }

    pub fn is_temporal(&self) -> bool {
        matches!(
            self,
            SqlType::Date
                | SqlType::Time(_)
                | SqlType::DateTime
                | SqlType::DateTime2(_)
                | SqlType::DateTimeOffset(_)
        )
    }

    /// Precision and scale of a numeric type seen as a DECIMAL (int is DECIMAL(10,0), …).
    pub fn decimal_shape(&self) -> (u8, u8) {
        match *self {
            SqlType::Bit => (1, 0),
            SqlType::TinyInt => (3, 0),
            SqlType::SmallInt => (5, 0),
            SqlType::Int => (10, 0),
            SqlType::BigInt => (19, 0),
            SqlType::Decimal { precision, scale } => (precision, scale),
            _ => (38, 10),
        }
    }

    /// A DECIMAL type, scale clamped to what the simulator can carry.
    pub fn decimal(precision: u8, scale: u8) -> SqlType {
        let precision = precision.clamp(1, 38);
        let scale = scale.min(precision).min(MAX_DECIMAL_SCALE);
        SqlType::Decimal { precision, scale }
    }

    /// NVARCHAR(n) for a value of `chars` characters (at least 1, MAX past 4000).
    pub fn nvarchar_for(chars: usize) -> SqlType {
        if chars > usize::from(NVARCHAR_MAX_N) {
            SqlType::NVarChar(None)
        } else {
            SqlType::NVarChar(Some(u16::try_from(chars.max(1)).unwrap_or(NVARCHAR_MAX_N)))
        }
    }
}

/// Parses a T-SQL type name as written in CAST, CONVERT or an sp_executesql declaration
/// (`nvarchar(4000)`, `numeric(18,2)`, `datetime2(7)`, `float(53)`, …).
pub(crate) fn parse_type_name(text: &str) -> Result<SqlType, SqlError> {
    let trimmed = text.trim();
    let (name, args) = match trimmed.find('(') {
        Some(open) => {
            let close = trimmed
                .rfind(')')
                .ok_or_else(|| SqlError::syntax(trimmed))?;
            (trimmed[..open].trim(), Some(&trimmed[open + 1..close]))
        }
        None => (trimmed, None),
    };
    let name = name
        .trim_matches(|c| c == '[' || c == ']')
        .to_ascii_lowercase();
    let name = name.strip_prefix("sys.").unwrap_or(&name).to_owned();
    let nums: Vec<&str> = args
        .map(|a| a.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let num = |i: usize| -> Result<Option<u64>, SqlError> {
        match nums.get(i) {
            None => Ok(None),
            Some(s) if s.eq_ignore_ascii_case("max") => Ok(None),
            Some(s) => s.parse::<u64>().map(Some).map_err(|_| SqlError::syntax(s)),
        }
    };
    let is_max = nums.first().is_some_and(|s| s.eq_ignore_ascii_case("max"));
    let fractional = |d: u64| -> Result<u8, SqlError> {
        let s = num(0)?.unwrap_or(d);
        if s > 7 {
            return Err(SqlError::custom(
                1002,
                15,
                1,
                format!("Line 1: Specified scale {s} is invalid."),
            ));
        }
        Ok(s as u8)
    };
    let ty = match name.as_str() {
        "bit" => SqlType::Bit,
        "tinyint" => SqlType::TinyInt,
        "smallint" => SqlType::SmallInt,
        "int" | "integer" => SqlType::Int,
        "bigint" => SqlType::BigInt,
        "real" => SqlType::Real,
        "float" => match num(0)? {
            Some(n) if n <= 24 => SqlType::Real,
            _ => SqlType::Float,
        },
        "double precision" => SqlType::Float,
        "decimal" | "numeric" | "dec" => {
            let precision = num(0)?.unwrap_or(18);
            let scale = num(1)?.unwrap_or(0);
            if precision == 0 || precision > 38 {
                return Err(SqlError::custom(
                    1002,
                    15,
                    1,
                    format!("Line 1: Specified column precision {precision} is greater than the specified precision of 38."),
                ));
            }
            if scale > precision {
                return Err(SqlError::custom(
                    183,
                    15,
                    1,
                    format!("The scale ({scale}) for column '' must be within the range 0 to {precision}."),
                ));
            }
            SqlType::decimal(precision as u8, scale as u8)
        }
        "money" => SqlType::decimal(19, 4),
        "smallmoney" => SqlType::decimal(10, 4),
        "nvarchar" | "varchar" | "nchar" | "char" | "national character varying" => {
            if is_max {
                SqlType::NVarChar(None)
            } else {
                let n = num(0)?.unwrap_or(if name.contains("var") { 30 } else { 1 });
                if n == 0 || n > 8000 {
                    return Err(SqlError::custom(
                        131,
                        15,
                        3,
                        format!("The size ({n}) given to the type '{name}' exceeds the maximum allowed for any data type (8000)."),
                    ));
                }
                SqlType::nvarchar_for(n as usize)
            }
        }
        "ntext" | "text" | "xml" => SqlType::NVarChar(None),
        "sysname" => SqlType::NVarChar(Some(128)),
        "uniqueidentifier" => SqlType::NVarChar(Some(36)),
        "date" => SqlType::Date,
        "time" => SqlType::Time(fractional(7)?),
        "datetime" | "smalldatetime" => SqlType::DateTime,
        "datetime2" => SqlType::DateTime2(fractional(7)?),
        "datetimeoffset" => SqlType::DateTimeOffset(fractional(7)?),
        _ => return Err(SqlError::unknown_type(&name)),
    };
    Ok(ty)
}

/// A runtime value. Strings borrow from the simulated tables, the plan or the parameters whenever they
/// can, so evaluating a column does not allocate.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value<'a> {
    Null,
    Bit(bool),
    Int(i64),
    Float(f64),
    Decimal(Decimal),
    Str(Cow<'a, str>),
    Date(NaiveDate),
    Time(NaiveTime),
    /// DATETIME, SMALLDATETIME and DATETIME2 values (the static type says which).
    DateTime(NaiveDateTime),
    /// DATETIMEOFFSET: local date-time and offset in minutes.
    DateTimeOffset(NaiveDateTime, i16),
}

impl<'a> Value<'a> {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// A copy of this value borrowing its string from `self`.
    pub fn reborrow(&self) -> Value<'_> {
        match self {
            Value::Str(s) => Value::Str(Cow::Borrowed(s.as_ref())),
            Value::Null => Value::Null,
            Value::Bit(b) => Value::Bit(*b),
            Value::Int(i) => Value::Int(*i),
            Value::Float(f) => Value::Float(*f),
            Value::Decimal(d) => Value::Decimal(*d),
            Value::Date(d) => Value::Date(*d),
            Value::Time(t) => Value::Time(*t),
            Value::DateTime(d) => Value::DateTime(*d),
            Value::DateTimeOffset(d, o) => Value::DateTimeOffset(*d, *o),
        }
    }

    /// An owned copy, independent of the tables it was read from.
    pub fn into_static(self) -> Value<'static> {
        match self {
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::Null => Value::Null,
            Value::Bit(b) => Value::Bit(b),
            Value::Int(i) => Value::Int(i),
            Value::Float(f) => Value::Float(f),
            Value::Decimal(d) => Value::Decimal(d),
            Value::Date(d) => Value::Date(d),
            Value::Time(t) => Value::Time(t),
            Value::DateTime(d) => Value::DateTime(d),
            Value::DateTimeOffset(d, o) => Value::DateTimeOffset(d, o),
        }
    }

    /// The natural static type of a value (used for literals and parameters).
    pub fn natural_type(&self) -> SqlType {
        match self {
            Value::Null => SqlType::Int,
            Value::Bit(_) => SqlType::Bit,
            Value::Int(i) => {
                if i32::try_from(*i).is_ok() {
                    SqlType::Int
                } else {
                    SqlType::BigInt
                }
            }
            Value::Float(_) => SqlType::Float,
            Value::Decimal(d) => {
                let scale = d.scale() as u8;
                let digits = d.mantissa().unsigned_abs().to_string().len() as u8;
                SqlType::decimal(digits.max(scale + 1).max(1), scale)
            }
            Value::Str(s) => SqlType::nvarchar_for(s.chars().count()),
            Value::Date(_) => SqlType::Date,
            Value::Time(_) => SqlType::Time(7),
            Value::DateTime(_) => SqlType::DateTime2(7),
            Value::DateTimeOffset(..) => SqlType::DateTimeOffset(7),
        }
    }
}

const DATETIME_ZERO: NaiveDateTime = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(d) => d.and_time(NaiveTime::MIN),
    None => NaiveDateTime::MIN,
};

const DATE_ZERO: NaiveDate = match NaiveDate::from_ymd_opt(1, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

/// 1900-01-01 00:00:00, the zero of DATETIME.
pub(crate) fn datetime_zero() -> NaiveDateTime {
    DATETIME_ZERO
}

/// 0001-01-01, the zero of DATE and DATETIME2.
pub(crate) fn date_zero() -> NaiveDate {
    DATE_ZERO
}

/// DATETIME's (days since 1900-01-01, 1/300 s ticks since midnight), rounded as SQL Server rounds.
pub(crate) fn datetime_parts(dt: &NaiveDateTime) -> (i32, u32) {
    let mut days = (dt.date() - datetime_zero().date()).num_days();
    let nanos = u64::from(dt.num_seconds_from_midnight()) * 1_000_000_000
        + u64::from(dt.nanosecond() % 1_000_000_000);
    // 300 ticks per second: ticks = nanos * 3 / 10^7, rounded half up.
    let mut ticks = (nanos * 3 + 5_000_000) / 10_000_000;
    if ticks >= 300 * 86_400 {
        ticks -= 300 * 86_400;
        days += 1;
    }
    (i32::try_from(days).unwrap_or(i32::MAX), ticks as u32)
}

/// Rounds a date-time to DATETIME's 1/300 s resolution.
pub(crate) fn round_datetime(dt: NaiveDateTime) -> NaiveDateTime {
    // Whole seconds (every generated time) are exact.
    if dt.nanosecond() == 0 {
        return dt;
    }
    let (days, ticks) = datetime_parts(&dt);
    datetime_from_parts(days, ticks)
}

/// The date-time of DATETIME parts.
pub(crate) fn datetime_from_parts(days: i32, ticks: u32) -> NaiveDateTime {
    let nanos = u64::from(ticks) * 10_000_000 / 3;
    datetime_zero() + Duration::days(i64::from(days)) + Duration::nanoseconds(nanos as i64)
}

/// Rounds a date-time to `scale` fractional digits of seconds (DATETIME2(scale)).
pub(crate) fn round_fraction(dt: NaiveDateTime, scale: u8) -> NaiveDateTime {
    if dt.nanosecond() == 0 {
        return dt;
    }
    if scale >= 7 {
        let nanos = dt.nanosecond() % 1_000_000_000;
        let trunc = nanos / 100 * 100;
        return dt.with_nanosecond(trunc).unwrap_or(dt);
    }
    let unit = 10u32.pow(9 - u32::from(scale));
    let nanos = dt.nanosecond() % 1_000_000_000;
    let rounded = (nanos + unit / 2) / unit * unit;
    let base = dt.with_nanosecond(0).unwrap_or(dt);
    base + Duration::nanoseconds(i64::from(rounded))
}

/// Case-insensitive, trailing-space-insensitive string ordering (SQL_Latin1_General_CP1_CI_AS-like).
pub(crate) fn cmp_ci(a: &str, b: &str) -> Ordering {
    let a = a.trim_end_matches(' ');
    let b = b.trim_end_matches(' ');
    if a.is_ascii() && b.is_ascii() {
        let (x, y) = (a.as_bytes(), b.as_bytes());
        for (p, q) in x.iter().zip(y.iter()) {
            let (p, q) = (p.to_ascii_lowercase(), q.to_ascii_lowercase());
            if p != q {
                return p.cmp(&q);
            }
        }
        return x.len().cmp(&y.len());
    }
    let mut ai = a.chars().flat_map(char::to_lowercase);
    let mut bi = b.chars().flat_map(char::to_lowercase);
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) if p != q => return p.cmp(&q),
            _ => {}
        }
    }
}

/// Equality under the collation, cheaper than [`cmp_ci`] for the common case.
#[cfg(test)]
pub(crate) fn eq_ci(a: &str, b: &str) -> bool {
    let a = a.trim_end_matches(' ');
    let b = b.trim_end_matches(' ');
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    cmp_ci(a, b) == Ordering::Equal
}

/// Hashes a string consistently with [`cmp_ci`] equality (case and trailing spaces ignored).
pub(crate) fn hash_ci<H: Hasher>(s: &str, h: &mut H) {
    let s = s.trim_end_matches(' ');
    if s.is_ascii() {
        // Every value a hash join or DISTINCT touches comes through here: lowercase eight
        // ASCII bytes at a time instead of byte by byte (same words, so the same hash).
        for chunk in s.as_bytes().chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            h.write_u64(ascii_lowercase_word(u64::from_le_bytes(word)));
        }
    } else {
        for c in s.chars().flat_map(char::to_lowercase) {
            h.write_u32(c as u32);
        }
    }
    h.write_u8(0xff);
}

/// Lowercases the ASCII letters of eight ASCII bytes (each below 0x80) at once: a byte's high
/// bit is set after adding `0x80 - b'A'` when it is at least `A`, and after adding
/// `0x80 - b'Z' - 1` when it is past `Z`; neither sum carries into the next byte.
fn ascii_lowercase_word(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let at_least_a = w + ONES * u64::from(0x80 - b'A');
    let past_z = w + ONES * u64::from(0x80 - b'Z' - 1);
    let upper = (at_least_a ^ past_z) & (ONES * 0x80);
    w | (upper >> 2)
}

/// A hash consistent with SQL equality, for hash joins. `None` for NULL (never equal to anything).
pub(crate) fn hash_value(v: &Value<'_>) -> Option<u64> {
    let mut h = FxHasher::default();
    match v {
        Value::Null => return None,
        Value::Str(s) => {
            h.write_u8(1);
            hash_ci(s, &mut h);
        }
        Value::Bit(b) => hash_number(Decimal::from(u8::from(*b)), &mut h),
        Value::Int(i) => hash_number(Decimal::from(*i), &mut h),
        Value::Decimal(d) => hash_number(*d, &mut h),
        Value::Float(f) => match Decimal::from_f64_retain(*f) {
            Some(d) => hash_number(d, &mut h),
            None => {
                h.write_u8(9);
                f.to_bits().hash(&mut h);
            }
        },
        Value::Date(d) => {
            h.write_u8(3);
            d.and_time(NaiveTime::MIN).hash(&mut h);
        }
        Value::DateTime(d) => {
            h.write_u8(3);
            d.hash(&mut h);
        }
        Value::Time(t) => {
            h.write_u8(4);
            t.hash(&mut h);
        }
        Value::DateTimeOffset(d, o) => {
            h.write_u8(3);
            (*d - Duration::minutes(i64::from(*o))).hash(&mut h);
        }
    }
    Some(h.finish())
}

fn hash_number<H: Hasher>(d: Decimal, h: &mut H) {
    h.write_u8(2);
    let n = d.normalize();
    n.mantissa().hash(h);
    n.scale().hash(h);
}

/// A small, fast, deterministic hasher (FxHash) for join indexes and DISTINCT.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn finish(&self) -> u64 {
        // A final avalanche so low bits are usable as bucket indexes.
        let mut x = self.hash;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x
    }
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// Compares two values as SQL Server would after implicit conversion; `None` when either is NULL.
pub(crate) fn compare(a: &Value<'_>, b: &Value<'_>) -> Result<Option<Ordering>, SqlError> {
    use Value::*;
    let ord = match (a, b) {
        (Null, _) | (_, Null) => return Ok(None),
        (Str(x), Str(y)) => cmp_ci(x, y),
        (Int(x), Int(y)) => x.cmp(y),
        (Bit(x), Bit(y)) => x.cmp(y),
        (Str(s), other) => return compare(&convert_string_like(s, other)?, other),
        (other, Str(s)) => return compare(other, &convert_string_like(s, other)?),
        (x, y) if is_num(x) && is_num(y) => cmp_numbers(x, y),
        (x, y) => match (as_utc_datetime(x), as_utc_datetime(y)) {
            (Some(p), Some(q)) => p.cmp(&q),
            _ => match (x, y) {
                (Time(p), Time(q)) => p.cmp(q),
                _ => return Err(SqlError::type_clash(value_type_name(x), value_type_name(y))),
            },
        },
    };
    Ok(Some(ord))
}

fn is_num(v: &Value<'_>) -> bool {
    matches!(
        v,
        Value::Int(_) | Value::Float(_) | Value::Decimal(_) | Value::Bit(_)
    )
}

fn cmp_numbers(a: &Value<'_>, b: &Value<'_>) -> Ordering {
    match (a, b) {
        (Value::Float(_), _) | (_, Value::Float(_)) => {
            let (x, y) = (num_as_f64(a), num_as_f64(b));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        _ => num_as_decimal(a).cmp(&num_as_decimal(b)),
    }
}

fn num_as_f64(v: &Value<'_>) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Bit(b) => f64::from(u8::from(*b)),
        Value::Float(f) => *f,
        Value::Decimal(d) => d.to_f64().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn num_as_decimal(v: &Value<'_>) -> Decimal {
    match v {
        Value::Int(i) => Decimal::from(*i),
        Value::Bit(b) => Decimal::from(u8::from(*b)),
        Value::Decimal(d) => *d,
        Value::Float(f) => Decimal::from_f64_retain(*f).unwrap_or_default(),
        _ => Decimal::ZERO,
    }
}

fn as_utc_datetime(v: &Value<'_>) -> Option<NaiveDateTime> {
    match v {
        Value::Date(d) => Some(d.and_time(NaiveTime::MIN)),
        Value::DateTime(d) => Some(*d),
        Value::DateTimeOffset(d, o) => Some(*d - Duration::minutes(i64::from(*o))),
        _ => None,
    }
}

fn value_type_name(v: &Value<'_>) -> &'static str {
    match v {
        Value::Null => "int",
        Value::Bit(_) => "bit",
        Value::Int(_) => "int",
        Value::Float(_) => "float",
        Value::Decimal(_) => "numeric",
        Value::Str(_) => "nvarchar",
        Value::Date(_) => "date",
        Value::Time(_) => "time",
        Value::DateTime(_) => "datetime",
        Value::DateTimeOffset(..) => "datetimeoffset",
    }
}

/// Converts a string operand to the kind of the other operand (strings have the lowest precedence).
fn convert_string_like(s: &str, other: &Value<'_>) -> Result<Value<'static>, SqlError> {
    let target = match other {
        Value::Int(_) => SqlType::BigInt,
        Value::Bit(_) => SqlType::Bit,
        Value::Float(_) => SqlType::Float,
        Value::Decimal(d) => SqlType::decimal(38, d.scale() as u8),
        Value::Date(_) => SqlType::Date,
        Value::Time(_) => SqlType::Time(7),
        Value::DateTime(_) => SqlType::DateTime2(7),
        Value::DateTimeOffset(..) => SqlType::DateTimeOffset(7),
        Value::Str(_) | Value::Null => return Ok(Value::Str(Cow::Owned(s.to_owned()))),
    };
    let v = cast(
        Value::Str(Cow::Borrowed(s)),
        SqlType::NVarChar(None),
        target,
    )?;
    Ok(v.into_static())
}

/// Converts `v` (of static type `from`) to `to`, as CAST does.
pub(crate) fn cast<'a>(v: Value<'a>, from: SqlType, to: SqlType) -> Result<Value<'a>, SqlError> {
    use Value::*;
    if v.is_null() {
        return Ok(Null);
    }
    let out = match to {
        SqlType::Bit => match v {
            Bit(b) => Bit(b),
            Int(i) => Bit(i != 0),
            Float(f) => Bit(f != 0.0),
            Decimal(d) => Bit(!d.is_zero()),
            Str(s) => {
                let t = s.trim();
                if t.eq_ignore_ascii_case("true") {
                    Bit(true)
                } else if t.eq_ignore_ascii_case("false") {
                    Bit(false)
                } else {
                    match t.parse::<i64>() {
                        Ok(i) => Bit(i != 0),
                        Err(_) => return Err(SqlError::conversion_failed(&s, "nvarchar", "bit")),
                    }
                }
            }
            _ => return Err(SqlError::conversion_not_allowed(from.name(), to.name())),
        },
        SqlType::TinyInt | SqlType::SmallInt | SqlType::Int | SqlType::BigInt => {
            let i = match v {
                Bit(b) => i64::from(b),
                Int(i) => i,
                Float(f) => {
                    let t = f.trunc();
                    if !(-9.2e18..9.2e18).contains(&t) {
                        return Err(SqlError::overflow(to.name()));
                    }
                    t as i64
                }
                Decimal(d) => d
                    .trunc()
                    .to_i64()
                    .ok_or_else(|| SqlError::overflow(to.name()))?,
                Str(s) => parse_int_text(&s).ok_or_else(|| {
                    SqlError::conversion_failed(s.trim_end(), "nvarchar", to.name())
                })?,
                DateTime(dt) if from == SqlType::DateTime => {
                    // DATETIME → int rounds to the nearest day.
                    let (days, ticks) = datetime_parts(&dt);
                    i64::from(days) + i64::from(ticks >= 300 * 43_200)
                }
                _ => return Err(SqlError::conversion_not_allowed(from.name(), to.name())),
            };
            let (lo, hi) = match to {
                SqlType::TinyInt => (0, 255),
                SqlType::SmallInt => (i64::from(i16::MIN), i64::from(i16::MAX)),
                SqlType::Int => (i64::from(i32::MIN), i64::from(i32::MAX)),
                _ => (i64::MIN, i64::MAX),
            };
            if i < lo || i > hi {
                return Err(SqlError::overflow(to.name()));
            }
            Int(i)
        }
        SqlType::Real | SqlType::Float => {
            let f = match v {
                Bit(b) => f64::from(u8::from(b)),
                Int(i) => i as f64,
                Float(f) => f,
                Decimal(d) => d.to_f64().unwrap_or(0.0),
                Str(s) => s
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| SqlError::error_converting("nvarchar", "float"))?,
                DateTime(dt) if from == SqlType::DateTime => {
                    let (days, ticks) = datetime_parts(&dt);
                    f64::from(days) + f64::from(ticks) / (300.0 * 86_400.0)
                }
                _ => return Err(SqlError::conversion_not_allowed(from.name(), to.name())),
            };
            if to == SqlType::Real {
                Float(f64::from(f as f32))
            } else {
                Float(f)
            }
        }
        SqlType::Decimal { precision, scale } => {
            let d = match v {
                Bit(b) => rust_decimal::Decimal::from(u8::from(b)),
                Int(i) => rust_decimal::Decimal::from(i),
                Decimal(d) => d,
                // Shortest decimal that round-trips (2.675e0 → 2.675), as people expect.
                Float(f) => rust_decimal::Decimal::from_f64(f)
                    .ok_or_else(|| SqlError::overflow_numeric("float"))?,
                Str(s) => parse_decimal_text(&s)
                    .ok_or_else(|| SqlError::error_converting("nvarchar", "numeric"))?,
                _ => return Err(SqlError::conversion_not_allowed(from.name(), to.name())),
            };
            let d =
                d.round_dp_with_strategy(u32::from(scale), RoundingStrategy::MidpointAwayFromZero);
            if !fits_precision(&d, precision, scale) {
                return Err(SqlError::overflow_numeric(from.name()));
            }
            let mut d = d;
            d.rescale(u32::from(scale));
            Decimal(d)
        }
        SqlType::NVarChar(n) => {
            let s: Cow<'a, str> = match v {
                Str(s) => s,
                other => Cow::Owned(to_text(&other, from)),
            };
            match n {
                // Bytes ≥ characters: only long values need counting.
                Some(n) if s.len() > usize::from(n) && s.chars().count() > usize::from(n) => {
                    Str(Cow::Owned(s.chars().take(usize::from(n)).collect()))
                }
                _ => Str(s),
            }
        }
        SqlType::Date => match v {
            Date(d) => Date(d),
            DateTime(dt) => Date(dt.date()),
            DateTimeOffset(dt, _) => Date(dt.date()),
            Str(s) => Date(
                parse_datetime_text(&s)
                    .ok_or_else(SqlError::datetime_from_string)?
                    .date(),
            ),
            _ => return Err(SqlError::conversion_not_allowed(from.name(), to.name())),
        },
        SqlType::Time(scale) => match v {
            Time(t) => Time(t),
            DateTime(dt) => Time(round_fraction(dt, scale).time()),
            DateTimeOffset(dt, _) => Time(round_fraction(dt, scale).time()),
            Str(s) => Time(parse_time_text(&s).ok_or_else(SqlError::datetime_from_string)?),
            _ => return Err(SqlError::conversion_not_allowed(from.name(), to.name())),
        },
        SqlType::DateTime => match v {
            Date(d) => DateTime(d.and_time(NaiveTime::MIN)),
            Time(t) => DateTime(round_datetime(datetime_zero().date().and_time(t))),
            DateTime(dt) => DateTime(round_datetime(dt)),
            DateTimeOffset(dt, _) => DateTime(round_datetime(dt)),
            Str(s) => DateTime(round_datetime(
                parse_datetime_text(&s).ok_or_else(SqlError::datetime_from_string)?,
            )),
            Int(i) => DateTime(datetime_zero() + Duration::days(i)),
            Bit(b) => DateTime(datetime_zero() + Duration::days(i64::from(b))),
            Float(f) => DateTime(datetime_from_fraction(f)?),
            Decimal(d) => DateTime(datetime_from_fraction(d.to_f64().unwrap_or(0.0))?),
            Null => Null,
        },
        SqlType::DateTime2(scale) => match v {
            Date(d) => DateTime(d.and_time(NaiveTime::MIN)),
            Time(t) => DateTime(datetime_zero().date().and_time(t)),
            DateTime(dt) => DateTime(round_fraction(dt, scale)),
            DateTimeOffset(dt, _) => DateTime(round_fraction(dt, scale)),
            Str(s) => DateTime(round_fraction(
                parse_datetime_text(&s).ok_or_else(SqlError::datetime_from_string)?,
                scale,
            )),
            _ => return Err(SqlError::type_clash(from.name(), to.name())),
        },
        SqlType::DateTimeOffset(scale) => match v {
            Date(d) => DateTimeOffset(d.and_time(NaiveTime::MIN), 0),
            DateTime(dt) => DateTimeOffset(round_fraction(dt, scale), 0),
            DateTimeOffset(dt, o) => DateTimeOffset(round_fraction(dt, scale), o),
            Str(s) => DateTimeOffset(
                round_fraction(
                    parse_datetime_text(&s).ok_or_else(SqlError::datetime_from_string)?,
                    scale,
                ),
                0,
            ),
            _ => return Err(SqlError::type_clash(from.name(), to.name())),
        },
    };
    Ok(out)
}

fn datetime_from_fraction(days: f64) -> Result<NaiveDateTime, SqlError> {
    if !days.is_finite() || days.abs() > 3.0e6 {
        return Err(SqlError::overflow("datetime"));
    }
    let nanos = (days * 86_400.0 * 1e9).round() as i64;
    Ok(round_datetime(
        datetime_zero() + Duration::nanoseconds(nanos),
    ))
}

/// Whether `d` fits DECIMAL(precision, scale).
pub(crate) fn fits_precision(d: &Decimal, precision: u8, scale: u8) -> bool {
    let int_digits = u32::from(precision.saturating_sub(scale));
    if int_digits >= 28 {
        return true;
    }
    // |d| < 10^int_digits ⇔ |mantissa| < 10^(int_digits + d.scale), without Decimal arithmetic.
    let digits = int_digits + d.scale();
    if digits > 38 {
        return true;
    }
    d.mantissa().unsigned_abs() < 10u128.pow(digits)
}

fn parse_int_text(s: &str) -> Option<i64> {
    let t = s.trim();
    t.parse::<i64>().ok()
}

fn parse_decimal_text(s: &str) -> Option<Decimal> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    t.parse::<Decimal>()
        .ok()
        .or_else(|| Decimal::from_scientific(t).ok())
}

/// Parses the date/time string formats SQL Server accepts in practice (ISO, ODBC, `yyyymmdd`).
pub(crate) fn parse_datetime_text(s: &str) -> Option<NaiveDateTime> {
    let t = s.trim();
    let t = t
        .trim_start_matches("{ts '")
        .trim_start_matches("{d '")
        .trim_end_matches("'}");
    const FORMATS: &[&str] = &[
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y%m%d %H:%M:%S%.f",
        "%Y/%m/%d %H:%M:%S%.f",
        "%m/%d/%Y %H:%M:%S%.f",
    ];
    for f in FORMATS {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, f) {
            return Some(dt);
        }
    }
    // Offsets are accepted and dropped (the local part is kept, as CAST to datetime2 does).
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(t) {
        return Some(dt.naive_local());
    }
    for f in ["%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%m/%d/%Y", "%d/%m/%Y"] {
        if let Ok(d) = NaiveDate::parse_from_str(t, f) {
            return Some(d.and_time(NaiveTime::MIN));
        }
    }
    parse_time_text(t).map(|time| datetime_zero().date().and_time(time))
}

fn parse_time_text(s: &str) -> Option<NaiveTime> {
    let t = s.trim();
    for f in [
        "%H:%M:%S%.f",
        "%H:%M",
        "%I:%M:%S%.f %p",
        "%I:%M %p",
        "%I:%M%p",
    ] {
        if let Ok(time) = NaiveTime::parse_from_str(t, f) {
            return Some(time);
        }
    }
    parse_datetime_text_date_only(t)
}

fn parse_datetime_text_date_only(t: &str) -> Option<NaiveTime> {
    for f in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, f) {
            return Some(dt.time());
        }
    }
    None
}

/// A value as text, as CAST(x AS NVARCHAR) writes it (style 0 for DATETIME: `Jan  5 2024 10:00AM`).
pub(crate) fn to_text(v: &Value<'_>, ty: SqlType) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bit(b) => if *b { "1" } else { "0" }.to_owned(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format_float(*f),
        Value::Decimal(d) => d.to_string(),
        Value::Str(s) => s.to_string(),
        Value::Date(d) => d.format("%Y-%m-%d").to_string(),
        Value::Time(t) => format_fraction(
            t.format("%H:%M:%S").to_string(),
            t.nanosecond(),
            time_scale(ty),
        ),
        Value::DateTime(dt) => match ty {
            SqlType::DateTime => {
                let month = dt.format("%b").to_string();
                let (h12, pm) = {
                    let h = dt.hour();
                    (if h % 12 == 0 { 12 } else { h % 12 }, h >= 12)
                };
                format!(
                    "{month} {:>2} {} {:>2}:{:02}{}",
                    dt.day(),
                    dt.year(),
                    h12,
                    dt.minute(),
                    if pm { "PM" } else { "AM" }
                )
            }
            _ => format_fraction(
                dt.format("%Y-%m-%d %H:%M:%S").to_string(),
                dt.nanosecond(),
                time_scale(ty),
            ),
        },
        Value::DateTimeOffset(dt, o) => {
            let base = format_fraction(
                dt.format("%Y-%m-%d %H:%M:%S").to_string(),
                dt.nanosecond(),
                time_scale(ty),
            );
            let sign = if *o < 0 { '-' } else { '+' };
            let o = o.unsigned_abs();
            format!("{base} {sign}{:02}:{:02}", o / 60, o % 60)
        }
    }
}

fn time_scale(ty: SqlType) -> u8 {
    match ty {
        SqlType::Time(s) | SqlType::DateTime2(s) | SqlType::DateTimeOffset(s) => s,
        _ => 7,
    }
}

fn format_fraction(mut base: String, nanos: u32, scale: u8) -> String {
    if scale > 0 {
        let frac = format!("{:09}", nanos % 1_000_000_000);
        base.push('.');
        base.push_str(&format!("{frac:0<9}")[..usize::from(scale.min(9))]);
        if scale > 9 {
            base.push_str(&"0".repeat(usize::from(scale - 9)));
        }
    }
    base
}

fn format_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// Arithmetic operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl ArithOp {
    pub fn name(&self) -> &'static str {
        match self {
            ArithOp::Add => "add",
            ArithOp::Sub => "subtract",
            ArithOp::Mul => "multiply",
            ArithOp::Div => "divide",
            ArithOp::Mod => "modulo",
        }
    }
}

/// The static result type of `left op right`, or the error SQL Server gives when compiling it.
pub(crate) fn arith_type(op: ArithOp, left: SqlType, right: SqlType) -> Result<SqlType, SqlError> {
    use SqlType::*;
    // String concatenation.
    if left.is_string() && right.is_string() {
        if op != ArithOp::Add {
            return Err(SqlError::invalid_operand("nvarchar", op.name()));
        }
        return Ok(match (left, right) {
            (NVarChar(Some(a)), NVarChar(Some(b))) => {
                SqlType::nvarchar_for(usize::from(a) + usize::from(b))
            }
            _ => NVarChar(None),
        });
    }
    for t in [left, right] {
        match t {
            Date | Time(_) | DateTime2(_) | DateTimeOffset(_) => {
                return Err(SqlError::invalid_operand(t.name(), op.name()))
            }
            Bit if op != ArithOp::Add && op != ArithOp::Sub => {}
            _ => {}
        }
    }
    if left == DateTime || right == DateTime {
        if !matches!(op, ArithOp::Add | ArithOp::Sub) {
            return Err(SqlError::invalid_operand("datetime", op.name()));
        }
        return Ok(DateTime);
    }
    // Strings take the other operand's type (lowest precedence).
    let (l, r) = match (left.is_string(), right.is_string()) {
        (true, false) => (right, right),
        (false, true) => (left, left),
        _ => (left, right),
    };
    if l == Bit && r == Bit {
        return Err(SqlError::invalid_operand("bit", op.name()));
    }
    let top = if l.precedence() >= r.precedence() {
        l
    } else {
        r
    };
    Ok(match top {
        Float | Real => {
            if op == ArithOp::Mod {
                return Err(SqlError::incompatible_operands(
                    l.name(),
                    r.name(),
                    "modulo",
                ));
            }
            Float
        }
        Decimal { .. } => {
            let (p1, s1) = l.decimal_shape();
            let (p2, s2) = r.decimal_shape();
            let (p1, s1, p2, s2) = (i32::from(p1), i32::from(s1), i32::from(p2), i32::from(s2));
            let (p, s) = match op {
                ArithOp::Add | ArithOp::Sub => {
                    let s = s1.max(s2);
                    ((p1 - s1).max(p2 - s2) + s + 1, s)
                }
                ArithOp::Mul => (p1 + p2 + 1, s1 + s2),
                ArithOp::Div => {
                    let s = 6.max(s1 + p2 + 1);
                    (p1 - s1 + s2 + s, s)
                }
                ArithOp::Mod => {
                    let s = s1.max(s2);
                    ((p1 - s1).min(p2 - s2) + s, s)
                }
            };
            let (p, s) = if p > 38 {
                let integral = p - s;
                (38, (38 - integral).max(s.min(6)))
            } else {
                (p, s)
            };
            SqlType::decimal(p.clamp(1, 38) as u8, s.clamp(0, 38) as u8)
        }
        BigInt => BigInt,
        Bit | TinyInt | SmallInt | Int => {
            if l == BigInt || r == BigInt {
                BigInt
            } else {
                Int
            }
        }
        other => other,
    })
}

/// Evaluates `left op right` into `ty` (from [`arith_type`]).
pub(crate) fn arith<'a>(
    op: ArithOp,
    left: Value<'a>,
    lt: SqlType,
    right: Value<'a>,
    rt: SqlType,
    ty: SqlType,
) -> Result<Value<'a>, SqlError> {
    if left.is_null() || right.is_null() {
        return Ok(Value::Null);
    }
    match ty {
        SqlType::NVarChar(_) => {
            let (Value::Str(a), Value::Str(b)) = (left, right) else {
                return Err(SqlError::invalid_operand("nvarchar", op.name()));
            };
            let mut s = String::with_capacity(a.len() + b.len());
            s.push_str(&a);
            s.push_str(&b);
            Ok(Value::Str(Cow::Owned(s)))
        }
        SqlType::DateTime => datetime_arith(op, left, lt, right, rt),
        SqlType::Float | SqlType::Real => {
            let a = num_as_f64(&cast(left, lt, SqlType::Float)?);
            let b = num_as_f64(&cast(right, rt, SqlType::Float)?);
            let r = match op {
                ArithOp::Add => a + b,
                ArithOp::Sub => a - b,
                ArithOp::Mul => a * b,
                ArithOp::Div => {
                    if b == 0.0 {
                        return Err(SqlError::divide_by_zero());
                    }
                    a / b
                }
                ArithOp::Mod => {
                    return Err(SqlError::incompatible_operands("float", "float", "modulo"))
                }
            };
            if !r.is_finite() {
                return Err(SqlError::overflow("float"));
            }
            Ok(Value::Float(r))
        }
        SqlType::Decimal { precision, scale } => {
            let a = num_as_decimal(&cast(left, lt, SqlType::decimal(38, lt.decimal_shape().1))?);
            let b = num_as_decimal(&cast(
                right,
                rt,
                SqlType::decimal(38, rt.decimal_shape().1),
            )?);
            let r = match op {
                ArithOp::Add => a.checked_add(b),
                ArithOp::Sub => a.checked_sub(b),
                ArithOp::Mul => a.checked_mul(b),
                ArithOp::Div => {
                    if b.is_zero() {
                        return Err(SqlError::divide_by_zero());
                    }
                    a.checked_div(b)
                }
                ArithOp::Mod => {
                    if b.is_zero() {
                        return Err(SqlError::divide_by_zero());
                    }
                    a.checked_rem(b)
                }
            }
            .ok_or_else(|| SqlError::overflow_numeric("numeric"))?;
            let r =
                r.round_dp_with_strategy(u32::from(scale), RoundingStrategy::MidpointAwayFromZero);
            if !fits_precision(&r, precision, scale) {
                return Err(SqlError::overflow_numeric("expression"));
            }
            Ok(Value::Decimal(r))
        }
        _ => {
            let a = match cast(left, lt, SqlType::BigInt)? {
                Value::Int(i) => i,
                _ => 0,
            };
            let b = match cast(right, rt, SqlType::BigInt)? {
                Value::Int(i) => i,
                _ => 0,
            };
            let r = match op {
                ArithOp::Add => a.checked_add(b),
                ArithOp::Sub => a.checked_sub(b),
                ArithOp::Mul => a.checked_mul(b),
                ArithOp::Div => {
                    if b == 0 {
                        return Err(SqlError::divide_by_zero());
                    }
                    a.checked_div(b)
                }
                ArithOp::Mod => {
                    if b == 0 {
                        return Err(SqlError::divide_by_zero());
                    }
                    a.checked_rem(b)
                }
            }
            .ok_or_else(|| SqlError::overflow(ty.name()))?;
            let fits = match ty {
                SqlType::BigInt => true,
                _ => i32::try_from(r).is_ok(),
            };
            if !fits {
                return Err(SqlError::overflow(ty.name()));
            }
            Ok(Value::Int(r))
        }
    }
}

/// DATETIME arithmetic. Both operands become DATETIME (a number is a count of days); the result is
/// `left ± (right − 1900-01-01)`. That is why `f_Fecha + h_Hora` works when the time is stored on
/// 1900-01-01, and lands two days early when it is stored on 1899-12-30 (VB6's zero date).
fn datetime_arith<'a>(
    op: ArithOp,
    left: Value<'a>,
    lt: SqlType,
    right: Value<'a>,
    rt: SqlType,
) -> Result<Value<'a>, SqlError> {
    let a = match cast(left, lt, SqlType::DateTime)? {
        Value::DateTime(d) => d,
        _ => return Ok(Value::Null),
    };
    let b = match cast(right, rt, SqlType::DateTime)? {
        Value::DateTime(d) => d,
        _ => return Ok(Value::Null),
    };
    let offset = b - datetime_zero();
    let r = match op {
        ArithOp::Add => a.checked_add_signed(offset),
        ArithOp::Sub => a.checked_sub_signed(offset),
        _ => None,
    }
    .ok_or_else(|| SqlError::overflow("datetime"))?;
    let year = r.year();
    if !(1753..=9999).contains(&year) {
        return Err(SqlError::custom(
            517,
            16,
            1,
            "Adding a value to a 'datetime' column caused an overflow.".to_owned(),
        ));
    }
    Ok(Value::DateTime(round_datetime(r)))
}

/// Evaluates `LIKE` with SQL Server's wildcards (`%`, `_`, `[abc]`, `[a-z]`, `[^x]`), case-insensitively.
pub(crate) fn like(text: &str, pattern: &str, escape: Option<char>) -> bool {
    let t: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    like_at(&t, &p, escape)
}

fn like_at(t: &[char], p: &[char], escape: Option<char>) -> bool {
    let (mut ti, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            let c = p[pi];
            if Some(c) == escape && pi + 1 < p.len() {
                if p[pi + 1] == t[ti] {
                    ti += 1;
                    pi += 2;
                    continue;
                }
            } else if c == '%' {
                star = Some((pi, ti));
                pi += 1;
                continue;
            } else if c == '_' {
                ti += 1;
                pi += 1;
                continue;
            } else if c == '[' {
                if let Some((matched, next)) = match_class(&p[pi..], t[ti]) {
                    if matched {
                        ti += 1;
                        pi += next;
                        continue;
                    }
                } else if t[ti] == '[' {
                    ti += 1;
                    pi += 1;
                    continue;
                }
            } else if c == t[ti] {
                ti += 1;
                pi += 1;
                continue;
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    while pi < p.len() && p[pi] == '%' {
        pi += 1;
    }
    pi == p.len()
}

/// Matches `[...]` at the start of `p` against `c`: (matched, pattern length consumed).
fn match_class(p: &[char], c: char) -> Option<(bool, usize)> {
    let close = p.iter().skip(1).position(|&x| x == ']')? + 1;
    let body = &p[1..close];
    let (negate, body) = match body.first() {
        Some('^') => (true, &body[1..]),
        _ => (false, body),
    };
    let mut hit = false;
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == '-' {
            if body[i] <= c && c <= body[i + 2] {
                hit = true;
            }
            i += 3;
        } else {
            if body[i] == c {
                hit = true;
            }
            i += 1;
        }
    }
    Some((hit != negate, close + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn datetime_plus_datetime_adds_the_offset_from_1900() {
        let date = Value::DateTime(dt("2024-03-15 00:00:00"));
        let time = Value::DateTime(dt("1900-01-01 10:30:15"));
        let r = arith(
            ArithOp::Add,
            date.clone(),
            SqlType::DateTime,
            time,
            SqlType::DateTime,
            SqlType::DateTime,
        )
        .unwrap();
        assert_eq!(r, Value::DateTime(dt("2024-03-15 10:30:15")));
        // A time stored on VB6's zero date (1899-12-30) shifts the sum two days back.
        let vb6 = Value::DateTime(dt("1899-12-30 10:30:15"));
        let r = arith(
            ArithOp::Add,
            date,
            SqlType::DateTime,
            vb6,
            SqlType::DateTime,
            SqlType::DateTime,
        )
        .unwrap();
        assert_eq!(r, Value::DateTime(dt("2024-03-13 10:30:15")));
    }

    #[test]
    fn datetime2_and_date_cannot_be_added() {
        let e = arith_type(ArithOp::Add, SqlType::DateTime2(7), SqlType::DateTime2(7)).unwrap_err();
        assert_eq!(e.number, 8117);
        let e = arith_type(ArithOp::Add, SqlType::Date, SqlType::DateTime).unwrap_err();
        assert_eq!(e.number, 8117);
        assert_eq!(
            arith_type(ArithOp::Add, SqlType::DateTime, SqlType::Int).unwrap(),
            SqlType::DateTime
        );
    }

    #[test]
    fn datetime_rounds_to_three_hundredths() {
        // .998 s is tick 299.4 of the second: .997 s; .999 s rounds up into the next day.
        let v = dt("2024-01-01 23:59:59") + Duration::microseconds(998_000);
        assert_eq!(datetime_parts(&v).1, 300 * 86_400 - 1);
        let v = dt("2024-01-01 23:59:59") + Duration::microseconds(999_000);
        assert_eq!(
            datetime_parts(&v),
            (datetime_parts(&dt("2024-01-02 00:00:00")).0, 0)
        );
    }

    #[test]
    fn strings_compare_case_and_trailing_space_insensitively() {
        assert!(eq_ci("BARRA", "barra  "));
        assert_eq!(cmp_ci("abc", "ABD"), Ordering::Less);
        for b in 0u8..0x80 {
            let word = u64::from_le_bytes([b, b'Q', b'@', b'[', b'a', b'Z', b'`', b'{']);
            let want = u64::from_le_bytes(
                [b, b'Q', b'@', b'[', b'a', b'Z', b'`', b'{'].map(|c| c.to_ascii_lowercase()),
            );
            assert_eq!(ascii_lowercase_word(word), want, "byte {b:#x}");
        }
        assert_eq!(cmp_ci("Ñandú", "ñANDÚ"), Ordering::Equal);
        assert_eq!(
            hash_value(&Value::Str("Barra ".into())),
            hash_value(&Value::Str("BARRA".into()))
        );
        assert_eq!(
            hash_value(&Value::Int(17)),
            hash_value(&Value::Decimal(Decimal::new(1700, 2)))
        );
    }

    #[test]
    fn string_compared_with_int_converts_or_fails_with_245() {
        let ord = compare(&Value::Str("000017".into()), &Value::Int(17)).unwrap();
        assert_eq!(ord, Some(Ordering::Equal));
        let e = compare(&Value::Str("CB".into()), &Value::Int(17)).unwrap_err();
        assert_eq!(e.number, 245);
        assert!(e.message.contains("'CB'"), "{}", e.message);
    }

    #[test]
    fn decimal_casts_round_and_check_precision() {
        let v = cast(Value::Float(2.675), SqlType::Float, SqlType::decimal(18, 2)).unwrap();
        assert_eq!(v, Value::Decimal(Decimal::new(268, 2)));
        let e = cast(Value::Int(12345), SqlType::Int, SqlType::decimal(4, 1)).unwrap_err();
        assert_eq!(e.number, 8115);
        let e = cast(
            Value::Str("abc".into()),
            SqlType::NVarChar(Some(3)),
            SqlType::decimal(4, 1),
        )
        .unwrap_err();
        assert_eq!(e.number, 8114);
    }

    #[test]
    fn type_names_parse() {
        assert_eq!(
            parse_type_name("nvarchar(4000)").unwrap(),
            SqlType::NVarChar(Some(4000))
        );
        assert_eq!(
            parse_type_name("NVARCHAR(MAX)").unwrap(),
            SqlType::NVarChar(None)
        );
        assert_eq!(
            parse_type_name("numeric(28,4)").unwrap(),
            SqlType::decimal(28, 4)
        );
        assert_eq!(parse_type_name("float(53)").unwrap(), SqlType::Float);
        assert_eq!(parse_type_name("float(24)").unwrap(), SqlType::Real);
        assert_eq!(parse_type_name("datetime2").unwrap(), SqlType::DateTime2(7));
        assert_eq!(
            parse_type_name("DATETIME2(3)").unwrap(),
            SqlType::DateTime2(3)
        );
        assert_eq!(parse_type_name("bigint").unwrap(), SqlType::BigInt);
        assert_eq!(parse_type_name("foo").unwrap_err().number, 243);
    }

    #[test]
    fn like_patterns() {
        assert!(like("ARROZ BLANCO 1KG", "%arroz%", None));
        assert!(like("ARROZ", "AR_OZ", None));
        assert!(like("B12", "[A-C]1%", None));
        assert!(!like("D12", "[A-C]1%", None));
        assert!(like("D12", "[^A-C]1%", None));
        assert!(like("50%", "50!%", Some('!')));
        assert!(!like("ARROZ", "ARROZ_", None));
    }

    #[test]
    fn datetime_text_uses_style_zero() {
        let s = to_text(
            &Value::DateTime(dt("2024-01-05 14:07:00")),
            SqlType::DateTime,
        );
        assert_eq!(s, "Jan  5 2024  2:07PM");
        let s = to_text(
            &Value::DateTime(dt("2024-01-05 14:07:00")),
            SqlType::DateTime2(3),
        );
        assert_eq!(s, "2024-01-05 14:07:00.000");
    }
}
