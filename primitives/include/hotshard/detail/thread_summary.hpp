// hotshard/detail/thread_summary.hpp — per-thread state of heavy_hitters and
// hot_key_detector: a registry that gives each (thread, instance) pair its own
// node, and the single-writer Misra–Gries summary heavy_hitters keeps there.
//
// Registry. A thread's first call on an instance claims a free node (left by
// a thread that exited) or allocates one and pushes it on the instance's
// list with a release CAS (1); readers walk the list with acquire loads (2).
// A thread-local cache maps instance ids (never reused) to nodes; the one
// entry used last sits in a trivially destructible thread_local, so the hot
// path is one compare and needs no TLS guard. Lifetimes, with the node state
// word as the arbiter:
//  * the thread exits first: its cache's destructor moves each node from
//    `attached` to `free_node` (release, (3)); the counts stay in the node,
//    and the next thread that claims it (acquire CAS, (4)) adds on top.
//  * the instance is destroyed first: its destructor moves attached nodes to
//    `orphaned` (the thread frees them at exit or at its next new instance)
//    and deletes free ones. Whoever moves the state from `attached` first
//    decides who frees the node.
//  * a call from a thread_local destructor that runs after the cache was
//    destroyed (tls_nodes_gone): local() returns nullptr and the caller uses
//    its mutex-guarded shared node (the guard of defect 10 in the sketches).
//
// Misra–Gries summary (Misra & Gries, "Finding repeated elements", Sci.
// Comput. Program. 2(2), 1982, doi:10.1016/0167-6423(82)90012-0), with the
// decrement batched as in Apache DataSketches' frequent items sketch: k
// counters in a linear-probing table of 4k/3 slots (load ≤ 3/4, as there;
// ≤ 3/8 right after a purge); when a new key
// finds k counters, the ⌈k/2⌉-th largest count v is subtracted from every
// counter, the counters that reach 0 are dropped, and `offset` grows by v.
// Invariant, per summary of a stream of N_t units: for every key x with true
// count f(x) and counter c(x) (0 if absent), c(x) ≤ f(x) ≤ c(x) + offset, and
// offset ≤ 2·N_t/k (each purge removes v from at least ⌈k/2⌉ counters, and at
// most N_t is ever removed). These summaries merge by addition (Agarwal et
// al., "Mergeable summaries", PODS 2012, doi:10.1145/2213556.2213562).
//
// Concurrent readers. The summary has one writer (its owner). Between purges
// the live table only grows: a slot's count is 0 (empty) until the owner
// stores the key and then the count with release (5); readers load the count
// with acquire (6) and then the key. A purge writes the survivors into the
// other buffer and publishes it by storing `gen_` with release (7); readers
// load `gen_` with acquire (8). A buffer is rewritten only by the purge after
// next, which first stores `begin_` and a release fence (9); a reader ends
// with an acquire fence and a load of `begin_` (10) — Boehm's seqlock
// ("Can seqlocks get along with programming language memory models?", MSPC
// 2012, doi:10.1145/2247684.2247688) — and retries if that purge began. So a
// reader never waits for the owner; it retries only when the owner completed
// a purge meanwhile (lock-free), and what it returns is one generation's
// entries, each count at some moment of that generation.
//
// Stored keys (mg_summary<Name> with Name ≠ void: keys that are not word keys,
// detail/sketch_support.hpp). A slot's `word` is then the key's hash word and
// its `name` points at an immutable stored_key; two keys with equal words are
// told apart by comparing the stored key (they take two slots). The owner
// stores the name (relaxed) before the count's release (5), and a purge's
// names are published by (7), like the words. A purge nulls the names of the
// buffer it rewrites, moves the survivors' names, and retires the dropped
// ones; it frees the retired names once key_readers::quiescent() (K3) sees
// no reader scope open after its publication (7) — a reader that loaded an
// older generation is inside a scope then, so nothing it can reach is freed.
// Readers that dereference names (lookup with a key, snapshot's names) must
// hold a key_readers::scope of the readers passed to the constructor.
#pragma once

#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/sketch_support.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

