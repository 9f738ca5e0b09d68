#!/usr/bin/env python3
"""Pairs the reference drivers' runs with re-runs of ours (scripts/anchors.sh --rounds R).

A JVM or Go driver runs in its own process, so its figures cannot come from
the C++ suite's interleaved repetitions. With --rounds R, anchors.sh runs each
driver R times with one repetition, and right after each round runs our
implementations on the same groups (scenario, workload, threads, knobs) with
`hotshard-bench run --repetitions 1`. Round k of the driver and round k of
ours ran seconds apart, so their ratio is paired the way the suite pairs its
C++ repetitions (on a machine whose speed drifts, a ratio of medians taken
minutes apart is not).

    anchor_pairs.py groups DRIVER.json LIST.json
        One line per group the driver measured, tab-separated: scenario,
        workload, threads, knobs (k=v;k=v, or -), our implementations of the
        scenario (comma-separated, from `hotshard-bench list --json`), and the
        driver's longest run in seconds (the duration to give ours).
    anchor_pairs.py merge --out OUT.json --rounds R DRIVER_1.json .. DRIVER_R.json OURS.json...
        One hotshard.results/1 document: the driver's records of round k as
        repetition k-1, each with metrics.paired_ours = {impl: ops/s of our
        run of that group in round k}. An OURS file names its round as
        "<anything>.ours<k>-<n>.json[.tmp]".

Only the standard library. Exit 2 on bad arguments or unreadable files.
"""
import json
import os
import re
import sys


def fail(msg):
    print(f"anchor_pairs: error: {msg}", file=sys.stderr)
    sys.exit(2)


def load(path):
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{path}: {e}")
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        fail(f"{path}: not a hotshard.results/1 document (no results list)")
    for k, r in enumerate(doc["results"]):
        missing = [f for f in ("scenario", "impl", "workload", "threads", "ops_per_sec")
                   if not isinstance(r, dict) or f not in r]
        if missing:
            fail(f"{path}: record {k} lacks {', '.join(missing)}")
    return doc


def group_of(r):
    return (r["scenario"], r["workload"], int(r["threads"]), json.dumps(r.get("knobs") or {}, sort_keys=True))


def groups(driver_path, list_path):
    doc = load(driver_path)
    try:
        with open(list_path) as f:
            listing = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{list_path}: {e}")
    ours = {s["name"]: [i["name"] for i in s.get("impls", []) if i.get("ours")]
            for s in listing.get("scenarios", []) if isinstance(s, dict)}
    longest = {}
    for r in doc["results"]:
        g = group_of(r)
        longest[g] = max(longest.get(g, 0.0), float(r.get("seconds", 0)))
    for (scenario, workload, threads, knobs), seconds in sorted(longest.items()):
        impls = ours.get(scenario)
        if not impls:
            fail(f"{list_path}: scenario {scenario!r} has no implementation of ours")
        kv = ";".join(f"{k}={v}" for k, v in sorted(json.loads(knobs).items())) or "-"
        print(f"{scenario}\t{workload}\t{threads}\t{kv}\t{','.join(impls)}\t{max(0.1, round(seconds, 2))}")


def merge(args):
    out, rounds, files = None, None, []
    while args:
        a = args.pop(0)
        if a == "--out" and args:
            out = args.pop(0)
        elif a == "--rounds" and args:
            rounds = args.pop(0)
        else:
            files.append(a)
    if out is None or rounds is None or not rounds.isdigit() or int(rounds) < 1:
        fail("merge needs --out FILE and --rounds R (an integer >= 1)")
    rounds = int(rounds)
    if len(files) < rounds:
        fail(f"merge: {rounds} driver files expected, got {len(files)}")
    drivers, ours_files = files[:rounds], files[rounds:]
    ours = {}  # (round, group) -> {impl: ops_per_sec}
    for path in ours_files:
        m = re.search(r"\.ours(\d+)-\d+\.json(\.tmp)?$", path)
        if not m:
            fail(f"{path}: an ours file is named <anything>.ours<round>-<n>.json")
        for r in load(path)["results"]:
            ours.setdefault((int(m.group(1)), group_of(r)), {})[r["impl"]] = r["ops_per_sec"]
    base = load(drivers[0])
    results, errors = [], []
    for k, path in enumerate(drivers, start=1):
        doc = base if k == 1 else load(path)
        for e in doc.get("errors", []):
            errors.append(dict(e, round=k) if isinstance(e, dict) else {"message": str(e), "round": k})
        for r in doc["results"]:
            r["repetition"] = k - 1
            paired = ours.get((k, group_of(r)))
            if paired:
                r.setdefault("metrics", {})["paired_ours"] = paired
            results.append(r)
    base["results"] = results
    base["errors"] = errors
    config = base.setdefault("config", {})
    config["repetitions"] = rounds
    config["rounds"] = rounds
    config["pairing"] = ("rounds: each round ran the driver once (--repetitions 1), then hotshard-bench run of "
                         "ours on the same groups (--repetitions 1, the driver's duration); metrics.paired_ours "
                         "holds that round's figures")
    tmp = out + ".partial"
    with open(tmp, "w") as f:
        json.dump(base, f, indent=1)
    os.replace(tmp, out)


def main(argv):
    if len(argv) == 3 and argv[0] == "groups":
        groups(argv[1], argv[2])
    elif argv[:1] == ["merge"]:
        merge(argv[1:])
    else:
        fail("usage: anchor_pairs.py groups DRIVER.json LIST.json | "
             "merge --out OUT.json --rounds R DRIVER_1.json .. DRIVER_R.json OURS.json...")


if __name__ == "__main__":
    main(sys.argv[1:])
