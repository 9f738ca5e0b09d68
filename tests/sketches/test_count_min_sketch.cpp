#include "sketch_test_support.hpp"

#include <hotshard/concepts/frequency_sketch.hpp>
#include <hotshard/count_min_sketch.hpp>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/buffered_count_min_sketch.hpp>
#include <hotshard/heavy_hitters.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>
#include <cstdint>
#include <functional>
#include <stdexcept>

namespace {

using hotshard::count_min_dimensions;
using hotshard::count_min_options;
using hotshard::update_policy;
using sketch = hotshard::count_min_sketch<std::uint64_t>;
namespace ht = hotshard::test;

static_assert(hotshard::concepts::frequency_sketch<sketch>);
static_assert(hotshard::concepts::frequency_sketch<hotshard::buffered_count_min_sketch<std::uint64_t>>);
static_assert(hotshard::concepts::heavy_hitter_tracker<hotshard::heavy_hitters<std::uint64_t>>);

count_min_options conservative() { return {update_policy::conservative, count_min_options{}.seed, 0}; }

TEST(count_min_sketch, dimensions_follow_epsilon_and_delta) {
  const auto d = count_min_dimensions::from_error(0.001, 0.01);
  EXPECT_EQ(d.width, 2719u);  // ⌈e / 0.001⌉
  EXPECT_EQ(d.depth, 5u);     // ⌈ln 100⌉
  EXPECT_LE(d.epsilon(), 0.001);
  EXPECT_LE(d.delta(), 0.01);
  sketch s(0.001, 0.01);
  EXPECT_EQ(s.width(), 2719u);
  EXPECT_EQ(s.depth(), 5u);
  EXPECT_GE(s.memory_bytes(), 2719u * 5u * 8u);
  EXPECT_THROW(sketch(0.0, 0.01), std::invalid_argument);
  EXPECT_THROW(sketch(0.01, 1.0), std::invalid_argument);
}

TEST(count_min_sketch, a_lone_key_is_counted_exactly) {
  for (const auto mode : {update_policy::plain, update_policy::conservative}) {
    sketch s(0.01, 0.01, {mode, 7, 0});
    EXPECT_EQ(s.estimate(5), 0u);
    s.add(5);
    s.add(5, 41);
    EXPECT_EQ(s.estimate(5), 42u);
  }
}

// Statistical: a fixed-seed Zipf stream, both update policies.
void check_bounds(update_policy mode, const char* spec) {
  const double eps = 0.001, delta = 0.01;
  const auto keys = ht::keys_of(spec, 400'000 / ht::sanitizer_scale);
  const auto exact = ht::count_exact(keys);
  sketch s(eps, delta, {mode, 11, 0});
  for (const auto k : keys) s.add(k);
  const double bound = eps * static_cast<double>(keys.size());
  std::size_t within = 0, under = 0;
  for (const auto& [k, n] : exact) {
    const auto e = s.estimate(k);
    if (e < n) ++under;
    if (static_cast<double>(e - n) <= bound) ++within;
  }
  EXPECT_EQ(under, 0u) << spec;
  EXPECT_GE(static_cast<double>(within) / static_cast<double>(exact.size()), 1.0 - delta) << spec;
}

TEST(count_min_sketch, never_underestimates_and_keeps_one_minus_delta_within_epsilon_n) {
  for (const char* spec : {"zipf:n=1000000,s=1.0", "zipf:n=1000000,s=0.6,scramble=1", "zipf:n=100000,s=1.5",
                           "uniform:n=100000"}) {
    check_bounds(update_policy::plain, spec);
    check_bounds(update_policy::conservative, spec);
  }
}

TEST(count_min_sketch, conservative_update_is_never_above_plain_update) {
  const auto keys = ht::keys_of("zipf:n=100000,s=0.9", 200'000 / ht::sanitizer_scale);
  sketch plain(0.002, 0.01, {update_policy::plain, 3, 0});
  sketch cu(0.002, 0.01, {update_policy::conservative, 3, 0});
  for (const auto k : keys) {
    plain.add(k);
    cu.add(k);
  }
  std::uint64_t plain_sum = 0, cu_sum = 0;
  for (const auto& [k, n] : ht::count_exact(keys)) {
    ASSERT_LE(cu.estimate(k), plain.estimate(k));
    plain_sum += plain.estimate(k) - n;
    cu_sum += cu.estimate(k) - n;
  }
  EXPECT_LT(cu_sum, plain_sum);  // strictly tighter on this stream
}

TEST(count_min_sketch, merge_equals_the_sketch_of_the_concatenated_stream) {
  const auto a = ht::keys_of("zipf:n=100000,s=1.0", 50'000, 1);
  const auto b = ht::keys_of("zipf:n=100000,s=1.0,scramble=1", 50'000, 2);
  const count_min_options same_seed{update_policy::plain, 21, 0};
  sketch sa(0.005, 0.01, same_seed), sb(0.005, 0.01, same_seed), whole(0.005, 0.01, same_seed);
  for (const auto k : a) sa.add(k), whole.add(k);
  for (const auto k : b) sb.add(k), whole.add(k);
  sa.merge(sb);
  for (std::size_t r = 0; r < whole.depth(); ++r)
    for (std::size_t c = 0; c < whole.width(); ++c) ASSERT_EQ(sa.counter_at(r, c), whole.counter_at(r, c));
}

TEST(count_min_sketch, merge_rejects_a_sketch_of_other_dimensions_or_seed) {
  sketch a(0.01, 0.01), wider(0.005, 0.01), reseeded(0.01, 0.01, {update_policy::plain, 99, 0});
  EXPECT_THROW(a.merge(wider), std::invalid_argument);
  EXPECT_THROW(a.merge(reseeded), std::invalid_argument);
}

TEST(count_min_sketch, rejects_dimensions_whose_counters_overflow_naming_the_parameter) {
  const auto message_of = [](auto make) -> std::string {
    try {
      make();
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "no exception";
  };
  // 2^62 × 4 counters wrap to 0: the old code allocated nothing and wrote out of bounds.
  EXPECT_NE(message_of([] { sketch s(count_min_dimensions{std::size_t{1} << 62, 4}); }).find("width"), std::string::npos);
  EXPECT_NE(message_of([] { sketch s(count_min_dimensions{SIZE_MAX, 1}); }).find("width"), std::string::npos);
  EXPECT_NE(message_of([] { sketch s(count_min_dimensions{std::size_t{1} << 40, std::size_t{1} << 30}); })
                .find("width x depth"),
            std::string::npos);
  EXPECT_NE(message_of([] { sketch s(count_min_dimensions{0, 4}); }).find("width"), std::string::npos);
  EXPECT_NE(message_of([] { sketch s(count_min_dimensions{16, 0}); }).find("depth"), std::string::npos);
}

TEST(count_min_sketch, rejects_an_epsilon_whose_width_does_not_fit_and_nan_or_out_of_range_errors) {
  const auto message_of = [](double eps, double delta) -> std::string {
    try {
      (void)count_min_dimensions::from_error(eps, delta);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "no exception";
  };
  // e / 1e-300 does not fit a size_t: converting it was undefined behaviour.
  for (const double eps : {1e-300, 1e-20, 5e-324, std::nan(""), -0.1, 0.0, 1.0, HUGE_VAL})
    EXPECT_NE(message_of(eps, 0.01).find("epsilon"), std::string::npos) << eps;
  for (const double delta : {std::nan(""), -1.0, 0.0, 1.0, 2.0})
    EXPECT_NE(message_of(0.01, delta).find("delta"), std::string::npos) << delta;
  EXPECT_THROW(sketch(1e-300, 0.01), std::invalid_argument);
  EXPECT_EQ(count_min_dimensions::from_error(0.01, 1e-300).depth, 691u);  // ⌈ln 1e300⌉: tiny δ is fine
}

TEST(count_min_sketch, rejects_an_update_policy_that_is_not_one) {
  EXPECT_THROW(sketch(0.01, 0.01, {static_cast<update_policy>(7), 1, 0}), std::invalid_argument);
}

// The convention of every primitive (issue 16): one options struct with the
// shared sketch_options block; unset ε/δ take the documented defaults.
TEST(count_min_sketch, is_built_from_count_min_sketch_options) {
  const sketch defaults;
  EXPECT_EQ(defaults.width(), count_min_dimensions::from_error(0.0002, 0.01).width);
  EXPECT_EQ(defaults.depth(), count_min_dimensions::from_error(0.0002, 0.01).depth);
  const sketch tuned({.sketch = {.epsilon = 0.01, .delta = 0.05, .seed = 5}, .update = update_policy::conservative,
                      .aging_window = 64});
  EXPECT_EQ(tuned.width(), count_min_dimensions::from_error(0.01, 0.05).width);
  EXPECT_EQ(tuned.depth(), count_min_dimensions::from_error(0.01, 0.05).depth);
  EXPECT_EQ(tuned.options().seed, 5u);
  EXPECT_EQ(tuned.options().update, update_policy::conservative);
  EXPECT_EQ(tuned.options().aging_window, 64u);
  EXPECT_EQ(sketch({.sketch = {.seed = 0}}).options().seed, 0u);  // an explicit 0 is a seed, not "random"
  EXPECT_NE(sketch().options().seed, sketch().options().seed);     // unset: random per instance
  // Same dimensions and seed through the old constructor: the two merge.
  sketch old(0.01, 0.05, {update_policy::plain, 5, 0});
  EXPECT_TRUE(old.compatible(tuned));
}

TEST(count_min_sketch, bad_options_throw_naming_the_field) {
  const auto message = [](const hotshard::count_min_sketch_options& o) { return hotshard::test::construction_error<sketch>(o); };
  EXPECT_NE(message({.sketch = {.epsilon = 0}}).find("count_min_sketch: epsilon"), std::string::npos);
  EXPECT_NE(message({.sketch = {.epsilon = 1e-300}}).find("count_min_sketch: epsilon"), std::string::npos);
  EXPECT_NE(message({.sketch = {.delta = 1}}).find("count_min_sketch: delta"), std::string::npos);
  EXPECT_NE(message({.update = static_cast<update_policy>(7)}).find("count_min_sketch: update"), std::string::npos);
}

TEST(count_min_sketch, each_instance_draws_its_own_seed_unless_one_is_given) {
  sketch a(0.01, 0.01), b(0.01, 0.01);
  EXPECT_NE(a.options().seed, b.options().seed);
  EXPECT_FALSE(a.compatible(b));
  EXPECT_THROW(a.merge(b), std::invalid_argument);
  sketch sibling(0.01, 0.01, {update_policy::plain, a.options().seed, 0});  // built to merge with a
  EXPECT_TRUE(a.compatible(sibling));
  sibling.add(3, 4);
  a.merge(sibling);
  EXPECT_EQ(a.estimate(3), 4u);
  EXPECT_EQ(sketch(0.01, 0.01, {update_policy::plain, 77, 0}).options().seed, 77u);
}

// Hash flooding: keys crafted against one default-built sketch (they share
// every row's column with key 0 there) are spread by another default-built
// sketch. With a fixed default seed (the old code) they collide in both.
TEST(count_min_sketch, keys_crafted_against_one_default_sketch_do_not_collide_in_another) {
  const count_min_dimensions d{64, 2};
  sketch known(d);
  std::vector<std::uint64_t> flood;
  const std::uint64_t h0 = sketch::hash_of(0);
  for (std::uint64_t k = 1; flood.size() < 8; ++k) {
    const std::uint64_t h = sketch::hash_of(k);
    if (known.column(0, h) == known.column(0, h0) && known.column(1, h) == known.column(1, h0)) flood.push_back(k);
  }
  for (const auto k : flood) known.add(k, 100);
  EXPECT_EQ(known.estimate(0), 800u);  // the attack works against the sketch it was crafted for
  sketch fresh(d);
  for (const auto k : flood) fresh.add(k, 100);
  EXPECT_LT(fresh.estimate(0), 800u);
}

// Defect 9: aging is per unit of weight. One add(k, w) must leave the sketch
// exactly as w adds of 1 would, for windows that do and do not divide the
// ticker's batch, weights spanning 0, 1, many and more than 64 windows.
TEST(count_min_sketch, one_weighted_add_ages_exactly_as_that_many_unit_adds) {
  const std::uint64_t weights[] = {1, 5, 640, 63, 1, 3000, 64, 129, 1, 70'000, 2, 999};
  for (const std::uint64_t window : {64u, 1024u, 1000u, 100u, 7u, 3u, 1u}) {
    for (const auto mode : {update_policy::plain, update_policy::conservative}) {
      sketch weighted(count_min_dimensions{32, 3}, {mode, 9, window});
      sketch units(count_min_dimensions{32, 3}, {mode, 9, window});
      std::uint64_t key = 0;
      for (const std::uint64_t w : weights) {
        weighted.add(key % 5, w);
        for (std::uint64_t i = 0; i < w; ++i) units.add(key % 5);
        ++key;
        ASSERT_EQ(weighted.halvings(), units.halvings()) << "window " << window << " after weight " << w;
        for (std::size_t r = 0; r < units.depth(); ++r)
          for (std::size_t c = 0; c < units.width(); ++c)
            ASSERT_EQ(weighted.counter_at(r, c), units.counter_at(r, c))
                << "window " << window << " after weight " << w << " row " << r << " col " << c;
      }
    }
  }
}

TEST(count_min_sketch, an_add_spanning_ten_windows_halves_ten_times) {
  sketch s(count_min_dimensions{64, 2}, {update_policy::plain, 9, 64});
  s.add(1, 640);
  EXPECT_EQ(s.halvings(), 10u);
  EXPECT_EQ(s.estimate(1), 63u);  // x ← ⌊(x + 64) / 2⌋ ten times from 0
}

TEST(count_min_sketch, halve_halves_every_counter) {
  const auto keys = ht::keys_of("zipf:n=10000,s=1.0", 20'000);
  sketch s(0.01, 0.01);
  for (const auto k : keys) s.add(k);
  std::vector<std::uint64_t> before;
  for (std::size_t r = 0; r < s.depth(); ++r)
    for (std::size_t c = 0; c < s.width(); ++c) before.push_back(s.counter_at(r, c));
  s.halve();
  std::size_t i = 0;
  for (std::size_t r = 0; r < s.depth(); ++r)
    for (std::size_t c = 0; c < s.width(); ++c) ASSERT_EQ(s.counter_at(r, c), before[i++] / 2);
  EXPECT_EQ(s.halvings(), 1u);
}

TEST(count_min_sketch, aging_window_halves_after_exactly_w_additions_on_one_thread) {
  sketch s(0.01, 0.01, {update_policy::plain, 5, 1024});
  for (int i = 0; i < 1023; ++i) s.add(7);
  EXPECT_EQ(s.halvings(), 0u);
  EXPECT_EQ(s.estimate(7), 1023u);
  s.add(7);  // the 1024th addition
  EXPECT_EQ(s.halvings(), 1u);
  EXPECT_EQ(s.estimate(7), 512u);
  for (int i = 0; i < 1024; ++i) s.add(7);
  EXPECT_EQ(s.halvings(), 2u);
  EXPECT_EQ(s.estimate(7), (512u + 1024u) / 2);
}

// Stress: 16 threads (more than cores) add concurrently. Plain update: every
// row's counters sum to exactly N (nothing lost, nothing doubled). Both
// policies: no key's estimate below its true count.
// With yielding_stats an add may be preempted between its rows and between a
// conservative update's reads and its CASes (schedule noise).
template <class Stats = hotshard::detail::no_stats>
void sixteen_threads_count_exactly(std::size_t per) {
  constexpr unsigned threads = 16;
  std::vector<std::vector<std::uint64_t>> keys(threads);
  for (unsigned t = 0; t < threads; ++t) keys[t] = ht::keys_of("zipf:n=50000,s=1.2", per, 9, t, threads);
  ht::exact_counts exact;
  for (const auto& v : keys)
    for (const auto k : v) ++exact[k];
  for (const auto mode : {update_policy::plain, update_policy::conservative}) {
    hotshard::count_min_sketch<std::uint64_t, Stats> s(0.002, 0.01, {mode, 13, 0});
    ht::run_threads(threads, [&](unsigned t) {
      for (const auto k : keys[t]) s.add(k);
    });
    for (const auto& [k, n] : exact) ASSERT_GE(s.estimate(k), n);
    if (mode == update_policy::plain) {
      for (std::size_t r = 0; r < s.depth(); ++r) {
        std::uint64_t sum = 0;
        for (std::size_t c = 0; c < s.width(); ++c) sum += s.counter_at(r, c);
        EXPECT_EQ(sum, threads * per) << "row " << r;
      }
    }
  }
}

TEST(count_min_sketch, sixteen_threads_count_exactly_and_never_underestimate) {
  sixteen_threads_count_exactly(40'000 / ht::sanitizer_scale);
}
TEST(count_min_sketch, sixteen_threads_count_exactly_and_never_underestimate_under_schedule_noise) {
  sixteen_threads_count_exactly<hotshard::detail::yielding_stats>(1'000 / ht::sanitizer_scale);
}

// The restart on a failed CAS is what keeps conservative update exact for a
// key nobody else touches, however the 16 threads interleave.
template <class Stats = hotshard::detail::no_stats>
void conservative_update_of_one_key_is_exact(std::uint64_t per) {
  constexpr unsigned threads = 16;
  hotshard::count_min_sketch<std::uint64_t, Stats> s(0.01, 0.001, conservative());
  ht::run_threads(threads, [&](unsigned) {
    for (std::uint64_t i = 0; i < per; ++i) s.add(123);
  });
  EXPECT_EQ(s.estimate(123), threads * per);
}
TEST(count_min_sketch, conservative_update_of_one_key_by_sixteen_threads_is_exact) {
  conservative_update_of_one_key_is_exact(20'000 / ht::sanitizer_scale);
}
TEST(count_min_sketch, conservative_update_of_one_key_by_sixteen_threads_is_exact_under_schedule_noise) {
  conservative_update_of_one_key_is_exact<hotshard::detail::yielding_stats>(500 / ht::sanitizer_scale);
}

// Aging while 16 threads add: nothing is lost beyond what halving removes on
// purpose. Each thread adds its own key; with h halvings, the estimate of a key
// must be at least its count after the last halving started (adds after that
// point are never halved).
TEST(count_min_sketch, halving_while_threads_add_loses_no_later_add) {
  constexpr unsigned threads = 16;
  const std::uint64_t per = 20'000 / ht::sanitizer_scale;
  sketch s(0.001, 0.01);
  std::atomic<unsigned> done{0};
  std::thread ager([&] {
    while (done.load(std::memory_order_acquire) < threads) s.halve();
  });
  ht::run_threads(threads, [&](unsigned t) {
    for (std::uint64_t i = 0; i < per; ++i) s.add(1000 + t);
    done.fetch_add(1, std::memory_order_release);
  });
  ager.join();
  for (unsigned t = 0; t < threads; ++t) s.add(1000 + t, 5);  // after every halving
  for (unsigned t = 0; t < threads; ++t) {
    EXPECT_GE(s.estimate(1000 + t), 5u);
    EXPECT_LE(s.estimate(1000 + t), per + 5 + static_cast<std::uint64_t>(s.epsilon() * threads * per) + 1);
  }
  EXPECT_GT(s.halvings(), 0u);
}

// --- keys (issue 16) -----------------------------------------------------------

template <class K>
concept count_min_sketch_accepts = requires { typename hotshard::count_min_sketch<K>; };
static_assert(!count_min_sketch_accepts<const char*>, "a pointer key would count addresses: rejected at compile time");
static_assert(!count_min_sketch_accepts<void*>);
static_assert(count_min_sketch_accepts<std::string> && count_min_sketch_accepts<std::uint64_t>);

// A key, its std::string_view, a literal and its hashed_key land on the same
// counters; two instances with one seed, one fed keys and one hashed_keys,
// hold the same estimates.
TEST(count_min_sketch, string_views_literals_and_hashed_keys_count_as_the_key) {
  hotshard::count_min_sketch<std::string> by_key({.sketch = {.epsilon = 0.01, .delta = 0.01, .seed = 11}});
  hotshard::count_min_sketch<std::string> by_hash({.sketch = {.epsilon = 0.01, .delta = 0.01, .seed = 11}});
  const auto keys = ht::keys_of("zipf:n=5000,s=1.0,scramble=1", 40'000 / ht::sanitizer_scale, 7);
  for (const auto k : keys) {
    const std::string key = "query:" + std::to_string(k);
    by_key.add(key);
    by_hash.add(hotshard::hash_once(key));
  }
  for (std::size_t i = 0; i < keys.size(); i += 37) {
    const std::string key = "query:" + std::to_string(keys[i]);
    EXPECT_EQ(by_key.estimate(key), by_hash.estimate(hotshard::hash_once(key)));
    EXPECT_EQ(by_key.estimate(key), by_key.estimate(std::string_view(key)));
  }
  const std::uint64_t before = by_key.estimate(std::string("literal-key"));
  by_key.add("literal-key", 3);
  by_key.add(std::string_view("literal-key"), 2);
  EXPECT_GE(by_key.estimate("literal-key"), before + 5);
  EXPECT_EQ(by_key.estimate("literal-key"), by_key.estimate(std::string("literal-key")));
}

TEST(count_min_sketch, stats_report_dimensions_halvings_and_memory) {
  hotshard::count_min_sketch<std::uint64_t> s({.sketch = {.epsilon = 0.01, .delta = 0.01, .seed = 11}});
  for (std::uint64_t i = 0; i < 1000; ++i) s.add(i);
  s.halve();
  s.halve();
  const auto st = s.stats();
  const auto ex = hotshard::test::export_of(st);
  EXPECT_TRUE(ex.conventions_hold);
  EXPECT_EQ(ex.value.at("width"), std::ceil(std::exp(1.0) / 0.01));
  EXPECT_EQ(ex.value.at("depth"), 5.0);
  EXPECT_EQ(ex.value.at("halvings_total"), 2.0);
  EXPECT_EQ(ex.value.at("memory_bytes"), static_cast<double>(s.memory_bytes()));
  EXPECT_EQ(ex.names.size(), 4u);
  EXPECT_EQ(st.width, s.width());
  EXPECT_EQ(st.halvings, s.halvings());
}

}  // namespace
