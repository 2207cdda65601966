//! Encoders from the metric model to wire formats: text exposition for
//! `/metrics`, remote_write protobuf for push, MQTT payloads.

pub mod mqtt;
pub mod remote_write;
pub mod text;
