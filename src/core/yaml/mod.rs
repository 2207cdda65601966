//! The YAML that Prometheus's ecosystem writes its config files in (web
//! configs, prometheus.yml, alertmanager.yml), read into a tree that keeps
//! every node's line, and read from that tree into serde types ([`de`])
//! with errors naming the line and the dotted key.
//!
//! Why not a YAML crate: the agent reads web config files too, and the
//! agent carries no YAML library (serde_norway with its libyaml port is
//! the hub's, for rule files); and no YAML crate keeps lines past
//! deserialization, which a config error must name (`prometheus.yml:12:
//! scrape_configs[0].scrape_timeout: …`). Config files are written in the
//! block subset of YAML, which this reads: block mappings and sequences,
//! plain, single- and double-quoted scalars, `|`/`>` block scalars (inline
//! PEM), flow sequences and mappings (nested, and spread over lines),
//! anchors, aliases and `<<` merge keys, comments, `---`. Anything else
//! (tags, complex keys, plain scalars over several lines, several
//! documents) is an error naming its line, never a silent misreading.
//! Duplicate keys are errors, as yaml.v2's strict mode (the reader of
//! Prometheus, Alertmanager and exporter-toolkit) has them.

pub mod de;

use std::collections::HashMap;
use std::fmt;

/// A node and the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Its line.
    pub line: usize,
    /// Its value.
    pub value: Value,
}

/// A YAML value. Scalars stay strings: the reader of the tree decides what
/// a `true` or a `10` means for its key.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An empty value (`key:` with nothing under it, `~`, `null`).
    Null,
    /// A scalar, unquoted and unescaped.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order.
    Map(Vec<(String, Node)>),
}

/// A syntax error and its line.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub msg: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.msg)
    }
}

fn err<T>(line: usize, msg: impl Into<String>) -> Result<T, Error> {
    Err(Error {
        line,
        msg: msg.into(),
    })
}

/// One significant line: its indentation, its text without the
/// indentation, its number.
#[derive(Debug, Clone)]
struct Line {
    indent: usize,
    text: String,
    no: usize,
}

/// Parses a document. An empty document is [`Value::Null`].
pub fn parse(src: &str) -> Result<Node, Error> {
    let raw: Vec<String> = src.lines().map(str::to_string).collect();
    let mut p = Parser {
        raw,
        pos: 0,
        anchors: HashMap::new(),
    };
    p.skip_blank()?;
    if let Some(l) = p.peek()? {
        if l.indent == 0 && (l.text == "---" || l.text.starts_with("--- ")) {
            p.pos += 1;
            p.skip_blank()?;
        }
    }
    let node = match p.peek()? {
        None => Node {
            line: 1,
            value: Value::Null,
        },
        Some(l) => p.block(l.indent)?,
    };
    p.skip_blank()?;
    if let Some(l) = p.peek()? {
        if l.indent == 0 && l.text == "..." {
            p.pos += 1;
            p.skip_blank()?;
        }
    }
    if let Some(l) = p.peek()? {
        if l.text.starts_with("---") {
            return err(l.no, "a config file holds one YAML document");
        }
        return err(l.no, "unexpected indentation or content after the document");
    }
    Ok(node)
}

/// The lines are owned: a mapping inside a sequence item starts mid-line,
/// and is read by putting its first key back as a line of its own.
struct Parser {
    raw: Vec<String>,
    pos: usize,
    /// Anchored nodes by name, for aliases after them.
    anchors: HashMap<String, Node>,
}

impl Parser {
    fn skip_blank(&mut self) -> Result<(), Error> {
        while self.pos < self.raw.len() {
            let t = self.raw[self.pos].trim_start_matches(' ');
            if t.is_empty() || t.starts_with('#') {
                self.pos += 1;
            } else if t.trim().is_empty() {
                // Only whitespace (tabs): blank.
                self.pos += 1;
            } else {
                break;
            }
        }
        Ok(())
    }

