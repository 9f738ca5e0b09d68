// hotshard/bounded_queue.hpp — a bounded multi-producer multi-consumer ring
// with try, blocking and bulk operations, and close().
//
// Algorithm: Dmitry Vyukov's bounded MPMC queue
// (https://www.1024cores.net/home/lock-free-algorithms/queues/bounded-mpmc-queue).
// Every cell carries a sequence number. Cell i of lap L is free for the push
// at position p = L·capacity + i when seq == p, and holds that push's element
// when seq == p + 1; the pop at p frees it for the next lap with
// seq = p + capacity. Producers claim a position with a CAS on `push_pos`,
// consumers with a CAS on `pop_pos`; the CAS is only tried once the cell is
// seen ready, so a position is never claimed and abandoned.
//
// Capacity is a power of two ≥ 2 and a TRUE maximum: a push needs its cell
// freed by the pop one lap earlier, so push_pos − pop_pos ≤ capacity at every
// instant, including pops still moving their element out (a cell being read is
// not free). moodycamel::ConcurrentQueue, by contrast, treats it as a minimum.
//
// Progress:
//  - try_push_weak, try_pop_weak, try_push_bulk_weak, try_pop_bulk_weak:
//    lock-free (a CAS loop in which each failure means another thread claimed
//    a position). They never wait for another thread, so they may fail
//    spuriously — hence `_weak`, as in compare_exchange_weak: a cell still held
//    by a thread preempted between claiming and publishing makes them return
//    false ("full"/"empty") although later cells may be ready — the known
//    caveat of this design. The blocking operations below never fail so.
//  - push, pop, pop_bulk: blocking. A short bounded spin and a few yields, then the thread sleeps
//    in a futex (detail/futex_wait.hpp; C++20 atomic wait off Linux), so waiters
//    do not burn a core when threads outnumber cores.
//  - push_for/push_until/pop_for/pop_until and push/pop with a std::stop_token:
//    blocking, bounded by the deadline (steady_clock; the futex sleeps until it
//    on Linux) or ended by a stop request, which wakes the sleeper at once.
//    They return a queue_status (ok, closed, timed_out, stopped): load
//    shedding (push_for) and stoppable workers (pop with the worker's token).
//  - close, is_closed, capacity, size_approx, push_count, pop_count, stats:
//    wait-free. stats() returns a bounded_queue_stats snapshot (capacity,
//    size, closed, sleeping consumers/producers, pushes/pops so far) for
//    detail/metrics.hpp's exporter: relaxed loads of words the operations
//    already write, so it adds no shared write to any operation.
//
// Waking sleepers without losing a wake-up (the "waiter counter" scheme). A
// sleeping consumer registers in not_empty.sleepers (seq_cst RMW) and then
// re-reads push_pos (seq_cst); a producer claims its position with a seq_cst
// CAS on push_pos and, after publishing, reads not_empty.sleepers (seq_cst).
// In the single total order of seq_cst operations either the consumer's
// registration comes first — the producer sees a waiter, bumps not_empty.event
// and notifies — or the claim comes first and the consumer sees push_pos past
// pop_pos and does not sleep (it yields until the claimed cell is published).
// The consumer read `event` before registering, so a bump it has not seen ends
// its wait. A timed or stoppable waiter may leave its sleep without being
// notified (deadline, stop); one that WAS notified may be the one notify_one
// chose — so it tries once more before giving up, and a wake-up meant for the
// queue is never swallowed by a leaving waiter. A stop request bumps `event`
// and wakes all; the waiter checks stop_requested() after reading `event`. The same argument, with pop_pos and not_full, wakes producers that
// sleep on a full queue, and close() (a seq_cst RMW on push_pos, then a bump of
// both events and notify_all) wakes everyone. On x86 the fast path pays nothing
// for this: the CAS is a locked instruction anyway and a seq_cst load is a
// plain load; the notify (a futex syscall) happens only when somebody sleeps.
// The protocol is checked exhaustively for small configurations by spin
// (models/bounded_queue.pml): no lost wake-up, close wakes all, a stop wakes
// its waiter, a timed waiter never swallows another's wake-up; its mutants —
// WEAK_ORDERING (registration not ordered before the re-check), GIVE_UP_ON_WAKE
// (a timed waiter gives up straight out of its sleep) and STOP_CHECK_EARLY
// (stop checked before `event` is read) — each lose one.
//
// What a concurrent observer may see: every element pushed is popped exactly
// once. Elements pushed by one thread are popped in that order (by one consumer
// they are seen in that order; the queue is linearizable except for the
// spurious full/empty results above). size_approx() is a racy estimate in
// [0, capacity].
//
// Memory ordering: a successful push happens-before the pop that takes its
// element (the cell's seq is published with release and read with acquire, (2)
// with (3)); a pop's move-out happens-before the push that reuses the cell ((4)
// with (1)). close() happens-before any push that returns false because of it.
//
// Layout: cells are packed ({seq, T}: 16 bytes for a 64-bit T, four to a
// cache line), as in Vyukov's original, xenium and libcds; head and tail sit
// on their own line pairs. Until issue 14 each cell had its own cache line.
// Why (issue 14; harness `queue` scenario, 2-core machine, busy and noisy:
// 15 interleaved repetitions): one consumer pulls four elements per line from
// the producers' caches instead of one, and the ring of 1024 cells is 16 KiB
// instead of 64 KiB, so it stays in L1 across context switches. Process CPU
// per item fell 10-30% at 4P1C, 2P2C and 16P1C/8P8C with bulk 32; single-item
// 16P1C and 8P8C moved within noise, 1P3C looked ~20% worse (three consumers
// on neighbouring cells share a line). What the data ruled out as causes of
// the gap to the peers: CAS retries (≤ 0.05 failed claims per item), a
// consumer stalled on a cell claimed by a preempted producer (≤ 1e-4 per
// item), and the try path's `sleepers` read (a line nobody writes unless
// someone sleeps; the queue's own code is ~10% of the CPU profile at 16P1C,
// the harness's yields and clock reads the rest).
//
// Exceptions: T must be nothrow move constructible and nothrow destructible
// (static_assert): an element is moved into a claimed cell, and a throw there
// would strand the position. try_push_weak(const T&), push(const T&) and
// try_emplace construct the element first: if that throws, nothing changed
// (strong guarantee). try_pop_weak(T&) requires a nothrow move assignment. If the
// output iterator of (try_)pop_bulk throws, the cells already claimed are still
// released and their elements not yet written are destroyed (basic guarantee:
// those elements are lost — use an output that does not throw, e.g. a pointer
// into a pre-sized buffer, when that matters). Every other operation is
// noexcept.
#pragma once

