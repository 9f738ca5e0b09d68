// harness/contenders/queues.hpp — every bounded queue the queues family
// compares, behind one shape, and the queue registry (the family's write
// buffers and their registry: contenders/write_buffers.hpp, included here).
//
// Queue adapters are templates over the element type and are built from
// (capacity, producers, consumers). Each thread works through a handle it
// creates for itself, so moodycamel gets its producer/consumer tokens and the
// others a plain reference:
//   typename Q::producer p(q);  p.try_push(T&&) -> bool;  p.try_push_bulk(T*, n) -> size_t;  p.push(T&&) -> bool
//   typename Q::consumer c(q);  c.try_pop(T&) -> bool;    c.try_pop_bulk(T*, n) -> size_t;   c.pop(T&) -> bool
//   q.close();  q.size_approx();  Q::has_bulk;  Q::has_blocking;  Q::has_size
// `queue_contender` below is that shape; the registry checks every adapter
// against it, so one that misses an operation fails to compile naming it.
// try_* never wait. push/pop are each contender's blocking operations where it
// has them (ours: atomic wait; tbb: its own waits; moodycamel_blocking: a
// semaphore for pop; mutex_deque: condition variables) and a try + yield loop
// where it has none; pop returns false once the queue is closed and empty.
// Bulk: ours, moodycamel(s) and mutex_deque have a bulk API; tbb and
// boost::lockfree do not and fall back to single items, so a bulk ratio never
// compares a bulk path with a single-item path unknowingly (Q::has_bulk says which).
//
// Capacity: ours and tbb and mutex_deque hold at most `capacity` elements;
// moodycamel treats it as a minimum (its block pool may hold more; and since a
// producer token keeps the pool blocks it took, the adapter allocates when
// try_enqueue fails below `capacity` — otherwise a token can starve, see
// moodycamel_queue), and boost::lockfree's fixed-size node pool is capped at
// 65535 nodes. A bulk push may move fewer than n items (all contenders).
#pragma once

#include <hotshard/bounded_queue.hpp>
#include <hotshard/concepts/bounded_queue.hpp>
#include <hotshard/detail/contention_stats.hpp>

#include "contenders/queues_peers.hpp"
#include "contenders/write_buffers.hpp"  // the family's write buffers and their registry

#include <boost/lockfree/queue.hpp>
#include <concurrentqueue/blockingconcurrentqueue.h>
#include <concurrentqueue/concurrentqueue.h>
#include <tbb/concurrent_queue.h>
#include <tbb/version.h>
#include <boost/version.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#ifndef HOTSHARD_PEER_VERSION_CONCURRENTQUEUE
#define HOTSHARD_PEER_VERSION_CONCURRENTQUEUE "unknown"
#endif

namespace hotshard::contenders {

// The adapter shape of the header comment, checked for every registered queue.
template <class Q>
concept queue_contender =
    std::constructible_from<Q, std::size_t, unsigned, unsigned> &&
    requires(Q& q, const Q& cq, typename Q::value_type& v, typename Q::value_type* items, std::size_t n) {
      typename Q::value_type;
      requires std::constructible_from<typename Q::producer, Q&>;
      requires std::constructible_from<typename Q::consumer, Q&>;
      { std::declval<typename Q::producer&>().try_push(std::move(v)) } -> std::same_as<bool>;
      { std::declval<typename Q::producer&>().try_push_bulk(items, n) } -> std::same_as<std::size_t>;
      { std::declval<typename Q::producer&>().push(std::move(v)) } -> std::same_as<bool>;
      { std::declval<typename Q::consumer&>().try_pop(v) } -> std::same_as<bool>;
      { std::declval<typename Q::consumer&>().try_pop_bulk(items, n) } -> std::same_as<std::size_t>;
      { std::declval<typename Q::consumer&>().pop(v) } -> std::same_as<bool>;
      q.close();
      { cq.size_approx() } -> std::convertible_to<std::size_t>;
      { cq.capacity() } -> std::convertible_to<std::size_t>;
      { Q::has_bulk } -> std::convertible_to<bool>;
      { Q::has_blocking } -> std::convertible_to<bool>;
      { Q::has_size } -> std::convertible_to<bool>;
    };

// One registry entry: the adapter is checked here, where a new contender is added.
template <class Q, class F>
void offer_queue(F& f, const char* name, const char* description) {
  static_assert(queue_contender<Q>, "a queue contender must have the adapter shape of contenders/queues.hpp");
  f.template operator()<Q>(name, description);
}

// --- ours ----------------------------------------------------------------------

template <class T>
class ours_queue {
 public:
  using value_type = T;
  using queue_type = bounded_queue<T, policy::count_contention>;
  static constexpr bool has_bulk = true, has_blocking = true, has_size = true;

