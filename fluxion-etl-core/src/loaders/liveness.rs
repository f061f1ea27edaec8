//! Whose is a `running` execution, and is its owner alive?
//!
//! Each opened destination has an [`Owner`]: a random key recorded in `etl_executions.owner_key`
//! of every execution it opens, and a lock that only a live process can hold.
//! - PostgreSQL: the session-level advisory lock `(OWNER_LOCK_CLASS, key)`, held by one
//!   dedicated connection for as long as the destination is open. The server releases it when
//!   that session ends, however the process ended (exit, SIGKILL, host lost).
//! - SQLite: an exclusive lock on the file `<database>.owners/<key>`, held open for as long as
//!   the destination is; the kernel releases it when the process ends.
//!
//! A lock that can be taken means its owner is gone: [`Destination::reconcile`] closes that
//! owner's running executions as `interrupted` at once, and never those of a live owner, however
//! long they run. Executions recorded before owners existed (no key) keep the age rule,
//! `[destination] stale_running_minutes`. An in-memory SQLite database is private to its
//! process and has no owner.
//!
//! If the PostgreSQL session holding the lock drops while the process lives (the server
//! restarted), the lock is taken again before the next execution opens; in between, another
//! process may close this one's running executions — their real outcome is written over that
//! when they finish.
//!
//! [`Destination::reconcile`]: super::Destination::reconcile

use std::path::{Path, PathBuf};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};

use crate::error::Result;

/// The first half of the two-integer advisory lock key ("FLUX").
pub const OWNER_LOCK_CLASS: i32 = 0x464C_5558;

/// This process's ownership of the executions it opens through one destination.
#[derive(Debug)]
pub struct Owner {
    key: i32,
    hold: Hold,
}

#[derive(Debug)]
enum Hold {
    Postgres {
        options: Box<PgConnectOptions>,
        session: tokio::sync::Mutex<Option<PgConnection>>,
    },
    File {
        dir: PathBuf,
        held: std::sync::Mutex<Option<std::fs::File>>,
    },
}

impl Owner {
    /// An owner on a PostgreSQL database (the lock is taken with the first execution).
    pub(crate) fn postgres(options: PgConnectOptions) -> Self {
        Self {
            key: random_key(),
            hold: Hold::Postgres {
                options: Box::new(options),
                session: tokio::sync::Mutex::new(None),
            },
        }
    }

    /// An owner on the SQLite file `database`.
    pub(crate) fn file(database: &Path) -> Self {
        let mut dir = database.as_os_str().to_owned();
        dir.push(".owners");
        Self {
            key: random_key(),
            hold: Hold::File {
                dir: PathBuf::from(dir),
                held: std::sync::Mutex::new(None),
            },
        }
    }

    /// This owner's key.
    pub fn key(&self) -> i64 {
        i64::from(self.key)
    }

    /// Takes the lock if it is not held (first use, or after the PostgreSQL session dropped);
    /// returns the key to record.
    pub(crate) async fn hold(&self) -> Result<i64> {
        match &self.hold {
            Hold::Postgres { options, session } => {
                let mut session = session.lock().await;
                let alive = match session.as_mut() {
                    Some(conn) => conn.ping().await.is_ok(),
                    None => false,
                };
                if !alive {
                    let mut conn = options.connect().await?;
                    sqlx::query("SELECT pg_advisory_lock($1, $2)")
                        .bind(OWNER_LOCK_CLASS)
                        .bind(self.key)
                        .execute(&mut conn)
                        .await?;
                    *session = Some(conn);
                }
            }
            Hold::File { dir, held } => {
                let mut held = held.lock().map_err(|_| poisoned())?;
                if held.is_none() {
                    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
                    let path = dir.join(self.key.to_string());
                    let file = std::fs::File::create(&path).map_err(|e| io(&path, e))?;
                    file.lock().map_err(|e| io(&path, e))?;
                    *held = Some(file);
                }
            }
        }
        Ok(self.key())
    }

    /// Whether the owner of `key` is alive (holds its lock). This owner is.
    pub(crate) async fn is_alive(&self, key: i64) -> Result<bool> {
        if key == self.key() {
            return Ok(true);
        }
        let Ok(key) = i32::try_from(key) else {
            // Not a key any owner writes: nobody can hold its lock.
            return Ok(false);
        };
        match &self.hold {
            Hold::Postgres { options, .. } => {
                let mut conn = options.connect().await?;
                let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
                    .bind(OWNER_LOCK_CLASS)
                    .bind(key)
                    .fetch_one(&mut conn)
                    .await?;
                // Closing the session releases a lock it took.
                let _ = conn.close().await;
                Ok(!taken)
            }
            Hold::File { dir, .. } => {
                let path = dir.join(key.to_string());
                let file = match std::fs::OpenOptions::new().write(true).open(&path) {
                    Ok(file) => file,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                    Err(e) => return Err(io(&path, e)),
                };
                match file.try_lock() {
                    Ok(()) => {
                        // The owner is gone; its file goes too (a new owner never reuses it).
                        let _ = std::fs::remove_file(&path);
                        Ok(false)
                    }
                    Err(std::fs::TryLockError::WouldBlock) => Ok(true),
                    Err(std::fs::TryLockError::Error(e)) => Err(io(&path, e)),
                }
            }
        }
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        let key = self.key;
        if let Hold::File { dir, held } = &mut self.hold {
            if held.get_mut().ok().and_then(Option::take).is_some() {
                let _ = std::fs::remove_file(dir.join(key.to_string()));
            }
        }
    }
}

/// A key no other live owner is likely to have (2³¹ of them; a clash only makes two processes
/// look alive while either is).
fn random_key() -> i32 {
    loop {
        let key = rand::random::<i32>();
        if key > 0 {
            return key;
        }
    }
}

fn io(path: &Path, source: std::io::Error) -> crate::error::Error {
    crate::error::Error::Io {
        context: format!("cannot hold the execution owner's lock {}", path.display()),
        source,
    }
}

fn poisoned() -> crate::error::Error {
    crate::error::Error::InvalidRequest("the execution owner's lock was poisoned".into())
}
