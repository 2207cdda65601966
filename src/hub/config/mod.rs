//! picket-hub's configuration: the TOML file (configs/hub.toml), Prometheus's
//! flag spellings, and the checked settings the hub runs on.
//!
//! As for the agent: the file is read strictly (unknown keys are errors),
//! precedence is embedded defaults < file < flags, and every error names
//! the file, the line and the dotted key.
//!
//! Each section checks itself, next to its definition, against the one
//! error locator ([`ctx::Ctx`]: the file's path and text for
//! [`picket_core::config::locate`]): the hub's own small sections in
//! [`sections`], the others with their subsystem. [`load`] only reads the
//! file and puts the checked sections together.

pub(crate) mod ctx;
pub(crate) mod prometheus;
pub(crate) mod sections;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::mqtt::config::{MqttInput, MqttSection};
use crate::notify::config::{Notify, NotifyToml};
use crate::rules::config::{Alerting, AlertingToml};
use crate::scrape::{self, ScrapeConfig, ScrapeConfigToml};
use crate::{liveness, promql, store};
pub use ctx::Ctx;
use picket_core::config::{read_toml, ConfigError};
use picket_core::metric::Labels;
pub use sections::{
    parse_size, AuthEntry, GlobalSection, PushSourcesSection, QuerySection, ReceiverSection,
    StorageSection, WebSection, DEFAULT_MAX_SAMPLES, DEFAULT_MAX_SERIES,
};

/// The file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HubFile {
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
    pub mqtt: Option<MqttSection>,
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
    /// `--web.config.file`
    pub web_config_file: Option<PathBuf>,
    /// `--hub.config.file`: the hub's own sections (storage tuning, MQTT,
    /// notifications, …) when `--config.file` is a prometheus.yml.
    pub hub_config_file: Option<PathBuf>,
    /// `--alertmanager.config.file`: direct notifications from an
    /// unchanged alertmanager.yml (replaces `notify.config_file`).
    pub alertmanager_config_file: Option<PathBuf>,
    /// `--web.enable-admin-api`: the admin endpoints (snapshot).
    pub admin_api: bool,
}

/// The checked settings.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Where to listen.
    pub listen_address: String,
    /// exporter-toolkit's web config file (TLS, basic auth on every
    /// endpoint), checked when the config is read; re-read by the server
    /// when it changes.
    pub web_config_file: Option<PathBuf>,
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
    pub mqtt: Option<MqttInput>,
    /// Liveness of push sources.
    pub push_sources: liveness::Options,
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
    /// prometheus.yml's `remote_write` entries, checked (the hub does not
    /// forward yet: a warning says so at start).
    pub remote_write: Vec<prometheus::RemoteWriteYaml>,
    /// `--web.enable-admin-api`.
    pub admin_api: bool,
}

/// Reads and checks a config file (and the flags over it): the hub's TOML
/// or a prometheus.yml (told apart by content), with `--hub.config.file`
/// beside the latter.
pub fn load(file: Option<&Path>, flags: &Flags) -> Result<HubConfig, ConfigError> {
    let Some(p) = file else {
        if let Some(h) = &flags.hub_config_file {
            return Err(only_with_prometheus_yml(h));
        }
        // Prometheus's default configuration scrapes Prometheus itself.
        let listen = flags.listen_address.as_deref().unwrap_or(":9090");
        let f = toml::from_str::<HubFile>(&self_scrape(listen)).map_err(|e| ConfigError {
            file: None,
            line: None,
            key: Some("--web.listen-address".into()),
            msg: e.to_string(),
        })?;
        let ctx = Ctx::new(None, "");
        return resolve(&ctx, &ctx, f, flags);
    };
    let src = picket_core::config::read_text(p)?;
    if !prometheus::is_yaml(&src) {
        if let Some(h) = &flags.hub_config_file {
            return Err(only_with_prometheus_yml(h));
        }
        let f = picket_core::config::parse_toml::<HubFile>(p, &src)?;
        let ctx = Ctx::new(Some(p), &src);
        return resolve(&ctx, &ctx, f, flags);
    }
    let (hub_src, mut hub) = match &flags.hub_config_file {
        Some(h) => read_toml::<HubFile>(h)?,
        None => (String::new(), HubFile::default()),
    };
    let hub_ctx = Ctx::new(flags.hub_config_file.as_deref(), &hub_src);
    let prom = prometheus::merge(p, &mut hub, &hub_ctx)?;
    let prom_ctx = Ctx::yaml(p, &prom.main.src, &prom.main.tree);
    let mut cfg = resolve(&prom_ctx, &hub_ctx, hub, flags)?;
    for (f, r) in &prom.included {
        let ctx = Ctx::yaml(f, &r.src, &r.tree);
        let more = scrape::config::resolve_section(
            r.value.clone(),
            cfg.scrape_interval,
            cfg.scrape_timeout,
            &ctx,
        )?;
        for c in more {
            if cfg.scrape_configs.iter().any(|o| o.job_name == c.job_name) {
                return Err(ctx.key(
                    "scrape_configs",
                    format!(
                        "found multiple scrape configs with job name {:?}",
                        c.job_name
                    ),
                ));
            }
            cfg.scrape_configs.push(c);
        }
    }
    cfg.remote_write = prom.remote_write;
    Ok(cfg)
}

