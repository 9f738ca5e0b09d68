// Scenarios of the single-flight family: `herd` and `cache`.
//
// herd, workload herd:keys=K,waves=W — T threads, W waves. In each wave every
// thread waits at one barrier, then requests the wave's K fresh (missing) keys
// in the same order (so the herd released by key j's result meets at key
// j + 1), through the implementation under test; the
// loader (the backend) sleeps loader_us and fails with probability fail_rate
// (decided per wave and key, from the seed, so every contender sees the same
// failures). Metrics: waves, waiters (calls served by another caller's load),
// backend_calls, calls_per_wave = backend_calls / (W·K) (1 is perfect
// coalescing, T is none), wake_p99_ns (from the loader returning to each
// waiter returning), timeouts (timeout_us > 0: callers that gave up, ours
// only: run_for), errors (calls that ended in the loader's exception),
// late_arrivals (calls that began after their wave's flight for that key had
// already returned: single-flight is not a cache, so such a caller rightly
// starts a new flight; calls_per_wave − 1 is explained by them) with
// late_arrivals_per_wave (one entry per wave) and late_leaders (late arrivals
// that did run the loader).
// herd, any other workload (zipf:...) — run_workers; each op is a run on a
// drawn key; loader_us = 0 measures the table itself.
//
// cache, workload zipf:... — each op is a read through the cache with a TTL
// short enough that keys expire under load. Metrics: backend_calls, hit_ratio
// (fresh + stale answers / reads), stale_served, early_refreshes, refreshes,
// refresh_tasks, errors. --set refresh=inline (default): the caller that
// triggers a refresh runs the loader and gets the new value; refresh=async:
// the refresh is handed to one background thread and that caller is served
// the old value — Caffeine's refreshAfterWrite contract (its reloads run on
// ForkJoinPool.commonPool(), one worker on this 2-core machine), so
// `--set beta=0 --set refresh=async` is the configuration the JVM driver's
// Caffeine records are labelled with and compared against. refresh_backlog:
// refresh tasks still queued when the measured window closed (the one thread
// could not keep up); they are drained after it without the backend latency,
// and their loads are counted in backend_calls_after_run, not backend_calls.
//
// The backend counts its calls per calling thread, each count in its own
// padded slot, summed after the run: counting adds no shared write to the
// measured loop. In the herd scenario only thread t calls with index t, so
// its count is a plain load and store (no locked RMW in every contender's
// loader); the cache scenario's refresh thread may load with a worker's
// index, so there the count stays an RMW.
#include "contenders/single_flight.hpp"

#include <hotshard/harness/store.hpp>

#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/detail/hash.hpp>
#include <hotshard/harness/histogram.hpp>
#include <hotshard/harness/runner.hpp>
#include <hotshard/harness/scenario_support.hpp>
#include <hotshard/harness/scenario.hpp>
#include <hotshard/workloads/spec.hpp>
#include <hotshard/workloads/stream.hpp>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace hh = hotshard::harness;
namespace hc = hotshard::contenders;
namespace hw = hotshard::workloads;
using clock_type = std::chrono::steady_clock;

struct backend_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
}

// The simulated backend: counts calls (per calling thread), sleeps, fails deterministically.
struct backend {
  backend(std::chrono::microseconds l, double f, std::uint64_t s, unsigned threads, bool one_caller_per_index = false)
      : latency(l), fail_rate(f), seed(s), exclusive(one_caller_per_index), calls_by(std::max(1u, threads)) {}
  std::chrono::microseconds latency{0};
  double fail_rate = 0;
  std::uint64_t seed = 1;
  bool exclusive = false;  // index t is only ever used by thread t
  struct alignas(hotshard::detail::prefetch_pair_bytes) count {
    std::atomic<std::uint64_t> n{0};  // written by its thread only; atomic so a stray caller stays defined
  };
  std::vector<count> calls_by;
  // Set when the measured window has closed: loads still queued then (an
  // async refresh backlog, drained before the cache is destroyed) skip the
  // latency, so draining thousands of 1 ms refreshes costs no wall time. They
  // are still counted; the run's timing is over.
  std::atomic<bool> run_over{false};

