// harness/scenarios/cache.cpp — the single-flight family's `cache` scenario.
//
// Workload zipf:... — each op is a read through the cache with a TTL
// short enough that keys expire under load. Metrics: backend_calls, hit_ratio
// (fresh + stale answers / reads), stale_served, early_refreshes, refreshes,
// refresh_tasks, errors. --set refresh=inline (default): the caller that
// triggers a refresh runs the loader and gets the new value; refresh=async:
// the refresh is handed to a cached thread pool (a waiting thread, or a new
// one when none waits: contenders::refresh_pool) and that caller is served
// the old value — Caffeine's refreshAfterWrite contract, and the JVM driver
// gives Caffeine the same executor (Executors.newCachedThreadPool;
// anchors/java/CacheBench.java says why not its default), so `--set beta=0
// --set refresh=async` is the configuration the JVM driver's Caffeine records
// are labelled with and compared against. backend_calls counts the loads
// started in the measured window (the count at the runner's on_start is taken
// off; the warm-up's are backend_calls_warmup), as the JVM driver counts
// them. refresh_backlog: refresh tasks still queued when the measured window
// closed (the pool was at its thread cap); they are drained after it without
// the backend latency, and their loads are counted in backend_calls_after_run.
// --set store=redis://HOST:PORT: the loader is a GET on a Redis Cluster instead.
#include "contenders/single_flight.hpp"
#include "scenarios/single_flight_backend.hpp"
#include "scenarios/store_metrics.hpp"

