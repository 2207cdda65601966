//! PostgreSQL, under postgres_exporter's names (v0.11.1 defaults): drop-in
//! for dashboard 9628 and the alert rules written against it.
//!
//! STUB: the config interface is wired (sections, DATA_SOURCE_NAME,
//! targets); the queries and metrics are still to be written.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::deadline::Deadline;
use super::{CollectError, Ctx, Out};

/// Default per-scrape timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// One `[[postgres]]` table of the config file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Section {
    /// `postgresql://user@host:port/db?sslmode=disable` or
    /// `host=... port=... user=... dbname=...`.
    pub dsn: Option<String>,
    /// A file holding the password (first line), instead of one in the DSN.
    pub password_file: Option<PathBuf>,
    /// Per-scrape timeout (default 5s).
    pub timeout: Option<String>,
}

/// postgres_exporter's environment (`DATA_SOURCE_NAME` and friends).
#[derive(Debug, Default, Clone)]
pub struct Env {
    /// `DATA_SOURCE_NAME`: one DSN or a comma-separated list; replaces the
    /// file's tables.
    pub data_source_name: Option<String>,
    /// `DATA_SOURCE_PASS_FILE`.
    pub pass_file: Option<PathBuf>,
}

impl Env {
    /// Reads the process environment.
    pub fn from_process() -> Env {
        Env {
            data_source_name: std::env::var("DATA_SOURCE_NAME")
                .ok()
                .filter(|s| !s.is_empty()),
            pass_file: std::env::var_os("DATA_SOURCE_PASS_FILE").map(PathBuf::from),
        }
    }
}

/// One PostgreSQL server to collect from.
pub struct Target {
    /// The DSN as given (may hold a password: never logged or shown).
    pub dsn: String,
    /// Password file.
    pub password_file: Option<PathBuf>,
    /// Per-scrape deadline.
    pub timeout: Duration,
    /// A call still running from an earlier scrape.
    pub deadline: Deadline,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the DSN: it can carry a password.
        f.debug_struct("Target")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A problem with a key: (dotted key or variable, message, from the environment).
pub type KeyError = (String, String, bool);

/// The targets of the file's `[[postgres]]` tables, or of the environment.
pub fn resolve(sections: &[Section], env: &Env) -> Result<Vec<Arc<Target>>, KeyError> {
    let mut out = Vec::new();
    if let Some(list) = &env.data_source_name {
        for dsn in list.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            out.push(Arc::new(Target {
                dsn: dsn.to_string(),
                password_file: env.pass_file.clone(),
                timeout: DEFAULT_TIMEOUT,
                deadline: Deadline::default(),
            }));
        }
        return Ok(out);
    }
    for (i, s) in sections.iter().enumerate() {
        let key = |k: &str| format!("postgres[{i}].{k}");
        let dsn = s
            .dsn
            .clone()
            .ok_or((key("dsn"), "missing".to_string(), false))?;
        let timeout = match &s.timeout {
            Some(t) => {
                crate::push::config::parse_duration(t).map_err(|m| (key("timeout"), m, false))?
            }
            None => DEFAULT_TIMEOUT,
        };
        out.push(Arc::new(Target {
            dsn,
            password_file: s.password_file.clone(),
            timeout,
            deadline: Deadline::default(),
        }));
    }
    Ok(out)
}

/// Collects every configured server.
pub fn update(ctx: &Ctx<'_>, _out: &mut Out<'_>) -> Result<(), CollectError> {
    if ctx.opts.postgres.is_empty() {
        return Err(CollectError::NoData("no [[postgres]] configured".into()));
    }
    Err(CollectError::Failed(
        "postgres collector not written yet".into(),
    ))
}
