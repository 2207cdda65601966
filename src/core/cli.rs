//! Command lines in the spellings of the programs picket replaces, on top
//! of argh.
//!
//! Existing systemd units say `--web.listen-address=:9100` and
//! `--no-collector.hwmon`; argh takes neither dots nor `=`. [`normalize`]
//! rewrites such arguments into argh's form before parsing, so both
//! spellings work (`--web.listen-address=:9100` and `--web-listen-address
//! :9100`), and `--help` is shown back in the dotted spelling.

use std::io::{self, Write};

use argh::FromArgs;

/// How one binary's flags are spelled beyond argh's own form.
#[derive(Debug)]
pub struct Spelling {
    /// Subcommands: they and what follows them go after all flags.
    pub subcommands: &'static [&'static str],
    /// Flags that take no value, in argh's form (`--web-disable-exporter-metrics`).
    pub switches: &'static [&'static str],
    /// node_exporter's `--collector.<name>` / `--no-collector.<name>` switches.
    pub collector_switches: bool,
    /// The spellings users type, without the dashes (`web.listen-address`):
    /// `--help` shows these instead of argh's (`--web-listen-address`).
    pub dotted: &'static [&'static str],
}

impl Spelling {
    /// argh's form of a user spelling: `web.listen-address` → `--web-listen-address`.
    pub(crate) fn argh_form(user: &str) -> String {
        format!("--{}", user.replace(['.', '_'], "-"))
    }

    /// Rewrites argh's flag names in `text` into the spellings users type.
    pub(crate) fn respell(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for line in text.split_inclusive('\n') {
            let mut l = line.to_string();
            for user in self.dotted {
                let argh = Self::argh_form(user);
                // Whole flag names only: `--path-procfs` is not `--path-procfs-x`.
                if let Some(at) = find_flag(&l, &argh) {
                    l.replace_range(at..at + argh.len(), &format!("--{user}"));
                }
            }
            out.push_str(&l);
        }
        out
    }
}

/// Where `flag` stands in `line` as a whole word.
fn find_flag(line: &str, flag: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = line[from..].find(flag) {
        let at = from + i;
        let end = at + flag.len();
        let next = line[end..].chars().next();
        if !matches!(next, Some(c) if c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Some(at);
        }
        from = end;
    }
    None
}

/// Rewrites node_exporter-style arguments into argh's form and moves a
/// subcommand (and its positionals) after all flags, so `picket once
/// --path.procfs=X` works like `picket --path-procfs X once`.
pub(crate) fn normalize(args: &[String], sp: &Spelling) -> Vec<String> {
    let mut flags = Vec::new();
    let mut tail = Vec::new();
    let mut in_sub = false;
    let mut expect_value = false;
    for a in args {
        if expect_value {
            flags.push(a.clone());
            expect_value = false;
            continue;
        }
        let Some(body) = a.strip_prefix("--") else {
            if !in_sub && !sp.subcommands.contains(&a.as_str()) && a != "help" {
                flags.push(a.clone());
            } else {
                in_sub = true;
                tail.push(a.clone());
            }
            continue;
        };
        if body.is_empty() {
            tail.push(a.clone());
            continue;
        }
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        // --collector.<name> / --no-collector.<name>: a collector switch
        // (options have a second dot: --collector.textfile.directory).
        if value.is_none() && sp.collector_switches {
            let switch = [
                ("collector.", "--collector"),
                ("no-collector.", "--no-collector"),
            ]
            .into_iter()
            .find_map(|(p, f)| Some((f, name.strip_prefix(p)?)))
            .filter(|(_, c)| !c.contains('.') && *c != "disable-defaults");
            if let Some((flag, c)) = switch {
                flags.push(flag.to_string());
                flags.push(c.to_string());
                continue;
            }
        }
        let dashed = format!("--{}", name.replace(['.', '_'], "-"));
        let takes_value = !sp.switches.contains(&dashed.as_str()) && dashed != "--help";
        flags.push(dashed);
        match value {
            Some(v) => flags.push(v.to_string()),
            None => expect_value = takes_value,
        }
    }
    flags.extend(tail);
    flags
}

/// Parses the process arguments (`argv[0]` first) into `T`, accepting the
/// dotted `--a.b=c` spellings via [`normalize`]. `--help` prints (in the
/// spellings users type, see [`Spelling::dotted`]) and gives `Err(0)`; bad
/// flags print the reason and give `Err(2)`: the exit code. A closed stdout
/// (`picket --help | head -1`) is not an error.
pub fn parse_args<T: FromArgs>(
    argv: &[String],
    default_name: &str,
    sp: &Spelling,
) -> Result<T, u8> {
    let cmd = argv.first().map(String::as_str).unwrap_or(default_name);
    let rest = normalize(&argv[1.min(argv.len())..], sp);
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    T::from_args(&[cmd], &rest).map_err(|early| match early.status {
        Ok(()) => {
            let text = sp.respell(&early.output);
            // A reader that went away (`| head`) ends the help, quietly.
            let _ = writeln!(io::stdout().lock(), "{text}");
            0
        }
        Err(()) => {
            let _ = writeln!(
                io::stderr().lock(),
                "{}\nRun {cmd} --help for the flags.",
                sp.respell(early.output.trim_end())
            );
            2
        }
    })
}
