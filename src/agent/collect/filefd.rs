//! filefd: `/proc/sys/fs/file-nr` → `node_filefd_allocated` and
//! `node_filefd_maximum` (gauges).
//!
//! The file is one line of three tab-separated numbers: allocated handles,
//! free allocated handles (always 0 since Linux 2.6, skipped) and the
//! maximum (`fs.file-max`; systemd raises it to `LONG_MAX`, which exposes
//! as `9.223372036854776e+18`). Like node_exporter, the fields are split on
//! tabs only and parsed as floats.

use super::{CollectError, Ctx, Out};

/// Reads the allocated and maximum file handle counts.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let path = ctx.root.proc("sys/fs/file-nr");
    let text = super::root::read(&path)?;
    let (allocated, maximum) = parse(&text).map_err(|e| CollectError::parse(&path, e))?;
    out.gauge(
        "node_filefd_allocated",
        "File descriptor statistics: allocated.",
        &[],
        allocated,
    );
    out.gauge(
        "node_filefd_maximum",
        "File descriptor statistics: maximum.",
        &[],
        maximum,
    );
    Ok(())
}

/// Parses `file-nr`: returns (allocated, maximum).
pub(crate) fn parse(text: &str) -> Result<(f64, f64), String> {
    let parts: Vec<&str> = text.trim().split('\t').collect();
    let (allocated, maximum) = match parts.as_slice() {
        [a, _, m, ..] => (*a, *m),
        _ => return Err("unexpected number of file stats".into()),
    };
    let num = |s: &str| {
        s.parse::<f64>()
            .map_err(|_| format!("invalid value {s:?} in file-nr"))
    };
    Ok((num(allocated)?, num(maximum)?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_file_nr() {
        let (a, m) = super::parse("1408\t0\t9223372036854775807\n").unwrap();
        assert_eq!(a, 1408.0);
        assert_eq!(m, 9223372036854775807.0);
        assert_eq!(super::parse("960\t0\t390476\n").unwrap(), (960.0, 390476.0));
    }

    #[test]
    fn rejects_garbage() {
        assert!(super::parse("").is_err());
        assert!(super::parse("1408\t0").is_err());
        // node_exporter splits on tabs only.
        assert!(super::parse("1408 0 390476\n").is_err());
        assert!(super::parse("x\t0\t390476\n").is_err());
        assert!(super::parse("1408\t0\t\n").is_err());
    }
}
