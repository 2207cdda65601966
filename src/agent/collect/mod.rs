//! Collectors: read the machine, produce [`Sample`]s.
//!
//! One collector per file, named and defaulted as in node_exporter. The
//! [`ALL`] table is the registry (Rust has no `init()`): name, on by default
//! or not, and the update function. [`Scraper::collect`] runs the enabled
//! ones and, like node_exporter, wraps each in
//! `node_scrape_collector_duration_seconds` and
//! `node_scrape_collector_success`: a failing collector reports 0 and logs
//! why, and the scrape always carries on.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use regex_lite::Regex;

use picket_core::metric::Sample;

pub use picket_core::metric::Out;

pub(crate) mod root;
pub use root::Root;

mod arp;
mod conntrack;
mod cpu;
mod cpufreq;
pub(crate) mod deadline;
mod diskstats;
mod entropy;
pub(crate) mod exporter;
mod filefd;
mod filesystem;
pub(crate) mod haproxy;
mod hwmon;
mod interrupts;
mod loadavg;
mod meminfo;
mod netclass;
mod netdev;
mod netstat;
pub(crate) mod postgres;
mod powersupplyclass;
mod pressure;
mod processes;
pub(crate) mod relay;
mod rpi;
mod schedstat;
mod sockstat;
mod softnet;
mod stat;
pub(crate) mod systemd;
mod tcpstat;
mod textfile;
mod thermal_zone;
mod time;
pub(crate) mod timex;
mod udp_queues;
mod uname;
mod vmstat;

/// A collector's update function: read through `ctx`, write into `out`.
pub(crate) type UpdateFn = fn(&Ctx<'_>, &mut Out<'_>) -> Result<(), CollectError>;

/// One entry of the collector registry.
#[derive(Debug)]
pub struct Def {
    /// The name used in flags (`--collector.<name>`) and in `{collector}` labels.
    pub name: &'static str,
    /// On unless disabled, as in node_exporter.
    pub default: bool,
    /// The collector itself.
    pub update: UpdateFn,
}

macro_rules! def {
    ($name:ident, $default:expr) => {
        Def {
            name: stringify!($name),
            default: $default,
            update: $name::update,
        }
    };
}

/// Every collector, in name order.
pub(crate) const ALL: &[Def] = &[
    def!(arp, true),
    def!(conntrack, true),
    def!(cpu, true),
    def!(cpufreq, true),
    def!(diskstats, true),
    def!(entropy, true),
    def!(filefd, true),
    def!(filesystem, true),
    def!(haproxy, false),
    def!(hwmon, true),
    def!(interrupts, false),
    def!(loadavg, true),
    def!(meminfo, true),
    def!(netclass, true),
    def!(netdev, true),
    def!(netstat, true),
    def!(postgres, false),
    def!(powersupplyclass, true),
    def!(pressure, true),
    def!(processes, false),
    def!(relay, false),
    def!(rpi, false),
    def!(schedstat, true),
    def!(sockstat, true),
    def!(softnet, true),
    def!(stat, true),
    def!(systemd, false),
    def!(tcpstat, false),
    def!(textfile, true),
    def!(thermal_zone, true),
    def!(time, true),
    def!(timex, true),
    def!(udp_queues, true),
    def!(uname, true),
    def!(vmstat, true),
];

/// Looks a collector up by name.
pub(crate) fn find(name: &str) -> Option<&'static Def> {
    ALL.iter().find(|d| d.name == name)
}

/// A filter regex that remembers its answers.
///
/// The names it is asked about (devices, mount points, the ~400 netstat
/// fields) are the same every scrape, and regex-lite trades match speed for
/// size: without the memo, matching was a third of a scrape's CPU time.
#[derive(Debug)]
pub struct Matcher {
    re: Regex,
    memo: std::sync::Mutex<std::collections::HashMap<Box<str>, bool>>,
}

/// Remembered answers before the memo starts over (device names can churn:
/// veth pairs, mounts of containers).
const MEMO_MAX: usize = 4096;

