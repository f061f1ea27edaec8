//! Talking to the KLK server: the HTTP client, its timeouts, retries and the classification of
//! what went wrong.
//!
//! # Retries
//! A request is retried, with exponential backoff and jitter, only when the failure is
//! *transient* — something that a second identical request can plausibly not hit:
//! * transport failures: connect and read timeouts, refused or unreachable peers, resets, a
//!   connection closed mid-body, DNS failures;
//! * HTTP 408, 429 and 5xx;
//! * a body whose HTTP framing completed but whose JSON stops short (a proxy or the server cut
//!   it): the same answer asked again usually arrives whole.
//!
//! Never retried: 401/403 (credentials do not fix themselves, and hammering a gateway with bad
//! credentials can lock the account), other 4xx, a body carrying an `"error"` member (KLK answered
//! deliberately; the production client treated it as a hard failure too), malformed JSON and
//! rows with missing fields (the same bytes would come back).
//!
//! Every failure, retried or final, counts in [`ExtractStats::errors`]; every request sent counts
//! in [`ExtractStats::requests`].
//!
//! # Diagnostics
//! Before its first request the client resolves the host itself (`tokio::net::lookup_host`) and
//! times one TCP connect to the resolved address with the connect timeout, then drops that
//! connection. The HTTP client is then pinned to the same address, so the IP in the diagnostics
//! is the peer every request went to, and the latency is a pure TCP handshake — not a handshake
//! plus an HTTP round trip plus the server's time to produce a day of sales, which is what timing
//! the first request would measure. The price is one extra connection per store and run. A probe
//! that fails is not an error by itself: the request that follows fails the same way and is
//! classified from its typed cause.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

use rand::Rng;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT};
use reqwest::{StatusCode, Url};
use tracing::debug;

use super::parse::{DocError, RowError, RowProblem};
use crate::config::{BatchConfig, KlkConfig};
use crate::error::EtlError;
use crate::pipeline::{ExtractStats, NetworkDiagnostics};
use crate::taxonomy::{
    classify_http_status, classify_network, http_status_is_retryable, ErrorCategory, ErrorSource,
    NetFailure, SourceProtocol,
};

/// `User-Agent` of every request: the crate and its version.
pub const USER_AGENT: &str = concat!("fluxion-etl/", env!("CARGO_PKG_VERSION"));

/// Upper bound of one backoff delay, whatever the base delay and the attempt.
const MAX_BACKOFF: Duration = Duration::from_secs(120);

/// How much of an error response's body is read for the message.
const ERROR_DETAIL_BYTES: usize = 512;

/// Why one request (or the answer it got) failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The transport failed: no answer, or the answer stopped mid-body.
    Net {
        /// The reduced cause.
        failure: NetFailure,
        /// The typed error.
        cause: reqwest::Error,
    },
    /// The server answered with an error status.
    Status {
        /// The status.
        status: StatusCode,
        /// The beginning of the body, if it said something.
        detail: Option<String>,
    },
    /// A 2xx answer whose JSON carries an `"error"` member.
    ErrorBody(String),
    /// The body is not the JSON document it should be.
    Doc(DocError),
    /// The answer has no records array at all.
    NoArray(&'static str),
    /// The client could not be prepared (already classified).
    Setup(EtlError),
    /// Rows could not be converted.
    Rows {
        /// The first broken row.
        first: RowError,
        /// How many rows were broken.
        rejected: u64,
        /// Rows in the answer.
        total: u64,
    },
}

impl Failure {
    /// The taxonomy category, given the peer the request went to.
    pub(crate) fn category(&self, peer: Option<IpAddr>) -> ErrorCategory {
        match self {
            Failure::Net { failure, .. } => classify_network(*failure, peer, SourceProtocol::Http),
            Failure::Status { status, .. } => classify_http_status(status.as_u16()),
            Failure::ErrorBody(_) => ErrorCategory::ApiError,
            Failure::Setup(e) => e.category(),
            Failure::Doc(DocError::Encoding { .. }) => ErrorCategory::EncodingError,
            Failure::Doc(_) | Failure::NoArray(_) => ErrorCategory::DataFormat,
            Failure::Rows { first, .. } => match first.problem {
                RowProblem::Missing(_) => ErrorCategory::MissingFields,
                RowProblem::Invalid { .. } => ErrorCategory::DataFormat,
            },
        }
    }

