//! From PostgreSQL's rows to postgres_exporter 0.11.1's series, without a
//! server: every rule of the exporter that shapes names, types, labels and
//! values lives here, as data plus pure functions, so unit tests can feed
//! rows and check series.
//!
//! The exporter reads rows through lib/pq, which hands each column over in
//! PostgreSQL's text form, decoded by column type (`textDecode`): integers,
//! floats, booleans and timestamps become numbers, everything else stays
//! text (then parsed as a float where a number is wanted: `numeric`, `oid`,
//! `pg_lsn`…). [`Kind`] and [`decode`] copy that step from the text the
//! client receives, so labels come out as PostgreSQL prints them
//! (`client_addr`, `datid`) and values as the exporter computes them
//! (timestamps as whole epoch seconds, NULL as NaN, `t` as 1).
//!
//! Three groups of series (see the notes, exporter-compat.md §4):
//!
//! - the builtin "namespaces" ([`NAMESPACES`]): one query each, every column
//!   a label, a counter, a gauge, or discarded; a column the map does not
//!   know becomes an untyped `<namespace>_<column>` ("Unknown metric"), which
//!   is how PostgreSQL 14's `pg_stat_database_session_time` and friends
//!   appear. A label column the query lacks takes column 0's value (the
//!   exporter's index lookup falls back to 0: `pg_stat_replication`'s
//!   `slot_name` is the walsender's pid);
//! - `pg_settings_*` ([`setting`]) and `pg_static` ([`static_sample`]);
//! - the `database` and `bgwriter` collectors ([`database_size`], [`bgwriter`]),
//!   which scan fixed columns and fail on a NULL, as Go's `Scan` does.

// Without the `postgres` feature nothing reads a server: the tables stay
// (the unit tests drive them) but nothing builds rows.
#![cfg_attr(not(feature = "postgres"), allow(dead_code))]

use std::borrow::Cow;

use picket_core::metric::{valid_metric_name, Labels, MetricType, Sample};

/// How lib/pq decodes a column's text, by the column's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `bool`: `t`/`f`.
    Bool,
    /// `int2`, `int4`, `int8`.
    Int,
    /// `float4`, `float8`.
    Float,
    /// `char`, `varchar`, `text`.
    Text,
    /// `date`, `timestamp`, `timestamptz`.
    Time,
    /// Anything else (`name`, `oid`, `numeric`, `inet`, `pg_lsn`…): text.
    Other,
}

impl Kind {
    /// The kind of a column of type `oid`.
    pub(crate) fn of_oid(oid: u32) -> Kind {
        match oid {
            16 => Kind::Bool,
            20 | 21 | 23 => Kind::Int,
            700 | 701 => Kind::Float,
            18 | 25 | 1043 => Kind::Text,
            1082 | 1114 | 1184 => Kind::Time,
            _ => Kind::Other,
        }
    }
}

/// A query's result: column names and kinds, rows of text (None = NULL).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Table {
    /// Column names and kinds, in order.
    pub columns: Vec<(String, Kind)>,
    /// Rows, one cell per column.
    pub rows: Vec<Row>,
}

/// One row's cells as text (None = NULL), kept in one buffer: a scrape
/// reads thousands of cells, and one allocation per row instead of one per
/// cell is a measurable part of the collector's CPU.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Row {
    text: String,
    cells: Vec<Option<(u32, u32)>>,
}

impl Row {
    /// A row of the given cells.
    pub(crate) fn new<'a, I>(cells: I) -> Row
    where
        I: IntoIterator<Item = Option<&'a str>>,
        I::IntoIter: Clone,
    {
        // Sized up front: growing the buffer cell by cell cost more than
        // the copying.
        let cells = cells.into_iter();
        let text: usize = cells.clone().map(|c| c.map_or(0, str::len)).sum();
        let mut row = Row {
            text: String::with_capacity(text),
            cells: Vec::with_capacity(cells.size_hint().0),
        };
        for c in cells {
            row.push(c);
        }
        row
    }

    /// Appends a cell.
    pub(crate) fn push(&mut self, cell: Option<&str>) {
        let cell = cell.map(|c| {
            let start = self.text.len();
            self.text.push_str(c);
            (start as u32, self.text.len() as u32)
        });
        self.cells.push(cell);
    }

    /// Cell `i`: None when NULL or past the end.
    pub(crate) fn get(&self, i: usize) -> Option<&str> {
        let (a, b) = (*self.cells.get(i)?)?;
        self.text.get(a as usize..b as usize)
    }
}

/// One decoded column value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Value<'a> {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A point in time, in whole seconds since the epoch.
    Time(i64),
    /// Text (including types lib/pq leaves as bytes).
    Text(&'a str),
}

/// lib/pq's `textDecode`.
pub(crate) fn decode(kind: Kind, text: Option<&str>) -> Value<'_> {
    let Some(t) = text else {
        return Value::Null;
    };
    match kind {
        Kind::Bool => Value::Bool(t.starts_with('t')),
        Kind::Int => t.parse().map_or(Value::Text(t), Value::Int),
        Kind::Float => t.parse().map_or(Value::Text(t), Value::Float),
        Kind::Time => parse_timestamp(t).map_or(Value::Text(t), Value::Time),
        Kind::Text | Kind::Other => Value::Text(t),
    }
}

/// The exporter's `dbToFloat64`: None where it reports "not ok".
pub(crate) fn to_f64(v: Value<'_>) -> Option<f64> {
    match v {
        Value::Null => Some(f64::NAN),
        Value::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
        Value::Int(i) => Some(i as f64),
        Value::Float(f) => Some(f),
        Value::Time(s) => Some(s as f64),
        Value::Text(t) => go_parse_float(t),
    }
}

/// The exporter's `dbToString` (label values).
pub(crate) fn to_label(v: Value<'_>) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => go_format_float(f),
        Value::Time(s) => s.to_string(),
        Value::Text(t) => t.to_string(),
    }
}

