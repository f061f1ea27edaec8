//! Bearer-token authentication with two roles.
//!
//! Two kinds of bearer token are accepted: the static tokens below, and — when configured —
//! the HS256 JWTs the chain's admin panel issues (see [`jwt`]).
//!
//! Tokens come from the environment (`FLUXION_ADMIN_TOKENS`, `FLUXION_VIEWER_TOKENS`,
//! comma-separated) and are kept only as SHA-256 digests: the server never holds a token's text
//! after start-up, and never logs or returns one. An **admin** (seed 003's `super_admin`) may do
//! everything; a **viewer** may read status, gaps, logs and metrics. A request without a known
//! token gets 401, a viewer asking for an admin route gets 403.
//!
//! A token is compared with every accepted digest in constant time (no early exit, no hash-table
//! probe), so response times say nothing about how close a guess was. Failed attempts are
//! counted per client address: after [`MAX_FAILED_ATTEMPTS`] within [`FAILED_ATTEMPTS_WINDOW`],
//! that address gets 429 (with `Retry-After`) without its token being looked at, until the
//! window passes. The address is the TCP peer's (`fluxion_etl_server::serve` records it); behind
//! a reverse proxy every client shares the proxy's address, so rate-limit there as well.
//!
//! ```
//! use fluxion_etl_server::auth::{Auth, Role};
//!
//! let auth = Auth::from_lists("s3cret-admin", "s3cret-viewer");
//! assert_eq!(auth.role_of("s3cret-admin"), Some(Role::Admin));
//! assert_eq!(auth.role_of("s3cret-viewer"), Some(Role::Viewer));
//! assert_eq!(auth.role_of("guess"), None);
//! ```

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

pub mod jwt;

pub use jwt::{JwtAuth, JwtError, JwtOptions};

/// The environment variable with the admin tokens (comma-separated).
pub const ADMIN_TOKENS_ENV: &str = "FLUXION_ADMIN_TOKENS";
/// The environment variable with the viewer tokens (comma-separated).
pub const VIEWER_TOKENS_ENV: &str = "FLUXION_VIEWER_TOKENS";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Status, gaps, logs, metrics.
    Viewer,
    /// Everything: history, stats, runs, scheduler changes.
    Admin,
}

impl Role {
    /// `admin` or `viewer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Admin => "admin",
        }
    }
}

/// Failed authentication attempts an address may make within [`FAILED_ATTEMPTS_WINDOW`].
pub const MAX_FAILED_ATTEMPTS: u32 = 10;
/// The window over which failed attempts are counted.
pub const FAILED_ATTEMPTS_WINDOW: Duration = Duration::from_secs(60);

/// The accepted tokens, as digests, and the failed attempts per address.
#[derive(Clone, Default)]
pub struct Auth {
    digests: Vec<([u8; 32], Role)>,
    failures: Arc<FailedAttempts>,
    jwt: Option<Arc<JwtAuth>>,
}

/// Failed attempts per client address, in fixed windows.
#[derive(Debug, Default)]
struct FailedAttempts {
    by_address: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl FailedAttempts {
    /// How long `address` must wait, if it has used up its failed attempts.
    fn blocked_for(&self, address: IpAddr, now: Instant) -> Option<Duration> {
        let map = self.by_address.lock().ok()?;
        let (started, count) = map.get(&address)?;
        let ends = *started + FAILED_ATTEMPTS_WINDOW;
        (*count >= MAX_FAILED_ATTEMPTS && now < ends).then(|| ends - now)
    }

    fn record(&self, address: IpAddr, now: Instant) {
        let Ok(mut map) = self.by_address.lock() else {
            return;
        };
        if map.len() >= 10_000 {
            map.retain(|_, (started, _)| now < *started + FAILED_ATTEMPTS_WINDOW);
        }
        let entry = map.entry(address).or_insert((now, 0));
        if now >= entry.0 + FAILED_ATTEMPTS_WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("tokens", &self.digests.len())
            .finish()
    }
}

impl Auth {
    /// Tokens from two comma-separated lists (blank entries ignored). A token in both lists is
    /// an admin.
    pub fn from_lists(admin: &str, viewer: &str) -> Self {
        let mut auth = Auth::default();
        for t in split(viewer) {
            auth.add(t, Role::Viewer);
        }
        for t in split(admin) {
            auth.add(t, Role::Admin);
        }
        auth
    }

