// Tests of the coalescing_cache's service-grade operations (issue 16): stats
// that add up, put / peek / contains, the eviction listener, invalidating an
// uncached key, get_for's deadline, the refresh executor, and a hit that never
// takes the shard mutex. The clock is injected; races are staged with
// latches, never with sleeps or timeouts that depend on the machine's speed.
#include "sf_test_support.hpp"

#include <hotshard/coalescing_cache.hpp>
#include <hotshard/test/support.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using sf_test::await;
using sf_test::await_flag;
using cache = hotshard::coalescing_cache<std::uint64_t, std::uint64_t>;

struct fake_clock {
  std::atomic<std::int64_t> now{1000};
  std::atomic<double> u{0.5};
  cache::options options(std::chrono::nanoseconds ttl, std::chrono::nanoseconds grace = 0ns, double beta = 0) {
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

auto never_called = [] {
  ADD_FAILURE() << "a cached value was expected";
  return std::uint64_t{0};
};

std::uint64_t sum_of_categories(const hotshard::coalescing_cache_stats& s) {
  return s.hits + s.misses + s.stale_served + s.refreshes + s.errors + s.timeouts;
}

// --- stats add up ---------------------------------------------------------

// Every get lands in exactly one category; the old code left grace refreshes
// in none and counted a failed miss twice (misses and errors).
TEST(coalescing_cache_service, every_get_lands_in_exactly_one_category) {
  fake_clock clk;
  cache c(clk.options(100ns, 1000ns, 1.0));
  std::uint64_t calls = 0;
  auto check = [&](const char* what) {
    const auto s = c.stats();
    EXPECT_EQ(s.gets, calls) << what;
    EXPECT_EQ(sum_of_categories(s), s.gets) << what;
  };
  clk.u = 1.0;  // ln 1 = 0: no early refresh unless asked
  auto get = [&](std::uint64_t k, auto loader) {
    ++calls;
    return c.get(k, loader);
  };
  EXPECT_EQ(get(1, [] { return std::uint64_t{10}; }), 10u);  // miss
  EXPECT_EQ(get(1, never_called), 10u);                     // hit
  check("miss, hit");
  clk.now += 150;  // expired, within grace: this caller refreshes inline
  EXPECT_EQ(get(1, [] { return std::uint64_t{11}; }), 11u);
  check("grace refresh");
  EXPECT_EQ(c.stats().refreshes, 1u);
  clk.now += 150;  // a failed refresh: the old value, still one refresh
  EXPECT_EQ(get(1, []() -> std::uint64_t { throw std::runtime_error("down"); }), 11u);
  check("failed refresh");
  EXPECT_EQ(c.stats().refreshes, 2u);
  EXPECT_EQ(c.stats().load_failures, 1u);
  // An early refresh: δ = 0 makes the gap 0, so put a δ in with a slow load.
  EXPECT_EQ(get(2, [&] {
    clk.now += 10;
    return std::uint64_t{20};
  }), 20u);
  clk.now += 95;  // 5 before expiry, gap = -10·ln(0.01) ≈ 46
  clk.u = 0.01;
  EXPECT_EQ(get(2, [] { return std::uint64_t{21}; }), 21u);
  clk.u = 1.0;
  check("early refresh");
  EXPECT_EQ(c.stats().early_refreshes, 1u);
  EXPECT_EQ(c.stats().refreshes, 3u);
  // A failed miss is one error (not a miss too), a remembered one another.
  EXPECT_THROW(get(3, []() -> std::uint64_t { throw std::runtime_error("down"); }), std::runtime_error);
  EXPECT_THROW(get(3, never_called), std::runtime_error);
  check("errors");
  const auto s = c.stats();
  EXPECT_EQ(s.errors, 2u);
  EXPECT_EQ(s.negative_hits, 1u);
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.hits, 1u);
  // The export shape: every field, as a counter named *_total, with its value.
  std::vector<hotshard::detail::metric> got;
  s.for_each_metric([&](const hotshard::detail::metric& m) { got.push_back(m); });
  const std::vector<std::pair<std::string, std::uint64_t>> want = {
      {"gets_total", s.gets},           {"hits_total", s.hits},
      {"stale_served_total", s.stale_served}, {"misses_total", s.misses},
      {"backend_calls_total", s.backend_calls}, {"early_refreshes_total", s.early_refreshes},
      {"errors_total", s.errors},       {"negative_hits_total", s.negative_hits},
      {"refreshes_total", s.refreshes}, {"timeouts_total", s.timeouts},
      {"load_failures_total", s.load_failures}};
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].name, want[i].first);
    EXPECT_EQ(got[i].value, static_cast<double>(want[i].second)) << want[i].first;
    EXPECT_EQ(got[i].kind, hotshard::detail::metric_kind::counter);
    EXPECT_FALSE(got[i].help.empty());
  }
  EXPECT_EQ(s.gets, calls);  // nonzero fields above: the values are the snapshot's, not defaults
  EXPECT_EQ(s.load_failures, 2u);
}
static_assert(hotshard::detail::exportable_stats<hotshard::coalescing_cache_stats>);