impl Matcher {
    /// Compiles `pattern`.
    pub(crate) fn new(pattern: &str) -> Result<Matcher, regex_lite::Error> {
        Regex::new(pattern).map(Matcher::from)
    }

    /// Whether the pattern matches `s` (unanchored, like Go's MatchString).
    pub(crate) fn is_match(&self, s: &str) -> bool {
        if let Ok(memo) = self.memo.lock() {
            if let Some(&hit) = memo.get(s) {
                return hit;
            }
        }
        let hit = self.re.is_match(s);
        if let Ok(mut memo) = self.memo.lock() {
            if memo.len() >= MEMO_MAX {
                memo.clear();
            }
            memo.insert(s.into(), hit);
        }
        hit
    }
}

impl From<Regex> for Matcher {
    fn from(re: Regex) -> Matcher {
        Matcher {
            re,
            memo: Default::default(),
        }
    }
}

impl Clone for Matcher {
    fn clone(&self) -> Matcher {
        Matcher::from(self.re.clone())
    }
}

/// Options of individual collectors (node_exporter's `--collector.<name>.<option>` flags).
#[derive(Clone, Debug)]
pub struct Options {
    /// Directory of `*.prom` files for the textfile collector; none = inert.
    pub textfile_directory: Option<PathBuf>,
    /// Mount points the filesystem collector skips.
    pub filesystem_mount_points_exclude: Matcher,
    /// Filesystem types the filesystem collector skips.
    pub filesystem_fs_types_exclude: Matcher,
    /// Block devices the diskstats collector skips.
    pub diskstats_device_exclude: Matcher,
    /// Network devices netdev reports (all when none).
    pub netdev_device_include: Option<Matcher>,
    /// Network devices netdev skips.
    pub netdev_device_exclude: Option<Matcher>,
    /// Network devices netclass skips.
    pub netclass_ignored_devices: Matcher,
    /// /proc/vmstat fields reported.
    pub vmstat_fields: Matcher,
    /// /proc/net/{netstat,snmp,snmp6} fields reported.
    pub netstat_fields: Matcher,
    /// HAProxy instances (`[[haproxy]]`, `--haproxy.scrape-uri`).
    pub haproxy: Vec<std::sync::Arc<haproxy::Target>>,
    /// PostgreSQL servers (`[[postgres]]`, `DATA_SOURCE_NAME`).
    pub postgres: Vec<std::sync::Arc<postgres::Target>>,
    /// Relayed endpoints (`[[relay]]`).
    pub relay: Vec<std::sync::Arc<relay::Target>>,
    /// The systemd collector's settings (`[collector.systemd]`, `--collector.systemd.*`).
    pub systemd: std::sync::Arc<systemd::Settings>,
}

/// node_exporter 1.x defaults for the collector options.
pub(crate) mod defaults {
    /// `--collector.filesystem.mount-points-exclude`.
    pub(crate) const FS_MOUNT_POINTS_EXCLUDE: &str =
        "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
    /// `--collector.filesystem.fs-types-exclude`.
    pub(crate) const FS_TYPES_EXCLUDE: &str = "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$";
    /// `--collector.diskstats.device-exclude`.
    pub(crate) const DISKSTATS_DEVICE_EXCLUDE: &str =
        "^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\\d+n\\d+p)\\d+$";
    /// `--collector.netclass.ignored-devices`.
    pub(crate) const NETCLASS_IGNORED_DEVICES: &str = "^$";
    /// `--collector.vmstat.fields`.
    pub(crate) const VMSTAT_FIELDS: &str = "^(oom_kill|pgpg|pswp|pg.*fault).*";
    /// `--collector.netstat.fields`.
    pub(crate) const NETSTAT_FIELDS: &str = "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts|TCPOFOQueue|TCPRcvQDrop)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$";
}

