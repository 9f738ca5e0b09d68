#!/usr/bin/env bash
# The main job: bootstrap, build hotshard-bench (release preset; only what the
# suite runs, no tests), run the benchmark suite and write results and plots
# to results/latest/. Extra arguments go to `hotshard-bench suite` (e.g.
# --full instead of the default --quick, --anchors for the reference drivers).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
cmake --preset release >/dev/null
cmake --build --preset release --target hotshard-bench

out=results/latest
mkdir -p "$out"
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--quick)
build/release/bin/hotshard-bench suite "${args[@]}" --out "$out"
echo "bench.sh: results, summary and plots in $out/"