/// Go's `strconv.ParseFloat(s, 64)`, closely enough: decimal forms,
/// `inf`/`infinity`/`nan` in any case, and out-of-range values refused.
pub(crate) fn go_parse_float(s: &str) -> Option<f64> {
    if s.is_empty() || s.contains('_') {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    if v.is_infinite() {
        let word = s.trim_start_matches(['+', '-']).to_ascii_lowercase();
        if word != "inf" && word != "infinity" {
            return None;
        }
    }
    Some(v)
}

/// Go's `%v` for a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`).
pub(crate) fn go_format_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let e = format!("{v:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        format!("{v}")
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.unsigned_abs())
    }
}

/// A timestamp in PostgreSQL's ISO output (`2024-05-01 12:34:56.789+02`,
/// `2024-05-01`, `… BC`), as whole seconds since the epoch (floored, like
/// Go's `Time.Unix`). None for `infinity` and anything unexpected.
pub(crate) fn parse_timestamp(s: &str) -> Option<i64> {
    let (s, bc) = match s.strip_suffix(" BC") {
        Some(r) => (r, true),
        None => (s, false),
    };
    let (date, rest) = s.split_once(' ').unwrap_or((s, ""));
    let mut d = date.splitn(3, '-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: i64 = d.next()?.parse().ok()?;
    let day: i64 = d.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let year = if bc { 1 - year } else { year };
    let (mut secs, mut offset) = (0i64, 0i64);
    if !rest.is_empty() {
        let (time, tz) = match rest.rfind(['+', '-']) {
            Some(i) => (&rest[..i], Some(&rest[i..])),
            None => (rest, None),
        };
        let mut t = time.split(':');
        let h: i64 = t.next()?.parse().ok()?;
        let m: i64 = t.next()?.parse().ok()?;
        let sec = t.next().unwrap_or("0");
        let sec: i64 = sec.split('.').next()?.parse().ok()?;
        secs = h * 3600 + m * 60 + sec;
        if let Some(tz) = tz {
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            let mut parts = tz[1..].split(':');
            let mut o = 0i64;
            for mul in [3600, 60, 1] {
                match parts.next() {
                    Some(p) => o += p.parse::<i64>().ok()? * mul,
                    None => break,
                }
            }
            offset = sign * o;
        }
    }
    Some(picket_core::clock::days_from_civil(year, month, day) * 86_400 + secs - offset)
}

/// A server version, as the exporter's semver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Version(pub u64, pub u64, pub u64);

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// The exporter's `parseVersion`: the `^\w+ (\d+)(\.\d+)?(\.\d+)?` of
/// `SELECT version()`, missing parts 0 (`PostgreSQL 15.4 …` → 15.4.0).
pub(crate) fn parse_version(s: &str) -> Option<Version> {
    let word = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    if word == 0 {
        return None;
    }
    let mut rest = s[word..].strip_prefix(' ')?;
    let mut parts = [0u64; 3];
    for (i, part) in parts.iter_mut().enumerate() {
        if i > 0 {
            match rest.strip_prefix('.') {
                Some(r) if r.starts_with(|c: char| c.is_ascii_digit()) => rest = r,
                _ => break,
            }
        }
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if end == 0 {
            return None;
        }
        *part = rest[..end].parse().ok()?;
        rest = &rest[end..];
    }
    Some(Version(parts[0], parts[1], parts[2]))
}

/// A range of server versions: `from` inclusive, `below` exclusive.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Range {
    /// Lowest version in the range.
    pub from: Option<Version>,
    /// First version past the range.
    pub below: Option<Version>,
}

impl Range {
    /// Every version.
    pub(crate) const ALL: Range = Range {
        from: None,
        below: None,
    };

    /// Whether `v` is in the range.
    pub(crate) fn contains(&self, v: Version) -> bool {
        self.from.is_none_or(|f| f <= v) && self.below.is_none_or(|b| v < b)
    }
}

const fn from(a: u64, b: u64) -> Range {
    Range {
        from: Some(Version(a, b, 0)),
        below: None,
    }
}

const fn below(a: u64, b: u64) -> Range {
    Range {
        from: None,
        below: Some(Version(a, b, 0)),
    }
}

const fn between(a: u64, b: u64, c: u64, d: u64) -> Range {
    Range {
        from: Some(Version(a, b, 0)),
        below: Some(Version(c, d, 0)),
    }
}

/// What the exporter does with a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Usage {
    /// Nothing.
    Discard,
    /// A label of every series of the namespace.
    Label,
    /// A counter `<namespace>_<column>`.
    Counter,
    /// A gauge `<namespace>_<column>`.
    Gauge,
}

/// One column of a namespace's map.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Col {
    /// Column name.
    pub name: &'static str,
    /// What it becomes.
    pub usage: Usage,
    /// Help text of its series.
    pub help: &'static str,
    /// Versions it is used on (elsewhere: discarded).
    pub range: Range,
}

const fn col(name: &'static str, usage: Usage, help: &'static str) -> Col {
    Col {
        name,
        usage,
        help,
        range: Range::ALL,
    }
}

const fn col_in(name: &'static str, usage: Usage, help: &'static str, range: Range) -> Col {
    Col {
        name,
        usage,
        help,
        range,
    }
}

const fn discard(name: &'static str) -> Col {
    col(name, Usage::Discard, "")
}

/// A builtin metric map: a query and what its columns become.
#[derive(Debug)]
pub(crate) struct Namespace {
    /// Metric name prefix, and the view queried when there is no override.
    pub name: &'static str,
    /// Known columns.
    pub cols: &'static [Col],
    /// Version-specific queries; none = `SELECT * FROM <name>;`. When
    /// there are some and none matches the server, the namespace is off.
    pub queries: &'static [(Range, &'static str)],
}

