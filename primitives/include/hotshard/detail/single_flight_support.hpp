// hotshard/detail/single_flight_support.hpp — the few internals single_flight
// and coalescing_cache share (owned by the single-flight family):
//  - sf_deadline_after: run_for's saturating deadline;
//  - sf_schedule_point<Contention>: an optional test hook. A Contention policy with a
//    static schedule_point() is called between the protocol's steps (tests
//    yield there: schedule noise); without one the call compiles to nothing.
// Timed and stoppable waiters sleep with detail/futex_wait.hpp.
//
// Progress: sf_deadline_after is wait-free (one clock read).
// (The default per-instance hash seed is detail::random_seed(), hash.hpp.)
#pragma once

#include <chrono>

namespace hotshard::detail {

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

template <class Contention>
inline void sf_schedule_point() noexcept {
  if constexpr (requires { Contention::schedule_point(); }) Contention::schedule_point();
}

}  // namespace hotshard::detail
