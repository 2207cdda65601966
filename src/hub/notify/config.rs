//! `[notify]` of the hub config: direct notifications for sites without
//! an Alertmanager, in TOML with Alertmanager's key names (`route`,
//! `receivers[].webhook_configs`, `email_configs`, `inhibit_rules`,
//! `time_intervals`; plus `mqtt_configs`, which Alertmanager lacks), as
//! written and checked; or an unchanged alertmanager.yml
//! (`notify.config_file`, `--alertmanager.config.file`), read into the
//! same types by [`super::amconfig`] and checked by the same code.
//! Each part is checked next to the code that uses it (routes in
//! [`super::route`], receivers in [`super::webhook`], [`super::email`],
//! [`super::mqtt`], inhibition in [`super::inhibit`], time intervals in
//! [`super::timeinterval`]); this file holds the section and its
//! receivers together.

use std::path::{Path, PathBuf};

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::email::{Email, EmailToml};
use super::inhibit::{Inhibit, InhibitToml};
use super::mqtt::{MqttReceiver, MqttToml};
use super::route::{Route, RouteToml};
use super::timeinterval::{TimeInterval, TimeIntervalToml};
use super::webhook::{Webhook, WebhookToml};
use crate::config::Ctx;
use picket_core::config::ConfigError;

/// `[notify]` as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct NotifyToml {
    /// An unchanged alertmanager.yml holding everything below (relative
    /// to this file); `--alertmanager.config.file` wins over it.
    pub config_file: Option<PathBuf>,
    /// The root route (must name a receiver when any receiver is set).
    pub route: Option<RouteToml>,
    /// `[[notify.receivers]]`.
    pub receivers: Vec<ReceiverToml>,
    /// `[[notify.inhibit_rules]]`.
    pub inhibit_rules: Vec<InhibitToml>,
    /// `[[notify.time_intervals]]`: named times routes mute or notify in.
    pub time_intervals: Vec<TimeIntervalToml>,
    /// The same, under Alertmanager's deprecated name.
    pub mute_time_intervals: Vec<TimeIntervalToml>,
    /// Notification template files (globs relative to this file), as
    /// alertmanager.yml's `templates`.
    pub templates: Vec<String>,
}

/// Alertmanager 0.25's integrations picket-hub has no sender for.
pub(crate) const UNSUPPORTED: &[&str] = &[
    "discord",
    "opsgenie",
    "pagerduty",
    "pushover",
    "slack",
    "sns",
    "telegram",
    "victorops",
    "webex",
    "wechat",
];

/// A receiver as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ReceiverToml {
    /// Its name.
    pub name: String,
    /// Webhooks (Alertmanager's payload version 4).
    pub webhook_configs: Vec<WebhookToml>,
    /// Email over SMTP.
    pub email_configs: Vec<EmailToml>,
    /// MQTT topics (the webhook payload, published at QoS 1).
    pub mqtt_configs: Vec<MqttToml>,
    /// Alertmanager's other integrations ([`UNSUPPORTED`]): read only to
    /// be refused by name.
    pub discord_configs: Option<IgnoredAny>,
    /// See `discord_configs`.
    pub opsgenie_configs: Option<IgnoredAny>,
    /// See `discord_configs`.
    pub pagerduty_configs: Option<IgnoredAny>,
    /// See `discord_configs`.
    pub pushover_configs: Option<IgnoredAny>,
    /// See `discord_configs`.
    pub slack_configs: Option<IgnoredAny>,
    /// See `discord_configs`.
    pub sns_configs: Option<IgnoredAny>,
    /// See `discord_configs`.
    pub telegram_configs: Option<IgnoredAny>,
    /// See `discord_configs`.
    pub victorops_configs: Option<IgnoredAny>,
    /// See `discord_configs`.
    pub webex_configs: Option<IgnoredAny>,
    /// See `discord_configs`.
    pub wechat_configs: Option<IgnoredAny>,
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
    /// Time intervals, by name (both lists).
    pub time_intervals: Vec<TimeInterval>,
    /// Named notification templates: the defaults and the `templates`
    /// files.
    pub templates: std::sync::Arc<crate::rules::template::Set>,
}

