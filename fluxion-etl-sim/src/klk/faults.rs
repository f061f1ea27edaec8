//! Fault injection: which requests misbehave, and how.
//!
//! A [`FaultRule`] selects requests by branch (or warehouse, or `*`) and optionally by endpoint, and may
//! apply only to the first `times` matching requests ("503 twice, then success"). Every matching rule
//! contributes: latencies add up, the first slow-drip rule paces the body, and the first rule that decides
//! the response (status, error body, malformed or truncated JSON, reset, stall, hang) decides it. A rule
//! that matched but contributed nothing (a second response-deciding rule) does not use up its `times`.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// One fault and the requests it applies to.
///
/// In TOML:
/// ```toml
/// [[faults]]
/// branch = "SUC001"        # branch code, warehouse code, or "*" (the default)
/// endpoint = "ventas"      # optional; every endpoint when absent
/// times = 2                # optional; only the first 2 matching requests
/// fault = { kind = "status", code = 503 }
/// ```
/// In JSON (admin endpoint): `{"branch":"SUC001","endpoint":"ventas","times":2,"fault":{"kind":"status","code":503}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// Branch code (`SUC001`), warehouse code (`APP-TPF`), or `*` for every request, including the ones
    /// that name no branch (`/maestra/almacenes/pisoventa`).
    #[serde(default = "any_branch")]
    pub branch: String,
    /// Only this endpoint; every endpoint when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Endpoint>,
    /// Only the first `times` matching requests (counted since the rules were set); always when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u64>,
    /// What goes wrong.
    pub fault: Fault,
}

/// The simulator's endpoints, as fault rules name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `GET /maestra/almacenes/Reposicion`.
    AlmacenesReposicion,
    /// `GET /maestra/almacenes/pisoventa`.
    AlmacenesPisoventa,
    /// `POST /maestra/articulos/almacen`.
    ArticulosAlmacen,
    /// `POST /maestra/articulos/reposicion`.
    ArticulosReposicion,
    /// `POST /ventas`.
    Ventas,
}

/// What goes wrong with a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Wait this long before answering (adds up across rules).
    Latency {
        /// Milliseconds.
        ms: u64,
    },
    /// Send the body slowly: `bytes_per_tick` bytes every `tick_ms` milliseconds.
    SlowDrip {
        /// Bytes written per tick (at least 1).
        bytes_per_tick: usize,
        /// Pause between ticks, in milliseconds.
        tick_ms: u64,
    },
    /// Answer this HTTP status with a short text body (500, 503, 401, 403, 404, 429...).
    Status {
        /// The status code (400–599).
        code: u16,
    },
    /// Answer 200 with `{"error": message}`, as KLK does for some server-side failures.
    ErrorBody {
        /// The message.
        #[serde(default = "default_error_message")]
        message: String,
    },
    /// Answer 200 with the normal body, in which the second array element is syntactically broken.
    MalformedJson,
    /// Answer 200 and end the body cleanly (terminating chunk sent) in the middle of an element about
    /// half-way through the array, so the JSON is incomplete.
    Truncated,
    /// Abort the connection after `after_bytes` body bytes (no terminating chunk): the client sees a
    /// body/read error. When the body is shorter, the abort happens at its end.
    ResetMidBody {
        /// Body bytes sent before the reset.
        #[serde(default = "default_after_bytes")]
        after_bytes: u64,
    },
    /// Send `after_bytes` body bytes, then nothing more while keeping the connection open (a read
    /// timeout on the client). When the body is shorter, it stalls before its last byte.
    StallMidBody {
        /// Body bytes sent before stalling.
        #[serde(default = "default_after_bytes")]
        after_bytes: u64,
    },
    /// Never answer (no status line) until the client gives up or the simulator shuts down.
    Hang,
}

fn any_branch() -> String {
    "*".to_owned()
}

fn default_error_message() -> String {
    "Error al consultar la base de datos".to_owned()
}

fn default_after_bytes() -> u64 {
    64 * 1024
}

impl FaultRule {
    /// A rule applying `fault` to every request; narrow it with [`for_branch`](Self::for_branch),
    /// [`on`](Self::on) and [`times`](Self::times).
    pub fn new(fault: Fault) -> Self {
        Self {
            branch: any_branch(),
            endpoint: None,
            times: None,
            fault,
        }
    }

    /// Only requests for this branch or warehouse code.
    pub fn for_branch(mut self, branch: impl Into<String>) -> Self {
        self.branch = branch.into();
        self
    }

    /// Only this endpoint.
    pub fn on(mut self, endpoint: Endpoint) -> Self {
        self.endpoint = Some(endpoint);
        self
    }

    /// Only the first `n` matching requests.
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }

    /// Checks values serde accepts but the simulator cannot serve.
    pub fn validate(&self) -> Result<(), String> {
        match &self.fault {
            Fault::Status { code } if !(400..=599).contains(code) => Err(format!(
                "fault status code {code} is not an HTTP error status (400-599)"
            )),
            Fault::SlowDrip { bytes_per_tick, .. } if *bytes_per_tick == 0 => {
                Err("fault slow_drip bytes_per_tick must be at least 1".into())
            }
            _ if self.branch.is_empty() => Err("fault branch must not be empty (use \"*\")".into()),
            _ => Ok(()),
        }
    }

    fn matches(&self, endpoint: Endpoint, keys: &[&str]) -> bool {
        self.endpoint.is_none_or(|e| e == endpoint)
            && (self.branch == "*" || keys.iter().any(|k| *k == self.branch))
    }
}

