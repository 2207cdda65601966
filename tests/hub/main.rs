//! picket-hub's integration tests, and the fleet's (agents pushing into
//! the hub, directly and through MQTT): one binary, modules by area. The
//! agent binary comes from the same `cargo test --workspace` (see
//! `util::workspace_bin`). Tests that need a peer program are `#[ignore]`d
//! so plain `cargo test` needs nothing outside the workspace; `tests/run.sh`
//! runs them too (`--include-ignored`).

#[path = "../util.rs"]
mod util;

// picket-hub: remote_write in, the read API out.
mod backup;
mod hub;
// PromQL answers against a real Prometheus over the same data.
mod promql_diff;
// MQTT forwarding through a real Mosquitto (ignored unless --include-ignored).
mod mqtt;
// picket-hub alerting: rule files, evaluation, Alertmanager, direct notifications.
mod alerting;
// An unchanged alertmanager.yml for direct notifications, against a real Alertmanager 0.25.
mod amconfig;
// The fleet on defaults: identity, up for push, dashboards and alerts (ignored unless --include-ignored).
mod fleet;
// The hub behind --web.config.file; agents pushing and scraped over TLS.
mod promconfig;
mod web;
// picket_core::relabel against promtool's relabelling (ignored unless --include-ignored).
mod relabel;
