//! `picket`: the agent binary. Parses arguments, maps errors to exit codes:
//! 0 success, 1 runtime failure (e.g. cannot listen), 2 bad flags or config.

use std::process::ExitCode;

use picket::cli::{self, Args, Command};
use picket::{agent, config};
use picket_core::config::ConfigError;
use picket_core::logger;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let args: Args = match picket_core::cli::parse_args(&argv, "picket", &cli::SPELLING) {
        Ok(a) => a,
        Err(code) => return ExitCode::from(code),
    };
    if args.version {
        println!("picket {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    logger::init(log::LevelFilter::Info);
    match run(args) {
        Ok(code) => code,
        Err(Failure::Config(e)) => {
            eprintln!("picket: config error: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(e)) => {
            eprintln!("picket: {e}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    Config(ConfigError),
    Runtime(std::io::Error),
}

fn run(args: Args) -> Result<ExitCode, Failure> {
    if let Some(f) = args.log_format.as_deref().filter(|f| *f != "logfmt") {
        return Err(Failure::Config(ConfigError {
            file: None,
            line: None,
            key: Some("--log.format".into()),
            msg: format!("{f:?} is not supported (only logfmt)"),
        }));
    }
    let ov = args.overrides();
    let check_only = match &args.command {
        Some(Command::CheckConfig(c)) => Some(c.file.clone()),
        _ => None,
    };
    let file = check_only.clone().or(args.config_file.clone());
    let cfg = match file {
        Some(p) => {
            let (src, fc) = config::read_file(&p).map_err(Failure::Config)?;
            config::resolve(Some((&p, &src, fc)), &ov)
        }
        None => config::resolve(None, &ov),
    }
    .map_err(Failure::Config)?;
    logger::init(cfg.log_level);
    match args.command {
        Some(Command::CheckConfig(c)) => {
            println!("{}: OK", c.file.display());
            println!("  listen_address = {:?}", cfg.listen_address);
            println!("  telemetry_path = {:?}", cfg.telemetry_path);
            println!(
                "  procfs = {:?}, sysfs = {:?}, rootfs = {:?}",
                cfg.root.procfs, cfg.root.sysfs, cfg.root.rootfs
            );
            let names: Vec<_> = cfg.enabled.iter().map(|d| d.name).collect();
            println!("  collectors = {}", names.join(", "));
            if let Some(d) = &cfg.opts.textfile_directory {
                println!("  textfile directory = {:?}", d);
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Buffer(b)) => {
            if b.action != "status" {
                return Err(Failure::Config(ConfigError {
                    file: None,
                    line: None,
                    key: Some("buffer".into()),
                    msg: format!("unknown action {:?} (status)", b.action),
                }));
            }
            agent::buffer_status(&cfg, &mut std::io::stdout().lock()).map_err(Failure::Runtime)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Once(_)) => {
            agent::once(&cfg).map_err(Failure::Runtime)?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            agent::run(&cfg).map_err(Failure::Runtime)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
