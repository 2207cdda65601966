#!/usr/bin/env bash
# Build stripped, statically linked release binaries of picket for ARM boards,
# without Docker, using cargo-zigbuild (zig as the C compiler and linker).
#
#   cross/build.sh [--test] [TARGET...]
#
# Default targets: aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf.
# Also known: arm-unknown-linux-musleabihf (ARMv6: Pi Zero / Pi 1).
#
# --test   after building, run each binary under qemu-user (qemu-aarch64-static
#          -cpu cortex-a53 / qemu-arm-static -cpu cortex-a7 / -cpu arm1176) and
#          compare its `once` scrape of tests/fixtures/pi4 with the host
#          binary's, volatile series filtered out (same list as tests/agent/golden.rs);
#          then serve /metrics from fixtures/pi4 and fixtures/rock64 under qemu
#          and compare with tests/golden/{pi4,rock64}.prom.
#
# Tools are installed when missing: the rustup target (or rust-src for the
# build-std targets), cargo-zigbuild (cargo install --locked), zig (pip package
# `ziglang`), qemu-user-static (apt-get, only with --test). Caches reused between
# runs: ~/.cache/zig (zig's C/libc objects) and target/cross (CARGO_TARGET_DIR,
# kept apart from target/ so host builds are not invalidated).
#
# Environment:
#   CROSS_TARGET_DIR   cargo target dir (default: <repo>/target/cross)
#   CROSS_OUT          where the finished binaries are copied (default: <repo>/target/cross/dist)
#   CROSS_FEATURES     extra cargo args, e.g. "--no-default-features --features x"
#   HOST_BIN           the host reference binary (--test); tests/run.sh passes the
#                      agent its suite just tested. Unset: a dev build here, with
#   HOST_FEATURES      cargo args of that build, e.g. "--features systemd"
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

test_mode=0
targets=()
for a in "$@"; do
    case "$a" in
        --test) test_mode=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "unknown option: $a" >&2; exit 2 ;;
        *) targets+=("$a") ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf)

export CARGO_TARGET_DIR=${CROSS_TARGET_DIR:-$repo/target/cross}
out=${CROSS_OUT:-$CARGO_TARGET_DIR/dist}
mkdir -p "$out"

log() { printf '==> %s\n' "$*" >&2; }

# --- tools ---------------------------------------------------------------
ensure_zig() {
    if command -v zig >/dev/null 2>&1 || python3 -m ziglang version >/dev/null 2>&1; then
        return
    fi
    log "installing zig (pip install ziglang)"
    python3 -m pip install --quiet ziglang
}

ensure_zigbuild() {
    if ! cargo zigbuild --help >/dev/null 2>&1; then
        log "installing cargo-zigbuild"
        cargo install cargo-zigbuild --locked
    fi
}

# Targets that have a downloadable rust-std vs. ones that need -Zbuild-std.
has_prebuilt_std() {
    case "$1" in
        aarch64-unknown-linux-musl|x86_64-unknown-linux-musl) return 0 ;;
        *) return 1 ;;
    esac
}

ensure_target() {
    local t=$1
    if has_prebuilt_std "$t"; then
        rustup target list --installed | grep -qx "$t" || rustup target add "$t"
    else
        rustup component list --installed | grep -q '^rust-src' || rustup component add rust-src
    fi
}

ensure_qemu() {
    if ! command -v qemu-aarch64-static >/dev/null || ! command -v qemu-arm-static >/dev/null; then
        log "installing qemu-user-static"
        apt-get install -y qemu-user-static >/dev/null || { apt-get update >/dev/null && apt-get install -y qemu-user-static >/dev/null; }
    fi
}

