#include "sketch_test_support.hpp"

#include <hotshard/heavy_hitters.hpp>
#include <hotshard/hot_key_detector.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

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

// The deterministic guarantees of the header, checked against exact counts:
// every key above N/m reported, every count within [true, true + error], and
// error ≤ εN.
void expect_guarantees(const hh& h, const ht::exact_counts& exact, std::uint64_t n) {
  ASSERT_EQ(h.total(), n);
  const auto top = h.top(std::numeric_limits<std::size_t>::max());
  std::set<std::uint64_t> reported;
  for (const auto& e : top) {
    reported.insert(e.key);
    const auto it = exact.find(e.key);
    ASSERT_NE(it, exact.end());
    EXPECT_GE(e.count, it->second);
    EXPECT_LE(e.count - e.error, it->second);
    EXPECT_LE(static_cast<double>(e.error), h.epsilon() * static_cast<double>(n));
  }
  std::size_t missed = 0;
  for (const auto& [k, c] : exact)
    if (c * h.capacity() > n && !reported.count(k)) ++missed;
  EXPECT_EQ(missed, 0u);
  for (std::size_t i = 1; i < top.size(); ++i) EXPECT_GE(top[i - 1].count, top[i].count);
}

TEST(heavy_hitters, top_100_recall_and_precision_on_zipf_with_at_most_one_mebibyte) {
  for (const char* spec : {"zipf:n=1000000,s=0.8,scramble=1", "zipf:n=1000000,s=1.0", "zipf:n=1000000,s=1.0,scramble=1",
                           "zipf:n=1000000,s=1.2,scramble=1"}) {
    const auto keys = ht::keys_of(spec, 1'000'000 / ht::sanitizer_scale, 3);
    const auto exact = ht::count_exact(keys);
    hh h({.capacity = 2048, .sketch = {.epsilon = 0.0002, .seed = 1}});
    for (const auto k : keys) h.add(k);
    EXPECT_LE(h.memory_bytes(), std::size_t{1} << 20);
    const auto q = top_quality(h, exact, 100);
    EXPECT_GE(q.recall, 0.99) << spec;
    EXPECT_GE(q.precision, 0.99) << spec;
    expect_guarantees(h, exact, keys.size());
  }
}

