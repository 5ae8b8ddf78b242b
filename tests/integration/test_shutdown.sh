# Graceful shutdown of the real worker on SIGTERM, on the real clock:
#   1. sleeping pipelines (every 3600 s) wake and end at once;
#   2. a run in flight finishes and its output is complete;
#   3. graceful_shutdown_timeout bounds the wait: a longer run is canceled
#      at a batch boundary;
#   4. a second SIGTERM cancels at once.
# Every step must show in the log. Expected counts come from wc and sqlite3.
source "$(dirname "$0")/lib.sh"

now_ms() { date +%s%3N; }

# start_worker CONFIG LOG: starts the worker in the background.
start_worker() {
  "$AGORA_BIN" worker --config "$1" 2>"$2" &
  WORKER_PID=$!
}

# wait_and_time SECONDS: waits for the worker to exit and stores the time
# from SENT_MS to the exit in EXIT_MS.
wait_and_time() {
  wait_exit "$WORKER_PID" "$1"
  EXIT_MS=$(( $(now_ms) - SENT_MS ))
  WORKER_PID=""
}

# event_count LOG EVENT [PIPELINE]: number of log lines with that event.
event_count() {
  if [ $# -ge 3 ]; then
    grep -c "event=$2 pipeline_id=$3\b" "$1" || true
  else
    grep -c "event=$2\b" "$1" || true
  fi
}

# A record of about 50 bytes; the map and the SQLite sink make a run of
# these take a few seconds, long enough to be in flight when SIGTERM comes.
# A slower run (AGORA_TEST_TIME_SCALE > 1) needs fewer records for that.
big=$WORKDIR/big.jsonl
lines=$((4000000 / AGORA_TEST_TIME_SCALE))
seq 1 "$lines" | awk '{printf "{\"id\":%d,\"name\":\"record %d\",\"value\":%d.5}\n",$1,$1,$1%1000}' >"$big"
check_eq "input line count" "$lines" "$(wc -l <"$big" | tr -d ' ')"
printf '{"id":1}\n{"id":2}\n{"id":3}\n' >"$WORKDIR/small.jsonl"

# big_config FILE TIMEOUT: one pipeline reading the big input into SQLite.
big_config() {
  cat >"$1" <<TOML
format = "agora/v1"
[worker]
graceful_shutdown_timeout = $2
[pipelines.big]
source = { type = "jsonl", path = "$big" }
schedule = { mode = "every", seconds = 3600 }
[[pipelines.big.middlewares]]
type = "map"
cast = { "value" = "string", "id" = "string" }
snake_case = true
[[pipelines.big.sinks]]
type = "sqlite"
path = "$WORKDIR/$(basename "$1" .toml).db"
table = "t"
mode = "replace"
TOML
}

# ---- 1. Sleeping pipelines end at once --------------------------------------
idle=$WORKDIR/idle.toml
{
  echo 'format = "agora/v1"'
  echo '[worker]'
  echo 'graceful_shutdown_timeout = 30.0'
  for i in 1 2 3 4 5; do
    echo "[pipelines.sleeper$i]"
    echo "source = { type = \"jsonl\", path = \"$WORKDIR/small.jsonl\" }"
    echo 'schedule = { mode = "every", seconds = 3600 }'
    echo "[[pipelines.sleeper$i.sinks]]"
    echo "type = \"jsonl\""
    echo "path = \"$WORKDIR/sleeper$i.jsonl\""
  done
} >"$idle"
log=$WORKDIR/idle.log
start_worker "$idle" "$log"
all_slept() { [ "$(event_count "$log" run_finished)" -eq 5 ]; }
if wait_for 10 all_slept; then pass "idle: five pipelines ran once"; else
  fail "idle: five pipelines ran once"; cat "$log" >&2; fi
sleep 0.2
SENT_MS=$(now_ms)
kill -TERM "$WORKER_PID"
wait_and_time 10
check_eq "idle: exit status 0" 0 "$EXIT_STATUS"
if [ "$EXIT_MS" -lt "$(scaled 1000)" ]; then pass "idle: exits within $(scaled 1000) ms of SIGTERM ($EXIT_MS ms)"; else
  fail "idle: exits within $(scaled 1000) ms of SIGTERM (took $EXIT_MS ms)"; fi
check_eq "idle: signal_received logged" 1 "$(event_count "$log" signal_received)"
check_eq "idle: shutdown_started logged" 1 "$(event_count "$log" shutdown_started)"
for i in 1 2 3 4 5; do
  check_eq "idle: stop_requested for sleeper$i" 1 "$(event_count "$log" stop_requested "sleeper$i")"
  check_contains "idle: sleeper$i stopped by request" 'msg="stop requested"' \
    "$(grep "event=pipeline_stopped pipeline_id=sleeper$i\b" "$log")"
done
check_eq "idle: no cancel" 0 "$(event_count "$log" cancel_requested)"
check_eq "idle: shutdown_complete logged" 1 "$(event_count "$log" shutdown_complete)"
# The loops end on a condition variable broadcast; 50 ms is far above the
# wake-up time and far below any timer-based polling.
elapsed=$(sed -n 's/.*event=shutdown_complete.*elapsed_ms=\([0-9.]*\).*/\1/p' "$log")
if python3 -c "import sys; sys.exit(0 if float('$elapsed') < $(scaled 50) else 1)" 2>/dev/null; then
  pass "idle: every loop ended within $(scaled 50) ms of the signal ($elapsed ms)"; else
  fail "idle: every loop ended within $(scaled 50) ms of the signal (elapsed_ms='$elapsed')"; fi
check_eq "idle: worker_stopped logged" 1 "$(event_count "$log" worker_stopped)"

# ---- 2. A run in flight finishes -------------------------------------------
conf=$WORKDIR/inflight.toml
big_config "$conf" 30.0
log=$WORKDIR/inflight.log
start_worker "$conf" "$log"
if wait_for 10 grep -q "event=run_started" "$log"; then pass "inflight: run started"; else
  fail "inflight: run started"; fi
sleep 0.3
SENT_MS=$(now_ms)
kill -TERM "$WORKER_PID"
wait_and_time 25
check_eq "inflight: exit status 0" 0 "$EXIT_STATUS"
run_id=$(sed -n 's/.*event=run_started pipeline_id=big run_id=\([0-9a-f]*\).*/\1/p' "$log")
check_eq "inflight: the run was in flight at SIGTERM" 1 \
  "$(grep -c "event=shutdown_waiting pipeline_id=big run_id=$run_id" "$log" || true)"
check_eq "inflight: the run finished, not canceled" 1 \
  "$(grep "event=run_finished pipeline_id=big run_id=$run_id" "$log" | grep -vc canceled || true)"
check_eq "inflight: every record written" "$lines" \
  "$(sqlite3 "$WORKDIR/inflight.db" 'SELECT count(*) FROM t')"
check_eq "inflight: no timeout" 0 "$(event_count "$log" shutdown_timeout)"
check_eq "inflight: no cancel" 0 "$(event_count "$log" cancel_requested)"
check_eq "inflight: shutdown_complete logged" 1 "$(event_count "$log" shutdown_complete)"

# ---- 3. graceful_shutdown_timeout cancels a longer run ----------------------
conf=$WORKDIR/timeout.toml
big_config "$conf" 0.5
log=$WORKDIR/timeout.log
start_worker "$conf" "$log"
if wait_for 10 grep -q "event=run_started" "$log"; then pass "timeout: run started"; else
  fail "timeout: run started"; fi
sleep 0.2
SENT_MS=$(now_ms)
kill -TERM "$WORKER_PID"
wait_and_time 20
run_id=$(sed -n 's/.*event=run_started pipeline_id=big run_id=\([0-9a-f]*\).*/\1/p' "$log")
check_eq "timeout: exit status 0" 0 "$EXIT_STATUS"
# 0.5 s of graceful timeout, then one batch; generous for a loaded machine.
if [ "$EXIT_MS" -lt "$(scaled 3000)" ]; then pass "timeout: exits soon after the timeout ($EXIT_MS ms)"; else
  fail "timeout: exits soon after the timeout (took $EXIT_MS ms)"; fi
check_eq "timeout: shutdown_waiting with the run" 1 \
  "$(grep -c "event=shutdown_waiting pipeline_id=big run_id=$run_id" "$log" || true)"
check_eq "timeout: shutdown_timeout logged" 1 "$(event_count "$log" shutdown_timeout)"
check_eq "timeout: cancel_requested with the run" 1 \
  "$(grep -c "event=cancel_requested pipeline_id=big run_id=$run_id" "$log" || true)"
check_contains "timeout: the run ended canceled" "canceled" \
  "$(grep "event=run_finished pipeline_id=big run_id=$run_id" "$log" || true)"
check_contains "timeout: the loop says why it ended" 'msg="run canceled"' \
  "$(grep "event=pipeline_stopped pipeline_id=big" "$log" || true)"
check_eq "timeout: shutdown_complete logged" 1 "$(event_count "$log" shutdown_complete)"
consumed=$(sed -n "s/.*event=run_finished pipeline_id=big run_id=$run_id.*consumed=\([0-9]*\).*/\1/p" "$log")
if [ -n "$consumed" ] && [ "$consumed" -lt "$lines" ]; then
  pass "timeout: the run stopped early ($consumed of $lines records)"; else
  fail "timeout: the run stopped early (consumed='$consumed' of $lines)"; fi

# ---- 4. A second SIGTERM cancels at once -----------------------------------
conf=$WORKDIR/second.toml
big_config "$conf" 30.0
log=$WORKDIR/second.log
start_worker "$conf" "$log"
if wait_for 10 grep -q "event=run_started" "$log"; then pass "second: run started"; else
  fail "second: run started"; fi
sleep 0.2
kill -TERM "$WORKER_PID"
wait_for 5 grep -q "event=shutdown_waiting" "$log" || true
SENT_MS=$(now_ms)
kill -TERM "$WORKER_PID"
wait_and_time 20
run_id=$(sed -n 's/.*event=run_started pipeline_id=big run_id=\([0-9a-f]*\).*/\1/p' "$log")
check_eq "second: exit status 0" 0 "$EXIT_STATUS"
if [ "$EXIT_MS" -lt "$(scaled 1000)" ]; then pass "second: exits within $(scaled 1000) ms of the second SIGTERM ($EXIT_MS ms)"; else
  fail "second: exits within $(scaled 1000) ms of the second SIGTERM (took $EXIT_MS ms)"; fi
check_eq "second: both signals logged" 2 "$(event_count "$log" signal_received)"
check_eq "second: shutdown_canceled logged" 1 "$(event_count "$log" shutdown_canceled)"
check_eq "second: no timeout" 0 "$(event_count "$log" shutdown_timeout)"
check_eq "second: cancel_requested with the run" 1 \
  "$(grep -c "event=cancel_requested pipeline_id=big run_id=$run_id" "$log" || true)"
check_contains "second: the run ended canceled" "canceled" \
  "$(grep "event=run_finished pipeline_id=big run_id=$run_id" "$log" || true)"
check_eq "second: shutdown_complete logged" 1 "$(event_count "$log" shutdown_complete)"

finish
