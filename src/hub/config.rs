//! picket-hub's configuration: the TOML file (configs/hub.toml), Prometheus's
//! flag spellings, and the checked settings the hub runs on.
//!
//! As for the agent: the file is read strictly (unknown keys are errors),
//! precedence is embedded defaults < file < flags, and every error names
//! the file, the line and the dotted key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::notify::config::{Notify, NotifyToml};
use super::promql;
use super::rules::config::{Alerting, AlertingToml};
use super::scrape::{self, ScrapeConfig, ScrapeConfigToml};
use super::store;
use picket_core::config::parse_duration;
use picket_core::config::{locate, read_toml, ConfigError};
use picket_core::http::base64;
use picket_core::metric::{valid_label_name, Labels};

/// The file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubFile {
    /// Rule file patterns (Prometheus's `rule_files`), relative to this
    /// file; a `*` in the last component matches any run of characters.
    #[serde(default)]
    pub rule_files: Vec<String>,
    /// `[global]`
    #[serde(default)]
    pub global: GlobalSection,
    /// `[web]`
    #[serde(default)]
    pub web: WebSection,
    /// `[storage]`
    #[serde(default)]
    pub storage: StorageSection,
    /// `[remote_write_receiver]`
    #[serde(default)]
    pub remote_write_receiver: ReceiverSection,
    /// `[query]`
    #[serde(default)]
    pub query: QuerySection,
    /// `[[scrape_configs]]`: Prometheus's scrape_configs, in TOML.
    #[serde(default)]
    pub scrape_configs: Vec<ScrapeConfigToml>,
    /// `[mqtt]`: the MQTT input.
    #[serde(default)]
    pub mqtt: Option<super::mqtt::config::MqttSection>,
    /// `[alerting]`: Alertmanagers and the rule engine's timing.
    #[serde(default)]
    pub alerting: AlertingToml,
    /// `[notify]`: direct notifications (routing tree, receivers,
    /// inhibition) for sites without Alertmanager.
    #[serde(default)]
    pub notify: NotifyToml,
    /// `[push_sources]`: when a pushing board counts as down.
    #[serde(default)]
    pub push_sources: PushSourcesSection,
}

/// `[push_sources]`: liveness of boards that push ([`super::liveness`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushSourcesSection {
    /// Silent for this many of its own intervals: `up 0` (default 3).
    pub down_after_intervals: Option<u32>,
    /// Silent for this long: forgotten, its `up` ends (default "24h").
    pub forget_after: Option<String>,
}

/// `[query]`: limits of `/api/v1/query` and `/api/v1/query_range`
/// (Prometheus's `--query.*` flags).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuerySection {
    /// Longest a query may run ("2m").
    pub timeout: Option<String>,
    /// Most samples one query may load ([`DEFAULT_MAX_SAMPLES`]).
    pub max_samples: Option<u64>,
    /// How far back an instant selector looks for a sample ("5m").
    pub lookback_delta: Option<String>,
    /// Most series one selector may match ([`DEFAULT_MAX_SERIES`]).
    pub max_series: Option<u64>,
    /// Decoded samples kept for later queries
    /// ([`store::DEFAULT_CACHE_SAMPLES`]; 0 turns the cache off).
    pub cache_samples: Option<u64>,
}

/// Default of `query.max_series`. Prometheus has no such limit; here it
/// stops a selector over everything (`{__name__=~".+"}` on a big hub)
/// before a single chunk is read: each selected series costs its labels
/// and decode buffers even when `max_samples` would stop it later. 100 000
/// is ten times the series of 20 boards with every default collector.
pub const DEFAULT_MAX_SERIES: u64 = 100_000;

/// Default of `query.max_samples`: 20 million, not Prometheus's 50 million.
/// The evaluator holds each loaded sample as 16 bytes (timestamp and
/// value), so 20 M is about 320 MB of points at the limit, leaving room on
/// a 1 GB board for the per-step intermediate vectors, the store's decoded
/// chunks and the JSON answer under ~500 MB; Prometheus's 50 M would be
/// 800 MB of points alone.
pub const DEFAULT_MAX_SAMPLES: u64 = 20_000_000;

/// `[global]`: defaults for scraping, as Prometheus's `global:` block.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalSection {
    /// Default scrape interval (15s).
    pub scrape_interval: Option<String>,
    /// Default scrape timeout (10s).
    pub scrape_timeout: Option<String>,
    /// Default rule group interval (1m).
    pub evaluation_interval: Option<String>,
    /// Labels added to every alert sent (Prometheus's `external_labels`).
    #[serde(default)]
    pub external_labels: std::collections::BTreeMap<String, String>,
}

