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
#include "framework_standin.hpp"  // TEMPORARY: dispatch and thread_keys, until main's scenario_support.hpp has them

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
#include <string>
#include <utility>
#include <vector>

namespace hotshard::harness {
namespace {

namespace hc = hotshard::contenders;

backpressure parse_policy(const std::string& s) {
  if (s == "block") return backpressure::block;
  if (s == "fail") return backpressure::fail;
  if (s == "help_drain") return backpressure::help_drain;
  throw usage_error("--set on_full: '" + s + "' is not one of block, fail, help_drain");
}

template <class Buffer>
result_record run_write_buffer(const run_request& r) {
  const auto spec = workload_of(r);
  store_config sc;
  sc.partitions = static_cast<unsigned>(std::max<std::uint64_t>(1, r.options.knob_u64("partitions", 16)));
  sc.capacity_ops_per_sec = r.options.knob_double("partition_capacity", 0);
  sc.series_interval_seconds = 0;
  // --set store: the simulated store (default) or a Redis Cluster (store.hpp open_store_backend),
  // whose total() reads every key of the run back from Redis.
  const std::string store_name = r.options.knob_string("store", "sim");
  std::unique_ptr<store_backend> owned = open_store_backend(store_name);
  if (!owned) owned = std::make_unique<partitioned_store>(sc);
  store_backend& store = *owned;
  store.begin_run();

  hc::write_buffer_type::config_type wc;
  // Bad sizes are the user's to fix (exit 2 naming the knob), never silently rounded or raised.
  const std::uint64_t capacity = r.options.knob_u64("capacity", 4096);
  if (capacity < 2 || capacity > (std::uint64_t{1} << 30) || !std::has_single_bit(capacity))
    throw usage_error("--set capacity=" + std::to_string(capacity) + ": a power of two in 2 .. 2^30 accepted");
  const std::uint64_t batch = r.options.knob_u64("batch", std::min<std::uint64_t>(1024, capacity));
  if (batch == 0 || batch > capacity)
    throw usage_error("--set batch=" + std::to_string(batch) + ": 1 .. capacity (" + std::to_string(capacity) +
                      ") accepted");
  wc.capacity = static_cast<std::size_t>(capacity);
  wc.batch_size = static_cast<std::size_t>(batch);
  wc.rate_per_sec = r.options.knob_double("rate", 0);
  wc.on_full = parse_policy(r.options.knob_string("on_full", "block"));
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
  s.impls = impls_of(write_buffer_registry);
  s.knobs = {{"capacity", "buffer queue capacity (rounded up to a power of two)", "4096"},
             {"batch", "entries the drainer takes (and combines) per batch", "1024"},
             {"rate", "drain rate: sink calls per second, 0 = unlimited", "0"},
             {"on_full", "backpressure: block, fail or help_drain", "block"},
             {"store", "sim (the simulated store) or redis://HOST:PORT (a Redis Cluster seed: each drain call's combined "
                       "deltas pipelined as INCRBY, one batch per node; read back after the run; partitions = its "
                       "masters)", "sim"},
             {"partitions", "store partitions (simulated store)", "16"},
             {"partition_capacity", "store capacity per partition, ops/s (0 = unlimited; throttled writes are retried)",
              "0"}};
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
