#!/usr/bin/env python3
"""Scrape client for tests/bench/bench.sh (stdlib only).

usage: client.py N CLK_TCK NAME=PORT=PID=BINARY NAME=PORT=PID=BINARY

Scrapes both targets N times over one keep-alive connection each, the way
Prometheus does (GET /metrics, Accept-Encoding: gzip), and prints a markdown
table: the first target is "ours" (picket), the second the reference
(node_exporter); ratios are first/second.

Order: interleaved (picket scrape i, then node_exporter scrape i). This is the
fairer choice on a shared machine: background load, CPU frequency and cache
state drift over a run, and interleaving spreads that drift evenly over both
targets instead of handing all of it to whichever runs second. Neither server
has other work while the other is being scraped (scrapes are sequential).
"""
import gzip
import base64
import http.client
import os
import ssl
import sys
import time

# BENCH_CA / BENCH_AUTH (set by bench.sh --tls): https against this CA, with
# "user:password" basic auth on every request.
CA = os.environ.get("BENCH_CA")
AUTH = os.environ.get("BENCH_AUTH")
CTX = ssl.create_default_context(cafile=CA) if CA else None
AUTH_HEADERS = {"Authorization": "Basic " + base64.b64encode(AUTH.encode()).decode()} if AUTH else {}


def connect(port, timeout):
    if CTX:
        return http.client.HTTPSConnection("localhost", port, timeout=timeout, context=CTX)
    return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

WARMUP = 10
GZIP = {"Accept-Encoding": "gzip"}
MIB = 1024 * 1024


