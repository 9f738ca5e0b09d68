// analyze_trace (trace.hpp): one streamed pass that counts every key, then the
// top keys and a log-log least-squares estimate of the Zipf exponent.
#include <hotshard/workloads/trace.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <unordered_map>

namespace hotshard::workloads {
namespace {

// Ranks with fewer samples than this are mostly noise on a log scale.
constexpr std::uint64_t min_fit_count = 16;
constexpr std::size_t max_fit_ranks = 10000;

double fit_zipf_exponent(const std::vector<std::uint64_t>& descending_counts) {
  std::size_t ranks = 0;
  while (ranks < descending_counts.size() && ranks < max_fit_ranks &&
         descending_counts[ranks] >= min_fit_count) {
    ++ranks;
  }
  if (ranks < 3) return 0;
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (std::size_t i = 0; i < ranks; ++i) {
    const double x = std::log(static_cast<double>(i + 1));
    const double y = std::log(static_cast<double>(descending_counts[i]));
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const auto m = static_cast<double>(ranks);
  const double denominator = m * sxx - sx * sx;
  return denominator > 0 ? -(m * sxy - sx * sy) / denominator : 0;
}

}  // namespace

trace_statistics analyze_trace(const std::string& path, std::size_t top_n) {
  trace_statistics stats;
  std::unordered_map<std::uint64_t, std::uint64_t> counts;
  trace_reader reader(path);
  std::vector<operation> chunk;
  while (reader.next_chunk(chunk)) {
    for (const operation& op : chunk) {
      ++counts[op.key];
      ++stats.per_op[static_cast<std::size_t>(op.op)];
    }
    stats.records += chunk.size();
  }
  stats.distinct_keys = counts.size();

  std::vector<std::pair<std::uint64_t, std::uint64_t>> by_count(counts.begin(), counts.end());
  counts = {};
  const std::size_t head = std::min(by_count.size(), std::max(top_n, max_fit_ranks));
  // Most frequent first; ties by smaller key so the output is deterministic.
  const auto more_frequent = [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  };
  std::partial_sort(by_count.begin(), by_count.begin() + static_cast<std::ptrdiff_t>(head), by_count.end(),
                    more_frequent);
  stats.top.assign(by_count.begin(), by_count.begin() + static_cast<std::ptrdiff_t>(std::min(top_n, head)));
  std::vector<std::uint64_t> descending(head);
  for (std::size_t i = 0; i < head; ++i) descending[i] = by_count[i].second;
  stats.zipf_s_estimate = fit_zipf_exponent(descending);
  return stats;
}

}  // namespace hotshard::workloads
