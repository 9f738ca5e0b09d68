#!/usr/bin/env bash
# The main job: bootstrap, build hotshard-bench (release preset; only what the
# suite runs, no tests), run the benchmark suite and write results and plots
# to results/latest/. Extra arguments go to `hotshard-bench suite` (e.g.
# --full instead of the default --quick, --anchors for the reference drivers).
# --redis (first argument) instead starts a Redis Cluster on loopback
# (scripts/redis-cluster.sh), runs hot-partition unmitigated and mitigated
# against it into results/latest/redis.{json,md}, and stops the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
cmake --preset release >/dev/null
cmake --build --preset release --target hotshard-bench

out=results/latest
mkdir -p "$out"
if [ "${1:-}" = --redis ]; then
  shift
  dir=build/redis-bench
  scripts/redis-cluster.sh stop --dir "$dir" >/dev/null 2>&1 || true
  scripts/redis-cluster.sh start --dir "$dir" --base-port "${HOTSHARD_REDIS_PORT:-7000}"
  trap 'scripts/redis-cluster.sh stop --dir "$dir"' EXIT
  build/release/bin/hotshard-bench run hot-partition --impl unmitigated,mitigated --threads 2 \
    --set store=redis://127.0.0.1:"${HOTSHARD_REDIS_PORT:-7000}" --json "$out/redis.json" --md "$out/redis.md" "$@"
  echo "bench.sh: Redis Cluster results in $out/redis.json and $out/redis.md"
  exit 0
fi
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--quick)
build/release/bin/hotshard-bench suite "${args[@]}" --out "$out"
echo "bench.sh: results, summary and plots in $out/"