TEST(heavy_hitters, every_key_above_n_over_m_is_reported_with_a_true_error_bound) {
  const auto keys = ht::keys_of("zipf:n=100000,s=0.8", 400'000 / ht::sanitizer_scale, 5);
  const auto exact = ht::count_exact(keys);
  hh h({.capacity = 1024, .sketch = {.epsilon = 0.5, .seed = 2}});  // k = 2m: only m decides the size
  for (const auto k : keys) h.add(k);
  std::size_t above = 0;
  for (const auto& [k, n] : exact) above += n * h.capacity() > keys.size() ? 1 : 0;
  EXPECT_GT(above, 10u);  // the test means something
  expect_guarantees(h, exact, keys.size());
}

TEST(heavy_hitters, a_short_top_merges_only_what_can_rank_and_agrees_with_the_full_list) {
  hh h({.capacity = 64, .sketch = {.seed = 12}});
  ht::run_threads(6, [&](unsigned t) {
    for (const auto k : ht::keys_of("zipf:n=100000,s=0.9,scramble=1", 60'000 / ht::sanitizer_scale, 13, t, 6)) h.add(k);
  });
  const auto all = h.top(std::numeric_limits<std::size_t>::max());
  for (const std::size_t k : {1u, 10u, 100u}) {
    const auto some = h.top(k);
    ASSERT_EQ(some.size(), k);
    for (std::size_t i = 0; i < k; ++i) EXPECT_EQ(some[i].count, all[i].count) << "k " << k << " rank " << i;
  }
}

// Flat: the 100th key's share (~1e-4) is far below N/m; the summaries still
// rank the top 100 well because k ≥ 2/ε counters keep them resident.
TEST(heavy_hitters, top_100_recall_stays_high_on_a_flat_zipf) {
  const auto keys = ht::keys_of("zipf:n=1000000,s=0.6,scramble=1", 500'000 / ht::sanitizer_scale, 4);
  const auto exact = ht::count_exact(keys);
  hh h({.capacity = 2048, .sketch = {.epsilon = 0.0002, .seed = 14}});
  for (const auto k : keys) h.add(k);
  const auto q = top_quality(h, exact, 100);
  EXPECT_GE(q.recall, 0.9);
  EXPECT_GE(q.precision, 0.9);
}

TEST(heavy_hitters, a_weighted_add_counts_its_whole_weight) {
  hh h({.capacity = 4, .sketch = {.seed = 3}});
  h.add(9, 1'000'000);
  for (std::uint64_t k = 100; k < 200'000; ++k) h.add(k);  // purges many times
  EXPECT_GE(h.estimate(9), 1'000'000u);
  EXPECT_EQ(h.top(1).at(0).key, 9u);
}

TEST(heavy_hitters, top_returns_at_most_k_entries) {
  hh h({.capacity = 64, .sketch = {.seed = 4}});
  for (std::uint64_t k = 0; k < 10; ++k) h.add(k, 100 + k);
  const auto top = h.top(3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].key, 9u);
  EXPECT_EQ(top[1].key, 8u);
  EXPECT_EQ(top[2].key, 7u);
  EXPECT_EQ(top[0].count, 109u);
  EXPECT_EQ(top[0].error, 0u);  // nothing was purged: exact
}

TEST(heavy_hitters, key_zero_is_an_ordinary_key) {
  hh h({.capacity = 64, .sketch = {.seed = 5}});
  h.add(0, 50);
  h.add(0x5bd1e9955bd1e995ULL, 40);
  const auto top = h.top(2);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].key, 0u);
  EXPECT_EQ(h.estimate(0), 50u);
}

TEST(heavy_hitters, a_summary_left_by_a_finished_thread_keeps_its_counts_and_is_reused) {
  hh h({.capacity = 16, .sketch = {.seed = 6}});
  std::thread([&] { h.add(7, 70); }).join();
  std::thread([&] { h.add(8, 80); }).join();
  EXPECT_EQ(h.summaries(), 1u);
  EXPECT_EQ(h.estimate(7), 70u);
  EXPECT_EQ(h.estimate(8), 80u);
  EXPECT_EQ(h.total(), 150u);
}

// Defect 10's shape: an add from a thread_local destructor that runs after
// the thread's summary cache is gone must not touch freed memory (ASan) and
// must still be counted.
TEST(heavy_hitters, an_add_from_a_late_thread_local_destructor_is_counted) {
  hh h({.capacity = 16, .sketch = {.seed = 7}});
  struct late_adder {
    hh* target;
    ~late_adder() { target->add(5, 11); }
  };
  std::thread([&] {
    thread_local late_adder late{&h};  // constructed before the cache below: destroyed after it
    (void)late;
    h.add(1);
  }).join();
  EXPECT_EQ(h.estimate(5), 11u);
  EXPECT_EQ(h.total(), 12u);
}

TEST(heavy_hitters, destroying_it_while_a_thread_holds_a_summary_is_safe) {
  std::atomic<int> phase{0};
  std::thread t;
  {
    hh h({.capacity = 16, .sketch = {.seed = 8}});
    t = std::thread([&] {
      h.add(1);
      phase.store(1, std::memory_order_release);
      while (phase.load(std::memory_order_acquire) != 2) std::this_thread::yield();
      hh other({.capacity = 16, .sketch = {.seed = 9}});  // a new instance frees the orphaned summary
      other.add(2);
    });
    while (phase.load(std::memory_order_acquire) != 1) std::this_thread::yield();
  }
  phase.store(2, std::memory_order_release);
  t.join();
}

TEST(heavy_hitters, bad_options_throw_naming_the_field) {
  const auto message = [](const hotshard::heavy_hitters_options& o) { return hotshard::test::construction_error<hh>(o); };
  EXPECT_NE(message({.capacity = 0}).find("capacity"), std::string::npos);
  EXPECT_NE(message({.capacity = (std::size_t{1} << 24) + 1}).find("capacity"), std::string::npos);
  EXPECT_NE(message({.sketch = {.epsilon = 0}}).find("epsilon"), std::string::npos);
  EXPECT_NE(message({.sketch = {.epsilon = -1}}).find("epsilon"), std::string::npos);
  EXPECT_NE(message({.sketch = {.epsilon = 1}}).find("epsilon"), std::string::npos);
  EXPECT_NE(message({.sketch = {.epsilon = 1e-300}}).find("epsilon"), std::string::npos);
  EXPECT_NE(message({.sketch = {.epsilon = std::numeric_limits<double>::quiet_NaN()}}).find("epsilon"), std::string::npos);
  EXPECT_EQ(message({.capacity = 1, .sketch = {.epsilon = 0.9}}), "");
  EXPECT_EQ(message({.capacity = std::size_t{1} << 24, .sketch = {.epsilon = 1e-7}}), "");  // summaries are made on first add
}

// The shared sketch_options block (issue 16): ε unset takes the default,
// set is kept; δ has no meaning for a deterministic bound, so setting it is
// rejected naming the field rather than silently ignored.
TEST(heavy_hitters, takes_epsilon_and_seed_from_the_shared_sketch_block_and_rejects_a_delta) {
  const auto message = [](const hotshard::heavy_hitters_options& o) { return hotshard::test::construction_error<hh>(o); };
  EXPECT_NE(message({.sketch = {.delta = 0.01}}).find("heavy_hitters: delta"), std::string::npos);
  EXPECT_EQ(hh({.capacity = 1}).counters_per_thread(),
            hh({.capacity = 1, .sketch = {.epsilon = hotshard::heavy_hitters_options::default_epsilon}})
                .counters_per_thread());
  EXPECT_GT(hh({.capacity = 1, .sketch = {.epsilon = 0.0001}}).counters_per_thread(),
            hh({.capacity = 1}).counters_per_thread());
  EXPECT_EQ(hh({.sketch = {.seed = 0}}).seed(), 0u);  // an explicit 0 is a seed, not "random"
}

TEST(heavy_hitters, default_seeds_differ_between_instances_and_an_explicit_seed_is_kept) {
  hh a, b, c({.sketch = {.seed = 1}});
  EXPECT_NE(a.seed(), b.seed());
  EXPECT_EQ(c.seed(), 1u);
}

// --- keys (issue 16) -----------------------------------------------------------

template <class K>
concept hh_accepts = requires { typename hotshard::heavy_hitters<K>; };
static_assert(!hh_accepts<const char*>, "a pointer key would count addresses: rejected at compile time");
static_assert(!hh_accepts<int*>);
static_assert(hh_accepts<std::string> && hh_accepts<std::uint64_t>);

std::string string_key(std::uint64_t k) { return "user-" + std::to_string(k) + "-with-a-long-enough-name"; }

TEST(heavy_hitters, string_keys_are_counted_exactly_while_every_key_fits) {
  hotshard::heavy_hitters<std::string> h({.capacity = 16, .sketch = {.seed = 3}});
  std::map<std::string, std::uint64_t> exact;
  for (std::uint64_t i = 0; i < 3000; ++i) {
    const std::string k = string_key(i % 7 == 0 ? 1 : i % 40);  // 40 distinct keys, far fewer than k counters
    h.add(k);
    ++exact[k];
  }
  h.add(std::string_view("user-5-with-a-long-enough-name"), 10);  // heterogeneous: no std::string built to look up
  exact[string_key(5)] += 10;
  const auto top = h.top(100);
  ASSERT_EQ(top.size(), exact.size());
  for (const auto& e : top) {
    ASSERT_TRUE(exact.count(e.key)) << e.key;
    EXPECT_EQ(e.count, exact[e.key]) << e.key;
    EXPECT_EQ(e.error, 0u);
  }
  EXPECT_EQ(top[0].key, string_key(1));
  EXPECT_EQ(h.estimate("user-5-with-a-long-enough-name"), exact[string_key(5)]);
  EXPECT_EQ(h.estimate(std::string_view("no-such-key")), 0u);
}

// Distinct keys whose hashes collide (here every key of one length) are
// stored beside their word and compared in full: they are never merged.
struct length_hash {
  std::size_t operator()(const std::string& s) const noexcept { return s.size(); }
};

TEST(heavy_hitters, keys_whose_hashes_collide_are_counted_and_reported_apart) {
  hotshard::heavy_hitters<std::string, hotshard::policy::hash_with<length_hash>> h({.capacity = 16, .sketch = {.seed = 3}});
  const std::map<std::string, std::uint64_t> exact{{"aa", 5}, {"bb", 3}, {"cc", 1}, {"abc", 2}};
  for (const auto& [k, n] : exact)
    for (std::uint64_t i = 0; i < n; ++i) h.add(k);
  const auto top = h.top(10);
  ASSERT_EQ(top.size(), 4u);
  for (const auto& e : top) EXPECT_EQ(e.count, exact.at(e.key)) << e.key;
  EXPECT_EQ(top[0].key, "aa");
  EXPECT_EQ(top[1].key, "bb");
  EXPECT_EQ(h.estimate(std::string("cc")), 1u);
  EXPECT_EQ(h.estimate(std::string("dd")), 0u);  // same word as "aa", another key
}

// hashed_key: the same summaries as the key itself (one hash per request).
template <class Key, class Make>
void hashed_keys_give_the_results_of_keys(Make make) {
  hotshard::heavy_hitters<Key> by_key({.capacity = 8, .sketch = {.epsilon = 0.02, .seed = 5}});
  hotshard::heavy_hitters<Key> by_hash({.capacity = 8, .sketch = {.epsilon = 0.02, .seed = 5}});
  const auto keys = ht::keys_of("zipf:n=100000,s=1.0,scramble=1", 50'000 / ht::sanitizer_scale, 9);
  for (const auto k : keys) {
    const Key key = make(k);
    by_key.add(key);
    by_hash.add(hotshard::hash_once(key));
  }
  const auto a = by_key.top(50), b = by_hash.top(50);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].key, b[i].key);
    EXPECT_EQ(a[i].count, b[i].count);
    EXPECT_EQ(a[i].error, b[i].error);
  }
  for (std::size_t i = 0; i < keys.size(); i += 97) {
    const Key key = make(keys[i]);
    EXPECT_EQ(by_key.estimate(key), by_hash.estimate(hotshard::hash_once(key)));
  }
  EXPECT_GT(by_key.stats().purges, 0u);  // the stream overflowed the summary: purges moved keys alike
}

