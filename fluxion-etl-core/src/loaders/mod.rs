//! Destinations: where records and the execution history go.
//!
//! Each destination lives in its own folder: `mod.rs` (the [`Destination`]-facing type) and
//! `loader.rs` (the [`Loader`]; PostgreSQL's keeps its parts in `loader/`); both pass the same
//! loader contract tests. The execution history, the scheduler's state and the gap queries are
//! written once for both in [`store`], and pass the same store contract tests.
//!
//! The per-day counts that gap coverage reads (`sales_daily_counts`, `inventory_daily_counts`)
//! are kept by triggers of migration 0004, in the transaction of each write to `sales_lines` /
//! `inventory_history`, so no loader path maintains them by hand and a new one needs nothing
//! (on SQLite, only avoid `REPLACE`, whose implicit deletes fire no trigger). The one exception:
//! with `keep_inventory_history = false` there are no history rows to count, so the inventory
//! merge adds its snapshot's rows to `inventory_daily_counts` itself, as the triggers would have.

mod lease;
pub mod liveness;
pub mod postgres;
pub mod rows;
pub mod sqlite;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use sqlx::{Database, Pool};

use crate::config::DestinationConfig;
use crate::error::{Error, EtlError, Result};
use crate::model::Batch;
use crate::pipeline::{LoadStats, LoadUnit, Loader};
use crate::taxonomy::{classify_sqlite_code, classify_sqlstate, ErrorCategory, ErrorSource, Phase};
use crate::tracker::{apply_load_stats, StoreDetail, TrackerStore};

/// A destination database, chosen by URL scheme.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Destination {
    /// An embedded SQLite file.
    Sqlite(sqlite::SqliteDestination),
    /// A PostgreSQL database (production).
    Postgres(postgres::PostgresDestination),
}

/// A destination database of either backend: its connection pool, and the stores over it. The
/// backend's module adds what differs — opening, migrating, loading — as
/// [`SqliteDestination`](sqlite::SqliteDestination) and
/// [`PostgresDestination`](postgres::PostgresDestination).
#[derive(Debug)]
pub struct SqlDestination<DB: Database> {
    pool: Pool<DB>,
    /// Who this process is to the executions it opens ([`liveness`]); `None` for a pool
    /// wrapped with [`SqlDestination::from_pool`] or an in-memory database.
    owner: Option<Arc<liveness::Owner>>,
}

impl<DB: Database> Clone for SqlDestination<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            owner: self.owner.clone(),
        }
    }
}

impl<DB: Database> SqlDestination<DB> {
    /// Wraps an existing pool (on a migrated database, for the stores to work). Its executions
    /// have no owner: only the age rule reconciles them.
    pub fn from_pool(pool: Pool<DB>) -> Self {
        Self { pool, owner: None }
    }

    /// The destination with an owner for the executions it opens.
    pub(crate) fn owned(pool: Pool<DB>, owner: liveness::Owner) -> Self {
        Self {
            pool,
            owner: Some(Arc::new(owner)),
        }
    }

    /// Who this process is to the executions it opens, if anyone.
    pub fn owner(&self) -> Option<&liveness::Owner> {
        self.owner.as_deref()
    }

    /// The connection pool (history queries, migrations).
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// The stores: execution history, gap queries and the scheduler's state (shared by every
    /// replica on a PostgreSQL database).
    pub fn stores(&self) -> store::SqlStore<DB> {
        store::SqlStore::new(self.pool.clone()).with_owner(self.owner.clone())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Whether a destination's schema matches this version of Fluxion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaStatus {
    /// Every known migration is applied, and no unknown one.
    Current,
    /// Migrations are missing (run `fluxion migrate`).
    Behind {
        /// Versions not yet applied.
        pending: Vec<i64>,
    },
    /// The database was migrated by a newer Fluxion.
    Ahead {
        /// Versions this build does not know.
        unknown: Vec<i64>,
    },
}

impl Destination {
    /// Opens a destination from its URL (`sqlite://…` or `postgres://…`), waiting at most the
    /// default `[destination] connect_timeout_secs` for a server to answer.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_within(url, DestinationConfig::default().connect_timeout()).await
    }

