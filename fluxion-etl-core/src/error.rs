//! Errors at the library's boundary.
//!
//! [`EtlError`] is a failure of one store's pipeline: it answers [`phase`](EtlError::phase),
//! [`category`](EtlError::category) and [`is_retryable`](EtlError::is_retryable), decided once
//! when it is built from a typed cause, and its message is already sanitized. [`Error`] is what
//! the library's other operations (configuration, migrations, history queries) return.

use std::error::Error as StdError;
use std::fmt;

use crate::config::{ConfigError, UnknownStore};
use crate::taxonomy::{classify_sqlite_code, classify_sqlstate, sanitize};
use crate::taxonomy::{ErrorCategory, ErrorSource, Phase};

type Cause = Box<dyn StdError + Send + Sync + 'static>;

/// A classified failure of one store's extract, transform or load.
///
/// The message is sanitized on construction; the typed cause is kept as the error's
/// [`source`](StdError::source) for logs and debugging. Callers who print the source chain must
/// sanitize it too (the `fluxion` binaries do).
#[derive(Debug)]
pub struct EtlError {
    phase: Phase,
    category: ErrorCategory,
    source_system: ErrorSource,
    retryable: bool,
    message: String,
    cause: Option<Cause>,
}

impl EtlError {
    /// Builds an error whose retry hint is the category's default.
    pub fn new(
        phase: Phase,
        category: ErrorCategory,
        source_system: ErrorSource,
        message: impl AsRef<str>,
    ) -> Self {
        Self {
            phase,
            category,
            source_system,
            retryable: category.is_retryable(),
            message: sanitize(message.as_ref()),
            cause: None,
        }
    }

    /// Attaches the typed cause; its sanitized text is appended to the message.
    pub fn with_cause(mut self, cause: impl Into<Cause>) -> Self {
        let cause = cause.into();
        let mut text = cause.to_string();
        let mut next = cause.source();
        while let Some(inner) = next {
            let s = inner.to_string();
            if !text.contains(&s) {
                text.push_str(": ");
                text.push_str(&s);
            }
            next = inner.source();
        }
        if !text.is_empty() {
            self.message = format!("{}: {}", self.message, sanitize(&text));
        }
        self.cause = Some(cause);
        self
    }

    /// Overrides the retry hint. A cause can make a normally retryable category terminal (a
    /// SQL syntax error is `db_error` but retrying it cannot help), never the other way round
    /// for terminal categories.
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable && self.category.is_retryable();
        self
    }

    /// Moves the error to another phase (a truncated body is detected while extracting, but
    /// the taxonomy counts malformed data as a transform failure).
    pub fn in_phase(mut self, phase: Phase) -> Self {
        self.phase = phase;
        self
    }

    /// An `interrupted` failure: the run was stopped before the store finished.
    pub fn interrupted(phase: Phase, message: impl AsRef<str>) -> Self {
        Self::new(
            phase,
            ErrorCategory::Interrupted,
            ErrorSource::Pipeline,
            message,
        )
    }

    /// The phase in which the failure happened.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The taxonomy category.
    pub fn category(&self) -> ErrorCategory {
        self.category
    }

    /// The system the error came from.
    pub fn source_system(&self) -> ErrorSource {
        self.source_system
    }

    /// Whether retrying the store can help.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// The sanitized message, as stored and served.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for EtlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} failed ({}): {}",
            self.phase, self.category, self.message
        )
    }
}

impl StdError for EtlError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.cause
            .as_deref()
            .map(|c| c as &(dyn StdError + 'static))
    }
}

/// An error of the library's non-pipeline operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A pipeline failure that ended an operation.
    #[error(transparent)]
    Etl(#[from] EtlError),
    /// The destination database failed.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// Migrating the destination failed.
    #[error("cannot migrate the destination: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// The destination's schema is not the one this version knows.
    #[error("{0}")]
    Schema(String),
    /// A request named something that does not exist (a store, an execution).
    #[error("{0}")]
    NotFound(String),
    /// A request is invalid (bad dates, unknown store).
    #[error("{0}")]
    InvalidRequest(String),
    /// A request is valid but conflicts with work in progress (a daily run triggered while
    /// another one holds its stores); trying again later can succeed.
    #[error("{0}")]
    Conflict(String),
    /// An I/O failure (reading a file).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl From<UnknownStore> for Error {
    fn from(e: UnknownStore) -> Self {
        Error::InvalidRequest(e.to_string())
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Database(e)
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Error::Migrate(e)
    }
}

