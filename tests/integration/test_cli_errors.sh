# Bad input gets one clear error and loses nothing: a bad config, a missing
# input file and a malformed record, through the real agora binary.
source "$(dirname "$0")/lib.sh"

cd "$WORKDIR"

# --- bad config: unknown key, reported with file:line:column -------------
cat >bad.toml <<'TOML'
format = "agora/v1"

[pipelines.p]
source = { type = "jsonl", path = "in.jsonl" }
sinks = [{ type = "stdout" }]
max_recrods = 10
TOML
status=0; msg=$("$AGORA_BIN" validate --config bad.toml 2>&1) || status=$?
check_eq "unknown pipeline key exits 2" 2 "$status"
check_contains "unknown pipeline key names file:line:column" "bad.toml:6:1:" "$msg"
check_contains "unknown pipeline key names the key" "'max_recrods'" "$msg"
check_eq "unknown pipeline key is one line" 1 "$(printf '%s\n' "$msg" | wc -l)"

cat >badtype.toml <<'TOML'
format = "agora/v1"
[pipelines.p]
source = { type = "jsonl", path = 42 }
sinks = [{ type = "stdout" }]
TOML
status=0; msg=$("$AGORA_BIN" validate --config badtype.toml 2>&1) || status=$?
check_eq "wrong option type exits 2" 2 "$status"
check_contains "wrong option type points at the value" "badtype.toml:3:35:" "$msg"
check_contains "wrong option type says what is expected" "must be a string" "$msg"

cat >badcomp.toml <<'TOML'
format = "agora/v1"
[pipelines.p]
source = { type = "parquet", path = "x" }
sinks = [{ type = "stdout" }]
TOML
status=0; msg=$("$AGORA_BIN" validate --config badcomp.toml 2>&1) || status=$?
check_eq "unknown component type exits 2" 2 "$status"
check_contains "unknown component type is named" "unknown source type 'parquet'" "$msg"

cat >badtop.toml <<'TOML'
format = "agora/v1"
[pipelines.p]
source = { type = "jsonl", path = "in.jsonl" }
sinks = [{ type = "stdout" }]
[extras]
a = 1
TOML
status=0; msg=$("$AGORA_BIN" validate --config badtop.toml 2>&1) || status=$?
check_eq "unknown top-level key exits 2" 2 "$status"
check_contains "unknown top-level key has its position" "badtop.toml:5:2:" "$msg"

cat >cron.toml <<'TOML'
format = "agora/v1"
[pipelines.p]
source = { type = "jsonl", path = "in.jsonl" }
sinks = [{ type = "stdout" }]
schedule = { mode = "cron", expression = "0 0 30 2 *" }
TOML
status=0; msg=$("$AGORA_BIN" validate --config cron.toml 2>&1) || status=$?
check_eq "impossible cron expression exits 2" 2 "$status"
check_contains "impossible cron expression points at the expression" "cron.toml:5:42:" "$msg"

printf 'format = "agora/v1"\n[pipelines.p\n' >syntax.toml
status=0; msg=$("$AGORA_BIN" validate --config syntax.toml 2>&1) || status=$?
check_eq "TOML syntax error exits 2" 2 "$status"
check_contains "TOML syntax error has line 2" "syntax.toml:2:" "$msg"

status=0; msg=$("$AGORA_BIN" run --config bad.toml --max-records abc 2>&1) || status=$?
check_eq "bad --max-records exits 2" 2 "$status"
check_contains "bad --max-records names the value" "'abc'" "$msg"

# --- missing input file: the run fails with the path in the message -------
cat >missing.toml <<'TOML'
format = "agora/v1"
[pipelines.p]
source = { type = "jsonl", path = "does-not-exist.jsonl" }
sinks = [{ type = "jsonl", path = "out/p.jsonl" }]
TOML
status=0; msg=$("$AGORA_BIN" run --config missing.toml 2>&1) || status=$?
check_eq "missing input file exits 1" 1 "$status"
check_contains "missing input file names the path" "does-not-exist.jsonl" "$msg"

# --- malformed record: one DLQ row with stage source, the rest written ---
printf '{"id": 1}\n{"id": 2,}\n{"id": 3}\n' >in.jsonl
cat >malformed.toml <<'TOML'
format = "agora/v1"
[pipelines.p]
source = { type = "jsonl", path = "in.jsonl" }
sinks = [{ type = "jsonl", path = "out/p.jsonl" }]
dlq = { path = "dlq.db" }
TOML
status=0; "$AGORA_BIN" run --config malformed.toml >summary.txt 2>run.log || status=$?
check_eq "malformed record does not fail the run" 0 "$status"
check_eq "good records are written" '[1,3]' "$(jq -s -c 'map(.id)' out/p.jsonl)"
check_eq "malformed record lands in the DLQ" 'source|{"id": 2,}' \
  "$(sqlite3 dlq.db 'SELECT stage, record FROM dlq_records')"
check_contains "DLQ error names the line" "2" "$(sqlite3 dlq.db 'SELECT error_message FROM dlq_records')"

# --- the worker keeps serving /health while a pipeline fails -------------
port=$(free_port)
cat >failing.toml <<TOML
format = "agora/v1"
[worker]
health_port = $port
[pipelines.broken]
source = { type = "jsonl", path = "does-not-exist.jsonl" }
sinks = [{ type = "jsonl", path = "out/b.jsonl" }]
schedule = { mode = "every", seconds = 1 }
error_backoff_seconds = 0.2
max_consecutive_errors = 1000
TOML
"$AGORA_BIN" worker --config failing.toml 2>worker.log &
WORKER_PID=$!
failed_once() { curl -s "http://127.0.0.1:$port/health" | jq -e '.pipelines.broken.failed_runs >= 2' >/dev/null; }
if wait_for 20 failed_once; then pass "worker keeps running a failing pipeline"; else fail "worker keeps running a failing pipeline"; cat worker.log >&2; fi
check_eq "/health is 503 while the pipeline fails" 503 \
  "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")"
check_contains "/health shows the error with the path" "does-not-exist.jsonl" \
  "$(curl -s "http://127.0.0.1:$port/health" | jq -r '.pipelines.broken.last_error')"
check_contains "failure is logged with the pipeline id" "pipeline_id=broken" "$(cat worker.log)"
kill -TERM "$WORKER_PID"
wait_exit "$WORKER_PID" 15
check_eq "failing worker exits 0 on SIGTERM" 0 "$EXIT_STATUS"
WORKER_PID=""

finish
