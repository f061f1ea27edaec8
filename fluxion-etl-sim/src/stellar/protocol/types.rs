//! TDS type information and values: what COLMETADATA announces, how ROW values are written, and how
//! RPC parameters (TYPE_INFO + value, the same layout as a column) are read.

use std::borrow::Cow;
use std::io;

use chrono::{Duration, NaiveDate, NaiveTime, Timelike};
use rust_decimal::Decimal;

use super::tokens::COLLATION;
use crate::stellar::sql::error::SqlError;
use crate::stellar::sql::value::{self, cast, SqlType, Value};

/// Wire type bytes.
mod wire {
    pub const NULL: u8 = 0x1F;
    pub const INT1: u8 = 0x30;
    pub const BIT: u8 = 0x32;
    pub const INT2: u8 = 0x34;
    pub const INT4: u8 = 0x38;
    pub const DATETIM4: u8 = 0x3A;
    pub const FLT4: u8 = 0x3B;
    pub const MONEY: u8 = 0x3C;
    pub const DATETIME: u8 = 0x3D;
    pub const FLT8: u8 = 0x3E;
    pub const MONEY4: u8 = 0x7A;
    pub const INT8: u8 = 0x7F;
    pub const GUID: u8 = 0x24;
    pub const INTN: u8 = 0x26;
    pub const DECIMAL: u8 = 0x37;
    pub const NUMERIC: u8 = 0x3F;
    pub const BITN: u8 = 0x68;
    pub const DECIMALN: u8 = 0x6A;
    pub const NUMERICN: u8 = 0x6C;
    pub const FLTN: u8 = 0x6D;
    pub const MONEYN: u8 = 0x6E;
    pub const DATETIMN: u8 = 0x6F;
    pub const DATEN: u8 = 0x28;
    pub const TIMEN: u8 = 0x29;
    pub const DATETIME2N: u8 = 0x2A;
    pub const DATETIMEOFFSETN: u8 = 0x2B;
    pub const BIGVARBIN: u8 = 0xA5;
    pub const BIGVARCHR: u8 = 0xA7;
    pub const BIGBINARY: u8 = 0xAD;
    pub const BIGCHAR: u8 = 0xAF;
    pub const NVARCHAR: u8 = 0xE7;
    pub const NCHAR: u8 = 0xEF;
    pub const TEXT: u8 = 0x23;
    pub const IMAGE: u8 = 0x22;
    pub const NTEXT: u8 = 0x63;
}

/// Bytes of a DECIMAL value (sign included) for a precision.
pub(crate) fn decimal_len(precision: u8) -> u8 {
    match precision {
        0..=9 => 5,
        10..=19 => 9,
        20..=28 => 13,
        _ => 17,
    }
}

/// Bytes of a TIME part for a scale.
fn time_len(scale: u8) -> u8 {
    match scale {
        0..=2 => 3,
        3..=4 => 4,
        _ => 5,
    }
}

/// Writes the TYPE_INFO of a column type.
pub(crate) fn put_type_info(buf: &mut Vec<u8>, ty: SqlType) {
    match ty {
        SqlType::Bit => buf.extend_from_slice(&[wire::BITN, 1]),
        SqlType::TinyInt => buf.extend_from_slice(&[wire::INTN, 1]),
        SqlType::SmallInt => buf.extend_from_slice(&[wire::INTN, 2]),
        SqlType::Int => buf.extend_from_slice(&[wire::INTN, 4]),
        SqlType::BigInt => buf.extend_from_slice(&[wire::INTN, 8]),
        SqlType::Real => buf.extend_from_slice(&[wire::FLTN, 4]),
        SqlType::Float => buf.extend_from_slice(&[wire::FLTN, 8]),
        SqlType::Decimal { precision, scale } => {
            buf.extend_from_slice(&[wire::DECIMALN, decimal_len(precision), precision, scale])
        }
        SqlType::NVarChar(n) => {
            buf.push(wire::NVARCHAR);
            let max = match n {
                Some(n) => n.saturating_mul(2),
                None => 0xFFFF,
            };
            buf.extend_from_slice(&max.to_le_bytes());
            buf.extend_from_slice(&COLLATION);
        }
        SqlType::Date => buf.push(wire::DATEN),
        SqlType::Time(s) => buf.extend_from_slice(&[wire::TIMEN, s]),
        SqlType::DateTime => buf.extend_from_slice(&[wire::DATETIMN, 8]),
        SqlType::DateTime2(s) => buf.extend_from_slice(&[wire::DATETIME2N, s]),
        SqlType::DateTimeOffset(s) => buf.extend_from_slice(&[wire::DATETIMEOFFSETN, s]),
    }
}

