// hotshard/salted_counter_map.hpp — a fixed-capacity concurrent table of
// key → counter that salts only the keys that turn hot.
//
// Algorithm: open addressing with linear probing over a power-of-two array of
// 16-byte entries {key word, value} (four per cache line: the table is walked
// at random under Zipf load, so its size decides the cache and TLB misses).
// The key is stored as its 64-bit mixed hash mix64(key ^ seed) (detail::mix64
// is a bijection, so the word *is* the key and also its hash); a single CAS of
// an empty word claims an entry, so inserting a key is lock-free, in the style of Cliff
// Click's non-blocking hash table ("A Lock-Free Wait-Free Hash Table", 2007)
// and Preshing's "The World's Simplest Lock-Free Hash Table"
// (https://preshing.com/20130605/the-worlds-simplest-lock-free-hash-table/).
// The one key whose mixed word is 0 (the empty marker) — key == seed — lives
// in a dedicated entry beside the array. The seed is random per instance
// unless config.seed names one (hash flooding: keys crafted to share one
// probe run of one build of this code are spread in every other instance).
//
// Configuration (std::invalid_argument naming the field otherwise):
// capacity ≥ 1 and hot_capacity ≤ 2^32, their tables' byte sizes must fit;
// max_salt 0 (= cores rounded up, at least 2) or in [2, 2^31]; grow_after ≥ 1.
// Nothing is clamped: a bad value is rejected, never raised or lowered.
//
// Salting (key salting of the hot-partition articles, done in memory): a
// cold key counts in its entry's value word by CAS. A failed CAS is
// contention observed on the key; when one thread has seen `grow_after` of
// them on the same key (a thread-local tally, no shared write), the key gets
// a block of K = 2 padded sub-counters from a fixed pool: the block's
// sub-counter 0 takes the key's count and one CAS replaces the value word by
// a tag naming the block, so the count moves without ever being missing or
// doubled. Later adds go to the sub-counter picked by the thread's probe (as
// in LongAdder, detail/thread_slots.hpp); contention there doubles K, up to
// `max_salt`. An external verdict — the hot-key detector — salts a key at
// once with promote(key, k). A salted key's count is the sum of its K
// sub-counters, gathered on read. Keys are never un-salted or removed: the
// table is for a bounded key space, or a window that is rebuilt.
//
// Progress guarantees:
//  * add(): lock-free (a failed CAS means another add, insert or salting
//    succeeded). At most `probe_limit` entries are probed, so a full table
//    answers `false` in bounded time.
//  * promote(): lock-free.
//  * read(), salt_of(): wait-free (≤ probe_limit probes, ≤ max_salt loads).
//  * unsafe_size(): not thread-safe with inserts (a plain scan).
//  * for_each(): safe beside adds; wait-free per entry (see there).
//  * unsafe_reset(): not thread-safe at all (per-window counts, see there).
//
// What a concurrent read(key) may return: the value word, or for a salted key
// each sub-counter's value at some moment while read() ran; each add is
// counted whole or not at all; not a snapshot (same bounds as
// striped_counter.hpp). Once writers have stopped and their stop
// happens-before read() (join), read() is exact.
//
// Memory ordering: keys are relaxed — the key is entirely in the CAS'd word.
// A tag is published by a release CAS (1) after the block's K and moved count
// were stored, and every load of a value word that may follow a tag into its
// block acquires (2). A block given back after a lost race is handed to the
// next claimer through (4) → (3). Counts in sub-counters are relaxed.
//
// Counts: a key's count must stay within (min_count, INT64_MAX]; the 2^32
// values from INT64_MIN up are the tags.
//
// Memory bound (fixed at construction, never grows):
//   16 × capacity + 64 × hot_capacity × (max_salt + 1) + 320 bytes.
// Full table: add() of an absent key returns false and changes nothing when
// the key's probe window (probe_limit consecutive entries) holds no free
// entry — always once `capacity` keys are present, rarely a little earlier at
// load factors near 1. Size the table at ≥ 2× the expected distinct keys.
#pragma once

#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/checked_size.hpp>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/policy.hpp>
#include <hotshard/detail/fetch_max.hpp>
#include <hotshard/detail/hash.hpp>
#include <hotshard/detail/thread_slots.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <type_traits>

