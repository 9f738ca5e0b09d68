#!/usr/bin/env python3
"""The README's headline tables, computed from a hotshard.results/1 file.

    python3 scripts/headline.py results/reference/results.json > headline.md

Table 1: for every scenario and thread count, our best implementation against
each contender, as the ratio of median throughputs, with the min-max of the
ratio over repetitions in brackets: "paired" when the file says its runs were
paired (config.pairing = "interleaved": repetition k of every implementation,
in a seed-shuffled order, ran before repetition k+1, so rep k of ours and rep
k of a contender ran seconds apart), else "by index" (older files: all
repetitions of one implementation ran back to back, minutes from the next).
Table 2: the hot-partition scenario, each mitigation against the unmitigated
store. Only the standard library.
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
    paired = doc.get("config", {}).get("pairing") == "interleaved"
    reps = defaultdict(lambda: defaultdict(dict))  # group -> impl -> {repetition: ops_per_sec}
    for r in doc["results"]:
        reps[group_key(r)][r["impl"]][r.get("repetition", 0)] = r["ops_per_sec"]
    runs = {g: {i: [v[k] for k in sorted(v)] for i, v in impls.items()} for g, impls in reps.items()}

    how = "paired by repetition" if paired else "by repetition index, not paired"
    print(f"| scenario | workload | knobs | threads | ours (median ops/s) | contender "
          f"| ours ÷ contender (min–max, {how}) |")
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
            rb, ro = reps[key][best], reps[key][other]
            pairs = [rb[k] / ro[k] for k in sorted(set(rb) & set(ro)) if ro[k] > 0]
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
