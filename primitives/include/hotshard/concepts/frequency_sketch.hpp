// hotshard/concepts/frequency_sketch.hpp — the interfaces of the sketches
// family, shared by our sketches, the contenders' adapters, the `sketch`
// scenario and bench-sketches.
//
// `frequency_sketch`: approximate per-key counts in bounded memory. add(key)
// and add(key, count) may be called from any number of threads at once;
// estimate(key) may run concurrently with them. Every model in this project
// promises estimate(key) ≥ the sum of the counts of all add(key, ·) that
// happen-before the estimate (never an underestimate, except where a model
// ages its counts on purpose and documents the decayed count it bounds), and
// documents its upper bound (for Count-Min: + εN with probability ≥ 1 − δ).
//
// `heavy_hitter_tracker`: a frequency sketch that can also name its heaviest
// keys. top(k) returns at most k `heavy_hitter` entries, heaviest first, each
// with the key, an estimated count and the additive error bound of that count
// (true count ∈ [count − error, count] under the model's stated probability).
// (The concept is not named `heavy_hitters` because that is the name of our
// tracker class in heavy_hitters.hpp.)
//
// Progress guarantees and memory ordering belong to each model; the concepts
// only fix the shape. No concept asks for any ordering between a sketch's
// operations and other memory.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <ranges>

namespace hotshard {

// One entry of a heavy_hitter_tracker's top(k) (a result type, so it lives in
// namespace hotshard; the concepts are in hotshard::concepts).
template <class Key>
struct heavy_hitter {
  Key key{};
  std::uint64_t count = 0;  // estimated count, never below the true count
  std::uint64_t error = 0;  // true count ≥ count − error (with the model's stated probability)
};

}  // namespace hotshard

namespace hotshard::concepts {

template <class S>
concept frequency_sketch = requires(S& s, const S& cs, const typename S::key_type& key, std::uint64_t n) {
  typename S::key_type;
  s.add(key);
  s.add(key, n);
  { cs.estimate(key) } -> std::convertible_to<std::uint64_t>;
};

template <class H>
concept heavy_hitter_tracker = frequency_sketch<H> && requires(const H& ch, std::size_t k) {
  { ch.top(k) } -> std::ranges::range;
  requires std::same_as<std::ranges::range_value_t<decltype(ch.top(k))>, heavy_hitter<typename H::key_type>>;
};

}  // namespace hotshard::concepts
