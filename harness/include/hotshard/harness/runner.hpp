// hotshard/harness/runner.hpp — runs T worker threads over one operation and
// measures them.
//
// How a run goes:
//  1. T threads start; each calls make_worker(thread_index) on its own thread
//     (allocate, pre-generate its keys: nothing here is timed) and gets back
//     `op`, a callable op(std::uint64_t i) that performs operation i.
//  2. Warm-up (untimed): op(0), op(1), ... for 10% of the run (by ops or time).
//  3. All threads meet at a barrier; the clock starts when the last arrives.
//  4. Measured loop: op(i) continues from where warm-up stopped, until this
//     thread's share of --ops is done or --duration elapses (a stop flag
//     that only the controller writes, checked after each timed op).
//  5. Each thread keeps its own op count, latency histogram and contention
//     counts (detail::counting_stats) in its own padded slot; they are merged
//     after all threads stopped, so the harness adds no shared writes to the
//     measured loop.
// Latency (closed loop) is sampled at random gaps (timing.hpp, gap_sampler):
// each op is timed independently with probability 1/mean_gap, so no op
// position is favoured. mean_gap = sample_every, or with sample_every = 0
// (the default) the gap, 1..4096, that keeps two clock reads per sample under
// ~1% of the op cost measured in warm-up (64 when there was no warm-up). The
// clock's own cost and resolution are measured at the start of every run and
// travel with the result, beside the percentiles.
// Open loop (--rate): this thread's op k is due at start + (k·T + t)/rate; the
// thread sleeps, then spins, until it is due (no timer-slack overshoot), and
// every op's latency counts from its intended start, so a stall shows up in
// the percentiles of every op it delayed (no coordinated omission). Every
// scheduled op is accounted for: `late` (started more than late_ns after it
// was due) or, in duration mode, `missed` (due before the end of the run but
// not started by then).
// Harness cost: the untimed loop still costs a fraction of a nanosecond per op
// (calibrate/null), which is a large share of the cheapest ops. It is
// subtracted, not hidden: after warm-up every thread times a batch of empty
// ops through the very loop that runs the untimed ops (detail_runner::
// run_untimed, best of 5 batches of 2^16), and the record carries that cost
// (`harness_ns_per_op`) and the op's mean net of it (`net_ns_per_op` = mean
// op ns from throughput - harness_ns_per_op; harness_cost_method says so).
// Throughput figures stay gross: they are what a caller of the op would see
// with this loop around it.
// The clock is a template parameter of run_workers_on (see timing.hpp), so a
// test can drive the runner with a virtual clock.
#pragma once

#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/harness/histogram.hpp>
#include <hotshard/harness/scenario.hpp>
#include <hotshard/harness/timing.hpp>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

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
}  // namespace detail_runner

