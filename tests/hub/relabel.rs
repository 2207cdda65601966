//! picket_core::relabel against the real promtool 2.42.
//!
//! `promtool check service-discovery CONFIG JOB` runs a job's
//! `static_configs` through Prometheus's `scrape.PopulateLabels` (target
//! label defaults, `relabel_configs`, then the post-relabel steps) and
//! prints each target's final labels, without scraping. The same targets
//! go through the engine here, between the same pre- and post-steps
//! written out in this file (they are the hub's job, not the engine's):
//!
//! - before: the target's labels over its group's, empty values dropped;
//!   `job`, `__scrape_interval__`, `__scrape_timeout__`,
//!   `__metrics_path__`, `__scheme__` set where empty; `__param_<k>` set
//!   from `params` (2.42 overwrites, it does not only fill);
//! - after: a dropped target or one without `__address__` prints `{}`; an
//!   address without a port gets `:80` (2.42's default port, Go's
//!   `net.SplitHostPort` rules); `__meta_*` deleted; `instance` defaults to
//!   the address.
//!
//! What is compared: each target's final `labels`, in target order (one
//! static group per job keeps promtool's order). Not compared:
//! `discoveredLabels`, which 2.42 prints after relabelling has reused their
//! storage (`labels.Builder` writes into the slice it was given), so they
//! can show relabelled values.
//!
//! A second test compares config errors with `promtool check config`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use picket_core::metric::Labels;
use picket_core::relabel::{self, Relabel, RelabelConfigToml};

use crate::util::*;

/// One scrape job: static targets, their group's labels, `params`, and
/// `relabel_configs` as YAML (read by promtool and, through serde, here).
struct Job {
    name: &'static str,
    targets: &'static [&'static str],
    labels: &'static [(&'static str, &'static str)],
    params: &'static [(&'static str, &'static [&'static str])],
    relabel: &'static str,
}

/// Every action, templates and 2.42's quirks, on ordinary targets.
const CHAIN: Job = Job {
    name: "chain",
    targets: &[
        "10.0.0.1:9100",
        "host-b:9100",
        "Host-C",
        "db-1.example.org:5432",
        "[::1]:9100",
        "drop-me:1",
        "web-7:8080",
        "gone:1",
    ],
    labels: &[
        ("dc", "eu"),
        ("env", "Prod"),
        ("__meta_rack", "r1"),
        ("__meta_zone_name", "z-a"),
        ("team", ""),
        ("__param_x", "from-label"),
    ],
    params: &[("module", &["if_mib"]), ("x", &["a", "b"])],
    relabel: r#"
- source_labels: [__address__, dc]
  modulus: 7
  target_label: shard
  action: HashMod
- action: labelmap
  regex: __meta_(.+)
  replacement: meta_$1
- action: LabelMap
  regex: '__meta_)|(?:_'
  replacement: m
- source_labels: [__address__]
  regex: '(?P<host>[^:]+)(?::(\d+))?'
  target_label: port
  replacement: '${2}'
- source_labels: [__address__]
  regex: '(?P<host>[^:]+)(?::(\d+))?'
  target_label: host
  replacement: '$host'
- source_labels: [__address__]
  regex: '([a-z]+)-(?P<num>\d+).*'
  target_label: 'idx_${1}'
  replacement: '$num$$${2}x$2x'
- source_labels: [env]
  action: lowercase
  target_label: env_lower
- source_labels: [__address__, env]
  separator: '|'
  action: Uppercase
  target_label: addr_upper
- source_labels: [dc]
  action: lowercase
  target_label: '${1}'
- source_labels: [__address__]
  regex: '(\d+)\..*'
  target_label: '${1}'
  replacement: x
- source_labels: [env]
  regex: '(P)rod'
  target_label: 't_$1'
  replacement: set
- source_labels: [env]
  regex: '(P)rod'
  target_label: 't_$1'
  replacement: ''
- source_labels: [nope]
  target_label: env
- source_labels: [__address__]
  regex: 'drop-me:.*'
  action: drop
- source_labels: [__address__]
  regex: '.*:\d+|Host-C'
  action: keep
- target_label: __tmp_pg
  replacement: '5432'
- source_labels: [port]
  target_label: __tmp_pg
  action: dropequal
- target_label: __tmp_dc
  replacement: eu
- source_labels: [dc]
  target_label: __tmp_dc
  action: keepequal
- source_labels: [__address__]
  regex: '([^:]+):9100'
  target_label: __address__
  replacement: '${1}:19100'
- source_labels: [__address__]
  target_label: __param_target
- source_labels: [__address__]
  regex: 'gone:1'
  target_label: __address__
  replacement: ''
- action: labeldrop
  regex: '__tmp_.*'
- action: labelkeep
  regex: '__.*|[^m].*|meta_zone_name|mzone_name'
"#,
};

