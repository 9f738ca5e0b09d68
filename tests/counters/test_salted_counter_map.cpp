#include <hotshard/salted_counter_map.hpp>

#include <hotshard/concepts/counter.hpp>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/detail/hash.hpp>
#include <hotshard/detail/metrics.hpp>
#include <hotshard/detail/word_table.hpp>
#include <hotshard/keys.hpp>
#include <hotshard/test/support.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using hotshard::salted_counter_map;
using hotshard::salted_counter_map_config;
using hotshard::test::run_threads;
using hotshard::test::sanitizer_scale;
using map64 = salted_counter_map<std::uint64_t>;

static_assert(hotshard::concepts::keyed_counter<map64, std::uint64_t>);
static_assert(hotshard::concepts::keyed_counter<salted_counter_map<int>, int>);

TEST(salted_counter_map, reads_zero_for_a_key_never_added) {
  map64 m;
  EXPECT_EQ(m.read(42), 0);
  EXPECT_EQ(m.salt_of(42), 1u);
  EXPECT_EQ(m.unsafe_size(), 0u);
}

TEST(salted_counter_map, counts_each_key_separately_including_zero_and_extreme_keys) {
  map64 m;
  const std::uint64_t keys[] = {0, 1, 2, 1u << 20, std::numeric_limits<std::uint64_t>::max()};
  std::int64_t delta = 1;
  for (auto k : keys) {
    ASSERT_TRUE(m.add(k, delta));
    ASSERT_TRUE(m.add(k, -2 * delta));
    ASSERT_TRUE(m.add(k, 3 * delta));
    delta *= 10;
  }
  delta = 1;
  for (auto k : keys) {
    EXPECT_EQ(m.read(k), 2 * delta) << k;
    delta *= 10;
  }
  EXPECT_EQ(m.unsafe_size(), 5u);
}

TEST(salted_counter_map, accepts_negative_signed_keys) {
  salted_counter_map<int> m;
  ASSERT_TRUE(m.add(-1, 5));
  ASSERT_TRUE(m.add(1, 6));
  EXPECT_EQ(m.read(-1), 5);
  EXPECT_EQ(m.read(1), 6);
}

TEST(salted_counter_map, add_of_a_new_key_fails_cleanly_when_the_table_is_full) {
  map64 m({.capacity = 16, .hot_capacity = 1, .max_salt = 2, .grow_after = 8, .seed = 1000});
  ASSERT_EQ(m.capacity(), 16u);
  for (std::uint64_t k = 1; k <= 16; ++k) ASSERT_TRUE(m.add(k, static_cast<std::int64_t>(k)));
  EXPECT_FALSE(m.add(17, 1));
  EXPECT_EQ(m.read(17), 0);
  EXPECT_FALSE(m.promote(18, 2));
  for (std::uint64_t k = 1; k <= 16; ++k) {
    EXPECT_TRUE(m.add(k, 1));  // present keys still count
    EXPECT_EQ(m.read(k), static_cast<std::int64_t>(k) + 1);
  }
  EXPECT_TRUE(m.add(1000, 1));  // the key equal to the seed has its own entry
  EXPECT_EQ(m.unsafe_size(), 17u);
}

TEST(salted_counter_map, promote_salts_a_key_and_keeps_its_count) {
  map64 m({.capacity = 64, .hot_capacity = 4, .max_salt = 8, .grow_after = 8});
  ASSERT_TRUE(m.add(7, 100));
  ASSERT_TRUE(m.promote(7, 3));
  EXPECT_EQ(m.salt_of(7), 4u);  // rounded up to a power of two
  ASSERT_TRUE(m.add(7, 5));
  EXPECT_EQ(m.read(7), 105);
  ASSERT_TRUE(m.promote(7, 1000));
  EXPECT_EQ(m.salt_of(7), 8u);  // capped at max_salt
  ASSERT_TRUE(m.promote(7, 2));
  EXPECT_EQ(m.salt_of(7), 8u);  // never shrinks
  EXPECT_EQ(m.read(7), 105);
}

TEST(salted_counter_map, promote_fails_when_the_hot_pool_is_exhausted_and_counting_goes_on) {
  map64 m({.capacity = 64, .hot_capacity = 1, .max_salt = 4, .grow_after = 8});
  EXPECT_TRUE(m.promote(1, 4));
  EXPECT_FALSE(m.promote(2, 4));
  EXPECT_EQ(m.salt_of(2), 1u);
  ASSERT_TRUE(m.add(2, 9));
  EXPECT_EQ(m.read(2), 9);
}

TEST(salted_counter_map, memory_is_bounded_by_the_documented_formula) {
  map64 m({.capacity = 1000, .hot_capacity = 10, .max_salt = 4, .grow_after = 8});
  EXPECT_EQ(m.capacity(), 1024u);
  EXPECT_LE(m.memory_bytes(), 16u * 1024 + 64u * 10 * 5 + 512u);
  EXPECT_LE(sizeof(m), 512u);
}

