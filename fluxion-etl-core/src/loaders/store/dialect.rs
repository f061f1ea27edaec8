//! The SQL fragments the two backends spell differently; every other statement is written once.

use sqlx::{Database, Postgres, Sqlite};

/// A backend's spelling of the fragments that differ.
pub(crate) trait Dialect: Database {
    /// A `FROM` item over the store ids of execution `e`'s JSON `tiendas` array, one row per
    /// id in a text column `j.value`.
    const EXECUTION_STORES: &'static str;
    /// The start of the UTC hour of `sold_at`, as a timestamp the codec reads.
    const HOUR_SOLD: &'static str;
    /// Statements the history purge also runs, in its transaction, with the same cutoff (`$1`).
    const PURGE_ALSO: &'static [&'static str];
}

impl Dialect for Sqlite {
    const EXECUTION_STORES: &'static str = "json_each(e.tiendas) AS j";
    // Timestamps are fixed-width UTC text: the hour is its first 13 characters.
    const HOUR_SOLD: &'static str = "substr(sold_at, 1, 13) || ':00:00Z'";
    const PURGE_ALSO: &'static [&'static str] = &[];
}

impl Dialect for Postgres {
    const EXECUTION_STORES: &'static str =
        "jsonb_array_elements_text(CASE jsonb_typeof(e.tiendas) \
         WHEN 'array' THEN e.tiendas ELSE '[]'::jsonb END) AS j(value)";
    // Truncated in UTC whatever the session's TimeZone; Caracas hours are whole UTC hours.
    const HOUR_SOLD: &'static str =
        "date_trunc('hour', sold_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'";
    // Fingerprints are hints; dropping old ones only means the next load of that window
    // compares with the live rows instead.
    const PURGE_ALSO: &'static [&'static str] =
        &["DELETE FROM etl_load_fingerprints WHERE loaded_at < $1"];
}
