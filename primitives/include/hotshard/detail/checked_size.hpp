// hotshard/detail/checked_size.hpp — validation of user-supplied sizes and
// rates, written once for every constructor.
//
// Why: std::bit_ceil(x) is undefined (in practice: 0) when the result does not
// fit the type, n × sizeof(T) can wrap, and a double → integer conversion of
// an out-of-range value is undefined behaviour. A primitive that takes such a
// value from its options would then allocate too little and index out of
// bounds, or spin forever. Every check here throws std::invalid_argument with
// a message "<who>: <field> ..." naming the offending option.
//
// Progress: pure functions (they only throw), wait-free.
#pragma once

#include <bit>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>

namespace hotshard::detail {

[[noreturn]] inline void throw_bad_option(const char* who, const char* field, const char* what) {
  throw std::invalid_argument(std::string(who) + ": " + field + " " + what);
}

// std::bit_ceil(value), or std::invalid_argument when the power of two does
// not fit T (std::bit_ceil would be undefined there).
template <std::unsigned_integral T>
[[nodiscard]] constexpr T checked_bit_ceil(T value, const char* who, const char* field) {
  constexpr T largest = T{1} << (std::numeric_limits<T>::digits - 1);
  if (value > largest) throw_bad_option(who, field, "is too large (its power-of-two rounding does not fit)");
  return std::bit_ceil(value);
}

// The largest element count of an array of `element_bytes`-byte elements
// that operator new[] can be asked for without the byte count wrapping.
[[nodiscard]] constexpr std::size_t max_array_count(std::size_t element_bytes) noexcept {
  return static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max()) / element_bytes;
}

// a × b as an element count of `element_bytes`-byte elements, or
// std::invalid_argument when the product (or its byte size) does not fit.
[[nodiscard]] constexpr std::size_t checked_array_count(std::size_t a, std::size_t b, std::size_t element_bytes,
                                                        const char* who, const char* field) {
  if (a != 0 && b > max_array_count(element_bytes) / a) throw_bad_option(who, field, "is too large (the array size overflows)");
  return a * b;
}

// A finite, non-negative double (rates, bursts, shares).
inline double checked_non_negative(double value, const char* who, const char* field) {
  if (!std::isfinite(value) || value < 0) throw_bad_option(who, field, "must be finite and >= 0");
  return value;
}

}  // namespace hotshard::detail
