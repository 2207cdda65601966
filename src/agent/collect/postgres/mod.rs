//! PostgreSQL, under postgres_exporter's names (v0.11.1 defaults): drop-in
//! for dashboard 9628 and the alert rules written against it.
//!
//! One collector for every configured server (`[[postgres]]` tables, or
//! `DATA_SOURCE_NAME` as a comma-separated list, or `DATA_SOURCE_URI` with
//! `DATA_SOURCE_USER[_FILE]` and `DATA_SOURCE_PASS[_FILE]`, as the exporter
//! reads them). Per server, the exporter's default output (the notes,
//! exporter-compat.md §4): `pg_static`, `pg_settings_*`, the builtin maps
//! (`pg_stat_database*`, `pg_locks_count`, `pg_stat_activity_*`,
//! `pg_stat_replication_*`, `pg_replication_slots_*`, `pg_stat_archiver_*`),
//! the `database` and `bgwriter` collectors (`pg_database_size_bytes`,
//! `pg_stat_bgwriter_*_total`, with `pg_scrape_collector_*`), and the two
//! queries nearly everyone adds from the exporter's sample `queries.yaml`
//! (`pg_replication_lag`, `pg_postmaster_start_time_seconds`). Once per
//! scrape: `pg_up` (0 only when no server could be reached, as in the
//! exporter), `pg_exporter_last_scrape_error`,
//! `pg_exporter_last_scrape_duration_seconds`, `pg_exporter_scrapes_total`.
//! The rules that turn rows into series are in [`metrics`], the DSN forms
//! in [`dsn`], the client behind the `postgres` feature in `client`.
//!
//! Where picket parts from 0.11.1 on purpose:
//!
//! - `pg_scrape_collector_{duration_seconds,success}` carry `server`: with
//!   several DSNs the exporter emits them twice with the same labels, and
//!   client_golang then fails the whole scrape (HTTP 500);
//! - `pg_stat_bgwriter_*_total` keep coming on PostgreSQL 17, from
//!   `pg_stat_checkpointer` and `pg_stat_io` (0.11.1's query fails there);
//! - a setting with a unit 0.11.1 does not know (`4kB` block sizes) is left
//!   out and logged (0.11.1 panics);
//! - no TLS: `sslmode=require` and stronger are a config error; a DSN
//!   without `sslmode` (lib/pq's default is `require`) connects without TLS
//!   and says so in the log once;
//! - no `pg_exporter_user_queries_load_error` (there is no queries file).
//!
//! Every server has one connection, kept across scrapes (re-validated and
//! re-opened when it fails) and used on a thread under the target's
//! [`Deadline`]: a dead or hanging server costs a scrape at most its
//! timeout and gives `pg_up 0`; the connection also carries a
//! `statement_timeout`. Series are handed over as each query finishes, so a
//! scrape that runs out of time keeps what it already had, and a failing
//! query only loses its own series. Servers are scraped in parallel.
//!
//! Credentials never reach logs, errors or `/metrics`: servers are named by
//! their `host:port` label only, DSN parse errors never quote the DSN, and
//! client errors pass through [`dsn::redact`] with the password.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::deadline::Deadline;
use super::{CollectError, Ctx, Out};
use picket_core::config::{ConfigError, Locator};
use picket_core::metric::{Labels, MetricType, Sample};

#[cfg(feature = "postgres")]
mod client;
pub(crate) mod dsn;
pub(crate) mod metrics;

/// Default per-scrape timeout.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// One `[[postgres]]` table of the config file.
#[derive(Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Section {
    /// `postgresql://user@host:port/db?sslmode=disable` or
    /// `host=... port=... user=... dbname=...`.
    pub dsn: Option<String>,
    /// A file holding the password (first line), instead of one in the DSN
    /// (it wins over one there). Read again at every reconnection.
    pub password_file: Option<PathBuf>,
    /// Per-scrape timeout (default 5s).
    pub timeout: Option<String>,
}