fn only_with_prometheus_yml(h: &Path) -> ConfigError {
    ConfigError {
        file: None,
        line: None,
        key: Some("--hub.config.file".into()),
        msg: format!(
            "{} is for the hub's own sections beside a prometheus.yml; give a hub.toml as --config.file instead",
            h.display()
        ),
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

/// Checks every section, in the order the file's errors have always been
/// reported, and puts them together. `prom` locates the sections
/// Prometheus has (global, rule files, scrape configs, Alertmanagers),
/// `hub` the hub's own; both are the same file's unless a prometheus.yml
/// is read beside a hub.toml.
pub(crate) fn resolve(
    prom: &Ctx<'_>,
    hub: &Ctx<'_>,
    f: HubFile,
    flags: &Flags,
) -> Result<HubConfig, ConfigError> {
    let listen_address = f.web.listen(hub, flags)?;
    let (web_config_file, tls) = f.web.config_file(flags)?;
    let (mut store, commit_interval) = f.storage.resolve(hub, flags)?;
    let (max_body_bytes, auth) = f.remote_write_receiver.resolve(hub)?;
    let (scrape_interval, scrape_timeout) = f.global.scrape_defaults(prom)?;
    let query = f.query.resolve(hub, flags)?;
    store.cache_samples = f.query.cache_samples();
    let scrape_configs =
        scrape::config::resolve_section(f.scrape_configs, scrape_interval, scrape_timeout, prom)?;
    let mqtt =
        crate::mqtt::config::resolve_section(f.mqtt.as_ref(), flags.mqtt_url.as_deref(), hub)?;
    let (evaluation_interval, external_labels) = f.global.rule_defaults(prom)?;
    let external_url = f.web.external_url(hub, flags, &listen_address, tls)?;
    // The rule engine's timing is the hub's; the Alertmanagers are
    // Prometheus's section.
    let mut timing = f.alerting.clone();
    timing.alertmanagers.clear();
    timing.alert_relabel_configs.clear();
    let mut alerting = timing.resolve(hub)?;
    let ams = crate::rules::config::AlertingToml {
        alertmanagers: f.alerting.alertmanagers,
        alert_relabel_configs: f.alerting.alert_relabel_configs,
        ..Default::default()
    }
    .resolve(prom)?;
    alerting.alertmanagers = ams.alertmanagers;
    alerting.alert_relabel = ams.alert_relabel;
    let notify = f.notify.resolve(hub, flags)?;
    let push_sources = f.push_sources.resolve(hub, scrape_interval)?;
    Ok(HubConfig {
        listen_address,
        web_config_file,
        store,
        commit_interval,
        max_body_bytes,
        auth,
        scrape_interval,
        scrape_timeout,
        scrape_configs,
        query,
        mqtt,
        push_sources,
        rule_files: rule_files(prom, &f.rule_files, flags),
        evaluation_interval,
        external_labels,
        external_url,
        alerting,
        notify,
        remote_write: Vec::new(),
        admin_api: flags.admin_api,
    })
}

/// The file's rule file patterns, relative to the file's directory, then
/// the `--rule-file`s.
fn rule_files(ctx: &Ctx<'_>, patterns: &[String], flags: &Flags) -> Vec<PathBuf> {
    let base = ctx.file.and_then(Path::parent);
    let mut out: Vec<PathBuf> = patterns
        .iter()
        .map(|p| match base {
            Some(b) if Path::new(p).is_relative() => b.join(p),
            _ => PathBuf::from(p),
        })
        .collect();
    out.extend(flags.rule_files.iter().cloned());
    out
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
