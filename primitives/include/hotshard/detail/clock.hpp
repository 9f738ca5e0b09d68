// hotshard/detail/clock.hpp — the injectable nanosecond clock of the
// primitives' options, written once.
//
// Options that deal in time take `std::function<std::int64_t()> clock_ns`
// (coalescing_cache_options; write_buffer_options still reads its own until
// its owner moves it here): empty means std::chrono::steady_clock, anything
// else is called instead, so tests run on an injected, deterministic clock.
// now_ns(clock) is that rule. The value is nanoseconds since an arbitrary,
// fixed epoch (steady_clock's, or the injected clock's); only differences mean
// anything.
//
// Progress: wait-free for the default clock (one steady_clock read); an
// injected clock's own otherwise. Memory ordering: none.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace hotshard::detail {

using clock_ns_fn = std::function<std::int64_t()>;

// Nanoseconds from `clock`, or from steady_clock when it is empty.
[[nodiscard]] inline std::int64_t now_ns(const clock_ns_fn& clock) {
  if (clock) return clock();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace hotshard::detail
