//! One buffered output: a thread that takes batches, keeps what is not yet
//! delivered in its [`Buffer`] file, and hands batches to a [`Sender`]
//! (remote_write, MQTT) that knows only its transport.
//!
//! ```text
//! Inlet ─Arc<Batch>─► output thread ──send──► Sender ─► receiver
//!                      │  ▲ store / read_oldest / ack / rewind
//!                      ▼  │                   ◄─ Events (MQTT link: CONNACK, PUBACK, gone)
//!                     Buffer (SQLite)
//! ```
//!
//! What every output shares lives here, once: the buffer, the drop
//! accounting (buffer limits, `buffer_error`, `rejected`), the buffer's
//! telemetry, the outage state and the retry backoff (`min_backoff`
//! doubling to `max_backoff`, ±20 % jitter), and the logs.
//!
//! **Fresh batches** ([`Fresh`]): remote_write sends them at once while the
//! receiver answers (`fresh-first`: even with a backlog, which drains
//! between them; `in-order`: only when nothing is buffered, so nothing
//! overtakes the backlog); MQTT appends every batch to the buffer first and
//! publishes from there. During an outage every batch goes to the buffer.
//! A fresh batch sent at once lives only in memory until its answer: a
//! `kill -9` while a healthy receiver is answering can lose that one batch.
//!
//! **The backlog** is read oldest first, up to the sender's
//! `max_samples_per_send`, and sent as one unit; a delivery (2xx, or every
//! PUBACK of the round) deletes it ([`Buffer::ack`]), a retryable failure
//! rewinds the buffer and starts (or continues) the outage, and a
//! rejection (4xx) deletes and counts it. A send starts only when the
//! sender is [ready](Sender::ready) (MQTT: connected; the output asks when
//! the backoff allows, so a sender connects at start and after a loss
//! without waiting for data, and batches are stored meanwhile, never held
//! in memory for a connection). A send may answer at once
//! (remote_write: blocking HTTP) or later, through the sender's events
//! (MQTT); batches that arrive meanwhile are held in memory and appended
//! when the answer comes.

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::buffer::Buffer;
use crate::telemetry::{Counters, Report, Telemetry};
use picket_core::batch::Batch;

/// What became of a send, as far as the buffer is concerned.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Delivered: delete it.
    Delivered,
    /// Not delivered, may be later (no answer, 5xx, 429, connection lost):
    /// keep it, retry after the backoff. Why, for the log.
    Retry(String),
    /// The receiver will never take it (4xx): drop and count it. Why, for
    /// the log.
    Rejected(String),
}

/// What [`Sender::send`] returns.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// The answer is in.
    Done(Outcome),
    /// The answer comes later, from [`Sender::event`] or [`Sender::expire`].
    Pending,
}

/// When fresh batches go out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fresh {
    /// At once; the backlog drains alongside (remote_write `fresh-first`).
    SendFirst,
    /// At once only when nothing is buffered (remote_write `in-order`).
    InOrder,
    /// Appended to the buffer first, sent from there (MQTT).
    StoreFirst,
}

/// A transport: sends batches, says what became of them.
pub trait Sender: Send + 'static {
    /// What the transport reports between sends (MQTT link events), posted
    /// through the [`Events`] handle `send` gets.
    type Event: Send + 'static;
    /// The sender's own counters.
    type Counters: Counters;
    /// Names the output in logs (`remote_write`, `mqtt`).
    const KIND: &'static str;

    /// The receiver's or broker's URL (logs, the telemetry's `url` label).
    fn url(&self) -> &str;
    /// When fresh batches go out.
    fn fresh(&self) -> Fresh;
    /// Most samples read from the buffer for one send.
    fn max_samples_per_send(&self) -> usize;
    /// First and longest retry delay.
    fn backoff(&self) -> (Duration, Duration);
    /// The output's counters (the sender writes its own into them).
    fn telemetry(&self) -> &Arc<Telemetry<Self::Counters>>;
    /// Whether a send may start now; called when the backoff allows one,
    /// even with nothing to send, so a sender that connects (MQTT) does so
    /// at once and gets ready, reporting through its events. `Err`: the
    /// attempt failed (why), the output backs off.
    fn ready(&mut self, _events: &Events<Self::Event>) -> Result<bool, String> {
        Ok(true)
    }
    /// Sends `batches` as one unit (only after `ready` said yes).
    fn send(&mut self, batches: &[Batch], events: &Events<Self::Event>) -> Progress;
    /// A transport event; `Some` when it ends the pending send, or reports a
    /// failure while idle (the link went away).
    fn event(&mut self, ev: Self::Event) -> Option<Outcome>;
    /// When the pending send (or connection attempt) times out, if any.
    /// While there is one the sender is busy: no send starts.
    fn deadline(&self) -> Option<Instant> {
        None
    }
    /// The deadline passed: give up what is pending.
    fn expire(&mut self) -> Outcome {
        Outcome::Retry("timed out".into())
    }
}