/// Regex syntax where Go and regex-lite differ, templates, case mapping.
/// The values to match are the targets (copied to `v`).
const REGEX: Job = Job {
    name: "regex",
    targets: &[
        "a<b>[c]{,2}.x",
        "a.b**",
        "ABC",
        "aaa",
        "x y",
        "v\u{0B}t",
        "l1\nl2",
        "İSTANBUL ß ᾳ Σ ǆ ﬁ",
        "b",
        "ab",
        "axx",
        "xxb",
        "\u{212A}",
        "a_b_c",
        "$1",
        "12ab",
        "aba",
        "#12",
    ],
    labels: &[],
    params: &[],
    relabel: r#"
- source_labels: [__address__]
  regex: '(?s)(.*)'
  target_label: v
- source_labels: [v]
  regex: 'a<b>[[]c[]]{,2}\.x'
  target_label: r_class
  replacement: hit
- source_labels: [v]
  regex: '\Qa.b*\E*'
  target_label: r_quote
  replacement: '$0'
- source_labels: [v]
  regex: '(?i)abc'
  target_label: r_fold
  replacement: '$0'
- source_labels: [v]
  regex: '(?U)(a+)(a*)'
  target_label: r_lazy
  replacement: '$1|$2'
- source_labels: [v]
  regex: '\S+\s\S+'
  target_label: r_space
  replacement: 'yes'
- source_labels: [v]
  regex: '(?s)l1.l2'
  target_label: r_dotnl
  replacement: 'yes'
- source_labels: [v]
  regex: 'l1.l2'
  target_label: r_dot
  replacement: 'yes'
- source_labels: [v]
  regex: '(?m)l1$\n^l2'
  target_label: r_multiline
  replacement: 'yes'
- source_labels: [v]
  regex: '(?P<1x>a)(?P<y>a*)'
  target_label: r_names
  replacement: '[$1x][${1}x][$y][$2][$01][$$1][$][${y'
- source_labels: [v]
  regex: '(a){0}(b)'
  target_label: r_zero
  replacement: '[$1][$2]'
- source_labels: [v]
  regex: 'a)|(b'
  target_label: r_anchor
  replacement: '[$0][$1]'
- source_labels: [v]
  action: lowercase
  target_label: lower
- source_labels: [v]
  action: uppercase
  target_label: upper
- source_labels: [v]
  regex: '[[:upper:]]+'
  target_label: r_posix
  replacement: 'yes'
- source_labels: [v]
  regex: '\x41\102\x{43}'
  target_label: r_escape
  replacement: 'yes'
- source_labels: [v]
  regex: '(\w)_(\w)_(\w)'
  target_label: 'r_$3$2$1'
  replacement: '${3}_$2_$1'
- source_labels: [v]
  regex: '(.)'
  target_label: single
  replacement: '<$1>'
- source_labels: [v]
  regex: '(a+|b)'
  target_label: r_alt
  replacement: '$1$1'
- source_labels: [v]
  regex: '(?i)[^a-c]+'
  target_label: r_negfold
  replacement: 'yes'
- source_labels: [v]
  regex: '([^\D]*)(\W?)(\w*?)(\w*)'
  target_label: r_perl
  replacement: '[$1][$2][$3][$4]'
- source_labels: [v]
  regex: '(a||b)(|x)+'
  target_label: r_empty
  replacement: '[$1][$2]'
- source_labels: [v]
  regex: '((a)|b)+'
  target_label: r_iter
  replacement: '[$1][$2]'
- source_labels: [v]
  regex: '\A\b.*\b\z'
  target_label: r_bound
  replacement: 'yes'
- source_labels: [v]
  regex: '(?:x*?)(x*)(b|xb)'
  target_label: r_greed
  replacement: '[$1][$2]'
- action: "\u212Aeep"
  source_labels: [v]
  regex: '.*|l1\nl2'
- action: drop
  source_labels: [v]
  regex: 'ab'
- target_label: __address__
  replacement: 'h:1'
"#,
};

