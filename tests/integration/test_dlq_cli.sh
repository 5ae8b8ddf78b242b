# agora dlq list, show, count, purge and replay against DLQ files built with
# the sqlite3 tool (one as the Python runtime writes it) and against a DLQ a
# real run filled. Results are checked with jq and sqlite3.
source "$(dirname "$0")/lib.sh"

FIXTURES="$AGORA_SOURCE_DIR/tests/fixtures/dlq"
cd "$WORKDIR"

# ---- help and usage errors ----
for cmd in replay list show count purge; do
  status=0; out=$("$AGORA_BIN" dlq "$cmd" --help 2>&1) || status=$?
  check_eq "dlq $cmd --help exits 0" 0 "$status"
  check_contains "dlq $cmd --help shows usage" "usage: agora dlq $cmd" "$out"
done
status=0; "$AGORA_BIN" dlq frobnicate >/dev/null 2>&1 || status=$?
check_eq "unknown dlq command exits 2" 2 "$status"
status=0; out=$("$AGORA_BIN" dlq list --dlq missing.db 2>&1) || status=$?
check_eq "list of a missing --dlq file exits 2" 2 "$status"
check_contains "missing file is named" "missing.db does not exist" "$out"
echo "not a database" >junk.db
status=0; "$AGORA_BIN" dlq list --dlq junk.db >/dev/null 2>&1 || status=$?
check_eq "list of a file that is no DLQ exits 2" 2 "$status"

# ---- a DLQ file written by the Python runtime ----
sqlite3 py.db <"$FIXTURES/python_runtime.sql"

out=$("$AGORA_BIN" dlq list --dlq py.db)
check_eq "list prints a header and one line per row" 7 "$(printf '%s\n' "$out" | wc -l)"
check_contains "list shows attempt/max_attempts" "3/3" "$out"
check_contains "list shows created_at to the second" "2026-03-01T10:15:31" "$out"

"$AGORA_BIN" dlq list orders --dlq py.db --json >py.jsonl
check_eq "list --json filters by pipeline" 5 "$(wc -l <py.jsonl)"
check_eq "list --json is valid JSON, record as an object" \
  '"Zoë Martín"' "$(jq -c 'select(.id == 1) | .record.customer' py.jsonl)"
check_eq "list --json keeps arrays in records" \
  '["rush","gift"]' "$(jq -c 'select(.id == 2) | .original_record.tags' py.jsonl)"
check_eq "list --json keeps created_at as written" \
  '"2026-03-01T10:15:30.123456+00:00"' "$(jq -c 'select(.id == 1) | .created_at' py.jsonl)"
check_eq "list --json gives max_attempts" 3 "$(jq 'select(.id == 4) | .max_attempts' py.jsonl)"
check_eq "list --json gives a NULL max_attempts as null" null "$(jq 'select(.id == 1) | .max_attempts' py.jsonl)"
check_eq "list --json checkpoint is a JSON value" 3 "$(jq 'select(.id == 3) | .checkpoint.line_number' py.jsonl)"
check_eq "list --json raw source text becomes a string" \
  '"{\"id\": 106, \"amount\": 3.5, "' "$(jq -c 'select(.id == 6) | .record' py.jsonl)"
check_eq "list --json has every column" 16 "$(jq -s '.[0] | keys | length' py.jsonl)"
check_eq "list --stage filters" "3 4" \
  "$("$AGORA_BIN" dlq list --dlq py.db --stage sink_write --json | jq -r .id | xargs)"
check_eq "list --limit stops early" "1 2" \
  "$("$AGORA_BIN" dlq list --dlq py.db --limit 2 --json | jq -r .id | xargs)"

out=$("$AGORA_BIN" dlq show 3 --dlq py.db)
check_contains "show prints the sink" "archive" "$out"
check_contains "show indents records" '  "total": 7.25' "$out"
check_eq "show --json matches the row" '"database is locked"' \
  "$("$AGORA_BIN" dlq show 3 --dlq py.db --json | jq -c .error_message)"
status=0; "$AGORA_BIN" dlq show 99 --dlq py.db >/dev/null 2>&1 || status=$?
check_eq "show of a missing row exits 1" 1 "$status"
status=0; "$AGORA_BIN" dlq show abc --dlq py.db >/dev/null 2>&1 || status=$?
check_eq "show of a non-numeric id exits 2" 2 "$status"

