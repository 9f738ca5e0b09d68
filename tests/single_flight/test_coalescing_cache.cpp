// Tests of hotshard/coalescing_cache.hpp with an injected clock and random
// source: TTL, stale-while-revalidate, XFetch early refresh, negative
// entries, invalidation, eviction; then a concurrent stress.
#include <hotshard/coalescing_cache.hpp>
#include <hotshard/concepts/single_flight.hpp>
#include <hotshard/test/support.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using cache = hotshard::coalescing_cache<std::uint64_t, std::uint64_t>;
static_assert(hotshard::concepts::read_through_cache<cache>);

struct fake_env {
  std::atomic<std::int64_t> now{0};
  std::atomic<double> u{0.5};
  cache::options options(std::chrono::nanoseconds ttl, std::chrono::nanoseconds grace, double beta) {
    cache::options o;
    o.ttl = ttl;
    o.grace = grace;
    o.beta = beta;
    o.negative_ttl = 50ns;
    o.clock_ns = [this] { return now.load(); };
    o.uniform01 = [this] { return u.load(); };
    return o;
  }
};

void await_flag(const std::atomic<bool>& f) {
  while (!f.load(std::memory_order_acquire)) std::this_thread::sleep_for(20us);
}

TEST(coalescing_cache, a_fresh_value_is_served_without_a_backend_call) {
  fake_env env;
  cache c(env.options(100ns, 0ns, 0));
  int calls = 0;
  auto loader = [&] { return std::uint64_t(++calls); };
  EXPECT_EQ(c.get(1, loader), 1u);
  env.now = 99;
  EXPECT_EQ(c.get(1, loader), 1u);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(c.stats().hits, 1u);
  EXPECT_EQ(c.stats().misses, 1u);
}

TEST(coalescing_cache, a_value_is_loaded_again_after_its_ttl) {
  fake_env env;
  cache c(env.options(100ns, 0ns, 0));
  int calls = 0;
  auto loader = [&] { return std::uint64_t(++calls); };
  EXPECT_EQ(c.get(1, loader), 1u);
  env.now = 100;
  EXPECT_EQ(c.get(1, loader), 2u);
  EXPECT_EQ(c.stats().backend_calls, 2u);
}

TEST(coalescing_cache, stale_while_revalidate_serves_the_old_value_while_one_refresh_runs) {
  fake_env env;
  cache c(env.options(100ns, 1000ns, 0));
  EXPECT_EQ(c.get(1, [] { return std::uint64_t{10}; }), 10u);
  env.now = 150;  // expired, inside the grace window
  std::atomic<bool> started{false}, release{false};
  std::thread refresher([&] {
    const auto v = c.get(1, [&] {
      started.store(true, std::memory_order_release);
      await_flag(release);
      return std::uint64_t{20};
    });
    EXPECT_EQ(v, 20u);
  });
  await_flag(started);
  int extra = 0;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.get(1, [&] { return std::uint64_t(++extra); }), 10u);
  EXPECT_EQ(extra, 0);
  EXPECT_EQ(c.stats().stale_served, 3u);
  release.store(true, std::memory_order_release);
  refresher.join();
  EXPECT_EQ(c.get(1, [&] { return std::uint64_t(++extra); }), 20u);
  EXPECT_EQ(extra, 0);
  EXPECT_EQ(c.stats().backend_calls, 2u);
}

TEST(coalescing_cache, past_the_grace_window_a_caller_waits_for_the_load) {
  fake_env env;
  cache c(env.options(100ns, 50ns, 0));
  EXPECT_EQ(c.get(1, [] { return std::uint64_t{10}; }), 10u);
  env.now = 150;
  EXPECT_EQ(c.get(1, [] { return std::uint64_t{11}; }), 11u);
  EXPECT_EQ(c.stats().stale_served, 0u);
}