# --- build ---------------------------------------------------------------
# Called as `build_one T || ...`, where set -e does not apply: every step
# that can fail returns explicitly.
build_one() {
    local t=$1 start end bin
    ensure_target "$t" || return 1
    start=$(date +%s)
    # libc_unstable_musl_v1_2: zig's musl is 1.2.x, whose time_t is 64 bits
    # on 32-bit targets too. Without this cfg the libc crate keeps the
    # pre-1.2 32-bit time_t there and links the time32 compatibility symbols,
    # which wrap in January 2038 (src/core/clock.rs). On aarch64 it changes no
    # layout and only silences libc's deprecation warning on time_t.
    local cfg="--cfg libc_unstable_musl_v1_2"
    # shellcheck disable=SC2086
    if has_prebuilt_std "$t"; then
        RUSTFLAGS="${RUSTFLAGS:-} $cfg" cargo zigbuild --release --locked --target "$t" --bin picket ${CROSS_FEATURES:-} || return 1
    else
        # No rust-std for this target: build std from rust-src. RUSTC_BOOTSTRAP
        # unlocks -Zbuild-std on stable. link-self-contained=no: rustc would
        # otherwise pass its own crt1.o/crti.o (absent without rust-std) and
        # the link fails with "failed to open object crt1.o"; zig supplies
        # crt and musl libc instead.
        # std is built here too, but its own libc (0.2.178 for this
        # toolchain) has no time64 support: std's SystemTime and
        # Metadata::modified stay 32-bit, so src/core/clock.rs avoids them.
        RUSTC_BOOTSTRAP=1 RUSTFLAGS="${RUSTFLAGS:-} -C link-self-contained=no $cfg" \
            cargo zigbuild --release --locked --target "$t" --bin picket \
            -Zbuild-std=std,panic_abort ${CROSS_FEATURES:-} || return 1
    fi
    end=$(date +%s)
    bin=$CARGO_TARGET_DIR/$t/release/picket
    cp "$bin" "$out/picket-$t" || return 1
    built+=("$t")
    summary+=("$(printf '%s\n  path:  %s\n  bytes: %s\n  build: %ss\n  file:  %s' \
        "$t" "$out/picket-$t" "$(stat -c %s "$bin")" "$((end - start))" "$(file -b "$bin")")")
    if ! file -b "$bin" | grep -q 'statically linked'; then
        echo "error: $bin is not statically linked" >&2
        return 1
    fi
}

# --- qemu smoke test -------------------------------------------------------
# Same list as VOLATILE in tests/agent/golden.rs: values from syscalls or the build
# machine's disk, not from the fixture files.
VOLATILE='^(node_scrape_collector_duration_seconds|process_|picket_build_info|node_time_seconds|node_time_zone_offset_seconds|node_timex_|node_filesystem_avail_bytes|node_filesystem_free_bytes|node_filesystem_size_bytes|node_filesystem_files|node_textfile_mtime_seconds)'

# Drops volatile samples and their # HELP / # TYPE lines (as stable_lines in tests/util.rs).
stable() { awk -v v="$VOLATILE" '{ n = $0; sub(/^# (HELP|TYPE) /, "", n); if (n !~ v) print }'; }

# Flags of tests/util.rs tree_args() for fixture tree $1.
tree_flags() {
    echo "--path.procfs=tests/fixtures/$1/proc --path.sysfs=tests/fixtures/$1/sys" \
        "--path.rootfs=tests/fixtures/$1/rootfs" \
        "--collector.processes --collector.interrupts --collector.tcpstat --collector.rpi" \
        "--collector.textfile.directory=tests/fixtures/textfile/good"
}

scrape() {  # scrape <runner...> <binary>: `once` against the pi4 tree
    # shellcheck disable=SC2046
    "$@" once $(tree_flags pi4) 2>/dev/null | stable
}

