//! An unchanged alertmanager.yml as the hub's direct notifications,
//! proved against a real Alertmanager 0.25: `picket-hub check-config`
//! and `amtool check-config` agree on the files of
//! tests/configs/alertmanager/ (and their template files), and one file
//! given to both Alertmanager (fed by the hub's own alert sender) and the
//! hub's direct path makes the same groups and the same webhook payloads,
//! through routes with `continue`, `match_re`, `max_alerts`, inhibition, a
//! mute time interval active now and one that is not, and active time
//! intervals; and one file with notification templates (a `templates:`
//! file, `text`, `html`, headers) makes the same mails, to a real SMTP
//! server, from both.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use crate::alerting::{mails_in, start_alertmanager, start_smtp_sink, Recorder};
use crate::util::*;

/// (exit code, stdout + stderr).
fn run(cmd: &mut Command) -> (Option<i32>, String) {
    let out = cmd.output().expect("run");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

/// The " - …" lines of a check-config report.
fn found(report: &str) -> Vec<&str> {
    report.lines().filter(|l| l.starts_with(" - ")).collect()
}

/// Every file of tests/configs/alertmanager/: `good-*` pass both,
/// `bad-*` fail both (picket-hub naming file, line and key wherever the
/// YAML parses; a broken template file with amtool's message after the
/// template file and line), `unsupported-*` pass amtool and fail
/// picket-hub with the reason (integrations it does not have).
#[test]
#[ignore = "needs amtool (tests/run.sh installs prometheus-alertmanager)"]
fn check_config_agrees_with_amtool_on_alertmanager_yml() {
    require("amtool");
    let dir = repo().join("tests/configs/alertmanager");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 40, "{files:?}");
    for f in &files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let (am, am_out) = run(Command::new("amtool").arg("check-config").arg(f));
        let (hub, hub_out) = run(hub_cmd().arg("check-config").arg(f));
        let both = format!("{name}:\namtool: {am_out}\npicket-hub: {hub_out}");
        if name.starts_with("good-") {
            assert_eq!((am, hub), (Some(0), Some(0)), "{both}");
            assert_eq!(found(&am_out), found(&hub_out), "{both}");
            assert!(hub_out.contains("  SUCCESS"), "{both}");
        } else if name.starts_with("bad-") {
            assert_eq!((am, hub), (Some(1), Some(1)), "{both}");
            assert!(hub_out.contains("  FAILED: "), "{both}");
            if name.starts_with("bad-template") {
                // The file is fine, its templates are not: the same
                // report, the hub's error naming the template file.
                assert_eq!(found(&am_out), found(&hub_out), "{both}");
                let failed = |out: &str| {
                    out.lines()
                        .find_map(|l| l.strip_prefix("  FAILED: "))
                        .unwrap_or("")
                        .to_string()
                };
                let (am_err, hub_err) = (failed(&am_out), failed(&hub_out));
                assert!(!am_err.is_empty() && hub_err.ends_with(&am_err), "{both}");
                assert!(hub_err.contains(".tmpl:3: templates[0]: "), "{both}");
                continue;
            }
            // file:line: key: reason (the key is missing only when there
            // is no route at all, the line when the YAML does not parse).
            if !matches!(name, "bad-no-route.yml" | "bad-yaml.yml") {
                let at = format!("{}:", f.display());
                let rest = hub_out.split(&at).nth(1).unwrap_or("");
                let line = rest.split(':').next().unwrap_or("");
                assert!(line.parse::<usize>().is_ok(), "no line: {both}");
                assert!(rest.split(": ").count() >= 3, "no key: {both}");
            }
        } else if name.starts_with("unsupported-") {
            assert_eq!((am, hub), (Some(0), Some(1)), "{both}");
            assert!(hub_out.contains("picket-hub"), "{both}");
        } else {
            panic!("{name}: name it good-, bad- or unsupported-");
        }
    }
    // A hub.toml naming one is still checked as a hub.toml, the
    // alertmanager.yml with it.
    let tmp = temp_dir("amcfg-check");
    let hub_toml = tmp.join("hub.toml");
    std::fs::write(
        &hub_toml,
        format!(
            "[notify]\nconfig_file = {:?}\n",
            dir.join("good-full.yml").display().to_string()
        ),
    )
    .expect("write");
    let (code, out) = run(hub_cmd().arg("check-config").arg(&hub_toml));
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("valid") && !out.contains("Checking '"),
        "{out}"
    );
    std::fs::write(
        &hub_toml,
        format!(
            "[notify]\nconfig_file = {:?}\n",
            dir.join("bad-weekday.yml").display().to_string()
        ),
    )
    .expect("write");
    let (code, out) = run(hub_cmd().arg("check-config").arg(&hub_toml));
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("bad-weekday.yml:10: time_intervals[0]"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

/// The alertmanager.yml of the side-by-side test: receivers on
/// `hook`, the time intervals always on (`always`, in a zone with a
/// half-hour daylight shift) and never on (`other-year`).
fn alertmanager_yml(hook: &str) -> String {
    format!(
        r#"global:
  resolve_timeout: 5m
route:
  receiver: default
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      continue: true
    - match_re:
        team: db|web
      group_by: [alertname, team]
      receiver: team
    - matchers: [window="mute-now"]
      receiver: team
      mute_time_intervals: [always]
    - matchers: [window="mute-never"]
      receiver: team
      mute_time_intervals: [other-year]
    - matchers: [window="active-never"]
      receiver: team
      active_time_intervals: [other-year]
    - matchers: [window="active-now"]
      receiver: team
      active_time_intervals: [always, other-year]
receivers:
  - name: default
    webhook_configs:
      - url: http://{hook}/default
  - name: pager
    webhook_configs:
      - url: http://{hook}/pager
        send_resolved: false
  - name: team
    webhook_configs:
      - url: http://{hook}/team
        max_alerts: 1
inhibit_rules:
  - source_matchers: [alertname="Down"]
    target_matchers: [severity="warning"]
    equal: [instance]
time_intervals:
  - name: always
    time_intervals:
      - times:
          - start_time: '00:00'
            end_time: '24:00'
        weekdays: ['sunday:saturday']
        location: Australia/Lord_Howe
mute_time_intervals:
  - name: other-year
    time_intervals:
      - years: ['1999']
        location: Europe/Berlin
"#
    )
}

const RULES: &str = "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: Down\n        expr: down > 0\n        labels:\n          severity: critical\n      - alert: Load\n        expr: load > 0\n        labels:\n          severity: warning\n      - alert: Job\n        expr: job_fail > 0\n      - alert: Timed\n        expr: timed > 0\n";

/// Pushes each series (its labels, `__name__` first) at `v` now, in one
/// request, so one rule evaluation sees them all.
fn push(hub: &str, series: &[&[(&str, &str)]], v: impl Fn(&str) -> f64) {
    let now = crate::hub::now_ms();
    let points: Vec<[(i64, f64); 1]> = series.iter().map(|s| [(now, v(s[0].1))]).collect();
    let all: Vec<crate::hub::Series<'_>> = series
        .iter()
        .zip(&points)
        .map(|(l, p)| (*l, &p[..]))
        .collect();
    let r = crate::hub::post(hub, &crate::hub::body(&all));
    assert_eq!(r.status, 204, "{}", r.text());
}

/// A payload without what differs by sender and by the clock of the
/// flush: `externalURL` (each sender's own). Alerts keep `startsAt`,
/// `endsAt`, `generatorURL` and `fingerprint`: the hub sends Alertmanager
/// the very alerts it notifies itself.
fn normal(mut v: serde_json::Value) -> String {
    if let Some(o) = v.as_object_mut() {
        o.remove("externalURL");
    }
    v.to_string()
}

/// The payloads each sender made, normalised and counted.
fn by_sender(hook: &Recorder) -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
    let count = |agent: &str| {
        let mut m = BTreeMap::new();
        for b in hook.from(agent) {
            *m.entry(normal(b)).or_insert(0) += 1;
        }
        m
    };
    (count("alertmanager/"), count("picket-hub/"))
}

