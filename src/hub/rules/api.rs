//! `/api/v1/rules` and `/api/v1/alerts` in Prometheus's shapes
//! (web/api/v1/api.go; the compliance alert_generator spec), so Grafana
//! and amtool-style clients list the hub's rules and alerts.

use super::alert::{Alert, State};
use super::file::Kind;
use super::group::GroupState;
use crate::api::{Answer, Params};
use crate::json;

fn secs(out: &mut String, d: std::time::Duration) {
    json::format_value(out, d.as_secs_f64());
}

fn alert_json(out: &mut String, a: &Alert) {
    out.push_str("{\"labels\":");
    json::labels(out, &a.labels);
    out.push_str(",\"annotations\":");
    json::labels(out, &a.annotations);
    out.push_str(",\"state\":");
    json::string(out, a.state.as_str());
    out.push_str(",\"activeAt\":\"");
    json::rfc3339(out, a.active_at);
    out.push_str("\",\"value\":");
    // strconv.FormatFloat(v, 'e', -1, 64)
    json::string(out, &super::gofmt::e_shortest(a.value));
    out.push('}');
}

fn live(a: &Alert) -> bool {
    a.state != State::Inactive
}

/// `GET /api/v1/rules` (`type=alert|record` filters).
pub(crate) fn rules(groups: &[GroupState], p: &Params) -> Answer {
    let want = p.get("type").unwrap_or("");
    if !matches!(want, "" | "alert" | "record") {
        return (
            400,
            json::error("bad_data", &format!("unsupported type {want:?}")),
        );
    }
    let mut out = String::from("{\"groups\":[");
    for (gi, g) in groups.iter().enumerate() {
        if gi > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        json::string(&mut out, &g.name);
        out.push_str(",\"file\":");
        json::string(&mut out, &g.file.to_string_lossy());
        out.push_str(",\"rules\":[");
        let mut first = true;
        for r in &g.rules {
            let is_alert = matches!(r.rule.kind, Kind::Alert { .. });
            if (want == "alert" && !is_alert) || (want == "record" && is_alert) {
                continue;
            }
            if !first {
                out.push(',');
            }
            first = false;
            out.push('{');
            if let (
                Kind::Alert {
                    hold,
                    keep_firing_for,
                    annotations,
                    ..
                },
                Some(st),
            ) = (&r.rule.kind, &r.alerts)
            {
                out.push_str("\"state\":");
                json::string(&mut out, st.state().as_str());
                out.push_str(",\"name\":");
                json::string(&mut out, r.rule.name());
                out.push_str(",\"query\":");
                json::string(&mut out, &r.rule.expr_text);
                out.push_str(",\"duration\":");
                secs(&mut out, *hold);
                out.push_str(",\"keepFiringFor\":");
                secs(&mut out, *keep_firing_for);
                out.push_str(",\"labels\":");
                json::labels(&mut out, &pairs(&r.rule.labels));
                out.push_str(",\"annotations\":");
                let ann: Vec<(String, String)> = annotations
                    .iter()
                    .map(|(k, v, _)| (k.clone(), v.clone()))
                    .collect();
                json::labels(&mut out, &pairs(&ann));
                out.push_str(",\"alerts\":[");
                for (i, a) in st.active.values().filter(|a| live(a)).enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    alert_json(&mut out, a);
                }
                out.push(']');
            } else {
                out.push_str("\"name\":");
                json::string(&mut out, r.rule.name());
                out.push_str(",\"query\":");
                json::string(&mut out, &r.rule.expr_text);
                out.push_str(",\"labels\":");
                json::labels(&mut out, &pairs(&r.rule.labels));
            }
            out.push_str(",\"health\":");
            json::string(&mut out, r.health.as_str());
            if !r.last_error.is_empty() {
                out.push_str(",\"lastError\":");
                json::string(&mut out, &r.last_error);
            }
            out.push_str(",\"evaluationTime\":");
            secs(&mut out, r.eval_time);
            out.push_str(",\"lastEvaluation\":\"");
            json::rfc3339(&mut out, r.last_eval_ms);
            out.push_str("\",\"type\":");
            json::string(&mut out, if is_alert { "alerting" } else { "recording" });
            out.push('}');
        }
        out.push_str("],\"interval\":");
        secs(&mut out, g.interval);
        out.push_str(",\"limit\":");
        out.push_str(&g.limit.to_string());
        out.push_str(",\"evaluationTime\":");
        secs(&mut out, g.eval_time);
        out.push_str(",\"lastEvaluation\":\"");
        json::rfc3339(&mut out, g.last_eval_ms);
        out.push_str("\"}");
    }
    out.push_str("]}");
    (200, json::success(&out))
}

/// `GET /api/v1/alerts`: every pending and firing alert.
pub(crate) fn alerts(groups: &[GroupState]) -> Answer {
    let mut out = String::from("{\"alerts\":[");
    let mut first = true;
    for a in groups
        .iter()
        .flat_map(|g| g.rules.iter())
        .filter_map(|r| r.alerts.as_ref())
        .flat_map(|s| s.active.values())
        .filter(|a| live(a))
    {
        if !first {
            out.push(',');
        }
        first = false;
        alert_json(&mut out, a);
    }
    out.push_str("]}");
    (200, json::success(&out))
}

fn pairs(v: &[(String, String)]) -> picket_core::metric::Labels {
    picket_core::metric::Labels::from_pairs(v.iter().map(|(k, v)| (k.clone(), v.clone())))
}