#include <hotshard/detail/cache_line.hpp>
#include <hotshard/harness/runner.hpp>
#include <hotshard/harness/scenario.hpp>
#include <hotshard/harness/scenario_support.hpp>
#include <hotshard/harness/store.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hotshard::harness {
namespace {

namespace hc = hotshard::contenders;

constexpr auto cache_registry = [](auto&& f) { hc::for_each_cache(f); };

result_record run_cache(const run_request& req) {
  const workloads::workload_spec spec = workload_of(req);
  if (spec.kind == "herd") throw usage_error("--workload: the cache scenario takes a key stream, not herd:");
  const loader_knobs kn = read_loader_knobs(req, req.real("loader_us"));
  const double ttl_us = req.real("ttl_us");
  const double grace_us = req.real("grace_us");
  const double beta = req.real("beta");
  const std::uint64_t capacity = req.integer("capacity");
  const std::string refresh = req.text("refresh");
  hotshard::coalescing_cache_options o;
  o.ttl = std::chrono::nanoseconds(static_cast<std::int64_t>(ttl_us * 1000));
  o.grace = std::chrono::nanoseconds(static_cast<std::int64_t>(grace_us * 1000));
  o.negative_ttl = o.ttl / 10;
  o.beta = beta;
  o.capacity = static_cast<std::size_t>(capacity);
  o.flight_capacity = std::max<std::size_t>(1024, 4 * std::size_t{req.threads});
  const unsigned T = std::max(1u, req.threads);
  const std::string store_name = req.text("store");
  std::unique_ptr<store_backend> remote = open_store_backend(store_name);
  if (remote && kn.fail_rate != 0)
    throw usage_error("--set fail_rate: a failure rate is the simulated backend's (--set store=sim)");
  return dispatch(req, cache_registry, [&]<class C>(const run_request&) {
    std::optional<hc::refresh_pool> refresher;  // refresh=async; stopped below, before the cache is destroyed
    hotshard::coalescing_cache_options oc = o;
    if (refresh == "async") {
      refresher.emplace();
      oc.executor = [r = &*refresher](std::function<void()> task) { r->submit(std::move(task)); };
    }
    C cache(std::move(oc));
    struct stop_first {  // destroyed before `cache`, also when the run throws
      std::optional<hc::refresh_pool>& r;
      ~stop_first() {
        if (r) r->stop();
      }
    } stop_refresher{refresher};
    simulated_backend be{kn.loader, kn.fail_rate, req.seed, T};
    // The loader: the simulated backend, or a GET on the Redis Cluster (a failed GET throws, counted in errors).
    const auto load = [&](unsigned t, std::uint64_t i, std::uint64_t key) -> std::uint64_t {
      if (!remote) return be.load(t, i, key);
      const auto v = remote->read(key);
      if (!v) throw backend_failure("redis GET failed");
      return static_cast<std::uint64_t>(*v);
    };
    if (remote) remote->begin_run();
    struct alignas(detail::prefetch_pair_bytes) error_count {
      std::uint64_t n = 0;  // its thread's only; summed after join
    };
    std::vector<error_count> errors(T);
    // Backend calls are counted over the measured window only: the count at
    // the instant the clock starts is taken off (a driver's warm-up, the JVM's
    // included, differs in length from ours; loads per window do not).
    std::uint64_t calls_at_start = 0;
    runner_config cfg = runner_config::from(req);
    cfg.on_start = [&]() noexcept { calls_at_start = remote ? remote->backend_calls() : be.calls(); };
    const auto m = run_workers(cfg, [&](unsigned t) {
      auto keys = thread_keys(req, spec, t);
      const std::size_t mask = keys.size() - 1;  // keys_per_thread: a power of two
      return [&, t, mask, keys = std::move(keys)](std::uint64_t i) {
        const std::uint64_t key = keys[i & mask];
        try {
          // By value: an async refresh runs this loader after get returned.
          (void)cache.get(key, [&load, t, i, key] { return load(t, i, key); });
        } catch (const backend_failure&) {
          ++errors[t].n;
        }
      };
    });
    const std::uint64_t backlog = refresher ? refresher->queued() : 0;  // refreshes the executor had not reached
    const auto calls_now = [&] { return remote ? remote->backend_calls() : be.calls(); };
    const std::uint64_t calls_in_run = calls_now();  // the backlog's loads below are counted apart
    be.run_over.store(true, std::memory_order_relaxed);  // sim: the backlog below drains without the latency
    if (refresher) refresher->stop();                     // its loads: backend_calls_after_run
    const std::uint64_t calls_after_run = calls_now() - calls_in_run;
    const auto st = cache.stats();
    const double gets = static_cast<double>(std::max<std::uint64_t>(1, st.gets));
    std::uint64_t error_total = 0;
    for (const auto& e : errors) error_total += e.n;
    nlohmann::json metrics = nlohmann::json::object();
    if (remote) {
      remote->end_run();
      metrics = remote->metrics();  // node_ops (Redis's counts), client_node_ops, node_errors, node_latency_ns...
    }
    // warm-up + window + after the run = every load (Redis: = its GET count).
    const std::uint64_t calls_in_window = calls_in_run - calls_at_start;
    const std::uint64_t calls = calls_in_run + calls_after_run;
    metrics.update({{"store", store_name},
                    {"backend_calls", calls_in_window},
                    {"backend_calls_warmup", calls_at_start},
                    {"backend_calls_after_run", calls_after_run},
                    {"backend_calls_per_second", m.seconds > 0 ? static_cast<double>(calls_in_window) / m.seconds : 0.0},
                    {"backend_calls_per_read", static_cast<double>(calls) / gets},
                    {"hit_ratio", static_cast<double>(st.hits + st.stale_served) / gets},
                    {"stale_served", st.stale_served},
                    {"early_refreshes", st.early_refreshes},
                    {"refreshes", st.refreshes},
                    {"misses", st.misses},
                    {"refresh", refresh},
                    {"refresh_tasks", refresher ? refresher->submitted() : 0},
                    {"refresh_task_failures", refresher ? refresher->failed() : 0},
                    {"refresh_threads", refresher ? refresher->threads_started() : 0},
                    {"refresh_backlog", backlog},
                    {"errors", error_total},
                    {"reads", st.gets}});
    return make_record(req, m, std::move(metrics));
  });
}

scenario make_cache_scenario() {
  scenario s;
  s.name = "cache";
  s.family = "single-flight";
  s.description = "Zipf reads through a read-through cache whose TTL expires keys under load";
  s.default_workload = "zipf:n=1000,s=0.99";
  s.impls = impls_of(cache_registry, {"coalescing_cache"});
  s.knobs = {real_knob("loader_us", 1000, 0, 1e8, "backend latency per load, in µs"),
             real_knob("fail_rate", 0, 0, 1, "probability that a load throws"),
             real_knob("ttl_us", 5000, 0.001, 1e9, "time to live of a cached value, in µs"),
             real_knob("grace_us", 5000, 0, 1e9,
                       "stale-while-revalidate window after expiry, in µs (coalescing_cache)"),
             real_knob("beta", 1, 0, 1000, "XFetch early-refresh eagerness, 0 = off (coalescing_cache)"),
             integer_knob("capacity", 10000, 1, std::uint64_t{1} << 32, "cache entries"),
             choice_knob("refresh", "inline", {"inline", "async"},
                         "inline (the triggering caller loads and gets the new value) or async (a cached thread "
                         "pool loads; the caller gets the old value: Caffeine's refreshAfterWrite)"),
             real_knob("timeout_us", 0, 0, 1e9, "unused by the cache (accepted for symmetry with herd)"),
             text_knob("store", "sim", "the loader's backend: sim (simulated, loader_us/fail_rate) or "
                       "redis://HOST:PORT (GET on a Redis Cluster seed)")};
  s.metrics = {
      key_metric("backend_calls", "ops", "loads started in the measured window (redis: the store's GETs in it)"),
      key_metric("backend_calls_per_second", "ops/s", "backend_calls / the measured window's seconds"),
      metric("backend_calls_warmup", "ops", "loads before the clock started (warm-up)"),
      key_metric("hit_ratio", "fraction", "(fresh + stale answers) / reads"),
      key_metric("stale_served", "ops", "reads answered with an expired value in its grace window"),
      metric("reads", "ops", "cache gets"),
      metric("backend_calls_per_read", "ratio", "every load (warm-up + window + after) / every read (warm-up + window)"),
      metric("backend_calls_after_run", "ops", "loads of the refresh backlog drained after the window"),
      metric("early_refreshes", "ops", "refreshes started before expiry (XFetch)"),
      metric("refreshes", "ops", "refreshes started"),
      metric("misses", "ops", "gets that found no usable entry: they loaded it or joined a load in flight"),
      metric("refresh", "", "inline or async"),
      metric("refresh_tasks", "ops", "async: refresh tasks handed to the refresh pool"),
      metric("refresh_threads", "count", "async: threads the refresh pool started (a task found none waiting)"),
      zero_metric("refresh_task_failures", "ops", "async: refresh tasks that threw (the cache's own never do)"),
      metric("refresh_backlog", "ops", "async: refresh tasks still queued when the window closed (pool at its cap)"),
      metric("errors", "ops", "gets that ended in the loader's exception")};
  add_store_metrics(s.metrics);
  s.run = run_cache;
  s.suite = [](bool full) {
    std::vector<run_options> v;
    v.push_back(suite_step(full ? std::vector<unsigned>{2, 16, 64} : std::vector<unsigned>{16, 64}, "zipf:n=1000,s=0.99",
                     full ? 1.0 : 0.3, {}));
    if (full) v.push_back(suite_step({16, 64}, "zipf:n=100000,s=0.99", 1.0, {}));
    // One hot key: nearly every get is a hit (one refresh per ttl), so this
    // row is the cost of a hit.
    v.push_back(suite_step({1, 2}, "uniform:n=1", full ? 1.0 : 0.3, {}));
    // Caffeine's contract (no early refresh, reloads on an executor): the
    // JVM driver's `caffeine` records carry these knobs and sit in these groups
    // (anchors/java/Anchors.java plans the same workloads and threads).
    const std::map<std::string, std::string> caffeine_like{{"beta", "0"}, {"refresh", "async"}};
    v.push_back(suite_step(full ? std::vector<unsigned>{2, 16} : std::vector<unsigned>{2}, "uniform:n=1",
                     full ? 1.0 : 0.3, caffeine_like));
    v.push_back(suite_step(full ? std::vector<unsigned>{2, 16, 64} : std::vector<unsigned>{16, 64}, "zipf:n=1000,s=0.99",
                     full ? 1.0 : 0.3, caffeine_like));
    if (full) v.push_back(suite_step({16, 64}, "zipf:n=100000,s=0.99", 1.0, caffeine_like));
    return v;
  };
  return s;
}

}  // namespace

HOTSHARD_REGISTER_SCENARIO(make_cache_scenario());

}  // namespace hotshard::harness
