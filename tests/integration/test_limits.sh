# Input limits end to end. A record at the deepest supported nesting goes
# through a worker thread (map, jsonl and sqlite sinks) without fault. A
# record past max_depth, a JSONL line past max_line_bytes and a CSV line past
# max_row_bytes each become one DLQ row naming the limit, while the records
# around them are written. A config file past 16 MiB is rejected. Expected
# values are counted by hand or by python3, not by agora.
source "$(dirname "$0")/lib.sh"

cd "$WORKDIR"
mkdir -p out

# nested N: an object holding arrays nested to a total depth of N.
nested() {
  python3 -c 'import sys; n = int(sys.argv[1]); print("{\"d\":" + "[" * (n - 1) + "1" + "]" * (n - 1) + "}")' "$1"
}
{
  nested 1024
  nested 1025
  echo '{"d":"short"}'
  printf '{"d":"%s"}\n' "$(head -c 300 /dev/zero | tr '\0' 'x')"
  echo '{"d":"last"}'
} >deep.jsonl

{
  echo 'id,text'
  echo '1,short'
  printf '2,%s\n' "$(head -c 300 /dev/zero | tr '\0' 'y')"
  echo '3,"quoted, fine"'
} >rows.csv

cat >limits.toml <<'TOML'
format = "agora/v1"
[pipelines.deep]
source = { type = "jsonl", path = "deep.jsonl", max_depth = 1024, max_line_bytes = 3000 }
schedule = { mode = "once" }
dlq = { path = "out/dlq.db" }
middlewares = [{ type = "map", rename = { d = "deep" } }]
sinks = [
  { type = "jsonl", path = "out/deep.jsonl" },
  { type = "sqlite", path = "out/deep.db", table = "deep" },
]

[pipelines.rows]
source = { type = "csv", path = "rows.csv", max_row_bytes = 100 }
schedule = { mode = "once" }
dlq = { path = "out/dlq.db" }
sinks = [{ type = "jsonl", path = "out/rows.jsonl" }]
TOML

# The 300-byte JSONL line is within 3000 bytes; lower the limit for it with
# a second pipeline reading the same file.
cat >long.toml <<'TOML'
format = "agora/v1"
[pipelines.long]
source = { type = "jsonl", path = "deep.jsonl", max_line_bytes = 200 }
dlq = { path = "out/long_dlq.db" }
sinks = [{ type = "jsonl", path = "out/long.jsonl" }]
TOML

"$AGORA_BIN" worker --config limits.toml 2>worker.log &
WORKER_PID=$!
rows_done() { [ "$(sqlite3 out/dlq.db 'SELECT count(*) FROM dlq_records' 2>/dev/null)" = 2 ] &&
  [ -s out/rows.jsonl ] && [ "$(wc -l <out/deep.jsonl 2>/dev/null)" = 4 ]; }
if wait_for 20 rows_done; then pass "both pipelines ran"; else
  fail "both pipelines ran"; cat worker.log >&2; fi
# A worker whose pipelines are all `once` exits when they have run.
wait_exit "$WORKER_PID" "$(scaled 10)"
check_eq "worker exits 0 after its once pipelines" 0 "$EXIT_STATUS"

check_eq "the 1024-deep record is written at full depth" 1024 "$(python3 -c '
import json, sys
sys.setrecursionlimit(10000)
def depth(v):
    if isinstance(v, dict):
        return 1 + max([depth(x) for x in v.values()] or [0])
    if isinstance(v, list):
        return 1 + max([depth(x) for x in v] or [0])
    return 0
print(depth(json.loads(open("out/deep.jsonl").readline())))')"
check_eq "map renamed the deep record's key" deep \
  "$(python3 -c 'import json,sys; sys.setrecursionlimit(10000); print(list(json.loads(open("out/deep.jsonl").readline()))[0])')"
check_eq "sqlite holds the records within the limits" 4 \
  "$(sqlite3 out/deep.db 'SELECT count(*) FROM deep')"
check_eq "the record past max_depth is one source row in the DLQ" "deep|source|1" \
  "$(sqlite3 out/dlq.db "SELECT pipeline_id, stage, count(*) FROM dlq_records WHERE pipeline_id = 'deep' GROUP BY 1, 2")"
check_contains "its error names the limit" "limit of 1024 arrays and objects" \
  "$(sqlite3 out/dlq.db "SELECT error_message FROM dlq_records WHERE pipeline_id = 'deep'")"
check_contains "its error names the file and line" "deep.jsonl:2:" \
  "$(sqlite3 out/dlq.db "SELECT error_message FROM dlq_records WHERE pipeline_id = 'deep'")"

check_eq "csv rows within the limit are written" '1 3' \
  "$(jq -r .id out/rows.jsonl | xargs)"
check_contains "the long csv line is a DLQ row naming max_row_bytes" \
  "rows.csv: row 3: line longer than max_row_bytes (100 bytes)" \
  "$(sqlite3 out/dlq.db "SELECT error_message FROM dlq_records WHERE pipeline_id = 'rows'")"
check_eq "the DLQ row keeps the long line" "2,$(head -c 300 /dev/zero | tr '\0' 'y')" \
  "$(sqlite3 out/dlq.db "SELECT record FROM dlq_records WHERE pipeline_id = 'rows'")"

status=0
"$AGORA_BIN" run --config long.toml >/dev/null 2>long.log || status=$?
check_eq "a run with over-long lines completes" 0 "$status"
# Lines 1, 2 (thousands of bytes) and 4 (310 bytes) are past 200 bytes.
check_eq "the lines within max_line_bytes are written" '"short" "last"' \
  "$(jq -c .d out/long.jsonl | xargs -d '\n' echo)"
check_eq "each long line is one DLQ row" 3 \
  "$(sqlite3 out/long_dlq.db "SELECT count(*) FROM dlq_records WHERE stage = 'source' AND error_message LIKE '%max_line_bytes (200 bytes)%'")"

head -c $((17 * 1024 * 1024)) /dev/zero | tr '\0' '#' >big.toml
status=0
out=$("$AGORA_BIN" validate --config big.toml 2>&1) || status=$?
check_eq "a config file past 16 MiB is refused" 2 "$status"
check_contains "the refusal names the limit" "larger than 16 MiB" "$out"

finish
