//! Talking to Stellar's SQL Server: connecting (with our own TCP connect timeout, keepalive and
//! `TCP_NODELAY`), logging in with tiberius, and the classification of what went wrong.
//!
//! # Connecting
//! The host is resolved and dialled here, not by tiberius: its handshake timeout does not cover
//! the TCP connect, and a VPN peer that has gone away makes a bare connect hang for minutes.
//! So the resolution and the connect each run under `[batch] connect_timeout_secs`; the login
//! (PRELOGIN, TLS, LOGIN7) runs under the same bound as tiberius' handshake timeout. The socket
//! gets `TCP_NODELAY` (every TDS request is one small write waiting for its answer) and TCP
//! keepalive probes after 30 s of silence, every 10 s: the WireGuard link drops connections it
//! thinks are idle, and a long query *is* idle on the wire until its first rows arrive.
//!
//! # Classification
//! Only typed causes are looked at, never message text: the `io::ErrorKind` of a failed
//! resolution or connect, and tiberius' [`Error`](tiberius::error::Error) variants — the SQL
//! Server error number of `Server`, the `kind` of `Io`, and the variant itself otherwise. They are
//! reduced to a [`TdsCause`] and classified by [`classify`] with the shared taxonomy
//! ([`classify_network`], [`classify_tds_error`]): a refused, unreachable or timed-out connect
//! is `db_connection` (`vpn_unreachable` / `vpn_timeout` when the host is on a private range),
//! a failed login (18456) is `db_connection` and never retried, a command timeout is
//! `db_timeout`, a server error is `db_error` (a deadlock, 1205, is worth retrying; a syntax or
//! name error is not), and a connection reset mid-result is `network_error`.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::Rng;
use tiberius::error::Error as TdsError;
use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};
use tracing::debug;

use super::parse::RowError;
use crate::config::StellarEncryption;
use crate::error::EtlError;
use crate::pipeline::NetworkDiagnostics;
use crate::taxonomy::{
    classify_network, classify_tds_error, ErrorCategory, ErrorSource, NetFailure, Phase,
    SourceProtocol,
};

/// The application name the server sees (`program_name` in `sys.dm_exec_sessions`).
pub const APPLICATION_NAME: &str = concat!("fluxion-etl/", env!("CARGO_PKG_VERSION"));

/// Idle time before the first keepalive probe (production's VPN setting).
pub(crate) const KEEPALIVE_TIME: Duration = Duration::from_secs(30);
/// Time between keepalive probes once they started.
pub(crate) const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);

/// Upper bound of one backoff delay, whatever the base delay and the attempt.
const MAX_BACKOFF: Duration = Duration::from_secs(120);

/// A tiberius client over a tokio TCP stream.
pub(crate) type TdsClient = Client<Compat<TcpStream>>;

/// The SQL login of a Stellar server.
///
/// Read from the environment by [`from_env`](Self::from_env) (what `fluxion.toml`'s
/// `user_env`/`password_env` name), or given directly by an embedding application that keeps
/// secrets elsewhere. Its `Debug` output never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct StellarCredentials {
    user: String,
    password: String,
}

impl fmt::Debug for StellarCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StellarCredentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl StellarCredentials {
    /// A login and its password.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            password: password.into(),
        }
    }

    /// Reads the login from the variable `user_env` and the password from `password_env`. A
    /// variable that is not set (or not Unicode) is a `db_connection` error that names the
    /// variable — never its value — and is not retried: the environment will not change by
    /// itself.
    pub fn from_env(user_env: &str, password_env: &str) -> Result<Self, EtlError> {
        let read = |var: &str, what: &str| {
            std::env::var(var).map_err(|e| {
                let why = match e {
                    std::env::VarError::NotPresent => "is not set",
                    std::env::VarError::NotUnicode(_) => "is not valid Unicode",
                };
                EtlError::new(
                    Phase::Extract,
                    ErrorCategory::DbConnection,
                    ErrorSource::StellarDb,
                    format!("the environment variable {var} (the Stellar {what}) {why}"),
                )
                .retryable(false)
            })
        };
        Ok(Self {
            user: read(user_env, "SQL login")?,
            password: read(password_env, "password")?,
        })
    }

    /// The login name.
    pub fn user(&self) -> &str {
        &self.user
    }
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub encryption: StellarEncryption,
    pub credentials: StellarCredentials,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
}