fn days_since_year_one(d: NaiveDate) -> u32 {
    (i64::from(chrono::Datelike::num_days_from_ce(&d)) - 1).max(0) as u32
}

fn put_time(buf: &mut Vec<u8>, t: NaiveTime, scale: u8) {
    let nanos = u64::from(t.num_seconds_from_midnight()) * 1_000_000_000
        + u64::from(t.nanosecond() % 1_000_000_000);
    let units = nanos / 10u64.pow(9 - u32::from(scale.min(7)));
    let n = usize::from(time_len(scale));
    buf.extend_from_slice(&units.to_le_bytes()[..n]);
}

fn put_date(buf: &mut Vec<u8>, d: NaiveDate) {
    buf.extend_from_slice(&days_since_year_one(d).to_le_bytes()[..3]);
}

/// Writes a ROW value of a column of type `ty`, converting the value if its kind differs.
pub(crate) fn put_value(buf: &mut Vec<u8>, ty: SqlType, v: Value<'_>) -> Result<(), SqlError> {
    match (ty, v) {
        (SqlType::NVarChar(Some(_)), Value::Null) => buf.extend_from_slice(&[0xFF, 0xFF]),
        (SqlType::NVarChar(None), Value::Null) => buf.extend_from_slice(&u64::MAX.to_le_bytes()),
        (_, Value::Null) => buf.push(0),
        (SqlType::NVarChar(max), Value::Str(s)) => put_nvarchar(buf, &s, max),
        (SqlType::Bit, Value::Bit(b)) => buf.extend_from_slice(&[1, u8::from(b)]),
        (SqlType::TinyInt, Value::Int(i)) => buf.extend_from_slice(&[1, i as u8]),
        (SqlType::SmallInt, Value::Int(i)) => {
            buf.push(2);
            buf.extend_from_slice(&(i as i16).to_le_bytes());
        }
        (SqlType::Int, Value::Int(i)) => {
            buf.push(4);
            buf.extend_from_slice(&(i as i32).to_le_bytes());
        }
        (SqlType::BigInt, Value::Int(i)) => {
            buf.push(8);
            buf.extend_from_slice(&i.to_le_bytes());
        }
        (SqlType::Real, Value::Float(f)) => {
            buf.push(4);
            buf.extend_from_slice(&(f as f32).to_le_bytes());
        }
        (SqlType::Float, Value::Float(f)) => {
            buf.push(8);
            buf.extend_from_slice(&f.to_le_bytes());
        }
        (SqlType::Decimal { precision, scale }, Value::Decimal(d)) => {
            put_decimal(buf, d, precision, scale)?
        }
        (SqlType::Date, Value::Date(d)) => {
            buf.push(3);
            put_date(buf, d);
        }
        (SqlType::Time(s), Value::Time(t)) => {
            buf.push(time_len(s));
            put_time(buf, t, s);
        }
        (SqlType::DateTime, Value::DateTime(dt)) => {
            let (days, ticks) = value::datetime_parts(&dt);
            buf.push(8);
            buf.extend_from_slice(&days.to_le_bytes());
            buf.extend_from_slice(&ticks.to_le_bytes());
        }
        (SqlType::DateTime2(s), Value::DateTime(dt)) => {
            let dt = value::round_fraction(dt, s);
            buf.push(time_len(s) + 3);
            put_time(buf, dt.time(), s);
            put_date(buf, dt.date());
        }
        (SqlType::DateTimeOffset(s), Value::DateTimeOffset(dt, offset)) => {
            let utc = value::round_fraction(dt, s) - Duration::minutes(i64::from(offset));
            buf.push(time_len(s) + 5);
            put_time(buf, utc.time(), s);
            put_date(buf, utc.date());
            buf.extend_from_slice(&offset.to_le_bytes());
        }
        (ty, other) => {
            // A value of another kind (e.g. an int literal in a DECIMAL column): convert, then write.
            let from = other.natural_type();
            let converted = cast(other, from, ty)?;
            return put_value_converted(buf, ty, converted);
        }
    }
    Ok(())
}

