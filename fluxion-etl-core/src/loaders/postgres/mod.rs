//! The PostgreSQL destination: where the chain's planning tools read, and the home of the
//! execution history.
//!
//! - [`PostgresLoader`] streams each unit's rows with COPY and merges the unit's scope in one
//!   transaction that also writes the store's tracker detail; per-(store, kind) leases are
//!   advisory locks, so two processes never load the same store at once.
//! - [`PostgresTracker`] keeps `etl_executions` / `etl_execution_details` (seed 003).
//! - [`MIGRATOR`] holds the embedded, checksummed migrations; Fluxion refuses to load into a
//!   database whose applied migrations are not exactly these (see
//!   [`Destination::ensure_current`](super::Destination::ensure_current)).
//!
//! Unlike the embedded SQLite file, a PostgreSQL database is never migrated implicitly:
//! `fluxion migrate` (or [`PostgresDestination::migrate`]) does it, once, on purpose.

mod copy;
mod loader;

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{Connection, Postgres, Row};

pub use copy::CopyFormat;
pub use loader::PostgresLoader;

use super::store::SqlStore;
use super::{SchemaStatus, SqlDestination};
use crate::config::DestinationConfig;
use crate::error::{Error, EtlError, Result};
use crate::taxonomy::ErrorSource;

/// The PostgreSQL stores: [`TrackerStore`](crate::tracker::TrackerStore),
/// [`GapStore`](crate::gaps::GapStore) and [`SchedulerStore`](crate::schedule::SchedulerStore).
pub type PostgresStores = SqlStore<Postgres>;
/// The PostgreSQL [`TrackerStore`](crate::tracker::TrackerStore) (the same type as [`PostgresStores`]).
pub type PostgresTracker = PostgresStores;
/// The PostgreSQL [`GapStore`](crate::gaps::GapStore) (the same type as [`PostgresStores`]).
pub type PostgresGaps = PostgresStores;
/// The PostgreSQL [`SchedulerStore`](crate::schedule::SchedulerStore) (the same type as
/// [`PostgresStores`]).
pub type PostgresSchedulerStore = PostgresStores;

/// The migrations embedded in this build.
pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// The `application_name` Fluxion's sessions report (visible in `pg_stat_activity`).
pub const APPLICATION_NAME: &str = "fluxion";

/// A PostgreSQL destination.
pub type PostgresDestination = SqlDestination<Postgres>;

/// What only a PostgreSQL destination does: connect, migrate with [`MIGRATOR`] (checking the
/// applied migrations' checksums), and load with a [`PostgresLoader`].
impl SqlDestination<Postgres> {
    /// Connects to the database named by a `postgres://` URL, waiting at most the default
    /// `[destination] connect_timeout_secs` (5 s) for the server to answer.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_within(url, DestinationConfig::default().connect_timeout()).await
    }

    /// Connects, waiting at most `timeout` for the server to answer. A refused connection (no
    /// server on that port) or a failed login is an error at once.
    pub async fn connect_within(url: &str, timeout: Duration) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)?.application_name(APPLICATION_NAME);
        // sqlx's pool takes a failed first connection for a server still starting and retries
        // it until its acquire timeout (30 s): one direct attempt first makes a refused or
        // silent server fail at once, or after `timeout`.
        let first = tokio::time::timeout(timeout, PgConnection::connect_with(&options))
            .await
            .map_err(|_| {
                Error::Database(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "the destination's server did not answer within {} s \
                         ([destination] connect_timeout_secs)",
                        timeout.as_secs_f64()
                    ),
                )))
            })??;
        let _ = first.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        let owner = super::liveness::Owner::postgres(pool.connect_options().as_ref().clone());
        Ok(Self::owned(pool, owner))
    }

    /// Applies pending migrations. Concurrent callers are serialized by sqlx's advisory lock;
    /// a migration that was applied and has since changed is an error, never re-applied.
    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Compares applied migrations with the embedded ones. A migration applied with different
    /// contents than this build embeds (its checksum differs) is an error.
    pub async fn schema_status(&self) -> Result<SchemaStatus> {
        let exists: Option<String> =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
                .fetch_one(&self.pool)
                .await?;
        let applied: Vec<(i64, Vec<u8>)> = if exists.is_some() {
            sqlx::query(
                "SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version",
            )
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("version")?, r.try_get("checksum")?)))
            .collect::<std::result::Result<_, sqlx::Error>>()?
        } else {
            Vec::new()
        };
        for (version, checksum) in &applied {
            if let Some(known) = MIGRATOR.iter().find(|m| m.version == *version) {
                if known.checksum.as_ref() != checksum.as_slice() {
                    return Err(Error::Schema(format!(
                        "migration {version} ({}) applied to this database differs from the one this \
                         build of Fluxion embeds (checksum mismatch): the schema was changed by hand or \
                         by a different build; restore the original migration instead of editing it",
                        known.description
                    )));
                }
            }
        }
        let versions: Vec<i64> = applied.iter().map(|(v, _)| *v).collect();
        let known: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
        Ok(super::schema_status(&versions, &known))
    }

    /// The loader.
    pub fn loader(&self) -> PostgresLoader {
        PostgresLoader::new(self.pool.connect_options().as_ref().clone())
    }
}

/// Classifies an error PostgreSQL (or the connection to it) raised while loading: the load
/// categories of the taxonomy by SQLSTATE — `deadlock` (40P01, 40001), `pg_timeout` (55P03,
/// 57014), `disk_full` (53100), `constraint_violation` (23xxx), `pg_connection` (08xxx, 57Pxx,
/// lost sockets) — and whether retrying can help.
pub fn classify(err: sqlx::Error, context: &str) -> EtlError {
    super::classify_load_error(err, ErrorSource::Postgresql, context)
}
