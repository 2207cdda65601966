//! One receiver's queue: sends fresh batches, keeps what cannot be
//! delivered in its buffer file, and drains the backlog when the receiver
//! answers again. Runs on its own thread (ureq and SQLite block).
//!
//! States: *up* (fresh batches are sent as they come) and *outage* (after a
//! retryable failure: fresh batches go straight to the buffer, and the
//! oldest buffered rows are retried after a backoff of `min_backoff`
//! doubling to `max_backoff`, with ±20 % jitter). A 2xx for a backlog
//! request ends the outage. With `in-order`, fresh batches also go to the
//! buffer while it is not empty, so nothing overtakes the backlog; with
//! `fresh-first`, they are sent at once and the backlog drains between them.
//!
//! A fresh batch lives only in memory between collection and its first
//! send: a `kill -9` while a healthy receiver is answering can lose that
//! one batch. During an outage every batch is in SQLite before the next
//! collection.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::client::{Client, Outcome};
use super::config::{RemoteWrite, ReplayOrder};
use super::telemetry::QueueTelemetry;
use picket_core::batch::Batch;
use picket_core::encode::remote_write::RequestBuilder;
use picket_forward::buffer::Buffer;

/// One receiver's queue.
#[derive(Debug)]
pub struct Queue {
    rw: RemoteWrite,
    client: Client,
    buffer: Buffer,
    tel: Arc<QueueTelemetry>,
    /// In an outage until this instant passes and a retry succeeds.
    outage: bool,
    next_try: Instant,
    backoff: Duration,
    rng: u64,
}

impl Queue {
    /// A queue for `rw` over an opened buffer.
    pub fn new(rw: RemoteWrite, buffer: Buffer, tel: Arc<QueueTelemetry>) -> Queue {
        let client = Client::new(&rw);
        tel.set_buffer(buffer.stats(), buffer.dropped());
        let seed = picket_core::clock::now_unix().map_or(1, |t| t.to_bits()) | 1;
        let backoff = rw.min_backoff;
        Queue {
            rw,
            client,
            buffer,
            tel,
            // A backlog from an earlier run is drained like after an outage.
            outage: false,
            next_try: Instant::now(),
            backoff,
            rng: seed,
        }
    }

    /// Runs until the sender side of `rx` is dropped.
    pub fn run(mut self, rx: Receiver<Arc<Batch>>) {
        if !self.buffer.is_empty() {
            log::info!(
                "remote_write {}: {} buffered samples from before the restart; draining",
                self.rw.url,
                self.buffer.stats().samples
            );
        }
        loop {
            let now = Instant::now();
            let drain_due = !self.buffer.is_empty() && now >= self.next_try;
            let wait = if drain_due {
                Duration::ZERO
            } else if !self.buffer.is_empty() {
                self.next_try - now
            } else {
                Duration::from_secs(3600)
            };
            match rx.recv_timeout(wait) {
                Ok(b) => self.fresh(&b),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if !self.buffer.is_empty() && Instant::now() >= self.next_try {
                self.drain_one();
            }
        }
    }

    fn fresh(&mut self, b: &Batch) {
        let hold = self.outage
            || (self.rw.replay_order == ReplayOrder::InOrder && !self.buffer.is_empty());
        if hold {
            self.store(b);
            return;
        }
        let (out, n) = self.post(std::slice::from_ref(b));
        match out {
            Outcome::Delivered(_) => self.success(),
            Outcome::Retry { code, why } => {
                self.failure(code, &why);
                self.store(b);
            }
            Outcome::Rejected { code, why } => self.rejected(code, &why, n),
        }
    }

    /// Sends `batches` as one request and counts it; returns the outcome
    /// and the number of samples sent.
    fn post(&self, batches: &[Batch]) -> (Outcome, usize) {
        let mut req = RequestBuilder::new();
        for b in batches {
            b.add_to(&mut req);
        }
        let n = req.len();
        let out = self.client.send(&req.encode());
        self.tel.request(&out, n);
        (out, n)
    }

    fn store(&mut self, b: &Batch) {
        match self.buffer.append(b, picket_core::clock::now_ms()) {
            Ok(d) => {
                if d.max_bytes + d.max_age > 0 {
                    log::warn!(
                        "remote_write {}: buffer full, dropped the oldest {} samples (max_bytes {}, max_age {})",
                        self.rw.url,
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

    fn drain_one(&mut self) {
        let backlog = match self.buffer.read_oldest(self.rw.max_samples_per_send) {
            Ok(Some(b)) => b,
            Ok(None) => return,
            Err(e) => {
                log::error!("{e}");
                self.next_try = Instant::now() + self.rw.max_backoff;
                return;
            }
        };
        let (out, n) = self.post(&backlog.batches);
        match out {
            Outcome::Delivered(_) => {
                self.success();
                if let Err(e) = self.buffer.ack(backlog.last_id) {
                    // Delivered but not deleted: sent again later (at least once).
                    log::error!("{e}");
                    self.buffer.rewind();
                }
                if self.buffer.is_empty() {
                    log::info!("remote_write {}: backlog drained", self.rw.url);
                }
            }
            Outcome::Retry { code, why } => {
                self.buffer.rewind();
                self.failure(code, &why);
            }
            Outcome::Rejected { code, why } => {
                if let Err(e) = self.buffer.ack(backlog.last_id) {
                    log::error!("{e}");
                    self.buffer.rewind();
                }
                self.rejected(code, &why, n);
            }
        }
        self.tel
            .set_buffer(self.buffer.stats(), self.buffer.dropped());
    }

    fn success(&mut self) {
        if self.outage {
            log::info!(
                "remote_write {}: receiver answers again; {} samples buffered to drain",
                self.rw.url,
                self.buffer.stats().samples
            );
        }
        self.outage = false;
        self.backoff = self.rw.min_backoff;
        self.next_try = Instant::now();
        self.tel.success(picket_core::clock::now_ms());
    }

    fn failure(&mut self, code: Option<u16>, why: &str) {
        if !self.outage {
            let what = code.map_or_else(|| why.to_string(), |c| format!("HTTP {c}: {why}"));
            log::warn!(
                "remote_write {}: outage started ({what}); buffering to {}",
                self.rw.url,
                self.buffer.path().display()
            );
        }
        self.outage = true;
        // xorshift64 for ±20 % jitter.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let jitter = 0.8 + (self.rng % 1000) as f64 / 2500.0;
        self.next_try = Instant::now() + self.backoff.mul_f64(jitter);
        self.backoff = (self.backoff * 2).min(self.rw.max_backoff);
    }

    fn rejected(&mut self, code: u16, why: &str, samples: usize) {
        log::error!(
            "remote_write {}: HTTP {code}, {samples} samples rejected and dropped: {why}",
            self.rw.url
        );
        self.tel.dropped_extra("rejected", samples as u64);
        // The receiver answered: not an outage.
        self.outage = false;
        self.next_try = Instant::now();
    }
}
