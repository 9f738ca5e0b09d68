// hotshard/harness/timing.hpp — the runner's clock, what the clock itself
// costs, how long to wait for an open-loop op's intended start, and which ops
// get timed.
//
// Clock: a type with `static std::uint64_t now() noexcept` (ns, monotonic) and
// `static void wait_until(std::uint64_t t) noexcept` (returns once now() >= t).
// steady_ns_clock is the real one; tests pass a virtual clock that their ops
// advance, so a latency test needs no wall-time threshold.
//
// Sampling: which ops are timed is decided by gaps drawn from a geometric
// distribution (mean = the sampling period). That is the same as timing each
// op independently with probability 1/period: every op position is equally
// likely to be timed, so a structure's own cycle (a queue block every 32
// pushes, a flush every 16 384 adds) shows up in the percentiles at its true
// share instead of always or never (a fixed stride aliases with any cycle
// whose length shares a factor with it).
//
// Thread safety: steady_ns_clock is stateless; a gap_sampler and a
// timer_info belong to one thread.
#pragma once

#include <hotshard/detail/backoff.hpp>
#include <hotshard/detail/hash.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <thread>

#if defined(__linux__)
#include <sys/prctl.h>
#endif

namespace hotshard::harness {

struct steady_ns_clock {
  static std::uint64_t now() noexcept {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
  }
  // The last stretch is spun: a sleep overshoots by the kernel's timer slack
  // (50 µs by default; see precise_sleep_scope) plus the wake-up, and that
  // overshoot would be charged to the op as latency.
  static constexpr std::uint64_t spin_ns = 30'000;
  static void wait_until(std::uint64_t t) noexcept {
    for (;;) {
      const std::uint64_t n = now();
      if (n >= t) return;
      if (t - n > spin_ns)
        std::this_thread::sleep_for(std::chrono::nanoseconds(t - n - spin_ns));
      else
        detail::cpu_relax();
    }
  }
};

// Lowers this thread's timer slack to 1 ns while it lives (Linux), so that
// sleeps in wait_until end close to when they were asked to.
class precise_sleep_scope {
 public:
  precise_sleep_scope() noexcept {
#if defined(__linux__)
    old_ = ::prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
    if (old_ > 0) (void)::prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
#endif
  }
  ~precise_sleep_scope() {
#if defined(__linux__)
    if (old_ > 0) (void)::prctl(PR_SET_TIMERSLACK, static_cast<unsigned long>(old_), 0, 0, 0);
#endif
  }
  precise_sleep_scope(const precise_sleep_scope&) = delete;
  precise_sleep_scope& operator=(const precise_sleep_scope&) = delete;

 private:
  [[maybe_unused]] long old_ = 0;
};

// What one clock read costs (mean over back-to-back reads) and the smallest
// step it was seen to take (0: it never moved, e.g. a virtual clock).
struct timer_info {
  double cost_ns = 0;
  double resolution_ns = 0;
};

template <class Clock = steady_ns_clock>
timer_info measure_timer(unsigned reads = 1024) {
  std::uint64_t smallest = ~std::uint64_t{0};
  const std::uint64_t first = Clock::now();
  std::uint64_t prev = first;
  for (unsigned k = 0; k < reads; ++k) {
    const std::uint64_t t = Clock::now();
    if (t > prev) smallest = std::min(smallest, t - prev);
    prev = t;
  }
  timer_info info;
  info.cost_ns = static_cast<double>(prev - first) / static_cast<double>(reads);
  info.resolution_ns = smallest == ~std::uint64_t{0} ? 0.0 : static_cast<double>(smallest);
  return info;
}

// The real clock's figures, measured once per process (about 20 µs).
inline const timer_info& steady_timer() {
  static const timer_info info = [] {
    timer_info best = measure_timer<steady_ns_clock>();
    // Keep the cheapest of a few tries: a preemption inside one inflates it.
    for (int k = 0; k < 4; ++k) {
      const timer_info t = measure_timer<steady_ns_clock>();
      if (t.cost_ns > 0 && t.cost_ns < best.cost_ns) best.cost_ns = t.cost_ns;
      if (t.resolution_ns > 0 && (best.resolution_ns == 0 || t.resolution_ns < best.resolution_ns))
        best.resolution_ns = t.resolution_ns;
    }
    return best;
  }();
  return info;
}

// Gaps between timed ops: geometric with the given mean (>= 1), drawn from
// SplitMix64 seeded per thread. next() >= 1 is the distance from the last
// timed op to the next one; mean 1 times every op.
class gap_sampler {
 public:
  gap_sampler(double mean, std::uint64_t seed) noexcept
      : state_(detail::mix64(seed ^ 0x6a09e667f3bcc909ULL)),
        every_(!(mean > 1)),
        scale_(every_ ? 0.0 : 1.0 / std::log1p(-1.0 / mean)),
        mean_(every_ ? 1.0 : mean) {}

  [[nodiscard]] std::uint64_t next() noexcept {
    if (every_) return 1;
    state_ += 0x9e3779b97f4a7c15ULL;
    // u in (0, 1]: the top 53 bits, shifted off zero.
    const double u = (static_cast<double>(detail::mix64(state_) >> 11) + 1.0) * 0x1.0p-53;
    // P(gap > g) = (1 - 1/mean)^g: inverse transform. Capped far out in the
    // tail (probability e^-64) so a gap always fits the loop counters.
    const double g = std::floor(std::log(u) * scale_);
    return 1 + static_cast<std::uint64_t>(std::min(g, 64.0 * mean_));
  }
  [[nodiscard]] double mean() const noexcept { return mean_; }

 private:
  std::uint64_t state_;
  bool every_;
  double scale_;  // 1 / ln(1 - 1/mean) (negative)
  double mean_;
};

}  // namespace hotshard::harness
