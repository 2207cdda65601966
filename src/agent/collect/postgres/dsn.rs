//! postgres_exporter's DSNs, read without ever printing them.
//!
//! The exporter's driver (lib/pq) takes two forms, and so does picket: a URI
//! (`postgresql://user:pass@host:port/db?sslmode=disable`) and libpq's
//! `key=value` string (`host=/var/run/postgresql port=5432 user=...`). Both
//! become one list of libpq keywords ([`Params`]). The URI is split the way
//! Go's `net/url` splits it (the query first, then the authority up to the
//! first `/`, the user info up to the last `@`), so that the `server` label
//! comes out as the exporter computes it (`parseFingerprint`: the DSN's
//! host, else `localhost`, then `:` and its port, else `5432`; `[::1]:5433`
//! gives `::1:5433`, a host without a port keeps its brackets).
//!
//! [`normalise`] then checks the keywords against what the client can do
//! (no TLS: `sslmode=require` and stronger are refused), drops lib/pq-only
//! and certificate keywords that mean nothing without TLS, fills lib/pq's
//! defaults (`localhost`, the `PG*` variables, the login user) and writes
//! the result back as a quoted `key='value'` string for the client.
//!
//! No error message here quotes the DSN or any part of it: they name the
//! part that is wrong (by keyword or position), since any part may hold the
//! password.

use std::fmt::Write as _;

/// libpq keywords in order of appearance; a later one replaces an earlier one.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Params(Vec<(String, String)>);

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keywords only: values can be secrets.
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| k))
            .finish()
    }
}

impl Params {
    /// The value of `key` (the last one given).
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `key`, replacing every earlier value.
    pub(crate) fn set(&mut self, key: &str, value: &str) {
        self.remove(key);
        self.0.push((key.to_string(), value.to_string()));
    }

    /// Removes `key`, returning its (last) value.
    pub(crate) fn remove(&mut self, key: &str) -> Option<String> {
        let last = self.get(key).map(str::to_string);
        self.0.retain(|(k, _)| k != key);
        last
    }

    /// Every (keyword, value) in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    fn push(&mut self, key: &str, value: String) {
        self.0.push((key.to_string(), value));
    }
}

/// A DSN taken apart.
#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    /// Its libpq keywords.
    pub params: Params,
    /// `host:port` as postgres_exporter labels the server.
    pub server: String,
}

/// Parses either form.
pub(crate) fn parse(dsn: &str) -> Result<Parsed, String> {
    let lower = dsn.get(..13).unwrap_or("").to_ascii_lowercase();
    if lower.starts_with("postgresql://") {
        parse_uri(&dsn[13..])
    } else if lower.starts_with("postgres://") {
        parse_uri(&dsn[11..])
    } else if dsn.contains("://") {
        Err("a URI must start with postgresql:// or postgres://".into())
    } else {
        let params = parse_kv(dsn)?;
        let server = label(params.get("host"), params.get("port"));
        Ok(Parsed { params, server })
    }
}

/// The `server` label: host (default `localhost`), `:`, port (default `5432`).
fn label(host: Option<&str>, port: Option<&str>) -> String {
    let host = host.filter(|h| !h.is_empty()).unwrap_or("localhost");
    let port = port.filter(|p| !p.is_empty()).unwrap_or("5432");
    format!("{host}:{port}")
}

/// The part of a URI after `scheme://`.
fn parse_uri(rest: &str) -> Result<Parsed, String> {
    let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match before_query.find('/') {
        Some(i) => (&before_query[..i], &before_query[i..]),
        None => (before_query, ""),
    };
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let mut params = Params::default();
    if let Some(ui) = userinfo {
        userinfo_params(ui, &mut params)?;
    }
    let hostport = unescape(hostport, false).map_err(|e| format!("the URI's host {e}"))?;
    // The connection: libpq's comma-separated host[:port] list.
    if !hostport.is_empty() {
        host_list(&hostport, &mut params)?;
    }
    if path.len() > 1 {
        let db = unescape(&path[1..], false).map_err(|e| format!("the URI's database {e}"))?;
        params.push("dbname", db);
    }
    // The label: Go's SplitHostPort on the whole host part, as the exporter
    // does it through pq.ParseURL (a failed split keeps the whole host).
    let (mut lhost, mut lport) = match go_split_host_port(&hostport) {
        Some((h, p)) => (h.to_string(), p.to_string()),
        None => (hostport.clone(), String::new()),
    };
    let mut seen = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = unescape(k, true).map_err(|e| format!("a URI query parameter {e}"))?;
        let v = unescape(v, true).map_err(|e| format!("a URI query parameter {e}"))?;
        // Go's Query().Get: the first value of a key; empty values are
        // left out, as pq.ParseURL leaves them out.
        if v.is_empty() || seen.contains(&k) {
            continue;
        }
        match k.as_str() {
            "host" => lhost = v.clone(),
            "port" => lport = v.clone(),
            _ => {}
        }
        params.push(&k, v);
        seen.push(k);
    }
    let server = label(Some(&lhost), Some(&lport));
    Ok(Parsed { params, server })
}

