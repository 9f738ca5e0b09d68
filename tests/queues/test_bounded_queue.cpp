#include <hotshard/bounded_queue.hpp>
#include <hotshard/concepts/bounded_queue.hpp>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/detail/metrics.hpp>
#include <hotshard/test/support.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stop_token>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using hotshard::bounded_queue;
using hotshard::bounded_queue_options;

namespace {

// The stress tests do half their work under ThreadSanitizer and all of it
// under ASan (tuned so; sanitizer_scale would quarter both).
constexpr std::uint64_t tsan_divisor = hotshard::test::thread_sanitizer ? 2 : 1;

static_assert(hotshard::concepts::closable_blocking_queue<bounded_queue<int>>);
static_assert(hotshard::concepts::closable_blocking_queue<bounded_queue<std::unique_ptr<int>>>);

// Counts blocking waits globally, so a test can tell that a thread really went to sleep.
struct sleep_stats {
  static inline std::atomic<std::uint64_t> waits{0};
  static void cas_failure() noexcept {}
  static void spin() noexcept {}
  static void wait() noexcept { waits.fetch_add(1, std::memory_order_seq_cst); }
};

void wait_for_sleepers(std::uint64_t at_least) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);  // hang guard only
  while (sleep_stats::waits.load() < at_least) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "threads never went to sleep";
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// An element that tracks how many instances are alive and catches double destruction.
struct tracked {
  static inline std::atomic<long> live{0};
  static inline std::atomic<long> bad_destroys{0};
  static constexpr std::uint32_t alive_mark = 0xA11CE;
  std::uint32_t mark = alive_mark;
  int value = 0;

  explicit tracked(int v = 0) noexcept : value(v) { live.fetch_add(1); }
  tracked(tracked&& o) noexcept : value(o.value) { live.fetch_add(1); }
  tracked& operator=(tracked&& o) noexcept {
    value = o.value;
    return *this;
  }
  tracked(const tracked&) = delete;
  ~tracked() {
    if (mark != alive_mark) bad_destroys.fetch_add(1);
    mark = 0;
    live.fetch_sub(1);
  }
};

// Item = producer id (high 24 bits) and sequence (low 40 bits).
constexpr std::uint64_t item(std::uint64_t producer, std::uint64_t seq) { return producer << 40 | seq; }
constexpr std::uint64_t producer_of(std::uint64_t v) { return v >> 40; }
constexpr std::uint64_t seq_of(std::uint64_t v) { return v & ((std::uint64_t{1} << 40) - 1); }

}  // namespace