# serve <tree> <port> <runner...> <binary>: start the agent, GET /metrics, stop it.
serve() {
    local tree=$1 port=$2 pid i
    shift 2
    # shellcheck disable=SC2046
    "$@" --web.listen-address=127.0.0.1:"$port" $(tree_flags "$tree") 2>/dev/null &
    pid=$!
    for i in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/metrics" && break
        sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# shellcheck source=cross/qemu.sh
. "$repo/cross/qemu.sh"

run_tests() {
    ensure_qemu
    # An empty directory git cannot store (see prepare_fixtures in tests/util.rs).
    mkdir -p tests/fixtures/pi4/sys/class/power_supply
    local host_bin=${HOST_BIN:-}
    # The host reference is a dev build: the code is the same as a release
    # build's, and a release build here cost a whole fat-LTO host build on a
    # cold machine. On a CI run it is the binary the test suite just ran
    # (HOST_BIN): a build here would differ in features (the suite's build
    # unifies dev-dependencies) and cost a rebuild.
    if [ -z "$host_bin" ]; then
        log "building host binary for reference"
        # shellcheck disable=SC2086
        host_bin=$(CARGO_TARGET_DIR="$repo/target" cargo build --locked --bin picket ${HOST_FEATURES:-} \
            --message-format=json-render-diagnostics | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
    fi
    local tmp rc=0 t q
    tmp=$(mktemp -d)
    scrape "$host_bin" > "$tmp/host.prom"
    for t in "${built[@]}"; do
        q=$(qemu_for "$t") || { log "$t: no qemu mapping, skipped"; continue; }
        local bin=$out/picket-$t
        # shellcheck disable=SC2086
        if ! v=$($q "$bin" --version 2>&1); then
            echo "FAIL $t: --version under $q: $v"; rc=1; continue
        fi
        # shellcheck disable=SC2086
        scrape $q "$bin" > "$tmp/$t.prom" || true
        # The agent serves /metrics under qemu and matches the golden files.
        local tree port=19180
        for tree in pi4 rock64; do
            port=$((port + 1))
            # shellcheck disable=SC2086
            serve "$tree" "$port" $q "$bin" | stable > "$tmp/$t.$tree.prom"
            if cmp -s "tests/golden/$tree.prom" "$tmp/$t.$tree.prom"; then
                echo "PASS $t: /metrics of fixtures/$tree under qemu matches tests/golden/$tree.prom"
            else
                echo "FAIL $t: /metrics of fixtures/$tree differs from tests/golden/$tree.prom (- golden, + $t):"
                diff "tests/golden/$tree.prom" "$tmp/$t.$tree.prom" | grep '^[<>]' | sed 's/^</-/; s/^>/+/' | head -60
                rc=1
            fi
        done
        # Year 2038: a textfile modified in 2040 must report its real mtime
        # (2208988800), not one wrapped to 1901 by a 32-bit time_t.
        local y2038 mt
        y2038=$(mktemp -d)
        echo 'picket_y2038_probe 1' > "$y2038/probe.prom"
        touch -d '2040-01-01 00:00:00 UTC' "$y2038/probe.prom"
        # shellcheck disable=SC2086
        mt=$($q "$bin" once --collector.disable-defaults --collector.textfile \
            --collector.textfile.directory="$y2038" 2>/dev/null | sed -n 's/^node_textfile_mtime_seconds{.*} //p')
        rm -rf "$y2038"
        if [ "$mt" = 2.2089888e+09 ]; then
            echo "PASS $t: file times past January 2038 read right (textfile mtime $mt)"
        else
            echo "FAIL $t: textfile mtime in 2040 read as '$mt', want 2.2089888e+09 (32-bit time_t?)"
            rc=1
        fi
        if [ ! -s "$tmp/$t.prom" ]; then
            echo "FAIL $t: empty scrape under $q"; rc=1
        elif cmp -s "$tmp/host.prom" "$tmp/$t.prom"; then
            echo "PASS $t: '$v'; once output identical to host ($(wc -l < "$tmp/host.prom") stable lines)"
        else
            echo "FAIL $t: once output differs from host (- host, + $t):"
            diff "$tmp/host.prom" "$tmp/$t.prom" | grep '^[<>]' | sed 's/^</-/; s/^>/+/' | head -60
            rc=1
        fi
    done
    rm -rf "$tmp"
    return $rc
}

# --- main ----------------------------------------------------------------
ensure_zig
ensure_zigbuild
built=()
summary=()
failed=()
for t in "${targets[@]}"; do
    log "building $t"
    build_one "$t" || failed+=("$t")
done

echo
for s in "${summary[@]}"; do echo "$s"; done
[ ${#failed[@]} -eq 0 ] || echo "FAILED: ${failed[*]}" >&2

rc=0
[ ${#failed[@]} -eq 0 ] || rc=1
if [ $test_mode = 1 ] && [ ${#built[@]} -gt 0 ]; then
    echo
    run_tests || rc=1
fi
exit $rc
