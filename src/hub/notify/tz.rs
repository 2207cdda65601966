//! IANA time zones for the `location` of time intervals, read as
//! Alertmanager 0.25 reads them (Go's `time.LoadLocation`): `""` and
//! `UTC` are UTC, `Local` is the hub's zone (`TZ`, else
//! `/etc/localtime`), any other name is a TZif file of the system's zone
//! database (`$ZONEINFO`, then `/usr/share/zoneinfo` and Go's other
//! directories), as the Debian package of Alertmanager finds them.
//!
//! Why a reader of our own: the hub needs one thing of a zone, its UTC
//! offset at an instant, and Debian ships the database Alertmanager
//! reads; a crate with its own copy of the database (chrono-tz) would add
//! about a megabyte to the binary and could disagree with the system's
//! tzdata, and the full calendar crates (jiff) bring far more than this.
//! A TZif file (RFC 8536) is transitions, their offsets and a POSIX TZ
//! rule for the times after the last transition; this reads versions
//! 1–4 and that rule, as Go does.

use std::path::Path;

/// A zone: its transitions (UTC seconds, type index), the types (UTC
/// offset in seconds east, whether it is daylight time), the type
/// before the first transition, and the rule after the last.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    /// The name it was loaded by.
    pub name: String,
    tx: Vec<(i64, usize)>,
    types: Vec<(i32, bool)>,
    first: usize,
    rule: Option<Rule>,
}

/// A POSIX TZ rule (`CET-1CEST,M3.5.0,M10.5.0/3`): standard offset and,
/// with daylight time, its offset and the two transitions.
#[derive(Debug, Clone, PartialEq)]
struct Rule {
    std: i32,
    dst: Option<(i32, RuleDate, i32, RuleDate, i32)>,
}

/// The day of a rule's transition.
#[derive(Debug, Clone, Copy, PartialEq)]
enum RuleDate {
    /// `Jn`: day 1–365, February 29 never counted.
    Julian(i64),
    /// `n`: day 0–365, counting February 29.
    Day(i64),
    /// `Mm.w.d`: weekday `d` (0 = Sunday) of week `w` (5 = last) of month `m`.
    Mwd(i64, i64, i64),
}

pub(crate) use picket_core::clock::{civil_from_days, days_from_civil};

