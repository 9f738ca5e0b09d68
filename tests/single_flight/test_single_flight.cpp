// Tests of hotshard/single_flight.hpp: semantics, then stress with more
// threads than cores. Waits in these tests are conditions, never timings.
#include "sf_test_support.hpp"

#include <hotshard/concepts/single_flight.hpp>
#include <hotshard/single_flight.hpp>
#include <hotshard/test/support.hpp>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <stop_token>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

constexpr bool under_tsan = hotshard::test::thread_sanitizer;

// Stats hook that tells a test how many callers are blocked on a flight's
// result: wait() when a caller goes to sleep on it, spin() when that flight
// turned out to be a beaten claim and the caller goes round again. Each test
// gets its own counter through the Tag.
template <class Tag>
struct waiter_count {
  static inline std::atomic<long> net{0};
  static void wait() noexcept { net.fetch_add(1, std::memory_order_seq_cst); }
  static void spin() noexcept { net.fetch_sub(1, std::memory_order_seq_cst); }
  static void cas_failure() noexcept {}
  static void await(long n) {
    while (net.load(std::memory_order_seq_cst) < n) std::this_thread::sleep_for(20us);
  }
};

void await_flag(const std::atomic<bool>& f) {
  while (!f.load(std::memory_order_acquire)) std::this_thread::sleep_for(20us);
}

using table = hotshard::single_flight<std::uint64_t, std::uint64_t>;
static_assert(hotshard::concepts::single_flight_table<table>);

TEST(single_flight, run_calls_the_loader_and_returns_its_value_unshared) {
  table sf;
  int calls = 0;
  const auto r = sf.run(42, [&] {
    ++calls;
    return std::uint64_t{7};
  });
  EXPECT_EQ(r.value, 7u);
  EXPECT_FALSE(r.shared());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(sf.stats().flights, 1u);
  EXPECT_EQ(sf.unsafe_slots_in_use(), 0u);
}

TEST(single_flight, a_finished_flight_is_not_a_cache_the_next_call_loads_again) {
  table sf;
  int calls = 0;
  auto loader = [&] { return std::uint64_t(++calls); };
  EXPECT_EQ(sf.run(1, loader).value, 1u);
  EXPECT_EQ(sf.run(1, loader).value, 2u);
}

struct herd_tag {};
TEST(single_flight, a_herd_of_256_threads_makes_exactly_one_loader_call_per_wave) {
  using hook = waiter_count<herd_tag>;
  constexpr unsigned threads = 256;
  const unsigned waves = under_tsan ? 300 : 1000;
  hotshard::single_flight<std::uint64_t, std::uint64_t, hotshard::policy::contention_hook<hook>> sf({.capacity = 1024});
  std::atomic<std::uint64_t> calls{0};
  std::atomic<std::uint64_t> wrong{0};
  std::atomic<long> wave_calls{0};
  std::barrier sync(threads, [&]() noexcept {
    hook::net.store(0, std::memory_order_seq_cst);
    wave_calls.store(0, std::memory_order_seq_cst);
  });
  hotshard::test::run_threads(threads, [&](unsigned) {
    for (unsigned w = 0; w < waves; ++w) {
      sync.arrive_and_wait();
      // The loader returns only once every other caller waits on it (or
      // runs a loader too, which the count below reports instead of
      // hanging), so the wave has exactly one flight iff coalescing works.
      const auto r = sf.run(w % 7, [&] {
        calls.fetch_add(1, std::memory_order_relaxed);
        wave_calls.fetch_add(1, std::memory_order_seq_cst);
        while (hook::net.load(std::memory_order_seq_cst) + wave_calls.load(std::memory_order_seq_cst) <
               static_cast<long>(threads))
          std::this_thread::sleep_for(20us);
        return std::uint64_t{w} * 1000 + 1;
      });
      if (r.value != std::uint64_t{w} * 1000 + 1) wrong.fetch_add(1, std::memory_order_relaxed);
      sync.arrive_and_wait();
    }
  });
  EXPECT_EQ(calls.load(), waves);
  EXPECT_EQ(wrong.load(), 0u);
  const auto st = sf.stats();
  EXPECT_EQ(st.flights, waves);
  EXPECT_EQ(st.joins, std::uint64_t{waves} * (threads - 1));
  EXPECT_EQ(st.overflow, 0u);
  EXPECT_EQ(sf.unsafe_slots_in_use(), 0u);
}

