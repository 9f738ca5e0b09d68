#!/usr/bin/env python3
"""The README's headline tables, computed from a hotshard.results/1 file.

    python3 scripts/headline.py results/reference/results.json > headline.md
    python3 scripts/headline.py --scenarios LIST.json OLDER.json   # files from before
                                   # documents described their scenarios; LIST.json from
                                   # `hotshard-bench list --json`

Table 1: for every scenario and thread count, our best implementation against
each contender, as the ratio of median throughputs, with the min-max of the
ratio over repetitions in brackets: "paired" when the file says its runs were
paired (config.pairing = "interleaved": repetition k of every implementation,
in a seed-shuffled order, ran before repetition k+1, so rep k of ours and rep
k of a contender ran seconds apart), else "by index" (older files: all
repetitions of one implementation ran back to back, minutes from the next).
Queue rows name each side's path (bulk, single, or single_loop: bulk asked of
a contender without a bulk API) and flag a contender whose observed depth
exceeded the capacity it was given; a reference driver's row (anchors/) is
"paired by round" when scripts/anchors.sh --rounds re-ran ours right after
each driver round (metrics.paired_ours), else a ratio of medians of runs
minutes apart. Table 2: issue 18's pairs (striped vs LongAdder, single_flight
vs Go's singleflight, coalescing_cache vs Caffeine, ...) whatever our fastest
implementation of the row, with the cache's backend calls (medians over
repetitions of each side's measured window, per second and per 1000 reads;
ours from the suite's own repetitions, not the paired re-runs, which keep
only ops/s). Table 3: the hot-partition scenario, each
mitigation against the unmitigated store, with what the mitigations cost
(errors the client saw, stale reads, backend calls per read). Only the
standard library.
"""
import json
import statistics
import sys
from collections import defaultdict

import results_io  # scripts/results_io.py: the loader and schema check shared with plot.py

def queue_note(ours, theirs):
    """What a queue ratio compares: each side's path, and a capacity overrun."""
    mo, mt = ours.get("metrics", {}), theirs.get("metrics", {})
    if "push_path" not in mo:
        return ""
    note = (f"{mo.get('producers', '?')}P{mo.get('consumers', '?')}C ({mo.get('threads_total', '?')} threads); "
            f"paths {mo['push_path']}/{mo.get('pop_path', '?')} vs {mt.get('push_path', '?')}/{mt.get('pop_path', '?')}")
    if mt.get("exceeded_capacity"):
        note += f"; {theirs['impl']} exceeded its capacity (max depth {mt.get('max_depth')} > {mt.get('capacity')})"
    return note


def knob_text(knobs_json):
    knobs = json.loads(knobs_json)
    return ",".join(f"{k}={v}" for k, v in sorted(knobs.items()))


# The reference drivers' implementations (anchors/: scripts/anchors.sh), as
# tests/anchors/check_anchors.py expects them.
DRIVER_IMPLS = {"java_longadder", "java_atomiclong", "java_chm_longadder", "caffeine",
                "go_singleflight", "groupcache_singleflight"}
# Table 2, issue 18's questions: each primitive against the tool a JVM or Go
# user knows for the same job (not only our fastest implementation of the row).
NAMED_PAIRS = [("counter", "striped", "java_longadder"), ("keyed-counter", "salted", "java_chm_longadder"),
               ("herd", "single_flight", "go_singleflight"), ("herd", "single_flight", "groupcache_singleflight"),
               ("cache", "coalescing_cache", "caffeine")]


