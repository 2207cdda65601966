//! diskstats: `/proc/diskstats` → `node_disk_*` {device}, as node_exporter 1.12.
//!
//! Counters: `node_disk_{reads,writes}_{completed,merged}_total`,
//! `node_disk_{read,written}_bytes_total` (512-byte sectors),
//! `node_disk_{read,write,io,io_time_weighted}…_seconds_total` (ms → s),
//! the gauge `node_disk_io_now`, and, when the kernel has them (18 and 20
//! field lines), the discard and flush counters. A 14-field line (kernels
//! before 4.18) gives the first eleven only, as node_exporter does.
//!
//! `node_disk_info` {device, major, minor, path, wwn, model, serial,
//! revision, rotational}: `rotational` comes from
//! `/sys/block/<dev>/queue/rotational` ("0" when absent, e.g. partitions);
//! the rest, and `node_disk_filesystem_info`, `node_disk_device_mapper_info`
//! and `node_disk_ata_*`, come from udev's database
//! `<udev>/b<major>:<minor>`, where `<udev>` is `--path.udev.data` or by
//! default `<rootfs>/run/udev/data` (node_exporter's default is `/run/udev/data`
//! regardless of `--path.rootfs`; for an agent run in a container with the host's
//! `/` under `--path.rootfs`, the host's database is the useful one); without it those labels
//! are empty and those metrics absent, exactly as node_exporter without udev.

use std::collections::HashMap;
use std::fs;

use super::{CollectError, Ctx, Out};
use picket_core::metric::{Labels, MetricType};

/// Milliseconds to seconds, as node_exporter multiplies (not divides).
const SECONDS_PER_TICK: f64 = 1.0 / 1000.0;

/// /proc/diskstats counts "standard UNIX 512-byte sectors".
const SECTOR_SIZE: f64 = 512.0;

/// The value columns after major, minor and name, in file order:
/// (name, help, type, scale).
const FIELDS: [(&str, &str, MetricType, f64); 17] = [
    (
        "node_disk_reads_completed_total",
        "The total number of reads completed successfully.",
        MetricType::Counter,
        1.0,
    ),
    (
        "node_disk_reads_merged_total",
        "The total number of reads merged.",
        MetricType::Counter,
        1.0,
    ),
    (
        "node_disk_read_bytes_total",
        "The total number of bytes read successfully.",
        MetricType::Counter,
        SECTOR_SIZE,
    ),
    (
        "node_disk_read_time_seconds_total",
        "The total number of seconds spent by all reads.",
        MetricType::Counter,
        SECONDS_PER_TICK,
    ),
    (
        "node_disk_writes_completed_total",
        "The total number of writes completed successfully.",
        MetricType::Counter,
        1.0,
    ),
    (
        "node_disk_writes_merged_total",
        "The number of writes merged.",
        MetricType::Counter,
        1.0,
    ),
    (
        "node_disk_written_bytes_total",
        "The total number of bytes written successfully.",
        MetricType::Counter,
        SECTOR_SIZE,
    ),
    (
        "node_disk_write_time_seconds_total",
        "This is the total number of seconds spent by all writes.",
        MetricType::Counter,
        SECONDS_PER_TICK,
    ),
    (
        "node_disk_io_now",
        "The number of I/Os currently in progress.",
        MetricType::Gauge,
        1.0,
    ),
    (
        "node_disk_io_time_seconds_total",
        "Total seconds spent doing I/Os.",
        MetricType::Counter,
        SECONDS_PER_TICK,
    ),
    (
        "node_disk_io_time_weighted_seconds_total",
        "The weighted # of seconds spent doing I/Os.",
        MetricType::Counter,
        SECONDS_PER_TICK,
    ),
    (
        "node_disk_discards_completed_total",
        "The total number of discards completed successfully.",
        MetricType::Counter,
        1.0,
    ),
    (
        "node_disk_discards_merged_total",
        "The total number of discards merged.",
        MetricType::Counter,
        1.0,
    ),
    (
        "node_disk_discarded_sectors_total",
        "The total number of sectors discarded successfully.",
        MetricType::Counter,
        1.0,
    ),
    (
        "node_disk_discard_time_seconds_total",
        "This is the total number of seconds spent by all discards.",
        MetricType::Counter,
        SECONDS_PER_TICK,
    ),
    (
        "node_disk_flush_requests_total",
        "The total number of flush requests completed successfully",
        MetricType::Counter,
        1.0,
    ),
    (
        "node_disk_flush_requests_time_seconds_total",
        "This is the total number of seconds spent by all flush requests.",
        MetricType::Counter,
        SECONDS_PER_TICK,
    ),
];

