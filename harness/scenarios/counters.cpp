// Scenarios `counter` and `keyed-counter`: the counters family in hotshard-bench.
//
// counter — C logical counters of one implementation; op i of a thread adds 1
//   to counter (key_i mod C), key_i from the workload. C is the --set
//   counters=N knob; by default the workload's key space capped at 512
//   (1 for a trace; 512 so that tbb_ets_key, one pthread key per counter,
//   fits under PTHREAD_KEYS_MAX). So `uniform:n=1` is one hot counter that
//   every thread hits (the headline case), and `zipf:n=1000000,s=0.99` spreads the adds
//   Zipf-wise over 512 counters.
// keyed-counter — one keyed counter map; op i adds 1 to key_i.
//
// Metrics: `expected` = adds accepted (every call of the run, warm-up
// included, minus `rejected` adds a full table refused — only `salted` can
// refuse), `observed` = the sum of reads after every worker stopped and was
// joined (exact: a mismatch is a run_failure), `read_ns` = the cost of one
// read(), timed on the calling thread right after the run, over the keys the
// run drew (thread 0's stream, in order: counter key_i mod C, or key_i), each
// read's index passed through an opaque register so that no read can be
// hoisted out of the timing loop; the threads' slots are still claimed —
// per_thread keeps its high-water mark — so the cost is that of T registered
// threads.
// Keys are pre-generated per thread before the clock starts; keyed maps are
// constructed with the number of distinct keys the run will use (a sizing
// hint; salted's fixed capacity is twice it).
#include "contenders/counters.hpp"

#include <hotshard/detail/cache_line.hpp>
#include <hotshard/harness/runner.hpp>
#include <hotshard/harness/scenario_support.hpp>
#include <hotshard/harness/scenario.hpp>
#include <hotshard/workloads/spec.hpp>
#include <hotshard/workloads/stream.hpp>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace hotshard::harness {
namespace {

namespace hc = hotshard::contenders;
namespace wl = hotshard::workloads;

constexpr std::uint64_t default_counter_cap = 512;

// ns per call of read(j), j = 0, 1, 2, ... over the drawn keys, at least 1024
// calls and 2 ms. `j` goes through an empty asm that claims to change it, so
// the compiler cannot prove two reads alike and hoist one out of the loop.
template <class Read>
double time_reads(Read&& read) {
  using clock = std::chrono::steady_clock;
  std::int64_t sink = 0;
  std::uint64_t calls = 0;
  const auto t0 = clock::now();
  auto t1 = t0;
  do {
    for (std::uint64_t k = 0; k < 256; ++k) {
      std::uint64_t j = calls + k;
      asm volatile("" : "+r"(j));
      sink += read(j);
    }
    calls += 256;
    t1 = clock::now();
  } while (calls < 1024 || t1 - t0 < std::chrono::milliseconds(2));
  asm volatile("" : : "r"(sink));
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(calls);
}

template <class C>
result_record run_counter(const run_request& r) {
  const auto spec = workload_of(r);
  const std::uint64_t space = wl::key_space_of(spec);
  const std::uint64_t n = r.integer_if_set("counters").value_or(space == 0 ? 1 : std::min(space, default_counter_cap));
  if constexpr (requires { C::max_instances; })
    if (n > C::max_instances)
      throw usage_error("--set counters: " + r.impl + " takes at most " + std::to_string(C::max_instances) +
                        " counters (one pthread key each), got " + std::to_string(n));
  std::vector<std::unique_ptr<C>> counters;
  for (std::uint64_t c = 0; c < n; ++c) counters.push_back(std::make_unique<C>());
  C* const hot = counters.front().get();
  const std::size_t kpt = keys_per_thread(r.threads);
  std::vector<std::uint64_t> read_keys{0};  // thread 0's first keys (written by thread 0 before the run)

  // One counter: the workload has nothing to choose, so no key is loaded and
  // the loop is the add alone (as the JVM driver's, anchors/java/Counters.java).
  const auto m = n == 1 ? run_workers(runner_config::from(r), [&](unsigned) { return [hot](std::uint64_t) { hot->add(1); }; })
                        : run_workers(runner_config::from(r), [&](unsigned t) {
                            std::vector<std::uint64_t> keys = wl::generate_keys(spec, r.seed, t, r.threads, kpt);
                            if (t == 0)
                              read_keys.assign(keys.begin(),
                                               keys.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(kpt, 4096)));
                            return [&counters, n, keys = std::move(keys), mask = kpt - 1](std::uint64_t i) {
                              counters[keys[i & mask] % n]->add(1);
                            };
                          });