fn put_value_converted(buf: &mut Vec<u8>, ty: SqlType, v: Value<'_>) -> Result<(), SqlError> {
    let matches = matches!(
        (ty, &v),
        (_, Value::Null)
            | (SqlType::NVarChar(_), Value::Str(_))
            | (SqlType::Bit, Value::Bit(_))
            | (
                SqlType::TinyInt | SqlType::SmallInt | SqlType::Int | SqlType::BigInt,
                Value::Int(_)
            )
            | (SqlType::Real | SqlType::Float, Value::Float(_))
            | (SqlType::Decimal { .. }, Value::Decimal(_))
            | (SqlType::Date, Value::Date(_))
            | (SqlType::Time(_), Value::Time(_))
            | (
                SqlType::DateTime | SqlType::DateTime2(_),
                Value::DateTime(_)
            )
            | (SqlType::DateTimeOffset(_), Value::DateTimeOffset(..))
    );
    if !matches {
        return Err(SqlError::conversion_not_allowed(
            v.natural_type().name(),
            ty.name(),
        ));
    }
    put_value(buf, ty, v)
}

fn put_nvarchar(buf: &mut Vec<u8>, s: &str, max: Option<u16>) {
    let limit = max.map_or(usize::MAX, usize::from);
    let Some(_) = max else {
        // NVARCHAR(MAX): PLP with one chunk.
        let start = buf.len();
        buf.extend_from_slice(&[0u8; 12]);
        let n = put_utf16(buf, s, usize::MAX);
        let bytes = (n * 2) as u64;
        buf[start..start + 8].copy_from_slice(&bytes.to_le_bytes());
        buf[start + 8..start + 12].copy_from_slice(&(bytes as u32).to_le_bytes());
        if bytes == 0 {
            // An empty value has no chunk: drop the chunk length, keep the terminator below.
            buf.truncate(start + 8);
        }
        buf.extend_from_slice(&0u32.to_le_bytes());
        return;
    };
    let start = buf.len();
    buf.extend_from_slice(&[0, 0]);
    let n = put_utf16(buf, s, limit);
    let bytes = (n * 2) as u16;
    buf[start..start + 2].copy_from_slice(&bytes.to_le_bytes());
}

/// Appends UTF-16LE code units of `s`, at most `limit` of them; returns how many.
fn put_utf16(buf: &mut Vec<u8>, s: &str, limit: usize) -> usize {
    // One pass for ASCII (every generated value): widen bytes in place, fall back on the first
    // non-ASCII byte.
    let bytes = s.as_bytes();
    let take = bytes.len().min(limit);
    let start = buf.len();
    buf.resize(start + take * 2, 0);
    let mut ascii = true;
    for (pair, &b) in buf[start..].chunks_exact_mut(2).zip(&bytes[..take]) {
        if b >= 0x80 {
            ascii = false;
            break;
        }
        pair[0] = b;
    }
    if ascii {
        return take;
    }
    buf.truncate(start);
    let mut n = 0;
    for c in s.chars() {
        let mut units = [0u16; 2];
        let units = c.encode_utf16(&mut units);
        if n + units.len() > limit {
            break;
        }
        for u in units.iter() {
            buf.extend_from_slice(&u.to_le_bytes());
        }
        n += units.len();
    }
    n
}

