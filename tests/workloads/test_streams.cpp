// Key streams: determinism, ranges, and the law of each kind (hotspot
// fractions, latest's global order, shift's moving hot set, herd's cycle).
#include <hotshard/workloads/spec.hpp>
#include <hotshard/workloads/stream.hpp>
#include <hotshard/workloads/trace.hpp>
#include <hotshard/workloads/zipf.hpp>
#include <hotshard/test/support.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

namespace wl = hotshard::workloads;
using wl::parse_spec;

constexpr std::size_t draws = 200'000 / hotshard::test::sanitizer_scale;

const char* const synthetic_specs[] = {
    "uniform:n=1000",        "zipf:n=1000000,s=0.99", "zipf:n=1000,s=1.2,scramble=1", "hotspot:n=1000,hot=0.1,ops=0.9",
    "latest:n=1000",         "shift:n=1000,every=100", "shift:n=1000,every=100,scramble=1", "herd:keys=3,waves=2",
    "hotspot:n=999,hot=0.3,ops=0.5,scramble=1", "viral:n=1000,herd_keys=3"};

TEST(make_stream, same_seed_and_thread_give_the_same_keys) {
  for (const char* text : synthetic_specs) {
    const auto spec = parse_spec(text);
    EXPECT_EQ(wl::generate_keys(spec, 11, 1, 4, 1000), wl::generate_keys(spec, 11, 1, 4, 1000)) << text;
  }
}

TEST(make_stream, random_kinds_differ_by_seed_and_by_thread) {
  for (const char* text : {"uniform:n=1000000", "zipf:n=1000000", "hotspot:n=1000000", "shift:n=1000000"}) {
    const auto spec = parse_spec(text);
    const auto base = wl::generate_keys(spec, 1, 0, 2, 200);
    EXPECT_NE(base, wl::generate_keys(spec, 2, 0, 2, 200)) << text;
    EXPECT_NE(base, wl::generate_keys(spec, 1, 1, 2, 200)) << text;
  }
}

TEST(make_stream, every_key_is_below_the_key_space) {
  for (const char* text : synthetic_specs) {
    const auto spec = parse_spec(text);
    const std::uint64_t space = wl::key_space_of(spec);
    for (unsigned t = 0; t < 3; ++t) {
      for (const auto key : wl::generate_keys(spec, 5, t, 3, 5000)) ASSERT_LT(key, space) << text;
    }
  }
}

TEST(make_stream, rejects_a_thread_index_outside_the_thread_count) {
  const auto spec = parse_spec("uniform:n=10");
  EXPECT_THROW((void)wl::make_stream(spec, 1, 2, 2), wl::spec_error);
  EXPECT_THROW((void)wl::make_stream(spec, 1, 0, 0), wl::spec_error);
}

TEST(zipf_stream, scramble_maps_each_rank_through_the_bijection) {
  const auto plain = wl::generate_keys(parse_spec("zipf:n=1000000,s=1.1"), 6, 2, 3, 5000);
  const auto scrambled = wl::generate_keys(parse_spec("zipf:n=1000000,s=1.1,scramble=1"), 6, 2, 3, 5000);
  for (std::size_t i = 0; i < plain.size(); ++i) ASSERT_EQ(scrambled[i], wl::scramble(plain[i], 1'000'000));
}

TEST(uniform_stream, fills_sixteen_ranges_evenly) {
  const auto keys = wl::generate_keys(parse_spec("uniform:n=1600"), 3, 0, 1, draws);
  std::vector<double> counts(16, 0);
  for (const auto k : keys) counts[k / 100] += 1;
  double chi2 = 0;
  const double expected = static_cast<double>(draws) / 16;
  for (const double c : counts) chi2 += (c - expected) * (c - expected) / expected;
  EXPECT_LT(chi2, 15 + 6 * std::sqrt(30.0));
}