namespace hotshard::detail {

// --- registry -----------------------------------------------------------------

struct thread_node {
  enum : int { free_node = 0, attached = 1, orphaned = 2 };
  std::atomic<int> state{attached};
  thread_node* next = nullptr;  // the instance's list; written before the push (1)
  thread_node() = default;
  thread_node(const thread_node&) = delete;
  thread_node& operator=(const thread_node&) = delete;
  virtual ~thread_node() = default;
};

struct thread_node_ref {
  std::uint64_t id = 0;  // instance ids start at 1
  thread_node* node = nullptr;
};

// Registry ids, unique across every registry of every node type: the
// thread-local cache below is shared by all of them (a counter per
// thread_node_registry<Node> gave a heavy_hitters and a hot_key_detector the
// same id, and one's node was returned to the other).
[[nodiscard]] inline std::uint64_t next_registry_id() noexcept {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);  // uniqueness only
}

inline thread_local thread_node_ref tls_last_node{};  // trivially destructible: no TLS guard
inline thread_local bool tls_nodes_gone = false;

class thread_node_cache {
 public:
  thread_node_cache() = default;
  thread_node_cache(const thread_node_cache&) = delete;
  thread_node_cache& operator=(const thread_node_cache&) = delete;
  ~thread_node_cache() {
    tls_nodes_gone = true;
    tls_last_node = {};
    for (const auto& e : entries_) release(e.node);
  }

  [[nodiscard]] thread_node* find(std::uint64_t id) const noexcept {
    for (const auto& e : entries_)
      if (e.id == id) return e.node;
    return nullptr;
  }

  void insert(std::uint64_t id, thread_node* node) {
    std::erase_if(entries_, [](const thread_node_ref& e) {
      if (e.node->state.load(std::memory_order_acquire) != thread_node::orphaned) return false;  // pairs with ~registry
      delete e.node;
      return true;
    });
    entries_.push_back({id, node});
  }

  static thread_node_cache* local() noexcept {
    if (tls_nodes_gone) [[unlikely]] return nullptr;
    thread_local thread_node_cache cache;
    return &cache;
  }

 private:
  static void release(thread_node* n) noexcept {
    int expected = thread_node::attached;
    // (3) release: the owner's writes happen-before the next owner's claim (4)
    // and the destructor's acquire load; failing means the instance is gone.
    if (!n->state.compare_exchange_strong(expected, thread_node::free_node, std::memory_order_release,
                                          std::memory_order_acquire))
      delete n;  // orphaned
  }

  std::vector<thread_node_ref> entries_;
};

template <class Node>
class thread_node_registry {
 public:
  thread_node_registry() = default;
  thread_node_registry(const thread_node_registry&) = delete;
  thread_node_registry& operator=(const thread_node_registry&) = delete;

  ~thread_node_registry() {
    thread_node* n = head_.load(std::memory_order_acquire);  // (2) pairs with (1)
    while (n != nullptr) {
      thread_node* const next = n->next;  // read before the node may be freed by its thread
      int s = n->state.load(std::memory_order_acquire);  // pairs with (3)
      while (s == thread_node::attached &&
             !n->state.compare_exchange_weak(s, thread_node::orphaned, std::memory_order_acq_rel,
                                             std::memory_order_acquire)) {
      }
      if (s == thread_node::free_node) delete n;  // else orphaned: its thread frees it
      n = next;
    }
  }

  // The calling thread's node (made by make() on first use), or nullptr when
  // the thread's cache is already destroyed (see "Registry" above).
  template <class Make>
  Node* local(Make&& make) {
    if (tls_last_node.id == id_) [[likely]] return static_cast<Node*>(tls_last_node.node);
    return local_slow(make);
  }

  // f(const Node&) for every node ever made (attached or free).
  template <class F>
  void for_each(F&& f) const {
    for (const thread_node* n = head_.load(std::memory_order_acquire); n != nullptr; n = n->next)  // (2)
      f(static_cast<const Node&>(*n));
  }

  [[nodiscard]] std::size_t nodes() const noexcept { return nodes_.load(std::memory_order_relaxed); }

 private:
  // local() past its one-compare fast path, kept out of line so that the fast
  // path inlines into every add/observe (it was a call per operation).
  template <class Make>
  [[gnu::noinline]] Node* local_slow(Make& make) {
    thread_node_cache* cache = thread_node_cache::local();
    if (cache == nullptr) [[unlikely]] return nullptr;
    thread_node* n = cache->find(id_);
    if (n == nullptr) {
      n = claim_free();
      if (n == nullptr) {
        n = make();
        n->next = head_.load(std::memory_order_relaxed);
        // (1) release: publishes the node's construction; pairs with (2).
        while (!head_.compare_exchange_weak(n->next, n, std::memory_order_release, std::memory_order_relaxed)) {
        }
        nodes_.fetch_add(1, std::memory_order_relaxed);  // counts only
      }
      cache->insert(id_, n);
    }
    tls_last_node = {id_, n};
    return static_cast<Node*>(n);
  }

