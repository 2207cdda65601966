//! One target's scrape loop: a thread that fetches the target every
//! interval, turns the body into rows (see [`super::target`]) and hands
//! them to the [`Sink`].
//!
//! Scrapes keep a stable phase: the first waits until the wall clock
//! reaches the target's offset (a hash of its URL and labels modulo the
//! interval, as Prometheus does), so targets of one job spread over the
//! interval and keep their phase across restarts and reloads. A slow
//! scrape skips the ticks it overran rather than bunching up.
//!
//! A loop is stopped by its [`Handle`]: the stop flag is set under the
//! same lock the loop holds while it writes a scrape, so once a stop
//! returns the loop writes nothing more; a fetch still in flight finishes
//! (at most the scrape timeout) and is dropped. A stop either writes stale
//! markers for the loop's series (target gone), hands them to a successor
//! (target kept with new settings) or drops them (shutdown).

use std::collections::HashSet;
use std::fmt;
use std::io::Read;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::config::{Limits, ScrapeConfig};
use super::target::{self, Target};
use super::Sink;
use picket_core::metric::Labels;
use picket_core::relabel::Relabel;
use picket_core::web::client::HttpClient;

/// Largest body accepted, before and after gzip, unless the job's
/// `body_size_limit` says otherwise; a bigger one fails the scrape
/// (Prometheus's default is unlimited).
pub(crate) const MAX_BODY: u64 = 64 << 20;

/// What a loop needs from its job's config; a loop whose settings are
/// unchanged by a reload keeps running.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settings {
    pub(crate) honor_labels: bool,
    pub(crate) honor_timestamps: bool,
    pub(crate) http: HttpClient,
    pub(crate) limits: Limits,
    pub(crate) follow_redirects: bool,
    pub(crate) metric_relabel: Vec<Relabel>,
    /// An error every scrape fails with (the job is past its
    /// `target_limit`).
    pub(crate) forced_error: Option<String>,
}

impl Settings {
    pub(crate) fn new(cfg: &ScrapeConfig) -> Settings {
        Settings {
            honor_labels: cfg.honor_labels,
            honor_timestamps: cfg.honor_timestamps,
            http: cfg.http.clone(),
            limits: cfg.limits,
            follow_redirects: cfg.follow_redirects,
            metric_relabel: cfg.metric_relabel.clone(),
            forced_error: None,
        }
    }
}

/// The last scrape's outcome, for `/api/v1/targets`.
#[derive(Debug, Clone)]
pub(crate) struct Status {
    pub(crate) last_error: String,
    pub(crate) last_scrape_ms: i64,
    pub(crate) last_duration: f64,
    pub(crate) health: &'static str,
}

/// Series bookkeeping, locked while a scrape's rows are written.
#[derive(Debug, Default)]
pub(crate) struct Series {
    stopped: bool,
    /// Series of the last successful scrape (tracked for staleness).
    last: HashSet<Labels>,
    /// The report series (`up`, …) have been written.
    reported: bool,
}

/// A running loop's shared state.
pub(crate) struct Loop {
    pub(crate) job: String,
    pub(crate) target: Target,
    pub(crate) settings: Settings,
    sink: Arc<dyn Sink>,
    agent: ureq::Agent,
    series: Mutex<Series>,
    status: Mutex<Status>,
}

impl fmt::Debug for Loop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loop")
            .field("job", &self.job)
            .field("url", &self.target.url)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The owner's end of a loop: dropping it (or [`Handle::stop`]) ends the thread.
#[derive(Debug)]
pub(crate) struct Handle {
    pub(crate) lp: Arc<Loop>,
    /// Dropped to wake the thread so it sees the stop at once.
    _wake: Sender<()>,
}

