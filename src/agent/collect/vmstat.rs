//! vmstat: `/proc/vmstat` → `node_vmstat_<field>` (untyped, as in
//! node_exporter), for the fields matching `--collector.vmstat.fields`
//! (default `^(oom_kill|pgpg|pswp|pg.*fault).*`: oom_kill, pgpgin, pgpgout,
//! pswpin, pswpout, pgfault, pgmajfault).
//!
//! Like node_exporter, every line's value must parse, including the lines the
//! filter drops: a malformed file fails the collector as a whole (whatever was
//! emitted before the bad line stays in the scrape, as in node_exporter).

use super::{CollectError, Ctx, Out};

/// Reads `/proc/vmstat` and emits the selected fields.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let path = ctx.root.proc("vmstat");
    let text = super::root::read(&path)?;
    let fields = &ctx.opts.vmstat_fields;
    if text.trim().is_empty() {
        return Err(CollectError::parse(&path, "empty file"));
    }
    for item in parse(&text) {
        let (name, value) = item.map_err(|e| CollectError::parse(&path, e))?;
        if !fields.is_match(name) {
            continue;
        }
        out.untyped(
            format!("node_vmstat_{name}"),
            format!("/proc/vmstat information field {name}."),
            &[],
            value,
        );
    }
    Ok(())
}

/// Parses `/proc/vmstat` lazily: one `(field, value)` per non-blank line, or
/// an error for a line without a parsable value.
pub(crate) fn parse(text: &str) -> impl Iterator<Item = Result<(&str, f64), String>> {
    text.lines().filter(|l| !l.trim().is_empty()).map(|line| {
        let mut f = line.split_ascii_whitespace();
        match (f.next(), f.next()) {
            (Some(name), Some(v)) => v
                .parse::<f64>()
                .map(|v| (name, v))
                .map_err(|_| format!("invalid value {v:?} for {name}")),
            _ => Err(format!("malformed line {line:?}")),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_fields() {
        let text = "nr_free_pages 702435\npgpgin 1048576\noom_kill 0\n";
        let v: Vec<_> = parse(text).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            v,
            vec![
                ("nr_free_pages", 702435.0),
                ("pgpgin", 1048576.0),
                ("oom_kill", 0.0)
            ]
        );
    }

    #[test]
    fn default_filter_selects_node_exporter_fields() {
        let opts = crate::collect::Options::default();
        let text = "nr_free_pages 1\npgpgin 2\npgpgout 3\npswpin 4\npswpout 5\npgfault 6\n\
                    pgmajfault 7\npgfree 8\noom_kill 9\nthp_fault_alloc 10\n";
        let names: Vec<&str> = parse(text)
            .filter_map(Result::ok)
            .map(|(n, _)| n)
            .filter(|n| opts.vmstat_fields.is_match(n))
            .collect();
        assert_eq!(
            names,
            [
                "pgpgin",
                "pgpgout",
                "pswpin",
                "pswpout",
                "pgfault",
                "pgmajfault",
                "oom_kill"
            ]
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse("pgpgin\n").any(|r| r.is_err()));
        assert!(parse("pgpgin 12x\n").any(|r| r.is_err()));
        assert!(parse("nr_free_pages 1\npgfault").any(|r| r.is_err()));
        assert_eq!(parse("\n\n").count(), 0);
    }
}
