//! loadavg: `/proc/loadavg` → `node_load1`, `node_load5`, `node_load15`.

use super::{CollectError, Ctx, Out};

/// Reads the three load averages.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let path = ctx.root.proc("loadavg");
    let text = super::root::read(&path)?;
    let loads = parse(&text).map_err(|e| CollectError::parse(&path, e))?;
    for (name, help, v) in [
        ("node_load1", "1m load average.", loads[0]),
        ("node_load5", "5m load average.", loads[1]),
        ("node_load15", "15m load average.", loads[2]),
    ] {
        out.gauge(name, help, &[], v);
    }
    Ok(())
}

/// Parses the first three fields of `/proc/loadavg`.
pub(crate) fn parse(text: &str) -> Result<[f64; 3], String> {
    let mut f = text.split_ascii_whitespace();
    let mut loads = [0.0; 3];
    for l in &mut loads {
        let field = f.next().ok_or("fewer than three fields")?;
        *l = field
            .parse()
            .map_err(|_| format!("could not parse load {field:?}"))?;
    }
    Ok(loads)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_three_loads() {
        assert_eq!(
            super::parse("0.21 0.37 0.39 1/719 19737\n").unwrap(),
            [0.21, 0.37, 0.39]
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(super::parse("0.21 x").is_err());
        assert!(super::parse("").is_err());
    }
}
