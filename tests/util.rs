//! Helpers: run the real binary, find free ports, speak raw HTTP.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The agent binary of this `cargo test` run.
pub fn picket_bin() -> &'static Path {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| workspace_bin("picket", option_env!("CARGO_BIN_EXE_picket")))
}

/// The hub binary of this `cargo test` run.
pub fn hub_bin() -> &'static Path {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| workspace_bin("picket-hub", option_env!("CARGO_BIN_EXE_picket-hub")))
}

/// A command for the agent binary, run from the repository root (paths in
/// golden files and configs are relative to it).
pub fn picket_cmd() -> Command {
    let mut c = Command::new(picket_bin());
    c.current_dir(repo());
    c
}

/// A command for the hub binary, run from the repository root.
pub fn hub_cmd() -> Command {
    let mut c = Command::new(hub_bin());
    c.current_dir(repo());
    c
}

/// `--help` of `cmd`, checked the way users meet it: its text (exit 0),
/// and a reader that closes the pipe at once (`picket --help | head -0`)
/// gets a quiet exit 0, not a panic.
pub fn help_of(mut cmd: impl FnMut() -> Command) -> String {
    let out = cmd().arg("--help").output().expect("run --help");
    assert!(out.status.success(), "--help exit {:?}", out.status);
    let mut child = cmd()
        .arg("--help")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn --help");
    drop(child.stdout.take());
    let closed = child.wait_with_output().expect("wait --help");
    let err = String::from_utf8_lossy(&closed.stderr);
    assert!(
        closed.status.success() && err.is_empty(),
        "--help into a closed pipe: {:?}: {err}",
        closed.status
    );
    String::from_utf8(out.stdout).expect("utf-8 help")
}