fn put_decimal(buf: &mut Vec<u8>, d: Decimal, precision: u8, scale: u8) -> Result<(), SqlError> {
    let mut d = d;
    if d.scale() != u32::from(scale) {
        d = d.round_dp_with_strategy(
            u32::from(scale),
            rust_decimal::RoundingStrategy::MidpointAwayFromZero,
        );
        d.rescale(u32::from(scale));
    }
    if !value::fits_precision(&d, precision, scale) {
        return Err(SqlError::overflow_numeric("numeric"));
    }
    let len = decimal_len(precision);
    buf.push(len);
    buf.push(u8::from(!d.is_sign_negative() || d.is_zero()));
    let magnitude = d.mantissa().unsigned_abs();
    buf.extend_from_slice(&magnitude.to_le_bytes()[..usize::from(len - 1)]);
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// Reading

/// A cursor over a client message.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

pub(crate) fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data, pos: 0 }
    }
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }
    pub fn skip(&mut self, n: usize) -> io::Result<()> {
        self.bytes(n).map(|_| ())
    }
    pub fn bytes(&mut self, n: usize) -> io::Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(bad(format!(
                "truncated TDS message: wanted {n} bytes at offset {}",
                self.pos
            )));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }
    pub fn u8(&mut self) -> io::Result<u8> {
        Ok(self.bytes(1)?[0])
    }
    pub fn u16(&mut self) -> io::Result<u16> {
        let b = self.bytes(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    pub fn u32(&mut self) -> io::Result<u32> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn u64(&mut self) -> io::Result<u64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    /// `chars` UTF-16LE code units as a string.
    pub fn utf16(&mut self, chars: usize) -> io::Result<String> {
        let b = self.bytes(chars * 2)?;
        Ok(utf16_to_string(b))
    }
    pub fn b_varchar(&mut self) -> io::Result<String> {
        let n = usize::from(self.u8()?);
        self.utf16(n)
    }
}

/// Decodes UTF-16LE bytes (unpaired surrogates become U+FFFD).
pub(crate) fn utf16_to_string(b: &[u8]) -> String {
    let units = b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
    char::decode_utf16(units)
        .map(|r| r.unwrap_or('\u{FFFD}'))
        .collect()
}

/// Windows-1252 bytes (VARCHAR in the default collation) to a string.
fn cp1252_to_string(b: &[u8]) -> String {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž',
        '\u{8F}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}',
        'ž', 'Ÿ',
    ];
    b.iter()
        .map(|&c| match c {
            0x80..=0x9F => HIGH[usize::from(c - 0x80)],
            _ => char::from(c),
        })
        .collect()
}

/// A parameter's declared wire type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParamType {
    wire: u8,
    len: u32,
    scale: u8,
    /// The SQL type the value has.
    pub ty: SqlType,
}

/// Why a parameter could not be read.
#[derive(Debug)]
pub(crate) enum ParamError {
    /// Malformed bytes: the connection cannot continue.
    Protocol(io::Error),
    /// A type the simulator does not model: answered with an ERROR token.
    Sql(SqlError),
}

impl From<io::Error> for ParamError {
    fn from(e: io::Error) -> Self {
        ParamError::Protocol(e)
    }
}

