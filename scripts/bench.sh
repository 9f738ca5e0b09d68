#!/usr/bin/env bash
# The main job: bootstrap, build the release preset, run the benchmark suite and
# write results and plots to results/latest/. Extra arguments go to
# `hotshard-bench suite` (e.g. --full instead of the default --quick).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
cmake --preset release >/dev/null
cmake --build --preset release

bin=build/release/bin
out=results/latest
mkdir -p "$out"

if [ -x "$bin/hotshard-bench" ]; then
  args=("$@")
  [ ${#args[@]} -gt 0 ] || args=(--quick)
  "$bin/hotshard-bench" suite "${args[@]}" --out "$out"
  echo "bench.sh: results, summary and plots in $out/"
else
  echo "bench.sh: hotshard-bench is not built yet (the harness has not landed);" \
       "running the Google Benchmark binaries that exist instead." >&2
  ran=0
  for b in "$bin"/bench-*; do
    [ -x "$b" ] || continue
    name=$(basename "$b")
    echo "bench.sh: running $name" >&2
    "$b" --benchmark_min_time=0.2 --benchmark_out="$out/$name.json" --benchmark_out_format=json
    ran=$((ran + 1))
  done
  [ "$ran" -gt 0 ] || echo "bench.sh: no benchmark binaries exist yet; nothing to measure." >&2
fi
