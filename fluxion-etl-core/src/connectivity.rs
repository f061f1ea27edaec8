//! Can each store's source be reached right now? A timed TCP connect to the KLK API or the
//! store's Stellar database, with a failure classified exactly as an extraction's would be
//! (`vpn_unreachable` / `vpn_timeout` when the address is on the VPN's private ranges).
//!
//! This is the control centre's connectivity panel (seed 000): it opens a connection and closes
//! it, sends nothing, and never logs in, so it is cheap enough to run on demand. KLK stores share
//! the chain's one API server, so it is dialled once for all of them.
//!
//! ```no_run
//! # async fn demo(fluxion: fluxion_etl_core::Fluxion) -> fluxion_etl_core::Result<()> {
//! use fluxion_etl_core::StoreSelection;
//!
//! let report = fluxion.connectivity(&StoreSelection::AllActive).await?;
//! for store in &report.tiendas {
//!     match store.latency_ms {
//!         Some(ms) => println!("{}: {}:{} in {ms:.1} ms", store.tienda_id, store.host, store.port),
//!         None => println!("{}: {:?}", store.tienda_id, store.error_category),
//!     }
//! }
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use serde::Serialize;

use crate::config::{Config, Environment, StoreConfig, StoreSource};
use crate::model::{SourceSystem, StoreId};
pub use crate::net::{probe, Probe};
use crate::taxonomy::{classify_network, is_private, ErrorCategory, NetFailure, SourceProtocol};

/// Every probed store, in the configuration's order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectivityReport {
    /// When the probes started.
    pub checked_at: DateTime<Utc>,
    /// Reachable stores.
    pub reachable: usize,
    /// Unreachable stores (or stores whose source is not configured).
    pub unreachable: usize,
    /// One entry per store.
    pub tiendas: Vec<StoreReachability>,
}

/// One store's source, right now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreReachability {
    /// The store.
    pub tienda_id: StoreId,
    /// Its name.
    pub tienda_nombre: String,
    /// `klk` or `stellar`.
    pub source_system: SourceSystem,
    /// What was dialled: `api` (KLK) or `database` (Stellar).
    pub target: &'static str,
    /// The configured host (for this environment).
    pub host: String,
    /// The port.
    pub port: u16,
    /// The address the host resolved to.
    pub ip: Option<IpAddr>,
    /// Whether that address is on the VPN's private ranges.
    pub via_vpn: bool,
    /// Whether a TCP connection was established.
    pub reachable: bool,
    /// TCP connect time, in milliseconds, when reachable.
    pub latency_ms: Option<f64>,
    /// The taxonomy's category of the failure (`vpn_unreachable`, `api_timeout`, …).
    pub error_category: Option<ErrorCategory>,
    /// What went wrong, in words (never a credential: only host and port are known here).
    pub error: Option<String>,
}

/// What a store's probe dials.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Target {
    host: String,
    port: u16,
    protocol: SourceProtocol,
}

fn target_of(config: &Config, store: &StoreConfig, env: Environment) -> Result<Target, String> {
    match &store.source {
        StoreSource::Klk(_) => {
            let klk = config
                .klk
                .as_ref()
                .ok_or_else(|| "no [klk] section configures the API's address".to_owned())?;
            let url = url::Url::parse(&klk.base_url)
                .map_err(|e| format!("the KLK base URL is invalid: {e}"))?;
            let (host, port) = crate::net::host_and_port(&url);
            Ok(Target {
                host,
                port,
                protocol: SourceProtocol::Http,
            })
        }
        StoreSource::Stellar(s) => Ok(Target {
            host: s.host.for_env(env).to_owned(),
            port: s.port,
            protocol: SourceProtocol::Sql,
        }),
    }
}

fn describe(failure: NetFailure) -> &'static str {
    match failure {
        NetFailure::ConnectTimeout | NetFailure::ReadTimeout => "no answer before the timeout",
        NetFailure::Refused => "the connection was refused",
        NetFailure::Unreachable => "no route to the host",
        NetFailure::Reset => "the connection was reset",
        NetFailure::Dns => "the host name does not resolve",
        NetFailure::Other => "the connection failed",
    }
}