  [[nodiscard]] std::uint64_t calls() const {  // after the run (join orders it)
    std::uint64_t n = 0;
    for (const auto& c : calls_by) n += c.n.load(std::memory_order_relaxed);
    return n;
  }

  bool fails(std::uint64_t round, std::uint64_t key) const {
    if (fail_rate <= 0) return false;
    const std::uint64_t h = hotshard::detail::seeded_hash(hotshard::detail::mix64(key) ^ round, seed);
    return static_cast<double>(h >> 11) * 0x1.0p-53 < fail_rate;
  }
  std::uint64_t load(unsigned thread, std::uint64_t round, std::uint64_t key) {
    auto& c = calls_by[thread < calls_by.size() ? thread : thread % calls_by.size()].n;
    if (exclusive)
      c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // its thread's only; orders nothing
    else
      c.fetch_add(1, std::memory_order_relaxed);  // a count orders nothing
    if (latency.count() > 0 && !run_over.load(std::memory_order_relaxed)) std::this_thread::sleep_for(latency);
    if (fails(round, key)) throw backend_failure("backend failure");
    return key * 2 + 1;
  }
};

// refresh=async: the cache's executor. One background thread runs the
// refresh tasks in order (Caffeine's reloads run on its executor the same
// way). stop() runs what was submitted, then joins; it must be called before
// the cache is destroyed (the tasks refer to it), and is idempotent.
class refresh_thread {
 public:
  refresh_thread() : worker_([this] { loop(); }) {}
  ~refresh_thread() { stop(); }
  refresh_thread(const refresh_thread&) = delete;
  refresh_thread& operator=(const refresh_thread&) = delete;

  void submit(std::function<void()> task) {
    {
      std::lock_guard lock(mu_);
      tasks_.push_back(std::move(task));
      ++submitted_;
    }
    wake_.notify_one();
  }
  void stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_one();
    if (worker_.joinable()) worker_.join();
  }
  [[nodiscard]] std::uint64_t submitted() const {
    std::lock_guard lock(mu_);
    return submitted_;
  }
  [[nodiscard]] std::uint64_t queued() const {  // submitted, not started yet
    std::lock_guard lock(mu_);
    return tasks_.size();
  }
  [[nodiscard]] std::uint64_t failed() const {  // tasks that threw (the cache's own tasks do not)
    std::lock_guard lock(mu_);
    return failed_;
  }

 private:
  void loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      wake_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stopping, and everything submitted has run
      std::function<void()> task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      bool threw = false;
      try {
        task();
      } catch (...) {
        threw = true;
      }
      lock.lock();
      if (threw) ++failed_;
    }
  }

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::uint64_t submitted_ = 0, failed_ = 0;
  std::thread worker_;  // last: starts once the members above exist
};

template <class T>
concept timed_table = requires(T& t, std::uint64_t k, std::uint64_t (*l)()) {
  t.run_for(k, std::chrono::nanoseconds{1}, l);
};

struct call_outcome {
  bool shared = false;
  bool timed_out = false;
  bool error = false;
};

template <class Table, class Loader>
call_outcome call(Table& table, std::uint64_t key, std::chrono::nanoseconds timeout, Loader&& loader) {
  call_outcome o;
  try {
    if constexpr (timed_table<Table>) {
      if (timeout.count() > 0) {
        const auto r = table.run_for(key, timeout, loader);
        o.timed_out = r.timed_out();
        o.shared = r.shared();
        if (r.failed()) std::rethrow_exception(r.error);
        return o;
      }
    }
    const auto r = table.run(key, loader);
    o.shared = r.shared();
    if (r.failed()) std::rethrow_exception(r.error);
  } catch (const backend_failure&) {
    o.error = true;
  }
  return o;
}

struct herd_knobs {
  std::chrono::microseconds loader{0};
  double fail_rate = 0;
  std::chrono::nanoseconds timeout{0};
};

