//! The MQTT receiver of direct notifications (`mqtt_configs`): each
//! notification is Alertmanager's webhook payload (version 4, the very
//! bytes the webhook receiver POSTs) published at QoS 1, not retained, on
//! the receiver's topic (default `picket/alerts/<receiver>`). The broker
//! settings are those of `[mqtt]` and `[push.mqtt]` ([`picket_core::mqtt`]).
//!
//! Delivery goes through the dispatcher's outbox like webhooks and email:
//! a notification leaves the outbox only once the broker's PUBACK for it
//! arrived; a refused connection, a lost one or no PUBACK within
//! [`TIMEOUT`] is a failed attempt, retried with the outbox's backoff.
//!
//! Each receiver keeps one connection ([`Links`]), made on first use: a
//! rumqttc sync `Client` whose `Connection` is iterated on a thread of its
//! own (never on the smol executor), which forwards CONNACK, the packet id
//! given to the publish, PUBACK and failure to the dispatcher's thread. As
//! in the agent's MQTT output, a failed connection is dropped and a new
//! one made for the next attempt, never reconnected with state carried
//! over.

use serde::Deserialize;

use picket_core::mqtt::Broker;

/// An MQTT receiver as written: the broker keys of `[mqtt]`, a topic and
/// `send_resolved`.
#[derive(Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct MqttToml {
    /// `mqtt://host[:port]` or `mqtts://host[:port]`.
    pub url: Option<String>,
    /// MQTT client id (default `picket-hub-<hostname>-notify-<receiver>`).
    pub client_id: Option<String>,
    /// User name.
    pub username: Option<String>,
    /// Password (prefer `password_file`).
    pub password: Option<String>,
    /// File holding the password (read at load).
    pub password_file: Option<std::path::PathBuf>,
    /// PEM CA file for `mqtts://`.
    pub ca_file: Option<std::path::PathBuf>,
    /// Keep-alive ("30s").
    pub keep_alive: Option<String>,
    /// Largest MQTT packet, bytes (1 MiB).
    pub max_packet_size: Option<usize>,
    /// Topic (default `picket/alerts/<receiver>`; `{hostname}` is filled in).
    pub topic: Option<String>,
    /// Notify resolved alerts too (default true, as webhooks).
    pub send_resolved: Option<bool>,
}

impl std::fmt::Debug for MqttToml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttToml")
            .field("url", &self.url)
            .field("topic", &self.topic)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl MqttToml {
    /// Checks the `j`th `mqtt_configs` entry of receiver `name`; `Err` is
    /// (key within the entry, message).
    pub(crate) fn resolve(
        &self,
        name: &str,
        j: usize,
    ) -> Result<MqttReceiver, (&'static str, String)> {
        if !cfg!(feature = "mqtt") {
            return Err((
                "url",
                "MQTT needs the `mqtt` feature, which this build leaves out".into(),
            ));
        }
        let host = picket_core::mqtt::hostname();
        let segment = picket_core::mqtt::topic_segment(name);
        let mut client_id = format!("picket-hub-{host}-notify-{segment}");
        if j > 0 {
            client_id.push_str(&format!("-{j}"));
        }
        let broker = picket_core::mqtt::resolve(
            &picket_core::mqtt::BrokerKeys {
                url: self.url.as_deref(),
                client_id: self.client_id.as_deref(),
                username: self.username.as_deref(),
                password: self.password.as_deref(),
                password_file: self.password_file.as_ref(),
                ca_file: self.ca_file.as_ref(),
                keep_alive: self.keep_alive.as_deref(),
                max_packet_size: self.max_packet_size,
            },
            client_id,
            DEFAULT_MAX_PACKET,
        )?;
        let topic = match &self.topic {
            Some(t) => picket_core::mqtt::expand_topic(t, &host).map_err(|e| ("topic", e))?,
            None => format!("picket/alerts/{segment}"),
        };
        Ok(MqttReceiver {
            broker,
            topic,
            send_resolved: self.send_resolved.unwrap_or(true),
        })
    }
}

/// One `mqtt_configs` entry, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct MqttReceiver {
    /// The broker and how to log in.
    pub broker: Broker,
    /// The topic notifications are published on.
    pub topic: String,
    /// Notify resolved alerts too (default true, as webhooks).
    pub send_resolved: bool,
}

