//! rpi: Raspberry Pi firmware throttling flags from
//! `/sys/devices/platform/soc/soc:firmware/get_throttled` (picket's own; no
//! node_exporter equivalent).
//!
//! The file holds the firmware's `GET_THROTTLED` bitmask in hex without
//! `0x` (what `vcgencmd get_throttled` prints), e.g. `50005`. Bits 0–3 are
//! conditions active now, bits 16–19 the same conditions latched ("sticky"):
//!
//! | bit | latched | `flag`            | meaning                                  |
//! |-----|---------|-------------------|------------------------------------------|
//! | 0   | 16      | `under_voltage`   | supply voltage below about 4.63 V        |
//! | 1   | 17      | `freq_capped`     | ARM frequency capped                     |
//! | 2   | 18      | `throttled`       | ARM clock lowered                        |
//! | 3   | 19      | `soft_temp_limit` | soft temperature limit active            |
//!
//! Exports `picket_rpi_throttled_flags` (the raw bitmask),
//! `picket_rpi_throttled{flag}` 0/1 (bits 0–3) and
//! `picket_rpi_throttled_recent{flag}` 0/1 (bits 16–19).
//!
//! Caveats, from the Raspberry Pi kernel sources: the file shows the value
//! the `raspberrypi-hwmon` driver fetched at its last 2-second poll, and that
//! driver asks the firmware to clear the sticky bits on every poll, so on
//! current kernels bits 16–19 mean "occurred in the last poll interval"
//! rather than "since boot". Since kernel 4.19 the first read after boot
//! logs a one-time kernel warning with a backtrace ("deprecated, use hwmon
//! sysfs instead"), and Raspberry Pi removed the file from its kernels in
//! March 2025 (raspberrypi/linux#6697). The under-voltage flag is also exported by the hwmon collector as
//! `node_hwmon_in_lcrit_alarm_volts{chip="soc:firmware_raspberrypi_hwmon",
//! sensor="in0"}` (0.001 when set, node_exporter's scaling quirk), which is
//! the interface the kernel recommends.
//!
//! Off by default because of that kernel warning; turn it on with
//! `--collector.rpi` on Pi kernels that still have the file. The name
//! `_recent` (not `_since_boot`) says what the latched bits really mean.
//!
//! When the file is absent (not a Pi, or a kernel without it) the collector
//! exports nothing and succeeds: that is the normal state of most machines,
//! not a failure. An unreadable or garbled file fails the collector.

use std::io;

use super::{CollectError, Ctx, Out};

/// The flags, as (bit for "now", label value).
const FLAGS: [(u32, &str); 4] = [
    (0, "under_voltage"),
    (1, "freq_capped"),
    (2, "throttled"),
    (3, "soft_temp_limit"),
];

/// Bit offset of the latched copies of the flags.
const STICKY_SHIFT: u32 = 16;

/// Reads `get_throttled` if the machine has one.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let path = ctx
        .root
        .sys("devices/platform/soc/soc:firmware/get_throttled");
    let text = match super::root::read_trim(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(CollectError::Failed(format!("{}: {}", path.display(), e))),
    };
    let bits = parse(&text).map_err(|e| CollectError::parse(&path, e))?;
    out.gauge(
        "picket_rpi_throttled_flags",
        "Raspberry Pi firmware throttling bitmask (get_throttled, as vcgencmd get_throttled shows it).",
        &[],
        f64::from(bits),
    );
    for (bit, flag) in FLAGS {
        out.gauge(
            "picket_rpi_throttled",
            "Whether a Raspberry Pi firmware throttling condition is active now (get_throttled bits 0-3).",
            &[("flag", flag)],
            f64::from((bits >> bit) & 1),
        );
        out.gauge(
            "picket_rpi_throttled_recent",
            "Whether a Raspberry Pi firmware throttling condition occurred recently: since the firmware's sticky bits were last cleared, every 2 s by the raspberrypi-hwmon driver (get_throttled bits 16-19).",
            &[("flag", flag)],
            f64::from((bits >> (bit + STICKY_SHIFT)) & 1),
        );
    }
    Ok(())
}

/// Parses the hex bitmask (`50005`; a `0x` prefix is accepted too).
pub(crate) fn parse(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let hex = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("invalid bitmask {text:?}"));
    }
    u32::from_str_radix(hex, 16).map_err(|_| format!("bitmask out of range {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bitmasks() {
        assert_eq!(parse("50005\n"), Ok(0x50005));
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("e0008"), Ok(0xe0008));
        assert_eq!(parse("0x80000"), Ok(0x80000));
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse("").is_err());
        assert!(parse("0x").is_err());
        assert!(parse("-5").is_err());
        assert!(parse("+5").is_err());
        assert!(parse("5 0").is_err());
        assert!(parse("throttled").is_err());
        assert!(parse("100000000").is_err());
    }

    #[test]
    fn flags_of_an_under_volted_pi() {
        let bits = parse("50005").unwrap();
        let now: Vec<u32> = FLAGS.iter().map(|(b, _)| (bits >> b) & 1).collect();
        let latched: Vec<u32> = FLAGS
            .iter()
            .map(|(b, _)| (bits >> (b + STICKY_SHIFT)) & 1)
            .collect();
        assert_eq!(now, [1, 0, 1, 0]);
        assert_eq!(latched, [1, 0, 1, 0]);
    }

    /// Runs the collector on a fixture tree and renders `name{labels} value` lines.
    fn run_fixture(board: &str) -> (Result<(), CollectError>, Vec<String>) {
        crate::collect::run_on_fixture(board, update)
    }

    #[test]
    fn fixtures() {
        let (r, pi) = run_fixture("pi4");
        assert!(r.is_ok());
        assert_eq!(
            pi,
            [
                "picket_rpi_throttled{flag=freq_capped} 0",
                "picket_rpi_throttled{flag=soft_temp_limit} 0",
                "picket_rpi_throttled{flag=throttled} 1",
                "picket_rpi_throttled{flag=under_voltage} 1",
                "picket_rpi_throttled_flags{} 327685",
                "picket_rpi_throttled_recent{flag=freq_capped} 0",
                "picket_rpi_throttled_recent{flag=soft_temp_limit} 0",
                "picket_rpi_throttled_recent{flag=throttled} 1",
                "picket_rpi_throttled_recent{flag=under_voltage} 1",
            ]
        );
        // Not a Pi: no samples, success.
        let (r, rock) = run_fixture("rock64");
        assert!(r.is_ok());
        assert!(rock.is_empty());
    }
}
