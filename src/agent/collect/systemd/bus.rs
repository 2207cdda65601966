//! The systemd collector's D-Bus side: zbus's blocking client, run on the
//! collector's deadline thread only (never on the smol executor).
//!
//! The connection is made on the first scrape and kept: zbus starts an
//! executor thread per connection, and node_exporter's way (two fresh
//! connections per scrape) would cost a thread start and a SASL handshake
//! every time. A call that fails with anything but a D-Bus error reply (an
//! I/O error, a reply that never came within the timeout) marks the
//! connection broken; the next scrape connects again.

use std::time::{Duration, Instant};

use zbus::blocking::connection::Builder;
use zbus::blocking::Connection;
use zbus::zvariant::{self, OwnedObjectPath, OwnedValue};

use super::{Settings, Systemd, Unit, Value};
use crate::collect::Out;
use picket_core::metric::Sample;

const DEST: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";
/// systemd's own socket (no bus daemon, no `Hello`).
const PRIVATE: &str = "unix:path=/run/systemd/private";

/// One row of `ListUnits`: `a(ssssssouso)`.
type Row = (
    String,
    String,
    String,
    String,
    String,
    String,
    OwnedObjectPath,
    u32,
    String,
    OwnedObjectPath,
);

/// A connection to systemd, kept between scrapes.
#[derive(Debug)]
pub(crate) struct Client {
    conn: Connection,
    /// Why the connection is no longer usable.
    broken: Option<String>,
    /// The end of the current scrape's time: later calls fail at once.
    until: Instant,
}

impl Client {
    /// The system bus (`DBUS_SYSTEM_BUS_ADDRESS` or the standard socket);
    /// as root, systemd's private socket when the bus cannot be reached
    /// (go-systemd's `NewWithContext`); only that socket with `private`.
    fn connect(private: bool, timeout: Duration) -> Result<Client, String> {
        let private_conn = || {
            Builder::address(PRIVATE)
                .map(|b| b.p2p().method_timeout(timeout))
                .and_then(Builder::build)
                .map_err(|e| format!("{PRIVATE}: {e}"))
        };
        let conn = if private {
            private_conn()?
        } else {
            match Builder::system().and_then(|b| b.method_timeout(timeout).build()) {
                Ok(c) => c,
                // SAFETY: geteuid has no preconditions and cannot fail.
                Err(e) if unsafe { libc::geteuid() } == 0 => {
                    private_conn().map_err(|e2| format!("system bus: {e}; fallback {e2}"))?
                }
                Err(e) => return Err(format!("system bus: {e}")),
            }
        };
        Ok(Client {
            conn,
            broken: None,
            until: Instant::now() + timeout,
        })
    }

    fn call<B>(
        &mut self,
        path: &str,
        iface: &str,
        method: &str,
        body: &B,
    ) -> Result<zbus::Message, String>
    where
        B: serde::ser::Serialize + zvariant::DynamicType,
    {
        if let Some(why) = &self.broken {
            return Err(format!("connection lost: {why}"));
        }
        if Instant::now() >= self.until {
            return Err("out of time for this scrape".into());
        }
        self.conn
            .call_method(Some(DEST), path, Some(iface), method, body)
            .map_err(|e| {
                let msg = e.to_string();
                if !matches!(e, zbus::Error::MethodError(..) | zbus::Error::FDO(_)) {
                    self.broken = Some(msg.clone());
                }
                msg
            })
    }

    fn get(&mut self, path: &str, iface: &str, name: &str) -> Result<Value, String> {
        let reply = self.call(path, PROPERTIES, "Get", &(iface, name))?;
        let v: OwnedValue = reply.body().deserialize().map_err(|e| e.to_string())?;
        Ok(match &*v {
            zvariant::Value::Str(s) => Value::Str(s.as_str().to_string()),
            zvariant::Value::U32(n) => Value::U32(*n),
            zvariant::Value::U64(n) => Value::U64(*n),
            other => Value::Other(other.value_signature().to_string()),
        })
    }
}

impl Systemd for Client {
    fn manager_property(&mut self, name: &str) -> Result<Value, String> {
        self.get(MANAGER_PATH, MANAGER, name)
    }

    fn list_units(&mut self) -> Result<Vec<Unit>, String> {
        let reply = self.call(MANAGER_PATH, MANAGER, "ListUnits", &())?;
        let rows: Vec<Row> = reply.body().deserialize().map_err(|e| e.to_string())?;
        Ok(rows
            .into_iter()
            .map(|r| Unit {
                name: r.0,
                load_state: r.2,
                active_state: r.3,
            })
            .collect())
    }

    fn unit_property(&mut self, unit: &str, iface: &str, name: &str) -> Result<Value, String> {
        // The path from the name, as go-systemd does (no GetUnit call).
        let path = format!(
            "/org/freedesktop/systemd1/unit/{}",
            super::path_escape(unit)
        );
        self.get(&path, &format!("org.freedesktop.systemd1.{iface}"), name)
    }
}

/// One scrape, on the worker thread: the samples, and the collector's error.
pub(crate) fn scrape(set: &Settings) -> (Vec<Sample>, Result<(), String>) {
    // The scrape's time counts from here, connecting included.
    let until = Instant::now() + set.timeout;
    let mut slot = set.client.lock().unwrap_or_else(|e| e.into_inner());
    if slot.as_ref().is_some_and(|c| c.broken.is_some()) {
        *slot = None;
    }
    let client = match slot.as_mut() {
        Some(c) => c,
        None => match Client::connect(set.private, set.timeout) {
            Ok(c) => slot.insert(c),
            Err(e) => {
                return (
                    Vec::new(),
                    Err(format!("couldn't get dbus connection: {e}")),
                )
            }
        },
    };
    client.until = until;
    let mut samples = Vec::new();
    let result = super::collect(client, set, &mut Out::new(&mut samples));
    if let Some(why) = &client.broken {
        log::debug!("systemd: dropping the D-Bus connection: {why}");
        *slot = None;
    }
    (samples, result)
}