/// The `user` and `password` of a URI's user info (`user:password`).
fn userinfo_params(ui: &str, params: &mut Params) -> Result<(), String> {
    let (user, password) = match ui.split_once(':') {
        Some((u, p)) => (u, Some(p)),
        None => (ui, None),
    };
    let user = unescape(user, false).map_err(|e| format!("the URI's user name {e}"))?;
    if !user.is_empty() {
        params.push("user", user);
    }
    if let Some(p) = password {
        let p = unescape(p, false).map_err(|e| format!("the URI's password {e}"))?;
        if !p.is_empty() {
            params.push("password", p);
        }
    }
    Ok(())
}

/// The `host` and `port` lists of a URI's host part (`h1:p1,[v6]:p2`).
fn host_list(hostport: &str, params: &mut Params) -> Result<(), String> {
    let (mut hosts, mut ports) = (Vec::new(), Vec::new());
    for chunk in hostport.split(',') {
        let (h, p) = match chunk.strip_prefix('[') {
            Some(v6) => {
                let end = v6.find(']').ok_or("the URI's host has a '[' without ']'")?;
                let after = &v6[end + 1..];
                let port = match after.strip_prefix(':') {
                    Some(p) => p,
                    None if after.is_empty() => "",
                    None => return Err("the URI's host has text after ']'".into()),
                };
                (&v6[..end], port)
            }
            None => chunk.split_once(':').unwrap_or((chunk, "")),
        };
        hosts.push(h);
        ports.push(p);
    }
    params.push("host", hosts.join(","));
    if ports.iter().any(|p| !p.is_empty()) {
        params.push("port", ports.join(","));
    }
    Ok(())
}

/// Go's `net.SplitHostPort`; `None` where Go returns an error.
fn go_split_host_port(hp: &str) -> Option<(&str, &str)> {
    if let Some(rest) = hp.strip_prefix('[') {
        let end = rest.find(']')?;
        let port = rest[end + 1..].strip_prefix(':')?;
        let host = &rest[..end];
        if port.contains(':') || host.contains('[') {
            return None;
        }
        Some((host, port))
    } else {
        let i = hp.rfind(':')?;
        let host = &hp[..i];
        if host.contains([':', '[', ']']) || hp[i + 1..].contains([']', '[']) {
            return None;
        }
        Some((host, &hp[i + 1..]))
    }
}

/// Percent-decoding as Go's `url` package does it (`+` is a space in a query).
fn unescape(s: &str, query: bool) -> Result<String, &'static str> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |c: Option<&u8>| c.and_then(|c| (*c as char).to_digit(16));
                let (Some(h), Some(l)) = (hex(b.get(i + 1)), hex(b.get(i + 2))) else {
                    return Err("has a bad %-escape");
                };
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            b'+' if query => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "is not UTF-8 once decoded")
}

/// libpq's `key=value` form: whitespace-separated, values bare or in single
/// quotes, `\` escaping the next character.
fn parse_kv(s: &str) -> Result<Params, String> {
    let mut params = Params::default();
    let mut it = s.chars().peekable();
    let mut n = 0;
    loop {
        while it.next_if(|c| c.is_whitespace()).is_some() {}
        if it.peek().is_none() {
            return Ok(params);
        }
        n += 1;
        let mut key = String::new();
        while let Some(c) = it.next_if(|c| !c.is_whitespace() && *c != '=') {
            key.push(c);
        }
        while it.next_if(|c| c.is_whitespace()).is_some() {}
        if it.next() != Some('=') {
            return Err(format!(
                "parameter {n} is not key=value (libpq's form) and the DSN is not a postgresql:// URI"
            ));
        }
        while it.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if it.next_if_eq(&'\'').is_some() {
            loop {
                match it.next() {
                    None => return Err(format!("parameter {n} has an unterminated quoted value")),
                    Some('\'') => break,
                    Some('\\') => value.extend(it.next()),
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = it.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(it.next());
                } else {
                    value.push(c);
                }
            }
            if value.is_empty() {
                return Err(format!("parameter {n} has no value"));
            }
        }
        if !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!("parameter {n} has a malformed keyword"));
        }
        params.push(&key, value);
    }
}

