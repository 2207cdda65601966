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

pub mod cache;
pub mod chunk;
pub mod head;
pub mod matcher;
pub mod wal;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};

use crate::ingest::Batch;
pub use matcher::{Matcher, Op};
use picket_core::metric::Labels;

/// One series' samples: (ms, value), in time order.
pub type Points = Vec<(i64, f64)>;

/// Window of a head chunk (30 minutes).
pub const WINDOW_MS: i64 = 30 * 60 * 1000;
/// Window of a compacted chunk (one day).
pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// How long a window stays open after its end, for samples a little late.
pub const GRACE_MS: i64 = 5 * 60 * 1000;
/// Head size past which a checkpoint seals everything.
pub const MAX_HEAD: usize = 4_000_000;
/// Backlog samples (for windows already closed) in the head past which the
/// hub checkpoints at once instead of waiting for the minute: a replayed
/// backlog is sealed to disk as it arrives, not held in memory.
pub const MAX_BACKLOG: usize = 250_000;

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
pub const DEFAULT_CACHE_SAMPLES: usize = 1_000_000;

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
    pub const NONE: Limit = Limit {
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
pub struct Appended {
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
pub struct Sizes {
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
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The canonical text of a label set: its key in `series`.
pub fn key(labels: &Labels) -> String {
    let mut k = String::with_capacity(labels.iter().map(|(n, v)| n.len() + v.len() + 8).sum());
    key_into(labels.iter(), &mut k);
    k
}

/// Appends the [`key`] of labels given as pairs sorted by name.
fn key_into<'a>(labels: impl Iterator<Item = (&'a str, &'a str)>, k: &mut String) {
    use std::fmt::Write;
    for (n, v) in labels {
        // Writing to a String cannot fail.
        let _ = write!(k, "{}:{n}{}:{v}", n.len(), v.len());
    }
}

/// The (name, value) pairs of a [`key`], in order; they stop early on a
/// malformed key ([`parse_key`] tells).
fn key_pairs(k: &str) -> impl Iterator<Item = (&str, &str)> {
    fn part<'a>(p: &mut &'a str) -> Option<&'a str> {
        let (n, rest) = p.split_once(':')?;
        let n: usize = n.parse().ok()?;
        let s = rest.get(..n)?;
        *p = rest.get(n..)?;
        Some(s)
    }
    let mut p = k;
    std::iter::from_fn(move || {
        if p.is_empty() {
            return None;
        }
        let n = part(&mut p)?;
        let v = part(&mut p)?;
        Some((n, v))
    })
}

/// The value of label `name` in a [`key`].
fn key_get<'a>(k: &'a str, name: &str) -> Option<&'a str> {
    key_pairs(k).find(|p| p.0 == name).map(|p| p.1)
}

/// The labels of a [`key`] the store wrote.
fn labels_of(k: &str) -> Labels {
    let mut l = Labels::new();
    for (n, v) in key_pairs(k) {
        l.set(n.to_string(), v);
    }
    l
}

/// The inverse of [`key`], checked: None when `k` is not a key (a damaged
/// `series` row).
fn parse_key(k: &str) -> Option<Labels> {
    let l = labels_of(k);
    (key(&l) == k).then_some(l)
}

/// The start of the window holding `t`.
fn window(t: i64, span: i64) -> i64 {
    t.div_euclid(span) * span
}

/// The schema. `chunks` is a rowid table with a unique index on (series,
/// start), not a `WITHOUT ROWID` table keyed on them: SQLite keeps at most
/// about a quarter of a page of an index-tree row in the page and spills
/// the rest to overflow pages of its own, so a 2 KB daily chunk took two
/// pages (half of the database was slack). A table-tree row stays whole in
/// its page up to nearly a page, and larger ones fill their overflow pages.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS series (id INTEGER PRIMARY KEY, labels TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS chunks (
  series_id INTEGER NOT NULL, start INTEGER NOT NULL, end_ INTEGER NOT NULL,
  min_t INTEGER NOT NULL, max_t INTEGER NOT NULL, n INTEGER NOT NULL, data BLOB NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS chunks_by_series ON chunks (series_id, start);
