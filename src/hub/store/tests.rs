use super::write::WAL_PART;
use super::*;
use crate::ingest::Batch;
use picket_core::metric::Labels;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "picket-store-{name}-{}-{}",
        std::process::id(),
        now_ms()
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn opts(dir: &Path) -> Options {
    Options {
        dir: dir.to_path_buf(),
        ..Options::default()
    }
}

fn series(name: &str, inst: &str) -> Labels {
    Labels::from_pairs([("__name__", name), ("instance", inst), ("job", "node")])
}

fn values(got: &[(Labels, Vec<(i64, f64)>)]) -> Vec<Vec<(i64, u64)>> {
    got.iter()
        .map(|(_, s)| s.iter().map(|&(t, v)| (t, v.to_bits())).collect())
        .collect()
}

/// Appends rows (labels, ms, value), one batch.
fn append(s: &Store, rows: impl IntoIterator<Item = (Labels, i64, f64)>) -> Appended {
    let rows: Vec<_> = rows.into_iter().collect();
    s.append(&Batch::from_rows(&rows))
}

/// Appends series (labels, samples), one batch.
fn append_series(s: &Store, series: impl IntoIterator<Item = (Labels, Points)>) -> Appended {
    let series: Vec<_> = series.into_iter().collect();
    s.append(&Batch::from_series(&series))
}

const STALE: u64 = 0x7ff0_0000_0000_0002;