    /// Opens a destination, waiting at most `timeout` for a PostgreSQL server to answer (a
    /// refused connection fails at once).
    pub async fn connect_within(url: &str, timeout: Duration) -> Result<Self> {
        if Self::is_sqlite_url(url) {
            Ok(Destination::Sqlite(
                sqlite::SqliteDestination::connect(url).await?,
            ))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Destination::Postgres(
                postgres::PostgresDestination::connect_within(url, timeout).await?,
            ))
        } else {
            Err(Error::InvalidRequest(format!(
                "unsupported destination URL `{}`: expected sqlite:// or postgres://",
                crate::taxonomy::sanitize(url)
            )))
        }
    }

    /// Whether a destination URL names an embedded SQLite database.
    fn is_sqlite_url(url: &str) -> bool {
        url.starts_with("sqlite:")
    }

    /// Connects for reading only. Like [`Destination::connect`], except that a SQLite file that
    /// does not exist yet is not created: the destination is then an empty one in memory (what
    /// the file would hold), so `fluxion history` in the wrong directory leaves nothing behind.
    pub async fn connect_read_only(url: &str, timeout: Duration) -> Result<Self> {
        if Self::is_sqlite_url(url) {
            if let Some(file) = sqlite::SqliteDestination::missing_file(url)? {
                tracing::info!(
                    file = %file.display(),
                    "No database file yet: reading an empty destination."
                );
                return Ok(Destination::Sqlite(
                    sqlite::SqliteDestination::empty().await?,
                ));
            }
        }
        Self::connect_within(url, timeout).await
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<()> {
        match self {
            Destination::Sqlite(d) => d.migrate().await,
            Destination::Postgres(d) => d.migrate().await,
        }
    }

    /// Compares the applied migrations with the ones this build embeds.
    pub async fn schema_status(&self) -> Result<SchemaStatus> {
        match self {
            Destination::Sqlite(d) => d.schema_status().await,
            Destination::Postgres(d) => d.schema_status().await,
        }
    }

    /// Fails with a message saying what to do unless the schema is current.
    pub async fn ensure_current(&self) -> Result<()> {
        match self.schema_status().await? {
            SchemaStatus::Current => Ok(()),
            SchemaStatus::Behind { pending } => Err(Error::Schema(format!(
                "the destination is not migrated ({} migration(s) pending: {:?}); run `fluxion migrate`",
                pending.len(),
                pending
            ))),
            SchemaStatus::Ahead { unknown } => Err(Error::Schema(format!(
                "the destination was migrated by a newer Fluxion (unknown migration(s) {unknown:?}); upgrade fluxion"
            ))),
        }
    }

    /// The loader.
    pub fn loader(&self) -> Arc<dyn Loader> {
        match self {
            Destination::Sqlite(d) => Arc::new(d.loader()),
            Destination::Postgres(d) => Arc::new(d.loader()),
        }
    }

    /// The tracker store (execution history lives beside the data).
    pub fn tracker_store(&self) -> Arc<dyn TrackerStore> {
        match self {
            Destination::Sqlite(d) => Arc::new(d.stores()),
            Destination::Postgres(d) => Arc::new(d.stores()),
        }
    }

    /// The gap queries ([`crate::gaps`]).
    pub fn gap_store(&self) -> Arc<dyn crate::gaps::GapStore> {
        match self {
            Destination::Sqlite(d) => Arc::new(d.stores()),
            Destination::Postgres(d) => Arc::new(d.stores()),
        }
    }

    /// The scheduler's persisted state and slot claims (beside the execution history).
    pub fn scheduler_store(&self) -> Arc<dyn crate::schedule::SchedulerStore> {
        match self {
            Destination::Sqlite(d) => Arc::new(d.stores()),
            Destination::Postgres(d) => Arc::new(d.stores()),
        }
    }

    /// Whether the destination is an embedded file that migrates itself on open.
    pub fn is_embedded(&self) -> bool {
        matches!(self, Destination::Sqlite(_))
    }

    /// Closes the connection pool.
    pub async fn close(&self) {
        match self {
            Destination::Sqlite(d) => d.close().await,
            Destination::Postgres(d) => d.close().await,
        }
    }

    /// Closes `running` executions started more than `older_than` ago as failed with category
    /// `interrupted`: their process died without closing them (killed, host lost). Called at
    /// start-up with `[destination] stale_running_minutes`. Returns how many were closed.
    ///
    /// A run that is in fact still alive and older than that is closed too, and then rewritten
    /// with its real outcome when it finishes; choose an age longer than any run.
    pub async fn reconcile_stale(&self, older_than: std::time::Duration) -> Result<u64> {
        let age = chrono::Duration::from_std(older_than)
            .unwrap_or_else(|_| chrono::Duration::days(36_500));
        let closed = self
            .tracker_store()
            .close_running(
                Some(Utc::now() - age),
                "the process running this execution stopped before closing it (reconciled at start-up)",
            )
            .await?;
        if closed > 0 {
            tracing::warn!(
                closed,
                "Stale running executions reconciled as interrupted."
            );
        }
        Ok(closed)
    }

    /// Closes the `running` executions whose process is gone, as failed with category
    /// `interrupted`, at once: those whose owner's lock can be taken ([`liveness`]), never a
    /// live owner's however long it runs. Executions recorded without an owner (before owners
    /// existed, or through a bare pool) are closed when older than `legacy_older_than`
    /// (`[destination] stale_running_minutes`). Called when Fluxion starts and on the server's
    /// timer. Returns how many were closed.
    pub async fn reconcile(&self, legacy_older_than: std::time::Duration) -> Result<u64> {
        let message = "the process running this execution is gone (reconciled)";
        let age = chrono::Duration::from_std(legacy_older_than)
            .unwrap_or_else(|_| chrono::Duration::days(36_500));
        let (stores, owner) = match self {
            Destination::Sqlite(d) => (Reconciling::Sqlite(d.stores()), d.owner()),
            Destination::Postgres(d) => (Reconciling::Postgres(d.stores()), d.owner()),
        };
        let mut closed = stores
            .close_running_of(store::Owners::Unowned, Some(Utc::now() - age), message)
            .await?;
        if let Some(owner) = owner {
            for key in stores.running_owners().await? {
                if !owner.is_alive(key).await? {
                    closed += stores
                        .close_running_of(store::Owners::Of(key), None, message)
                        .await?;
                }
            }
        }
        if closed > 0 {
            tracing::warn!(
                closed,
                "Running executions of gone processes closed as interrupted."
            );
        }
        Ok(closed)
    }

    /// Deletes the `inventory_history` snapshots taken more than `days` days ago (`[destination]
    /// inventory_history_days`, applied by the scheduler's daily maintenance); returns how many
    /// rows. Coverage's per-day counts follow.
    pub async fn prune_inventory_history(&self, days: u32) -> Result<u64> {
        let before = Utc::now() - chrono::Duration::days(i64::from(days));
        let deleted = match self {
            Destination::Sqlite(d) => store::prune_inventory_history(&d.stores(), before).await?,
            Destination::Postgres(d) => store::prune_inventory_history(&d.stores(), before).await?,
        };
        if deleted > 0 {
            tracing::info!(deleted, days, "Inventory history pruned.");
        }
        Ok(deleted)
    }

    /// Deletes executions (and their store details) started more than `retention_days` days
    /// ago: the 90-day retention of `fluxion history prune` and the server's daily maintenance.
    /// Running executions are kept. Returns how many executions were deleted.
    pub async fn prune_history(&self, retention_days: u32) -> Result<u64> {
        let before = Utc::now() - chrono::Duration::days(i64::from(retention_days));
        let deleted = self.tracker_store().purge(before).await?;
        tracing::info!(deleted, retention_days, "Execution history pruned.");
        Ok(deleted)
    }
}

