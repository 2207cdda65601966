//! HTTP basic auth against a web config's bcrypt hashes, as
//! exporter-toolkit checks it.
//!
//! bcrypt at the default cost takes tens of milliseconds on purpose, so a
//! scrape every 15 s must not pay one each time. Like exporter-toolkit
//! (`web/handler.go`, `web/cache.go`): the outcome of a check (success or
//! failure) is cached under user, hash and password together, 100 entries,
//! a tenth dropped when full (failures first: a flood of wrong passwords
//! cannot push a scraper's success out); a miss runs bcrypt under one lock,
//! so a flood of wrong passwords costs one core at most; an unknown user is
//! checked against a fixed hash so its answer takes as long as a known
//! user's (no user enumeration by timing). The hash comparison itself is
//! the bcrypt crate's constant-time one. A hash that changes in the file
//! misses the cache, since the hash is part of the key.

use std::collections::HashMap;
use std::sync::Mutex;

/// Credentials sent with a request.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Creds {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for Creds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        write!(f, "Creds {{ user: {:?} }}", self.user)
    }
}

/// What the cache knows about a request.
#[derive(Debug)]
pub enum Verdict {
    /// Allowed (no users configured, or a cached success).
    Allow,
    /// Refused (no or malformed credentials, or a cached failure).
    Deny,
    /// Needs a bcrypt check: run [`Auth::verify`] off the event loop.
    Check(Creds),
}

/// Entries kept; exporter-toolkit's size.
const CACHE_SIZE: usize = 100;

/// A bcrypt hash (of "fakepassword", cost 10) checked for unknown users.
const FAKE_HASH: &str = "$2y$10$QqUI5V60D93xYgwvKnxQwOZ21EUteIAGMHLfcbgweBosZhCkl9FYa";

type Key = (String, String, String);

/// The checked-credentials cache and the bcrypt lock.
#[derive(Debug, Default)]
pub struct Auth {
    cache: Mutex<HashMap<Key, bool>>,
    bcrypt: Mutex<()>,
}

impl Auth {
    /// What is known without bcrypt about `header` (the request's
    /// `Authorization`) against `users`.
    pub fn check(&self, users: &[(String, String)], header: Option<&str>) -> Verdict {
        if users.is_empty() {
            return Verdict::Allow;
        }
        let Some(creds) = header.and_then(basic) else {
            return Verdict::Deny;
        };
        let key = key(users, &creds);
        match lock(&self.cache).get(&key) {
            Some(true) => Verdict::Allow,
            Some(false) => Verdict::Deny,
            None => Verdict::Check(creds),
        }
    }

    /// Checks `creds` with bcrypt (blocking: tens of ms) and caches the
    /// outcome.
    pub fn verify(&self, users: &[(String, String)], creds: &Creds) -> bool {
        let key = key(users, creds);
        if let Some(&ok) = lock(&self.cache).get(&key) {
            return ok;
        }
        let known = users.iter().find(|(u, _)| *u == creds.user);
        let hash = known.map_or(FAKE_HASH, |(_, h)| h.as_str());
        let ok = {
            let _one_at_a_time = lock(&self.bcrypt);
            bcrypt::verify(&creds.password, hash).unwrap_or(false)
        } && known.is_some();
        let mut cache = lock(&self.cache);
        if cache.len() >= CACHE_SIZE {
            evict(&mut cache);
        }
        cache.insert(key, ok);
        ok
    }
}

/// Drops about a tenth of a full cache, failures first (HashMap's order is
/// random per process): a flood of wrong passwords must not push a
/// scraper's cached success out, or each scrape would queue a bcrypt
/// behind the flood's.
fn evict(cache: &mut HashMap<Key, bool>) {
    let mut drop: Vec<Key> = cache
        .iter()
        .filter(|(_, ok)| !**ok)
        .map(|(k, _)| k.clone())
        .take(CACHE_SIZE / 10)
        .collect();
    if drop.is_empty() {
        drop = cache.keys().take(CACHE_SIZE / 10).cloned().collect();
    }
    for k in drop {
        cache.remove(&k);
    }
}

fn key(users: &[(String, String)], creds: &Creds) -> Key {
    let hash = users
        .iter()
        .find(|(u, _)| *u == creds.user)
        .map_or("", |(_, h)| h.as_str());
    (creds.user.clone(), hash.to_string(), creds.password.clone())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Compares two secrets in time that depends on their lengths only.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y));
    // Keep the optimiser from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

/// The user and password of an `Authorization: Basic` header.
pub fn basic(header: &str) -> Option<Creds> {
    let (scheme, b64) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = decode_base64(b64.trim())?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    Some(Creds {
        user: user.to_string(),
        password: password.to_string(),
    })
}