TEST(bounded_queue, rejects_a_capacity_that_is_not_a_power_of_two_of_at_least_two) {
  for (const std::size_t bad : {std::size_t{0}, std::size_t{1}, std::size_t{6}}) {
    try {
      bounded_queue<int> q({.capacity = bad});
      ADD_FAILURE() << bad << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("bounded_queue: capacity"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(bounded_queue<int>({.capacity = 2}).capacity(), 2u);
  EXPECT_EQ(bounded_queue<int>().capacity(), bounded_queue_options{}.capacity);
}

// The deprecated positional constructor (kept for write_buffer.hpp) checks the same way.
TEST(bounded_queue, the_positional_capacity_shim_checks_like_the_options) {
  EXPECT_THROW(bounded_queue<int>(6), std::invalid_argument);
  EXPECT_EQ(bounded_queue<int>(4).capacity(), 4u);
}

TEST(bounded_queue, rejects_a_capacity_whose_ring_does_not_fit_naming_it) {
  // An int cell is 16 bytes (seq + element, packed): 2^59 of them are 2^63 bytes, past PTRDIFF_MAX.
  for (const std::size_t bad : {std::size_t{1} << 62, std::size_t{1} << 63, std::size_t{1} << 59}) {
    try {
      bounded_queue<int> q({.capacity = bad});
      ADD_FAILURE() << bad << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("capacity"), std::string::npos) << e.what();
    }
  }
}

TEST(bounded_queue, try_push_fails_when_full_and_leaves_the_value) {
  bounded_queue<std::unique_ptr<int>> q({.capacity = 4});
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(q.try_push_weak(std::make_unique<int>(i)));
  auto extra = std::make_unique<int>(99);
  EXPECT_FALSE(q.try_push_weak(std::move(extra)));
  ASSERT_NE(extra, nullptr);
  EXPECT_EQ(*extra, 99);
  EXPECT_EQ(q.size_approx(), 4u);
}

TEST(bounded_queue, try_pop_fails_when_empty) {
  bounded_queue<int> q({.capacity = 8});
  int out = -1;
  EXPECT_FALSE(q.try_pop_weak(out));
  EXPECT_EQ(out, -1);
  EXPECT_FALSE(q.try_pop_weak().has_value());
}

TEST(bounded_queue, pops_in_push_order_across_many_laps) {
  bounded_queue<int> q({.capacity = 4});
  int next_pop = 0;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(q.try_push_weak(i));
    if (i % 3 == 2) {
      while (auto v = q.try_pop_weak()) ASSERT_EQ(*v, next_pop++);
    }
  }
  while (auto v = q.try_pop_weak()) ASSERT_EQ(*v, next_pop++);
  EXPECT_EQ(next_pop, 100);
}

TEST(bounded_queue, try_push_bulk_pushes_the_prefix_that_fits) {
  bounded_queue<int> q({.capacity = 8});
  ASSERT_TRUE(q.try_push_weak(-1));
  std::vector<int> in{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  EXPECT_EQ(q.try_push_bulk_weak(in.begin(), in.size()), 7u);
  EXPECT_EQ(q.try_push_bulk_weak(in.begin(), in.size()), 0u);
  std::vector<int> out(20, -100);
  EXPECT_EQ(q.try_pop_bulk_weak(out.begin(), 3), 3u);
  EXPECT_EQ(q.try_pop_bulk_weak(out.begin() + 3, 20), 5u);
  EXPECT_EQ((std::vector<int>(out.begin(), out.begin() + 8)), (std::vector<int>{-1, 0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(out[8], -100);
  EXPECT_EQ(q.try_pop_bulk_weak(out.begin(), 20), 0u);
}

TEST(bounded_queue, try_emplace_that_throws_leaves_the_queue_unchanged) {
  struct throws_on_negative {
    int v;
    explicit throws_on_negative(int x) : v(x) {
      if (x < 0) throw std::runtime_error("negative");
    }
  };
  bounded_queue<throws_on_negative> q({.capacity = 2});
  ASSERT_TRUE(q.try_emplace(1));
  EXPECT_THROW((void)q.try_emplace(-1), std::runtime_error);
  EXPECT_EQ(q.size_approx(), 1u);
  ASSERT_TRUE(q.try_emplace(2));
  EXPECT_EQ(q.try_pop_weak()->v, 1);
  EXPECT_EQ(q.try_pop_weak()->v, 2);
}

TEST(bounded_queue, push_after_close_fails_and_leaves_the_value) {
  bounded_queue<std::unique_ptr<int>> q({.capacity = 4});
  ASSERT_TRUE(q.try_push_weak(std::make_unique<int>(1)));
  q.close();
  EXPECT_TRUE(q.is_closed());
  auto v = std::make_unique<int>(2);
  EXPECT_FALSE(q.try_push_weak(std::move(v)));
  EXPECT_FALSE(q.push(std::move(v)));
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(*v, 2);
}

TEST(bounded_queue, pop_drains_what_remains_after_close_then_reports_closed) {
  bounded_queue<int> q({.capacity = 4});
  ASSERT_TRUE(q.try_push_weak(1));
  ASSERT_TRUE(q.try_push_weak(2));
  q.close();
  int out = 0;
  ASSERT_TRUE(q.pop(out));
  EXPECT_EQ(out, 1);
  EXPECT_EQ(q.pop(), std::optional<int>(2));
  EXPECT_FALSE(q.pop(out));
  std::vector<int> buf(4);
  EXPECT_EQ(q.pop_bulk(buf.begin(), 4), 0u);
}

TEST(bounded_queue, destroys_every_element_exactly_once) {
  tracked::live = 0;
  tracked::bad_destroys = 0;
  {
    bounded_queue<tracked> q({.capacity = 16});
    for (int i = 0; i < 12; ++i) ASSERT_TRUE(q.try_emplace(i));
    tracked out;
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(q.try_pop_weak(out));
    std::vector<tracked> bulk(3);
    ASSERT_EQ(q.try_pop_bulk_weak(bulk.begin(), 3), 3u);
    EXPECT_EQ(bulk[2].value, 7);
    for (int i = 0; i < 6; ++i) ASSERT_TRUE(q.try_emplace(100 + i));
    // queue holds 4 + 6 = 10, plus out and bulk (4) outside
    EXPECT_EQ(tracked::live.load(), 14);
  }
  EXPECT_EQ(tracked::live.load(), 0);
  EXPECT_EQ(tracked::bad_destroys.load(), 0);
}

TEST(bounded_queue, concurrent_pushes_without_consumers_fill_exactly_the_capacity) {
  constexpr std::size_t capacity = 1024;
  bounded_queue<std::uint64_t> q({.capacity = capacity});
  std::atomic<std::uint64_t> accepted{0};
  hotshard::test::run_threads(16, [&](unsigned t) {
    std::uint64_t mine = 0;
    for (std::uint64_t i = 0; i < 200; ++i) mine += q.try_push_weak(item(t, i)) ? 1 : 0;
    std::vector<std::uint64_t> bulk(7, item(t, 1000));
    for (int i = 0; i < 20; ++i) mine += q.try_push_bulk_weak(bulk.begin(), bulk.size());
    accepted.fetch_add(mine);
  });
  EXPECT_EQ(accepted.load(), capacity);
  EXPECT_EQ(q.size_approx(), capacity);
}

// credit >= pops that happened; a push that completed sees pushes - credit <= capacity.
TEST(bounded_queue, capacity_is_never_exceeded_under_concurrent_push_and_pop) {
  constexpr std::size_t capacity = 8;
  bounded_queue<std::uint64_t> q({.capacity = capacity});
  std::atomic<std::uint64_t> pushed{0}, credit{0}, violations{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (std::uint64_t i = 0; i < 40000 / tsan_divisor; ++i) {
        if (q.try_push_weak(i)) {
          const std::uint64_t p = pushed.fetch_add(1, std::memory_order_seq_cst) + 1;
          if (p > credit.load(std::memory_order_seq_cst) + capacity) violations.fetch_add(1);
        }
      }
    });
  for (unsigned t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      std::uint64_t v = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        credit.fetch_add(1, std::memory_order_seq_cst);
        if (!q.try_pop_weak(v)) credit.fetch_sub(1, std::memory_order_seq_cst);
      }
    });
  for (unsigned t = 0; t < 8; ++t) threads[t].join();
  stop = true;
  for (unsigned t = 8; t < 16; ++t) threads[t].join();
  EXPECT_EQ(violations.load(), 0u);
  EXPECT_LE(q.size_approx(), capacity);
}

// 16 producers, 1 consumer: every item exactly once and each producer's items in order.
TEST(bounded_queue, one_consumer_sees_every_item_once_in_per_producer_order) {
  constexpr unsigned producers = 16;
  const std::uint64_t per = 60000 / tsan_divisor;
  bounded_queue<std::uint64_t> q({.capacity = 64});
  std::vector<std::thread> threads;
  for (unsigned p = 0; p < producers; ++p)
    threads.emplace_back([&, p] {
      for (std::uint64_t i = 0; i < per; ++i) {
        if (i % 2 == 0) {
          while (!q.try_push_weak(item(p, i))) std::this_thread::yield();
        } else {
          ASSERT_TRUE(q.push(item(p, i)));
        }
      }
    });
  std::vector<std::uint64_t> next(producers, 0);
  std::uint64_t errors = 0;
  std::vector<std::uint64_t> buf(16);
  for (std::uint64_t got = 0; got < producers * per;) {
    const std::size_t n = (got % 3 == 0) ? q.pop_bulk(buf.begin(), buf.size()) : (q.pop(buf[0]) ? 1 : 0);
    for (std::size_t k = 0; k < n; ++k) {
      const auto p = producer_of(buf[k]);
      if (p >= producers || seq_of(buf[k]) != next[p]) ++errors;
      if (p < producers) next[p] = seq_of(buf[k]) + 1;
    }
    got += n;
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors, 0u);
  for (unsigned p = 0; p < producers; ++p) EXPECT_EQ(next[p], per);
  EXPECT_FALSE(q.try_pop_weak().has_value());
}

// Producers and consumers (8x the cores), blocking ops and close(): nothing
// lost or duplicated. With yielding_stats a thread may be preempted between
// every step of the protocol (claim/publish, registration/re-check/sleep).
template <class Stats = hotshard::detail::no_stats>
void lose_and_duplicate_nothing(std::size_t capacity, std::uint64_t per) {
  constexpr unsigned producers = 16, consumers = 16;
  bounded_queue<std::uint64_t, Stats> q({.capacity = capacity});
  std::vector<std::vector<std::uint64_t>> seen(consumers);
  std::vector<std::thread> threads;
  for (unsigned c = 0; c < consumers; ++c)
    threads.emplace_back([&, c] {
      std::vector<std::uint64_t> buf(8);
      for (;;) {
        std::size_t n = 0;
        if (c % 2 == 0) {
          n = q.pop_bulk(buf.begin(), buf.size());
        } else {
          n = q.pop(buf[0]) ? 1 : 0;
        }
        if (n == 0) return;
        seen[c].insert(seen[c].end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
      }
    });
  hotshard::test::run_threads(producers, [&](unsigned p) {
    std::vector<std::uint64_t> bulk;
    for (std::uint64_t i = 0; i < per;) {
      if (p % 2 == 0) {
        ASSERT_TRUE(q.push(item(p, i)));
        ++i;
      } else {
        bulk.clear();
        for (std::uint64_t k = i; k < std::min(per, i + 5); ++k) bulk.push_back(item(p, k));
        const auto k = q.try_push_bulk_weak(bulk.begin(), bulk.size());
        if (k == 0) std::this_thread::yield();
        i += k;
      }
    }
  });
  q.close();
  for (auto& th : threads) th.join();
  std::vector<std::uint8_t> count(producers * per, 0);
  std::uint64_t bad = 0;
  for (const auto& s : seen)
    for (auto v : s) {
      if (producer_of(v) >= producers || seq_of(v) >= per) {
        ++bad;
        continue;
      }
      auto& c = count[producer_of(v) * per + seq_of(v)];
      if (c < 255) ++c;
    }
  std::uint64_t lost = 0, duplicated = 0;
  for (auto c : count) {
    lost += c == 0;
    duplicated += c > 1 ? c - 1 : 0;
  }
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(lost, 0u);
  EXPECT_EQ(duplicated, 0u);
}

TEST(bounded_queue, many_producers_and_consumers_lose_and_duplicate_nothing) {
  lose_and_duplicate_nothing(32, 60000 / tsan_divisor);
}
TEST(bounded_queue, many_producers_and_consumers_lose_and_duplicate_nothing_under_schedule_noise) {
  lose_and_duplicate_nothing<hotshard::detail::yielding_stats>(32, 3000 / tsan_divisor);
}
// Capacity 2: producers and consumers sleep and wake all the time; a lost
// wake-up would hang the test (the model, models/bounded_queue.pml, proves
// there is none for small configurations).
TEST(bounded_queue, sleepers_on_a_tiny_ring_all_finish_under_schedule_noise) {
  lose_and_duplicate_nothing<hotshard::detail::yielding_stats>(2, 800 / tsan_divisor);
}

TEST(bounded_queue, blocking_pop_sleeps_and_wakes_on_push) {
  bounded_queue<int, hotshard::policy::contention_hook<sleep_stats>> q({.capacity = 4});
  const auto before = sleep_stats::waits.load();
  std::optional<int> got;
  std::thread consumer([&] { got = q.pop(); });
  wait_for_sleepers(before + 1);
  ASSERT_TRUE(q.try_push_weak(42));
  consumer.join();
  EXPECT_EQ(got, std::optional<int>(42));
}

TEST(bounded_queue, close_wakes_every_blocked_consumer) {
  bounded_queue<int, hotshard::policy::contention_hook<sleep_stats>> q({.capacity = 4});
  const auto before = sleep_stats::waits.load();
  constexpr int n = 32;
  std::atomic<int> closed_seen{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&] {
      int v = 0;
      if (!q.pop(v)) closed_seen.fetch_add(1);
    });
  wait_for_sleepers(before + n);
  q.close();
  for (auto& th : threads) th.join();
  EXPECT_EQ(closed_seen.load(), n);
}

TEST(bounded_queue, blocking_push_sleeps_when_full_and_wakes_on_pop_or_close) {
  bounded_queue<int, hotshard::policy::contention_hook<sleep_stats>> q({.capacity = 2});
  ASSERT_TRUE(q.try_push_weak(1));
  ASSERT_TRUE(q.try_push_weak(2));
  const auto before = sleep_stats::waits.load();
  std::atomic<int> pushed{0}, refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] { (q.push(10 + i) ? pushed : refused).fetch_add(1); });
  wait_for_sleepers(before + 8);
  int out = 0;
  ASSERT_TRUE(q.try_pop_weak(out));
  EXPECT_EQ(out, 1);
  // Exactly one sleeper can take the freed cell; wait for it, then close on the rest.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (pushed.load() < 1) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::yield();
  }
  q.close();
  for (auto& th : threads) th.join();
  EXPECT_EQ(pushed.load(), 1);
  EXPECT_EQ(refused.load(), 7);
  EXPECT_EQ(q.size_approx(), 2u);
}