impl Notify {
    /// Whether a route with these time intervals notifies nothing at
    /// `now` (ms): inside one of its mute intervals, or outside all of its
    /// active intervals when it has any (Alertmanager's TimeMuteStage and
    /// TimeActiveStage).
    pub(crate) fn time_muted(&self, mute: &[String], active: &[String], now: i64) -> bool {
        let inside = |names: &[String]| {
            names.iter().any(|n| {
                (self.time_intervals.iter())
                    .filter(|t| &t.name == n)
                    .any(|t| t.contains(now))
            })
        };
        inside(mute) || (!active.is_empty() && !inside(active))
    }
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
    pub(crate) fn send_resolved(&self) -> bool {
        self.webhooks.iter().any(|w| w.send_resolved)
            || self.emails.iter().any(|e| e.send_resolved)
            || self.mqtts.iter().any(|m| m.send_resolved)
    }
}

impl NotifyToml {
    /// Checks `[notify]`, or the alertmanager.yml it or
    /// `--alertmanager.config.file` (which wins) names; `None` when it
    /// configures nothing. Errors are at the key's line (of hub.toml, or
    /// of the alertmanager.yml), else the innermost table's header.
    pub(crate) fn resolve(
        &self,
        ctx: &Ctx<'_>,
        flags: &crate::config::Flags,
    ) -> Result<Option<Notify>, ConfigError> {
        let given = match (&flags.alertmanager_config_file, &self.config_file) {
            (Some(f), _) => Some((f.clone(), "--alertmanager.config.file")),
            (None, Some(f)) => Some((
                match ctx.file.and_then(Path::parent) {
                    Some(dir) if f.is_relative() => dir.join(f),
                    _ => f.clone(),
                },
                "notify.config_file",
            )),
            (None, None) => None,
        };
        let Some((file, by)) = given else {
            let mut n = self.resolve_here(ctx)?;
            if let (Some(n), false) = (n.as_mut(), self.templates.is_empty()) {
                let dir = ctx.file.and_then(Path::parent);
                let set = super::tmpl::load(dir, &self.templates).map_err(|e| {
                    let key = format!("notify.templates[{}]", e.index);
                    match e.file {
                        Some(file) => ConfigError {
                            file: Some(file),
                            line: e.line,
                            key: Some(key),
                            msg: e.msg,
                        },
                        None => ctx.in_nested_table(&key, e.msg),
                    }
                })?;
                n.templates = std::sync::Arc::new(set);
            }
            return Ok(n);
        };
        let here = [
            ("route", self.route.is_some()),
            ("receivers", !self.receivers.is_empty()),
            ("inhibit_rules", !self.inhibit_rules.is_empty()),
            ("time_intervals", !self.time_intervals.is_empty()),
            ("mute_time_intervals", !self.mute_time_intervals.is_empty()),
            ("templates", !self.templates.is_empty()),
        ];
        if let Some((k, _)) = here.iter().find(|(_, set)| *set) {
            // `[notify.route]`, `[[notify.receivers]]`, or `k = …` in [notify].
            let key = format!("notify.{k}");
            let header = ctx.src.lines().position(|l| {
                l.trim()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .trim()
                    == key
            });
            let line = header
                .map(|i| i + 1)
                .or_else(|| ctx.in_nested_table(&key, String::new()).line);
            return Err(ctx.at_line(
                &key,
                line,
                format!(
                    "set both here and in {} ({by}): direct notifications come from one of the two; remove [notify] {k} here or the alertmanager.yml",
                    file.display()
                ),
            ));
        }
        super::amconfig::load(&file).map(|(n, _)| n)
    }

    /// Checks what this section holds, against `ctx` (hub.toml, or an
    /// alertmanager.yml read into it: keys then lose their `notify.`).
    pub(crate) fn resolve_here(&self, ctx: &Ctx<'_>) -> Result<Option<Notify>, ConfigError> {
        let at = |key: &str, msg: String| {
            let key = match ctx.yaml {
                Some(_) => key.strip_prefix("notify.").unwrap_or(key),
                None => key,
            };
            ctx.in_nested_table(key, msg)
        };
        let mut n = check(self).map_err(|(key, msg)| at(&key, msg))?;
        // A webhook's http_config files are relative to the config file, as
        // in Alertmanager, and must be readable now.
        for (i, r) in n
            .iter_mut()
            .flat_map(|n| n.receivers.iter_mut())
            .enumerate()
        {
            for (j, w) in r.webhooks.iter_mut().enumerate() {
                if let Some(dir) = ctx.file.and_then(std::path::Path::parent) {
                    w.http.set_directory(dir);
                }
                w.http.check_files().map_err(|(k, m)| {
                    at(
                        &format!("notify.receivers[{i}].webhook_configs[{j}].http_config.{k}"),
                        m,
                    )
                })?;
            }
        }
        Ok(n)
    }
}

