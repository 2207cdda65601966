#!/usr/bin/env bash
# picket's test command: installs the real peers the tests talk to when they
# are missing (Debian packages, as root), then runs the whole suite, including
# the tests that need those peers (`--include-ignored`).
#
# Peers: promtool and prometheus (package prometheus), node_exporter
# (package prometheus-node-exporter).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-node-exporter >/dev/null 2>&1 || need+=(prometheus-node-exporter)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "tests/run.sh: installing ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "tests/run.sh: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
    exit 1
  fi
fi

# Peer tests start their own instances on free loopback ports.
cargo test --locked -- --include-ignored "$@"
