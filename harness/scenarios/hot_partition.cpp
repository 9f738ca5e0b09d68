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

#include <charconv>
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

// A real knob's value as a spec parameter (shortest text that reads back exactly).
std::string spec_number(double v) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, ec == std::errc{} ? end : buf);
}

// The stream a run replays: a trace as given, or the viral: spec (a zipf: one
// as viral: with its n and s) with the knobs read_fraction, viral_share and
// herd_keys, where set, written into its reads, share and herd_keys.
wl::workload_spec stream_spec_of(const run_request& r) {
  const auto spec = workload_of(r);
  if (spec.kind == "trace") return spec;
  if (spec.kind != "viral" && spec.kind != "zipf")
    throw usage_error("--workload: hot-partition replays a viral:n=N,... stream, a zipf:n=N,s=S one (as viral: with "
                      "that n and s) or a trace:path=FILE (got '" + r.workload + "')");
  std::map<std::string, std::string> params = spec.params;
  if (spec.kind == "zipf") params = {{"n", spec.value("n")}, {"s", spec.value("s")}};
  if (const auto v = r.real_if_set("read_fraction")) params["reads"] = spec_number(*v);
  if (const auto v = r.real_if_set("viral_share")) params["share"] = spec_number(*v);
  if (const auto v = r.integer_if_set("herd_keys")) params["herd_keys"] = std::to_string(*v);
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
  auto b = open_store_backend(r.text("store"));
  if (b && m.adaptive)
    throw usage_error("--impl adaptive: adaptive capacity is a model of the simulated store (--set store=sim)");
  return b;
}

// `partitions` 0 = from the knob (simulated store), else the backend's.
// The knobs' ranges are checked by the CLI; what depends on another knob here.
hp::client_config client_of(const run_request& r, unsigned partitions) {
  hp::client_config c;
  c.offered_rate = r.real("offered_rate");
  c.partitions = partitions ? partitions : static_cast<unsigned>(r.integer("partitions"));
  c.headroom = r.real("headroom");
  c.routing = parse_routing(r.text("routing"));
  c.salt = static_cast<unsigned>(r.integer_if_set("salt").value_or(c.partitions));
  c.salt_target = r.real("salt_target");
  c.write_invalidates = r.flag("write_invalidates");
  c.hot_share = r.real("hot_share");
  c.ttl_seconds = r.real("ttl");
  c.backend_read_us = r.integer("backend_us");
  if (c.salt > c.partitions) throw usage_error("--set salt: must be in [2, partitions]");
  return c;
}

