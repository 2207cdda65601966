//! Prometheus's relabelling (`relabel_configs` and its kin), once, exactly
//! as Prometheus 2.42 does it (`model/relabel/relabel.go`).
//!
//! One engine for every place a Prometheus config relabels: the hub's
//! `relabel_configs` (targets), `metric_relabel_configs` (samples) and
//! `alert_relabel_configs` (alerts), and the agent's
//! `write_relabel_configs` (remote_write). A config entry is read as
//! [`RelabelConfigToml`] (Prometheus's key names), checked and compiled by
//! [`RelabelConfigToml::resolve`] with 2.42's checks and messages, and run
//! by [`process`].
//!
//! The semantics, including 2.42's quirks:
//! - `source_labels` values (a missing label is `""`) joined by
//!   `separator` make the value the `regex` works on; the regex is fully
//!   anchored by writing it as `^(?:RE)$` (so `a)|(b` is
//!   `^(?:a)|(b)$`, as in Go);
//! - `replace`: no match, nothing happens; else `target_label` and
//!   `replacement` are expanded with the match's groups (Go's
//!   `ExpandString`, see [`goregexp`]); an expanded target that is not a
//!   valid label name, or an empty result, deletes the label named by the
//!   *unexpanded* `target_label` (2.42; 3.x makes the first a no-op);
//! - `lowercase`/`uppercase`, `hashmod`, `keepequal`/`dropequal` use
//!   `target_label` as written, never expanded;
//! - setting a label to `""` deletes it, and every step that keeps the set
//!   drops the labels whose value is empty (Prometheus's `labels.Builder`);
//! - the first step that drops ends the list.
//!
//! Regexes are Go syntax, translated for regex-lite in [`goregexp`],
//! which lists what is not reproduced.

mod goregexp;

use md5::{Digest, Md5};
use serde::Deserialize;

use crate::metric::{valid_label_name, Labels};
use goregexp::GoRegexp;

/// What a relabel step does (Prometheus's `action`, any case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Writes the expanded `replacement` to the expanded `target_label`
    /// when `regex` matches (the default).
    Replace,
    /// Drops the set unless `regex` matches.
    Keep,
    /// Drops the set if `regex` matches.
    Drop,
    /// Drops the set unless the joined value equals `target_label`'s value.
    KeepEqual,
    /// Drops the set if the joined value equals `target_label`'s value.
    DropEqual,
    /// Sets `target_label` to the MD5 of the joined value modulo `modulus`.
    HashMod,
    /// Copies every label whose name matches `regex` to the name
    /// `replacement` makes of it.
    LabelMap,
    /// Deletes every label whose name matches `regex`.
    LabelDrop,
    /// Deletes every label whose name does not match `regex`.
    LabelKeep,
    /// Sets `target_label` to the joined value in lower case.
    Lowercase,
    /// Sets `target_label` to the joined value in upper case.
    Uppercase,
}

impl Action {
    const ALL: [Action; 11] = [
        Action::Replace,
        Action::Keep,
        Action::Drop,
        Action::KeepEqual,
        Action::DropEqual,
        Action::HashMod,
        Action::LabelMap,
        Action::LabelDrop,
        Action::LabelKeep,
        Action::Lowercase,
        Action::Uppercase,
    ];

    /// The name as Prometheus writes it (`hashmod`, `labelmap`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }

    /// The action named `s`, in any case (Go's `strings.ToLower`, so the
    /// Kelvin sign reads as `k`).
    fn parse(s: &str) -> Option<Action> {
        let lower = go_lower(s);
        Action::ALL.into_iter().find(|a| a.as_str() == lower)
    }
}

/// One relabel config entry as written, with Prometheus's key names.
/// Unset keys take Prometheus's defaults in [`RelabelConfigToml::resolve`]:
/// `action = "replace"`, `separator = ";"`, `regex = "(.*)"`,
/// `replacement = "$1"`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelabelConfigToml {
    /// Labels whose values, joined by `separator`, the regex works on.
    pub source_labels: Option<Vec<String>>,
    /// Joins the source values (`;`).
    pub separator: Option<String>,
    /// Go RE2 syntax, always fully anchored (`(.*)`).
    pub regex: Option<String>,
    /// `hashmod`'s modulus (required there, > 0).
    pub modulus: Option<u64>,
    /// The label written (`replace` may use `$1` templates in it).
    pub target_label: Option<String>,
    /// `replace`'s and `labelmap`'s template (`$1`).
    pub replacement: Option<String>,
    /// One of [`Action`]'s names, any case (`replace`).
    pub action: Option<String>,
}