  ours_queue(std::size_t capacity, unsigned, unsigned)
      : q_(bounded_queue_options{.capacity = std::bit_ceil(std::max<std::size_t>(capacity, 2))}) {}

  struct producer {
    explicit producer(ours_queue& q) : q_(q.q_) {}
    bool try_push(T&& v) { return q_.try_push_weak(std::move(v)); }
    std::size_t try_push_bulk(T* first, std::size_t n) { return q_.try_push_bulk_weak(first, n); }
    bool push(T&& v) { return q_.push(std::move(v)); }
    queue_type& q_;
  };
  struct consumer {
    explicit consumer(ours_queue& q) : q_(q.q_) {}
    bool try_pop(T& out) { return q_.try_pop_weak(out); }
    std::size_t try_pop_bulk(T* out, std::size_t n) { return q_.try_pop_bulk_weak(out, n); }
    bool pop(T& out) { return q_.pop(out); }
    queue_type& q_;
  };
  void close() { q_.close(); }
  [[nodiscard]] std::size_t size_approx() const { return q_.size_approx(); }
  [[nodiscard]] std::size_t capacity() const { return q_.capacity(); }

 private:
  queue_type q_;
};
static_assert(concepts::closable_blocking_queue<bounded_queue<std::uint64_t, policy::count_contention>>);

// --- moodycamel ------------------------------------------------------------------

// A moodycamel bulk push of up to `capacity` items. try_enqueue_bulk first (all
// or nothing, no allocation); when it fails, as try_push below, push what fits
// below `capacity` by size_approx(), allocating. Never more than `capacity` per
// call: n items may never fit at once, and a try_enqueue_bulk that needs more
// blocks than the producer's block index has corrupts that index when it fails
// (moodycamel 1.0.3: lost and duplicated items, or its set_many_empty assertion,
// from n > 2048 at capacity 1024).
template <class Queue, class T>
std::size_t moodycamel_push_bulk(Queue& q, moodycamel::ProducerToken& tok, std::size_t capacity, T* first,
                                 std::size_t n) {
  n = std::min(n, capacity);
  if (q.try_enqueue_bulk(tok, std::make_move_iterator(first), n)) return n;
  const std::size_t size = q.size_approx();
  const std::size_t k = size < capacity ? std::min(n, capacity - size) : 0;
  return k != 0 && q.enqueue_bulk(tok, std::make_move_iterator(first), k) ? k : 0;
}

// The producer side of both moodycamel adapters, bounded as described below.
template <class T, class Queue>
struct moodycamel_producer {
  template <class Adapter>
  explicit moodycamel_producer(Adapter& a) : q_(a.queue()), tok_(a.queue()), capacity_(a.capacity()) {}
  bool try_push(T&& v) {
    if (q_.try_enqueue(tok_, std::move(v))) return true;  // fails without moving v
    // Another token may hold the whole pool (see moodycamel_queue): below the capacity, allocate.
    return q_.size_approx() < capacity_ && q_.enqueue(tok_, std::move(v));
  }
  std::size_t try_push_bulk(T* first, std::size_t n) { return moodycamel_push_bulk(q_, tok_, capacity_, first, n); }
  bool push(T&& v) {  // moodycamel has no bounded blocking enqueue
    while (!try_push(std::move(v))) std::this_thread::yield();
    return true;
  }
  Queue& q_;
  moodycamel::ProducerToken tok_;
  std::size_t capacity_;
};

// Bounded through try_enqueue (never allocates past the pre-allocated blocks),
// with one escape. An explicit producer keeps every pool block it ever took
// and only it reuses them once emptied; the pool, (capacity/32 - 1)·(P + 1) +
// 2P blocks of 32, is ~3x `capacity` for P = 2, and one producer can take all
// of it. Another producer's try_enqueue then fails forever, even on an empty
// queue: the `queue` scenario hung so (one producer yielding in try_push on an
// empty queue, the other parked at the runner's barrier, the consumer finding
// nothing). So when try_enqueue fails below `capacity`, push with enqueue,
// which allocates. The consumer needs no such escape: try_dequeue(token, ..)
// scans every producer's sub-queue when its current one is empty.
template <class T, class Queue = moodycamel::ConcurrentQueue<T>>
class moodycamel_queue {
 public:
  using value_type = T;
  static constexpr bool has_bulk = true, has_blocking = false, has_size = true;