fn leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn month_days(y: i64, m: i64) -> i64 {
    match m {
        2 if leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Where Go looks for zone files on Unix, after `$ZONEINFO`.
const ZONE_DIRS: &[&str] = &[
    "/usr/share/zoneinfo/",
    "/usr/share/lib/zoneinfo/",
    "/usr/lib/locale/TZ/",
    "/etc/zoneinfo/",
];

impl Zone {
    /// UTC.
    pub fn utc() -> Zone {
        Zone {
            name: "UTC".into(),
            tx: vec![(i64::MIN, 0)],
            types: vec![(0, false)],
            first: 0,
            rule: None,
        }
    }

    /// Loads a zone by name, as `time.LoadLocation`; the error is Go's
    /// (`unknown time zone Mars/Base`).
    pub fn load(name: &str) -> Result<Zone, String> {
        match name {
            "" | "UTC" => return Ok(Zone::utc()),
            "Local" => return Ok(Zone::local()),
            _ => {}
        }
        if name.contains("..") || name.starts_with('/') || name.starts_with('\\') {
            return Err("time: invalid location name".into());
        }
        let mut first_err = None;
        if let Some(dir) = std::env::var_os("ZONEINFO").filter(|d| !d.is_empty()) {
            match std::fs::read(Path::new(&dir).join(name)) {
                Ok(b) => return Zone::parse(name, &b),
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    first_err = Some(e.to_string())
                }
                Err(_) => {}
            }
        }
        for dir in ZONE_DIRS {
            match std::fs::read(format!("{dir}{name}")) {
                Ok(b) => {
                    if let Ok(z) = Zone::parse(name, &b) {
                        return Ok(z);
                    }
                    first_err.get_or_insert_with(|| "malformed time zone information".into());
                }
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    first_err.get_or_insert_with(|| format!("open {dir}{name}: {e}"));
                }
                Err(_) => {}
            }
        }
        Err(first_err.unwrap_or_else(|| format!("unknown time zone {name}")))
    }

    /// The hub's own zone, as Go's `Local`: `TZ` if set (empty: UTC; a
    /// path or a zone name), else `/etc/localtime`; UTC when that fails.
    fn local() -> Zone {
        let from = |path: &str, name: &str| {
            let b = std::fs::read(path).ok()?;
            Zone::parse(name, &b).ok()
        };
        let z = match std::env::var("TZ") {
            Err(_) => from("/etc/localtime", "Local"),
            Ok(tz) => {
                let tz = tz.strip_prefix(':').unwrap_or(&tz);
                if tz.starts_with('/') {
                    from(tz, if tz == "/etc/localtime" { "Local" } else { tz })
                } else if !tz.is_empty() && tz != "UTC" {
                    Zone::load(tz).ok()
                } else {
                    None
                }
            }
        };
        z.unwrap_or_else(|| Zone {
            name: "Local".into(),
            ..Zone::utc()
        })
    }

    /// Reads a TZif file (versions 1 to 4; the 64-bit part when there is
    /// one, and its footer rule).
    pub fn parse(name: &str, b: &[u8]) -> Result<Zone, String> {
        let bad = || "malformed time zone information".to_string();
        let header = |at: usize| -> Option<[usize; 6]> {
            let h = b.get(at..at.checked_add(44)?)?;
            if &h[..4] != b"TZif" {
                return None;
            }
            let mut c = [0usize; 6];
            for (i, n) in c.iter_mut().enumerate() {
                let v = &h[20 + 4 * i..24 + 4 * i];
                *n = u32::from_be_bytes([v[0], v[1], v[2], v[3]]) as usize;
            }
            Some(c)
        };
        let c = header(0).ok_or_else(bad)?;
        let version = b[4];
        // [isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt]
        // The data block's length; None when the counts overflow (a
        // broken file, never read past its end).
        let size = |c: &[usize; 6], t: usize| -> Option<usize> {
            [
                c[3].checked_mul(t + 1)?,
                c[4].checked_mul(6)?,
                c[5],
                c[2].checked_mul(t + 4)?,
                c[1],
                c[0],
            ]
            .iter()
            .try_fold(0usize, |a, n| a.checked_add(*n))
        };
        let (c, at, t) = if version >= b'2' {
            let at2 = size(&c, 4)
                .and_then(|n| n.checked_add(44))
                .ok_or_else(bad)?;
            (header(at2).ok_or_else(bad)?, at2 + 44, 8)
        } else {
            (c, 44, 4)
        };
        let [_, _, _, timecnt, typecnt, _] = c;
        let end = size(&c, t)
            .and_then(|n| n.checked_add(at))
            .ok_or_else(bad)?;
        let data = b.get(at..end).ok_or_else(bad)?;
        if typecnt == 0 {
            return Err(bad());
        }
        let mut tx = Vec::with_capacity(timecnt);
        for i in 0..timecnt {
            let v = &data[i * t..(i + 1) * t];
            let when = if t == 8 {
                i64::from_be_bytes([v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]])
            } else {
                i64::from(i32::from_be_bytes([v[0], v[1], v[2], v[3]]))
            };
            let idx = usize::from(data[timecnt * t + i]);
            if idx >= typecnt {
                return Err(bad());
            }
            tx.push((when, idx));
        }
        let at_types = timecnt * t + timecnt;
        let types: Vec<(i32, bool)> = (0..typecnt)
            .map(|i| {
                let v = &data[at_types + 6 * i..at_types + 6 * i + 6];
                (i32::from_be_bytes([v[0], v[1], v[2], v[3]]), v[4] != 0)
            })
            .collect();
        let rule = if version >= b'2' {
            b.get(end..)
                .and_then(|f| std::str::from_utf8(f).ok())
                .and_then(|f| f.strip_prefix('\n'))
                .and_then(|f| f.split('\n').next())
                .and_then(parse_rule)
        } else {
            None
        };
        // Go's lookupFirstZone: the type before the first transition.
        let used0 = tx.iter().any(|&(_, i)| i == 0);
        let first = if !used0 {
            0
        } else {
            let back = tx
                .first()
                .filter(|&&(_, i)| types[i].1)
                .and_then(|&(_, i)| (0..i).rev().find(|&z| !types[z].1));
            back.or_else(|| types.iter().position(|z| !z.1))
                .unwrap_or(0)
        };
        if tx.is_empty() {
            // As Go: one transition at the dawn of time, so the rule (if
            // any) covers everything.
            tx.push((i64::MIN, 0));
        }
        Ok(Zone {
            name: name.to_string(),
            tx,
            types,
            first,
            rule,
        })
    }

    /// The UTC offset (seconds east) at UTC second `t`.
    pub fn offset(&self, t: i64) -> i32 {
        let n = self.tx.partition_point(|&(when, _)| when <= t);
        if n == 0 {
            return self.types[self.first].0;
        }
        if n == self.tx.len() {
            if let Some(r) = &self.rule {
                return r.offset(t);
            }
        }
        self.types[self.tx[n - 1].1].0
    }

    /// The UTC second of local second `local` (seconds since 1970 as if
    /// the wall clock were UTC), resolved as Go's `time.Date` does in a
    /// gap or an overlap.
    pub fn local_to_utc(&self, local: i64) -> i64 {
        let off = self.offset(local);
        let utc = local - i64::from(off);
        let off2 = self.offset(utc);
        local - i64::from(if off2 != off { off2 } else { off })
    }
}

