// harness/contenders/queues_peers.hpp — the queue peers Debian ships besides
// oneTBB, moodycamel and Boost.Lockfree (issue 14), behind the adapter shape of
// contenders/queues.hpp; queues.hpp includes this header and registers them.
//
// Each is used as its own documentation recommends for speed:
//  - xenium::vyukov_bounded_queue: true capacity (a power of two). try_push /
//    try_pop are the "strong" operations (not lock-free: a pop spins while the
//    push that claimed its slot is still writing); _weak ones are lock-free but
//    may report empty/full while an earlier claim is unfinished. Both offered.
//  - xenium::ramalhete_queue (FAAArrayQueue, 512 entries per node) and
//    michael_scott_queue, both with xenium's epoch_based reclaimer: lock-free,
//    UNBOUNDED (push never fails; `capacity` is only what max_depth is set
//    against). ramalhete stores pointers or values smaller than one, so a
//    64-bit item travels as the pointer bits v + 1 (never dereferenced; nonzero,
//    top bit clear — its mark bit): values up to 2^63 − 2.
//  - atomic_queue::AtomicQueueB2 (any T, a state byte per slot) and
//    AtomicQueueB (atomic T, a NIL value marks an empty slot: here ~T{}, never
//    an item). Its defaults (MAXIMIZE_THROUGHPUT, not TOTAL_ORDER, not SPSC).
//    Capacity is rounded up to a power of two and to at least 4096, whatever
//    was asked; try_push/try_pop claim a slot by CAS and then BUSY-WAIT
//    (spin_loop_pause) until that slot's previous occupant is gone: a preempted
//    thread holding a slot stalls the one that claimed after it.
//  - cds::container::VyukovMPMCCycleQueue (true capacity, a power of two,
//    libcds' default back-off) and FCQueue (flat combining over std::queue:
//    unbounded, one combiner at a time, waiters spin with back-off). libcds
//    wants cds::Initialize(), a garbage collector object and every thread
//    attached: one process-wide runtime (cds_runtime) and a thread_local
//    attachment made by the first handle a thread creates.
//  - ck_ring MPMC (Concurrency Kit): a ring of void* slots (a 64-bit item is
//    stored as the pointer bits); usable capacity is size − 1, so the ring is
//    the next power of two above `capacity`. Called through ck_ring_shim.hpp
//    (ck_ring.h does not compile as C++): one out-of-line call per operation.
//    OPEN (untriaged): in 3 of 9 release runs of 8P8C and 16P1C with bulk=32
//    on a loaded 2-core machine a ck_ring run did not finish within 30 s;
//    single-item runs of every shape finished. Dequeue is lock-free; enqueue
//    claims by CAS, writes, then spins until earlier producers have committed.
//  - moodycamel::ReaderWriterQueue: single producer, single consumer,
//    wait-free try_enqueue (no allocation: holds at least `capacity`) and
//    try_dequeue. Meaningful in 1P1C rows only; so that a suite's other shapes
//    still run, more than one producer (consumer) take turns behind a
//    std::mutex per side — those rows measure the mutex, not the queue.
// `unbounded = true` marks the three whose push never fails.
// None of these has a bulk API or a blocking pop the harness can wake on
// close(): bulk loops over single items (has_bulk = false), push/pop are
// try + yield loops (has_blocking = false).
#pragma once

#include <atomic_queue/atomic_queue.h>
#include <cds/container/fcqueue.h>
#include <cds/container/vyukov_mpmc_cycle_queue.h>
#include <cds/gc/dhp.h>
#include <cds/init.h>
#include <cds/version.h>
#include <readerwriterqueue/readerwriterqueue.h>
#include <xenium/michael_scott_queue.hpp>
#include <xenium/policy.hpp>
#include <xenium/ramalhete_queue.hpp>
#include <xenium/reclamation/generic_epoch_based.hpp>
#include <xenium/vyukov_bounded_queue.hpp>

#include "contenders/ck_ring_shim.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <type_traits>

// The Debian versions, baked in at configure time (harness/CMakeLists.txt).
#ifndef HOTSHARD_PEER_VERSION_XENIUM
#define HOTSHARD_PEER_VERSION_XENIUM "unknown"
#endif
#ifndef HOTSHARD_PEER_VERSION_ATOMIC_QUEUE
#define HOTSHARD_PEER_VERSION_ATOMIC_QUEUE "unknown"
#endif
#ifndef HOTSHARD_PEER_VERSION_CK
#define HOTSHARD_PEER_VERSION_CK "unknown"
#endif
#ifndef HOTSHARD_PEER_VERSION_READERWRITERQUEUE
#define HOTSHARD_PEER_VERSION_READERWRITERQUEUE "unknown"
#endif