    /// Whether the same request, sent again, can plausibly succeed (see the module docs).
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Failure::Net { cause, .. } => !cause.is_builder(),
            Failure::Status { status, .. } => http_status_is_retryable(status.as_u16()),
            Failure::Doc(DocError::Truncated { .. }) => true,
            Failure::ErrorBody(_)
            | Failure::Setup(_)
            | Failure::Doc(_)
            | Failure::NoArray(_)
            | Failure::Rows { .. } => false,
        }
    }

    /// The classified error. `context` says what was being fetched; `attempts` how many
    /// requests were sent for it.
    pub(crate) fn into_error(self, peer: Option<IpAddr>, context: &str, attempts: u32) -> EtlError {
        let category = self.category(peer);
        let tries = if attempts > 1 {
            format!(" after {attempts} attempts")
        } else {
            String::new()
        };
        // The typed causes are attached below, which appends their text.
        let what = match &self {
            Failure::Net { failure, .. } => describe_net(*failure).to_owned(),
            Failure::Doc(_) => NOT_KLK_JSON.to_owned(),
            other => other.to_string(),
        };
        let error = EtlError::new(
            category.phase(),
            category,
            ErrorSource::KlkApi,
            format!("{context}{tries}: {what}"),
        );
        match self {
            Failure::Net { cause, .. } => error.with_cause(cause),
            Failure::Setup(e) => e,
            // A 404 or 400 will not fix itself by the next scheduled retry either.
            Failure::Status { status, .. } => {
                error.retryable(http_status_is_retryable(status.as_u16()))
            }
            Failure::Doc(doc) => {
                let retry = matches!(doc, DocError::Truncated { .. });
                error.with_cause(doc).retryable(retry)
            }
            Failure::NoArray(_) => error.retryable(false),
            Failure::ErrorBody(_) | Failure::Rows { .. } => error,
        }
    }
}

const NOT_KLK_JSON: &str = "the answer is not valid KLK JSON";

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Net { failure, cause } => write!(f, "{}: {cause}", describe_net(*failure)),
            Failure::Status { status, detail } => {
                write!(f, "the server answered HTTP {status}")?;
                match detail {
                    Some(d) => write!(f, ": {d}"),
                    None => Ok(()),
                }
            }
            Failure::ErrorBody(text) => write!(f, "the server answered with an error: {text}"),
            Failure::Doc(doc) => write!(f, "{NOT_KLK_JSON}: {doc}"),
            Failure::NoArray(key) => write!(f, "the answer has no `{key}` array"),
            Failure::Setup(e) => f.write_str(e.message()),
            Failure::Rows {
                first,
                rejected,
                total,
            } => write!(
                f,
                "{rejected} of {total} records rejected, nothing of this window is loaded; first: {first}"
            ),
        }
    }
}

fn describe_net(f: NetFailure) -> &'static str {
    match f {
        NetFailure::ConnectTimeout => "no connection within the connect timeout",
        NetFailure::ReadTimeout => "no complete answer within the request timeout",
        NetFailure::Refused => "the connection was refused",
        NetFailure::Unreachable => "the host is unreachable",
        NetFailure::Reset => "the connection was closed before the answer was complete",
        NetFailure::Dns => "the host name does not resolve",
        _ => "the request failed",
    }
}

/// Reduces a reqwest error to a [`NetFailure`] from its typed parts only: reqwest's own flags
/// and the [`io::ErrorKind`] found by walking the `source()` chain.
pub(crate) fn net_failure(err: &reqwest::Error) -> NetFailure {
    reduce(
        err.is_timeout(),
        err.is_connect(),
        err.is_body() || err.is_decode(),
        io_kind(err),
    )
}