/// Checks both lists of time intervals: names given and unique across
/// both, as Alertmanager 0.25 (the deprecated list first).
fn time_intervals(t: &NotifyToml) -> Result<Vec<TimeInterval>, (String, String)> {
    let mut out: Vec<TimeInterval> = Vec::new();
    for (list, what) in [
        (&t.mute_time_intervals, "mute_time_intervals"),
        (&t.time_intervals, "time_intervals"),
    ] {
        let name = what.trim_end_matches('s').replace('_', " ");
        for (i, ti) in list.iter().enumerate() {
            let key = format!("notify.{what}[{i}]");
            let checked = ti.resolve(&key, &name)?;
            if out.iter().any(|o| o.name == checked.name) {
                return Err((
                    format!("{key}.name"),
                    format!("{name} {:?} is not unique", checked.name),
                ));
            }
            out.push(checked);
        }
    }
    Ok(out)
}

/// Checks `[notify]`; errors are `(dotted key, message)`.
fn check(t: &NotifyToml) -> Result<Option<Notify>, (String, String)> {
    let Some(root) = &t.route else {
        if t.receivers.is_empty() {
            return Ok(None);
        }
        return Err(("notify.route".into(), "receivers need a route".into()));
    };
    let mut receivers = Vec::new();
    for (i, r) in t.receivers.iter().enumerate() {
        let checked = r.resolve(i, &receivers)?;
        receivers.push(checked);
    }
    let time_intervals = time_intervals(t)?;
    let route = super::route::resolve(root, &receivers, &|n| {
        time_intervals.iter().any(|t| t.name == n)
    })?;
    let inhibit = t
        .inhibit_rules
        .iter()
        .enumerate()
        .map(|(i, r)| r.resolve(i))
        .collect::<Result<_, _>>()?;
    Ok(Some(Notify {
        route,
        receivers,
        inhibit,
        time_intervals,
        templates: std::sync::Arc::new(super::tmpl::defaults()),
    }))
}