/// labelmap's ReplaceAllString, collisions, labeldrop and labelkeep.
const LABELS: Job = Job {
    name: "labels",
    targets: &["t:1", "u:2"],
    labels: &[
        ("__meta_a_", "1"),
        ("__meta_b", "2"),
        ("x_1", "3"),
        ("x_2", "4"),
        ("keep_me", "5"),
    ],
    params: &[],
    relabel: r#"
- action: labelmap
  regex: '__meta_)|(?:_'
  replacement: 'm'
- action: labelmap
  regex: 'x_(\d)'
  replacement: 'same'
- action: labelmap
  regex: '(.*)'
  replacement: 'c_$1'
- action: labeldrop
  regex: 'c___.*'
- action: labelkeep
  regex: '__.*|c_.*|m.*|same|keep_me'
"#,
};

/// A job as prometheus.yml text.
fn job_yaml(job: &Job) -> String {
    let q = |s: &str| serde_json::to_string(s).expect("quote");
    let mut y = format!("  - job_name: {}\n", job.name);
    if !job.params.is_empty() {
        y.push_str("    params:\n");
        for (k, vs) in job.params {
            let vs: Vec<String> = vs.iter().map(|v| q(v)).collect();
            y.push_str(&format!("      {}: [{}]\n", q(k), vs.join(", ")));
        }
    }
    let targets: Vec<String> = job.targets.iter().map(|t| q(t)).collect();
    y.push_str(&format!(
        "    static_configs:\n      - targets: [{}]\n",
        targets.join(", ")
    ));
    if !job.labels.is_empty() {
        y.push_str("        labels:\n");
        for (k, v) in job.labels {
            y.push_str(&format!("          {}: {}\n", q(k), q(v)));
        }
    }
    y.push_str("    relabel_configs:\n");
    for line in job.relabel.lines().filter(|l| !l.trim().is_empty()) {
        y.push_str("      ");
        y.push_str(line);
        y.push('\n');
    }
    y
}

/// promtool's final labels for each target of `job` (`{}` when dropped).
fn promtool_targets(config: &Path, job: &str) -> Vec<BTreeMap<String, String>> {
    let out = Command::new("promtool")
        .args(["check", "service-discovery", "--timeout=300ms"])
        .arg(config)
        .arg(job)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool check service-discovery {job}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("promtool json");
    v.as_array()
        .expect("a list of targets")
        .iter()
        .map(|t| {
            t["labels"]
                .as_object()
                .expect("labels")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("string value").to_string()))
                .collect()
        })
        .collect()
}

/// The engine's steps for `job`, read from the same YAML.
fn steps(job: &Job) -> Vec<Relabel> {
    let cfgs: Vec<RelabelConfigToml> =
        serde_norway::from_str(job.relabel).expect("relabel YAML as RelabelConfigToml");
    cfgs.into_iter()
        .map(|c| {
            c.resolve()
                .unwrap_or_else(|e| panic!("{}: {e:?}", job.name))
        })
        .collect()
}

