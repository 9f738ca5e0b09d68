#include <hotshard/detail/backoff.hpp>
#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/checked_size.hpp>
#include <hotshard/detail/clock.hpp>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/detail/fetch_max.hpp>
#include <hotshard/detail/hash.hpp>
#include <hotshard/detail/metrics.hpp>
#include <hotshard/detail/sketch_support.hpp>
#include <hotshard/keys.hpp>
#include <hotshard/policy.hpp>
#include <hotshard/single_flight.hpp>
#include <hotshard/striped_counter.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

using namespace hotshard::detail;

TEST(hash, unmix64_inverts_mix64) {
  std::uint64_t x = 0x0123456789abcdefULL;
  for (int i = 0; i < 100000; ++i) {
    ASSERT_EQ(unmix64(mix64(x)), x);
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  }
}

TEST(hash, mix64_flips_about_half_the_output_bits_per_input_bit) {
  // Avalanche: a single flipped input bit should flip ~32 of 64 output bits.
  double total = 0;
  int samples = 0;
  for (std::uint64_t x = 1; x < 2000; ++x) {
    for (int bit = 0; bit < 64; ++bit) {
      total += std::popcount(mix64(x) ^ mix64(x ^ (1ULL << bit)));
      ++samples;
    }
  }
  const double mean = total / samples;
  EXPECT_NEAR(mean, 32.0, 0.5);
}

TEST(hash, reduce_stays_in_range_and_spreads_evenly) {
  constexpr std::uint64_t n = 10;
  std::array<int, n> bins{};
  for (std::uint64_t i = 0; i < 100000; ++i) {
    const auto r = reduce(mix64(i), n);
    ASSERT_LT(r, n);
    ++bins[r];
  }
  for (int b : bins) EXPECT_NEAR(b, 10000, 500);
}

TEST(hash, seeded_hashes_of_one_key_differ_by_seed) {
  const auto h = hash_key(std::uint64_t{7});
  EXPECT_NE(seeded_hash(h, 0), seeded_hash(h, 1));
  EXPECT_EQ(seeded_hash(h, 3), seeded_hash(h, 3));
}

TEST(cache_line, padded_values_in_an_array_never_share_a_line) {
  std::array<padded<std::uint64_t>, 4> cells{};
  for (std::size_t i = 1; i < cells.size(); ++i) {
    const auto a = reinterpret_cast<std::uintptr_t>(&cells[i - 1].value);
    const auto b = reinterpret_cast<std::uintptr_t>(&cells[i].value);
    EXPECT_GE(b - a, cache_line_bytes);
    EXPECT_EQ(a / cache_line_bytes + 1, b / cache_line_bytes);
  }
}

TEST(contention_stats, counting_stats_are_per_thread) {
  const auto before = counting_stats::local();
  counting_stats::cas_failure();
  counting_stats::cas_failure();
  counting_stats::wait();
  std::uint64_t other_thread_cas = 0;
  std::thread([&] { other_thread_cas = counting_stats::local().cas_failures; }).join();
  EXPECT_EQ(counting_stats::local().cas_failures, before.cas_failures + 2);
  EXPECT_EQ(counting_stats::local().waits, before.waits + 1);
  EXPECT_EQ(other_thread_cas, 0u);
}

// The default hook must cost nothing: usable in constant expressions, no state.
static_assert([] {
  no_stats::cas_failure();
  no_stats::spin();
  no_stats::wait();
  return true;
}());
static_assert(std::is_empty_v<no_stats>);

// --- checked sizes (detail/checked_size.hpp) ---------------------------------

TEST(checked_size, checked_bit_ceil_rounds_up_and_rejects_what_does_not_fit) {
  EXPECT_EQ(checked_bit_ceil(5u, "t", "n"), 8u);
  EXPECT_EQ(checked_bit_ceil(std::uint32_t{1} << 31, "t", "n"), std::uint32_t{1} << 31);
  EXPECT_EQ(checked_bit_ceil(std::size_t{0}, "t", "n"), 1u);
  try {
    (void)checked_bit_ceil((std::uint32_t{1} << 31) + 1, "striped_counter", "max_cells");
    ADD_FAILURE() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).rfind("striped_counter: max_cells", 0), 0u) << e.what();
  }
  EXPECT_THROW((void)checked_bit_ceil(SIZE_MAX, "t", "n"), std::invalid_argument);
}

