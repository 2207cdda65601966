//! JSON as the Prometheus HTTP API writes it: the envelope, label sets,
//! timestamps in seconds with a millisecond fraction only when non-zero
//! (`1.5` is written `1.500`, `2000` ms is `2`), and sample values as
//! strings in Go's shortest form (`"NaN"`, `"+Inf"`, `"1e-07"`).
//! Grafana and promtool parse exactly these shapes.

use std::fmt::Write as _;

use picket_core::metric::Labels;

/// Appends `s` as a JSON string.
pub(crate) fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a label set as a JSON object (label order).
pub(crate) fn labels(out: &mut String, l: &Labels) {
    out.push('{');
    for (i, (n, v)) in l.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(out, n);
        out.push(':');
        string(out, v);
    }
    out.push('}');
}

/// Appends a list of strings as a JSON array.
pub(crate) fn strings<'a>(out: &mut String, items: impl IntoIterator<Item = &'a str>) {
    out.push('[');
    for (i, s) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(out, s);
    }
    out.push(']');
}

/// Appends a millisecond timestamp as Prometheus writes it (seconds).
pub(crate) fn timestamp(out: &mut String, ms: i64) {
    let (s, frac) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    if frac == 0 {
        let _ = write!(out, "{s}");
    } else if s < 0 && frac != 0 {
        // -1.5 s is -1500 ms: div_euclid gives -2 and 500.
        let neg = ms.unsigned_abs(); // i64::MIN has no positive i64
        let _ = write!(out, "-{}.{:03}", neg / 1000, neg % 1000);
    } else {
        let _ = write!(out, "{s}.{frac:03}");
    }
}

/// Appends a sample value as a JSON string in Go's `FormatFloat(v, 'f'/'e', -1)` form.
pub(crate) fn value(out: &mut String, v: f64) {
    out.push('"');
    format_value(out, v);
    out.push('"');
}

/// Go's shortest float text as Prometheus uses it for sample values.
pub(crate) fn format_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v != 0.0 && (v.abs() < 1e-6 || v.abs() >= 1e21) {
        let s = format!("{v:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        let _ = write!(out, "{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    } else {
        let _ = write!(out, "{v}");
    }
}

/// `{"status":"success","data":<data>}`.
pub(crate) fn success(data: &str) -> String {
    format!("{{\"status\":\"success\",\"data\":{data}}}")
}

/// `{"status":"error","errorType":..,"error":..}`.
pub(crate) fn error(kind: &str, msg: &str) -> String {
    let mut out = String::from("{\"status\":\"error\",\"errorType\":");
    string(&mut out, kind);
    out.push_str(",\"error\":");
    string(&mut out, msg);
    out.push('}');
    out
}

/// RFC 3339 in UTC with milliseconds (`2026-11-21T10:00:00.123Z`), as
/// Prometheus writes times in `/api/v1/targets`; Go's zero time for 0.
pub(crate) fn rfc3339(out: &mut String, ms: i64) {
    use std::fmt::Write;
    if ms == 0 {
        out.push_str("0001-01-01T00:00:00Z");
        return;
    }
    let secs = ms.div_euclid(1000);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = picket_core::clock::civil_from_days(days);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
        ms.rem_euclid(1000)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_prometheus_writes_them() {
        let t = |ms| {
            let mut s = String::new();
            timestamp(&mut s, ms);
            s
        };
        assert_eq!(t(1500), "1.500");
        assert_eq!(t(1050), "1.050");
        assert_eq!(t(2000), "2");
        assert_eq!(t(-1500), "-1.500");
        assert_eq!(t(i64::MIN), "-9223372036854775.808");
        let v = |x| {
            let mut s = String::new();
            format_value(&mut s, x);
            s
        };
        assert_eq!(v(1.0), "1");
        assert_eq!(v(0.1), "0.1");
        assert_eq!(v(1e-7), "1e-07");
        assert_eq!(v(1e21), "1e+21");
        assert_eq!(v(123456789.0), "123456789");
        assert_eq!(v(f64::NAN), "NaN");
        assert_eq!(v(f64::NEG_INFINITY), "-Inf");
        let mut s = String::new();
        string(&mut s, "a\"<b>\n");
        assert_eq!(s, r#""a\"\u003cb\u003e\n""#);
    }

    #[test]
    fn rfc3339_matches_the_api_parser() {
        for ms in [1, 951_782_400_000, 1_795_262_417_747, 4_102_444_799_999] {
            let mut out = String::new();
            super::rfc3339(&mut out, ms);
            assert_eq!(super::super::api::parse_time(&out), Some(ms), "{out}");
        }
        let mut out = String::new();
        super::rfc3339(&mut out, 1_795_262_417_747);
        assert_eq!(out, "2026-11-21T12:00:17.747Z");
    }
}