// Many threads insert the same fresh keys at once: each key gets one entry.
TEST(salted_counter_map, concurrent_inserts_of_the_same_keys_sum_exactly) {
  map64 m({.capacity = 32768, .hot_capacity = 64, .max_salt = 8, .grow_after = 4});
  constexpr unsigned threads = 16;
  const std::uint64_t keys = 10'000 / sanitizer_scale + 100;
  run_threads(threads, [&](unsigned t) {
    for (int round = 0; round < 4; ++round)
      for (std::uint64_t k = 0; k < keys; ++k) ASSERT_TRUE(m.add((k * 7919 + t) % keys, 1));
  });
  EXPECT_EQ(m.unsafe_size(), keys);
  for (std::uint64_t k = 0; k < keys; ++k) EXPECT_EQ(m.read(k), 4 * threads) << k;
}

// Threads race to salt the same key while adding to it: one block wins, the
// losers' blocks go back to the pool, and not one add is lost or doubled.
TEST(salted_counter_map, racing_promotions_of_one_key_keep_its_count_exact) {
  map64 m({.capacity = 64, .hot_capacity = 2, .max_salt = 8, .grow_after = 8});
  const std::int64_t per_thread = 20'000 / static_cast<std::int64_t>(sanitizer_scale);
  run_threads(16, [&](unsigned t) {
    for (std::int64_t i = 0; i < per_thread; ++i) {
      ASSERT_TRUE(m.add(5, 1));
      if (i == per_thread / 2) {
        EXPECT_TRUE(m.promote(5, 2u << (t % 3)));
      }
    }
  });
  EXPECT_EQ(m.read(5), 16 * per_thread);
  EXPECT_EQ(m.salt_of(5), 8u);
  EXPECT_TRUE(m.promote(6, 2));  // the second block is still in the pool
}

struct counted_failures {
  static inline std::atomic<std::uint64_t> n{0};
  static void cas_failure() noexcept { n.fetch_add(1, std::memory_order_relaxed); }
  static constexpr void spin() noexcept {}
  static constexpr void wait() noexcept {}
};
// The same, with a random yield at every schedule point (schedule noise).
struct noisy_counted_failures : counted_failures {
  static void schedule_point() noexcept { hotshard::detail::yielding_stats::schedule_point(); }
};

// Threads hammer one key until contention has salted it (K ≥ 2) and then grown
// it further; the deadline is only a hang guard, the asserts are exact.
template <class Stats = counted_failures>
void hammer_until_salted(unsigned threads, std::uint32_t target_k, std::uint64_t min_ops = 100'000) {
  salted_counter_map<std::uint64_t, hotshard::policy::contention_hook<Stats>> m({.capacity = 128, .hot_capacity = 4, .max_salt = 8, .grow_after = 1});
  counted_failures::n.store(0);
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> total{0};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  run_threads(threads, [&](unsigned t) {
    std::int64_t mine = 0;
    std::uint64_t i = 0;
    do {
      ASSERT_TRUE(m.add(99, 1 + (t % 3)));
      ASSERT_TRUE(m.add(t, 1));  // a cold key per thread beside it
      mine += 1 + (t % 3);
      if ((++i & 1023) == 0 && i >= min_ops / sanitizer_scale && (m.salt_of(99) >= target_k || std::chrono::steady_clock::now() > deadline))
        stop.store(true, std::memory_order_relaxed);
    } while (!stop.load(std::memory_order_relaxed));
    total.fetch_add(mine, std::memory_order_relaxed);
    EXPECT_GE(m.read(t), 1);
  });
  EXPECT_GE(m.salt_of(99), target_k);
  EXPECT_GT(counted_failures::n.load(), 0u);
  EXPECT_EQ(m.read(99), total.load());
}

