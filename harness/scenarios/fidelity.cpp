// Scenario `fidelity`: the harness measuring operations whose cost is known,
// so a run can say whether its own figures are to be trusted. `suite` runs it
// first and summary.md shows the verdict of every check.
//
// Contenders (each op busy-waits on the runner's clock, so its cost does not
// depend on the CPU's speed; --set base_ns, stall_ns, delay_ns change them):
//  spin   every op takes base_ns (1 µs).
//  stall  every op takes base_ns, every k-th call of a thread (k = 50, its own
//         call count) stalls stall_ns (50 µs): 2% of ops, so p99 is a stall.
//  queue  like a queue that allocates a block every 32 pushes: op i takes
//         delay_ns (20 µs) when i is a multiple of 32, else base_ns. A
//         sampler that times ops at a fixed power-of-two stride sees every
//         delay or none; the checks want 1/32 of the samples.
//  tiny   an op of a few instructions: its percentiles would be the clock's
//         own cost, so the record must say it is below the timer.
// Known values: a busy-wait overshoots its nominal time (its last clock read
// lands past the deadline; 1 µs takes ~1.1 µs here), so the op is first timed
// apart from the runner: 800 calls (a multiple of 32 and 50, so every slow
// position is in it) back to back between two clock reads, the cheapest of 5
// batches. That is `known_op_ns` (mean per call); the common op's real cost
// is base_ns plus the overshoot measured the same way on spin_for(base_ns)
// (`overshoot_ns`). The known values come from a plain loop, not from the
// runner, so the checks test the runner: if it miscounted ops or time, or its
// own overhead were over 10% (e.g. a rate off by half), throughput would miss
// by more than the tolerance.
// Checks (metrics.checks: name, expected, measured, tolerance, pass):
// throughput = threads x 1e9 / known_op_ns (±10%; the ops busy-wait on wall
// time, so a thread that loses its core to another process fails this: the
// machine was too busy to measure), p50 and p99 against the op's known cost
// plus one clock read (±10%), the share of timed ops that were slow (within 2x
// of the slow cost) against its known share (±30%: a few hundred samples per
// run), and tiny's below-timer flag. `pass` = all.
#include <hotshard/harness/runner.hpp>
#include <hotshard/harness/scenario.hpp>
#include <hotshard/harness/timing.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace hotshard::harness {
namespace {

constexpr std::uint64_t stall_every = 50;
constexpr std::uint64_t queue_block = 32;

void spin_for(std::uint64_t ns) noexcept {
  const std::uint64_t until = steady_ns_clock::now() + ns;
  while (steady_ns_clock::now() < until) {
  }
}

struct costs {
  std::uint64_t base, stall, delay;
};

costs costs_of(const run_request& r) {
  costs c{r.integer("base_ns"), r.integer("stall_ns"), r.integer("delay_ns")};
  if (c.stall < 4 * c.base) throw usage_error("--set stall_ns: must be at least 4 x base_ns");
  if (c.delay < 4 * c.base) throw usage_error("--set delay_ns: must be at least 4 x base_ns");
  return c;
}

struct checker {
  nlohmann::json list = nlohmann::json::array();
  bool all = true;
  void add(const std::string& name, const std::string& what, const std::string& unit, double expected,
           double measured, double tolerance) {
    const bool pass = std::fabs(measured - expected) <= tolerance * std::fabs(expected);
    all = all && pass;
    list.push_back({{"name", name},
                    {"what", what},
                    {"unit", unit},
                    {"expected", expected},
                    {"measured", measured},
                    {"tolerance", tolerance},
                    {"pass", pass}});
  }
};

// The op's mean cost per call measured without the runner: `calls` calls
// (op(0) .. op(calls - 1)) between two clock reads, the cheapest of `tries`
// batches (one that lost the core is not the op's cost).
template <class Op>
double isolated_ns(Op op, std::uint64_t calls = 800, int tries = 5) {
  double best = -1;
  for (int k = 0; k < tries; ++k) {
    const std::uint64_t t0 = steady_ns_clock::now();
    for (std::uint64_t i = 0; i < calls; ++i) op(i);
    const double per = static_cast<double>(steady_ns_clock::now() - t0) / static_cast<double>(calls);
    if (best < 0 || per < best) best = per;
  }
  return best;
}

template <class Op>
result_record run_known(const run_request& r, Op op, std::uint64_t typical_ns, std::uint64_t slow_ns,
                        double slow_share) {
  // Known values first, on this thread, before the runner's threads exist.
  const double known_op_ns = isolated_ns(op);
  const double overshoot_ns =
      std::max(0.0, isolated_ns([typical_ns](std::uint64_t) { spin_for(typical_ns); }) - static_cast<double>(typical_ns));
  const auto m = run_workers(runner_config::from(r), [&](unsigned) { return op; });
  nlohmann::json known = {{"known_op_ns", known_op_ns}, {"overshoot_ns", overshoot_ns}};
  auto rec = make_record(r, m, std::move(known));
  checker c;
  // A timed op's latency includes one clock read (the first read of the pair).
  const double clock_ns = rec.latency.timer_cost_ns;
  c.add("throughput", "ops/s = threads x 1e9 / the op's mean ns timed apart from the runner", "ops/s",
        r.threads * 1e9 / known_op_ns, rec.ops_per_sec, 0.10);
  c.add("p50", "median latency = the common op's cost (with its overshoot) + one clock read", "ns",
        static_cast<double>(typical_ns) + overshoot_ns + clock_ns, static_cast<double>(rec.latency.p50), 0.10);
  const std::uint64_t p99_ns = slow_share > 0.01 ? slow_ns : typical_ns;
  c.add("p99", slow_share > 0.01 ? "p99 = the slow op's cost (with overshoot) + one clock read (slow ops are over 1%)"
                                 : "p99 = the op's cost (with overshoot) + one clock read",
        "ns", static_cast<double>(p99_ns) + overshoot_ns + clock_ns, static_cast<double>(rec.latency.p99), 0.10);
  if (slow_share > 0) {
    // Slow = within a factor of 2 of the slow cost: a preempted op (ms) is not one.
    const double samples = static_cast<double>(m.latency.count());
    const auto band = m.latency.count_at_least(slow_ns / 2) - m.latency.count_at_least(2 * slow_ns);
    const double share = samples > 0 ? static_cast<double>(band) / samples : 0;
    c.add("slow_share", "share of timed ops that were slow (no aliasing)", "", slow_share, share, 0.30);
  }
  rec.metrics["checks"] = std::move(c.list);
  rec.metrics["pass"] = c.all;
  return rec;
}

result_record run_tiny(const run_request& r) {
  const auto m = run_workers(runner_config::from(r), [](unsigned) {
    return [x = std::uint64_t{1}](std::uint64_t i) mutable {
      x = x * 0x9e3779b97f4a7c15ULL + i;
      asm volatile("" : : "r"(x));
    };
  });
  auto rec = make_record(r, m);
  checker c;
  c.add("below_timer", "an op cheaper than a few clock reads is flagged (1 = flagged)", "", 1.0,
        rec.latency.below_timer ? 1.0 : 0.0, 0.0);
  rec.metrics["checks"] = std::move(c.list);
  rec.metrics["pass"] = c.all;
  return rec;
}

result_record run_fidelity(const run_request& r) {
  const costs k = costs_of(r);
  if (r.impl == "spin") {
    return run_known(r, [b = k.base](std::uint64_t) { spin_for(b); }, k.base, 0, 0);
  }
  if (r.impl == "stall") {
    return run_known(
        r,
        [k, calls = std::uint64_t{0}](std::uint64_t) mutable {
          spin_for(++calls % stall_every == 0 ? k.stall : k.base);
        },
        k.base, k.stall, 1.0 / stall_every);
  }
  if (r.impl == "queue") {
    return run_known(
        r, [k](std::uint64_t i) { spin_for(i % queue_block == 0 ? k.delay : k.base); }, k.base, k.delay,
        1.0 / queue_block);
  }
  if (r.impl == "tiny") return run_tiny(r);
  throw usage_error("--impl: '" + r.impl + "' is not an implementation of fidelity");
}

scenario make_fidelity_scenario() {
  scenario s;
  s.name = "fidelity";
  s.family = "harness";
  s.description =
      "self-check: synthetic ops of known cost (spin: base_ns; stall: base_ns with a stall_ns stall every 50th call; "
      "queue: delay_ns every 32nd op; tiny: below the timer). metrics.checks compares throughput, p50, p99 and the "
      "slow share with the known values; pass = every check within tolerance.";
  s.default_workload = "none";
  s.impls = {{"spin", "every op busy-waits base_ns (1 µs)"},
             {"stall", "base_ns, and every 50th call of a thread stalls stall_ns (50 µs)"},
             {"queue", "op i takes delay_ns (20 µs) when i is a multiple of 32, else base_ns"},
             {"tiny", "a few instructions: must be reported below the timer's resolution"}};
  s.knobs = {integer_knob("base_ns", 1000, 100, 1'000'000, "the common op's cost, ns"),
             integer_knob("stall_ns", 50'000, 400, 1'000'000'000, "stall's slow call, ns (at least 4 x base_ns)"),
             integer_knob("delay_ns", 20'000, 400, 1'000'000'000, "queue's slow op (every 32nd), ns (at least 4 x base_ns)")};
  s.metrics = {key_metric("pass", "", "every check within its tolerance"),
               metric("checks", "", "each check: name, what, unit, expected, measured, tolerance, pass"),
               metric("known_op_ns", "ns", "the op's mean cost timed apart from the runner (a plain loop)"),
               metric("overshoot_ns", "ns", "how far a spin of base_ns overshoots, timed the same way")};
  s.run = run_fidelity;
  s.suite = [](bool full) {
    run_options o;
    o.threads = {1};
    o.duration_seconds = full ? 1.0 : 0.3;
    return std::vector<run_options>{o};
  };
  return s;
}

}  // namespace

HOTSHARD_REGISTER_SCENARIO(make_fidelity_scenario());

}  // namespace hotshard::harness
