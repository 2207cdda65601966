//! Notification templates, as Alertmanager 0.25 has them: the named
//! templates of the `templates:` files (parsed at load, in order, into
//! one [`Set`] after the defaults; a later definition replaces an earlier
//! one) and the data a notification is rendered with ([`data`]:
//! Alertmanager's `template.Data` for a flush). The engine is the rule
//! engine's ([`crate::rules::template`]) with Alertmanager's function
//! library.
//!
//! The defaults define what Alertmanager's `default.tmpl` does that an
//! email uses or a site's template commonly calls: `__alertmanager`,
//! `__alertmanagerURL`, `__subject`, `__description`,
//! `__text_alert_list` and `email.default.subject`. They are picket-hub's
//! own definitions, written to give the same text as Alertmanager's. It
//! has no `email.default.html` (Alertmanager's styled HTML page): an
//! email whose `html` is that default and whose template files do not
//! define it gets picket-hub's plain-text body instead.

use std::path::{Path, PathBuf};

use super::dispatch::{common_labels, Flushed};
use crate::rules::template::{quote_meta, AmAlert, Notification, ParseError, Set};
use picket_core::metric::Labels;

/// The defaults (picket-hub's own, same output as Alertmanager 0.25's).
const DEFAULTS: &str = r#"{{ define "__alertmanager" }}Alertmanager{{ end }}
{{- define "__alertmanagerURL" -}}
  {{ .ExternalURL }}/#/alerts?receiver={{ urlquery .Receiver }}
{{- end }}
{{- define "__subject" -}}
  [{{ toUpper .Status }}{{ if eq .Status "firing" }}:{{ len .Alerts.Firing }}{{ end }}]
  {{- " " }}{{ join " " .GroupLabels.Values }}{{ " " }}
  {{- if lt (len .GroupLabels) (len .CommonLabels) -}}
    ({{ join " " (.CommonLabels.Remove .GroupLabels.Names).Values }})
  {{- end }}
{{- end }}
{{- define "__description" }}{{ end }}
{{- define "__text_alert_list" -}}
  {{ range $a := . -}}
    Labels:{{ "\n" }}
    {{- range $a.Labels.SortedPairs }} - {{ .Name }} = {{ .Value }}{{ "\n" }}{{ end -}}
    Annotations:{{ "\n" }}
    {{- range $a.Annotations.SortedPairs }} - {{ .Name }} = {{ .Value }}{{ "\n" }}{{ end -}}
    Source: {{ $a.GeneratorURL }}{{ "\n" }}
  {{- end }}
{{- end }}
{{- define "email.default.subject" }}{{ template "__subject" . }}{{ end }}
"#;

/// Alertmanager's default `html` of an email.
pub(crate) const DEFAULT_HTML: &str = "{{ template \"email.default.html\" . }}";

/// Alertmanager's default `Subject` header of an email.
pub(crate) const DEFAULT_SUBJECT: &str = "{{ template \"email.default.subject\" . }}";

/// The defaults alone (no `templates:` files).
pub(crate) fn defaults() -> Set {
    let mut set = Set::default();
    if let Err(e) = set.parse("default.tmpl", DEFAULTS) {
        // The defaults are fixed text, checked by the tests below.
        log::error!("picket-hub's default notification templates: {e}");
    }
    set
}

/// A template file that does not parse: the pattern's index, the file
/// and the error.
#[derive(Debug)]
pub(crate) struct FileError {
    /// Index in `templates:`.
    pub index: usize,
    /// The file (`None`: the pattern itself is bad).
    pub file: Option<PathBuf>,
    /// What is wrong.
    pub msg: String,
    /// The line in the file, when known.
    pub line: Option<usize>,
}

/// The defaults, then the files of `patterns` (relative to `dir`), as
/// Alertmanager's `FromGlobs`: each pattern's files in name order, each
/// a template named by its base name; a pattern matching nothing is
/// fine.
pub(crate) fn load(dir: Option<&Path>, patterns: &[String]) -> Result<Set, FileError> {
    let mut set = defaults();
    for (index, p) in patterns.iter().enumerate() {
        let full = match dir {
            Some(d) if Path::new(p).is_relative() => d.join(p),
            _ => PathBuf::from(p),
        };
        let files = crate::scrape::file_sd::expand(&full).map_err(|e| FileError {
            index,
            file: None,
            msg: format!("{}: {e}", full.display()),
            line: None,
        })?;
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| FileError {
                index,
                file: Some(f.clone()),
                msg: format!("{}: {e}", f.display()),
                line: None,
            })?;
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            set.parse(&name, &text).map_err(|e: ParseError| FileError {
                index,
                file: Some(f.clone()),
                line: e.line(),
                msg: e.0,
            })?;
        }
    }
    Ok(set)
}

