// hotshard/harness/runner_loops.hpp — the parts run_workers (runner.hpp) is
// made of: what it is asked (runner_config), what it returns (measurement),
// and in detail_runner one function per stretch of a worker's life: warm-up,
// the closed loop by count, the closed loop until stopped, the open loop, and
// the merge of the per-thread slots. runner.hpp says how a run goes.
//
// Progress: each loop runs the caller's op and blocks only where the op does
// (the open loop also sleeps until an op is due). Memory ordering: the only
// shared word a loop reads is the controller's stop flag, relaxed (it carries
// no data; results are published by thread join).
#pragma once

#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/harness/histogram.hpp>
#include <hotshard/harness/scenario.hpp>
#include <hotshard/harness/timing.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include <time.h>

namespace hotshard::harness {

struct measurement {
  std::uint64_t ops = 0;          // measured operations, all threads
  std::uint64_t warmup_ops = 0;   // untimed operations before the clock started, all threads
  double seconds = 0;             // wall time from the barrier to the last thread's stop
  latency_histogram latency;      // sampled per-op latency, merged (open loop: every op, from its intended start)
  detail::contention_counts contention;  // counting_stats deltas over the measured loop, merged
  std::vector<std::uint64_t> ops_per_thread;  // measured + warm-up calls of each thread
  timer_info timer;               // the clock, measured at the start of the run (0: not measured)
  double mean_gap = 0;            // closed loop: mean ops per timed op (thread average); 0: not sampled by the runner
  double harness_ns = -1;         // closed loop: the untimed loop's own cost per op (thread average); < 0: not measured
  // Open loop only.
  bool open_loop = false;
  std::uint64_t scheduled = 0;    // ops due within the run
  std::uint64_t late = 0;         // started more than runner_config::late_ns after they were due
  std::uint64_t missed = 0;       // due within the run, not started when it ended (duration mode)
  latency_histogram start_lag;    // actual start - intended start: the wait's precision plus queueing

  [[nodiscard]] std::uint64_t total_calls() const noexcept { return ops + warmup_ops; }
  [[nodiscard]] double ops_per_sec() const noexcept { return seconds > 0 ? ops / seconds : 0; }
};

struct runner_config {
  unsigned threads = 1;
  std::uint64_t ops = 0;            // total measured ops; 0 = stop by duration
  double duration_seconds = 1.0;
  double warmup_fraction = 0.1;     // of ops or of duration (duration warm-up capped at 0.5 s)
  double rate = 0;                  // open loop total ops/s; 0 = closed loop
  std::uint64_t sample_every = 0;   // closed loop: mean ops per timed op (random gaps); 0 = adaptive
  std::uint64_t check_every = 64;   // duration-mode warm-up: look at the clock every this many ops
  std::uint64_t seed = 1;           // of the per-thread sampling streams
  std::uint64_t late_ns = 1000;     // open loop: a start this far past due counts as late
  // Called once, at the instant the clock starts: by the last thread to reach
  // the barrier, after every warm-up and before any measured op. A scenario
  // snapshots its own counters here so that they cover the measured window
  // only (cache.cpp: backend calls). Must not throw (it runs in the
  // barrier's completion step).
  std::function<void()> on_start;

