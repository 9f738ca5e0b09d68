// bench-workloads: samples per second of every key generator, and the setup
// cost of the Zipf sampler against n, next to the O(n) zeta sum that YCSB's
// ZipfianGenerator computes before its first sample.
#include <hotshard/workloads/rng.hpp>
#include <hotshard/workloads/spec.hpp>
#include <hotshard/workloads/stream.hpp>
#include <hotshard/workloads/trace.hpp>
#include <hotshard/workloads/zipf.hpp>

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

namespace wl = hotshard::workloads;

void bm_xoshiro(benchmark::State& state) {
  wl::xoshiro256ss rng(1);
  for (auto _ : state) benchmark::DoNotOptimize(rng());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_xoshiro);

// The raw sampler (no virtual call): range(0) = n, range(1) = s * 10000.
void bm_zipf_sample(benchmark::State& state) {
  const wl::zipf_generator zipf(static_cast<std::uint64_t>(state.range(0)), static_cast<double>(state.range(1)) / 10000);
  wl::xoshiro256ss rng(1);
  for (auto _ : state) benchmark::DoNotOptimize(zipf(rng));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_zipf_sample)
    ->ArgNames({"n", "s_x10000"})
    ->Args({1'000, 9900})
    ->Args({1'000'000, 9900})
    ->Args({1'000'000'000, 9900})
    ->Args({std::int64_t{1} << 62, 9900})
    ->Args({1'000'000, 5000})
    ->Args({1'000'000, 9995})
    ->Args({1'000'000, 10000})
    ->Args({1'000'000, 12000});

void bm_zipf_scrambled(benchmark::State& state) {
  const std::uint64_t n = static_cast<std::uint64_t>(state.range(0));
  const wl::zipf_generator zipf(n, 0.99);
  wl::xoshiro256ss rng(1);
  for (auto _ : state) benchmark::DoNotOptimize(wl::scramble(zipf(rng), n));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_zipf_scrambled)->ArgName("n")->Arg(1'000'000)->Arg(1'000'000'000);

// Every spec kind through make_stream (one virtual call per key, as the harness uses it).
// A run of 1e6 ops: viral: passes through all its phases early in the benchmark.
void bm_stream(benchmark::State& state, const std::string& text) {
  const auto stream = wl::make_stream(wl::parse_spec(text), 1, 0, 1, 1'000'000);
  for (auto _ : state) benchmark::DoNotOptimize(stream->next());
  state.SetItemsProcessed(state.iterations());
}

// Setup time of the rejection-inversion sampler: constant in n.
void bm_zipf_setup(benchmark::State& state) {
  const auto n = static_cast<std::uint64_t>(state.range(0));
  for (auto _ : state) {
    wl::zipf_generator zipf(n, 0.99);
    benchmark::DoNotOptimize(zipf);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_zipf_setup)
    ->ArgName("n")
    ->Arg(1'000)
    ->Arg(10'000)
    ->Arg(100'000)
    ->Arg(1'000'000)
    ->Arg(10'000'000)
    ->Arg(100'000'000)
    ->Arg(1'000'000'000)
    ->Arg(std::int64_t{1} << 62);

// What YCSB's ZipfianGenerator does at construction: zeta(n, theta) =
// sum_{i=1}^{n} 1 / i^theta, O(n). Excluded from the ctest smoke run.
void bm_zeta_sum(benchmark::State& state) {
  const auto n = static_cast<std::uint64_t>(state.range(0));
  for (auto _ : state) {
    double sum = 0;
    for (std::uint64_t i = 1; i <= n; ++i) sum += 1.0 / std::pow(static_cast<double>(i), 0.99);
    benchmark::DoNotOptimize(sum);
  }
}
BENCHMARK(bm_zeta_sum)->ArgName("n")->Arg(100'000'000)->Iterations(1)->Unit(benchmark::kMillisecond);

// Replay speed: records per second through trace_reader, for a trace of
// 200,000 Zipf records written once per format.
void bm_trace_read(benchmark::State& state, wl::trace_format format) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("bench_workloads_" + std::to_string(::getpid()) +
                             (format == wl::trace_format::text ? ".txt" : ".bin")))
                               .string();
  constexpr std::size_t records = 200'000;
  {
    wl::trace_writer writer(path, format);
    for (const auto& op : wl::generate_operations(wl::parse_spec("zipf:n=1000000000"), 1, 0, 1, records, 0.9)) {
      writer.write(op);
    }
  }
  std::vector<wl::operation> chunk;
  for (auto _ : state) {
    wl::trace_reader reader(path);
    while (reader.next_chunk(chunk)) benchmark::DoNotOptimize(chunk.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * records));
  std::filesystem::remove(path);
}
BENCHMARK_CAPTURE(bm_trace_read, text, wl::trace_format::text)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_trace_read, binary, wl::trace_format::binary)->Unit(benchmark::kMillisecond);

const bool registered = [] {
  for (const char* text : {"uniform:n=1000000", "zipf:n=1000000,s=0.99", "zipf:n=1000000,s=0.99,scramble=1",
                           "hotspot:n=1000000,hot=0.2,ops=0.8", "latest:n=1000000", "shift:n=1000000,every=100000",
                           "herd:keys=16", "viral:n=1000000"}) {
    benchmark::RegisterBenchmark(("bm_stream/" + std::string(text)).c_str(), bm_stream, std::string(text));
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
