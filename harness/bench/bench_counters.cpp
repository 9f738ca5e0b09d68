// bench-counters — Google Benchmark binary of the counters family.
//
// Every contender of harness/contenders/counters.hpp, through the family
// concepts, at 1, 2, 4, 16 and 64 threads (real time, so preemption above the
// core count shows):
//   counter_hot/<impl>    every thread adds 1 to one shared counter (the hot key)
//   counter_read/<impl>/registered:n  one read() while n threads hold a slot
//   keyed_zipf/<impl>     add(key, 1) with keys from zipf:n=1000000,s=0.99
//   private_increment     each thread increments its own padded word: the limit
// Items per second is the figure to compare. One shared object per benchmark
// run, built by thread 0 before the loop's start barrier and destroyed after
// its stop barrier.
#include "contenders/counters.hpp"

#include <hotshard/concepts/counter.hpp>
#include <hotshard/detail/cache_line.hpp>
#include <hotshard/workloads/spec.hpp>
#include <hotshard/workloads/stream.hpp>

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "contenders/peer_tsan_suppressions.hpp"

namespace {

namespace hc = hotshard::contenders;

void with_threads(benchmark::internal::Benchmark* b) {
  b->Threads(1)->Threads(2)->Threads(4)->Threads(16)->Threads(64)->UseRealTime();
}

template <hotshard::concepts::counter C>
void counter_hot(benchmark::State& state) {
  static std::unique_ptr<C> shared;
  if (state.thread_index() == 0) shared = std::make_unique<C>();
  for (auto _ : state) shared->add(1);
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    if (shared->read() <= 0) state.SkipWithError("counter lost every add");
    shared.reset();
  }
}

// Thread 0 alone is timed; Arg(n) other threads each add once (taking a slot,
// where the counter has slots) and stay alive until the reads are done.
template <hotshard::concepts::counter C>
void counter_read(benchmark::State& state) {
  C c;
  c.add(1);
  const auto others = static_cast<std::ptrdiff_t>(state.range(0)) - 1;
  std::latch added(others + 1), done(1);
  std::vector<std::thread> pool;
  for (std::ptrdiff_t t = 0; t < others; ++t)
    pool.emplace_back([&] {
      c.add(1);
      added.count_down();
      done.wait();
    });
  added.arrive_and_wait();
  for (auto _ : state) benchmark::DoNotOptimize(c.read());
  done.count_down();
  for (auto& th : pool) th.join();
  if (c.read() != others + 1) state.SkipWithError("read after join is not exact");
  state.SetItemsProcessed(state.iterations());
}

void private_increment(benchmark::State& state) {
  hotshard::detail::padded<std::uint64_t> mine;
  for (auto _ : state) {
    ++*mine;
    benchmark::DoNotOptimize(*mine);
  }
  state.SetItemsProcessed(state.iterations());
}

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr std::size_t keyed_keys_per_thread = std::size_t{1} << 10;  // smoke runs only
#else
constexpr std::size_t keyed_keys_per_thread = std::size_t{1} << 16;
#endif

template <class M>
void keyed_zipf(benchmark::State& state) {
  static std::unique_ptr<M> shared;
  const auto spec = hotshard::workloads::parse_spec("zipf:n=1000000,s=0.99");
  const auto keys = hotshard::workloads::generate_keys(spec, 1, static_cast<unsigned>(state.thread_index()),
                                                       static_cast<unsigned>(state.threads()), keyed_keys_per_thread);
  if (state.thread_index() == 0) shared = std::make_unique<M>(1'000'000);
  std::size_t i = 0;
  for (auto _ : state) {
    if (!shared->add(keys[i], 1)) {
      state.SkipWithError("table full");
      break;
    }
    i = (i + 1) & (keyed_keys_per_thread - 1);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) shared.reset();
}

// Registered at static initialisation; benchmark_main runs them.
const bool registered = [] {
  hc::for_each_counter([]<class C>(const char* name, const char*) {
    with_threads(benchmark::RegisterBenchmark((std::string("counter_hot/") + name).c_str(), counter_hot<C>));
  });
  hc::for_each_counter([]<class C>(const char* name, const char*) {
    benchmark::RegisterBenchmark((std::string("counter_read/") + name).c_str(), counter_read<C>)
        ->ArgName("registered")->Arg(1)->Arg(2)->Arg(4)->Arg(16)->Arg(64);
  });
  with_threads(benchmark::RegisterBenchmark("private_increment", private_increment));
  hc::for_each_keyed_counter([]<class M>(const char* name, const char*) {
    with_threads(benchmark::RegisterBenchmark((std::string("keyed_zipf/") + name).c_str(), keyed_zipf<M>));
  });
  return true;
}();

}  // namespace
