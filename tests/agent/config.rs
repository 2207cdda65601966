//! Config files and flags: valid ones load, every bad one exits 2 naming
//! file, line and key (one fixture file per case under tests/configs/).

use crate::util::{help_of, picket, picket_cmd, repo};

#[test]
fn documented_config_loads_and_matches_defaults() {
    let out = picket(&["check-config", "configs/agent.toml"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The documented file spells out the embedded defaults: same result as no file.
    let default = picket(&["check-config", "/dev/null"]);
    let default = String::from_utf8_lossy(&default.stdout);
    let strip = |s: &str| s.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(strip(&stdout), strip(&default));
    assert!(stdout.contains("listen_address = \":9100\""));
}

#[test]
fn valid_configs_load() {
    for entry in std::fs::read_dir(repo().join("tests/configs/valid")).unwrap() {
        let path = entry.unwrap().path();
        let out = picket(&["check-config", path.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn invalid_configs_exit_2_naming_file_line_and_key() {
    let dir = repo().join("tests/configs/invalid");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} lacks an '# expect:' first line", path.display()));
        for args in [
            vec!["check-config", path.to_str().unwrap()],
            vec!["--config.file", path.to_str().unwrap(), "once"],
        ] {
            let out = picket(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{}: {stderr}", path.display());
            assert!(
                stderr.contains(expect),
                "{}: expected {expect:?} in {stderr:?}",
                path.display()
            );
            assert!(out.stdout.is_empty(), "nothing on stdout for a bad config");
        }
        n += 1;
    }
    assert!(n >= 8, "only {n} invalid config fixtures");
}

#[test]
fn missing_config_file_is_exit_2() {
    let out = picket(&["check-config", "/nonexistent/agent.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/agent.toml: cannot read"));
}

#[test]
fn node_exporter_flag_spellings_are_accepted() {
    let out = picket(&[
        "--web.listen-address=127.0.0.1:19100",
        "--web.telemetry-path",
        "/m",
        "--path.procfs=/proc",
        "--path.sysfs=/sys",
        "--path.rootfs=/",
        "--collector.processes",
        "--no-collector.arp",
        "--collector.textfile.directory=/var/lib/node_exporter",
        "--collector.filesystem.mount-points-exclude=^/boot",
        "--collector.systemd",
        "--collector.systemd.unit-include=.+\\.service",
        "--collector.systemd.enable-task-metrics",
        "--collector.systemd.private",
        "--log.level=warn",
        "check-config",
        "/dev/null",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("listen_address = \"127.0.0.1:19100\""),
        "{stdout}"
    );
    assert!(stdout.contains("telemetry_path = \"/m\""), "{stdout}");
    assert!(stdout.contains("processes"), "{stdout}");
    assert!(!stdout.contains("arp,"), "{stdout}");
    assert!(stdout.contains("/var/lib/node_exporter"), "{stdout}");
    assert!(stdout.contains("systemd"), "{stdout}");
    // node_exporter's rule for the deprecated spelling.
    let out = picket(&[
        "--collector.systemd.unit-include=a",
        "--collector.systemd.unit-whitelist=b",
        "check-config",
        "/dev/null",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(
        "--collector.systemd.unit-whitelist: --collector.systemd.unit-whitelist and \
         --collector.systemd.unit-include are mutually exclusive"
    ));
}

#[test]
fn flags_override_the_file() {
    let dir = crate::util::temp_dir("override");
    let f = dir.join("a.toml");
    std::fs::write(
        &f,
        "[web]\nlisten_address = \"127.0.0.1:1\"\n[collectors]\ndisable = [\"cpu\"]\n",
    )
    .unwrap();
    let out = picket(&[
        "--web.listen-address=127.0.0.1:2",
        "--collector.cpu",
        "check-config",
        f.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("\"127.0.0.1:2\""), "{stdout}");
    assert!(stdout.contains(" cpu,"), "{stdout}");
}

#[test]
fn bad_flags_exit_2_naming_the_flag() {
    for (args, expect) in [
        (
            vec!["--web.listen-address=nowhere", "once"],
            "--web.listen-address",
        ),
        (
            vec!["--collector.nosuch", "once"],
            "--collector.nosuch: unknown collector",
        ),
        (
            vec!["--collector.vmstat.fields=(", "once"],
            "--collector.vmstat.fields: invalid regex",
        ),
        (vec!["--log.level=loud", "once"], "--log.level"),
        (vec!["--no-such-flag", "once"], "Unrecognized argument"),
    ] {
        let out = picket(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(expect),
            "{args:?}: expected {expect:?} in {stderr:?}"
        );
    }
}

#[test]
fn help_shows_node_exporters_spellings_and_survives_a_closed_pipe() {
    let help = help_of(picket_cmd);
    for typed in [
        "--web.listen-address",
        "--path.procfs",
        "--collector.textfile.directory",
        "--collector.systemd.unit-include",
        "--no-haproxy.ssl-verify",
        "--log.level",
        "--push-url",
    ] {
        assert!(help.contains(typed), "{typed} missing from --help:\n{help}");
    }
    // argh's own spelling of a dotted flag is never shown.
    for argh in [
        "--web-listen-address",
        "--path-procfs",
        "--collector-textfile-directory",
    ] {
        assert!(!help.contains(argh), "{argh} in --help:\n{help}");
    }
    // Every dotted spelling still parses (the help shows what works).
    let out = picket(&[
        "--web.listen-address=127.0.0.1:0",
        "--path.udev.data=/x",
        "check-config",
        "/dev/null",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
