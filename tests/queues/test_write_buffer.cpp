#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/write_buffer.hpp>
#include <hotshard/test/support.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <map>
#include <functional>
#include <mutex>
#include <span>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

using hotshard::backpressure;
using hotshard::sink_failure_policy;
using hotshard::write_buffer;
using hotshard::write_buffer_config;

namespace {

using hotshard::test::sanitizer_scale;

using config = write_buffer_config<std::uint64_t, std::int64_t>;

// A sink that records every call; thread-safe.
struct recording_sink {
  std::mutex m;
  std::vector<std::pair<std::uint64_t, std::int64_t>> calls;
  std::map<std::uint64_t, std::int64_t> totals;
  bool operator()(std::uint64_t k, std::int64_t d) {
    std::lock_guard lock(m);
    calls.emplace_back(k, d);
    totals[k] += d;
    return true;
  }
  auto fn() {
    return [this](const std::uint64_t& k, const std::int64_t& d) { return (*this)(k, d); };
  }
};

config manual(std::size_t capacity = 64) {
  config c;
  c.capacity = capacity;
  c.drain_thread = false;
  return c;
}

}  // namespace

// A bad configuration throws std::invalid_argument naming the field.
std::string rejection_of(config c) {
  try {
    write_buffer<std::uint64_t, std::int64_t> wb([](const std::uint64_t&, const std::int64_t&) { return true; },
                                                 std::move(c));
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "accepted";
}

TEST(write_buffer, rejects_bad_sizes_rates_bursts_and_backoffs_naming_the_field) {
  const auto with = [](auto set) {
    config c = manual();
    set(c);
    return rejection_of(c);
  };
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  EXPECT_NE(with([](config& c) { c.capacity = 0; }).find("capacity"), std::string::npos);
  EXPECT_NE(with([](config& c) { c.capacity = 6; }).find("capacity"), std::string::npos);
  EXPECT_NE(with([](config& c) { c.capacity = std::size_t{1} << 62; }).find("capacity"), std::string::npos);
  EXPECT_NE(with([](config& c) { c.batch_size = 65; }).find("batch_size"), std::string::npos);  // capacity 64
  for (const double bad : {nan, -1.0, inf}) {
    EXPECT_NE(with([&](config& c) { c.rate_per_sec = bad; }).find("rate_per_sec"), std::string::npos) << bad;
    EXPECT_NE(with([&](config& c) { c.burst = bad; }).find("burst"), std::string::npos) << bad;
  }
  // A bucket that cannot hold one token would never let a call through.
  EXPECT_NE(with([](config& c) { c.rate_per_sec = 10, c.burst = 0.5; }).find("burst"), std::string::npos);
  EXPECT_NE(with([](config& c) { c.retry_backoff = std::chrono::nanoseconds(-1); }).find("retry_backoff"),
            std::string::npos);
  EXPECT_NE(with([](config& c) { c.on_full = static_cast<backpressure>(9); }).find("on_full"), std::string::npos);
  EXPECT_NE(with([](config& c) { c.on_sink_failure = static_cast<sink_failure_policy>(9); }).find("on_sink_failure"),
            std::string::npos);
  EXPECT_EQ(with([](config& c) { c.rate_per_sec = 1e-300; }), "accepted");  // tiny but valid
}

TEST(write_buffer, a_batch_size_above_capacity_is_rejected_not_lowered) {
  // Issue 16: no silent clamp. The old code lowered 2^40 to the capacity.
  auto c = manual(8);
  c.batch_size = std::size_t{1} << 40;
  EXPECT_NE(rejection_of(c).find("batch_size"), std::string::npos);
  c.batch_size = 9;
  EXPECT_NE(rejection_of(c).find("batch_size"), std::string::npos);
  c.batch_size = 0;  // the default: min(256, capacity)
  {
    write_buffer<std::uint64_t, std::int64_t> defaulted([](const std::uint64_t&, const std::int64_t&) { return true; }, c);
    EXPECT_EQ(defaulted.config().batch_size, 8u);
  }
  c.batch_size = 8;  // a whole queue per batch is fine
  recording_sink sink;
  write_buffer<std::uint64_t, std::int64_t> wb(sink.fn(), c);
  EXPECT_EQ(wb.config().batch_size, 8u);
  ASSERT_TRUE(wb.write(1, 2));
  wb.flush();
  EXPECT_EQ(sink.totals[1], 2);
}

// Defect 12: the drainer (its own thread, or flush() when caller-driven) used
// to read retry_pending_ and tokens_ after dropping the drain mutex, while a
// help_drain writer holding it wrote them. A sink that refuses every other
// call and a token bucket that keeps running dry make both paths run; TSan
// reports the race on the old code. The asserts: nothing lost.
void drainer_and_helpers_share_state_safely(bool drain_thread) {
  std::mutex m;
  std::int64_t total = 0;
  int calls = 0;
  auto c = manual(4);
  c.drain_thread = drain_thread;
  c.batch_size = 2;
  c.on_full = backpressure::help_drain;
  c.rate_per_sec = 200'000;  // real clock: the bucket (burst 1) runs dry every call
  c.burst = 1;
  c.retry_backoff = std::chrono::microseconds(20);  // the drainer sleeps, unlocked, while helpers drain
  {
    write_buffer<std::uint64_t, std::int64_t> wb(
        [&](std::uint64_t, std::int64_t d) {
          std::lock_guard lock(m);
          if (++calls % 2 == 0) return false;  // refused: the entry is retried
          total += d;
          return true;
        },
        c);
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; ++t)
      writers.emplace_back([&wb, t] {
        for (int i = 0; i < 150; ++i) EXPECT_TRUE(wb.write(static_cast<std::uint64_t>(t), 1));
      });
    std::atomic<bool> written{false};
    std::thread flusher([&] {
      while (!written.load(std::memory_order_acquire)) wb.flush();
    });
    for (auto& w : writers) w.join();
    written.store(true, std::memory_order_release);
    flusher.join();
    wb.flush();
    EXPECT_EQ(wb.stats().failed, 0u);
  }
  EXPECT_EQ(total, 600);
}

