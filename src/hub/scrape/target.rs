//! Targets and the series they produce, as pure functions: building a
//! target's labels and URL from a discovered address (with
//! `relabel_configs`), attaching target labels to scraped samples (then
//! `metric_relabel_configs`), the scrape limits, and the staleness
//! bookkeeping between two scrapes. Kept free of threads and HTTP so each
//! rule is unit-tested.
//!
//! Target labels follow Prometheus 2.42's `PopulateLabels` step for step
//! (see [`build`]); labels starting with `__` stay on the target (they
//! shape its URL, interval and timeout) but never reach its series, and
//! empty values count as absent.

use std::collections::HashSet;
use std::time::Duration;

use super::config::{format_duration, Limits, ScrapeConfig};
use super::{Row, STALE_NAN_BITS};
use picket_core::metric::{Labels, Sample};
use picket_core::relabel::Relabel;

/// A target of a scrape pool.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Target {
    /// Labels before relabelling (shown by `/api/v1/targets`).
    pub(crate) discovered: Labels,
    /// `job`, `instance` and the other labels without `__`: added to
    /// every series.
    pub(crate) labels: Labels,
    /// Identity in its pool (Prometheus hashes labels and URL): `labels`
    /// plus the `__` labels that shape the scrape.
    pub(crate) key: Labels,
    /// What is scraped.
    pub(crate) url: String,
    /// This target's interval and timeout (`__scrape_interval__`,
    /// `__scrape_timeout__` after relabelling).
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
}

/// What discovery and relabelling make of an address.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Built {
    /// Scraped.
    Active(Target),
    /// Dropped by relabelling: its labels before relabelling.
    Dropped(Labels),
}

/// Builds the target for `address` in a group with `group_labels`, as
/// Prometheus 2.42's `PopulateLabels`: the group's labels and the
/// address; `job`, `__scrape_interval__`, `__scrape_timeout__`,
/// `__metrics_path__` and `__scheme__` where not set; `__param_<name>`
/// from `params`; `relabel_configs`; then the default port (2.x), the
/// interval and timeout checks, `__meta_*` removed and `instance`
/// defaulted to the address.
pub(crate) fn build(
    cfg: &ScrapeConfig,
    group_labels: &Labels,
    address: &str,
) -> Result<Built, String> {
    let mut l = Labels::new();
    for (n, v) in group_labels.iter() {
        if !v.is_empty() {
            l.set(n.to_string(), v);
        }
    }
    l.set("__address__", address);
    let interval = format_duration(cfg.scrape_interval);
    let timeout = format_duration(cfg.scrape_timeout);
    for (n, v) in [
        ("job", cfg.job_name.as_str()),
        ("__scrape_interval__", interval.as_str()),
        ("__scrape_timeout__", timeout.as_str()),
        ("__metrics_path__", cfg.metrics_path.as_str()),
        ("__scheme__", cfg.scheme.as_str()),
    ] {
        if l.get(n).is_none() {
            l.set(n, v);
        }
    }
    for (k, vs) in &cfg.params {
        if let Some(v) = vs.first() {
            l.set(format!("__param_{k}"), v.clone());
        }
    }
    let discovered = l.clone();
    let Some(mut l) = picket_core::relabel::process(l, &cfg.relabel) else {
        return Ok(Built::Dropped(discovered));
    };
    let mut addr = l.get("__address__").unwrap_or("").to_string();
    if addr.is_empty() {
        return Err("no address".into());
    }
    let scheme = l.get("__scheme__").unwrap_or("").to_string();
    if !split_host_port(&addr) && split_host_port(&format!("{addr}:1234")) {
        match scheme.as_str() {
            "http" | "" => addr.push_str(":80"),
            "https" => addr.push_str(":443"),
            _ => return Err(format!("invalid scheme: {:?}", cfg.scheme)),
        }
        l.set("__address__", addr.clone());
    }
    if addr.contains('/') {
        return Err(format!("{addr:?} is not a valid hostname"));
    }
    let dur = |name: &str, what: &str| -> Result<Duration, String> {
        let v = l.get(name).unwrap_or("");
        match super::config::parse_duration(v) {
            Ok(d) if d.is_zero() => Err(format!("scrape {what} cannot be 0")),
            Ok(d) => Ok(d),
            Err(e) => Err(format!("error parsing scrape {what}: {e}")),
        }
    };
    let interval = dur("__scrape_interval__", "interval")?;
    let timeout = dur("__scrape_timeout__", "timeout")?;
    if timeout > interval {
        return Err(format!(
            "scrape timeout cannot be greater than scrape interval ({:?} > {:?})",
            l.get("__scrape_timeout__").unwrap_or(""),
            l.get("__scrape_interval__").unwrap_or("")
        ));
    }
    let meta: Vec<String> = l
        .iter()
        .filter(|(n, _)| n.starts_with("__meta_"))
        .map(|(n, _)| n.to_string())
        .collect();
    for n in meta {
        l.remove(&n);
    }
    if l.get("instance").is_none_or(str::is_empty) {
        l.set("instance", addr.clone());
    }
    // The scheme is checked when the target is scraped in Prometheus
    // (an unsupported protocol scheme); the hub knows only these two.
    if scheme != "http" && scheme != "https" {
        return Err(format!("invalid scheme: {scheme:?}"));
    }
    let mut path = l.get("__metrics_path__").unwrap_or("").to_string();
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    let url = format!("{scheme}://{addr}{path}{}", query(cfg, &l));
    let mut labels = Labels::new();
    let mut key = Labels::new();
    for (n, v) in l.iter() {
        if v.is_empty() {
            continue;
        }
        key.set(n.to_string(), v);
        if !n.starts_with("__") {
            labels.set(n.to_string(), v);
        }
    }
    Ok(Built::Active(Target {
        discovered,
        labels,
        key,
        url,
        interval,
        timeout,
    }))
}