impl Default for Options {
    fn default() -> Options {
        // These patterns are constants checked by a unit test; failing to
        // compile one is a programming error, not bad input.
        let re = |s: &str| Matcher::new(s).expect("built-in regex");
        Options {
            textfile_directory: None,
            filesystem_mount_points_exclude: re(defaults::FS_MOUNT_POINTS_EXCLUDE),
            filesystem_fs_types_exclude: re(defaults::FS_TYPES_EXCLUDE),
            diskstats_device_exclude: re(defaults::DISKSTATS_DEVICE_EXCLUDE),
            netdev_device_include: None,
            netdev_device_exclude: None,
            netclass_ignored_devices: re(defaults::NETCLASS_IGNORED_DEVICES),
            vmstat_fields: re(defaults::VMSTAT_FIELDS),
            netstat_fields: re(defaults::NETSTAT_FIELDS),
            haproxy: Vec::new(),
            postgres: Vec::new(),
            relay: Vec::new(),
            systemd: Default::default(),
        }
    }
}

/// What a collector sees: the root paths and its options.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// Where to read from.
    pub root: &'a Root,
    /// Collector options.
    pub opts: &'a Options,
}

/// Why a collector produced nothing (or only part of its output).
#[derive(Debug)]
pub enum CollectError {
    /// The data is not there on this machine (e.g. PSI disabled). Like
    /// node_exporter's ErrNoData: success 0, logged at debug level only.
    NoData(String),
    /// Something failed: unreadable or malformed input.
    Failed(String),
}

impl CollectError {
    /// An I/O error on `path`; a missing file counts as [`CollectError::NoData`].
    pub(crate) fn io(path: &Path, e: io::Error) -> CollectError {
        let msg = format!("{}: {}", path.display(), e);
        if e.kind() == io::ErrorKind::NotFound {
            CollectError::NoData(msg)
        } else {
            CollectError::Failed(msg)
        }
    }

    /// Malformed content in `path`.
    pub(crate) fn parse(path: &Path, what: impl fmt::Display) -> CollectError {
        CollectError::Failed(format!("{}: {}", path.display(), what))
    }
}

impl fmt::Display for CollectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CollectError::NoData(m) => write!(f, "no data: {m}"),
            CollectError::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CollectError {}

/// Which collectors a scrape runs (`?collect[]=` / `?exclude[]=`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Filter {
    /// Only these, when non-empty.
    pub collect: Vec<String>,
    /// Never these.
    pub exclude: Vec<String>,
}

/// The enabled collectors plus what they need: one per agent, shared by all scrapes.
#[derive(Debug)]
pub(crate) struct Scraper {
    /// Root paths.
    pub root: Root,
    /// Collector options.
    pub opts: Options,
    /// Enabled collectors, in name order.
    pub enabled: Vec<&'static Def>,
    /// Whether to add the agent's own metrics (`process_*`,
    /// `picket_build_info` and the push outputs').
    pub exporter_metrics: bool,
    /// The push outputs' metrics (none when push is off), given by whoever
    /// started them.
    pub outputs: Vec<std::sync::Arc<dyn picket_forward::telemetry::Report>>,
}

impl Scraper {
    /// Checks a filter against the enabled collectors, as node_exporter does
    /// (a name that is not enabled is an error, reported as HTTP 400).
    pub(crate) fn check_filter(&self, f: &Filter) -> Result<(), String> {
        for name in f.collect.iter().chain(&f.exclude) {
            if !self.enabled.iter().any(|d| d.name == name) {
                return Err(format!("missing collector: {name}"));
            }
        }
        Ok(())
    }

    /// Runs every enabled collector the filter lets through, appending to `samples`.
    pub(crate) fn collect(&self, filter: &Filter, samples: &mut Vec<Sample>) {
        let ctx = Ctx {
            root: &self.root,
            opts: &self.opts,
        };
        for def in &self.enabled {
            if (!filter.collect.is_empty() && !filter.collect.iter().any(|n| n == def.name))
                || filter.exclude.iter().any(|n| n == def.name)
            {
                continue;
            }
            run_one(def, &ctx, samples);
        }
        if self.exporter_metrics {
            exporter::collect(&mut Out::new(samples), &self.outputs);
        }
    }
}