  moodycamel_queue(std::size_t capacity, unsigned producers, unsigned)
      : q_(capacity, std::max(1u, producers), 0), capacity_(capacity) {}

  using producer = moodycamel_producer<T, Queue>;
  struct consumer {
    explicit consumer(moodycamel_queue& q) : q_(q.q_), closed_(q.closed_), tok_(q.q_) {}
    bool try_pop(T& out) { return q_.try_dequeue(tok_, out); }
    std::size_t try_pop_bulk(T* out, std::size_t n) { return q_.try_dequeue_bulk(tok_, out, n); }
    bool pop(T& out) {
      for (;;) {
        if (q_.try_dequeue(tok_, out)) return true;
        if (closed_.load(std::memory_order_acquire)) return q_.try_dequeue(tok_, out);  // acquire: pairs with close()
        std::this_thread::yield();
      }
    }
    Queue& q_;
    std::atomic<bool>& closed_;
    moodycamel::ConsumerToken tok_;
  };
  void close() { closed_.store(true, std::memory_order_release); }  // release: pairs with pop()
  [[nodiscard]] std::size_t size_approx() const { return q_.size_approx(); }
  [[nodiscard]] std::size_t capacity() const { return capacity_; }
  [[nodiscard]] Queue& queue() noexcept { return q_; }

 private:
  Queue q_;
  std::size_t capacity_;
  std::atomic<bool> closed_{false};
};

template <class T>
class moodycamel_blocking_queue {
 public:
  using value_type = T;
  using queue_type = moodycamel::BlockingConcurrentQueue<T>;
  static constexpr bool has_bulk = true, has_blocking = true, has_size = true;

  moodycamel_blocking_queue(std::size_t capacity, unsigned producers, unsigned)
      : q_(capacity, std::max(1u, producers), 0), capacity_(capacity) {}

  using producer = moodycamel_producer<T, queue_type>;
  struct consumer {
    explicit consumer(moodycamel_blocking_queue& q) : q_(q.q_), closed_(q.closed_), tok_(q.q_) {}
    bool try_pop(T& out) { return q_.try_dequeue(tok_, out); }
    std::size_t try_pop_bulk(T* out, std::size_t n) { return q_.try_dequeue_bulk(tok_, out, n); }
    bool pop(T& out) {  // its semaphore wait; a timeout only to notice close()
      for (;;) {
        if (q_.wait_dequeue_timed(tok_, out, std::int64_t{1000})) return true;
        if (closed_.load(std::memory_order_acquire)) return q_.try_dequeue(tok_, out);  // acquire: pairs with close()
      }
    }
    queue_type& q_;
    std::atomic<bool>& closed_;
    moodycamel::ConsumerToken tok_;
  };
  void close() { closed_.store(true, std::memory_order_release); }  // release: pairs with pop()
  [[nodiscard]] std::size_t size_approx() const { return q_.size_approx(); }
  [[nodiscard]] std::size_t capacity() const { return capacity_; }
  [[nodiscard]] queue_type& queue() noexcept { return q_; }

