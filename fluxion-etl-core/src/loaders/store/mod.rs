//! The SQL stores — [`TrackerStore`](crate::tracker::TrackerStore),
//! [`SchedulerStore`](crate::schedule::SchedulerStore) and [`GapStore`](crate::gaps::GapStore) —
//! written once for both destinations.
//!
//! Every statement is written once, with `$N` placeholders (sqlx's SQLite driver reads them as
//! PostgreSQL does). What really differs between the backends is confined to two small traits,
//! implemented once per backend:
//! - `Codec` (`codec.rs`): how a value is kept. A timestamp is fixed-width UTC text in SQLite
//!   (so that text order is time order) and `timestamptz` in PostgreSQL; JSON is text or `jsonb`;
//!   seed 003's `INTEGER` counters are 4 bytes wide in PostgreSQL; its `DECIMAL(10,2)` durations
//!   round on write in PostgreSQL and are rounded by hand for SQLite's `REAL`.
//! - `Dialect` (`dialect.rs`): the three SQL fragments that have no common spelling.
//!
//! Why this shape: the stores are generic over a sqlx [`Database`] that is a `Backend`. Rust
//! does not imply the bounds a trait states about *other* types (`i64: Encode<'_, DB>`,
//! `&mut DB::Connection: Executor<'_>`, …), so code generic over a plain `Database` would repeat
//! sqlx's bounds on every function. They are written once instead, on the blanket `impl Backend`
//! below, whose few methods — run a `Stmt`, read a column of one kind — are all the stores
//! need. (A `macro_rules!` stamping one implementation per backend would also work, but its body
//! is invisible to rustfmt and to the type checker until instantiated; the generic code is plain
//! Rust, checked once.)
//!
//! A statement is a `Stmt` — `stmt!("… $1 … $2"; a, b)`: SQL text plus `Arg`s of a handful of
//! kinds, which the backend binds through its codec. A row is read with `from_columns!(row =>
//! Type { field, … })`, each field through `Cells::get` into a `Column` type, the stored-text
//! enums included, so an unknown stored value is a decoding error that names the column and the
//! value (never a panic, never a default).
//!
//! [`SqlStore`] holds the pool and implements the three store traits; the loaders call
//! `insert_detail` inside the transaction that commits a store's data.

mod codec;
mod dialect;
mod gaps;
mod schedule;
mod tracker;

use std::borrow::Cow;
use std::convert::identity;

use chrono::{DateTime, NaiveDate, Utc};
use futures::future::BoxFuture;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

pub(crate) use tracker::{
    close_running_of, insert_detail, prune_inventory_history, running_owners, Owners,
};

pub(crate) use codec::Codec;
pub(crate) use dialect::Dialect;

use crate::model::StoreId;
use crate::stored::{StoredText, UnknownValue};

/// The stores of one destination over its pool: its
/// [`TrackerStore`](crate::tracker::TrackerStore), [`GapStore`](crate::gaps::GapStore) and
/// [`SchedulerStore`](crate::schedule::SchedulerStore), each implemented once for both backends
/// (`tracker.rs`, `gaps.rs`, `schedule.rs`).
#[derive(Debug)]
pub struct SqlStore<DB: Database> {
    pool: Pool<DB>,
    /// Recorded as the owner of the executions this store opens.
    owner: Option<std::sync::Arc<super::liveness::Owner>>,
}

impl<DB: Database> SqlStore<DB> {
    /// The stores over a migrated pool.
    pub fn new(pool: Pool<DB>) -> Self {
        Self { pool, owner: None }
    }

    /// The stores, recording `owner` as the owner of the executions they open.
    pub(crate) fn with_owner(
        mut self,
        owner: Option<std::sync::Arc<super::liveness::Owner>>,
    ) -> Self {
        self.owner = owner;
        self
    }
}

impl<DB: Database> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        Self::new(self.pool.clone()).with_owner(self.owner.clone())
    }
}

/// One value bound to a statement, by kind; the backend's [`Codec`] decides its encoding.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg<'a> {
    /// An integer (any width of integer column).
    Int(Option<i64>),
    /// A `DECIMAL(10,2)` quantity (durations, latencies).
    Real(Option<f64>),
    /// Text.
    Text(Option<Cow<'a, str>>),
    /// A boolean.
    Flag(Option<bool>),
    /// An instant.
    Ts(Option<DateTime<Utc>>),
    /// A calendar day.
    Day(Option<NaiveDate>),
    /// A JSON document (`jsonb` in PostgreSQL).
    Json(Option<serde_json::Value>),
}

