//! filesystem: the mount list from `/proc/1/mountinfo` (or
//! `/proc/self/mountinfo` when pid 1 is hidden), then `statfs(2)` of each
//! mount point seen under `--path.rootfs`.
//!
//! Exports, as node_exporter 1.12 does, with labels
//! {device, mountpoint, fstype, device_error}:
//! `node_filesystem_{size_bytes,free_bytes,avail_bytes,files,files_free}`,
//! `node_filesystem_readonly`, `node_filesystem_device_error` and
//! `node_filesystem_purgeable_bytes` (always 0 on Linux: node_exporter emits
//! its macOS-only metric with a zero value), plus
//! `node_filesystem_mount_info` {device, major, minor, mountpoint}.
//!
//! A mount whose `statfs` fails gets only `device_error` (1, with the error
//! text as the `device_error` label) and `readonly`. A `statfs` that hangs
//! (a dead NFS server) is given [`MOUNT_TIMEOUT`]; the mount is then
//! remembered as stuck and skipped by later scrapes (reported with
//! `device_error="mountpoint timeout"`) until the hung call returns. The
//! calls run on one long-lived helper thread, shared by all scrapes; a hung
//! call keeps that thread, which is then abandoned, and the next mount goes
//! to a fresh one. (A thread per scrape cost a third of this collector's time.)

use std::collections::BTreeSet;
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use super::{CollectError, Ctx, Out};

/// How long one `statfs` may take before its mount counts as stuck
/// (node_exporter's `--collector.filesystem.mount-timeout`).
pub(crate) const MOUNT_TIMEOUT: Duration = Duration::from_secs(5);

/// Stack of the helper thread: it only formats a path and makes a syscall.
const STAT_THREAD_STACK: usize = 64 * 1024;

/// Mount points whose `statfs` has not returned yet.
static STUCK: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// One line of mountinfo, as the collector needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Mount {
    /// Mount source (`/dev/mmcblk0p2`, `tmpfs`, `server:/export`).
    pub device: String,
    /// Mount point, with `\040` and `\011` decoded.
    pub mount_point: String,
    /// Filesystem type.
    pub fs_type: String,
    /// Major device number, in decimal.
    pub major: String,
    /// Minor device number, in decimal.
    pub minor: String,
    /// `ro` in the mount options, or `ro`/`emergency_ro` in the superblock options.
    pub read_only: bool,
}

/// What `statfs` says about one filesystem, in node_exporter's units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct FsStat {
    /// Total size in bytes.
    pub size: f64,
    /// Free bytes.
    pub free: f64,
    /// Bytes available to unprivileged users.
    pub avail: f64,
    /// Total inodes.
    pub files: f64,
    /// Free inodes.
    pub files_free: f64,
}

/// How the `statfs` of one mount ended.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Stat(FsStat),
    /// The call failed with this errno.
    Error(i32),
    /// The call hung now or in an earlier scrape and has not returned.
    Stuck,
}

/// A `statfs`-like function: the tests swap in slow or failing ones.
type StatFn = fn(&Path) -> Result<FsStat, i32>;

/// Reads the mount list and reports every mount that passes the filters.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let (path, bytes) = read_mountinfo(ctx)?;
    let text = String::from_utf8_lossy(&bytes);
    let all = parse_mountinfo(&text).map_err(|e| CollectError::parse(&path, e))?;

    let mut seen = BTreeSet::new();
    let mut mounts = Vec::new();
    for mut m in all {
        m.mount_point = ctx.root.strip_rootfs(&m.mount_point).to_string();
        if ctx
            .opts
            .filesystem_mount_points_exclude
            .is_match(&m.mount_point)
        {
            log::debug!("filesystem: ignoring mount point {}", m.mount_point);
            continue;
        }
        if ctx.opts.filesystem_fs_types_exclude.is_match(&m.fs_type) {
            log::debug!("filesystem: ignoring fs type {}", m.fs_type);
            continue;
        }
        // The same filesystem mounted twice at the same place is reported once.
        let key = (
            m.device.clone(),
            m.mount_point.clone(),
            m.fs_type.clone(),
            m.major.clone(),
            m.minor.clone(),
        );
        if seen.insert(key) {
            mounts.push(m);
        }
    }

    let jobs: Vec<(String, PathBuf)> = mounts
        .iter()
        .map(|m| (m.mount_point.clone(), ctx.root.rootfs_path(&m.mount_point)))
        .collect();
    let outcomes = stat_all(&jobs, MOUNT_TIMEOUT, statfs);
    for (m, outcome) in mounts.iter().zip(outcomes) {
        emit(out, m, &outcome);
    }
    Ok(())
}