impl Namespace {
    /// The query for server version `v`, or None when the namespace is off.
    pub(crate) fn query(&self, v: Version) -> Option<Cow<'static, str>> {
        if self.queries.is_empty() {
            return Some(Cow::Owned(format!("SELECT * FROM {};", self.name)));
        }
        self.queries
            .iter()
            .find(|(r, _)| r.contains(v))
            .map(|(_, q)| Cow::Borrowed(*q))
    }

    /// The label columns, in map order.
    fn labels(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.cols
            .iter()
            .filter(|c| c.usage == Usage::Label)
            .map(|c| c.name)
    }
}

use Usage::{Counter as C, Gauge as G, Label as L};

/// `pg_stat_database`.
#[rustfmt::skip]
const STAT_DATABASE: &[Col] = &[
    col("datid", L, "OID of a database"),
    col("datname", L, "Name of this database"),
    col("numbackends", G, "Number of backends currently connected to this database."),
    col("xact_commit", C, "Number of transactions in this database that have been committed"),
    col("xact_rollback", C, "Number of transactions in this database that have been rolled back"),
    col("blks_read", C, "Number of disk blocks read in this database"),
    col("blks_hit", C, "Number of times disk blocks were found already in the PostgreSQL buffer cache"),
    col("tup_returned", C, "Number of rows returned by queries in this database"),
    col("tup_fetched", C, "Number of rows fetched by queries in this database"),
    col("tup_inserted", C, "Number of rows inserted by queries in this database"),
    col("tup_updated", C, "Number of rows updated by queries in this database"),
    col("tup_deleted", C, "Number of rows deleted by queries in this database"),
    col("conflicts", C, "Number of queries canceled due to conflicts with recovery in this database"),
    col("temp_files", C, "Number of temporary files created by queries in this database"),
    col("temp_bytes", C, "Total amount of data written to temporary files by queries in this database"),
    col("deadlocks", C, "Number of deadlocks detected in this database"),
    col("blk_read_time", C, "Time spent reading data file blocks by backends in this database, in milliseconds"),
    col("blk_write_time", C, "Time spent writing data file blocks by backends in this database, in milliseconds"),
    col("stats_reset", C, "Time at which these statistics were last reset"),
];

/// `pg_stat_database_conflicts`.
#[rustfmt::skip]
const STAT_DATABASE_CONFLICTS: &[Col] = &[
    col("datid", L, "OID of a database"),
    col("datname", L, "Name of this database"),
    col("confl_tablespace", C, "Number of queries in this database that have been canceled due to dropped tablespaces"),
    col("confl_lock", C, "Number of queries in this database that have been canceled due to lock timeouts"),
    col("confl_snapshot", C, "Number of queries in this database that have been canceled due to old snapshots"),
    col("confl_bufferpin", C, "Number of queries in this database that have been canceled due to pinned buffers"),
    col("confl_deadlock", C, "Number of queries in this database that have been canceled due to deadlocks"),
];

/// `pg_locks`.
#[rustfmt::skip]
const LOCKS: &[Col] = &[
    col("datname", L, "Name of this database"),
    col("mode", L, "Type of Lock"),
    col("count", G, "Number of locks"),
];

/// Every lock mode, one row per mode and database (0 when none is held).
const LOCKS_QUERY: &str = "SELECT pg_database.datname, modes.mode, COALESCE(held.count, 0) AS count \
FROM (VALUES ('accesssharelock'), ('rowsharelock'), ('rowexclusivelock'), ('shareupdateexclusivelock'), \
('sharelock'), ('sharerowexclusivelock'), ('exclusivelock'), ('accessexclusivelock'), ('sireadlock')) AS modes(mode) \
CROSS JOIN pg_database \
LEFT JOIN (SELECT database, lower(mode) AS mode, count(*) AS count FROM pg_locks \
WHERE database IS NOT NULL GROUP BY database, lower(mode)) AS held \
ON modes.mode = held.mode AND pg_database.oid = held.database ORDER BY 1";

/// `pg_stat_replication`.
#[rustfmt::skip]
const STAT_REPLICATION: &[Col] = &[
    col_in("procpid", Usage::Discard, "", below(9, 2)),
    col_in("pid", Usage::Discard, "", from(9, 2)),
    discard("usesysid"),
    discard("usename"),
    col("application_name", L, "Name of the application that is connected to this WAL sender"),
    col("client_addr", L, "IP address of the client connected to this WAL sender"),
    discard("client_hostname"),
    discard("client_port"),
    discard("backend_start"),
    discard("backend_xmin"),
    col("state", L, "Current WAL sender state"),
    col_in("sent_location", Usage::Discard, "", below(10, 0)),
    col_in("write_location", Usage::Discard, "", below(10, 0)),
    col_in("flush_location", Usage::Discard, "", below(10, 0)),
    col_in("replay_location", Usage::Discard, "", below(10, 0)),
    col_in("sent_lsn", Usage::Discard, "", from(10, 0)),
    col_in("write_lsn", Usage::Discard, "", from(10, 0)),
    col_in("flush_lsn", Usage::Discard, "", from(10, 0)),
    col_in("replay_lsn", Usage::Discard, "", from(10, 0)),
    discard("sync_priority"),
    discard("sync_state"),
    col_in("slot_name", L, "A unique, cluster-wide identifier for the replication slot", from(9, 2)),
    discard("plugin"),
    discard("slot_type"),
    discard("datoid"),
    discard("database"),
    discard("active"),
    discard("active_pid"),
    discard("xmin"),
    discard("catalog_xmin"),
    discard("restart_lsn"),
    discard("pg_current_xlog_location"),
    col_in("pg_current_wal_lsn", Usage::Discard, "", from(10, 0)),
    col_in("pg_current_wal_lsn_bytes", G, "WAL position in bytes", from(10, 0)),
    col_in("pg_xlog_location_diff", G, "Lag in bytes between master and slave", between(9, 2, 10, 0)),
    col_in("pg_wal_lsn_diff", G, "Lag in bytes between master and slave", from(10, 0)),
    discard("confirmed_flush_lsn"),
    col_in("write_lag", Usage::Discard, "", from(10, 0)),
    col_in("flush_lag", Usage::Discard, "", from(10, 0)),
    col_in("replay_lag", Usage::Discard, "", from(10, 0)),
];

