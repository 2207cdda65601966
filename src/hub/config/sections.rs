//! The hub config's own small sections (`[global]`, `[web]`, `[storage]`,
//! `[remote_write_receiver]`, `[query]`, `[push_sources]`), each as
//! written and with the `resolve` that checks it against the shared
//! error locator ([`Ctx`]) and the flags that override it. Sections that
//! belong to one subsystem live with it (`[[scrape_configs]]` in
//! [`crate::scrape::config`], `[mqtt]` in [`crate::mqtt::config`],
//! `[alerting]` in [`crate::rules::config`], `[notify]` in
//! [`crate::notify::config`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::ctx::{Ctx, Durations, Given};
use super::Flags;
use crate::{liveness, promql, store};
use picket_core::config::ConfigError;
use picket_core::http::base64;
use picket_core::metric::{valid_label_name, Labels};

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
    pub external_labels: BTreeMap<String, String>,
}

impl GlobalSection {
    /// The default scrape interval and timeout (the timeout at most the
    /// interval).
    pub(crate) fn scrape_defaults(
        &self,
        ctx: &Ctx<'_>,
    ) -> Result<(Duration, Duration), ConfigError> {
        let given = |v: &Option<String>, key| v.as_deref().map(|v| Given::file(v, key));
        let interval = ctx.duration(
            given(&self.scrape_interval, "global.scrape_interval"),
            Duration::from_secs(15),
        )?;
        let timeout = ctx.duration(
            given(&self.scrape_timeout, "global.scrape_timeout"),
            Duration::from_secs(10),
        )?;
        // Prometheus: a timeout set above the interval is an error; the
        // default one is cut to the interval.
        if self.scrape_timeout.is_some() && timeout > interval {
            return Err(ctx.key(
                "global.scrape_timeout",
                "global scrape timeout greater than scrape interval".into(),
            ));
        }
        Ok((interval, timeout.min(interval)))
    }

    /// The default rule group interval and the external labels.
    pub(crate) fn rule_defaults(&self, ctx: &Ctx<'_>) -> Result<(Duration, Labels), ConfigError> {
        let key = "global.evaluation_interval";
        let interval = ctx.positive_duration(
            self.evaluation_interval
                .as_deref()
                .map(|v| Given::file(v, key)),
            key,
            Duration::from_secs(60),
        )?;
        let mut external_labels = Labels::new();
        for (k, v) in &self.external_labels {
            if !valid_label_name(k) || k.starts_with("__") {
                return Err(ctx.at(
                    "global.external_labels",
                    None,
                    format!("{k:?} is not a valid label name"),
                ));
            }
            external_labels.set(k.clone(), v.clone());
        }
        Ok((interval, external_labels))
    }
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
    /// exporter-toolkit's web config file (`--web.config.file`).
    pub config_file: Option<PathBuf>,
}

impl WebSection {
    /// The listen address (`--web.listen-address` over the file's).
    pub(crate) fn listen(&self, ctx: &Ctx<'_>, flags: &Flags) -> Result<String, ConfigError> {
        let given = Given::pick(
            &flags.listen_address,
            &self.listen_address,
            "web.listen_address",
            "--web.listen-address",
        );
        match given {
            None => Ok(":9090".to_string()),
            Some(g) => {
                picket_core::config::check_listen(&g.value)
                    .map_err(|e| ctx.at(g.key, g.flag, e))?;
                Ok(g.value)
            }
        }
    }

    /// The web config file (`--web.config.file` over the file's), read
    /// here so a bad one stops the hub with its file, line and key; and
    /// whether it serves TLS.
    pub(crate) fn config_file(
        &self,
        flags: &Flags,
    ) -> Result<(Option<PathBuf>, bool), ConfigError> {
        let file = flags
            .web_config_file
            .clone()
            .or_else(|| self.config_file.clone());
        let tls = match &file {
            Some(f) => picket_core::web::Web::open(Some(f))?.is_tls(),
            None => false,
        };
        Ok((file, tls))
    }