  static runner_config from(const run_request& r) {
    runner_config c;
    c.threads = r.threads;
    c.ops = r.options.ops;
    c.duration_seconds = r.options.duration_seconds;
    c.rate = r.options.rate;
    c.seed = r.seed;
    return c;
  }
};

// What results say about the harness's own per-op cost (config.harness_cost).
inline constexpr const char* harness_cost_method =
    "subtracted: each run times empty ops through its own untimed loop (metrics.harness_ns_per_op) and reports the "
    "op's mean net of it (metrics.net_ns_per_op); throughput figures include it";

namespace detail_runner {
// The untimed stretch of the measured loop: ops i .. i+n-1. The runner and
// loop_cost both use it, so the cost subtracted is that of this very loop.
// Unrolled so that the loop's own work is a fraction of a cycle per op.
template <class Op>
inline void run_untimed(Op& op, std::uint64_t& i, std::uint64_t n) {
#pragma GCC unroll 8
  for (std::uint64_t j = 0; j < n; ++j) op(i + j);
  i += n;
}

// The op that does nothing but take its index: what remains is the loop.
struct empty_op {
  void operator()(std::uint64_t i) const noexcept { asm volatile("" : : "r"(i)); }
};

// The loop's cost per op (ns): `batch` empty ops between two clock reads, the
// cheapest of `tries` batches (a batch that lost the core is not the cost).
// The two clock reads are amortised over the batch (2^16 ops: < 1% of a
// 0.1 ns op with a 30 ns clock).
template <class Clock>
double loop_cost_ns(std::uint64_t batch = std::uint64_t{1} << 16, int tries = 5) {
  empty_op op;
  double best = -1;
  for (int k = 0; k < tries; ++k) {
    std::uint64_t i = 0;
    const std::uint64_t t0 = Clock::now();
    run_untimed(op, i, batch);
    const std::uint64_t t1 = Clock::now();
    const double per = static_cast<double>(t1 > t0 ? t1 - t0 : 0) / static_cast<double>(batch);
    if (best < 0 || per < best) best = per;
  }
  return std::max(0.0, best);
}

// An op's mean cost net of the harness's per-op cost: never negative (the
// two are measured apart, so noise can make the harness look dearer than a
// near-empty op).
inline double net_of_harness(double mean_ns, double harness_ns) noexcept {
  return std::max(0.0, mean_ns - std::max(0.0, harness_ns));
}

// The harness's cost as a share of what was measured (gross): 0..1.
inline double harness_share(double mean_ns, double harness_ns) noexcept {
  return mean_ns > 0 ? std::clamp(std::max(0.0, harness_ns) / mean_ns, 0.0, 1.0) : 0.0;
}

// What one steady clock read costs here (kept for callers of the old name).
inline double clock_read_ns() {
  const double c = steady_timer().cost_ns;
  return c > 0 ? c : 1.0;
}

// The mean sampling gap that keeps timing overhead near 1% of an op that
// costs `op_ns`: 2 clock reads + a histogram increment per sample.
inline double sample_gap(double op_ns, double clock_ns) {
  if (!(op_ns > 0)) return 64;
  const double want = (2.0 * std::max(clock_ns, 1.0) + 2.0) / (0.01 * op_ns);
  return std::clamp(std::ceil(want), 1.0, 4096.0);
}
// Old name: the power of two at or above sample_gap (still a valid mean gap).
inline std::uint64_t sample_period(double op_ns) {
  const double g = sample_gap(op_ns, clock_read_ns());
  std::uint64_t p = 1;
  while (static_cast<double>(p) < g) p <<= 1;
  return p;
}

// One thread's results, in its own padded slot: merged after every thread stopped.
struct alignas(detail::prefetch_pair_bytes) worker_slot {
  std::uint64_t measured = 0;
  std::uint64_t warmup = 0;
  std::uint64_t end = 0;
  double mean_gap = 0;
  double harness_ns = 0;
  std::uint64_t scheduled = 0, late = 0, missed = 0;
  latency_histogram latency;
  latency_histogram start_lag;
  detail::contention_counts contention;
};

// Thread t's share of cfg.ops (the first ops % T threads take one more).
inline std::uint64_t share_of(const runner_config& cfg, unsigned T, unsigned t) noexcept {
  return cfg.ops / T + (t < cfg.ops % T ? 1 : 0);
}

inline std::uint64_t ns_between(std::uint64_t a, std::uint64_t b) noexcept { return b > a ? b - a : 0; }

// The cheapest of 4 short measurements: one preempted in the middle would inflate it.
template <class Clock>
timer_info measure_run_timer() {
  timer_info timer = measure_timer<Clock>(128);
  for (int k = 0; k < 3; ++k) {
    const timer_info t = measure_timer<Clock>(128);
    if (t.cost_ns < timer.cost_ns) timer.cost_ns = t.cost_ns;
    if (t.resolution_ns > 0 && (timer.resolution_ns == 0 || t.resolution_ns < timer.resolution_ns))
      timer.resolution_ns = t.resolution_ns;
  }
  return timer;
}

// The calling thread's CPU time, ns.
inline double thread_cpu_ns() noexcept {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_nsec);
}

// Warm-up (untimed): op(0), op(1), ... for warmup_fraction of this thread's
// share of ops, or of the duration (at most 0.5 s). Returns the closed loop's
// mean sampling gap: cfg.sample_every, or the gap that the warm-up's op cost asks for.
//
// The op's cost is what its clock reads are weighed against, so it is the
// thread's own time per op, not the wall time: with T threads on C < T cores
// the wall time per op is T/C times the op's (the thread waits its turn), and
// a gap chosen from it timed T/C times more ops than intended — at 16 threads
// on 2 cores that cost a cheap op ~8% of its throughput (issue 19). The CPU
// time alone would mistake a blocking op (a sleep, a futex wait) for a cheap
// one, so the cost is the larger of the CPU time and the wall time shared out
// over the cores: both equal the CPU time for a busy op, and the second keeps
// a sleeping op's cost near its wall time.
template <class Clock, class Op>
double warm_up(const runner_config& cfg, std::uint64_t share, Op& op, std::uint64_t& i, const timer_info& timer) {
  const double c0 = thread_cpu_ns();
  const std::uint64_t w0 = Clock::now();
  if (cfg.ops > 0) {
    const auto n = static_cast<std::uint64_t>(static_cast<double>(share) * cfg.warmup_fraction);
    for (; i < n; ++i) op(i);
  } else if (cfg.warmup_fraction > 0) {
    const std::uint64_t until =
        Clock::now() + static_cast<std::uint64_t>(1e9 * std::min(0.5, cfg.duration_seconds * cfg.warmup_fraction));
    while (Clock::now() < until)
      for (std::uint64_t k = 0; k < cfg.check_every; ++k) op(i++);
  }
  if (cfg.sample_every >= 1) return static_cast<double>(cfg.sample_every);
  if (i == 0) return 64;
  const auto wall_ns = static_cast<double>(Clock::now() - w0);
  const double cpu_ns = thread_cpu_ns() - c0;
  const double oversubscribed = std::max(1.0, static_cast<double>(cfg.threads) /
                                                  static_cast<double>(std::max(1u, std::thread::hardware_concurrency())));
  return sample_gap(std::max(cpu_ns, wall_ns / oversubscribed) / static_cast<double>(i), timer.cost_ns);
}

// One op between two clock reads, into `latency`.
template <class Clock, class Op>
inline void timed(Op& op, std::uint64_t& i, latency_histogram& latency) {
  const std::uint64_t t0 = Clock::now();
  op(i++);
  latency.record(ns_between(t0, Clock::now()));
}

// Closed loop, --ops: exactly n ops; untimed runs (whose per-op cost is
// loop_cost_ns) between ops timed at random gaps. Returns the ops run.
template <class Clock, class Op>
std::uint64_t closed_loop_count(Op& op, std::uint64_t& i, std::uint64_t n, gap_sampler& gaps,
                                latency_histogram& latency) {
  std::uint64_t done = 0;
  while (done < n) {
    const std::uint64_t run = std::min(gaps.next() - 1, n - done);
    run_untimed(op, i, run);
    done += run;
    if (done == n) break;
    timed<Clock>(op, i, latency);
    ++done;
  }
  return done;
}

// Closed loop, --duration: as above until the controller raises `stop`
// (looked at once per timed op). Returns the ops run.
template <class Clock, class Op>
std::uint64_t closed_loop_until_stop(Op& op, std::uint64_t& i, const std::atomic<bool>& stop, gap_sampler& gaps,
                                     latency_histogram& latency) {
  std::uint64_t done = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    const std::uint64_t gap = gaps.next();
    run_untimed(op, i, gap - 1);
    timed<Clock>(op, i, latency);
    done += gap;
  }
  return done;
}

