// hotshard/striped_counter.hpp — one logical counter salted over padded cells
// that appear only when contention is observed (LongAdder-style).
//
// Algorithm: java.util.concurrent.atomic.LongAdder / Striped64 (Doug Lea, JSR
// 166; https://gee.cs.oswego.edu/dl/concurrency-interest/ — the source of
// Striped64.java describes it). An uncontended counter is one word, `base`,
// updated by CAS. The first failed CAS on `base` proves contention: the
// counter switches to a table of cells (two at first), each alone on its cache
// line, created lazily when a thread's probe first lands on it. A thread picks
// its cell with its per-thread probe; when its CAS on a cell fails it rehashes
// its probe (moves to another cell), and when it fails again the table doubles,
// up to `max_cells` (by default hardware_concurrency rounded up to a power of
// two: beyond the number of threads that can run at once, extra cells only
// cost memory and read time). Unlike Java we never copy the table: the array of
// cell pointers is allocated at its bound up front (8 bytes per possible cell)
// and "doubling" only raises the number of indices in use, so no table is ever
// retired and no memory reclamation is needed.
//
// Progress guarantees:
//  * add(): lock-free. A failed CAS means another add succeeded. Creating a
//    cell allocates (operator new) at most once per cell index and counter.
//  * read(), stats(): wait-free (base plus at most max_cells loads).
//
// What a concurrent read() may return: base plus, for each cell, some value it
// held while read() ran; every add is counted whole or not at all. It is not a
// snapshot: with only positive deltas the result lies between the sum of the
// adds completed before read() began and the sum of the adds begun before it
// returned; with mixed signs it may be a value the counter never held at one
// instant. Once writers have stopped and their stop happens-before read()
// (join), read() is exact, so no separate unsafe_read() exists.
//
// Memory ordering: counts are relaxed (a counter orders nothing else). A cell
// is published with a release CAS paired with the acquire loads of the cell
// pointer (numbered below) so its constructed value is visible; the table size
// is an index bound only and needs no ordering of its own beyond that.
//
// Memory: one word (base) + 8 × max_cells bytes of pointers + 64 bytes per
// cell created (at most max_cells).
#pragma once

