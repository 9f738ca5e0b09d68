// hotshard/heavy_hitters.hpp — top-K heavy hitters: one Misra–Gries summary
// per thread, written only by its thread, merged when someone asks.
//
// Algorithm: every thread that adds keeps its own Misra–Gries summary of k
// counters (detail/thread_summary.hpp; Misra & Gries 1982, with the batched
// decrement of Apache DataSketches' frequent items sketch); top() and
// estimate() add the summaries up, which is exact for this summary family
// (Agarwal, Cormode, Huang, Phillips, Wei & Yi, "Mergeable summaries", PODS
// 2012, doi:10.1145/2213556.2213562). Why this design: the add path touches
// only the calling thread's own table, with plain stores, so it is as cheap as
// the best sequential summary and two threads never share a written cache line
// (the previous design — a shared conservative-update Count-Min plus a shared
// candidate table — bounced the hottest keys' counters between cores, and
// lost a heavy key when an eviction raced with its adds: issue 12, defect 11).
// The price is paid on queries, which read every thread's summary.
//
// Sizes: k ≥ max(2m, ⌈2/ε⌉) counters per thread (m = `capacity`, ε =
// `epsilon`): k is 3/4 of the next power of two ≥ 4/3 of that (the table).
//
// Guarantees (deterministic — no probability, any interleaving), once the
// adds happen-before the query (thread join), N = every count added:
//  * every key whose count exceeds N/m is in top(k) for k ≥ the number of
//    such keys. Why: summary t holds a key whenever its count f_t there
//    exceeds the summary's offset o_t ≤ 2N_t/k ≤ N_t/m; if f > N/m = Σ N_t/m
//    ≥ Σ o_t then some f_t > o_t.
//  * every entry e of top() and every estimate(x): e.count − e.error ≤ true
//    count ≤ e.count, with e.error = Σ o_t ≤ 2N/k ≤ εN. estimate(x) never
//    underestimates (it is Σ c_t(x) + o_t).
//  * total() is exact.
// top(k) ranks by the merged counter Σ c_t(x); keys that stayed in every
// summary since their first add have c = f − (offsets since then), so the
// heaviest keys rank in their true order.
//
// Keys: any concepts::hashable_key<Key, Hash> (keys.hpp); pointer keys are
// rejected at compile time. Every hash is derived from one word per request,
// w = mix64(Hash(key)): a slot is placed by a seeded hash of w, so
// add/estimate of a hashed_key<Key, Hash> (w computed once by the caller) give
// exactly the results of the key (the slot hash is multiply-shift of w by a
// multiplier drawn from the seed, see "Hash flooding"). With a transparent Hash
// (policy::hash<std::string>) they also take a lookup key (std::string_view,
// a literal); a Key is built from it only when a new key is stored.
//  * Word keys (trivially copyable, ≤ 8 bytes): the summaries store the key's
//    bits (the fast path, no allocation).
//  * Any other key: a slot stores w and a pointer to an immutable stored_key
//    (a heap copy of the key); a lookup compares w, then the keys, so two
//    keys whose words collide take two slots and are counted and reported
//    apart (top() merges the summaries by word, then by key). A purge retires
//    the keys it drops and frees them once no query is reading stored keys
//    (detail/sketch_support.hpp key_readers; detail/thread_summary.hpp).
//
// Progress guarantees:
//  * add(): wait-free after the thread's first add to this instance (which
//    allocates a summary, or reuses one a finished thread left, and pushes it
//    with a CAS: lock-free). A probe ends at an empty slot (load ≤ 1/2); an
//    add that finds k counters purges its own summary: O(k) steps, amortised
//    O(1) (≥ k/2 new keys between purges). From a thread_local destructor
//    that runs after the thread's summary cache was destroyed, add() takes
//    a mutex (blocking) and adds to a shared summary.
//  * estimate(), top(): lock-free, never wait for an adder: they read each
//    summary by a seqlock and retry one summary only if its owner completed a
//    purge meanwhile. estimate() is O(threads); top() O(threads × k) reads and
//    merges only the keys that can rank (see top()), allocates.
//  * total(), memory_bytes(), stats(): wait-free (stats() O(threads)).
//  * Non-word keys: an add of a key new to its summary allocates its
//    stored_key (the allocator may block); top() and estimate() open a reader
//    scope (one RMW each way on the instance's reader count, never touched by
//    add()); a purge frees its dropped keys only if no scope is open, else at
//    a later purge of that summary (a reader that never leaves delays it).
//
// What a concurrent reader may see: each summary as it was at some moment of
// the read (one generation, counts at least those of the adds that happen-
// before the read); summaries are read one after another, so the result is
// not a snapshot of all threads at one instant. Every add that happens-before
// the query is counted.
//
// Memory ordering: see detail/thread_summary.hpp — slot counts are published
// with release and read with acquire, purges by a seqlock; totals are relaxed
// (exact after join). The late-destructor summary is published with a
// release store (F) and read with acquire (G). Stored keys (non-word keys):
// a key's pointer is stored before its slot's count release and read after
// the count's acquire; the reader scope (K1)/(K2) and a purge's quiescence
// check (K3) after its generation store order every free after the reads
// that could reach the key (detail/sketch_support.hpp).
//
// Hash flooding: slots are placed by the top bits of mix64(Hash(key)) · a,
// with an odd multiplier a from `seed` (multiply-shift, a universal family);
// by default a random per-instance seed (detail/instance_seed.hpp), so nobody
// can precompute keys that pile up in one probe run.
//
// Memory: per thread that ever added, 2 buffers × 16 bytes (24 for non-word
// keys, + each stored key's copy) × 4k/3 slots + 8k
// (k = 12,288 at the defaults: 608 KiB); a finished thread's summary is
// reused by the next thread.
#pragma once

