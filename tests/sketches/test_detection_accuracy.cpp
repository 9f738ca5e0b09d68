// Accuracy of heavy_hitters and hot_key_detector against exact counts, on
// Zipf streams (fixed seeds) and on the real web07 trace when it is present
// (../shared/traces/web07.trace.xz, read with `xz -dc`; skipped otherwise).
#include "sketch_test_support.hpp"

#include <hotshard/heavy_hitters.hpp>
#include <hotshard/hot_key_detector.hpp>

#include <gtest/gtest.h>

#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace {

namespace ht = hotshard::test;
using hh = hotshard::heavy_hitters<std::uint64_t>;
using detector = hotshard::hot_key_detector<std::uint64_t>;

// web07: big-endian int32 keys, nothing else. nullopt when the file or xz is missing.
std::optional<std::vector<std::uint64_t>> web07() {
  const std::string path = std::string(HOTSHARD_TRACES_DIR) + "/web07.trace.xz";
  if (!std::filesystem::exists(path) || std::system("xz --version >/dev/null 2>&1") != 0) return std::nullopt;
  FILE* in = popen(("xz -dc '" + path + "'").c_str(), "r");
  if (in == nullptr) return std::nullopt;
  std::vector<std::uint64_t> keys;
  unsigned char b[4];
  while (std::fread(b, 1, 4, in) == 4)
    keys.push_back(static_cast<std::uint32_t>(b[0]) << 24 | static_cast<std::uint32_t>(b[1]) << 16 |
                   static_cast<std::uint32_t>(b[2]) << 8 | b[3]);
  if (pclose(in) != 0) return std::nullopt;
  return keys;
}

// Top-100 recall (ties with the 100th count as correct) and keys above N/m missed.
void expect_heavy_hitters_accurate(const std::vector<std::uint64_t>& keys, unsigned threads, const std::string& what) {
  const auto exact = ht::count_exact(keys);
  hh h({.capacity = 1024, .sketch = {.seed = 11}});
  ht::run_threads(threads, [&](unsigned t) {
    for (std::size_t i = t; i < keys.size(); i += threads) h.add(keys[i]);
  });
  const auto all = h.top(std::numeric_limits<std::size_t>::max());
  std::set<std::uint64_t> reported;
  for (const auto& e : all) reported.insert(e.key);
  std::size_t missed = 0;
  for (const auto& [k, c] : exact) missed += c * h.capacity() > keys.size() && !reported.count(k) ? 1 : 0;
  const auto bar = ht::kth_count(exact, 100);
  std::size_t correct = 0;
  for (const auto& e : h.top(100)) correct += exact.at(e.key) >= bar ? 1 : 0;
  EXPECT_EQ(missed, 0u) << what;
  EXPECT_GE(static_cast<double>(correct) / 100.0, 0.99) << what;
}