#[test]
fn appended_samples_are_read_back_from_head_chunks_and_after_reopen() {
    let dir = tmp("rw");
    let now = now_ms();
    let t0 = window(now - 3 * 3_600_000, WINDOW_MS);
    let mut want;
    {
        let s = Store::open(opts(&dir)).unwrap();
        // Three hours at 15 s, out of order in two halves, with a stale marker.
        let pts: Vec<(i64, f64)> = (0..720)
            .map(|i| (t0 + i * 15_000, (i % 7) as f64))
            .collect();
        let (a, b) = pts.split_at(400);
        append(&s, b.iter().map(|&(t, v)| (series("x", "a"), t, v)));
        append(&s, a.iter().map(|&(t, v)| (series("x", "a"), t, v)));
        append(
            &s,
            [(series("x", "a"), t0 + 720 * 15_000, f64::from_bits(STALE))],
        );
        want = pts
            .iter()
            .map(|&(t, v)| (t, v.to_bits()))
            .collect::<Vec<_>>();
        want.push((t0 + 720 * 15_000, STALE));
        let m = [Matcher::eq("__name__", "x")];
        assert_eq!(
            values(&s.select(&m, i64::MIN, i64::MAX).unwrap()),
            vec![want.clone()]
        );
        s.checkpoint(now, false).unwrap();
        // Six windows, the last one sealed only if it closed (depends on the clock).
        assert!(s.stats.chunks_written.load(Ordering::Relaxed) >= 5);
        assert_eq!(
            values(&s.select(&m, i64::MIN, i64::MAX).unwrap()),
            vec![want.clone()]
        );
        // A duplicate push stores once; a late sample merges into its sealed window.
        append(&s, [(series("x", "a"), t0 + 15_000, 1.0)]);
        append(&s, [(series("x", "a"), t0 + 7_000, 42.0)]);
        s.checkpoint(now, false).unwrap();
        want.insert(1, (t0 + 7_000, 42f64.to_bits()));
        assert_eq!(
            values(&s.select(&m, i64::MIN, i64::MAX).unwrap()),
            vec![want.clone()]
        );
        // Range bounds are inclusive.
        let r = s.select(&m, t0 + 15_000, t0 + 30_000).unwrap();
        assert_eq!(r[0].1.len(), 2);
        append(&s, [(series("y", "b"), now, 5.0)]);
        s.commit().unwrap();
        // Dropped without a checkpoint: the head is only in the wal rows.
    }
    let s = Store::open(opts(&dir)).unwrap();
    let m = [Matcher::eq("__name__", "x")];
    assert_eq!(
        values(&s.select(&m, i64::MIN, i64::MAX).unwrap()),
        vec![want]
    );
    let y = s
        .select(&[Matcher::eq("__name__", "y")], 0, i64::MAX)
        .unwrap();
    assert_eq!(values(&y), vec![vec![(now, 5f64.to_bits())]]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn uncommitted_samples_are_lost_but_nothing_else() {
    let dir = tmp("crash");
    let now = now_ms();
    {
        let s = Store::open(opts(&dir)).unwrap();
        append(&s, [(series("a", "1"), now - 1000, 1.0)]);
        s.commit().unwrap();
        append(&s, [(series("a", "1"), now, 2.0)]);
    }
    let s = Store::open(opts(&dir)).unwrap();
    let got = s
        .select(&[Matcher::eq("__name__", "a")], 0, i64::MAX)
        .unwrap();
    assert_eq!(values(&got), vec![vec![(now - 1000, 1f64.to_bits())]]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn matchers_labels_and_values() {
    let dir = tmp("match");
    let s = Store::open(opts(&dir)).unwrap();
    let now = now_ms();
    append(
        &s,
        [
            (series("up", "pi1:9100"), now, 1.0),
            (series("up", "pi2:9100"), now, 0.0),
            (series("node_load1", "pi1:9100"), now, 0.5),
        ],
    );
    let sel = |q: &str| matcher::parse_selector(q).unwrap();
    assert_eq!(s.series(&sel("up"), 0, i64::MAX).len(), 2);
    assert_eq!(
        s.series(&sel(r#"up{instance=~"pi1.*"}"#), 0, i64::MAX)
            .len(),
        1
    );
    assert_eq!(
        s.series(&sel(r#"{instance="pi1:9100"}"#), 0, i64::MAX)
            .len(),
        2
    );
    assert_eq!(s.series(&sel(r#"up{job!="node"}"#), 0, i64::MAX).len(), 0);
    // Out of the time range: nothing.
    assert!(s.series(&sel("up"), 0, now - 3_600_000).is_empty());
    assert_eq!(
        s.label_names(&[], 0, i64::MAX),
        ["__name__", "instance", "job"]
    );
    assert_eq!(
        s.label_values("instance", &[sel("node_load1")], 0, i64::MAX),
        ["pi1:9100"]
    );
    assert_eq!(
        s.label_values("__name__", &[], 0, i64::MAX),
        ["node_load1", "up"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn retention_by_time_and_size_removes_the_oldest_only() {
    let dir = tmp("ret");
    let now = now_ms();
    let mut o = opts(&dir);
    o.retention = Duration::from_secs(10 * 3600);
    let s = Store::open(o.clone()).unwrap();
    // Too old at append: refused and counted.
    let a = append(&s, [(series("old", "x"), now - 11 * 3_600_000, 1.0)]);
    assert_eq!((a.samples, a.too_old), (0, 1));
    // Nine hours of 50 series; then "now" moves two hours on.
    let t0 = now - 9 * 3_600_000;
    for i in 0..(9 * 240) {
        let t = t0 + i * 15_000;
        append(
            &s,
            (0..50).map(|k| (series("m", &k.to_string()), t, (i * k) as f64)),
        );
    }
    s.checkpoint(now, true).unwrap();
    let m = [Matcher::eq("__name__", "m")];
    let before = s.select(&m, i64::MIN, i64::MAX).unwrap();
    assert_eq!(before[0].1.first().map(|p| p.0), Some(t0));
    s.checkpoint(now + 2 * 3_600_000, false).unwrap();
    let after = s.select(&m, i64::MIN, i64::MAX).unwrap();
    let first = after[0].1.first().map(|p| p.0).unwrap();
    // Whole chunks older than now+2h-10h are gone, and nothing newer. A
    // chunk is a 30-minute window, or a whole day once the checkpoint at
    // now+2h has compacted a closed day (when the nine hours lie before a
    // UTC midnight that now+2h has passed): then a day's row that reaches
    // past the limit is kept whole, as Prometheus keeps a whole block.
    let limit = now + 2 * 3_600_000 - 10 * 3_600_000;
    let compacted = window(t0, DAY_MS) < window(now + 2 * 3_600_000 - GRACE_MS, DAY_MS);
    if !compacted {
        assert!(
            first >= window(limit, WINDOW_MS) - WINDOW_MS,
            "{first} {limit}"
        );
        assert!(first > t0);
    }
    let newer = |pts: &[(i64, f64)]| pts.iter().filter(|p| p.0 >= limit).count();
    for ((_, b), (_, a)) in before.iter().zip(&after) {
        assert_eq!(newer(b), newer(a), "samples newer than the limit lost");
    }
    for ((_, b), (_, a)) in before.iter().zip(&after) {
        let kept: Vec<_> = b.iter().filter(|p| p.0 >= first).collect();
        assert_eq!(kept.len(), a.len());
    }
    // By size: a limit well under the current size drops the oldest windows.
    // (Not when a compacted day holds it all in a few pages: there is
    // nothing to halve.)
    if compacted {
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let used = s.sizes().db_bytes;
    drop(s);
    o.retention_bytes = used / 2;
    let s = Store::open(o).unwrap();
    s.checkpoint(now + 2 * 3_600_000, false).unwrap();
    assert!(
        s.sizes().db_bytes <= used / 2,
        "{} > {} / 2",
        s.sizes().db_bytes,
        used
    );
    let left = s.select(&m, i64::MIN, i64::MAX).unwrap();
    let newest = after[0].1.last().unwrap().0;
    assert_eq!(left[0].1.last().unwrap().0, newest, "the newest data stays");
    assert!(left[0].1.first().unwrap().0 > first);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_finished_day_is_compacted_into_one_row_per_series() {
    let dir = tmp("compact");
    let now = now_ms();
    let s = Store::open(opts(&dir)).unwrap();
    let day = window(now, DAY_MS) - DAY_MS;
    let pts: Vec<(i64, f64)> = (0..5760).map(|i| (day + i * 15_000, 3.0)).collect();
    append(&s, pts.iter().map(|&(t, v)| (series("c", "1"), t, v)));
    let rows = || -> i64 {
        lock(&s.writer)
            .query_row("SELECT count(*) FROM chunks", [], |r| r.get(0))
            .unwrap()
    };
    // The checkpoint that seals a backlog leaves its day alone (more of
    // it may still be arriving); the next one, with nothing new for that
    // day, compacts it.
    s.checkpoint(now, false).unwrap();
    assert_eq!(rows(), 48, "compaction waits while the day is arriving");
    s.checkpoint(now, false).unwrap();
    assert_eq!(rows(), 1, "48 windows became one row");
    let got = s
        .select(&[Matcher::eq("__name__", "c")], 0, i64::MAX)
        .unwrap();
    assert_eq!(got[0].1.len(), 5760);
    // A late sample into the compacted day merges into that row.
    append(&s, [(series("c", "1"), day + 7, 9.0)]);
    s.checkpoint(now, false).unwrap();
    let got = s
        .select(&[Matcher::eq("__name__", "c")], 0, i64::MAX)
        .unwrap();
    assert_eq!(got[0].1.len(), 5761);
    assert_eq!(got[0].1[1], (day + 7, 9.0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_backlog_checkpoint_holds_back_the_window_being_filled_and_loses_nothing() {
    let dir = tmp("backlog");
    let now = now_ms();
    let s = Store::open(opts(&dir)).unwrap();
    let start = window(now, WINDOW_MS) - 10 * WINDOW_MS;
    // Two and a half windows of a backlog, 15 s apart.
    let pts: Vec<(i64, f64)> = (0..300).map(|i| (start + i * 15_000, i as f64)).collect();
    append(&s, pts.iter().map(|&(t, v)| (series("b", "1"), t, v)));
    assert_eq!(s.backlog_samples(), 300);
    s.checkpoint_backlog(now).unwrap();
    // The two complete windows are sealed, the third (still filling) is not.
    assert_eq!(s.head_samples(), 60);
    assert_eq!(s.backlog_samples(), 0);
    let chunks: i64 = lock(&s.writer)
        .query_row("SELECT count(*) FROM chunks", [], |r| r.get(0))
        .unwrap();
    assert_eq!(chunks, 2);
    // The checkpoint committed too: its wal rows hold the 60 samples left
    // in the head and none of the 240 it sealed (a backlog is not deflated
    // twice), so a crash now loses nothing.
    let in_wal: usize = lock(&s.writer)
        .prepare("SELECT data FROM wal")
        .unwrap()
        .query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|d| wal::decode(&d.unwrap()).unwrap().len())
        .sum();
    assert_eq!(in_wal, 60);
    drop(s);
    let s = Store::open(opts(&dir)).unwrap();
    let got = s
        .select(&[Matcher::eq("__name__", "b")], i64::MIN, i64::MAX)
        .unwrap();
    assert_eq!(got[0].1, pts);
    // The regular checkpoint seals the closed window too.
    s.checkpoint(now, false).unwrap();
    assert_eq!(s.head_samples(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn limited_selects_stop_at_series_and_samples_from_chunks_and_head() {
    let dir = tmp("limit");
    let now = now_ms();
    let t0 = window(now - 3 * 3_600_000, WINDOW_MS);
    let s = Store::open(opts(&dir)).unwrap();
    for inst in ["a", "b", "c"] {
        append(
            &s,
            (0..600).map(|i| (series("x", inst), t0 + i * 15_000, i as f64)),
        );
    }
    // Sealed windows come back from chunks, the rest from the head.
    s.checkpoint(now, false).unwrap();
    let m = [Matcher::eq("__name__", "x")];
    let limited = |series, samples| {
        s.select_limited(&m, i64::MIN, i64::MAX, Limit { series, samples })
            .map(|r| r.len())
    };
    assert!(matches!(limited(2, 0), Err(SelectError::Limit("series"))));
    assert!(matches!(
        limited(0, 1_799),
        Err(SelectError::Limit("samples"))
    ));
    assert_eq!(limited(3, 1_800).ok(), Some(3));
    assert_eq!(limited(0, 0).ok(), Some(3));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every chunk row, in key order, as (series, start, end, min, max, n, data).
type Rows = Vec<(u32, i64, i64, i64, i64, i64, Vec<u8>)>;

fn chunk_rows(s: &Store) -> Rows {
    let db = lock(&s.writer);
    let mut q = db
        .prepare("SELECT series_id, start, end_, min_t, max_t, n, data FROM chunks ORDER BY series_id, start")
        .unwrap();
    q.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// Six hours of backlog for 120 series (more rows than one thread's batch), in
/// request-sized steps with backlog checkpoints, late and out-of-order
/// samples into sealed windows, then the compaction and a late sample into
/// the compacted day: the rows after each checkpoint.
fn seal_scenario(threads: usize) -> Vec<Rows> {
    let dir = tmp(&format!("seal-{threads}"));
    let now = now_ms();
    let day = window(now, DAY_MS) - DAY_MS;
    let s = Store::open(Options {
        seal_threads: threads,
        ..opts(&dir)
    })
    .unwrap();
    let value = |i: i64, k: i64| match k % 4 {
        0 => 5.0,
        1 => (i * k) as f64 / 100.0,
        2 if i % 97 == 0 => f64::from_bits(STALE),
        _ => ((i * 7919 + k) % 1000) as f64 * 0.37,
    };
    let mut out = Vec::new();
    for step in 0..6 {
        append_series(
            &s,
            (0..120i64).map(|k| {
                let pts = (step * 240..(step + 1) * 240)
                    .map(|i| (day + i * 15_000 + (i * k) % 5, value(i, k)))
                    .collect();
                (series("m", &k.to_string()), pts)
            }),
        );
        s.checkpoint_backlog(now).unwrap();
        out.push(chunk_rows(&s));
    }
    // Late samples between sealed ones, and a duplicate that replaces.
    append(
        &s,
        (0..120i64).flat_map(|k| {
            [
                (series("m", &k.to_string()), day + 3_600_000 + 7, -1.5),
                (
                    series("m", &k.to_string()),
                    day + 15_000 + (15 * k) % 5,
                    2.0,
                ),
            ]
        }),
    );
    for _ in 0..3 {
        s.checkpoint(now, false).unwrap();
        out.push(chunk_rows(&s));
    }
    append(
        &s,
        (0..120i64).map(|k| (series("m", &k.to_string()), day + 11, f64::NAN)),
    );
    s.checkpoint(now, false).unwrap();
    out.push(chunk_rows(&s));
    assert_eq!(s.head_samples(), 0);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
    out
}

#[test]
fn parallel_sealing_and_compaction_write_the_same_rows_as_one_thread() {
    let serial = seal_scenario(1);
    assert_eq!(serial.last().unwrap().len(), 120, "one row per series-day");
    assert_eq!(
        serial[5].len(),
        120 * 11,
        "windows sealed during the backlog"
    );
    for threads in [2, 3] {
        let parallel = seal_scenario(threads);
        assert_eq!(serial.len(), parallel.len());
        for (i, (a, b)) in serial.iter().zip(&parallel).enumerate() {
            assert!(a == b, "{threads} threads, checkpoint {i}: rows differ");
        }
    }
}

#[test]
fn a_parallel_checkpoint_that_fails_loses_nothing() {
    let dir = tmp("seal-fail");
    let now = now_ms();
    let t0 = window(now, WINDOW_MS) - 4 * WINDOW_MS;
    let o = Options {
        seal_threads: 2,
        ..opts(&dir)
    };
    let s = Store::open(o.clone()).unwrap();
    append_series(
        &s,
        (0..200).map(|k| {
            let pts = (0..120)
                .map(|i| (t0 + i * 15_000, (i + k) as f64))
                .collect();
            (series("f", &k.to_string()), pts)
        }),
    );
    s.checkpoint(now, false).unwrap();
    assert_eq!(chunk_rows(&s).len(), 200);
    // One row that no longer decodes, and a late sample for every series:
    // the checkpoint fails as a whole, in the middle of the encoders' work.
    lock(&s.writer)
        .execute(
            "UPDATE chunks SET data = x'00' WHERE series_id = (SELECT min(series_id) + 100 FROM chunks)",
            [],
        )
        .unwrap();
    let late: Vec<_> = (0..200)
        .map(|k| (series("f", &k.to_string()), t0 + 7, -1.0))
        .collect();
    append(&s, late.clone());
    let before = chunk_rows(&s);
    assert!(s.checkpoint(now, false).is_err());
    assert_eq!(chunk_rows(&s), before, "nothing of it written");
    // The late samples are back in the head, and in the wal rows.
    assert_eq!(s.head_samples(), 200);
    drop(s);
    let s = Store::open(o).unwrap();
    assert_eq!(s.head_samples(), 200);
    let got = s
        .select(&[Matcher::eq("instance", "7")], i64::MIN, i64::MAX)
        .unwrap();
    assert_eq!(got[0].1.len(), 121);
    assert_eq!(got[0].1[1], (t0 + 7, -1.0));
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_large_commit_is_written_in_parts_and_replays_in_order() {
    let dir = tmp("wal-parts");
    let now = now_ms();
    let o = Options {
        seal_threads: 3,
        ..opts(&dir)
    };
    let t0 = now - 3_600_000;
    {
        let s = Store::open(o.clone()).unwrap();
        // 3 x WAL_PART samples in one commit, the first sample's
        // timestamp written again at the end with another value.
        let n = 3 * WAL_PART as i64;
        append(
            &s,
            (0..n).map(|i| (series("w", &(i % 1000).to_string()), t0 + i, i as f64)),
        );
        append(&s, [(series("w", "0"), t0, f64::from_bits(STALE))]);
        s.commit().unwrap();
        let rows: i64 = lock(&s.writer)
            .query_row("SELECT count(*) FROM wal", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 3);
    }
    let s = Store::open(o).unwrap();
    assert_eq!(s.head_samples(), 3 * WAL_PART);
    let got = s
        .select(&[Matcher::eq("instance", "0")], i64::MIN, i64::MAX)
        .unwrap();
    assert_eq!(got[0].1[0].1.to_bits(), STALE, "the later duplicate wins");
    assert_eq!(got[0].1[1], (t0 + 1000, 1000.0));
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_without_rowid_chunks_table_is_rewritten_and_its_samples_kept() {
    let dir = tmp("migrate");
    let now = now_ms();
    let t0 = window(now - 3 * 3_600_000, WINDOW_MS);
    let pts: Vec<(i64, f64)> = (0..240).map(|i| (t0 + i * 15_000, i as f64)).collect();
    {
        let s = Store::open(opts(&dir)).unwrap();
        append(&s, pts.iter().map(|&(t, v)| (series("x", "a"), t, v)));
        s.checkpoint(now, true).unwrap();
    }
    // Turn the file back into the first schema: chunks WITHOUT ROWID.
    {
        let db = Connection::open(dir.join("picket-hub.sqlite")).unwrap();
        db.execute_batch(
            "ALTER TABLE chunks RENAME TO c; DROP INDEX chunks_by_series; DROP INDEX chunks_by_start_end;
             CREATE TABLE chunks (series_id INTEGER NOT NULL, start INTEGER NOT NULL, end_ INTEGER NOT NULL,
               min_t INTEGER NOT NULL, max_t INTEGER NOT NULL, n INTEGER NOT NULL, data BLOB NOT NULL,
               PRIMARY KEY (series_id, start)) WITHOUT ROWID;
             CREATE INDEX chunks_by_start_end ON chunks (start, end_);
             INSERT INTO chunks SELECT series_id, start, end_, min_t, max_t, n, data FROM c; DROP TABLE c;",
        )
        .unwrap();
    }
    let s = Store::open(opts(&dir)).unwrap();
    let sql: String = lock(&s.reader)
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'chunks'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!sql.contains("WITHOUT ROWID"), "{sql}");
    let m = [Matcher::eq("__name__", "x")];
    let want: Vec<(i64, u64)> = pts.iter().map(|&(t, v)| (t, v.to_bits())).collect();
    assert_eq!(
        values(&s.select(&m, i64::MIN, i64::MAX).unwrap()),
        vec![want]
    );
    // Opening again finds nothing to do and keeps the samples.
    drop(s);
    let s = Store::open(opts(&dir)).unwrap();
    assert_eq!(s.select(&m, i64::MIN, i64::MAX).unwrap()[0].1.len(), 240);
    let _ = std::fs::remove_dir_all(&dir);
}
