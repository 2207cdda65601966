//! HAProxy, under haproxy_exporter's names (v0.15.0): a drop-in for
//! dashboard 2428 and the alert rules written against the exporter, so a
//! board running HAProxy needs no second exporter process.
//!
//! Per target (`[[haproxy]]` or `--haproxy.scrape-uri`) and per scrape, as
//! the exporter: fetch the stats CSV (HTTP(S) `;csv` page, or `show stat`
//! on the stats socket after `show info`), read it as Go's CSV reader does
//! (`csv.rs`), and turn rows of type 0/1/2 (frontend, backend, server; 3 =
//! listener is ignored) into `haproxy_{frontend,backend,server}_*` by CSV
//! column index. Empty cells are skipped; rows of fewer than 33 fields,
//! malformed records and values that do not parse count in
//! `haproxy_exporter_csv_parse_failures_total`; `status` becomes
//! `*_up` (1 only for `UP`, `UP 1/3`, `UP 2/3`, `OPEN`, `no check`,
//! `DRAIN`, the exporter's exact list); the millisecond columns 38 and
//! 58-61 become seconds. `haproxy_up`, `haproxy_exporter_scrapes_total`
//! and the parse-failure counter are always there; sockets also give
//! `haproxy_version_info` and `haproxy_process_idle_time_percent`.
//!
//! Where picket deliberately differs (each one also listed in
//! tests/haproxy.rs):
//! - several targets: every series of a target gets a `scrape_uri` label
//!   (the URI, password redacted), only when more than one target is
//!   configured; one target looks exactly like one haproxy_exporter;
//! - an empty body, or one that is not HAProxy CSV at all (no
//!   `# pxname,` header and no stats row: the HTML page when `;csv` is
//!   missing, `Permission denied` from a socket) gives `haproxy_up 0`,
//!   where the exporter reports 1 and no rows;
//! - parse failures (up stays 1, as the exporter) also fail the collector
//!   (`node_scrape_collector_success{collector="haproxy"} 0`) with the
//!   first failures in the log, so a garbled body does not pass silently;
//! - server states in `server_exclude_states` match without regard to
//!   case (`maint` = `MAINT`); an empty `server_metric_fields` means all
//!   fields (as configs/agent.toml documents; the exporter exports none);
//! - the first well-formed CSV record, not the first record, sets the
//!   field count (see `csv.rs`).
//!
//! Every fetch runs under the target's [`Deadline`], so a dead or hanging
//! HAProxy costs a scrape at most `timeout` and gives `haproxy_up 0`;
//! concurrent scrapes of one target (Prometheus and the push loop) take
//! turns, as the exporter's mutex makes them, within the same bound.

mod csv;
mod fetch;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::deadline::Deadline;
use super::{CollectError, Ctx, Out};
use picket_core::config::{ConfigError, Locator};
use picket_core::metric::{Labels, MetricType, Sample};

pub use fetch::redact;
use fetch::{Body, Fetched, Source};

/// Default `--haproxy.timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The label that tells targets apart when there are several.
pub const TARGET_LABEL: &str = "scrape_uri";

/// Rows with fewer fields are parse failures (the exporter's minimum: up
/// to `type`, column 32).
const MIN_FIELDS: usize = 33;

/// Parse failures named in the collector's error (the rest are counted).
const MAX_REPORTED: usize = 3;

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
    /// Prometheus's `tls_config` for an https stats page: a private CA,
    /// a client certificate, `server_name` (`ssl_verify = false` is its
    /// `insecure_skip_verify`).
    pub tls_config: Option<picket_core::web::client::TlsConfigToml>,
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
    /// Where the stats are (may hold a password: show [`redact`]ed).
    pub uri: String,
    /// Verify certificates.
    pub ssl_verify: bool,
    /// TLS settings (`tls_config`, with `ssl_verify`).
    pub tls: picket_core::web::client::TlsClient,
    /// Per-scrape deadline.
    pub timeout: Duration,
    /// Server fields exported (None = all).
    pub server_metric_fields: Option<Vec<usize>>,
    /// Server states left out (compared without regard to ASCII case).
    pub server_exclude_states: Vec<String>,
    /// A call still running from an earlier scrape.
    pub deadline: Deadline,
    /// The value of the [`TARGET_LABEL`] label: set when several targets
    /// are configured, so their series stay apart.
    pub label: Option<String>,
    /// `uri`, parsed.
    source: Source,
    /// `haproxy_exporter_scrapes_total`.
    scrapes: AtomicU64,
    /// `haproxy_exporter_csv_parse_failures_total`.
    parse_failures: AtomicU64,
    /// The HTTP client, built on first use (http(s) targets only).
    agent: OnceLock<ureq::Agent>,
}

