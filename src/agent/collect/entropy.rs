//! entropy: `/proc/sys/kernel/random/{entropy_avail,poolsize}` →
//! `node_entropy_available_bits` and `node_entropy_pool_size_bits` (gauges).
//!
//! As in node_exporter, a missing or malformed file fails the collector (not
//! "no data"): both files exist on every Linux kernel. Since kernel 5.18 both
//! read a constant 256. node_exporter's procfs library also reads three other
//! files of that directory and fails on garbage in them; picket reads only the
//! two it exports.

use std::path::Path;

use super::{CollectError, Ctx, Out};

/// Reads the two entropy figures.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let avail = read_bits(&ctx.root.proc("sys/kernel/random/entropy_avail"))?;
    out.gauge(
        "node_entropy_available_bits",
        "Bits of available entropy.",
        &[],
        avail,
    );
    let pool = read_bits(&ctx.root.proc("sys/kernel/random/poolsize"))?;
    out.gauge(
        "node_entropy_pool_size_bits",
        "Bits of entropy pool.",
        &[],
        pool,
    );
    Ok(())
}

/// Reads one file; unlike most collectors a missing file is a failure here.
fn read_bits(path: &Path) -> Result<f64, CollectError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CollectError::Failed(format!("{}: {}", path.display(), e)))?;
    parse(&text).map_err(|e| CollectError::parse(path, e))
}

/// Parses a single unsigned number (with its trailing newline).
pub(crate) fn parse(text: &str) -> Result<f64, String> {
    let t = text.trim();
    t.parse::<u64>()
        .map(|v| v as f64)
        .map_err(|_| format!("invalid number {t:?}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_number() {
        assert_eq!(super::parse("256\n").unwrap(), 256.0);
        assert_eq!(super::parse("3121").unwrap(), 3121.0);
    }

    #[test]
    fn rejects_garbage() {
        assert!(super::parse("").is_err());
        assert!(super::parse("-1\n").is_err());
        assert!(super::parse("256 4096\n").is_err());
        assert!(super::parse("abc").is_err());
    }
}
