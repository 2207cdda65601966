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

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod buffer;