TEST(coalescing_cache_service, stale_served_and_shared_misses_are_counted_once) {
  fake_clock clk;
  cache c(clk.options(100ns, 1000ns));
  (void)c.get(1, [] { return std::uint64_t{1}; });
  clk.now += 150;
  std::atomic<bool> started{false}, release{false};
  std::thread refresher([&] {
    EXPECT_EQ(c.get(1, [&] {
      started = true;
      await_flag(release);
      return std::uint64_t{2};
    }), 2u);
  });
  await_flag(started);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(c.get(1, never_called), 1u);
  release = true;
  refresher.join();
  const auto s = c.stats();
  EXPECT_EQ(s.gets, 7u);
  EXPECT_EQ(s.stale_served, 5u);
  EXPECT_EQ(s.refreshes, 1u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(sum_of_categories(s), s.gets);
}

TEST(coalescing_cache_service, stats_add_up_exactly_after_a_concurrent_run) {
  fake_clock clk;
  auto o = clk.options(300ns, 200ns, 1.0);
  o.capacity = 32;
  o.shards = 4;
  o.uniform01 = {};
  cache c(o);
  constexpr unsigned threads = 8;
  constexpr unsigned per_thread = hotshard::test::sanitizer_scale == 1 ? 20000 : 2000;  // a tenth under a sanitizer
  std::atomic<std::uint64_t> thrown{0}, timed_out{0};
  hotshard::test::run_threads(threads, [&](unsigned t) {
    std::uint64_t x = t + 1;
    for (unsigned i = 0; i < per_thread; ++i) {
      x = hotshard::detail::mix64(x);
      const std::uint64_t key = x % 50;
      if (t == 0) clk.now.fetch_add(1);
      if (x % 31 == 0) c.invalidate(key);
      auto loader = [&]() -> std::uint64_t {
        if (x % 13 == 0) throw std::runtime_error("flaky");
        return key;
      };
      try {
        if (x % 5 == 0) {
          const auto r = c.get_for(key, 0ns, loader);  // a failure is a status here, not a throw
          timed_out += r.timed_out() ? 1 : 0;
          thrown += r.failed() ? 1 : 0;
        } else {
          EXPECT_EQ(c.get(key, loader), key);
        }
      } catch (const std::runtime_error&) {
        thrown.fetch_add(1);
      }
    }
  });
  const auto s = c.stats();
  EXPECT_EQ(s.gets, std::uint64_t{threads} * per_thread);
  EXPECT_EQ(sum_of_categories(s), s.gets);
  EXPECT_EQ(s.errors, thrown.load());
  EXPECT_EQ(s.timeouts, timed_out.load());
  EXPECT_LE(s.negative_hits, s.errors);
  EXPECT_LE(s.early_refreshes, s.refreshes);
  EXPECT_LE(s.load_failures, s.backend_calls);
}

// --- put, peek, contains ---------------------------------------------------

TEST(coalescing_cache_service, put_stores_a_fresh_value_and_peek_reads_without_loading) {
  fake_clock clk;
  cache c(clk.options(100ns));
  EXPECT_FALSE(c.contains(1));
  EXPECT_EQ(c.peek(1), std::nullopt);
  c.put(1, 7);
  EXPECT_TRUE(c.contains(1));
  EXPECT_EQ(c.peek(1), std::optional<std::uint64_t>(7));
  EXPECT_EQ(c.get(1, never_called), 7u);
  c.put(1, 8);  // overwrites
  EXPECT_EQ(c.get(1, never_called), 8u);
  EXPECT_EQ(c.size(), 1u);
  clk.now += 100;  // expired: peek and contains say so, and load nothing
  EXPECT_FALSE(c.contains(1));
  EXPECT_EQ(c.peek(1), std::nullopt);
  EXPECT_EQ(c.stats().gets, 2u);  // peek and contains are not gets
  EXPECT_EQ(c.stats().backend_calls, 0u);
}

TEST(coalescing_cache_service, peek_does_not_show_a_remembered_error) {
  fake_clock clk;
  cache c(clk.options(100ns));
  EXPECT_THROW((void)c.get(1, []() -> std::uint64_t { throw std::runtime_error("down"); }), std::runtime_error);
  EXPECT_FALSE(c.contains(1));
  EXPECT_EQ(c.peek(1), std::nullopt);
}

TEST(coalescing_cache_service, a_load_begun_before_put_is_not_stored_and_not_joined) {
  fake_clock clk;
  cache c(clk.options(1h));
  std::atomic<bool> started{false}, release{false};
  std::thread old_load([&] {
    EXPECT_EQ(c.get(1, [&] {
      started = true;
      await_flag(release);
      return std::uint64_t{10};
    }), 10u);  // its own caller gets its value
  });
  await_flag(started);
  c.put(1, 20);
  EXPECT_EQ(c.get(1, never_called), 20u);
  release = true;
  old_load.join();
  EXPECT_EQ(c.get(1, never_called), 20u);  // the old load did not overwrite the put
}

TEST(coalescing_cache_service, put_on_a_full_cache_stays_within_capacity) {
  fake_clock clk;
  auto o = clk.options(1h);
  o.capacity = 3;
  o.shards = 1;
  cache c(o);
  for (std::uint64_t k = 0; k < 20; ++k) c.put(k, k);
  EXPECT_EQ(c.size(), 3u);
  for (std::uint64_t k = 17; k < 20; ++k) EXPECT_EQ(c.get(k, never_called), k);
}

// --- eviction listener, invalidating what is not cached --------------------

TEST(coalescing_cache_service, the_eviction_listener_hears_each_value_that_leaves_with_its_cause) {
  fake_clock clk;
  auto o = clk.options(100ns, 0ns);
  o.capacity = 2;
  o.shards = 1;
  std::vector<std::tuple<std::uint64_t, std::uint64_t, hotshard::eviction_cause>> heard;
  cache c(o, [&](const std::uint64_t& k, const std::uint64_t& v, hotshard::eviction_cause why) {
    heard.emplace_back(k, v, why);
  });
  using hotshard::eviction_cause;
  (void)c.get(1, [] { return std::uint64_t{10}; });
  (void)c.get(2, [] { return std::uint64_t{20}; });
  EXPECT_TRUE(heard.empty());
  (void)c.get(3, [] { return std::uint64_t{30}; });  // full: the oldest unused goes
  ASSERT_EQ(heard.size(), 1u);
  EXPECT_EQ(heard[0], std::make_tuple(std::uint64_t{1}, std::uint64_t{10}, eviction_cause::size));
  c.invalidate(2);
  ASSERT_EQ(heard.size(), 2u);
  EXPECT_EQ(heard[1], std::make_tuple(std::uint64_t{2}, std::uint64_t{20}, eviction_cause::invalidated));
  c.put(3, 31);
  ASSERT_EQ(heard.size(), 3u);
  EXPECT_EQ(heard[2], std::make_tuple(std::uint64_t{3}, std::uint64_t{30}, eviction_cause::replaced));
  clk.now += 100;  // expired: the reload replaces it
  EXPECT_EQ(c.get(3, [] { return std::uint64_t{32}; }), 32u);
  ASSERT_EQ(heard.size(), 4u);
  EXPECT_EQ(heard[3], std::make_tuple(std::uint64_t{3}, std::uint64_t{31}, eviction_cause::replaced));
  // An error entry is no value: nothing to hear when it goes.
  EXPECT_THROW((void)c.get(4, []() -> std::uint64_t { throw std::runtime_error("down"); }), std::runtime_error);
  c.invalidate(4);
  EXPECT_EQ(heard.size(), 4u);
  c.invalidate(99);  // not cached
  EXPECT_EQ(heard.size(), 4u);
}

TEST(coalescing_cache_service, the_listener_may_call_back_into_the_cache) {
  fake_clock clk;
  auto o = clk.options(1h);
  o.capacity = 1;
  o.shards = 1;
  cache* self = nullptr;
  int reentered = 0;
  cache c(o, [&](const std::uint64_t& k, const std::uint64_t&, hotshard::eviction_cause) {
    reentered += self->contains(k) ? 100 : 1;  // runs outside the shard mutex
  });
  self = &c;
  c.put(1, 1);
  c.put(2, 2);
  EXPECT_EQ(reentered, 1);
}

TEST(coalescing_cache_service, invalidating_keys_that_are_not_cached_never_evicts_a_live_entry) {
  fake_clock clk;
  auto o = clk.options(1h);
  o.capacity = 2;
  o.shards = 1;
  int evicted = 0;
  cache c(o, [&](const std::uint64_t&, const std::uint64_t&, hotshard::eviction_cause) { ++evicted; });
  (void)c.get(1, [] { return std::uint64_t{1}; });
  (void)c.get(2, [] { return std::uint64_t{2}; });
  for (std::uint64_t k = 3; k < 1000; ++k) c.invalidate(k);
  EXPECT_EQ(evicted, 0);
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(c.get(1, never_called), 1u);
  EXPECT_EQ(c.get(2, never_called), 2u);
}

// --- get_for ---------------------------------------------------------------

struct deadline_tag {};
using waiters = sf_test::waiter_count<deadline_tag>;
using counted_cache = hotshard::coalescing_cache<std::uint64_t, std::uint64_t, hotshard::policy::contention_hook<waiters>>;

TEST(coalescing_cache_service, get_for_times_out_while_the_load_goes_on_for_the_others) {
  fake_clock clk;
  cache::options o = clk.options(1h);
  counted_cache c(o);
  waiters::net = 0;
  std::atomic<bool> started{false}, release{false};
  std::thread leader([&] {
    const auto r = c.get_for(1, 0ns, [&] {  // the leader runs its load to the end
      started = true;
      await_flag(release);
      return std::uint64_t{10};
    });
    EXPECT_EQ(r.status, hotshard::load_status::loaded);
    EXPECT_EQ(r.value, std::optional<std::uint64_t>(10));
  });
  await_flag(started);
  const auto gave_up = c.get_for(1, 0ns, never_called);  // 0: gives up at once
  EXPECT_TRUE(gave_up.timed_out());
  EXPECT_EQ(gave_up.value, std::nullopt);
  std::thread patient([&] {
    const auto r = c.get_for(1, std::chrono::nanoseconds::max(), never_called);
    EXPECT_EQ(r.status, hotshard::load_status::shared);
    EXPECT_EQ(r.value, std::optional<std::uint64_t>(10));
  });
  await([] { return waiters::net.load() >= 2; });  // the timed-out caller and the patient one went to sleep
  release = true;
  leader.join();
  patient.join();
  const auto hit = c.get_for(1, 0ns, never_called);
  EXPECT_EQ(hit.status, hotshard::load_status::hit);
  EXPECT_EQ(hit.value, std::optional<std::uint64_t>(10));
  const auto s = c.stats();
  EXPECT_EQ(s.timeouts, 1u);
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.gets, 4u);
  EXPECT_EQ(s.backend_calls, 1u);
}