// Under TSan threads rarely overlap inside a CAS window on 2 cores: there we
// only ask for the first salting (K = 2), which value-word contention brings.
constexpr std::uint32_t grown_k = hotshard::test::thread_sanitizer ? 2 : 4;
TEST(salted_counter_map, contention_grows_a_hot_keys_salt_and_it_still_sums_exactly_16_threads) {
  hammer_until_salted(16, grown_k);
}
TEST(salted_counter_map, contention_salts_a_hot_key_and_it_still_sums_exactly_64_threads) {
  hammer_until_salted(64, 2);
}
TEST(salted_counter_map, contention_salts_a_hot_key_and_it_still_sums_exactly_under_schedule_noise) {
  hammer_until_salted<noisy_counted_failures>(16, 2, 8'000);
}

// Threads racing to insert the same keys and salt one, with a random yield at
// every step (between a load and its CAS, between claiming a block and
// publishing it).
TEST(salted_counter_map, racing_inserts_and_promotions_sum_exactly_under_schedule_noise) {
  salted_counter_map<std::uint64_t, hotshard::policy::yield_at_schedule_points> m(
      {.capacity = 4096, .hot_capacity = 1024, .max_salt = 8, .grow_after = 2});
  const std::uint64_t keys = 500;
  const std::int64_t rounds = 16 / static_cast<std::int64_t>(sanitizer_scale) + 2;
  run_threads(16, [&](unsigned t) {
    for (std::int64_t r = 0; r < rounds; ++r) {
      for (std::uint64_t k = 0; k < keys; ++k) ASSERT_TRUE(m.add((k * 7919 + t) % keys, 1));
      if (r == rounds / 2) {
        EXPECT_TRUE(m.promote(3, 2u << (t % 3)));
      }
    }
  });
  EXPECT_EQ(m.unsafe_size(), keys);
  for (std::uint64_t k = 0; k < keys; ++k) ASSERT_EQ(m.read(k), 16 * rounds) << k;
  EXPECT_EQ(m.salt_of(3), 8u);
}

// A bad configuration throws std::invalid_argument naming the field.
std::string rejection_of(salted_counter_map_config cfg) {
  try {
    map64 m(cfg);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "accepted";
}

TEST(salted_counter_map, rejects_sizes_whose_power_of_two_or_table_does_not_fit_naming_the_field) {
  // bit_ceil(2^31 + 1) does not fit 32 bits: the old code computed 0 sub-counters.
  EXPECT_NE(rejection_of({.capacity = 64, .hot_capacity = 1, .max_salt = (1u << 31) + 1}).find("max_salt"),
            std::string::npos);
  EXPECT_NE(rejection_of({.capacity = 64, .hot_capacity = 1, .max_salt = ~0u}).find("max_salt"), std::string::npos);
  EXPECT_NE(rejection_of({.capacity = SIZE_MAX}).find("capacity"), std::string::npos);
  EXPECT_NE(rejection_of({.capacity = (std::size_t{1} << 63) + 1}).find("capacity"), std::string::npos);
  EXPECT_NE(rejection_of({.capacity = std::size_t{1} << 62}).find("capacity"), std::string::npos);  // 2^66 bytes
  EXPECT_NE(rejection_of({.capacity = 0}).find("capacity"), std::string::npos);
  EXPECT_NE(rejection_of({.capacity = 64, .hot_capacity = (std::size_t{1} << 32) + 1}).find("hot_capacity"),
            std::string::npos);
  EXPECT_NE(rejection_of({.capacity = 64, .hot_capacity = std::size_t{1} << 32, .max_salt = 1u << 31})
                .find("hot_capacity x max_salt"),
            std::string::npos);
  EXPECT_NE(rejection_of({.capacity = 64, .grow_after = 0}).find("grow_after"), std::string::npos);
}

// No silent clamps (issue 16): max_salt = 1 (no salting) was raised to 2
// without a word; it is rejected naming the field. 0 (auto) and 2 are kept.
TEST(salted_counter_map, rejects_max_salt_one_instead_of_raising_it) {
  EXPECT_NE(rejection_of({.capacity = 64, .max_salt = 1}).find("salted_counter_map: max_salt"), std::string::npos);
  EXPECT_EQ(rejection_of({.capacity = 64, .max_salt = 2}), "accepted");
  EXPECT_EQ(rejection_of({.capacity = 64, .max_salt = 0}), "accepted");
  EXPECT_EQ(map64({.capacity = 64, .max_salt = 2}).max_salt(), 2u);
  EXPECT_GE(map64({.capacity = 64, .max_salt = 0}).max_salt(), 2u);
}

TEST(salted_counter_map, draws_a_seed_per_instance_unless_one_is_given) {
  map64 a, b;
  EXPECT_NE(a.seed(), b.seed());
  map64 fixed({.capacity = 64, .seed = 12345});
  EXPECT_EQ(fixed.seed(), 12345u);
  // The key equal to the seed is the one whose word is 0 (the side entry): it
  // counts like any other, as does key 0.
  ASSERT_TRUE(fixed.add(12345, 3));
  ASSERT_TRUE(fixed.add(0, 4));
  EXPECT_EQ(fixed.read(12345), 3);
  EXPECT_EQ(fixed.read(0), 4);
  EXPECT_EQ(fixed.unsafe_size(), 2u);
}

// Hash flooding: keys that all start the same probe run under one seed fill
// the table's window and get refused there; under a fresh seed they spread.
TEST(salted_counter_map, keys_crafted_for_one_seed_do_not_flood_another_instance) {
  const salted_counter_map_config cfg{.capacity = 1024, .hot_capacity = 1, .max_salt = 2, .seed = 777};
  map64 victim(cfg);
  const std::uint64_t start = hotshard::detail::mix64(1 ^ 777) & 1023;
  std::vector<std::uint64_t> flood;
  for (std::uint64_t k = 2; flood.size() < 300; ++k)
    if ((hotshard::detail::mix64(k ^ 777) & 1023) == start) flood.push_back(k);
  std::size_t refused = 0;
  for (const auto k : flood) refused += victim.add(k, 1) ? 0 : 1;
  EXPECT_GT(refused, 0u);  // more keys than the probe limit on one run: the attack works on seed 777
  map64 fresh({.capacity = 1024, .hot_capacity = 1, .max_salt = 2});
  for (const auto k : flood) ASSERT_TRUE(fresh.add(k, 1));
}

}  // namespace

// ---- export and per-window reset ---------------------------------------------

TEST(salted_counter_map, for_each_exports_every_key_and_its_count_salted_or_not) {
  for (std::uint64_t seed : {std::uint64_t{0}, std::uint64_t{5}}) {
    hotshard::salted_counter_map<std::int32_t> m({.capacity = 64, .hot_capacity = 4, .max_salt = 4, .seed = seed});
    std::map<std::int32_t, std::int64_t> want;
    for (std::int32_t k : {-3, 0, 5, 7, 1 << 30, std::numeric_limits<std::int32_t>::min()}) {
      ASSERT_TRUE(m.add(k, k % 100 + 1000));
      want[k] += k % 100 + 1000;
    }
    ASSERT_TRUE(m.promote(7, 4));  // salted: counted from its sub-counters
    ASSERT_TRUE(m.add(7, 3));
    want[7] += 3;
    std::map<std::int32_t, std::int64_t> got;
    m.for_each([&](std::int32_t k, std::int64_t c) { EXPECT_TRUE(got.emplace(k, c).second) << "key twice: " << k; });
    EXPECT_EQ(got, want);  // seed 5: key 5 is the key whose word is 0 (the dedicated entry)
  }
}

TEST(salted_counter_map, unsafe_reset_empties_the_table_and_gives_the_salting_pool_back) {
  hotshard::salted_counter_map<std::uint64_t> m({.capacity = 64, .hot_capacity = 2, .max_salt = 4});
  // A hot set that moves every window: 2 new keys promoted per window, 40
  // windows = 80 promotions through a pool of 2 blocks (used to fail at the 3rd).
  for (std::uint64_t window = 0; window < 40; ++window) {
    for (std::uint64_t k = 2 * window; k < 2 * window + 2; ++k) {
      ASSERT_TRUE(m.add(k, 5));
      ASSERT_TRUE(m.promote(k, 4)) << "window " << window;
      ASSERT_TRUE(m.add(k, 1));
      EXPECT_EQ(m.salt_of(k), 4u);
    }
    std::int64_t total = 0;
    std::size_t keys = 0;
    m.for_each([&](std::uint64_t, std::int64_t c) { total += c, ++keys; });
    EXPECT_EQ(keys, 2u);
    EXPECT_EQ(total, 12);
    m.unsafe_reset();
    EXPECT_EQ(m.unsafe_size(), 0u);
    EXPECT_EQ(m.read(2 * window), 0);
    EXPECT_EQ(m.salt_of(2 * window), 1u);
  }
}

// for_each beside writers (more threads than cores): every exported count is
// one the key really had (between 0 and its final value, and exact at the end).
TEST(salted_counter_map, for_each_beside_concurrent_adds_sees_counts_within_bounds_and_exact_at_the_end) {
  hotshard::salted_counter_map<std::uint64_t> m({.capacity = 256, .hot_capacity = 4, .grow_after = 1});
  constexpr unsigned threads = 16;
  // A multiple of 8, so each key gets the same number of adds (per/8) from
  // every thread, whatever sanitizer_scale is.
  const std::uint64_t per = 4000 / sanitizer_scale / 8 * 8;
  std::atomic<bool> go{false};
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (std::uint64_t i = 0; i < per; ++i) ASSERT_TRUE(m.add(i % 8, 1 + (t % 2)));
    });
  ASSERT_TRUE(m.promote(0, 8));
  go = true;
  const std::int64_t final_per_key = static_cast<std::int64_t>(per / 8 * (threads / 2) * 3);
  for (int round = 0; round < 50; ++round)
    m.for_each([&](std::uint64_t k, std::int64_t c) {
      EXPECT_LT(k, 8u);
      EXPECT_GE(c, 0);
      EXPECT_LE(c, final_per_key);
    });
  for (auto& th : ts) th.join();
  std::size_t keys = 0;
  m.for_each([&](std::uint64_t, std::int64_t c) {
    EXPECT_EQ(c, final_per_key);
    ++keys;
  });
  EXPECT_EQ(keys, 8u);
}