    /// The next significant line (after blanks and comments).
    fn peek(&mut self) -> Result<Option<Line>, Error> {
        self.skip_blank()?;
        let Some(raw) = self.raw.get(self.pos) else {
            return Ok(None);
        };
        let text = raw.trim_start_matches(' ');
        let indent = raw.len() - text.len();
        if text.starts_with('\t') {
            return err(self.pos + 1, "tabs are not allowed for indentation in YAML");
        }
        Ok(Some(Line {
            indent,
            text: text.trim_end().to_string(),
            no: self.pos + 1,
        }))
    }

    /// The block (mapping, sequence or lone scalar) at `indent`.
    fn block(&mut self, indent: usize) -> Result<Node, Error> {
        let Some(first) = self.peek()? else {
            return Ok(Node {
                line: self.pos.max(1),
                value: Value::Null,
            });
        };
        if is_item(&first.text) {
            self.sequence(indent)
        } else if split_key(&first.text, first.no)?.is_some() {
            self.mapping(indent)
        } else {
            // A lone scalar (a document that is just a value).
            self.pos += 1;
            let v = scalar(&first.text, first.no)?;
            Ok(Node {
                line: first.no,
                value: v,
            })
        }
    }

    fn mapping(&mut self, indent: usize) -> Result<Node, Error> {
        let start = self.peek()?.map_or(1, |l| l.no);
        let mut entries: Vec<(String, Node)> = Vec::new();
        let mut merges = Vec::new();
        while let Some(l) = self.peek()? {
            if l.indent < indent || is_end(&l) {
                break;
            }
            if l.indent > indent {
                return err(l.no, "unexpected indentation");
            }
            if is_item(&l.text) {
                return err(l.no, "a sequence item where a key was expected");
            }
            let Some((key, rest)) = split_key(&l.text, l.no)? else {
                return err(l.no, format!("expected `key: value`, found {:?}", l.text));
            };
            if entries.iter().any(|(k, _)| *k == key) {
                return err(l.no, format!("key {key:?} already set in this mapping"));
            }
            self.pos += 1;
            let node = self.value_after(rest, indent, l.no, true)?;
            if key == "<<" {
                merges.push(node);
                continue;
            }
            entries.push((key, node));
        }
        // `<<: *base` (or a list of them): the keys of the merged mappings
        // that this one does not set itself; earlier merges win.
        for m in merges {
            let maps = match m.value {
                Value::Map(e) => vec![e],
                Value::Seq(items) => items
                    .into_iter()
                    .map(|n| match n.value {
                        Value::Map(e) => Ok(e),
                        _ => err(n.line, "`<<` merges mappings only"),
                    })
                    .collect::<Result<_, _>>()?,
                _ => return err(m.line, "`<<` merges mappings only"),
            };
            for e in maps {
                for (k, v) in e {
                    if !entries.iter().any(|(have, _)| *have == k) {
                        entries.push((k, v));
                    }
                }
            }
        }
        Ok(Node {
            line: start,
            value: Value::Map(entries),
        })
    }

    fn sequence(&mut self, indent: usize) -> Result<Node, Error> {
        let start = self.peek()?.map_or(1, |l| l.no);
        let mut items = Vec::new();
        while let Some(l) = self.peek()? {
            if l.indent < indent || is_end(&l) || (l.indent == indent && !is_item(&l.text)) {
                break;
            }
            if l.indent > indent {
                return err(l.no, "unexpected indentation");
            }
            let rest = l.text[1..].trim_start_matches(' ');
            let inner = indent + (l.text.len() - rest.len());
            if !rest.is_empty() && !rest.starts_with('#') && split_key(rest, l.no)?.is_some() {
                // `- key: value` and more keys below at the item's column:
                // the line becomes its first key, at that column.
                self.raw[self.pos] = format!("{}{}", " ".repeat(inner), rest);
                items.push(self.mapping(inner)?);
                continue;
            }
            self.pos += 1;
            items.push(self.value_after(rest, indent, l.no, false)?);
        }
        Ok(Node {
            line: start,
            value: Value::Seq(items),
        })
    }

