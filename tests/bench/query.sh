#!/usr/bin/env bash
# Query benchmark: dashboard 1860's panel queries over 24 h at a 15 s step
# on picket-hub and on a real Prometheus holding the same data, in one run.
# Prints markdown.
#
#   tests/bench/query.sh [BOARDS [REPS]]
#     BOARDS  boards shaped on this machine's node_exporter (default 10)
#     REPS    timed passes over the dashboard (default 5)
#
# Needs python3, /usr/bin/prometheus and prometheus-node-exporter (Debian;
# installed with apt-get when missing and run as root), and the dashboard
# JSON in ../shared/compat/. See tests/bench/README.md ("Queries").
set -euo pipefail
cd "$(dirname "$0")/../.."
BOARDS=${1:-10}
REPS=${2:-5}
DASHBOARD=../shared/compat/grafana-1860-node-exporter-full.json
die() { echo "query.sh: $*" >&2; exit 1; }

[[ -f $DASHBOARD ]] || die "$DASHBOARD not found"
# shellcheck source=tests/bench/hublib.sh
. tests/bench/hublib.sh
hub_bench_setup query.sh

echo "## Dashboard 1860 on picket-hub vs Prometheus (PromQL query_range)"
echo
echo "- machine: $(uname -m), $(nproc) CPUs, Linux $(uname -r)"
echo "- picket-hub: $(target/release/picket-hub --version 2>&1 | head -1), defaults"
echo "- Prometheus: $(/usr/bin/prometheus --version 2>&1 | head -1), --web.enable-remote-write-receiver, defaults"
python3 tests/bench/query.py target/release/picket-hub target/release/examples/rw-load \
  /usr/bin/prometheus-node-exporter /usr/bin/prometheus "$DASHBOARD" "$BOARDS" "$REPS"
