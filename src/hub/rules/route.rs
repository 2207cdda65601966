//! `[notify]` of the hub config: Alertmanager's routing tree, receivers
//! and inhibition rules for sites without an Alertmanager, in TOML with
//! Alertmanager's key names (`route`, `routes`, `matchers`, `group_by`,
//! `group_wait`, `group_interval`, `repeat_interval`, `continue`,
//! `receivers[].webhook_configs`, `email_configs`, `inhibit_rules`; plus
//! `mqtt_configs`, which Alertmanager lacks), as written and checked; and
//! the matching that routes an alert (dispatch/route.go).

use std::time::Duration;

use serde::Deserialize;

use super::email::Email;
use super::mqtt::MqttReceiver;
use crate::store::{Matcher, Op};
use picket_core::config::parse_duration;
use picket_core::metric::Labels;

/// `[notify]` as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyToml {
    /// The root route (must name a receiver when any receiver is set).
    pub route: Option<RouteToml>,
    /// `[[notify.receivers]]`.
    pub receivers: Vec<ReceiverToml>,
    /// `[[notify.inhibit_rules]]`.
    pub inhibit_rules: Vec<InhibitToml>,
}

/// A route as written; unset options are inherited from the parent.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteToml {
    /// Receiver name.
    pub receiver: Option<String>,
    /// Labels to group by (`["..."]`: every label).
    pub group_by: Option<Vec<String>>,
    /// Wait before the first notification of a new group ("30s").
    pub group_wait: Option<String>,
    /// Wait between notifications of a changed group ("5m").
    pub group_interval: Option<String>,
    /// Wait before repeating an unchanged group ("4h").
    pub repeat_interval: Option<String>,
    /// Alertmanager matchers, e.g. `severity="critical"`, `job=~"node|pg"`.
    pub matchers: Vec<String>,
    /// Keep matching siblings after this route matched.
    #[serde(rename = "continue")]
    pub cont: bool,
    /// Child routes.
    pub routes: Vec<RouteToml>,
}

/// A receiver as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReceiverToml {
    /// Its name.
    pub name: String,
    /// Webhooks (Alertmanager's payload version 4).
    pub webhook_configs: Vec<WebhookToml>,
    /// Email over SMTP.
    pub email_configs: Vec<EmailToml>,
    /// MQTT topics (the webhook payload, published at QoS 1).
    pub mqtt_configs: Vec<MqttToml>,
}

/// An MQTT receiver as written: the broker keys of `[mqtt]`, a topic and
/// `send_resolved`.
#[derive(Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttToml {
    /// `mqtt://host[:port]` or `mqtts://host[:port]`.
    pub url: Option<String>,
    /// MQTT client id (default `picket-hub-<hostname>-notify-<receiver>`).
    pub client_id: Option<String>,
    /// User name.
    pub username: Option<String>,
    /// Password (prefer `password_file`).
    pub password: Option<String>,
    /// File holding the password (read at load).
    pub password_file: Option<std::path::PathBuf>,
    /// PEM CA file for `mqtts://`.
    pub ca_file: Option<std::path::PathBuf>,
    /// Keep-alive ("30s").
    pub keep_alive: Option<String>,
    /// Largest MQTT packet, bytes (1 MiB).
    pub max_packet_size: Option<usize>,
    /// Topic (default `picket/alerts/<receiver>`; `{hostname}` is filled in).
    pub topic: Option<String>,
    /// Notify resolved alerts too (default true, as webhooks).
    pub send_resolved: Option<bool>,
}

impl std::fmt::Debug for MqttToml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttToml")
            .field("url", &self.url)
            .field("topic", &self.topic)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Alertmanager's `tls_config` of an email receiver (the CA part).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfigToml {
    /// PEM file of the CA certificates to trust instead of the webpki
    /// roots (a private CA).
    pub ca_file: Option<std::path::PathBuf>,
}