/// The targets of the file's `[[haproxy]]` tables, or of the flags.
pub fn resolve(
    sections: &[Section],
    flags: &Flags,
    loc: &Locator<'_>,
) -> Result<Vec<Arc<Target>>, ConfigError> {
    let mut out = Vec::new();
    if !flags.scrape_uri.is_empty() {
        for uri in &flags.scrape_uri {
            let s = Section {
                scrape_uri: Some(uri.clone()),
                ssl_verify: flags.ssl_verify,
                timeout: flags.timeout.clone(),
                server_metric_fields: flags.server_metric_fields.clone(),
                server_exclude_states: flags.server_exclude_states.clone(),
                tls_config: None,
            };
            out.push(target(&s).map_err(|(k, m)| loc.flag(&format!("--haproxy.{k}"), m))?);
        }
    } else {
        for (i, s) in sections.iter().enumerate() {
            out.push(target(s).map_err(|(k, m)| loc.key(&format!("haproxy[{i}].{k}"), m))?);
        }
    }
    if out.len() > 1 {
        let names: Vec<String> = out.iter().map(|t| redact(&t.uri)).collect();
        for (i, t) in out.iter_mut().enumerate() {
            let name = &names[i];
            // The same URI twice (other credentials?): keep them apart by position.
            t.label = Some(if names.iter().filter(|n| *n == name).count() > 1 {
                format!("{name}#{}", i + 1)
            } else {
                name.clone()
            });
        }
    }
    Ok(out.into_iter().map(Arc::new).collect())
}

fn target(s: &Section) -> Result<Target, (&'static str, String)> {
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
            format!(
                "{:?}: expected http://, https://, unix: or tcp://",
                redact(&uri)
            ),
        ));
    }
    let source =
        Source::parse(&uri).map_err(|m| ("scrape_uri", format!("{:?}: {m}", redact(&uri))))?;
    if cfg!(not(feature = "tls")) && matches!(source, Source::Http { tls: true, .. }) {
        return Err((
            "scrape_uri",
            format!(
                "{:?}: https needs picket built with the tls feature",
                redact(&uri)
            ),
        ));
    }
    let timeout = match &s.timeout {
        Some(t) => picket_core::config::parse_duration(t).map_err(|m| ("timeout", m))?,
        None => DEFAULT_TIMEOUT,
    };
    if timeout.is_zero() {
        return Err(("timeout", "must be more than 0".to_string()));
    }
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
    // Split as the exporter does: "" is one (empty) state, so by default a
    // server whose status cell is empty is left out, as there.
    let server_exclude_states = s
        .server_exclude_states
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(|x| x.trim().to_string())
        .collect();
    let ssl_verify = s.ssl_verify.unwrap_or(true);
    let mut tls = picket_core::web::client::ClientBlocks {
        tls_config: s.tls_config.clone(),
        ..Default::default()
    }
    .resolve()
    .and_then(|c| c.check_files().map(|()| c.tls))
    .map_err(|(k, m)| {
        let sub = k.strip_prefix("tls_config.").unwrap_or(&k).to_string();
        ("tls_config", format!("{sub}: {m}"))
    })?;
    tls.insecure_skip_verify |= !ssl_verify;
    Ok(Target {
        uri,
        ssl_verify,
        tls,
        timeout,
        server_metric_fields,
        server_exclude_states,
        deadline: Deadline::default(),
        label: None,
        source,
        scrapes: AtomicU64::new(0),
        parse_failures: AtomicU64::new(0),
        agent: OnceLock::new(),
    })
}

