#!/usr/bin/env bash
# scripts/redis-cluster.sh — a throwaway Redis Cluster on loopback, for the
# hot-partition scenarios' `--set store=redis://127.0.0.1:PORT` backend.
#
#   scripts/redis-cluster.sh start  [--masters N] [--base-port P] [--dir D]
#   scripts/redis-cluster.sh status [--dir D]
#   scripts/redis-cluster.sh stop   [--dir D]
#
# start: N masters (default 6) of Debian's redis-server on 127.0.0.1, ports
# P..P+N-1 (default 7000), cluster mode, no persistence, each in its own fresh
# directory under D (default build/redis-cluster; a reused nodes.conf makes
# `create` fail, so D must not hold a cluster already); then
# `redis-cli --cluster create ... --cluster-replicas 0 --cluster-yes` and a
# bounded wait for cluster_state:ok on every node. Each server's PID is kept
# in D/pids, its port in D/ports. stop ends exactly those PIDs (TERM, then KILL
# after a bounded wait) and removes D. Every wait is bounded; any failure says
# what and where and exits non-zero (start cleans up what it had started).
set -euo pipefail

cmd="${1:-}"
[ $# -gt 0 ] && shift
masters=6
base_port=7000
dir="build/redis-cluster"
while [ $# -gt 0 ]; do
  case "$1" in
    --masters) masters="${2:?--masters needs a value}"; shift 2 ;;
    --base-port) base_port="${2:?--base-port needs a value}"; shift 2 ;;
    --dir) dir="${2:?--dir needs a value}"; shift 2 ;;
    *) echo "redis-cluster: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
case "$masters" in ''|*[!0-9]*) echo "redis-cluster: --masters '$masters' is not a number" >&2; exit 2 ;; esac
case "$base_port" in ''|*[!0-9]*) echo "redis-cluster: --base-port '$base_port' is not a number" >&2; exit 2 ;; esac
if [ "$masters" -lt 3 ]; then echo "redis-cluster: --masters must be at least 3 (redis-cli --cluster create needs 3)" >&2; exit 2; fi
if [ $((base_port + masters - 1)) -gt 65535 ] || [ "$base_port" -lt 1024 ]; then
  echo "redis-cluster: ports $base_port..$((base_port + masters - 1)) are outside 1024..65535" >&2; exit 2
fi

die() { echo "redis-cluster: $*" >&2; exit 1; }

# A bounded redis-cli call: never waits on a stopped server for long.
rcli() { timeout 5 redis-cli -h 127.0.0.1 "$@"; }

port_in_use() {  # true when something accepts connections on 127.0.0.1:$1
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

stop_pids() {  # TERM the recorded PIDs, wait up to 10 s, KILL what is left
  local pidfile="$dir/pids" pid alive i
  [ -f "$pidfile" ] || return 0
  while read -r pid; do [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true; done <"$pidfile"
  for i in $(seq 1 100); do
    alive=0
    while read -r pid; do [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && alive=1; done <"$pidfile"
    [ "$alive" -eq 0 ] && return 0
    sleep 0.1
  done
  while read -r pid; do [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true; done <"$pidfile"
}

start() {
  command -v redis-server >/dev/null 2>&1 || die "redis-server not found (apt-get install redis-server)"
  command -v redis-cli >/dev/null 2>&1 || die "redis-cli not found (apt-get install redis-tools)"
  [ -e "$dir/pids" ] && die "$dir already holds a cluster (stop it first: $0 stop --dir $dir)"
  local port i
  for i in $(seq 0 $((masters - 1))); do
    port=$((base_port + i))
    port_in_use "$port" && die "port $port on 127.0.0.1 is in use"
    # The cluster bus listens on port + 10000.
    port_in_use $((port + 10000)) && die "cluster bus port $((port + 10000)) on 127.0.0.1 is in use"
  done
  rm -rf "$dir"
  mkdir -p "$dir"
  # Absolute: redis-server applies --dir (a chdir) before it opens --logfile, so a
  # relative D (the default build/redis-cluster) would put the log nowhere and the
  # server would exit at once.
  dir="$(cd "$dir" && pwd)"
  trap 'echo "redis-cluster: start failed; stopping what was started" >&2; stop_pids; rm -rf "$dir"' ERR
  : >"$dir/pids"
  : >"$dir/ports"
  for i in $(seq 0 $((masters - 1))); do
    port=$((base_port + i))
    mkdir -p "$dir/$port"
    redis-server --port "$port" --bind 127.0.0.1 --protected-mode no \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000 \
      --save '' --appendonly no --dir "$dir/$port" --logfile "$dir/$port/redis.log" \
      --daemonize no </dev/null >/dev/null 2>&1 &
    echo "$!" >>"$dir/pids"
    echo "$port" >>"$dir/ports"
  done
  local addrs=() ok
  for port in $(cat "$dir/ports"); do
    ok=0
    for i in $(seq 1 100); do  # 10 s per node
      if [ "$(rcli -p "$port" ping 2>/dev/null || true)" = "PONG" ]; then ok=1; break; fi
      sleep 0.1
    done
    [ "$ok" -eq 1 ] || { echo "redis-cluster: node 127.0.0.1:$port did not come up; log:" >&2;
                         tail -n 5 "$dir/$port/redis.log" >&2 || true; false; }
    addrs+=("127.0.0.1:$port")
  done
  timeout 60 redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes \
    >"$dir/create.log" 2>&1 || { echo "redis-cluster: cluster create failed; see $dir/create.log:" >&2;
                                 tail -n 5 "$dir/create.log" >&2; false; }
  for port in $(cat "$dir/ports"); do
    ok=0
    for i in $(seq 1 300); do  # 30 s per node
      if rcli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; then ok=1; break; fi
      sleep 0.1
    done
    [ "$ok" -eq 1 ] || { echo "redis-cluster: node 127.0.0.1:$port did not reach cluster_state:ok" >&2; false; }
  done
  trap - ERR
  echo "redis-cluster: $masters masters up on 127.0.0.1:$base_port..$((base_port + masters - 1)) (dir $dir)"
}

status() {
  [ -f "$dir/ports" ] || { echo "redis-cluster: no cluster in $dir"; exit 1; }
  local port bad=0 state
  for port in $(cat "$dir/ports"); do
    state=$(rcli -p "$port" cluster info 2>/dev/null | tr -d '\r' | grep '^cluster_state:' || echo "cluster_state:down")
    echo "127.0.0.1:$port ${state#cluster_state:}"
    [ "$state" = "cluster_state:ok" ] || bad=1
  done
  exit "$bad"
}

stop() {
  [ -f "$dir/pids" ] || { echo "redis-cluster: no cluster in $dir (nothing to stop)"; rm -rf "$dir"; exit 0; }
  stop_pids
  rm -rf "$dir"
  echo "redis-cluster: stopped (dir $dir removed)"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status [--masters N] [--base-port P] [--dir D]" >&2; exit 2 ;;
esac