herd_knobs read_knobs(const hh::run_request& req, double default_loader_us) {
  herd_knobs k;
  const double us = req.options.knob_double("loader_us", default_loader_us);
  const double fr = req.options.knob_double("fail_rate", 0);
  const double to = req.options.knob_double("timeout_us", 0);
  if (us < 0) throw hh::usage_error("--set loader_us: must be >= 0, got " + std::to_string(us));
  if (fr < 0 || fr > 1) throw hh::usage_error("--set fail_rate: must be in [0, 1], got " + std::to_string(fr));
  if (to < 0) throw hh::usage_error("--set timeout_us: must be >= 0, got " + std::to_string(to));
  k.loader = std::chrono::microseconds(static_cast<std::int64_t>(us));
  k.fail_rate = fr;
  k.timeout = std::chrono::nanoseconds(static_cast<std::int64_t>(to * 1000));
  return k;
}

// The herd: synchronized waves onto K missing keys.
template <class Table>
hh::result_record run_waves(const hh::run_request& req, const hw::herd_plan& plan) {
  // 50 ms: longer than it takes this kind of machine (2 cores) to wake 1024
  // sleeping threads, so a late waker does not miss the flight it belongs to.
  const herd_knobs kn = read_knobs(req, 50000);
  const unsigned T = std::max(1u, req.threads);
  const std::uint64_t K = std::max<std::uint64_t>(1, plan.keys);
  const std::uint64_t W = std::max<std::uint64_t>(1, plan.waves);
  Table table(static_cast<std::size_t>(T) * K);
  backend be{kn.loader, kn.fail_rate, req.seed, T, true};
  // When each key's result came out (the loader's return), for wake latency.
  std::vector<std::atomic<std::int64_t>> published(W * K);

  struct alignas(hotshard::detail::prefetch_pair_bytes) per_thread {
    hh::latency_histogram latency, wake;
    std::uint64_t calls = 0, shared = 0, timeouts = 0, errors = 0, late = 0, late_leaders = 0;
    std::vector<std::uint64_t> late_by_wave;
    hotshard::detail::contention_counts contention;
  };
  std::vector<per_thread> slots(T);
  clock_type::time_point start{}, end{};
  std::barrier wave(static_cast<std::ptrdiff_t>(T), [&]() noexcept {
    if (start == clock_type::time_point{}) start = clock_type::now();
  });
  std::vector<std::thread> pool;
  pool.reserve(T);
  for (unsigned t = 0; t < T; ++t) {
    pool.emplace_back([&, t] {
      per_thread& s = slots[t];
      s.late_by_wave.assign(W, 0);
      const auto base = hotshard::detail::counting_stats::local();
      for (std::uint64_t w = 0; w < W; ++w) {
        wave.arrive_and_wait();
        for (std::uint64_t j = 0; j < K; ++j) {
          const std::uint64_t slot = w * K + j;
          const std::uint64_t key = slot + 1;  // fresh every wave: the herd's keys are missing
          // Late: this key's flight of this wave already returned (acquire: pairs with (1)).
          const bool late = published[slot].load(std::memory_order_acquire) != 0;
          bool led = false;
          const auto t0 = clock_type::now();
          const auto o = call(table, key, kn.timeout, [&] {
            led = true;
            struct stamp {  // the result is out when the loader returns or throws
              std::atomic<std::int64_t>& at;
              ~stamp() { at.store(now_ns(), std::memory_order_release); }  // (1) pairs with (2)
            } st{published[slot]};
            return be.load(t, w, key);
          });
          const auto t1 = clock_type::now();
          s.late += late;
          s.late_by_wave[w] += late;
          s.late_leaders += late && led;
          s.latency.record(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
          ++s.calls;
          s.timeouts += o.timed_out;
          s.errors += o.error;
          if (o.shared && !o.error) {
            ++s.shared;
            const std::int64_t at = published[slot].load(std::memory_order_acquire);  // (2) pairs with (1)
            const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(t1.time_since_epoch()).count();
            s.wake.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, now - at)));
          }
        }
      }
      wave.arrive_and_wait();
      if (t == 0) end = clock_type::now();
      const auto& now = hotshard::detail::counting_stats::local();
      s.contention.cas_failures = now.cas_failures - base.cas_failures;
      s.contention.spins = now.spins - base.spins;
      s.contention.waits = now.waits - base.waits;
    });
  }
  for (auto& th : pool) th.join();

  hh::measurement m;
  hh::latency_histogram wake;
  std::uint64_t shared = 0, timeouts = 0, errors = 0, late = 0, late_leaders = 0;
  std::vector<std::uint64_t> late_by_wave(W, 0);
  for (const auto& s : slots) {
    late += s.late;
    late_leaders += s.late_leaders;
    for (std::uint64_t w = 0; w < W; ++w) late_by_wave[w] += s.late_by_wave[w];
    m.ops += s.calls;
    m.latency.merge(s.latency);
    m.contention += s.contention;
    m.ops_per_thread.push_back(s.calls);
    wake.merge(s.wake);
    shared += s.shared;
    timeouts += s.timeouts;
    errors += s.errors;
  }
  m.seconds = std::chrono::duration<double>(end - start).count();
  const std::uint64_t calls = be.calls();
  nlohmann::json metrics = {{"waves", W},
                            {"keys", K},
                            {"waiters", shared},
                            {"backend_calls", calls},
                            {"calls_per_wave", static_cast<double>(calls) / static_cast<double>(W * K)},
                            {"wake_p50_ns", wake.percentile(0.50)},
                            {"wake_p99_ns", wake.percentile(0.99)},
                            {"wake_max_ns", wake.max()},
                            {"timeouts", timeouts},
                            {"errors", errors},
                            {"late_arrivals", late},
                            {"late_leaders", late_leaders},
                            {"late_arrivals_per_wave", late_by_wave},
                            {"loader_us", kn.loader.count()},
                            {"fail_rate", kn.fail_rate}};
  if constexpr (requires { table.stats().overflow; }) metrics["overflow"] = table.stats().overflow;
  return hh::make_record(req, m, std::move(metrics));
}

