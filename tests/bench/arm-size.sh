#!/usr/bin/env bash
# Size budget report for the ARM builds: stripped static binary size per
# target and feature set, against the budgets of the ARM-builds issue, plus
# RSS while serving /metrics under qemu-user as a rough figure.
#
#   tests/bench/arm-size.sh [TARGET...]
#
# Default targets: aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf.
# Feature sets: full (default features) and minimal (--no-default-features).
# Budgets (bytes, 1 MB = 1,000,000 B): aarch64 full 4 MB, armv7 full 3.5 MB,
# minimal 1.5 MB on every target. Exit status 1 when a budget is exceeded.
#
# RSS: the agent serves fixtures/pi4 under qemu-user and is scraped 20 times;
# VmHWM of the qemu process is printed. It includes the emulator itself
# (qemu-user's own code, its translation cache and page tables), so it is an
# upper bound for the board, not a measurement of it. The host's native
# x86_64 build under the same workload is printed beside it for scale.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf)

budget() {  # budget <target> <set>
    case "$2:$1" in
        minimal:*) echo 1500000 ;;
        full:aarch64-*) echo 4000000 ;;
        full:*) echo 3500000 ;;
    esac
}

# shellcheck source=cross/qemu.sh
. "$repo/cross/qemu.sh"

# hwm_kib <port> <command...>: serve fixtures/pi4, scrape 20 times, print VmHWM in KiB.
hwm_kib() {
    local port=$1 pid i hwm
    shift
    mkdir -p tests/fixtures/pi4/sys/class/power_supply
    "$@" --web.listen-address=127.0.0.1:"$port" --path.procfs=tests/fixtures/pi4/proc \
        --path.sysfs=tests/fixtures/pi4/sys --path.rootfs=tests/fixtures/pi4/rootfs 2>/dev/null &
    pid=$!
    for i in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/metrics" && break; sleep 0.1; done
    for i in $(seq 20); do curl -sf -o /dev/null -H 'Accept-Encoding: gzip' "http://127.0.0.1:$port/metrics"; done
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "$hwm"
}

rows=()
over=0
port=19290
for set in full minimal; do
    feats=""
    [ $set = minimal ] && feats="--no-default-features"
    outdir=$repo/target/cross/size/$set
    CROSS_OUT=$outdir CROSS_FEATURES=$feats cross/build.sh "${targets[@]}" >&2
    for t in "${targets[@]}"; do
        bin=$outdir/picket-$t
        bytes=$(stat -c %s "$bin")
        b=$(budget "$t" $set)
        verdict=PASS
        if [ "$bytes" -gt "$b" ]; then verdict=FAIL; over=1; fi
        port=$((port + 1))
        # shellcheck disable=SC2046
        rss=$(hwm_kib $port $(qemu_for "$t") "$bin")
        rows+=("$(printf '| %-31s | %-7s | %9d | %9d | %5.3f | %-4s | %6.1f |' \
            "$t" $set "$bytes" "$b" "$(awk "BEGIN {print $bytes / $b}")" $verdict "$(awk "BEGIN {print $rss / 1024}")")")
    done
done

cargo build --release --locked --bin picket >&2
host_rss=$(hwm_kib 19299 target/release/picket)

echo
echo "| target                          | set     |     bytes |    budget | ratio | ok   | RSS under qemu (MiB) |"
echo "|---|---|---:|---:|---:|---|---:|"
for r in "${rows[@]}"; do echo "$r"; done
printf '\nhost x86_64 (native, no emulator), same workload: VmHWM %.1f MiB\n' "$(awk "BEGIN {print $host_rss / 1024}")"
exit $over