/// Reads `1/mountinfo`, falling back to `self/mountinfo` when pid 1 is
/// hidden (`hidepid`), as node_exporter does.
fn read_mountinfo(ctx: &Ctx<'_>) -> Result<(PathBuf, Vec<u8>), CollectError> {
    let path = ctx.root.proc("1/mountinfo");
    match fs::read(&path) {
        Ok(b) => Ok((path, b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            log::debug!(
                "filesystem: {}: {e}, falling back to self/mountinfo",
                path.display()
            );
            let path = ctx.root.proc("self/mountinfo");
            match fs::read(&path) {
                Ok(b) => Ok((path, b)),
                Err(e) => Err(CollectError::io(&path, e)),
            }
        }
        Err(e) => Err(CollectError::io(&path, e)),
    }
}

fn emit(out: &mut Out<'_>, m: &Mount, outcome: &Outcome) {
    let (error, read_only, error_text) = match outcome {
        Outcome::Stat(_) => (0.0, m.read_only, String::new()),
        Outcome::Error(code) => (1.0, m.read_only, errno_text(*code)),
        // node_exporter does not look at the options of a stuck mount.
        Outcome::Stuck => (1.0, false, "mountpoint timeout".to_string()),
    };
    let labels = [
        ("device", m.device.as_str()),
        ("mountpoint", m.mount_point.as_str()),
        ("fstype", m.fs_type.as_str()),
        ("device_error", error_text.as_str()),
    ];
    out.gauge(
        "node_filesystem_device_error",
        "Whether an error occurred while getting statistics for the given device.",
        &labels,
        error,
    );
    out.gauge(
        "node_filesystem_readonly",
        "Filesystem read-only status.",
        &labels,
        if read_only { 1.0 } else { 0.0 },
    );
    let Outcome::Stat(s) = outcome else {
        return;
    };
    for (name, help, v) in [
        (
            "node_filesystem_size_bytes",
            "Filesystem size in bytes.",
            s.size,
        ),
        (
            "node_filesystem_free_bytes",
            "Filesystem free space in bytes.",
            s.free,
        ),
        (
            "node_filesystem_avail_bytes",
            "Filesystem space available to non-root users in bytes.",
            s.avail,
        ),
        (
            "node_filesystem_files",
            "Filesystem total file nodes.",
            s.files,
        ),
        (
            "node_filesystem_files_free",
            "Filesystem total free file nodes.",
            s.files_free,
        ),
        (
            "node_filesystem_purgeable_bytes",
            "Filesystem space available including purgeable space (MacOS specific).",
            0.0,
        ),
    ] {
        out.gauge(name, help, &labels, v);
    }
    out.gauge(
        "node_filesystem_mount_info",
        "Filesystem mount information.",
        &[
            ("device", m.device.as_str()),
            ("major", m.major.as_str()),
            ("minor", m.minor.as_str()),
            ("mountpoint", m.mount_point.as_str()),
        ],
        1.0,
    );
}

/// Parses `/proc/<pid>/mountinfo` (proc(5)): `id parent major:minor root
/// mountpoint options [optional...] - fstype source superoptions`. Like
/// node_exporter, any malformed line fails the whole file.
pub(crate) fn parse_mountinfo(text: &str) -> Result<Vec<Mount>, String> {
    let mut mounts = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let n = f.len();
        // Ten fields without optional ones; the fixed tail is counted from the end.
        if n < 10 {
            return Err(format!("too few fields in mount line {line:?}"));
        }
        if f[n - 4] != "-" {
            return Err(format!("no separator in mount line {line:?}"));
        }
        for id in &f[..2] {
            id.parse::<i64>()
                .map_err(|_| format!("invalid mount id {id:?} in line {line:?}"))?;
        }
        let (major, minor) = f[2]
            .split_once(':')
            .and_then(|(a, b)| Some((a.parse::<i64>().ok()?, b.parse::<i64>().ok()?)))
            .ok_or_else(|| format!("malformed major:minor {:?} in line {line:?}", f[2]))?;
        let has = |opts: &str, names: &[&str]| opts.split(',').any(|o| names.contains(&o));
        mounts.push(Mount {
            device: f[n - 2].to_string(),
            // fstab(5) escapes; node_exporter decodes only space and tab.
            mount_point: f[4].replace("\\040", " ").replace("\\011", "\t"),
            fs_type: f[n - 3].to_string(),
            major: major.to_string(),
            minor: minor.to_string(),
            read_only: has(f[5], &["ro"]) || has(f[n - 1], &["ro", "emergency_ro"]),
        });
    }
    if mounts.is_empty() {
        return Err("no mounts (a mount table always has /)".into());
    }
    Ok(mounts)
}