TEST(detection_accuracy, heavy_hitters_top_100_on_zipf_from_one_and_four_threads) {
  for (const char* spec : {"zipf:n=1000000,s=0.8,scramble=1", "zipf:n=1000000,s=1.0,scramble=1",
                           "zipf:n=1000000,s=1.2,scramble=1"}) {
    const auto keys = ht::keys_of(spec, 500'000 / ht::sanitizer_scale, 21);
    expect_heavy_hitters_accurate(keys, 1, spec);
    expect_heavy_hitters_accurate(keys, 4, spec);
  }
}

TEST(detection_accuracy, heavy_hitters_top_100_on_the_web07_trace) {
  const auto keys = web07();
  if (!keys) GTEST_SKIP() << "web07.trace.xz or xz not available";
  expect_heavy_hitters_accurate(*keys, 1, "web07");
  expect_heavy_hitters_accurate(*keys, 4, "web07");
}

// Stationary stream, auto sampling (sample_every 8 here). Keys with share ≥ φ
// must be hot at the end (the sampled bar is lowered by 4 standard deviations:
// each miss has probability ≤ e^-8) and keys ≤ φ/4 must not (≤ e^-20 each,
// header). The bound needs φ·N large against the sampling noise, so this
// stream is never scaled down under sanitizers (at N/4, φN/8 ≈ 62 samples,
// keys at φ/4 crossed the lowered bar).
TEST(detection_accuracy, the_sampled_detector_reports_every_key_well_above_phi_and_none_well_below) {
  for (const char* spec : {"zipf:n=1000000,s=0.8,scramble=1", "zipf:n=1000000,s=1.0,scramble=1",
                           "zipf:n=1000000,s=1.2,scramble=1"}) {
    const auto keys = ht::keys_of(spec, 1'000'000, 22);
    const auto exact = ht::count_exact(keys);
    constexpr double phi = 0.002;
    detector d({.hot_share = phi, .window = 1 << 18, .sketch = {.seed = 5}});
    ASSERT_EQ(d.sample_every(), 8u);
    for (const auto k : keys) d.observe(k);
    ht::expect_every_key_above_phi_hot_and_none_below_a_quarter(d, exact, keys.size(), phi, spec);
  }
}

// Unsampled, windowless: D = N. Stamps last until an epoch ends (a key hot
// early, when φD was small, stays stamped), so one epoch end at the end keeps
// exactly the keys still above the bar: every key above φN is hot, none below
// (φ − ε)N is (halving the counts and D together keeps the comparison).
TEST(detection_accuracy, the_unsampled_detector_on_web07_reports_exactly_the_keys_above_phi) {
  const auto keys = web07();
  if (!keys) GTEST_SKIP() << "web07.trace.xz or xz not available";
  const auto exact = ht::count_exact(*keys);
  detector d({.hot_share = 0.002, .window = 0, .min_count = 1, .sketch = {.epsilon = 0.0001, .seed = 6}, .sample_every = 1});
  for (const auto k : *keys) d.observe(k);
  ASSERT_TRUE(d.advance_epoch());
  const double n = static_cast<double>(keys->size());
  std::size_t missed = 0, false_hot = 0, above = 0;
  for (const auto& [k, c] : exact) {
    const double share = static_cast<double>(c) / n;
    if (share > 0.002) {
      ++above;
      missed += d.is_hot(k) ? 0 : 1;
    }
    if (share < 0.002 - 0.0001 && d.is_hot(k)) ++false_hot;
  }
  EXPECT_GT(above, 5u);
  EXPECT_EQ(missed, 0u);
  EXPECT_EQ(false_hot, 0u);
}

std::uint64_t mode_of(const std::vector<std::uint64_t>& keys, std::size_t from, std::size_t to) {
  ht::exact_counts c;
  for (std::size_t i = from; i < to; ++i) ++c[keys[i]];
  return std::max_element(c.begin(), c.end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
}

// The sampled form of the shift statement (header): top share s' ≈ 0.083 =
// 4φ, sample_every 16: the new key is reported within 2W and the old one
// dropped within 5W, except with probability ≤ exp(−p·s'·W/8) + exp(−p·W/12)
// (≈ e^-21 here) per seed.
TEST(detection_accuracy, with_sampling_a_new_hot_key_is_reported_within_two_windows_of_a_shift) {
  constexpr std::uint64_t window = 1 << 15;
  constexpr std::size_t every = 12 * window;
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    const auto keys = ht::keys_of("shift:n=100000,s=1.0,every=" + std::to_string(every), 2 * every, 30 + seed);
    const auto old_key = mode_of(keys, 0, every), new_key = mode_of(keys, every, 2 * every);
    ASSERT_NE(old_key, new_key);
    detector d({.hot_share = 0.02, .window = window, .sketch = {.seed = seed}, .sample_every = 16});
    std::optional<std::size_t> new_seen, old_gone;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      d.observe(keys[i]);
      if (i == every - 1) {
        ASSERT_TRUE(d.is_hot(old_key));
        ASSERT_FALSE(d.is_hot(new_key));
      }
      if (i < every) continue;
      if (!new_seen && d.is_hot(new_key)) new_seen = i - every;
      const bool old_hot = d.is_hot(old_key);
      if (!old_hot && !old_gone) old_gone = i - every;
      if (old_hot) old_gone.reset();
    }
    ASSERT_TRUE(new_seen && old_gone) << "seed " << seed;
    std::printf("seed %llu: new key after %zu, old dropped after %zu (window %llu, sampled 1/16)\n",
                static_cast<unsigned long long>(seed), *new_seen, *old_gone,
                static_cast<unsigned long long>(window));
    EXPECT_LE(*new_seen, 2 * window);
    EXPECT_LE(*old_gone, 5 * window);
  }
}