/// A typed cause reduced to what classification needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TdsCause {
    /// The server answered with an ERROR token carrying this number.
    Server(u32),
    /// A transport failure of this kind.
    Io(io::ErrorKind),
    /// TLS could not be negotiated (or the server cannot do what `encrypt` asks).
    Tls,
    /// The server redirected us elsewhere (Azure gateways); we do not follow.
    Routing,
    /// The server sent something that is not TDS as we know it.
    Protocol,
    /// Text that is not valid in its encoding.
    Encoding,
    /// A value that does not convert to what we asked for.
    Conversion,
}

impl TdsCause {
    /// Reduces a tiberius error by its variant and typed fields.
    pub(crate) fn of(err: &TdsError) -> Self {
        match err {
            TdsError::Server(token) => TdsCause::Server(token.code()),
            TdsError::Io { kind, .. } => TdsCause::Io(*kind),
            TdsError::Tls(_) => TdsCause::Tls,
            TdsError::Routing { .. } => TdsCause::Routing,
            TdsError::Protocol(_) | TdsError::BulkInput(_) => TdsCause::Protocol,
            TdsError::Encoding(_) | TdsError::Utf8 | TdsError::Utf16 => TdsCause::Encoding,
            TdsError::Conversion(_) | TdsError::ParseInt(_) => TdsCause::Conversion,
        }
    }
}

/// Classifies a cause seen while connecting and logging in (`connecting`) or while a query
/// ran, towards `peer` (when known). Returns the category and whether trying again can help.
pub(crate) fn classify(
    cause: TdsCause,
    connecting: bool,
    peer: Option<IpAddr>,
) -> (ErrorCategory, bool) {
    let net = |failure: NetFailure| (classify_network(failure, peer, SourceProtocol::Sql), true);
    match cause {
        TdsCause::Server(number) => classify_tds_error(number),
        TdsCause::Io(kind) => net(NetFailure::from_io(kind, connecting)),
        // A TLS failure is a configuration mismatch (a plaintext server, an untrusted
        // certificate): the next attempt would meet the same server.
        TdsCause::Tls | TdsCause::Routing => (ErrorCategory::DbConnection, false),
        // While logging in, a protocol error is a disagreement with the server (it cannot do
        // the encryption `encrypt` asks for, or speaks another TDS): the next attempt meets the
        // same server.
        TdsCause::Protocol if connecting => (ErrorCategory::DbConnection, false),
        // Mid-result it is garbage on the wire: the connection is unusable; a fresh one may
        // well work.
        TdsCause::Protocol => (ErrorCategory::NetworkError, true),
        TdsCause::Encoding => (ErrorCategory::EncodingError, false),
        TdsCause::Conversion => (ErrorCategory::DataFormat, false),
    }
}

/// Why one connection, query or result failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Resolving or dialling the host failed before TDS began.
    Net {
        /// The reduced cause.
        failure: NetFailure,
        /// The typed error (none for our own timeout).
        cause: Option<io::Error>,
    },
    /// tiberius failed, while logging in (`connecting`) or during a query.
    Tds {
        /// The error.
        cause: TdsError,
        /// Whether the connection was being established.
        connecting: bool,
    },
    /// Rows could not be converted into records.
    Rows {
        /// The first broken row.
        first: RowError,
        /// How many rows of the chunk were broken.
        rejected: u64,
    },
    /// Already classified (a broken assumption about the data, an unknown depot).
    Classified(EtlError),
}

impl Failure {
    /// The category and whether another attempt can help.
    pub(crate) fn classify(&self, peer: Option<IpAddr>) -> (ErrorCategory, bool) {
        match self {
            Failure::Net { failure, .. } => {
                (classify_network(*failure, peer, SourceProtocol::Sql), true)
            }
            Failure::Tds { cause, connecting } => classify(TdsCause::of(cause), *connecting, peer),
            Failure::Rows { first, .. } => (first.category(), false),
            Failure::Classified(e) => (e.category(), e.is_retryable()),
        }
    }

    /// The classified error; `context` says what was being read and `attempts` how many
    /// times it was tried.
    pub(crate) fn into_error(self, peer: Option<IpAddr>, context: &str, attempts: u32) -> EtlError {
        let (category, retryable) = self.classify(peer);
        let tries = if attempts > 1 {
            format!(" after {attempts} attempts")
        } else {
            String::new()
        };
        let what = self.describe();
        let error = EtlError::new(
            category.phase(),
            category,
            ErrorSource::StellarDb,
            format!("{context}{tries}: {what}"),
        );
        match self {
            Failure::Net { cause: Some(c), .. } => error.with_cause(c).retryable(retryable),
            Failure::Net { cause: None, .. } => error.retryable(retryable),
            Failure::Tds { cause, .. } => error.with_cause(cause).retryable(retryable),
            Failure::Rows { .. } => error.retryable(retryable),
            Failure::Classified(e) => e,
        }
    }

