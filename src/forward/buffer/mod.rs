//! Store-and-forward: the SQLite buffer that keeps every batch an output's
//! receiver could not take (remote_write) or has not acknowledged yet
//! (MQTT), until it has.
//!
//! # Design
//!
//! **One file per receiver URL** (`<buffer dir>/<host>-<hash>.sqlite`), so
//! queues never contend, a corrupt file costs one queue, and `picket buffer
//! status` can list them.
//!
//! **One row per batch, written in one transaction** (no per-sample writes:
//! SD-card wear). A row holds series ids and XOR-delta values, deflated
//! ([`codec`]); label sets live once in the `series` table. One hour of
//! 1000 or 10,000 series per 15 s (tests/bench/buffer.sh, counters with
//! random steps) takes 3.3 to 3.5 bytes per sample on disk, all files
//! counted; Prometheus agent's WAL takes 7.3 and storing remote_write
//! bodies (vmagent) 20 to 30.
//!
//! **Chains and keyframes.** A row is decoded against the row before it.
//! The oldest row of the file is always a keyframe (self-contained): when
//! the oldest rows are deleted (acknowledged or dropped), the new oldest one
//! is rewritten as a keyframe in the same transaction. Every 64th row is a
//! keyframe too, so a damaged row costs at most the rows up to the next one.
//!
//! **Acknowledge after 2xx only.** [`Buffer::read_oldest`] hands out the
//! oldest rows without deleting them; [`Buffer::ack`] deletes them once the
//! receiver answered 2xx (or rejected them for good with a 4xx);
//! [`Buffer::rewind`] makes the next read start again from the oldest row.
//! A crash between send and ack re-sends those rows: at-least-once. Row ids
//! are AUTOINCREMENT, never reused, so a read position stays meaningful
//! after the table empties.
//!
//! **Bounded, oldest dropped first.** After every append the file is held
//! under `max_bytes` (pages in use) and rows older than `max_age` are
//! deleted, oldest first, never the newest row, and counted by reason.
//!
//! **Durability.** WAL journal. `synchronous = NORMAL` (default): commits
//! do not fsync; picket checkpoints the WAL into the file (and truncates
//! it) every 6 appends, or sooner once it passes 1 MiB, and only
//! checkpoints fsync: three or four fsyncs (WAL, file, WAL header and
//! truncation) per 6 intervals, about 0.6 per interval. So an
//! application crash (`kill -9`) loses nothing and a power cut can lose the
//! batches since the last checkpoint (at most 6). `FULL` also fsyncs the
//! WAL on every commit, one more fsync per collection interval: nothing
//! acknowledged by SQLite is lost to a power cut either.
//!
//! **A file that cannot be read is moved aside, never deleted**:
//! `<name>.corrupt-<unix seconds>` (with its -wal and -shm), logged loudly,
//! and a fresh buffer is started, so the agent never crash-loops on it and
//! the old data stays there for salvage.

pub(crate) mod codec;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use codec::{Chain, Rows};
use picket_core::batch::{Batch, Point};
use picket_core::encode::remote_write::SeriesKey;
use picket_core::identity::Identity;

/// File format version, kept in `PRAGMA user_version`.
/// Format 2 added integer steps to the row encoding ([`codec`]); format 3
/// means every series carries the board's identity (`job`, `instance`,
/// [`picket_core::identity`]). Files of format 1 and 2 are read and, when opened
/// with [`Options::identity`], upgraded in place: their series get the
/// identity then in force, as a fresh batch would, so a backlog written by
/// an older agent drains under the board's own name.
const FORMAT: i64 = 3;

/// Appends between WAL checkpoints. A checkpoint costs three or four
/// fsyncs (measured with strace by tests/bench/buffer.sh), so well under one
/// per interval on average; a power cut loses at most this many batches
/// with `synchronous = NORMAL`.
const CHECKPOINT_EVERY: u32 = 6;

/// A WAL larger than this is checkpointed after any write (the drain's
/// deletes do not count as appends).
const WAL_MAX_BYTES: u64 = 1 << 20;

/// A keyframe at least every this many rows.
const KEYFRAME_EVERY: u64 = 64;

/// How hard SQLite works to keep commits across a power cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synchronous {
    /// Sync at WAL checkpoints only (default; survives crashes, not always power cuts).
    Normal,
    /// Sync the WAL at every commit.
    Full,
}

impl Synchronous {
    /// Parses `normal` or `full`.
    pub fn parse(s: &str) -> Option<Synchronous> {
        match s.to_ascii_lowercase().as_str() {
            "normal" => Some(Synchronous::Normal),
            "full" => Some(Synchronous::Full),
            _ => None,
        }
    }
}