TEST(bounded_queue, a_throwing_output_iterator_keeps_the_ring_usable) {
  struct throwing_out {
    int* count;
    int limit;
    throwing_out& operator*() { return *this; }
    throwing_out& operator=(int) {
      if (++*count > limit) throw std::runtime_error("out full");
      return *this;
    }
    throwing_out& operator++() { return *this; }
  };
  bounded_queue<int> q({.capacity = 8});
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(q.try_push_weak(i));
  int count = 0;
  EXPECT_THROW((void)q.try_pop_bulk_weak(throwing_out{&count, 2}, 6), std::runtime_error);
  EXPECT_EQ(q.size_approx(), 0u);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(q.try_push_weak(i));
  EXPECT_FALSE(q.try_push_weak(9));
}

// ---- timed and stoppable operations ----------------------------------------

using hotshard::queue_status;
using namespace std::chrono_literals;

TEST(bounded_queue, pop_for_on_an_empty_queue_times_out_and_leaves_the_output) {
  bounded_queue<int> q({.capacity = 4});
  int out = 7;
  EXPECT_EQ(q.pop_for(out, 2ms), queue_status::timed_out);
  EXPECT_EQ(q.pop_for(out, 0ms), queue_status::timed_out);
  EXPECT_EQ(q.pop_for(out, -5s), queue_status::timed_out);
  EXPECT_EQ(q.pop_until(out, std::chrono::steady_clock::now() - 1s), queue_status::timed_out);
  EXPECT_EQ(out, 7);
  ASSERT_TRUE(q.try_push_weak(3));
  EXPECT_EQ(q.pop_for(out, 0ms), queue_status::ok);  // a zero timeout is one try
  EXPECT_EQ(out, 3);
}

