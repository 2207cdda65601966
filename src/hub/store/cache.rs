//! Decoded chunks, kept for the next query. A Grafana dashboard asks for the
//! same series again and again (dashboard 1860 reads `node_cpu_seconds_total`
//! in a dozen panels, and refreshes every few seconds), and decoding the
//! range-coded chunks is most of what a query over sealed data costs. So the
//! store keeps recently decoded chunks, up to a bound in samples.
//!
//! Entries are keyed by series, chunk start and a hash of the chunk's bytes:
//! a chunk rewritten by an out-of-order merge or a day's compaction has
//! other bytes, so a stale entry is never returned, only left to age out.
//! Eviction is first in, first out: simple, and a dashboard's working set
//! either fits or it does not.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::chunk;

/// A chunk's decoded samples, shared with the queries reading them.
pub(crate) type Decoded = Arc<Vec<(i64, f64)>>;

/// (series id, chunk start, hash of the chunk's bytes)
type Key = (u32, i64, u64);

/// The bounded cache of decoded chunks.
#[derive(Debug)]
pub(crate) struct ChunkCache {
    map: HashMap<Key, Decoded>,
    order: VecDeque<Key>,
    samples: usize,
    max_samples: usize,
}

impl ChunkCache {
    /// A cache holding at most `max_samples` decoded samples (16 bytes
    /// each); 0 turns it off.
    pub(crate) fn new(max_samples: usize) -> ChunkCache {
        ChunkCache {
            map: HashMap::new(),
            order: VecDeque::new(),
            samples: 0,
            max_samples,
        }
    }

    /// The key of a chunk.
    pub fn key(series: u32, start: i64, data: &[u8]) -> Key {
        let mut h = DefaultHasher::new();
        data.hash(&mut h);
        (series, start, h.finish())
    }

    /// The decoded samples of `key`, if kept.
    pub(crate) fn get(&self, key: &Key) -> Option<Decoded> {
        self.map.get(key).cloned()
    }

    /// Keeps `d` under `key`, dropping the oldest entries past the bound.
    pub(crate) fn put(&mut self, key: Key, d: Decoded) {
        if d.len() > self.max_samples || self.map.contains_key(&key) {
            return;
        }
        self.samples += d.len();
        self.map.insert(key, d);
        self.order.push_back(key);
        while self.samples > self.max_samples {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(d) = self.map.remove(&old) {
                self.samples -= d.len();
            }
        }
    }

    #[cfg(test)]
    /// Samples kept.
    pub(crate) fn samples(&self) -> usize {
        self.samples
    }
}

/// Decodes `data` through `cache` (locked only to look up and to insert).
pub(crate) fn decode(
    cache: &std::sync::Mutex<ChunkCache>,
    series: u32,
    start: i64,
    data: &[u8],
) -> Result<Decoded, String> {
    let key = ChunkCache::key(series, start, data);
    let lock = || {
        cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    if let Some(d) = lock().get(&key) {
        return Ok(d);
    }
    let d = Arc::new(chunk::decode(data)?);
    lock().put(key, d.clone());
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_within_the_bound_and_keys_on_the_bytes() {
        let mut c = ChunkCache::new(10);
        let v = |n: usize| Arc::new(vec![(0i64, 0f64); n]);
        let a = ChunkCache::key(1, 0, b"a");
        let b = ChunkCache::key(1, 0, b"b");
        assert_ne!(a, b, "other bytes, other entry");
        c.put(a, v(6));
        c.put(b, v(3));
        assert_eq!(c.samples(), 9);
        let x = ChunkCache::key(2, 0, b"x");
        c.put(x, v(4));
        assert!(c.get(&a).is_none(), "oldest evicted");
        assert!(c.get(&b).is_some() && c.get(&x).is_some());
        assert_eq!(c.samples(), 7);
        c.put(ChunkCache::key(3, 0, b"y"), v(11));
        assert_eq!(c.samples(), 7, "larger than the bound: not kept");
    }
}
