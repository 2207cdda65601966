//! Alertmanager's time intervals (`time_intervals`, and the deprecated
//! top-level `mute_time_intervals`): named lists of specs that routes
//! name in `mute_time_intervals` (notify nothing while one is active) and
//! `active_time_intervals` (notify nothing while none is). As written,
//! checked as Alertmanager 0.25's `timeinterval` package checks them, and
//! asked at each flush whether an instant lies inside.
//!
//! A spec is `times` (`HH:MM` start inclusive, end exclusive, `24:00`
//! allowed), `weekdays` (names, `monday:friday`), `days_of_month` (1–31,
//! negatives count from the month's end, ranges, clamped to the month),
//! `months` (names in any case or numbers, ranges), `years` and
//! `location` (an IANA zone, [`super::tz`]; default UTC). Inside a field
//! the entries are alternatives, the fields must all hold, and a missing
//! field holds always; a field given as an empty list never holds (as
//! yaml.v2 leaves it non-nil in 0.25). 0.25 counts a month's days as the
//! whole days between its local midnights, so in a zone whose clocks go
//! forward that month (March in Europe/Berlin) `-1` is the 30th; kept,
//! as Alertmanager 0.25 does it (later versions fixed it).

use std::fmt;
use std::sync::Arc;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::tz::{civil_from_days, days_from_civil, Zone};

/// A named time interval as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TimeIntervalToml {
    /// The name routes use.
    pub name: String,
    /// Its specs (any may hold).
    pub time_intervals: Vec<SpecToml>,
}

/// One spec as written: every field given must hold.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SpecToml {
    /// Times of day.
    pub times: Option<Vec<TimeRangeToml>>,
    /// Days of the week (`monday`, `monday:friday`).
    pub weekdays: Option<Vec<Member>>,
    /// Days of the month (`1`, `-1`, `1:5`, `-3:-1`).
    pub days_of_month: Option<Vec<Member>>,
    /// Months (`january`, `1`, `march:may`).
    pub months: Option<Vec<Member>>,
    /// Years (`2026`, `2026:2030`).
    pub years: Option<Vec<Member>>,
    /// IANA zone, `Local` or `UTC` (default UTC).
    pub location: Option<String>,
}

/// A time of day range as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TimeRangeToml {
    /// `HH:MM`, inclusive.
    pub start_time: String,
    /// `HH:MM` (up to `24:00`), exclusive.
    pub end_time: String,
}

/// A range member as written: YAML reads `1` and `monday` alike as
/// text; TOML has numbers too.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Member(pub String);