TEST(write_buffer, drain_thread_and_help_drain_writers_share_retry_and_token_state_without_a_race) {
  drainer_and_helpers_share_state_safely(true);
}
TEST(write_buffer, flush_and_help_drain_writers_share_retry_and_token_state_without_a_race) {
  drainer_and_helpers_share_state_safely(false);
}

TEST(write_buffer, combines_deltas_of_one_key_within_a_batch) {
  recording_sink sink;
  write_buffer<std::uint64_t, std::int64_t> wb(sink.fn(), manual());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(wb.write(1, 2));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(wb.write(7, -1));
  EXPECT_EQ(wb.drain(), 15u);
  ASSERT_EQ(sink.calls.size(), 2u);
  EXPECT_EQ(sink.calls[0], std::make_pair(std::uint64_t{1}, std::int64_t{20}));
  EXPECT_EQ(sink.calls[1], std::make_pair(std::uint64_t{7}, std::int64_t{-5}));
  const auto s = wb.stats();
  EXPECT_EQ(s.accepted, 15u);
  EXPECT_EQ(s.combined, 13u);
  EXPECT_EQ(s.applied, 2u);
  EXPECT_EQ(s.applied_writes, 15u);
  EXPECT_EQ(s.lag, 0u);
  EXPECT_EQ(s.max_depth, 15u);
}

TEST(write_buffer, last_writer_wins_keeps_the_latest_delta_in_queue_order) {
  recording_sink sink;
  write_buffer<std::uint64_t, std::int64_t, hotshard::combine_last> wb(sink.fn(), manual());
  for (std::int64_t d : {5, 9, 3}) ASSERT_TRUE(wb.write(1, d));
  wb.flush();
  ASSERT_EQ(sink.calls.size(), 1u);
  EXPECT_EQ(sink.calls[0].second, 3);
}

TEST(write_buffer, max_combine_keeps_the_largest_delta) {
  recording_sink sink;
  write_buffer<std::uint64_t, std::int64_t, hotshard::combine_max> wb(sink.fn(), manual());
  for (std::int64_t d : {5, 9, 3}) ASSERT_TRUE(wb.write(1, d));
  wb.flush();
  ASSERT_EQ(sink.calls.size(), 1u);
  EXPECT_EQ(sink.calls[0].second, 9);
}

TEST(write_buffer, plain_mode_calls_the_sink_once_per_write) {
  recording_sink sink;
  auto c = manual();
  c.combine = false;
  write_buffer<std::uint64_t, std::int64_t> wb(sink.fn(), c);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(wb.write(1, 1));
  wb.flush();
  EXPECT_EQ(sink.calls.size(), 10u);
  EXPECT_EQ(wb.stats().combined, 0u);
}

TEST(write_buffer, applies_at_most_the_token_rate_of_an_injected_clock) {
  recording_sink sink;
  std::int64_t now = 0;
  auto c = manual();
  c.rate_per_sec = 10;  // one call per 100 ms
  c.burst = 2;
  c.clock_ns = [&] { return now; };
  write_buffer<std::uint64_t, std::int64_t> wb(sink.fn(), c);
  for (std::uint64_t k = 0; k < 5; ++k) ASSERT_TRUE(wb.write(k, 1));
  EXPECT_EQ(wb.drain(), 2u);  // the burst
  EXPECT_EQ(wb.drain(), 0u);
  now += 50'000'000;
  EXPECT_EQ(wb.drain(), 0u);
  now += 50'000'000;
  EXPECT_EQ(wb.drain(), 1u);
  now += 1'000'000'000;  // bucket refills to its depth only
  EXPECT_EQ(wb.drain(), 2u);
  EXPECT_EQ(sink.calls.size(), 5u);
}

TEST(write_buffer, fail_policy_rejects_writes_when_full_and_counts_them) {
  recording_sink sink;
  auto c = manual(4);
  c.on_full = backpressure::fail;
  write_buffer<std::uint64_t, std::int64_t> wb(sink.fn(), c);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(wb.write(1, 1));
  EXPECT_FALSE(wb.write(1, 100));
  EXPECT_FALSE(wb.write(2, 100));
  EXPECT_EQ(wb.stats().rejected, 2u);
  EXPECT_EQ(wb.stats().max_depth, 4u);
  wb.flush();
  EXPECT_EQ(sink.totals[1], 4);
  EXPECT_EQ(sink.totals.count(2), 0u);
}