TEST(heavy_hitters, hashed_keys_give_exactly_the_results_of_the_keys) {
  hashed_keys_give_the_results_of_keys<std::uint64_t>([](std::uint64_t k) { return k; });
  hashed_keys_give_the_results_of_keys<std::string>([](std::uint64_t k) { return string_key(k); });
}

TEST(heavy_hitters, stats_are_exact_after_the_adders_are_joined) {
  hotshard::heavy_hitters<std::string> h({.capacity = 4, .sketch = {.epsilon = 0.05, .seed = 2}});
  EXPECT_EQ(h.stats().units, 0u);
  EXPECT_EQ(h.stats().summaries, 0u);
  std::uint64_t n = 0;
  for (std::uint64_t i = 0; i < 2000; ++i) {
    h.add(string_key(i % 3 == 0 ? 0 : i), 2);  // ~1330 distinct keys over k = 48 counters: purges
    n += 2;
  }
  const auto st = h.stats();
  EXPECT_EQ(st.units, n);
  EXPECT_EQ(st.units, h.total());
  EXPECT_EQ(st.summaries, 1u);
  EXPECT_EQ(st.counters_per_thread, h.counters_per_thread());
  EXPECT_EQ(st.memory_bytes, h.memory_bytes());
  EXPECT_GT(st.purges, 0u);
  const auto ex = hotshard::test::export_of(st);
  EXPECT_TRUE(ex.conventions_hold);
  EXPECT_EQ(ex.value.at("units_total"), static_cast<double>(n));
  EXPECT_EQ(ex.names, (std::vector<std::string>{"units_total", "purges_total", "summaries", "counters_per_thread",
                                                "memory_bytes"}));
}

