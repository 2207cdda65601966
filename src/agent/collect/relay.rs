//! Scrape relay: other /metrics endpoints on the board (HAProxy's built-in
//! exporter on :8405, an nginx exporter, an app), served through picket's
//! /metrics and push path, so anything on the board rides the buffer
//! through NAT.
//!
//! Each endpoint is fetched under its deadline and parsed with the one text
//! parser ([`picket_core::decode::text`]). Its samples get `job` and `instance`
//! labels the way Prometheus attaches target labels: with `honor_labels =
//! false` (the default) an endpoint's own `job`/`instance` are kept as
//! `exported_job`/`exported_instance`; with `honor_labels = true` they win
//! and ours are only added where missing. Samples keep their own
//! timestamps, if they carry any.
//!
//! Per endpoint, picket adds `picket_relay_up{job,instance}` (1 when the
//! fetch and parse succeeded) and `picket_relay_scrape_duration_seconds`.
//! A failed endpoint relays nothing that scrape (a half-parsed body is
//! dropped, as Prometheus drops a failed scrape) and the others carry on.

use std::borrow::Cow;
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::deadline::Deadline;
use super::{CollectError, Ctx, Out};
use picket_core::config::{ConfigError, Locator};
use picket_core::metric::{Labels, MetricType, Sample};
use picket_core::web::client::{
    AuthorizationToml, BasicAuthToml, ClientAuth, ClientBlocks, TlsConfigToml,
};
use std::path::PathBuf;

/// Largest body relayed (Prometheus's default body_size_limit is unlimited;
/// a board's exporters are small, and this bounds picket's memory).
const MAX_BODY: u64 = 16 << 20;

/// Default per-scrape timeout.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// One `[[relay]]` table of the config file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Section {
    /// The endpoint, `http://127.0.0.1:8405/metrics`.
    pub url: Option<String>,
    /// The `job` label (default "relay").
    pub job: Option<String>,
    /// The `instance` label (default: the URL's host:port).
    pub instance: Option<String>,
    /// Keep the endpoint's own `job`/`instance` labels (Prometheus's
    /// honor_labels); otherwise they are renamed `exported_job`/`exported_instance`.
    pub honor_labels: Option<bool>,
    /// Per-scrape timeout (default 5s).
    pub timeout: Option<String>,
    /// Prometheus's client blocks, for an endpoint behind a web config.
    pub basic_auth: Option<BasicAuthToml>,
    /// `Authorization: <type> <credentials>`.
    pub authorization: Option<AuthorizationToml>,
    /// A bearer token from a file, read per fetch.
    pub bearer_token_file: Option<PathBuf>,
    /// TLS for an `https://` endpoint.
    pub tls_config: Option<TlsConfigToml>,
}

/// One endpoint to relay.
#[derive(Debug)]
pub struct Target {
    /// The endpoint.
    pub url: String,
    /// `job` label.
    pub job: String,
    /// `instance` label.
    pub instance: String,
    /// Keep the endpoint's `job`/`instance`.
    pub honor_labels: bool,
    /// Per-scrape deadline.
    pub timeout: Duration,
    /// A call still running from an earlier scrape.
    pub deadline: Deadline,
    /// The HTTP client (connection pool and settings), built once.
    agent: ureq::Agent,
    /// Credentials, if any.
    auth: Option<ClientAuth>,
}

/// The targets of the file's `[[relay]]` tables.
pub(crate) fn resolve(
    sections: &[Section],
    loc: &Locator<'_>,
) -> Result<Vec<Arc<Target>>, ConfigError> {
    let mut out = Vec::new();
    for (i, s) in sections.iter().enumerate() {
        let key = |k: &str| format!("relay[{i}].{k}");
        let url = s
            .url
            .clone()
            .ok_or_else(|| loc.key(&key("url"), "missing".to_string()))?;
        let hostport = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .and_then(|r| r.split('/').next())
            .filter(|h| !h.is_empty())
            .ok_or_else(|| {
                loc.key(
                    &key("url"),
                    format!("{url:?}: expected http(s)://host:port/path"),
                )
            })?
            .to_string();
        let client = ClientBlocks {
            basic_auth: s.basic_auth.clone(),
            authorization: s.authorization.clone(),
            bearer_token_file: s.bearer_token_file.clone(),
            tls_config: s.tls_config.clone(),
            ..ClientBlocks::default()
        }
        .resolve()
        .and_then(|c| c.check_files().map(|()| c))
        .map_err(|(k, m)| loc.key(&key(&k), m))?;
        let timeout = match &s.timeout {
            Some(t) => {
                picket_core::config::parse_duration(t).map_err(|m| loc.key(&key("timeout"), m))?
            }
            None => DEFAULT_TIMEOUT,
        };
        out.push(Arc::new(Target {
            url,
            job: s.job.clone().unwrap_or_else(|| "relay".into()),
            instance: s.instance.clone().unwrap_or(hostport),
            honor_labels: s.honor_labels.unwrap_or(false),
            timeout,
            deadline: Deadline::default(),
            agent: client.tls.agent(
                ureq::Agent::config_builder()
                    .timeout_global(Some(timeout))
                    .http_status_as_error(false)
                    .user_agent(concat!("picket/", env!("CARGO_PKG_VERSION"))),
            ),
            auth: client.auth,
        }));
    }
    Ok(out)
}