/// Runs one collector and adds its scrape-duration and success samples.
pub(crate) fn run_one(def: &Def, ctx: &Ctx<'_>, samples: &mut Vec<Sample>) {
    let start = Instant::now();
    let result = (def.update)(ctx, &mut Out::new(samples));
    let secs = start.elapsed().as_secs_f64();
    let ok = match result {
        Ok(()) => {
            log::debug!("collector {} succeeded in {:.6}s", def.name, secs);
            true
        }
        Err(CollectError::NoData(m)) => {
            log::debug!("collector {} returned no data: {}", def.name, m);
            false
        }
        Err(e) => {
            log::error!("collector {} failed after {:.6}s: {}", def.name, secs, e);
            false
        }
    };
    let mut out = Out::new(samples);
    out.gauge(
        "node_scrape_collector_duration_seconds",
        "node_exporter: Duration of a collector scrape.",
        &[("collector", def.name)],
        secs,
    );
    out.gauge(
        "node_scrape_collector_success",
        "node_exporter: Whether a collector succeeded.",
        &[("collector", def.name)],
        if ok { 1.0 } else { 0.0 },
    );
}

/// Parses like Go's `strconv.ParseInt(s, 0, 64)`: optional sign, then a
/// `0x`/`0o`/`0b` prefix or a leading `0` for octal, else decimal; `_`
/// allowed only as a digit separator.
pub(crate) fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let b = body.as_bytes();
    let (radix, digits) = match (b.first(), b.get(1).map(u8::to_ascii_lowercase)) {
        (None, _) => return None,
        (Some(b'0'), Some(p @ (b'b' | b'o' | b'x'))) if b.len() >= 3 => (
            match p {
                b'b' => 2,
                b'o' => 8,
                _ => 16,
            },
            &body[2..],
        ),
        (Some(b'0'), _) => (8, &body[1..]),
        _ => (10, body),
    };
    let mut underscores = false;
    let mut n: u64 = 0;
    for c in digits.chars() {
        if c == '_' {
            underscores = true;
            continue;
        }
        let d = c.to_digit(radix)?;
        n = n.checked_mul(u64::from(radix))?.checked_add(u64::from(d))?;
    }
    if underscores && !underscore_ok(body) {
        return None;
    }
    if neg {
        0i64.checked_sub_unsigned(n)
    } else {
        i64::try_from(n).ok()
    }
}

/// Go's rule for `_` in integer literals: only between digits, or right
/// after a base prefix.
fn underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1].eq_ignore_ascii_case(&b'x');
    }
    for &c in b.iter().skip(i) {
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
    }
    saw != b'_'
}

/// Parses a decimal field, naming the file in the error.
pub(crate) fn parse_u64(path: &Path, field: &str) -> Result<u64, CollectError> {
    field
        .trim()
        .parse()
        .map_err(|_| CollectError::parse(path, format!("invalid number {field:?}")))
}

/// Test support: runs one collector on a fixture tree under tests/fixtures
/// and renders its samples as `name{k=v,...} value` lines in exposition order.
#[cfg(test)]
pub(crate) fn run_on_fixture(
    board: &str,
    update: UpdateFn,
) -> (Result<(), CollectError>, Vec<String>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(board);
    let root = Root {
        procfs: dir.join("proc"),
        sysfs: dir.join("sys"),
        rootfs: dir.join("rootfs"),
        udev_data: None,
    };
    let opts = Options::default();
    let ctx = Ctx {
        root: &root,
        opts: &opts,
    };
    let mut samples = Vec::new();
    let result = update(&ctx, &mut Out::new(&mut samples));
    samples.sort_by(|a, b| a.exposition_cmp(b));
    let lines = samples
        .iter()
        .map(|s| {
            let l: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{}{{{}}} {}", s.name, l.join(","), s.value)
        })
        .collect();
    (result, lines)
}
