# The example worker on real data: counts, DLQ rows, health endpoints, auth
# and a clean SIGTERM shutdown. Expected counts come from jq and python3 over
# the source files, not from agora.
source "$(dirname "$0")/lib.sh"

cp -r "$AGORA_SOURCE_DIR/examples/quickstart" "$WORKDIR/example"
rm -rf "$WORKDIR/example/out"
movies=$WORKDIR/example/data/movies.json
birds=$WORKDIR/example/data/birdstrikes.csv
port=$(free_port)
token=s3cret-token

expected_movies=$(jq '[.[] | select(.Title != null and .["IMDB Rating"] != null)] | length' "$movies")
expected_dlq=$(jq '[.[] | select(.Title == null or .["IMDB Rating"] == null)] | length' "$movies")
expected_birds=$(python3 -c '
import csv, sys
rows = csv.DictReader(open(sys.argv[1], newline=""))
print(sum(1 for r in rows if int(r["Cost Total $"]) > 0))' "$birds")

AGORA_HEALTH_AUTH_TOKEN=$token "$AGORA_BIN" worker --config "$WORKDIR/example/pipelines.toml" \
  --health-port "$port" 2>"$WORKDIR/worker.log" &
WORKER_PID=$!

health() { curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/health"; }
both_ran() {
  health | jq -e '.pipelines.movies.total_runs >= 1 and .pipelines.birdstrikes.total_runs >= 1' >/dev/null
}
if wait_for 20 both_ran; then pass "both pipelines report a run in /health"; else
  fail "both pipelines report a run in /health"; cat "$WORKDIR/worker.log" >&2; fi

out=$WORKDIR/example/out
check_eq "movies.jsonl line count" "$expected_movies" "$(wc -l <"$out/movies.jsonl")"
check_eq "movies.jsonl uses snake_case keys" "$expected_movies" \
  "$(jq -s '[.[] | select(has("imdb_rating") and has("title") and (has("IMDB Rating") | not))] | length' "$out/movies.jsonl")"
check_eq "movies.jsonl keeps the ratings" \
  "$(jq -c '[.[] | select(.Title != null and .["IMDB Rating"] != null) | .["IMDB Rating"]]' "$movies")" \
  "$(jq -s -c '[.[] | .imdb_rating]' "$out/movies.jsonl")"
check_eq "movies.db row count" "$expected_movies" "$(sqlite3 "$out/movies.db" 'SELECT count(*) FROM movies')"

first_run=$(sqlite3 "$out/dlq.db" "SELECT run_id FROM dlq_records WHERE pipeline_id='movies' ORDER BY id LIMIT 1")
check_eq "dlq rows of the first movies run" "$expected_dlq" \
  "$(sqlite3 "$out/dlq.db" "SELECT count(*) FROM dlq_records WHERE run_id='$first_run'")"
check_eq "dlq rows are middleware failures of validate" "middleware|validate|$expected_dlq" \
  "$(sqlite3 "$out/dlq.db" "SELECT stage, middleware, count(*) FROM dlq_records WHERE run_id='$first_run' GROUP BY 1, 2")"
check_eq "dlq rows hold the failed record" "$expected_dlq" \
  "$(sqlite3 "$out/dlq.db" "SELECT count(*) FROM dlq_records WHERE run_id='$first_run' AND json_valid(record) AND (json_extract(record, '\$.Title') IS NULL OR json_extract(record, '\$.\"IMDB Rating\"') IS NULL)")"

check_eq "birdstrikes csv row count" "$expected_birds" \
  "$(python3 -c 'import csv,sys; print(sum(1 for _ in csv.DictReader(open(sys.argv[1], newline=""))))' "$out/birdstrikes_costly.csv")"
check_eq "birdstrikes costs are integers above 0" "$expected_birds" \
  "$(python3 -c 'import csv,sys; print(sum(1 for r in csv.DictReader(open(sys.argv[1], newline="")) if int(r["cost_total"]) > 0))' "$out/birdstrikes_costly.csv")"

code=$(curl -s -o "$WORKDIR/body" -D "$WORKDIR/headers" -w '%{http_code}' "http://127.0.0.1:$port/health")
check_eq "/health without token is 401" 401 "$code"
check_eq "401 body" '{"error":"Unauthorized"}' "$(jq -c . "$WORKDIR/body")"
check_contains "401 WWW-Authenticate header" 'WWW-Authenticate: Bearer realm="agora-health"' "$(tr -d '\r' <"$WORKDIR/headers")"
check_eq "/health with a wrong token is 401" 401 \
  "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer nope' "http://127.0.0.1:$port/health")"
check_eq "/health with the token is 200" 200 \
  "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "http://127.0.0.1:$port/health")"
check_eq "/health lists both pipelines" '["birdstrikes","movies"]' "$(health | jq -c '.pipelines | keys')"
check_eq "/ready is 200 while both run" 200 \
  "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "http://127.0.0.1:$port/ready")"
metrics=$(curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/metrics")
check_contains "/metrics has the movies run counter" 'agora_pipeline_runs_total{pipeline_id="movies",status="success"}' "$metrics"

kill -TERM "$WORKER_PID"
wait_exit "$WORKER_PID" 15
check_eq "worker exits 0 on SIGTERM within the timeout" 0 "$EXIT_STATUS"
WORKER_PID=""
check_contains "shutdown is logged" "shutdown" "$(cat "$WORKDIR/worker.log")"

finish