/// Prometheus's defaults.
const DEFAULT_SEPARATOR: &str = ";";
const DEFAULT_REGEX: &str = "(.*)";
const DEFAULT_REPLACEMENT: &str = "$1";

impl RelabelConfigToml {
    /// Applies the defaults and Prometheus 2.42's checks, compiling the
    /// regex. An error is `(key, message)`, the key relative to the entry
    /// (`"regex"`, `"target_label"`), the message Prometheus's.
    ///
    /// Prometheus reports the errors it finds while reading the entry's
    /// keys (an unknown action, an invalid source label, a bad regex) in
    /// the order the keys are written; here they come in that order:
    /// action, source_labels, regex. The remaining checks come in 2.42's
    /// order.
    pub fn resolve(self) -> Result<Relabel, (String, String)> {
        let fail = |key: &str, msg: String| Err((key.to_string(), msg));
        let action_name = self.action.as_deref().unwrap_or("replace");
        let Some(action) = Action::parse(action_name) else {
            return fail(
                "action",
                format!("unknown relabel action {}", go_quote(action_name)),
            );
        };
        let act = action.as_str();
        for l in self.source_labels.iter().flatten() {
            if !valid_label_name(l) {
                return fail(
                    "source_labels",
                    format!("{} is not a valid label name", go_quote(l)),
                );
            }
        }
        let regex = GoRegexp::new(&format!(
            "^(?:{})$",
            self.regex.as_deref().unwrap_or(DEFAULT_REGEX)
        ))
        .map_err(|e| ("regex".to_string(), e))?;

        let modulus = self.modulus.unwrap_or(0);
        let target = self.target_label.as_deref().unwrap_or("");
        let replacement = self.replacement.as_deref().unwrap_or(DEFAULT_REPLACEMENT);
        let separator = self.separator.as_deref().unwrap_or(DEFAULT_SEPARATOR);
        use Action::*;
        if action == HashMod && modulus == 0 {
            return fail(
                "modulus",
                "relabel configuration for hashmod requires non-zero modulus".into(),
            );
        }
        let writes = matches!(
            action,
            Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
        );
        if writes && target.is_empty() {
            return fail(
                "target_label",
                format!("relabel configuration for {act} action requires 'target_label' value"),
            );
        }
        if writes && action != HashMod && !valid_target_template(target) {
            return fail(
                "target_label",
                format!(
                    "{} is invalid 'target_label' for {act} action",
                    go_quote(target)
                ),
            );
        }
        if matches!(action, Lowercase | Uppercase | KeepEqual | DropEqual)
            && replacement != DEFAULT_REPLACEMENT
        {
            return fail(
                "replacement",
                format!("'replacement' can not be set for {act} action"),
            );
        }
        if action == LabelMap && !valid_target_template(replacement) {
            return fail(
                "replacement",
                format!(
                    "{} is invalid 'replacement' for {act} action",
                    go_quote(replacement)
                ),
            );
        }
        if action == HashMod && !valid_label_name(target) {
            return fail(
                "target_label",
                format!(
                    "{} is invalid 'target_label' for {act} action",
                    go_quote(target)
                ),
            );
        }
        if matches!(action, KeepEqual | DropEqual) {
            // 2.42 compares the regex by identity with the default's: any
            // regex written, even "(.*)", counts as set.
            let set = [
                ("regex", self.regex.is_some()),
                ("modulus", modulus != 0),
                ("separator", separator != DEFAULT_SEPARATOR),
                ("replacement", replacement != DEFAULT_REPLACEMENT),
            ];
            if let Some((key, _)) = set.iter().find(|(_, s)| *s) {
                return fail(
                    key,
                    format!(
                        "{act} action requires only 'source_labels' and `target_label`, and no other fields"
                    ),
                );
            }
        }
        if matches!(action, LabelDrop | LabelKeep) {
            let set = [
                ("source_labels", self.source_labels.is_some()),
                ("target_label", !target.is_empty()),
                ("modulus", modulus != 0),
                ("separator", separator != DEFAULT_SEPARATOR),
                ("replacement", replacement != DEFAULT_REPLACEMENT),
            ];
            if let Some((key, _)) = set.iter().find(|(_, s)| *s) {
                return fail(
                    key,
                    format!("{act} action requires only 'regex', and no other fields"),
                );
            }
        }
        Ok(Relabel {
            action,
            source_labels: self.source_labels.unwrap_or_default(),
            separator: separator.to_string(),
            regex,
            modulus,
            target_label: target.to_string(),
            replacement: replacement.to_string(),
        })
    }
}

