//! Backups while ingest goes on: Prometheus's
//! `POST /api/v1/admin/tsdb/snapshot` (behind `--web.enable-admin-api`)
//! and `picket-hub backup DIR`; a hub started on the copy answers with
//! every sample acknowledged before it was taken.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::hub::{body, export, now_ms, post, start_hub};
use crate::util::*;

/// A writer pushing one sample of `backup_probe` every 10 ms (timestamps
/// one ms apart from a base); returns the stop flag, the timestamp of
/// the last acknowledged sample, and the thread.
fn writer(
    addr: String,
    base: i64,
) -> (Arc<AtomicBool>, Arc<AtomicI64>, std::thread::JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicI64::new(0));
    let (s, a) = (stop.clone(), acked.clone());
    let t = std::thread::spawn(move || {
        let mut ts = base;
        while !s.load(Ordering::SeqCst) {
            let b = body(&[(
                &[("__name__", "backup_probe"), ("job", "b")],
                &[(ts, ts as f64)],
            )]);
            if post(&addr, &b).status == 204 {
                a.store(ts, Ordering::SeqCst);
            }
            ts += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    (stop, acked, t)
}

/// `POST /api/v1/admin/tsdb/snapshot`.
fn snapshot(addr: &str) -> Response {
    let req = format!(
        "POST /api/v1/admin/tsdb/snapshot HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    raw(addr, req.as_bytes()).unwrap()
}

fn stamps(addr: &str) -> BTreeSet<i64> {
    export(addr, "backup_probe")
        .into_iter()
        .flat_map(|(_, pts)| pts.into_iter().map(|(t, _)| t))
        .collect()
}

#[test]
fn a_snapshot_during_ingest_restores_every_acknowledged_sample() {
    let dir = temp_dir("snapshot");
    let hub = start_hub(&dir, &["--web.enable-admin-api"]);
    let base = now_ms() - 60_000;
    let (stop, acked, t) = writer(hub.addr.clone(), base);
    wait_until(Duration::from_secs(10), "samples acknowledged", || {
        acked.load(Ordering::SeqCst) > base + 50
    });
    // Everything acknowledged before the request must be in the copy.
    let before = acked.load(Ordering::SeqCst);
    let r = snapshot(&hub.addr);
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let name = v["data"]["name"].as_str().expect("name").to_string();
    // Prometheus's name: 20060102T150405Z-<16 hex digits>.
    assert_eq!(name.len(), 33, "{name}");
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::SeqCst);
    t.join().unwrap();
    let live = stamps(&hub.addr);
    drop(hub);

    let snap = dir.join("data/snapshots").join(&name);
    assert!(snap.join("picket-hub.sqlite").exists());
    let restored_dir = temp_dir("snapshot-restored");
    std::fs::rename(&snap, restored_dir.join("data")).unwrap();
    let restored = Launch::hub(&restored_dir).start();
    let got = stamps(&restored.addr);
    let missing: Vec<i64> = (base..=before).filter(|t| !got.contains(t)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged before the snapshot, missing: {missing:?}"
    );
    assert!(
        got.is_subset(&live),
        "the copy holds samples the hub never had"
    );
    assert!(got.len() < live.len(), "ingest went on after the snapshot");
}

#[test]
fn admin_api_is_off_by_default_and_backup_copies_a_running_hub() {
    let dir = temp_dir("backup-cli");
    let cfg = dir.join("hub.toml");
    std::fs::write(&cfg, "[storage]\ncommit_interval = \"100ms\"\n").unwrap();
    let data = dir.join("data");
    let hub = Launch::hub(&dir)
        .args([format!("--config.file={}", cfg.display())])
        .start();
    let r = snapshot(&hub.addr);
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.text().contains("admin APIs disabled"), "{}", r.text());

    let base = now_ms() - 60_000;
    let (stop, acked, t) = writer(hub.addr.clone(), base);
    wait_until(Duration::from_secs(10), "samples acknowledged", || {
        acked.load(Ordering::SeqCst) > base + 30
    });
    // The CLI copies what the hub has committed (every 100 ms here).
    let before = acked.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(500));
    let restored_dir = temp_dir("backup-cli-restored");
    let dest = restored_dir.join("data");
    let out = hub_cmd()
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .args(["backup"])
        .arg(&dest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stop.store(true, Ordering::SeqCst);
    t.join().unwrap();
    drop(hub);
    let again = hub_cmd()
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .args(["backup"])
        .arg(&dest)
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(1),
        "a second backup into the same directory"
    );
    let restored = Launch::hub(&restored_dir).start();
    let got = stamps(&restored.addr);
    let missing: Vec<i64> = (base..=before).filter(|t| !got.contains(t)).collect();
    assert!(
        missing.is_empty(),
        "committed before the backup, missing: {missing:?}"
    );
}
