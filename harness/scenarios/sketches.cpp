// Scenario `sketch`: the sketches family in hotshard-bench.
//
// Op i of a thread adds key_i (pre-generated per thread before the clock
// starts) to one shared sketch of the implementation. After the run, outside
// the timed loop, the scenario recounts exactly what each thread added (its
// pre-generated keys, replayed as many times as measurement::ops_per_thread
// says it called op, warm-up included) and compares every distinct key's
// estimate with its true count.
//
// Metrics (DESIGN.md): stream_length N (every add of the run), error_bound
// (εN, ε of the implementation: e/width; 0 for exact), max_overestimate,
// mean_overestimate (over distinct keys), within_bound_fraction (keys whose
// overestimate ≤ εN; Count-Min promises ≥ 1 − δ), underestimates (must be 0:
// otherwise the run fails, exit 1), topk_recall / topk_precision for the top
// 100 (a reported key is correct if its true count is ≥ the 100th largest true
// count; implementations with top(k) report their own list, the others are
// ranked by estimate over every distinct key), memory_bytes; also epsilon,
// delta, distinct_keys, estimate_ns (one estimate() after the run, from one
// thread, cycling over the reported top 100: cms_per_thread sums every
// thread's sketch, so beside its add throughput this shows its read cost at
// the run's thread count).
// Heavy hitters (top(k)) also report above_threshold_keys (true count > N/m),
// above_threshold_recall (of those, the fraction in top()), above_threshold_
// missed (must be 0: the run fails otherwise), above_threshold_precision (of
// the first #above entries of top(), the fraction truly above N/m) and
// query_ns (one top(100), after the run: it reads every thread's summary, so
// it grows with the thread count).
// The detector row (hot_key_detector: add = observe) replaces the estimate
// checks (its counts are decayed and sampled) by: hot_true_keys (share of the
// run ≥ φ), hot_recall (of those, the fraction is_hot() at the end),
// hot_precision and false_hot_reports (hot_keys() entries whose share is ≥ /
// < φ/2), detection_delay_ops and drop_delay_ops (untimed replay of
// shift:n=100000,s=1.0,every=20W into a fresh detector: observations after the
// move until the new top key is hot / the old one is no longer hot),
// sample_every, hot_missed (keys ≥ φ not hot at the end: the goal is 0),
// query_ns (one hot_keys()), estimate_ns (one estimate(): the per-thread
// sketches summed, so it grows with thread_sketches, the nodes made).
// Knobs: --set epsilon=E --set delta=D (defaults 0.0002 and 0.01: 5 rows of
// 13,592 counters, 544 KB), --set hh_capacity=M (heavy_hitters' m, 2048),
// --set hot_share=F --set window=W (the detector's φ and epoch, 0.01 and 65536).
#include "contenders/sketches.hpp"

#include <hotshard/harness/runner.hpp>
#include <hotshard/harness/scenario_support.hpp>
#include <hotshard/harness/scenario.hpp>
#include <hotshard/workloads/spec.hpp>
#include <hotshard/workloads/stream.hpp>

