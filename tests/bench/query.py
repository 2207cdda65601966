#!/usr/bin/env python3
"""Dashboard 1860's panel queries on picket-hub and on a real Prometheus
holding the same data, in one run. Prints markdown.

    query.py HUB_BIN RW_LOAD NODE_EXPORTER PROMETHEUS DASHBOARD BOARDS REPS

Both servers receive the same remote_write stream (BOARDS boards shaped on
this machine's node_exporter, one day at 15 s: yesterday UTC) and settle
(picket-hub seals and compacts the day; Prometheus compacts its head into
blocks). Then every panel expression of DASHBOARD (Grafana's variables set
for one board, `$__rate_interval` = 1m0s as Grafana computes it for a 15 s
step and 15 s scrapes) runs as /api/v1/query_range over the whole day at a
15 s step (5,761 points), as a form POST the way Grafana sends it: one
warm-up pass, then REPS timed passes, the two servers alternating per
query. Latency is the wall time from sending the request to the last body
byte on a keep-alive connection. Peak RSS is VmHWM reset before the query
passes (/proc/PID/clear_refs), so ingest does not count. Then REPS passes
send the dashboard as Grafana does on load, 6 queries at a time, the
servers alternating; the median wall time is reported.

See tests/bench/README.md ("Queries").
"""

import concurrent.futures
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

from hublib import free_port, get, log, metric, shape_load, status, wait_ready

HUB, RW_LOAD, NODE_EXPORTER, PROMETHEUS, DASHBOARD = sys.argv[1:6]
BOARDS, REPS = int(sys.argv[6]), int(sys.argv[7])
POINTS = 5760
GRAFANA_CONCURRENCY = 6


def panel_exprs(dash):
    out = []

    def walk(panels):
        for p in panels or []:
            for t in p.get("targets") or []:
                e = (t.get("expr") or "").strip()
                if e:
                    out.append(e)
            walk(p.get("panels"))
    walk(dash.get("panels"))
    for row in dash.get("rows") or []:
        walk(row.get("panels"))
    return out


def substitute(expr, vars):
    for name in sorted(vars, key=len, reverse=True):
        expr = expr.replace("${" + name + "}", vars[name]).replace("$" + name, vars[name])
    return expr


class Conn:
    """A keep-alive HTTP connection to one server, reopened if it drops."""

    def __init__(self, port):
        self.port, self.conn = port, None

    def post(self, path, form):
        """(status, body, seconds) of a form POST, as Grafana sends queries."""
        body = urllib.parse.urlencode(form)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
            try:
                t = time.perf_counter()
                self.conn.request("POST", path, body, headers)
                r = self.conn.getresponse()
                data = r.read()
                return r.status, data, time.perf_counter() - t
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise


class Server(Conn):
    """One server under test: its process and a keep-alive connection."""

    def __init__(self, name, argv, port, work):
        super().__init__(port)
        self.name = name
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(work, name + ".log"), "w"))
        self.base = f"http://127.0.0.1:{port}"
        wait_ready(self.base + "/-/ready", self.proc, 60)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


def send(bodies, url):
    out = subprocess.run([RW_LOAD, "send", bodies, url, "4"],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def settle_hub(s, series, limit=600):
    end = time.time() + limit
    while time.time() < end:
        m = get(s.base + "/metrics")
        if metric(m, "picket_hub_head_samples") == 0 and \
                (metric(m, "picket_hub_compactions_total") or 0) >= series:
            return
        time.sleep(2)
    log("picket-hub did not settle; querying anyway")


def settle_prometheus(s, limit=600):
    # Prometheus compacts its head once it spans more than 3 h, leaving
    # the last 1-2 h in memory; wait for that and for compactions to stop.
    end = time.time() + limit
    last = None
    while time.time() < end:
        m = get(s.base + "/metrics")
        span = (metric(m, "prometheus_tsdb_head_max_time") or 0) - \
            (metric(m, "prometheus_tsdb_head_min_time") or 0)
        done = metric(m, "prometheus_tsdb_compactions_total")
        if span < 3 * 3600_000 and done == last:
            return
        last = done
        time.sleep(15)
    log("Prometheus did not settle; querying anyway")


def reset_hwm(pid):
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))]