struct deadline_error_tag {};
using error_waiters = sf_test::waiter_count<deadline_error_tag>;

TEST(coalescing_cache_service, get_for_reports_the_error_of_the_load_it_waited_for_as_shared) {
  fake_clock clk;
  hotshard::coalescing_cache<std::uint64_t, std::uint64_t, hotshard::policy::contention_hook<error_waiters>> c(
      clk.options(1h));
  error_waiters::net = 0;
  std::atomic<bool> started{false}, release{false};
  std::thread leader([&] {
    EXPECT_THROW((void)c.get(1, [&]() -> std::uint64_t {
      started = true;
      await_flag(release);
      throw std::runtime_error("down");
    }), std::runtime_error);
  });
  await_flag(started);
  std::thread waiter([&] {
    const auto r = c.get_for(1, std::chrono::hours(1), never_called);
    ASSERT_TRUE(r.failed());
    EXPECT_EQ(r.origin, hotshard::load_origin::shared);  // the leader's load threw, not ours
    EXPECT_THROW((void)r.get(), std::runtime_error);
  });
  await([] { return error_waiters::net.load() >= 1; });
  release = true;
  leader.join();
  waiter.join();
  EXPECT_EQ(c.stats().errors, 2u);
  EXPECT_EQ(c.stats().load_failures, 1u);
}