namespace hotshard {

struct salted_counter_map_options {
  std::size_t capacity = std::size_t{1} << 16;  // entries (keys), ≥ 1; rounded up to a power of two ≥ 2
  std::size_t hot_capacity = 64;                // keys that can be salted over the table's life
  std::uint32_t max_salt = 0;                   // bound on K: 0 = cores rounded up; else ≥ 2, rounded up to a power of two
  std::uint32_t grow_after = 8;                 // CAS failures on a key before its K doubles
  std::uint64_t seed = 0;                       // 0 = random per instance
};
using salted_counter_map_config = salted_counter_map_options;  // the old name (migration)

namespace detail {
// Per-thread tally of CAS failures by key word (direct-mapped, 64 entries):
// "contention observed on this key" without a shared write per failure. Shared
// by every salted_counter_map of the thread; a collision only resets a tally.
struct salt_tally {
  std::uint64_t word = 0;
  std::uint32_t failures = 0;
};
inline thread_local salt_tally tls_salt_tally[64];
}  // namespace detail

template <class Key, class... Policies>
  requires (std::integral<Key> && (sizeof(Key) <= sizeof(std::uint64_t))) && policy::hook_policies<Policies...>
class salted_counter_map {
  // The named policy (hotshard/policy.hpp): the contention hook.
  using Stats = policy::contention_of<Policies...>;

 public:
  static constexpr std::size_t probe_limit = 256;
  // A key's count must stay above this: the 2^32 values below it mark salted keys.
  static constexpr std::int64_t min_count = std::numeric_limits<std::int64_t>::min() + (std::int64_t{1} << 32);

  explicit salted_counter_map(salted_counter_map_config cfg = {})
      : mask_(checked_entries(checked(cfg).capacity) - 1),
        hot_capacity_(checked_hot_capacity(cfg.hot_capacity)),
        max_salt_(checked_max_salt(cfg.max_salt)),
        grow_after_(checked_grow_after(cfg.grow_after)),
        seed_(cfg.seed == 0 ? detail::random_seed() : cfg.seed),
        entries_(std::make_unique<entry[]>(mask_ + 1)),
        heads_(std::make_unique<detail::padded<block_head>[]>(std::max<std::size_t>(hot_capacity_, 1))),
        cells_(std::make_unique<cell[]>(std::max<std::size_t>(hot_capacity_, 1) * max_salt_)) {}

  salted_counter_map(const salted_counter_map&) = delete;
  salted_counter_map& operator=(const salted_counter_map&) = delete;

  // false (nothing changed) if the key is absent and the table has no room.
  [[nodiscard]] bool add(Key key, std::int64_t delta) {
    const std::uint64_t w = word_of(key);
    entry* e = find_or_insert(w);
    if (e == nullptr) return false;
    // (2) acquire: pairs with the release in (1); a tag leads to a block.
    std::int64_t v = e->value.load(std::memory_order_acquire);
    for (;;) {
      if (is_tag(v)) {
        add_salted(block_of(v), delta);
        return true;
      }
      detail::schedule_point<Stats>();
      // (2) acquire on failure, as above; success publishes nothing.
      if (e->value.compare_exchange_weak(v, v + delta, std::memory_order_acquire, std::memory_order_acquire))
        return true;
      Stats::cas_failure();
      if (!is_tag(v) && contended(w)) {
        salt(*e, 2);
        v = e->value.load(std::memory_order_acquire);  // (2)
      }
    }
  }

  // 0 for a key never added.
  [[nodiscard]] std::int64_t read(Key key) const noexcept {
    const entry* e = find(word_of(key));
    return e == nullptr ? 0 : count_of(*e);
  }

  // The hot-key detector's verdict: salt `key` over at least k sub-counters
  // (rounded up to a power of two, capped at max_salt). Inserts the key if
  // needed. false if the table is full or the hot pool is exhausted.
  [[nodiscard]] bool promote(Key key, std::uint32_t k) {
    entry* e = find_or_insert(word_of(key));
    if (e == nullptr) return false;
    const std::uint32_t want = std::bit_ceil(std::clamp(k, 1u, max_salt_));
    if (want == 1) return true;
    if (!salt(*e, want)) return false;
    // (2) acquire: pairs with the release in (1).
    raise_salt(block_of(e->value.load(std::memory_order_acquire)), want);
    return true;
  }

  // K of the key: 1 while unsalted or absent.
  [[nodiscard]] std::uint32_t salt_of(Key key) const noexcept {
    const entry* e = find(word_of(key));
    if (e == nullptr) return 1;
    // (2) acquire: pairs with the release in (1).
    const std::int64_t v = e->value.load(std::memory_order_acquire);
    return is_tag(v) ? heads_[block_of(v)]->salt.load(std::memory_order_relaxed) : 1;
  }

