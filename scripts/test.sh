#!/usr/bin/env bash
# The test command: bootstrap, then build and run every test in the debug
# build, then the tests under ThreadSanitizer and AddressSanitizer+UBSan, then
# the fuzz step: the fuzz preset (clang 14, libFuzzer + ASan + UBSan) builds
# tests/fuzz and ctest runs each target for a bounded time from its seed
# corpus, each counted as one passed/failed test (about 2 minutes here).
# Warnings are errors here. Ends with one summary line; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

scripts/bootstrap.sh || { echo "test.sh: bootstrap failed"; exit 1; }

failed=()
summary=()
total_passed=0
total_failed=0
for preset in ${HOTSHARD_TEST_PRESETS:-debug tsan asan fuzz}; do
  echo "=== $preset: configure and build ==="
  t0=$(date +%s)
  if ! cmake --preset "$preset" -DHOTSHARD_WERROR=ON >/dev/null ||
     ! cmake --build --preset "$preset"; then
    failed+=("$preset:build")
    summary+=("$preset: build failed")
    continue
  fi
  t1=$(date +%s)
  echo "=== $preset: test (built in $(( t1 - t0 ))s) ==="
  log="build/$preset/ctest.log"
  ctest --preset "$preset" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of' "$log" | tail -n 1)
  # The failed tests by name, so a CI log's tail says which (ctest lists them above its summary).
  failed_names=$(grep -E '^[[:space:]]+[0-9]+ - .*\((Failed|Timeout|SEGFAULT|Exception|Subprocess aborted|Not Run)' "$log" |
                 sed -E 's/^[[:space:]]+[0-9]+ - //' | tr '\n' ';')
  summary+=("$preset: ${line:-no ctest summary} (build $(( t1 - t0 ))s, tests $(( $(date +%s) - t1 ))s)${failed_names:+; failed: $failed_names}")
  if [[ $line =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
    total_failed=$(( total_failed + BASH_REMATCH[1] ))
    total_passed=$(( total_passed + BASH_REMATCH[2] - BASH_REMATCH[1] ))
  fi
  [ "$rc" -eq 0 ] || failed+=("$preset:tests")
done

elapsed=$(( $(date +%s) - start ))
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -eq 0 ]; then
  echo "test.sh: all presets green in ${elapsed}s"
else
  echo "test.sh: FAILED ${failed[*]} in ${elapsed}s"
fi
echo "tests: ${total_passed} passed, ${total_failed} failed"
[ ${#failed[@]} -eq 0 ]
