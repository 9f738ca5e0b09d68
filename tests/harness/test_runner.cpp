// run_workers: exact op counts, every thread released, exceptions propagated;
// with a virtual clock (ops advance it; no wall-time thresholds): sampling
// that does not alias with an op's own cycle, and open-loop latency that
// charges a stall to every op it delayed and counts every scheduled op; and
// the op-indexed replay, which runs each global op once on the thread whose turn it is.
#include <hotshard/harness/runner.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <stdexcept>
#include <vector>

using namespace hotshard::harness;

TEST(runner, ops_mode_runs_exactly_the_requested_operations_over_many_threads) {
  for (unsigned threads : {1u, 3u, 16u}) {
    runner_config cfg;
    cfg.threads = threads;
    cfg.ops = 100'003;  // not a multiple of the thread count
    std::vector<std::uint64_t> calls(threads, 0);
    std::vector<std::uint64_t> highest(threads, 0);
    const auto m = run_workers(cfg, [&](unsigned t) {
      return [&, t](std::uint64_t i) {
        ++calls[t];  // each thread touches only its own slot
        highest[t] = i;
      };
    });
    EXPECT_EQ(m.ops, 100'003u) << threads;
    std::uint64_t total = 0;
    for (unsigned t = 0; t < threads; ++t) {
      total += calls[t];
      EXPECT_EQ(m.ops_per_thread[t], calls[t]);
      EXPECT_EQ(highest[t] + 1, calls[t]);  // i counts 0, 1, 2, ... through warm-up and measured loop
    }
    EXPECT_EQ(total, m.total_calls());
    EXPECT_GT(m.warmup_ops, 0u);
    EXPECT_GT(m.latency.count(), 0u);
  }
}

TEST(runner, duration_mode_releases_every_thread_even_above_the_core_count) {
  runner_config cfg;
  cfg.threads = 64;
  cfg.duration_seconds = 0.05;
  std::atomic<unsigned> built{0};
  std::vector<std::uint64_t> calls(64, 0);
  const auto m = run_workers(cfg, [&](unsigned t) {
    built.fetch_add(1, std::memory_order_relaxed);
    return [&calls, t](std::uint64_t) { ++calls[t]; };
  });
  EXPECT_EQ(built.load(), 64u);
  ASSERT_EQ(m.ops_per_thread.size(), 64u);
  std::uint64_t total = 0;
  for (auto c : calls) total += c;
  EXPECT_EQ(total, m.total_calls());
  EXPECT_GT(m.seconds, 0.0);
}

// on_start is the instant the clock starts: once, after every thread's
// warm-up and before any measured op, so a counter snapshot taken there
// splits a run's calls into warm-up and measured exactly.
TEST(runner, on_start_runs_once_between_the_warm_up_and_the_measured_ops) {
  for (const bool by_duration : {false, true}) {
    runner_config cfg;
    cfg.threads = 8;  // more than the cores
    if (by_duration) {
      cfg.duration_seconds = 0.05;
    } else {
      cfg.ops = 80000;
    }
    std::vector<std::atomic<std::uint64_t>> calls(8);
    unsigned starts = 0;
    std::uint64_t at_start = 0;
    cfg.on_start = [&] {
      ++starts;
      for (auto& c : calls) at_start += c.load(std::memory_order_relaxed);
    };
    const auto m = run_workers(cfg, [&](unsigned t) {
      return [&calls, t](std::uint64_t) { calls[t].fetch_add(1, std::memory_order_relaxed); };
    });
    EXPECT_EQ(starts, 1u) << by_duration;
    EXPECT_GT(m.warmup_ops, 0u) << by_duration;
    EXPECT_EQ(at_start, m.warmup_ops) << by_duration;
  }
}

TEST(runner, an_exception_from_an_operation_reaches_the_caller) {
  runner_config cfg;
  cfg.threads = 8;
  cfg.ops = 10'000;
  EXPECT_THROW(
      (void)run_workers(cfg, [](unsigned t) {
        return [t](std::uint64_t i) {
          if (t == 5 && i == 700) throw std::runtime_error("op failed");
        };
      }),
      std::runtime_error);
}

TEST(runner, an_exception_from_worker_setup_reaches_the_caller_in_duration_mode) {
  runner_config cfg;
  cfg.threads = 4;
  cfg.duration_seconds = 30;  // the failure must end the run long before this
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW((void)run_workers(cfg,
                                 [](unsigned t) {
                                   if (t == 2) throw run_failure("setup failed");
                                   return [](std::uint64_t) {};
                                 }),
               run_failure);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));  // hang guard, not a speed claim
}

