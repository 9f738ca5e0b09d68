// hotshard/workloads/trace_stats.hpp — what a trace looks like: size, op mix,
// skew (head shares and a fitted Zipf exponent) and the hottest key over time.
//
// The Zipf fit is the maximum-likelihood exponent of a Zipf law truncated to
// the fitted ranks 1..R: it maximises sum_r c_r * log(r^-s / H_R(s)), where
// c_r is the count of the r-th most frequent key and H_R(s) = sum_{r<=R} r^-s
// (solved by bisection on s in [0.001, 8]; the likelihood is concave in s). R
// is the last rank whose count is at least min_fit_count: below that, ranks
// are ordered by sampling noise rather than by popularity. 0 (and R = 0) when
// fewer than 3 ranks qualify.
//
// Progress: analyze_trace blocks on file I/O. Memory: one count per distinct
// key plus one window's counts. Memory ordering: no shared state, no atomics.
#pragma once

#include <hotshard/workloads/operation.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hotshard::workloads {

enum class trace_format;

inline constexpr std::uint64_t min_fit_count = 16;

struct trace_window {
  std::uint64_t first_request = 0, requests = 0;  // the window [first, first + requests)
  std::uint64_t hottest_key = 0, hottest_count = 0;
};

struct trace_statistics {
  std::uint64_t records = 0, distinct_keys = 0;
  std::array<std::uint64_t, 4> per_op{};                     // indexed by op_kind
  bool has_operations = true;                                // false: a key-only format, all gets
  std::vector<std::pair<std::uint64_t, std::uint64_t>> top;  // (key, count), most frequent first
  // Requests that went to the most frequent ceil(1%) and ceil(0.1%) of the
  // distinct keys, and to the 10 most frequent keys, as fractions of records.
  double top_1_percent_share = 0, top_0_1_percent_share = 0, top_10_share = 0;
  double zipf_s_estimate = 0;        // the maximum-likelihood fit (see above)
  std::uint64_t zipf_fit_ranks = 0;  // R: fitted on ranks 1..R
  std::vector<trace_window> windows;  // consecutive windows of window_requests (the last may be shorter)
  // (rank, count) at about 30 log-spaced ranks per decade and the last rank:
  // the rank-frequency curve, for plots.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> rank_frequency;
};

struct trace_analysis_options {
  std::size_t top_n = 10;
  std::uint64_t window_requests = 10000;  // >= 1
  std::optional<trace_format> format;     // nullopt: detect
};

// One pass over the trace; trace_error as trace_reader.
[[nodiscard]] trace_statistics analyze_trace(const std::string& path, std::size_t top_n = 10);
[[nodiscard]] trace_statistics analyze_trace(const std::string& path, const trace_analysis_options& options);

// The maximum-likelihood Zipf exponent for counts sorted most frequent first,
// fitted on ranks 1..R as above; {s, R}, {0, 0} when fewer than 3 ranks have
// at least min_count.
struct zipf_fit {
  double s = 0;
  std::uint64_t ranks = 0;
};
[[nodiscard]] zipf_fit fit_zipf(const std::vector<std::uint64_t>& descending_counts,
                                std::uint64_t min_count = min_fit_count);

}  // namespace hotshard::workloads