/// The pure part of [`net_failure`], testable without a socket.
pub(crate) fn reduce(
    timeout: bool,
    connecting: bool,
    in_body: bool,
    io: Option<io::ErrorKind>,
) -> NetFailure {
    if timeout {
        return if connecting {
            NetFailure::ConnectTimeout
        } else {
            NetFailure::ReadTimeout
        };
    }
    match io.map(|k| NetFailure::from_io(k, connecting)) {
        Some(NetFailure::Other) | None if in_body => {
            // The body stopped without an I/O error of its own (hyper's "incomplete message"):
            // the peer closed the connection mid-answer.
            NetFailure::Reset
        }
        Some(f) => f,
        None => NetFailure::Other,
    }
}

/// The kind of the first [`io::Error`] in an error's `source()` chain.
pub(crate) fn io_kind(err: &(dyn StdError + 'static)) -> Option<io::ErrorKind> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return Some(io.kind());
        }
        next = e.source();
    }
    None
}

/// The HTTP client of one store's extraction.
pub(crate) struct KlkClient {
    base_url: Url,
    host: String,
    port: u16,
    /// Set when the host is a name: the client is pinned to the address the probe resolved.
    domain: Option<String>,
    auth: Option<(HeaderName, HeaderValue)>,
    connect_timeout: Duration,
    retries: u32,
    retry_delay: Duration,
    http: Option<reqwest::Client>,
    peer: Option<IpAddr>,
    diagnostics: Option<NetworkDiagnostics>,
    stats: ExtractStats,
}

impl std::fmt::Debug for KlkClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No auth header value here, ever.
        f.debug_struct("KlkClient")
            .field("base_url", &self.base_url.as_str())
            .field("auth_header", &self.auth.as_ref().map(|(n, _)| n.as_str()))
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

fn config_error(message: String) -> EtlError {
    EtlError::new(
        ErrorCategory::ApiAuth.phase(),
        ErrorCategory::ApiAuth,
        ErrorSource::KlkApi,
        message,
    )
}

/// The TLS setup every KLK client shares. Building one loads and parses the system's trusted
/// roots, which costs milliseconds of CPU (a sixth of a store-day's extraction when every
/// client built its own): once per process is enough, and the connector is a cheap clone.
fn shared_tls() -> Result<native_tls::TlsConnector, native_tls::Error> {
    static TLS: OnceLock<native_tls::TlsConnector> = OnceLock::new();
    if let Some(tls) = TLS.get() {
        return Ok(tls.clone());
    }
    let tls = native_tls::TlsConnector::new()?;
    Ok(TLS.get_or_init(|| tls).clone())
}

