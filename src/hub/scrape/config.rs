//! `[[scrape_configs]]` of the hub config: the TOML as written
//! ([`ScrapeConfigToml`], Prometheus's key names) and the checked, defaulted
//! [`ScrapeConfig`] the [`Manager`](super::Manager) runs.
//!
//! Kept apart from the scrape loop because it changes with the config
//! format, not with how targets are scraped. Defaults and checks follow
//! Prometheus 2.x (`config/config.go`): an unset `scrape_timeout` is the
//! global timeout, or the interval if that is shorter; a timeout set
//! greater than the interval is an error. The HTTP client blocks
//! (`basic_auth`, `authorization`, `bearer_token(_file)`, `tls_config`) are
//! the core's, shared with every client. Proxies and OAuth 2 are not read
//! (an unknown key is an error, so a Prometheus config that relies on
//! them fails loudly rather than scraping differently).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::Ctx;
use picket_core::config::ConfigError;
use picket_core::metric::{valid_label_name, Labels};
use picket_core::relabel::{Relabel, RelabelConfigToml};
use picket_core::web::client::{
    AuthorizationToml, BasicAuthToml, ClientBlocks, HttpClient, TlsConfigToml,
};

/// Parses a Prometheus duration: `15s`, `1m30s`, `500ms`, `2h`, `1d`, `1w`,
/// `1y` (the agent's parser, shared).
pub use picket_core::config::parse_duration;

#[cfg(test)]
/// Prometheus's default `scrape_interval` (global and per job).
pub(crate) const DEFAULT_SCRAPE_INTERVAL: Duration = Duration::from_secs(15);
#[cfg(test)]
/// Prometheus's default `scrape_timeout`.
pub(crate) const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// Prometheus's default file_sd `refresh_interval`.
pub(crate) const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(300);

/// One `[[scrape_configs]]` table as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScrapeConfigToml {
    /// The `job` label of the targets; unique across scrape configs.
    pub job_name: String,
    /// How often to scrape (default: the global interval).
    pub scrape_interval: Option<String>,
    /// Per-scrape timeout (default: the global timeout, at most the interval).
    pub scrape_timeout: Option<String>,
    /// HTTP path of the metrics (default `/metrics`).
    pub metrics_path: Option<String>,
    /// `http` (default) or `https`.
    pub scheme: Option<String>,
    /// Keep the scraped data's labels where they clash with target labels.
    pub honor_labels: Option<bool>,
    /// Use the timestamps the target exposes (default true).
    pub honor_timestamps: Option<bool>,
    /// HTTP basic auth sent with every scrape.
    pub basic_auth: Option<BasicAuthToml>,
    /// `Authorization: <type> <credentials>` sent with every scrape.
    pub authorization: Option<AuthorizationToml>,
    /// Deprecated Prometheus spelling of a bearer `authorization`.
    pub bearer_token: Option<String>,
    /// The same, from a file read per scrape.
    pub bearer_token_file: Option<PathBuf>,
    /// TLS for `scheme = "https"`.
    pub tls_config: Option<TlsConfigToml>,
    /// Fixed target groups.
    pub static_configs: Vec<StaticConfigToml>,
    /// Target groups read from YAML or JSON files.
    pub file_sd_configs: Vec<FileSdConfigToml>,
    /// Targets from DNS records (SRV, A, AAAA, MX).
    pub dns_sd_configs: Vec<super::dns_sd::DnsSdConfigToml>,
    /// URL parameters of every scrape (the first value of each becomes
    /// `__param_<name>`, which relabelling may change).
    pub params: BTreeMap<String, Vec<String>>,
    /// Most samples a scrape may keep after metric relabelling (0: no
    /// limit); more fail the scrape.
    pub sample_limit: Option<u64>,
    /// Most labels a series may have (0: no limit).
    pub label_limit: Option<u64>,
    /// Longest label name (0: no limit).
    pub label_name_length_limit: Option<u64>,
    /// Longest label value (0: no limit).
    pub label_value_length_limit: Option<u64>,
    /// Most targets the job may have after relabelling (0: no limit);
    /// more fail every scrape of the job.
    pub target_limit: Option<u64>,
    /// Largest body (`10MB`; 0: the hub's cap of 64 MiB).
    pub body_size_limit: Option<String>,
    /// Follow HTTP redirects (default true).
    pub follow_redirects: Option<bool>,
    /// Accepted for Prometheus's configs (the hub speaks HTTP/1.1).
    pub enable_http2: Option<bool>,
    /// Relabelling of each discovered target.
    pub relabel_configs: Vec<RelabelConfigToml>,
    /// Relabelling of each scraped series, before it is stored.
    pub metric_relabel_configs: Vec<RelabelConfigToml>,
}

