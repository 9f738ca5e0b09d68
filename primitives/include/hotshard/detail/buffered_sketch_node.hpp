// hotshard/detail/buffered_sketch_node.hpp — the per-thread filters of
// buffered_count_min_sketch and the registry that ties their lifetimes to
// threads and sketches. The contract (progress, ordering, lifetimes) is stated
// in buffered_count_min_sketch.hpp; the numbers (1)–(6) refer to it.
#pragma once

#include <hotshard/detail/backoff.hpp>
#include <hotshard/detail/checked_size.hpp>

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace hotshard::detail {

// Where a filter's counts go: the shared sketch's add_hashed, type-erased so
// one thread_local cache serves every sketch type.
using filter_sink = void (*)(void* target, std::uint64_t hash, std::uint64_t count) noexcept;

class filter_node {
 public:
  enum : int { free_node = 0, attached = 1, exiting = 2, orphaned = 3 };

  // slots: a power of two from checked_slots().
  filter_node(std::size_t slots, std::uint64_t flush_every, filter_sink sink, void* target)
      : mask_(slots - 1),
        flush_every_(flush_every == 0 ? 1 : flush_every),
        sink_(sink),
        target_(target),
        entries_(std::make_unique<entry[]>(mask_ + 1)) {}

  // The filter size for a requested `slots` (rounded up to a power of two);
  // std::invalid_argument naming `field` if it is 0 or its table overflows.
  static std::size_t checked_slots(std::size_t slots, const char* who, const char* field) {
    if (slots == 0) throw_bad_option(who, field, "must be >= 1");
    return checked_array_count(checked_bit_ceil(slots, who, field), 1, sizeof(entry), who, field);
  }

  std::atomic<int> state{attached};
  filter_node* next = nullptr;  // registry list; written before the node is published (3)

  // Owner only. A slot is free when it holds no pending count and its score
  // has decayed to 0; a flushed hot resident keeps its score (and its slot).
  // Returns false when the add was not absorbed: the caller adds (h, count)
  // to the shared sketch itself (inlined there, unlike the sink).
  [[nodiscard]] bool add(std::uint64_t h, std::uint64_t count) noexcept {
    const std::size_t i = h & mask_;
    entry& e = entries_[i];
    const std::uint64_t pending = e.count.load(std::memory_order_relaxed);  // own entry
    if (e.hash.load(std::memory_order_relaxed) == h) {                     // own entry
      e.count.store(pending + count, std::memory_order_release);           // (1) pairs with (2)
      if (e.score != 0xff) ++e.score;
    } else if (e.score != 0) {
      --e.score;
      tick();
      return false;
    } else {
      if (pending != 0) {
        sink_(target_, e.hash.load(std::memory_order_relaxed), pending);  // own entry
        e.count.store(0, std::memory_order_release);                      // (1) after the flush: pairs with (2)
      }
      e.hash.store(h, std::memory_order_release);       // (1) pairs with (2)
      e.count.store(count, std::memory_order_release);  // (1) pairs with (2)
      e.score = 1;
    }
    tick();
    return true;
  }

  // Owner only (or the exiting owner). Residents stay; their counts go to 0.
  void flush_all() noexcept {
    for (std::size_t i = 0; i <= mask_; ++i) {
      entry& e = entries_[i];
      const std::uint64_t pending = e.count.load(std::memory_order_relaxed);  // own entry
      if (pending == 0) continue;
      sink_(target_, e.hash.load(std::memory_order_relaxed), pending);  // own entry
      e.count.store(0, std::memory_order_release);                      // (1) after the flush: pairs with (2)
    }
    since_flush_ = 0;
  }

  void tick() noexcept {
    if (++since_flush_ >= flush_every_) [[unlikely]] flush_all();
  }

  // Any thread: h's pending count in this filter (0 if not resident).
  [[nodiscard]] std::uint64_t pending(std::uint64_t h) const noexcept {
    const entry& e = entries_[h & mask_];
    if (e.hash.load(std::memory_order_acquire) != h) return 0;  // (2) pairs with (1)
    return e.count.load(std::memory_order_acquire);             // (2) pairs with (1)
  }

  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return sizeof(*this) + (mask_ + 1) * sizeof(entry);
  }

 private:
  // score sits beside the words the owner touches anyway (one line, not two);
  // only the owner reads or writes it.
  struct entry {
    std::atomic<std::uint64_t> hash{0};
    std::atomic<std::uint64_t> count{0};
    std::uint64_t score = 0;
  };

  std::size_t mask_;
  std::uint64_t flush_every_;
  std::uint64_t since_flush_ = 0;
  filter_sink sink_;
  void* target_;
  std::unique_ptr<entry[]> entries_;
};

// Set when the calling thread's filter cache has been destroyed (thread
// exit). Trivially destructible, so it stays readable while other
// thread_local objects are destroyed: an add from a thread_local destructor
// that runs after the cache's then goes to the shared sketch directly instead
// of walking the freed cache (as tls_slot_registry_gone does for
// per_thread_counter).
inline thread_local bool tls_filter_cache_gone = false;

// The calling thread's nodes, one per sketch it has added to, keyed by sketch id.
class filter_thread_cache {
 public:
  filter_thread_cache() = default;
  filter_thread_cache(const filter_thread_cache&) = delete;
  filter_thread_cache& operator=(const filter_thread_cache&) = delete;
  ~filter_thread_cache() {
    tls_filter_cache_gone = true;
    for (const auto& e : entries_) release(e.node);
  }