DROP INDEX IF EXISTS chunks_by_start;
CREATE INDEX IF NOT EXISTS chunks_by_start_end ON chunks (start, end_);
CREATE TABLE IF NOT EXISTS wal (id INTEGER PRIMARY KEY, max_t INTEGER NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
";

impl Store {
    /// Opens (or creates) the store under `opts.dir`, replaying the wal
    /// rows into the head.
    pub fn open(opts: Options) -> Result<Store, StoreError> {
        std::fs::create_dir_all(&opts.dir)
            .map_err(|e| StoreError(format!("cannot create {}: {e}", opts.dir.display())))?;
        let path = opts.dir.join("picket-hub.sqlite");
        let writer = Connection::open(&path)?;
        // Must precede the first table for a new file.
        writer.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.pragma_update(
            None,
            "synchronous",
            if opts.sync_full { "FULL" } else { "NORMAL" },
        )?;
        // SQLite keeps a -wal file at its largest size unless told; a
        // backlog's burst would leave tens of MiB on disk for good.
        writer.pragma_update(None, "journal_size_limit", 16 << 20)?;
        writer.busy_timeout(Duration::from_secs(30))?;
        migrate_without_rowid(&writer)?;
        writer.execute_batch(SCHEMA)?;
        let reader = Connection::open(&path)?;
        reader.busy_timeout(Duration::from_secs(30))?;
        let mut state = State::default();
        {
            let mut st = writer.prepare("SELECT id, labels FROM series")?;
            let rows = st.query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (id, k) = row?;
                if parse_key(&k).is_none() {
                    return Err(StoreError(format!("series {id}: unreadable labels {k:?}")));
                }
                state.add_series(id, k.into());
                state.next_id = state.next_id.max(id + 1);
            }
            for (id, (lo, hi)) in chunk_bounds(&writer)? {
                if let Some(s) = state.series.get_mut(&id) {
                    s.min_t = s.min_t.min(lo);
                    s.max_t = s.max_t.max(hi);
                }
            }
            let mut st = writer.prepare("SELECT id, data FROM wal ORDER BY id")?;
            let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
            let mut replayed = 0usize;
            for row in rows {
                let (wid, data) = row?;
                match wal::decode(&data) {
                    Ok(samples) => {
                        for (id, t, v) in samples {
                            if state.series.contains_key(&id) {
                                state.put_points(id, &[(t, v)]);
                                replayed += 1;
                            }
                        }
                    }
                    // Keep going: one bad row costs its own samples only.
                    Err(e) => log::error!("wal row {wid} in {}: {e}; skipped", path.display()),
                }
            }
            if replayed > 0 {
                log::info!("replayed {replayed} samples from the write-ahead rows");
            }
        }
        Ok(Store {
            state: Mutex::new(state),
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            cache: Mutex::new(cache::ChunkCache::new(opts.cache_samples)),
            seal_threads: seal_threads(opts.seal_threads),
            backlog: AtomicUsize::new(0),
            backlog_wake: Default::default(),
            opts,
            path,
            stats: Stats::default(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The settings.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Takes a batch ([`crate::ingest`], whatever the input): each
    /// series' key is made from its sorted labels before the lock is
    /// taken, once per series, not once per sample. Samples older than
    /// the retention are refused and counted; a duplicate (series,
    /// timestamp) replaces the earlier value.
    pub fn append(&self, batch: &Batch<'_>) -> Appended {
        let mut keys = String::new();
        let mut ends = Vec::with_capacity(batch.len());
        for (labels, _) in batch.series() {
            key_into(labels.iter().copied(), &mut keys);
            ends.push(keys.len());
        }
        let starts = std::iter::once(0).chain(ends.iter().copied());
        let series = batch
            .series()
            .zip(starts.zip(&ends))
            .map(|((_, points), (a, &b))| (&keys[a..b], points));
        let now = now_ms();
        let oldest = now - self.opts.retention.as_millis() as i64;
        let closed = window(now - GRACE_MS, WINDOW_MS);
        let mut kept = Vec::new();
        let mut st = lock(&self.state);
        let mut a = Appended::default();
        let mut backlog = 0;
        for (k, mut points) in series {
            if points.iter().any(|p| p.0 < oldest) {
                kept.clear();
                kept.extend(points.iter().filter(|p| p.0 >= oldest));
                a.too_old += (points.len() - kept.len()) as u64;
                points = &kept;
            }
            if points.is_empty() {
                continue;
            }
            let id = match st.ids.get(k) {
                Some(&id) => id,
                None => {
                    a.new_series += 1;
                    st.new_id(k.into())
                }
            };
            st.put_new(id, points);
            backlog += points.iter().filter(|p| p.0 < closed).count();
            a.samples += points.len() as u64;
        }
        // Under the state lock: a checkpoint resets it under that lock.
        let backlog = self.backlog.fetch_add(backlog, Ordering::Relaxed) + backlog;
        drop(st);
        if backlog > MAX_BACKLOG {
            let _g = lock(&self.backlog_wake.0);
            self.backlog_wake.1.notify_all();
        }
        self.stats.appended.fetch_add(a.samples, Ordering::Relaxed);
        self.stats.too_old.fetch_add(a.too_old, Ordering::Relaxed);
        a
    }

    /// Waits until the backlog is past [`MAX_BACKLOG`] (true) or `timeout`
    /// has passed (false): the checkpoint thread starts sealing a backlog
    /// the moment it is due.
    pub fn wait_backlog(&self, timeout: Duration) -> bool {
        let g = lock(&self.backlog_wake.0);
        if self.backlog_samples() > MAX_BACKLOG {
            return true;
        }
        let _ = self.backlog_wake.1.wait_timeout(g, timeout);
        self.backlog_samples() > MAX_BACKLOG
    }

    /// Writes the pending samples (and new series) as one wal row.
    pub fn commit(&self) -> Result<(), StoreError> {
        self.commit_locked(&mut lock(&self.writer))
    }

    fn commit_locked(&self, db: &mut Connection) -> Result<(), StoreError> {
        let pending = self.take_pending();
        if pending.is_empty() {
            return Ok(());
        }
        let res = db.transaction().map_err(StoreError::from).and_then(|tx| {
            pending.write(&tx)?;
            tx.commit().map_err(StoreError::from)
        });
        match res {
            Ok(()) => {
                self.stats.commits.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.restore_pending(pending);
                Err(e)
            }
        }
    }

    /// Takes the pending samples and new series out of the state, with
    /// their wal rows (deflated, on every core for a large commit).
    fn take_pending(&self) -> Pending {
        let (samples, series) = lock(&self.state).take_pending();
        Pending::new(samples, series, None, self.seal_threads)
    }

    /// Puts what [`Store::take_pending`] took back, before anything
    /// pending since: the next commit writes all of it.
    fn restore_pending(&self, p: Pending) {
        let mut st = lock(&self.state);
        let mut back = p.samples;
        back.append(std::mem::take(&mut st.pending));
        st.pending = back;
        let mut ids: Vec<u32> = p.series.into_iter().map(|s| s.0).collect();
        ids.append(&mut st.new_series);
        st.new_series = ids;
    }

    /// Seals closed windows into chunks, compacts one finished day,
    /// applies retention. `now` in ms; `all` seals the whole head.
    pub fn checkpoint(&self, now: i64, all: bool) -> Result<(), StoreError> {
        self.checkpoint_inner(now, all, false)
    }

    /// A checkpoint for a backlog arriving ([`MAX_BACKLOG`]): seals only
    /// the windows each series' data has moved past, and holds back its
    /// newest one, which the backlog is still filling; sealing that too
    /// would rewrite it at every checkpoint of the burst. The minute's
    /// regular checkpoint seals whatever is closed.
    pub fn checkpoint_backlog(&self, now: i64) -> Result<(), StoreError> {
        self.checkpoint_inner(now, false, true)
    }

    /// A checkpoint also commits: in its one transaction it writes the
    /// chunks, the new series and a wal row of the pending samples that
    /// stay in the head. Pending samples it seals go straight to their
    /// chunks, never through a wal row (a backlog arriving is deflated
    /// once, not twice).
    fn checkpoint_inner(&self, now: i64, all: bool, backlog: bool) -> Result<(), StoreError> {
        let mut db = lock(&self.writer);
        let clock = std::time::Instant::now();
        let all = all || lock(&self.state).head_samples > MAX_HEAD;
        let cutoff = if all {
            i64::MAX
        } else {
            window(now - GRACE_MS, WINDOW_MS)
        };
        // wal rows wholly before the oldest sample left in the head are
        // sealed and can go.
        let mut wal_cut = cutoff;
        let mut held = BTreeSet::new();
        // Take what is to be sealed out of the head; queries still see it
        // through `sealing` (shared with the writer, not copied).
        let (sealing, pending) = {
            let mut st = lock(&self.state);
            let st = &mut *st;
            let mut moved = 0;
            let mut sealing = HashMap::new();
            for (id, samples) in st.head.iter_mut() {
                let cut = match samples.last_t() {
                    Some(t) if backlog => cutoff.min(window(t, WINDOW_MS)),
                    _ => cutoff,
                };
                if let Some(sealed) = samples.split_before(cut) {
                    moved += sealed.len();
                    sealing.insert(*id, sealed);
                }
                if let Some(t) = samples.first_t() {
                    wal_cut = wal_cut.min(t);
                    if t < cutoff {
                        // Held back: its day is still arriving.
                        held.insert(window(t, DAY_MS));
                    }
                }
            }
            st.head.retain(|_, s| !s.is_empty());
            st.head_samples -= moved;
            self.backlog.store(0, Ordering::Relaxed);
            st.sealing = Arc::new(sealing);
            // Under the same lock: a sample appended after this is in the
            // head and still pending.
            (Arc::clone(&st.sealing), st.take_pending())
        };
        // Every pending sample was in the head: one at or before the last
        // sample its series is sealing now is being sealed (a repeated
        // timestamp too; the head kept its later value).
        let pending = Pending::new(
            pending.0,
            pending.1,
            Some(&|id, t| {
                sealing
                    .get(&id)
                    .and_then(head::Packed::last_t)
                    .is_none_or(|l| t > l)
            }),
            self.seal_threads,
        );
        let took = clock.elapsed();
        let res = self.write_sealed(&mut db, &sealing, wal_cut, &pending);
        let wrote = clock.elapsed();
        let mut touched = res.as_ref().map(|t| t.clone()).unwrap_or_default();
        touched.append(&mut held);
        {
            let mut st = lock(&self.state);
            st.sealing = Arc::default();
            if res.is_err() {
                // Back into the head: the next checkpoint tries again (the
                // wal rows are still there too). A value appended for the
                // same timestamp meanwhile is newer and stays.
                for (&id, samples) in sealing.iter() {
                    let added = st.head.entry(id).or_default().put_back(&samples.points());
                    st.head_samples += added;
                }
            }
        }
        let (kept, taken) = (pending.kept, pending.samples.len());
        if res.is_err() {
            // Committed the plain way, as if the checkpoint had not run
            // (its error is the one returned).
            self.restore_pending(pending);
            let _ = self.commit_locked(&mut db);
        } else if !pending.is_empty() {
            self.stats.commits.fetch_add(1, Ordering::Relaxed);
        }
        res?;
        self.compact(&mut db, now, &touched)?;
        self.retention(&mut db, now)?;
        self.stats.checkpoints.fetch_add(1, Ordering::Relaxed);
        log::debug!(
            "checkpoint: {} series sealed, {} of {} pending samples to the wal; taken and deflated in {:?}, written in {:?}, compacted and retention in {:?}",
            sealing.len(),
            kept,
            taken,
            took,
            wrote - took,
            clock.elapsed() - wrote
        );
        Ok(())
    }

    fn write_sealed(
        &self,
        db: &mut Connection,
        sealing: &HashMap<u32, head::Packed>,
        cutoff: i64,
        pending: &Pending,
    ) -> Result<BTreeSet<i64>, StoreError> {
        let tx = db.transaction()?;
        let mut written = 0;
        // Days that got samples (compaction waits until a checkpoint
        // passes without any for them: a backlog still arriving; merging
        // each part of it into a compacted day would rewrite the whole
        // day every time).
        let mut touched = BTreeSet::new();
        {
            let mut find = tx.prepare_cached(
                // Backwards from t0 on the key: one row visited, not
                // every earlier chunk of the series.
                "SELECT start, end_, data FROM chunks WHERE series_id = ?1 AND start <= ?2 ORDER BY start DESC LIMIT 1",
            )?;
            let mut put = tx.prepare_cached(
                "INSERT OR REPLACE INTO chunks (series_id, start, end_, min_t, max_t, n, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            let mut insert = |r: SealedRow| -> Result<(), StoreError> {
                put.execute(params![r.id, r.start, r.end, r.lo, r.hi, r.n, r.data])?;
                written += 1;
                Ok(())
            };
            // Rounds: the rows to merge into are read first (SQLite, this
            // thread), then encoded on every core while this thread writes
            // what is done. A round holds at most SEAL_ROUND_BYTES of old
            // chunks, so a checkpoint of late samples into many compacted
            // days does not load them all at once.
            let mut jobs: Vec<SealJob<'_>> = Vec::new();
            let mut old_bytes = 0;
            let mut ids: Vec<u32> = sealing.keys().copied().collect();
            // Series order: the rows written do not depend on the
            // HashMap's order (nor on the threads).
            ids.sort_unstable();
            for id in ids {
                // `here` is the place of `next`, the first sample not yet
                // in a job.
                let packed = &sealing[&id];
                let mut rest = packed.iter();
                let mut here = rest;
                let mut next = rest.next();
                while let Some((t0, _)) = next {
                    // Rows never overlap, and the piece before this one
                    // ended at or before t0: reading every row before
                    // writing any finds the same ones as reading each
                    // after the writes before it.
                    let existing: Option<(i64, i64, Vec<u8>)> = find
                        .query_row(params![id, t0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                        .optional()?
                        .filter(|c| c.1 > t0);
                    let (start, end, old) = match existing {
                        Some((start, end, data)) => (start, end, Some(data)),
                        None => {
                            let start = window(t0, WINDOW_MS);
                            (start, start + WINDOW_MS, None)
                        }
                    };
                    touched.insert(window(start, DAY_MS));
                    let new = here;
                    let mut n = 0;
                    if packed.last_t().is_some_and(|t| t < end) {
                        // All the rest (nearly always): not read here.
                        n = here.remaining();
                        next = None;
                    }
                    while next.is_some_and(|s| s.0 < end) {
                        n += 1;
                        here = rest;
                        next = rest.next();
                    }
                    old_bytes += old.as_ref().map_or(0, Vec::len);
                    jobs.push(SealJob {
                        id,
                        start,
                        end,
                        old,
                        new,
                        n,
                    });
                    if old_bytes >= SEAL_ROUND_BYTES || jobs.len() >= SEAL_ROUND_JOBS {
                        seal_rows(&jobs, self.seal_threads, &mut insert)?;
                        jobs.clear();
                        old_bytes = 0;
                    }
                }
            }
            seal_rows(&jobs, self.seal_threads, &mut insert)?;
        }
        tx.execute("DELETE FROM wal WHERE max_t < ?1", params![cutoff])?;
        // After the delete: these samples are in the head, at or past the cut.
        pending.write(&tx)?;
        if let Some(&first) = touched.first() {
            // Samples in an already compacted stretch: look there again.
            tx.execute(
                "UPDATE meta SET v = min(v, ?1) WHERE k = 'compacted_until'",
                params![first],
            )?;
        }
        tx.commit()?;
        self.stats
            .chunks_written
            .fetch_add(written, Ordering::Relaxed);
        Ok(touched)
    }

    /// Merges the windows of the oldest finished day that has any into one
    /// row per series. A day that got samples in this checkpoint
    /// (`touched`: a backlog still arriving) waits, so a replay of hours
    /// is compacted once, after it, not once per checkpoint.
    fn compact(
        &self,
        db: &mut Connection,
        now: i64,
        touched: &BTreeSet<i64>,
    ) -> Result<(), StoreError> {
        let done: i64 = db
            .query_row("SELECT v FROM meta WHERE k = 'compacted_until'", [], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or(i64::MIN);
        let last_closed = window(now - GRACE_MS, DAY_MS); // days before this are closed
        let mut from = done;
        let mut waiting: Option<i64> = None;
        let day = loop {
            let first: Option<i64> = db
                .query_row(
                    "SELECT min(start) FROM chunks WHERE start >= ?1 AND start < ?2 AND end_ - start < ?3",
                    params![from, last_closed, DAY_MS],
                    |r| r.get(0),
                )
                .optional()?
                .flatten();
            let Some(first) = first else { break None };
            let day = window(first, DAY_MS);
            if touched.contains(&day) {
                waiting.get_or_insert(day);
                from = day + DAY_MS;
                continue;
            }
            break Some(day);
        };
        let Some(day) = day else {
            // Nothing to compact before `from`, except days still arriving.
            db.execute(
                "INSERT OR REPLACE INTO meta (k, v) VALUES ('compacted_until', ?1)",
                params![waiting.unwrap_or(from)],
            )?;
            return Ok(());
        };
        let tx = db.transaction()?;
        let mut compacted = 0;
        {
            let mut ids = tx.prepare(
                "SELECT series_id FROM chunks WHERE start >= ?1 AND start < ?2 GROUP BY series_id HAVING count(*) > 1 OR max(end_ - start) < ?3",
            )?;
            let ids: Vec<u32> = ids
                .query_map(params![day, day + DAY_MS, DAY_MS], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let mut get = tx.prepare_cached(
                "SELECT data FROM chunks WHERE series_id = ?1 AND start >= ?2 AND start < ?3 ORDER BY start",
            )?;
            let mut del = tx.prepare_cached(
                "DELETE FROM chunks WHERE series_id = ?1 AND start >= ?2 AND start < ?3",
            )?;
            let mut put = tx.prepare_cached(
                "INSERT INTO chunks (series_id, start, end_, min_t, max_t, n, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            // As sealing: the rows read here, merged and encoded on every
            // core, written back here; in rounds, to bound what is read.
            let mut insert = |r: SealedRow| -> Result<(), StoreError> {
                del.execute(params![r.id, day, day + DAY_MS])?;
                put.execute(params![r.id, r.start, r.end, r.lo, r.hi, r.n, r.data])?;
                compacted += 1;
                Ok(())
            };
            let mut jobs = Vec::new();
            let mut bytes = 0;
            for id in ids {
                let blobs: Vec<Vec<u8>> = get
                    .query_map(params![id, day, day + DAY_MS], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                bytes += blobs.iter().map(Vec::len).sum::<usize>();
                jobs.push(CompactJob { id, day, blobs });
                if bytes >= SEAL_ROUND_BYTES || jobs.len() >= SEAL_ROUND_JOBS {
                    seal_rows(&jobs, self.seal_threads, &mut insert)?;
                    jobs.clear();
                    bytes = 0;
                }
            }
            seal_rows(&jobs, self.seal_threads, &mut insert)?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO meta (k, v) VALUES ('compacted_until', ?1)",
            params![waiting.unwrap_or(day + DAY_MS).min(day + DAY_MS)],
        )?;
        tx.commit()?;
        // The day's window rows are gone: give their pages back.
        db.execute_batch("PRAGMA incremental_vacuum")?;
        self.stats
            .compactions
            .fetch_add(compacted, Ordering::Relaxed);
        Ok(())
    }

    /// Deletes chunks past the retention time, then the oldest windows
    /// while the database is over its size limit.
    fn retention(&self, db: &mut Connection, now: i64) -> Result<(), StoreError> {
        let oldest = now - self.opts.retention.as_millis() as i64;
        // `start <` first: the index narrows it to the oldest rows instead
        // of a scan of the table at every checkpoint.
        let mut deleted = db.execute(
            "DELETE FROM chunks WHERE start < ?1 AND max_t < ?1",
            params![oldest],
        )? as u64;
        if self.opts.retention_bytes > 0 {
            while used_bytes(db)? > self.opts.retention_bytes {
                let start: Option<i64> =
                    db.query_row("SELECT min(start) FROM chunks", [], |r| r.get(0))?;
                let Some(start) = start else { break };
                let n = db.execute("DELETE FROM chunks WHERE start = ?1", params![start])? as u64;
                deleted += n;
                if n == 0 {
                    break;
                }
            }
        }
        if deleted > 0 {
            db.execute_batch("PRAGMA incremental_vacuum")?;
            self.stats
                .retention_deleted
                .fetch_add(deleted, Ordering::Relaxed);
            // Series bounds move up with what is left.
            let bounds = chunk_bounds(db)?;
            let mut st = lock(&self.state);
            let st = &mut *st;
            for (id, s) in st.series.iter_mut() {
                let head = st.head.get(id);
                let (mut lo, mut hi) = bounds.get(id).copied().unwrap_or((i64::MAX, i64::MIN));
                if let Some(h) = head {
                    if let (Some(a), Some(b)) = (h.first_t(), h.last_t()) {
                        lo = lo.min(a);
                        hi = hi.max(b);
                    }
                }
                s.min_t = lo;
                s.max_t = hi;
            }
        }
        Ok(())
    }

    /// Samples held in memory, not yet sealed into chunks.
    pub fn head_samples(&self) -> usize {
        lock(&self.state).head_samples
    }

    /// Head samples for windows already closed: a backlog arriving, which
    /// the next checkpoint seals.
    pub fn backlog_samples(&self) -> usize {
        self.backlog.load(Ordering::Relaxed)
    }

    /// Sizes for `/metrics`.
    pub fn sizes(&self) -> Sizes {
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

    /// The ids and labels of series matching every matcher whose data
    /// overlaps `[mint, maxt]`.
    fn matching(&self, st: &State, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<u32> {
        let mut candidates: Option<BTreeSet<u32>> = None;
        for m in matchers.iter().filter(|m| !m.matches_empty()) {
            let mut ids = BTreeSet::new();
            if let Some(values) = st.postings.get(&m.name) {
                match m.op {
                    Op::Eq => {
                        if let Some(v) = values.get(&m.value) {
                            ids.extend(v.iter().copied());
                        }
                    }
                    _ => {
                        for (v, list) in values {
                            if m.matches(v) {
                                ids.extend(list.iter().copied());
                            }
                        }
                    }
                }
            }
            candidates = Some(match candidates {
                None => ids,
                Some(c) => c.intersection(&ids).copied().collect(),
            });
        }
        let all: Box<dyn Iterator<Item = u32>> = match candidates {
            Some(c) => Box::new(c.into_iter()),
            None => Box::new(
                st.series
                    .keys()
                    .copied()
                    .collect::<BTreeSet<_>>()
                    .into_iter(),
            ),
        };
        all.filter(|id| {
            st.series.get(id).is_some_and(|s| {
                s.max_t >= mint
                    && s.min_t <= maxt
                    && matchers
                        .iter()
                        .all(|m| m.matches(key_get(&s.key, &m.name).unwrap_or("")))
            })
        })
        .collect()
    }

    /// Label sets of the series matching `matchers` with data in `[mint, maxt]`.
    pub fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        let st = lock(&self.state);
        let mut out: Vec<Labels> = self
            .matching(&st, matchers, mint, maxt)
            .into_iter()
            .filter_map(|id| st.series.get(&id).map(|s| labels_of(&s.key)))
            .collect();
        out.sort();
        out
    }

    /// Label names of the matching series (all series when `selectors` is
    /// empty), sorted. Each selector is a set of matchers; series matching
    /// any selector count.
    pub fn label_names(&self, selectors: &[Vec<Matcher>], mint: i64, maxt: i64) -> Vec<String> {
        let mut names = BTreeSet::new();
        for l in self.union(selectors, mint, maxt) {
            for (n, v) in l.iter() {
                if !v.is_empty() {
                    names.insert(n.to_string());
                }
            }
        }
        names.into_iter().collect()
    }

    /// Values of label `name` over the matching series, sorted.
    pub fn label_values(
        &self,
        name: &str,
        selectors: &[Vec<Matcher>],
        mint: i64,
        maxt: i64,
    ) -> Vec<String> {
        let mut values = BTreeSet::new();
        for l in self.union(selectors, mint, maxt) {
            if let Some(v) = l.get(name).filter(|v| !v.is_empty()) {
                values.insert(v.to_string());
            }
        }
        values.into_iter().collect()
    }

    fn union(&self, selectors: &[Vec<Matcher>], mint: i64, maxt: i64) -> Vec<Labels> {
        if selectors.is_empty() {
            return self.series(&[], mint, maxt);
        }
        let mut seen = BTreeMap::new();
        for sel in selectors {
            for l in self.series(sel, mint, maxt) {
                seen.insert(key(&l), l);
            }
        }
        seen.into_values().collect()
    }

    /// The samples in `[mint, maxt]` of every matching series, series in
    /// label order, samples in time order.
    pub fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<(Labels, Points)>, StoreError> {
        self.select_limited(matchers, mint, maxt, Limit::NONE)
            .map_err(|e| match e {
                SelectError::Store(e) => e,
                SelectError::Limit(what) => StoreError(what.into()),
            })
    }

    /// [`Store::select`] that stops as soon as `limit` is passed: before
    /// reading any chunk when too many series match, and while decoding
    /// when too many samples have been read, so a query over everything
    /// fails fast instead of exhausting a small board's memory.
    pub fn select_limited(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        limit: Limit,
    ) -> Result<Vec<(Labels, Points)>, SelectError> {
        let found: Vec<(u32, Labels, Points)> = {
            let st = lock(&self.state);
            let ids = self.matching(&st, matchers, mint, maxt);
            if limit.series > 0 && ids.len() > limit.series {
                return Err(SelectError::Limit("series"));
            }
            ids.into_iter()
                .filter_map(|id| {
                    let s = st.series.get(&id)?;
                    let mut mem = Vec::new();
                    if let Some(src) = st.sealing.get(&id) {
                        mem = src.range(mint, maxt);
                    }
                    if let Some(h) = st.head.get(&id) {
                        mem = chunk::merge(&mem, &h.range(mint, maxt));
                    }
                    Some((id, labels_of(&s.key), mem))
                })
                .collect()
        };
        // The chunks' bytes first, under the reader's lock; decoding after
        // it, so concurrent queries (Grafana sends six at a time) decode in
        // parallel.
        let fetched = {
            let db = lock(&self.reader);
            let mut q = db.prepare_cached(
                // A chunk spans at most a day: `start` bounds the key range.
                "SELECT start, data FROM chunks WHERE series_id = ?1 AND start >= ?4 AND start <= ?3 AND max_t >= ?2 AND min_t <= ?3 ORDER BY start",
            )?;
            let first_start = mint.saturating_sub(DAY_MS);
            let mut fetched = Vec::with_capacity(found.len());
            for (id, labels, mem) in found {
                let blobs: Vec<(i64, Vec<u8>)> = q
                    .query_map(params![id, mint, maxt, first_start], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?
                    .collect::<Result<_, _>>()?;
                fetched.push((id, labels, mem, blobs));
            }
            fetched
        };
        let mut out = Vec::with_capacity(fetched.len());
        let mut read = fetched.iter().map(|f| f.2.len()).sum::<usize>();
        for (id, labels, mem, blobs) in fetched {
            let mut samples: Vec<(i64, f64)> = Vec::new();
            for (start, b) in blobs {
                match cache::decode(&self.cache, id, start, &b) {
                    Ok(s) => {
                        let lo = s.partition_point(|p| p.0 < mint);
                        let hi = s.partition_point(|p| p.0 <= maxt);
                        read += hi - lo;
                        if limit.samples > 0 && read > limit.samples {
                            return Err(SelectError::Limit("samples"));
                        }
                        samples = chunk::merge(&samples, &s[lo..hi]);
                    }
                    // One unreadable chunk costs its own window, not the query.
                    Err(e) => log::error!("series {id}, chunk at {start}: {e}; skipped"),
                }
            }
            let samples = chunk::merge(&samples, &mem);
            if !samples.is_empty() {
                out.push((labels, samples));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

impl State {
    /// Gives a new series its id.
    fn new_id(&mut self, k: Arc<str>) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        self.add_series(id, k);
        self.new_series.push(id);
        id
    }

    /// Appended samples of a series: into the head and pending.
    fn put_new(&mut self, id: u32, points: &[(i64, f64)]) {
        for &(t, v) in points {
            self.pending.push(id, t, v);
        }
        self.put_points(id, points);
    }

    /// Takes the pending samples and the new series (id, key).
    fn take_pending(&mut self) -> (wal::Log, Vec<(u32, String)>) {
        let samples = std::mem::take(&mut self.pending);
        let ids = std::mem::take(&mut self.new_series);
        let series = ids
            .into_iter()
            .filter_map(|id| self.series.get(&id).map(|s| (id, s.key.to_string())))
            .collect();
        (samples, series)
    }

    fn add_series(&mut self, id: u32, k: Arc<str>) {
        for (n, v) in key_pairs(&k) {
            self.postings
                .entry(n.to_string())
                .or_default()
                .entry(v.to_string())
                .or_default()
                .push(id);
        }
        self.ids.insert(Arc::clone(&k), id);
        self.series.insert(
            id,
            Series {
                key: k,
                min_t: i64::MAX,
                max_t: i64::MIN,
            },
        );
    }

    /// Puts one series' samples into its head (a timestamp already there
    /// takes the new value) and widens the series' time span.
    fn put_points(&mut self, id: u32, points: &[(i64, f64)]) {
        let added = self.head.entry(id).or_default().extend(points);
        self.head_samples += added;
        let lo = points.iter().map(|p| p.0).min();
        let hi = points.iter().map(|p| p.0).max();
        if let (Some(s), Some(lo), Some(hi)) = (self.series.get_mut(&id), lo, hi) {
            s.min_t = s.min_t.min(lo);
            s.max_t = s.max_t.max(hi);
        }
    }
}

/// Most old chunk bytes one round of a checkpoint's sealing reads before
/// encoding (see [`Store::write_sealed`]).
const SEAL_ROUND_BYTES: usize = 8 << 20;
/// Most chunk rows one round of sealing or compaction encodes.
const SEAL_ROUND_JOBS: usize = 16_384;
/// Rows one thread encodes at a time (one hand-off over the channel).
const SEAL_BATCH: usize = 32;

/// The encoder threads for sealing: one per core (`0`), at most 8.
fn seal_threads(configured: usize) -> usize {
    match configured {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
        n => n,
    }
}

/// One chunk row to write: a series' samples for one window, merged into
/// the row already there (`old`), if any.
struct SealJob<'a> {
    id: u32,
    start: i64,
    end: i64,
    old: Option<Vec<u8>>,
    /// The window's head samples: `n` of them from this place on,
    /// unpacked by the encoder thread.
    new: head::Cursor<'a>,
    n: usize,
}

/// A compaction's job: one series' rows of a day, merged into one.
struct CompactJob {
    id: u32,
    day: i64,
    blobs: Vec<Vec<u8>>,
}

/// An encoded chunk row, ready for `INSERT`.
struct SealedRow {
    id: u32,
    start: i64,
    end: i64,
    lo: i64,
    hi: i64,
    n: i64,
    data: Vec<u8>,
}

impl SealedRow {
    /// Encodes `samples` (strictly increasing) as the row of `id` at `start`;
    /// None when there are none.
    fn new(id: u32, start: i64, end: i64, samples: &[(i64, f64)]) -> Option<SealedRow> {
        let (lo, hi) = (samples.first()?.0, samples.last()?.0);
        Some(SealedRow {
            id,
            start,
            end,
            lo,
            hi,
            n: samples.len() as i64,
            data: chunk::encode(samples),
        })
    }
}

trait EncodeJob: Sync {
    /// The row, None when it has no samples; Err when an old chunk does
    /// not decode.
    fn encode(&self) -> Result<Option<SealedRow>, StoreError>;
}

impl EncodeJob for SealJob<'_> {
    fn encode(&self) -> Result<Option<SealedRow>, StoreError> {
        let new: Points = self.new.take(self.n).collect();
        Ok(match &self.old {
            Some(data) => {
                let old = chunk::decode(data).map_err(|e| {
                    StoreError(format!(
                        "chunk of series {} at {}: {e}",
                        self.id, self.start
                    ))
                })?;
                SealedRow::new(self.id, self.start, self.end, &chunk::merge(&old, &new))
            }
            // Head samples are strictly increasing: encoded as they are.
            None => SealedRow::new(self.id, self.start, self.end, &new),
        })
    }
}

impl EncodeJob for CompactJob {
    fn encode(&self) -> Result<Option<SealedRow>, StoreError> {
        let mut all: Vec<(i64, f64)> = Vec::new();
        for b in &self.blobs {
            match chunk::decode(b) {
                Ok(s) => all = chunk::merge(&all, &s),
                Err(e) => {
                    // Leave this series' day as it is: nothing is deleted.
                    log::error!(
                        "compaction: series {}, day {}: {e}; left uncompacted",
                        self.id,
                        self.day
                    );
                    return Ok(None);
                }
            }
        }
        Ok(SealedRow::new(self.id, self.day, self.day + DAY_MS, &all))
    }
}

/// Encodes `jobs` on `threads` threads (this one included) and hands each
/// row to `put` on this thread, as the rows come (SQLite stays on one
/// connection and thread; the codec, most of a checkpoint's time, runs on
/// every core). The rows are the same whatever the threads: each job is
/// encoded alone. The first error stops the other threads and is returned.
fn seal_rows<J: EncodeJob>(
    jobs: &[J],
    threads: usize,
    put: &mut impl FnMut(SealedRow) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let threads = threads.clamp(1, jobs.len().div_ceil(SEAL_BATCH).max(1));
    if threads == 1 {
        for j in jobs {
            if let Some(r) = j.encode()? {
                put(r)?;
            }
        }
        return Ok(());
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    // Takes the next batch, encodes it; None when there is none left.
    let batch = || -> Option<Result<Vec<SealedRow>, StoreError>> {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        let i = next.fetch_add(SEAL_BATCH, Ordering::Relaxed);
        let b = jobs.get(i..(i + SEAL_BATCH).min(jobs.len()))?;
        if b.is_empty() {
            return None;
        }
        let rows = b
            .iter()
            .filter_map(|j| j.encode().transpose())
            .collect::<Result<Vec<_>, _>>();
        Some(rows)
    };
    std::thread::scope(|s| {
        // Bounded: a slow writer holds the encoders back, not memory.
        let (tx, rx) = mpsc::sync_channel(2 * threads);
        for _ in 1..threads {
            let tx = tx.clone();
            let batch = &batch;
            s.spawn(move || {
                while let Some(rows) = batch() {
                    if tx.send(rows).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let res = (|| {
            let mut write = |rows: Result<Vec<SealedRow>, StoreError>| {
                rows?.into_iter().try_for_each(&mut *put)
            };
            // Encode here too, writing what the others finished between
            // batches; then the rest of theirs.
            while let Some(rows) = batch() {
                write(rows)?;
                while let Ok(rows) = rx.try_recv() {
                    write(rows)?;
                }
            }
            rx.iter().try_for_each(write)
        })();
        if res.is_err() {
            // The others stop at their next batch; `rx` is dropped on
            // return, so none waits on a full channel.
            stop.store(true, Ordering::Relaxed);
        }
        res
    })
}

/// Samples and new series taken out of the state for one transaction,
/// with the wal rows of those that go through the wal.
struct Pending {
    /// All the samples taken, in append order (put back on failure).
    samples: wal::Log,
    /// New series: id and key.
    series: Vec<(u32, String)>,
    /// (max_t, deflated) wal rows, in order.
    rows: Vec<(i64, Vec<u8>)>,
    /// Samples in those rows.
    kept: usize,
}

impl Pending {
    /// The samples that `keep` keeps (series id, ms) go into wal rows: one,
    /// or for a large commit (a backlog arriving) up to `threads` parts
    /// deflated in parallel.
    fn new(
        samples: wal::Log,
        series: Vec<(u32, String)>,
        keep: Option<&wal::Keep<'_>>,
        threads: usize,
    ) -> Pending {
        let parts = threads.min(samples.len().div_ceil(WAL_PART)).max(1);
        let (rows, kept) = samples.blobs(keep, parts);
        Pending {
            samples,
            series,
            rows,
            kept,
        }
    }

    fn is_empty(&self) -> bool {
        self.samples.is_empty() && self.series.is_empty()
    }

    /// Inserts the new series and the wal rows into `tx`.
    fn write(&self, tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
        let mut ins =
            tx.prepare_cached("INSERT OR IGNORE INTO series (id, labels) VALUES (?1, ?2)")?;
        for (id, k) in &self.series {
            ins.execute(params![id, k])?;
        }
        // In order: a replay applies them by id, a later duplicate
        // winning, as in the head.
        for (max_t, data) in &self.rows {
            tx.execute(
                "INSERT INTO wal (max_t, data) VALUES (?1, ?2)",
                params![max_t, data],
            )?;
        }
        Ok(())
    }
}

/// Pending samples past which a commit deflates its wal row in parts, one
/// per encoder thread.
const WAL_PART: usize = 1 << 16;

/// Rewrites a `chunks` table of the first schema (`WITHOUT ROWID`, see
/// [`SCHEMA`]) as a rowid table, in one transaction, and gives the pages
/// it frees back to the file system.
fn migrate_without_rowid(db: &Connection) -> Result<(), StoreError> {
    let sql: Option<String> = db
        .query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'chunks'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if !sql.is_some_and(|s| s.to_ascii_uppercase().contains("WITHOUT ROWID")) {
        return Ok(());
    }
    log::info!("rewriting the chunks table as a rowid table (once)");
    db.execute_batch(
        "BEGIN;
         ALTER TABLE chunks RENAME TO chunks_without_rowid;
         DROP INDEX IF EXISTS chunks_by_start_end;",
    )?;
    let res = db
        .execute_batch(SCHEMA)
        .and_then(|()| {
            db.execute_batch(
                "INSERT INTO chunks (series_id, start, end_, min_t, max_t, n, data)
                   SELECT series_id, start, end_, min_t, max_t, n, data FROM chunks_without_rowid;
                 DROP TABLE chunks_without_rowid;
                 COMMIT;",
            )
        })
        .and_then(|()| db.execute_batch("PRAGMA incremental_vacuum"));
    if let Err(e) = res {
        let _ = db.execute_batch("ROLLBACK");
        return Err(e.into());
    }
    Ok(())
}

/// The time span of each series' chunks.
fn chunk_bounds(db: &Connection) -> Result<HashMap<u32, (i64, i64)>, StoreError> {
    let mut st =
        db.prepare("SELECT series_id, min(min_t), max(max_t) FROM chunks GROUP BY series_id")?;
    let rows = st.query_map([], |r| Ok((r.get::<_, u32>(0)?, (r.get(1)?, r.get(2)?))))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Bytes of pages in use (not free) in the database.
fn used_bytes(db: &Connection) -> Result<u64, StoreError> {
    let pages: i64 = db.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let free: i64 = db.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    let size: i64 = db.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(((pages - free).max(0) * size) as u64)
}

#[cfg(test)]
mod tests;
