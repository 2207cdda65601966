//! picket-hub alerting: rule files checked against promtool, rules
//! evaluated against live scrapes, alerts delivered to a real
//! Alertmanager 0.25 and to the hub's own receivers.

use std::path::Path;
use std::process::Command;

use crate::hub::hub_bin;
use crate::util::*;

/// (exit code, stdout + stderr) of a command.
fn run(cmd: &mut Command) -> (Option<i32>, String) {
    let out = cmd.output().expect("run");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

fn promtool_check(file: &Path) -> (Option<i32>, String) {
    run(Command::new("promtool").args(["check", "rules"]).arg(file))
}

fn hub_check(file: &Path) -> (Option<i32>, String) {
    run(Command::new(hub_bin()).arg("check-rules").arg(file))
}

/// Broken rule files: (file text, what picket-hub's error must say:
/// file:line, group, rule and reason).
const BROKEN: &[(&str, &str)] = &[
    (
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up ==\n",
        ":4: group \"g\", rule 1, \"A\": could not parse expression",
    ),
    (
        "groups:\n- name: g\n  rules:\n  - alert: A\n    record: b\n    expr: up\n",
        ":4: group \"g\", rule 1, \"A\": only one of 'record' and 'alert' must be set",
    ),
    (
        "groups:\n- name: g\n  rules:\n  - record: ok:up\n    expr: up\n  - record: bad-name\n    expr: up\n",
        ":6: group \"g\", rule 2, \"bad-name\": invalid recording rule name: bad-name",
    ),
    (
        "groups:\n- name: g\n  rules:\n  - record: r\n    expr: up\n    annotations:\n      a: b\n",
        ":4: group \"g\", rule 1, \"r\": invalid field 'annotations' in recording rule",
    ),
    (
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    labels:\n      bad-label: x\n",
        ":4: group \"g\", rule 1, \"A\": invalid label name: bad-label",
    ),
    (
        "groups:\n- name: g\n  rules:\n  - alert: Templ\n    expr: up\n    annotations:\n      summary: \"{{ nosuch $value }}\"\n",
        ":4: group \"g\", rule 1, \"Templ\": annotation \"summary\": template: __alert_Templ:1: function \"nosuch\" not defined",
    ),
    (
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    for: 5 minutes\n",
        ":4: group \"g\", rule 1, \"A\": for: \"5 minutes\" is not a duration",
    ),
    (
        "groups:\n- name: g\n  rules:\n  - alert: NoExpr\n",
        ":4: group \"g\", rule 1, \"NoExpr\": field 'expr' must be set in rule",
    ),
    (
        "groups:\n- name: g\n  rules: []\n- name: g\n  rules: []\n",
        ":4: group \"g\", groupname: \"g\" is repeated in the same file",
    ),
    (
        "groups:\n- name: g\n  rules:\n  - alert: A\n    exp: up\n",
        ":5: groups[0].rules[0]: unknown field `exp`",
    ),
];

#[test]
#[ignore = "needs promtool (tests/run.sh installs it)"]
fn shipped_rule_files_pass_promtool_and_check_rules_and_broken_ones_fail_both() {
    require("promtool");
    let dir = repo().join("configs/rules");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("configs/rules")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    for f in &files {
        let (code, out) = promtool_check(f);
        assert_eq!(code, Some(0), "promtool: {out}");
        let (code, out) = hub_check(f);
        assert_eq!(code, Some(0), "picket-hub: {out}");
        // Both count the same rules.
        let count = |o: &str| {
            o.lines()
                .find_map(|l| l.trim().strip_prefix("SUCCESS: "))
                .map(str::to_string)
        };
        assert_eq!(count(&out), count(&promtool_check(f).1), "{}", f.display());
    }
    let tmp = temp_dir("rules-broken");
    for (i, (text, want)) in BROKEN.iter().enumerate() {
        let f = tmp.join(format!("broken{i}.yml"));
        std::fs::write(&f, text).expect("write");
        let (code, out) = promtool_check(&f);
        assert_ne!(code, Some(0), "promtool accepted case {i}:\n{text}\n{out}");
        let (code, out) = hub_check(&f);
        assert_eq!(
            code,
            Some(2),
            "picket-hub accepted case {i}:\n{text}\n{out}"
        );
        let want = format!("{}{want}", f.display());
        assert!(out.contains(&want), "case {i}: want {want:?} in:\n{out}");
    }
    // The hub refuses to start on a broken rule file, naming it.
    let f = tmp.join("broken0.yml");
    let (code, out) = run(Command::new(hub_bin())
        .arg(format!("--rule-file={}", f.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            tmp.join("data").display()
        )));
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("rule 1, \"A\": could not parse expression"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