/// `pg_replication_slots`.
#[rustfmt::skip]
const REPLICATION_SLOTS: &[Col] = &[
    col("slot_name", L, "Name of the replication slot"),
    col("database", L, "Name of the database"),
    col("active", G, "Flag indicating if the slot is active"),
    col("pg_wal_lsn_diff", G, "Replication lag in bytes"),
];

/// `pg_stat_archiver`.
#[rustfmt::skip]
const STAT_ARCHIVER: &[Col] = &[
    col("archived_count", C, "Number of WAL files that have been successfully archived"),
    discard("last_archived_wal"),
    discard("last_archived_time"),
    col("failed_count", C, "Number of failed attempts for archiving WAL files"),
    discard("last_failed_wal"),
    discard("last_failed_time"),
    discard("stats_reset"),
    col("last_archive_age", G, "Time in seconds since last WAL segment was successfully archived"),
];

/// `pg_stat_activity`.
#[rustfmt::skip]
const STAT_ACTIVITY: &[Col] = &[
    col("datname", L, "Name of this database"),
    col_in("state", L, "connection state", from(9, 2)),
    col("count", G, "number of connections in this state"),
    col("max_tx_duration", G, "max duration in seconds any active transaction has been running"),
];

/// Every connection state, one row per state and database (0 when none).
const ACTIVITY_QUERY: &str =
    "SELECT pg_database.datname, states.state, COALESCE(conns.count, 0) AS count, \
COALESCE(conns.max_tx_duration, 0) AS max_tx_duration \
FROM (VALUES ('active'), ('idle'), ('idle in transaction'), ('idle in transaction (aborted)'), \
('fastpath function call'), ('disabled')) AS states(state) \
CROSS JOIN pg_database \
LEFT JOIN (SELECT datname, state, count(*) AS count, \
MAX(EXTRACT(EPOCH FROM now() - xact_start))::float AS max_tx_duration \
FROM pg_stat_activity GROUP BY datname, state) AS conns \
ON states.state = conns.state AND pg_database.datname = conns.datname";

/// Before 9.2 there is no `state` column.
const ACTIVITY_QUERY_OLD: &str =
    "SELECT datname, 'unknown' AS state, COALESCE(count(*), 0) AS count, \
COALESCE(MAX(EXTRACT(EPOCH FROM now() - xact_start))::float, 0) AS max_tx_duration \
FROM pg_stat_activity GROUP BY datname";

/// The builtin maps postgres_exporter 0.11.1 queries on every server.
pub(crate) const NAMESPACES: &[Namespace] = &[
    Namespace {
        name: "pg_stat_database",
        cols: STAT_DATABASE,
        queries: &[],
    },
    Namespace {
        name: "pg_stat_database_conflicts",
        cols: STAT_DATABASE_CONFLICTS,
        queries: &[],
    },
    Namespace {
        name: "pg_locks",
        cols: LOCKS,
        queries: &[(Range::ALL, LOCKS_QUERY)],
    },
    Namespace {
        name: "pg_stat_replication",
        cols: STAT_REPLICATION,
        queries: &[
            (
                from(10, 0),
                "SELECT *, \
CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn() END AS pg_current_wal_lsn, \
CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), pg_lsn('0/0'))::float END AS pg_current_wal_lsn_bytes, \
CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float END AS pg_wal_lsn_diff \
FROM pg_stat_replication",
            ),
            (
                between(9, 2, 10, 0),
                "SELECT *, \
CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_xlog_location() END AS pg_current_xlog_location, \
CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_xlog_location_diff(pg_current_xlog_location(), replay_location)::float END AS pg_xlog_location_diff \
FROM pg_stat_replication",
            ),
            (
                below(9, 2),
                "SELECT *, \
CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_xlog_location() END AS pg_current_xlog_location \
FROM pg_stat_replication",
            ),
        ],
    },
    Namespace {
        name: "pg_replication_slots",
        cols: REPLICATION_SLOTS,
        queries: &[
            (
                between(9, 4, 10, 0),
                "SELECT slot_name, database, active, pg_xlog_location_diff(pg_current_xlog_location(), restart_lsn) FROM pg_replication_slots",
            ),
            (
                from(10, 0),
                "SELECT slot_name, database, active, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) FROM pg_replication_slots",
            ),
        ],
    },
    Namespace {
        name: "pg_stat_archiver",
        cols: STAT_ARCHIVER,
        queries: &[(
            from(9, 4),
            "SELECT *, extract(epoch from now() - last_archived_time) AS last_archive_age FROM pg_stat_archiver",
        )],
    },
    Namespace {
        name: "pg_stat_activity",
        cols: STAT_ACTIVITY,
        queries: &[
            (from(9, 2), ACTIVITY_QUERY),
            (below(9, 2), ACTIVITY_QUERY_OLD),
        ],
    },
];

/// The two entries of the exporter's sample `queries.yaml` nearly every
/// installation adds (`--extend.query-path`): dashboard 9628 reads
/// `pg_postmaster_start_time_seconds`, replication alerts `pg_replication_lag`.
pub(crate) const USER_NAMESPACES: &[Namespace] = &[
    Namespace {
        name: "pg_replication",
        cols: &[col("lag", G, "Replication lag behind master in seconds")],
        queries: &[(
            Range::ALL,
            "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0 \
ELSE GREATEST(0, EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp()))) END AS lag",
        )],
    },
    Namespace {
        name: "pg_postmaster",
        cols: &[col(
            "start_time_seconds",
            G,
            "Time at which postmaster started",
        )],
        queries: &[(
            Range::ALL,
            "SELECT pg_postmaster_start_time() AS start_time_seconds",
        )],
    },
];

