#!/usr/bin/env bash
# Buffer benchmark: picket's SQLite buffer against Prometheus agent mode's WAL,
# side by side in one run. Prints one markdown table per load.
#
#   tests/bench/buffer.sh [INTERVALS [SERIES...]]
#     INTERVALS  collections per load (default 240 = one hour at 15 s)
#     SERIES     series per collection (default: 1000 10000)
#
# Time is compressed: collections every 0.5 s stand for collections every 15 s.
# Needs python3, strace and /usr/bin/prometheus (Debian; installed with apt-get
# when missing and run as root). See tests/bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

INTERVALS=${1:-240}
shift || true
SERIES=("$@")
[[ ${#SERIES[@]} -gt 0 ]] || SERIES=(1000 10000)
die() { echo "buffer.sh: $*" >&2; exit 1; }

missing=()
command -v strace >/dev/null || missing+=(strace)
[[ -x /usr/bin/prometheus ]] || missing+=(prometheus)
command -v python3 >/dev/null || missing+=(python3)
# shellcheck source=tests/bench/apt.sh
. tests/bench/apt.sh
bench_apt buffer.sh "${missing[@]}"

echo "buffer.sh: cargo build --release" >&2
cargo build --release 1>&2 || die "cargo build --release failed"

echo "## picket buffer vs Prometheus agent WAL"
echo
echo "- machine: $(uname -m), $(nproc) CPUs, Linux $(uname -r); buffer dir on $(df --output=fstype "${TMPDIR:-/tmp}" | tail -1)"
echo "- picket: $(target/release/picket --version 2>&1 | head -1); defaults (synchronous NORMAL, fresh-first, max_samples_per_send 10000)"
echo "- Prometheus: $(/usr/bin/prometheus --version 2>&1 | head -1), --enable-feature=agent, WAL compression on (default)"
echo
python3 tests/bench/buffer.py target/release/picket /usr/bin/prometheus "$INTERVALS" "${SERIES[@]}"
