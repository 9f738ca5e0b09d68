#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/detail/hash.hpp>

#include <gtest/gtest.h>

#include <array>
#include <bit>
#include <cstdint>
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