/// Fetches every endpoint and relays its samples.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    if ctx.opts.relay.is_empty() {
        return Err(CollectError::NoData("no [[relay]] configured".into()));
    }
    let mut failed = Vec::new();
    for t in &ctx.opts.relay {
        let start = Instant::now();
        let fetched = {
            let t2 = t.clone();
            t.deadline
                .run("relay", t.timeout, move || fetch(&t2))
                .unwrap_or_else(|m| Err(m.to_string()))
        };
        let ok = match fetched.and_then(|body| {
            picket_core::decode::text::parse(&body).map_err(|e| format!("parse: {e}"))
        }) {
            Ok(samples) => {
                for s in samples {
                    out.push(relabel(t, s));
                }
                true
            }
            Err(e) => {
                log::error!("relay {}: {e}", t.url);
                failed.push(t.url.clone());
                false
            }
        };
        let labels =
            || Labels::from_pairs([("instance", t.instance.as_str()), ("job", t.job.as_str())]);
        out.sample(
            "picket_relay_up",
            "Whether the last fetch of a relayed endpoint succeeded.",
            MetricType::Gauge,
            labels(),
            if ok { 1.0 } else { 0.0 },
        );
        out.sample(
            "picket_relay_scrape_duration_seconds",
            "How long the last fetch of a relayed endpoint took.",
            MetricType::Gauge,
            labels(),
            start.elapsed().as_secs_f64(),
        );
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CollectError::Failed(format!(
            "failed: {}",
            failed.join(", ")
        )))
    }
}

/// GETs the endpoint's text exposition (blocking; runs on the deadline thread).
fn fetch(t: &Target) -> Result<String, String> {
    let mut req = t
        .agent
        .get(&t.url)
        .header("Accept", "text/plain;version=0.0.4;q=1,*/*;q=0.1");
    if let Some(a) = &t.auth {
        req = req.header("Authorization", a.header()?);
    }
    let resp = req.call().map_err(|e| format!("fetch: {e}"))?;
    let status = resp.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(format!("HTTP {status}"));
    }
    let mut body = String::new();
    resp.into_body()
        .into_reader()
        .take(MAX_BODY + 1)
        .read_to_string(&mut body)
        .map_err(|e| format!("read: {e}"))?;
    if body.len() as u64 > MAX_BODY {
        return Err(format!("body larger than {MAX_BODY} bytes"));
    }
    Ok(body)
}

/// Adds the target's `job`/`instance` as Prometheus attaches target labels.
fn relabel(t: &Target, mut s: Sample) -> Sample {
    for (name, ours) in [("job", &t.job), ("instance", &t.instance)] {
        match s.labels.get(name).map(str::to_string) {
            Some(_) if t.honor_labels => {}
            Some(theirs) => {
                s.labels.remove(name);
                s.labels.set(Cow::Owned(format!("exported_{name}")), theirs);
                s.labels.set(name, ours.clone());
            }
            None => s.labels.set(name, ours.clone()),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::{loc, parts};

    fn target(honor: bool) -> Target {
        Target {
            url: "http://127.0.0.1:1/metrics".into(),
            job: "app".into(),
            instance: "127.0.0.1:1".into(),
            honor_labels: honor,
            timeout: DEFAULT_TIMEOUT,
            deadline: Deadline::default(),
            agent: ureq::Agent::new_with_defaults(),
            auth: None,
        }
    }

    fn labels(s: &Sample) -> Vec<String> {
        s.labels.iter().map(|(n, v)| format!("{n}={v}")).collect()
    }

    #[test]
    fn target_labels_as_prometheus_attaches_them() {
        let body = "a{job=\"x\",k=\"v\"} 1\nb 2\n";
        let s = picket_core::decode::text::parse(body).expect("parses");
        let plain: Vec<_> = s
            .iter()
            .cloned()
            .map(|x| labels(&relabel(&target(false), x)))
            .collect();
        assert_eq!(
            plain,
            [
                vec!["exported_job=x", "instance=127.0.0.1:1", "job=app", "k=v"],
                vec!["instance=127.0.0.1:1", "job=app"],
            ]
        );
        let honored: Vec<_> = s
            .iter()
            .cloned()
            .map(|x| labels(&relabel(&target(true), x)))
            .collect();
        assert_eq!(
            honored,
            [
                vec!["instance=127.0.0.1:1", "job=x", "k=v"],
                vec!["instance=127.0.0.1:1", "job=app"],
            ]
        );
    }

    #[test]
    fn config_errors_name_the_key() {
        let bad = Section {
            url: Some("ftp://x/metrics".into()),
            ..Section::default()
        };
        let e = resolve(&[Section::default(), bad], &loc())
            .map_err(parts)
            .expect_err("no url");
        assert_eq!(e.0, "relay[0].url");
        let ok = Section {
            url: Some("http://127.0.0.1:8405/metrics".into()),
            ..Section::default()
        };
        let t = resolve(&[ok], &loc()).expect("resolves");
        assert_eq!(t[0].instance, "127.0.0.1:8405");
        assert_eq!(t[0].job, "relay");
    }
}
