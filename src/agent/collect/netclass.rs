//! netclass: `/sys/class/net/<iface>/*` → `node_network_info`,
//! `node_network_up` and one `node_network_<property>` series per readable
//! attribute, all labelled `{device}`.
//!
//! As node_exporter (via procfs' `sysfs.NetClass`): every non-regular entry
//! of `/sys/class/net` is an interface (they are symlinks into
//! `/sys/devices`); of each interface the exported attributes are read, with
//! one read of at most 128 bytes each. Attributes the kernel refuses to show (missing,
//! permission denied, `EINVAL` — e.g. `speed` or `carrier` on a link that is
//! down — or `EOPNOTSUPP`) are skipped; any other read error fails the
//! collector. Numbers are parsed like Go's `strconv.ParseInt(s, 0, 64)` (so
//! `flags`, written as `0x1003`, is 4099), and one that does not parse reads
//! as 0, as procfs' `ValueParser.PInt64` yields. Interfaces matching
//! `--collector.netclass.ignored-devices` are skipped.

use std::fs;
use std::io;
use std::path::Path;

use super::root::read_attr;
use super::{parse_go_int, CollectError, Ctx, Out};

/// What `/sys/class/net/<iface>/` says about one interface.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Iface {
    /// `addr_assign_type`.
    pub addr_assign_type: Option<i64>,
    /// `address`.
    pub address: String,
    /// `broadcast`.
    pub broadcast: String,
    /// `carrier`.
    pub carrier: Option<i64>,
    /// `carrier_changes`.
    pub carrier_changes: Option<i64>,
    /// `carrier_up_count`.
    pub carrier_up_count: Option<i64>,
    /// `carrier_down_count`.
    pub carrier_down_count: Option<i64>,
    /// `dev_id`.
    pub dev_id: Option<i64>,
    /// `dormant`.
    pub dormant: Option<i64>,
    /// `duplex`.
    pub duplex: String,
    /// `flags`.
    pub flags: Option<i64>,
    /// `ifalias`.
    pub ifalias: String,
    /// `ifindex`.
    pub ifindex: Option<i64>,
    /// `iflink`.
    pub iflink: Option<i64>,
    /// `link_mode`.
    pub link_mode: Option<i64>,
    /// `mtu`.
    pub mtu: Option<i64>,
    /// `name_assign_type`.
    pub name_assign_type: Option<i64>,
    /// `netdev_group`.
    pub netdev_group: Option<i64>,
    /// `operstate`.
    pub operstate: String,
    /// `speed` in Mbit/s (-1 when the driver does not know).
    pub speed: Option<i64>,
    /// `tx_queue_len`.
    pub tx_queue_len: Option<i64>,
    /// `type` (ARPHRD_*).
    pub kind: Option<i64>,
}

impl Iface {
    /// Records one attribute file's (trimmed) content; unknown names are
    /// ignored, unparseable numbers count as 0 (as in node_exporter).
    pub(crate) fn set(&mut self, attr: &str, value: &str) {
        let int = || Some(parse_go_int(value).unwrap_or(0));
        match attr {
            "addr_assign_type" => self.addr_assign_type = int(),
            "address" => self.address = value.to_string(),
            "broadcast" => self.broadcast = value.to_string(),
            "carrier" => self.carrier = int(),
            "carrier_changes" => self.carrier_changes = int(),
            "carrier_up_count" => self.carrier_up_count = int(),
            "carrier_down_count" => self.carrier_down_count = int(),
            "dev_id" => self.dev_id = int(),
            "dormant" => self.dormant = int(),
            "duplex" => self.duplex = value.to_string(),
            "flags" => self.flags = int(),
            "ifalias" => self.ifalias = value.to_string(),
            "ifindex" => self.ifindex = int(),
            "iflink" => self.iflink = int(),
            "link_mode" => self.link_mode = int(),
            "mtu" => self.mtu = int(),
            "name_assign_type" => self.name_assign_type = int(),
            "netdev_group" => self.netdev_group = int(),
            "operstate" => self.operstate = value.to_string(),
            "speed" => self.speed = int(),
            "tx_queue_len" => self.tx_queue_len = int(),
            "type" => self.kind = int(),
            _ => {}
        }
    }

    /// `adminstate` label: from the IFF_UP bit of `flags`.
    pub(crate) fn adminstate(&self) -> &'static str {
        match self.flags {
            None => "unknown",
            Some(f) if f & 1 == 1 => "up",
            Some(_) => "down",
        }
    }
}

/// Reads every interface under `/sys/class/net`.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let dir = ctx.root.sys("class/net");
    let mut names = Vec::new();
    for entry in fs::read_dir(&dir).map_err(|e| io_err(&dir, e))? {
        let entry = entry.map_err(|e| io_err(&dir, e))?;
        let is_file = entry
            .file_type()
            .map_err(|e| io_err(&entry.path(), e))?
            .is_file();
        // Regular files there (e.g. bonding_masters) are not interfaces.
        if is_file {
            continue;
        }
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort();
    // Read everything first: like node_exporter, a failing interface means
    // no netclass series at all rather than a partial set.
    let mut ifaces = Vec::with_capacity(names.len());
    for name in names {
        if ctx.opts.netclass_ignored_devices.is_match(&name) {
            continue;
        }
        let iface = read_iface(&dir.join(&name))?;
        ifaces.push((name, iface));
    }
    for (name, iface) in &ifaces {
        emit(out, name, iface);
    }
    Ok(())
}