TEST(bounded_queue, push_for_on_a_full_queue_times_out_and_leaves_the_value) {
  bounded_queue<std::unique_ptr<int>> q({.capacity = 2});
  ASSERT_TRUE(q.try_push_weak(std::make_unique<int>(1)));
  ASSERT_TRUE(q.try_push_weak(std::make_unique<int>(2)));
  auto v = std::make_unique<int>(3);
  EXPECT_EQ(q.push_for(std::move(v), 2ms), queue_status::timed_out);
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(*v, 3);
  EXPECT_EQ(q.size_approx(), 2u);
}

TEST(bounded_queue, timed_operations_report_closed) {
  bounded_queue<int> q({.capacity = 2});
  ASSERT_TRUE(q.try_push_weak(1));
  q.close();
  EXPECT_EQ(q.push_for(2, 1h), queue_status::closed);
  int out = 0;
  EXPECT_EQ(q.pop_for(out, 1h), queue_status::ok);  // drains first
  EXPECT_EQ(out, 1);
  EXPECT_EQ(q.pop_for(out, 1h), queue_status::closed);
  std::stop_source never;
  EXPECT_EQ(q.pop(out, never.get_token()), queue_status::closed);
}

// A push made by another thread while pop_for waits (a huge timeout: the
// outcome cannot depend on timing) is received; the same for a pop freeing
// room for push_for. The clock saturates instead of overflowing.
TEST(bounded_queue, pop_for_receives_a_push_made_while_it_waits) {
  bounded_queue<int, hotshard::policy::contention_hook<sleep_stats>> q({.capacity = 2});
  const auto before = sleep_stats::waits.load();
  int out = 0;
  queue_status st = queue_status::closed;
  std::thread consumer([&] { st = q.pop_for(out, std::chrono::hours::max()); });
  wait_for_sleepers(before + 1);
  ASSERT_TRUE(q.try_push_weak(42));
  consumer.join();
  EXPECT_EQ(st, queue_status::ok);
  EXPECT_EQ(out, 42);

  ASSERT_TRUE(q.try_push_weak(1));
  ASSERT_TRUE(q.try_push_weak(2));
  const auto before_push = sleep_stats::waits.load();
  std::thread producer([&] { st = q.push_for(3, 24h); });
  wait_for_sleepers(before_push + 1);
  ASSERT_TRUE(q.try_pop_weak(out));
  producer.join();
  EXPECT_EQ(st, queue_status::ok);
  for (int want : {2, 3}) {
    ASSERT_TRUE(q.try_pop_weak(out));
    EXPECT_EQ(out, want);
  }
}