/// 2.42's `PopulateLabels` around the engine, for one target.
fn populate(job: &Job, address: &str, steps: &[Relabel]) -> BTreeMap<String, String> {
    // The target's own label (its address) over its group's; an empty
    // value is no label.
    let mut l = Labels::from_pairs(
        job.labels
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|&(k, v)| (k.to_string(), v.to_string())),
    );
    l.set("__address__", address.to_string());
    for (name, value) in [
        ("job", job.name),
        ("__scrape_interval__", "1m"),
        ("__scrape_timeout__", "10s"),
        ("__metrics_path__", "/metrics"),
        ("__scheme__", "http"),
    ] {
        if l.get(name).unwrap_or("").is_empty() {
            l.set(name, value.to_string());
        }
    }
    for (k, vs) in job.params {
        if let Some(v) = vs.first() {
            l.set(format!("__param_{k}"), v.to_string());
        }
    }

    let Some(l) = relabel::process(l, steps) else {
        return BTreeMap::new();
    };

    let mut out: BTreeMap<String, String> = l
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let Some(mut addr) = out.get("__address__").filter(|a| !a.is_empty()).cloned() else {
        return BTreeMap::new(); // "no address"
    };
    if split_host_port(&addr).is_err() && split_host_port(&format!("{addr}:1234")).is_ok() {
        match out.get("__scheme__").map(String::as_str) {
            Some("http") | None => addr.push_str(":80"),
            Some("https") => addr.push_str(":443"),
            Some(_) => return BTreeMap::new(), // invalid scheme
        }
        out.insert("__address__".into(), addr.clone());
    }
    if addr.contains('/') {
        return BTreeMap::new(); // not a valid hostname
    }
    out.retain(|k, _| !k.starts_with("__meta_"));
    if out.get("instance").is_none_or(|i| i.is_empty()) {
        out.insert("instance".into(), addr);
    }
    out
}

/// Go's `net.SplitHostPort`: whether `s` is host:port (`[v6]:port`).
fn split_host_port(s: &str) -> Result<(), &'static str> {
    let i = s.rfind(':').ok_or("missing port")?;
    let (mut j, mut k) = (0, 0);
    if s.starts_with('[') {
        let end = s.find(']').ok_or("missing ']'")?;
        if end + 1 == s.len() {
            return Err("missing port");
        } else if end + 1 != i {
            return Err(if s.as_bytes()[end + 1] == b':' {
                "too many colons"
            } else {
                "missing port"
            });
        }
        (j, k) = (1, end + 1);
    } else if s[..i].contains(':') {
        return Err("too many colons");
    }
    if s[j..].contains('[') {
        return Err("unexpected '['");
    }
    if s[k..].contains(']') {
        return Err("unexpected ']'");
    }
    Ok(())
}

#[test]
fn split_host_port_is_go() {
    assert!(split_host_port("a:1").is_ok());
    assert!(split_host_port("a:").is_ok());
    assert!(split_host_port("[::1]:9100").is_ok());
    for bad in ["a", "::1", "[::1]", "[::1]x:1", "a[b]:1", "a:b:c", ""] {
        assert!(split_host_port(bad).is_err(), "{bad}");
    }
}

