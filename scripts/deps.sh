#!/usr/bin/env bash
# Installs the Debian 12 packages agora needs to build, test and run its
# examples. Skips apt-get when every package is already installed.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libcmocka-dev libmicrohttpd-dev libsqlite3-dev libcsv-dev libpcre2-dev
  sqlite3 jq curl python3 procps
)
if [ "${AGORA_DEPS_EXTRA:-}" != "" ]; then
  read -r -a extra <<<"$AGORA_DEPS_EXTRA"
  packages+=("${extra[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
  else
    echo "deps.sh: missing packages (${missing[*]}) and not root; install them or run as root" >&2
    exit 1
  fi
fi
echo "deps.sh: installing ${missing[*]}" >&2
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
