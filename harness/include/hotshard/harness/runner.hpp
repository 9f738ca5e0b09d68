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
//     that only the controller writes, checked every `check_every` ops).
//  5. Each thread keeps its own op count, latency histogram and contention
//     counts (detail::counting_stats) in its own padded slot; they are merged
//     after all threads stopped, so the harness adds no shared writes to the
//     measured loop.
// Latency is sampled: one op in `sample_every` is timed in closed loop; with
// sample_every = 0 (the default) each thread picks the power of two, 1..4096,
// that keeps two clock reads per sample under ~1% of the op cost it measured
// in warm-up (64 when there was no warm-up to measure). In open
// loop (--rate) every op is scheduled at start + i·T/rate (threads staggered)
// and its latency counts from that intended start, so a stall shows up in
// the percentiles instead of silently delaying later requests (no
// coordinated omission).
#pragma once

#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/harness/histogram.hpp>
#include <hotshard/harness/scenario.hpp>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
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
  latency_histogram latency;      // sampled per-op latency, merged
  detail::contention_counts contention;  // counting_stats deltas over the measured loop, merged
  std::vector<std::uint64_t> ops_per_thread;  // measured + warm-up calls of each thread

  [[nodiscard]] std::uint64_t total_calls() const noexcept { return ops + warmup_ops; }
  [[nodiscard]] double ops_per_sec() const noexcept { return seconds > 0 ? ops / seconds : 0; }
};

struct runner_config {
  unsigned threads = 1;
  std::uint64_t ops = 0;            // total measured ops; 0 = stop by duration
  double duration_seconds = 1.0;
  double warmup_fraction = 0.1;     // of ops or of duration (duration warm-up capped at 0.5 s)
  double rate = 0;                  // open loop total ops/s; 0 = closed loop
  std::uint64_t sample_every = 0;   // closed loop: time one op in this many (power of two); 0 = adaptive
  std::uint64_t check_every = 64;   // duration mode: look at the stop flag every this many ops

  static runner_config from(const run_request& r) {
    runner_config c;
    c.threads = r.threads;
    c.ops = r.options.ops;
    c.duration_seconds = r.options.duration_seconds;
    c.rate = r.options.rate;
    return c;
  }
};

namespace detail_runner {
// What one steady_clock::now() costs here, measured once per process.
inline double clock_read_ns() {
  static const double ns = [] {
    using clock = std::chrono::steady_clock;
    constexpr int reads = 2000;
    // now() is an opaque call (vDSO): the compiler cannot drop the loop.
    const auto t0 = clock::now();
    for (int k = 0; k < reads; ++k) (void)clock::now();
    const auto t1 = clock::now();
    const double per = std::chrono::duration<double, std::nano>(t1 - t0).count() / (reads + 1);
    return per > 0 ? per : 1.0;
  }();
  return ns;
}

// The sampling period that keeps timing overhead near 1% of an op that
// costs `op_ns`: 2 clock reads + a histogram increment per sample.
inline std::uint64_t sample_period(double op_ns) {
  if (!(op_ns > 0)) return 64;
  const double want = (2.0 * clock_read_ns() + 2.0) / (0.01 * op_ns);
  std::uint64_t p = 1;
  while (p < 4096 && static_cast<double>(p) < want) p <<= 1;
  return p;
}
}  // namespace detail_runner