namespace hotshard::contenders {

// The shape of contenders/queues.hpp for a peer with single-item try operations
// only. Derived provides push_one(T&) (moves v only on success), pop_one(T&),
// size_approx(), capacity(), has_size, and optionally attach_thread() (called
// by every handle's constructor on its thread).
template <class Derived, class T>
class try_only_queue {
 public:
  using value_type = T;
  static constexpr bool has_bulk = false, has_blocking = false;

  struct producer {
    explicit producer(Derived& q) : q_(q) { attach(); }
    bool try_push(T&& v) { return q_.push_one(v); }
    std::size_t try_push_bulk(T* first, std::size_t n) {
      std::size_t k = 0;
      while (k < n && q_.push_one(first[k])) ++k;
      return k;
    }
    bool push(T&& v) {
      while (!q_.push_one(v)) std::this_thread::yield();
      return true;
    }
    Derived& q_;
  };
  struct consumer {
    explicit consumer(Derived& q) : q_(q) { attach(); }
    bool try_pop(T& out) { return q_.pop_one(out); }
    std::size_t try_pop_bulk(T* out, std::size_t n) {
      std::size_t k = 0;
      while (k < n && q_.pop_one(out[k])) ++k;
      return k;
    }
    bool pop(T& out) {
      for (;;) {
        if (q_.pop_one(out)) return true;
        if (q_.closed_.load(std::memory_order_acquire)) return q_.pop_one(out);  // acquire: pairs with close()
        std::this_thread::yield();
      }
    }
    Derived& q_;
  };
  void close() { closed_.store(true, std::memory_order_release); }  // release: pairs with consumer::pop()

 private:
  static void attach() {
    if constexpr (requires { Derived::attach_thread(); }) Derived::attach_thread();
  }
  std::atomic<bool> closed_{false};
};

// 64-bit items as pointer bits for the peers that store void* (ck_ring) or pointers (ramalhete).
template <class T>
inline constexpr bool word_sized_v = std::is_trivially_copyable_v<T> && sizeof(T) <= sizeof(void*);

// --- xenium --------------------------------------------------------------------------

template <class T, bool Weak>
class xenium_vyukov_queue : public try_only_queue<xenium_vyukov_queue<T, Weak>, T> {
 public:
  static constexpr bool has_size = false;
  xenium_vyukov_queue(std::size_t capacity, unsigned, unsigned)
      : capacity_(std::bit_ceil(std::max<std::size_t>(capacity, 2))), q_(capacity_) {}
  bool push_one(T& v) {
    if constexpr (Weak) return q_.try_push_weak(std::move(v));
    return q_.try_push_strong(std::move(v));
  }
  bool pop_one(T& out) {
    if constexpr (Weak) return q_.try_pop_weak(out);
    return q_.try_pop_strong(out);
  }
  [[nodiscard]] std::size_t size_approx() const { return 0; }  // not offered
  [[nodiscard]] std::size_t capacity() const { return capacity_; }

 private:
  std::size_t capacity_;
  xenium::vyukov_bounded_queue<T> q_;
};

using xenium_reclaimer = xenium::reclamation::epoch_based<>;

template <class T>
class xenium_ramalhete_queue : public try_only_queue<xenium_ramalhete_queue<T>, T> {
  static_assert(word_sized_v<T> && std::is_unsigned_v<T>, "ramalhete_queue takes values that fit pointer bits");
  struct opaque;  // never defined: the "pointers" are encoded values, never dereferenced
  using queue_type = xenium::ramalhete_queue<opaque*, xenium::policy::reclaimer<xenium_reclaimer>>;

 public:
  static constexpr bool has_size = false, unbounded = true;  // push never fails
  static constexpr T max_value = static_cast<T>((std::uint64_t{1} << 63) - 2);
  xenium_ramalhete_queue(std::size_t capacity, unsigned, unsigned) : capacity_(capacity) {}
  bool push_one(T& v) {
    if (v > max_value) throw std::invalid_argument("xenium_ramalhete: value above 2^63 - 2 (its mark bit)");
    q_.push(reinterpret_cast<opaque*>(static_cast<std::uintptr_t>(v) + 1));  // unbounded: never fails
    return true;
  }
  bool pop_one(T& out) {
    opaque* p = nullptr;
    if (!q_.try_pop(p)) return false;
    out = static_cast<T>(reinterpret_cast<std::uintptr_t>(p) - 1);
    return true;
  }
  [[nodiscard]] std::size_t size_approx() const { return 0; }
  [[nodiscard]] std::size_t capacity() const { return capacity_; }  // not enforced: unbounded

