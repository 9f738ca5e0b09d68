// harness/scenarios/herd.cpp — the single-flight family's `herd` scenario.
//
// Workload herd:keys=K,waves=W — T threads, W waves. In each wave every
// thread waits at one barrier, then requests the wave's K fresh (missing) keys
// in the same order (so the herd released by key j's result meets at key
// j + 1) through the implementation under test. The loader (the backend)
// sleeps loader_us and fails with probability fail_rate, decided per wave and
// key from the seed, so every contender sees the same failures. A late arrival
// (a call that began after its wave's flight for that key had returned)
// rightly starts a new flight — single-flight is not a cache — and explains
// calls_per_wave − 1. Wake latency: from the loader's return to a waiter's.
// Any other workload (zipf:...) — run_workers; each op is a run on a drawn
// key; loader_us = 0 measures the table itself.
// Each metric's meaning: make_herd_scenario's declarations.
#include "contenders/single_flight.hpp"
#include "scenarios/single_flight_backend.hpp"

#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/harness/histogram.hpp>
#include <hotshard/harness/runner.hpp>
#include <hotshard/harness/scenario.hpp>
#include <hotshard/harness/scenario_support.hpp>
#include <hotshard/workloads/spec.hpp>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

namespace hotshard::harness {
namespace {

namespace hc = hotshard::contenders;
namespace hw = hotshard::workloads;
using clock_type = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
}

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

// The herd: synchronized waves onto K missing keys.
template <class Table>
result_record run_waves(const run_request& req, const hw::herd_plan& plan) {
  // 50 ms: longer than it takes this kind of machine (2 cores) to wake 1024
  // sleeping threads, so a late waker does not miss the flight it belongs to.
  const loader_knobs kn = read_loader_knobs(req, req.real_if_set("loader_us").value_or(50000));
  const unsigned T = std::max(1u, req.threads);
  const std::uint64_t K = std::max<std::uint64_t>(1, plan.keys);
  const std::uint64_t W = std::max<std::uint64_t>(1, plan.waves);
  Table table(static_cast<std::size_t>(T) * K);
  simulated_backend be{kn.loader, kn.fail_rate, req.seed, T, true};
  // When each key's result came out (the loader's return), for wake latency.
  std::vector<std::atomic<std::int64_t>> published(W * K);

  struct alignas(detail::prefetch_pair_bytes) per_thread {
    latency_histogram latency, wake;
    std::uint64_t calls = 0, shared = 0, timeouts = 0, errors = 0, late = 0, late_leaders = 0;
    std::vector<std::uint64_t> late_by_wave;
    detail::contention_counts contention;
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
      const auto base = detail::counting_stats::local();
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
      const auto& now = detail::counting_stats::local();
      s.contention.cas_failures = now.cas_failures - base.cas_failures;
      s.contention.spins = now.spins - base.spins;
      s.contention.waits = now.waits - base.waits;
    });
  }
  for (auto& th : pool) th.join();

  measurement m;
  latency_histogram wake;
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
  return make_record(req, m, std::move(metrics));
}

// Zipf (or any key stream): every op is a run on a drawn key.
template <class Table>
result_record run_stream(const run_request& req, const hw::workload_spec& spec) {
  const loader_knobs kn = read_loader_knobs(req, req.real_if_set("loader_us").value_or(0));
  const unsigned T = std::max(1u, req.threads);
  Table table(T);
  simulated_backend be{kn.loader, kn.fail_rate, req.seed, T, true};
  struct alignas(detail::prefetch_pair_bytes) counts {
    std::uint64_t shared = 0, timeouts = 0, errors = 0;  // its thread's only; summed after join
  };
  std::vector<counts> by_thread(T);
  const auto m = run_workers(runner_config::from(req), [&](unsigned t) {
    auto keys = thread_keys(req, spec, t);
    const std::size_t mask = keys.size() - 1;  // keys_per_thread: a power of two
    return [&, t, mask, keys = std::move(keys)](std::uint64_t i) {  // t by value: the factory returns
      const std::uint64_t key = keys[i & mask];
      const auto o = call(table, key, kn.timeout, [&] { return be.load(t, 0, key); });
      counts& c = by_thread[t];
      c.shared += o.shared;
      c.timeouts += o.timed_out;
      c.errors += o.error;
    };
  });
  counts sum;
  for (const auto& c : by_thread) {
    sum.shared += c.shared;
    sum.timeouts += c.timeouts;
    sum.errors += c.errors;
  }
  const std::uint64_t calls = be.calls();
  const double total = static_cast<double>(std::max<std::uint64_t>(1, m.total_calls()));
  nlohmann::json metrics = {{"waves", 0},
                            {"waiters", sum.shared},
                            {"backend_calls", calls},
                            {"calls_per_op", static_cast<double>(calls) / total},
                            {"timeouts", sum.timeouts},
                            {"errors", sum.errors},
                            {"loader_us", kn.loader.count()},
                            {"fail_rate", kn.fail_rate}};
  if constexpr (requires { table.stats().overflow; }) metrics["overflow"] = table.stats().overflow;
  return make_record(req, m, std::move(metrics));
}

