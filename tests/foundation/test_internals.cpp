// Direct tests of internals that the primitives' own tests reach only
// through their users: sketch_ticker (sketch_support.hpp),
// the timed wait (futex_wait.hpp) and thread_slot_table with its per-thread
// registry (thread_slots.hpp).
#include <hotshard/detail/futex_wait.hpp>
#include <hotshard/detail/sketch_support.hpp>
#include <hotshard/detail/thread_slots.hpp>
#include <hotshard/test/support.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

using hotshard::detail::futex_wait;
using hotshard::detail::futex_wake;
using hotshard::detail::sketch_ticker;
using hotshard::detail::thread_slot_registry;
using hotshard::detail::thread_slot_table;
using hotshard::test::run_threads;
using hotshard::test::scaled;

// ---- tests/support itself ----------------------------------------------------

TEST(test_support, run_threads_runs_every_index_once_and_rethrows_a_bodys_exception_after_joining) {
  std::vector<std::atomic<int>> seen(8);
  run_threads(8, [&](unsigned t) { seen[t].fetch_add(1); });
  for (const auto& s : seen) EXPECT_EQ(s.load(), 1);

  std::atomic<int> finished{0};
  EXPECT_THROW(run_threads(4,
                           [&](unsigned t) {
                             if (t == 2) throw std::runtime_error("body 2");
                             finished.fetch_add(1);
                           }),
               std::runtime_error);
  EXPECT_EQ(finished.load(), 3);  // the others ran to the end and were joined
}

// ---- sketch_ticker -----------------------------------------------------------

TEST(sketch_ticker, publishes_whole_batches_and_says_where_each_tick_crossed) {
  sketch_ticker t(8);
  for (int i = 0; i < 7; ++i) {
    const auto r = t.tick();
    EXPECT_EQ(r.before, r.after) << i;  // nothing published yet
  }
  EXPECT_EQ(t.published(), 0u);
  EXPECT_EQ(t.count(), 7u);
  const auto r = t.tick();  // the 8th: one batch
  EXPECT_EQ(r.before, 0u);
  EXPECT_EQ(r.after, 8u);
  EXPECT_TRUE(r.crossed(8));
  EXPECT_EQ(t.published(), 8u);
  // One thread ticks one stripe: 20 more from stripe count 8 publish 16 (to 24),
  // crossing 16 after 8 of them and 24 after 16.
  const auto big = t.tick(20);
  EXPECT_EQ(big.before, 8u);
  EXPECT_EQ(big.after, 24u);
  EXPECT_EQ(big.crossings(8), 2u);
  EXPECT_EQ(big.ops_until(16), 8u);
  EXPECT_EQ(big.ops_until(24), 16u);
  EXPECT_EQ(t.count(), 28u);
  EXPECT_EQ(sketch_ticker(0).batch(), 1u);  // a zero batch is taken as 1
}

TEST(sketch_ticker, many_threads_count_exactly_and_the_published_total_lags_by_less_than_a_batch_per_stripe) {
  sketch_ticker t(64);
  const std::uint64_t per_thread = scaled(20'000) + 3;
  constexpr unsigned threads = 16;
  std::atomic<std::uint64_t> published_by_ticks{0};
  run_threads(threads, [&](unsigned) {
    for (std::uint64_t i = 0; i < per_thread; ++i) {
      const auto r = t.tick();
      published_by_ticks.fetch_add(r.after - r.before);
    }
  });
  EXPECT_EQ(t.count(), threads * per_thread);
  EXPECT_EQ(t.published(), published_by_ticks.load());  // every publication reported by exactly one tick
  EXPECT_EQ(t.published() % 64, 0u);
  EXPECT_LE(t.published(), t.count());
  EXPECT_LT(t.count() - t.published(), sketch_ticker::stripes * 64);
}

// ---- futex_wait --------------------------------------------------------------

// Runs wait() on a thread; true if it returned without a wake. A wait that
// never returns is woken after a generous bound so the test fails instead of
// hanging (the bound decides only how long a broken build takes to fail).
template <class Wait>
bool returns_by_itself(std::atomic<std::uint32_t>& word, Wait wait) {
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    wait();
    done.store(true);
  });
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!done.load() && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const bool by_itself = done.load();
  while (!done.load()) {  // rescue a waiter that ignored its deadline
    word.fetch_add(1);
    futex_wake(word, true);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  waiter.join();
  return by_itself;
}

TEST(futex_wait, a_timed_wait_on_an_unchanged_word_returns_once_its_deadline_has_passed) {
  std::atomic<std::uint32_t> word{5};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
  std::chrono::steady_clock::time_point returned{};
  // The caller's loop (futex_wait may return spuriously): waits until the deadline.
  EXPECT_TRUE(returns_by_itself(word, [&] {
    while (word.load() == 5 && std::chrono::steady_clock::now() < deadline) futex_wait(word, 5, &deadline);
    returned = std::chrono::steady_clock::now();
  }));
  EXPECT_GE(returned, deadline);  // the loop's own exit condition, checked after the fact
  EXPECT_EQ(word.load(), 5u);
}