impl KlkClient {
    /// Prepares a client; reads the auth header's value from its environment variable. Does
    /// not connect.
    pub(crate) fn new(klk: &KlkConfig, batch: &BatchConfig) -> Result<Self, EtlError> {
        let base_url = Url::parse(&klk.base_url).map_err(|e| {
            EtlError::new(
                ErrorCategory::ApiError.phase(),
                ErrorCategory::ApiError,
                ErrorSource::KlkApi,
                format!("the KLK base URL `{}` is invalid", klk.base_url),
            )
            .with_cause(e)
            .retryable(false)
        })?;
        let (host, port) = crate::net::host_and_port(&base_url);
        let domain = host.parse::<IpAddr>().is_err().then(|| host.clone());
        let auth = match (&klk.auth_header, &klk.auth_env) {
            (Some(name), Some(env)) => {
                let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                    config_error(format!(
                        "`{name}` (klk.auth_header) is not a valid header name"
                    ))
                })?;
                let value = std::env::var(env).map_err(|_| {
                    config_error(format!(
                        "the environment variable {env} (value of the KLK auth header {name}) is not set"
                    ))
                })?;
                let mut value = HeaderValue::from_str(&value).map_err(|_| {
                    config_error(format!(
                        "the environment variable {env} does not hold a valid header value"
                    ))
                })?;
                value.set_sensitive(true);
                Some((header, value))
            }
            _ => None,
        };
        Ok(Self {
            base_url,
            host,
            port,
            domain,
            auth,
            connect_timeout: batch.connect_timeout(),
            retries: batch.retries,
            retry_delay: batch.retry_delay(),
            http: None,
            peer: None,
            diagnostics: None,
            stats: ExtractStats::default(),
        })
    }

    /// Counters so far.
    pub(crate) fn stats(&self) -> ExtractStats {
        self.stats
    }

    /// Diagnostics of the probe, once it ran.
    pub(crate) fn diagnostics(&self) -> Option<NetworkDiagnostics> {
        self.diagnostics.clone()
    }

    /// The address requests go to, once known.
    pub(crate) fn peer(&self) -> Option<IpAddr> {
        self.peer
    }

    /// Retries allowed after the first attempt of one request.
    pub(crate) fn retries(&self) -> u32 {
        self.retries
    }

    /// Counts a failure found after the answer started (mid-body, or in its content).
    pub(crate) fn count_error(&mut self) {
        self.stats.errors += 1;
    }

    /// Counts a row that could not be converted.
    pub(crate) fn count_rejected(&mut self) {
        self.stats.rows_rejected += 1;
    }

    /// Resolves the host, probes one TCP connect and builds the HTTP client (once).
    async fn ready(&mut self) -> Result<&reqwest::Client, EtlError> {
        if self.http.is_none() {
            let resolved = self.probe().await;
            let tls = shared_tls().map_err(|e| {
                EtlError::new(
                    ErrorCategory::NetworkError.phase(),
                    ErrorCategory::NetworkError,
                    ErrorSource::KlkApi,
                    "cannot set up TLS for the HTTP client",
                )
                .with_cause(e)
            })?;
            let mut builder = reqwest::Client::builder()
                .use_preconfigured_tls(tls)
                .connect_timeout(self.connect_timeout)
                .user_agent(USER_AGENT)
                .default_headers(HeaderMap::from_iter([(
                    ACCEPT,
                    HeaderValue::from_static("application/json"),
                )]))
                // KLK is reached directly on the LAN or through the VPN; an HTTP(S)_PROXY set
                // for other traffic must not reroute it (and would make the diagnostics lie).
                .no_proxy()
                .tcp_nodelay(true);
            if let (Some(domain), Some(addr)) = (&self.domain, resolved) {
                builder = builder.resolve(domain, addr);
            }
            let http = builder.build().map_err(|e| {
                EtlError::new(
                    ErrorCategory::NetworkError.phase(),
                    ErrorCategory::NetworkError,
                    ErrorSource::KlkApi,
                    "cannot build the HTTP client",
                )
                .with_cause(e)
            })?;
            self.http = Some(http);
        }
        // Built just above when it was missing.
        self.http.as_ref().ok_or_else(|| {
            EtlError::new(
                ErrorCategory::NetworkError.phase(),
                ErrorCategory::NetworkError,
                ErrorSource::Pipeline,
                "the HTTP client is missing",
            )
        })
    }

    /// See the module docs. Returns the address the client must use (resolved even when the
    /// connect probe failed: the request then fails with its own, classified error).
    async fn probe(&mut self) -> Option<SocketAddr> {
        let probe = crate::net::probe(&self.host, self.port, self.connect_timeout).await;
        if let Some(failure) = probe.failure {
            debug!(host = %self.host, port = self.port, ?failure, "KLK connect probe failed.");
        }
        self.peer = probe.addr.map(|a| a.ip());
        self.diagnostics = Some(NetworkDiagnostics {
            ip: probe.addr.map(|a| a.ip()),
            port: Some(probe.addr.map_or(self.port, |a| a.port())),
            latency_ms: probe.latency_ms,
        });
        probe.addr
    }

    /// Sends one POST and returns the response once its status is a success; the body is left
    /// to the caller to stream.
    pub(crate) async fn post(
        &mut self,
        path: &str,
        body: &serde_json::Value,
        timeout: Duration,
    ) -> Result<reqwest::Response, Failure> {
        let url = self
            .base_url
            .join(path)
            .unwrap_or_else(|_| self.base_url.clone());
        let auth = self.auth.clone();
        let http = self.ready().await.map_err(Failure::Setup)?.clone();
        self.stats.requests += 1;
        let mut request = http.post(url).timeout(timeout).json(body);
        if let Some((name, value)) = auth {
            request = request.header(name, value);
        }
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(cause) => {
                self.stats.errors += 1;
                return Err(Failure::Net {
                    failure: net_failure(&cause),
                    cause,
                });
            }
        };
        if let Some(addr) = response.remote_addr() {
            self.peer = Some(addr.ip());
        }
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        self.stats.errors += 1;
        // A few bytes of what the server said, without waiting long for them.
        let mut detail = Vec::new();
        let _ = tokio::time::timeout(timeout.min(Duration::from_secs(5)), async {
            while detail.len() < ERROR_DETAIL_BYTES {
                match response.chunk().await {
                    Ok(Some(c)) => detail.extend_from_slice(&c),
                    _ => break,
                }
            }
        })
        .await;
        detail.truncate(ERROR_DETAIL_BYTES);
        let detail = String::from_utf8_lossy(&detail).trim().to_owned();
        Err(Failure::Status {
            status,
            detail: (!detail.is_empty()).then_some(detail),
        })
    }

    /// The delay before retry number `attempt` (1-based): the base delay doubled for each
    /// earlier attempt, capped, with "equal jitter" (between half and all of it) so that
    /// stores failing together do not retry in lockstep.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        backoff(self.retry_delay, attempt, &mut rand::thread_rng())
    }
}