/// udev properties exported as `node_disk_ata_*` gauges when `ID_ATA` is set.
const ATA: [(&str, &str, &str); 3] = [
    (
        "ID_ATA_WRITE_CACHE",
        "node_disk_ata_write_cache",
        "ATA disk has a write cache.",
    ),
    (
        "ID_ATA_WRITE_CACHE_ENABLED",
        "node_disk_ata_write_cache_enabled",
        "ATA disk has its write cache enabled.",
    ),
    (
        "ID_ATA_ROTATION_RATE_RPM",
        "node_disk_ata_rotation_rate_rpm",
        "ATA disk rotation rate in RPMs (0 for SSDs).",
    ),
];

/// One line of `/proc/diskstats`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DiskStat {
    /// Major device number.
    pub major: u32,
    /// Minor device number.
    pub minor: u32,
    /// Kernel device name (`mmcblk0p2`).
    pub name: String,
    /// The value columns present (11, 15 or 17 of them), in file order.
    pub values: Vec<u64>,
}

/// Reads `/proc/diskstats` and reports every device not excluded.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let path = ctx.root.proc("diskstats");
    let text = super::root::read(&path)?;
    let disks = parse(&text).map_err(|e| CollectError::parse(&path, e))?;
    for d in disks {
        if ctx.opts.diskstats_device_exclude.is_match(&d.name) {
            continue;
        }
        let udev = read_udev(ctx, d.major, d.minor);
        emit(out, &d, &udev, rotational(ctx, &d.name));
    }
    Ok(())
}

fn emit(out: &mut Out<'_>, d: &DiskStat, udev: &HashMap<String, String>, rotational: bool) {
    let dev = d.name.as_str();
    let prop = |k: &str| udev.get(k).map_or("", String::as_str);
    // The serial printed on the label, else the short one, else ID_SERIAL (virtio, mmc).
    let serial = ["SCSI_IDENT_SERIAL", "ID_SERIAL_SHORT", "ID_SERIAL"]
        .iter()
        .map(|k| prop(k))
        .find(|s| !s.is_empty())
        .unwrap_or("");
    let (major, minor) = (d.major.to_string(), d.minor.to_string());
    out.gauge(
        "node_disk_info",
        "Info of /sys/block/<block_device>.",
        &[
            ("device", dev),
            ("major", &major),
            ("minor", &minor),
            ("path", prop("ID_PATH")),
            ("wwn", prop("ID_WWN")),
            ("model", prop("ID_MODEL")),
            ("serial", serial),
            ("revision", prop("ID_REVISION")),
            ("rotational", if rotational { "1" } else { "0" }),
        ],
        1.0,
    );
    for ((name, help, kind, scale), &v) in FIELDS.iter().zip(&d.values) {
        let labels = Labels::from_pairs([("device", dev)]);
        out.sample(*name, *help, *kind, labels, v as f64 * scale);
    }
    let fs_type = prop("ID_FS_TYPE");
    if !fs_type.is_empty() {
        out.gauge(
            "node_disk_filesystem_info",
            "Info about disk filesystem.",
            &[
                ("device", dev),
                ("type", fs_type),
                ("usage", prop("ID_FS_USAGE")),
                ("uuid", prop("ID_FS_UUID")),
                ("version", prop("ID_FS_VERSION")),
            ],
            1.0,
        );
    }
    let dm_name = prop("DM_NAME");
    if !dm_name.is_empty() {
        out.gauge(
            "node_disk_device_mapper_info",
            "Info about disk device mapper.",
            &[
                ("device", dev),
                ("name", dm_name),
                ("uuid", prop("DM_UUID")),
                ("vg_name", prop("DM_VG_NAME")),
                ("lv_name", prop("DM_LV_NAME")),
                ("lv_layer", prop("DM_LV_LAYER")),
            ],
            1.0,
        );
    }
    if !prop("ID_ATA").is_empty() {
        for (key, name, help) in ATA {
            let Some(s) = udev.get(key) else { continue };
            match s.parse::<f64>() {
                Ok(v) => out.gauge(name, help, &[("device", dev)], v),
                Err(_) => log::warn!("diskstats: {dev}: invalid {key}={s:?} in udev data"),
            }
        }
    }
}

