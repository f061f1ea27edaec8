//! `GET /metrics`: the library's metrics in the Prometheus text format.
//!
//! The library emits its metrics where the work happens (the runner per batch, the tracker per
//! store and per execution; [`fluxion_etl_core::tracker::metrics`] lists them) through the `metrics`
//! facade. This module installs the process's recorder — a Prometheus one — and `/metrics`
//! renders its [`PrometheusHandle`]. Every run of the process is counted, whoever started it
//! (the API, the scheduler, an embedding program), without reading anything back.
//!
//! ```
//! let handle = fluxion_etl_server::metrics::install();
//! assert!(handle.render().contains("# TYPE fluxion_runs_active gauge"));
//! ```

use std::sync::OnceLock;

use fluxion_etl_core::tracker::metrics as names;
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

/// Buckets of `fluxion_phase_duration_seconds`: a store's phase takes from milliseconds (a
/// quiet store's transform) to many minutes (a full history over the VPN).
const PHASE_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0,
];

/// A Prometheus recorder for the library's metrics, not installed: with its help texts, the
/// phase-duration buckets (a histogram, so several servers' series can be summed) and
/// `fluxion_runs_active` at 0 before any run. [`install`] makes one the process's recorder; a
/// test can use one as a thread's local recorder to see only its own runs.
pub fn recorder() -> PrometheusRecorder {
    // The matcher is a literal name and the buckets are non-empty, the only two ways this fails.
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(names::PHASE_DURATION_SECONDS.into()),
            PHASE_BUCKETS,
        )
        .unwrap_or_else(|e| {
            tracing::warn!("Phase durations are reported as a summary: {e}");
            PrometheusBuilder::new()
        });
    let recorder = builder.build_recorder();
    metrics::with_local_recorder(&recorder, || {
        names::describe();
        metrics::gauge!(names::RUNS_ACTIVE).set(0.0);
    });
    recorder
}

/// Installs a [`recorder`] as the process's metrics recorder (once; later calls return the same
/// handle). When the embedding program installed its own recorder first, the library's metrics
/// go to that one (the program serves them its own way) and the handle returned renders none of
/// them.
pub fn install() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!(
                    "Another metrics recorder is installed; the library's metrics go to it and /metrics serves none."
                );
            }
            handle
        })
        .clone()
}
