// The queue adapters of the harness (harness/contenders/queues.hpp), driven the
// way the `queue` scenario drives them: every adapter, the peers of issue 14
// included (contenders/queues_peers.hpp), delivers each item exactly once and
// each producer's items in order. Regression: with moodycamel, one
// producer token could take the whole block pool, and another producer's
// try_push then failed forever on an empty queue (the scenario hung with one
// producer parked at the runner's barrier).
#include "contenders/queues.hpp"

#include <hotshard/test/support.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <thread>
#include <vector>

#include "contenders/peer_tsan_suppressions.hpp"

namespace {

namespace hc = hotshard::contenders;
using item = std::uint64_t;
constexpr std::size_t capacity = 1024;

// A tenth under ThreadSanitizer; whole under ASan.
constexpr item late_items = hotshard::test::thread_sanitizer ? 4000 : 40000;
constexpr item bulk_rounds = hotshard::test::thread_sanitizer ? 20 : 200;

// Producer 0 fills the queue until try_push fails and then stops, keeping its
// handle (for moodycamel: its token and every block it took). Then producer 1
// pushes `late_items` while a consumer thread drains: every item of both must
// arrive exactly once, each producer's in order.
template <class Q>
void late_producer_gets_in_after_another_filled_the_queue(const char* name) {
  SCOPED_TRACE(name);
  Q q(capacity, 2, 1);
  typename Q::producer early(q);
  item filled = 0;
  if constexpr (requires { Q::unbounded; }) {  // never full: push what a bounded queue of `capacity` would hold
    for (item v = filled; filled < capacity; v = ++filled) ASSERT_TRUE(early.try_push(std::move(v)));
  } else {
    for (item v = filled; early.try_push(std::move(v)); v = ++filled) {
      ASSERT_LT(filled, item{1} << 20) << "try_push never reports full";
    }
  }
  ASSERT_GT(filled, 0u);

  const item total = filled + late_items;
  std::atomic<bool> consumer_ok{true};
  std::vector<item> next(2, 0);
  std::thread consumer([&] {
    typename Q::consumer c(q);
    for (item got = 0; got < total;) {
      item v = 0;
      if (!c.try_pop(v)) {
        std::this_thread::yield();
        continue;
      }
      const item p = v >> 40, s = v & ((item{1} << 40) - 1);
      if (p > 1 || s != next[p]) consumer_ok.store(false, std::memory_order_relaxed);
      if (p <= 1) next[p] = s + 1;
      ++got;
    }
  });
  std::thread late([&] {
    typename Q::producer h(q);
    for (item s = 0; s < late_items; ++s) {
      item v = item{1} << 40 | s;
      while (!h.try_push(std::move(v))) std::this_thread::yield();
    }
  });
  late.join();
  consumer.join();
  EXPECT_TRUE(consumer_ok.load());
  EXPECT_EQ(next[0], filled);
  EXPECT_EQ(next[1], late_items);
  typename Q::consumer c(q);
  item v = 0;
  EXPECT_FALSE(c.try_pop(v)) << "an item beyond the ones pushed";
}

TEST(queue_contenders, a_late_producer_gets_in_after_another_filled_the_queue_and_stopped) {
  hc::for_each_queue<item>([]<class Q>(const char* name, const char*) {
    late_producer_gets_in_after_another_filled_the_queue<Q>(name);
  });
}

// Single-threaded and exact: after one token filled and a consumer emptied the
// moodycamel queue, a second token's try_push must succeed (moodycamel's own
// try_enqueue fails here, the pool being held by the first token).
TEST(queue_contenders, moodycamel_try_push_succeeds_on_an_emptied_queue_whose_pool_another_token_holds) {
  using Q = hc::moodycamel_queue<item>;
  Q q(capacity, 2, 1);
  typename Q::producer first(q), second(q);
  typename Q::consumer c(q);
  item pushed = 0, v = 0;
  while (first.try_push(item{pushed})) ++pushed;
  EXPECT_GE(pushed, capacity);
  item popped = 0;
  while (c.try_pop(v)) ++popped;
  EXPECT_EQ(popped, pushed);
  EXPECT_TRUE(second.try_push(item{7}));
  ASSERT_TRUE(c.try_pop(v));
  EXPECT_EQ(v, 7u);
}

// A bulk larger than the capacity (or than moodycamel's block pool) moves
// through in parts: try_push_bulk never returns 0 on an empty queue, and the
// items come out complete and in order.
TEST(queue_contenders, a_bulk_push_larger_than_the_capacity_moves_through_in_parts) {
  hc::for_each_queue<item>([]<class Q>(const char* name, const char*) {
    SCOPED_TRACE(name);
    Q q(capacity, 1, 1);
    typename Q::producer p(q);
    typename Q::consumer c(q);
    constexpr std::size_t n = 4 * capacity;
    std::vector<item> buf(n), out(n);
    for (std::size_t i = 0; i < n; ++i) buf[i] = i;
    std::size_t done = 0, popped = 0;
    while (done < n) {
      const std::size_t k = p.try_push_bulk(buf.data() + done, n - done);
      ASSERT_GT(k, 0u) << "no progress on an empty queue after " << done << " items";
      done += k;
      for (std::size_t got; (got = c.try_pop_bulk(out.data() + popped, n - popped)) != 0;) popped += got;
    }
    EXPECT_EQ(popped, n);
    for (std::size_t i = 0; i < popped; ++i) ASSERT_EQ(out[i], i);
  });
}

// The same bulks against a consumer thread: every item arrives once, in order.
// (moodycamel: a failed try_enqueue_bulk of more than 2048 items corrupted the
// producer's block index, which only showed with a concurrent consumer.)
TEST(queue_contenders, bulk_pushes_larger_than_the_capacity_arrive_complete_and_in_order_at_a_consumer) {
  hc::for_each_queue<item>([]<class Q>(const char* name, const char*) {
    SCOPED_TRACE(name);
    Q q(capacity, 1, 1);
    constexpr std::size_t n = 4 * capacity;
    // Without a bulk API the adapter loops over single items: fewer rounds show the same.
    const item total = n * (Q::has_bulk ? bulk_rounds : bulk_rounds / 10);
    std::atomic<item> received{0}, misplaced{0};
    std::atomic<bool> pushed_all{false};
    std::thread consumer([&] {
      typename Q::consumer c(q);
      std::vector<item> out(n);
      item next = 0;
      while (next < total) {
        const bool last_look = pushed_all.load(std::memory_order_acquire);  // acquire: pairs with the release below
        const std::size_t got = c.try_pop_bulk(out.data(), n);
        if (got == 0 && last_look) break;  // items lost: stop rather than hang
        if (got == 0) std::this_thread::yield();
        for (std::size_t i = 0; i < got; ++i, ++next)
          if (out[i] != next) misplaced.fetch_add(1, std::memory_order_relaxed);
      }
      received.store(next, std::memory_order_relaxed);
    });
    typename Q::producer p(q);
    std::vector<item> buf(n);
    for (item r = 0; r < total / n; ++r) {
      for (std::size_t i = 0; i < n; ++i) buf[i] = r * n + i;
      for (std::size_t done = 0; done < n;) {
        const std::size_t k = p.try_push_bulk(buf.data() + done, n - done);
        if (k == 0) std::this_thread::yield();
        done += k;
      }
    }
    pushed_all.store(true, std::memory_order_release);  // release: every push happened before
    consumer.join();
    EXPECT_EQ(received.load(), total);
    EXPECT_EQ(misplaced.load(), 0u);
  });
}

// Four producers and four consumers (more threads than cores): every item
// arrives exactly once, and each consumer sees each producer's items in the
// order they were pushed (FIFO per producer). For moodycamel::ReaderWriterQueue
// each side takes turns behind the adapter's mutex (it is SPSC). ck_ring's
// producers spin (no yield) on an earlier producer's commit, so with more
// threads than cores one preempted producer stalls the others for whole time
// slices (runs of minutes were seen on a loaded 2-core machine, as in
// bench-queues): ck_ring gets one producer and one consumer per two cores.
TEST(queue_contenders, every_queue_delivers_each_item_of_four_producers_exactly_once_to_four_consumers_in_order) {
  constexpr item per_producer = late_items / 4;
  const unsigned cores = std::max(2u, std::thread::hardware_concurrency());
  hc::for_each_queue<item>([cores]<class Q>(const char* name, const char*) {
    SCOPED_TRACE(name);
    const bool spins_on_preempted = std::string_view(name) == "ck_ring";
    const unsigned producers = spins_on_preempted ? std::min(4u, cores / 2) : 4;
    const unsigned consumers = producers;
    Q q(capacity, producers, consumers);
    std::vector<std::atomic<std::uint8_t>> seen(producers * per_producer);
    std::atomic<item> popped{0}, out_of_order{0}, foreign{0};
    std::vector<std::thread> pool;
    for (unsigned c = 0; c < consumers; ++c)
      pool.emplace_back([&] {
        typename Q::consumer h(q);
        std::vector<item> next(producers, 0);
        while (popped.load(std::memory_order_relaxed) < producers * per_producer) {
          item v = 0;
          if (!h.try_pop(v)) {
            std::this_thread::yield();
            continue;
          }
          popped.fetch_add(1, std::memory_order_relaxed);
          const item p = v >> 40, s = v & ((item{1} << 40) - 1);
          if (p >= producers || s >= per_producer) {
            foreign.fetch_add(1, std::memory_order_relaxed);
            continue;
          }
          seen[p * per_producer + s].fetch_add(1, std::memory_order_relaxed);
          if (s < next[p]) out_of_order.fetch_add(1, std::memory_order_relaxed);
          next[p] = s + 1;
        }
      });
    for (unsigned p = 0; p < producers; ++p)
      pool.emplace_back([&, p] {
        typename Q::producer h(q);
        for (item s = 0; s < per_producer; ++s) {
          item v = item{p} << 40 | s;
          while (!h.try_push(std::move(v))) std::this_thread::yield();
        }
      });
    for (auto& t : pool) t.join();
    std::size_t lost = 0, duplicated = 0;
    for (const auto& x : seen) {
      lost += x.load() == 0 ? 1 : 0;
      duplicated += x.load() > 1 ? 1 : 0;
    }
    EXPECT_EQ(lost, 0u);
    EXPECT_EQ(duplicated, 0u);
    EXPECT_EQ(foreign.load(), 0u);
    // atomic_queue's consumers spin on a slot and take whatever item lands
    // there, so under preemption a consumer one lap behind can take the next
    // lap's item: items still arrive exactly once, but not FIFO per producer
    // (seen here with 8 threads on 2 cores). That is the peer's property, not
    // an adapter defect; every other queue here keeps per-producer order.
    if (!std::string_view(name).starts_with("atomic_queue")) {
      EXPECT_EQ(out_of_order.load(), 0u);
    }
    typename Q::consumer c(q);
    item v = 0;
    EXPECT_FALSE(c.try_pop(v)) << "an item beyond the ones pushed";
  });
}

// liburcu's wait-free queue under a plain buffer: after flush() every write
// made before it reached the sink exactly once, in each writer's order, even
// with a sink that refuses every third call (refused writes are retried).
TEST(queue_contenders, urcu_wfcq_buffer_applies_every_write_exactly_once_by_flush) {
  constexpr unsigned writers = 8;
  constexpr std::uint64_t per_writer = late_items / 8;
  std::vector<std::int64_t> sum(writers, 0);
  std::vector<std::uint64_t> next(writers, 0);
  std::uint64_t calls = 0, out_of_order = 0;
  hc::urcu_wfcq_buffer wb(
      [&](const std::uint64_t& k, const std::int64_t& d) {  // the drainer thread only
        if (++calls % 3 == 0) return false;
        const std::uint64_t w = k >> 40, s = k & ((std::uint64_t{1} << 40) - 1);
        if (s != next[w]) ++out_of_order;
        next[w] = s + 1;
        sum[w] += d;
        return true;
      },
      hc::write_buffer_type::config_type{});
  hotshard::test::run_threads(writers, [&](unsigned w) {
    for (std::uint64_t s = 0; s < per_writer; ++s) ASSERT_TRUE(wb.write(std::uint64_t{w} << 40 | s, 1 + s % 3));
  });
  wb.flush();
  std::int64_t expected = 0;
  for (std::uint64_t s = 0; s < per_writer; ++s) expected += static_cast<std::int64_t>(1 + s % 3);
  for (unsigned w = 0; w < writers; ++w) EXPECT_EQ(sum[w], expected) << "writer " << w;
  EXPECT_EQ(out_of_order, 0u);
  const auto st = wb.stats();
  EXPECT_EQ(st.accepted, writers * per_writer);
  EXPECT_GT(st.sink_failures, 0u);
}

}  // namespace
