//! The Stellar [`Extractor`](crate::pipeline::Extractor)s: sales of a window, and a depot's
//! inventory.
//!
//! # What is asked
//! Sales take three queries: the depot's locality and name ([`depot_sql`]), the articles the
//! window's lines scanned — one row per distinct code, joined to the article, department, group
//! and subgroup as production joins every line ([`sales_articles_sql`]) — and then the lines
//! themselves, chunk by chunk ([`sales_sql`]), each completed with its article on our side (see
//! `parse.rs` for why). The articles are read on a second, short connection while the first
//! chunk of lines streams in on the first, so neither query waits for the other; lines that
//! arrive before their articles wait (at most one chunk of them). A line whose code is not among
//! the articles read (scanned after they were read) makes the articles be read again after its
//! chunk; a code that resolves to no article at all drops the line, as production's inner join
//! does, with a warning. Inventory is one query ([`inventory_sql`]), chunked the same way.
//!
//! # Reading in chunks
//! Both read their rows in chunks of `chunk_rows` (20,000 by default) with **keyset paging**:
//! each query asks for the first `chunk_rows` rows, in key order, whose key is at or after the
//! last key already received — (`c_Numero`, `n_Linea`) for sales, the article code for
//! inventory — instead of `OFFSET`, which makes the server read and discard every earlier row
//! again. A chunk that comes back shorter than asked is the last. Every value — depot, locality,
//! window bounds, chunk size, keyset bounds — is a bound parameter (`@P1`…); the only text
//! interpolated into the SQL are the configured database names, which are checked to be plain
//! identifiers first.
//!
//! The keyset bound is inclusive (`>=`), so each chunk re-reads the last row of the one before
//! and skips it. That single row buys an exact check of the line identity of `STELLAR.md`,
//! (store, receipt number, line number): two lines with the same receipt and line number — say
//! receipt numbers repeating across tills — are always seen side by side, even across a chunk
//! boundary, and fail the unit as `data_validation` instead of one of them silently replacing
//! the other in the destination. For inventory, an article with two interchange barcodes keeps
//! its first (by barcode) row.
//!
//! With `connection_per_chunk` (the default, production's habit over the VPN) every chunk gets
//! a fresh, short connection; otherwise one connection serves the whole unit. A connection
//! whose result was not read to the end is never reused.
//!
//! # Retries, resuming, and what is (not) loaded
//! A transient failure — a refused or timed-out connect, a reset mid-result, a command timeout,
//! a deadlock (1205) — is retried with exponential backoff, up to `[batch] retries` times per
//! chunk, on a fresh connection, and the retry **resumes** after the last row received: rows
//! already passed on are neither lost nor repeated, which keyset paging makes exact. Terminal
//! failures (a refused login, an unknown column, a broken row) are not retried. Whatever fails in
//! the end fails the unit: `next_batch` returns the classified error and the runner discards
//! everything of that store-window, including batches already handed over.
//!
//! # Cancellation
//! Reading runs in a task of its own that feeds batches through a channel of one, so decoding
//! the next rows overlaps the load of the previous batch. When the extractor is dropped (the run
//! was cancelled, or the store failed elsewhere) the task notices at its next step: a query in
//! flight is cancelled with an ATTENTION (`Client::cancel_query`, given two seconds), the
//! connection is closed, and the task ends. Dropping never blocks.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use tiberius::{Query, Row};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::client::{self, Failure, StellarCredentials, Target, TdsClient};
use super::parse::{
    article_from_row, item_from_row, line_from_row, select_list, Article, RowTexts, SalesScope,
    ARTICLE_COLUMNS, INVENTORY_COLUMNS, LINE_COLUMNS, LINE_TIME_EXPR,
};
use crate::config::{BatchConfig, Environment, StellarStore};
use crate::error::EtlError;
use crate::model::{Batch, InventoryItem, SaleLine, StoreId, Window};
use crate::pipeline::{ExtractStats, NetworkDiagnostics};
use crate::sources::scope::SnapshotScope;
use crate::taxonomy::{ErrorCategory, ErrorSource, Phase};

/// How long a cancelled query may take to acknowledge its ATTENTION before the connection is
/// simply closed.
const CANCEL_GRACE: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------------------------
// The queries.
// ---------------------------------------------------------------------------------------------

/// The joins from an article to its department, group and subgroup. A subgroup is identified by
/// its code *and* its group (subgroup codes repeat across groups); groups and subgroups are LEFT
/// JOINed because some articles point at ones that do not exist.
fn category_joins(db: &str) -> String {
    format!(
        "LEFT JOIN {db}.dbo.MA_DEPARTAMENTOS D ON D.C_CODIGO = P.c_Departamento\n\
         LEFT JOIN {db}.dbo.MA_GRUPOS G ON G.c_CODIGO = P.c_Grupo\n\
         LEFT JOIN {db}.dbo.MA_SUBGRUPOS SG ON SG.c_CODIGO = P.c_Subgrupo AND SG.c_GRUPO = P.c_Grupo"
    )
}

/// The `WHERE` of the sales queries: the lines of locality `@P1` whose date + time fall in
/// `[@P2, @P3)`. The date range on `f_Fecha` is redundant with the time range but lets the server
/// seek its index on the date instead of computing every line's date + time.
fn window_filter() -> String {
    format!(
        "WHERE T.c_Localidad = @P1\n  \
         AND T.f_Fecha >= CAST(@P2 AS DATE)\n  \
         AND T.f_Fecha < DATEADD(DAY, 1, CAST(@P3 AS DATE))\n  \
         AND {time} >= @P2\n  \
         AND {time} < @P3",
        time = LINE_TIME_EXPR,
    )
}

/// The sales lines query: the lines of one locality whose date + time fall in a window, in
/// (receipt, line) order, one keyset chunk at a time; each line carries the code that was
/// scanned, which [`sales_articles_sql`] resolves. `sales_database` holds the lines (VAD20).
///
/// Parameters: `@P1` the locality (`c_Localidad`), `@P2`/`@P3` the window `[from, to)` in
/// store-local time, `@P4` the chunk size; with `resume`, `@P5`/`@P6` the receipt and line
/// number the chunk starts at (inclusive: that line was the last of the previous chunk).
pub fn sales_sql(sales_database: &str, resume: bool) -> String {
    let keyset = if resume {
        "\n  AND (T.c_Numero > @P5 OR (T.c_Numero = @P5 AND T.n_Linea >= @P6))"
    } else {
        ""
    };
    format!(
        "SELECT TOP (@P4)\n{columns}\n\
         FROM {sales_database}.dbo.MA_TRANSACCION T\n\
         {filter}{keyset}\n\
         ORDER BY T.c_Numero, T.n_Linea",
        columns = select_list(&LINE_COLUMNS),
        filter = window_filter(),
    )
}

