//! Agent configuration: the TOML file, node_exporter's flags, and the
//! resolved settings the agent runs on.
//!
//! Two phases, as ripgrep does it: [`FileConfig`] mirrors the file as
//! closely as possible (serde, unknown keys rejected), and [`AgentConfig`]
//! is the checked result with compiled regexes and the collector list.
//! Precedence: embedded defaults < config file < command-line flags.
//! Every error names the file, the line and the dotted key.

use std::path::{Path, PathBuf};

use log::LevelFilter;
use regex_lite::Regex;
use serde::Deserialize;

use picket_core::config::{check_listen, read_toml, ConfigError, Locator};

use crate::collect::{self, Def, Options, Root};

/// The config file, as written. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// `[log]`.
    pub log: LogSection,
    /// `[web]`.
    pub web: WebSection,
    /// `[paths]`.
    pub paths: PathsSection,
    /// `[collectors]`.
    pub collectors: CollectorsSection,
    /// `[collector.<name>]` option tables.
    pub collector: CollectorOptionsSection,
    /// `[push]`: remote_write and the buffer.
    pub push: crate::push::config::PushSection,
    /// `[[haproxy]]`: HAProxy instances.
    pub haproxy: Vec<collect::haproxy::Section>,
    /// `[[postgres]]`: PostgreSQL servers.
    pub postgres: Vec<collect::postgres::Section>,
    /// `[[relay]]`: other /metrics endpoints on the board.
    pub relay: Vec<collect::relay::Section>,
}

/// `[log]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// `debug`, `info`, `warn` or `error`.
    pub level: Option<String>,
}

/// `[web]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSection {
    /// `host:port` or `:port`.
    pub listen_address: Option<String>,
    /// Path of the metrics endpoint.
    pub telemetry_path: Option<String>,
    /// Leave out `process_*` and `picket_build_info`.
    pub disable_exporter_metrics: Option<bool>,
    /// Concurrent scrapes before 503.
    pub max_requests: Option<usize>,
    /// Seconds a client has to send its request headers.
    pub read_timeout_seconds: Option<u64>,
    /// exporter-toolkit's web config file (TLS, basic auth), as
    /// `--web.config.file`.
    pub config_file: Option<PathBuf>,
}

/// `[paths]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PathsSection {
    /// procfs mount point.
    pub procfs: Option<PathBuf>,
    /// sysfs mount point.
    pub sysfs: Option<PathBuf>,
    /// Root filesystem mount point.
    pub rootfs: Option<PathBuf>,
    /// udev database directory.
    pub udev_data: Option<PathBuf>,
}

/// `[collectors]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorsSection {
    /// Start from no collectors instead of the default set.
    pub disable_defaults: Option<bool>,
    /// Collectors to turn on.
    pub enable: Vec<String>,
    /// Collectors to turn off.
    pub disable: Vec<String>,
}

/// `[collector.*]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorOptionsSection {
    /// `[collector.textfile]`.
    pub textfile: TextfileOptions,
    /// `[collector.filesystem]`.
    pub filesystem: FilesystemOptions,
    /// `[collector.diskstats]`.
    pub diskstats: DiskstatsOptions,
    /// `[collector.netdev]`.
    pub netdev: NetdevOptions,
    /// `[collector.netclass]`.
    pub netclass: NetclassOptions,
    /// `[collector.vmstat]`.
    pub vmstat: FieldsOptions,
    /// `[collector.netstat]`.
    pub netstat: FieldsOptions,
    /// `[collector.systemd]`.
    pub systemd: collect::systemd::Section,
}

/// `[collector.textfile]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TextfileOptions {
    /// Directory of `*.prom` files.
    pub directory: Option<PathBuf>,
}

/// `[collector.filesystem]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesystemOptions {
    /// Regex of mount points to skip.
    pub mount_points_exclude: Option<String>,
    /// Regex of filesystem types to skip.
    pub fs_types_exclude: Option<String>,
}

