# Helpers shared by the integration tests. Each test sources this file.
# CTest sets AGORA_BIN and AGORA_SOURCE_DIR; running a test by hand falls
# back to the default build directory.
set -euo pipefail

AGORA_SOURCE_DIR=${AGORA_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
AGORA_BIN=${AGORA_BIN:-$AGORA_SOURCE_DIR/build/agora}
PASSED=0
FAILED=0
WORKDIR=$(mktemp -d /tmp/agora-it.XXXXXX)
WORKER_PID=""

# AGORA_TEST_TIME_SCALE multiplies every real-time bound of the tests (waits,
# timeouts, "exits within N ms" checks). scripts/valgrind.sh raises it because
# programs run many times slower under valgrind. Default 1.
export AGORA_TEST_TIME_SCALE=${AGORA_TEST_TIME_SCALE:-1}
if ! [[ "$AGORA_TEST_TIME_SCALE" =~ ^[1-9][0-9]*$ ]]; then
  echo "AGORA_TEST_TIME_SCALE must be a positive integer, got '$AGORA_TEST_TIME_SCALE'" >&2
  exit 2
fi

# scaled N: prints the integer N times AGORA_TEST_TIME_SCALE.
scaled() { echo $(( $1 * AGORA_TEST_TIME_SCALE )); }

# sleep_ms MS: sleeps MS milliseconds (an integer).
sleep_ms() { sleep "$(printf '%d.%03d' $(( $1 / 1000 )) $(( $1 % 1000 )))"; }

# launch_path BINARY: prints the path to run BINARY by. With
# AGORA_TEST_LAUNCHER set (scripts/valgrind.sh sets it to
# scripts/valgrind-exec.sh), that is a script in WORKDIR that execs
# "$AGORA_TEST_LAUNCHER BINARY ARGS...", so the process keeps its pid and
# signals sent to it reach the program. Otherwise it is BINARY itself.
launch_path() {
  if [ -z "${AGORA_TEST_LAUNCHER:-}" ]; then
    echo "$1"
    return
  fi
  local script
  script=$(mktemp "$WORKDIR/launch-$(basename "$1").XXXXXX")
  printf '#!/bin/sh\nexec %q %q "$@"\n' "$AGORA_TEST_LAUNCHER" "$1" >"$script"
  chmod +x "$script"
  echo "$script"
}
# The launcher names its reports after the test.
export AGORA_TEST_NAME
AGORA_TEST_NAME=integration_$(basename "$0" .sh)
AGORA_BIN=$(launch_path "$AGORA_BIN")

cleanup() {
  if [ -n "$WORKER_PID" ] && kill -0 "$WORKER_PID" 2>/dev/null; then
    kill -KILL "$WORKER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORKDIR"
}
trap cleanup EXIT

pass() { PASSED=$((PASSED + 1)); echo "ok - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $1" >&2; }

# check NAME EXPECTED ACTUAL
check_eq() {
  if [ "$2" == "$3" ]; then pass "$1"; else fail "$1: expected '$2', got '$3'"; fi
}

# check_contains NAME NEEDLE HAYSTACK
check_contains() {
  if [[ "$3" == *"$2"* ]]; then pass "$1"; else fail "$1: '$2' not found in: $3"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for SECONDS COMMAND...: retries COMMAND every 0.1 s until it succeeds.
# SECONDS is multiplied by AGORA_TEST_TIME_SCALE.
wait_for() {
  local deadline=$(( $(date +%s) + $(scaled "$1") )); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

# wait_exit PID SECONDS: waits for PID (a child of this shell) to exit and
# stores its exit status in EXIT_STATUS, or "timeout" when it is still
# running after SECONDS. Call it directly, not in $(...): a subshell cannot
# wait for its parent's children. SECONDS is multiplied by
# AGORA_TEST_TIME_SCALE.
wait_exit() {
  local pid=$1 deadline=$(( $(date +%s) + $(scaled "$2") ))
  EXIT_STATUS=timeout
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then return 0; fi
    sleep 0.1
    # kill -0 succeeds on a zombie too, so check the state and reap it.
    if [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = "Z" ]; then break; fi
  done
  EXIT_STATUS=0
  wait "$pid" || EXIT_STATUS=$?
}

finish() {
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
}