  thread_node* claim_free() noexcept {
    for (thread_node* n = head_.load(std::memory_order_acquire); n != nullptr; n = n->next) {  // (2)
      int expected = thread_node::free_node;
      // (4) acquire: pairs with (3); the previous owner's writes are visible.
      if (n->state.compare_exchange_strong(expected, thread_node::attached, std::memory_order_acquire,
                                           std::memory_order_relaxed))
        return n;
    }
    return nullptr;
  }

  std::uint64_t id_ = next_registry_id();
  std::atomic<thread_node*> head_{nullptr};
  std::atomic<std::size_t> nodes_{0};
};

// --- single-writer Misra–Gries summary ---------------------------------------

template <class Name = void>
class mg_summary {
  static constexpr bool named = !std::is_void_v<Name>;
  struct no_name {};
  using name_type = std::conditional_t<named, stored_key<Name>, void>;

 public:
  struct entry {
    std::uint64_t word;
    std::uint64_t count;
    const name_type* name;  // named only: valid inside the reader's key_readers::scope
  };
  struct point {
    std::uint64_t counter;  // c(x), 0 if absent
    std::uint64_t offset;
  };

  // The k a summary asked for at least `min_counters` (≤ 2^40) gets: the table is
  // a power of two and k fills 3/4 of it.
  [[nodiscard]] static constexpr std::size_t counters_for(std::size_t min_counters) noexcept {
    const std::size_t want = min_counters < 2 ? 2 : min_counters;
    return std::bit_ceil((4 * want + 2) / 3) / 4 * 3;
  }

  // readers: the scope readers of named summaries hold (unused for word keys).
  explicit mg_summary(std::size_t min_counters, const key_readers* readers = nullptr)
      : k_(counters_for(min_counters)),
        mask_(k_ / 3 * 4 - 1),
        shift_(64 - static_cast<unsigned>(std::countr_zero(mask_ + 1))),
        readers_(readers) {
    for (auto& b : buf_) b.slots = std::make_unique<slot[]>(mask_ + 1);
    live_slots_ = buf_[0].slots.get();
    scratch_.reserve(k_);
  }
  mg_summary(const mg_summary&) = delete;
  mg_summary& operator=(const mg_summary&) = delete;
  ~mg_summary() {
    if constexpr (named) {
      for (std::size_t i = 0; i <= mask_; ++i)  // the live buffer owns its names; the other holds copies
        if (live_slots_[i].count.load(std::memory_order_relaxed) != 0)
          delete live_slots_[i].name.load(std::memory_order_relaxed);
      for (const name_type* n : retired_) delete n;
    }
  }

  // h: the key's slot hash; its top log2(slots) bits pick the home slot.
  // Owner only. rehash(word) gives the h of a stored key word (purges move
  // keys). Named: `key` is the key (compared with the stored ones; a
  // stored_key is built from it when the key is new).
  template <class Rehash, class K = no_name>
  void add(std::uint64_t word, std::uint64_t h, std::uint64_t n, Rehash&& rehash, const K& key = {}) {
    total_.store(total_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);  // one writer; counts only
    slot* s = live_slots_;
    for (std::size_t i = home(h);; i = (i + 1) & mask_) {
      const std::uint64_t c = s[i].count.load(std::memory_order_relaxed);  // own slot
      if (c == 0) {
        if (size_ == k_) [[unlikely]] {
          purge(rehash);
          s = live_slots_;
          i = probe_free(s, h);
        }
        if constexpr (named) s[i].name.store(new name_type(word, key), std::memory_order_relaxed);  // before (5)
        s[i].word.store(word, std::memory_order_relaxed);  // ordered before the count (5)
        s[i].count.store(n, std::memory_order_release);    // (5) pairs with (6)
        ++size_;
        return;
      }
      if (s[i].word.load(std::memory_order_relaxed) == word && same_key(s[i], key)) {  // own slot
        s[i].count.store(c + n, std::memory_order_release);                          // (5) pairs with (6)
        return;
      }
    }
  }

