//! prometheus.yml read unchanged: `picket-hub check-config` against
//! `promtool check config` on the same files, and the same file run by
//! the hub and by Prometheus 2.42 side by side.
//!
//! The files are under tests/configs/prometheus/: `good/` (both accept),
//! `bad/` (both refuse), `refused/` (Prometheus accepts, the hub refuses
//! by name: the known differences, each with its reason below).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::util::*;

fn files(dir: &str) -> Vec<PathBuf> {
    let d = repo().join("tests/configs/prometheus").join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&d)
        .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no files in {}", d.display());
    v
}

/// `picket-hub check-config FILE`: (success, stderr).
fn hub_check(file: &Path) -> (bool, String) {
    let out = hub_cmd().arg("check-config").arg(file).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `promtool check config FILE`: (success, output).
fn promtool_check(file: &Path) -> (bool, String) {
    let out = Command::new("promtool")
        .args(["check", "config"])
        .arg(file)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Why the hub refuses what Prometheus accepts, file by file.
const REFUSED: [(&str, &str); 4] = [
    ("ec2.yml", "ec2 service discovery"),
    ("http-sd.yml", "http service discovery"),
    ("proxy.yml", "proxies"),
    ("remote-read.yml", "no remote read"),
];

#[test]
#[ignore = "needs promtool (tests/run.sh installs it)"]
fn check_config_agrees_with_promtool() {
    require("promtool");
    let mut disagree = Vec::new();
    for f in files("good") {
        let (p, pout) = promtool_check(&f);
        let (h, hout) = hub_check(&f);
        assert!(p, "promtool refuses a good file {}: {pout}", f.display());
        if !h {
            disagree.push(format!("{}: hub refuses: {hout}", f.display()));
        }
    }
    for f in files("bad") {
        let (p, _) = promtool_check(&f);
        let (h, hout) = hub_check(&f);
        assert!(!p, "promtool accepts a bad file {}", f.display());
        if h {
            disagree.push(format!("{}: hub accepts", f.display()));
            continue;
        }
        // The hub's error names the file and (for anything past the
        // YAML's first line) the line.
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            hout.contains(&format!("{name}:")),
            "{name}: error does not name file and line: {hout}"
        );
    }
    for f in files("refused") {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let (p, pout) = promtool_check(&f);
        let (h, hout) = hub_check(&f);
        assert!(p, "promtool refuses {name}: {pout}");
        assert!(!h, "the hub accepts {name}, listed as refused");
        let why = REFUSED
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{name}: no reason listed in REFUSED"))
            .1;
        assert!(hout.contains(why), "{name}: expected {why:?} in {hout}");
    }
    assert!(disagree.is_empty(), "{}", disagree.join("\n"));
}

/// The error names file, line and dotted key, for the bad files where
/// the key is known.
#[test]
fn check_config_errors_name_file_line_and_key() {
    let dir = repo().join("tests/configs/prometheus/bad");
    for (file, want) in [
        (
            "timeout-over-interval.yml",
            "timeout-over-interval.yml:5: scrape_configs[0].scrape_timeout",
        ),
        (
            "unknown-key.yml",
            "unknown-key.yml:3: scrape_configs[0].scrape_intervall",
        ),
        (
            "bad-duration.yml",
            "bad-duration.yml:2: global.scrape_interval",
        ),
        (
            "duplicate-job.yml",
            "duplicate-job.yml:5: scrape_configs[1].job_name",
        ),
        (
            "kubernetes.yml",
            "kubernetes.yml:3: scrape_configs[0].kubernetes_sd_configs",
        ),
        (
            "bad-label-name.yml",
            "bad-label-name.yml:5: scrape_configs[0].static_configs[0].labels",
        ),
    ] {
        let (ok, err) = hub_check(&dir.join(file));
        assert!(!ok, "{file} accepted");
        assert!(err.contains(want), "{file}: expected {want:?} in {err}");
    }
}

fn json_get(addr: &str, path: &str) -> serde_json::Value {
    let r = get(addr, path).unwrap_or_else(|e| panic!("GET {addr}{path}: {e}"));
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", r.text()))
}

/// A label map as sorted `name=value` pairs.
fn pairs(v: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// `/api/v1/targets` reduced to what both must agree on: every active
/// target's discovered labels, labels, pool, URL, interval and timeout,
/// and every dropped target's discovered labels; sorted.
fn targets(addr: &str) -> (Vec<String>, Vec<String>) {
    let v = json_get(addr, "/api/v1/targets");
    let d = &v["data"];
    let mut active: Vec<String> = d["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        // The hub lists the boards that push as targets too; none here.
        .filter(|t| t["transport"].as_str().is_none_or(|s| s == "scrape"))
        // Not the discovered labels of active targets: Prometheus 2.42's
        // are overwritten by relabelling (its labels.Builder writes into
        // the discovered label slice; later versions show the labels
        // before relabelling, as the hub does). Dropped targets' are
        // compared below.
        .map(|t| {
            format!(
                "pool={} url={} interval={} timeout={}\n  labels {:?}",
                t["scrapePool"],
                t["scrapeUrl"],
                t["scrapeInterval"],
                t["scrapeTimeout"],
                pairs(&t["labels"]),
            )
        })
        .collect();
    active.sort();
    // Dropped targets: their address, file and job (the rest of 2.42's
    // discovered labels is overwritten by the steps before the drop, as
    // for active targets).
    let mut dropped: Vec<String> = d["droppedTargets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let l = &t["discoveredLabels"];
            format!("{} {} {}", l["__address__"], l["__meta_filepath"], l["job"])
        })
        .collect();
    dropped.sort();
    (active, dropped)
}

/// Prometheus and the hub, each on `dir/prometheus.yml` (Prometheus's data
/// in `dir/data`, the hub's in `dir/hub/data`).
fn start_both(dir: &Path) -> (Proc, Proc) {
    let prom = start_prometheus(dir, &format!("127.0.0.1:{}", free_port()), &[]);
    let hub_dir = dir.join("hub");
    std::fs::create_dir_all(&hub_dir).unwrap();
    let cfg = format!("--config.file={}", dir.join("prometheus.yml").display());
    let hub = Launch::hub(&hub_dir).args([cfg.as_str()]).start();
    (prom, hub)
}

/// Asks both `what` until the answers agree and `ready` holds, or `limit`
/// passes (discovery and scrapes take their time on each side); returns
/// (Prometheus's, the hub's).
fn until_equal<T: PartialEq>(
    prom: &str,
    hub: &str,
    limit: Duration,
    what: impl Fn(&str) -> T,
    ready: impl Fn(&T) -> bool,
) -> (T, T) {
    let start = std::time::Instant::now();
    loop {
        let (p, h) = (what(prom), what(hub));
        if (ready(&p) && p == h) || start.elapsed() > limit {
            return (p, h);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every stored series' labels (`/api/v1/series` over the last minute).
fn series(addr: &str) -> Vec<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let v = json_get(
        addr,
        &format!(
            "/api/v1/series?match[]=%7B__name__%3D~%22.%2B%22%7D&start={}&end={}",
            now - 60,
            now + 5
        ),
    );
    let mut out: Vec<String> = v["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|s| pairs(s).join(","))
        .collect();
    out.sort();
    out
}

const TEXTFILE: &str = "\
keep_me{k=\"a\"} 1
drop_me_total 2
rename_me{k=\"v1\"} 3
with_junk{junk_x=\"1\",k=\"z\"} 4
clash{job=\"theirs\",instance=\"\",k=\"c\"} 5
";

/// The same prometheus.yml (file_sd and static targets, relabel_configs
/// using every action, params, metric_relabel_configs) run by Prometheus
/// 2.42 and by the hub against the same picket agents: the targets API
/// (active with their labels and discovered labels, dropped) and the
/// stored series sets are identical, label for label.
///
/// Known differences, not compared: `lastError` texts (Go's and ureq's
/// wording for a refused connection), `lastScrape*`, and the discovered
/// labels of active targets (see [`targets`]).
#[test]
#[ignore = "needs prometheus (tests/run.sh installs it)"]
fn targets_and_series_equal_prometheus_with_relabelling() {
    require("prometheus");
    let dir = temp_dir("promconfig-diff");
    let text = dir.join("textfile");
    std::fs::create_dir_all(&text).unwrap();
    std::fs::write(text.join("t.prom"), TEXTFILE).unwrap();
    let flag = format!("--collector.textfile.directory={}", text.display());
    let args = [
        "--collector.disable-defaults",
        "--collector.textfile",
        flag.as_str(),
    ];
    let agents: Vec<Proc> = (0..4).map(|_| start_picket(&args)).collect();
    let port = |i: usize| agents[i].addr.rsplit(':').next().unwrap().to_string();
    let closed = free_port();
    let targets_yml = format!(
        "\
- targets: ['127.0.0.1:{p0}', '127.0.0.1:{p1}']
  labels: {{role: board, rack: r1, name: Pi-One, alias: a1, tmp_x: y, __meta_board_kind: pi4}}
- targets: ['127.0.0.1:{p2}']
  labels: {{role: gateway, rack: r2, name: GW, alias: g, drop_me: 'no'}}
- targets: ['127.0.0.1:{p3}']
  labels: {{role: printer}}
- targets: ['127.0.0.1:{p3}']
  labels: {{role: board, drop_me: 'yes'}}
- targets: ['127.0.0.1:{closed}']
  labels: {{role: board, name: Closed, role_copy: board}}
- targets: ['127.0.0.1:{closed}']
  labels: {{role: board, name: Other, role_copy: x}}
",
        p0 = port(0),
        p1 = port(1),
        p2 = port(2),
        p3 = port(3),
    );
    std::fs::write(dir.join("targets.yml"), targets_yml).unwrap();
    let config = format!(
        r#"
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: boards
    file_sd_configs:
      - files: [targets.yml]
        refresh_interval: 1s
    relabel_configs:
      - source_labels: [__address__]
        modulus: 3
        target_label: __tmp_shard
        action: hashmod
      - source_labels: [__tmp_shard]
        target_label: shard
      - source_labels: [__meta_filepath]
        regex: '.*/(.*)\.yml'
        target_label: file
      - regex: '__meta_board_(.*)'
        action: labelmap
        replacement: 'meta_$1'
      - source_labels: [rack]
        target_label: rack
        action: uppercase
      - source_labels: [name]
        target_label: name_lc
        action: lowercase
      - source_labels: [drop_me]
        regex: 'yes'
        action: drop
      - source_labels: [role]
        regex: 'board|gateway'
        action: keep
      - source_labels: [role_copy]
        target_label: role
        action: dropequal
      - source_labels: [__address__]
        regex: '127\.0\.0\.1:(\d+)'
        target_label: port
        replacement: 'p${{1}}x'
      - source_labels: [alias, name]
        separator: '-'
        regex: '(?P<a>[^-]+)-(.+)'
        target_label: instance
        replacement: '$2.${{a}}'
      - regex: 'tmp_.*|alias'
        action: labeldrop
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'drop_.*'
        action: drop
      - source_labels: [__name__, k]
        regex: 'rename_me;(.*)'
        target_label: renamed
        replacement: 'was_$1'
      - regex: 'junk_.*'
        action: labeldrop
      - source_labels: [__name__]
        regex: 'node_textfile_.*|go_.*|process_.*|picket_.*'
        action: drop
  - job_name: probe
    metrics_path: /metrics
    params:
      module: [http_2xx, second]
    honor_labels: true
    static_configs:
      - targets: ['https://board.example', 'http://other.example:8080']
        labels:
          prober: one
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:{p2}
      - source_labels: [prober]
        regex: 'one'
        target_label: __scrape_interval__
        replacement: 2s
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'keep_me|clash'
        action: keep
  - job_name: limited
    sample_limit: 2
    static_configs:
      - targets: ['127.0.0.1:{p2}']
"#,
        p2 = port(2)
    );
    std::fs::write(dir.join("prometheus.yml"), &config).unwrap();
    let (prom, hub) = start_both(&dir);

    let (want, got) = until_equal(
        &prom.addr,
        &hub.addr,
        Duration::from_secs(30),
        targets,
        |t| t.0.len() >= 7,
    );
    assert_eq!(
        want.0.join("\n"),
        got.0.join("\n"),
        "active targets differ (left Prometheus, right hub)"
    );
    assert_eq!(want.1, got.1, "dropped targets differ");
    assert_eq!(want.0.len(), 7, "{}", want.0.join("\n"));
    // The hub's discovered labels are the labels before relabelling.
    let v = json_get(&hub.addr, "/api/v1/targets?state=active&scrapePool=boards");
    let gw = v["data"]["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["labels"]["name"] == "GW")
        .expect("GW target");
    let d = pairs(&gw["discoveredLabels"]);
    for want in ["rack=r2", "role=gateway", "alias=g", "__scheme__=http"] {
        assert!(d.iter().any(|p| p == want), "{want} not in {d:?}");
    }
    assert!(!d.iter().any(|p| p.starts_with("__tmp_shard")), "{d:?}");
    assert_eq!(want.1.len(), 3, "{:?}", want.1);

    // A scrape past sample_limit fails as in Prometheus, with its error.
    let limited = |addr: &str| {
        let v = json_get(addr, "/api/v1/targets?scrapePool=limited");
        let t = &v["data"]["activeTargets"][0];
        (t["health"].to_string(), t["lastError"].to_string())
    };
    let (p, h) = until_equal(
        &prom.addr,
        &hub.addr,
        Duration::from_secs(10),
        limited,
        |l| l.0 == "\"down\"",
    );
    assert_eq!(p, h, "sample_limit: left Prometheus, right hub");
    assert_eq!(p.1, "\"sample limit exceeded\"");

    std::thread::sleep(Duration::from_secs(5));
    let (p, h) = (series(&prom.addr), series(&hub.addr));
    assert!(p.iter().any(|s| s.contains("renamed=was_v1")), "{p:?}");
    assert_eq!(p.join("\n"), h.join("\n"), "stored series differ");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// Every file of tests/configs/prometheus/good, the how-tos' kind of
/// prometheus.yml, run unchanged by the hub and by Prometheus 2.42: the
/// same active and dropped targets (their labels, pools and URLs; see
/// [`targets`]); the fleet file's board, a real node_exporter, is scraped.
#[test]
#[ignore = "needs prometheus and node_exporter (tests/run.sh installs them)"]
fn how_to_configs_load_and_scrape_as_in_prometheus() {
    require("prometheus");
    let node = start_node_exporter(&[]);
    let src = repo().join("tests/configs/prometheus/good");
    for f in files("good") {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let dir = temp_dir(&format!("howto-{}", name.trim_end_matches(".yml")));
        copy_dir(&src, &dir);
        let text = std::fs::read_to_string(dir.join(&name))
            .unwrap()
            .replace("{{NODE}}", &node.addr);
        std::fs::write(dir.join("prometheus.yml"), text).unwrap();
        let (prom, hub) = start_both(&dir);
        let (p, h) = until_equal(
            &prom.addr,
            &hub.addr,
            Duration::from_secs(20),
            targets,
            |t| !t.0.is_empty(),
        );
        assert!(!p.0.is_empty(), "{name}: Prometheus has no targets");
        assert_eq!(p.0.join("\n"), h.0.join("\n"), "{name}: active targets");
        assert_eq!(p.1, h.1, "{name}: dropped targets");
        if name == "pi-fleet.yml" {
            let q = "/api/v1/query?query=up%7Bjob%3D%22node%22%2Cboard%3D%22pi4%22%7D";
            wait_until(Duration::from_secs(40), "the board scraped", || {
                json_get(&hub.addr, q)["data"]["result"][0]["value"][1] == "1"
            });
            let rules = json_get(&hub.addr, "/api/v1/rules");
            assert!(rules.to_string().contains("BoardDown"), "{rules}");
        }
    }
}

/// A command run in a private mount namespace whose /etc/resolv.conf is
/// `resolv` (root only: unshare and a bind mount), so the hub and
/// Prometheus both ask the test's DNS server, as they would a LAN's.
fn with_resolv_conf(resolv: &Path, prog: &Path, args: &[String]) -> Command {
    let mut c = Command::new("unshare");
    c.arg("--mount")
        .arg("sh")
        .arg("-c")
        .arg("mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"")
        .arg(resolv)
        .arg(prog)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    c
}

/// dns_sd_configs (SRV through the search list, A with a port, a name
/// that does not exist) against a real DNS server, dnsmasq: the hub and
/// Prometheus 2.42, both pointed at it by their resolv.conf, find and
/// scrape the same targets with the same labels.
#[test]
#[ignore = "needs root, dnsmasq, unshare and prometheus (tests/run.sh installs them)"]
fn dns_sd_finds_the_targets_prometheus_finds() {
    require("prometheus");
    require("unshare");
    assert!(
        Path::new("/usr/sbin/dnsmasq").exists(),
        "dnsmasq missing (apt-get install dnsmasq-base)"
    );
    let dir = temp_dir("dns-sd");
    let agents: Vec<Proc> = (0..3)
        .map(|_| start_picket(&["--collector.disable-defaults", "--collector.loadavg"]))
        .collect();
    let port = |i: usize| agents[i].addr.rsplit(':').next().unwrap().to_string();
    // A loopback address of its own, so no local resolver on :53 is in the way.
    let dns_ip = format!("127.0.{}.53", 100 + std::process::id() % 100);
    let _dns = Proc {
        child: Command::new("/usr/sbin/dnsmasq")
            .args([
                "--no-daemon",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                "--port=53",
                "--pid-file=",
            ])
            .arg(format!("--listen-address={dns_ip}"))
            .arg(format!("--srv-host=_node._tcp.lan,host1.lan,{}", port(0)))
            .arg(format!("--srv-host=_node._tcp.lan,host2.lan,{}", port(1)))
            .arg("--host-record=host1.lan,127.0.0.1")
            .arg("--host-record=host2.lan,127.0.0.1")
            .arg("--host-record=board.lan,127.0.0.1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("dnsmasq"),
        addr: format!("{dns_ip}:53"),
    };
    let resolv = dir.join("resolv.conf");
    std::fs::write(
        &resolv,
        format!("nameserver {dns_ip}\nsearch lan\noptions timeout:1\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            r#"
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: srv
    dns_sd_configs:
      - names: [_node._tcp]
        refresh_interval: 1s
    relabel_configs:
      - source_labels: [__meta_dns_srv_record_target]
        target_label: srv_target
      - source_labels: [__meta_dns_name]
        target_label: asked
  - job_name: a
    dns_sd_configs:
      - names: [board]
        type: A
        port: {p2}
      - names: [missing.lan]
        type: A
        port: 9100
    relabel_configs:
      - source_labels: [__meta_dns_name]
        target_label: asked
"#,
            p2 = port(2)
        ),
    )
    .unwrap();
    let cfg = format!("--config.file={}", dir.join("prometheus.yml").display());
    let prom_addr = format!("127.0.0.1:{}", free_port());
    let prom = Proc {
        child: with_resolv_conf(
            &resolv,
            Path::new("/usr/bin/prometheus"),
            &[
                cfg.clone(),
                format!("--storage.tsdb.path={}", dir.join("prom-data").display()),
                format!("--web.listen-address={prom_addr}"),
            ],
        )
        .spawn()
        .expect("prometheus"),
        addr: prom_addr,
    };
    let hub_addr = format!("127.0.0.1:{}", free_port());
    let hub = Proc {
        child: with_resolv_conf(
            &resolv,
            hub_bin(),
            &[
                cfg,
                format!("--storage.tsdb.path={}", dir.join("hub-data").display()),
                format!("--web.listen-address={hub_addr}"),
            ],
        )
        .spawn()
        .expect("picket-hub"),
        addr: hub_addr,
    };
    wait_http(&prom.addr, "/-/ready", Duration::from_secs(30));
    wait_http(&hub.addr, "/-/ready", Duration::from_secs(10));
    let (p, h) = until_equal(
        &prom.addr,
        &hub.addr,
        Duration::from_secs(30),
        targets,
        |t| t.0.len() >= 3,
    );
    assert_eq!(p.0.join("\n"), h.0.join("\n"), "active targets differ");
    assert_eq!(p.0.len(), 3, "{}", p.0.join("\n"));
    assert!(
        h.0.iter().any(|t| t.contains("srv_target=host1.lan.")),
        "{h:?}"
    );
    let up = "/api/v1/query?query=sum(up)";
    wait_until(
        Duration::from_secs(20),
        "all three scraped by the hub",
        || json_get(&hub.addr, up)["data"]["result"][0]["value"][1] == "3",
    );
}

/// Alertmanager discovery as Prometheus's notifier does it: static and
/// file_sd groups, path_prefix, scheme and relabel_configs (a drop, an
/// `__alerts_path__` rewrite): `/api/v1/alertmanagers` lists the same
/// active and dropped URLs on the hub and on Prometheus 2.42.
#[test]
#[ignore = "needs prometheus (tests/run.sh installs it)"]
fn alertmanager_discovery_equals_prometheus() {
    require("prometheus");
    let dir = temp_dir("am-discovery");
    std::fs::write(
        dir.join("ams.yml"),
        "- targets: ['am-c:9093', 'am-d:9093']\n  labels:\n    role: backup\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        r#"
alerting:
  alert_relabel_configs:
    - source_labels: [severity]
      regex: debug
      action: drop
  alertmanagers:
    - path_prefix: /am
      api_version: v1
      static_configs:
        - targets: ['am-a:9093', 'am-b:9093']
          labels:
            dc: one
      relabel_configs:
        - source_labels: [__address__]
          regex: 'am-b:.*'
          action: drop
    - scheme: https
      timeout: 5s
      file_sd_configs:
        - files: [ams.yml]
      relabel_configs:
        - source_labels: [__address__]
          regex: 'am-d:.*'
          action: drop
        - source_labels: [role]
          regex: backup
          target_label: __alerts_path__
          replacement: /backup/api/v2/alerts
"#,
    )
    .unwrap();
    let (prom, hub) = start_both(&dir);
    let ams = |addr: &str| -> (Vec<String>, Vec<String>) {
        let v = json_get(addr, "/api/v1/alertmanagers");
        let urls = |k: &str| {
            let mut u: Vec<String> = v["data"][k]
                .as_array()
                .map(|a| a.iter().map(|x| x["url"].to_string()).collect())
                .unwrap_or_default();
            u.sort();
            u
        };
        (urls("activeAlertmanagers"), urls("droppedAlertmanagers"))
    };
    let (p, h) = until_equal(&prom.addr, &hub.addr, Duration::from_secs(20), ams, |a| {
        a.0.len() >= 2
    });
    assert_eq!(p, h, "left Prometheus, right hub");
    assert_eq!(p.0.len(), 2, "{p:?}");
    assert!(
        p.0.iter()
            .any(|u| u.contains("https://am-c:9093/backup/api/v2/alerts")),
        "{p:?}"
    );
    assert!(
        p.0.iter()
            .any(|u| u.contains("http://am-a:9093/am/api/v1/alerts")),
        "{p:?}"
    );
}

/// SIGHUP re-reads a prometheus.yml: a new job appears; a broken edit is
/// refused (the running config stays, `prometheus_config_last_reload_successful`
/// says 0) and its error names file, line and key in the log.
#[test]
fn sighup_reloads_a_prometheus_yml() {
    let dir = temp_dir("promyml-reload");
    let cfg = dir.join("prometheus.yml");
    let job = |name: &str| {
        format!("  - job_name: {name}\n    static_configs:\n      - targets: ['127.0.0.1:1']\n")
    };
    std::fs::write(&cfg, format!("scrape_configs:\n{}", job("first"))).unwrap();
    let log = dir.join("hub.log");
    let flag = format!("--config.file={}", cfg.display());
    let hub = Launch::hub(&dir).args([flag.as_str()]).log(&log).start();
    let pools = || -> Vec<String> {
        let (a, _) = targets(&hub.addr);
        let mut p: Vec<String> = a
            .iter()
            .map(|t| t.split_whitespace().next().unwrap_or("").to_string())
            .collect();
        p.dedup();
        p
    };
    assert_eq!(pools(), ["pool=\"first\""]);
    std::fs::write(
        &cfg,
        format!("scrape_configs:\n{}{}", job("first"), job("second")),
    )
    .unwrap();
    let hup = || {
        let ok = Command::new("kill")
            .args(["-HUP", &hub.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -HUP");
    };
    hup();
    wait_until(Duration::from_secs(10), "the second job", || {
        pools().len() == 2
    });
    std::fs::write(
        &cfg,
        format!("scrape_configs:\n{}    scrape_timeout: 2m\n", job("third")),
    )
    .unwrap();
    hup();
    let reloaded = || {
        get(&hub.addr, "/metrics")
            .map(|r| r.text())
            .unwrap_or_default()
            .lines()
            .any(|l| l == "prometheus_config_last_reload_successful 0")
    };
    wait_until(Duration::from_secs(10), "the refused reload", reloaded);
    assert_eq!(pools().len(), 2, "the running jobs stay");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("prometheus.yml:5: scrape_configs[0].scrape_timeout"),
        "{text}"
    );
}

/// `scrape_config_files` (Prometheus 2.43+, so not compared with the
/// 2.42 here): the jobs of each matching file join the main file's; an
/// error in one names that file, its line and key; a job name used twice
/// across files is refused.
#[test]
fn scrape_config_files_add_jobs_and_name_their_own_errors() {
    let dir = temp_dir("scrape-config-files");
    std::fs::create_dir_all(dir.join("jobs")).unwrap();
    let main = dir.join("prometheus.yml");
    std::fs::write(
        &main,
        "scrape_config_files: ['jobs/*.yml']\nscrape_configs:\n  - job_name: main\n    static_configs: [{targets: ['127.0.0.1:1']}]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("jobs/boards.yml"),
        "scrape_configs:\n  - job_name: boards\n    static_configs:\n      - targets: ['127.0.0.1:2']\n",
    )
    .unwrap();
    let hub = Launch::hub(&dir)
        .args([format!("--config.file={}", main.display())])
        .start();
    let (active, _) = targets(&hub.addr);
    assert_eq!(active.len(), 2, "{active:?}");
    assert!(
        active.iter().any(|t| t.contains("pool=\"boards\"")),
        "{active:?}"
    );
    drop(hub);
    std::fs::write(
        dir.join("jobs/bad.yml"),
        "scrape_configs:\n  - job_name: bad\n    scrape_interval: often\n",
    )
    .unwrap();
    let (ok, err) = hub_check(&main);
    assert!(!ok);
    assert!(
        err.contains("bad.yml:3: scrape_configs[0].scrape_interval"),
        "{err}"
    );
    std::fs::write(
        dir.join("jobs/bad.yml"),
        "scrape_configs:\n  - job_name: main\n",
    )
    .unwrap();
    let (ok, err) = hub_check(&main);
    assert!(!ok);
    assert!(err.contains("bad.yml") && err.contains("\"main\""), "{err}");
}