/// An email receiver as written (Alertmanager's keys).
#[derive(Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailToml {
    /// Recipients, comma separated.
    pub to: String,
    /// Sender address.
    pub from: String,
    /// `host:port` of the SMTP server (port 465: implicit TLS).
    pub smarthost: String,
    /// EHLO name ("localhost").
    pub hello: Option<String>,
    /// AUTH user.
    pub auth_username: Option<String>,
    /// AUTH password.
    pub auth_password: Option<String>,
    /// File holding the AUTH password (read at load).
    pub auth_password_file: Option<std::path::PathBuf>,
    /// Insist on STARTTLS (default true).
    pub require_tls: Option<bool>,
    /// Notify resolved alerts (default false, as Alertmanager).
    pub send_resolved: Option<bool>,
    /// TLS settings (`ca_file`).
    pub tls_config: Option<TlsConfigToml>,
}

impl std::fmt::Debug for EmailToml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailToml")
            .field("to", &self.to)
            .field("smarthost", &self.smarthost)
            .field("auth_username", &self.auth_username)
            .finish_non_exhaustive()
    }
}

/// A webhook as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookToml {
    /// URL to POST to.
    pub url: String,
    /// Notify resolved alerts too (default true).
    pub send_resolved: Option<bool>,
    /// Most alerts per notification (0: all).
    pub max_alerts: usize,
}

/// An inhibition rule as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InhibitToml {
    /// What the muting (firing) alert matches.
    pub source_matchers: Vec<String>,
    /// What the muted alert matches.
    pub target_matchers: Vec<String>,
    /// Labels both must have equal.
    pub equal: Vec<String>,
}

/// A checked route.
#[derive(Debug, Clone)]
pub struct Route {
    /// Alertmanager's route key (`{}/{severity="critical"}`).
    pub key: String,
    /// Receiver index.
    pub receiver: usize,
    /// `None`: group by every label (`...`).
    pub group_by: Option<Vec<String>>,
    /// Timers.
    pub group_wait: Duration,
    /// See [`RouteToml::group_interval`].
    pub group_interval: Duration,
    /// See [`RouteToml::repeat_interval`].
    pub repeat_interval: Duration,
    matchers: Vec<Matcher>,
    cont: bool,
    routes: Vec<Route>,
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
}

/// A checked receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct Receiver {
    /// Name.
    pub name: String,
    /// Webhooks.
    pub webhooks: Vec<Webhook>,
    /// Email.
    pub emails: Vec<Email>,
    /// MQTT topics.
    pub mqtts: Vec<MqttReceiver>,
}

impl Receiver {
    /// Whether any integration wants resolved notifications.
    pub fn send_resolved(&self) -> bool {
        self.webhooks.iter().any(|w| w.send_resolved)
            || self.emails.iter().any(|e| e.send_resolved)
            || self.mqtts.iter().any(|m| m.send_resolved)
    }
}

/// A checked inhibition rule.
#[derive(Debug, Clone)]
pub struct Inhibit {
    source: Vec<Matcher>,
    target: Vec<Matcher>,
    equal: Vec<String>,
}

/// The checked `[notify]`.
#[derive(Debug, Clone)]
pub struct Notify {
    /// The routing tree.
    pub route: Route,
    /// Receivers.
    pub receivers: Vec<Receiver>,
    /// Inhibition rules.
    pub inhibit: Vec<Inhibit>,
}

/// Parses an Alertmanager matcher: `name="v"`, `name!=v`, `name=~"re"`,
/// `name!~re`.
pub fn parse_matcher(s: &str) -> Result<Matcher, String> {
    let s = s.trim();
    let i = s
        .find(['=', '!'])
        .ok_or_else(|| format!("{s:?}: not a matcher (name=\"value\")"))?;
    let name = s[..i].trim();
    let rest = &s[i..];
    let (op, len) = if rest.starts_with("=~") {
        (Op::Re, 2)
    } else if rest.starts_with("!~") {
        (Op::Nre, 2)
    } else if rest.starts_with("!=") {
        (Op::Ne, 2)
    } else if rest.starts_with('=') {
        (Op::Eq, 1)
    } else {
        return Err(format!("{s:?}: not a matcher (name=\"value\")"));
    };
    if !picket_core::metric::valid_label_name(name) {
        return Err(format!("{s:?}: invalid label name {name:?}"));
    }
    let v = rest[len..].trim();
    let v = match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(q) => q.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => v.to_string(),
    };
    Matcher::new(name, op, &v)
}

