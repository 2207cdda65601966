//! timex: the kernel's NTP clock discipline state from adjtimex(2), read-only
//! (`modes = 0`, no privilege needed), as node_exporter:
//!
//! gauges `node_timex_sync_status` (1 unless adjtimex returns `TIME_ERROR`,
//! i.e. `STA_UNSYNC` or `STA_CLOCKERR` set), `_offset_seconds` (ns when
//! `STA_NANO` is set, else µs), `_frequency_adjustment_ratio`
//! (1 + freq / 2^16 ppm), `_maxerror_seconds`, `_estimated_error_seconds`,
//! `_status` (the raw status bits), `_loop_time_constant`, `_tick_seconds`,
//! `_pps_frequency_hertz`, `_pps_jitter_seconds`, `_pps_shift_seconds`,
//! `_pps_stability_hertz`, `_tai_offset_seconds`; counters
//! `node_timex_pps_{jitter,calibration,error,stability_exceeded}_total`.
//!
//! This is a syscall, so fixture trees cannot drive it; tests cover the
//! conversion on hand-made values. EPERM (a seccomp filter) is "no data", as
//! in node_exporter.
//!
//! Why it matters on a Raspberry Pi: the board has no battery-backed RTC, so
//! it boots with the time `fake-hwclock` saved at shutdown and the kernel
//! keeps `STA_UNSYNC` set — `node_timex_sync_status` 0 and a
//! `node_timex_maxerror_seconds` of 16 s — until an NTP client
//! (systemd-timesyncd, chrony) has disciplined the clock. Until then the wall
//! clock, `node_time_seconds` and every timestamp can be off by however long
//! the board was powered down; alert on `node_timex_sync_status == 0`.

use std::io;

use super::{CollectError, Ctx, Out};

/// adjtimex's return value when the clock is not synchronized.
const TIME_ERROR: i32 = 5;
/// Status bit: `offset` and `jitter` are in nanoseconds, not microseconds.
const STA_NANO: i64 = 0x2000;
/// 2^16 fractional ppm (see NOTES in adjtimex(2)).
const PPM16FRAC: f64 = 1_000_000.0 * 65536.0;

/// The fields of `struct timex` node_exporter exports, widened to i64 (they
/// are `long` in the kernel ABI, 32 bits on 32-bit ARM).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Timex {
    /// Time offset (µs or ns).
    pub offset: i64,
    /// Frequency offset (2^-16 ppm).
    pub freq: i64,
    /// Maximum error (µs).
    pub maxerror: i64,
    /// Estimated error (µs).
    pub esterror: i64,
    /// Status bits.
    pub status: i64,
    /// PLL time constant.
    pub constant: i64,
    /// Microseconds between clock ticks.
    pub tick: i64,
    /// PPS frequency (2^-16 ppm).
    pub ppsfreq: i64,
    /// PPS jitter (µs or ns).
    pub jitter: i64,
    /// PPS interval duration (log2 seconds).
    pub shift: i64,
    /// PPS stability (2^-16 ppm).
    pub stabil: i64,
    /// PPS jitter limit exceeded events.
    pub jitcnt: i64,
    /// PPS calibration intervals.
    pub calcnt: i64,
    /// PPS calibration errors.
    pub errcnt: i64,
    /// PPS stability limit exceeded events.
    pub stbcnt: i64,
    /// TAI offset (s).
    pub tai: i64,
}

/// One exported value: name, help, is-counter, value.
pub(crate) type Value = (&'static str, &'static str, bool, f64);

/// Reads the clock state and emits it.
pub(crate) fn update(_ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let (state, tx) = match adjtimex() {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return Err(CollectError::NoData(format!("adjtimex(2): {e}")))
        }
        Err(e) => return Err(CollectError::Failed(format!("adjtimex(2): {e}"))),
    };
    for (name, help, counter, v) in values(state, &tx) {
        if counter {
            out.counter(name, help, &[], v);
        } else {
            out.gauge(name, help, &[], v);
        }
    }
    Ok(())
}

/// Converts adjtimex's return value and struct into node_exporter's series.
pub(crate) fn values(state: i32, t: &Timex) -> [Value; 17] {
    let divisor = if t.status & STA_NANO != 0 { 1e9 } else { 1e6 };
    let f = |v: i64| v as f64;
    [
        (
            "node_timex_sync_status",
            "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
            false,
            if state == TIME_ERROR { 0.0 } else { 1.0 },
        ),
        (
            "node_timex_offset_seconds",
            "Time offset in between local system and reference clock.",
            false,
            f(t.offset) / divisor,
        ),
        (
            "node_timex_frequency_adjustment_ratio",
            "Local clock frequency adjustment.",
            false,
            1.0 + f(t.freq) / PPM16FRAC,
        ),
        (
            "node_timex_maxerror_seconds",
            "Maximum error in seconds.",
            false,
            f(t.maxerror) / 1e6,
        ),
        (
            "node_timex_estimated_error_seconds",
            "Estimated error in seconds.",
            false,
            f(t.esterror) / 1e6,
        ),
        (
            "node_timex_status",
            "Value of the status array bits.",
            false,
            f(t.status),
        ),
        (
            "node_timex_loop_time_constant",
            "Phase-locked loop time constant.",
            false,
            f(t.constant),
        ),
        (
            "node_timex_tick_seconds",
            "Seconds between clock ticks.",
            false,
            f(t.tick) / 1e6,
        ),
        (
            "node_timex_pps_frequency_hertz",
            "Pulse per second frequency.",
            false,
            f(t.ppsfreq) / PPM16FRAC,
        ),
        (
            "node_timex_pps_jitter_seconds",
            "Pulse per second jitter.",
            false,
            f(t.jitter) / divisor,
        ),
        (
            "node_timex_pps_shift_seconds",
            "Pulse per second interval duration.",
            false,
            f(t.shift),
        ),
        (
            "node_timex_pps_stability_hertz",
            "Pulse per second stability, average of recent frequency changes.",
            false,
            f(t.stabil) / PPM16FRAC,
        ),
        (
            "node_timex_pps_jitter_total",
            "Pulse per second count of jitter limit exceeded events.",
            true,
            f(t.jitcnt),
        ),
        (
            "node_timex_pps_calibration_total",
            "Pulse per second count of calibration intervals.",
            true,
            f(t.calcnt),
        ),
        (
            "node_timex_pps_error_total",
            "Pulse per second count of calibration errors.",
            true,
            f(t.errcnt),
        ),
        (
            "node_timex_pps_stability_exceeded_total",
            "Pulse per second count of stability limit exceeded events.",
            true,
            f(t.stbcnt),
        ),
        (
            "node_timex_tai_offset_seconds",
            "International Atomic Time (TAI) offset.",
            false,
            f(t.tai),
        ),
    ]
}