TEST(coalescing_cache_service, get_for_serves_a_fresh_or_stale_value_without_waiting) {
  fake_clock clk;
  cache c(clk.options(100ns, 1000ns));
  EXPECT_EQ(c.get_for(1, 0ns, [] { return std::uint64_t{1}; }).status, hotshard::load_status::loaded);
  EXPECT_EQ(c.get_for(1, 0ns, never_called).status, hotshard::load_status::hit);
  clk.now += 150;
  std::atomic<bool> started{false}, release{false};
  std::thread refresher([&] {
    const auto r = c.get_for(1, 0ns, [&] {
      started = true;
      await_flag(release);
      return std::uint64_t{2};
    });
    EXPECT_EQ(r.status, hotshard::load_status::refreshed);
    EXPECT_EQ(r.value, std::optional<std::uint64_t>(2));
  });
  await_flag(started);
  const auto r = c.get_for(1, 0ns, never_called);
  EXPECT_EQ(r.status, hotshard::load_status::stale);
  EXPECT_EQ(r.value, std::optional<std::uint64_t>(1));
  release = true;
  refresher.join();
}

// --- refresh executor -------------------------------------------------------

struct manual_executor {
  std::vector<std::function<void()>> tasks;
  std::function<void(std::function<void()>)> hook() {
    return [this](std::function<void()> f) { tasks.push_back(std::move(f)); };
  }
  void run_all() {
    auto t = std::move(tasks);
    tasks.clear();
    for (auto& f : t) f();
  }
};