// Runs the workers on `Clock` (timing.hpp). Duration mode also needs Clock to
// be one clock for all threads; tests with a per-thread virtual clock use ops mode.
template <class Clock, class MakeWorker>
measurement run_workers_on(const runner_config& cfg, MakeWorker&& make_worker) {
  const unsigned T = std::max(1u, cfg.threads);
  // The cheapest of 4 short measurements: one preempted in the middle would inflate it.
  timer_info timer = measure_timer<Clock>(128);
  for (int k = 0; k < 3; ++k) {
    const timer_info t = measure_timer<Clock>(128);
    if (t.cost_ns < timer.cost_ns) timer.cost_ns = t.cost_ns;
    if (t.resolution_ns > 0 && (timer.resolution_ns == 0 || t.resolution_ns < timer.resolution_ns))
      timer.resolution_ns = t.resolution_ns;
  }

  struct alignas(detail::prefetch_pair_bytes) slot {
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
  std::vector<slot> slots(T);

  // Carries no data, only "stop now": every access is relaxed. The results
  // are published by join(), not by this flag.
  std::atomic<bool> stop{false};
  std::uint64_t start = 0;
  // The completion step runs once, when the last thread arrives: that instant
  // is the start of the measured interval for everyone.
  std::barrier ready(static_cast<std::ptrdiff_t>(T), [&]() noexcept { start = Clock::now(); });
  std::barrier started(static_cast<std::ptrdiff_t>(T) + 1);  // + the controller
  const auto duration_ns = static_cast<std::uint64_t>(cfg.duration_seconds * 1e9);

  std::exception_ptr failure;
  std::mutex failure_mutex;

  const auto share = [&](unsigned t) -> std::uint64_t {
    return cfg.ops / T + (t < cfg.ops % T ? 1 : 0);
  };
  const auto ns_between = [](std::uint64_t a, std::uint64_t b) -> std::uint64_t { return b > a ? b - a : 0; };

  // One worker: build its op, warm up, meet at the barrier, run the measured loop.
  auto worker = [&](unsigned t) {
    slot& s = slots[t];
    bool ok = true;
    std::uint64_t i = 0;
    auto fail = [&] {
      std::scoped_lock lock(failure_mutex);
      if (!failure) failure = std::current_exception();
      ok = false;
      stop.store(true, std::memory_order_relaxed);
    };
    std::optional<std::decay_t<decltype(make_worker(0u))>> op;
    double mean_gap = static_cast<double>(cfg.sample_every);
    try {
      op.emplace(make_worker(t));
      const std::uint64_t w0 = Clock::now();
      if (cfg.ops > 0) {
        const auto n = static_cast<std::uint64_t>(static_cast<double>(share(t)) * cfg.warmup_fraction);
        for (; i < n; ++i) (*op)(i);
      } else if (cfg.warmup_fraction > 0) {
        const std::uint64_t until =
            Clock::now() + static_cast<std::uint64_t>(1e9 * std::min(0.5, cfg.duration_seconds * cfg.warmup_fraction));
        while (Clock::now() < until)
          for (std::uint64_t k = 0; k < cfg.check_every; ++k) (*op)(i++);
      }
      if (!(mean_gap >= 1)) {
        const auto warm_ns = static_cast<double>(Clock::now() - w0);
        mean_gap = i > 0 ? detail_runner::sample_gap(warm_ns / static_cast<double>(i), timer.cost_ns) : 64;
      }
      if (cfg.rate <= 0) s.harness_ns = detail_runner::loop_cost_ns<Clock>();
    } catch (...) {
      fail();
    }
    if (!(mean_gap >= 1)) mean_gap = 64;
    s.warmup = i;
    s.mean_gap = mean_gap;
    gap_sampler gaps(mean_gap, detail::mix64(cfg.seed) + t);
    ready.arrive_and_wait();
    started.arrive_and_wait();
    const auto base = detail::counting_stats::local();
    std::uint64_t done = 0;
    auto timed_op = [&] {
      const std::uint64_t t0 = Clock::now();
      (*op)(i++);
      s.latency.record(ns_between(t0, Clock::now()));
    };
    // Untimed ops: the harness's per-op cost is what this loop adds
    // (measured above with loop_cost_ns, and by calibrate/null).
    auto untimed = [&](std::uint64_t n) { detail_runner::run_untimed(*op, i, n); };
    if (ok) {
      try {
        if (cfg.rate > 0) {
          precise_sleep_scope precise;
          // Open loop: this thread's op k is due at start + (k·T + t)/rate.
          const double period_ns = 1e9 * T / cfg.rate;
          const double offset_ns = 1e9 * t / cfg.rate;
          const auto due_of = [&](std::uint64_t k) {
            return start + static_cast<std::uint64_t>(offset_ns + period_ns * static_cast<double>(k));
          };
          const bool by_count = cfg.ops > 0;
          const std::uint64_t deadline = start + duration_ns;
          std::uint64_t k = 0;
          for (;; ++k) {
            if (by_count ? k >= share(t) : due_of(k) >= deadline) break;
            if (stop.load(std::memory_order_relaxed)) break;
            const std::uint64_t due = due_of(k);
            Clock::wait_until(due);
            const std::uint64_t begin = Clock::now();
            if (!by_count && begin >= deadline) break;  // the run is over: k and the rest are missed
            (*op)(i++);
            s.latency.record(ns_between(due, Clock::now()));
            const std::uint64_t lag = ns_between(due, begin);
            s.start_lag.record(lag);
            if (lag > cfg.late_ns) ++s.late;
            ++done;
          }
          // Everything due within the run counts, run or not.
          std::uint64_t scheduled = share(t);
          if (!by_count) {
            const double span = static_cast<double>(duration_ns) - offset_ns;
            scheduled = span > 0 ? static_cast<std::uint64_t>(std::ceil(span / period_ns)) : 0;
            while (scheduled > 0 && due_of(scheduled - 1) >= deadline) --scheduled;  // rounding, both ways
            while (due_of(scheduled) < deadline) ++scheduled;
          }
          scheduled = std::max(scheduled, done);
          s.scheduled = scheduled;
          s.missed = scheduled - done;
        } else if (cfg.ops > 0) {
          const std::uint64_t n = share(t);
          while (done < n) {
            const std::uint64_t run = std::min(gaps.next() - 1, n - done);
            untimed(run);
            done += run;
            if (done == n) break;
            timed_op();
            ++done;
          }
        } else {
          while (!stop.load(std::memory_order_relaxed)) {
            const std::uint64_t gap = gaps.next();
            untimed(gap - 1);
            timed_op();
            done += gap;
          }
        }
      } catch (...) {
        fail();
      }
    }
    s.end = Clock::now();
    s.measured = done;
    const auto& now = detail::counting_stats::local();
    s.contention.cas_failures = now.cas_failures - base.cas_failures;
    s.contention.spins = now.spins - base.spins;
    s.contention.waits = now.waits - base.waits;
  };

  std::vector<std::thread> pool;
  pool.reserve(T);
  for (unsigned t = 0; t < T; ++t) pool.emplace_back(worker, t);
  started.arrive_and_wait();
  if (cfg.ops == 0) {
    // Poll so that a worker's failure (which raises `stop`) ends the run early.
    const std::uint64_t deadline = start + duration_ns;
    while (!stop.load(std::memory_order_relaxed)) {
      const std::uint64_t now = Clock::now();
      if (now >= deadline) break;
      std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<std::uint64_t>(deadline - now, 20'000'000)));
    }
    stop.store(true, std::memory_order_relaxed);
  }
  for (auto& th : pool) th.join();
  if (failure) std::rethrow_exception(failure);

  measurement m;
  m.timer = timer;
  m.open_loop = cfg.rate > 0;
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
    m.mean_gap += m.open_loop ? 1.0 / T : s.mean_gap / T;
    if (!m.open_loop) m.harness_ns = (m.harness_ns < 0 ? 0 : m.harness_ns) + s.harness_ns / T;
    last = std::max(last, s.end);
  }
  m.seconds = static_cast<double>(last - start) * 1e-9;
  return m;
}

