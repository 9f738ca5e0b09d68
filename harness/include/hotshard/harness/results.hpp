// hotshard/harness/results.hpp — the hotshard.results/1 format and the reports
// made from it: JSON (nlohmann/json), CSV and Markdown summaries, and the
// old-vs-new comparison of `hotshard-bench compare`.
//
// Summaries group records by (scenario, impl, threads, workload, knobs) and
// give the median, min and max of ops_per_sec over repetitions, the ratio of
// the median to the best contender's median in the same (scenario, threads,
// workload, knobs) group, and — when the scenario names a calibrate limit and
// a calibrate record for it exists at the same thread count, measured with no
// more threads than cores — the median as a percentage of that limit (no
// limit is borrowed from another thread count). Scenario metrics and latency
// figures are medians over the repetitions too; every repetition stays in
// the JSON.
#pragma once

#include <hotshard/harness/scenario.hpp>

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace hotshard::harness {

inline constexpr const char* results_schema = "hotshard.results/1";

struct tool_info {
  std::string name = "hotshard-bench";
  std::string version;  // hotshard::version_string
  std::string git;      // short commit at configure time, "unknown" outside a repository
  std::string build;    // CMAKE_BUILD_TYPE, so a debug-build figure is never mistaken for a measurement
};
[[nodiscard]] tool_info this_tool();

struct machine_info {
  std::string cpu;
  unsigned cores = 0;
  std::string os;
  std::string compiler;
  std::string allocator;
};
// `allocator` is what the calling binary was linked with (HOTSHARD_ALLOCATOR).
[[nodiscard]] machine_info this_machine(std::string allocator);

struct results_document {
  tool_info tool;
  machine_info machine;
  std::string started;  // UTC, ISO 8601
  nlohmann::json config = nlohmann::json::object();
  std::vector<result_record> results;
  nlohmann::json errors = nlohmann::json::array();  // suite steps that failed: {scenario, message}
  // Name -> describe(scenario) for the scenarios of the results (what is
  // ours, each knob and metric): readers such as scripts/headline.py take it
  // from here. Optional in hotshard.results/1: older files lack it.
  nlohmann::json scenarios = nlohmann::json::object();
};

[[nodiscard]] std::string utc_now_iso8601();

// Records carry the --set knobs of their run (so suite steps that differ only
// by knobs stay apart); this is their canonical text, "" when none.
[[nodiscard]] std::string knobs_text(const std::map<std::string, std::string>& knobs);

[[nodiscard]] nlohmann::json to_json(const result_record& r);
[[nodiscard]] nlohmann::json to_json(const results_document& d);
// Throws usage_error naming what is missing or malformed.
[[nodiscard]] result_record record_from_json(const nlohmann::json& j);
[[nodiscard]] results_document document_from_json(const nlohmann::json& j);
[[nodiscard]] results_document read_results_file(const std::string& path);

struct summary_row {
  std::string scenario, impl, workload, knobs;
  unsigned threads = 1;
  std::vector<double> ops_per_sec;  // per repetition, in repetition order
  double median = 0, min = 0, max = 0;
  double ratio_to_best = 0;                 // median / best median of the group (1 = best)
  std::string limit;                        // calibrate impl named by the scenario, "" if none
  std::optional<double> percent_of_limit;   // 100 x median / limit median
  latency_summary latency;                  // medians over repetitions
  nlohmann::json metrics;                   // each number: median over repetitions; the rest from repetition 0
};

// limit_of(scenario name) -> the calibrate impl it is a fraction of ("" = none).
using limit_lookup = std::function<std::string(const std::string&)>;
// `calibration` may hold calibrate records from elsewhere (a results dir);
// calibrate records among `records` are used first.
[[nodiscard]] std::vector<summary_row> summarize(const std::vector<result_record>& records,
                                                 const limit_lookup& limit_of,
                                                 const std::vector<result_record>& calibration = {});

[[nodiscard]] std::string to_csv(const std::vector<summary_row>& rows);
// A human summary: command line, tool and machine, how runs were paired, the
// fidelity verdict, the calibrate figures and what each limit means, then one
// table per scenario.
[[nodiscard]] std::string to_markdown(const results_document& d, const std::vector<summary_row>& rows,
                                      const std::string& command_line);
// The compact table `run` prints on stdout.
[[nodiscard]] std::string to_text_table(const std::vector<summary_row>& rows);

struct compare_row {
  std::string scenario, impl, workload, knobs;
  unsigned threads = 1;
  std::optional<double> old_median, new_median;
  [[nodiscard]] std::optional<double> ratio() const {
    if (!old_median || !new_median || *old_median <= 0) return std::nullopt;
    return *new_median / *old_median;
  }
};
[[nodiscard]] std::vector<compare_row> compare(const results_document& old_doc, const results_document& new_doc);
[[nodiscard]] std::string to_text(const std::vector<compare_row>& rows);

// Writes `text` to `path` atomically enough for reports (write then rename);
// run_failure on I/O error.
void write_text_file(const std::string& path, const std::string& text);
// usage_error (exit 2) naming `flag` unless `path` can be created or overwritten.
void check_writable(const std::string& flag, const std::string& path);

}  // namespace hotshard::harness
