// Stress of coalescing_cache's lock-free hit path (issue 16): more threads
// than cores read a few hot keys (hits, stale reads during refreshes, early
// refreshes, errors, get_for, peek) while one writer per key bumps the key's
// backend version and then invalidates or puts it, the cache is small enough
// to evict and rebuild its slot arrays all the time, and the clock moves.
// Invariants, checked exactly on every read:
//  - a value is its own key's, and well formed (values are heap strings, so
//    a read of a freed node is a use-after-free under ASan);
//  - never older than the version whose invalidate / put returned before the
//    read began (each key's floor, published by its writer after the call);
//  - stats add up to the number of calls.
// Run in debug, TSan and ASan; the second test adds schedule noise (yields at
// every step of the cache and of single_flight).
#include "sf_test_support.hpp"

#include <hotshard/coalescing_cache.hpp>
#include <hotshard/test/support.hpp>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

constexpr unsigned per_reader = hotshard::test::sanitizer_scale == 1 ? 30000 : 3000;  // a tenth under a sanitizer

std::string encode(std::uint64_t key, std::uint64_t version) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "key %08" PRIx64 " version %016" PRIx64 " (longer than any small-string buffer)", key,
                version);
  return buf;
}
bool decode(const std::string& s, std::uint64_t& key, std::uint64_t& version) {
  return std::sscanf(s.c_str(), "key %" SCNx64 " version %" SCNx64, &key, &version) == 2;
}

template <class Stats>
void run_stress() {
  constexpr std::uint64_t keys = 8;
  constexpr unsigned readers = 6, writers = 2;  // 8 threads, and more with the flights' leaders' waits
  std::atomic<std::int64_t> now{0};
  hotshard::coalescing_cache_options o;
  o.capacity = 5;  // fewer places than keys: eviction, tombstones and rebuilds all the time
  o.shards = 2;
  o.ttl = 300ns;
  o.grace = 200ns;
  o.beta = 1.0;
  o.negative_ttl = 20ns;
  o.clock_ns = [&now] { return now.load(std::memory_order_relaxed); };
  std::array<std::atomic<std::uint64_t>, keys> version{}, floor{};
  std::atomic<std::uint64_t> heard{0}, heard_bad{0};
  hotshard::coalescing_cache<std::uint64_t, std::string, hotshard::policy::contention_hook<Stats>> c(
      o, [&](const std::uint64_t& k, const std::string& v, hotshard::eviction_cause) {
        std::uint64_t dk = 0, dv = 0;
        if (!decode(v, dk, dv) || dk != k) heard_bad.fetch_add(1, std::memory_order_relaxed);
        heard.fetch_add(1, std::memory_order_relaxed);
      });
  std::atomic<unsigned> readers_done{0};
  std::atomic<std::uint64_t> wrong_key{0}, too_old{0}, calls{0}, thrown{0};
  std::vector<std::thread> pool;
  for (unsigned w = 0; w < writers; ++w) {
    pool.emplace_back([&, w] {
      std::uint64_t x = 1000 + w;
      while (readers_done.load(std::memory_order_acquire) < readers) {
        x = hotshard::detail::mix64(x);
        const std::uint64_t k = w + writers * (x % (keys / writers));  // one writer per key
        // The backend moves first, then the cache is told; once that call
        // returned, no read that begins may see an older version.
        const std::uint64_t v = version[k].fetch_add(1, std::memory_order_seq_cst) + 1;
        if (x % 2 == 0)
          c.invalidate(k);
        else
          c.put(k, encode(k, v));
        floor[k].store(v, std::memory_order_release);  // the only writer of this key's floor
        std::this_thread::yield();
      }
    });
  }
  for (unsigned r = 0; r < readers; ++r) {
    pool.emplace_back([&, r] {
      std::uint64_t x = r + 1;
      for (unsigned i = 0; i < per_reader; ++i) {
        x = hotshard::detail::mix64(x);
        const std::uint64_t k = x % keys;
        if (r == 0) now.fetch_add(1, std::memory_order_relaxed);
        const std::uint64_t f = floor[k].load(std::memory_order_acquire);
        auto check = [&](const std::string& s) {
          std::uint64_t dk = 0, dv = 0;
          if (!decode(s, dk, dv) || dk != k) wrong_key.fetch_add(1, std::memory_order_relaxed);
          else if (dv < f) too_old.fetch_add(1, std::memory_order_relaxed);
        };
        auto loader = [&]() -> std::string {
          const std::uint64_t v = version[k].load(std::memory_order_seq_cst);
          if (x % 23 == 0) throw std::runtime_error("flaky");
          return encode(k, v);
        };
        try {
          switch (x % 8) {
            case 0: {
              calls.fetch_add(1, std::memory_order_relaxed);
              const auto res = c.get_for(k, 0ns, loader);
              if (res.ok()) check(*res.value);
              if (res.failed()) thrown.fetch_add(1, std::memory_order_relaxed);
              break;
            }
            case 1:
              if (auto p = c.peek(k)) check(*p);
              (void)c.contains(k);
              break;
            default:
              calls.fetch_add(1, std::memory_order_relaxed);
              check(c.get(k, loader));
          }
        } catch (const std::runtime_error&) {
          thrown.fetch_add(1, std::memory_order_relaxed);
        }
      }
      readers_done.fetch_add(1, std::memory_order_release);
    });
  }
  for (auto& t : pool) t.join();
  EXPECT_EQ(wrong_key.load(), 0u);
  EXPECT_EQ(too_old.load(), 0u);
  EXPECT_EQ(heard_bad.load(), 0u);
  EXPECT_GT(heard.load(), 0u);
  const auto s = c.stats();
  EXPECT_EQ(s.gets, calls.load());
  EXPECT_EQ(s.hits + s.misses + s.stale_served + s.refreshes + s.errors + s.timeouts, s.gets);
  EXPECT_EQ(s.errors, thrown.load());
  EXPECT_LE(c.size(), 5u);
}

