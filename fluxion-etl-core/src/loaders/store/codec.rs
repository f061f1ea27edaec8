//! How each backend keeps the values whose encoding differs: timestamps, JSON, integer widths
//! and two-decimal quantities. Everything else (text, booleans, 64-bit integers, days) sqlx
//! encodes alike for both.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::postgres::{PgQueryResult, PgRow};
use sqlx::sqlite::{SqliteQueryResult, SqliteRow};
use sqlx::types::Json;
use sqlx::{Database, Encode, Postgres, Row, Sqlite, Type, TypeInfo, ValueRef};

use super::decode_error;
use crate::loaders::rows::{format_ts, parse_ts};

/// A backend's encoding of the values that differ (see the module's documentation).
pub(crate) trait Codec: Database {
    /// What a (nullable) timestamp is bound as.
    type Ts: for<'q> Encode<'q, Self> + Type<Self> + Send + 'static;
    /// What a (nullable) JSON document is bound as.
    type Json: for<'q> Encode<'q, Self> + Type<Self> + Send + 'static;

    /// A timestamp to bind.
    fn encode_ts(at: Option<DateTime<Utc>>) -> Self::Ts;
    /// A JSON document to bind.
    fn encode_json(doc: Option<serde_json::Value>) -> Self::Json;
    /// A quantity to bind into a `DECIMAL(10,2)` column (seed 003's durations and latencies).
    fn encode_real(x: f64) -> f64;
    /// A timestamp column.
    fn ts(row: &Self::Row, col: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error>;
    /// An integer column, whatever its width.
    fn int(row: &Self::Row, col: &str) -> Result<Option<i64>, sqlx::Error>;
    /// A `DECIMAL(10,2)` (or floating-point) column.
    fn real(row: &Self::Row, col: &str) -> Result<Option<f64>, sqlx::Error>;
    /// A JSON column.
    fn json(row: &Self::Row, col: &str) -> Result<Option<serde_json::Value>, sqlx::Error>;
    /// How many rows a statement affected.
    fn rows_affected(done: &Self::QueryResult) -> u64;
}

/// SQLite: timestamps are [`format_ts`] text, JSON is text, every integer is 64 bits and
/// `REAL` keeps every digit, so two-decimal quantities are rounded here as PostgreSQL's
/// `DECIMAL(10,2)` rounds them.
impl Codec for Sqlite {
    type Ts = Option<String>;
    type Json = Option<String>;

    fn encode_ts(at: Option<DateTime<Utc>>) -> Option<String> {
        at.map(format_ts)
    }

    fn encode_json(doc: Option<serde_json::Value>) -> Option<String> {
        doc.map(|d| d.to_string())
    }

    fn encode_real(x: f64) -> f64 {
        (x * 100.0).round() / 100.0
    }

    fn ts(row: &SqliteRow, col: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        row.try_get::<Option<String>, _>(col)?
            .map(|text| {
                parse_ts(&text)
                    .ok_or_else(|| decode_error(col, format!("`{text}` is not a timestamp")))
            })
            .transpose()
    }

    fn int(row: &SqliteRow, col: &str) -> Result<Option<i64>, sqlx::Error> {
        row.try_get(col)
    }

    fn real(row: &SqliteRow, col: &str) -> Result<Option<f64>, sqlx::Error> {
        row.try_get(col)
    }

    fn json(row: &SqliteRow, col: &str) -> Result<Option<serde_json::Value>, sqlx::Error> {
        row.try_get::<Option<String>, _>(col)?
            .map(|text| serde_json::from_str(&text).map_err(|e| decode_error(col, e)))
            .transpose()
    }

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }
}

/// PostgreSQL: `timestamptz`, `jsonb`, seed 003's `INTEGER` (4-byte) and `DECIMAL(10,2)`
/// columns beside `BIGINT` ones; a quantity is bound as it is and the column rounds it.
impl Codec for Postgres {
    type Ts = Option<DateTime<Utc>>;
    type Json = Option<Json<serde_json::Value>>;

    fn encode_ts(at: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        at
    }

    fn encode_json(doc: Option<serde_json::Value>) -> Option<Json<serde_json::Value>> {
        doc.map(Json)
    }

    fn encode_real(x: f64) -> f64 {
        x
    }

    fn ts(row: &PgRow, col: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        row.try_get(col)
    }

    fn int(row: &PgRow, col: &str) -> Result<Option<i64>, sqlx::Error> {
        match row.try_get_raw(col)?.type_info().name() {
            "INT2" => Ok(row.try_get::<Option<i16>, _>(col)?.map(i64::from)),
            "INT4" => Ok(row.try_get::<Option<i32>, _>(col)?.map(i64::from)),
            _ => row.try_get(col),
        }
    }

    fn real(row: &PgRow, col: &str) -> Result<Option<f64>, sqlx::Error> {
        if row.try_get_raw(col)?.type_info().name() != "NUMERIC" {
            return row.try_get(col);
        }
        // Through the decimal's text, as PostgreSQL's own `numeric::float8` does: the nearest
        // double to the stored value, so 0.1 stays 0.1.
        row.try_get::<Option<Decimal>, _>(col)?
            .map(|d| {
                d.to_string()
                    .parse::<f64>()
                    .map_err(|e| decode_error(col, e))
            })
            .transpose()
    }

    fn json(row: &PgRow, col: &str) -> Result<Option<serde_json::Value>, sqlx::Error> {
        row.try_get(col)
    }

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }
}