template <class MakeWorker>
measurement run_workers(const runner_config& cfg, MakeWorker&& make_worker) {
  using clock = std::chrono::steady_clock;
  const unsigned T = std::max(1u, cfg.threads);

  struct alignas(detail::prefetch_pair_bytes) slot {
    std::uint64_t measured = 0;
    std::uint64_t warmup = 0;
    clock::time_point end{};
    latency_histogram latency;
    detail::contention_counts contention;
  };
  std::vector<slot> slots(T);

  // Carries no data, only "stop now": every access is relaxed. The results
  // are published by join(), not by this flag.
  std::atomic<bool> stop{false};
  clock::time_point start{};
  // The completion step runs once, when the last thread arrives: that instant
  // is the start of the measured interval for everyone.
  std::barrier ready(static_cast<std::ptrdiff_t>(T), [&]() noexcept { start = clock::now(); });
  std::barrier started(static_cast<std::ptrdiff_t>(T) + 1);  // + the controller

  std::exception_ptr failure;
  std::mutex failure_mutex;

  const auto share = [&](unsigned t) -> std::uint64_t {
    return cfg.ops / T + (t < cfg.ops % T ? 1 : 0);
  };
  const auto ns_between = [](clock::time_point a, clock::time_point b) -> std::uint64_t {
    const auto d = std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count();
    return d > 0 ? static_cast<std::uint64_t>(d) : 0;
  };

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
    std::uint64_t sample_every = cfg.sample_every;
    try {
      op.emplace(make_worker(t));
      const auto w0 = clock::now();
      if (cfg.ops > 0) {
        const auto n = static_cast<std::uint64_t>(static_cast<double>(share(t)) * cfg.warmup_fraction);
        for (; i < n; ++i) (*op)(i);
      } else if (cfg.warmup_fraction > 0) {
        const auto until = clock::now() + std::chrono::duration<double>(
                                              std::min(0.5, cfg.duration_seconds * cfg.warmup_fraction));
        while (clock::now() < until)
          for (std::uint64_t k = 0; k < cfg.check_every; ++k) (*op)(i++);
      }
      if (sample_every == 0) {
        const double warm_ns = std::chrono::duration<double, std::nano>(clock::now() - w0).count();
        sample_every = i > 0 ? detail_runner::sample_period(warm_ns / static_cast<double>(i)) : 64;
      }
    } catch (...) {
      fail();
    }
    if (sample_every == 0 || (sample_every & (sample_every - 1)) != 0) sample_every = 64;
    s.warmup = i;
    ready.arrive_and_wait();
    started.arrive_and_wait();
    const auto base = detail::counting_stats::local();
    std::uint64_t done = 0;
    auto timed_op = [&] {
      const auto t0 = clock::now();
      (*op)(i++);
      s.latency.record(ns_between(t0, clock::now()));
    };
    if (ok) {
      try {
        if (cfg.rate > 0) {
          // Open loop: this thread's op k is due at start + (k·T + t)/rate.
          const double period_ns = 1e9 * T / cfg.rate;
          const double offset_ns = 1e9 * t / cfg.rate;
          for (std::uint64_t k = 0;; ++k) {
            if (cfg.ops > 0 ? k >= share(t) : stop.load(std::memory_order_relaxed)) break;
            const auto due = start + std::chrono::nanoseconds(
                                         static_cast<std::int64_t>(offset_ns + period_ns * static_cast<double>(k)));
            while (clock::now() < due) {
              if (due - clock::now() > std::chrono::microseconds(50))
                std::this_thread::sleep_for(std::chrono::microseconds(20));
              if (cfg.ops == 0 && stop.load(std::memory_order_relaxed)) break;
            }
            if (cfg.ops == 0 && stop.load(std::memory_order_relaxed)) break;
            (*op)(i++);
            s.latency.record(ns_between(due, clock::now()));
            ++done;
          }
        } else if (cfg.ops > 0) {
          // One timed op, then a run of untimed ones in a loop with no branch
          // but its own bound: the harness's per-op cost is an increment and
          // a compare (see calibrate/null).
          const std::uint64_t n = share(t);
          while (done < n) {
            timed_op();
            const std::uint64_t run = std::min(sample_every - 1, n - done - 1);
            for (std::uint64_t j = 0; j < run; ++j) (*op)(i + j);
            i += run;
            done += run + 1;
          }
        } else {
          // Blocks of whole sampling periods, at least check_every ops each,
          // between two looks at the stop flag.
          const std::uint64_t periods = std::max<std::uint64_t>(1, (cfg.check_every + sample_every - 1) / sample_every);
          while (!stop.load(std::memory_order_relaxed)) {
            for (std::uint64_t b = 0; b < periods; ++b) {
              timed_op();
              for (std::uint64_t j = 0; j < sample_every - 1; ++j) (*op)(i + j);
              i += sample_every - 1;
            }
            done += periods * sample_every;
          }
        }
      } catch (...) {
        fail();
      }
    }
    s.end = clock::now();
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
    const auto deadline = start + std::chrono::duration_cast<clock::duration>(
                                      std::chrono::duration<double>(cfg.duration_seconds));
    while (!stop.load(std::memory_order_relaxed)) {
      const auto now = clock::now();
      if (now >= deadline) break;
      std::this_thread::sleep_for(std::min<clock::duration>(deadline - now, std::chrono::milliseconds(20)));
    }
    stop.store(true, std::memory_order_relaxed);
  }
  for (auto& th : pool) th.join();
  if (failure) std::rethrow_exception(failure);

  measurement m;
  clock::time_point last = start;
  for (const auto& s : slots) {
    m.ops += s.measured;
    m.warmup_ops += s.warmup;
    m.latency.merge(s.latency);
    m.contention += s.contention;
    m.ops_per_thread.push_back(s.measured + s.warmup);
    last = std::max(last, s.end);
  }
  m.seconds = std::chrono::duration<double>(last - start).count();
  return m;
}

// The record every scenario returns: measurement + scenario metrics, with the
// contention counts added as `cas_failures_per_op`, `spins_per_op`, `waits_per_op`.
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
  const double per = m.ops ? 1.0 / static_cast<double>(m.ops) : 0.0;
  metrics["cas_failures_per_op"] = static_cast<double>(m.contention.cas_failures) * per;
  metrics["spins_per_op"] = static_cast<double>(m.contention.spins) * per;
  metrics["waits_per_op"] = static_cast<double>(m.contention.waits) * per;
  rec.metrics = std::move(metrics);
  return rec;
}

}  // namespace hotshard::harness