TEST(coalescing_cache, xfetch_refreshes_early_exactly_when_now_minus_delta_beta_ln_u_reaches_expiry) {
  fake_env env;
  cache c(env.options(1000ns, 0ns, 1.0));
  // The load takes 100 ns of injected time: δ = 100, expiry = 100 + 1000.
  EXPECT_EQ(c.get(1, [&] {
    env.now = 100;
    return std::uint64_t{1};
  }), 1u);
  env.now = 1050;
  env.u = 0.9;  // gap = -100·ln 0.9 ≈ 10.5: 1060.5 < 1100, a plain hit
  EXPECT_EQ(c.get(1, [] { return std::uint64_t{2}; }), 1u);
  EXPECT_EQ(c.stats().early_refreshes, 0u);
  env.u = 0.4;  // gap ≈ 91.6: 1141.6 ≥ 1100, refresh now
  EXPECT_EQ(c.get(1, [] { return std::uint64_t{2}; }), 2u);
  EXPECT_EQ(c.stats().early_refreshes, 1u);
  EXPECT_EQ(c.stats().backend_calls, 2u);
}

// With the default knobs of the cache scenario (ttl 5 ms, a 1 ms load, β = 1)
// XFetch's lead δ·β·(−ln u) passes the TTL on a hot key, so on the old code
// the first hit after every load started a refresh. By default no early
// refresh starts before half the TTL has passed since the value was stored.
// (Old code: the first get below, 1 ns after the store, refreshed.)
TEST(coalescing_cache, xfetch_waits_for_half_the_ttl_by_default_however_long_the_load) {
  fake_env env;
  cache c(env.options(1000ns, 0ns, 1.0));
  std::uint64_t calls = 0;
  auto loader = [&] {
    env.now += 5000;  // δ = 5000: five TTLs of lead
    return ++calls;
  };
  EXPECT_EQ(c.get(1, loader), 1u);  // stored at 5000, expires at 6000
  env.u = 1e-300;                   // the largest gap the generator can draw
  for (std::int64_t age : {1, 100, 250, 499}) {
    env.now = 5000 + age;
    EXPECT_EQ(c.get(1, loader), 1u) << "age " << age;
  }
  EXPECT_EQ(c.stats().early_refreshes, 0u);
  env.now = 5500;  // age = ttl/2: early refresh allowed, and this draw takes it
  EXPECT_EQ(c.get(1, loader), 2u);
  EXPECT_EQ(c.stats().early_refreshes, 1u);
  EXPECT_EQ(calls, 2u);
}

TEST(coalescing_cache, early_refresh_after_sets_the_fraction_of_the_ttl_before_any_early_refresh) {
  for (const double after : {0.0, 0.25, 0.9, 1.0}) {
    fake_env env;
    auto o = env.options(1000ns, 0ns, 1.0);
    o.early_refresh_after = after;
    cache c(o);
    std::uint64_t calls = 0;
    auto loader = [&] {
      env.now += 10;
      return ++calls;
    };
    (void)c.get(1, loader);  // stored at 10, expires at 1010
    env.u = 1e-300;
    const auto first = static_cast<std::int64_t>(after * 1000);  // the first age that may refresh early
    std::int64_t age = 1;
    for (; age < 1000 && c.stats().early_refreshes == 0; ++age) {
      env.now = 10 + age;
      (void)c.get(1, loader);
    }
    EXPECT_EQ(age - 1, after < 1.0 ? std::max<std::int64_t>(first, 1) : 999) << "after " << after;
    EXPECT_EQ(c.stats().early_refreshes, after < 1.0 ? 1u : 0u) << "after " << after;
  }
}

TEST(coalescing_cache, beta_zero_never_refreshes_early) {
  fake_env env;
  cache c(env.options(1000ns, 0ns, 0.0));
  (void)c.get(1, [&] {
    env.now = 100;
    return std::uint64_t{1};
  });
  env.now = 1099;
  env.u = 1e-300;
  EXPECT_EQ(c.get(1, [] { return std::uint64_t{2}; }), 1u);
  EXPECT_EQ(c.stats().early_refreshes, 0u);
}

TEST(coalescing_cache, an_error_is_remembered_for_the_negative_ttl_only) {
  fake_env env;
  cache c(env.options(1000ns, 0ns, 0));
  int calls = 0;
  auto failing = [&]() -> std::uint64_t {
    ++calls;
    throw std::runtime_error("down");
  };
  EXPECT_THROW((void)c.get(1, failing), std::runtime_error);
  env.now = 49;
  EXPECT_THROW((void)c.get(1, failing), std::runtime_error);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(c.stats().negative_hits, 1u);
  env.now = 50;
  EXPECT_EQ(c.get(1, [] { return std::uint64_t{5}; }), 5u);
}

