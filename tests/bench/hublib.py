"""Helpers shared by the hub benchmarks (hub.py: ingest; query.py: PromQL):
free ports, HTTP, /proc readings, and the node_exporter-shaped load that
rw-load generates for both picket-hub and Prometheus."""

import glob
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

TICK = os.sysconf("SC_CLK_TCK")
DAY_MS = 86_400_000


def log(*a):
    print(os.path.basename(sys.argv[0]) + ":", *a, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def wait_ready(url, proc, limit=30):
    end = time.time() + limit
    while time.time() < end:
        if proc.poll() is not None:
            sys.exit(f"{url}: the process exited ({proc.returncode})")
        try:
            get(url)
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{url} not ready after {limit}s")


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024
    return out


def cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / TICK


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def dir_bytes(d, pattern="**/*"):
    return sum(os.path.getsize(p) for p in glob.glob(os.path.join(d, pattern), recursive=True)
               if os.path.isfile(p))


def shape_load(work, rw_load, node_exporter, boards, points):
    """Two scrapes of the real node_exporter 10 s apart shape `boards`
    boards x `points` samples at 15 s from yesterday 00:00 UTC, written by
    `rw-load gen` as request bodies. Returns (bodies path, gen's summary,
    start ms)."""
    port = free_port()
    ne = subprocess.Popen([node_exporter, f"--web.listen-address=127.0.0.1:{port}"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_ready(url, ne)
        a, b = os.path.join(work, "a.txt"), os.path.join(work, "b.txt")
        with open(a, "w") as f:
            f.write(get(url))
        time.sleep(10)
        with open(b, "w") as f:
            f.write(get(url))
    finally:
        ne.terminate()
        ne.wait()
    # Yesterday (UTC), a whole closed day.
    start = (int(time.time() * 1000) // DAY_MS - 1) * DAY_MS
    bodies = os.path.join(work, "bodies.bin")
    log(f"generating {boards} boards x {points} points")
    g = json.loads(subprocess.run([rw_load, "gen", bodies, a, b, "10", str(boards), str(start),
                                   str(points)], check=True, capture_output=True,
                                  text=True).stdout)
    return bodies, g, start