impl Rule {
    /// The offset at UTC second `t`, as Go's `tzset`.
    fn offset(&self, t: i64) -> i32 {
        let Some((dst, d1, t1, d2, t2)) = self.dst else {
            return self.std;
        };
        let (y, _, _) = civil_from_days(t.div_euclid(86_400));
        let ysec = t - days_from_civil(y, 1, 1) * 86_400;
        // Start is in standard time, end in daylight time.
        let start = day_of_year(y, d1) * 86_400 + i64::from(t1) - i64::from(self.std);
        let end = day_of_year(y, d2) * 86_400 + i64::from(t2) - i64::from(dst);
        let in_dst = if start < end {
            start <= ysec && ysec < end
        } else {
            !(end <= ysec && ysec < start)
        };
        if in_dst {
            dst
        } else {
            self.std
        }
    }
}

/// The 0-based day of the year of a rule date in year `y`.
fn day_of_year(y: i64, d: RuleDate) -> i64 {
    match d {
        RuleDate::Julian(n) => n - 1 + i64::from(leap(y) && n >= 60),
        RuleDate::Day(n) => n,
        RuleDate::Mwd(m, w, wd) => {
            let first = days_from_civil(y, m, 1);
            let dow = (first + 4).rem_euclid(7);
            let mut d = (wd - dow).rem_euclid(7);
            for _ in 1..w {
                if d + 7 >= month_days(y, m) {
                    break;
                }
                d += 7;
            }
            first + d - days_from_civil(y, 1, 1)
        }
    }
}

/// Parses a POSIX TZ string (RFC 8536 §3.3); `None` if it is not one.
fn parse_rule(s: &str) -> Option<Rule> {
    let mut p = s;
    name(&mut p)?;
    let std = -offset(&mut p, 24)?;
    if p.is_empty() {
        return Some(Rule { std, dst: None });
    }
    name(&mut p)?;
    let dst = if p.is_empty() || p.starts_with(',') {
        std + 3600
    } else {
        -offset(&mut p, 24)?
    };
    if p.is_empty() {
        // Go's default: the United States rules.
        p = ",M3.2.0,M11.1.0";
    }
    let (d1, t1) = rule_date(&mut p)?;
    let (d2, t2) = rule_date(&mut p)?;
    p.is_empty().then_some(Rule {
        std,
        dst: Some((dst, d1, t1, d2, t2)),
    })
}

