//! Who a board is on the wire: the `job` and `instance` every pushed
//! sample carries, attached as Prometheus attaches a scrape target's labels.
//!
//! A board that is scraped gets its identity from the scraper
//! (`job="node"`, `instance="<host>:9100"` for a `job_name: node` job). A
//! board that pushes has no scraper, so the agent attaches the same labels
//! itself, to every sample it sends by remote_write or MQTT: the series of
//! a board are the same whichever way they travel, and a board moved from
//! pull to push keeps continuous series.
//!
//! The rules are Prometheus's (`scrape/scrape.go`, `mutateSampleLabels`):
//! - `honor_labels = false` (the default): a sample's own `job` or
//!   `instance` (relayed exporters, textfile, HAProxy, PostgreSQL) is kept
//!   as `exported_job` / `exported_instance` (`exported_exported_job` if that
//!   is taken too), and the target's value is set;
//! - `honor_labels = true`: a sample's own labels win; the target's are
//!   added only where missing.
//!
//! External labels come after, and only where a series has no such label
//! ([`crate::encode::remote_write::series_key`]).

/// The target labels of this board and how they meet a sample's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// `job`.
    pub job: String,
    /// `instance`.
    pub instance: String,
    /// Keep a sample's own `job`/`instance` (Prometheus's `honor_labels`).
    pub honor_labels: bool,
}

/// The prefix Prometheus gives a sample's label that clashes with a
/// target label.
const EXPORTED: &str = "exported_";

impl Identity {
    /// The identity's labels, sorted by name.
    pub(crate) fn labels(&self) -> [(&'static str, &str); 2] {
        [("instance", &self.instance), ("job", &self.job)]
    }

    /// A sample's label pairs (any order, `__name__` excluded or not) with
    /// the identity attached; empty values are dropped (no label).
    pub(crate) fn apply<'a>(
        &self,
        own: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = own
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        self.attach(&mut out);
        out
    }

    /// Attaches the identity to a label list in place (the order is not
    /// kept: callers sort).
    pub fn attach(&self, out: &mut Vec<(String, String)>) {
        for (name, value) in self.labels() {
            if value.is_empty() {
                continue;
            }
            match out.iter().position(|(n, _)| n == name) {
                None => out.push((name.to_string(), value.to_string())),
                Some(_) if self.honor_labels => {}
                Some(i) => {
                    // Find a free exported_… name, as Prometheus does.
                    let mut exported = format!("{EXPORTED}{name}");
                    while out.iter().any(|(n, _)| *n == exported) {
                        exported.insert_str(0, EXPORTED);
                    }
                    let own = std::mem::replace(&mut out[i].1, value.to_string());
                    out.push((exported, own));
                }
            }
        }
    }

    /// The default `instance`: `<hostname>:<port of the listen address>`,
    /// what a Prometheus job scraping the board by its name would set.
    pub fn default_instance(hostname: &str, listen_address: &str) -> String {
        let port = listen_address
            .rsplit_once(':')
            .map(|(_, p)| p)
            .filter(|p| !p.is_empty())
            .unwrap_or("9100");
        format!("{hostname}:{port}")
    }
}

/// The kernel's host name (`/proc/sys/kernel/hostname`), `localhost` if it
/// cannot be read: the name a board is known by.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(honor: bool) -> Identity {
        Identity {
            job: "node".into(),
            instance: "pi4:9100".into(),
            honor_labels: honor,
        }
    }

    fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
        v.sort();
        v
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        sorted(
            p.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    }

    #[test]
    fn a_plain_sample_gets_the_identity() {
        let got = sorted(id(false).apply([("cpu", "0"), ("empty", "")]));
        assert_eq!(
            got,
            pairs(&[("cpu", "0"), ("instance", "pi4:9100"), ("job", "node")])
        );
    }

    #[test]
    fn own_job_and_instance_become_exported_unless_honored() {
        let own = [
            ("job", "haproxy"),
            ("instance", "127.0.0.1:8405"),
            ("exported_job", "x"),
        ];
        assert_eq!(
            sorted(id(false).apply(own)),
            pairs(&[
                ("exported_exported_job", "haproxy"),
                ("exported_instance", "127.0.0.1:8405"),
                ("exported_job", "x"),
                ("instance", "pi4:9100"),
                ("job", "node"),
            ])
        );
        assert_eq!(
            sorted(id(true).apply(own)),
            pairs(&[
                ("exported_job", "x"),
                ("instance", "127.0.0.1:8405"),
                ("job", "haproxy"),
            ])
        );
    }

    #[test]
    fn default_instance_is_host_and_listen_port() {
        assert_eq!(Identity::default_instance("pi4", ":9100"), "pi4:9100");
        assert_eq!(
            Identity::default_instance("pi4", "127.0.0.1:19101"),
            "pi4:19101"
        );
        assert_eq!(Identity::default_instance("pi4", "[::]:9101"), "pi4:9101");
    }
}