/// One `[[scrape_configs.static_configs]]` table.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StaticConfigToml {
    /// `host:port` addresses.
    pub targets: Vec<String>,
    /// Labels given to every target of the group.
    pub labels: BTreeMap<String, String>,
}

/// One `[[scrape_configs.file_sd_configs]]` table.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileSdConfigToml {
    /// Files to read; the last path component may hold one `*`.
    pub files: Vec<String>,
    /// How often to re-read the files even if their mtime did not change.
    pub refresh_interval: Option<String>,
}

impl FileSdConfigToml {
    /// Checks the entry: at least one file, Prometheus's patterns, the
    /// refresh interval (5m); errors are `(key, message)`.
    pub(crate) fn resolve(self) -> Result<FileSdConfig, (String, String)> {
        if self.files.is_empty() {
            return Err(("files".into(), "at least one file is needed".into()));
        }
        for p in &self.files {
            super::file_sd::check_pattern(p).map_err(|e| ("files".to_string(), e))?;
        }
        let refresh_interval = match &self.refresh_interval {
            None => DEFAULT_REFRESH_INTERVAL,
            Some(s) => match parse_duration(s) {
                Ok(d) if d.is_zero() => {
                    return Err(("refresh_interval".into(), "must be greater than 0".into()))
                }
                Ok(d) => d,
                Err(e) => return Err(("refresh_interval".into(), e)),
            },
        };
        Ok(FileSdConfig {
            files: self.files.into_iter().map(PathBuf::from).collect(),
            refresh_interval,
        })
    }
}

impl FileSdConfig {
    /// Makes relative patterns relative to `dir` (the config file's).
    pub(crate) fn set_directory(&mut self, dir: &Path) {
        for p in &mut self.files {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
    }
}

/// A job, checked and with defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeConfig {
    /// The `job` label and the name of the scrape pool.
    pub job_name: String,
    /// How often each target is scraped.
    pub scrape_interval: Duration,
    /// Per-scrape timeout, at most the interval.
    pub scrape_timeout: Duration,
    /// HTTP path, starting with `/`.
    pub metrics_path: String,
    /// `http` or `https`.
    pub scheme: String,
    /// Scraped labels win over target labels.
    pub honor_labels: bool,
    /// Exposed timestamps are kept.
    pub honor_timestamps: bool,
    /// Credentials and TLS of every scrape.
    pub http: HttpClient,
    /// Fixed target groups.
    pub static_configs: Vec<TargetGroup>,
    /// File discovery.
    pub file_sd_configs: Vec<FileSdConfig>,
    /// DNS discovery.
    pub dns_sd_configs: Vec<super::dns_sd::DnsSdConfig>,
    /// URL parameters.
    pub params: BTreeMap<String, Vec<String>>,
    /// Per-scrape limits.
    pub limits: Limits,
    /// Most targets after relabelling (0: none).
    pub target_limit: usize,
    /// Follow redirects.
    pub follow_redirects: bool,
    /// Target relabelling.
    pub relabel: Vec<Relabel>,
    /// Series relabelling.
    pub metric_relabel: Vec<Relabel>,
}

/// What one scrape may hold before it fails (Prometheus's limits; 0 = no
/// limit, except the body, which the hub caps at 64 MiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Samples after metric relabelling.
    pub samples: usize,
    /// Labels per series.
    pub labels: usize,
    /// Label name length.
    pub name_length: usize,
    /// Label value length.
    pub value_length: usize,
    /// Body bytes (before and after gzip).
    pub body_bytes: u64,
}

