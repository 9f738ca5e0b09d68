// Every contender of the counters family (harness/contenders/counters.hpp)
// counts exactly under more threads than cores: the comparison is only fair
// if every adapter is correct.
#include "contenders/counters.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <string>

#include "stress.hpp"

#include "contenders/peer_tsan_suppressions.hpp"

namespace {

namespace hc = hotshard::contenders;
using hotshard::test::run_threads;
using hotshard::test::stress_scale;

TEST(counter_contenders, have_unique_names_including_ours) {
  std::set<std::string> names;
  hc::for_each_counter([&]<class>(const char* name, const char*) { EXPECT_TRUE(names.insert(name).second) << name; });
  hc::for_each_keyed_counter([&]<class>(const char* name, const char*) { EXPECT_TRUE(names.insert(name).second) << name; });
  for (const char* ours : {"striped", "per_thread", "salted", "atomic", "mutex", "tbb_ets", "tbb_combinable", "tbb_chm",
                           "mutex_map"})
    EXPECT_EQ(names.count(ours), 1u) << ours;
}

TEST(counter_contenders, every_counter_sums_exactly_over_sixteen_threads) {
  const std::int64_t per_thread = 20'000 / static_cast<std::int64_t>(stress_scale);
  hc::for_each_counter([&]<class C>(const char* name, const char*) {
    C c;
    run_threads(16, [&](unsigned t) {
      for (std::int64_t i = 0; i < per_thread; ++i) c.add(t % 2 == 0 ? 1 : 3);
    });
    EXPECT_EQ(c.read(), 16 * per_thread * 2) << name;
  });
}

TEST(counter_contenders, every_keyed_counter_sums_each_key_exactly_over_sixteen_threads) {
  const std::uint64_t per_thread = 20'000 / stress_scale;
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

}  // namespace
