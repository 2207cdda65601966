//! An unchanged alertmanager.yml as the hub's direct notifications
//! (`--alertmanager.config.file`, `notify.config_file`): a site moving
//! from Prometheus + Alertmanager to one picket-hub keeps the file it
//! has. Read with the project's YAML reader into the very types of
//! `[notify]` ([`NotifyToml`]: routes, receivers, inhibition rules, time
//! intervals) and checked by the same code, with Alertmanager 0.25's
//! rules on top: what `global` gives receivers that leave it unset
//! (`smtp_*`, `http_config`), the root route's limits, and its messages.
//! Errors name the file, the line and the key.
//!
//! What picket-hub cannot do is refused by name rather than ignored:
//! integrations other than `webhook_configs` and `email_configs`. The
//! `templates` files are parsed at load into the named templates emails
//! are rendered with ([`super::tmpl`]); one that does not parse is an
//! error naming the template file and its line. (Webhook payloads have
//! no templates in Alertmanager 0.25.)
//!
//! Also `check-config` for such a file ([`looks_like`], [`check`]), with
//! `amtool check-config`'s report and exit codes (0 valid, 1 not): the
//! file, then its templates.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::config::{Notify, NotifyToml, ReceiverToml};
use super::inhibit::InhibitToml;
use super::route::RouteToml;
use super::timeinterval::TimeIntervalToml;
use picket_core::config::{parse_duration, ConfigError, Locator};
use picket_core::web::client::HttpConfigToml;
use picket_core::yaml::{self, Node, Value};

/// alertmanager.yml as written (Alertmanager 0.25's top level).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct AmFile {
    global: Option<Global>,
    route: Option<RouteToml>,
    inhibit_rules: Vec<InhibitToml>,
    receivers: Vec<ReceiverToml>,
    templates: Vec<String>,
    mute_time_intervals: Vec<TimeIntervalToml>,
    time_intervals: Vec<TimeIntervalToml>,
}

/// `global`: defaults for receivers. The other integrations' keys are
/// taken (a file written for Alertmanager has them) and only checked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Global {
    /// Alertmanager's end of alerts sent without one; the hub's own
    /// alerts always carry their end, so it changes nothing here.
    resolve_timeout: Option<String>,
    http_config: Option<HttpConfigToml>,
    smtp_from: Option<String>,
    smtp_hello: Option<String>,
    smtp_smarthost: Option<String>,
    smtp_auth_username: Option<String>,
    smtp_auth_password: Option<String>,
    smtp_auth_password_file: Option<PathBuf>,
    smtp_auth_secret: Option<String>,
    smtp_auth_identity: Option<String>,
    smtp_require_tls: Option<bool>,
    slack_api_url: Option<String>,
    slack_api_url_file: Option<String>,
    pagerduty_url: Option<String>,
    opsgenie_api_url: Option<String>,
    opsgenie_api_key: Option<String>,
    opsgenie_api_key_file: Option<String>,
    wechat_api_url: Option<String>,
    wechat_api_secret: Option<String>,
    wechat_api_corp_id: Option<String>,
    victorops_api_url: Option<String>,
    victorops_api_key: Option<String>,
    victorops_api_key_file: Option<String>,
    telegram_api_url: Option<String>,
    webex_api_url: Option<String>,
}

/// What a read alertmanager.yml holds, for `check-config`'s report.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    /// Inhibition rules.
    pub inhibit_rules: usize,
    /// Receivers.
    pub receivers: usize,
    /// Template patterns.
    pub templates: Vec<String>,
}

/// A set, non-empty text.
fn given(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|v| !v.is_empty())
}

/// Go's `url.Parse` plus Alertmanager's check: http(s) and a host.
fn check_url(u: &str) -> Result<(), String> {
    let rest = u
        .strip_prefix("http://")
        .or_else(|| u.strip_prefix("https://"));
    let Some(rest) = rest else {
        let scheme = u.split_once(':').map_or("", |(s, _)| s);
        return Err(format!("unsupported scheme {scheme:?} for URL"));
    };
    if rest.split(['/', '?', '#']).next().is_none_or(str::is_empty) {
        return Err("missing host for URL".into());
    }
    Ok(())
}