/// `[collector.diskstats]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiskstatsOptions {
    /// Regex of block devices to skip.
    pub device_exclude: Option<String>,
}

/// `[collector.netdev]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetdevOptions {
    /// Regex of devices to report (all when unset).
    pub device_include: Option<String>,
    /// Regex of devices to skip.
    pub device_exclude: Option<String>,
}

/// `[collector.netclass]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetclassOptions {
    /// Regex of devices to skip.
    pub ignored_devices: Option<String>,
}

/// `[collector.vmstat]` and `[collector.netstat]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FieldsOptions {
    /// Regex of fields to report.
    pub fields: Option<String>,
}

/// What the agent runs on, after defaults, file and flags are merged and checked.
#[derive(Debug)]
pub struct AgentConfig {
    /// Log level.
    pub log_level: LevelFilter,
    /// Listen address as given (`:9100`, `127.0.0.1:9100`, `[::1]:9100`).
    pub listen_address: String,
    /// Metrics path.
    pub telemetry_path: String,
    /// Whether `process_*` and `picket_build_info` are served.
    pub exporter_metrics: bool,
    /// Concurrent scrapes allowed (0 = unlimited).
    pub max_requests: usize,
    /// Header read timeout, seconds.
    pub read_timeout_seconds: u64,
    /// The web config file (`--web.config.file`), checked when the config
    /// is read.
    pub web_config_file: Option<PathBuf>,
    /// Root paths.
    pub root: Root,
    /// Collector options.
    pub opts: Options,
    /// Enabled collectors, in name order.
    pub enabled: Vec<&'static Def>,
    /// The push side (off when it has no receivers).
    pub push: crate::push::PushConfig,
}

/// Defaults: node_exporter's.
pub(crate) const DEFAULT_LISTEN: &str = ":9100";
/// Default metrics path.
pub(crate) const DEFAULT_TELEMETRY_PATH: &str = "/metrics";
/// node_exporter's `--web.max-requests` default.
pub(crate) const DEFAULT_MAX_REQUESTS: usize = 40;

/// Settings given on the command line, which override the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--log.level`.
    pub log_level: Option<String>,
    /// `--web.listen-address`.
    pub listen_address: Option<String>,
    /// `--web.telemetry-path`.
    pub telemetry_path: Option<String>,
    /// `--web.disable-exporter-metrics`.
    pub disable_exporter_metrics: bool,
    /// `--web.max-requests`.
    pub max_requests: Option<usize>,
    /// `--web.config.file`.
    pub web_config_file: Option<PathBuf>,
    /// `--path.procfs`.
    pub procfs: Option<PathBuf>,
    /// `--path.sysfs`.
    pub sysfs: Option<PathBuf>,
    /// `--path.rootfs`.
    pub rootfs: Option<PathBuf>,
    /// `--path.udev.data`.
    pub udev_data: Option<PathBuf>,
    /// `--collector.disable-defaults`.
    pub disable_defaults: bool,
    /// `--collector.<name>`.
    pub enable: Vec<String>,
    /// `--no-collector.<name>`.
    pub disable: Vec<String>,
    /// `--collector.<name>.<option>` values, keyed by their dotted file key
    /// (`collector.textfile.directory`).
    pub options: Vec<(&'static str, String)>,
    /// `--push-url`, `--push-interval`, `--buffer-path`.
    pub push: crate::push::config::PushFlags,
    /// `--haproxy.*` (haproxy_exporter's flags).
    pub haproxy: collect::haproxy::Flags,
    /// `DATA_SOURCE_NAME` and friends (postgres_exporter's environment).
    pub postgres: collect::postgres::Env,
    /// `--collector.systemd.*`.
    pub systemd: collect::systemd::Flags,
}

/// Loads and parses a config file (without merging).
pub fn read_file(path: &Path) -> Result<(String, FileConfig), ConfigError> {
    read_toml(path)
}

