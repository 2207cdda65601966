//! The MQTT output's agent side: its `[push.mqtt]` config and
//! `--mqtt-url` ([`config`]). The sender itself (link, rounds, PUBACKs) is
//! [`picket_forward::mqtt`].

pub(crate) mod config;
