// hotshard/workloads/rng.hpp — the seedable generator behind every key stream.
//
// xoshiro256** (Blackman & Vigna, "Scrambled linear pseudorandom number
// generators", ACM TOMS 47(4), 2021, https://prng.di.unimi.it/) seeded through
// SplitMix64 (Steele, Lea & Flood, OOPSLA 2014), as its authors recommend:
// SplitMix64 turns any 64-bit seed, even 0 or 1, into a well-spread 256-bit
// state. Each thread gets its own generator from stream_seed(seed, thread),
// so a run is repeated exactly by repeating its seed.
//
// Progress: every function is wait-free (a fixed number of steps). A generator
// is a plain value: not thread-safe, one per thread.
// Memory ordering: no shared state, no atomics.
#pragma once

#include <hotshard/detail/hash.hpp>

#include <cstdint>
#include <limits>

namespace hotshard::workloads {

// SplitMix64: the seeder. Each call returns the next 64-bit output.
struct splitmix64 {
  std::uint64_t state;
  constexpr std::uint64_t next() noexcept {
    state += 0x9e3779b97f4a7c15ULL;
    return detail::mix64(state);  // mix64 is SplitMix64's finalizer
  }
};

// The seed of thread `thread_index`'s stream for a run seeded with `seed`.
// Distinct (seed, thread) pairs give distinct, unrelated seeds.
[[nodiscard]] constexpr std::uint64_t stream_seed(std::uint64_t seed, unsigned thread_index) noexcept {
  return detail::mix64(detail::mix64(seed) ^ detail::mix64(0x6a09e667f3bcc909ULL + thread_index));
}

class xoshiro256ss {
 public:
  using result_type = std::uint64_t;

  constexpr explicit xoshiro256ss(std::uint64_t seed) noexcept {
    splitmix64 sm{seed};
    for (auto& word : s_) word = sm.next();
  }

  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }

  constexpr result_type operator()() noexcept {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  constexpr double uniform01() noexcept {
    return static_cast<double>((*this)() >> 11) * 0x1.0p-53;
  }

  // Uniform in [0, n) without bias, n >= 1 (Lemire, "Fast random integer
  // generation in an interval", ACM TOMACS 29(1), 2019): one multiply, and a
  // rejection that is taken with probability < n / 2^64.
  constexpr std::uint64_t below(std::uint64_t n) noexcept {
    __extension__ using u128 = unsigned __int128;
    u128 m = static_cast<u128>((*this)()) * n;
    auto low = static_cast<std::uint64_t>(m);
    if (low < n) {
      const std::uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = static_cast<u128>((*this)()) * n;
        low = static_cast<std::uint64_t>(m);
      }
    }
    return static_cast<std::uint64_t>(m >> 64);
  }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept {
    return (x << k) | (x >> (64 - k));
  }
  std::uint64_t s_[4]{};
};

}  // namespace hotshard::workloads
