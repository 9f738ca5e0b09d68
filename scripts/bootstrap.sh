#!/usr/bin/env bash
# Installs the Debian packages hotshard builds against, if any are missing.
# Idempotent and quiet when everything is present. As root it uses apt-get;
# otherwise sudo; if neither works it prints the exact command and exits 1.
set -euo pipefail

packages=(
  cmake g++ make python3
  libgtest-dev libgmock-dev libbenchmark-dev
  libtbb-dev libconcurrentqueue-dev libboost-dev libjemalloc-dev
  nlohmann-json3-dev libcli11-dev python3-matplotlib
  # Redis Cluster backend (scripts/redis-cluster.sh, harness redis_store): server, redis-cli, hiredis
  redis-server redis-tools libhiredis-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "bootstrap: installing missing packages: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo)
else
  echo "bootstrap: not root and no passwordless sudo; run this as root:" >&2
  echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q >/dev/null
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
echo "bootstrap: done" >&2