fn matcher_text(m: &Matcher) -> String {
    let op = match m.op {
        Op::Eq => "=",
        Op::Ne => "!=",
        Op::Re => "=~",
        Op::Nre => "!~",
    };
    format!("{}{op}{}", m.name, crate::promql::value::go_quote(&m.value))
}

fn matchers(list: &[String], key: &str) -> Result<Vec<Matcher>, (String, String)> {
    list.iter()
        .map(|m| parse_matcher(m).map_err(|e| (key.to_string(), e)))
        .collect()
}

/// Checks `[notify]`; `None` when it configures nothing. Errors are
/// `(dotted key, message)`.
pub fn resolve(t: &NotifyToml) -> Result<Option<Notify>, (String, String)> {
    let Some(root) = &t.route else {
        if t.receivers.is_empty() {
            return Ok(None);
        }
        return Err(("notify.route".into(), "receivers need a route".into()));
    };
    let mut receivers = Vec::new();
    for (i, r) in t.receivers.iter().enumerate() {
        let key = format!("notify.receivers[{i}]");
        if r.name.is_empty() || receivers.iter().any(|x: &Receiver| x.name == r.name) {
            return Err((
                format!("{key}.name"),
                format!("{:?}: empty or repeated receiver name", r.name),
            ));
        }
        let mut webhooks = Vec::new();
        for (j, w) in r.webhook_configs.iter().enumerate() {
            if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
                return Err((
                    format!("{key}.webhook_configs[{j}].url"),
                    format!("{:?} is not an http(s) URL", w.url),
                ));
            }
            webhooks.push(Webhook {
                url: w.url.clone(),
                send_resolved: w.send_resolved.unwrap_or(true),
                max_alerts: w.max_alerts,
            });
        }
        let mut emails = Vec::new();
        for (j, e) in r.email_configs.iter().enumerate() {
            let k = |f: &str| format!("{key}.email_configs[{j}].{f}");
            for (f, v) in [
                ("to", &e.to),
                ("from", &e.from),
                ("smarthost", &e.smarthost),
            ] {
                if v.trim().is_empty() {
                    return Err((k(f), "must be set".into()));
                }
            }
            let port = e.smarthost.rsplit_once(':').map(|(_, p)| p.parse::<u16>());
            if !matches!(port, Some(Ok(_))) {
                return Err((
                    k("smarthost"),
                    format!("{:?} is not host:port", e.smarthost),
                ));
            }
            let password = match (&e.auth_password, &e.auth_password_file) {
                (Some(_), Some(_)) => {
                    return Err((
                        k("auth_password"),
                        "give auth_password or auth_password_file, not both".into(),
                    ))
                }
                (Some(p), None) => Some(p.clone()),
                (None, Some(f)) => Some(
                    std::fs::read_to_string(f)
                        .map_err(|err| {
                            (k("auth_password_file"), format!("{}: {err}", f.display()))
                        })?
                        .trim()
                        .to_string(),
                ),
                (None, None) => None,
            };
            let ca_file = e.tls_config.as_ref().and_then(|t| t.ca_file.clone());
            if let Some(f) = &ca_file {
                // Read now: a missing or broken file is a config error, not
                // a mail that fails for a day.
                picket_core::mqtt::ca_roots(f).map_err(|m| (k("tls_config.ca_file"), m))?;
            }
            emails.push(Email {
                to: e.to.clone(),
                from: e.from.clone(),
                smarthost: e.smarthost.clone(),
                hello: e.hello.clone().unwrap_or_else(|| "localhost".into()),
                auth_username: e.auth_username.clone().filter(|u| !u.is_empty()),
                auth_password: password,
                require_tls: e.require_tls.unwrap_or(true),
                send_resolved: e.send_resolved.unwrap_or(false),
                ca_file,
            });
        }
        let mut mqtts = Vec::new();
        for (j, m) in r.mqtt_configs.iter().enumerate() {
            mqtts.push(
                mqtt_receiver(m, &r.name, j)
                    .map_err(|(f, msg)| (format!("{key}.mqtt_configs[{j}].{f}"), msg))?,
            );
        }
        receivers.push(Receiver {
            name: r.name.clone(),
            webhooks,
            emails,
            mqtts,
        });
    }
    if !root.matchers.is_empty() {
        return Err((
            "notify.route.matchers".into(),
            "the root route must match every alert".into(),
        ));
    }
    let defaults = Route {
        key: String::new(),
        receiver: usize::MAX,
        group_by: Some(Vec::new()),
        group_wait: Duration::from_secs(30),
        group_interval: Duration::from_secs(300),
        repeat_interval: Duration::from_secs(4 * 3600),
        matchers: Vec::new(),
        cont: false,
        routes: Vec::new(),
    };
    let route = route(root, &defaults, &receivers, "notify.route", None)?;
    let mut inhibit = Vec::new();
    for (i, r) in t.inhibit_rules.iter().enumerate() {
        let key = format!("notify.inhibit_rules[{i}]");
        inhibit.push(Inhibit {
            source: matchers(&r.source_matchers, &format!("{key}.source_matchers"))?,
            target: matchers(&r.target_matchers, &format!("{key}.target_matchers"))?,
            equal: r.equal.clone(),
        });
    }
    Ok(Some(Notify {
        route,
        receivers,
        inhibit,
    }))
}

