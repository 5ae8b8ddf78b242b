#!/usr/bin/env bash
# Runs the whole CTest suite under valgrind memcheck: every cmocka unit test
# executable and every agora process that the integration tests start.
# Fails (exit 1) when a test fails or when any valgrind report lists an
# invalid access, a use of uninitialised memory or a definite or indirect
# leak, and prints the test name and the report.
# Usage: scripts/valgrind.sh [BUILD_DIR]   (default: build-valgrind)
#
# How the processes get under valgrind:
#   - unit tests: CMAKE_CROSSCOMPILING_EMULATOR makes CTest start each test
#     executable as `scripts/valgrind-exec.sh TEST`;
#   - integration tests: AGORA_TEST_LAUNCHER makes tests/integration/lib.sh
#     start every agora process through scripts/valgrind-exec.sh.
# Each process writes its own report to BUILD_DIR/valgrind-logs.
# AGORA_TEST_TIME_SCALE (default 20) stretches the real-time bounds of the
# integration tests, which valgrind slows down 20 to 50 times.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-valgrind}
logs=$build/valgrind-logs

AGORA_DEPS_EXTRA="valgrind prometheus ${AGORA_DEPS_EXTRA:-}" "$root/scripts/deps.sh"

# Debug keeps every variable and line in the reports. Sanitizers are off
# because ASan and valgrind cannot run in the same process.
"$root/scripts/build.sh" "$build" -DCMAKE_BUILD_TYPE=Debug -DAGORA_SANITIZE=OFF \
  -DCMAKE_CROSSCOMPILING_EMULATOR="$root/scripts/valgrind-exec.sh"

# A CMake that ignored the emulator setting would run the unit tests
# unchecked and still pass, so check that it reached the test commands.
if ! grep -q "valgrind-exec.sh" "$build/CTestTestfile.cmake"; then
  echo "valgrind.sh: CTest does not start the unit tests through scripts/valgrind-exec.sh;" \
    "check that CMake applies CMAKE_CROSSCOMPILING_EMULATOR to add_test" >&2
  exit 1
fi

rm -rf "$logs"
mkdir -p "$logs"
export AGORA_VALGRIND_LOG_DIR=$logs
export AGORA_TEST_LAUNCHER=$root/scripts/valgrind-exec.sh
export AGORA_TEST_TIME_SCALE=${AGORA_TEST_TIME_SCALE:-20}

start=$(date +%s)
ctest_status=0
(cd "$build" && ctest --output-on-failure -j2) || ctest_status=$?
echo "valgrind.sh: ctest took $(( $(date +%s) - start )) s"

# A report with "ERROR SUMMARY: 0 errors" is clean. A report without a
# summary belongs to a process killed with SIGKILL (the crash tests do that
# on purpose), so it is checked for the error headings valgrind prints.
error_pattern='Invalid (read|write|free)|Mismatched free|uninitialised|Syscall param|'
error_pattern+='overlap|Jump to the invalid address|Fishy value|Invalid alignment|'
error_pattern+='definitely lost in|indirectly lost in'
bad=0
shopt -s nullglob
reports=("$logs"/*.log)
for report in "${reports[@]}"; do
  if grep -q "ERROR SUMMARY: 0 errors" "$report"; then
    continue
  fi
  if grep -q "ERROR SUMMARY:" "$report" || grep -Eq "$error_pattern" "$report"; then
    bad=$((bad + 1))
    file=$(basename "$report" .log)
    echo "valgrind.sh: errors in test ${file%.*} (pid ${file##*.}), report $report:" >&2
    head -n 300 "$report" >&2
  fi
done

# Every unit test must have left a report, or it did not run under valgrind.
missing=0
for source in "$root"/tests/unit/test_*.c; do
  name=$(basename "$source" .c)
  found=("$logs/$name".*.log)
  if [ ${#found[@]} -eq 0 ]; then
    echo "valgrind.sh: no valgrind report from unit test $name" >&2
    missing=$((missing + 1))
  fi
done
found=("$logs"/integration_*.log)
if [ ${#found[@]} -eq 0 ]; then
  echo "valgrind.sh: no valgrind report from any integration test" >&2
  missing=$((missing + 1))
fi

echo "valgrind.sh: ${#reports[@]} reports, $bad with errors, $missing tests without a report"
if [ "$ctest_status" -ne 0 ] || [ "$bad" -ne 0 ] || [ "$missing" -ne 0 ]; then
  exit 1
fi