constexpr auto flight_table_registry = [](auto&& f) { hc::for_each_flight_table(f); };

// herd: waves on a herd: workload, runs on drawn keys on any other.
result_record run_herd(const run_request& req) {
  const hw::workload_spec spec = workload_of(req);
  return dispatch(req, flight_table_registry, [&]<class Table>(const run_request& r) {
    return spec.kind == "herd" ? run_waves<Table>(r, hw::herd_of(spec)) : run_stream<Table>(r, spec);
  });
}

scenario make_herd_scenario() {
  scenario s;
  s.name = "herd";
  s.family = "single-flight";
  s.description =
      "thundering herd: T threads released at once onto K missing keys per wave (herd:), or runs on drawn keys (zipf:)";
  s.default_workload = "herd:keys=1,waves=10";
  s.impls = impls_of(flight_table_registry, {"single_flight"});
  s.knobs = {real_knob("loader_us", 50000, 0, 1e8, "backend latency per load, in µs")
                 .computed("herd: workloads 50000 (longer than waking 1024 sleeping threads here), others 0"),
             real_knob("fail_rate", 0, 0, 1, "probability that a load throws (decided per wave and key)"),
             real_knob("timeout_us", 0, 0, 1e9, "waiters give up after this many µs (run_for; 0 = wait)")};
  s.metrics = {
      key_metric("waves", "count", "waves of the herd: workload (0 on a key stream)"),
      key_metric("waiters", "ops", "calls served by another caller's load"),
      key_metric("backend_calls", "ops", "loads the backend served"),
      key_metric("calls_per_wave", "ratio", "backend_calls / (waves × keys): 1 is perfect coalescing, T none"),
      key_metric("wake_p99_ns", "ns", "p99 from the loader's return to a waiter's return"),
      key_metric("timeouts", "ops", "callers that gave up (timeout_us > 0; ours only)"),
      key_metric("errors", "ops", "calls that ended in the loader's exception (fail_rate)"),
      metric("keys", "count", "missing keys per wave"),
      metric("calls_per_op", "ratio", "key stream: backend_calls per op"),
      metric("wake_p50_ns", "ns", "median from the loader's return to a waiter's return"),
      metric("wake_max_ns", "ns", "largest wake latency"),
      metric("late_arrivals", "ops", "calls that began after their wave's flight for the key had returned"),
      metric("late_leaders", "ops", "late arrivals that ran the loader"),
      metric("late_arrivals_per_wave", "ops", "late arrivals per wave (array)"),
      metric("loader_us", "µs", "backend latency per load"),
      metric("fail_rate", "fraction", "probability that a load throws"),
      metric("overflow", "ops", "ours: loads run alone (flight window full or claim beaten)")};
  s.run = run_herd;
  s.suite = [](bool full) {
    std::vector<run_options> v;
    if (full) {
      v.push_back(suite_step({256, 1024}, "herd:keys=1,waves=20", 1, {{"loader_us", "50000"}}));
      v.push_back(suite_step({256, 1024}, "herd:keys=1,waves=20", 1, {{"loader_us", "50000"}, {"fail_rate", "0.5"}}));
      v.push_back(suite_step({64}, "herd:keys=8,waves=10", 1, {{"loader_us", "50000"}}));
      v.push_back(suite_step({1, 2, 4, 16, 64}, "zipf:n=100000,s=0.99", 1, {{"loader_us", "0"}}));
    } else {
      v.push_back(suite_step({256}, "herd:keys=1,waves=5", 1, {{"loader_us", "50000"}}));
      v.push_back(suite_step({256}, "herd:keys=1,waves=5", 1, {{"loader_us", "50000"}, {"fail_rate", "0.5"}}));
      v.push_back(suite_step({2, 64}, "zipf:n=100000,s=0.99", 0.3, {{"loader_us", "0"}}));
    }
    return v;
  };
  return s;
}

}  // namespace

HOTSHARD_REGISTER_SCENARIO(make_herd_scenario());

}  // namespace hotshard::harness
