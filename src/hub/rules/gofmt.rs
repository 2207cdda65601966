//! Go's number and value formatting, as Prometheus's alert templates
//! produce it: `{{ $value }}` is Go's `%v` of a float64, `humanize` and
//! friends are `%.4g` with SI prefixes, `printf` is Go's `fmt.Sprintf`.
//! Rule files written for Prometheus must render the same text here, or
//! notifications, dashboards and dedup keys built from them differ.
//!
//! Golden values (promtool 2.42, see hub-api-promql-alerting.md §4.2) are
//! in the unit tests at the bottom.

/// The digits and decimal point of `v` rounded to `prec` significant
/// digits (`None`: the shortest that round-trips), trailing zeros
/// trimmed, as Go's `strconv` decimal: (digits, dp) with value
/// `0.digits × 10^dp`.
fn decimal(v: f64, prec: Option<usize>) -> (String, i32) {
    let s = match prec {
        None => format!("{:e}", v.abs()),
        // A float64's exact decimal has at most 767 significant digits, so
        // more asks for zeros, which are trimmed anyway; and Rust's
        // formatter panics on a precision past 65,535, which Go's parsenum
        // lets through (up to about 10^7; found by fuzzing).
        Some(p) => format!("{:.*e}", p.min(EXACT_DIGITS).saturating_sub(1), v.abs()),
    };
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = e.parse().unwrap_or(0);
    let mut digits: String = m.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    if digits == "0" {
        return (digits, 0);
    }
    (digits, exp + 1)
}

fn special(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v.is_infinite() {
        Some(if v > 0.0 { "+Inf" } else { "-Inf" })
    } else {
        None
    }
}

/// `%e` form of (digits, dp) with `frac` digits after the point.
fn fmt_e(neg: bool, digits: &str, dp: i32, frac: usize) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    let mut ds = digits.chars();
    s.push(ds.next().unwrap_or('0'));
    if frac > 0 {
        s.push('.');
        // Padded by hand: Rust's formatter panics on a width past 65,535.
        let rest: String = ds.collect();
        let pad = frac.saturating_sub(rest.len());
        s.push_str(&rest);
        s.extend(std::iter::repeat_n('0', pad));
    }
    let exp = if digits == "0" { 0 } else { dp - 1 };
    s.push_str(&format!(
        "e{}{:02}",
        if exp < 0 { '-' } else { '+' },
        exp.abs()
    ));
    s
}

/// `%f` form of (digits, dp) with `frac` digits after the point.
fn fmt_f(neg: bool, digits: &str, dp: i32, frac: usize) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    let d = |i: i32| -> char {
        if i >= 0 && (i as usize) < digits.len() {
            digits.as_bytes()[i as usize] as char
        } else {
            '0'
        }
    };
    if dp > 0 {
        for i in 0..dp {
            s.push(d(i));
        }
    } else {
        s.push('0');
    }
    if frac > 0 {
        s.push('.');
        for i in 0..frac as i32 {
            s.push(d(dp + i));
        }
    }
    s
}

/// Go's `%g` with precision `prec` (`None`: `%v`, shortest digits).
pub(crate) fn g(v: f64, prec: Option<usize>) -> String {
    if let Some(s) = special(v) {
        return s.to_string();
    }
    let neg = v.is_sign_negative() && v != 0.0;
    let (digits, dp) = decimal(v, prec.map(|p| p.max(1)));
    let nd = if digits == "0" {
        0
    } else {
        digits.len() as i32
    };
    let mut p = prec.map_or(nd, |p| p.max(1) as i32);
    let mut eprec = p;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    if prec.is_none() {
        eprec = 6;
    }
    let exp = dp - 1;
    if nd > 0 && (exp < -4 || exp >= eprec) {
        if p > nd {
            p = nd;
        }
        return fmt_e(neg, &digits, dp, (p - 1).max(0) as usize);
    }
    if p > dp {
        p = nd;
    }
    fmt_f(neg, &digits, dp, (p - dp).max(0) as usize)
}

/// Go's `%v` of a float64.
pub(crate) fn float(v: f64) -> String {
    g(v, None)
}