#include <algorithm>
#include <bit>
#include <chrono>
#include <limits>
#include <set>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hotshard::harness {
namespace {

namespace hc = hotshard::contenders;
namespace wl = hotshard::workloads;

constexpr std::size_t top_k = 100;

hc::sketch_params params_of(const run_request& r) {
  hc::sketch_params p;
  p.epsilon = r.real("epsilon");
  p.delta = r.real("delta");
  p.hh_capacity = r.integer("hh_capacity");
  p.hot_share = r.real("hot_share");
  p.window = r.integer("window");
  p.seed = r.seed;
  return p;
}

// What each thread added: its keys replayed `calls` times in order.
std::unordered_map<std::uint64_t, std::uint64_t> exact_counts_of(const std::vector<std::vector<std::uint64_t>>& keysets,
                                                                 const std::vector<std::uint64_t>& calls) {
  std::unordered_map<std::uint64_t, std::uint64_t> exact;
  exact.reserve(1 << 20);
  for (std::size_t t = 0; t < keysets.size(); ++t) {
    const auto& keys = keysets[t];
    const std::uint64_t full = calls[t] / keys.size();
    const std::uint64_t rest = calls[t] % keys.size();
    for (std::size_t j = 0; j < keys.size(); ++j) {
      const std::uint64_t n = full + (j < rest ? 1 : 0);
      if (n != 0) exact[keys[j]] += n;
    }
  }
  return exact;
}

std::uint64_t kth_largest(const std::unordered_map<std::uint64_t, std::uint64_t>& exact, std::size_t k) {
  std::vector<std::uint64_t> counts;
  counts.reserve(exact.size());
  for (const auto& [key, n] : exact) counts.push_back(n);
  if (counts.empty()) return 0;
  k = std::min(k, counts.size());
  std::nth_element(counts.begin(), counts.begin() + static_cast<std::ptrdiff_t>(k - 1), counts.end(),
                   std::greater<>());
  return counts[k - 1];
}

template <class F>
double mean_ns(int calls, F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < calls; ++i) f();
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / calls;
}

std::uint64_t mode_of(const std::vector<std::uint64_t>& keys, std::size_t from, std::size_t to) {
  std::unordered_map<std::uint64_t, std::uint64_t> c;
  for (std::size_t i = from; i < to; ++i) ++c[keys[i]];
  return std::max_element(c.begin(), c.end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
}

// The detector's own metrics (see the header comment).
nlohmann::json detector_metrics(hc::hot_key_detector_ours& d, const hc::sketch_params& params,
                                const std::unordered_map<std::uint64_t, std::uint64_t>& exact, std::uint64_t n) {
  const double phi = d.hot_share();
  const auto share = [&](std::uint64_t k) {
    const auto it = exact.find(k);
    return it == exact.end() ? 0.0 : static_cast<double>(it->second) / static_cast<double>(n);
  };
  std::size_t truly_hot = 0, found = 0;
  for (const auto& [k, c] : exact) {
    if (static_cast<double>(c) < phi * static_cast<double>(n)) continue;
    ++truly_hot;
    found += d.is_hot(k) ? 1 : 0;
  }
  const auto reported = d.hot_keys();
  std::size_t false_hot = 0;
  for (const auto k : reported) false_hot += share(k) < phi / 2 ? 1 : 0;
  const double query = mean_ns(20, [&] { (void)d.hot_keys(); });
  // One estimate() of the hottest reported key (or key 0): the summed read, O(threads × depth) when sampled.
  const std::uint64_t probe = reported.empty() ? 0 : reported.front();
  std::uint64_t sink = 0;
  const double estimate_query = mean_ns(200, [&] { sink += d.estimate(probe); });
  (void)sink;

  // Detection delay: an untimed replay of a shift stream into a fresh detector.
  const std::uint64_t w = params.window;
  const std::size_t every = 20 * w;
  const auto keys = wl::generate_keys(wl::parse_spec("shift:n=100000,s=1.0,every=" + std::to_string(every)),
                                      params.seed, 0, 1, 2 * every);
  const auto old_key = mode_of(keys, 0, every), new_key = mode_of(keys, every, 2 * every);
  hc::hot_key_detector_ours replay(params);
  constexpr std::size_t never = std::numeric_limits<std::size_t>::max();
  std::size_t seen = never, gone = never;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    replay.add(keys[i]);
    if (i < every) continue;
    if (seen == never && replay.is_hot(new_key)) seen = i - every;
    const bool old_hot = replay.is_hot(old_key);
    if (!old_hot && gone == never) gone = i - every;
    if (old_hot) gone = never;
  }
  return {{"hot_true_keys", truly_hot},
          {"hot_recall", truly_hot == 0 ? 1.0 : static_cast<double>(found) / static_cast<double>(truly_hot)},
          {"hot_missed", truly_hot - found},
          {"hot_precision", reported.empty() ? 1.0
                                             : static_cast<double>(reported.size() - false_hot) /
                                                   static_cast<double>(reported.size())},
          {"false_hot_reports", false_hot},
          {"detection_delay_ops", seen == never ? -1.0 : static_cast<double>(seen)},
          {"drop_delay_ops", gone == never ? -1.0 : static_cast<double>(gone)},
          {"window", w},
          {"sample_every", d.sample_every()},
          {"query_ns", query},
          {"estimate_ns", estimate_query},
          {"thread_sketches", d.thread_sketches()}};
}

