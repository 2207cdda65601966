//! Command line: node_exporter's flags (and haproxy_exporter's), in their
//! spellings ([`SPELLING`], read by picket-core's `cli`), on top of argh.

use std::path::PathBuf;

use argh::FromArgs;

use picket_core::cli::Spelling;

use crate::config::Overrides;

/// How users spell the agent's flags: node_exporter's dotted names
/// (`--web.listen-address=:9100`, `--no-collector.hwmon`); picket's own
/// flags are dashed (`--push-url`).
pub const SPELLING: Spelling = Spelling {
    subcommands: &["once", "check-config", "buffer"],
    switches: &[
        "--web-disable-exporter-metrics",
        "--collector-disable-defaults",
        "--collector-systemd-enable-restarts-metrics",
        "--collector-systemd-enable-task-metrics",
        "--collector-systemd-enable-start-time-metrics",
        "--collector-systemd-private",
        "--haproxy-ssl-verify",
        "--no-haproxy-ssl-verify",
        "--version",
    ],
    collector_switches: true,
    dotted: &[
        "web.config.file",
        "config.file",
        "web.listen-address",
        "web.telemetry-path",
        "web.disable-exporter-metrics",
        "web.max-requests",
        "path.procfs",
        "path.sysfs",
        "path.rootfs",
        "path.udev.data",
        "collector.disable-defaults",
        "collector.textfile.directory",
        "collector.filesystem.mount-points-exclude",
        "collector.filesystem.fs-types-exclude",
        "collector.diskstats.device-exclude",
        "collector.netdev.device-include",
        "collector.netdev.device-exclude",
        "collector.netclass.ignored-devices",
        "collector.vmstat.fields",
        "collector.netstat.fields",
        "collector.systemd.unit-include",
        "collector.systemd.unit-exclude",
        "collector.systemd.unit-whitelist",
        "collector.systemd.unit-blacklist",
        "collector.systemd.enable-restarts-metrics",
        "collector.systemd.enable-task-metrics",
        "collector.systemd.enable-start-time-metrics",
        "collector.systemd.private",
        "log.level",
        "log.format",
        "haproxy.scrape-uri",
        "haproxy.ssl-verify",
        "no-haproxy.ssl-verify",
        "haproxy.timeout",
        "haproxy.server-metric-fields",
        "haproxy.server-exclude-states",
    ],
};