impl Handle {
    /// Starts a loop; `inherited` is a predecessor's series (from
    /// [`Handle::hand_off`]), so staleness carries across the change.
    pub(crate) fn spawn(
        job: &str,
        target: Target,
        settings: Settings,
        sink: Arc<dyn Sink>,
        inherited: Option<Series>,
    ) -> Handle {
        let builder = ureq::Agent::config_builder()
            .timeout_global(Some(target.timeout))
            .http_status_as_error(false)
            .max_redirects(if settings.follow_redirects { 10 } else { 0 })
            .user_agent(concat!("picket-hub/", env!("CARGO_PKG_VERSION")));
        let agent = settings.http.tls.agent(builder);
        let lp = Arc::new(Loop {
            job: job.to_string(),
            target,
            settings,
            sink,
            agent,
            series: Mutex::new(inherited.unwrap_or_default()),
            status: Mutex::new(Status {
                last_error: String::new(),
                last_scrape_ms: 0,
                last_duration: 0.0,
                health: "unknown",
            }),
        });
        let (tx, rx) = mpsc::channel();
        let lp2 = lp.clone();
        let spawned = std::thread::Builder::new()
            .name(thread_name("scrape", job))
            .spawn(move || run(lp2, rx));
        if let Err(e) = spawned {
            log::error!("scrape {job} {}: cannot start a thread: {e}", lp.target.url);
        }
        Handle { lp, _wake: tx }
    }

    /// Stops the loop; with `stale_at` (ms), writes stale markers for its
    /// series and its report series.
    pub(crate) fn stop(self, stale_at: Option<i64>) {
        let mut s = lock(&self.lp.series);
        if s.stopped {
            return;
        }
        s.stopped = true;
        let Some(ts) = stale_at else {
            return;
        };
        let mut rows: Vec<_> = target::gone(&s.last, &HashSet::new())
            .into_iter()
            .map(|l| (l, ts, target::stale_nan()))
            .collect();
        if s.reported {
            rows.extend(target::report_rows(
                &self.lp.target.labels,
                ts,
                [target::stale_nan(); 5],
            ));
        }
        s.last.clear();
        if !rows.is_empty() {
            if let Err(e) = self.lp.sink.append(rows) {
                log::error!(
                    "scrape {} {}: writing stale markers: {e}",
                    self.lp.job,
                    self.lp.target.url
                );
            }
        }
    }

    /// Stops the loop and returns its series for a successor.
    pub(crate) fn hand_off(self) -> Series {
        let mut s = lock(&self.lp.series);
        s.stopped = true;
        Series {
            stopped: false,
            last: std::mem::take(&mut s.last),
            reported: s.reported,
        }
    }
}

impl Loop {
    pub(crate) fn status(&self) -> Status {
        lock(&self.status).clone()
    }

    fn stopped(&self) -> bool {
        lock(&self.series).stopped
    }

    /// Fetches and parses once, writes the rows, records the outcome.
    fn scrape_once(&self) {
        let start_ms = picket_core::clock::now_ms();
        let t0 = Instant::now();
        let forced = self.settings.forced_error.clone();
        let result = forced
            .map_or_else(|| self.fetch(), Err)
            .and_then(|body| {
                picket_core::decode::text::parse(&body)
                    .map_err(|e| format!("parsing the body: {e}"))
            })
            .map_err(|e| (e, 0));
        let duration = t0.elapsed().as_secs_f64();
        let mut s = lock(&self.series);
        if s.stopped {
            return;
        }
        let labels = &self.target.labels;
        let result = result.and_then(|samples| {
            let n = samples.len();
            let out = target::scraped_rows(
                samples,
                labels,
                self.settings.honor_labels,
                self.settings.honor_timestamps,
                &self.settings.metric_relabel,
                start_ms,
                &s.last,
            );
            target::check_limits(&out, &self.settings.limits).map_err(|e| (e, n))?;
            Ok(out)
        });
        let (rows, error) = match result {
            Ok(mut out) => {
                let (n, w, a) = (out.scraped, out.written, out.added);
                out.rows.extend(target::report_rows(
                    labels,
                    start_ms,
                    [1.0, duration, n as f64, w as f64, a as f64],
                ));
                s.last = out.series;
                (out.rows, String::new())
            }
            Err((e, scraped)) => {
                // A failed scrape (or one past a limit, whose samples are
                // all dropped, as Prometheus rolls them back) ends every
                // series of the target.
                let mut rows: Vec<_> = target::gone(&s.last, &HashSet::new())
                    .into_iter()
                    .map(|l| (l, start_ms, target::stale_nan()))
                    .collect();
                s.last.clear();
                rows.extend(target::report_rows(
                    labels,
                    start_ms,
                    [0.0, duration, scraped as f64, 0.0, 0.0],
                ));
                (rows, e)
            }
        };
        s.reported = true;
        if let Err(e) = self.sink.append(rows) {
            log::error!("scrape {} {}: storing: {e}", self.job, self.target.url);
        }
        drop(s);
        let mut st = lock(&self.status);
        if !error.is_empty() {
            if st.health != "down" || st.last_error != error {
                log::warn!("scrape {} {}: {error}", self.job, self.target.url);
            }
        } else if st.health == "down" {
            log::info!("scrape {} {}: up again", self.job, self.target.url);
        }
        st.health = if error.is_empty() { "up" } else { "down" };
        st.last_error = error;
        st.last_scrape_ms = start_ms;
        st.last_duration = duration;
    }