 private:
  queue_type q_;
  std::size_t capacity_;
  std::atomic<bool> closed_{false};
};

// --- oneTBB ------------------------------------------------------------------------

// close() aborts the threads blocked inside tbb's push/pop; a thread that enters
// one after the abort is not woken, so the harness calls close() until every
// consumer has returned.
template <class T>
class tbb_bounded_queue {
 public:
  using value_type = T;
  static constexpr bool has_bulk = false, has_blocking = true, has_size = true;

  tbb_bounded_queue(std::size_t capacity, unsigned, unsigned) { q_.set_capacity(static_cast<std::ptrdiff_t>(capacity)); }

  struct producer {
    explicit producer(tbb_bounded_queue& q) : q_(q) {}
    bool try_push(T&& v) { return q_.q_.try_push(std::move(v)); }
    std::size_t try_push_bulk(T* first, std::size_t n) {
      std::size_t k = 0;
      while (k < n && q_.q_.try_push(std::move(first[k]))) ++k;
      return k;
    }
    bool push(T&& v) {
      while (!q_.closed_.load(std::memory_order_acquire)) {  // acquire: pairs with close()
        try {
          q_.q_.push(std::move(v));
          return true;
        } catch (const tbb::user_abort&) {
        }
      }
      return false;
    }
    tbb_bounded_queue& q_;
  };
  struct consumer {
    explicit consumer(tbb_bounded_queue& q) : q_(q) {}
    bool try_pop(T& out) { return q_.q_.try_pop(out); }
    std::size_t try_pop_bulk(T* out, std::size_t n) {
      std::size_t k = 0;
      while (k < n && q_.q_.try_pop(out[k])) ++k;
      return k;
    }
    bool pop(T& out) {
      for (;;) {
        if (q_.q_.try_pop(out)) return true;
        if (q_.closed_.load(std::memory_order_acquire)) return q_.q_.try_pop(out);  // acquire: pairs with close()
        try {
          q_.q_.pop(out);
          return true;
        } catch (const tbb::user_abort&) {
        }
      }
    }
    tbb_bounded_queue& q_;
  };
  void close() {
    closed_.store(true, std::memory_order_release);  // release: pairs with push()/pop()
    q_.abort();
  }
  [[nodiscard]] std::size_t size_approx() const {
    const auto s = q_.size();
    return s > 0 ? static_cast<std::size_t>(s) : 0;
  }
  [[nodiscard]] std::size_t capacity() const { return static_cast<std::size_t>(q_.capacity()); }

 private:
  tbb::concurrent_bounded_queue<T> q_;
  std::atomic<bool> closed_{false};
};

// --- Boost.Lockfree ------------------------------------------------------------------

template <class T>
class boost_lockfree_queue {
 public:
  using value_type = T;
  static constexpr bool has_bulk = false, has_blocking = false, has_size = false;
  static constexpr std::size_t max_nodes = 65534;  // fixed_sized: 16-bit node indices
  using queue_type_alias = boost::lockfree::queue<T, boost::lockfree::fixed_sized<true>>;

  boost_lockfree_queue(std::size_t capacity, unsigned, unsigned)
      : q_(std::min(capacity, max_nodes)), capacity_(std::min(capacity, max_nodes)) {}

  struct producer {
    explicit producer(boost_lockfree_queue& q) : q_(q.q_) {}
    bool try_push(T&& v) { return q_.bounded_push(v); }
    std::size_t try_push_bulk(T* first, std::size_t n) {
      std::size_t k = 0;
      while (k < n && q_.bounded_push(first[k])) ++k;
      return k;
    }
    bool push(T&& v) {
      while (!q_.bounded_push(v)) std::this_thread::yield();
      return true;
    }
    queue_type_alias& q_;
  };
  struct consumer {
    explicit consumer(boost_lockfree_queue& q) : q_(q.q_), closed_(q.closed_) {}
    bool try_pop(T& out) { return q_.pop(out); }
    std::size_t try_pop_bulk(T* out, std::size_t n) {
      std::size_t k = 0;
      while (k < n && q_.pop(out[k])) ++k;
      return k;
    }
    bool pop(T& out) {
      for (;;) {
        if (q_.pop(out)) return true;
        if (closed_.load(std::memory_order_acquire)) return q_.pop(out);  // acquire: pairs with close()
        std::this_thread::yield();
      }
    }
    queue_type_alias& q_;
    std::atomic<bool>& closed_;
  };
  void close() { closed_.store(true, std::memory_order_release); }  // release: pairs with pop()
  [[nodiscard]] std::size_t size_approx() const { return 0; }      // not offered by boost::lockfree::queue
  [[nodiscard]] std::size_t capacity() const { return capacity_; }