// Zipf (or any key stream): every op is a run on a drawn key.
template <class Table>
hh::result_record run_stream(const hh::run_request& req, const hw::workload_spec& spec) {
  const herd_knobs kn = read_knobs(req, 0);
  const unsigned T = std::max(1u, req.threads);
  Table table(T);
  backend be{kn.loader, kn.fail_rate, req.seed, T, true};
  std::atomic<std::uint64_t> shared{0}, timeouts{0}, errors{0};
  constexpr std::size_t n_keys = std::size_t{1} << 16;
  const auto m = hh::run_workers(hh::runner_config::from(req), [&](unsigned t) {
    auto keys = hw::generate_keys(spec, req.seed, t, T, n_keys);
    struct counts {
      std::uint64_t shared = 0, timeouts = 0, errors = 0;
    };
    auto c = std::make_shared<counts>();
    // Counts are flushed every 4096 ops and by the last op's owner at destruction.
    struct flusher {
      std::shared_ptr<counts> c;
      std::atomic<std::uint64_t>*sh, *to, *er;
      ~flusher() {
        sh->fetch_add(c->shared, std::memory_order_relaxed);  // read after join: no ordering needed
        to->fetch_add(c->timeouts, std::memory_order_relaxed);
        er->fetch_add(c->errors, std::memory_order_relaxed);
      }
    };
    auto f = std::make_shared<flusher>(flusher{c, &shared, &timeouts, &errors});
    return [&, t, keys = std::move(keys), c, f](std::uint64_t i) {  // t by value: the factory returns
      const std::uint64_t key = keys[i & (n_keys - 1)];
      const auto o = call(table, key, kn.timeout, [&] { return be.load(t, 0, key); });
      c->shared += o.shared;
      c->timeouts += o.timed_out;
      c->errors += o.error;
    };
  });
  const std::uint64_t calls = be.calls();
  const double total = static_cast<double>(std::max<std::uint64_t>(1, m.total_calls()));
  nlohmann::json metrics = {{"waves", 0},
                            {"waiters", shared.load()},
                            {"backend_calls", calls},
                            {"calls_per_op", static_cast<double>(calls) / total},
                            {"timeouts", timeouts.load()},
                            {"errors", errors.load()},
                            {"loader_us", kn.loader.count()},
                            {"fail_rate", kn.fail_rate}};
  if constexpr (requires { table.stats().overflow; }) metrics["overflow"] = table.stats().overflow;
  return hh::make_record(req, m, std::move(metrics));
}