    /// The value of a key or item whose line ended with `rest`.
    fn value_after(
        &mut self,
        rest: &str,
        indent: usize,
        no: usize,
        in_map: bool,
    ) -> Result<Node, Error> {
        let rest = strip_comment(rest);
        if let Some(a) = rest.strip_prefix('&') {
            let (name, after) = a.split_once(' ').unwrap_or((a, ""));
            if name.is_empty() {
                return err(no, "an anchor needs a name");
            }
            let node = self.value_after(after.trim_start(), indent, no, in_map)?;
            self.anchors.insert(name.to_string(), node.clone());
            return Ok(node);
        }
        if let Some(name) = rest.strip_prefix('*') {
            return match self.anchors.get(name) {
                Some(n) => Ok(Node {
                    line: no,
                    value: n.value.clone(),
                }),
                None => err(no, format!("alias *{name} names no anchor above it")),
            };
        }
        if rest.starts_with(['[', '{']) {
            let text = self.flow_lines(rest, no)?;
            return Ok(Node {
                line: no,
                value: scalar(&text, no)?,
            });
        }
        if rest.is_empty() {
            // The value is the block below, more indented (a mapping's
            // sequence may also sit at the key's own column).
            // The node is placed on its key's line (errors about a whole
            // section name the section's line).
            let mut node = match self.peek()? {
                Some(n) if n.indent > indent && !is_end(&n) => self.block(n.indent)?,
                Some(n) if in_map && n.indent == indent && is_item(&n.text) => {
                    self.sequence(indent)?
                }
                _ => Node {
                    line: no,
                    value: Value::Null,
                },
            };
            node.line = no;
            return Ok(node);
        }
        if let Some(style) = rest.strip_prefix(['|', '>']) {
            let folded = rest.starts_with('>');
            return self.block_scalar(style, folded, indent, no);
        }
        if rest.starts_with('!') {
            return err(no, "YAML tags are not supported");
        }
        Ok(Node {
            line: no,
            value: scalar(rest, no)?,
        })
    }

    /// A flow collection that opens on line `no` with `first` and may
    /// close on a later line: its lines joined, comments cut.
    fn flow_lines(&mut self, first: &str, no: usize) -> Result<String, Error> {
        let (mut text, mut depth) = flow_line(first, 0, no)?;
        while depth > 0 {
            let Some(raw) = self.raw.get(self.pos) else {
                return err(no, "flow collection not closed before the end of the file");
            };
            let (more, d) = flow_line(raw.trim(), depth, self.pos + 1)?;
            self.pos += 1;
            text.push(' ');
            text.push_str(&more);
            depth = d;
        }
        Ok(text)
    }

    fn block_scalar(
        &mut self,
        style: &str,
        folded: bool,
        indent: usize,
        no: usize,
    ) -> Result<Node, Error> {
        let chomp = match style.trim() {
            "" => Chomp::Clip,
            "-" => Chomp::Strip,
            "+" => Chomp::Keep,
            other => return err(no, format!("unsupported block scalar header {other:?}")),
        };
        let mut lines: Vec<String> = Vec::new();
        let mut block_indent = None;
        while self.pos < self.raw.len() {
            let raw = &self.raw[self.pos];
            let text = raw.trim_start_matches(' ');
            let ind = raw.len() - text.len();
            if text.is_empty() {
                lines.push(String::new());
                self.pos += 1;
                continue;
            }
            let bi = *block_indent.get_or_insert(ind);
            if ind <= indent || ind < bi {
                break;
            }
            lines.push(raw[bi..].to_string());
            self.pos += 1;
        }
        // Trailing blank lines belong to chomping, not content.
        let mut trailing = 0;
        while lines.last().is_some_and(String::is_empty) {
            lines.pop();
            trailing += 1;
        }
        let mut s = if folded {
            lines.join(" ")
        } else {
            lines.join("\n")
        };
        if !lines.is_empty() {
            match chomp {
                Chomp::Strip => {}
                Chomp::Clip => s.push('\n'),
                Chomp::Keep => s.push_str(&"\n".repeat(trailing + 1)),
            }
        }
        Ok(Node {
            line: no,
            value: Value::Str(s),
        })
    }
}

enum Chomp {
    Clip,
    Strip,
    Keep,
}