// A cache (TTL 100 ns, grace 1000 ns) whose refreshes go to a manual
// executor, and a copyable loader returning 10, 11, ... in load order.
struct executor_fixture {
  fake_clock clk;
  manual_executor ex;
  cache c{with_executor(clk, ex)};
  std::atomic<int> loads{0};
  std::function<std::uint64_t()> loader = [this] { return std::uint64_t(10 + loads.fetch_add(1)); };

  static cache::options with_executor(fake_clock& clk, manual_executor& ex) {
    auto o = clk.options(100ns, 1000ns);
    o.executor = ex.hook();
    return o;
  }
};

TEST(coalescing_cache_service, with_an_executor_the_caller_that_triggers_a_refresh_gets_the_old_value) {
  executor_fixture f;
  auto& [clk, ex, c, loads, loader] = f;
  EXPECT_EQ(c.get(1, loader), 10u);  // a miss loads inline
  EXPECT_TRUE(ex.tasks.empty());
  clk.now += 150;
  const auto r = c.get_for(1, 0ns, loader);
  EXPECT_EQ(r.status, hotshard::load_status::refreshed);
  EXPECT_EQ(r.value, std::optional<std::uint64_t>(10));  // the old value, at once
  EXPECT_EQ(loads.load(), 1);
  ASSERT_EQ(ex.tasks.size(), 1u);
  EXPECT_EQ(c.get(1, never_called), 10u);  // the refresh is pending: stale
  EXPECT_EQ(c.stats().stale_served, 1u);
  ex.run_all();
  EXPECT_EQ(loads.load(), 2);
  EXPECT_EQ(c.get(1, never_called), 11u);
  EXPECT_EQ(c.stats().refreshes, 1u);
}

