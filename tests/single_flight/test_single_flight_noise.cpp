// The stress tests of single_flight and coalescing_cache again, with schedule
// noise: a Stats policy (sf_test::noise) yields at every protocol step and
// contention event with probability 1/2, so claims, pins, publishes and frees
// interleave far more than the OS scheduler alone makes them. Run under TSan
// as well (scaled down there). Assertions are on outcomes, never on timing.
#include "sf_test_support.hpp"

#include <hotshard/coalescing_cache.hpp>
#include <hotshard/single_flight.hpp>
#include <hotshard/test/support.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

namespace {

using hotshard::test::run_threads;
using hotshard::test::sanitizer_scale;

using noisy_table = hotshard::single_flight<std::uint64_t, std::uint64_t, hotshard::policy::contention_hook<sf_test::noise>>;

TEST(single_flight_noise, values_never_mix_and_no_slot_leaks_under_schedule_noise) {
  constexpr unsigned threads = 8;
  const std::uint64_t per_thread = 20'000 / sanitizer_scale;
  noisy_table sf({.capacity = 16, .window = 4});  // small: slots are reused constantly, windows overlap
  std::atomic<std::uint64_t> loads{0}, wrong{0}, forgets{0};
  run_threads(threads, [&](unsigned t) {
    std::uint64_t x = t + 1;
    for (std::uint64_t i = 0; i < per_thread; ++i) {
      x = hotshard::detail::mix64(x);
      const std::uint64_t key = x % 12;
      if (x % 16 == 0) forgets += sf.forget(key) ? 1 : 0;
      if (x % 8 == 1) {  // a timed caller with a tiny timeout: timeouts and late leaves
        const auto r = sf.run_for(key, std::chrono::nanoseconds(x % 3000), [&] {
          loads.fetch_add(1, std::memory_order_relaxed);
          return key * 3 + 1;
        });
        if (!r.timed_out() && r.value != key * 3 + 1) wrong.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      const auto r = sf.run(key, [&] {
        loads.fetch_add(1, std::memory_order_relaxed);
        return key * 3 + 1;
      });
      if (r.value != key * 3 + 1) wrong.fetch_add(1, std::memory_order_relaxed);
    }
  });
  const auto st = sf.stats();
  EXPECT_EQ(wrong.load(), 0u);
  EXPECT_EQ(st.flights + st.overflow, loads.load());
  EXPECT_EQ(st.flights + st.overflow + st.joins + st.timeouts, per_thread * threads);
  EXPECT_EQ(sf.unsafe_slots_in_use(), 0u);
}

TEST(single_flight_noise, two_flights_of_one_key_never_load_at_the_same_time_under_schedule_noise) {
  constexpr unsigned threads = 6;
  constexpr std::uint64_t keys = 3;
  const std::uint64_t per_thread = 6'000 / sanitizer_scale;
  noisy_table sf({.capacity = 64, .window = 32});  // 6 threads hold at most 12 slots: no window fills
  // Under this much noise a caller can be beaten max_attempts times and then
  // load alone (overflow, allowed by the contract); flights must never overlap.
  sf_test::flight_overlap_probe<keys> probe;
  run_threads(threads, [&](unsigned t) {
    for (unsigned i = 0; i < per_thread; ++i) {
      const std::uint64_t key = (i * 7 + t) % keys;
      (void)sf.run(key, probe.loader(key, [] { sf_test::noise::maybe_yield(); }));
    }
  });
  EXPECT_EQ(probe.overlaps.load(), 0u);
  EXPECT_EQ(probe.flights.load(), sf.stats().flights);
  EXPECT_GT(probe.flights.load(), 0u);
  EXPECT_EQ(probe.alone.load(), sf.stats().overflow);
  EXPECT_EQ(sf.unsafe_slots_in_use(), 0u);
}

// The claim race of the probe window (Purcell–Harris with verdicts; models/
// single_flight_window.pml): one window of 8 slots shared by 4 keys, so the
// slot before a claim is often freed between a rival's two passes and two
// claims of one key land in different slots. Of two such claims only one may
// win: a flight's loader never overlaps another flight's of the same key.
TEST(single_flight_noise, two_claims_of_one_key_in_one_window_never_both_win_under_schedule_noise) {
  constexpr unsigned threads = 8;
  constexpr std::uint64_t keys = 4;
  const std::uint64_t per_thread = 20'000 / sanitizer_scale;
  noisy_table sf({.capacity = 8, .window = 8});  // the whole table is one window
  sf_test::flight_overlap_probe<keys> probe;
  run_threads(threads, [&](unsigned t) {
    std::uint64_t x = t + 1;
    for (std::uint64_t i = 0; i < per_thread; ++i) {
      x = hotshard::detail::mix64(x);
      const std::uint64_t key = x % keys;
      // A load long enough to race with.
      (void)sf.run(key, probe.loader(key, [] {
        for (int y = 0; y < 4; ++y) std::this_thread::yield();
      }));
    }
  });
  EXPECT_EQ(probe.overlaps.load(), 0u) << probe.alone.load() << " loads ran alone (overflow)";
  EXPECT_EQ(probe.alone.load(), sf.stats().overflow);
  EXPECT_EQ(probe.flights.load(), sf.stats().flights);
  EXPECT_GT(probe.flights.load(), 0u);
  EXPECT_EQ(sf.unsafe_slots_in_use(), 0u);
}

// Joiners of flights whose value copy throws (and callers whose key copy
// throws), mixed with ordinary callers: every exception path gives its slot back.
TEST(single_flight_noise, throwing_copies_under_schedule_noise_leave_no_slot_held) {
  using bomb = sf_test::copy_bomb;
  hotshard::single_flight<bomb, bomb, hotshard::policy::hash_with<sf_test::copy_bomb_hash>, hotshard::policy::contention_hook<sf_test::noise>> sf({.capacity = 16, .window = 4});
  constexpr unsigned threads = 6;
  const std::uint64_t per_thread = 4'000 / sanitizer_scale;
  std::atomic<std::uint64_t> wrong{0};
  run_threads(threads, [&](unsigned t) {
    std::uint64_t x = t + 11;
    for (unsigned i = 0; i < per_thread; ++i) {
      x = hotshard::detail::mix64(x);
      const int key = static_cast<int>(x % 5);
      const bomb k(key);
      bomb::armed = x % 4 == 0;  // a quarter of the calls: every copy in this thread throws
      try {
        const auto r = sf.run(k, [&] { return bomb(key * 10); });
        if (r.failed()) {  // the leader's own copy threw: status failed, origin own
          if (!bomb::armed || r.origin != hotshard::load_origin::own) wrong.fetch_add(1);
        } else if (r.value->v != key * 10) {
          wrong.fetch_add(1);
        }
      } catch (const std::runtime_error&) {
        if (!bomb::armed) wrong.fetch_add(1);  // only an armed thread's own copies may throw
      }
      bomb::armed = false;
    }
  });
  EXPECT_EQ(wrong.load(), 0u);
  EXPECT_EQ(sf.unsafe_slots_in_use(), 0u);
}

// Readers, loads, refreshes and invalidations of one small cache. Invalidations
// of a key are numbered; a load tags its value with the number of invalidations
// of its key begun before its loader ran. Any invalidation numbered above that
// began after the load did, so once it has returned no later get may see the
// value: a get that starts after invalidation n returned never sees a tag < n.
TEST(coalescing_cache_noise, readers_never_see_a_value_loaded_before_an_invalidation_they_follow) {
  using cache = hotshard::coalescing_cache<std::uint64_t, std::uint64_t, hotshard::policy::contention_hook<sf_test::noise>>;
  std::atomic<std::int64_t> now{0};
  cache::options o;
  o.capacity = 8;
  o.shards = 4;
  o.ttl = std::chrono::nanoseconds(400);
  o.grace = std::chrono::nanoseconds(200);
  o.beta = 1.0;
  o.negative_ttl = std::chrono::nanoseconds(50);
  o.clock_ns = [&now] { return now.load(); };
  cache c(o);
  constexpr std::uint64_t keys = 6;
  constexpr std::uint64_t tag = std::uint64_t{1} << 32;  // value = key * tag + invalidations begun
  std::array<std::atomic<std::uint64_t>, keys> begun{}, returned{};  // returned: highest number that has returned
  constexpr unsigned threads = 6;
  const std::uint64_t per_thread = 8'000 / sanitizer_scale;
  std::atomic<std::uint64_t> wrong{0}, stale{0};
  run_threads(threads, [&](unsigned t) {
    std::uint64_t x = t + 101;
    for (unsigned i = 0; i < per_thread; ++i) {
      x = hotshard::detail::mix64(x);
      const std::uint64_t key = x % keys;
      now.fetch_add(1);
      if (x % 10 == 0) {
        const std::uint64_t n = begun[key].fetch_add(1) + 1;
        c.invalidate(key);
        std::uint64_t r = returned[key].load();
        while (r < n && !returned[key].compare_exchange_weak(r, n)) {
        }
        continue;
      }
      const std::uint64_t floor = returned[key].load();
      try {
        const auto v = c.get(key, [&]() -> std::uint64_t {
          if (x % 31 == 0) throw std::runtime_error("flaky");
          return key * tag + begun[key].load();
        });
        if (v / tag != key) wrong.fetch_add(1);
        if (v % tag < floor) stale.fetch_add(1);
      } catch (const std::runtime_error&) {
      }
    }
  });
  EXPECT_EQ(wrong.load(), 0u);
  EXPECT_EQ(stale.load(), 0u);
  EXPECT_LE(c.size(), 8u);
}

// Issue 16: callers that give up (their own stop_token, requested by another
// thread at random moments, or a tiny deadline) race with loads that finish,
// under schedule noise. A loader that sees its stop throws "stopped"; since
// stop is requested only when no caller of the flight still waits, no caller
// may ever receive that exception, and every value received is the key's.
TEST(single_flight_noise, cancellations_racing_with_results_never_reach_a_caller_that_still_waits) {
  noisy_table sf({.capacity = 16, .window = 4});
  constexpr unsigned threads = 6;
  const std::uint64_t per_thread = 6'000 / sanitizer_scale;
  constexpr std::size_t n_sources = 256;
  std::vector<std::stop_source> sources(n_sources);  // requested one by one by the canceller
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> wrong{0}, stopped_seen{0}, cancelled{0}, progress{0};
  const std::uint64_t total = std::uint64_t{threads} * per_thread;
  // Source i is requested once the callers are i/n_sources of the way through,
  // and callers use the sources just ahead of that point: stops land mid-wait.
  std::thread canceller([&] {
    for (std::size_t i = 0; i < n_sources && !done.load(); ++i) {
      while (progress.load() * n_sources < i * total && !done.load()) std::this_thread::yield();
      sources[i].request_stop();
    }
  });
  run_threads(threads, [&](unsigned t) {
    std::uint64_t x = t + 5;
    for (unsigned i = 0; i < per_thread; ++i) {
      x = hotshard::detail::mix64(x);
      const std::uint64_t key = x % 4;
      auto loader = [&](std::stop_token st) -> std::uint64_t {
        for (int y = 0; y < 3; ++y) std::this_thread::yield();
        if (st.stop_requested()) throw std::runtime_error("stopped");
        return key * 7 + 1;
      };
      const std::uint64_t at = progress.fetch_add(1) * n_sources / total + (x >> 8) % 3;
      const std::stop_token tok = sources[std::min<std::uint64_t>(at, n_sources - 1)].get_token();
      const auto r = (x & 3) == 0 ? sf.run_for(key, std::chrono::nanoseconds(x % 2000), loader, tok)
                                  : sf.run(key, loader, tok);
      if (r.ok() && *r.value != key * 7 + 1) wrong.fetch_add(1);
      if (r.cancelled()) cancelled.fetch_add(1);
      if (r.failed()) {
        try {
          std::rethrow_exception(r.error);
        } catch (const std::runtime_error& e) {
          if (std::string(e.what()) == "stopped") stopped_seen.fetch_add(1);
        }
      }
    }
  });
  done = true;
  canceller.join();
  EXPECT_EQ(wrong.load(), 0u);
  EXPECT_EQ(stopped_seen.load(), 0u);
  EXPECT_EQ(sf.unsafe_slots_in_use(), 0u);
  std::printf("cancelled: %llu\n", static_cast<unsigned long long>(cancelled.load()));
}

}  // namespace
