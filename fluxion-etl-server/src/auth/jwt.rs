//! The chain's own bearer tokens: HS256 JWTs issued by its admin panel's backend.
//!
//! A token's `sub` is the user name; its role (`super_admin`, `gerente_general`,
//! `visualizador`, …) is read from a claim when the token carries one (`role` by default), or
//! else looked up with a configured SQL query in the chain's database (the `usuarios`/`roles`
//! tables), whose one parameter (`$1` on PostgreSQL, `?1` on SQLite) is the user name. The roles
//! in [`JwtOptions::admin_roles`] (`super_admin`) are admins; the others are viewers, or only
//! those in [`JwtOptions::viewer_roles`] when that list is given.
//!
//! Verification is HS256 only (a token signed otherwise, or with `alg: none`, is refused), with
//! the MAC checked in constant time; `exp` is required and honoured (with [`LEEWAY_SECS`] of
//! clock skew), as is `nbf` when present. Each refusal says which check failed, never echoing
//! the token.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use fluxion_etl_core::loaders::Destination;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::Role;

/// Seconds of clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: i64 = 30;

/// How tokens are checked and their roles found.
#[derive(Debug, Clone)]
pub struct JwtOptions {
    /// The claim holding the role (`role`).
    pub role_claim: String,
    /// Roles that are admins (`super_admin`).
    pub admin_roles: Vec<String>,
    /// Roles that are viewers; `None`: every role that is not an admin's.
    pub viewer_roles: Option<Vec<String>>,
    /// A query returning a user's role from the chain's database, `$1`/`?1` the user name,
    /// for tokens without the role claim.
    pub role_query: Option<String>,
}

impl Default for JwtOptions {
    fn default() -> Self {
        Self {
            role_claim: "role".to_owned(),
            admin_roles: vec!["super_admin".to_owned()],
            viewer_roles: None,
            role_query: None,
        }
    }
}

/// Why a JWT was refused (each a 401 that says which).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url parts holding JSON.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// Signed with another algorithm than HS256.
    #[error("token algorithm `{0}` is not accepted (HS256 only)")]
    Algorithm(String),
    /// The signature does not match the configured secret.
    #[error("invalid token signature")]
    Signature,
    /// No `exp` claim.
    #[error("token has no expiry (exp)")]
    NoExpiry,
    /// `exp` has passed.
    #[error("token expired {0} s ago")]
    Expired(i64),
    /// `nbf` is still in the future.
    #[error("token not valid for another {0} s (nbf)")]
    NotYetValid(i64),
    /// No `sub` claim.
    #[error("token has no subject (sub)")]
    NoSubject,
    /// The role lookup found no such user.
    #[error("unknown user `{0}`")]
    UnknownUser(String),
    /// No role claim and no lookup configured.
    #[error("token has no `{0}` claim and no role lookup is configured")]
    NoRole(String),
    /// The role is neither an admin's nor a viewer's.
    #[error("role `{0}` has no access to this API")]
    RoleNotAllowed(String),
    /// The role lookup failed (the database's error is logged, not answered).
    #[error("cannot look up the user's role")]
    Lookup,
}

/// Verifies the chain's HS256 tokens and maps their roles.
pub struct JwtAuth {
    secret: Vec<u8>,
    options: JwtOptions,
    /// Where `role_query` runs.
    database: Option<Destination>,
}