TEST(coalescing_cache_service, an_early_refresh_also_goes_to_the_executor) {
  fake_clock clk;
  manual_executor ex;
  auto o = clk.options(100ns, 0ns, 1.0);
  o.executor = ex.hook();
  cache c(o);
  clk.u = 1.0;
  EXPECT_EQ(c.get(1, [&clk] {
    clk.now += 10;
    return std::uint64_t{1};
  }), 1u);
  clk.now += 95;
  clk.u = 0.01;
  EXPECT_EQ(c.get(1, [] { return std::uint64_t{2}; }), 1u);  // early refresh handed off, old value served
  EXPECT_EQ(c.stats().early_refreshes, 1u);
  ex.run_all();
  clk.u = 1.0;
  EXPECT_EQ(c.get(1, never_called), 2u);
}

TEST(coalescing_cache_service, a_refresh_task_dropped_unrun_gives_the_refresh_back) {
  fake_clock clk;
  manual_executor ex;
  auto o = clk.options(100ns, 1000ns);
  o.executor = ex.hook();
  cache c(o);
  (void)c.get(1, [] { return std::uint64_t{1}; });
  clk.now += 150;
  EXPECT_EQ(c.get(1, [] { return std::uint64_t{2}; }), 1u);
  ASSERT_EQ(ex.tasks.size(), 1u);
  ex.tasks.clear();  // dropped without running
  EXPECT_EQ(c.get(1, [] { return std::uint64_t{3}; }), 1u);  // a new refresh is started
  ASSERT_EQ(ex.tasks.size(), 1u);
  ex.run_all();
  EXPECT_EQ(c.get(1, never_called), 3u);
}

TEST(coalescing_cache_service, a_refresh_task_run_after_invalidate_stores_nothing) {
  fake_clock clk;
  manual_executor ex;
  auto o = clk.options(100ns, 1000ns);
  o.executor = ex.hook();
  cache c(o);
  (void)c.get(1, [] { return std::uint64_t{1}; });
  clk.now += 150;
  EXPECT_EQ(c.get(1, [] { return std::uint64_t{2}; }), 1u);
  c.invalidate(1);
  EXPECT_EQ(c.get(1, [] { return std::uint64_t{5}; }), 5u);
  ex.run_all();  // began before the invalidate: not stored
  EXPECT_EQ(c.get(1, never_called), 5u);
}

// A task still queued when its entry was replaced (expired past grace and
// reloaded by a miss) skips the backend call: the old code loaded anyway.
TEST(coalescing_cache_service, a_queued_refresh_whose_entry_was_replaced_skips_the_backend) {
  executor_fixture f;
  auto& [clk, ex, c, loads, loader] = f;
  EXPECT_EQ(c.get(1, loader), 10u);
  clk.now += 150;  // stale, in grace: the refresh is queued, the old value served
  EXPECT_EQ(c.get(1, loader), 10u);
  ASSERT_EQ(ex.tasks.size(), 1u);
  clk.now += 2000;  // past grace, the task still queued: a miss reloads inline
  EXPECT_EQ(c.get(1, loader), 11u);
  EXPECT_EQ(loads.load(), 2);
  ex.run_all();
  EXPECT_EQ(loads.load(), 2);  // the stale task did not call the backend
  EXPECT_EQ(c.get(1, never_called), 11u);
  // A task whose entry is still the one it was queued for does load.
  clk.now += 150;
  EXPECT_EQ(c.get(1, loader), 11u);
  ASSERT_EQ(ex.tasks.size(), 1u);
  ex.run_all();
  EXPECT_EQ(loads.load(), 3);
  EXPECT_EQ(c.get(1, never_called), 12u);
}

