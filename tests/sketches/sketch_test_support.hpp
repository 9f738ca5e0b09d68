// Shared helpers of the sketches tests: fixed-seed streams and exact counts.
// run_threads and sanitizer_scale come from tests/support, included here so
// every sketch test has them.
#pragma once

#include <hotshard/detail/metrics.hpp>
#include <hotshard/test/support.hpp>
#include <hotshard/workloads/spec.hpp>
#include <hotshard/workloads/stream.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hotshard::test {

// What a stats snapshot exports (detail/metrics.hpp), for the stats tests:
// the names in order, each value by name, and whether every metric follows
// the convention (a name ends in _total exactly when it is a counter; help
// is given).
struct exported_metrics {
  std::vector<std::string> names;
  std::map<std::string, double> value;
  bool conventions_hold = true;
};
template <class Stats>
exported_metrics export_of(const Stats& st) {
  exported_metrics out;
  st.for_each_metric([&](const hotshard::detail::metric& m) {
    out.names.emplace_back(m.name);
    out.value[std::string(m.name)] = m.value;
    const bool total = m.name.size() > 6 && m.name.substr(m.name.size() - 6) == "_total";
    out.conventions_hold &= total == (m.kind == hotshard::detail::metric_kind::counter) && !m.help.empty();
  });
  return out;
}

inline std::vector<std::uint64_t> keys_of(const std::string& spec, std::size_t count, std::uint64_t seed = 42,
                                          unsigned t = 0, unsigned threads = 1) {
  return workloads::generate_keys(workloads::parse_spec(spec), seed, t, threads, count);
}

using exact_counts = std::unordered_map<std::uint64_t, std::uint64_t>;

inline exact_counts count_exact(const std::vector<std::uint64_t>& keys) {
  exact_counts c;
  c.reserve(keys.size() / 2);
  for (const auto k : keys) ++c[k];
  return c;
}

// The k heaviest keys' smallest count (ties at the boundary count as correct).
inline std::uint64_t kth_count(const exact_counts& c, std::size_t k) {
  std::vector<std::uint64_t> v;
  v.reserve(c.size());
  for (const auto& [key, n] : c) v.push_back(n);
  if (v.empty()) return 0;
  k = std::min(k, v.size());
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k - 1), v.end(), std::greater<>());
  return v[k - 1];
}

// The std::invalid_argument message of constructing a T from o, or "" when
// the construction succeeds (options tests check the message names the field).
template <class T, class O>
std::string construction_error(const O& o) {
  try {
    const T t(o);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return {};
}

// Every key with share ≥ φ of the n observed is hot, none with share ≤ φ/4 is
// (and the stream has at least one key above φ, so the first check can fail).
template <class Detector, class Exact>
void expect_every_key_above_phi_hot_and_none_below_a_quarter(const Detector& d, const Exact& exact, std::size_t n,
                                                             double phi, const std::string& spec) {
  std::size_t missed = 0, false_hot = 0, above = 0;
  for (const auto& [k, c] : exact) {
    const double share = static_cast<double>(c) / static_cast<double>(n);
    if (share >= phi) {
      ++above;
      missed += d.is_hot(k) ? 0 : 1;
    }
    if (share <= 0.25 * phi && d.is_hot(k)) ++false_hot;
  }
  EXPECT_GT(above, 0u) << spec;
  EXPECT_EQ(missed, 0u) << spec;
  EXPECT_EQ(false_hot, 0u) << spec;
}

}  // namespace hotshard::test
