// hotshard/detail/futex_wait.hpp — sleep on a 32-bit atomic word until it
// changes, with an optional deadline, and the matching wake: the one wait
// primitive of bounded_queue's and write_buffer's waiters and of
// single_flight's timed and stoppable waiters.
//
// C++20 std::atomic::wait has no timeout, and libstdc++'s notify may skip the
// wake syscall when its own waiter table says nobody waits — so a word whose
// waiters may sleep in a raw timed futex must be woken with futex_wake. On
// Linux every sleep and wake goes through the futex syscall on the
// event word itself: FUTEX_WAIT_BITSET with an absolute CLOCK_MONOTONIC
// deadline (what std::chrono::steady_clock reads on Linux), or none, and
// FUTEX_WAKE. The kernel compares the word with `old` atomically with going to
// sleep, so a bump + wake between the caller's load and the call is never lost.
// Elsewhere: untimed waits use std::atomic::wait/notify; timed waits poll (20 µs
// doubling to 1 ms) and notice a bump by themselves, so a wake-up may be up to
// 1 ms late there.
//
// Both functions may return spuriously; callers re-check their condition.
// Memory ordering: none of its own — callers re-read the word (or what it
// guards) with acquire or seq_cst after a return.
// Progress: futex_wait is blocking (that is the point); futex_wake is
// wait-free (one syscall).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#if defined(__linux__)
#include <ctime>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace hotshard::detail {

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

// Sleeps while `a` holds `old`; with a deadline, at most until it passes.
inline void futex_wait(std::atomic<std::uint32_t>& a, std::uint32_t old,
                       const std::chrono::steady_clock::time_point* deadline) noexcept {
#if defined(__linux__)
  timespec ts{};
  if (deadline != nullptr) {
    const auto since_epoch = deadline->time_since_epoch();
    if (since_epoch.count() <= 0) return;
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
    const auto nsecs = std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - secs);
    ts.tv_sec = static_cast<decltype(ts.tv_sec)>(secs.count());
    ts.tv_nsec = static_cast<decltype(ts.tv_nsec)>(nsecs.count());
  }
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&a), FUTEX_WAIT_BITSET_PRIVATE, old,
            deadline != nullptr ? &ts : nullptr, nullptr, FUTEX_BITSET_MATCH_ANY);
#else
  if (deadline == nullptr) {
    a.wait(old, std::memory_order_relaxed);  // caller re-reads with acquire
    return;
  }
  auto nap = std::chrono::microseconds(20);
  while (a.load(std::memory_order_relaxed) == old) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= *deadline) return;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(nap, *deadline - now));
    if (nap < std::chrono::milliseconds(1)) nap *= 2;
  }
#endif
}

// Wakes one (or every) thread sleeping in futex_wait on `a`.
inline void futex_wake(std::atomic<std::uint32_t>& a, bool all) noexcept {
#if defined(__linux__)
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&a), FUTEX_WAKE_PRIVATE, all ? 0x7fffffff : 1, nullptr,
            nullptr, 0);
#else
  if (all)
    a.notify_all();
  else
    a.notify_one();
#endif
}

}  // namespace hotshard::detail
