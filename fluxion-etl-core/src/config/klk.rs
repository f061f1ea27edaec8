//! `[klk]`: the chain's KLK server.

use serde::{Deserialize, Serialize};

/// `[klk]`: the chain's KLK server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KlkConfig {
    /// Base URL, e.g. `http://192.168.20.5:7002`.
    pub base_url: String,
    /// Name of an auth header to send (for deployments behind a gateway); KLK itself needs none.
    #[serde(default)]
    pub auth_header: Option<String>,
    /// Environment variable holding the auth header's value.
    #[serde(default)]
    pub auth_env: Option<String>,
}