macro_rules! arg_from {
    ($($ty:ty => $kind:ident($conv:expr);)*) => {$(
        impl<'a> From<$ty> for Arg<'a> {
            fn from(v: $ty) -> Self {
                Arg::$kind(Some($conv(v)))
            }
        }

        impl<'a> From<Option<$ty>> for Arg<'a> {
            fn from(v: Option<$ty>) -> Self {
                Arg::$kind(v.map($conv))
            }
        }
    )*};
}

arg_from! {
    i64 => Int(identity);
    i32 => Int(i64::from);
    u32 => Int(i64::from);
    f64 => Real(identity);
    bool => Flag(identity);
    DateTime<Utc> => Ts(identity);
    NaiveDate => Day(identity);
    serde_json::Value => Json(identity);
    String => Text(Cow::Owned);
    &'a str => Text(Cow::Borrowed);
    &'a StoreId => Text(|id: &'a StoreId| Cow::Borrowed(id.as_str()));
}

/// The stored-text enums bind as their text.
impl<'a, T: StoredText> From<T> for Arg<'a> {
    fn from(v: T) -> Self {
        Arg::Text(Some(Cow::Borrowed(v.as_stored())))
    }
}

impl<'a, T: StoredText> From<Option<T>> for Arg<'a> {
    fn from(v: Option<T>) -> Self {
        Arg::Text(v.map(|v| Cow::Borrowed(v.as_stored())))
    }
}

/// A [`Stmt`] of `sql` with its arguments in placeholder order, `stmt!("… $1 … $2"; a, b)`: the
/// statement reads as its SQL followed by its values, as a `format!` does.
macro_rules! stmt {
    ($sql:expr $(; $($arg:expr),* $(,)?)?) => {
        $crate::loaders::store::Stmt::new($sql)$($(.bind($arg))*)?
    };
}

pub(crate) use stmt;

/// A statement written once for both backends: SQL with `$N` placeholders and its arguments.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stmt<'a> {
    sql: Cow<'a, str>,
    args: Vec<Arg<'a>>,
}

impl<'a> Stmt<'a> {
    /// A statement of `sql`, with no arguments yet.
    pub(crate) fn new(sql: impl Into<Cow<'a, str>>) -> Self {
        Self {
            sql: sql.into(),
            args: Vec::new(),
        }
    }

    /// Binds the next placeholder.
    pub(crate) fn bind(mut self, value: impl Into<Arg<'a>>) -> Self {
        self.args.push(value.into());
        self
    }

    /// Appends `sql` followed by the next placeholder, bound to `value` (for filters that are
    /// present or not).
    pub(crate) fn push_bind(mut self, sql: &str, value: impl Into<Arg<'a>>) -> Self {
        let sql = format!("{sql} ${}", self.args.len() + 1);
        self.sql.to_mut().push_str(&sql);
        self.bind(value)
    }

    /// Every row.
    pub(crate) async fn fetch_all<DB: Backend>(
        self,
        pool: &Pool<DB>,
    ) -> Result<Vec<DB::Row>, sqlx::Error> {
        DB::fetch_all(pool, self).await
    }

    /// Every row, each decoded by `decode`.
    pub(crate) async fn decode_all<DB: Backend, T, E: From<sqlx::Error>>(
        self,
        pool: &Pool<DB>,
        decode: fn(&DB::Row) -> Result<T, E>,
    ) -> Result<Vec<T>, E> {
        self.fetch_all(pool).await?.iter().map(decode).collect()
    }

    /// The first row, if any.
    pub(crate) async fn fetch_optional<DB: Backend>(
        self,
        pool: &Pool<DB>,
    ) -> Result<Option<DB::Row>, sqlx::Error> {
        DB::fetch_optional(pool, self).await
    }

