//! The agent's own metrics: `process_*` (as every Prometheus client library
//! exports them) and `picket_build_info`.
//!
//! These always describe the running process, so they read the real
//! `/proc/self`, not the configured procfs root (client_golang does the
//! same). Dashboards 1860 and 9628 chart them.

use super::Out;

/// Appends `process_*` and `picket_build_info`. A value that cannot be read
/// is left out; the rest are still reported.
pub fn collect(out: &mut Out<'_>) {
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
}
