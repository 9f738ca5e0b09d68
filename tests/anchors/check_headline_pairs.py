#!/usr/bin/env python3
"""The pairing of reference-driver rows, end to end without a toolchain:
scripts/anchor_pairs.py merges two driver rounds with the re-runs of ours of
those rounds, and scripts/headline.py reports ours ÷ driver from those
re-runs, paired by round — not from the suite's own figures of ours, which
ran minutes earlier; the cache pair's backend calls are shown per second and
per 1000 reads of each side's measured window; a malformed driver document
is named with exit 2.
Exit 0 pass, 1 fail."""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
GROUP = {"scenario": "herd", "workload": "zipf:n=100000,s=0.99", "knobs": {"loader_us": "0"}}


def record(impl, threads, repetition, ops_per_sec):
    return dict(GROUP, impl=impl, threads=threads, repetition=repetition, ops=1000, seconds=0.3,
                ops_per_sec=ops_per_sec, latency_ns={}, metrics={})


def document(records, **extra):
    return dict({"schema": "hotshard.results/1", "tool": {}, "machine": {}, "config": {}, "results": records},
                **extra)


def write(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def main():
    problems = []
    with tempfile.TemporaryDirectory() as d:
        # Two driver rounds; the Go driver ran at 4 M/s, then at 2 M/s.
        drivers = [write(os.path.join(d, f"go.round{k}.json.tmp"),
                         document([record("go_singleflight", 2, 0, ops)])) for k, ops in ((1, 4e6), (2, 2e6))]
        # Ours, re-run right after each round: 12 M/s, then 8 M/s.
        ours = [write(os.path.join(d, f"go.ours{k}-1.json.tmp"), document([record("single_flight", 2, 0, ops)]))
                for k, ops in ((1, 12e6), (2, 8e6))]
        merged = os.path.join(d, "go.json")
        run = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "anchor_pairs.py"), "merge",
                              "--out", merged, "--rounds", "2", *drivers, *ours],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if run.returncode != 0:
            print("FAIL: anchor_pairs.py merge:", run.stdout)
            return 1
        with open(merged) as f:
            go = json.load(f)
        got = sorted((r["repetition"], r["metrics"].get("paired_ours", {}).get("single_flight")) for r in go["results"])
        if got != [(0, 12e6), (1, 8e6)]:
            problems.append(f"merged rounds {got} are not [(0, 12e6), (1, 8e6)]")
        # The suite's own rows of ours ran minutes earlier, at 30 M/s.
        # And a cache group: backend calls counted over each side's measured window.
        cache = {"scenario": "cache", "workload": "uniform:n=1", "knobs": {"beta": "0", "refresh": "async"},
                 "threads": 2, "seconds": 0.4, "latency_ns": {}}
        cache_rows = [dict(cache, impl="coalescing_cache", repetition=k, ops=20_000_000, ops_per_sec=50e6,
                           metrics={"backend_calls": 60, "backend_calls_per_second": 150.0}) for k in (0, 1)]
        cache_rows += [dict(cache, impl="caffeine", repetition=k, ops=18_000_000, ops_per_sec=45e6,
                            metrics={"backend_calls": 66, "backend_calls_per_second": 165.0,
                                     "paired_ours": {"coalescing_cache": 50e6}}) for k in (0, 1)]
        suite = document([record("single_flight", 2, k, 30e6) for k in (0, 1)] + go["results"] + cache_rows,
                         scenarios={"herd": {"impls": [{"name": "single_flight", "ours": True},
                                                       {"name": "go_singleflight", "ours": False}]},
                                    "cache": {"impls": [{"name": "coalescing_cache", "ours": True},
                                                        {"name": "caffeine", "ours": False}]}})
        out = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "headline.py"),
                              write(os.path.join(d, "results.json"), suite)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if out.returncode != 0:
            print("FAIL: headline.py:", out.stdout)
            return 1
        rows = [line for line in out.stdout.splitlines() if "go_singleflight" in line]
        # Medians of the paired re-runs: 10 M/s over 3 M/s; rounds 12/4 = 3.00 and 8/2 = 4.00.
        want = "**3.33×** (3.00–4.00)"
        if len(rows) != 2 or not all(want in r and "paired by round" in r for r in rows):
            problems.append(f"expected both tables' go_singleflight rows to read {want}, paired by round; got:\n"
                            + "\n".join(rows))
        # Per second: 150 / 165; per 1000 reads: 60/20M = 0.003 and 66/18M = 0.00367.
        calls = [line for line in out.stdout.splitlines() if "| caffeine (" in line]
        want = "| 150 / 165; 0.003 / 0.00367 |"
        if len(calls) != 1 or want not in calls[0]:
            problems.append(f"expected the caffeine pair's backend calls to read {want!r}; got:\n" + "\n".join(calls))
        # A malformed driver document is named, not a traceback.
        broken = write(os.path.join(d, "broken.round1.json.tmp"), document([{"scenario": "herd"}]))
        bad = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "anchor_pairs.py"), "merge",
                              "--out", os.path.join(d, "x.json"), "--rounds", "1", broken],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if bad.returncode != 2 or "record 0 lacks impl" not in bad.stdout:
            problems.append(f"a record without impl: exit {bad.returncode}, {bad.stdout.strip()!r}")
    for p in problems:
        print("FAIL:", p)
    if problems:
        return 1
    print("ok: driver rows are paired by round with the re-runs of ours")
    return 0


if __name__ == "__main__":
    sys.exit(main())