impl Global {
    /// Alertmanager 0.25's checks of `global`: (key, message).
    fn check(&self) -> Result<(), (String, String)> {
        let g = |k: &str| format!("global.{k}");
        if let Some(d) = &self.resolve_timeout {
            if !super::route::units_in_order(d) {
                return Err((
                    g("resolve_timeout"),
                    format!("not a valid duration string: {d:?}"),
                ));
            }
            parse_duration(d).map_err(|e| (g("resolve_timeout"), e))?;
        }
        for (k, a, b) in [
            (
                "slack_api_url",
                &self.slack_api_url,
                &self.slack_api_url_file,
            ),
            (
                "opsgenie_api_key",
                &self.opsgenie_api_key,
                &self.opsgenie_api_key_file,
            ),
            (
                "victorops_api_key",
                &self.victorops_api_key,
                &self.victorops_api_key_file,
            ),
        ] {
            if given(a).is_some() && given(b).is_some() {
                return Err((
                    g(k),
                    format!("at most one of {k} & {k}_file must be configured"),
                ));
            }
        }
        if given(&self.smtp_auth_password).is_some()
            && self
                .smtp_auth_password_file
                .as_ref()
                .is_some_and(|f| !f.as_os_str().is_empty())
        {
            return Err((
                g("smtp_auth_password"),
                "at most one of smtp_auth_password & smtp_auth_password_file must be configured"
                    .into(),
            ));
        }
        for (k, v) in [
            ("slack_api_url", &self.slack_api_url),
            ("pagerduty_url", &self.pagerduty_url),
            ("opsgenie_api_url", &self.opsgenie_api_url),
            ("wechat_api_url", &self.wechat_api_url),
            ("victorops_api_url", &self.victorops_api_url),
            ("telegram_api_url", &self.telegram_api_url),
            ("webex_api_url", &self.webex_api_url),
        ] {
            if let Some(u) = given(v) {
                check_url(u).map_err(|e| (g(k), e))?;
            }
        }
        if let Some(h) = given(&self.smtp_smarthost) {
            host_port(h).map_err(|e| (g("smtp_smarthost"), e))?;
        }
        Ok(())
    }

    /// Fills what receiver `r` (the `i`th) leaves unset, as Alertmanager
    /// 0.25's `Config.UnmarshalYAML`.
    fn fill(&self, i: usize, r: &mut ReceiverToml) -> Result<(), (String, String)> {
        for w in &mut r.webhook_configs {
            if w.http_config.is_none() {
                w.http_config.clone_from(&self.http_config);
            }
        }
        for (j, e) in r.email_configs.iter_mut().enumerate() {
            let key = |k: &str| format!("receivers[{i}].email_configs[{j}].{k}");
            if e.smarthost.is_empty() {
                e.smarthost = given(&self.smtp_smarthost)
                    .ok_or_else(|| (key("smarthost"), "no global SMTP smarthost set".to_string()))?
                    .to_string();
            }
            if e.from.is_empty() {
                e.from = given(&self.smtp_from)
                    .ok_or_else(|| (key("from"), "no global SMTP from set".to_string()))?
                    .to_string();
            }
            if given(&e.hello).is_none() {
                e.hello = Some(given(&self.smtp_hello).unwrap_or("localhost").to_string());
            }
            if given(&e.auth_username).is_none() {
                e.auth_username.clone_from(&self.smtp_auth_username);
            }
            let no_file = e
                .auth_password_file
                .as_ref()
                .is_none_or(|f| f.as_os_str().is_empty());
            if given(&e.auth_password).is_none() && no_file {
                e.auth_password = given(&self.smtp_auth_password).map(str::to_string);
                e.auth_password_file = self
                    .smtp_auth_password_file
                    .clone()
                    .filter(|f| !f.as_os_str().is_empty());
            }
            if given(&e.auth_secret).is_none() {
                e.auth_secret.clone_from(&self.smtp_auth_secret);
            }
            if given(&e.auth_identity).is_none() {
                e.auth_identity.clone_from(&self.smtp_auth_identity);
            }
            if e.require_tls.is_none() {
                e.require_tls = Some(self.smtp_require_tls.unwrap_or(true));
            }
            // Empty means unset in Alertmanager's Go strings.
            if e.auth_password.as_deref() == Some("") {
                e.auth_password = None;
            }
            if e.auth_password_file
                .as_ref()
                .is_some_and(|f| f.as_os_str().is_empty())
            {
                e.auth_password_file = None;
            }
        }
        Ok(())
    }
}

