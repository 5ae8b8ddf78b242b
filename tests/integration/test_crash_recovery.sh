# Crash recovery: `agora run` killed with SIGKILL at random moments, then
# restarted, resumes from its checkpoint. python3 and sqlite3 check the
# outputs. No input record is lost in either sink, and each crash repeats at
# most `every` records. The saved position is never ahead of what the sinks
# contain, and the SQLite output passes PRAGMA integrity_check after every kill.
source "$(dirname "$0")/lib.sh"

for tool in python3 sqlite3; do
  if ! command -v "$tool" >/dev/null; then
    echo "skip: $tool is not installed"
    exit 0
  fi
done

cd "$WORKDIR"

# A slower run (AGORA_TEST_TIME_SCALE > 1) gets later kills and fewer
# records: 600000 / scale, at most 200000. That is more than 200000 / scale
# because each start is slower too, and a run must outlast the latest kill.
RECORDS=$((600000 / AGORA_TEST_TIME_SCALE))
[ "$RECORDS" -gt 200000 ] && RECORDS=200000
EVERY=50
KILLS=20
# Seeded, so a failure can be replayed with the same kill times.
SEED=${AGORA_CRASH_SEED:-7919}
RANDOM=$SEED
echo "# seed $SEED (set AGORA_CRASH_SEED to change it)"

# Each record carries its position "i", so losses and duplicates can be
# counted in the outputs.
python3 - "$RECORDS" <<'PY'
import json, sys
n = int(sys.argv[1])
with open("in.json", "w") as f:
    f.write("[\n")
    for i in range(n):
        rec = {"i": i, "name": "record %d" % i, "payload": "x" * 200,
               "tags": ["a", "b"], "value": i * 0.5}
        f.write(json.dumps(rec))
        f.write(",\n" if i + 1 < n else "\n")
    f.write("]\n")
PY

# Small batches keep a full run several seconds long, so the kills below land
# in the middle of runs. Both sinks use the mode that empties the output at
# open: a resumed run must append instead.
cat >crash.toml <<TOML
format = "agora/v1"

[pipelines.crash]
source = { type = "json", path = "in.json" }
checkpoint = { path = "state/checkpoint.db", every = $EVERY }
batch_size = 10

[[pipelines.crash.sinks]]
type = "jsonl"
path = "out/records.jsonl"
mode = "overwrite"

[[pipelines.crash.sinks]]
type = "sqlite"
path = "out/records.db"
table = "records"
mode = "replace"
TOML

# saved_position: the record_number of the stored checkpoint, 0 when none.
saved_position() {
  "$AGORA_BIN" checkpoint show crash --config crash.toml |
    python3 -c '
import json, sys
text = sys.stdin.read().strip()
print(0 if text == "no checkpoint" else json.loads(text)["value"]["record_number"])'
}

# jsonl_covers N: exit 0 when records 0..N-1 all appear among the complete
# lines of the JSONL output (a last line without "\n" is a write the kill cut
# short, which the resumed run removes).
jsonl_covers() {
  python3 - "$1" <<'PY'
import json, sys
n = int(sys.argv[1])
try:
    data = open("out/records.jsonl", "rb").read()
except FileNotFoundError:
    data = b""
lines = data.split(b"\n")[:-1]
seen = {json.loads(line)["i"] for line in lines}
missing = [i for i in range(n) if i not in seen]
if missing:
    print("missing %d records below %d, first %d" % (len(missing), n, missing[0]))
    sys.exit(1)
PY
}

