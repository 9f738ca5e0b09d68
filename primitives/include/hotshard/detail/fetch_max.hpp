// hotshard/detail/fetch_max.hpp — atomically raise a word to at least a
// value, written once (C++26's std::atomic::fetch_max, as a CAS loop).
//
// Users: salted_counter_map (a block's K), hot_key_table (a slot's epoch
// stamp). write_buffer.hpp still has its own copy (bump_max and the max-lag
// loop) until its owner moves it here.
//
// Progress: lock-free (a failed CAS means another thread changed the word;
// the loop ends as soon as the word is ≥ v). Memory ordering: `order` on the
// successful CAS, relaxed on failure and on the first load; with the default
// (relaxed) it publishes nothing — callers that need more pass their order and
// name the pairing operation.
#pragma once

#include <atomic>
#include <concepts>

namespace hotshard::detail {

// Raises `a` to v unless it already holds ≥ v; returns the value it held
// before (≥ v when nothing was written).
template <std::integral T>
T fetch_max(std::atomic<T>& a, T v, std::memory_order order = std::memory_order_relaxed) noexcept {
  T cur = a.load(std::memory_order_relaxed);
  while (cur < v && !a.compare_exchange_weak(cur, v, order, std::memory_order_relaxed)) {
  }
  return cur;
}

}  // namespace hotshard::detail