impl Error {
    /// The phase of a pipeline failure: the [`EtlError`]'s for [`Error::Etl`],
    /// [`Phase::Load`] for the destination's failures ([`Error::Database`],
    /// [`Error::Migrate`], [`Error::Schema`]), `None` for the rest (a bad configuration or
    /// request happens before any phase).
    ///
    /// ```
    /// use fluxion_etl_core::taxonomy::{ErrorCategory, ErrorSource, Phase};
    /// use fluxion_etl_core::{Error, EtlError};
    ///
    /// let timeout = EtlError::new(
    ///     Phase::Extract,
    ///     ErrorCategory::VpnTimeout,
    ///     ErrorSource::StellarDb,
    ///     "no answer from 10.20.0.5",
    /// );
    /// let e = Error::from(timeout);
    /// assert_eq!(e.phase(), Some(Phase::Extract));
    /// assert_eq!(e.category(), Some(ErrorCategory::VpnTimeout));
    /// assert!(e.is_retryable());
    ///
    /// let e = Error::InvalidRequest("the window ends before it starts".into());
    /// assert_eq!((e.phase(), e.category(), e.is_retryable()), (None, None, false));
    /// ```
    pub fn phase(&self) -> Option<Phase> {
        match self {
            Error::Etl(e) => Some(e.phase()),
            Error::Database(_) | Error::Migrate(_) | Error::Schema(_) => Some(Phase::Load),
            _ => None,
        }
    }

    /// The taxonomy category: the [`EtlError`]'s, or for a destination's failure the one its
    /// SQLSTATE or SQLite result code (or lost connection) names, as a load classifies it;
    /// `None` when the taxonomy has none for it.
    ///
    /// ```
    /// use fluxion_etl_core::{taxonomy::{ErrorCategory, Phase}, Error};
    ///
    /// let e = Error::Database(sqlx::Error::PoolClosed);
    /// assert_eq!(e.phase(), Some(Phase::Load));
    /// assert_eq!(e.category(), Some(ErrorCategory::PgConnection));
    /// assert!(e.is_retryable());
    /// ```
    pub fn category(&self) -> Option<ErrorCategory> {
        match self {
            Error::Etl(e) => Some(e.category()),
            Error::Database(e) => database_category(e).map(|(c, _)| c),
            _ => None,
        }
    }

    /// Whether trying again can help: a retryable pipeline failure, a destination that could
    /// not be reached or hit a transient conflict, or a request that conflicts with work in
    /// progress ([`Error::Conflict`]). A bad configuration, request or schema never heals by
    /// itself.
    ///
    /// ```
    /// use fluxion_etl_core::Error;
    ///
    /// assert!(Error::Conflict("the daily run is already running".into()).is_retryable());
    /// assert!(!Error::NotFound("execution 7".into()).is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Etl(e) => e.is_retryable(),
            Error::Database(e) => database_category(e).is_some_and(|(_, retry)| retry),
            Error::Conflict(_) => true,
            _ => false,
        }
    }
}

/// The taxonomy's category of a destination failure, with its retry hint.
fn database_category(e: &sqlx::Error) -> Option<(ErrorCategory, bool)> {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code()?;
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                code.parse().ok().map(classify_sqlite_code)
            } else {
                Some(classify_sqlstate(&code))
            }
        }
        sqlx::Error::PoolTimedOut => Some((ErrorCategory::PgTimeout, true)),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => Some((ErrorCategory::PgConnection, true)),
        _ => None,
    }
}

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_is_sanitized_including_cause() {
        let cause = std::io::Error::other("login to mssql://sa:Sup3r@192.168.20.12:1433 failed");
        let e = EtlError::new(
            Phase::Extract,
            ErrorCategory::DbConnection,
            ErrorSource::StellarDb,
            "cannot connect to Stellar for cedi_seco",
        )
        .with_cause(cause);
        assert!(!e.message().contains("Sup3r"), "{}", e.message());
        assert!(!e.to_string().contains("Sup3r"));
        assert!(e.source().is_some());
    }

    #[test]
    fn terminal_categories_stay_terminal() {
        let e = EtlError::new(
            Phase::Extract,
            ErrorCategory::ApiAuth,
            ErrorSource::KlkApi,
            "401",
        )
        .retryable(true);
        assert!(!e.is_retryable());
        let e = EtlError::new(
            Phase::Extract,
            ErrorCategory::DbError,
            ErrorSource::StellarDb,
            "syntax",
        )
        .retryable(false);
        assert!(!e.is_retryable());
    }
}
