# A real Prometheus server (Debian's /usr/bin/prometheus) scrapes the real
# worker on the example config with a bearer token, and its HTTP API returns
# the scraped run counter. A second job without the token must fail to
# scrape, which proves the token is what lets the first job in.
source "$(dirname "$0")/lib.sh"

PROMETHEUS=${PROMETHEUS:-/usr/bin/prometheus}
if [ ! -x "$PROMETHEUS" ]; then
  echo "skipped: $PROMETHEUS is not installed (apt-get install prometheus provides it)"
  finish
  exit 0
fi

PROMETHEUS_PID=""
stop_prometheus() {
  if [ -n "$PROMETHEUS_PID" ] && kill -0 "$PROMETHEUS_PID" 2>/dev/null; then
    kill -TERM "$PROMETHEUS_PID" 2>/dev/null || true
    wait_exit "$PROMETHEUS_PID" 10
    [ "$EXIT_STATUS" = timeout ] && kill -KILL "$PROMETHEUS_PID" 2>/dev/null
  fi
  PROMETHEUS_PID=""
}
trap 'stop_prometheus; cleanup' EXIT

cp -r "$AGORA_SOURCE_DIR/examples/quickstart" "$WORKDIR/example"
rm -rf "$WORKDIR/example/out"
worker_port=$(free_port)
prom_port=$(free_port)
token=scrape-test-token

AGORA_HEALTH_AUTH_TOKEN=$token "$AGORA_BIN" worker --config "$WORKDIR/example/pipelines.toml" \
  --health-port "$worker_port" 2>"$WORKDIR/worker.log" &
WORKER_PID=$!

# The alert rules of docs/health.md, loaded into the server below so that
# their expressions run against real agora series.
python3 - "$AGORA_SOURCE_DIR/docs/health.md" >"$WORKDIR/rules.yml" <<'EOF'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
match = re.search(r"```yaml\n(# agora-alerts.yml\n.*?)```", text, re.S)
print(match.group(1) if match else "")
EOF
rule_count=$(grep -c -- '- alert:' "$WORKDIR/rules.yml" || true)
if [ -x /usr/bin/promtool ]; then
  check_eq "promtool accepts the alert rules of docs/health.md" 0 \
    "$(promtool check rules "$WORKDIR/rules.yml" >"$WORKDIR/promtool-rules.out" 2>&1; echo $?)"
fi

cat >"$WORKDIR/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $WORKDIR/rules.yml
scrape_configs:
  - job_name: agora
    authorization:
      type: Bearer
      credentials: $token
    static_configs:
      - targets: ["127.0.0.1:$worker_port"]
  - job_name: agora_no_token
    static_configs:
      - targets: ["127.0.0.1:$worker_port"]
EOF

if [ -x /usr/bin/promtool ]; then
  check_eq "promtool accepts the scrape config" 0 \
    "$(promtool check config "$WORKDIR/prometheus.yml" >"$WORKDIR/promtool.out" 2>&1; echo $?)"
fi

"$PROMETHEUS" --config.file="$WORKDIR/prometheus.yml" \
  --storage.tsdb.path="$WORKDIR/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" 2>"$WORKDIR/prometheus.log" &
PROMETHEUS_PID=$!

# query EXPR: prints the first sample value of an instant query, or nothing.
query() {
  curl -s --max-time 5 --data-urlencode "query=$1" "http://127.0.0.1:$prom_port/api/v1/query" |
    jq -r '.data.result[0].value[1] // empty'
}
movies_scraped() {
  local v
  v=$(query 'agora_pipeline_runs_total{job="agora",pipeline_id="movies",status="success"}')
  [ -n "$v" ] && python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= 1 else 1)' "$v"
}

if wait_for 30 movies_scraped; then
  pass "Prometheus scraped agora_pipeline_runs_total{pipeline_id=\"movies\",status=\"success\"} >= 1"
else
  fail "Prometheus scraped agora_pipeline_runs_total{pipeline_id=\"movies\",status=\"success\"} >= 1"
  tail -20 "$WORKDIR/prometheus.log" >&2
  tail -20 "$WORKDIR/worker.log" >&2
fi

no_token_scraped() { [ -n "$(query 'up{job="agora_no_token"}')" ]; }
wait_for 10 no_token_scraped || true
check_eq "job with the token is up" 1 "$(query 'up{job="agora"}')"
check_eq "job without the token is down" 0 "$(query 'up{job="agora_no_token"}')"
targets=$(curl -s --max-time 5 "http://127.0.0.1:$prom_port/api/v1/targets")
check_contains "Prometheus reports the 401 of the job without the token" "401" \
  "$(jq -r '.data.activeTargets[] | select(.labels.job == "agora_no_token") | .lastError' <<<"$targets")"
check_eq "job with the token has no scrape error" "" \
  "$(jq -r '.data.activeTargets[] | select(.labels.job == "agora") | .lastError' <<<"$targets")"
check_eq "birdstrikes is registered with its schedule" 1 \
  "$(query 'agora_pipeline_registered{job="agora",pipeline_id="birdstrikes",schedule="every 30.0s"}')"
check_eq "middleware time is a counter in seconds" 1 \
  "$(query 'count(agora_pipeline_middleware_time_seconds_total{job="agora",pipeline_id="movies",middleware="validate"} >= 0)')"
check_eq "movies validate middleware saw records" 1 \
  "$(query 'count(agora_pipeline_middleware_records_total{job="agora",pipeline_id="movies",middleware="validate",outcome="in"} > 0)')"
check_eq "uptime is scraped" 1 "$(query 'count(agora_process_uptime_seconds{job="agora"} >= 0)')"

# rules_ok: true once Prometheus has evaluated every documented rule without
# an error.
rules_ok() {
  curl -s --max-time 5 "http://127.0.0.1:$prom_port/api/v1/rules" |
    jq -e --argjson n "$rule_count" \
      '[.data.groups[].rules[]] | length == $n and all(.health == "ok")' >/dev/null
}
if [ "$rule_count" -gt 0 ] && wait_for 15 rules_ok; then
  pass "Prometheus evaluates the $rule_count documented alert rules without error"
else
  fail "Prometheus evaluates the documented alert rules without error"
  curl -s --max-time 5 "http://127.0.0.1:$prom_port/api/v1/rules" >&2
fi

stop_prometheus
kill -TERM "$WORKER_PID"
wait_exit "$WORKER_PID" 20
check_eq "worker exits 0 on SIGTERM" 0 "$EXIT_STATUS"
WORKER_PID=""

finish