/// Merges defaults, an optional file and the flags, and checks the result:
/// each section resolves itself, against one [`Locator`] for the file.
pub fn resolve(
    file: Option<(&Path, &str, FileConfig)>,
    ov: &Overrides,
) -> Result<AgentConfig, ConfigError> {
    let (path, src, fc) = match file {
        Some((p, s, fc)) => (Some(p), s, fc),
        None => (None, "", FileConfig::default()),
    };
    // Errors about a file key point at its line; errors about a flag name the flag.
    let loc = Locator::new(path, src);
    let log_level = fc.log.resolve(ov, &loc)?;
    let web = fc.web.resolve(ov, &loc)?;
    let root = fc.paths.resolve(ov);
    let mut enabled = fc.collectors.resolve(ov, &loc)?;
    let mut opts = fc.collector.resolve(ov, &loc)?;
    opts.haproxy = collect::haproxy::resolve(&fc.haproxy, &ov.haproxy, &loc)?;
    opts.postgres = collect::postgres::resolve(&fc.postgres, &ov.postgres, &loc)?;
    opts.relay = collect::relay::resolve(&fc.relay, &loc)?;
    opts.systemd = collect::systemd::resolve(&fc.collector.systemd, &ov.systemd, &loc)?;
    fc.collectors.add_targeted(ov, &opts, &mut enabled);
    let push = crate::push::config::resolve(&fc.push, &ov.push, &web.listen_address)
        .map_err(|e| loc.keyed(e))?;
    Ok(AgentConfig {
        push,
        log_level,
        listen_address: web.listen_address,
        telemetry_path: web.telemetry_path,
        exporter_metrics: web.exporter_metrics,
        max_requests: web.max_requests,
        read_timeout_seconds: web.read_timeout_seconds,
        web_config_file: web.config_file,
        root,
        opts,
        enabled,
    })
}

impl LogSection {
    /// The level: the flag's, else the file's, else `info`.
    fn resolve(&self, ov: &Overrides, loc: &Locator<'_>) -> Result<LevelFilter, ConfigError> {
        let unknown = |l: &str| format!("unknown level {l:?} (debug, info, warn, error)");
        Ok(match (&ov.log_level, &self.level) {
            (Some(l), _) => picket_core::logger::parse_level(l)
                .ok_or_else(|| loc.flag("--log.level", unknown(l)))?,
            (None, Some(l)) => picket_core::logger::parse_level(l)
                .ok_or_else(|| loc.key("log.level", unknown(l)))?,
            (None, None) => LevelFilter::Info,
        })
    }
}

/// `[web]`, resolved: the fields of [`AgentConfig`] it gives.
struct Web {
    listen_address: String,
    telemetry_path: String,
    exporter_metrics: bool,
    max_requests: usize,
    read_timeout_seconds: u64,
    config_file: Option<PathBuf>,
}

impl WebSection {
    /// Flags over the file over node_exporter's defaults.
    fn resolve(&self, ov: &Overrides, loc: &Locator<'_>) -> Result<Web, ConfigError> {
        let listen_address = match (&ov.listen_address, &self.listen_address) {
            (Some(a), _) => {
                check_listen(a).map_err(|m| loc.flag("--web.listen-address", m))?;
                a.clone()
            }
            (None, Some(a)) => {
                check_listen(a).map_err(|m| loc.key("web.listen_address", m))?;
                a.clone()
            }
            (None, None) => DEFAULT_LISTEN.to_string(),
        };
        let telemetry_path = match (&ov.telemetry_path, &self.telemetry_path) {
            (Some(p), _) if !p.starts_with('/') => {
                return Err(loc.flag("--web.telemetry-path", format!("{p:?} must start with '/'")))
            }
            (None, Some(p)) if !p.starts_with('/') => {
                return Err(loc.key("web.telemetry_path", format!("{p:?} must start with '/'")))
            }
            (Some(p), _) | (None, Some(p)) => p.clone(),
            (None, None) => DEFAULT_TELEMETRY_PATH.to_string(),
        };
        let read_timeout_seconds = self.read_timeout_seconds.unwrap_or(10);
        if read_timeout_seconds == 0 {
            return Err(loc.key("web.read_timeout_seconds", "must be at least 1".into()));
        }
        // The web config is read here, its certificates and keys too, so a
        // bad one stops the agent (exit 2, `check-config` included) with its
        // file, line and key before anything listens.
        let config_file = ov
            .web_config_file
            .clone()
            .or_else(|| self.config_file.clone());
        if let Some(f) = &config_file {
            picket_core::web::Web::open(Some(f))?;
        }
        Ok(Web {
            config_file,
            listen_address,
            telemetry_path,
            exporter_metrics: !(ov.disable_exporter_metrics
                || self.disable_exporter_metrics.unwrap_or(false)),
            max_requests: ov
                .max_requests
                .or(self.max_requests)
                .unwrap_or(DEFAULT_MAX_REQUESTS),
            read_timeout_seconds,
        })
    }
}

