// The `calibrate` scenario: this machine's own limits, so every other figure
// can be read as a fraction of what the hardware (and the harness) allow.
//
//  private_increment  each thread increments a counter on its own cache line
//                     (load + store, single writer): the ceiling of any
//                     per-thread counting scheme, measured through the runner.
//  contended_rmw      every thread fetch_adds one shared line: at 1 thread the
//                     cost of an uncontended atomic RMW, at 2 the contended
//                     rate of DESIGN.md's limit.
//  line_round_trip    pairs of threads bounce one cache line (ping-pong); one
//                     op = one round trip; metrics.ns_per_round_trip. At 1
//                     thread the line never leaves the core (the floor).
//  null               the runner with an empty op: the harness's own cost per op.
//  timer              one op = one read of the runner's clock: its cost
//                     (ns_per_op) and resolution (metrics.resolution_ns),
//                     the figures every latency summary carries beside its
//                     percentiles.
// Every record carries `cores` (hardware threads): a limit measured with more
// threads than cores is not shown as a limit (results.hpp).
#include <hotshard/detail/backoff.hpp>
#include <hotshard/detail/cache_line.hpp>
#include <hotshard/harness/histogram.hpp>
#include <hotshard/harness/runner.hpp>
#include <hotshard/harness/scenario.hpp>

#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