    /// The external URL (`--web.external-url` over the file's), without
    /// a trailing `/`; by default Prometheus's `http://<hostname>:<port>`
    /// (`https://` when the web config serves TLS).
    pub(crate) fn external_url(
        &self,
        ctx: &Ctx<'_>,
        flags: &Flags,
        listen: &str,
        tls: bool,
    ) -> Result<String, ConfigError> {
        match flags.external_url.clone().or(self.external_url.clone()) {
            Some(u) => {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    let fl = flags.external_url.as_ref().map(|_| "--web.external-url");
                    return Err(ctx.at(
                        "web.external_url",
                        fl,
                        format!("{u:?} is not an http(s) URL"),
                    ));
                }
                Ok(u.trim_end_matches('/').to_string())
            }
            None => Ok(default_external_url(listen, tls)),
        }
    }
}

/// Prometheus's default external URL: `http://<hostname>:<port>`.
fn default_external_url(listen: &str, tls: bool) -> String {
    let host = picket_core::identity::hostname();
    let port = listen.rsplit_once(':').map_or("9090", |(_, p)| p);
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{host}:{port}")
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

impl StorageSection {
    /// The store's options (with the default decoded-sample cache, which
    /// `[query]` sets) and the commit interval; the `--storage.tsdb.*`
    /// flags win over the file.
    pub(crate) fn resolve(
        &self,
        ctx: &Ctx<'_>,
        flags: &Flags,
    ) -> Result<(store::Options, Duration), ConfigError> {
        let dir = (flags.tsdb_path.clone())
            .or(self.path.clone())
            .unwrap_or_else(|| "data".into());
        let retention = ctx.positive_duration(
            Given::pick(
                &flags.retention_time,
                &self.retention_time,
                "storage.retention_time",
                "--storage.tsdb.retention.time",
            ),
            "storage.retention_time",
            Duration::from_secs(15 * 86_400),
        )?;
        let retention_bytes = match Given::pick(
            &flags.retention_size,
            &self.retention_size,
            "storage.retention_size",
            "--storage.tsdb.retention.size",
        ) {
            None => 0,
            Some(g) => parse_size(&g.value).map_err(|e| ctx.at(g.key, g.flag, e))?,
        };
        let key = "storage.commit_interval";
        let commit_interval = ctx.duration(
            self.commit_interval.as_deref().map(|v| Given::file(v, key)),
            Duration::from_secs(5),
        )?;
        if commit_interval.is_zero() || commit_interval > Duration::from_secs(600) {
            return Err(ctx.at(key, None, "must be between 1ms and 10m".into()));
        }
        let sync_full = match self.synchronous.as_deref() {
            None | Some("normal") => false,
            Some("full") => true,
            Some(o) => {
                return Err(ctx.at(
                    "storage.synchronous",
                    None,
                    format!("{o:?}: expected \"normal\" or \"full\""),
                ))
            }
        };
        let options = store::Options {
            dir: PathBuf::from(dir),
            retention,
            retention_bytes,
            sync_full,
            cache_samples: store::DEFAULT_CACHE_SAMPLES,
            seal_threads: 0,
        };
        Ok((options, commit_interval))
    }
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

impl ReceiverSection {
    /// The largest body accepted and the accepted `Authorization` header
    /// values (empty: no auth).
    pub(crate) fn resolve(&self, ctx: &Ctx<'_>) -> Result<(usize, Vec<String>), ConfigError> {
        let max_body_bytes = match &self.max_body_size {
            None => 32 << 20,
            Some(v) => parse_size(v)
                .map_err(|e| ctx.at("remote_write_receiver.max_body_size", None, e))?
                as usize,
        };
        let mut auth = Vec::new();
        for (i, a) in self.auth.iter().enumerate() {
            match (&a.bearer_token, &a.username, &a.password) {
                (Some(t), None, None) if !t.is_empty() => auth.push(format!("Bearer {t}")),
                (None, Some(u), p) if !u.is_empty() => {
                    let creds = format!("{u}:{}", p.as_deref().unwrap_or(""));
                    auth.push(format!("Basic {}", base64(creds.as_bytes())));
                }
                _ => {
                    let key = format!("remote_write_receiver.auth[{i}]");
                    let line = picket_core::config::locate(ctx.src, &format!("{key}.bearer_token"))
                        .or_else(|| {
                            picket_core::config::locate(ctx.src, &format!("{key}.username"))
                        });
                    return Err(ctx.at_line(
                        &key,
                        line,
                        "give either bearer_token, or username (and password)".into(),
                    ));
                }
            }
        }
        Ok((max_body_bytes, auth))
    }
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

impl QuerySection {
    /// The query limits; the `--query.*` flags win over the file.
    pub(crate) fn resolve(
        &self,
        ctx: &Ctx<'_>,
        flags: &Flags,
    ) -> Result<promql::Options, ConfigError> {
        let timeout = ctx.positive_duration(
            Given::pick(
                &flags.query_timeout,
                &self.timeout,
                "query.timeout",
                "--query.timeout",
            ),
            "query.timeout",
            Duration::from_secs(120),
        )?;
        let lookback = ctx.positive_duration(
            Given::pick(
                &flags.query_lookback_delta,
                &self.lookback_delta,
                "query.lookback_delta",
                "--query.lookback-delta",
            ),
            "query.lookback_delta",
            Duration::from_secs(300),
        )?;
        let max_samples = count(
            ctx,
            (&flags.query_max_samples, "--query.max-samples"),
            self.max_samples,
            "query.max_samples",
            DEFAULT_MAX_SAMPLES,
        )?;
        let max_series = count(
            ctx,
            (&flags.query_max_series, "--query.max-series"),
            self.max_series,
            "query.max_series",
            DEFAULT_MAX_SERIES,
        )?;
        Ok(promql::Options {
            lookback_ms: lookback.as_millis().min(i64::MAX as u128) as i64,
            max_samples: usize::try_from(max_samples).unwrap_or(usize::MAX),
            max_series: usize::try_from(max_series).unwrap_or(usize::MAX),
            timeout,
            ..promql::Options::default()
        })
    }

    /// Decoded samples the store keeps for later queries.
    pub(crate) fn cache_samples(&self) -> usize {
        self.cache_samples
            .map_or(store::DEFAULT_CACHE_SAMPLES, |n| {
                usize::try_from(n).unwrap_or(usize::MAX)
            })
    }
}

/// A count limit of more than 0: the flag's (a whole number), else the
/// file's, else `default`.
fn count(
    ctx: &Ctx<'_>,
    (flag, fl): (&Option<String>, &'static str),
    file: Option<u64>,
    key: &str,
    default: u64,
) -> Result<u64, ConfigError> {
    let n = match (flag, file) {
        (Some(v), _) => v
            .trim()
            .parse::<u64>()
            .map_err(|_| ctx.at(key, Some(fl), format!("{v:?} is not a whole number")))?,
        (None, Some(n)) => n,
        (None, None) => default,
    };
    if n == 0 {
        return Err(ctx.at(key, flag.as_ref().map(|_| fl), "must be more than 0".into()));
    }
    Ok(n)
}

/// `[push_sources]`: liveness of boards that push ([`crate::liveness`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushSourcesSection {
    /// Silent for this many of its own intervals: `up 0` (default 3).
    pub down_after_intervals: Option<u32>,
    /// Silent for this long: forgotten, its `up` ends (default "24h").
    pub forget_after: Option<String>,
}

impl PushSourcesSection {
    /// The liveness options; a source's interval defaults to the scrape
    /// interval.
    pub(crate) fn resolve(
        &self,
        ctx: &Ctx<'_>,
        scrape_interval: Duration,
    ) -> Result<liveness::Options, ConfigError> {
        let down_after_intervals = self.down_after_intervals.unwrap_or(3);
        if down_after_intervals == 0 {
            return Err(ctx.at(
                "push_sources.down_after_intervals",
                None,
                "must be at least 1".into(),
            ));
        }
        let key = "push_sources.forget_after";
        Ok(liveness::Options {
            down_after_intervals,
            forget_after: ctx.duration(
                self.forget_after.as_deref().map(|v| Given::file(v, key)),
                Duration::from_secs(24 * 3600),
            )?,
            default_interval: scrape_interval,
        })
    }
}
