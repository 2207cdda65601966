#!/usr/bin/env bash
# Hub benchmark: picket-hub against a real Prometheus as a remote_write
# receiver, the same request stream into each, in one run. Prints markdown.
#
#   tests/bench/hub.sh [BOARDS [POINTS [CONNS]]]
#     BOARDS  boards shaped on this machine's node_exporter (default 20)
#     POINTS  samples per series at 15 s (default 5760 = one day: yesterday UTC)
#     CONNS   sender connections (default 4)
#
# Needs python3, /usr/bin/prometheus and prometheus-node-exporter (Debian;
# installed with apt-get when missing and run as root). See tests/bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
BOARDS=${1:-20}
POINTS=${2:-5760}
CONNS=${3:-4}
die() { echo "hub.sh: $*" >&2; exit 1; }

# shellcheck source=tests/bench/hublib.sh
. tests/bench/hublib.sh
hub_bench_setup hub.sh

echo "## picket-hub vs Prometheus (remote_write receiver)"
echo
echo "- machine: $(uname -m), $(nproc) CPUs, Linux $(uname -r); data on $(df --output=fstype "${TMPDIR:-/tmp}" | tail -1)"
echo "- picket-hub: $(target/release/picket-hub --version 2>&1 | head -1), defaults"
echo "- Prometheus: $(/usr/bin/prometheus --version 2>&1 | head -1), --web.enable-remote-write-receiver, defaults"
python3 tests/bench/hub.py target/release/picket-hub target/release/examples/rw-load \
  /usr/bin/prometheus-node-exporter /usr/bin/prometheus "$BOARDS" "$POINTS" "$CONNS"