// When thread t's op k is due in an open loop of T threads: start + (k·T + t)/rate.
struct open_schedule {
  std::uint64_t start;
  double period_ns, offset_ns;
  open_schedule(const runner_config& cfg, unsigned T, unsigned t, std::uint64_t run_start)
      : start(run_start), period_ns(1e9 * T / cfg.rate), offset_ns(1e9 * t / cfg.rate) {}
  [[nodiscard]] std::uint64_t due(std::uint64_t k) const noexcept {
    return start + static_cast<std::uint64_t>(offset_ns + period_ns * static_cast<double>(k));
  }
  // The ops due before `deadline` (rounding checked both ways).
  [[nodiscard]] std::uint64_t due_before(std::uint64_t deadline) const noexcept {
    const double span = static_cast<double>(deadline - start) - offset_ns;
    std::uint64_t n = span > 0 ? static_cast<std::uint64_t>(std::ceil(span / period_ns)) : 0;
    while (n > 0 && due(n - 1) >= deadline) --n;
    while (due(n) < deadline) ++n;
    return n;
  }
};

// Open loop, --rate: wait until each op is due (sleep, then spin), run it,
// and charge its latency from when it was due. With --ops (cfg.ops > 0):
// exactly `share` ops; by duration: the ops due before `deadline` (ops not
// started by then are missed). Fills the slot's latency, start_lag, late,
// scheduled, missed; returns the ops run.
template <class Clock, class Op>
std::uint64_t open_loop(const runner_config& cfg, const open_schedule& plan, std::uint64_t share,
                        std::uint64_t deadline, const std::atomic<bool>& stop, Op& op, std::uint64_t& i,
                        worker_slot& s) {
  precise_sleep_scope precise;
  const bool by_count = cfg.ops > 0;
  std::uint64_t done = 0;
  for (std::uint64_t k = 0; by_count ? k < share : plan.due(k) < deadline; ++k) {
    if (stop.load(std::memory_order_relaxed)) break;
    const std::uint64_t due = plan.due(k);
    Clock::wait_until(due);
    const std::uint64_t begin = Clock::now();
    if (!by_count && begin >= deadline) break;  // the run is over: k and the rest are missed
    op(i++);
    s.latency.record(ns_between(due, Clock::now()));
    const std::uint64_t lag = ns_between(due, begin);
    s.start_lag.record(lag);
    if (lag > cfg.late_ns) ++s.late;
    ++done;
  }
  // Everything due within the run counts, run or not.
  s.scheduled = std::max(by_count ? share : plan.due_before(deadline), done);
  s.missed = s.scheduled - done;
  return done;
}

