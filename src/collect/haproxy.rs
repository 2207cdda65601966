//! HAProxy, under haproxy_exporter's names (v0.15.0): drop-in for
//! dashboard 2428 and the alert rules written against it.
//!
//! STUB: the config interface is wired (sections, flags, targets); the
//! fetch (http(s) `;csv`, unix socket, tcp), the CSV parsing and the
//! metrics are still to be written.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::deadline::Deadline;
use super::{CollectError, Ctx, Out};

/// Default `--haproxy.timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// One `[[haproxy]]` table of the config file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Section {
    /// `http(s)://host/path;csv` (basic auth as `user:pass@` allowed),
    /// `unix:/path/to/socket` or `tcp://host:port`.
    pub scrape_uri: Option<String>,
    /// Verify the server certificate for https (default true).
    pub ssl_verify: Option<bool>,
    /// Per-scrape timeout (default 5s).
    pub timeout: Option<String>,
    /// Comma-separated CSV field indexes exported for servers (default all).
    pub server_metric_fields: Option<String>,
    /// Comma-separated server states to leave out (default none).
    pub server_exclude_states: Option<String>,
}

/// haproxy_exporter's flags (`--haproxy.*`).
#[derive(Debug, Default, Clone)]
pub struct Flags {
    /// `--haproxy.scrape-uri`, repeatable; replaces the file's tables.
    pub scrape_uri: Vec<String>,
    /// `--haproxy.ssl-verify` / `--no-haproxy.ssl-verify`.
    pub ssl_verify: Option<bool>,
    /// `--haproxy.timeout`.
    pub timeout: Option<String>,
    /// `--haproxy.server-metric-fields`.
    pub server_metric_fields: Option<String>,
    /// `--haproxy.server-exclude-states`.
    pub server_exclude_states: Option<String>,
}

/// One HAProxy instance to collect from.
#[derive(Debug)]
pub struct Target {
    /// Where the stats are.
    pub uri: String,
    /// Verify certificates.
    pub ssl_verify: bool,
    /// Per-scrape deadline.
    pub timeout: Duration,
    /// Server fields exported (None = all).
    pub server_metric_fields: Option<Vec<usize>>,
    /// Server states left out.
    pub server_exclude_states: Vec<String>,
    /// A call still running from an earlier scrape.
    pub deadline: Deadline,
}

/// A problem with a key: (dotted key or flag, message, from a flag).
pub type KeyError = (String, String, bool);

/// The targets of the file's `[[haproxy]]` tables, or of the flags.
pub fn resolve(sections: &[Section], flags: &Flags) -> Result<Vec<Arc<Target>>, KeyError> {
    let mut out = Vec::new();
    if !flags.scrape_uri.is_empty() {
        for uri in &flags.scrape_uri {
            let s = Section {
                scrape_uri: Some(uri.clone()),
                ssl_verify: flags.ssl_verify,
                timeout: flags.timeout.clone(),
                server_metric_fields: flags.server_metric_fields.clone(),
                server_exclude_states: flags.server_exclude_states.clone(),
            };
            out.push(target(&s).map_err(|(k, m)| (format!("--haproxy.{k}"), m, true))?);
        }
        return Ok(out);
    }
    for (i, s) in sections.iter().enumerate() {
        out.push(target(s).map_err(|(k, m)| (format!("haproxy[{i}].{k}"), m, false))?);
    }
    Ok(out)
}

fn target(s: &Section) -> Result<Arc<Target>, (&'static str, String)> {
    let uri = s
        .scrape_uri
        .clone()
        .ok_or(("scrape_uri", "missing".to_string()))?;
    if !(uri.starts_with("http://")
        || uri.starts_with("https://")
        || uri.starts_with("unix:")
        || uri.starts_with("tcp://"))
    {
        return Err((
            "scrape_uri",
            format!("{uri:?}: expected http://, https://, unix: or tcp://"),
        ));
    }
    let timeout = match &s.timeout {
        Some(t) => crate::push::config::parse_duration(t).map_err(|m| ("timeout", m))?,
        None => DEFAULT_TIMEOUT,
    };
    let server_metric_fields = match &s.server_metric_fields {
        None => None,
        Some(f) if f.trim().is_empty() => None,
        Some(f) => Some(
            f.split(',')
                .map(|x| x.trim().parse::<usize>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ("server_metric_fields", format!("{f:?}: {e}")))?,
        ),
    };
    let server_exclude_states = s
        .server_exclude_states
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect();
    Ok(Arc::new(Target {
        uri,
        ssl_verify: s.ssl_verify.unwrap_or(true),
        timeout,
        server_metric_fields,
        server_exclude_states,
        deadline: Deadline::default(),
    }))
}

/// Collects every configured instance.
pub fn update(ctx: &Ctx<'_>, _out: &mut Out<'_>) -> Result<(), CollectError> {
    if ctx.opts.haproxy.is_empty() {
        return Err(CollectError::NoData("no [[haproxy]] configured".into()));
    }
    Err(CollectError::Failed(
        "haproxy collector not written yet".into(),
    ))
}