#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/checked_size.hpp>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/detail/metrics.hpp>
#include <hotshard/policy.hpp>
#include <hotshard/detail/thread_slots.hpp>

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace hotshard {

struct striped_counter_options {
  // Bound on the cells; rounded up to a power of two; 0 = the default bound
  // (hardware_concurrency rounded up). std::invalid_argument naming
  // "max_cells" above 2^31 (the rounding would not fit).
  std::uint32_t max_cells = 0;
};

// A striped_counter's stats() snapshot (exportable, see detail/metrics.hpp
// and hotshard/prometheus.hpp). `value` is a gauge: add() takes negative
// deltas too, so the counter is not monotonic in general; a counter of events
// you know only grows can be exported as a Prometheus counter with
// prometheus_text::add_counter(name_total, c.read(), help).
struct striped_counter_stats {
  std::int64_t value = 0;          // read()
  std::uint32_t cells_in_use = 0;  // cell indices in use (0 while uncontended)
  std::uint32_t max_cells = 0;     // the bound on cells

  template <class F>
  void for_each_metric(F&& f) const {
    using detail::metric_kind;
    f(detail::metric{"value", metric_kind::gauge, static_cast<double>(value), "The counter's value (sum of its adds)."});
    f(detail::metric{"cells_in_use", metric_kind::gauge, static_cast<double>(cells_in_use),
                     "Padded cells the adds are spread over (0 while uncontended)."});
    f(detail::metric{"max_cells", metric_kind::gauge, static_cast<double>(max_cells), "Bound on the cells."});
  }
};

template <class... Policies>
  requires policy::hook_policies<Policies...>
class striped_counter {
  // The named policy (hotshard/policy.hpp): the contention hook.
  using Contention = policy::contention_of<Policies...>;

 public:
  using options = striped_counter_options;

  // The default bound. Not explicit, so containers value-initialise counters
  // as users write them: std::array<striped_counter<>, 6> a{};
  striped_counter() : striped_counter(options{}) {}

  // striped_counter<> c({.max_cells = 8});
  explicit striped_counter(options o)
      : max_cells_(detail::checked_bit_ceil(o.max_cells == 0 ? detail::default_stripe_bound() : o.max_cells,
                                            "striped_counter", "max_cells")),
        cells_(std::make_unique<std::atomic<cell*>[]>(max_cells_)) {}

  striped_counter(const striped_counter&) = delete;
  striped_counter& operator=(const striped_counter&) = delete;

  ~striped_counter() {
    for (std::uint32_t i = 0; i < max_cells_; ++i) delete cells_[i].load(std::memory_order_relaxed);
  }

  void add(std::int64_t delta) {
    // Relaxed: an index bound; the cells it leads to are published by (1)/(2).
    const std::uint32_t n = size_.load(std::memory_order_relaxed);
    if (n != 0) [[likely]] {
      // The common case, kept free of stores before the CAS (a locked
      // instruction waits for the store buffer to drain): the thread's cell
      // exists and nobody else is adding to it. Everything else: add_to_cells.
      // (3) acquire: pairs with the release CAS in (1).
      if (cell* c = cells_[detail::thread_probe() & (n - 1)].load(std::memory_order_acquire); c != nullptr) {
        std::int64_t v = (*c)->load(std::memory_order_relaxed);
        detail::schedule_point<Contention>();
        // Relaxed: a count orders nothing.
        if ((*c)->compare_exchange_strong(v, v + delta, std::memory_order_relaxed, std::memory_order_relaxed))
          return;
        Contention::cas_failure();
        add_to_cells(delta, detail::rehash_probe(), true);
        return;
      }
      add_to_cells(delta, detail::thread_probe(), false);
      return;
    }
    // No cells yet: the base word, as long as nobody else is adding to it.
    std::int64_t b = base_->load(std::memory_order_relaxed);
    detail::schedule_point<Contention>();
    // Relaxed: a count orders nothing.
    if (base_->compare_exchange_strong(b, b + delta, std::memory_order_relaxed, std::memory_order_relaxed)) return;
    Contention::cas_failure();
    std::uint32_t none = 0;
    // Relaxed: see above; losing this race means someone else enabled cells.
    size_.compare_exchange_strong(none, max_cells_ < 2 ? max_cells_ : 2, std::memory_order_relaxed,
                                  std::memory_order_relaxed);
    add_to_cells(delta, detail::thread_probe(), false);
  }

  void increment() { add(1); }

  // Not a snapshot; exact once writers have stopped (see the header comment).
  [[nodiscard]] std::int64_t read() const noexcept {
    std::int64_t v = base_->load(std::memory_order_relaxed);
    const std::uint32_t n = size_.load(std::memory_order_relaxed);
    for (std::uint32_t i = 0; i < n; ++i)
      // (2) acquire: pairs with the release CAS in (1).
      if (const cell* c = cells_[i].load(std::memory_order_acquire)) v += (*c)->load(std::memory_order_relaxed);
    return v;
  }

  // From any thread, concurrently with add(): wait-free, no write at all;
  // `value` is read() (see "What a concurrent read() may return"),
  // cells_in_use a value it had during the call (relaxed: an index bound).
  [[nodiscard]] striped_counter_stats stats() const noexcept {
    return {.value = read(), .cells_in_use = cells_in_use(), .max_cells = max_cells_};
  }

  [[nodiscard]] std::uint32_t max_cells() const noexcept { return max_cells_; }
  // Cell indices in use (0 while uncontended), for diagnostics and tests.
  [[nodiscard]] std::uint32_t cells_in_use() const noexcept { return size_.load(std::memory_order_relaxed); }

 private:
  using cell = detail::padded<std::atomic<std::int64_t>>;
  static_assert(sizeof(cell) == detail::cache_line_bytes);

  // Striped64.longAccumulate's loop: probe h, `collided` after a failed CAS on
  // the cell h picked (the caller's own first attempt, if it made one).
  [[gnu::noinline]] void add_to_cells(std::int64_t delta, std::uint32_t h, bool collided) {
    for (;;) {
      const std::uint32_t n = size_.load(std::memory_order_relaxed);
      std::atomic<cell*>& slot = cells_[h & (n - 1)];
      // (3) acquire: pairs with the release CAS in (1).
      cell* c = slot.load(std::memory_order_acquire);
      if (c == nullptr) {
        auto fresh = std::make_unique<cell>(std::in_place, delta);
        detail::schedule_point<Contention>();
        // (1) release: publishes the cell's initial value to (2) and (3).
        if (slot.compare_exchange_strong(c, fresh.get(), std::memory_order_release, std::memory_order_acquire)) {
          fresh.release();
          return;
        }
        Contention::cas_failure();
        continue;  // someone else created it: use theirs
      }
      std::int64_t v = (*c)->load(std::memory_order_relaxed);
      detail::schedule_point<Contention>();
      // Relaxed: a count orders nothing.
      if ((*c)->compare_exchange_strong(v, v + delta, std::memory_order_relaxed, std::memory_order_relaxed))
        return;
      Contention::cas_failure();
      if (collided && n < max_cells_) {
        std::uint32_t seen = n;
        // Relaxed: an index bound (see add()); a lost race means it grew anyway.
        size_.compare_exchange_strong(seen, n * 2, std::memory_order_relaxed, std::memory_order_relaxed);
        collided = false;
      } else {
        collided = true;
      }
      h = detail::rehash_probe();
    }
  }

  detail::padded<std::atomic<std::int64_t>> base_;
  std::atomic<std::uint32_t> size_{0};  // cell indices in use: 0 or a power of two ≤ max_cells_
  std::uint32_t max_cells_;
  std::unique_ptr<std::atomic<cell*>[]> cells_;
};

}  // namespace hotshard