hh::result_record run_herd(const hh::run_request& req) {
  hw::workload_spec spec;
  try {
    spec = hw::parse_spec(req.workload);
  } catch (const hw::spec_error& e) {
    throw hh::usage_error(std::string("--workload: ") + e.what());
  }
  std::optional<hh::result_record> rec;
  hc::for_each_flight_table([&]<class T>(const char* name, const char*) {
    if (rec || req.impl != name) return;
    rec = spec.kind == "herd" ? run_waves<T>(req, hw::herd_of(spec)) : run_stream<T>(req, spec);
  });
  if (!rec) throw hh::usage_error("--impl: unknown implementation '" + req.impl + "' for herd");
  return *rec;
}

hh::result_record run_cache(const hh::run_request& req) {
  hw::workload_spec spec;
  try {
    spec = hw::parse_spec(req.workload);
  } catch (const hw::spec_error& e) {
    throw hh::usage_error(std::string("--workload: ") + e.what());
  }
  if (spec.kind == "herd") throw hh::usage_error("--workload: the cache scenario takes a key stream, not herd:");
  const herd_knobs kn = read_knobs(req, 1000);
  const double ttl_us = req.options.knob_double("ttl_us", 5000);
  const double grace_us = req.options.knob_double("grace_us", 5000);
  const double beta = req.options.knob_double("beta", 1.0);
  const std::uint64_t capacity = req.options.knob_u64("capacity", 10000);
  const std::string refresh = req.options.knob_string("refresh", "inline");
  if (refresh != "inline" && refresh != "async")
    throw hh::usage_error("--set refresh: '" + refresh + "' (accepted: inline, async)");
  if (ttl_us <= 0) throw hh::usage_error("--set ttl_us: must be > 0");
  if (grace_us < 0 || beta < 0) throw hh::usage_error("--set grace_us / beta: must be >= 0");
  hotshard::coalescing_cache_options o;
  o.ttl = std::chrono::nanoseconds(static_cast<std::int64_t>(ttl_us * 1000));
  o.grace = std::chrono::nanoseconds(static_cast<std::int64_t>(grace_us * 1000));
  o.negative_ttl = o.ttl / 10;
  o.beta = beta;
  o.capacity = static_cast<std::size_t>(std::max<std::uint64_t>(1, capacity));
  o.flight_capacity = std::max<std::size_t>(1024, 4 * std::size_t{req.threads});
  const unsigned T = std::max(1u, req.threads);
  const std::string store_name = req.options.knob_string("store", "sim");
  std::unique_ptr<hh::store_backend> remote = hh::open_store_backend(store_name);
  if (remote && kn.fail_rate != 0)
    throw hh::usage_error("--set fail_rate: a failure rate is the simulated backend's (--set store=sim)");
  std::optional<hh::result_record> rec;
  hc::for_each_cache([&]<class C>(const char* name, const char*) {
    if (rec || req.impl != name) return;
    std::optional<refresh_thread> refresher;  // refresh=async; stopped below, before the cache is destroyed
    hotshard::coalescing_cache_options oc = o;
    if (refresh == "async") {
      refresher.emplace();
      oc.executor = [r = &*refresher](std::function<void()> task) { r->submit(std::move(task)); };
    }
    C cache(std::move(oc));
    struct stop_first {  // destroyed before `cache`, also when the run throws
      std::optional<refresh_thread>& r;
      ~stop_first() {
        if (r) r->stop();
      }
    } stop_refresher{refresher};
    backend be{kn.loader, kn.fail_rate, req.seed, T};
    // The loader: the simulated backend, or a GET on the Redis Cluster (a failed GET throws, counted in errors).
    const auto load = [&](unsigned t, std::uint64_t i, std::uint64_t key) -> std::uint64_t {
      if (!remote) return be.load(t, i, key);
      const auto v = remote->read(key);
      if (!v) throw backend_failure("redis GET failed");
      return static_cast<std::uint64_t>(*v);
    };
    if (remote) remote->begin_run();
    struct alignas(hotshard::detail::prefetch_pair_bytes) error_count {
      std::uint64_t n = 0;  // its thread's only; summed after join
    };
    std::vector<error_count> errors(T);
    constexpr std::size_t n_keys = std::size_t{1} << 16;
    const auto m = hh::run_workers(hh::runner_config::from(req), [&](unsigned t) {
      auto keys = hw::generate_keys(spec, req.seed, t, T, n_keys);
      return [&, t, keys = std::move(keys)](std::uint64_t i) {
        const std::uint64_t key = keys[i & (n_keys - 1)];
        try {
          // By value: an async refresh runs this loader after get returned.
          (void)cache.get(key, [&load, t, i, key] { return load(t, i, key); });
        } catch (const backend_failure&) {
          ++errors[t].n;
        }
      };
    });
    const std::uint64_t backlog = refresher ? refresher->queued() : 0;  // refreshes the executor had not reached
    const std::uint64_t calls_in_run = be.calls();  // the backlog's loads below are counted apart
    be.run_over.store(true, std::memory_order_relaxed);  // the backlog below drains without the latency
    if (refresher) refresher->stop();                     // its loads: backend_calls_after_run
    const auto st = cache.stats();
    const double gets = static_cast<double>(std::max<std::uint64_t>(1, st.gets));
    std::uint64_t error_total = 0;
    for (const auto& e : errors) error_total += e.n;
    nlohmann::json metrics = nlohmann::json::object();
    std::uint64_t calls = calls_in_run;
    if (remote) {
      remote->end_run();
      metrics = remote->metrics();  // node_ops (Redis's counts), client_node_ops, node_errors, node_latency_ns...
      calls = remote->backend_calls();
    }
    if (!remote) metrics["backend_calls_after_run"] = be.calls() - calls_in_run;  // the drained backlog
    metrics.update({{"store", store_name},
                    {"backend_calls", calls},
                    {"backend_calls_per_read", static_cast<double>(calls) / gets},
                    {"hit_ratio", static_cast<double>(st.hits + st.stale_served) / gets},
                    {"stale_served", st.stale_served},
                    {"early_refreshes", st.early_refreshes},
                    {"refreshes", st.refreshes},
                    {"refresh", refresh},
                    {"refresh_tasks", refresher ? refresher->submitted() : 0},
                    {"refresh_task_failures", refresher ? refresher->failed() : 0},
                    {"refresh_backlog", backlog},
                    {"errors", error_total},
                    {"reads", st.gets}});
    rec = hh::make_record(req, m, std::move(metrics));
  });
  if (!rec) throw hh::usage_error("--impl: unknown implementation '" + req.impl + "' for cache");
  return *rec;
}