impl Target {
    /// The HTTP client of this target.
    fn agent(&self) -> Result<ureq::Agent, String> {
        if let Some(a) = self.agent.get() {
            return Ok(a.clone());
        }
        let tls = matches!(self.source, Source::Http { tls: true, .. });
        let a = fetch::agent(self.timeout, &self.tls, tls)?;
        Ok(self.agent.get_or_init(|| a).clone())
    }
}

/// Collects every configured instance; one failing instance fails the
/// collector (after all of them have given what they could).
pub fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let targets = &ctx.opts.haproxy;
    if targets.is_empty() {
        return Err(CollectError::NoData("no [[haproxy]] configured".into()));
    }
    let results: Vec<(Vec<Sample>, Option<String>)> = if targets.len() == 1 {
        vec![scrape(&targets[0])]
    } else {
        // In parallel: the whole collector is bounded by the longest
        // timeout, not by their sum.
        std::thread::scope(|s| {
            let handles: Vec<_> = targets
                .iter()
                .map(|t| {
                    std::thread::Builder::new()
                        .name("picket-haproxy".into())
                        .spawn_scoped(s, move || scrape(t))
                        .map_err(|_| t)
                })
                .collect();
            handles
                .into_iter()
                .map(|h| match h {
                    Ok(h) => h.join().unwrap_or_else(|_| {
                        (Vec::new(), Some("the scrape thread panicked".to_string()))
                    }),
                    Err(t) => scrape(t),
                })
                .collect()
        })
    };
    let mut errors = Vec::new();
    for (samples, err) in results {
        for s in samples {
            out.push(s);
        }
        errors.extend(err);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CollectError::Failed(errors.join("; ")))
    }
}

/// One scrape of one target: its samples, and what went wrong (naming
/// the redacted URI).
fn scrape(t: &Arc<Target>) -> (Vec<Sample>, Option<String>) {
    let start = Instant::now();
    let until = start + t.timeout;
    t.scrapes.fetch_add(1, Ordering::Relaxed);
    let mut samples = Vec::new();
    let mut em = Emit {
        out: Out::new(&mut samples),
        target: t.label.as_deref(),
    };
    let mut problems: Vec<String> = Vec::new();
    // Deadline::run takes turns with other scrapes of this target (an HTTP
    // scrape and the push loop) within the same timeout. The call bounds
    // itself a little before the deadline, so it usually reports its own
    // (more precise) error and frees the target before the next scrape.
    let end = until - margin(t.timeout);
    let tt = Arc::clone(t);
    let fetched = t
        .deadline
        .run("haproxy", t.timeout, move || {
            fetch::fetch(&tt.source, end, || tt.agent())
        })
        .map_err(|m| m.to_string());
    let (mut up, mut failures) = (false, 0);
    match fetched {
        Err(e) => problems.push(e),
        Ok(Fetched { info, stat }) => {
            if let Some(info) = info {
                emit_info(&mut em, &info);
            }
            let filter = RowFilter {
                server_fields: t.server_metric_fields.as_deref(),
                exclude: &t.server_exclude_states,
            };
            (up, failures) = read_stat(stat, &filter, &mut em, &mut problems);
        }
    }
    let failures_total = t.parse_failures.fetch_add(failures, Ordering::Relaxed) + failures;
    em.meta(
        "haproxy_up",
        "Was the last scrape of HAProxy successful.",
        MetricType::Gauge,
        if up { 1.0 } else { 0.0 },
    );
    em.meta(
        "haproxy_exporter_scrapes_total",
        "Current total HAProxy scrapes.",
        MetricType::Counter,
        t.scrapes.load(Ordering::Relaxed) as f64,
    );
    em.meta(
        "haproxy_exporter_csv_parse_failures_total",
        "Number of errors while parsing CSV.",
        MetricType::Counter,
        failures_total as f64,
    );
    let err =
        (!problems.is_empty()).then(|| format!("{}: {}", redact(&t.uri), problems.join("; ")));
    (samples, err)
}

