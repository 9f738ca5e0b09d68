#!/usr/bin/env python3
"""Plots from a hotshard.results/1 file (DESIGN.md "Results format").

    python3 scripts/plot.py results.json --out DIR

Writes PNGs into DIR:
  throughput_<scenario>.png   ops/s against threads, one line per impl (and
                              workload/knobs), median with min-max error bars
  latency_<scenario>.png      p50/p90/p99/p99.9 per impl at the highest thread count
  partitions_<scenario>.png   accepted ops per partition (metrics.partition_ops),
                              one panel per impl, at the highest thread count
  heatmap_<scenario>_<impl>.png  per-partition load over time (metrics.partition_series)
  nodes_<scenario>.png        runs against a real store (metrics.node_ops, e.g. Redis
                              Cluster): per-node calls as the servers counted them, one
                              bar group per node and one bar per impl (unmitigated
                              beside mitigated = before/after), and the client's
                              per-node latency p50/p99 (metrics.node_latency_ns);
                              the title names the Redis version and the nodes
  sweep_<scenario>.png        max/median, throttled, stale reads and backend calls per
                              read against metrics.viral_share, one line per impl and
                              read_fraction (runs that set those knobs: hot-partition's
                              --full suite sweep)
Any kind of data that is absent is skipped; the script never fails for that.

    python3 scripts/plot.py trace STATS.json --out DIR

plots `hotshard-bench trace stats --json FILE > STATS.json`:
  trace_<name>.png            rank-frequency on log-log axes with the fitted
                              Zipf line over its rank range, and the hottest
                              key's share of each window over time
"""
import argparse
import json
import os
import re
import statistics
import textwrap
import sys
from collections import defaultdict

try:
    import matplotlib
except ImportError:
    # A pyenv or venv python may shadow the distribution's, which has python3-matplotlib.
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("plot.py: matplotlib is not installed (apt-get install python3-matplotlib)", file=sys.stderr)
    sys.exit(2)

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import results_io  # noqa: E402  (scripts/results_io.py: the loader and schema check shared with headline.py)


def safe(name):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def label_of(r):
    knobs = r.get("knobs") or {}
    k = ",".join(f"{a}={b}" for a, b in sorted(knobs.items()))
    return r["impl"] + (f" [{k}]" if k else "")


def series_key(r):
    return (label_of(r), r.get("workload", ""))


