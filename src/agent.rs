//! Agent wiring: configuration in, collectors and server out.
//!
//! Nothing here does work of its own; it builds the [`Scraper`] from the
//! resolved configuration and hands it to the server (`picket`) or runs it
//! once (`picket once`).

use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use crate::collect::{Filter, Scraper};
use crate::config::AgentConfig;
use crate::serve::{self, ScrapeBuf, Server};

/// Builds the server for a resolved configuration.
pub fn server(cfg: &AgentConfig) -> Server {
    let scraper = Scraper {
        root: cfg.root.clone(),
        opts: cfg.opts.clone(),
        enabled: cfg.enabled.clone(),
        exporter_metrics: cfg.exporter_metrics,
    };
    Server::new(
        scraper,
        cfg.telemetry_path.clone(),
        cfg.max_requests,
        Duration::from_secs(cfg.read_timeout_seconds),
    )
}

/// Runs the agent: bind, then serve until killed.
pub fn run(cfg: &AgentConfig) -> io::Result<()> {
    let listener = serve::bind(&cfg.listen_address).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot listen on {}: {e}", cfg.listen_address),
        )
    })?;
    let names: Vec<_> = cfg.enabled.iter().map(|d| d.name).collect();
    log::info!(
        "picket {} listening on {} ({}), collectors: {}",
        env!("CARGO_PKG_VERSION"),
        listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        cfg.telemetry_path,
        names.join(", ")
    );
    if !crate::clock::TIME64 {
        log::warn!(
            "built with a 32-bit time_t: clock and file times wrap on 2038-01-19 \
             (build with --cfg libc_unstable_musl_v1_2, as cross/build.sh does)"
        );
    }
    serve::serve(listener, Arc::new(server(cfg)))
}

/// Collects once and writes the exposition text to stdout.
pub fn once(cfg: &AgentConfig) -> io::Result<()> {
    let server = server(cfg);
    let mut buf = ScrapeBuf::default();
    server.render(&Filter::default(), false, &mut buf);
    let mut out = io::stdout().lock();
    out.write_all(buf.text())?;
    out.flush()
}
