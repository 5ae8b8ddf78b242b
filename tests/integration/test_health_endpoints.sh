# The health endpoints of the real worker when pipelines stop: /ready turns
# 503 once a pipeline has stopped on errors or a once pipeline has finished,
# /health reports the stopped flags and a masked, cut last_error, and bearer
# auth follows AGORA_HEALTH_AUTH_TOKEN over the config token.
source "$(dirname "$0")/lib.sh"

data=$WORKDIR/data
mkdir -p "$data"
printf '[{"id": 1}, {"id": 2}, {"id": 3}]\n' >"$data/rows.json"
config_token=config-token-A
env_token=env-token-B

# A missing input whose path quotes a URL with a password, and a file name
# long enough to push the error message past 240 characters.
long_name=$(printf 'x%.0s' $(seq 1 230)).json
missing_path="in/postgres://app:hunter2@db/$long_name"

# get PATH [CURL ARGS...]: prints the HTTP status, body in $WORKDIR/body.
get() {
  local path=$1; shift
  curl -s --max-time "$(scaled 10)" -o "$WORKDIR/body" -D "$WORKDIR/headers" -w '%{http_code}' "$@" \
    "http://127.0.0.1:$port$path"
}

# start_worker CONFIG [ENV...]: starts agora worker with the given
# environment assignments and waits for its health server.
start_worker() {
  local config=$1; shift
  env "$@" "$AGORA_BIN" worker --config "$config" 2>"$WORKDIR/worker.log" &
  WORKER_PID=$!
  if ! wait_for 15 curl -s -o /dev/null "http://127.0.0.1:$port/"; then
    fail "worker health server did not come up"
    cat "$WORKDIR/worker.log" >&2
  fi
}

stop_worker() {
  kill -TERM "$WORKER_PID"
  wait_exit "$WORKER_PID" 20
  WORKER_PID=""
}

# ---- A pipeline stopped on errors next to a healthy one -------------------

port=$(free_port)
cat >"$WORKDIR/stopped.toml" <<EOF
format = "agora/v1"

[worker]
health_port = $port
graceful_shutdown_timeout = 5.0

[pipelines.good]
source = { type = "json", path = "data/rows.json" }
schedule = { mode = "every", seconds = 3600 }
[[pipelines.good.sinks]]
type = "jsonl"
path = "out/good.jsonl"

[pipelines.broken]
source = { type = "json", path = "$missing_path" }
schedule = { mode = "every", seconds = 3600 }
max_consecutive_errors = 1
error_backoff_seconds = 0.01
[[pipelines.broken.sinks]]
type = "jsonl"
path = "out/broken.jsonl"
EOF
start_worker "$WORKDIR/stopped.toml"

broken_stopped() { get /health >/dev/null; jq -e '.pipelines.broken.stopped == true' "$WORKDIR/body"; }
if wait_for 15 broken_stopped; then pass "broken pipeline reports stopped"; else
  fail "broken pipeline reports stopped"; cat "$WORKDIR/body" >&2; fi

check_eq "/health is 503 when the only run of a pipeline failed" 503 "$(get /health)"
check_eq "broken status is failing" '"failing"' "$(jq -c '.pipelines.broken.status' "$WORKDIR/body")"
check_eq "broken stopped_on_errors" true "$(jq -c '.pipelines.broken.stopped_on_errors' "$WORKDIR/body")"
check_eq "good pipeline is not stopped" false "$(jq -c '.pipelines.good.stopped' "$WORKDIR/body")"
check_eq "good pipeline has no stop on errors" false "$(jq -c '.pipelines.good.stopped_on_errors' "$WORKDIR/body")"
check_eq "broken failed_runs" 1 "$(jq -c '.pipelines.broken.failed_runs' "$WORKDIR/body")"
last_error=$(jq -r '.pipelines.broken.last_error' "$WORKDIR/body")
check_eq "last_error is cut to 240 characters" 240 "$(jq '.pipelines.broken.last_error | length' "$WORKDIR/body")"
check_contains "last_error masks the URL password" "postgres://app:***@db/" "$last_error"
if [[ "$last_error" == *hunter2* ]]; then fail "last_error hides the password"; else
  pass "last_error hides the password"; fi
check_eq "/ready is 503 after a pipeline stopped on errors" 503 "$(get /ready)"
check_eq "/ready body" '{"ready":false}' "$(cat "$WORKDIR/body")"
metrics_code=$(get /metrics)
check_eq "/metrics still answers" 200 "$metrics_code"
check_contains "/metrics counts the failure" 'agora_pipeline_runs_total{pipeline_id="broken",status="failure"} 1' "$(cat "$WORKDIR/body")"
stop_worker
check_eq "worker exits 1 after a pipeline stopped on errors" 1 "$EXIT_STATUS"