/// A target group: addresses sharing labels (Prometheus's `targetgroup.Group`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetGroup {
    /// `host:port` addresses (each becomes a target's `__address__`).
    pub targets: Vec<String>,
    /// Labels of every target (file_sd adds `__meta_filepath`).
    pub labels: Labels,
}

/// A checked `file_sd_configs` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSdConfig {
    /// File patterns (`*` allowed in the last component only).
    pub files: Vec<PathBuf>,
    /// Re-read period, besides re-reading on mtime changes.
    pub refresh_interval: Duration,
}

impl ScrapeConfigToml {
    /// Checks the table and fills in defaults. `global_interval` and
    /// `global_timeout` are the hub's `global` values (Prometheus: 15s, 10s).
    ///
    /// Errors name the key relative to this table (`scrape_timeout: …`);
    /// [`resolve_all`] prefixes them with `scrape_configs[i].`.
    pub(crate) fn resolve(
        self,
        global_interval: Duration,
        global_timeout: Duration,
    ) -> Result<ScrapeConfig, String> {
        if self.job_name.is_empty() {
            return Err("job_name: missing or empty".into());
        }
        let dur = |key: &str, v: &Option<String>| -> Result<Option<Duration>, String> {
            match v {
                None => Ok(None),
                Some(s) => match parse_duration(s) {
                    Ok(d) if d.is_zero() => Err(format!("{key}: must be greater than 0")),
                    Ok(d) => Ok(Some(d)),
                    Err(e) => Err(format!("{key}: {e}")),
                },
            }
        };
        let scrape_interval =
            dur("scrape_interval", &self.scrape_interval)?.unwrap_or(global_interval);
        let scrape_timeout = match dur("scrape_timeout", &self.scrape_timeout)? {
            Some(t) if t > scrape_interval => {
                return Err(format!(
                    "scrape_timeout: scrape timeout greater than scrape interval for job {:?} ({} > {})",
                    self.job_name,
                    format_duration(t),
                    format_duration(scrape_interval)
                ))
            }
            Some(t) => t,
            None => global_timeout.min(scrape_interval),
        };
        let metrics_path = self.metrics_path.unwrap_or_else(|| "/metrics".into());
        if !metrics_path.starts_with('/') {
            return Err(format!(
                "metrics_path: {metrics_path:?} must start with \"/\""
            ));
        }
        // Any scheme passes here, as in Prometheus 2.42: a target whose
        // scheme (after relabelling) is not http or https is dropped with
        // an error when it is built.
        let scheme = self.scheme.unwrap_or_else(|| "http".into());
        let http = ClientBlocks {
            basic_auth: self.basic_auth,
            authorization: self.authorization,
            bearer_token: self.bearer_token,
            bearer_token_file: self.bearer_token_file,
            tls_config: self.tls_config,
        }
        .resolve()
        .map_err(|(k, m)| format!("{k}: {m}"))?;
        let mut static_configs = Vec::new();
        for (i, s) in self.static_configs.into_iter().enumerate() {
            static_configs
                .push(group(s.targets, s.labels).map_err(|e| format!("static_configs[{i}].{e}"))?);
        }
        let mut file_sd_configs = Vec::new();
        for (i, f) in self.file_sd_configs.into_iter().enumerate() {
            file_sd_configs.push(
                f.resolve()
                    .map_err(|(k, m)| format!("file_sd_configs[{i}].{k}: {m}"))?,
            );
        }
        let mut dns_sd_configs = Vec::new();
        for (i, d) in self.dns_sd_configs.into_iter().enumerate() {
            dns_sd_configs.push(
                d.resolve()
                    .map_err(|(k, m)| format!("dns_sd_configs[{i}].{k}: {m}"))?,
            );
        }
        let limit = |v: Option<u64>| usize::try_from(v.unwrap_or(0)).unwrap_or(usize::MAX);
        let body_bytes = match &self.body_size_limit {
            None => super::scrape_loop::MAX_BODY,
            Some(s) => match crate::config::parse_size(s) {
                Ok(0) => super::scrape_loop::MAX_BODY,
                Ok(n) => n,
                Err(e) => return Err(format!("body_size_limit: {e}")),
            },
        };
        for k in self.params.keys() {
            if k.is_empty() {
                return Err("params: an empty parameter name".into());
            }
        }
        let relabels = |key: &str, v: Vec<RelabelConfigToml>| {
            v.into_iter()
                .enumerate()
                .map(|(i, r)| r.resolve().map_err(|(k, m)| format!("{key}[{i}].{k}: {m}")))
                .collect::<Result<Vec<_>, _>>()
        };
        let relabel = relabels("relabel_configs", self.relabel_configs)?;
        let metric_relabel = relabels("metric_relabel_configs", self.metric_relabel_configs)?;
        Ok(ScrapeConfig {
            relabel,
            metric_relabel,
            params: self.params,
            limits: Limits {
                samples: limit(self.sample_limit),
                labels: limit(self.label_limit),
                name_length: limit(self.label_name_length_limit),
                value_length: limit(self.label_value_length_limit),
                body_bytes,
            },
            target_limit: limit(self.target_limit),
            follow_redirects: self.follow_redirects.unwrap_or(true),
            job_name: self.job_name,
            scrape_interval,
            scrape_timeout,
            metrics_path,
            scheme,
            honor_labels: self.honor_labels.unwrap_or(false),
            honor_timestamps: self.honor_timestamps.unwrap_or(true),
            http,
            static_configs,
            file_sd_configs,
            dns_sd_configs,
        })
    }
}

