# Logging through the real binary:
#   1. logfmt by default, with time, level, component, event, pipeline_id,
#      run_id and msg;
#   2. --log-format json and AGORA_LOG_FORMAT: every line parses with jq,
#      strings with quotes and backslashes come back intact;
#   3. levels: AGORA_LOG_LEVEL hides lower levels, --log-level wins over it;
#   4. unknown level or format values: one error line, exit 2;
#   5. a pipeline that fails over and over gives counted lines, and the counts
#      add up to the number of failures;
#   6. agora run shows a progress line on a terminal (a real pseudo-terminal
#      from python3's pty module) and none when stderr is a file.
source "$(dirname "$0")/lib.sh"

cd "$WORKDIR"

# A source path with a quote and a backslash, so the error message that
# names it needs escaping in both formats.
missing_path='/nonexistent/dir/a"b\c.jsonl'
cat >broken.toml <<'TOML'
format = "agora/v1"
[pipelines.broken]
source = { type = "jsonl", path = "/nonexistent/dir/a\"b\\c.jsonl" }
schedule = { mode = "every", seconds = 3600 }
[[pipelines.broken.sinks]]
type = "jsonl"
path = "out.jsonl"
TOML

printf '{"id":1}\n{"id":2}\n' >small.jsonl
cat >ok.toml <<'TOML'
format = "agora/v1"
[pipelines.ok]
source = { type = "jsonl", path = "small.jsonl" }
schedule = { mode = "once" }
[[pipelines.ok.sinks]]
type = "jsonl"
path = "ok_out.jsonl"
TOML

# ---- 1. logfmt by default --------------------------------------------------
status=0; "$AGORA_BIN" run --config broken.toml >/dev/null 2>run.log || status=$?
check_eq "failed run exits 1" "1" "$status"
line=$(grep 'event=run_failed' run.log || true)
check_eq "one run_failed line" "1" "$(grep -c 'event=run_failed' run.log || true)"
for key in time level component event pipeline_id run_id msg; do
  check_contains "logfmt line has $key" " $key=" " $line"
done
if [[ "$line" =~ ^time=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z\  ]]; then
  pass "logfmt time is RFC 3339 UTC with milliseconds"
else
  fail "logfmt time format: $line"
fi
if [[ "$line" =~ run_id=[0-9a-f]{32}\  ]]; then pass "run_id is 32 hex digits"; else fail "run_id: $line"; fi
check_contains "logfmt escapes quote and backslash" 'a\"b\\c.jsonl' "$line"

# The worker logs with pipeline and run ids too.
"$AGORA_BIN" worker --config ok.toml 2>worker.log
check_contains "worker run_started carries both ids" \
  "event=run_started pipeline_id=ok run_id=" "$(grep 'event=run_started' worker.log)"

# ---- 2. JSON ---------------------------------------------------------------
status=0; "$AGORA_BIN" run --config broken.toml --log-format json >/dev/null 2>run.json || status=$?
check_eq "json run exits 1" "1" "$status"
check_eq "json run_failed line parses with jq" "run_failed" \
  "$(jq -r 'select(.event == "run_failed") | .event' run.json)"
check_eq "json msg keeps quote and backslash" "1" \
  "$(jq -r '.msg' run.json | grep -cF "'$missing_path'" || true)"
check_eq "json pipeline_id" "broken" "$(jq -r '.pipeline_id' run.json)"
check_eq "json run_id is 32 hex digits" "1" "$(jq -r '.run_id' run.json | grep -cE '^[0-9a-f]{32}$' || true)"

AGORA_LOG_FORMAT=json "$AGORA_BIN" worker --config ok.toml --log-level debug 2>worker.json
total=$(wc -l <worker.json | tr -d ' ')
parsed=$(jq -c 'select((.time | type) == "string" and (.level | type) == "string" and (.event | type) == "string")' worker.json | wc -l | tr -d ' ')
if [ "$total" -ge 5 ]; then pass "worker logged $total json lines"; else fail "only $total json lines"; fi
check_eq "every worker json line parses and has time, level, event" "$total" "$parsed"
check_eq "json run_finished has pipeline_id and run_id" "1" \
  "$(jq -r 'select(.event == "run_finished") | "\(.pipeline_id) \(.run_id)"' worker.json | grep -cE '^ok [0-9a-f]{32}$' || true)"

# --log-format beats AGORA_LOG_FORMAT.
AGORA_LOG_FORMAT=json "$AGORA_BIN" worker --config ok.toml --log-format logfmt 2>worker2.log
check_eq "--log-format wins over AGORA_LOG_FORMAT" "0" "$(grep -c '^{' worker2.log || true)"

