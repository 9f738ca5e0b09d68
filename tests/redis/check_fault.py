#!/usr/bin/env python3
"""A master stopped (SIGSTOP) mid-run, resumed 3 s later: the run must end,
report errors on that node, and account for every write exactly — nothing
lost, and at most `writes_unknown` (timed out after being sent) applied
beyond what the clients were told was accepted.

  check_fault.py BENCH STATE_DIR IMPL [KEY=VALUE ...]
Exit 77 (skip) without a cluster, or if the run ended before the fault."""
import json, os, signal, subprocess, sys, tempfile, time

bench, state, impl = sys.argv[1:4]
knobs = sys.argv[4:]
port_file = os.path.join(state, "port")
if not os.path.exists(port_file):
    print("SKIPPED: no Redis cluster (redis-server not installed, see the redis_cluster_start test)")
    sys.exit(77)
base = int(open(port_file).read().strip())
pids = [int(p) for p in open(os.path.join(state, "cluster", "pids")).read().split()]
victim, victim_port = pids[3], base + 3
out = os.path.join(tempfile.mkdtemp(dir=state), "fault.json")
cmd = [bench, "run", "hot-partition", "--impl", impl, "--threads", "2", "--ops", "200000",
       "--repetitions", "1", "--quiet", "--json", out, "--set", f"store=redis://127.0.0.1:{base}"]
for k in knobs:
    cmd += ["--set", k]
print(" ".join(cmd), flush=True)
proc = subprocess.Popen(cmd)
faulted = False
try:
    time.sleep(1.0)
    if proc.poll() is None:
        os.kill(victim, signal.SIGSTOP)
        print(f"SIGSTOP master 127.0.0.1:{victim_port} (pid {victim})", flush=True)
        time.sleep(3.0)
        faulted = proc.poll() is None  # the run was alive through the whole window
finally:
    os.kill(victim, signal.SIGCONT)  # always resumed, whatever happened above
    print("SIGCONT", flush=True)
try:
    rc = proc.wait(timeout=150)
except subprocess.TimeoutExpired:
    proc.kill()
    sys.exit("FAIL: the run hung (did not end 150 s after the node returned)")
if not faulted:
    print("SKIPPED: the run ended before the fault window closed (a faster machine: raise --ops)")
    sys.exit(77)
if rc != 0:
    sys.exit(f"FAIL: hotshard-bench exited {rc} (see its message above)")
m = json.load(open(out))["results"][0]["metrics"]
i = m["nodes"].index(f"127.0.0.1:{victim_port}")
fails = []
def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        fails.append(what)
check(m["node_errors"][i] > 0, f"errors reported on the stopped node: {m['node_errors']}")
check(sum(e for j, e in enumerate(m["node_errors"]) if j != i) == 0, "no errors on the other nodes")
check(m["lost"] == 0, f"lost = {m['lost']}")
extra = m["writes_applied"] - (m["writes_accepted"] - m.get("buffer_failed", 0))
check(0 <= extra <= m["writes_unknown"],
      f"applied {m['writes_applied']} = accepted {m['writes_accepted']} - failed {m.get('buffer_failed', 0)}"
      f" + {extra} timed-out writes the server applied (<= writes_unknown {m['writes_unknown']})")
sys.exit(1 if fails else 0)
