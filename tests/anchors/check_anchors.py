#!/usr/bin/env python3
"""Smoke test of the reference drivers: runs scripts/anchors.sh --smoke
--rounds 2 (what `suite --anchors` runs, shortened) and checks every document
it wrote — the hotshard.results/1 fields the C++ reader requires
(harness/src/results.cpp), each driver's implementations present, positive
throughput, each run's own invariant, and the pairing: both rounds present
(repetitions 0 and 1), each record carrying the figures of ours re-run in its
round (metrics.paired_ours) — then has hotshard-bench itself parse the
documents (`compare`). Exit 0 pass, 1 fail, 77 skipped (a
toolchain is missing; the script says what to install)."""
import argparse
import json
import os
import subprocess
import sys

SKIP = 77
EXPECTED = {
    "java": {"java_longadder", "java_atomiclong", "java_chm_longadder", "caffeine"},
    "go": {"go_singleflight", "groupcache_singleflight"},
}
RECORD_FIELDS = {"scenario": str, "impl": str, "threads": int, "workload": str, "repetition": int,
                 "ops": int, "seconds": (int, float), "ops_per_sec": (int, float), "latency_ns": dict,
                 "metrics": dict}


def check_document(path, driver, problems):
    def bad(msg):
        problems.append(f"{os.path.basename(path)}: {msg}")

    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        return bad(f"not readable JSON: {e}")
    if doc.get("schema") != "hotshard.results/1":
        bad(f"schema is {doc.get('schema')!r}, not 'hotshard.results/1'")
    for section, fields in (("tool", ("name", "version", "git")),
                            ("machine", ("cpu", "cores", "os", "compiler", "allocator"))):
        for name in fields:
            if name not in doc.get(section, {}):
                bad(f"{section}.{name} is missing")
    for name in ("started", "config", "results"):
        if name not in doc:
            bad(f"{name} is missing")
    if doc.get("errors"):
        bad(f"the driver reported errors: {doc['errors']}")
    records = doc.get("results", [])
    if {r.get("repetition") for r in records} != {0, 1}:
        bad(f"repetitions {sorted({str(r.get('repetition')) for r in records})} are not the two rounds 0 and 1")
    impls = {r.get("impl") for r in records}
    if not EXPECTED[driver] <= impls:
        bad(f"implementations {sorted(EXPECTED[driver] - impls)} have no record")
    for k, r in enumerate(records):
        where = f"record {k} ({r.get('scenario')}/{r.get('impl')})"
        for name, kind in RECORD_FIELDS.items():
            if not isinstance(r.get(name), kind) or isinstance(r.get(name), bool):
                bad(f"{where}: field {name} is missing or has the wrong type")
        for q in ("p50", "p90", "p99", "p999", "max"):
            if not isinstance(r.get("latency_ns", {}).get(q), int):
                bad(f"{where}: latency_ns.{q} is missing")
        if not (r.get("ops_per_sec", 0) > 0 and r.get("ops", 0) > 0):
            bad(f"{where}: ops_per_sec {r.get('ops_per_sec')} is not positive")
        m = r.get("metrics", {})
        paired = m.get("paired_ours")
        if not isinstance(paired, dict) or not paired or not all(
                isinstance(v, (int, float)) and v > 0 for v in paired.values()):
            bad(f"{where}: metrics.paired_ours {paired!r} is not a non-empty map of positive ops/s")
        if r.get("scenario") in ("counter", "keyed-counter"):
            if m.get("observed") != m.get("expected") or not m.get("expected"):
                bad(f"{where}: observed {m.get('observed')} != expected {m.get('expected')}")
        elif r.get("scenario") == "herd" and m.get("waves"):
            if m.get("backend_calls") != m["waves"] * m.get("keys", 0):
                bad(f"{where}: {m.get('backend_calls')} loads for {m['waves']} waves x {m.get('keys')} keys")
        elif r.get("scenario") == "cache":
            # backend_calls counts the measured window only (as cache.cpp does); with
            # the warm-up's loads the backend was called, and never more than read.
            window, warm = m.get("backend_calls"), m.get("backend_calls_warmup")
            if not isinstance(window, int) or not isinstance(warm, int) or not 0 < window + warm <= m.get("reads", 0):
                bad(f"{where}: backend_calls {window} + backend_calls_warmup {warm} not in (0, reads={m.get('reads')}]")
            elif isinstance(r.get("seconds"), (int, float)) and r["seconds"] > 0:
                rate = window / r["seconds"]
                if abs(m.get("backend_calls_per_second", -1) - rate) > 1e-6 * max(1, rate):
                    bad(f"{where}: backend_calls_per_second {m.get('backend_calls_per_second')} is not "
                        f"backend_calls / seconds = {rate}")
            # Caffeine's contract in the C++ scenario's knobs, so the suite sets it
            # beside coalescing_cache run the same way (not beside XFetch + inline refresh).
            if r.get("knobs") != {"beta": "0", "refresh": "async"}:
                bad(f"{where}: knobs {r.get('knobs')} are not {{beta: 0, refresh: async}}")
        elif r.get("scenario") != "herd":
            bad(f"{where}: unexpected scenario")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--script", required=True)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    run = subprocess.run(["bash", a.script, "--smoke", "--rounds", "2", "--out", a.out, "--bench", a.bench],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sys.stdout.write(run.stdout)
    if run.returncode != 0:
        print(f"FAIL: scripts/anchors.sh --smoke --rounds 2 exited {run.returncode}")
        return 1
    problems, skipped = [], []
    for driver in EXPECTED:
        path = os.path.join(a.out, f"{driver}.json")
        if not os.path.exists(path):
            if f"skipping the {'Java' if driver == 'java' else 'Go'} driver" in run.stdout:
                skipped.append(driver)
            else:
                problems.append(f"{driver}.json was not written and the driver was not reported skipped")
            continue
        check_document(path, driver, problems)
        parse = subprocess.run([a.bench, "compare", path, path], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
        if parse.returncode != 0:
            problems.append(f"hotshard-bench cannot read {driver}.json: {parse.stderr.strip()}")
    for p in problems:
        print("FAIL:", p)
    if problems:
        return 1
    if skipped:
        print(f"SKIPPED: the {' and '.join(skipped)} driver(s) need a toolchain (see the line above); "
              "the documents that were written are valid")
        return SKIP
    print("ok: java.json and go.json are valid hotshard.results/1 documents with every invariant held, "
          "each record paired with ours from its round")
    return 0


if __name__ == "__main__":
    sys.exit(main())