// --- giving the salt back (issue 16) ------------------------------------------

// Regression: the hot pool was never refilled, so the 65th key ever promoted
// failed. A hot set that moves forever (promote, count, demote) now runs
// through 10x the pool with every promote succeeding and every count exact.
TEST(salted_counter_map_demote, a_moving_hot_set_never_exhausts_the_pool_65th_promotion_and_beyond) {
  map64 m({.capacity = 4096, .max_salt = 4});  // default hot_capacity: 64
  ASSERT_EQ(m.hot_capacity(), 64u);
  const std::uint64_t keys = 10 * m.hot_capacity();
  for (std::uint64_t k = 0; k < keys; ++k) {
    ASSERT_TRUE(m.add(k, 3));
    ASSERT_TRUE(m.promote(k, 4)) << "promotion " << k + 1;
    ASSERT_EQ(m.salt_of(k), 4u);
    ASSERT_TRUE(m.add(k, 2));
    ASSERT_TRUE(m.demote(k)) << k;
    ASSERT_EQ(m.salt_of(k), 1u);
    ASSERT_TRUE(m.add(k, 1));
  }
  for (std::uint64_t k = 0; k < keys; ++k) ASSERT_EQ(m.read(k), 6) << k;
  const auto s = m.stats();
  EXPECT_EQ(s.promotions_total, keys);
  EXPECT_EQ(s.demotions_total, keys);
  EXPECT_EQ(s.blocks_in_use, 0u);
  EXPECT_EQ(s.blocks_free, 64u);
  EXPECT_EQ(s.keys_salted, 0u);
}

