//! Wall-clock and file-time reads that stay right after January 2038 on
//! 32-bit ARM.
//!
//! Why not `std::time::SystemTime` and `Metadata::modified`: on the 32-bit
//! musl targets (armv7 and ARMv6 boards) std is built against a `libc` crate
//! whose `time_t` is 32 bits, so both wrap to 1901 on 2038-01-19. The ARM
//! builds (`cross/build.sh`) compile the `libc` crate with
//! `--cfg libc_unstable_musl_v1_2`, which gives it musl 1.2's 64-bit
//! `time_t` and the `__*_time64` entry points; these helpers call that
//! `libc` directly. On 64-bit targets `time_t` is 64 bits either way and
//! they read the same values as std.
//!
//! The qemu test in `cross/build.sh` checks this: a textfile with an mtime
//! in 2040 must report its true mtime under armv7 emulation.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// True when `libc::time_t` is 64 bits, i.e. the times read here do not wrap
/// in 2038. False only on a 32-bit musl build without the cfg above.
// libc deprecates the name `time_t` on musl builds without that cfg.
#[allow(deprecated)]
pub const TIME64: bool = std::mem::size_of::<libc::time_t>() == 8;

/// The real-time clock as seconds since the epoch, with nanoseconds.
pub fn now_unix() -> io::Result<f64> {
    // SAFETY: `timespec` is plain old data (with private padding on 32-bit
    // time64 targets, hence no struct literal); all-zero is a valid value.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) } != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    Ok(i64::from(ts.tv_sec) as f64 + ts.tv_nsec as f64 / 1e9)
}

/// The real-time clock in whole milliseconds since the epoch (0 if the
/// clock cannot be read), as remote_write timestamps are.
pub fn now_ms() -> i64 {
    now_unix().map_or(0, |t| (t * 1000.0) as i64)
}

/// The whole seconds since the epoch of `file`'s last modification.
pub fn mtime(file: &File) -> io::Result<i64> {
    // SAFETY: `stat` is plain old data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: the descriptor is open for the life of `file`, and `st` is
    // valid for writes.
    if unsafe { libc::fstat(file.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::useless_conversion)]
    Ok(i64::from(st.st_mtime))
}

/// Days from 1970-01-01 to the date (proleptic Gregorian; Howard
/// Hinnant's algorithm), for the places that turn dates into times:
/// PostgreSQL's timestamps, time intervals, RFC 3339.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn now_agrees_with_std() {
        let std_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let ours = now_unix().expect("clock_gettime");
        assert!((ours - std_now).abs() < 5.0, "{ours} vs {std_now}");
    }

    #[test]
    fn mtime_agrees_with_std() {
        let f = File::open("Cargo.toml").expect("open");
        let std_mtime = f
            .metadata()
            .and_then(|m| m.modified())
            .map(|t| {
                t.duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
            })
            .expect("metadata");
        assert_eq!(mtime(&f).expect("fstat"), std_mtime as i64);
    }
}