/// Emits the rows of a fetched stats body; (haproxy_up, parse failures),
/// with what went wrong added to `problems`.
fn read_stat(
    stat: Body,
    filter: &RowFilter<'_>,
    em: &mut Emit<'_>,
    problems: &mut Vec<String>,
) -> (bool, u64) {
    let (mut body, cut) = match stat {
        Body::Whole(b) => (b, None),
        Body::Cut(b, e) => (b, Some(e)),
        Body::Failed(e) => {
            problems.push(e);
            return (false, 0);
        }
    };
    if cut.is_some() {
        // As the exporter: the complete lines that arrived count, the
        // scrape does not.
        let keep = body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        body.truncate(keep);
    }
    let parsed = parse_stat(&body, filter, em);
    let mut up = false;
    if let Some(e) = cut {
        problems.push(e);
    } else if body.iter().all(u8::is_ascii_whitespace) {
        problems.push("empty response".into());
    } else if !parsed.header && parsed.rows == 0 {
        problems.push(format!(
            "not HAProxy CSV stats (for http, does the URI end in ;csv?): {:?}",
            preview(&body)
        ));
    } else {
        up = true;
    }
    if parsed.failures > 0 {
        problems.push(format!(
            "{} CSV parse failure{}: {}{}",
            parsed.failures,
            if parsed.failures == 1 { "" } else { "s" },
            parsed.reported.join("; "),
            if parsed.failures > parsed.reported.len() as u64 {
                "; ..."
            } else {
                ""
            }
        ));
    }
    (up, parsed.failures)
}

/// What one fetched body gives, for the fuzz target ([`crate::fuzz`]):
/// `stat` (cut short by a failed read when `cut`) and `info` through the
/// same parsing as a scrape, and the samples and problems they give.
pub(crate) fn parse_bodies(
    stat: &[u8],
    info: Option<&[u8]>,
    cut: bool,
    server_fields: Option<&[usize]>,
    exclude: &[String],
) -> (Vec<Sample>, Vec<String>) {
    let mut samples = Vec::new();
    let mut em = Emit {
        out: Out::new(&mut samples),
        target: Some("fuzz"),
    };
    if let Some(info) = info {
        emit_info(&mut em, info);
    }
    let filter = RowFilter {
        server_fields,
        exclude,
    };
    let body = if cut {
        Body::Cut(stat.to_vec(), "cut".into())
    } else {
        Body::Whole(stat.to_vec())
    };
    let mut problems = Vec::new();
    read_stat(body, &filter, &mut em, &mut problems);
    (samples, problems)
}

/// How much earlier than the scrape's deadline the fetch itself gives up.
fn margin(timeout: Duration) -> Duration {
    (timeout / 10).min(Duration::from_millis(100))
}

/// The start of a body, for an error message.
fn preview(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(&body[..body.len().min(60)]);
    s.trim().to_string()
}

/// Writes one target's samples, adding its [`TARGET_LABEL`] when it has one.
struct Emit<'a> {
    out: Out<'a>,
    target: Option<&'a str>,
}

impl Emit<'_> {
    fn sample(
        &mut self,
        name: &'static str,
        help: &'static str,
        kind: MetricType,
        labels: &[(&'static str, &str)],
        value: f64,
    ) {
        let mut l = Labels::from_pairs(labels.iter().map(|&(n, v)| (n, v)));
        if let Some(t) = self.target {
            l.set(TARGET_LABEL, t);
        }
        self.out.sample(name, help, kind, l, value);
    }

    fn meta(&mut self, name: &'static str, help: &'static str, kind: MetricType, value: f64) {
        self.sample(name, help, kind, &[], value);
    }
}

/// `show info`: `haproxy_version_info` always (as the exporter, with empty
/// labels when the lines are missing), `haproxy_process_idle_time_percent`
/// when `Idle_pct` is a number in 0..=100.
fn emit_info(em: &mut Emit<'_>, info: &[u8]) {
    let text = String::from_utf8_lossy(info);
    let (mut version, mut release, mut idle) = ("", "", None);
    for line in text.lines() {
        // Go's bufio.Scanner gives up on a line of 64 KiB or more, and the
        // exporter then reports no version.
        if line.len() >= 64 * 1024 {
            return;
        }
        match line.split_once(": ") {
            Some(("Release_date", v)) => release = v,
            Some(("Version", v)) => version = v,
            Some(("Idle_pct", v)) => {
                idle =
                    picket_core::decode::text::parse_float(v).filter(|p| (0.0..=100.0).contains(p))
            }
            _ => {}
        }
    }
    em.sample(
        "haproxy_version_info",
        "HAProxy version info.",
        MetricType::Gauge,
        &[("release_date", release), ("version", version)],
        1.0,
    );
    if let Some(p) = idle {
        em.meta(
            "haproxy_process_idle_time_percent",
            "Time spent waiting for events instead of processing them.",
            MetricType::Gauge,
            p,
        );
    }
}

/// Which server rows and fields are exported.
struct RowFilter<'a> {
    server_fields: Option<&'a [usize]>,
    exclude: &'a [String],
}

