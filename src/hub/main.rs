//! `picket-hub`: the aggregator binary. Parses Prometheus's flag spellings,
//! maps errors to exit codes: 0 success, 1 runtime failure (cannot listen,
//! cannot open the store), 2 bad flags or config.

use std::path::PathBuf;
use std::process::ExitCode;

use argh::FromArgs;
use picket_core::{cli, logger};
use picket_hub::config::{self, Flags};
use picket_hub::rules;
use picket_hub::server;

/// How users spell the hub's flags: Prometheus's dotted names
/// (`--storage.tsdb.path`); picket's own are dashed (`--mqtt-url`).
const SPELLING: cli::Spelling = cli::Spelling {
    subcommands: &["check-rules", "check-config", "backup"],
    switches: &["--version", "--web-enable-admin-api"],
    collector_switches: false,
    dotted: &[
        "web.config.file",
        "web.enable-admin-api",
        "alertmanager.config.file",
        "config.file",
        "hub.config.file",
        "web.listen-address",
        "web.external-url",
        "storage.tsdb.path",
        "storage.tsdb.retention.time",
        "storage.tsdb.retention.size",
        "query.timeout",
        "query.max-samples",
        "query.lookback-delta",
        "query.max-series",
        "log.level",
    ],
};

/// picket-hub: stores what picket agents push (remote_write) and scrapes,
/// and answers the Prometheus HTTP API.
#[derive(FromArgs, Debug)]
struct Args {
    /// prometheus.yml, or the hub's TOML (configs/hub.toml); flags override it
    #[argh(option)]
    config_file: Option<PathBuf>,
    /// the hub's own sections (storage tuning, MQTT, notifications, ...) in TOML, beside a prometheus.yml given as --config.file
    #[argh(option)]
    hub_config_file: Option<PathBuf>,
    /// address to listen on (default ":9090")
    #[argh(option)]
    web_listen_address: Option<String>,
    /// exporter-toolkit web config file: TLS and/or basic auth on every endpoint (as Prometheus's)
    #[argh(option)]
    web_config_file: Option<PathBuf>,
    /// directory of the database (default "data")
    #[argh(option)]
    storage_tsdb_path: Option<String>,
    /// how long to keep samples (default "15d")
    #[argh(option)]
    storage_tsdb_retention_time: Option<String>,
    /// most bytes the database may use, e.g. "5GB" (default: no limit)
    #[argh(option)]
    storage_tsdb_retention_size: Option<String>,
    /// longest a query may run (default "2m")
    #[argh(option)]
    query_timeout: Option<String>,
    /// most samples one query may load (default 20000000)
    #[argh(option)]
    query_max_samples: Option<String>,
    /// how far back an instant selector looks (default "5m")
    #[argh(option)]
    query_lookback_delta: Option<String>,
    /// most series one selector may match (default 100000)
    #[argh(option)]
    query_max_series: Option<String>,
    /// subscribe to this MQTT broker (mqtt://host[:port] or mqtts://) for agents' metrics and status
    #[argh(option)]
    mqtt_url: Option<String>,
    /// a rule file to load (repeatable; added to rule_files)
    #[argh(option)]
    rule_file: Vec<PathBuf>,
    /// the URL the hub is reached at, for alerts (default http://<hostname>:<port>)
    #[argh(option)]
    web_external_url: Option<String>,
    /// direct notifications from an unchanged alertmanager.yml (Alertmanager 0.25's routes, receivers, inhibition, time intervals)
    #[argh(option)]
    alertmanager_config_file: Option<PathBuf>,
    /// log level: debug, info, warn, error (default info)
    #[argh(option)]
    log_level: Option<String>,
    /// print the version and exit
    #[argh(switch)]
    version: bool,
    /// enable the admin endpoints (POST /api/v1/admin/tsdb/snapshot), as Prometheus's flag
    #[argh(switch)]
    web_enable_admin_api: bool,
    #[argh(subcommand)]
    command: Option<Command>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum Command {
    CheckConfig(CheckConfig),
    CheckRules(CheckRules),
    Backup(Backup),
}

/// copy the database (of --storage.tsdb.path, or the config's storage.path) consistently into DIR, even while the hub runs; a hub started on DIR restores it (exit 0, 1 on failure)
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "backup")]
struct Backup {
    /// the directory to write (must not hold a database)
    #[argh(positional)]
    dir: PathBuf,
}

/// check rule files as `promtool check rules` does and exit (0 valid, 2 invalid)
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "check-rules")]
struct CheckRules {
    /// the files
    #[argh(positional)]
    files: Vec<PathBuf>,
}

