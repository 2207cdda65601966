//! The agent's integration tests: one binary, modules by area. Tests run
//! the real `picket` binary or the library's public API. Tests that need a peer
//! program (promtool, Prometheus, node_exporter) are `#[ignore]`d so plain
//! `cargo test` needs nothing outside the crate; `tests/run.sh` installs the
//! peers and runs them too (`--include-ignored`).

#[path = "../util.rs"]
mod util;

// Command line and config files: exit codes and messages.
mod config;
// The text exposition encoder and parser, through the public API.
mod text_format;
// The HTTP side: routes, gzip, filters, limits, slow clients.
mod server;
// Fixture trees against golden /metrics files.
mod golden;
// Truncated and garbled files fail one collector, nothing else.
mod bad_input;
// Real Prometheus and promtool (ignored unless --include-ignored).
mod peers;
// Push, buffer and replay against a switchable receiver and real Prometheus.
mod push;
// Side by side with the real node_exporter (ignored unless --include-ignored).
mod compat;
// systemd over a real dbus-daemon and a fake systemd, side by side with
// node_exporter (ignored unless --include-ignored; they fail, saying so,
// unless built with --features systemd, which tests/run.sh passes).
mod systemd;
// HAProxy: a real HAProxy 2.6, side by side with haproxy_exporter.
mod haproxy;
// PostgreSQL: a private PostgreSQL 15, side by side with postgres_exporter.
mod postgres;
// Relaying other /metrics endpoints of the board.
mod relay;

// --web.config.file (TLS, mTLS, basic auth) side by side with node_exporter.
#[cfg(feature = "tls")]
mod web;