pub(crate) fn backoff(base: Duration, attempt: u32, rng: &mut impl Rng) -> Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(16);
    let full = base.saturating_mul(factor).min(MAX_BACKOFF);
    full.mul_f64(rng.gen_range(0.5..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::net::Ipv4Addr;

    const VPN: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 20, 100));
    const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn status(code: u16) -> Failure {
        Failure::Status {
            status: StatusCode::from_u16(code).unwrap(),
            detail: None,
        }
    }

    #[test]
    fn typed_causes_reduce_to_failures() {
        use io::ErrorKind as K;
        use NetFailure as F;
        // (timeout, connecting, in body, io kind) → failure
        let cases = [
            (true, true, false, None, F::ConnectTimeout),
            (true, false, false, Some(K::TimedOut), F::ReadTimeout),
            (true, false, true, None, F::ReadTimeout),
            (false, true, false, Some(K::ConnectionRefused), F::Refused),
            (false, true, false, Some(K::HostUnreachable), F::Unreachable),
            (
                false,
                true,
                false,
                Some(K::NetworkUnreachable),
                F::Unreachable,
            ),
            (false, false, true, Some(K::ConnectionReset), F::Reset),
            (false, false, true, None, F::Reset),
            (false, false, false, Some(K::UnexpectedEof), F::Reset),
            (false, true, false, None, F::Other),
        ];
        for (timeout, connecting, body, io, want) in cases {
            assert_eq!(
                reduce(timeout, connecting, body, io),
                want,
                "{timeout} {connecting} {body} {io:?}"
            );
        }
    }

    #[test]
    fn io_kind_is_found_down_the_chain() {
        #[derive(Debug)]
        struct Wrap(io::Error);
        impl std::fmt::Display for Wrap {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("wrapped")
            }
        }
        impl StdError for Wrap {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        let e = Wrap(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(io_kind(&e), Some(io::ErrorKind::ConnectionRefused));
        let plain = std::fmt::Error;
        assert_eq!(io_kind(&plain), None);
    }

    #[test]
    fn categories_depend_on_the_peer() {
        use ErrorCategory as C;
        use NetFailure as F;
        let cases = [
            (F::ConnectTimeout, VPN, C::VpnTimeout),
            (F::ReadTimeout, VPN, C::VpnTimeout),
            (F::Refused, VPN, C::VpnUnreachable),
            (F::Unreachable, VPN, C::VpnUnreachable),
            (F::ConnectTimeout, LOOPBACK, C::ApiTimeout),
            (F::ReadTimeout, LOOPBACK, C::ApiTimeout),
            (F::Refused, LOOPBACK, C::NetworkError),
            (F::Reset, LOOPBACK, C::NetworkError),
            (F::Reset, VPN, C::NetworkError),
        ];
        for (failure, peer, want) in cases {
            assert_eq!(
                classify_network(failure, Some(peer), SourceProtocol::Http),
                want,
                "{failure:?} {peer}"
            );
        }
    }

    #[test]
    fn statuses_and_bodies() {
        use ErrorCategory as C;
        for (code, cat, transient) in [
            (401, C::ApiAuth, false),
            (403, C::ApiAuth, false),
            (404, C::ApiError, false),
            (400, C::ApiError, false),
            (408, C::ApiError, true),
            (429, C::ApiError, true),
            (500, C::ApiError, true),
            (503, C::ApiError, true),
        ] {
            let f = status(code);
            assert_eq!(f.category(Some(VPN)), cat, "{code}");
            assert_eq!(f.is_transient(), transient, "{code}");
            let e = f.into_error(Some(VPN), "KLK sales of SUC001", 1);
            assert_eq!(e.category(), cat);
            assert_eq!(e.phase(), crate::taxonomy::Phase::Extract);
            assert!(e.message().contains(&code.to_string()), "{}", e.message());
        }
        assert!(!status(401).into_error(None, "x", 1).is_retryable());
        assert!(!status(404).into_error(None, "x", 1).is_retryable());
        assert!(status(503).into_error(None, "x", 4).is_retryable());

        let body = Failure::ErrorBody("Sucursal no existe".into());
        assert!(!body.is_transient());
        let e = body.into_error(None, "KLK sales", 1);
        assert_eq!(e.category(), C::ApiError);
        assert!(e.message().contains("Sucursal no existe"));

        let truncated = Failure::Doc(DocError::Truncated {
            received: 10,
            elements: 0,
        });
        assert!(truncated.is_transient());
        let e = truncated.into_error(Some(VPN), "KLK sales", 2);
        assert_eq!(e.category(), C::DataFormat);
        assert_eq!(e.phase(), crate::taxonomy::Phase::Transform);

        let malformed = Failure::Doc(DocError::Syntax {
            expected: "`,`",
            offset: 3,
        });
        assert!(!malformed.is_transient());
        assert_eq!(malformed.category(None), C::DataFormat);
        assert_eq!(
            Failure::Doc(DocError::Encoding { offset: 1 }).category(None),
            C::EncodingError
        );

        let rows = Failure::Rows {
            first: RowError {
                element: 412,
                ident: Some("numero_factura A, linea 2".into()),
                problem: RowProblem::Missing("codigo_producto"),
            },
            rejected: 3,
            total: 20_000,
        };
        assert!(!rows.is_transient());
        let e = rows.into_error(None, "KLK sales", 1);
        assert_eq!(e.category(), C::MissingFields);
        assert_eq!(e.phase(), crate::taxonomy::Phase::Transform);
        assert!(!e.is_retryable());
        assert!(e.message().contains("record 412"), "{}", e.message());
        assert!(e.message().contains("3 of 20000"), "{}", e.message());
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let base = Duration::from_millis(100);
        for attempt in 1..=4u32 {
            let full = base * (1 << (attempt - 1));
            for _ in 0..50 {
                let d = backoff(base, attempt, &mut rng);
                assert!(d >= full / 2 && d <= full, "{attempt}: {d:?}");
            }
        }
        assert!(backoff(Duration::from_secs(60), 30, &mut rng) <= MAX_BACKOFF);
    }
}
