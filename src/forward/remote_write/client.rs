//! One remote_write POST with ureq, and what its outcome means for the
//! batch: delivered, retry later, or never (the spec's rules).
//!
//! Blocking: called only from the output's own thread.

use std::io::Read;
use std::time::Duration;

use super::RemoteWrite;
use picket_core::encode::remote_write::HEADERS;
use picket_core::web::client::ClientAuth;

/// What became of a request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    /// 2xx: delete it.
    Delivered(u16),
    /// 5xx, 429 or no answer: keep it and retry with backoff.
    Retry {
        /// Status code, or `None` for a network error or timeout.
        code: Option<u16>,
        /// Why, for the log.
        why: String,
    },
    /// Any other 4xx: the receiver will never take it; drop and count.
    Rejected {
        /// Status code.
        code: u16,
        /// The start of the response body, for the log.
        why: String,
    },
}

impl Answer {
    /// The `code` label: the status, or `error` when there was none.
    pub(crate) fn code_label(&self) -> String {
        match self {
            Answer::Delivered(c) | Answer::Rejected { code: c, .. } => c.to_string(),
            Answer::Retry { code: Some(c), .. } => c.to_string(),
            Answer::Retry { code: None, .. } => "error".to_string(),
        }
    }
}

/// A receiver's HTTP client.
#[derive(Debug)]
pub(crate) struct Client {
    agent: ureq::Agent,
    url: String,
    auth: Option<ClientAuth>,
}

impl Client {
    /// A client for one receiver.
    pub(crate) fn new(rw: &RemoteWrite) -> Client {
        let builder = ureq::Agent::config_builder()
            .timeout_global(Some(rw.timeout))
            .timeout_connect(Some(rw.timeout.min(Duration::from_secs(10))))
            .http_status_as_error(false)
            .user_agent(concat!("picket/", env!("CARGO_PKG_VERSION")));
        let agent = rw.tls.agent(builder);
        let auth = rw.auth.clone();
        Client {
            agent,
            url: rw.url.clone(),
            auth,
        }
    }

    /// POSTs one request body (Snappy-compressed protobuf).
    pub(crate) fn send(&self, body: &[u8]) -> Answer {
        let mut req = self.agent.post(&self.url);
        for (k, v) in HEADERS {
            req = req.header(k, v);
        }
        if let Some(a) = &self.auth {
            // A password or token file is read per request (rotation
            // needs no restart); an unreadable one is retried later.
            match a.header() {
                Ok(h) => req = req.header("Authorization", h),
                Err(why) => return Answer::Retry { code: None, why },
            }
        }
        match req.send(body) {
            Ok(mut resp) => {
                let code = resp.status().as_u16();
                if (200..300).contains(&code) {
                    return Answer::Delivered(code);
                }
                let mut text = String::new();
                let _ = resp
                    .body_mut()
                    .as_reader()
                    .take(512)
                    .read_to_string(&mut text);
                let why = text.trim().to_string();
                if code >= 500 || code == 429 {
                    Answer::Retry {
                        code: Some(code),
                        why,
                    }
                } else {
                    Answer::Rejected { code, why }
                }
            }
            Err(e) => Answer::Retry {
                code: None,
                why: e.to_string(),
            },
        }
    }
}