TEST(write_buffer, block_policy_waits_for_the_drainer) {
  recording_sink sink;
  auto c = manual(2);
  c.on_full = backpressure::block;
  write_buffer<std::uint64_t, std::int64_t> wb(sink.fn(), c);
  ASSERT_TRUE(wb.write(1, 1));
  ASSERT_TRUE(wb.write(1, 1));
  std::atomic<bool> done{false};
  std::thread writer([&] {
    EXPECT_TRUE(wb.write(2, 5));
    done = true;
  });
  // The writer cannot finish until someone drains (manual mode): drain until it has.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!done.load()) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    (void)wb.drain();
    std::this_thread::yield();
  }
  writer.join();
  wb.flush();
  EXPECT_EQ(sink.totals[1], 2);
  EXPECT_EQ(sink.totals[2], 5);
  EXPECT_EQ(wb.stats().rejected, 0u);
}

TEST(write_buffer, help_drain_policy_lets_a_lone_writer_drain_for_itself) {
  recording_sink sink;
  auto c = manual(4);
  c.batch_size = 2;
  c.on_full = backpressure::help_drain;
  write_buffer<std::uint64_t, std::int64_t> wb(sink.fn(), c);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(wb.write(static_cast<std::uint64_t>(i % 3), 1));
  // Nobody else drained: the writer applied everything but the last few itself.
  EXPECT_GE(wb.stats().applied_writes, 96u);
  wb.flush();
  EXPECT_EQ(sink.totals[0] + sink.totals[1] + sink.totals[2], 100);
}

TEST(write_buffer, help_drain_writers_finish_when_the_sink_refuses_and_nobody_else_drains) {
  // Caller-driven buffer, every writer over capacity, a sink that refuses its
  // first calls: a writer whose help made no progress must help again later
  // instead of sleeping in the queue forever.
  std::mutex m;
  std::int64_t total = 0;
  int calls = 0;
  auto c = manual(4);
  c.batch_size = 2;
  c.on_full = backpressure::help_drain;
  c.retry_backoff = std::chrono::nanoseconds(0);
  write_buffer<std::uint64_t, std::int64_t> wb(
      [&](std::uint64_t, std::int64_t d) {
        std::lock_guard lock(m);
        if (++calls <= 50) return false;
        total += d;
        return true;
      },
      c);
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t)
    writers.emplace_back([&wb, t] {
      for (int i = 0; i < 200; ++i) EXPECT_TRUE(wb.write(static_cast<std::uint64_t>(t), 1));
    });
  for (auto& w : writers) w.join();
  wb.flush();
  EXPECT_EQ(total, 800);
  EXPECT_EQ(wb.stats().failed, 0u);
}

TEST(write_buffer, retries_a_rejecting_sink_until_the_write_lands) {
  std::mutex m;
  std::int64_t total = 0;
  int calls = 0;
  auto c = manual();
  c.retry_backoff = std::chrono::nanoseconds(0);
  write_buffer<std::uint64_t, std::int64_t> wb(
      [&](std::uint64_t, std::int64_t d) {
        std::lock_guard lock(m);
        if (++calls % 3 != 0) return false;  // two rejections, then success
        total += d;
        return true;
      },
      c);
  for (std::uint64_t k = 0; k < 4; ++k) ASSERT_TRUE(wb.write(k, 10));
  wb.flush();
  EXPECT_EQ(total, 40);
  const auto s = wb.stats();
  EXPECT_EQ(s.applied, 4u);
  EXPECT_EQ(s.sink_failures, 8u);
  EXPECT_EQ(s.failed, 0u);
}

TEST(write_buffer, count_policy_reports_every_given_up_write) {
  std::uint64_t reported = 0;
  std::int64_t reported_sum = 0;
  auto c = manual();
  c.on_sink_failure = sink_failure_policy::count;
  c.on_failure = [&](const std::uint64_t&, const std::int64_t& d, std::uint64_t writes) {
    reported += writes;
    reported_sum += d;
  };
  write_buffer<std::uint64_t, std::int64_t> wb(
      [](std::uint64_t k, std::int64_t) -> bool {
        if (k == 2) throw std::runtime_error("backend down");
        return false;
      },
      c);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(wb.write(static_cast<std::uint64_t>(i % 3), 1));
  wb.flush();
  const auto s = wb.stats();
  EXPECT_EQ(s.failed, 6u);
  EXPECT_EQ(s.sink_failures, 3u);
  EXPECT_EQ(reported, 6u);
  EXPECT_EQ(reported_sum, 6);
  EXPECT_EQ(s.applied, 0u);
}

TEST(write_buffer, destructor_gives_up_on_a_dead_sink_after_bounded_retries) {
  std::atomic<std::uint64_t> given_up{0};
  auto c = manual();
  c.shutdown_retries = 2;
  c.retry_backoff = std::chrono::nanoseconds(0);
  c.on_failure = [&](const std::uint64_t&, const std::int64_t&, std::uint64_t w) { given_up += w; };
  {
    write_buffer<std::uint64_t, std::int64_t> wb([](std::uint64_t, std::int64_t) { return false; }, c);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(wb.write(1, 1));
  }
  EXPECT_EQ(given_up.load(), 5u);
}

TEST(write_buffer, destructor_flushes_everything_through_the_drain_thread) {
  recording_sink sink;
  {
    config c;
    c.capacity = 16;
    write_buffer<std::uint64_t, std::int64_t> wb(sink.fn(), c);
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(wb.write(static_cast<std::uint64_t>(i % 7), 1));
  }
  std::int64_t sum = 0;
  for (auto& [k, v] : sink.totals) sum += v;
  EXPECT_EQ(sum, 1000);
}