// Keys above N/m against top(): the heavy-hitters guarantee, measured.
template <class S>
nlohmann::json threshold_metrics(const S& sketch, const std::unordered_map<std::uint64_t, std::uint64_t>& exact,
                                 std::uint64_t n) {
  const auto all = sketch.top(std::numeric_limits<std::size_t>::max());
  std::set<std::uint64_t> reported;
  for (const auto& e : all) reported.insert(e.key);
  std::size_t above = 0, found = 0;
  for (const auto& [k, c] : exact) {
    if (c * sketch.capacity() <= n) continue;
    ++above;
    found += reported.count(k);
  }
  std::size_t precise = 0;
  for (std::size_t i = 0; i < std::min(above, all.size()); ++i) {
    const auto it = exact.find(all[i].key);
    precise += it != exact.end() && it->second * sketch.capacity() > n ? 1 : 0;
  }
  return {{"above_threshold_keys", above},
          {"above_threshold_recall", above == 0 ? 1.0 : static_cast<double>(found) / static_cast<double>(above)},
          {"above_threshold_missed", above - found},
          {"above_threshold_precision", above == 0 ? 1.0 : static_cast<double>(precise) / static_cast<double>(above)},
          {"query_ns", mean_ns(5, [&] { (void)sketch.top(top_k); })}};
}

template <class S>
result_record run_sketch(const run_request& r) {
  const auto spec = workload_of(r);
  const auto params = params_of(r);
  S sketch(params);
  const std::size_t kpt = keys_per_thread(r.threads);

  std::vector<std::vector<std::uint64_t>> keysets(r.threads);
  const auto m = run_workers(runner_config::from(r), [&](unsigned t) {
    keysets[t] = thread_keys(r, spec, t);
    return [&sketch, keys = keysets[t].data(), mask = kpt - 1](std::uint64_t i) { sketch.add(keys[i & mask]); };
  });

  // Untimed from here: exact counts beside the sketch's estimates.
  const auto exact = exact_counts_of(keysets, m.ops_per_thread);
  const std::uint64_t n_total = m.total_calls();
  if constexpr (requires { sketch.is_hot(0); }) {
    nlohmann::json metrics = detector_metrics(sketch, params, exact, n_total);
    metrics["stream_length"] = n_total;
    metrics["memory_bytes"] = sketch.memory_bytes();
    metrics["distinct_keys"] = exact.size();
    return make_record(r, m, std::move(metrics));
  }
  const double eps = sketch.epsilon();
  const double bound = eps * static_cast<double>(n_total);
  std::uint64_t under = 0, max_over = 0, within = 0;
  double sum_over = 0;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranked;  // (estimate, key)
  ranked.reserve(exact.size());
  for (const auto& [key, n] : exact) {
    const std::uint64_t e = sketch.estimate(key);
    ranked.emplace_back(e, key);
    if (e < n) {
      ++under;
      continue;
    }
    const std::uint64_t over = e - n;
    max_over = std::max(max_over, over);
    sum_over += static_cast<double>(over);
    if (static_cast<double>(over) <= bound) ++within;
  }

  std::vector<std::uint64_t> reported;
  if constexpr (requires { sketch.top(top_k); }) {
    for (const auto& h : sketch.top(top_k)) reported.push_back(h.key);
  } else {
    const std::size_t k = std::min(top_k, ranked.size());
    std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(k), ranked.end(),
                      std::greater<>());
    for (std::size_t i = 0; i < k; ++i) reported.push_back(ranked[i].second);
  }
  // The read side's cost beside the add throughput: one estimate() after the run, from this one
  // thread, cycling over the reported top keys. A shared sketch reads `depth` counters; cms_per_thread
  // sums every thread's sketch, so its cost grows with the run's thread count (issue 14).
  std::uint64_t sink = 0;
  std::size_t next = 0;
  const double estimate_cost =
      reported.empty() ? 0.0 : mean_ns(2000, [&] { sink += sketch.estimate(reported[next++ % reported.size()]); });
  if (sink == 0 && !reported.empty()) throw run_failure("sketch/" + r.impl + ": the reported top keys estimate 0");

  const std::uint64_t bar = kth_largest(exact, top_k);
  std::size_t correct = 0;
  for (const auto key : reported) {
    const auto it = exact.find(key);
    if (it != exact.end() && it->second >= bar) ++correct;
  }
  const double distinct = static_cast<double>(exact.size());
  const auto wanted = static_cast<double>(std::min(top_k, exact.size()));

  if (under != 0)
    throw run_failure("sketch/" + r.impl + ": " + std::to_string(under) +
                      " keys estimated below their true count (underestimates must be 0)");
  nlohmann::json metrics = {
      {"stream_length", n_total},
      {"error_bound", bound},
      {"max_overestimate", max_over},
      {"mean_overestimate", exact.empty() ? 0.0 : sum_over / distinct},
      {"within_bound_fraction", exact.empty() ? 1.0 : static_cast<double>(within) / distinct},
      {"underestimates", under},
      {"topk_recall", wanted == 0 ? 1.0 : static_cast<double>(correct) / wanted},
      {"topk_precision", reported.empty() ? 0.0 : static_cast<double>(correct) / static_cast<double>(reported.size())},
      {"memory_bytes", sketch.memory_bytes()},
      {"estimate_ns", estimate_cost},
      {"epsilon", eps},
      {"delta", params.delta},
      {"distinct_keys", exact.size()}};
  if constexpr (requires { sketch.capacity(); }) {
    const auto t = threshold_metrics(sketch, exact, n_total);
    if (t["above_threshold_missed"].template get<std::size_t>() != 0)
      throw run_failure("sketch/" + r.impl + ": a key above N/m is missing from top()");
    metrics.update(t);
  }
  return make_record(r, m, std::move(metrics));
}