// What one thread's op did to the contention counters since `base`.
inline detail::contention_counts contention_since(const detail::contention_counts& base) {
  const auto& now = detail::counting_stats::local();
  detail::contention_counts d;
  d.cas_failures = now.cas_failures - base.cas_failures;
  d.spins = now.spins - base.spins;
  d.waits = now.waits - base.waits;
  return d;
}

// The slots merged into one measurement of a run that started at `start`.
inline measurement merge(const std::vector<worker_slot>& slots, const timer_info& timer, bool open_loop,
                         std::uint64_t start) {
  const auto T = static_cast<double>(slots.size());
  measurement m;
  m.timer = timer;
  m.open_loop = open_loop;
  std::uint64_t last = start;
  for (const auto& s : slots) {
    m.ops += s.measured;
    m.warmup_ops += s.warmup;
    m.latency.merge(s.latency);
    m.start_lag.merge(s.start_lag);
    m.contention += s.contention;
    m.ops_per_thread.push_back(s.measured + s.warmup);
    m.scheduled += s.scheduled;
    m.late += s.late;
    m.missed += s.missed;
    m.mean_gap += open_loop ? 1.0 / T : s.mean_gap / T;
    if (!open_loop) m.harness_ns = (m.harness_ns < 0 ? 0 : m.harness_ns) + s.harness_ns / T;
    last = std::max(last, s.end);
  }
  m.seconds = static_cast<double>(last - start) * 1e-9;
  return m;
}
}  // namespace detail_runner

}  // namespace hotshard::harness
