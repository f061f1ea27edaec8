//! The embedded SQLite destination: a file, no server, migrated on open.
//!
//! Writes go through `BEGIN IMMEDIATE` transactions, so concurrent stores queue for SQLite's
//! single writer (up to the busy timeout) instead of failing with `SQLITE_BUSY` half-way.
//!
//! A connection that comes back to the pool with a transaction still open is closed rather
//! than reused (closing rolls the transaction back): a run cancelled at the wrong moment
//! inside sqlx's `begin_with` leaves its `BEGIN IMMEDIATE` acknowledged but owned by no
//! `Transaction`, and that connection would otherwise hold SQLite's write lock while idle, so
//! every other writer waits out the busy timeout and fails with `database is locked`.

mod loader;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Sqlite};

pub use loader::SqliteLoader;

use super::store::SqlStore;
use super::{SchemaStatus, SqlDestination};
use crate::error::Result;

/// The SQLite stores: [`TrackerStore`](crate::tracker::TrackerStore),
/// [`GapStore`](crate::gaps::GapStore) and [`SchedulerStore`](crate::schedule::SchedulerStore).
pub type SqliteStores = SqlStore<Sqlite>;
/// The SQLite [`TrackerStore`](crate::tracker::TrackerStore) (the same type as [`SqliteStores`]).
pub type SqliteTracker = SqliteStores;
/// The SQLite [`GapStore`](crate::gaps::GapStore) (the same type as [`SqliteStores`]).
pub type SqliteGaps = SqliteStores;
/// The SQLite [`SchedulerStore`](crate::schedule::SchedulerStore) (the same type as
/// [`SqliteStores`]).
pub type SqliteSchedulerStore = SqliteStores;

/// The migrations embedded in this build.
pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// The file a SQLite database lives in; `None` for an in-memory database (private to its pool).
pub(crate) fn database_file(options: &SqliteConnectOptions) -> Option<&Path> {
    let file = options.get_filename();
    let in_memory = file.as_os_str().is_empty() || file.as_os_str() == ":memory:";
    (!in_memory).then_some(file)
}

/// A SQLite destination.
pub type SqliteDestination = SqlDestination<Sqlite>;

/// What only a SQLite destination does: open a file (or an empty database in memory), migrate
/// it with [`MIGRATOR`], and load with a [`SqliteLoader`].
impl SqlDestination<Sqlite> {
    /// Opens (creating if missing) the file named by a `sqlite://` URL.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(120))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .after_release(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
            .connect_with(options)
            .await?;
        let options = pool.connect_options();
        let owner = database_file(&options)
            .map(|file| std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf()))
            .map(|file| super::liveness::Owner::file(&file));
        Ok(match owner {
            Some(owner) => Self::owned(pool, owner),
            None => Self::from_pool(pool),
        })
    }

    /// An empty, migrated destination in memory: what a read-only command sees where no
    /// database file exists yet. One connection, kept open, so the data outlives no query.
    pub async fn empty() -> Result<Self> {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true))
            .await?;
        let destination = Self::from_pool(pool);
        destination.migrate().await?;
        Ok(destination)
    }

    /// The database file a `sqlite:` URL names, when it names one that does not exist (an
    /// in-memory URL names none).
    pub fn missing_file(url: &str) -> Result<Option<PathBuf>> {
        let options = SqliteConnectOptions::from_str(url)?;
        Ok(database_file(&options)
            .filter(|file| !file.exists())
            .map(Path::to_path_buf))
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Compares applied migrations with the embedded ones.
    pub async fn schema_status(&self) -> Result<SchemaStatus> {
        let exists: Option<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_optional(&self.pool)
        .await?;
        let applied: Vec<i64> = if exists.is_some() {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = 1")
                .fetch_all(&self.pool)
                .await?
        } else {
            Vec::new()
        };
        let known: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
        Ok(super::schema_status(&applied, &known))
    }

    /// The loader.
    pub fn loader(&self) -> SqliteLoader {
        SqliteLoader::new(self.pool.clone())
    }
}

#[cfg(test)]
mod tests {
    use sqlx::ConnectOptions;

    use super::*;

    /// A transaction that outlives its `Transaction` (what a cancelled `begin_with` leaves)
    /// does not keep SQLite's write lock once its connection goes back to the pool.
    #[tokio::test]
    async fn a_connection_released_inside_a_transaction_does_not_keep_the_write_lock() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("lock.db").display());
        let destination = SqliteDestination::connect(&url).await.unwrap();
        let mut conn = destination.pool.acquire().await.unwrap();
        let tx = conn.begin_with("BEGIN IMMEDIATE").await.unwrap();
        std::mem::forget(tx);
        assert!(conn.is_in_transaction());
        drop(conn);

        // Another writer gets the lock well inside its busy timeout.
        let mut other = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .busy_timeout(Duration::from_secs(20))
            .connect()
            .await
            .unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut other)
            .await
            .expect("the write lock was released");
        sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    }
}
