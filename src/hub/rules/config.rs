//! `[alerting]` of the hub config: where alerts go (Prometheus's
//! `alerting.alertmanagers`) and the rule engine's timing flags
//! (`--rules.alert.resend-delay`, `--rules.alert.for-outage-tolerance`,
//! `--rules.alert.for-grace-period`), as written and checked. Kept apart
//! from the rule engine because it changes with the config format.

use std::time::Duration;

use serde::Deserialize;

use picket_core::config::parse_duration;

/// `[alerting]` as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingToml {
    /// Least time between two sends of an unchanged alert ("1m").
    pub resend_delay: Option<String>,
    /// How long the hub may be down and still restore `for` clocks ("1h").
    pub for_outage_tolerance: Option<String>,
    /// Least time an alert waits after a restart before firing ("10m").
    pub for_grace_period: Option<String>,
    /// `[[alerting.alertmanagers]]`.
    pub alertmanagers: Vec<AlertmanagerToml>,
}

/// One `[[alerting.alertmanagers]]` table as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertmanagerToml {
    /// `http` (default) or `https`.
    pub scheme: Option<String>,
    /// Path prefix of the Alertmanager API ("/").
    pub path_prefix: Option<String>,
    /// Timeout of one POST ("10s").
    pub timeout: Option<String>,
    /// Only "v2" (Alertmanager removed v1 in 0.27).
    pub api_version: Option<String>,
    /// Fixed targets.
    pub static_configs: Vec<StaticToml>,
}

/// `[[alerting.alertmanagers.static_configs]]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StaticToml {
    /// `host:port` of each Alertmanager.
    pub targets: Vec<String>,
}

/// The checked `[alerting]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Alerting {
    /// See [`AlertingToml::resend_delay`].
    pub resend_delay: Duration,
    /// See [`AlertingToml::for_outage_tolerance`].
    pub for_outage_tolerance: Duration,
    /// See [`AlertingToml::for_grace_period`].
    pub for_grace_period: Duration,
    /// Every Alertmanager's `…/api/v2/alerts` URL and its timeout.
    pub alertmanagers: Vec<(String, Duration)>,
}

impl Default for Alerting {
    fn default() -> Alerting {
        Alerting {
            resend_delay: Duration::from_secs(60),
            for_outage_tolerance: Duration::from_secs(3600),
            for_grace_period: Duration::from_secs(600),
            alertmanagers: Vec::new(),
        }
    }
}

/// Checks `[alerting]`; errors are `(dotted key, message)`.
pub fn resolve(t: &AlertingToml) -> Result<Alerting, (String, String)> {
    let d = Alerting::default();
    let dur = |v: &Option<String>, key: &str, def: Duration| match v {
        None => Ok(def),
        Some(s) => parse_duration(s).map_err(|e| (format!("alerting.{key}"), e)),
    };
    let mut out = Alerting {
        resend_delay: dur(&t.resend_delay, "resend_delay", d.resend_delay)?,
        for_outage_tolerance: dur(
            &t.for_outage_tolerance,
            "for_outage_tolerance",
            d.for_outage_tolerance,
        )?,
        for_grace_period: dur(&t.for_grace_period, "for_grace_period", d.for_grace_period)?,
        alertmanagers: Vec::new(),
    };
    for (i, am) in t.alertmanagers.iter().enumerate() {
        let key = |k: &str| format!("alerting.alertmanagers[{i}].{k}");
        let scheme = am.scheme.as_deref().unwrap_or("http");
        if scheme != "http" && scheme != "https" {
            return Err((
                key("scheme"),
                format!("{scheme:?}: expected \"http\" or \"https\""),
            ));
        }
        if let Some(v) = am.api_version.as_deref() {
            if v != "v2" {
                return Err((
                    key("api_version"),
                    format!("{v:?}: only \"v2\" is supported"),
                ));
            }
        }
        let timeout = match &am.timeout {
            None => Duration::from_secs(10),
            Some(s) => parse_duration(s).map_err(|e| (key("timeout"), e))?,
        };
        if timeout.is_zero() {
            return Err((key("timeout"), "must be more than 0".into()));
        }
        let prefix = am
            .path_prefix
            .as_deref()
            .unwrap_or("/")
            .trim_end_matches('/');
        if !prefix.is_empty() && !prefix.starts_with('/') {
            return Err((key("path_prefix"), format!("{prefix:?} must start with /")));
        }
        for (j, target) in am
            .static_configs
            .iter()
            .flat_map(|s| s.targets.iter())
            .enumerate()
        {
            if target.is_empty() || target.contains('/') || !target.contains(':') {
                return Err((
                    format!("alerting.alertmanagers[{i}].static_configs.targets"),
                    format!("target {j}: {target:?} is not host:port"),
                ));
            }
            out.alertmanagers.push((
                format!("{scheme}://{target}{prefix}/api/v2/alerts"),
                timeout,
            ));
        }
    }
    Ok(out)
}
