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
) -> Result<Vec<Option<Table>>, postgres::Error> {
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
    let fail = |what: &str, e: &str, exporter: bool| {
        report.error(format!("{}: {what}: {}", t.server, t.redact(e)), exporter)
    };

    // The connection: the kept one, else a new one. The first batch tells
    // whether the kept one still works (no extra round trip to check it):
    // if it fails on a closed connection, it is retried once on a new one.
    if session.client.as_ref().is_some_and(|c| c.is_closed()) {
        session.client = None;
    }
    let mut fresh = false;
    let mut version = session.version;
    let (mut jobs, results);
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
                Err(e) => return fail("cannot connect", &e, true),
            }
        }
        let Some(client) = session.client.as_mut() else {
            return;
        };
        if !report.open() {
            return;
        }
        // Until the version is known, only `SELECT version()`: the other
        // queries depend on it.
        jobs = plan(version);
        match batch(client, &mut session.columns, &session.solo, &jobs) {
            Err(e) if !fresh && (e.is_closed() || client.is_closed()) => {
                log::debug!("postgres {}: connection lost, reconnecting", t.server);
                session.client = None;
            }
            r => {
                results = r;
                break;
            }
        }
    }
    let Some(client) = session.client.as_mut() else {
        return;
    };
    report.connected();
    let columns = &mut session.columns;
    let mut alive = true;
    let ran = |client: &mut Client,
               alive: &mut bool,
               columns: &mut Columns,
               solo: &mut HashSet<&'static str>,
               jobs: &[(Job, String)],
               results: Result<Vec<Option<Table>>, postgres::Error>| {
        // A failed batch: its queries one at a time, so that one failing
        // query costs only its own series; those that fail are run on
        // their own from now on (a batch stops at its first error).
        let tables = match results {
            Ok(t) => t,
            Err(_) => vec![None; jobs.len()],
        };
        let mut out = Vec::new();
        for ((job, sql), table) in jobs.iter().zip(tables) {
            let table = match table {
                Some(t) => Ok(t),
                None if !*alive || !report.open() => continue,
                None => query(client, columns, job.what(), sql),
            };
            match table {
                Ok(table) => out.push((*job, table)),
                Err(e) => {
                    solo.insert(job.what());
                    fail(job.what(), &describe(&e), job.exporter_error());
                    *alive &= !client.is_closed();
                }
            }
        }
        out
    };
    let mut tables = ran(
        client,
        &mut alive,
        columns,
        &mut session.solo,
        &jobs,
        results,
    );

    // pg_static, and the version the maps depend on. On a new connection
    // (or a server that changed version under the same address), the
    // other queries follow now, planned for the version just read.
    if let Some(text) = tables.iter().find_map(|(j, t)| match j {
        Job::Version => Some(version_text(t)),
        _ => None,
    }) {
        match metrics::parse_version(&text) {
            Some(v) => {
                if session.version != Some(v) {
                    log::info!("postgres {}: server version {v}", t.server);
                }
                session.version = Some(v);
                report.samples(vec![metrics::static_sample(&text, v, &t.server)]);
                if version != Some(v) && alive && report.open() {
                    // What was learnt for the other version does not hold.
                    version = Some(v);
                    columns.clear();
                    session.solo.clear();
                    let rest: Vec<_> = plan(version)
                        .into_iter()
                        .filter(|(j, _)| !matches!(j, Job::Version))
                        .collect();
                    let results = batch(client, columns, &session.solo, &rest);
                    tables = ran(
                        client,
                        &mut alive,
                        columns,
                        &mut session.solo,
                        &rest,
                        results,
                    );
                }
            }
            None => fail("version", "no version number in SELECT version()", false),
        }
    }
    if version.is_none() {
        fail(
            "builtin metrics",
            "skipped: the server version is not known yet",
            false,
        );
    }
    for (job, table) in &tables {
        match (job, version) {
            (Job::Settings, _) => {
                let mut out = Vec::new();
                for row in &table.rows {
                    let cell = |i: usize| row.get(i).unwrap_or("");
                    match metrics::setting(cell(0), cell(1), cell(2), cell(3), cell(4), &t.server) {
                        Ok(s) => out.push(s),
                        Err(e) => log::debug!("postgres {}: {e}", t.server),
                    }
                }
                report.samples(out);
            }
            (Job::Namespace(ns), Some(v)) => {
                let mut problems = Vec::new();
                report.samples(metrics::namespace(ns, v, table, &t.server, &mut problems));
                for p in problems {
                    log::debug!("postgres {}: {p}", t.server);
                }
            }
            _ => {}
        }
    }

    // The `bgwriter` and `database` collectors, with their own success gauges.
    for name in super::COLLECTORS {
        if !report.open() {
            break;
        }
        let start = Instant::now();
        let (samples, result) = if !alive {
            (Vec::new(), Err("the connection was lost".to_string()))
        } else if name == "bgwriter" {
            match query(
                client,
                columns,
                "bgwriter",
                metrics::bgwriter_query(version),
            ) {
                Ok(table) => match metrics::bgwriter(&table, &t.server) {
                    Ok(s) => (s, Ok(())),
                    Err(e) => (Vec::new(), Err(e)),
                },
                Err(e) => (Vec::new(), Err(describe(&e))),
            }
        } else {
            database_sizes(client, &mut session.database_stmt, &t.server)
        };
        alive &= !client.is_closed();
        report.samples(samples);
        if let Err(e) = &result {
            fail(&format!("collector {name}"), e, false);
        }
        let secs = start.elapsed().as_secs_f64();
        report.samples(super::collector_samples(name, &t.server, secs, result.is_ok()).into());
    }
    if !alive {
        fail(
            "connection",
            "lost during the scrape; reconnecting next time",
            true,
        );
        session.client = None;
    }
}
