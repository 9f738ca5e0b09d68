#!/usr/bin/env python3
"""Issue 14's performance goals, read off one hotshard.results/1 file.

    build/release/bin/hotshard-bench suite --full --scenarios queue,sketch,herd,keyed-counter,counter \\
        --repetitions 3 --duration 0.4 --no-plots --out /tmp/goals
    python3 scripts/goals.py /tmp/goals/results.json > /tmp/goals/goals.md

One line per goal: what is compared, the measured ratio (ratio of medians;
in brackets the min-max of the per-repetition ratio, repetition k of one side
against repetition k of the other: the suite interleaves them), the target
and whether it is met. A goal whose rows the file lacks says "not measured".
Then the sketches' cost table: add throughput, memory and the cost of one
estimate() at 2 and 64 threads. Exit 0 whether or not the goals are met
(this reports, it does not judge a build); 2 for an unreadable file.
Only the standard library.
"""
import json
import statistics
import sys
from collections import defaultdict

import results_io  # scripts/results_io.py: the loader and schema check shared with plot.py and headline.py

ZIPF_COUNTERS = "zipf:n=1000000,s=0.99"
ZIPF_HERD = "zipf:n=100000,s=0.99"
SKETCH_WORKLOAD = "zipf:n=1000000,s=1.0"


class Runs:
    """The file's records grouped by (scenario, workload, knobs, threads) and impl."""

    def __init__(self, doc):
        self.reps = defaultdict(lambda: defaultdict(dict))  # group -> impl -> {repetition: ops/s}
        self.first = {}  # (group, impl) -> a record (its metrics describe the run)
        self.metrics = defaultdict(list)  # (group, impl) -> every repetition's metrics
        for n, r in enumerate(results_io.records(doc)):
            if not isinstance(r.get("ops_per_sec"), (int, float)) or "workload" not in r:
                raise results_io.ResultsError(f"result record {n} ({r['scenario']}/{r['impl']}) has no "
                                              "numeric ops_per_sec or no workload")
            g = results_io.group_key(r)
            self.reps[g][r["impl"]][r.get("repetition", 0)] = r["ops_per_sec"]
            self.first.setdefault((g, r["impl"]), r)
            self.metrics[(g, r["impl"])].append(r.get("metrics", {}))

    def groups(self, scenario, workload=None, threads=None, knobs=None):
        return [g for g in self.reps if g[0] == scenario and (workload is None or g[1] == workload)
                and (threads is None or g[3] == threads) and (knobs is None or json.loads(g[2]) == knobs)]

    def median(self, g, impl):
        v = self.reps[g].get(impl)
        return statistics.median(v.values()) if v else None

    def ratio(self, ga, a, gb, b):
        """(median a ÷ median b, min, max of the per-repetition ratio), or None."""
        ra, rb = self.reps[ga].get(a), self.reps[gb].get(b)
        if not ra or not rb:
            return None
        ma, mb = statistics.median(ra.values()), statistics.median(rb.values())
        pairs = results_io.repetition_ratios(ra, rb)
        return (ma / mb if mb > 0 else float("inf"), min(pairs, default=float("nan")),
                max(pairs, default=float("nan")))

    def metric(self, g, impl, name):
        vals = [m[name] for m in self.metrics.get((g, impl), []) if isinstance(m.get(name), (int, float))]
        return statistics.median(vals) if vals else None


def fmt(ratio):
    return f"{ratio[0]:.2f}× ({ratio[1]:.2f}–{ratio[2]:.2f})"


def line(goal, compared, ratio, target, extra=""):
    if ratio is None:
        print(f"| {goal} | {compared} | not measured | ≥ {target:g}× | – |")
        return None
    met = ratio[0] >= target
    print(f"| {goal} | {compared}{extra} | **{fmt(ratio)}** | ≥ {target:g}× | {'met' if met else 'MISSED'} |")
    return met


def queue_config(runs, g):
    m = runs.first.get((g, "bounded_queue"), {}).get("metrics", {})
    knobs = json.loads(g[2])
    path = f"bulk {knobs['bulk']}" if int(knobs.get("bulk", 0) or 0) > 0 else "single items"
    return f"{m.get('producers', g[3])}P{m.get('consumers', knobs.get('consumers', '?'))}C", path