def main(paths, list_json=None):
    # Several files (e.g. a reference run in parts) are read as one list of records; a
    # record in a later file replaces one of an earlier file with the same group, impl and
    # repetition (calibrate and fidelity run in every part). Ratios across files pair runs
    # by repetition index only, so the header says "paired" only for one interleaved file.
    docs = []
    for path in paths:
        try:
            docs.append(results_io.load(path))
        except results_io.ResultsError as e:
            sys.exit(f"headline.py: {e}")
    doc = {"results": [r for d in docs for r in d["results"]]}
    # What is ours, and the registry order, come from the scenarios' own
    # description (the documents' "scenarios", or `hotshard-bench list --json`).
    try:
        described = results_io.scenarios(docs, list_json)
    except results_io.ResultsError as e:
        sys.exit(f"headline.py: {e}")
    undescribed = sorted({r["scenario"] for r in doc["results"]} - set(described))
    if undescribed:
        sys.exit(f"headline.py: the files do not describe scenario(s) {', '.join(undescribed)} (written before "
                 "hotshard-bench recorded its scenarios); pass --scenarios FILE, with FILE from "
                 "`hotshard-bench list --json > FILE`")
    paired = len(docs) == 1 and docs[0].get("config", {}).get("pairing") == "interleaved"
    reps = defaultdict(lambda: defaultdict(dict))  # group -> impl -> {repetition: ops_per_sec}
    first = {}  # (group, impl) -> the record of the lowest repetition (its metrics describe the run)
    paired_ours = defaultdict(dict)  # (group, driver impl) -> {repetition: {our impl: ops/s of the same round}}
    for r in doc["results"]:
        reps[results_io.group_key(r)][r["impl"]][r.get("repetition", 0)] = r["ops_per_sec"]
        if isinstance(r.get("metrics", {}).get("paired_ours"), dict):
            paired_ours[(results_io.group_key(r), r["impl"])][r.get("repetition", 0)] = r["metrics"]["paired_ours"]
        k = (results_io.group_key(r), r["impl"])
        if k not in first or r.get("repetition", 0) < first[k].get("repetition", 0):
            first[k] = r
    runs = {g: {i: [v[k] for k in sorted(v)] for i, v in impls.items()} for g, impls in reps.items()}

    def driver_ratio(key, mine, other):
        """ours ÷ a reference driver: (ratio, " (min–max)", note, our median). Paired when
        scripts/anchors.sh --rounds re-ran `mine` right after every driver round
        (metrics.paired_ours); otherwise a ratio of medians of runs minutes apart."""
        ro = reps[key][other]
        other_med = statistics.median(ro.values())
        rounds = paired_ours.get((key, other), {})
        if ro and set(rounds) == set(ro) and all(rounds[k].get(mine, 0) > 0 for k in rounds):
            ours_k = {k: rounds[k][mine] for k in rounds}
            mine_med = statistics.median(ours_k.values())
            pairs = [ours_k[k] / ro[k] for k in sorted(ro) if ro[k] > 0]
            rng = f" ({min(pairs):.2f}–{max(pairs):.2f})" if pairs else ""
            note = f"reference driver, paired by round: {mine} re-run right after each driver round (median {mine_med:.3g})"
        else:
            # Older files: the drivers ran after every C++ step, minutes from our
            # repetitions, so their repetition k is not paired with ours.
            mine_med = statistics.median(reps[key][mine].values())
            rng = ""
            note = "reference driver, run after the C++ steps: ratio of medians, not paired"
        return (mine_med / other_med if other_med > 0 else float("inf")), rng, note, mine_med

    how = "paired by repetition" if paired else "by repetition index, not paired"
    print(f"| scenario | workload | knobs | threads | ours (median ops/s) | contender "
          f"| ours ÷ contender (min–max, {how}) | note |")
    print("|---|---|---|---:|---|---|---:|---|")
    for key in sorted(runs, key=lambda k: (k[0], k[1], k[2], k[3])):
        scenario, workload, knobs, threads = key
        ours = results_io.ours(described, scenario)
        if not ours or scenario == "hot-partition":  # its own table below: client ops/s is not its result
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
            ratio = best_med / other_med if other_med > 0 else float("inf")
            note = queue_note(first[(key, best)], first[(key, other)]) if scenario == "queue" else ""
            if other in DRIVER_IMPLS:
                ratio, rng, note, _ = driver_ratio(key, best, other)
            else:
                pairs = results_io.repetition_ratios(rb, ro)
                rng = f" ({min(pairs):.2f}–{max(pairs):.2f})" if pairs else ""
            print(f"| {scenario} | `{workload}` | {knob_text(knobs)} | {threads} | {best} ({best_med:.3g}) "
                  f"| {other} | **{ratio:.2f}×**{rng} | {note} |")

    named = [(key, mine, other) for key in sorted(runs, key=lambda k: (k[0], k[1], k[2], k[3]))
             for (scenario, mine, other) in NAMED_PAIRS
             if key[0] == scenario and runs[key].get(mine) and runs[key].get(other)]
    if named:
        print()
        print("| scenario | workload | knobs | threads | ours | reference driver | ours ÷ driver (min–max) "
              "| backend calls in the measured window, ours / driver: per s; per 1k reads | note |")
        print("|---|---|---|---:|---|---|---:|---:|---|")
        for key, mine, other in named:
            scenario, workload, knobs, threads = key
            ratio, rng, note, mine_med = driver_ratio(key, mine, other)
            calls = "–"
            if scenario == "cache":
                # Both sides count the loads started between the barrier and the stop
                # (cache.cpp's on_start, CacheBench's onStart), so the rates compare; a
                # record from before that (no backend_calls_per_second) shows "?".
                def rates(impl):
                    rs = [r for r in doc["results"] if results_io.group_key(r) == key and r["impl"] == impl
                          and "backend_calls_per_second" in r.get("metrics", {}) and r.get("ops", 0) > 0]
                    if not rs:
                        return "?", "?"
                    per_s = statistics.median(r["metrics"]["backend_calls_per_second"] for r in rs)
                    per_k = statistics.median(1000 * r["metrics"]["backend_calls"] / r["ops"] for r in rs)
                    return f"{per_s:.0f}", f"{per_k:.3g}"
                (ms, mk), (os_, ok) = rates(mine), rates(other)
                calls = f"{ms} / {os_}; {mk} / {ok}"
            other_med = statistics.median(reps[key][other].values())
            print(f"| {scenario} | `{workload}` | {knob_text(knobs)} | {threads} | {mine} ({mine_med:.3g}) "
                  f"| {other} ({other_med:.3g}) | **{ratio:.2f}×**{rng} | {calls} | {note} |")

    hp = [r for r in doc["results"] if r["scenario"] == "hot-partition"]
    if hp:
        print()
        print("| hot-partition impl | workload | knobs | threads | max/median partition load | throttled "
              "| read errors | write errors | stale reads | staleness p99 (µs, simulated) | backend calls per read "
              "| writes lost | client p99 (ns) |")
        print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        by = defaultdict(list)
        for r in hp:
            knobs = json.dumps(r.get("knobs") or {}, sort_keys=True)
            by[(r["workload"], knobs, r["threads"], r["impl"])].append(r)
        rank = results_io.impl_rank(described, "hot-partition")
        for (workload, knobs, threads, impl) in sorted(
                by, key=lambda k: (k[0], k[1], k[2], rank.get(k[3], len(rank)))):
            rs = by[(workload, knobs, threads, impl)]
            def med(name, scale=1.0, fmt="{:.2f}"):
                vals = [r["metrics"][name] for r in rs if name in r["metrics"]]
                return fmt.format(scale * statistics.median(vals)) if vals else "–"  # older files lack it
            pct = "{:.1f}%"
            print(f"| {impl} | `{workload}` | {knob_text(knobs)} | {threads} | {med('max_over_median')} "
                  f"| {med('throttled_fraction', 100, pct)} "
                  f"| {med('read_error_fraction', 100, pct)} | {med('write_error_fraction', 100, pct)} "
                  f"| {med('stale_read_fraction', 100, pct)} | {med('staleness_p99_ns', 1e-3, '{:.1f}')} "
                  f"| {med('backend_calls_per_read')} "
                  f"| {max(r['metrics']['lost'] for r in rs)} "
                  f"| {statistics.median(r['latency_ns']['p99'] for r in rs):.0f} |")


if __name__ == "__main__":
    args = sys.argv[1:]
    list_json = None
    if args[:1] == ["--scenarios"] and len(args) >= 2:
        list_json, args = args[1], args[2:]
    if not args:
        sys.exit("usage: headline.py [--scenarios LIST.json] RESULTS.json [MORE.json ...]")
    main(args, list_json)
