//! The store's SQLite file: its tables, the one migration from the first
//! schema, and opening it (the series read into the index, the wal rows
//! replayed into the head).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

use super::keys::parse_key;
use super::{cache, seal_threads, wal, Options, State, Stats, Store, StoreError};

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
    pub(crate) fn open(opts: Options) -> Result<Store, StoreError> {
        std::fs::create_dir_all(&opts.dir)
            .map_err(|e| StoreError(format!("cannot create {}: {e}", opts.dir.display())))?;
        let path = opts.dir.join(super::FILE_NAME);
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
        let state = State::load(&writer, &path)?;
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
}

impl State {
    /// The state `db` holds: its series (the index), their time spans,
    /// and the head, replayed from the wal rows (`path` is for messages).
    fn load(db: &Connection, path: &Path) -> Result<State, StoreError> {
        let mut state = State::default();
        let mut st = db.prepare("SELECT id, labels FROM series")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (id, k) = row?;
            if parse_key(&k).is_none() {
                return Err(StoreError(format!("series {id}: unreadable labels {k:?}")));
            }
            state.add_series(id, k.into());
            state.next_id = state.next_id.max(id + 1);
        }
        for (id, (lo, hi)) in chunk_bounds(db)? {
            if let Some(s) = state.series.get_mut(&id) {
                s.min_t = s.min_t.min(lo);
                s.max_t = s.max_t.max(hi);
            }
        }
        let mut st = db.prepare("SELECT id, data FROM wal ORDER BY id")?;
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
        Ok(state)
    }
}

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
pub(super) fn chunk_bounds(db: &Connection) -> Result<HashMap<u32, (i64, i64)>, StoreError> {
    let mut st =
        db.prepare("SELECT series_id, min(min_t), max(max_t) FROM chunks GROUP BY series_id")?;
    let rows = st.query_map([], |r| Ok((r.get::<_, u32>(0)?, (r.get(1)?, r.get(2)?))))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Bytes of pages in use (not free) in the database.
pub(super) fn used_bytes(db: &Connection) -> Result<u64, StoreError> {
    let pages: i64 = db.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let free: i64 = db.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    let size: i64 = db.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(((pages - free).max(0) * size) as u64)
}
