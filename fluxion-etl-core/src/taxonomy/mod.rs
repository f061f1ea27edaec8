//! Phases, error categories and the classification of typed causes.
//!
//! The taxonomy is data (seed 003 §1.3): every failure carries a [`Phase`], an [`ErrorCategory`]
//! and a retry hint. Categories are decided here, once, from typed causes — HTTP status codes,
//! [`std::io::ErrorKind`], SQLSTATE codes, TDS error numbers and whether the peer is on the VPN's
//! private ranges — never by searching message text.

pub mod sanitize;

use std::io;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

pub use sanitize::{sanitize, SanitizingWriter};

use crate::stored::stored_text;

/// The phase of a store's pipeline in which something happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Reading from the source.
    Extract,
    /// Parsing, validating and converting records.
    Transform,
    /// Writing to the destination.
    Load,
}

impl Phase {
    /// All phases in pipeline order.
    pub const ALL: [Phase; 3] = [Phase::Extract, Phase::Transform, Phase::Load];

    /// The stored value (`extract`, `transform`, `load`).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Extract => "extract",
            Phase::Transform => "transform",
            Phase::Load => "load",
        }
    }

    /// Parses a stored value.
    pub fn parse(s: &str) -> Option<Self> {
        Phase::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

stored_text!(Phase, "phase");

macro_rules! categories {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $phase:ident, $retry:literal; )*) => {
        /// What went wrong, from the taxonomy of seed 003 (plus `interrupted`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[non_exhaustive]
        pub enum ErrorCategory {
            $( $(#[$doc])* #[serde(rename = $name)] $variant, )*
        }

        impl ErrorCategory {
            /// Every category.
            pub const ALL: &'static [ErrorCategory] = &[$(ErrorCategory::$variant),*];

            /// The stored value, e.g. `vpn_timeout`.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCategory::$variant => $name,)* }
            }

            /// The phase the taxonomy lists the category under.
            pub fn phase(self) -> Phase {
                match self { $(ErrorCategory::$variant => Phase::$phase,)* }
            }

            /// Whether retrying can help. Terminal categories (bad credentials, invalid data,
            /// constraint violations, a full disk) do not burn retries.
            pub fn is_retryable(self) -> bool {
                match self { $(ErrorCategory::$variant => $retry,)* }
            }

            /// Parses a stored value.
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|c| c.as_str() == s)
            }
        }
    };
}

categories! {
    /// The VPN did not answer in time (timeout towards a private address).
    VpnTimeout = "vpn_timeout", Extract, true;
    /// The VPN peer is unreachable (refused or no route to a private address).
    VpnUnreachable = "vpn_unreachable", Extract, true;
    /// The KLK API did not answer in time.
    ApiTimeout = "api_timeout", Extract, true;
    /// The KLK API answered with an error status or an `"error"` body.
    ApiError = "api_error", Extract, true;
    /// The KLK API refused our credentials (401/403).
    ApiAuth = "api_auth", Extract, false;
    /// Cannot connect or log in to Stellar's SQL Server.
    DbConnection = "db_connection", Extract, true;
    /// A Stellar query took too long.
    DbTimeout = "db_timeout", Extract, true;
    /// Stellar's SQL Server returned an error for a query.
    DbError = "db_error", Extract, true;
    /// Any other network failure (reset, DNS, unreachable public host).
    NetworkError = "network_error", Extract, true;
    /// Records fail validation (values out of range, rows outside their window).
    DataValidation = "data_validation", Transform, false;
    /// Unexpected data format (malformed or truncated JSON, wrong types).
    DataFormat = "data_format", Transform, true;
    /// Required fields are missing or null.
    MissingFields = "missing_fields", Transform, false;
    /// Text is not valid in its declared encoding.
    EncodingError = "encoding_error", Transform, false;
    /// Cannot connect to the destination database.
    PgConnection = "pg_connection", Load, true;
    /// Writing to the destination timed out (statement or lock timeout).
    PgTimeout = "pg_timeout", Load, true;
    /// A constraint (unique, foreign key, check) rejected the data.
    ConstraintViolation = "constraint_violation", Load, false;
    /// The destination is out of disk space.
    DiskFull = "disk_full", Load, false;
    /// The destination aborted our transaction to break a deadlock or serialization conflict.
    Deadlock = "deadlock", Load, true;
    /// The process was stopped (Ctrl-C, SIGTERM, a crash) before the work finished.
    Interrupted = "interrupted", Extract, true;
}