#include <hotshard/detail/backoff.hpp>
#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/checked_size.hpp>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/policy.hpp>
#include <hotshard/detail/futex_wait.hpp>
#include <hotshard/detail/metrics.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <type_traits>
#include <utility>

namespace hotshard {

// The outcome of a timed or stoppable queue operation.
//  ok: pushed / popped. closed: push — the queue is closed (value untouched);
//  pop — closed and drained. timed_out: the deadline passed first (value
//  untouched). stopped: the stop_token's stop was requested first.
enum class queue_status { ok, closed, timed_out, stopped };

struct bounded_queue_options {
  // A power of two, at least 2, whose ring of cache-line cells fits a size_t
  // byte count (std::invalid_argument naming "capacity" otherwise; never rounded).
  std::size_t capacity = 1024;
};

// A bounded_queue::stats() snapshot (detail/metrics.hpp: for_each_metric).
// Each number is a value it had at some moment during the stats() call; they
// are not one atomic snapshot of each other (size can be read between a claim
// and its publish, pushes_total and pops_total a moment apart).
struct bounded_queue_stats {
  std::uint64_t capacity = 0;            // the true maximum number of elements
  std::uint64_t size = 0;                // size_approx(): positions claimed by pushes and not yet by pops
  bool closed = false;                   // close() has been called
  std::uint64_t sleeping_consumers = 0;  // pop/pop_bulk/pop_for callers registered to sleep on "not empty"
  std::uint64_t sleeping_producers = 0;  // push/push_for callers registered to sleep on "not full"
  std::uint64_t pushes = 0;              // push positions claimed so far (push_count())
  std::uint64_t pops = 0;                // pop positions claimed so far (pop_count())