/// `/sys/block/<dev>/queue/rotational` is 1; node_exporter says "0" on any error.
fn rotational(ctx: &Ctx<'_>, dev: &str) -> bool {
    let path = ctx.root.sys("block").join(dev).join("queue/rotational");
    super::root::read_u64(&path) == Some(1)
}

/// udev's properties of a block device; empty when udev has no record.
fn read_udev(ctx: &Ctx<'_>, major: u32, minor: u32) -> HashMap<String, String> {
    let path = ctx.root.udev_data().join(format!("b{major}:{minor}"));
    match fs::read(&path) {
        Ok(bytes) => parse_udev(&String::from_utf8_lossy(&bytes)),
        Err(e) => {
            log::debug!("diskstats: no udev data {}: {e}", path.display());
            HashMap::new()
        }
    }
}

/// Parses a udev database file: the `E:KEY=value` lines are the device properties.
pub(crate) fn parse_udev(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("E:")?.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Parses `/proc/diskstats` (Documentation/admin-guide/iostats.rst): major,
/// minor, name, then 11 (before 4.18), 15 (4.18+) or 17 (5.5+) values.
/// Like node_exporter, lines with fewer than 11 values are skipped, values
/// past the 17th are ignored, and a non-number fails the whole file.
pub(crate) fn parse(text: &str) -> Result<Vec<DiskStat>, String> {
    let mut disks = Vec::new();
    for line in text.lines() {
        let mut f = line.split_ascii_whitespace();
        let Some(major) = f.next() else { continue };
        let bad = |what: &str| format!("invalid {what} in line {line:?}");
        let major = major.parse().map_err(|_| bad("major number"))?;
        let Some(minor) = f.next() else { continue };
        let minor = minor.parse().map_err(|_| bad("minor number"))?;
        let Some(name) = f.next() else { continue };
        let values = f
            .take(FIELDS.len())
            .map(|v| v.parse::<u64>().map_err(|_| bad("value")))
            .collect::<Result<Vec<u64>, String>>()?;
        if values.len() < 11 {
            continue;
        }
        disks.push(DiskStat {
            major,
            minor,
            name: name.to_string(),
            values,
        });
    }
    Ok(disks)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATS: &str = "\
   1       0 ram0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 179       0 mmcblk0 24961 11374 1752126 41836 86613 79023 4863218 1120453 0 324844 1201540 1427 0 1654752 9780 18412 29470
 179       1 mmcblk0p1 420 1869 33416 1012 3 0 10 12 0 488 1026 2 0 17504 2
   8       0 sda 9 8 7 6 5 4 3 2 1 1000 2000
   8       1 sda1 1 2 3
";

    #[test]
    fn parses_all_field_counts() {
        let d = parse(STATS).unwrap();
        let names: Vec<_> = d.iter().map(|d| d.name.as_str()).collect();
        // sda1 has too few values and is skipped, as by node_exporter.
        assert_eq!(names, ["ram0", "mmcblk0", "mmcblk0p1", "sda"]);
        assert_eq!((d[1].major, d[1].minor), (179, 0));
        assert_eq!(d[1].values.len(), 17);
        assert_eq!(d[1].values[16], 29470);
        assert_eq!(d[2].values.len(), 15);
        assert_eq!(d[3].values.len(), 11);
    }

    #[test]
    fn units_like_node_exporter() {
        let d = parse(STATS).unwrap();
        let mut samples = Vec::new();
        let mut out = Out::new(&mut samples);
        emit(&mut out, &d[1], &HashMap::new(), false);
        emit(&mut out, &d[3], &HashMap::new(), true);
        let get = |name: &str, dev: &str| {
            samples
                .iter()
                .find(|s| s.name == name && s.labels.get("device") == Some(dev))
                .map(|s| s.value)
        };
        assert_eq!(
            get("node_disk_read_bytes_total", "mmcblk0"),
            Some(1752126.0 * 512.0)
        );
        assert_eq!(
            get("node_disk_write_time_seconds_total", "mmcblk0"),
            Some(1120453.0 * 0.001)
        );
        assert_eq!(
            get("node_disk_discarded_sectors_total", "mmcblk0"),
            Some(1654752.0)
        );
        assert_eq!(
            get("node_disk_flush_requests_time_seconds_total", "mmcblk0"),
            Some(29470.0 * 0.001)
        );
        assert_eq!(
            get("node_disk_io_time_weighted_seconds_total", "sda"),
            Some(2.0)
        );
        assert_eq!(get("node_disk_discards_completed_total", "sda"), None);
        let info = samples.iter().find(|s| s.name == "node_disk_info").unwrap();
        assert_eq!(info.labels.get("rotational"), Some("0"));
        assert_eq!(info.labels.get("serial"), Some(""));
        assert_eq!(info.labels.len(), 9);
        // 1 info + 17 values, then 1 info + 11 values.
        assert_eq!(samples.len(), 30);
    }

    #[test]
    fn udev_labels_and_info_metrics() {
        let udev = parse_udev(
            "S:disk/by-path/platform-fe340000.mmc-part2\nW:2\nE:ID_SERIAL=0x1b5c6f3e\n\
             E:ID_PATH=platform-fe340000.mmc\nE:ID_FS_TYPE=ext4\nE:ID_FS_USAGE=filesystem\n\
             E:ID_FS_UUID=a1b2\nE:ID_FS_VERSION=1.0\nE:ID_ATA=1\nE:ID_ATA_ROTATION_RATE_RPM=7200\n\
             E:ID_ATA_WRITE_CACHE=x\nE:BROKEN\nG:systemd\n",
        );
        assert_eq!(udev.get("ID_FS_TYPE").map(String::as_str), Some("ext4"));
        assert!(!udev.contains_key("BROKEN"));
        let d = DiskStat {
            major: 179,
            minor: 2,
            name: "mmcblk0p2".into(),
            values: vec![0; 11],
        };
        let mut samples = Vec::new();
        emit(&mut Out::new(&mut samples), &d, &udev, false);
        let info = samples.iter().find(|s| s.name == "node_disk_info").unwrap();
        assert_eq!(info.labels.get("serial"), Some("0x1b5c6f3e"));
        assert_eq!(info.labels.get("path"), Some("platform-fe340000.mmc"));
        let fs = samples
            .iter()
            .find(|s| s.name == "node_disk_filesystem_info")
            .unwrap();
        assert_eq!(fs.labels.get("uuid"), Some("a1b2"));
        let ata: Vec<_> = samples
            .iter()
            .filter(|s| s.name.starts_with("node_disk_ata"))
            .collect();
        // The unparsable write-cache value is skipped.
        assert_eq!(ata.len(), 1);
        assert_eq!(ata[0].value, 7200.0);
        assert!(!samples
            .iter()
            .any(|s| s.name == "node_disk_device_mapper_info"));
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse(" 179 0 mmcblk0 1 2 x 4 5 6 7 8 9 10 11\n").is_err());
        assert!(parse("x 0 mmcblk0 1 2 3 4 5 6 7 8 9 10 11\n").is_err());
        assert!(parse("-1 0 mmcblk0 1 2 3 4 5 6 7 8 9 10 11\n").is_err());
        assert!(parse(" 179 0 mmcblk0 1 2 3 4 5 6 7 8 9 10 -11\n").is_err());
        // Truncated lines and blank lines are skipped, not fatal.
        assert_eq!(parse("\n 179 0\n 179 0 mmcblk0 1 2\n").unwrap(), vec![]);
    }
}