    fn describe(&self) -> String {
        match self {
            Failure::Net { failure, .. } => match failure {
                NetFailure::ConnectTimeout => "no TCP connection within the connect timeout",
                NetFailure::Refused => "the connection was refused",
                NetFailure::Unreachable => "the host is unreachable",
                NetFailure::Dns => "the host name does not resolve",
                NetFailure::Reset => "the connection was closed while connecting",
                _ => "cannot connect",
            }
            .to_owned(),
            Failure::Tds { cause, connecting } => match TdsCause::of(cause) {
                TdsCause::Server(18456) => "the server refused the login (error 18456)".to_owned(),
                TdsCause::Server(n) => format!("the server answered with error {n}"),
                TdsCause::Io(io::ErrorKind::TimedOut) if *connecting => {
                    "the login did not complete within the connect timeout".to_owned()
                }
                TdsCause::Io(io::ErrorKind::TimedOut) => {
                    "the server did not answer within the command timeout".to_owned()
                }
                TdsCause::Io(_) if *connecting => {
                    "the connection failed while logging in".to_owned()
                }
                TdsCause::Io(_) => {
                    "the connection was lost before the result was complete".to_owned()
                }
                TdsCause::Tls => "cannot negotiate encryption (see `encrypt`)".to_owned(),
                TdsCause::Routing => "the server redirected the connection elsewhere".to_owned(),
                TdsCause::Protocol if *connecting => {
                    "the server does not accept this connection (see `encrypt`)".to_owned()
                }
                TdsCause::Protocol => "the server's answer is not valid TDS".to_owned(),
                TdsCause::Encoding => "a text value is not valid in its encoding".to_owned(),
                TdsCause::Conversion => "a value has an unexpected type".to_owned(),
            },
            Failure::Rows { first, rejected } => format!(
                "{rejected} row(s) of the chunk could not be converted, nothing of this unit is \
                 loaded; first: {first}"
            ),
            Failure::Classified(e) => e.message().to_owned(),
        }
    }
}

/// Resolves the host; the address (when it resolved) is also what classification looks at.
pub(crate) async fn resolve(target: &Target) -> Result<SocketAddr, Failure> {
    if let Ok(ip) = target.host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, target.port));
    }
    let lookup = tokio::time::timeout(
        target.connect_timeout,
        tokio::net::lookup_host((target.host.as_str(), target.port)),
    )
    .await;
    match lookup {
        Ok(Ok(mut addrs)) => addrs.next().ok_or(Failure::Net {
            failure: NetFailure::Dns,
            cause: None,
        }),
        Ok(Err(e)) => Err(Failure::Net {
            failure: NetFailure::Dns,
            cause: Some(e),
        }),
        Err(_) => Err(Failure::Net {
            failure: NetFailure::Dns,
            cause: None,
        }),
    }
}

/// Dials `addr` and logs in. `diagnostics` is filled as far as it got (address, port, and the
/// connect latency once the TCP handshake completed), whether or not the login succeeds.
pub(crate) async fn connect(
    target: &Target,
    addr: SocketAddr,
    diagnostics: &mut NetworkDiagnostics,
) -> Result<TdsClient, Failure> {
    *diagnostics = NetworkDiagnostics {
        ip: Some(addr.ip()),
        port: Some(addr.port()),
        latency_ms: None,
    };
    let started = Instant::now();
    let tcp = match tokio::time::timeout(target.connect_timeout, TcpStream::connect(addr)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => {
            return Err(Failure::Net {
                failure: NetFailure::from_io(e.kind(), true),
                cause: Some(e),
            })
        }
        Err(_) => {
            return Err(Failure::Net {
                failure: NetFailure::ConnectTimeout,
                cause: None,
            })
        }
    };
    diagnostics.latency_ms = Some(started.elapsed().as_secs_f64() * 1e3);
    tune_socket(&tcp);
    let config = tds_config(target);
    Client::connect(config, tcp.compat_write())
        .await
        .map_err(|cause| Failure::Tds {
            cause,
            connecting: true,
        })
}

/// `TCP_NODELAY` and keepalive. Failing to set either only costs performance or an early
/// warning of a dead link, so it is logged, not fatal.
fn tune_socket(tcp: &TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        debug!(error = %e, "Cannot set TCP_NODELAY on the Stellar connection.");
    }
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_TIME)
        .with_interval(KEEPALIVE_INTERVAL);
    if let Err(e) = socket2::SockRef::from(tcp).set_tcp_keepalive(&keepalive) {
        debug!(error = %e, "Cannot set TCP keepalive on the Stellar connection.");
    }
}

