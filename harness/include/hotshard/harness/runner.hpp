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
// Op-indexed replay (replay_workers): one time-ordered stream of --ops
// operations, thread t running global ops t, t+T, t+2T, ... and no warm-up;
// the loops are the ones above.
// Each stretch of a worker's life (warm-up, closed loop by count or until
// stopped, open loop) is one function in runner_loops.hpp; this file wires
// them to the threads, the barrier and the controller.
// The clock is a template parameter of run_workers_on (see timing.hpp), so a
// test can drive the runner with a virtual clock.
//
// Progress: run_workers blocks until every worker stopped (it owns the
// threads). Memory ordering: the stop flag is relaxed (it carries no data);
// each thread's results are published to the caller by join().
#pragma once

#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/detail/hash.hpp>
#include <hotshard/harness/runner_loops.hpp>
#include <hotshard/harness/scenario.hpp>
#include <hotshard/harness/timing.hpp>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <vector>

namespace hotshard::harness {

// Runs the workers on `Clock` (timing.hpp). Duration mode also needs Clock to
// be one clock for all threads; tests with a per-thread virtual clock use ops mode.
template <class Clock, class MakeWorker>
measurement run_workers_on(const runner_config& cfg, MakeWorker&& make_worker) {
  namespace dr = detail_runner;
  const unsigned T = std::max(1u, cfg.threads);
  const timer_info timer = dr::measure_run_timer<Clock>();
  std::vector<dr::worker_slot> slots(T);

  // Carries no data, only "stop now": every access is relaxed. The results
  // are published by join(), not by this flag.
  std::atomic<bool> stop{false};
  std::uint64_t start = 0;
  // The completion step runs once, when the last thread arrives: that instant
  // is the start of the measured interval for everyone (and cfg.on_start's).
  std::barrier ready(static_cast<std::ptrdiff_t>(T), [&]() noexcept {
    start = Clock::now();
    if (cfg.on_start) cfg.on_start();
  });
  std::barrier started(static_cast<std::ptrdiff_t>(T) + 1);  // + the controller
  const auto duration_ns = static_cast<std::uint64_t>(cfg.duration_seconds * 1e9);

  std::exception_ptr failure;
  std::mutex failure_mutex;
  // Runs `step`; a throw is kept for the caller (the first one) and stops the run.
  const auto guarded = [&](auto&& step) {
    try {
      step();
      return true;
    } catch (...) {
      std::scoped_lock lock(failure_mutex);
      if (!failure) failure = std::current_exception();
      stop.store(true, std::memory_order_relaxed);
      return false;
    }
  };

  // One worker: build its op, warm up, meet at the barrier, run the measured loop.
  auto worker = [&](unsigned t) {
    dr::worker_slot& s = slots[t];
    const std::uint64_t share = dr::share_of(cfg, T, t);
    std::optional<std::decay_t<decltype(make_worker(0u))>> op;
    std::uint64_t i = 0;
    const bool ok = guarded([&] {
      op.emplace(make_worker(t));
      s.mean_gap = dr::warm_up<Clock>(cfg, share, *op, i, timer);
      if (cfg.rate <= 0) s.harness_ns = dr::loop_cost_ns<Clock>();
    });
    if (!(s.mean_gap >= 1)) s.mean_gap = 64;
    s.warmup = i;
    gap_sampler gaps(s.mean_gap, detail::mix64(cfg.seed) + t);
    ready.arrive_and_wait();
    started.arrive_and_wait();
    const auto base = detail::counting_stats::local();
    if (ok) {
      guarded([&] {
        if (cfg.rate > 0) {
          const dr::open_schedule plan(cfg, T, t, start);
          s.measured = dr::open_loop<Clock>(cfg, plan, share, start + duration_ns, stop, *op, i, s);
        } else if (cfg.ops > 0) {
          s.measured = dr::closed_loop_count<Clock>(*op, i, share, gaps, s.latency);
        } else {
          s.measured = dr::closed_loop_until_stop<Clock>(*op, i, stop, gaps, s.latency);
        }
      });
    }
    s.end = Clock::now();
    s.contention = dr::contention_since(base);
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
  return dr::merge(slots, timer, cfg.rate > 0, start);
}

template <class MakeWorker>
measurement run_workers(const runner_config& cfg, MakeWorker&& make_worker) {
  return run_workers_on<steady_ns_clock>(cfg, std::forward<MakeWorker>(make_worker));
}

// Op-indexed replay of one time-ordered stream of cfg.ops operations: thread
// t's i-th op is op(g) with g = i·T + t, so the T threads together run global
// ops 0 .. cfg.ops-1, each once, as if they took turns. make_op(t) returns
// thread t's op(g). No warm-up (it would run ops out of the stream's order);
// otherwise cfg's loop (closed or open) as run_workers. The g arithmetic is
// part of the op, not of the harness cost subtracted (one multiply-add).
// std::logic_error if cfg.ops is 0: a replay has a length.
template <class Clock, class MakeOp>
measurement replay_workers_on(runner_config cfg, MakeOp&& make_op) {
  if (cfg.ops == 0) throw std::logic_error("replay_workers: cfg.ops must be > 0 (the stream's length)");
  cfg.warmup_fraction = 0;
  const std::uint64_t T = std::max(1u, cfg.threads);
  return run_workers_on<Clock>(cfg, [&](unsigned t) {
    return [op = make_op(t), T, t](std::uint64_t i) mutable { op(i * T + t); };
  });
}

template <class MakeOp>
measurement replay_workers(const runner_config& cfg, MakeOp&& make_op) {
  return replay_workers_on<steady_ns_clock>(cfg, std::forward<MakeOp>(make_op));
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