TEST(bounded_queue, a_stop_request_wakes_sleeping_pops_and_pushes) {
  bounded_queue<int, hotshard::policy::contention_hook<sleep_stats>> q({.capacity = 2});
  std::stop_source stop;
  constexpr int n = 8;
  std::atomic<int> stopped{0};
  std::vector<std::thread> threads;
  const auto before = sleep_stats::waits.load();
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      int out = 0;
      const queue_status st = i % 2 == 0 ? q.pop(out, stop.get_token()) : q.pop_for(out, 24h, stop.get_token());
      if (st == queue_status::stopped) stopped.fetch_add(1);
    });
  wait_for_sleepers(before + n);
  stop.request_stop();
  for (auto& th : threads) th.join();
  EXPECT_EQ(stopped.load(), n);

  ASSERT_TRUE(q.try_push_weak(1));
  ASSERT_TRUE(q.try_push_weak(2));
  std::stop_source stop_push;
  const auto before_push = sleep_stats::waits.load();
  queue_status st = queue_status::ok;
  std::thread producer([&] { st = q.push(3, stop_push.get_token()); });
  wait_for_sleepers(before_push + 1);
  stop_push.request_stop();
  producer.join();
  EXPECT_EQ(st, queue_status::stopped);
  EXPECT_EQ(q.size_approx(), 2u);
  int out = 0;
  EXPECT_EQ(q.pop(out, stop_push.get_token()), queue_status::ok);  // an element wins over the stop
  EXPECT_EQ(out, 1);
}