/// The series of one namespace's result, and its non-fatal problems
/// (columns that are not numbers: the exporter logs them and goes on).
pub(crate) fn namespace(
    ns: &Namespace,
    v: Version,
    table: &Table,
    server: &str,
    problems: &mut Vec<String>,
) -> Vec<Sample> {
    let mut out = Vec::new();
    let idx = |name: &str| {
        table
            .columns
            .iter()
            .position(|(c, _)| c == name)
            .unwrap_or(0)
    };
    let label_cols: Vec<(&'static str, usize)> = ns.labels().map(|l| (l, idx(l))).collect();
    // What each column becomes, worked out once per table, not per row.
    let mut metric_cols = Vec::new();
    for (i, (cname, _)) in table.columns.iter().enumerate() {
        let (kind, help): (MetricType, Cow<'static, str>) =
            match ns.cols.iter().find(|c| c.name == cname) {
                Some(c) if !c.range.contains(v) => continue,
                Some(c) => match c.usage {
                    Usage::Discard | Usage::Label => continue,
                    Usage::Counter => (MetricType::Counter, c.help.into()),
                    Usage::Gauge => (MetricType::Gauge, c.help.into()),
                },
                None => (
                    MetricType::Untyped,
                    format!("Unknown metric from {}", ns.name).into(),
                ),
            };
        let name = format!("{}_{}", ns.name, cname);
        if !valid_metric_name(&name) {
            problems.push(format!("{}: column {cname:?} is no metric name", ns.name));
            continue;
        }
        metric_cols.push((i, cname, name, kind, help));
    }
    // Column by column (each column is one family), so the series arrive
    // grouped by family and the encoder's sort has little left to do.
    fn decoded<'r>(table: &Table, row: &'r Row, i: usize) -> Value<'r> {
        let kind = table.columns.get(i).map_or(Kind::Other, |c| c.1);
        decode(kind, row.get(i))
    }
    let row_labels: Vec<Labels> = table
        .rows
        .iter()
        .map(|row| {
            let mut labels = Labels::new();
            for &(name, i) in &label_cols {
                labels.set(name, to_label(decoded(table, row, i)));
            }
            labels.set("server", server);
            labels
        })
        .collect();
    for (i, cname, name, kind, help) in &metric_cols {
        for (row, labels) in table.rows.iter().zip(&row_labels) {
            match to_f64(decoded(table, row, *i)) {
                Some(value) => out.push(Sample::new(
                    name.clone(),
                    help.clone(),
                    *kind,
                    labels.clone(),
                    value,
                )),
                None => problems.push(format!(
                    "{}: column {cname} is not a number, left out",
                    ns.name
                )),
            }
        }
    }
    out
}

/// The settings query: numeric and boolean settings. `statement_timeout`
/// is read as the session started, before picket set its own. Ordered by
/// name, so the series arrive nearly in exposition order and the encoder's
/// sort has little left to do.
pub(crate) const SETTINGS_QUERY: &str = "SELECT name, \
CASE WHEN name = 'statement_timeout' THEN reset_val ELSE setting END, \
COALESCE(unit, ''), short_desc, vartype FROM pg_settings \
WHERE vartype IN ('bool', 'integer', 'real') AND name != 'sync_commit_cancel_wait' \
ORDER BY name COLLATE \"C\";";

/// One `pg_settings_*` gauge (the exporter's `pgSetting.metric`): dots in
/// the name become `_`; `on` is 1, other booleans 0; time units become
/// `_seconds`, size units `_bytes` (values converted, -1 kept as -1).
/// An unknown unit or an unparsable value is an error (the exporter panics).
pub(crate) fn setting(
    name: &str,
    value: &str,
    unit: &str,
    desc: &str,
    vartype: &str,
    server: &str,
) -> Result<Sample, String> {
    const PREFIX: &str = "pg_settings_";
    let mut metric = String::with_capacity(PREFIX.len() + name.len() + "_seconds".len());
    metric.push_str(PREFIX);
    metric.extend(name.chars().map(|c| if c == '.' { '_' } else { c }));
    let mut help = desc.to_string();
    let v = match vartype {
        "bool" => {
            if value == "on" {
                1.0
            } else {
                0.0
            }
        }
        "integer" | "real" => {
            let (v, suffix) =
                normalise_unit(value, unit).map_err(|e| format!("setting {name}: {e}"))?;
            if let Some(s) = suffix {
                metric.push('_');
                metric.push_str(s);
                help.push_str(&format!(" [Units converted to {s}.]"));
            }
            v
        }
        other => return Err(format!("setting {name}: unsupported vartype {other:?}")),
    };
    if !valid_metric_name(&metric) {
        return Err(format!("setting {name}: not a valid metric name"));
    }
    Ok(Sample::new(
        metric,
        help,
        MetricType::Gauge,
        Labels::from_pairs([("server", server)]),
        v,
    ))
}

/// Units the exporter strips off the end of a value (an Aurora quirk it
/// works around: it drops the unit and the character before it).
const VALUE_UNITS: &[&str] = &["ms", "s", "min", "h", "d", "B", "kB", "MB", "GB", "TB"];

