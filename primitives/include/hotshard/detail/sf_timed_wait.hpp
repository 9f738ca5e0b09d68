// hotshard/detail/sf_timed_wait.hpp — a deadline-bounded wait on a 32-bit
// atomic, for single_flight::run_for and stoppable waits, and the few other internals single_flight
// and coalescing_cache share (owned by the single-flight family):
//  - sf_deadline_after: run_for's saturating deadline;
//  - sf_schedule_point<Stats>: an optional test hook. A Stats policy with a
//    static schedule_point() is called between the protocol's steps (tests
//    yield there: schedule noise); without one the call compiles to nothing.
//
// Why this exists: C++20 std::atomic::wait has no timeout. On Linux we call
// the futex syscall directly (FUTEX_WAIT_BITSET with an absolute
// CLOCK_MONOTONIC deadline, which is what std::chrono::steady_clock reads on
// Linux), so a timed waiter sleeps in the kernel exactly like an untimed one.
// libstdc++'s notify_all() may skip the wake syscall when its own waiter
// table says nobody waits, so a waker that may have timed waiters must call
// `sf_wake_all` as well (single_flight counts its timed waiters for that).
// Elsewhere the fallback is an honest poll: sleep 20 µs, doubling up to 1 ms,
// until the value changes or the deadline passes — it never spins a core, but
// a wake-up may come up to 1 ms late.
//
// Progress: sf_wait_until is blocking (that is the point). `sf_wake_all` is
// wait-free (one syscall); `sf_deadline_after` is wait-free (one clock read).
// (The default per-instance hash seed is detail::random_seed(), hash.hpp.)
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#if defined(__linux__)
#include <cerrno>
#include <ctime>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace hotshard::detail {

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

// Waits while `a` holds `old`, at most until `deadline`. Returns false only on
// timeout with the value still equal to `old`; may return true spuriously.
inline bool sf_wait_until(std::atomic<std::uint32_t>& a, std::uint32_t old,
                          std::chrono::steady_clock::time_point deadline) noexcept {
#if defined(__linux__)
  const auto since_epoch = deadline.time_since_epoch();
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const auto nsecs = std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - secs);
  timespec ts{};
  ts.tv_sec = static_cast<decltype(ts.tv_sec)>(secs.count());
  ts.tv_nsec = static_cast<decltype(ts.tv_nsec)>(nsecs.count());
  // The kernel compares *addr with old atomically with going to sleep, so a
  // store + wake between our load and this call is never lost.
  const long rc = ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&a), FUTEX_WAIT_BITSET_PRIVATE, old, &ts,
                            nullptr, FUTEX_BITSET_MATCH_ANY);
  if (rc == -1 && errno == ETIMEDOUT) return a.load(std::memory_order_relaxed) != old;  // caller re-reads with acquire
  return true;
#else
  auto nap = std::chrono::microseconds(20);
  while (a.load(std::memory_order_relaxed) == old) {  // caller re-reads with acquire
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(nap, deadline - now));
    if (nap < std::chrono::milliseconds(1)) nap *= 2;
  }
  return true;
#endif
}

// As sf_wait_until, without a deadline when `deadline` is nullptr (a wait
// that only a wake, a change of `a` or a spurious return ends).
inline bool sf_wait(std::atomic<std::uint32_t>& a, std::uint32_t old,
                    const std::chrono::steady_clock::time_point* deadline) noexcept {
  if (deadline != nullptr) return sf_wait_until(a, old, *deadline);
#if defined(__linux__)
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&a), FUTEX_WAIT_BITSET_PRIVATE, old, nullptr, nullptr,
            FUTEX_BITSET_MATCH_ANY);
  return true;
#else
  return sf_wait_until(a, old, std::chrono::steady_clock::now() + std::chrono::milliseconds(1));
#endif
}

// The deadline of run_for(timeout), saturating: `storage` set to now for a
// timeout <= 0 (give up at once), now + timeout otherwise; nullptr (wait as
// long as it takes) when now + timeout would overflow the clock, e.g. for
// nanoseconds::max().
inline const std::chrono::steady_clock::time_point* sf_deadline_after(
    std::chrono::nanoseconds timeout, std::chrono::steady_clock::time_point& storage) {
  using clock = std::chrono::steady_clock;
  const auto now = clock::now();
  if (timeout <= std::chrono::nanoseconds::zero()) {
    storage = now;
  } else if (timeout >= std::chrono::duration_cast<std::chrono::nanoseconds>(clock::time_point::max() - now)) {
    return nullptr;
  } else {
    storage = now + std::chrono::duration_cast<clock::duration>(timeout);
  }
  return &storage;
}

template <class Stats>
inline void sf_schedule_point() noexcept {
  if constexpr (requires { Stats::schedule_point(); }) Stats::schedule_point();
}

// Wakes every thread blocked in sf_wait_until on `a`.
inline void sf_wake_all(std::atomic<std::uint32_t>& a) noexcept {
#if defined(__linux__)
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&a), FUTEX_WAKE_PRIVATE, 0x7fffffff, nullptr, nullptr, 0);
#else
  (void)a;  // pollers notice the new value by themselves
#endif
}

}  // namespace hotshard::detail