impl PathsSection {
    /// Each mount point: the flag's, else the file's, else the default.
    fn resolve(self, ov: &Overrides) -> Root {
        let d = Root::default();
        Root {
            procfs: ov.procfs.clone().or(self.procfs).unwrap_or(d.procfs),
            sysfs: ov.sysfs.clone().or(self.sysfs).unwrap_or(d.sysfs),
            rootfs: ov.rootfs.clone().or(self.rootfs).unwrap_or(d.rootfs),
            udev_data: ov.udev_data.clone().or(self.udev_data),
        }
    }
}

impl CollectorsSection {
    /// The collectors on, in name order: defaults (unless disabled), then
    /// the file's lists, then the flags'.
    fn resolve(&self, ov: &Overrides, loc: &Locator<'_>) -> Result<Vec<&'static Def>, ConfigError> {
        let mut on: Vec<&'static Def> = Vec::new();
        if !(ov.disable_defaults || self.disable_defaults.unwrap_or(false)) {
            on.extend(collect::ALL.iter().filter(|d| d.default));
        }
        let lookup = |name: &str| {
            collect::find(name).ok_or_else(|| {
                let names: Vec<_> = collect::ALL.iter().map(|d| d.name).collect();
                format!("unknown collector {name:?} (known: {})", names.join(", "))
            })
        };
        for name in &self.enable {
            on.push(lookup(name).map_err(|m| loc.key("collectors.enable", m))?);
        }
        for name in &self.disable {
            let d = lookup(name).map_err(|m| loc.key("collectors.disable", m))?;
            on.retain(|x| x.name != d.name);
        }
        for name in &ov.enable {
            on.push(lookup(name).map_err(|m| loc.flag(&format!("--collector.{name}"), m))?);
        }
        for name in &ov.disable {
            let d = lookup(name).map_err(|m| loc.flag(&format!("--no-collector.{name}"), m))?;
            on.retain(|x| x.name != d.name);
        }
        on.sort_by_key(|d| d.name);
        on.dedup_by_key(|d| d.name);
        Ok(on)
    }

    /// Network collectors are on when they have targets (as the exporters
    /// they replace were, once started), unless the file or a flag turns
    /// them off.
    fn add_targeted(&self, ov: &Overrides, opts: &Options, on: &mut Vec<&'static Def>) {
        let off = |name: &str| {
            self.disable.iter().any(|n| n == name) || ov.disable.iter().any(|n| n == name)
        };
        for (name, has) in [
            ("haproxy", !opts.haproxy.is_empty()),
            ("postgres", !opts.postgres.is_empty()),
            ("relay", !opts.relay.is_empty()),
        ] {
            if has && !off(name) && !on.iter().any(|d| d.name == name) {
                on.extend(collect::find(name));
            }
        }
        on.sort_by_key(|d| d.name);
    }
}

impl CollectorOptionsSection {
    /// The filters and the textfile directory: flag value, else file value,
    /// else node_exporter's default. (`[collector.systemd]` resolves in
    /// its collector.)
    fn resolve(&self, ov: &Overrides, loc: &Locator<'_>) -> Result<Options, ConfigError> {
        let pick =
            |key: &'static str, file_val: &Option<String>| option_regex(key, file_val, ov, loc);
        let mut opts = Options::default();
        if let Some(r) = pick(
            "collector.filesystem.mount_points_exclude",
            &self.filesystem.mount_points_exclude,
        )? {
            opts.filesystem_mount_points_exclude = r.into();
        }
        if let Some(r) = pick(
            "collector.filesystem.fs_types_exclude",
            &self.filesystem.fs_types_exclude,
        )? {
            opts.filesystem_fs_types_exclude = r.into();
        }
        if let Some(r) = pick(
            "collector.diskstats.device_exclude",
            &self.diskstats.device_exclude,
        )? {
            opts.diskstats_device_exclude = r.into();
        }
        // An empty include means "all", an empty exclude "none": both are no filter.
        let unset_if_empty = |r: Option<Regex>| r.filter(|r| r.as_str() != NEVER).map(Into::into);
        opts.netdev_device_include = unset_if_empty(pick(
            "collector.netdev.device_include",
            &self.netdev.device_include,
        )?);
        opts.netdev_device_exclude = unset_if_empty(pick(
            "collector.netdev.device_exclude",
            &self.netdev.device_exclude,
        )?);
        if let Some(r) = pick(
            "collector.netclass.ignored_devices",
            &self.netclass.ignored_devices,
        )? {
            opts.netclass_ignored_devices = r.into();
        }
        if let Some(r) = pick("collector.vmstat.fields", &self.vmstat.fields)? {
            opts.vmstat_fields = r.into();
        }
        if let Some(r) = pick("collector.netstat.fields", &self.netstat.fields)? {
            opts.netstat_fields = r.into();
        }
        opts.textfile_directory = option_flag(ov, "collector.textfile.directory")
            .map(PathBuf::from)
            .or_else(|| self.textfile.directory.clone())
            .filter(|p| !p.as_os_str().is_empty());
        Ok(opts)
    }
}

/// The last `--collector.<name>.<option>` given for the dotted `key`.
fn option_flag<'a>(ov: &'a Overrides, key: &str) -> Option<&'a String> {
    ov.options
        .iter()
        .rev()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// A regex option: the flag's value, else the file's; an empty filter