/// The URL's query: the job's `params`, each `__param_<name>` label
/// replacing its parameter's first value (Prometheus's `Target.URL`),
/// sorted by name and escaped as Go's `url.Values.Encode`.
fn query(cfg: &ScrapeConfig, l: &Labels) -> String {
    let mut params = cfg.params.clone();
    for (n, v) in l.iter() {
        if let Some(k) = n.strip_prefix("__param_") {
            let vs = params.entry(k.to_string()).or_default();
            match vs.first_mut() {
                Some(first) => *first = v.to_string(),
                None => vs.push(v.to_string()),
            }
        }
    }
    let mut out = String::new();
    for (k, vs) in &params {
        for v in vs {
            out.push(if out.is_empty() { '?' } else { '&' });
            out.push_str(&query_escape(k));
            out.push('=');
            out.push_str(&query_escape(v));
        }
    }
    out
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// True if `s` splits as Go's `net.SplitHostPort` would (`host:port`,
/// `[v6]:port`; the port may be any text).
fn split_host_port(s: &str) -> bool {
    let Some(i) = s.rfind(':') else {
        return false;
    };
    if let Some(rest) = s.strip_prefix('[') {
        // `[host]:port`, the `]` right before the last colon (`end` is
        // an index into `rest`, one byte after `s`'s).
        match rest.find(']') {
            Some(end) => end + 2 == i && !rest[..end].contains('['),
            None => false,
        }
    } else {
        let host = &s[..i];
        !host.contains([':', '[', ']']) && !s[i + 1..].contains(['[', ']'])
    }
}

/// The labels of a scraped series: the sample's labels (empty values
/// dropped) and `__name__`, merged with the target's. With `honor_labels`
/// the scraped values win and target labels fill in only what is missing;
/// otherwise the target's value is set and a clashing scraped value is kept
/// as `exported_<name>` (`exported_exported_<name>` if that is taken too,
/// as Prometheus resolves it).
pub(crate) fn series_labels(sample: Sample, target: &Labels, honor_labels: bool) -> Labels {
    let name = sample.series_name().into_owned();
    let mut l = sample.labels;
    if honor_labels {
        // A scraped label keeps the target's out even when empty
        // (`instance=""`), and is then dropped as every empty label is:
        // the series has no `instance` at all, as in Prometheus.
        for (n, v) in target.iter() {
            if l.get(n).is_none() {
                l.set(n.to_string(), v);
            }
        }
        l.retain(|_, v| !v.is_empty());
        l.set("__name__", name);
        return l;
    }
    l.retain(|_, v| !v.is_empty());
    l.set("__name__", name);
    let mut clashes = Vec::new();
    for (n, v) in target.iter() {
        // Prometheus exports a scraped value even when it equals the target's.
        if let Some(theirs) = l.get(n) {
            clashes.push((n.to_string(), theirs.to_string()));
        }
        l.set(n.to_string(), v);
    }
    clashes.sort_by_key(|(n, _)| n.len());
    for (n, v) in clashes {
        let mut name = n;
        loop {
            name = format!("exported_{name}");
            if l.get(&name).is_none() {
                l.set(name, v);
                break;
            }
        }
    }
    l
}

/// The series of `prev` missing from `cur`, sorted: each gets a stale
/// marker.
pub(crate) fn gone(prev: &HashSet<Labels>, cur: &HashSet<Labels>) -> Vec<Labels> {
    let mut v: Vec<Labels> = prev.difference(cur).cloned().collect();
    v.sort();
    v
}

/// The stale marker value (`STALE_NAN_BITS`).
pub(crate) fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// The rows of one successful scrape, and what staleness needs of it.
#[derive(Debug, Default)]
pub(crate) struct Scraped {
    /// Sample rows, then stale markers for the series that went away.
    pub(crate) rows: Vec<Row>,
    /// Series written at the scrape's time (tracked for staleness);
    /// series with their own timestamps are not (Prometheus's default).
    pub(crate) series: HashSet<Labels>,
    /// Samples in the body.
    pub(crate) scraped: usize,
    /// Samples written (duplicates of a series in one body are dropped).
    pub(crate) written: usize,
    /// Tracked series not in the previous scrape.
    pub(crate) added: usize,
}

/// Turns a parsed body into rows at `ts` (ms), with stale markers for the
/// series of `prev` that are gone.
pub(crate) fn scraped_rows(
    samples: Vec<Sample>,
    target: &Labels,
    honor_labels: bool,
    honor_timestamps: bool,
    metric_relabel: &[Relabel],
    ts: i64,
    prev: &HashSet<Labels>,
) -> Scraped {
    let mut out = Scraped {
        scraped: samples.len(),
        ..Scraped::default()
    };
    let mut seen = HashSet::with_capacity(samples.len());
    let mut untracked = Vec::new();
    out.rows.reserve(samples.len());
    for s in samples {
        let (value, own_ts) = (s.value, s.timestamp_ms.filter(|_| honor_timestamps));
        let l = series_labels(s, target, honor_labels);
        let Some(l) = picket_core::relabel::process(l, metric_relabel) else {
            continue;
        };
        if !seen.insert(l.clone()) {
            continue;
        }
        if own_ts.is_some() {
            untracked.push(l.clone());
        }
        out.rows.push((l, own_ts.unwrap_or(ts), value));
    }
    out.written = out.rows.len();
    if out.written < out.scraped {
        log::debug!("{} duplicate samples dropped", out.scraped - out.written);
    }
    for l in &untracked {
        seen.remove(l);
    }
    out.added = seen.difference(prev).count();
    for l in gone(prev, &seen) {
        out.rows.push((l, ts, stale_nan()));
    }
    out.series = seen;
    out
}

/// Checks a scrape's written series against the job's limits, with
/// Prometheus's error texts (`verifyLabelLimits`, `errSampleLimit`).
pub(crate) fn check_limits(out: &Scraped, limits: &Limits) -> Result<(), String> {
    if limits.samples > 0 && out.written > limits.samples {
        return Err("sample limit exceeded".into());
    }
    if limits.labels == 0 && limits.name_length == 0 && limits.value_length == 0 {
        return Ok(());
    }
    let short = |s: &str| s.chars().take(50).collect::<String>();
    for (l, _, _) in &out.rows[..out.written] {
        let metric = short(l.get("__name__").unwrap_or(""));
        if limits.labels > 0 && l.len() > limits.labels {
            return Err(format!(
                "label_limit exceeded (metric: {metric}, number of labels: {}, limit: {})",
                l.len(),
                limits.labels
            ));
        }
        for (n, v) in l.iter() {
            if limits.name_length > 0 && n.len() > limits.name_length {
                return Err(format!(
                    "label_name_length_limit exceeded (metric: {metric}, label name: {}, length: {}, limit: {})",
                    short(n),
                    n.len(),
                    limits.name_length
                ));
            }
            if limits.value_length > 0 && v.len() > limits.value_length {
                return Err(format!(
                    "label_value_length_limit exceeded (metric: {metric}, label name: {}, value: {:?}, length: {}, limit: {})",
                    short(n),
                    short(v),
                    v.len(),
                    limits.value_length
                ));
            }
        }
    }
    Ok(())
}

/// The names of the series every scrape writes about itself.
pub(crate) const REPORT_NAMES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// The per-scrape series (`up`, `scrape_duration_seconds`, …) with their
/// values, in [`REPORT_NAMES`] order, at `ts`.
pub(crate) fn report_rows(target: &Labels, ts: i64, values: [f64; 5]) -> Vec<Row> {
    REPORT_NAMES
        .iter()
        .zip(values)
        .map(|(name, v)| {
            let mut l = target.clone();
            l.set("__name__", *name);
            (l, ts, v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::config::{ScrapeConfigToml, DEFAULT_SCRAPE_INTERVAL};
    use std::time::Duration;

    fn cfg() -> ScrapeConfig {
        ScrapeConfigToml {
            job_name: "node".into(),
            ..ScrapeConfigToml::default()
        }
        .resolve(DEFAULT_SCRAPE_INTERVAL, Duration::from_secs(10))
        .expect("resolves")
    }

    fn active(b: Result<Built, String>) -> Target {
        match b.expect("builds") {
            Built::Active(t) => t,
            Built::Dropped(l) => panic!("dropped: {l:?}"),
        }
    }

    fn pairs(l: &Labels) -> Vec<String> {
        l.iter().map(|(n, v)| format!("{n}={v}")).collect()
    }

    fn sample(body: &str) -> Sample {
        picket_core::decode::text::parse(body)
            .expect("parses")
            .remove(0)
    }

    #[test]
    fn target_labels_and_url() {
        let g = Labels::from_pairs([("env", "lab"), ("__meta_filepath", "/t.yml"), ("x", "")]);
        let t = active(build(&cfg(), &g, "h1:9100"));
        assert_eq!(
            pairs(&t.labels),
            ["env=lab", "instance=h1:9100", "job=node"]
        );
        assert_eq!(t.url, "http://h1:9100/metrics");
        assert_eq!(t.discovered.get("__meta_filepath"), Some("/t.yml"));
        assert_eq!(t.discovered.get("__scrape_interval__"), Some("15s"));
        assert!(t.key.get("__meta_filepath").is_none());
        assert_eq!(t.key.get("__address__"), Some("h1:9100"));

        // Group labels override the job's, and a port is added (2.x).
        let g = Labels::from_pairs([
            ("__scheme__", "https"),
            ("__metrics_path__", "/m"),
            ("instance", "box"),
            ("job", "other"),
        ]);
        let t = active(build(&cfg(), &g, "h2"));
        assert_eq!(t.url, "https://h2:443/m");
        assert_eq!(pairs(&t.labels), ["instance=box", "job=other"]);
        let t = active(build(&cfg(), &Labels::new(), "[::1]"));
        assert_eq!(t.url, "http://[::1]:80/metrics");
        assert!(build(&cfg(), &Labels::new(), "h/x:1").is_err());

        // params: the first value is `__param_<name>` (over a group's
        // label, as 2.42 sets it), which relabelling may replace in the
        // URL; the other values stay.
        let mut c = cfg();
        c.params
            .insert("module".into(), vec!["http 2xx".into(), "b".into()]);
        c.params.insert("a".into(), vec!["é&".into()]);
        let t = active(build(&c, &Labels::new(), "h:1"));
        assert_eq!(
            t.url,
            "http://h:1/metrics?a=%C3%A9%26&module=http+2xx&module=b"
        );
        assert_eq!(t.discovered.get("__param_module"), Some("http 2xx"));
        let g = Labels::from_pairs([("__param_module", "icmp"), ("__param_z", "1")]);
        let t = active(build(&c, &g, "h:1"));
        assert_eq!(
            t.url,
            "http://h:1/metrics?a=%C3%A9%26&module=http+2xx&module=b&z=1"
        );
        let g = Labels::from_pairs([("__scheme__", "ftp")]);
        assert!(build(&cfg(), &g, "h:1").is_err());
    }

    #[test]
    fn merge_without_honor_labels_exports_clashes() {
        let target = Labels::from_pairs([("instance", "h:1"), ("job", "node")]);
        let s = sample("a{job=\"x\",exported_job=\"y\",instance=\"\",k=\"v\"} 1\n");
        assert_eq!(
            pairs(&series_labels(s, &target, false)),
            [
                "__name__=a",
                "exported_exported_job=x",
                "exported_job=y",
                "instance=h:1",
                "job=node",
                "k=v"
            ]
        );
        let s = sample("h_bucket{le=\"0.5\"} 1\n");
        assert_eq!(
            pairs(&series_labels(s, &target, false)),
            ["__name__=h_bucket", "instance=h:1", "job=node", "le=0.5"]
        );
    }

    #[test]
    fn merge_with_honor_labels_keeps_scraped_values() {
        let target = Labels::from_pairs([("instance", "h:1"), ("job", "node")]);
        let s = sample("a{job=\"x\",k=\"v\"} 1\n");
        assert_eq!(
            pairs(&series_labels(s, &target, true)),
            ["__name__=a", "instance=h:1", "job=x", "k=v"]
        );
        // An empty scraped `instance` keeps the target's out, then goes.
        let s = sample("a{instance=\"\",k=\"v\"} 1\n");
        assert_eq!(
            pairs(&series_labels(s, &target, true)),
            ["__name__=a", "job=node", "k=v"]
        );
    }

    #[test]
    fn staleness_between_scrapes() {
        let target = Labels::from_pairs([("job", "j")]);
        let body1 = picket_core::decode::text::parse("a 1\nb 2\nc 3 1000\n").expect("parses");
        let s1 = scraped_rows(body1, &target, false, true, &[], 5000, &HashSet::new());
        assert_eq!((s1.scraped, s1.written, s1.added), (3, 3, 2));
        assert_eq!(s1.series.len(), 2, "c has its own timestamp: not tracked");
        assert_eq!(s1.rows[2].1, 1000);

        let body2 = picket_core::decode::text::parse("a 1\na 9\n").expect("parses");
        let s2 = scraped_rows(body2, &target, false, true, &[], 6000, &s1.series);
        assert_eq!((s2.scraped, s2.written, s2.added), (2, 1, 0));
        let stale: Vec<_> = s2
            .rows
            .iter()
            .filter(|r| r.2.to_bits() == STALE_NAN_BITS)
            .map(|r| (r.0.get("__name__").unwrap_or(""), r.1))
            .collect();
        assert_eq!(stale, [("b", 6000)]);

        let prev: HashSet<Labels> = ["x", "y"]
            .iter()
            .map(|n| Labels::from_pairs([("__name__", *n)]))
            .collect();
        let cur: HashSet<Labels> = [Labels::from_pairs([("__name__", "y")])].into();
        assert_eq!(gone(&prev, &cur), [Labels::from_pairs([("__name__", "x")])]);
        assert!(gone(&cur, &prev).is_empty());
        assert!(stale_nan().is_nan());
    }

    #[test]
    fn limits_fail_a_scrape_with_prometheus_texts() {
        let target = Labels::from_pairs([("instance", "h:1"), ("job", "j")]);
        let body = picket_core::decode::text::parse("a{k=\"long-value\"} 1\nb 2\n").unwrap();
        let out = scraped_rows(body, &target, false, true, &[], 5, &HashSet::new());
        let ok = Limits::default();
        assert_eq!(check_limits(&out, &ok), Ok(()));
        let l = |f: fn(&mut Limits)| {
            let mut x = Limits::default();
            f(&mut x);
            check_limits(&out, &x).unwrap_err()
        };
        assert_eq!(l(|x| x.samples = 1), "sample limit exceeded");
        assert_eq!(
            l(|x| x.labels = 3),
            "label_limit exceeded (metric: a, number of labels: 4, limit: 3)"
        );
        assert_eq!(
            l(|x| x.name_length = 7),
            "label_name_length_limit exceeded (metric: a, label name: __name__, length: 8, limit: 7)"
        );
        assert_eq!(
            l(|x| x.value_length = 5),
            "label_value_length_limit exceeded (metric: a, label name: k, value: \"long-value\", length: 10, limit: 5)"
        );
        let x = Limits {
            samples: 2,
            labels: 4,
            ..Limits::default()
        };
        assert_eq!(check_limits(&out, &x), Ok(()));
    }

    #[test]
    fn report_series_carry_target_labels() {
        let target = Labels::from_pairs([("instance", "h:1"), ("job", "j")]);
        let r = report_rows(&target, 7, [1.0, 0.5, 3.0, 3.0, 1.0]);
        assert_eq!(r.len(), 5);
        assert_eq!(pairs(&r[0].0), ["__name__=up", "instance=h:1", "job=j"]);
        assert_eq!((r[1].1, r[1].2), (7, 0.5));
    }
}
