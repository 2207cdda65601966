//! Writing: appends into the head and the pending list, commits of the
//! pending samples (and new series) as `wal` rows.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection};

use super::keys::{key_into, key_pairs};
use super::{
    lock, now_ms, wal, window, Appended, Series, State, Store, StoreError, GRACE_MS, MAX_BACKLOG,
    WINDOW_MS,
};
use crate::ingest::Batch;

impl Store {
    /// Takes a batch ([`crate::ingest`], whatever the input): each
    /// series' key is made from its sorted labels before the lock is
    /// taken, once per series, not once per sample. Samples older than
    /// the retention are refused and counted; a duplicate (series,
    /// timestamp) replaces the earlier value.
    pub(crate) fn append(&self, batch: &Batch<'_>) -> Appended {
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
    pub(crate) fn wait_backlog(&self, timeout: Duration) -> bool {
        let g = lock(&self.backlog_wake.0);
        if self.backlog_samples() > MAX_BACKLOG {
            return true;
        }
        let _ = self.backlog_wake.1.wait_timeout(g, timeout);
        self.backlog_samples() > MAX_BACKLOG
    }

    /// Writes a consistent copy of the store into `dest` (a directory
    /// that must not hold a database yet), while appends go on: the
    /// pending samples are committed first, so the copy holds every sample
    /// appended before the call; then SQLite's `VACUUM INTO` copies the
    /// database under the writer's lock (readers carry on). Starting a hub
    /// on `dest` restores it.
    pub(crate) fn snapshot(&self, dest: &std::path::Path) -> Result<(), StoreError> {
        let mut db = lock(&self.writer);
        self.commit_locked(&mut db)?;
        vacuum_into(&db, dest)
    }

    /// `picket-hub backup`: a consistent copy of the database in `dir`
    /// (a running hub's or a stopped one's) into `dest`, from another
    /// process. It holds what the hub had committed (every
    /// `commit_interval`); `POST /api/v1/admin/tsdb/snapshot` also holds
    /// what it had appended since.
    pub fn backup(dir: &std::path::Path, dest: &std::path::Path) -> Result<(), StoreError> {
        let src = dir.join(super::FILE_NAME);
        if !src.exists() {
            return Err(StoreError(format!("{}: no database", src.display())));
        }
        let db = Connection::open_with_flags(&src, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        db.busy_timeout(Duration::from_secs(30))?;
        vacuum_into(&db, dest)
    }

    /// Writes the pending samples (and new series) as one wal row.
    pub(crate) fn commit(&self) -> Result<(), StoreError> {
        self.commit_locked(&mut lock(&self.writer))
    }

    pub(super) fn commit_locked(&self, db: &mut Connection) -> Result<(), StoreError> {
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
    pub(super) fn take_pending(&self) -> Pending {
        let (samples, series) = lock(&self.state).take_pending();
        Pending::new(samples, series, None, self.seal_threads)
    }

    /// Puts what [`Store::take_pending`] took back, before anything
    /// pending since: the next commit writes all of it.
    pub(super) fn restore_pending(&self, p: Pending) {
        let mut st = lock(&self.state);
        let mut back = p.samples;
        back.append(std::mem::take(&mut st.pending));
        st.pending = back;
        let mut ids: Vec<u32> = p.series.into_iter().map(|s| s.0).collect();
        ids.append(&mut st.new_series);
        st.new_series = ids;
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
    pub(super) fn take_pending(&mut self) -> (wal::Log, Vec<(u32, String)>) {
        let samples = std::mem::take(&mut self.pending);
        let ids = std::mem::take(&mut self.new_series);
        let series = ids
            .into_iter()
            .filter_map(|id| self.series.get(&id).map(|s| (id, s.key.to_string())))
            .collect();
        (samples, series)
    }

    pub(super) fn add_series(&mut self, id: u32, k: Arc<str>) {
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
    pub(super) fn put_points(&mut self, id: u32, points: &[(i64, f64)]) {
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

/// Samples and new series taken out of the state for one transaction,
/// with the wal rows of those that go through the wal.
pub(super) struct Pending {
    /// All the samples taken, in append order (put back on failure).
    pub(super) samples: wal::Log,
    /// New series: id and key.
    pub(super) series: Vec<(u32, String)>,
    /// (max_t, deflated) wal rows, in order.
    pub(super) rows: Vec<(i64, Vec<u8>)>,
    /// Samples in those rows.
    pub(super) kept: usize,
}

impl Pending {
    /// The samples that `keep` keeps (series id, ms) go into wal rows: one,
    /// or for a large commit (a backlog arriving) up to `threads` parts
    /// deflated in parallel.
    pub(super) fn new(
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

    pub(super) fn is_empty(&self) -> bool {
        self.samples.is_empty() && self.series.is_empty()
    }

    /// Inserts the new series and the wal rows into `tx`.
    pub(super) fn write(&self, tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
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
pub(super) const WAL_PART: usize = 1 << 16;

/// Copies `db` into `dest` (created if missing; must not hold a database
/// yet) with SQLite's `VACUUM INTO`: one consistent, compacted file.
fn vacuum_into(db: &Connection, dest: &std::path::Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dest).map_err(|e| StoreError(e.to_string()))?;
    let file = dest.join(super::FILE_NAME);
    if file.exists() {
        return Err(StoreError(format!("{} exists", file.display())));
    }
    let path = file
        .to_str()
        .ok_or_else(|| StoreError("path is not UTF-8".into()))?;
    db.execute("VACUUM INTO ?1", params![path])?;
    Ok(())
}
