//! The PostgreSQL side (the `postgres` feature): one connection per server,
//! the queries of a scrape, and their rows as [`Table`]s.
//!
//! The exporter's driver reads every value in PostgreSQL's text form;
//! picket does the same, so labels and numbers match it to the character:
//! each query is described once per connection (for its column types) and
//! run with the simple protocol (whose rows are text), one round trip per
//! query and scrape. The session is set up as lib/pq
//! sets it up (`DateStyle` ISO, `extra_float_digits` 2, which also shows in
//! `pg_settings_extra_float_digits`), plus a `statement_timeout` of the
//! target's timeout, so a query stuck on a lock is cancelled by the server.
//! There is no TLS ([`NoTls`]); `sslmode` was checked when the DSN was read.

use std::collections::{HashMap, HashSet};
use std::error::Error as _;
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config, NoTls, SimpleQueryMessage, Statement};

use super::dsn;
use super::metrics::{self, Kind, Row, Table, NAMESPACES, USER_NAMESPACES};
use super::{Report, Target};
use picket_core::metric::Sample;

/// Checks that the client takes a connection string (done once, at config time).
pub(super) fn check(conn_str: &str) -> Result<(), String> {
    conn_str
        .parse::<Config>()
        .map(drop)
        .map_err(|e| describe(&e))
}

/// An error with its causes (`db error: FATAL: password authentication
/// failed for user "x"`), on one line.
fn describe(e: &postgres::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s.replace('\n', " ")
}

/// Opens a connection and sets the session up.
fn connect(t: &Target) -> Result<Client, String> {
    let mut config: Config = t.conn_str.parse().map_err(|e| describe(&e))?;
    let mut file_pw = Vec::new();
    if let Some(p) = &t.password_file {
        let pw = super::read_secret(p)?;
        config.password(&pw);
        file_pw.push(pw);
    }
    let explain = |e: &postgres::Error| dsn::redact(&describe(e), &file_pw);
    let mut limit = t.timeout;
    if t.connect_timeout > 0 {
        limit = limit.min(Duration::from_secs(t.connect_timeout));
    }
    config.connect_timeout(limit.max(Duration::from_secs(1)));
    // A peer that vanished (unplugged, partitioned) is noticed in about a
    // minute rather than TCP's two hours.
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(Duration::from_secs(60));
    }
    if config.get_keepalives_idle() >= Duration::from_secs(7200) {
        config.keepalives_idle(Duration::from_secs(30));
    }
    config.notice_callback(|notice| {
        log::debug!(
            "postgres notice: {}: {}",
            notice.severity(),
            notice.message()
        )
    });
    let mut client = config.connect(NoTls).map_err(|e| explain(&e))?;
    let ms = t.timeout.as_millis().max(1);
    client
        .batch_execute(&format!(
            "SET DateStyle = 'ISO, MDY'; SET extra_float_digits = 2; SET statement_timeout = {ms}"
        ))
        .map_err(|e| explain(&e))?;
    Ok(client)
}

/// Column names and kinds of each query (by the name of what it
/// collects), per connection.
type Columns = HashMap<&'static str, Vec<(String, Kind)>>;

/// The column names and kinds of `sql`, asked of the server the first
/// time on this connection.
fn describe_query<'c>(
    client: &mut Client,
    columns: &'c mut Columns,
    key: &'static str,
    sql: &str,
) -> Result<&'c [(String, Kind)], postgres::Error> {
    if !columns.contains_key(key) {
        let stmt = client.prepare(sql)?;
        let c = stmt
            .columns()
            .iter()
            .map(|c| (c.name().to_string(), Kind::of_oid(c.type_().oid())))
            .collect();
        columns.insert(key, c);
    }
    Ok(columns.get(key).map(Vec::as_slice).unwrap_or_default())
}

/// Runs `sql` alone: columns from [`describe_query`], rows as text.
fn query(
    client: &mut Client,
    columns: &mut Columns,
    key: &'static str,
    sql: &str,
) -> Result<Table, postgres::Error> {
    let cols = describe_query(client, columns, key, sql)?.to_vec();
    let rows = client
        .simple_query(sql)?
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(Row::new((0..r.len()).map(|i| r.get(i)))),
            _ => None,
        })
        .collect();
    Ok(Table {
        columns: cols,
        rows,
    })
}

