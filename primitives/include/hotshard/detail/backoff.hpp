// hotshard/detail/backoff.hpp — how a retry loop waits, written once.
//
// A failed CAS retried at once makes the cache line bounce harder; a short,
// growing run of pause instructions lets the winner finish. Past a bound we
// yield the core, because with more threads than cores the thread we wait for
// may be descheduled and spinning only delays it.
//
// The one spin/yield scheme of the primitives (issue 16): bounded_queue's
// blocking operations (before they sleep), single_flight's wait for a claimer
// to reveal its key, hot_key_detector's seqlock readers and
// buffered_count_min_sketch's wait for an exit flush all step a `backoff`:
// rounds of 1, 2, 4, … 32 pause instructions (`pause_rounds` of them), then
// one yield per round. Callers that sleep after a bound count rounds().
//
// Progress: `cpu_relax()` is wait-free; `backoff::operator()` is wait-free (a
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
  // Rounds of pause instructions (1 + 2 + … + 32 = 63 pauses, well under a
  // futex round trip) before every round is a yield.
  static constexpr std::uint32_t pause_rounds = 6;

  void operator()() noexcept {
    ++rounds_;
    if (spins_ < max_spins) {
      for (std::uint32_t i = 0; i < spins_; ++i) cpu_relax();
      spins_ *= 2;
    } else {
      std::this_thread::yield();
    }
  }
  void reset() noexcept {
    spins_ = 1;
    rounds_ = 0;
  }
  // Rounds taken since construction or reset().
  [[nodiscard]] std::uint32_t rounds() const noexcept { return rounds_; }

 private:
  static constexpr std::uint32_t max_spins = std::uint32_t{1} << pause_rounds;
  std::uint32_t spins_ = 1;
  std::uint32_t rounds_ = 0;
};

}  // namespace hotshard::detail
