#!/usr/bin/env bash
# Runs the reference drivers outside the C++ build — anchors/java (LongAdder,
# AtomicLong, ConcurrentHashMap<Long, LongAdder>, Caffeine) and anchors/go
# (x/sync and groupcache singleflight) — on the C++ suite's key streams.
#
#   scripts/anchors.sh [--out DIR] [--quick|--full|--smoke] [--bench PATH]
#                      [--repetitions R | --rounds R] [--duration S]
#
# 1. Writes every trace a driver's plan reads (`DRIVER --list-traces`) with
#    `hotshard-bench trace gen SPEC --threads T --seed 1 --format binary`, so
#    the keys are the ones the C++ scenarios generate for T threads.
# 2. Builds the drivers into build/anchors/ (javac against Debian's
#    caffeine.jar; go build in GOPATH mode over /usr/share/gocode: no network).
# 3. Runs each and writes DIR/java.json and DIR/go.json (default DIR:
#    results/latest/anchors). With --rounds R (R >= 2; what `suite --anchors`
#    uses) each driver runs R times with one repetition, and right after each
#    round hotshard-bench runs our implementations on the same groups, so
#    each driver figure has a paired figure of ours from seconds later
#    (metrics.paired_ours; scripts/anchor_pairs.py). Every *.json left in DIR is a complete
#    hotshard.results/1 document; a driver that is skipped or fails to start
#    leaves none, and one whose invariant failed lists it under "errors".
# A missing toolchain is not an error: the driver is skipped with a line
# saying what to install. Exit: 0 ok or skipped; 1 a driver failed (an
# invariant, a crash); 2 bad arguments or no hotshard-bench.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$root/results/latest/anchors"
mode=--quick
bench=""
extra=()
rounds=1