"$AGORA_BIN" dlq count --dlq py.db --json >count.jsonl
check_eq "count groups by pipeline and stage" \
  'invoices/middleware=1 orders/middleware=2 orders/sink_write=2 orders/source=1' \
  "$(jq -r '"\(.pipeline_id)/\(.stage)=\(.count)"' count.jsonl | xargs)"
check_contains "count prints a total" "total" "$("$AGORA_BIN" dlq count --dlq py.db)"

# The pipeline the rows came from, fixed: "amount" is renamed to "total"
# and no longer required. Both sinks overwrite on a normal run; a replay
# must append.
mkdir -p out
echo '{"id": 1}' >out/main.jsonl
echo '{"id": 2}' >out/archive.jsonl
cat >orders.toml <<'TOML'
format = "agora/v1"
[pipelines.orders]
source = { type = "jsonl", path = "in/orders.jsonl" }
schedule = { mode = "once" }
dlq = { path = "py.db" }
[[pipelines.orders.middlewares]]
type = "validate"
required = ["id"]
[[pipelines.orders.middlewares]]
type = "map"
rename = { amount = "total" }
[[pipelines.orders.sinks]]
type = "jsonl"
name = "main"
path = "out/main.jsonl"
[[pipelines.orders.sinks]]
type = "jsonl"
name = "archive"
path = "out/archive.jsonl"
TOML

status=0; "$AGORA_BIN" dlq replay orders --config orders.toml --mode sink --stage middleware \
  >/dev/null 2>&1 || status=$?
check_eq "sink mode with a middleware stage exits 2" 2 "$status"
status=0; "$AGORA_BIN" dlq replay orders --config orders.toml --mode fast >/dev/null 2>&1 || status=$?
check_eq "unknown mode exits 2" 2 "$status"

# Sink mode: only row 3 (a live sink_write row) goes, to the archive sink only.
status=0; out=$("$AGORA_BIN" dlq replay orders --config orders.toml --mode sink 2>&1) || status=$?
check_eq "sink-mode replay exits 0" 0 "$status"
check_contains "sink-mode counts" "attempted 1, succeeded 1 (0 dropped by a middleware), failed 0, skipped 4" "$out"
check_contains "sink mode explains skipped middleware rows" "replay them with --mode pipeline" "$out"
check_contains "exhausted rows are reported" "attempts used up (3 of max_attempts 3)" "$out"
check_eq "sink mode wrote the processed record to the archive sink" \
  '{"id":103,"total":7.25,"customer":"Lin"}' "$(tail -n 1 out/archive.jsonl)"
check_eq "the archive sink kept its earlier line" '{"id": 2}' "$(head -n 1 out/archive.jsonl)"
check_eq "the main sink did not get the row" 1 "$(wc -l <out/main.jsonl)"
check_eq "replayed row 3 is deleted" 0 "$(sqlite3 py.db 'SELECT count(*) FROM dlq_records WHERE id = 3')"

# Pipeline mode: rows 1 and 2 go through the chain to both sinks, row 6
# (raw text) fails, row 4 is skipped, row 5 belongs to another pipeline.
status=0; out=$("$AGORA_BIN" dlq replay orders --config orders.toml 2>&1) || status=$?
check_eq "replay with a failed row exits 1" 1 "$status"
check_contains "pipeline-mode counts" "attempted 3, succeeded 2 (0 dropped by a middleware), failed 1, skipped 1" "$out"
check_contains "raw source row fails with the reason" "row 6 (stage source): failed: the payload is not valid JSON" "$out"
check_eq "main sink got rows 101 and 102 renamed" "101:null 102:null" \
  "$(tail -n +2 out/main.jsonl | jq -r '"\(.id):\(.total)"' | xargs)"
check_eq "main sink record has no amount key" "false false" \
  "$(tail -n +2 out/main.jsonl | jq -r 'has("amount")' | xargs)"
check_eq "archive sink got rows 101 and 102 too" "2 103 101 102" \
  "$(jq -r .id out/archive.jsonl | xargs)"