TEST(checked_size, checked_array_count_rejects_products_whose_bytes_overflow) {
  EXPECT_EQ(checked_array_count(1000, 5, 8, "t", "n"), 5000u);
  EXPECT_EQ(checked_array_count(0, SIZE_MAX, 8, "t", "n"), 0u);
  EXPECT_THROW((void)checked_array_count(std::size_t{1} << 62, 4, 8, "t", "n"), std::invalid_argument);
  EXPECT_THROW((void)checked_array_count(std::size_t{1} << 61, 1, 8, "t", "n"), std::invalid_argument);
  EXPECT_EQ(checked_array_count(std::size_t{1} << 59, 1, 8, "t", "n"), std::size_t{1} << 59);
}

TEST(checked_size, checked_non_negative_rejects_nan_infinity_and_negatives) {
  EXPECT_EQ(checked_non_negative(0.0, "t", "rate"), 0.0);
  EXPECT_EQ(checked_non_negative(2.5, "t", "rate"), 2.5);
  for (const double bad : {-1.0, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()})
    EXPECT_THROW((void)checked_non_negative(bad, "t", "rate"), std::invalid_argument) << bad;
}

TEST(hash, random_seed_differs_per_call_and_is_never_zero) {
  std::vector<std::uint64_t> seeds;
  for (int i = 0; i < 1000; ++i) seeds.push_back(random_seed());
  for (const auto s : seeds) ASSERT_NE(s, 0u);
  std::sort(seeds.begin(), seeds.end());
  EXPECT_EQ(std::adjacent_find(seeds.begin(), seeds.end()), seeds.end());
}

struct with_point {
  static inline int points = 0;
  static void schedule_point() noexcept { ++points; }
};

TEST(contention_stats, schedule_point_calls_the_policys_hook_only_when_it_has_one) {
  schedule_point<no_stats>();  // compiles to nothing
  schedule_point<counting_stats>();
  schedule_point<with_point>();
  schedule_point<with_point>();
  EXPECT_EQ(with_point::points, 2);
  for (int i = 0; i < 100; ++i) schedule_point<yielding_stats>();  // yields sometimes; never blocks
}

TEST(sketch_support, sketch_dimensions_are_checked_and_name_the_parameter) {
  EXPECT_EQ(sketch_width_for(0.001, "s"), 2719u);
  EXPECT_EQ(sketch_depth_for(0.01, "s"), 5u);
  EXPECT_EQ(sketch_depth_for(0.9, "s"), 1u);
  EXPECT_THROW((void)sketch_width_for(1e-300, "s"), std::invalid_argument);
  EXPECT_THROW((void)sketch_width_for(std::numeric_limits<double>::quiet_NaN(), "s"), std::invalid_argument);
  EXPECT_THROW((void)sketch_depth_for(0.0, "s"), std::invalid_argument);
  EXPECT_THROW((void)checked_sketch_counters(std::size_t{1} << 62, 4, 8, "s"), std::invalid_argument);
  EXPECT_THROW((void)checked_sketch_counters(0, 4, 8, "s"), std::invalid_argument);
  EXPECT_EQ(checked_sketch_counters(100, 5, 8, "s"), 500u);
}

TEST(sketch_support, the_ticker_batch_divides_the_window) {
  EXPECT_EQ(sketch_ticker::batch_for_window(1024), 64u);
  EXPECT_EQ(sketch_ticker::batch_for_window(1000), 8u);
  EXPECT_EQ(sketch_ticker::batch_for_window(7), 1u);
  EXPECT_EQ(sketch_ticker::batch_for_window(0), 64u);
}

// The shared internals of issue 16, written once in detail/.
TEST(fetch_max, raises_never_lowers_and_returns_the_previous_value) {
  std::atomic<std::uint64_t> a{5};
  EXPECT_EQ(fetch_max(a, std::uint64_t{3}), 5u);  // already above: unchanged
  EXPECT_EQ(a.load(), 5u);
  EXPECT_EQ(fetch_max(a, std::uint64_t{9}), 5u);
  EXPECT_EQ(a.load(), 9u);
  std::atomic<std::int64_t> b{-4};
  EXPECT_EQ(fetch_max(b, std::int64_t{-7}), -4);
  EXPECT_EQ(b.load(), -4);
}

