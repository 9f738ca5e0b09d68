#include <hotshard/concepts/counter.hpp>
#include <hotshard/striped_counter.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <bit>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/detail/hash.hpp>

#include <hotshard/test/support.hpp>

namespace {

using hotshard::striped_counter;
using hotshard::test::run_threads;
using hotshard::test::sanitizer_scale;

static_assert(hotshard::concepts::counter<striped_counter<>>);

TEST(striped_counter, reads_zero_when_new) {
  striped_counter<> c;
  EXPECT_EQ(c.read(), 0);
}

TEST(striped_counter, read_is_the_sum_of_positive_and_negative_deltas) {
  striped_counter<> c;
  c.add(5);
  c.add(-7);
  c.increment();
  c.add(INT64_C(1) << 40);
  EXPECT_EQ(c.read(), (INT64_C(1) << 40) - 1);
}

TEST(striped_counter, stays_on_its_base_word_without_contention) {
  striped_counter<> c;
  for (int i = 0; i < 1000; ++i) c.add(1);
  EXPECT_EQ(c.cells_in_use(), 0u);
  EXPECT_EQ(c.read(), 1000);
}

TEST(striped_counter, rounds_its_cell_bound_up_to_a_power_of_two) {
  EXPECT_EQ(striped_counter<>({.max_cells = 5}).max_cells(), 8u);
  EXPECT_EQ(striped_counter<>({.max_cells = 1}).max_cells(), 1u);
  EXPECT_EQ(striped_counter<>({.max_cells = 0}).max_cells(), striped_counter<>().max_cells());  // 0 = the default
  EXPECT_TRUE(std::has_single_bit(striped_counter<>().max_cells()));
}

TEST(striped_counter, rejects_a_cell_bound_whose_power_of_two_does_not_fit) {
  // bit_ceil(2^31 + 1) does not fit 32 bits: the old code computed 0 cells and indexed out of bounds.
  for (const std::uint32_t bad : {(1u << 31) + 1, ~0u}) {
    try {
      striped_counter<> c({.max_cells = bad});
      ADD_FAILURE() << bad << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("striped_counter: max_cells"), std::string::npos) << e.what();
    }
  }
}

// Exact sum after N threads stop; cells never exceed the bound. With
// yielding_stats every CAS window may be preempted (schedule noise).
template <class Stats = hotshard::detail::no_stats>
void stress(unsigned threads, std::uint32_t max_cells, std::uint64_t scale_down = 1) {
  striped_counter<Stats> c({.max_cells = max_cells});
  const std::uint64_t per_thread = 1'000'000 / sanitizer_scale / scale_down / (threads / 2 + 1) + 1000;
  run_threads(threads, [&](unsigned t) {
    for (std::uint64_t i = 0; i < per_thread; ++i) c.add((i % 3 == 0) ? -1 : static_cast<std::int64_t>(t + 1));
  });
  std::int64_t expected = 0;
  for (unsigned t = 0; t < threads; ++t)
    for (std::uint64_t i = 0; i < per_thread; ++i) expected += (i % 3 == 0) ? -1 : static_cast<std::int64_t>(t + 1);
  EXPECT_EQ(c.read(), expected);
  EXPECT_LE(c.cells_in_use(), c.max_cells());
  EXPECT_TRUE(c.cells_in_use() == 0 || std::has_single_bit(c.cells_in_use()));
}

TEST(striped_counter, sixteen_threads_sum_exactly) { stress(16, 0); }
TEST(striped_counter, sixty_four_threads_sum_exactly) { stress(64, 0); }
TEST(striped_counter, sixty_four_threads_sum_exactly_over_many_cells) { stress(64, 64); }
TEST(striped_counter, sixteen_threads_sum_exactly_with_a_single_cell) { stress(16, 1); }
TEST(striped_counter, sixteen_threads_sum_exactly_under_schedule_noise) {
  stress<hotshard::detail::yielding_stats>(16, 0, 8);
}
TEST(striped_counter, sixty_four_threads_sum_exactly_over_many_cells_under_schedule_noise) {
  stress<hotshard::detail::yielding_stats>(64, 64, 8);
}