# ---- 3. Levels ---------------------------------------------------------------
status=0; AGORA_LOG_LEVEL=warn "$AGORA_BIN" run --config broken.toml >/dev/null 2>warn.log || status=$?
check_eq "AGORA_LOG_LEVEL=warn keeps the error" "1" "$(grep -c 'level=error' warn.log || true)"
AGORA_LOG_LEVEL=warn "$AGORA_BIN" worker --config ok.toml 2>warn_worker.log
check_eq "AGORA_LOG_LEVEL=warn hides info lines" "0" "$(grep -c 'level=info' warn_worker.log || true)"
AGORA_LOG_LEVEL=error "$AGORA_BIN" worker --config ok.toml --log-level info 2>info_worker.log
if [ "$(grep -c 'level=info' info_worker.log || true)" -ge 3 ]; then
  pass "--log-level info wins over AGORA_LOG_LEVEL=error"
else
  fail "--log-level did not win: $(cat info_worker.log)"
fi
status=0; AGORA_LOG_LEVEL=loud "$AGORA_BIN" worker --config ok.toml --log-level info 2>/dev/null || status=$?
check_eq "a valid --log-level makes a bad AGORA_LOG_LEVEL irrelevant" "0" "$status"

# ---- 4. Unknown values -------------------------------------------------------
for cmd in run worker; do
  status=0; msg=$("$AGORA_BIN" "$cmd" --config ok.toml --log-format xml 2>&1) || status=$?
  check_eq "$cmd --log-format xml exits 2" "2" "$status"
  check_eq "$cmd --log-format xml prints one line" "1" "$(printf '%s\n' "$msg" | wc -l | tr -d ' ')"
  check_contains "$cmd --log-format error names the value" "'xml'" "$msg"
  status=0; msg=$(AGORA_LOG_LEVEL=loud "$AGORA_BIN" "$cmd" --config ok.toml 2>&1) || status=$?
  check_eq "$cmd with AGORA_LOG_LEVEL=loud exits 2" "2" "$status"
  check_contains "$cmd AGORA_LOG_LEVEL error names the variable" "AGORA_LOG_LEVEL" "$msg"
  status=0; msg=$(AGORA_LOG_FORMAT=yaml "$AGORA_BIN" "$cmd" --config ok.toml 2>&1) || status=$?
  check_eq "$cmd with AGORA_LOG_FORMAT=yaml exits 2" "2" "$status"
  check_contains "$cmd AGORA_LOG_FORMAT error names the variable" "AGORA_LOG_FORMAT" "$msg"
done

# ---- 5. Repeated failures are counted --------------------------------------
# The backoff doubles after each failure from a tiny base, so the first few
# dozen failures follow each other within milliseconds and the later ones
# within a second or two; SIGTERM ends the worker after about 2.5 s.
cat >flaky.toml <<'TOML'
format = "agora/v1"
[pipelines.flaky]
source = { type = "jsonl", path = "/nonexistent/flaky.jsonl" }
schedule = { mode = "every", seconds = 3600 }
error_backoff_seconds = 0.000000001
max_consecutive_errors = 100000
[[pipelines.flaky.sinks]]
type = "jsonl"
path = "flaky_out.jsonl"
TOML
"$AGORA_BIN" worker --config flaky.toml --log-format json 2>flaky.json &
WORKER_PID=$!
sleep 2.5
kill -TERM "$WORKER_PID"
wait_exit "$WORKER_PID" 20
WORKER_PID=""
check_eq "worker ends cleanly on SIGTERM" "0" "$EXIT_STATUS"
check_eq "every flaky log line parses" "$(wc -l <flaky.json | tr -d ' ')" \
  "$(jq -c 'select(.event)' flaky.json | wc -l | tr -d ' ')"
runs=$(jq -r 'select(.event == "run_started") | .run_id' flaky.json | wc -l | tr -d ' ')
failed_lines=$(jq -r 'select(.event == "run_failed") | .event' flaky.json | wc -l | tr -d ' ')
first_lines=$(jq -r 'select(.event == "run_failed" and .repeated == null) | .event' flaky.json | wc -l | tr -d ' ')
counted=$(jq -s '[.[] | select(.event == "run_failed") | (.repeated // 0)] | add // 0' flaky.json)
if [ "$runs" -ge 20 ]; then pass "the pipeline failed $runs times"; else fail "only $runs runs"; fi
if [ "$failed_lines" -le 6 ]; then
  pass "$runs failures gave $failed_lines run_failed lines"
else
  fail "$runs failures gave $failed_lines run_failed lines"