/// The statfs helper thread: jobs in, results out.
struct Worker {
    jobs: Sender<(usize, String, PathBuf)>,
    results: Receiver<(usize, Result<FsStat, i32>)>,
    stat: StatFn,
}

/// The current helper, if one is running and not stuck. Held for a whole
/// `stat_all`, so concurrent scrapes take turns (statfs is quick; a hung one
/// is bounded by the timeout and then skipped).
static WORKER: Mutex<Option<Worker>> = Mutex::new(None);

fn spawn_worker(stat: StatFn) -> io::Result<Worker> {
    let (jobs, job_rx) = mpsc::channel::<(usize, String, PathBuf)>();
    let (result_tx, results) = mpsc::channel();
    thread::Builder::new()
        .name("picket-statfs".into())
        .stack_size(STAT_THREAD_STACK)
        .spawn(move || stat_worker(job_rx, result_tx, stat))?;
    Ok(Worker {
        jobs,
        results,
        stat,
    })
}

/// Runs `stat` on each path, in order, on the helper thread, giving each
/// call at most `timeout`. Mount points already marked stuck are not touched.
fn stat_all(jobs: &[(String, PathBuf)], timeout: Duration, stat: StatFn) -> Vec<Outcome> {
    let mut worker = WORKER.lock().unwrap_or_else(PoisonError::into_inner);
    let mut outcomes = Vec::with_capacity(jobs.len());
    for (i, (mp, path)) in jobs.iter().enumerate() {
        if lock_stuck().contains(mp) {
            log::debug!("filesystem: mount point {mp} is unresponsive, skipping it");
            outcomes.push(Outcome::Stuck);
            continue;
        }
        if worker
            .as_ref()
            .is_some_and(|w| w.stat as usize != stat as usize)
        {
            *worker = None;
        }
        if worker.is_none() {
            match spawn_worker(stat) {
                Ok(w) => *worker = Some(w),
                Err(e) => {
                    log::warn!(
                        "filesystem: cannot start statfs thread ({e}), calling statfs inline"
                    );
                    outcomes.push(to_outcome(stat(path)));
                    continue;
                }
            }
        }
        let Some(w) = worker.as_ref() else { continue };
        if w.jobs.send((i, mp.clone(), path.clone())).is_err() {
            *worker = None;
            outcomes.push(Outcome::Error(libc::EIO));
            continue;
        }
        match w.results.recv_timeout(timeout) {
            Ok((_, r)) => outcomes.push(to_outcome(r)),
            Err(RecvTimeoutError::Timeout) => {
                // Under the lock, so the worker cannot answer between this
                // last look and the mark (it answers under the lock).
                let mut stuck = lock_stuck();
                if let Ok((_, r)) = w.results.try_recv() {
                    outcomes.push(to_outcome(r));
                    continue;
                }
                log::debug!("filesystem: mount point {mp} timed out, marking it stuck");
                stuck.insert(mp.clone());
                outcomes.push(Outcome::Stuck);
                // The worker stays blocked in statfs; the next mount gets a new one.
                drop(stuck);
                *worker = None;
            }
            Err(RecvTimeoutError::Disconnected) => {
                *worker = None;
                outcomes.push(Outcome::Error(libc::EIO));
            }
        }
    }
    outcomes
}

