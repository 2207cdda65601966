//! Decoders from wire formats to the metric model.

pub mod remote_write;
pub mod text;