stored_text!(ErrorCategory, "error category");

/// Which system an error came from (`error_source` in `etl_executions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorSource {
    /// The KLK REST API.
    KlkApi,
    /// Stellar's SQL Server.
    StellarDb,
    /// The PostgreSQL destination.
    Postgresql,
    /// The SQLite destination.
    Sqlite,
    /// Fluxion itself (a transformer, the runner).
    Pipeline,
}

impl ErrorSource {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorSource::KlkApi => "klk_api",
            ErrorSource::StellarDb => "stellar_db",
            ErrorSource::Postgresql => "postgresql",
            ErrorSource::Sqlite => "sqlite",
            ErrorSource::Pipeline => "pipeline",
        }
    }
}

stored_text!(
    ErrorSource,
    "error source",
    [KlkApi, StellarDb, Postgresql, Sqlite, Pipeline]
);

/// Whether an address is on a private range, which for this chain means behind the VPN.
///
/// Loopback is *not* private here: the simulators run on loopback and stand for public hosts.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_link_local() || is_cgnat(v4.octets()),
        IpAddr::V6(v6) => {
            // Unique local (fc00::/7) and link-local (fe80::/10).
            let s = v6.segments()[0];
            (s & 0xfe00) == 0xfc00 || (s & 0xffc0) == 0xfe80
        }
    }
}

fn is_cgnat(o: [u8; 4]) -> bool {
    // 100.64.0.0/10, used by WireGuard deployments as well.
    o[0] == 100 && (o[1] & 0xc0) == 64
}

/// A network failure, reduced to what classification needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetFailure {
    /// The TCP connection was not established in time.
    ConnectTimeout,
    /// The peer stopped answering after the connection was made.
    ReadTimeout,
    /// The peer actively refused the connection.
    Refused,
    /// No route to the host or network.
    Unreachable,
    /// The connection was reset or closed mid-way.
    Reset,
    /// The host name did not resolve.
    Dns,
    /// Anything else at the transport level.
    Other,
}

impl NetFailure {
    /// Reduces an [`io::ErrorKind`] seen while connecting (`connecting = true`) or afterwards.
    pub fn from_io(kind: io::ErrorKind, connecting: bool) -> Self {
        use io::ErrorKind as K;
        match kind {
            K::TimedOut | K::WouldBlock if connecting => NetFailure::ConnectTimeout,
            K::TimedOut | K::WouldBlock => NetFailure::ReadTimeout,
            K::ConnectionRefused => NetFailure::Refused,
            K::HostUnreachable | K::NetworkUnreachable | K::AddrNotAvailable => {
                NetFailure::Unreachable
            }
            K::ConnectionReset
            | K::ConnectionAborted
            | K::BrokenPipe
            | K::UnexpectedEof
            | K::NotConnected => NetFailure::Reset,
            _ => NetFailure::Other,
        }
    }
}

/// The kind of source a network failure happened on; it decides between the `api_*` and
/// `db_*` families of the taxonomy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceProtocol {
    /// An HTTP API (KLK).
    Http,
    /// A SQL Server database (Stellar).
    Sql,
}

