#!/usr/bin/env python3
"""One hot-partition (or write-buffer, or cache) run against the fixture's Redis Cluster, checked from
Redis's own counts (INFO commandstats) and by reading Redis back.

  check_run.py BENCH STATE_DIR [SCENARIO/]IMPL EXPECT [KEY=VALUE ...]
  SCENARIO: hot-partition (default), write-buffer or cache
  EXPECT: skewed (node max/median >= 3), balanced (<= 1.3), any

Always: the run exits 0, nothing lost (the values read back from Redis sum to
the writes the clients had accepted), the client's per-node counts equal the
servers', no node errors. Exit 77 (skip) when the fixture has no cluster."""
import json, os, subprocess, sys, tempfile

bench, state, impl, expect = sys.argv[1:5]
knobs = sys.argv[5:]
port_file = os.path.join(state, "port")
if not os.path.exists(port_file):
    print("SKIPPED: no Redis cluster (redis-server not installed, see the redis_cluster_start test)")
    sys.exit(77)
port = open(port_file).read().strip()
scenario, _, impl = impl.rpartition("/")
scenario = scenario or "hot-partition"
out = os.path.join(tempfile.mkdtemp(dir=state), "run.json")
cmd = [bench, "run", scenario, "--impl", impl, "--threads", "2", "--ops", "60000",
       "--repetitions", "1", "--quiet", "--json", out, "--set", f"store=redis://127.0.0.1:{port}"]
for k in knobs:
    cmd += ["--set", k]
print(" ".join(cmd), flush=True)
try:
    rc = subprocess.run(cmd, timeout=120).returncode
except subprocess.TimeoutExpired:
    sys.exit("FAIL: the run did not end within 120 s")
if rc != 0:
    sys.exit(f"FAIL: hotshard-bench exited {rc}")
doc = json.load(open(out))
m = doc["results"][0]["metrics"]
fails = []
def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        fails.append(what)
check(m["store"].startswith("redis://"), f"ran on {m['store']}")
if scenario == "write-buffer":
    # lost = accepted deltas - the sum read back from Redis (SCAN of the run's keys, then GET).
    check(m["writes"] > 0 and m["lost"] == 0, f"lost = {m['lost']} of {m['writes']} writes (sum {m['writes_accepted_sum']})")
    check(m["backend_writes"] == sum(m["node_ops"]),
          f"every backend write is one INCRBY counted by Redis: {m['backend_writes']} == {sum(m['node_ops'])}")
    if impl == "combining":
        check(m["backend_writes"] < m["writes"], f"combined: {m['backend_writes']} INCRBY for {m['writes']} writes")
    # The drain is pipelined: each batch-sink call carries several INCRBY, sent as one batch per node.
    check(m["write_batches"] > 0 and m["writes_per_batch"] > 1,
          f"pipelined: {m['write_batches']} batch-sink calls, {m['writes_per_batch']:.1f} INCRBY per call")
    check(m["write_pipelines"] > 0 and m["writes_per_pipeline"] > 1,
          f"pipelined per node: {m['write_pipelines']} node batches, {m['writes_per_pipeline']:.1f} INCRBY per batch")
elif scenario == "cache":
    # Every miss is one GET through the cache's loader: the client's count is Redis's count.
    check(m["errors"] == 0, f"loader errors {m['errors']}")
    # backend_calls counts the measured window; with the warm-up's and those after the run: every GET.
    loads = m["backend_calls_warmup"] + m["backend_calls"] + m["backend_calls_after_run"]
    check(loads == sum(m["node_ops"]),
          f"every load is one GET counted by Redis: {m['backend_calls_warmup']} + {m['backend_calls']} + "
          f"{m['backend_calls_after_run']} == {sum(m['node_ops'])}")
    check(0 < loads < m["reads"], f"the cache absorbs reads: {loads} GETs for {m['reads']} reads")
else:
    check(m["lost"] == 0, f"lost = {m['lost']} (accepted {m['writes_accepted']}, read back {m['writes_applied']})")
    if impl in ("buffer", "mitigated"):  # the buffer's drain is pipelined (a batch sink on Redis)
        check(m.get("buffer_write_batches", 0) > 0 and m.get("buffer_writes_per_batch", 0) > 1,
              f"pipelined drain: {m.get('buffer_write_batches')} batch-sink calls, "
              f"{m.get('buffer_writes_per_batch', 0):.2f} INCRBY per call")
    check(m["writes_accepted"] > 0 and m["writes_applied"] == m["writes_accepted"], "Redis holds exactly the accepted writes")
check(m["node_ops"] == m["client_node_ops"], f"server node_ops {m['node_ops']} == client's {m['client_node_ops']}")
check(sum(m["node_errors"]) == 0, f"node errors {m['node_errors']}")
r = m.get("node_max_over_median", 0)
if expect == "skewed":
    check(r >= 3, f"unmitigated skew by Redis's counts: node max/median = {r:.3f} >= 3")
elif expect == "balanced":
    check(r <= 1.3, f"mitigated balance by Redis's counts: node max/median = {r:.3f} <= 1.3")
    salts = {s["key"]: s for s in m.get("hot_key_salts", [])}
    for s in salts.values():
        check(len(set(s["partitions"])) == len(s["partitions"]), f"key {s['key']}: {len(s['partitions'])} sub-keys on distinct masters {s['partitions']}")
else:
    print(f"info node max/median = {r:.3f}")
sys.exit(1 if fails else 0)