/// A rule's `,date[/time]` (time default 02:00).
fn rule_date(p: &mut &str) -> Option<(RuleDate, i32)> {
    *p = (*p).strip_prefix(',')?;
    let d = if let Some(r) = (*p).strip_prefix('J') {
        *p = r;
        RuleDate::Julian(number(p, 1, 365)?)
    } else if let Some(r) = (*p).strip_prefix('M') {
        *p = r;
        let m = number(p, 1, 12)?;
        *p = (*p).strip_prefix('.')?;
        let w = number(p, 1, 5)?;
        *p = (*p).strip_prefix('.')?;
        RuleDate::Mwd(m, w, number(p, 0, 6)?)
    } else {
        RuleDate::Day(number(p, 0, 365)?)
    };
    let t = match (*p).strip_prefix('/') {
        Some(r) => {
            *p = r;
            offset(p, 167)?
        }
        None => 7200,
    };
    Some((d, t))
}

/// Skips a zone abbreviation: `<+03>` or three or more letters.
fn name(p: &mut &str) -> Option<()> {
    let s = *p;
    if let Some(r) = s.strip_prefix('<') {
        let end = r.find('>')?;
        *p = &r[end + 1..];
        return Some(());
    }
    let n = s.bytes().take_while(u8::is_ascii_alphabetic).count();
    *p = &s[n..];
    (n >= 3).then_some(())
}

/// A number from `lo` to `hi`.
fn number(p: &mut &str, lo: i64, hi: i64) -> Option<i64> {
    let s = *p;
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    let v: i64 = s.get(..n)?.parse().ok()?;
    *p = &s[n..];
    (lo..=hi).contains(&v).then_some(v)
}

