// hotshard/detail/cache_line.hpp — cache-line size and padding, written once.
//
// Why a constant and not std::hardware_destructive_interference_size: GCC
// warns (-Winterference-size) that the standard value may change between
// compiler flags, which would change our ABI. 64 bytes is the line on every
// x86-64 and most AArch64 parts; adjacent-line prefetch on Intel pairs lines,
// so structures that are hammered from two cores (queue head and tail) use
// two lines of separation (`prefetch_pair_bytes`).
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace hotshard::detail {

inline constexpr std::size_t cache_line_bytes = 64;
inline constexpr std::size_t prefetch_pair_bytes = 2 * cache_line_bytes;

// A value alone on its own cache line(s): no false sharing with neighbours.
template <class T, std::size_t Align = cache_line_bytes>
struct alignas(Align) padded {
  T value{};

  padded() = default;
  template <class... Args>
  explicit padded(std::in_place_t, Args&&... args) : value(std::forward<Args>(args)...) {}

  T& operator*() noexcept { return value; }
  const T& operator*() const noexcept { return value; }
  T* operator->() noexcept { return &value; }
  const T* operator->() const noexcept { return &value; }
};

static_assert(sizeof(padded<char>) == cache_line_bytes);
static_assert(alignof(padded<long>) == cache_line_bytes);

}  // namespace hotshard::detail
