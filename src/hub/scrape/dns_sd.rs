//! DNS service discovery (Prometheus's `dns_sd_configs`): targets from SRV
//! records (the name's port included), or from A, AAAA or MX records with
//! the config's port; re-asked every `refresh_interval` (30 s).
//!
//! As Prometheus 2.42 (`discovery/dns`): each record is a target with
//! `__meta_dns_name` (the name asked), and for SRV
//! `__meta_dns_srv_record_target` and `__meta_dns_srv_record_port`, for MX
//! `__meta_dns_mx_record_target`; SRV and MX names lose their final dot in
//! the address. A lookup that fails keeps the name's previous targets; a
//! name that does not exist has none. The first lookup happens on the
//! discovery's thread, never under the scrape manager's lock.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::config::TargetGroup;
use super::dns::{self, QType, Record, ResolvConf};
use picket_core::metric::Labels;

/// Prometheus's default refresh interval.
const DEFAULT_REFRESH: Duration = Duration::from_secs(30);

/// Where the nameservers and search list come from, as for Prometheus.
const RESOLV_CONF: &str = "/etc/resolv.conf";

/// One `dns_sd_configs` entry as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsSdConfigToml {
    /// Names to ask.
    pub names: Vec<String>,
    /// How often to ask again ("30s").
    pub refresh_interval: Option<String>,
    /// `SRV` (default), `A`, `AAAA` or `MX`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The targets' port (required but for SRV, whose records carry it).
    pub port: Option<u16>,
}

/// A checked `dns_sd_configs` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsSdConfig {
    pub(crate) names: Vec<String>,
    pub(crate) refresh_interval: Duration,
    pub(crate) qtype: QType,
    pub(crate) port: u16,
}

impl DnsSdConfigToml {
    /// Checks the entry with Prometheus's messages; errors are `(key,
    /// message)` relative to the entry.
    pub(crate) fn resolve(self) -> Result<DnsSdConfig, (String, String)> {
        if self.names.is_empty() {
            return Err((
                "names".into(),
                "DNS-SD config must contain at least one SRV record name".into(),
            ));
        }
        let kind = self.kind.unwrap_or_else(|| "SRV".into());
        let qtype = match kind.to_ascii_uppercase().as_str() {
            "SRV" => QType::Srv,
            "A" => QType::A,
            "AAAA" => QType::Aaaa,
            "MX" => QType::Mx,
            _ => return Err(("type".into(), format!("invalid DNS-SD records type {kind}"))),
        };
        let port = self.port.unwrap_or(0);
        if qtype != QType::Srv && port == 0 {
            return Err((
                "port".into(),
                "a port is required in DNS-SD configs for all record types except SRV".into(),
            ));
        }
        let refresh_interval = match self.refresh_interval {
            None => DEFAULT_REFRESH,
            Some(s) => match picket_core::config::parse_duration(&s) {
                Ok(d) if !d.is_zero() => d,
                Ok(_) => return Err(("refresh_interval".into(), "must be more than 0".into())),
                Err(e) => return Err(("refresh_interval".into(), e)),
            },
        };
        Ok(DnsSdConfig {
            names: self.names,
            refresh_interval,
            qtype,
            port,
        })
    }
}

/// One entry's lookups and the targets they gave, by name.
#[derive(Debug)]
pub(crate) struct DnsSd {
    cfg: DnsSdConfig,
    resolv_conf: PathBuf,
    by_name: BTreeMap<String, Vec<TargetGroup>>,
    last: Option<Instant>,
}

impl DnsSd {
    pub(crate) fn new(cfg: DnsSdConfig) -> DnsSd {
        DnsSd {
            cfg,
            resolv_conf: PathBuf::from(RESOLV_CONF),
            by_name: BTreeMap::new(),
            last: None,
        }
    }

    /// At once for the first lookup, then every refresh interval.
    pub(crate) fn poll_period(&self) -> Duration {
        match self.last {
            None => Duration::ZERO,
            Some(t) => self.cfg.refresh_interval.saturating_sub(t.elapsed()),
        }
    }

