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
wait_for() {
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

# wait_exit PID SECONDS: waits for PID (a child of this shell) to exit and
# stores its exit status in EXIT_STATUS, or "timeout" when it is still
# running after SECONDS. Call it directly, not in $(...): a subshell cannot
# wait for its parent's children.
wait_exit() {
  local pid=$1 deadline=$(( $(date +%s) + $2 ))
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