// More adding threads than cores, string keys long enough to live on the
// heap, a small summary so purges drop stored keys while a reader walks them
// (top() and estimate() dereference stored keys; ASan/TSan check the
// reclamation). After the join: totals exact, every heavy key in top() with
// its count within the bounds.
TEST(heavy_hitters, string_keys_from_more_threads_than_cores_while_a_reader_queries) {
  constexpr unsigned threads = 8;
  const std::uint64_t per = 20'000 / ht::sanitizer_scale;
  static_assert(20'000 / ht::sanitizer_scale % 8 == 0);
  hotshard::heavy_hitters<std::string> h({.capacity = 16, .sketch = {.epsilon = 0.01, .seed = 4}});
  std::atomic<unsigned> running{threads};
  std::atomic<std::uint64_t> bad_reports{0}, queries{0};
  std::thread reader([&] {
    while (running.load(std::memory_order_acquire) != 0 || queries.load(std::memory_order_relaxed) < 3) {
      for (const auto& e : h.top(8))
        if (e.key.rfind("heavy-", 0) != 0 && e.key.rfind("cold-", 0) != 0) bad_reports.fetch_add(1);
      (void)h.estimate(std::string_view("heavy-key-number-0"));
      queries.fetch_add(1, std::memory_order_relaxed);
    }
  });
  ht::run_threads(threads, [&](unsigned t) {
    for (std::uint64_t i = 0; i < per; ++i) {
      if (i % 2 == 0) h.add("heavy-key-number-" + std::to_string((i / 2) % 4));
      else h.add("cold-key-" + std::to_string(t) + "-" + std::to_string(i) + "-padding-to-the-heap");
    }
    running.fetch_sub(1, std::memory_order_release);
  });
  reader.join();
  EXPECT_EQ(bad_reports.load(), 0u);
  const std::uint64_t n = threads * per;
  EXPECT_EQ(h.total(), n);
  EXPECT_EQ(h.stats().units, n);
  const auto top = h.top(4);
  ASSERT_EQ(top.size(), 4u);
  std::set<std::string> heavy;
  for (const auto& e : top) {
    heavy.insert(e.key);
    const std::uint64_t truth = threads * per / 8;  // every other add, over four keys
    EXPECT_GE(e.count, truth) << e.key;
    EXPECT_LE(e.count - e.error, truth) << e.key;
  }
  EXPECT_EQ(heavy, (std::set<std::string>{"heavy-key-number-0", "heavy-key-number-1", "heavy-key-number-2",
                                          "heavy-key-number-3"}));
}

// Regression: every thread_node_registry<Node> numbered its instances from 1,
// and the thread-local cache of the last node is shared by all of them, so a
// heavy_hitters and a sampling hot_key_detector used on one thread got each
// other's node (fresh key types here, so both are instance 1 of their type).
TEST(heavy_hitters, a_thread_using_heavy_hitters_and_a_detector_keeps_their_nodes_apart) {
  hotshard::heavy_hitters<std::uint16_t> h({.capacity = 4, .sketch = {.seed = 1}});
  hotshard::hot_key_detector<std::uint16_t> d(
      {.hot_share = 0.5, .window = 1 << 20, .sketch = {.seed = 1}, .sample_every = 2});
  for (int i = 0; i < 1000; ++i) {
    h.add(7);
    (void)d.observe(7);
    h.add(9);
  }
  EXPECT_EQ(h.estimate(7), 1000u);
  EXPECT_EQ(h.estimate(9), 1000u);
  EXPECT_EQ(h.total(), 2000u);
  EXPECT_EQ(d.thread_sketches(), 1u);
  EXPECT_GT(d.estimate(7), 0u);
}

}  // namespace
