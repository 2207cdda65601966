//! Checkpoints: the head's closed windows sealed into chunk rows (merged
//! with the rows already there), the sealed `wal` rows deleted and the
//! pending samples committed, in one transaction; then compaction and
//! retention ([`super::compact`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rusqlite::{params, CachedStatement, Connection, OptionalExtension};

use super::encode::{seal_rows, SealJob, SealedRow, SEAL_ROUND_BYTES, SEAL_ROUND_JOBS};
use super::write::Pending;
use super::{head, lock, wal, window, Store, StoreError, DAY_MS, GRACE_MS, MAX_HEAD, WINDOW_MS};

impl Store {
    /// Seals closed windows into chunks, compacts one finished day,
    /// applies retention. `now` in ms; `all` seals the whole head.
    pub(crate) fn checkpoint(&self, now: i64, all: bool) -> Result<(), StoreError> {
        self.checkpoint_inner(now, all, false)
    }

    /// A checkpoint for a backlog arriving ([`MAX_BACKLOG`]): seals only
    /// the windows each series' data has moved past, and holds back its
    /// newest one, which the backlog is still filling; sealing that too
    /// would rewrite it at every checkpoint of the burst. The minute's
    /// regular checkpoint seals whatever is closed.
    pub(crate) fn checkpoint_backlog(&self, now: i64) -> Result<(), StoreError> {
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
        let Taken {
            sealing,
            pending,
            wal_cut,
            mut held,
        } = self.take_sealing(cutoff, backlog);
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
        self.end_sealing(&sealing, res.is_err());
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

    /// Takes what is to be sealed (before `cutoff`; for a `backlog`
    /// checkpoint, not a series' newest window) out of the head, and the
    /// pending samples, under one lock; queries still see the samples
    /// through `sealing` (shared with the writer, not copied).
    fn take_sealing(&self, cutoff: i64, backlog: bool) -> Taken {
        let mut wal_cut = cutoff;
        let mut held = BTreeSet::new();
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
        Taken {
            sealing: Arc::clone(&st.sealing),
            // Under the same lock: a sample appended after this is in the
            // head and still pending.
            pending: st.take_pending(),
            wal_cut,
            held,
        }
    }

    /// Ends what [`Store::take_sealing`] began: queries read the chunks
    /// now, or, when the write `failed`, the samples are back in the head
    /// and the next checkpoint tries again (the wal rows are still there
    /// too). A value appended for the same timestamp meanwhile is newer
    /// and stays.
    fn end_sealing(&self, sealing: &HashMap<u32, head::Packed>, failed: bool) {
        let mut st = lock(&self.state);
        st.sealing = Arc::default();
        if failed {
            for (&id, samples) in sealing.iter() {
                let added = st.head.entry(id).or_default().put_back(&samples.points());
                st.head_samples += added;
            }
        }
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
                series_jobs(&mut find, id, &sealing[&id], |job| {
                    touched.insert(window(job.start, DAY_MS));
                    old_bytes += job.old.as_ref().map_or(0, Vec::len);
                    jobs.push(job);
                    if old_bytes >= SEAL_ROUND_BYTES || jobs.len() >= SEAL_ROUND_JOBS {
                        seal_rows(&jobs, self.seal_threads, &mut insert)?;
                        jobs.clear();
                        old_bytes = 0;
                    }
                    Ok(())
                })?;
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
}

/// The chunk rows one series' sealing samples go to, in time order, one
/// [`SealJob`] each, handed to `job`: samples go into the row already
/// there whose span holds them, else into their 30-minute window's new
/// row. `find` is the statement that finds a row (`write_sealed`'s).
fn series_jobs<'a>(
    find: &mut CachedStatement<'_>,
    id: u32,
    packed: &'a head::Packed,
    mut job: impl FnMut(SealJob<'a>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    // `here` is the place of `next`, the first sample not yet in a job.
    let mut rest = packed.iter();
    let mut here = rest;
    let mut next = rest.next();
    while let Some((t0, _)) = next {
        // Rows never overlap, and the piece before this one ended at or
        // before t0: reading every row before writing any finds the same
        // ones as reading each after the writes before it.
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
        job(SealJob {
            id,
            start,
            end,
            old,
            new,
            n,
        })?;
    }
    Ok(())
}

/// What a checkpoint takes out of the state ([`Store::take_sealing`]).
struct Taken {
    /// The head samples to seal, per series (also the state's `sealing`).
    sealing: Arc<HashMap<u32, head::Packed>>,
    /// The pending samples and new series.
    pending: (wal::Log, Vec<(u32, String)>),
    /// wal rows wholly before this, the oldest sample left in the head,
    /// are sealed and can go.
    wal_cut: i64,
    /// Days of samples held back in the head (still arriving).
    held: BTreeSet<i64>,
}
