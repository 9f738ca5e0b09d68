// The simulated partitioned store: token buckets, adaptive capacity and
// accounting, all with an injected clock so nothing depends on timing. Its
// routing (hash, ring, slots, range) is tested in test_routing.cpp.
#include <hotshard/harness/scenario.hpp>
#include <hotshard/harness/store.hpp>
#include <hotshard/test/support.hpp>
#if HOTSHARD_HAVE_HIREDIS
#include <hotshard/harness/redis_store.hpp>
#endif

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

using namespace hotshard::harness;

namespace {

// A manual clock shared by the store and the test.
struct fake_time {
  std::shared_ptr<std::atomic<std::int64_t>> ns = std::make_shared<std::atomic<std::int64_t>>(1'000'000'000);
  void advance(std::int64_t d) const { ns->fetch_add(d, std::memory_order_relaxed); }
  std::function<std::int64_t()> clock() const {
    auto p = ns;
    return [p] { return p->load(std::memory_order_relaxed); };
  }
  std::function<void(std::int64_t)> sleeper() const {
    auto p = ns;
    return [p](std::int64_t d) { p->fetch_add(d, std::memory_order_relaxed); };
  }
};

}  // namespace

TEST(store_capacity, throttles_at_the_configured_rate) {
  fake_time t;
  partitioned_store s({.partitions = 1, .capacity_ops_per_sec = 1000, .burst_seconds = 0.01,
                       .clock_ns = t.clock()});
  std::uint64_t accepted = 0, refused = 0;
  // 2000 attempts per simulated second for 5 s: twice the capacity.
  for (int i = 0; i < 10'000; ++i) {
    (s.write(1, 1) ? accepted : refused) += 1;
    t.advance(500'000);
  }
  // 5 s x 1000/s plus the initial bucket of 10 tokens.
  EXPECT_GE(accepted, 5000u);
  EXPECT_LE(accepted, 5011u);
  EXPECT_EQ(accepted + refused, 10'000u);
  EXPECT_EQ(s.value(1), static_cast<std::int64_t>(accepted));  // refused writes applied nothing
  EXPECT_EQ(s.backend_calls(), accepted);
  EXPECT_NEAR(s.throttled_fraction(), static_cast<double>(refused) / 10'000.0, 1e-12);
}

TEST(store_capacity, read_is_refused_when_throttled) {
  fake_time t;
  partitioned_store s({.partitions = 1, .capacity_ops_per_sec = 100, .burst_seconds = 0.01,
                       .clock_ns = t.clock()});
  ASSERT_TRUE(s.write(5, 3));  // the bucket's single token
  EXPECT_FALSE(s.read(5).has_value());
  t.advance(10'000'000);  // one token at 100/s
  EXPECT_EQ(s.read(5), 3);
}

TEST(store_capacity, delay_policy_accepts_everything_at_the_configured_rate) {
  fake_time t;
  partitioned_store s({.partitions = 1, .capacity_ops_per_sec = 1000, .burst_seconds = 0.01,
                       .overload = overload_policy::delay, .clock_ns = t.clock(), .sleep_ns = t.sleeper()});
  const std::int64_t start = t.clock()();
  for (int i = 0; i < 110; ++i) ASSERT_TRUE(s.write(1, 1));
  // 10 from the bucket, then 100 that each waited for the next token (1 ms).
  EXPECT_NEAR(static_cast<double>(t.clock()() - start), 100e6, 1e6);
  EXPECT_EQ(s.value(1), 110);
  EXPECT_EQ(s.throttled(), 0u);
  EXPECT_GE(s.metrics()["partition_latency_ns"][0]["max"].get<std::uint64_t>(), 900'000u);
}

TEST(store_capacity, adaptive_capacity_lends_unused_capacity_up_to_the_ceiling) {
  fake_time t;
  partitioned_store s({.partitions = 4, .routing = routing_kind::range, .key_space = 4,
                       .capacity_ops_per_sec = 1000, .burst_seconds = 0.01, .adaptive = true,
                       .adaptive_ceiling = 2.0, .clock_ns = t.clock()});
  // Only partition 0 (key 0) is loaded, at 10x its base capacity, for 5 s.
  std::uint64_t accepted = 0;
  for (int i = 0; i < 50'000; ++i) {
    accepted += s.write(0, 1) ? 1 : 0;
    t.advance(100'000);
  }
  // Ceiling: 2 x 1000/s x 5 s, plus the two buckets' initial depth (10 + 10).
  EXPECT_LE(accepted, 10'020u);
  EXPECT_GE(accepted, 9'900u);  // it did borrow: base capacity alone is 5,010
  EXPECT_GT(s.partition_borrowed()[0], 4'800u);
}

TEST(store_capacity, adaptive_capacity_lends_nothing_when_every_partition_is_busy) {
  fake_time t;
  partitioned_store s({.partitions = 4, .routing = routing_kind::range, .key_space = 4,
                       .capacity_ops_per_sec = 1000, .burst_seconds = 0.01, .adaptive = true,
                       .adaptive_ceiling = 3.0, .clock_ns = t.clock()});
  for (int i = 0; i < 20'000; ++i) {
    for (std::uint64_t k = 0; k < 4; ++k) (void)s.write(k, 1);
    t.advance(250'000);  // each partition asked 4000/s for 5 s
  }
  // The store as a whole never exceeds P x capacity (+ the initial buckets and pool).
  EXPECT_LE(s.backend_calls(), 4u * 5000u + 4u * 10u + 40u + 4u);
  for (auto ops : s.partition_ops()) EXPECT_GE(ops, 5000u);
}

TEST(store_capacity, a_ceiling_of_one_never_lends) {
  fake_time t;
  partitioned_store s({.partitions = 2, .routing = routing_kind::range, .key_space = 2,
                       .capacity_ops_per_sec = 1000, .burst_seconds = 0.01, .adaptive = true,
                       .adaptive_ceiling = 1.0, .clock_ns = t.clock()});
  std::uint64_t accepted = 0;
  for (int i = 0; i < 20'000; ++i) {
    accepted += s.write(0, 1) ? 1 : 0;
    t.advance(100'000);
  }
  EXPECT_LE(accepted, 2011u);
}

TEST(store_metrics, counts_per_partition_and_builds_a_time_series) {
  fake_time t;
  partitioned_store s({.partitions = 2, .routing = routing_kind::range, .key_space = 2,
                       .series_interval_seconds = 0.1, .clock_ns = t.clock()});
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(s.write(0, 2));
    if (i % 3 == 0) {
      ASSERT_TRUE(s.read(1).has_value());
    }
    t.advance(10'000'000);  // 10 ops per 100 ms interval on partition 0
  }
  EXPECT_EQ(s.partition_ops(), (std::vector<std::uint64_t>{30, 10}));
  EXPECT_EQ(s.total(), 60);
  EXPECT_DOUBLE_EQ(s.max_over_median(), 30.0 / 20.0);
  const auto m = s.metrics();
  for (const char* k : {"partitions", "partition_ops", "max_over_median", "throttled_fraction", "backend_calls",
                        "partition_series", "partition_latency_ns"})
    EXPECT_TRUE(m.contains(k)) << k;
  EXPECT_EQ(m["partition_series"][0], (nlohmann::json{10, 10, 10}));
  EXPECT_EQ(m["backend_calls"].get<std::uint64_t>(), 40u);
}

TEST(store_concurrency, many_threads_lose_no_write) {
  partitioned_store s({.partitions = 8, .routing = routing_kind::ring});
  constexpr int threads = 16, per_thread = 2000;
  hotshard::test::run_threads(threads, [&s](unsigned t) {
    for (int i = 0; i < per_thread; ++i) {
      ASSERT_TRUE(s.write(static_cast<std::uint64_t>((i * 31 + static_cast<int>(t)) % 97), 1));
      if (i % 4 == 0) (void)s.read(static_cast<std::uint64_t>(i % 97));
    }
  });
  EXPECT_EQ(s.total(), threads * per_thread);
  EXPECT_EQ(s.backend_calls(), static_cast<std::uint64_t>(threads * per_thread + threads * per_thread / 4));
}

TEST(store_config, bad_overload_names_are_usage_errors) {
  EXPECT_THROW((void)parse_overload("drop"), usage_error);
}

// The backend interface: max/median as both backends report it.
TEST(store_backend, max_over_median_of_uses_the_middle_two_of_an_even_count) {
  using hotshard::harness::max_over_median_of;
  EXPECT_DOUBLE_EQ(max_over_median_of({}), 0.0);
  EXPECT_DOUBLE_EQ(max_over_median_of({0, 0}), 0.0);
  EXPECT_DOUBLE_EQ(max_over_median_of({10, 2, 4, 6}), 2.0);  // median (4 + 6) / 2
  EXPECT_DOUBLE_EQ(max_over_median_of({9, 0, 0}), 9.0);      // a zero median counts as 1
}

// write_batch's default (the simulated store): write() on each entry in
// order — the same verdicts, values and counts as writing one by one.
TEST(store_backend, write_batch_default_is_write_on_each_entry_in_order) {
  fake_time t1, t2;
  partitioned_store batched({.partitions = 2, .capacity_ops_per_sec = 100, .burst_seconds = 0.03, .clock_ns = t1.clock()});
  partitioned_store single({.partitions = 2, .capacity_ops_per_sec = 100, .burst_seconds = 0.03, .clock_ns = t2.clock()});
  std::vector<store_write> writes;
  for (std::uint64_t i = 0; i < 12; ++i) writes.push_back({i % 3, static_cast<std::int64_t>(i + 1), false});
  store_backend& b = batched;
  b.write_batch(writes);  // through the interface: the default
  std::size_t applied = 0;
  for (const auto& w : writes) {
    EXPECT_EQ(w.applied, single.write(w.key, w.delta)) << "key " << w.key << " delta " << w.delta;
    applied += w.applied ? 1 : 0;
  }
  EXPECT_GT(applied, 0u);
  EXPECT_LT(applied, writes.size());  // the buckets (3 tokens each) refused some
  for (std::uint64_t k = 0; k < 3; ++k) EXPECT_EQ(batched.value(k), single.value(k)) << "key " << k;
  EXPECT_EQ(batched.partition_ops(), single.partition_ops());
  EXPECT_EQ(batched.partition_throttled(), single.partition_throttled());
}

// The `store` knob of every scenario: sim is the scenario's own simulated store
// (nullptr), anything but sim or redis:// is a usage error naming the knob.
TEST(store_backend, open_store_backend_names_the_knob_for_a_bad_value) {
  using hotshard::harness::open_store_backend;
  EXPECT_EQ(open_store_backend("sim"), nullptr);
  for (const char* bad : {"", "simulated", "redis:/h:1", "memcached://h:1"}) {
    try {
      (void)open_store_backend(bad);
      ADD_FAILURE() << "'" << bad << "' was accepted";
    } catch (const hotshard::harness::usage_error& e) {
      EXPECT_NE(std::string(e.what()).find("--set store"), std::string::npos) << e.what();
    }
  }
}

#if HOTSHARD_HAVE_HIREDIS
TEST(redis_store, url_parsing_names_a_bad_store_value) {
  using hotshard::harness::parse_redis_url;
  const auto c = parse_redis_url("redis://127.0.0.1:7001");
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_EQ(c.port, 7001);
  for (const char* bad : {"redis://127.0.0.1", "redis://:7000", "http://h:1", "redis://h:0", "redis://h:70000",
                          "redis://h:12x"}) {
    try {
      (void)parse_redis_url(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const hotshard::harness::usage_error& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

TEST(redis_store, an_unreachable_seed_fails_fast_naming_the_address) {
  // Port 1 on loopback: nothing listens, the connect is refused at once.
  hotshard::harness::redis_store_config c;
  c.port = 1;
  c.connect_timeout = std::chrono::milliseconds(200);
  try {
    hotshard::harness::redis_store s(c);
    ADD_FAILURE() << "constructed against a closed port";
  } catch (const hotshard::harness::run_failure& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:1"), std::string::npos) << e.what();
  }
}
#endif