/// Reads a TYPE_INFO.
pub(crate) fn read_type_info(r: &mut Reader<'_>) -> Result<ParamType, ParamError> {
    let w = r.u8()?;
    let fixed = |len: u32, ty: SqlType| ParamType {
        wire: w,
        len,
        scale: 0,
        ty,
    };
    let t = match w {
        wire::NULL => fixed(0, SqlType::Int),
        wire::INT1 => fixed(1, SqlType::TinyInt),
        wire::BIT => fixed(1, SqlType::Bit),
        wire::INT2 => fixed(2, SqlType::SmallInt),
        wire::INT4 => fixed(4, SqlType::Int),
        wire::INT8 => fixed(8, SqlType::BigInt),
        wire::FLT4 => fixed(4, SqlType::Real),
        wire::FLT8 => fixed(8, SqlType::Float),
        wire::DATETIME => fixed(8, SqlType::DateTime),
        wire::DATETIM4 => fixed(4, SqlType::DateTime),
        wire::MONEY => fixed(8, SqlType::decimal(19, 4)),
        wire::MONEY4 => fixed(4, SqlType::decimal(10, 4)),
        wire::INTN | wire::BITN | wire::FLTN | wire::DATETIMN | wire::MONEYN | wire::GUID => {
            let len = u32::from(r.u8()?);
            let ty = match (w, len) {
                (wire::INTN, 1) => SqlType::TinyInt,
                (wire::INTN, 2) => SqlType::SmallInt,
                (wire::INTN, 4) => SqlType::Int,
                (wire::INTN, _) => SqlType::BigInt,
                (wire::BITN, _) => SqlType::Bit,
                (wire::FLTN, 4) => SqlType::Real,
                (wire::FLTN, _) => SqlType::Float,
                (wire::DATETIMN, _) => SqlType::DateTime,
                (wire::MONEYN, 4) => SqlType::decimal(10, 4),
                (wire::MONEYN, _) => SqlType::decimal(19, 4),
                _ => SqlType::NVarChar(Some(36)),
            };
            ParamType {
                wire: w,
                len,
                scale: 0,
                ty,
            }
        }
        wire::DECIMALN | wire::NUMERICN | wire::DECIMAL | wire::NUMERIC => {
            let len = u32::from(r.u8()?);
            let precision = r.u8()?;
            let scale = r.u8()?;
            ParamType {
                wire: w,
                len,
                scale,
                ty: SqlType::decimal(precision.max(1), scale),
            }
        }
        wire::DATEN => fixed(3, SqlType::Date),
        wire::TIMEN | wire::DATETIME2N | wire::DATETIMEOFFSETN => {
            let scale = r.u8()?;
            if scale > 7 {
                return Err(ParamError::Protocol(bad(format!(
                    "invalid time scale {scale}"
                ))));
            }
            let ty = match w {
                wire::TIMEN => SqlType::Time(scale),
                wire::DATETIME2N => SqlType::DateTime2(scale),
                _ => SqlType::DateTimeOffset(scale),
            };
            ParamType {
                wire: w,
                len: 0,
                scale,
                ty,
            }
        }
        wire::NVARCHAR | wire::NCHAR | wire::BIGVARCHR | wire::BIGCHAR => {
            let len = u32::from(r.u16()?);
            r.skip(5)?; // collation
            let chars = if len == 0xFFFF {
                None
            } else if w == wire::NVARCHAR || w == wire::NCHAR {
                Some(len / 2)
            } else {
                Some(len)
            };
            let ty = match chars {
                Some(n) => SqlType::nvarchar_for(n as usize),
                None => SqlType::NVarChar(None),
            };
            ParamType {
                wire: w,
                len,
                scale: 0,
                ty,
            }
        }
        wire::BIGVARBIN | wire::BIGBINARY => {
            let _ = r.u16()?;
            return Err(ParamError::Sql(SqlError::not_modelled("binary parameters")));
        }
        wire::NTEXT | wire::TEXT => {
            let len = r.u32()?;
            r.skip(5)?;
            ParamType {
                wire: w,
                len,
                scale: 0,
                ty: SqlType::NVarChar(None),
            }
        }
        wire::IMAGE => return Err(ParamError::Sql(SqlError::not_modelled("binary parameters"))),
        other => {
            return Err(ParamError::Sql(SqlError::not_modelled(&format!(
                "parameters of TDS type {other:#04x}"
            ))))
        }
    };
    Ok(t)
}

