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

# Per tier (the ctest labels of DESIGN.md "Testing"): passed/failed/skipped,
# from this run's log and `ctest -N -L` (lists, runs nothing), so no test runs
# twice. A test with no tier label is counted as "untiered" (should be none).
tiers="semantics stress statistical integration model fuzz"
tier_line() {  # preset log
  local preset=$1 log=$2 dir="build/$1" status tier names line="" all
  status=$(sed -nE 's/^ *[0-9]+\/[0-9]+ +Test +#[0-9]+: ([^ ]+) .*(Passed|\*\*\*Skipped).*/\1 \2/p;
                     t;
                     s/^ *[0-9]+\/[0-9]+ +Test +#[0-9]+: ([^ ]+) .*/\1 failed/p' "$log")
  all=$(ctest --test-dir "$dir" -N | sed -nE 's/^ *Test +#[0-9]+: ([^ ]+).*$/\1/p' | sort)
  local tiered=""
  for tier in $tiers; do
    names=$(ctest --test-dir "$dir" -N -L "^${tier}\$" | sed -nE 's/^ *Test +#[0-9]+: ([^ ]+).*$/\1/p')
    [ -n "$names" ] || continue
    tiered+="$names"$'\n'
    line+=" $tier $(names="$names" awk 'BEGIN { n = split(ENVIRON["names"], a, "\n"); for (i = 1; i <= n; ++i) want[a[i]] = 1 }
      want[$1] { if ($2 == "Passed") p++; else if ($2 == "***Skipped") s++; else f++ }
      END { printf "%d passed/%d failed%s;", p, f, s ? "/" s " skipped" : "" }' <<<"$status")"
  done
  local untiered
  untiered=$(comm -23 <(printf '%s\n' "$all") <(printf '%s' "$tiered" | sort -u) | grep -c . || true)
  [ "${untiered:-0}" -eq 0 ] && untiered=""
  echo "$preset tiers:${line}${untiered:+ untiered $untiered (no tier label)}"
}

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
  summary+=("  $(tier_line "$preset" "$log")")
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