  // Any thread (named: inside a key_readers::scope). The counter of `word`
  // (and, named, of `key`) and the offset, from one generation.
  template <class K = no_name>
  [[nodiscard]] point lookup(std::uint64_t word, std::uint64_t h, const K& key = {}) const noexcept {
    for (;;) {
      const std::uint64_t g = gen_.load(std::memory_order_acquire);  // (8) pairs with (7)
      const buffer& b = buf_[g & 1];
      std::uint64_t count = 0;
      for (std::size_t i = home(h), probes = 0; probes <= mask_; i = (i + 1) & mask_, ++probes) {
        const std::uint64_t c = b.slots[i].count.load(std::memory_order_acquire);  // (6) pairs with (5)
        if (c == 0) break;
        if (b.slots[i].word.load(std::memory_order_relaxed) == word && same_key(b.slots[i], key)) {  // after (6)
          count = c;
          break;
        }
      }
      const std::uint64_t offset = b.offset.load(std::memory_order_relaxed);  // published by (7)
      if (stable(g)) return {count, offset};
    }
  }

  // Any thread. Appends one generation's entries to out; returns its offset.
  std::uint64_t snapshot(std::vector<entry>& out) const {
    const std::size_t mark = out.size();
    for (;;) {
      const std::uint64_t g = gen_.load(std::memory_order_acquire);  // (8) pairs with (7)
      const buffer& b = buf_[g & 1];
      for (std::size_t i = 0; i <= mask_; ++i) {
        const std::uint64_t c = b.slots[i].count.load(std::memory_order_acquire);  // (6) pairs with (5)
        if (c == 0) continue;
        const name_type* name = nullptr;
        if constexpr (named) {
          name = b.slots[i].name.load(std::memory_order_relaxed);  // after (6)
          if (name == nullptr) continue;  // a purge is rewriting this buffer: stable() fails below
        }
        out.push_back({b.slots[i].word.load(std::memory_order_relaxed), c, name});
      }
      const std::uint64_t offset = b.offset.load(std::memory_order_relaxed);  // published by (7)
      if (stable(g)) return offset;
      out.resize(mark);
    }
  }

  // Units added (exact once the owner's adds happen-before the call).
  [[nodiscard]] std::uint64_t total() const noexcept { return total_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::size_t counters() const noexcept { return k_; }
  [[nodiscard]] std::uint64_t purges() const noexcept { return gen_.load(std::memory_order_relaxed); }
  // Named summaries' stored keys are not counted (their sizes are the keys').
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return sizeof(*this) + 2 * (mask_ + 1) * sizeof(slot) + scratch_.capacity() * sizeof(std::uint64_t);
  }

 private:
  struct slot {
    std::atomic<std::uint64_t> count{0};  // 0 = empty
    std::atomic<std::uint64_t> word{0};
    [[no_unique_address]] std::conditional_t<named, std::atomic<const name_type*>, no_name> name{};
  };

  // Named: does the slot (word already equal) hold `key`? The name is read
  // after the count's acquire (6) or by its owner; null only in a buffer a
  // purge is rewriting (the reader's stable() then fails).
  template <class K>
  static bool same_key(const slot& s, const K& key) noexcept {
    if constexpr (named) {
      const name_type* n = s.name.load(std::memory_order_relaxed);  // after (6), or own slot
      return n != nullptr && n->key == key;
    } else {
      (void)s;
      (void)key;
      return true;
    }
  }
  struct buffer {
    std::unique_ptr<slot[]> slots;
    std::atomic<std::uint64_t> offset{0};
  };

  // (10) with (9): no write of a later purge into the buffer of generation g was seen.
  [[nodiscard]] bool stable(std::uint64_t g) const noexcept {
    std::atomic_thread_fence(std::memory_order_acquire);              // (10) pairs with (9)
    return begin_.load(std::memory_order_relaxed) < g + 2;            // (10)
  }

  // A key's home slot: the top bits of h (callers pass a multiply-shift hash, whose top bits are the good ones).
  [[nodiscard]] std::size_t home(std::uint64_t h) const noexcept { return static_cast<std::size_t>(h >> shift_); }

  std::size_t probe_free(const slot* s, std::uint64_t h) const noexcept {
    std::size_t i = home(h);
    while (s[i].count.load(std::memory_order_relaxed) != 0) i = (i + 1) & mask_;  // own slots
    return i;
  }

