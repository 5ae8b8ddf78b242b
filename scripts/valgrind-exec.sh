#!/usr/bin/env bash
# Runs one program under valgrind memcheck with the options scripts/valgrind.sh
# checks for, and writes the report to AGORA_VALGRIND_LOG_DIR/NAME.PID.log.
# NAME is AGORA_TEST_NAME (set by tests/integration/lib.sh) or else the
# program's file name, so every report names the test that produced it.
# The program keeps this process id (exec), so tests can signal it.
# Usage: scripts/valgrind-exec.sh PROGRAM [ARGS...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -lt 1 ]; then
  echo "usage: $0 PROGRAM [ARGS...]" >&2
  exit 2
fi
if [ -z "${AGORA_VALGRIND_LOG_DIR:-}" ]; then
  echo "$0: AGORA_VALGRIND_LOG_DIR is not set; set it to a directory for the reports" >&2
  exit 2
fi
mkdir -p "$AGORA_VALGRIND_LOG_DIR"
name=${AGORA_TEST_NAME:-$(basename "$1")}

# 97 is an exit status no agora command or cmocka test uses, so a valgrind
# error shows as its own status. Definite and indirect leaks count as errors.
# Possible and still-reachable blocks do not, because thread stacks and
# library caches that live until exit show up there.
exec valgrind --tool=memcheck \
  --error-exitcode=97 \
  --leak-check=full \
  --errors-for-leak-kinds=definite,indirect \
  --show-leak-kinds=definite,indirect \
  --num-callers=40 \
  --suppressions="$root/tests/valgrind.supp" \
  ${AGORA_VALGRIND_EXTRA:-} \
  --log-file="$AGORA_VALGRIND_LOG_DIR/$name.%p.log" \
  "$@"