/// Compares applied and known migration versions.
pub(crate) fn schema_status(applied: &[i64], known: &[i64]) -> SchemaStatus {
    let unknown: Vec<i64> = applied
        .iter()
        .filter(|v| !known.contains(v))
        .copied()
        .collect();
    if !unknown.is_empty() {
        return SchemaStatus::Ahead { unknown };
    }
    let pending: Vec<i64> = known
        .iter()
        .filter(|v| !applied.contains(v))
        .copied()
        .collect();
    if pending.is_empty() {
        SchemaStatus::Current
    } else {
        SchemaStatus::Behind { pending }
    }
}

/// A unit's load as its store detail records it, in the unit's own transaction: the stats
/// marked recorded, and the detail completed with their counts and finished now.
pub(crate) fn recorded_detail(detail: &StoreDetail, stats: LoadStats) -> (StoreDetail, LoadStats) {
    let stats = LoadStats {
        detail_recorded: true,
        ..stats
    };
    let mut detail = detail.clone();
    apply_load_stats(&mut detail, &stats);
    detail.finished_at = Utc::now();
    (detail, stats)
}

/// The error of a batch written to a load of the other kind (a pipeline bug, not the data's).
pub(crate) fn wrong_batch(batch: &Batch, unit: &LoadUnit, source: ErrorSource) -> EtlError {
    EtlError::new(
        Phase::Load,
        ErrorCategory::DataValidation,
        source,
        format!(
            "a {} batch was written to a {} load",
            batch.kind(),
            unit.kind()
        ),
    )
}