/// A document marker (`---`, `...`) at column 0.
fn is_end(l: &Line) -> bool {
    l.indent == 0 && (l.text == "---" || l.text.starts_with("--- ") || l.text == "...")
}

fn is_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// Splits `key: rest` (the key unquoted). `None` when the line holds no
/// mapping key.
fn split_key(text: &str, no: usize) -> Result<Option<(String, &str)>, Error> {
    if text.starts_with('"') || text.starts_with('\'') {
        let (key, after) = quoted(text, no)?;
        let after = after.trim_start_matches(' ');
        return Ok(match after.strip_prefix(':') {
            Some(r) if r.is_empty() || r.starts_with(' ') => Some((key, r.trim_start())),
            _ => None,
        });
    }
    if text.starts_with(['[', '{', '#']) {
        return Ok(None);
    }
    if text.starts_with('?') {
        return err(no, "complex mapping keys are not supported");
    }
    let mut from = 0;
    while let Some(i) = text[from..].find(':') {
        let at = from + i;
        let after = &text[at + 1..];
        if after.is_empty() || after.starts_with(' ') {
            let key = text[..at].trim_end();
            if key.contains(" #") {
                return Ok(None);
            }
            return Ok(Some((key.to_string(), after.trim_start())));
        }
        from = at + 1;
    }
    Ok(None)
}

/// Cuts a ` # comment` off a plain value (quoted values end at their quote).
fn strip_comment(s: &str) -> &str {
    if s.starts_with('#') {
        return "";
    }
    if s.starts_with(['"', '\'', '[', '{']) {
        return s;
    }
    match s.find(" #") {
        Some(i) => s[..i].trim_end(),
        None => s,
    }
}

/// A scalar or one-line flow collection.
fn scalar(text: &str, no: usize) -> Result<Value, Error> {
    let text = strip_comment(text);
    if text.starts_with('[') || text.starts_with('{') {
        let (v, rest) = flow(text, no)?;
        if !strip_comment(rest.trim()).is_empty() {
            return err(
                no,
                format!("unexpected {:?} after a flow collection", rest.trim()),
            );
        }
        return Ok(v);
    }
    if text.starts_with('"') || text.starts_with('\'') {
        let (s, rest) = quoted(text, no)?;
        if !strip_comment(rest.trim()).is_empty() {
            return err(
                no,
                format!("unexpected {:?} after a quoted value", rest.trim()),
            );
        }
        return Ok(Value::Str(s));
    }
    Ok(match text {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        t => Value::Str(t.to_string()),
    })
}

/// One line of a flow collection: its text up to a comment, and the
/// bracket depth after it (starting from `depth`). Quoted scalars must
/// close on their line.
fn flow_line(line: &str, mut depth: usize, no: usize) -> Result<(String, usize), Error> {
    let mut quote = None;
    let mut prev = ' ';
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match quote {
            Some('\'') if c == '\'' => {
                if chars.peek().is_some_and(|&(_, n)| n == '\'') {
                    chars.next();
                } else {
                    quote = None;
                }
            }
            Some('"') if c == '\\' => {
                chars.next();
            }
            Some('"') if c == '"' => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '[' | '{' => depth += 1,
                ']' | '}' => depth = depth.saturating_sub(1),
                '#' if prev == ' ' || prev == '\t' => {
                    return Ok((line[..i].trim_end().to_string(), depth));
                }
                _ => {}
            },
        }
        prev = c;
    }
    if quote.is_some() {
        return err(no, "quoted value not closed on its line");
    }
    Ok((line.to_string(), depth))
}

