#!/usr/bin/env bash
# Benchmark: picket's HAProxy and PostgreSQL collectors against
# haproxy_exporter and postgres_exporter, same servers, one run. Prints one
# markdown table per collector (CPU per scrape, RSS added, ratios, targets).
#
#   tests/bench/exporters.sh [N [haproxy] [postgres]]   N = scrapes per process (default 500)
#
# Needs root (PostgreSQL runs as the postgres user via runuser), python3,
# haproxy, postgresql 15 and the two exporters (Debian; installed with
# apt-get when missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-500}
die() { echo "exporters.sh: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "run as root (PostgreSQL is started as the postgres user)"
missing=()
command -v haproxy >/dev/null || missing+=(haproxy)
[[ -x /usr/lib/postgresql/15/bin/initdb ]] || missing+=(postgresql)
command -v prometheus-haproxy-exporter >/dev/null || missing+=(prometheus-haproxy-exporter)
command -v prometheus-postgres-exporter >/dev/null || missing+=(prometheus-postgres-exporter)
# shellcheck source=tests/bench/apt.sh
. tests/bench/apt.sh
bench_apt exporters.sh "${missing[@]}"
echo "exporters.sh: cargo build --release" >&2
cargo build --release 1>&2 || die "cargo build --release failed"
echo "## picket collectors vs the exporters they replace"
echo
echo "- machine: $(uname -m), $(nproc) CPUs; picket $(target/release/picket --version 2>&1 | head -1)"
echo "- haproxy_exporter $(prometheus-haproxy-exporter --version 2>&1 | head -1 | awk '{print $3}'), postgres_exporter $(prometheus-postgres-exporter --version 2>&1 | head -1 | awk '{print $3}'), HAProxy $(haproxy -v | head -1 | awk '{print $3}')"
echo
python3 tests/bench/exporters.py target/release/picket "$N" "${@:2}"
