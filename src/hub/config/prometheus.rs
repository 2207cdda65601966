//! prometheus.yml, read unchanged into the hub's one config model.
//!
//! `--config.file` takes Prometheus's YAML or the hub's TOML, told apart
//! by content ([`is_yaml`]). A prometheus.yml fills the sections
//! Prometheus has (`global`, `rule_files`, `scrape_config_files`,
//! `scrape_configs`, `alerting`, `remote_write`, `storage`) with
//! Prometheus's defaults (scrape and evaluation interval 1m, timeout 10s);
//! what Prometheus has no place for (the hub's storage tuning, the MQTT
//! input, push-source liveness, receiver credentials, direct
//! notifications) stays in a hub.toml given with `--hub.config.file`,
//! which may then hold only those sections. Both become one [`HubFile`]
//! that one `resolve` checks, each section's errors located in the file
//! it came from.
//!
//! Keys Prometheus has and the hub cannot honour (service discoveries
//! other than static, file and DNS; proxies, OAuth 2, SigV4, remote read)
//! are errors naming the key and what is supported, never ignored.

use std::path::{Path, PathBuf};

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::HubFile;
use crate::notify::alertmanager::AlertmanagerToml;
use crate::scrape::ScrapeConfigToml;
use picket_core::config::{ConfigError, Locator};
use picket_core::relabel::RelabelConfigToml;
use picket_core::yaml::{self, de::from_node, Node, Value};

/// True when a config file's text is YAML rather than TOML: its first
/// significant line is `key:` (or a list item), not `key = …` or a
/// `[table]` header.
pub(crate) fn is_yaml(src: &str) -> bool {
    for l in src.lines() {
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if t == "---" || t.starts_with("- ") {
            return true;
        }
        if t.starts_with('[') {
            return false;
        }
        return match (t.find(':'), t.find('=')) {
            (Some(c), Some(e)) => c < e,
            (Some(_), None) => true,
            _ => false,
        };
    }
    false
}

/// prometheus.yml as written (Prometheus 2.x keys; `deny_unknown_fields`
/// as Prometheus's strict YAML reading).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct PromFile {
    pub global: PromGlobal,
    pub rule_files: Vec<String>,
    pub scrape_config_files: Vec<String>,
    pub scrape_configs: Vec<ScrapeConfigToml>,
    pub alerting: PromAlerting,
    pub remote_write: Vec<RemoteWriteYaml>,
    pub storage: PromStorage,
    /// Prometheus's own tracing: accepted, nothing to trace here.
    pub tracing: Option<IgnoredAny>,
}

/// `global:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct PromGlobal {
    pub scrape_interval: Option<String>,
    pub scrape_timeout: Option<String>,
    pub evaluation_interval: Option<String>,
    pub external_labels: std::collections::BTreeMap<String, String>,
    /// Accepted; the hub keeps no query log.
    pub query_log_file: Option<String>,
}

/// `alerting:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct PromAlerting {
    pub alert_relabel_configs: Vec<RelabelConfigToml>,
    pub alertmanagers: Vec<AlertmanagerToml>,
}

/// `storage:`: accepted (the hub takes samples out of order anyway).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct PromStorage {
    pub tsdb: Option<PromTsdb>,
    pub exemplars: Option<IgnoredAny>,
}

/// `storage.tsdb`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct PromTsdb {
    pub out_of_order_time_window: Option<String>,
}

/// One `remote_write:` entry, read and checked; the hub's forwarding
/// builds on it.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteWriteYaml {
    /// Receiver URL.
    pub url: String,
    /// Queue name.
    pub name: Option<String>,
    /// Timeout of one request ("30s").
    pub remote_timeout: Option<String>,
    /// Extra HTTP headers.
    pub headers: std::collections::BTreeMap<String, String>,
    /// Relabelling of what is sent.
    pub write_relabel_configs: Vec<RelabelConfigToml>,
    /// Client credentials and TLS.
    pub basic_auth: Option<picket_core::web::client::BasicAuthToml>,
    /// `Authorization` header.
    pub authorization: Option<picket_core::web::client::AuthorizationToml>,
    /// Deprecated bearer token.
    pub bearer_token: Option<String>,
    /// Deprecated bearer token file.
    pub bearer_token_file: Option<PathBuf>,
    /// TLS.
    pub tls_config: Option<picket_core::web::client::TlsConfigToml>,
    /// Queue tuning (accepted).
    pub queue_config: Option<IgnoredAny>,
    /// Metadata sending (accepted).
    pub metadata_config: Option<IgnoredAny>,
    /// Accepted.
    pub send_exemplars: Option<bool>,
    /// Accepted.
    pub send_native_histograms: Option<bool>,
    /// Accepted.
    pub follow_redirects: Option<bool>,
    /// Accepted.
    pub enable_http2: Option<bool>,
}