/// Where lib/pq looks when the DSN leaves something out: the `PG*`
/// environment variables, then the login user.
pub(crate) trait Fallback {
    /// The value of environment variable `name`.
    fn var(&self, name: &str) -> Option<String>;
}

impl Fallback for [(String, String)] {
    fn var(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    }
}

/// What the client connects with.
#[derive(Clone)]
pub(crate) struct Normalised {
    /// A `key='value'` string the client's parser takes (holds the password).
    pub conn_str: String,
    /// The password, if the DSN or the environment gave one (for redaction).
    pub password: Option<String>,
    /// `connect_timeout` from the DSN, in seconds (0 = none).
    pub connect_timeout: u64,
    /// The DSN set no `sslmode` (lib/pq would have required TLS) and
    /// names a TCP host (TLS means nothing on a unix socket).
    pub sslmode_unset: bool,
    /// Keywords dropped because they mean nothing without TLS or are lib/pq's own.
    pub ignored: Vec<String>,
}

impl std::fmt::Debug for Normalised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the connection string or the password.
        f.debug_struct("Normalised")
            .field("connect_timeout", &self.connect_timeout)
            .field("sslmode_unset", &self.sslmode_unset)
            .field("ignored", &self.ignored)
            .finish_non_exhaustive()
    }
}

/// Keywords passed to the client as they are.
const PASSED: &[&str] = &[
    "user",
    "password",
    "dbname",
    "host",
    "hostaddr",
    "port",
    "options",
    "application_name",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
    "sslnegotiation",
];

/// Keywords that only matter with TLS, or only to lib/pq: dropped.
const IGNORED: &[&str] = &[
    "sslcert",
    "sslkey",
    "sslrootcert",
    "sslpassword",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "sslinline",
    "sslcompression",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "binary_parameters",
    "disable_prepared_binary_result",
    "krbsrvname",
    "krbspn",
    "gsslib",
];

/// libpq keywords the client cannot honour.
const UNSUPPORTED: &[&str] = &[
    "passfile",
    "service",
    "replication",
    "requirepeer",
    "require_auth",
    "gssencmode",
    "gssdelegation",
    "sslcertmode",
];

/// Checks the keywords, applies lib/pq's defaults and writes the client's
/// connection string.
pub(crate) fn normalise(
    params: &Params,
    env: &(impl Fallback + ?Sized),
) -> Result<Normalised, String> {
    let mut p = params.clone();
    env_defaults(&mut p, env);
    let sslmode_unset = check_tls(&mut p)?;
    if let Some(enc) = p.remove("client_encoding") {
        if !matches!(enc.to_ascii_uppercase().as_str(), "UTF8" | "UTF-8") {
            return Err("client_encoding must be UTF8 (as lib/pq requires)".into());
        }
    }
    if let Some(app) = p.remove("fallback_application_name") {
        if p.get("application_name").is_none() {
            p.set("application_name", &app);
        }
    }
    if p.get("application_name").is_none() {
        p.set("application_name", "picket");
    }
    if let Some(n) = p.remove("keepalives_count") {
        p.set("keepalives_retries", &n);
    }
    let connect_timeout = match p.remove("connect_timeout") {
        None => 0,
        Some(v) => v
            .trim()
            .parse::<i64>()
            .map_err(|_| "connect_timeout is not a whole number of seconds".to_string())?
            .max(0) as u64,
    };
    if let Some(ports) = p.get("port") {
        if !ports
            .split(',')
            .all(|x| x.is_empty() || x.parse::<u16>().is_ok())
        {
            return Err("port must be a number from 1 to 65535".into());
        }
    }
    if p.get("host").is_none() && p.get("hostaddr").is_none() {
        p.set("host", "localhost");
    }
    if p.get("user").is_none() {
        match env.var("USER") {
            Some(u) => p.set("user", &u),
            None => return Err("no user: give user= (or user@ in the URI)".into()),
        }
    }
    let tcp = p.get("hostaddr").is_some()
        || p.get("host")
            .is_some_and(|h| h.split(',').any(|h| !h.starts_with('/')));
    let (out, ignored) = conn_string(&p)?;
    Ok(Normalised {
        conn_str: out.trim_end().to_string(),
        password: p.get("password").map(str::to_string),
        connect_timeout,
        sslmode_unset: sslmode_unset && tcp,
        ignored,
    })
}