/// What reading a stats body found.
#[derive(Debug, Default, PartialEq)]
struct Parsed {
    /// Records of at least [`MIN_FIELDS`] fields.
    rows: usize,
    /// Whether the `# pxname,` header was there.
    header: bool,
    /// Parse failures, as the exporter counts them.
    failures: u64,
    /// The first few of them, described.
    reported: Vec<String>,
}

impl Parsed {
    fn fail(&mut self, what: String) {
        self.failures += 1;
        if self.reported.len() < MAX_REPORTED {
            self.reported.push(what);
        }
    }
}

/// Reads a `show stat` CSV and emits its rows.
fn parse_stat(body: &[u8], filter: &RowFilter<'_>, em: &mut Emit<'_>) -> Parsed {
    let mut p = Parsed::default();
    let mut reader = csv::Reader::new(body);
    for (line, record) in reader.by_ref() {
        let row = match record {
            Ok(r) => r,
            Err(e) => {
                p.fail(e.to_string());
                continue;
            }
        };
        if row.len() < MIN_FIELDS {
            p.fail(format!(
                "line {line}: {} fields, fewer than {MIN_FIELDS}",
                row.len()
            ));
            continue;
        }
        p.rows += 1;
        let (px, sv, status) = (&*row[0], &*row[1], &*row[STATUS]);
        match &*row[32] {
            "0" => emit_row(FRONTEND, None, &row, line, &[("frontend", px)], em, &mut p),
            "1" => emit_row(BACKEND, None, &row, line, &[("backend", px)], em, &mut p),
            "2" if !filter
                .exclude
                .iter()
                .any(|s| s.eq_ignore_ascii_case(status)) =>
            {
                emit_row(
                    SERVER,
                    filter.server_fields,
                    &row,
                    line,
                    &[("backend", px), ("server", sv)],
                    em,
                    &mut p,
                )
            }
            _ => {}
        }
    }
    p.header = reader.saw_header();
    p
}

