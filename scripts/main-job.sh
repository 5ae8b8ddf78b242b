#!/usr/bin/env bash
# Installs dependencies, builds agora and starts the example worker on the
# real data in examples/quickstart, with the health server on 127.0.0.1:8080
# (AGORA_HEALTH_PORT=N picks another port). Stop it with Ctrl-C (SIGINT) or
# SIGTERM.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
port=${AGORA_HEALTH_PORT:-8080}
if ! [[ "$port" =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
  echo "main-job.sh: AGORA_HEALTH_PORT must be a port number from 1 to 65535, got '$port'" >&2
  exit 2
fi
"$root/scripts/deps.sh"
"$root/scripts/build.sh" "$root/build"
example=$root/examples/quickstart
cat <<MSG
agora example worker
  config:   $example/pipelines.toml
  outputs:  $example/out/movies.jsonl, $example/out/movies.db (table movies),
            $example/out/birdstrikes_costly.csv
  DLQ:      $example/out/dlq.db (table dlq_records)
  health:   curl http://127.0.0.1:$port/health   (also /ready and /metrics)
Stop with Ctrl-C.
MSG
exec "$root/build/agora" worker --config "$example/pipelines.toml" --health-port "$port"
