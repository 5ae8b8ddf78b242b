# A sink that fails. With a DLQ its records go there and the run completes.
# Without one the run fails with exit 1 and a message naming the sink and the
# system error. Once the fault is gone the next run completes, resuming from
# the checkpoint the failed run left. The faults are real: a file size limit
# (ulimit -f), /dev/full and a path below a regular file (these work for root
# too, unlike a read-only directory).
source "$(dirname "$0")/lib.sh"

for tool in python3 sqlite3; do
  if ! command -v "$tool" >/dev/null; then
    echo "skip: $tool is not installed"
    exit 0
  fi
done
if [ ! -w /dev/full ]; then
  echo "skip: /dev/full is not available"
  exit 0
fi

cd "$WORKDIR"

RECORDS=20000
EVERY=1000
python3 - "$RECORDS" <<'PY'
import json, sys
with open("in.jsonl", "w") as f:
    for i in range(int(sys.argv[1])):
        f.write(json.dumps({"i": i, "text": "line %d of the input" % i}) + "\n")
PY

# jsonl_stats FILE: prints "lines distinct min max" of the records in FILE
# and fails when a line is not valid JSON.
jsonl_stats() {
  python3 - "$1" <<'PY'
import json, sys
ids = [json.loads(line)["i"] for line in open(sys.argv[1], "rb")]
print(len(ids), len(set(ids)), min(ids) if ids else -1, max(ids) if ids else -1)
PY
}

# ---- 1. No DLQ: a size limit stops the sink in the middle of the run ------
cat >nodlq.toml <<TOML
format = "agora/v1"
[pipelines.nodlq]
source = { type = "jsonl", path = "in.jsonl" }
checkpoint = { path = "state/checkpoint.db", every = $EVERY }
batch_size = 250
sinks = [{ type = "jsonl", name = "archive", path = "out/nodlq.jsonl" }]
TOML

# The output reaches 512 KiB after about 11,000 records (each line is about
# 45 bytes). SIGXFSZ is ignored so write(2) fails with EFBIG instead of the
# signal ending the process. The checkpoint store stays far below the limit.
mkdir -p out
status=0
( ulimit -f 512; trap '' XFSZ; exec "$AGORA_BIN" run nodlq --config nodlq.toml \
    --no-progress ) >limited.out 2>limited.err || status=$?
check_eq "sink failure without dlq exits 1" 1 "$status"
check_contains "failure names the sink" "sink 'archive' failed" "$(cat limited.err)"
check_contains "failure names the file" "out/nodlq.jsonl" "$(cat limited.err)"
check_contains "failure gives the system error" "File too large" "$(cat limited.err)"

position=$("$AGORA_BIN" checkpoint show nodlq --config nodlq.toml |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["value"]["line_number"])')
echo "# saved position after the failure: $position"
if [ "$position" -gt 0 ] && [ "$position" -lt "$RECORDS" ]; then
  pass "failed run leaves a checkpoint inside the input"
else
  fail "checkpoint after the failure is $position, expected between 1 and $((RECORDS - 1))"
fi
check_eq "checkpoint is a multiple of every" 0 $((position % EVERY))

# The failed batch was rolled back: every line is complete, and the file holds
# at least the checkpointed records.
read -r lines distinct low high <<<"$(jsonl_stats out/nodlq.jsonl)"
check_eq "output after the failure starts at record 0" 0 "$low"
check_eq "output after the failure has no duplicates" "$lines" "$distinct"
if [ "$lines" -ge "$position" ] && [ "$lines" -lt $((position + EVERY)) ]; then
  pass "output holds the checkpointed records and less than every more"
else
  fail "output has $lines records for a checkpoint at $position"
fi

# The fault clears: the next run resumes after the checkpoint and appends.
status=0
"$AGORA_BIN" run nodlq --config nodlq.toml --no-progress --json \
  >resumed.json 2>resumed.err || status=$?
check_eq "run after the fault exits 0" 0 "$status"
check_eq "resumed run reads only the rest of the input" $((RECORDS - position)) \
  "$(python3 -c 'import json; print(json.load(open("resumed.json"))["records_consumed"])')"
