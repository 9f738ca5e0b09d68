// hotshard/concepts/single_flight.hpp — what every request-coalescing table
// offers, so the harness and the benchmarks compare ours with the contenders
// through one interface.
//
// `run(key, loader)` returns a hotshard::load_result: `.get()` is the loader's
// value (from this caller's load or a concurrent caller's) or rethrows its
// exception, `.shared()` is true when it came from another caller's load.
// `forget(key)` makes later callers start a new load. The loader is any
// callable with no arguments returning something convertible to the value.
// Progress guarantees are each implementation's own (see its header).
#pragma once

#include <concepts>
#include <cstdint>

namespace hotshard::concepts {

template <class T>
concept single_flight_table = requires(T& t, const typename T::key_type& key, typename T::value_type (*loader)()) {
  typename T::key_type;
  typename T::value_type;
  { t.run(key, loader).get() } -> std::convertible_to<typename T::value_type>;
  { t.run(key, loader).shared() } -> std::convertible_to<bool>;
  { t.forget(key) } -> std::convertible_to<bool>;
};

// A read-through cache: get(key, loader) returns the value, loading on a miss.
template <class T>
concept read_through_cache = requires(T& t, const typename T::key_type& key, typename T::value_type (*loader)()) {
  typename T::key_type;
  typename T::value_type;
  { t.get(key, loader) } -> std::convertible_to<typename T::value_type>;
  t.invalidate(key);
};

}  // namespace hotshard::concepts