impl std::fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtAuth")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl JwtAuth {
    /// Tokens signed with `secret`; `database` is where [`JwtOptions::role_query`] runs.
    pub fn new(
        secret: impl Into<Vec<u8>>,
        options: JwtOptions,
        database: Option<Destination>,
    ) -> Self {
        Self {
            secret: secret.into(),
            options,
            database,
        }
    }

    /// Tokens signed with the secret held by the environment variable `var` (named in the
    /// error when it is unset or empty; the secret itself never appears anywhere).
    pub fn from_env(
        var: &str,
        options: JwtOptions,
        database: Option<Destination>,
    ) -> Result<Self, String> {
        let secret = std::env::var(var)
            .ok()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("the JWT secret's variable {var} is not set"))?;
        Ok(Self::new(secret, options, database))
    }

    /// Whether `token` has a JWT's shape (three dot-separated parts): other bearer tokens are
    /// the static ones.
    pub fn looks_like_jwt(token: &str) -> bool {
        token.split('.').count() == 3
    }

    /// Checks the signature, `exp` and `nbf` at `now` (Unix seconds); returns the claims.
    pub fn verify(
        &self,
        token: &str,
        now: i64,
    ) -> Result<serde_json::Map<String, Value>, JwtError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed("expected three dot-separated parts"));
        };
        let header: Value = decode_json(header)?;
        match header.get("alg").and_then(Value::as_str) {
            Some("HS256") => {}
            Some(other) => return Err(JwtError::Algorithm(other.chars().take(16).collect())),
            None => return Err(JwtError::Malformed("the header has no alg")),
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| JwtError::Malformed("the signature is not base64url"))?;
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).map_err(|_| JwtError::Signature)?;
        mac.update(&token.as_bytes()[..header_and_payload_len(token)]);
        mac.verify_slice(&signature)
            .map_err(|_| JwtError::Signature)?;
        let claims = match decode_json(payload)? {
            Value::Object(claims) => claims,
            _ => return Err(JwtError::Malformed("the claims are not a JSON object")),
        };
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or(JwtError::NoExpiry)?;
        if now > exp + LEEWAY_SECS {
            return Err(JwtError::Expired(now - exp));
        }
        if let Some(nbf) = claims.get("nbf").and_then(Value::as_i64) {
            if nbf > now + LEEWAY_SECS {
                return Err(JwtError::NotYetValid(nbf - now));
            }
        }
        Ok(claims)
    }

    /// The role a valid token grants.
    pub async fn role_of(&self, token: &str) -> Result<Role, JwtError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let claims = self.verify(token, now)?;
        let user = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(JwtError::NoSubject)?;
        let role = match claims.get(&self.options.role_claim).and_then(Value::as_str) {
            Some(role) => role.to_owned(),
            None => self.look_up(user).await?,
        };
        self.map_role(&role)
    }

    /// The API role of one of the chain's roles.
    pub fn map_role(&self, role: &str) -> Result<Role, JwtError> {
        let o = &self.options;
        if o.admin_roles.iter().any(|r| r == role) {
            return Ok(Role::Admin);
        }
        match &o.viewer_roles {
            Some(viewers) if !viewers.iter().any(|r| r == role) => {
                Err(JwtError::RoleNotAllowed(role.to_owned()))
            }
            _ => Ok(Role::Viewer),
        }
    }

    async fn look_up(&self, user: &str) -> Result<String, JwtError> {
        let (Some(sql), Some(database)) = (&self.options.role_query, &self.database) else {
            return Err(JwtError::NoRole(self.options.role_claim.clone()));
        };
        let found: Result<Option<String>, sqlx::Error> = match database {
            Destination::Sqlite(d) => {
                sqlx::query_scalar(sql)
                    .bind(user)
                    .fetch_optional(d.pool())
                    .await
            }
            Destination::Postgres(d) => {
                sqlx::query_scalar(sql)
                    .bind(user)
                    .fetch_optional(d.pool())
                    .await
            }
            _ => return Err(JwtError::Lookup),
        };
        match found {
            Ok(Some(role)) => Ok(role),
            Ok(None) => Err(JwtError::UnknownUser(user.chars().take(64).collect())),
            Err(e) => {
                tracing::warn!(
                    "Cannot look up a token's role: {}",
                    fluxion_etl_core::tracker::sanitize(&e.to_string())
                );
                Err(JwtError::Lookup)
            }
        }
    }
}

/// The length of `header.payload`, the signed part.
fn header_and_payload_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(token.len())
}

