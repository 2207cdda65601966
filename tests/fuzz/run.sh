#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer's coverage instrumentation and runs
# them, one after the other, each for SECONDS over its committed seed corpus
# (corpus/<target>/, only read) plus a scratch corpus where new inputs go.
#
#   tests/fuzz/run.sh [TARGET|all] [SECONDS]     (default: all, 10 s each)
#
# Per target it prints executions, exec/s, coverage (libFuzzer's final
# cov: and ft:) and the findings (crash, panic, timeout > 5 s, OOM > 2 GB),
# whose inputs are written under target/fuzz/runs/artifacts/<target>/.
# Exits 1 when any target found something.
#
# Environment: PICKET_FUZZ_RUNS (where scratch corpora, artifacts and logs
# go; default target/fuzz/runs), PICKET_FUZZ_ARGS (more libFuzzer flags).
#
# Stable Rust: the flags are those cargo-fuzz passes for libFuzzer without
# a sanitizer (safe Rust needs no ASan), all stable -C options; the build
# uses an explicit --target so that build scripts and proc macros are not
# instrumented.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

all=(text remote_write http_request haproxy mqtt_payload agent_config hub_config promql template chunk buffer_codec web_config relabel dns_answer)

which=${1:-all}
secs=${2:-10}
if [ "$which" = all ]; then
  targets=("${all[@]}")
elif printf '%s\n' "${all[@]}" | grep -qx -- "$which"; then
  targets=("$which")
else
  echo "run.sh: unknown target $which (one of: all ${all[*]})" >&2
  exit 2
fi

host=$(rustc -vV | sed -n 's/^host: //p')
export CARGO_TARGET_DIR="$root/target/fuzz"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth \
--cfg fuzzing"
bins=()
for t in "${targets[@]}"; do bins+=(--bin "$t"); done
(cd "$here" && cargo build --locked --release --target "$host" "${bins[@]}")

runs=${PICKET_FUZZ_RUNS:-$CARGO_TARGET_DIR/runs}
printf '%-14s %6s %11s %8s %6s %7s %s\n' target seconds executions exec/s cov ft findings
found=0
for t in "${targets[@]}"; do
  scratch="$runs/corpus/$t" art="$runs/artifacts/$t" log="$runs/logs/$t.log"
  mkdir -p "$scratch" "$art" "$(dirname "$log")" "$here/corpus/$t"
  dict=()
  [ -f "$here/dict/$t.dict" ] && dict=(-dict="$here/dict/$t.dict")
  before=$(find "$art" -type f | wc -l)
  start=$(date +%s)
  rc=0
  # shellcheck disable=SC2086
  "$CARGO_TARGET_DIR/$host/release/$t" "$scratch" "$here/corpus/$t" "${dict[@]}" \
    -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
    -max_len=8192 -print_final_stats=1 -artifact_prefix="$art/" ${PICKET_FUZZ_ARGS:-} \
    >"$log" 2>&1 || rc=$?
  took=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E ' cov: [0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  new=$(($(find "$art" -type f | wc -l) - before))
  what=none
  if [ "$rc" != 0 ] || [ "$new" -gt 0 ]; then
    found=1
    what="exit $rc, $new new in $art: $(grep -m1 -E '^==[0-9]+== ERROR|^thread .* panicked|ERROR: libFuzzer' "$log" || echo "see $log")"
  fi
  printf '%-14s %6s %11s %8s %6s %7s %s\n' "$t" "$took" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$what"
done
exit "$found"