/// The helper thread: stats each path and answers under the stuck-set lock,
/// clearing the mount from the set (it answered, so it is no longer stuck).
/// Stops when its job channel closes or nobody listens any more.
fn stat_worker(
    jobs: Receiver<(usize, String, PathBuf)>,
    tx: Sender<(usize, Result<FsStat, i32>)>,
    stat: StatFn,
) {
    for (i, mp, path) in jobs {
        let r = stat(&path);
        let mut stuck = lock_stuck();
        if stuck.remove(&mp) {
            log::debug!("filesystem: mount point {mp} has recovered, monitoring will resume");
        }
        let sent = tx.send((i, r)).is_ok();
        drop(stuck);
        if !sent {
            return;
        }
    }
}

fn lock_stuck() -> MutexGuard<'static, BTreeSet<String>> {
    STUCK.lock().unwrap_or_else(PoisonError::into_inner)
}

fn to_outcome(r: Result<FsStat, i32>) -> Outcome {
    match r {
        Ok(s) => Outcome::Stat(s),
        Err(code) => Outcome::Error(code),
    }
}

/// `statfs64(2)` (64-bit block counts on 32-bit ARM too), in node_exporter's units.
fn statfs(path: &Path) -> Result<FsStat, i32> {
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| libc::EINVAL)?;
    // SAFETY: statfs64 is a plain C struct of integers, for which all-zero is valid.
    let mut buf: libc::statfs64 = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is a NUL-terminated string that outlives the call and
    // `buf` is a writable statfs64 the kernel fills in.
    let rc = unsafe { libc::statfs64(c_path.as_ptr(), &mut buf) };
    if rc != 0 {
        return Err(io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO));
    }
    let bsize = buf.f_bsize as f64;
    Ok(FsStat {
        size: buf.f_blocks as f64 * bsize,
        free: buf.f_bfree as f64 * bsize,
        avail: buf.f_bavail as f64 * bsize,
        files: buf.f_files as f64,
        files_free: buf.f_ffree as f64,
    })
}

