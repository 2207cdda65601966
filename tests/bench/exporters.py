#!/usr/bin/env python3
"""picket's HAProxy and PostgreSQL collectors against haproxy_exporter and
postgres_exporter, side by side, against the same servers (stdlib only;
driven by tests/bench/exporters.sh).

usage: exporters.py PICKET N [haproxy] [postgres]   (default: both)

Starts a real HAProxy (stats socket, one backend with a server up and one
down) and a private PostgreSQL 15 (initdb as the `postgres` user into a temp
dir, a `pgexporter` role with pg_monitor). For each collector, three
processes run at once:

- picket with only that collector (`--collector.disable-defaults` plus the
  drop-in switch: `--haproxy.scrape-uri`, or DATA_SOURCE_NAME);
- picket with no collector at all (the base: HTTP server, encoder, process
  metrics), so that "RSS added" = picket with the collector - the base;
- the exporter it replaces, on the same server.

Each is scraped N times over one keep-alive connection, interleaved. CPU per
scrape is utime+stime from /proc/PID/stat over the N scrapes; "added" is
picket with the collector minus the base, and the whole-process figures are
printed too. Targets: the collector costs <= 1/4 of the exporter's CPU per
scrape and <= 1/4 of its RSS.
"""
import http.client
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time

CLK = os.sysconf("SC_CLK_TCK")
PG_BIN = "/usr/lib/postgresql/15/bin"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Proc:
    def __init__(self, name, argv, env=None, user=None):
        self.name = name
        self.port = None
        full_env = dict(os.environ)
        full_env.update(env or {})
        if user:
            argv = ["runuser", "-u", user, "--", *argv]
        self.p = subprocess.Popen(argv, env=full_env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        self.pid = self.p.pid
        if user:
            # runuser forks: find the child running the binary.
            deadline = time.time() + 10
            while time.time() < deadline:
                kids = children(self.p.pid)
                if kids:
                    self.pid = kids[0]
                    break
                time.sleep(0.05)

    def ticks(self):
        with open(f"/proc/{self.pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])

    def rss_kib(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


class Scraper:
    def __init__(self, proc, port):
        self.proc, self.port = proc, port
        self.c = None

    def get(self):
        for _ in range(2):
            try:
                if self.c is None:
                    self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.c.request("GET", "/metrics")
                r = self.c.getresponse()
                return r.read().decode("utf-8", "replace")
            except (OSError, http.client.HTTPException):
                self.c = None
        raise SystemExit(f"exporters.py: {self.proc.name} does not answer on {self.port}")


def wait_up(s, must):
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            if must in s.get():
                return
        except SystemExit:
            pass
        time.sleep(0.2)
    raise SystemExit(f"exporters.py: {s.proc.name} never served {must!r}")


def start_haproxy(tmp):
    sock = os.path.join(tmp, "admin.sock")
    web, up_port, down_port, stats = free_port(), free_port(), free_port(), free_port()
    cfg = os.path.join(tmp, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(f"""global
  stats socket {sock} mode 600 level admin
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
frontend stats
  bind 127.0.0.1:{stats}
  stats enable
  stats uri /stats
frontend web
  bind 127.0.0.1:{web}
  default_backend app
backend app
  server up 127.0.0.1:{stats} check inter 500ms
  server down 127.0.0.1:{down_port} check inter 500ms fall 1
backend other
  server one 127.0.0.1:{stats}
""")
    p = Proc("haproxy", ["haproxy", "-db", "-f", cfg])
    deadline = time.time() + 10
    while not os.path.exists(sock) and time.time() < deadline:
        time.sleep(0.05)
    return p, f"unix:{sock}"


def start_postgres():
    """A private PostgreSQL in its own temp dir (owned by `postgres`, which
    initdb and postgres require: they refuse to run as root)."""
    tmp = tempfile.mkdtemp(prefix="picket-bench-pg-")
    data = os.path.join(tmp, "pg")
    os.makedirs(data)
    pw = pwd.getpwnam("postgres")
    os.chown(tmp, pw.pw_uid, pw.pw_gid)
    os.chown(data, pw.pw_uid, pw.pw_gid)
    port = free_port()
    subprocess.run(["runuser", "-u", "postgres", "--", f"{PG_BIN}/initdb", "-D", data, "-A", "trust",
                    "-U", "postgres"], check=True, stdout=subprocess.DEVNULL)
    p = Proc("postgres", [f"{PG_BIN}/postgres", "-D", data, "-p", str(port), "-k", tmp,
                          "-c", "listen_addresses=127.0.0.1"], user="postgres")
    deadline = time.time() + 20
    while time.time() < deadline:
        r = subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-h", "127.0.0.1", "-p", str(port),
                            "-U", "postgres", "-c",
                            "CREATE ROLE pgexporter LOGIN; GRANT pg_monitor TO pgexporter;"],
                           capture_output=True)
        if r.returncode == 0:
            break
        time.sleep(0.3)
    return p, f"postgresql://pgexporter@127.0.0.1:{port}/postgres?sslmode=disable", tmp


def measure(n, trio):
    """trio: [(name, Scraper)]; returns {name: (cpu ms/scrape, rss KiB)}."""
    for _ in range(10):
        for _, s in trio:
            s.get()
    t0 = {name: s.proc.ticks() for name, s in trio}
    for _ in range(n):
        for _, s in trio:
            s.get()
    return {name: ((s.proc.ticks() - t0[name]) / CLK / n * 1000, s.proc.rss_kib()) for name, s in trio}


def report(title, n, m, ours, base, peer):
    cpu_a, rss_a = m[ours]
    cpu_b, rss_b = m[base]
    cpu_p, rss_p = m[peer]
    added = rss_a - rss_b
    print(f"### {title}: {n} scrapes each")
    print()
    print(f"| | {ours} | {peer} | ratio | target | |")
    print("|---|---:|---:|---:|---|---|")
    r = (cpu_a - cpu_b) / cpu_p if cpu_p else float("inf")
    print(f"| CPU per scrape added by the collector | {cpu_a - cpu_b:.3f} ms | {cpu_p:.3f} ms | {r:.3f} | ≤ 0.25 | {'PASS' if r <= 0.25 else 'FAIL'} |")
    r = cpu_a / cpu_p if cpu_p else float("inf")
    print(f"| CPU per scrape, whole process | {cpu_a:.3f} ms | {cpu_p:.3f} ms | {r:.3f} | | |")
    r = added / rss_p if rss_p else float("inf")
    print(f"| RSS added by the collector | {added / 1024:.2f} MiB | {rss_p / 1024:.2f} MiB | {r:.3f} | ≤ 0.25 | {'PASS' if r <= 0.25 else 'FAIL'} |")
    r = rss_a / rss_p if rss_p else float("inf")
    print(f"| RSS, whole process | {rss_a / 1024:.2f} MiB | {rss_p / 1024:.2f} MiB | {r:.3f} | | |")
    print(f"| picket base (no collector): CPU per scrape, RSS | {cpu_b:.3f} ms, {rss_b / 1024:.2f} MiB | | | | |")
    print()


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    picket, n = sys.argv[1], int(sys.argv[2])
    only = set(sys.argv[3:]) or {"haproxy", "postgres"}
    tmp = tempfile.mkdtemp(prefix="picket-bench-exp-")
    procs = []
    cleanup = [tmp]
    try:
        uri = dsn = None
        if "haproxy" in only:
            hap, uri = start_haproxy(tmp)
            procs.append(hap)
        if "postgres" in only:
            pg, dsn, pgtmp = start_postgres()
            procs.append(pg)
            cleanup.append(pgtmp)
        for key, title, args, env, peer, peer_args, must in (
            ("haproxy", "HAProxy (stats socket)", [f"--haproxy.scrape-uri={uri}"], {}, "prometheus-haproxy-exporter",
             [f"--haproxy.scrape-uri={uri}"], "haproxy_up 1"),
            ("postgres", "PostgreSQL 15", [], {"DATA_SOURCE_NAME": dsn}, "prometheus-postgres-exporter", [], "pg_up 1"),
        ):
            if key not in only:
                continue
            pp, pb, pe = free_port(), free_port(), free_port()
            a = Proc("picket", [picket, f"--web.listen-address=127.0.0.1:{pp}", "--collector.disable-defaults",
                                *args], env=env)
            b = Proc("picket-base", [picket, f"--web.listen-address=127.0.0.1:{pb}",
                                     "--collector.disable-defaults"], env={"DATA_SOURCE_NAME": ""})
            c = Proc(peer, [peer, f"--web.listen-address=127.0.0.1:{pe}", *peer_args], env=env)
            procs += [a, b, c]
            trio = [("picket", Scraper(a, pp)), ("picket base", Scraper(b, pb)), (peer, Scraper(c, pe))]
            wait_up(trio[0][1], must)
            wait_up(trio[2][1], must)
            m = measure(n, trio)
            report(title, n, m, "picket", "picket base", peer)
            for p in (a, b, c):
                p.stop()
    finally:
        for p in procs:
            p.stop()
        for d in cleanup:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