/// picket: a node_exporter-compatible monitoring agent for small ARM boards.
#[derive(FromArgs, Debug, Default)]
pub struct Args {
    /// TOML config file (see configs/agent.toml); flags override it
    #[argh(option)]
    pub config_file: Option<PathBuf>,
    /// address to listen on for /metrics (default ":9100")
    #[argh(option)]
    pub web_listen_address: Option<String>,
    /// path under which to expose metrics (default "/metrics")
    #[argh(option)]
    pub web_telemetry_path: Option<String>,
    /// leave out process_* and picket_build_info
    #[argh(switch)]
    pub web_disable_exporter_metrics: bool,
    /// concurrent scrapes before answering 503 (default 40, 0 = unlimited)
    #[argh(option)]
    pub web_max_requests: Option<usize>,
    /// exporter-toolkit web config file: TLS and/or basic auth (as node_exporter's)
    #[argh(option)]
    pub web_config_file: Option<PathBuf>,
    /// procfs mount point (default "/proc")
    #[argh(option)]
    pub path_procfs: Option<PathBuf>,
    /// sysfs mount point (default "/sys")
    #[argh(option)]
    pub path_sysfs: Option<PathBuf>,
    /// root filesystem mount point (default "/")
    #[argh(option)]
    pub path_rootfs: Option<PathBuf>,
    /// udev database path (default "<rootfs>/run/udev/data")
    #[argh(option)]
    pub path_udev_data: Option<PathBuf>,
    /// turn off all collectors that are on by default
    #[argh(switch)]
    pub collector_disable_defaults: bool,
    /// enable a collector (also spelled --collector.<name>)
    #[argh(option)]
    pub collector: Vec<String>,
    /// disable a collector (also spelled --no-collector.<name>)
    #[argh(option)]
    pub no_collector: Vec<String>,
    /// directory of *.prom files for the textfile collector
    #[argh(option)]
    pub collector_textfile_directory: Option<String>,
    /// regex of mount points the filesystem collector skips
    #[argh(option)]
    pub collector_filesystem_mount_points_exclude: Option<String>,
    /// regex of filesystem types the filesystem collector skips
    #[argh(option)]
    pub collector_filesystem_fs_types_exclude: Option<String>,
    /// regex of block devices the diskstats collector skips
    #[argh(option)]
    pub collector_diskstats_device_exclude: Option<String>,
    /// regex of network devices netdev reports
    #[argh(option)]
    pub collector_netdev_device_include: Option<String>,
    /// regex of network devices netdev skips
    #[argh(option)]
    pub collector_netdev_device_exclude: Option<String>,
    /// regex of network devices netclass skips
    #[argh(option)]
    pub collector_netclass_ignored_devices: Option<String>,
    /// regex of /proc/vmstat fields to report
    #[argh(option)]
    pub collector_vmstat_fields: Option<String>,
    /// regex of netstat fields to report
    #[argh(option)]
    pub collector_netstat_fields: Option<String>,
    /// regex of systemd units to include (anchored; default ".+")
    #[argh(option)]
    pub collector_systemd_unit_include: Option<String>,
    /// regex of systemd units to exclude (anchored; default ".+\\.(automount|device|mount|scope|slice)")
    #[argh(option)]
    pub collector_systemd_unit_exclude: Option<String>,
    /// deprecated spelling of --collector.systemd.unit-include
    #[argh(option)]
    pub collector_systemd_unit_whitelist: Option<String>,
    /// deprecated spelling of --collector.systemd.unit-exclude
    #[argh(option)]
    pub collector_systemd_unit_blacklist: Option<String>,
    /// also report node_systemd_service_restart_total
    #[argh(switch)]
    pub collector_systemd_enable_restarts_metrics: bool,
    /// also report node_systemd_unit_tasks_current and _max
    #[argh(switch)]
    pub collector_systemd_enable_task_metrics: bool,
    /// also report node_systemd_unit_start_time_seconds
    #[argh(switch)]
    pub collector_systemd_enable_start_time_metrics: bool,
    /// talk to systemd on /run/systemd/private instead of the system bus (root only)
    #[argh(switch)]
    pub collector_systemd_private: bool,
    /// log level: debug, info, warn, error (default info)
    #[argh(option)]
    pub log_level: Option<String>,
    /// log format (only "logfmt" is supported)
    #[argh(option)]
    pub log_format: Option<String>,
    /// push to this remote_write URL (repeatable; replaces the file's receivers)
    #[argh(option)]
    pub push_url: Vec<String>,
    /// collection interval for push (default 15s)
    #[argh(option)]
    pub push_interval: Option<String>,
    /// publish to this MQTT broker (mqtt://host[:port] or mqtts://), through the buffer
    #[argh(option)]
    pub mqtt_url: Option<String>,
    /// the job label of every pushed sample (default "node")
    #[argh(option)]
    pub push_job: Option<String>,
    /// the instance label of every pushed sample (default <hostname>:<port of --web.listen-address>)
    #[argh(option)]
    pub push_instance: Option<String>,
    /// directory of the push buffer (default /var/lib/picket/buffer)
    #[argh(option)]
    pub buffer_path: Option<PathBuf>,
    /// HAProxy stats URI, as haproxy_exporter's (repeatable): http(s)://.../;csv, unix:/path or tcp://host:port
    #[argh(option)]
    pub haproxy_scrape_uri: Vec<String>,
    /// verify HAProxy's https certificate (the default)
    #[argh(switch)]
    pub haproxy_ssl_verify: bool,
    /// do not verify HAProxy's https certificate
    #[argh(switch)]
    pub no_haproxy_ssl_verify: bool,
    /// timeout of one HAProxy scrape (default 5s)
    #[argh(option)]
    pub haproxy_timeout: Option<String>,
    /// comma-separated CSV field indexes exported for HAProxy servers (default all)
    #[argh(option)]
    pub haproxy_server_metric_fields: Option<String>,
    /// comma-separated HAProxy server states to leave out
    #[argh(option)]
    pub haproxy_server_exclude_states: Option<String>,
    /// print the version and exit
    #[argh(switch)]
    pub version: bool,
    /// what to do (default: run the agent)
    #[argh(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand)]
pub enum Command {
    /// `picket once`.
    Once(OnceArgs),
    /// `picket check-config FILE`.
    CheckConfig(CheckConfigArgs),
    /// `picket buffer status`.
    Buffer(BufferArgs),
}

/// Inspect the push buffer.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "buffer")]
pub struct BufferArgs {
    /// what to do: "status" (backlog, oldest sample, size on disk per receiver)
    #[argh(positional)]
    pub action: String,
}

/// Print one scrape to stdout and exit.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "once")]
pub struct OnceArgs {}

/// Validate a config file, print the resolved settings and exit (2 when invalid).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "check-config")]
pub struct CheckConfigArgs {
    /// the TOML file to check
    #[argh(positional)]
    pub file: PathBuf,
}

impl Args {
    /// The command-line settings that override the config file.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            log_level: self.log_level.clone(),
            listen_address: self.web_listen_address.clone(),
            telemetry_path: self.web_telemetry_path.clone(),
            disable_exporter_metrics: self.web_disable_exporter_metrics,
            max_requests: self.web_max_requests,
            web_config_file: self.web_config_file.clone(),
            procfs: self.path_procfs.clone(),
            sysfs: self.path_sysfs.clone(),
            rootfs: self.path_rootfs.clone(),
            udev_data: self.path_udev_data.clone(),
            disable_defaults: self.collector_disable_defaults,
            enable: self.collector.clone(),
            disable: self.no_collector.clone(),
            options: self.collector_options(),
            push: crate::push::config::PushFlags {
                urls: self.push_url.clone(),
                interval: self.push_interval.clone(),
                buffer_path: self.buffer_path.clone(),
                mqtt_url: self.mqtt_url.clone(),
                job: self.push_job.clone(),
                instance: self.push_instance.clone(),
            },
            haproxy: self.haproxy_flags(),
            postgres: crate::collect::postgres::Env::from_process(),
            systemd: self.systemd_flags(),
        }
    }

    /// The `--collector.<name>.<option>` values given, by dotted file key.
    fn collector_options(&self) -> Vec<(&'static str, String)> {
        let mut options = Vec::new();
        let mut opt = |key: &'static str, v: &Option<String>| {
            if let Some(v) = v {
                options.push((key, v.clone()));
            }
        };
        opt(
            "collector.textfile.directory",
            &self.collector_textfile_directory,
        );
        opt(
            "collector.filesystem.mount_points_exclude",
            &self.collector_filesystem_mount_points_exclude,
        );
        opt(
            "collector.filesystem.fs_types_exclude",
            &self.collector_filesystem_fs_types_exclude,
        );
        opt(
            "collector.diskstats.device_exclude",
            &self.collector_diskstats_device_exclude,
        );
        opt(
            "collector.netdev.device_include",
            &self.collector_netdev_device_include,
        );
        opt(
            "collector.netdev.device_exclude",
            &self.collector_netdev_device_exclude,
        );
        opt(
            "collector.netclass.ignored_devices",
            &self.collector_netclass_ignored_devices,
        );
        opt("collector.vmstat.fields", &self.collector_vmstat_fields);
        opt("collector.netstat.fields", &self.collector_netstat_fields);
        options
    }

    /// `--haproxy.*`.
    fn haproxy_flags(&self) -> crate::collect::haproxy::Flags {
        crate::collect::haproxy::Flags {
            scrape_uri: self.haproxy_scrape_uri.clone(),
            ssl_verify: if self.no_haproxy_ssl_verify {
                Some(false)
            } else if self.haproxy_ssl_verify {
                Some(true)
            } else {
                None
            },
            timeout: self.haproxy_timeout.clone(),
            server_metric_fields: self.haproxy_server_metric_fields.clone(),
            server_exclude_states: self.haproxy_server_exclude_states.clone(),
        }
    }

    /// `--collector.systemd.*`.
    fn systemd_flags(&self) -> crate::collect::systemd::Flags {
        crate::collect::systemd::Flags {
            unit_include: self.collector_systemd_unit_include.clone(),
            unit_exclude: self.collector_systemd_unit_exclude.clone(),
            unit_whitelist: self.collector_systemd_unit_whitelist.clone(),
            unit_blacklist: self.collector_systemd_unit_blacklist.clone(),
            enable_restarts_metrics: self.collector_systemd_enable_restarts_metrics,
            enable_task_metrics: self.collector_systemd_enable_task_metrics,
            enable_start_time_metrics: self.collector_systemd_enable_start_time_metrics,
            private: self.collector_systemd_private,
        }
    }
}