die() { echo "anchors: error: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || die "--out: a directory is required"; out=$2; shift 2 ;;
    --bench) [ $# -ge 2 ] || die "--bench: a path to hotshard-bench is required"; bench=$2; shift 2 ;;
    --quick|--full|--smoke) mode=$1; shift ;;
    --repetitions|--duration) [ $# -ge 2 ] || die "$1: a value is required"; extra+=("$1" "$2"); shift 2 ;;
    --rounds) [ $# -ge 2 ] || die "--rounds: a value is required"
              [[ $2 =~ ^[1-9][0-9]*$ ]] || die "--rounds: '$2' is not an integer >= 1"; rounds=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (accepted: --out DIR, --quick, --full, --smoke, --bench PATH, --repetitions R, --rounds R, --duration S)" ;;
  esac
done
if [ -z "$bench" ]; then
  for b in "$root/build/release/bin/hotshard-bench" "$root/build/debug/bin/hotshard-bench"; do
    if [ -x "$b" ]; then bench=$b; break; fi
  done
  [ -n "$bench" ] || die "no hotshard-bench in build/release or build/debug; build it (cmake --preset release && cmake --build build/release --target hotshard-bench) or pass --bench PATH"
fi
[ -x "$bench" ] || die "--bench: '$bench' is not an executable"
if [ "$rounds" -gt 1 ]; then
  for a in ${extra[@]+"${extra[@]}"}; do
    [ "$a" != --repetitions ] || die "--rounds and --repetitions exclude each other (a round is one repetition)"
  done
  command -v python3 >/dev/null 2>&1 || die "--rounds needs python3 (scripts/anchor_pairs.py)"
fi

build="$root/build/anchors"
traces="$build/traces"
mkdir -p "$out" "$traces"
rm -f "$out/java.json" "$out/go.json" "$out"/*.json.tmp "$out"/*.json.partial
git=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
status=0

skip() { echo "anchors: skipping the $1 driver: $2. Install: apt-get install -y $3 (scripts/bootstrap.sh installs it)" >&2; }

# gen_traces DRIVER...: writes the traces that `DRIVER --list-traces MODE` names.
gen_traces() {
  local spec threads records file log
  "$@" --list-traces "$mode" | while IFS=$'\t' read -r spec threads records file; do
    if ! log=$("$bench" trace gen "$spec" --threads "$threads" --ops "$records" --seed 1 --format binary \
                 --out "$traces/$file" 2>&1); then
      echo "anchors: trace gen $spec --threads $threads failed: $log" >&2
      exit 1
    fi
  done
}

# run_driver NAME DRIVER...: traces, then the measured runs into $out/NAME.json.
run_driver() {
  local name=$1; shift
  if ! gen_traces "$@"; then status=1; return; fi
  if [ "$rounds" -gt 1 ]; then run_rounds "$name" "$@"; return; fi
  echo "anchors: running the $name driver ($mode${extra[*]:+ ${extra[*]}})" >&2
  local rc=0
  "$@" --traces "$traces" --out "$out/$name.json" "$mode" --git "$git" ${extra[@]+"${extra[@]}"} || rc=$?
  if [ $rc -ne 0 ]; then
    echo "anchors: the $name driver failed (exit $rc)" >&2
    status=1
  fi
}

# run_rounds NAME DRIVER...: --rounds R. Round k: the driver with one
# repetition into NAME.round<k>.json.tmp, then ours on each group it measured
# (anchor_pairs.py groups) into NAME.ours<k>-<n>.json.tmp; then one merged
# NAME.json (anchor_pairs.py merge).
run_rounds() {
  local name=$1; shift
  local list="$build/list.json" k n rc groups scenario workload threads knobs impls seconds kv
  local drivers=() ours=() sets=() kvs=()
  "$bench" list --json > "$list" || { echo "anchors: $bench list --json failed" >&2; status=1; return; }
  for k in $(seq 1 "$rounds"); do
    echo "anchors: running the $name driver, round $k of $rounds ($mode${extra[*]:+ ${extra[*]}}), then ours" >&2
    rc=0
    "$@" --traces "$traces" --out "$out/$name.round$k.json.tmp" "$mode" --git "$git" --repetitions 1 \
      ${extra[@]+"${extra[@]}"} || rc=$?
    if [ $rc -ne 0 ]; then
      echo "anchors: the $name driver failed in round $k (exit $rc)" >&2
      status=1
      return
    fi
    drivers+=("$out/$name.round$k.json.tmp")
    groups=$(python3 "$root/scripts/anchor_pairs.py" groups "$out/$name.round$k.json.tmp" "$list") || {
      status=1
      return
    }
    n=0
    while IFS=$'\t' read -r scenario workload threads knobs impls seconds; do
      [ -n "$scenario" ] || continue  # a driver that measured nothing: no groups
      n=$((n + 1))
      sets=()
      if [ "$knobs" != - ]; then
        IFS=';' read -ra kvs <<< "$knobs"
        for kv in "${kvs[@]}"; do sets+=(--set "$kv"); done
      fi
      if ! "$bench" run "$scenario" --impl "$impls" --threads "$threads" --workload "$workload" \
             ${sets[@]+"${sets[@]}"} --repetitions 1 --duration "$seconds" --quiet \
             --json "$out/$name.ours$k-$n.json.tmp" >/dev/null; then
        echo "anchors: ours on $scenario/$workload/$threads threads failed in round $k" >&2
        status=1
        return
      fi
      ours+=("$out/$name.ours$k-$n.json.tmp")
    done <<< "$groups"
  done
  python3 "$root/scripts/anchor_pairs.py" merge --out "$out/$name.json" --rounds "$rounds" \
    "${drivers[@]}" ${ours[@]+"${ours[@]}"} || status=1
}

# Java: OpenJDK 17 and Debian's Caffeine jar.
caffeine=/usr/share/java/caffeine.jar
if ! command -v javac >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1; then
  skip Java "javac/java not found" "openjdk-17-jdk-headless libcaffeine-java"
elif [ ! -r "$caffeine" ]; then
  skip Java "$caffeine not found" "libcaffeine-java"
else
  classes="$build/java"
  rm -rf "$classes" && mkdir -p "$classes"
  if javac -nowarn -d "$classes" -cp "$caffeine" "$root"/anchors/java/*.java; then
    run_driver java java -cp "$classes:$caffeine" Anchors
  else
    echo "anchors: the Java driver does not compile" >&2
    status=1
  fi
fi

# Go: Debian's golang-go with the x/sync and groupcache sources in /usr/share/gocode.
gocode=/usr/share/gocode
if ! command -v go >/dev/null 2>&1; then
  skip Go "go not found" "golang-go golang-golang-x-sync-dev golang-github-golang-groupcache-dev"
elif [ ! -d "$gocode/src/golang.org/x/sync/singleflight" ]; then
  skip Go "$gocode/src/golang.org/x/sync/singleflight not found" "golang-golang-x-sync-dev"
elif [ ! -d "$gocode/src/github.com/golang/groupcache/singleflight" ]; then
  skip Go "$gocode/src/github.com/golang/groupcache/singleflight not found" "golang-github-golang-groupcache-dev"
else
  mkdir -p "$build/go"
  if (cd "$root" && GO111MODULE=off GOPATH="$gocode" GOFLAGS= GOPROXY=off GOCACHE="$build/go/cache" \
        go build -o "$build/go/anchors-go" ./anchors/go); then
    run_driver go "$build/go/anchors-go"
  else
    echo "anchors: the Go driver does not build" >&2
    status=1
  fi
fi

rm -f "$out"/*.json.tmp
exit $status