    /// Tokens from `FLUXION_ADMIN_TOKENS` and `FLUXION_VIEWER_TOKENS`.
    pub fn from_env() -> Self {
        let var = |k| std::env::var(k).unwrap_or_default();
        Self::from_lists(&var(ADMIN_TOKENS_ENV), &var(VIEWER_TOKENS_ENV))
    }

    /// Accepts one more token.
    pub fn add(&mut self, token: &str, role: Role) {
        let digest = digest(token);
        match self.digests.iter_mut().find(|(d, _)| *d == digest) {
            Some((_, known)) => *known = (*known).max(role),
            None => self.digests.push((digest, role)),
        }
    }

    /// The role of a token, if it is known. Every accepted digest is compared, in constant
    /// time, whatever matches.
    pub fn role_of(&self, token: &str) -> Option<Role> {
        let digest = digest(token);
        let mut found = None;
        for (known, role) in &self.digests {
            if bool::from(known.ct_eq(&digest)) {
                found = Some(*role);
            }
        }
        found
    }

    /// How many tokens of a role are accepted.
    pub fn count(&self, role: Role) -> usize {
        self.digests.iter().filter(|(_, r)| *r == role).count()
    }

    /// Whether no token at all is accepted (every API request then gets 401).
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty() && self.jwt.is_none()
    }

    /// Also accepts the chain's JWTs.
    pub fn with_jwt(mut self, jwt: JwtAuth) -> Self {
        self.jwt = Some(Arc::new(jwt));
        self
    }

    /// Checks a request's bearer token against the role a route needs.
    pub fn check(&self, bearer: Option<&str>, needs: Role) -> Result<Role, ApiError> {
        let Some(token) = bearer else {
            return Err(ApiError::unauthorized(
                "send `Authorization: Bearer <token>` (a token of FLUXION_ADMIN_TOKENS or FLUXION_VIEWER_TOKENS)",
            ));
        };
        let Some(role) = self.role_of(token) else {
            return Err(ApiError::unauthorized("unknown token"));
        };
        Self::allows(role, needs)
    }

    /// `role` if it grants `needs`, else 403.
    fn allows(role: Role, needs: Role) -> Result<Role, ApiError> {
        if role < needs {
            return Err(ApiError::forbidden(format!(
                "this endpoint needs the {} role; the token is a {} token",
                needs.as_str(),
                role.as_str()
            )));
        }
        Ok(role)
    }
}

