// hotshard/concepts/counter.hpp — the interfaces of the counters family, shared
// by our counters, the contenders' adapters, the scenarios and the benchmarks.
//
// `counter`: one logical 64-bit signed counter. add(delta) may be called from
// any number of threads at once; read() may run concurrently with add() and
// then returns an approximation whose bounds each model documents (none of
// ours is a snapshot); once every add() happens-before read() (e.g. the
// writers were joined), read() returns the exact sum of the deltas.
//
// `keyed_counter`: many logical counters named by a key. add(key, delta)
// returns false, having changed nothing, when the key is absent and the
// table has no room for it (a fixed-capacity table's "full" result; an
// unbounded model always returns true). read(key) is 0 for a key never added,
// with the same concurrency contract per key as `counter`.
//
// Progress guarantees and memory ordering belong to each model; the concepts
// only fix the shape. Neither concept asks for any ordering between a
// counter's operations and other memory.
#pragma once

#include <concepts>
#include <cstdint>

namespace hotshard::concepts {

template <class C>
concept counter = requires(C& c, const C& cc, std::int64_t delta) {
  c.add(delta);
  { cc.read() } -> std::convertible_to<std::int64_t>;
};

template <class M, class Key>
concept keyed_counter = requires(M& m, const M& cm, const Key& key, std::int64_t delta) {
  { m.add(key, delta) } -> std::same_as<bool>;
  { cm.read(key) } -> std::convertible_to<std::int64_t>;
};

}  // namespace hotshard::concepts