/// Service discoveries the hub runs.
const SUPPORTED_SD: [&str; 3] = ["static_configs", "file_sd_configs", "dns_sd_configs"];

/// Keys of Prometheus's config the hub refuses, and why.
const REFUSED: [(&str, &str); 7] = [
    ("remote_read", "picket-hub has no remote read"),
    ("proxy_url", "picket-hub does not scrape through proxies"),
    (
        "proxy_from_environment",
        "picket-hub does not scrape through proxies",
    ),
    (
        "proxy_connect_header",
        "picket-hub does not scrape through proxies",
    ),
    (
        "oauth2",
        "OAuth 2 is not supported (basic_auth, authorization, bearer_token and tls_config are)",
    ),
    (
        "sigv4",
        "SigV4 is not supported (basic_auth, authorization and tls_config are)",
    ),
    (
        "azuread",
        "Azure AD is not supported (basic_auth, authorization and tls_config are)",
    ),
];

/// The first key of the tree the hub cannot honour: `(dotted key,
/// message)`.
fn refused(node: &Node, path: &str) -> Option<(String, String)> {
    match &node.value {
        Value::Map(entries) => {
            for (k, v) in entries {
                let key = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if let Some((_, why)) = REFUSED.iter().find(|(r, _)| r == k) {
                    return Some((key, why.to_string()));
                }
                if let Some(sd) = k.strip_suffix("_sd_configs") {
                    if !SUPPORTED_SD.contains(&k.as_str()) {
                        return Some((
                            key,
                            format!(
                                "{sd} service discovery is not supported by picket-hub (supported: {})",
                                SUPPORTED_SD.join(", ")
                            ),
                        ));
                    }
                }
                if let Some(r) = refused(v, &key) {
                    return Some(r);
                }
            }
            None
        }
        Value::Seq(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, n)| refused(n, &format!("{path}[{i}]"))),
        _ => None,
    }
}

/// A YAML config file read: its text and tree (for locating errors) and
/// its value.
pub(crate) struct Read<T> {
    pub src: String,
    pub tree: Node,
    pub value: T,
}

/// Reads a YAML file into `T`, errors at file, line and key.
pub(crate) fn read_yaml<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<Read<T>, ConfigError> {
    let src = picket_core::config::read_text(path)?;
    let tree = yaml::parse(&src).map_err(|e| ConfigError {
        file: Some(path.to_path_buf()),
        line: Some(e.line),
        key: None,
        msg: e.msg,
    })?;
    if let Some((key, msg)) = refused(&tree, "") {
        return Err(Locator::yaml(path, &src, &tree).key(&key, msg));
    }
    let value = from_node::<T>(&tree).map_err(|e| ConfigError {
        file: Some(path.to_path_buf()),
        line: e.line,
        key: (!e.path.is_empty()).then_some(e.path),
        msg: e.msg,
    })?;
    Ok(Read { src, tree, value })
}

/// What a prometheus.yml (and its `scrape_config_files`) add to the hub
/// file: the sections, and the files the scrape configs came from.
pub(crate) struct Prometheus {
    /// The prometheus.yml itself.
    pub main: Read<()>,
    /// Each `scrape_config_files` file with its scrape configs (resolved
    /// against its own locator).
    pub included: Vec<(PathBuf, Read<Vec<ScrapeConfigToml>>)>,
    /// The `remote_write` entries (checked; forwarding builds on them).
    pub remote_write: Vec<RemoteWriteYaml>,
}

/// The sections a hub.toml given with a prometheus.yml may not hold.
fn owned_by_prometheus(f: &HubFile) -> Option<&'static str> {
    if !f.rule_files.is_empty() {
        return Some("rule_files");
    }
    if !f.scrape_configs.is_empty() {
        return Some("scrape_configs");
    }
    if !f.alerting.alertmanagers.is_empty() {
        return Some("alerting.alertmanagers");
    }
    if !f.alerting.alert_relabel_configs.is_empty() {
        return Some("alerting.alert_relabel_configs");
    }
    let g = &f.global;
    if g.scrape_interval.is_some()
        || g.scrape_timeout.is_some()
        || g.evaluation_interval.is_some()
        || !g.external_labels.is_empty()
    {
        return Some("global");
    }
    None
}