/// lib/pq's environment fallbacks for the keywords the DSN leaves out.
fn env_defaults(p: &mut Params, env: &(impl Fallback + ?Sized)) {
    for var in [
        ("host", "PGHOST"),
        ("port", "PGPORT"),
        ("dbname", "PGDATABASE"),
        ("user", "PGUSER"),
        ("password", "PGPASSWORD"),
        ("sslmode", "PGSSLMODE"),
    ] {
        if p.get(var.0).is_none() {
            if let Some(v) = env.var(var.1) {
                p.set(var.0, &v);
            }
        }
    }
}

/// Takes out `sslmode` and `requiressl`, refusing what needs TLS; whether
/// `sslmode` was unset.
fn check_tls(p: &mut Params) -> Result<bool, String> {
    let sslmode = p.remove("sslmode");
    let sslmode_unset = sslmode.is_none();
    match sslmode.as_deref() {
        None | Some("disable" | "allow" | "prefer") => {}
        Some("require" | "verify-ca" | "verify-full") => {
            return Err(
                "sslmode requires TLS, and picket's PostgreSQL client has none: use sslmode=disable (over a trusted network or a unix socket)"
                    .into(),
            )
        }
        Some(_) => {
            return Err(
                "sslmode must be one of disable, allow, prefer (require, verify-ca and verify-full need TLS, which picket does not have)"
                    .into(),
            )
        }
    }
    if p.remove("requiressl").as_deref() == Some("1") {
        return Err(
            "requiressl=1 requires TLS, which picket's PostgreSQL client does not have".into(),
        );
    }
    Ok(sslmode_unset)
}

