// harness/scenarios/write_buffer.cpp — the queues family's `write-buffer`
// scenario.
//
// T writers send Zipf keys (the workload) with delta 1..3 into
// a write buffer whose sink is the simulated partitioned store (one write()
// per key), or with --set store=redis://HOST:PORT a Redis Cluster, where our
// buffers take a batch sink: each call's deltas (combined per key, or for
// `plain` cut before a repeated key) go out as one store write_batch —
// pipelined INCRBY, one batch per node (write_batches, writes_per_batch,
// write_pipelines, writes_per_pipeline report it); `combining`
// folds deltas per key within a drained batch, `plain` does not; `urcu_wfcq`
// is liburcu's wait-free queue under a plain buffer (unbounded: the capacity,
// on_full and rate knobs do not apply to it). After the run
// the buffer is flushed and the store total must equal the sum of the accepted
// deltas (`lost`, nonzero = run_failure). `combine_ratio` = writes /
// backend_writes, overall and for the partition that received most writes.
#include "contenders/write_buffers.hpp"
#include "scenarios/store_metrics.hpp"

#include <hotshard/detail/cache_line.hpp>
#include <hotshard/harness/runner.hpp>
#include <hotshard/harness/scenario.hpp>
#include <hotshard/harness/scenario_support.hpp>
#include <hotshard/harness/store.hpp>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace hotshard::harness {
namespace {

namespace hc = hotshard::contenders;

// --set on_full, one of the choices its knob declares.
backpressure policy_of(const std::string& s) {
  if (s == "block") return backpressure::block;
  if (s == "fail") return backpressure::fail;
  if (s == "help_drain") return backpressure::help_drain;
  throw std::logic_error("write-buffer: on_full '" + s + "' is declared but not handled");
}

template <class Buffer>
result_record run_write_buffer(const run_request& r) {
  const auto spec = workload_of(r);
  store_config sc;
  sc.partitions = static_cast<unsigned>(r.integer("partitions"));
  sc.capacity_ops_per_sec = r.real("partition_capacity");
  sc.series_interval_seconds = 0;
  // --set store: the simulated store (default) or a Redis Cluster (store.hpp open_store_backend),
  // whose total() reads every key of the run back from Redis.
  const std::string store_name = r.text("store");
  std::unique_ptr<store_backend> owned = open_store_backend(store_name);
  if (!owned) owned = std::make_unique<partitioned_store>(sc);
  store_backend& store = *owned;
  store.begin_run();

  hc::write_buffer_type::config_type wc;
  // Bad sizes are the user's to fix (exit 2 naming the knob), never silently rounded or raised;
  // the knobs' declared ranges are checked before the run, these relations here.
  const std::uint64_t capacity = r.integer("capacity");
  if (!std::has_single_bit(capacity))
    throw usage_error("--set capacity=" + std::to_string(capacity) + ": a power of two in 2 .. 2^30 accepted");
  const std::uint64_t batch = r.integer_if_set("batch").value_or(std::min<std::uint64_t>(1024, capacity));
  if (batch > capacity)
    throw usage_error("--set batch=" + std::to_string(batch) + ": 1 .. capacity (" + std::to_string(capacity) +
                      ") accepted");
  wc.capacity = static_cast<std::size_t>(capacity);
  wc.batch_size = static_cast<std::size_t>(batch);
  wc.rate_per_sec = r.real("rate");
  wc.on_full = policy_of(r.text("on_full"));
  wc.measure_lag = true;
  const unsigned P = store.partitions();

  struct alignas(detail::prefetch_pair_bytes) tally {
    std::int64_t accepted_sum = 0;
    std::uint64_t accepted = 0;
    std::vector<std::uint64_t> per_partition;
  };
  std::vector<tally> tallies(r.threads);
  std::optional<Buffer> wb;
  const auto per_key = [&store](const std::uint64_t& k, const std::int64_t& d) { return store.write(k, d); };
  if constexpr (hc::takes_batch_sink<Buffer>) {
    if (store.is_remote()) {  // pipelined: one store write_batch (a batch per node) per sink call
      wb.emplace(
          [&store](std::span<hc::write_buffer_type::batch_entry> entries) {
            std::vector<store_write> writes;
            writes.reserve(entries.size());
            for (const auto& e : entries) writes.push_back({e.key, e.delta, false});
            store.write_batch(writes);
            for (std::size_t i = 0; i < entries.size(); ++i) entries[i].applied = writes[i].applied;
          },
          wc);
    } else {
      wb.emplace(per_key, wc);
    }
  } else {
    wb.emplace(per_key, wc);
  }

  const auto m = run_workers(runner_config::from(r), [&](unsigned t) {
    auto keys = thread_keys(r, spec, t);
    std::vector<std::uint16_t> part(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) part[i] = static_cast<std::uint16_t>(store.partition_of(keys[i]));
    tally& mine = tallies[t];
    mine.per_partition.assign(P, 0);
    const std::size_t n = keys.size();
    return [&, &mine = mine, keys = std::move(keys), part = std::move(part), n](std::uint64_t i) {
      const std::size_t j = static_cast<std::size_t>(i % n);
      const std::int64_t d = 1 + static_cast<std::int64_t>(i % 3);
      if (wb->write(keys[j], d)) {
        mine.accepted_sum += d;
        ++mine.accepted;
        ++mine.per_partition[part[j]];
      }
    };
  });
  wb->flush();
  const auto st = wb->stats();
  wb.reset();
  store.end_run();  // server-side counts, before the read-back

  std::int64_t accepted_sum = 0;
  std::uint64_t writes = 0;
  std::vector<std::uint64_t> writes_per_partition(P, 0);
  for (const auto& t : tallies) {
    accepted_sum += t.accepted_sum;
    writes += t.accepted;
    for (unsigned p = 0; p < P && p < t.per_partition.size(); ++p) writes_per_partition[p] += t.per_partition[p];
  }
  const auto ops = store.partition_ops();
  const std::uint64_t backend = store.backend_calls();
  const auto hottest = static_cast<unsigned>(
      std::max_element(writes_per_partition.begin(), writes_per_partition.end()) - writes_per_partition.begin());
  const std::int64_t lost = accepted_sum - store.total();

  nlohmann::json metrics = store.metrics();
  metrics["store"] = store_name;
  metrics["writes"] = writes;
  metrics["writes_accepted_sum"] = accepted_sum;
  metrics["backend_writes"] = backend;
  metrics["combine_ratio"] = backend ? static_cast<double>(writes) / static_cast<double>(backend) : 0.0;
  metrics["hottest_partition"] = hottest;
  metrics["hottest_partition_writes"] = writes_per_partition[hottest];
  metrics["hottest_partition_backend_writes"] = ops[hottest];
  metrics["hottest_partition_combine_ratio"] =
      ops[hottest] ? static_cast<double>(writes_per_partition[hottest]) / static_cast<double>(ops[hottest]) : 0.0;
  metrics["lost"] = lost;
  metrics["rejected"] = st.rejected;
  metrics["combined"] = st.combined;
  metrics["sink_failures"] = st.sink_failures;
  metrics["failed"] = st.failed;
  metrics["max_depth"] = st.max_depth;
  metrics["max_lag_ns"] = st.max_lag_ns;
  metrics["capacity"] = wc.capacity;
  metrics["batch"] = wc.batch_size;
  if constexpr (hc::takes_batch_sink<Buffer>) {
    // Calls of the batch sink (redis store) and backend writes per call (0 with a per-key sink).
    metrics["write_batches"] = st.batch_calls;
    metrics["writes_per_batch"] =
        st.batch_calls ? static_cast<double>(st.applied + st.sink_failures) / static_cast<double>(st.batch_calls) : 0.0;
  }
  // Under run --processes N the keys are shared: the parent judges `lost` on all processes' writes.
  if ((lost != 0 && !store.shared_keys()) || writes != st.accepted)
    throw run_failure("write-buffer/" + r.impl + ": store total differs from the accepted deltas by " +
                      std::to_string(lost) + " (accepted " + std::to_string(writes) + " writes, buffer counted " +
                      std::to_string(st.accepted) + ")");
  return make_record(r, m, std::move(metrics));
}

constexpr auto write_buffer_registry = [](auto&& f) { hc::for_each_write_buffer(f); };

scenario make_write_buffer_scenario() {
  scenario s;
  s.name = "write-buffer";
  s.family = "queues";
  s.description =
      "T writers send workload keys with deltas 1..3 through a write buffer into the simulated partitioned store; "
      "the store total must equal the accepted deltas (lost, nonzero fails the run). combine_ratio = writes / "
      "backend_writes, overall and for the partition receiving most writes.";
  s.default_workload = "zipf:n=1000000,s=0.99";
  s.impls = impls_of(write_buffer_registry, {"combining"});
  s.knobs = {
      integer_knob("capacity", 4096, 2, std::uint64_t{1} << 30, "buffer queue capacity, a power of two"),
      integer_knob("batch", 1024, 1, std::uint64_t{1} << 30, "entries the drainer takes (and combines) per batch, "
                   "at most capacity").computed("min(1024, capacity)"),
      real_knob("rate", 0, 0, 1e12, "drain rate: sink calls per second, 0 = unlimited"),
      choice_knob("on_full", "block", {"block", "fail", "help_drain"}, "backpressure when the buffer is full"),
      text_knob("store", "sim", "sim (the simulated store) or redis://HOST:PORT (a Redis Cluster seed: each drain "
                "call's combined deltas pipelined as INCRBY, one batch per node; read back after the run; "
                "partitions = its masters)"),
      integer_knob("partitions", 16, 1, 65536, "store partitions (simulated store)"),
      real_knob("partition_capacity", 0, 0, 1e12,
                "store capacity per partition, ops/s (0 = unlimited; throttled writes are retried)")};
  s.metrics = {
      key_metric("writes", "ops", "writes the buffer accepted"),
      key_metric("backend_writes", "ops", "writes the store received (the store's backend_calls)"),
      key_metric("combine_ratio", "ratio", "writes / backend_writes"),
      zero_metric("lost", "count", "accepted deltas missing from the store total after the flush"),
      key_metric("rejected", "ops", "writes refused (on_full = fail, or closed)"),
      metric("writes_accepted_sum", "count", "sum of the accepted deltas"),
      metric("hottest_partition", "", "the partition that received most writes"),
      metric("hottest_partition_writes", "ops", "writes to keys of the hottest partition"),
      metric("hottest_partition_backend_writes", "ops", "backend writes the hottest partition received"),
      metric("hottest_partition_combine_ratio", "ratio", "writes / backend writes of the hottest partition"),
      metric("combined", "ops", "writes folded into another write of their key (ours)"),
      metric("sink_failures", "count", "sink refusals (a throttled partition, a failed Redis call)"),
      metric("failed", "ops", "writes given up after sink failures"),
      metric("max_depth", "items", "largest queue depth (urcu_wfcq: largest splice)"),
      metric("max_lag_ns", "ns", "oldest write's age when applied (ours)"),
      metric("capacity", "items", "the buffer's capacity"),
      metric("batch", "items", "entries per drained batch"),
      metric("write_batches", "count", "ours: calls of the batch sink (redis store; 0 with a per-key sink)"),
      metric("writes_per_batch", "ratio", "ours: backend writes per batch-sink call")};
  add_store_metrics(s.metrics);
  s.run = [](const run_request& r) {
    return dispatch(r, write_buffer_registry, []<class B>(const run_request& req) { return run_write_buffer<B>(req); });
  };
  s.suite = [](bool full) {
    std::vector<run_options> steps;
    run_options o;
    o.threads = full ? std::vector<unsigned>{1, 2, 4, 16} : std::vector<unsigned>{1, 4};
    o.workload = "zipf:n=1000000,s=0.99";
    o.duration_seconds = full ? 1.0 : 0.2;
    steps.push_back(o);
    if (full) {
      o.workload = "uniform:n=1000000";
      steps.push_back(o);
    }
    return steps;
  };
  return s;
}

}  // namespace

HOTSHARD_REGISTER_SCENARIO(make_write_buffer_scenario());

}  // namespace hotshard::harness