/// (not `fields`) is one that matches nothing, as in node_exporter.
fn option_regex(
    key: &'static str,
    file_val: &Option<String>,
    ov: &Overrides,
    loc: &Locator<'_>,
) -> Result<Option<Regex>, ConfigError> {
    let (val, from_flag) = match option_flag(ov, key) {
        Some(v) => (Some(v.clone()), true),
        None => (file_val.clone(), false),
    };
    match val {
        // An empty value unsets the filter, as in node_exporter.
        Some(v) if v.is_empty() && !key.ends_with(".fields") => Ok(Some(never_matches())),
        None => Ok(None),
        Some(v) => Regex::new(&v).map(Some).map_err(|e| {
            let msg = format!("invalid regex {v:?}: {e}");
            if from_flag {
                loc.flag(&format!("--{}", key.replace('_', "-")), msg)
            } else {
                loc.key(key, msg)
            }
        }),
    }
}

/// A regex that matches no string, standing for an exclude filter set to "".
const NEVER: &str = "[^\\s\\S]";

fn never_matches() -> Regex {
    // A constant pattern; compiling it cannot fail.
    Regex::new(NEVER).expect("constant regex")
}

/// For the collectors' unit tests of their section resolvers.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::Path;

    use picket_core::config::{ConfigError, Locator};

    /// A locator for a file (without text), so an error about a file key
    /// names a file and one about a flag does not.
    pub fn loc() -> Locator<'static> {
        Locator::new(Some(Path::new("picket.toml")), "")
    }

    /// An error from [`loc`] taken apart: (key or flag, message, from a flag).
    pub fn parts(e: ConfigError) -> (String, String, bool) {
        (e.key.unwrap_or_default(), e.msg, e.file.is_none())
    }
}