/// Emits the non-empty cells of `row` that `fields` (restricted to `only`)
/// maps to metrics.
fn emit_row(
    fields: &[Field],
    only: Option<&[usize]>,
    row: &[Cow<'_, str>],
    line: usize,
    labels: &[(&'static str, &str)],
    em: &mut Emit<'_>,
    p: &mut Parsed,
) {
    for f in fields {
        if only.is_some_and(|o| !o.contains(&f.idx)) {
            continue;
        }
        let Some(cell) = row.get(f.idx).filter(|c| !c.is_empty()) else {
            continue;
        };
        let Some(v) = value(f.idx, cell) else {
            p.fail(format!("line {line}: {}: invalid value {cell:?}", f.name));
            continue;
        };
        match f.code {
            None => em.sample(f.name, f.help, f.kind, labels, v),
            Some(code) => {
                let mut l = labels.to_vec();
                l.push(("code", code));
                em.sample(f.name, f.help, f.kind, &l, v);
            }
        }
    }
}

/// The `status` column.
const STATUS: usize = 17;

/// A cell's value: `status` as 1/0, the millisecond columns in seconds
/// (parsed as floats), everything else as a 64-bit integer.
fn value(idx: usize, cell: &str) -> Option<f64> {
    match idx {
        STATUS => Some(status_up(cell)),
        38 | 58..=61 => picket_core::decode::text::parse_float(cell).map(|ms| ms / 1000.0),
        _ => cell.parse::<i64>().ok().map(|v| v as f64),
    }
}

/// haproxy_exporter's status mapping, to the letter: `UP 1/2` (going
/// down, with `fall 2`) is 0 there, and so it is here.
fn status_up(s: &str) -> f64 {
    match s {
        "UP" | "UP 1/3" | "UP 2/3" | "OPEN" | "no check" | "DRAIN" => 1.0,
        _ => 0.0,
    }
}

/// One CSV column exported as a metric.
#[derive(Debug)]
struct Field {
    /// Column index.
    idx: usize,
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    /// The `code` label of `*_http_responses_total`.
    code: Option<&'static str>,
}

impl Field {
    const fn gauge(idx: usize, name: &'static str, help: &'static str) -> Field {
        Field {
            idx,
            name,
            help,
            kind: MetricType::Gauge,
            code: None,
        }
    }

    const fn counter(idx: usize, name: &'static str, help: &'static str) -> Field {
        Field {
            idx,
            name,
            help,
            kind: MetricType::Counter,
            code: None,
        }
    }

    const fn code(idx: usize, name: &'static str, code: &'static str) -> Field {
        Field {
            idx,
            name,
            help: "Total of HTTP responses.",
            kind: MetricType::Counter,
            code: Some(code),
        }
    }
}

// The columns each row type exports: haproxy_exporter's tables (names,
// types and help as it serves them).

/// Help of `*_server_selected_total` (too long for a table line).
const SELECTED: &str =
    "Total number of times a server was selected, either for new sessions, or when re-dispatching.";

/// Frontend rows (type 0).
const FRONTEND: &[Field] = &[
    Field::gauge(
        4,
        "haproxy_frontend_current_sessions",
        "Current number of active sessions.",
    ),
    Field::gauge(
        5,
        "haproxy_frontend_max_sessions",
        "Maximum observed number of active sessions.",
    ),
    Field::gauge(
        6,
        "haproxy_frontend_limit_sessions",
        "Configured session limit.",
    ),
    Field::counter(
        7,
        "haproxy_frontend_sessions_total",
        "Total number of sessions.",
    ),
    Field::counter(
        8,
        "haproxy_frontend_bytes_in_total",
        "Current total of incoming bytes.",
    ),
    Field::counter(
        9,
        "haproxy_frontend_bytes_out_total",
        "Current total of outgoing bytes.",
    ),
    Field::counter(
        10,
        "haproxy_frontend_requests_denied_total",
        "Total of requests denied for security.",
    ),
    Field::counter(
        12,
        "haproxy_frontend_request_errors_total",
        "Total of request errors.",
    ),
    Field::gauge(
        33,
        "haproxy_frontend_current_session_rate",
        "Current number of sessions per second over last elapsed second.",
    ),
    Field::gauge(
        34,
        "haproxy_frontend_limit_session_rate",
        "Configured limit on new sessions per second.",
    ),
    Field::gauge(
        35,
        "haproxy_frontend_max_session_rate",
        "Maximum observed number of sessions per second.",
    ),
    Field::code(39, "haproxy_frontend_http_responses_total", "1xx"),
    Field::code(40, "haproxy_frontend_http_responses_total", "2xx"),
    Field::code(41, "haproxy_frontend_http_responses_total", "3xx"),
    Field::code(42, "haproxy_frontend_http_responses_total", "4xx"),
    Field::code(43, "haproxy_frontend_http_responses_total", "5xx"),
    Field::code(44, "haproxy_frontend_http_responses_total", "other"),
    Field::counter(
        48,
        "haproxy_frontend_http_requests_total",
        "Total HTTP requests.",
    ),
    Field::counter(
        51,
        "haproxy_frontend_compressor_bytes_in_total",
        "Number of HTTP response bytes fed to the compressor",
    ),
    Field::counter(
        52,
        "haproxy_frontend_compressor_bytes_out_total",
        "Number of HTTP response bytes emitted by the compressor",
    ),
    Field::counter(
        53,
        "haproxy_frontend_compressor_bytes_bypassed_total",
        "Number of bytes that bypassed the HTTP compressor",
    ),
    Field::counter(
        54,
        "haproxy_frontend_http_responses_compressed_total",
        "Number of HTTP responses that were compressed",
    ),
    Field::counter(
        79,
        "haproxy_frontend_connections_total",
        "Total number of connections",
    ),
];

/// Backend rows (type 1).
const BACKEND: &[Field] = &[
    Field::gauge(
        2,
        "haproxy_backend_current_queue",
        "Current number of queued requests not assigned to any server.",
    ),
    Field::gauge(
        3,
        "haproxy_backend_max_queue",
        "Maximum observed number of queued requests not assigned to any server.",
    ),
    Field::gauge(
        4,
        "haproxy_backend_current_sessions",
        "Current number of active sessions.",
    ),
    Field::gauge(
        5,
        "haproxy_backend_max_sessions",
        "Maximum observed number of active sessions.",
    ),
    Field::gauge(
        6,
        "haproxy_backend_limit_sessions",
        "Configured session limit.",
    ),
    Field::counter(
        7,
        "haproxy_backend_sessions_total",
        "Total number of sessions.",
    ),
    Field::counter(
        8,
        "haproxy_backend_bytes_in_total",
        "Current total of incoming bytes.",
    ),
    Field::counter(
        9,
        "haproxy_backend_bytes_out_total",
        "Current total of outgoing bytes.",
    ),
    Field::counter(
        13,
        "haproxy_backend_connection_errors_total",
        "Total of connection errors.",
    ),
    Field::counter(
        14,
        "haproxy_backend_response_errors_total",
        "Total of response errors.",
    ),
    Field::counter(
        15,
        "haproxy_backend_retry_warnings_total",
        "Total of retry warnings.",
    ),
    Field::counter(
        16,
        "haproxy_backend_redispatch_warnings_total",
        "Total of redispatch warnings.",
    ),
    Field::gauge(
        17,
        "haproxy_backend_up",
        "Current health status of the backend (1 = UP, 0 = DOWN).",
    ),
    Field::gauge(
        18,
        "haproxy_backend_weight",
        "Total weight of the servers in the backend.",
    ),
    Field::gauge(
        19,
        "haproxy_backend_current_server",
        "Current number of active servers",
    ),
    Field::counter(30, "haproxy_backend_server_selected_total", SELECTED),
    Field::gauge(
        33,
        "haproxy_backend_current_session_rate",
        "Current number of sessions per second over last elapsed second.",
    ),
    Field::gauge(
        35,
        "haproxy_backend_max_session_rate",
        "Maximum number of sessions per second.",
    ),
    Field::code(39, "haproxy_backend_http_responses_total", "1xx"),
    Field::code(40, "haproxy_backend_http_responses_total", "2xx"),
    Field::code(41, "haproxy_backend_http_responses_total", "3xx"),
    Field::code(42, "haproxy_backend_http_responses_total", "4xx"),
    Field::code(43, "haproxy_backend_http_responses_total", "5xx"),
    Field::code(44, "haproxy_backend_http_responses_total", "other"),
    Field::counter(
        49,
        "haproxy_backend_client_aborts_total",
        "Total number of data transfers aborted by the client.",
    ),
    Field::counter(
        50,
        "haproxy_backend_server_aborts_total",
        "Total number of data transfers aborted by the server.",
    ),
    Field::counter(
        51,
        "haproxy_backend_compressor_bytes_in_total",
        "Number of HTTP response bytes fed to the compressor",
    ),
    Field::counter(
        52,
        "haproxy_backend_compressor_bytes_out_total",
        "Number of HTTP response bytes emitted by the compressor",
    ),
    Field::counter(
        53,
        "haproxy_backend_compressor_bytes_bypassed_total",
        "Number of bytes that bypassed the HTTP compressor",
    ),
    Field::counter(
        54,
        "haproxy_backend_http_responses_compressed_total",
        "Number of HTTP responses that were compressed",
    ),
    Field::gauge(
        58,
        "haproxy_backend_http_queue_time_average_seconds",
        "Avg. HTTP queue time for last 1024 successful connections.",
    ),
    Field::gauge(
        59,
        "haproxy_backend_http_connect_time_average_seconds",
        "Avg. HTTP connect time for last 1024 successful connections.",
    ),
    Field::gauge(
        60,
        "haproxy_backend_http_response_time_average_seconds",
        "Avg. HTTP response time for last 1024 successful connections.",
    ),
    Field::gauge(
        61,
        "haproxy_backend_http_total_time_average_seconds",
        "Avg. HTTP total time for last 1024 successful connections.",
    ),
];

/// Server rows (type 2), before `--haproxy.server-metric-fields`.
const SERVER: &[Field] = &[
    Field::gauge(
        2,
        "haproxy_server_current_queue",
        "Current number of queued requests assigned to this server.",
    ),
    Field::gauge(
        3,
        "haproxy_server_max_queue",
        "Maximum observed number of queued requests assigned to this server.",
    ),
    Field::gauge(
        4,
        "haproxy_server_current_sessions",
        "Current number of active sessions.",
    ),
    Field::gauge(
        5,
        "haproxy_server_max_sessions",
        "Maximum observed number of active sessions.",
    ),
    Field::gauge(
        6,
        "haproxy_server_limit_sessions",
        "Configured session limit.",
    ),
    Field::counter(
        7,
        "haproxy_server_sessions_total",
        "Total number of sessions.",
    ),
    Field::counter(
        8,
        "haproxy_server_bytes_in_total",
        "Current total of incoming bytes.",
    ),
    Field::counter(
        9,
        "haproxy_server_bytes_out_total",
        "Current total of outgoing bytes.",
    ),
    Field::counter(
        13,
        "haproxy_server_connection_errors_total",
        "Total of connection errors.",
    ),
    Field::counter(
        14,
        "haproxy_server_response_errors_total",
        "Total of response errors.",
    ),
    Field::counter(
        15,
        "haproxy_server_retry_warnings_total",
        "Total of retry warnings.",
    ),
    Field::counter(
        16,
        "haproxy_server_redispatch_warnings_total",
        "Total of redispatch warnings.",
    ),
    Field::gauge(
        17,
        "haproxy_server_up",
        "Current health status of the server (1 = UP, 0 = DOWN).",
    ),
    Field::gauge(18, "haproxy_server_weight", "Current weight of the server."),
    Field::counter(
        21,
        "haproxy_server_check_failures_total",
        "Total number of failed health checks.",
    ),
    Field::counter(
        24,
        "haproxy_server_downtime_seconds_total",
        "Total downtime in seconds.",
    ),
    Field::counter(30, "haproxy_server_server_selected_total", SELECTED),
    Field::gauge(
        33,
        "haproxy_server_current_session_rate",
        "Current number of sessions per second over last elapsed second.",
    ),
    Field::gauge(
        35,
        "haproxy_server_max_session_rate",
        "Maximum observed number of sessions per second.",
    ),
    Field::gauge(
        38,
        "haproxy_server_check_duration_seconds",
        "Previously run health check duration, in seconds",
    ),
    Field::code(39, "haproxy_server_http_responses_total", "1xx"),
    Field::code(40, "haproxy_server_http_responses_total", "2xx"),
    Field::code(41, "haproxy_server_http_responses_total", "3xx"),
    Field::code(42, "haproxy_server_http_responses_total", "4xx"),
    Field::code(43, "haproxy_server_http_responses_total", "5xx"),
    Field::code(44, "haproxy_server_http_responses_total", "other"),
    Field::counter(
        49,
        "haproxy_server_client_aborts_total",
        "Total number of data transfers aborted by the client.",
    ),
    Field::counter(
        50,
        "haproxy_server_server_aborts_total",
        "Total number of data transfers aborted by the server.",
    ),
    Field::gauge(
        58,
        "haproxy_server_http_queue_time_average_seconds",
        "Avg. HTTP queue time for last 1024 successful connections.",
    ),
    Field::gauge(
        59,
        "haproxy_server_http_connect_time_average_seconds",
        "Avg. HTTP connect time for last 1024 successful connections.",
    ),
    Field::gauge(
        60,
        "haproxy_server_http_response_time_average_seconds",
        "Avg. HTTP response time for last 1024 successful connections.",
    ),
    Field::gauge(
        61,
        "haproxy_server_http_total_time_average_seconds",
        "Avg. HTTP total time for last 1024 successful connections.",
    ),
];
