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
#include <optional>
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
};

// One --set key of a scenario, declared once: the CLI parses and validates
// --set against it, `list` shows it, and run_request's typed reads return its
// value or its default. Build one with the *_knob functions below.
enum class knob_type { integer, real, text, flag };
[[nodiscard]] std::string_view to_string(knob_type t) noexcept;

struct knob_info {
  std::string name;
  std::string description;
  knob_type type = knob_type::text;
  std::string default_value;   // as it would be typed after --set NAME=; "" when computed per run
  std::string default_note;    // how a computed default is chosen (then default_value is "")
  double min = 0, max = 0;     // integer and real: the accepted range, inclusive
  std::vector<std::string> choices;  // text: the accepted values; empty = any text


  // The default depends on the run (e.g. on the workload): say how; read it with *_if_set.
  [[nodiscard]] knob_info computed(std::string note) &&;
  // usage_error naming `--set NAME=text`, the fault and what is accepted,
  // unless this knob accepts `text`.
  void validate(const std::string& text) const;
  // What it accepts, in words (e.g. "an integer in [1, 65536]").
  [[nodiscard]] std::string accepted() const;
};

[[nodiscard]] knob_info integer_knob(std::string name, std::uint64_t dflt, std::uint64_t min, std::uint64_t max,
                                     std::string description);
[[nodiscard]] knob_info real_knob(std::string name, double dflt, double min, double max, std::string description);
[[nodiscard]] knob_info choice_knob(std::string name, std::string dflt, std::vector<std::string> choices,
                                    std::string description);
[[nodiscard]] knob_info text_knob(std::string name, std::string dflt, std::string description);
// --set NAME=0|1|false|true
[[nodiscard]] knob_info flag_knob(std::string name, bool dflt, std::string description);

// One key of a record's "metrics": what it counts and in which unit. Reports
// show the `key` metrics first; a `must_be_zero` metric is an invariant (items
// lost, errors) whose non-zero value is a defect of the run or the contender.
struct metric_info {
  std::string name;
  std::string unit;     // "ns", "ops", "items", "bytes", "ratio", "fraction", "count", "ops/s", "" (a label)
  std::string meaning;
  bool key = false;
  bool must_be_zero = false;
};
[[nodiscard]] metric_info metric(std::string name, std::string unit, std::string meaning);
[[nodiscard]] metric_info key_metric(std::string name, std::string unit, std::string meaning);
// An invariant: must be 0 (also a key metric).
[[nodiscard]] metric_info zero_metric(std::string name, std::string unit, std::string meaning);

struct scenario;

// One run: one implementation at one thread count, one repetition.
struct run_request {
  const run_options& options;
  std::string scenario;
  std::string impl;
  unsigned threads = 1;
  unsigned repetition = 0;
  std::string workload;  // the resolved spec text (never empty)
  std::uint64_t seed = 1;  // derived from options.seed and repetition: each repetition differs
  const harness::scenario* of = nullptr;  // the scenario being run: its knob declarations

  // Typed knob reads: the --set value (validated by the CLI) or the declared
  // default. Reading an undeclared knob, with the wrong type, or a computed
  // default through a plain read throws std::logic_error: a scenario bug.
  [[nodiscard]] std::uint64_t integer(std::string_view knob) const;
  [[nodiscard]] double real(std::string_view knob) const;
  [[nodiscard]] std::string text(std::string_view knob) const;
  [[nodiscard]] bool flag(std::string_view knob) const;
  // For a knob whose default is computed: the --set value, or nullopt.
  [[nodiscard]] std::optional<std::uint64_t> integer_if_set(std::string_view knob) const;
  [[nodiscard]] std::optional<double> real_if_set(std::string_view knob) const;

 private:
  [[nodiscard]] std::optional<std::string> value_of(std::string_view knob, knob_type type) const;
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
  bool ours = false;  // one of hotshard's primitives (the rest are peers and baselines)
};

struct scenario {
  std::string name;         // e.g. "counter"
  std::string family;       // e.g. "counters"
  std::string description;
  std::string default_workload;
  std::vector<implementation_info> impls;  // the family's contender registry
  std::vector<knob_info> knobs;            // accepted --set keys
  std::vector<metric_info> metrics;        // every key its records' "metrics" may carry
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

// The metrics run_workers' make_record adds to a record (harness cost, open
// loop schedule, contention counts): register_scenario appends them to every
// scenario's own, so a scenario declares only what it measures itself.
[[nodiscard]] const std::vector<metric_info>& runner_metrics();

// Registry. register_scenario throws std::logic_error on a duplicate name,
// and on a knob or metric declared twice.
void register_scenario(scenario s);
[[nodiscard]] const std::vector<scenario>& registered_scenarios();
[[nodiscard]] const scenario* find_scenario(std::string_view name);

// A scenario's self-description as JSON (`list --json`, and the "scenarios"
// object of a results document): family, description, default workload,
// limit, impls (name, description, ours), knobs (name, type, default or
// default_note, min/max or choices, description) and metrics (name, unit,
// meaning, key, must_be_zero).
[[nodiscard]] nlohmann::json describe(const scenario& s);

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
