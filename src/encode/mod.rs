//! Encoders from the metric model to wire formats: text exposition for
//! `/metrics`, remote_write protobuf for push.

pub mod remote_write;
pub mod text;