/// The text of `SELECT version()`'s one cell.
fn version_text(t: &Table) -> String {
    t.rows
        .first()
        .and_then(|r| r.get(0))
        .unwrap_or_default()
        .to_string()
}

/// The `database` collector: sizes row by row, so that the databases
/// before one it may not read are kept, as the exporter keeps them (Go's
/// `rows.Next` stops at the error after their series were sent).
/// The statement is prepared once per connection (`stmt`), as a plain
/// `query_raw` of the text would prepare it again on every scrape.
fn database_sizes(
    client: &mut Client,
    stmt: &mut Option<Statement>,
    server: &str,
) -> (Vec<Sample>, Result<(), String>) {
    let mut out = Vec::new();
    let prepared = match stmt {
        Some(s) => s.clone(),
        None => match client.prepare(metrics::DATABASE_QUERY) {
            Ok(s) => stmt.insert(s).clone(),
            Err(e) => return (out, Err(describe(&e))),
        },
    };
    let rows = client.query_raw(&prepared, std::iter::empty::<&str>());
    let mut rows = match rows {
        Ok(r) => r,
        Err(e) => return (out, Err(describe(&e))),
    };
    loop {
        match rows.next() {
            Ok(Some(row)) => {
                let name = row.try_get::<_, String>(0);
                let size = row.try_get::<_, i64>(1);
                match (name, size) {
                    (Ok(n), Ok(b)) => out.push(metrics::database_size(&n, b, server)),
                    _ => return (out, Err("pg_database: NULL name or size".into())),
                }
            }
            Ok(None) => return (out, Ok(())),
            Err(e) => return (out, Err(describe(&e))),
        }
    }
}

/// One query of the batch a scrape sends.
#[derive(Clone, Copy, Debug)]
enum Job {
    /// `SELECT version()`: `pg_static`, and which queries fit the server.
    Version,
    /// `pg_settings_*`.
    Settings,
    /// One of the builtin maps or the queries.yaml pair.
    Namespace(&'static metrics::Namespace),
}

impl Job {
    /// What an error names.
    fn what(&self) -> &'static str {
        match self {
            Job::Version => "version",
            Job::Settings => "pg_settings",
            Job::Namespace(ns) => ns.name,
        }
    }

    /// Whether a failure sets `pg_exporter_last_scrape_error`, as in the exporter.
    fn exporter_error(&self) -> bool {
        !matches!(self, Job::Version)
    }
}

/// The queries of a scrape, for the server's `version` (only `SELECT
/// version()` while it is not known).
fn plan(version: Option<metrics::Version>) -> Vec<(Job, String)> {
    let mut jobs = vec![(Job::Version, "SELECT version();".to_string())];
    let Some(v) = version else { return jobs };
    jobs.push((Job::Settings, metrics::SETTINGS_QUERY.to_string()));
    for ns in NAMESPACES.iter().chain(USER_NAMESPACES) {
        if let Some(sql) = ns.query(v) {
            jobs.push((Job::Namespace(ns), sql.into_owned()));
        }
    }
    jobs
}

/// The answer to a batch: a table per job (`None` for those left to run
/// alone), or the error that stopped it.
type Batch = Result<Vec<Option<Table>>, postgres::Error>;