# ---- A once pipeline that has finished ------------------------------------

port=$(free_port)
cat >"$WORKDIR/once.toml" <<EOF
format = "agora/v1"

[worker]
health_port = $port

[pipelines.scheduled]
source = { type = "json", path = "data/rows.json" }
schedule = { mode = "every", seconds = 3600 }
[[pipelines.scheduled.sinks]]
type = "jsonl"
path = "out/scheduled.jsonl"

[pipelines.oneshot]
source = { type = "json", path = "data/rows.json" }
schedule = { mode = "once" }
[[pipelines.oneshot.sinks]]
type = "jsonl"
path = "out/oneshot.jsonl"
EOF
start_worker "$WORKDIR/once.toml"

oneshot_stopped() { get /health >/dev/null; jq -e '.pipelines.oneshot.stopped == true' "$WORKDIR/body"; }
if wait_for 15 oneshot_stopped; then pass "finished once pipeline reports stopped"; else
  fail "finished once pipeline reports stopped"; cat "$WORKDIR/body" >&2; fi
check_eq "/health is 200 after a successful once run" 200 "$(get /health)"
check_eq "once pipeline status is ok" '"ok"' "$(jq -c '.pipelines.oneshot.status' "$WORKDIR/body")"
check_eq "once pipeline did not stop on errors" false "$(jq -c '.pipelines.oneshot.stopped_on_errors' "$WORKDIR/body")"
check_eq "once pipeline wrote every row" 3 "$(jq -c '.pipelines.oneshot.total_records_written' "$WORKDIR/body")"
check_eq "once pipeline has no live counters" false "$(jq -c '.pipelines.oneshot | has("live")' "$WORKDIR/body")"
check_eq "/ready is 503 after a once pipeline finished" 503 "$(get /ready)"
stop_worker
check_eq "worker exits 0 on SIGTERM" 0 "$EXIT_STATUS"

# ---- Auth: the environment token wins over the config token ---------------

port=$(free_port)
cat >"$WORKDIR/auth.toml" <<EOF
format = "agora/v1"

[worker]
health_port = $port
health_auth_token = "$config_token"

[pipelines.scheduled]
source = { type = "json", path = "data/rows.json" }
schedule = { mode = "every", seconds = 3600 }
[[pipelines.scheduled.sinks]]
type = "jsonl"
path = "out/auth.jsonl"
EOF
start_worker "$WORKDIR/auth.toml" AGORA_HEALTH_AUTH_TOKEN=$env_token

check_eq "environment token is accepted" 200 "$(get /health -H "Authorization: Bearer $env_token")"
check_eq "config token is rejected when the variable is set" 401 "$(get /health -H "Authorization: Bearer $config_token")"
check_eq "missing header is 401" 401 "$(get /health)"
check_eq "401 body" '{"error":"Unauthorized"}' "$(cat "$WORKDIR/body")"
check_contains "401 WWW-Authenticate" 'WWW-Authenticate: Bearer realm="agora-health"' "$(tr -d '\r' <"$WORKDIR/headers")"
check_contains "401 Cache-Control" 'Cache-Control: no-store' "$(tr -d '\r' <"$WORKDIR/headers")"
check_eq "Basic scheme is 401" 401 "$(get /health -H "Authorization: Basic $env_token")"
check_eq "token without a scheme is 401" 401 "$(get /health -H "Authorization: $env_token")"
check_eq "wrong token is 401" 401 "$(get /health -H "Authorization: Bearer ${env_token}x")"
check_eq "token with trailing spaces is 401" 401 "$(get /health -H "Authorization: Bearer $env_token  ")"
check_eq "lowercase bearer scheme is accepted" 200 "$(get /health -H "Authorization: bearer $env_token")"
check_eq "uppercase BEARER scheme is accepted" 200 "$(get /health -H "Authorization: BEARER $env_token")"
for path in /metrics /ready / /nope; do
  check_eq "$path without a token is 401" 401 "$(get "$path")"
done
check_eq "/ready with the token is 200" 200 "$(get /ready -H "Authorization: Bearer $env_token")"
check_eq "/ with the token is 301" 301 "$(get / -H "Authorization: Bearer $env_token")"
check_eq "POST with the token is 405" 405 "$(get /health -X POST -H "Authorization: Bearer $env_token")"
stop_worker
check_eq "auth worker exits 0 on SIGTERM" 0 "$EXIT_STATUS"

finish