/// Limits and durability of one buffer file.
#[derive(Clone, Debug)]
pub struct Options {
    /// Pages in use above this are freed by dropping the oldest rows.
    pub max_bytes: u64,
    /// Rows older than this are dropped.
    pub max_age: Duration,
    /// Durability.
    pub synchronous: Synchronous,
    /// The board's identity, given to the series of a file written before
    /// batches carried it (format 1 and 2). `None`: such a file is read as
    /// it is and not upgraded.
    pub identity: Option<Identity>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_bytes: 256 << 20,
            max_age: Duration::from_secs(7 * 24 * 3600),
            synchronous: Synchronous::Normal,
            identity: None,
        }
    }
}

/// A buffer error: the file, and what went wrong.
#[derive(Debug)]
pub struct Error {
    /// The buffer file.
    pub path: PathBuf,
    /// What failed.
    pub msg: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "buffer {}: {}", self.path.display(), self.msg)
    }
}

impl std::error::Error for Error {}

/// What the buffer holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Rows (batches).
    pub batches: u64,
    /// Samples in them.
    pub samples: u64,
    /// Bytes of the database in use (pages minus free pages). The WAL comes
    /// on top, bounded by `journal_size_limit` (1 MiB).
    pub bytes: u64,
    /// Collection time of the oldest row, ms since the epoch.
    pub oldest_ms: Option<i64>,
}

/// Samples dropped by the limits, by reason.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Dropped {
    /// For `max_bytes`.
    pub max_bytes: u64,
    /// For `max_age`.
    pub max_age: u64,
    /// Rows that could not be decoded.
    pub corrupt: u64,
}

/// Rows handed out by [`Buffer::read_oldest`], to be acknowledged by id.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    /// The batches, oldest first.
    pub batches: Vec<Batch>,
    /// Id of the last row read (pass to [`Buffer::ack`]).
    pub last_id: i64,
    /// Samples in `batches`.
    pub samples: usize,
}

/// One buffer file.
pub struct Buffer {
    conn: Connection,
    path: PathBuf,
    opts: Options,
    /// Series id by label set (writer side).
    ids: HashMap<Arc<SeriesKey>, u32>,
    /// Label set by series id (reader side).
    keys: Vec<Option<Arc<SeriesKey>>>,
    writer: Chain,
    /// Id of the row the writer chain ends at.
    writer_last: Option<i64>,
    /// Rows written since the last keyframe.
    since_keyframe: u64,
    /// Appends since the last WAL checkpoint.
    since_checkpoint: u32,
    reader: Chain,
    /// Id of the last row read since the last rewind.
    read_upto: Option<i64>,
    stats: Stats,
    dropped: Dropped,
    scratch: Vec<u8>,
}

impl fmt::Debug for Buffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Buffer")
            .field("path", &self.path)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// The buffer file name for a receiver URL: readable host and port plus a
/// hash of the whole URL.
pub fn file_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host: String = rest
        .split('/')
        .next()
        .unwrap_or("")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    // FNV-1a, 64 bits: stable across versions and platforms.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in url.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    format!("{host}-{h:016x}.sqlite")
}

impl Buffer {
    /// Opens (or creates) the buffer at `path`. A file that is not a
    /// readable picket buffer is moved aside and a fresh one created; the
    /// second element is where it went.
    pub fn open(path: &Path, opts: Options) -> Result<(Buffer, Option<PathBuf>), Error> {
        match Buffer::open_existing(path, opts.clone()) {
            Ok(b) => Ok((b, None)),
            Err(e) if path.exists() => {
                let aside = move_aside(path).map_err(|m| Error {
                    path: path.to_path_buf(),
                    msg: format!("{}; and moving it aside failed: {m}", e.msg),
                })?;
                log::error!(
                    "{e}; moved it to {} and started an empty buffer (the old file is kept for salvage)",
                    aside.display()
                );
                Ok((Buffer::open_existing(path, opts)?, Some(aside)))
            }
            Err(e) => Err(e),
        }
    }