/// The client's connection string (`key='value' ...`, quoted as libpq
/// reads it) and the keywords left out as ignored; an error for a keyword
/// the client does not take.
fn conn_string(p: &Params) -> Result<(String, Vec<String>), String> {
    let mut ignored = Vec::new();
    let mut out = String::new();
    for (i, (k, v)) in p.iter().enumerate() {
        if IGNORED.contains(&k) {
            ignored.push(k.to_string());
            continue;
        }
        if UNSUPPORTED.contains(&k) {
            return Err(format!(
                "{k} is a libpq keyword that picket's PostgreSQL client does not support"
            ));
        }
        if !PASSED.contains(&k) && k != "keepalives_retries" {
            return Err(format!(
                "parameter {} is not a libpq connection keyword",
                i + 1
            ));
        }
        let _ = write!(out, "{k}='");
        for c in v.chars() {
            if c == '\'' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push_str("' ");
    }
    Ok((out, ignored))
}

/// Percent-encodes a URI user-info part (user or password).
pub(crate) fn escape_userinfo(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Replaces every occurrence of each secret (and of its URI-escaped form)
/// in `msg`.
pub fn redact(msg: &str, secrets: &[String]) -> String {
    let mut out = msg.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s.as_str(), "<redacted>");
        let esc = escape_userinfo(s);
        if esc != *s {
            out = out.replace(esc.as_str(), "<redacted>");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(dsn: &str) -> String {
        parse(dsn).expect("parses").server
    }

    fn kv(dsn: &str) -> Vec<(String, String)> {
        parse(dsn)
            .expect("parses")
            .params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn server_label_is_the_exporters_fingerprint() {
        for (dsn, want) in [
            (
                "postgresql://u:p@127.0.0.1:5433/postgres?sslmode=disable",
                "127.0.0.1:5433",
            ),
            ("postgresql://u@db.example/postgres", "db.example:5432"),
            ("postgres://u@[::1]:5433/x", "::1:5433"),
            ("postgresql://u@[::1]/x", "[::1]:5432"),
            (
                "postgresql:///postgres?host=/var/run/postgresql",
                "/var/run/postgresql:5432",
            ),
            ("postgresql://u@h:/x", "h:5432"),
            ("postgresql://", "localhost:5432"),
            // Go's SplitHostPort fails on a host list: the exporter keeps
            // the whole host part and appends the default port.
            ("postgresql://u:p@h1:1,h2:2/x", "h1:1,h2:2:5432"),
            (
                "host=/var/run/postgresql user=pg",
                "/var/run/postgresql:5432",
            ),
            ("host=10.0.0.1 port=6432 user=pg", "10.0.0.1:6432"),
            ("user=pg", "localhost:5432"),
            ("host = 'a b' port=1", "a b:1"),
            ("", "localhost:5432"),
        ] {
            assert_eq!(server(dsn), want, "{dsn}");
        }
    }

    #[test]
    fn uri_parts_become_libpq_keywords() {
        assert_eq!(
            kv("postgresql://us%40er:p%3Aw%2F@127.0.0.1:5433/my%20db?sslmode=disable&application_name=a+b"),
            pairs(&[
                ("user", "us@er"),
                ("password", "p:w/"),
                ("host", "127.0.0.1"),
                ("port", "5433"),
                ("dbname", "my db"),
                ("sslmode", "disable"),
                ("application_name", "a b"),
            ])
        );
        // The user info ends at the last '@'.
        assert_eq!(
            kv("postgresql://u:p@ss@h/db"),
            pairs(&[
                ("user", "u"),
                ("password", "p@ss"),
                ("host", "h"),
                ("dbname", "db")
            ])
        );
        assert_eq!(
            kv("postgres://[::1]:5,h/db"),
            pairs(&[("host", "::1,h"), ("port", "5,"), ("dbname", "db")])
        );
    }

    #[test]
    fn key_value_form_quotes_and_escapes() {
        assert_eq!(
            kv(r"host=h  password='it\'s' user=a\ b dbname = 'x\'y'"),
            pairs(&[
                ("host", "h"),
                ("password", "it's"),
                ("user", "a b"),
                ("dbname", "x'y"),
            ])
        );
    }

    #[test]
    fn parse_errors_never_quote_the_dsn() {
        for dsn in [
            "host=h secretpw",
            "host=h password='secretpw",
            "host=h password=",
            "postgresql://u:secret%zz@h/db",
            "mysql://u:secretpw@h/db",
            "postgresql://u:secretpw@[::1/db",
        ] {
            let e = parse(dsn).expect_err(dsn);
            assert!(!e.contains("secret"), "{dsn}: {e}");
        }
    }

    fn norm(dsn: &str, env: &[(String, String)]) -> Result<Normalised, String> {
        normalise(&parse(dsn)?.params, env)
    }

    #[test]
    fn normalise_refuses_tls_and_fills_defaults() {
        let e = norm("postgresql://u:pw@h/db?sslmode=require", &[]).expect_err("require");
        assert!(e.contains("sslmode") && e.contains("TLS"), "{e}");
        assert!(norm("host=h user=u sslmode=verify-full", &[]).is_err());
        assert!(norm("host=h user=u sslmode=bogus", &[]).is_err());
        let n = norm("user=u", &[]).expect("ok");
        assert_eq!(
            n.conn_str,
            "user='u' application_name='picket' host='localhost'"
        );
        assert!(n.sslmode_unset);
        let env = vec![
            ("PGHOST".to_string(), "/run/pg".to_string()),
            ("USER".to_string(), "me".to_string()),
            ("PGPASSWORD".to_string(), "s3cret".to_string()),
        ];
        let n = norm("sslmode=disable port=5433", &env).expect("ok");
        assert_eq!(
            n.conn_str,
            "port='5433' host='/run/pg' password='s3cret' application_name='picket' user='me'"
        );
        assert_eq!(n.password.as_deref(), Some("s3cret"));
        assert!(!n.sslmode_unset);
        assert!(norm("host=h", &[]).expect_err("no user").contains("user"));
    }

    #[test]
    fn normalise_quotes_values_and_drops_tls_files() {
        let n = norm(
            r"host=h user=u password='a\'b\\c d' sslmode=disable sslrootcert=/x connect_timeout=3 keepalives_count=2",
            &[],
        )
        .expect("ok");
        assert_eq!(
            n.conn_str,
            r"host='h' user='u' password='a\'b\\c d' application_name='picket' keepalives_retries='2'"
        );
        assert_eq!(n.ignored, vec!["sslrootcert".to_string()]);
        assert_eq!(n.connect_timeout, 3);
        let e = norm("host=h user=u secretword=x", &[]).expect_err("unknown");
        assert!(!e.contains("secretword"), "{e}");
        assert!(norm("host=h user=u service=x", &[])
            .expect_err("unsupported")
            .contains("service"));
    }

    #[test]
    fn redaction_covers_plain_and_escaped_forms() {
        let s = vec!["p@ss w".to_string()];
        assert_eq!(
            redact("a p@ss w b p%40ss%20w c", &s),
            "a <redacted> b <redacted> c"
        );
        assert_eq!(redact("nothing", &[String::new()]), "nothing");
    }
}