 private:
  queue_type_alias q_;
  std::size_t capacity_ = 0;
  std::atomic<bool> closed_{false};
};

// --- baseline: mutex + deque + condition variables ------------------------------------

template <class T>
class mutex_deque_queue {
 public:
  using value_type = T;
  static constexpr bool has_bulk = true, has_blocking = true, has_size = true;

  mutex_deque_queue(std::size_t capacity, unsigned, unsigned) : capacity_(capacity) {}

  struct producer {
    explicit producer(mutex_deque_queue& q) : q_(q) {}
    bool try_push(T&& v) { return try_push_bulk(&v, 1) == 1; }
    std::size_t try_push_bulk(T* first, std::size_t n) {
      std::size_t k = 0;
      {
        std::scoped_lock lock(q_.m_);
        if (q_.closed_) return 0;
        k = std::min(n, q_.capacity_ - q_.d_.size());
        for (std::size_t i = 0; i < k; ++i) q_.d_.push_back(std::move(first[i]));
        q_.size_.store(q_.d_.size(), std::memory_order_relaxed);  // a gauge; the mutex orders the data
      }
      if (k) q_.not_empty_.notify_one();
      return k;
    }
    bool push(T&& v) {
      {
        std::unique_lock lock(q_.m_);
        q_.not_full_.wait(lock, [&] { return q_.closed_ || q_.d_.size() < q_.capacity_; });
        if (q_.closed_) return false;
        q_.d_.push_back(std::move(v));
        q_.size_.store(q_.d_.size(), std::memory_order_relaxed);
      }
      q_.not_empty_.notify_one();
      return true;
    }
    mutex_deque_queue& q_;
  };
  struct consumer {
    explicit consumer(mutex_deque_queue& q) : q_(q) {}
    bool try_pop(T& out) { return try_pop_bulk(&out, 1) == 1; }
    std::size_t try_pop_bulk(T* out, std::size_t n) {
      std::size_t k = 0;
      {
        std::scoped_lock lock(q_.m_);
        k = std::min(n, q_.d_.size());
        for (std::size_t i = 0; i < k; ++i) {
          out[i] = std::move(q_.d_.front());
          q_.d_.pop_front();
        }
        q_.size_.store(q_.d_.size(), std::memory_order_relaxed);
      }
      if (k) q_.not_full_.notify_one();
      return k;
    }
    bool pop(T& out) {
      {
        std::unique_lock lock(q_.m_);
        q_.not_empty_.wait(lock, [&] { return q_.closed_ || !q_.d_.empty(); });
        if (q_.d_.empty()) return false;
        out = std::move(q_.d_.front());
        q_.d_.pop_front();
        q_.size_.store(q_.d_.size(), std::memory_order_relaxed);
      }
      q_.not_full_.notify_one();
      return true;
    }
    mutex_deque_queue& q_;
  };
  void close() {
    {
      std::scoped_lock lock(m_);
      closed_ = true;
    }
    not_empty_.notify_all();
    not_full_.notify_all();
  }
  [[nodiscard]] std::size_t size_approx() const { return size_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::size_t capacity() const { return capacity_; }

 private:
  std::mutex m_;
  std::condition_variable not_empty_, not_full_;
  std::deque<T> d_;
  std::size_t capacity_;
  bool closed_ = false;
  std::atomic<std::size_t> size_{0};
};

// The queue registry, in display order (baselines and peers first, ours last).
template <class T, class F>
void for_each_queue(F&& f) {
  offer_queue<mutex_deque_queue<T>>(f, "mutex_deque", "std::deque under one std::mutex, two condition variables (baseline)");
  offer_queue<tbb_bounded_queue<T>>(f, "tbb_bounded", "oneTBB " TBB_VERSION_STRING " tbb::concurrent_bounded_queue with set_capacity: bounded, blocking");
  offer_queue<boost_lockfree_queue<T>>(f, "boost_lockfree", "Boost " BOOST_LIB_VERSION " boost::lockfree::queue, fixed_sized node pool (max 65534): bounded, lock-free");
  offer_queue<moodycamel_queue<T>>(f, "moodycamel", "concurrentqueue " HOTSHARD_PEER_VERSION_CONCURRENTQUEUE " moodycamel::ConcurrentQueue, producer/consumer tokens, try_enqueue (capacity is a minimum): lock-free");
  offer_queue<moodycamel_blocking_queue<T>>(f, "moodycamel_blocking", "concurrentqueue " HOTSHARD_PEER_VERSION_CONCURRENTQUEUE " moodycamel::BlockingConcurrentQueue, tokens, wait_dequeue for blocking pops: lock-free push, semaphore pop");
  // Issue 14's peers (contenders/queues_peers.hpp): library and version, then what each promises.
  offer_queue<xenium_vyukov_queue<T, false>>(f,
      "xenium_vyukov", HOTSHARD_XENIUM " vyukov_bounded_queue, try_push/try_pop (strong): bounded (true capacity), "
      "not lock-free (a pop spins on an unfinished push of its slot)");
  offer_queue<xenium_vyukov_queue<T, true>>(f,
      "xenium_vyukov_weak", HOTSHARD_XENIUM " vyukov_bounded_queue, try_push_weak/try_pop_weak: bounded, lock-free, "
      "may report full/empty while an earlier claim is unfinished");
  offer_queue<xenium_ramalhete_queue<T>>(f,
      "xenium_ramalhete", HOTSHARD_XENIUM " ramalhete_queue (FAAArrayQueue), epoch_based reclaimer: UNBOUNDED, "
      "lock-free, push never fails");
  offer_queue<xenium_michael_scott_queue<T>>(f,
      "xenium_michael_scott", HOTSHARD_XENIUM " michael_scott_queue, epoch_based reclaimer: UNBOUNDED, lock-free, "
      "a node per item");
  offer_queue<atomic_queue_b2<T>>(f,
      "atomic_queue_b2", HOTSHARD_ATOMIC_QUEUE " AtomicQueueB2: bounded, capacity rounded up to >= 4096; "
      "busy-waits (spins) on a claimed slot: not lock-free");
  offer_queue<atomic_queue_b<T>>(f,
      "atomic_queue_b", HOTSHARD_ATOMIC_QUEUE " AtomicQueueB (NIL = ~0): bounded, capacity >= 4096; busy-waits "
      "(spins) on a claimed slot: not lock-free");
  offer_queue<cds_vyukov_queue<T>>(f,
      "cds_vyukov", HOTSHARD_LIBCDS " VyukovMPMCCycleQueue: bounded (true capacity), spins with back-off on an "
      "unfinished neighbour, not lock-free");
  offer_queue<cds_fc_queue<T>>(f,
      "cds_fcqueue", HOTSHARD_LIBCDS " FCQueue (flat combining over std::queue): UNBOUNDED, blocking (one "
      "combiner, others spin with back-off)");
  offer_queue<ck_ring_queue<T>>(f,
      "ck_ring", HOTSHARD_CK " ck_ring MPMC: bounded (ring of size - 1 usable), lock-free dequeue, enqueue spins "
      "on earlier producers' commits");
  offer_queue<reader_writer_queue<T>>(f,
      "readerwriterqueue", HOTSHARD_RWQ " moodycamel::ReaderWriterQueue: SPSC (1P1C rows only; more producers or "
      "consumers take turns behind a std::mutex per side), wait-free try_enqueue/try_dequeue, capacity a minimum");
  offer_queue<ours_queue<T>>(f, "bounded_queue", "ours: Vyukov sequence-numbered ring, true capacity, atomic-wait blocking, bulk claims");
}

}  // namespace hotshard::contenders