TEST(fetch_max, racing_raises_end_at_the_largest_value_offered) {
  std::atomic<std::uint32_t> a{0};
  constexpr unsigned threads = 8, per_thread = 20'000;
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&a, t] {
      std::uint32_t last = 0;
      for (std::uint32_t i = 0; i < per_thread; ++i) {
        const std::uint32_t seen = fetch_max(a, i * threads + t);
        if (seen < last) ADD_FAILURE() << "the word went down: " << seen << " < " << last;  // monotone
        last = std::max(seen, i * threads + t);
      }
    });
  for (auto& t : pool) t.join();
  EXPECT_EQ(a.load(), (per_thread - 1) * threads + (threads - 1));
}

TEST(clock, now_ns_calls_the_injected_clock_and_falls_back_to_steady_clock) {
  std::int64_t fake = 1234;
  const clock_ns_fn injected = [&fake] { return fake; };
  EXPECT_EQ(now_ns(injected), 1234);
  fake = -5;
  EXPECT_EQ(now_ns(injected), -5);
  const std::int64_t t0 = now_ns(clock_ns_fn{});
  const std::int64_t t1 = now_ns(clock_ns_fn{});
  EXPECT_LE(t0, t1);  // steady_clock never goes back
  EXPECT_GT(t0, 0);
}

TEST(backoff, counts_its_rounds_and_reset_starts_over) {
  backoff wait;
  EXPECT_EQ(wait.rounds(), 0u);
  for (std::uint32_t i = 0; i < backoff::pause_rounds + 3; ++i) wait();  // pauses, then yields
  EXPECT_EQ(wait.rounds(), backoff::pause_rounds + 3);
  wait.reset();
  EXPECT_EQ(wait.rounds(), 0u);
}

// keys.hpp: a hashed_key carries exactly the word every primitive derives its
// hashes from, and pointer keys are not keys.
TEST(keys, hashed_key_word_is_the_keys_mixed_hash) {
  const std::string s = "product:42";
  const auto hk = hotshard::hash_once(s);
  EXPECT_EQ(&hk.key(), &s);
  EXPECT_EQ(hk.word(), hotshard::detail::hash_key(s, hotshard::policy::hash<std::string>{}));
  EXPECT_EQ(hotshard::detail::key_word(hk, hotshard::policy::hash<std::string>{}), hk.word());
  // The transparent string hash gives a string_view the same word as its string.
  EXPECT_EQ(hotshard::detail::key_word(std::string_view{"product:42"}, hotshard::policy::hash<std::string>{}),
            hk.word());
  const std::uint64_t k = 7;
  EXPECT_EQ(hotshard::hash_once(k).word(), hotshard::detail::mix64(std::hash<std::uint64_t>{}(k)));
}

static_assert(hotshard::concepts::hashable_key<std::uint64_t>);
static_assert(hotshard::concepts::hashable_key<std::string>);
static_assert(hotshard::concepts::hashable_key<std::string_view>);
static_assert(!hotshard::concepts::hashable_key<const char*>);
static_assert(!hotshard::concepts::hashable_key<int*>);

namespace {
struct two_metrics {
  template <class F>
  void for_each_metric(F&& f) const {
    f(hotshard::detail::metric{"adds_total", hotshard::detail::metric_kind::counter, 3, "Adds."});
    f(hotshard::detail::metric{"in_use", hotshard::detail::metric_kind::gauge, 1, "Entries in use."});
  }
};
}  // namespace
static_assert(hotshard::detail::exportable_stats<two_metrics>);
static_assert(!hotshard::detail::exportable_stats<hotshard::detail::contention_counts>);

