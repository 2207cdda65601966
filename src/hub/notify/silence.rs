//! Silences for direct notifications, in Alertmanager's API v2 shape:
//! `POST /api/v2/silences` (create, or update with `id`), `GET
//! /api/v2/silences`, `GET`/`DELETE /api/v2/silence/{id}` (delete
//! expires it, as Alertmanager does). An alert matching every matcher of
//! an active silence is not notified. Kept in the dispatcher's SQLite
//! file so a restart keeps them.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};

use super::route::parse_matcher;
use crate::api::{parse_time, Answer};
use crate::json;
use crate::store::{now_ms, Matcher, Op};
use picket_core::metric::Labels;

/// One matcher as the API writes it.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub(crate) struct ApiMatcher {
    /// Label name.
    pub name: String,
    /// Value or regex.
    pub value: String,
    /// Regex match.
    #[serde(rename = "isRegex")]
    pub is_regex: bool,
    /// Equality (false: negated); Alertmanager's default is true.
    #[serde(rename = "isEqual", default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

/// A silence as the API writes it.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub(crate) struct ApiSilence {
    /// Set when updating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Matchers (all must match).
    pub matchers: Vec<ApiMatcher>,
    /// RFC 3339.
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    /// RFC 3339.
    #[serde(rename = "endsAt")]
    pub ends_at: String,
    /// Who.
    #[serde(rename = "createdBy")]
    pub created_by: String,
    /// Why.
    pub comment: String,
}

#[derive(Clone, Debug)]
struct Silence {
    api: ApiSilence,
    matchers: Vec<Matcher>,
    starts: i64,
    ends: i64,
    updated: i64,
}

impl Silence {
    fn state(&self, now: i64) -> &'static str {
        if now < self.starts {
            "pending"
        } else if now >= self.ends {
            "expired"
        } else {
            "active"
        }
    }
}