read -r lines distinct low high <<<"$(jsonl_stats out/nodlq.jsonl)"
check_eq "output has every record after the resume" "$RECORDS" "$distinct"
check_eq "output ends with the last record" $((RECORDS - 1)) "$high"
if [ $((lines - distinct)) -le "$EVERY" ]; then
  pass "resume repeats at most every records"
else
  fail "resume repeated $((lines - distinct)) records, more than $EVERY"
fi
check_eq "completed run deletes the checkpoint" "no checkpoint" \
  "$("$AGORA_BIN" checkpoint show nodlq --config nodlq.toml)"

# ---- 2. With a DLQ: every record the sink rejects goes to the DLQ ---------
cat >dlq.toml <<TOML
format = "agora/v1"
[pipelines.withdlq]
source = { type = "jsonl", path = "in.jsonl" }
checkpoint = { path = "state/checkpoint.db", every = $EVERY }
dlq = { path = "state/dlq.db" }
batch_size = 500
sinks = [{ type = "jsonl", name = "full", path = "out/full.jsonl" }]
TOML
# The sink's file is /dev/full: it opens, and every write fails with ENOSPC.
ln -s /dev/full out/full.jsonl
status=0
"$AGORA_BIN" run withdlq --config dlq.toml --no-progress --json \
  >dlq.json 2>dlq.err || status=$?
check_eq "sink failure with a dlq completes the run" 0 "$status"
check_eq "every record counts as errored" "$RECORDS" \
  "$(python3 -c 'import json; print(json.load(open("dlq.json"))["records_errored"])')"
check_eq "dlq holds every record" "$RECORDS" \
  "$(sqlite3 state/dlq.db "SELECT count(*) FROM dlq_records WHERE pipeline_id = 'withdlq' AND stage = 'sink_write' AND sink = 'full'")"
check_eq "dlq holds each record once" "$RECORDS" \
  "$(sqlite3 state/dlq.db "SELECT count(DISTINCT json_extract(record, '$.i')) FROM dlq_records WHERE pipeline_id = 'withdlq'")"
check_contains "dlq row keeps the system error" "No space left on device" \
  "$(sqlite3 state/dlq.db "SELECT error_message FROM dlq_records LIMIT 1")"

# The fault clears and the next run writes everything.
rm out/full.jsonl
status=0
"$AGORA_BIN" run withdlq --config dlq.toml --no-progress >/dev/null 2>&1 || status=$?
check_eq "run after the fault clears exits 0" 0 "$status"
read -r lines distinct low high <<<"$(jsonl_stats out/full.jsonl)"
check_eq "output has every record" "$RECORDS" "$distinct"
check_eq "output has no duplicates" "$RECORDS" "$lines"

# ---- 3. A sink that cannot open fails the run, DLQ or not -----------------
cat >blocked.toml <<TOML
format = "agora/v1"
[pipelines.blocked]
source = { type = "jsonl", path = "in.jsonl" }
checkpoint = { path = "state/checkpoint.db", every = $EVERY }
dlq = { path = "state/dlq.db" }
sinks = [{ type = "jsonl", name = "blocked", path = "out/file.txt/records.jsonl" }]
TOML
echo "a regular file, not a directory" >out/file.txt
status=0
"$AGORA_BIN" run blocked --config blocked.toml --no-progress >blocked.out \
  2>blocked.err || status=$?
check_eq "sink that cannot open exits 1" 1 "$status"
check_contains "open failure names the sink" "sink 'blocked' failed to open" \
  "$(cat blocked.err)"
check_contains "open failure names the path" "out/file.txt" "$(cat blocked.err)"
check_eq "open failure writes nothing to the dlq" 0 \
  "$(sqlite3 state/dlq.db "SELECT count(*) FROM dlq_records WHERE pipeline_id = 'blocked'")"

rm out/file.txt
status=0
"$AGORA_BIN" run blocked --config blocked.toml --no-progress >/dev/null 2>&1 || status=$?
check_eq "run after the path is fixed exits 0" 0 "$status"
read -r lines distinct low high <<<"$(jsonl_stats out/file.txt/records.jsonl)"
check_eq "fixed path gets every record" "$RECORDS" "$distinct"

finish
