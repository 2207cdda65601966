//! `[push.mqtt]` of the agent config and `--mqtt-url`, resolved into an
//! [`MqttOutput`]. Apart from the remote_write keys because it changes
//! with the MQTT output, not with HTTP push.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use picket_core::config::parse_duration;
use picket_core::encode::mqtt::Format;
use picket_core::mqtt::{self, BrokerKeys};

/// `[push.mqtt]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttSection {
    /// `mqtt://host[:port]` or `mqtts://host[:port]`; empty or absent: off.
    pub url: Option<String>,
    /// MQTT client id (default `picket-<hostname>`).
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
    /// Metrics topic template (`{hostname}` is filled in).
    pub topic: Option<String>,
    /// Retained status topic template; `""` turns it off.
    pub status_topic: Option<String>,
    /// `text`, `json` or `remote_write`.
    pub format: Option<String>,
    /// Largest MQTT packet, bytes; batches are split under it.
    pub max_packet_size: Option<usize>,
    /// Most samples read from the buffer for one round of publishes.
    pub max_samples_per_send: Option<usize>,
    /// How long to wait for the PUBACKs of a round before reconnecting.
    pub timeout: Option<String>,
    /// First reconnect delay.
    pub min_backoff: Option<String>,
    /// Longest reconnect delay.
    pub max_backoff: Option<String>,
}

pub use picket_forward::mqtt::MqttOutput;

/// Default largest packet: 128 KiB (rumqttc's own default is 10 KiB;
/// Mosquitto takes up to 256 MiB).
pub(crate) const DEFAULT_MAX_PACKET: usize = 128 * 1024;

/// Resolves the section, with `--mqtt-url` replacing its URL. `Ok(None)`:
/// no MQTT output (no URL, or `url = ""`). `Err` is (key relative to `push.mqtt`, message, from
/// the flag).
pub(crate) fn resolve(
    sec: Option<&MqttSection>,
    flag_url: Option<&str>,
) -> Result<Option<MqttOutput>, (String, String, bool)> {
    let empty = MqttSection::default();
    let s = sec.unwrap_or(&empty);
    // No URL, or an empty one (as configs/*.toml ship it): off.
    let Some(url) = flag_url.or(s.url.as_deref()).filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let url = Some(url);
    let from_flag = |k: &str| k == "url" && flag_url.is_some();
    let err = |(k, m): (&str, String)| (k.to_string(), m, from_flag(k));
    if !cfg!(feature = "mqtt") {
        return Err(err((
            "url",
            "MQTT needs the `mqtt` feature, which this build leaves out".into(),
        )));
    }
    let host = mqtt::hostname();
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
        format!("picket-{host}"),
        DEFAULT_MAX_PACKET,
    )
    .map_err(err)?;
    let topic = mqtt::expand_topic(
        s.topic.as_deref().unwrap_or("picket/{hostname}/metrics"),
        &host,
    )
    .map_err(|m| err(("topic", m)))?;
    let status_topic = match s.status_topic.as_deref() {
        Some("") => None,
        t => Some(
            mqtt::expand_topic(t.unwrap_or("picket/{hostname}/status"), &host)
                .map_err(|m| err(("status_topic", m)))?,
        ),
    };
    let format = match s.format.as_deref() {
        None => Format::Text,
        Some(f) => Format::parse(f).ok_or_else(|| {
            err((
                "format",
                format!("{f:?}: expected \"text\", \"json\" or \"remote_write\""),
            ))
        })?,
    };
    let dur = |k: &'static str, v: &Option<String>, d: Duration| match v {
        Some(x) => parse_duration(x).map_err(|m| err((k, m))),
        None => Ok(d),
    };
    let max_samples_per_send = s.max_samples_per_send.unwrap_or(10_000);
    if max_samples_per_send == 0 {
        return Err(err(("max_samples_per_send", "must be at least 1".into())));
    }
    let timeout = dur("timeout", &s.timeout, Duration::from_secs(30))?;
    if timeout < Duration::from_secs(1) {
        return Err(err(("timeout", "must be at least 1s".into())));
    }
    Ok(Some(MqttOutput {
        broker,
        topic,
        status_topic,
        format,
        max_samples_per_send,
        timeout,
        min_backoff: dur("min_backoff", &s.min_backoff, Duration::from_millis(500))?,
        max_backoff: dur("max_backoff", &s.max_backoff, Duration::from_secs(30))?,
    }))
}

#[cfg(all(test, feature = "mqtt"))]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_flag_override() {
        let o = resolve(None, Some("mqtt://broker")).unwrap().unwrap();
        assert_eq!(o.broker.port, 1883);
        assert!(o.topic.starts_with("picket/") && o.topic.ends_with("/metrics"));
        assert_eq!(o.format, Format::Text);
        assert!(resolve(None, None).unwrap().is_none());
        let sec: MqttSection = toml::from_str(
            "url = \"mqtt://a\"\nformat = \"json\"\nstatus_topic = \"\"\ntopic = \"x/{hostname}\"\n",
        )
        .unwrap();
        let o = resolve(Some(&sec), Some("mqtt://b:1884")).unwrap().unwrap();
        assert_eq!((o.broker.host.as_str(), o.broker.port), ("b", 1884));
        assert_eq!(o.status_topic, None);
        assert_eq!(o.format, Format::Json);
    }

    #[test]
    fn bad_values_name_their_key() {
        for (toml_src, key) in [
            ("url = \"http://a\"", "url"),
            ("url = \"mqtt://a\"\nformat = \"xml\"", "format"),
            ("url = \"mqtt://a\"\ntopic = \"a/#\"", "topic"),
            ("url = \"mqtt://a\"\npassword = \"p\"", "username"),
            ("url = \"mqtt://a\"\nkeep_alive = \"soon\"", "keep_alive"),
            ("url = \"mqtt://a\"\nca_file = \"/x.pem\"", "ca_file"),
        ] {
            let sec: MqttSection = toml::from_str(toml_src).unwrap();
            let e = resolve(Some(&sec), None).unwrap_err();
            assert_eq!(e.0, key, "{toml_src}: {e:?}");
        }
    }
}