impl ReceiverToml {
    /// Checks the `i`th receiver, whose name must differ from those of
    /// the receivers `before` it.
    fn resolve(&self, i: usize, before: &[Receiver]) -> Result<Receiver, (String, String)> {
        let key = format!("notify.receivers[{i}]");
        if self.name.is_empty() {
            return Err((format!("{key}.name"), "missing name in receiver".into()));
        }
        if before.iter().any(|x| x.name == self.name) {
            return Err((
                format!("{key}.name"),
                format!("notification config name {:?} is not unique", self.name),
            ));
        }
        let others = [
            &self.discord_configs,
            &self.opsgenie_configs,
            &self.pagerduty_configs,
            &self.pushover_configs,
            &self.slack_configs,
            &self.sns_configs,
            &self.telegram_configs,
            &self.victorops_configs,
            &self.webex_configs,
            &self.wechat_configs,
        ];
        if let Some((kind, _)) = UNSUPPORTED.iter().zip(others).find(|(_, c)| c.is_some()) {
            return Err((
                format!("{key}.{kind}_configs"),
                format!(
                    "picket-hub does not send to {kind} (Alertmanager's {kind}_configs); its receivers take webhook_configs and email_configs (and mqtt_configs in hub.toml's [notify])"
                ),
            ));
        }
        let webhooks = (self.webhook_configs.iter().enumerate())
            .map(|(j, w)| w.resolve(&format!("{key}.webhook_configs[{j}]")))
            .collect::<Result<_, _>>()?;
        let emails = (self.email_configs.iter().enumerate())
            .map(|(j, e)| e.resolve(&format!("{key}.email_configs[{j}]")))
            .collect::<Result<_, _>>()?;
        let mqtts = (self.mqtt_configs.iter().enumerate())
            .map(|(j, m)| {
                m.resolve(&self.name, j)
                    .map_err(|(f, msg)| (format!("{key}.mqtt_configs[{j}].{f}"), msg))
            })
            .collect::<Result<_, _>>()?;
        Ok(Receiver {
            name: self.name.clone(),
            webhooks,
            emails,
            mqtts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_core::metric::Labels;
    use std::time::Duration;

    #[test]
    fn routes_match_inherit_and_key() {
        let t: NotifyToml = toml::from_str(
            "[route]\nreceiver = \"all\"\ngroup_by = [\"alertname\"]\ngroup_wait = \"1s\"\n[[route.routes]]\nmatchers = ['severity=\"critical\"']\nreceiver = \"pager\"\n[[route.routes]]\nmatchers = ['job=~\"node|pg\"']\ngroup_by = [\"...\"]\n[[receivers]]\nname = \"all\"\n[[receivers]]\nname = \"pager\"\n[[receivers.webhook_configs]]\nurl = \"http://x/\"\n",
        )
        .expect("toml");
        let n = check(&t).expect("valid").expect("configured");
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
        assert_eq!(check(&bad).unwrap_err().0, "notify.route.receiver");
    }

    #[cfg(feature = "mqtt")]
    #[test]
    fn mqtt_receivers_default_and_name_their_keys() {
        let t: NotifyToml = toml::from_str(
            "[route]\nreceiver = \"ops team\"\n[[receivers]]\nname = \"ops team\"\n[[receivers.mqtt_configs]]\nurl = \"mqtt://broker\"\n[[receivers.mqtt_configs]]\nurl = \"mqtt://broker:1884\"\ntopic = \"site/{hostname}/alerts\"\nsend_resolved = false\n",
        )
        .expect("toml");
        let n = check(&t).expect("valid").expect("configured");
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
            let e = check(&t).unwrap_err();
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
        let n = check(&t).expect("valid").expect("configured");
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

    /// A route in a mute interval notifies nothing; one with active
    /// intervals only inside one of them.
    #[test]
    fn time_intervals_mute_and_activate_routes() {
        let t: NotifyToml = toml::from_str(
            "[route]\nreceiver = \"r\"\n[[route.routes]]\nmatchers = ['a=\"1\"']\nmute_time_intervals = [\"mornings\"]\n[[route.routes]]\nmatchers = ['a=\"2\"']\nactive_time_intervals = [\"mornings\", \"2020\"]\n[[receivers]]\nname = \"r\"\n[[time_intervals]]\nname = \"mornings\"\n[[time_intervals.time_intervals]]\ntimes = [{ start_time = \"06:00\", end_time = \"12:00\" }]\n[[mute_time_intervals]]\nname = \"2020\"\n[[mute_time_intervals.time_intervals]]\nyears = [2020]\n",
        )
        .expect("toml");
        let n = check(&t).expect("valid").expect("configured");
        // 2026-03-02T07:00Z and 13:00Z.
        let (morning, afternoon) = (1_772_434_800_000, 1_772_456_400_000);
        let r = |a: &str| n.route.matching(&Labels::from_pairs([("a", a)]))[0].clone();
        let (muted, active) = (r("1"), r("2"));
        assert!(n.time_muted(
            &muted.mute_time_intervals,
            &muted.active_time_intervals,
            morning
        ));
        assert!(!n.time_muted(
            &muted.mute_time_intervals,
            &muted.active_time_intervals,
            afternoon
        ));
        assert!(!n.time_muted(
            &active.mute_time_intervals,
            &active.active_time_intervals,
            morning
        ));
        assert!(n.time_muted(
            &active.mute_time_intervals,
            &active.active_time_intervals,
            afternoon
        ));
        let dup: NotifyToml = toml::from_str(
            "[route]\nreceiver = \"r\"\n[[receivers]]\nname = \"r\"\n[[mute_time_intervals]]\nname = \"x\"\n[[time_intervals]]\nname = \"x\"\n",
        )
        .expect("toml");
        assert_eq!(
            check(&dup).unwrap_err(),
            (
                "notify.time_intervals[0].name".into(),
                "time interval \"x\" is not unique".into()
            )
        );
    }

    /// hub.toml's `[notify]` takes `templates` too (relative to it); a
    /// broken one names the template file and line.
    #[test]
    fn hub_toml_templates() {
        use crate::config::{load, Flags};
        let dir = std::env::temp_dir().join(format!("picket-notify-tmpl-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("t")).unwrap();
        std::fs::write(
            dir.join("t/m.tmpl"),
            "{{ define \"m\" }}{{ .Status }}{{ end }}",
        )
        .unwrap();
        let hub = dir.join("hub.toml");
        std::fs::write(
            &hub,
            "[notify]\ntemplates = [\"t/*.tmpl\"]\n[notify.route]\nreceiver = \"r\"\n[[notify.receivers]]\nname = \"r\"\n[[notify.receivers.email_configs]]\nto = \"a@b\"\nfrom = \"c@d\"\nsmarthost = \"m:25\"\ntext = '{{ template \"m\" . }}'\n",
        )
        .unwrap();
        let n = load(Some(&hub), &Flags::default()).unwrap().notify.unwrap();
        assert!(n.templates.has("m") && n.templates.has("m.tmpl"));
        std::fs::write(dir.join("t/m.tmpl"), "{{ define \"m\" }}{{ .Status }}").unwrap();
        let e = load(Some(&hub), &Flags::default()).unwrap_err();
        assert_eq!(e.file.as_deref(), Some(dir.join("t/m.tmpl").as_path()));
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(1), Some("notify.templates[0]"))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
