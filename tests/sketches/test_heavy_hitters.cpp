#include "sketch_test_support.hpp"

#include <hotshard/heavy_hitters.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <set>

namespace {

using hh = hotshard::heavy_hitters<std::uint64_t>;
namespace ht = hotshard::test;

struct quality {
  double recall = 0;
  double precision = 0;
};

quality top_quality(const hh& h, const ht::exact_counts& exact, std::size_t k) {
  const auto top = h.top(k);
  const auto bar = ht::kth_count(exact, k);  // a key tied with the k-th counts as correct
  std::size_t correct = 0;
  for (const auto& e : top) {
    const auto it = exact.find(e.key);
    if (it != exact.end() && it->second >= bar) ++correct;
  }
  return {static_cast<double>(correct) / static_cast<double>(k),
          top.empty() ? 0.0 : static_cast<double>(correct) / static_cast<double>(top.size())};
}

TEST(heavy_hitters, top_100_recall_and_precision_on_zipf_with_at_most_one_mebibyte) {
  for (const char* spec : {"zipf:n=1000000,s=1.0", "zipf:n=1000000,s=1.0,scramble=1", "zipf:n=1000000,s=1.5"}) {
    const auto keys = ht::keys_of(spec, 1'000'000 / ht::scale, 3);
    const auto exact = ht::count_exact(keys);
    hh h({2048, 0.0002, 0.01});
    for (const auto k : keys) h.add(k);
    EXPECT_LE(h.memory_bytes(), std::size_t{1} << 20);
    const auto q = top_quality(h, exact, 100);
    EXPECT_GE(q.recall, 0.99) << spec;
    EXPECT_GE(q.precision, 0.99) << spec;
    EXPECT_EQ(h.overflows(), 0u);
  }
}

// Flat: the 100th key's share (~1e-4) is far below N/m, so only the lower
// candidate bar (N/slots) keeps the top 100 in the table.
TEST(heavy_hitters, top_100_recall_stays_high_on_a_flat_zipf) {
  const auto keys = ht::keys_of("zipf:n=1000000,s=0.6,scramble=1", 1'000'000 / ht::scale, 4);
  const auto exact = ht::count_exact(keys);
  hh h({2048, 0.0002, 0.01});
  for (const auto k : keys) h.add(k);
  const auto q = top_quality(h, exact, 100);
  EXPECT_GE(q.recall, 0.9);
  EXPECT_GE(q.precision, 0.9);
}

TEST(heavy_hitters, every_key_above_n_over_m_is_reported_with_a_true_error_bound) {
  const auto keys = ht::keys_of("zipf:n=100000,s=0.8", 400'000 / ht::scale, 5);
  const auto exact = ht::count_exact(keys);
  hh h({1024, 0.0002, 0.01});
  for (const auto k : keys) h.add(k);
  EXPECT_EQ(h.total(), keys.size());
  const auto top = h.top(1 << 20);
  std::set<std::uint64_t> reported;
  for (const auto& e : top) {
    reported.insert(e.key);
    const auto n = exact.at(e.key);
    EXPECT_GE(e.count, n);
    EXPECT_LE(e.count, n + e.error);
  }
  std::size_t above = 0;
  for (const auto& [k, n] : exact) {
    if (n * h.capacity() > keys.size()) {
      ++above;
      EXPECT_TRUE(reported.count(k)) << "key " << k << " count " << n;
    }
  }
  EXPECT_GT(above, 10u);  // the test means something
  for (std::size_t i = 1; i < top.size(); ++i) EXPECT_GE(top[i - 1].count, top[i].count);
}

TEST(heavy_hitters, top_returns_at_most_k_entries) {
  hh h({64, 0.01, 0.01});
  for (std::uint64_t k = 0; k < 10; ++k) h.add(k, 100 + k);
  const auto top = h.top(3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].key, 9u);
  EXPECT_EQ(top[1].key, 8u);
  EXPECT_EQ(top[2].key, 7u);
  EXPECT_EQ(top[0].count, 109u);
}

TEST(heavy_hitters, key_zero_and_the_table_salt_key_are_ordinary_keys) {
  hh h({64, 0.01, 0.01});
  const std::uint64_t salt = 0x5bd1e9955bd1e995ULL;  // the one key that lives beside the table
  h.add(0, 50);
  h.add(salt, 40);
  const auto top = h.top(2);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].key, 0u);
  EXPECT_EQ(top[1].key, salt);
}

// Stress: 16 threads, shared stream. After the joins the guarantee holds for
// the whole stream and total() is exact.
TEST(heavy_hitters, sixteen_threads_report_every_key_above_n_over_m) {
  constexpr unsigned threads = 16;
  const std::size_t per = 30'000 / ht::scale;
  std::vector<std::vector<std::uint64_t>> keys(threads);
  for (unsigned t = 0; t < threads; ++t) keys[t] = ht::keys_of("zipf:n=100000,s=1.0", per, 8, t, threads);
  hh h({128, 0.001, 0.01});
  ht::run_threads(threads, [&](unsigned t) {
    for (const auto k : keys[t]) h.add(k);
  });
  ht::exact_counts exact;
  for (const auto& v : keys)
    for (const auto k : v) ++exact[k];
  EXPECT_EQ(h.total(), threads * per);
  std::set<std::uint64_t> reported;
  for (const auto& e : h.top(1 << 20)) {
    reported.insert(e.key);
    EXPECT_GE(e.count, exact.at(e.key));
  }
  for (const auto& [k, n] : exact) {
    if (n * h.capacity() > threads * per) {
      EXPECT_TRUE(reported.count(k)) << k;
    }
  }
}

}  // namespace