/// Checks one `mqtt_configs` entry of receiver `name`; `Err` is (key
/// within the entry, message).
fn mqtt_receiver(
    m: &MqttToml,
    name: &str,
    j: usize,
) -> Result<MqttReceiver, (&'static str, String)> {
    if !cfg!(feature = "mqtt") {
        return Err((
            "url",
            "MQTT needs the `mqtt` feature, which this build leaves out".into(),
        ));
    }
    let host = picket_core::mqtt::hostname();
    let segment = picket_core::mqtt::topic_segment(name);
    let mut client_id = format!("picket-hub-{host}-notify-{segment}");
    if j > 0 {
        client_id.push_str(&format!("-{j}"));
    }
    let broker = picket_core::mqtt::resolve(
        &picket_core::mqtt::BrokerKeys {
            url: m.url.as_deref(),
            client_id: m.client_id.as_deref(),
            username: m.username.as_deref(),
            password: m.password.as_deref(),
            password_file: m.password_file.as_ref(),
            ca_file: m.ca_file.as_ref(),
            keep_alive: m.keep_alive.as_deref(),
            max_packet_size: m.max_packet_size,
        },
        client_id,
        super::mqtt::DEFAULT_MAX_PACKET,
    )?;
    let topic = match &m.topic {
        Some(t) => picket_core::mqtt::expand_topic(t, &host).map_err(|e| ("topic", e))?,
        None => format!("picket/alerts/{segment}"),
    };
    Ok(MqttReceiver {
        broker,
        topic,
        send_resolved: m.send_resolved.unwrap_or(true),
    })
}

