#!/usr/bin/env python3
"""The README's headline tables, computed from a hotshard.results/1 file.

    python3 scripts/headline.py results/reference/results.json > headline.md

Table 1: for every scenario and thread count, our best implementation against
each contender, as the ratio of median throughputs (min-max of the ratio over
repetitions paired by index in brackets). Table 2: the hot-partition scenario,
each mitigation against the unmitigated store. Only the standard library.
"""
import json
import statistics
import sys
from collections import defaultdict

# Our implementations per scenario (everything else in a group is a contender).
OURS = {
    "counter": {"striped", "per_thread"},
    "keyed-counter": {"salted"},
    "sketch": {"cms", "cms_cu", "cms_buffered", "heavy_hitters"},
    "herd": {"single_flight"},
    "cache": {"coalescing_cache"},
    "queue": {"bounded_queue"},
    "write-buffer": {"combining"},
}


def group_key(r):
    knobs = r.get("knobs") or {}
    return (r["scenario"], r["workload"], json.dumps(knobs, sort_keys=True), r["threads"])


def knob_text(knobs_json):
    knobs = json.loads(knobs_json)
    return ",".join(f"{k}={v}" for k, v in sorted(knobs.items()))


def main(path):
    with open(path) as f:
        doc = json.load(f)
    runs = defaultdict(lambda: defaultdict(list))  # group -> impl -> [ops_per_sec by repetition]
    for r in doc["results"]:
        runs[group_key(r)][r["impl"]].append(r["ops_per_sec"])

    print("| scenario | workload | knobs | threads | ours (median ops/s) | contender | ours ÷ contender (min–max) |")
    print("|---|---|---|---:|---|---|---:|")
    for key in sorted(runs, key=lambda k: (k[0], k[1], k[2], k[3])):
        scenario, workload, knobs, threads = key
        ours = OURS.get(scenario)
        if not ours:
            continue
        impls = runs[key]
        mine = {i: v for i, v in impls.items() if i in ours and v}
        theirs = {i: v for i, v in impls.items() if i not in ours and v}
        if not mine or not theirs:
            continue
        best = max(mine, key=lambda i: statistics.median(mine[i]))
        best_med = statistics.median(mine[best])
        for other in sorted(theirs, key=lambda i: -statistics.median(theirs[i])):
            other_med = statistics.median(theirs[other])
            pairs = [a / b for a, b in zip(mine[best], theirs[other]) if b > 0]
            rng = f" ({min(pairs):.2f}–{max(pairs):.2f})" if pairs else ""
            ratio = best_med / other_med if other_med > 0 else float("inf")
            print(f"| {scenario} | `{workload}` | {knob_text(knobs)} | {threads} | {best} ({best_med:.3g}) "
                  f"| {other} | **{ratio:.2f}×**{rng} |")

    hp = [r for r in doc["results"] if r["scenario"] == "hot-partition"]
    if hp:
        print()
        print("| hot-partition impl | threads | max/median partition load | throttled | backend calls "
              "| writes lost | client p99 (ns) |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        by = defaultdict(list)
        for r in hp:
            by[(r["impl"], r["threads"])].append(r)
        order = ["unmitigated", "salting", "cache", "buffer", "adaptive", "mitigated"]
        for (impl, threads) in sorted(by, key=lambda k: (k[1], order.index(k[0]) if k[0] in order else 99)):
            rs = by[(impl, threads)]
            med = lambda f: statistics.median(f(r) for r in rs)
            print(f"| {impl} | {threads} | {med(lambda r: r['metrics']['max_over_median']):.2f} "
                  f"| {100 * med(lambda r: r['metrics']['throttled_fraction']):.1f}% "
                  f"| {med(lambda r: r['metrics']['backend_calls']):.0f} "
                  f"| {max(r['metrics']['lost'] for r in rs)} "
                  f"| {med(lambda r: r['latency_ns']['p99']):.0f} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: headline.py RESULTS.json")
    main(sys.argv[1])