fn read_plp(r: &mut Reader<'_>) -> io::Result<Option<Vec<u8>>> {
    let total = r.u64()?;
    if total == u64::MAX {
        return Ok(None);
    }
    let mut out = Vec::new();
    loop {
        let n = r.u32()? as usize;
        if n == 0 {
            break;
        }
        out.extend_from_slice(r.bytes(n)?);
    }
    Ok(Some(out))
}

fn le_int(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a[..b.len()].copy_from_slice(b);
    let v = u64::from_le_bytes(a);
    let bits = b.len() * 8;
    if bits == 0 || bits >= 64 {
        v as i64
    } else if b.len() == 1 {
        // TINYINT is unsigned.
        v as i64
    } else {
        let shift = 64 - bits;
        ((v << shift) as i64) >> shift
    }
}

fn read_time(b: &[u8], scale: u8) -> NaiveTime {
    let mut a = [0u8; 8];
    a[..b.len()].copy_from_slice(b);
    let units = u64::from_le_bytes(a);
    let nanos = units * 10u64.pow(9 - u32::from(scale.min(7)));
    let secs = (nanos / 1_000_000_000) as u32;
    NaiveTime::from_num_seconds_from_midnight_opt(secs.min(86_399), (nanos % 1_000_000_000) as u32)
        .unwrap_or(NaiveTime::MIN)
}

fn read_date(b: &[u8]) -> NaiveDate {
    let days = u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16;
    value::date_zero() + Duration::days(i64::from(days))
}

