// trace stats: the head shares and hottest key per window on hand-made traces,
// the maximum-likelihood Zipf fit on generated Zipf traces, and the real
// web07 trace from ../shared when it is present.
#include "trace_fixtures.hpp"

#include <hotshard/workloads/rng.hpp>
#include <hotshard/workloads/zipf.hpp>

#include <filesystem>

namespace {

using namespace trace_fixtures;

class trace_stats : public scratch {};

TEST_F(trace_stats, head_shares_and_the_hottest_key_per_window_follow_the_counts) {
  // Window 0: keys 1..1000 once each; window 1: keys 2 and 3, 500 times each;
  // window 2: key 5 750 times, key 9 250 times; window 3: key 9 once.
  std::string text;
  std::uint64_t records = 0;
  for (int k = 1; k <= 1000; ++k, ++records) text += "get " + std::to_string(k) + "\n";  // window 0 (1000 requests)
  for (int i = 0; i < 1000; ++i, ++records) text += (i % 2 == 0 ? "put 2\n" : "del 3\n");
  for (int i = 0; i < 1000; ++i, ++records) text += (i % 4 == 0 ? "get 9\n" : "add 5\n");
  text += "get 9\n";
  ++records;
  wl::trace_analysis_options options;
  options.window_requests = 1000;
  const auto st = wl::analyze_trace(write("t", text), options);
  EXPECT_EQ(st.records, records);
  EXPECT_EQ(st.distinct_keys, 1000U);
  EXPECT_TRUE(st.has_operations);
  EXPECT_EQ(st.per_op, (std::array<std::uint64_t, 4>{1000 + 250 + 1, 500, 750, 500}));
  // Counts: 5 -> 751, 2 -> 501, 3 -> 501, 9 -> 252, the other 996 keys once.
  // Top 1% = 10 keys: 751 + 501 + 501 + 252 + 6 ones; top 0.1% = 1 key.
  const auto r = static_cast<double>(records);
  EXPECT_DOUBLE_EQ(st.top_1_percent_share, (751.0 + 501 + 501 + 252 + 6) / r);
  EXPECT_DOUBLE_EQ(st.top_0_1_percent_share, 751.0 / r);
  EXPECT_DOUBLE_EQ(st.top_10_share, st.top_1_percent_share);
  ASSERT_EQ(st.windows.size(), 4U);
  EXPECT_EQ(st.windows[0].requests, 1000U);
  EXPECT_EQ(st.windows[0].hottest_count, 1U);
  EXPECT_EQ(st.windows[0].hottest_key, 1U);  // ties go to the smaller key
  EXPECT_EQ(st.windows[1].hottest_key, 2U);
  EXPECT_EQ(st.windows[1].hottest_count, 500U);
  EXPECT_EQ(st.windows[2].hottest_key, 5U);
  EXPECT_EQ(st.windows[2].hottest_count, 750U);
  EXPECT_EQ(st.windows[3].first_request, 3000U);
  EXPECT_EQ(st.windows[3].requests, 1U);
  EXPECT_EQ(st.windows[3].hottest_key, 9U);
  ASSERT_FALSE(st.rank_frequency.empty());
  EXPECT_EQ(st.rank_frequency.front(), (std::pair<std::uint64_t, std::uint64_t>{1, 751}));
  EXPECT_EQ(st.rank_frequency.back(), (std::pair<std::uint64_t, std::uint64_t>{1000, 1}));
}

TEST_F(trace_stats, key_only_traces_report_no_operations) {
  std::string bytes;
  for (std::uint32_t k = 0; k < 100; ++k) put_be(bytes, 0x01000000U + k % 10, 4);
  const auto st = wl::analyze_trace(write("k", bytes), 10);
  EXPECT_FALSE(st.has_operations);
  EXPECT_EQ(st.records, 100U);
  EXPECT_EQ(st.distinct_keys, 10U);
  EXPECT_EQ(st.per_op[0], 100U);
}

// Maximum likelihood over ranks recovers the exponent of generated Zipf
// traces: s = 0.6, 0.99 and 1.2, fixed seeds, within 0.05.
class zipf_fit_recovery : public scratch, public ::testing::WithParamInterface<double> {};

TEST_P(zipf_fit_recovery, within_five_hundredths) {
  const double s = GetParam();
  const wl::zipf_generator zipf(10'000, s);
  wl::xoshiro256ss rng(1234);
  const std::string path = (dir_ / "z.trace").string();
  {
    wl::trace_writer writer(path, wl::trace_format::binary);
    for (int i = 0; i < 400'000; ++i) writer.write({zipf(rng), wl::op_kind::get});
    writer.close();
  }
  const auto st = wl::analyze_trace(path, 10);
  EXPECT_NEAR(st.zipf_s_estimate, s, 0.05);
  EXPECT_GE(st.zipf_fit_ranks, 100U);  // fitted on a real range of ranks, not the head alone
  EXPECT_LE(st.zipf_fit_ranks, st.distinct_keys);
}

INSTANTIATE_TEST_SUITE_P(exponents, zipf_fit_recovery, ::testing::Values(0.6, 0.99, 1.2),
                         [](const auto& info) { return "s" + std::to_string(static_cast<int>(info.param * 100)); });

TEST(zipf_fit, exact_zipf_counts_give_back_their_exponent_and_too_few_ranks_give_none) {
  std::vector<std::uint64_t> counts;
  for (int r = 1; r <= 2000; ++r) counts.push_back(static_cast<std::uint64_t>(1e7 * std::pow(r, -0.8)));
  const auto fit = wl::fit_zipf(counts);
  EXPECT_NEAR(fit.s, 0.8, 0.005);
  EXPECT_EQ(fit.ranks, 2000U);
  EXPECT_EQ(wl::fit_zipf({100, 50}).ranks, 0U);
  EXPECT_EQ(wl::fit_zipf({100, 50, 20, 3}, 16).ranks, 3U);  // stops at the first count below 16
}

// The real trace: 76 118 requests for 20 484 distinct objects (README of ../shared/traces).
TEST(web07, is_read_with_its_exact_request_and_distinct_key_counts) {
  const std::filesystem::path path =
      std::filesystem::path(HOTSHARD_SOURCE_DIR) / ".." / "shared" / "traces" / "web07.trace.xz";
  if (!std::filesystem::exists(path)) {
    GTEST_SKIP() << "web07.trace.xz not found at " << path.string()
                 << " (it lives in ../shared/traces next to the checkout and is not committed): skipped";
  }
  const wl::trace_reader reader(path.string());
  EXPECT_EQ(reader.format(), wl::trace_format::cache2k);
  EXPECT_EQ(reader.compression(), wl::trace_compression::xz);
  const auto st = wl::analyze_trace(path.string(), 10);
  EXPECT_EQ(st.records, 76'118U);
  EXPECT_EQ(st.distinct_keys, 20'484U);
  EXPECT_FALSE(st.has_operations);
  EXPECT_GT(st.zipf_fit_ranks, 2U);
}

}  // namespace