impl ScrapeConfig {
    /// Makes relative file_sd patterns and the client's files relative to `dir`
    /// (Prometheus reads them relative to the config file's directory).
    pub(crate) fn set_directory(&mut self, dir: &Path) {
        for f in &mut self.file_sd_configs {
            f.set_directory(dir);
        }
        self.http.set_directory(dir);
    }
}

/// Builds a target group, checking label names (errors start with the key).
pub(crate) fn group(
    targets: Vec<String>,
    labels: BTreeMap<String, String>,
) -> Result<TargetGroup, String> {
    for t in &targets {
        if t.is_empty() {
            return Err("targets: empty address".into());
        }
    }
    let mut l = Labels::new();
    for (n, v) in labels {
        if !valid_label_name(&n) {
            return Err(format!("labels: {n:?} is not a valid label name"));
        }
        l.set(n, v);
    }
    Ok(TargetGroup { targets, labels: l })
}

/// Resolves every table (errors prefixed `scrape_configs[i].`) and checks
/// that job names are unique.
pub(crate) fn resolve_all(
    tables: Vec<ScrapeConfigToml>,
    global_interval: Duration,
    global_timeout: Duration,
) -> Result<Vec<ScrapeConfig>, String> {
    let mut out = Vec::with_capacity(tables.len());
    for (i, t) in tables.into_iter().enumerate() {
        out.push(
            t.resolve(global_interval, global_timeout)
                .map_err(|e| format!("scrape_configs[{i}].{e}"))?,
        );
    }
    validate(&out)?;
    Ok(out)
}

/// `[[scrape_configs]]` of the hub config: every table resolved
/// ([`resolve_all`]), its errors at the key's line, else its table's
/// header; file paths made relative to the config file's directory.
pub(crate) fn resolve_section(
    tables: Vec<ScrapeConfigToml>,
    global_interval: Duration,
    global_timeout: Duration,
    ctx: &Ctx<'_>,
) -> Result<Vec<ScrapeConfig>, ConfigError> {
    let mut out = resolve_all(tables, global_interval, global_timeout).map_err(|e| {
        // "scrape_configs[i].key: message"
        let (key, msg) = e.split_once(": ").unwrap_or(("scrape_configs", &e));
        ctx.in_table(key, msg.to_string())
    })?;
    if let Some(dir) = ctx.file.and_then(Path::parent) {
        for c in &mut out {
            c.set_directory(dir);
        }
    }
    // CA, certificate and key files are read now: a wrong path is a config
    // error, not a failing scrape.
    for (i, c) in out.iter().enumerate() {
        c.http
            .check_files()
            .map_err(|(k, m)| ctx.in_table(&format!("scrape_configs[{i}].{k}"), m))?;
    }
    Ok(out)
}