/// Sends the queries of `jobs` not in `solo` as one simple-protocol
/// message (one round trip instead of one per query) and splits the
/// answer at each statement's `CommandComplete`. The tables of `solo`
/// queries are left `None` for the caller to run alone. An error fails
/// the whole batch (the server skips the statements after a failing one).
fn batch(
    client: &mut Client,
    columns: &mut Columns,
    solo: &HashSet<&'static str>,
    jobs: &[(Job, String)],
) -> Batch {
    let mut text = String::new();
    let mut sent = Vec::new();
    for (i, (job, sql)) in jobs.iter().enumerate() {
        if solo.contains(job.what()) {
            continue;
        }
        // Described (once per connection) before the batch runs.
        describe_query(client, columns, job.what(), sql)?;
        text.push_str(sql.trim_end().trim_end_matches(';'));
        text.push_str(";\n");
        sent.push(i);
    }
    let mut tables: Vec<Option<Table>> = vec![None; jobs.len()];
    if sent.is_empty() {
        return Ok(tables);
    }
    let mut rows = Vec::new();
    let mut done = sent.into_iter();
    for m in client.simple_query(&text)? {
        match m {
            SimpleQueryMessage::Row(r) => rows.push(Row::new((0..r.len()).map(|i| r.get(i)))),
            SimpleQueryMessage::CommandComplete(_) => {
                if let Some(i) = done.next() {
                    let cols = columns.get(jobs[i].0.what()).cloned().unwrap_or_default();
                    tables[i] = Some(Table {
                        columns: cols,
                        rows: std::mem::take(&mut rows),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(tables)
}

/// One scrape of one server, handing series to `report` as they come.
pub(super) fn scrape(t: &Target, report: &Report) {
    let mut session = t.session();
    let session = &mut *session;
    let mut version = session.version;
    let Some((jobs, results)) = first_batch(t, report, session, version) else {
        return;
    };
    let Some(client) = session.client.as_mut() else {
        return;
    };
    report.connected();
    let mut pass = Pass {
        t,
        report,
        client,
        columns: &mut session.columns,
        solo: &mut session.solo,
        alive: true,
    };
    let mut tables = pass.ran(&jobs, results);
    pass.learn_version(&mut session.version, &mut version, &mut tables);
    if version.is_none() {
        pass.fail(
            "builtin metrics",
            "skipped: the server version is not known yet",
            false,
        );
    }
    pass.emit(&tables, version);
    pass.collectors(&mut session.database_stmt, version);
    if !pass.alive {
        pass.fail(
            "connection",
            "lost during the scrape; reconnecting next time",
            true,
        );
        session.client = None;
    }
}

/// Reports a failure of `what` on `t`'s server, its secrets redacted.
fn fail(t: &Target, report: &Report, what: &str, e: &str, exporter: bool) {
    report.error(format!("{}: {what}: {}", t.server, t.redact(e)), exporter)
}

/// The connection and the scrape's first batch: the kept connection, else
/// a new one. The first batch tells whether the kept one still works (no
/// extra round trip to check it): if it fails on a closed connection, it
/// is retried once on a new one. `None` when there is nothing to scrape
/// (no connection, or the scrape's time is up).
fn first_batch(
    t: &Target,
    report: &Report,
    session: &mut super::Session,
    version: Option<metrics::Version>,
) -> Option<(Vec<(Job, String)>, Batch)> {
    if session.client.as_ref().is_some_and(|c| c.is_closed()) {
        session.client = None;
    }
    let mut fresh = false;
    loop {
        if session.client.is_none() {
            if t.sslmode_unset && !session.warned_plain {
                session.warned_plain = true;
                log::warn!(
                    "postgres {}: the DSN sets no sslmode; connecting without TLS (postgres_exporter's lib/pq would require it; set sslmode=disable to silence this)",
                    t.server
                );
            }
            match connect(t) {
                Ok(c) => {
                    session.client = Some(c);
                    session.columns.clear();
                    session.solo.clear();
                    session.database_stmt = None;
                    fresh = true;
                }
                Err(e) => {
                    fail(t, report, "cannot connect", &e, true);
                    return None;
                }
            }
        }
        let client = session.client.as_mut()?;
        if !report.open() {
            return None;
        }
        // Until the version is known, only `SELECT version()`: the other
        // queries depend on it.
        let jobs = plan(version);
        match batch(client, &mut session.columns, &session.solo, &jobs) {
            Err(e) if !fresh && (e.is_closed() || client.is_closed()) => {
                log::debug!("postgres {}: connection lost, reconnecting", t.server);
                session.client = None;
            }
            results => return Some((jobs, results)),
        }
    }
}

/// A scrape on a working connection: what its steps share.
struct Pass<'a> {
    t: &'a Target,
    report: &'a Report,
    client: &'a mut Client,
    columns: &'a mut Columns,
    solo: &'a mut HashSet<&'static str>,
    /// The connection has not been lost during the scrape.
    alive: bool,
}

impl Pass<'_> {
    /// [`fail`], on this scrape's server.
    fn fail(&self, what: &str, e: &str, exporter: bool) {
        fail(self.t, self.report, what, e, exporter)
    }

    /// The tables of a batch's `jobs`. A failed batch: its queries one at
    /// a time, so that one failing query costs only its own series; those
    /// that fail are run on their own from now on (a batch stops at its
    /// first error).
    fn ran(&mut self, jobs: &[(Job, String)], results: Batch) -> Vec<(Job, Table)> {
        let tables = match results {
            Ok(t) => t,
            Err(_) => vec![None; jobs.len()],
        };
        let mut out = Vec::new();
        for ((job, sql), table) in jobs.iter().zip(tables) {
            let table = match table {
                Some(t) => Ok(t),
                None if !self.alive || !self.report.open() => continue,
                None => query(self.client, self.columns, job.what(), sql),
            };
            match table {
                Ok(table) => out.push((*job, table)),
                Err(e) => {
                    self.solo.insert(job.what());
                    self.fail(job.what(), &describe(&e), job.exporter_error());
                    self.alive &= !self.client.is_closed();
                }
            }
        }
        out
    }

    /// pg_static, and the version the maps depend on (`known`: the
    /// session's). On a new connection (or a server that changed version
    /// under the same address), the other queries follow now, planned for
    /// the version just read, and their tables replace `tables`.
    fn learn_version(
        &mut self,
        known: &mut Option<metrics::Version>,
        version: &mut Option<metrics::Version>,
        tables: &mut Vec<(Job, Table)>,
    ) {
        let Some(text) = tables.iter().find_map(|(j, t)| match j {
            Job::Version => Some(version_text(t)),
            _ => None,
        }) else {
            return;
        };
        let Some(v) = metrics::parse_version(&text) else {
            return self.fail("version", "no version number in SELECT version()", false);
        };
        let server = &self.t.server;
        if *known != Some(v) {
            log::info!("postgres {server}: server version {v}");
        }
        *known = Some(v);
        self.report
            .samples(vec![metrics::static_sample(&text, v, server)]);
        if *version != Some(v) && self.alive && self.report.open() {
            // What was learnt for the other version does not hold.
            *version = Some(v);
            self.columns.clear();
            self.solo.clear();
            let rest: Vec<_> = plan(*version)
                .into_iter()
                .filter(|(j, _)| !matches!(j, Job::Version))
                .collect();
            let results = batch(self.client, self.columns, self.solo, &rest);
            *tables = self.ran(&rest, results);
        }
    }

    /// The series of `pg_settings` and of the maps and user queries.
    fn emit(&self, tables: &[(Job, Table)], version: Option<metrics::Version>) {
        let server = &self.t.server;
        for (job, table) in tables {
            match (job, version) {
                (Job::Settings, _) => {
                    let mut out = Vec::new();
                    for row in &table.rows {
                        let cell = |i: usize| row.get(i).unwrap_or("");
                        match metrics::setting(cell(0), cell(1), cell(2), cell(3), cell(4), server)
                        {
                            Ok(s) => out.push(s),
                            Err(e) => log::debug!("postgres {server}: {e}"),
                        }
                    }
                    self.report.samples(out);
                }
                (Job::Namespace(ns), Some(v)) => {
                    let mut problems = Vec::new();
                    self.report
                        .samples(metrics::namespace(ns, v, table, server, &mut problems));
                    for p in problems {
                        log::debug!("postgres {server}: {p}");
                    }
                }
                _ => {}
            }
        }
    }

    /// The `bgwriter` and `database` collectors, with their own success gauges.
    fn collectors(
        &mut self,
        database_stmt: &mut Option<Statement>,
        version: Option<metrics::Version>,
    ) {
        let server = &self.t.server;
        for name in super::COLLECTORS {
            if !self.report.open() {
                break;
            }
            let start = Instant::now();
            let (samples, result) = if !self.alive {
                (Vec::new(), Err("the connection was lost".to_string()))
            } else if name == "bgwriter" {
                match query(
                    self.client,
                    self.columns,
                    "bgwriter",
                    metrics::bgwriter_query(version),
                ) {
                    Ok(table) => match metrics::bgwriter(&table, server) {
                        Ok(s) => (s, Ok(())),
                        Err(e) => (Vec::new(), Err(e)),
                    },
                    Err(e) => (Vec::new(), Err(describe(&e))),
                }
            } else {
                database_sizes(self.client, database_stmt, server)
            };
            self.alive &= !self.client.is_closed();
            self.report.samples(samples);
            if let Err(e) = &result {
                self.fail(&format!("collector {name}"), e, false);
            }
            let secs = start.elapsed().as_secs_f64();
            self.report
                .samples(super::collector_samples(name, server, secs, result.is_ok()).into());
        }
    }
}
