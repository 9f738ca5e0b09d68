// hotshard/buffered_count_min_sketch.hpp — a Count-Min sketch behind a small
// per-thread filter that pre-aggregates the hottest keys, so a hot key stops
// hammering the same shared counters.
//
// Algorithm: the filter of the Augmented Sketch (Roy, Khan & Alonso, "Augmented
// Sketch: Faster and More Accurate Stream Processing", SIGMOD 2016,
// doi:10.1145/2882903.2882948) made per-thread, as in delegation sketches
// (Stylianopoulos et al., "Delegation Sketch: a Parallel Design with Support
// for Fast and Accurate Concurrent Operations", EuroSys 2020,
// doi:10.1145/3342195.3387542). Each thread owns a direct-mapped filter of
// `filter_slots` entries (key hash, pending count, score). A hit adds to the
// pending count with a plain store and raises the score; a miss is
// Misra–Gries-like: if the resident's score is above 0 the score drops by one
// and the new add goes straight to the shared sketch, otherwise the resident
// (if it has a pending count) is flushed to the shared sketch and replaced. Every
// `flush_every` adds, and when the thread exits, the thread flushes its whole
// filter (one batched add per resident). Hot keys stay resident and cost one
// shared add per flush instead of one per add.
//
// Estimate: estimate(x) = shared sketch estimate + x's pending counts in every
// thread's filter, so there is no lag: estimate(x) ≥ every add of x that
// happens-before it, including unflushed ones, and the upper bound is the
// shared sketch's (+ εN w.p. ≥ 1 − δ; a pending count read twice, during a
// flush, can only add to it). Keys are compared by their 64-bit hash: two keys
// with the same hash are one key to the sketch anyway.
//
// Keys: any concepts::hashable_key (keys.hpp; pointer keys are rejected at
// compile time); only hashed, never stored. add/estimate also take a
// hashed_key<Key, Hash> and, with a transparent Hash, a lookup key such as
// std::string_view for std::string.
//
// Threads and lifetimes: each (thread, sketch) pair has one filter node,
// found through a thread_local cache keyed by a sketch id that is never
// reused. A thread that exits flushes its nodes into their sketches and
// returns them to the sketch for reuse by a later thread (nothing is lost). A
// sketch destroyed while a thread holding a node lives marks the node
// orphaned; that thread frees it at exit (or on its next first use of another
// sketch). The node state word arbitrates the one race, a thread exiting while
// the sketch is destroyed: whoever moves it from `attached` first decides who
// frees it, and the destructor waits for an exit flush already under way.
// Calling add/estimate on a sketch while it is being destroyed is, as always,
// the caller's bug. An add from a thread_local destructor that runs after the
// thread's filter cache was destroyed goes straight to the shared sketch
// (nothing lost, no filter).
//
// Options: filter_slots (≥ 1, rounded up to a power of two) and flush_every
// (≥ 1) are checked, as are the shared sketch's (ε, δ) and options
// (count_min_sketch.hpp): a bad value throws std::invalid_argument naming it.
// The shared sketch's seed is random per instance unless count_min.sketch.seed
// names one.
//
// Progress guarantees:
//  * add(): wait-free on a filter hit (a load and a store of the thread's own
//    entry); otherwise the shared sketch's add (wait-free plain, lock-free
//    conservative); a thread's first add to a sketch allocates a node and
//    pushes it with a CAS (lock-free). Every flush_every-th add flushes the
//    filter (filter_slots shared adds).
//  * estimate(): wait-free (one entry per registered node + the shared estimate).
//  * flush(): flushes the calling thread's filter; same progress as add.
//  * destructor: blocking only while a thread is in its exit flush.
//
// Memory ordering: a filter entry has one writer (its owner). The owner
// stores `hash` and `count` with release (1); readers load both with acquire
// (2). Before the owner lowers a count or changes an entry's hash, it has
// added the old count to the shared sketch, so a reader that sees the lowered
// count or the new hash also sees the shared counters include it (its later
// sketch loads are ordered after). Nodes are published on the registry list
// with a release CAS (3) and traversed with acquire (4). Node states: the
// exiting thread's acq_rel CAS (5) and the destructor's acq_rel CAS/acquire
// load (6) make the flush happen-before the free, whoever frees.
//
// When it pays: the filter absorbs the adds of keys hot enough to hold a slot
// against the cold traffic hashed to it. Measured on one thread (4096 slots,
// Zipf over 10^6 keys, ns per add vs count_min_sketch): s = 1.5: 7 vs 36;
// s = 1.0: 30 vs 33 (47% of adds still reach the shared sketch); s = 0.6:
// 42 vs 32 — with no hot keys the filter is pure overhead. With several
// threads it also stops the hot keys' counter lines from bouncing between cores.
//
// Memory: the shared sketch (count_min_sketch.hpp) + per thread that ever
// added: 24 × filter_slots + ~100 bytes (96 KiB at the default 4096; a node is
// reused after its thread exits).
#pragma once