    fn open_existing(path: &Path, opts: Options) -> Result<Buffer, Error> {
        let err = |msg: String| Error {
            path: path.to_path_buf(),
            msg,
        };
        let sq = |e: rusqlite::Error| err(e.to_string());
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| err(format!("cannot create {}: {e}", dir.display())))?;
            }
        }
        let conn = Connection::open(path).map_err(sq)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(sq)?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| err(format!("not a readable SQLite file: {e}")))?;
        if check != "ok" {
            return Err(err(format!("integrity check failed: {check}")));
        }
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sq)?;
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                [],
                |r| r.get(0),
            )
            .map_err(sq)?;
        if tables == 0 {
            // New file: settings that only apply before the first table.
            conn.execute_batch(&format!(
                "PRAGMA page_size = 1024; PRAGMA auto_vacuum = INCREMENTAL;
                 PRAGMA journal_mode = WAL;
                 CREATE TABLE series (id INTEGER PRIMARY KEY, key BLOB NOT NULL);
                 CREATE TABLE batch (id INTEGER PRIMARY KEY AUTOINCREMENT, ts_ms INTEGER NOT NULL,
                     samples INTEGER NOT NULL, data BLOB NOT NULL);
                 PRAGMA user_version = {FORMAT};"
            ))
            .map_err(sq)?;
        } else if version != FORMAT && version != 1 && version != 2 {
            return Err(err(format!(
                "not a picket buffer of format {FORMAT} (user_version {version})"
            )));
        }
        let sync = match opts.synchronous {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync};
             PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 1048576;"
        ))
        .map_err(sq)?;
        let mut b = Buffer {
            conn,
            path: path.to_path_buf(),
            opts,
            ids: HashMap::new(),
            keys: Vec::new(),
            writer: Chain::default(),
            writer_last: None,
            since_keyframe: 0,
            since_checkpoint: 0,
            reader: Chain::default(),
            read_upto: None,
            stats: Stats::default(),
            dropped: Dropped::default(),
            scratch: Vec::new(),
        };
        b.load_series()
            .map_err(|e| err(format!("series table: {e}")))?;
        if (version == 1 || version == 2) && tables > 0 {
            if let Some(id) = b.opts.identity.clone() {
                b.upgrade_identity(&id)
                    .map_err(|e| err(format!("upgrading to format {FORMAT}: {e}")))?;
            }
        }
        // The oldest row must decode on its own.
        let oldest: Option<Vec<u8>> = b
            .conn
            .query_row("SELECT data FROM batch ORDER BY id LIMIT 1", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sq)?;
        if let Some(data) = oldest {
            codec::decode(&data, &mut Chain::default())
                .map_err(|e| err(format!("oldest batch unreadable: {e}")))?;
        }
        b.refresh_stats().map_err(sq)?;
        Ok(b)
    }

    fn load_series(&mut self) -> Result<(), String> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, key FROM series")
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
            .map_err(|e| e.to_string())?;
        for row in rows {
            let (id, raw) = row.map_err(|e| e.to_string())?;
            let id = u32::try_from(id).map_err(|_| format!("series id {id} out of range"))?;
            let key = Arc::new(decode_key(&raw).ok_or(format!("series {id}: bad label set"))?);
            self.ids.insert(key.clone(), id);
            let i = id as usize;
            if i >= self.keys.len() {
                self.keys.resize(i + 1, None);
            }
            self.keys[i] = Some(key);
        }
        Ok(())
    }

    /// Format 1/2 to 3: gives every series the board's identity, in one
    /// transaction with the version bump.
    fn upgrade_identity(&mut self, id: &Identity) -> Result<(), String> {
        let tx = self.conn.transaction().map_err(|e| e.to_string())?;
        let mut n = 0;
        {
            let mut up = tx
                .prepare("UPDATE series SET key = ?1 WHERE id = ?2")
                .map_err(|e| e.to_string())?;
            for (i, slot) in self.keys.iter_mut().enumerate() {
                let Some(old) = slot else { continue };
                let mut key: SeriesKey = (**old).clone();
                id.attach(&mut key);
                key.sort_by(|a, b| a.0.cmp(&b.0));
                up.execute(params![encode_key(&key), i as i64])
                    .map_err(|e| e.to_string())?;
                let key = Arc::new(key);
                self.ids.remove(old);
                self.ids.insert(key.clone(), i as u32);
                *slot = Some(key);
                n += 1;
            }
        }
        tx.execute_batch(&format!("PRAGMA user_version = {FORMAT}"))
            .map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
        if n > 0 {
            log::info!(
                "buffer {}: {n} series of an older agent given job={:?} instance={:?}",
                self.path.display(),
                id.job,
                id.instance
            );
        }
        Ok(())
    }

    /// The file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// What the buffer holds now.
    pub(crate) fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Samples dropped since open, by reason.
    pub(crate) fn dropped(&self) -> &Dropped {
        &self.dropped
    }

    /// True when no row is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.stats.batches == 0
    }

    fn error(&self, e: impl fmt::Display) -> Error {
        Error {
            path: self.path.clone(),
            msg: e.to_string(),
        }
    }

    /// Stores one batch (one transaction), then applies the limits at
    /// `now_ms`. Returns the samples the limits dropped.
    pub(crate) fn append(&mut self, batch: &Batch, now_ms: i64) -> Result<Dropped, Error> {
        if batch.is_empty() {
            return Ok(Dropped::default());
        }
        let res = self.append_tx(batch);
        if res.is_err() {
            // The chain may have advanced past a row that was rolled back.
            self.writer.reset();
            self.writer_last = None;
        }
        res.map_err(|e| self.error(e))?;
        self.since_checkpoint += 1;
        let dropped = self.enforce_limits(now_ms)?;
        self.maybe_checkpoint();
        Ok(dropped)
    }

    /// Copies the WAL into the file and truncates it, every
    /// [`CHECKPOINT_EVERY`] appends or when the WAL outgrew
    /// [`WAL_MAX_BYTES`]. SQLite's own autocheckpoint (by WAL pages) is off:
    /// with 10,000 series a single batch fills its default of 1000 pages'
    /// worth in a few intervals, and each checkpoint fsyncs.
    fn maybe_checkpoint(&mut self) {
        let mut wal = self.path.as_os_str().to_owned();
        wal.push("-wal");
        let big = std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_MAX_BYTES);
        if self.since_checkpoint < CHECKPOINT_EVERY && !big {
            return;
        }
        match self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            }) {
            Ok(0) => self.since_checkpoint = 0,
            // Busy (a reader such as `picket buffer status`): next time.
            Ok(_) => {}
            Err(e) => log::warn!("buffer {}: checkpoint: {e}", self.path.display()),
        }
    }

    fn append_tx(&mut self, batch: &Batch) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        let mut rows = Rows::default();
        {
            let mut insert = tx.prepare_cached("INSERT INTO series (key) VALUES (?1)")?;
            for (i, p) in batch.points.iter().enumerate() {
                let id = match self.ids.get(&p.key) {
                    Some(&id) => id,
                    None => {
                        insert.execute(params![encode_key(&p.key)])?;
                        let id = u32::try_from(tx.last_insert_rowid())
                            .map_err(|_| rusqlite::Error::IntegralValueOutOfRange(0, 0))?;
                        self.ids.insert(p.key.clone(), id);
                        let ix = id as usize;
                        if ix >= self.keys.len() {
                            self.keys.resize(ix + 1, None);
                        }
                        self.keys[ix] = Some(p.key.clone());
                        id
                    }
                };
                rows.series.push(id);
                rows.values.push(p.value);
                if p.ts_ms != batch.ts_ms {
                    rows.stamps.push((i as u32, p.ts_ms));
                }
            }
        }
        let last: Option<i64> = tx
            .query_row("SELECT max(id) FROM batch", [], |r| r.get(0))
            .optional()?
            .flatten();
        if last != self.writer_last || self.since_keyframe + 1 >= KEYFRAME_EVERY {
            self.writer.reset();
        }
        let keyframe = !self.writer.started();
        codec::encode(
            &rows,
            &mut self.writer,
            keyframe,
            flate2::Compression::default(),
            &mut self.scratch,
        );
        tx.execute(
            "INSERT INTO batch (ts_ms, samples, data) VALUES (?1, ?2, ?3)",
            params![batch.ts_ms, batch.len() as i64, &self.scratch],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        self.writer_last = Some(id);
        self.since_keyframe = if keyframe { 0 } else { self.since_keyframe + 1 };
        self.update_stats(1, batch.len() as i64)
    }

    /// Reads the oldest rows not yet handed out since the last rewind, up to
    /// about `max_samples` samples (at least one row). Rows that cannot be
    /// decoded are deleted and counted as corrupt.
    pub(crate) fn read_oldest(&mut self, max_samples: usize) -> Result<Option<Backlog>, Error> {
        let after = self.read_upto.unwrap_or(i64::MIN);
        let rows: Vec<(i64, i64, Vec<u8>)> = {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT id, ts_ms, samples, data FROM batch WHERE id > ?1 ORDER BY id LIMIT 4096",
                )
                .map_err(|e| self.error(e))?;
            let it = stmt
                .query_map(params![after], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?, r.get(3)?))
                })
                .map_err(|e| self.error(e))?;
            let mut v = Vec::new();
            let mut n = 0usize;
            for row in it {
                let (id, ts, samples, data): (i64, i64, i64, Vec<u8>) =
                    row.map_err(|e| self.error(e))?;
                n += samples.max(0) as usize;
                v.push((id, ts, data));
                if n >= max_samples {
                    break;
                }
            }
            v
        };
        let mut out = Backlog::default();
        for (id, ts_ms, data) in rows {
            if out.samples >= max_samples {
                break;
            }
            match codec::decode(&data, &mut self.reader) {
                Ok(r) => {
                    let batch = self.to_batch(ts_ms, &r).map_err(|e| self.error(e))?;
                    out.samples += batch.len();
                    out.batches.push(batch);
                    out.last_id = id;
                    self.read_upto = Some(id);
                }
                Err(e) => {
                    if !out.batches.is_empty() {
                        // Hand out what decoded; this row is dealt with next time.
                        self.reader.reset();
                        break;
                    }
                    self.drop_corrupt(id, &e)?;
                    return self.read_oldest(max_samples);
                }
            }
        }
        Ok((!out.batches.is_empty()).then_some(out))
    }

    fn to_batch(&self, ts_ms: i64, r: &Rows) -> Result<Batch, String> {
        let mut points = Vec::with_capacity(r.series.len());
        for (&id, &value) in r.series.iter().zip(&r.values) {
            let key = self
                .keys
                .get(id as usize)
                .and_then(|k| k.clone())
                .ok_or(format!("unknown series id {id}"))?;
            points.push(Point { key, value, ts_ms });
        }
        for &(i, ts) in &r.stamps {
            if let Some(p) = points.get_mut(i as usize) {
                p.ts_ms = ts;
            }
        }
        Ok(Batch { ts_ms, points })
    }

    /// Deletes an undecodable row (the oldest unread one), logging and
    /// counting it, and makes the next row a keyframe if it can be read.
    fn drop_corrupt(&mut self, id: i64, why: &str) -> Result<(), Error> {
        let samples: i64 = self
            .conn
            .query_row("SELECT samples FROM batch WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .map_err(|e| self.error(e))?;
        log::error!(
            "buffer {}: batch {id} ({samples} samples) unreadable ({why}); dropped",
            self.path.display()
        );
        self.dropped.corrupt += samples as u64;
        self.conn
            .execute("DELETE FROM batch WHERE id = ?1", [id])
            .map_err(|e| self.error(e))?;
        self.reader.reset();
        if self.writer_last == Some(id) {
            self.writer.reset();
        }
        self.update_stats(-1, -samples).map_err(|e| self.error(e))
    }

    /// Makes the next [`read_oldest`](Buffer::read_oldest) start from the
    /// oldest row again (after a failed send).
    pub(crate) fn rewind(&mut self) {
        self.read_upto = None;
        self.reader.reset();
    }

    /// Deletes every row up to `last_id` (delivered, or rejected for good),
    /// in one transaction that also turns the new oldest row into a keyframe.
    pub(crate) fn ack(&mut self, last_id: i64) -> Result<(), Error> {
        let reader = self.reader.clone();
        let res = self.delete_upto(last_id, &reader);
        res.map_err(|e| self.error(e))?;
        self.maybe_checkpoint();
        if self.read_upto.is_some_and(|r| r <= last_id) {
            // Rows after last_id were not read yet: keep the chain of last_id.
        } else {
            self.rewind();
        }
        Ok(())
    }

    /// Deletes rows `<= last_id`; `chain` must be the reader chain after
    /// row `last_id`, to rewrite the next row as a keyframe.
    fn delete_upto(&mut self, last_id: i64, chain: &Chain) -> Result<(), String> {
        let tx = self.conn.transaction().map_err(|e| e.to_string())?;
        // A rowid range: only the rows about to be deleted are read.
        let (rows, samples): (i64, i64) = tx
            .query_row(
                "SELECT count(*), coalesce(sum(samples), 0) FROM batch WHERE id <= ?1",
                [last_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| e.to_string())?;
        tx.execute("DELETE FROM batch WHERE id <= ?1", [last_id])
            .map_err(|e| e.to_string())?;
        let next: Option<(i64, Vec<u8>)> = tx
            .query_row("SELECT id, data FROM batch ORDER BY id LIMIT 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(|e| e.to_string())?;
        if let Some((id, data)) = next {
            if !codec::is_keyframe(&data) {
                let mut c = chain.clone();
                match codec::decode(&data, &mut c) {
                    Ok(rows) => {
                        let mut kf = Vec::new();
                        codec::encode(
                            &rows,
                            &mut Chain::default(),
                            true,
                            flate2::Compression::fast(),
                            &mut kf,
                        );
                        tx.execute("UPDATE batch SET data = ?1 WHERE id = ?2", params![kf, id])
                            .map_err(|e| e.to_string())?;
                    }
                    Err(e) => log::warn!(
                        "buffer {}: batch {id} cannot be made a keyframe ({e}); it will be dropped when read",
                        self.path.display()
                    ),
                }
            }
        }
        let empty: bool = tx
            .query_row("SELECT NOT EXISTS (SELECT 1 FROM batch)", [], |r| r.get(0))
            .map_err(|e| e.to_string())?;
        if empty {
            tx.execute("DELETE FROM series", [])
                .map_err(|e| e.to_string())?;
        }
        tx.commit().map_err(|e| e.to_string())?;
        if self.writer_last.is_some_and(|w| w <= last_id) {
            self.writer.reset();
            self.writer_last = None;
        }
        if empty {
            self.ids.clear();
            self.keys.clear();
            self.writer.reset();
            self.writer_last = None;
            // Give freed pages back to the file system.
            let _ = self.conn.execute_batch("PRAGMA incremental_vacuum");
        }
        self.update_stats(-rows, -samples)
            .map_err(|e| e.to_string())
    }

    /// Drops the oldest rows while the file is over `max_bytes` or they are
    /// older than `max_age`; never the newest row.
    fn enforce_limits(&mut self, now_ms: i64) -> Result<Dropped, Error> {
        let mut dropped = Dropped::default();
        let age_limit = now_ms.saturating_sub(self.opts.max_age.as_millis() as i64);
        while self.stats.batches > 1 {
            let over_bytes = self.stats.bytes > self.opts.max_bytes;
            let too_old = self.stats.oldest_ms.is_some_and(|t| t < age_limit);
            if !over_bytes && !too_old {
                break;
            }
            let (id, samples, data): (i64, i64, Vec<u8>) = self
                .conn
                .query_row(
                    "SELECT id, samples, data FROM batch ORDER BY id LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .map_err(|e| self.error(e))?;
            let mut chain = Chain::default();
            if codec::decode(&data, &mut chain).is_err() {
                chain.reset();
            }
            self.delete_upto(id, &chain).map_err(|e| self.error(e))?;
            if self.read_upto.is_some_and(|r| r >= id) {
                self.rewind();
            }
            if too_old {
                dropped.max_age += samples as u64;
            } else {
                dropped.max_bytes += samples as u64;
            }
        }
        self.dropped.max_age += dropped.max_age;
        self.dropped.max_bytes += dropped.max_bytes;
        Ok(dropped)
    }

    fn refresh_stats(&mut self) -> rusqlite::Result<()> {
        self.stats = read_stats(&self.conn)?;
        Ok(())
    }

    /// Adjusts the row and sample counts by what a write added or deleted,
    /// and re-reads the cheap parts (oldest row, pages): a full count at
    /// every append and ack would read every row of a days-long backlog.
    fn update_stats(&mut self, rows: i64, samples: i64) -> rusqlite::Result<()> {
        let add = |v: u64, d: i64| (v as i64).saturating_add(d).max(0) as u64;
        self.stats.batches = add(self.stats.batches, rows);
        self.stats.samples = add(self.stats.samples, samples);
        self.stats.oldest_ms = oldest_ms(&self.conn)?;
        self.stats.bytes = bytes_in_use(&self.conn)?;
        Ok(())
    }
}

/// Rows, samples, oldest time and pages in use of an open buffer (a full
/// count: at open and for `picket buffer status`).
fn read_stats(conn: &Connection) -> rusqlite::Result<Stats> {
    let (batches, samples): (i64, i64) = conn.query_row(
        "SELECT count(*), coalesce(sum(samples), 0) FROM batch",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(Stats {
        batches: batches as u64,
        samples: samples as u64,
        bytes: bytes_in_use(conn)?,
        oldest_ms: oldest_ms(conn)?,
    })
}

/// Collection time of the first row: rows are appended in collection order,
/// and the limits drop from the first row on.
fn oldest_ms(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.query_row("SELECT ts_ms FROM batch ORDER BY id LIMIT 1", [], |r| {
        r.get(0)
    })
    .optional()
}

/// Pages in use (not on the free list) times the page size.
fn bytes_in_use(conn: &Connection) -> rusqlite::Result<u64> {
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(((pages - free).max(0) * size) as u64)
}

/// Reads a buffer file's contents without changing it (for `picket buffer
/// status`): its stats and the bytes on disk of the file and its WAL.
pub fn inspect(path: &Path) -> Result<(Stats, u64), Error> {
    let err = |e: rusqlite::Error| Error {
        path: path.to_path_buf(),
        msg: e.to_string(),
    };
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(err)?;
    let stats = read_stats(&conn).map_err(err)?;
    let mut disk = 0;
    for ext in ["", "-wal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(ext);
        disk += std::fs::metadata(PathBuf::from(p)).map_or(0, |m| m.len());
    }
    Ok((stats, disk))
}

/// Renames `path` (and its -wal and -shm files) to `path.corrupt-<secs>`.
fn move_aside(path: &Path) -> Result<PathBuf, String> {
    let secs = picket_core::clock::now_unix().map_or(0, |t| t as i64);
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".corrupt-{secs}"));
    let aside = PathBuf::from(aside);
    std::fs::rename(path, &aside).map_err(|e| e.to_string())?;
    for ext in ["-wal", "-shm"] {
        let mut from = path.as_os_str().to_owned();
        from.push(ext);
        let mut to = aside.as_os_str().to_owned();
        to.push(ext);
        let _ = std::fs::rename(from, to);
    }
    Ok(aside)
}

/// A label set as stored: (name length, name, value length, value)...
fn encode_key(key: &SeriesKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    for (n, v) in key {
        for s in [n, v] {
            picket_core::varint::put(&mut out, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
    }
    out
}

fn decode_key(mut b: &[u8]) -> Option<SeriesKey> {
    let mut key = Vec::new();
    let take = |b: &mut &[u8]| -> Option<String> {
        let mut len = 0usize;
        for shift in (0..35).step_by(7) {
            let (&c, rest) = b.split_first()?;
            *b = rest;
            len |= usize::from(c & 0x7f) << shift;
            if c & 0x80 == 0 {
                let s = b.get(..len)?;
                *b = &b[len..];
                return String::from_utf8(s.to_vec()).ok();
            }
        }
        None
    };
    while !b.is_empty() {
        let n = take(&mut b)?;
        let v = take(&mut b)?;
        key.push((n, v));
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_core::encode::remote_write::series_key;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("picket-buf-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("tmpdir");
        d
    }

    /// `n` series; series i has value i*t (so some change, series 0 never).
    fn batch(t: i64, n: usize) -> Batch {
        Batch {
            ts_ms: 1_700_000_000_000 + t * 15_000,
            points: (0..n)
                .map(|i| Point {
                    key: Arc::new(series_key("m", [("i".to_string(), i.to_string())], &[])),
                    value: (i as i64 * t) as f64,
                    ts_ms: 1_700_000_000_000 + t * 15_000,
                })
                .collect(),
        }
    }

    fn drain(b: &mut Buffer) -> Vec<Batch> {
        let mut all = Vec::new();
        while let Some(bl) = b.read_oldest(1000).expect("read") {
            b.ack(bl.last_id).expect("ack");
            all.extend(bl.batches);
        }
        all
    }

    #[test]
    fn a_buffer_of_an_older_agent_drains_under_the_boards_identity() {
        let d = tmpdir("identity");
        let path = d.join("q.sqlite");
        {
            let (mut b, _) = Buffer::open(&path, Options::default()).expect("open");
            b.append(&batch(0, 3), 0).expect("append");
            b.conn
                .execute_batch("PRAGMA user_version = 2")
                .expect("as format 2");
        }
        let id = Identity {
            job: "node".into(),
            instance: "pi4:9100".into(),
            honor_labels: false,
        };
        let opts = Options {
            identity: Some(id),
            ..Options::default()
        };
        let (mut b, _) = Buffer::open(&path, opts).expect("upgrade");
        let got = drain(&mut b);
        assert_eq!(got.len(), 1);
        for p in &got[0].points {
            assert_eq!(p.key[1], ("i".to_string(), p.key[1].1.clone()));
            assert_eq!(
                p.key[2..],
                [
                    ("instance".to_string(), "pi4:9100".to_string()),
                    ("job".to_string(), "node".to_string())
                ]
            );
        }
        let v: i64 = b
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(v, FORMAT);
    }

    #[test]
    fn batches_come_back_in_order_after_reopen() {
        let d = tmpdir("reopen");
        let path = d.join("q.sqlite");
        let want: Vec<Batch> = (0..10).map(|t| batch(t, 50)).collect();
        {
            let (mut b, aside) = Buffer::open(&path, Options::default()).expect("open");
            assert!(aside.is_none());
            for w in &want {
                b.append(w, w.ts_ms).expect("append");
            }
            assert_eq!(b.stats().batches, 10);
            assert_eq!(b.stats().samples, 500);
            assert_eq!(b.stats().oldest_ms, Some(want[0].ts_ms));
        }
        let (mut b, _) = Buffer::open(&path, Options::default()).expect("reopen");
        assert_eq!(b.stats().batches, 10);
        assert_eq!(drain(&mut b), want);
        assert!(b.is_empty());
        // Works again after being emptied (series table cleared).
        b.append(&batch(11, 5), 0).expect("append");
        assert_eq!(drain(&mut b), vec![batch(11, 5)]);
    }

    #[test]
    fn partial_ack_rewind_and_appends_in_between() {
        let d = tmpdir("partial");
        let (mut b, _) = Buffer::open(&d.join("q.sqlite"), Options::default()).expect("open");
        for t in 0..6 {
            b.append(&batch(t, 20), 0).expect("append");
        }
        // Read two rows' worth, fail the send: rewind, read again.
        let first = b.read_oldest(40).expect("read").expect("rows");
        assert_eq!(first.batches, vec![batch(0, 20), batch(1, 20)]);
        b.rewind();
        let again = b.read_oldest(40).expect("read").expect("rows");
        assert_eq!(again.batches, first.batches);
        b.ack(again.last_id).expect("ack");
        // The new oldest was rewritten as a keyframe: a fresh open reads it.
        b.append(&batch(6, 20), 0).expect("append");
        drop(b);
        let (mut b, _) = Buffer::open(&d.join("q.sqlite"), Options::default()).expect("reopen");
        let rest = drain(&mut b);
        assert_eq!(rest, (2..7).map(|t| batch(t, 20)).collect::<Vec<_>>());
    }

    #[test]
    fn limits_drop_the_oldest_and_count_them() {
        let d = tmpdir("limits");
        let opts = Options {
            max_bytes: 40_000,
            ..Options::default()
        };
        let (mut b, _) = Buffer::open(&d.join("q.sqlite"), opts).expect("open");
        let mut total = 0u64;
        for t in 0..200 {
            let x = batch(t, 100);
            b.append(&x, x.ts_ms).expect("append");
            total += 100;
        }
        let kept = b.stats().samples;
        assert!(b.stats().bytes <= 40_000, "{:?}", b.stats());
        assert_eq!(b.dropped().max_bytes + kept, total);
        let got = drain(&mut b);
        // The newest are the ones kept, contiguous up to the last.
        let first_t = 200 - got.len() as i64;
        assert_eq!(
            got,
            (first_t..200).map(|t| batch(t, 100)).collect::<Vec<_>>()
        );

        let opts = Options {
            max_age: Duration::from_secs(60),
            ..Options::default()
        };
        let (mut b, _) = Buffer::open(&d.join("age.sqlite"), opts).expect("open");
        for t in 0..10 {
            b.append(&batch(t, 10), batch(t, 10).ts_ms).expect("append");
        }
        // 60 s at 15 s per batch: the newest five (t-4..t) are within the window.
        assert_eq!(b.stats().batches, 5);
        assert_eq!(b.dropped().max_age, 50);
    }

    #[test]
    fn stats_kept_by_difference_equal_a_full_count() {
        let d = tmpdir("stats");
        let opts = Options {
            max_bytes: 20_000,
            ..Options::default()
        };
        let (mut b, _) = Buffer::open(&d.join("q.sqlite"), opts).expect("open");
        let full = |b: &Buffer| read_stats(&b.conn).expect("count");
        for t in 0..120 {
            b.append(&batch(t, 300), 0).expect("append");
            assert_eq!(b.stats(), &full(&b), "after append {t}");
            if t % 7 == 0 {
                if let Some(bl) = b.read_oldest(300).expect("read") {
                    b.ack(bl.last_id).expect("ack");
                    assert_eq!(b.stats(), &full(&b), "after ack at {t}");
                }
            }
        }
        assert!(b.dropped().max_bytes > 0, "the cap never dropped");
        drain(&mut b);
        assert_eq!(b.stats(), &full(&b));
        assert_eq!(b.stats().batches, 0);
    }

    #[test]
    fn a_file_that_is_not_a_buffer_is_moved_aside() {
        let d = tmpdir("corrupt");
        for (name, bytes) in [
            (
                "garbage.sqlite",
                b"this is not sqlite at all, just text".to_vec(),
            ),
            ("empty-header.sqlite", vec![0u8; 4096]),
        ] {
            let path = d.join(name);
            std::fs::write(&path, &bytes).expect("write");
            let (mut b, aside) = Buffer::open(&path, Options::default()).expect("open");
            let aside = aside.expect("moved aside");
            assert_eq!(std::fs::read(&aside).expect("kept"), bytes);
            b.append(&batch(1, 3), 0).expect("new buffer works");
            assert_eq!(drain(&mut b), vec![batch(1, 3)]);
        }
        // A truncated real buffer.
        let path = d.join("trunc.sqlite");
        {
            let (mut b, _) = Buffer::open(&path, Options::default()).expect("open");
            for t in 0..50 {
                b.append(&batch(t, 100), 0).expect("append");
            }
            b.conn
                .execute_batch("PRAGMA wal_checkpoint(RESTART)")
                .expect("ckpt");
        }
        let len = std::fs::metadata(&path).expect("meta").len();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open");
        f.set_len(len / 3).expect("truncate");
        drop(f);
        let (mut b, aside) = Buffer::open(&path, Options::default()).expect("open");
        assert!(aside.is_some(), "truncated file should be moved aside");
        b.append(&batch(1, 3), 0).expect("new buffer works");
    }

    #[test]
    fn file_names_are_stable_and_distinct() {
        let a = file_name("http://127.0.0.1:9090/api/v1/write");
        assert!(
            a.starts_with("127.0.0.1_9090-") && a.ends_with(".sqlite"),
            "{a}"
        );
        assert_ne!(a, file_name("http://127.0.0.1:9090/api/v1/write2"));
        assert_eq!(a, file_name("http://127.0.0.1:9090/api/v1/write"));
    }
}
