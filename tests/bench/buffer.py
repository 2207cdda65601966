#!/usr/bin/env python3
"""Buffer benchmark: picket's SQLite buffer against Prometheus agent mode's WAL
(stdlib only; driven by tests/bench/buffer.sh, which builds and finds binaries).

usage: buffer.py PICKET PROMETHEUS INTERVALS SERIES...

For each load (SERIES = series per collection, e.g. 1000 and 10000), in one run:

1. Buffering. The receiver is down (a closed port). Side by side:
   - picket pushes every `interval` and buffers what it cannot deliver;
   - Prometheus in agent mode scrapes a second picket (pull only, same
     collectors and textfiles) every `interval` and keeps its WAL.
   Both run under `strace -f --seccomp-bpf -c` for their fsync calls.
   Time is compressed: INTERVALS collections at 0.5 s stand for INTERVALS
   collections at 15 s (240 = one hour). Per-hour figures are per-interval
   figures times 240.
2. Draining. A local receiver comes up on the port (it reads each request
   and answers 204; a small Python server). Throughput = the backlog when the
   receiver came up / time from its first request until the sender's backlog
   is gone (picket: picket_buffer_samples == 0; Prometheus: its
   prometheus_remote_storage_samples_total has grown by the backlog).

The load: the node collectors of this machine plus a textfile of synthetic
series, rewritten every interval, to make up SERIES: a quarter each of
byte-like integer counters, float seconds counters, constant gauges and noisy
float gauges. That is harsher than node_exporter output (fewer constants).
"""
import http.client
import http.server
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

