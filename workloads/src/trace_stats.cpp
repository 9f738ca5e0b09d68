// analyze_trace (trace_stats.hpp): one streamed pass that counts every key and
// the hottest key of each window, then the head shares and the
// maximum-likelihood Zipf exponent.
#include <hotshard/workloads/trace.hpp>

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace hotshard::workloads {
namespace {

// d/ds of the mean log-rank under Zipf(s) truncated to 1..R is negative, so the
// likelihood equation mean_s(log r) = observed mean has one root: bisect.
double model_mean_log_rank(double s, const std::vector<double>& log_ranks) {
  double z = 0, w = 0;
  for (const double lr : log_ranks) {
    const double p = std::exp(-s * lr);
    z += p;
    w += p * lr;
  }
  return w / z;
}

}  // namespace

zipf_fit fit_zipf(const std::vector<std::uint64_t>& descending_counts, std::uint64_t min_count) {
  std::size_t ranks = 0;
  while (ranks < descending_counts.size() && descending_counts[ranks] >= std::max<std::uint64_t>(min_count, 1)) {
    ++ranks;
  }
  if (ranks < 3) return {};
  std::vector<double> log_ranks(ranks);
  double samples = 0, sum_log = 0;
  for (std::size_t i = 0; i < ranks; ++i) {
    log_ranks[i] = std::log(static_cast<double>(i + 1));
    samples += static_cast<double>(descending_counts[i]);
    sum_log += static_cast<double>(descending_counts[i]) * log_ranks[i];
  }
  const double observed = sum_log / samples;
  double lo = 0.001, hi = 8.0;
  if (model_mean_log_rank(lo, log_ranks) <= observed) return {lo, ranks};  // flatter than the range allows
  if (model_mean_log_rank(hi, log_ranks) >= observed) return {hi, ranks};
  for (int i = 0; i < 60; ++i) {
    const double mid = 0.5 * (lo + hi);
    (model_mean_log_rank(mid, log_ranks) > observed ? lo : hi) = mid;
  }
  return {0.5 * (lo + hi), ranks};
}

trace_statistics analyze_trace(const std::string& path, std::size_t top_n) {
  trace_analysis_options options;
  options.top_n = top_n;
  return analyze_trace(path, options);
}

trace_statistics analyze_trace(const std::string& path, const trace_analysis_options& options) {
  if (options.window_requests == 0) throw std::invalid_argument("analyze_trace: window_requests must be >= 1");
  trace_statistics stats;
  std::unordered_map<std::uint64_t, std::uint64_t> counts, window;
  trace_reader reader(path, options.format);
  stats.has_operations = reader.has_operations();
  trace_window current;
  const auto close_window = [&] {
    if (current.requests == 0) return;
    for (const auto& [key, count] : window) {
      if (count > current.hottest_count || (count == current.hottest_count && key < current.hottest_key)) {
        current.hottest_key = key;
        current.hottest_count = count;
      }
    }
    stats.windows.push_back(current);
    current = {current.first_request + current.requests, 0, 0, 0};
    window.clear();
  };
  std::vector<operation> chunk;
  while (reader.next_chunk(chunk)) {
    for (const operation& op : chunk) {
      ++counts[op.key];
      ++window[op.key];
      ++stats.per_op[static_cast<std::size_t>(op.op)];
      if (++current.requests == options.window_requests) close_window();
    }
    stats.records += chunk.size();
  }
  close_window();
  stats.distinct_keys = counts.size();

  std::vector<std::pair<std::uint64_t, std::uint64_t>> by_count(counts.begin(), counts.end());
  counts = {};
  // Most frequent first; ties by smaller key so the output is deterministic.
  std::sort(by_count.begin(), by_count.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  stats.top.assign(by_count.begin(), by_count.begin() + static_cast<std::ptrdiff_t>(std::min(options.top_n, by_count.size())));

  const double total = stats.records > 0 ? static_cast<double>(stats.records) : 1.0;
  const auto head_share = [&](std::uint64_t keys) {
    std::uint64_t sum = 0;
    for (std::uint64_t i = 0; i < keys && i < by_count.size(); ++i) sum += by_count[i].second;
    return static_cast<double>(sum) / total;
  };
  const std::uint64_t d = stats.distinct_keys;
  stats.top_1_percent_share = head_share((d + 99) / 100);
  stats.top_0_1_percent_share = head_share((d + 999) / 1000);
  stats.top_10_share = head_share(10);

  std::vector<std::uint64_t> descending(by_count.size());
  for (std::size_t i = 0; i < by_count.size(); ++i) descending[i] = by_count[i].second;
  const zipf_fit fit = fit_zipf(descending);
  stats.zipf_s_estimate = fit.s;
  stats.zipf_fit_ranks = fit.ranks;

  // About 30 points per decade of rank, and the last rank.
  std::uint64_t last = 0;
  for (double r = 1; r <= static_cast<double>(descending.size()); r *= std::pow(10.0, 1.0 / 30)) {
    const auto rank = static_cast<std::uint64_t>(r);
    if (rank == last) continue;
    stats.rank_frequency.emplace_back(rank, descending[rank - 1]);
    last = rank;
  }
  if (!descending.empty() && last != descending.size()) stats.rank_frequency.emplace_back(descending.size(), descending.back());
  return stats;
}

}  // namespace hotshard::workloads