def plot_throughput(scenario, recs, out):
    groups = defaultdict(lambda: defaultdict(list))
    for r in recs:
        groups[series_key(r)][r["threads"]].append(r["ops_per_sec"])
    if not groups:
        return None
    workloads = {w for (_, w) in groups}
    fig, ax = plt.subplots(figsize=(8, 5))
    ours = results_io.ours(DESCRIBED, scenario)
    for (label, workload), by_t in sorted(groups.items()):
        ts = sorted(by_t)
        med = [statistics.median(by_t[t]) for t in ts]
        lo = [m - min(by_t[t]) for m, t in zip(med, ts)]
        hi = [max(by_t[t]) - m for m, t in zip(med, ts)]
        name = label if len(workloads) == 1 else f"{label} / {workload}"
        mine = label.split(" [")[0] in ours  # our primitives drawn solid and thick, peers dashed
        ax.errorbar(ts, med, yerr=[lo, hi], marker="o", capsize=3, label=name + (" (ours)" if mine else ""),
                    linewidth=2.2 if mine else 1.0, linestyle="-" if mine or not ours else "--")
    ax.set_xscale("log", base=2)
    all_t = sorted({t for by_t in groups.values() for t in by_t})
    ax.set_xticks(all_t)
    ax.set_xticklabels([str(t) for t in all_t])
    ax.minorticks_off()
    meds = [statistics.median(v) for by_t in groups.values() for v in by_t.values()]
    if meds and min(meds) > 0 and max(meds) / min(meds) > 100:
        ax.set_yscale("log")
    ax.set_xlabel("threads")
    ax.set_ylabel("ops/s (median, min-max)")
    title = scenario + (f" — {next(iter(workloads))}" if len(workloads) == 1 else "")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    path = os.path.join(out, f"throughput_{safe(scenario)}.png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def at_max_threads(recs):
    if not recs:
        return []
    t = max(r["threads"] for r in recs)
    return [r for r in recs if r["threads"] == t]


def plot_latency(scenario, recs, out):
    recs = [r for r in at_max_threads(recs) if r.get("latency_ns", {}).get("p50", 0) > 0]
    if not recs:
        return None
    by = defaultdict(lambda: defaultdict(list))
    for r in recs:
        for q in ("p50", "p90", "p99", "p999"):
            by[series_key(r)][q].append(r["latency_ns"].get(q, 0))
    keys = sorted(by)
    qs = ("p50", "p90", "p99", "p999")
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(keys) + 3), 5))
    width = 0.8 / len(qs)
    for i, q in enumerate(qs):
        vals = [statistics.median(by[k][q]) for k in keys]
        ax.bar([x + i * width for x in range(len(keys))], vals, width, label=q)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(keys))])
    ax.set_xticklabels([k[0] for k in keys], rotation=30, ha="right", fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("latency ns (median of repetitions)")
    ax.set_title(f"{scenario} latency at {recs[0]['threads']} threads")
    ax.legend(fontsize=7)
    ax.grid(True, axis="y", alpha=0.3)
    path = os.path.join(out, f"latency_{safe(scenario)}.png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def first_rep_with(recs, metric):
    """Repetition 0 (the first present) of each series at the highest thread
    count that has a non-empty list `metric`: series key -> record."""
    recs = [r for r in at_max_threads(recs)
            if isinstance(r.get("metrics", {}).get(metric), list) and r["metrics"][metric]]
    first = {}
    for r in sorted(recs, key=lambda r: r.get("repetition", 0)):
        first.setdefault(series_key(r), r)
    return recs, first


def plot_partitions(scenario, recs, out):
    recs, first = first_rep_with(recs, "partition_ops")
    if not first:
        return None
    keys = sorted(first)
    fig, axes = plt.subplots(len(keys), 1, figsize=(8, 2.4 * len(keys)), squeeze=False)
    for ax, k in zip(axes[:, 0], keys):
        r = first[k]
        ops = r["metrics"]["partition_ops"]
        ax.bar(range(len(ops)), ops)
        mom = r["metrics"].get("max_over_median")
        ax.set_title(f"{k[0]} — {k[1]}" + (f" (max/median {mom:.2f})" if isinstance(mom, (int, float)) else ""),
                     fontsize=8)
        ax.set_ylabel("ops")
    axes[-1, 0].set_xlabel("partition")
    fig.suptitle(f"{scenario}: load per partition (rep 0, {recs[0]['threads']} threads)")
    path = os.path.join(out, f"partitions_{safe(scenario)}.png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_nodes(scenario, recs, out):
    recs, first = first_rep_with(recs, "node_ops")
    if not first:
        return None
    keys = sorted(first)
    nodes = max(len(first[k]["metrics"]["node_ops"]) for k in keys)
    width = 0.8 / len(keys)
    fig, (ax_ops, ax_lat) = plt.subplots(2, 1, figsize=(max(8, 1.2 * nodes), 7))
    for j, k in enumerate(keys):
        m = first[k]["metrics"]
        xs = [i + (j - (len(keys) - 1) / 2) * width for i in range(len(m["node_ops"]))]
        mom = m.get("node_max_over_median")
        label = f"{k[0]}" + (f" (max/median {mom:.2f})" if isinstance(mom, (int, float)) else "")
        ax_ops.bar(xs, m["node_ops"], width, label=label)
        lat = m.get("node_latency_ns") or []
        if lat:
            p50 = [(x.get("p50") or 0) / 1000 for x in lat]
            p99 = [(x.get("p99") or 0) / 1000 for x in lat]
            ax_lat.bar(xs[:len(lat)], p99, width, label=f"{k[0]} p99", alpha=0.45)
            ax_lat.bar(xs[:len(lat)], p50, width, label=f"{k[0]} p50")
    names = first[keys[0]]["metrics"].get("nodes") or [str(i) for i in range(nodes)]
    for ax in (ax_ops, ax_lat):
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, fontsize=7)
        ax.legend(fontsize=7)
    ax_ops.set_ylabel("calls (server's count)")
    ax_lat.set_ylabel("client latency, µs")
    ax_lat.set_xlabel("node")
    m0 = first[keys[0]]["metrics"]
    version = m0.get("redis_version")
    fig.suptitle(f"{scenario}: load and latency per node ({m0.get('store', '')}"
                 + (f", Redis {version}" if version else "") + f", {len(names)} masters, "
                 f"{recs[0]['threads']} threads)", fontsize=9)
    path = os.path.join(out, f"nodes_{safe(scenario)}.png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_heatmaps(scenario, recs, out):
    paths = []
    done = set()
    for r in sorted(at_max_threads(recs), key=lambda r: r.get("repetition", 0)):
        series = r.get("metrics", {}).get("partition_series")
        k = series_key(r)
        if k in done or not isinstance(series, list) or not series:
            continue
        rows = [s if isinstance(s, list) else [] for s in series]
        width = max((len(s) for s in rows), default=0)
        if width == 0:
            continue
        done.add(k)
        grid = [list(s) + [0] * (width - len(s)) for s in rows]
        interval = r["metrics"].get("series_interval_seconds", 1)
        fig, ax = plt.subplots(figsize=(8, 0.25 * len(grid) + 2))
        im = ax.imshow(grid, aspect="auto", interpolation="nearest", cmap="inferno",
                       extent=(0, width * interval, len(grid) - 0.5, -0.5))
        fig.colorbar(im, ax=ax, label="accepted ops per interval")
        ax.set_xlabel("seconds")
        ax.set_ylabel("partition")
        ax.set_title(f"{scenario} / {k[0]} — load over time", fontsize=9)
        path = os.path.join(out, f"heatmap_{safe(scenario)}_{safe(k[0])}.png")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


# The sweep's panels: metrics of the hot-partition scenario; each panel's
# title is the metric's own meaning from the scenario's description.
SWEEP_PANELS = ("max_over_median", "throttled_fraction", "stale_read_fraction", "backend_calls_per_read")

# The results' scenario descriptions (results_io.scenarios): what is ours, metric units and meanings.
DESCRIBED = {}


def plot_sweep(scenario, recs, out):
    """The result over a sweep of read_fraction x viral_share (knobs set by the run)."""
    recs = [r for r in recs if {"read_fraction", "viral_share"} & set((r.get("knobs") or {}))
            and isinstance(r.get("metrics", {}).get("viral_share"), (int, float))
            and isinstance(r["metrics"].get("read_fraction"), (int, float))]
    if len({r["metrics"]["viral_share"] for r in recs}) < 2:
        return None
    threads = statistics.mode(r["threads"] for r in recs)
    recs = [r for r in recs if r["threads"] == threads]
    lines = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))  # (impl, rf) -> metric -> vs -> values
    for r in recs:
        m = r["metrics"]
        for name in SWEEP_PANELS:
            if isinstance(m.get(name), (int, float)):
                lines[(r["impl"], m["read_fraction"])][name][m["viral_share"]].append(m[name])
    fig, axes = plt.subplots(1, len(SWEEP_PANELS), figsize=(4.2 * len(SWEEP_PANELS), 4.2), squeeze=False)
    for ax, name in zip(axes[0], SWEEP_PANELS):
        title = textwrap.fill(results_io.metric_label(DESCRIBED, scenario, name), 48)
        for (impl, rf), by_metric in sorted(lines.items()):
            pts = by_metric.get(name)
            if not pts:
                continue
            xs = sorted(pts)
            ax.plot(xs, [statistics.median(pts[x]) for x in xs], marker="o", label=f"{impl}, reads {rf:g}")
        ax.set_xlabel("viral_share")
        ax.set_title(title, fontsize=9)
        ax.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize=6)
    fig.suptitle(f"{scenario}: sweep of read_fraction x viral_share ({threads} threads, median of repetitions)")
    path = os.path.join(out, f"sweep_{safe(scenario)}.png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="hotshard.results/1 JSON file")
    ap.add_argument("--out", default=".", help="output directory for the PNGs")
    args = ap.parse_args()
    try:
        doc = results_io.load(args.results)
    except results_io.ResultsError as e:
        print(f"plot.py: {e}", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    DESCRIBED.update(results_io.scenarios([doc]))  # older files: none, plots fall back to plain names
    by_scenario = defaultdict(list)
    for r in results_io.records(doc):
        by_scenario[r["scenario"]].append(r)
    written = []
    for scenario, recs in by_scenario.items():
        for fn in (plot_throughput, plot_latency, plot_partitions, plot_nodes, plot_sweep):
            try:
                p = fn(scenario, recs, args.out)
                if p:
                    written.append(p)
            except Exception as e:  # one bad plot must not cost the others
                print(f"plot.py: {fn.__name__}({scenario}) skipped: {e}", file=sys.stderr)
        try:
            written += plot_heatmaps(scenario, recs, args.out)
        except Exception as e:
            print(f"plot.py: heatmaps({scenario}) skipped: {e}", file=sys.stderr)
    print(f"plot.py: {len(written)} plots in {args.out}", file=sys.stderr)
    return 0


def plot_trace_stats(stats, out):
    """The two panels of one `trace stats --json` document; returns the PNG path."""
    name = safe(os.path.basename(stats.get("file", "trace")))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    points = [(r, c) for r, c in stats.get("rank_frequency", []) if c > 0]
    if points:
        ax1.loglog([r for r, _ in points], [c for _, c in points], ".", ms=4, label="keys by rank")
    fit = stats.get("zipf_fit", {})
    s, last = fit.get("s", 0), fit.get("last_rank", 0)
    in_range = [(r, c) for r, c in points if r <= last]
    if s > 0 and in_range:
        import math
        # The fitted law through the points it was fitted on (geometric-mean anchor).
        log_c = statistics.mean(math.log(c) + s * math.log(r) for r, c in in_range)
        ranks = [r for r, _ in in_range]
        ax1.loglog(ranks, [math.exp(log_c) * r ** -s for r in ranks], "-", color="tab:red",
                   label=f"Zipf s = {s:.3f} (MLE, ranks 1..{last})")
    ax1.set_xlabel("rank")
    ax1.set_ylabel("requests")
    ax1.set_title(f"{name}: rank-frequency")
    ax1.legend()
    windows = stats.get("windows", [])
    if windows:
        xs = [w["first_request"] + w["requests"] / 2 for w in windows]
        ax2.plot(xs, [100 * w["hottest_share"] for w in windows], "o-", ms=3)
    ax2.set_xlabel("request")
    ax2.set_ylabel("hottest key's share of the window (%)")
    ax2.set_title(f"hottest key per window of {stats.get('window_requests', '?')} requests")
    ax2.set_ylim(bottom=0)
    fig.tight_layout()
    path = os.path.join(out, f"trace_{name}.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def trace_main(argv):
    ap = argparse.ArgumentParser(prog="plot.py trace", description="plots of `hotshard-bench trace stats --json`")
    ap.add_argument("stats", help="output of hotshard-bench trace stats --json FILE")
    ap.add_argument("--out", default=".", help="output directory for the PNG")
    args = ap.parse_args(argv)
    try:
        with open(args.stats) as f:
            stats = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        print(f"plot.py trace: cannot read {args.stats}: {e}", file=sys.stderr)
        return 2
    if not isinstance(stats, dict) or "rank_frequency" not in stats:
        print(f"plot.py trace: {args.stats} is not `trace stats --json` output", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    print(f"plot.py trace: {plot_trace_stats(stats, args.out)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(trace_main(sys.argv[2:]) if sys.argv[1:2] == ["trace"] else main())