  [[nodiscard]] filter_node* find(std::uint64_t id) noexcept {
    if (last_.id == id) return last_.node;
    for (const auto& e : entries_) {
      if (e.id == id) {
        last_ = e;
        return e.node;
      }
    }
    return nullptr;
  }

  void insert(std::uint64_t id, filter_node* node) {
    // Nodes of sketches destroyed meanwhile are ours to free.
    std::erase_if(entries_, [](const slot& e) {
      if (e.node->state.load(std::memory_order_acquire) != filter_node::orphaned) return false;  // (6) pairs with (6)
      delete e.node;
      return true;
    });
    entries_.push_back({id, node});
    last_ = {id, node};
  }

 private:
  struct slot {
    std::uint64_t id = 0;  // sketch ids start at 1
    filter_node* node = nullptr;
  };

  static void release(filter_node* n) noexcept {
    int expected = filter_node::attached;
    // (5) acq_rel: the exit flush below happens-before the destructor's
    // acquire (6) that sees free_node; failing means the sketch is gone (6).
    if (n->state.compare_exchange_strong(expected, filter_node::exiting, std::memory_order_acq_rel,
                                         std::memory_order_acquire)) {
      n->flush_all();
      n->state.store(filter_node::free_node, std::memory_order_release);  // (5) pairs with (6) and attach's acquire
    } else {
      delete n;  // orphaned: the sketch was destroyed while we held the node
    }
  }

  slot last_{};
  std::vector<slot> entries_;
};

inline filter_thread_cache& filter_cache() {
  thread_local filter_thread_cache cache;
  return cache;
}

class filter_registry {
 public:
  // std::invalid_argument naming the field for slots or flush_every of 0, or
  // slots whose filter does not fit.
  filter_registry(std::size_t slots, std::uint64_t flush_every, filter_sink sink, void* target,
                  const char* who = "buffered_count_min_sketch")
      : slots_(filter_node::checked_slots(slots, who, "filter_slots")),
        flush_every_(flush_every),
        sink_(sink),
        target_(target) {
    if (flush_every == 0) throw_bad_option(who, "flush_every", "must be >= 1");
  }
  filter_registry(const filter_registry&) = delete;
  filter_registry& operator=(const filter_registry&) = delete;

  ~filter_registry() {
    filter_node* n = head_.load(std::memory_order_acquire);  // (4) pairs with (3)
    while (n != nullptr) {
      filter_node* const next = n->next;  // read before the node may be handed to its thread
      backoff wait;
      for (;;) {
        int s = n->state.load(std::memory_order_acquire);  // (6) pairs with (5)
        if (s == filter_node::free_node) {
          delete n;
          break;
        }
        if (s == filter_node::attached &&
            n->state.compare_exchange_strong(s, filter_node::orphaned, std::memory_order_acq_rel,
                                             std::memory_order_acquire))  // (6) pairs with (5)
          break;  // its thread frees it
        wait();   // an exit flush is under way
      }
      n = next;
    }
  }

  // The calling thread's node for this sketch (created on first use), or
  // nullptr once the thread's cache is gone (thread exit, see
  // tls_filter_cache_gone): the caller then adds to the shared sketch itself.
  filter_node* local() {
    if (tls_filter_cache_gone) [[unlikely]] return nullptr;
    auto& cache = filter_cache();
    if (filter_node* n = cache.find(id_)) [[likely]] return n;
    filter_node* n = claim_free();
    if (n == nullptr) {
      n = new filter_node(slots_, flush_every_, sink_, target_);
      n->next = head_.load(std::memory_order_relaxed);
      // (3) release: publishes the node's construction; pairs with (4).
      while (!head_.compare_exchange_weak(n->next, n, std::memory_order_release, std::memory_order_relaxed)) {
      }
      count_.fetch_add(1, std::memory_order_relaxed);  // counts only
    }
    cache.insert(id_, n);
    return n;
  }

  [[nodiscard]] std::uint64_t pending(std::uint64_t h) const noexcept {
    std::uint64_t sum = 0;
    for (const filter_node* n = head_.load(std::memory_order_acquire); n != nullptr; n = n->next)  // (4)
      sum += n->pending(h);
    return sum;
  }

  [[nodiscard]] std::size_t nodes() const noexcept { return count_.load(std::memory_order_relaxed); }

  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    std::size_t bytes = sizeof(*this);
    for (const filter_node* n = head_.load(std::memory_order_acquire); n != nullptr; n = n->next)  // (4)
      bytes += n->memory_bytes();
    return bytes;
  }

 private:
  static std::uint64_t next_id() noexcept {
    static std::atomic<std::uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);  // uniqueness only
  }

  filter_node* claim_free() noexcept {
    for (filter_node* n = head_.load(std::memory_order_acquire); n != nullptr; n = n->next) {  // (4)
      int expected = filter_node::free_node;
      // acquire: pairs with the release store of free_node in (5), so the
      // previous owner's writes (its flush, its scores) are visible to us.
      if (n->state.compare_exchange_strong(expected, filter_node::attached, std::memory_order_acquire,
                                           std::memory_order_relaxed))
        return n;
    }
    return nullptr;
  }

  std::size_t slots_;
  std::uint64_t flush_every_;
  filter_sink sink_;
  void* target_;
  std::uint64_t id_ = next_id();
  std::atomic<filter_node*> head_{nullptr};
  std::atomic<std::size_t> count_{0};
};

}  // namespace hotshard::detail