hh::run_options step(std::vector<unsigned> threads, std::string workload, double seconds,
                     std::map<std::string, std::string> knobs) {
  hh::run_options o;
  o.threads = std::move(threads);
  o.workload = std::move(workload);
  o.duration_seconds = seconds;
  o.knobs = std::move(knobs);
  return o;
}

hh::scenario make_herd_scenario() {
  hh::scenario s;
  s.name = "herd";
  s.family = "single-flight";
  s.description =
      "thundering herd: T threads released at once onto K missing keys per wave (herd:), or runs on drawn keys (zipf:)";
  s.default_workload = "herd:keys=1,waves=10";
  s.impls = hh::impls_of([](auto&& f) { hc::for_each_flight_table(f); });
  s.knobs = {{"loader_us", "backend latency per load, in µs (herd: default 50000; other workloads: 0)", "50000"},
             {"fail_rate", "probability that a load throws (decided per wave and key)", "0"},
             {"timeout_us", "waiters give up after this many µs (run_for; 0 = wait)", "0"}};
  s.run = run_herd;
  s.suite = [](bool full) {
    std::vector<hh::run_options> v;
    if (full) {
      v.push_back(step({256, 1024}, "herd:keys=1,waves=20", 1, {{"loader_us", "50000"}}));
      v.push_back(step({256, 1024}, "herd:keys=1,waves=20", 1, {{"loader_us", "50000"}, {"fail_rate", "0.5"}}));
      v.push_back(step({64}, "herd:keys=8,waves=10", 1, {{"loader_us", "50000"}}));
      v.push_back(step({1, 2, 4, 16, 64}, "zipf:n=100000,s=0.99", 1, {{"loader_us", "0"}}));
    } else {
      v.push_back(step({256}, "herd:keys=1,waves=5", 1, {{"loader_us", "50000"}}));
      v.push_back(step({256}, "herd:keys=1,waves=5", 1, {{"loader_us", "50000"}, {"fail_rate", "0.5"}}));
      v.push_back(step({2, 64}, "zipf:n=100000,s=0.99", 0.3, {{"loader_us", "0"}}));
    }
    return v;
  };
  return s;
}