/// An errno as Go prints it (node_exporter's `device_error` label):
/// strerror with a lower-case first letter, e.g. "no such file or directory".
fn errno_text(code: i32) -> String {
    let full = io::Error::from_raw_os_error(code).to_string();
    let msg = full
        .rfind(" (os error ")
        .map_or(full.as_str(), |i| &full[..i]);
    let mut chars = msg.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => format!("errno {code}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    const PI: &str = "\
22 1 179:2 / / rw,noatime shared:1 - ext4 /dev/mmcblk0p2 rw
23 22 0:5 / /dev rw,relatime shared:2 - devtmpfs udev rw,size=1678800k,mode=755
48 22 179:1 / /boot/firmware rw,relatime shared:26 - vfat /dev/mmcblk0p1 rw,fmask=0022,errors=remount-ro
60 22 8:1 / /media/pi/USB\\040DISK ro,nosuid,nodev,relatime shared:40 master:3 - exfat /dev/sda1 rw
61 22 179:2 /var/log /var/log.hdd rw,noatime - ext4 /dev/mmcblk0p2 emergency_ro,errors=remount-ro
";

    #[test]
    fn parses_mountinfo() {
        let m = parse_mountinfo(PI).unwrap();
        assert_eq!(m.len(), 5);
        assert_eq!(
            m[0],
            Mount {
                device: "/dev/mmcblk0p2".into(),
                mount_point: "/".into(),
                fs_type: "ext4".into(),
                major: "179".into(),
                minor: "2".into(),
                read_only: false,
            }
        );
        assert_eq!(m[2].mount_point, "/boot/firmware");
        assert_eq!(m[2].fs_type, "vfat");
        // Two optional fields, an escaped space, `ro` in the mount options.
        assert_eq!(m[3].mount_point, "/media/pi/USB DISK");
        assert_eq!((m[3].major.as_str(), m[3].minor.as_str()), ("8", "1"));
        assert!(m[3].read_only);
        // No optional fields; read-only through the superblock options.
        assert_eq!(m[4].mount_point, "/var/log.hdd");
        assert!(m[4].read_only);
        assert!(parse_mountinfo("").is_err(), "a mount table always has /");
    }

    #[test]
    fn decodes_only_space_and_tab() {
        let m = parse_mountinfo("1 0 0:1 / /a\\011b\\134c rw - tmpfs tmpfs rw\n").unwrap();
        assert_eq!(m[0].mount_point, "/a\tb\\134c");
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_mountinfo("22 1 179:2 / / rw - ext4\n").is_err());
        assert!(parse_mountinfo("22 1 179:2 / / rw shared:1 x ext4 /dev/x rw\n").is_err());
        assert!(parse_mountinfo("x 1 179:2 / / rw shared:1 - ext4 /dev/x rw\n").is_err());
        assert!(parse_mountinfo("22 1 179 / / rw shared:1 - ext4 /dev/x rw\n").is_err());
        assert!(parse_mountinfo("22 1 a:b / / rw shared:1 - ext4 /dev/x rw\n").is_err());
        // A truncated second line fails the file, as in node_exporter.
        assert!(parse_mountinfo("22 1 179:2 / / rw - ext4 /dev/x rw\n23 22 0:5 / /dev").is_err());
    }

    #[test]
    fn errno_like_go() {
        assert_eq!(errno_text(libc::ENOENT), "no such file or directory");
        assert_eq!(errno_text(libc::EACCES), "permission denied");
    }

    #[test]
    fn statfs_real_paths() {
        let jobs = [
            ("/".to_string(), PathBuf::from("/")),
            (
                "/nope".to_string(),
                PathBuf::from("/nonexistent/picket-test"),
            ),
        ];
        let out = stat_all(&jobs, MOUNT_TIMEOUT, statfs);
        match &out[0] {
            Outcome::Stat(s) => assert!(s.size > 0.0 && s.avail <= s.free),
            o => panic!("statfs / gave {o:?}"),
        }
        assert_eq!(out[1], Outcome::Error(libc::ENOENT));
    }

    static SLOW_CALLS: AtomicUsize = AtomicUsize::new(0);

    /// Hangs on paths ending in "hang" (the first time only), answers at once otherwise.
    fn slow_stat(path: &Path) -> Result<FsStat, i32> {
        if path.ends_with("hang") && SLOW_CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
            thread::sleep(Duration::from_millis(400));
        }
        Ok(FsStat {
            size: 1.0,
            free: 1.0,
            avail: 1.0,
            files: 1.0,
            files_free: 1.0,
        })
    }

    #[test]
    fn stuck_mount_is_skipped_until_it_answers() {
        let jobs = [
            ("/t/a".to_string(), PathBuf::from("/t/a")),
            ("/t/hang".to_string(), PathBuf::from("/t/hang")),
            ("/t/b".to_string(), PathBuf::from("/t/b")),
        ];
        let t = Instant::now();
        let out = stat_all(&jobs, Duration::from_millis(50), slow_stat);
        assert!(t.elapsed() < Duration::from_millis(300));
        assert!(matches!(out[0], Outcome::Stat(_)));
        assert_eq!(out[1], Outcome::Stuck);
        // The mount after the stuck one was still stat-ed, by a new thread.
        assert!(matches!(out[2], Outcome::Stat(_)));

        // Next scrape: the stuck mount is skipped without a new call.
        let out = stat_all(&jobs, Duration::from_millis(50), slow_stat);
        assert_eq!(out[1], Outcome::Stuck);
        assert_eq!(SLOW_CALLS.load(Ordering::SeqCst), 1);

        // Once the hung call returns, the mount is monitored again.
        thread::sleep(Duration::from_millis(500));
        assert!(!lock_stuck().contains("/t/hang"));
        let out = stat_all(&jobs, Duration::from_millis(50), slow_stat);
        assert!(matches!(out[1], Outcome::Stat(_)));
        assert_eq!(SLOW_CALLS.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn emits_error_series_only_for_failed_mounts() {
        let m = parse_mountinfo("1 0 0:45 / /mnt/nas rw - nfs4 nas:/x rw\n").unwrap();
        let mut samples = Vec::new();
        let mut out = Out::new(&mut samples);
        emit(&mut out, &m[0], &Outcome::Error(libc::ENOENT));
        emit(&mut out, &m[0], &Outcome::Stuck);
        let names: Vec<_> = samples.iter().map(|s| s.name.as_ref()).collect();
        assert_eq!(
            names,
            [
                "node_filesystem_device_error",
                "node_filesystem_readonly",
                "node_filesystem_device_error",
                "node_filesystem_readonly"
            ]
        );
        assert_eq!(
            samples[0].labels.get("device_error"),
            Some("no such file or directory")
        );
        assert_eq!(
            samples[2].labels.get("device_error"),
            Some("mountpoint timeout")
        );
        assert_eq!(samples[0].value, 1.0);
    }
}