TEST(futex_wait, a_deadline_already_past_or_at_the_epoch_returns_at_once) {
  std::atomic<std::uint32_t> word{1};
  const auto past = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  const std::chrono::steady_clock::time_point epoch{};
  EXPECT_TRUE(returns_by_itself(word, [&] { futex_wait(word, 1, &past); }));
  EXPECT_TRUE(returns_by_itself(word, [&] { futex_wait(word, 1, &epoch); }));
}

TEST(futex_wait, an_untimed_wait_for_a_value_the_word_no_longer_holds_returns_at_once) {
  std::atomic<std::uint32_t> word{2};
  EXPECT_TRUE(returns_by_itself(word, [&] { futex_wait(word, 1, nullptr); }));
}

TEST(futex_wait, a_bump_and_wake_all_releases_every_untimed_waiter) {
  std::atomic<std::uint32_t> word{0};
  std::atomic<unsigned> released{0};
  constexpr unsigned waiters = 6;
  std::vector<std::thread> pool;
  for (unsigned i = 0; i < waiters; ++i)
    pool.emplace_back([&] {
      while (word.load() == 0) futex_wait(word, 0, nullptr);
      released.fetch_add(1);
    });
  word.store(1);
  futex_wake(word, true);
  for (auto& th : pool) th.join();  // hangs (ctest timeout) if a wake is lost
  EXPECT_EQ(released.load(), waiters);
}

// ---- thread_slot_table -------------------------------------------------------

TEST(thread_slot_table, claims_until_full_then_a_released_slot_is_reused_with_its_count) {
  thread_slot_table t(2);
  auto* a = t.claim();
  auto* b = t.claim();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  EXPECT_EQ(t.claim(), nullptr);  // full
  a->store(5);
  b->store(7);
  t.shared().store(100);
  EXPECT_EQ(t.slots_in_use(), 2u);
  t.release(a);
  EXPECT_EQ(t.slots_in_use(), 1u);
  EXPECT_EQ(t.sum(), 112);  // a released slot's count is still counted once
  auto* again = t.claim();
  ASSERT_EQ(again, a);
  EXPECT_EQ(again->load(), 5);  // the next owner adds on top
  EXPECT_EQ(t.slots_claimed(), 2u);
  EXPECT_EQ(thread_slot_table(0).capacity(), 1u);
}

TEST(thread_slot_table, a_threads_slot_is_freed_at_its_exit_and_the_next_thread_reuses_it) {
  const auto table = std::make_shared<thread_slot_table>(1);
  thread_slot_table::cell* first = nullptr;
  thread_slot_table::cell* second = nullptr;
  std::thread([&] {
    first = thread_slot_registry::local().attach(table).slot;
    if (first != nullptr) first->fetch_add(3);
  }).join();
  EXPECT_EQ(table->slots_in_use(), 0u);  // freed by the registry at thread exit
  std::thread([&] {
    second = thread_slot_registry::local().attach(table).slot;
    if (second != nullptr) second->fetch_add(4);
  }).join();
  ASSERT_NE(first, nullptr);
  ASSERT_EQ(second, first);  // capacity 1: only reuse gives it a slot
  EXPECT_EQ(table->sum(), 7);
  EXPECT_EQ(table->slots_claimed(), 1u);
}

TEST(thread_slot_table, a_thread_attaching_twice_keeps_one_slot_and_one_beyond_capacity_gets_none) {
  const auto table = std::make_shared<thread_slot_table>(1);
  std::atomic<bool> holder_ready{false};
  std::atomic<bool> release_holder{false};
  std::thread holder([&] {
    auto& reg = thread_slot_registry::local();
    auto* s = reg.attach(table).slot;
    EXPECT_NE(s, nullptr);
    EXPECT_EQ(reg.attach(table).slot, s);
    holder_ready.store(true);
    while (!release_holder.load()) std::this_thread::yield();
  });
  while (!holder_ready.load()) std::this_thread::yield();
  std::thread([&] { EXPECT_EQ(thread_slot_registry::local().attach(table).slot, nullptr); }).join();
  release_holder.store(true);
  holder.join();
  EXPECT_EQ(table->slots_in_use(), 0u);
}

TEST(thread_slot_table, a_table_dropped_before_its_threads_exit_is_not_touched_at_their_exit) {
  auto table = std::make_shared<thread_slot_table>(4);
  std::atomic<bool> attached{false};
  std::atomic<bool> dropped{false};
  std::thread t([&] {
    thread_slot_registry::local().attach(table).slot->fetch_add(1);
    attached.store(true);
    while (!dropped.load()) std::this_thread::yield();
  });  // the registry's destructor finds the weak_ptr expired (ASan checks no use-after-free)
  while (!attached.load()) std::this_thread::yield();
  const std::weak_ptr<thread_slot_table> weak = table;
  table.reset();
  dropped.store(true);
  t.join();
  EXPECT_TRUE(weak.expired());
}

}  // namespace