// Workers popping with tiny timeouts (they retry on timed_out) and stoppable
// workers beside plain ones, 8x the cores, on tiny rings: every item is popped
// exactly once, nobody stays asleep, and the stop ends the stoppable workers.
TEST(bounded_queue, timed_and_stoppable_workers_lose_and_duplicate_nothing) {
  for (std::size_t capacity : {std::size_t{2}, std::size_t{16}}) {
    bounded_queue<std::uint64_t, hotshard::detail::yielding_stats> q({.capacity = capacity});
    constexpr unsigned producers = 4, consumers = 12;
    const std::uint64_t per = 2000 / tsan_divisor;
    std::stop_source stop;
    std::atomic<std::uint64_t> popped{0};
    std::vector<std::vector<std::uint64_t>> seen(consumers);
    std::vector<std::thread> threads;
    for (unsigned c = 0; c < consumers; ++c)
      threads.emplace_back([&, c] {
        std::uint64_t v = 0;
        for (;;) {
          queue_status st = queue_status::ok;
          if (c % 3 == 0) st = q.pop_for(v, std::chrono::microseconds(1 + c * 7));
          else if (c % 3 == 1) st = q.pop(v, stop.get_token());
          else st = q.pop(v) ? queue_status::ok : queue_status::closed;
          if (st == queue_status::ok) {
            seen[c].push_back(v);
            popped.fetch_add(1);
          } else if (st != queue_status::timed_out) {
            return;  // stopped, or closed and drained
          }
        }
      });
    hotshard::test::run_threads(producers, [&](unsigned p) {
      for (std::uint64_t i = 0; i < per;) {
        const queue_status st = p % 2 == 0 ? q.push_for(item(p, i), std::chrono::microseconds(3)) : q.push(item(p, i), stop.get_token());
        ASSERT_NE(st, queue_status::closed);
        ASSERT_NE(st, queue_status::stopped);
        if (st == queue_status::ok) ++i;
      }
    });
    const auto deadline = std::chrono::steady_clock::now() + 60s;  // hang guard only
    while (popped.load() < producers * per) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "items left queued: a lost wake-up";
      std::this_thread::sleep_for(1ms);
    }
    stop.request_stop();
    q.close();
    for (auto& th : threads) th.join();
    std::vector<std::uint8_t> count(producers * per, 0);
    for (const auto& s : seen)
      for (auto v : s) ++count[producer_of(v) * per + seq_of(v)];
    for (std::size_t i = 0; i < count.size(); ++i) ASSERT_EQ(count[i], 1u) << "item " << i;
  }
}

