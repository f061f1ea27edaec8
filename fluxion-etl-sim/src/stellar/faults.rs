//! Fault state of a running simulator: which faults are armed, and which of them a query triggers.

use std::time::Duration;

use super::config::{SimDepot, StellarFault};
use super::sql::DepotTouch;

/// The error a query-level fault ends a result with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FaultError {
    Deadlock,
    Custom {
        number: i32,
        class: u8,
        message: String,
    },
}

/// What a query must suffer.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct QueryFaults {
    pub hang: bool,
    pub slow: Option<Duration>,
    pub reset_after: Option<u64>,
    pub error_after: Option<(u64, FaultError)>,
}

impl QueryFaults {
    /// Rows to send before the reset or the error, whichever comes first.
    pub fn row_limit(&self) -> Option<u64> {
        match (self.reset_after, &self.error_after) {
            (Some(a), Some((b, _))) => Some(a.min(*b)),
            (Some(a), None) => Some(a),
            (None, Some((b, _))) => Some(*b),
            (None, None) => None,
        }
    }
}

struct Armed {
    fault: StellarFault,
    remaining: Option<u32>,
}

/// The armed faults.
#[derive(Default)]
pub(crate) struct FaultState {
    armed: Vec<Armed>,
}

impl FaultState {
    pub fn new(faults: Vec<StellarFault>) -> FaultState {
        let mut s = FaultState::default();
        s.set(faults);
        s
    }

    /// Replaces the armed faults.
    pub fn set(&mut self, faults: Vec<StellarFault>) {
        self.armed = faults
            .into_iter()
            .map(|f| Armed {
                remaining: f.times(),
                fault: f,
            })
            .collect();
    }

    /// The armed faults, as configured.
    pub fn list(&self) -> Vec<StellarFault> {
        self.armed.iter().map(|a| a.fault.clone()).collect()
    }

    /// Whether connections must be refused.
    pub fn refuse(&self) -> bool {
        self.armed
            .iter()
            .any(|a| a.fault == StellarFault::RefuseConnections)
    }

    /// Whether logins must fail.
    pub fn login_failure(&self) -> bool {
        self.armed
            .iter()
            .any(|a| a.fault == StellarFault::LoginFailure)
    }

    /// The faults a SELECT reading `touch` triggers; each triggered fault with a `times` budget is
    /// used up by one.
    pub fn take_query_faults(&mut self, touch: &DepotTouch, depots: &[SimDepot]) -> QueryFaults {
        let mut q = QueryFaults::default();
        for a in &mut self.armed {
            if a.remaining == Some(0) {
                continue;
            }
            let applies = match a.fault.depot() {
                None => true,
                Some(code) => match touch {
                    DepotTouch::None => false,
                    DepotTouch::All => true,
                    DepotTouch::Some(list) => list
                        .iter()
                        .any(|&i| depots.get(i).is_some_and(|d| d.code == code)),
                },
            };
            if !applies {
                continue;
            }
            let used = match &a.fault {
                StellarFault::RefuseConnections | StellarFault::LoginFailure => false,
                StellarFault::NeverAnswer { .. } => {
                    q.hang = true;
                    true
                }
                StellarFault::SlowRows { .. } => {
                    q.slow = q.slow.or(a.fault.delay());
                    true
                }
                StellarFault::ResetMidResult { after_rows, .. } => {
                    q.reset_after = Some(q.reset_after.map_or(*after_rows, |r| r.min(*after_rows)));
                    true
                }
                StellarFault::Deadlock { after_rows, .. } => {
                    if q.error_after.is_none() {
                        q.error_after = Some((*after_rows, FaultError::Deadlock));
                    }
                    true
                }
                StellarFault::SqlError {
                    number,
                    class,
                    message,
                    after_rows,
                    ..
                } => {
                    if q.error_after.is_none() {
                        q.error_after = Some((
                            *after_rows,
                            FaultError::Custom {
                                number: *number,
                                class: *class,
                                message: message.clone(),
                            },
                        ));
                    }
                    true
                }
            };
            if used {
                if let Some(n) = a.remaining.as_mut() {
                    *n -= 1;
                }
            }
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stellar::config::default_depots;

    #[test]
    fn depot_faults_only_hit_queries_of_that_depot_and_times_runs_out() {
        let depots = default_depots();
        let mut s = FaultState::new(vec![StellarFault::Deadlock {
            depot: Some("1710".into()),
            after_rows: 5,
            times: Some(1),
        }]);
        let seco = DepotTouch::Some(vec![0]);
        let frio = DepotTouch::Some(vec![1]);
        assert_eq!(s.take_query_faults(&seco, &depots), QueryFaults::default());
        assert_eq!(
            s.take_query_faults(&DepotTouch::None, &depots),
            QueryFaults::default()
        );
        let q = s.take_query_faults(&frio, &depots);
        assert_eq!(q.error_after, Some((5, FaultError::Deadlock)));
        assert_eq!(
            s.take_query_faults(&frio, &depots),
            QueryFaults::default(),
            "used up"
        );
    }

    #[test]
    fn connection_faults_are_flags() {
        let s = FaultState::new(vec![
            StellarFault::RefuseConnections,
            StellarFault::LoginFailure,
        ]);
        assert!(s.refuse() && s.login_failure());
        assert!(!FaultState::default().refuse());
    }
}