/// `[web]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSection {
    /// Listen address (":9090").
    pub listen_address: Option<String>,
    /// The URL the hub is reached at, for alerts' generatorURL and
    /// `$externalURL` (default `http://<hostname>:<port>`).
    pub external_url: Option<String>,
}

/// `[storage]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// Directory of the database ("data").
    pub path: Option<String>,
    /// How long samples are kept ("15d").
    pub retention_time: Option<String>,
    /// Most bytes the database may use ("0" = no limit; "5GB").
    pub retention_size: Option<String>,
    /// How often appended samples are written to disk ("5s"): what a crash can lose.
    pub commit_interval: Option<String>,
    /// "normal" (default) or "full" (an fsync per commit).
    pub synchronous: Option<String>,
}

/// `[remote_write_receiver]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverSection {
    /// Largest request body accepted ("32MB").
    pub max_body_size: Option<String>,
    /// Credentials; when any are given, every write must carry one.
    #[serde(default)]
    pub auth: Vec<AuthEntry>,
}

/// One agent's credentials: a bearer token, or a user and password.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthEntry {
    /// `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
    /// Basic auth user.
    pub username: Option<String>,
    /// Basic auth password.
    pub password: Option<String>,
}

/// Prometheus's flags (and `--config.file`), already parsed.
#[derive(Debug, Default, Clone)]
pub struct Flags {
    /// `--web.listen-address`
    pub listen_address: Option<String>,
    /// `--storage.tsdb.path`
    pub tsdb_path: Option<String>,
    /// `--storage.tsdb.retention.time`
    pub retention_time: Option<String>,
    /// `--storage.tsdb.retention.size`
    pub retention_size: Option<String>,
    /// `--query.timeout`
    pub query_timeout: Option<String>,
    /// `--query.max-samples`
    pub query_max_samples: Option<String>,
    /// `--query.lookback-delta`
    pub query_lookback_delta: Option<String>,
    /// `--query.max-series` (ours; Prometheus has no such flag)
    pub query_max_series: Option<String>,
    /// `--mqtt-url`: subscribe to this broker (replaces `mqtt.url`).
    pub mqtt_url: Option<String>,
    /// `--rule-file` (repeatable): rule files added to `rule_files`.
    pub rule_files: Vec<PathBuf>,
    /// `--web.external-url`
    pub external_url: Option<String>,
}

/// The checked settings.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Where to listen.
    pub listen_address: String,
    /// The store's settings.
    pub store: store::Options,
    /// How often pending samples are committed.
    pub commit_interval: Duration,
    /// Largest remote_write body.
    pub max_body_bytes: usize,
    /// Accepted `Authorization` header values (empty: no auth).
    pub auth: Vec<String>,
    /// Default scrape interval.
    pub scrape_interval: Duration,
    /// Default scrape timeout.
    pub scrape_timeout: Duration,
    /// The jobs to scrape (file paths made relative to the config file).
    pub scrape_configs: Vec<ScrapeConfig>,
    /// The query limits (`[query]`; read at start, not on reload).
    pub query: promql::Options,
    /// The MQTT input, if any (read at start, not on reload).
    pub mqtt: Option<super::mqtt::config::MqttInput>,
    /// Liveness of push sources.
    pub push_sources: super::liveness::Options,
    /// Rule file patterns: the file's `rule_files` (made relative to the
    /// config file) and then `--rule-file`s.
    pub rule_files: Vec<PathBuf>,
    /// Default rule group interval.
    pub evaluation_interval: Duration,
    /// `external_labels`.
    pub external_labels: Labels,
    /// The hub's external URL.
    pub external_url: String,
    /// `[alerting]`.
    pub alerting: Alerting,
    /// `[notify]`, if it configures anything.
    pub notify: Option<Notify>,
}

/// Reads and checks a config file (and the flags over it).
pub fn load(file: Option<&Path>, flags: &Flags) -> Result<HubConfig, ConfigError> {
    match file {
        None => {
            // Prometheus's default configuration scrapes Prometheus itself.
            let listen = flags.listen_address.as_deref().unwrap_or(":9090");
            let f = toml::from_str::<HubFile>(&self_scrape(listen)).map_err(|e| ConfigError {
                file: None,
                line: None,
                key: Some("--web.listen-address".into()),
                msg: e.to_string(),
            })?;
            resolve(None, "", f, flags)
        }
        Some(p) => {
            let (src, f) = read_toml::<HubFile>(p)?;
            resolve(Some(p), &src, f, flags)
        }
    }
}