/// The articles sold in a window: every distinct code scanned by the lines of
/// [`sales_sql`], joined — as production joins each line — through `MA_CODIGOS` to the article
/// and its department, group and subgroup. `database` holds the articles (VAD10),
/// `sales_database` the lines (VAD20). Parameters: `@P1`, `@P2`, `@P3` as for [`sales_sql`].
pub fn sales_articles_sql(database: &str, sales_database: &str) -> String {
    format!(
        "SELECT DISTINCT\n{columns}\n\
         FROM {sales_database}.dbo.MA_TRANSACCION T\n\
         INNER JOIN {database}.dbo.MA_CODIGOS C ON C.c_Codigo = T.Codigo\n\
         INNER JOIN {database}.dbo.MA_PRODUCTOS P ON P.c_Codigo = C.c_CodNasa\n\
         {joins}\n\
         {filter}",
        columns = select_list(&ARTICLE_COLUMNS),
        joins = category_joins(database),
        filter = window_filter(),
    )
}

/// The inventory query: the stock rows of one depot, joined to the article, its interchange
/// barcode, the depot and the article's department, group and subgroup, keeping what production
/// keeps — active articles (`n_Activo = 1`) sold by unit (`n_TipoPeso = 0`) whose interchange
/// code is a barcode (`'BARRA'`, `nu_Intercambio = 1`), outside PROCURA (`000017`).
///
/// Parameters: `@P1` the depot, `@P2` the chunk size; with `resume`, `@P3` the article code the
/// chunk starts at (inclusive).
pub fn inventory_sql(database: &str, resume: bool) -> String {
    let keyset = if resume {
        "\n  AND P.c_Codigo >= @P3"
    } else {
        ""
    };
    format!(
        "SELECT TOP (@P2)\n{columns}\n\
         FROM {database}.dbo.MA_DEPOPROD S\n\
         INNER JOIN {database}.dbo.MA_PRODUCTOS P ON P.c_Codigo = S.c_codarticulo\n\
         INNER JOIN {database}.dbo.MA_CODIGOS C\n        \
         ON C.c_CodNasa = P.c_Codigo AND C.c_Descripcion = 'BARRA' AND C.nu_Intercambio = 1\n\
         INNER JOIN {database}.dbo.MA_DEPOSITO DP ON DP.c_coddeposito = S.c_coddeposito\n\
         {joins}\n\
         WHERE S.c_coddeposito = @P1\n  \
         AND P.n_Activo = 1\n  \
         AND P.n_TipoPeso = 0\n  \
         AND P.c_Departamento <> '000017'{keyset}\n\
         ORDER BY P.c_Codigo, C.c_Codigo",
        columns = select_list(&INVENTORY_COLUMNS),
        joins = category_joins(database),
    )
}

/// The depot's locality (what its sales lines carry in `c_Localidad`) and name. Parameter:
/// `@P1` the depot.
pub fn depot_sql(database: &str) -> String {
    format!(
        "SELECT c_codlocalidad AS localidad, c_descripcion AS nombre\n\
         FROM {database}.dbo.MA_DEPOSITO\n\
         WHERE c_coddeposito = @P1"
    )
}

/// A database name is interpolated into the SQL text (it cannot be a parameter), so it must be
/// a plain identifier.
fn checked_identifier(name: &str, key: &str, store: &StoreId) -> Result<String, EtlError> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(name.to_owned())
    } else {
        Err(EtlError::new(
            Phase::Extract,
            ErrorCategory::DbError,
            ErrorSource::StellarDb,
            format!(
                "store {store}: `{name}` ({key}) is not a plain database name (letters, digits, `_`)"
            ),
        )
        .retryable(false))
    }
}

// ---------------------------------------------------------------------------------------------
// What differs between sales and inventory.
// ---------------------------------------------------------------------------------------------

/// A converted row: the record, and whether it belongs to the unit.
struct Converted<R> {
    record: R,
    inside: bool,
}

#[async_trait]
trait Feed: Send + Sync + 'static {
    type Record: Send + 'static;
    /// Runs before every chunk, on its connection to `addr`: whatever the feed still needs
    /// before reading rows (nothing, by default).
    async fn setup(
        &mut self,
        _client: &mut TdsClient,
        _addr: SocketAddr,
        _shared: &Shared,
    ) -> Result<(), Failure> {
        Ok(())
    }
    /// The next chunk's query: from the start, or at the last key received.
    fn chunk(&self, top: i32) -> Query<'static>;
    fn convert(&mut self, row: Row, row_no: u64) -> Result<Converted<Self::Record>, Failure>;
    /// Whether the record's key is the last key received.
    fn same_key(&self, record: &Self::Record) -> bool;
    /// Makes the record's key the last key received.
    fn remember(&mut self, record: &Self::Record);
    /// A second row with the last key (not the re-read boundary row): the error it is, or
    /// `None` to drop it.
    fn duplicate(&self, record: &Self::Record) -> Option<Failure>;
    /// Completes a record of the unit into `out`, or holds it back until it can be (see
    /// [`after_chunk`](Feed::after_chunk)); may release records held back before. By default
    /// every record is complete as it is read.
    fn admit(&mut self, record: Self::Record, out: &mut Vec<Self::Record>) -> Result<(), Failure> {
        out.push(record);
        Ok(())
    }
    /// Runs after each chunk was read to the end, on the same connection; completes what
    /// [`admit`](Feed::admit) held back into `out` (nothing, by default).
    async fn after_chunk(
        &mut self,
        _client: &mut TdsClient,
        _shared: &Shared,
        _out: &mut Vec<Self::Record>,
    ) -> Result<(), Failure> {
        Ok(())
    }
    /// Where the next chunk starts, for messages.
    fn position(&self) -> Option<String>;
    fn batch(records: Vec<Self::Record>) -> Batch;
}