  std::int64_t observed = 0;
  for (const auto& c : counters) observed += c->read();
  const auto expected = static_cast<std::int64_t>(m.total_calls());
  if (observed != expected)
    throw run_failure("counter/" + r.impl + ": observed " + std::to_string(observed) + " != expected " +
                      std::to_string(expected));
  nlohmann::json metrics = {{"expected", expected},
                            {"observed", observed},
                            {"counters", n},
                            {"read_ns", time_reads([&](std::uint64_t j) {
                               return counters[read_keys[j % read_keys.size()] % n]->read();
                             })}};
  return make_record(r, m, std::move(metrics));
}

// The keyed run's inputs, untimed: each thread's keys, the distinct keys the
// run uses (the map is sized by them, as a service would size it by its key
// population) and the hottest of thread 0's first keys (its salt is reported).
struct keyed_inputs {
  std::vector<std::vector<std::uint64_t>> keysets;
  std::vector<std::uint64_t> all;  // sorted, distinct
  std::uint64_t hottest = 0;
};

// The same for every implementation of a repetition (same workload, seed and
// threads: the paired order runs them back to back), so they are built once
// and reused by the next run if it asks for the same — 4 Mi keys generated
// and sorted cost more than a quick run measures.
std::shared_ptr<const keyed_inputs> keyed_inputs_of(const run_request& r, const wl::workload_spec& spec,
                                                    std::size_t kpt) {
  static std::mutex mu;
  static std::string last_key;
  static std::shared_ptr<const keyed_inputs> last;
  const std::string key = spec.text + '|' + std::to_string(r.seed) + '|' + std::to_string(r.threads);
  std::scoped_lock lock(mu);
  if (last && last_key == key) return last;
  last.reset();  // free the previous inputs before building the next
  auto in = std::make_shared<keyed_inputs>();
  in->keysets.resize(r.threads);
  for (unsigned t = 0; t < r.threads; ++t) in->keysets[t] = wl::generate_keys(spec, r.seed, t, r.threads, kpt);
  for (const auto& ks : in->keysets) in->all.insert(in->all.end(), ks.begin(), ks.end());
  std::sort(in->all.begin(), in->all.end());
  in->all.erase(std::unique(in->all.begin(), in->all.end()), in->all.end());
  in->hottest = in->keysets.front().front();
  std::unordered_map<std::uint64_t, unsigned> freq;
  for (std::size_t i = 0; i < std::min<std::size_t>(kpt, 4096); ++i)
    if (++freq[in->keysets.front()[i]] > freq[in->hottest]) in->hottest = in->keysets.front()[i];
  last_key = key;
  last = std::move(in);
  return last;
}

template <class M>
result_record run_keyed(const run_request& r) {
  const auto spec = workload_of(r);
  const std::size_t kpt = keys_per_thread(r.threads);
  const auto inputs = keyed_inputs_of(r, spec, kpt);
  const auto& keysets = inputs->keysets;
  const auto& all = inputs->all;
  const std::uint64_t hottest = inputs->hottest;
  M map(all.size());

  std::vector<detail::padded<std::uint64_t>> rejected(r.threads);
  const auto m = run_workers(runner_config::from(r), [&](unsigned t) {
    return [&map, keys = keysets[t].data(), refused = &rejected[t].value, mask = kpt - 1](std::uint64_t i) {
      if (!map.add(keys[i & mask], 1)) [[unlikely]] ++*refused;
    };
  });

  std::int64_t observed = 0;
  for (const auto k : all) observed += map.read(k);  // keys never reached read as 0
  std::uint64_t refused = 0;
  for (const auto& x : rejected) refused += x.value;
  const auto expected = static_cast<std::int64_t>(m.total_calls() - refused);
  if (observed != expected)
    throw run_failure("keyed-counter/" + r.impl + ": observed " + std::to_string(observed) + " != expected " +
                      std::to_string(expected));
  nlohmann::json metrics = {{"expected", expected},
                            {"observed", observed},
                            {"rejected", refused},
                            {"distinct_keys", all.size()},
                            {"read_ns", time_reads([&map, keys = keysets.front().data(), mask = kpt - 1](
                                            std::uint64_t j) { return map.read(keys[j & mask]); })}};
  if constexpr (requires { map.map().salt_of(hottest); }) metrics["hot_key_salt"] = map.map().salt_of(hottest);
  return make_record(r, m, std::move(metrics));
}

