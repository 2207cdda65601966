//! picket-forward: store-and-forward, apart from what produces the batches.
//!
//! The agent pushes its collections through it; the hub will forward
//! through it too (issue 24), and the hub must not depend on the agent, so
//! the buffer and the outputs live in a crate of their own:
//!
//! ```text
//! Arc<Batch> ─► Inlet ─► output thread ([`output`]) ──► Sender ─► receiver
//!                          │ store / read_oldest / ack      remote_write (HTTP)
//!                          ▼                                mqtt (QoS 1, PUBACK)
//!                        buffer (SQLite file per receiver)
//! ```
//!
//! [`output`] is the one buffered output (buffer, drop accounting, backoff,
//! logs); [`remote_write`] and [`mqtt`] are its two [`output::Sender`]s;
//! [`telemetry`] is what each output reports, handed to whoever exposes
//! it (the agent's collector set), never kept in a global registry.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod buffer;
#[doc(hidden)]
pub mod fuzz;
pub mod output;
pub mod telemetry;

pub mod mqtt;
pub mod remote_write;
