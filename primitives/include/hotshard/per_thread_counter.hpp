// hotshard/per_thread_counter.hpp — a counter whose every thread writes its own
// cache line, without a read-modify-write.
//
// Algorithm: owner-written per-thread slots summed on read, the scheme of
// folly::ThreadCachedInt and of Linux "percpu_counter" (Documentation/core-api/
// this_cpu_ops.rst), with exact accounting across thread exits and a shared
// fallback word (as LongAdder's base). A thread that first adds to the counter claims a free
// padded slot (under a mutex, once); from then on add() is a relaxed load and
// a relaxed store of its own slot. When the thread exits its slot is freed
// for the next thread, which inherits the count and adds on top of it (the
// count is folded in place rather than moved into a base word, so no reader
// can catch it in flight), so a service that churns threads keeps a bounded
// number of slots and loses nothing. When every slot is taken, a thread adds to the shared word with
// fetch_add instead of failing. The lifetime rules (thread exits first /
// counter destroyed first) are in detail/thread_slots.hpp.
//
// Why a load + store without an RMW is race-free: a slot has exactly one
// writer, its owner thread, so no increment can be lost between the owner's
// load and store; the slot is a std::atomic, so a concurrent reader's load is
// not a data race and returns one of the values the owner stored (never a torn
// or invented value). The owner's load always sees its own last store
// (sequenced-before, per-location coherence).
//
// Progress guarantees:
//  * add(): wait-free once the thread holds a slot (a thread-local lookup,
//    one load, one store) or is on the shared word (one fetch_add). The first
//    add of a thread on a counter claims a slot under a mutex and may grow
//    the thread's slot array (blocking, once).
//  * read(), stats(): wait-free (one pass over the slots ever claimed).
//  * thread exit: blocking (the mutex), once per counter the thread used.
//
// What a concurrent read() may return: the shared word plus, for each slot,
// some value its owner stored while read() ran. It is not a snapshot: with
// only positive deltas the result lies between the sum of the adds that
// completed before read() began and the sum of the adds that began before it
// returned; with mixed signs it may be a sum the counter never held at one
// instant. A thread exit changes nothing a reader can see. After
// the writing threads have stopped and their stop happens-before read() (e.g.
// join), read() is exact. Cost: one cache-line miss per slot ever claimed
// (the high-water mark of concurrent threads), i.e. O(threads), and each miss
// pulls the line away from its writer.
//
// Memory ordering: counts are relaxed — the owner's load and store, the
// fallback fetch_add, read()'s loads; a counter orders nothing else. A slot
// changes owner only through the table's mutex, which orders the old owner's
// last store before the new owner's first load. The slot bookkeeping carries
// its own numbered pairs (detail/thread_slots.hpp).
// read() does not synchronise with add(): a user who needs "my add is visible
// to that read" must order them by other means (join, a release/acquire flag).
//
// Cost of add(): one compare against the thread's last-used slot (a hot
// counter: as cheap as a hand-written thread-indexed array); a thread that
// alternates between counters finds the slot in its own array indexed by
// the counter's id (a bounds check and a compare; ids are dense among live
// counters and reused). Only a thread's first add to a counter, and every
// add to the 65537th and later live counter, pay a hash lookup in its slot
// registry (tens of ns). This counter is for a set of hot counters; many
// keys belong in salted_counter_map.
//
// Memory: capacity × 64 bytes per counter plus one registry entry per (thread,
// counter) pair in use, and per thread that adds, a slot array of 16 bytes
// per counter id up to the highest it used (at most 1 MiB).
#pragma once

#include <hotshard/detail/checked_size.hpp>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/detail/metrics.hpp>
#include <hotshard/policy.hpp>
#include <hotshard/detail/thread_slots.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>

namespace hotshard {

struct per_thread_counter_options {
  // Slots for threads at once; 0 = per_thread_counter<>::default_capacity();
  // at most max_capacity (2^24; std::invalid_argument naming "capacity" above).
  std::size_t capacity = 0;
};

// A per_thread_counter's stats() snapshot (exportable, see
// detail/metrics.hpp and hotshard/prometheus.hpp). `value` is a gauge (add()
// takes negative deltas; see striped_counter_stats for exporting a counter
// that only grows).
struct per_thread_counter_stats {
  std::int64_t value = 0;          // read()
  std::uint64_t slots_in_use = 0;  // slots held by live threads
  std::uint64_t slots_claimed = 0; // slots ever claimed (what read() sums)
  std::uint64_t capacity = 0;      // slots for threads at once

