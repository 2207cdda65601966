//! The hub's time-series store: one SQLite file.
//!
//! # Design
//!
//! **Series.** Each label set (`__name__` included) gets a numeric id, kept
//! in the `series` table. The matching index (label name → value → ids) is
//! held in memory, rebuilt from that table at start: matching is the hot
//! path of every query, and a small fleet's few hundred thousand series fit.
//!
//! **Samples live in per-series chunks** ([`chunk`]), one row per
//! series and time window (`chunks`, keyed by series and window start).
//! Windows are 30 minutes, aligned to the epoch; once a day has passed,
//! its 48 windows of a series are compacted into one row, where the codec
//! has a whole day to work with.
//!
//! **Head and write-ahead rows.** Appends go to an in-memory head (per
//! series, sorted by time, a duplicate timestamp replaced: a retried push
//! stores once; packed to a few bytes a sample, [`head`]) and to a pending
//! list (already in the wal rows' encoding, [`wal::Log`]). Every commit
//! interval the pending samples are written as one `wal` row, in one
//! transaction with any new series: a crash loses at most one commit
//! interval. A checkpoint (every
//! minute) seals the head's closed windows, and every window older than
//! the current one, into `chunks` (merging with a row already there, so
//! late and out-of-order samples land correctly) and deletes the `wal`
//! rows whose samples are all sealed, in the same transaction. It commits
//! in that transaction too: pending samples it seals go straight to their
//! chunks and only the rest get a `wal` row, so a backlog, sealed within
//! a fraction of a second of arriving, is not also deflated into the wal
//! and deleted again. The head
//! holds at most the open window plus a grace period, unless a backlog
//! is arriving: past [`MAX_BACKLOG`] samples for closed windows the hub
//! checkpoints at once (and holds writers while it is twice behind), and
//! past [`MAX_HEAD`] samples everything is sealed.
//!
//! **Sealing on every core.** A checkpoint's time is mostly the chunk
//! codec, so it runs in rounds of three steps: the rows to merge into are
//! read (SQLite, the checkpoint's thread), the chunks are merged and
//! encoded on [`Options::seal_threads`] threads (one per core; scoped
//! threads taking batches of rows from a shared counter), and the
//! checkpoint's thread writes each finished row as it comes while
//! encoding batches of its own. Compaction does the same with a day's
//! rows. Each row is encoded alone, so the rows written are byte for byte
//! those of one thread; SQLite stays on one connection, one transaction,
//! so what a checkpoint commits (and what a failed one leaves: nothing,
//! its samples back in the head, its wal rows kept) is as before. A round
//! reads at most 8 MiB of old chunks, and finished rows
//! wait in a bounded channel: memory stays bounded. Reading every row of
//! a round before writing any finds the same rows as reading each after
//! the writes before it: a series' rows never overlap, and the piece
//! written before ends at or before the next piece's first sample.
//!
//! A large commit (a backlog arriving) is deflated in parts on as many
//! threads, one wal row each, inserted in order in one transaction: a
//! replay applies them in order, so a later duplicate still wins.
//!
//! **NaN.** SQLite turns a NaN REAL into NULL; values only ever reach SQLite
//! inside chunk and wal blobs, as their bits, so stale markers survive.
//!
//! **Retention** by time (chunks wholly older than `now - retention`) and by
//! size (oldest windows first until the pages in use fit), at each
//! checkpoint; freed pages are returned with `incremental_vacuum`.
//!
//! Reads use a second connection (WAL journal mode), so queries do not wait
//! for a checkpoint's writes, and see sealing samples in memory until
//! their chunk rows are committed.
//!
//! # Files, by reason to change
//!
//! - here: the settings, the shared state and the types the API returns;
//! - `schema.rs`: the tables, the migration, opening (the index loaded,
//!   the wal rows replayed); `keys.rs`: the text of a series' labels;
//! - `write.rs`: [`Store::append`] (one [`crate::ingest::Batch`], whatever
//!   the input) and commits;
//! - `seal.rs`: checkpoints; `encode.rs`: chunk rows encoded on every
//!   core; `compact.rs`: compaction and retention;
//! - `read.rs`: matching and selecting;
//! - [`head`], [`wal`], [`cache`], [`matcher`] and the codec [`chunk`]:
//!   the in-memory and on-disk encodings.