// The suite: quick = 1, 2, 4, 16 threads, short runs; full adds 64 threads.
std::function<std::vector<run_options>(bool)> plan_of(std::vector<std::string> workloads) {
  return [workloads = std::move(workloads)](bool full) {
    std::vector<run_options> steps;
    for (std::size_t w = 0; w < (full ? workloads.size() : 1); ++w) {
      run_options o;
      o.threads = full ? std::vector<unsigned>{1, 2, 4, 16, 64} : std::vector<unsigned>{1, 2, 4, 16};
      o.workload = workloads[w];
      o.duration_seconds = full ? 1.0 : 0.2;
      steps.push_back(o);
    }
    return steps;
  };
}

scenario make_counter_scenario() {
  scenario s;
  s.name = "counter";
  s.family = "counters";
  s.description =
      "C logical counters (C = --set counters, default: the workload's key space capped at 512); op i adds 1 to "
      "counter key_i mod C, so uniform:n=1 is one hot counter. Metrics: expected, observed (exact after the run), "
      "read_ns (one read over the drawn keys, with the run's threads registered).";
  s.default_workload = "uniform:n=1";
  s.impls = impls_of([](auto&& f) { hc::for_each_counter(f); }, {"striped", "per_thread"});
  s.knobs = {integer_knob("counters", 1, 1, std::uint64_t{1} << 24,
                          "number of logical counters; key_i mod counters picks one")
                 .computed("the workload's key space, at most 512")};
  s.metrics = {key_metric("expected", "ops", "adds accepted: every call of the run, warm-up included"),
               key_metric("observed", "ops", "sum of the reads after every worker joined (must equal expected)"),
               metric("counters", "count", "logical counters of the run"),
               key_metric("read_ns", "ns", "one read() over the drawn keys, with the run's threads registered")};
  s.limit = "private_increment";
  s.run = [](const run_request& r) {
    return dispatch(r, [](auto&& f) { hc::for_each_counter(f); }, []<class C>(const run_request& q) { return run_counter<C>(q); });
  };
  s.suite = plan_of({"uniform:n=1", "zipf:n=1000000,s=0.99"});
  return s;
}

scenario make_keyed_counter_scenario() {
  scenario s;
  s.name = "keyed-counter";
  s.family = "counters";
  s.description =
      "one keyed counter map; op i adds 1 to key_i. Metrics: expected (adds accepted), observed (sum of reads after "
      "the run, exact), rejected (adds refused by a full table), read_ns (reads over the drawn keys).";
  s.default_workload = "zipf:n=1000000,s=0.99";
  s.impls = impls_of([](auto&& f) { hc::for_each_keyed_counter(f); }, {"salted"});
  s.metrics = {key_metric("expected", "ops", "adds accepted (calls minus rejected)"),
               key_metric("observed", "ops", "sum of the reads of every key after the run (must equal expected)"),
               metric("rejected", "ops", "adds a full table refused (only salted can refuse)"),
               metric("distinct_keys", "count", "distinct keys the run draws (the map's sizing hint)"),
               key_metric("read_ns", "ns", "one read() over thread 0's keys"),
               metric("hot_key_salt", "count", "salted: sub-counters of the hottest key at the end")};
  s.limit = "private_increment";
  s.run = [](const run_request& r) {
    return dispatch(r, [](auto&& f) { hc::for_each_keyed_counter(f); }, []<class M>(const run_request& q) { return run_keyed<M>(q); });
  };
  s.suite = plan_of({"zipf:n=1000000,s=0.99", "uniform:n=1000000"});
  return s;
}

}  // namespace

HOTSHARD_REGISTER_SCENARIO(make_counter_scenario());
HOTSHARD_REGISTER_SCENARIO(make_keyed_counter_scenario());

}  // namespace hotshard::harness