/// Classifies a database error raised while loading, from its typed cause.
pub(crate) fn classify_load_error(
    err: sqlx::Error,
    source: ErrorSource,
    context: &str,
) -> EtlError {
    let (category, retryable) = match &err {
        sqlx::Error::Database(db) => match source {
            ErrorSource::Sqlite => db
                .code()
                .and_then(|c| c.parse::<i64>().ok())
                .map(classify_sqlite_code)
                .unwrap_or((ErrorCategory::PgConnection, false)),
            _ => db
                .code()
                .map(|c| classify_sqlstate(&c))
                .unwrap_or((ErrorCategory::PgConnection, false)),
        },
        sqlx::Error::PoolTimedOut => (ErrorCategory::PgTimeout, true),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => (ErrorCategory::PgConnection, true),
        sqlx::Error::Configuration(_) => (ErrorCategory::PgConnection, false),
        _ => (ErrorCategory::PgConnection, false),
    };
    EtlError::new(Phase::Load, category, source, context)
        .with_cause(err)
        .retryable(retryable)
}

/// The stores of either backend, for [`Destination::reconcile`].
enum Reconciling {
    Sqlite(store::SqlStore<sqlx::Sqlite>),
    Postgres(store::SqlStore<sqlx::Postgres>),
}

impl Reconciling {
    async fn running_owners(&self) -> Result<Vec<i64>> {
        match self {
            Reconciling::Sqlite(s) => store::running_owners(s).await,
            Reconciling::Postgres(s) => store::running_owners(s).await,
        }
    }

    async fn close_running_of(
        &self,
        owners: store::Owners,
        started_before: Option<chrono::DateTime<Utc>>,
        message: &str,
    ) -> Result<u64> {
        match self {
            Reconciling::Sqlite(s) => {
                store::close_running_of(s, owners, started_before, message).await
            }
            Reconciling::Postgres(s) => {
                store::close_running_of(s, owners, started_before, message).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_status_compares_versions() {
        assert_eq!(schema_status(&[1, 2], &[1, 2]), SchemaStatus::Current);
        assert_eq!(
            schema_status(&[1], &[1, 2]),
            SchemaStatus::Behind { pending: vec![2] }
        );
        assert_eq!(
            schema_status(&[1, 2, 3], &[1, 2]),
            SchemaStatus::Ahead { unknown: vec![3] }
        );
    }

    #[test]
    fn sqlite_codes() {
        assert_eq!(classify_sqlite_code(13).0, ErrorCategory::DiskFull);
        assert_eq!(
            classify_sqlite_code(2067).0,
            ErrorCategory::ConstraintViolation
        );
        assert_eq!(classify_sqlite_code(517).0, ErrorCategory::PgTimeout);
    }
}
