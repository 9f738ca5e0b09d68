#!/usr/bin/env bash
# Exhaustively model-checks a Promela model with spin and says whether the
# outcome is the expected one.
#
#   scripts/spin-check.sh MODEL.pml [-D NAME[=VALUE]]... [--expect-violation]
#
# Generates the verifier with `spin -a` (the -D defines go to spin's
# preprocessor), compiles it with gcc, and runs a full state-space search
# (no bitstate hashing, so "no error" means none in any reachable state). The
# depth bound starts at 10^6 and is raised if pan reports it too small, so a
# pass is never a truncated search. A model with an `ltl` formula or a
# never claim is searched for acceptance cycles too (pan -a); otherwise the
# safety-only verifier (-DSAFETY) is used. Extra pan flags: $SPIN_PAN_FLAGS.
# Prints the states explored. Exits 0 iff: without --expect-violation, no
# error was found; with it, at least one was (a mutant that must be caught).
# Exit 2 for bad usage, 1 otherwise.
set -euo pipefail

usage() { echo "usage: $0 MODEL.pml [-D NAME[=VALUE]]... [--expect-violation]" >&2; exit 2; }
[ $# -ge 1 ] || usage
model=$1; shift
defines=()
expect_violation=0
while [ $# -gt 0 ]; do
  case "$1" in
    -D) [ $# -ge 2 ] || usage; defines+=("-D$2"); shift 2 ;;
    -D*) defines+=("$1"); shift ;;
    --expect-violation) expect_violation=1; shift ;;
    *) echo "spin-check: unknown argument: $1" >&2; usage ;;
  esac
done
[ -f "$model" ] || { echo "spin-check: no such model: $model" >&2; exit 2; }
for tool in spin gcc; do
  command -v "$tool" >/dev/null || { echo "spin-check: '$tool' not found (scripts/bootstrap.sh installs it)" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$model" "$work/model.pml"
cd "$work"
spin -a "${defines[@]}" model.pml >spin.log 2>&1 || { cat spin.log >&2; echo "spin-check: spin -a failed" >&2; exit 1; }

cflags=(-O2 -w)
pan_flags=()
if grep -Eq '^[[:space:]]*(ltl|never)[[:space:]{]' model.pml; then
  pan_flags+=(-a)
else
  cflags+=(-DSAFETY)
fi
gcc "${cflags[@]}" -o pan pan.c || { echo "spin-check: gcc failed to build the verifier" >&2; exit 1; }

depth=1000000
for _ in 1 2 3 4; do
  # shellcheck disable=SC2086  # SPIN_PAN_FLAGS is a list of flags
  ./pan -m"$depth" "${pan_flags[@]}" ${SPIN_PAN_FLAGS:-} >pan.log 2>&1 || true
  if grep -q 'max search depth too small' pan.log && ! grep -Eq 'errors: [1-9]' pan.log; then
    depth=$((depth * 4))
    continue
  fi
  break
done

errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' pan.log | tail -1)
states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' pan.log | tail -1)
if [ -z "$errors" ]; then
  cat pan.log >&2
  echo "spin-check: could not read pan's result" >&2
  exit 1
fi
truncated=0
grep -q 'max search depth too small' pan.log && truncated=1
label="$(basename "$model")${defines[*]:+ ${defines[*]}}"
echo "spin-check: $label: ${states:-?} states stored, depth bound $depth, errors: $errors"
if [ "$expect_violation" -eq 1 ]; then
  if [ "$errors" -gt 0 ]; then
    grep -m1 -E 'assertion violated|acceptance cycle|invalid end state|error:' pan.log | sed 's/^/spin-check: found as expected: /'
    exit 0
  fi
  echo "spin-check: FAIL: expected a violation, the search found none" >&2
  exit 1
fi
if [ "$errors" -gt 0 ]; then
  grep -E 'assertion violated|acceptance cycle|invalid end state|error:' pan.log | head -3 >&2
  echo "spin-check: FAIL: violation found" >&2
  exit 1
fi
if [ "$truncated" -eq 1 ]; then
  echo "spin-check: FAIL: search truncated at depth $depth" >&2
  exit 1
fi
echo "spin-check: verified (exhaustive)"
