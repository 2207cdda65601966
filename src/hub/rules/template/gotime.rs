//! Go's `time.Time` as notification templates see it: `.StartsAt` and
//! `.EndsAt` of Alertmanager's alerts print as Go's `Time.String()`
//! (`2026-11-21 10:00:00.123 +0000 UTC`, the zero time as `0001-01-01
//! 00:00:00 +0000 UTC`), and `.StartsAt.Format "15:04"` takes Go's
//! reference-time layouts. Times are UTC (as Alertmanager holds alerts
//! that arrived with a `Z` offset); `Local` is UTC too.

use picket_core::clock::{civil_from_days, days_from_civil};

/// A time: milliseconds since the epoch, or Go's zero time (`None`).
pub(super) type Time = Option<i64>;

/// Broken-down UTC time.
struct Parts {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    min: i64,
    sec: i64,
    nanos: i64,
    /// 0 = Sunday.
    weekday: i64,
    /// 1-based.
    yday: i64,
}

/// Days from 0001-01-01 to 1970-01-01.
const ZERO_TO_EPOCH_DAYS: i64 = 719_162;

fn parts(t: Time) -> Parts {
    let ms = t.unwrap_or(-ZERO_TO_EPOCH_DAYS * 86_400_000);
    let secs = ms.div_euclid(1000);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let jan1 = days_from_civil(year, 1, 1);
    Parts {
        year,
        month,
        day,
        hour: sod / 3600,
        min: sod / 60 % 60,
        sec: sod % 60,
        nanos: ms.rem_euclid(1000) * 1_000_000,
        // 1970-01-01 was a Thursday.
        weekday: (days + 4).rem_euclid(7),
        yday: days - jan1 + 1,
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Go's `Time.String()` of a UTC time.
pub(super) fn string(t: Time) -> String {
    format(t, "2006-01-02 15:04:05.999999999 -0700 MST")
}

/// Seconds since the epoch (`Time.Unix()`); Go's zero time is year 1.
pub(super) fn unix(t: Time) -> i64 {
    t.unwrap_or(-ZERO_TO_EPOCH_DAYS * 86_400_000)
        .div_euclid(1000)
}

/// Milliseconds since the epoch (`Time.UnixMilli()`).
pub(super) fn unix_milli(t: Time) -> i64 {
    t.unwrap_or(-ZERO_TO_EPOCH_DAYS * 86_400_000)
}

/// A component by method name (`Year`, `Month` as its name, `Day`, …).
pub(super) fn component(t: Time, name: &str) -> Option<Result<i64, String>> {
    let p = parts(t);
    Some(Ok(match name {
        "Year" => p.year,
        "Day" => p.day,
        "Hour" => p.hour,
        "Minute" => p.min,
        "Second" => p.sec,
        "Nanosecond" => p.nanos,
        "YearDay" => p.yday,
        _ => return None,
    }))
}

/// The month's name (`Time.Month()` prints as it).
pub(super) fn month_name(t: Time) -> String {
    MONTHS[(parts(t).month as usize).clamp(1, 12) - 1].to_string()
}

/// The weekday's name (`Time.Weekday()` prints as it).
pub(super) fn weekday_name(t: Time) -> String {
    DAYS[parts(t).weekday as usize % 7].to_string()
}

/// Go's `Time.Format(layout)` for a UTC time: the reference time `Mon Jan
/// 2 15:04:05 MST 2006` and its pieces (numeric and named months and
/// days, 12/24-hour clocks, `PM`, zones as `UTC`/`+0000`/`Z`, fractional
/// seconds `.000`/`.999`); anything else is copied.
pub(super) fn format(t: Time, layout: &str) -> String {
    let p = parts(t);
    let b = layout.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    let at = |i: usize, s: &str| layout[i..].starts_with(s);
    let hour12 = if p.hour % 12 == 0 { 12 } else { p.hour % 12 };
    while i < b.len() {
        let c = b[i];
        let (text, len): (String, usize) = match c {
            b'J' if at(i, "January") => (MONTHS[p.month as usize - 1].into(), 7),
            b'J' if at(i, "Jan") => (MONTHS[p.month as usize - 1][..3].into(), 3),
            b'M' if at(i, "Monday") => (DAYS[p.weekday as usize].into(), 6),
            b'M' if at(i, "Mon") => (DAYS[p.weekday as usize][..3].into(), 3),
            b'M' if at(i, "MST") => ("UTC".into(), 3),
            b'0' if at(i, "002") => (format!("{:03}", p.yday), 3),
            b'0' if b.get(i + 1).is_some_and(|d| (b'1'..=b'6').contains(d)) => {
                let v = match b[i + 1] {
                    b'1' => p.month,
                    b'2' => p.day,
                    b'3' => hour12,
                    b'4' => p.min,
                    b'5' => p.sec,
                    _ => p.year.rem_euclid(100),
                };
                (format!("{v:02}"), 2)
            }
            b'1' if at(i, "15") => (format!("{:02}", p.hour), 2),
            b'1' => (p.month.to_string(), 1),
            b'2' if at(i, "2006") => (format!("{:04}", p.year), 4),
            b'2' => (p.day.to_string(), 1),
            b'_' if at(i, "_2006") => (format!("_{:04}", p.year), 5),
            b'_' if at(i, "_2") => (format!("{:>2}", p.day), 2),
            b'_' if at(i, "__2") => (format!("{:>3}", p.yday), 3),
            b'3' => (hour12.to_string(), 1),
            b'4' => (p.min.to_string(), 1),
            b'5' => (p.sec.to_string(), 1),
            b'P' if at(i, "PM") => ((if p.hour >= 12 { "PM" } else { "AM" }).into(), 2),
            b'p' if at(i, "pm") => ((if p.hour >= 12 { "pm" } else { "am" }).into(), 2),
            b'-' | b'Z' => match zone(&layout[i..]) {
                Some(n) => {
                    let z = if c == b'Z' {
                        "Z".to_string()
                    } else {
                        let digits = layout[i + 1..i + n].replace(['0', '7'], "0");
                        format!("+{digits}")
                    };
                    (z, n)
                }
                None => ((c as char).to_string(), 1),
            },
            b'.' | b',' if matches!(b.get(i + 1), Some(b'0' | b'9')) => {
                let ch = b[i + 1];
                let mut j = i + 1;
                while j < b.len() && b[j] == ch {
                    j += 1;
                }
                if b.get(j).is_some_and(u8::is_ascii_digit) {
                    ((c as char).to_string(), 1)
                } else {
                    let n = j - i - 1;
                    let digits = format!("{:09}", p.nanos);
                    let digits = &digits[..n.min(9)];
                    let text = if ch == b'0' {
                        format!("{}{digits}", c as char)
                    } else {
                        let d = digits.trim_end_matches('0');
                        if d.is_empty() {
                            String::new()
                        } else {
                            format!("{}{d}", c as char)
                        }
                    };
                    (text, j - i)
                }
            }
            _ => {
                // Copy up to the next byte that may start a piece.
                let ch = layout[i..].chars().next().unwrap_or(' ');
                (ch.to_string(), ch.len_utf8())
            }
        };
        out.push_str(&text);
        i += len;
    }
    out
}

/// The length of a zone piece at the start of `s` (`-0700`, `Z07:00`, …).
fn zone(s: &str) -> Option<usize> {
    let rest = &s[1..];
    ["070000", "07:00:00", "0700", "07:00", "07"]
        .iter()
        .find(|z| rest.starts_with(*z))
        .map(|z| z.len() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_layouts_as_go_prints_them() {
        // 2015-06-23T13:19:44.128Z, a Tuesday, day 174.
        let t = Some(1_435_065_584_128);
        assert_eq!(string(t), "2015-06-23 13:19:44.128 +0000 UTC");
        assert_eq!(string(None), "0001-01-01 00:00:00 +0000 UTC");
        assert_eq!(string(Some(0)), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(
            format(t, "2006-01-02T15:04:05Z07:00"),
            "2015-06-23T13:19:44Z"
        );
        assert_eq!(
            format(t, "Mon, 02 Jan 2006 15:04:05 -0700"),
            "Tue, 23 Jun 2015 13:19:44 +0000"
        );
        assert_eq!(
            format(t, "Monday January _2 3:4:5 PM MST .000 ,999 002"),
            "Tuesday June 23 1:19:44 PM UTC .128 ,128 174"
        );
        assert_eq!(format(Some(1_435_065_584_000), "05.999|05.00"), "44|44.00");
        assert_eq!(format(t, "06/1/2 15h"), "15/6/23 13h");
        assert_eq!(unix(t), 1_435_065_584);
        assert_eq!(unix(None), -62_135_596_800);
        assert_eq!(weekday_name(t), "Tuesday");
        assert_eq!(month_name(t), "June");
    }
}