/// Probes `stores` (each distinct address once, all in parallel).
pub async fn check(
    config: &Config,
    stores: &[&StoreConfig],
    env: Environment,
    timeout: Duration,
) -> ConnectivityReport {
    let checked_at = Utc::now();
    let targets: Vec<Result<Target, String>> =
        stores.iter().map(|s| target_of(config, s, env)).collect();
    let mut distinct: Vec<Target> = targets.iter().filter_map(|t| t.clone().ok()).collect();
    distinct.sort_by(|a, b| (&a.host, a.port).cmp(&(&b.host, b.port)));
    distinct.dedup();
    let probes = join_all(distinct.iter().map(|t| probe(&t.host, t.port, timeout))).await;
    let results: HashMap<&Target, Probe> = distinct.iter().zip(probes).collect();

    let tiendas: Vec<StoreReachability> = stores
        .iter()
        .zip(&targets)
        .map(|(store, target)| {
            let system = store.system();
            let target_name = match system {
                SourceSystem::Stellar => "database",
                _ => "api",
            };
            match target {
                Err(problem) => StoreReachability {
                    tienda_id: store.id.clone(),
                    tienda_nombre: store.name.clone(),
                    source_system: system,
                    target: target_name,
                    host: String::new(),
                    port: 0,
                    ip: None,
                    via_vpn: false,
                    reachable: false,
                    latency_ms: None,
                    error_category: None,
                    error: Some(problem.clone()),
                },
                Ok(t) => {
                    let probe = results.get(t).cloned().unwrap_or(Probe {
                        addr: None,
                        latency_ms: None,
                        failure: Some(NetFailure::Other),
                    });
                    let ip = probe.addr.map(|a| a.ip());
                    StoreReachability {
                        tienda_id: store.id.clone(),
                        tienda_nombre: store.name.clone(),
                        source_system: system,
                        target: target_name,
                        host: t.host.clone(),
                        port: t.port,
                        ip,
                        via_vpn: ip.is_some_and(is_private),
                        reachable: probe.failure.is_none(),
                        latency_ms: probe.latency_ms,
                        error_category: probe.failure.map(|f| classify_network(f, ip, t.protocol)),
                        error: probe.failure.map(|f| describe(f).to_owned()),
                    }
                }
            }
        })
        .collect();
    let reachable = tiendas.iter().filter(|t| t.reachable).count();
    ConnectivityReport {
        checked_at,
        reachable,
        unreachable: tiendas.len() - reachable,
        tiendas,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::{klk_store, periferico, stellar_cedi};

    fn config(klk_port: u16, stellar_port: u16) -> Config {
        let doc = format!(
            "\n[klk]\nbase_url = \"http://127.0.0.1:{klk_port}\"\n\n{}\n{}\n{}",
            periferico(),
            klk_store("tienda_02", "AV. BOLIVAR", "SUC007", "TAVBOL"),
            stellar_cedi(
                "cedi_01",
                "CEDI",
                &format!("port = {stellar_port}\ndepot = \"1413\"\n")
            ),
        );
        Config::from_toml_str(&doc, "test").unwrap()
    }

    async fn dead_port() -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn a_listening_source_is_reachable_and_a_closed_port_is_refused() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let klk_port = listener.local_addr().unwrap().port();
        let closed = dead_port().await;
        let config = config(klk_port, closed);
        let stores: Vec<&StoreConfig> = config.stores.iter().collect();
        let report = check(&config, &stores, Environment::Local, Duration::from_secs(2)).await;
        assert_eq!((report.reachable, report.unreachable), (2, 1));
        let klk = &report.tiendas[0];
        assert!(klk.reachable && klk.latency_ms.is_some(), "{klk:?}");
        assert_eq!(
            (klk.target, klk.port, klk.via_vpn),
            ("api", klk_port, false)
        );
        assert!(report.tiendas[1].latency_ms.is_some());
        let cedi = &report.tiendas[2];
        assert!(!cedi.reachable, "{cedi:?}");
        assert_eq!(cedi.target, "database");
        // Loopback is not the VPN: a refused database is `db_connection`, not `vpn_*`.
        assert_eq!(cedi.error_category, Some(ErrorCategory::DbConnection));
        assert_eq!(cedi.error.as_deref(), Some("the connection was refused"));
    }

    #[tokio::test]
    async fn klk_without_a_klk_section_says_so() {
        let mut config = config(1, 1);
        config.klk = None;
        let stores: Vec<&StoreConfig> = config.stores.iter().take(1).collect();
        let report = check(&config, &stores, Environment::Local, Duration::from_secs(1)).await;
        let t = &report.tiendas[0];
        assert!(!t.reachable);
        assert!(
            t.error.as_deref().unwrap_or_default().contains("[klk]"),
            "{t:?}"
        );
    }

    /// The production host of a Stellar store is a VPN address; its failure is classified from
    /// the address and a typed cause — never by dialling it.
    #[test]
    fn a_private_production_host_fails_as_vpn() {
        let config = config(1, 1433);
        let target = target_of(&config, &config.stores[2], Environment::Production).unwrap();
        assert_eq!(target.host, "192.168.20.12");
        let ip: IpAddr = target.host.parse().unwrap();
        assert_eq!(
            classify_network(NetFailure::Refused, Some(ip), target.protocol),
            ErrorCategory::VpnUnreachable
        );
        assert_eq!(
            classify_network(NetFailure::ConnectTimeout, Some(ip), target.protocol),
            ErrorCategory::VpnTimeout
        );
    }
}