/// How one request misbehaves, resolved from the rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Total added latency, ms.
    pub latency_ms: u64,
    /// `(bytes_per_tick, tick_ms)`.
    pub drip: Option<(usize, u64)>,
    /// The response-deciding fault, if any.
    pub response: Option<Fault>,
}

/// The live rules and how often each has been applied.
#[derive(Debug, Default)]
pub(crate) struct FaultSet {
    rules: Mutex<Vec<(FaultRule, u64)>>,
}

impl FaultSet {
    pub fn new(rules: Vec<FaultRule>) -> Self {
        let set = Self::default();
        set.replace(rules);
        set
    }

    /// Replaces every rule and resets the `times` counters.
    pub fn replace(&self, rules: Vec<FaultRule>) {
        let mut guard = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        *guard = rules.into_iter().map(|r| (r, 0)).collect();
    }

    pub fn list(&self) -> Vec<FaultRule> {
        let guard = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        guard.iter().map(|(r, _)| r.clone()).collect()
    }

    /// Resolves the plan for one request and counts the rules it used.
    pub fn plan(&self, endpoint: Endpoint, keys: &[&str]) -> Plan {
        let mut plan = Plan::default();
        let mut guard = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        for (rule, used) in guard.iter_mut() {
            if !rule.matches(endpoint, keys) || rule.times.is_some_and(|t| *used >= t) {
                continue;
            }
            let applied = match &rule.fault {
                Fault::Latency { ms } => {
                    plan.latency_ms = plan.latency_ms.saturating_add(*ms);
                    true
                }
                Fault::SlowDrip {
                    bytes_per_tick,
                    tick_ms,
                } => {
                    if plan.drip.is_none() {
                        plan.drip = Some((*bytes_per_tick, *tick_ms));
                        true
                    } else {
                        false
                    }
                }
                other => {
                    if plan.response.is_none() {
                        plan.response = Some(other.clone());
                        true
                    } else {
                        false
                    }
                }
            };
            if applied {
                *used += 1;
            }
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_n_requests_then_success() {
        let set = FaultSet::new(vec![FaultRule::new(Fault::Status { code: 503 })
            .for_branch("SUC001")
            .on(Endpoint::Ventas)
            .times(2)]);
        let keys = ["SUC001", "APP-TPF"];
        for _ in 0..2 {
            assert_eq!(
                set.plan(Endpoint::Ventas, &keys).response,
                Some(Fault::Status { code: 503 })
            );
        }
        assert_eq!(set.plan(Endpoint::Ventas, &keys), Plan::default());
        // Another branch or endpoint never matched.
        let set = FaultSet::new(set.list());
        assert_eq!(set.plan(Endpoint::Ventas, &["SUC007"]), Plan::default());
        assert_eq!(set.plan(Endpoint::ArticulosAlmacen, &keys), Plan::default());
        assert!(set
            .plan(Endpoint::Ventas, &["APP-TPF", "SUC001"])
            .response
            .is_some());
    }

    #[test]
    fn latencies_add_and_first_response_wins_without_using_the_second() {
        let set = FaultSet::new(vec![
            FaultRule::new(Fault::Latency { ms: 10 }),
            FaultRule::new(Fault::Latency { ms: 5 }).for_branch("TTZ"),
            FaultRule::new(Fault::Hang).times(1),
            FaultRule::new(Fault::Truncated).times(1),
        ]);
        let plan = set.plan(Endpoint::Ventas, &["SUC005", "TTZ"]);
        assert_eq!(plan.latency_ms, 15);
        assert_eq!(plan.response, Some(Fault::Hang));
        // The truncation was shadowed, so it is still available.
        let plan = set.plan(Endpoint::AlmacenesPisoventa, &[]);
        assert_eq!(plan.latency_ms, 10);
        assert_eq!(plan.response, Some(Fault::Truncated));
        assert_eq!(set.plan(Endpoint::Ventas, &[]).response, None);
    }

    #[test]
    fn rules_round_trip_through_json_and_reject_unknown_keys() {
        let rules = vec![
            FaultRule::new(Fault::SlowDrip {
                bytes_per_tick: 100,
                tick_ms: 5,
            }),
            FaultRule::new(Fault::ResetMidBody { after_bytes: 10 })
                .for_branch("SUC002")
                .on(Endpoint::Ventas),
            FaultRule::new(Fault::ErrorBody {
                message: "boom".into(),
            })
            .times(3),
        ];
        let json = serde_json::to_string(&rules).unwrap();
        let back: Vec<FaultRule> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, rules);
        let parsed: FaultRule =
            serde_json::from_str(r#"{"fault":{"kind":"reset_mid_body"}}"#).unwrap();
        assert_eq!(parsed.branch, "*");
        assert_eq!(parsed.fault, Fault::ResetMidBody { after_bytes: 65536 });
        assert!(
            serde_json::from_str::<FaultRule>(r#"{"fault":{"kind":"hang"},"brnach":"x"}"#).is_err()
        );
        // (serde cannot reject extra keys of the unit variants; struct variants are strict.)
        assert!(serde_json::from_str::<FaultRule>(
            r#"{"fault":{"kind":"latency","ms":3,"after_bytes":1}}"#
        )
        .is_err());
        assert!(serde_json::from_str::<FaultRule>(r#"{"fault":{"kind":"explode"}}"#).is_err());
        assert!(FaultRule::new(Fault::Status { code: 200 })
            .validate()
            .is_err());
        assert!(FaultRule::new(Fault::Status { code: 401 })
            .validate()
            .is_ok());
    }
}