/// Reads a parameter value of a TYPE_INFO.
pub(crate) fn read_value(r: &mut Reader<'_>, t: &ParamType) -> Result<Value<'static>, ParamError> {
    let v = match t.wire {
        wire::NULL => Value::Null,
        wire::INT1
        | wire::BIT
        | wire::INT2
        | wire::INT4
        | wire::INT8
        | wire::FLT4
        | wire::FLT8
        | wire::DATETIME
        | wire::DATETIM4
        | wire::MONEY
        | wire::MONEY4 => {
            let b = r.bytes(t.len as usize)?;
            fixed_value(t.wire, b)
        }
        wire::INTN | wire::BITN | wire::FLTN | wire::DATETIMN | wire::MONEYN | wire::GUID => {
            let n = usize::from(r.u8()?);
            if n == 0 {
                Value::Null
            } else {
                let b = r.bytes(n)?;
                match t.wire {
                    wire::INTN => fixed_value(
                        match n {
                            1 => wire::INT1,
                            2 => wire::INT2,
                            4 => wire::INT4,
                            _ => wire::INT8,
                        },
                        b,
                    ),
                    wire::BITN => fixed_value(wire::BIT, b),
                    wire::FLTN => fixed_value(if n == 4 { wire::FLT4 } else { wire::FLT8 }, b),
                    wire::DATETIMN => fixed_value(
                        if n == 4 {
                            wire::DATETIM4
                        } else {
                            wire::DATETIME
                        },
                        b,
                    ),
                    wire::MONEYN => fixed_value(if n == 4 { wire::MONEY4 } else { wire::MONEY }, b),
                    _ => Value::Str(Cow::Owned(guid_text(b))),
                }
            }
        }
        wire::DECIMALN | wire::NUMERICN | wire::DECIMAL | wire::NUMERIC => {
            let n = usize::from(r.u8()?);
            if n == 0 {
                Value::Null
            } else {
                let b = r.bytes(n)?;
                let positive = b[0] == 1;
                let mut mag = [0u8; 16];
                let m = &b[1..];
                mag[..m.len().min(16)].copy_from_slice(&m[..m.len().min(16)]);
                let magnitude = u128::from_le_bytes(mag);
                let signed = i128::try_from(magnitude)
                    .map_err(|_| ParamError::Sql(SqlError::overflow_numeric("numeric")))?;
                let signed = if positive { signed } else { -signed };
                let d = Decimal::try_from_i128_with_scale(signed, u32::from(t.scale.min(28)))
                    .map_err(|_| ParamError::Sql(SqlError::overflow_numeric("numeric")))?;
                Value::Decimal(d)
            }
        }
        wire::DATEN => {
            let n = usize::from(r.u8()?);
            if n == 0 {
                Value::Null
            } else {
                Value::Date(read_date(r.bytes(3)?))
            }
        }
        wire::TIMEN | wire::DATETIME2N | wire::DATETIMEOFFSETN => {
            let n = usize::from(r.u8()?);
            if n == 0 {
                Value::Null
            } else {
                let tl = usize::from(time_len(t.scale));
                let b = r.bytes(n)?;
                if b.len() < tl {
                    return Err(ParamError::Protocol(bad("short time value")));
                }
                let time = read_time(&b[..tl], t.scale);
                match t.wire {
                    wire::TIMEN => Value::Time(time),
                    _ => {
                        if b.len() < tl + 3 {
                            return Err(ParamError::Protocol(bad("short datetime2 value")));
                        }
                        let dt = read_date(&b[tl..tl + 3]).and_time(time);
                        if t.wire == wire::DATETIME2N {
                            Value::DateTime(dt)
                        } else {
                            let off = if b.len() >= tl + 5 {
                                i16::from_le_bytes([b[tl + 3], b[tl + 4]])
                            } else {
                                0
                            };
                            Value::DateTimeOffset(dt + Duration::minutes(i64::from(off)), off)
                        }
                    }
                }
            }
        }
        wire::NVARCHAR | wire::NCHAR | wire::BIGVARCHR | wire::BIGCHAR => {
            let bytes = if t.len == 0xFFFF {
                read_plp(r)?
            } else {
                let n = r.u16()?;
                if n == 0xFFFF {
                    None
                } else {
                    Some(r.bytes(usize::from(n))?.to_vec())
                }
            };
            match bytes {
                None => Value::Null,
                Some(b) if t.wire == wire::NVARCHAR || t.wire == wire::NCHAR => {
                    Value::Str(Cow::Owned(utf16_to_string(&b)))
                }
                Some(b) => Value::Str(Cow::Owned(cp1252_to_string(&b))),
            }
        }
        wire::NTEXT | wire::TEXT => {
            let ptr = usize::from(r.u8()?);
            if ptr == 0 {
                Value::Null
            } else {
                r.skip(ptr + 8)?;
                let n = r.u32()? as usize;
                let b = r.bytes(n)?;
                Value::Str(Cow::Owned(if t.wire == wire::NTEXT {
                    utf16_to_string(b)
                } else {
                    cp1252_to_string(b)
                }))
            }
        }
        _ => {
            return Err(ParamError::Sql(SqlError::not_modelled(
                "this parameter type",
            )))
        }
    };
    Ok(v)
}

fn fixed_value(w: u8, b: &[u8]) -> Value<'static> {
    match w {
        wire::INT1 => Value::Int(i64::from(b[0])),
        wire::BIT => Value::Bit(b[0] != 0),
        wire::INT2 | wire::INT4 | wire::INT8 => Value::Int(le_int(b)),
        wire::FLT4 => Value::Float(f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
        wire::FLT8 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[..8]);
            Value::Float(f64::from_le_bytes(a))
        }
        wire::DATETIME => {
            let days = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            let ticks = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
            Value::DateTime(value::datetime_from_parts(days, ticks))
        }
        wire::DATETIM4 => {
            let days = u16::from_le_bytes([b[0], b[1]]);
            let minutes = u16::from_le_bytes([b[2], b[3]]);
            Value::DateTime(
                value::datetime_zero()
                    + Duration::days(i64::from(days))
                    + Duration::minutes(i64::from(minutes)),
            )
        }
        wire::MONEY => {
            let high = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            let low = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
            let v = (i64::from(high) << 32) | i64::from(low);
            Value::Decimal(Decimal::new(v, 4))
        }
        wire::MONEY4 => Value::Decimal(Decimal::new(
            i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            4,
        )),
        _ => Value::Null,
    }
}