  [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }
  [[nodiscard]] std::size_t hot_capacity() const noexcept { return hot_capacity_; }
  [[nodiscard]] std::uint32_t max_salt() const noexcept { return max_salt_; }
  // The seed in use (config.seed, or the random one drawn for this instance).
  [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return sizeof(entry) * capacity() + sizeof(cell) * (std::max<std::size_t>(hot_capacity_, 1) * (max_salt_ + 1)) +
           sizeof(*this);
  }

  // Export: calls f(key, count) for every key present, in table order (the
  // key is recovered from its stored word: mix64 is a bijection). Safe beside
  // concurrent adds: each count is what read(key) would return at that moment
  // (not a snapshot across keys); a key inserted while it runs may or may not
  // be visited. Wait-free per entry, O(capacity + hot_capacity × max_salt).
  template <class F>
  void for_each(F&& f) const {
    if (zero_.value.word.load(std::memory_order_relaxed) != 0)
      f(static_cast<Key>(static_cast<std::make_unsigned_t<Key>>(seed_)), count_of(zero_.value));
    for (std::size_t i = 0; i <= mask_; ++i) {
      // Relaxed: as in find(); the word is the whole key.
      const std::uint64_t w = entries_[i].word.load(std::memory_order_relaxed);
      if (w == 0) continue;
      f(static_cast<Key>(static_cast<std::make_unsigned_t<Key>>(detail::unmix64(w) ^ seed_)), count_of(entries_[i]));
    }
  }

  // Per-window counts: empties the table and gives every salting block back
  // to the pool, as if newly constructed (same seed). NOT thread-safe: no
  // other operation may run concurrently, and the caller's quiescence (e.g.
  // joining or parking the writers) must happen-before it. For windows with
  // writers that never stop, rotate two tables: writers load the current
  // table from an atomic pointer; at the window's end swap in the other one,
  // wait until no writer still uses the old one (the caller's grace period:
  // a per-writer epoch, or the request that started before the swap has
  // finished), then for_each() it for export and unsafe_reset() it for reuse.
  // (Keys are never un-salted while the table is live: a hot set that moves
  // forever needs this rotation, or hot_capacity for every key ever promoted
  // in a window.)
  void unsafe_reset() noexcept {
    for (std::size_t i = 0; i <= mask_; ++i) {
      entries_[i].word.store(0, std::memory_order_relaxed);
      entries_[i].value.store(0, std::memory_order_relaxed);
    }
    zero_.value.word.store(0, std::memory_order_relaxed);
    zero_.value.value.store(0, std::memory_order_relaxed);
    const std::size_t used = std::min<std::size_t>(next_block_->load(std::memory_order_relaxed), hot_capacity_);
    for (std::size_t b = 0; b < used; ++b) {
      heads_[b]->salt.store(0, std::memory_order_relaxed);
      heads_[b]->failures.store(0, std::memory_order_relaxed);
      for (std::size_t i = 0; i < max_salt_; ++i) cells_[b * std::size_t{max_salt_} + i]->store(0, std::memory_order_relaxed);
    }
    next_block_->store(0, std::memory_order_relaxed);
    spare_->store(0, std::memory_order_relaxed);
  }