/// A new random token (32 bytes, hex): what `--demo` prints when no token is configured.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn split(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|t| !t.is_empty())
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The bearer token of a request: the `Authorization` header, or — for the log stream only,
/// because a browser's `EventSource` cannot send headers — an `access_token` query parameter.
fn bearer(req: &Request, allow_query: bool) -> Option<String> {
    if let Some(value) = req.headers().get(AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned());
    }
    if allow_query {
        return req.uri().query().and_then(|q| {
            q.split('&').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                (k == "access_token").then(|| percent_decode(v))
            })
        });
    }
    None
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let escaped = (b == b'%' && i + 2 < bytes.len())
            .then(|| Some(hex(bytes[i + 1])? * 16 + hex(bytes[i + 2])?))
            .flatten();
        match (escaped, b) {
            (Some(v), _) => {
                out.push(v);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Middleware state: the accepted tokens and the role the routes behind it need.
#[derive(Debug, Clone)]
pub struct Guard {
    /// The accepted tokens.
    pub auth: Arc<Auth>,
    /// The role needed.
    pub needs: Role,
    /// Whether `?access_token=` is accepted (the SSE stream).
    pub allow_query_token: bool,
}

impl Auth {
    /// Checks a request from `address` (when known): an address that has used up its failed
    /// attempts gets 429 without its token being looked at, and a 401 counts as a failed
    /// attempt. A token with a JWT's shape is verified as one when JWTs are configured.
    pub async fn authenticate(
        &self,
        address: Option<IpAddr>,
        bearer: Option<&str>,
        needs: Role,
    ) -> Result<Role, ApiError> {
        let now = Instant::now();
        if let Some(wait) = address.and_then(|a| self.failures.blocked_for(a, now)) {
            let seconds = wait.as_secs().max(1);
            return Err(ApiError::too_many_attempts(
                format!(
                    "too many failed authentication attempts from this address; try again in {seconds} s"
                ),
                seconds,
            ));
        }
        let jwt = match (&self.jwt, bearer) {
            (Some(jwt), Some(token))
                if self.role_of(token).is_none() && JwtAuth::looks_like_jwt(token) =>
            {
                Some(jwt.role_of(token).await)
            }
            _ => None,
        };
        let checked = match jwt {
            Some(Ok(role)) => Self::allows(role, needs),
            Some(Err(e)) => Err(ApiError::unauthorized(e.to_string())),
            None => self.check(bearer, needs),
        };
        checked.inspect_err(|e| {
            if e.status() == axum::http::StatusCode::UNAUTHORIZED {
                if let Some(a) = address {
                    self.failures.record(a, now);
                }
            }
        })
    }
}

/// Rejects requests whose token does not grant `guard.needs` (and addresses that failed too
/// often, see the module docs).
pub async fn require(State(guard): State<Guard>, req: Request, next: Next) -> Response {
    let token = bearer(&req, guard.allow_query_token);
    let address = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    match guard
        .auth
        .authenticate(address, token.as_deref(), guard.needs)
        .await
    {
        Ok(_) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_digests() {
        let auth = Auth::from_lists(" a1 , a2,", "v1,a1");
        assert_eq!(auth.role_of("a1"), Some(Role::Admin));
        assert_eq!(auth.role_of("a2"), Some(Role::Admin));
        assert_eq!(auth.role_of("v1"), Some(Role::Viewer));
        assert_eq!(auth.role_of(""), None);
        assert_eq!(auth.count(Role::Admin), 2);
        assert!(!format!("{auth:?}").contains("a1"));
        assert_eq!(
            auth.check(Some("v1"), Role::Admin).unwrap_err().status(),
            axum::http::StatusCode::FORBIDDEN
        );
        assert_eq!(
            auth.check(None, Role::Viewer).unwrap_err().status(),
            axum::http::StatusCode::UNAUTHORIZED
        );
        assert_eq!(auth.check(Some("a1"), Role::Viewer).unwrap(), Role::Admin);
    }

    #[tokio::test]
    async fn an_address_that_fails_too_often_waits_out_the_window() {
        let auth = Auth::from_lists("admin-token", "");
        let attacker: IpAddr = "127.0.0.2".parse().unwrap();
        let other: IpAddr = "127.0.0.3".parse().unwrap();
        for _ in 0..MAX_FAILED_ATTEMPTS {
            let refused = auth
                .authenticate(Some(attacker), Some("guess"), Role::Viewer)
                .await
                .unwrap_err();
            assert_eq!(refused.status(), axum::http::StatusCode::UNAUTHORIZED);
        }
        // Even the right token is not looked at now, from that address only.
        let blocked = auth
            .authenticate(Some(attacker), Some("admin-token"), Role::Viewer)
            .await
            .unwrap_err();
        assert_eq!(blocked.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        let blocked = blocked.into_response();
        let wait: u64 = blocked.headers()[axum::http::header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        assert_eq!(
            auth.authenticate(Some(other), Some("admin-token"), Role::Viewer)
                .await
                .unwrap(),
            Role::Admin
        );
        // A 403 (a known token asking too much) is not a failed authentication.
        let viewer = Auth::from_lists("", "viewer-token");
        for _ in 0..MAX_FAILED_ATTEMPTS + 2 {
            let refused = viewer
                .authenticate(Some(attacker), Some("viewer-token"), Role::Admin)
                .await
                .unwrap_err();
            assert_eq!(refused.status(), axum::http::StatusCode::FORBIDDEN);
        }
    }

    #[test]
    fn the_window_resets() {
        let failures = FailedAttempts::default();
        let address: IpAddr = "127.0.0.2".parse().unwrap();
        let start = Instant::now();
        for _ in 0..MAX_FAILED_ATTEMPTS {
            failures.record(address, start);
        }
        assert!(failures.blocked_for(address, start).is_some());
        let later = start + FAILED_ATTEMPTS_WINDOW;
        assert_eq!(failures.blocked_for(address, later), None);
        failures.record(address, later);
        assert_eq!(failures.blocked_for(address, later), None);
    }

    #[test]
    fn query_tokens_are_percent_decoded() {
        assert_eq!(percent_decode("a%2Bb+c%zz"), "a+b c%zz");
        assert_eq!(percent_decode("abc%"), "abc%");
        assert_eq!(generate_token().len(), 64);
    }
}
