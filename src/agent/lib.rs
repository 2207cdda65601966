//! picket: the agent. Its data flow, in module order:
//!
//! ```text
//! collect (node, HAProxy, PostgreSQL, systemd collectors; self metrics)
//!   → serve (/metrics, text from picket-core's encoder)
//!   → push (the collection schedule) through picket-forward's buffered
//!     outputs (remote_write, MQTT; SQLite store-and-forward)
//! ```
//!
//! The metric model, the codecs and the config plumbing live in
//! [`picket_core`]. `main.rs` only parses arguments and maps errors to exit
//! codes; [`cli`] and [`config`] turn flags and the TOML file into an
//! [`config::AgentConfig`], and [`agent`] wires it together.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod collect;
pub mod serve;

pub mod push;

pub mod agent;
pub mod cli;
pub mod config;
#[doc(hidden)]
pub mod fuzz;