// quick: the default workload at 1 and 2 threads, short; full: three skews
// (scrambled and not) at 1, 2, 4, 16 and 64 threads (query_ns at 64 threads
// is the cost of merging 64 summaries).
std::vector<run_options> sketch_plan(bool full) {
  const std::vector<std::string> workloads =
      full ? std::vector<std::string>{"zipf:n=1000000,s=1.0", "zipf:n=1000000,s=0.6,scramble=1",
                                      "zipf:n=1000000,s=1.5,scramble=1"}
           : std::vector<std::string>{"zipf:n=1000000,s=1.0"};
  std::vector<run_options> steps;
  for (const auto& w : workloads) {
    run_options o;
    o.threads = full ? std::vector<unsigned>{1, 2, 4, 16, 64} : std::vector<unsigned>{1, 2};
    o.workload = w;
    o.duration_seconds = full ? 1.0 : 0.25;
    steps.push_back(o);
  }
  return steps;
}

scenario make_sketch_scenario() {
  scenario s;
  s.name = "sketch";
  s.family = "sketches";
  s.description =
      "every thread adds its keys to one shared frequency sketch; afterwards (untimed) every distinct key's estimate "
      "is checked against its exact count. Metrics: stream_length, error_bound (εN), max_overestimate, "
      "mean_overestimate, within_bound_fraction, underestimates (must be 0), topk_recall, topk_precision (top 100), "
      "memory_bytes, estimate_ns (one estimate() after the run); heavy hitters add above_threshold_* (keys above "
      "N/m) and query_ns; the detector reports hot_recall, hot_precision, false_hot_reports, detection_delay_ops, "
      "drop_delay_ops, query_ns instead of the estimate checks.";
  s.default_workload = "zipf:n=1000000,s=1.0";
  const hc::sketch_params d;  // the contenders' defaults are the knobs' defaults
  s.impls = impls_of([](auto&& f) { hc::for_each_sketch(f); },
                     {"cms", "cms_cu", "cms_buffered", "heavy_hitters", "hot_key_detector"});
  s.knobs = {real_knob("epsilon", d.epsilon, 1e-7, 0.5, "Count-Min ε: width = ⌈e/ε⌉ (error bound εN)"),
             real_knob("delta", d.delta, 1e-9, 0.5, "Count-Min δ: depth = ⌈ln(1/δ)⌉ (bound fails with probability ≤ δ)"),
             integer_knob("hh_capacity", d.hh_capacity, 1, std::uint64_t{1} << 24,
                          "heavy_hitters m: every key above N/m is kept"),
             real_knob("hot_share", d.hot_share, 1e-6, 1, "hot_key_detector φ: share of recent traffic that makes a key hot"),
             integer_knob("window", d.window, 1, std::uint64_t{1} << 40, "hot_key_detector epoch: units between halvings")};
  s.metrics = {
      key_metric("stream_length", "ops", "adds of the run (N)"),
      metric("distinct_keys", "count", "distinct keys added"),
      key_metric("memory_bytes", "bytes", "the sketch's memory (all threads' parts)"),
      key_metric("error_bound", "count", "Count-Min: εN"),
      key_metric("max_overestimate", "count", "largest estimate − exact count over every distinct key"),
      metric("mean_overestimate", "count", "mean estimate − exact count"),
      key_metric("within_bound_fraction", "fraction", "keys whose overestimate is ≤ εN (≥ 1 − δ expected)"),
      zero_metric("underestimates", "count", "keys estimated below their exact count (Count-Min never underestimates)"),
      key_metric("topk_recall", "fraction", "the true top 100 found in the reported top 100"),
      key_metric("topk_precision", "fraction", "reported top-100 keys that are in the true top 100"),
      metric("epsilon", "ratio", "the sketch's ε"),
      metric("delta", "ratio", "the sketch's δ"),
      metric("above_threshold_keys", "count", "heavy hitters: keys above N/m"),
      metric("above_threshold_recall", "fraction", "heavy hitters: keys above N/m that top() reports"),
      zero_metric("above_threshold_missed", "count", "heavy hitters: keys above N/m missing from top() (guaranteed 0)"),
      metric("above_threshold_precision", "fraction",
             "heavy hitters: top() entries, as many as keys above N/m, that are above it"),
      metric("query_ns", "ns", "one top() (heavy hitters) or hot_keys() (detector): merges every thread's part"),
      metric("hot_true_keys", "count", "detector: keys truly above φ of the stream"),
      metric("hot_recall", "fraction", "detector: truly hot keys reported hot"),
      metric("hot_missed", "count", "detector: truly hot keys not reported"),
      metric("hot_precision", "fraction", "detector: reported keys that are truly hot"),
      metric("false_hot_reports", "count", "detector: reported keys below the bar"),
      metric("detection_delay_ops", "ops", "detector: adds after a shift until the new hot key is reported (−1: never)"),
      metric("drop_delay_ops", "ops", "detector: adds after a shift until the old hot key is no longer hot (−1: never)"),
      metric("window", "ops", "detector: units per epoch"),
      metric("sample_every", "count", "detector: one add in this many is sampled"),
      key_metric("estimate_ns", "ns",
                 "one estimate() after the run, of the reported top keys (detector: its hottest key); per-thread "
                 "designs sum every thread's part"),
      metric("thread_sketches", "count", "detector: per-thread sketches summed on a read")};
  s.run = [](const run_request& r) {
    return dispatch(r, [](auto&& f) { hc::for_each_sketch(f); },
                    []<class S>(const run_request& q) { return run_sketch<S>(q); });
  };
  s.suite = sketch_plan;
  return s;
}

}  // namespace

HOTSHARD_REGISTER_SCENARIO(make_sketch_scenario());

}  // namespace hotshard::harness
