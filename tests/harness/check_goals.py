#!/usr/bin/env python3
"""scripts/goals.py on a made-up results file whose ratios are known: the
queue row compares against the fastest peer of its configuration (not the
first listed) with the per-repetition min-max, a goal below its target reads
MISSED, the sketch goal picks only a sketch within 1/T of cms_per_thread's
memory, a goal the file lacks reads "not measured", the sketch cost table
shows estimate_ns, and an unreadable file or a record without its
throughput exits 2 naming it.
Exit 0 pass, 1 fail."""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCRIPT = os.path.join(ROOT, "scripts", "goals.py")


def rec(scenario, workload, knobs, threads, impl, rates, metrics=None):
    return [dict(scenario=scenario, workload=workload, knobs=knobs, threads=threads, impl=impl, repetition=k,
                 ops=1, seconds=1, ops_per_sec=v, latency_ns={}, metrics=dict(metrics or {}))
            for k, v in enumerate(rates)]


def main():
    q1 = {"consumers": "1"}
    qm = {"producers": 1, "consumers": 1}
    results = (rec("queue", "uniform:n=1", q1, 1, "bounded_queue", [10, 12, 11], qm)
               + rec("queue", "uniform:n=1", q1, 1, "boost_lockfree", [2, 2, 2], qm)
               + rec("queue", "uniform:n=1", q1, 1, "readerwriterqueue", [5, 8, 4], dict(qm, exceeded_capacity=True))
               + rec("sketch", "zipf:n=1000000,s=1.0", {}, 2, "cms_per_thread", [100, 100, 100],
                     {"memory_bytes": 1_000_000, "estimate_ns": 90})
               # faster than per-thread but too big: must not be the one compared
               + rec("sketch", "zipf:n=1000000,s=1.0", {}, 2, "heavy_hitters", [300, 300, 300],
                     {"memory_bytes": 900_000, "estimate_ns": 40})
               + rec("sketch", "zipf:n=1000000,s=1.0", {}, 2, "hot_key_detector", [80, 90, 95],
                     {"memory_bytes": 200_000, "estimate_ns": 55})
               + rec("sketch", "zipf:n=1000000,s=1.0", {}, 2, "cms", [10, 10, 10], {"memory_bytes": 500_000})
               + rec("sketch", "zipf:n=1000000,s=1.0", {}, 2, "cms_buffered", [16, 15, 14], {"memory_bytes": 700_000})
               + rec("counter", "uniform:n=1", {}, 2, "per_thread", [9, 9, 9])
               + rec("counter", "uniform:n=1", {}, 2, "thread_private", [10, 10, 10]))
    scenarios = {"queue": {"impls": [{"name": "bounded_queue", "ours": True}, {"name": "boost_lockfree"},
                                     {"name": "readerwriterqueue"}]},
                 "sketch": {"impls": [{"name": n, "ours": n != "cms_per_thread"} for n in
                                      ("cms", "cms_buffered", "heavy_hitters", "hot_key_detector", "cms_per_thread")]},
                 "counter": {"impls": [{"name": "per_thread", "ours": True}, {"name": "thread_private"}]}}
    doc = {"schema": "hotshard.results/1", "tool": {}, "machine": {}, "config": {}, "scenarios": scenarios,
           "results": results}
    failures = []

    def expect(cond, what):
        if not cond:
            failures.append(what)

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "results.json")
        with open(path, "w") as f:
            json.dump(doc, f)
        p = subprocess.run([sys.executable, SCRIPT, path], capture_output=True, text=True)
        out = p.stdout
        expect(p.returncode == 0, f"exit {p.returncode}: {p.stderr}")
        row = next((l for l in out.splitlines() if l.startswith("| queue 1P1C, single items")), "")
        # fastest peer: readerwriterqueue (median 5) — 11/5 = 2.20, per rep 10/5, 12/8, 11/4
        expect("readerwriterqueue (best peer); the peer exceeded its capacity" in row and "2.20× (1.50–2.75)" in row
               and row.endswith("| met |"), f"queue row: {row!r}")
        row = next((l for l in out.splitlines() if "cms_per_thread's adds" in l), "")
        # heavy_hitters (0.9 MB > 1 MB / 2) is left out: hot_key_detector, median 90 / 100
        expect("hot_key_detector ÷ cms_per_thread" in row and "0.90× (0.80–0.95)" in row
               and row.endswith("| MISSED |"), f"sketch row: {row!r}")
        row = next((l for l in out.splitlines() if "cms_buffered ÷ cms" in l), "")
        expect("1.50× (1.40–1.60)" in row and row.endswith("| met |"), f"cms_buffered row: {row!r}")
        row = next((l for l in out.splitlines() if "per_thread ÷ thread_private" in l), "")
        expect("0.90× (0.90–0.90)" in row and row.endswith("| met |"), f"counter row: {row!r}")
        expect("3 of 4 measured goals met" in out, "the count line")
        expect("| hot_key_detector | 2 | 0.0 | 0.20 | 55 |" in out, "the sketch cost table")
        expect("| cms | 2 | 0.0 | 0.50 | – |" in out, "a sketch without estimate_ns shows –")

        bad = os.path.join(d, "bad.json")
        with open(bad, "w") as f:
            f.write("{not json")
        p = subprocess.run([sys.executable, SCRIPT, bad], capture_output=True, text=True)
        expect(p.returncode == 2 and "bad.json" in p.stderr, f"bad file: exit {p.returncode}, {p.stderr!r}")
        # A record without its throughput is named, not a traceback.
        broken = dict(doc, results=[dict(results[0], ops_per_sec=None)] + results[1:])
        with open(bad, "w") as f:
            json.dump(broken, f)
        p = subprocess.run([sys.executable, SCRIPT, bad], capture_output=True, text=True)
        expect(p.returncode == 2 and "record 0 (queue/bounded_queue)" in p.stderr and "Traceback" not in p.stderr,
               f"record without ops_per_sec: exit {p.returncode}, {p.stderr!r}")
    for f in failures:
        print("FAIL:", f)
    if failures:
        print(out)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
