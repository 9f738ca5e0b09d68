// latency_histogram: percentiles within the stated relative error on known
// distributions, exact merge, exact max.
#include <hotshard/harness/histogram.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

using hotshard::harness::latency_histogram;

namespace {
// The true quantile of a sorted sample, with the histogram's rank rule.
std::uint64_t exact_quantile(const std::vector<std::uint64_t>& sorted, double q) {
  auto rank = static_cast<std::size_t>(q * static_cast<double>(sorted.size()) + 0.5);
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

void expect_within_error(const latency_histogram& h, std::vector<std::uint64_t> values) {
  std::sort(values.begin(), values.end());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const double truth = static_cast<double>(exact_quantile(values, q));
    const double got = static_cast<double>(h.percentile(q));
    // The reported value is the upper edge of the true value's bucket: never
    // below it, and above by at most the stated relative error.
    EXPECT_GE(got, truth) << "q=" << q;
    EXPECT_LE(got, truth * (1 + latency_histogram::relative_error) + 1) << "q=" << q;
  }
  EXPECT_EQ(h.max(), values.back());
  EXPECT_EQ(h.min(), values.front());
}
}  // namespace

TEST(latency_histogram, percentiles_of_a_uniform_distribution_are_within_the_stated_error) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<std::uint64_t> d(1, 1'000'000);
  latency_histogram h;
  std::vector<std::uint64_t> v;
  for (int i = 0; i < 200'000; ++i) {
    v.push_back(d(rng));
    h.record(v.back());
  }
  EXPECT_EQ(h.count(), v.size());
  expect_within_error(h, v);
}

TEST(latency_histogram, percentiles_of_an_exponential_distribution_are_within_the_stated_error) {
  std::mt19937_64 rng(7);
  std::exponential_distribution<double> d(1.0 / 5000.0);  // mean 5 us, a long tail
  latency_histogram h;
  std::vector<std::uint64_t> v;
  for (int i = 0; i < 200'000; ++i) {
    v.push_back(static_cast<std::uint64_t>(d(rng)) + 1);
    h.record(v.back());
  }
  expect_within_error(h, v);
}

TEST(latency_histogram, small_values_are_exact) {
  latency_histogram h;
  for (std::uint64_t v = 0; v < 128; ++v) h.record(v);
  EXPECT_EQ(h.percentile(0.5), 63u);
  EXPECT_EQ(h.percentile(1.0), 127u);
}

TEST(latency_histogram, values_beyond_the_range_keep_an_exact_max) {
  latency_histogram h;
  h.record(10);
  h.record(std::uint64_t{1} << 50);
  EXPECT_EQ(h.max(), std::uint64_t{1} << 50);
  EXPECT_EQ(h.percentile(1.0), std::uint64_t{1} << 50);
}

TEST(latency_histogram, merge_equals_recording_everything_in_one) {
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<std::uint64_t> d(1, 1u << 30);
  latency_histogram a, b, all;
  for (int i = 0; i < 50'000; ++i) {
    const auto x = d(rng), y = d(rng);
    a.record(x);
    b.record(y);
    all.record(x);
    all.record(y);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  for (double q : {0.1, 0.5, 0.9, 0.99, 0.999}) EXPECT_EQ(a.percentile(q), all.percentile(q));
  EXPECT_EQ(a.max(), all.max());
  EXPECT_EQ(a.min(), all.min());
}

TEST(latency_histogram, an_empty_histogram_reports_zero) {
  latency_histogram h;
  EXPECT_EQ(h.percentile(0.99), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.min(), 0u);
}