class Target:
    def __init__(self, spec):
        self.name, port, pid, self.binary = spec.split("=", 3)
        self.port, self.pid = int(port), int(pid)
        self.conn = connect(self.port, 30)
        self.connections = 0  # TCP connections opened (1 if keep-alive holds)
        self.lat_ms = []

    def alive(self):
        return os.path.exists(f"/proc/{self.pid}")

    def get(self, headers):
        if self.conn.sock is None:
            self.connections += 1
        try:
            self.conn.request("GET", "/metrics", headers={**headers, **AUTH_HEADERS})
            r = self.conn.getresponse()
            body = r.read()
        except (OSError, http.client.HTTPException) as e:
            self.conn.close()
            state = "running" if self.alive() else "exited"
            sys.exit(f"client.py: {self.name} (pid {self.pid}, {state}): {e!r}")
        if r.status != 200:
            sys.exit(f"client.py: {self.name}: HTTP {r.status}")
        return r, body

    def scrape(self):
        t0 = time.perf_counter_ns()
        r, body = self.get(GZIP)
        self.lat_ms.append((time.perf_counter_ns() - t0) / 1e6)
        return r, body

    def cpu_split(self):
        """(utime, stime) ticks: fields 14 and 15 of /proc/PID/stat."""
        with open(f"/proc/{self.pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]), int(rest[12])

    def cpu_ticks(self):
        return sum(self.cpu_split())

    def status_kib(self, key):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return 0


def wait_ready(t, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not t.alive():
            sys.exit(f"client.py: {t.name} (pid {t.pid}) exited before serving /metrics")
        try:
            c = connect(t.port, 5)
            c.request("GET", "/metrics", headers=AUTH_HEADERS)
            if c.getresponse().status == 200:
                c.close()
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"client.py: {t.name} did not answer /metrics on port {t.port} within {timeout}s")


def pct(values, p):
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, min(len(s) - 1, -(-len(s) * p // 100) - 1))]


def samples(body):
    return sum(1 for l in body.decode().splitlines() if l and not l.startswith("#"))


def durations(body):
    """collector -> node_scrape_collector_duration_seconds, in ms."""
    out = {}
    for line in body.decode().splitlines():
        if line.startswith('node_scrape_collector_duration_seconds{collector="'):
            name = line.split('"')[1]
            out[name] = float(line.rsplit(None, 1)[1]) * 1000
    return out


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    n, clk_tck = int(sys.argv[1]), int(sys.argv[2])
    ts = [Target(s) for s in sys.argv[3:5]]
    for t in ts:
        wait_ready(t)

    for _ in range(WARMUP):
        for t in ts:
            t.get(GZIP)
    rss0 = [t.status_kib("VmRSS") for t in ts]
    cpu0 = [t.cpu_ticks() for t in ts]
    split0 = [t.cpu_split() for t in ts]
    last = {}
    for _ in range(n):
        for t in ts:
            last[t.name] = t.scrape()
    cpu = [(t.cpu_ticks() - c) / clk_tck / n for t, c in zip(ts, cpu0)]
    split1 = [t.cpu_split() for t in ts]
    ucpu = [(b[0] - a[0]) / clk_tck / n for a, b in zip(split0, split1)]
    scpu = [(b[1] - a[1]) / clk_tck / n for a, b in zip(split0, split1)]
    rss = [t.status_kib("VmRSS") for t in ts]
    hwm = [t.status_kib("VmHWM") for t in ts]

    # One extra request each, after the measurements: the uncompressed size.
    gz, plain, count, enc, dur = [], [], [], [], []
    for t in ts:
        r, body = last[t.name]
        enc.append(r.getheader("Content-Encoding") or "none")
        gz.append(len(body))
        _, pbody = t.get({})  # http.client sends Accept-Encoding: identity
        plain.append(len(pbody))
        count.append(samples(pbody))
        dur.append(durations(pbody))
        if enc[-1] == "gzip":
            gzip.decompress(body)  # a broken gzip stream fails the run here
    size = [os.path.getsize(t.binary) for t in ts]
    p50 = [pct(t.lat_ms, 50) for t in ts]
    p99 = [pct(t.lat_ms, 99) for t in ts]

    a, b = ts
    print(f"| metric | {a.name} | {b.name} | ratio | target | |")
    print("|---|---:|---:|---:|---|---|")

    def row(label, vals, fmt, target=None, absolute=None):
        ratio = vals[0] / vals[1] if vals[1] else float("inf")
        if target is not None:
            goal, ok = f"ratio ≤ {target:g}", ratio <= target
        elif absolute is not None:
            goal, ok = absolute
        else:
            goal, ok = "", None
        verdict = "" if ok is None else ("PASS" if ok else "FAIL")
        print(f"| {label} | {fmt(vals[0])} | {fmt(vals[1])} | {ratio:.3f} | {goal} | {verdict} |")

    mib = lambda kib: f"{kib / 1024:.2f} MiB"
    ms = lambda v: f"{v:.3f} ms"
    num = lambda v: f"{v:,}"
    row(f"RSS after {n} scrapes (VmRSS)", rss, mib, target=0.25)
    row("RSS peak (VmHWM)", hwm, mib)
    row("RSS after warm-up (VmRSS)", rss0, mib)
    row("CPU per scrape (utime+stime)", [c * 1000 for c in cpu], ms, target=0.2)
    row("  of which user (utime)", [c * 1000 for c in ucpu], ms)
    row("  of which kernel (stime)", [c * 1000 for c in scpu], ms)
    row("scrape latency p50", p50, ms, target=0.2)
    row("scrape latency p99", p99, ms)
    row("response bytes, gzip", gz, num)
    row("response bytes, plain", plain, num)
    row("samples (non-# lines)", count, num)
    limit = 2 * MIB
    row("release binary size", size, lambda v: f"{v:,} B",
        absolute=(f"{a.name} ≤ 2 MiB (2,097,152 B)", size[0] <= limit))
    print()
    print(f"Content-Encoding of timed scrapes: {a.name} {enc[0]}, {b.name} {enc[1]}; "
          f"TCP connections used: {a.name} {a.connections}, {b.name} {b.connections} "
          f"(1 = keep-alive held for all {n + WARMUP + 1} requests).")
    # Where the time goes: each exporter's own per-collector timing, from the
    # one plain scrape above (indicative only: a single sample).
    top = sorted(dur[0], key=lambda c: -dur[0][c])[:8]
    if top:
        print()
        print(f"Slowest {a.name} collectors in one scrape "
              f"(node_scrape_collector_duration_seconds, ms; {b.name} alongside):")
        print()
        print(f"| collector | {a.name} ms | {b.name} ms |")
        print("|---|---:|---:|")
        for c in top:
            other = f"{dur[1][c]:.3f}" if c in dur[1] else "-"
            print(f"| {c} | {dur[0][c]:.3f} | {other} |")
    if CTX:
        # The cost of a new connection: TCP + TLS handshake + one
        # authenticated request for "/" (small), 200 times each, interleaved.
        new = {t.name: [] for t in ts}
        cpu_new0 = [t.cpu_ticks() for t in ts]
        for _ in range(200):
            for t in ts:
                t0 = time.perf_counter_ns()
                c = connect(t.port, 10)
                c.request("GET", "/", headers=AUTH_HEADERS)
                c.getresponse().read()
                c.close()
                new[t.name].append((time.perf_counter_ns() - t0) / 1e6)
        cpu_new = [(t.cpu_ticks() - c) / clk_tck / 200 * 1000 for t, c in zip(ts, cpu_new0)]
        print()
        print("New connections (TCP + TLS handshake + one authenticated GET /), 200 each:")
        print()
        print(f"| metric | {a.name} | {b.name} | ratio |")
        print("|---|---:|---:|---:|")
        m = [pct(new[t.name], 50) for t in ts]
        print(f"| latency p50 | {m[0]:.3f} ms | {m[1]:.3f} ms | {m[0] / m[1]:.3f} |")
        m = [pct(new[t.name], 99) for t in ts]
        print(f"| latency p99 | {m[0]:.3f} ms | {m[1]:.3f} ms | {m[0] / m[1]:.3f} |")
        print(f"| server CPU per connection | {cpu_new[0]:.3f} ms | {cpu_new[1]:.3f} ms | "
              f"{cpu_new[0] / cpu_new[1] if cpu_new[1] else float('inf'):.3f} |")
    print()
    print(f"CPU ticks: {clk_tck}/s, so CPU per scrape resolves to "
          f"{1000 / clk_tck / n:.4f} ms over {n} scrapes.")


if __name__ == "__main__":
    main()
