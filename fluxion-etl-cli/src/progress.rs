//! A progress bar on stderr that a run advances store by store, fed by the library's
//! [`ExecutionObserver`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fluxion_etl_core::tracker::{ExecutionObserver, NewExecution, StoreDetail, StoreStatus};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Counts the finished stores of the latest non-recovery execution (a full run's automatic
/// recoveries come first and only change the message).
#[derive(Debug)]
pub struct StoreProgress {
    bar: ProgressBar,
    current: Mutex<Option<i64>>,
    failed: Mutex<u64>,
}

impl StoreProgress {
    /// A bar showing `message` (hidden when `visible` is false: not a terminal, `--json`, `-v`).
    pub fn new(visible: bool, message: String) -> Arc<Self> {
        let bar = if visible {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {msg} [{bar:24}] {pos}/{len} stores [{elapsed}]",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner())
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        } else {
            ProgressBar::hidden()
        };
        bar.set_message(message);
        Arc::new(Self {
            bar,
            current: Mutex::new(None),
            failed: Mutex::new(0),
        })
    }

    /// The bar itself (to show a message or clear it).
    pub fn bar(&self) -> &ProgressBar {
        &self.bar
    }
}

impl ExecutionObserver for StoreProgress {
    fn execution_started(&self, execution_id: i64, spec: &NewExecution) {
        if spec.is_recovery {
            self.bar
                .set_message(format!("Recovering a gap first (execution {execution_id})"));
            return;
        }
        *lock(&self.current) = Some(execution_id);
        *lock(&self.failed) = 0;
        self.bar.set_length(spec.tiendas.len() as u64);
        self.bar.set_position(0);
        self.bar
            .set_message(format!("Execution {execution_id}: {}", spec.etl_name));
    }

    fn store_finished(&self, detail: &StoreDetail) {
        if *lock(&self.current) != Some(detail.execution_id) {
            return;
        }
        self.bar.inc(1);
        if detail.status == StoreStatus::Failed {
            let failed = {
                let mut failed = lock(&self.failed);
                *failed += 1;
                *failed
            };
            self.bar.set_message(format!(
                "Execution {}: {} ({failed} failed)",
                detail.execution_id, detail.etl_name
            ));
        }
    }
}

impl Drop for StoreProgress {
    /// A run that ends early (an error) leaves no half-drawn bar behind.
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
