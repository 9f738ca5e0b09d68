// Statistical tests of the generator, the Zipf sampler and the scramble, with
// fixed seeds: the expected frequencies come from the exact pmf, the tolerances
// from the binomial standard deviation, so a failure means a wrong law.
#include <hotshard/workloads/rng.hpp>
#include <hotshard/workloads/zipf.hpp>
#include <hotshard/test/support.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

using hotshard::workloads::scramble;
using hotshard::workloads::xoshiro256ss;
using hotshard::workloads::zipf_generator;

constexpr std::size_t samples_per_case = 400'000 / hotshard::test::sanitizer_scale;

// Sum_{k=1}^{m} k^-s, smallest terms first.
long double exact_harmonic(std::uint64_t m, double s) {
  long double sum = 0;
  for (std::uint64_t k = m; k >= 1; --k) sum += std::pow(static_cast<long double>(k), -static_cast<long double>(s));
  return sum;
}

// H(n, s) = Sum_{k=1}^{n} k^-s: exact below 10^5, otherwise the exact head up to
// m - 1 plus Euler-Maclaurin for the rest (integral, end-point terms and two
// Bernoulli corrections; the remainder is below m^(-s-5), i.e. < 1e-15 relative).
long double harmonic(std::uint64_t n, double s) {
  constexpr std::uint64_t m = 1000;
  if (n < 100'000) return exact_harmonic(n, s);
  const long double ls = s;
  const long double lm = m, ln = static_cast<long double>(n);
  const auto p = [](long double x, long double e) { return std::pow(x, e); };
  const long double integral =
      s == 1.0 ? std::log(ln / lm) : (p(ln, 1 - ls) - p(lm, 1 - ls)) / (1 - ls);
  return exact_harmonic(m - 1, s) + integral + (p(lm, -ls) + p(ln, -ls)) / 2 +
         ls / 12 * (p(lm, -ls - 1) - p(ln, -ls - 1)) -
         ls * (ls + 1) * (ls + 2) / 720 * (p(lm, -ls - 3) - p(ln, -ls - 3));
}

TEST(zipf_reference, euler_maclaurin_matches_the_exact_sum) {
  for (const double s : {0.5, 0.99, 1.0, 1.2}) {
    const long double exact = exact_harmonic(1'000'000, s);
    EXPECT_NEAR(static_cast<double>(harmonic(1'000'000, s) / exact), 1.0, 1e-12) << "s=" << s;
  }
}

struct zipf_case {
  std::uint64_t n;
  double s;
};

class zipf_law : public ::testing::TestWithParam<zipf_case> {};

// Rank frequencies: each of the top 20 ranks within 5 binomial standard
// deviations of N p(k), and a chi-square over doubling rank bins [2^j, 2^(j+1))
// that covers all of [0, n) — the head, the body and the tail together.
TEST_P(zipf_law, rank_frequencies_match_the_pmf) {
  const auto [n, s] = GetParam();
  const zipf_generator zipf(n, s);
  xoshiro256ss rng(0x5eed0000 + static_cast<std::uint64_t>(s * 1000) + n);
  constexpr std::size_t top = 20;
  const std::size_t bins = static_cast<std::size_t>(std::bit_width(n)) + 1;
  std::vector<std::uint64_t> rank_counts(top, 0), bin_counts(bins, 0);
  for (std::size_t i = 0; i < samples_per_case; ++i) {
    const std::uint64_t rank = zipf(rng);
    ASSERT_LT(rank, n);
    if (rank < top) ++rank_counts[rank];
    ++bin_counts[static_cast<std::size_t>(std::bit_width(rank + 1)) - 1];  // rank+1 in [2^j, 2^(j+1))
  }
  const long double total = harmonic(n, s);
  const auto samples = static_cast<double>(samples_per_case);
  for (std::size_t k = 0; k < top && k < n; ++k) {
    const double p = static_cast<double>(std::pow(static_cast<long double>(k + 1), -static_cast<long double>(s)) / total);
    const double expected = samples * p;
    const double sigma = std::sqrt(samples * p * (1 - p));
    EXPECT_NEAR(static_cast<double>(rank_counts[k]), expected, 5 * sigma + 1) << "rank " << k;
  }
  // Bin j holds ranks+1 in [2^j, min(2^(j+1), n+1)); its mass is H(hi-1) - H(lo-1).
  double chi2 = 0, rest_expected = 0, rest_observed = 0;
  int dof = -1;
  long double below = 0;  // H(lo - 1)
  for (std::size_t j = 0; j < bins; ++j) {
    const std::uint64_t lo = std::uint64_t{1} << j;
    if (lo > n) break;
    const std::uint64_t hi = std::min<std::uint64_t>(lo * 2, n + 1);
    const long double upto = harmonic(hi - 1, s);
    const double expected = samples * static_cast<double>((upto - below) / total);
    below = upto;
    if (expected < 20) {  // too few to be chi-square distributed: pool them
      rest_expected += expected;
      rest_observed += static_cast<double>(bin_counts[j]);
      continue;
    }
    const double d = static_cast<double>(bin_counts[j]) - expected;
    chi2 += d * d / expected;
    ++dof;
  }
  if (rest_expected > 0) {
    const double d = rest_observed - rest_expected;
    chi2 += d * d / std::max(rest_expected, 1.0);
    ++dof;
  }
  ASSERT_GE(dof, 1);
  // Mean dof, sd sqrt(2 dof): six standard deviations is p < 1e-6 here.
  EXPECT_LT(chi2, dof + 6 * std::sqrt(2.0 * dof) + 10) << "dof " << dof;
}

INSTANTIATE_TEST_SUITE_P(
    exponents_and_sizes, zipf_law,
    ::testing::Values(zipf_case{1'000, 0.5}, zipf_case{1'000, 0.99}, zipf_case{1'000, 1.0}, zipf_case{1'000, 1.2},
                      zipf_case{1'000'000, 0.5}, zipf_case{1'000'000, 0.99}, zipf_case{1'000'000, 1.0},
                      zipf_case{1'000'000, 1.2}, zipf_case{1'000'000'000, 0.5}, zipf_case{1'000'000'000, 0.99},
                      zipf_case{1'000'000'000, 1.0}, zipf_case{1'000'000'000, 1.2},
                      // next to s = 1, where 1/(1-s) magnifies any rounding
                      zipf_case{1'000'000, 0.9995}, zipf_case{1'000'000'000, 1.0005}),
    [](const auto& info) {
      return "n" + std::to_string(info.param.n) + "_s" + std::to_string(std::lround(info.param.s * 10000));
    });

TEST(zipf_generator, rank_zero_has_its_probability_at_n_two_to_the_63) {
  const std::uint64_t n = std::uint64_t{1} << 63;
  const zipf_generator zipf(n, 1.2);
  xoshiro256ss rng(7);
  std::uint64_t zeros = 0;
  const std::size_t draws = samples_per_case / 4;
  for (std::size_t i = 0; i < draws; ++i) {
    const std::uint64_t rank = zipf(rng);
    ASSERT_LT(rank, n);
    zeros += rank == 0;
  }
  const double p = static_cast<double>(1 / harmonic(n, 1.2));
  const double sigma = std::sqrt(static_cast<double>(draws) * p * (1 - p));
  EXPECT_NEAR(static_cast<double>(zeros), static_cast<double>(draws) * p, 5 * sigma);
}

// A zipf_generator is immutable: 16 threads sampling from one (each with its
// own generator) get exactly what each would get alone.
TEST(zipf_generator, is_shared_read_only_by_many_threads) {
  const zipf_generator zipf(1'000'000, 0.99);
  constexpr unsigned threads = 16;
  constexpr int draws = 20'000;
  std::vector<std::vector<std::uint64_t>> shared(threads);
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      xoshiro256ss rng(t);
      for (int i = 0; i < draws; ++i) shared[t].push_back(zipf(rng));
    });
  }
  for (auto& th : pool) th.join();
  for (unsigned t = 0; t < threads; ++t) {
    const zipf_generator alone(1'000'000, 0.99);
    xoshiro256ss rng(t);
    for (int i = 0; i < draws; ++i) ASSERT_EQ(shared[t][static_cast<std::size_t>(i)], alone(rng));
  }
}