/// Longest wait for CONNACK, then for the PUBACK, of one notification.
#[cfg_attr(not(feature = "mqtt"), allow(dead_code))]
pub(crate) const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Default largest MQTT packet of a notification receiver: 1 MiB (a
/// payload of a few thousand alerts; Mosquitto's own limit is 256 MiB).
pub(crate) const DEFAULT_MAX_PACKET: usize = 1 << 20;

#[cfg(feature = "mqtt")]
pub use link::Links;

#[cfg(feature = "mqtt")]
mod link {
    use std::collections::BTreeMap;
    use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
    use std::time::Instant;

    use rumqttc::{Client, ConnectReturnCode, Event, Outgoing, Packet, QoS};

    use super::{MqttReceiver, TIMEOUT};
    use picket_core::mqtt::Broker;

    /// What a connection's thread reports.
    #[derive(Debug)]
    enum Ev {
        Connected,
        Sent(u16),
        Acked(u16),
        Down(String),
    }

    /// One broker connection.
    struct Link {
        broker: Broker,
        client: Client,
        rx: Receiver<Ev>,
        connected: bool,
    }

    /// The open connections, by outbox target (`<receiver>#<index>`).
    /// Used only on the dispatcher's thread.
    #[derive(Default)]
    pub struct Links {
        map: BTreeMap<String, Link>,
    }

    impl std::fmt::Debug for Links {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Links")
                .field("open", &self.map.keys().collect::<Vec<_>>())
                .finish()
        }
    }

    impl Links {
        /// Publishes `body` to `r` and waits for its PUBACK. `Err` says
        /// why not (broker, topic and cause); the connection is then
        /// dropped.
        pub(crate) fn publish(
            &mut self,
            target: &str,
            r: &MqttReceiver,
            body: &str,
        ) -> Result<(), String> {
            let at = |e: String| format!("{} topic {}: {e}", r.broker.url, r.topic);
            let mut link = match self.map.remove(target) {
                // A connection that went down while idle (broker restart)
                // is replaced now, not counted as a failed attempt.
                Some(mut l) if l.broker == r.broker => {
                    if l.alive() {
                        l
                    } else {
                        l.close();
                        Link::open(&r.broker).map_err(at)?
                    }
                }
                Some(l) => {
                    l.close();
                    Link::open(&r.broker).map_err(at)?
                }
                None => Link::open(&r.broker).map_err(at)?,
            };
            match link.publish(&r.topic, body) {
                Ok(()) => {
                    self.map.insert(target.to_string(), link);
                    Ok(())
                }
                Err(e) => {
                    link.close();
                    Err(at(e))
                }
            }
        }

        /// Closes the connections of targets `keep` does not want (after a
        /// reload).
        pub(crate) fn retain(&mut self, mut keep: impl FnMut(&str, &Broker) -> bool) {
            let gone: Vec<String> = self
                .map
                .iter()
                .filter(|(k, l)| !keep(k, &l.broker))
                .map(|(k, _)| k.clone())
                .collect();
            for k in gone {
                if let Some(l) = self.map.remove(&k) {
                    l.close();
                }
            }
        }
    }

    impl Link {
        fn open(b: &Broker) -> Result<Link, String> {
            let mut o = picket_core::mqtt::options(b)?;
            // Nothing to resume: what was not acknowledged is still in the
            // outbox and is published again on a fresh connection.
            o.set_clean_session(true).set_inflight(1);
            let (client, mut conn) = Client::new(o, 8);
            let (tx, rx) = mpsc::channel();
            std::thread::Builder::new()
                .name("picket-hub-notify-mqtt".into())
                .spawn(move || {
                    for ev in conn.iter() {
                        let e = match ev {
                            Ok(Event::Incoming(Packet::ConnAck(c))) => {
                                if c.code == ConnectReturnCode::Success {
                                    Ev::Connected
                                } else {
                                    Ev::Down(format!("connection refused: {:?}", c.code))
                                }
                            }
                            Ok(Event::Incoming(Packet::PubAck(p))) => Ev::Acked(p.pkid),
                            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => Ev::Sent(pkid),
                            Ok(_) => continue,
                            Err(e) => Ev::Down(e.to_string()),
                        };
                        let done = matches!(e, Ev::Down(_));
                        if tx.send(e).is_err() || done {
                            return;
                        }
                    }
                })
                .map_err(|e| format!("cannot start a thread: {e}"))?;
            Ok(Link {
                broker: b.clone(),
                client,
                rx,
                connected: false,
            })
        }

        /// Takes what arrived while idle; false if the connection is gone.
        fn alive(&mut self) -> bool {
            loop {
                match self.rx.try_recv() {
                    Ok(Ev::Connected) => self.connected = true,
                    Ok(Ev::Down(_)) | Err(TryRecvError::Disconnected) => return false,
                    Ok(_) => {}
                    Err(TryRecvError::Empty) => return true,
                }
            }
        }

        fn next(&self, deadline: Instant, waiting_for: &str) -> Result<Ev, String> {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(Ev::Down(e)) => Err(e),
                Ok(e) => Ok(e),
                Err(RecvTimeoutError::Timeout) => {
                    Err(format!("no {waiting_for} within {}s", TIMEOUT.as_secs()))
                }
                Err(RecvTimeoutError::Disconnected) => Err("connection closed".into()),
            }
        }

        /// One QoS 1 publish, not retained, until its PUBACK.
        fn publish(&mut self, topic: &str, body: &str) -> Result<(), String> {
            let deadline = Instant::now() + TIMEOUT;
            while !self.connected {
                if let Ev::Connected = self.next(deadline, "CONNACK")? {
                    self.connected = true;
                }
            }
            self.client
                .try_publish(topic, QoS::AtLeastOnce, false, body.as_bytes().to_vec())
                .map_err(|e| format!("publish: {e}"))?;
            // One publish at a time on a link: the next packet id sent is
            // this one's.
            let pkid = loop {
                if let Ev::Sent(p) = self.next(deadline, "publish")? {
                    break p;
                }
            };
            loop {
                if let Ev::Acked(p) = self.next(deadline, "PUBACK")? {
                    if p == pkid {
                        return Ok(());
                    }
                }
            }
        }

        /// DISCONNECT, and the thread ends with the connection.
        fn close(self) {
            let _ = self.client.try_disconnect();
        }
    }
}

/// Without the `mqtt` feature no `mqtt_configs` pass the config check, so
/// nothing is ever published.
#[cfg(not(feature = "mqtt"))]
#[derive(Debug, Default)]
pub struct Links {}

#[cfg(not(feature = "mqtt"))]
impl Links {
    /// Always an error: this build has no MQTT.
    pub(crate) fn publish(&mut self, _: &str, r: &MqttReceiver, _: &str) -> Result<(), String> {
        Err(format!("{}: this build has no MQTT", r.broker.url))
    }

    /// Nothing to close.
    pub(crate) fn retain(&mut self, _: impl FnMut(&str, &Broker) -> bool) {}
}
