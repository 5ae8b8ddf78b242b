# Kills `agora dlq replay` with SIGKILL at random points of a 5,000-row DLQ
# and checks that no record vanished: after every kill each row's record is
# still in the DLQ or already in the sink output, the DLQ passes
# PRAGMA integrity_check, and at most one row per kill (the one in flight)
# can reach the output twice. The rows are made with the sqlite3 tool.
source "$(dirname "$0")/lib.sh"

ROWS=5000
KILLS=4
cd "$WORKDIR"

sqlite3 dlq.db <"$AGORA_SOURCE_DIR/tests/fixtures/dlq/python_runtime.sql"
sqlite3 dlq.db "DELETE FROM dlq_records;
  WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < $ROWS)
  INSERT INTO dlq_records (pipeline_id, run_id, stage, error_type, error_message,
    record, original_record, source, middleware, created_at)
  SELECT 'bulk', 'run-1', 'middleware', 'ValidationError', 'missing field',
    json_object('seq', i, 'Full Name', 'record ' || i),
    json_object('seq', i, 'Full Name', 'record ' || i),
    'jsonl', 'validate', '2026-01-01T00:00:00+00:00' FROM seq"
check_eq "the DLQ starts with every row" "$ROWS" "$(sqlite3 dlq.db 'SELECT count(*) FROM dlq_records')"
seq 1 "$ROWS" >all.txt

cat >bulk.toml <<'TOML'
format = "agora/v1"
[pipelines.bulk]
source = { type = "jsonl", path = "in.jsonl" }
schedule = { mode = "once" }
dlq = { path = "dlq.db" }
[[pipelines.bulk.middlewares]]
type = "validate"
required = ["seq"]
types = { seq = "int" }
[[pipelines.bulk.middlewares]]
type = "map"
snake_case = true
[[pipelines.bulk.sinks]]
type = "jsonl"
path = "out.jsonl"
TOML

# check_nothing_lost LABEL: every seq is in the DLQ or in the output.
check_nothing_lost() {
  sqlite3 dlq.db "SELECT json_extract(record, '\$.seq') FROM dlq_records" >left.txt
  if [ -s out.jsonl ]; then jq -r .seq out.jsonl >written.txt; else : >written.txt; fi
  sort -n -u left.txt written.txt >seen.txt
  check_eq "$1: no record vanished" "" "$(comm -23 <(sort all.txt) <(sort seen.txt) | head -n 3 | xargs)"
  check_eq "$1: DLQ integrity" ok "$(sqlite3 dlq.db 'PRAGMA integrity_check')"
}

output_lines() { if [ -f out.jsonl ]; then wc -l <out.jsonl; else echo 0; fi; }

kills=0
for attempt in $(seq 1 "$KILLS"); do
  before=$(output_lines)
  "$AGORA_BIN" dlq replay bulk --config bulk.toml --quiet >/dev/null 2>&1 &
  pid=$!
  # Kill once the replay has written a record, 0 to 0.3 s later: mid-run
  # whatever the machine's speed (a fixed delay either came before the start
  # or after the end under valgrind).
  replay_progressed() { [ "$(output_lines)" -gt "$before" ]; }
  wait_for 20 replay_progressed || true
  sleep_ms $(( RANDOM % 4 * 100 ))
  if kill -KILL "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null || true
  check_nothing_lost "after kill $attempt"
done
check_eq "every kill hit a running replay" "$KILLS" "$kills"
in_flight=$(sqlite3 dlq.db 'SELECT count(*) FROM dlq_records WHERE attempt > 0')
if [ "$in_flight" -le "$kills" ]; then pass "at most one raised attempt per kill ($in_flight)"
else fail "$in_flight rows have a raised attempt after $kills kills"; fi

status=0
timeout "$(scaled 180)" "$AGORA_BIN" dlq replay bulk --config bulk.toml --quiet >final.txt 2>&1 || status=$?
check_eq "the last replay completes" 0 "$status"
check_eq "the DLQ is empty" 0 "$(sqlite3 dlq.db 'SELECT count(*) FROM dlq_records')"
check_nothing_lost "at the end"
check_eq "every record reached the output" "$ROWS" "$(jq -r .seq out.jsonl | sort -u | wc -l)"
duplicates=$(( $(wc -l <out.jsonl) - ROWS ))
if [ "$duplicates" -le "$kills" ]; then pass "duplicates only for rows in flight ($duplicates)"
else fail "$duplicates duplicate lines after $kills kills"; fi
check_eq "the map middleware ran on replayed records" '"record 17"' \
  "$(jq -c 'select(.seq == 17) | .full_name' out.jsonl | head -n 1)"
check_eq "every output line is valid JSON" "$(wc -l <out.jsonl)" "$(jq -c . out.jsonl | wc -l)"

finish
