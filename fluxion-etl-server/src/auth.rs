//! Bearer-token authentication with two roles.
//!
//! Tokens come from the environment (`FLUXION_ADMIN_TOKENS`, `FLUXION_VIEWER_TOKENS`,
//! comma-separated) and are kept only as SHA-256 digests: the server never holds a token's text
//! after start-up, and never logs or returns one. An **admin** (seed 003's `super_admin`) may do
//! everything; a **viewer** may read status, gaps, logs and metrics. A request without a known
//! token gets 401, a viewer asking for an admin route gets 403.
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

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

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

/// The accepted tokens, as digests.
#[derive(Clone, Default)]
pub struct Auth {
    digests: HashMap<[u8; 32], Role>,
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
        let entry = self.digests.entry(digest(token)).or_insert(role);
        *entry = (*entry).max(role);
    }

    /// The role of a token, if it is known.
    pub fn role_of(&self, token: &str) -> Option<Role> {
        self.digests.get(&digest(token)).copied()
    }

    /// How many tokens of a role are accepted.
    pub fn count(&self, role: Role) -> usize {
        self.digests.values().filter(|r| **r == role).count()
    }

    /// Whether no token at all is accepted (every API request then gets 401).
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
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
    pub auth: std::sync::Arc<Auth>,
    /// The role needed.
    pub needs: Role,
    /// Whether `?access_token=` is accepted (the SSE stream).
    pub allow_query_token: bool,
}

/// Rejects requests whose token does not grant `guard.needs`.
pub async fn require(State(guard): State<Guard>, req: Request, next: Next) -> Response {
    let token = bearer(&req, guard.allow_query_token);
    match guard.auth.check(token.as_deref(), guard.needs) {
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

    #[test]
    fn query_tokens_are_percent_decoded() {
        assert_eq!(percent_decode("a%2Bb+c%zz"), "a+b c%zz");
        assert_eq!(percent_decode("abc%"), "abc%");
        assert_eq!(generate_token().len(), 64);
    }
}