TEST(zipf_generator, single_rank_always_returns_zero) {
  const zipf_generator zipf(1, 0.99);
  xoshiro256ss rng(1);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(zipf(rng), 0U);
}

TEST(zipf_generator, steep_exponent_stays_in_range) {
  const zipf_generator zipf(10, 40.0);
  xoshiro256ss rng(3);
  std::uint64_t zeros = 0;
  for (int i = 0; i < 10'000; ++i) {
    const auto rank = zipf(rng);
    ASSERT_LT(rank, 10U);
    zeros += rank == 0;
  }
  EXPECT_GT(zeros, 9'990U);  // P(rank > 0) ~ 2^-40
}

TEST(zipf_generator, rejects_zero_n_and_nonpositive_exponent) {
  EXPECT_THROW(zipf_generator(0, 1.0), std::invalid_argument);
  EXPECT_THROW(zipf_generator((std::uint64_t{1} << 63) + 1, 1.0), std::invalid_argument);
  EXPECT_THROW(zipf_generator(10, 0.0), std::invalid_argument);
  EXPECT_THROW(zipf_generator(10, -1.0), std::invalid_argument);
  EXPECT_THROW(zipf_generator(10, NAN), std::invalid_argument);
}

TEST(zipf_generator, same_seed_gives_same_ranks) {
  const zipf_generator zipf(1'000'000, 0.99);
  xoshiro256ss a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 1000; ++i) {
    const auto x = zipf(a);
    ASSERT_EQ(x, zipf(b));
    differs |= x != zipf(c);
  }
  EXPECT_TRUE(differs);
}