/// A binary of the workspace. Cargo names its own package's binaries to
/// its tests (`CARGO_BIN_EXE_*`); the other package's binary is beside
/// them in the target directory, built by the same `cargo test
/// --workspace` (cargo builds a package's binaries before any test runs
/// when that package has integration tests, and both packages have).
fn workspace_bin(name: &str, own: Option<&str>) -> PathBuf {
    if let Some(p) = own {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<test binary> → target/<profile>/<name>
    let exe = std::env::current_exe().expect("test binary path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join(name))
        .expect("target directory");
    assert!(
        bin.exists(),
        "{} is not built: run the tests with `cargo test --workspace` \
         (tests/run.sh does), which builds both binaries",
        bin.display()
    );
    bin
}

/// The repository root (the workspace's; each test crate's manifest is
/// at src/<crate>/).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// A fixture path under tests/fixtures.
pub fn fixture(rel: &str) -> PathBuf {
    repo().join("tests/fixtures").join(rel)
}

/// Runs picket with `args` to completion.
pub fn picket(args: &[&str]) -> Output {
    picket_cmd().args(args).output().expect("run picket")
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A child process that is killed when dropped.
pub struct Proc {
    pub child: Child,
    pub addr: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// The one way tests start picket or picket-hub: from the repository
/// root, on a free loopback port (or [`Launch::at`] a given address),
/// stdout dropped, stderr dropped or kept ([`Launch::log`]);
/// [`Launch::start`] waits until the binary answers its readiness path.
pub struct Launch {
    cmd: Command,
    addr: String,
    ready: &'static str,
    stderr: Stdio,
    /// Behind a web config: ready when its port accepts connections.
    secured: bool,
}

impl Launch {
    /// The agent; ready when `/healthz` answers. Its stderr is piped
    /// (readable from [`Proc::child`]) unless [`Launch::log`] or
    /// [`Launch::quiet`] says otherwise.
    pub fn agent() -> Launch {
        Launch::new(picket_cmd(), "/healthz", Stdio::piped())
    }

    /// The hub with its data in `<dir>/data`; ready when `/-/ready` answers.
    pub fn hub(dir: &Path) -> Launch {
        let mut l = Launch::new(hub_cmd(), "/-/ready", Stdio::null());
        l.cmd.arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ));
        l
    }

    fn new(cmd: Command, ready: &'static str, stderr: Stdio) -> Launch {
        Launch {
            cmd,
            addr: format!("127.0.0.1:{}", free_port()),
            ready,
            stderr,
            secured: false,
        }
    }

    /// Listens on `addr` instead of a free port.
    pub fn at(mut self, addr: &str) -> Launch {
        self.addr = addr.to_string();
        self
    }

    /// Extra arguments.
    pub fn args<S: AsRef<std::ffi::OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Launch {
        for a in args {
            let a = a.as_ref();
            self.secured |= a.to_string_lossy().starts_with("--web.config.file");
            self.cmd.arg(a);
        }
        self
    }

    /// Extra environment variables.
    pub fn envs<'a>(mut self, env: impl IntoIterator<Item = (&'a str, &'a str)>) -> Launch {
        self.cmd.envs(env);
        self
    }

    /// Environment variables the child must not inherit.
    pub fn env_remove(mut self, names: &[&str]) -> Launch {
        for n in names {
            self.cmd.env_remove(n);
        }
        self
    }

    /// Keeps stderr in the file `log`.
    pub fn log(mut self, log: &Path) -> Launch {
        self.stderr = Stdio::from(std::fs::File::create(log).expect("log file"));
        self
    }

    /// Drops stderr.
    pub fn quiet(mut self) -> Launch {
        self.stderr = Stdio::null();
        self
    }

    /// Spawns and waits (10 s at most) until the binary is ready.
    pub fn start(mut self) -> Proc {
        let child = self
            .cmd
            .arg(format!("--web.listen-address={}", self.addr))
            .stdout(Stdio::null())
            .stderr(self.stderr)
            .spawn()
            .expect("spawn");
        let p = Proc {
            child,
            addr: self.addr,
        };
        if self.secured {
            wait_listening(&p.addr, Duration::from_secs(10));
        } else {
            wait_http(&p.addr, self.ready, Duration::from_secs(10));
        }
        p
    }
}

/// The agent on a free loopback port with extra `args`, once /healthz
/// answers.
pub fn start_picket(args: &[&str]) -> Proc {
    Launch::agent().args(args).start()
}

/// Starts the real Prometheus on `addr` with `<dir>/prometheus.yml` and its
/// data in `<dir>/data`, plus `extra` flags, and waits until it is ready.
pub fn start_prometheus(dir: &Path, addr: &str, extra: &[&str]) -> Proc {
    let child = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn prometheus");
    let p = Proc {
        child,
        addr: addr.to_string(),
    };
    if extra.iter().any(|a| a.starts_with("--web.config.file")) {
        wait_listening(addr, Duration::from_secs(30));
    } else {
        wait_http(addr, "/-/ready", Duration::from_secs(30));
    }
    p
}

/// `promtool query instant` against the Prometheus at `addr`; its stdout.
pub fn promql(addr: &str, q: &str) -> String {
    let out = Command::new("promtool")
        .args(["query", "instant", &format!("http://{addr}"), q])
        .output()
        .expect("promtool query");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The one wait loop: polls `f` every `every` until it gives `Ok`, and
/// returns that; after `limit` fails the test naming `what` and the last
/// `Err` (what was seen instead).
pub fn poll<T>(
    what: &str,
    limit: Duration,
    every: Duration,
    mut f: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    loop {
        match f() {
            Ok(v) => return v,
            Err(seen) => assert!(
                start.elapsed() < limit,
                "timed out waiting for {what}{}{seen}",
                if seen.is_empty() { "" } else { ": " }
            ),
        }
        std::thread::sleep(every);
    }
}

/// [`poll`] every 50 ms until `f` gives `Some`.
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    poll(what, limit, Duration::from_millis(50), || {
        f().ok_or_else(String::new)
    })
}

/// [`wait_for`] a condition.
pub fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    wait_for(what, limit, || f().then_some(()))
}

