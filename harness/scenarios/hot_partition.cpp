// Scenario `hot-partition`: the Black Friday stream (steady Zipf reads and
// writes, a viral key that takes viral_share of all operations, a cache expiry
// of the hottest keys that sets off a herd) replayed against the simulated
// store, without and with hotshard's primitives in front of it. The model and
// its mitigations are in harness/contenders/hot_partition.hpp.
//
// Time in the store, cache and buffer is simulated (offered_rate operations
// per simulated second), so a run's length in operations is --ops N, or
// offered_rate × --duration; every phase is a fraction of it.
//
// The cost of each mitigation is in the metrics: stale_read_fraction and
// staleness_p99_ns (simulated), read_errors / write_errors and their
// fractions, throttled, backend_calls_per_read (cache hits 0, salted reads K),
// drain_seconds.
//
// Sweep: the full suite runs every impl over read_fraction ∈ {0.5, 0.8,
// 0.95} × viral_share ∈ {0.1, 0.3, 0.6} (scripts/plot.py draws
// sweep_hot-partition.png from it); by hand, one point at a time:
//   hotshard-bench run hot-partition --impl unmitigated,mitigated --ops 200000
//       --set read_fraction=0.5 --set viral_share=0.3 --json point.json
//
// The backend: --set store=sim (the simulated store, default) or
// --set store=redis://HOST:PORT (a Redis Cluster, harness redis_store.hpp;
// partitions = its masters, per-node load from the servers' own counts):
//   scripts/redis-cluster.sh start
//   hotshard-bench run hot-partition --impl unmitigated,mitigated --threads 2
//       --set store=redis://127.0.0.1:7000 --json redis.json
//
// The operations come from an op_source (hot_partition_stream.hpp): the Black
// Friday stream, or a trace (`--workload trace:path=FILE`) replayed in order.
#include "../contenders/hot_partition.hpp"

#include <hotshard/harness/runner.hpp>
#include <hotshard/harness/scenario.hpp>
#include <hotshard/harness/scenario_support.hpp>
#include <hotshard/workloads/stream.hpp>

#include <cmath>
#include <exception>
#include <string>
#include <vector>