check_eq "rows left: exhausted, other pipeline, raw" "4|3 5|0 6|0" \
  "$(sqlite3 py.db 'SELECT id || "|" || attempt FROM dlq_records ORDER BY id' | xargs)"
check_eq "replay did not switch the file to WAL" delete "$(sqlite3 py.db 'PRAGMA journal_mode')"

# ---- a DLQ filled by a real run ----
mkdir -p in
printf '{"n":1,"k":"a"}\n{"n":2}\n{"n":3,"k":"c"}\n{"n":4}\n{"n":5}\nnot json\n' >in/mixed.jsonl
cat >mixed.toml <<'TOML'
format = "agora/v1"
[pipelines.mixed]
source = { type = "jsonl", path = "in/mixed.jsonl" }
schedule = { mode = "once" }
dlq = { path = "state/dlq.db" }
[[pipelines.mixed.middlewares]]
type = "validate"
required = ["k"]
[[pipelines.mixed.sinks]]
type = "jsonl"
path = "out/mixed.jsonl"
TOML
"$AGORA_BIN" run mixed --config mixed.toml --no-progress >/dev/null 2>&1 || true
check_eq "the run sent 3 invalid records and 1 bad line to the DLQ" "middleware=3 source=1" \
  "$("$AGORA_BIN" dlq count mixed --config mixed.toml --json | jq -r '"\(.stage)=\(.count)"' | xargs)"
run_id=$(sqlite3 state/dlq.db 'SELECT run_id FROM dlq_records LIMIT 1')

# The fixed config requires n instead of k and drops the record with n = 4
# (its filter is the second entry of the middlewares array).
sed -e 's/required = \["k"\]/required = ["n"]/' mixed.toml >fixed.toml
cat >>fixed.toml <<'TOML'
[[pipelines.mixed.middlewares]]
type = "filter"
expression = "n != 4"
TOML
status=0; out=$("$AGORA_BIN" dlq replay mixed --config fixed.toml --stage middleware \
  --run-id "$run_id" --limit 1 2>&1) || status=$?
check_eq "replay --limit 1 exits 0" 0 "$status"
check_contains "replay --limit 1 tries one row" "attempted 1, succeeded 1" "$out"
status=0; out=$("$AGORA_BIN" dlq replay mixed --config fixed.toml --stage middleware 2>&1) || status=$?
check_eq "replay of the rest exits 0" 0 "$status"
check_contains "a dropped record counts as succeeded" "attempted 2, succeeded 2 (1 dropped by a middleware)" "$out"
check_eq "the run's and the replay's records are in the sink" "1 3 2 5" \
  "$(jq -r .n out/mixed.jsonl | xargs)"
check_eq "only the bad line is left" source \
  "$(sqlite3 state/dlq.db 'SELECT stage FROM dlq_records' | xargs)"
status=0; out=$("$AGORA_BIN" dlq replay mixed --config fixed.toml --run-id nosuchrun 2>&1) || status=$?
check_contains "--run-id with no rows replays nothing" "attempted 0" "$out"

# A sink_write row naming a sink the config no longer has fails, unless
# --all-sinks sends it to every sink.
sqlite3 state/dlq.db "INSERT INTO dlq_records (pipeline_id, run_id, stage, error_type,
  error_message, record, original_record, processed_record, sink, created_at)
  VALUES ('mixed', 'r1', 'sink_write', 'SinkError', 'disk full', '{\"n\":9,\"k\":\"x\"}',
  '{\"n\":9,\"k\":\"x\"}', '{\"n\":9,\"k\":\"x\"}', 'gone', '2026-01-01T00:00:00+00:00')"
status=0; out=$("$AGORA_BIN" dlq replay mixed --config fixed.toml --mode sink 2>&1) || status=$?
check_eq "replay to a missing sink exits 1" 1 "$status"
check_contains "missing sink is explained" "no sink named 'gone'" "$out"
check_eq "the failed row's attempt is unchanged" 0 \
  "$(sqlite3 state/dlq.db "SELECT attempt FROM dlq_records WHERE sink = 'gone'")"
status=0; "$AGORA_BIN" dlq replay mixed --config fixed.toml --mode sink --all-sinks >/dev/null 2>&1 || status=$?
check_eq "replay --all-sinks exits 0" 0 "$status"
check_eq "--all-sinks wrote the record" 9 "$(tail -n 1 out/mixed.jsonl | jq .n)"