TEST(write_buffer, writes_after_close_are_rejected) {
  recording_sink sink;
  write_buffer<std::uint64_t, std::int64_t> wb(sink.fn(), manual());
  ASSERT_TRUE(wb.write(1, 1));
  wb.close();
  EXPECT_FALSE(wb.write(1, 1));
  EXPECT_EQ(wb.stats().rejected, 1u);
  wb.flush();
  EXPECT_EQ(sink.totals[1], 1);
}

// Producers write continuously; each flush() must cover every write that
// completed before it was called.
TEST(write_buffer, flush_covers_every_earlier_write_while_producers_keep_writing) {
  constexpr unsigned producers = 8;
  std::vector<std::atomic<std::int64_t>> applied(producers);
  std::vector<std::atomic<std::int64_t>> written(producers);
  config c;
  c.capacity = 64;
  c.batch_size = 16;
  write_buffer<std::uint64_t, std::int64_t> wb(
      [&](std::uint64_t k, std::int64_t d) {
        applied[k].fetch_add(d, std::memory_order_relaxed);
        return true;
      },
      c);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (unsigned p = 0; p < producers; ++p)
    threads.emplace_back([&, p] {
      while (!stop.load(std::memory_order_relaxed)) {
        ASSERT_TRUE(wb.write(p, 1));
        written[p].fetch_add(1, std::memory_order_release);
      }
    });
  std::uint64_t violations = 0;
  for (int round = 0; round < static_cast<int>(200 / sanitizer_scale); ++round) {
    std::vector<std::int64_t> before(producers);
    for (unsigned p = 0; p < producers; ++p) before[p] = written[p].load(std::memory_order_acquire);
    wb.flush();
    for (unsigned p = 0; p < producers; ++p)
      if (applied[p].load(std::memory_order_relaxed) < before[p]) ++violations;
  }
  stop = true;
  for (auto& th : threads) th.join();
  wb.flush();
  EXPECT_EQ(violations, 0u);
  for (unsigned p = 0; p < producers; ++p) EXPECT_EQ(applied[p].load(), written[p].load());
}

// 16 writers over a skewed key set, each backpressure policy: the sink's
// totals equal the sum of the accepted deltas, key by key. With
// yielding_stats the queue's steps are preempted at random (schedule noise).
template <class Stats = hotshard::detail::no_stats>
void loses_nothing(backpressure on_full, std::uint64_t per) {
  constexpr unsigned writers = 16;
  constexpr std::uint64_t keys = 32;
  std::vector<std::atomic<std::int64_t>> sink_total(keys);
  std::vector<std::atomic<std::int64_t>> accepted_total(keys);
  {
    config c;
    c.capacity = 128;
    c.batch_size = 32;
    c.on_full = on_full;
    write_buffer<std::uint64_t, std::int64_t, hotshard::combine_sum, Stats> wb(
        [&](std::uint64_t k, std::int64_t d) {
          sink_total[k].fetch_add(d, std::memory_order_relaxed);
          return true;
        },
        c);
    hotshard::test::run_threads(writers, [&](unsigned t) {
      std::uint64_t x = t + 1;
      for (std::uint64_t i = 0; i < per; ++i) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        const std::uint64_t k = (x >> 33) % 4 == 0 ? (x >> 40) % keys : 0;  // key 0 is hot
        const std::int64_t d = static_cast<std::int64_t>((x >> 20) % 7) - 2;
        if (wb.write(k, d)) accepted_total[k].fetch_add(d, std::memory_order_relaxed);
      }
    });
    wb.flush();
    const auto s = wb.stats();
    EXPECT_EQ(s.accepted + s.rejected, writers * per);
    EXPECT_EQ(s.applied_writes, s.accepted);
    EXPECT_EQ(s.applied + s.combined, s.accepted);
    if (on_full != backpressure::fail) {
      EXPECT_EQ(s.rejected, 0u);
    }
  }
  for (std::uint64_t k = 0; k < keys; ++k) EXPECT_EQ(sink_total[k].load(), accepted_total[k].load()) << "key " << k;
}

class write_buffer_policy : public ::testing::TestWithParam<backpressure> {};

TEST_P(write_buffer_policy, loses_nothing_with_more_writers_than_cores) { loses_nothing(GetParam(), 20000 / sanitizer_scale); }
TEST_P(write_buffer_policy, loses_nothing_with_more_writers_than_cores_under_schedule_noise) {
  loses_nothing<hotshard::detail::yielding_stats>(GetParam(), 2000 / sanitizer_scale);
}

INSTANTIATE_TEST_SUITE_P(each_backpressure_policy, write_buffer_policy,
                         ::testing::Values(backpressure::block, backpressure::fail, backpressure::help_drain),
                         [](const auto& info) {
                           switch (info.param) {
                             case backpressure::block: return std::string("block");
                             case backpressure::fail: return std::string("fail");
                             default: return std::string("help_drain");
                           }
                         });

// ---- flush_for and a sink that keeps refusing --------------------------------

// A sink that refuses until `open` is set, counting its refusals.
struct gate_sink {
  std::atomic<bool> open{false};
  std::atomic<std::uint64_t> refusals{0};
  recording_sink applied;
  auto fn() {
    return [this](const std::uint64_t& k, const std::int64_t& d) {
      if (!open.load()) {
        refusals.fetch_add(1);
        return false;
      }
      return applied(k, d);
    };
  }
};