result_record run_hot_partition(const run_request& r) {
  const auto m = hp::mitigations_of(r.impl);
  if (!m) throw usage_error("--impl: '" + r.impl + "' is not an implementation of hot-partition");
  const wl::workload_spec spec = stream_spec_of(r);
  const bool viral = spec.kind == "viral";
  // A key-only trace's op mix (a trace with ops keeps its own; viral: has reads=).
  const double read_fraction = viral ? spec.number("reads") : r.real_if_set("read_fraction").value_or(wl::viral_config{}.reads);
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
  metrics["store"] = r.text("store");
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

// Every key of a hot-partition record's metrics (the runner's own are added
// by register_scenario). The store's keys come from its metrics(), sim or Redis.
std::vector<metric_info> hot_partition_metrics() {
  return {
      // The store: where the load landed.
      key_metric("max_over_median", "ratio", "the busiest partition's offered ops over the median partition's"),
      metric("accepted_max_over_median", "ratio", "as max_over_median, over the ops each partition accepted"),
      key_metric("throttled_fraction", "fraction", "store requests refused by a partition over its capacity"),
      metric("throttled", "ops", "store requests refused by a throttled partition"),
      key_metric("backend_calls", "ops", "store requests (reads and writes, salted sub-keys each)"),
      metric("partition_ops", "ops", "per partition: offered store requests (accepted + throttled)"),
      metric("partition_accepted", "ops", "per partition: accepted store requests"),
      metric("partition_reads", "ops", "per partition: accepted reads"),
      metric("partition_writes", "ops", "per partition: accepted writes"),
      metric("partition_throttled", "ops", "per partition: refused requests"),
      metric("partition_borrowed", "ops", "adaptive: per partition, requests served on capacity lent by others"),
      metric("partition_latency_ns", "ns", "per partition: store latency p50, p99, max"),
      metric("partition_series", "ops", "per partition: requests in each of 50 intervals of the run"),
      metric("series_interval_seconds", "s", "simulated length of one partition_series interval"),
      metric("partitions", "count", "partitions of the store (a Redis Cluster: its masters)"),
      metric("routing", "", "the store's routing"),
      metric("store", "", "the backend: sim or the Redis seed address"),
      metric("nodes", "", "Redis: the cluster's nodes"),
      metric("redis_version", "", "Redis: the server version"),
      metric("node_ops", "ops", "Redis: commands each node served (its commandstats)"),
      metric("node_ops_by_command", "ops", "Redis: each node's commands by name"),
      metric("node_max_over_median", "ratio", "Redis: the busiest node's commands over the median node's"),
      metric("client_node_ops", "ops", "Redis: requests the client sent to each node"),
      metric("node_errors", "ops", "Redis: failed requests per node"),
      metric("node_latency_ns", "ns", "Redis: round-trip percentiles per node"),
      metric("redirects", "count", "Redis: MOVED and ASK redirects followed"),
      metric("write_pipelines", "count", "Redis: pipelined write batches sent"),
      metric("writes_per_pipeline", "ratio", "Redis: writes per pipelined batch"),
      // The clients: what they asked, what they got, what it cost.
      key_metric("mitigations", "", "the mitigations of the impl"),
      metric("reads", "ops", "client reads"),
      metric("read_errors", "ops", "client reads refused (a throttled partition), reported to the client"),
      metric("read_error_fraction", "fraction", "read_errors / reads"),
      metric("writes", "ops", "client writes"),
      metric("writes_accepted", "ops", "writes the client saw succeed (applied, or accepted by the buffer)"),
      metric("writes_applied", "ops", "writes the store holds after the run"),
      metric("write_errors", "ops", "client writes refused (throttled, or the buffer full), reported to the client"),
      metric("write_error_fraction", "fraction", "write_errors / writes"),
      zero_metric("lost", "ops", "accepted writes that neither reached the store nor were reported failed"),
      metric("writes_unknown", "ops", "Redis: writes whose reply timed out after sending (may or may not be applied)"),
      metric("writes_unknown_delta", "count", "Redis: the sum of those writes' deltas (a combined write carries several)"),
      metric("writes_applied_unacknowledged", "ops", "writes applied though reported failed (within writes_unknown)"),
      metric("backend_reads", "ops", "store reads the client reads caused"),
      metric("backend_calls_per_read", "ratio", "store reads per client read (a cache hit 0, a salted read K)"),
      metric("salted_loads", "ops", "client reads of a salted key (gathering its K sub-keys)"),
      metric("salted_read_fanout", "ratio", "store reads per salted read (its K)"),
      metric("stale_read_fraction", "fraction", "successful reads that returned an out-of-date value"),
      metric("stale_reads", "ops", "successful reads that returned an out-of-date value"),
      metric("staleness_p50_ns", "ns", "simulated time a read's value was out of date, median (0 = current)"),
      metric("staleness_p99_ns", "ns", "simulated staleness, p99"),
      metric("staleness_max_ns", "ns", "simulated staleness, largest"),
      metric("drains", "count", "buffer drains the clients ran"),
      metric("drain_seconds", "s", "real time the clients spent draining the buffer"),
      metric("settle_seconds", "s", "real time finish() took to settle the buffer after the run"),
      metric("backend_read_us", "us", "real latency added to each backend read"),
      metric("cache_hit_ratio", "fraction", "cache: gets answered from the cache (fresh or stale)"),
      metric("cache_loads", "ops", "cache: loads (store reads) the cache ran"),
      metric("write_invalidates", "", "cache: whether a write drops the key's entry"),
      metric("buffer_backend_writes", "ops", "buffer: combined writes applied to the store"),
      metric("combine_ratio", "ratio", "buffer: client writes per store write"),
      metric("buffer_sink_failures", "ops", "buffer: store writes refused and retried"),
      metric("buffer_failed", "ops", "buffer: accepted writes given up on (reported failed)"),
      metric("buffer_write_batches", "count", "buffer on Redis: batch-sink calls (one write_batch each)"),
      metric("buffer_writes_per_batch", "ratio", "buffer on Redis: store writes per batch-sink call"),
      metric("hot_keys_salted", "count", "salting: herd keys salted by the end (K > 1)"),
      metric("hot_keys_tracked", "count", "salting: herd keys tracked"),
      metric("hot_key_salts", "", "salting: each tracked key's K and the partitions of its sub-keys"),
      metric("salt", "count", "salting: the largest K"),
      metric("failed_promotions", "count", "salting: promotions the salted map refused (full)"),
      // The run.
      metric("offered_rate", "ops/s", "simulated operations per second, all clients"),
      metric("partition_capacity", "ops/s", "a partition's capacity: headroom x offered_rate / partitions"),
      metric("simulated_seconds", "s", "the run's length in simulated time"),
      metric("phases", "", "viral_start, viral_share, herd_start, herd_length (fractions of the run), or none"),
      metric("viral_share", "fraction", "share of all ops that go to the viral key once it appears"),
      metric("read_fraction", "fraction", "share of reads in the stream"),
      metric("salt_target", "ratio", "K = key load / (salt_target x partition capacity)"),
      metric("client_p99_ns", "ns", "client op latency, p99 (real time; hits, buffered writes and drains included)"),
      metric("client_ops_per_sec", "ops/s", "client ops per second (real time)"),
  };
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
      {"salting", "hot_key_detector + salted_counter_map: hot keys' writes spread over K partitions, reads gather",
       true},
      {"cache", "reads through coalescing_cache (TTL, single-flight on misses)", true},
      {"buffer", "writes through write_buffer (combining, rate-limited drain, retries throttled writes)", true},
      {"adaptive", "no primitives; the store lends cold partitions' capacity to hot ones"},
      {"mitigated", "salting + cache + buffer together", true},
  };  // ours: the mitigations built from hotshard's primitives
  const hp::client_config d;  // the client's defaults are the knobs' defaults
  const wl::viral_config v;   // and the viral: workload's
  s.knobs = {
      real_knob("offered_rate", d.offered_rate, 1, 1e9, "simulated operations per second, all clients"),
      text_knob("store", "sim",
                "backend: sim (the simulated store) or redis://HOST:PORT (a Redis Cluster seed; partitions = its masters)"),
      integer_knob("partitions", d.partitions, 2, 4096, "partitions of the simulated store (a Redis Cluster has its masters)"),
      real_knob("headroom", d.headroom, 1e-3, 1e6, "partition capacity as a multiple of the average partition load"),
      choice_knob("routing", "hash", routing_names(), "store routing"),
      integer_knob("salt", d.salt, 2, 4096, "the largest K for a hot key (2..partitions); K itself follows the key's observed load")
          .computed("partitions"),
      real_knob("salt_target", d.salt_target, 1e-9, 1e9, "K = key load / (salt_target x partition capacity), at least 2"),
      flag_knob("write_invalidates", d.write_invalidates, "cache: 1 = a write drops the key's cached entry, 0 = TTL only"),
      real_knob("hot_share", d.hot_share, 1e-9, 0.999999, "detector threshold: share of recent traffic that makes a key hot"),
      real_knob("ttl", d.ttl_seconds, 1e-9, 1e9, "cache TTL in simulated seconds"),
      integer_knob("backend_us", d.backend_read_us, 0, 1'000'000,
                   "real latency of each backend read in microseconds (a loopback round trip)"),
      real_knob("read_fraction", v.reads, 0, 1, "share of reads in the stream (viral:'s reads=; a key-only trace's op mix)")
          .computed("the viral: workload's reads= (default 0.8); 0.8 for a key-only trace"),
      real_knob("viral_share", v.share, 0, 1, "share of all operations that go to the viral key once it appears")
          .computed("the viral: workload's share= (default 0.5)"),
      integer_knob("herd_keys", v.herd_keys, 1, std::uint64_t{1} << 20,
                   "keys whose cache entries expire together: viral key + top ranks")
          .computed("the viral: workload's herd_keys= (default 8)"),
  };
  s.metrics = hot_partition_metrics();
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
