//! The Prometheus HTTP API's read side that the label browser, promtool and
//! the tests need: `/api/v1/series`, `/api/v1/labels`,
//! `/api/v1/label/<name>/values`, `/api/v1/status/buildinfo`, and a raw
//! sample export (`/api/v1/export`, picket's own) that returns every stored
//! sample of the matching series as a matrix.
//!
//! Parameters as Prometheus reads them: repeated `match[]`, `start`/`end`
//! as float seconds or RFC 3339, from the query string or a form body.
//! Errors use Prometheus's envelope and codes (`bad_data` → 400).

use super::json;
use super::scrape::TargetStatus;
use super::store::{matcher, Matcher, Store};
use picket_core::metric::Labels;

/// The version reported to Grafana: a Prometheus-line semver (Grafana maps
/// anything else to "unknown"), with picket's own in `revision`.
pub(crate) const PROMETHEUS_VERSION: &str = "2.53.0";

/// An API answer: status and JSON body.
pub(crate) type Answer = (u16, String);

fn bad(msg: impl AsRef<str>) -> Answer {
    (400, json::error("bad_data", msg.as_ref()))
}

/// The parameters of a request (query string and form body together).
#[derive(Debug, Clone, Default)]
pub(crate) struct Params(pub Vec<(String, String)>);

impl Params {
    /// The first value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// `start`/`end`-style time in ms; `default` when absent.
    pub(crate) fn time(&self, name: &str, default: i64) -> Result<i64, Answer> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(v) => parse_time(v).ok_or_else(|| {
                bad(format!(
                    "invalid parameter \"{name}\": cannot parse {v:?} to a valid timestamp"
                ))
            }),
        }
    }

    fn selectors(&self, required: bool) -> Result<Vec<Vec<Matcher>>, Answer> {
        let raw = self.all("match[]");
        if required && raw.is_empty() {
            return Err(bad("no match[] parameter provided"));
        }
        raw.into_iter()
            .map(|s| {
                matcher::parse_selector(s)
                    .map_err(|e| bad(format!("invalid parameter \"match[]\": {e}")))
            })
            .collect()
    }

    fn range(&self) -> Result<(i64, i64), Answer> {
        let start = self.time("start", i64::MIN)?;
        let end = self.time("end", i64::MAX)?;
        if end < start {
            return Err(bad("end timestamp must not be before start time"));
        }
        Ok((start, end))
    }
}

/// Parses a Prometheus API time: float seconds (`1700000000.123`) or RFC
/// 3339 (`2026-11-21T10:00:00Z`, `...+01:00`, fractions allowed); ms.
pub fn parse_time(s: &str) -> Option<i64> {
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() {
            return None;
        }
        // Prometheus's min/max times are sent as huge numbers: clamp.
        let ms = (f * 1000.0).round();
        return Some(ms.clamp(i64::MIN as f64, i64::MAX as f64) as i64);
    }
    let b = s.as_bytes();
    if b.len() < 20
        || b.get(4) != Some(&b'-')
        || b.get(10).map(u8::to_ascii_uppercase) != Some(b'T')
    {
        return None;
    }
    let num = |a: usize, n: usize| -> Option<i64> { s.get(a..a + n)?.parse().ok() };
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (h, mi, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        let digits = s[i + 1..].bytes().take_while(u8::is_ascii_digit).count();
        let frac = &s[i + 1..i + 1 + digits];
        let padded = format!("{:0<3}", &frac[..frac.len().min(3)]);
        ms = padded.parse().ok()?;
        i += 1 + digits;
    }
    let offset_min = match s.get(i..)? {
        "Z" | "z" => 0,
        tz if tz.len() == 6 => {
            let sign = match &tz[..1] {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            sign * (tz[1..3].parse::<i64>().ok()? * 60 + tz[4..6].parse::<i64>().ok()?)
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let (yy, mm) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60) * 1000) + ms)
}

/// `GET|POST /api/v1/series`.
pub(crate) fn series(store: &Store, p: &Params) -> Answer {
    let (sels, (start, end)) = match (p.selectors(true), p.range()) {
        (Ok(s), Ok(r)) => (s, r),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let mut seen = std::collections::BTreeMap::new();
    for sel in &sels {
        for l in store.series(sel, start, end) {
            seen.insert(super::store::key(&l), l);
        }
    }
    let mut out = String::from("[");
    for (i, l) in seen.values().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json::labels(&mut out, l);
    }
    out.push(']');
    (200, json::success(&out))
}