def main(path):
    try:
        doc = results_io.load(path)
    except results_io.ResultsError as e:
        print(f"goals.py: {e}", file=sys.stderr)
        return 2
    try:
        runs = Runs(doc)
    except results_io.ResultsError as e:
        print(f"goals.py: {path}: {e}", file=sys.stderr)
        return 2
    described = results_io.scenarios([doc])
    outcome = []
    print(f"Issue 14's goals, from `{path}` (ratio of medians; min–max of the per-repetition ratio)\n")
    print("| goal | compared | measured | target | |")
    print("|---|---|---:|---:|---|")

    # Queues: bounded_queue against the fastest peer of each configuration.
    ours_q = results_io.ours(described, "queue") or {"bounded_queue"}
    single = {}
    for g in sorted(runs.groups("queue"), key=lambda g: (queue_config(runs, g)[1], g[3], g[2])):
        if "bounded_queue" not in runs.reps[g]:
            continue
        peers = {i: runs.median(g, i) for i in runs.reps[g] if i not in ours_q}
        if not peers:
            continue
        best = max(peers, key=peers.get)
        config, kind = queue_config(runs, g)
        if kind == "single items":
            single[config] = g
        over = runs.first[(g, best)].get("metrics", {}).get("exceeded_capacity")
        outcome.append(line(f"queue {config}, {kind}", f"bounded_queue ÷ {best} (best peer)",
                            runs.ratio(g, "bounded_queue", g, best), 1.0,
                            "; the peer exceeded its capacity" if over else ""))
    if "8P8C" in single and "1P1C" in single:
        # Two configurations: their repetition k ran minutes apart, so the range pairs by index only.
        outcome.append(line("queue 8P8C keeps ≥ 50% of 1P1C", "bounded_queue 8P8C ÷ 1P1C, single items",
                            runs.ratio(single["8P8C"], "bounded_queue", single["1P1C"], "bounded_queue"), 0.5,
                            " (range by repetition index)"))

    # Sketches at 2 threads: our fastest sketch that needs at most 1/T of cms_per_thread's memory
    # (a design that shares its counters between threads), against cms_per_thread.
    ours_s = results_io.ours(described, "sketch") - {"cms_per_thread"}
    for g in runs.groups("sketch", SKETCH_WORKLOAD, 2):
        fitting = [i for i in sorted(ours_s) if runs.median(g, i) and runs.metric(g, i, "memory_bytes") is not None
                   and runs.metric(g, "cms_per_thread", "memory_bytes") is not None
                   and runs.metric(g, i, "memory_bytes") <= runs.metric(g, "cms_per_thread", "memory_bytes") / g[3]]
        best = max(fitting, key=lambda i: runs.median(g, i), default=None)
        outcome.append(line("sketch: ≥ cms_per_thread's adds at ≤ 1/T of its memory, 2 threads",
                            f"{best or '(none within 1/T memory)'} ÷ cms_per_thread",
                            runs.ratio(g, best, g, "cms_per_thread") if best else None, 1.0,
                            f" ({runs.metric(g, best, 'memory_bytes') / 1e6:.2f} MB vs "
                            f"{runs.metric(g, 'cms_per_thread', 'memory_bytes') / 1e6:.2f} MB)" if best else ""))
        outcome.append(line("sketch: cms_buffered ≥ 1.5× cms, 2 threads", "cms_buffered ÷ cms",
                            runs.ratio(g, "cms_buffered", g, "cms"), 1.5))

    for threads in (2, 16):
        for g in runs.groups("keyed-counter", ZIPF_COUNTERS, threads):
            for peer in ("libcuckoo", "tbb_chm"):
                outcome.append(line(f"keyed counters, {threads} threads", f"salted ÷ {peer}",
                                    runs.ratio(g, "salted", g, peer), 3.0))
    for g in runs.groups("counter", "uniform:n=1", 2):
        outcome.append(line("counters, 2 threads", "per_thread ÷ thread_private (hand-written)",
                            runs.ratio(g, "per_thread", g, "thread_private"), 0.9))
    for threads in (2, 64):
        for g in runs.groups("herd", ZIPF_HERD, threads, {"loader_us": "0"}):
            outcome.append(line(f"single-flight, loader 0, {threads} threads", "single_flight ÷ absl_map",
                                runs.ratio(g, "single_flight", g, "absl_map"), 3.0))

    measured = [o for o in outcome if o is not None]
    print(f"\n{sum(measured)} of {len(measured)} measured goals met"
          f"{f'; {len(outcome) - len(measured)} not measured' if len(measured) < len(outcome) else ''}.")

    # What each sketch costs: the add rate, its memory and one estimate(), at 2 and 64 threads.
    rows = []
    for threads in (2, 64):
        for g in runs.groups("sketch", SKETCH_WORKLOAD, threads):
            for impl in sorted(runs.reps[g], key=lambda i: -runs.median(g, i)):
                mem, est = runs.metric(g, impl, "memory_bytes"), runs.metric(g, impl, "estimate_ns")
                mem_text = "–" if mem is None else f"{mem / 1e6:.2f}"
                est_text = "–" if est is None else f"{est:.0f}"
                rows.append(f"| {impl} | {threads} | {runs.median(g, impl) / 1e6:.1f} | {mem_text} | {est_text} |")
    if rows:
        print(f"\nSketches on `{SKETCH_WORKLOAD}`: add throughput (median), memory and one estimate() after the run\n")
        print("| impl | threads | adds (M/s) | memory (MB) | estimate (ns) |")
        print("|---|---:|---:|---:|---:|")
        print("\n".join(rows))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: goals.py RESULTS.json", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
