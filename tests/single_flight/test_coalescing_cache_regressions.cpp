// Regression tests of hotshard/coalescing_cache.hpp for the defects of issue
// 12: each failed (or hung) on the code before its fix. The clock is
// injected; races are staged with latches, never with sleeps.
#include "sf_test_support.hpp"

#include <hotshard/coalescing_cache.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

using namespace std::chrono_literals;
using sf_test::await;
using sf_test::await_flag;
using sf_test::waiter_count;
using cache = hotshard::coalescing_cache<std::uint64_t, std::uint64_t>;

struct fake_clock {
  std::atomic<std::int64_t> now{1000};
  cache::options options(std::chrono::nanoseconds ttl, std::chrono::nanoseconds grace = 0ns) {
    cache::options o;
    o.ttl = ttl;
    o.grace = grace;
    o.beta = 0;
    o.clock_ns = [this] { return now.load(); };
    return o;
  }
};

// A get of `key` in its own thread whose loader blocks until released.
struct blocked_load {
  std::atomic<bool> started{false}, release{false};
  std::thread th;
  template <class Cache>
  blocked_load(Cache& c, std::uint64_t key, std::uint64_t value, std::uint64_t expect_returned) {
    th = std::thread([&c, this, key, value, expect_returned] {
      const auto got = c.get(key, [&] {
        started.store(true, std::memory_order_release);
        await_flag(release);
        return value;
      });
      EXPECT_EQ(got, expect_returned);  // the caller of a load that began before invalidate gets it
    });
    await_flag(started);
  }
  void finish() {
    release.store(true, std::memory_order_release);
    th.join();
  }
};

auto never_called = [] {
  ADD_FAILURE() << "a cached value was expected";
  return std::uint64_t{0};
};

// Old code: invalidate left a tombstone that a newer load's store overwrote,
// and then the old load's store went in.
TEST(coalescing_cache_regression, a_load_begun_before_invalidate_is_not_stored_even_after_a_newer_store) {
  fake_clock clk;
  cache c(clk.options(1h));
  blocked_load old_load(c, 1, 10, 10);
  c.invalidate(1);
  EXPECT_EQ(c.get(1, [] { return std::uint64_t{20}; }), 20u);  // a new flight: the old one was forgotten
  old_load.finish();
  EXPECT_EQ(c.get(1, never_called), 20u);
}

// Old code: LRU eviction dropped the tombstone, and the old load's store went in.
TEST(coalescing_cache_regression, a_load_begun_before_invalidate_is_not_stored_even_after_an_eviction) {
  fake_clock clk;
  auto o = clk.options(1h);
  o.capacity = 1;
  o.shards = 1;
  cache c(o);
  blocked_load old_load(c, 1, 10, 10);
  c.invalidate(1);
  EXPECT_EQ(c.get(2, [] { return std::uint64_t{2}; }), 2u);  // fills the only place
  old_load.finish();
  EXPECT_EQ(c.get(1, [] { return std::uint64_t{30}; }), 30u);
}

// The same race for a stale-while-revalidate refresh.
TEST(coalescing_cache_regression, a_refresh_begun_before_invalidate_is_not_stored) {
  fake_clock clk;
  cache c(clk.options(100ns, 1000ns));
  EXPECT_EQ(c.get(1, [] { return std::uint64_t{1}; }), 1u);
  clk.now += 150;  // expired, within grace
  blocked_load refresh(c, 1, 10, 10);
  EXPECT_EQ(c.get(1, never_called), 1u);  // stale served while the refresh runs
  c.invalidate(1);
  EXPECT_EQ(c.get(1, [] { return std::uint64_t{20}; }), 20u);
  refresh.finish();
  EXPECT_EQ(c.get(1, never_called), 20u);
}

// Old code: now + ttl overflowed, every entry was born expired.
TEST(coalescing_cache_regression, the_largest_ttl_never_expires) {
  fake_clock clk;
  cache c(clk.options(std::chrono::nanoseconds::max()));
  int calls = 0;
  auto load = [&] { return std::uint64_t(++calls); };
  EXPECT_EQ(c.get(1, load), 1u);
  EXPECT_EQ(c.get(1, load), 1u);
  clk.now = std::numeric_limits<std::int64_t>::max() - 1;
  EXPECT_EQ(c.get(1, load), 1u);
  EXPECT_EQ(calls, 1);
}