/// Go's `%.Nf` (`None`: 6 digits). Past the 1,074 fraction digits a
/// float64 can have, the rest are zeros: written as such, since Rust's
/// formatter panics on a precision past 65,535 and Go's does not.
pub(crate) fn f(v: f64, prec: Option<usize>) -> String {
    if let Some(s) = special(v) {
        return s.to_string();
    }
    let p = prec.unwrap_or(6);
    let mut s = format!("{:.*}", p.min(EXACT_FRACTION), v);
    s.extend(std::iter::repeat_n('0', p.saturating_sub(EXACT_FRACTION)));
    s
}

/// More significant digits than any float64's exact decimal has.
const EXACT_DIGITS: usize = 800;
/// More fraction digits than any float64's exact decimal has.
const EXACT_FRACTION: usize = 1100;

/// Go's `%.Ne` (`None`: 6 digits).
pub(crate) fn e(v: f64, prec: Option<usize>) -> String {
    if let Some(s) = special(v) {
        return s.to_string();
    }
    let p = prec.unwrap_or(6);
    let (digits, dp) = decimal(v, Some(p + 1));
    fmt_e(v.is_sign_negative() && v != 0.0, &digits, dp, p)
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`: `1e+00`, `1.5e-07`.
pub(crate) fn e_shortest(v: f64) -> String {
    if let Some(s) = special(v) {
        return s.to_string();
    }
    let (digits, dp) = decimal(v, None);
    let frac = digits.len().saturating_sub(1);
    fmt_e(v.is_sign_negative() && v != 0.0, &digits, dp, frac)
}

/// Prometheus's `humanize`: SI prefixes, 4 significant digits.
pub(crate) fn humanize(mut v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return g(v, Some(4));
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", g(v, Some(4)))
}

/// Prometheus's `humanize1024`: binary prefixes for values above 1.
pub(crate) fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return g(v, Some(4));
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", g(v, Some(4)))
}

/// Prometheus's `humanizeDuration`: `1d 1h 1m 1s`, `1.5s`, `250ms`.
pub(crate) fn humanize_duration(mut v: f64) -> String {
    if !v.is_finite() {
        return g(v, Some(4));
    }
    if v == 0.0 {
        return format!("{}s", g(v, Some(4)));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let d = v as i64;
        let (s, m, h, days) = (d % 60, d / 60 % 60, d / 3600 % 24, d / 86_400);
        return if days != 0 {
            format!("{sign}{days}d {h}h {m}m {s}s")
        } else if h != 0 {
            format!("{sign}{h}h {m}m {s}s")
        } else if m != 0 {
            format!("{sign}{m}m {s}s")
        } else {
            format!("{sign}{}s", g(v, Some(4)))
        };
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", g(v, Some(4)))
}

/// Prometheus's `humanizePercentage`: `0.1234` → `12.34%`.
pub(crate) fn humanize_percentage(v: f64) -> String {
    format!("{}%", g(v * 100.0, Some(4)))
}

/// Prometheus's `humanizeTimestamp`: Go's `time.Time.String()` in UTC.
pub(crate) fn humanize_timestamp(v: f64) -> String {
    if !v.is_finite() {
        return g(v, Some(4));
    }
    let ms = (v * 1000.0).round() as i64;
    let mut s = String::new();
    crate::json::rfc3339(&mut s, ms);
    // 2026-11-21T10:00:00.123Z → 2026-11-21 10:00:00.123 +0000 UTC
    let s = s.trim_end_matches('Z').replacen('T', " ", 1);
    let s = s.trim_end_matches(".000").trim_end_matches('0');
    format!("{s} +0000 UTC")
}

/// One `printf` argument.
#[derive(Clone, Debug)]
pub(crate) enum Arg {
    /// A float64.
    Float(f64),
    /// An int.
    Int(i64),
    /// A string.
    Str(String),
    /// A bool.
    Bool(bool),
    /// Anything else, already in `%v` form.
    Other(String),
}

impl Arg {
    fn v(&self) -> String {
        match self {
            Arg::Float(x) => float(*x),
            Arg::Int(i) => i.to_string(),
            Arg::Str(s) | Arg::Other(s) => s.clone(),
            Arg::Bool(b) => b.to_string(),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Arg::Float(_) => "float64",
            Arg::Int(_) => "int",
            Arg::Str(_) => "string",
            Arg::Bool(_) => "bool",
            Arg::Other(_) => "map[string]string",
        }
    }
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%v %s %d %f %e %g
/// %q %x %t %%` with flags `-+0 ` and width/precision. Mismatches are
/// written Go's way (`%!d(string=x)`).
pub(crate) fn sprintf(format: &str, args: &[Arg]) -> String {
    let mut out = String::new();
    let mut it = format.chars().peekable();
    let mut n = 0usize;
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut minus, mut plus, mut zero, mut space) = (false, false, false, false);
        while let Some(&f) = it.peek() {
            match f {
                '-' => minus = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' => space = true,
                _ => break,
            }
            it.next();
        }
        // Go's parsenum: a width or precision past 10^6 is "crazy long"
        // and swallows the rest of the format (then %!(NOVERB)), rather
        // than padding to it (found by fuzzing: %5555555555f asked for
        // terabytes).
        let num = |it: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            let mut n: Option<usize> = None;
            while let Some(d) = it.peek().and_then(|d| d.to_digit(10)) {
                if n.is_some_and(|n| n > 1_000_000) {
                    it.by_ref().for_each(drop);
                    return Err(());
                }
                n = Some(n.unwrap_or(0) * 10 + d as usize);
                it.next();
            }
            Ok(n)
        };
        let Ok(width) = num(&mut it) else {
            out.push_str("%!(NOVERB)");
            break;
        };
        let mut prec: Option<usize> = None;
        if it.peek() == Some(&'.') {
            it.next();
            let Ok(p) = num(&mut it) else {
                out.push_str("%!(NOVERB)");
                break;
            };
            prec = Some(p.unwrap_or(0));
        }
        let Some(verb) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(n) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        n += 1;
        let bad = || format!("%!{verb}({}={})", arg.type_name(), arg.v());
        let num_sign = |s: String, neg: bool| -> String {
            if !neg && plus {
                format!("+{s}")
            } else if !neg && space {
                format!(" {s}")
            } else {
                s
            }
        };
        let body = match (verb, arg) {
            ('v', _) => arg.v(),
            ('s', Arg::Str(s)) => match prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.clone(),
            },
            ('s', Arg::Other(s)) => s.clone(),
            ('q', Arg::Str(s)) => crate::promql::value::go_quote(s),
            ('t', Arg::Bool(b)) => b.to_string(),
            ('d', Arg::Int(i)) => num_sign(i.to_string(), *i < 0),
            ('x', Arg::Int(i)) => format!("{i:x}"),
            ('x', Arg::Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
            ('f' | 'F', Arg::Float(x)) => num_sign(f(*x, prec), *x < 0.0),
            ('e', Arg::Float(x)) => num_sign(e(*x, prec), *x < 0.0),
            ('g', Arg::Float(x)) => num_sign(g(*x, prec), *x < 0.0),
            ('f' | 'F' | 'e' | 'g', Arg::Int(_)) => bad(),
            _ => bad(),
        };
        let w = width.unwrap_or(0);
        let len = body.chars().count();
        if len >= w {
            out.push_str(&body);
        } else if minus {
            out.push_str(&body);
            out.push_str(&" ".repeat(w - len));
        } else if zero && !matches!(arg, Arg::Str(_)) {
            let (sign, digits) = match body.strip_prefix(['-', '+']) {
                Some(d) => (&body[..1], d),
                None => ("", body.as_str()),
            };
            out.push_str(sign);
            out.push_str(&"0".repeat(w - len));
            out.push_str(digits);
        } else {
            out.push_str(&" ".repeat(w - len));
            out.push_str(&body);
        }
    }
    if n < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[n..]
            .iter()
            .map(|a| format!("{}={}", a.type_name(), a.v()))
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_as_go_prints_a_float64() {
        // promtool 2.42's renderings (hub-api-promql-alerting.md §4.2).
        assert_eq!(float(123456789.0), "1.23456789e+08");
        assert_eq!(float(0.000012345), "1.2345e-05");
        assert_eq!(float(1e21), "1e+21");
        assert_eq!(float(100.0), "100");
        assert_eq!(float(123456.0), "123456");
        assert_eq!(float(1e6), "1e+06");
        assert_eq!(float(0.5), "0.5");
        assert_eq!(float(0.0001), "0.0001");
        assert_eq!(float(-2.5), "-2.5");
        assert_eq!(float(0.0), "0");
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(e_shortest(1.0), "1e+00");
        assert_eq!(e_shortest(0.0), "0e+00");
        assert_eq!(e_shortest(-1234.5), "-1.2345e+03");
    }

    #[test]
    fn humanize_family_matches_promtool() {
        assert_eq!(humanize(123456789.0), "123.5M");
        assert_eq!(humanize(0.000012345), "12.35u");
        assert_eq!(humanize(1e21), "1Z");
        assert_eq!(humanize(0.0), "0");
        assert_eq!(humanize(1234.0), "1.234k");
        assert_eq!(humanize(100.0), "100");
        assert_eq!(humanize_duration(90061.0), "1d 1h 1m 1s");
        assert_eq!(humanize_duration(1.5), "1.5s");
        assert_eq!(humanize_duration(0.25), "250ms");
        assert_eq!(humanize_duration(0.0), "0s");
        assert_eq!(humanize_percentage(0.1234), "12.34%");
        assert_eq!(humanize_percentage(0.9612345), "96.12%");
        assert_eq!(humanize1024(2048.0), "2ki");
        assert_eq!(
            humanize_timestamp(1_435_065_584.128),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
    }

    #[test]
    fn a_crazy_long_width_or_precision_is_go_s_noverb() {
        // Fuzz finding (tests/fuzz, template): the width was padded to,
        // whatever its size (out of memory). Go's parsenum gives up past
        // 10^6 and swallows the rest of the format.
        let five = [Arg::Float(5.0)];
        assert_eq!(
            sprintf("%5555555555f", &five),
            "%!(NOVERB)%!(EXTRA float64=5)"
        );
        assert_eq!(
            sprintf("a%.99999999f b", &five),
            "a%!(NOVERB)%!(EXTRA float64=5)"
        );
        // Up to there it pads, as Go does.
        assert_eq!(sprintf("%1000000d", &[Arg::Int(1)]).len(), 1_000_000);
        // A precision Go lets through but Rust's formatter would panic on
        // (fuzzing: corpus/template/finding-printf-precision).
        let s = sprintf("%.1111111f", &[Arg::Float(0.5)]);
        assert_eq!(s.len(), 2 + 1_111_111);
        assert!(s.starts_with("0.5000") && s.ends_with("000"));
        let e = sprintf("%.1111111e", &[Arg::Float(0.5)]);
        assert!(
            e.starts_with("5.000") && e.ends_with("e-01"),
            "{}",
            &e[..10]
        );
        assert_eq!(
            sprintf("%-3d|%.1f", &[Arg::Int(1), Arg::Float(2.25)]),
            "1  |2.2"
        );
    }

    #[test]
    fn sprintf_verbs() {
        assert_eq!(sprintf("%.2f", &[Arg::Float(123456789.0)]), "123456789.00");
        assert_eq!(sprintf("%.2f", &[Arg::Float(0.000012345)]), "0.00");
        assert_eq!(
            sprintf("%.2f", &[Arg::Float(1e21)]),
            "1000000000000000000000.00"
        );
        assert_eq!(
            sprintf("%s is %d%%", &[Arg::Str("a".into()), Arg::Int(5)]),
            "a is 5%"
        );
        assert_eq!(
            sprintf("%5.1f|%-4s|", &[Arg::Float(2.6833), Arg::Str("x".into())]),
            "  2.7|x   |"
        );
        assert_eq!(sprintf("%d", &[Arg::Str("x".into())]), "%!d(string=x)");
        assert_eq!(sprintf("%g", &[Arg::Float(1e-7)]), "1e-07");
        assert_eq!(sprintf("%q", &[Arg::Str("a\"b".into())]), "\"a\\\"b\"");
    }
}
