// harness/scenarios/store_metrics.hpp — the metrics a store backend's
// metrics() puts in a record (harness/src/store.cpp: the simulated partitioned
// store; redis_store.cpp: a Redis Cluster), declared once for the scenarios
// that copy them into their records (write_buffer.cpp, cache.cpp).
#pragma once

#include <hotshard/harness/scenario.hpp>

#include <algorithm>
#include <vector>

namespace hotshard::harness {

// Appends the store's metrics that `declared` does not name already (a
// scenario may declare one of them itself, with its own meaning).
inline void add_store_metrics(std::vector<metric_info>& declared) {
  const std::vector<metric_info> store = {
      metric("store", "", "the backend: sim (simulated partitioned store) or redis"),
      metric("partitions", "count", "store partitions (Redis: masters)"),
      metric("partition_ops", "ops", "backend calls per partition (array)"),
      metric("max_over_median", "ratio", "busiest partition's calls over the median partition's"),
      metric("throttled_fraction", "fraction", "sim: calls refused by a partition's capacity / all calls"),
      metric("backend_calls", "ops", "calls the store served"),
      metric("routing", "", "how keys map to partitions"),
      metric("partition_reads", "ops", "sim: reads per partition (array)"),
      metric("partition_writes", "ops", "sim: writes per partition (array)"),
      metric("partition_throttled", "ops", "sim: refused calls per partition (array)"),
      metric("partition_borrowed", "ops", "sim: calls served on capacity borrowed from the pool (array)"),
      metric("partition_latency_ns", "ns", "sim: p50/p99/max call latency per partition (array)"),
      metric("partition_series", "ops", "sim: calls per partition per interval (array of arrays)"),
      metric("series_interval_seconds", "s", "sim: the interval of partition_series"),
      metric("node_ops", "ops", "redis: GET/INCRBY per node by the server's counts (array)"),
      metric("node_ops_by_command", "ops", "redis: the server's counts per node and command"),
      metric("node_max_over_median", "ratio", "redis: busiest node's server count over the median node's"),
      metric("client_node_ops", "ops", "redis: calls per node as the client counted them (array)"),
      metric("node_errors", "ops", "redis: failed calls per node (array)"),
      metric("node_latency_ns", "ns", "redis: p50/p99/max call latency per node (array)"),
      metric("nodes", "", "redis: the masters' host:port (array)"),
      metric("redis_version", "", "redis: the server's version"),
      metric("redirects", "count", "redis: MOVED and ASK replies (object)"),
      metric("writes_unknown", "ops", "redis: writes timed out after being sent (the server may have applied them)"),
      metric("writes_unknown_delta", "count", "redis: the sum of those writes' deltas"),
      metric("write_pipelines", "count", "redis: pipelined INCRBY batches sent (one per node per write_batch)"),
      metric("writes_per_pipeline", "ratio", "redis: writes per pipelined batch")};
  for (const auto& m : store)
    if (std::none_of(declared.begin(), declared.end(), [&](const metric_info& d) { return d.name == m.name; }))
      declared.push_back(m);
}

}  // namespace hotshard::harness
