//! Entry points for the fuzz targets in tests/fuzz (not an API: hidden
//! from the docs, and nothing else calls them). Each one takes arbitrary
//! bytes, must never panic, and checks what can be checked on the way.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use smol::io::AsyncRead;

use crate::decode::text;
use crate::encode::text::encode;
use crate::http::{read_request, ReadError};

/// The text exposition parser (textfile collector, relay, scrapes, MQTT):
/// the input is one body. A body that parses is encoded, and that text
/// must parse again and encode to the very same bytes (the encoder's
/// output is a fixed point of parse-then-encode).
pub fn text(data: &[u8]) {
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut samples) = text::parse(body) else {
        return;
    };
    let mut once = Vec::new();
    encode(&mut samples, &mut once);
    let once_text = String::from_utf8(once).expect("the encoder writes UTF-8");
    // (A family named like a summary's or histogram's `_sum`, `_count` or
    // `_bucket` series once made text that did not parse: the encoder drops
    // it now, as client_golang does; corpus/text/finding-suffix-collision.)
    let mut again = match text::parse(&once_text) {
        Ok(s) => s,
        Err(e) => panic!("encoded text does not parse ({e}):\n{once_text}"),
    };
    let mut twice = Vec::new();
    encode(&mut again, &mut twice);
    assert!(
        once_text.as_bytes() == twice,
        "parse-then-encode is not a fixed point:\n{once_text}\n---\n{}",
        String::from_utf8_lossy(&twice)
    );
}

/// The HTTP request reader both servers use: the first byte sets how many
/// bytes each read of the connection returns (1 to 256, as packets split
/// a request), the rest is what the client sends. Requests are read until
/// one fails, as the keep-alive loop does, with the agent's body limit;
/// each one's query string and `Accept-Encoding` are looked at too.
pub fn http_request(data: &[u8]) {
    let Some((&step, rest)) = data.split_first() else {
        return;
    };
    let mut conn = Conn {
        data: rest,
        step: usize::from(step) + 1,
    };
    let mut buf = Vec::new();
    smol::block_on(async {
        loop {
            match read_request(&mut conn, &mut buf, Duration::from_secs(30), 64 * 1024).await {
                Ok(req) => {
                    let _ = req.accepts_gzip();
                    let _ = req.query_pairs();
                    if !req.keep_alive {
                        break;
                    }
                }
                Err(ReadError::Closed | ReadError::Bad(..) | ReadError::Io(_)) => break,
                Err(ReadError::Timeout) => panic!("timed out reading from memory"),
            }
        }
    });
}

/// The web config reader (`--web.config.file`: the YAML subset reader,
/// then exporter-toolkit's keys), and the `Authorization: Basic` parser:
/// the first line is an Authorization header, the rest a web config.
/// Nothing is read from disk (a file name is only ever joined to a path).
/// A YAML document that reads must read the same again after its text is
/// cut at its last line (no state leaks between lines).
pub fn web_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (header, src) = text.split_once('\n').unwrap_or((text, ""));
    if let Some(c) = crate::web::auth::basic(header) {
        assert!(!c.user.contains(':'), "a user name holds the separator");
    }
    let _ = crate::yaml::parse(src);
    if let Ok(cfg) = crate::web::config::parse(src, std::path::Path::new("/fuzz/web.yml")) {
        for (user, hash) in &cfg.users {
            assert!(
                crate::web::auth::check_hash(hash).is_ok(),
                "{user}: unchecked hash"
            );
        }
        if let Some(t) = &cfg.tls {
            assert!(t.min_version <= t.max_version);
        }
    }
}

/// The committed corpus of `target` (tests/fuzz/corpus/<target>).
pub fn corpus(target: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fuzz/corpus")
        .join(target)
}

/// Runs every committed input of `target` (its seeds and the inputs of past
/// findings) through `run`: each crate's fuzz regression test.
pub fn replay(target: &str, run: fn(&[u8])) {
    for e in std::fs::read_dir(corpus(target))
        .into_iter()
        .flatten()
        .flatten()
    {
        run(&std::fs::read(e.path()).expect("a corpus file"));
    }
}

/// A connection whose reads return at most `step` bytes of `data`.
struct Conn<'a> {
    data: &'a [u8],
    step: usize,
}

impl AsyncRead for Conn<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Poll::Ready(Ok(n))
    }
}

/// Relabelling (`relabel_configs` and the Go-regex translation under it):
/// the first line is a list of `name=value` label pairs separated by `,`,
/// the rest a YAML list of relabel steps. Every step that resolves runs
/// over the labels (given without empty values, as the hub and the agent
/// give them); whatever comes out must be sorted and without empty values.
pub fn relabel(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (first, src) = text.split_once('\n').unwrap_or((text, ""));
    let labels = crate::metric::Labels::from_pairs(
        first
            .split(',')
            .filter_map(|p| p.split_once('='))
            // Labels never reach relabelling with empty values (targets
            // and series drop them first); with no steps they pass as are.
            .filter(|(_, v)| !v.is_empty())
            .map(|(n, v)| (n.to_string(), v.to_string())),
    );
    let Ok(steps) = crate::yaml::de::from_str::<Vec<crate::relabel::RelabelConfigToml>>(src) else {
        return;
    };
    let cfgs: Vec<_> = steps.into_iter().filter_map(|s| s.resolve().ok()).collect();
    if let Some(out) = crate::relabel::process(labels, &cfgs) {
        let names: Vec<&str> = out.iter().map(|(n, _)| n).collect();
        assert!(names.windows(2).all(|w| w[0] < w[1]), "unsorted: {names:?}");
        assert!(
            out.iter().all(|(_, v)| !v.is_empty()),
            "an empty value kept"
        );
    }
}

#[cfg(test)]
mod tests {

    use super::replay;

    /// The fuzz targets' regression test.
    #[test]
    fn committed_fuzz_corpora_pass() {
        replay("text", super::text);
        replay("http_request", super::http_request);
        replay("web_config", super::web_config);
        replay("relabel", super::relabel);
    }
}
