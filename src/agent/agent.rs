//! Agent wiring: configuration in, collectors, outputs and server out.
//!
//! Nothing here does work of its own. The flow goes one way:
//!
//! ```text
//! push::open (outputs: buffers, sender threads) ──reports──► Scraper (the
//!   one collector set) ──Arc──► serve (/metrics)
//!                      └─Arc──► push::start (collection schedule) ──► outputs
//! ```
//!
//! `picket once` runs the collector set once instead.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use crate::collect::{Filter, Scraper};
use crate::config::AgentConfig;
use crate::serve::{ScrapeBuf, Server};
use picket_core::web::{Limits, Web};
use picket_forward::telemetry::Report;

/// Builds the collector set for a resolved configuration; `outputs` are
/// the push outputs' metrics it reports (with `exporter_metrics`).
pub(crate) fn scraper(cfg: &AgentConfig, outputs: Vec<Arc<dyn Report>>) -> Scraper {
    Scraper {
        root: cfg.root.clone(),
        opts: cfg.opts.clone(),
        enabled: cfg.enabled.clone(),
        exporter_metrics: cfg.exporter_metrics,
        outputs,
    }
}

/// Builds the server over the collector set.
pub(crate) fn server(cfg: &AgentConfig, scraper: Arc<Scraper>) -> Server {
    Server::new(scraper, cfg.telemetry_path.clone(), cfg.max_requests)
}

/// Runs the agent: bind, then serve until killed.
pub fn run(cfg: &AgentConfig) -> io::Result<()> {
    let listener = picket_core::http::bind(&cfg.listen_address).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot listen on {}: {e}", cfg.listen_address),
        )
    })?;
    let web = Web::open(cfg.web_config_file.as_deref())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let names: Vec<_> = cfg.enabled.iter().map(|d| d.name).collect();
    log::info!(
        "picket {} listening on {} ({}{}), collectors: {}",
        env!("CARGO_PKG_VERSION"),
        listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        if web.is_tls() { "https " } else { "" },
        cfg.telemetry_path,
        names.join(", ")
    );
    if !picket_core::clock::TIME64 {
        log::warn!(
            "built with a 32-bit time_t: clock and file times wrap on 2038-01-19 \
             (build with --cfg libc_unstable_musl_v1_2, as cross/build.sh does)"
        );
    }
    let outputs = crate::push::open(&cfg.push)?;
    let scraper = Arc::new(scraper(cfg, outputs.reports()));
    if cfg.push.enabled() {
        crate::push::start(&cfg.push, scraper.clone(), outputs)?;
    }
    let limits = Limits {
        read_timeout: Duration::from_secs(cfg.read_timeout_seconds),
        max_body: 64 * 1024,
    };
    picket_core::web::serve(listener, web, limits, Arc::new(server(cfg, scraper)))
}

/// `picket buffer status`: one line per buffer file in the buffer directory.
pub fn buffer_status(cfg: &AgentConfig, out: &mut impl Write) -> io::Result<()> {
    let dir = &cfg.push.buffer_path;
    let mut files: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "sqlite"))
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", dir.display()))),
    };
    files.sort();
    if files.is_empty() {
        writeln!(out, "no buffer files in {}", dir.display())?;
    }
    let now = picket_core::clock::now_unix().unwrap_or(0.0);
    for f in files {
        match picket_forward::buffer::inspect(&f) {
            Ok((s, disk)) => {
                let oldest = match s.oldest_ms {
                    Some(ms) => format!(
                        "oldest sample {:.0}s old (at {} ms)",
                        (now - ms as f64 / 1000.0).max(0.0),
                        ms
                    ),
                    None => "empty".to_string(),
                };
                writeln!(
                    out,
                    "{}: {} batches, {} samples, {oldest}, {} bytes on disk ({} in use)",
                    f.display(),
                    s.batches,
                    s.samples,
                    disk,
                    s.bytes
                )?;
            }
            Err(e) => writeln!(out, "{e}")?,
        }
    }
    let urls: Vec<_> = cfg
        .push
        .remote_write
        .iter()
        .map(|r| {
            format!(
                "{} -> {}",
                r.url,
                dir.join(picket_forward::buffer::file_name(&r.url))
                    .display()
            )
        })
        .collect();
    if !urls.is_empty() {
        writeln!(out, "configured receivers:\n  {}", urls.join("\n  "))?;
    }
    Ok(())
}

/// Collects once and writes the exposition text to stdout.
pub fn once(cfg: &AgentConfig) -> io::Result<()> {
    let server = server(cfg, Arc::new(scraper(cfg, Vec::new())));
    let mut buf = ScrapeBuf::default();
    server.render(&Filter::default(), false, &mut buf);
    let mut out = io::stdout().lock();
    out.write_all(buf.text())?;
    out.flush()
}
