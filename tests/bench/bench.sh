#!/usr/bin/env bash
# Benchmark: picket against node_exporter on this machine, in one run, with the
# same collectors. Prints a markdown table (RSS, CPU per scrape, latency,
# response sizes, binary size, ratios and the targets with PASS/FAIL).
#
#   tests/bench/bench.sh [N]        N = timed scrapes per target (default 1000)
#   tests/bench/bench.sh --tls [N]  both behind the same --web.config.file:
#                                   TLS (a throwaway P-256 CA) and bcrypt basic
#                                   auth (htpasswd -B, cost 10); adds the cost
#                                   of a new connection (handshake + auth)
#
# Exits non-zero only when the setup fails (build, binaries, startup); a FAIL
# in the table is a result, not an error. Needs bash, python3, coreutils,
# cargo and /usr/bin/prometheus-node-exporter (installed with apt-get when
# missing and run as root). See tests/bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

TLS=0
if [[ ${1:-} == --tls ]]; then TLS=1; shift; fi
N=${1:-1000}
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [N]  (N: scrapes per target)" >&2; exit 2; }
NE=/usr/bin/prometheus-node-exporter
PICKET=target/release/picket
die() { echo "bench.sh: $*" >&2; exit 1; }

command -v python3 >/dev/null || die "python3 is required"
# shellcheck source=tests/bench/apt.sh
. tests/bench/apt.sh
# The package starts a service on :9100; the benchmark uses its own instances.
[[ -x $NE ]] || bench_apt bench.sh prometheus-node-exporter

echo "bench.sh: cargo build --release" >&2
cargo build --release 1>&2 || die "cargo build --release failed"
[[ -x $PICKET ]] || die "$PICKET not built"

TMP=$(mktemp -d)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

# Three distinct free loopback ports (all held open while picking).
read -r P_PICKET P_NE P_PROBE < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in ss))')

# start NAME LOG BINARY ARGS...: start in the background, record the real PID
# (a simple command after & is exec'd in the forked child, so $! is the binary).
start() {
  local name=$1 log=$2; shift 2
  "$@" >"$log" 2>&1 &
  PIDS+=("$!")
  echo "bench.sh: started $name, pid $!" >&2
}
# is_binary PID BINARY: the PID really is that binary (not a wrapper shell).
is_binary() { [[ $(readlink -f "/proc/$1/exe" 2>/dev/null) == "$(readlink -f "$2")" ]]; }

# --- Same collectors: the intersection of both default sets, minus textfile.
# node_exporter logs its enabled collectors at startup (--log.level=info): one
# throwaway run on defaults, read the log, stop it.
start node_exporter-probe "$TMP/probe.log" "$NE" --web.listen-address="127.0.0.1:$P_PROBE" --log.level=info
probe_pid=${PIDS[-1]}
for _ in $(seq 50); do
  grep -q 'msg="Listening on"' "$TMP/probe.log" && break
  kill -0 "$probe_pid" 2>/dev/null || break
  sleep 0.1
done
kill "$probe_pid" 2>/dev/null || true; wait "$probe_pid" 2>/dev/null || true
sed -n 's/.* level=info collector=\([a-z0-9_]*\)$/\1/p' "$TMP/probe.log" | sort -u >"$TMP/ne.list"
[[ -s $TMP/ne.list ]] || { cat "$TMP/probe.log" >&2; die "could not read node_exporter's enabled collectors"; }

"$PICKET" check-config /dev/null | sed -n 's/^ *collectors = //p' | tr ',' '\n' | tr -d ' ' |
  sed '/^$/d' | sort -u >"$TMP/picket.list"
[[ -s $TMP/picket.list ]] || die "could not read picket's default collectors (check-config /dev/null)"

# textfile: unset on both sides (its output depends on a directory's contents).
comm -12 "$TMP/ne.list" "$TMP/picket.list" | grep -vx textfile >"$TMP/common.list" || true
[[ -s $TMP/common.list ]] || die "no collectors in common"
mapfile -t COMMON <"$TMP/common.list"
COLLECTOR_FLAGS=(--collector.disable-defaults)
for c in "${COMMON[@]}"; do COLLECTOR_FLAGS+=("--collector.$c"); done

# --- The same web config for both (--tls).
if [[ $TLS == 1 ]]; then
  command -v htpasswd >/dev/null || bench_apt bench.sh apache2-utils
  (cd "$TMP" &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
      -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
      -keyout server.key -out server.crt 2>/dev/null) || die "openssl failed"
  printf 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  bench: %s\n' \
    "$(htpasswd -nbBC 10 "" bench-pw | tr -d ':\n')" >"$TMP/web.yml"
  COLLECTOR_FLAGS+=("--web.config.file=$TMP/web.yml")
  export BENCH_CA="$TMP/server.crt" BENCH_AUTH="bench:bench-pw"
fi

# --- The two servers under test.
start picket "$TMP/picket.log" "$PICKET" --web.listen-address="127.0.0.1:$P_PICKET" "${COLLECTOR_FLAGS[@]}"
PID_PICKET=${PIDS[-1]}
start node_exporter "$TMP/ne.log" "$NE" --web.listen-address="127.0.0.1:$P_NE" "${COLLECTOR_FLAGS[@]}"
PID_NE=${PIDS[-1]}
sleep 1  # let both settle; client.py then waits (up to 10 s) for /metrics to answer
is_binary "$PID_PICKET" "$PICKET" || { cat "$TMP/picket.log" >&2; die "picket (pid $PID_PICKET) is not running"; }
is_binary "$PID_NE" "$NE" || { cat "$TMP/ne.log" >&2; die "node_exporter (pid $PID_NE) is not running"; }

list() { paste -sd, - | sed 's/,/, /g'; }
echo "## picket vs node_exporter: $N scrapes each$([[ $TLS == 1 ]] && echo ", over TLS with bcrypt basic auth (same web config file)")"
echo
echo "- machine: $(uname -m), $(nproc) CPUs, Linux $(uname -r); CLK_TCK $(getconf CLK_TCK)"
echo "- picket: $("$PICKET" --version 2>&1 | head -1) ($PICKET, pid $PID_PICKET, port $P_PICKET)"
echo "- node_exporter: $("$NE" --version 2>&1 | head -1) ($NE, pid $PID_NE, port $P_NE)"
echo "- collectors on both (--collector.disable-defaults + these ${#COMMON[@]}): $(list <"$TMP/common.list")"
echo "- left out, node_exporter default only: $(comm -23 "$TMP/ne.list" "$TMP/picket.list" | list)"
echo "- left out, picket default only: $(comm -13 "$TMP/ne.list" "$TMP/picket.list" | list)"
echo "- left out on both: textfile (unset)"
echo "- client: one keep-alive connection per target, 10 warm-up scrapes, then $N interleaved"
echo "  scrapes (picket i, node_exporter i) with Accept-Encoding: gzip, latency = request to last body byte"
echo
python3 tests/bench/client.py "$N" "$(getconf CLK_TCK)" \
  "picket=$P_PICKET=$PID_PICKET=$PICKET" "node_exporter=$P_NE=$PID_NE=$NE" || {
  echo "--- picket log" >&2; tail -20 "$TMP/picket.log" >&2
  echo "--- node_exporter log" >&2; tail -20 "$TMP/ne.log" >&2
  die "scrape client failed"
}
echo
echo "node_exporter is a dynamically linked Go binary (Debian 1.5.0); both sizes are the files on disk."
echo "Ratios are picket / node_exporter; the binary target is absolute: 2 MiB = 2,097,152 bytes."