/// The silences.
#[derive(Debug, Default)]
pub(crate) struct Silences {
    all: Mutex<BTreeMap<String, Silence>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn check(api: ApiSilence, updated: i64) -> Result<Silence, String> {
    if api.matchers.is_empty() {
        return Err("silence invalid: at least one matcher required".into());
    }
    let mut matchers = Vec::new();
    for m in &api.matchers {
        let op = match (m.is_regex, m.is_equal) {
            (false, true) => Op::Eq,
            (false, false) => Op::Ne,
            (true, true) => Op::Re,
            (true, false) => Op::Nre,
        };
        if !picket_core::metric::valid_label_name(&m.name) {
            return Err(format!("silence invalid: invalid label name {:?}", m.name));
        }
        matchers.push(
            Matcher::new(&m.name, op, &m.value).map_err(|e| format!("silence invalid: {e}"))?,
        );
    }
    if matchers.iter().all(Matcher::matches_empty) {
        return Err("silence invalid: at least one matcher must not match the empty string".into());
    }
    let starts = parse_time(&api.starts_at).ok_or("silence invalid: bad startsAt")?;
    let ends = parse_time(&api.ends_at).ok_or("silence invalid: bad endsAt")?;
    if ends < starts {
        return Err("silence invalid: end time must not be before start time".into());
    }
    Ok(Silence {
        api,
        matchers,
        starts,
        ends,
        updated,
    })
}

/// A random version 4 UUID (Alertmanager's silence ids).
fn uuid() -> String {
    use std::io::Read;
    let mut b = [0u8; 16];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    if ok.is_err() {
        let t = now_ms() as u128 ^ (u128::from(std::process::id()) << 64);
        b = t.to_le_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

impl Silences {
    /// Loads the saved silences.
    pub(crate) fn load(db: &Connection) -> Result<Silences, rusqlite::Error> {
        let s = Silences::default();
        let mut st = db.prepare("SELECT id, body FROM silences")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (id, body) = row?;
            match serde_json::from_str::<ApiSilence>(&body)
                .map_err(|e| e.to_string())
                .and_then(|a| check(a, now_ms()))
            {
                Ok(sil) => {
                    lock(&s.all).insert(id, sil);
                }
                Err(e) => log::warn!("saved silence {id} is unreadable, skipped: {e}"),
            }
        }
        Ok(s)
    }

    /// Whether an active silence matches `labels` at `now`.
    pub(crate) fn silenced(&self, labels: &Labels, now: i64) -> bool {
        lock(&self.all).values().any(|s| {
            s.state(now) == "active" && s.matchers.iter().all(|m| m.matches_labels(labels))
        })
    }

    /// `POST /api/v2/silences`: `{"silenceID": id}`.
    pub(crate) fn post(&self, db: &Connection, body: &[u8]) -> Answer {
        let api: ApiSilence = match serde_json::from_slice(body) {
            Ok(a) => a,
            Err(e) => return (400, json_msg(&e.to_string())),
        };
        let now = now_ms();
        let mut sil = match check(api, now) {
            Ok(s) => s,
            Err(e) => return (400, json_msg(&e)),
        };
        let id = match &sil.api.id {
            Some(id) if !id.is_empty() => {
                if !lock(&self.all).contains_key(id) {
                    return (404, json_msg(&format!("silence {id} not found")));
                }
                id.clone()
            }
            _ => uuid(),
        };
        sil.api.id = Some(id.clone());
        let text = serde_json::to_string(&sil.api).unwrap_or_default();
        if let Err(e) = db.execute(
            "INSERT OR REPLACE INTO silences (id, body) VALUES (?1, ?2)",
            params![id, text],
        ) {
            return (500, json_msg(&format!("cannot save the silence: {e}")));
        }
        lock(&self.all).insert(id.clone(), sil);
        let mut out = String::from("{\"silenceID\":");
        json::string(&mut out, &id);
        out.push('}');
        (200, out)
    }

    /// `GET /api/v2/silences`, optionally `filter=name="value"` (repeatable).
    pub(crate) fn list(&self, filters: &[&str]) -> Answer {
        let mut fs = Vec::new();
        for f in filters {
            match parse_matcher(f) {
                Ok(m) => fs.push(m),
                Err(e) => return (400, json_msg(&e)),
            }
        }
        let now = now_ms();
        let all = lock(&self.all);
        let items: Vec<String> = all
            .iter()
            .filter(|(_, s)| {
                fs.iter().all(|f| {
                    s.api.matchers.iter().any(|m| {
                        m.name == f.name && !m.is_regex && m.is_equal && f.matches(&m.value)
                    })
                })
            })
            .map(|(id, s)| one(id, s, now))
            .collect();
        (200, format!("[{}]", items.join(",")))
    }

    /// `GET /api/v2/silence/{id}`.
    pub(crate) fn get(&self, id: &str) -> Answer {
        match lock(&self.all).get(id) {
            Some(s) => (200, one(id, s, now_ms())),
            None => (404, json_msg(&format!("silence {id} not found"))),
        }
    }

    /// `DELETE /api/v2/silence/{id}`: expires it now.
    pub(crate) fn delete(&self, db: &Connection, id: &str) -> Answer {
        let now = now_ms();
        let mut all = lock(&self.all);
        let Some(s) = all.get_mut(id) else {
            return (404, json_msg(&format!("silence {id} not found")));
        };
        if s.state(now) == "expired" {
            return (200, String::new());
        }
        s.ends = now;
        if s.starts > now {
            s.starts = now;
        }
        let mut t = String::new();
        json::rfc3339(&mut t, now);
        s.api.ends_at = t.clone();
        if s.api.starts_at > t {
            s.api.starts_at = t;
        }
        s.updated = now;
        let text = serde_json::to_string(&s.api).unwrap_or_default();
        if let Err(e) = db.execute(
            "UPDATE silences SET body = ?2 WHERE id = ?1",
            params![id, text],
        ) {
            return (500, json_msg(&format!("cannot save the silence: {e}")));
        }
        (200, String::new())
    }
}

fn json_msg(m: &str) -> String {
    let mut s = String::new();
    json::string(&mut s, m);
    s
}

fn one(id: &str, s: &Silence, now: i64) -> String {
    let mut out = String::from("{\"id\":");
    json::string(&mut out, id);
    out.push_str(",\"status\":{\"state\":");
    json::string(&mut out, s.state(now));
    out.push_str("},\"updatedAt\":\"");
    json::rfc3339(&mut out, s.updated);
    out.push_str("\",\"matchers\":");
    out.push_str(&serde_json::to_string(&s.api.matchers).unwrap_or_else(|_| "[]".into()));
    out.push_str(",\"startsAt\":\"");
    json::rfc3339(&mut out, s.starts);
    out.push_str("\",\"endsAt\":\"");
    json::rfc3339(&mut out, s.ends);
    out.push_str("\",\"createdBy\":");
    json::string(&mut out, &s.api.created_by);
    out.push_str(",\"comment\":");
    json::string(&mut out, &s.api.comment);
    out.push('}');
    out
}