namespace hotshard::harness {
namespace {

using cell = detail::padded<std::atomic<std::uint64_t>, detail::prefetch_pair_bytes>;

unsigned cores() { return std::max(1u, std::thread::hardware_concurrency()); }

nlohmann::json per_op_metrics(const run_request& r, const measurement& m) {
  const double ns = m.ops ? m.seconds * 1e9 * r.threads / static_cast<double>(m.ops) : 0.0;
  return {{"ns_per_op", ns}, {"expected", m.total_calls()}, {"cores", cores()}};
}

result_record private_increment(const run_request& r) {
  std::vector<cell> cells(r.threads);
  const auto m = run_workers(runner_config::from(r), [&](unsigned t) {
    std::atomic<std::uint64_t>* c = &cells[t].value;
    // Single writer per cell: a relaxed load + store is the whole increment;
    // atomics only so the compiler keeps every store.
    return [c](std::uint64_t) { c->store(c->load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); };
  });
  std::uint64_t observed = 0;
  for (const auto& c : cells) observed += c.value.load(std::memory_order_relaxed);  // after join: no race
  auto metrics = per_op_metrics(r, m);
  metrics["observed"] = observed;
  if (observed != m.total_calls()) throw run_failure("calibrate/private_increment: counts do not add up");
  return make_record(r, m, std::move(metrics));
}

result_record contended_rmw(const run_request& r) {
  cell shared;
  const auto m = run_workers(runner_config::from(r), [&](unsigned) {
    // Relaxed: only the RMW's atomicity matters; the total is read after join().
    return [&shared](std::uint64_t) { shared.value.fetch_add(1, std::memory_order_relaxed); };
  });
  auto metrics = per_op_metrics(r, m);
  metrics["observed"] = shared.value.load(std::memory_order_relaxed);
  if (metrics["observed"].get<std::uint64_t>() != m.total_calls())
    throw run_failure("calibrate/contended_rmw: lost increments");
  return make_record(r, m, std::move(metrics));
}

result_record null_op(const run_request& r) {
  const auto m = run_workers(runner_config::from(r), [](unsigned) {
    // An empty asm that "uses" i: the loop cannot be folded away, nothing else runs.
    return [](std::uint64_t i) { asm volatile("" : : "r"(i)); };
  });
  return make_record(r, m, per_op_metrics(r, m));
}

result_record timer_read(const run_request& r) {
  const auto m = run_workers(runner_config::from(r), [](unsigned) {
    return [](std::uint64_t) {
      const std::uint64_t t = steady_ns_clock::now();
      asm volatile("" : : "r"(t));
    };
  });
  auto metrics = per_op_metrics(r, m);
  metrics["resolution_ns"] = m.timer.resolution_ns;
  metrics["cost_ns_at_start"] = m.timer.cost_ns;
  return make_record(r, m, std::move(metrics));
}

// Ping-pong between the two threads of a pair. The ball's value is the step:
// odd = the pinger served, even = the ponger returned it; `done` ends it.
constexpr std::uint64_t done = ~std::uint64_t{0};

template <class Pred>
void wait_until(const std::atomic<std::uint64_t>& ball, Pred pred, std::uint64_t spin_limit) {
  // Spin, then yield: with more threads than cores the partner may need this
  // core to run at all; with enough cores yielding would only add noise.
  std::uint64_t spins = 0;
  while (!pred(ball.load(std::memory_order_acquire))) {  // (2) acquire: pairs with the release in (1)
    if (++spins < spin_limit)
      detail::cpu_relax();
    else
      std::this_thread::yield();
  }
}

result_record line_round_trip(const run_request& r) {
  using clock = std::chrono::steady_clock;
  const unsigned pairs = r.threads / 2;
  const runner_config cfg = runner_config::from(r);
  const std::uint64_t spin_limit =
      r.threads <= std::max(1u, std::thread::hardware_concurrency()) ? std::uint64_t{1} << 22 : 4096;
  if (pairs == 0) {
    // One thread: the line stays in this core's cache.
    cell ball;
    auto m = run_workers(cfg, [&](unsigned) {
      return [&ball](std::uint64_t i) {
        ball.value.store(i, std::memory_order_release);  // (1) release: read back by (2) on this thread
        while (ball.value.load(std::memory_order_acquire) != i) detail::cpu_relax();  // (2)
      };
    });
    auto metrics = per_op_metrics(r, m);
    metrics["ns_per_round_trip"] = metrics["ns_per_op"];
    metrics["pairs"] = 0;
    return make_record(r, m, std::move(metrics));
  }
  std::vector<cell> balls(pairs);
  struct alignas(detail::prefetch_pair_bytes) tally {
    std::uint64_t trips = 0, warmup = 0;
    clock::time_point end{};
    latency_histogram latency;
  };
  std::vector<tally> tallies(pairs);
  clock::time_point start{};
  std::barrier ready(static_cast<std::ptrdiff_t>(2 * pairs), [&]() noexcept { start = clock::now(); });
  const auto share = [&](unsigned p) { return cfg.ops / pairs + (p < cfg.ops % pairs ? 1 : 0); };

  auto pinger = [&](unsigned p) {
    auto& ball = balls[p].value;
    tally& t = tallies[p];
    std::uint64_t step = 0;
    auto trip = [&] {
      ball.store(++step, std::memory_order_release);  // (1) release: pairs with the acquire in (2)
      const std::uint64_t back = ++step;
      wait_until(ball, [back](std::uint64_t v) { return v == back; }, spin_limit);
    };
    const std::uint64_t warm = cfg.ops > 0 ? static_cast<std::uint64_t>(static_cast<double>(share(p)) * 0.1) : 1000;
    for (std::uint64_t k = 0; k < warm; ++k) trip();
    t.warmup = warm;
    ready.arrive_and_wait();
    const auto deadline = start + std::chrono::duration_cast<clock::duration>(
                                      std::chrono::duration<double>(cfg.duration_seconds));
    // Random gaps, mean 64 (timing.hpp): no round trip is favoured.
    gap_sampler gaps(64, cfg.seed + p);
    std::uint64_t next_timed = gaps.next() - 1;
    for (std::uint64_t k = 0;; ++k) {
      if (cfg.ops > 0 ? k >= share(p) : ((k & 255) == 0 && clock::now() >= deadline)) break;
      if (k == next_timed) {
        next_timed += gaps.next();
        const auto t0 = clock::now();
        trip();
        t.latency.record(static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0).count()));
      } else {
        trip();
      }
      ++t.trips;
    }
    t.end = clock::now();
    ball.store(done, std::memory_order_release);  // (1) release: pairs with the acquire in (2)
  };
  // Each ponger serves its pinger's warm-up trips, meets it at the barrier,
  // then serves until the pinger throws in `done`.
  std::vector<std::thread> pool;
  for (unsigned p = 0; p < pairs; ++p) {
    pool.emplace_back(pinger, p);
    pool.emplace_back([&, p] {
      auto& ball = balls[p].value;
      std::uint64_t expect = 1;
      const std::uint64_t warm_steps = 2 * (cfg.ops > 0 ? static_cast<std::uint64_t>(static_cast<double>(share(p)) * 0.1) : 1000);
      while (expect < warm_steps) {
        wait_until(ball, [expect](std::uint64_t v) { return v == expect; }, spin_limit);
        ball.store(expect + 1, std::memory_order_release);  // (1) release: pairs with the acquire in (2)
        expect += 2;
      }
      ready.arrive_and_wait();
      for (;;) {
        std::uint64_t seen = 0;
        wait_until(ball, [&](std::uint64_t v) {
          seen = v;
          return v == expect || v == done;
        }, spin_limit);
        if (seen == done) break;
        ball.store(expect + 1, std::memory_order_release);  // (1) release: pairs with the acquire in (2)
        expect += 2;
      }
    });
  }
  for (auto& th : pool) th.join();

