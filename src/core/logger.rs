//! A tiny stderr logger for the `log` facade, to avoid a dependency
//! (ripgrep does the same). Format: `level=info msg="..."` like the Go
//! exporters' logfmt, so existing log greps keep working.

use std::io::Write;

use log::{Level, LevelFilter, Log, Metadata, Record};

#[derive(Debug)]
struct Logger;

static LOGGER: Logger = Logger;

impl Log for Logger {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let level = match r.level() {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        };
        let msg = r
            .args()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\"");
        let _ = writeln!(std::io::stderr().lock(), "level={level} msg=\"{msg}\"");
    }

    fn flush(&self) {}
}

/// Parses a `--log.level` value (`debug`, `info`, `warn`, `error`).
pub fn parse_level(s: &str) -> Option<LevelFilter> {
    Some(match s {
        "trace" => LevelFilter::Trace,
        "debug" => LevelFilter::Debug,
        "info" => LevelFilter::Info,
        "warn" => LevelFilter::Warn,
        "error" => LevelFilter::Error,
        "off" => LevelFilter::Off,
        _ => return None,
    })
}

/// Installs the logger at `level`; a second call only changes the level.
pub fn init(level: LevelFilter) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}