TEST(scramble, is_a_bijection_on_two_to_the_20) {
  const std::uint64_t n = std::uint64_t{1} << 20;
  std::vector<bool> seen(n, false);
  std::uint64_t fixed_points = 0;
  for (std::uint64_t r = 0; r < n; ++r) {
    const std::uint64_t key = scramble(r, n);
    ASSERT_LT(key, n);
    ASSERT_FALSE(seen[key]) << "rank " << r << " collides on key " << key;
    seen[key] = true;
    fixed_points += key == r;
  }
  EXPECT_LT(fixed_points, 16U);  // a permutation that moves (nearly) everything
}

TEST(scramble, is_a_bijection_on_a_domain_that_is_not_a_power_of_two) {
  const std::uint64_t n = 1'000'003;
  std::vector<bool> seen(n, false);
  for (std::uint64_t r = 0; r < n; ++r) {
    const std::uint64_t key = scramble(r, n);
    ASSERT_LT(key, n);
    ASSERT_FALSE(seen[key]);
    seen[key] = true;
  }
}

TEST(scramble, spreads_the_hottest_ranks_over_key_ranges) {
  // The 64 hottest ranks of a 2^20 space, mapped into 16 equal key ranges (what
  // range routing sees): unscrambled they all sit in range 0.
  const std::uint64_t n = std::uint64_t{1} << 20;
  std::vector<int> per_range(16, 0);
  for (std::uint64_t r = 0; r < 64; ++r) ++per_range[scramble(r, n) / (n / 16)];
  EXPECT_GE(std::count_if(per_range.begin(), per_range.end(), [](int c) { return c > 0; }), 12);
  EXPECT_LE(*std::max_element(per_range.begin(), per_range.end()), 12);
}

TEST(scramble, stays_below_n_for_tiny_and_huge_domains) {
  EXPECT_EQ(scramble(0, 1), 0U);
  EXPECT_NE(scramble(0, 2), scramble(1, 2));
  const std::uint64_t big = (std::uint64_t{1} << 63) - 25;
  for (std::uint64_t r = 0; r < 1000; ++r) ASSERT_LT(scramble(r, big), big);
}

TEST(xoshiro256ss, below_is_uniform_over_ten_values) {
  xoshiro256ss rng(99);
  std::vector<std::uint64_t> counts(10, 0);
  constexpr int draws = 100'000;
  for (int i = 0; i < draws; ++i) ++counts[rng.below(10)];
  double chi2 = 0;
  for (const auto c : counts) chi2 += (static_cast<double>(c) - draws / 10.0) * (static_cast<double>(c) - draws / 10.0) / (draws / 10.0);
  EXPECT_LT(chi2, 40.0);  // 9 dof: mean 9, p(>40) < 1e-5
}

TEST(xoshiro256ss, uniform01_stays_in_the_half_open_unit_interval) {
  xoshiro256ss rng(0);
  double lo = 1, hi = 0, sum = 0;
  constexpr int draws = 100'000;
  for (int i = 0; i < draws; ++i) {
    const double u = rng.uniform01();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    lo = std::min(lo, u);
    hi = std::max(hi, u);
    sum += u;
  }
  EXPECT_LT(lo, 1e-3);
  EXPECT_GT(hi, 1 - 1e-3);
  EXPECT_NEAR(sum / draws, 0.5, 5 * std::sqrt(1.0 / 12 / draws));
}

TEST(stream_seed, differs_by_thread_and_by_seed) {
  using hotshard::workloads::stream_seed;
  EXPECT_NE(stream_seed(1, 0), stream_seed(1, 1));
  EXPECT_NE(stream_seed(1, 0), stream_seed(2, 0));
  EXPECT_EQ(stream_seed(5, 3), stream_seed(5, 3));
  xoshiro256ss a(stream_seed(0, 0)), b(stream_seed(0, 1));
  EXPECT_NE(a(), b());
}

}  // namespace
