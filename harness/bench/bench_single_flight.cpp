// bench-single-flight — Google Benchmark binary of the single-flight family.
//
// Every contender of harness/contenders/single_flight.hpp, through the family
// concepts, at 1, 2, 4, 16 and 64 threads (real time, so preemption above the
// core count shows):
//   flight_zipf/<impl>   run(key, loader) with keys from zipf:n=100000,s=0.99 and
//                        a loader that returns at once: the table's own cost
//   flight_hot/<impl>    every thread runs one key (maximal coalescing contention)
//   cache_zipf/<impl>    get(key, loader) through a 1 ms-TTL cache, zipf keys
// Items per second is the figure to compare; `backend_calls` per item is
// reported for the caches. One shared object per benchmark run, built by
// thread 0 before the loop's start barrier and destroyed after its stop barrier.
#include "contenders/single_flight.hpp"

#include <hotshard/workloads/spec.hpp>
#include <hotshard/workloads/stream.hpp>

#include <benchmark/benchmark.h>
#include "contenders/peer_tsan_suppressions.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace {

namespace hc = hotshard::contenders;

void with_threads(benchmark::internal::Benchmark* b) {
  b->Threads(1)->Threads(2)->Threads(4)->Threads(16)->Threads(64)->UseRealTime();
}

constexpr std::size_t keys_per_thread = std::size_t{1} << 16;

std::vector<std::uint64_t> zipf_keys(const benchmark::State& state) {
  const auto spec = hotshard::workloads::parse_spec("zipf:n=100000,s=0.99");
  return hotshard::workloads::generate_keys(spec, 1, static_cast<unsigned>(state.thread_index()),
                                            static_cast<unsigned>(state.threads()), keys_per_thread);
}

template <class T>
void flight_zipf(benchmark::State& state) {
  static std::unique_ptr<T> shared;
  const auto keys = zipf_keys(state);
  if (state.thread_index() == 0) shared = std::make_unique<T>(static_cast<std::size_t>(state.threads()));
  std::size_t i = 0;
  for (auto _ : state) {
    const std::uint64_t k = keys[i];
    benchmark::DoNotOptimize(shared->run(k, [k] { return k + 1; }).value);
    i = (i + 1) & (keys_per_thread - 1);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) shared.reset();
}

template <class T>
void flight_hot(benchmark::State& state) {
  static std::unique_ptr<T> shared;
  if (state.thread_index() == 0) shared = std::make_unique<T>(static_cast<std::size_t>(state.threads()));
  for (auto _ : state) benchmark::DoNotOptimize(shared->run(7, [] { return std::uint64_t{8}; }).value);
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) shared.reset();
}

template <class C>
void cache_zipf(benchmark::State& state) {
  static std::unique_ptr<C> shared;
  // This thread's backend calls: a local count, no shared write in the loop
  // (Google Benchmark sums the threads' counters).
  std::uint64_t backend = 0;
  const auto keys = zipf_keys(state);
  if (state.thread_index() == 0) {
    hotshard::coalescing_cache_options o;
    o.capacity = 16384;
    o.ttl = std::chrono::milliseconds(1);
    o.grace = std::chrono::milliseconds(1);
    shared = std::make_unique<C>(std::move(o));
  }
  std::size_t i = 0;
  for (auto _ : state) {
    const std::uint64_t k = keys[i];
    benchmark::DoNotOptimize(shared->get(k, [k, &backend] {
      ++backend;
      return k + 1;
    }));
    i = (i + 1) & (keys_per_thread - 1);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["backend_calls"] = benchmark::Counter(static_cast<double>(backend), benchmark::Counter::kIsRate);
  if (state.thread_index() == 0) shared.reset();
}

// Registered at static initialisation; benchmark_main runs them.
const bool registered = [] {
  hc::for_each_flight_table([]<class T>(const char* name, const char*) {
    with_threads(benchmark::RegisterBenchmark((std::string("flight_zipf/") + name).c_str(), flight_zipf<T>));
  });
  hc::for_each_flight_table([]<class T>(const char* name, const char*) {
    with_threads(benchmark::RegisterBenchmark((std::string("flight_hot/") + name).c_str(), flight_hot<T>));
  });
  hc::for_each_cache([]<class C>(const char* name, const char*) {
    with_threads(benchmark::RegisterBenchmark((std::string("cache_zipf/") + name).c_str(), cache_zipf<C>));
  });
  return true;
}();

}  // namespace