hh::scenario make_cache_scenario() {
  hh::scenario s;
  s.name = "cache";
  s.family = "single-flight";
  s.description = "Zipf reads through a read-through cache whose TTL expires keys under load";
  s.default_workload = "zipf:n=1000,s=0.99";
  s.impls = hh::impls_of([](auto&& f) { hc::for_each_cache(f); });
  s.knobs = {{"loader_us", "backend latency per load, in µs", "1000"},
             {"fail_rate", "probability that a load throws", "0"},
             {"ttl_us", "time to live of a cached value, in µs", "5000"},
             {"grace_us", "stale-while-revalidate window after expiry, in µs (coalescing_cache)", "5000"},
             {"beta", "XFetch early-refresh eagerness, 0 = off (coalescing_cache)", "1"},
             {"capacity", "cache entries", "10000"},
             {"refresh", "inline (the triggering caller loads and gets the new value) or async (one background "
                         "thread loads; the caller gets the old value: Caffeine's refreshAfterWrite)", "inline"},
             {"timeout_us", "unused by the cache (accepted for symmetry with herd)", "0"},
             {"store", "the loader's backend: sim (simulated, loader_us/fail_rate) or redis://HOST:PORT (GET on a Redis "
                       "Cluster seed)", "sim"}};
  s.run = run_cache;
  s.suite = [](bool full) {
    std::vector<hh::run_options> v;
    v.push_back(step(full ? std::vector<unsigned>{2, 16, 64} : std::vector<unsigned>{16, 64}, "zipf:n=1000,s=0.99",
                     full ? 1.0 : 0.3, {}));
    if (full) v.push_back(step({16, 64}, "zipf:n=100000,s=0.99", 1.0, {}));
    // One hot key: nearly every get is a hit (one refresh per ttl), so this
    // row is the cost of a hit.
    v.push_back(step({1, 2}, "uniform:n=1", full ? 1.0 : 0.3, {}));
    // Caffeine's contract (no early refresh, reloads on an executor): the
    // JVM driver's `caffeine` records carry these knobs and sit in these groups
    // (anchors/java/Anchors.java plans the same workloads and threads).
    const std::map<std::string, std::string> caffeine_like{{"beta", "0"}, {"refresh", "async"}};
    v.push_back(step(full ? std::vector<unsigned>{2, 16} : std::vector<unsigned>{2}, "uniform:n=1",
                     full ? 1.0 : 0.3, caffeine_like));
    v.push_back(step(full ? std::vector<unsigned>{2, 16, 64} : std::vector<unsigned>{16, 64}, "zipf:n=1000,s=0.99",
                     full ? 1.0 : 0.3, caffeine_like));
    if (full) v.push_back(step({16, 64}, "zipf:n=100000,s=0.99", 1.0, caffeine_like));
    return v;
  };
  return s;
}

}  // namespace

HOTSHARD_REGISTER_SCENARIO(make_herd_scenario());
HOTSHARD_REGISTER_SCENARIO(make_cache_scenario());
