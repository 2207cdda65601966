#!/usr/bin/env bash
# picket's test command: installs the real peers and tools the tests need when
# they are missing (Debian packages, as root), runs the whole suite including
# the tests that need those peers (`--include-ignored`), then the ARM builds:
# static aarch64 and armv7 binaries run under qemu-user against the golden
# files (cross/build.sh --test) and their .deb packages, checked in a temp
# root (cross/deb.sh).
#
# Peers: promtool and prometheus (package prometheus), Alertmanager 0.25
# and amtool (prometheus-alertmanager), aiosmtpd (python3-aiosmtpd),
# node_exporter
# (package prometheus-node-exporter), haproxy_exporter and postgres_exporter
# (prometheus-haproxy-exporter, prometheus-postgres-exporter), HAProxy 2.6
# (haproxy), PostgreSQL 15 (postgresql), libfaketime (package faketime),
# dbus-daemon, python3-dbus and python3-gi (the systemd test's bus and fake
# systemd), Mosquitto (mosquitto, mosquitto-clients; also the MQTT notification
# test), openssl (the throwaway CAs of the mqtts and SMTP TLS tests; the
# implicit-TLS email test binds 127.0.0.1:465, so run as root), htpasswd
# (apache2-utils) and curl (the --web.config.file tests). ARM
# tooling: qemu-user-static, lintian, file, curl from Debian; zig (PyPI) and
# cargo-zigbuild (crates.io) are installed by cross/build.sh. Caches reused
# between runs: ~/.cache/zig, target/ and target/cross.
#
# Arguments go to `cargo test`. PICKET_SKIP_CROSS=1 skips the ARM part and
# PICKET_SKIP_FUZZ=1 the fuzz targets' short run (for quick local runs; CI
# never sets them).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
want() { command -v "$1" >/dev/null 2>&1 || need+=("$2"); }
want promtool prometheus
want prometheus prometheus
want prometheus-alertmanager prometheus-alertmanager
want amtool prometheus-alertmanager
# The email test's SMTP sink (aiosmtpd; Debian's is under /usr/bin/python3).
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || need+=(python3-aiosmtpd)
want prometheus-node-exporter prometheus-node-exporter
# The systemd test: a private dbus-daemon and the fake systemd on it
# (tests/fixtures/systemd/fake-systemd.py, under Debian's /usr/bin/python3).
want dbus-daemon dbus
/usr/bin/python3 -c 'import dbus' 2>/dev/null || need+=(python3-dbus)
/usr/bin/python3 -c 'import gi' 2>/dev/null || need+=(python3-gi)
want haproxy haproxy
want prometheus-haproxy-exporter prometheus-haproxy-exporter
want prometheus-postgres-exporter prometheus-postgres-exporter
[ -x /usr/sbin/mosquitto ] || want mosquitto mosquitto
want mosquitto_sub mosquitto-clients
want mosquitto_pub mosquitto-clients
# openssl: the mqtts:// and SMTP TLS tests make a throwaway CA and server certificate.
want openssl openssl
# The web config tests: htpasswd makes bcrypt hashes as exporter-toolkit's
# docs do; curl speaks TLS 1.1, client certificates and raw HTTP to both
# node_exporter and picket.
want htpasswd apache2-utils
want curl curl
# dns_sd_configs: a real DNS server (dnsmasq) on a loopback address, which
# the hub and Prometheus reach through a private /etc/resolv.conf
# (unshare, util-linux).
[ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base)
want unshare util-linux
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql)
# libfaketime: the clock-not-yet-set test steps the agent's wall clock.
[ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 ] || [ "$(uname -m)" != x86_64 ] ||
  need+=(faketime)
# libfuzzer-sys builds libFuzzer (C++) for the fuzz targets' short run.
[ "${PICKET_SKIP_FUZZ:-0}" = 1 ] || want c++ g++
if [ "${PICKET_SKIP_CROSS:-0}" != 1 ]; then
  want qemu-aarch64-static qemu-user-static
  want qemu-arm-static qemu-user-static
  want lintian lintian
  want file file
  want curl curl
fi
if [ ${#need[@]} -gt 0 ]; then
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  if [ "$(id -u)" = 0 ]; then
    echo "tests/run.sh: installing ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "tests/run.sh: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
    exit 1
  fi
fi

# Peer tests start their own instances on free loopback ports. The
# `systemd` feature is not a default one (size, see Cargo.toml): on here so
# that the systemd collector's tests run too.
cargo test --locked --workspace --features picket/systemd -- --include-ignored "$@"

# A short coverage-guided run of every fuzz target (tests/fuzz: the parsers
# that face the network or the disk), 10 s each over the committed corpora;
# a crash, panic, hang or OOM fails the run, its input kept under
# target/fuzz/runs/artifacts. Measured on the 2-core machine: a cold build
# of the fuzz crate 3 min 49 s to 5 min 20 s, the 12 runs about 2 min 10 s.
# PICKET_SKIP_FUZZ=1 skips it (quick local runs; CI never sets it). Long
# runs: tests/fuzz/run.sh all 600.
if [ "${PICKET_SKIP_FUZZ:-0}" != 1 ]; then
  tests/fuzz/run.sh all "${PICKET_FUZZ_SECONDS:-10}"
fi

if [ "${PICKET_SKIP_CROSS:-0}" != 1 ]; then
  # The host reference of the qemu comparison is the agent the suite ran.
  HOST_BIN="$PWD/target/debug/picket" cross/build.sh --test aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf
  cross/deb.sh aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf
fi