impl std::fmt::Debug for Section {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the DSN: it can carry a password.
        f.debug_struct("Section")
            .field("dsn", &self.dsn.as_ref().map(|_| "<hidden>"))
            .field("password_file", &self.password_file)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// postgres_exporter's environment (`DATA_SOURCE_NAME` and friends), plus
/// the libpq variables lib/pq falls back to.
#[derive(Default, Clone)]
pub struct Env {
    /// `DATA_SOURCE_NAME`: one DSN or a comma-separated list; replaces the
    /// file's tables.
    pub data_source_name: Option<String>,
    /// `DATA_SOURCE_PASS_FILE`.
    pub pass_file: Option<PathBuf>,
    /// `DATA_SOURCE_URI` (`host:port/db?sslmode=disable`), used with the
    /// user and password variables when there is no `DATA_SOURCE_NAME`.
    pub uri: Option<String>,
    /// `DATA_SOURCE_URI_FILE`.
    pub uri_file: Option<PathBuf>,
    /// `DATA_SOURCE_USER`.
    pub user: Option<String>,
    /// `DATA_SOURCE_USER_FILE`.
    pub user_file: Option<PathBuf>,
    /// `DATA_SOURCE_PASS`.
    pub pass: Option<String>,
    /// `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`,
    /// `PGSSLMODE` and `USER`, for what a DSN leaves out.
    pub libpq: Vec<(String, String)>,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Which variables are set, never their values (DSNs hold passwords).
        let set = |o: bool| if o { "set" } else { "unset" };
        f.debug_struct("Env")
            .field("data_source_name", &set(self.data_source_name.is_some()))
            .field("pass_file", &self.pass_file)
            .field("uri", &set(self.uri.is_some()))
            .field("uri_file", &self.uri_file)
            .field("user", &self.user)
            .field("user_file", &self.user_file)
            .field("pass", &set(self.pass.is_some()))
            .field(
                "libpq",
                &self.libpq.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Env {
    /// Reads the process environment.
    pub(crate) fn from_process() -> Env {
        let var = |k: &str| std::env::var(k).ok().filter(|s| !s.is_empty());
        let path = |k: &str| {
            std::env::var_os(k)
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
        };
        Env {
            data_source_name: var("DATA_SOURCE_NAME"),
            pass_file: path("DATA_SOURCE_PASS_FILE"),
            uri: var("DATA_SOURCE_URI"),
            uri_file: path("DATA_SOURCE_URI_FILE"),
            user: var("DATA_SOURCE_USER"),
            user_file: path("DATA_SOURCE_USER_FILE"),
            pass: var("DATA_SOURCE_PASS"),
            libpq: [
                "PGHOST",
                "PGPORT",
                "PGUSER",
                "PGPASSWORD",
                "PGDATABASE",
                "PGSSLMODE",
                "USER",
            ]
            .iter()
            .filter_map(|k| var(k).map(|v| (k.to_string(), v)))
            .collect(),
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
    /// The `server` label: `host:port` as postgres_exporter computes it.
    pub server: String,
    /// The client's connection string (holds the password).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    conn_str: String,
    /// `connect_timeout` the DSN asked for, in seconds (0 = none).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    connect_timeout: u64,
    /// The DSN left `sslmode` out (logged once: lib/pq would require TLS).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    sslmode_unset: bool,
    /// Strings never to show: the DSN, its password.
    secrets: Vec<String>,
    /// The connection and what is known about the server.
    #[cfg(feature = "postgres")]
    session: Mutex<Session>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the DSN: it can carry a password.
        f.debug_struct("Target")
            .field("server", &self.server)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A server's connection and what the last scrape learned.
#[cfg(feature = "postgres")]
#[derive(Default)]
struct Session {
    /// The open connection, if any.
    client: Option<postgres::Client>,
    /// The server's version, from the last `SELECT version()` that worked.
    version: Option<metrics::Version>,
    /// The no-TLS notice has been logged.
    warned_plain: bool,
    /// Column names and kinds of each query run on this connection: a
    /// query is described once per connection, not once per scrape.
    columns: std::collections::HashMap<&'static str, Vec<(String, metrics::Kind)>>,
    /// Queries that failed in a batch on this connection: they run on
    /// their own (see `client::batch`).
    solo: std::collections::HashSet<&'static str>,
    /// The `database` collector's statement, prepared on this connection.
    database_stmt: Option<postgres::Statement>,
}

impl Target {
    /// A target for `dsn`: parsed and checked now, so a bad DSN is a config
    /// error naming its key (the password file is checked by [`resolve`]).
    pub(crate) fn new(
        dsn: String,
        password_file: Option<PathBuf>,
        timeout: Duration,
        env: &Env,
    ) -> Result<Target, String> {
        let parsed = dsn::parse(&dsn)?;
        let norm = dsn::normalise(&parsed.params, env.libpq.as_slice())?;
        if !norm.ignored.is_empty() {
            log::debug!(
                "postgres {}: ignoring {} (no TLS, or lib/pq only)",
                parsed.server,
                norm.ignored.join(", ")
            );
        }
        let mut secrets = vec![dsn.clone()];
        secrets.extend(norm.password.clone());
        #[cfg(feature = "postgres")]
        client::check(&norm.conn_str).map_err(|e| dsn::redact(&e, &secrets))?;
        Ok(Target {
            dsn,
            password_file,
            timeout,
            deadline: Deadline::default(),
            server: parsed.server,
            conn_str: norm.conn_str,
            connect_timeout: norm.connect_timeout,
            sslmode_unset: norm.sslmode_unset,
            secrets,
            #[cfg(feature = "postgres")]
            session: Mutex::new(Session::default()),
        })
    }

    /// `msg` with every credential of this target replaced.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    fn redact(&self, msg: &str) -> String {
        dsn::redact(msg, &self.secrets)
    }

    #[cfg(feature = "postgres")]
    fn session(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The first line of a secret file, trimmed (postgres_exporter trims the
/// whole file).
fn read_secret(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(line.to_string())
}

/// A target and what names it in errors: (key or variable, from the
/// environment, the target).
type Named = (String, bool, Target);

/// The targets of the file's `[[postgres]]` tables, or of the environment
/// (which wins, as postgres_exporter reads nothing else).
pub(crate) fn resolve(
    sections: &[Section],
    env: &Env,
    loc: &Locator<'_>,
) -> Result<Vec<Arc<Target>>, ConfigError> {
    let out = if let Some(list) = &env.data_source_name {
        from_data_source_name(list, env, loc)?
    } else if env.uri.is_some() || env.uri_file.is_some() {
        vec![from_data_source_uri(env, loc)?]
    } else {
        from_sections(sections, env, loc)?
    };
    for (i, (what, from_env, t)) in out.iter().enumerate() {
        if let Some((first, _, _)) = out[..i].iter().find(|(_, _, o)| o.server == t.server) {
            let msg = format!(
                "the same server ({}) as {first}: their series would collide",
                t.server
            );
            return Err(loc.keyed((what.clone(), msg, *from_env)));
        }
    }
    Ok(out.into_iter().map(|(_, _, t)| Arc::new(t)).collect())
}

/// `DATA_SOURCE_NAME`: one target per comma-separated DSN.
fn from_data_source_name(
    list: &str,
    env: &Env,
    loc: &Locator<'_>,
) -> Result<Vec<Named>, ConfigError> {
    let dsns: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    let mut out = Vec::new();
    for (i, dsn) in dsns.iter().enumerate() {
        let what = if dsns.len() > 1 {
            format!("DATA_SOURCE_NAME (DSN {} of {})", i + 1, dsns.len())
        } else {
            "DATA_SOURCE_NAME".to_string()
        };
        let t = Target::new(dsn.to_string(), env.pass_file.clone(), DEFAULT_TIMEOUT, env)
            .map_err(|m| loc.flag(&what, m))?;
        out.push((what, true, t));
    }
    Ok(out)
}

/// `DATA_SOURCE_URI` with `DATA_SOURCE_USER`/`_PASS` (or their `_FILE`s).
fn from_data_source_uri(env: &Env, loc: &Locator<'_>) -> Result<Named, ConfigError> {
    let what = "DATA_SOURCE_URI".to_string();
    let uri = match &env.uri_file {
        Some(p) => read_secret(p).map_err(|m| loc.flag("DATA_SOURCE_URI_FILE", m))?,
        None => env.uri.clone().unwrap_or_default(),
    };
    let user = match &env.user_file {
        Some(p) => read_secret(p).map_err(|m| loc.flag("DATA_SOURCE_USER_FILE", m))?,
        None => env.user.clone().unwrap_or_default(),
    };
    let pass = match &env.pass_file {
        Some(p) => read_secret(p).map_err(|m| loc.flag("DATA_SOURCE_PASS_FILE", m))?,
        None => env.pass.clone().unwrap_or_default(),
    };
    let dsn = format!(
        "postgresql://{}:{}@{uri}",
        dsn::escape_userinfo(&user),
        dsn::escape_userinfo(&pass)
    );
    let mut t = Target::new(dsn, None, DEFAULT_TIMEOUT, env)
        .map_err(|m| loc.flag(&what, dsn::redact(&m, std::slice::from_ref(&pass))))?;
    t.secrets.push(pass);
    Ok((what, true, t))
}

/// The file's `[[postgres]]` tables.
fn from_sections(
    sections: &[Section],
    env: &Env,
    loc: &Locator<'_>,
) -> Result<Vec<Named>, ConfigError> {
    let mut out = Vec::new();
    for (i, s) in sections.iter().enumerate() {
        let key = |k: &str| format!("postgres[{i}].{k}");
        let dsn = s
            .dsn
            .clone()
            .filter(|d| !d.trim().is_empty())
            .ok_or_else(|| loc.key(&key("dsn"), "missing".to_string()))?;
        let timeout = match &s.timeout {
            Some(t) => {
                picket_core::config::parse_duration(t).map_err(|m| loc.key(&key("timeout"), m))?
            }
            None => DEFAULT_TIMEOUT,
        };
        if timeout.is_zero() {
            return Err(loc.key(&key("timeout"), "must be more than 0".into()));
        }
        let t = Target::new(dsn, s.password_file.clone(), timeout, env)
            .map_err(|m| loc.key(&key("dsn"), m))?;
        if let Some(p) = &s.password_file {
            read_secret(p).map_err(|m| loc.key(&key("password_file"), m))?;
        }
        out.push((key("dsn"), false, t));
    }
    Ok(out)
}

/// Scrapes since the agent started (`pg_exporter_scrapes_total`).
static SCRAPES: AtomicU64 = AtomicU64::new(0);

/// What one server's scrape produced, handed over piece by piece from the
/// thread doing the queries.
#[derive(Default)]
struct Progress {
    /// Series so far.
    samples: Vec<Sample>,
    /// The server answered (connection validated or opened).
    connected: bool,
    /// What failed, for the log and the collector's error.
    errors: Vec<String>,
    /// Something failed that sets `pg_exporter_last_scrape_error`
    /// (connection, settings, a builtin map; not the two collectors, which
    /// have their own `pg_scrape_collector_success`).
    exporter_error: bool,
    /// The scrape has stopped waiting: later results are dropped.
    closed: bool,
}

/// The handle both sides of a deadline share.
#[derive(Clone, Default)]
struct Report(Arc<Mutex<Progress>>);

#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
impl Report {
    fn lock(&self) -> MutexGuard<'_, Progress> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the scrape still waits for results.
    fn open(&self) -> bool {
        !self.lock().closed
    }

    /// Hands over series.
    fn samples(&self, samples: Vec<Sample>) {
        let mut p = self.lock();
        if !p.closed {
            p.samples.extend(samples);
        }
    }

    /// Records that the server answered.
    fn connected(&self) {
        let mut p = self.lock();
        if !p.closed {
            p.connected = true;
        }
    }

    /// Records a failure.
    fn error(&self, msg: String, exporter: bool) {
        let mut p = self.lock();
        if !p.closed {
            p.errors.push(msg);
            p.exporter_error |= exporter;
        }
    }

    /// Stops the scrape and takes what it has.
    fn finish(&self) -> Progress {
        let mut p = self.lock();
        p.closed = true;
        std::mem::take(&mut *p)
    }
}

/// One server's scrape, run on the deadline's thread and cut off at the
/// timeout; the deadline also makes other scrapes of this server (an HTTP
/// scrape and the push loop) take turns within their own timeouts.
fn collect_one(t: &Arc<Target>) -> Progress {
    let report = Report::default();
    let (worker_report, target) = (report.clone(), Arc::clone(t));
    let done = t.deadline.run("postgres", t.timeout, move || {
        scrape(&target, &worker_report)
    });
    let mut p = report.finish();
    if let Err(missed) = done {
        p.errors.push(format!("{}: {missed}", t.server));
        p.exporter_error = true;
    }
    // The exporter's collectors report a server they cannot reach as
    // failed: so do these, whatever stopped the scrape before them.
    for name in COLLECTORS {
        let has = |s: &Sample| {
            s.name == "pg_scrape_collector_success" && s.labels.get("collector") == Some(name)
        };
        if !p.samples.iter().any(has) {
            p.samples
                .extend(collector_samples(name, &t.server, 0.0, false));
        }
    }
    p
}

/// The exporter's collectors (its `collector` package), in run order.
const COLLECTORS: [&str; 2] = ["bgwriter", "database"];

/// `pg_scrape_collector_{duration_seconds,success}{collector,server}`.
fn collector_samples(name: &str, server: &str, secs: f64, ok: bool) -> [Sample; 2] {
    let labels = Labels::from_pairs([("collector", name), ("server", server)]);
    [
        Sample::new(
            "pg_scrape_collector_duration_seconds",
            "postgres_exporter: Duration of a collector scrape.",
            MetricType::Gauge,
            labels.clone(),
            secs,
        ),
        Sample::new(
            "pg_scrape_collector_success",
            "postgres_exporter: Whether a collector succeeded.",
            MetricType::Gauge,
            labels,
            if ok { 1.0 } else { 0.0 },
        ),
    ]
}

/// Every server, in parallel when there are several.
fn collect_all(targets: &[Arc<Target>]) -> Vec<Progress> {
    if let [only] = targets {
        return vec![collect_one(only)];
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = targets
            .iter()
            .map(|t| {
                let spawned = std::thread::Builder::new()
                    .name("picket-pg-scrape".into())
                    .spawn_scoped(s, move || collect_one(t));
                (t, spawned)
            })
            .collect();
        handles
            .into_iter()
            .map(|(t, h)| match h {
                Ok(h) => h.join().unwrap_or_else(|_| Progress {
                    errors: vec![format!("{}: the scrape thread panicked", t.server)],
                    exporter_error: true,
                    ..Progress::default()
                }),
                // No thread for it: scrape it here, one after the other.
                Err(_) => collect_one(t),
            })
            .collect()
    })
}

/// The queries of one server, on the deadline's thread.
#[cfg(feature = "postgres")]
fn scrape(t: &Target, report: &Report) {
    client::scrape(t, report);
}

/// Without the client, every server fails.
#[cfg(not(feature = "postgres"))]
fn scrape(t: &Target, report: &Report) {
    report.error(
        format!(
            "{}: picket was built without the postgres feature (no PostgreSQL client)",
            t.server
        ),
        true,
    );
}

/// Collects every configured server.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let targets = &ctx.opts.postgres;
    if targets.is_empty() {
        return Err(CollectError::NoData("no [[postgres]] configured".into()));
    }
    let start = Instant::now();
    let scrapes = SCRAPES.fetch_add(1, Ordering::Relaxed) + 1;
    let mut up = false;
    let mut exporter_error = false;
    let mut errors = Vec::new();
    for p in collect_all(targets) {
        up |= p.connected;
        exporter_error |= p.exporter_error;
        errors.extend(p.errors);
        for s in p.samples {
            out.push(s);
        }
    }
    let meta = |out: &mut Out<'_>, name: &'static str, help: &'static str, kind, v: f64| {
        out.sample(name, help, kind, Labels::new(), v)
    };
    meta(
        out,
        "pg_up",
        "Whether the last scrape of metrics from PostgreSQL was able to connect to the server (1 for yes, 0 for no).",
        MetricType::Gauge,
        if up { 1.0 } else { 0.0 },
    );
    meta(
        out,
        "pg_exporter_last_scrape_error",
        "Whether the last scrape of metrics from PostgreSQL resulted in an error (1 for error, 0 for success).",
        MetricType::Gauge,
        if exporter_error { 1.0 } else { 0.0 },
    );
    meta(
        out,
        "pg_exporter_scrapes_total",
        "Total number of times PostgreSQL was scraped for metrics.",
        MetricType::Counter,
        scrapes as f64,
    );
    meta(
        out,
        "pg_exporter_last_scrape_duration_seconds",
        "Duration of the last scrape of metrics from PostgreSQL.",
        MetricType::Gauge,
        start.elapsed().as_secs_f64(),
    );
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CollectError::Failed(errors.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::{loc, parts};

    fn env_with(dsn: &str) -> Env {
        Env {
            data_source_name: Some(dsn.to_string()),
            ..Env::default()
        }
    }

    #[test]
    fn data_source_name_gives_one_target_per_dsn() {
        let env = env_with(
            "postgresql://u:pw@127.0.0.1:5432/postgres?sslmode=disable, host=/run/pg user=u sslmode=disable",
        );
        let ts = resolve(&[], &env, &loc()).expect("resolves");
        let servers: Vec<&str> = ts.iter().map(|t| t.server.as_str()).collect();
        assert_eq!(servers, ["127.0.0.1:5432", "/run/pg:5432"]);
        assert!(!format!("{:?}", ts[0]).contains("pw"));
        assert!(!format!("{env:?}").contains("pw"));
        let s = Section {
            dsn: Some("postgresql://u:pw@h/db".into()),
            ..Section::default()
        };
        assert!(!format!("{s:?}").contains("pw"));
    }

    #[test]
    fn bad_dsns_are_key_errors_without_secrets() {
        for (dsn, want) in [
            ("postgresql://u:hunter2@h/db?sslmode=require", "TLS"),
            ("host=h user=u password=hunter2 port", "parameter 4"),
            ("mysql://u:hunter2@h/db", "postgresql://"),
            (
                "postgresql://u:hunter2@h:notaport/db?sslmode=disable",
                "port",
            ),
        ] {
            let (key, msg, from_env) = resolve(&[], &env_with(dsn), &loc())
                .map_err(parts)
                .expect_err(dsn);
            assert_eq!((key.as_str(), from_env), ("DATA_SOURCE_NAME", true));
            assert!(msg.contains(want), "{dsn}: {msg}");
            assert!(!msg.contains("hunter2"), "{dsn}: {msg}");
        }
        let (key, msg, _) = resolve(
            &[],
            &env_with("host=h user=u sslmode=disable,host=h port=5432 user=v sslmode=disable"),
            &loc(),
        )
        .map_err(parts)
        .expect_err("duplicate");
        assert!(
            key.contains("DSN 2 of 2") && msg.contains("h:5432"),
            "{key}: {msg}"
        );
    }

    #[test]
    fn sections_and_uri_variables() {
        let s = Section {
            dsn: Some("host=h user=u sslmode=disable".into()),
            password_file: Some("/nonexistent/picket-pw".into()),
            timeout: None,
        };
        let (key, msg, _) = resolve(&[s], &Env::default(), &loc())
            .map_err(parts)
            .expect_err("no file");
        assert_eq!(key, "postgres[0].password_file");
        assert!(msg.contains("/nonexistent/picket-pw"), "{msg}");
        let s = Section {
            dsn: Some("host=h user=u sslmode=disable".into()),
            timeout: Some("250ms".into()),
            ..Section::default()
        };
        assert_eq!(
            resolve(&[s], &Env::default(), &loc()).expect("ok")[0].timeout,
            Duration::from_millis(250)
        );
        let env = Env {
            uri: Some("db.local:6432/app?sslmode=disable".into()),
            user: Some("mon".into()),
            pass: Some("p@ss:word".into()),
            ..Env::default()
        };
        let t = &resolve(&[], &env, &loc()).expect("uri")[0];
        assert_eq!(t.server, "db.local:6432");
        assert!(t.conn_str.contains("password='p@ss:word'"));
        assert_eq!(t.redact("x p@ss:word y"), "x <redacted> y");
    }

    #[cfg(not(feature = "postgres"))]
    #[test]
    fn without_the_feature_every_server_fails_clearly() {
        let opts = crate::collect::Options {
            postgres: resolve(&[], &env_with("host=h user=u sslmode=disable"), &loc()).expect("ok"),
            ..Default::default()
        };
        let root = crate::collect::Root::default();
        let ctx = Ctx {
            root: &root,
            opts: &opts,
        };
        let mut samples = Vec::new();
        let e = update(&ctx, &mut Out::new(&mut samples)).expect_err("fails");
        assert!(
            e.to_string().contains("without the postgres feature"),
            "{e}"
        );
        assert!(samples.iter().any(|s| s.name == "pg_up" && s.value == 0.0));
    }
}
