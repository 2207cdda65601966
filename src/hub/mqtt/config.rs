//! `[mqtt]` of the hub config and `--mqtt-url`, resolved into an
//! [`MqttInput`]. Apart from the hub's other sections because it changes
//! with the MQTT input only.

use std::path::PathBuf;

use serde::Deserialize;

use crate::config::Ctx;
use picket_core::config::{parse_duration, ConfigError};
use picket_core::mqtt::{self, Broker, BrokerKeys};

/// `[mqtt]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct MqttSection {
    /// `mqtt://host[:port]` or `mqtts://host[:port]`; empty or absent: off.
    pub url: Option<String>,
    /// MQTT client id (default `picket-hub-<hostname>`); fixed, so the
    /// broker keeps the hub's session while it is away.
    pub client_id: Option<String>,
    /// User name.
    pub username: Option<String>,
    /// Password (prefer `password_file`).
    pub password: Option<String>,
    /// File holding the password.
    pub password_file: Option<PathBuf>,
    /// PEM CA file for `mqtts://`.
    pub ca_file: Option<PathBuf>,
    /// Keep-alive, a Prometheus duration.
    pub keep_alive: Option<String>,
    /// Largest MQTT packet accepted, bytes.
    pub max_packet_size: Option<usize>,
    /// Filters of the metrics topics.
    pub topics: Option<Vec<String>>,
    /// Filters of the status topics.
    pub status_topics: Option<Vec<String>>,
    /// Accepted for old files and checked, but unused: agents send their
    /// `up` with every batch ([`crate::liveness`]).
    pub status_interval: Option<String>,
    /// Start a new session at each connection (default false: the broker
    /// queues QoS 1 messages for the hub while it is away).
    pub clean_session: Option<bool>,
}

/// The MQTT input, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct MqttInput {
    /// The broker.
    pub broker: Broker,
    /// Metrics topic filters (the first `+` names the `instance`).
    pub topics: Vec<String>,
    /// Status topic filters.
    pub status_topics: Vec<String>,
    /// Clean session.
    pub clean_session: bool,
}

/// Default largest packet accepted: 16 MiB. An incoming packet over the
/// limit breaks the connection, and the broker re-sends it to a persistent
/// session on every reconnect: keep this above what any publisher sends.
pub(crate) const DEFAULT_MAX_PACKET: usize = 16 << 20;

/// [`resolve`] against the config file: errors at `mqtt.<key>`'s line,
/// or at `--mqtt-url` when the flag gave the URL in question.
pub(crate) fn resolve_section(
    sec: Option<&MqttSection>,
    flag_url: Option<&str>,
    ctx: &Ctx<'_>,
) -> Result<Option<MqttInput>, ConfigError> {
    resolve(sec, flag_url).map_err(|(k, m, from_flag)| {
        ctx.at(&format!("mqtt.{k}"), from_flag.then_some("--mqtt-url"), m)
    })
}

/// Resolves the section, `--mqtt-url` replacing its URL. `Ok(None)`: no
/// MQTT input. `Err` is (key relative to `mqtt`, message, from the flag).
pub(crate) fn resolve(
    sec: Option<&MqttSection>,
    flag_url: Option<&str>,
) -> Result<Option<MqttInput>, (String, String, bool)> {
    let empty = MqttSection::default();
    let s = sec.unwrap_or(&empty);
    // No URL, or an empty one (as configs/*.toml ship it): off.
    let Some(url) = flag_url.or(s.url.as_deref()).filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let url = Some(url);
    let err = |(k, m): (&str, String)| (k.to_string(), m, k == "url" && flag_url.is_some());
    if !cfg!(feature = "mqtt") {
        return Err(err((
            "url",
            "MQTT needs the `mqtt` feature, which this build leaves out".into(),
        )));
    }
    let broker = mqtt::resolve(
        &BrokerKeys {
            url,
            client_id: s.client_id.as_deref(),
            username: s.username.as_deref(),
            password: s.password.as_deref(),
            password_file: s.password_file.as_ref(),
            ca_file: s.ca_file.as_ref(),
            keep_alive: s.keep_alive.as_deref(),
            max_packet_size: s.max_packet_size,
        },
        format!("picket-hub-{}", mqtt::hostname()),
        DEFAULT_MAX_PACKET,
    )
    .map_err(err)?;
    let filters = |k: &'static str, v: &Option<Vec<String>>, d: &str| {
        let list = v.clone().unwrap_or_else(|| vec![d.to_string()]);
        for f in &list {
            mqtt::check_filter(f).map_err(|m| err((k, m)))?;
        }
        Ok::<_, (String, String, bool)>(list)
    };
    let topics = filters("topics", &s.topics, "picket/+/metrics")?;
    let status_topics = filters("status_topics", &s.status_topics, "picket/+/status")?;
    if topics.is_empty() && status_topics.is_empty() {
        return Err(err(("topics", "no topic filter to subscribe to".into())));
    }
    if let Some(v) = &s.status_interval {
        parse_duration(v).map_err(|m| err(("status_interval", m)))?;
    }
    Ok(Some(MqttInput {
        broker,
        topics,
        status_topics,
        clean_session: s.clean_session.unwrap_or(false),
    }))
}