/// Go's `net.SplitHostPort` with a port required.
fn host_port(s: &str) -> Result<(), String> {
    let (host, port) = if let Some(r) = s.strip_prefix('[') {
        let (h, p) = r
            .split_once(']')
            .ok_or_else(|| format!("address {s}: missing ']' in address"))?;
        (
            h,
            p.strip_prefix(':')
                .ok_or_else(|| format!("address {s}: missing port in address"))?,
        )
    } else {
        let (h, p) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("address {s}: missing port in address"))?;
        if h.contains(':') {
            return Err(format!("address {s}: too many colons in address"));
        }
        (h, p)
    };
    let _ = host;
    if port.is_empty() {
        return Err(format!("address {s:?}: port cannot be empty"));
    }
    Ok(())
}

/// The keys of each receiver: `mqtt_configs` is the hub's own, not a
/// key of Alertmanager's file, and an unknown `*_configs` is named as an
/// integration Alertmanager 0.25 does not have: (key, message).
fn receiver_keys(tree: &Node) -> Result<(), (String, String)> {
    let Value::Map(top) = &tree.value else {
        return Ok(());
    };
    let Some((
        _,
        Node {
            value: Value::Seq(rs),
            ..
        },
    )) = top.iter().find(|(k, _)| k == "receivers")
    else {
        return Ok(());
    };
    for (i, r) in rs.iter().enumerate() {
        let Value::Map(keys) = &r.value else {
            continue;
        };
        for (k, _) in keys {
            let key = format!("receivers[{i}].{k}");
            let known = ["name", "webhook_configs", "email_configs"].contains(&k.as_str())
                || super::config::UNSUPPORTED
                    .iter()
                    .any(|u| k.strip_suffix("_configs") == Some(u));
            if k == "mqtt_configs" {
                return Err((key, "field mqtt_configs not found: MQTT receivers are picket-hub's own, set in hub.toml's [notify] without an alertmanager.yml".into()));
            }
            if !known && k.ends_with("_configs") {
                return Err((key, format!("field {k} not found: not an integration of Alertmanager 0.25; picket-hub's receivers take webhook_configs and email_configs")));
            }
        }
    }
    Ok(())
}

/// Whether `src` is an alertmanager.yml: a YAML mapping with a top-level
/// `route` or `receivers` (or, when it is not valid YAML, a line that
/// starts with one of them).
pub fn looks_like(src: &str) -> bool {
    let keys = ["route", "receivers"];
    match yaml::parse(src) {
        Ok(Node {
            value: Value::Map(entries),
            ..
        }) => entries.iter().any(|(k, _)| keys.contains(&k.as_str())),
        Ok(_) => false,
        Err(_) => src
            .lines()
            .any(|l| keys.iter().any(|k| l.starts_with(&format!("{k}:")))),
    }
}

/// Reads and checks an alertmanager.yml: the direct notifications it
/// configures (`None`: it has no receivers and routes… never, as a route
/// is required) and what it holds.
pub(crate) fn load(path: &Path) -> Result<(Option<Notify>, Summary), ConfigError> {
    let (notify, summary, templates) = read(path)?;
    templates?;
    Ok((notify, summary))
}