/// The embedded default: one job, `picket-hub`, scraping the hub's own
/// `/metrics` (as Prometheus's default prometheus.yml scrapes
/// `localhost:9090`).
fn self_scrape(listen: &str) -> String {
    let (host, port) = listen.rsplit_once(':').unwrap_or(("", listen));
    let host = match host.trim_matches(['[', ']']) {
        "" | "0.0.0.0" | "::" => "localhost",
        h => h,
    };
    let target = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    format!(
        "[[scrape_configs]]\njob_name = \"picket-hub\"\n[[scrape_configs.static_configs]]\ntargets = [{target:?}]\n"
    )
}

/// Parses Prometheus's byte sizes: `512MB`, `5GB`, `1TB` (powers of 1024,
/// as Prometheus reads them), or plain bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let n: u64 = t[..digits]
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 512MB, 5GB)"))?;
    let mult: u64 = match t[digits..].trim() {
        "" | "B" => 1,
        "KB" | "KiB" => 1 << 10,
        "MB" | "MiB" => 1 << 20,
        "GB" | "GiB" => 1 << 30,
        "TB" | "TiB" => 1 << 40,
        "PB" | "PiB" => 1 << 50,
        _ => return Err(format!("{s:?} is not a size (e.g. 512MB, 5GB)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

fn resolve(
    path: Option<&Path>,
    src: &str,
    f: HubFile,
    flags: &Flags,
) -> Result<HubConfig, ConfigError> {
    // An error at a dotted key of the file, or at a flag.
    let at = |key: &str, flag: Option<&str>, msg: String| match flag {
        Some(fl) => ConfigError {
            file: None,
            line: None,
            key: Some(fl.to_string()),
            msg,
        },
        None => ConfigError {
            file: path.map(Path::to_path_buf),
            line: locate(src, key),
            key: Some(key.to_string()),
            msg,
        },
    };
    // The flag's value if given, else the file's.
    let pick = |flag: &Option<String>, file: &Option<String>, key: &str, fl: &'static str| match (
        flag, file,
    ) {
        (Some(v), _) => Some((v.clone(), Some(fl), key.to_string())),
        (None, Some(v)) => Some((v.clone(), None, key.to_string())),
        (None, None) => None,
    };
    let dur = |v: Option<(String, Option<&'static str>, String)>, default: Duration| match v {
        None => Ok(default),
        Some((v, fl, key)) => parse_duration(&v).map_err(|e| at(&key, fl, e)),
    };

    let listen = match pick(
        &flags.listen_address,
        &f.web.listen_address,
        "web.listen_address",
        "--web.listen-address",
    ) {
        None => ":9090".to_string(),
        Some((v, fl, key)) => {
            picket_core::config::check_listen(&v).map_err(|e| at(&key, fl, e))?;
            v
        }
    };
    let dir = flags
        .tsdb_path
        .clone()
        .or(f.storage.path.clone())
        .unwrap_or_else(|| "data".into());
    let retention = dur(
        pick(
            &flags.retention_time,
            &f.storage.retention_time,
            "storage.retention_time",
            "--storage.tsdb.retention.time",
        ),
        Duration::from_secs(15 * 86_400),
    )?;
    if retention.is_zero() {
        let fl = flags
            .retention_time
            .as_ref()
            .map(|_| "--storage.tsdb.retention.time");
        return Err(at(
            "storage.retention_time",
            fl,
            "must be more than 0".into(),
        ));
    }
    let retention_bytes = match pick(
        &flags.retention_size,
        &f.storage.retention_size,
        "storage.retention_size",
        "--storage.tsdb.retention.size",
    ) {
        None => 0,
        Some((v, fl, key)) => parse_size(&v).map_err(|e| at(&key, fl, e))?,
    };
    let commit_interval = dur(
        f.storage
            .commit_interval
            .clone()
            .map(|v| (v, None, "storage.commit_interval".to_string())),
        Duration::from_secs(5),
    )?;
    if commit_interval.is_zero() || commit_interval > Duration::from_secs(600) {
        return Err(at(
            "storage.commit_interval",
            None,
            "must be between 1ms and 10m".into(),
        ));
    }
    let sync_full = match f.storage.synchronous.as_deref() {
        None | Some("normal") => false,
        Some("full") => true,
        Some(o) => {
            return Err(at(
                "storage.synchronous",
                None,
                format!("{o:?}: expected \"normal\" or \"full\""),
            ))
        }
    };
    let max_body_bytes = match &f.remote_write_receiver.max_body_size {
        None => 32 << 20,
        Some(v) => {
            parse_size(v).map_err(|e| at("remote_write_receiver.max_body_size", None, e))? as usize
        }
    };
    let mut auth = Vec::new();
    for (i, a) in f.remote_write_receiver.auth.iter().enumerate() {
        let key = format!("remote_write_receiver.auth[{i}]");
        match (&a.bearer_token, &a.username, &a.password) {
            (Some(t), None, None) if !t.is_empty() => auth.push(format!("Bearer {t}")),
            (None, Some(u), p) if !u.is_empty() => {
                let creds = format!("{u}:{}", p.as_deref().unwrap_or(""));
                auth.push(format!("Basic {}", base64(creds.as_bytes())));
            }
            _ => {
                return Err(ConfigError {
                    file: path.map(Path::to_path_buf),
                    line: locate(src, &format!("{key}.bearer_token"))
                        .or_else(|| locate(src, &format!("{key}.username"))),
                    key: Some(key),
                    msg: "give either bearer_token, or username (and password)".into(),
                })
            }
        }
    }
    let scrape_interval = dur(
        f.global
            .scrape_interval
            .clone()
            .map(|v| (v, None, "global.scrape_interval".to_string())),
        Duration::from_secs(15),
    )?;
    let scrape_timeout = dur(
        f.global
            .scrape_timeout
            .clone()
            .map(|v| (v, None, "global.scrape_timeout".to_string())),
        Duration::from_secs(10),
    )?;
    let scrape_timeout = scrape_timeout.min(scrape_interval);
    let query_timeout = dur(
        pick(
            &flags.query_timeout,
            &f.query.timeout,
            "query.timeout",
            "--query.timeout",
        ),
        Duration::from_secs(120),
    )?;
    if query_timeout.is_zero() {
        let fl = flags.query_timeout.as_ref().map(|_| "--query.timeout");
        return Err(at("query.timeout", fl, "must be more than 0".into()));
    }
    let lookback = dur(
        pick(
            &flags.query_lookback_delta,
            &f.query.lookback_delta,
            "query.lookback_delta",
            "--query.lookback-delta",
        ),
        Duration::from_secs(300),
    )?;
    if lookback.is_zero() {
        let fl = flags
            .query_lookback_delta
            .as_ref()
            .map(|_| "--query.lookback-delta");
        return Err(at("query.lookback_delta", fl, "must be more than 0".into()));
    }
    let max_samples = match (&flags.query_max_samples, f.query.max_samples) {
        (Some(v), _) => v.trim().parse::<u64>().map_err(|_| {
            at(
                "query.max_samples",
                Some("--query.max-samples"),
                format!("{v:?} is not a whole number"),
            )
        })?,
        (None, Some(n)) => n,
        (None, None) => DEFAULT_MAX_SAMPLES,
    };
    if max_samples == 0 {
        let fl = flags
            .query_max_samples
            .as_ref()
            .map(|_| "--query.max-samples");
        return Err(at("query.max_samples", fl, "must be more than 0".into()));
    }
    let max_series = match (&flags.query_max_series, f.query.max_series) {
        (Some(v), _) => v.trim().parse::<u64>().map_err(|_| {
            at(
                "query.max_series",
                Some("--query.max-series"),
                format!("{v:?} is not a whole number"),
            )
        })?,
        (None, Some(n)) => n,
        (None, None) => DEFAULT_MAX_SERIES,
    };
    if max_series == 0 {
        let fl = flags
            .query_max_series
            .as_ref()
            .map(|_| "--query.max-series");
        return Err(at("query.max_series", fl, "must be more than 0".into()));
    }
    let query = promql::Options {
        lookback_ms: lookback.as_millis().min(i64::MAX as u128) as i64,
        max_samples: usize::try_from(max_samples).unwrap_or(usize::MAX),
        max_series: usize::try_from(max_series).unwrap_or(usize::MAX),
        timeout: query_timeout,
        ..promql::Options::default()
    };
    let mut scrape_configs =
        scrape::config::resolve_all(f.scrape_configs, scrape_interval, scrape_timeout).map_err(
            |e| {
                // "scrape_configs[i].key: message"
                let (key, msg) = e.split_once(": ").unwrap_or(("scrape_configs", &e));
                ConfigError {
                    file: path.map(Path::to_path_buf),
                    line: locate(src, key).or_else(|| nth_table_line(src, key)),
                    key: Some(key.to_string()),
                    msg: msg.to_string(),
                }
            },
        )?;
    let mqtt = super::mqtt::config::resolve(f.mqtt.as_ref(), flags.mqtt_url.as_deref()).map_err(
        |(k, m, from_flag)| at(&format!("mqtt.{k}"), from_flag.then_some("--mqtt-url"), m),
    )?;
    if let Some(dir) = path.and_then(Path::parent) {
        for c in &mut scrape_configs {
            c.set_directory(dir);
        }
    }
    let evaluation_interval = dur(
        f.global
            .evaluation_interval
            .clone()
            .map(|v| (v, None, "global.evaluation_interval".to_string())),
        Duration::from_secs(60),
    )?;
    if evaluation_interval.is_zero() {
        return Err(at(
            "global.evaluation_interval",
            None,
            "must be more than 0".into(),
        ));
    }
    let mut external_labels = Labels::new();
    for (k, v) in &f.global.external_labels {
        if !valid_label_name(k) || k.starts_with("__") {
            return Err(at(
                "global.external_labels",
                None,
                format!("{k:?} is not a valid label name"),
            ));
        }
        external_labels.set(k.clone(), v.clone());
    }
    let external_url = match flags.external_url.clone().or(f.web.external_url.clone()) {
        Some(u) => {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                let fl = flags.external_url.as_ref().map(|_| "--web.external-url");
                return Err(at(
                    "web.external_url",
                    fl,
                    format!("{u:?} is not an http(s) URL"),
                ));
            }
            u.trim_end_matches('/').to_string()
        }
        None => default_external_url(&listen),
    };
    let alerting =
        super::rules::config::resolve(&f.alerting).map_err(|(key, msg)| ConfigError {
            file: path.map(Path::to_path_buf),
            line: locate(src, &key).or_else(|| nth_table_line(src, &key)),
            key: Some(key),
            msg,
        })?;
    let notify = super::notify::config::resolve(&f.notify).map_err(|(key, msg)| ConfigError {
        file: path.map(Path::to_path_buf),
        line: locate(src, &key)
            .or_else(|| nested_line(src, &key))
            .or_else(|| nth_table_line(src, &key)),
        key: Some(key),
        msg,
    })?;
    let base = path.and_then(Path::parent);
    let mut rule_files: Vec<PathBuf> = f
        .rule_files
        .iter()
        .map(|p| match base {
            Some(b) if Path::new(p).is_relative() => b.join(p),
            _ => PathBuf::from(p),
        })
        .collect();
    rule_files.extend(flags.rule_files.iter().cloned());
    let down_after_intervals = f.push_sources.down_after_intervals.unwrap_or(3);
    if down_after_intervals == 0 {
        return Err(at(
            "push_sources.down_after_intervals",
            None,
            "must be at least 1".into(),
        ));
    }
    let push_sources = super::liveness::Options {
        down_after_intervals,
        forget_after: dur(
            f.push_sources
                .forget_after
                .clone()
                .map(|v| (v, None, "push_sources.forget_after".to_string())),
            Duration::from_secs(24 * 3600),
        )?,
        default_interval: scrape_interval,
    };
    Ok(HubConfig {
        mqtt,
        push_sources,
        listen_address: listen,
        store: store::Options {
            dir: PathBuf::from(dir),
            retention,
            retention_bytes,
            sync_full,
            cache_samples: f
                .query
                .cache_samples
                .map_or(store::DEFAULT_CACHE_SAMPLES, |n| {
                    usize::try_from(n).unwrap_or(usize::MAX)
                }),
            seal_threads: 0,
        },
        commit_interval,
        max_body_bytes,
        auth,
        scrape_interval,
        scrape_timeout,
        scrape_configs,
        query,
        rule_files,
        evaluation_interval,
        external_labels,
        external_url,
        alerting,
        notify,
    })
}

/// Prometheus's default external URL: `http://<hostname>:<port>`.
fn default_external_url(listen: &str) -> String {
    let host = picket_core::identity::hostname();
    let port = listen.rsplit_once(':').map_or("9090", |(_, p)| p);
    format!("http://{host}:{port}")
}

/// The line of a key inside nested arrays of tables
/// (`notify.receivers[1].mqtt_configs[0].url`, also through a sub-table:
/// `…email_configs[0].tls_config.ca_file`) in conventionally written
/// TOML: the key's own line, else the innermost `[[table]]` header.
fn nested_line(src: &str, key: &str) -> Option<usize> {
    let parts: Vec<&str> = key.split('.').collect();
    let (last, tables) = parts.split_last()?;
    let mut path = String::new();
    let mut arrays: Vec<(String, usize)> = Vec::new();
    for p in tables {
        let (name, idx) = match p.strip_suffix(']').and_then(|p| p.split_once('[')) {
            Some((n, i)) => (n, Some(i.parse::<usize>().ok()?)),
            None => (*p, None),
        };
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(name);
        if let Some(i) = idx {
            arrays.push((path.clone(), i));
        }
    }
    if arrays.len() < 2 {
        return None;
    }
    // How many leading arrays the current position is inside the wanted
    // element of, and how many elements of each were seen in its parent.
    let mut depth = 0;
    let mut counts = vec![0usize; arrays.len()];
    let mut current = String::new();
    let mut header = None;
    for (n, l) in src.lines().enumerate() {
        let t = l.trim();
        if t.starts_with('[') {
            let h = t
                .trim_start_matches('[')
                .split(']')
                .next()?
                .trim()
                .to_string();
            if t.starts_with("[[") {
                if let Some(k) = arrays.iter().position(|(a, _)| *a == h) {
                    if k <= depth {
                        counts[k] += 1;
                        counts[k + 1..].iter_mut().for_each(|c| *c = 0);
                        depth = if counts[k] == arrays[k].1 + 1 {
                            k + 1
                        } else {
                            k
                        };
                        if depth == arrays.len() {
                            header = Some(n + 1);
                        }
                    }
                }
            }
            current = h;
            continue;
        }
        let k = t.split('=').next().unwrap_or("").trim();
        if depth == arrays.len() && current == path && k == *last && t.contains('=') {
            return Some(n + 1);
        }
    }
    header
}

/// The line of the `[[table]]` header that `key` (`scrape_configs[2].x.y`)
/// falls in, for errors deeper than [`locate`] finds.
fn nth_table_line(src: &str, key: &str) -> Option<usize> {
    let (table, rest) = key.split_once('[')?;
    let n: usize = rest.split_once(']')?.0.parse().ok()?;
    let header = format!("[[{table}]]");
    src.lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == header)
        .nth(n)
        .map(|(i, _)| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_flags_and_file_errors() {
        let c = load(None, &Flags::default()).unwrap();
        assert_eq!(c.listen_address, ":9090");
        assert_eq!(c.store.dir, PathBuf::from("data"));
        assert_eq!(c.store.retention, Duration::from_secs(15 * 86_400));
        let fl = Flags {
            retention_size: Some("5GB".into()),
            retention_time: Some("2d".into()),
            ..Flags::default()
        };
        let c = load(None, &fl).unwrap();
        assert_eq!(c.store.retention_bytes, 5 << 30);
        assert_eq!(c.store.retention, Duration::from_secs(2 * 86_400));
        let bad = Flags {
            retention_time: Some("soon".into()),
            ..Flags::default()
        };
        let e = load(None, &bad).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("--storage.tsdb.retention.time"));
        let dir = std::env::temp_dir().join(format!("picket-hubcfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("hub.toml");
        std::fs::write(&p, "[storage]\npath = \"x\"\nretention_size = \"lots\"\n").unwrap();
        let e = load(Some(&p), &Flags::default()).unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("storage.retention_size"))
        );
        std::fs::write(&p, "[web]\nlisten = \":1\"\n").unwrap();
        let e = load(Some(&p), &Flags::default()).unwrap_err();
        assert_eq!(e.line, Some(2));
        std::fs::write(&p, "[query]\ntimeout = \"30s\"\nmax_samples = 1000\n").unwrap();
        let c = load(Some(&p), &Flags::default()).unwrap();
        assert_eq!(c.query.timeout, Duration::from_secs(30));
        assert_eq!(c.query.max_samples, 1000);
        assert_eq!(c.query.lookback_ms, 300_000);
        let fl = Flags {
            query_max_samples: Some("many".into()),
            ..Flags::default()
        };
        let e = load(Some(&p), &fl).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("--query.max-samples"));
        std::fs::write(&p, "[query]\nlookback_delta = \"soon\"\n").unwrap();
        let e = load(Some(&p), &Flags::default()).unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("query.lookback_delta"))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