  template <class F>
  void for_each_metric(F&& f) const {
    using detail::metric;
    using detail::metric_kind;
    f(metric{"capacity", metric_kind::gauge, static_cast<double>(capacity), "The most elements the queue holds."});
    f(metric{"size", metric_kind::gauge, static_cast<double>(size), "Elements queued (a racy estimate)."});
    f(metric{"closed", metric_kind::gauge, closed ? 1.0 : 0.0, "1 once close() was called, else 0."});
    f(metric{"sleeping_consumers", metric_kind::gauge, static_cast<double>(sleeping_consumers),
             "Pops asleep waiting for an element."});
    f(metric{"sleeping_producers", metric_kind::gauge, static_cast<double>(sleeping_producers),
             "Pushes asleep waiting for room."});
    f(metric{"pushes_total", metric_kind::counter, static_cast<double>(pushes), "Elements pushed (positions claimed)."});
    f(metric{"pops_total", metric_kind::counter, static_cast<double>(pops), "Elements popped (positions claimed)."});
  }
};

template <class T, class... Policies>
  requires policy::hook_policies<Policies...>
class bounded_queue {
  // The named policy (hotshard/policy.hpp): the contention hook.
  using Contention = policy::contention_of<Policies...>;

  static_assert(std::is_nothrow_move_constructible_v<T>,
                "bounded_queue<T>: T must be nothrow move constructible (see Exceptions)");
  static_assert(std::is_nothrow_destructible_v<T>, "bounded_queue<T>: T must be nothrow destructible");

 public:
  using value_type = T;
  using size_type = std::size_t;

  using options = bounded_queue_options;

  // bounded_queue<T> q({.capacity = 64}); see bounded_queue_options.
  explicit bounded_queue(options o = {})
      : mask_(check_capacity(o.capacity) - 1), cells_(std::make_unique<cell[]>(o.capacity)) {
    for (size_type i = 0; i < o.capacity; ++i) cells_[i].seq.store(i, std::memory_order_relaxed);
  }

  // DEPRECATED shim (issue 16): the positional capacity, kept for existing
  // callers (many tests still use it); new code passes
  // bounded_queue_options. Same checks. Not marked [[deprecated]] yet: with
  // warnings as errors that would break those call sites.
  explicit bounded_queue(size_type capacity) : bounded_queue(options{.capacity = capacity}) {}

  bounded_queue(const bounded_queue&) = delete;
  bounded_queue& operator=(const bounded_queue&) = delete;

  // Not thread-safe: no operation may run concurrently with the destructor.
  ~bounded_queue() {
    const std::uint64_t tail = index_.push->load(std::memory_order_relaxed) & ~closed_bit;
    for (std::uint64_t p = index_.pop->load(std::memory_order_relaxed); p < tail; ++p)
      element(cells_[p & mask_])->~T();
  }

  // ---- non-blocking -------------------------------------------------------

  [[nodiscard]] bool try_push_weak(T&& v) noexcept {
    std::uint64_t pos = 0;
    cell* c = claim_push(pos);
    if (c == nullptr) return false;
    detail::schedule_point<Contention>();  // claimed, not yet published
    ::new (static_cast<void*>(c->storage)) T(std::move(v));
    c->seq.store(pos + 1, std::memory_order_release);  // (2) release: pairs with the acquire in (3)
    wake(*not_empty_, false);
    return true;
  }

  [[nodiscard]] bool try_push_weak(const T& v) requires std::is_copy_constructible_v<T> {
    T copy(v);  // may throw: nothing claimed yet
    return try_push_weak(std::move(copy));
  }

  template <class... Args>
  [[nodiscard]] bool try_emplace(Args&&... args) {
    T made(std::forward<Args>(args)...);  // may throw: nothing claimed yet
    return try_push_weak(std::move(made));
  }

  // Pushes a prefix of [first, first + n) in one claim (one CAS) and returns
  // its length: 0 when full or closed. Moves from the pushed elements only.
  // Dereferencing and incrementing `first` must not throw.
  template <class It>
  [[nodiscard]] size_type try_push_bulk_weak(It first, size_type n) noexcept {
    if (n == 0) return 0;
    std::uint64_t pos = 0;
    const size_type k = claim_push_run(pos, n);
    for (size_type i = 0; i < k; ++i, ++first) {
      cell& c = cells_[(pos + i) & mask_];
      ::new (static_cast<void*>(c.storage)) T(std::move(*first));
      c.seq.store(pos + i + 1, std::memory_order_release);  // (2) release: pairs with the acquire in (3)
    }
    if (k != 0) wake(*not_empty_, k > 1);
    return k;
  }

