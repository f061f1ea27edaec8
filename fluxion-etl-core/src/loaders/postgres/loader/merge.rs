//! Stage and merge: the spill COPYed into a temporary table (repeated keys keep their last
//! occurrence), then the unit's scope merged from it — changed rows updated, new ones inserted,
//! rows the source no longer returns deleted — and inventory's history appended.

use chrono::{DateTime, Utc};

use super::encode::{INVENTORY, SALES};
use super::{exec, execute, load_err, PgSession};
use crate::error::EtlError;
use crate::loaders::rows::{set_from_stage, staged_columns};
use crate::pipeline::LoadStats;

/// Deliveries at least this large get an `ANALYZE` of the staging table before the merge, so
/// the planner joins a million staged rows with a hash join rather than a million probes.
const ANALYZE_AT: u64 = 50_000;

/// The staging table (temporary, dropped at commit).
pub(super) const STAGE: &str = "fluxion_stage";

impl PgSession {
    pub(super) async fn merge_sales(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        execution_id: i64,
    ) -> Result<LoadStats, EtlError> {
        if let Some(stats) = self.fast_sales(from, to).await? {
            return Ok(stats);
        }
        let store = self.unit.store.as_str().to_owned();
        self.stage().await?;
        let names = SALES.names();
        let set_list = set_from_stage(&names);
        let s_names = staged_columns(&names);
        let update = format!(
            "UPDATE sales_lines AS t SET {set_list}, row_hash = s.row_hash, execution_id = $2, loaded_at = now() \
             FROM {STAGE} AS s \
             WHERE t.store_id = $1 AND t.invoice_number = s.invoice_number AND t.line_number = s.line_number \
             AND t.row_hash <> s.row_hash"
        );
        let insert = format!(
            "INSERT INTO sales_lines ({cols}, row_hash, execution_id) \
             SELECT {s_names}, s.row_hash, $2 FROM {STAGE} AS s \
             WHERE NOT EXISTS (SELECT 1 FROM sales_lines AS t WHERE t.store_id = $1 \
             AND t.invoice_number = s.invoice_number AND t.line_number = s.line_number)",
            cols = names.join(", "),
        );
        let delete = format!(
            "DELETE FROM sales_lines AS t WHERE t.store_id = $1 AND t.sold_at >= $2 AND t.sold_at < $3 \
             AND NOT EXISTS (SELECT 1 FROM {STAGE} AS s \
             WHERE s.invoice_number = t.invoice_number AND s.line_number = t.line_number)"
        );
        let conn = self.conn()?;
        let updated = sqlx::query(&update).bind(&store).bind(execution_id);
        let updated = execute(conn, updated, "cannot update changed rows").await?;
        let inserted = sqlx::query(&insert).bind(&store).bind(execution_id);
        let inserted = execute(conn, inserted, "cannot insert new rows").await?;
        let deleted = sqlx::query(&delete).bind(&store).bind(from).bind(to);
        let deleted = execute(
            conn,
            deleted,
            "cannot delete rows the source no longer returns",
        )
        .await?;
        Ok(LoadStats {
            received: self.received,
            inserted,
            updated,
            deleted,
            // Every staged row was inserted, updated or left alone; repeated keys count as
            // left alone, as in SQLite.
            unchanged: self.received.saturating_sub(inserted + updated),
            detail_recorded: false,
        })
    }

