//! Alerting and recording rules, as Prometheus runs them: rule files in
//! Prometheus's format ([`file`]), their templates ([`template`], with
//! Go's number formatting in [`gofmt`]), the `[alerting]` config
//! ([`config`]); each alerting rule's state machine ([`alert`]), group
//! evaluation ([`group`]), the thread that runs groups ([`manager`]) and
//! the API ([`api`]). The alerts due to be sent leave here as
//! [`crate::notify::Alert`]s: delivering them (to Alertmanager, or
//! directly) is [`crate::notify`]'s business.
//!
//! Sites that moved from Prometheus bring their rule files unchanged;
//! `picket-hub check-rules` validates them as `promtool check rules` does.

pub(crate) mod alert;
pub(crate) mod api;
pub(crate) mod config;
pub mod file;
pub(crate) mod gofmt;
pub(crate) mod group;
pub(crate) mod manager;
pub(crate) mod template;

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