/// A flow sequence or mapping (nested collections allowed); returns the rest.
fn flow(text: &str, no: usize) -> Result<(Value, &str), Error> {
    let (open, close, map) = if text.starts_with('[') {
        ('[', ']', false)
    } else {
        ('{', '}', true)
    };
    let mut rest = text[open.len_utf8()..].trim_start();
    let mut seq = Vec::new();
    let mut entries: Vec<(String, Node)> = Vec::new();
    loop {
        if let Some(r) = rest.strip_prefix(close) {
            let v = if map {
                Value::Map(entries)
            } else {
                Value::Seq(seq)
            };
            return Ok((v, r));
        }
        if rest.is_empty() {
            return err(no, "flow collection not closed");
        }
        let (item, r) = flow_item(rest, no)?;
        rest = r.trim_start();
        if map {
            let Value::Str(key) = item else {
                return err(no, "a flow mapping's keys must be scalars");
            };
            let Some(r) = rest.strip_prefix(':') else {
                return err(no, "expected `key: value` in a flow mapping");
            };
            let (val, r) = flow_item(r.trim_start(), no)?;
            if entries.iter().any(|(k, _)| *k == key) {
                return err(no, format!("key {key:?} already set in this mapping"));
            }
            entries.push((
                key,
                Node {
                    line: no,
                    value: val,
                },
            ));
            rest = r.trim_start();
        } else {
            seq.push(Node {
                line: no,
                value: item,
            });
        }
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
        } else if !rest.starts_with(close) {
            return err(
                no,
                format!("expected `,` or `{close}` in a flow collection"),
            );
        }
    }
}

/// One item inside a flow collection: a scalar or a nested collection.
fn flow_item(text: &str, no: usize) -> Result<(Value, &str), Error> {
    if text.starts_with('"') || text.starts_with('\'') {
        let (s, rest) = quoted(text, no)?;
        return Ok((Value::Str(s), rest));
    }
    if text.starts_with(['[', '{']) {
        return flow(text, no);
    }
    if text.starts_with(['&', '*', '!']) {
        return err(
            no,
            "anchors, aliases and tags inside flow collections are not supported",
        );
    }
    let end = text
        .char_indices()
        .find(|&(i, c)| {
            matches!(c, ',' | ']' | '}') || (c == ':' && text[i + 1..].starts_with([' ', ',', '}']))
        })
        .map_or(text.len(), |(i, _)| i);
    let t = text[..end].trim();
    let v = match t {
        "~" | "null" | "Null" | "NULL" => Value::Null,
        t => Value::Str(t.to_string()),
    };
    Ok((v, &text[end..]))
}