TEST(coalescing_cache, a_failed_refresh_keeps_serving_the_old_value) {
  fake_env env;
  cache c(env.options(100ns, 1000ns, 0));
  (void)c.get(1, [] { return std::uint64_t{10}; });
  env.now = 150;
  EXPECT_EQ(c.get(1, []() -> std::uint64_t { throw std::runtime_error("down"); }), 10u);
  EXPECT_EQ(c.get(1, [] { return std::uint64_t{12}; }), 12u);  // the next caller retries
}

TEST(coalescing_cache, invalidate_drops_the_entry) {
  fake_env env;
  cache c(env.options(1000ns, 0ns, 0));
  (void)c.get(1, [] { return std::uint64_t{10}; });
  c.invalidate(1);
  EXPECT_EQ(c.get(1, [] { return std::uint64_t{11}; }), 11u);
}

TEST(coalescing_cache, a_load_started_before_invalidate_is_not_stored) {
  fake_env env;
  cache c(env.options(1000ns, 0ns, 0));
  EXPECT_EQ(c.get(1, [&] {
    c.invalidate(1);  // arrives while the load runs
    return std::uint64_t{10};
  }), 10u);
  EXPECT_EQ(c.get(1, [] { return std::uint64_t{11}; }), 11u);
}

TEST(coalescing_cache, size_stays_within_capacity_and_the_least_recently_used_goes_first) {
  fake_env env;
  auto o = env.options(1000ns, 0ns, 0);
  o.capacity = 4;
  o.shards = 1;
  cache c(o);
  for (std::uint64_t k = 0; k < 10; ++k) {
    (void)c.get(k, [k] { return k; });
    (void)c.get(0, [] { return std::uint64_t{0}; });  // keep key 0 hot
  }
  EXPECT_LE(c.size(), 4u);
  int calls = 0;
  EXPECT_EQ(c.get(0, [&] { return std::uint64_t(++calls); }), 0u);
  EXPECT_EQ(c.get(9, [&] { return std::uint64_t(++calls); }), 9u);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(c.get(1, [&] { return std::uint64_t(++calls); }), 1u);  // evicted: loaded again
  EXPECT_EQ(calls, 1);
}

TEST(coalescing_cache, concurrent_readers_always_see_a_value_of_their_own_key) {
  fake_env env;
  auto o = env.options(500ns, 200ns, 1.0);
  o.capacity = 64;
  o.shards = 4;
  o.uniform01 = {};  // the default generator, per thread
  cache c(o);
  constexpr unsigned threads = 16;
  constexpr unsigned per_thread = hotshard::test::thread_sanitizer ? 2000 : 20000;
  std::atomic<std::uint64_t> wrong{0}, errors{0};
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::uint64_t x = t + 1;
      for (unsigned i = 0; i < per_thread; ++i) {
        x = hotshard::detail::mix64(x);
        const std::uint64_t key = x % 100;
        if (t == 0) env.now.fetch_add(1);
        try {
          const auto v = c.get(key, [&]() -> std::uint64_t {
            if (x % 97 == 0) throw std::runtime_error("flaky");
            return key * 1000 + static_cast<std::uint64_t>(env.now.load() % 1000);
          });
          if (v / 1000 != key) wrong.fetch_add(1);
        } catch (const std::runtime_error&) {
          errors.fetch_add(1);
        }
      }
    });
  }
  // A metrics thread reads stats() all along: every counter only grows.
  std::atomic<bool> done{false};
  std::uint64_t snapshots = 0, went_back = 0;
  std::thread metrics([&] {
    hotshard::coalescing_cache_stats last{};
    while (!done.load(std::memory_order_acquire)) {
      const auto now = c.stats();
      went_back += now.gets < last.gets || now.hits < last.hits || now.misses < last.misses ||
                   now.backend_calls < last.backend_calls || now.errors < last.errors;
      last = now;
      ++snapshots;
    }
  });
  for (auto& th : pool) th.join();
  done.store(true, std::memory_order_release);
  metrics.join();
  EXPECT_GT(snapshots, 0u);
  EXPECT_EQ(went_back, 0u);
  EXPECT_EQ(wrong.load(), 0u);
  const auto st = c.stats();
  EXPECT_EQ(st.gets, std::uint64_t{threads} * per_thread);
  EXPECT_LE(c.size(), 64u);
  EXPECT_LE(st.backend_calls, st.gets);
}

}  // namespace