/// Runs a setup query to the end and returns its rows.
async fn rows_of(
    client: &mut TdsClient,
    query: Query<'static>,
    shared: &Shared,
) -> Result<Vec<Row>, Failure> {
    update(shared, |p| p.stats.requests += 1);
    let rows = async { query.query(client).await?.into_first_result().await };
    rows.await.map_err(|cause| Failure::Tds {
        cause,
        connecting: false,
    })
}

/// The articles query running on a connection of its own; aborted when dropped.
struct ArticlesJob(tokio::task::JoinHandle<Result<Vec<Row>, Failure>>);

impl Drop for ArticlesJob {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads the articles of a window on a fresh connection, which it closes.
async fn fetch_rows(
    target: Target,
    addr: SocketAddr,
    query: Query<'static>,
    shared: Shared,
) -> Result<Vec<Row>, Failure> {
    let mut diagnostics = NetworkDiagnostics::default();
    let mut client = client::connect(&target, addr, &mut diagnostics).await?;
    let rows = rows_of(&mut client, query, &shared).await?;
    client::close(client).await;
    Ok(rows)
}

struct SalesFeed {
    scope: SalesScope,
    window: Window,
    depot_sql: String,
    articles_sql: String,
    first_sql: String,
    resume_sql: String,
    locality: Option<String>,
    /// Where the articles are read from, on a connection of their own.
    target: Target,
    /// The articles being read while the first lines arrive.
    job: Option<ArticlesJob>,
    /// The extractor's counters, once set up.
    shared: Option<Shared>,
    /// Whether `articles` holds the window's articles.
    ready: bool,
    /// What each code scanned in the window resolves to.
    articles: HashMap<Arc<str>, Article>,
    /// Lines whose scanned code is not (yet) in `articles`.
    pending: Vec<SaleLine>,
    /// Lines dropped because their code resolves to no article (as production's inner join).
    unresolved: u64,
    /// The last key received: receipt and line number.
    last: Option<(Arc<str>, i32)>,
    /// The texts of the unit's lines and articles, shared (a line's scanned code is its
    /// article's key).
    texts: RowTexts,
}

impl SalesFeed {
    fn window_query(&self, sql: &str) -> Query<'static> {
        let mut q = Query::new(sql.to_owned());
        q.bind(
            self.locality
                .clone()
                .unwrap_or_else(|| self.scope.depot.to_string()),
        );
        q.bind(self.window.from);
        q.bind(self.window.to);
        q
    }

    /// Reads the depot's locality and name.
    async fn load_depot(&mut self, client: &mut TdsClient, shared: &Shared) -> Result<(), Failure> {
        let mut q = Query::new(self.depot_sql.clone());
        q.bind(self.scope.depot.to_string());
        let rows = rows_of(client, q, shared).await?;
        let depot = &self.scope.depot;
        let unknown = |what: &str| {
            Failure::Classified(
                EtlError::new(
                    Phase::Extract,
                    ErrorCategory::DbError,
                    ErrorSource::StellarDb,
                    format!(
                        "Stellar sales of {}: depot {depot} {what}",
                        self.scope.store
                    ),
                )
                .retryable(false),
            )
        };
        let Some(row) = rows.first() else {
            return Err(unknown("is not in MA_DEPOSITO"));
        };
        let text = |i: usize| -> Option<String> {
            row.try_get::<&str, _>(i)
                .ok()
                .flatten()
                .map(|s| s.trim_end().to_owned())
                .filter(|s| !s.is_empty())
        };
        let Some(locality) = text(0) else {
            return Err(unknown("has no locality (c_codlocalidad) in MA_DEPOSITO"));
        };
        self.scope.depot_name = text(1).map(Arc::from);
        self.locality = Some(locality);
        Ok(())
    }

    /// (Re)reads the articles of the window's scanned codes.
    async fn load_articles(
        &mut self,
        client: &mut TdsClient,
        shared: &Shared,
    ) -> Result<(), Failure> {
        let rows = rows_of(client, self.window_query(&self.articles_sql), shared).await?;
        self.merge_articles(rows, shared)
    }

    /// Takes the rows of the articles query into `articles`.
    fn merge_articles(&mut self, rows: Vec<Row>, shared: &Shared) -> Result<(), Failure> {
        for (i, row) in rows.into_iter().enumerate() {
            let (scanned, article) =
                article_from_row(row, i as u64 + 1, &mut self.texts).map_err(|first| {
                    update(shared, |p| p.stats.rows_rejected += 1);
                    Failure::Rows { first, rejected: 1 }
                })?;
            match self.articles.get(&scanned) {
                Some(known) if known.code != article.code => {
                    return Err(Failure::Classified(EtlError::new(
                        Phase::Transform,
                        ErrorCategory::DataValidation,
                        ErrorSource::StellarDb,
                        format!(
                            "Stellar sales of {}: the scanned code {scanned} belongs to two articles \
                             ({} and {}) in MA_CODIGOS, so its lines cannot be attributed",
                            self.scope.store, known.code, article.code
                        ),
                    )));
                }
                _ => {
                    self.articles.insert(scanned, article);
                }
            }
        }
        self.ready = true;
        Ok(())
    }

    /// Takes the articles job's result if it is done, without waiting.
    fn poll_job(&mut self) -> Result<(), Failure> {
        let done = self.job.as_ref().is_some_and(|j| j.0.is_finished());
        if !done {
            return Ok(());
        }
        let (Some(mut job), Some(shared)) = (self.job.take(), self.shared.clone()) else {
            return Ok(());
        };
        match futures::FutureExt::now_or_never(&mut job.0) {
            Some(result) => self.take_job_result(result, &shared),
            None => {
                self.job = Some(job);
                Ok(())
            }
        }
    }

    /// Waits for the articles job.
    async fn wait_job(&mut self, shared: &Shared) -> Result<(), Failure> {
        let Some(mut job) = self.job.take() else {
            return Ok(());
        };
        let result = (&mut job.0).await;
        self.take_job_result(result, shared)
    }