/// Prometheus's `relabelTarget` pattern,
/// `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$`: a label name in which
/// `$name` and `${name}` may stand anywhere (never a digit first). `\w` is
/// ASCII in Go.
fn valid_target_template(s: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = s.as_bytes();
    if b.is_empty() || b[0].is_ascii_digit() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            i += 1;
            if b.get(i) == Some(&b'{') {
                let n = b[i + 1..].iter().take_while(|&&c| word(c)).count();
                if n == 0 || b.get(i + 1 + n) != Some(&b'}') {
                    return false;
                }
                i += n + 2;
            } else {
                let n = b[i..].iter().take_while(|&&c| word(c)).count();
                if n == 0 {
                    return false;
                }
                i += n;
            }
        } else if word(b[i]) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// A checked, compiled relabel step ([`RelabelConfigToml::resolve`]).
#[derive(Clone, Debug)]
pub struct Relabel {
    action: Action,
    source_labels: Vec<String>,
    separator: String,
    regex: GoRegexp,
    modulus: u64,
    target_label: String,
    replacement: String,
}

/// Two steps are equal when they were written alike (the compiled regex
/// compares by its pattern): a reloaded config with unchanged relabelling
/// keeps its scrape loops running.
impl PartialEq for Relabel {
    fn eq(&self, o: &Relabel) -> bool {
        self.action == o.action
            && self.source_labels == o.source_labels
            && self.separator == o.separator
            && self.regex.as_str() == o.regex.as_str()
            && self.modulus == o.modulus
            && self.target_label == o.target_label
            && self.replacement == o.replacement
    }
}

impl Relabel {
    /// The step's action.
    pub fn action(&self) -> Action {
        self.action
    }

    /// The regex as written (without the anchoring).
    pub fn regex(&self) -> &str {
        let s = self.regex.as_str();
        s.strip_prefix("^(?:")
            .and_then(|s| s.strip_suffix(")$"))
            .unwrap_or(s)
    }

    /// Runs this step: the new set, or `None` when it drops.
    fn apply(&self, mut lset: Labels) -> Option<Labels> {
        let val = self.joined(&lset);
        match self.action {
            Action::Drop if self.regex.is_match(&val) => return None,
            Action::Keep if !self.regex.is_match(&val) => return None,
            Action::DropEqual if lset.get(&self.target_label).unwrap_or("") == val => return None,
            Action::KeepEqual if lset.get(&self.target_label).unwrap_or("") != val => return None,
            Action::Drop | Action::Keep | Action::DropEqual | Action::KeepEqual => {}
            Action::Replace => {
                let mut locs = self.regex.locations();
                if self.regex.captures(&mut locs, &val) {
                    let mut target = String::new();
                    self.regex
                        .expand(&mut target, &self.target_label, &val, &locs);
                    if !valid_label_name(&target) {
                        return Some(without_empty_then(lset, |l| {
                            l.remove(&self.target_label);
                        }));
                    }
                    let mut res = String::new();
                    self.regex.expand(&mut res, &self.replacement, &val, &locs);
                    return Some(without_empty_then(lset, |l| {
                        if res.is_empty() {
                            l.remove(&self.target_label);
                        } else {
                            l.set(target, res);
                        }
                    }));
                }
            }
            Action::Lowercase => {
                let v = go_lower(&val);
                return Some(without_empty_then(lset, |l| {
                    set(l, self.target_label.clone(), v)
                }));
            }
            Action::Uppercase => {
                let v = go_upper(&val);
                return Some(without_empty_then(lset, |l| {
                    set(l, self.target_label.clone(), v)
                }));
            }
            Action::HashMod => {
                let v = hashmod(&val, self.modulus).to_string();
                return Some(without_empty_then(lset, |l| {
                    l.set(self.target_label.clone(), v)
                }));
            }
            Action::LabelMap => {
                // Names and values from the set as it was; applied in name
                // order, so a later name mapped to the same label wins.
                let copies: Vec<(String, String)> = lset
                    .iter()
                    .filter(|(n, _)| self.regex.is_match(n))
                    .map(|(n, v)| (self.regex.replace_all(n, &self.replacement), v.to_string()))
                    .collect();
                return Some(without_empty_then(lset, |l| {
                    for (n, v) in copies {
                        set(l, n, v);
                    }
                }));
            }
            Action::LabelDrop => {
                lset.retain(|n, v| !v.is_empty() && !self.regex.is_match(n));
                return Some(lset);
            }
            Action::LabelKeep => {
                lset.retain(|n, v| !v.is_empty() && self.regex.is_match(n));
                return Some(lset);
            }
        }
        lset.retain(|_, v| !v.is_empty());
        Some(lset)
    }