    /// GETs the target's body (gzip decoded, size-limited, UTF-8).
    fn fetch(&self) -> Result<String, String> {
        let url = &self.target.url;
        let max = self.settings.limits.body_bytes;
        let fail = |e: &dyn fmt::Display| format!("Get {url:?}: {e}");
        let mut req = self
            .agent
            .get(url)
            .header("Accept", "text/plain;version=0.0.4")
            .header("Accept-Encoding", "gzip")
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                self.target.timeout.as_secs_f64().to_string(),
            );
        if let Some(a) = self.settings.http.authorization()? {
            req = req.header("Authorization", a);
        }
        let resp = req.call().map_err(|e| fail(&e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!(
                "server returned HTTP status {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )
            .trim_end()
            .to_string());
        }
        let gzip = resp
            .headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
        let mut raw = Vec::new();
        resp.into_body()
            .into_reader()
            .take(max + 1)
            .read_to_end(&mut raw)
            .map_err(|e| fail(&e))?;
        let too_big = || format!("body size limit exceeded ({max} bytes)");
        if raw.len() as u64 > max {
            return Err(too_big());
        }
        let body = if gzip {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&raw[..])
                .take(max + 1)
                .read_to_end(&mut out)
                .map_err(|e| format!("decoding gzip: {e}"))?;
            if out.len() as u64 > max {
                return Err(too_big());
            }
            out
        } else {
            raw
        };
        String::from_utf8(body).map_err(|e| {
            format!(
                "body is not UTF-8 (at byte {})",
                e.utf8_error().valid_up_to()
            )
        })
    }
}

/// The loop thread: waits for the target's phase, then scrapes every
/// interval until stopped.
fn run(lp: Arc<Loop>, wake: Receiver<()>) {
    let interval = lp.target.interval.max(Duration::from_millis(1));
    let first = first_delay(
        offset_hash(&lp.target),
        interval,
        picket_core::clock::now_ms(),
    );
    let mut next = Instant::now() + first;
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        match wake.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {}
            // A message or a dropped handle: stop.
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        if lp.stopped() {
            return;
        }
        lp.scrape_once();
        next += interval;
        let now = Instant::now();
        while next <= now {
            next += interval;
        }
    }
}

/// A thread name for `job` (a NUL, which `std` refuses, is dropped).
pub(crate) fn thread_name(what: &str, job: &str) -> String {
    format!("{what} {}", job.replace('\0', ""))
}

/// FNV-1a of the target's URL and labels: stable across restarts, unlike
/// std's hasher.
fn offset_hash(t: &Target) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: &[u8]| {
        for &c in b {
            h ^= u64::from(c);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    eat(t.url.as_bytes());
    for (n, v) in t.key.iter() {
        eat(n.as_bytes());
        eat(v.as_bytes());
    }
    h
}

/// How long until the wall clock (`now_ms`) next reaches `hash % interval`
/// within an interval: each target scrapes at a fixed phase.
fn first_delay(hash: u64, interval: Duration, now_ms: i64) -> Duration {
    let ims = (interval.as_millis() as u64).max(1);
    let offset = hash % ims;
    let base = (now_ms.max(0) as u64) % ims;
    Duration::from_millis((offset + ims - base) % ims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_is_stable() {
        let i = Duration::from_secs(15);
        // hash 3000 → phase 3s into each 15s window.
        assert_eq!(first_delay(3000, i, 15_000), Duration::from_millis(3000));
        assert_eq!(first_delay(3000, i, 16_000), Duration::from_millis(2000));
        assert_eq!(first_delay(3000, i, 18_500), Duration::from_millis(14_500));
        assert_eq!(first_delay(18_000, i, 18_000), Duration::ZERO);
    }
}