fn normalise_unit(value: &str, unit: &str) -> Result<(f64, Option<&'static str>), String> {
    let mut value = value;
    if let Some(u) = VALUE_UNITS.iter().find(|u| value.ends_with(*u)) {
        value = value
            .get(..value.len().saturating_sub(u.len() + 1))
            .unwrap_or("");
    }
    let v = go_parse_float(value).ok_or_else(|| format!("value {value:?} is not a number"))?;
    let (suffix, factor) = match unit {
        "" => return Ok((v, None)),
        "ms" => ("seconds", 1e-3),
        "s" => ("seconds", 1.0),
        "min" => ("seconds", 60.0),
        "h" => ("seconds", 3600.0),
        "d" => ("seconds", 86_400.0),
        "B" => ("bytes", 1.0),
        "kB" => ("bytes", 1024.0),
        "MB" => ("bytes", 1024.0 * 1024.0),
        "GB" => ("bytes", 1024.0 * 1024.0 * 1024.0),
        "TB" => ("bytes", 1024.0 * 1024.0 * 1024.0 * 1024.0),
        "8kB" => ("bytes", 8192.0),
        "16kB" => ("bytes", 16384.0),
        "32kB" => ("bytes", 32768.0),
        "16MB" => ("bytes", 16.0 * 1024.0 * 1024.0),
        "32MB" => ("bytes", 32.0 * 1024.0 * 1024.0),
        "64MB" => ("bytes", 64.0 * 1024.0 * 1024.0),
        other => return Err(format!("unknown unit {other:?}")),
    };
    if v == -1.0 {
        return Ok((v, Some(suffix)));
    }
    // ms divides, as the exporter does (v/1000 is not always v*0.001).
    let v = if unit == "ms" { v / 1000.0 } else { v * factor };
    Ok((v, Some(suffix)))
}

/// `pg_static{version,short_version,server} 1`.
pub(crate) fn static_sample(version: &str, short: Version, server: &str) -> Sample {
    Sample::new(
        "pg_static",
        "Version string as reported by postgres",
        MetricType::Untyped,
        Labels::from_pairs([
            ("version", version.to_string()),
            ("short_version", short.to_string()),
            ("server", server.to_string()),
        ]),
        1.0,
    )
}

/// The `database` collector's query.
pub(crate) const DATABASE_QUERY: &str =
    "SELECT pg_database.datname, pg_database_size(pg_database.datname) FROM pg_database;";

/// One `pg_database_size_bytes{datname,server}`.
pub(crate) fn database_size(datname: &str, bytes: i64, server: &str) -> Sample {
    Sample::new(
        "pg_database_size_bytes",
        "Disk space used by the database",
        MetricType::Gauge,
        Labels::from_pairs([("datname", datname), ("server", server)]),
        bytes as f64,
    )
}

/// The `bgwriter` collector's query up to PostgreSQL 16.
pub(crate) const BGWRITER_QUERY: &str =
    "SELECT checkpoints_timed, checkpoints_req, checkpoint_write_time, \
checkpoint_sync_time, buffers_checkpoint, buffers_clean, maxwritten_clean, buffers_backend, \
buffers_backend_fsync, buffers_alloc, stats_reset FROM pg_stat_bgwriter;";

/// From PostgreSQL 17 the checkpointer's columns are in
/// `pg_stat_checkpointer` and the backends' writes only in `pg_stat_io`:
/// the same eleven columns, gathered from there (backend writes and fsyncs
/// are those of every process but the checkpointer and the background
/// writer, on relations, which is what `buffers_backend[_fsync]` counted).
pub(crate) const BGWRITER_QUERY_17: &str = "SELECT c.num_timed AS checkpoints_timed, \
c.num_requested AS checkpoints_req, c.write_time AS checkpoint_write_time, \
c.sync_time AS checkpoint_sync_time, c.buffers_written AS buffers_checkpoint, \
b.buffers_clean, b.maxwritten_clean, io.writes AS buffers_backend, \
io.fsyncs AS buffers_backend_fsync, b.buffers_alloc, b.stats_reset \
FROM pg_stat_bgwriter b CROSS JOIN pg_stat_checkpointer c CROSS JOIN \
(SELECT COALESCE(sum(writes), 0) AS writes, COALESCE(sum(fsyncs), 0) AS fsyncs FROM pg_stat_io \
WHERE object = 'relation' AND backend_type NOT IN ('background writer', 'checkpointer')) io;";

/// The bgwriter query for server version `v`.
pub(crate) fn bgwriter_query(v: Option<Version>) -> &'static str {
    match v {
        Some(v) if v >= Version(17, 0, 0) => BGWRITER_QUERY_17,
        _ => BGWRITER_QUERY,
    }
}

/// The bgwriter series: name suffix and help, in the query's column order.
#[rustfmt::skip]
const BGWRITER: [(&str, &str); 11] = [
    ("checkpoints_timed", "Number of scheduled checkpoints that have been performed"),
    ("checkpoints_req", "Number of requested checkpoints that have been performed"),
    ("checkpoint_write_time", "Total amount of time that has been spent in the portion of checkpoint processing where files are written to disk, in milliseconds"),
    ("checkpoint_sync_time", "Total amount of time that has been spent in the portion of checkpoint processing where files are synchronized to disk, in milliseconds"),
    ("buffers_checkpoint", "Number of buffers written during checkpoints"),
    ("buffers_clean", "Number of buffers written by the background writer"),
    ("maxwritten_clean", "Number of times the background writer stopped a cleaning scan because it had written too many buffers"),
    ("buffers_backend", "Number of buffers written directly by a backend"),
    ("buffers_backend_fsync", "Number of times a backend had to execute its own fsync call"),
    ("buffers_alloc", "Number of buffers allocated"),
    ("stats_reset", "Time at which these statistics were last reset"),
];