/// Standard base64 with optional padding.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Whether `hash` is a bcrypt hash Go's bcrypt accepts (`$2$`, `$2a$`,
/// `$2b$`, `$2x$`, `$2y$`; cost 4-31): checked when a web config is read.
pub fn check_hash(hash: &str) -> Result<(), String> {
    let parts: Vec<&str> = hash.split('$').collect();
    if parts.len() != 4 || !parts[0].is_empty() {
        return Err(
            "expected $2y$<cost>$<53 characters> (htpasswd -nBC 10 \"\" | tr -d ':\\n')".into(),
        );
    }
    if !matches!(parts[1], "2" | "2a" | "2b" | "2x" | "2y") {
        return Err(format!("unknown bcrypt version ${}$", parts[1]));
    }
    let cost: u32 = parts[2]
        .parse()
        .map_err(|_| "the cost is not a number".to_string())?;
    if !(4..=31).contains(&cost) {
        return Err(format!("cost {cost} is outside 4-31"));
    }
    if parts[3].len() != 53 {
        return Err("the salt and hash must be 53 characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // htpasswd -nbBC 4 "" secret | tr -d ':\n' (cost 4 keeps tests fast).
    const SECRET: &str = "$2y$04$Sdvk/ScOOi55si0ryoW0FOPa1OLmcQ2xUTqa99f7kVxnX/j/LlVa.";

    fn header(user: &str, pw: &str) -> String {
        format!(
            "Basic {}",
            crate::http::base64(format!("{user}:{pw}").as_bytes())
        )
    }

    fn users() -> Vec<(String, String)> {
        vec![("alice".into(), SECRET.into())]
    }

    #[test]
    fn checks_and_caches_both_outcomes() {
        let auth = Auth::default();
        let u = users();
        assert!(matches!(auth.check(&[], None), Verdict::Allow));
        assert!(matches!(auth.check(&u, None), Verdict::Deny));
        assert!(matches!(auth.check(&u, Some("Bearer x")), Verdict::Deny));
        for (pw, want) in [("secret", true), ("wrong", false)] {
            let h = header("alice", pw);
            let Verdict::Check(c) = auth.check(&u, Some(&h)) else {
                panic!("first check must need bcrypt")
            };
            assert_eq!(auth.verify(&u, &c), want);
            let cached = auth.check(&u, Some(&h));
            assert_eq!(matches!(cached, Verdict::Allow), want, "{cached:?}");
        }
        // An unknown user is refused, even with the fake hash's password.
        let h = header("mallory", "fakepassword");
        let Verdict::Check(c) = auth.check(&u, Some(&h)) else {
            panic!()
        };
        assert!(!auth.verify(&u, &c));
        // A changed hash is not served from the cache.
        let other = vec![("alice".to_string(), FAKE_HASH.to_string())];
        assert!(matches!(
            auth.check(&other, Some(&header("alice", "secret"))),
            Verdict::Check(_)
        ));
    }

    #[test]
    fn cache_stays_bounded() {
        let auth = Auth::default();
        let u = users();
        for i in 0..150 {
            let c = Creds {
                user: format!("u{i}"),
                password: "x".into(),
            };
            lock(&auth.cache).insert(key(&u, &c), false);
            if lock(&auth.cache).len() > CACHE_SIZE {
                panic!("cache grew past its size");
            }
            if lock(&auth.cache).len() == CACHE_SIZE {
                let c = Creds {
                    user: "alice".into(),
                    password: format!("p{i}"),
                };
                auth.verify(&u, &c);
            }
        }
        assert!(lock(&auth.cache).len() <= CACHE_SIZE);
    }

    #[test]
    fn a_flood_of_failures_keeps_a_cached_success() {
        let auth = Auth::default();
        let u = users();
        let good = Creds {
            user: "alice".into(),
            password: "secret".into(),
        };
        assert!(auth.verify(&u, &good));
        for i in 0..500 {
            let c = Creds {
                user: "alice".into(),
                password: format!("guess{i}"),
            };
            // As verify caches a failure, without 500 bcrypts.
            let mut cache = lock(&auth.cache);
            if cache.len() >= CACHE_SIZE {
                evict(&mut cache);
            }
            cache.insert(key(&u, &c), false);
        }
        assert!(matches!(
            auth.check(&u, Some(&header("alice", "secret"))),
            Verdict::Allow
        ));
    }

    #[test]
    fn reads_basic_headers() {
        let c = basic(&header("alice", "pa:ss word")).unwrap();
        assert_eq!(
            (c.user.as_str(), c.password.as_str()),
            ("alice", "pa:ss word")
        );
        assert!(basic("Basic !!!").is_none());
        assert!(basic("Basic").is_none());
        assert!(basic(&format!("Basic {}", crate::http::base64(b"nocolon"))).is_none());
        assert!(!format!("{c:?}").contains("pa:ss"));
    }

    #[test]
    fn hash_formats() {
        assert!(check_hash(SECRET).is_ok());
        for v in ["2", "2a", "2b", "2x"] {
            assert!(check_hash(&SECRET.replacen("2y", v, 1)).is_ok(), "{v}");
        }
        assert!(check_hash("$2z$04$x").is_err());
        assert!(
            check_hash("$2y$03$Sdvk/ScOOi55si0ryoW0FOPa1OLmcQ2xUTqa99f7kVxnX/j/LlVa.").is_err()
        );
        assert!(check_hash("secret").is_err());
    }
}
