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
//! `src/bin/picket.rs` only parses arguments and maps errors to exit codes.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod metric;

pub mod collect;
pub mod decode;
pub mod encode;

pub mod logger;
