//! The remote_write sender: one receiver's settings, and each send as one
//! Prometheus remote_write request (Snappy-compressed protobuf, POSTed with
//! ureq by [`client`]), answered at once. What its answer means for the
//! batches (delivered, retry, rejected) is the spec's; keeping them until
//! then is the output's ([`crate::output`]).
//!
//! Its counters: requests, failures and samples by receiver and HTTP
//! status (`error`: no answer), and the time of the last 2xx.

pub(crate) mod client;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::output::{Events, Fresh, NoEvents, Outcome, Progress, Sender};
use crate::telemetry::{Counters, Telemetry};
use client::{Answer, Client};
use picket_core::batch::Batch;
use picket_core::encode::remote_write::RequestBuilder;
use picket_core::metric::Out;

/// When backlog and fresh batches go out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayOrder {
    /// Fresh batches go out at once; the backlog drains alongside (receiver
    /// must accept out-of-order samples).
    FreshFirst,
    /// The backlog drains first; fresh batches wait in the buffer behind it.
    InOrder,
}

/// One receiver, resolved.
#[derive(Clone, Debug)]
pub struct RemoteWrite {
    /// URL.
    pub url: String,
    /// Replay order.
    pub replay_order: ReplayOrder,
    /// Request timeout.
    pub timeout: Duration,
    /// Most samples per request.
    pub max_samples_per_send: usize,
    /// Credentials (Prometheus's client blocks; files read per request).
    pub auth: Option<picket_core::web::client::ClientAuth>,
    /// TLS: a private CA, a client certificate (Prometheus's `tls_config`).
    pub tls: picket_core::web::client::TlsClient,
    /// External labels, sorted by name.
    pub external_labels: Vec<(String, String)>,
    /// First retry delay.
    pub min_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// `write_relabel_configs`, applied by whoever builds this receiver's
    /// batches ([`picket_core::batch::Batch::relabel`]) before they are
    /// handed to its output, so a dropped series never reaches the buffer.
    pub write_relabel: Vec<picket_core::relabel::Relabel>,
}

/// One receiver's sender.
#[derive(Debug)]
pub struct RemoteWriteSender {
    rw: RemoteWrite,
    client: Client,
    tel: Arc<Telemetry<RemoteWriteCounters>>,
}

impl RemoteWriteSender {
    /// A sender for `rw`, with its counters.
    pub fn new(rw: RemoteWrite) -> RemoteWriteSender {
        RemoteWriteSender {
            client: Client::new(&rw),
            tel: Telemetry::new(&rw.url),
            rw,
        }
    }
}

impl Sender for RemoteWriteSender {
    type Event = NoEvents;
    type Counters = RemoteWriteCounters;
    const KIND: &'static str = "remote_write";

    fn url(&self) -> &str {
        &self.rw.url
    }

    fn fresh(&self) -> Fresh {
        match self.rw.replay_order {
            ReplayOrder::FreshFirst => Fresh::SendFirst,
            ReplayOrder::InOrder => Fresh::InOrder,
        }
    }

    fn max_samples_per_send(&self) -> usize {
        self.rw.max_samples_per_send
    }

    fn backoff(&self) -> (Duration, Duration) {
        (self.rw.min_backoff, self.rw.max_backoff)
    }

    fn telemetry(&self) -> &Arc<Telemetry<RemoteWriteCounters>> {
        &self.tel
    }

    /// One request, blocking until the answer (or the timeout).
    fn send(&mut self, batches: &[Batch], _: &Events<NoEvents>) -> Progress {
        let mut req = RequestBuilder::new();
        for b in batches {
            b.add_to(&mut req);
        }
        let n = req.len();
        let answer = self.client.send(&req.encode());
        self.tel.count(|c| c.request(&answer, n));
        Progress::Done(match answer {
            Answer::Delivered(_) => {
                let now = picket_core::clock::now_ms();
                self.tel.count(|c| c.last_success_ms = Some(now));
                Outcome::Delivered
            }
            Answer::Retry { code: None, why } => Outcome::Retry(why),
            Answer::Retry { code: Some(c), why } => Outcome::Retry(format!("HTTP {c}: {why}")),
            Answer::Rejected { code, why } => Outcome::Rejected(format!("HTTP {code}: {why}")),
        })
    }

    fn event(&mut self, ev: NoEvents) -> Option<Outcome> {
        match ev {}
    }
}

/// One receiver's own counters.
#[derive(Debug, Default)]
pub struct RemoteWriteCounters {
    /// code → (requests, failures, samples).
    by_code: BTreeMap<String, (u64, u64, u64)>,
    last_success_ms: Option<i64>,
}

impl RemoteWriteCounters {
    /// Counts one request of `samples` samples.
    fn request(&mut self, answer: &Answer, samples: usize) {
        let failed = !matches!(answer, Answer::Delivered(_));
        let e = self.by_code.entry(answer.code_label()).or_default();
        e.0 += 1;
        e.1 += u64::from(failed);
        e.2 += samples as u64;
    }
}

impl Counters for RemoteWriteCounters {
    fn emit(&self, out: &mut Out<'_>, url: &str) {
        for (code, (req, fail, samples)) in &self.by_code {
            let l = [("code", code.as_str()), ("url", url)];
            out.counter(
                "picket_remote_write_requests_total",
                "remote_write requests sent, by receiver and HTTP status (error: no answer).",
                &l,
                *req as f64,
            );
            out.counter(
                "picket_remote_write_failures_total",
                "remote_write requests that did not get a 2xx, by receiver and status.",
                &l,
                *fail as f64,
            );
            out.counter(
                "picket_remote_write_samples_total",
                "Samples in remote_write requests, by receiver and status.",
                &l,
                *samples as f64,
            );
        }
        out.gauge(
            "picket_remote_write_last_success_timestamp_seconds",
            "Time of the last 2xx from the receiver (0: none yet).",
            &[("url", url)],
            self.last_success_ms.map_or(0.0, |t| t as f64 / 1000.0),
        );
    }
}
