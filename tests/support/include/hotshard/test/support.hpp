// Helpers shared by every test: one sanitizer scale constant (and the
// ThreadSanitizer flag) and one run_threads. Tests include <hotshard/test/support.hpp> (the
// hotshard_test_support target, linked by hotshard_add_gtest).
#pragma once

#include <barrier>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace hotshard::test {

// How much less work a stress or statistical test does under a sanitizer
// (ThreadSanitizer runs ~10x slower, ASan+UBSan ~3x): divide iteration and
// sample counts by it. A statistical test's bounds must hold for the scaled
// sample count, so keep it one value for both sanitizers.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr std::uint64_t sanitizer_scale = 4;
#else
inline constexpr std::uint64_t sanitizer_scale = 1;
#endif

// Whether this is a ThreadSanitizer build, for the few tests that cut their
// work under TSan (~10x slower) but run it whole under ASan (~3x): their
// counts were tuned that way, and sanitizer_scale would cut both.
#if defined(__SANITIZE_THREAD__)
inline constexpr bool thread_sanitizer = true;
#else
inline constexpr bool thread_sanitizer = false;
#endif

// n divided by sanitizer_scale, never below `floor` (default 1).
constexpr std::uint64_t scaled(std::uint64_t n, std::uint64_t floor = 1) noexcept {
  const std::uint64_t s = n / sanitizer_scale;
  return s < floor ? floor : s;
}

// Runs body(t), t in [0, threads), on `threads` threads that all start
// together (one barrier) and returns once every one has been joined. The
// first exception a body throws (e.g. a failed ASSERT_ inside a helper that
// throws, or std::logic_error) is rethrown here after the join; so is a
// failure to start a thread, after the started ones have run and joined.
template <class Body>
void run_threads(unsigned threads, Body&& body) {
  std::barrier start(static_cast<std::ptrdiff_t>(threads));
  std::exception_ptr first;
  std::mutex first_mutex;
  std::vector<std::thread> pool;
  pool.reserve(threads);
  unsigned started = 0;
  try {
    for (; started < threads; ++started)
      pool.emplace_back([&, t = started] {
        start.arrive_and_wait();
        try {
          body(t);
        } catch (...) {
          const std::lock_guard lock(first_mutex);
          if (!first) first = std::current_exception();
        }
      });
  } catch (...) {
    // Release the started threads: the missing ones leave the barrier.
    for (unsigned t = started; t < threads; ++t) start.arrive_and_drop();
    const std::lock_guard lock(first_mutex);
    if (!first) first = std::current_exception();
  }
  for (auto& th : pool) th.join();
  if (first) std::rethrow_exception(first);
}

}  // namespace hotshard::test