#include <hotshard/concepts/frequency_sketch.hpp>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/policy.hpp>
#include <hotshard/detail/hash.hpp>
#include <hotshard/detail/instance_seed.hpp>
#include <hotshard/detail/metrics.hpp>
#include <hotshard/detail/sketch_support.hpp>
#include <hotshard/keys.hpp>
#include <hotshard/detail/thread_summary.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace hotshard {

// heavy_hitters<K> h({.capacity = 64, .sketch = {.epsilon = 0.001, .seed = 7}});
// Every bad value throws std::invalid_argument naming the field; nothing is clamped.
struct heavy_hitters_options {
  std::size_t capacity = 1024;  // m: every key above N/m is kept; 1 ≤ m ≤ 2^24
  // sketch.epsilon: every count within εN of the truth; 1e-7 ≤ ε < 1, default
  // 0.0002 (the limits keep one thread's summary under ~2 GiB: k ≤ 2^25
  // counters). sketch.seed: slot hashing; unset = random per instance.
  // sketch.delta must stay unset: the bound is deterministic (δ = 0).
  sketch_options sketch{};

  static constexpr double default_epsilon = 0.0002;
};

// stats(): a snapshot for a metrics thread (detail/metrics.hpp).
struct heavy_hitters_stats {
  std::uint64_t units = 0;               // N, every count added (exact after the adders are joined)
  std::uint64_t purges = 0;              // Misra–Gries purges, all summaries
  std::size_t summaries = 0;             // per-thread summaries ever made
  std::size_t counters_per_thread = 0;   // k
  std::size_t memory_bytes = 0;          // as memory_bytes()

  template <class F>
  void for_each_metric(F&& f) const {
    using detail::metric_kind;
    f(detail::metric{"units_total", metric_kind::counter, static_cast<double>(units), "Units of count added (N)."});
    f(detail::metric{"purges_total", metric_kind::counter, static_cast<double>(purges),
                     "Misra-Gries purges (batched decrements) over all per-thread summaries."});
    f(detail::metric{"summaries", metric_kind::gauge, static_cast<double>(summaries),
                     "Per-thread summaries allocated (reused after their thread exits)."});
    f(detail::metric{"counters_per_thread", metric_kind::gauge, static_cast<double>(counters_per_thread),
                     "Counters k of each per-thread summary."});
    f(detail::metric{"memory_bytes", metric_kind::gauge, static_cast<double>(memory_bytes),
                     "Bytes held by the summaries (stored keys of non-word keys excluded)."});
  }
};

