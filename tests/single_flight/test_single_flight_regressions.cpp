// Regression tests of hotshard/single_flight.hpp for the defects of issue 12:
// each failed (or hung) on the code before its fix. Races are staged with
// latches and the Stats hook, never with sleeps that stand in for ordering.
#include "sf_test_support.hpp"

#include <hotshard/single_flight.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

using sf_test::await;
using sf_test::await_flag;
using sf_test::copy_bomb;
using sf_test::copy_bomb_hash;
using sf_test::waiter_count;

// Runs `key` on `sf` as leader with a loader that returns `value` only once a
// second caller (a joiner) has returned or is asleep on the flight (or, with
// until_joiner_returns, only once it has returned: a joiner that must give up
// then never sees the value); returns what the joiner got. Hook must be the
// table's waiter_count.
template <class Hook, class Table, class Join>
auto lead_with_one_joiner(Table& sf, int key, int value, Join join, bool until_joiner_returns = false) {
  Hook::net.store(0);
  std::atomic<bool> started{false}, joiner_done{false};
  std::thread leader([&] {
    const auto r = sf.run(key, [&] {
      started.store(true, std::memory_order_release);
      await([&] { return (!until_joiner_returns && Hook::net.load() >= 1) || joiner_done.load(); });
      return value;
    });
    EXPECT_EQ(r.value, value);
  });
  await_flag(started);
  auto got = join();
  joiner_done.store(true);
  leader.join();
  return got;
}

struct wrap_tag {};
// Old code: a solo flight freed its slot without publishing and `published`
// kept the 16-bit generation of the last flight that had a joiner; 65 536
// solo flights later the generation came round and a joiner returned at once
// with an old value while the real loader still ran.
TEST(single_flight_regression, a_joiner_never_sees_an_earlier_flights_value_after_the_generation_wraps) {
  using hook = waiter_count<wrap_tag>;
  hotshard::single_flight<int, int, hotshard::policy::contention_hook<hook>> sf({.capacity = 8, .window = 1});  // window 1: every flight of key 5 in one slot
  auto join = [&] { return sf.run(5, [] { return -1; }); };
  const auto first = lead_with_one_joiner<hook>(sf, 5, 1, join);
  ASSERT_TRUE(first.shared());
  ASSERT_EQ(first.value, 1);
  // 2^16 - 1 solo flights: the next flight's 16-bit generation is the first one's again.
  for (int i = 0; i < 65535; ++i) ASSERT_EQ(sf.run(5, [] { return 2; }).value, 2);
  const auto r = lead_with_one_joiner<hook>(sf, 5, 3, join);
  EXPECT_TRUE(r.shared());
  EXPECT_EQ(r.value, 3);
  EXPECT_EQ(sf.unsafe_slots_in_use(), 0u);
}

// Old code: the slot stayed CLAIMED forever when copying the key into it threw.
TEST(single_flight_regression, a_throwing_key_copy_leaves_no_slot_held) {
  hotshard::single_flight<copy_bomb, int, hotshard::policy::hash_with<copy_bomb_hash>> sf({.capacity = 8, .window = 8});
  copy_bomb::armed = true;
  EXPECT_THROW((void)sf.run(copy_bomb(3), [] { return 1; }), std::runtime_error);
  copy_bomb::armed = false;
  EXPECT_EQ(sf.unsafe_slots_in_use(), 0u);
  const auto r = sf.run(copy_bomb(3), [] { return 2; });
  EXPECT_EQ(r.value, 2);
  EXPECT_EQ(sf.stats().overflow, 0u);
  EXPECT_EQ(sf.unsafe_slots_in_use(), 0u);
}

struct joiner_copy_tag {};
// Old code: a joiner whose copy of the value threw never released its pin.
TEST(single_flight_regression, a_joiner_whose_value_copy_throws_releases_its_pin) {
  using hook = waiter_count<joiner_copy_tag>;
  hotshard::single_flight<int, copy_bomb, hotshard::policy::contention_hook<hook>> sf({.capacity = 8, .window = 8});
  hook::net.store(0);
  std::atomic<bool> started{false}, joiner_done{false};
  std::thread leader([&] {
    const auto r = sf.run(4, [&] {
      started.store(true, std::memory_order_release);
      await([&] { return hook::net.load() >= 1 || joiner_done.load(); });
      return copy_bomb(44);
    });
    EXPECT_EQ(r.value->v, 44);
  });
  await_flag(started);
  std::thread joiner([&] {
    copy_bomb::armed = true;  // this thread's copies throw
    EXPECT_THROW((void)sf.run(4, [] { return copy_bomb(0); }), std::runtime_error);
    copy_bomb::armed = false;
    joiner_done.store(true);
  });
  joiner.join();
  leader.join();
  EXPECT_EQ(sf.unsafe_slots_in_use(), 0u);
}