template <class MakeWorker>
measurement run_workers(const runner_config& cfg, MakeWorker&& make_worker) {
  return run_workers_on<steady_ns_clock>(cfg, std::forward<MakeWorker>(make_worker));
}

// The record every scenario returns: measurement + scenario metrics, with the
// contention counts added as `cas_failures_per_op`, `spins_per_op`, `waits_per_op`,
// the clock's figures and the sampling gap beside the percentiles, and in open
// loop `scheduled`, `late`, `missed` and the start-lag percentiles.
inline result_record make_record(const run_request& r, const measurement& m,
                                 nlohmann::json metrics = nlohmann::json::object()) {
  result_record rec;
  rec.scenario = r.scenario;
  rec.impl = r.impl;
  rec.threads = r.threads;
  rec.workload = r.workload;
  rec.repetition = r.repetition;
  rec.ops = m.ops;
  rec.seconds = m.seconds;
  rec.ops_per_sec = m.ops_per_sec();
  rec.latency = latency_summary::of(m.latency);
  rec.latency.samples = m.latency.count();
  rec.latency.mean_gap = m.mean_gap;
  // Measurements built by hand (not by run_workers) carry no timer figures: the process's.
  const timer_info timer = m.timer.cost_ns > 0 || m.timer.resolution_ns > 0 ? m.timer : steady_timer();
  rec.latency.timer_cost_ns = timer.cost_ns;
  rec.latency.timer_resolution_ns = timer.resolution_ns;
  if (!m.open_loop && m.ops > 0) {
    rec.latency.mean_ns = m.seconds * 1e9 * r.threads / static_cast<double>(m.ops);
    rec.latency.below_timer = rec.latency.mean_ns < below_timer_factor * timer.cost_ns;
    if (m.harness_ns >= 0) {
      metrics["harness_ns_per_op"] = m.harness_ns;
      metrics["net_ns_per_op"] = detail_runner::net_of_harness(rec.latency.mean_ns, m.harness_ns);
    }
  }
  if (m.open_loop) {
    metrics["scheduled"] = m.scheduled;
    metrics["late"] = m.late;
    metrics["missed"] = m.missed;
    metrics["start_lag_p50_ns"] = m.start_lag.percentile(0.5);
    metrics["start_lag_p99_ns"] = m.start_lag.percentile(0.99);
    metrics["start_lag_max_ns"] = m.start_lag.max();
  }
  const double per = m.ops ? 1.0 / static_cast<double>(m.ops) : 0.0;
  metrics["cas_failures_per_op"] = static_cast<double>(m.contention.cas_failures) * per;
  metrics["spins_per_op"] = static_cast<double>(m.contention.spins) * per;
  metrics["waits_per_op"] = static_cast<double>(m.contention.waits) * per;
  rec.metrics = std::move(metrics);
  return rec;
}

}  // namespace hotshard::harness
