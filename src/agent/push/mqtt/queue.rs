//! The MQTT output's queue thread: the state machine of rounds and
//! connections described in the module above.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::config::MqttOutput;
use super::link::{Link, LinkEvent};
use super::telemetry::MqttTelemetry;
use picket_core::batch::Batch;
use picket_core::encode::mqtt::payloads;
use picket_forward::buffer::Buffer;

/// What the queue thread receives.
#[derive(Debug)]
pub enum Msg {
    /// A collection.
    Batch(Arc<Batch>),
    /// An event of the link of that generation.
    Link(u64, LinkEvent),
}

/// Opens the MQTT output's buffer (`<buffer dir>/<broker>-<hash>.sqlite`)
/// and starts its queue thread; returns the channel the collection thread
/// sends batches to.
pub fn start(out: &MqttOutput, buffer: Buffer) -> io::Result<Sender<Arc<Batch>>> {
    let (tx, rx) = mpsc::channel::<Msg>();
    let (btx, brx) = mpsc::channel::<Arc<Batch>>();
    // The collection thread speaks Arc<Batch>; forward into the queue's
    // one channel so it can wait on batches and link events together.
    let fwd = tx.clone();
    std::thread::Builder::new()
        .name("picket-mqtt-in".into())
        .spawn(move || {
            for b in brx {
                if fwd.send(Msg::Batch(b)).is_err() {
                    return;
                }
            }
        })?;
    let tel = MqttTelemetry::register(&out.broker.url);
    let q = Queue::new(out.clone(), buffer, tel, tx);
    std::thread::Builder::new()
        .name("picket-mqtt".into())
        .spawn(move || q.run(rx))?;
    Ok(btx)
}

/// Which publish a packet id belongs to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Data,
    Status,
}

/// Publishes of the buffer's oldest rows waiting for their PUBACKs.
#[derive(Debug)]
struct Round {
    last_id: i64,
    samples: usize,
    /// Messages not yet acknowledged.
    unacked: usize,
    started: Instant,
}

#[derive(Debug)]
struct Queue {
    out: MqttOutput,
    buffer: Buffer,
    tel: Arc<MqttTelemetry>,
    tx: Sender<Msg>,
    generation: u64,
    link: Option<Link>,
    /// When the current link was opened.
    opened: Instant,
    connected: bool,
    /// Publishes not yet given a packet id, in order.
    unsent: VecDeque<Kind>,
    /// Packet ids waiting for PUBACK.
    inflight: HashMap<u16, Kind>,
    round: Option<Round>,
    /// Batches that arrived during a round, appended when it ends.
    held: Vec<Arc<Batch>>,
    outage: bool,
    next_try: Instant,
    backoff: Duration,
    rng: u64,
}

impl Queue {
    fn new(out: MqttOutput, buffer: Buffer, tel: Arc<MqttTelemetry>, tx: Sender<Msg>) -> Queue {
        tel.set_buffer(buffer.stats(), buffer.dropped());
        let seed = picket_core::clock::now_unix().map_or(1, |t| t.to_bits()) | 1;
        Queue {
            backoff: out.min_backoff,
            out,
            buffer,
            tel,
            tx,
            generation: 0,
            link: None,
            opened: Instant::now(),
            connected: false,
            unsent: VecDeque::new(),
            inflight: HashMap::new(),
            round: None,
            held: Vec::new(),
            outage: false,
            next_try: Instant::now(),
            rng: seed,
        }
    }