template <class Key, class... Policies>
  requires policy::keyed_policies<Policies...> && concepts::hashable_key<Key, policy::hash_of<Key, Policies...>>
class heavy_hitters {
  // The named policies (hotshard/policy.hpp): the key hash and the contention hook.
  using Hash = policy::hash_of<Key, Policies...>;
  using Contention = policy::contention_of<Policies...>;

  // Word keys (≤ 8 bytes, trivially copyable) are stored as their bits; any
  // other key as a stored_key beside its hash word (see "Keys").
  static constexpr bool word_keys = detail::word_key<Key>;
  using summary = detail::mg_summary<std::conditional_t<word_keys, void, Key>>;

 public:
  using key_type = Key;
  using entry = heavy_hitter<Key>;

  explicit heavy_hitters(heavy_hitters_options opt = {})
      : opt_(validated(opt)),
        k_(detail::mg_summary<>::counters_for(std::max<std::size_t>(
            2 * opt_.capacity, static_cast<std::size_t>(std::ceil(2.0 / *opt_.sketch.epsilon))))),
        seed_(detail::seed_or_random(opt_.sketch.seed)),
        mult_(detail::mix64(seed_ + 0x9e3779b97f4a7c15ULL) | 1) {}  // seeded_hash's seed half, odd

  // Adds `count` to the key: a Key, a hashed_key<Key, Hash> (the same result,
  // hashed once by the caller), or with a transparent Hash a lookup key
  // (std::string_view for std::string; a Key is built only if it is stored).
  void add(const Key& key, std::uint64_t count = 1) { add_word(key, detail::key_word(key, hash_), count); }
  void add(const hashed_key<Key, Hash>& key, std::uint64_t count = 1) { add_word(key.key(), key.word(), count); }
  template <class K>
    requires detail::lookup_key<K, Key, Hash>
  void add(const K& key, std::uint64_t count = 1) {
    add_word(key, detail::key_word(key, hash_), count);
  }

  // ≥ the key's true count (every add of it that happens-before this call);
  // ≤ true count + εN. Accepts the keys add() does.
  [[nodiscard]] std::uint64_t estimate(const Key& key) const { return estimate_word(key, detail::key_word(key, hash_)); }
  [[nodiscard]] std::uint64_t estimate(const hashed_key<Key, Hash>& key) const {
    return estimate_word(key.key(), key.word());
  }
  template <class K>
    requires detail::lookup_key<K, Key, Hash>
  [[nodiscard]] std::uint64_t estimate(const K& key) const {
    return estimate_word(key, detail::key_word(key, hash_));
  }