TEST(coalescing_cache_service, an_executor_that_refuses_the_task_means_an_inline_refresh) {
  fake_clock clk;
  auto o = clk.options(100ns, 1000ns);
  o.executor = [](std::function<void()>) { throw std::runtime_error("queue full"); };
  cache c(o);
  (void)c.get(1, [] { return std::uint64_t{1}; });
  clk.now += 150;
  EXPECT_EQ(c.get(1, [] { return std::uint64_t{2}; }), 2u);
}

// --- a hit takes no lock -----------------------------------------------------

// Keys that all hash alike; comparing them blocks in a thread that armed it.
struct sticky_key {
  std::uint64_t v = 0;
  static inline thread_local bool armed = false;
  static inline std::atomic<bool> inside{false}, release{false};
  friend bool operator==(const sticky_key& a, const sticky_key& b) {
    if (armed) {
      inside = true;
      await_flag(release);
    }
    return a.v == b.v;
  }
};
struct same_hash {
  std::size_t operator()(const sticky_key&) const noexcept { return 42; }
};

// The old code took the shard mutex on every get: the hit below waited for
// the blocked invalidate (this test then hangs until ctest's timeout).
TEST(coalescing_cache_service, a_hit_is_served_while_the_shard_mutex_is_held) {
  hotshard::coalescing_cache_options o;
  o.ttl = 1h;
  o.beta = 0;
  o.shards = 1;
  o.clock_ns = [] { return std::int64_t{0}; };
  hotshard::coalescing_cache<sticky_key, int, hotshard::policy::hash_with<same_hash>> c(o);
  EXPECT_EQ(c.get(sticky_key{1}, [] { return 1; }), 1);
  std::thread holder([&] {
    sticky_key::armed = true;
    c.invalidate(sticky_key{2});  // compares with key 1 under the shard mutex, and blocks there
    sticky_key::armed = false;
  });
  await_flag(sticky_key::inside);
  EXPECT_EQ(c.get(sticky_key{1}, [] {
    ADD_FAILURE() << "a cached value was expected";
    return 0;
  }), 1);
  EXPECT_EQ(c.peek(sticky_key{1}), std::optional<int>(1));
  sticky_key::release = true;
  holder.join();
  EXPECT_EQ(c.stats().hits, 1u);
}

// --- issue 16: get_all, string_view lookup, options naming the field -------

struct get_all_tag {};
using get_all_waiters = sf_test::waiter_count<get_all_tag>;
// Caffeine's getAll: of 100 keys, 25 cached are served, 25 in flight are
// joined, and ONE bulk call loads the other 50, which are then cached.
TEST(coalescing_cache_service, get_all_serves_cached_keys_joins_flights_and_loads_the_rest_in_one_bulk_call) {
  fake_clock clk;
  hotshard::coalescing_cache<std::uint64_t, std::uint64_t, hotshard::policy::contention_hook<get_all_waiters>> c(
      clk.options(1h));
  for (std::uint64_t k = 0; k < 25; ++k) c.put(k, k + 1000);
  std::atomic<int> started{0}, bulk_calls{0};
  std::atomic<bool> release{false};
  std::vector<std::thread> loaders;
  for (std::uint64_t k = 25; k < 50; ++k)
    loaders.emplace_back([&, k] {
      EXPECT_EQ(c.get(k, [&, k] {
        started.fetch_add(1);
        await_flag(release);
        return k + 2000;
      }),
                k + 2000);
    });
  await([&] { return started.load() == 25; });
  std::vector<std::uint64_t> keys(100), asked;
  for (std::uint64_t k = 0; k < 100; ++k) keys[k] = k;
  std::vector<hotshard::load_result<std::uint64_t>> got;
  std::thread bulk_caller([&] {
    got = c.get_all(keys, [&](std::span<const std::uint64_t> ks) {
      bulk_calls.fetch_add(1);
      asked.assign(ks.begin(), ks.end());
      std::map<std::uint64_t, std::uint64_t> m;
      for (auto k : ks) m[k] = k + 3000;
      return m;
    });
  });
  await([&] { return bulk_calls.load() == 1; });
  release = true;
  bulk_caller.join();
  for (auto& t : loaders) t.join();
  EXPECT_EQ(bulk_calls.load(), 1);
  ASSERT_EQ(asked.size(), 50u);
  for (auto k : asked) EXPECT_GE(k, 50u);
  for (std::uint64_t k = 0; k < 100; ++k) {
    const auto want = k < 25 ? hotshard::load_status::hit
                             : (k < 50 ? hotshard::load_status::shared : hotshard::load_status::loaded);
    EXPECT_EQ(got[k].status, want) << k;
    EXPECT_EQ(got[k].value, k < 25 ? k + 1000 : (k < 50 ? k + 2000 : k + 3000)) << k;
  }
  for (std::uint64_t k = 50; k < 100; ++k) EXPECT_EQ(c.peek(k), k + 3000) << "cached by the bulk load";
  const auto st = c.stats();
  EXPECT_EQ(st.gets, 125u);  // 25 gets + 100 keys of get_all
  EXPECT_EQ(sum_of_categories(st), st.gets);
  EXPECT_EQ(st.hits, 25u);
  EXPECT_EQ(st.backend_calls, 26u);  // 25 single loads + 1 bulk call
}

