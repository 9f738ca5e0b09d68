// hotshard/detail/backoff.hpp — how a retry loop waits, written once.
//
// A failed CAS retried at once makes the cache line bounce harder; a short,
// growing run of pause instructions lets the winner finish. Past a bound we
// yield the core, because with more threads than cores the thread we wait for
// may be descheduled and spinning only delays it.
//
// Progress: `pause()` is wait-free; `backoff::operator()` is wait-free (a
// bounded number of pause instructions, or one sched_yield).
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace hotshard::detail {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#else
  std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

class backoff {
 public:
  void operator()() noexcept {
    if (spins_ < max_spins) {
      for (std::uint32_t i = 0; i < spins_; ++i) cpu_relax();
      spins_ *= 2;
    } else {
      std::this_thread::yield();
    }
  }
  void reset() noexcept { spins_ = 1; }

 private:
  static constexpr std::uint32_t max_spins = 64;
  std::uint32_t spins_ = 1;
};

}  // namespace hotshard::detail