  template <class F>
  void for_each_metric(F&& f) const {
    using detail::metric_kind;
    f(detail::metric{"value", metric_kind::gauge, static_cast<double>(value), "The counter's value (sum of its adds)."});
    f(detail::metric{"slots_in_use", metric_kind::gauge, static_cast<double>(slots_in_use),
                     "Per-thread slots held by live threads."});
    f(detail::metric{"slots_claimed", metric_kind::gauge, static_cast<double>(slots_claimed),
                     "Per-thread slots ever claimed (the slots a read sums)."});
    f(detail::metric{"capacity", metric_kind::gauge, static_cast<double>(capacity),
                     "Slots for threads at once (more threads add to a shared word)."});
  }
};

template <class... Policies>
  requires policy::hook_policies<Policies...>
class per_thread_counter {
  // The named policy (hotshard/policy.hpp): the contention hook.
  using Contention = policy::contention_of<Policies...>;

 public:
  using options = per_thread_counter_options;

  // Enough for the thread counts the benchmarks run (64) on small machines.
  [[nodiscard]] static std::size_t default_capacity() noexcept {
    return std::max<std::size_t>(128, 4 * std::size_t{std::thread::hardware_concurrency()});
  }

  // default_capacity() slots. Not explicit, so containers value-initialise
  // counters as users write them: std::array<per_thread_counter<>, 6> a{};
  per_thread_counter() : per_thread_counter(options{}) {}
  // per_thread_counter<> c({.capacity = 16});
  explicit per_thread_counter(options o)
      : table_(std::make_shared<detail::thread_slot_table>(checked_capacity(o.capacity))), table_id_(table_->id()) {}

  // Far above any thread count a process can run (Linux caps threads at a
  // few million); a bound so a typo cannot ask for terabytes of slots.
  static constexpr std::size_t max_capacity = std::size_t{1} << 24;

  per_thread_counter(const per_thread_counter&) = delete;
  per_thread_counter& operator=(const per_thread_counter&) = delete;

  void add(std::int64_t delta) {
    const detail::thread_slot_table* const t = table_.get();
    // One compare for a hot counter: the thread's last-used slot.
    if (const detail::thread_slot_ref last = detail::tls_slot_last; last.table == t) [[likely]] {
      bump(last.slot, delta);
      return;
    }
    // A thread alternating between counters: its slot array, by table id.
    const detail::thread_slot_ref r = detail::cached_slot(t, table_id_);
    if (r.slot != nullptr) [[likely]] {
      detail::tls_slot_last = r;
      bump(r.slot, delta);
      return;
    }
    add_slow(delta, r);
  }

  void increment() { add(1); }

  // Not a snapshot; exact once writers have stopped (see the header comment).
  [[nodiscard]] std::int64_t read() const { return table_->sum(); }

  // From any thread, concurrently with add(), a thread's first add and its
  // exit: wait-free, no write at all. `value` is read() (see "What a
  // concurrent read() may return"); the slot numbers are relaxed loads of
  // gauges the table writes under its mutex, each a value it had during the
  // call, exact once the threads that claimed and gave back slots are joined.
  [[nodiscard]] per_thread_counter_stats stats() const noexcept {
    return {.value = read(),
            .slots_in_use = table_->slots_in_use(),
            .slots_claimed = table_->slots_claimed(),
            .capacity = table_->capacity()};
  }

  [[nodiscard]] std::size_t capacity() const noexcept { return table_->capacity(); }
  // Slots held by live threads (diagnostics and tests); lock-free, some value
  // it had during the call; exact once those threads are joined.
  [[nodiscard]] std::size_t slots_in_use() const noexcept { return table_->slots_in_use(); }

 private:
  // Relaxed: single writer (this thread), see the header comment; the load
  // returns our own last store.
  static void bump(detail::thread_slot_table::cell* slot, std::int64_t delta) {
    const std::int64_t v = slot->load(std::memory_order_relaxed);
    detail::schedule_point<Contention>();
    slot->store(v + delta, std::memory_order_relaxed);
  }

  // `cached`: add()'s lookup, empty on a miss (this thread's first add here)
  // or {table, nullptr} for a thread on the shared word.
  [[gnu::noinline]] void add_slow(std::int64_t delta, detail::thread_slot_ref cached) {
    const detail::thread_slot_ref r = cached.table == table_.get() ? cached : attach();
    if (r.slot != nullptr) {
      detail::tls_slot_last = r;
      bump(r.slot, delta);
    } else {
      table_->shared().fetch_add(delta, std::memory_order_relaxed);  // relaxed: a count orders nothing
    }
  }

  detail::thread_slot_ref attach() {
    // Counted as a wait: the first attach of a thread takes the table's mutex.
    Contention::wait();
    if (detail::tls_slot_registry_gone) return {table_.get(), nullptr};  // exiting: shared word, not cached
    return detail::thread_slot_registry::local().attach(table_);
  }

  static std::size_t checked_capacity(std::size_t capacity) {
    if (capacity > max_capacity) detail::throw_bad_option("per_thread_counter", "capacity", "must be <= 2^24");
    return capacity == 0 ? default_capacity() : capacity;
  }

  std::shared_ptr<detail::thread_slot_table> table_;
  std::uint32_t table_id_;  // table_->id(), kept here: the slot lookup reads one line less
};

}  // namespace hotshard
