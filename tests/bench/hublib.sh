# Shared by hub.sh and query.sh (sourced): the peers both need, installed
# with apt-get when missing (as root), and the release build both run.
# Expects `die` to be defined and the repository root as the working dir.

# shellcheck source=tests/bench/apt.sh
. tests/bench/apt.sh

hub_bench_setup() {
  local me=$1 missing=()
  [[ -x /usr/bin/prometheus ]] || missing+=(prometheus)
  [[ -x /usr/bin/prometheus-node-exporter ]] || missing+=(prometheus-node-exporter)
  command -v python3 >/dev/null || missing+=(python3)
  bench_apt "$me" "${missing[@]}"
  echo "$me: cargo build --release" >&2
  cargo build --release -p picket-hub --bin picket-hub --example rw-load 1>&2 || die "cargo build --release failed"
}