TEST(hotspot_stream, sends_the_hot_fraction_of_operations_to_the_hot_keys) {
  const auto keys = wl::generate_keys(parse_spec("hotspot:n=1000000,hot=0.1,ops=0.9"), 4, 0, 1, draws);
  std::size_t hot = 0, hot_upper_half = 0;
  for (const auto k : keys) {
    hot += k < 100'000;
    hot_upper_half += k >= 50'000 && k < 100'000;
  }
  const double n = static_cast<double>(draws);
  EXPECT_NEAR(static_cast<double>(hot), 0.9 * n, 5 * std::sqrt(n * 0.9 * 0.1));
  // Uniform inside the hot set: half of the hot ops in its upper half.
  EXPECT_NEAR(static_cast<double>(hot_upper_half), 0.45 * n, 5 * std::sqrt(n * 0.45 * 0.55));
}

TEST(hotspot_stream, degenerates_to_uniform_when_every_key_or_none_is_hot) {
  for (const char* text : {"hotspot:n=1000,hot=0,ops=0.9", "hotspot:n=1000,hot=1,ops=0.1"}) {
    const auto keys = wl::generate_keys(parse_spec(text), 4, 0, 1, draws);
    const auto low = std::count_if(keys.begin(), keys.end(), [](auto k) { return k < 500; });
    const double n = static_cast<double>(draws);
    EXPECT_NEAR(static_cast<double>(low), 0.5 * n, 5 * std::sqrt(n * 0.25)) << text;
  }
}

TEST(latest_stream, threads_together_write_keys_in_time_order) {
  const auto spec = parse_spec("latest:n=1000");
  constexpr unsigned threads = 3;
  std::vector<std::vector<std::uint64_t>> per_thread;
  for (unsigned t = 0; t < threads; ++t) per_thread.push_back(wl::generate_keys(spec, 9, t, threads, 700));
  // Global op g = i*T + t touches key g mod n: interleaved, the threads count up.
  for (std::uint64_t g = 0; g < 700 * threads; ++g) {
    ASSERT_EQ(per_thread[g % threads][g / threads], g % 1000) << "global op " << g;
  }
}

TEST(latest_stream, keeps_a_window_of_operations_inside_one_key_range) {
  // 16 equal ranges of [0, 16000): the first 1000 global ops all land in range 0.
  const auto spec = parse_spec("latest:n=16000");
  for (unsigned t = 0; t < 4; ++t) {
    for (const auto k : wl::generate_keys(spec, 1, t, 4, 250)) ASSERT_LT(k / 1000, 1U);
  }
}

// Hottest key of each epoch of shift:n=1e6,s=1,every=20000 with 2 threads.
TEST(shift_stream, moves_the_hot_set_to_a_new_key_every_epoch) {
  const auto spec = parse_spec("shift:n=1000000,s=1.0,every=20000");
  constexpr unsigned threads = 2;
  constexpr std::uint64_t every = 20000;
  constexpr int epochs = 3;
  std::vector<std::map<std::uint64_t, std::uint64_t>> counts(epochs);
  for (unsigned t = 0; t < threads; ++t) {
    const auto keys = wl::generate_keys(spec, 21, t, threads, epochs * every / threads);
    for (std::size_t i = 0; i < keys.size(); ++i) ++counts[(i * threads + t) / every][keys[i]];
  }
  std::vector<std::uint64_t> hottest;
  for (const auto& c : counts) {
    hottest.push_back(std::max_element(c.begin(), c.end(), [](auto& a, auto& b) { return a.second < b.second; })->first);
  }
  EXPECT_EQ(hottest[0], 0U);  // unshifted first epoch: rank 0 is key 0
  EXPECT_NE(hottest[1], hottest[0]);
  EXPECT_NE(hottest[2], hottest[1]);
  EXPECT_NE(hottest[2], hottest[0]);
  // The new hot key was cold before it went viral, and the old one cooled down.
  for (int e = 1; e < epochs; ++e) {
    const auto hot_now = counts[e][hottest[e]];
    EXPECT_GT(hot_now, every / 30);  // p(rank 0) = 1/H(1e6, 1) ~ 0.069
    EXPECT_LT(counts[e - 1][hottest[e]] * 20, hot_now) << "epoch " << e;
    EXPECT_LT(counts[e][hottest[e - 1]] * 20, hot_now) << "epoch " << e;
  }
}