def main():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    work = tempfile.mkdtemp(prefix="picket-bench-query-")
    servers = []
    try:
        bodies, g, start = shape_load(work, RW_LOAD, NODE_EXPORTER, BOARDS, POINTS)
        hp, pp = free_port(), free_port()
        # No scrape jobs on either side (the hub's embedded defaults scrape
        # itself; Prometheus's config below scrapes nothing).
        hcfg = os.path.join(work, "hub.toml")
        with open(hcfg, "w") as f:
            f.write("[global]\nscrape_interval = \"15s\"\n")
        hub = Server("picket-hub", [HUB, f"--config.file={hcfg}",
                                    f"--web.listen-address=127.0.0.1:{hp}",
                                    f"--storage.tsdb.path={work}/hub"], hp, work)
        servers.append(hub)
        pdir = os.path.join(work, "prom")
        os.makedirs(pdir)
        with open(os.path.join(pdir, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 15s\n")
        prom = Server("prometheus", [PROMETHEUS, f"--config.file={pdir}/prometheus.yml",
                                     f"--storage.tsdb.path={pdir}/data",
                                     f"--web.listen-address=127.0.0.1:{pp}",
                                     "--web.enable-remote-write-receiver"], pp, work)
        servers.append(prom)
        for s in servers:
            log(f"sending to {s.name}")
            r = send(bodies, s.base + "/api/v1/write")
            if set(r["status"]) != {"204"}:
                sys.exit(f"query.py: {s.name} answered {r['status']}")
        log("settling")
        settle_hub(hub, g["series"])
        settle_prometheus(prom)

        board = "board-0:9100"
        vars = {"node": board, "job": "node", "__rate_interval": "1m0s"}
        queries = [substitute(e, vars) for e in panel_exprs(dash)]
        form = lambda q: {"query": q, "start": start / 1000, "end": start / 1000 + 86400,
                          "step": "15"}
        rss_before = {s.name: status(s.proc.pid)["VmRSS"] for s in servers}
        for s in servers:
            reset_hwm(s.proc.pid)
        lat = {s.name: [[] for _ in queries] for s in servers}
        errors = {s.name: 0 for s in servers}
        points = {s.name: 0 for s in servers}
        for rep in range(REPS + 1):
            log(f"pass {rep}/{REPS}" + (" (warm-up)" if rep == 0 else ""))
            for i, q in enumerate(queries):
                order = servers if (rep + i) % 2 == 0 else servers[::-1]
                for s in order:
                    code, data, dt = s.post("/api/v1/query_range", form(q))
                    if rep == 0:
                        if code != 200:
                            errors[s.name] += 1
                        else:
                            res = json.loads(data)["data"]["result"]
                            points[s.name] += sum(len(x["values"]) for x in res)
                    else:
                        lat[s.name][i].append(dt)
        walls = {s.name: [] for s in servers}
        for rep in range(REPS):
            for s in (servers if rep % 2 == 0 else servers[::-1]):
                t = time.perf_counter()
                with concurrent.futures.ThreadPoolExecutor(GRAFANA_CONCURRENCY) as ex:
                    def one(q, port=s.port):
                        return Conn(port).post("/api/v1/query_range", form(q))[0]
                    codes = list(ex.map(one, queries))
                walls[s.name].append(time.perf_counter() - t)
                if any(c != 200 for c in codes):
                    log(f"{s.name}: {sum(c != 200 for c in codes)} errors in a concurrent pass")
        walls = {n: statistics.median(v) for n, v in walls.items()}
        hwm = {s.name: status(s.proc.pid)["VmHWM"] for s in servers}
        rss_after = {s.name: status(s.proc.pid)["VmRSS"] for s in servers}
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)

    med = {n: [statistics.median(x) for x in v] for n, v in lat.items()}
    allv = {n: [t for x in v for t in x] for n, v in lat.items()}
    H, P = "picket-hub", "prometheus"
    mib = 1 << 20
    ms = lambda v: f"{v * 1000:.1f} ms"
    print(f"- load: {g['series']:,} series ({BOARDS} boards shaped on this machine's node_exporter), "
          f"{POINTS} points each at 15 s (yesterday UTC), {g['samples']:,} samples, the same "
          f"remote_write stream into both; both settled (day sealed and compacted / head "
          f"compacted into blocks) before querying")
    print(f"- queries: {len(queries)} panel expressions of {os.path.basename(DASHBOARD)} for "
          f"{board}, query_range over 24 h at a 15 s step, {REPS} timed passes after one warm-up; "
          f"errors: picket-hub {errors[H]}, Prometheus {errors[P]}; points returned: picket-hub "
          f"{points[H]:,}, Prometheus {points[P]:,}")
    print()
    print("| | picket-hub | Prometheus | ratio | target | |")
    print("|---|---:|---:|---:|---|---|")

    def row(name, a, b, fmt, target="", ok=None):
        ratio = a / b if b else float("nan")
        verdict = "" if ok is None else ("PASS" if ok(ratio) else "FAIL")
        print(f"| {name} | {fmt(a)} | {fmt(b)} | {ratio:.2f} | {target} | {verdict} |")

    row("dashboard, sequential (sum of per-query medians)", sum(med[H]), sum(med[P]), ms,
        "≤ Prometheus", lambda r: r <= 1.0)
    row(f"dashboard, {GRAFANA_CONCURRENCY} at a time (wall, median of {REPS})", walls[H], walls[P], ms,
        "≤ Prometheus", lambda r: r <= 1.0)
    row("per query: median of medians", statistics.median(med[H]), statistics.median(med[P]), ms)
    row("per query: p99 of medians", pct(med[H], 99), pct(med[P], 99), ms)
    row("all timed requests: median", statistics.median(allv[H]), statistics.median(allv[P]), ms)
    row("all timed requests: p99", pct(allv[H], 99), pct(allv[P], 99), ms)
    row("RSS before the queries", rss_before[H], rss_before[P], lambda v: f"{v / mib:.1f} MiB")
    row("RSS peak during the queries (VmHWM)", hwm[H], hwm[P], lambda v: f"{v / mib:.1f} MiB")
    row("RSS after the queries", rss_after[H], rss_after[P], lambda v: f"{v / mib:.1f} MiB")
    print()
    print("Slowest queries on picket-hub (median of the timed passes):")
    print()
    print("| query | picket-hub | Prometheus | ratio |")
    print("|---|---:|---:|---:|")
    slow = sorted(range(len(queries)), key=lambda i: -med[H][i])[:12]
    for i in slow:
        q = re.sub(r"\s+", " ", queries[i])
        q = (q if len(q) <= 90 else q[:87] + "...").replace("|", "\\|")
        print(f"| `{q}` | {ms(med[H][i])} | {ms(med[P][i])} | "
              f"{med[H][i] / med[P][i]:.2f} |")
    worse = sum(1 for a, b in zip(med[H], med[P]) if a > b)
    print()
    print(f"picket-hub slower than Prometheus on {worse} of {len(queries)} queries (medians).")


main()
