#!/usr/bin/env python3
"""A master stopped (SIGSTOP) mid-run, resumed 3 s later — or, with --kill,
killed (SIGKILL) mid-run and started again 1 s later from its own directory
(nodes.conf: same node id and slots) — the run must end, report errors on
that node only, and account for every write exactly: nothing lost, and at
most `writes_unknown_delta` (the deltas of writes failed after being sent) applied beyond what the
clients were told was accepted.

A killed master without persistence comes back empty (its data dies with it,
which no client can prevent), so for --kill the victim is switched to an
append-only file (CONFIG SET appendonly yes) before the run and restarted
with it: Redis write()s a command to the AOF before it replies, so every
INCRBY it acknowledged is in the file when the process is killed (the page
cache survives a process kill; fsync would only matter for a machine crash,
hence appendfsync no, which keeps the node fast), and what the clients count
must match Redis exactly. It is switched back to no persistence afterwards.

  check_fault.py BENCH STATE_DIR IMPL [--kill] [KEY=VALUE ...]
Exit 77 (skip) without a cluster, or if the run ended before the fault."""
import json, os, signal, subprocess, sys, tempfile, time

bench, state, impl = sys.argv[1:4]
knobs = sys.argv[4:]
kill = "--kill" in knobs
knobs = [k for k in knobs if k != "--kill"]
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
pids_file = os.path.join(state, "cluster", "pids")
node_dir = os.path.join(state, "cluster", str(victim_port))


def cli(*args):
    r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(victim_port), *map(str, args)],
                       capture_output=True, text=True, timeout=30)
    return r.stdout.strip()


def persistence_settled():
    info = cli("INFO", "persistence")
    return "aof_enabled:1" in info and "aof_rewrite_in_progress:0" in info and "aof_rewrite_scheduled:0" in info


if kill:
    cli("CONFIG", "SET", "appendfsync", "no")
    cli("CONFIG", "SET", "appendonly", "yes")
    for _ in range(100):  # the initial AOF rewrite, 10 s at most
        if persistence_settled():
            break
        time.sleep(0.1)
    else:
        sys.exit("FAIL: the victim's append-only file did not settle: " + cli("INFO", "persistence"))


def restart():
    """The killed master again, from its directory and its own nodes.conf; its PID replaces the old one."""
    new = subprocess.Popen(
        ["redis-server", "--port", str(victim_port), "--bind", "127.0.0.1", "--protected-mode", "no",
         "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000",
         "--save", "", "--appendonly", "yes", "--appendfsync", "no", "--dir", node_dir,
         "--logfile", os.path.join(node_dir, "redis.log"), "--daemonize", "no"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    all_pids = open(pids_file).read().split()
    all_pids[all_pids.index(str(victim))] = str(new.pid)
    open(pids_file, "w").write("\n".join(all_pids) + "\n")  # redis-cluster.sh stop ends this one
    return new


proc = subprocess.Popen(cmd)
faulted = False
killed = False
try:
    time.sleep(1.0)
    if proc.poll() is None:
        if kill:
            os.kill(victim, signal.SIGKILL)
            killed = True
            print(f"SIGKILL master 127.0.0.1:{victim_port} (pid {victim})", flush=True)
            time.sleep(1.0)
        else:
            os.kill(victim, signal.SIGSTOP)
            print(f"SIGSTOP master 127.0.0.1:{victim_port} (pid {victim})", flush=True)
            time.sleep(3.0)
        faulted = proc.poll() is None  # the run was alive through the whole window
finally:
    if killed:
        restart()  # always back, whatever happened above
        print(f"restarted 127.0.0.1:{victim_port}", flush=True)
    elif not kill:
        os.kill(victim, signal.SIGCONT)  # always resumed, whatever happened above
        print("SIGCONT", flush=True)
try:
    rc = proc.wait(timeout=150)
except subprocess.TimeoutExpired:
    proc.kill()
    sys.exit("FAIL: the run hung (did not end 150 s after the node returned)")
if kill:  # back to the cluster's settings: no persistence
    for _ in range(100):
        if cli("PING") == "PONG":
            break
        time.sleep(0.1)
    cli("CONFIG", "SET", "appendonly", "no")
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
# A timed-out write may still be applied, and a combined one carries several
# accepted writes: the bound is the sum of their deltas.
unknown = m["writes_unknown_delta"]
check(0 <= extra <= unknown,
      f"applied {m['writes_applied']} = accepted {m['writes_accepted']} - failed {m.get('buffer_failed', 0)}"
      f" + {extra} units of timed-out writes the server applied (<= writes_unknown_delta {unknown},"
      f" over {m['writes_unknown']} writes)")
sys.exit(1 if fails else 0)
