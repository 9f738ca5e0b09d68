#!/usr/bin/env bash
# The main job: bootstrap, build hotshard-bench (release preset; only what the
# suite runs, no tests), run the benchmark suite and write results and plots
# to results/latest/. Extra arguments go to `hotshard-bench suite` (e.g.
# --full instead of the default --quick, --anchors for the reference drivers).
# --redis (first argument) instead starts a Redis Cluster on loopback
# (scripts/redis-cluster.sh, 6 masters), runs hot-partition unmitigated and
# mitigated against it (2 client threads, the default viral stream) into
# OUT/redis.{json,md} and OUT/redis-plots/ (OUT: results/latest, or
# `--redis --out DIR`), and stops the cluster — also when the run fails.
# Further arguments go to `hotshard-bench run` (e.g. --repetitions 1).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
cmake --preset release >/dev/null
cmake --build --preset release --target hotshard-bench

out=results/latest
mkdir -p "$out"
if [ "${1:-}" = --redis ]; then
  shift
  if [ "${1:-}" = --out ]; then out="${2:?--out needs a directory}"; shift 2; mkdir -p "$out"; fi
  dir=build/redis-bench
  scripts/redis-cluster.sh stop --dir "$dir" >/dev/null 2>&1 || true
  scripts/redis-cluster.sh start --dir "$dir" --base-port "${HOTSHARD_REDIS_PORT:-7000}"
  trap 'scripts/redis-cluster.sh stop --dir "$dir"' EXIT
  build/release/bin/hotshard-bench run hot-partition --impl unmitigated,mitigated --threads 2 \
    --set store=redis://127.0.0.1:"${HOTSHARD_REDIS_PORT:-7000}" --json "$out/redis.json" --md "$out/redis.md" "$@"
  # The engine and topology beside the tables (from the servers: INFO server, CLUSTER SLOTS).
  python3 - "$out/redis.json" "$(redis-cli -p "${HOTSHARD_REDIS_PORT:-7000}" cluster info | grep -E 'cluster_(state|size|known_nodes)' | tr -d '\r' | tr '\n' ' ')" >>"$out/redis.md" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["results"][0]["metrics"]
print(f"\nRedis {m.get('redis_version', '?')} Cluster on loopback: {len(m.get('nodes', []))} masters "
      f"({', '.join(m.get('nodes', []))}), no replicas, no persistence; {sys.argv[2].strip()}")
PY
  python3 scripts/plot.py "$out/redis.json" --out "$out/redis-plots" ||
    echo "bench.sh: plots skipped (scripts/plot.py failed; see above)" >&2
  echo "bench.sh: Redis Cluster results in $out/redis.json, $out/redis.md and $out/redis-plots/"
  exit 0
fi
# No arguments: the suite's own default (--quick).
build/release/bin/hotshard-bench suite "$@" --out "$out"
echo "bench.sh: results, summary and plots in $out/"