/// [`load`], with the templates' outcome apart (as `amtool
/// check-config` reports them).
fn read(path: &Path) -> Result<Loaded, ConfigError> {
    let err = |line: Option<usize>, key: Option<String>, msg: String| ConfigError {
        file: Some(path.to_path_buf()),
        line,
        key,
        msg,
    };
    let src =
        std::fs::read_to_string(path).map_err(|e| err(None, None, format!("cannot read: {e}")))?;
    let tree = yaml::parse(&src).map_err(|e| err(Some(e.line), None, e.msg))?;
    let ctx = Locator::yaml(path, &src, &tree);
    receiver_keys(&tree).map_err(|(k, m)| ctx.key(&k, m))?;
    let mut f: AmFile = yaml::de::from_node(&tree).map_err(|e| {
        err(
            e.line,
            (!e.path.is_empty()).then_some(e.path.clone()),
            e.msg,
        )
    })?;
    if f.route.is_none() {
        return Err(err(None, None, "no route provided in config".into()));
    }
    let global = f.global.take().unwrap_or_default();
    global.check().map_err(|(k, m)| ctx.key(&k, m))?;
    for (i, r) in f.receivers.iter_mut().enumerate() {
        global.fill(i, r).map_err(|(k, m)| ctx.key(&k, m))?;
    }
    let summary = Summary {
        inhibit_rules: f.inhibit_rules.len(),
        receivers: f.receivers.len(),
        templates: f.templates.clone(),
    };
    let notify = NotifyToml {
        config_file: None,
        route: f.route,
        receivers: f.receivers,
        inhibit_rules: f.inhibit_rules,
        time_intervals: f.time_intervals,
        mute_time_intervals: f.mute_time_intervals,
        templates: Vec::new(),
    }
    .resolve_here(&ctx)?;
    let templates = super::tmpl::load(path.parent(), &summary.templates).map_err(|e| {
        let key = format!("templates[{}]", e.index);
        match e.file {
            Some(file) => ConfigError {
                file: Some(file),
                line: e.line,
                key: Some(key),
                msg: e.msg,
            },
            None => ctx.key(&key, e.msg),
        }
    });
    let notify = notify.map(|mut n| {
        if let Ok(set) = &templates {
            n.templates = std::sync::Arc::new(set.clone());
        }
        n
    });
    Ok((notify, summary, templates.map(|_| ())))
}

/// What [`read`] gives: the notifications, the summary and whether the
/// templates parsed.
type Loaded = (Option<Notify>, Summary, Result<(), ConfigError>);

/// `check-config FILE` for an alertmanager.yml, as `amtool
/// check-config`: the same report on stdout, exit code 0 or 1.
pub fn check(path: &Path) -> u8 {
    print!("Checking '{}'", path.display());
    let code = match read(path) {
        Ok((_, s, templates)) => {
            println!("  SUCCESS");
            println!("Found:");
            println!(" - global config");
            println!(" - route");
            println!(" - {} inhibit rules", s.inhibit_rules);
            println!(" - {} receivers", s.receivers);
            println!(" - {} templates", s.templates.len());
            match templates {
                _ if s.templates.is_empty() => 0,
                Ok(()) => {
                    println!("  SUCCESS");
                    0
                }
                Err(e) => {
                    println!("  FAILED: {e}");
                    1
                }
            }
        }
        Err(e) => {
            println!("  FAILED: {e}");
            1
        }
    };
    println!();
    if code != 0 {
        eprintln!("picket-hub: error: failed to validate 1 file(s)");
    }
    code
}