  // Keys present. Exact only when no insert runs concurrently.
  [[nodiscard]] std::size_t unsafe_size() const noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i <= mask_; ++i) n += entries_[i].word.load(std::memory_order_relaxed) != 0 ? 1 : 0;
    return n + (zero_.value.word.load(std::memory_order_relaxed) != 0 ? 1 : 0);
  }

 private:
  static constexpr std::size_t max_blocks = std::size_t{1} << 32;
  static constexpr std::uint32_t no_block = ~std::uint32_t{0};
  static constexpr const char* who = "salted_counter_map";

  static std::size_t checked_entries(std::size_t capacity) {
    if (capacity == 0) detail::throw_bad_option(who, "capacity", "must be >= 1");
    return detail::checked_array_count(detail::checked_bit_ceil(std::max<std::size_t>(capacity, 2), who, "capacity"),
                                       1, sizeof(entry), who, "capacity");
  }
  // Every field, before anything is allocated.
  static const salted_counter_map_config& checked(const salted_counter_map_config& cfg) {
    (void)checked_entries(cfg.capacity);
    const std::size_t hot = std::max<std::size_t>(checked_hot_capacity(cfg.hot_capacity), 1);
    const std::uint32_t k = checked_max_salt(cfg.max_salt);
    (void)detail::checked_array_count(hot, k, sizeof(cell), who, "hot_capacity x max_salt");
    (void)checked_grow_after(cfg.grow_after);
    return cfg;
  }
  // 0: the cores rounded up (at least 2); otherwise ≥ 2 (K = 1 would be no
  // salting: rejected, not raised), rounded up to a power of two.
  static std::uint32_t checked_max_salt(std::uint32_t k) {
    if (k == 1) detail::throw_bad_option(who, "max_salt", "must be 0 (the cores) or >= 2");
    return detail::checked_bit_ceil(k == 0 ? std::max(2u, detail::default_stripe_bound()) : k, who, "max_salt");
  }
    static std::size_t checked_hot_capacity(std::size_t hot) {
    if (hot > max_blocks) detail::throw_bad_option(who, "hot_capacity", "must be <= 2^32");
    return hot;
  }
  static std::uint32_t checked_grow_after(std::uint32_t g) {
    if (g == 0) detail::throw_bad_option(who, "grow_after", "must be >= 1");
    return g;
  }

  struct alignas(16) entry {
    std::atomic<std::uint64_t> word{0};  // mix64(key); 0 = empty
    std::atomic<std::int64_t> value{0};  // the count, or a tag: salted, see block_of
  };
  static_assert(sizeof(entry) == 16 && detail::cache_line_bytes % sizeof(entry) == 0);
  struct block_head {
    std::atomic<std::uint32_t> salt{0};      // K
    std::atomic<std::uint32_t> failures{0};  // contention on the sub-counters since K last grew
  };
  using cell = detail::padded<std::atomic<std::int64_t>>;
  static_assert(sizeof(cell) == detail::cache_line_bytes);

  std::int64_t count_of(const entry& en) const noexcept {
    const entry* e = &en;
    // (2) acquire: pairs with the release in (1).
    const std::int64_t v = e->value.load(std::memory_order_acquire);
    if (!is_tag(v)) return v;
    const std::uint32_t b = block_of(v);
    const cell* c = &cells_[b * std::size_t{max_salt_}];
    const std::uint32_t k = heads_[b]->salt.load(std::memory_order_relaxed);  // ≥ the K released in (1)
    std::int64_t sum = 0;
    for (std::uint32_t i = 0; i < k; ++i) sum += c[i]->load(std::memory_order_relaxed);
    return sum;
  }

  static constexpr bool is_tag(std::int64_t v) noexcept { return v < min_count; }
  static constexpr std::int64_t tag_of(std::uint32_t b) noexcept {
    return std::numeric_limits<std::int64_t>::min() + static_cast<std::int64_t>(b);
  }
  static constexpr std::uint32_t block_of(std::int64_t tag) noexcept {
    return static_cast<std::uint32_t>(static_cast<std::uint64_t>(tag) -
                                      static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::min()));
  }

  std::uint64_t word_of(Key key) const noexcept {
    return detail::mix64(static_cast<std::uint64_t>(static_cast<std::make_unsigned_t<Key>>(key)) ^ seed_);
  }

  entry* find_or_insert(std::uint64_t w) noexcept {
    if (w == 0) {  // key == seed: mix64(0) == 0, the empty marker; its word only records presence
      // Relaxed: a presence flag for unsafe_size().
      if (zero_.value.word.load(std::memory_order_relaxed) == 0) zero_.value.word.store(1, std::memory_order_relaxed);
      return &zero_.value;
    }
    std::size_t i = w & mask_;
    const std::size_t limit = std::min(probe_limit, mask_ + 1);
    for (std::size_t n = 0; n < limit; ++n, i = (i + 1) & mask_) {
      entry& e = entries_[i];
      // Relaxed: the word is the whole key; nothing else is published with it.
      std::uint64_t seen = e.word.load(std::memory_order_relaxed);
      if (seen == w) return &e;
      if (seen == 0) {
        detail::schedule_point<Stats>();
        if (e.word.compare_exchange_strong(seen, w, std::memory_order_relaxed, std::memory_order_relaxed)) return &e;
        Stats::cas_failure();
        if (seen == w) return &e;  // the same key, inserted by another thread
      }
    }
    return nullptr;
  }

  const entry* find(std::uint64_t w) const noexcept {
    if (w == 0) return &zero_.value;
    std::size_t i = w & mask_;
    const std::size_t limit = std::min(probe_limit, mask_ + 1);
    for (std::size_t n = 0; n < limit; ++n, i = (i + 1) & mask_) {
      // Relaxed: as in find_or_insert.
      const std::uint64_t seen = entries_[i].word.load(std::memory_order_relaxed);
      if (seen == w) return &entries_[i];
      if (seen == 0) return nullptr;
    }
    return nullptr;
  }

  // One more CAS failure seen by this thread on key word w; true every
  // grow_after-th time in a row for the same key.
  bool contended(std::uint64_t w) const noexcept {
    detail::salt_tally& t = detail::tls_salt_tally[(w >> 32) & 63];
    if (t.word != w) t = {w, 0};
    if (++t.failures < grow_after_) return false;
    t.failures = 0;
    return true;
  }

  // A free block (its cells 0), or no_block if the pool is exhausted.
  std::uint32_t claim_block() noexcept {
    // Relaxed: a hint that saves an RMW once the pool is exhausted.
    if (spare_->load(std::memory_order_relaxed) == 0 && next_block_->load(std::memory_order_relaxed) >= hot_capacity_)
      return no_block;
    // (3) acquire: pairs with the release in (4): the returned block's cell 0 is zero again.
    if (const std::uint32_t s = spare_->exchange(0, std::memory_order_acquire); s != 0) return s - 1;
    // Relaxed: only uniqueness of the index matters; cells are zero from construction.
    const std::size_t b = next_block_->fetch_add(1, std::memory_order_relaxed);
    return b < hot_capacity_ ? static_cast<std::uint32_t>(b) : no_block;
  }

  // Gives back a block that was never published (lost a race to salt a key).
  void unclaim_block(std::uint32_t b) noexcept {
    cells_[b * std::size_t{max_salt_}]->store(0, std::memory_order_relaxed);
    std::uint32_t none = 0;
    // (4) release: pairs with the acquire in (3). If the spare slot is taken the
    // block is lost to the pool (one per overlapping race; never unsound).
    spare_->compare_exchange_strong(none, b + 1, std::memory_order_release, std::memory_order_relaxed);
  }

  // Salts the entry over K = k sub-counters unless it already is salted; the
  // count moves into sub-counter 0 in the same CAS that publishes the block,
  // so no reader ever sees it missing or doubled. false: the pool is exhausted.
  bool salt(entry& e, std::uint32_t k) noexcept {
    // (2) acquire: pairs with the release in (1).
    std::int64_t v = e.value.load(std::memory_order_acquire);
    if (is_tag(v)) return true;
    const std::uint32_t b = claim_block();
    if (b == no_block) return false;
    heads_[b]->salt.store(k, std::memory_order_relaxed);
    heads_[b]->failures.store(0, std::memory_order_relaxed);
    std::atomic<std::int64_t>& first = *cells_[b * std::size_t{max_salt_}];
    for (;;) {
      if (is_tag(v)) {  // another thread salted it first
        unclaim_block(b);
        return true;
      }
      first.store(v, std::memory_order_relaxed);  // the block is still private
      detail::schedule_point<Stats>();
      // (1) release: publishes K and the moved count with the tag, to (2).
      if (e.value.compare_exchange_weak(v, tag_of(b), std::memory_order_acq_rel, std::memory_order_acquire))
        return true;
    }
  }

  void raise_salt(std::uint32_t b, std::uint32_t want) noexcept {
    // Relaxed: K is an index bound over cells that exist from construction.
    (void)detail::fetch_max(heads_[b]->salt, want);
  }

  void add_salted(std::uint32_t b, std::int64_t delta) noexcept {
    cell* c = &cells_[b * std::size_t{max_salt_}];
    block_head& head = *heads_[b];
    std::uint32_t probe = detail::thread_probe();
    for (;;) {
      const std::uint32_t k = head.salt.load(std::memory_order_relaxed);  // ≥ the K released in (1)
      std::atomic<std::int64_t>& sub = *c[probe & (k - 1)];
      std::int64_t v = sub.load(std::memory_order_relaxed);
      detail::schedule_point<Stats>();
      // Relaxed: a count orders nothing.
      if (sub.compare_exchange_strong(v, v + delta, std::memory_order_relaxed, std::memory_order_relaxed)) return;
      Stats::cas_failure();
      // Relaxed: a heuristic tally; a lost increment only delays growth.
      if (k < max_salt_ && head.failures.fetch_add(1, std::memory_order_relaxed) + 1 >= grow_after_) {
        head.failures.store(0, std::memory_order_relaxed);
        raise_salt(b, k * 2);
      }
      probe = detail::rehash_probe();
    }
  }

  std::size_t mask_;
  std::size_t hot_capacity_;
  std::uint32_t max_salt_;
  std::uint32_t grow_after_;
  std::uint64_t seed_;
  std::unique_ptr<entry[]> entries_;
  std::unique_ptr<detail::padded<block_head>[]> heads_;  // K per hot block
  std::unique_ptr<cell[]> cells_;                         // max_salt sub-counters per hot block
  detail::padded<std::atomic<std::size_t>> next_block_;
  detail::padded<std::atomic<std::uint32_t>> spare_;  // a returned block + 1, or 0
  detail::padded<entry> zero_;                        // key 0
};

}  // namespace hotshard