    /// The source labels' values joined by the separator.
    fn joined(&self, lset: &Labels) -> String {
        let mut val = String::new();
        for (i, l) in self.source_labels.iter().enumerate() {
            if i > 0 {
                val.push_str(&self.separator);
            }
            val.push_str(lset.get(l).unwrap_or(""));
        }
        val
    }
}

/// Runs `cfgs` over `labels` in order: the relabelled set, or `None` when
/// a step dropped it. With no steps the set comes back untouched.
pub fn process(labels: Labels, cfgs: &[Relabel]) -> Option<Labels> {
    cfgs.iter().try_fold(labels, |l, cfg| cfg.apply(l))
}

/// `lset` without its empty-valued labels, then changed by `f`: what
/// Prometheus's `labels.Builder` makes of a set and its changes.
fn without_empty_then(mut lset: Labels, f: impl FnOnce(&mut Labels)) -> Labels {
    lset.retain(|_, v| !v.is_empty());
    f(&mut lset);
    lset
}

/// Sets `name` to `value`; an empty value deletes it.
fn set(l: &mut Labels, name: String, value: String) {
    if value.is_empty() {
        l.remove(&name);
    } else {
        l.set(name, value);
    }
}

/// `hashmod`: the big-endian u64 of bytes 8..16 of the MD5 of `val`, modulo
/// `modulus` (never 0 after resolve).
fn hashmod(val: &str, modulus: u64) -> u64 {
    let digest = Md5::digest(val.as_bytes());
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&digest[8..16]);
    u64::from_be_bytes(tail)
        .checked_rem(modulus)
        .unwrap_or_default()
}

/// Go's `strings.ToLower`: each character's simple lower case mapping
/// (`İ` → `i`, not `i̇`; no final-sigma rule).
fn go_lower(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut l = c.to_lowercase();
            match (l.next(), l.next()) {
                (Some(x), None) => x,
                // Only U+0130 lowers to two characters; its simple mapping is `i`.
                _ if c == '\u{130}' => 'i',
                _ => c,
            }
        })
        .collect()
}

/// Go's `strings.ToUpper`: each character's simple upper case mapping
/// (`ß` stays `ß`; `ᾳ` → `ᾼ`, not `ΑΙ`).
fn go_upper(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut u = c.to_uppercase();
            match (u.next(), u.next()) {
                (Some(x), None) => x,
                // Rust gives the full mapping (SpecialCasing); of those
                // characters only the Greek with ypogegrammeni have a
                // simple one, to the form with prosgegrammeni.
                _ => match u32::from(c) {
                    0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => {
                        char::from_u32(u32::from(c) + 8).unwrap_or(c)
                    }
                    0x1FB3 => '\u{1FBC}',
                    0x1FC3 => '\u{1FCC}',
                    0x1FF3 => '\u{1FFC}',
                    _ => c,
                },
            }
        })
        .collect()
}

/// Go's `%q` for the strings a config holds.
fn go_quote(s: &str) -> String {
    use std::fmt::Write as _;
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\x07' => q.push_str("\\a"),
            '\x08' => q.push_str("\\b"),
            '\x0C' => q.push_str("\\f"),
            '\n' => q.push_str("\\n"),
            '\r' => q.push_str("\\r"),
            '\t' => q.push_str("\\t"),
            '\x0B' => q.push_str("\\v"),
            c if u32::from(c) < 0x20 || c == '\x7F' => {
                let _ = write!(q, "\\x{:02x}", u32::from(c));
            }
            c if c.is_control() || (c.is_whitespace() && c != ' ') || c == '\u{FEFF}' => {
                let _ = if u32::from(c) < 0x10000 {
                    write!(q, "\\u{:04x}", u32::from(c))
                } else {
                    write!(q, "\\U{:08x}", u32::from(c))
                };
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

#[cfg(test)]
mod tests;