  // Up to k keys, heaviest first (see "Guarantees").
  [[nodiscard]] std::vector<entry> top(std::size_t k) const {
    std::optional<detail::key_readers::scope> guard;
    if constexpr (!word_keys) guard.emplace(readers_);  // names are read until the entries are built
    std::vector<typename summary::entry> all;
    std::uint64_t offsets = 0, summaries = 0;
    for_each_summary([&](const summary& s) {
      offsets += s.snapshot(all);
      ++summaries;
    });
    // Pruning (exact): among the k·T largest entries there are ≥ k distinct
    // keys (a key has ≤ T entries), so the k-th merged counter is ≥ v, the
    // (k·T)-th largest entry. A key whose entries are all < v/T sums to < v
    // and cannot rank; only keys with an entry ≥ v/T are merged.
    std::uint64_t floor = 0;
    if (summaries != 0 && k <= all.size() / summaries) {
      std::vector<std::uint64_t> counts(all.size());
      for (std::size_t i = 0; i < all.size(); ++i) counts[i] = all[i].count;
      const std::size_t r = k * summaries - 1;
      std::nth_element(counts.begin(), counts.begin() + static_cast<std::ptrdiff_t>(r), counts.end(), std::greater<>());
      floor = counts[r] / summaries;
    }
    // Merge by sorting on the key word (cheaper than a hash map at T × k entries).
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.word < b.word; });
    std::vector<entry> out;
    for (std::size_t i = 0; i < all.size();) {
      std::size_t j = i;
      while (j < all.size() && all[j].word == all[i].word) ++j;
      if constexpr (word_keys) {
        std::uint64_t sum = 0, top_entry = 0;
        for (std::size_t m = i; m < j; ++m) {
          sum += all[m].count;
          top_entry = std::max(top_entry, all[m].count);
        }
        if (top_entry >= floor) out.push_back({detail::word_to_key<Key>(all[i].word), sum + offsets, offsets});
      } else {
        // Equal words, possibly distinct keys (a 64-bit collision): merge by key.
        for (std::size_t m = i; m < j; ++m) {
          if (all[m].name == nullptr) continue;  // merged into an earlier entry of its key
          std::uint64_t sum = 0, top_entry = 0;
          for (std::size_t o = m; o < j; ++o) {
            if (all[o].name == nullptr || !(all[o].name->key == all[m].name->key)) continue;
            sum += all[o].count;
            top_entry = std::max(top_entry, all[o].count);
            if (o != m) all[o].name = nullptr;
          }
          if (top_entry >= floor) out.push_back({all[m].name->key, sum + offsets, offsets});
        }
      }
      i = j;
    }
    const std::size_t n = std::min(k, out.size());
    std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n), out.end(),
                      [](const entry& a, const entry& b) { return a.count > b.count; });
    out.resize(n);
    return out;
  }

  // N: every count added (exact once the adders are joined).
  [[nodiscard]] std::uint64_t total() const noexcept {
    std::uint64_t n = 0;
    for_each_summary([&](const summary& s) { n += s.total(); });
    return n;
  }

  [[nodiscard]] std::size_t capacity() const noexcept { return opt_.capacity; }
  [[nodiscard]] std::size_t counters_per_thread() const noexcept { return k_; }
  // The ε of the deterministic bound error ≤ εN: 2/k.
  [[nodiscard]] double epsilon() const noexcept { return 2.0 / static_cast<double>(k_); }
  [[nodiscard]] double delta() const noexcept { return 0; }
  // The seed in use (options' seed, or the random one drawn for this instance).
  [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }
  [[nodiscard]] std::size_t summaries() const noexcept { return nodes_.nodes(); }
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    std::size_t b = sizeof(*this);
    for_each_summary([&](const summary& s) { b += s.memory_bytes(); });
    return b;
  }
  // A snapshot for a metrics thread: any thread, any time; wait-free except
  // the registry walk (O(threads)); adds nothing to add()'s path.
  [[nodiscard]] heavy_hitters_stats stats() const noexcept {
    heavy_hitters_stats st;
    for_each_summary([&](const summary& s) {
      st.units += s.total();
      st.purges += s.purges();
    });
    st.summaries = summaries();
    st.counters_per_thread = k_;
    st.memory_bytes = memory_bytes();
    return st;
  }

 private:
  struct node : detail::thread_node {
    node(std::size_t k, const detail::key_readers* readers) : sum(k, readers) {}
    summary sum;
  };

  // The slot hash of the word w = mix64(Hash(key)) and the seed: multiply-
  // shift (the summary takes the top bits of w·a, a odd and drawn from the
  // seed: Dietzfelbinger, Hagerup, Katajainen & Penttonen, J. Algorithms
  // 25(1), 1997 — any two words collide with probability ≤ 2/slots over the
  // seed). One multiply on top of the word instead of a second mix64: the
  // word-key add is latency-bound on this hash (a second mix64 cost ~10%).
  [[nodiscard]] std::uint64_t slot_hash(std::uint64_t w) const noexcept { return w * mult_; }

  template <class K>
  void add_word(const K& key, std::uint64_t w, std::uint64_t count) {
    if (count == 0) return;
    const std::uint64_t h = slot_hash(w);
    if constexpr (word_keys) {
      const Key k(key);
      const std::uint64_t bits = detail::key_to_word(k);
      const auto rehash = [this](std::uint64_t b) noexcept {
        return slot_hash(detail::key_word(detail::word_to_key<Key>(b), hash_));
      };
      add_to(bits, h, count, rehash, 0);
    } else {
      const auto rehash = [this](std::uint64_t word) noexcept { return slot_hash(word); };
      add_to(w, h, count, rehash, key);
    }
  }

  template <class Rehash, class K>
  void add_to(std::uint64_t word, std::uint64_t h, std::uint64_t count, const Rehash& rehash, const K& key) {
    if (node* n = nodes_.local([this] { return new node(k_, &readers_); })) [[likely]] {
      if constexpr (word_keys) n->sum.add(word, h, count, rehash);
      else n->sum.add(word, h, count, rehash, key);
      return;
    }
    Contention::wait();
    std::scoped_lock lock(fallback_mutex_);
    if (!fallback_owner_) {
      fallback_owner_ = std::make_unique<summary>(k_, &readers_);
      fallback_.store(fallback_owner_.get(), std::memory_order_release);  // (F) pairs with (G)
    }
    if constexpr (word_keys) fallback_owner_->add(word, h, count, rehash);
    else fallback_owner_->add(word, h, count, rehash, key);
  }

  template <class K>
  [[nodiscard]] std::uint64_t estimate_word(const K& key, std::uint64_t w) const {
    const std::uint64_t h = slot_hash(w);
    std::uint64_t sum = 0;
    if constexpr (word_keys) {
      const Key k(key);
      const std::uint64_t bits = detail::key_to_word(k);
      for_each_summary([&](const summary& s) {
        const auto e = s.lookup(bits, h);
        sum += e.counter + e.offset;
      });
    } else {
      const detail::key_readers::scope guard(readers_);  // lookup compares stored keys
      for_each_summary([&](const summary& s) {
        const auto e = s.lookup(w, h, key);
        sum += e.counter + e.offset;
      });
    }
    return sum;
  }

  // Returns o with sketch.epsilon resolved (options' default when unset).
  static heavy_hitters_options validated(heavy_hitters_options o) {
    if (o.capacity < 1 || o.capacity > (std::size_t{1} << 24))
      throw std::invalid_argument("heavy_hitters: capacity must be in [1, 2^24], got " + std::to_string(o.capacity));
    const double epsilon = o.sketch.epsilon.value_or(heavy_hitters_options::default_epsilon);
    if (!(epsilon >= 1e-7 && epsilon < 1))
      throw std::invalid_argument("heavy_hitters: epsilon must be in [1e-7, 1), got " + std::to_string(epsilon));
    if (o.sketch.delta)
      throw std::invalid_argument("heavy_hitters: delta must stay unset (the bound is deterministic), got " +
                                  std::to_string(*o.sketch.delta));
    o.sketch.epsilon = epsilon;
    return o;
  }

  template <class F>
  void for_each_summary(F&& f) const {
    nodes_.for_each([&](const node& n) { f(n.sum); });
    // Read without the mutex: a summary like the others (one writer at a time).
    if (const auto* s = fallback_.load(std::memory_order_acquire)) f(*s);  // (G) pairs with (F)
  }

  heavy_hitters_options opt_;
  std::size_t k_;
  std::uint64_t seed_;
  std::uint64_t mult_;  // slot_hash(w) = w · mult_ (odd, from the seed)
  [[no_unique_address]] Hash hash_{};
  detail::key_readers readers_;  // non-word keys: queries reading stored keys (before the summaries: outlives them)
  detail::thread_node_registry<node> nodes_;
  // Adds from threads whose summary cache is gone, made on first use.
  std::mutex fallback_mutex_;
  std::unique_ptr<summary> fallback_owner_;  // guarded by fallback_mutex_
  std::atomic<const summary*> fallback_{nullptr};
};

}  // namespace hotshard