pub(crate) mod cache;
pub mod chunk;
mod compact;
mod encode;
pub(crate) mod head;
mod keys;
pub(crate) mod matcher;
mod read;
mod schema;
mod seal;
pub(crate) mod wal;
mod write;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

pub use keys::key;
pub use matcher::{Matcher, Op};
use schema::used_bytes;

/// One series' samples: (ms, value), in time order.
pub(crate) type Points = Vec<(i64, f64)>;

/// Window of a head chunk (30 minutes).
pub(crate) const WINDOW_MS: i64 = 30 * 60 * 1000;
/// Window of a compacted chunk (one day).
pub(crate) const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// How long a window stays open after its end, for samples a little late.
pub(crate) const GRACE_MS: i64 = 5 * 60 * 1000;
/// Head size past which a checkpoint seals everything.
pub(crate) const MAX_HEAD: usize = 4_000_000;
/// Backlog samples (for windows already closed) in the head past which the
/// hub checkpoints at once instead of waiting for the minute: a replayed
/// backlog is sealed to disk as it arrives, not held in memory.
pub(crate) const MAX_BACKLOG: usize = 250_000;

/// The store's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Directory of the database (`picket-hub.sqlite` inside it).
    pub dir: PathBuf,
    /// Samples older than this are deleted (Prometheus's default: 15 days).
    pub retention: Duration,
    /// Bytes the database may use (0 = no limit).
    pub retention_bytes: u64,
    /// `synchronous = FULL` rather than NORMAL.
    pub sync_full: bool,
    /// Decoded samples kept for later queries ([`cache`]; 16 bytes each).
    pub cache_samples: usize,
    /// Threads encoding chunks at a checkpoint (0: one per core, at most 8).
    pub seal_threads: usize,
}

/// Default of [`Options::cache_samples`]: one million samples, 16 MiB.
pub(crate) const DEFAULT_CACHE_SAMPLES: usize = 1_000_000;

impl Default for Options {
    fn default() -> Options {
        Options {
            dir: PathBuf::from("data"),
            retention: Duration::from_secs(15 * 24 * 3600),
            retention_bytes: 0,
            sync_full: false,
            cache_samples: DEFAULT_CACHE_SAMPLES,
            seal_threads: 0,
        }
    }
}

/// Bounds on one [`Store::select_limited`] (0: no bound).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Limit {
    /// Most series the matchers may match.
    pub series: usize,
    /// Most samples to read.
    pub samples: usize,
}

impl Limit {
    /// No bounds.
    pub(crate) const NONE: Limit = Limit {
        series: 0,
        samples: 0,
    };
}

/// Why [`Store::select_limited`] gave up.
#[derive(Debug)]
pub enum SelectError {
    /// Past the [`Limit`] on "series" or "samples".
    Limit(&'static str),
    /// The database failed.
    Store(StoreError),
}

impl fmt::Display for SelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectError::Limit(what) => write!(f, "too many {what}"),
            SelectError::Store(e) => e.fmt(f),
        }
    }
}

impl From<rusqlite::Error> for SelectError {
    fn from(e: rusqlite::Error) -> SelectError {
        SelectError::Store(e.into())
    }
}

/// The database file inside the storage directory.
pub(crate) const FILE_NAME: &str = "picket-hub.sqlite";

/// A store failure (SQLite, or a blob that does not decode).
#[derive(Debug)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError(format!("sqlite: {e}"))
    }
}

/// What an append did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Appended {
    /// Samples taken.
    pub samples: u64,
    /// Samples older than the retention, refused.
    pub too_old: u64,
    /// New series created.
    pub new_series: u64,
}