struct leader_copy_tag {};
// Old code: the leader's own copy ran inside the loader's try block, so its
// exception was published as the loader's and every joiner got it instead of
// the value.
TEST(single_flight_regression, a_leader_whose_own_copy_throws_still_gives_the_joiners_the_value) {
  using hook = waiter_count<leader_copy_tag>;
  hotshard::single_flight<int, copy_bomb, hotshard::policy::contention_hook<hook>> sf({.capacity = 8, .window = 8});
  hook::net.store(0);
  std::atomic<bool> started{false}, joiner_done{false};
  std::thread leader([&] {
    copy_bomb::armed = true;
    EXPECT_THROW((void)sf.run(6, [&] {
      started.store(true, std::memory_order_release);
      await([&] { return hook::net.load() >= 1 || joiner_done.load(); });
      return copy_bomb(66);
    }).get(),  // the leader's failed copy comes back as status failed, origin own
                 std::runtime_error);
    copy_bomb::armed = false;
  });
  await_flag(started);
  std::thread joiner([&] {
    try {
      const auto r = sf.run(6, [] { return copy_bomb(0); });
      EXPECT_TRUE(r.shared());
      EXPECT_EQ(r.value->v, 66);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "the joiner got the leader's copy exception: " << e.what();
    }
    joiner_done.store(true);
  });
  joiner.join();
  leader.join();
  EXPECT_EQ(sf.unsafe_slots_in_use(), 0u);
}

template <class F>
std::string invalid_argument_of(F f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no exception)";
}

// Old code: single_flight(SIZE_MAX) looped forever rounding up; window and
// capacity 0 were silently clamped.
TEST(single_flight_regression, absurd_capacity_and_window_are_rejected_naming_the_field) {
  using table = hotshard::single_flight<int, int>;
  const auto max = std::numeric_limits<std::size_t>::max();
  EXPECT_NE(invalid_argument_of([&] { table t({.capacity = max}); }).find("capacity"), std::string::npos);
  EXPECT_NE(invalid_argument_of([&] { table t({.capacity = table::max_capacity + 1}); }).find("capacity"), std::string::npos);
  EXPECT_NE(invalid_argument_of([] { table t({.capacity = 0}); }).find("capacity"), std::string::npos);
  EXPECT_NE(invalid_argument_of([] { table t({.capacity = 64, .window = 0}); }).find("window"), std::string::npos);
  EXPECT_NE(invalid_argument_of([] { table t({.capacity = 64, .window = table::max_window + 1}); }).find("window"), std::string::npos);
  EXPECT_EQ(table({.capacity = 1, .window = 1}).capacity(), 8u);  // the smallest table: one cache line of slot words
}

struct forever_tag {};
// Old code: now + nanoseconds::max() overflowed and run_for timed out at once.
TEST(single_flight_regression, run_for_with_the_largest_timeout_waits_as_long_as_it_takes) {
  using hook = waiter_count<forever_tag>;
  hotshard::single_flight<int, int, hotshard::policy::contention_hook<hook>> sf({.capacity = 8, .window = 8});
  const auto r = lead_with_one_joiner<hook>(sf, 9, 99, [&] {
    return sf.run_for(9, std::chrono::nanoseconds::max(), [] { return -1; });
  });
  EXPECT_EQ(r.status, hotshard::load_status::shared);
  EXPECT_EQ(r.value.value_or(0), 99);
  EXPECT_EQ(sf.stats().timeouts, 0u);
}

struct never_tag {};
TEST(single_flight_regression, run_for_with_the_most_negative_timeout_gives_up_at_once) {
  using hook = waiter_count<never_tag>;
  hotshard::single_flight<int, int, hotshard::policy::contention_hook<hook>> sf({.capacity = 8, .window = 8});
  const auto r = lead_with_one_joiner<hook>(sf, 9, 99, [&] {
    return sf.run_for(9, std::chrono::nanoseconds::min(), [] { return -1; });
  }, /*until_joiner_returns=*/true);  // else the value may be published before the joiner looks (flaky)
  EXPECT_TRUE(r.timed_out());
  EXPECT_EQ(sf.stats().timeouts, 1u);
}

TEST(single_flight_regression, each_table_gets_its_own_random_hash_seed_unless_one_is_given) {
  using table = hotshard::single_flight<int, int>;
  const table a, b;
  EXPECT_NE(a.seed(), b.seed());  // 2^-64 chance of a false failure
  const table c({.seed = 42});
  EXPECT_EQ(c.seed(), 42u);
  EXPECT_EQ(table({.capacity = 64, .window = 8, .seed = 42}).run(1, [] { return 3; }).value, 3);
}

}  // namespace
