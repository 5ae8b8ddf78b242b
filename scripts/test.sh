#!/usr/bin/env bash
# Installs dependencies, builds agora and runs every test through CTest.
# Usage: scripts/test.sh [BUILD_DIR] [extra cmake args...]
# AGORA_CTEST_ARGS adds arguments to the ctest call (for example -E NAME).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
shift || true
AGORA_DEPS_EXTRA="prometheus ${AGORA_DEPS_EXTRA:-}" "$root/scripts/deps.sh"
"$root/scripts/build.sh" "$build" "$@"
cd "$build"
# shellcheck disable=SC2086 # word splitting of AGORA_CTEST_ARGS is intended
ctest --output-on-failure -j2 ${AGORA_CTEST_ARGS:-}