 private:
  std::size_t capacity_;
  queue_type q_;
};

template <class T>
class xenium_michael_scott_queue : public try_only_queue<xenium_michael_scott_queue<T>, T> {
 public:
  static constexpr bool has_size = false, unbounded = true;  // push never fails
  xenium_michael_scott_queue(std::size_t capacity, unsigned, unsigned) : capacity_(capacity) {}
  bool push_one(T& v) {
    q_.push(std::move(v));  // unbounded: never fails
    return true;
  }
  bool pop_one(T& out) { return q_.try_pop(out); }
  [[nodiscard]] std::size_t size_approx() const { return 0; }
  [[nodiscard]] std::size_t capacity() const { return capacity_; }  // not enforced: unbounded

 private:
  std::size_t capacity_;
  xenium::michael_scott_queue<T, xenium::policy::reclaimer<xenium_reclaimer>> q_;
};

// --- atomic_queue -----------------------------------------------------------------------

template <class T>
class atomic_queue_b2 : public try_only_queue<atomic_queue_b2<T>, T> {
 public:
  static constexpr bool has_size = true;
  atomic_queue_b2(std::size_t capacity, unsigned, unsigned) : q_(static_cast<unsigned>(capacity)) {}
  bool push_one(T& v) { return q_.try_push(std::move(v)); }
  bool pop_one(T& out) { return q_.try_pop(out); }
  [[nodiscard]] std::size_t size_approx() const { return q_.was_size(); }
  [[nodiscard]] std::size_t capacity() const { return q_.capacity(); }  // >= 4096

 private:
  atomic_queue::AtomicQueueB2<T> q_;
};

template <class T>
class atomic_queue_b : public try_only_queue<atomic_queue_b<T>, T> {
 public:
  static constexpr bool has_size = true;
  static constexpr T nil = static_cast<T>(~T{});  // marks an empty slot; never an item of the harness
  atomic_queue_b(std::size_t capacity, unsigned, unsigned) : q_(static_cast<unsigned>(capacity)) {}
  bool push_one(T& v) {
    if (v == nil) throw std::invalid_argument("atomic_queue_b: the value ~0 is its empty marker (NIL)");
    return q_.try_push(std::move(v));
  }
  bool pop_one(T& out) { return q_.try_pop(out); }
  [[nodiscard]] std::size_t size_approx() const { return q_.was_size(); }
  [[nodiscard]] std::size_t capacity() const { return q_.capacity(); }  // >= 4096

 private:
  atomic_queue::AtomicQueueB<T, std::allocator<T>, nil> q_;
};

// --- libcds --------------------------------------------------------------------------------

// cds::Initialize() and one DHP collector for the process (DHP: no fixed
// thread limit); each thread attaches once, on its first handle, and detaches
// when it exits. Neither queue below retires memory through the collector, but
// libcds requires the attachment of every thread that uses the library.
struct cds_runtime {
  cds_runtime() {
    cds::Initialize();
    gc.emplace();
  }
  ~cds_runtime() {
    gc.reset();
    cds::Terminate();
  }
  cds_runtime(const cds_runtime&) = delete;
  cds_runtime& operator=(const cds_runtime&) = delete;
  std::optional<cds::gc::DHP> gc;

  static cds_runtime& get() {
    static cds_runtime r;
    return r;
  }
  static void attach_this_thread() {
    (void)get();
    struct attachment {
      attachment() {
        if (!cds::threading::Manager::isThreadAttached()) cds::threading::Manager::attachThread();
      }
      ~attachment() { cds::threading::Manager::detachThread(); }
    };
    thread_local attachment a;
  }
};

template <class T>
class cds_vyukov_queue : public try_only_queue<cds_vyukov_queue<T>, T> {
 public:
  static constexpr bool has_size = false;
  static void attach_thread() { cds_runtime::attach_this_thread(); }
  cds_vyukov_queue(std::size_t capacity, unsigned, unsigned)
      : q_((cds_runtime::get(), std::bit_ceil(std::max<std::size_t>(capacity, 2)))) {}
  bool push_one(T& v) { return q_.enqueue(std::move(v)); }
  bool pop_one(T& out) { return q_.dequeue(out); }
  [[nodiscard]] std::size_t size_approx() const { return 0; }  // its size() needs an item_counter
  [[nodiscard]] std::size_t capacity() const { return q_.capacity(); }

