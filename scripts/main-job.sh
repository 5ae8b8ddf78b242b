#!/usr/bin/env bash
# Installs dependencies, builds agora and starts the example worker on the
# real data in examples/quickstart, with the health server on 127.0.0.1:8080.
# Stop it with Ctrl-C (SIGINT) or SIGTERM.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh"
"$root/scripts/build.sh" "$root/build"
example=$root/examples/quickstart
cat <<MSG
agora example worker
  config:   $example/pipelines.toml
  outputs:  $example/out/movies.jsonl, $example/out/movies.db (table movies),
            $example/out/birdstrikes_costly.csv
  DLQ:      $example/out/dlq.db (table dlq_records)
  health:   curl http://127.0.0.1:8080/health   (also /ready and /metrics)
Stop with Ctrl-C.
MSG
exec "$root/build/agora" worker --config "$example/pipelines.toml"