  measurement m;
  clock::time_point last = start;
  for (const auto& t : tallies) {
    m.ops += t.trips;
    m.warmup_ops += t.warmup;
    m.latency.merge(t.latency);
    m.ops_per_thread.push_back(t.trips + t.warmup);
    last = std::max(last, t.end);
  }
  m.seconds = std::chrono::duration<double>(last - start).count();
  nlohmann::json metrics = {
      {"ns_per_round_trip", m.ops ? m.seconds * 1e9 * pairs / static_cast<double>(m.ops) : 0.0},
      {"cores", cores()},
      {"pairs", pairs},
      {"idle_threads", r.threads - 2 * pairs}};
  return make_record(r, m, std::move(metrics));
}

scenario make_calibrate_scenario() {
  scenario s;
  s.name = "calibrate";
  s.family = "harness";
  s.description = "the machine's limits: private increment, contended atomic RMW, cache-line round trip, "
                  "the harness's own per-op cost (null) and the clock's cost (timer)";
  s.default_workload = "none";
  s.impls = {
      {"private_increment", "each thread increments a counter on its own cache line (single writer)"},
      {"contended_rmw", "all threads fetch_add one shared cache line (1 thread: uncontended RMW)"},
      {"line_round_trip", "pairs of threads bounce one cache line; op = round trip (1 thread: same core)"},
      {"null", "the runner with an empty operation: the harness's own cost per op"},
      {"timer", "one read of the runner's clock per op: the cost and resolution beside every latency"},
  };
  s.metrics = {key_metric("ns_per_op", "ns", "threads x seconds / ops: one op's cost"),
               metric("expected", "ops", "ops the run made"),
               metric("observed", "ops", "the counters' sum after the run (must equal expected)"),
               metric("cores", "count", "cores of this machine"),
               metric("resolution_ns", "ns", "timer: the smallest clock step seen"),
               metric("cost_ns_at_start", "ns", "timer: one clock read, measured before the run"),
               key_metric("ns_per_round_trip", "ns", "line_round_trip: one round trip of the cache line"),
               metric("pairs", "count", "line_round_trip: thread pairs bouncing a line"),
               metric("idle_threads", "count", "line_round_trip: threads without a partner (odd counts)")};
  s.run = [](const run_request& r) -> result_record {
    if (r.impl == "private_increment") return private_increment(r);
    if (r.impl == "contended_rmw") return contended_rmw(r);
    if (r.impl == "line_round_trip") return line_round_trip(r);
    if (r.impl == "null") return null_op(r);
    if (r.impl == "timer") return timer_read(r);
    throw usage_error("calibrate has no implementation '" + r.impl + "'");
  };
  s.suite = [](bool full) {
    // Limits are only limits where each thread has a core: 1, 2, 4, ... up to
    // the core count (and the core count itself); quick: 1 and the core count.
    run_options o;
    const unsigned n = cores();
    o.threads = {1};
    if (full)
      for (unsigned t = 2; t < n; t *= 2) o.threads.push_back(t);
    if (n > 1) o.threads.push_back(n);
    o.duration_seconds = full ? 1.0 : 0.3;
    return std::vector<run_options>{o};
  };
  return s;
}

}  // namespace

HOTSHARD_REGISTER_SCENARIO(make_calibrate_scenario());

}  // namespace hotshard::harness