  [[nodiscard]] bool try_pop_weak(T& out) noexcept requires std::is_nothrow_move_assignable_v<T> {
    std::uint64_t pos = 0;
    cell* c = claim_pop(pos);
    if (c == nullptr) return false;
    detail::schedule_point<Contention>();  // claimed, not yet released
    T* e = element(*c);
    out = std::move(*e);
    release_cell(*c, e, pos);
    wake(*not_full_, false);
    return true;
  }

  [[nodiscard]] std::optional<T> try_pop_weak() noexcept {
    std::uint64_t pos = 0;
    cell* c = claim_pop(pos);
    if (c == nullptr) return std::nullopt;
    detail::schedule_point<Contention>();  // claimed, not yet released
    T* e = element(*c);
    std::optional<T> out(std::move(*e));
    release_cell(*c, e, pos);
    wake(*not_full_, false);
    return out;
  }

  // Pops up to `max` consecutive ready elements with one claim (one CAS) and
  // writes them to `out` in queue order; returns how many (0 when empty).
  template <class OutIt>
  [[nodiscard]] size_type try_pop_bulk_weak(OutIt out, size_type max) {
    if (max == 0) return 0;
    std::uint64_t pos = 0;
    const size_type k = claim_pop_run(pos, max);
    size_type i = 0;
    try {
      for (; i < k; ++i) {
        cell& c = cells_[(pos + i) & mask_];
        T* e = element(c);
        *out = std::move(*e);
        ++out;
        release_cell(c, e, pos + i);
      }
    } catch (...) {
      for (; i < k; ++i) {  // release what we claimed so the ring stays consistent
        cell& c = cells_[(pos + i) & mask_];
        release_cell(c, element(c), pos + i);
      }
      wake(*not_full_, true);
      throw;
    }
    if (k != 0) wake(*not_full_, k > 1);
    return k;
  }

  // ---- blocking -------------------------------------------------------------

  // Waits for room; false (v untouched) once the queue is closed.
  [[nodiscard]] bool push(T&& v) noexcept {
    for (detail::backoff wait;;) {
      if (try_push_weak(std::move(v))) return true;
      if (is_closed()) return false;
      if (wait.rounds() < spin_attempts) {
        spin(wait);
        continue;
      }
      if (!sleep_while_full()) return false;
    }
  }

  [[nodiscard]] bool push(const T& v) requires std::is_copy_constructible_v<T> {
    T copy(v);
    return push(std::move(copy));
  }

  // Waits for an element; false once the queue is closed and drained.
  [[nodiscard]] bool pop(T& out) noexcept requires std::is_nothrow_move_assignable_v<T> {
    for (detail::backoff wait;;) {
      if (try_pop_weak(out)) return true;
      if (wait.rounds() < spin_attempts) {
        spin(wait);
        continue;
      }
      if (!sleep_while_empty()) return false;
    }
  }

  [[nodiscard]] std::optional<T> pop() noexcept {
    for (detail::backoff wait;;) {
      if (auto v = try_pop_weak()) return v;
      if (wait.rounds() < spin_attempts) {
        spin(wait);
        continue;
      }
      if (!sleep_while_empty()) return std::nullopt;
    }
  }

  // Waits until at least one element is available, then pops up to `max`;
  // 0 once the queue is closed and drained.
  template <class OutIt>
  [[nodiscard]] size_type pop_bulk(OutIt out, size_type max) {
    if (max == 0) return 0;
    for (detail::backoff wait;;) {
      if (const size_type k = try_pop_bulk_weak(out, max)) return k;
      if (wait.rounds() < spin_attempts) {
        spin(wait);
        continue;
      }
      if (!sleep_while_empty()) return 0;
    }
  }

  // ---- blocking with a deadline or a stop_token ------------------------------
  //
  // As push/pop, but giving up with timed_out once `deadline` (steady_clock)
  // has passed, or with stopped once `st` has had stop requested; a stop
  // request wakes a sleeping caller at once (a std::stop_callback bumps the
  // event word and wakes its sleepers). The deadline and the stop request are
  // checked only after a failed try, never straight out of a sleep: a caller
  // woken by a push (or pop) always tries once more before giving up, so it
  // never swallows the wake-up meant for another sleeper (models/bounded_queue.pml,
  // scenarios S4 and S5). A timeout ≤ 0 or a deadline already past is one try.
  // An element pushed by another thread before the deadline may still be
  // reported timed_out if the caller's try ran before that push was published.
  // Progress: blocking, like push/pop; on failure the value is untouched.
  // Priority when several hold after a failed try: closed (push), stopped, timed_out.
  using clock = std::chrono::steady_clock;

