// Every contender of the counters family (harness/contenders/counters.hpp)
// counts exactly under more threads than cores: the comparison is only fair
// if every adapter is correct.
#include "contenders/counters.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <hotshard/test/support.hpp>

#include "contenders/peer_tsan_suppressions.hpp"

namespace {

namespace hc = hotshard::contenders;
using hotshard::test::run_threads;
using hotshard::test::sanitizer_scale;

TEST(counter_contenders, have_unique_names_including_ours) {
  std::set<std::string> names;
  hc::for_each_counter([&]<class>(const char* name, const char*) { EXPECT_TRUE(names.insert(name).second) << name; });
  hc::for_each_keyed_counter([&]<class>(const char* name, const char*) { EXPECT_TRUE(names.insert(name).second) << name; });
  for (const char* ours : {"striped", "per_thread", "salted", "atomic", "mutex", "tbb_ets", "tbb_ets_key",
                           "tbb_combinable", "tbb_chm", "mutex_map", "thread_private", "libcuckoo", "absl_sharded"})
    EXPECT_EQ(names.count(ours), 1u) << ours;
}

TEST(counter_contenders, every_counter_sums_exactly_over_sixteen_threads) {
  const std::int64_t per_thread = 20'000 / static_cast<std::int64_t>(sanitizer_scale);
  hc::for_each_counter([&]<class C>(const char* name, const char*) {
    C c;
    run_threads(16, [&](unsigned t) {
      for (std::int64_t i = 0; i < per_thread; ++i) c.add(t % 2 == 0 ? 1 : 3);
    });
    EXPECT_EQ(c.read(), 16 * per_thread * 2) << name;
  });
}

TEST(counter_contenders, every_keyed_counter_sums_each_key_exactly_over_sixteen_threads) {
  const std::uint64_t per_thread = 20'000 / sanitizer_scale;
  constexpr std::uint64_t keys = 100;
  hc::for_each_keyed_counter([&]<class M>(const char* name, const char*) {
    M m(keys);
    run_threads(16, [&](unsigned) {
      for (std::uint64_t i = 0; i < per_thread; ++i) ASSERT_TRUE(m.add(i % keys == 0 ? 0 : i % 7, 1));
    });
    std::int64_t total = 0;
    for (std::uint64_t k = 0; k < keys; ++k) total += m.read(k);
    EXPECT_EQ(total, static_cast<std::int64_t>(16 * per_thread)) << name;
    std::int64_t zeros = 0;
    for (std::uint64_t i = 0; i < per_thread; ++i) zeros += (i % keys == 0 || i % 7 == 0) ? 1 : 0;
    EXPECT_EQ(m.read(0), 16 * zeros)
        << name;
  });
}

TEST(counter_contenders, mutex_counters_side_by_side_never_share_a_cache_line) {
  // A Zipf run keeps C of them in one vector of objects or adjacent heap blocks.
  static_assert(alignof(hc::mutex_counter) >= hotshard::detail::cache_line_bytes);
  static_assert(sizeof(hc::mutex_counter) % hotshard::detail::cache_line_bytes == 0);
  std::vector<hc::mutex_counter> v(4);
  for (std::size_t i = 1; i < v.size(); ++i) {
    const auto a = reinterpret_cast<std::uintptr_t>(&v[i - 1]);
    const auto b = reinterpret_cast<std::uintptr_t>(&v[i]);
    EXPECT_NE(a / hotshard::detail::cache_line_bytes, (b - 1) / hotshard::detail::cache_line_bytes);
  }
}

TEST(counter_contenders, tbb_ets_key_refuses_more_instances_than_it_has_pthread_keys_for) {
  // oneTBB ignores a failed pthread_key_create; the adapter must not get that far.
  std::vector<std::unique_ptr<hc::tbb_ets_key_counter>> many;
  for (std::size_t i = 0; i < hc::tbb_ets_key_counter::max_instances; ++i)
    many.push_back(std::make_unique<hc::tbb_ets_key_counter>());
  EXPECT_THROW(hc::tbb_ets_key_counter{}, std::length_error);
  many.pop_back();
  hc::tbb_ets_key_counter again;  // a freed key can be used again
  again.add(2);
  EXPECT_EQ(again.read(), 2);
}

TEST(counter_contenders, every_keyed_contender_hashes_keys_with_the_same_mixer) {
  // Identity hashing of Zipf ranks (0, 1, 2, ...) put the hot keys in
  // neighbouring buckets; every adapter now uses detail::mix64, as salted does.
  for (std::uint64_t k : {0ull, 1ull, 2ull, 1000ull}) {
    EXPECT_EQ(hc::mix_hash{}(k), static_cast<std::size_t>(hotshard::detail::mix64(k)));
    EXPECT_EQ(hc::mix_hash_compare::hash(k), hc::mix_hash{}(k));
  }
  static_assert(std::is_same_v<hc::mutex_map_counter::hasher, hc::mix_hash>);
  static_assert(std::is_same_v<hc::tbb_chm_counter::hash_compare, hc::mix_hash_compare>);
}

// The hand-written limit reuses the index of an exited thread: its count stays
// in the slot and the next owner adds on top, so the sum stays exact across
// more threads over time than the pool has indices.
TEST(counter_contenders, thread_private_sums_exactly_when_exited_threads_indices_are_reused) {
  hc::thread_private_counter c;
  constexpr unsigned waves = 2;  // 2 × (max/2 + 8) threads in all: more than the pool has indices
  const unsigned per_wave = static_cast<unsigned>(hc::thread_index::max_threads / 2 + 8);
  for (unsigned w = 0; w < waves; ++w)
    run_threads(per_wave, [&](unsigned) {
      for (int i = 0; i < 10; ++i) c.add(1);
    });
  EXPECT_EQ(c.read(), static_cast<std::int64_t>(waves * per_wave * 10));
}

TEST(counter_contenders, absl_sharded_and_libcuckoo_keep_distinct_keys_apart) {
  hc::absl_sharded_counter a(16);
  hc::cuckoo_counter b(16);
  for (std::uint64_t k = 0; k < 1000; ++k) {
    a.add(k, static_cast<std::int64_t>(k));
    b.add(k, static_cast<std::int64_t>(k));
  }
  for (std::uint64_t k = 0; k < 1000; ++k) {
    ASSERT_EQ(a.read(k), static_cast<std::int64_t>(k));
    ASSERT_EQ(b.read(k), static_cast<std::int64_t>(k));
  }
  EXPECT_EQ(a.read(5000), 0);
  EXPECT_EQ(b.read(5000), 0);
  static_assert(std::is_same_v<hc::cuckoo_counter::hasher, hc::mix_hash>);
}

}  // namespace