// Unbiased counts: a key with c = 10^5 true observations, sampled 1/16, is
// counted within ±5% (Chernoff: each side fails w.p. ≤ e^-7.8) — and the
// total D likewise.
TEST(detection_accuracy, sampled_counts_are_unbiased_within_the_chernoff_bound) {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    detector d({.hot_share = 0.1, .window = 0, .sketch = {.epsilon = 0.001, .seed = seed}, .sample_every = 16});
    for (std::uint64_t i = 0; i < 400'000; ++i) d.observe(i % 4 == 0 ? 7 : 1000 + i % 50'000);
    const double est = static_cast<double>(d.estimate(7));
    EXPECT_NEAR(est, 100'000.0, 5'000.0 + 0.001 * 400'000) << seed;  // + εD: the sketch's own error
    EXPECT_NEAR(static_cast<double>(d.recent_traffic()), 400'000.0, 20'000.0) << seed;
    EXPECT_TRUE(d.is_hot(7));
  }
}


// The sampled form from several threads (per-thread sketches summed, local
// filter; header "Per-thread sketches"): the same statement as the
// one-thread test above, the stream dealt round-robin to 4 threads.
TEST(detection_accuracy, the_sampled_detector_from_four_threads_reports_every_key_above_phi_and_none_well_below) {
  for (const char* spec : {"zipf:n=1000000,s=0.8,scramble=1", "zipf:n=1000000,s=1.2,scramble=1"}) {
    const auto keys = ht::keys_of(spec, 1'000'000, 23);
    const auto exact = ht::count_exact(keys);
    constexpr double phi = 0.002;
    detector d({.hot_share = phi, .window = 1 << 18, .sketch = {.seed = 7}});
    ASSERT_EQ(d.sample_every(), 8u);
    ht::run_threads(4, [&](unsigned t) {
      for (std::size_t i = t; i < keys.size(); i += 4) d.observe(keys[i]);
    });
    ht::expect_every_key_above_phi_hot_and_none_below_a_quarter(d, exact, keys.size(), phi, spec);
  }
}

// Thread-affine keys, where the local filter matters: 4 threads of 400k
// observations; key 100 + t is 1/8 of thread t's stream only, so 1/32 of the
// whole (1.56 φ, φ = 0.02) — it can pass the filter only in its own thread
// (the pigeonhole of the header) and must be found. Key 900 is 1/32 of
// thread 0's stream only: above the bar in thread 0's own traffic, so it
// passes that thread's filter, but 1/128 of the whole (0.39 φ; the lowered
// bar is ≈ 0.78 φ here, twice its expected count, each check failing w.p.
// < e^-40) — it must not be reported: hotness is the summed count against the
// whole D, not one thread's share. (The threads move in step: with one
// running after another, the recent traffic would be the last one's.)
TEST(detection_accuracy, the_sampled_detector_finds_thread_affine_hot_keys_and_judges_them_by_the_sum) {
  constexpr double phi = 0.02;
  for (std::uint64_t seed : {1u, 2u}) {
    detector d({.hot_share = phi, .window = 1 << 16, .sketch = {.seed = seed}, .sample_every = 8});
    std::barrier sync(4);  // hotness is over recent traffic: keep the threads in step (chunks of W/16)
    ht::run_threads(4, [&](unsigned t) {
      std::uint64_t cold = 1'000'000 * (t + 1);
      for (std::uint64_t i = 0; i < 400'000; ++i) {
        if (i % 4096 == 0) sync.arrive_and_wait();
        if (i % 8 == 0) d.observe(100 + t);
        else if (t == 0 && i % 32 == 1) d.observe(900);
        else d.observe(cold + i % 200'000);
      }
    });
    for (unsigned t = 0; t < 4; ++t) EXPECT_TRUE(d.is_hot(100 + t)) << "seed " << seed << " key " << 100 + t;
    EXPECT_FALSE(d.is_hot(900)) << "seed " << seed;
  }
}

}  // namespace