// ---- stats() ----------------------------------------------------------------

static_assert(hotshard::detail::exportable_stats<hotshard::bounded_queue_stats>);

TEST(bounded_queue, stats_report_capacity_size_counts_and_closed) {
  bounded_queue<int> q({.capacity = 8});
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(q.try_push_weak(int{i}));
  int out = 0;
  ASSERT_TRUE(q.try_pop_weak(out));
  auto s = q.stats();
  EXPECT_EQ(s.capacity, 8u);
  EXPECT_EQ(s.size, 2u);
  EXPECT_EQ(s.pushes, 3u);
  EXPECT_EQ(s.pops, 1u);
  EXPECT_FALSE(s.closed);
  EXPECT_EQ(s.sleeping_consumers, 0u);
  EXPECT_EQ(s.sleeping_producers, 0u);
  q.close();
  s = q.stats();
  EXPECT_TRUE(s.closed);
  EXPECT_EQ(s.pushes, 3u);  // the closed bit is not counted as a push

  // for_each_metric: every number once, in order; `_total` exactly on counters.
  std::vector<std::string> names;
  s.for_each_metric([&](const hotshard::detail::metric& m) {
    names.emplace_back(m.name);
    const bool total = m.name.size() > 6 && m.name.substr(m.name.size() - 6) == "_total";
    EXPECT_EQ(total, m.kind == hotshard::detail::metric_kind::counter) << m.name;
    EXPECT_FALSE(m.help.empty()) << m.name;
    if (m.name == "closed") {
      EXPECT_EQ(m.value, 1.0);
    } else if (m.name == "size") {
      EXPECT_EQ(m.value, 2.0);
    } else if (m.name == "pushes_total") {
      EXPECT_EQ(m.value, 3.0);
    }
  });
  EXPECT_EQ(names, (std::vector<std::string>{"capacity", "size", "closed", "sleeping_consumers",
                                             "sleeping_producers", "pushes_total", "pops_total"}));
}