/// The attributes picket exports. node_exporter's procfs reads every
/// regular file of the directory (about 35, several of which fail with
/// EOPNOTSUPP on every scrape); reading only these halves the collector's cost.
const ATTRS: &[&str] = &[
    "addr_assign_type",
    "address",
    "broadcast",
    "carrier",
    "carrier_changes",
    "carrier_up_count",
    "carrier_down_count",
    "dev_id",
    "dormant",
    "duplex",
    "flags",
    "ifalias",
    "ifindex",
    "iflink",
    "link_mode",
    "mtu",
    "name_assign_type",
    "netdev_group",
    "operstate",
    "speed",
    "tx_queue_len",
    "type",
];

/// Reads the exported attributes of one interface directory.
fn read_iface(dir: &Path) -> Result<Iface, CollectError> {
    let mut iface = Iface::default();
    let mut path = dir.to_path_buf();
    for attr in ATTRS {
        path.push(attr);
        match read_attr(&path) {
            Ok(value) => iface.set(attr, &value),
            Err(e) if ignorable(&e) => {}
            // A directory in place of a file (no sysfs attribute is one).
            Err(e) if e.raw_os_error() == Some(libc::EISDIR) => {}
            Err(e) => return Err(CollectError::Failed(format!("{}: {}", path.display(), e))),
        }
        path.pop();
    }
    Ok(iface)
}

/// node_exporter treats a missing or forbidden class directory as "no data".
fn io_err(path: &Path, e: io::Error) -> CollectError {
    if e.kind() == io::ErrorKind::PermissionDenied {
        CollectError::NoData(format!("{}: {}", path.display(), e))
    } else {
        CollectError::io(path, e)
    }
}

/// Read errors that mean "this attribute is not available for this device".
fn ignorable(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied | io::ErrorKind::InvalidInput
    ) || matches!(
        e.raw_os_error(),
        Some(libc::EINVAL) | Some(libc::EOPNOTSUPP)
    )
}

