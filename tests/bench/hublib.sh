# Shared by hub.sh and query.sh (sourced): the peers both need, installed
# with apt-get when missing (as root), and the release build both run.
# Expects `die` to be defined and the repository root as the working dir.

hub_bench_setup() {
  local me=$1 missing=()
  [[ -x /usr/bin/prometheus ]] || missing+=(prometheus)
  [[ -x /usr/bin/prometheus-node-exporter ]] || missing+=(prometheus-node-exporter)
  command -v python3 >/dev/null || missing+=(python3)
  if [[ ${#missing[@]} -gt 0 ]]; then
    [[ $(id -u) == 0 ]] || die "missing: ${missing[*]} (apt-get install them, or run as root)"
    echo "$me: installing ${missing[*]}" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
  echo "$me: cargo build --release" >&2
  cargo build --release --bin picket-hub --example rw-load 1>&2 || die "cargo build --release failed"
}