fn route(
    t: &RouteToml,
    parent: &Route,
    receivers: &[Receiver],
    key: &str,
    parent_key: Option<&str>,
) -> Result<Route, (String, String)> {
    let dur = |v: &Option<String>, k: &str, def: Duration| match v {
        None => Ok(def),
        Some(s) => parse_duration(s).map_err(|e| (format!("{key}.{k}"), e)),
    };
    let receiver = match &t.receiver {
        Some(name) => receivers
            .iter()
            .position(|r| &r.name == name)
            .ok_or_else(|| {
                (
                    format!("{key}.receiver"),
                    format!("undefined receiver {name:?}"),
                )
            })?,
        None if parent.receiver == usize::MAX => {
            return Err((
                format!("{key}.receiver"),
                "the root route needs a receiver".into(),
            ))
        }
        None => parent.receiver,
    };
    let group_by = match &t.group_by {
        None => parent.group_by.clone(),
        Some(g) if g.iter().any(|l| l == "...") => None,
        Some(g) => Some(g.clone()),
    };
    let ms = matchers(&t.matchers, &format!("{key}.matchers"))?;
    let own = format!(
        "{{{}}}",
        ms.iter().map(matcher_text).collect::<Vec<_>>().join(",")
    );
    let rkey = match parent_key {
        Some(p) => format!("{p}/{own}"),
        None => own,
    };
    let mut r = Route {
        key: rkey.clone(),
        receiver,
        group_by,
        group_wait: dur(&t.group_wait, "group_wait", parent.group_wait)?,
        group_interval: dur(&t.group_interval, "group_interval", parent.group_interval)?,
        repeat_interval: dur(
            &t.repeat_interval,
            "repeat_interval",
            parent.repeat_interval,
        )?,
        matchers: ms,
        cont: t.cont,
        routes: Vec::new(),
    };
    if r.group_interval.is_zero() || r.repeat_interval.is_zero() {
        return Err((
            format!("{key}.group_interval"),
            "intervals must be more than 0".into(),
        ));
    }
    for (i, c) in t.routes.iter().enumerate() {
        let child = route(c, &r, receivers, &format!("{key}.routes[{i}]"), Some(&rkey))?;
        r.routes.push(child);
    }
    Ok(r)
}

impl Route {
    /// The routes that take an alert with `labels` (Alertmanager's
    /// `Match`): the deepest matching children, first match wins unless
    /// `continue`; this route if no child matches.
    pub fn matching(&self, labels: &Labels) -> Vec<&Route> {
        if !self.matchers.iter().all(|m| m.matches_labels(labels)) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for c in &self.routes {
            let m = c.matching(labels);
            if !m.is_empty() {
                out.extend(m);
                if !c.cont {
                    break;
                }
            }
        }
        if out.is_empty() {
            out.push(self);
        }
        out
    }

    /// The route with key `key` in this tree.
    pub fn find(&self, key: &str) -> Option<&Route> {
        if self.key == key {
            return Some(self);
        }
        self.routes.iter().find_map(|c| c.find(key))
    }

    /// The labels an alert is grouped by on this route.
    pub fn group_labels(&self, labels: &Labels) -> Labels {
        match &self.group_by {
            None => labels.clone(),
            Some(names) => {
                let mut g = Labels::new();
                for n in names {
                    if let Some(v) = labels.get(n) {
                        g.set(n.clone(), v);
                    }
                }
                g
            }
        }
    }
}