  [[nodiscard]] queue_status push_until(T&& v, clock::time_point deadline, std::stop_token st = {}) noexcept {
    return blocking_push(v, &deadline, st);
  }
  template <class Rep, class Period>
  [[nodiscard]] queue_status push_for(T&& v, std::chrono::duration<Rep, Period> timeout, std::stop_token st = {}) noexcept {
    return push_until(std::move(v), deadline_after(timeout), std::move(st));
  }
  // Waits for room with no deadline: ok, closed or stopped.
  [[nodiscard]] queue_status push(T&& v, std::stop_token st) noexcept { return blocking_push(v, nullptr, st); }

  [[nodiscard]] queue_status pop_until(T& out, clock::time_point deadline, std::stop_token st = {}) noexcept
      requires std::is_nothrow_move_assignable_v<T> {
    return blocking_pop(out, &deadline, st);
  }
  template <class Rep, class Period>
  [[nodiscard]] queue_status pop_for(T& out, std::chrono::duration<Rep, Period> timeout, std::stop_token st = {}) noexcept
      requires std::is_nothrow_move_assignable_v<T> {
    return pop_until(out, deadline_after(timeout), std::move(st));
  }
  // Waits for an element with no deadline: ok, closed (and drained) or stopped.
  [[nodiscard]] queue_status pop(T& out, std::stop_token st) noexcept requires std::is_nothrow_move_assignable_v<T> {
    return blocking_pop(out, nullptr, st);
  }

  // Later pushes fail; pops drain what remains (including pushes that had
  // claimed a cell before the close), then report closed. Idempotent.
  void close() noexcept {
    index_.push->fetch_or(closed_bit, std::memory_order_seq_cst);  // (8) seq_cst: ordered against (6)/(7)
    for (waiters* w : {&*not_empty_, &*not_full_}) {
      w->event.fetch_add(1, std::memory_order_release);  // (5) release: pairs with the acquire in (9)
      detail::futex_wake(w->event, true);
    }
  }

  // ---- observers ----------------------------------------------------------

  [[nodiscard]] bool is_closed() const noexcept {
    return (index_.push->load(std::memory_order_acquire) & closed_bit) != 0;  // acquire: pairs with (8)
  }
  [[nodiscard]] size_type capacity() const noexcept { return mask_ + 1; }

  // Racy estimate in [0, capacity]: two relaxed loads, no snapshot.
  [[nodiscard]] size_type size_approx() const noexcept {
    const std::uint64_t tail = index_.push->load(std::memory_order_relaxed) & ~closed_bit;
    const std::uint64_t head = index_.pop->load(std::memory_order_relaxed);
    if (tail <= head) return 0;
    return tail - head > capacity() ? capacity() : static_cast<size_type>(tail - head);
  }

  // Wait-free: four relaxed loads of words the operations already write (no
  // new shared write on any path). Callable from any thread at any time.
  [[nodiscard]] bounded_queue_stats stats() const noexcept {
    bounded_queue_stats s;
    s.capacity = capacity();
    const std::uint64_t tail = index_.push->load(std::memory_order_relaxed);
    s.closed = (tail & closed_bit) != 0;
    s.pushes = tail & ~closed_bit;
    s.pops = index_.pop->load(std::memory_order_relaxed);
    s.size = s.pushes <= s.pops ? 0 : std::min<std::uint64_t>(s.pushes - s.pops, s.capacity);
    s.sleeping_consumers = not_empty_->sleepers.load(std::memory_order_relaxed);
    s.sleeping_producers = not_full_->sleepers.load(std::memory_order_relaxed);
    return s;
  }

  // Positions claimed so far by pushes (= pushes that succeeded or are
  // publishing) and by pops. Monotonic; the write buffer's flush() uses them.
  [[nodiscard]] std::uint64_t push_count() const noexcept {
    return index_.push->load(std::memory_order_acquire) & ~closed_bit;  // acquire: pairs with (6)
  }
  [[nodiscard]] std::uint64_t pop_count() const noexcept {
    return index_.pop->load(std::memory_order_acquire);  // acquire: pairs with (7)
  }