 private:
  cds::container::VyukovMPMCCycleQueue<T> q_;
};

template <class T>
class cds_fc_queue : public try_only_queue<cds_fc_queue<T>, T> {
 public:
  static constexpr bool has_size = false, unbounded = true;  // push never fails
  static void attach_thread() { cds_runtime::attach_this_thread(); }
  cds_fc_queue(std::size_t capacity, unsigned, unsigned) : capacity_((cds_runtime::get(), capacity)) {}
  bool push_one(T& v) { return q_.enqueue(std::move(v)); }  // unbounded: never fails
  bool pop_one(T& out) { return q_.dequeue(out); }
  [[nodiscard]] std::size_t size_approx() const { return 0; }  // its size() is not thread-safe
  [[nodiscard]] std::size_t capacity() const { return capacity_; }  // not enforced: unbounded

 private:
  std::size_t capacity_;
  cds::container::FCQueue<T> q_;
};

// --- Concurrency Kit -------------------------------------------------------------------------

template <class T>
class ck_ring_queue : public try_only_queue<ck_ring_queue<T>, T> {
  static_assert(word_sized_v<T>, "ck_ring stores void* slots");

 public:
  static constexpr bool has_size = true;
  // One slot stays empty: a ring of 2^k holds 2^k − 1, so 2^k > capacity.
  ck_ring_queue(std::size_t capacity, unsigned, unsigned)
      : size_(std::bit_ceil(std::max<std::size_t>(capacity, 3) + 1)),
        ring_(hotshard_ck_ring_create(static_cast<unsigned>(size_))) {
    if (!ring_) throw std::bad_alloc();
  }
  bool push_one(T& v) {
    void* p = nullptr;
    std::memcpy(&p, &v, sizeof(T));
    return hotshard_ck_ring_enqueue_mpmc(ring_.get(), p);
  }
  bool pop_one(T& out) {
    void* p = nullptr;
    if (!hotshard_ck_ring_dequeue_mpmc(ring_.get(), &p)) return false;
    std::memcpy(&out, &p, sizeof(T));
    return true;
  }
  [[nodiscard]] std::size_t size_approx() const { return hotshard_ck_ring_size(ring_.get()); }
  [[nodiscard]] std::size_t capacity() const { return size_ - 1; }

 private:
  struct destroy {
    void operator()(hotshard_ck_ring* r) const noexcept { hotshard_ck_ring_destroy(r); }
  };
  std::size_t size_;
  std::unique_ptr<hotshard_ck_ring, destroy> ring_;
};

// --- moodycamel::ReaderWriterQueue (SPSC) ------------------------------------------------------

template <class T>
class reader_writer_queue : public try_only_queue<reader_writer_queue<T>, T> {
 public:
  static constexpr bool has_size = true, spsc = true;  // bench-queues runs it in 1P1C only
  reader_writer_queue(std::size_t capacity, unsigned producers, unsigned consumers)
      : q_(capacity), capacity_(capacity), shared_push_(producers > 1), shared_pop_(consumers > 1) {}
  bool push_one(T& v) {
    if (!shared_push_) return q_.try_enqueue(std::move(v));
    std::scoped_lock lock(push_m_);
    return q_.try_enqueue(std::move(v));
  }
  bool pop_one(T& out) {
    if (!shared_pop_) return q_.try_dequeue(out);
    std::scoped_lock lock(pop_m_);
    return q_.try_dequeue(out);
  }
  [[nodiscard]] std::size_t size_approx() const { return q_.size_approx(); }
  [[nodiscard]] std::size_t capacity() const { return capacity_; }  // a minimum (its blocks may hold more)

 private:
  moodycamel::ReaderWriterQueue<T> q_;
  std::size_t capacity_;
  bool shared_push_, shared_pop_;
  std::mutex push_m_, pop_m_;
};

// For the registry line: the peer's library and version.
#define HOTSHARD_XENIUM "xenium " HOTSHARD_PEER_VERSION_XENIUM
#define HOTSHARD_ATOMIC_QUEUE "atomic_queue " HOTSHARD_PEER_VERSION_ATOMIC_QUEUE
#define HOTSHARD_LIBCDS "libcds " CDS_VERSION_STRING
#define HOTSHARD_CK "Concurrency Kit " HOTSHARD_PEER_VERSION_CK
#define HOTSHARD_RWQ "readerwriterqueue " HOTSHARD_PEER_VERSION_READERWRITERQUEUE

}  // namespace hotshard::contenders
