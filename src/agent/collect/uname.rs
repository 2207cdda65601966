//! uname: `node_uname_info{sysname,release,version,machine,nodename,domainname} 1`
//! (gauge), as node_exporter.
//!
//! node_exporter always calls uname(2). picket does too when procfs is the
//! default `/proc`. When `--path.procfs` points elsewhere, picket reads the
//! same strings from procfs instead: `sys/kernel/ostype`, `osrelease`,
//! `version`, `hostname`, `domainname` and `arch` (the machine, Linux ≥ 6.1),
//! each with its trailing newline removed; a field whose file is missing
//! falls back to the uname(2) value. Why:
//!
//! - fixture trees drive this collector like every other one, so the golden
//!   output of a recorded board is deterministic instead of showing the test
//!   machine's kernel;
//! - in the only real use of a non-default procfs (a container with the
//!   host's `/proc` mounted at e.g. `/host/proc`) the answer is the same as
//!   the syscall's: the kernel is shared, and the kernel serves `hostname`
//!   and `domainname` from the *reader's* UTS namespace, just as uname(2)
//!   does.

use std::ffi::CStr;
use std::io;
use std::path::Path;

use super::{CollectError, Ctx, Out};

/// The six uname strings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Uname {
    /// `uname -s`, e.g. `Linux`.
    pub sysname: String,
    /// `uname -r`, the kernel release.
    pub release: String,
    /// `uname -v`, the kernel build string.
    pub version: String,
    /// `uname -m`, e.g. `aarch64`.
    pub machine: String,
    /// `uname -n`, the host name.
    pub nodename: String,
    /// The NIS domain name, `(none)` when unset.
    pub domainname: String,
}

/// Emits `node_uname_info`.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let u = if ctx.root.procfs == Path::new("/proc") {
        uname().map_err(|e| CollectError::Failed(format!("uname(2): {e}")))?
    } else {
        from_procfs(ctx)?
    };
    out.gauge(
        "node_uname_info",
        "Labeled system information as provided by the uname system call.",
        &[
            ("sysname", &u.sysname),
            ("release", &u.release),
            ("version", &u.version),
            ("machine", &u.machine),
            ("nodename", &u.nodename),
            ("domainname", &u.domainname),
        ],
        1.0,
    );
    Ok(())
}

/// Reads the strings from `<procfs>/sys/kernel/*`, filling gaps from uname(2).
fn from_procfs(ctx: &Ctx<'_>) -> Result<Uname, CollectError> {
    let files = [
        "ostype",
        "osrelease",
        "version",
        "arch",
        "hostname",
        "domainname",
    ];
    let mut vals: [Option<String>; 6] = Default::default();
    for (file, slot) in files.iter().zip(vals.iter_mut()) {
        let path = ctx.root.proc(&format!("sys/kernel/{file}"));
        match std::fs::read_to_string(&path) {
            Ok(text) => *slot = Some(parse_field(&text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(CollectError::io(&path, e)),
        }
    }
    let sys = if vals.iter().any(Option::is_none) {
        Some(uname().map_err(|e| CollectError::Failed(format!("uname(2): {e}")))?)
    } else {
        None
    };
    Ok(merge(vals, sys))
}

/// Builds the result from procfs values in `from_procfs` order, taking
/// missing ones from `sys` (the uname(2) result).
fn merge(vals: [Option<String>; 6], sys: Option<Uname>) -> Uname {
    let sys = sys.unwrap_or_default();
    let [sysname, release, version, machine, nodename, domainname] = vals;
    Uname {
        sysname: sysname.unwrap_or(sys.sysname),
        release: release.unwrap_or(sys.release),
        version: version.unwrap_or(sys.version),
        machine: machine.unwrap_or(sys.machine),
        nodename: nodename.unwrap_or(sys.nodename),
        domainname: domainname.unwrap_or(sys.domainname),
    }
}

/// A procfs uts string: the value followed by one newline.
pub(crate) fn parse_field(text: &str) -> String {
    text.strip_suffix('\n').unwrap_or(text).to_string()
}

/// Calls uname(2).
fn uname() -> io::Result<Uname> {
    // SAFETY: utsname is plain old data (arrays of c_char), so all-zero is a
    // valid value; uname(2) writes NUL-terminated strings into the buffer we
    // own and pass by exclusive pointer, and has no other effects.
    let mut buf: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: see above; `buf` is a valid, writable utsname.
    if unsafe { libc::uname(&mut buf) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Uname {
        sysname: c_field(&buf.sysname),
        release: c_field(&buf.release),
        version: c_field(&buf.version),
        machine: c_field(&buf.machine),
        nodename: c_field(&buf.nodename),
        domainname: c_field(&buf.domainname),
    })
}

/// A fixed-size C char array up to its first NUL (or whole, if none), lossily as UTF-8.
fn c_field(chars: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = chars.iter().map(|&c| c as u8).collect();
    match CStr::from_bytes_until_nul(&bytes) {
        Ok(s) => s.to_string_lossy().into_owned(),
        Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_one_newline() {
        assert_eq!(parse_field("raspberrypi\n"), "raspberrypi");
        assert_eq!(
            parse_field("#1 SMP PREEMPT Debian 1:6.6.51-1+rpt3 (2024-10-08)\n"),
            "#1 SMP PREEMPT Debian 1:6.6.51-1+rpt3 (2024-10-08)"
        );
        assert_eq!(parse_field(""), "");
        assert_eq!(parse_field("(none)"), "(none)");
    }

    #[test]
    fn c_strings_stop_at_nul_and_survive_garbage() {
        let mut a = [0 as libc::c_char; 8];
        for (d, s) in a.iter_mut().zip(b"Linux") {
            *d = *s as libc::c_char;
        }
        assert_eq!(c_field(&a), "Linux");
        let full = [b'x' as libc::c_char; 4];
        assert_eq!(c_field(&full), "xxxx");
        let bad = [0xffu8 as libc::c_char, 0];
        assert_eq!(c_field(&bad), "\u{fffd}");
    }

    #[test]
    fn syscall_works_and_fills_gaps() {
        let sys = uname().unwrap();
        assert!(!sys.sysname.is_empty());
        let mut vals: [Option<String>; 6] = Default::default();
        vals[4] = Some("rock64".into());
        vals[5] = Some(String::new());
        let u = merge(vals, Some(sys.clone()));
        assert_eq!(u.nodename, "rock64");
        assert_eq!(u.domainname, "");
        assert_eq!(u.release, sys.release);
        assert_eq!(u.machine, sys.machine);
    }
}
