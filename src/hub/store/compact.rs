//! After sealing, at each checkpoint: a finished day's 30-minute rows
//! compacted into one row per series, and retention by time and size.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::encode::{seal_rows, CompactJob, SealedRow, SEAL_ROUND_BYTES, SEAL_ROUND_JOBS};
use super::schema::{chunk_bounds, used_bytes};
use super::{lock, window, Store, StoreError, DAY_MS, GRACE_MS};

impl Store {
    /// Merges the windows of the oldest finished day that has any into one
    /// row per series. A day that got samples in this checkpoint
    /// (`touched`: a backlog still arriving) waits, so a replay of hours
    /// is compacted once, after it, not once per checkpoint.
    pub(super) fn compact(
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
        let compacted = self.compact_day(&tx, day)?;
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

    /// Compacts `day` in `tx`: each series with more than one row in it
    /// (or a row shorter than a day) gets one row; returns how many.
    fn compact_day(&self, tx: &Transaction<'_>, day: i64) -> Result<u64, StoreError> {
        let mut compacted = 0;
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
        Ok(compacted)
    }

    /// Deletes chunks past the retention time, then the oldest windows
    /// while the database is over its size limit.
    pub(super) fn retention(&self, db: &mut Connection, now: i64) -> Result<(), StoreError> {
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
}
