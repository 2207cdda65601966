//! `[alerting]` of the hub config: where alerts go (Prometheus's
//! `alerting.alertmanagers`) and the rule engine's timing flags
//! (`--rules.alert.resend-delay`, `--rules.alert.for-outage-tolerance`,
//! `--rules.alert.for-grace-period`), as written and checked. Kept apart
//! from the rule engine because it changes with the config format; the
//! Alertmanager tables are checked by their sender
//! ([`crate::notify::alertmanager`]).

use std::time::Duration;

use serde::Deserialize;

use crate::config::Ctx;
use crate::notify::alertmanager::{AlertmanagerToml, AmDiscovery};
use picket_core::config::parse_duration;
use picket_core::config::ConfigError;

/// `[alerting]` as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AlertingToml {
    /// Least time between two sends of an unchanged alert ("1m").
    pub resend_delay: Option<String>,
    /// How long the hub may be down and still restore `for` clocks ("1h").
    pub for_outage_tolerance: Option<String>,
    /// Least time an alert waits after a restart before firing ("10m").
    pub for_grace_period: Option<String>,
    /// `[[alerting.alertmanagers]]`.
    pub alertmanagers: Vec<AlertmanagerToml>,
    /// Relabelling of every alert sent to Alertmanager (after the
    /// external labels), Prometheus's `alert_relabel_configs`.
    pub alert_relabel_configs: Vec<picket_core::relabel::RelabelConfigToml>,
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
    /// Every Alertmanager: its `…/api/v2/alerts` URL, timeout and client.
    pub alertmanagers: Vec<AmDiscovery>,
    /// `alert_relabel_configs`.
    pub alert_relabel: Vec<picket_core::relabel::Relabel>,
}

impl Default for Alerting {
    fn default() -> Alerting {
        Alerting {
            resend_delay: Duration::from_secs(60),
            for_outage_tolerance: Duration::from_secs(3600),
            for_grace_period: Duration::from_secs(600),
            alertmanagers: Vec::new(),
            alert_relabel: Vec::new(),
        }
    }
}

impl AlertingToml {
    /// Checks `[alerting]`; errors at the key's line, else its table's.
    pub(crate) fn resolve(&self, ctx: &Ctx<'_>) -> Result<Alerting, ConfigError> {
        let dir = ctx.file.and_then(std::path::Path::parent);
        check(self, dir).map_err(|(key, msg)| ctx.in_table(&key, msg))
    }
}

/// Checks `[alerting]`; errors are `(dotted key, message)`.
fn check(t: &AlertingToml, dir: Option<&std::path::Path>) -> Result<Alerting, (String, String)> {
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
        alert_relabel: Vec::new(),
    };
    for (i, r) in t.alert_relabel_configs.iter().enumerate() {
        out.alert_relabel.push(
            r.clone()
                .resolve()
                .map_err(|(k, m)| (format!("alerting.alert_relabel_configs[{i}].{k}"), m))?,
        );
    }
    for (i, am) in t.alertmanagers.iter().enumerate() {
        out.alertmanagers.push(am.resolve(i, dir)?);
    }
    Ok(out)
}
