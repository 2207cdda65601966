//! picket: monitoring for small ARM fleets.
//!
//! The agent's data flow, in module order:
//!
//! ```text
//! collect (node collectors, self metrics) → encode (text) → serve (/metrics)
//!                decode (text parser: textfile, relay, hub scrapes)
//! ```
//!
//! Every module works on the one model in [`metric`]. The binary in
//! `src/bin/picket.rs` only parses arguments and maps errors to exit codes;
//! [`cli`] and [`config`] turn flags and the TOML file into an
//! [`config::AgentConfig`], and [`agent`] wires it together.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod identity;
pub mod metric;
pub mod varint;

pub mod clock;

pub mod batch;
pub mod buffer;
pub mod mqtt;
pub mod push;

pub mod collect;
pub mod decode;
pub mod encode;
pub mod http;
pub mod serve;

pub mod hub;

pub mod agent;
pub mod cli;
pub mod config;
pub mod logger;
