//! A delivery's fingerprint — its row count and the exact sum of its row hashes — against the
//! window's: an unchanged re-delivery writes nothing, an empty window takes the spill as it is.
//! The fingerprint each window last received is kept in `etl_load_fingerprints`, as a hint only
//! (see the loader's docs).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::encode::SALES;
use super::{execute, window_aggregate, window_row, PgSession};
use crate::error::EtlError;
use crate::model::Window;
use crate::pipeline::LoadStats;

impl PgSession {
    /// The two ways a sales delivery with distinct keys skips the merge: it is exactly what the
    /// window holds (nothing written), or the window is empty (the spill COPYed straight into
    /// `sales_lines`). `None` when the unit must be merged.
    pub(super) async fn fast_sales(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Option<LoadStats>, EtlError> {
        let store = self.unit.store.as_str().to_owned();
        let ours = (self.received as i64, self.hash_sum.to_string());
        if !self.repeated {
            let conn = self.conn()?;
            let stored: Option<(i64, String)> = window_row(
                conn,
                "SELECT row_count, hash_sum::text FROM etl_load_fingerprints \
                 WHERE store_id = $1 AND etl_name = 'ventas' AND window_from = $2 AND window_to = $3",
                &store,
                (from, to),
                "cannot read the window's fingerprint",
            )
            .await?;
            if stored.as_ref().is_none_or(|s| *s == ours) {
                let live: (i64, String) = window_aggregate(
                    conn,
                    // sum(bigint) is exact (a numeric result) and accumulates in 128-bit integers;
                    // casting each hash to numeric first made the scan's cost numeric additions.
                    "SELECT count(*), COALESCE(sum(row_hash), 0)::text FROM sales_lines \
                     WHERE store_id = $1 AND sold_at >= $2 AND sold_at < $3",
                    &store,
                    (from, to),
                    "cannot fingerprint the window's rows",
                )
                .await?;
                if live == ours {
                    tracing::debug!(store = %store, rows = self.received, "Window unchanged; no merge.");
                    return Ok(Some(LoadStats {
                        received: self.received,
                        unchanged: self.received,
                        ..LoadStats::default()
                    }));
                }
                // Nothing to compare or delete: COPY straight into the table (when the rows
                // carry their execution id; a plain `begin` learns it only now).
                if live.0 == 0 && self.execution_id.is_some() {
                    let inserted = self.copy_spill(SALES.target).await?;
                    return Ok(Some(LoadStats {
                        received: self.received,
                        inserted,
                        ..LoadStats::default()
                    }));
                }
            }
        }
        Ok(None)
    }
}

/// Records what `window` of `store` received, in the unit's transaction.
pub(super) async fn record_fingerprint(
    conn: &mut PgConnection,
    store: &str,
    etl_name: &str,
    window: &Window,
    received: i64,
    hash_sum: &str,
    execution_id: i64,
) -> Result<(), EtlError> {
    let upsert = sqlx::query(
        "INSERT INTO etl_load_fingerprints (store_id, etl_name, window_from, window_to, row_count, \
         hash_sum, execution_id) VALUES ($1, $2, $3, $4, $5, $6::numeric, $7) \
         ON CONFLICT (store_id, etl_name, window_from, window_to) DO UPDATE SET \
         row_count = EXCLUDED.row_count, hash_sum = EXCLUDED.hash_sum, \
         execution_id = EXCLUDED.execution_id, loaded_at = now()",
    )
    .bind(store)
    .bind(etl_name)
    .bind(window.from_utc())
    .bind(window.to_utc())
    .bind(received)
    .bind(hash_sum)
    .bind(execution_id);
    execute(conn, upsert, "cannot record the window's fingerprint").await?;
    Ok(())
}
