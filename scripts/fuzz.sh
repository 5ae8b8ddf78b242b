#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang and runs each for a fixed
# time. Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS defaults to 30 per target; TARGET is json, toml, csv, cron, expr or
# health (default: all). The build goes to $AGORA_FUZZ_BUILD (default
# build-fuzz/ in the repository). Each target fuzzes a working corpus in
# <build>/corpus/<target>, which starts as a copy of fuzz/corpus/<target> and
# fuzz/regressions/<target> and keeps growing over later runs; fuzz/ itself is
# only read. AGORA_FUZZ_PARALLEL (default 1) sets how many targets run at once.
#
# Prints executions, exec/s, corpus size and the result per target, and exits
# with status 1 when any target found a crash, leak, timeout or memory blowup;
# its reproducer is then in <build>/artifacts/<target>/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
all_targets=(json toml csv cron expr health)

seconds=${1:-30}
shift || true
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz.sh: invalid SECONDS '$seconds': give a whole number of seconds >= 1" >&2
  exit 2
fi
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  if [[ " ${all_targets[*]} " != *" $t "* ]]; then
    echo "fuzz.sh: unknown target '$t': use one of ${all_targets[*]}" >&2
    exit 2
  fi
done
parallel=${AGORA_FUZZ_PARALLEL:-1}
if ! [[ "$parallel" =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz.sh: invalid AGORA_FUZZ_PARALLEL '$parallel': give a whole number >= 1" >&2
  exit 2
fi
build=${AGORA_FUZZ_BUILD:-$root/build-fuzz}

AGORA_DEPS_EXTRA="clang libclang-rt-14-dev ${AGORA_DEPS_EXTRA:-}" "$root/scripts/deps.sh"
CC=clang cmake -S "$root" -B "$build" -G Ninja -DAGORA_FUZZ=ON -DAGORA_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$build" "${targets[@]/#/fuzz_}"

# Leaks are findings; UBSan reports stop the run (the code is also built with
# -fno-sanitize-recover=all).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Runs one target and writes its exit status to <build>/logs/<target>.rc.
run_target() {
  local t=$1
  local corpus=$build/corpus/$t artifacts=$build/artifacts/$t
  local log=$build/logs/$t.log
  local args=()

  mkdir -p "$corpus" "$artifacts" "$build/logs"
  rm -f "$artifacts"/*
  cp -n "$root/fuzz/corpus/$t"/* "$corpus"/ 2>/dev/null || true
  if [ -d "$root/fuzz/regressions/$t" ]; then
    cp -n "$root/fuzz/regressions/$t"/* "$corpus"/ 2>/dev/null || true
  fi
  [ -f "$root/fuzz/dict/$t.dict" ] && args+=("-dict=$root/fuzz/dict/$t.dict")

  set +e
  "$build/fuzz/fuzz_$t" "${args[@]}" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "$corpus" >"$log" 2>&1
  echo $? >"$build/logs/$t.rc"
  set -e
}

echo "fuzz.sh: running ${targets[*]} for ${seconds}s each, $parallel at a time" >&2
running=0
for t in "${targets[@]}"; do
  run_target "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$parallel" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait

failed=0
printf '%-8s %14s %10s %13s  %s\n' target executions exec/s corpus_files result
for t in "${targets[@]}"; do
  log=$build/logs/$t.log
  rc=$(cat "$build/logs/$t.rc" 2>/dev/null || echo 1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  files=$(find "$build/corpus/$t" -type f | wc -l)
  found=$(find "$build/artifacts/$t" -type f | sort | tr '\n' ' ')
  if [ "$rc" -eq 0 ] && [ -z "$found" ]; then
    result=ok
  else
    result="FINDING (exit $rc): ${found:-see $log}"
    failed=1
  fi
  printf '%-8s %14s %10s %13s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$files" "$result"
done
if [ "$failed" -ne 0 ]; then
  echo "fuzz.sh: findings above; logs in $build/logs, reproduce with" \
       "$build/fuzz/fuzz_<target> <artifact>" >&2
  exit 1
fi
