//! The agent's own metrics: `process_*` (as every Prometheus client library
//! exports them), `picket_build_info`, and what the push outputs report
//! about themselves (requests, buffer, drops), through the reports
//! `agent.rs` hands the collector set when it starts them.
//!
//! These always describe the running process, so they read the real
//! `/proc/self`, not the configured procfs root (client_golang does the
//! same). Dashboards 1860 and 9628 chart them.

use std::sync::Arc;

use super::Out;
use picket_forward::telemetry::Report;

/// Appends `process_*`, `picket_build_info` and every output's metrics. A
/// value that cannot be read is left out; the rest are still reported.
pub(crate) fn collect(out: &mut Out<'_>, outputs: &[Arc<dyn Report>]) {
    out.gauge(
        "picket_build_info",
        "A metric with a constant '1' value labeled by version and target of picket.",
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("arch", std::env::consts::ARCH),
            ("os", std::env::consts::OS),
        ],
        1.0,
    );
    picket_core::process::collect(out);
    let now_ms = picket_core::clock::now_ms();
    for o in outputs {
        o.emit(out, now_ms);
    }
}