 private:
  static constexpr std::uint64_t closed_bit = std::uint64_t{1} << 63;
  // detail::backoff's pause rounds (1+2+…+32 pauses), then 4 yields, then sleep.
  static constexpr unsigned spin_attempts = detail::backoff::pause_rounds + 4;

  // Packed, not padded to a cache line (see "Layout" in the header comment).
  struct cell {
    std::atomic<std::uint64_t> seq{0};
    alignas(T) unsigned char storage[sizeof(T)];
  };

  struct waiters {
    std::atomic<std::uint32_t> event{0};    // bumped (then notified) to end waits
    std::atomic<std::uint32_t> sleepers{0};  // threads registered to sleep on `event`
  };

  using position = detail::padded<std::atomic<std::uint64_t>, detail::prefetch_pair_bytes>;
  // Producers hammer `push`, consumers `pop`: two cache-line pairs apart, so
  // neither the line nor its adjacent-line prefetch partner is shared.
  struct indices {
    position push;  // bit 63: closed
    position pop;
  };
  static_assert(offsetof(indices, pop) - offsetof(indices, push) >= detail::prefetch_pair_bytes,
                "head and tail must not share a cache line (or its prefetch pair)");
  static_assert(sizeof(position) == detail::prefetch_pair_bytes && alignof(position) == detail::prefetch_pair_bytes);

  static size_type check_capacity(size_type n) {
    if (n < 2 || (n & (n - 1)) != 0) detail::throw_bad_option("bounded_queue", "capacity", "must be a power of two >= 2");
    return detail::checked_array_count(n, 1, sizeof(cell), "bounded_queue", "capacity");
  }

  static T* element(cell& c) noexcept { return std::launder(reinterpret_cast<T*>(c.storage)); }

  void release_cell(cell& c, T* e, std::uint64_t pos) noexcept {
    e->~T();
    c.seq.store(pos + capacity(), std::memory_order_release);  // (4) release: pairs with the acquire in (1)
  }

  // Before sleeping: a few growing runs of pause instructions (the other side
  // is usually mid-operation on another core), then a few yields (with more
  // threads than cores the thread we wait for may need our core). Sleeping
  // makes the other side pay a futex wake, so it is the last resort.
  static void spin(detail::backoff& wait) noexcept {
    Contention::spin();
    wait();  // the one spin/yield scheme (detail/backoff.hpp)
  }

  // Claims one push position; nullptr when full or closed.
  cell* claim_push(std::uint64_t& pos) noexcept {
    pos = index_.push->load(std::memory_order_relaxed);
    for (;;) {
      if (pos & closed_bit) return nullptr;
      cell& c = cells_[pos & mask_];
      const std::uint64_t seq = c.seq.load(std::memory_order_acquire);  // (1) acquire: pairs with the release in (4)
      const auto dif = static_cast<std::int64_t>(seq - pos);
      if (dif == 0) {
        // (6) seq_cst: the claim that sleeping producers/consumers order against (see header)
        if (index_.push->compare_exchange_weak(pos, pos + 1, std::memory_order_seq_cst,
                                               std::memory_order_relaxed))
          return &c;
        Contention::cas_failure();
      } else if (dif < 0) {
        return nullptr;  // the cell still holds last lap's element: full
      } else {
        pos = index_.push->load(std::memory_order_relaxed);
      }
    }
  }

  // Claims up to n consecutive free push positions with one CAS; returns the count.
  size_type claim_push_run(std::uint64_t& pos, size_type n) noexcept {
    pos = index_.push->load(std::memory_order_relaxed);
    for (;;) {
      if (pos & closed_bit) return 0;
      size_type k = 0;
      std::int64_t dif = 0;
      for (; k < n && k <= mask_; ++k) {
        const std::uint64_t seq =
            cells_[(pos + k) & mask_].seq.load(std::memory_order_acquire);  // (1) acquire: pairs with (4)
        dif = static_cast<std::int64_t>(seq - (pos + k));
        if (dif != 0) break;
      }
      if (k == 0 && dif < 0) return 0;
      if (k == 0) {
        pos = index_.push->load(std::memory_order_relaxed);
        continue;
      }
      // (6) seq_cst: as in claim_push
      if (index_.push->compare_exchange_weak(pos, pos + k, std::memory_order_seq_cst, std::memory_order_relaxed))
        return k;
      Contention::cas_failure();
    }
  }

