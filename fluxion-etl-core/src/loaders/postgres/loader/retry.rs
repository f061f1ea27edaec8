//! Retries of a unit's finish: deadlocks, serialization failures, lock timeouts and lost
//! connections are retried with backoff from the spill, on a fresh transaction — or a fresh
//! connection, with the lease taken again.

use std::time::Duration;

use sqlx::{Connection, PgConnection};

use super::{exec, try_lease, PgSession};
use crate::error::EtlError;
use crate::pipeline::LoadStats;
use crate::taxonomy::{ErrorCategory, ErrorSource, Phase};
use crate::tracker::StoreDetail;

/// Attempts of a unit's merge before its failure is reported.
pub const MAX_ATTEMPTS: u32 = 5;

impl PgSession {
    /// [`finish_once`](PgSession::finish_once), retried while the failure is retryable.
    pub(super) async fn finish_retrying(
        &mut self,
        detail: &StoreDetail,
    ) -> Result<LoadStats, EtlError> {
        let mut attempt = 1;
        loop {
            match self.finish_once(detail).await {
                Ok(stats) => {
                    self.release().await;
                    return Ok(stats);
                }
                Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => {
                    tracing::warn!(store = %self.unit.store, attempt, category = %e.category(), "Load failed; retrying: {}", e.message());
                    self.reset(&e).await;
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(e) => {
                    self.reset(&e).await;
                    return Err(e);
                }
            }
        }
    }

    /// Returns the session's connection, opening a new one (and taking the lease again) after
    /// the old one was lost.
    pub(super) async fn connection(&mut self) -> Result<&mut PgConnection, EtlError> {
        if self.conn.is_none() {
            let mut conn = self.loader.connect().await?;
            if let Some(key) = self.lease {
                if !try_lease(&mut conn, key, "cannot take the store's lease again").await? {
                    let _ = conn.close().await;
                    return Err(EtlError::new(
                        Phase::Load,
                        ErrorCategory::PgConnection,
                        ErrorSource::Postgresql,
                        format!(
                            "lost the lease of {} {} with the connection, and another run took it",
                            self.unit.store,
                            self.unit.kind()
                        ),
                    ));
                }
            }
            self.conn = Some(conn);
        }
        self.conn()
    }

    /// What a failed attempt leaves behind is cleaned up before the next one.
    async fn reset(&mut self, error: &EtlError) {
        let closed = self.close_stream().await;
        let lost = error.category() == ErrorCategory::PgConnection
            || (closed.is_err() && self.conn.is_none());
        self.direct = None;
        if lost {
            self.conn = None;
        } else if let Some(conn) = self.conn.as_mut() {
            if exec(conn, "ROLLBACK", "cannot roll back").await.is_err() {
                self.conn = None;
            }
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64 << attempt.min(3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) < backoff(2));
        assert_eq!(backoff(3), backoff(10));
    }
}