/// Waits until both senders made `n` payloads, then a few more group
/// intervals (nothing else may come), and checks they are the same.
fn same_payloads(hook: &Recorder, n: usize, phase: &str) -> Vec<serde_json::Value> {
    wait_for(phase, Duration::from_secs(30), || {
        let (am, hub) = (hook.from("alertmanager/"), hook.from("picket-hub/"));
        (am.len() >= n && hub.len() >= n).then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    let (am, hub) = by_sender(hook);
    assert_eq!(
        am, hub,
        "{phase}: Alertmanager 0.25 (left) and picket-hub (right) differ"
    );
    assert_eq!(am.values().sum::<usize>(), n, "{phase}: {am:#?}");
    hook.from("picket-hub/")
}

fn find<'a>(
    bodies: &'a [serde_json::Value],
    key: &str,
    status: &str,
) -> Option<&'a serde_json::Value> {
    bodies
        .iter()
        .find(|b| b["groupKey"] == key && b["status"] == status)
}

/// One alertmanager.yml, two senders: a real Alertmanager 0.25 fed by
/// the hub's alert sender, and the hub's direct notifications read from
/// the same file; the same webhook payloads in each phase (fire, a source
/// of inhibition resolves, everything resolves).
#[test]
#[ignore = "needs prometheus-alertmanager (tests/run.sh installs it)"]
fn alertmanager_yml_notifies_as_alertmanager_0_25_does() {
    let dir = temp_dir("amcfg-side");
    let hook = Recorder::start();
    let am = start_alertmanager(&dir, &alertmanager_yml(&hook.addr));
    let am_yml = dir.join("alertmanager.yml");
    std::fs::write(dir.join("rules.yml"), RULES).expect("rules");
    std::fs::write(
        dir.join("hub.toml"),
        format!(
            "rule_files = [\"rules.yml\"]\n[global]\nevaluation_interval = \"1s\"\nexternal_labels = {{ site = \"lab\" }}\n[web]\nexternal_url = \"http://hub.test:9090\"\n[alerting]\nresend_delay = \"1s\"\n[[alerting.alertmanagers]]\n[[alerting.alertmanagers.static_configs]]\ntargets = [\"{}\"]\n",
            am.addr
        ),
    )
    .expect("config");
    let cfg = format!("--config.file={}", dir.join("hub.toml").display());
    let amf = format!("--alertmanager.config.file={}", am_yml.display());
    let hub = crate::hub::start_hub(&dir, &[&cfg, &amf]);
    let series: &[&[(&str, &str)]] = &[
        &[("__name__", "down"), ("instance", "a")],
        &[("__name__", "load"), ("instance", "a")],
        &[("__name__", "load"), ("instance", "b")],
        &[("__name__", "job_fail"), ("instance", "x"), ("team", "db")],
        &[("__name__", "job_fail"), ("instance", "z"), ("team", "db")],
        &[("__name__", "job_fail"), ("instance", "y"), ("team", "web")],
        &[
            ("__name__", "timed"),
            ("instance", "m"),
            ("window", "mute-now"),
        ],
        &[
            ("__name__", "timed"),
            ("instance", "n"),
            ("window", "mute-never"),
        ],
        &[
            ("__name__", "timed"),
            ("instance", "o"),
            ("window", "active-never"),
        ],
        &[
            ("__name__", "timed"),
            ("instance", "p"),
            ("window", "active-now"),
        ],
    ];

    // Everything fires: Down to pager (continue: the siblings do not
    // match), Load{b} to default (Load{a} is inhibited by Down{a}), Job
    // in two team groups (db truncated to one alert), Timed{n} and
    // Timed{p}; Timed{m} (muted now) and Timed{o} (not active) never.
    push(&hub.addr, series, |_| 1.0);
    let fired = same_payloads(&hook, 6, "firing");
    let db = find(
        &fired,
        "{}/{team=~\"^(?:db|web)$\"}:{alertname=\"Job\", team=\"db\"}",
        "firing",
    )
    .expect("the db group");
    assert_eq!(db["truncatedAlerts"], 1);
    assert_eq!(db["alerts"][0]["labels"]["instance"], "x");
    assert_eq!(db["receiver"], "team");
    let load = find(&fired, "{}:{alertname=\"Load\"}", "firing").expect("Load");
    assert_eq!(load["alerts"].as_array().map(Vec::len), Some(1));
    assert_eq!(load["alerts"][0]["labels"]["instance"], "b");
    assert!(find(
        &fired,
        "{}/{severity=\"critical\"}:{alertname=\"Down\"}",
        "firing"
    )
    .is_some());
    assert!(find(
        &fired,
        "{}/{window=\"mute-never\"}:{alertname=\"Timed\"}",
        "firing"
    )
    .is_some());
    assert!(find(
        &fired,
        "{}/{window=\"active-now\"}:{alertname=\"Timed\"}",
        "firing"
    )
    .is_some());
    for b in &fired {
        let w = b["commonLabels"]["window"].as_str().unwrap_or("");
        assert!(w != "mute-now" && w != "active-never", "{b}");
        assert_eq!(b["version"], "4");
        assert_eq!(b["commonLabels"]["site"], "lab");
    }

    // Down resolves: pager takes no resolutions (nothing sent), and
    // Load{a}, no longer inhibited, joins its group.
    push(&hub.addr, series, |n| if n == "down" { 0.0 } else { 1.0 });
    let after = same_payloads(&hook, 7, "an inhibition ends");
    let load: Vec<_> = after
        .iter()
        .filter(|b| b["groupKey"] == "{}:{alertname=\"Load\"}")
        .collect();
    assert_eq!(load.len(), 2);
    assert_eq!(load[1]["alerts"].as_array().map(Vec::len), Some(2));

    // Everything resolves: the resolutions of every notified group but
    // pager's.
    push(&hub.addr, series, |_| 0.0);
    let all = same_payloads(&hook, 12, "resolved");
    let resolved = all.iter().filter(|b| b["status"] == "resolved").count();
    assert_eq!(resolved, 5);
    assert!(all
        .iter()
        .all(|b| b["status"] != "resolved" || b["receiver"] != "pager"));
    drop(hub);
    drop(am);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The hub with a broken alertmanager.yml does not start: exit 2 and
/// the file, line and key.
#[test]
fn a_broken_alertmanager_yml_stops_the_hub_at_its_line() {
    let dir = temp_dir("amcfg-bad");
    let am = dir.join("alertmanager.yml");
    std::fs::write(
        &am,
        "route:\n  receiver: r\nreceivers:\n  - name: r\n    slack_configs:\n      - channel: '#x'\n",
    )
    .expect("write");
    let out = hub_cmd()
        .arg(format!("--alertmanager.config.file={}", am.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()))
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("{}:5: receivers[0].slack_configs:", am.display())),
        "{err}"
    );
    assert!(err.contains("webhook_configs and email_configs"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The template file of the email side-by-side test: named templates for
/// the subject, the text and the html, ranging over `.Alerts.Firing` with
/// `.Labels.SortedPairs`, `toUpper`, `join`, `reReplaceAll`, `title`,
/// `.CommonLabels`, `.Remove`, `safeHtml`, a `block`, variables, and
/// values in HTML text, attributes, URLs and a style.
const MAIL_TMPL: &str = r#"{{/* The site's mail templates. */}}
{{ define "site.subject" }}[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .CommonLabels.alertname }} @ {{ .CommonLabels.site | title }}{{ end }}

{{ define "site.text" -}}
{{ range .Alerts.Firing }}FIRING {{ .Labels.alertname }}
{{ range .Labels.SortedPairs }}  {{ .Name }}={{ .Value | toUpper }}
{{ end }}  host: {{ reReplaceAll ":[0-9]+$" "" .Labels.instance }}
  summary: {{ .Annotations.summary }}
{{ end -}}
{{ range $i, $a := .Alerts.Resolved }}RESOLVED #{{ $i }} {{ $a.Labels.instance }}
{{ end -}}
common: {{ .CommonLabels.Values | join ", " }}
other: {{ (.CommonLabels.Remove .GroupLabels.Names).Names | join "," }}
group: {{ .GroupLabels.SortedPairs }} receiver: {{ .Receiver }} status: {{ .Status }}
{{ template "__subject" . }}|
{{ template "__alertmanagerURL" . }}
{{- end }}

{{ define "site.html" }}<!DOCTYPE html>
<html><head><title>{{ template "site.subject" . }}</title></head>
<body>
<!-- picket-hub and Alertmanager write the same -->
<h1 style="color: {{ if eq .Status "firing" }}{{ "red" }}{{ else }}{{ "green" }}{{ end }}">{{ .Alerts.Firing | len }} firing, {{ len .Alerts.Resolved }} resolved</h1>
{{ block "site.list" .Alerts.Firing }}<ul>{{ range . }}
<li><a href="{{ .GeneratorURL }}">{{ .Labels.alertname }}</a> on {{ .Labels.instance }}: {{ .Annotations.summary }}
{{ range $k, $v := .Labels }}<span class="label" title="{{ $k }}">{{ $v }}</span> {{ end }}</li>{{ end }}
</ul>{{ end }}
<p>{{ join " & " (stringSlice "a<b" .Status) }} {{ safeHtml "<i>as is</i>" }} {{ .CommonLabels.severity | html }}</p>
<a href="{{ template "__alertmanagerURL" . }}">View</a> <a href="{{ .ExternalURL }}/alerts?team={{ .CommonLabels.team }}&x=1">Team</a>
</body></html>{{ end }}
"#;

/// The alertmanager.yml of the email side-by-side test: mails to the
/// SMTP sink on `smtp`, rendered with MAIL_TMPL.
fn mail_yml(smtp: &str) -> String {
    format!(
        r#"global:
  smtp_smarthost: '{smtp}'
  smtp_from: 'Alerts <alerts@example.org>'
  smtp_require_tls: false
route:
  receiver: mail
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: mail
    email_configs:
      - to: '{{{{ .CommonLabels.team }}}}@example.org'
        send_resolved: true
        headers:
          Subject: '{{{{ template "site.subject" . }}}}'
          X-Group: '{{{{ .GroupLabels.SortedPairs }}}}'
          x-firing: '{{{{ range .Alerts.Firing }}}}{{{{ .Labels.instance }}}} {{{{ end }}}}'
        text: '{{{{ template "site.text" . }}}}'
        html: '{{{{ template "site.html" . }}}}'
templates: ['mail.tmpl']
"#
    )
}

const MAIL_RULES: &str = "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: DiskFull\n        expr: disk > 0\n        labels:\n          severity: critical\n          team: db\n        annotations:\n          summary: \"{{ $labels.instance }} <full> & 'out' +1\"\n";

/// A mail as the test compares it: envelope, headers but `Message-Id`
/// and `Date`, the content type without its boundary, and each part's
/// headers and decoded text.
fn mail_parts(eml: &str) -> BTreeMap<String, String> {
    let (head, body) = eml.split_once("\r\n\r\n").unwrap_or((eml, ""));
    let mut out = BTreeMap::new();
    let mut boundary = String::new();
    for line in head.split("\r\n") {
        let Some((k, v)) = line.split_once(": ") else {
            continue;
        };
        match k {
            "Message-Id" | "Date" => {}
            "Content-Type" => {
                let (t, b) = v.split_once(";  boundary=").unwrap_or((v, ""));
                boundary = b.to_string();
                out.insert(k.to_string(), t.to_string());
            }
            _ => {
                out.insert(k.to_string(), v.to_string());
            }
        }
    }
    let delim = format!("--{boundary}");
    for (i, part) in body.split(&delim).enumerate().skip(1) {
        let part = part.strip_prefix("\r\n").unwrap_or(part);
        let part = part.strip_suffix("\r\n").unwrap_or(part);
        if part == "--" || part.starts_with("--\r\n") {
            continue;
        }
        let (ph, pb) = part.split_once("\r\n\r\n").unwrap_or((part, ""));
        out.insert(format!("part{i}.headers"), ph.to_string());
        out.insert(format!("part{i}.body"), qp_decode(pb));
    }
    out
}

/// Quoted-printable decoding (soft breaks dropped, `=XX` decoded).
fn qp_decode(s: &str) -> String {
    let b = s.replace("=\r\n", "");
    let b = b.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() + 1 {
            if let Some(v) = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).replace("\r\n", "\n")
}

/// One step of the mail test: what happens, and each instance's value.
type Step = (&'static str, fn(&str) -> f64);

/// Runs the mail test's alert sequence against one sender: both DiskFull
/// alerts fire, db2 resolves, db1 resolves; after each step waits for
/// one more mail in `mails` (and then a little, for any extra one).
fn mail_sequence(hub: &str, mails: &std::path::Path, phase: &str) -> Vec<String> {
    let series: &[&[(&str, &str)]] = &[
        &[("__name__", "disk"), ("instance", "db1:9100")],
        &[("__name__", "disk"), ("instance", "db2:9100")],
    ];
    let steps: [Step; 3] = [
        ("both fire", |_| 1.0),
        ("db2 resolves", |i| if i == "db1:9100" { 1.0 } else { 0.0 }),
        ("both resolved", |_| 0.0),
    ];
    let before = mails_in(mails).len();
    for (n, (what, v)) in steps.iter().enumerate() {
        let now = crate::hub::now_ms();
        let points: Vec<[(i64, f64); 1]> = series.iter().map(|s| [(now, v(s[1].1))]).collect();
        let all: Vec<crate::hub::Series<'_>> = series
            .iter()
            .zip(&points)
            .map(|(l, p)| (*l, &p[..]))
            .collect();
        let r = crate::hub::post(hub, &crate::hub::body(&all));
        assert_eq!(r.status, 204, "{}", r.text());
        wait_for(
            &format!("{phase}: the mail of '{what}'"),
            Duration::from_secs(30),
            || (mails_in(mails).len() > before + n).then_some(()),
        );
        std::thread::sleep(Duration::from_secs(3));
        assert_eq!(
            mails_in(mails).len(),
            before + n + 1,
            "{phase}: one mail for '{what}'"
        );
    }
    mails_in(mails)[before..].to_vec()
}

/// One alertmanager.yml with a `templates:` file and templated `to`,
/// headers, `text` and `html`, given to a real Alertmanager 0.25 (fed by
/// the hub's alert sender) and to the hub's direct notifications, in
/// turn, both mailing a real SMTP server (aiosmtpd): the same envelope,
/// headers (Subject, To, From, X-…), text and html, mail for mail, over
/// the same alert sequence.
#[test]
#[ignore = "needs prometheus-alertmanager and python3-aiosmtpd (tests/run.sh installs them)"]
fn email_templates_render_as_alertmanager_0_25_does() {
    let dir = temp_dir("amcfg-mail");
    let mails = dir.join("mails");
    let port = free_port();
    let _sink = start_smtp_sink(&mails, "127.0.0.1", port, &[]);
    let yml = mail_yml(&format!("127.0.0.1:{port}"));
    let ext = "http://hub.test:9090";
    let hub_toml = |alertmanager: Option<&str>| {
        let mut s = format!(
            "rule_files = [\"../rules.yml\"]\n[global]\nevaluation_interval = \"1s\"\nexternal_labels = {{ site = \"lab one\" }}\n[web]\nexternal_url = \"{ext}\"\n[alerting]\nresend_delay = \"1s\"\n"
        );
        if let Some(am) = alertmanager {
            s.push_str(&format!(
                "[[alerting.alertmanagers]]\n[[alerting.alertmanagers.static_configs]]\ntargets = [\"{am}\"]\n"
            ));
        }
        s
    };
    std::fs::write(dir.join("rules.yml"), MAIL_RULES).expect("rules");

    // Alertmanager, with the hub as its alert source only.
    let am_dir = dir.join("am");
    std::fs::create_dir_all(&am_dir).expect("dir");
    std::fs::write(am_dir.join("mail.tmpl"), MAIL_TMPL).expect("tmpl");
    std::fs::write(am_dir.join("alertmanager.yml"), &yml).expect("yml");
    require("prometheus-alertmanager");
    let am_addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new("prometheus-alertmanager")
        .arg(format!(
            "--config.file={}",
            am_dir.join("alertmanager.yml").display()
        ))
        .arg(format!("--storage.path={}", am_dir.join("data").display()))
        .arg(format!("--web.listen-address={am_addr}"))
        .arg(format!("--web.external-url={ext}"))
        .arg("--cluster.listen-address=")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn alertmanager");
    let am = Proc {
        child,
        addr: am_addr.clone(),
    };
    wait_http(&am.addr, "/-/ready", Duration::from_secs(30));
    std::fs::write(am_dir.join("hub.toml"), hub_toml(Some(&am_addr))).expect("hub.toml");
    let hub = crate::hub::start_hub(
        &am_dir,
        &[&format!(
            "--config.file={}",
            am_dir.join("hub.toml").display()
        )],
    );
    let from_am = mail_sequence(&hub.addr, &mails, "Alertmanager 0.25");
    drop(hub);
    drop(am);

    // The hub's direct notifications, from the same file.
    let hub_dir = dir.join("hub");
    std::fs::create_dir_all(&hub_dir).expect("dir");
    std::fs::write(hub_dir.join("mail.tmpl"), MAIL_TMPL).expect("tmpl");
    std::fs::write(hub_dir.join("alertmanager.yml"), &yml).expect("yml");
    std::fs::write(hub_dir.join("hub.toml"), hub_toml(None)).expect("hub.toml");
    let hub = crate::hub::start_hub(
        &hub_dir,
        &[
            &format!("--config.file={}", hub_dir.join("hub.toml").display()),
            &format!(
                "--alertmanager.config.file={}",
                hub_dir.join("alertmanager.yml").display()
            ),
        ],
    );
    let from_hub = mail_sequence(&hub.addr, &mails, "picket-hub");
    drop(hub);

    for (i, (a, h)) in from_am.iter().zip(&from_hub).enumerate() {
        let (a, h) = (mail_parts(a), mail_parts(h));
        assert_eq!(
            a, h,
            "mail {i}: Alertmanager 0.25 (left) and picket-hub (right) differ"
        );
    }
    // What they agree on is what the templates say.
    let first = mail_parts(&from_hub[0]);
    assert_eq!(first["Subject"], "[FIRING:2] DiskFull @ Lab One");
    assert_eq!(first["X-Envelope-To"], "db@example.org");
    assert_eq!(first["X-Envelope-From"], "alerts@example.org");
    assert_eq!(first["To"], "db@example.org");
    assert_eq!(first["X-Firing"], "db1:9100 db2:9100 ");
    assert_eq!(first["Content-Type"], "multipart/alternative");
    let text = &first["part1.body"];
    assert!(
        text.contains(
            "  instance=DB1:9100\n  severity=CRITICAL\n  site=LAB ONE\n  team=DB\n  host: db1\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("summary: db1:9100 <full> & 'out' +1"),
        "{text}"
    );
    assert!(
        text.contains("http://hub.test:9090/#/alerts?receiver=mail"),
        "{text}"
    );
    let html = &first["part2.body"];
    assert!(
        html.contains("db1:9100 &lt;full&gt; &amp; &#39;out&#39; &#43;1"),
        "{html}"
    );
    assert!(!html.contains("picket-hub and Alertmanager"), "{html}");
    assert!(html.contains("<i>as is</i>"), "{html}");
    let last = mail_parts(&from_hub[2]);
    assert_eq!(last["Subject"], "[RESOLVED] DiskFull @ Lab One");
    // db2, notified resolved before and still re-sent by the rule
    // engine, is listed again, as Alertmanager lists it.
    assert!(
        last["part1.body"].contains("RESOLVED #0 db1:9100\nRESOLVED #1 db2:9100\n"),
        "{}",
        last["part1.body"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