impl<'de> Deserialize<'de> for Member {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Member, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Member;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an integer")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Member, E> {
                Ok(Member(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Member, E> {
                Ok(Member(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Member, E> {
                Ok(Member(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A checked spec. Ranges are inclusive; `times` in minutes of the day,
/// end exclusive; weekdays 0 = Sunday.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    times: Option<Vec<(i64, i64)>>,
    weekdays: Option<Vec<(i64, i64)>>,
    days_of_month: Option<Vec<(i64, i64)>>,
    months: Option<Vec<(i64, i64)>>,
    years: Option<Vec<(i64, i64)>>,
    zone: Arc<Zone>,
}

/// A checked named time interval.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeInterval {
    /// Its name.
    pub name: String,
    /// Its specs.
    pub specs: Vec<Spec>,
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Go's `strconv.Atoi` with its error.
fn atoi(s: &str) -> Result<i64, String> {
    s.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {s:?}: invalid syntax"))
}

/// A member or `a:b` range, lower-cased, each end read by `member`.
fn range(s: &str, member: &dyn Fn(&str) -> Result<i64, String>) -> Result<(i64, i64), String> {
    let s = s.to_lowercase();
    match s.split_once(':') {
        Some((a, b)) => {
            if b.contains(':') {
                return Err(format!("couldn't parse range {s}, invalid format"));
            }
            Ok((member(a)?, member(b)?))
        }
        None => {
            let v = member(&s)?;
            Ok((v, v))
        }
    }
}

fn weekday(s: &str) -> Result<(i64, i64), String> {
    let r = range(s, &|m| {
        (WEEKDAYS.iter().position(|d| *d == m))
            .map(|i| i as i64)
            .ok_or_else(|| format!("{m} is not a valid weekday"))
    })?;
    if r.0 > r.1 {
        return Err("start day cannot be before end day".into());
    }
    Ok(r)
}

fn day_of_month(s: &str) -> Result<(i64, i64), String> {
    let (b, e) = range(s, &|m| atoi(m))?;
    for v in [b, e] {
        if v == 0 || !(-31..=31).contains(&v) {
            return Err(format!("{v} is not a valid day of the month: out of range"));
        }
    }
    if b < 0 && e > 0 {
        return Err("end day must be negative if start day is negative".into());
    }
    // As 0.25: judged on a 28-day month.
    let at = |v: i64| if v < 0 { 28 + v } else { v };
    if at(b) > at(e) {
        return Err(format!("end day {e} is always before start day {b}"));
    }
    Ok((b, e))
}

fn month(s: &str) -> Result<(i64, i64), String> {
    let r = range(s, &|m| match MONTHS.iter().position(|n| *n == m) {
        Some(i) => Ok(i as i64 + 1),
        None => m.parse().map_err(|_| format!("{m} is not a valid month")),
    })?;
    if r.0 > r.1 {
        let name = |v: i64| {
            usize::try_from(v.saturating_sub(1))
                .ok()
                .and_then(|i| MONTHS.get(i))
                .copied()
                .unwrap_or("")
        };
        return Err(format!(
            "end month {} is before start month {}",
            name(r.1),
            name(r.0)
        ));
    }
    Ok(r)
}

fn year(s: &str) -> Result<(i64, i64), String> {
    let r = range(s, &|m| atoi(m))?;
    if r.0 > r.1 {
        return Err(format!("end year {} is before start year {}", r.1, r.0));
    }
    Ok(r)
}

/// `HH:MM` (00:00 to 23:59, or 24:00) in minutes.
fn clock(s: &str) -> Result<i64, String> {
    let bad = || format!("couldn't parse timestamp {s}, invalid format");
    let b = s.as_bytes();
    if s == "24:00" {
        return Ok(1440);
    }
    if b.len() != 5
        || b[2] != b':'
        || !b
            .iter()
            .enumerate()
            .all(|(i, c)| i == 2 || c.is_ascii_digit())
    {
        return Err(bad());
    }
    let (h, m) = (atoi(&s[..2])?, atoi(&s[3..])?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl TimeIntervalToml {
    /// Checks the interval at dotted `key`; `what` names the list in
    /// messages ("time interval", "mute time interval").
    pub(crate) fn resolve(&self, key: &str, what: &str) -> Result<TimeInterval, (String, String)> {
        if self.name.is_empty() {
            return Err((format!("{key}.name"), format!("missing name in {what}")));
        }
        let specs = (self.time_intervals.iter().enumerate())
            .map(|(j, s)| s.resolve(&format!("{key}.time_intervals[{j}]")))
            .collect::<Result<_, _>>()?;
        Ok(TimeInterval {
            name: self.name.clone(),
            specs,
        })
    }
}

impl SpecToml {
    fn resolve(&self, key: &str) -> Result<Spec, (String, String)> {
        type Parse = fn(&str) -> Result<(i64, i64), String>;
        let list = |v: &Option<Vec<Member>>, field: &str, f: Parse| {
            v.as_ref()
                .map(|l| {
                    (l.iter().enumerate())
                        .map(|(i, m)| f(&m.0).map_err(|e| (format!("{key}.{field}[{i}]"), e)))
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()
        };
        let times = self
            .times
            .as_ref()
            .map(|l| {
                (l.iter().enumerate())
                    .map(|(i, t)| {
                        let k = format!("{key}.times[{i}]");
                        if t.start_time.is_empty() || t.end_time.is_empty() {
                            return Err((k, "both start and end times must be provided".into()));
                        }
                        let s = clock(&t.start_time).map_err(|e| (format!("{k}.start_time"), e))?;
                        let e = clock(&t.end_time).map_err(|e| (format!("{k}.end_time"), e))?;
                        if s >= e {
                            return Err((
                                k,
                                "start time cannot be equal or greater than end time".into(),
                            ));
                        }
                        Ok((s, e))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let zone = match &self.location {
            None => Zone::utc(),
            Some(l) => Zone::load(l).map_err(|e| (format!("{key}.location"), e))?,
        };
        Ok(Spec {
            times,
            weekdays: list(&self.weekdays, "weekdays", weekday)?,
            days_of_month: list(&self.days_of_month, "days_of_month", day_of_month)?,
            months: list(&self.months, "months", month)?,
            years: list(&self.years, "years", year)?,
            zone: Arc::new(zone),
        })
    }
}

impl TimeInterval {
    /// Whether any spec holds at `ms` (Unix milliseconds).
    pub(crate) fn contains(&self, ms: i64) -> bool {
        self.specs.iter().any(|s| s.contains(ms))
    }
}

impl Spec {
    /// Whether the spec holds at `ms` (Unix milliseconds), in its zone.
    pub(crate) fn contains(&self, ms: i64) -> bool {
        let utc = ms.div_euclid(1000);
        let local = utc + i64::from(self.zone.offset(utc));
        let days = local.div_euclid(86_400);
        let minute = local.rem_euclid(86_400) / 60;
        let (y, m, d) = civil_from_days(days);
        let weekday = (days + 4).rem_euclid(7);
        let any = |l: &Option<Vec<(i64, i64)>>, f: &dyn Fn(&(i64, i64)) -> bool| {
            l.as_ref().is_none_or(|l| l.iter().any(f))
        };
        let dim = self.days_in_month(y, m);
        any(&self.times, &|&(s, e)| s <= minute && minute < e)
            && any(&self.days_of_month, &|&(b, e)| {
                let b = if b < 0 { dim + b + 1 } else { b };
                let e = if e < 0 { dim + e + 1 } else { e };
                // A start past the month's end never holds; else clamp.
                b <= dim && {
                    let (b, e) = (b.clamp(-dim, dim), e.clamp(-dim, dim));
                    b <= d && d <= e
                }
            })
            && any(&self.months, &|&(b, e)| b <= m && m <= e)
            && any(&self.weekdays, &|&(b, e)| b <= weekday && weekday <= e)
            && any(&self.years, &|&(b, e)| b <= y && y <= e)
    }

    /// Alertmanager 0.25's `daysInMonth`: whole days between the local
    /// midnights starting this month and the next.
    fn days_in_month(&self, y: i64, m: i64) -> i64 {
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        let start = self.zone.local_to_utc(days_from_civil(y, m, 1) * 86_400);
        let end = self.zone.local_to_utc(days_from_civil(ny, nm, 1) * 86_400);
        (end - start).div_euclid(86_400)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> Result<Spec, (String, String)> {
        let s: SpecToml = picket_core::yaml::de::from_str(yaml).expect("yaml");
        s.resolve("t")
    }

    /// Unix ms of a UTC date and time.
    fn at(y: i64, mo: i64, d: i64, h: i64, mi: i64) -> i64 {
        (days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60) * 1000
    }

    #[test]
    fn times_are_start_inclusive_end_exclusive() {
        let s = spec("times:\n  - start_time: '09:00'\n    end_time: '17:30'\n  - start_time: '22:00'\n    end_time: '24:00'\n").unwrap();
        assert!(!s.contains(at(2026, 3, 2, 8, 59)));
        assert!(s.contains(at(2026, 3, 2, 9, 0)));
        assert!(s.contains(at(2026, 3, 2, 17, 29)));
        assert!(!s.contains(at(2026, 3, 2, 17, 30)));
        assert!(s.contains(at(2026, 3, 2, 23, 59)));
        assert!(!s.contains(at(2026, 3, 3, 0, 0)));
    }

    #[test]
    fn weekdays_with_ranges_week_starting_sunday() {
        let s = spec("weekdays: ['Monday:wednesday', saturday]\n").unwrap();
        // 2026-03-01 is a Sunday.
        let held: Vec<bool> = (1..=7).map(|d| s.contains(at(2026, 3, d, 12, 0))).collect();
        assert_eq!(held, [false, true, true, true, false, false, true]);
        assert_eq!(
            spec("weekdays: ['friday:monday']\n").unwrap_err().1,
            "start day cannot be before end day"
        );
        assert_eq!(
            spec("weekdays: [funday]\n").unwrap_err(),
            (
                "t.weekdays[0]".into(),
                "funday is not a valid weekday".into()
            )
        );
        assert_eq!(
            spec("weekdays: ['monday:tuesday:friday']\n").unwrap_err().1,
            "couldn't parse range monday:tuesday:friday, invalid format"
        );
    }

    #[test]
    fn days_of_month_negative_and_clamped() {
        let last = spec("days_of_month: ['-1']\n").unwrap();
        assert!(last.contains(at(2026, 2, 28, 0, 0)));
        assert!(!last.contains(at(2026, 2, 27, 0, 0)));
        assert!(last.contains(at(2024, 2, 29, 0, 0)));
        assert!(last.contains(at(2026, 4, 30, 0, 0)));
        let s = spec("days_of_month: ['-3:-1']\n").unwrap();
        assert!(s.contains(at(2026, 1, 29, 0, 0)));
        assert!(!s.contains(at(2026, 1, 28, 0, 0)));
        // 25 to 31 is clamped to the month: in February, 25 to 28.
        let s = spec("days_of_month: ['25:31']\n").unwrap();
        assert!(s.contains(at(2026, 2, 28, 23, 0)));
        assert!(!s.contains(at(2026, 3, 1, 0, 0)));
        // A start past the month's end never holds.
        let s = spec("days_of_month: ['30:31']\n").unwrap();
        assert!(!s.contains(at(2026, 2, 28, 0, 0)));
        assert!(s.contains(at(2026, 3, 31, 0, 0)));
        // Numbers as TOML writes them.
        let t: SpecToml = toml::from_str("days_of_month = [1, \"-1\"]").unwrap();
        assert!(t.resolve("t").unwrap().contains(at(2026, 5, 1, 0, 0)));
        for (bad, msg) in [
            ("0", "0 is not a valid day of the month: out of range"),
            ("32", "32 is not a valid day of the month: out of range"),
            ("-5:3", "end day must be negative if start day is negative"),
            ("10:2", "end day 2 is always before start day 10"),
            ("x", "strconv.Atoi: parsing \"x\": invalid syntax"),
        ] {
            let e = spec(&format!("days_of_month: ['{bad}']\n")).unwrap_err();
            assert_eq!(e, ("t.days_of_month[0]".into(), msg.into()), "{bad}");
        }
    }

    #[test]
    fn months_by_name_and_number_years_and_empty_fields() {
        let s = spec("months: ['JANUARY:march', '11']\nyears: ['2026:2027']\n").unwrap();
        assert!(s.contains(at(2026, 2, 10, 0, 0)));
        assert!(!s.contains(at(2026, 4, 10, 0, 0)));
        assert!(s.contains(at(2027, 11, 10, 0, 0)));
        assert!(!s.contains(at(2028, 1, 10, 0, 0)));
        assert_eq!(
            spec("months: ['may:april']\n").unwrap_err().1,
            "end month april is before start month may"
        );
        assert_eq!(
            spec("years: ['2030:2020']\n").unwrap_err().1,
            "end year 2020 is before start year 2030"
        );
        assert_eq!(
            spec("months: [smarch]\n").unwrap_err().1,
            "smarch is not a valid month"
        );
        // 0.25 takes any month number; 13 just never holds.
        assert!(!spec("months: ['13']\n")
            .unwrap()
            .contains(at(2026, 1, 1, 0, 0)));
        // No field: always; an empty list: never.
        assert!(spec("{}\n").unwrap().contains(at(2026, 1, 1, 0, 0)));
        assert!(!spec("weekdays: []\n")
            .unwrap()
            .contains(at(2026, 1, 1, 0, 0)));
    }

    #[test]
    fn times_checked_as_alertmanager() {
        for (y, key, msg) in [
            (
                "times: [{start_time: '9:00', end_time: '10:00'}]",
                "t.times[0].start_time",
                "couldn't parse timestamp 9:00, invalid format",
            ),
            (
                "times: [{start_time: '10:00', end_time: '24:01'}]",
                "t.times[0].end_time",
                "couldn't parse timestamp 24:01, invalid format",
            ),
            (
                "times: [{start_time: '10:00', end_time: '10:00'}]",
                "t.times[0]",
                "start time cannot be equal or greater than end time",
            ),
            (
                "times: [{start_time: '10:00'}]",
                "t.times[0]",
                "both start and end times must be provided",
            ),
        ] {
            assert_eq!(spec(y).unwrap_err(), (key.into(), msg.into()), "{y}");
        }
        let e =
            picket_core::yaml::de::from_str::<SpecToml>("times: [{start: '10:00'}]\n").unwrap_err();
        assert_eq!(e.path, "times[0].start");
    }

    #[test]
    fn locations_move_the_clock() {
        if Zone::load("Asia/Kolkata").is_err() {
            eprintln!("no zone database: locations not checked");
            return;
        }
        // 20:00Z is 01:30 the next day in Kolkata (+05:30).
        let s = spec("times: [{start_time: '01:00', end_time: '02:00'}]\nweekdays: [tuesday]\nlocation: Asia/Kolkata\n").unwrap();
        assert!(s.contains(at(2026, 3, 2, 20, 0)));
        assert!(!s.contains(at(2026, 3, 2, 19, 0)));
        assert_eq!(
            spec("location: Mars/Olympus\n").unwrap_err(),
            ("t.location".into(), "unknown time zone Mars/Olympus".into())
        );
        // 0.25's month length in a zone whose clocks go forward in it:
        // March has 30 "days" in Berlin, so -1 is March 30th there.
        let s = spec("days_of_month: ['-1']\nlocation: Europe/Berlin\n").unwrap();
        assert!(s.contains(at(2026, 3, 30, 12, 0)));
        assert!(!s.contains(at(2026, 3, 31, 12, 0)));
        assert!(s.contains(at(2026, 10, 31, 12, 0)));
    }
}
