// hot_key_detector with many more threads than cores (issue 19: 16 threads on
// 2 cores). Each thread's sketch then sees 1/16 of the traffic, so its local
// filter (header "Per-thread sketches") judges x on few samples, and the
// filter's σ is the epoch's floor of the bar's share (published by the epoch
// end) rather than a share each thread recomputes from every thread's D_t.
// These tests check the header's statements there, on fixed seeds: every key
// above φ is reported and none well below; a key hot in one thread's stream
// only is found by that thread (the pigeonhole) and judged by the summed count.
#include "sketch_test_support.hpp"

#include <hotshard/hot_key_detector.hpp>

#include <gtest/gtest.h>

#include <barrier>
#include <cstdint>
#include <string>
#include <vector>

namespace {

namespace ht = hotshard::test;
using detector = hotshard::hot_key_detector<std::uint64_t>;

constexpr unsigned many_threads = 16;

// The statement of test_detection_accuracy's one- and four-thread tests, the
// stream dealt round-robin to 16 threads: every key with share ≥ φ is hot,
// none with share ≤ φ/4 (each miss w.p. ≤ e^-8, each false report ≤ e^-20).
TEST(detector_scaling, sixteen_threads_report_every_key_above_phi_and_none_well_below) {
  for (const char* spec : {"zipf:n=1000000,s=0.8,scramble=1", "zipf:n=1000000,s=1.0,scramble=1",
                           "zipf:n=1000000,s=1.2,scramble=1"}) {
    const auto keys = ht::keys_of(spec, 1'000'000, 24);
    const auto exact = ht::count_exact(keys);
    constexpr double phi = 0.002;
    detector d({.hot_share = phi, .window = 1 << 18, .sketch = {.seed = 9}});
    ASSERT_EQ(d.sample_every(), 8u);
    std::barrier all_have_a_sketch(many_threads);  // no thread exits (and hands its sketch on) before all have one
    ht::run_threads(many_threads, [&](unsigned t) {
      d.observe(keys[t]);
      all_have_a_sketch.arrive_and_wait();
      for (std::size_t i = t + many_threads; i < keys.size(); i += many_threads) d.observe(keys[i]);
    });
    ASSERT_EQ(d.thread_sketches(), many_threads);
    ht::expect_every_key_above_phi_hot_and_none_below_a_quarter(d, exact, keys.size(), phi, spec);
  }
}

// Thread-affine keys with 16 threads: key 100 + t is 1/8 of thread t's stream
// only, 1/128 of the whole = 1.56 φ (φ = 1/200): it passes the local filter
// only in its own thread and must be found there. Key 900 is 1/32 of thread
// 0's stream, above the bar in thread 0's own traffic, so it passes that
// thread's filter, but 1/512 of the whole (0.39 φ; with W = 2^18 the lowered
// bar is ≈ 0.78 φ, twice its expected count) — it must not be reported.
// (The threads move in step: hotness is over recent traffic.)
TEST(detector_scaling, sixteen_threads_find_thread_affine_hot_keys_and_judge_them_by_the_sum) {
  constexpr double phi = 0.005;
  constexpr std::uint64_t per_thread = 400'000;
  for (std::uint64_t seed : {1u, 2u}) {
    detector d({.hot_share = phi, .window = 1 << 18, .sketch = {.seed = seed}, .sample_every = 8});
    std::barrier sync(many_threads);
    ht::run_threads(many_threads, [&](unsigned t) {
      const std::uint64_t cold = 1'000'000 * (t + 1);
      for (std::uint64_t i = 0; i < per_thread; ++i) {
        if (i % 4096 == 0) sync.arrive_and_wait();
        if (i % 8 == 0) d.observe(100 + t);
        else if (t == 0 && i % 32 == 1) d.observe(900);
        else d.observe(cold + i % 200'000);
      }
    });
    for (unsigned t = 0; t < many_threads; ++t) EXPECT_TRUE(d.is_hot(100 + t)) << "seed " << seed << " key " << 100 + t;
    EXPECT_FALSE(d.is_hot(900)) << "seed " << seed;
  }
}

}  // namespace