    /// The one row the statement must return.
    pub(crate) async fn fetch_one<DB: Backend>(
        self,
        pool: &Pool<DB>,
    ) -> Result<DB::Row, sqlx::Error> {
        self.fetch_optional(pool)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    /// Runs the statement for its effect.
    pub(crate) async fn run<DB: Backend>(self, pool: &Pool<DB>) -> crate::error::Result<()> {
        self.execute(pool).await?;
        Ok(())
    }

    /// Runs the statement; returns the rows it affected.
    pub(crate) async fn execute<DB: Backend>(self, pool: &Pool<DB>) -> Result<u64, sqlx::Error> {
        DB::execute(pool, self).await
    }

    /// Runs the statement on a connection (inside its transaction, if it has one).
    pub(crate) async fn execute_on<DB: Backend>(
        self,
        conn: &mut DB::Connection,
    ) -> Result<u64, sqlx::Error> {
        DB::execute_on(conn, self).await
    }
}

/// A sqlx database the stores run on: its [`Codec`], its [`Dialect`], and sqlx's own bounds,
/// proven once by the blanket implementation (see the module's documentation).
pub(crate) trait Backend: Codec + Dialect {
    /// Runs `stmt` and returns every row.
    fn fetch_all<'f>(
        pool: &'f Pool<Self>,
        stmt: Stmt<'f>,
    ) -> BoxFuture<'f, Result<Vec<Self::Row>, sqlx::Error>>;
    /// Runs `stmt` and returns its first row.
    fn fetch_optional<'f>(
        pool: &'f Pool<Self>,
        stmt: Stmt<'f>,
    ) -> BoxFuture<'f, Result<Option<Self::Row>, sqlx::Error>>;
    /// Runs `stmt`; returns the rows it affected.
    fn execute<'f>(pool: &'f Pool<Self>, stmt: Stmt<'f>)
        -> BoxFuture<'f, Result<u64, sqlx::Error>>;
    /// Runs `stmt` on a connection; returns the rows it affected.
    fn execute_on<'f>(
        conn: &'f mut Self::Connection,
        stmt: Stmt<'f>,
    ) -> BoxFuture<'f, Result<u64, sqlx::Error>>;
    /// A text column.
    fn text(row: &Self::Row, col: &str) -> Result<Option<String>, sqlx::Error>;
    /// A boolean column.
    fn flag(row: &Self::Row, col: &str) -> Result<Option<bool>, sqlx::Error>;
    /// A date column.
    fn day(row: &Self::Row, col: &str) -> Result<Option<NaiveDate>, sqlx::Error>;
    /// The sqlx query of a statement, its arguments bound through the codec.
    fn query<'q>(stmt: &'q Stmt<'q>) -> sqlx::query::Query<'q, Self, Self::Arguments<'q>>;
}

impl<DB> Backend for DB
where
    DB: Codec + Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
    for<'a> Option<i64>: Encode<'a, DB> + Type<DB>,
    for<'a> Option<f64>: Encode<'a, DB> + Type<DB>,
    for<'a> Option<&'a str>: Encode<'a, DB> + Type<DB>,
    for<'a> Option<bool>: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
    for<'a> Option<String>: Decode<'a, DB> + Type<DB>,
    for<'a> Option<NaiveDate>: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
{
    fn fetch_all<'f>(
        pool: &'f Pool<Self>,
        stmt: Stmt<'f>,
    ) -> BoxFuture<'f, Result<Vec<Self::Row>, sqlx::Error>> {
        Box::pin(async move { DB::query(&stmt).fetch_all(pool).await })
    }

    fn fetch_optional<'f>(
        pool: &'f Pool<Self>,
        stmt: Stmt<'f>,
    ) -> BoxFuture<'f, Result<Option<Self::Row>, sqlx::Error>> {
        Box::pin(async move { DB::query(&stmt).fetch_optional(pool).await })
    }

    fn execute<'f>(
        pool: &'f Pool<Self>,
        stmt: Stmt<'f>,
    ) -> BoxFuture<'f, Result<u64, sqlx::Error>> {
        Box::pin(async move {
            let done = DB::query(&stmt).execute(pool).await?;
            Ok(DB::rows_affected(&done))
        })
    }

    fn execute_on<'f>(
        conn: &'f mut Self::Connection,
        stmt: Stmt<'f>,
    ) -> BoxFuture<'f, Result<u64, sqlx::Error>> {
        Box::pin(async move {
            let done = DB::query(&stmt).execute(conn).await?;
            Ok(DB::rows_affected(&done))
        })
    }

    fn text(row: &Self::Row, col: &str) -> Result<Option<String>, sqlx::Error> {
        row.try_get(col)
    }

    fn flag(row: &Self::Row, col: &str) -> Result<Option<bool>, sqlx::Error> {
        row.try_get(col)
    }

    fn day(row: &Self::Row, col: &str) -> Result<Option<NaiveDate>, sqlx::Error> {
        row.try_get(col)
    }

    fn query<'q>(stmt: &'q Stmt<'q>) -> sqlx::query::Query<'q, Self, Self::Arguments<'q>> {
        stmt.args
            .iter()
            .fold(sqlx::query(&stmt.sql), |q, arg| match arg {
                Arg::Int(v) => q.bind(*v),
                Arg::Real(v) => q.bind(v.map(DB::encode_real)),
                Arg::Text(v) => q.bind(v.as_deref()),
                Arg::Flag(v) => q.bind(*v),
                Arg::Ts(v) => q.bind(DB::encode_ts(*v)),
                Arg::Day(v) => q.bind(*v),
                Arg::Json(v) => q.bind(DB::encode_json(v.clone())),
            })
    }
}

