// hotshard/harness/scenario.hpp — what a scenario is, what it is asked to run,
// and what it returns. Every family plugs into hotshard-bench through this.
//
// A family registers one `scenario` per scenario name (from a .cpp file linked
// into hotshard-bench, with HOTSHARD_REGISTER_SCENARIO). The CLI resolves
// --impl/--threads/--workload/--set against it, then calls `run` once per
// (implementation, thread count, repetition) and collects the records.
#pragma once

#include <hotshard/harness/histogram.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace hotshard::harness {

// Bad input from the user: exit status 2, message names the flag or value.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A failure while running (I/O, a violated invariant): exit status 1.
struct run_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The parsed command line of `run` (and of each step of `suite`).
struct run_options {
  std::vector<unsigned> threads{1, 2};
  std::string workload;            // empty: the scenario's default_workload
  double duration_seconds = 1.0;   // used when ops == 0
  std::uint64_t ops = 0;           // total measured operations per run, split over threads
  unsigned repetitions = 3;
  std::uint64_t seed = 1;
  double rate = 0;                 // open loop: total ops/s over all threads; 0 = closed loop
  std::map<std::string, std::string> knobs;  // --set KEY=VALUE, checked against scenario::knobs
  bool quiet = false;

  // Knob values: the fallback when absent; usage_error naming the knob when malformed.
  [[nodiscard]] double knob_double(const std::string& key, double fallback) const;
  [[nodiscard]] std::uint64_t knob_u64(const std::string& key, std::uint64_t fallback) const;
  [[nodiscard]] std::string knob_string(const std::string& key, const std::string& fallback) const;
};

// One run: one implementation at one thread count, one repetition.
struct run_request {
  const run_options& options;
  std::string scenario;
  std::string impl;
  unsigned threads = 1;
  unsigned repetition = 0;
  std::string workload;  // the resolved spec text (never empty)
  std::uint64_t seed = 1;  // derived from options.seed and repetition: each repetition differs
};

// An op whose mean cost (from throughput) is under this many clock reads is
// reported as below the timer's resolution: its percentiles would mostly be
// the clock's own cost.
inline constexpr double below_timer_factor = 3.0;

// Percentiles (ns) and what they can be trusted for: the clock they were
// taken with and, in closed loop, the op's mean cost from throughput. When
// that mean is under a few clock reads (`below_timer`), the percentiles are
// mostly the clock's own cost and reports show the mean instead.
struct latency_summary {
  std::uint64_t p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
  std::uint64_t samples = 0;         // timed ops behind the percentiles
  double mean_gap = 0;               // ops per timed op (1 = every op); 0 = unknown
  double timer_cost_ns = 0;          // one clock read; 0 = unknown
  double timer_resolution_ns = 0;    // smallest clock step seen; 0 = unknown
  double mean_ns = 0;                // closed loop: threads x seconds / ops; 0 = not applicable
  bool below_timer = false;          // mean_ns < below_timer_factor x timer_cost_ns
  static latency_summary of(const latency_histogram& h) {
    latency_summary s;
    s.p50 = h.percentile(0.50);
    s.p90 = h.percentile(0.90);
    s.p99 = h.percentile(0.99);
    s.p999 = h.percentile(0.999);
    s.max = h.max();
    s.samples = h.count();
    return s;
  }
};

// One row of hotshard.results/1 (DESIGN.md "Results format").
struct result_record {
  std::string scenario;
  std::string impl;
  unsigned threads = 1;
  std::string workload;
  unsigned repetition = 0;
  std::uint64_t ops = 0;
  double seconds = 0;
  double ops_per_sec = 0;
  latency_summary latency;
  nlohmann::json metrics = nlohmann::json::object();
  // The --set knobs of the run; filled in by hotshard-bench (scenarios need not).
  std::map<std::string, std::string> knobs;
};

struct implementation_info {
  std::string name;
  std::string description;
};

struct knob_info {
  std::string name;
  std::string description;
  std::string default_value;
};

struct scenario {
  std::string name;         // e.g. "counter"
  std::string family;       // e.g. "counters"
  std::string description;
  std::string default_workload;
  std::vector<implementation_info> impls;  // the family's contender registry
  std::vector<knob_info> knobs;            // accepted --set keys
  // Which limit from `calibrate` bounds this scenario's operation, if any:
  // "private_increment", "contended_rmw" or "" (none, the default). Name one
  // only where every implementation's op must do at least what the limit
  // measures (summary.md explains each limit); % of limit is then shown only
  // at thread counts where calibrate measured it (never above the core count).
  std::string limit;
  std::function<result_record(const run_request&)> run;
  // What `suite` runs for this scenario: one run_options per step (threads,
  // workload, duration or ops, knobs; repetitions are set by the suite).
  // `full` = false must fit this scenario's share of a ≤ 5 minute --quick suite
  // on 2 cores. Empty function: one step with the default options.
  std::function<std::vector<run_options>(bool full)> suite;
};

// Registry. register_scenario throws std::logic_error on a duplicate name.
void register_scenario(scenario s);
[[nodiscard]] const std::vector<scenario>& registered_scenarios();
[[nodiscard]] const scenario* find_scenario(std::string_view name);

// Every scenario name of DESIGN.md, in display order, registered or not:
// `list` shows all of them and `run` of an unregistered one says it is not built.
[[nodiscard]] const std::vector<std::string>& designed_scenario_names();

}  // namespace hotshard::harness

#define HOTSHARD_CONCAT_INNER(a, b) a##b
#define HOTSHARD_CONCAT(a, b) HOTSHARD_CONCAT_INNER(a, b)
// Use at namespace scope in a .cpp linked into hotshard-bench:
//   HOTSHARD_REGISTER_SCENARIO(make_counter_scenario());
#define HOTSHARD_REGISTER_SCENARIO(expr)                                              \
  [[maybe_unused]] static const bool HOTSHARD_CONCAT(hotshard_registered_, __LINE__) = \
      (::hotshard::harness::register_scenario(expr), true)