TEST(coalescing_cache_stress, reads_never_see_an_invalidated_value_or_freed_memory) {
  run_stress<hotshard::detail::no_stats>();
}

TEST(coalescing_cache_stress, the_same_under_schedule_noise) { run_stress<sf_test::noise>(); }

// More live threads than reader ids (64): the rest share stripes with RMWs,
// and the counts stay exact; threads that exit give their ids back.
TEST(coalescing_cache_stress, more_live_threads_than_reader_ids_and_threads_that_come_and_go) {
  hotshard::coalescing_cache_options o;
  o.ttl = std::chrono::hours(1);
  o.beta = 0;
  hotshard::coalescing_cache<std::uint64_t, std::uint64_t> c(o);
  constexpr unsigned live = 100, per_thread = 200;
  std::atomic<unsigned> arrived{0};
  std::atomic<std::uint64_t> wrong{0};
  auto reader = [&](unsigned t) {
    for (unsigned i = 0; i < per_thread; ++i) {
      const std::uint64_t k = (t + i) % 16;
      if (c.get(k, [k] { return k * 7; }) != k * 7) wrong.fetch_add(1, std::memory_order_relaxed);
    }
  };
  hotshard::test::run_threads(live, [&](unsigned t) {
    arrived.fetch_add(1);
    sf_test::await([&] { return arrived.load() == live; });  // all alive at once
    reader(t);
  });
  for (unsigned t = 0; t < 3 * live; ++t) std::thread(reader, t).join();  // one at a time: ids recycled
  EXPECT_EQ(wrong.load(), 0u);
  const auto s = c.stats();
  EXPECT_EQ(s.gets, std::uint64_t{4} * live * per_thread);
  EXPECT_EQ(s.hits + s.misses, s.gets);
  EXPECT_GE(s.misses, s.backend_calls);  // a miss may share another caller's load
  EXPECT_GE(s.backend_calls, 16u);
}

}  // namespace