/// check a config file and exit (0 valid, 2 invalid; an alertmanager.yml as amtool: 0 valid, 1 invalid)
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "check-config")]
struct CheckConfig {
    /// the file
    #[argh(positional)]
    file: PathBuf,
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let args: Args = match cli::parse_args(&argv, "picket-hub", &SPELLING) {
        Ok(a) => a,
        Err(code) => return ExitCode::from(code),
    };
    if args.version {
        println!("picket-hub {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let level = match args.log_level.as_deref() {
        None | Some("info") => log::LevelFilter::Info,
        Some("debug") => log::LevelFilter::Debug,
        Some("warn") => log::LevelFilter::Warn,
        Some("error") => log::LevelFilter::Error,
        Some(o) => {
            eprintln!(
                "picket-hub: config error: --log.level: {o:?}: expected debug, info, warn or error"
            );
            return ExitCode::from(2);
        }
    };
    logger::init(level);
    let flags = Flags {
        listen_address: args.web_listen_address.clone(),
        tsdb_path: args.storage_tsdb_path.clone(),
        retention_time: args.storage_tsdb_retention_time.clone(),
        retention_size: args.storage_tsdb_retention_size.clone(),
        query_timeout: args.query_timeout.clone(),
        query_max_samples: args.query_max_samples.clone(),
        query_lookback_delta: args.query_lookback_delta.clone(),
        query_max_series: args.query_max_series.clone(),
        mqtt_url: args.mqtt_url.clone(),
        rule_files: args.rule_file.clone(),
        external_url: args.web_external_url.clone(),
        web_config_file: args.web_config_file.clone(),
        hub_config_file: args.hub_config_file.clone(),
        alertmanager_config_file: args.alertmanager_config_file.clone(),
        admin_api: args.web_enable_admin_api,
    };
    if let Some(Command::CheckRules(c)) = &args.command {
        return check_rules(&c.files);
    }
    if let Some(Command::Backup(b)) = &args.command {
        let cfg = match config::load(args.config_file.as_deref(), &flags) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("picket-hub: config error: {e}");
                return ExitCode::from(2);
            }
        };
        return match picket_hub::store::Store::backup(&cfg.store.dir, &b.dir) {
            Ok(()) => {
                println!(
                    "{}: backup of {} written",
                    b.dir.display(),
                    cfg.store.dir.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("picket-hub: backup: {e}");
                ExitCode::from(1)
            }
        };
    }
    if let Some(Command::CheckConfig(c)) = &args.command {
        if let Some(code) = picket_hub::notify::amconfig::check_if_alertmanager(&c.file) {
            return ExitCode::from(code);
        }
        return match config::load(Some(&c.file), &flags) {
            Ok(cfg) => match rules::load(&cfg) {
                Ok(groups) => {
                    let n: usize = groups.iter().map(|g| g.rules.len()).sum();
                    println!("{}: valid ({n} rules)", c.file.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("picket-hub: rule file error:\n{e}");
                    ExitCode::from(2)
                }
            },
            Err(e) => {
                eprintln!("picket-hub: config error: {e}");
                ExitCode::from(2)
            }
        };
    }
    let cfg = match config::load(args.config_file.as_deref(), &flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("picket-hub: config error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = rules::load(&cfg) {
        eprintln!("picket-hub: rule file error:\n{e}");
        return ExitCode::from(2);
    }
    for rw in &cfg.remote_write {
        log::warn!(
            "remote_write to {}: read and checked, but picket-hub does not forward yet; nothing is sent",
            rw.url
        );
    }
    let source = server::Source {
        file: args.config_file.clone(),
        flags,
    };
    match server::run(cfg, source) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("picket-hub: {e}");
            ExitCode::from(1)
        }
    }
}

/// `check-rules FILE...`: promtool's report per file; every error names
/// file, line, group, rule and reason.
fn check_rules(files: &[PathBuf]) -> ExitCode {
    if files.is_empty() {
        eprintln!("picket-hub: check-rules: give at least one rule file");
        return ExitCode::from(2);
    }
    let mut failed = false;
    for f in files {
        println!("Checking {}", f.display());
        match rules::file::load(f, std::time::Duration::from_secs(60)) {
            Ok(groups) => {
                let n: usize = groups.iter().map(|g| g.rules.len()).sum();
                println!("  SUCCESS: {n} rules found\n");
            }
            Err(errs) => {
                failed = true;
                eprintln!("  FAILED:");
                for e in errs {
                    eprintln!("{e}");
                }
                eprintln!();
            }
        }
    }
    if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