TEST(runner, open_loop_runs_the_requested_count_and_times_every_operation) {
  runner_config cfg;
  cfg.threads = 2;
  cfg.ops = 400;
  cfg.rate = 100'000;  // 4 ms of schedule
  std::vector<std::uint64_t> calls(2, 0);
  const auto m = run_workers(cfg, [&](unsigned t) { return [&calls, t](std::uint64_t) { ++calls[t]; }; });
  EXPECT_EQ(m.ops, 400u);
  EXPECT_EQ(m.latency.count(), 400u);
  EXPECT_EQ(calls[0] + calls[1], m.total_calls());
}

TEST(runner, make_record_reports_contention_per_operation) {
  runner_config cfg;
  cfg.threads = 2;
  cfg.ops = 1000;
  const auto m = run_workers(cfg, [](unsigned) {
    return [](std::uint64_t) { hotshard::detail::counting_stats::cas_failure(); };
  });
  run_options o;
  const run_request req{o, "x", "y", 2, 0, "uniform:n=1", 1};
  const auto rec = make_record(req, m);
  EXPECT_DOUBLE_EQ(rec.metrics["cas_failures_per_op"].get<double>(), 1.0);  // warm-up excluded
  EXPECT_EQ(rec.ops, 1000u);
}

namespace {
// Virtual time that only ops move: what the runner measures is then exact.
struct virtual_clock {
  static inline std::atomic<std::uint64_t> t{0};
  static std::uint64_t now() noexcept { return t.load(std::memory_order_relaxed); }
  static void wait_until(std::uint64_t x) noexcept {
    if (now() < x) t.store(x, std::memory_order_relaxed);
  }
  static void advance(std::uint64_t d) noexcept { t.fetch_add(d, std::memory_order_relaxed); }
};
}  // namespace

TEST(runner_sampling, an_op_slow_at_every_32nd_position_shows_at_its_true_share) {
  // Like a queue that allocates a block every 32 pushes: a fixed stride of 64
  // would time either every slow op or none of them.
  virtual_clock::t = 0;
  runner_config cfg;
  cfg.threads = 1;
  cfg.ops = 64 * 8192;
  cfg.warmup_fraction = 0;
  cfg.sample_every = 64;
  const auto m = run_workers_on<virtual_clock>(cfg, [](unsigned) {
    return [](std::uint64_t i) { virtual_clock::advance(i % 32 == 0 ? 1000 : 10); };
  });
  ASSERT_EQ(m.ops, cfg.ops);
  const double samples = static_cast<double>(m.latency.count());
  EXPECT_NEAR(samples, static_cast<double>(cfg.ops) / 64, 0.05 * static_cast<double>(cfg.ops) / 64);
  const double slow_share = static_cast<double>(m.latency.count_at_least(1000)) / samples;
  EXPECT_NEAR(slow_share, 1.0 / 32, 0.2 / 32);
  EXPECT_EQ(m.latency.percentile(0.5), 10u);
  EXPECT_EQ(m.latency.percentile(0.99), 1000u);  // 3.1% of ops are slow: p99 is one of them
  // Throughput is exact too: the run took the sum of the op costs.
  EXPECT_DOUBLE_EQ(m.seconds, static_cast<double>(cfg.ops / 32 * (31 * 10 + 1000)) * 1e-9);
  EXPECT_DOUBLE_EQ(m.mean_gap, 64.0);
}