#include <hotshard/policy.hpp>
#include <hotshard/count_min_sketch.hpp>
#include <hotshard/detail/backoff.hpp>
#include <hotshard/detail/buffered_sketch_node.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>

namespace hotshard {

// buffered_count_min_sketch<K> s({.count_min = {.sketch = {.epsilon = 0.001}}, .filter_slots = 1024});
struct buffered_count_min_sketch_options {
  count_min_sketch_options count_min{};  // the shared sketch: ε, δ, seed (.count_min.sketch), update, aging
  std::size_t filter_slots = 4096;       // per thread, ≥ 1, rounded up to a power of two
  // Adds between whole-filter flushes, per thread; ≥ 1. A flush costs up to
  // filter_slots shared adds, so the default (16 × the default filter_slots)
  // keeps it under 1/16 of a shared add per add (1 << 14 spent a third of the
  // shared sketch's work on flushes at 2 threads). It bounds only how far
  // shared() lags: estimate() reads the filters and never lags.
  std::uint64_t flush_every = 1 << 16;
};

// The old options of the deprecated (ε, δ, options) constructor.
struct buffered_sketch_options {
  count_min_options sketch{};
  std::size_t filter_slots = 4096;      // per thread, ≥ 1, rounded up to a power of two
  std::uint64_t flush_every = 1 << 16;  // adds between whole-filter flushes, per thread; ≥ 1 (see above)
};

// stats(): a snapshot for a metrics thread (detail/metrics.hpp).
struct buffered_count_min_sketch_stats {
  count_min_sketch_stats shared;   // the shared sketch's
  std::size_t threads_registered = 0;
  std::size_t memory_bytes = 0;    // everything, filters included

  template <class F>
  void for_each_metric(F&& f) const {
    using detail::metric_kind;
    shared.for_each_metric([&](const detail::metric& m) {
      if (m.name != "memory_bytes") f(m);
    });
    f(detail::metric{"threads_registered", metric_kind::gauge, static_cast<double>(threads_registered),
                     "Per-thread filters allocated (reused after their thread exits)."});
    f(detail::metric{"memory_bytes", metric_kind::gauge, static_cast<double>(memory_bytes),
                     "Bytes held (shared sketch and filters)."});
  }
};

template <class Key, class... Policies>
  requires policy::keyed_policies<Policies...> && concepts::hashable_key<Key, policy::hash_of<Key, Policies...>>
class buffered_count_min_sketch {
  // The named policies (hotshard/policy.hpp): the key hash and the contention hook.
  using Hash = policy::hash_of<Key, Policies...>;
  using Contention = policy::contention_of<Policies...>;

 public:
  using key_type = Key;
  using shared_sketch = count_min_sketch<Key, policy::hash_with<Hash>, Contention>;

