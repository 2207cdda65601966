//! The root-path seam: every file a collector reads goes through here.
//!
//! Like node_exporter's `--path.procfs`, `--path.sysfs` and `--path.rootfs`,
//! the roots can point at a fixture tree, which is how the tests drive every
//! collector on recorded Raspberry Pi and Rock64 files. Reading is kept apart
//! from parsing: collectors call these helpers, then pure parse functions.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::CollectError;

/// Where /proc, /sys and the root filesystem are mounted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Root {
    /// procfs mount point (`--path.procfs`, default `/proc`).
    pub procfs: PathBuf,
    /// sysfs mount point (`--path.sysfs`, default `/sys`).
    pub sysfs: PathBuf,
    /// Root filesystem (`--path.rootfs`, default `/`), for statfs of mounts
    /// when the agent runs in a container with the host's `/` bind-mounted.
    pub rootfs: PathBuf,
    /// udev's device database (`--path.udev.data`); `None` means
    /// `<rootfs>/run/udev/data`, where udev keeps it on the host.
    pub udev_data: Option<PathBuf>,
}

impl Default for Root {
    fn default() -> Root {
        Root {
            procfs: PathBuf::from("/proc"),
            sysfs: PathBuf::from("/sys"),
            rootfs: PathBuf::from("/"),
            udev_data: None,
        }
    }
}

impl Root {
    /// A path under procfs, e.g. `proc("net/dev")`.
    pub(crate) fn proc(&self, rel: &str) -> PathBuf {
        self.procfs.join(rel)
    }

    /// A path under sysfs, e.g. `sys("class/thermal")`.
    pub(crate) fn sys(&self, rel: &str) -> PathBuf {
        self.sysfs.join(rel)
    }

    /// The udev database directory.
    pub(crate) fn udev_data(&self) -> PathBuf {
        match &self.udev_data {
            Some(p) => p.clone(),
            None => self.rootfs_path("run/udev/data"),
        }
    }

    /// Where a mount point of the host is seen from here (rootfs + mountpoint).
    pub(crate) fn rootfs_path(&self, mountpoint: &str) -> PathBuf {
        self.rootfs.join(mountpoint.trim_start_matches('/'))
    }

    /// Strips the rootfs prefix from a mount point read from mountinfo, as
    /// node_exporter does, so labels show the host's paths.
    pub(crate) fn strip_rootfs<'a>(&self, mountpoint: &'a str) -> &'a str {
        let root = self.rootfs.to_str().unwrap_or("/").trim_end_matches('/');
        if root.is_empty() {
            return mountpoint;
        }
        match mountpoint.strip_prefix(root) {
            Some("") => "/",
            Some(rest) if rest.starts_with('/') => rest,
            _ => mountpoint,
        }
    }
}

/// Reads a file whole, naming it in the error.
pub(crate) fn read(path: &Path) -> Result<String, CollectError> {
    fs::read_to_string(path).map_err(|e| CollectError::io(path, e))
}

/// Reads a small sysfs attribute and trims the trailing newline.
pub(crate) fn read_trim(path: &Path) -> io::Result<String> {
    let mut s = fs::read_to_string(path)?;
    let len = s.trim_end().len();
    s.truncate(len);
    Ok(s)
}

/// Reads a sysfs attribute with one `read(2)` of at most 128 bytes and trims
/// surrounding white space, as Go procfs's `SysReadFile` does (the kernel
/// produces an attribute whole on the first read).
pub(crate) fn read_attr(path: &Path) -> io::Result<String> {
    let mut buf = [0u8; 128];
    let n = fs::File::open(path)?.read(&mut buf)?;
    Ok(String::from_utf8_lossy(buf.get(..n).unwrap_or_default())
        .trim()
        .to_string())
}

/// Reads a sysfs attribute as an unsigned integer; `None` when missing or unreadable.
pub(crate) fn read_u64(path: &Path) -> Option<u64> {
    read_trim(path).ok()?.parse().ok()
}

/// Lists the entries of a directory whose names start with `prefix`, sorted
/// naturally (`cpu2` before `cpu10`). A missing directory is an empty list.
pub(crate) fn list_prefixed(dir: &Path, prefix: &str) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(names),
        Err(e) => return Err(e),
    };
    for entry in rd {
        let entry = entry?;
        if let Some(name) = entry.file_name().to_str() {
            if name.starts_with(prefix) {
                names.push(name.to_string());
            }
        }
    }
    names.sort_by(|a, b| natural_cmp(a, b));
    Ok(names)
}

/// Compares strings treating runs of digits as numbers (`cpu2` < `cpu10`).
pub(crate) fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let split = |s: &str| {
        let i = s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        (s[..i].to_string(), s[i..].parse::<u64>().ok())
    };
    split(a).cmp(&split(b)).then_with(|| a.cmp(b))
}