/// `GET|POST /api/v1/labels`.
pub(crate) fn labels(store: &Store, p: &Params) -> Answer {
    let (sels, (start, end)) = match (p.selectors(false), p.range()) {
        (Ok(s), Ok(r)) => (s, r),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let names = store.label_names(&sels, start, end);
    let mut out = String::new();
    json::strings(&mut out, names.iter().map(String::as_str));
    (200, json::success(&out))
}

/// `GET /api/v1/label/<name>/values`.
pub(crate) fn label_values(store: &Store, name: &str, p: &Params) -> Answer {
    if !picket_core::metric::valid_label_name(name) {
        return bad(format!("invalid label name: {name:?}"));
    }
    let (sels, (start, end)) = match (p.selectors(false), p.range()) {
        (Ok(s), Ok(r)) => (s, r),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let values = store.label_values(name, &sels, start, end);
    let mut out = String::new();
    json::strings(&mut out, values.iter().map(String::as_str));
    (200, json::success(&out))
}

/// `GET /api/v1/export`: every stored sample of the matching series in
/// `[start, end]`, as a `matrix` result (tests, backups).
pub(crate) fn export(store: &Store, p: &Params) -> Answer {
    let (sels, (start, end)) = match (p.selectors(true), p.range()) {
        (Ok(s), Ok(r)) => (s, r),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let mut all = std::collections::BTreeMap::new();
    for sel in &sels {
        match store.select(sel, start, end) {
            Ok(found) => {
                for (l, s) in found {
                    all.insert(super::store::key(&l), (l, s));
                }
            }
            Err(e) => return (500, json::error("internal", &e.0)),
        }
    }
    let mut out = String::from("{\"resultType\":\"matrix\",\"result\":[");
    for (i, (l, samples)) in all.values().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"metric\":");
        json::labels(&mut out, l);
        out.push_str(",\"values\":[");
        for (j, &(t, v)) in samples.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push('[');
            json::timestamp(&mut out, t);
            out.push(',');
            json::value(&mut out, v);
            out.push(']');
        }
        out.push_str("]}");
    }
    out.push_str("]}");
    (200, json::success(&out))
}

/// `GET /api/v1/status/buildinfo`: Prometheus-shaped, no `features` map
/// (Grafana would take the hub for Mimir).
pub(crate) fn buildinfo() -> Answer {
    let data = format!(
        "{{\"version\":\"{PROMETHEUS_VERSION}\",\"revision\":\"picket-hub {}\",\"branch\":\"picket\",\"buildUser\":\"\",\"buildDate\":\"\",\"goVersion\":\"\"}}",
        env!("CARGO_PKG_VERSION")
    );
    (200, json::success(&data))
}

/// `GET /api/v1/targets`: the scrape targets as Prometheus lists them
/// (`state=active|dropped|any`, `scrapePool=<job>`), then the boards that
/// push (pool = their `job`, no scrape URL, `lastScrape` = last push), each
/// with a `transport` field (`scrape`, `remote_write`, `mqtt`) Prometheus
/// does not have; then the targets relabelling dropped, with their labels
/// before relabelling.
pub(crate) fn targets(all: &[TargetStatus], dropped: &[(String, Labels)], p: &Params) -> Answer {
    let state = p.get("state").unwrap_or("any").to_ascii_lowercase();
    let pool = p.get("scrapePool").filter(|s| !s.is_empty());
    let mut out = String::from("{\"activeTargets\":[");
    if state == "active" || state == "any" || state.is_empty() {
        let shown = all
            .iter()
            .filter(|t| pool.is_none_or(|p| p == t.scrape_pool));
        for (i, t) in shown.enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"discoveredLabels\":");
            json::labels(&mut out, &t.discovered_labels);
            out.push_str(",\"labels\":");
            json::labels(&mut out, &t.labels);
            for (k, v) in [
                ("scrapePool", &t.scrape_pool),
                ("scrapeUrl", &t.scrape_url),
                ("globalUrl", &t.global_url),
                ("lastError", &t.last_error),
            ] {
                out.push_str(&format!(",\"{k}\":"));
                json::string(&mut out, v);
            }
            out.push_str(",\"lastScrape\":\"");
            json::rfc3339(&mut out, t.last_scrape_ms);
            out.push_str(&format!(
                "\",\"lastScrapeDuration\":{},\"health\":\"{}\",\"scrapeInterval\":\"{}\",\"scrapeTimeout\":\"{}\",\"transport\":\"{}\"}}",
                t.last_scrape_duration, t.health, t.scrape_interval, t.scrape_timeout, t.transport
            ));
        }
    }
    out.push_str("],\"droppedTargets\":[");
    if state == "dropped" || state == "any" || state.is_empty() {
        let shown = dropped
            .iter()
            .filter(|(job, _)| pool.is_none_or(|p| p == job));
        for (i, (_, l)) in shown.enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"discoveredLabels\":");
            json::labels(&mut out, l);
            out.push('}');
        }
    }
    out.push_str("]}");
    (200, json::success(&out))
}

/// `GET /api/v1/alertmanagers`: the alert URLs of the Alertmanagers the
/// hub sends to, and of those `relabel_configs` dropped.
pub(crate) fn alertmanagers((active, dropped): (Vec<String>, Vec<String>)) -> Answer {
    let list = |urls: &[String]| {
        let mut out = String::from("[");
        for (i, u) in urls.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"url\":");
            json::string(&mut out, u);
            out.push('}');
        }
        out.push(']');
        out
    };
    let data = format!(
        "{{\"activeAlertmanagers\":{},\"droppedAlertmanagers\":{}}}",
        list(&active),
        list(&dropped)
    );
    (200, json::success(&data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_prometheus_reads_them() {
        assert_eq!(parse_time("1700000000.123"), Some(1_700_000_000_123));
        assert_eq!(parse_time("1700000000"), Some(1_700_000_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Some(1_700_000_000_000));
        assert_eq!(
            parse_time("2023-11-14T23:13:20.5+01:00"),
            Some(1_700_000_000_500)
        );
        assert_eq!(parse_time("soon"), None);
        assert_eq!(parse_time("NaN"), None);
    }
}