    fn take_job_result(
        &mut self,
        result: Result<Result<Vec<Row>, Failure>, tokio::task::JoinError>,
        shared: &Shared,
    ) -> Result<(), Failure> {
        match result {
            Ok(Ok(rows)) => {
                self.merge_articles(rows, shared)?;
                Ok(())
            }
            Ok(Err(failure)) => Err(failure),
            Err(_) => Err(Failure::Classified(EtlError::new(
                Phase::Extract,
                ErrorCategory::NetworkError,
                ErrorSource::Pipeline,
                format!(
                    "Stellar sales of {}: the articles reader stopped without finishing",
                    self.scope.store
                ),
            ))),
        }
    }

    /// Completes a line with its article into `out`, or holds it back.
    fn place(&mut self, mut line: SaleLine, out: &mut Vec<SaleLine>) {
        let article = if self.ready {
            line.barcode.as_deref().and_then(|c| self.articles.get(c))
        } else {
            None
        };
        match article {
            Some(a) => {
                a.fill(&mut line);
                out.push(line);
            }
            None => self.pending.push(line),
        }
    }

    /// Places the held-back lines again (after the articles arrived or were read again).
    ///
    /// Most of a chunk can be held back while the articles are read, and a line is a few
    /// hundred bytes: the lines are completed where they lie and the whole vector is handed
    /// on, rather than moved one by one into `out`.
    fn release(&mut self, out: &mut Vec<SaleLine>) {
        if !self.ready {
            return;
        }
        let mut held = std::mem::take(&mut self.pending);
        let mut unknown = 0usize;
        for line in &mut held {
            match line.barcode.as_deref().and_then(|c| self.articles.get(c)) {
                Some(a) => a.fill(line),
                None => unknown += 1,
            }
        }
        if unknown > 0 {
            // Codes scanned after the articles were read (rare): they stay held back.
            let (known, unknown): (Vec<SaleLine>, Vec<SaleLine>) =
                held.into_iter().partition(|l| {
                    l.barcode
                        .as_deref()
                        .is_some_and(|c| self.articles.contains_key(c))
                });
            held = known;
            self.pending = unknown;
        }
        if out.is_empty() {
            *out = held;
        } else {
            out.append(&mut held);
        }
    }
}

#[async_trait]
impl Feed for SalesFeed {
    type Record = SaleLine;

    async fn setup(
        &mut self,
        client: &mut TdsClient,
        addr: SocketAddr,
        shared: &Shared,
    ) -> Result<(), Failure> {
        if self.shared.is_none() {
            self.shared = Some(Arc::clone(shared));
        }
        if self.locality.is_none() {
            self.load_depot(client, shared).await?;
        }
        if !self.ready && self.job.is_none() {
            // The articles are read on a second connection while this one reads the first
            // lines: neither waits for the other.
            let query = self.window_query(&self.articles_sql);
            self.job = Some(ArticlesJob(tokio::spawn(fetch_rows(
                self.target.clone(),
                addr,
                query,
                Arc::clone(shared),
            ))));
        }
        Ok(())
    }

    fn chunk(&self, top: i32) -> Query<'static> {
        let sql = match self.last {
            None => &self.first_sql,
            Some(_) => &self.resume_sql,
        };
        let mut q = self.window_query(sql);
        q.bind(top);
        if let Some((numero, linea)) = &self.last {
            q.bind(numero.to_string());
            q.bind(*linea);
        }
        q
    }

    fn convert(&mut self, row: Row, row_no: u64) -> Result<Converted<SaleLine>, Failure> {
        let r = line_from_row(row, &self.scope, row_no, &mut self.texts)
            .map_err(|first| Failure::Rows { first, rejected: 1 })?;
        // The server filtered on the window already; the contract wants it exact on our side
        // whatever the server's idea of the bounds.
        Ok(Converted {
            inside: self.window.contains_local(r.local),
            record: r.line,
        })
    }

    fn same_key(&self, l: &SaleLine) -> bool {
        self.last
            .as_ref()
            .is_some_and(|(n, i)| *i == l.line_number && *n == l.invoice_number)
    }

    fn remember(&mut self, l: &SaleLine) {
        self.last = Some((Arc::clone(&l.invoice_number), l.line_number));
    }

    fn duplicate(&self, l: &SaleLine) -> Option<Failure> {
        Some(Failure::Classified(EtlError::new(
            Phase::Transform,
            ErrorCategory::DataValidation,
            ErrorSource::StellarDb,
            format!(
                "Stellar sales of {}: receipt {} has two lines numbered {} (the second at till {}); \
                 a line is identified by (store, receipt number, line number), so one would replace \
                 the other; nothing of this window is loaded",
                self.scope.store,
                l.invoice_number,
                l.line_number,
                l.till.as_deref().unwrap_or("NULL"),
            ),
        )))
    }

    fn admit(&mut self, line: SaleLine, out: &mut Vec<SaleLine>) -> Result<(), Failure> {
        if !self.ready {
            self.poll_job()?;
            if self.ready {
                self.release(out);
            }
        }
        self.place(line, out);
        Ok(())
    }

    async fn after_chunk(
        &mut self,
        client: &mut TdsClient,
        shared: &Shared,
        out: &mut Vec<SaleLine>,
    ) -> Result<(), Failure> {
        if !self.ready {
            self.wait_job(shared).await?;
        }
        self.release(out);
        if self.pending.is_empty() {
            return Ok(());
        }
        // Codes scanned after the articles were read: read them again.
        self.load_articles(client, shared).await?;
        for mut line in std::mem::take(&mut self.pending) {
            match line.barcode.as_deref().and_then(|c| self.articles.get(c)) {
                Some(a) => {
                    a.fill(&mut line);
                    out.push(line);
                }
                None => {
                    self.unresolved += 1;
                    warn!(
                        store = %self.scope.store,
                        receipt = %line.invoice_number,
                        line = line.line_number,
                        code = line.barcode.as_deref().unwrap_or(""),
                        "Stellar sales line dropped: its scanned code resolves to no article \
                         (MA_CODIGOS/MA_PRODUCTOS), as production's inner join drops it."
                    );
                }
            }
        }
        Ok(())
    }

    fn position(&self) -> Option<String> {
        self.last
            .as_ref()
            .map(|(n, i)| format!("receipt {n} line {i}"))
    }

    fn batch(records: Vec<SaleLine>) -> Batch {
        Batch::Sales(records)
    }
}

struct InventoryFeed {
    scope: SnapshotScope,
    first_sql: String,
    resume_sql: String,
    /// The last article code received.
    last: Option<Arc<str>>,
    /// The texts of the unit's rows, shared.
    texts: RowTexts,
}