/// Alertmanager's `template.Data` of a flush to `receiver`: the alerts
/// shown (firing ones with their end hidden), the group's labels, the
/// labels and annotations all alerts share.
pub(crate) fn data(
    receiver: &str,
    group_labels: &Labels,
    alerts: &Flushed<'_>,
    now: i64,
    external_url: &str,
) -> Notification {
    let map = |l: &Labels| {
        l.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let firing = alerts.iter().any(|(_, a)| !a.resolved(now));
    Notification {
        receiver: quote_meta(receiver),
        status: if firing { "firing" } else { "resolved" }.into(),
        alerts: alerts
            .iter()
            .map(|(fp, a)| {
                let resolved = a.resolved(now);
                AmAlert {
                    status: if resolved { "resolved" } else { "firing" }.into(),
                    labels: map(&a.labels),
                    annotations: map(&a.annotations),
                    starts_at: a.starts_at,
                    ends_at: resolved.then(|| a.ends_at()),
                    generator_url: a.generator_url.clone(),
                    fingerprint: format!("{fp:016x}"),
                }
            })
            .collect(),
        group_labels: map(group_labels),
        common_labels: map(&common_labels(alerts.iter().map(|(_, a)| &a.labels))),
        common_annotations: map(&common_labels(alerts.iter().map(|(_, a)| &a.annotations))),
        external_url: external_url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::Alert;
    use crate::rules::template::{Lib, Template};

    fn alert(labels: &[(&str, &str)], resolved_at: i64) -> Alert {
        Alert {
            labels: Labels::from_pairs(labels.iter().map(|(k, v)| (k.to_string(), v.to_string()))),
            annotations: Labels::from_pairs([("summary", "down")]),
            starts_at: 1_000,
            resolved_at,
            valid_until: 0,
            generator_url: "http://hub/graph".into(),
        }
    }

    fn render(text: &str, n: &Notification) -> String {
        Template::parse_with("", text, Lib::Alertmanager)
            .expect("parses")
            .render_notification(&defaults(), n, false)
            .expect("renders")
    }

    /// Alertmanager 0.25's default subject and alert list, as its
    /// default.tmpl renders them.
    #[test]
    fn defaults_render_as_alertmanagers() {
        let g = Labels::from_pairs([("alertname", "HostDown")]);
        let a = (
            1,
            alert(
                &[
                    ("alertname", "HostDown"),
                    ("instance", "pi4"),
                    ("job", "node"),
                ],
                0,
            ),
        );
        let b = (
            2,
            alert(
                &[
                    ("alertname", "HostDown"),
                    ("instance", "pi5"),
                    ("job", "node"),
                ],
                5_000,
            ),
        );
        let n = data("ops team", &g, &[&a, &b], 10_000, "http://hub:9090");
        assert_eq!(render(DEFAULT_SUBJECT, &n), "[FIRING:1] HostDown (node)");
        assert_eq!(
            render("{{ template \"__alertmanagerURL\" . }}", &n),
            "http://hub:9090/#/alerts?receiver=ops+team"
        );
        assert_eq!(
            render("{{ template \"__text_alert_list\" .Alerts.Resolved }}", &n),
            "Labels:\n - alertname = HostDown\n - instance = pi5\n - job = node\nAnnotations:\n - summary = down\nSource: http://hub/graph\n"
        );
        let r = data("r", &b.1.labels, &[&b], 10_000, "");
        // Alertmanager's subject keeps the space before a missing "(…)".
        assert_eq!(render(DEFAULT_SUBJECT, &r), "[RESOLVED] HostDown pi5 node ");
        assert_eq!(r.alerts[0].ends_at, Some(5_000));
        assert_eq!(n.alerts[0].ends_at, None);
        assert_eq!(n.alerts[0].fingerprint, "0000000000000001");
        assert_eq!(
            render("{{ template \"__alertmanager\" . }}", &n),
            "Alertmanager"
        );
        let set = defaults();
        assert!(set.has("__subject") && !set.has("email.default.html"));
    }

    #[test]
    fn files_load_in_order_and_errors_name_file_and_line() {
        let dir = std::env::temp_dir().join(format!("picket-tmpl-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("t")).unwrap();
        std::fs::write(dir.join("t/a.tmpl"), "{{ define \"x\" }}a{{ end }}").unwrap();
        std::fs::write(dir.join("t/b.tmpl"), "{{ define \"x\" }}b{{ end }}").unwrap();
        let set = load(Some(&dir), &["t/*.tmpl".into(), "none/*.tmpl".into()]).unwrap();
        let t = Template::parse_with("", "{{ template \"x\" }}", Lib::Alertmanager).unwrap();
        assert_eq!(
            t.render_notification(&set, &Notification::default(), false)
                .unwrap(),
            "b"
        );
        std::fs::write(
            dir.join("t/c.tmpl"),
            "ok\n{{ define \"y\" }}{{ nosuch }}{{ end }}",
        )
        .unwrap();
        let e = load(Some(&dir), &["t/*.tmpl".into()]).unwrap_err();
        assert_eq!(e.index, 0);
        assert_eq!(e.file.as_deref(), Some(dir.join("t/c.tmpl").as_path()));
        assert_eq!(e.line, Some(2));
        assert_eq!(e.msg, "template: c.tmpl:2: function \"nosuch\" not defined");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
