// Shared helpers of the counters tests: run N threads from one barrier.
#pragma once

#include <barrier>
#include <cstdint>
#include <thread>
#include <vector>

namespace hotshard::test {

#if defined(__SANITIZE_THREAD__)
inline constexpr std::uint64_t stress_scale = 8;  // TSan is ~10x slower
#else
inline constexpr std::uint64_t stress_scale = 1;
#endif

// Runs body(t) on `threads` threads that start together; returns after all joined.
template <class Body>
void run_threads(unsigned threads, Body&& body) {
  std::barrier start(static_cast<std::ptrdiff_t>(threads));
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      start.arrive_and_wait();
      body(t);
    });
  for (auto& th : pool) th.join();
}

}  // namespace hotshard::test