/// The tiberius configuration of a target.
pub(crate) fn tds_config(target: &Target) -> Config {
    let mut config = Config::new();
    config.host(&target.host);
    config.port(target.port);
    config.database(&target.database);
    config.application_name(APPLICATION_NAME);
    config.authentication(AuthMethod::sql_server(
        &target.credentials.user,
        &target.credentials.password,
    ));
    match target.encryption {
        // `NotSupported`, not `Off`: with a TLS backend compiled in, `Off` still encrypts the
        // login, which a plaintext server (the simulator) cannot do.
        StellarEncryption::Off => config.encryption(EncryptionLevel::NotSupported),
        StellarEncryption::TrustServerCertificate => {
            config.encryption(EncryptionLevel::Required);
            config.trust_cert();
        }
        StellarEncryption::VerifyCertificate => config.encryption(EncryptionLevel::Required),
    }
    config.handshake_timeout(Some(target.connect_timeout));
    config.command_timeout(Some(target.command_timeout));
    config
}

/// Closes a connection whose last result was read to the end, without waiting long for it.
pub(crate) async fn close(client: TdsClient) {
    let _ = tokio::time::timeout(Duration::from_secs(5), client.close()).await;
}

/// The delay before retry number `attempt` (1-based): the base delay doubled for each earlier
/// attempt, capped, with "equal jitter" (between half and all of it) so that stores failing
/// together do not retry in lockstep.
pub(crate) fn backoff(base: Duration, attempt: u32) -> Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(16);
    let full = base.saturating_mul(factor).min(MAX_BACKOFF);
    full.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// A Stellar server on the VPN. Never dialled: classification only looks at the address.
    const VPN: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 20, 12));
    const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn io(kind: io::ErrorKind) -> TdsError {
        TdsError::Io {
            kind,
            message: String::new(),
        }
    }

    #[test]
    fn connect_failures_depend_on_the_peer() {
        use io::ErrorKind as K;
        use ErrorCategory as C;
        let cases = [
            (K::ConnectionRefused, VPN, C::VpnUnreachable),
            (K::HostUnreachable, VPN, C::VpnUnreachable),
            (K::NetworkUnreachable, VPN, C::VpnUnreachable),
            (K::TimedOut, VPN, C::VpnTimeout),
            (K::ConnectionRefused, LOOPBACK, C::DbConnection),
            (K::HostUnreachable, LOOPBACK, C::DbConnection),
            (K::TimedOut, LOOPBACK, C::DbConnection),
        ];
        for (kind, peer, want) in cases {
            let f = Failure::Tds {
                cause: io(kind),
                connecting: true,
            };
            assert_eq!(f.classify(Some(peer)), (want, true), "{kind:?} {peer}");
            let f = Failure::Net {
                failure: NetFailure::from_io(kind, true),
                cause: Some(io::Error::from(kind)),
            };
            assert_eq!(f.classify(Some(peer)).0, want, "{kind:?} {peer}");
        }
        // Our own timeout around the TCP connect carries no io::Error.
        let own = Failure::Net {
            failure: NetFailure::ConnectTimeout,
            cause: None,
        };
        assert_eq!(own.classify(Some(VPN)), (C::VpnTimeout, true));
        assert_eq!(own.classify(Some(LOOPBACK)), (C::DbConnection, true));
        let dns = Failure::Net {
            failure: NetFailure::Dns,
            cause: None,
        };
        assert_eq!(dns.classify(None).0, C::NetworkError);
    }

    #[test]
    fn query_failures() {
        use io::ErrorKind as K;
        use ErrorCategory as C;
        // Command timeout: tiberius' round-trip timer reports `Io { TimedOut }`.
        assert_eq!(
            classify(TdsCause::Io(K::TimedOut), false, Some(LOOPBACK)),
            (C::DbTimeout, true)
        );
        assert_eq!(
            classify(TdsCause::Io(K::TimedOut), false, Some(VPN)),
            (C::VpnTimeout, true)
        );
        // A reset mid-result (RST or FIN), public or private.
        for kind in [K::BrokenPipe, K::UnexpectedEof, K::ConnectionReset] {
            for peer in [VPN, LOOPBACK] {
                assert_eq!(
                    classify(TdsCause::of(&io(kind)), false, Some(peer)),
                    (C::NetworkError, true),
                    "{kind:?}"
                );
            }
        }
        // Server errors by number: the login is never retried, a deadlock is.
        assert_eq!(
            classify(TdsCause::Server(18456), true, Some(VPN)),
            (C::DbConnection, false)
        );
        assert_eq!(
            classify(TdsCause::Server(1205), false, Some(VPN)),
            (C::DbError, true)
        );
        assert_eq!(
            classify(TdsCause::Server(207), false, None),
            (C::DbError, false)
        );
        assert_eq!(
            classify(TdsCause::Server(208), false, None),
            (C::DbError, false)
        );
        assert_eq!(
            classify(TdsCause::Server(102), false, None),
            (C::DbError, false)
        );
        // Encryption a plaintext server cannot do is a configuration problem.
        let tls = TdsError::Tls("the server does not support encryption".into());
        assert_eq!(
            classify(TdsCause::of(&tls), true, Some(VPN)),
            (C::DbConnection, false)
        );
        // tiberius reports an encryption level the server refuses as a protocol error.
        let refused =
            TdsError::Protocol("Server does not allow the requested encryption level.".into());
        assert_eq!(
            classify(TdsCause::of(&refused), true, Some(VPN)),
            (C::DbConnection, false)
        );
        assert_eq!(
            classify(TdsCause::of(&refused), false, Some(VPN)),
            (C::NetworkError, true)
        );
        assert_eq!(TdsCause::of(&TdsError::Utf16), TdsCause::Encoding);
        assert_eq!(
            TdsCause::of(&TdsError::Conversion("x".into())),
            TdsCause::Conversion
        );
    }

    #[test]
    fn errors_carry_phase_category_and_retry_hint() {
        let login = Failure::Tds {
            cause: io(io::ErrorKind::ConnectionRefused),
            connecting: true,
        }
        .into_error(Some(VPN), "Stellar sales of cedi_seco", 4);
        assert_eq!(login.phase(), Phase::Extract);
        assert_eq!(login.category(), ErrorCategory::VpnUnreachable);
        assert!(login.is_retryable());
        assert!(
            login.message().contains("after 4 attempts"),
            "{}",
            login.message()
        );
        assert!(login.message().starts_with("Stellar sales of cedi_seco"));
    }

    #[test]
    fn missing_credentials_name_the_variable_never_a_value() {
        let e = StellarCredentials::from_env(
            "FLUXION_UNIT_TEST_UNSET_STELLAR_USER",
            "FLUXION_UNIT_TEST_UNSET_STELLAR_PASSWORD",
        )
        .unwrap_err();
        assert_eq!(e.category(), ErrorCategory::DbConnection);
        assert!(!e.is_retryable());
        assert!(
            e.message().contains("FLUXION_UNIT_TEST_UNSET_STELLAR_USER"),
            "{}",
            e.message()
        );
        let c = StellarCredentials::new("etl", "Sup3r-secret");
        assert!(!format!("{c:?}").contains("Sup3r"));
    }

    #[test]
    fn plaintext_is_not_supported_not_off() {
        let target = Target {
            host: "127.0.0.1".into(),
            port: 14330,
            database: "VAD10".into(),
            encryption: StellarEncryption::Off,
            credentials: StellarCredentials::new("u", "p"),
            connect_timeout: Duration::from_secs(3),
            command_timeout: Duration::from_secs(7),
        };
        let c = tds_config(&target);
        assert_eq!(c.get_addr(), "127.0.0.1:14330");
        assert_eq!(c.get_handshake_timeout(), Some(Duration::from_secs(3)));
        assert_eq!(c.get_command_timeout(), Some(Duration::from_secs(7)));
        let dbg = format!("{c:?}");
        assert!(dbg.contains("NotSupported"), "{dbg}");
        let tls = tds_config(&Target {
            encryption: StellarEncryption::TrustServerCertificate,
            ..target
        });
        assert!(format!("{tls:?}").contains("Required"));
    }

    #[tokio::test]
    async fn sockets_get_nodelay_and_a_30_second_keepalive() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        tune_socket(&tcp);
        assert!(tcp.nodelay().unwrap());
        let sock = socket2::SockRef::from(&tcp);
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), KEEPALIVE_TIME);
        assert_eq!(sock.tcp_keepalive_interval().unwrap(), KEEPALIVE_INTERVAL);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_millis(100);
        for attempt in 1..=4u32 {
            let full = base * (1 << (attempt - 1));
            for _ in 0..20 {
                let d = backoff(base, attempt);
                assert!(d >= full / 2 && d <= full, "{attempt}: {d:?}");
            }
        }
        assert!(backoff(Duration::from_secs(60), 30) <= MAX_BACKOFF);
    }
}
