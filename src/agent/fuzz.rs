//! Entry points for the fuzz targets in tests/fuzz (not an API: hidden
//! from the docs, and nothing else calls them). Each one takes arbitrary
//! bytes and must never panic.

use std::path::Path;

use crate::collect::haproxy;
use crate::config::{self, FileConfig, Overrides};

/// The HAProxy collector's parsing of what a stats endpoint sends: the
/// first byte chooses how (bit 0: the body was cut short by a failed read;
/// bit 1: only some server fields are exported, as
/// `--haproxy.server-metric-fields`; bit 2: `MAINT` servers are left out),
/// the rest is the `show stat` CSV, then, after a NUL byte if there is one,
/// the `show info` text.
pub fn haproxy(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (stat, info) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let fields: &[usize] = &[2, 3, 4, 17, 33, 38, 40, 61];
    let exclude = if flags & 4 != 0 {
        vec!["maint".to_string()]
    } else {
        Vec::new()
    };
    let _ = haproxy::parse_bodies(
        stat,
        info,
        flags & 1 != 0,
        (flags & 2 != 0).then_some(fields),
        &exclude,
    );
}

/// The agent's TOML config, as `--config.file` reads it and resolves every
/// section (no flags). Inputs naming /dev, /proc or /sys are skipped: a
/// config may name files to read (password_file, ca_file), and reading a
/// device is no parser's business.
pub fn agent_config(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    if ["/dev/", "/proc/", "/sys/"].iter().any(|d| src.contains(d)) {
        return;
    }
    let path = Path::new("fuzz/picket.toml");
    let Ok(file) = picket_core::config::parse_toml::<FileConfig>(path, src) else {
        return;
    };
    let _ = config::resolve(Some((path, src, file)), &Overrides::default());
}

#[cfg(test)]
mod tests {
    use picket_core::fuzz::replay;

    /// The fuzz targets' regression test.
    #[test]
    fn committed_fuzz_corpora_pass() {
        replay("haproxy", super::haproxy);
        replay("agent_config", super::agent_config);
    }
}