/// Writes the series of one interface.
pub(crate) fn emit(out: &mut Out<'_>, device: &str, i: &Iface) {
    let dev = [("device", device)];
    out.gauge(
        "node_network_up",
        "Value is 1 if operstate is 'up', 0 otherwise.",
        &dev,
        if i.operstate == "up" { 1.0 } else { 0.0 },
    );
    out.gauge(
        "node_network_info",
        "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
        &[
            ("device", device),
            ("address", &i.address),
            ("broadcast", &i.broadcast),
            ("duplex", &i.duplex),
            ("operstate", &i.operstate),
            ("adminstate", i.adminstate()),
            ("ifalias", &i.ifalias),
        ],
        1.0,
    );
    // Speed in bytes/s, with Go's int64 arithmetic (so -1 becomes -125000).
    let speed_bytes = i.speed.map(|s| s.wrapping_mul(1000).wrapping_mul(1000) / 8);
    let props: [(&str, &str, Option<i64>); 14] = [
        (
            "node_network_address_assign_type",
            "Network device property: address_assign_type",
            i.addr_assign_type,
        ),
        (
            "node_network_carrier",
            "Network device property: carrier",
            i.carrier,
        ),
        (
            "node_network_device_id",
            "Network device property: device_id",
            i.dev_id,
        ),
        (
            "node_network_dormant",
            "Network device property: dormant",
            i.dormant,
        ),
        (
            "node_network_flags",
            "Network device property: flags",
            i.flags,
        ),
        (
            "node_network_iface_id",
            "Network device property: iface_id",
            i.ifindex,
        ),
        (
            "node_network_iface_link",
            "Network device property: iface_link",
            i.iflink,
        ),
        (
            "node_network_iface_link_mode",
            "Network device property: iface_link_mode",
            i.link_mode,
        ),
        (
            "node_network_mtu_bytes",
            "Network device property: mtu_bytes",
            i.mtu,
        ),
        (
            "node_network_name_assign_type",
            "Network device property: name_assign_type",
            i.name_assign_type,
        ),
        (
            "node_network_net_dev_group",
            "Network device property: net_dev_group",
            i.netdev_group,
        ),
        (
            "node_network_speed_bytes",
            "Network device property: speed_bytes",
            speed_bytes,
        ),
        (
            "node_network_transmit_queue_length",
            "Network device property: transmit_queue_length",
            i.tx_queue_len,
        ),
        (
            "node_network_protocol_type",
            "Network device property: protocol_type",
            i.kind,
        ),
    ];
    for (name, help, v) in props {
        if let Some(v) = v {
            out.gauge(name, help, &dev, v as f64);
        }
    }
    let counters: [(&str, &str, Option<i64>); 3] = [
        (
            "node_network_carrier_changes_total",
            "Network device property: carrier_changes_total",
            i.carrier_changes,
        ),
        (
            "node_network_carrier_up_changes_total",
            "Network device property: carrier_up_changes_total",
            i.carrier_up_count,
        ),
        (
            "node_network_carrier_down_changes_total",
            "Network device property: carrier_down_changes_total",
            i.carrier_down_count,
        ),
    ];
    for (name, help, v) in counters {
        if let Some(v) = v {
            out.counter(name, help, &dev, v as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_core::metric::{MetricType, Sample};

    #[test]
    fn go_int_parsing() {
        assert_eq!(parse_go_int("1500"), Some(1500));
        assert_eq!(parse_go_int("0x1003"), Some(4099));
        assert_eq!(parse_go_int("0X1003"), Some(4099));
        assert_eq!(parse_go_int("-1"), Some(-1));
        assert_eq!(parse_go_int("0"), Some(0));
        assert_eq!(parse_go_int("010"), Some(8));
        assert_eq!(parse_go_int("0b101"), Some(5));
        assert_eq!(parse_go_int("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_go_int("9223372036854775808"), None);
        assert_eq!(parse_go_int(""), None);
        assert_eq!(parse_go_int("-"), None);
        assert_eq!(parse_go_int("0x"), None);
        assert_eq!(parse_go_int("09"), None);
        assert_eq!(parse_go_int("1 2"), None);
        assert_eq!(parse_go_int("+-1"), None);
        assert_eq!(parse_go_int("é"), None);
    }

    fn eth0() -> Iface {
        let mut i = Iface::default();
        for (a, v) in [
            ("address", "dc:a6:32:01:02:03"),
            ("broadcast", "ff:ff:ff:ff:ff:ff"),
            ("duplex", "full"),
            ("operstate", "up"),
            ("flags", "0x1003"),
            ("mtu", "1500"),
            ("speed", "1000"),
            ("carrier", "1"),
            ("carrier_changes", "3"),
            ("carrier_up_count", "2"),
            ("carrier_down_count", "1"),
            ("type", "1"),
            ("uevent", "INTERFACE=eth0"),
        ] {
            i.set(a, v);
        }
        i
    }

    fn run(device: &str, i: &Iface) -> Vec<Sample> {
        let mut samples = Vec::new();
        emit(&mut Out::new(&mut samples), device, i);
        samples
    }

    fn value(s: &[Sample], name: &str) -> Option<f64> {
        s.iter().find(|x| x.name == name).map(|x| x.value)
    }

    #[test]
    fn sets_attributes() {
        let i = eth0();
        assert_eq!(i.flags, Some(4099));
        assert_eq!(i.kind, Some(1));
        assert_eq!(i.adminstate(), "up");
        assert_eq!(i.address, "dc:a6:32:01:02:03");
    }

    #[test]
    fn emits_series() {
        let s = run("eth0", &eth0());
        assert_eq!(value(&s, "node_network_up"), Some(1.0));
        assert_eq!(value(&s, "node_network_speed_bytes"), Some(125_000_000.0));
        assert_eq!(value(&s, "node_network_flags"), Some(4099.0));
        assert_eq!(value(&s, "node_network_dormant"), None);
        let info = s.iter().find(|x| x.name == "node_network_info").unwrap();
        assert_eq!(info.labels.get("adminstate"), Some("up"));
        assert_eq!(info.labels.get("duplex"), Some("full"));
        assert_eq!(info.labels.get("ifalias"), Some(""));
        assert_eq!(info.labels.len(), 7);
        let c = s
            .iter()
            .find(|x| x.name == "node_network_carrier_changes_total")
            .unwrap();
        assert_eq!(c.kind, MetricType::Counter);
        assert_eq!(c.value, 3.0);
    }

    #[test]
    fn unknown_speed_and_missing_flags() {
        let mut i = Iface::default();
        i.set("speed", "-1");
        i.set("operstate", "down");
        let s = run("docker0", &i);
        assert_eq!(value(&s, "node_network_speed_bytes"), Some(-125_000.0));
        assert_eq!(value(&s, "node_network_up"), Some(0.0));
        let info = s.iter().find(|x| x.name == "node_network_info").unwrap();
        assert_eq!(info.labels.get("adminstate"), Some("unknown"));
        i.set("flags", "0x1002");
        assert_eq!(i.adminstate(), "down");
    }

    #[test]
    fn garbage_numbers_read_as_zero() {
        let mut i = Iface::default();
        i.set("mtu", "lots");
        i.set("speed", "");
        i.set("flags", "0xzz");
        assert_eq!(i.mtu, Some(0));
        assert_eq!(i.speed, Some(0));
        assert_eq!(i.adminstate(), "down");
        let s = run("x", &i);
        assert_eq!(value(&s, "node_network_mtu_bytes"), Some(0.0));
        // up, info, flags, mtu and speed; nothing else was read.
        assert_eq!(s.len(), 5);
    }
}
