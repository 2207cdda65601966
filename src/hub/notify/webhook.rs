//! The webhook receiver of direct notifications (`webhook_configs`):
//! Alertmanager's webhook payload, version 4, so existing bridges
//! (Matrix, Rocket.Chat, ntfy) work unchanged, POSTed as JSON. The MQTT
//! receiver publishes the very same bytes ([`super::mqtt`]).

use serde::Deserialize;

use super::dispatch::{common_labels, labelset_string, AggGroup, Flushed};
use super::Alert;
use crate::json;
use picket_core::metric::Labels;
use picket_core::web::client::{HttpClient, HttpConfigToml};

/// A webhook as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct WebhookToml {
    /// URL to POST to.
    pub url: String,
    /// Notify resolved alerts too (default true).
    pub send_resolved: Option<bool>,
    /// Most alerts per notification (0: all).
    pub max_alerts: usize,
    /// Alertmanager's `http_config`: credentials and TLS of the POST.
    pub http_config: Option<HttpConfigToml>,
}

/// A checked webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// URL.
    pub url: String,
    /// See [`WebhookToml::send_resolved`].
    pub send_resolved: bool,
    /// See [`WebhookToml::max_alerts`].
    pub max_alerts: usize,
    /// Credentials and TLS.
    pub http: HttpClient,
}

impl WebhookToml {
    /// Checks the entry at dotted `key`.
    pub(crate) fn resolve(&self, key: &str) -> Result<Webhook, (String, String)> {
        if self.url.is_empty() {
            return Err((format!("{key}.url"), "missing URL in webhook config".into()));
        }
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err((
                format!("{key}.url"),
                format!("{:?} is not an http(s) URL", self.url),
            ));
        }
        let http = self
            .http_config
            .clone()
            .unwrap_or_default()
            .blocks()
            .resolve()
            .map_err(|(k, m)| (format!("{key}.http_config.{k}"), m))?;
        Ok(Webhook {
            url: self.url.clone(),
            send_resolved: self.send_resolved.unwrap_or(true),
            max_alerts: self.max_alerts,
            http,
        })
    }
}

/// Alertmanager's webhook payload, version 4. As 0.25's webhook does it,
/// `max_alerts` truncates first: status and common labels and
/// annotations are those of the alerts shown.
pub(super) fn payload(
    g: &AggGroup,
    receiver: &str,
    all: &Flushed<'_>,
    max: usize,
    now: i64,
    ext_url: &str,
) -> String {
    let shown = if max > 0 {
        all.len().min(max)
    } else {
        all.len()
    };
    let alerts = &all[..shown];
    let firing = alerts.iter().any(|(_, a)| !a.resolved(now));
    let common = |f: &dyn Fn(&Alert) -> &Labels| -> Labels {
        common_labels(alerts.iter().map(|(_, a)| f(a)))
    };
    let mut s = String::from("{\"receiver\":");
    json::string(&mut s, receiver);
    s.push_str(",\"status\":");
    json::string(&mut s, if firing { "firing" } else { "resolved" });
    s.push_str(",\"alerts\":[");
    for (i, (fp, a)) in alerts.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let resolved = a.resolved(now);
        s.push_str("{\"status\":");
        json::string(&mut s, if resolved { "resolved" } else { "firing" });
        s.push(',');
        // Alertmanager hides the end of alerts that are still firing.
        a.write_json_fields(&mut s, if resolved { a.ends_at() } else { 0 });
        s.push_str(",\"fingerprint\":");
        json::string(&mut s, &format!("{fp:016x}"));
        s.push('}');
    }
    s.push_str("],\"groupLabels\":");
    json::labels(&mut s, &g.group_labels);
    s.push_str(",\"commonLabels\":");
    json::labels(&mut s, &common(&|a| &a.labels));
    s.push_str(",\"commonAnnotations\":");
    json::labels(&mut s, &common(&|a| &a.annotations));
    s.push_str(",\"externalURL\":");
    json::string(&mut s, ext_url);
    s.push_str(",\"version\":\"4\",\"groupKey\":");
    json::string(
        &mut s,
        &format!("{}:{}", g.route_key, labelset_string(&g.group_labels)),
    );
    s.push_str(&format!(",\"truncatedAlerts\":{}}}", all.len() - shown));
    s
}

/// POSTs a webhook body with the webhook's client; None on 2xx, else the
/// error (never a secret).
pub(crate) fn post(http: &HttpClient, url: &str, body: &str) -> Option<String> {
    let agent = http.tls.agent(
        ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(10)))
            .http_status_as_error(false)
            .user_agent(concat!("picket-hub/", env!("CARGO_PKG_VERSION"))),
    );
    let mut req = agent.post(url).header("Content-Type", "application/json");
    match http.authorization() {
        Ok(Some(a)) => req = req.header("Authorization", a),
        Ok(None) => {}
        Err(e) => return Some(e),
    }
    match req.send(body.as_bytes()) {
        Ok(r) if r.status().is_success() => None,
        Ok(r) => Some(format!("HTTP {}", r.status().as_u16())),
        Err(e) => Some(e.to_string()),
    }
}