  // v must leave at least ⌈k/2⌉ counters ≥ v (the offset bound needs it). A
  // quantile of 512 strided counters (the 45% point from the top, so ≥ 1/2 of
  // all counters are ≥ it unless the sample is far off) is checked by
  // counting; if the check fails, the exact ⌈k/2⌉-th largest is used.
  template <class Rehash>
  void purge(Rehash& rehash) {
    const std::uint64_t p = gen_.load(std::memory_order_relaxed) + 1;  // only the owner writes gen_
    buffer& from = *live_;
    buffer& to = buf_[p & 1];
    begin_.store(p, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);  // (9) pairs with (10)
    const std::size_t half = (k_ + 1) / 2;
    scratch_.clear();
    const std::size_t stride = std::max<std::size_t>(1, (mask_ + 1) / 512);
    for (std::size_t i = 0; i <= mask_; i += stride) {
      const std::uint64_t c = from.slots[i].count.load(std::memory_order_relaxed);  // own slot
      if (c != 0) scratch_.push_back(c);
    }
    std::uint64_t v = 0;
    if (!scratch_.empty()) {
      const std::size_t r = scratch_.size() * 45 / 100;
      std::nth_element(scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(r), scratch_.end(),
                       std::greater<>());
      v = scratch_[r];
    }
    std::size_t at_least_v = 0;
    for (std::size_t i = 0; i <= mask_; ++i) {
      at_least_v += from.slots[i].count.load(std::memory_order_relaxed) >= v ? 1 : 0;  // own slot (empty: 0)
      to.slots[i].count.store(0, std::memory_order_relaxed);  // hidden from readers by (9)
      if constexpr (named) to.slots[i].name.store(nullptr, std::memory_order_relaxed);  // hidden by (9)
    }
    if (v == 0 || at_least_v < half) [[unlikely]] {  // the sample was off: exact
      scratch_.clear();
      for (std::size_t i = 0; i <= mask_; ++i) {
        const std::uint64_t c = from.slots[i].count.load(std::memory_order_relaxed);  // own slot
        if (c != 0) scratch_.push_back(c);
      }
      std::nth_element(scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(half - 1), scratch_.end(),
                       std::greater<>());
      v = scratch_[half - 1];
    }
    size_ = 0;
    for (std::size_t i = 0; i <= mask_; ++i) {
      const std::uint64_t c = from.slots[i].count.load(std::memory_order_relaxed);  // own slot
      if (c == 0) continue;
      if (c <= v) {
        if constexpr (named) retired_.push_back(from.slots[i].name.load(std::memory_order_relaxed));  // own slot
        continue;
      }
      const std::uint64_t w = from.slots[i].word.load(std::memory_order_relaxed);  // own slot
      const std::size_t j = probe_free(to.slots.get(), rehash(w));
      if constexpr (named)
        to.slots[j].name.store(from.slots[i].name.load(std::memory_order_relaxed), std::memory_order_relaxed);  // by (7)
      to.slots[j].word.store(w, std::memory_order_relaxed);
      to.slots[j].count.store(c - v, std::memory_order_relaxed);  // published by (7)
      ++size_;
    }
    to.offset.store(from.offset.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);  // by (7)
    live_ = &to;
    live_slots_ = to.slots.get();
    gen_.store(p, std::memory_order_release);  // (7) pairs with (8)
    if constexpr (named) {
      // The dropped names are unreachable from generation p on (this buffer
      // never held them; the other one's names are nulled before it is
      // reused): free them once no reader scope is open (K3).
      if (!retired_.empty() && readers_->quiescent()) {
        for (const name_type* n : retired_) delete n;
        retired_.clear();
      }
    }
  }

  std::size_t k_;
  std::size_t mask_;
  unsigned shift_;  // 64 − log2(slots): home(h) = h >> shift_
  buffer buf_[2];
  buffer* live_ = &buf_[0];  // owner only
  slot* live_slots_ = nullptr;  // owner only: live_->slots, one load less per add
  std::size_t size_ = 0;     // owner only: counters in the live buffer
  std::vector<std::uint64_t> scratch_;  // owner only
  const key_readers* readers_;          // named only
  std::vector<const name_type*> retired_;  // owner only (named): dropped names not yet freed
  alignas(cache_line_bytes) std::atomic<std::uint64_t> gen_{0};  // purges completed
  std::atomic<std::uint64_t> begin_{0};                          // purges begun
  std::atomic<std::uint64_t> total_{0};
};

}  // namespace hotshard::detail