TEST(runner_open_loop, a_stall_delays_every_op_due_during_it_and_each_one_counts) {
  // Ops due every 1000 ns, each costs 500 ns; op 500 stalls 100 us. The 199
  // ops due during the stall start late, queued behind it: their latencies
  // from the intended start fall from 100 us to 1 us in steps of 500 ns. A
  // closed-loop (coordinated-omission) measurement would show one slow op.
  virtual_clock::t = 0;
  runner_config cfg;
  cfg.threads = 1;
  cfg.ops = 10'000;
  cfg.rate = 1e6;
  cfg.warmup_fraction = 0;
  const auto m = run_workers_on<virtual_clock>(cfg, [](unsigned) {
    return [](std::uint64_t i) { virtual_clock::advance(i == 500 ? 100'500 : 500); };
  });
  EXPECT_EQ(m.ops, 10'000u);
  EXPECT_EQ(m.latency.count(), 10'000u);  // every op, not a sample
  EXPECT_EQ(m.latency.count_at_least(1000), 200u);  // the stalled op + the 199 it delayed: 2% of ops
  EXPECT_EQ(m.latency.max(), 100'500u);
  // p99 is the 101st largest latency: 100500 - 100 x 500.
  EXPECT_GE(m.latency.percentile(0.99), 50'500u);
  EXPECT_LE(static_cast<double>(m.latency.percentile(0.99)), 50'500 * (1 + latency_histogram::relative_error));
  EXPECT_LE(static_cast<double>(m.latency.percentile(0.9)), 500 * (1 + latency_histogram::relative_error));
  EXPECT_EQ(m.scheduled, 10'000u);
  EXPECT_EQ(m.missed, 0u);
  EXPECT_EQ(m.late, 197u);  // start lag 100000 - 500 j > 1000 ns for j = 1..197
  EXPECT_EQ(m.start_lag.count_at_least(1), 199u);  // the others start exactly when due: the wait is precise
}

TEST(runner_open_loop, ops_still_due_when_the_run_ends_are_reported_as_missed) {
  // 1 ms of schedule at 1 op/us = 1000 ops. Op 100 stalls 500 us; the backlog
  // drains at 500 ns per op and the run ends with 100 ops never started.
  virtual_clock::t = 0;
  runner_config cfg;
  cfg.threads = 1;
  cfg.duration_seconds = 1e-3;
  cfg.rate = 1e6;
  cfg.warmup_fraction = 0;
  const auto m = run_workers_on<virtual_clock>(cfg, [](unsigned) {
    return [](std::uint64_t i) { virtual_clock::advance(i == 100 ? 500'500 : 500); };
  });
  EXPECT_EQ(m.scheduled, 1000u);
  EXPECT_EQ(m.ops, 900u);  // ops 0..899 started before the end
  EXPECT_EQ(m.missed, 100u);
  EXPECT_EQ(m.late, 799u);
  EXPECT_EQ(m.scheduled, m.ops + m.missed);
}

TEST(runner, make_record_puts_the_clock_figures_beside_the_percentiles) {
  runner_config cfg;
  cfg.threads = 1;
  cfg.ops = 5000;
  const auto m = run_workers(cfg, [](unsigned) { return [](std::uint64_t i) { asm volatile("" : : "r"(i)); }; });
  run_options o;
  const run_request req{o, "x", "y", 1, 0, "none", 1};
  const auto rec = make_record(req, m);
  EXPECT_GT(rec.latency.timer_cost_ns, 0.0);
  EXPECT_GT(rec.latency.mean_ns, 0.0);
  EXPECT_EQ(rec.latency.samples, m.latency.count());
  EXPECT_EQ(rec.latency.below_timer, rec.latency.mean_ns < below_timer_factor * rec.latency.timer_cost_ns);
}

// --- the harness's own cost, measured and subtracted (no wall time) ---

TEST(runner_harness_cost, net_is_the_mean_less_the_loop_and_never_negative) {
  EXPECT_DOUBLE_EQ(detail_runner::net_of_harness(0.75, 0.25), 0.5);
  EXPECT_DOUBLE_EQ(detail_runner::net_of_harness(10.0, 0.0), 10.0);
  EXPECT_DOUBLE_EQ(detail_runner::net_of_harness(0.1, 0.25), 0.0);   // noise: a loop dearer than the op
  EXPECT_DOUBLE_EQ(detail_runner::net_of_harness(2.0, -1.0), 2.0);   // not measured: nothing subtracted
  EXPECT_DOUBLE_EQ(detail_runner::harness_share(0.5, 0.125), 0.25);
  EXPECT_DOUBLE_EQ(detail_runner::harness_share(0.1, 0.25), 1.0);
  EXPECT_DOUBLE_EQ(detail_runner::harness_share(0.0, 0.25), 0.0);
}

namespace {
// A clock whose k-th batch (two reads) spans spans[k] ns: loop_cost_ns must
// divide by the batch and keep the cheapest batch.
struct scripted_clock {
  static inline std::uint64_t spans[5] = {9000, 4096, 65536, 8192, 5000};
  static inline std::uint64_t reads = 0, t = 0;
  static std::uint64_t now() noexcept {
    const std::uint64_t k = reads++;
    if (k % 2 == 1) t += spans[(k / 2) % 5];
    return t;
  }
  static void wait_until(std::uint64_t) noexcept {}
};
}  // namespace

TEST(runner_harness_cost, the_loop_cost_is_the_cheapest_batch_divided_by_its_ops) {
  scripted_clock::reads = 0;
  EXPECT_DOUBLE_EQ(detail_runner::loop_cost_ns<scripted_clock>(4096, 5), 1.0);  // 4096 ns / 4096 ops
  EXPECT_EQ(scripted_clock::reads, 10u);                                         // 5 batches, 2 reads each
}

TEST(runner_harness_cost, a_record_carries_the_loop_cost_and_the_op_net_of_it) {
  measurement m;
  m.ops = 1000;
  m.seconds = 1e-6;  // 1 ns per op at 1 thread
  m.harness_ns = 0.25;
  run_options o;
  const run_request req{o, "x", "y", 1, 0, "none", 1};
  auto rec = make_record(req, m);
  EXPECT_DOUBLE_EQ(rec.latency.mean_ns, 1.0);
  EXPECT_DOUBLE_EQ(rec.metrics.at("harness_ns_per_op").get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(rec.metrics.at("net_ns_per_op").get<double>(), 0.75);

  m.harness_ns = -1;  // built by hand, not by the runner: nothing claimed
  rec = make_record(req, m);
  EXPECT_FALSE(rec.metrics.contains("net_ns_per_op"));
  m.harness_ns = 0.25;
  m.open_loop = true;  // every op waits for its due time: no loop cost to speak of
  rec = make_record(req, m);
  EXPECT_FALSE(rec.metrics.contains("harness_ns_per_op"));
}

TEST(runner_harness_cost, the_runner_measures_its_loop_on_its_own_clock) {
  // On the virtual clock empty ops take no time: the loop costs exactly 0 and
  // the net figure is the whole mean (10 ns per op, moved by the op itself).
  // One thread: the virtual clock is global, another thread's ops would move it.
  runner_config cfg;
  cfg.threads = 1;
  cfg.ops = 2000;
  cfg.sample_every = 8;
  const auto m = run_workers_on<virtual_clock>(cfg, [](unsigned) {
    return [](std::uint64_t) { virtual_clock::advance(10); };
  });
  EXPECT_DOUBLE_EQ(m.harness_ns, 0.0);
  run_options o;
  const run_request req{o, "x", "y", 1, 0, "none", 1};
  const auto rec = make_record(req, m);
  EXPECT_NEAR(rec.latency.mean_ns, 10.0, 1e-9);
  EXPECT_DOUBLE_EQ(rec.metrics.at("harness_ns_per_op").get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(rec.metrics.at("net_ns_per_op").get<double>(), rec.latency.mean_ns);
}

// --- op-indexed replay: one time-ordered stream shared by the threads ---

TEST(runner_replay, every_global_op_runs_once_on_the_thread_whose_turn_it_is) {
  for (unsigned threads : {1u, 3u, 8u}) {
    runner_config cfg;
    cfg.threads = threads;
    cfg.ops = 10'007;  // not a multiple of the thread count
    cfg.warmup_fraction = 0.5;  // ignored: a warm-up would run ops out of the stream's order
    std::vector<std::vector<std::uint64_t>> seen(threads);
    const auto m = replay_workers(cfg, [&](unsigned t) {
      return [&seen, t](std::uint64_t g) { seen[t].push_back(g); };  // each thread touches only its own vector
    });
    EXPECT_EQ(m.ops, cfg.ops) << threads;
    EXPECT_EQ(m.warmup_ops, 0u) << threads;
    std::vector<int> runs(cfg.ops, 0);
    for (unsigned t = 0; t < threads; ++t) {
      for (std::size_t i = 0; i < seen[t].size(); ++i) {
        EXPECT_EQ(seen[t][i], i * threads + t) << "thread " << t << " runs g = i*T + t, in order";
        if (seen[t][i] < cfg.ops) ++runs[seen[t][i]];
      }
    }
    EXPECT_EQ(std::count(runs.begin(), runs.end(), 1), static_cast<std::ptrdiff_t>(cfg.ops)) << threads;
  }
}

TEST(runner_replay, a_replay_without_a_length_is_a_caller_bug) {
  runner_config cfg;
  cfg.ops = 0;
  EXPECT_THROW((void)replay_workers(cfg, [](unsigned) { return [](std::uint64_t) {}; }), std::logic_error);
}

TEST(runner_open_loop, a_thread_with_no_share_of_the_ops_runs_none) {
  // 3 ops over 4 threads: thread 3's share is 0, and it must not fall back to
  // running until the duration ends.
  runner_config cfg;
  cfg.threads = 4;
  cfg.ops = 3;
  cfg.rate = 1e6;
  cfg.duration_seconds = 30;  // what a thread that ignored its count would run for
  std::vector<std::uint64_t> calls(4, 0);
  const auto m = run_workers(cfg, [&](unsigned t) { return [&calls, t](std::uint64_t) { ++calls[t]; }; });
  EXPECT_EQ(m.ops, 3u);
  EXPECT_EQ(calls[3], 0u);
  EXPECT_EQ(m.scheduled, 3u);
}