TEST(coalescing_cache_service, get_all_fails_omitted_keys_and_caches_nothing_for_them) {
  fake_clock clk;
  cache c(clk.options(1h));
  const std::vector<std::uint64_t> keys{1, 2};
  auto r = c.get_all(keys, [](std::span<const std::uint64_t>) {
    return std::vector<std::pair<std::uint64_t, std::uint64_t>>{{1, 11}};
  });
  EXPECT_EQ(r[0].value, 11u);
  ASSERT_TRUE(r[1].failed());
  EXPECT_THROW(std::rethrow_exception(r[1].error), hotshard::missing_key);
  EXPECT_FALSE(c.contains(2));
  EXPECT_EQ(c.get(2, [] { return std::uint64_t{22}; }), 22u);  // no remembered error: loads anew
  auto t = c.get_all(std::vector<std::uint64_t>{3}, [](std::span<const std::uint64_t>) -> std::map<std::uint64_t, std::uint64_t> {
    throw std::runtime_error("bulk down");
  });
  ASSERT_TRUE(t[0].failed());
  EXPECT_EQ(t[0].origin, hotshard::load_origin::own);
  EXPECT_EQ(sum_of_categories(c.stats()), c.stats().gets);
}

TEST(coalescing_cache_service, a_string_view_finds_the_entry_of_its_std_string_key) {
  hotshard::coalescing_cache<std::string, int> c({.capacity = 16, .ttl = 1h});
  c.put(std::string("AAPL"), 101);
  EXPECT_EQ(c.peek(std::string_view("AAPL")), 101);
  EXPECT_EQ(c.get(std::string_view("AAPL"), [] { return 0; }), 101);
  c.invalidate(std::string_view("AAPL"));
  EXPECT_FALSE(c.contains("AAPL"));
}

TEST(coalescing_cache_service, every_bad_option_throws_naming_its_field) {
  auto msg = [](hotshard::coalescing_cache_options o) -> std::string {
    try {
      cache c(std::move(o));
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "(no exception)";
  };
  EXPECT_NE(msg({.capacity = 0}).find("capacity"), std::string::npos);
  EXPECT_NE(msg({.shards = 0}).find("shards"), std::string::npos);
  EXPECT_NE(msg({.ttl = -1ns}).find("ttl"), std::string::npos);
  EXPECT_NE(msg({.grace = -1ns}).find("grace"), std::string::npos);
  EXPECT_NE(msg({.negative_ttl = -1ns}).find("negative_ttl"), std::string::npos);
  EXPECT_NE(msg({.beta = -1}).find("beta"), std::string::npos);
  EXPECT_NE(msg({.early_refresh_after = -0.01}).find("early_refresh_after"), std::string::npos);
  EXPECT_NE(msg({.early_refresh_after = 1.01}).find("early_refresh_after"), std::string::npos);
  EXPECT_NE(msg({.early_refresh_after = std::nan("")}).find("early_refresh_after"), std::string::npos);
  EXPECT_NE(msg({.flight_capacity = 0}).find("flight_capacity"), std::string::npos);
}

}  // namespace