/// A Rust type a column is read into, the same way from both backends.
pub(crate) trait Column: Sized {
    /// The value of `col`; `None` when it is NULL.
    fn read<DB: Backend>(row: &DB::Row, col: &str) -> Result<Option<Self>, sqlx::Error>;
}

/// What [`Cells::get`] returns: a [`Column`] type (NULL is an error) or an `Option` of one.
pub(crate) trait FromColumn: Sized {
    /// Reads `col`.
    fn from_column<DB: Backend>(row: &DB::Row, col: &str) -> Result<Self, sqlx::Error>;
}

impl<T: Column> FromColumn for T {
    fn from_column<DB: Backend>(row: &DB::Row, col: &str) -> Result<Self, sqlx::Error> {
        T::read::<DB>(row, col)?.ok_or_else(|| decode_error(col, "is NULL"))
    }
}

impl<T: Column> FromColumn for Option<T> {
    fn from_column<DB: Backend>(row: &DB::Row, col: &str) -> Result<Self, sqlx::Error> {
        T::read::<DB>(row, col)
    }
}

/// Reading the columns of a row.
pub(crate) trait Cells {
    /// The value of `col` as a `T`: `row.get::<i64>("id")`, `row.get::<Option<Phase>>(…)`.
    fn get<T: FromColumn>(&self, col: &str) -> Result<T, sqlx::Error>;
}

impl<R> Cells for R
where
    R: Row,
    R::Database: Backend<Row = R>,
{
    fn get<T: FromColumn>(&self, col: &str) -> Result<T, sqlx::Error> {
        T::from_column::<R::Database>(self, col)
    }
}

/// A `Type { … }` literal read from a row: each listed field from the column of the same name,
/// through [`Cells::get`] (`field: expr` for a field computed otherwise). `?` returns decoding
/// errors, so it is used in a function returning a `Result`.
macro_rules! from_columns {
    ($row:ident => $ty:ident { $($field:ident $(: $value:expr)?),* $(,)? }) => {
        $ty { $($field: from_columns!(@value $row, $field $(, $value)?),)* }
    };
    (@value $row:ident, $field:ident) => {
        $row.get(stringify!($field))?
    };
    (@value $row:ident, $field:ident, $value:expr) => {
        $value
    };
}

pub(crate) use from_columns;

/// The error of a column whose value cannot be what the store expects.
pub(crate) fn decode_error(
    col: &str,
    why: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: col.to_owned(),
        source: why.into(),
    }
}

macro_rules! column_via {
    ($($ty:ty => $read:ident($conv:expr);)*) => {$(
        impl Column for $ty {
            fn read<DB: Backend>(row: &DB::Row, col: &str) -> Result<Option<Self>, sqlx::Error> {
                DB::$read(row, col).map(|v| v.map($conv))
            }
        }
    )*};
}

column_via! {
    i64 => int(identity);
    f64 => real(identity);
    bool => flag(identity);
    String => text(identity);
    StoreId => text(StoreId::from);
    DateTime<Utc> => ts(identity);
    NaiveDate => day(identity);
    serde_json::Value => json(identity);
}

impl Column for i32 {
    fn read<DB: Backend>(row: &DB::Row, col: &str) -> Result<Option<Self>, sqlx::Error> {
        DB::int(row, col)?
            .map(|v| i32::try_from(v).map_err(|e| decode_error(col, e)))
            .transpose()
    }
}

/// The stored-text enums (`status`, `error_category`, …): an unknown text is an error.
impl<T: StoredText> Column for T {
    fn read<DB: Backend>(row: &DB::Row, col: &str) -> Result<Option<Self>, sqlx::Error> {
        DB::text(row, col)?
            .map(|text| text.parse().map_err(|e: UnknownValue| decode_error(col, e)))
            .transpose()
    }
}