/// Classifies a network failure towards `peer` (when known) on a source of `protocol`.
pub fn classify_network(
    failure: NetFailure,
    peer: Option<IpAddr>,
    protocol: SourceProtocol,
) -> ErrorCategory {
    let private = peer.is_some_and(is_private);
    use ErrorCategory as C;
    match (failure, private, protocol) {
        (NetFailure::ConnectTimeout | NetFailure::ReadTimeout, true, _) => C::VpnTimeout,
        (NetFailure::Refused | NetFailure::Unreachable, true, _) => C::VpnUnreachable,
        (NetFailure::ConnectTimeout | NetFailure::ReadTimeout, false, SourceProtocol::Http) => {
            C::ApiTimeout
        }
        (NetFailure::ConnectTimeout, false, SourceProtocol::Sql) => C::DbConnection,
        (NetFailure::ReadTimeout, false, SourceProtocol::Sql) => C::DbTimeout,
        (NetFailure::Refused | NetFailure::Unreachable, false, SourceProtocol::Sql) => {
            C::DbConnection
        }
        _ => C::NetworkError,
    }
}

/// Classifies an HTTP error status of the KLK API.
pub fn classify_http_status(status: u16) -> ErrorCategory {
    match status {
        401 | 403 => ErrorCategory::ApiAuth,
        _ => ErrorCategory::ApiError,
    }
}

/// Whether an HTTP error status is worth retrying (server-side or throttling).
pub fn http_status_is_retryable(status: u16) -> bool {
    matches!(status, 408 | 429 | 500..=599)
}

/// Classifies a PostgreSQL SQLSTATE raised while loading.
///
/// Returns the category and whether retrying the transaction is safe and useful.
pub fn classify_sqlstate(code: &str) -> (ErrorCategory, bool) {
    use ErrorCategory as C;
    match code {
        "40P01" | "40001" => (C::Deadlock, true),
        "57014" | "55P03" | "25P03" => (C::PgTimeout, true),
        "53100" => (C::DiskFull, false),
        "53200" | "53300" => (C::PgConnection, true),
        c if c.starts_with("08") || c.starts_with("57P") => (C::PgConnection, true),
        c if c.starts_with("23") => (C::ConstraintViolation, false),
        c if c.starts_with("22") => (C::DataValidation, false),
        c if c.starts_with("28") => (C::PgConnection, false),
        _ => (C::PgConnection, false),
    }
}

/// Maps SQLite (extended) result codes onto the load categories of the taxonomy.
pub fn classify_sqlite_code(code: i64) -> (ErrorCategory, bool) {
    match code & 0xff {
        13 => (ErrorCategory::DiskFull, false), // SQLITE_FULL
        19 => (ErrorCategory::ConstraintViolation, false), // SQLITE_CONSTRAINT
        5 | 6 => (ErrorCategory::PgTimeout, true), // SQLITE_BUSY, SQLITE_LOCKED
        10 | 14 | 26 => (ErrorCategory::PgConnection, false), // IOERR, CANTOPEN, NOTADB
        _ => (ErrorCategory::PgConnection, false),
    }
}