TEST(salted_counter_map_demote, folds_every_sub_counter_back_and_refuses_what_it_cannot_demote) {
  map64 m({.capacity = 64, .hot_capacity = 1, .max_salt = 8, .seed = 3});
  EXPECT_FALSE(m.demote(7));  // absent
  ASSERT_TRUE(m.add(7, 5));
  EXPECT_FALSE(m.demote(7));  // not salted
  ASSERT_TRUE(m.promote(7, 8));
  EXPECT_FALSE(m.promote(8, 2));  // the one block is taken
  // Adds from several threads land in several sub-counters.
  run_threads(8, [&](unsigned t) {
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(m.add(7, 1 + t));
  });
  const std::int64_t want = 5 + 1000 * (1 + 2 + 3 + 4 + 5 + 6 + 7 + 8);
  EXPECT_EQ(m.read(7), want);
  ASSERT_TRUE(m.demote(7));
  EXPECT_FALSE(m.demote(7));
  EXPECT_EQ(m.read(7), want);
  EXPECT_EQ(m.salt_of(7), 1u);
  ASSERT_TRUE(m.promote(8, 2));  // the block is back
  ASSERT_TRUE(m.add(8, -4));
  EXPECT_EQ(m.read(8), -4);      // a reused block starts from zero
  ASSERT_TRUE(m.promote(3, 2) == false);
  // The key whose word is 0 (key == seed) salts and demotes like any other.
  ASSERT_TRUE(m.demote(8));
  ASSERT_TRUE(m.add(3, 2));
  ASSERT_TRUE(m.promote(3, 4));
  ASSERT_TRUE(m.add(3, 2));
  ASSERT_TRUE(m.demote(3));
  EXPECT_EQ(m.read(3), 4);
}

// The stress the protocol is for: more threads than cores; adders over a hot
// set that moves, detector threads promoting the keys entering it and
// demoting the ones leaving (far more promotions than pool blocks), readers
// checking each key's count never goes down, all with a random yield at every
// step of the protocol. After join every key's count is exact.
TEST(salted_counter_map_demote, adds_reads_promotes_and_demotes_over_a_moving_hot_set_sum_exactly) {
  using noisy = salted_counter_map<std::uint64_t, hotshard::policy::yield_at_schedule_points>;
  constexpr std::size_t hot = 4;
  noisy m({.capacity = 1024, .hot_capacity = hot, .max_salt = 8, .grow_after = 2});
  constexpr std::uint64_t keys = 64;
  constexpr unsigned adders = 10, detectors = 4, readers = 2;
  const std::uint64_t target_promotions = 10 * hot * 4;  // ≥ 10x the pool
  std::atomic<std::uint64_t> window{0};                   // the hot set: keys [window, window + 4) mod keys
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> promoted{0};
  std::vector<std::int64_t> want(keys * adders, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  run_threads(adders + detectors + readers, [&](unsigned t) {
    if (t < adders) {
      std::uint64_t x = t + 1;
      while (!stop.load(std::memory_order_relaxed)) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        // 3 adds in 4 on the hot set, the rest anywhere.
        const std::uint64_t w = window.load(std::memory_order_relaxed);
        const std::uint64_t k = (x >> 60) < 12 ? (w + (x >> 33) % 4) % keys : (x >> 33) % keys;
        const std::int64_t d = 1 + static_cast<std::int64_t>((x >> 20) % 3);
        ASSERT_TRUE(m.add(k, d));
        want[t * keys + k] += d;
      }
    } else if (t < adders + detectors) {
      std::uint64_t x = t;
      // Promotions that took a block (a promote of a key already salted only raises its K).
      while (m.stats().promotions_total < target_promotions / sanitizer_scale &&
             std::chrono::steady_clock::now() < deadline) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        const std::uint64_t w = window.fetch_add((x >> 62) == 0 ? 1 : 0, std::memory_order_relaxed);
        // Promote the hot set's keys, demote the ones that left it.
        for (std::uint64_t i = 0; i < 4; ++i)
          if (m.promote((w + i) % keys, 2u << ((x >> (40 + i)) % 3))) promoted.fetch_add(1, std::memory_order_relaxed);
        for (std::uint64_t i = 1; i <= 4; ++i) (void)m.demote((w + keys - i) % keys);
      }
      stop.store(true, std::memory_order_relaxed);
    } else {
      std::vector<std::int64_t> last(keys, 0);
      std::uint64_t x = t;
      while (!stop.load(std::memory_order_relaxed)) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        const std::uint64_t k = (x >> 33) % keys;
        const std::int64_t c = m.read(k);
        ASSERT_GE(c, last[k]) << "key " << k << " went down";  // every delta is positive
        last[k] = c;
      }
    }
  });
  EXPECT_GE(m.stats().promotions_total, target_promotions / sanitizer_scale) << "deadline hit first";
  EXPECT_GT(promoted.load(), 0u);
  for (std::uint64_t k = 0; k < keys; ++k) {
    std::int64_t total = 0;
    for (unsigned t = 0; t < adders; ++t) total += want[t * keys + k];
    ASSERT_EQ(m.read(k), total) << "key " << k;
  }
  // Demote every key left salted: the pool is whole again, every salting had
  // exactly one demote, and the counts did not move.
  for (std::uint64_t k = 0; k < keys; ++k) (void)m.demote(k);
  const auto s = m.stats();
  EXPECT_EQ(s.blocks_in_use, 0u);
  EXPECT_EQ(s.blocks_free, hot);
  EXPECT_EQ(s.keys_salted, 0u);
  EXPECT_EQ(s.promotions_total, s.demotions_total);
  EXPECT_GE(s.demotions_total, target_promotions / sanitizer_scale);
  for (std::uint64_t k = 0; k < keys; ++k) {
    std::int64_t total = 0;
    for (unsigned t = 0; t < adders; ++t) total += want[t * keys + k];
    ASSERT_EQ(m.read(k), total) << "key " << k;
  }
}

