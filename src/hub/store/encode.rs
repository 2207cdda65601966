//! Chunk rows encoded on every core: a checkpoint's sealing and a
//! compaction hand their rows to [`seal_rows`], which runs the codec on
//! scoped threads and gives the rows back, in any order but each the same
//! as one thread makes, to the one thread that writes to SQLite.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use super::{chunk, head, Points, StoreError, DAY_MS};

/// Most old chunk bytes one round of a checkpoint's sealing reads before
/// encoding (see `Store::write_sealed`).
pub(super) const SEAL_ROUND_BYTES: usize = 8 << 20;
/// Most chunk rows one round of sealing or compaction encodes.
pub(super) const SEAL_ROUND_JOBS: usize = 16_384;
/// Rows one thread encodes at a time (one hand-off over the channel).
const SEAL_BATCH: usize = 32;

/// One chunk row to write: a series' samples for one window, merged into
/// the row already there (`old`), if any.
pub(super) struct SealJob<'a> {
    pub(super) id: u32,
    pub(super) start: i64,
    pub(super) end: i64,
    pub(super) old: Option<Vec<u8>>,
    /// The window's head samples: `n` of them from this place on,
    /// unpacked by the encoder thread.
    pub(super) new: head::Cursor<'a>,
    pub(super) n: usize,
}

/// A compaction's job: one series' rows of a day, merged into one.
pub(super) struct CompactJob {
    pub(super) id: u32,
    pub(super) day: i64,
    pub(super) blobs: Vec<Vec<u8>>,
}

/// An encoded chunk row, ready for `INSERT`.
pub(super) struct SealedRow {
    pub(super) id: u32,
    pub(super) start: i64,
    pub(super) end: i64,
    pub(super) lo: i64,
    pub(super) hi: i64,
    pub(super) n: i64,
    pub(super) data: Vec<u8>,
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

pub(super) trait EncodeJob: Sync {
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
pub(super) fn seal_rows<J: EncodeJob>(
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