// Regression: flush() used to wait on the refusing sink until close(). Now it
// throws write_buffer_stalled naming the pending writes after the refusal
// limit, and nothing is lost: once the sink accepts, every write lands.
TEST(write_buffer, flush_on_a_sink_that_keeps_refusing_throws_naming_the_pending_writes) {
  for (bool thread : {true, false}) {
    gate_sink sink;
    config c = manual(16);
    c.drain_thread = thread;
    c.combine = false;
    c.retry_backoff = std::chrono::microseconds(1);
    c.flush_refusal_limit = 5;
    write_buffer<std::uint64_t, std::int64_t> wb(sink.fn(), c);
    for (std::uint64_t k = 0; k < 3; ++k) ASSERT_TRUE(wb.write(k, 1));
    try {
      wb.flush();
      ADD_FAILURE() << "flush returned with a refusing sink";
    } catch (const hotshard::write_buffer_stalled& e) {
      EXPECT_EQ(e.pending(), 3u);
      EXPECT_GE(e.refusals(), 5u);
      EXPECT_NE(std::string(e.what()).find("3 writes still pending"), std::string::npos) << e.what();
    }
    const auto r = wb.flush_for(std::chrono::milliseconds(1));
    EXPECT_FALSE(r.done());
    EXPECT_EQ(r.pending, 3u);
    sink.open = true;
    const auto done = wb.flush_for(std::chrono::hours(24));  // returns as soon as it is done
    EXPECT_TRUE(done.done());
    EXPECT_FALSE(done.stalled);
    EXPECT_EQ(wb.stats().applied_writes, 3u);
    EXPECT_EQ(wb.stats().failed, 0u);
    std::lock_guard lock(sink.applied.m);
    EXPECT_EQ(sink.applied.totals.size(), 3u);
  }
}

// flush_for bounds the wait (no refusal limit here) and reports what is
// pending; the shutdown order (flush_for → close → destroy) then reports every
// write: failed, handed to on_failure, nothing silently dropped.
TEST(write_buffer, flush_for_returns_the_pending_writes_then_shutdown_reports_them) {
  std::atomic<std::uint64_t> reported{0};
  gate_sink refusing;
  config c = manual(16);
  c.drain_thread = true;
  c.shutdown_retries = 0;
  c.retry_backoff = std::chrono::microseconds(10);
  c.flush_refusal_limit = 0;  // flush_for alone bounds the wait
  c.on_failure = [&](const std::uint64_t&, const std::int64_t&, std::uint64_t writes) { reported += writes; };
  {
    write_buffer<std::uint64_t, std::int64_t> wb(refusing.fn(), c);
    for (std::uint64_t k = 0; k < 4; ++k) ASSERT_TRUE(wb.write(k, 1));
    const auto r = wb.flush_for(std::chrono::milliseconds(2));
    EXPECT_EQ(r.pending, 4u);
    EXPECT_FALSE(r.stalled);
    EXPECT_FALSE(wb.flush_for(std::chrono::seconds(-1)).done());
    wb.close();
  }  // destroy: each entry gets shutdown_retries more tries, then is reported
  EXPECT_EQ(reported.load(), 4u);
  EXPECT_GE(refusing.refusals.load(), 4u);
}

// ---- a batch sink (several backend writes per call, e.g. pipelined INCRBY) ----

namespace {

using batch_entry = hotshard::write_batch_entry<std::uint64_t, std::int64_t>;
using batch_span = std::span<batch_entry>;
using batch_buffer = write_buffer<std::uint64_t, std::int64_t>;

// One batch-sink call as the sink saw it: (key, delta, writes) per entry.
struct seen_entry {
  std::uint64_t key;
  std::int64_t delta;
  std::uint64_t writes;
  bool operator==(const seen_entry&) const = default;
};

// Applies every entry for which decide(call number, index in the call,
// entry) is true; records every call and every applied delta (in order, per
// key). Thread-safe (help_drain writers may drain).
struct batch_recorder {
  std::mutex m;
  std::vector<std::vector<seen_entry>> calls;
  std::map<std::uint64_t, std::vector<std::int64_t>> applied;  // per key, in the order applied
  std::function<bool(std::size_t, std::size_t, const batch_entry&)> decide = [](std::size_t, std::size_t,
                                                                                const batch_entry&) { return true; };
  std::uint64_t refused = 0;
  void operator()(batch_span entries) {
    std::lock_guard lock(m);
    const std::size_t call = calls.size();
    calls.emplace_back();
    for (std::size_t i = 0; i < entries.size(); ++i) {
      batch_entry& e = entries[i];
      calls.back().push_back({e.key, e.delta, e.writes});
      if (decide(call, i, e)) {
        e.applied = true;
        applied[e.key].push_back(e.delta);
      } else {
        ++refused;
      }
    }
  }
  auto fn() {
    return [this](batch_span entries) { (*this)(entries); };
  }
  std::int64_t total(std::uint64_t key) {
    std::int64_t sum = 0;
    for (auto d : applied[key]) sum += d;
    return sum;
  }
  std::size_t applied_entries() {
    std::size_t n = 0;
    for (auto& [k, v] : applied) n += v.size();
    return n;
  }
};

// No call holds a key twice, and none holds more than `limit` entries.
void expect_calls_well_formed(const std::vector<std::vector<seen_entry>>& calls, std::size_t limit) {
  for (std::size_t c = 0; c < calls.size(); ++c) {
    EXPECT_GE(calls[c].size(), 1u) << "call " << c;
    EXPECT_LE(calls[c].size(), limit) << "call " << c;
    std::map<std::uint64_t, int> keys;
    for (const auto& e : calls[c]) EXPECT_EQ(++keys[e.key], 1) << "key " << e.key << " twice in call " << c;
  }
}

}  // namespace