INTERVAL = 0.5  # seconds between collections (stands for 15 s)
REAL_INTERVAL = 15.0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def get(port, path, timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.read().decode("utf-8", "replace")
    finally:
        c.close()


def metric(text, name, must=None):
    """Sum of the samples of `name` whose label set contains `must`."""
    total, found = 0.0, False
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {"):
            if must and must not in line:
                continue
            total += float(line.rsplit(" ", 1)[1])
            found = True
    return total if found else None


def wait(what, f, limit=60.0, step=0.1):
    end = time.time() + limit
    while time.time() < end:
        try:
            v = f()
            if v:
                return v
        except OSError:
            pass
        time.sleep(step)
    raise SystemExit(f"buffer.py: timed out waiting for {what}")


class Textfile(threading.Thread):
    """Rewrites DIR/bench.prom every interval with `n` synthetic series."""

    def __init__(self, path, n):
        super().__init__(daemon=True)
        self.path, self.n = path, n
        self.rng = random.Random(42)
        self.counters = [0.0] * n
        self.stop = threading.Event()
        self.write()

    def write(self):
        out = []
        for kind, name, help_, typ in (
            (0, "bench_bytes_total", "Byte-like counter.", "counter"),
            (1, "bench_seconds_total", "Seconds counter.", "counter"),
            (2, "bench_info_value", "Constant gauge.", "gauge"),
            (3, "bench_temperature_celsius", "Noisy gauge.", "gauge"),
        ):
            out.append(f"# HELP {name} {help_}\n# TYPE {name} {typ}\n")
            for i in range(kind, self.n, 4):
                if kind == 0:
                    self.counters[i] += self.rng.randrange(0, 200_000)
                    v = repr(int(self.counters[i]))
                elif kind == 1:
                    self.counters[i] += self.rng.random() * 0.5
                    v = repr(round(self.counters[i], 2))
                elif kind == 2:
                    v = repr(i % 97)
                else:
                    v = repr(round(40 + self.rng.random() * 5, 3))
                out.append(f'{name}{{device="dev{i}",instance_id="{i % 13}"}} {v}\n')
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write("".join(out))
        os.rename(tmp, self.path)

    def run(self):
        while not self.stop.wait(INTERVAL):
            self.write()


class Receiver:
    """A remote_write receiver that reads each request and answers 204."""

    def __init__(self, port):
        self.first = None
        self.requests = 0
        self.bytes = 0
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                self.rfile.read(n)
                if outer.first is None:
                    outer.first = time.time()
                outer.requests += 1
                outer.bytes += n
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


class Proc:
    """A program under `strace -f -c` for its sync calls."""

    def __init__(self, name, argv, tmp):
        self.name = name
        self.trace = os.path.join(tmp, f"{name}.strace")
        self.log = open(os.path.join(tmp, f"{name}.log"), "w")
        cmd = ["strace", "-f", "--seccomp-bpf", "-c", "-o", self.trace,
               "-e", "trace=fsync,fdatasync,sync_file_range,syncfs,msync", *argv]
        self.p = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        exe = os.path.realpath(argv[0])

        def child():
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    try:
                        with open(f"/proc/{pid}/stat") as f:
                            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                        if ppid == self.p.pid and os.path.realpath(f"/proc/{pid}/exe") == exe:
                            return int(pid)
                    except (OSError, ValueError, IndexError):
                        pass
            return None

        self.pid = wait(f"{name} to start", child, 10, 0.02)

    def io(self):
        vals = {}
        with open(f"/proc/{self.pid}/io") as f:
            for line in f:
                k, v = line.split(":")
                vals[k] = int(v)
        return vals

    def stop(self):
        """SIGTERM, then the fsync count strace saw."""
        os.kill(self.pid, signal.SIGTERM)
        self.p.wait(20)
        self.log.close()
        syncs = 0
        with open(self.trace) as f:
            for line in f:
                m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$", line)
                if m and m.group(2) in ("fsync", "fdatasync", "sync_file_range", "syncfs", "msync"):
                    syncs += int(m.group(1))
        return syncs


def dir_bytes(path):
    """(apparent bytes, allocated bytes) of everything under path."""
    app = alloc = 0
    for root, _, files in os.walk(path):
        for f in files:
            st = os.stat(os.path.join(root, f))
            app += st.st_size
            alloc += st.st_blocks * 512
    return app, alloc


def run_load(picket, prometheus, intervals, series, tmp):
    tdir = os.path.join(tmp, f"textfile-{series}")
    os.makedirs(tdir)
    node = len([l for l in subprocess.run([picket, "once"], capture_output=True, text=True).stdout.splitlines()
                if l and not l.startswith("#")])
    synth = max(0, series - node)
    tf = Textfile(os.path.join(tdir, "bench.prom"), synth)
    tf.start()

    # One closed port per sender, so each drains alone to its own receiver.
    dead, dead_prom = free_port(), free_port()
    url = f"http://127.0.0.1:{dead}/api/v1/write"
    url_prom = f"http://127.0.0.1:{dead_prom}/api/v1/write"
    p_push, p_pull, p_prom = free_port(), free_port(), free_port()
    common = [f"--collector.textfile.directory={tdir}", "--log.level=warn"]

    pbuf = os.path.join(tmp, f"picket-buffer-{series}")
    cfg = os.path.join(tmp, f"picket-{series}.toml")
    with open(cfg, "w") as f:
        f.write(f'[push]\ninterval = "{int(INTERVAL * 1000)}ms"\nbuffer_path = "{pbuf}"\n'
                f'[[push.remote_write]]\nurl = "{url}"\nmin_backoff = "100ms"\nmax_backoff = "1s"\n')
    pull = subprocess.Popen([picket, f"--web.listen-address=127.0.0.1:{p_pull}", *common],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pdata = os.path.join(tmp, f"prom-agent-{series}")
    pcfg = os.path.join(tmp, f"prom-{series}.yml")
    with open(pcfg, "w") as f:
        f.write(f"global:\n  scrape_interval: {int(INTERVAL * 1000)}ms\n  scrape_timeout: {int(INTERVAL * 900)}ms\n"
                f"scrape_configs:\n  - job_name: picket\n    static_configs: [{{targets: ['127.0.0.1:{p_pull}']}}]\n"
                f"remote_write:\n  - url: {url_prom}\n    queue_config: {{min_backoff: 100ms, max_backoff: 1s}}\n")
    wait("pull picket", lambda: get(p_pull, "/metrics?collect[]=loadavg"))

    push = Proc(f"picket-{series}", [picket, f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{p_push}",
                                     *common], tmp)
    prom = Proc(f"prometheus-{series}", [prometheus, "--enable-feature=agent", f"--config.file={pcfg}",
                                         f"--storage.agent.path={pdata}", f"--web.listen-address=127.0.0.1:{p_prom}",
                                         "--log.level=warn"], tmp)
    wait("picket push telemetry", lambda: get(p_push, "/metrics?collect[]=loadavg"))
    wait("prometheus", lambda: get(p_prom, "/metrics"))
    io0 = {"picket": push.io(), "prometheus": prom.io()}
    t0 = time.time()

    ptel = lambda: get(p_push, "/metrics?collect[]=loadavg")
    label = f'url="{url}"'
    # Buffering: wait for `intervals` batches in picket's buffer.
    wait(f"{intervals} buffered batches", lambda: (metric(ptel(), "picket_buffer_batches", label) or 0) >= intervals,
         intervals * INTERVAL * 3 + 30, 0.2)
    elapsed = time.time() - t0
    io1 = {"picket": push.io(), "prometheus": prom.io()}
    tel = ptel()
    p_samples = metric(tel, "picket_buffer_samples", label)
    p_batches = metric(tel, "picket_buffer_batches", label)
    pm = get(p_prom, "/metrics")
    appended = metric(pm, "prometheus_agent_samples_appended_total")
    sent0 = metric(pm, "prometheus_remote_storage_samples_total") or 0.0
    # Intervals between scrapes, plus the first scrape.
    scrapes = (metric(pm, "prometheus_target_interval_length_seconds_count") or 0.0) + 1
    p_disk = dir_bytes(pbuf)
    w_disk = dir_bytes(os.path.join(pdata, "wal"))
    rows = {
        "series per collection": (p_samples / p_batches, (appended or 0) / max(scrapes, 1)),
        "collections buffered": (p_batches, scrapes),
        "samples buffered": (p_samples, appended),
    }

    # Drain, one sender at a time: its receiver comes up on its closed port.
    rcv = Receiver(dead)
    t_r = time.time()
    wait("picket drain", lambda: metric(ptel(), "picket_buffer_samples", label) == 0, 300, 0.01)
    p_end = time.time()
    p_first = rcv.first or t_r
    picket_rate = p_samples / max(p_end - p_first, 1e-6)
    rcv.close()
    # Prometheus: its own counter tells how much it has sent.
    pm = get(p_prom, "/metrics")
    prom_backlog = (metric(pm, "prometheus_agent_samples_appended_total") or 0) - sent0
    rcv = Receiver(dead_prom)
    t_r = time.time()
    wait("prometheus drain",
         lambda: (metric(get(p_prom, "/metrics"), "prometheus_remote_storage_samples_total") or 0) - sent0 >= prom_backlog,
         300, 0.01)
    prom_end = time.time()
    prom_rate = prom_backlog / max(prom_end - (rcv.first or t_r), 1e-6)

    tf.stop.set()
    fsyncs = {"picket": push.stop(), "prometheus": prom.stop()}
    pull.terminate()
    pull.wait(10)
    rcv.close()

    per_int = lambda who, k: (io1[who][k] - io0[who][k]) / max(rows["collections buffered"][0 if who == "picket" else 1], 1)
    hour = 3600 / REAL_INTERVAL
    rows.update({
        "bytes on disk / sample (files, apparent)": (p_disk[0] / p_samples, w_disk[0] / max(appended or 1, 1)),
        "bytes on disk / sample (allocated blocks)": (p_disk[1] / p_samples, w_disk[1] / max(appended or 1, 1)),
        "bytes written / hour (write_bytes)": (per_int("picket", "write_bytes") * hour,
                                                per_int("prometheus", "write_bytes") * hour),
        "bytes written / hour (wchar)": (per_int("picket", "wchar") * hour, per_int("prometheus", "wchar") * hour),
        "fsyncs / interval": (fsyncs["picket"] / max(p_batches, 1), fsyncs["prometheus"] / max(scrapes, 1)),
        "drain, samples/s": (picket_rate, prom_rate),
    })
    return rows, elapsed, node, synth


def fmt(v):
    if v is None:
        return "n/a"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.2f}"


def main():
    if len(sys.argv) < 5:
        raise SystemExit(__doc__)
    picket, prometheus, intervals = sys.argv[1], sys.argv[2], int(sys.argv[3])
    loads = [int(s) for s in sys.argv[4:]]
    targets = {
        "bytes on disk / sample (files, apparent)": (4.0, "≤ 4"),
        "fsyncs / interval": (1.0, "≤ 1"),
        "drain, samples/s": (500_000, "≥ 500,000"),
    }
    tmp = tempfile.mkdtemp(prefix="picket-bench-buffer-")
    try:
        for series in loads:
            rows, elapsed, node, synth = run_load(picket, prometheus, intervals, series, tmp)
            print(f"### {series} series per collection, {intervals} collections "
                  f"(stand for {intervals * REAL_INTERVAL / 3600:.2f} h at 15 s; ran {elapsed:.0f} s at {INTERVAL} s)")
            print()
            print(f"- load: {node} node series of this machine + {synth} synthetic textfile series")
            print()
            print("| | picket | Prometheus agent | ratio | target (picket) |")
            print("|---|---:|---:|---:|---|")
            for k, (a, b) in rows.items():
                ratio = f"{a / b:.2f}" if a is not None and b else "n/a"
                tgt = ""
                if k in targets:
                    lim, text = targets[k]
                    ok = a <= lim if text.startswith("≤") else a >= lim
                    tgt = f"{text}: {'PASS' if ok else 'FAIL'}"
                print(f"| {k} | {fmt(a)} | {fmt(b)} | {ratio} | {tgt} |")
            print()
            sys.stdout.flush()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