/// `pg_stat_bgwriter_*_total{server}` (counters, 0.11's names) from the
/// one row of [`bgwriter_query`]; a NULL or a missing row fails the collector.
pub(crate) fn bgwriter(table: &Table, server: &str) -> Result<Vec<Sample>, String> {
    let row = table
        .rows
        .first()
        .ok_or("pg_stat_bgwriter returned no row")?;
    let mut out = Vec::with_capacity(BGWRITER.len());
    for (i, (name, help)) in BGWRITER.iter().enumerate() {
        let kind = table.columns.get(i).map_or(Kind::Other, |c| c.1);
        let v = match decode(kind, row.get(i)) {
            Value::Null => return Err(format!("pg_stat_bgwriter: {name} is NULL")),
            v => to_f64(v).ok_or_else(|| format!("pg_stat_bgwriter: {name} is not a number"))?,
        };
        out.push(Sample::new(
            format!("pg_stat_bgwriter_{name}_total"),
            *help,
            MetricType::Counter,
            Labels::from_pairs([("server", server)]),
            v,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(cols: &[(&str, Kind)], rows: &[&[Option<&str>]]) -> Table {
        Table {
            columns: cols.iter().map(|(n, k)| (n.to_string(), *k)).collect(),
            rows: rows.iter().map(|r| Row::new(r.iter().copied())).collect(),
        }
    }

    fn lines(samples: &[Sample]) -> Vec<String> {
        let mut v: Vec<String> = samples
            .iter()
            .map(|s| {
                let l: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!(
                    "{} {} {{{}}} {}",
                    s.kind.as_str(),
                    s.name,
                    l.join(","),
                    s.value
                )
            })
            .collect();
        v.sort();
        v
    }

    const PG15: Version = Version(15, 4, 0);

    #[test]
    fn versions_parse_as_the_exporter_does() {
        let v =
            parse_version("PostgreSQL 15.4 (Debian 15.4-1) on x86_64-pc-linux-gnu").expect("15");
        assert_eq!(
            (v, v.to_string()),
            (Version(15, 4, 0), "15.4.0".to_string())
        );
        assert_eq!(
            parse_version("PostgreSQL 9.6.24 on arm"),
            Some(Version(9, 6, 24))
        );
        assert_eq!(
            parse_version("PostgreSQL 16beta1 on x"),
            Some(Version(16, 0, 0))
        );
        assert_eq!(
            parse_version("PostgreSQL 12. on x"),
            Some(Version(12, 0, 0))
        );
        assert_eq!(parse_version("PostgreSQL x"), None);
        assert_eq!(parse_version(" 15.4"), None);
        assert!(from(10, 0).contains(PG15) && !below(10, 0).contains(PG15));
        assert!(between(9, 2, 10, 0).contains(Version(9, 6, 24)));
    }

    #[test]
    fn timestamps_are_whole_epoch_seconds() {
        assert_eq!(parse_timestamp("1970-01-01 00:00:00+00"), Some(0));
        assert_eq!(
            parse_timestamp("2024-05-01 12:34:56.789+02"),
            Some(1_714_559_696)
        );
        assert_eq!(
            parse_timestamp("2024-05-01 12:34:56.789-03:30"),
            Some(1_714_579_496)
        );
        assert_eq!(parse_timestamp("1969-12-31 23:59:59.5+00"), Some(-1));
        assert_eq!(parse_timestamp("2000-01-01"), Some(946_684_800));
        assert_eq!(parse_timestamp("2024-02-29 00:00:00"), Some(1_709_164_800));
        assert_eq!(parse_timestamp("infinity"), None);
        // lib/pq leaves infinity as text, which parses as +Inf.
        assert_eq!(
            to_f64(decode(Kind::Time, Some("infinity"))),
            Some(f64::INFINITY)
        );
    }

    #[test]
    fn values_and_labels_follow_lib_pq() {
        assert_eq!(to_f64(decode(Kind::Bool, Some("t"))), Some(1.0));
        assert_eq!(to_f64(decode(Kind::Bool, Some("f"))), Some(0.0));
        assert!(to_f64(decode(Kind::Int, None)).expect("null").is_nan());
        assert_eq!(to_f64(decode(Kind::Other, Some("123.5"))), Some(123.5));
        assert_eq!(to_f64(decode(Kind::Other, Some("0/16B3748"))), None);
        assert_eq!(to_f64(decode(Kind::Other, Some("1e400"))), None);
        assert_eq!(
            to_f64(decode(Kind::Float, Some("-Infinity"))),
            Some(f64::NEG_INFINITY)
        );
        assert_eq!(to_label(decode(Kind::Bool, Some("t"))), "true");
        assert_eq!(to_label(decode(Kind::Int, Some("42"))), "42");
        assert_eq!(to_label(decode(Kind::Other, None)), "");
        assert_eq!(
            to_label(decode(Kind::Time, Some("1970-01-02 00:00:00+00"))),
            "86400"
        );
        for (f, s) in [
            (1.0, "1"),
            (0.5, "0.5"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (123456789.0, "1.23456789e+08"),
            (-2.5e100, "-2.5e+100"),
        ] {
            assert_eq!(go_format_float(f), s);
        }
    }

    #[test]
    fn settings_convert_units_as_the_exporter() {
        let s = |n, v, u, t| setting(n, v, u, "d", t, "h:1").map(|s| (s.name.to_string(), s.value));
        assert_eq!(
            s("fsync", "on", "", "bool"),
            Ok(("pg_settings_fsync".into(), 1.0))
        );
        assert_eq!(
            s("jit", "off", "", "bool"),
            Ok(("pg_settings_jit".into(), 0.0))
        );
        assert_eq!(
            s("shared_buffers", "16384", "8kB", "integer"),
            Ok(("pg_settings_shared_buffers_bytes".into(), 134_217_728.0))
        );
        assert_eq!(
            s("vacuum_cost_delay", "2", "ms", "real"),
            Ok(("pg_settings_vacuum_cost_delay_seconds".into(), 0.002))
        );
        assert_eq!(
            s("log_rotation_age", "1440", "min", "integer"),
            Ok(("pg_settings_log_rotation_age_seconds".into(), 86_400.0))
        );
        assert_eq!(
            s("autovacuum_work_mem", "-1", "kB", "integer"),
            Ok(("pg_settings_autovacuum_work_mem_bytes".into(), -1.0))
        );
        assert_eq!(
            s("pg_stat_statements.max", "5000", "", "integer"),
            Ok(("pg_settings_pg_stat_statements_max".into(), 5000.0))
        );
        assert_eq!(
            s("data_directory_mode", "0700", "", "integer"),
            Ok(("pg_settings_data_directory_mode".into(), 700.0))
        );
        assert!(s("x", "1", "4kB", "integer").is_err());
        assert!(s("x", "abc", "", "integer").is_err());
        let full = setting("wal_buffers", "512", "8kB", "Sets it.", "integer", "h:1").expect("ok");
        assert_eq!(full.help, "Sets it. [Units converted to bytes.]");
        assert_eq!(full.labels.get("server"), Some("h:1"));
    }

    #[test]
    fn namespace_rows_become_series() {
        let t = table(
            &[
                ("datid", Kind::Other),
                ("datname", Kind::Other),
                ("numbackends", Kind::Int),
                ("blk_read_time", Kind::Float),
                ("session_time", Kind::Float),
                ("checksum_last_failure", Kind::Time),
                ("stats_reset", Kind::Time),
                ("weird", Kind::Other),
            ],
            &[
                &[
                    Some("0"),
                    None,
                    Some("0"),
                    Some("1.5"),
                    Some("2"),
                    None,
                    None,
                    Some("x"),
                ],
                &[
                    Some("5"),
                    Some("postgres"),
                    Some("2"),
                    Some("0"),
                    Some("19.281"),
                    None,
                    Some("1970-01-01 00:01:00+00"),
                    Some("x"),
                ],
            ],
        );
        let mut problems = Vec::new();
        let got = lines(&namespace(&NAMESPACES[0], PG15, &t, "h:1", &mut problems));
        assert_eq!(
            got,
            vec![
                "counter pg_stat_database_blk_read_time {datid=0,datname=,server=h:1} 1.5",
                "counter pg_stat_database_blk_read_time {datid=5,datname=postgres,server=h:1} 0",
                "counter pg_stat_database_stats_reset {datid=0,datname=,server=h:1} NaN",
                "counter pg_stat_database_stats_reset {datid=5,datname=postgres,server=h:1} 60",
                "gauge pg_stat_database_numbackends {datid=0,datname=,server=h:1} 0",
                "gauge pg_stat_database_numbackends {datid=5,datname=postgres,server=h:1} 2",
                "untyped pg_stat_database_checksum_last_failure {datid=0,datname=,server=h:1} NaN",
                "untyped pg_stat_database_checksum_last_failure {datid=5,datname=postgres,server=h:1} NaN",
                "untyped pg_stat_database_session_time {datid=0,datname=,server=h:1} 2",
                "untyped pg_stat_database_session_time {datid=5,datname=postgres,server=h:1} 19.281",
            ]
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn replication_slot_name_falls_back_to_column_zero() {
        let t = table(
            &[
                ("pid", Kind::Int),
                ("application_name", Kind::Text),
                ("client_addr", Kind::Other),
                ("state", Kind::Text),
                ("replay_lsn", Kind::Other),
                ("reply_time", Kind::Time),
                ("pg_current_wal_lsn", Kind::Other),
                ("pg_current_wal_lsn_bytes", Kind::Float),
                ("pg_wal_lsn_diff", Kind::Float),
            ],
            &[&[
                Some("4242"),
                Some("walreceiver"),
                None,
                Some("streaming"),
                Some("0/3000060"),
                Some("1970-01-01 00:00:10+00"),
                Some("0/3000060"),
                Some("50331744"),
                None,
            ]],
        );
        let ns = NAMESPACES
            .iter()
            .find(|n| n.name == "pg_stat_replication")
            .expect("ns");
        let mut problems = Vec::new();
        let got = lines(&namespace(ns, PG15, &t, "h:1", &mut problems));
        let l =
            "{application_name=walreceiver,client_addr=,server=h:1,slot_name=4242,state=streaming}";
        assert_eq!(
            got,
            vec![
                format!("gauge pg_stat_replication_pg_current_wal_lsn_bytes {l} 50331744"),
                format!("gauge pg_stat_replication_pg_wal_lsn_diff {l} NaN"),
                format!("untyped pg_stat_replication_reply_time {l} 10"),
            ]
        );
        assert!(problems.is_empty(), "{problems:?}");
        // Before 10 the same columns are version-discarded.
        assert!(ns.query(Version(9, 6, 0)).expect("q").contains("xlog"));
        assert!(NAMESPACES[5].query(Version(9, 3, 0)).is_none());
        assert_eq!(
            NAMESPACES[0].query(PG15).as_deref(),
            Some("SELECT * FROM pg_stat_database;")
        );
    }

    #[test]
    fn collectors_fail_whole_on_null() {
        let cols: Vec<(&str, Kind)> = BGWRITER
            .iter()
            .map(|(n, _)| {
                (
                    *n,
                    if *n == "stats_reset" {
                        Kind::Time
                    } else {
                        Kind::Int
                    },
                )
            })
            .collect();
        let mut row: Vec<Option<&str>> = vec![Some("3"); 10];
        row.push(Some("2024-01-01 00:00:00+00"));
        let got = bgwriter(&table(&cols, &[&row]), "h:1").expect("ok");
        assert_eq!(got.len(), 11);
        assert_eq!(got[0].name, "pg_stat_bgwriter_checkpoints_timed_total");
        assert_eq!(got[10].value, 1_704_067_200.0);
        assert!(got.iter().all(|s| s.kind == MetricType::Counter));
        row[10] = None;
        assert!(bgwriter(&table(&cols, &[&row]), "h:1").is_err());
        assert!(bgwriter(&table(&cols, &[]), "h:1").is_err());
        assert_eq!(bgwriter_query(Some(Version(17, 0, 0))), BGWRITER_QUERY_17);
        assert_eq!(bgwriter_query(None), BGWRITER_QUERY);

        assert_eq!(
            lines(&[database_size("db", 8000, "h:1")]),
            vec!["gauge pg_database_size_bytes {datname=db,server=h:1} 8000"]
        );
    }
}