impl Inhibit {
    /// Whether firing `source` alerts mute `target` (a missing `equal`
    /// label counts as empty; an alert matching both sides does not mute
    /// itself).
    pub fn mutes(&self, target: &Labels, firing: &[&Labels]) -> bool {
        if !self.target.iter().all(|m| m.matches_labels(target)) {
            return false;
        }
        let target_is_source = self.source.iter().all(|m| m.matches_labels(target));
        firing.iter().any(|s| {
            self.source.iter().all(|m| m.matches_labels(s))
                && !(target_is_source && *s == target)
                && self
                    .equal
                    .iter()
                    .all(|l| s.get(l).unwrap_or("") == target.get(l).unwrap_or(""))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_inherit_and_key() {
        let t: NotifyToml = toml::from_str(
            "[route]\nreceiver = \"all\"\ngroup_by = [\"alertname\"]\ngroup_wait = \"1s\"\n[[route.routes]]\nmatchers = ['severity=\"critical\"']\nreceiver = \"pager\"\n[[route.routes]]\nmatchers = ['job=~\"node|pg\"']\ngroup_by = [\"...\"]\n[[receivers]]\nname = \"all\"\n[[receivers]]\nname = \"pager\"\n[[receivers.webhook_configs]]\nurl = \"http://x/\"\n",
        )
        .expect("toml");
        let n = resolve(&t).expect("valid").expect("configured");
        let crit = Labels::from_pairs([("alertname", "A"), ("severity", "critical")]);
        let r = n.route.matching(&crit);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].key, "{}/{severity=\"critical\"}");
        assert_eq!(n.receivers[r[0].receiver].name, "pager");
        assert_eq!(r[0].group_wait, Duration::from_secs(1));
        assert_eq!(
            r[0].group_labels(&crit),
            Labels::from_pairs([("alertname", "A")])
        );
        let node = Labels::from_pairs([("alertname", "B"), ("job", "node")]);
        let r = n.route.matching(&node);
        assert_eq!(r[0].group_labels(&node), node);
        let other = Labels::from_pairs([("alertname", "C")]);
        assert_eq!(n.route.matching(&other)[0].key, "{}");
        let bad: NotifyToml = toml::from_str("[route]\nreceiver = \"nope\"\n").expect("toml");
        assert_eq!(resolve(&bad).unwrap_err().0, "notify.route.receiver");
    }

    #[cfg(feature = "mqtt")]
    #[test]
    fn mqtt_receivers_default_and_name_their_keys() {
        let t: NotifyToml = toml::from_str(
            "[route]\nreceiver = \"ops team\"\n[[receivers]]\nname = \"ops team\"\n[[receivers.mqtt_configs]]\nurl = \"mqtt://broker\"\n[[receivers.mqtt_configs]]\nurl = \"mqtt://broker:1884\"\ntopic = \"site/{hostname}/alerts\"\nsend_resolved = false\n",
        )
        .expect("toml");
        let n = resolve(&t).expect("valid").expect("configured");
        let m = &n.receivers[0].mqtts;
        assert_eq!(m[0].topic, "picket/alerts/ops team");
        assert!(m[0].send_resolved);
        assert_eq!(m[0].broker.port, 1883);
        assert!(m[0].broker.client_id.starts_with("picket-hub-"));
        assert!(m[0].broker.client_id.ends_with("-notify-ops team"));
        assert_ne!(m[0].broker.client_id, m[1].broker.client_id);
        assert!(m[1].topic.starts_with("site/") && m[1].topic.ends_with("/alerts"));
        assert!(!m[1].send_resolved);
        assert!(n.receivers[0].send_resolved());
        for (extra, key) in [
            ("url = \"tcp://x\"", "url"),
            ("url = \"mqtt://x\"\ntopic = \"a/+\"", "topic"),
            ("url = \"mqtt://x\"\npassword = \"p\"", "username"),
            ("", "url"),
        ] {
            let t: NotifyToml = toml::from_str(&format!(
                "[route]\nreceiver = \"r\"\n[[receivers]]\nname = \"r\"\n[[receivers.mqtt_configs]]\n{extra}\n"
            ))
            .expect("toml");
            let e = resolve(&t).unwrap_err();
            assert_eq!(
                e.0,
                format!("notify.receivers[0].mqtt_configs[0].{key}"),
                "{e:?}"
            );
        }
    }

    #[test]
    fn inhibition_needs_equal_labels() {
        let t: NotifyToml = toml::from_str(
            "[route]\nreceiver = \"r\"\n[[receivers]]\nname = \"r\"\n[[inhibit_rules]]\nsource_matchers = ['alertname=\"Down\"']\ntarget_matchers = ['severity=\"warning\"']\nequal = [\"instance\"]\n",
        )
        .expect("toml");
        let n = resolve(&t).expect("valid").expect("configured");
        let down = Labels::from_pairs([("alertname", "Down"), ("instance", "a")]);
        let warn_a = Labels::from_pairs([
            ("alertname", "Cpu"),
            ("instance", "a"),
            ("severity", "warning"),
        ]);
        let warn_b = Labels::from_pairs([
            ("alertname", "Cpu"),
            ("instance", "b"),
            ("severity", "warning"),
        ]);
        assert!(n.inhibit[0].mutes(&warn_a, &[&down]));
        assert!(!n.inhibit[0].mutes(&warn_b, &[&down]));
        assert!(!n.inhibit[0].mutes(&warn_a, &[]));
    }
}