struct error_tag {};
TEST(single_flight, a_loader_exception_reaches_every_waiter_and_does_not_poison_the_key) {
  using hook = waiter_count<error_tag>;
  constexpr unsigned threads = 16;
  hotshard::single_flight<std::uint64_t, std::uint64_t, hotshard::policy::contention_hook<hook>> sf({.capacity = 64});
  std::atomic<long> calls{0};
  std::atomic<int> caught{0}, own{0}, shared{0};
  std::barrier sync(threads);
  hotshard::test::run_threads(threads, [&](unsigned) {
    sync.arrive_and_wait();
    const auto r = sf.run(5, [&]() -> std::uint64_t {
      calls.fetch_add(1, std::memory_order_seq_cst);
      while (hook::net.load(std::memory_order_seq_cst) + calls.load(std::memory_order_seq_cst) <
             static_cast<long>(threads))
        std::this_thread::sleep_for(20us);
      throw std::runtime_error("backend down");
    });
    // A failure is a status, with the exception and where it came from.
    if (r.failed() && !r.value) (r.origin == hotshard::load_origin::own ? own : shared).fetch_add(1);
    try {
      (void)r.get();
    } catch (const std::runtime_error& e) {
      if (std::string(e.what()) == "backend down") caught.fetch_add(1);
    }
  });
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(caught.load(), static_cast<int>(threads));
  EXPECT_EQ(own.load(), 1);  // the leader's own load threw
  EXPECT_EQ(shared.load(), static_cast<int>(threads) - 1);
  const auto r = sf.run(5, [] { return std::uint64_t{9}; });
  EXPECT_EQ(r.value, 9u);
  EXPECT_FALSE(r.shared());
  EXPECT_EQ(sf.unsafe_slots_in_use(), 0u);
}

struct timeout_tag {};
TEST(single_flight, run_for_reports_a_timeout_and_the_flight_goes_on_for_the_others) {
  using hook = waiter_count<timeout_tag>;
  hotshard::single_flight<std::uint64_t, std::uint64_t, hotshard::policy::contention_hook<hook>> sf({.capacity = 64});
  std::atomic<bool> started{false}, release{false};
  std::thread leader([&] {
    const auto r = sf.run(3, [&] {
      started.store(true, std::memory_order_release);
      await_flag(release);
      return std::uint64_t{33};
    });
    EXPECT_EQ(r.value, 33u);
    EXPECT_FALSE(r.shared());
  });
  await_flag(started);
  bool fallback_called = false;
  const auto gave_up = sf.run_for(3, 2ms, [&] {
    fallback_called = true;
    return std::uint64_t{0};
  });
  EXPECT_TRUE(gave_up.timed_out());
  EXPECT_FALSE(gave_up.value.has_value());
  EXPECT_FALSE(fallback_called);
  EXPECT_EQ(sf.stats().timeouts, 1u);
  // A patient waiter still gets the flight's result.
  hook::net.store(0);
  std::thread patient([&] {
    const auto r = sf.run_for(3, 60s, [] { return std::uint64_t{0}; });
    EXPECT_EQ(r.status, hotshard::load_status::shared);
    EXPECT_EQ(r.value.value_or(0), 33u);
  });
  hook::await(1);
  release.store(true, std::memory_order_release);
  leader.join();
  patient.join();
  EXPECT_EQ(sf.stats().flights, 1u);
  EXPECT_EQ(sf.unsafe_slots_in_use(), 0u);
}

TEST(single_flight, run_for_of_a_leader_returns_loaded) {
  table sf;
  const auto r = sf.run_for(8, 1ms, [] { return std::uint64_t{4}; });
  EXPECT_EQ(r.status, hotshard::load_status::loaded);
  EXPECT_EQ(r.value.value_or(0), 4u);
}

