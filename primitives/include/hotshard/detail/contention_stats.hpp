// hotshard/detail/contention_stats.hpp — the hook through which a primitive
// counts its own retries, so "contention on a hot key" is a number.
//
// Every primitive that retries takes a contention hook (a named policy, see
// hotshard/policy.hpp) that defaults to `no_stats` (policy::no_contention_hook),
// whose members are empty constexpr functions: in the library's default use
// the hook compiles to nothing. The harness instantiates the same primitive
// with `counting_stats` (policy::count_contention), which bumps plain
// thread-local counters (no shared writes are added to the measured loop);
// each worker reads its own totals after the run and the runner merges them.
//
// Schedule noise (tests): `yielding_stats` yields the thread, at random, at
// every hook call and at every schedule_point<Contention>() — the spots between
// the steps of a protocol (after a claim and before its publish, between a
// sleeper's registration and its re-check, ...) where a preemption exposes
// a race. A policy may define `static void schedule_point()`;
// schedule_point<Contention>() calls it when it exists and compiles to nothing
// otherwise, so existing policies (no_stats, counting_stats, the tests' own)
// need no change. Stress tests run with yielding_stats under TSan.
//
// Progress: every member is wait-free. counting_stats touches only the
// calling thread's own counters (no atomics, no ordering); yielding_stats a
// thread-local random state and sched_yield.
#pragma once

#include <cstdint>
#include <functional>
#include <thread>

namespace hotshard::policy {
// The two kinds of policy (hotshard/policy.hpp); declared here so the
// library's own hooks below carry their tag.
struct hash_category {};
struct contention_category {};
}  // namespace hotshard::policy

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
  using policy_category = policy::contention_category;
  static constexpr void cas_failure() noexcept {}
  static constexpr void spin() noexcept {}
  static constexpr void wait() noexcept {}
};

struct counting_stats {
  using policy_category = policy::contention_category;
  static contention_counts& local() noexcept {
    thread_local contention_counts counts;
    return counts;
  }
  static void cas_failure() noexcept { ++local().cas_failures; }
  static void spin() noexcept { ++local().spins; }
  static void wait() noexcept { ++local().waits; }
};

// The policy's schedule_point() if it has one; nothing otherwise.
template <class Contention>
inline void schedule_point() noexcept {
  if constexpr (requires { Contention::schedule_point(); }) Contention::schedule_point();
}

struct yielding_stats {
  using policy_category = policy::contention_category;
  // Yields with probability 1/8 (a per-thread xorshift, so threads differ):
  // often enough to reorder threads, rarely enough that a stress test with
  // many more threads than cores still finishes in seconds.
  static void schedule_point() noexcept {
    thread_local std::uint32_t x = static_cast<std::uint32_t>(
        std::hash<std::thread::id>{}(std::this_thread::get_id()) | 1u);
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    if ((x & 7) == 0) std::this_thread::yield();
  }
  static void cas_failure() noexcept { schedule_point(); }
  static void spin() noexcept { schedule_point(); }
  static void wait() noexcept { schedule_point(); }
};

}  // namespace hotshard::detail
