//! The network probe: resolve a host and time a TCP connect to it, the step behind every
//! extraction's network diagnostics and the control centre's connectivity panel; and the
//! host/port of a base URL. Failures come back as the taxonomy's [`NetFailure`], for
//! [`classify_network`](crate::taxonomy::classify_network) to name with the peer's address range
//! ([`is_private`]).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use url::Url;

pub use crate::taxonomy::is_private;
use crate::taxonomy::NetFailure;

/// The outcome of dialling one address.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// The resolved address.
    pub addr: Option<SocketAddr>,
    /// Connect time in milliseconds, when it connected.
    pub latency_ms: Option<f64>,
    /// Why it did not connect.
    pub failure: Option<NetFailure>,
}

/// Resolves `host` and opens (then closes) a TCP connection to it within `timeout`.
pub async fn probe(host: &str, port: u16, timeout: Duration) -> Probe {
    let lookup = tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await;
    let addr = match lookup {
        Ok(Ok(mut addrs)) => addrs.next(),
        Ok(Err(_)) | Err(_) => None,
    };
    let Some(addr) = addr else {
        return Probe {
            addr: None,
            latency_ms: None,
            failure: Some(NetFailure::Dns),
        };
    };
    let started = Instant::now();
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => {
            let ms = started.elapsed().as_secs_f64() * 1e3;
            drop(stream);
            Probe {
                addr: Some(addr),
                latency_ms: Some(ms),
                failure: None,
            }
        }
        Ok(Err(e)) => Probe {
            addr: Some(addr),
            latency_ms: None,
            failure: Some(NetFailure::from_io(e.kind(), true)),
        },
        Err(_) => Probe {
            addr: Some(addr),
            latency_ms: None,
            failure: Some(NetFailure::ConnectTimeout),
        },
    }
}

/// The host (bare, as the resolver wants it: IPv6 literals come bracketed in URLs) and the
/// port of a base URL (KLK's).
pub fn host_and_port(url: &Url) -> (String, u16) {
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    (host, url.port_or_known_default().unwrap_or(80))
}