/// What the output thread receives.
enum Msg<E> {
    Batch(Arc<Batch>),
    Event(E),
}

/// Where a sender posts its transport's events (from its own threads).
pub struct Events<E> {
    tx: mpsc::Sender<Msg<E>>,
}

impl<E> Clone for Events<E> {
    fn clone(&self) -> Events<E> {
        Events {
            tx: self.tx.clone(),
        }
    }
}

impl<E> fmt::Debug for Events<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}

impl<E: Send> Events<E> {
    /// Posts an event; false once the output is gone.
    pub fn post(&self, ev: E) -> bool {
        self.tx.send(Msg::Event(ev)).is_ok()
    }
}

/// Where batches enter an output: the handle the producer keeps.
pub struct Inlet {
    send: Box<dyn Fn(Arc<Batch>) -> bool + Send + Sync>,
}

impl fmt::Debug for Inlet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inlet").finish_non_exhaustive()
    }
}

impl Inlet {
    /// Hands a batch to the output; false once its thread is gone.
    pub fn send(&self, b: Arc<Batch>) -> bool {
        (self.send)(b)
    }
}

/// Starts an output over an opened buffer on a thread named `thread`;
/// returns where batches go in and the output's metrics. The thread runs
/// for the life of the process.
pub fn start<S: Sender>(
    sender: S,
    buffer: Buffer,
    thread: &str,
) -> io::Result<(Inlet, Arc<dyn Report>)> {
    let (tx, rx) = mpsc::channel::<Msg<S::Event>>();
    let report: Arc<dyn Report> = sender.telemetry().clone();
    let out = Output::new(sender, buffer, Events { tx: tx.clone() });
    std::thread::Builder::new()
        .name(thread.into())
        .spawn(move || out.run(rx))?;
    let inlet = Inlet {
        send: Box::new(move |b| tx.send(Msg::Batch(b)).is_ok()),
    };
    Ok((inlet, report))
}

/// A send whose answer is awaited.
#[derive(Debug)]
struct Pending {
    /// Last buffer row of a backlog send.
    rows: Option<i64>,
    /// The batch of a fresh send (stored if it fails).
    fresh: Option<Arc<Batch>>,
    samples: usize,
}

/// The output thread's state.
struct Output<S: Sender> {
    sender: S,
    buffer: Buffer,
    tel: Arc<Telemetry<S::Counters>>,
    events: Events<S::Event>,
    pending: Option<Pending>,
    /// Batches that arrived while a send was pending, stored when it ends.
    held: Vec<Arc<Batch>>,
    /// A retryable failure and no delivery since.
    outage: bool,
    /// A backlog (from an outage or an earlier run) not yet drained.
    backlog: bool,
    next_try: Instant,
    backoff: Duration,
    rng: u64,
}

impl<S: Sender> Output<S> {
    fn new(sender: S, buffer: Buffer, events: Events<S::Event>) -> Output<S> {
        let tel = sender.telemetry().clone();
        tel.set_buffer(buffer.stats(), buffer.dropped());
        let seed = picket_core::clock::now_unix().map_or(1, |t| t.to_bits()) | 1;
        Output {
            backoff: sender.backoff().0,
            sender,
            buffer,
            tel,
            events,
            pending: None,
            held: Vec::new(),
            outage: false,
            // Set by `run` when the buffer holds an earlier run's backlog.
            backlog: false,
            next_try: Instant::now(),
            rng: seed,
        }
    }

