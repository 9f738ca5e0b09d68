// timing.hpp: the random-gap sampler times every op position equally often
// (no aliasing with a structure's power-of-two cycles), the clock figures.
#include <hotshard/harness/timing.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

using namespace hotshard::harness;

namespace {
// Pearson's chi-square of the timed positions mod 2^k against uniform, for
// `samples` gaps from `next`.
double chi_square_mod(unsigned k, std::uint64_t samples, const std::function<std::uint64_t()>& next) {
  const std::uint64_t cells = std::uint64_t{1} << k;
  std::vector<std::uint64_t> counts(cells, 0);
  std::uint64_t pos = 0;
  for (std::uint64_t n = 0; n < samples; ++n) {
    pos += next();
    ++counts[pos & (cells - 1)];
  }
  const double expected = static_cast<double>(samples) / static_cast<double>(cells);
  double chi = 0;
  for (const auto c : counts) chi += (static_cast<double>(c) - expected) * (static_cast<double>(c) - expected) / expected;
  return chi;
}

// A 6-sigma acceptance bound for chi-square with `dof` degrees of freedom:
// a uniform sampler exceeds it with negligible probability (and the seeds are fixed).
double bound(std::uint64_t dof) { return static_cast<double>(dof) + 6.0 * std::sqrt(2.0 * static_cast<double>(dof)); }
}  // namespace

TEST(gap_sampler, times_every_position_equally_often_modulo_every_power_of_two) {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    for (unsigned k = 1; k <= 12; ++k) {
      gap_sampler g(64, seed);
      const double chi = chi_square_mod(k, std::uint64_t{1} << 18, [&] { return g.next(); });
      EXPECT_LT(chi, bound((std::uint64_t{1} << k) - 1)) << "seed " << seed << ", mod 2^" << k;
    }
  }
}

TEST(gap_sampler, the_uniformity_check_rejects_a_fixed_stride) {
  // The old sampler timed op i when i = 0 mod 64: every timed op in one cell.
  for (unsigned k = 1; k <= 12; ++k)
    EXPECT_GT(chi_square_mod(k, std::uint64_t{1} << 18, [] { return std::uint64_t{64}; }),
              bound((std::uint64_t{1} << k) - 1))
        << "mod 2^" << k;
}

TEST(gap_sampler, keeps_the_requested_mean_so_the_timing_cost_is_unchanged) {
  for (double mean : {2.0, 5.5, 64.0, 4096.0}) {
    gap_sampler g(mean, 42);
    const std::uint64_t n = 1 << 20;
    double sum = 0;
    std::uint64_t smallest = ~std::uint64_t{0};
    for (std::uint64_t i = 0; i < n; ++i) {
      const auto x = g.next();
      sum += static_cast<double>(x);
      smallest = std::min(smallest, x);
    }
    EXPECT_NEAR(sum / static_cast<double>(n), mean, 0.01 * mean) << mean;
    EXPECT_EQ(smallest, 1u) << mean;  // adjacent ops can both be timed
  }
}

TEST(gap_sampler, a_mean_of_one_times_every_op) {
  gap_sampler g(1, 9);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(g.next(), 1u);
}

TEST(gap_sampler, threads_with_different_seeds_draw_different_gaps) {
  gap_sampler a(64, 1), b(64, 2), a2(64, 1);
  int differ = 0;
  for (int i = 0; i < 100; ++i) {
    const auto x = a.next();
    differ += x != b.next();
    EXPECT_EQ(x, a2.next());  // and one seed is one stream: runs are reproducible
  }
  EXPECT_GT(differ, 50);
}

namespace {
struct stepping_clock {  // advances 7 ns per read, in steps of 7
  static inline std::uint64_t t = 0;
  static std::uint64_t now() noexcept { return t += 7; }
  static void wait_until(std::uint64_t x) noexcept { t = std::max(t, x); }
};
struct frozen_clock {
  static std::uint64_t now() noexcept { return 5; }
  static void wait_until(std::uint64_t) noexcept {}
};
}  // namespace

TEST(measure_timer, reports_the_cost_and_the_step_of_the_clock) {
  const auto t = measure_timer<stepping_clock>(100);
  EXPECT_DOUBLE_EQ(t.cost_ns, 7.0);
  EXPECT_DOUBLE_EQ(t.resolution_ns, 7.0);
  const auto f = measure_timer<frozen_clock>(100);
  EXPECT_DOUBLE_EQ(f.cost_ns, 0.0);
  EXPECT_DOUBLE_EQ(f.resolution_ns, 0.0);  // never moved: unknown
  EXPECT_GT(steady_timer().cost_ns, 0.0);
}