// Two threads demoting the same key: exactly one gives the block back.
TEST(salted_counter_map_demote, racing_demotes_of_one_key_give_its_block_back_once) {
  using noisy = salted_counter_map<std::uint64_t, hotshard::policy::yield_at_schedule_points>;
  // grow_after: never salted by contention, so only promote() takes the block.
  noisy m({.capacity = 64, .hot_capacity = 2, .max_salt = 4, .grow_after = ~0u});
  const int rounds = 200 / static_cast<int>(sanitizer_scale);
  for (int r = 0; r < rounds; ++r) {
    ASSERT_TRUE(m.promote(5, 4));
    std::atomic<int> wins{0};
    run_threads(4, [&](unsigned t) {
      if (t < 2) {
        if (m.demote(5)) wins.fetch_add(1);
      } else {
        for (int i = 0; i < 50; ++i) ASSERT_TRUE(m.add(5, 1));
      }
    });
    ASSERT_EQ(wins.load(), 1) << "round " << r;
    ASSERT_EQ(m.read(5), 100 * (r + 1));
    ASSERT_EQ(m.stats().blocks_in_use, 0u);
  }
}

// --- any hashable key (issue 16) -------------------------------------------------

using string_map = salted_counter_map<std::string>;
static_assert(hotshard::concepts::keyed_counter<string_map, std::string>);
// Pointer keys would count addresses: they do not compile.
template <class K>
concept salted_map_of = requires { typename salted_counter_map<K>; };
static_assert(!salted_map_of<const char*>);
static_assert(!salted_map_of<int*>);
static_assert(salted_map_of<std::string> && salted_map_of<std::string_view> && salted_map_of<std::uint64_t>);

TEST(salted_counter_map_keys, string_keys_count_exactly_with_string_view_and_literal_lookups) {
  string_map m({.capacity = 64, .hot_capacity = 2, .max_salt = 4});
  const std::string a = "checkout";
  ASSERT_TRUE(m.add(a, 2));
  ASSERT_TRUE(m.add(std::string_view("checkout"), 3));  // no std::string built for the lookup
  ASSERT_TRUE(m.add("checkout", 4));
  ASSERT_TRUE(m.add(std::string("login"), 1));
  EXPECT_EQ(m.read(a), 9);
  EXPECT_EQ(m.read(std::string_view("checkout")), 9);
  EXPECT_EQ(m.read("login"), 1);
  EXPECT_EQ(m.read("absent"), 0);
  ASSERT_TRUE(m.promote("checkout", 4));
  EXPECT_EQ(m.salt_of(a), 4u);
  ASSERT_TRUE(m.add(a, 1));
  EXPECT_EQ(m.read("checkout"), 10);
  ASSERT_TRUE(m.demote(std::string_view("checkout")));
  EXPECT_EQ(m.salt_of("checkout"), 1u);
  EXPECT_EQ(m.read(a), 10);
  std::map<std::string, std::int64_t> got;
  m.for_each([&](const std::string& k, std::int64_t c) { got.emplace(k, c); });
  EXPECT_EQ(got, (std::map<std::string, std::int64_t>{{"checkout", 10}, {"login", 1}}));
  EXPECT_EQ(m.stats().keys_present, 2u);
}

