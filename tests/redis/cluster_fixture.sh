#!/usr/bin/env bash
# The Redis tests' fixture: start|stop a 6-master cluster on free loopback
# ports, its state under STATE_DIR (the build tree). Without redis-server the
# start says so and succeeds, writing no port file: the tests then skip.
set -euo pipefail
cmd="$1"
state="$2"
here="$(cd "$(dirname "$0")" && pwd)"
cluster="$here/../../scripts/redis-cluster.sh"
case "$cmd" in
  start)
    # A cluster left by an aborted earlier run is stopped first (its recorded PIDs only).
    [ -d "$state/cluster" ] && "$cluster" stop --dir "$state/cluster" || true
    rm -rf "$state"
    mkdir -p "$state"
    if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
      echo "SKIPPED: redis-server/redis-cli not installed (apt-get install redis-server redis-tools); Redis tests skip"
      exit 0
    fi
    for attempt in 1 2 3 4 5; do
      # Six consecutive free ports whose cluster-bus ports (+10000) are free too.
      base=$(python3 - <<'PY'
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(200):
    b = random.randrange(20000, 50000)
    if all(free(b + i) and free(b + i + 10000) for i in range(6)):
        print(b); break
PY
)
      [ -n "$base" ] || { echo "no free ports found" >&2; exit 1; }
      if "$cluster" start --masters 6 --base-port "$base" --dir "$state/cluster"; then
        echo "$base" >"$state/port"
        exit 0
      fi
      echo "cluster start failed on base port $base (attempt $attempt)" >&2
    done
    exit 1
    ;;
  stop)
    if [ -d "$state/cluster" ]; then "$cluster" stop --dir "$state/cluster"; fi
    rm -rf "$state"
    ;;
  *) echo "usage: $0 start|stop STATE_DIR" >&2; exit 2 ;;
esac
