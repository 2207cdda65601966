//! picket-core: what the agent and the hub share, and nothing either one
//! alone needs.
//!
//! In data-flow order:
//!
//! ```text
//! metric (the one model: samples, labels) ─ identity (job/instance rules)
//!   → encode (text, remote_write, MQTT payloads) / decode (text, remote_write)
//!   → batch (a collection stamped for push and MQTT)
//! http (requests, responses, bind)   web (--web.config.file: TLS, auth;
//!   the one server loop)   mqtt (broker settings)
//! config (file:line:key errors, TOML, durations, listen addresses)
//! relabel (Prometheus's relabel_configs engine: the hub's target, sample
//!   and alert relabelling and the agent's write_relabel_configs)
//! cli (flag spellings)   logger   clock   varint   process (process_*)
//! ```
//!
//! Neither binary's crate depends on the other; both depend on this one.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod identity;
pub mod metric;

pub mod decode;
pub mod encode;

pub mod batch;

pub mod http;
pub mod mqtt;
pub mod web;
pub mod yaml;

pub mod cli;
pub mod config;
pub mod relabel;

pub mod clock;
pub mod logger;
pub mod process;
pub mod varint;

#[doc(hidden)]
pub mod fuzz;
