#!/usr/bin/env bash
# Installs the Debian packages hotshard builds against, if any are missing.
# Idempotent and quiet when everything is present. As root it uses apt-get;
# otherwise sudo; if neither works it prints the exact command and exits 1.
# The optional packages (the reference drivers of scripts/anchors.sh) are
# installed after the required ones, and a failure there is only a warning:
# the anchors are then skipped, the C++ build and tests are unaffected.
# HOTSHARD_NO_ANCHORS=1 leaves the optional packages out.
set -euo pipefail

packages=(
  cmake g++ make python3
  libgtest-dev libgmock-dev libbenchmark-dev
  libtbb-dev libconcurrentqueue-dev libboost-dev libjemalloc-dev
  nlohmann-json3-dev libcli11-dev python3-matplotlib
  # compressed traces: the readers stream xz, gzip and zstd; the tests compress fixtures with the CLIs
  liblzma-dev zlib1g-dev libzstd-dev xz-utils gzip zstd
  # the fuzz preset: clang 14 with libFuzzer and the sanitizer runtimes
  clang-14 libfuzzer-14-dev libclang-rt-14-dev
  spin  # model checker: models/*.pml via scripts/spin-check.sh
  gcc   # compiles spin's generated verifier (pan.c)
  # Redis Cluster backend (scripts/redis-cluster.sh, harness redis_store): server, redis-cli, hiredis
  redis-server redis-tools libhiredis-dev
  libxenium-dev             # issue 14 queue peers: vyukov_bounded_queue, ramalhete_queue, michael_scott_queue
  libatomic-queue-dev       # issue 14 queue peers: AtomicQueueB, AtomicQueueB2
  libcds-dev                # issue 14 queue peers: VyukovMPMCCycleQueue, FCQueue
  libboost-thread-dev       # libcds' FCQueue (flat combining) links Boost.Thread
  libck-dev                 # issue 14 queue peer: Concurrency Kit's ck_ring MPMC
  libreaderwriterqueue-dev  # issue 14 queue peer: moodycamel::ReaderWriterQueue (1P1C)
  liburcu-dev               # issue 14 write-buffer peer: liburcu's cds_wfcq wait-free queue
  libcuckoo-dev             # issue 14 keyed-counter peer: libcuckoo::cuckoohash_map
  libabsl-dev               # issue 14 peers: absl::flat_hash_map and absl::Mutex
  pkg-config                # finds libck and liburcu (harness/CMakeLists.txt)
)

optional_packages=(
  openjdk-17-jdk-headless              # anchors/java: javac and java
  libcaffeine-java                     # anchors/java: Caffeine's jar
  golang-go                            # anchors/go: the Go toolchain
  golang-golang-x-sync-dev             # anchors/go: golang.org/x/sync/singleflight
  golang-github-golang-groupcache-dev  # anchors/go: groupcache's singleflight
)
[ "${HOTSHARD_NO_ANCHORS:-0}" = 1 ] && optional_packages=()

missing_of() {
  local p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      echo "$p"
    fi
  done
}
mapfile -t missing < <(missing_of "${packages[@]}")
mapfile -t missing_optional < <(missing_of ${optional_packages[@]+"${optional_packages[@]}"})
[ ${#missing[@]} -eq 0 ] && [ ${#missing_optional[@]} -eq 0 ] && exit 0
warn_optional() {
  echo "bootstrap: warning: the reference drivers' packages are not installed (${missing_optional[*]}): $1;" \
       "scripts/anchors.sh and its smoke test will skip them" >&2
}

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo)
elif [ ${#missing[@]} -eq 0 ]; then
  warn_optional "not root and no passwordless sudo (apt-get install -y ${missing_optional[*]})"
  exit 0
else
  echo "bootstrap: not root and no passwordless sudo; run this as root:" >&2
  echo "  apt-get update && apt-get install -y ${missing[*]} ${missing_optional[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! "${as_root[@]}" apt-get update -q >/dev/null; then
  [ ${#missing[@]} -gt 0 ] && { echo "bootstrap: apt-get update failed" >&2; exit 1; }
  warn_optional "apt-get update failed"
  exit 0
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing missing packages: ${missing[*]}" >&2
  "${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
# After the required packages, so a JDK whose post-install fails cannot leave
# them uninstalled.
if [ ${#missing_optional[@]} -gt 0 ]; then
  echo "bootstrap: installing the reference drivers' packages: ${missing_optional[*]}" >&2
  if ! "${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing_optional[@]}" >/dev/null; then
    warn_optional "apt-get install failed"
  fi
fi
echo "bootstrap: done" >&2
