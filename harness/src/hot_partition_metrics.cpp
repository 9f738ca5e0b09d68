// The hot-partition client's metrics (hotshard/harness/hot_partition/client.hpp):
// what the store saw, what the clients saw, and what each mitigation cost.
#include <hotshard/harness/hot_partition/client.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace hotshard::harness::hot_partition {
namespace {

double max_over_median(std::vector<std::uint64_t> v) {
  if (v.empty()) return 0;
  const auto mx = *std::max_element(v.begin(), v.end());
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  double med = v.size() % 2 ? static_cast<double>(v[m]) : (static_cast<double>(v[m - 1]) + static_cast<double>(v[m])) / 2;
  if (med < 1) med = 1;
  return static_cast<double>(mx) / med;
}

}  // namespace

nlohmann::json client::metrics() const {
  nlohmann::json j = store_->metrics();
  // The load *offered* to each partition (accepted + throttled): throttling
  // caps what a partition accepts, so skew is measured on what arrives.
  const auto acc = store_->partition_ops();
  const auto thr = store_->partition_throttled();
  std::vector<std::uint64_t> offered(acc.size());
  for (std::size_t i = 0; i < acc.size(); ++i) offered[i] = acc[i] + thr[i];
  j["partition_accepted"] = acc;
  j["partition_ops"] = offered;
  j["max_over_median"] = max_over_median(offered);
  j["accepted_max_over_median"] = store_->max_over_median();
  j["throttled"] = store_->throttled();
  j["mitigations"] = m_.names();
  const tallies t = totals();
  const auto frac = [](std::uint64_t a, std::uint64_t b) { return b ? static_cast<double>(a) / static_cast<double>(b) : 0.0; };
  const std::uint64_t accepted = t.direct_writes + (buffer_ ? buffer_->stats().accepted : 0);
  const std::int64_t applied = store_->total();
  j["writes"] = t.writes;
  j["writes_accepted"] = accepted;
  j["writes_applied"] = applied;
  j["write_errors"] = t.write_errors;
  j["write_error_fraction"] = frac(t.write_errors, t.writes);
  // Accepted writes that neither reached the store nor were reported failed.
  const std::uint64_t reported_failed = buffer_ ? buffer_->stats().failed : 0;
  // A remote backend's write that timed out after it was sent was reported
  // failed (or retried by the buffer) yet may have been applied: up to the sum
  // of those writes' deltas (writes_unknown_delta: a combined write carries
  // several accepted writes) more than accepted can be read back, and is not a
  // loss. (Counting them as one unit each read a combined write of delta 2
  // applied twice as "-2 lost": seen once under a stopped master.)
  const std::int64_t unknown = j.value("writes_unknown_delta", j.value("writes_unknown", std::int64_t{0}));
  const std::int64_t missing = static_cast<std::int64_t>(accepted - reported_failed) - applied;
  j["writes_unknown"] = j.value("writes_unknown", std::int64_t{0});
  j["writes_applied_unacknowledged"] = missing < 0 ? -missing : 0;
  j["lost"] = missing < 0 && -missing <= unknown ? 0 : missing;
  j["reads"] = t.reads;
  j["read_errors"] = t.read_errors;
  j["read_error_fraction"] = frac(t.read_errors, t.reads);
  // Store reads per client read: cache hits cost 0, a salted load K.
  j["backend_reads"] = t.backend_reads;
  j["backend_calls_per_read"] = frac(t.backend_reads, t.reads);
  j["salted_loads"] = t.salted_loads;
  j["salted_read_fanout"] = frac(t.salted_backend_reads, t.salted_loads);
  const staleness_summary st = staleness();
  j["stale_reads"] = st.stale;
  j["stale_read_fraction"] = st.stale_fraction();
  j["staleness_p50_ns"] = st.age.percentile(0.50);
  j["staleness_p99_ns"] = st.age.percentile(0.99);
  j["staleness_max_ns"] = st.age.max();
  j["drains"] = t.drains;
  j["drain_seconds"] = static_cast<double>(t.drain_ns) * 1e-9;
  j["settle_seconds"] = static_cast<double>(settle_ns_) * 1e-9;
  j["backend_read_us"] = cfg_.backend_read_us;
  if (cache_) {
    const auto s = cache_->stats();
    j["cache_hit_ratio"] = s.gets ? static_cast<double>(s.hits + s.stale_served) / static_cast<double>(s.gets) : 0.0;
    j["cache_loads"] = s.backend_calls;
    j["write_invalidates"] = cfg_.write_invalidates;
  }
  if (buffer_) {
    const auto s = buffer_->stats();
    j["buffer_backend_writes"] = s.applied;
    j["combine_ratio"] = s.applied ? static_cast<double>(s.applied_writes) / static_cast<double>(s.applied) : 0.0;
    j["buffer_sink_failures"] = s.sink_failures;
    j["buffer_failed"] = s.failed;
    if (buffer_->batched()) {  // remote store: backend writes per batch-sink call (one write_batch)
      j["buffer_write_batches"] = s.batch_calls;
      j["buffer_writes_per_batch"] = frac(s.applied + s.sink_failures, s.batch_calls);
    }
  }
  if (salts_) {
    std::uint64_t salted = 0;
    nlohmann::json by_key = nlohmann::json::array();
    for (auto k : tracked_hot_keys_) {
      salted += salts_->salt_of(k) > 1 ? 1 : 0;
      std::vector<unsigned> placed;  // the partition (node) of each sub-key
      for (auto sk : sub_keys(k, salts_->salt_of(k))) placed.push_back(store_->partition_of(sk));
      by_key.push_back({{"key", k}, {"salt", salts_->salt_of(k)}, {"partitions", placed}});
    }
    j["hot_keys_salted"] = salted;
    j["hot_keys_tracked"] = tracked_hot_keys_.size();
    j["hot_key_salts"] = std::move(by_key);
    j["salt"] = cfg_.salt;
    j["failed_promotions"] = t.failed_promotions;
  }
  return j;
}

}  // namespace hotshard::harness::hot_partition
