// hotshard/concepts/bounded_queue.hpp — the interfaces of the queues family,
// shared by our bounded_queue, the contenders' adapters, the scenarios and the
// benchmarks.
//
// `bounded_mpmc_queue`: any number of threads may call try_push_weak and
// try_pop_weak at once. try_push_weak(v) returns false when the queue has no
// room (or is closed), and then leaves `v` as it was; try_pop_weak(out)
// returns false when it finds nothing to take. Both may fail spuriously — the
// `_weak` says so, as compare_exchange_weak does: a Vyukov ring reports
// full/empty while a thread preempted between claiming a cell and publishing
// it holds the cell the operation needs, although other cells may be ready.
// capacity() is the number of elements the queue promises to hold; whether it
// is a maximum or a minimum is each model's to document (ours: a true maximum;
// moodycamel's: a minimum).
//
// `closable_blocking_queue` adds the blocking operations: push(v) waits for
// room and returns false only once the queue is closed (v untouched); pop(out)
// waits for an element and returns false only once the queue is closed and
// drained. close() wakes every blocked thread; pushes after it fail.
//
// Progress guarantees and memory ordering belong to each model; the concepts
// only fix the shape. A model that hands an element from push to pop must make
// the push happen-before the pop that takes that element (every queue in this
// project does).
#pragma once

#include <concepts>
#include <cstddef>
#include <utility>

namespace hotshard::concepts {

template <class Q>
concept bounded_mpmc_queue = requires(Q& q, const Q& cq, typename Q::value_type& out) {
  typename Q::value_type;
  { q.try_push_weak(std::move(out)) } -> std::same_as<bool>;
  { q.try_pop_weak(out) } -> std::same_as<bool>;
  { cq.capacity() } -> std::convertible_to<std::size_t>;
};

template <class Q>
concept closable_blocking_queue =
    bounded_mpmc_queue<Q> && requires(Q& q, const Q& cq, typename Q::value_type& out) {
      { q.push(std::move(out)) } -> std::same_as<bool>;
      { q.pop(out) } -> std::same_as<bool>;
      q.close();
      { cq.is_closed() } -> std::same_as<bool>;
    };

}  // namespace hotshard::concepts