/// The store's counters, for the hub's `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Samples appended.
    pub appended: AtomicU64,
    /// Samples refused as older than the retention.
    pub too_old: AtomicU64,
    /// Commits of pending samples.
    pub commits: AtomicU64,
    /// Checkpoints run.
    pub checkpoints: AtomicU64,
    /// Checkpoints that failed.
    pub checkpoint_failures: AtomicU64,
    /// Chunk rows written by checkpoints.
    pub chunks_written: AtomicU64,
    /// Series-days compacted into one row.
    pub compactions: AtomicU64,
    /// Chunk rows deleted by retention.
    pub retention_deleted: AtomicU64,
}

/// A snapshot of sizes, for `/metrics`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sizes {
    /// Series known.
    pub series: u64,
    /// Samples in the head (not yet in chunks).
    pub head_samples: u64,
    /// Bytes of database pages in use.
    pub db_bytes: u64,
    /// Bytes of the database file and its WAL.
    pub file_bytes: u64,
}

/// A series: its labels as their [`key`] (the same allocation as the key
/// in [`State::ids`]; the labels are read from it, not kept twice: 10,000
/// series of node_exporter's shape were 5 MiB of `Labels`), and its time
/// span.
#[derive(Debug)]
struct Series {
    key: Arc<str>,
    min_t: i64,
    max_t: i64,
}

/// The in-memory part: series, index, head, pending writes.
#[derive(Debug, Default)]
struct State {
    ids: HashMap<Arc<str>, u32>,
    series: HashMap<u32, Series>,
    postings: HashMap<String, HashMap<String, Vec<u32>>>,
    head: HashMap<u32, head::Packed>,
    head_samples: usize,
    /// Taken out of the head by a running checkpoint, not yet committed as
    /// chunks: still visible to queries. Still packed: each encoder thread
    /// unpacks the window it encodes (a window of 10,000 series unpacked
    /// at once was 19 MiB of the ingest's peak).
    sealing: Arc<HashMap<u32, head::Packed>>,
    pending: wal::Log,
    new_series: Vec<u32>,
    next_id: u32,
}

/// The store. All methods take `&self`; share it in an `Arc`.
#[derive(Debug)]
pub struct Store {
    state: Mutex<State>,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    /// Decoded chunks for later queries.
    cache: Mutex<cache::ChunkCache>,
    opts: Options,
    path: PathBuf,
    /// Threads encoding chunks at a checkpoint ([`Options::seal_threads`]).
    seal_threads: usize,
    /// Head samples for windows already closed (a backlog), since the
    /// last checkpoint took the closed windows out. Changed under the
    /// state's lock, read without it.
    backlog: AtomicUsize,
    /// Signalled when the backlog passes [`MAX_BACKLOG`].
    backlog_wake: (Mutex<()>, std::sync::Condvar),
    /// Counters for `/metrics`.
    pub stats: Stats,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Milliseconds since the epoch, now.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The start of the window holding `t`.
fn window(t: i64, span: i64) -> i64 {
    t.div_euclid(span) * span
}

/// The encoder threads for sealing: one per core (`0`), at most 8.
fn seal_threads(configured: usize) -> usize {
    match configured {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
        n => n,
    }
}

impl Store {
    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    #[cfg(test)]
    /// Samples held in memory, not yet sealed into chunks.
    pub(crate) fn head_samples(&self) -> usize {
        lock(&self.state).head_samples
    }

    /// Head samples for windows already closed: a backlog arriving, which
    /// the next checkpoint seals.
    pub(crate) fn backlog_samples(&self) -> usize {
        self.backlog.load(Ordering::Relaxed)
    }

    /// Sizes for `/metrics`.
    pub(crate) fn sizes(&self) -> Sizes {
        let (series, head_samples) = {
            let st = lock(&self.state);
            (st.series.len() as u64, st.head_samples as u64)
        };
        let db_bytes = used_bytes(&lock(&self.reader)).unwrap_or(0);
        let file = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut wal_path = self.path.clone().into_os_string();
        wal_path.push("-wal");
        Sizes {
            series,
            head_samples,
            db_bytes,
            file_bytes: file(&self.path) + file(Path::new(&wal_path)),
        }
    }
}

#[cfg(test)]
mod tests;