  cell* claim_pop(std::uint64_t& pos) noexcept {
    pos = index_.pop->load(std::memory_order_relaxed);
    for (;;) {
      cell& c = cells_[pos & mask_];
      const std::uint64_t seq = c.seq.load(std::memory_order_acquire);  // (3) acquire: pairs with the release in (2)
      const auto dif = static_cast<std::int64_t>(seq - (pos + 1));
      if (dif == 0) {
        // (7) seq_cst: the claim that sleeping producers order against (see header)
        if (index_.pop->compare_exchange_weak(pos, pos + 1, std::memory_order_seq_cst,
                                              std::memory_order_relaxed))
          return &c;
        Contention::cas_failure();
      } else if (dif < 0) {
        return nullptr;  // not published yet: empty (or a producer mid-push)
      } else {
        pos = index_.pop->load(std::memory_order_relaxed);
      }
    }
  }

  size_type claim_pop_run(std::uint64_t& pos, size_type n) noexcept {
    pos = index_.pop->load(std::memory_order_relaxed);
    for (;;) {
      size_type k = 0;
      std::int64_t dif = 0;
      for (; k < n && k <= mask_; ++k) {
        const std::uint64_t seq =
            cells_[(pos + k) & mask_].seq.load(std::memory_order_acquire);  // (3) acquire: pairs with (2)
        dif = static_cast<std::int64_t>(seq - (pos + k + 1));
        if (dif != 0) break;
      }
      if (k == 0 && dif < 0) return 0;
      if (k == 0) {
        pos = index_.pop->load(std::memory_order_relaxed);
        continue;
      }
      // (7) seq_cst: as in claim_pop
      if (index_.pop->compare_exchange_weak(pos, pos + k, std::memory_order_seq_cst, std::memory_order_relaxed))
        return k;
      Contention::cas_failure();
    }
  }

  // After a push (w = not_empty) or a pop (w = not_full): wake sleepers, if any.
  static void wake(waiters& w, bool all) noexcept {
    detail::schedule_point<Contention>();  // published, sleepers not yet read
    // seq_cst load: after our seq_cst claim (6)/(7) in the total order; see header
    if (w.sleepers.load(std::memory_order_seq_cst) == 0) return;
    w.event.fetch_add(1, std::memory_order_release);  // (5) release: pairs with the acquire in (9)
    detail::futex_wake(w.event, all);
  }

  // Wakes every sleeper of one waiters block when a caller's stop is
  // requested. Runs in the thread calling request_stop(), after the stop state
  // is set: its release bump (5') pairs with the acquire read of `event` (9)
  // in sleep_while_*, so a sleeper that reads the bumped value also sees
  // stop_requested() and does not sleep; one that read the old value is woken
  // by the futex (the value differs, or the wake finds it queued).
  struct stop_waker {
    waiters* w;
    void operator()() const noexcept {
      w->event.fetch_add(1, std::memory_order_release);  // (5') release: pairs with the acquire in (9)
      detail::futex_wake(w->event, true);
    }
  };

  template <class Rep, class Period>
  static clock::time_point deadline_after(std::chrono::duration<Rep, Period> timeout) noexcept {
    const auto now = clock::now();
    if (timeout <= timeout.zero()) return now;
    // Saturate: a timeout past the clock's range means "no deadline in practice".
    using ld = std::chrono::duration<long double>;
    if (std::chrono::duration_cast<ld>(timeout) >= std::chrono::duration_cast<ld>(clock::time_point::max() - now))
      return clock::time_point::max();
    return now + std::chrono::ceil<clock::duration>(timeout);
  }

  // The loop of the timed/stoppable operations: try, spin, then sleep (with
  // the deadline) until the try succeeds, the queue is closed (push) or closed
  // and drained (pop), stop is requested, or the deadline passes.
  template <bool ForPush, class Attempt>
  queue_status blocking_loop(Attempt&& attempt, const clock::time_point* deadline, const std::stop_token& st) noexcept {
    waiters& w = ForPush ? *not_full_ : *not_empty_;
    std::optional<std::stop_callback<stop_waker>> on_stop;
    if (st.stop_possible()) on_stop.emplace(st, stop_waker{&w});
    for (detail::backoff wait;;) {
      if (attempt()) return queue_status::ok;
      if (ForPush ? is_closed() : closed_and_drained()) return queue_status::closed;
      if (st.stop_requested()) return queue_status::stopped;
      if (deadline != nullptr && clock::now() >= *deadline) return queue_status::timed_out;
      if (wait.rounds() < spin_attempts) {
        spin(wait);
        continue;
      }
      const bool go_on = ForPush ? sleep_while_full(deadline, &st) : sleep_while_empty(deadline, &st);
      if (!go_on) return queue_status::closed;
    }
  }

