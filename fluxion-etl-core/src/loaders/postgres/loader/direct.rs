//! The direct COPY of a first load: a sales window that holds no rows when the unit opens gets
//! a transaction at once, and each batch is COPYed into `sales_lines` by a task of its own while
//! the next one is extracted; `finish` commits once the window holds exactly the rows copied.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use tokio::sync::mpsc;

use super::{exec, load_err, window_aggregate, PgSession};
use crate::error::EtlError;
use crate::loaders::classify_load_error;
use crate::loaders::postgres::copy::CopyFormat;
use crate::pipeline::{LoadScope, LoadStats};
use crate::taxonomy::{ErrorCategory, ErrorSource};
use crate::tracker::StoreDetail;

/// A direct load's COPY, streamed by its own task so the server parses one batch while the
/// loader hashes and encodes the next (with one COPY per batch, awaited, the two would take
/// turns on a two-core machine).
pub(super) struct DirectStream {
    chunks: mpsc::Sender<Vec<u8>>,
    task: tokio::task::JoinHandle<(PgConnection, Result<u64, sqlx::Error>)>,
}

impl DirectStream {
    fn start(mut conn: PgConnection, statement: String, format: CopyFormat) -> Self {
        let (chunks, mut rx) = mpsc::channel::<Vec<u8>>(2);
        let task = tokio::spawn(async move {
            let result = stream_copy(&mut conn, &statement, format, &mut rx).await;
            (conn, result)
        });
        Self { chunks, task }
    }

    /// Ends the COPY: the rows it loaded, and the connection back (none if the task died).
    async fn close(self) -> (Option<PgConnection>, Result<u64, sqlx::Error>) {
        drop(self.chunks);
        match self.task.await {
            Ok((conn, result)) => (Some(conn), result),
            Err(e) => (
                None,
                Err(sqlx::Error::Protocol(format!(
                    "the COPY task ended abnormally: {e}"
                ))),
            ),
        }
    }
}

async fn stream_copy(
    conn: &mut PgConnection,
    statement: &str,
    format: CopyFormat,
    chunks: &mut mpsc::Receiver<Vec<u8>>,
) -> Result<u64, sqlx::Error> {
    let mut copy = conn.copy_in_raw(statement).await?;
    copy.send(format.header()).await?;
    while let Some(chunk) = chunks.recv().await {
        copy.send(chunk).await?;
    }
    copy.send(format.trailer()).await?;
    copy.finish().await
}

impl PgSession {
    /// Opens a direct-COPY transaction when the window holds no rows yet.
    pub(super) async fn open_direct(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(), EtlError> {
        let store = self.unit.store.as_str().to_owned();
        let conn = self.conn()?;
        exec(conn, "BEGIN", "cannot start a transaction").await?;
        let (occupied,): (bool,) = window_aggregate(
            conn,
            "SELECT EXISTS (SELECT 1 FROM sales_lines WHERE store_id = $1 AND sold_at >= $2 AND sold_at < $3)",
            &store,
            (from, to),
            "cannot look at the window's rows",
        )
        .await?;
        if occupied {
            exec(conn, "ROLLBACK", "cannot end a transaction").await?;
        } else {
            self.direct = Some(0);
        }
        Ok(())
    }

    /// Ends the direct COPY in flight, if any, and takes its connection back; returns the
    /// rows it loaded.
    pub(super) async fn close_stream(&mut self) -> Result<u64, sqlx::Error> {
        let Some(stream) = self.stream.take() else {
            return Ok(0);
        };
        let (conn, result) = stream.close().await;
        self.conn = conn;
        let rows = result?;
        if let Some(copied) = self.direct.as_mut() {
            *copied += rows;
        }
        Ok(rows)
    }

    /// Sends encoded rows to the direct COPY, starting it with the first batch.
    pub(super) async fn send_direct(&mut self, bytes: Vec<u8>) -> Result<(), sqlx::Error> {
        if self.stream.is_none() {
            let Some(conn) = self.conn.take() else {
                return Err(sqlx::Error::Protocol(
                    "the direct COPY lost its connection".into(),
                ));
            };
            let statement = format!(
                "COPY {} ({}) FROM STDIN WITH {}",
                self.table.target,
                self.table.copy_columns(),
                self.loader.format.clause()
            );
            self.stream = Some(DirectStream::start(conn, statement, self.loader.format));
        }
        let sent = match self.stream.as_ref() {
            Some(stream) => stream.chunks.send(bytes).await.is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The COPY task stopped: its result says why.
        self.close_stream().await.and_then(|_| {
            Err(sqlx::Error::Protocol(
                "the direct COPY stopped early".into(),
            ))
        })
    }

    /// Leaves direct mode: the rows stay in the spill and `finish` merges them the general way.
    pub(super) async fn abandon_direct(&mut self, lost_connection: bool) {
        let closed = self.close_stream().await;
        let lost_connection = lost_connection
            || closed.is_err_and(|e| {
                classify_load_error(e, ErrorSource::Postgresql, "").category()
                    == ErrorCategory::PgConnection
            });
        if self.direct.take().is_some() {
            if lost_connection {
                self.conn = None;
            } else if let Some(conn) = self.conn.as_mut() {
                if exec(conn, "ROLLBACK", "cannot roll back").await.is_err() {
                    self.conn = None;
                }
            }
        }
    }

    /// Completes a direct COPY: `None` when the window holds rows the COPY did not write.
    pub(super) async fn finish_direct(
        &mut self,
        copied: u64,
        detail: &StoreDetail,
    ) -> Result<Option<LoadStats>, EtlError> {
        let LoadScope::SalesWindow(w) = self.unit.scope.clone() else {
            return Ok(None);
        };
        let store = self.unit.store.as_str().to_owned();
        let conn = self.conn()?;
        let present: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sales_lines WHERE store_id = $1 AND sold_at >= $2 AND sold_at < $3",
        )
        .bind(&store)
        .bind(w.from_utc())
        .bind(w.to_utc())
        .fetch_one(&mut *conn)
        .await
        .map_err(load_err("cannot count the window's rows"))?;
        if present as u64 != copied {
            return Ok(None);
        }
        let stats = LoadStats {
            received: self.received,
            inserted: copied,
            ..LoadStats::default()
        };
        self.commit(detail, stats).await.map(Some)
    }
}
