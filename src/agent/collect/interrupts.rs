//! interrupts (off by default): `/proc/interrupts` →
//! `node_interrupts_total{cpu,type,info,devices}`, one counter per
//! interrupt line and CPU column, parsed as node_exporter does:
//!
//! - the header (`CPU0 CPU1 …`) gives the number of value columns; the
//!   `cpu` label is the column index (0, 1, …), not the header's number;
//! - `type` is the text before the first `:` (leading spaces dropped), which
//!   also handles arm64 lines with no space after the colon (`IPI0:2768808080`);
//! - numbered lines: `info` is the first word after the values (the irq chip:
//!   `GICv2`, `IO-APIC`, …) and `devices` the rest joined by single spaces —
//!   on ARM that is hwirq, trigger and names (`30 Level arch_timer`), on
//!   x86 the trigger and names (`2-edge timer`);
//! - named lines (`IPI0`, `NMI`, `LOC`): `info` is all the text after the
//!   values (`Rescheduling interrupts`), `devices` is empty;
//! - lines with fewer than one value per CPU plus one word (`Err:`, `MIS:`)
//!   are skipped; when a name repeats, the last line wins.
//!
//! node_exporter's `--collector.interrupts.name-include/-exclude` filters
//! are not implemented; zero values are exported (its `include-zeros`
//! default).

use super::{CollectError, Ctx, Out};

/// One interrupt line.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Interrupt {
    /// The name before the colon (`30`, `IPI0`, `NMI`).
    pub name: String,
    /// The `info` label.
    pub info: String,
    /// The `devices` label.
    pub devices: String,
    /// One count per CPU column.
    pub values: Vec<f64>,
}

/// Reads `/proc/interrupts`.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let path = ctx.root.proc("interrupts");
    let text = super::root::read(&path)?;
    let rows = parse(&text).map_err(|e| CollectError::parse(&path, e))?;
    for r in &rows {
        for (cpu, v) in r.values.iter().enumerate() {
            out.counter(
                "node_interrupts_total",
                "Interrupt details.",
                &[
                    ("cpu", &cpu.to_string()),
                    ("type", &r.name),
                    ("info", &r.info),
                    ("devices", &r.devices),
                ],
                *v,
            );
        }
    }
    Ok(())
}

/// Parses `/proc/interrupts`; an empty file or a non-numeric count is an error.
pub(crate) fn parse(text: &str) -> Result<Vec<Interrupt>, String> {
    let mut lines = text.lines();
    let header = lines.next().ok_or("interrupts empty")?;
    let ncpu = header.split_ascii_whitespace().count();
    if ncpu == 0 {
        return Err("no CPU columns in header".into());
    }
    let mut rows: Vec<Interrupt> = Vec::new();
    for line in lines {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let parts: Vec<&str> = rest.split_ascii_whitespace().collect();
        let (Some(vals), Some(details)) = (parts.get(..ncpu), parts.get(ncpu..)) else {
            continue;
        };
        let Some((first, more)) = details.split_first() else {
            continue; // ERR, MIS: a single total, not one per CPU
        };
        let name = name.trim_start_matches(' ');
        let values = vals
            .iter()
            .map(|v| {
                v.parse::<f64>()
                    .map_err(|_| format!("invalid value {v:?} in {name:?}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (info, devices) = if is_go_int(name) {
            (first.to_string(), more.join(" "))
        } else {
            (details.join(" "), String::new())
        };
        let row = Interrupt {
            name: name.to_string(),
            info,
            devices,
            values,
        };
        match rows.iter_mut().find(|r| r.name == row.name) {
            Some(old) => *old = row,
            None => rows.push(row),
        }
    }
    Ok(rows)
}

/// True if Go's `strconv.Atoi` accepts `s` (optional sign, ASCII digits).
fn is_go_int(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARM: &str = "           CPU0       CPU1       CPU2       CPU3       
 11:     512338     383940     391517     395766     GICv2  30 Level     arch_timer
 27:          0          0          0          0     GICv2 105 Level     fe980000.usb, fe980000.usb
 40:          0          0          0          0  BRCM STB PCIe MSI 524288 Edge      xhci_hcd
IPI0:2768808080 2844211768 2878602432 2730576120       Rescheduling interrupts
IPI2:         0          0          0          0       CPU stop interrupts
Err:          0
";

    #[test]
    fn parses_arm_gic_format() {
        let r = parse(ARM).unwrap();
        assert_eq!(r.len(), 5);
        assert_eq!(r[0].name, "11");
        assert_eq!(r[0].info, "GICv2");
        assert_eq!(r[0].devices, "30 Level arch_timer");
        assert_eq!(r[0].values, vec![512338.0, 383940.0, 391517.0, 395766.0]);
        assert_eq!(r[1].devices, "105 Level fe980000.usb, fe980000.usb");
        assert_eq!(r[2].info, "BRCM");
        assert_eq!(r[2].devices, "STB PCIe MSI 524288 Edge xhci_hcd");
        assert_eq!(r[3].name, "IPI0");
        assert_eq!(r[3].info, "Rescheduling interrupts");
        assert_eq!(r[3].devices, "");
        assert_eq!(r[3].values[0], 2768808080.0);
        assert!(r.iter().all(|i| i.name != "Err"));
    }

    #[test]
    fn parses_x86_format() {
        let r = parse(
            "           CPU0       CPU1
  0:         18          0   IO-APIC   2-edge      timer
 16:     328511     322879   IR-IO-APIC-fasteoi   ehci_hcd:usb1, mmc0
NMI:         47       5031   Non-maskable interrupts
ERR:          0
MIS:          0
",
        )
        .unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(
            (r[0].info.as_str(), r[0].devices.as_str()),
            ("IO-APIC", "2-edge timer")
        );
        assert_eq!(r[1].devices, "ehci_hcd:usb1, mmc0");
        assert_eq!(r[2].info, "Non-maskable interrupts");
        assert_eq!(r[2].values, vec![47.0, 5031.0]);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse("").is_err());
        assert!(parse("\n 1: 2 x\n").is_err());
        assert!(parse("  CPU0\n 1: x GICv2 1 Level foo\n").is_err());
        // lines too short for the header are skipped
        assert_eq!(parse("  CPU0 CPU1\n 1: 5\n").unwrap(), vec![]);
    }
}
