//! Alerting and recording rules, as Prometheus runs them: rule files in
//! Prometheus's format ([`file`]), their templates ([`template`], with
//! Go's number formatting in [`gofmt`]), the `[alerting]` config
//! ([`config`]); each alerting rule's state machine ([`alert`]), group
//! evaluation ([`group`]), the thread that runs groups ([`manager`]),
//! sending to Alertmanager ([`notifier`]) and the API ([`api`]); direct
//! notifications without Alertmanager: routing ([`route`]), grouping and
//! webhook delivery ([`dispatch`]), email ([`email`]), MQTT ([`mqtt`]),
//! silences ([`silence`]).
//!
//! Sites that moved from Prometheus bring their rule files unchanged;
//! `picket-hub check-rules` validates them as `promtool check rules` does.

pub mod alert;
pub mod api;
pub mod config;
pub mod dispatch;
pub mod email;
pub mod file;
pub mod gofmt;
pub mod group;
pub mod manager;
pub mod mqtt;
pub mod notifier;
pub mod route;
pub mod silence;
pub mod template;

use crate::config::HubConfig;

/// Expands the config's rule file patterns and loads every file; the
/// errors, one per line, naming file, line, group and rule.
pub fn load(cfg: &HubConfig) -> Result<Vec<file::Group>, String> {
    let files = file::expand(&cfg.rule_files, None)?;
    for p in &cfg.rule_files {
        let s = p.to_string_lossy();
        if !s.contains(['*', '?']) && !p.exists() {
            return Err(format!("{}: rule file does not exist", p.display()));
        }
    }
    file::load_all(&files, cfg.evaluation_interval).map_err(|errs| {
        errs.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })
}
