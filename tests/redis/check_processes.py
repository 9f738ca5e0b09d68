#!/usr/bin/env python3
"""run --processes N against the fixture's Redis Cluster: N application
servers (each its own cache, single-flight table and write buffer) sharing one
cluster's keys, their results merged.

  check_processes.py BENCH STATE_DIR
- cache/coalescing_cache on one key, 3 processes: every process loads the key
  itself (in-process coalescing makes a herd N backend calls, not 1), all on
  the key's one master; the merged loads (warm-up + window + after the run)
  equal Redis's own GET count;
- write-buffer/combining, 3 processes writing the same keys: the values read
  back add up to the three processes' accepted deltas (nothing lost);
- a bad --processes value is a usage error naming the flag (exit 2).
Exit 77 (skip) when the fixture has no cluster."""
import json, os, subprocess, sys, tempfile

bench, state = sys.argv[1:3]
port_file = os.path.join(state, "port")
if not os.path.exists(port_file):
    print("SKIPPED: no Redis cluster (redis-server not installed, see the redis_cluster_start test)")
    sys.exit(77)
store = "store=redis://127.0.0.1:" + open(port_file).read().strip()
tmp = tempfile.mkdtemp(dir=state)
fails = []
def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        fails.append(what)
def run(name, args):
    out = os.path.join(tmp, name + ".json")
    cmd = [bench, "run", *args, "--threads", "2", "--processes", "3", "--quiet", "--json", out, "--set", store]
    print(" ".join(cmd), flush=True)
    rc = subprocess.run(cmd, timeout=120).returncode
    check(rc == 0, f"{name}: exit {rc}")
    return json.load(open(out))["results"][0] if rc == 0 else None

r = run("cache", ["cache", "--impl", "coalescing_cache", "--ops", "20000", "--workload", "uniform:n=1"])
if r:
    m, per = r["metrics"], r["per_process"]
    check(m["processes"] == 3 and len(per) == 3, "3 processes merged")
    # A process's loads: its warm-up's, its measured window's (backend_calls) and those after its run.
    def loads(x):
        return x["backend_calls_warmup"] + x["backend_calls"] + x["backend_calls_after_run"]
    check(all(loads(p) >= 1 for p in per), f"every process loaded the key itself: {[loads(p) for p in per]}")
    for k in ("backend_calls", "backend_calls_warmup", "backend_calls_after_run"):
        check(m[k] == sum(p[k] for p in per), f"merged {k} {m[k]} = the sum of the processes'")
    check(loads(m) >= 3, f"merged loads {loads(m)} >= 3")
    check(sum(m["node_ops"]) == loads(m), f"Redis counted {sum(m['node_ops'])} GETs = the merged loads {loads(m)}")
    check(sum(1 for c in m["node_ops"] if c) == 1, f"one key, one master: {m['node_ops']}")
r = run("write-buffer", ["write-buffer", "--impl", "combining", "--ops", "20000"])
if r:
    m = r["metrics"]
    check(m["lost"] == 0 and m["writes_applied"] == m["writes_accepted_sum"] > 0,
          f"read back {m['writes_applied']} = the accepted deltas of 3 processes {m['writes_accepted_sum']}")
    check(sum(m["node_ops"]) == m["backend_writes"], f"Redis counted {sum(m['node_ops'])} INCRBY = the merged sink calls")
bad = subprocess.run([bench, "run", "cache", "--processes", "0"], capture_output=True, text=True)
check(bad.returncode == 2 and "--processes" in bad.stderr, f"--processes 0: exit {bad.returncode}, {bad.stderr.strip()}")
sys.exit(1 if fails else 0)