// A hash that sends every key to one word: keys are told apart by the full
// compare, never merged.
struct one_word_hash {
  std::size_t operator()(const std::string&) const noexcept { return 42; }
};
TEST(salted_counter_map_keys, keys_whose_hashes_collide_are_kept_apart_by_the_full_key) {
  salted_counter_map<std::string, hotshard::policy::hash_with<one_word_hash>> m({.capacity = 64, .hot_capacity = 2, .max_salt = 2});
  for (int i = 0; i < 20; ++i)
    for (int j = 0; j <= i; ++j) ASSERT_TRUE(m.add("k" + std::to_string(j), 1));
  for (int j = 0; j < 20; ++j) EXPECT_EQ(m.read("k" + std::to_string(j)), 20 - j) << j;
  EXPECT_EQ(m.unsafe_size(), 20u);
}

// hashed_key (hash once per request) gives exactly the plain key's results.
TEST(salted_counter_map_keys, a_hashed_key_gives_exactly_the_result_of_the_plain_key) {
  string_map s({.capacity = 64, .hot_capacity = 2, .max_salt = 4});
  const std::string k = "item:17";
  const auto hk = hotshard::hash_once(k);
  ASSERT_TRUE(s.add(hk, 5));
  ASSERT_TRUE(s.add(k, 1));
  EXPECT_EQ(s.read(hk), 6);
  EXPECT_EQ(s.read(k), 6);
  ASSERT_TRUE(s.promote(hk, 2));
  EXPECT_EQ(s.salt_of(k), 2u);
  ASSERT_TRUE(s.demote(hk));
  EXPECT_EQ(s.salt_of(hk), 1u);
  EXPECT_EQ(s.unsafe_size(), 1u);
  map64 m({.capacity = 64, .hot_capacity = 2, .max_salt = 4});
  const std::uint64_t key = 77;
  ASSERT_TRUE(m.add(hotshard::hash_once(key), 3));
  ASSERT_TRUE(m.add(key, 4));
  EXPECT_EQ(m.read(hotshard::hash_once(key)), 7);
  ASSERT_TRUE(m.promote(hotshard::hash_once(key), 4));
  EXPECT_EQ(m.salt_of(key), 4u);
  ASSERT_TRUE(m.demote(hotshard::hash_once(key)));
  EXPECT_EQ(m.read(key), 7);
  EXPECT_EQ(m.unsafe_size(), 1u);
}

// Many threads racing to insert the same string keys (the busy → published
// claim of word_table), salting and demoting one: exact per key.
TEST(salted_counter_map_keys, racing_inserts_of_string_keys_with_promote_and_demote_sum_exactly) {
  salted_counter_map<std::string, hotshard::policy::yield_at_schedule_points> m(
      {.capacity = 1024, .hot_capacity = 2, .max_salt = 4, .grow_after = 4});
  const int keys = 100;
  const int rounds = 16 / static_cast<int>(sanitizer_scale) + 2;
  run_threads(16, [&](unsigned t) {
    for (int r = 0; r < rounds; ++r) {
      for (int k = 0; k < keys; ++k) ASSERT_TRUE(m.add("key-" + std::to_string((k * 31 + static_cast<int>(t)) % keys), 1));
      if (t == 0) (void)m.promote("key-3", 4);
      if (t == 1) (void)m.demote(std::string_view("key-3"));
    }
  });
  EXPECT_EQ(m.unsafe_size(), static_cast<std::size_t>(keys));
  for (int k = 0; k < keys; ++k) ASSERT_EQ(m.read("key-" + std::to_string(k)), 16 * rounds) << k;
}

// --- stats() -----------------------------------------------------------------------

TEST(salted_counter_map_stats, stats_count_keys_salting_and_refusals_and_name_every_metric) {
  map64 m({.capacity = 4, .hot_capacity = 3, .max_salt = 2, .seed = 1000});
  auto s = m.stats();
  EXPECT_EQ(s.keys_present, 0u);
  EXPECT_EQ(s.blocks_free, 3u);
  for (std::uint64_t k = 1; k <= 4; ++k) ASSERT_TRUE(m.add(k, 1));
  EXPECT_FALSE(m.add(5, 1));     // full
  EXPECT_FALSE(m.promote(6, 2));  // full
  ASSERT_TRUE(m.promote(1, 2));
  ASSERT_TRUE(m.promote(2, 2));
  ASSERT_TRUE(m.demote(1));
  s = m.stats();
  EXPECT_EQ(s.keys_present, 4u);
  EXPECT_EQ(s.keys_salted, 1u);
  EXPECT_EQ(s.blocks_in_use, 1u);
  EXPECT_EQ(s.blocks_free, 2u);
  EXPECT_EQ(s.promotions_total, 2u);
  EXPECT_EQ(s.demotions_total, 1u);
  EXPECT_EQ(s.failed_inserts_total, 2u);
  static_assert(hotshard::detail::exportable_stats<hotshard::salted_counter_map_stats>);
  std::map<std::string, double> metrics;
  s.for_each_metric([&](const hotshard::detail::metric& x) {
    EXPECT_EQ(x.name.ends_with("_total"), x.kind == hotshard::detail::metric_kind::counter) << x.name;
    EXPECT_FALSE(x.help.empty());
    metrics.emplace(std::string(x.name), x.value);
  });
  EXPECT_EQ(metrics, (std::map<std::string, double>{{"keys", 4},
                                                    {"keys_salted", 1},
                                                    {"blocks_free", 2},
                                                    {"blocks_in_use", 1},
                                                    {"promotions_total", 2},
                                                    {"demotions_total", 1},
                                                    {"failed_inserts_total", 2}}));
}