fn guid_text(b: &[u8]) -> String {
    if b.len() != 16 {
        return String::new();
    }
    format!(
        "{:02X}{:02X}{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(ty: SqlType, v: Value<'static>) -> Value<'static> {
        let mut info = Vec::new();
        put_type_info(&mut info, ty);
        put_value(&mut info, ty, v).unwrap();
        let mut r = Reader::new(&info);
        let t = read_type_info(&mut r).map_err(|_| ()).unwrap();
        let v = read_value(&mut r, &t).map_err(|_| ()).unwrap();
        assert_eq!(r.remaining(), 0);
        v
    }

    #[test]
    fn values_round_trip_through_type_info() {
        let dt = NaiveDate::from_ymd_opt(2024, 3, 15)
            .unwrap()
            .and_hms_opt(10, 30, 15)
            .unwrap();
        assert_eq!(roundtrip(SqlType::Int, Value::Int(-7)), Value::Int(-7));
        assert_eq!(
            roundtrip(SqlType::BigInt, Value::Int(1 << 40)),
            Value::Int(1 << 40)
        );
        assert_eq!(roundtrip(SqlType::Bit, Value::Bit(true)), Value::Bit(true));
        assert_eq!(
            roundtrip(SqlType::Float, Value::Float(-1.25)),
            Value::Float(-1.25)
        );
        assert_eq!(
            roundtrip(
                SqlType::decimal(18, 2),
                Value::Decimal(Decimal::new(-12345, 2))
            ),
            Value::Decimal(Decimal::new(-12345, 2))
        );
        assert_eq!(
            roundtrip(SqlType::decimal(18, 4), Value::Decimal(Decimal::new(5, 1))),
            Value::Decimal(Decimal::new(5000, 4))
        );
        assert_eq!(
            roundtrip(SqlType::NVarChar(Some(20)), Value::Str("MAÑONGO".into())),
            Value::Str("MAÑONGO".into())
        );
        assert_eq!(
            roundtrip(SqlType::NVarChar(None), Value::Str("x".repeat(5000).into())),
            Value::Str("x".repeat(5000).into())
        );
        assert_eq!(
            roundtrip(SqlType::NVarChar(None), Value::Str("".into())),
            Value::Str("".into())
        );
        assert_eq!(
            roundtrip(SqlType::NVarChar(Some(3)), Value::Null),
            Value::Null
        );
        assert_eq!(
            roundtrip(SqlType::DateTime, Value::DateTime(dt)),
            Value::DateTime(dt)
        );
        assert_eq!(
            roundtrip(SqlType::DateTime2(7), Value::DateTime(dt)),
            Value::DateTime(dt)
        );
        assert_eq!(
            roundtrip(SqlType::Date, Value::Date(dt.date())),
            Value::Date(dt.date())
        );
        assert_eq!(
            roundtrip(SqlType::Time(3), Value::Time(dt.time())),
            Value::Time(dt.time())
        );
        assert_eq!(
            roundtrip(SqlType::DateTimeOffset(7), Value::DateTimeOffset(dt, -240)),
            Value::DateTimeOffset(dt, -240)
        );
    }

    #[test]
    fn nvarchar_values_are_cut_at_the_declared_length() {
        assert_eq!(
            roundtrip(SqlType::NVarChar(Some(3)), Value::Str("ABCDEF".into())),
            Value::Str("ABC".into())
        );
    }

    #[test]
    fn decimal_overflow_is_8115() {
        let mut b = Vec::new();
        let e = put_value(
            &mut b,
            SqlType::decimal(4, 2),
            Value::Decimal(Decimal::new(123_456, 2)),
        )
        .unwrap_err();
        assert_eq!(e.number, 8115);
    }
}