/// Whether the kernel considers the clock synchronised (adjtimex does not
/// return `TIME_ERROR`); `None` when adjtimex cannot be called. Used by the
/// push side to hold batches stamped by a clock that NTP has not set yet.
pub(crate) fn clock_synchronized() -> Option<bool> {
    adjtimex().ok().map(|(state, _)| state != TIME_ERROR)
}

/// Calls adjtimex(2) with `modes = 0` (read only): returns the clock state
/// (`TIME_OK` … `TIME_ERROR`) and the fields.
// The struct's integer fields are `long` or `long long` depending on the
// target; `i64::from` is the identity on 64-bit targets.
#[allow(clippy::useless_conversion)]
fn adjtimex() -> io::Result<(i32, Timex)> {
    // SAFETY: struct timex is plain old data (integers and a timeval), so
    // all-zero is a valid value; in particular `modes` is 0, which makes the
    // call read-only.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: `tx` is a valid, writable struct timex we own; with modes 0
    // the kernel only fills it in.
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((
        state,
        Timex {
            offset: i64::from(tx.offset),
            freq: i64::from(tx.freq),
            maxerror: i64::from(tx.maxerror),
            esterror: i64::from(tx.esterror),
            status: i64::from(tx.status),
            constant: i64::from(tx.constant),
            tick: i64::from(tx.tick),
            ppsfreq: i64::from(tx.ppsfreq),
            jitter: i64::from(tx.jitter),
            shift: i64::from(tx.shift),
            stabil: i64::from(tx.stabil),
            jitcnt: i64::from(tx.jitcnt),
            calcnt: i64::from(tx.calcnt),
            errcnt: i64::from(tx.errcnt),
            stbcnt: i64::from(tx.stbcnt),
            tai: i64::from(tx.tai),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(vals: &[Value], name: &str) -> f64 {
        vals.iter().find(|v| v.0 == name).map(|v| v.3).unwrap()
    }

    #[test]
    fn synced_microsecond_clock() {
        // A Pi with systemd-timesyncd after sync: TIME_OK, STA_PLL only.
        let t = Timex {
            offset: -1234,
            freq: 1_310_720, // 20 ppm
            maxerror: 16_000,
            esterror: 500,
            status: 0x0001,
            constant: 7,
            tick: 10_000,
            tai: 37,
            ..Timex::default()
        };
        let v = values(0, &t);
        assert_eq!(get(&v, "node_timex_sync_status"), 1.0);
        assert_eq!(get(&v, "node_timex_offset_seconds"), -0.001234);
        assert_eq!(get(&v, "node_timex_frequency_adjustment_ratio"), 1.00002);
        assert_eq!(get(&v, "node_timex_maxerror_seconds"), 0.016);
        assert_eq!(get(&v, "node_timex_estimated_error_seconds"), 0.0005);
        assert_eq!(get(&v, "node_timex_tick_seconds"), 0.01);
        assert_eq!(get(&v, "node_timex_tai_offset_seconds"), 37.0);
        assert_eq!(get(&v, "node_timex_loop_time_constant"), 7.0);
    }

    #[test]
    fn unsynced_nanosecond_clock() {
        // Unsynchronized clock in nanosecond mode: STA_UNSYNC | STA_NANO, TIME_ERROR.
        let t = Timex {
            offset: 1_500,
            jitter: 2_000,
            status: 0x2040,
            maxerror: 16_000_000,
            ..Timex::default()
        };
        let v = values(TIME_ERROR, &t);
        assert_eq!(get(&v, "node_timex_sync_status"), 0.0);
        assert_eq!(get(&v, "node_timex_offset_seconds"), 1.5e-6);
        assert_eq!(get(&v, "node_timex_pps_jitter_seconds"), 2e-6);
        assert_eq!(get(&v, "node_timex_status"), 8256.0);
        assert_eq!(get(&v, "node_timex_maxerror_seconds"), 16.0);
    }

    #[test]
    fn extreme_values_do_not_panic() {
        let t = Timex {
            offset: i64::MIN,
            freq: i64::MAX,
            status: -1,
            ..Timex::default()
        };
        let v = values(-7, &t);
        assert_eq!(v.len(), 17);
        assert!(v.iter().all(|x| x.3.is_finite()));
        assert_eq!(v.iter().filter(|x| x.2).count(), 4);
    }

    #[test]
    fn syscall_reads() {
        let (state, t) = adjtimex().unwrap();
        assert!((0..=5).contains(&state));
        assert!(t.tick > 0);
    }
}