struct forget_tag {};
// golang/go#31420: after Forget, flight A finishing removed flight B's entry,
// so a third caller started a third load. Here C must join B.
TEST(single_flight, forget_starts_a_new_flight_and_the_stale_flight_never_removes_its_successor) {
  using hook = waiter_count<forget_tag>;
  hotshard::single_flight<std::uint64_t, std::uint64_t, hotshard::policy::contention_hook<hook>> sf({.capacity = 64});
  std::atomic<bool> a_started{false}, a_release{false}, b_started{false}, b_release{false};
  std::atomic<int> c_loads{0};
  std::thread a([&] {
    const auto r = sf.run(11, [&] {
      a_started.store(true, std::memory_order_release);
      await_flag(a_release);
      return std::uint64_t{1};
    });
    EXPECT_EQ(r.value, 1u);
  });
  await_flag(a_started);
  EXPECT_TRUE(sf.forget(11));
  std::thread b([&] {
    const auto r = sf.run(11, [&] {
      b_started.store(true, std::memory_order_release);
      await_flag(b_release);
      return std::uint64_t{2};
    });
    EXPECT_EQ(r.value, 2u);
    EXPECT_FALSE(r.shared());
  });
  await_flag(b_started);  // B is a new flight: its loader runs while A's still does
  a_release.store(true, std::memory_order_release);
  a.join();  // the stale flight has finished and left
  hook::net.store(0);
  std::thread c([&] {
    const auto r = sf.run(11, [&] {
      c_loads.fetch_add(1);
      return std::uint64_t{3};
    });
    EXPECT_EQ(r.value, 2u);
    EXPECT_TRUE(r.shared());
  });
  hook::await(1);
  b_release.store(true, std::memory_order_release);
  b.join();
  c.join();
  EXPECT_EQ(c_loads.load(), 0);
  EXPECT_EQ(sf.stats().flights, 2u);
  EXPECT_FALSE(sf.forget(11));
  EXPECT_EQ(sf.unsafe_slots_in_use(), 0u);
}

TEST(single_flight, a_full_table_makes_the_caller_load_alone_and_counts_overflow) {
  table sf({.capacity = 8, .window = 8});  // every key's window is the whole table
  ASSERT_EQ(sf.capacity(), 8u);
  std::atomic<int> started{0};
  std::atomic<bool> release{false};
  std::vector<std::thread> holders;
  for (std::uint64_t k = 0; k < 8; ++k) {
    holders.emplace_back([&, k] {
      (void)sf.run(k, [&] {
        started.fetch_add(1);
        await_flag(release);
        return k;
      });
    });
  }
  while (started.load() < 8) std::this_thread::sleep_for(20us);
  const auto r = sf.run(100, [] { return std::uint64_t{100}; });
  EXPECT_EQ(r.value, 100u);
  EXPECT_FALSE(r.shared());
  EXPECT_EQ(sf.stats().overflow, 1u);
  release.store(true, std::memory_order_release);
  for (auto& th : holders) th.join();
  EXPECT_EQ(sf.stats().flights, 8u);
  EXPECT_EQ(sf.unsafe_slots_in_use(), 0u);
  // The export shape carries the same numbers.
  std::map<std::string, double> m;
  sf.stats().for_each_metric([&](const hotshard::detail::metric& x) { m[std::string(x.name)] = x.value; });
  EXPECT_EQ(m["flights_total"], 8.0);
  EXPECT_EQ(m["overflow_total"], 1.0);
}

static_assert(hotshard::detail::exportable_stats<hotshard::single_flight_stats>);

TEST(single_flight, stats_export_every_field_as_a_counter_named_total) {
  const hotshard::single_flight_stats st{.flights = 11, .joins = 22, .timeouts = 33, .overflow = 44};
  std::vector<hotshard::detail::metric> got;
  st.for_each_metric([&](const hotshard::detail::metric& m) { got.push_back(m); });
  const std::vector<std::pair<std::string, double>> want = {
      {"flights_total", 11}, {"joins_total", 22}, {"timeouts_total", 33}, {"overflow_total", 44}};
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].name, want[i].first);
    EXPECT_EQ(got[i].value, want[i].second) << want[i].first;
    EXPECT_EQ(got[i].kind, hotshard::detail::metric_kind::counter);
    EXPECT_FALSE(got[i].help.empty());
  }
}