TEST(herd_stream, every_thread_cycles_through_the_same_keys) {
  const auto spec = parse_spec("herd:keys=3,waves=2");
  const std::vector<std::uint64_t> expected = {0, 1, 2, 0, 1, 2, 0};
  EXPECT_EQ(wl::generate_keys(spec, 1, 0, 4, 7), expected);
  EXPECT_EQ(wl::generate_keys(spec, 2, 3, 4, 7), expected);
}

TEST(generate_operations, draws_gets_with_the_read_fraction_over_the_same_keys) {
  const auto spec = parse_spec("zipf:n=1000");
  const auto ops = wl::generate_operations(spec, 8, 1, 2, draws, 0.7);
  const auto keys = wl::generate_keys(spec, 8, 1, 2, draws);
  std::size_t gets = 0;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    ASSERT_EQ(ops[i].key, keys[i]);
    ASSERT_TRUE(ops[i].op == wl::op_kind::get || ops[i].op == wl::op_kind::put);
    gets += ops[i].op == wl::op_kind::get;
  }
  const double n = static_cast<double>(draws);
  EXPECT_NEAR(static_cast<double>(gets), 0.7 * n, 5 * std::sqrt(n * 0.21));
  for (const auto& op : wl::generate_operations(spec, 8, 0, 1, 1000, 1.0)) ASSERT_EQ(op.op, wl::op_kind::get);
  for (const auto& op : wl::generate_operations(spec, 8, 0, 1, 1000, 0.0)) ASSERT_EQ(op.op, wl::op_kind::put);
  EXPECT_THROW((void)wl::generate_operations(spec, 8, 0, 1, 10, 1.5), wl::spec_error);
}

class trace_file : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = (std::filesystem::temp_directory_path() /
             ("hotshard_streams_" + std::string(info->name()) + "_" + std::to_string(::getpid()) + ".trace"))
                .string();
  }
  void TearDown() override { std::filesystem::remove(path_); }
  std::string path_;
};

TEST_F(trace_file, threads_replay_interleaved_records_and_wrap_around) {
  std::vector<wl::operation> written;
  {
    wl::trace_writer writer(path_, wl::trace_format::binary);
    for (std::uint64_t i = 0; i < 20'000; ++i) {
      written.push_back({i * 7 + 1, static_cast<wl::op_kind>(i % 4)});
      writer.write(written.back());
    }
    writer.close();
  }
  const auto spec = parse_spec("trace:path=" + path_);
  constexpr unsigned threads = 3;
  constexpr std::size_t count = 15'000;  // 45,000 records over 3 threads: the file wraps twice
  for (unsigned t = 0; t < threads; ++t) {
    const auto ops = wl::generate_operations(spec, 1, t, threads, count, 0.5);
    const auto keys = wl::generate_keys(spec, 1, t, threads, count);
    for (std::size_t i = 0; i < count; ++i) {
      ASSERT_EQ(ops[i], written[(i * threads + t) % written.size()]) << "thread " << t << " op " << i;
      ASSERT_EQ(keys[i], ops[i].key);
    }
  }
}

TEST_F(trace_file, more_threads_than_records_still_share_out_a_text_trace) {
  const std::vector<wl::operation> written = {
      {10, wl::op_kind::get}, {11, wl::op_kind::put}, {12, wl::op_kind::add}, {13, wl::op_kind::del}, {14, wl::op_kind::get}};
  {
    wl::trace_writer writer(path_, wl::trace_format::text);
    for (const auto& op : written) writer.write(op);
  }
  const auto spec = parse_spec("trace:path=" + path_);
  constexpr unsigned threads = 8;
  for (unsigned t = 0; t < threads; ++t) {
    const auto ops = wl::generate_operations(spec, 1, t, threads, 12, 0.0);
    for (std::size_t i = 0; i < ops.size(); ++i) ASSERT_EQ(ops[i], written[(i * threads + t) % written.size()]);
  }
}

TEST_F(trace_file, an_empty_or_missing_trace_is_an_error) {
  EXPECT_THROW((void)wl::make_stream(parse_spec("trace:path=" + path_), 1, 0, 1), wl::trace_error);
  { wl::trace_writer writer(path_, wl::trace_format::text); }
  EXPECT_THROW((void)wl::make_stream(parse_spec("trace:path=" + path_), 1, 0, 1), wl::trace_error);
}

}  // namespace