    fn run(mut self, rx: Receiver<Msg<S::Event>>) {
        if !self.buffer.is_empty() {
            self.backlog = true;
            log::info!(
                "{} {}: {} buffered samples from before the restart; draining",
                S::KIND,
                self.sender.url(),
                self.buffer.stats().samples
            );
        }
        // Connect (MQTT) and drain a backlog at once, not at the first batch.
        self.step();
        loop {
            match rx.recv_timeout(self.wait()) {
                Ok(Msg::Batch(b)) => self.fresh(b),
                Ok(Msg::Event(ev)) => {
                    if let Some(o) = self.sender.event(ev) {
                        self.done(o);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            self.step();
        }
    }

    /// How long to sleep before something is due.
    fn wait(&self) -> Duration {
        let now = Instant::now();
        let mut due = now + Duration::from_secs(3600);
        if let Some(d) = self.sender.deadline() {
            due = due.min(d);
        } else if self.pending.is_none() && !self.buffer.is_empty() {
            due = due.min(self.next_try);
        }
        due.saturating_duration_since(now)
    }

    fn step(&mut self) {
        if self.pending.is_none() {
            for b in std::mem::take(&mut self.held) {
                self.store(&b);
            }
        }
        if self.sender.deadline().is_some_and(|d| Instant::now() >= d) {
            let o = self.sender.expire();
            self.done(o);
        }
        if self.pending.is_none() && Instant::now() >= self.next_try {
            match self.sender.ready(&self.events) {
                Ok(true) if !self.buffer.is_empty() => self.drain_one(),
                Ok(_) => {}
                Err(why) => self.failure(&why),
            }
        }
    }

    fn fresh(&mut self, b: Arc<Batch>) {
        let direct = match self.sender.fresh() {
            Fresh::SendFirst => true,
            Fresh::InOrder => self.buffer.is_empty(),
            Fresh::StoreFirst => false,
        };
        if self.pending.is_some() {
            self.held.push(b);
            return;
        }
        let ready = direct
            && !self.outage
            && match self.sender.ready(&self.events) {
                Ok(r) => r,
                Err(why) => {
                    self.failure(&why);
                    false
                }
            };
        if !ready {
            self.store(&b);
            return;
        }
        let samples = b.len();
        let progress = self.sender.send(std::slice::from_ref(&*b), &self.events);
        self.pending = Some(Pending {
            rows: None,
            fresh: Some(b),
            samples,
        });
        if let Progress::Done(o) = progress {
            self.done(o);
        }
    }

    fn drain_one(&mut self) {
        let backlog = match self.buffer.read_oldest(self.sender.max_samples_per_send()) {
            Ok(Some(b)) => b,
            Ok(None) => return,
            Err(e) => {
                log::error!("{e}");
                self.buffer.rewind();
                self.next_try = Instant::now() + self.sender.backoff().1;
                return;
            }
        };
        let progress = self.sender.send(&backlog.batches, &self.events);
        self.pending = Some(Pending {
            rows: Some(backlog.last_id),
            fresh: None,
            samples: backlog.samples,
        });
        if let Progress::Done(o) = progress {
            self.done(o);
        }
    }

    /// The answer to the pending send, or a failure while idle.
    fn done(&mut self, o: Outcome) {
        let p = self.pending.take();
        let rows = p.as_ref().and_then(|p| p.rows);
        match o {
            Outcome::Delivered => {
                self.success();
                if let Some(last_id) = rows {
                    // Delivered but not deleted: sent again later (at least once).
                    self.ack(last_id);
                    if self.backlog && self.buffer.is_empty() {
                        self.backlog = false;
                        log::info!("{} {}: backlog drained", S::KIND, self.sender.url());
                    }
                }
            }
            Outcome::Retry(why) => {
                if rows.is_some() {
                    self.buffer.rewind();
                }
                self.failure(&why);
                if let Some(b) = p.and_then(|p| p.fresh) {
                    self.store(&b);
                }
            }
            Outcome::Rejected(why) => {
                if let Some(last_id) = rows {
                    self.ack(last_id);
                }
                self.rejected(&why, p.map_or(0, |p| p.samples));
            }
        }
        self.tel
            .set_buffer(self.buffer.stats(), self.buffer.dropped());
    }

    fn ack(&mut self, last_id: i64) {
        if let Err(e) = self.buffer.ack(last_id) {
            log::error!("{e}");
            self.buffer.rewind();
        }
    }

    fn store(&mut self, b: &Batch) {
        match self.buffer.append(b, picket_core::clock::now_ms()) {
            Ok(d) => {
                if d.max_bytes + d.max_age > 0 {
                    log::warn!(
                        "{} {}: buffer full, dropped the oldest {} samples (max_bytes {}, max_age {})",
                        S::KIND,
                        self.sender.url(),
                        d.max_bytes + d.max_age,
                        d.max_bytes,
                        d.max_age
                    );
                }
            }
            Err(e) => {
                log::error!("{e}; {} samples lost", b.len());
                self.tel.dropped_extra("buffer_error", b.len() as u64);
            }
        }
        self.tel
            .set_buffer(self.buffer.stats(), self.buffer.dropped());
    }

    fn success(&mut self) {
        if self.outage {
            log::info!(
                "{} {}: receiver answers again; {} samples buffered to drain",
                S::KIND,
                self.sender.url(),
                self.buffer.stats().samples
            );
        }
        self.outage = false;
        self.backoff = self.sender.backoff().0;
        self.next_try = Instant::now();
    }

    fn failure(&mut self, why: &str) {
        if !self.outage {
            log::warn!(
                "{} {}: outage started ({why}); buffering to {}",
                S::KIND,
                self.sender.url(),
                self.buffer.path().display()
            );
        } else {
            log::debug!("{} {}: {why}", S::KIND, self.sender.url());
        }
        self.outage = true;
        self.backlog = true;
        // xorshift64 for ±20 % jitter.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let jitter = 0.8 + (self.rng % 1000) as f64 / 2500.0;
        self.next_try = Instant::now() + self.backoff.mul_f64(jitter);
        self.backoff = (self.backoff * 2).min(self.sender.backoff().1);
    }

    fn rejected(&mut self, why: &str, samples: usize) {
        log::error!(
            "{} {}: {samples} samples rejected and dropped ({why})",
            S::KIND,
            self.sender.url()
        );
        self.tel.dropped_extra("rejected", samples as u64);
        // The receiver answered: not an outage.
        self.outage = false;
        self.next_try = Instant::now();
    }
}

/// For senders without transport events (remote_write answers at once).
pub(crate) type NoEvents = Infallible;