TEST(write_buffer_batch_sink, gets_up_to_a_batch_per_call_each_key_once_with_exact_combined_deltas) {
  batch_recorder sink;
  auto c = manual(64);
  c.batch_size = 8;
  batch_buffer wb(sink.fn(), c);
  EXPECT_TRUE(wb.batched());
  // 24 writes: keys 0,1,2 repeating, deltas 1..24 — three batches of 8.
  std::map<std::uint64_t, std::int64_t> want;
  for (std::int64_t i = 1; i <= 24; ++i) {
    const auto k = static_cast<std::uint64_t>(i % 3);
    ASSERT_TRUE(wb.write(k, i));
    want[k] += i;
  }
  EXPECT_EQ(wb.drain(), 8u);  // one batch, one call
  ASSERT_EQ(sink.calls.size(), 1u);
  // Batch 1 is deltas 1..8: key 1 gets 1+4+7, key 2 gets 2+5+8, key 0 gets 3+6 — in first-seen order.
  EXPECT_EQ(sink.calls[0], (std::vector<seen_entry>{{1, 12, 3}, {2, 15, 3}, {0, 9, 2}}));
  wb.flush();
  EXPECT_EQ(sink.calls.size(), 3u);
  expect_calls_well_formed(sink.calls, c.batch_size);
  for (auto& [k, sum] : want) EXPECT_EQ(sink.total(k), sum) << "key " << k;
  const auto s = wb.stats();
  EXPECT_EQ(s.accepted, 24u);
  EXPECT_EQ(s.applied, 9u);  // 3 keys x 3 batches
  EXPECT_EQ(s.applied_writes, 24u);
  EXPECT_EQ(s.combined, 15u);
  EXPECT_EQ(s.batch_calls, 3u);
  EXPECT_EQ(s.sink_failures, 0u);
  EXPECT_EQ(s.lag, 0u);
}

TEST(write_buffer_batch_sink, plain_mode_cuts_each_call_before_a_repeated_key) {
  batch_recorder sink;
  auto c = manual(16);
  c.combine = false;  // accepted: calls are cut instead (see the header)
  batch_buffer wb(sink.fn(), c);
  // A B A C B: [A B] | [A C B]
  for (const std::uint64_t k : {10, 11, 10, 12, 11}) ASSERT_TRUE(wb.write(k, static_cast<std::int64_t>(k)));
  EXPECT_EQ(wb.drain(), 5u);
  ASSERT_EQ(sink.calls.size(), 2u);
  EXPECT_EQ(sink.calls[0], (std::vector<seen_entry>{{10, 10, 1}, {11, 11, 1}}));
  EXPECT_EQ(sink.calls[1], (std::vector<seen_entry>{{10, 10, 1}, {12, 12, 1}, {11, 11, 1}}));
  EXPECT_EQ(wb.stats().applied, 5u);
  EXPECT_EQ(wb.stats().combined, 0u);
}

// Each call applies the entries at even positions and refuses the others; the
// refused are handed again (before the next batch) until every write is
// applied exactly once. A settled entry handed again would show up twice in
// `applied` (and the per-key sequences below would break).
TEST(write_buffer_batch_sink, partial_refusals_are_retried_and_every_write_lands_exactly_once) {
  for (const bool combine : {true, false}) {
    SCOPED_TRACE(combine ? "combine" : "plain");
    batch_recorder sink;
    sink.decide = [](std::size_t, std::size_t i, const batch_entry&) { return i % 2 == 0; };
    auto c = manual(128);  // room for all 100 writes: nothing drains until flush()
    c.batch_size = 32;
    c.combine = combine;
    c.retry_backoff = std::chrono::nanoseconds(0);
    batch_buffer wb(sink.fn(), c);
    constexpr std::uint64_t keys = 7;
    std::map<std::uint64_t, std::vector<std::int64_t>> written;  // per key, deltas in write order
    for (std::int64_t i = 1; i <= 100; ++i) {
      const auto k = static_cast<std::uint64_t>(i * 5 % keys);
      ASSERT_TRUE(wb.write(k, i));
      written[k].push_back(i);
    }
    wb.flush();
    expect_calls_well_formed(sink.calls, c.batch_size);
    const auto s = wb.stats();
    EXPECT_EQ(s.applied_writes, 100u);
    EXPECT_EQ(s.failed, 0u);
    EXPECT_EQ(s.applied, sink.applied_entries());
    EXPECT_EQ(s.sink_failures, sink.refused);
    EXPECT_GT(sink.refused, 0u);
    std::size_t handed = 0;
    for (auto& call : sink.calls) handed += call.size();
    EXPECT_EQ(handed, s.applied + s.sink_failures);  // one entry handed = one applied or one refusal
    for (auto& [k, deltas] : written) {
      if (combine) {
        std::int64_t sum = 0;
        for (auto d : deltas) sum += d;
        EXPECT_EQ(sink.total(k), sum) << "key " << k;
      } else {
        EXPECT_EQ(sink.applied[k], deltas) << "key " << k << ": every write once, in write order";
      }
    }
  }
}

