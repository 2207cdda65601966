//! Encoders from the metric model to wire formats.

pub mod text;
