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
// Keys must be trivially copyable and at most 8 bytes (the summaries store
// the key itself so top() can name it).
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
//  * total(), memory_bytes(): wait-free.
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
// release store (F) and read with acquire (G).
//
// Hash flooding: slots are placed by mix64(Hash(key) ^ salt) with a salt
// from `seed`; by default a random per-instance seed (detail/instance_seed.hpp),
// so nobody can precompute keys that pile up in one probe run.
//
// Memory: per thread that ever added, 2 buffers × 16 bytes × 4k/3 slots + 8k
// (k = 12,288 at the defaults: 608 KiB); a finished thread's summary is
// reused by the next thread.
#pragma once

#include <hotshard/concepts/frequency_sketch.hpp>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/policy.hpp>
#include <hotshard/detail/hash.hpp>
#include <hotshard/detail/instance_seed.hpp>
#include <hotshard/detail/sketch_support.hpp>
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

template <class Key, class... Policies>
  requires policy::keyed_policies<Policies...> && concepts::hashable_key<Key, policy::hash_of<Key, Policies...>>
class heavy_hitters {
  // The named policies (hotshard/policy.hpp): the key hash and the contention hook.
  using Hash = policy::hash_of<Key, Policies...>;
  using Stats = policy::contention_of<Policies...>;

  static_assert(detail::word_key<Key>, "heavy_hitters: Key must be trivially copyable and at most 8 bytes");

 public:
  using key_type = Key;
  using entry = heavy_hitter<Key>;

  explicit heavy_hitters(heavy_hitters_options opt = {})
      : opt_(validated(opt)),
        k_(detail::mg_summary::counters_for(std::max<std::size_t>(
            2 * opt_.capacity, static_cast<std::size_t>(std::ceil(2.0 / *opt_.sketch.epsilon))))),
        seed_(detail::seed_or_random(opt_.sketch.seed)),
        salt_(detail::mix64(seed_)) {}

  void add(const Key& key, std::uint64_t count = 1) {
    if (count == 0) return;
    const std::uint64_t h = hash_of(key);
    const auto rehash = [this](std::uint64_t w) noexcept { return hash_of(detail::word_to_key<Key>(w)); };
    if (node* n = nodes_.local([this] { return new node(k_); })) [[likely]] {
      n->summary.add(detail::key_to_word(key), h, count, rehash);
      return;
    }
    Stats::wait();
    std::scoped_lock lock(fallback_mutex_);
    if (!fallback_owner_) {
      fallback_owner_ = std::make_unique<detail::mg_summary>(k_);
      fallback_.store(fallback_owner_.get(), std::memory_order_release);  // (F) pairs with (G)
    }
    fallback_owner_->add(detail::key_to_word(key), h, count, rehash);
  }

  // ≥ the key's true count (every add of it that happens-before this call);
  // ≤ true count + εN.
  [[nodiscard]] std::uint64_t estimate(const Key& key) const noexcept {
    const std::uint64_t h = hash_of(key);
    const std::uint64_t w = detail::key_to_word(key);
    std::uint64_t sum = 0;
    for_each_summary([&](const detail::mg_summary& s) {
      const auto e = s.lookup(w, h);
      sum += e.counter + e.offset;
    });
    return sum;
  }

  // Up to k keys, heaviest first (see "Guarantees").
  [[nodiscard]] std::vector<entry> top(std::size_t k) const {
    std::vector<detail::mg_summary::entry> all;
    std::uint64_t offsets = 0, summaries = 0;
    for_each_summary([&](const detail::mg_summary& s) {
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
      std::uint64_t sum = 0, top_entry = 0;
      for (; j < all.size() && all[j].word == all[i].word; ++j) {
        sum += all[j].count;
        top_entry = std::max(top_entry, all[j].count);
      }
      if (top_entry >= floor) out.push_back({detail::word_to_key<Key>(all[i].word), sum + offsets, offsets});
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
    for_each_summary([&](const detail::mg_summary& s) { n += s.total(); });
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
    for_each_summary([&](const detail::mg_summary& s) { b += s.memory_bytes(); });
    return b;
  }

 private:
  struct node : detail::thread_node {
    explicit node(std::size_t k) : summary(k) {}
    detail::mg_summary summary;
  };

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

  [[nodiscard]] std::uint64_t hash_of(const Key& key) const noexcept {
    return detail::mix64(static_cast<std::uint64_t>(Hash{}(key)) ^ salt_);
  }

  template <class F>
  void for_each_summary(F&& f) const {
    nodes_.for_each([&](const node& n) { f(n.summary); });
    // Read without the mutex: a summary like the others (one writer at a time).
    if (const auto* s = fallback_.load(std::memory_order_acquire)) f(*s);  // (G) pairs with (F)
  }

  heavy_hitters_options opt_;
  std::size_t k_;
  std::uint64_t seed_;
  std::uint64_t salt_;
  detail::thread_node_registry<node> nodes_;
  // Adds from threads whose summary cache is gone, made on first use.
  std::mutex fallback_mutex_;
  std::unique_ptr<detail::mg_summary> fallback_owner_;  // guarded by fallback_mutex_
  std::atomic<const detail::mg_summary*> fallback_{nullptr};
};

}  // namespace hotshard
