// Staleness accounting of the hot-partition client: the log arithmetic on
// hand-made events, then the client's own reads through a cache and a write
// buffer, one thread, simulated time (every op is one period: 5 µs at the
// default 200 k ops/s).
#include <hotshard/harness/hot_partition/client.hpp>
#include <hotshard/harness/hot_partition/staleness.hpp>

#include <gtest/gtest.h>

#include <vector>

namespace hp = hotshard::harness::hot_partition;
using hotshard::workloads::op_kind;

namespace {

hp::client_config fast(bool write_invalidates) {
  hp::client_config cc;
  cc.backend_read_us = 0;
  cc.headroom = 1000;  // no throttling: only staleness is under test
  cc.write_invalidates = write_invalidates;
  return cc;
}

}  // namespace

TEST(staleness, a_read_is_stale_by_the_age_of_the_oldest_acknowledged_write_it_misses) {
  hp::staleness_log log;
  log.writes = {{1, 100}, {1, 200}, {1, 300}, {2, 50}};
  log.reads = {
      {1, 150, 1},  // reflects the write at 100: current
      {1, 350, 1},  // misses the writes at 200 and 300: stale by 350 - 200
      {1, 250, 3},  // reflects more than was acknowledged (a write applied before its ack): current
      {2, 60, 0},   // misses the write at 50: stale by 10
      {3, 70, 0},   // a key never written: current
  };
  const auto s = hp::summarize_staleness(std::vector<hp::staleness_log>{log});
  EXPECT_EQ(s.reads, 5u);
  EXPECT_EQ(s.stale, 2u);
  EXPECT_DOUBLE_EQ(s.stale_fraction(), 0.4);
  EXPECT_EQ(s.age.max(), 150u);
  EXPECT_EQ(s.age.count(), 5u);
}

TEST(staleness, logs_of_different_threads_are_merged_per_key) {
  hp::staleness_log a, b;
  a.writes = {{1, 100}};
  b.reads = {{1, 200, 0}};
  const auto s = hp::summarize_staleness(std::vector<const hp::staleness_log*>{&a, &b});
  EXPECT_EQ(s.stale, 1u);
  EXPECT_EQ(s.age.max(), 100u);
}

TEST(staleness, a_cache_without_write_invalidation_serves_stale_values_until_the_ttl) {
  hp::client c(fast(false), hp::mitigations{.cache = true});
  c.start(0);
  std::uint64_t g = 0;
  c.execute({1, op_kind::get}, g++);  // miss: caches 0
  c.execute({1, op_kind::put}, g++);  // applied to the store; the cache still says 0
  c.execute({1, op_kind::get}, g++);  // stale by one period
  c.execute({1, op_kind::get}, g++);  // stale by two
  c.finish();
  const auto m = c.metrics();
  EXPECT_EQ(m["stale_reads"].get<std::uint64_t>(), 2u);
  EXPECT_DOUBLE_EQ(m["stale_read_fraction"].get<double>(), 2.0 / 3.0);
  EXPECT_EQ(m["staleness_max_ns"].get<std::uint64_t>(), 2 * 5000u);
}

TEST(staleness, a_write_that_invalidates_the_cached_entry_keeps_every_read_current) {
  hp::client c(fast(true), hp::mitigations{.cache = true});
  c.start(0);
  std::uint64_t g = 0;
  c.execute({1, op_kind::get}, g++);
  c.execute({1, op_kind::put}, g++);
  c.execute({1, op_kind::get}, g++);  // a miss after the invalidation: loads 1
  c.execute({1, op_kind::get}, g++);  // a hit on 1
  c.finish();
  const auto m = c.metrics();
  EXPECT_EQ(m["stale_reads"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(m["reads"].get<std::uint64_t>(), 3u);
  EXPECT_DOUBLE_EQ(m["backend_calls_per_read"].get<double>(), 2.0 / 3.0) << "one hit, two loads";
}

TEST(staleness, writes_waiting_in_the_buffer_make_reads_stale_until_drained) {
  hp::client_config cc = fast(true);
  cc.drain_every = 4;  // the client drains after its 4th, 8th, ... operation
  hp::client c(cc, hp::mitigations{.buffer = true});
  c.start(0);
  std::uint64_t g = 0;
  c.execute({1, op_kind::put}, g++);  // accepted by the buffer at t = 1 period
  c.execute({1, op_kind::get}, g++);  // store still 0: stale by 1 period
  c.execute({1, op_kind::get}, g++);  // stale by 2
  c.execute({2, op_kind::get}, g++);  // another key: current; then the drain applies key 1
  c.execute({1, op_kind::get}, g++);  // current
  c.finish();
  const auto m = c.metrics();
  EXPECT_EQ(m["stale_reads"].get<std::uint64_t>(), 2u);
  EXPECT_EQ(m["staleness_max_ns"].get<std::uint64_t>(), 2 * 5000u);
  EXPECT_EQ(m["lost"].get<std::int64_t>(), 0);
  EXPECT_EQ(m["drains"].get<std::uint64_t>(), 1u);
}
