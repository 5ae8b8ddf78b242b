# The everyday commands: version, help, components, worker --list and a run
# with its summary, checked against hand-made inputs.
source "$(dirname "$0")/lib.sh"

cd "$WORKDIR"

check_contains "version prints the name" "agora " "$("$AGORA_BIN" version)"
for cmd in run worker validate components version; do
  status=0; out=$("$AGORA_BIN" "$cmd" --help 2>&1) || status=$?
  check_eq "$cmd --help exits 0" 0 "$status"
  check_contains "$cmd --help shows usage" "usage: agora $cmd" "$out"
done
status=0; "$AGORA_BIN" frobnicate >/dev/null 2>&1 || status=$?
check_eq "unknown command exits 2" 2 "$status"

check_contains "components lists the filter expression option" "expression" \
  "$("$AGORA_BIN" components filter)"
status=0; "$AGORA_BIN" components parquet >/dev/null 2>&1 || status=$?
check_eq "components rejects an unknown type" 2 "$status"

printf '{"name":"a","n":1}\n{"name":"b","n":5}\n{"name":"c","n":9}\n{"name":"d"}\n' >in.jsonl
cat >p.toml <<'TOML'
format = "agora/v1"
[pipelines.small]
source = { type = "jsonl", path = "in.jsonl" }
schedule = { mode = "every", minutes = 2 }
[[pipelines.small.middlewares]]
type = "filter"
expression = "n > 2"
[[pipelines.small.middlewares]]
type = "map"
rename = { name = "id" }
[[pipelines.small.sinks]]
type = "csv"
path = "out/small.csv"
[[pipelines.small.sinks]]
type = "stdout"
TOML

check_eq "worker --list prints id and schedule" "$(printf 'small\tevery 120.0s')" \
  "$("$AGORA_BIN" worker --list --config p.toml)"

status=0; "$AGORA_BIN" run small --config p.toml --json >records.jsonl 2>summary.json || status=$?
check_eq "run exits 0" 0 "$status"
check_eq "stdout sink gets the records" '[{"id":"b","n":5},{"id":"c","n":9}]' "$(jq -s -c . records.jsonl)"
check_eq "csv sink writes header and rows" "$(printf 'id,n\nb,5\nc,9')" "$(cat out/small.csv)"
summary=$(grep '^{' summary.json)
check_eq "summary counts" '4 2 2 0' \
  "$(jq -r '"\(.records_consumed) \(.records_written) \(.records_dropped) \(.records_errored)"' <<<"$summary")"
check_eq "summary middleware counters" '{"in":4,"out":2,"dropped":2,"errored":0}' \
  "$(jq -c '.middlewares.filter | del(.total_time_ms)' <<<"$summary")"

status=0; "$AGORA_BIN" run --config p.toml --max-records 1 --json >/dev/null 2>summary.json || status=$?
check_eq "run with one pipeline needs no name" 0 "$status"
check_eq "--max-records limits the run" 1 "$(grep '^{' summary.json | jq .records_consumed)"

# A run canceled by SIGINT. The input is a FIFO whose writer sends 3 records,
# waits and sends 3 more, so the run is still going when the signal arrives.
# The run ends at the batch boundary after the second write. With
# AGORA_TEST_TIME_SCALE the signal comes 0.5 s times the scale after the
# start, and the second write 1.5 s after the signal.
mkfifo slow.jsonl
cat >slow.toml <<'TOML'
format = "agora/v1"
[pipelines.slow]
source = { type = "jsonl", path = "slow.jsonl" }
sinks = [{ type = "jsonl", path = "out/slow.jsonl" }]
TOML
(printf '{"n":1}\n{"n":2}\n{"n":3}\n'; sleep_ms $(( $(scaled 500) + 1500 )); printf '{"n":4}\n{"n":5}\n{"n":6}\n') >slow.jsonl &
writer=$!
"$AGORA_BIN" run --config slow.toml --json >canceled.json 2>canceled.log &
run_pid=$!
sleep_ms "$(scaled 500)"
kill -INT "$run_pid"
wait_exit "$run_pid" 15
wait "$writer" || true
check_eq "canceled run exits 1" 1 "$EXIT_STATUS"
check_eq "canceled run says so in the summary" canceled "$(jq -r .status canceled.json)"
check_contains "canceled run is logged" "event=run_canceled" "$(cat canceled.log)"

finish
