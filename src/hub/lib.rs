//! picket-hub: the aggregator. Its data flow, in module order:
//!
//! ```text
//! transports: server (HTTP: remote_write, API) · scrape (targets, file_sd) · mqtt (subscriber)
//!   → ingest (remote_write, scrape, MQTT → one Batch) ─ liveness (push sources, their up)
//!   → store (schema, write, seal, read; the chunk codec)
//!   → promql (evaluator) → query_api, api (Prometheus HTTP API), json
//!   → rules (rule files, evaluation, alert state) → notify (Alertmanager, routes,
//!     silences, webhook, email, MQTT)
//! ```
//!
//! [`ingest`] turns every input into one [`ingest::Batch`] for one
//! `Store::append`; [`store`] knows no wire format. `main.rs` only parses
//! arguments and maps errors to exit codes; [`config`] reads the TOML file
//! and Prometheus's flags (each section resolving itself against
//! picket-core's one error locator), [`server`] wires the parts together
//! and [`telemetry`] is the hub's own `/metrics`.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod mqtt;
pub mod scrape;
pub mod server;

pub mod ingest;
pub mod liveness;

pub mod store;

pub mod api;
pub mod json;
pub mod promql;
pub mod query_api;

pub mod notify;
pub mod rules;

pub mod config;
#[doc(hidden)]
pub mod fuzz;
pub mod telemetry;
