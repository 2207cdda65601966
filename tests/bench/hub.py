#!/usr/bin/env python3
"""picket-hub against a real Prometheus as a remote_write receiver: the same
request stream into each, one after the other, in one run. Prints markdown.

    hub.py HUB_BIN RW_LOAD NODE_EXPORTER PROMETHEUS BOARDS POINTS CONNS

See tests/bench/README.md ("Hub") for what is measured and why.
"""

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from hublib import cpu, dir_bytes, get, free_port, log, metric, shape_load, status, wait_ready

HUB, RW_LOAD, NODE_EXPORTER, PROMETHEUS = sys.argv[1:5]
BOARDS, POINTS, CONNS = (int(a) for a in sys.argv[5:8])


def send(bodies, url):
    out = subprocess.run([RW_LOAD, "send", bodies, url, str(CONNS)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def run_picket(work, bodies, series):
    d = os.path.join(work, "picket")
    port = free_port()
    # A config file without scrape jobs, as Prometheus's below: the embedded
    # defaults scrape the hub itself, which would keep its head from ever
    # emptying (the settle check) and add samples Prometheus does not store.
    cfg = os.path.join(work, "hub.toml")
    with open(cfg, "w") as f:
        f.write("[global]\nscrape_interval = \"15s\"\n")
    p = subprocess.Popen([HUB, f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{port}",
                          f"--storage.tsdb.path={d}"],
                         stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "picket.log"), "w"))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base + "/-/ready", p)
        r = {"start_rss": status(p.pid)["VmRSS"], "cpu0": cpu(p.pid)}
        res = send(bodies, base + "/api/v1/write")
        r.update(res)
        r["cpu"] = cpu(p.pid) - r["cpu0"]
        r["rss_after"] = status(p.pid)["VmRSS"]
        r["hwm_ingest"] = status(p.pid)["VmHWM"]
        # Settle: the head sealed and the day compacted (the hub
        # checkpoints every minute and compacts a day once a checkpoint has
        # passed without new samples for it).
        end = time.time() + 300
        while time.time() < end:
            m = get(base + "/metrics")
            if metric(m, "picket_hub_head_samples") == 0 and \
                    (metric(m, "picket_hub_compactions_total") or 0) >= series:
                break
            time.sleep(2)
        r["settle_s"] = round(300 - (end - time.time()))
        m = get(base + "/metrics")
        r["stored"] = metric(m, "picket_hub_samples_appended_total")
        r["pages"] = metric(m, "picket_hub_storage_bytes")
        r["disk"] = dir_bytes(d)
        r["compactions"] = metric(m, "picket_hub_compactions_total")
        r["rss_settled"] = status(p.pid)["VmRSS"]
        r["hwm"] = status(p.pid)["VmHWM"]
        return r
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)


def run_prometheus(work, bodies, settle_s):
    d = os.path.join(work, "prom")
    os.makedirs(d)
    with open(os.path.join(d, "prometheus.yml"), "w") as f:
        f.write("global:\n  scrape_interval: 15s\n")
    port = free_port()
    p = subprocess.Popen([PROMETHEUS, f"--config.file={d}/prometheus.yml",
                          f"--storage.tsdb.path={d}/data", f"--web.listen-address=127.0.0.1:{port}",
                          "--web.enable-remote-write-receiver"],
                         stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "prom.log"), "w"))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base + "/-/ready", p)
        r = {"start_rss": status(p.pid)["VmRSS"], "cpu0": cpu(p.pid)}
        r.update(send(bodies, base + "/api/v1/write"))
        r["cpu"] = cpu(p.pid) - r["cpu0"]
        r["rss_after"] = status(p.pid)["VmRSS"]
        r["hwm_ingest"] = status(p.pid)["VmHWM"]
        time.sleep(settle_s)
        m = get(base + "/metrics")
        r["stored"] = metric(m, "prometheus_tsdb_head_samples_appended_total")
        r["disk"] = dir_bytes(d + "/data")
        blocks = bsamples = 0
        for meta in glob.glob(d + "/data/*/meta.json"):
            with open(meta) as f:
                bsamples += json.load(f)["stats"]["numSamples"]
            blocks += dir_bytes(os.path.dirname(meta))
        r["block_bytes"], r["block_samples"] = blocks, bsamples
        r["rss_settled"] = status(p.pid)["VmRSS"]
        r["hwm"] = status(p.pid)["VmHWM"]
        return r
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)


def main():
    work = tempfile.mkdtemp(prefix="picket-bench-hub-")
    try:
        bodies, g, _ = shape_load(work, RW_LOAD, NODE_EXPORTER, BOARDS, POINTS)
        log("picket-hub")
        pk = run_picket(work, bodies, g["series"])
        log(f"Prometheus (settling {pk['settle_s']} s, as picket-hub did)")
        pr = run_prometheus(work, bodies, max(pk["settle_s"], 60))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    mib = 1 << 20
    print(f"- load: {g['series']:,} series ({BOARDS} boards shaped on this machine's node_exporter), "
          f"{POINTS} points each at 15 s = {POINTS * 15 / 86400:.2f} day(s), "
          f"{g['samples']:,} samples in {g['requests']:,} requests of 10 points per series; "
          f"{CONNS} connections, one board per connection")
    print(f"- Prometheus: {pr['status']} responses; picket-hub: {pk['status']}")
    print()
    print("| | picket-hub | Prometheus | ratio | target | |")
    print("|---|---:|---:|---:|---|---|")

    def row(name, a, b, fmt, target="", ok=None):
        ratio = a / b if b else float("nan")
        verdict = "" if ok is None else ("PASS" if ok(ratio, a) else "FAIL")
        print(f"| {name} | {fmt(a)} | {fmt(b)} | {ratio:.2f} | {target} | {verdict} |")

    n = lambda v: f"{v:,.0f}"
    m = lambda v: f"{v / mib:.1f} MiB"
    f2 = lambda v: f"{v:.2f}"
    row("ingest, samples/s (at saturation)", pk["rate"], pr["rate"], n, "≥ Prometheus",
        lambda r, a: r >= 1.0)
    row("CPU seconds per million samples", pk["cpu"] / pk["samples"] * 1e6,
        pr["cpu"] / pr["samples"] * 1e6, f2)
    row("RSS peak during ingest (VmHWM)", pk["hwm_ingest"], pr["hwm_ingest"], m, "≤ 1/4",
        lambda r, a: r <= 0.25)
    row("RSS right after ingest", pk["rss_after"], pr["rss_after"], m)
    row("RSS settled (after compaction)", pk["rss_settled"], pr["rss_settled"], m, "≤ 1/4",
        lambda r, a: r <= 0.25)
    row("samples stored", pk["stored"], pr["stored"], n)
    pk_bps = pk["pages"] / pk["stored"]
    pr_bps = pr["block_bytes"] / pr["block_samples"] if pr["block_samples"] else float("nan")
    row("bytes/sample, compacted (picket: pages in use; Prometheus: blocks)", pk_bps, pr_bps, f2,
        "≤ 1.0 (picket)", lambda r, a: a <= 1.0)
    row("bytes/sample, whole data directory", pk["disk"] / pk["stored"], pr["disk"] / pr["stored"], f2)


main()
