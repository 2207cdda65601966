//! picket-hub: the aggregator's data flow, in module order:
//!
//! ```text
//! ingest (remote_write receiver, scrape, MQTT) → store (SQLite chunks) → api (Prometheus HTTP API)
//!                                                  store → rules (evaluation) → notify (delivery)
//! ```
//!
//! [`ingest`] turns every input into one [`ingest::Batch`] for one
//! `Store::append`; [`store`] (schema, write, seal, read, and the chunk
//! codec [`store::chunk`]) knows no wire format.
//!
//! `main.rs` only parses arguments and maps errors to exit
//! codes; [`config`] reads the TOML file and Prometheus's flags, [`server`]
//! wires the parts together.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod config;
pub mod ingest;
pub mod json;
pub mod liveness;
pub mod mqtt;
pub mod notify;
pub mod promql;
pub mod query_api;
pub mod rules;
pub mod scrape;
pub mod server;
pub mod store;
pub mod telemetry;

pub mod api;