/// Polls `path` on `addr` until it answers 200 or `limit` passes.
pub fn wait_http(addr: &str, path: &str, limit: Duration) {
    wait_until(limit, &format!("{addr}{path} to answer 200"), || {
        get(addr, path).is_ok_and(|r| r.status == 200)
    })
}

/// Waits until `addr` accepts connections (a server behind a web config
/// speaks TLS or wants credentials: its port being open is its readiness).
pub fn wait_listening(addr: &str, limit: Duration) {
    wait_until(limit, &format!("{addr} to accept connections"), || {
        TcpStream::connect(addr).is_ok()
    })
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// GET `path` with `Connection: close`.
pub fn get(addr: &str, path: &str) -> std::io::Result<Response> {
    raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// Sends `request` bytes as they are and reads the response to EOF.
pub fn raw(addr: &str, request: &[u8]) -> std::io::Result<Response> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    s.write_all(request)?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    parse_response(&buf)
}

/// Parses one response from `buf` (Content-Length framing).
pub fn parse_response(buf: &[u8]) -> std::io::Result<Response> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no header end"))?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("no status line"))?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = buf[end + 4..].to_vec();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body).ok_or_else(|| bad("bad chunked body"))?;
    }
    if let Some(len) = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        body.truncate(len);
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Decodes a chunked body (Go's net/http sends large responses this way).
fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n")?;
        let size_field = std::str::from_utf8(&b[..line_end]).ok()?;
        let size = usize::from_str_radix(size_field.split(';').next()?.trim(), 16).ok()?;
        b = &b[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

/// Whether a program is on PATH.
pub fn have(prog: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {prog}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Panics with a clear message when a peer program is missing.
pub fn require(prog: &str) {
    assert!(
        have(prog),
        "{prog} is not installed: run tests/run.sh, which installs the test peers"
    );
}

/// Writes `text` to a new temp dir's `name`, returning the dir and path.
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "picket-test-{tag}-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos() ^ rand_ish()
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn rand_ish() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// An exposition line from its metric name on: a sample line as it is,
/// a `# HELP` or `# TYPE` line without that prefix.
pub fn series_part(line: &str) -> &str {
    line.strip_prefix("# HELP ")
        .or_else(|| line.strip_prefix("# TYPE "))
        .unwrap_or(line)
}

/// Lines of an exposition with volatile series removed (for golden files):
/// durations, self metrics, wall-clock time and what depends on the disk
/// the test runs on.
pub fn stable_lines(text: &str, volatile: &[&str]) -> String {
    text.lines()
        .filter(|l| !volatile.iter().any(|v| series_part(l).starts_with(v)))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Path helper for messages.
pub fn show(p: &Path) -> String {
    p.display().to_string()
}

/// Directories git cannot store (empty ones) that a real board has.
pub fn prepare_fixtures() {
    // A Pi 4 has an empty /sys/class/power_supply: powersupplyclass succeeds with no series.
    let _ = std::fs::create_dir_all(fixture("pi4/sys/class/power_supply"));
}

pub fn tree_args(tree: &str) -> Vec<String> {
    prepare_fixtures();
    let mut a = vec![
        format!(
            "--path.procfs={}",
            fixture(&format!("{tree}/proc")).display()
        ),
        format!("--path.sysfs={}", fixture(&format!("{tree}/sys")).display()),
        "--collector.processes".into(),
        "--collector.interrupts".into(),
        "--collector.tcpstat".into(),
        "--collector.rpi".into(),
        // Relative (tests run from the repository root): the textfile
        // collector puts the path into HELP texts, and the golden file must
        // not depend on where the checkout is.
        "--collector.textfile.directory=tests/fixtures/textfile/good".into(),
    ];
    let rootfs = fixture(&format!("{tree}/rootfs"));
    if rootfs.is_dir() {
        a.push(format!("--path.rootfs={}", rootfs.display()));
    }
    a
}

/// Starts the real node_exporter on a free loopback port with `args`.
pub fn start_node_exporter(args: &[&str]) -> Proc {
    start_node_exporter_env(args, &[])
}

/// [`start_node_exporter`] with extra environment variables.
pub fn start_node_exporter_env(args: &[&str], env: &[(&str, &str)]) -> Proc {
    require(NODE_EXPORTER);
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(NODE_EXPORTER)
        .arg(format!("--web.listen-address={addr}"))
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn node_exporter");
    let p = Proc { child, addr };
    if args.iter().any(|a| a.starts_with("--web.config.file")) {
        wait_listening(&p.addr, Duration::from_secs(15));
    } else {
        wait_http(&p.addr, "/metrics", Duration::from_secs(15));
    }
    p
}

pub const NODE_EXPORTER: &str = "prometheus-node-exporter";

/// A real HAProxy with `<dir>/haproxy.cfg` holding `config` (whose
/// frontend binds 127.0.0.1:`port`), once that port accepts connections.
pub fn start_haproxy(dir: &Path, port: u16, config: &str) -> Proc {
    require("haproxy");
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(&cfg, config).expect("write haproxy.cfg");
    let child = Command::new("haproxy")
        .args(["-db", "-f"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn haproxy");
    let p = Proc {
        child,
        addr: format!("127.0.0.1:{port}"),
    };
    wait_listening(&p.addr, Duration::from_secs(10));
    p
}

/// A bcrypt hash of `password` made by Apache's htpasswd (cost 10), as
/// exporter-toolkit's docs make them for a web config's basic_auth_users.
pub fn htpasswd(password: &str) -> String {
    require("htpasswd");
    let out = Command::new("htpasswd")
        .args(["-nbBC", "10", "", password])
        .output()
        .expect("htpasswd");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_start_matches(':')
        .to_string()
}

/// Runs `openssl` with `args` in `dir`; panics with its stderr on failure.
pub fn openssl(dir: &Path, args: &[&str]) -> String {
    require("openssl");
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A throwaway CA in `dir` (`<name>.pem`, `<name>.key`), P-256, one day.
/// The config file is our own, so the system's openssl.cnf does not matter.
pub fn make_ca(dir: &Path, name: &str) {
    let cnf = format!("{name}.cnf");
    std::fs::write(
        dir.join(&cnf),
        format!(
            "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = picket test {name}\n\
             [v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n\
             subjectKeyIdentifier = hash\n"
        ),
    )
    .expect("ca cnf");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-config",
            &cnf,
            "-extensions",
            "v3_ca",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

/// `server.pem` / `server.key` in `dir`, signed by CA `ca`, for
/// 127.0.0.1 and localhost (rustls checks subjectAltName only, never the
/// CN).
pub fn make_server_cert(dir: &Path, ca: &str) {
    make_leaf(
        dir,
        ca,
        "server",
        "serverAuth",
        "IP:127.0.0.1,DNS:localhost",
    );
}

/// `<name>.pem` / `<name>.key` in `dir`: a client certificate signed by
/// CA `ca`, with subjectAltName `DNS:<name>`.
pub fn make_client_cert(dir: &Path, ca: &str, name: &str) {
    make_leaf(dir, ca, name, "clientAuth", &format!("DNS:{name}"));
}

/// A leaf certificate `<name>.pem` / `<name>.key`, P-256, one day.
pub fn make_leaf(dir: &Path, ca: &str, name: &str, usage: &str, san: &str) {
    let cnf = format!("{name}.cnf");
    std::fs::write(
        dir.join(&cnf),
        format!(
            "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = {name}\n\
             [leaf]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n\
             extendedKeyUsage = {usage}\nsubjectAltName = {san}\n\
             authorityKeyIdentifier = keyid\n"
        ),
    )
    .expect("leaf cnf");
    let (key, csr, pem) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-config",
            &cnf,
            "-keyout",
            &key,
            "-out",
            &csr,
        ],
    );
    let serial = format!(
        "{}",
        2 + name.len() * 7 + name.bytes().map(usize::from).sum::<usize>()
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-set_serial",
            &serial,
            "-days",
            "1",
            "-extfile",
            &cnf,
            "-extensions",
            "leaf",
            "-out",
            &pem,
        ],
    );
}