/// Reads a prometheus.yml into `hub` (the hub.toml given with
/// `--hub.config.file`, or an empty one).
pub(crate) fn merge(
    path: &Path,
    hub: &mut HubFile,
    hub_ctx: &Locator<'_>,
) -> Result<Prometheus, ConfigError> {
    if let Some(key) = owned_by_prometheus(hub) {
        return Err(hub_ctx.key(
            key,
            format!(
                "belongs in {} (--config.file) when a prometheus.yml is given",
                path.display()
            ),
        ));
    }
    let read = read_yaml::<PromFile>(path)?;
    let p = read.value;
    let ctx = Locator::yaml(path, &read.src, &read.tree);
    if let Some(tsdb) = &p.storage.tsdb {
        if let Some(w) = &tsdb.out_of_order_time_window {
            picket_core::config::parse_duration(w)
                .map_err(|e| ctx.key("storage.tsdb.out_of_order_time_window", e))?;
        }
    }
    for (i, rw) in p.remote_write.iter().enumerate() {
        check_remote_write(rw).map_err(|(k, m)| ctx.key(&format!("remote_write[{i}].{k}"), m))?;
    }
    // Prometheus's defaults, where the hub's own differ.
    hub.global.scrape_interval = Some(p.global.scrape_interval.unwrap_or_else(|| "1m".into()));
    // Unset, the timeout is 10s cut to the interval (the hub's default too).
    hub.global.scrape_timeout = p.global.scrape_timeout;
    hub.global.evaluation_interval =
        Some(p.global.evaluation_interval.unwrap_or_else(|| "1m".into()));
    hub.global.external_labels = p.global.external_labels;
    hub.rule_files = p.rule_files;
    hub.scrape_configs = p.scrape_configs;
    hub.alerting.alertmanagers = p.alerting.alertmanagers;
    hub.alerting.alert_relabel_configs = p.alerting.alert_relabel_configs;
    let mut included = Vec::new();
    let dir = path.parent().unwrap_or(Path::new("."));
    for (i, pattern) in p.scrape_config_files.iter().enumerate() {
        let files = crate::scrape::file_sd::expand(&dir.join(pattern))
            .map_err(|e| ctx.key(&format!("scrape_config_files[{i}]"), e.to_string()))?;
        for f in files {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Only {
                #[serde(default)]
                scrape_configs: Vec<ScrapeConfigToml>,
            }
            let r = read_yaml::<Only>(&f)?;
            included.push((
                f,
                Read {
                    src: r.src,
                    tree: r.tree,
                    value: r.value.scrape_configs,
                },
            ));
        }
    }
    Ok(Prometheus {
        main: Read {
            src: read.src,
            tree: read.tree,
            value: (),
        },
        included,
        remote_write: p.remote_write,
    })
}

/// Checks a `remote_write` entry: `(key, message)` on error.
fn check_remote_write(rw: &RemoteWriteYaml) -> Result<(), (String, String)> {
    if rw.url.is_empty() {
        return Err(("url".into(), "missing".into()));
    }
    if !(rw.url.starts_with("http://") || rw.url.starts_with("https://")) {
        return Err((
            "url".into(),
            format!("{:?}: expected an http or https URL", rw.url),
        ));
    }
    if let Some(t) = &rw.remote_timeout {
        picket_core::config::parse_duration(t).map_err(|e| ("remote_timeout".to_string(), e))?;
    }
    for (i, r) in rw.write_relabel_configs.iter().enumerate() {
        r.clone()
            .resolve()
            .map_err(|(k, m)| (format!("write_relabel_configs[{i}].{k}"), m))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_yaml_from_toml() {
        for y in [
            "global:\n  scrape_interval: 15s\n",
            "# c\n\nscrape_configs:\n  - job_name: a\n",
            "---\nglobal: {}\n",
            "rule_files: ['a = b']\n",
        ] {
            assert!(is_yaml(y), "{y}");
        }
        for t in [
            "rule_files = [\"a:b\"]\n",
            "[global]\nscrape_interval = \"15s\"\n",
            "# only\n",
            "",
            "[[scrape_configs]]\n",
        ] {
            assert!(!is_yaml(t), "{t}");
        }
    }

    #[test]
    fn refuses_what_it_cannot_honour_by_name() {
        let t = yaml::parse(
            "scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs:\n      - role: pod\n",
        )
        .unwrap();
        let (k, m) = refused(&t, "").unwrap();
        assert_eq!(k, "scrape_configs[0].kubernetes_sd_configs");
        assert!(
            m.contains("kubernetes") && m.contains("file_sd_configs"),
            "{m}"
        );
        let t = yaml::parse("remote_read:\n  - url: http://x\n").unwrap();
        assert_eq!(refused(&t, "").unwrap().0, "remote_read");
        let t = yaml::parse("scrape_configs:\n  - job_name: a\n    file_sd_configs: []\n").unwrap();
        assert!(refused(&t, "").is_none());
    }
}