// Polls stats() until `get` reaches n (a sleeper that wakes spuriously leaves and re-registers).
template <class Q, class Get>
void wait_for_stat(const Q& q, Get get, std::uint64_t n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);  // hang guard only
  while (get(q.stats()) != n) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "stats() never reported " << n << " sleepers";
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

TEST(bounded_queue, stats_count_the_sleeping_consumers_and_producers) {
  bounded_queue<int, hotshard::policy::contention_hook<sleep_stats>> q({.capacity = 2});
  std::vector<std::thread> threads;
  std::atomic<int> popped{0};
  for (int i = 0; i < 3; ++i)
    threads.emplace_back([&] {
      int v = 0;
      if (q.pop(v)) popped.fetch_add(1);
    });
  wait_for_stat(q, [](const hotshard::bounded_queue_stats& s) { return s.sleeping_consumers; }, 3);
  EXPECT_EQ(q.stats().sleeping_producers, 0u);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(q.push(int{i}));
  for (auto& th : threads) th.join();
  threads.clear();
  EXPECT_EQ(popped.load(), 3);
  EXPECT_EQ(q.stats().sleeping_consumers, 0u);

  ASSERT_TRUE(q.try_push_weak(1));
  ASSERT_TRUE(q.try_push_weak(2));
  std::atomic<int> refused{0};
  for (int i = 0; i < 2; ++i)
    threads.emplace_back([&] {
      if (!q.push(3)) refused.fetch_add(1);
    });
  wait_for_stat(q, [](const hotshard::bounded_queue_stats& s) { return s.sleeping_producers; }, 2);
  q.close();
  for (auto& th : threads) th.join();
  EXPECT_EQ(refused.load(), 2);
  const auto s = q.stats();
  EXPECT_EQ(s.sleeping_producers, 0u);
  EXPECT_EQ(s.size, 2u);
}

// A metrics thread reading stats() while producers and consumers run (TSan
// checks the reads race with nothing): counts never go back, size stays in
// [0, capacity], and at the end the counts are exact.
TEST(bounded_queue, stats_read_concurrently_with_operations_are_monotonic_and_bounded) {
  constexpr std::size_t capacity = 16;
  const std::uint64_t per = 5000 / tsan_divisor;
  bounded_queue<std::uint64_t> q({.capacity = capacity});
  std::atomic<bool> done{false};
  std::thread reader([&] {
    std::uint64_t last_push = 0, last_pop = 0;
    while (!done.load(std::memory_order_acquire)) {
      const auto s = q.stats();
      EXPECT_GE(s.pushes, last_push);
      EXPECT_GE(s.pops, last_pop);
      EXPECT_LE(s.size, capacity);
      EXPECT_EQ(s.capacity, capacity);
      last_push = s.pushes;
      last_pop = s.pops;
      std::this_thread::yield();  // a metrics thread, not a fifth worker on two cores
    }
  });
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (std::uint64_t i = 0; i < per; ++i) ASSERT_TRUE(q.push(item(t, i)));
    });
    threads.emplace_back([&] {
      std::uint64_t v = 0;
      for (std::uint64_t i = 0; i < per; ++i) ASSERT_TRUE(q.pop(v));
    });
  }
  for (auto& th : threads) th.join();
  done.store(true, std::memory_order_release);
  reader.join();
  const auto s = q.stats();
  EXPECT_EQ(s.pushes, 2 * per);
  EXPECT_EQ(s.pops, 2 * per);
  EXPECT_EQ(s.size, 0u);
}
