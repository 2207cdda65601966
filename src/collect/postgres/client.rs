//! The PostgreSQL side (the `postgres` feature): one connection per server,
//! the queries of a scrape, and their rows as [`Table`]s.
//!
//! The exporter's driver reads every value in PostgreSQL's text form;
//! picket does the same, so labels and numbers match it to the character:
//! each query is prepared (for its column types) and then run with the
//! simple protocol (whose rows are text). The session is set up as lib/pq
//! sets it up (`DateStyle` ISO, `extra_float_digits` 2, which also shows in
//! `pg_settings_extra_float_digits`), plus a `statement_timeout` of the
//! target's timeout, so a query stuck on a lock is cancelled by the server.
//! There is no TLS ([`NoTls`]); `sslmode` was checked when the DSN was read.

use std::error::Error as _;
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config, NoTls, SimpleQueryMessage};

use super::dsn;
use super::metrics::{self, Kind, Table, NAMESPACES, USER_NAMESPACES};
use super::{Report, Target};
use crate::metric::Sample;

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

/// Runs `sql`: column names and kinds from its description, rows as text.
fn query(client: &mut Client, sql: &str) -> Result<Table, postgres::Error> {
    let stmt = client.prepare(sql)?;
    let columns = stmt
        .columns()
        .iter()
        .map(|c| (c.name().to_string(), Kind::of_oid(c.type_().oid())))
        .collect();
    drop(stmt);
    let rows = client
        .simple_query(sql)?
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect();
    Ok(Table { columns, rows })
}

/// The `database` collector: sizes row by row, so that the databases
/// before one it may not read are kept, as the exporter keeps them (Go's
/// `rows.Next` stops at the error after their series were sent).
fn database_sizes(client: &mut Client, server: &str) -> (Vec<Sample>, Result<(), String>) {
    let mut out = Vec::new();
    let rows = client.query_raw(metrics::DATABASE_QUERY, std::iter::empty::<&str>());
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

/// One scrape of one server, handing series to `report` as they come.
pub(super) fn scrape(t: &Target, report: &Report) {
    let mut session = t.session();
    let session = &mut *session;
    let fail = |what: &str, e: &str, exporter: bool| {
        report.error(format!("{}: {what}: {}", t.server, t.redact(e)), exporter)
    };

    // The connection: the kept one if it still answers, else a new one.
    if let Some(c) = session.client.as_mut() {
        if c.is_closed() || c.is_valid(t.timeout).is_err() {
            log::debug!("postgres {}: connection lost, reconnecting", t.server);
            session.client = None;
        }
    }
    if session.client.is_none() {
        if t.sslmode_unset && !session.warned_plain {
            session.warned_plain = true;
            log::warn!(
                "postgres {}: the DSN sets no sslmode; connecting without TLS (postgres_exporter's lib/pq would require it; set sslmode=disable to silence this)",
                t.server
            );
        }
        match connect(t) {
            Ok(c) => session.client = Some(c),
            Err(e) => return fail("cannot connect", &e, true),
        }
    }
    let Some(client) = session.client.as_mut() else {
        return;
    };
    report.connected();

    // Runs one query (none once the scrape has stopped waiting); false
    // when the connection is gone (stop there).
    let run = |client: &mut Client, sql: &str, what: &str, exporter: bool| {
        if !report.open() {
            return (None, true);
        }
        match query(client, sql) {
            Ok(t) => (Some(t), true),
            Err(e) => {
                fail(what, &describe(&e), exporter);
                (None, !client.is_closed())
            }
        }
    };
    let mut alive = true;

    // pg_static, and the version the maps depend on.
    let (table, ok) = run(client, "SELECT version();", "version", false);
    alive &= ok;
    if let Some(text) = table
        .as_ref()
        .and_then(|t| t.rows.first())
        .and_then(|r| r.first().cloned().flatten())
    {
        match metrics::parse_version(&text) {
            Some(v) => {
                if session.version != Some(v) {
                    log::info!("postgres {}: server version {v}", t.server);
                }
                session.version = Some(v);
                report.samples(vec![metrics::static_sample(&text, v, &t.server)]);
            }
            None => fail("version", "no version number in SELECT version()", false),
        }
    }
    let version = session.version;

    // pg_settings_*.
    if alive {
        let (table, ok) = run(client, metrics::SETTINGS_QUERY, "pg_settings", true);
        alive &= ok;
        if let Some(table) = table {
            let mut out = Vec::new();
            for row in &table.rows {
                let cell = |i: usize| row.get(i).and_then(|c| c.as_deref()).unwrap_or("");
                match metrics::setting(cell(0), cell(1), cell(2), cell(3), cell(4), &t.server) {
                    Ok(s) => out.push(s),
                    Err(e) => log::debug!("postgres {}: {e}", t.server),
                }
            }
            report.samples(out);
        }
    }

    // The builtin maps, then the queries.yaml pair.
    match version {
        Some(v) => {
            for ns in NAMESPACES.iter().chain(USER_NAMESPACES) {
                if !alive || !report.open() {
                    break;
                }
                let Some(sql) = ns.query(v) else { continue };
                let (table, ok) = run(client, &sql, ns.name, true);
                alive &= ok;
                if let Some(table) = table {
                    let mut problems = Vec::new();
                    report.samples(metrics::namespace(ns, v, &table, &t.server, &mut problems));
                    for p in problems {
                        log::debug!("postgres {}: {p}", t.server);
                    }
                }
            }
        }
        None => fail(
            "builtin metrics",
            "skipped: the server version is not known yet",
            false,
        ),
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
            match query(client, metrics::bgwriter_query(version)) {
                Ok(table) => match metrics::bgwriter(&table, &t.server) {
                    Ok(s) => (s, Ok(())),
                    Err(e) => (Vec::new(), Err(e)),
                },
                Err(e) => (Vec::new(), Err(describe(&e))),
            }
        } else {
            database_sizes(client, &t.server)
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