TEST(write_buffer_batch_sink, count_policy_fails_each_refused_entry_and_reports_it) {
  batch_recorder sink;
  sink.decide = [](std::size_t, std::size_t, const batch_entry& e) { return e.key % 2 == 0; };
  std::uint64_t reported = 0;
  std::int64_t reported_sum = 0;
  auto c = manual(64);
  c.batch_size = 16;
  c.on_sink_failure = sink_failure_policy::count;
  c.on_failure = [&](const std::uint64_t& k, const std::int64_t& d, std::uint64_t writes) {
    EXPECT_EQ(k % 2, 1u);
    reported += writes;
    reported_sum += d;
  };
  batch_buffer wb(sink.fn(), c);
  std::uint64_t odd_writes = 0;
  std::int64_t odd_sum = 0, even_sum = 0;
  for (std::int64_t i = 0; i < 48; ++i) {  // 3 batches of 16 over keys 0..5
    const auto k = static_cast<std::uint64_t>(i % 6);
    ASSERT_TRUE(wb.write(k, i));
    (k % 2 ? odd_sum : even_sum) += i;
    odd_writes += k % 2;
  }
  wb.flush();
  const auto s = wb.stats();
  EXPECT_EQ(s.failed, odd_writes);
  EXPECT_EQ(reported, odd_writes);
  EXPECT_EQ(reported_sum, odd_sum);
  EXPECT_EQ(s.sink_failures, 9u);  // 3 odd keys x 3 batches, each refused once and given up
  EXPECT_EQ(s.applied, 9u);
  EXPECT_EQ(s.applied_writes + s.failed, 48u);
  EXPECT_EQ(sink.total(0) + sink.total(2) + sink.total(4), even_sum);
  EXPECT_EQ(sink.calls.size(), 3u);  // nothing handed twice
}

// Rate R per second, injected clock: each call gets min(unsettled entries,
// whole tokens) — one token per backend write, as with the per-key sink.
TEST(write_buffer_batch_sink, each_call_gets_the_whole_tokens_of_an_injected_clock) {
  batch_recorder sink;
  std::int64_t now = 0;
  auto c = manual(64);
  c.rate_per_sec = 10;  // one token per 100 ms
  c.burst = 4;
  c.clock_ns = [&] { return now; };
  batch_buffer wb(sink.fn(), c);
  for (std::uint64_t k = 0; k < 10; ++k) ASSERT_TRUE(wb.write(k, 1));
  EXPECT_EQ(wb.drain(), 4u);  // the burst
  EXPECT_EQ(wb.drain(), 0u);  // no token: no call at all
  now += 250'000'000;         // 2.5 tokens
  EXPECT_EQ(wb.drain(), 2u);
  now += 50'000'000;  // 0.5 left + 0.5
  EXPECT_EQ(wb.drain(), 1u);
  now += 10'000'000'000;  // the bucket refills to its depth (4), 3 entries are left
  EXPECT_EQ(wb.drain(), 3u);
  ASSERT_EQ(sink.calls.size(), 4u);
  std::vector<std::size_t> sizes;
  for (auto& call : sink.calls) sizes.push_back(call.size());
  EXPECT_EQ(sizes, (std::vector<std::size_t>{4, 2, 1, 3}));
  EXPECT_EQ(wb.stats().batch_calls, 4u);
  EXPECT_EQ(wb.stats().applied, 10u);
}

// A throw refuses every entry the sink had not marked applied. This sink
// applies the first entry of each call, then throws: K distinct keys take K
// calls and K(K-1)/2 refusals, each write applied once.
TEST(write_buffer_batch_sink, a_throw_refuses_the_entries_not_marked_applied) {
  std::map<std::uint64_t, std::int64_t> totals;
  std::size_t calls = 0;
  auto c = manual(16);
  c.retry_backoff = std::chrono::nanoseconds(0);
  batch_buffer wb(
      [&](batch_span entries) {
        ++calls;
        entries[0].applied = true;
        totals[entries[0].key] += entries[0].delta;
        throw std::runtime_error("connection reset");
      },
      c);
  constexpr std::uint64_t keys = 6;
  for (std::uint64_t k = 0; k < keys; ++k) ASSERT_TRUE(wb.write(k, static_cast<std::int64_t>(k + 1)));
  wb.flush();
  EXPECT_EQ(calls, keys);
  const auto s = wb.stats();
  EXPECT_EQ(s.applied, keys);
  EXPECT_EQ(s.sink_failures, keys * (keys - 1) / 2);
  EXPECT_EQ(s.failed, 0u);
  for (std::uint64_t k = 0; k < keys; ++k) EXPECT_EQ(totals[k], static_cast<std::int64_t>(k + 1)) << "key " << k;

  // A sink that throws before marking anything, with the count policy: all failed, reported.
  std::uint64_t reported = 0;
  auto d = manual(16);
  d.on_sink_failure = sink_failure_policy::count;
  d.on_failure = [&](const std::uint64_t&, const std::int64_t&, std::uint64_t w) { reported += w; };
  batch_buffer dead([](batch_span) { throw std::runtime_error("down"); }, d);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(dead.write(static_cast<std::uint64_t>(i % 4), 1));
  dead.flush();
  EXPECT_EQ(dead.stats().failed, 10u);
  EXPECT_EQ(dead.stats().sink_failures, 4u);
  EXPECT_EQ(reported, 10u);
}