    pub(super) async fn merge_inventory(
        &mut self,
        warehouse: &str,
        keep_history: bool,
        execution_id: i64,
    ) -> Result<LoadStats, EtlError> {
        let store = self.unit.store.as_str().to_owned();
        let staged = self.stage().await?;
        let names = INVENTORY.names();
        let set_list = set_from_stage(&names);
        let s_names = staged_columns(&names);
        let key_match =
            "t.store_id = $1 AND t.warehouse_code = $2 AND t.product_code = s.product_code";
        let conn = self.conn()?;
        let unchanged: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {STAGE} AS s JOIN inventory_current AS t ON {key_match} AND t.row_hash = s.row_hash"
        ))
        .bind(&store)
        .bind(warehouse)
        .fetch_one(&mut *conn)
        .await
        .map_err(load_err("cannot compare staged rows"))?;
        // Every row seen gets the new snapshot time, changed or not.
        let update = format!(
            "UPDATE inventory_current AS t SET {set_list}, row_hash = s.row_hash, execution_id = $3 \
             FROM {STAGE} AS s WHERE {key_match}"
        );
        let insert = format!(
            "INSERT INTO inventory_current ({cols}, row_hash, execution_id) \
             SELECT {s_names}, s.row_hash, $3 FROM {STAGE} AS s \
             WHERE NOT EXISTS (SELECT 1 FROM inventory_current AS t WHERE {key_match})",
            cols = names.join(", "),
        );
        let delete = format!(
            "DELETE FROM inventory_current AS t WHERE t.store_id = $1 AND t.warehouse_code = $2 \
             AND NOT EXISTS (SELECT 1 FROM {STAGE} AS s WHERE s.product_code = t.product_code)"
        );
        let touched = sqlx::query(&update)
            .bind(&store)
            .bind(warehouse)
            .bind(execution_id);
        let touched = execute(conn, touched, "cannot update the snapshot").await?;
        let inserted = sqlx::query(&insert)
            .bind(&store)
            .bind(warehouse)
            .bind(execution_id);
        let inserted = execute(conn, inserted, "cannot insert new rows").await?;
        let deleted = sqlx::query(&delete).bind(&store).bind(warehouse);
        let deleted = execute(
            conn,
            deleted,
            "cannot delete articles the source no longer returns",
        )
        .await?;
        if keep_history {
            let history = format!(
                "INSERT INTO inventory_history ({cols}, execution_id) SELECT {s_names}, $1 FROM {STAGE} AS s",
                cols = names.join(", "),
            );
            let history = sqlx::query(&history).bind(execution_id);
            execute(conn, history, "cannot append the inventory history").await?;
        } else {
            // No history rows for the triggers to count: the snapshot's day is counted here,
            // as the history would have counted it, so coverage still sees it.
            let count = format!(
                "INSERT INTO inventory_daily_counts AS c (store_id, day, records) \
                 SELECT store_id, (snapshot_at AT TIME ZONE 'America/Caracas')::date, COUNT(*) \
                 FROM {STAGE} GROUP BY 1, 2 ORDER BY 1, 2 \
                 ON CONFLICT (store_id, day) DO UPDATE SET records = c.records + EXCLUDED.records"
            );
            execute(
                conn,
                sqlx::query(&count),
                "cannot count the inventory snapshot's day",
            )
            .await?;
        }
        let unchanged = unchanged.max(0) as u64;
        let updated = touched.saturating_sub(unchanged);
        let repeated = self.received - staged;
        Ok(LoadStats {
            received: self.received,
            inserted,
            updated,
            deleted,
            unchanged: unchanged + repeated,
            detail_recorded: false,
        })
    }

    /// COPYs the spill into a fresh staging table (dropped at commit) and removes repeated
    /// keys, keeping each key's last occurrence. Returns the rows left.
    async fn stage(&mut self) -> Result<u64, EtlError> {
        let table = self.table;
        let columns: Vec<String> = table
            .columns
            .iter()
            .map(|(n, t)| format!("{n} {}", t.postgres()))
            .collect();
        let conn = self.conn()?;
        exec(
            conn,
            &format!(
                "CREATE TEMP TABLE {STAGE} ({}, row_hash bigint NOT NULL, execution_id bigint, \
                 seq bigint GENERATED ALWAYS AS IDENTITY) ON COMMIT DROP",
                columns.join(", ")
            ),
            "cannot create the staging table",
        )
        .await?;
        let mut staged = self.copy_spill(STAGE).await?;
        let repeated = self.repeated;
        let conn = self.conn()?;
        let key = table.key.join(", ");
        if repeated {
            let matches = table
                .key
                .iter()
                .map(|k| format!("s.{k} = d.{k}"))
                .collect::<Vec<_>>()
                .join(" AND ");
            staged -= exec(
                conn,
                &format!(
                    "DELETE FROM {STAGE} AS s USING (SELECT {key}, max(seq) AS keep FROM {STAGE} \
                     GROUP BY {key} HAVING count(*) > 1) AS d WHERE {matches} AND s.seq < d.keep"
                ),
                "cannot drop repeated keys",
            )
            .await?;
        }
        // "Rows of the scope the staging table lacks" must not depend on the planner's
        // estimates: the target's statistics rarely know the window just loaded, and a nested
        // loop over an unindexed staging table is quadratic. With the index it is a probe per
        // row at worst.
        exec(
            conn,
            &format!("CREATE INDEX ON {STAGE} ({key})"),
            "cannot index the staging table",
        )
        .await?;
        if staged >= ANALYZE_AT {
            exec(
                conn,
                &format!("ANALYZE {STAGE}"),
                "cannot analyze the staging table",
            )
            .await?;
        }
        Ok(staged)
    }
}
