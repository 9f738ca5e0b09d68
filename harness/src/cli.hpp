// Internal to hotshard-bench: argument checking, the run engine shared by
// `run` and `suite`, progress on stderr, and the verbs' entry points.
#pragma once

#include <hotshard/harness/results.hpp>
#include <hotshard/harness/scenario.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <string>
#include <vector>

namespace hotshard::harness::cli {

// What every verb needs to know about the invocation.
struct invocation {
  std::string command_line;   // argv joined, for reports
  std::string allocator;      // HOTSHARD_ALLOCATOR of this binary
};

// Argument parsers: usage_error names `flag`, the bad value and what is accepted.
[[nodiscard]] std::vector<unsigned> parse_threads(const std::string& flag, const std::string& text);
[[nodiscard]] double parse_positive_seconds(const std::string& flag, const std::string& text);
[[nodiscard]] std::uint64_t parse_count(const std::string& flag, const std::string& text, std::uint64_t min);
[[nodiscard]] double parse_non_negative(const std::string& flag, const std::string& text);
[[nodiscard]] std::vector<std::string> split_list(const std::string& text);

// A scenario by name: usage_error for an unknown one (listing the names) and
// for a designed one that is not built into this binary.
[[nodiscard]] const scenario& resolve_scenario(const std::string& name);
// --impl: "all" or a comma list of the scenario's implementations.
[[nodiscard]] std::vector<std::string> resolve_impls(const scenario& s, const std::string& text);
// --set K=V...: each key must be one of the scenario's knobs.
[[nodiscard]] std::map<std::string, std::string> resolve_knobs(const scenario& s, const std::vector<std::string>& sets);
// --workload: validated by workloads::parse_spec; "" = the scenario default.
[[nodiscard]] std::string resolve_workload(const scenario& s, const std::string& text);

// Progress on stderr: what runs, how far, time left. Also a watchdog: a run
// that takes far longer than planned (max(120 s, 20 x its plan), or
// $HOTSHARD_RUN_TIMEOUT seconds) is reported as hung, `on_hang` runs (to save
// what is done) and the process exits with status 1 — a hung contender must
// not take the whole suite down with it.
class progress {
 public:
  progress(bool quiet, std::size_t total_runs, double expected_seconds);
  ~progress();
  progress(const progress&) = delete;
  progress& operator=(const progress&) = delete;
  void begin(const std::string& what, double expected_seconds_of_this_run);
  void end(double expected_seconds_of_this_run);
  void note(const std::string& line) const;
  void on_hang(std::function<void(const std::string& what)> f);

 private:
  using clock = std::chrono::steady_clock;
  void watch();
  bool quiet_;
  std::size_t total_, done_ = 0;
  double expected_left_;
  double expected_done_ = 0;
  clock::time_point started_ = clock::now();
  std::mutex mu_;
  std::condition_variable cv_;
  bool finished_ = false;
  std::string current_;
  clock::time_point deadline_ = clock::time_point::max();
  std::function<void(const std::string&)> on_hang_;
  std::thread watcher_;
};

// Expected wall time of one run of `o` (unknown ops-mode runs count 0.5 s).
[[nodiscard]] double expected_run_seconds(const run_options& o);

// Runs every (impl, threads, repetition) of one scenario with `o`, paired
// (pairing.hpp: repetition k of every impl before k + 1, impls shuffled), and
// appends each record to `sink` under `sink_mu` as it completes; records get
// the knobs of `o`. Exceptions from the scenario propagate.
void execute(const scenario& s, const std::vector<std::string>& impls, const run_options& o, progress& p,
             std::vector<result_record>& sink, std::mutex& sink_mu);

// Calibrate records from results files in `dirs` (newest first wins), for % of limit.
[[nodiscard]] std::vector<result_record> calibration_near(const std::vector<std::string>& dirs);
[[nodiscard]] std::string limit_of(const std::string& scenario_name);

[[nodiscard]] results_document new_document(const invocation& inv, nlohmann::json config);

// Verbs. Each returns the exit status or throws usage_error / run_failure.
int list(bool json);
struct run_args {
  std::string scenario, impl = "all", threads, workload, duration, ops, repetitions, seed, rate;
  std::string json, csv, md;
  std::vector<std::string> sets;
  bool quiet = false;
};
int run(const invocation& inv, const run_args& a);
struct suite_args {
  bool full = false;
  std::string out = "results/latest";
  std::string scenarios;    // comma list; "" = every registered scenario
  std::string repetitions;  // "" = 3 (quick) or 5 (full)
  std::string duration;     // "" = each step's own; else seconds per run of every time-bound step
  bool quiet = false, plots = true;
  bool anchors = false;     // run scripts/anchors.sh after the C++ steps and merge its results
};
int suite(const invocation& inv, const suite_args& a);
struct trace_gen_args {
  std::string spec, ops, seed = "1", threads = "1", format = "text", out, read_fraction = "0.5";
};
int trace_gen(const trace_gen_args& a);
int trace_stats(const std::string& file, const std::string& top, bool json);
// --format: a trace format name or "" (detect); --window: requests per window of the hottest-key series.
int trace_stats(const std::string& file, const std::string& top, bool json, const std::string& format,
                const std::string& window);
// `trace import IN [--format NAME] --out OUT`: any readable trace -> the suite's binary form.
int trace_import(const std::string& in, const std::string& format, const std::string& out);
int compare_files(const std::string& old_path, const std::string& new_path);

}  // namespace hotshard::harness::cli