TEST(coalescing_cache_regression, the_largest_negative_ttl_remembers_an_error_for_ever) {
  fake_clock clk;
  auto o = clk.options(1h);
  o.negative_ttl = std::chrono::nanoseconds::max();
  cache c(o);
  int calls = 0;
  auto fail = [&]() -> std::uint64_t {
    ++calls;
    throw std::runtime_error("down");
  };
  EXPECT_THROW((void)c.get(1, fail), std::runtime_error);
  clk.now = std::numeric_limits<std::int64_t>::max() - 1;
  EXPECT_THROW((void)c.get(1, fail), std::runtime_error);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(c.stats().negative_hits, 1u);
}

// Old code: capacity / shards rounded up to one entry per shard, so capacity
// 4 over 16 shards held 16.
TEST(coalescing_cache_regression, size_never_exceeds_capacity_even_with_more_shards_than_capacity) {
  for (const std::size_t capacity : {1u, 4u, 15u, 20u}) {
    fake_clock clk;
    auto o = clk.options(1h);
    o.capacity = capacity;
    o.shards = 16;
    cache c(o);
    for (std::uint64_t k = 0; k < 200; ++k) (void)c.get(k, [k] { return k; });
    EXPECT_LE(c.size(), capacity) << "capacity " << capacity;
    EXPECT_GE(c.size(), 1u);
  }
}

struct wrap_tag {};
// Issue 12 defect 1 through the cache: with ttl 0 every get is a flight; after
// 2^16 - 1 flights without a joiner a joiner got an old value.
TEST(coalescing_cache_regression, a_joiner_never_gets_an_earlier_flights_value_after_many_solo_loads) {
  using hook = waiter_count<wrap_tag>;
  hotshard::coalescing_cache<int, int, hotshard::policy::contention_hook<hook>> c([] {
    hotshard::coalescing_cache_options o;
    o.ttl = 0ns;  // nothing stays fresh: every get loads through the flight table
    o.beta = 0;
    o.clock_ns = [] { return std::int64_t{0}; };
    return o;
  }());
  auto lead_and_join = [&](int value) {
    hook::net.store(0);
    std::atomic<bool> started{false}, joiner_done{false};
    std::thread leader([&] {
      EXPECT_EQ(c.get(5, [&] {
        started.store(true, std::memory_order_release);
        await([&] { return hook::net.load() >= 1 || joiner_done.load(); });
        return value;
      }), value);
    });
    await_flag(started);
    const int got = c.get(5, [] { return -1; });
    joiner_done.store(true);
    leader.join();
    return got;
  };
  EXPECT_EQ(lead_and_join(1), 1);
  for (int i = 0; i < 65535; ++i) ASSERT_EQ(c.get(5, [] { return 2; }), 2);
  EXPECT_EQ(lead_and_join(3), 3);
}

template <class F>
std::string invalid_argument_of(F f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no exception)";
}

// Old code: most of these were accepted (flight_capacity = SIZE_MAX hung).
TEST(coalescing_cache_regression, absurd_options_are_rejected_naming_the_field) {
  const auto rejects = [](const char* field, auto set) {
    cache::options o;
    set(o);
    const auto what = invalid_argument_of([&] { cache c(o); });
    EXPECT_NE(what.find(field), std::string::npos) << field << ": " << what;
  };
  rejects("capacity", [](auto& o) { o.capacity = 0; });
  rejects("shards", [](auto& o) { o.shards = 0; });
  rejects("shards", [](auto& o) { o.shards = std::numeric_limits<std::size_t>::max(); });
  rejects("ttl", [](auto& o) { o.ttl = -1ns; });
  rejects("grace", [](auto& o) { o.grace = -1ns; });
  rejects("negative_ttl", [](auto& o) { o.negative_ttl = -1ns; });
  rejects("beta", [](auto& o) { o.beta = std::nan(""); });
  rejects("beta", [](auto& o) { o.beta = -1; });
  rejects("beta", [](auto& o) { o.beta = std::numeric_limits<double>::infinity(); });
  rejects("flight_capacity", [](auto& o) { o.flight_capacity = 0; });
  rejects("flight_capacity", [](auto& o) { o.flight_capacity = std::numeric_limits<std::size_t>::max(); });
}

TEST(coalescing_cache_regression, each_cache_gets_its_own_random_seed_unless_one_is_given) {
  const cache a, b;
  EXPECT_NE(a.seed(), b.seed());  // 2^-64 chance of a false failure
  cache::options o;
  o.seed = 42;
  const cache c(o);
  EXPECT_EQ(c.seed(), 42u);
}

}  // namespace