fi
check_eq "written plus counted run_failed equals the runs" "$runs" "$((first_lines + counted))"
check_eq "count lines say how many" "1" \
  "$(jq -r 'select(.event == "run_failed" and .repeated != null) | .msg' flaky.json | grep -c 'repeated [0-9]* times in the last [0-9]*s)' || true)"
backoff_lines=$(jq -r 'select(.event == "backoff") | .event' flaky.json | wc -l | tr -d ' ')
if [ "$backoff_lines" -lt "$runs" ]; then
  pass "backoff warnings are counted too ($backoff_lines lines)"
else
  fail "$backoff_lines backoff lines for $runs runs"
fi

# ---- 6. Progress line --------------------------------------------------------
# A FIFO in front of a 2,000,000-line input keeps the run open for at least
# 1.5 s however fast the machine is: the writer holds the FIFO open that long.
# A slower run (AGORA_TEST_TIME_SCALE > 1) reads fewer lines.
big_lines=$((2000000 / AGORA_TEST_TIME_SCALE))
python3 -c '
import sys
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write("{\"id\":%d,\"name\":\"record %d\"}\n" % (i, i))
' big.jsonl "$big_lines"
mkfifo big.fifo
cat >big.toml <<'TOML'
format = "agora/v1"
[pipelines.big]
source = { type = "jsonl", path = "big.fifo" }
[[pipelines.big.sinks]]
type = "jsonl"
path = "big_out.jsonl"
TOML

cat >pty_run.py <<'PY'
# Usage: pty_run.py OUTPUT FIFO INPUT AGORA ARGS...
# Runs AGORA on a pseudo-terminal, feeds INPUT into FIFO and holds it open
# for 1.5 s more, and saves every byte the terminal received in OUTPUT.
import os, pty, select, sys, threading, time

out_path, fifo, data, argv = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]

def feed():
    with open(fifo, "wb") as w, open(data, "rb") as r:
        while True:
            chunk = r.read(1 << 20)
            if not chunk:
                break
            w.write(chunk)
        w.flush()
        time.sleep(1.5)

pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
threading.Thread(target=feed, daemon=True).start()
received = b""
deadline = time.time() + 120 * int(os.environ.get("AGORA_TEST_TIME_SCALE", "1"))
while time.time() < deadline:
    ready, _, _ = select.select([fd], [], [], 0.5)
    if not ready:
        continue
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    received += chunk
_, status = os.waitpid(pid, 0)
with open(out_path, "wb") as f:
    f.write(received)
sys.exit(os.waitstatus_to_exitcode(status))
PY

status=0; python3 pty_run.py tty.out big.fifo big.jsonl "$AGORA_BIN" run --config big.toml || status=$?
check_eq "run on a terminal exits 0" "0" "$status"
check_eq "run on a terminal wrote every record" "$big_lines" "$(wc -l <big_out.jsonl | tr -d ' ')"
# Carriage returns not followed by a newline (the terminal turns each "\n"
# into "\r\n") are progress rewrites.
progress=$(python3 -c '
import re, sys
data = open(sys.argv[1], "rb").read()
print(len(re.findall(rb"\rbig: [0-9,]+ records, [0-9,]+ records/s, written [0-9,]+, dropped [0-9,]+, errored [0-9,]+", data)))
' tty.out)
if [ "$progress" -ge 2 ]; then pass "terminal got $progress progress lines"; else fail "terminal got $progress progress lines"; fi
check_eq "progress line erased before the summary" "1" "$(python3 -c '
import re, sys
data = open(sys.argv[1], "rb").read()
print(1 if re.search(rb"\r +\rpipeline big run [0-9a-f]{32} completed", data) else 0)
' tty.out)"

rm -f big_out.jsonl
status=0; python3 pty_run.py tty2.out big.fifo big.jsonl "$AGORA_BIN" run --config big.toml --no-progress || status=$?
check_eq "--no-progress run exits 0" "0" "$status"
check_eq "--no-progress shows no progress" "0" "$(python3 -c '
import re, sys
print(len(re.findall(rb"\r(?!\n)", open(sys.argv[1], "rb").read())))
' tty2.out)"

rm -f big_out.jsonl
{ cat big.jsonl; sleep 1.5; } >big.fifo &
feeder=$!
status=0; "$AGORA_BIN" run --config big.toml >plain.out 2>plain.err || status=$?
wait "$feeder" || true
check_eq "plain run exits 0" "0" "$status"
check_eq "plain run wrote every record" "$big_lines" "$(wc -l <big_out.jsonl | tr -d ' ')"
check_eq "no carriage return when stderr is a file" "0" "$(tr -cd '\r' <plain.err | wc -c | tr -d ' ')"
check_contains "summary still printed" "pipeline big run" "$(cat plain.out)"

finish