#[async_trait]
impl Feed for InventoryFeed {
    type Record = InventoryItem;

    fn chunk(&self, top: i32) -> Query<'static> {
        let sql = match self.last {
            None => &self.first_sql,
            Some(_) => &self.resume_sql,
        };
        let mut q = Query::new(sql.clone());
        q.bind(self.scope.warehouse.to_string());
        q.bind(top);
        if let Some(code) = &self.last {
            q.bind(code.to_string());
        }
        q
    }

    fn convert(&mut self, row: Row, row_no: u64) -> Result<Converted<InventoryItem>, Failure> {
        let record = item_from_row(row, &self.scope, row_no, &mut self.texts)
            .map_err(|first| Failure::Rows { first, rejected: 1 })?;
        Ok(Converted {
            record,
            inside: true,
        })
    }

    fn same_key(&self, i: &InventoryItem) -> bool {
        self.last.as_deref() == Some(&*i.product_code)
    }

    fn remember(&mut self, i: &InventoryItem) {
        self.last = Some(Arc::clone(&i.product_code));
    }

    fn duplicate(&self, _i: &InventoryItem) -> Option<Failure> {
        // A second interchange barcode of the same article: the first one (by barcode) stays.
        None
    }

    fn position(&self) -> Option<String> {
        self.last.as_ref().map(|c| format!("article {c}"))
    }

    fn batch(records: Vec<InventoryItem>) -> Batch {
        Batch::Inventory(records)
    }
}

// ---------------------------------------------------------------------------------------------
// The reading task.
// ---------------------------------------------------------------------------------------------

/// What the reading task sends.
enum Msg {
    Batch(Batch),
    Done,
    Failed(EtlError),
}

/// Counters and diagnostics, shared between the task and the extractor.
#[derive(Default)]
struct Progress {
    stats: ExtractStats,
    diagnostics: Option<NetworkDiagnostics>,
}

type Shared = Arc<Mutex<Progress>>;

fn update(shared: &Shared, f: impl FnOnce(&mut Progress)) {
    // A poisoned lock only means a panic elsewhere while counting; the counters are still usable.
    let mut p = shared.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut p);
}

/// Why the task stopped early.
enum Stop {
    /// The extractor was dropped: nobody is listening.
    Gone,
    /// A failure, to be classified (or retried).
    Failed(Failure),
}

impl From<Failure> for Stop {
    fn from(f: Failure) -> Self {
        Stop::Failed(f)
    }
}

/// How a chunk ended.
#[derive(Debug, PartialEq, Eq)]
enum ChunkEnd {
    /// It was full: there may be more.
    Full,
    /// It was short: the unit is complete.
    Last,
}

/// Runs `fut` unless the extractor goes away first.
async fn or_gone<T>(tx: &mpsc::Sender<Msg>, fut: impl Future<Output = T>) -> Result<T, Stop> {
    tokio::select! {
        biased;
        out = fut => Ok(out),
        _ = tx.closed() => Err(Stop::Gone),
    }
}

/// The first `size` records of `buf`, leaving the rest in a buffer ready for the next batch.
fn take_batch<R>(buf: &mut Vec<R>, size: usize) -> Vec<R> {
    let mut rest = buf.split_off(size.min(buf.len()));
    rest.reserve(size.min(16_384).saturating_sub(rest.len()));
    std::mem::replace(buf, rest)
}

/// Cancels what a connection is doing (bounded) and closes it.
async fn abandon(mut client: TdsClient) {
    let _ = tokio::time::timeout(CANCEL_GRACE, client.cancel_query()).await;
}

struct Engine<F: Feed> {
    feed: F,
    target: Target,
    /// "Stellar sales of cedi_seco (depot 1413) [window]", for messages.
    context: String,
    store: StoreId,
    what: &'static str,
    top: i32,
    connection_per_chunk: bool,
    batch_size: usize,
    retries: u32,
    retry_delay: Duration,
    shared: Shared,
    tx: mpsc::Sender<Msg>,
}

/// Mutable state of one run of the engine.
struct Cursor<R> {
    client: Option<TdsClient>,
    addr: Option<SocketAddr>,
    buf: Vec<R>,
    /// Rows received so far (the position of the next row is `rows + 1`).
    rows: u64,
    /// The next chunk starts with the last row received; skip it once.
    skip_boundary: bool,
    kept: u64,
    outside: u64,
    duplicates: u64,
}

impl<F: Feed> Engine<F> {
    async fn run(mut self) {
        let mut cur = Cursor {
            client: None,
            addr: None,
            buf: Vec::with_capacity(self.batch_size.min(16_384)),
            rows: 0,
            skip_boundary: false,
            kept: 0,
            outside: 0,
            duplicates: 0,
        };
        let outcome = self.drive(&mut cur).await;
        let msg = match outcome {
            Ok(()) => {
                info!(
                    store = %self.store,
                    what = self.what,
                    rows = cur.kept,
                    outside_window = cur.outside,
                    duplicates = cur.duplicates,
                    queries = self.shared.lock().map(|p| p.stats.requests).unwrap_or_default(),
                    "Stellar extract finished."
                );
                Msg::Done
            }
            Err(Stop::Gone) => {
                if let Some(client) = cur.client.take() {
                    abandon(client).await;
                }
                debug!(store = %self.store, what = self.what, "Stellar extract abandoned.");
                return;
            }
            Err(Stop::Failed(f)) => {
                let peer = cur.addr.map(|a| a.ip());
                Msg::Failed(f.into_error(peer, &self.context_now(), 1))
            }
        };
        if let Some(client) = cur.client.take() {
            client::close(client).await;
        }
        let _ = self.tx.send(msg).await;
    }

    fn context_now(&self) -> String {
        match self.feed.position() {
            Some(p) => format!("{}, chunk at {p}", self.context),
            None => self.context.clone(),
        }
    }

