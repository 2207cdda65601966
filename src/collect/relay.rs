//! Scrape relay: other /metrics endpoints on the board, served through
//! picket's /metrics and push path.
//!
//! STUB: config interface only.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::deadline::Deadline;
use super::{CollectError, Ctx, Out};

/// Default per-scrape timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// One `[[relay]]` table of the config file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Section {
    /// The endpoint, `http://127.0.0.1:8405/metrics`.
    pub url: Option<String>,
    /// The `job` label (default "relay").
    pub job: Option<String>,
    /// The `instance` label (default: the URL's host:port).
    pub instance: Option<String>,
    /// Keep the endpoint's own `job`/`instance` labels (Prometheus's
    /// honor_labels); otherwise they are renamed `exported_job`/`exported_instance`.
    pub honor_labels: Option<bool>,
    /// Per-scrape timeout (default 5s).
    pub timeout: Option<String>,
}

/// One endpoint to relay.
#[derive(Debug)]
pub struct Target {
    /// The endpoint.
    pub url: String,
    /// `job` label.
    pub job: String,
    /// `instance` label.
    pub instance: String,
    /// Keep the endpoint's `job`/`instance`.
    pub honor_labels: bool,
    /// Per-scrape deadline.
    pub timeout: Duration,
    /// A call still running from an earlier scrape.
    pub deadline: Deadline,
}

/// A problem with a key: (dotted key, message, from a flag).
pub type KeyError = (String, String, bool);

/// The targets of the file's `[[relay]]` tables.
pub fn resolve(sections: &[Section]) -> Result<Vec<Arc<Target>>, KeyError> {
    let mut out = Vec::new();
    for (i, s) in sections.iter().enumerate() {
        let key = |k: &str| format!("relay[{i}].{k}");
        let url = s
            .url
            .clone()
            .ok_or((key("url"), "missing".to_string(), false))?;
        let hostport = url
            .strip_prefix("http://")
            .and_then(|r| r.split('/').next())
            .filter(|h| !h.is_empty())
            .ok_or((
                key("url"),
                format!("{url:?}: expected http://host:port/path"),
                false,
            ))?
            .to_string();
        let timeout = match &s.timeout {
            Some(t) => {
                crate::push::config::parse_duration(t).map_err(|m| (key("timeout"), m, false))?
            }
            None => DEFAULT_TIMEOUT,
        };
        out.push(Arc::new(Target {
            url,
            job: s.job.clone().unwrap_or_else(|| "relay".into()),
            instance: s.instance.clone().unwrap_or(hostport),
            honor_labels: s.honor_labels.unwrap_or(false),
            timeout,
            deadline: Deadline::default(),
        }));
    }
    Ok(out)
}

/// Fetches every endpoint.
pub fn update(ctx: &Ctx<'_>, _out: &mut Out<'_>) -> Result<(), CollectError> {
    if ctx.opts.relay.is_empty() {
        return Err(CollectError::NoData("no [[relay]] configured".into()));
    }
    Err(CollectError::Failed("relay not written yet".into()))
}