#[test]
#[ignore = "needs promtool (tests/run.sh installs it)"]
fn relabel_configs_match_promtool_2_42() {
    require("promtool");
    let dir = temp_dir("relabel-promtool");
    let config = dir.join("prometheus.yml");
    let jobs = [&CHAIN, &REGEX, &LABELS];
    let mut yml = String::from("scrape_configs:\n");
    for job in jobs {
        yml.push_str(&job_yaml(job));
    }
    std::fs::write(&config, &yml).expect("write prometheus.yml");

    for job in jobs {
        let want = promtool_targets(&config, job.name);
        let steps = steps(job);
        let got: Vec<BTreeMap<String, String>> = job
            .targets
            .iter()
            .map(|t| populate(job, t, &steps))
            .collect();
        for (i, (w, g)) in want.iter().zip(&got).enumerate() {
            assert_eq!(
                g, w,
                "job {} target {:?}: picket (left) vs promtool (right)\n{yml}",
                job.name, job.targets[i]
            );
        }
        assert_eq!(got.len(), want.len(), "job {}: number of targets", job.name);
        let kept = got.iter().filter(|l| !l.is_empty()).count();
        assert!(kept >= 2, "job {}: only {kept} targets kept", job.name);
    }

    // A few of 2.42's answers, spelled out (all of them also came from promtool above).
    let chain = steps(&CHAIN);
    let get = |addr: &str| populate(&CHAIN, addr, &chain);
    assert_eq!(get("10.0.0.1:9100")["shard"], "1");
    assert_eq!(get("host-b:9100")["shard"], "0");
    assert_eq!(get("Host-C")["shard"], "5");
    assert_eq!(get("Host-C")["instance"], "Host-C:80");
    assert_eq!(get("web-7:8080")["idx_web"], "7$7x");
    // The empty replacement deleted "t_$1" as written, not t_P.
    assert_eq!(get("web-7:8080")["t_P"], "set");
    // `${1}` expanded to "10", not a label name: 2.42 deleted "${1}".
    assert!(!get("10.0.0.1:9100").contains_key("${1}"));
    assert_eq!(get("host-b:9100")["${1}"], "eu");
    assert_eq!(get("host-b:9100")["__param_x"], "a");
    assert!(get("drop-me:1").is_empty());
    assert!(get("db-1.example.org:5432").is_empty());
    assert!(get("gone:1").is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Config errors: picket's message is in promtool check config's output.
#[test]
#[ignore = "needs promtool (tests/run.sh installs it)"]
fn relabel_config_errors_match_promtool_2_42() {
    require("promtool");
    let dir = temp_dir("relabel-promtool-errors");
    let config = dir.join("prometheus.yml");
    // (entry, whether picket's message must be promtool's: false where
    // regex-lite finds the error and words it its own way)
    let cases: &[(&str, bool)] = &[
        ("action: nope", true),
        ("action: ''", true),
        ("source_labels: ['1a']\ntarget_label: x", true),
        ("action: hashmod\ntarget_label: x", true),
        ("source_labels: [a]", true),
        ("action: lowercase", true),
        ("target_label: 'a-b'", true),
        ("target_label: 'a${b'", true),
        ("action: hashmod\nmodulus: 2\ntarget_label: '$1'", true),
        ("action: uppercase\ntarget_label: x\nreplacement: y", true),
        ("action: labelmap\nreplacement: 'a-$1'", true),
        ("action: keepequal\ntarget_label: x\nregex: '(.*)'", true),
        ("action: dropequal\ntarget_label: x\nseparator: ','", true),
        ("action: labeldrop\nsource_labels: []", true),
        ("action: labelkeep\ntarget_label: x", true),
        ("action: labeldrop\nreplacement: x", true),
        ("regex: 'a**'\ntarget_label: x", true),
        ("regex: 'a{2}{3}'\ntarget_label: x", true),
        ("regex: 'a{1001}'\ntarget_label: x", true),
        ("regex: '(a{100}){20}'\ntarget_label: x", true),
        ("regex: '[z-a]'\ntarget_label: x", true),
        ("regex: '[[:foo:]]'\ntarget_label: x", true),
        ("regex: '[abc'\ntarget_label: x", true),
        ("regex: '(?<n>a)'\ntarget_label: x", true),
        ("regex: '(?P<>a)'\ntarget_label: x", true),
        ("regex: '(?P<a-b>a)'\ntarget_label: x", true),
        ("regex: '(?x)a'\ntarget_label: x", true),
        ("regex: '(?i-)a'\ntarget_label: x", true),
        ("regex: '\\8'\ntarget_label: x", true),
        ("regex: '\\1'\ntarget_label: x", true),
        ("regex: '\\x{110000}'\ntarget_label: x", true),
        ("regex: '\\C'\ntarget_label: x", true),
        ("regex: '(a'\ntarget_label: x", false),
        ("regex: 'a)'\ntarget_label: x", false),
        ("regex: '*a'\ntarget_label: x", false),
        ("regex: '\\Qa'\ntarget_label: x", false),
    ];
    for (entry, exact) in cases {
        let indented: Vec<String> = entry
            .lines()
            .enumerate()
            .map(|(i, l)| format!("      {}{l}", if i == 0 { "- " } else { "  " }))
            .collect();
        std::fs::write(
            &config,
            format!(
                "scrape_configs:\n  - job_name: j\n    static_configs:\n      - targets: ['a:1']\n    relabel_configs:\n{}\n",
                indented.join("\n")
            ),
        )
        .expect("write");
        let out = Command::new("promtool")
            .args(["check", "config"])
            .arg(&config)
            .output()
            .expect("run promtool");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{entry}: promtool accepted it:\n{text}"
        );
        let cfg: RelabelConfigToml = serde_norway::from_str(entry).expect("entry");
        let (key, msg) = cfg
            .resolve()
            .map(|r| format!("{r:?}"))
            .expect_err(&format!("{entry}: picket accepted it; promtool: {text}"));
        assert!(!key.is_empty());
        if *exact {
            assert!(
                text.contains(&format!(": {msg}\n")),
                "{entry}: picket {key}: {msg}\npromtool: {text}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