// --- detail::word_table -----------------------------------------------------------

using exact_table = hotshard::detail::word_table<std::atomic<std::int64_t>>;
struct keyed_slot {
  std::atomic<std::int64_t> n{0};
  int key = 0;
};
using keyed_table = hotshard::detail::word_table<keyed_slot, true>;

TEST(word_table, exact_words_insert_once_find_and_fill_up_to_the_probe_window) {
  exact_table t(8);
  EXPECT_EQ(t.find(5), nullptr);
  auto* a = t.find_or_insert(5);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(t.find_or_insert(5), a);
  EXPECT_EQ(t.find(5), a);
  EXPECT_EQ(t.find(13), nullptr);  // same home slot (13 & 7 == 5), not present
  auto* b = t.find_or_insert(13);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  EXPECT_EQ(t.find(13), b);
  for (std::uint64_t w = 100; w < 106; ++w) ASSERT_NE(t.find_or_insert(w), nullptr);
  EXPECT_EQ(t.size(), 8u);
  EXPECT_EQ(t.find_or_insert(7), nullptr);  // full
  std::size_t visited = 0;
  t.for_each_entry([&](std::uint64_t w, const exact_table::entry& e) {
    EXPECT_EQ(e.word.load(), w);
    ++visited;
  });
  EXPECT_EQ(visited, 8u);
  t.unsafe_clear();
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.find(5), nullptr);
}

TEST(word_table, keyed_words_compare_the_full_key_and_a_throwing_init_leaves_a_dead_entry) {
  keyed_table t(8);
  auto eq = [](int k) { return [k](const keyed_slot& s) { return s.key == k; }; };
  auto init = [](int k) { return [k](keyed_slot& s) { s.key = k; }; };
  const std::uint64_t w = keyed_table::keyed_word(12345);
  auto* a = t.find_or_insert(w, eq(1), init(1));
  auto* b = t.find_or_insert(w, eq(2), init(2));  // same word, another key
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  EXPECT_EQ(t.find(w, eq(1)), a);
  EXPECT_EQ(t.find(w, eq(2)), b);
  EXPECT_EQ(t.find(w, eq(3)), nullptr);
  EXPECT_THROW((void)t.find_or_insert(w, eq(3), [](keyed_slot&) { throw std::runtime_error("copy"); }),
               std::runtime_error);
  EXPECT_EQ(t.find(w, eq(3)), nullptr);  // the dead entry matches nothing
  auto* c = t.find_or_insert(w, eq(3), init(3));
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(t.find(w, eq(3)), c);
  std::size_t visited = 0;
  t.for_each_entry([&](std::uint64_t seen, const keyed_table::entry&) {
    EXPECT_EQ(seen, w);
    ++visited;
  });
  EXPECT_EQ(visited, 3u);  // the dead one is skipped
  EXPECT_EQ(keyed_table::keyed_word(0), 1u);
  EXPECT_EQ(keyed_table::keyed_word(~std::uint64_t{0}), keyed_table::max_keyed_word);
}

// Threads racing to claim the same words: one entry per key, payloads intact.
TEST(word_table, racing_claims_give_one_entry_per_key) {
  hotshard::detail::word_table<keyed_slot, true, hotshard::detail::yielding_stats> t(256);
  constexpr int keys = 100;
  run_threads(16, [&](unsigned th) {
    for (int i = 0; i < keys; ++i) {
      const int k = (i * 7 + static_cast<int>(th)) % keys;
      // Few words, many keys per word: the full compare decides.
      auto* e = t.find_or_insert(
          hotshard::detail::word_table<keyed_slot, true>::keyed_word(static_cast<std::uint64_t>(k % 10) << 1),
          [k](const keyed_slot& s) { return s.key == k; }, [k](keyed_slot& s) { s.key = k; });
      ASSERT_NE(e, nullptr);
      e->payload.n.fetch_add(1);
    }
  });
  std::map<int, std::int64_t> got;
  t.for_each_entry([&](std::uint64_t, const auto& e) { EXPECT_TRUE(got.emplace(e.payload.key, e.payload.n.load()).second); });
  ASSERT_EQ(got.size(), static_cast<std::size_t>(keys));
  for (auto& [k, n] : got) EXPECT_EQ(n, 16) << k;
}
