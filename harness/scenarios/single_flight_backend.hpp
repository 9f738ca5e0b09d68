// harness/scenarios/single_flight_backend.hpp — what the single-flight family's
// scenarios (herd.cpp, cache.cpp) share: the simulated backend their loaders
// call, the loader knobs, and the suite-step shorthand.
//
// The backend counts its calls per calling thread, each count in its own
// padded slot, summed after the run: counting adds no shared write to the
// measured loop. In the herd scenario only thread t calls with index t, so
// its count is a plain load and store (no locked RMW in every contender's
// loader); the cache scenario's refresh thread may load with a worker's
// index, so there the count stays an RMW.
#pragma once

#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/hash.hpp>
#include <hotshard/harness/scenario.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace hotshard::harness {

// What the simulated backend (and the cache's Redis loader) throws: counted in `errors`.
struct backend_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The simulated backend: counts calls (per calling thread), sleeps, fails deterministically.
struct simulated_backend {
  simulated_backend(std::chrono::microseconds l, double f, std::uint64_t s, unsigned threads,
                    bool one_caller_per_index = false)
      : latency(l), fail_rate(f), seed(s), exclusive(one_caller_per_index), calls_by(std::max(1u, threads)) {}
  std::chrono::microseconds latency{0};
  double fail_rate = 0;
  std::uint64_t seed = 1;
  bool exclusive = false;  // index t is only ever used by thread t
  struct alignas(detail::prefetch_pair_bytes) count {
    std::atomic<std::uint64_t> n{0};  // written by its thread only; atomic so a stray caller stays defined
  };
  std::vector<count> calls_by;
  // Set when the measured window has closed: loads still queued then (an
  // async refresh backlog, drained before the cache is destroyed) skip the
  // latency, so draining thousands of 1 ms refreshes costs no wall time. They
  // are still counted; the run's timing is over.
  std::atomic<bool> run_over{false};

  [[nodiscard]] std::uint64_t calls() const {  // after the run (join orders it)
    std::uint64_t n = 0;
    for (const auto& c : calls_by) n += c.n.load(std::memory_order_relaxed);
    return n;
  }

  // Decided per (round, key) from the seed, so every contender sees the same failures.
  [[nodiscard]] bool fails(std::uint64_t round, std::uint64_t key) const {
    if (fail_rate <= 0) return false;
    const std::uint64_t h = detail::seeded_hash(detail::mix64(key) ^ round, seed);
    return static_cast<double>(h >> 11) * 0x1.0p-53 < fail_rate;
  }
  std::uint64_t load(unsigned thread, std::uint64_t round, std::uint64_t key) {
    auto& c = calls_by[thread < calls_by.size() ? thread : thread % calls_by.size()].n;
    if (exclusive)
      c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // its thread's only; orders nothing
    else
      c.fetch_add(1, std::memory_order_relaxed);  // a count orders nothing
    if (latency.count() > 0 && !run_over.load(std::memory_order_relaxed)) std::this_thread::sleep_for(latency);
    if (fails(round, key)) throw backend_failure("backend failure");
    return key * 2 + 1;
  }
};

// The loader knobs both scenarios declare (the cache ignores timeout_us);
// loader_us is the caller's: its default differs per scenario and workload.
struct loader_knobs {
  std::chrono::microseconds loader{0};
  double fail_rate = 0;
  std::chrono::nanoseconds timeout{0};
};

inline loader_knobs read_loader_knobs(const run_request& req, double loader_us) {
  return {std::chrono::microseconds(static_cast<std::int64_t>(loader_us)), req.real("fail_rate"),
          std::chrono::nanoseconds(static_cast<std::int64_t>(req.real("timeout_us") * 1000))};
}

// One step of a suite plan.
inline run_options suite_step(std::vector<unsigned> threads, std::string workload, double seconds,
                              std::map<std::string, std::string> knobs) {
  run_options o;
  o.threads = std::move(threads);
  o.workload = std::move(workload);
  o.duration_seconds = seconds;
  o.knobs = std::move(knobs);
  return o;
}

}  // namespace hotshard::harness
