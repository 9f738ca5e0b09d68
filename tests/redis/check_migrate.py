#!/usr/bin/env python3
"""A live slot migration under a running hot-partition benchmark: the viral
key's slot is moved to another master by hand, the way redis-cli --cluster
reshard does it (CLUSTER SETSLOT IMPORTING on the target, MIGRATING on the
source, MIGRATE of the slot's keys in rounds with pauses between them, then
SETSLOT NODE on every master), while the clients keep writing to it.

The run must follow ASK (keys already moved while the slot is migrating) and
MOVED (after SETSLOT NODE) — both counted in its results — and lose nothing:
Redis read back holds exactly the writes the clients were told were accepted,
with no node errors, and the servers' per-node counts equal the client's.

  check_migrate.py BENCH STATE_DIR IMPL [KEY=VALUE ...]
Exit 77 (skip) without a cluster, or if the run ended before the migration."""
import json, os, subprocess, sys, tempfile, time

bench, state, impl = sys.argv[1:4]
knobs = sys.argv[4:]
port_file = os.path.join(state, "port")
if not os.path.exists(port_file):
    print("SKIPPED: no Redis cluster (redis-server not installed, see the redis_cluster_start test)")
    sys.exit(77)
base = int(open(port_file).read().strip())
ports = [int(p) for p in open(os.path.join(state, "cluster", "ports")).read().split()]


def cli(port, *args):
    r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), *map(str, args)],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0 or r.stdout.startswith("ERR") or "(error)" in r.stdout:
        raise RuntimeError(f"redis-cli -p {port} {' '.join(map(str, args))}: {r.stdout.strip()} {r.stderr.strip()}")
    return r.stdout.strip()


out = os.path.join(tempfile.mkdtemp(dir=state), "migrate.json")
cmd = [bench, "run", "hot-partition", "--impl", impl, "--threads", "2", "--ops", "200000",
       "--repetitions", "1", "--quiet", "--json", out, "--set", f"store=redis://127.0.0.1:{base}"]
for k in knobs:
    cmd += ["--set", k]
print(" ".join(cmd), flush=True)
proc = subprocess.Popen(cmd)
migrated = False
try:
    # The viral key is Zipf n = 1000000, named hs:<pid>:<random>:<id>:1000000 by the run's
    # store (redis_store.cpp); it appears at viral_start (30 % of the run).
    key, source = None, None
    deadline = time.monotonic() + 60
    while key is None and proc.poll() is None and time.monotonic() < deadline:
        for p in ports:
            found = cli(p, "--scan", "--pattern", f"hs:{proc.pid}:*:1000000").split()
            if found:
                key, source = found[0], p
                break
        else:
            time.sleep(0.05)
    if key is None:
        raise RuntimeError("the viral key never appeared" if proc.poll() is None else "the run ended first")
    slot = int(cli(source, "CLUSTER", "KEYSLOT", key))
    target = ports[(ports.index(source) + 1) % len(ports)]
    src_id, dst_id = cli(source, "CLUSTER", "MYID"), cli(target, "CLUSTER", "MYID")
    print(f"migrating slot {slot} (key {key}) from :{source} to :{target}", flush=True)
    cli(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
    cli(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
    # Rounds with a pause: between them, keys already moved are answered with ASK.
    moved_keys = 0
    for _ in range(100):
        keys = cli(source, "CLUSTER", "GETKEYSINSLOT", slot, 100).split()
        if not keys:
            break
        cli(source, "MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys)
        moved_keys += len(keys)
        time.sleep(0.3)
    time.sleep(0.5)  # the ASK window: the slot is migrating, its keys live on the target
    if cli(source, "CLUSTER", "COUNTKEYSINSLOT", slot) != "0":
        raise RuntimeError("keys are left in the migrating slot on the source")
    for p in [target, source] + [q for q in ports if q not in (target, source)]:
        cli(p, "CLUSTER", "SETSLOT", slot, "NODE", dst_id)
    print(f"slot {slot}: {moved_keys} keys migrated, now owned by :{target}", flush=True)
    time.sleep(0.5)  # the MOVED window: clients still map the slot to the source
    migrated = proc.poll() is None  # the run was alive through the whole migration
except Exception as e:
    print(f"migration: {e}", flush=True)
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    sys.exit(1 if "ended first" not in str(e) else 77)
try:
    rc = proc.wait(timeout=150)
except subprocess.TimeoutExpired:
    proc.kill()
    sys.exit("FAIL: the run hung after the migration")
if not migrated:
    print("SKIPPED: the run ended before the migration finished (a faster machine: raise --ops)")
    sys.exit(77)
if rc != 0:
    sys.exit(f"FAIL: hotshard-bench exited {rc} (see its message above)")
m = json.load(open(out))["results"][0]["metrics"]
fails = []
def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        fails.append(what)
check(m["redirects"]["ask"] > 0, f"ASK followed during the migration: {m['redirects']}")
check(m["redirects"]["moved"] > 0, f"MOVED followed after it: {m['redirects']}")
check(sum(m["node_errors"]) == 0, f"node errors {m['node_errors']}")
check(m["lost"] == 0, f"lost = {m['lost']}")
check(m["writes_accepted"] > 0 and m["writes_applied"] == m["writes_accepted"],
      f"Redis holds exactly the accepted writes (accepted {m['writes_accepted']}, read back {m['writes_applied']})")
check(m["node_ops"] == m["client_node_ops"], f"server node_ops {m['node_ops']} == client's {m['client_node_ops']}")
if impl in ("buffer", "mitigated"):  # the redirects came back inside pipelined batches
    check(m.get("write_pipelines", 0) > 0 and m.get("buffer_writes_per_batch", 0) > 1,
          f"pipelined drain: {m.get('write_pipelines')} node batches, "
          f"{m.get('buffer_writes_per_batch', 0):.2f} INCRBY per batch-sink call")
sys.exit(1 if fails else 0)