/// Classifies a SQL Server error number raised by Stellar.
///
/// Returns the category and whether retrying is useful.
pub fn classify_tds_error(number: u32) -> (ErrorCategory, bool) {
    use ErrorCategory as C;
    match number {
        // Login failed: the credentials are wrong; retrying locks accounts, not data.
        18456 | 18452 | 4060 => (C::DbConnection, false),
        // Deadlock victim, lock request timeout.
        1205 | 1222 => (C::DbError, true),
        // Invalid object (208), invalid column (207), syntax (102), permission (229).
        208 | 207 | 102 | 156 | 229 | 8144 | 137 => (C::DbError, false),
        _ => (C::DbError, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_round_trips_and_sits_in_its_phase() {
        for c in ErrorCategory::ALL {
            assert_eq!(ErrorCategory::parse(c.as_str()), Some(*c));
            let json = serde_json::to_string(c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
        }
        assert_eq!(ErrorCategory::ALL.len(), 19);
        assert_eq!(ErrorCategory::DiskFull.phase(), Phase::Load);
        assert_eq!(ErrorCategory::MissingFields.phase(), Phase::Transform);
    }

    #[test]
    fn terminal_categories_are_not_retryable() {
        for c in [
            ErrorCategory::ApiAuth,
            ErrorCategory::DataValidation,
            ErrorCategory::ConstraintViolation,
        ] {
            assert!(!c.is_retryable(), "{c}");
        }
        assert!(ErrorCategory::VpnTimeout.is_retryable());
        assert!(ErrorCategory::Deadlock.is_retryable());
    }

    #[test]
    fn private_ranges() {
        assert!(is_private("192.168.20.100".parse().unwrap()));
        assert!(is_private("10.8.0.15".parse().unwrap()));
        assert!(is_private("172.16.1.1".parse().unwrap()));
        assert!(is_private("100.64.0.1".parse().unwrap()));
        assert!(!is_private("127.0.0.1".parse().unwrap()));
        assert!(!is_private("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn network_failures_map_by_peer_and_protocol() {
        use ErrorCategory as C;
        use NetFailure as F;
        use SourceProtocol as P;
        let vpn: IpAddr = "192.168.20.100".parse().unwrap();
        let public: IpAddr = "127.0.0.1".parse().unwrap();
        let cases = [
            (F::ConnectTimeout, Some(vpn), P::Http, C::VpnTimeout),
            (F::ReadTimeout, Some(vpn), P::Sql, C::VpnTimeout),
            (F::Refused, Some(vpn), P::Http, C::VpnUnreachable),
            (F::Unreachable, Some(vpn), P::Sql, C::VpnUnreachable),
            (F::ConnectTimeout, Some(public), P::Http, C::ApiTimeout),
            (F::ReadTimeout, None, P::Http, C::ApiTimeout),
            (F::Refused, Some(public), P::Http, C::NetworkError),
            (F::Reset, Some(public), P::Http, C::NetworkError),
            (F::Dns, None, P::Http, C::NetworkError),
            (F::Refused, Some(public), P::Sql, C::DbConnection),
            (F::ReadTimeout, Some(public), P::Sql, C::DbTimeout),
        ];
        for (failure, peer, proto, want) in cases {
            assert_eq!(
                classify_network(failure, peer, proto),
                want,
                "{failure:?} {peer:?} {proto:?}"
            );
        }
    }

    #[test]
    fn io_kinds_reduce_to_failures() {
        for (kind, connecting, want) in [
            (io::ErrorKind::TimedOut, true, NetFailure::ConnectTimeout),
            (io::ErrorKind::TimedOut, false, NetFailure::ReadTimeout),
            (io::ErrorKind::ConnectionRefused, true, NetFailure::Refused),
            (io::ErrorKind::ConnectionReset, false, NetFailure::Reset),
        ] {
            assert_eq!(NetFailure::from_io(kind, connecting), want, "{kind:?}");
        }
    }

    #[test]
    fn http_statuses() {
        assert_eq!(classify_http_status(401), ErrorCategory::ApiAuth);
        assert_eq!(classify_http_status(403), ErrorCategory::ApiAuth);
        assert_eq!(classify_http_status(500), ErrorCategory::ApiError);
        assert_eq!(classify_http_status(404), ErrorCategory::ApiError);
        assert!(http_status_is_retryable(503));
        assert!(!http_status_is_retryable(404));
    }

    #[test]
    fn sqlstates() {
        use ErrorCategory as C;
        assert_eq!(classify_sqlstate("40P01"), (C::Deadlock, true));
        assert_eq!(classify_sqlstate("40001"), (C::Deadlock, true));
        assert_eq!(classify_sqlstate("53100"), (C::DiskFull, false));
        assert_eq!(classify_sqlstate("23505"), (C::ConstraintViolation, false));
        assert_eq!(classify_sqlstate("23503"), (C::ConstraintViolation, false));
        assert_eq!(classify_sqlstate("08006"), (C::PgConnection, true));
        assert_eq!(classify_sqlstate("57014"), (C::PgTimeout, true));
        assert_eq!(classify_sqlstate("55P03"), (C::PgTimeout, true));
    }

    #[test]
    fn tds_errors() {
        use ErrorCategory as C;
        assert_eq!(classify_tds_error(18456), (C::DbConnection, false));
        assert_eq!(classify_tds_error(1205), (C::DbError, true));
        assert_eq!(classify_tds_error(208), (C::DbError, false));
    }
}
