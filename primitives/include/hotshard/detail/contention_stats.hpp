// hotshard/detail/contention_stats.hpp — the hook through which a primitive
// counts its own retries, so "contention on a hot key" is a number.
//
// Every primitive that retries takes a `Stats` policy type parameter that
// defaults to `no_stats`, whose members are empty constexpr functions: in the
// library's default use the hook compiles to nothing. The harness instantiates
// the same primitive with `counting_stats`, which bumps plain thread-local
// counters (no shared writes are added to the measured loop); each worker
// reads its own totals after the run and the runner merges them.
//
// Progress: every member is wait-free. counting_stats touches only the
// calling thread's own counters (no atomics, no ordering).
#pragma once

#include <cstdint>

namespace hotshard::detail {

struct contention_counts {
  std::uint64_t cas_failures = 0;  // a compare-exchange that lost a race
  std::uint64_t spins = 0;         // a backoff step or busy re-check
  std::uint64_t waits = 0;         // a blocking wait (atomic wait, lock, condvar)

  contention_counts& operator+=(const contention_counts& o) noexcept {
    cas_failures += o.cas_failures;
    spins += o.spins;
    waits += o.waits;
    return *this;
  }
};

struct no_stats {
  static constexpr void cas_failure() noexcept {}
  static constexpr void spin() noexcept {}
  static constexpr void wait() noexcept {}
};

struct counting_stats {
  static contention_counts& local() noexcept {
    thread_local contention_counts counts;
    return counts;
  }
  static void cas_failure() noexcept { ++local().cas_failures; }
  static void spin() noexcept { ++local().spins; }
  static void wait() noexcept { ++local().waits; }
};

}  // namespace hotshard::detail