    /// Asks every name again when due; true if the targets changed.
    pub(crate) fn refresh(&mut self) -> bool {
        if self
            .last
            .is_some_and(|t| t.elapsed() < self.cfg.refresh_interval)
        {
            return false;
        }
        self.last = Some(Instant::now());
        let conf = match ResolvConf::read(&self.resolv_conf) {
            Ok(c) => c,
            Err(e) => {
                log::error!("dns_sd: reading {}: {e}", self.resolv_conf.display());
                return false;
            }
        };
        let mut changed = false;
        for name in &self.cfg.names {
            match dns::lookup(&conf, name, self.cfg.qtype) {
                Ok(records) => {
                    let groups = groups(name, &records, self.cfg.port);
                    if self.by_name.get(name) != Some(&groups) {
                        self.by_name.insert(name.clone(), groups);
                        changed = true;
                    }
                }
                // The name keeps its targets, as in Prometheus.
                Err(e) => log::warn!("dns_sd: {e}"),
            }
        }
        changed
    }

    /// Every name's targets.
    pub(crate) fn groups(&self) -> Vec<TargetGroup> {
        self.by_name.values().flatten().cloned().collect()
    }
}

/// `host:port`, with brackets for an IPv6 address (Go's `JoinHostPort`).
fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The targets of one name's records, one group each (their labels
/// differ per record).
fn groups(name: &str, records: &[Record], port: u16) -> Vec<TargetGroup> {
    records
        .iter()
        .map(|r| {
            let mut l = Labels::new();
            l.set("__meta_dns_name", name);
            let addr = match r {
                Record::Srv(p, target) => {
                    l.set("__meta_dns_srv_record_target", target.clone());
                    l.set("__meta_dns_srv_record_port", p.to_string());
                    join_host_port(target.trim_end_matches('.'), *p)
                }
                Record::Mx(target) => {
                    l.set("__meta_dns_mx_record_target", target.clone());
                    join_host_port(target.trim_end_matches('.'), port)
                }
                Record::A(ip) => join_host_port(&ip.to_string(), port),
                Record::Aaaa(ip) => join_host_port(&ip.to_string(), port),
            };
            TargetGroup {
                targets: vec![addr],
                labels: l,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_checks_as_prometheus() {
        let c = |k: Option<&str>, port: Option<u16>| DnsSdConfigToml {
            names: vec!["_node._tcp.lan".into()],
            kind: k.map(str::to_string),
            port,
            ..DnsSdConfigToml::default()
        };
        assert_eq!(c(None, None).resolve().unwrap().qtype, QType::Srv);
        assert_eq!(c(Some("a"), Some(9100)).resolve().unwrap().qtype, QType::A);
        assert!(c(Some("A"), None)
            .resolve()
            .unwrap_err()
            .1
            .contains("a port is required"));
        assert!(c(Some("TXT"), Some(1))
            .resolve()
            .unwrap_err()
            .1
            .contains("invalid DNS-SD records type TXT"));
        let none = DnsSdConfigToml::default().resolve().unwrap_err();
        assert_eq!(none.0, "names");
    }

    #[test]
    fn records_become_targets_with_meta_labels() {
        let g = groups(
            "_node._tcp.lan",
            &[
                Record::Srv(9100, "pi1.lan.".into()),
                Record::Aaaa("::1".parse().unwrap()),
            ],
            80,
        );
        assert_eq!(g[0].targets, ["pi1.lan:9100"]);
        assert_eq!(
            g[0].labels.get("__meta_dns_srv_record_target"),
            Some("pi1.lan.")
        );
        assert_eq!(g[0].labels.get("__meta_dns_srv_record_port"), Some("9100"));
        assert_eq!(g[1].targets, ["[::1]:80"]);
        assert_eq!(g[1].labels.get("__meta_dns_name"), Some("_node._tcp.lan"));
    }
}
