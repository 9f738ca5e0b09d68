// bench-sketches — Google Benchmark binary of the sketches family.
//
// Every contender of harness/contenders/sketches.hpp, through the
// `frequency_sketch` concept, at 1, 2, 4 and 16 threads (real time, so
// preemption above the core count shows):
//   sketch_add/<impl>/s%:<100·skew>  add(key) with keys from zipf:n=1000000,s=<skew>
//                                (s = 1.0, 0.6, 1.5; ε = 0.0002, δ = 0.01)
//   sketch_estimate/<impl>       estimate(key) on a sketch filled with 512 Ki adds,
//                                one thread
//   detector_observe             hot_key_detector::observe, zipf s=1.0 (default options:
//                                sampled 1/8; sketch_add/hot_key_detector is the same
//                                through the contenders' adapter)
//   sketch_query/<impl>          top(100) (heavy_hitters) or hot_keys() (detector) after
//                                every thread added its keys once: the merge cost grows
//                                with the number of threads that added
// Items per second is the figure to compare. One shared object per benchmark
// run, built by thread 0 before the loop's start barrier and destroyed after
// its stop barrier. Keys are generated per thread before the loop.
#include "contenders/sketches.hpp"

#include <hotshard/concepts/frequency_sketch.hpp>
#include <hotshard/hot_key_detector.hpp>
#include <hotshard/workloads/spec.hpp>
#include <hotshard/workloads/stream.hpp>

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

namespace hc = hotshard::contenders;

constexpr std::size_t keys_per_thread = std::size_t{1} << 17;

void with_threads(benchmark::internal::Benchmark* b) {
  b->Threads(1)->Threads(2)->Threads(4)->Threads(16)->UseRealTime();
}

// Thread t's keys of `spec`, generated once per process (Google Benchmark
// calls a benchmark function several times while it sizes the iteration
// count). Zipf streams depend on (seed, t) only, so one set serves every
// thread count up to max_threads.
constexpr unsigned max_threads = 16;

const std::vector<std::uint64_t>& thread_keys(const benchmark::State& state, const std::string& spec) {
  static std::mutex m;
  static std::map<std::pair<std::string, int>, std::vector<std::uint64_t>> cache;
  const std::scoped_lock lock(m);
  auto& keys = cache[{spec, state.thread_index()}];
  if (keys.empty())
    keys = hotshard::workloads::generate_keys(hotshard::workloads::parse_spec(spec), 1,
                                              static_cast<unsigned>(state.thread_index()), max_threads,
                                              keys_per_thread);
  return keys;
}

std::string zipf_spec(std::int64_t skew_percent) {
  return "zipf:n=1000000,s=" + std::to_string(static_cast<double>(skew_percent) / 100.0);
}

template <hotshard::concepts::frequency_sketch S>
void sketch_add(benchmark::State& state) {
  static std::unique_ptr<S> shared;
  const auto& keys = thread_keys(state, zipf_spec(state.range(0)));
  if (state.thread_index() == 0) shared = std::make_unique<S>(hc::sketch_params{});
  std::size_t i = 0;
  for (auto _ : state) {
    shared->add(keys[i]);
    i = (i + 1) & (keys_per_thread - 1);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    // The detector samples: a key it never kept may estimate 0.
    if constexpr (!requires { shared->is_hot(keys[0]); })
      if (shared->estimate(keys[0]) == 0) state.SkipWithError("the sketch lost a key");
    shared.reset();
  }
}

// Query cost after `threads` threads added (each its own keys once).
template <class S>
void sketch_query(benchmark::State& state) {
  static std::unique_ptr<S> shared;
  const auto& keys = thread_keys(state, zipf_spec(100));
  if (state.thread_index() == 0) {
    shared = std::make_unique<S>(hc::sketch_params{});
    std::vector<std::thread> adders;
    for (int t = 0; t < state.range(0); ++t)
      adders.emplace_back([&, t] {
        for (std::size_t i = static_cast<std::size_t>(t); i < keys.size(); i += 16) shared->add(keys[i]);
      });
    for (auto& a : adders) a.join();
  }
  for (auto _ : state) {
    if constexpr (requires { shared->top(100); })
      benchmark::DoNotOptimize(shared->top(100));
    else
      benchmark::DoNotOptimize(shared->hot_keys());
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) shared.reset();
}

template <hotshard::concepts::frequency_sketch S>
void sketch_estimate(benchmark::State& state) {
  S s(hc::sketch_params{});
  const auto& keys = thread_keys(state, zipf_spec(100));
  for (std::size_t r = 0; r < 4; ++r)
    for (const auto k : keys) s.add(k);
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(s.estimate(keys[i]));
    i = (i + 1) & (keys_per_thread - 1);
  }
  state.SetItemsProcessed(state.iterations());
}

void detector_observe(benchmark::State& state) {
  using detector = hotshard::hot_key_detector<std::uint64_t>;
  static std::unique_ptr<detector> shared;
  const auto& keys = thread_keys(state, zipf_spec(100));
  if (state.thread_index() == 0) shared = std::make_unique<detector>();
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(shared->observe(keys[i]));
    i = (i + 1) & (keys_per_thread - 1);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    // The top key has a 7% share: hot once a few hundred observations are in.
    if (state.iterations() >= 10'000 && shared->hot_keys().empty()) state.SkipWithError("no hot key on zipf s=1.0");
    shared.reset();
  }
}

// Registered at static initialisation; benchmark_main runs them.
const bool registered = [] {
  hc::for_each_sketch([]<class S>(const char* name, const char*) {
    with_threads(benchmark::RegisterBenchmark((std::string("sketch_add/") + name).c_str(), sketch_add<S>)
                     ->ArgName("s%")
                     ->Arg(100)
                     ->Arg(60)
                     ->Arg(150));
  });
  hc::for_each_sketch([]<class S>(const char* name, const char*) {
    benchmark::RegisterBenchmark((std::string("sketch_estimate/") + name).c_str(), sketch_estimate<S>);
  });
  with_threads(benchmark::RegisterBenchmark("detector_observe", detector_observe));
  benchmark::RegisterBenchmark("sketch_query/heavy_hitters", sketch_query<hc::heavy_hitters_ours>)
      ->ArgName("adders")->Arg(2)->Arg(64)->UseRealTime();
  benchmark::RegisterBenchmark("sketch_query/hot_key_detector", sketch_query<hc::hot_key_detector_ours>)
      ->ArgName("adders")->Arg(2)->Arg(64)->UseRealTime();
  return true;
}();

}  // namespace