// policy.hpp: hooks and hashes are set by name, in any order; the wrong kind,
// a non-policy or two of one kind do not name a type.
namespace {
struct my_hash {
  std::size_t operator()(std::uint64_t k) const noexcept { return static_cast<std::size_t>(k * 3); }
};
struct my_hook {
  static inline std::atomic<int> failures{0};
  static void cas_failure() noexcept { failures.fetch_add(1, std::memory_order_relaxed); }
  static constexpr void spin() noexcept {}
  static constexpr void wait() noexcept {}
};
namespace pol = hotshard::policy;
using H = pol::hash_with<my_hash>;
using C = pol::contention_hook<my_hook>;
}  // namespace
static_assert(std::is_same_v<pol::hash_of<std::uint64_t>, pol::hash<std::uint64_t>>);
static_assert(std::is_same_v<pol::hash_of<std::uint64_t, C, H>, my_hash>);
static_assert(std::is_same_v<pol::hash_of<std::uint64_t, H, C>, my_hash>);
static_assert(std::is_same_v<pol::contention_of<H>, pol::no_contention_hook>);
static_assert(std::is_same_v<pol::contention_of<H, C>, C>);
static_assert(std::is_same_v<pol::contention_of<pol::count_contention>, hotshard::detail::counting_stats>);
static_assert(pol::keyed_policies<> && pol::keyed_policies<H, C> && pol::keyed_policies<C, H>);
static_assert(!pol::keyed_policies<H, H> && !pol::keyed_policies<C, pol::count_contention>);
static_assert(!pol::keyed_policies<my_hash> && !pol::keyed_policies<my_hook>);  // not named
static_assert(pol::hook_policies<C> && !pol::hook_policies<H>);                  // no hash for a counter
static_assert(requires { typename hotshard::single_flight<std::uint64_t, int, C, H>; });
static_assert(requires { typename hotshard::striped_counter<pol::count_contention>; });
template <class... P>
concept striped_with = requires { typename hotshard::striped_counter<P...>::options; };
template <class... P>
concept flight_with = requires { typename hotshard::single_flight<std::uint64_t, int, P...>::key_type; };
static_assert(!striped_with<H>);          // a hash given to a counter
static_assert(!flight_with<my_hash>);     // a raw hash: positional tails are gone
static_assert(!flight_with<C, C>);        // two hooks
template <class K>
concept flight_of_key = requires { typename hotshard::single_flight<K, int>::key_type; };
static_assert(flight_of_key<std::string> && !flight_of_key<const char*>);  // pointer keys

TEST(policy, a_named_hook_is_called_by_the_primitive) {
  // Rounds of 4 threads (2 cores) released together on one counter until a
  // CAS has failed: the named hook must count it (an unwired hook never
  // does). The deadline is only a hang guard; the asserts are exact.
  hotshard::striped_counter<C> c;
  my_hook::failures.store(0);
  std::int64_t adds = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (my_hook::failures.load() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::atomic<int> ready{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t)
      ts.emplace_back([&] {
        ready.fetch_add(1);
        while (ready.load() < 4) std::this_thread::yield();
        for (int i = 0; i < 20000; ++i) c.add(1);
      });
    for (auto& t : ts) t.join();
    adds += 4 * 20000;
  }
  EXPECT_GT(my_hook::failures.load(), 0);
  EXPECT_EQ(c.read(), adds);
}

// geometric_gaps: the law of the gaps between kept units, for the exact
// power-of-two path (every = 2^k: k-bit trials, 64/k per draw, the top
// 64 mod k bits unused) and for inversion. 400'000 gaps per rate, fixed
// seeds, so the figures are deterministic; the bounds are 5 to 6 standard
// errors wide, so a correct generator is far inside them and a generator
// off by a trial (or counting the unused top bits as a trial) is far outside.
TEST(geometric_gaps, gaps_are_geometric_with_mean_every_for_every_rate) {
  for (const std::uint64_t every : {1ULL, 2ULL, 4ULL, 8ULL, 16ULL, 32ULL, 64ULL, 3ULL, 5ULL, 1000ULL}) {
    hotshard::detail::geometric_gaps gaps(every, 0x1234 + every);
    constexpr int n = 400'000;
    double sum = 0;
    std::uint64_t ones = 0, twos = 0;
    for (int i = 0; i < n; ++i) {
      const std::uint64_t g = gaps.next();
      ASSERT_GE(g, 1u);
      sum += static_cast<double>(g);
      ones += g == 1;
      twos += g == 2;
    }
    const double p = 1.0 / static_cast<double>(every);
    const double mean = sum / n;
    // sd(gap) = sqrt(1 - p) / p; the mean's standard error is that / sqrt(n).
    EXPECT_NEAR(mean, static_cast<double>(every), 6 * std::sqrt(1 - p) / p / std::sqrt(n)) << "every=" << every;
    // P(gap = 1) = p and P(gap = 2) = (1 - p) p, each within 5 binomial standard errors.
    EXPECT_NEAR(static_cast<double>(ones) / n, p, 5 * std::sqrt(p * (1 - p) / n) + 1e-12) << "every=" << every;
    const double p2 = (1 - p) * p;
    EXPECT_NEAR(static_cast<double>(twos) / n, p2, 5 * std::sqrt(p2 * (1 - p2) / n) + 1e-12) << "every=" << every;
  }
}
