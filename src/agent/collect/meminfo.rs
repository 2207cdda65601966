//! meminfo: `/proc/meminfo` → `node_memory_<Key>_bytes`, as node_exporter names them.
//!
//! Every key present in the file is exported (the kernel adds keys over
//! time); `(anon)`/`(file)` become `_anon`/`_file`; values with a `kB` unit
//! are multiplied by 1024 and get `_bytes`; unitless ones (`HugePages_*`)
//! keep their bare name. A key ending in `_total` would be a counter.

use super::{CollectError, Ctx, Out};
use picket_core::metric::MetricType;

/// Reads `/proc/meminfo`.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let path = ctx.root.proc("meminfo");
    let text = super::root::read(&path)?;
    let entries = parse(&text).map_err(|e| CollectError::parse(&path, e))?;
    for (name, value) in entries {
        let kind = if name.ends_with("_total") {
            MetricType::Counter
        } else {
            MetricType::Gauge
        };
        let help = format!(
            "Memory information field {}.",
            &name["node_memory_".len()..]
        );
        out.sample(name, help, kind, Default::default(), value);
    }
    Ok(())
}

/// Parses meminfo into (metric name, value) pairs.
pub(crate) fn parse(text: &str) -> Result<Vec<(String, f64)>, String> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let (key, rest) = line
            .split_once(':')
            .ok_or_else(|| format!("invalid line {line:?}"))?;
        let mut parts = rest.split_ascii_whitespace();
        let num = parts
            .next()
            .ok_or_else(|| format!("no value in line {line:?}"))?;
        let mut value: f64 = num
            .parse()
            .map_err(|_| format!("invalid value in line {line:?}"))?;
        let key = key
            .trim()
            .replace("(anon)", "_anon")
            .replace("(file)", "_file");
        let key = key.replace(['(', ')'], "");
        let name = match parts.next() {
            Some("kB") => {
                value *= 1024.0;
                format!("node_memory_{key}_bytes")
            }
            Some(unit) => return Err(format!("unknown unit {unit:?} in line {line:?}")),
            None => format!("node_memory_{key}"),
        };
        out.push((name, value));
    }
    if out.is_empty() {
        return Err("no entries".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_like_node_exporter() {
        let m =
            super::parse("MemTotal:  3884096 kB\nActive(anon):  1 kB\nHugePages_Total:       0\n")
                .unwrap();
        assert_eq!(
            m[0],
            ("node_memory_MemTotal_bytes".to_string(), 3884096.0 * 1024.0)
        );
        assert_eq!(m[1].0, "node_memory_Active_anon_bytes");
        assert_eq!(m[2], ("node_memory_HugePages_Total".to_string(), 0.0));
    }

    #[test]
    fn rejects_garbage() {
        assert!(super::parse("MemTotal 12").is_err());
        assert!(super::parse("MemTotal: abc kB").is_err());
        assert!(super::parse("").is_err());
    }
}
