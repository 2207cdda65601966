//! Decoders from wire formats to the metric model.

pub mod text;