# A record that fails again stays with its attempt raised.
sqlite3 state/dlq.db "INSERT INTO dlq_records (pipeline_id, run_id, stage, error_type,
  error_message, record, created_at) VALUES ('mixed', 'r2', 'middleware',
  'MiddlewareError', 'x', '{\"k\":\"no n\"}', '2026-01-01T00:00:00+00:00')"
"$AGORA_BIN" dlq replay mixed --config fixed.toml --stage middleware >/dev/null 2>&1 || true
"$AGORA_BIN" dlq replay mixed --config fixed.toml --stage middleware >/dev/null 2>&1 || true
check_eq "a row that fails twice has attempt 2" 2 \
  "$(sqlite3 state/dlq.db "SELECT attempt FROM dlq_records WHERE run_id = 'r2'")"

# ---- purge ----
status=0; out=$("$AGORA_BIN" dlq purge --dlq py.db </dev/null 2>&1) || status=$?
check_eq "purge without a terminal and without --yes exits 2" 2 "$status"
check_contains "purge explains --yes" "add --yes" "$out"
check_eq "nothing was purged" 3 "$(sqlite3 py.db 'SELECT count(*) FROM dlq_records')"
status=0; "$AGORA_BIN" dlq purge --dlq py.db --before yesterday --yes >/dev/null 2>&1 || status=$?
check_eq "purge with an invalid date exits 2" 2 "$status"
out=$("$AGORA_BIN" dlq purge orders --dlq py.db --before 2026-03-02T07:00:00 --yes)
check_contains "purge --before with no older rows deletes none" "deleted 0 rows" "$out"
# 11:00 at +02:00 is 09:00 UTC: row 4 (08:00 UTC) is older, row 6 (10:00) is not.
out=$("$AGORA_BIN" dlq purge orders --dlq py.db --before 2026-03-02T11:00:00+02:00 --yes)
check_contains "purge --before counts what it deleted" "deleted 1 DLQ row" "$out"
check_eq "purge --before left the other rows" "5 6" \
  "$(sqlite3 py.db 'SELECT id FROM dlq_records ORDER BY id' | xargs)"
out=$("$AGORA_BIN" dlq purge --dlq py.db --stage middleware --yes)
check_contains "purge --stage" "deleted 1 DLQ row" "$out"
check_eq "purge --stage left the source row" 6 "$(sqlite3 py.db 'SELECT id FROM dlq_records')"
out=$("$AGORA_BIN" dlq purge mixed --config fixed.toml --yes)
check_contains "purge through a config" "deleted 2 DLQ rows" "$out"
check_eq "the DLQ of mixed is empty" 0 "$(sqlite3 state/dlq.db 'SELECT count(*) FROM dlq_records')"
check_eq "py.db is intact" ok "$(sqlite3 py.db 'PRAGMA integrity_check')"

# Errors leave standard output empty, and impossible dates are rejected.
status=0; out=$("$AGORA_BIN" dlq list --dlq "$WORKDIR/does-not-exist.db" 2>/dev/null) || status=$?
check_eq "list of a missing DLQ file exits 2" 2 "$status"
check_eq "list of a missing DLQ file prints nothing on stdout" "" "$out"
status=0; out=$("$AGORA_BIN" dlq count --dlq "$AGORA_SOURCE_DIR/README.md" 2>/dev/null) || status=$?
check_eq "count of a file that is not a DLQ fails" 1 "$((status != 0))"
check_eq "count of a file that is not a DLQ prints nothing on stdout" "" "$out"
sqlite3 "$WORKDIR/dates.db" <"$AGORA_SOURCE_DIR/tests/fixtures/dlq/python_runtime.sql"
status=0; msg=$("$AGORA_BIN" dlq purge --dlq "$WORKDIR/dates.db" --before 2026-02-30 --yes 2>&1) || status=$?
check_eq "purge --before 2026-02-30 exits 2" 2 "$status"
check_contains "purge --before names the invalid date" "invalid --before date '2026-02-30'" "$msg"
check_eq "the rejected purge deleted nothing" 6 "$(sqlite3 "$WORKDIR/dates.db" 'SELECT count(*) FROM dlq_records')"

finish
