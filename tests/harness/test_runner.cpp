// run_workers: exact op counts, every thread released, exceptions propagated.
#include <hotshard/harness/runner.hpp>

#include <gtest/gtest.h>

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