  explicit buffered_count_min_sketch(buffered_count_min_sketch_options o = {})
      : sketch_(o.count_min), registry_(o.filter_slots, o.flush_every, &sink, &sketch_) {}

  // DEPRECATED shim (issue 16): the positional (ε, δ) pair; use
  // buffered_count_min_sketch_options.
  buffered_count_min_sketch(double epsilon, double delta, buffered_sketch_options opt = {})
      : sketch_(epsilon, delta, opt.sketch), registry_(opt.filter_slots, opt.flush_every, &sink, &sketch_) {}

  buffered_count_min_sketch(const buffered_count_min_sketch&) = delete;
  buffered_count_min_sketch& operator=(const buffered_count_min_sketch&) = delete;

  // Adds `count` to a Key, a hashed_key<Key, Hash> (the same counters), or
  // with a transparent Hash a lookup key (std::string_view for std::string).
  // Keys are only hashed, never stored (the filters hold hashes).
  void add(const Key& key, std::uint64_t count = 1) noexcept { add_hashed(shared_sketch::hash_of(key), count); }
  void add(const hashed_key<Key, Hash>& key, std::uint64_t count = 1) noexcept { add_hashed(key.word(), count); }
  template <class K>
    requires detail::lookup_key<K, Key, Hash>
  void add(const K& key, std::uint64_t count = 1) noexcept {
    add_hashed(detail::key_word(key, Hash{}), count);
  }

  // Accepts the keys add() does.
  [[nodiscard]] std::uint64_t estimate(const Key& key) const noexcept { return estimate_hashed(shared_sketch::hash_of(key)); }
  [[nodiscard]] std::uint64_t estimate(const hashed_key<Key, Hash>& key) const noexcept {
    return estimate_hashed(key.word());
  }
  template <class K>
    requires detail::lookup_key<K, Key, Hash>
  [[nodiscard]] std::uint64_t estimate(const K& key) const noexcept {
    return estimate_hashed(detail::key_word(key, Hash{}));
  }

  // Pushes the calling thread's pending counts into the shared sketch.
  void flush() noexcept {
    if (detail::filter_node* n = registry_.local()) n->flush_all();
  }

  // Halves the shared counters; pending counts are not halved (they enter at
  // full weight when flushed), so aging never causes an underestimate here.
  void halve() noexcept { sketch_.halve(); }

  [[nodiscard]] const shared_sketch& shared() const noexcept { return sketch_; }
  [[nodiscard]] double epsilon() const noexcept { return sketch_.epsilon(); }
  [[nodiscard]] double delta() const noexcept { return sketch_.delta(); }
  [[nodiscard]] std::size_t threads_registered() const noexcept { return registry_.nodes(); }
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return sizeof(*this) - sizeof(sketch_) + sketch_.memory_bytes() + registry_.memory_bytes();
  }
  // A snapshot for a metrics thread: any thread, any time (O(threads) for the filters' bytes).
  [[nodiscard]] buffered_count_min_sketch_stats stats() const noexcept {
    return {sketch_.stats(), threads_registered(), memory_bytes()};
  }

 private:
  void add_hashed(std::uint64_t h, std::uint64_t count) noexcept {
    if (count == 0) return;
    detail::filter_node* n = registry_.local();
    if (n == nullptr || !n->add(h, count)) (void)sketch_.add_hashed(h, count);
  }
  [[nodiscard]] std::uint64_t estimate_hashed(std::uint64_t h) const noexcept {
    const std::uint64_t pending = registry_.pending(h);  // filters first: see "Memory ordering"
    return sketch_.estimate_hashed(h) + pending;
  }

  static void sink(void* sketch, std::uint64_t h, std::uint64_t count) noexcept {
    (void)static_cast<shared_sketch*>(sketch)->add_hashed(h, count);
  }

  shared_sketch sketch_;
  detail::filter_registry registry_;
};

}  // namespace hotshard