  // seq_cst loads, as in sleep_while_empty: a pop must not report closed while
  // an element claimed before the close is still being published.
  bool closed_and_drained() const noexcept {
    const std::uint64_t tail = index_.push->load(std::memory_order_seq_cst);
    if ((tail & closed_bit) == 0) return false;
    return (tail & ~closed_bit) <= index_.pop->load(std::memory_order_seq_cst);
  }

  queue_status blocking_push(T& v, const clock::time_point* deadline, const std::stop_token& st) noexcept {
    return blocking_loop<true>([&] { return try_push_weak(std::move(v)); }, deadline, st);
  }
  queue_status blocking_pop(T& out, const clock::time_point* deadline, const std::stop_token& st) noexcept {
    return blocking_loop<false>([&] { return try_pop_weak(out); }, deadline, st);
  }

  // Sleeps unless the ring has moved since the caller's failed attempt; false
  // when the caller must give up (closed, and for pops: drained).
  bool sleep_while_empty(const clock::time_point* deadline = nullptr,
                         const std::stop_token* st = nullptr) noexcept {
    waiters& w = *not_empty_;
    const std::uint32_t ev = w.event.load(std::memory_order_acquire);  // (9) acquire: pairs with (5)
    detail::schedule_point<Contention>();
    w.sleepers.fetch_add(1, std::memory_order_seq_cst);                   // registration, ordered against (6)/(8)
    detail::schedule_point<Contention>();  // registered, not yet re-checked
    const std::uint64_t tail = index_.push->load(std::memory_order_seq_cst);
    const std::uint64_t head = index_.pop->load(std::memory_order_seq_cst);
    bool go_on = true;
    if ((tail & ~closed_bit) > head) {
      std::this_thread::yield();  // a claimed element is being published (or was just taken)
    } else if (tail & closed_bit) {
      go_on = false;
    } else if (st != nullptr && st->stop_requested()) {
      // after reading `event` (9): see stop_waker. The caller returns stopped.
    } else {
      Contention::wait();
      detail::futex_wait(w.event, ev, deadline);
      (void)w.event.load(std::memory_order_acquire);  // (9) acquire: pairs with (5)/(5')
    }
    w.sleepers.fetch_sub(1, std::memory_order_relaxed);  // only makes later wakes cheaper; no ordering needed
    return go_on;
  }

  bool sleep_while_full(const clock::time_point* deadline = nullptr,
                         const std::stop_token* st = nullptr) noexcept {
    waiters& w = *not_full_;
    const std::uint32_t ev = w.event.load(std::memory_order_acquire);  // (9) acquire: pairs with (5)
    detail::schedule_point<Contention>();
    w.sleepers.fetch_add(1, std::memory_order_seq_cst);                   // registration, ordered against (7)/(8)
    detail::schedule_point<Contention>();  // registered, not yet re-checked
    const std::uint64_t tail = index_.push->load(std::memory_order_seq_cst);
    const std::uint64_t head = index_.pop->load(std::memory_order_seq_cst);
    bool go_on = true;
    if (tail & closed_bit) {
      go_on = false;
    } else if (tail - head < capacity()) {
      std::this_thread::yield();  // a pop has claimed the cell we need and is releasing it
    } else if (st != nullptr && st->stop_requested()) {
      // after reading `event` (9): see stop_waker. The caller returns stopped.
    } else {
      Contention::wait();
      detail::futex_wait(w.event, ev, deadline);
      (void)w.event.load(std::memory_order_acquire);  // (9) acquire: pairs with (5)/(5')
    }
    w.sleepers.fetch_sub(1, std::memory_order_relaxed);
    return go_on;
  }

  // Read-only after construction: shared by every core without bouncing.
  const std::uint64_t mask_;
  const std::unique_ptr<cell[]> cells_;
  indices index_;
  detail::padded<waiters, detail::prefetch_pair_bytes> not_empty_;
  detail::padded<waiters, detail::prefetch_pair_bytes> not_full_;
};

}  // namespace hotshard