/// `[+-]hh[:mm[:ss]]` in seconds, hours up to `max_h`.
fn offset(p: &mut &str, max_h: i64) -> Option<i32> {
    let s = *p;
    let mut sign = 1;
    if let Some(r) = s.strip_prefix('-') {
        sign = -1;
        *p = r;
    } else if let Some(r) = s.strip_prefix('+') {
        *p = r;
    }
    let mut secs = number(p, 0, max_h)? * 3600;
    for mul in [60, 1] {
        match (*p).strip_prefix(':') {
            Some(r) => {
                *p = r;
                secs += number(p, 0, 59)? * mul;
            }
            None => break,
        }
    }
    i32::try_from(sign * secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version-2 TZif file: one transition to daylight time at
    /// `2000-03-26T01:00Z`, the rule `CET-1CEST,M3.5.0,M10.5.0/3` after it.
    fn tzif() -> Vec<u8> {
        let mut b = Vec::new();
        let head = |b: &mut Vec<u8>, timecnt: u32, typecnt: u32, charcnt: u32| {
            b.extend_from_slice(b"TZif2");
            b.extend_from_slice(&[0; 15]);
            for n in [0, 0, 0, timecnt, typecnt, charcnt] {
                b.extend_from_slice(&n.to_be_bytes());
            }
        };
        // v1 part: no transitions, one type.
        head(&mut b, 0, 1, 4);
        b.extend_from_slice(&3600i32.to_be_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(b"CET\0");
        head(&mut b, 1, 2, 9);
        b.extend_from_slice(&954_032_400i64.to_be_bytes());
        b.push(1);
        b.extend_from_slice(&3600i32.to_be_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&7200i32.to_be_bytes());
        b.extend_from_slice(&[1, 4]);
        b.extend_from_slice(b"CET\0CEST\0");
        b.extend_from_slice(b"\nCET-1CEST,M3.5.0,M10.5.0/3\n");
        b
    }

    fn at(y: i64, m: i64, d: i64, h: i64, min: i64) -> i64 {
        days_from_civil(y, m, d) * 86_400 + h * 3600 + min * 60
    }

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for z in [-800_000, -1, 0, 59, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn tzif_transitions_and_footer_rule() {
        let z = Zone::parse("Test/Berlin", &tzif()).unwrap();
        // Before the only transition: the first standard type.
        assert_eq!(z.offset(at(1999, 7, 1, 12, 0)), 3600);
        assert_eq!(z.offset(954_032_400), 7200);
        // After it, the rule: last Sunday of March 01:00Z to last Sunday
        // of October 01:00Z.
        assert_eq!(z.offset(at(2024, 3, 31, 0, 59)), 3600);
        assert_eq!(z.offset(at(2024, 3, 31, 1, 0)), 7200);
        assert_eq!(z.offset(at(2024, 10, 27, 0, 59)), 7200);
        assert_eq!(z.offset(at(2024, 10, 27, 1, 0)), 3600);
        assert_eq!(z.offset(at(2100, 7, 1, 0, 0)), 7200);
        // Local midnight of 2024-03-01 is 23:00Z the day before.
        assert_eq!(z.local_to_utc(at(2024, 3, 1, 0, 0)), at(2024, 2, 29, 23, 0));
        assert!(Zone::parse("x", b"TZif2 short").is_err());
        assert!(Zone::parse("x", b"").is_err());
        // Counts past the file's end (and past usize) are refused, and
        // no prefix of a good file reads.
        let mut huge = tzif();
        huge[32..36].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(Zone::parse("x", &huge).is_err());
        let good = tzif();
        for n in 0..good.len() - 28 {
            assert!(Zone::parse("x", &good[..n]).is_err(), "{n}");
        }
    }

    #[test]
    fn posix_rules() {
        // Southern hemisphere: daylight time spans the new year.
        let r = parse_rule("AEST-10AEDT,M10.1.0,M4.1.0/3").unwrap();
        assert_eq!(r.offset(at(2024, 1, 15, 0, 0)), 39_600);
        assert_eq!(r.offset(at(2024, 7, 15, 0, 0)), 36_000);
        let r = parse_rule("<+0530>-5:30").unwrap();
        assert_eq!(r.offset(0), 19_800);
        assert_eq!(
            parse_rule("EST5EDT").unwrap().offset(at(2024, 7, 1, 0, 0)),
            -14_400
        );
        let r = parse_rule("<-03>3<-02>,J60/0,300").unwrap();
        assert!(r.dst.is_some());
        for bad in [
            "",
            "X1",
            "CET-1CEST,M13.1.0,M1.1.0",
            "CET",
            "CET-1CEST,M3.5.0",
        ] {
            assert_eq!(parse_rule(bad), None, "{bad}");
        }
    }

    /// Against the system's database, when it has one (Debian's tzdata).
    #[test]
    fn system_zones() {
        if !Path::new("/usr/share/zoneinfo/Europe/Berlin").exists() {
            eprintln!("no /usr/share/zoneinfo: system zones not checked");
            return;
        }
        let b = Zone::load("Europe/Berlin").unwrap();
        assert_eq!(b.offset(at(2024, 3, 31, 0, 59)), 3600);
        assert_eq!(b.offset(at(2024, 3, 31, 1, 0)), 7200);
        assert_eq!(b.offset(at(2060, 8, 1, 0, 0)), 7200);
        let k = Zone::load("Asia/Kolkata").unwrap();
        assert_eq!(k.offset(at(2024, 1, 1, 0, 0)), 19_800);
        let s = Zone::load("Australia/Sydney").unwrap();
        assert_eq!(s.offset(at(2024, 1, 1, 0, 0)), 39_600);
        assert_eq!(s.offset(at(2050, 6, 1, 0, 0)), 36_000);
        assert_eq!(Zone::load("Etc/GMT+5").unwrap().offset(0), -18_000);
        assert_eq!(
            Zone::load("Mars/Olympus").unwrap_err(),
            "unknown time zone Mars/Olympus"
        );
        assert_eq!(
            Zone::load("../etc/passwd").unwrap_err(),
            "time: invalid location name"
        );
        assert_eq!(Zone::load("UTC").unwrap().offset(0), 0);
    }
}
