// Scenario `hot-partition`: the Black Friday stream (the workload viral:,
// workloads/viral.hpp: steady Zipf reads and writes, a viral key that takes
// viral_share of all operations, a cache expiry of the hottest keys that sets
// off a herd) replayed against the simulated store, without and with
// hotshard's primitives in front of it. The client model and its mitigations
// are in hotshard/harness/hot_partition/client.hpp.
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
// The operations: the viral: workload (default viral:n=1000000,s=0.99; its
// reads, share and herd_keys are also the knobs read_fraction, viral_share and
// herd_keys, which the sweep sets; a zipf:n=N,s=S workload means viral: with
// that n and s), or a trace (`--workload trace:path=FILE`) replayed in order.
// Either is generated before the clock starts and replayed by replay_workers:
// thread t runs global ops t, t+T, ... (runner.hpp).
#include <hotshard/harness/hot_partition/client.hpp>

#include <hotshard/harness/runner.hpp>
#include <hotshard/harness/scenario.hpp>
#include <hotshard/harness/scenario_support.hpp>
#include <hotshard/workloads/stream.hpp>
#include <hotshard/workloads/viral.hpp>

#include <cmath>
#include <exception>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hotshard::harness {
namespace {

namespace hp = hot_partition;
namespace wl = workloads;

// A --set knob's text, if given.
std::optional<std::string> knob_text(const run_request& r, const std::string& knob) {
  const auto it = r.options.knobs.find(knob);
  return it == r.options.knobs.end() ? std::nullopt : std::optional<std::string>(it->second);
}

// The share of gets for a key-only trace (a viral: stream has its own reads=).
double trace_read_fraction(const run_request& r) {
  const double rf = r.options.knob_double("read_fraction", 0.8);
  if (!(rf >= 0 && rf <= 1)) throw usage_error("--set read_fraction: must be in [0, 1]");
  return rf;
}

// The stream a run replays: a trace as given, or the viral: spec (a zipf: one
// as viral: with its n and s) with the knobs read_fraction, viral_share and
// herd_keys written into its reads, share and herd_keys.
wl::workload_spec stream_spec_of(const run_request& r) {
  const auto spec = workload_of(r);
  if (spec.kind == "trace") return spec;
  if (spec.kind != "viral" && spec.kind != "zipf")
    throw usage_error("--workload: hot-partition replays a viral:n=N,... stream, a zipf:n=N,s=S one (as viral: with "
                      "that n and s) or a trace:path=FILE (got '" + r.workload + "')");
  std::map<std::string, std::string> params = spec.params;
  if (spec.kind == "zipf") params = {{"n", spec.value("n")}, {"s", spec.value("s")}};
  for (auto [knob, param] : {std::pair{"read_fraction", "reads"}, {"viral_share", "share"}, {"herd_keys", "herd_keys"}})
    if (auto v = knob_text(r, knob)) params[param] = *v;
  for (const char* knob : {"read_fraction", "viral_share"}) {
    const double v = r.options.knob_double(knob, 0.5);
    if (!(v >= 0 && v <= 1)) throw usage_error(std::string("--set ") + knob + ": must be in [0, 1]");
  }
  if (r.options.knob_u64("herd_keys", 1) == 0) throw usage_error("--set herd_keys: must be >= 1");
  std::string text = "viral:";
  for (const auto& [k, v] : params) text += (text.back() == ':' ? "" : ",") + k + "=" + v;
  try {
    auto viral = wl::parse_spec(text);
    (void)wl::viral_config_of(viral);  // herd_keys against n
    return viral;
  } catch (const wl::spec_error& e) {
    throw usage_error(std::string("--workload/--set: ") + e.what());
  }
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
  const wl::workload_spec spec = stream_spec_of(r);
  const bool viral = spec.kind == "viral";
  const double read_fraction = viral ? spec.number("reads") : trace_read_fraction(r);
  auto backend = backend_of(r, *m);
  const hp::client_config cc = client_of(r, backend ? backend->partitions() : 0);
  const std::uint64_t N = r.options.ops > 0
                              ? r.options.ops
                              : static_cast<std::uint64_t>(std::llround(cc.offered_rate * r.options.duration_seconds));
  if (N < 1000) throw usage_error("--ops/--duration: hot-partition needs at least 1000 operations to show its phases");
  const double simulated_seconds = static_cast<double>(N) / cc.offered_rate;

  // The whole stream, in its global order, before the clock starts. A trace
  // replays its own keys in its own order (its ops, or read_fraction for a
  // key-only format), wrapping at its end, with no phases on top.
  std::vector<wl::operation> ops;
  try {
    ops = wl::generate_operations(spec, r.seed, 0, 1, N, read_fraction);
  } catch (const std::exception& e) {
    throw usage_error(std::string("--workload: ") + e.what());
  }
  const std::optional<wl::viral_schedule> plan =
      viral ? std::optional<wl::viral_schedule>(std::in_place, wl::viral_config_of(spec), r.seed, N) : std::nullopt;
  // Under run --processes N the keys are shared: the parent judges `lost` on all processes' writes.
  const bool shared = backend && backend->shared_keys();
  hp::client client(cc, *m);
  if (backend) client.use_backend(std::move(backend));
  client.start(simulated_seconds / 50);  // 50 intervals in the per-partition time series
  if (plan) {
    client.schedule_herd(plan->herd_begin(), plan->herd());
    client.track_hot_keys(plan->herd());
  }

  runner_config rc = runner_config::from(r);
  rc.ops = N;
  rc.rate = 0;
  const auto meas = replay_workers(rc, [&](unsigned) {
    return [&client, &ops](std::uint64_t g) { client.execute(ops[g], g); };
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
  if (plan) {
    const wl::viral_config& vc = plan->config();
    metrics["phases"] = {{"viral_start", vc.start}, {"viral_share", vc.share},
                         {"herd_start", vc.herd_start}, {"herd_length", vc.herd_length}};
    metrics["viral_share"] = vc.share;
  } else {
    metrics["phases"] = "none: a trace replayed as recorded";
  }
  metrics["read_fraction"] = read_fraction;
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
  s.default_workload = "viral:n=1000000,s=0.99";
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
      {"read_fraction", "share of reads in the stream (sets viral:'s reads=; a key-only trace's op mix)", "0.8"},
      {"viral_share", "share of all operations that go to the viral key once it appears (viral:'s share=)", "0.5"},
      {"herd_keys", "keys whose cache entries expire together: viral key + top ranks (viral:'s herd_keys=)", "8"},
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
