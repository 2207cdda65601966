//! Prometheus text exposition format 0.0.4, the body of `GET /metrics`.
//!
//! Output matches what node_exporter's Go client writes, byte for byte where
//! it can: families sorted by name with one `# HELP` and `# TYPE` each,
//! series sorted by labels, labels sorted by name, floats in Go's shortest
//! `%g` form (`1.073741824e+09`, `NaN`, `+Inf`). A histogram or summary
//! series is written as one group, as Go's client does: its buckets by
//! numeric `le` (`+Inf` last) or quantiles by numeric `quantile`, then
//! `_sum`, then `_count`, before the next label set (the order is
//! [`Sample::exposition_cmp`]). Keeping the same form keeps diffs against
//! node_exporter readable and response sizes comparable.

use std::fmt::Write as _;
use std::io::Write as _;

use crate::metric::{Sample, Suffix};

/// The Content-Type of this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Sorts `samples` into exposition order, drops duplicate series (the first
/// wins, as a scrape cannot hold one series twice) and families that collide
/// with a summary's or histogram's series, and appends the text to `out`.
///
/// Returns how many samples were dropped.
pub fn encode(samples: &mut Vec<Sample>, out: &mut Vec<u8>) -> usize {
    samples.sort_by(|a, b| a.exposition_cmp(b));
    let before = samples.len();
    samples.dedup_by(|b, a| a.name == b.name && a.suffix == b.suffix && a.labels == b.labels);
    drop_suffix_collisions(samples);
    let dropped = before - samples.len();

    let mut family: Option<&str> = None;
    for s in samples.iter() {
        if family != Some(s.name.as_ref()) {
            family = Some(s.name.as_ref());
            out.extend_from_slice(b"# HELP ");
            out.extend_from_slice(s.name.as_bytes());
            out.push(b' ');
            escape_help(&s.help, out);
            out.extend_from_slice(b"\n# TYPE ");
            out.extend_from_slice(s.name.as_bytes());
            out.push(b' ');
            out.extend_from_slice(s.kind.as_str().as_bytes());
            out.push(b'\n');
        }
        write_sample(s, out);
    }
    dropped
}

/// Drops families named like a summary's `_sum`/`_count` or a histogram's
/// `_sum`/`_count`/`_bucket` series (a textfile or relayed body can hold
/// both): written after that family, they would read as part of it and the
/// scrape would not parse. client_golang's registry refuses them the same
/// way (`checkSuffixCollisions`), so node_exporter drops them too.
fn drop_suffix_collisions(samples: &mut Vec<Sample>) {
    use crate::metric::MetricType::{Histogram, Summary};
    let mut complex: Vec<(String, bool)> = samples
        .iter()
        .filter(|s| matches!(s.kind, Histogram | Summary))
        .map(|s| (s.name.to_string(), s.kind == Histogram))
        .collect();
    if complex.is_empty() {
        return;
    }
    complex.dedup();
    samples.retain(|s| {
        matches!(s.kind, Histogram | Summary)
            || !complex.iter().any(|(base, histogram)| {
                s.name.strip_prefix(base.as_str()).is_some_and(|rest| {
                    rest == "_sum" || rest == "_count" || (*histogram && rest == "_bucket")
                })
            })
    });
}

/// Writes one sample line (no HELP/TYPE).
pub(crate) fn write_sample(s: &Sample, out: &mut Vec<u8>) {
    out.extend_from_slice(s.name.as_bytes());
    if s.suffix != Suffix::None {
        out.extend_from_slice(s.suffix.as_str().as_bytes());
    }
    if !s.labels.is_empty() {
        out.push(b'{');
        for (i, (n, v)) in s.labels.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b"=\"");
            escape_label_value(v, out);
            out.push(b'"');
        }
        out.push(b'}');
    }
    out.push(b' ');
    write_float(s.value, out);
    if let Some(ts) = s.timestamp_ms {
        let _ = write!(out, " {ts}");
    }
    out.push(b'\n');
}

fn escape_help(s: &str, out: &mut Vec<u8>) {
    for b in s.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
}

/// Writes a label value with the exposition format's escapes (`\\`, `\"`, `\n`).
pub(crate) fn escape_label_value(s: &str, out: &mut Vec<u8>) {
    if !s.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    for b in s.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
}

/// Writes `v` as Go's `strconv.FormatFloat(v, 'g', -1, 64)` does, with
/// `+Inf`, `-Inf` and `NaN` as the exposition format spells them.
pub fn write_float(v: f64, out: &mut Vec<u8>) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
        return;
    }
    // Small integers are most of a scrape: write them without float formatting.
    if v == v.trunc() && v.abs() < 1e6 {
        if v == 0.0 && v.is_sign_negative() {
            out.extend_from_slice(b"-0");
        } else {
            let _ = write!(out, "{}", v as i64);
        }
        return;
    }
    // A formatted f64 is at most 24 bytes ("-2.2250738585072014e-308").
    let mut sci: heapless::String<32> = heapless::String::new();
    let _ = write!(sci, "{v:e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        out.extend_from_slice(mant.as_bytes());
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    } else {
        let _ = write!(out, "{v}");
    }
}