TEST(single_flight, no_slot_is_leaked_after_a_million_flights_and_values_never_mix) {
  constexpr unsigned threads = 16;
  const std::uint64_t total = 1'000'000;
  table sf({.capacity = 64, .window = 8});
  std::atomic<std::uint64_t> loads{0}, wrong{0};
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::uint64_t x = t + 1;
      for (std::uint64_t i = 0; i < total / threads; ++i) {
        x = hotshard::detail::mix64(x);
        const std::uint64_t key = x % 48;  // few keys: joins, kills and slot reuse all happen
        const auto r = sf.run(key, [&] {
          loads.fetch_add(1, std::memory_order_relaxed);
          return key * 3 + 1;
        });
        if (r.value != key * 3 + 1) wrong.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  // A metrics thread reads stats() all along: each counter only grows (every
  // number is a value it had during the call), and reading never disturbs the table.
  std::atomic<bool> done{false};
  std::uint64_t snapshots = 0, went_back = 0;
  std::thread metrics([&] {
    hotshard::single_flight_stats last{};
    while (!done.load(std::memory_order_acquire)) {
      const auto now = sf.stats();
      went_back += now.flights < last.flights || now.joins < last.joins || now.overflow < last.overflow;
      last = now;
      ++snapshots;
    }
  });
  for (auto& th : pool) th.join();
  done.store(true, std::memory_order_release);
  metrics.join();
  EXPECT_GT(snapshots, 0u);
  EXPECT_EQ(went_back, 0u);
  const auto st = sf.stats();
  EXPECT_EQ(wrong.load(), 0u);
  EXPECT_EQ(st.flights + st.overflow, loads.load());
  EXPECT_EQ(st.flights + st.overflow + st.joins, total / threads * threads);
  EXPECT_EQ(sf.unsafe_slots_in_use(), 0u);
}

// Racing claims for one key: two flights of one key never run their loaders
// at the same time. With 8 threads no key's 32-slot window can fill (each
// thread holds at most two slots), so nobody is pushed to load alone.
TEST(single_flight, two_flights_of_one_key_never_load_at_the_same_time) {
  constexpr unsigned threads = 8;
  constexpr std::uint64_t keys = 4;
  constexpr unsigned per_thread = hotshard::test::thread_sanitizer ? 5000 : 20000;
  table sf({.capacity = 64, .window = 32});
  // The window never fills here, but a claimer preempted mid-claim for over
  // ~1 ms makes its rivals give up and load alone (overflow): only flights
  // must never overlap.
  sf_test::flight_overlap_probe<keys> probe;
  hotshard::test::run_threads(threads, [&](unsigned t) {
    for (unsigned i = 0; i < per_thread; ++i) {
      const std::uint64_t key = (i * 7 + t) % keys;
      (void)sf.run(key, probe.loader(key, [] {
        for (int spin = 0; spin < 50; ++spin) hotshard::detail::cpu_relax();
      }));
    }
  });
  EXPECT_EQ(probe.overlaps.load(), 0u);
  EXPECT_EQ(probe.alone.load(), sf.stats().overflow);
  EXPECT_EQ(probe.flights.load(), sf.stats().flights);
  EXPECT_GT(probe.flights.load(), 0u);
  EXPECT_EQ(sf.unsafe_slots_in_use(), 0u);
}

TEST(single_flight, works_with_string_keys_and_values) {
  hotshard::single_flight<std::string, std::string> sf({.capacity = 16});
  const auto r = sf.run("user:1", [] { return std::string(100, 'x'); });
  EXPECT_EQ(r.value->size(), 100u);
  EXPECT_TRUE(sf.forget("user:1") == false);
}

// --- issue 16: cancellation, bulk, heterogeneous lookup -------------------------

using result = hotshard::load_result<std::uint64_t>;
const auto never_called = []() -> std::uint64_t { throw std::logic_error("joiners must not load"); };

struct cancel_tag {};
// The flight's stop_token fires exactly when the last interested caller
// leaves: not while a joiner (or the leader's caller) still waits. Each step
// is ordered by the test (waiter-count hook, joins), no timing decides it.
TEST(single_flight, the_loader_is_told_to_stop_exactly_when_the_last_waiter_gives_up) {
  using hook = waiter_count<cancel_tag>;
  hotshard::single_flight<std::uint64_t, std::uint64_t, hotshard::policy::contention_hook<hook>> sf({.capacity = 64});
  std::stop_source leader_src, a_src, b_src;
  std::stop_token seen;  // the loader's token, published by `started`
  std::atomic<bool> started{false}, release{false};
  std::optional<result> leader_r, a_r, b_r;
  std::thread leader([&] {
    leader_r = sf.run(
        1,
        [&](std::stop_token st) -> std::uint64_t {
          seen = st;
          started.store(true, std::memory_order_release);
          while (!release.load(std::memory_order_acquire)) std::this_thread::sleep_for(20us);
          if (st.stop_requested()) throw std::runtime_error("stopped");
          return 42;
        },
        leader_src.get_token());
  });
  await_flag(started);
  ASSERT_TRUE(seen.stop_possible());
  std::thread a([&] { a_r = sf.run(1, never_called, a_src.get_token()); });
  std::thread b([&] { b_r = sf.run_for(1, std::chrono::hours(1), never_called, b_src.get_token()); });
  hook::await(2);
  // A joiner that times out at once leaves too; three still want the result.
  EXPECT_EQ(sf.run_for(1, 0ns, never_called).status, hotshard::load_status::timed_out);
  EXPECT_FALSE(seen.stop_requested());
  a_src.request_stop();
  a.join();
  EXPECT_EQ(a_r->status, hotshard::load_status::cancelled);
  EXPECT_FALSE(seen.stop_requested());  // b and the leader's caller remain
  b_src.request_stop();
  b.join();
  EXPECT_EQ(b_r->status, hotshard::load_status::cancelled);
  EXPECT_FALSE(seen.stop_requested());  // the leader's caller remains
  leader_src.request_stop();            // the last one: its callback asks the loader to stop, synchronously
  EXPECT_TRUE(seen.stop_requested());
  // The abandoned flight is no longer joinable: a new caller loads anew.
  const auto fresh = sf.run(1, [] { return std::uint64_t{7}; });
  EXPECT_EQ(fresh.status, hotshard::load_status::loaded);
  EXPECT_EQ(fresh.value, 7u);
  release.store(true, std::memory_order_release);
  leader.join();
  EXPECT_EQ(leader_r->status, hotshard::load_status::cancelled);  // its loader threw after its stop
  EXPECT_EQ(sf.stats().timeouts, 3u);
  EXPECT_EQ(sf.unsafe_slots_in_use(), 0u);
}

TEST(single_flight, a_caller_whose_stop_token_is_already_requested_neither_waits_nor_loads) {
  table sf({.capacity = 64});
  std::stop_source src;
  src.request_stop();
  EXPECT_EQ(sf.run(1, never_called, src.get_token()).status, hotshard::load_status::cancelled);
  EXPECT_THROW((void)sf.run(1, never_called, src.get_token()).get(), hotshard::load_abandoned);
  // A loader without a stop_token costs the flight no stop_source.
  EXPECT_EQ(sf.run(1, [] { return std::uint64_t{3}; }).get(), 3u);
}

struct bulk_tag {};
// Caffeine's getAll: 100 keys, 50 of them in flight -> those 50 join their
// flights and ONE bulk call loads the other 50.
TEST(single_flight, run_all_joins_the_flights_in_progress_and_loads_the_rest_in_one_bulk_call) {
  using hook = waiter_count<bulk_tag>;
  hotshard::single_flight<std::uint64_t, std::uint64_t, hotshard::policy::contention_hook<hook>> sf(
      {.capacity = 4096, .seed = 1});
  std::atomic<int> started{0}, bulk_calls{0};
  std::atomic<bool> release{false};
  std::vector<std::thread> leaders;
  for (std::uint64_t k = 0; k < 100; k += 2)
    leaders.emplace_back([&, k] {
      EXPECT_EQ(sf.run(k, [&, k] {
                      started.fetch_add(1);
                      while (!release.load(std::memory_order_acquire)) std::this_thread::sleep_for(20us);
                      return k * 10 + 1;
                    }).get(),
                k * 10 + 1);
    });
  while (started.load() < 50) std::this_thread::sleep_for(20us);
  std::vector<std::uint64_t> keys(100), asked;
  for (std::uint64_t k = 0; k < 100; ++k) keys[k] = k;
  std::vector<result> got;
  std::thread bulk_caller([&] {
    got = sf.run_all(keys, [&](std::span<const std::uint64_t> ks) {
      bulk_calls.fetch_add(1);
      asked.assign(ks.begin(), ks.end());
      std::map<std::uint64_t, std::uint64_t> m;
      for (auto k : ks) m[k] = k * 10;
      return m;
    });
  });
  while (bulk_calls.load() < 1) std::this_thread::sleep_for(20us);  // published before it waits for the joined flights
  release.store(true, std::memory_order_release);
  bulk_caller.join();
  for (auto& t : leaders) t.join();
  EXPECT_EQ(bulk_calls.load(), 1);
  ASSERT_EQ(asked.size(), 50u);
  for (auto k : asked) EXPECT_EQ(k % 2, 1u);
  ASSERT_EQ(got.size(), 100u);
  for (std::uint64_t k = 0; k < 100; ++k) {
    EXPECT_EQ(got[k].status, k % 2 == 0 ? hotshard::load_status::shared : hotshard::load_status::loaded) << k;
    EXPECT_EQ(got[k].value, k % 2 == 0 ? k * 10 + 1 : k * 10) << k;
  }
  EXPECT_EQ(sf.unsafe_slots_in_use(), 0u);
}

// Chosen: a key the bulk result omits fails with hotshard::missing_key (origin
// own); a throwing bulk loader fails every key it was asked for with its
// exception. Either way no slot stays held and the next call loads anew.
TEST(single_flight, run_all_reports_omitted_keys_and_a_throwing_bulk_loader_as_failed_without_leaking) {
  table sf({.capacity = 64, .seed = 3});
  const std::vector<std::uint64_t> keys{1, 2, 3, 2};  // a duplicate shares its key's flight
  int calls = 0;
  auto r = sf.run_all(keys, [&](std::span<const std::uint64_t> ks) {
    ++calls;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> v;
    for (auto k : ks)
      if (k != 3) v.emplace_back(k, k + 100);
    return v;
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(r[0].value, 101u);
  EXPECT_EQ(r[1].value, 102u);
  EXPECT_EQ(r[3].value, 102u);
  EXPECT_TRUE(r[1].status == hotshard::load_status::loaded);
  EXPECT_TRUE(r[3].status == hotshard::load_status::shared);
  ASSERT_TRUE(r[2].failed());
  EXPECT_EQ(r[2].origin, hotshard::load_origin::own);
  EXPECT_THROW(std::rethrow_exception(r[2].error), hotshard::missing_key);
  EXPECT_EQ(sf.unsafe_slots_in_use(), 0u);

  auto t = sf.run_all(keys, [&](std::span<const std::uint64_t>) -> std::map<std::uint64_t, std::uint64_t> {
    ++calls;
    throw std::runtime_error("bulk down");
  });
  EXPECT_EQ(calls, 2);
  for (const auto& x : t) {
    ASSERT_TRUE(x.failed());
    EXPECT_THROW(std::rethrow_exception(x.error), std::runtime_error);
  }
  EXPECT_EQ(t[0].origin, hotshard::load_origin::own);
  EXPECT_EQ(t[3].origin, hotshard::load_origin::shared);  // the duplicate joined its own call's flight
  EXPECT_EQ(sf.unsafe_slots_in_use(), 0u);
  EXPECT_EQ(sf.run(3, [] { return std::uint64_t{5}; }).get(), 5u);
}

struct hetero_tag {};
TEST(single_flight, a_string_view_joins_the_flight_of_its_std_string_key) {
  using hook = waiter_count<hetero_tag>;
  hotshard::single_flight<std::string, int, hotshard::policy::contention_hook<hook>> sf({.capacity = 64});
  std::atomic<bool> started{false}, release{false};
  std::thread leader([&] {
    EXPECT_EQ(sf.run(std::string("user:1"), [&] {
                  started.store(true, std::memory_order_release);
                  while (!release.load(std::memory_order_acquire)) std::this_thread::sleep_for(20us);
                  return 1;
                }).get(),
              1);
  });
  await_flag(started);
  std::optional<hotshard::load_result<int>> r;
  std::thread joiner([&] { r = sf.run(std::string_view("user:1"), [] { return 2; }); });
  hook::await(1);
  release.store(true, std::memory_order_release);
  joiner.join();
  leader.join();
  EXPECT_EQ(r->status, hotshard::load_status::shared);
  EXPECT_EQ(r->value, 1);
  static_assert(std::is_invocable_v<hotshard::policy::hash<std::string>, std::string_view>);
}

}  // namespace