// After close() a refused entry gets shutdown_retries more calls, then is
// failed and reported: the destructor of a buffer on a dead batch sink ends.
TEST(write_buffer_batch_sink, destructor_gives_up_on_a_dead_batch_sink_after_bounded_retries) {
  std::atomic<std::uint64_t> given_up{0};
  std::atomic<std::uint64_t> calls{0};
  auto c = manual();
  c.shutdown_retries = 2;
  c.retry_backoff = std::chrono::nanoseconds(0);
  c.on_failure = [&](const std::uint64_t&, const std::int64_t&, std::uint64_t w) { given_up += w; };
  {
    batch_buffer wb([&](batch_span) { ++calls; }, c);  // never applies anything
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(wb.write(static_cast<std::uint64_t>(i % 2), 1));
  }
  EXPECT_EQ(given_up.load(), 5u);
  EXPECT_EQ(calls.load(), 3u);  // the first try, then 2 shutdown retries (both keys in each call)
}

TEST(write_buffer_batch_sink, rejects_a_bad_configuration_naming_the_field) {
  const auto rejection = [](config c) -> std::string {
    try {
      batch_buffer wb([](batch_span) {}, std::move(c));
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "accepted";
  };
  config c = manual();
  c.capacity = 6;
  EXPECT_NE(rejection(c).find("capacity"), std::string::npos);
  c = manual();
  c.batch_size = 65;  // above capacity 64
  EXPECT_NE(rejection(c).find("batch_size"), std::string::npos);
  c = manual();
  c.rate_per_sec = 10, c.burst = 0.5;
  EXPECT_NE(rejection(c).find("burst"), std::string::npos);
  c = manual();
  c.on_sink_failure = static_cast<sink_failure_policy>(9);
  EXPECT_NE(rejection(c).find("on_sink_failure"), std::string::npos);
  c = manual();
  c.combine = false;  // accepted: calls are cut before a repeated key
  EXPECT_EQ(rejection(c), "accepted");
}

// 16 writers (more than cores), the drain thread and help_drain writers
// draining, a sink that refuses about a quarter of the entries: totals exact
// key by key (combine), or — plain, one key per writer, deltas its sequence
// numbers — every write applied once and in the writer's order.
void batch_sink_stress(bool combine, backpressure on_full, std::uint64_t per) {
  constexpr unsigned writers = 16;
  const std::uint64_t keys = combine ? 8 : writers;
  batch_recorder sink;
  std::uint64_t x = 42;  // under the recorder's mutex
  sink.decide = [&x](std::size_t, std::size_t, const batch_entry&) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return (x >> 33) % 4 != 0;
  };
  std::vector<std::atomic<std::int64_t>> accepted_total(keys);
  std::size_t batch = 0;
  {
    config c;
    c.capacity = 128;
    c.batch_size = 32;
    c.combine = combine;
    c.on_full = on_full;
    c.retry_backoff = std::chrono::microseconds(1);
    batch = c.batch_size;
    batch_buffer wb(sink.fn(), c);
    hotshard::test::run_threads(writers, [&](unsigned t) {
      for (std::uint64_t i = 1; i <= per; ++i) {
        const std::uint64_t k = combine ? (i % 3 == 0 ? (i + t) % keys : 0) : t;  // combine: key 0 is hot
        const auto d = combine ? static_cast<std::int64_t>(i % 5) - 1 : static_cast<std::int64_t>(i);
        ASSERT_TRUE(wb.write(k, d));
        accepted_total[k].fetch_add(d, std::memory_order_relaxed);
      }
    });
    wb.flush();
    const auto s = wb.stats();
    EXPECT_EQ(s.accepted, writers * per);
    EXPECT_EQ(s.applied_writes, s.accepted);
    EXPECT_EQ(s.failed, 0u);
    EXPECT_EQ(s.applied + s.combined, s.accepted);
    std::lock_guard lock(sink.m);
    EXPECT_EQ(s.sink_failures, sink.refused);
    EXPECT_EQ(s.batch_calls, sink.calls.size());
  }
  std::lock_guard lock(sink.m);
  expect_calls_well_formed(sink.calls, batch);
  for (std::uint64_t k = 0; k < keys; ++k) {
    EXPECT_EQ(sink.total(k), accepted_total[k].load()) << "key " << k;
    if (!combine) {
      const auto& seq = sink.applied[k];
      ASSERT_EQ(seq.size(), per) << "key " << k;
      for (std::uint64_t i = 0; i < per; ++i)
        ASSERT_EQ(seq[i], static_cast<std::int64_t>(i + 1)) << "key " << k << ": out of order or repeated";
    }
  }
}

TEST(write_buffer_batch_sink, loses_nothing_with_more_writers_than_cores_combining) {
  batch_sink_stress(true, backpressure::block, 4000 / sanitizer_scale);
  batch_sink_stress(true, backpressure::help_drain, 4000 / sanitizer_scale);
}
TEST(write_buffer_batch_sink, keeps_each_keys_order_with_more_writers_than_cores_plain) {
  batch_sink_stress(false, backpressure::block, 2000 / sanitizer_scale);
  batch_sink_stress(false, backpressure::help_drain, 2000 / sanitizer_scale);
}