/// Checks what spans scrape configs: job names non-empty and unique.
pub(crate) fn validate(configs: &[ScrapeConfig]) -> Result<(), String> {
    let mut seen = HashSet::new();
    for (i, c) in configs.iter().enumerate() {
        if c.job_name.is_empty() {
            return Err(format!("scrape_configs[{i}].job_name: missing or empty"));
        }
        if !seen.insert(c.job_name.as_str()) {
            return Err(format!(
                "scrape_configs[{i}].job_name: found multiple scrape configs with job name {:?}",
                c.job_name
            ));
        }
    }
    Ok(())
}

/// Formats a duration as Prometheus does (`15s`, `1m30s`, `2h`, `500ms`,
/// `0s`; years and weeks only when exact).
pub(crate) fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, mult, exact) in [
        ("y", 365 * 86_400_000, true),
        ("w", 7 * 86_400_000, true),
        ("d", 86_400_000, false),
        ("h", 3_600_000, false),
        ("m", 60_000, false),
        ("s", 1000, false),
        ("ms", 1, false),
    ] {
        if exact && !ms.is_multiple_of(mult) {
            continue;
        }
        let v = ms / mult;
        if v > 0 {
            out.push_str(&format!("{v}{unit}"));
            ms -= v * mult;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        scrape_configs: Vec<ScrapeConfigToml>,
    }

    fn load(toml_text: &str) -> Result<Vec<ScrapeConfig>, String> {
        let f: File = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        resolve_all(
            f.scrape_configs,
            DEFAULT_SCRAPE_INTERVAL,
            DEFAULT_SCRAPE_TIMEOUT,
        )
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("1.5s").is_err());
        assert!(parse_duration("15").is_err());
        for (d, s) in [
            (Duration::ZERO, "0s"),
            (Duration::from_secs(15), "15s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_secs(7200), "2h"),
            (Duration::from_secs(90 * 86400), "90d"),
            (Duration::from_secs(14 * 86400), "2w"),
        ] {
            assert_eq!(format_duration(d), s);
        }
    }

    #[test]
    fn full_table_parses_with_prometheus_key_names() {
        let c = load(
            r#"
[[scrape_configs]]
job_name = "node"
scrape_interval = "30s"
scrape_timeout = "5s"
metrics_path = "/m"
scheme = "https"
honor_labels = true
honor_timestamps = false
basic_auth = { username = "u", password = "p" }
[[scrape_configs.static_configs]]
targets = ["127.0.0.1:9100", "b:9100"]
labels = { env = "lab" }
[[scrape_configs.file_sd_configs]]
files = ["/etc/picket/targets/*.yml"]
refresh_interval = "1m"
"#,
        )
        .expect("loads");
        let c = &c[0];
        assert_eq!(c.job_name, "node");
        assert_eq!(c.scrape_interval, Duration::from_secs(30));
        assert_eq!(c.scrape_timeout, Duration::from_secs(5));
        assert_eq!(c.metrics_path, "/m");
        assert_eq!(c.scheme, "https");
        assert!(c.honor_labels && !c.honor_timestamps);
        let auth = c.http.authorization().unwrap().expect("auth");
        assert_eq!(auth, format!("Basic {}", picket_core::http::base64(b"u:p")));
        assert!(
            !format!("{:?}", c.http).contains("\"p\""),
            "password hidden"
        );
        assert_eq!(c.static_configs[0].targets.len(), 2);
        assert_eq!(c.static_configs[0].labels.get("env"), Some("lab"));
        assert_eq!(
            c.file_sd_configs[0].refresh_interval,
            Duration::from_secs(60)
        );
    }

    #[test]
    fn defaults_follow_prometheus() {
        let c = load("[[scrape_configs]]\njob_name = \"a\"\n").expect("loads");
        assert_eq!(c[0].scrape_interval, DEFAULT_SCRAPE_INTERVAL);
        assert_eq!(c[0].scrape_timeout, DEFAULT_SCRAPE_TIMEOUT);
        assert_eq!(c[0].metrics_path, "/metrics");
        assert_eq!(c[0].scheme, "http");
        assert!(!c[0].honor_labels && c[0].honor_timestamps);
        // An unset timeout is capped at a shorter interval.
        let c = load("[[scrape_configs]]\njob_name = \"a\"\nscrape_interval = \"5s\"\n")
            .expect("loads");
        assert_eq!(c[0].scrape_timeout, Duration::from_secs(5));
    }

    #[test]
    fn errors_name_the_key() {
        for (text, want) in [
            (
                "[[scrape_configs]]\njob_name = \"a\"\nscrape_interval = \"5s\"\nscrape_timeout = \"10s\"\n",
                "scrape_configs[0].scrape_timeout: scrape timeout greater than scrape interval",
            ),
            (
                "[[scrape_configs]]\njob_name = \"a\"\n[[scrape_configs]]\njob_name = \"b\"\nscrape_interval = \"x\"\n",
                "scrape_configs[1].scrape_interval: \"x\" is not a duration",
            ),
            ("[[scrape_configs]]\nscheme = \"http\"\n", "scrape_configs[0].job_name: missing"),
            (
                "[[scrape_configs]]\njob_name = \"a\"\n[[scrape_configs]]\njob_name = \"a\"\n",
                "scrape_configs[1].job_name: found multiple scrape configs",
            ),
            (
                "[[scrape_configs]]\njob_name = \"a\"\n[[scrape_configs.relabel_configs]]\naction = \"rename\"\n",
                "scrape_configs[0].relabel_configs[0].action:",
            ),
            (
                "[[scrape_configs]]\njob_name = \"a\"\nbasic_auth = { password = \"p\", password_file = \"f\" }\n",
                "scrape_configs[0].basic_auth: at most one",
            ),
            (
                "[[scrape_configs]]\njob_name = \"a\"\n[[scrape_configs.static_configs]]\ntargets = [\"x:1\"]\nlabels = { \"a-b\" = \"v\" }\n",
                "scrape_configs[0].static_configs[0].labels: \"a-b\" is not a valid label name",
            ),
            (
                "[[scrape_configs]]\njob_name = \"a\"\n[[scrape_configs.file_sd_configs]]\nfiles = [\"/etc/*/t.yml\"]\n",
                "scrape_configs[0].file_sd_configs[0].files:",
            ),
            (
                "[[scrape_configs]]\njob_name = \"a\"\n[[scrape_configs.file_sd_configs]]\nfiles = [\"t.txt\"]\n",
                "scrape_configs[0].file_sd_configs[0].files:",
            ),
        ] {
            let e = load(text).expect_err(text);
            assert!(e.starts_with(want), "{e:?} should start with {want:?}");
        }
        // Unknown keys (proxy_url and friends) are refused by serde.
        let e = load("[[scrape_configs]]\njob_name = \"a\"\nproxy_url = \"http://p\"\n")
            .expect_err("unknown key");
        assert!(e.contains("proxy_url"), "{e}");
    }

    #[test]
    fn relative_paths_follow_the_config_directory() {
        let mut c = load(
            "[[scrape_configs]]\njob_name = \"a\"\nbasic_auth = { username = \"u\", password_file = \"pw\" }\n[[scrape_configs.file_sd_configs]]\nfiles = [\"t/*.json\", \"/abs/x.yml\"]\n",
        )
        .expect("loads")
        .remove(0);
        c.set_directory(Path::new("/etc/picket"));
        assert_eq!(
            c.file_sd_configs[0].files,
            [
                PathBuf::from("/etc/picket/t/*.json"),
                PathBuf::from("/abs/x.yml")
            ]
        );
        assert_eq!(
            c.http.auth,
            Some(picket_core::web::client::ClientAuth::Basic {
                username: "u".into(),
                password: picket_core::web::client::Secret::File("/etc/picket/pw".into())
            })
        );
    }
}