/// A quoted scalar at the start of `text`; returns it unescaped and the rest.
fn quoted(text: &str, no: usize) -> Result<(String, &str), Error> {
    let q = text.as_bytes()[0];
    let body = &text[1..];
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        if q == b'\'' {
            if c == '\'' {
                if body[i + 1..].starts_with('\'') {
                    out.push('\'');
                    chars.next();
                    continue;
                }
                return Ok((out, &body[i + 1..]));
            }
            out.push(c);
            continue;
        }
        match c {
            '"' => return Ok((out, &body[i + 1..])),
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '0' => out.push('\0'),
                    '"' | '\\' | '/' | ' ' => out.push(e),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = chars.by_ref().take(n).map(|(_, h)| h).collect();
                        let ch = u32::from_str_radix(&hex, 16)
                            .ok()
                            .filter(|_| hex.len() == n)
                            .and_then(char::from_u32);
                        match ch {
                            Some(ch) => out.push(ch),
                            None => return err(no, format!("invalid escape \\{e}{hex}")),
                        }
                    }
                    other => return err(no, format!("unknown escape \\{other}")),
                }
            }
            c => out.push(c),
        }
    }
    err(no, "quoted value not closed on its line")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(n: &Node) -> &[(String, Node)] {
        match &n.value {
            Value::Map(m) => m,
            v => panic!("not a map: {v:?}"),
        }
    }

    fn get<'a>(n: &'a Node, k: &str) -> &'a Node {
        &map(n).iter().find(|(key, _)| key == k).unwrap().1
    }

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    #[test]
    fn reads_the_documented_web_config() {
        let src = "# comment\n---\ntls_server_config:\n  cert_file: server.crt   # trailing\n  key_file: \"server.key\"\n  client_auth_type: 'RequireAndVerifyClientCert'\n  cipher_suites:\n  - TLS_AES_128_GCM_SHA256\n  - TLS_CHACHA20_POLY1305_SHA256\n  curve_preferences: [X25519, CurveP256]\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\nbasic_auth_users:\n  alice: $2y$10$abc:def\n  \"bob smith\": '$2b$10$x''y'\n";
        let doc = parse(src).unwrap();
        let tls = get(&doc, "tls_server_config");
        assert_eq!(tls.line, 3);
        assert_eq!(get(tls, "cert_file").value, s("server.crt"));
        assert_eq!(get(tls, "key_file").value, s("server.key"));
        assert_eq!(get(tls, "client_auth_type").line, 6);
        assert_eq!(
            get(tls, "cipher_suites").value,
            Value::Seq(vec![
                Node {
                    line: 8,
                    value: s("TLS_AES_128_GCM_SHA256")
                },
                Node {
                    line: 9,
                    value: s("TLS_CHACHA20_POLY1305_SHA256")
                },
            ])
        );
        match &get(tls, "curve_preferences").value {
            Value::Seq(v) => assert_eq!(v.len(), 2),
            v => panic!("{v:?}"),
        }
        let users = get(&doc, "basic_auth_users");
        assert_eq!(get(users, "alice").value, s("$2y$10$abc:def"));
        assert_eq!(get(users, "bob smith").value, s("$2b$10$x'y"));
        assert_eq!(
            get(
                get(get(&doc, "http_server_config"), "headers"),
                "X-Frame-Options"
            )
            .value,
            s("deny")
        );
    }

    #[test]
    fn block_scalars_keep_pem_text() {
        let src = "tls_server_config:\n  cert: |\n    -----BEGIN CERTIFICATE-----\n    AAAA\n    -----END CERTIFICATE-----\n  key_file: k\n";
        let doc = parse(src).unwrap();
        let tls = get(&doc, "tls_server_config");
        assert_eq!(
            get(tls, "cert").value,
            s("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        );
        assert_eq!(get(tls, "key_file").value, s("k"));
    }

    #[test]
    fn empty_values_and_documents() {
        assert_eq!(parse("").unwrap().value, Value::Null);
        assert_eq!(parse("# only\n").unwrap().value, Value::Null);
        let doc = parse("basic_auth_users:\ntls_server_config: {}\nx: []\n").unwrap();
        assert_eq!(get(&doc, "basic_auth_users").value, Value::Null);
        assert_eq!(get(&doc, "tls_server_config").value, Value::Map(vec![]));
        assert_eq!(get(&doc, "x").value, Value::Seq(vec![]));
    }

    #[test]
    fn sequences_of_mappings() {
        let doc = parse("a:\n  - k: 1\n    j: 2\n  - k: 3\n").unwrap();
        match &get(&doc, "a").value {
            Value::Seq(items) => {
                assert_eq!(items.len(), 2);
                assert_eq!(get(&items[0], "j").value, s("2"));
                assert_eq!(get(&items[1], "k").line, 4);
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn errors_name_their_line() {
        for (src, line, what) in [
            ("a: 1\na: 2\n", 2, "already set"),
            ("a:\n\tb: 1\n", 2, "tabs"),
            ("a: *x\n", 1, "names no anchor"),
            ("a: !!str 1\n", 1, "tags"),
            ("a: [1, 2\n", 1, "not closed before the end"),
            ("a: \"open\n", 1, "not closed"),
            ("a: 1\n  b: 2\n", 2, "indentation"),
            ("a: 1\n---\nb: 2\n", 2, "one YAML document"),
            ("a:\n  b: 1\n - c\n", 3, "unexpected"),
            ("a: \"\\q\"\n", 1, "escape"),
        ] {
            let e = parse(src).expect_err(src);
            assert_eq!(e.line, line, "{src:?}: {e}");
            assert!(e.msg.contains(what), "{src:?}: {e}");
        }
    }

    #[test]
    fn odd_input_never_panics() {
        for src in [
            "-",
            "- -",
            ":",
            "a:b",
            "'",
            "\"",
            "[",
            "{",
            "a: |",
            "a: |x",
            "- a: |\n",
            "? a",
            "a:\n  - b: 1\n  c: 2",
            "\u{feff}a: 1",
            "a: [\"x\", 'y', z]",
            "a: {b: c, d: 'e'}",
            "- a: 1\n  - b",
            "a: >\n  folded\n  text\n",
        ] {
            let _ = parse(src);
        }
    }
}
