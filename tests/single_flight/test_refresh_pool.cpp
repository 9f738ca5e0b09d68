// The cache scenario's refresh=async executor (contenders::refresh_pool), a
// cached thread pool: a refresh never waits behind another's load, at most
// max_threads run at once, stop() runs everything submitted, and a task's
// exception is counted, not lost.
#include "contenders/single_flight.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

namespace hc = hotshard::contenders;

namespace {

// A latch that a test opens once; a task blocks on it (no timing involved).
struct gate {
  std::promise<void> p;
  std::shared_future<void> f = p.get_future().share();
  void open() { p.set_value(); }
};

}  // namespace

// Task k waits until task k+1 has run: with one thread (the old
// refresh_thread) the first task would wait forever; the pool starts a thread
// for each task that finds none waiting, so all of them finish.
TEST(refresh_pool, a_task_submitted_while_every_thread_is_busy_starts_a_new_thread) {
  constexpr int n = 8;
  hc::refresh_pool pool;
  std::vector<gate> ran(n);
  std::atomic<int> gave_up{0};
  for (int k = 0; k < n; ++k) {
    pool.submit([&ran, &gave_up, k] {
      // Bounded only so that a pool that runs them one by one fails instead of hanging.
      if (k + 1 < n && ran[k + 1].f.wait_for(std::chrono::seconds(30)) != std::future_status::ready)
        gave_up.fetch_add(1);
      ran[k].open();
    });
  }
  pool.stop();
  EXPECT_EQ(gave_up.load(), 0);
  EXPECT_EQ(pool.submitted(), std::uint64_t{n});
  EXPECT_EQ(pool.threads_started(), std::uint64_t{n});
  EXPECT_EQ(pool.queued(), 0u);
}

// A thread that waits takes the next task: each task is submitted once every
// thread started so far waits (a state the test waits for, not a time), so
// one thread runs all 100. (Without that wait, a thread delayed between its
// task and its wait makes the next submit start another: the pool starts a
// thread whenever no thread waits.)
TEST(refresh_pool, a_waiting_thread_takes_the_next_task_instead_of_a_new_one) {
  hc::refresh_pool pool;
  for (int k = 0; k < 100; ++k) {
    while (pool.threads_waiting() < pool.threads_started()) std::this_thread::yield();
    std::promise<void> done;
    pool.submit([&done] { done.set_value(); });
    done.get_future().wait();
  }
  pool.stop();
  EXPECT_EQ(pool.submitted(), 100u);
  EXPECT_EQ(pool.threads_started(), 1u);
}

// Above max_threads, tasks queue: with a cap of 2 and two blocked tasks, the
// third waits (queued) until one of them finishes; stop() runs it.
TEST(refresh_pool, above_its_cap_tasks_queue_and_stop_runs_them_all) {
  hc::refresh_pool pool(2);
  gate release;
  std::atomic<int> started{0}, done{0};
  for (int k = 0; k < 2; ++k) {
    pool.submit([&] {
      started.fetch_add(1);
      release.f.wait();
      done.fetch_add(1);
    });
  }
  while (started.load() < 2) std::this_thread::yield();
  for (int k = 0; k < 5; ++k) pool.submit([&] { done.fetch_add(1); });
  EXPECT_EQ(pool.queued(), 5u);
  EXPECT_EQ(pool.threads_started(), 2u);
  release.open();
  pool.stop();
  EXPECT_EQ(done.load(), 7);
  EXPECT_EQ(pool.queued(), 0u);
  EXPECT_EQ(pool.threads_started(), 2u);
}

TEST(refresh_pool, a_task_that_throws_is_counted_and_the_pool_goes_on) {
  hc::refresh_pool pool;
  std::atomic<int> done{0};
  pool.submit([] { throw std::runtime_error("refresh failed"); });
  for (int k = 0; k < 3; ++k) pool.submit([&] { done.fetch_add(1); });
  pool.stop();
  EXPECT_EQ(pool.failed(), 1u);
  EXPECT_EQ(done.load(), 3);
  pool.stop();  // idempotent
}