crashes=0
finished=0
previous=0
for attempt in $(seq 1 "$KILLS"); do
  "$AGORA_BIN" run crash --config crash.toml --no-progress --log-level warn \
    >>run.log 2>&1 &
  WORKER_PID=$!
  delay_ms=$(( (50 + RANDOM % 351) * AGORA_TEST_TIME_SCALE ))
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  kill -KILL "$WORKER_PID" 2>/dev/null || true
  status=0
  # The redirection hides the shell's "Killed" job report.
  { wait "$WORKER_PID"; } 2>/dev/null || status=$?
  WORKER_PID=""

  if [ "$status" -eq 0 ]; then
    # The run reached the end of the input before the kill.
    finished=1
    echo "# run $attempt completed before its kill at ${delay_ms} ms"
    break
  fi
  if [ "$status" -ne 137 ]; then
    fail "run $attempt exited with status $status instead of being killed"
    tail -5 run.log >&2
    break
  fi
  crashes=$((crashes + 1))

  if [ -f out/records.db ]; then
    check_eq "sqlite output after kill $attempt passes integrity_check" ok \
      "$(sqlite3 out/records.db "PRAGMA integrity_check" 2>&1)"
  fi
  if [ -f state/checkpoint.db ]; then
    check_eq "checkpoint store after kill $attempt passes integrity_check" ok \
      "$(sqlite3 state/checkpoint.db "PRAGMA integrity_check")"
  fi

  position=$(saved_position)
  echo "# kill $attempt at ${delay_ms} ms, saved position $position"
  if [ "$position" -lt "$previous" ]; then
    fail "saved position went back from $previous to $position after kill $attempt"
  fi
  previous=$position
  # The checkpoint must never be ahead of the outputs.
  if [ "$position" -gt 0 ] && [ -f out/records.db ]; then
    covered=$(sqlite3 out/records.db \
      "SELECT count(DISTINCT i) FROM records WHERE i < $position")
    if [ "$covered" != "$position" ]; then
      fail "after kill $attempt the sqlite sink holds $covered of the $position checkpointed records"
    fi
  fi
  if ! jsonl_covers "$position"; then
    fail "after kill $attempt the jsonl sink lacks checkpointed records"
  fi
done

echo "# $crashes crashes"
if [ "$crashes" -ge 1 ]; then
  pass "at least one run was killed in the middle"
else
  fail "no run was killed in the middle: nothing was tested"
fi

if [ "$finished" -eq 0 ]; then
  "$AGORA_BIN" run crash --config crash.toml --no-progress --log-level warn \
    >>run.log 2>&1 &
  WORKER_PID=$!
  wait_exit "$WORKER_PID" 120
  WORKER_PID=""
  check_eq "final run completes" 0 "$EXIT_STATUS"
fi

echo "# incomplete last lines removed on resume: $(grep -c partial_line_removed run.log || true)"
check_eq "completed run deletes the checkpoint" "no checkpoint" \
  "$("$AGORA_BIN" checkpoint show crash --config crash.toml)"

max_duplicates=$((EVERY * crashes))

# JSONL: every line is valid JSON, every record is present, and the repeats
# stay within the bound.
read -r jsonl_lines jsonl_distinct jsonl_min jsonl_max <<<"$(python3 - <<'PY'
import json
ids = []
with open("out/records.jsonl", "rb") as f:
    for line in f:
        ids.append(json.loads(line)["i"])
print(len(ids), len(set(ids)), min(ids), max(ids))
PY
)"
check_eq "jsonl sink has every record" "$RECORDS" "$jsonl_distinct"
check_eq "jsonl sink lowest record" 0 "$jsonl_min"
check_eq "jsonl sink highest record" $((RECORDS - 1)) "$jsonl_max"
jsonl_duplicates=$((jsonl_lines - jsonl_distinct))
echo "# jsonl duplicates: $jsonl_duplicates (bound $max_duplicates)"
if [ "$jsonl_duplicates" -le "$max_duplicates" ]; then
  pass "jsonl duplicates within every x crashes"
else
  fail "jsonl sink has $jsonl_duplicates duplicates, more than $max_duplicates"
fi

# SQLite: the same, counted by sqlite3 itself.
check_eq "sqlite output passes integrity_check" ok \
  "$(sqlite3 out/records.db "PRAGMA integrity_check")"
IFS='|' read -r db_rows db_distinct db_min db_max <<<"$(sqlite3 out/records.db \
  "SELECT count(*), count(DISTINCT i), min(i), max(i) FROM records")"
check_eq "sqlite sink has every record" "$RECORDS" "$db_distinct"
check_eq "sqlite sink lowest record" 0 "$db_min"
check_eq "sqlite sink highest record" $((RECORDS - 1)) "$db_max"
db_duplicates=$((db_rows - db_distinct))
echo "# sqlite duplicates: $db_duplicates (bound $max_duplicates)"
if [ "$db_duplicates" -le "$max_duplicates" ]; then
  pass "sqlite duplicates within every x crashes"
else
  fail "sqlite sink has $db_duplicates duplicates, more than $max_duplicates"
fi

# The payload arrives intact, not only the ids.
probe=$((123456 % RECORDS))
check_eq "sqlite sink keeps record content" "record $probe|200" \
  "$(sqlite3 out/records.db \
    "SELECT name, length(payload) FROM records WHERE i = $probe LIMIT 1")"

finish