    fn run(mut self, rx: Receiver<Msg>) {
        if !self.buffer.is_empty() {
            log::info!(
                "mqtt {}: {} buffered samples from before the restart; publishing them",
                self.out.broker.url,
                self.buffer.stats().samples
            );
        }
        loop {
            match rx.recv_timeout(self.wait()) {
                Ok(Msg::Batch(b)) => self.held.push(b),
                Ok(Msg::Link(g, ev)) if g == self.generation => self.on_link(ev),
                Ok(Msg::Link(..)) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            self.step();
        }
    }

    /// How long to sleep before something is due.
    fn wait(&self) -> Duration {
        let now = Instant::now();
        let due = if self.link.is_none() {
            self.next_try
        } else if !self.connected {
            self.opened + self.out.timeout
        } else if let Some(r) = &self.round {
            r.started + self.out.timeout
        } else {
            now + Duration::from_secs(3600)
        };
        due.saturating_duration_since(now)
    }

    fn step(&mut self) {
        if self.round.is_none() {
            for b in std::mem::take(&mut self.held) {
                self.store(&b);
            }
        }
        let now = Instant::now();
        if self.link.is_none() && now >= self.next_try {
            self.connect();
        }
        if self.link.is_some() && !self.connected && now >= self.opened + self.out.timeout {
            self.down("no CONNACK within the timeout".into());
        }
        if self
            .round
            .as_ref()
            .is_some_and(|r| now >= r.started + self.out.timeout)
        {
            self.down("no PUBACK within the timeout".into());
        }
        if self.connected && self.round.is_none() && !self.buffer.is_empty() {
            self.start_round();
        }
    }

    fn connect(&mut self) {
        self.generation += 1;
        self.opened = Instant::now();
        match Link::open(&self.out, self.generation, self.tx.clone()) {
            Ok(l) => self.link = Some(l),
            Err(e) => self.failure(&e),
        }
    }

    fn on_link(&mut self, ev: LinkEvent) {
        match ev {
            LinkEvent::Connected => {
                if self.outage {
                    log::info!(
                        "mqtt {}: connected again; {} samples buffered to publish",
                        self.out.broker.url,
                        self.buffer.stats().samples
                    );
                } else {
                    log::info!("mqtt {}: connected", self.out.broker.url);
                }
                self.connected = true;
                self.outage = false;
                self.backoff = self.out.min_backoff;
                self.tel.connected(true);
                if let Some(t) = self.out.status_topic.clone() {
                    self.publish(&t, true, b"online".to_vec(), Kind::Status);
                }
            }
            LinkEvent::Sent(pkid) => {
                if let Some(k) = self.unsent.pop_front() {
                    self.inflight.insert(pkid, k);
                }
            }
            LinkEvent::Acked(pkid) => {
                if self.inflight.remove(&pkid) == Some(Kind::Data) {
                    if let Some(r) = &mut self.round {
                        r.unacked = r.unacked.saturating_sub(1);
                    }
                    if self.round.as_ref().is_some_and(|r| r.unacked == 0) {
                        self.finish_round();
                    }
                }
            }
            LinkEvent::Down(why) => self.down(why),
        }
    }

    /// Publishes; a failure means the link is gone.
    fn publish(&mut self, topic: &str, retain: bool, payload: Vec<u8>, kind: Kind) -> bool {
        let res = match &self.link {
            Some(l) => l.publish(topic, retain, payload),
            None => Err("not connected".into()),
        };
        match res {
            Ok(()) => {
                self.unsent.push_back(kind);
                true
            }
            Err(e) => {
                self.down(e);
                false
            }
        }
    }

    fn start_round(&mut self) {
        let backlog = match self.buffer.read_oldest(self.out.max_samples_per_send) {
            Ok(Some(b)) => b,
            Ok(None) => return,
            Err(e) => {
                log::error!("{e}");
                self.buffer.rewind();
                return;
            }
        };
        // Room for the fixed header, topic and packet id.
        let room = self
            .out
            .broker
            .max_packet_size
            .saturating_sub(self.out.topic.len() + 16);
        let msgs = payloads(&backlog.batches, self.out.format, room);
        if msgs.is_empty() {
            // Rows without samples: nothing to publish, delete them.
            self.round = Some(Round {
                last_id: backlog.last_id,
                samples: 0,
                unacked: 0,
                started: Instant::now(),
            });
            self.finish_round();
            return;
        }
        self.round = Some(Round {
            last_id: backlog.last_id,
            samples: backlog.samples,
            unacked: msgs.len(),
            started: Instant::now(),
        });
        self.tel.published(msgs.len(), backlog.samples);
        let topic = self.out.topic.clone();
        for m in msgs {
            if !self.publish(&topic, false, m.bytes, Kind::Data) {
                return;
            }
        }
    }

    fn finish_round(&mut self) {
        let Some(r) = self.round.take() else { return };
        if let Err(e) = self.buffer.ack(r.last_id) {
            // Delivered but not deleted: published again later (at least once).
            log::error!("{e}");
            self.buffer.rewind();
        }
        self.tel.acked(r.samples, picket_core::clock::now_ms());
        self.tel
            .set_buffer(self.buffer.stats(), self.buffer.dropped());
    }

    /// The link is gone: forget its publishes, rewind the buffer, retry
    /// after the backoff.
    fn down(&mut self, why: String) {
        if let Some(l) = self.link.take() {
            l.close();
        }
        // Events of the old link still queued are ignored from here on.
        self.generation += 1;
        self.unsent.clear();
        self.inflight.clear();
        if self.round.take().is_some() {
            self.buffer.rewind();
        }
        self.failure(&why);
    }

    fn failure(&mut self, why: &str) {
        if !self.outage {
            log::warn!(
                "mqtt {}: broker unreachable ({why}); buffering to {}",
                self.out.broker.url,
                self.buffer.path().display()
            );
        } else {
            log::debug!("mqtt {}: {why}", self.out.broker.url);
        }
        self.outage = true;
        self.connected = false;
        self.tel.connected(false);
        // xorshift64 for ±20 % jitter.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let jitter = 0.8 + (self.rng % 1000) as f64 / 2500.0;
        self.next_try = Instant::now() + self.backoff.mul_f64(jitter);
        self.backoff = (self.backoff * 2).min(self.out.max_backoff);
    }

    fn store(&mut self, b: &Batch) {
        match self.buffer.append(b, picket_core::clock::now_ms()) {
            Ok(d) => {
                if d.max_bytes + d.max_age > 0 {
                    log::warn!(
                        "mqtt {}: buffer full, dropped the oldest {} samples (max_bytes {}, max_age {})",
                        self.out.broker.url,
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
}