/// `check-config` when `path` holds an alertmanager.yml: its exit code;
/// `None` for any other file (or one that cannot be read: the hub's own
/// check reports that).
pub fn check_if_alertmanager(path: &Path) -> Option<u8> {
    let src = std::fs::read_to_string(path).ok()?;
    looks_like(&src).then(|| check(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_core::metric::Labels;

    fn write(name: &str, src: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("picket-amcfg-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("alertmanager.yml");
        std::fs::write(&p, src).unwrap();
        p
    }

    fn load_src(name: &str, src: &str) -> Result<Notify, ConfigError> {
        let p = write(name, src);
        let r = load(&p).map(|(n, _)| n.expect("configured"));
        let _ = std::fs::remove_dir_all(p.parent().unwrap());
        r
    }

    #[test]
    fn recognises_alertmanager_yml() {
        assert!(looks_like(
            "route:\n  receiver: x\nreceivers:\n  - name: x\n"
        ));
        assert!(looks_like("receivers: [\n"));
        assert!(!looks_like(
            "global:\n  scrape_interval: 15s\nscrape_configs: []\n"
        ));
        assert!(!looks_like("[notify.route]\nreceiver = \"x\"\n"));
    }

    #[test]
    fn a_full_file_reads_into_the_notify_model() {
        let n = load_src(
            "full",
            "global:\n  resolve_timeout: 5m\n  smtp_from: am@example.org\n  smtp_smarthost: 'mail:25'\n  smtp_require_tls: false\n  slack_api_url: https://hooks.slack.com/x\n  http_config:\n    basic_auth: {username: u, password: p}\nroute:\n  receiver: team\n  group_by: ['alertname']\n  routes:\n    - match: {severity: critical}\n      match_re: {job: 'node|pg'}\n      receiver: mail\n      mute_time_intervals: [nights]\n      continue: true\n    - matchers: ['{team=\"db\", env!~\"dev|test\",}']\n      group_by: ['...']\n      active_time_intervals: [office]\nreceivers:\n  - name: team\n    webhook_configs:\n      - url: http://hook.example/x\n  - name: mail\n    email_configs:\n      - to: ops@example.org\ninhibit_rules:\n  - source_match: {severity: critical}\n    target_match_re: {severity: 'warn.*'}\n    equal: [instance]\n  - source_matchers: [alertname=Down]\n    target_matchers: [severity=info]\nmute_time_intervals:\n  - name: nights\n    time_intervals:\n      - times: [{start_time: '00:00', end_time: '06:00'}]\ntime_intervals:\n  - name: office\n    time_intervals:\n      - weekdays: ['monday:friday']\n",
        )
        .unwrap();
        let crit =
            Labels::from_pairs([("alertname", "A"), ("job", "pg"), ("severity", "critical")]);
        let r = n.route.matching(&crit);
        assert_eq!(
            r[0].key,
            "{}/{job=~\"^(?:node|pg)$\",severity=\"critical\"}"
        );
        assert_eq!(n.receivers[r[0].receiver].name, "mail");
        assert_eq!(r[0].mute_time_intervals, ["nights"]);
        let db = Labels::from_pairs([("alertname", "B"), ("team", "db"), ("env", "prod")]);
        let r = n.route.matching(&db);
        assert_eq!(r[0].key, "{}/{env!~\"dev|test\",team=\"db\"}");
        assert_eq!(r[0].group_by, None);
        assert_eq!(r[0].active_time_intervals, ["office"]);
        // Globals filled in the receivers.
        let mail = &n.receivers[1].emails[0];
        assert_eq!(mail.from, "am@example.org");
        assert_eq!(mail.smarthost, "mail:25");
        assert!(!mail.require_tls);
        assert_eq!(mail.hello, "localhost");
        assert!(n.receivers[0].webhooks[0]
            .http
            .authorization()
            .unwrap()
            .is_some());
        // Both forms of inhibition rules.
        let down = Labels::from_pairs([
            ("alertname", "Down"),
            ("severity", "critical"),
            ("instance", "a"),
        ]);
        let warn = Labels::from_pairs([
            ("alertname", "X"),
            ("severity", "warning"),
            ("instance", "a"),
        ]);
        assert!(n.inhibit[0].mutes(&warn, &[&down]));
        let info = Labels::from_pairs([("alertname", "Y"), ("severity", "info")]);
        assert!(n.inhibit[1].mutes(&info, &[&down]));
        assert_eq!(n.time_intervals.len(), 2);
    }

    /// Broken files: (text, line, key, message part).
    #[test]
    fn errors_name_line_key_and_reason() {
        let ok_tail = "receivers:\n  - name: r\n";
        for (src, line, key, msg) in [
            (format!("route:\n  receiver: r\n  group_wiat: 1s\n{ok_tail}"), Some(3), "route.group_wiat", "unknown field `group_wiat`"),
            (format!("route:\n  receiver: r\n{ok_tail}    slack_configs:\n      - channel: '#x'\n"), Some(5), "receivers[0].slack_configs", "does not send to slack"),
            (format!("route:\n  receiver: r\n{ok_tail}    mqtt_configs: []\n"), Some(5), "receivers[0].mqtt_configs", "field mqtt_configs not found"),
            (format!("route:\n  receiver: nope\n{ok_tail}"), Some(2), "route.receiver", "undefined receiver \"nope\" used in route"),
            (format!("route:\n  receiver: r\n  matchers: ['a=b']\n{ok_tail}"), Some(3), "route.matchers", "root route must not have any matchers"),
            (format!("route:\n  receiver: r\n  routes:\n    - matchers: ['a=\"b']\n{ok_tail}"), Some(4), "route.routes[0].matchers[0]", "unescaped double quote"),
            (format!("route:\n  receiver: r\n  routes:\n    - mute_time_intervals: [x]\n{ok_tail}"), Some(4), "route.routes[0].mute_time_intervals[0]", "undefined time interval \"x\" used in route"),
            (format!("route:\n  receiver: r\n  group_by: [a, '...']\n{ok_tail}"), Some(3), "route.group_by", "cannot have wildcard group_by"),
            (format!("route:\n  receiver: r\n{ok_tail}time_intervals:\n  - name: t\n    time_intervals:\n      - weekdays: [someday]\n"), Some(8), "time_intervals[0].time_intervals[0].weekdays[0]", "someday is not a valid weekday"),
            (format!("route:\n  receiver: r\n{ok_tail}mute_time_intervals:\n  - name: t\ntime_intervals:\n  - name: t\n"), Some(8), "time_intervals[0].name", "time interval \"t\" is not unique"),
            (format!("route:\n  receiver: r\n{ok_tail}    email_configs:\n      - to: a@b\n"), Some(6), "receivers[0].email_configs[0].smarthost", "no global SMTP smarthost set"),
            (format!("route:\n  receiver: r\n{ok_tail}inhibit_rules:\n  - source_match_re: {{a: '('}}\n"), Some(6), "inhibit_rules[0].source_match_re.a", "invalid regular expression"),
            (format!("global:\n  smtp_smarthost: nocolon\nroute:\n  receiver: r\n{ok_tail}"), Some(2), "global.smtp_smarthost", "missing port"),
            (format!("route:\n  receiver: r\n  continue: true\n{ok_tail}"), Some(3), "route.continue", "cannot have continue in root route"),
            ("receivers:\n  - name: r\n".to_string(), None, "", "no route provided in config"),
            (format!("route:\n  receiver: r\n{ok_tail}  - name: r\n"), Some(5), "receivers[1].name", "notification config name \"r\" is not unique"),
        ] {
            let e = load_src("bad", &src).expect_err(&src);
            assert_eq!(e.line, line, "{src}: {e}");
            assert_eq!(e.key.as_deref().unwrap_or(""), key, "{src}: {e}");
            assert!(e.msg.contains(msg), "{src}: {e}");
            assert!(e.file.is_some());
        }
    }

    #[test]
    fn email_templates_parsed_and_auth_refused_with_reasons() {
        let base = "global:\n  smtp_from: a@b\n  smtp_smarthost: 'm:25'\nroute:\n  receiver: r\nreceivers:\n  - name: r\n    email_configs:\n      - to: x@y\n";
        for extra in [
            "        html: '{{ template \"email.default.html\" . }}'\n",
            "        html: '<b>{{ .Status }}</b>'\n        text: '{{ range .Alerts }}{{ .Labels.instance }}{{ end }}'\n",
            "        headers: {Subject: 'hi {{ .Status }}', X-Team: ops}\n",
        ] {
            assert!(load_src("mail-ok", &format!("{base}{extra}")).is_ok(), "{extra}");
        }
        for (extra, key, line) in [
            ("        html: '<b>{{ .Nope }</b>'\n", "html", 10),
            ("        text: '{{ humanize 1 }}'\n", "text", 10),
            ("        headers: {Subject: '{{ if }}'}\n", "headers.Subject", 10),
            ("        auth_secret: s\n", "auth_secret", 10),
            ("        auth_username: u\n        auth_password: p\n        auth_identity: other\n", "auth_identity", 12),
        ] {
            let e = load_src("mail", &format!("{base}{extra}")).expect_err(extra);
            assert_eq!(
                e.key.as_deref(),
                Some(format!("receivers[0].email_configs[0].{key}").as_str()),
                "{e}"
            );
            assert_eq!(e.line, Some(line), "{e}");
        }
    }

    /// Template files are parsed at load, relative to the file: one that
    /// does not parse is an error naming it and its line, and
    /// check-config reports it as amtool does.
    #[test]
    fn template_files_parsed_at_load() {
        let p = write(
            "tmpl",
            "route:\n  receiver: r\nreceivers:\n  - name: r\ntemplates: ['t/*.tmpl', 'missing/*.tmpl']\n",
        );
        let dir = p.parent().unwrap().to_path_buf();
        std::fs::create_dir_all(dir.join("t")).unwrap();
        std::fs::write(
            dir.join("t/a.tmpl"),
            "{{ define \"x\" }}{{ .Status }}{{ end }}",
        )
        .unwrap();
        let (n, s) = load(&p).expect("loads");
        assert!(n.unwrap().templates.has("x"));
        assert_eq!(s.templates.len(), 2);
        std::fs::write(dir.join("t/b.tmpl"), "\n\n{{ define \"y\" }}{{ end\n").unwrap();
        let e = load(&p).unwrap_err();
        assert_eq!(e.file.as_deref(), Some(dir.join("t/b.tmpl").as_path()));
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("templates[0]")));
        assert!(e.msg.starts_with("template: b.tmpl:3: "), "{e}");
        let (_, _, t) = read(&p).expect("the file itself is fine");
        assert!(t.is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// hub.toml's `notify.config_file` (relative to hub.toml), the flag
    /// over it, and [notify] routes in both places refused, naming both.
    #[test]
    fn config_file_key_flag_and_conflict() {
        use crate::config::{load, Flags};
        let dir = std::env::temp_dir().join(format!("picket-amcfg-{}-hub", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let am = |name: &str, receiver: &str| {
            std::fs::write(
                dir.join(name),
                format!("route:\n  receiver: {receiver}\nreceivers:\n  - name: {receiver}\n"),
            )
            .unwrap();
        };
        am("a.yml", "from-key");
        am("b.yml", "from-flag");
        let hub = dir.join("hub.toml");
        std::fs::write(&hub, "[notify]\nconfig_file = \"a.yml\"\n").unwrap();
        let receiver = |flags: &Flags| {
            let c = load(Some(&hub), flags).unwrap();
            let n = c.notify.unwrap();
            n.receivers[n.route.receiver].name.clone()
        };
        assert_eq!(receiver(&Flags::default()), "from-key");
        let flag = Flags {
            alertmanager_config_file: Some(dir.join("b.yml")),
            ..Flags::default()
        };
        assert_eq!(receiver(&flag), "from-flag");
        // An error in the alertmanager.yml names that file and its line.
        std::fs::write(
            dir.join("a.yml"),
            "route:\n  receiver: x\n  group_wait: soon\nreceivers:\n  - name: x\n",
        )
        .unwrap();
        let e = load(Some(&hub), &Flags::default()).unwrap_err();
        assert_eq!(e.file.as_deref(), Some(dir.join("a.yml").as_path()));
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("route.group_wait"))
        );
        // Routes in hub.toml as well: an error naming both.
        std::fs::write(
            &hub,
            "[notify]\nconfig_file = \"a.yml\"\n[notify.route]\nreceiver = \"x\"\n",
        )
        .unwrap();
        let e = load(Some(&hub), &flag).unwrap_err();
        assert_eq!(e.file.as_deref(), Some(hub.as_path()));
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("notify.route")));
        assert!(
            e.msg.contains("b.yml") && e.msg.contains("--alertmanager.config.file"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