// With only positive deltas each cell only grows, so successive reads by one
// thread never decrease and never exceed the final total.
TEST(striped_counter, concurrent_reads_are_monotone_and_bounded_by_the_total) {
  striped_counter<> c({.max_cells = 8});
  constexpr unsigned writers = 16;
  const std::int64_t per_thread = 200'000 / static_cast<std::int64_t>(sanitizer_scale);
  std::atomic<bool> done{false};
  std::int64_t last = 0;
  bool monotone = true;
  run_threads(writers + 1, [&](unsigned t) {
    if (t == writers) {
      while (!done.load(std::memory_order_acquire)) {
        const std::int64_t v = c.read();
        monotone = monotone && v >= last && v <= writers * per_thread;
        last = v;
      }
      return;
    }
    for (std::int64_t i = 0; i < per_thread; ++i) c.add(1);
    static std::atomic<unsigned> finished{0};
    if (finished.fetch_add(1, std::memory_order_acq_rel) + 1 == writers) done.store(true, std::memory_order_release);
  });
  EXPECT_TRUE(monotone);
  EXPECT_EQ(c.read(), writers * per_thread);
}

}  // namespace

#include "counters_in_containers.cpp"

TEST(striped_counter, works_in_value_initialised_containers_and_structs) {
  EXPECT_EQ(hotshard_counters_in_containers::sum_of_an_array_of_counters(), 51);
  hotshard_counters_in_containers::endpoint_stats s;
  s.requests.add(2);
  EXPECT_EQ(s.requests.read(), 2);
  EXPECT_EQ(s.errors.read(), 0);
}

// stats() (issue 16): a snapshot a metrics thread reads while writers run.
TEST(striped_counter, stats_report_value_and_cells) {
  striped_counter<> c({.max_cells = 8});
  hotshard::striped_counter_stats s = c.stats();
  EXPECT_EQ(s.value, 0);
  EXPECT_EQ(s.cells_in_use, 0u);
  EXPECT_EQ(s.max_cells, 8u);
  c.add(-5);
  c.add(12);
  s = c.stats();
  EXPECT_EQ(s.value, 7);
  EXPECT_EQ(s.cells_in_use, c.cells_in_use());
  std::vector<std::string> names;
  s.for_each_metric([&](const hotshard::detail::metric& m) {
    names.emplace_back(m.name);
    if (m.name == "value") {
      EXPECT_EQ(m.value, 7.0);
    }
    if (m.name == "max_cells") {
      EXPECT_EQ(m.value, 8.0);
    }
  });
  EXPECT_EQ(names, (std::vector<std::string>{"value", "cells_in_use", "max_cells"}));
}

TEST(striped_counter, stats_read_by_a_metrics_thread_during_adds_are_bounded_and_exact_after_join) {
  striped_counter<> c;
  constexpr unsigned writers = 6;  // more than the cores CI runs on
  const std::int64_t per_thread = 100'000 / static_cast<std::int64_t>(sanitizer_scale);
  std::atomic<bool> done{false};
  bool ok = true;
  unsigned reads = 0;
  std::thread metrics([&] {
    std::int64_t last = 0;
    std::uint32_t last_cells = 0;
    while (!done.load(std::memory_order_acquire)) {
      const hotshard::striped_counter_stats s = c.stats();
      // Positive adds only: each read lies in [last, total]; cells only grow.
      ok &= s.value >= last && s.value <= per_thread * writers && s.cells_in_use >= last_cells &&
            s.cells_in_use <= s.max_cells;
      last = s.value;
      last_cells = s.cells_in_use;
      ++reads;
    }
  });
  run_threads(writers, [&](unsigned) {
    for (std::int64_t i = 0; i < per_thread; ++i) c.increment();
  });
  done.store(true, std::memory_order_release);  // pairs with the metrics thread's acquire
  metrics.join();
  EXPECT_TRUE(ok);
  EXPECT_GE(reads, 1u);
  EXPECT_EQ(c.stats().value, per_thread * writers);
}