fn decode_json(part: &str) -> Result<Value, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed("a part is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed("a part is not JSON"))
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    use super::*;

    const SECRET: &[u8] = b"the-admin-panel-secret";

    /// A token minted by an independent implementation (`jsonwebtoken`).
    fn mint(claims: Value, secret: &[u8], alg: jsonwebtoken::Algorithm) -> String {
        encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    fn auth() -> JwtAuth {
        JwtAuth::new(SECRET, JwtOptions::default(), None)
    }

    const NOW: i64 = 1_765_000_000;

    #[test]
    fn a_valid_token_gives_its_claims() {
        let token = mint(
            json!({"sub": "maria", "role": "super_admin", "exp": NOW + 600}),
            SECRET,
            jsonwebtoken::Algorithm::HS256,
        );
        assert!(JwtAuth::looks_like_jwt(&token));
        let claims = auth().verify(&token, NOW).unwrap();
        assert_eq!(claims["sub"], "maria");
    }

    #[test]
    fn each_refusal_says_which_check_failed() {
        let hs256 = jsonwebtoken::Algorithm::HS256;
        let cases = [
            (
                mint(
                    json!({"sub": "m", "exp": NOW + 600}),
                    b"another-secret",
                    hs256,
                ),
                JwtError::Signature,
            ),
            (
                mint(json!({"sub": "m", "exp": NOW - 120}), SECRET, hs256),
                JwtError::Expired(120),
            ),
            (mint(json!({"sub": "m"}), SECRET, hs256), JwtError::NoExpiry),
            (
                mint(
                    json!({"sub": "m", "exp": NOW + 600, "nbf": NOW + 300}),
                    SECRET,
                    hs256,
                ),
                JwtError::NotYetValid(300),
            ),
            (
                mint(
                    json!({"sub": "m", "exp": NOW + 600}),
                    SECRET,
                    jsonwebtoken::Algorithm::HS512,
                ),
                JwtError::Algorithm("HS512".into()),
            ),
            (
                "a.b".to_owned(),
                JwtError::Malformed("expected three dot-separated parts"),
            ),
            (
                "!!.e30.x".to_owned(),
                JwtError::Malformed("a part is not base64url"),
            ),
        ];
        for (token, expected) in cases {
            assert_eq!(auth().verify(&token, NOW), Err(expected), "{token}");
        }
        // `alg: none`, unsigned: refused whatever the claims say.
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let claims =
            URL_SAFE_NO_PAD.encode(br#"{"sub":"m","role":"super_admin","exp":9999999999}"#);
        assert_eq!(
            auth().verify(&format!("{header}.{claims}."), NOW),
            Err(JwtError::Algorithm("none".into()))
        );
        // A payload changed after signing.
        let good = mint(
            json!({"sub": "m", "role": "visualizador", "exp": NOW + 600}),
            SECRET,
            hs256,
        );
        let parts: Vec<&str> = good.split('.').collect();
        let forged =
            URL_SAFE_NO_PAD.encode(br#"{"sub":"m","role":"super_admin","exp":9999999999}"#);
        assert_eq!(
            auth().verify(&format!("{}.{forged}.{}", parts[0], parts[2]), NOW),
            Err(JwtError::Signature)
        );
    }

    #[test]
    fn roles_map_to_admin_or_viewer() {
        let a = auth();
        assert_eq!(a.map_role("super_admin"), Ok(Role::Admin));
        assert_eq!(a.map_role("gerente_general"), Ok(Role::Viewer));
        let only = JwtAuth::new(
            SECRET,
            JwtOptions {
                viewer_roles: Some(vec!["visualizador".into()]),
                ..JwtOptions::default()
            },
            None,
        );
        assert_eq!(only.map_role("visualizador"), Ok(Role::Viewer));
        assert_eq!(
            only.map_role("cajero"),
            Err(JwtError::RoleNotAllowed("cajero".into()))
        );
    }
}
