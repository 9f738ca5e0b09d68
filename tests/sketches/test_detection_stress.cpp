// Stress tests of heavy_hitters and hot_key_detector: more threads than
// cores, exact invariants, and a hash policy that yields every few calls
// (schedule noise on the add path, where both primitives call Hash once).
// They use only the options and operations the previous designs also had, so
// they can be compiled against the old headers (see the report of issue 12).
#include "sketch_test_support.hpp"

#include <hotshard/heavy_hitters.hpp>
#include <hotshard/hot_key_detector.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <set>
#include <thread>
#include <vector>

namespace {

namespace ht = hotshard::test;

// std::hash, plus a yield every 61st call on this thread.
struct yielding_hash {
  std::size_t operator()(std::uint64_t k) const noexcept {
    thread_local unsigned calls = 0;
    if (++calls % 61 == 0) std::this_thread::yield();
    return std::hash<std::uint64_t>{}(k);
  }
};

// Defect 11's shape: heavy keys whose adds all come in a burst at the very
// end, from many threads at once, while other threads keep the summaries
// churning. After the joins every key above N/m must be reported and every
// count must bracket the truth.
template <class Hash>
void heavy_keys_arriving_last_are_all_reported() {
  constexpr unsigned threads = 12;
  constexpr std::uint64_t heavy[] = {1'000'001, 1'000'002, 1'000'003};
  const std::size_t churn = 6'000 / ht::sanitizer_scale;
  const std::size_t burst = 2'000 / ht::sanitizer_scale;
  for (int round = 0; round < 8; ++round) {
    hotshard::heavy_hitters<std::uint64_t, hotshard::policy::hash_with<Hash>> h({.capacity = 4});
    std::vector<std::vector<std::uint64_t>> keys(threads);
    for (unsigned t = 0; t < threads; ++t) {
      keys[t] = ht::keys_of("zipf:n=5000,s=0.6", churn, 100 + static_cast<std::uint64_t>(round), t, threads);
      for (std::size_t i = 0; i < burst; ++i) keys[t].push_back(heavy[(i + t) % 3]);
    }
    ht::run_threads(threads, [&](unsigned t) {
      for (const auto k : keys[t]) h.add(k);
    });
    ht::exact_counts exact;
    std::uint64_t n = 0;
    for (const auto& v : keys)
      for (const auto k : v) {
        ++exact[k];
        ++n;
      }
    ASSERT_EQ(h.total(), n);
    std::set<std::uint64_t> reported;
    for (const auto& e : h.top(std::numeric_limits<std::size_t>::max())) {
      reported.insert(e.key);
      ASSERT_GE(e.count, exact.at(e.key));
    }
    for (const auto& [k, c] : exact) {
      if (c * h.capacity() > n) {
        ASSERT_TRUE(reported.count(k)) << "round " << round << ": key " << k << " count " << c;
      }
    }
  }
}

TEST(detection_stress, heavy_keys_arriving_last_from_many_threads_are_all_reported) {
  heavy_keys_arriving_last_are_all_reported<std::hash<std::uint64_t>>();
}

TEST(detection_stress, heavy_keys_arriving_last_are_all_reported_under_schedule_noise) {
  heavy_keys_arriving_last_are_all_reported<yielding_hash>();
}

// estimate() ≥ every add that happens-before it, while the owners purge:
// each writer publishes (release) how many adds of its marker key it has
// done; a reader that loads them (acquire) must see an estimate at least as
// large — readers that misread a purge's buffer would break it.
TEST(detection_stress, an_estimate_never_misses_an_add_that_happened_before_it) {
  constexpr unsigned writers = 8;
  const std::size_t per = 40'000 / ht::sanitizer_scale;
  hotshard::heavy_hitters<std::uint64_t, hotshard::policy::hash_with<yielding_hash>> h({.capacity = 8});
  std::vector<std::atomic<std::uint64_t>> done(writers);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> violations{0}, checks{0};
  std::thread reader([&] {
    while (!stop.load(std::memory_order_acquire)) {
      for (unsigned t = 0; t < writers; ++t) {
        const std::uint64_t n = done[t].load(std::memory_order_acquire);  // pairs with the writer's release
        if (h.estimate(900 + t) < n) violations.fetch_add(1, std::memory_order_relaxed);
        checks.fetch_add(1, std::memory_order_relaxed);
      }
    }
  });
  ht::run_threads(writers, [&](unsigned t) {
    std::uint64_t cold = 1'000'000 * (t + 1);
    for (std::size_t i = 0; i < per; ++i) {
      if (i % 8 == 0) {
        h.add(900 + t);
        done[t].store(done[t].load(std::memory_order_relaxed) + 1, std::memory_order_release);
      } else {
        h.add(cold++);  // all distinct: the summary purges every few dozen adds
      }
    }
  });
  stop.store(true, std::memory_order_release);
  reader.join();
  EXPECT_EQ(violations.load(), 0u);
  EXPECT_GT(checks.load(), 0u);
  for (unsigned t = 0; t < writers; ++t) EXPECT_GE(h.estimate(900 + t), done[t].load());
}

// The detector's eviction must not evict a key stamped hot in the current
// epoch (the check-then-act of defect 11 in the detector's table). No epoch
// ends here (window 0), so once a thread has seen is_hot(k), k must stay hot:
// 40 keys, all above the bar, fight for a table of 16 slots from 12 threads.
template <class Hash>
void a_key_seen_hot_stays_hot_within_its_epoch() {
  constexpr unsigned threads = 12;
  constexpr std::uint64_t keys = 40;
  const std::size_t per = 3'000 / ht::sanitizer_scale;
  std::atomic<std::uint64_t> flips{0};
  for (int round = 0; round < 10; ++round) {
    hotshard::hot_key_detector<std::uint64_t, hotshard::policy::hash_with<Hash>> d({.hot_share = 0.005, .window = 0, .min_count = 1,
        .sketch = {.epsilon = 0.001, .delta = 0.01, .seed = 1}, .table_slots = 16});
    ht::run_threads(threads, [&](unsigned t) {
      std::vector<bool> seen(keys, false);
      for (std::size_t i = 0; i < per; ++i) {
        const std::uint64_t k = (i * 7 + t) % keys;
        d.observe(k);
        const bool hot = d.is_hot(k);
        if (hot) seen[k] = true;
        else if (seen[k]) flips.fetch_add(1, std::memory_order_relaxed);
      }
    });
    EXPECT_EQ(d.epoch(), 1u);
  }
  EXPECT_EQ(flips.load(), 0u);
}

TEST(detection_stress, a_key_seen_hot_stays_hot_within_its_epoch) {
  a_key_seen_hot_stays_hot_within_its_epoch<std::hash<std::uint64_t>>();
}

TEST(detection_stress, a_key_seen_hot_stays_hot_within_its_epoch_under_schedule_noise) {
  a_key_seen_hot_stays_hot_within_its_epoch<yielding_hash>();
}


// The sampled detector's per-thread sketches under concurrent readers: a
// window of 1024 units gives hundreds of epochs, so each writer runs rebase
// sweeps (every 128 epochs, under the seqlock) while a reader sums the
// sketches (estimate) and lists hot keys, and epoch ends (inline in observe)
// carry over by the same summed estimates. Invariants: a summed estimate
// never exceeds the decayed traffic bound (< 2W + the ticker's lag, far
// below 8W: a cell decoded against a wrong base would read as unaged or
// aged by hundreds of epochs); only key 5 (1/4 of the traffic) is ever
// reported, and it is hot at the end.
TEST(detection_stress, sampled_sketches_are_read_while_their_owners_rebase) {
  constexpr unsigned writers = 3;
  constexpr std::uint64_t window = 1024;
  const std::size_t per = 400'000 / ht::sanitizer_scale;
  hotshard::hot_key_detector<std::uint64_t, hotshard::policy::hash_with<yielding_hash>> d(
      {.hot_share = 0.05, .window = window, .sketch = {.epsilon = 0.001, .seed = 8}, .sample_every = 4});
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> too_large{0}, cold_reported{0}, reads{0};
  std::thread reader([&] {
    while (!stop.load(std::memory_order_acquire)) {
      if (d.estimate(5) > 8 * window) too_large.fetch_add(1, std::memory_order_relaxed);
      for (const auto k : d.hot_keys())
        if (k != 5) cold_reported.fetch_add(1, std::memory_order_relaxed);
      reads.fetch_add(1, std::memory_order_relaxed);
    }
  });
  ht::run_threads(writers, [&](unsigned t) {
    std::uint64_t cold = 1'000'000 * (t + 1);
    for (std::size_t i = 0; i < per; ++i) d.observe(i % 4 == 0 ? 5 : cold + i % 100'000);
  });
  stop.store(true, std::memory_order_release);
  reader.join();
  EXPECT_GT(d.epoch(), 130u);  // rebase sweeps ran in every writer
  EXPECT_GT(reads.load(), 0u);
  EXPECT_EQ(too_large.load(), 0u);
  EXPECT_EQ(cold_reported.load(), 0u);
  EXPECT_TRUE(d.is_hot(5));
  EXPECT_LE(d.thread_sketches(), writers);
}

}  // namespace