namespace hotshard::harness {
namespace {

namespace hp = hot_partition;

hp::stream_config stream_of(const run_request& r) {
  hp::stream_config c;
  const auto spec = workload_of(r);
  if (spec.kind != "zipf" && spec.kind != "trace")
    throw usage_error("--workload: hot-partition replays a zipf:n=N,s=S stream with its phases on top, or a "
                      "trace:path=FILE (got '" + r.workload + "')");
  if (spec.kind == "zipf") {
    c.n = static_cast<std::uint64_t>(spec.number("n"));
    c.s = spec.number("s");
  }
  c.read_fraction = r.options.knob_double("read_fraction", c.read_fraction);
  c.viral_share = r.options.knob_double("viral_share", c.viral_share);
  c.herd_keys = static_cast<unsigned>(r.options.knob_u64("herd_keys", c.herd_keys));
  for (auto [name, v] : {std::pair{"read_fraction", c.read_fraction}, std::pair{"viral_share", c.viral_share}})
    if (!(v >= 0 && v <= 1)) throw usage_error(std::string("--set ") + name + ": must be in [0, 1]");
  if (c.herd_keys == 0) throw usage_error("--set herd_keys: must be >= 1");
  return c;
}

// The backend of --set store: nullptr for the simulated store (built by the
// client), else a connected redis_store.
std::unique_ptr<store_backend> backend_of(const run_request& r, const hp::mitigations& m) {
  auto b = open_store_backend(r.options.knob_string("store", "sim"));
  if (b && m.adaptive)
    throw usage_error("--impl adaptive: adaptive capacity is a model of the simulated store (--set store=sim)");
  return b;
}

// `partitions` 0 = from the knob (simulated store), else the backend's.
hp::client_config client_of(const run_request& r, unsigned partitions) {
  hp::client_config c;
  const auto& o = r.options;
  c.offered_rate = o.knob_double("offered_rate", c.offered_rate);
  c.partitions = partitions ? partitions : static_cast<unsigned>(o.knob_u64("partitions", c.partitions));
  c.headroom = o.knob_double("headroom", c.headroom);
  c.routing = parse_routing(o.knob_string("routing", "hash"));
  c.salt = static_cast<unsigned>(o.knob_u64("salt", c.partitions));
  c.salt_target = o.knob_double("salt_target", c.salt_target);
  c.write_invalidates = o.knob_u64("write_invalidates", 1) != 0;
  c.hot_share = o.knob_double("hot_share", c.hot_share);
  c.ttl_seconds = o.knob_double("ttl", c.ttl_seconds);
  c.backend_read_us = o.knob_u64("backend_us", c.backend_read_us);
  if (!(c.offered_rate > 0)) throw usage_error("--set offered_rate: must be > 0");
  if (c.partitions < 2) throw usage_error("--set partitions: must be >= 2");
  if (!(c.headroom > 0)) throw usage_error("--set headroom: must be > 0");
  if (c.salt < 2 || c.salt > c.partitions) throw usage_error("--set salt: must be in [2, partitions]");
  if (!(c.salt_target > 0)) throw usage_error("--set salt_target: must be > 0");
  if (!(c.hot_share > 0 && c.hot_share < 1)) throw usage_error("--set hot_share: must be in (0, 1)");
  if (!(c.ttl_seconds > 0)) throw usage_error("--set ttl: must be > 0 (simulated seconds)");
  return c;
}

result_record run_hot_partition(const run_request& r) {
  const auto m = hp::mitigations_of(r.impl);
  if (!m) throw usage_error("--impl: '" + r.impl + "' is not an implementation of hot-partition");
  const hp::stream_config sc = stream_of(r);
  auto backend = backend_of(r, *m);
  const hp::client_config cc = client_of(r, backend ? backend->partitions() : 0);
  const std::uint64_t N = r.options.ops > 0
                              ? r.options.ops
                              : static_cast<std::uint64_t>(std::llround(cc.offered_rate * r.options.duration_seconds));
  if (N < 1000) throw usage_error("--ops/--duration: hot-partition needs at least 1000 operations to show its phases");
  const double simulated_seconds = static_cast<double>(N) / cc.offered_rate;

  // A trace replays its own keys in its own order (its ops, or read_fraction for a
  // key-only format), wrapping at its end, with no phases on top; otherwise the
  // Black Friday stream.
  const auto spec = workload_of(r);
  const hp::stream stream(sc, r.seed);
  std::vector<workloads::operation> trace_ops;
  hp::op_source source;
  if (spec.kind == "trace") {
    try {
      trace_ops = workloads::generate_operations(spec, r.seed, 0, 1, N, sc.read_fraction);
    } catch (const std::exception& e) {
      throw usage_error(std::string("--workload: ") + e.what());
    }
    source.at = [&trace_ops](std::uint64_t g) { return trace_ops[g]; };
  } else {
    source = hp::black_friday(stream, N);
  }
  // Under run --processes N the keys are shared: the parent judges `lost` on all processes' writes.
  const bool shared = backend && backend->shared_keys();
  hp::client client(cc, *m);
  if (backend) client.use_backend(std::move(backend));
  client.start(simulated_seconds / 50);  // 50 intervals in the per-partition time series
  client.track_hot_keys(source.herd);

  runner_config rc = runner_config::from(r);
  rc.ops = N;
  rc.rate = 0;
  rc.warmup_fraction = 0;  // a time-ordered stream: op i of thread t is global op i·T + t
  const unsigned T = rc.threads;
  const auto meas = run_workers(rc, [&](unsigned t) {
    // Pre-generate this thread's share of the stream: not timed.
    std::vector<workloads::operation> ops;
    std::vector<std::uint64_t> index;
    for (std::uint64_t g = t; g < N; g += T) {
      ops.push_back(source.at(g));
      index.push_back(g);
    }
    return [&client, &source, ops = std::move(ops), index = std::move(index)](std::uint64_t i) {
      client.execute(ops[i], index[i], source.herd_begin, source.herd);
    };
  });
  client.finish();

  nlohmann::json metrics = client.metrics();
  if (metrics["lost"].get<std::int64_t>() != 0 && !shared)
    throw run_failure("hot-partition/" + r.impl + ": " + std::to_string(metrics["lost"].get<std::int64_t>()) +
                      " accepted writes did not reach the store");
  metrics["store"] = r.options.knob_string("store", "sim");
  metrics["offered_rate"] = cc.offered_rate;
  metrics["partition_capacity"] = cc.headroom * cc.offered_rate / cc.partitions;
  metrics["simulated_seconds"] = simulated_seconds;
  if (spec.kind == "trace") {
    metrics["phases"] = "none: a trace replayed as recorded";
  } else {
    metrics["phases"] = {{"viral_start", sc.viral_start}, {"viral_share", sc.viral_share},
                         {"herd_start", sc.herd_start}, {"herd_length", sc.herd_length}};
    metrics["viral_share"] = sc.viral_share;
  }
  metrics["read_fraction"] = sc.read_fraction;
  metrics["salt_target"] = cc.salt_target;
  metrics["client_p99_ns"] = meas.latency.percentile(0.99);
  metrics["client_ops_per_sec"] = meas.ops_per_sec();  // every op: hits, buffered writes and drains included
  return make_record(r, meas, std::move(metrics));
}

scenario make_hot_partition_scenario() {
  scenario s;
  s.name = "hot-partition";
  s.family = "hot-partition";
  s.description =
      "Black Friday: steady Zipf reads/writes, then a viral key takes viral_share of all ops, then the hottest "
      "cache entries expire at once (a herd); replayed against the simulated store without mitigation, with each "
      "mitigation alone, and with salting + coalescing cache + write buffer. Store time is simulated at "
      "offered_rate ops/s, so --duration D means offered_rate*D operations.";
  s.default_workload = "zipf:n=1000000,s=0.99";
  s.impls = {
      {"unmitigated", "every request goes straight to its partition"},
      {"salting", "hot_key_detector + salted_counter_map: hot keys' writes spread over K partitions, reads gather"},
      {"cache", "reads through coalescing_cache (TTL, single-flight on misses)"},
      {"buffer", "writes through write_buffer (combining, rate-limited drain, retries throttled writes)"},
      {"adaptive", "no primitives; the store lends cold partitions' capacity to hot ones"},
      {"mitigated", "salting + cache + buffer together"},
  };
  s.knobs = {
      {"offered_rate", "simulated operations per second, all clients", "200000"},
      {"store", "backend: sim (the simulated store) or redis://HOST:PORT (a Redis Cluster seed; partitions = its masters)", "sim"},
      {"partitions", "partitions of the simulated store (a Redis Cluster has its masters)", "16"},
      {"headroom", "partition capacity as a multiple of the average partition load", "2"},
      {"routing", "store routing: hash, ring, slots, range", "hash"},
      {"salt", "the largest K for a hot key (2..partitions); K itself follows the key's observed load", "partitions"},
      {"salt_target", "K = key load / (salt_target x partition capacity), at least 2", "0.5"},
      {"write_invalidates", "cache: 1 = a write drops the key's cached entry, 0 = TTL only", "1"},
      {"hot_share", "detector threshold: share of recent traffic that makes a key hot", "0.01"},
      {"ttl", "cache TTL in simulated seconds", "0.5"},
      {"backend_us", "real latency of each backend read in microseconds (a loopback round trip)", "10"},
      {"read_fraction", "share of reads in the stream", "0.8"},
      {"viral_share", "share of all operations that go to the viral key once it appears", "0.5"},
      {"herd_keys", "keys whose cache entries expire together (viral key + top ranks)", "8"},
  };
  s.run = run_hot_partition;
  s.suite = [](bool full) {
    run_options o;
    o.threads = full ? std::vector<unsigned>{2, 8} : std::vector<unsigned>{2};
    o.ops = full ? 2'000'000 : 200'000;  // quick: as the full plan's sweep points
    std::vector<run_options> steps{o};
    if (full) {
      // The sweep: is the default placed next to a cliff? (plot.py: sweep_hot-partition.png)
      for (const char* rf : {"0.5", "0.8", "0.95"})
        for (const char* vs : {"0.1", "0.3", "0.6"}) {
          run_options p;
          p.threads = {2};
          p.ops = 200'000;
          p.knobs = {{"read_fraction", rf}, {"viral_share", vs}};
          steps.push_back(p);
        }
    }
    return steps;
  };
  return s;
}

}  // namespace

HOTSHARD_REGISTER_SCENARIO(make_hot_partition_scenario());

}  // namespace hotshard::harness