    async fn drive(&mut self, cur: &mut Cursor<F::Record>) -> Result<(), Stop> {
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            match self.chunk(cur).await {
                Ok(ChunkEnd::Full) => attempts = 0,
                Ok(ChunkEnd::Last) => break,
                Err(Stop::Gone) => return Err(Stop::Gone),
                Err(Stop::Failed(failure)) => {
                    // Never reuse a connection whose result was not read to the end.
                    if let Some(client) = cur.client.take() {
                        drop(client);
                    }
                    update(&self.shared, |p| p.stats.errors += 1);
                    let peer = cur.addr.map(|a| a.ip());
                    let (category, transient) = failure.classify(peer);
                    if transient && attempts <= self.retries {
                        let delay = client::backoff(self.retry_delay, attempts);
                        warn!(
                            store = %self.store,
                            what = self.what,
                            attempt = attempts,
                            %category,
                            delay_ms = delay.as_millis() as u64,
                            at = self.feed.position().as_deref().unwrap_or("the start"),
                            "Stellar query failed; retrying from the last row received."
                        );
                        or_gone(&self.tx, tokio::time::sleep(delay)).await?;
                        continue;
                    }
                    return Err(Stop::Failed(Failure::Classified(failure.into_error(
                        peer,
                        &self.context_now(),
                        attempts,
                    ))));
                }
            }
        }
        if !cur.buf.is_empty() {
            let batch = std::mem::take(&mut cur.buf);
            cur.kept += batch.len() as u64;
            self.send(F::batch(batch)).await?;
        }
        Ok(())
    }

    async fn send(&self, batch: Batch) -> Result<(), Stop> {
        self.tx
            .send(Msg::Batch(batch))
            .await
            .map_err(|_| Stop::Gone)
    }

    /// Opens a connection if there is none.
    async fn connection<'c>(
        &self,
        slot: &'c mut Option<TdsClient>,
        addr: &mut Option<SocketAddr>,
    ) -> Result<&'c mut TdsClient, Stop> {
        if slot.is_none() {
            let resolved = match *addr {
                Some(a) => a,
                None => {
                    let a = or_gone(&self.tx, client::resolve(&self.target)).await??;
                    *addr = Some(a);
                    a
                }
            };
            let mut diagnostics = NetworkDiagnostics::default();
            let connected = or_gone(
                &self.tx,
                client::connect(&self.target, resolved, &mut diagnostics),
            )
            .await;
            update(&self.shared, |p| p.diagnostics = Some(diagnostics));
            *slot = Some(connected??);
        }
        slot.as_mut().ok_or(Stop::Gone)
    }

    /// Runs one chunk: connect if needed, set up once, query, pass the rows on.
    async fn chunk(&mut self, cur: &mut Cursor<F::Record>) -> Result<ChunkEnd, Stop> {
        {
            let client = self.connection(&mut cur.client, &mut cur.addr).await?;
            let addr = cur.addr.ok_or(Stop::Gone)?;
            or_gone(&self.tx, self.feed.setup(client, addr, &self.shared)).await??;
        }
        let query = self.feed.chunk(self.top);
        cur.skip_boundary = self.feed.position().is_some();
        let top = self.top;
        let batch_size = self.batch_size;
        update(&self.shared, |p| p.stats.requests += 1);

        // Borrow the fields one by one: the stream borrows the connection while rows are
        // converted by the feed and batches go out through the channel.
        let client = self.connection(&mut cur.client, &mut cur.addr).await?;
        let stream = match or_gone(&self.tx, query.query(client)).await? {
            Ok(s) => s,
            Err(cause) => {
                return Err(Stop::Failed(Failure::Tds {
                    cause,
                    connecting: false,
                }))
            }
        };
        let mut rows = stream.into_row_stream();
        let closed = self.tx.closed();
        tokio::pin!(closed);
        let mut received: i64 = 0;
        let mut broken: Option<Failure> = None;
        let mut rejected = 0u64;
        loop {
            let item = tokio::select! {
                biased;
                item = rows.next() => item,
                _ = &mut closed => return Err(Stop::Gone),
            };
            let row = match item {
                None => break,
                Some(Ok(row)) => row,
                Some(Err(cause)) => {
                    return Err(Stop::Failed(broken.unwrap_or(Failure::Tds {
                        cause,
                        connecting: false,
                    })))
                }
            };
            received += 1;
            cur.rows += 1;
            if broken.is_some() {
                // The unit fails anyway; read on only to count the broken rows of the chunk.
                if self.feed.convert(row, cur.rows).is_err() {
                    rejected += 1;
                    update(&self.shared, |p| p.stats.rows_rejected += 1);
                }
                continue;
            }
            let converted = match self.feed.convert(row, cur.rows) {
                Ok(c) => c,
                Err(f) => {
                    rejected += 1;
                    update(&self.shared, |p| p.stats.rows_rejected += 1);
                    broken = Some(f);
                    continue;
                }
            };
            if self.feed.same_key(&converted.record) {
                if std::mem::take(&mut cur.skip_boundary) {
                    // The last row of the previous chunk, read again.
                    continue;
                }
                match self.feed.duplicate(&converted.record) {
                    Some(f) => return Err(Stop::Failed(f)),
                    None => {
                        cur.duplicates += 1;
                        continue;
                    }
                }
            }
            cur.skip_boundary = false;
            self.feed.remember(&converted.record);
            if !converted.inside {
                cur.outside += 1;
                continue;
            }
            self.feed
                .admit(converted.record, &mut cur.buf)
                .map_err(Stop::Failed)?;
            while cur.buf.len() >= batch_size {
                let batch = take_batch(&mut cur.buf, batch_size);
                cur.kept += batch.len() as u64;
                self.tx
                    .send(Msg::Batch(F::batch(batch)))
                    .await
                    .map_err(|_| Stop::Gone)?;
            }
        }
        drop(rows);
        if let Some(Failure::Rows { first, .. }) = broken {
            return Err(Stop::Failed(Failure::Rows { first, rejected }));
        }
        if let Some(f) = broken {
            return Err(Stop::Failed(f));
        }
        debug!(
            store = %self.store,
            what = self.what,
            rows = received,
            at = self.feed.position().as_deref().unwrap_or("the start"),
            "Stellar chunk read."
        );
        let client = self.connection(&mut cur.client, &mut cur.addr).await?;
        or_gone(
            &self.tx,
            self.feed.after_chunk(client, &self.shared, &mut cur.buf),
        )
        .await??;
        while cur.buf.len() >= batch_size {
            let batch = take_batch(&mut cur.buf, batch_size);
            cur.kept += batch.len() as u64;
            self.send(F::batch(batch)).await?;
        }
        if self.connection_per_chunk {
            if let Some(client) = cur.client.take() {
                client::close(client).await;
            }
        }
        Ok(if received < i64::from(top) {
            ChunkEnd::Last
        } else {
            ChunkEnd::Full
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The extractors.
// ---------------------------------------------------------------------------------------------

/// The extractor side of the reading task.
struct Handle<F: Feed> {
    engine: Option<Engine<F>>,
    rx: mpsc::Receiver<Msg>,
    shared: Shared,
    finished: bool,
    store: StoreId,
}

/// Where and how a store's server is reached.
fn target_of(
    stellar: &StellarStore,
    environment: Environment,
    credentials: StellarCredentials,
    batch: &BatchConfig,
    command_timeout: Duration,
) -> Target {
    Target {
        host: stellar.host.for_env(environment).to_owned(),
        port: stellar.port,
        database: stellar.database.clone(),
        encryption: stellar.encrypt.for_env(environment),
        credentials,
        connect_timeout: batch.connect_timeout(),
        command_timeout,
    }
}

impl<F: Feed> Handle<F> {
    fn new(
        feed: F,
        store: StoreId,
        stellar: &StellarStore,
        target: Target,
        batch: &BatchConfig,
        context: String,
        what: &'static str,
    ) -> Self {
        let (tx, rx) = mpsc::channel(1);
        let shared = Shared::default();
        // At least two rows per chunk: each chunk re-reads the last row of the one before.
        let top = i32::try_from(stellar.chunk_rows.max(2)).unwrap_or(i32::MAX);
        let engine = Engine {
            feed,
            target,
            context,
            store: store.clone(),
            what,
            top,
            connection_per_chunk: stellar.connection_per_chunk,
            batch_size: batch.batch_size.max(1),
            retries: batch.retries,
            retry_delay: batch.retry_delay(),
            shared: Arc::clone(&shared),
            tx,
        };
        Self {
            engine: Some(engine),
            rx,
            shared,
            finished: false,
            store,
        }
    }

    async fn next_batch(&mut self) -> Result<Option<Batch>, EtlError> {
        if self.finished {
            return Ok(None);
        }
        if let Some(engine) = self.engine.take() {
            // Connections are opened lazily: the task starts with the first batch asked for.
            tokio::spawn(engine.run());
        }
        match self.rx.recv().await {
            Some(Msg::Batch(b)) => Ok(Some(b)),
            Some(Msg::Done) => {
                self.finished = true;
                Ok(None)
            }
            Some(Msg::Failed(e)) => {
                self.finished = true;
                Err(e)
            }
            None => {
                self.finished = true;
                Err(EtlError::new(
                    Phase::Extract,
                    ErrorCategory::NetworkError,
                    ErrorSource::Pipeline,
                    format!(
                        "the Stellar reader of {} stopped without finishing (it panicked)",
                        self.store
                    ),
                ))
            }
        }
    }

    fn stats(&self) -> ExtractStats {
        self.shared.lock().map(|p| p.stats).unwrap_or_default()
    }

    fn diagnostics(&self) -> Option<NetworkDiagnostics> {
        self.shared.lock().ok().and_then(|p| p.diagnostics.clone())
    }
}

public_extractor! {
    /// Extracts a Stellar location's sales lines over a window (store-local, half-open) from
    /// `MA_TRANSACCION`, in keyset chunks. See the [module docs](crate::sources::stellar).
    StellarSalesExtractor(Handle<SalesFeed>)
}

impl StellarSalesExtractor {
    /// Prepares the extraction of `store`'s lines in `window`, on the host `environment`
    /// selects, logging in with `credentials`. Checks the configuration; does not connect.
    pub fn new(
        store: StoreId,
        stellar: &StellarStore,
        environment: Environment,
        credentials: StellarCredentials,
        window: Window,
        batch: &BatchConfig,
    ) -> Result<Self, EtlError> {
        let database = checked_identifier(&stellar.database, "database", &store)?;
        let sales_database = checked_identifier(&stellar.sales_database, "sales_database", &store)?;
        let target = target_of(
            stellar,
            environment,
            credentials,
            batch,
            batch.request_timeout(),
        );
        let feed = SalesFeed {
            scope: SalesScope {
                store: store.clone(),
                depot: stellar.depot.as_str().into(),
                depot_name: None,
            },
            window,
            depot_sql: depot_sql(&database),
            articles_sql: sales_articles_sql(&database, &sales_database),
            first_sql: sales_sql(&sales_database, false),
            resume_sql: sales_sql(&sales_database, true),
            locality: None,
            target: target.clone(),
            job: None,
            shared: None,
            ready: false,
            articles: HashMap::new(),
            pending: Vec::new(),
            unresolved: 0,
            last: None,
            texts: RowTexts::default(),
        };
        let context = format!(
            "Stellar sales of {store} (depot {}) {window}",
            stellar.depot
        );
        Ok(Self {
            inner: Handle::new(feed, store, stellar, target, batch, context, "sales"),
        })
    }
}

public_extractor! {
    /// Extracts the inventory of a Stellar depot (`MA_DEPOPROD` with the filters of
    /// production), in keyset chunks. See the [module docs](crate::sources::stellar).
    StellarInventoryExtractor(Handle<InventoryFeed>)
}

impl StellarInventoryExtractor {
    /// Prepares the snapshot of `store`'s depot taken at `snapshot_at`, on the host
    /// `environment` selects, logging in with `credentials`. Checks the configuration; does
    /// not connect.
    pub fn new(
        store: StoreId,
        stellar: &StellarStore,
        environment: Environment,
        credentials: StellarCredentials,
        snapshot_at: DateTime<Utc>,
        batch: &BatchConfig,
    ) -> Result<Self, EtlError> {
        let database = checked_identifier(&stellar.database, "database", &store)?;
        let feed = InventoryFeed {
            scope: SnapshotScope {
                store: store.clone(),
                warehouse: stellar.depot.as_str().into(),
                snapshot_at,
            },
            first_sql: inventory_sql(&database, false),
            resume_sql: inventory_sql(&database, true),
            last: None,
            texts: RowTexts::default(),
        };
        let context = format!("Stellar inventory of {store} (depot {})", stellar.depot);
        Ok(Self {
            inner: Handle::new(
                feed,
                store,
                stellar,
                target_of(
                    stellar,
                    environment,
                    credentials,
                    batch,
                    batch.inventory_timeout(),
                ),
                batch,
                context,
                "inventory",
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_a_parameter() {
        let first = sales_sql("VAD20", false);
        let resume = sales_sql("VAD20", true);
        assert!(
            first.contains("FROM VAD20.dbo.MA_TRANSACCION T\nWHERE T.c_Localidad = @P1"),
            "{first}"
        );
        assert!(first.contains("AND T.f_Fecha >= CAST(@P2 AS DATE)"));
        assert!(!first.contains("@P5"));
        let articles = sales_articles_sql("VAD10", "VAD20");
        assert!(
            articles.starts_with("SELECT DISTINCT\n    T.Codigo AS codigo_escaneado,"),
            "{articles}"
        );
        assert!(articles.contains("INNER JOIN VAD10.dbo.MA_CODIGOS C ON C.c_Codigo = T.Codigo"));
        assert!(articles.contains("LEFT JOIN VAD10.dbo.MA_SUBGRUPOS SG ON SG.c_CODIGO = P.c_Subgrupo AND SG.c_GRUPO = P.c_Grupo"));
        assert!(articles.ends_with(
            first
                .split_once("\nWHERE")
                .unwrap()
                .1
                .split("\nORDER")
                .next()
                .unwrap()
        ));
        assert!(
            resume.contains("T.c_Numero = @P5 AND T.n_Linea >= @P6"),
            "{resume}"
        );
        for sql in [&first, &resume] {
            assert!(sql.starts_with("SELECT TOP (@P4)"));
            assert!(sql.ends_with("ORDER BY T.c_Numero, T.n_Linea"));
            assert!(!sql.contains("OFFSET"));
        }
        let inv = inventory_sql("VAD10", true);
        assert!(inv.contains("WHERE S.c_coddeposito = @P1"));
        assert!(inv.contains("AND P.c_Codigo >= @P3"));
        assert!(inv.contains("C.c_Descripcion = 'BARRA' AND C.nu_Intercambio = 1"));
        assert!(inv.contains("P.c_Departamento <> '000017'"));
        assert!(inv.contains("THEN 'CANASTA BASICA'"));
        assert!(depot_sql("VAD10").contains("WHERE c_coddeposito = @P1"));
    }

    #[test]
    fn lines_get_their_article_or_wait_for_it() {
        let window = Window::day(chrono::NaiveDate::from_ymd_opt(2025, 11, 17).unwrap()).unwrap();
        let mut feed = SalesFeed {
            scope: SalesScope {
                store: StoreId::new("cedi_seco"),
                depot: "1413".into(),
                depot_name: None,
            },
            window,
            depot_sql: String::new(),
            articles_sql: String::new(),
            first_sql: String::new(),
            resume_sql: String::new(),
            locality: Some("1413".into()),
            target: target_of(
                &crate::config::StellarStore {
                    host: crate::config::HostByEnvironment {
                        local: "127.0.0.1".into(),
                        production: None,
                    },
                    port: 1433,
                    database: "VAD10".into(),
                    sales_database: "VAD20".into(),
                    depot: "1413".into(),
                    user_env: "U".into(),
                    password_env: "P".into(),
                    encrypt: Default::default(),
                    chunk_rows: 20_000,
                    connection_per_chunk: true,
                },
                Environment::Local,
                StellarCredentials::new("u", "p"),
                &BatchConfig::default(),
                Duration::from_secs(1),
            ),
            job: None,
            shared: None,
            ready: true,
            articles: HashMap::from([(
                "7591".into(),
                Article {
                    code: "000042".into(),
                    brand: Some("LA GRANJA".into()),
                    ..Article::default()
                },
            )]),
            pending: Vec::new(),
            unresolved: 0,
            last: None,
            texts: RowTexts::default(),
        };
        let line = |code: &str| SaleLine {
            invoice_number: "1".into(),
            barcode: Some(code.into()),
            ..SaleLine::default()
        };
        let mut out = Vec::new();
        feed.admit(line("7591"), &mut out).unwrap();
        let known = out.pop().unwrap();
        assert_eq!(&*known.product_code, "000042");
        assert_eq!(known.brand.as_deref(), Some("LA GRANJA"));
        assert_eq!(known.barcode.as_deref(), Some("7591"));
        feed.admit(line("9999"), &mut out).unwrap();
        assert!(out.is_empty());
        assert_eq!(feed.pending.len(), 1);
        // Before the articles arrive, every line waits; they are released once they did.
        feed.ready = false;
        feed.admit(line("7591"), &mut out).unwrap();
        assert!(out.is_empty());
        feed.ready = true;
        feed.release(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(&*out[0].product_code, "000042");
        assert_eq!(feed.pending.len(), 1);
        // Released lines follow the ones already passed on, in the order they arrived.
        feed.ready = false;
        let mut second = line("7591");
        second.line_number = 2;
        feed.admit(second, &mut out).unwrap();
        feed.ready = true;
        feed.release(&mut out);
        assert_eq!(
            out.iter().map(|l| l.line_number).collect::<Vec<_>>(),
            vec![0, 2]
        );
        assert_eq!(&*out[1].product_code, "000042");
        assert_eq!(feed.pending.len(), 1);
        out.truncate(1);
        // The keyset position and duplicates.
        assert!(!feed.same_key(&known));
        feed.remember(&known);
        assert!(feed.same_key(&line("other code")));
        assert_eq!(feed.position().as_deref(), Some("receipt 1 line 0"));
        let Some(Failure::Classified(e)) = feed.duplicate(&known) else {
            panic!("a repeated line is an error");
        };
        assert_eq!(e.category(), ErrorCategory::DataValidation);
        assert!(
            e.message().contains("receipt 1 has two lines numbered 0"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn database_names_must_be_identifiers() {
        let store = StoreId::new("cedi_seco");
        assert!(checked_identifier("VAD10", "database", &store).is_ok());
        assert!(checked_identifier("_x9", "database", &store).is_ok());
        for bad in ["", "9VAD", "VAD10;DROP", "VAD 10", "[VAD10]", "VAD10.dbo"] {
            let e = checked_identifier(bad, "sales_database", &store).unwrap_err();
            assert!(!e.is_retryable());
            assert!(e.message().contains("sales_database"), "{}", e.message());
        }
    }
}
